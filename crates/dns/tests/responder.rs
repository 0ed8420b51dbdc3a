//! `Responder`: the server's answers to packets handed over without its sockets, as the chaos
//! simulation uses it on simulated UDP. Queries are real DNS packets built with hickory-proto.

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;
use std::sync::Arc;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RecordType};
use support::*;
use warren_dns::{DnsView, Responder, StaticView};
use warren_geo::GeoDb;

/// A client outside every static network: only an ECS option can place it.
const NOWHERE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 200));

fn responder(self_id: &str) -> (Responder, Arc<StaticView>) {
    let view = Arc::new(StaticView::new(snapshot()));
    let dyn_view: Arc<dyn DnsView> = view.clone();
    let r = Responder::new(config(self_id), dyn_view, Arc::new(GeoDb::from_networks(networks()))).unwrap();
    (r, view)
}

fn ask(id: u16, name: &str, cidr: Option<&str>) -> Vec<u8> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(Name::from_str(name).unwrap(), RecordType::A));
    if let Some(cidr) = cidr {
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        edns.options_mut().insert(EdnsOption::Subnet(ClientSubnet::from_str(cidr).unwrap()));
        msg.set_edns(edns);
    }
    msg.to_vec().unwrap()
}

fn reply(r: &Responder, packet: &[u8]) -> Message {
    Message::from_vec(&r.answer_udp(packet, NOWHERE).expect("a reply")).unwrap()
}

#[test]
fn answers_a_query_packet_with_the_nearest_pop_for_its_client_subnet() {
    let (r, _) = responder("pop-fra");
    for (cidr, want) in [(PARIS_NET, FRA_V4), (NEW_YORK_NET, IAD_V4), (TOKYO_NET, SIN_V4)] {
        let m = reply(&r, &ask(0x1234, "edge.test.", Some(cidr)));
        assert_eq!(m.metadata.id, 0x1234);
        assert_eq!(m.metadata.message_type, MessageType::Response);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        assert!(m.metadata.authoritative);
        assert_eq!(a_records(&m), vec![want], "apex from {cidr}");
        assert_eq!(m.answers[0].ttl, TTL);
        let prefix: u8 = cidr.split('/').nth(1).unwrap().parse().unwrap();
        assert_eq!(ecs(&m).map(|e| (e.1, e.2)), Some((prefix, prefix)), "scope = the network that decided");
    }
}

#[test]
fn an_endpoint_goes_to_its_tunnel_pop_and_follows_the_view() {
    let (r, view) = responder("pop-fra");
    // `api` has its tunnel at Ashburn, the PoP nearest New York.
    assert_eq!(a_records(&reply(&r, &ask(1, "api.edge.test.", Some(NEW_YORK_NET)))), vec![IAD_V4]);
    // Ashburn goes down in this PoP's view: the next packet is answered from the new snapshot.
    view.update(|s| s.pops.iter_mut().filter(|p| p.id == "pop-iad").for_each(|p| p.healthy = false));
    assert_eq!(a_records(&reply(&r, &ask(2, "edge.test.", Some(NEW_YORK_NET)))), vec![FRA_V4]);
    assert_eq!(a_records(&reply(&r, &ask(3, "api.edge.test.", Some(NEW_YORK_NET)))), vec![FRA_V4]);
}

#[test]
fn unknown_names_are_nxdomain_and_garbage_gets_no_reply() {
    let (r, _) = responder("pop-fra");
    let m = reply(&r, &ask(9, "nope.edge.test.", Some(PARIS_NET)));
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    assert!(m.answers.is_empty());
    // Without ECS, an unplaceable client gets an answer all the same (the answering PoP's).
    assert_eq!(a_records(&reply(&r, &ask(10, "edge.test.", None))), vec![FRA_V4]);
    assert_eq!(r.answer_udp(&[0x12], NOWHERE), None, "too short for a header: dropped");
}
