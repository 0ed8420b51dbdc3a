//! The PoP's table of which agent sessions serve which public URL.
//!
//! Rules (ngrok's, which users know):
//! - a URL is served by one agent, unless every agent serving it asked for pooling, in which
//!   case new requests are balanced round-robin between them;
//! - the *same* agent reconnecting (same `agent_id`, new session) takes its binding over at once
//!   instead of being refused as a second agent, so a restarted PoP or a flaky network never
//!   locks a user out of their own URL;
//! - when an agent goes away its URL is remembered as offline for a while, so clients get
//!   `WARREN_ERR_ENDPOINT_OFFLINE` (502) rather than "not found" (404).
//!
//! The table is behind one (synchronous) mutex: every operation is a few map updates, never
//! I/O and never an await, so it is held for microseconds.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use warren_core::{EndpointName, ErrorCode, Zone};
use warren_wire::{EndpointSpec, Protocol, RegisterResult};

use crate::session::SessionConn;

/// How many offline URLs are remembered (oldest forgotten first).
const OFFLINE_MEMORY: usize = 10_000;

/// A unique id of one agent session on this PoP.
pub type SessionId = u64;

/// Keeps a TCP endpoint's public listener alive; dropping it closes the port.
pub type PortGuard = Box<dyn Send + Sync>;

/// Binds the public listener of a TCP endpoint's port; provided by the PoP.
pub type PortBinder = Arc<dyn Fn(u16) -> std::io::Result<PortGuard> + Send + Sync>;

/// Whether a TCP port is in use elsewhere in the cluster (then it is not handed to a new endpoint).
pub type PortTakenElsewhere = Arc<dyn Fn(u16) -> bool + Send + Sync>;

/// Whether `(url, agent_id, pooling)` conflicts with what another PoP of the cluster serves
/// (another agent holds the URL there, and not both pool): then it is refused here too.
pub type UrlTakenElsewhere = Arc<dyn Fn(&str, &str, bool) -> bool + Send + Sync>;

#[derive(Clone)]
struct Member {
    session: SessionId,
    agent_id: Arc<str>,
    key: u32,
    conn: SessionConn,
}

struct Binding {
    url: String,
    pooling: bool,
    policy: Option<Arc<str>>,
    members: Vec<Member>,
    next: Arc<AtomicUsize>,
}

/// Where an endpoint lives in the table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Host(String),
    Port(u16),
}

/// An endpoint as seen by `warren admin endpoints list`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EndpointInfo {
    pub url: String,
    pub agents: usize,
    pub pooling: bool,
    /// The endpoint's traffic policy text, as its agents sent it.
    #[serde(skip)]
    pub policy: Option<Arc<str>>,
    /// Its agents' ids, sorted, once each.
    #[serde(skip)]
    pub agent_ids: Vec<String>,
}

/// A chosen agent for one public connection or request.
pub struct Route {
    pub conn: SessionConn,
    pub endpoint_key: u32,
    pub policy: Option<Arc<str>>,
}

/// Opens a stream on a route `route` picks, picking again (the endpoint's other agents) if the
/// chosen one just went away, up to three times: losing one pooled agent never shows as an error.
/// `route` is usually [`Registry::route_http`] or [`Registry::route_tcp`]; its error (no such
/// endpoint, offline) is returned as is.
pub async fn open_on_route(
    route: impl Fn() -> Result<Route, ErrorCode>,
    protocol: Protocol,
    client: std::net::SocketAddr,
    server: std::net::SocketAddr,
) -> Result<crate::TunnelStream, ErrorCode> {
    let mut last = ErrorCode::EndpointOffline;
    for _ in 0..3 {
        let route = route()?;
        match route.conn.open_stream(route.endpoint_key, protocol, client, server).await {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                tracing::debug!(error = %e, "tunnel stream failed, trying another agent");
                last = ErrorCode::TunnelStreamFailed;
            }
        }
    }
    Err(last)
}

struct Inner {
    bindings: HashMap<Key, Binding>,
    ports: HashMap<u16, PortGuard>,
    offline: VecDeque<Key>,
}

/// The PoP's endpoint table.
pub struct Registry {
    zone: Zone,
    tcp_ports: Option<(u16, u16)>,
    binder: Option<PortBinder>,
    taken_elsewhere: std::sync::OnceLock<PortTakenElsewhere>,
    url_taken_elsewhere: std::sync::OnceLock<UrlTakenElsewhere>,
    inner: Mutex<Inner>,
}

impl Registry {
    pub fn new(zone: Zone, tcp_ports: Option<(u16, u16)>, binder: Option<PortBinder>) -> Registry {
        Registry {
            zone,
            tcp_ports,
            binder,
            taken_elsewhere: std::sync::OnceLock::new(),
            url_taken_elsewhere: std::sync::OnceLock::new(),
            inner: Mutex::new(Inner { bindings: HashMap::new(), ports: HashMap::new(), offline: VecDeque::new() }),
        }
    }

    /// The table stays consistent even if a holder panicked: every update is a few map
    /// operations that leave no half-done state, so a poisoned lock is safe to reuse.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ports other PoPs of the cluster hand out: a new TCP endpoint here gets another one, so
    /// `tcp://ZONE:PORT` names one endpoint on every PoP. Set once.
    pub fn set_taken_elsewhere(&self, f: PortTakenElsewhere) {
        let _ = self.taken_elsewhere.set(f);
    }

    /// Endpoints other PoPs serve: a URL another agent holds there is refused here
    /// (`WARREN_ERR_URL_IN_USE`), as it would be on that PoP. Set once.
    pub fn set_url_taken_elsewhere(&self, f: UrlTakenElsewhere) {
        let _ = self.url_taken_elsewhere.set(f);
    }

    fn is_taken_elsewhere(&self, port: u16) -> bool {
        self.taken_elsewhere.get().is_some_and(|f| f(port))
    }

    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// Registers a session's endpoints, replacing what that session registered before.
    pub fn register(
        &self,
        session: SessionId,
        agent_id: &str,
        conn: &SessionConn,
        specs: &[EndpointSpec],
        seed: u64,
    ) -> Vec<RegisterResult> {
        let mut inner = self.lock();
        inner.remove_session(session, None);
        let agent_id: Arc<str> = agent_id.into();
        let mut random = Names(seed);
        specs
            .iter()
            .map(|spec| match self.register_one(&mut inner, session, &agent_id, conn, spec, &mut random) {
                Ok(url) => RegisterResult::Online { key: spec.key, url },
                Err((code, message)) => RegisterResult::Refused { key: spec.key, code: code.as_str().into(), message },
            })
            .collect()
    }

    fn register_one(
        &self,
        inner: &mut Inner,
        session: SessionId,
        agent_id: &Arc<str>,
        conn: &SessionConn,
        spec: &EndpointSpec,
        random: &mut Names,
    ) -> Result<String, (ErrorCode, String)> {
        let (key, url) = match spec.protocol {
            Protocol::Http => self.http_key(spec.url.as_deref(), inner, random)?,
            Protocol::Tcp => self.tcp_key(spec.url.as_deref(), inner)?,
        };
        if self.url_taken_elsewhere.get().is_some_and(|f| f(&url, agent_id, spec.pooling)) {
            return Err((
                ErrorCode::UrlInUse,
                format!(
                    "{url} is served by another agent on another PoP; start every agent with --pooling-enabled to share it"
                ),
            ));
        }
        let member = Member { session, agent_id: agent_id.clone(), key: spec.key, conn: conn.clone() };
        let policy = spec.traffic_policy.as_deref().map(Arc::from);
        if let Some(b) = inner.bindings.get_mut(&key) {
            // The same agent reconnecting takes over at once.
            b.members.retain(|m| m.agent_id != *agent_id);
            let shareable = b.members.is_empty() || (b.pooling && spec.pooling);
            if !shareable {
                return Err((
                    ErrorCode::UrlInUse,
                    format!("{url} is served by another agent; start every agent with --pooling-enabled to share it"),
                ));
            }
            b.members.push(member);
            b.pooling = spec.pooling;
            b.policy = policy;
            return Ok(url);
        }
        if let Key::Port(port) = key
            && !inner.ports.contains_key(&port)
        {
            let binder = self
                .binder
                .as_ref()
                .ok_or((ErrorCode::TcpPortsExhausted, "this PoP serves no TCP endpoints".into()))?;
            let guard = binder(port)
                .map_err(|e| (ErrorCode::TcpPortsExhausted, format!("cannot listen on port {port}: {e}")))?;
            inner.ports.insert(port, guard);
        }
        inner.offline.retain(|k| *k != key);
        inner.bindings.insert(
            key,
            Binding { url: url.clone(), pooling: spec.pooling, policy, members: vec![member], next: Arc::default() },
        );
        Ok(url)
    }

    fn http_key(
        &self,
        url: Option<&str>,
        inner: &Inner,
        random: &mut Names,
    ) -> Result<(Key, String), (ErrorCode, String)> {
        let host = match url {
            Some(u) => {
                let rest = u.strip_prefix("https://").or_else(|| u.strip_prefix("http://")).unwrap_or(u);
                let rest = rest.trim_end_matches('/');
                EndpointName::parse(rest, &self.zone)
                    .map_err(|e| (ErrorCode::UrlInvalid, format!("{u:?}: {e}")))?
                    .as_str()
                    .to_owned()
            }
            None => loop {
                let name = format!("{:08x}.{}", random.next() as u32, self.zone);
                if !inner.bindings.contains_key(&Key::Host(name.clone())) {
                    break name;
                }
            },
        };
        Ok((Key::Host(host.clone()), format!("https://{host}")))
    }

    fn tcp_key(&self, url: Option<&str>, inner: &Inner) -> Result<(Key, String), (ErrorCode, String)> {
        let (first, last) =
            self.tcp_ports.ok_or((ErrorCode::TcpPortsExhausted, "this PoP serves no TCP endpoints".into()))?;
        let port = match url {
            Some(u) => {
                let bad = || (ErrorCode::UrlInvalid, format!("{u:?}: expected tcp://{}:PORT", self.zone));
                let rest = u.strip_prefix("tcp://").ok_or_else(bad)?;
                let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
                let port: u16 = port.parse().map_err(|_| bad())?;
                if !host.eq_ignore_ascii_case(self.zone.as_str()) || !(first..=last).contains(&port) {
                    return Err((
                        ErrorCode::UrlInvalid,
                        format!("{u:?}: the port must be in {first}-{last} on {}", self.zone),
                    ));
                }
                port
            }
            // A reconnecting agent asks for its previous port by URL; a new one gets a free port.
            None => (first..=last)
                .find(|p| !inner.bindings.contains_key(&Key::Port(*p)) && !self.is_taken_elsewhere(*p))
                .ok_or((ErrorCode::TcpPortsExhausted, format!("every port of {first}-{last} is taken")))?,
        };
        Ok((Key::Port(port), format!("tcp://{}:{port}", self.zone)))
    }

    /// Forgets everything a session registered (it closed or was revoked).
    pub fn remove_session(&self, session: SessionId) {
        let mut inner = self.lock();
        inner.remove_session(session, None);
    }

    /// Picks an agent for `host` (lower case, no port).
    pub fn route_http(&self, host: &str) -> Result<Route, ErrorCode> {
        self.route(&Key::Host(host.to_owned()))
    }

    /// Picks an agent for the TCP endpoint on `port`.
    pub fn route_tcp(&self, port: u16) -> Result<Route, ErrorCode> {
        self.route(&Key::Port(port))
    }

    fn route(&self, key: &Key) -> Result<Route, ErrorCode> {
        let inner = self.lock();
        let Some(b) = inner.bindings.get(key) else {
            return Err(if inner.offline.contains(key) {
                ErrorCode::EndpointOffline
            } else {
                ErrorCode::EndpointNotFound
            });
        };
        let live: Vec<&Member> = b.members.iter().filter(|m| !m.conn.is_closed()).collect();
        if live.is_empty() {
            return Err(ErrorCode::EndpointOffline);
        }
        let m = live[b.next.fetch_add(1, Ordering::Relaxed) % live.len()];
        Ok(Route { conn: m.conn.clone(), endpoint_key: m.key, policy: b.policy.clone() })
    }

    /// The traffic policy text of the endpoint at `host`, if it has one.
    pub fn policy_for(&self, host: &str) -> Option<Arc<str>> {
        self.lock().bindings.get(&Key::Host(host.to_owned())).and_then(|b| b.policy.clone())
    }

    /// Every endpoint with its agent count, sorted by URL.
    pub fn endpoints(&self) -> Vec<EndpointInfo> {
        let inner = self.lock();
        let mut v: Vec<EndpointInfo> = inner
            .bindings
            .values()
            .map(|b| EndpointInfo {
                url: b.url.clone(),
                agents: b.members.len(),
                pooling: b.pooling,
                policy: b.policy.clone(),
                agent_ids: {
                    let mut ids: Vec<String> = b.members.iter().map(|m| m.agent_id.to_string()).collect();
                    ids.sort();
                    ids.dedup();
                    ids
                },
            })
            .collect();
        v.sort_by(|a, b| a.url.cmp(&b.url));
        v
    }
}

/// Random endpoint names from a seed (splitmix64), so the table itself needs no RNG.
struct Names(u64);

impl Names {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Inner {
    /// Removes a session's members; empty bindings become offline and free their ports.
    fn remove_session(&mut self, session: SessionId, _why: Option<&str>) {
        let mut emptied = Vec::new();
        for (key, b) in self.bindings.iter_mut() {
            b.members.retain(|m| m.session != session);
            if b.members.is_empty() {
                emptied.push(key.clone());
            }
        }
        for key in emptied {
            self.bindings.remove(&key);
            if let Key::Port(p) = key {
                self.ports.remove(&p);
            }
            self.offline.push_back(key);
            if self.offline.len() > OFFLINE_MEMORY {
                self.offline.pop_front();
            }
        }
    }
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
