//! Which PoP clients are sent to, asked with hickory's DNS client over real UDP and TCP on
//! 127.0.0.1: three PoPs (Frankfurt, Ashburn, Singapore) and clients from three networks.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use hickory_net::client::{Client, ClientHandle};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_net::xfer::{DnsHandle, FirstAnswer};
use hickory_proto::op::{DnsRequest, DnsRequestOptions, Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use support::*;
use warren_geo::GeoDb;

async fn udp_client(server: SocketAddr) -> Client<TokioRuntimeProvider> {
    let conn = UdpClientStream::builder(server, TokioRuntimeProvider::default()).build();
    let (client, bg) = Client::<TokioRuntimeProvider>::from_sender(conn);
    tokio::spawn(bg);
    client
}

async fn tcp_client(server: SocketAddr) -> Client<TokioRuntimeProvider> {
    let (stream, sender) =
        TcpClientStream::new(server, None, Some(Duration::from_secs(5)), TokioRuntimeProvider::default());
    let (client, bg) = Client::<TokioRuntimeProvider>::new(stream.await.unwrap(), sender);
    tokio::spawn(bg);
    client
}

/// Asks `name`/`rtype` with an ECS option for `cidr`; returns the reply.
async fn ask_ecs(client: &Client<TokioRuntimeProvider>, name: &str, rtype: RecordType, cidr: &str) -> Message {
    let mut msg = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = false;
    msg.add_query(Query::query(Name::from_str(name).unwrap(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.options_mut().insert(EdnsOption::Subnet(ClientSubnet::from_str(cidr).unwrap()));
    msg.set_edns(edns);
    let mut options = DnsRequestOptions::default();
    options.use_edns = true;
    client.send(DnsRequest::new(msg, options)).first_answer().await.unwrap().into_message()
}

fn only_a(m: &Message) -> Ipv4Addr {
    let a = a_records(m);
    assert_eq!(a.len(), 1, "{m:?}");
    a[0]
}

#[tokio::test]
async fn clients_from_three_networks_get_their_nearest_pop() {
    let s = start("pop-fra").await;
    for client in [udp_client(s.udp()).await, tcp_client(s.tcp()).await] {
        for (cidr, want) in [(PARIS_NET, FRA_V4), (NEW_YORK_NET, IAD_V4), (TOKYO_NET, SIN_V4)] {
            for name in ["www.edge.test.", "edge.test."] {
                let m = ask_ecs(&client, name, RecordType::A, cidr).await;
                assert_eq!(only_a(&m), want, "{name} from {cidr}");
                assert!(m.metadata.authoritative);
                assert_eq!(m.answers[0].ttl, TTL);
                let prefix: u8 = cidr.split('/').nth(1).unwrap().parse().unwrap();
                assert_eq!(ecs(&m).map(|e| (e.1, e.2)), Some((prefix, prefix)), "scope = the network that decided");
            }
        }
    }
}

#[tokio::test]
async fn an_ipv4_mapped_ecs_subnet_is_located_as_its_ipv4_network() {
    let s = start("pop-fra").await;
    // New York's 203.0.113.0/24 as ::ffff:203.0.113.0/120: New York's PoP, scope 96 + 24.
    let (addrs, scope) = a_for(s.udp(), "www.edge.test.", Some(&Opt::ecs("::ffff:203.0.113.0/120"))).await;
    assert_eq!(addrs, vec![IAD_V4]);
    assert_eq!(scope, Some(120));
}

#[tokio::test]
async fn without_ecs_the_source_address_locates_the_client() {
    // 127.0.0.0/8 is placed in Tokyo by the test's static networks.
    let s = start("pop-fra").await;
    for mut client in [udp_client(s.udp()).await, tcp_client(s.tcp()).await] {
        let r = client.query(Name::from_str("www.edge.test.").unwrap(), DNSClass::IN, RecordType::A).await.unwrap();
        assert_eq!(only_a(&r), SIN_V4);
        assert_eq!(ecs(&r), None, "no ECS asked, none answered");
    }
}

#[tokio::test]
async fn an_unhealthy_pop_leaves_the_answers_and_comes_back() {
    let s = start("pop-fra").await;
    let client = udp_client(s.udp()).await;
    assert_eq!(only_a(&ask_ecs(&client, "www.edge.test.", RecordType::A, PARIS_NET).await), FRA_V4);
    s.view.update(|z| z.pops[0].healthy = false);
    assert_eq!(only_a(&ask_ecs(&client, "www.edge.test.", RecordType::A, PARIS_NET).await), IAD_V4, "next nearest");
    s.view.update(|z| z.pops[0].healthy = true);
    assert_eq!(only_a(&ask_ecs(&client, "www.edge.test.", RecordType::A, PARIS_NET).await), FRA_V4, "back");
}

#[tokio::test]
async fn all_down_answers_with_the_nearest_anyway() {
    let s = start("pop-fra").await;
    s.view.update(|z| z.pops.iter_mut().for_each(|p| p.healthy = false));
    let client = tcp_client(s.tcp()).await;
    for (cidr, want) in [(PARIS_NET, FRA_V4), (NEW_YORK_NET, IAD_V4), (TOKYO_NET, SIN_V4)] {
        assert_eq!(only_a(&ask_ecs(&client, "www.edge.test.", RecordType::A, cidr).await), want, "{cidr}");
    }
}

#[tokio::test]
async fn a_draining_pop_gets_no_new_clients() {
    let s = start("pop-fra").await;
    s.view.update(|z| z.pops[1].draining = true);
    let client = udp_client(s.udp()).await;
    // New York's nearest is Ashburn; drained, Frankfurt is next.
    assert_eq!(only_a(&ask_ecs(&client, "www.edge.test.", RecordType::A, NEW_YORK_NET).await), FRA_V4);
}

#[tokio::test]
async fn an_unknown_location_gets_the_pop_nearest_to_the_answering_one() {
    for (self_id, want) in [("pop-sin", SIN_V4), ("pop-iad", IAD_V4)] {
        let s = start(self_id).await;
        let client = udp_client(s.udp()).await;
        // 10.9.0.0/16 is in no static network (and there is no database).
        let m = ask_ecs(&client, "www.edge.test.", RecordType::A, "10.9.0.0/16").await;
        assert_eq!(only_a(&m), want, "answered by {self_id}");
        let scope = s.geo.locate("10.9.0.0".parse().unwrap()).prefix_len;
        assert_eq!(ecs(&m).map(|e| e.2), Some(scope), "valid for the block no network covers");
        // ECS with source prefix 0: the client opted out; the answer holds for everyone.
        let m = ask_ecs(&client, "www.edge.test.", RecordType::A, "0.0.0.0/0").await;
        assert_eq!((only_a(&m), ecs(&m).map(|e| e.2)), (want, Some(0)));
    }
}

#[tokio::test]
async fn aaaa_skips_pops_without_ipv6_and_is_nodata_when_none_has_one() {
    let s = start("pop-fra").await;
    let client = udp_client(s.udp()).await;
    // Tokyo's nearest, Singapore, has no IPv6: the nearest PoP with one answers.
    let m = ask_ecs(&client, "www.edge.test.", RecordType::AAAA, TOKYO_NET).await;
    assert_eq!(aaaa_records(&m).len(), 1);
    let m = ask_ecs(&client, "www.edge.test.", RecordType::AAAA, "2001:db8:aaaa::/48").await;
    assert_eq!(aaaa_records(&m), [FRA_V6]);
    assert_eq!(ecs(&m).map(|e| (e.0, e.1, e.2)), Some(("2001:db8:aaaa::".parse().unwrap(), 48, 48)));

    s.view.update(|z| z.pops.iter_mut().for_each(|p| p.ipv6 = None));
    let m = ask_ecs(&client, "www.edge.test.", RecordType::AAAA, PARIS_NET).await;
    assert_eq!(rcode(&m), 0, "NODATA is NOERROR");
    assert!(m.answers.is_empty());
    assert_eq!(m.authorities.len(), 1, "the SOA");
    assert_eq!(ecs(&m).map(|e| e.2), Some(0), "NODATA does not depend on the location");
}

#[tokio::test]
async fn the_maxmind_database_locates_clients_and_sets_the_scope() {
    let geo = GeoDb::load(vec![], Some(&testdata("GeoLite2-City-Test.mmdb"))).unwrap();
    let s = start_with(config("pop-fra"), snapshot(), geo).await;
    let client = udp_client(s.udp()).await;
    for (cidr, want, scope) in [
        ("81.2.69.142/32", FRA_V4, 31),   // London
        ("175.16.199.0/24", SIN_V4, 24),  // Changchun
        ("216.160.83.56/29", IAD_V4, 29), // Milton, WA
    ] {
        let m = ask_ecs(&client, "www.edge.test.", RecordType::A, cidr).await;
        assert_eq!(only_a(&m), want, "{cidr}");
        let (addr, source, got_scope) = ecs(&m).unwrap();
        assert_eq!(addr, cidr.split('/').next().unwrap().parse::<IpAddr>().unwrap());
        assert_eq!((source, got_scope), (cidr.split('/').nth(1).unwrap().parse().unwrap(), scope), "{cidr}");
    }
}

#[tokio::test]
async fn endpoints_prefer_a_pop_holding_their_tunnel_when_not_much_farther() {
    // A client in Chicago: Ashburn ≈ 950 km, a Dallas PoP ≈ 1 290 km.
    let mut snap = snapshot();
    snap.pops.push(support_pop("pop-dfw", 32.78, -96.80, Ipv4Addr::new(192, 0, 2, 4)));
    snap.endpoints.insert("dallas".into(), vec!["pop-dfw".into()]);
    let mut nets = networks();
    nets.push(warren_geo::GeoNetwork { cidr: "192.0.2.128/25".parse().unwrap(), latitude: 41.88, longitude: -87.63 });
    let s = start_with(config("pop-fra"), snap, GeoDb::from_networks(nets)).await;
    let client = udp_client(s.udp()).await;
    let chicago = "192.0.2.128/25";
    assert_eq!(only_a(&ask_ecs(&client, "www.edge.test.", RecordType::A, chicago).await), IAD_V4, "no tunnel known");
    assert_eq!(
        only_a(&ask_ecs(&client, "dallas.edge.test.", RecordType::A, chicago).await),
        Ipv4Addr::new(192, 0, 2, 4)
    );
    // Paris is not moved to Ashburn for `api`'s tunnel: 6 000 km more.
    assert_eq!(only_a(&ask_ecs(&client, "api.edge.test.", RecordType::A, PARIS_NET).await), FRA_V4);
}

#[tokio::test]
async fn one_candidate_means_scope_zero() {
    let mut snap = snapshot();
    snap.pops.truncate(1);
    let s = start_with(config("pop-fra"), snap, warren_geo::GeoDb::from_networks(networks())).await;
    let client = udp_client(s.udp()).await;
    let m = ask_ecs(&client, "www.edge.test.", RecordType::A, NEW_YORK_NET).await;
    assert_eq!((only_a(&m), ecs(&m).map(|e| e.2)), (FRA_V4, Some(0)));
}

fn support_pop(id: &str, lat: f64, lon: f64, v4: Ipv4Addr) -> warren_dns::PopCandidate {
    warren_dns::PopCandidate { ipv4: Some(v4), ..warren_dns::PopCandidate::new(id, lat, lon) }
}
