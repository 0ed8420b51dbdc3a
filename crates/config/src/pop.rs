//! `pop.yaml`: the configuration of one Point of Presence (see CONTRACT.md for the keys).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;
use serde_saphyr::Spanned;
use warren_core::{PopId, Zone};

use crate::{ConfigError, from_yaml};

// ---------------------------------------------------------------------------------------------
// The file as written. Fields that need checks beyond their type are `Spanned` so a mistake can
// point at its line.
// ---------------------------------------------------------------------------------------------

/// `pop.yaml` exactly as written, before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopFile {
    id: Spanned<String>,
    #[serde(default)]
    region: String,
    location: Spanned<LocationFile>,
    #[serde(default)]
    public_ipv4: Option<Spanned<String>>,
    #[serde(default)]
    public_ipv6: Option<Spanned<String>>,
    zone: Spanned<String>,
    data_dir: PathBuf,
    listen: ListenFile,
    #[serde(default)]
    tcp_ports: Option<Spanned<String>>,
    #[serde(default)]
    cluster: Option<ClusterFile>,
    #[serde(default)]
    tls: Option<Spanned<TlsFile>>,
    #[serde(default)]
    admin_token_file: Option<PathBuf>,
    #[serde(default)]
    global_policy_file: Option<PathBuf>,
    #[serde(default)]
    geo: Option<GeoFile>,
    #[serde(default)]
    health: Option<Spanned<HealthFile>>,
    #[serde(default)]
    dns: Option<Spanned<DnsFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LocationFile {
    lat: f64,
    lon: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListenFile {
    #[serde(default)]
    http: Option<Spanned<String>>,
    #[serde(default)]
    https: Option<Spanned<String>>,
    tunnel: Spanned<String>,
    cluster: Spanned<String>,
    #[serde(default)]
    dns: Option<Spanned<String>>,
    admin: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterFile {
    #[serde(default)]
    bootstrap: bool,
    #[serde(default)]
    peers: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    secret_file: Option<PathBuf>,
    #[serde(default)]
    heartbeat_ms: Option<Spanned<u64>>,
    #[serde(default)]
    election_timeout_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    #[serde(default)]
    dev_ca_dir: Option<PathBuf>,
    #[serde(default)]
    cert: Option<PathBuf>,
    #[serde(default)]
    key: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GeoFile {
    #[serde(default)]
    mmdb: Option<PathBuf>,
    #[serde(default)]
    networks: Vec<Spanned<GeoNetworkFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GeoNetworkFile {
    cidr: String,
    lat: f64,
    lon: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthFile {
    #[serde(default = "HealthConfig::default_interval")]
    interval_ms: u64,
    #[serde(default = "HealthConfig::default_fall")]
    fall: u32,
    #[serde(default = "HealthConfig::default_rise")]
    rise: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DnsFile {
    #[serde(default = "PopConfig::default_dns_ttl")]
    ttl: u32,
    #[serde(default = "PopConfig::default_dns_weight")]
    weight: u32,
    #[serde(default)]
    drain: bool,
}

// ---------------------------------------------------------------------------------------------
// The validated configuration the rest of Warren takes.
// ---------------------------------------------------------------------------------------------

/// A PoP's validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct PopConfig {
    pub id: PopId,
    pub region: String,
    pub location: Location,
    pub public_ipv4: Option<Ipv4Addr>,
    pub public_ipv6: Option<Ipv6Addr>,
    pub zone: Zone,
    pub data_dir: PathBuf,
    pub listen: Listen,
    pub tcp_ports: Option<TcpPortRange>,
    pub bootstrap: bool,
    /// Initial members: id → cluster address (`host:port`).
    pub peers: BTreeMap<PopId, String>,
    pub secret_file: Option<PathBuf>,
    pub tls: TlsConfig,
    pub admin_token_file: Option<PathBuf>,
    pub global_policy_file: Option<PathBuf>,
    pub geo: GeoConfig,
    pub health: HealthConfig,
    pub dns_ttl: u32,
    /// GSLB weight of this PoP, 0..=1000 (100 is neutral).
    pub dns_weight: u32,
    /// A draining PoP gets no new DNS clients but keeps serving the ones it has.
    pub dns_drain: bool,
    pub raft: RaftTiming,
}

/// Raft timing (`cluster.heartbeat_ms`, `cluster.election_timeout_ms`). The defaults suit PoPs
/// continents apart; openraft's own (50 ms / 150 ms) would hold elections on every jitter of a
/// wide-area path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftTiming {
    pub heartbeat_ms: u64,
    /// The minimum election timeout; the maximum is twice that.
    pub election_timeout_ms: u64,
}

impl Default for RaftTiming {
    fn default() -> Self {
        RaftTiming { heartbeat_ms: 250, election_timeout_ms: 1500 }
    }
}

/// A point on the globe, in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
}

/// Listener addresses; port 0 asks the OS for a free port (the PoP prints what it bound).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub http: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
    pub tunnel: SocketAddr,
    pub cluster: SocketAddr,
    pub dns: Option<SocketAddr>,
    pub admin: SocketAddr,
}

/// An inclusive range of ports handed to TCP endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPortRange {
    pub first: u16,
    pub last: u16,
}

/// Where the certificate for `*.ZONE` comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsConfig {
    /// No https listener.
    None,
    /// Make (or reuse) a local CA in this folder and sign a wildcard with it.
    DevCa(PathBuf),
    /// A certificate chain and key from files.
    Files { cert: PathBuf, key: PathBuf },
}

/// Client geolocation sources for GSLB.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GeoConfig {
    pub mmdb: Option<PathBuf>,
    pub networks: Vec<GeoNetwork>,
}

/// A static network → location entry, checked before the mmdb.
#[derive(Debug, Clone, PartialEq)]
pub struct GeoNetwork {
    pub cidr: IpNet,
    pub location: Location,
}

/// Peer health probing: a peer is down after `fall` failed probes, up after `rise` good ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthConfig {
    pub interval_ms: u64,
    pub fall: u32,
    pub rise: u32,
}

impl HealthConfig {
    fn default_interval() -> u64 {
        1000
    }
    fn default_fall() -> u32 {
        3
    }
    fn default_rise() -> u32 {
        2
    }
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig { interval_ms: Self::default_interval(), fall: Self::default_fall(), rise: Self::default_rise() }
    }
}

impl PopConfig {
    /// DNS answers are short-lived so a failed PoP leaves resolvers' caches quickly.
    pub const DEFAULT_DNS_TTL: u32 = 30;

    fn default_dns_ttl() -> u32 {
        Self::DEFAULT_DNS_TTL
    }

    fn default_dns_weight() -> u32 {
        100
    }

    /// Parses and validates the text of a `pop.yaml` named `file` (used in error messages).
    pub fn parse(src: &str, file: &str) -> Result<PopConfig, ConfigError> {
        let raw: PopFile = from_yaml(src, file)?;
        Check { file }.pop(raw)
    }
}

/// Builds errors that point at a spanned value.
struct Check<'a> {
    file: &'a str,
}

impl Check<'_> {
    fn err<T>(&self, at: &Spanned<T>, field: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_owned(),
            line: at.referenced.line(),
            column: at.referenced.column(),
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    fn socket(&self, at: &Spanned<String>, field: &str) -> Result<SocketAddr, ConfigError> {
        parse_socket_addr(&at.value)
            .ok_or_else(|| self.err(at, field, format!("invalid host:port {:?} (e.g. 0.0.0.0:443)", at.value)))
    }

    fn opt_socket(&self, at: &Option<Spanned<String>>, field: &str) -> Result<Option<SocketAddr>, ConfigError> {
        at.as_ref().map(|a| self.socket(a, field)).transpose()
    }

    fn location(&self, at: &Spanned<LocationFile>, field: &str) -> Result<Location, ConfigError> {
        let LocationFile { lat, lon } = at.value;
        if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
            return Err(self.err(
                at,
                field,
                format!("lat must be in -90..=90 and lon in -180..=180, got lat {lat}, lon {lon}"),
            ));
        }
        Ok(Location { lat, lon })
    }

    fn pop(&self, raw: PopFile) -> Result<PopConfig, ConfigError> {
        let id = PopId::parse(&raw.id.value).map_err(|e| self.err(&raw.id, "id", e.to_string()))?;
        let zone = Zone::parse(&raw.zone.value).map_err(|e| self.err(&raw.zone, "zone", e.to_string()))?;
        let location = self.location(&raw.location, "location")?;
        let public_ipv4 = raw
            .public_ipv4
            .as_ref()
            .map(|s| {
                s.value
                    .parse::<Ipv4Addr>()
                    .map_err(|_| self.err(s, "public_ipv4", format!("not an IPv4 address: {:?}", s.value)))
            })
            .transpose()?;
        let public_ipv6 = raw
            .public_ipv6
            .as_ref()
            .map(|s| {
                s.value
                    .parse::<Ipv6Addr>()
                    .map_err(|_| self.err(s, "public_ipv6", format!("not an IPv6 address: {:?}", s.value)))
            })
            .transpose()?;

        let l = &raw.listen;
        let listen = Listen {
            http: self.opt_socket(&l.http, "listen.http")?,
            https: self.opt_socket(&l.https, "listen.https")?,
            tunnel: self.socket(&l.tunnel, "listen.tunnel")?,
            cluster: self.socket(&l.cluster, "listen.cluster")?,
            dns: self.opt_socket(&l.dns, "listen.dns")?,
            admin: self.socket(&l.admin, "listen.admin")?,
        };

        // Two listeners on one TCP address would fail at start; say so at --check. (The tunnel
        // port is TCP too: the TCP+TLS fallback shares it.)
        let tcp_listeners = [
            ("listen.http", &l.http, listen.http),
            ("listen.https", &l.https, listen.https),
            (
                "listen.tunnel",
                &Some(Spanned::new(l.tunnel.value.clone(), l.tunnel.referenced, l.tunnel.defined)),
                Some(listen.tunnel),
            ),
            (
                "listen.cluster",
                &Some(Spanned::new(l.cluster.value.clone(), l.cluster.referenced, l.cluster.defined)),
                Some(listen.cluster),
            ),
            (
                "listen.admin",
                &Some(Spanned::new(l.admin.value.clone(), l.admin.referenced, l.admin.defined)),
                Some(listen.admin),
            ),
        ];
        for (i, (name, at, addr)) in tcp_listeners.iter().enumerate() {
            let (Some(at), Some(addr)) = (at, addr) else { continue };
            if addr.port() == 0 {
                continue;
            }
            if let Some((other, _, _)) = tcp_listeners[..i].iter().find(|(_, _, a)| {
                a.is_some_and(|a| {
                    a.port() == addr.port()
                        && (a.ip() == addr.ip() || a.ip().is_unspecified() || addr.ip().is_unspecified())
                })
            }) {
                return Err(self.err(at, name, format!("{addr} is already used by {other}")));
            }
        }
        let tcp_ports = raw.tcp_ports.as_ref().map(|s| self.port_range(s)).transpose()?;
        let raft = self.raft_timing(raw.cluster.as_ref())?;
        let (bootstrap, peers, secret_file) = self.cluster(raw.cluster, &id)?;
        let tls = self.tls(raw.tls.as_ref(), &listen, &l.https)?;
        let geo = self.geo(raw.geo)?;

        let health = match raw.health {
            None => HealthConfig::default(),
            Some(h) => {
                let HealthFile { interval_ms, fall, rise } = h.value;
                if interval_ms < 50 || fall == 0 || rise == 0 {
                    return Err(self.err(
                        &h,
                        "health",
                        format!("need interval_ms >= 50, fall >= 1, rise >= 1; got {interval_ms}, {fall}, {rise}"),
                    ));
                }
                HealthConfig { interval_ms, fall, rise }
            }
        };
        let (dns_ttl, dns_weight, dns_drain) = match raw.dns {
            None => (PopConfig::DEFAULT_DNS_TTL, PopConfig::default_dns_weight(), false),
            Some(d) if d.value.ttl == 0 || d.value.ttl > 86_400 => {
                return Err(self.err(&d, "dns.ttl", format!("must be 1..=86400 seconds, got {}", d.value.ttl)));
            }
            Some(d) if d.value.weight > 1000 => {
                return Err(self.err(&d, "dns.weight", format!("must be 0..=1000, got {}", d.value.weight)));
            }
            Some(d) => (d.value.ttl, d.value.weight, d.value.drain),
        };

        Ok(PopConfig {
            id,
            region: raw.region,
            location,
            public_ipv4,
            public_ipv6,
            zone,
            data_dir: raw.data_dir,
            listen,
            tcp_ports,
            bootstrap,
            peers,
            secret_file,
            tls,
            admin_token_file: raw.admin_token_file,
            global_policy_file: raw.global_policy_file,
            geo,
            health,
            dns_ttl,
            dns_weight,
            dns_drain,
            raft,
        })
    }

    fn raft_timing(&self, raw: Option<&ClusterFile>) -> Result<RaftTiming, ConfigError> {
        let mut t = RaftTiming::default();
        let Some(c) = raw else { return Ok(t) };
        if let Some(h) = &c.heartbeat_ms {
            if !(10..=10_000).contains(&h.value) {
                return Err(self.err(h, "cluster.heartbeat_ms", format!("must be 10..=10000, got {}", h.value)));
            }
            t.heartbeat_ms = h.value;
        }
        if let Some(e) = &c.election_timeout_ms {
            t.election_timeout_ms = e.value;
        }
        if t.election_timeout_ms < 3 * t.heartbeat_ms {
            let at = c.election_timeout_ms.as_ref().or(c.heartbeat_ms.as_ref()).expect("one was set to get here");
            return Err(self.err(
                at,
                "cluster.election_timeout_ms",
                format!("must be at least 3 heartbeats ({} ms), got {} ms", 3 * t.heartbeat_ms, t.election_timeout_ms),
            ));
        }
        Ok(t)
    }

    fn port_range(&self, s: &Spanned<String>) -> Result<TcpPortRange, ConfigError> {
        let bad = || {
            self.err(s, "tcp_ports", format!("expected FIRST-LAST with 1 <= FIRST <= LAST <= 65535, got {:?}", s.value))
        };
        let (a, b) = s.value.split_once('-').unwrap_or((s.value.as_str(), s.value.as_str()));
        let first: u16 = a.trim().parse().map_err(|_| bad())?;
        let last: u16 = b.trim().parse().map_err(|_| bad())?;
        if first == 0 || first > last {
            return Err(bad());
        }
        Ok(TcpPortRange { first, last })
    }

    #[allow(clippy::type_complexity)]
    fn cluster(
        &self,
        raw: Option<ClusterFile>,
        me: &PopId,
    ) -> Result<(bool, BTreeMap<PopId, String>, Option<PathBuf>), ConfigError> {
        let Some(c) = raw else {
            // No cluster section: a single PoP that is its own cluster.
            return Ok((true, BTreeMap::new(), None));
        };
        let mut peers = BTreeMap::new();
        for (id, addr) in &c.peers {
            let pid = PopId::parse(id)
                .map_err(|e| self.err(addr, &format!("cluster.peers.{id}"), format!("bad PoP id: {e}")))?;
            if !is_host_port(&addr.value) {
                return Err(self.err(
                    addr,
                    &format!("cluster.peers.{id}"),
                    format!("invalid host:port {:?}", addr.value),
                ));
            }
            peers.insert(pid, addr.value.clone());
        }
        let alone = peers.keys().all(|p| p == me);
        if !alone && c.secret_file.is_none() {
            let at = c.peers.values().next().expect("not alone implies at least one peer");
            return Err(self.err(
                at,
                "cluster.secret_file",
                "required when the cluster has other members (PoP-to-PoP traffic is always authenticated)",
            ));
        }
        Ok((c.bootstrap, peers, c.secret_file))
    }

    fn tls(
        &self,
        raw: Option<&Spanned<TlsFile>>,
        listen: &Listen,
        https: &Option<Spanned<String>>,
    ) -> Result<TlsConfig, ConfigError> {
        let cfg = match raw {
            None => TlsConfig::None,
            Some(t) => match (&t.value.dev_ca_dir, &t.value.cert, &t.value.key) {
                (None, None, None) => TlsConfig::None,
                (Some(dir), None, None) => TlsConfig::DevCa(dir.clone()),
                (None, Some(cert), Some(key)) => TlsConfig::Files { cert: cert.clone(), key: key.clone() },
                (None, Some(_), None) => return Err(self.err(t, "tls.key", "cert is set but key is missing")),
                (None, None, Some(_)) => return Err(self.err(t, "tls.cert", "key is set but cert is missing")),
                (Some(_), _, _) => return Err(self.err(t, "tls", "set either dev_ca_dir or cert+key, not both")),
            },
        };
        if let (Some(_), TlsConfig::None, Some(at)) = (listen.https, &cfg, https) {
            return Err(self.err(at, "listen.https", "needs tls.dev_ca_dir or tls.cert and tls.key"));
        }
        Ok(cfg)
    }

    fn geo(&self, raw: Option<GeoFile>) -> Result<GeoConfig, ConfigError> {
        let Some(g) = raw else { return Ok(GeoConfig::default()) };
        let mut networks = Vec::with_capacity(g.networks.len());
        for (i, n) in g.networks.iter().enumerate() {
            let field = format!("geo.networks[{i}]");
            let cidr: IpNet = n
                .value
                .cidr
                .parse()
                .map_err(|_| self.err(n, &format!("{field}.cidr"), format!("not a CIDR: {:?}", n.value.cidr)))?;
            let loc = Spanned::new(LocationFile { lat: n.value.lat, lon: n.value.lon }, n.referenced, n.defined);
            networks.push(GeoNetwork { cidr, location: self.location(&loc, &field)? });
        }
        Ok(GeoConfig { mmdb: g.mmdb, networks })
    }
}

/// `IP:PORT`, `[IPv6]:PORT` or `localhost:PORT` (which means 127.0.0.1).
pub(crate) fn parse_socket_addr(s: &str) -> Option<SocketAddr> {
    if let Ok(a) = s.parse() {
        return Some(a);
    }
    let (host, port) = s.rsplit_once(':')?;
    (host == "localhost").then_some(())?;
    Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port.parse().ok()?))
}

/// `host:port` where host is an IP or a DNS name.
pub(crate) fn is_host_port(s: &str) -> bool {
    if s.parse::<SocketAddr>().is_ok() {
        return true;
    }
    let Some((host, port)) = s.rsplit_once(':') else { return false };
    port.parse::<u16>().is_ok_and(|p| p > 0)
        && !host.is_empty()
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

#[cfg(test)]
#[path = "pop_tests.rs"]
mod tests;
