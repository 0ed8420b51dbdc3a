//! What the DNS server needs to know besides the zone's contents.

use std::time::Duration;

use warren_core::Zone;

/// The SOA record's timers. Warren has no secondaries that transfer the zone (every PoP answers
/// from the replicated state), so refresh, retry and expire are conventional values; `minimum`
/// is what matters: resolvers cache negative answers (NXDOMAIN, NODATA) for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoaTimers {
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    /// Negative-caching TTL (RFC 2308).
    pub minimum: u32,
}

/// The server's configuration; [`DnsConfig::new`] fills in the defaults.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// The zone served, e.g. `edge.example.com`.
    pub zone: Zone,
    /// TTL of the GSLB answers (`A`/`AAAA` of the apex and of endpoints) and of the SOA.
    /// Short, so clients move within a TTL when a PoP fails (`dns.ttl`, default 30).
    pub ttl: u32,
    /// The answering PoP's id: its location is used for clients of unknown location, and the
    /// SOA's primary name is `ns-<self_id>.<zone>`.
    pub self_id: String,
    /// TTL of the NS records and of the `ns-<pop-id>.<zone>` addresses: they change only when
    /// PoPs join or leave the cluster. Default 3600.
    pub ns_ttl: u32,
    pub soa: SoaTimers,
    /// Tuning of the tunnel-aware preference.
    pub gslb: warren_gslb::Params,
    /// Largest UDP reply ever sent, whatever a client's EDNS buffer size says. Default 1232
    /// (the DNS flag day 2020 value: no IP fragmentation on common paths).
    pub max_udp_payload: u16,
    /// A TCP connection with no query for this long is closed (RFC 7766). Default 10 s.
    pub tcp_idle_timeout: Duration,
    /// TCP connections served at once; more wait in the listen backlog. Default 1024.
    pub max_tcp_connections: usize,
    /// TCP connections one client address may hold at once, so that one client cannot take
    /// every slot (RFC 9210 §4). Default 32.
    pub max_tcp_per_client: usize,
}

impl DnsConfig {
    /// A configuration with the defaults above; the SOA's negative-caching TTL is `ttl`.
    pub fn new(zone: Zone, self_id: impl Into<String>, ttl: u32) -> DnsConfig {
        DnsConfig {
            zone,
            ttl,
            self_id: self_id.into(),
            ns_ttl: 3600,
            soa: SoaTimers { refresh: 3600, retry: 600, expire: 604_800, minimum: ttl },
            gslb: warren_gslb::Params::default(),
            max_udp_payload: 1232,
            tcp_idle_timeout: Duration::from_secs(10),
            max_tcp_connections: 1024,
            max_tcp_per_client: 32,
        }
    }
}
