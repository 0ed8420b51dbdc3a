use std::sync::atomic::AtomicBool;

use super::*;
use crate::session::{BoxFuture, StreamOpener};
use crate::{TunnelError, TunnelStream};

#[derive(Default)]
struct Fake {
    closed: AtomicBool,
}

impl StreamOpener for Arc<Fake> {
    fn open(&self) -> BoxFuture<'_, Result<TunnelStream, TunnelError>> {
        Box::pin(async { Ok(TunnelStream::pair(16).0) })
    }
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
    fn close(&self, _reason: &str) {
        self.closed.store(true, Ordering::SeqCst);
    }
}

fn conn() -> (SessionConn, Arc<Fake>) {
    let f = Arc::new(Fake::default());
    (SessionConn::new(f.clone()), f)
}

fn http(key: u32, url: Option<&str>, pooling: bool) -> EndpointSpec {
    EndpointSpec { key, url: url.map(Into::into), protocol: Protocol::Http, traffic_policy: None, pooling }
}

fn registry() -> Registry {
    Registry::new(
        Zone::parse("edge.test").unwrap(),
        Some((20000, 20001)),
        Some(Arc::new(|_| Ok(Box::new(()) as PortGuard))),
    )
}

fn online(r: &RegisterResult) -> &str {
    match r {
        RegisterResult::Online { url, .. } => url,
        RegisterResult::Refused { code, message, .. } => panic!("refused {code}: {message}"),
    }
}

fn refused(r: &RegisterResult) -> &str {
    match r {
        RegisterResult::Refused { code, .. } => code,
        RegisterResult::Online { url, .. } => panic!("unexpectedly online at {url}"),
    }
}

#[test]
fn named_and_random_urls() {
    let reg = registry();
    let (c, _) = conn();
    let res = reg.register(1, "a", &c, &[http(1, Some("https://API.edge.test/"), false), http(2, None, false)], 7);
    assert_eq!(online(&res[0]), "https://api.edge.test");
    let random = online(&res[1]);
    assert!(
        random.starts_with("https://")
            && random.ends_with(".edge.test")
            && random.len() == "https://12345678.edge.test".len()
    );
    assert!(reg.route_http("api.edge.test").is_ok());
    let res = reg.register(2, "b", &c, &[http(1, Some("https://x.other.test"), false)], 7);
    assert_eq!(refused(&res[0]), "WARREN_ERR_URL_INVALID");
}

#[test]
fn second_agent_is_refused_unless_pooling_and_same_agent_takes_over() {
    let reg = registry();
    let (c1, _) = conn();
    let (c2, _) = conn();
    let url = Some("https://api.edge.test");
    online(&reg.register(1, "agent-a", &c1, &[http(1, url, false)], 1)[0]);
    assert_eq!(refused(&reg.register(2, "agent-b", &c2, &[http(1, url, false)], 1)[0]), "WARREN_ERR_URL_IN_USE");
    // agent-a reconnects on a new session: takes over without waiting for the old one to time out.
    online(&reg.register(3, "agent-a", &c2, &[http(9, url, false)], 1)[0]);
    let route = reg.route_http("api.edge.test").ok().unwrap();
    assert_eq!(route.endpoint_key, 9);
    assert_eq!(reg.endpoints()[0].agents, 1);
}

#[test]
fn pooling_balances_and_survives_a_member_leaving() {
    let reg = registry();
    let (c1, f1) = conn();
    let (c2, _) = conn();
    let url = Some("https://pool.edge.test");
    online(&reg.register(1, "a", &c1, &[http(1, url, true)], 1)[0]);
    online(&reg.register(2, "b", &c2, &[http(2, url, true)], 1)[0]);
    let mut keys = Vec::new();
    for _ in 0..4 {
        keys.push(reg.route_http("pool.edge.test").ok().unwrap().endpoint_key);
    }
    keys.sort();
    assert_eq!(keys, vec![1, 1, 2, 2]);
    // A member whose connection died is skipped even before its session is cleaned up.
    f1.closed.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        assert_eq!(reg.route_http("pool.edge.test").ok().unwrap().endpoint_key, 2);
    }
    reg.remove_session(2);
    reg.remove_session(1);
    assert_eq!(reg.route_http("pool.edge.test").err(), Some(ErrorCode::EndpointOffline));
    assert_eq!(reg.route_http("never.edge.test").err(), Some(ErrorCode::EndpointNotFound));
}

#[test]
fn tcp_ports_are_allocated_and_freed() {
    let reg = registry();
    let (c, _) = conn();
    let tcp = |key, url: Option<&str>| EndpointSpec {
        key,
        url: url.map(Into::into),
        protocol: Protocol::Tcp,
        traffic_policy: None,
        pooling: false,
    };
    let res = reg.register(1, "a", &c, &[tcp(1, None), tcp(2, None), tcp(3, None)], 1);
    assert_eq!(online(&res[0]), "tcp://edge.test:20000");
    assert_eq!(online(&res[1]), "tcp://edge.test:20001");
    assert_eq!(refused(&res[2]), "WARREN_ERR_TCP_PORTS_EXHAUSTED");
    assert_eq!(
        refused(&reg.register(2, "b", &c, &[tcp(1, Some("tcp://edge.test:30000"))], 1)[0]),
        "WARREN_ERR_URL_INVALID"
    );
    reg.remove_session(1);
    assert_eq!(
        online(&reg.register(3, "b", &c, &[tcp(1, Some("tcp://edge.test:20001"))], 1)[0]),
        "tcp://edge.test:20001"
    );
    assert!(reg.route_tcp(20001).is_ok());
}

#[test]
fn ports_taken_elsewhere_are_not_handed_out() {
    let reg = registry();
    reg.set_taken_elsewhere(Arc::new(|p| p == 20000));
    let (c, _) = conn();
    let tcp = |key| EndpointSpec { key, url: None, protocol: Protocol::Tcp, traffic_policy: None, pooling: false };
    let res = reg.register(1, "a", &c, &[tcp(1), tcp(2)], 1);
    assert_eq!(online(&res[0]), "tcp://edge.test:20001", "20000 belongs to another PoP's endpoint");
    assert_eq!(refused(&res[1]), "WARREN_ERR_TCP_PORTS_EXHAUSTED");
}
