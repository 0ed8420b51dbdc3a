//! Shared set-up for the DNS server's tests: three PoPs in three regions, client networks
//! placed near each, a server on 127.0.0.1 port 0, and raw UDP/TCP exchanges.
#![allow(dead_code)] // each test file uses its own part

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::RData;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use warren_core::Zone;
use warren_dns::{DnsConfig, DnsHandle, DnsServer, PopCandidate, StaticView, ZoneSnapshot};
use warren_geo::{GeoDb, GeoNetwork};

pub const ZONE: &str = "edge.test";
pub const TTL: u32 = 30;

pub const FRA_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const IAD_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const SIN_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 3);
pub const FRA_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
pub const IAD_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

/// Client networks, each near one PoP (static `geo.networks`).
pub const PARIS_NET: &str = "198.51.100.0/24";
pub const NEW_YORK_NET: &str = "203.0.113.0/24";
pub const TOKYO_NET: &str = "100.64.0.0/16";
pub const PARIS_NET_V6: &str = "2001:db8:aaaa::/48";
/// Where this machine's own queries come from: placed in Tokyo.
pub const LOOPBACK_NET: &str = "127.0.0.0/8";

fn pop(id: &str, lat: f64, lon: f64, v4: Ipv4Addr, v6: Option<Ipv6Addr>) -> PopCandidate {
    PopCandidate { ipv4: Some(v4), ipv6: v6, ..PopCandidate::new(id, lat, lon) }
}

/// Frankfurt and Ashburn with IPv4 and IPv6, Singapore with IPv4 only.
pub fn three_pops() -> Vec<PopCandidate> {
    vec![
        pop("pop-fra", 50.11, 8.68, FRA_V4, Some(FRA_V6)),
        pop("pop-iad", 39.04, -77.49, IAD_V4, Some(IAD_V6)),
        pop("pop-sin", 1.35, 103.82, SIN_V4, None),
    ]
}

/// The three PoPs; endpoints `www` (no tunnel known) and `api` (tunnel at Ashburn).
pub fn snapshot() -> ZoneSnapshot {
    let mut endpoints = BTreeMap::new();
    endpoints.insert("www".to_owned(), vec![]);
    endpoints.insert("api".to_owned(), vec!["pop-iad".to_owned()]);
    ZoneSnapshot { version: 7, pops: three_pops(), endpoints }
}

pub fn networks() -> Vec<GeoNetwork> {
    let n = |cidr: &str, latitude, longitude| GeoNetwork { cidr: cidr.parse().unwrap(), latitude, longitude };
    vec![
        n(PARIS_NET, 48.86, 2.35),
        n(NEW_YORK_NET, 40.71, -74.01),
        n(TOKYO_NET, 35.68, 139.69),
        n(PARIS_NET_V6, 48.86, 2.35),
        n(LOOPBACK_NET, 35.68, 139.69),
    ]
}

/// A MaxMind test database from `../shared/testdata/geoip/`; missing is a failure, not a skip.
pub fn testdata(name: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/geoip").join(name);
    assert!(p.exists(), "{} is missing: this test needs ../shared/testdata/geoip/{name}", p.display());
    p
}

pub struct TestServer {
    pub handle: DnsHandle,
    pub view: Arc<StaticView>,
    pub geo: Arc<GeoDb>,
}

impl TestServer {
    pub fn udp(&self) -> SocketAddr {
        self.handle.udp_addr()
    }
    pub fn tcp(&self) -> SocketAddr {
        self.handle.tcp_addr()
    }
}

pub fn config(self_id: &str) -> DnsConfig {
    DnsConfig::new(Zone::parse(ZONE).unwrap(), self_id, TTL)
}

/// The server answering as `self_id`, static networks only.
pub async fn start(self_id: &str) -> TestServer {
    start_with(config(self_id), snapshot(), GeoDb::from_networks(networks())).await
}

pub async fn start_with(cfg: DnsConfig, snapshot: ZoneSnapshot, geo: GeoDb) -> TestServer {
    let view = Arc::new(StaticView::new(snapshot));
    let geo = Arc::new(geo);
    let handle = DnsServer::start("127.0.0.1:0".parse().unwrap(), cfg, view.clone(), geo.clone()).await.unwrap();
    assert_eq!(handle.udp_addr().port(), handle.tcp_addr().port(), "UDP and TCP share the port");
    TestServer { handle, view, geo }
}

// --- raw queries ---

pub const A: u16 = 1;
pub const NS: u16 = 2;
pub const SOA: u16 = 6;
pub const MX: u16 = 15;
pub const TXT: u16 = 16;
pub const AAAA: u16 = 28;
pub const AXFR: u16 = 252;
pub const ANY: u16 = 255;

/// The OPT record of a query.
#[derive(Clone)]
pub struct Opt {
    pub payload: u16,
    pub version: u8,
    /// Raw options (code, length, data)*.
    pub options: Vec<u8>,
}

impl Opt {
    pub fn plain() -> Opt {
        Opt { payload: 1232, version: 0, options: Vec::new() }
    }

    /// With an ECS option made from raw data.
    pub fn ecs_raw(data: &[u8]) -> Opt {
        let mut options = vec![0, 8];
        options.extend_from_slice(&(data.len() as u16).to_be_bytes());
        options.extend_from_slice(data);
        Opt { options, ..Opt::plain() }
    }

    /// With a well-formed ECS option for `cidr` (e.g. "198.51.100.0/24").
    pub fn ecs(cidr: &str) -> Opt {
        Opt::ecs_raw(&ecs_data(cidr))
    }
}

/// The ECS option data for `cidr`: family, source prefix, scope 0, ceil(prefix/8) bytes.
pub fn ecs_data(cidr: &str) -> Vec<u8> {
    let net: ipnet::IpNet = cidr.parse().unwrap();
    let net = net.trunc();
    let (family, octets) = match net.addr() {
        IpAddr::V4(a) => (1u16, a.octets().to_vec()),
        IpAddr::V6(a) => (2u16, a.octets().to_vec()),
    };
    let len = usize::from(net.prefix_len()).div_ceil(8);
    let mut d = family.to_be_bytes().to_vec();
    d.extend_from_slice(&[net.prefix_len(), 0]);
    d.extend_from_slice(&octets[..len]);
    d
}

/// A query with id 0xBEEF, RD set, class IN.
pub fn query(name: &str, qtype: u16, opt: Option<&Opt>) -> Vec<u8> {
    query_class(name, qtype, 1, opt)
}

pub fn query_class(name: &str, qtype: u16, qclass: u16, opt: Option<&Opt>) -> Vec<u8> {
    let mut m = vec![0xBE, 0xEF, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(opt.is_some())];
    for label in name.split('.').filter(|l| !l.is_empty()) {
        m.push(label.len() as u8);
        m.extend_from_slice(label.as_bytes());
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&qclass.to_be_bytes());
    if let Some(o) = opt {
        m.push(0);
        m.extend_from_slice(&41u16.to_be_bytes());
        m.extend_from_slice(&o.payload.to_be_bytes());
        m.extend_from_slice(&[0, o.version, 0, 0]);
        m.extend_from_slice(&(o.options.len() as u16).to_be_bytes());
        m.extend_from_slice(&o.options);
    }
    m
}

/// Sends one datagram and waits for the reply (`None` after `wait`).
pub async fn udp_maybe(server: SocketAddr, packet: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(packet, server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let (n, _) = tokio::time::timeout(wait, sock.recv_from(&mut buf)).await.ok()?.unwrap();
    buf.truncate(n);
    Some(buf)
}

pub async fn udp(server: SocketAddr, packet: &[u8]) -> Vec<u8> {
    udp_maybe(server, packet, Duration::from_secs(5)).await.expect("a UDP reply within 5 s")
}

/// One length-prefixed exchange on a fresh TCP connection.
pub async fn tcp(server: SocketAddr, packet: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(server).await.unwrap();
    tcp_on(&mut s, packet).await
}

pub async fn tcp_on(s: &mut TcpStream, packet: &[u8]) -> Vec<u8> {
    s.write_all(&(packet.len() as u16).to_be_bytes()).await.unwrap();
    s.write_all(packet).await.unwrap();
    let len = tokio::time::timeout(Duration::from_secs(5), s.read_u16()).await.unwrap().unwrap();
    let mut buf = vec![0u8; usize::from(len)];
    s.read_exact(&mut buf).await.unwrap();
    buf
}

pub fn parse(reply: &[u8]) -> Message {
    Message::from_vec(reply).unwrap_or_else(|e| panic!("unparsable reply {reply:02x?}: {e}"))
}

/// Response code including the EDNS extended bits.
pub fn rcode(m: &Message) -> u16 {
    let high = m.edns.as_ref().map_or(0, |e| u16::from(e.rcode_high()));
    (high << 4) | u16::from(m.metadata.response_code.low())
}

/// The ECS option of a reply: (address, source prefix, scope prefix).
pub fn ecs(m: &Message) -> Option<(IpAddr, u8, u8)> {
    match m.edns.as_ref()?.option(EdnsCode::Subnet)? {
        EdnsOption::Subnet(s) => Some((s.addr(), s.source_prefix(), s.scope_prefix())),
        _ => None,
    }
}

pub fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    m.answers.iter().filter_map(|r| if let RData::A(a) = &r.data { Some(a.0) } else { None }).collect()
}

pub fn aaaa_records(m: &Message) -> Vec<Ipv6Addr> {
    m.answers.iter().filter_map(|r| if let RData::AAAA(a) = &r.data { Some(a.0) } else { None }).collect()
}

/// The single A record of a GSLB answer over UDP, with the reply's ECS scope.
pub async fn a_for(server: SocketAddr, name: &str, opt: Option<&Opt>) -> (Vec<Ipv4Addr>, Option<u8>) {
    let m = parse(&udp(server, &query(name, A, opt)).await);
    assert_eq!(rcode(&m), 0, "{m:?}");
    (a_records(&m), ecs(&m).map(|e| e.2))
}
