//! Writing a reply: the header and the OPT record by hand, the question copied from the query
//! byte for byte, records through hickory-proto (with name compression onto the question).
//!
//! A reply that does not fit the transport's limit loses its additional records first (they
//! are optional, RFC 2181 §9); if it still does not fit it goes out with TC set and no records,
//! so the client retries over TCP where the limit is 65 535 bytes.

use hickory_proto::ProtoError;
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

use crate::answer::{Rcode, Reply};
use crate::wire::{self, Edns, HEADER_LEN, Head, TYPE_OPT};

/// What the reply keeps of the records of [`Reply`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    All,
    NoAdditionals,
    /// Truncated: header, question and OPT only, TC set.
    Nothing,
}

/// The reply to one query, at most `limit` bytes long. `edns` is the query's OPT record (the
/// reply has one exactly when the query had one); `payload` is the UDP size we advertise.
pub(crate) fn encode(
    head: &Head,
    question: Option<&[u8]>,
    edns: Option<&Edns>,
    reply: &Reply,
    limit: usize,
    payload: u16,
) -> Vec<u8> {
    for keep in [Keep::All, Keep::NoAdditionals, Keep::Nothing] {
        if keep == Keep::NoAdditionals && reply.additionals.is_empty() {
            continue;
        }
        match write(head, question, edns, reply, keep, payload) {
            Ok(bytes) if bytes.len() <= limit || keep == Keep::Nothing => return bytes,
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "cannot encode a DNS reply");
                let failed = Reply::bare(Rcode::ServFail, false);
                return write(head, question, edns, &failed, Keep::Nothing, payload).unwrap_or_default();
            }
        }
    }
    unreachable!("the last attempt always returns")
}

fn write(
    head: &Head,
    question: Option<&[u8]>,
    edns: Option<&Edns>,
    reply: &Reply,
    keep: Keep,
    payload: u16,
) -> Result<Vec<u8>, ProtoError> {
    let mut buf = Vec::with_capacity(512);
    let mut enc = BinEncoder::new(&mut buf);
    enc.emit_vec(&[0; HEADER_LEN])?;
    if let Some(q) = question {
        enc.emit_vec(q)?;
        // Let later names point into the question's name: record every suffix of it, as
        // hickory does for the names it writes itself.
        let name_end = HEADER_LEN + q.len() - 4 - 1;
        let mut at = HEADER_LEN;
        for label in wire::labels(&q[..q.len() - 4]) {
            enc.store_label_pointer(at, name_end);
            at += 1 + label.len();
        }
    }
    let none: &[Record] = &[];
    let (answers, authorities, additionals) = match keep {
        Keep::All => (&reply.answers[..], &reply.authorities[..], &reply.additionals[..]),
        Keep::NoAdditionals => (&reply.answers[..], &reply.authorities[..], none),
        Keep::Nothing => (none, none, none),
    };
    for r in answers.iter().chain(authorities).chain(additionals) {
        r.emit(&mut enc)?;
    }
    let rcode = reply.rcode.value();
    if let Some(e) = edns {
        // RFC 6891 §6.1.3: extended RCODE high bits, version 0, no flags (no DNSSEC here).
        enc.emit(0)?;
        enc.emit_u16(TYPE_OPT)?;
        enc.emit_u16(payload)?;
        enc.emit_u32(u32::from((rcode >> 4) as u8) << 24)?;
        match e.ecs.filter(|_| !matches!(reply.rcode, Rcode::BadVers | Rcode::FormErr)) {
            Some(ecs) => {
                // Family, address and source prefix exactly as asked; the scope says for how
                // large a block the answer holds.
                let addr_len = usize::from(ecs.source_prefix).div_ceil(8);
                let (family, octets): (u16, Vec<u8>) = match ecs.addr {
                    std::net::IpAddr::V4(a) => (1, a.octets().to_vec()),
                    std::net::IpAddr::V6(a) => (2, a.octets().to_vec()),
                };
                enc.emit_u16(4 + 4 + addr_len as u16)?;
                enc.emit_u16(8)?;
                enc.emit_u16(4 + addr_len as u16)?;
                enc.emit_u16(family)?;
                enc.emit_u8(ecs.source_prefix)?;
                enc.emit_u8(reply.ecs_scope)?;
                enc.emit_vec(&octets[..addr_len])?;
            }
            None => enc.emit_u16(0)?,
        }
    }
    drop(enc);

    let count = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
    let truncated = keep == Keep::Nothing && !(reply.answers.is_empty() && reply.authorities.is_empty());
    let header = &mut buf[..HEADER_LEN];
    header[0..2].copy_from_slice(&head.id.to_be_bytes());
    header[2] = 0x80
        | (head.opcode << 3)
        | (u8::from(reply.authoritative) << 2)
        | (u8::from(truncated) << 1)
        | u8::from(head.rd);
    header[3] = (u8::from(head.cd) << 4) | (rcode & 0x0F) as u8;
    header[4..6].copy_from_slice(&count(usize::from(question.is_some())).to_be_bytes());
    header[6..8].copy_from_slice(&count(answers.len()).to_be_bytes());
    header[8..10].copy_from_slice(&count(authorities.len()).to_be_bytes());
    header[10..12].copy_from_slice(&count(additionals.len() + usize::from(edns.is_some())).to_be_bytes());
    Ok(buf)
}
