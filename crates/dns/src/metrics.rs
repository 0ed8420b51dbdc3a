//! Metric names of the DNS server, in one place so dashboards and alerts have a single source.
//!
//! Label values come from small fixed sets: record types outside the common ones are `other`,
//! and `pop` is a PoP id of the cluster. Never names or addresses.

use std::collections::HashMap;
use std::sync::{OnceLock, PoisonError, RwLock};

use metrics::{Counter, Histogram};

use crate::answer::Rcode;

/// Queries answered, labels `qtype` (`A`, `AAAA`, `NS`, …, `other`, `none`) and `rcode`
/// (`NOERROR`, `NXDOMAIN`, `REFUSED`, `FORMERR`, `NOTIMP`, `BADVERS`).
pub const QUERIES_TOTAL: &str = "warren_dns_queries_total";
/// From a query's arrival to its answer being handed to the socket, label `proto` (`udp`/`tcp`).
pub const ANSWER_SECONDS: &str = "warren_dns_answer_seconds";
/// Queries carrying a valid EDNS Client Subnet option.
pub const ECS_TOTAL: &str = "warren_dns_ecs_total";
/// GSLB decisions (`A`/`AAAA` of the apex and of endpoints), label `pop`: the PoP handed out.
pub const CHOSEN_POP_TOTAL: &str = "warren_dns_chosen_pop_total";
/// Packets dropped (too short to answer, not a query) or answered FORMERR.
pub const MALFORMED_TOTAL: &str = "warren_dns_malformed_total";
/// TCP connections closed on accept because their client held its share of connections.
pub const TCP_REFUSED_TOTAL: &str = "warren_dns_tcp_refused_total";

/// Registers units and help texts with the installed recorder (call once at start-up).
pub fn describe() {
    metrics::describe_counter!(QUERIES_TOTAL, "DNS queries answered, by type and response code");
    metrics::describe_histogram!(ANSWER_SECONDS, metrics::Unit::Seconds, "Time from a query's arrival to its answer");
    metrics::describe_counter!(ECS_TOTAL, "DNS queries with an EDNS Client Subnet option");
    metrics::describe_counter!(CHOSEN_POP_TOTAL, "GSLB answers by the PoP handed out");
    metrics::describe_counter!(MALFORMED_TOTAL, "DNS packets dropped or answered FORMERR");
    metrics::describe_counter!(TCP_REFUSED_TOTAL, "DNS TCP connections refused: the client held its share");
    // Present from the start at 0, so rate() and absent() alerts work before the first event.
    for name in [ECS_TOTAL, MALFORMED_TOTAL, TCP_REFUSED_TOTAL] {
        metrics::counter!(name).increment(0);
    }
}

/// Record types with a label of their own; every other type is `other`.
const QTYPES: [(u16, &str); 18] = [
    (1, "A"),
    (2, "NS"),
    (5, "CNAME"),
    (6, "SOA"),
    (12, "PTR"),
    (13, "HINFO"),
    (15, "MX"),
    (16, "TXT"),
    (28, "AAAA"),
    (33, "SRV"),
    (43, "DS"),
    (48, "DNSKEY"),
    (64, "SVCB"),
    (65, "HTTPS"),
    (251, "IXFR"),
    (252, "AXFR"),
    (255, "ANY"),
    (257, "CAA"),
];
/// Index of `other` and of `none` (no question could be read) after the named types.
const OTHER: usize = QTYPES.len();
const NONE: usize = OTHER + 1;

fn qtype_index(qtype: Option<u16>) -> usize {
    match qtype {
        None => NONE,
        Some(t) => QTYPES.iter().position(|&(v, _)| v == t).unwrap_or(OTHER),
    }
}

/// The `qtype` label of a record type.
pub(crate) fn qtype_label(qtype: Option<u16>) -> &'static str {
    match qtype_index(qtype) {
        NONE => "none",
        OTHER => "other",
        i => QTYPES[i].1,
    }
}

/// The server's metric handles, each made on first use and kept: looking a labelled metric up in
/// the recorder by name and labels costs about as much as the rest of answering a query. Made
/// lazily rather than at start-up so that they bind to the recorder installed by then (a handle
/// made before any recorder is installed records nothing, for good).
pub(crate) struct Handles {
    queries: Vec<[OnceLock<Counter>; Rcode::COUNT]>,
    ecs: OnceLock<Counter>,
    malformed: OnceLock<Counter>,
    tcp_refused: OnceLock<Counter>,
    answer_udp: OnceLock<Histogram>,
    answer_tcp: OnceLock<Histogram>,
    /// By PoP id; the ids of one cluster are few, but the map is bounded anyway.
    chosen: RwLock<HashMap<String, Counter>>,
}

/// More PoP ids than any cluster has: beyond it, chosen PoPs are still counted, just without a
/// kept handle.
const MAX_CHOSEN_HANDLES: usize = 1024;

impl Handles {
    pub(crate) fn new() -> Handles {
        Handles {
            queries: (0..=NONE).map(|_| std::array::from_fn(|_| OnceLock::new())).collect(),
            ecs: OnceLock::new(),
            malformed: OnceLock::new(),
            tcp_refused: OnceLock::new(),
            answer_udp: OnceLock::new(),
            answer_tcp: OnceLock::new(),
            chosen: RwLock::new(HashMap::new()),
        }
    }

    /// One query answered with `rcode`.
    pub(crate) fn query(&self, qtype: Option<u16>, rcode: Rcode) {
        let i = qtype_index(qtype);
        self.queries[i][rcode.index()]
            .get_or_init(|| metrics::counter!(QUERIES_TOTAL, "qtype" => qtype_label(qtype), "rcode" => rcode.label()))
            .increment(1);
    }

    pub(crate) fn ecs(&self) {
        self.ecs.get_or_init(|| metrics::counter!(ECS_TOTAL)).increment(1);
    }

    pub(crate) fn malformed(&self) {
        self.malformed.get_or_init(|| metrics::counter!(MALFORMED_TOTAL)).increment(1);
    }

    pub(crate) fn tcp_refused(&self) {
        self.tcp_refused.get_or_init(|| metrics::counter!(TCP_REFUSED_TOTAL)).increment(1);
    }

    /// The time from a query's arrival to its answer.
    pub(crate) fn answered(&self, tcp: bool, seconds: f64) {
        let h = match tcp {
            false => self.answer_udp.get_or_init(|| metrics::histogram!(ANSWER_SECONDS, "proto" => "udp")),
            true => self.answer_tcp.get_or_init(|| metrics::histogram!(ANSWER_SECONDS, "proto" => "tcp")),
        };
        h.record(seconds);
    }

    /// A GSLB answer handed out `pop`.
    pub(crate) fn chosen(&self, pop: &str) {
        if let Some(c) = self.chosen.read().unwrap_or_else(PoisonError::into_inner).get(pop) {
            c.increment(1);
            return;
        }
        let c = metrics::counter!(CHOSEN_POP_TOTAL, "pop" => pop.to_owned());
        c.increment(1);
        let mut map = self.chosen.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() < MAX_CHOSEN_HANDLES {
            map.insert(pop.to_owned(), c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qtype_labels() {
        assert_eq!(qtype_label(Some(1)), "A");
        assert_eq!(qtype_label(Some(28)), "AAAA");
        assert_eq!(qtype_label(Some(257)), "CAA");
        assert_eq!(qtype_label(Some(4242)), "other");
        assert_eq!(qtype_label(None), "none");
        for (i, &(t, label)) in QTYPES.iter().enumerate() {
            assert_eq!((qtype_index(Some(t)), qtype_label(Some(t))), (i, label), "no type twice");
        }
    }
}
