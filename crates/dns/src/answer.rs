//! Deciding the contents of an answer: which name the question is, which records it gets, with
//! which response code and ECS scope. No bytes here: `encode.rs` writes them.

use std::net::IpAddr;

use hickory_proto::rr::rdata::{A, AAAA, HINFO, NS, SOA};
use hickory_proto::rr::{Name, RData, Record};
use warren_gslb::{Family, PopCandidate, Request};

use crate::handler::Handler;
use crate::view::ZoneSnapshot;
use crate::wire::{self, Query};

pub(crate) const TYPE_A: u16 = 1;
pub(crate) const TYPE_NS: u16 = 2;
pub(crate) const TYPE_SOA: u16 = 6;
pub(crate) const TYPE_AAAA: u16 = 28;
pub(crate) const TYPE_IXFR: u16 = 251;
pub(crate) const TYPE_AXFR: u16 = 252;
pub(crate) const TYPE_ANY: u16 = 255;
pub(crate) const CLASS_IN: u16 = 1;

/// Response codes, extended ones included (BADVERS needs the OPT record's high bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rcode {
    NoError,
    FormErr,
    ServFail,
    NxDomain,
    NotImp,
    Refused,
    BadVers,
}

impl Rcode {
    /// How many there are, for tables indexed by [`Rcode::index`].
    pub(crate) const COUNT: usize = 7;

    pub(crate) fn index(self) -> usize {
        match self {
            Rcode::NoError => 0,
            Rcode::FormErr => 1,
            Rcode::ServFail => 2,
            Rcode::NxDomain => 3,
            Rcode::NotImp => 4,
            Rcode::Refused => 5,
            Rcode::BadVers => 6,
        }
    }

    pub(crate) fn value(self) -> u16 {
        match self {
            Rcode::NoError => 0,
            Rcode::FormErr => 1,
            Rcode::ServFail => 2,
            Rcode::NxDomain => 3,
            Rcode::NotImp => 4,
            Rcode::Refused => 5,
            Rcode::BadVers => 16,
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Rcode::NoError => "NOERROR",
            Rcode::FormErr => "FORMERR",
            Rcode::ServFail => "SERVFAIL",
            Rcode::NxDomain => "NXDOMAIN",
            Rcode::NotImp => "NOTIMP",
            Rcode::Refused => "REFUSED",
            Rcode::BadVers => "BADVERS",
        }
    }
}

/// What to answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub rcode: Rcode,
    pub authoritative: bool,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    /// Optional data (NS addresses): left out first when the reply does not fit.
    pub additionals: Vec<Record>,
    /// ECS scope prefix for the reply (0 unless the answer depends on the client's location).
    pub ecs_scope: u8,
}

impl Reply {
    pub(crate) fn bare(rcode: Rcode, authoritative: bool) -> Reply {
        Reply {
            rcode,
            authoritative,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
            ecs_scope: 0,
        }
    }
}

/// Which name of the zone a question is about.
enum Owner<'s> {
    Apex,
    /// `ns-<pop-id>.<zone>`: that PoP's own addresses, not balanced.
    NameServer(&'s PopCandidate),
    Endpoint(&'s [String]),
    /// Under the zone, but no such name.
    Missing,
    Outside,
}

fn classify<'s>(h: &Handler, snap: &'s ZoneSnapshot, qname: &[u8]) -> Owner<'s> {
    let zone = h.zone_labels();
    let Some(split) = wire::labels(qname).count().checked_sub(zone.len()) else {
        return Owner::Outside;
    };
    if !wire::labels(qname).skip(split).zip(zone).all(|(a, b)| a.eq_ignore_ascii_case(b)) {
        return Owner::Outside;
    }
    let first = match split {
        0 => return Owner::Apex,
        1 => wire::labels(qname).next().unwrap_or_default(),
        _ => return Owner::Missing,
    };
    // Lower case on the stack: this runs for every query. A label is at most 63 bytes.
    let mut lower = [0u8; 63];
    let Some(lower) = lower.get_mut(..first.len()) else {
        return Owner::Missing;
    };
    lower.copy_from_slice(first);
    lower.make_ascii_lowercase();
    let Ok(label) = std::str::from_utf8(lower) else {
        return Owner::Missing;
    };
    // The name servers' names come first: delegation must keep working even if an endpoint took
    // the same label.
    if let Some(id) = label.strip_prefix("ns-")
        && let Some(pop) = snap.pops.iter().find(|p| p.id == id)
    {
        return Owner::NameServer(pop);
    }
    match snap.endpoints.get(label) {
        Some(tunnels) => Owner::Endpoint(tunnels),
        None => Owner::Missing,
    }
}

/// Where the client is, for GSLB, and the ECS scope an answer depending on it gets.
struct ClientLocation {
    coordinates: Option<(f64, f64)>,
    scope: u8,
    from_ecs: bool,
}

fn locate(h: &Handler, q: &Query<'_>, src: IpAddr) -> ClientLocation {
    match q.edns.and_then(|e| e.ecs) {
        // Source prefix 0: the client asked that its address not be used (RFC 7871 §7.1.2);
        // the answer is the one for an unknown location, valid for everyone (scope 0).
        Some(ecs) if ecs.source_prefix == 0 => ClientLocation { coordinates: None, scope: 0, from_ecs: true },
        Some(ecs) => {
            // An IPv4-mapped IPv6 subnet is the IPv4 subnet it maps (`geo.networks` lists IPv4
            // networks once); its scope stays counted in IPv6 bits, as the query's family is.
            let addr = ecs.addr.to_canonical();
            let l = h.geo().locate(addr);
            let mapped = addr.is_ipv4() && ecs.addr.is_ipv6();
            ClientLocation {
                coordinates: l.coordinates.map(|c| (c.latitude, c.longitude)),
                scope: if mapped { l.prefix_len.saturating_add(96).min(128) } else { l.prefix_len },
                from_ecs: true,
            }
        }
        None => {
            let l = h.geo().locate(src.to_canonical());
            ClientLocation { coordinates: l.coordinates.map(|c| (c.latitude, c.longitude)), scope: 0, from_ecs: false }
        }
    }
}

/// One query being answered: what every step needs.
struct Asked<'a, 'q> {
    h: &'a Handler,
    snap: &'a ZoneSnapshot,
    q: &'a Query<'q>,
    src: IpAddr,
    /// The question's name, the owner of the answers.
    name: &'a Name,
    /// Located on first use: only GSLB answers need it.
    client: Option<ClientLocation>,
}

impl Asked<'_, '_> {
    /// The records of one name for one address type: a GSLB decision, or a name server's own.
    fn addresses(&mut self, owner: &Owner<'_>, family: Family, reply: &mut Reply) {
        let data = |pop: &PopCandidate| match family {
            Family::V4 => pop.ipv4.map(|ip| RData::A(A(ip))),
            Family::V6 => pop.ipv6.map(|ip| RData::AAAA(AAAA(ip))),
        };
        let cfg = self.h.cfg();
        let tunnels = match owner {
            Owner::NameServer(pop) => {
                if let Some(rdata) = data(pop) {
                    reply.answers.push(Record::from_rdata(self.name.clone(), cfg.ns_ttl, rdata));
                }
                return;
            }
            Owner::Endpoint(tunnels) => Some(*tunnels),
            _ => None,
        };
        let (h, q, src) = (self.h, self.q, self.src);
        let loc = self.client.get_or_insert_with(|| locate(h, q, src));
        let req = Request { client: loc.coordinates, self_id: &cfg.self_id, tunnel_pops: tunnels };
        let Some(choice) = warren_gslb::choose(&self.snap.pops, &req, family, &cfg.gslb) else {
            return;
        };
        if let Some(rdata) = data(choice.pop) {
            reply.answers.push(Record::from_rdata(self.name.clone(), cfg.ttl, rdata));
            self.h.metrics().chosen(&choice.pop.id);
            if loc.from_ecs && choice.depends_on_location {
                reply.ecs_scope = loc.scope;
            }
        }
    }
}

/// The apex SOA record.
pub(crate) fn soa(h: &Handler, snap: &ZoneSnapshot) -> Record {
    let s = h.cfg().soa;
    // Timers are u32 in the configuration but i32 on the wire (RFC 1035): clamp, never wrap.
    let timer = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    // The SOA serial is the low 32 bits of the version (serial arithmetic allows the wrap).
    let serial = snap.version as u32;
    let rdata = SOA::new(
        h.mname().clone(),
        h.hostmaster().clone(),
        serial,
        timer(s.refresh),
        timer(s.retry),
        timer(s.expire),
        s.minimum,
    );
    Record::from_rdata(h.apex().clone(), h.cfg().ttl.min(s.minimum), RData::SOA(rdata))
}

/// Decides the reply to a well-formed query. `name` is the question's name as hickory holds it
/// (same case as asked), used as the owner of answers so they compress onto the question.
pub(crate) fn decide(h: &Handler, q: &Query<'_>, name: &Name, src: IpAddr) -> Reply {
    if q.head.opcode != 0 {
        return Reply::bare(Rcode::NotImp, false);
    }
    if q.edns.is_some_and(|e| e.version != 0) {
        return Reply::bare(Rcode::BadVers, false);
    }
    let snap = h.view().snapshot();
    let owner = classify(h, &snap, q.qname());
    if matches!(owner, Owner::Outside) || q.qclass != CLASS_IN {
        return Reply::bare(Rcode::Refused, false);
    }
    if matches!(owner, Owner::Missing) {
        let mut reply = Reply::bare(Rcode::NxDomain, true);
        reply.authorities.push(soa(h, &snap));
        return reply;
    }
    let mut reply = Reply::bare(Rcode::NoError, true);
    let mut asked = Asked { h, snap: &snap, q, src, name, client: None };
    match (q.qtype, &owner) {
        (TYPE_AXFR | TYPE_IXFR, _) => return Reply::bare(Rcode::Refused, false),
        (TYPE_A, _) => asked.addresses(&owner, Family::V4, &mut reply),
        (TYPE_AAAA, _) => asked.addresses(&owner, Family::V6, &mut reply),
        (TYPE_SOA, Owner::Apex) => reply.answers.push(soa(h, &snap)),
        (TYPE_NS, Owner::Apex) => name_servers(h, &snap, &mut reply),
        // RFC 8482: one record set instead of everything. The address a client would be sent
        // to is the most useful one; a name without one gets the synthesized HINFO.
        (TYPE_ANY, _) => {
            asked.addresses(&owner, Family::V4, &mut reply);
            if reply.answers.is_empty() {
                let hinfo = HINFO::new("RFC8482".into(), String::new());
                reply.answers.push(Record::from_rdata(name.clone(), h.cfg().ttl, RData::HINFO(hinfo)));
            }
        }
        _ => {}
    }
    if reply.answers.is_empty() {
        // NODATA: the name exists, the type does not (RFC 2308 §2.2).
        reply.authorities.push(soa(h, &snap));
    }
    reply
}

/// NS records for every PoP (by id), with their addresses as additional data.
fn name_servers(h: &Handler, snap: &ZoneSnapshot, reply: &mut Reply) {
    let mut pops: Vec<&PopCandidate> = snap.pops.iter().collect();
    pops.sort_by(|a, b| a.id.cmp(&b.id));
    let ttl = h.cfg().ns_ttl;
    for pop in pops {
        // Ids are checked when the PoP is configured; one that makes no DNS label is skipped.
        let Some(ns) = h.ns_name(&pop.id) else {
            continue;
        };
        reply.answers.push(Record::from_rdata(h.apex().clone(), ttl, RData::NS(NS(ns.clone()))));
        if let Some(ip) = pop.ipv4 {
            reply.additionals.push(Record::from_rdata(ns.clone(), ttl, RData::A(A(ip))));
        }
        if let Some(ip) = pop.ipv6 {
            reply.additionals.push(Record::from_rdata(ns, ttl, RData::AAAA(AAAA(ip))));
        }
    }
}
