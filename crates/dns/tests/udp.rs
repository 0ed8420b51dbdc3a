//! The UDP path receives in batches: every datagram of a batch still gets its own answer (or is
//! dropped and counted), and datagrams the kernel coalesced (GRO) are split again. A test
//! binary of its own: the metrics recorder is process-wide.

mod support;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use support::*;
use tokio::net::UdpSocket;

fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).unwrap();
        handle
    })
}

fn with_id(mut packet: Vec<u8>, id: u16) -> Vec<u8> {
    packet[..2].copy_from_slice(&id.to_be_bytes());
    packet
}

/// Replies on `sock` by id, until `want` arrived or nothing came for a second.
async fn replies(sock: &UdpSocket, want: usize) -> BTreeMap<u16, hickory_proto::op::Message> {
    let mut got = BTreeMap::new();
    let mut buf = vec![0u8; 65535];
    while got.len() < want {
        let Ok(r) = tokio::time::timeout(Duration::from_secs(1), sock.recv(&mut buf)).await else { break };
        let m = parse(&buf[..r.unwrap()]);
        assert!(got.insert(m.metadata.id, m).is_none(), "one reply per query");
    }
    got
}

#[tokio::test]
async fn a_burst_of_queries_gets_one_answer_each_and_junk_is_counted() {
    let metrics = recorder();
    let s = start("pop-fra").await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.connect(s.udp()).await.unwrap();
    // Sent back to back, so that the server receives them in batches; every tenth is too short
    // to answer and every tenth (another) is empty: both dropped and counted.
    let names = ["www.edge.test", "api.edge.test", "nope.edge.test", "edge.test"];
    let mut asked = BTreeMap::new();
    for i in 0..100u16 {
        let packet = match i % 10 {
            3 => vec![1, 2, 3],
            7 => vec![],
            _ => {
                let name = names[usize::from(i) % names.len()];
                asked.insert(i, name);
                with_id(query(name, A, None), i)
            }
        };
        sock.send(&packet).await.unwrap();
    }
    let got = replies(&sock, asked.len() + 1).await;
    assert_eq!(got.keys().collect::<Vec<_>>(), asked.keys().collect::<Vec<_>>(), "answered ids");
    for (id, m) in &got {
        assert_eq!(m.queries[0].name().to_ascii(), format!("{}.", asked[id]), "the question of query {id}");
    }
    let text = metrics.render();
    let malformed = text.lines().find_map(|l| l.strip_prefix("warren_dns_malformed_total "));
    assert_eq!(malformed.map(str::trim), Some("20"), "{text}");
}

/// A sender using UDP GSO hands the kernel several datagrams in one buffer; with GRO on, the
/// server's socket may receive them so, cut every `stride` bytes (the last one shorter).
#[cfg(target_os = "linux")]
#[tokio::test]
async fn coalesced_datagrams_get_one_answer_each() {
    let _ = recorder();
    let s = start("pop-fra").await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let state = quinn_udp::UdpSocketState::new((&sock).into()).unwrap();
    assert!(state.max_gso_segments() > 1, "this kernel has no UDP GSO");
    let (first, second) = (with_id(query("www.edge.test", A, None), 1), with_id(query("api.edge.test", A, None), 2));
    let last = with_id(query("edge.test", SOA, None), 3);
    assert_eq!(first.len(), second.len());
    assert!(last.len() < first.len());
    let contents = [first.as_slice(), &second, &last].concat();
    let transmit = quinn_udp::Transmit {
        destination: s.udp(),
        ecn: None,
        contents: &contents,
        segment_size: Some(first.len()),
        src_ip: None,
    };
    state.try_send((&sock).into(), &transmit).unwrap();
    let got = replies(&sock, 4).await;
    let questions: Vec<_> = got.iter().map(|(id, m)| (*id, m.queries[0].name().to_ascii())).collect();
    assert_eq!(
        questions,
        [(1, "www.edge.test.".to_owned()), (2, "api.edge.test.".to_owned()), (3, "edge.test.".to_owned())]
    );
}
