//! The whole packet path without sockets: whatever arrives, the handler neither panics nor
//! sends anything but a well-formed response that fits.

use std::collections::BTreeMap;

use hickory_proto::op::{Message, MessageType};
use proptest::prelude::*;
use warren_core::Zone;
use warren_gslb::PopCandidate;

use super::*;
use crate::{StaticView, ZoneSnapshot};

fn handler() -> Handler {
    let mut endpoints = BTreeMap::new();
    endpoints.insert("www".to_owned(), vec!["pop-b".to_owned()]);
    let pops = vec![
        PopCandidate { ipv4: Some([192, 0, 2, 1].into()), ..PopCandidate::new("pop-a", 50.0, 8.0) },
        PopCandidate {
            ipv4: Some([192, 0, 2, 2].into()),
            ipv6: Some("2001:db8::2".parse().unwrap()),
            ..PopCandidate::new("pop-b", 39.0, -77.0)
        },
    ];
    let view = Arc::new(StaticView::new(ZoneSnapshot { version: 1, pops, endpoints }));
    let geo = GeoDb::from_networks(vec![warren_geo::GeoNetwork {
        cidr: "10.0.0.0/8".parse().unwrap(),
        latitude: 40.0,
        longitude: -74.0,
    }]);
    let cfg = DnsConfig::new(Zone::parse("edge.test").unwrap(), "pop-a", 30);
    Handler::new(cfg, view, Arc::new(geo)).unwrap()
}

/// A valid query for www.edge.test with an OPT record carrying ECS 10.1.0.0/16.
fn valid() -> Vec<u8> {
    let mut m = vec![0xAB, 0xCD, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    m.extend_from_slice(b"\x03www\x04edge\x04test\x00\x00\x01\x00\x01");
    m.extend_from_slice(&[0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 10, 0, 8, 0, 6, 0, 1, 16, 0, 10, 1]);
    m
}

fn check(h: &Handler, packet: &[u8]) -> Result<(), TestCaseError> {
    for transport in [Transport::Udp, Transport::Tcp] {
        let Some(reply) = h.handle(packet, "10.1.2.3".parse().unwrap(), transport) else {
            continue;
        };
        let m = Message::from_vec(&reply).map_err(|e| TestCaseError::fail(format!("{e}: {reply:02x?}")))?;
        prop_assert_eq!(m.metadata.message_type, MessageType::Response);
        prop_assert_eq!(&reply[..2], &packet[..2]);
        if transport == Transport::Udp {
            prop_assert!(reply.len() <= 1232);
        }
    }
    Ok(())
}

#[test]
fn a_valid_query_is_answered() {
    let h = handler();
    let reply = h.handle(&valid(), "127.0.0.1".parse().unwrap(), Transport::Udp).unwrap();
    let m = Message::from_vec(&reply).unwrap();
    assert_eq!(m.answers.len(), 1);
}

proptest! {
    #[test]
    fn random_bytes(packet in prop::collection::vec(any::<u8>(), 0..700)) {
        check(&handler(), &packet)?;
    }

    #[test]
    fn mutated_queries(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), cut in any::<prop::sample::Index>()) {
        let mut packet = valid();
        for (at, byte) in edits {
            let i = at.index(packet.len());
            packet[i] = byte;
        }
        let keep = cut.index(packet.len() + 1);
        packet.truncate(keep.max(12));
        check(&handler(), &packet)?;
    }
}
