//! Reading a query straight from the packet.
//!
//! Only what answering needs is read, with every bound checked: the header, the one question
//! (kept as its raw bytes, so the reply can echo it byte for byte), and the OPT record with its
//! EDNS Client Subnet option, which is validated here (RFC 7871 §6: a malformed option is
//! FORMERR). Records in the answer and authority sections are skipped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub(crate) const HEADER_LEN: usize = 12;
/// RR type of the EDNS OPT pseudo-record.
pub(crate) const TYPE_OPT: u16 = 41;
/// EDNS option code of Client Subnet.
const OPTION_ECS: u16 = 8;

/// Header fields the reply copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    pub id: u16,
    pub opcode: u8,
    pub rd: bool,
    pub cd: bool,
}

/// A validated EDNS Client Subnet option of a query (scope was 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientSubnet {
    /// The address, zero beyond `source_prefix`.
    pub addr: IpAddr,
    pub source_prefix: u8,
}

/// The query's OPT record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Edns {
    /// The requestor's UDP payload size, as sent.
    pub payload: u16,
    pub version: u8,
    pub ecs: Option<ClientSubnet>,
}

/// A query worth answering.
#[derive(Debug)]
pub(crate) struct Query<'a> {
    pub head: Head,
    /// Name, type and class exactly as received.
    pub question: &'a [u8],
    pub qtype: u16,
    pub qclass: u16,
    pub edns: Option<Edns>,
}

impl Query<'_> {
    /// The question's name, uncompressed, as received (length-prefixed labels and the root).
    pub fn qname(&self) -> &[u8] {
        &self.question[..self.question.len() - 4]
    }
}

/// Why a packet gets no normal answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Malformed<'a> {
    /// Not answerable at all (shorter than a header, or a response): dropped.
    Drop,
    /// Answered FORMERR, echoing what could be read.
    FormErr { head: Head, question: Option<(&'a [u8], u16)>, edns: Option<Edns> },
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*buf.get(at)?, *buf.get(at + 1)?]))
}

/// Reads an uncompressed name (a question's) and returns the offset after it.
fn read_plain_name(buf: &[u8], mut at: usize) -> Option<usize> {
    let start = at;
    loop {
        let len = usize::from(*buf.get(at)?);
        if len == 0 {
            return (at + 1 - start <= 255).then_some(at + 1);
        }
        // Compression pointers (and the obsolete extended label types) have no place in the
        // first name of a message: nothing precedes it to point to.
        if len & 0xC0 != 0 || at + 1 + len > buf.len() {
            return None;
        }
        at += 1 + len;
    }
}

/// Skips a possibly compressed name and returns the offset after it.
fn skip_name(buf: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *buf.get(at)?;
        match len & 0xC0 {
            0x00 if len == 0 => return Some(at + 1),
            0x00 => at += 1 + usize::from(len),
            0xC0 => return (at + 2 <= buf.len()).then_some(at + 2),
            _ => return None,
        }
    }
}

/// One resource record's fixed part.
struct Rr {
    rtype: u16,
    class: u16,
    ttl: u32,
    rdata: std::ops::Range<usize>,
    /// The owner is the root (a single zero byte), as an OPT record's must be.
    root_owner: bool,
}

fn read_rr(buf: &[u8], at: usize) -> Option<(Rr, usize)> {
    let fixed = skip_name(buf, at)?;
    let rtype = u16_at(buf, fixed)?;
    let class = u16_at(buf, fixed + 2)?;
    let ttl = (u32::from(u16_at(buf, fixed + 4)?) << 16) | u32::from(u16_at(buf, fixed + 6)?);
    let len = usize::from(u16_at(buf, fixed + 8)?);
    let start = fixed + 10;
    if start + len > buf.len() {
        return None;
    }
    Some((Rr { rtype, class, ttl, rdata: start..start + len, root_owner: fixed == at + 1 }, start + len))
}

/// Validates an ECS option's data (RFC 7871 §6): known family, source prefix within it, exactly
/// ceil(prefix / 8) address bytes, no bits set beyond the prefix, scope 0 in a query.
pub(crate) fn parse_ecs(data: &[u8]) -> Option<ClientSubnet> {
    let family = u16_at(data, 0)?;
    let (&source_prefix, &scope) = (data.get(2)?, data.get(3)?);
    let addr = &data[4..];
    let max = match family {
        1 => 32,
        2 => 128,
        _ => return None,
    };
    if source_prefix > max || scope != 0 || addr.len() != usize::from(source_prefix).div_ceil(8) {
        return None;
    }
    if let Some(&last) = addr.last()
        && source_prefix % 8 != 0
        && last & (0xFF >> (source_prefix % 8)) != 0
    {
        return None;
    }
    let addr = if family == 1 {
        let mut b = [0u8; 4];
        b[..addr.len()].copy_from_slice(addr);
        IpAddr::V4(Ipv4Addr::from(b))
    } else {
        let mut b = [0u8; 16];
        b[..addr.len()].copy_from_slice(addr);
        IpAddr::V6(Ipv6Addr::from(b))
    };
    Some(ClientSubnet { addr, source_prefix })
}

/// Reads the EDNS options of an OPT record: `Err(())` when malformed.
fn parse_options(data: &[u8]) -> Result<Option<ClientSubnet>, ()> {
    let mut ecs = None;
    let mut at = 0;
    while at < data.len() {
        let code = u16_at(data, at).ok_or(())?;
        let len = usize::from(u16_at(data, at + 2).ok_or(())?);
        let value = data.get(at + 4..at + 4 + len).ok_or(())?;
        if code == OPTION_ECS {
            // Two ECS options cannot both describe the client.
            if ecs.is_some() {
                return Err(());
            }
            ecs = Some(parse_ecs(value).ok_or(())?);
        }
        at += 4 + len;
    }
    Ok(ecs)
}

/// Reads a query. Every packet ends up as a [`Query`] or a [`Malformed`].
pub(crate) fn parse(buf: &[u8]) -> Result<Query<'_>, Malformed<'_>> {
    if buf.len() < HEADER_LEN || buf[2] & 0x80 != 0 {
        return Err(Malformed::Drop);
    }
    let head = Head {
        id: u16::from_be_bytes([buf[0], buf[1]]),
        opcode: (buf[2] >> 3) & 0x0F,
        rd: buf[2] & 1 != 0,
        cd: buf[3] & 0x10 != 0,
    };
    let counts = [4, 6, 8, 10].map(|at| usize::from(u16::from_be_bytes([buf[at], buf[at + 1]])));
    let formerr = |question, edns| Malformed::FormErr { head, question, edns };
    // Exactly one question (RFC 9619).
    if counts[0] != 1 {
        return Err(formerr(None, None));
    }
    let Some(name_end) = read_plain_name(buf, HEADER_LEN).filter(|end| end + 4 <= buf.len()) else {
        return Err(formerr(None, None));
    };
    let question = &buf[HEADER_LEN..name_end + 4];
    let qtype = u16::from_be_bytes([buf[name_end], buf[name_end + 1]]);
    let qclass = u16::from_be_bytes([buf[name_end + 2], buf[name_end + 3]]);
    let echo = Some((question, qtype));
    if qtype == TYPE_OPT {
        return Err(formerr(echo, None));
    }

    let mut at = name_end + 4;
    let mut edns: Option<Edns> = None;
    // Answer and authority records are skipped; the additional section may hold the OPT.
    let (skipped, additional) = (counts[1] + counts[2], counts[3]);
    for i in 0..skipped + additional {
        let Some((rr, next)) = read_rr(buf, at) else {
            return Err(formerr(echo, edns));
        };
        at = next;
        if i >= skipped && rr.rtype == TYPE_OPT {
            // One OPT, owned by the root (RFC 6891 §6.1.1).
            if edns.is_some() || !rr.root_owner {
                return Err(formerr(echo, None));
            }
            let version = (rr.ttl >> 16) as u8;
            let mut found = Edns { payload: rr.class, version, ecs: None };
            match parse_options(&buf[rr.rdata]) {
                Ok(ecs) => found.ecs = ecs,
                Err(()) => return Err(formerr(echo, Some(found))),
            }
            edns = Some(found);
        }
    }
    Ok(Query { head, question, qtype, qclass, edns })
}

/// Iterates over the labels of an uncompressed name (as checked by [`parse`]).
pub(crate) fn labels(name: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let len = usize::from(*name.get(at)?);
        if len == 0 {
            return None;
        }
        let label = name.get(at + 1..at + 1 + len)?;
        at += 1 + len;
        Some(label)
    })
}

#[cfg(test)]
mod tests;
