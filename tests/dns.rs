//! GSLB DNS end to end: three real `warren pop` processes (Frankfurt, Ashburn, Singapore) serving
//! the zone from the replicated state, asked by real DNS clients: hickory's client over UDP and
//! TCP, and `dig` (dnsutils).
//!
//! Clients are placed by EDNS Client Subnet in four static networks (`geo.networks`, the same on
//! every PoP): Paris, New York and Tokyo, each near one PoP, and one in the middle of the
//! Atlantic, a little nearer Ashburn than Frankfurt, where the tunnel-aware preference shows.

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::{Duration, Instant};

use hickory_net::client::Client;
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::{DnsHandle, FirstAnswer};
use hickory_proto::op::{DnsRequest, DnsRequestOptions, Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::{Name, RData, RecordType};
use warren_test_support::{AgentProcess, Cluster, EchoBackend, PopOptions, PopProcess, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_warren");
/// Start-up, Raft, announcements and replication on a busy two-core machine.
const CONVERGE: Duration = Duration::from_secs(30);
/// The test cluster's probes (`cluster_yaml`): `health: { interval_ms: 200, fall: 3, rise: 2 }`.
const HEALTH_INTERVAL: Duration = Duration::from_millis(200);
const HEALTH_FALL: u32 = 3;

/// What GSLB hands out for each test PoP (`pop_options`: 127.0.1.{i+1}).
const FRA: Ipv4Addr = Ipv4Addr::new(127, 0, 1, 1);
const IAD: Ipv4Addr = Ipv4Addr::new(127, 0, 1, 2);
const SIN: Ipv4Addr = Ipv4Addr::new(127, 0, 1, 3);

/// The client networks, appended to every PoP's YAML. Only ever data inside ECS options: no
/// packet is sent to these addresses.
const GEO_YAML: &str = "geo:\n  networks:\n\
    \x20   - { cidr: 10.1.0.0/16, lat: 48.86, lon: 2.35 }\n\
    \x20   - { cidr: 10.2.0.0/16, lat: 40.71, lon: -74.01 }\n\
    \x20   - { cidr: 10.3.0.0/16, lat: 35.68, lon: 139.69 }\n\
    \x20   - { cidr: 10.4.0.0/16, lat: 45.0, lon: -40.0 }\n";
/// The prefix of every network above: the ECS scope of the answers they decide.
const NETWORK_PREFIX: u8 = 16;

/// Clients (an ECS source subnet inside each network) and the PoP nearest to them.
const PARIS: &str = "10.1.7.0/24";
const NEW_YORK: &str = "10.2.200.0/24";
const TOKYO: &str = "10.3.0.0/20";
/// Ashburn ≈ 3 140 km, Frankfurt ≈ 3 630 km: within the tunnel detour window.
const MID_ATLANTIC: &str = "10.4.1.0/24";

/// Every test PoP serves DNS and knows the client networks.
fn dns_cluster(_: usize, opts: &mut PopOptions) {
    opts.dns = true;
    opts.extra_yaml.push_str(GEO_YAML);
}

fn dns_addr(pop: &PopProcess) -> SocketAddr {
    pop.dns.unwrap_or_else(|| panic!("{} was started without listen.dns", pop.id))
}

// ------------------------------------------------------------------ hickory's DNS client

async fn udp_client(server: SocketAddr) -> Client<TokioRuntimeProvider> {
    let conn = UdpClientStream::builder(server, TokioRuntimeProvider::default())
        .with_timeout(Some(Duration::from_secs(2)))
        .build();
    let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(conn);
    tokio::spawn(bg);
    client
}

async fn tcp_client(server: SocketAddr) -> Client<TokioRuntimeProvider> {
    let (stream, sender) =
        TcpClientStream::new(server, None, Some(Duration::from_secs(5)), TokioRuntimeProvider::default());
    let (client, bg) = Client::<TokioRuntimeProvider>::new(stream.await.expect("TCP connection"), sender);
    tokio::spawn(bg);
    client
}

/// Asks `name`/`rtype` over `client`, with EDNS and, when given, a Client Subnet option.
async fn ask_with(
    client: &Client<TokioRuntimeProvider>,
    name: &str,
    rtype: RecordType,
    ecs: Option<&str>,
) -> Result<Message, String> {
    let mut msg = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = false;
    msg.add_query(Query::query(Name::from_str(name).map_err(|e| e.to_string())?, rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    if let Some(cidr) = ecs {
        edns.options_mut().insert(EdnsOption::Subnet(ClientSubnet::from_str(cidr).map_err(|e| e.to_string())?));
    }
    msg.set_edns(edns);
    let mut options = DnsRequestOptions::default();
    options.use_edns = true;
    let reply = client.send(DnsRequest::new(msg, options)).first_answer().await.map_err(|e| e.to_string())?;
    Ok(reply.into_message())
}

/// One question over UDP to `server`.
async fn ask(server: SocketAddr, name: &str, rtype: RecordType, ecs: Option<&str>) -> Result<Message, String> {
    ask_with(&udp_client(server).await, name, rtype, ecs).await
}

fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    m.answers.iter().filter_map(|r| if let RData::A(a) = &r.data { Some(a.0) } else { None }).collect()
}

/// The single address of a GSLB answer and the ECS scope of the reply; `None` for anything
/// else (an error, no answer, several).
fn gslb_answer(m: &Message) -> Option<(Ipv4Addr, Option<u8>)> {
    match (m.metadata.response_code, a_records(m).as_slice()) {
        (ResponseCode::NoError, [a]) => Some((*a, ecs_scope(m))),
        _ => None,
    }
}

fn ecs_scope(m: &Message) -> Option<u8> {
    match m.edns.as_ref()?.option(EdnsCode::Subnet)? {
        EdnsOption::Subnet(s) => Some(s.scope_prefix()),
        _ => None,
    }
}

/// The address `pop` hands out for `name` to a client in `cidr`, if it answers with one.
async fn address_for(pop: SocketAddr, name: &str, cidr: &str) -> Option<Ipv4Addr> {
    let m = ask(pop, name, RecordType::A, Some(cidr)).await.ok()?;
    gslb_answer(&m).map(|(a, _)| a)
}

/// Waits until every PoP of `pops` answers `name` for each `(client, address)` of `want`.
async fn answers_everywhere(pops: &[&PopProcess], name: &str, want: &[(&str, Ipv4Addr)], within: Duration) {
    let addrs: Vec<SocketAddr> = pops.iter().map(|p| dns_addr(p)).collect();
    wait_until(within, || async {
        for &pop in &addrs {
            for &(cidr, addr) in want {
                if address_for(pop, name, cidr).await != Some(addr) {
                    return false;
                }
            }
        }
        true
    })
    .await
    .unwrap_or_else(|_| panic!("within {within:?}, not every PoP answered {name} with {want:?}"));
}

// ------------------------------------------------------------------ cluster helpers

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(15)).no_proxy().build().unwrap()
}

async fn ready(pop: &PopProcess) -> bool {
    http().get(format!("http://{}/readyz", pop.admin)).send().await.is_ok_and(|r| r.status() == 200)
}

async fn all_ready(pops: &[&PopProcess]) {
    wait_until(CONVERGE, || async {
        for pop in pops {
            if !ready(pop).await {
                return false;
            }
        }
        true
    })
    .await
    .expect("every PoP becomes ready");
}

async fn metrics_text(pop: &PopProcess) -> String {
    http().get(format!("http://{}/metrics", pop.admin)).send().await.unwrap().text().await.unwrap()
}

/// The value of the series `name{labels}` exactly as rendered, or 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

// ------------------------------------------------------------------ dig

/// `dig`, when installed; in CI (env `CI` set) it must be: `.ci/install-packages` installs
/// dnsutils.
fn dig_available() -> bool {
    let found = std::process::Command::new("which").arg("dig").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var_os("CI").is_none(), "`dig` (dnsutils) must be installed in CI");
        eprintln!("SKIPPED the dig checks: `dig` is not installed (Debian package dnsutils)");
    }
    found
}

/// `dig @127.0.0.1 -p PORT ARGS…`: its output.
fn dig(server: SocketAddr, args: &[&str]) -> String {
    let out = std::process::Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .args(["-p", &server.port().to_string(), "+time=3", "+tries=1", "+norecurse"])
        .args(args)
        .output()
        .expect("dig runs");
    assert!(out.status.success(), "dig {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

// ------------------------------------------------------------------ tests

#[tokio::test(flavor = "multi_thread")]
async fn three_pops_send_each_client_to_its_nearest_pop_and_a_dead_one_leaves_the_answers() {
    let mut cluster = Cluster::start_with(BIN, 3, dns_cluster).await;
    {
        let pops: Vec<&PopProcess> = cluster.pops.iter().collect();
        all_ready(&pops).await;

        // Clients from three networks get their nearest PoP, from each of the three PoPs.
        let nearest = [(PARIS, FRA), (NEW_YORK, IAD), (TOKYO, SIN)];
        answers_everywhere(&pops, "edge.test.", &nearest, CONVERGE).await;
        for pop in &pops {
            let (udp, tcp) = (udp_client(dns_addr(pop)).await, tcp_client(dns_addr(pop)).await);
            for client in [&udp, &tcp] {
                for (cidr, want) in nearest {
                    let m = ask_with(client, "edge.test.", RecordType::A, Some(cidr)).await.unwrap();
                    assert!(m.metadata.authoritative, "{m:?}");
                    assert_eq!(
                        gslb_answer(&m),
                        Some((want, Some(NETWORK_PREFIX))),
                        "{cidr} asking {}: the nearest PoP, valid for the whole /16",
                        pop.id
                    );
                    assert_eq!(m.answers[0].ttl, 30, "dns.ttl's default");
                }
            }
        }

        // An endpoint registered by a real agent (tunnel on pop-fra) resolves everywhere.
        let fra = pops[0];
        let token = fra.create_token().await;
        let echo = EchoBackend::start().await.unwrap();
        let _agent =
            AgentProcess::http(fra, &token, &echo.addr().to_string(), &["--url", "https://api.edge.test"]).await;
        answers_everywhere(&pops, "api.edge.test.", &nearest, CONVERGE).await;
        // Tunnel-aware: the mid-Atlantic client is a little nearer Ashburn, but Frankfurt
        // holds the tunnel and is within the detour window; the apex has no tunnel.
        answers_everywhere(&pops, "api.edge.test.", &[(MID_ATLANTIC, FRA)], CONVERGE).await;
        answers_everywhere(&pops, "edge.test.", &[(MID_ATLANTIC, IAD)], CONVERGE).await;

        for pop in &pops {
            // An unknown name under the zone: NXDOMAIN with the SOA; outside the zone: REFUSED.
            let m = ask(dns_addr(pop), "nobody.edge.test.", RecordType::A, Some(PARIS)).await.unwrap();
            assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{m:?}");
            assert!(m.metadata.authoritative && m.answers.is_empty());
            assert_eq!(m.authorities.len(), 1, "{m:?}");
            match &m.authorities[0].data {
                RData::SOA(soa) => assert_eq!(soa.mname.to_ascii(), format!("ns-{}.edge.test.", pop.id)),
                other => panic!("not a SOA: {other:?}"),
            }
            assert_eq!(m.authorities[0].name.to_ascii(), "edge.test.");
            let m = ask(dns_addr(pop), "www.example.com.", RecordType::A, None).await.unwrap();
            assert_eq!(m.metadata.response_code, ResponseCode::Refused, "{m:?}");
            assert!(m.answers.is_empty() && m.authorities.is_empty());
            // The apex NS set names every PoP.
            let m = ask(dns_addr(pop), "edge.test.", RecordType::NS, None).await.unwrap();
            let mut ns: Vec<String> = m
                .answers
                .iter()
                .filter_map(|r| if let RData::NS(ns) = &r.data { Some(ns.0.to_ascii()) } else { None })
                .collect();
            ns.sort();
            assert_eq!(ns, ["ns-pop-fra.edge.test.", "ns-pop-iad.edge.test.", "ns-pop-sin.edge.test."]);
        }

        // dig, a client that is not ours, sees the same.
        if dig_available() {
            for pop in &pops {
                for (cidr, want) in nearest {
                    let out = dig(dns_addr(pop), &["api.edge.test", "A", &format!("+subnet={cidr}")]);
                    assert!(out.contains("status: NOERROR") && out.contains(" aa"), "{out}");
                    assert!(out.contains(&format!("CLIENT-SUBNET: {cidr}/{NETWORK_PREFIX}")), "scope: {out}");
                    assert!(out.contains(&format!("IN\tA\t{want}")), "{cidr} via {}: {out}", pop.id);
                }
                let out = dig(dns_addr(pop), &["+tcp", "+short", "edge.test", "A", &format!("+subnet={TOKYO}")]);
                assert_eq!(out.trim(), SIN.to_string(), "over TCP via {}", pop.id);
                let out = dig(dns_addr(pop), &["nobody.edge.test", "A"]);
                assert!(out.contains("status: NXDOMAIN") && out.contains("IN\tSOA\tns-"), "{out}");
                let out = dig(dns_addr(pop), &["example.com", "A"]);
                assert!(out.contains("status: REFUSED"), "{out}");
            }
        }

        // The metrics moved by exactly what this test asked pop-sin now.
        let sin = pops[2];
        let before = metrics_text(sin).await;
        for cidr in [PARIS, NEW_YORK, NEW_YORK] {
            assert!(address_for(dns_addr(sin), "api.edge.test.", cidr).await.is_some());
        }
        let _ = ask(dns_addr(sin), "nobody.edge.test.", RecordType::AAAA, None).await.unwrap();
        let _ = ask(dns_addr(sin), "example.com.", RecordType::MX, None).await.unwrap();
        let after = metrics_text(sin).await;
        for (series, moved) in [
            (r#"warren_dns_queries_total{qtype="A",rcode="NOERROR"}"#, 3.0),
            (r#"warren_dns_queries_total{qtype="AAAA",rcode="NXDOMAIN"}"#, 1.0),
            (r#"warren_dns_queries_total{qtype="MX",rcode="REFUSED"}"#, 1.0),
            ("warren_dns_ecs_total", 3.0),
            (r#"warren_dns_chosen_pop_total{pop="pop-fra"}"#, 1.0),
            (r#"warren_dns_chosen_pop_total{pop="pop-iad"}"#, 2.0),
            (r#"warren_dns_answer_seconds_count{proto="udp"}"#, 5.0),
        ] {
            assert_eq!(sample(&after, series) - sample(&before, series), moved, "{series}:\n{after}");
        }
        assert!(after.contains("# HELP warren_dns_queries_total"), "{after}");
    }

    // A killed PoP leaves the answers of the others within interval × fall + 1 s.
    let bound = HEALTH_INTERVAL * HEALTH_FALL + Duration::from_secs(1);
    let (fra_dns, sin_dns) = (dns_addr(&cluster.pops[0]), dns_addr(&cluster.pops[2]));
    let killed_at = Instant::now();
    cluster.pops[1].process.kill().await.unwrap();
    // Polled every 20 ms (wait_for's backoff would blur the measurement by up to 200 ms).
    let gone = loop {
        let mut left = true;
        for pop in [fra_dns, sin_dns] {
            left &= address_for(pop, "edge.test.", NEW_YORK).await == Some(FRA);
        }
        if left {
            break killed_at.elapsed();
        }
        assert!(killed_at.elapsed() < Duration::from_secs(15), "pop-iad never left the answers");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(gone <= bound, "pop-iad left the answers {gone:?} after the kill; the bound is {bound:?}");
    // Only New York's answer changed.
    for pop in [fra_dns, sin_dns] {
        assert_eq!(address_for(pop, "edge.test.", PARIS).await, Some(FRA));
        assert_eq!(address_for(pop, "edge.test.", TOKYO).await, Some(SIN));
    }

    // Started again, it comes back into every PoP's answers (its own included).
    let restarted_at = Instant::now();
    cluster.pops[1].start_again().await;
    let pops: Vec<&PopProcess> = cluster.pops.iter().collect();
    // Peers drop their connection to the dead process after a failed probe and dial the new
    // one: back within `rise` probes of its start, not after a transport idle timeout (15 s).
    let back = Duration::from_secs(5);
    answers_everywhere(&pops, "edge.test.", &[(NEW_YORK, IAD), (PARIS, FRA), (TOKYO, SIN)], back).await;
    eprintln!(
        "pop-iad left the answers {gone:?} after its kill, and was back {:?} after its restart",
        restarted_at.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_draining_pop_gets_no_new_clients_while_others_are_healthy() {
    let mut cluster = Cluster::start_with(BIN, 3, |i, opts| {
        dns_cluster(i, opts);
        if i == 2 {
            opts.extra_yaml.push_str("dns: { drain: true }\n");
        }
    })
    .await;
    {
        let pops: Vec<&PopProcess> = cluster.pops.iter().collect();
        all_ready(&pops).await;
        // Tokyo's nearest is pop-sin, which drains: the next nearest, Frankfurt (≈ 9 300 km
        // against Ashburn's ≈ 10 900), gets Tokyo, on every PoP, pop-sin included.
        answers_everywhere(&pops, "edge.test.", &[(PARIS, FRA), (NEW_YORK, IAD), (TOKYO, FRA)], CONVERGE).await;
        // A client of unknown location asking pop-sin (nearest to itself) is not sent there either.
        let m = ask(dns_addr(pops[2]), "edge.test.", RecordType::A, None).await.unwrap();
        assert_eq!(gslb_answer(&m).map(|a| a.0), Some(FRA), "{m:?}");
        // Its own name server address is still served: delegation does not drain.
        let m = ask(dns_addr(pops[0]), "ns-pop-sin.edge.test.", RecordType::A, Some(TOKYO)).await.unwrap();
        assert_eq!(a_records(&m), [SIN]);
    }

    // With every other PoP down, the draining one is the best left and gets its clients back.
    for i in [0, 1] {
        cluster.pops[i].process.kill().await.unwrap();
    }
    let sin = &cluster.pops[2];
    answers_everywhere(&[sin], "edge.test.", &[(TOKYO, SIN), (PARIS, SIN), (NEW_YORK, SIN)], CONVERGE).await;
}
