//! DNS correctness rules, checked on the wire with raw UDP and TCP exchanges on 127.0.0.1.

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use hickory_proto::rr::{RData, RecordType};
use rand::{Rng, SeedableRng};
use support::*;
use warren_dns::{PopCandidate, ZoneSnapshot};
use warren_geo::GeoDb;

const NOERROR: u16 = 0;
const FORMERR: u16 = 1;
const NXDOMAIN: u16 = 3;
const NOTIMP: u16 = 4;
const REFUSED: u16 = 5;
const BADVERS: u16 = 16;

fn soa_of(m: &hickory_proto::op::Message) -> &hickory_proto::rr::rdata::SOA {
    match &m.authorities.first().or(m.answers.first()).expect("a SOA record").data {
        RData::SOA(soa) => soa,
        other => panic!("not a SOA: {other:?}"),
    }
}

#[tokio::test]
async fn soa_and_ns_at_the_apex() {
    let s = start("pop-fra").await;
    let m = parse(&udp(s.udp(), &query("edge.test", SOA, None)).await);
    assert_eq!(rcode(&m), NOERROR);
    assert!(m.metadata.authoritative);
    let soa = soa_of(&m);
    assert_eq!(soa.mname.to_ascii(), "ns-pop-fra.edge.test.");
    assert_eq!(soa.rname.to_ascii(), "hostmaster.edge.test.");
    assert_eq!(soa.serial, 7, "the view's version");
    assert_eq!(soa.minimum, TTL);
    assert_eq!(m.answers[0].ttl, TTL);

    let m = parse(&udp(s.udp(), &query("edge.test", NS, Some(&Opt::plain()))).await);
    let mut ns: Vec<String> = m
        .answers
        .iter()
        .map(|r| match &r.data {
            RData::NS(ns) => ns.0.to_ascii(),
            other => panic!("{other:?}"),
        })
        .collect();
    ns.sort();
    assert_eq!(ns, ["ns-pop-fra.edge.test.", "ns-pop-iad.edge.test.", "ns-pop-sin.edge.test."]);
    // Their addresses come along as additional data (hickory keeps the OPT record apart).
    assert_eq!(m.additionals.len(), 5, "{:?}", m.additionals);
    assert_eq!(ecs(&m), None);

    // The name servers' own addresses, not balanced, whatever their health.
    s.view.update(|z| z.pops[1].healthy = false);
    let (a, _) = a_for(s.udp(), "ns-pop-iad.edge.test", Some(&Opt::ecs(PARIS_NET))).await;
    assert_eq!(a, [IAD_V4]);
    let m = parse(&udp(s.udp(), &query("ns-pop-iad.edge.test", AAAA, None)).await);
    assert_eq!(aaaa_records(&m), [IAD_V6]);
    let m = parse(&udp(s.udp(), &query("ns-pop-sin.edge.test", AAAA, None)).await);
    assert_eq!((rcode(&m), m.answers.len(), m.authorities.len()), (NOERROR, 0, 1), "Singapore has no IPv6");
    let m = parse(&udp(s.udp(), &query("ns-pop-nowhere.edge.test", A, None)).await);
    assert_eq!(rcode(&m), NXDOMAIN);
}

#[tokio::test]
async fn names_under_the_zone_without_an_endpoint_are_nxdomain_with_the_soa() {
    let s = start("pop-fra").await;
    for name in ["nope.edge.test", "a.b.edge.test", "x.www.edge.test"] {
        for qtype in [A, AAAA, TXT] {
            let m = parse(&udp(s.udp(), &query(name, qtype, None)).await);
            assert_eq!(rcode(&m), NXDOMAIN, "{name}");
            assert!(m.metadata.authoritative);
            assert!(m.answers.is_empty());
            assert_eq!(m.authorities.len(), 1);
            assert_eq!(m.authorities[0].record_type(), RecordType::SOA);
            assert_eq!(m.authorities[0].name.to_ascii(), "edge.test.");
            assert_eq!(m.authorities[0].ttl, TTL);
        }
    }
}

#[tokio::test]
async fn existing_names_without_the_type_are_nodata_with_the_soa() {
    let s = start("pop-fra").await;
    for (name, qtype) in [
        ("www.edge.test", MX),
        ("www.edge.test", TXT),
        ("www.edge.test", NS),
        ("edge.test", MX),
        ("api.edge.test", SOA),
    ] {
        let m = parse(&udp(s.udp(), &query(name, qtype, None)).await);
        assert_eq!((rcode(&m), m.answers.len()), (NOERROR, 0), "{name} {qtype}");
        assert!(m.metadata.authoritative);
        assert_eq!(m.authorities[0].record_type(), RecordType::SOA, "{name} {qtype}");
    }
    s.view.update(|z| z.pops.iter_mut().for_each(|p| p.ipv6 = None));
    let m = parse(&udp(s.udp(), &query("www.edge.test", AAAA, None)).await);
    assert_eq!((rcode(&m), m.answers.len(), m.authorities.len()), (NOERROR, 0, 1), "no PoP has IPv6");
}

#[tokio::test]
async fn names_outside_the_zone_are_refused() {
    let s = start("pop-fra").await;
    for name in ["example.com", "test", "xedge.test", "edge.test.example", ""] {
        let m = parse(&udp(s.udp(), &query(name, A, None)).await);
        assert_eq!(rcode(&m), REFUSED, "{name:?}");
        assert!(!m.metadata.authoritative);
        assert!(m.answers.is_empty() && m.authorities.is_empty());
    }
    // Zone transfers and other classes are refused too.
    assert_eq!(rcode(&parse(&tcp(s.tcp(), &query("edge.test", AXFR, None)).await)), REFUSED);
    let chaos = query_class("edge.test", 16, 3, None);
    assert_eq!(rcode(&parse(&udp(s.udp(), &chaos).await)), REFUSED);
}

#[tokio::test]
async fn the_question_is_echoed_byte_for_byte() {
    let s = start("pop-fra").await;
    for (name, qtype) in [("wWw.EdGe.TeSt", A), ("EDGE.test", SOA), ("NoPe.Edge.Test", A), ("Other.Example", A)] {
        let q = query(name, qtype, None);
        for reply in [udp(s.udp(), &q).await, tcp(s.tcp(), &q).await] {
            assert_eq!(&reply[..2], &q[..2], "id");
            assert_eq!(&reply[4..6], &[0, 1], "one question");
            assert_eq!(&reply[12..q.len()], &q[12..], "{name}: question as sent, case included");
            let m = parse(&reply);
            assert!(m.metadata.recursion_desired, "RD copied");
            assert!(!m.metadata.recursion_available);
        }
    }
    // The answer's owner points at the question (compression), so it has the same case.
    let reply = udp(s.udp(), &query("wWw.EdGe.TeSt", A, None)).await;
    let q_len = query("wWw.EdGe.TeSt", A, None).len();
    assert_eq!(&reply[q_len..q_len + 2], &[0xC0, 12]);
}

#[tokio::test]
async fn no_opt_record_without_edns_and_one_with_it() {
    let s = start("pop-fra").await;
    let m = parse(&udp(s.udp(), &query("www.edge.test", A, None)).await);
    assert!(m.edns.is_none() && m.additionals.is_empty());
    let reply = udp(s.udp(), &query("nope.edge.test", A, None)).await;
    assert_eq!(&reply[10..12], &[0, 0], "ARCOUNT 0");
    let m = parse(&udp(s.udp(), &query("www.edge.test", A, Some(&Opt::plain()))).await);
    let edns = m.edns.as_ref().expect("OPT in the reply");
    assert_eq!((edns.version(), edns.max_payload()), (0, 1232));
    assert_eq!(ecs(&m), None, "no ECS asked, none answered");
}

/// 43 PoPs: the NS set alone is over 512 bytes, with the addresses over 1232.
fn big_snapshot() -> ZoneSnapshot {
    let mut z = snapshot();
    for i in 0..40u8 {
        let id = format!("pop-{i:02}");
        z.pops.push(PopCandidate {
            ipv4: Some(Ipv4Addr::new(198, 18, 0, i)),
            ipv6: Some(format!("2001:db8:1::{i}").parse().unwrap()),
            ..PopCandidate::new(id, f64::from(i), 0.0)
        });
    }
    z
}

#[tokio::test]
async fn udp_replies_fit_the_client_and_tc_sends_it_to_tcp() {
    let s = start_with(config("pop-fra"), big_snapshot(), GeoDb::from_networks(networks())).await;
    // Without EDNS: 512 bytes at most, TC set, no partial record sets.
    let reply = udp(s.udp(), &query("edge.test", NS, None)).await;
    assert!(reply.len() <= 512, "{}", reply.len());
    let m = parse(&reply);
    assert!(m.metadata.truncation);
    assert!(m.answers.is_empty());
    // With EDNS: the advertised size, but never more than 1232.
    for payload in [600u16, 1232, 4096] {
        let opt = Opt { payload, ..Opt::plain() };
        let reply = udp(s.udp(), &query("edge.test", NS, Some(&opt))).await;
        assert!(reply.len() <= usize::from(payload.min(1232)), "{payload}: {}", reply.len());
        assert!(parse(&reply).edns.is_some(), "OPT kept when truncated");
    }
    // An EDNS size under 512 counts as 512 (RFC 6891).
    let tiny = Opt { payload: 100, ..Opt::plain() };
    assert!(udp(s.udp(), &query("edge.test", NS, Some(&tiny))).await.len() <= 512);
    // Over TCP: everything, with the addresses.
    let m = parse(&tcp(s.tcp(), &query("edge.test", NS, None)).await);
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 43);
    assert_eq!(m.additionals.len(), 43 + 42);
    // Additional data goes first: 1232 bytes hold the whole NS set but not all the addresses.
    let m = parse(&udp(s.udp(), &query("edge.test", NS, Some(&Opt::plain()))).await);
    assert!(!m.metadata.truncation, "NS set fits without the addresses");
    assert_eq!((m.answers.len(), m.additionals.len()), (43, 0), "addresses left out");
    assert!(m.edns.is_some(), "the OPT record stays");
}

#[tokio::test]
async fn any_is_answered_minimally() {
    let s = start("pop-fra").await;
    for name in ["www.edge.test", "edge.test"] {
        let m = parse(&udp(s.udp(), &query(name, ANY, Some(&Opt::ecs(PARIS_NET)))).await);
        assert_eq!((rcode(&m), a_records(&m)), (NOERROR, vec![FRA_V4]), "{name}: one address, RFC 8482");
    }
    // A name without any address: the synthesized HINFO.
    s.view.update(|z| z.pops.iter_mut().for_each(|p| p.ipv4 = None));
    let m = parse(&udp(s.udp(), &query("www.edge.test", ANY, None)).await);
    assert_eq!(m.answers.len(), 1);
    match &m.answers[0].data {
        RData::HINFO(h) => assert_eq!(&*h.cpu, b"RFC8482"),
        other => panic!("{other:?}"),
    }
    assert_eq!(rcode(&parse(&udp(s.udp(), &query("nope.edge.test", ANY, None)).await)), NXDOMAIN);
}

#[tokio::test]
async fn the_ttl_comes_from_the_configuration() {
    let mut cfg = config("pop-fra");
    cfg.ttl = 42;
    cfg.soa.minimum = 20;
    let s = start_with(cfg, snapshot(), GeoDb::from_networks(networks())).await;
    let m = parse(&udp(s.udp(), &query("www.edge.test", A, None)).await);
    assert_eq!(m.answers[0].ttl, 42);
    let m = parse(&udp(s.udp(), &query("nope.edge.test", A, None)).await);
    assert_eq!(m.authorities[0].ttl, 20, "negative answers: min(ttl, SOA minimum)");
    let m = parse(&udp(s.udp(), &query("edge.test", NS, None)).await);
    assert_eq!(m.answers[0].ttl, 3600, "NS records: ns_ttl");
}

#[tokio::test]
async fn ecs_is_echoed_exactly_with_the_deciding_scope() {
    let s = start("pop-fra").await;
    for (cidr, scope) in [
        (PARIS_NET, 24),
        ("198.51.100.128/25", 24),
        (PARIS_NET_V6, 48),
        // In no network: the answer holds for the largest block that avoids the Paris /24,
        // longer than the source prefix (RFC 7871 allows it).
        ("198.51.96.0/20", 22),
    ] {
        let q = query("www.edge.test", A, Some(&Opt::ecs(cidr)));
        let reply = udp(s.udp(), &q).await;
        // The option's bytes as sent, but the scope.
        let mut want = ecs_data(cidr);
        want[3] = scope;
        assert!(reply.ends_with(&want), "{cidr}: {reply:02x?}");
        assert_eq!(&reply[reply.len() - want.len() - 4..reply.len() - want.len()], &[0, 8, 0, want.len() as u8]);
        let (addr, source, got) = ecs(&parse(&reply)).unwrap();
        let net: ipnet::IpNet = cidr.parse().unwrap();
        assert_eq!((addr, source, got), (net.addr(), net.prefix_len(), scope), "{cidr}");
    }
    // Answers that do not depend on the location: scope 0.
    for (name, qtype) in [
        ("nope.edge.test", A),
        ("edge.test", SOA),
        ("edge.test", NS),
        ("www.edge.test", TXT),
        ("ns-pop-iad.edge.test", A),
    ] {
        let m = parse(&udp(s.udp(), &query(name, qtype, Some(&Opt::ecs(PARIS_NET)))).await);
        assert_eq!(ecs(&m), Some((IpAddr::from([198, 51, 100, 0]), 24, 0)), "{name} {qtype}");
    }
}

#[tokio::test]
async fn malformed_client_subnets_get_formerr() {
    let s = start("pop-fra").await;
    let bad: [&[u8]; 7] = [
        &[0, 3, 8, 0, 10],             // unknown family
        &[0, 1, 33, 0, 1, 2, 3, 4, 5], // prefix longer than IPv4
        &[0, 2, 129, 0],               // prefix longer than IPv6
        &[0, 1, 24, 0, 192, 0],        // too few address bytes
        &[0, 1, 24, 0, 192, 0, 2, 0],  // too many address bytes
        &[0, 1, 23, 0, 192, 0, 3],     // bits set beyond the prefix
        &[0, 1, 24, 16, 192, 0, 2],    // a scope in a query
    ];
    for data in bad {
        let q = query("www.edge.test", A, Some(&Opt::ecs_raw(data)));
        for reply in [udp(s.udp(), &q).await, tcp(s.tcp(), &q).await] {
            let m = parse(&reply);
            assert_eq!(rcode(&m), FORMERR, "{data:?}");
            assert!(m.answers.is_empty());
            assert_eq!(&reply[12..12 + 19], &q[12..12 + 19], "question echoed");
            assert!(m.edns.is_some(), "the query had an OPT record");
            assert_eq!(ecs(&m), None);
        }
    }
}

#[tokio::test]
async fn other_opcodes_and_edns_versions() {
    let s = start("pop-fra").await;
    let mut status = query("www.edge.test", A, None);
    status[2] = (status[2] & 0x87) | (2 << 3);
    let reply = udp(s.udp(), &status).await;
    assert_eq!((reply[2] >> 3) & 0x0F, 2, "opcode echoed");
    assert_eq!(reply[3] & 0x0F, NOTIMP as u8);

    let v1 = Opt { version: 1, ..Opt::ecs(PARIS_NET) };
    let m = parse(&udp(s.udp(), &query("www.edge.test", A, Some(&v1))).await);
    assert_eq!(rcode(&m), BADVERS);
    assert_eq!(m.edns.as_ref().unwrap().version(), 0);
    assert!(m.answers.is_empty());
}

#[tokio::test]
async fn garbage_is_dropped_or_formerr_and_the_server_keeps_answering() {
    let s = start("pop-fra").await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let valid = query("www.edge.test", A, Some(&Opt::ecs(PARIS_NET)));
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for i in 0..3000 {
        let packet: Vec<u8> = if i % 2 == 0 {
            (0..rng.random_range(0..600)).map(|_| rng.random()).collect()
        } else {
            // A valid query with a few bytes changed and maybe cut short: the parser's edges.
            let mut p = valid.clone();
            for _ in 0..rng.random_range(1..4) {
                let at = rng.random_range(0..p.len());
                p[at] = rng.random();
            }
            p.truncate(rng.random_range(0..=p.len()));
            p
        };
        sock.send_to(&packet, s.udp()).await.unwrap();
    }
    // Garbage over TCP: the connection is closed or answered; the listener lives on.
    for _ in 0..50 {
        let mut c = tokio::net::TcpStream::connect(s.tcp()).await.unwrap();
        let junk: Vec<u8> = (0..rng.random_range(0..300)).map(|_| rng.random()).collect();
        let _ = tokio::io::AsyncWriteExt::write_all(&mut c, &junk).await;
    }
    // Every reply that came back is a well-formed response with the right id.
    let mut buf = vec![0u8; 65535];
    while let Ok(Ok((n, _))) = tokio::time::timeout(Duration::from_millis(300), sock.recv_from(&mut buf)).await {
        let m = parse(&buf[..n]);
        assert!(m.metadata.message_type == hickory_proto::op::MessageType::Response);
    }
    let (a, scope) = a_for(s.udp(), "www.edge.test", Some(&Opt::ecs(PARIS_NET))).await;
    assert_eq!((a, scope), (vec![FRA_V4], Some(24)), "still answering over UDP");
    assert_eq!(a_records(&parse(&tcp(s.tcp(), &valid).await)), [FRA_V4], "and over TCP");
    // Shutting down closes both sockets.
    let udp_addr = s.udp();
    s.handle.shutdown().await;
    assert!(udp_maybe(udp_addr, &valid, Duration::from_millis(300)).await.is_none());
}

#[tokio::test]
async fn several_queries_on_one_tcp_connection() {
    let s = start("pop-fra").await;
    let mut c = tokio::net::TcpStream::connect(s.tcp()).await.unwrap();
    for (cidr, want) in [(PARIS_NET, FRA_V4), (NEW_YORK_NET, IAD_V4), (TOKYO_NET, SIN_V4)] {
        let m = parse(&tcp_on(&mut c, &query("www.edge.test", A, Some(&Opt::ecs(cidr)))).await);
        assert_eq!(a_records(&m), [want]);
    }
}

#[tokio::test]
async fn one_client_cannot_hold_every_tcp_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut cfg = config("pop-fra");
    cfg.max_tcp_per_client = 3;
    cfg.tcp_idle_timeout = Duration::from_secs(2);
    let s = start_with(cfg, snapshot(), GeoDb::from_networks(networks())).await;
    let q = query("www.edge.test", A, Some(&Opt::ecs(PARIS_NET)));

    // Its share is served; the next connection of the same client is closed unanswered.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = tokio::net::TcpStream::connect(s.tcp()).await.unwrap();
        assert_eq!(a_records(&parse(&tcp_on(&mut c, &q).await)), [FRA_V4]);
        held.push(c);
    }
    let mut extra = tokio::net::TcpStream::connect(s.tcp()).await.unwrap();
    let _ = extra.write_all(&(q.len() as u16).to_be_bytes()).await;
    let _ = extra.write_all(&q).await;
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(Duration::from_secs(5), extra.read(&mut byte)).await.unwrap();
    assert!(matches!(read, Ok(0) | Err(_)), "the fourth connection is closed: {read:?}");

    // One leaves: the client may connect again.
    drop(held.pop());
    let again = wait_for_tcp_answer(s.tcp(), &q).await;
    assert_eq!(a_records(&parse(&again)), [FRA_V4]);

    // A client that sends queries and never reads the answers is cut off after the idle time:
    // its 20 MB of queries cannot all be taken (the answers back up), and once the server gives
    // up on the connection the write fails instead of hanging.
    let mut greedy = tokio::net::TcpStream::connect(s.tcp()).await.unwrap();
    let mut burst = Vec::new();
    while burst.len() < 20 << 20 {
        burst.extend_from_slice(&(q.len() as u16).to_be_bytes());
        burst.extend_from_slice(&q);
    }
    let wrote = tokio::time::timeout(Duration::from_secs(20), greedy.write_all(&burst)).await;
    assert!(matches!(wrote, Ok(Err(_))), "the server kept a connection that never reads: {wrote:?}");
}

/// A TCP exchange, retried while the server is still releasing a closed connection's slot.
async fn wait_for_tcp_answer(server: std::net::SocketAddr, q: &[u8]) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for _ in 0..50 {
        if let Ok(mut c) = tokio::net::TcpStream::connect(server).await {
            let _ = c.write_all(&(q.len() as u16).to_be_bytes()).await;
            let _ = c.write_all(q).await;
            if let Ok(Ok(len)) = tokio::time::timeout(Duration::from_secs(2), c.read_u16()).await {
                let mut buf = vec![0u8; usize::from(len)];
                if c.read_exact(&mut buf).await.is_ok() {
                    return buf;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no TCP answer after a connection was released");
}
