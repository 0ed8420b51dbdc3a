//! DNS with Warren's real server logic and real packets, over turmoil's UDP.
//!
//! **The PoP side** ([`serve`]): every PoP process answers on UDP port [`DNS_PORT`] with a
//! [`warren_dns::Responder`] — the parsing, answer rules (`warren_gslb::choose` on the zone's
//! PoPs, health and tunnel holders, the client placed by its EDNS Client Subnet), encoding and
//! truncation of `warren-dns`'s UDP server, without its tokio sockets. Its zone is a
//! [`StaticView`] rebuilt from the PoP's replica and its own health view as `warren-pop` does
//! (`crates/pop/src/dns.rs`: polled every [`REFRESH`], rebuilt when the applied index or the
//! health map changed), with the same [`ZoneSnapshot::from_state`]. The polling loop is a copy
//! of that file's (a few lines): the simulation does not pull in the whole PoP for it.
//!
//! **The client side** ([`clients`]): one turmoil host, `clients`, asks for every client city.
//! Each city has its own /24 ([`crate::chaos::world::Client::net`]); the PoPs' geolocation maps
//! each /24 to its city ([`geo`]), and every query carries an EDNS Client Subnet option for the
//! asking city's /24, as a recursive resolver would send. A query is a hickory-proto `Message`
//! sent to the PoP the driver picked; the reply's first `A` record is mapped back to the PoP
//! whose `public_ipv4` it is. A query without a reply within [`QUERY_TIMEOUT`] (the PoP crashed
//! with it in flight, or had not bound its socket yet) is counted as lost; replies are matched by
//! (server address, query id), so a late one is ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::sync::{mpsc, oneshot};
use warren_cluster::ClusterNode;
use warren_dns::{DnsConfig, DnsView, Responder, StaticView, ZoneSnapshot};
use warren_geo::{GeoDb, GeoNetwork};

use super::history::{DnsSample, RequestOp};
use super::pop::{Cmd, Env, now_ms};
use super::world::{World, ZONE};

/// The PoPs' DNS port.
pub(crate) const DNS_PORT: u16 = 53;
/// The client host's source port.
const CLIENT_PORT: u16 = 5300;
/// How often a PoP compares its zone's inputs (`crates/pop/src/dns.rs`'s `REFRESH`).
const REFRESH: Duration = Duration::from_millis(100);
/// The zone's TTL (`dns.ttl`'s default).
const TTL: u32 = 30;
/// A client gives up on a query after this long (a stub resolver's first retry).
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest datagram read.
const MAX_MESSAGE: usize = 65_535;

/// The PoPs' geolocation: each client city's /24 at the city.
pub(crate) fn geo(world: &World) -> GeoDb {
    GeoDb::from_networks(
        world.clients.iter().map(|c| GeoNetwork { cidr: c.net.into(), latitude: c.lat, longitude: c.lon }).collect(),
    )
}

// --- the PoP's server ---

/// Binds the PoP's DNS socket and serves the zone from `node`'s replica until the process ends.
pub(crate) async fn serve(env: Arc<Env>, node: &Arc<ClusterNode>) -> io::Result<()> {
    let socket = turmoil::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, DNS_PORT)).await?;
    let view = Arc::new(StaticView::new(ZoneSnapshot::default()));
    refresh(&view, node);
    tokio::spawn(refresh_loop(view.clone(), Arc::downgrade(node)));
    let zone = warren_core::Zone::parse(ZONE).map_err(|e| io::Error::other(e.to_string()))?;
    let cfg = DnsConfig::new(zone, node.pop_id(), TTL);
    let view: Arc<dyn DnsView> = view;
    let responder = Responder::new(cfg, view, env.geo.clone()).map_err(|e| io::Error::other(e.to_string()))?;
    tokio::spawn(async move {
        let mut buf = vec![0u8; MAX_MESSAGE];
        loop {
            let Ok((len, from)) = socket.recv_from(&mut buf).await else { continue };
            if let Some(reply) = responder.answer_udp(&buf[..len], from.ip()) {
                let _ = socket.send_to(&reply, from).await;
            }
        }
    });
    Ok(())
}

/// What a snapshot was built from; a new snapshot is built when it changes.
#[derive(PartialEq)]
struct Inputs {
    applied: Option<u64>,
    health: BTreeMap<String, bool>,
}

fn inputs(node: &ClusterNode) -> Inputs {
    Inputs { applied: node.shared().last_applied(), health: node.health() }
}

async fn refresh_loop(view: Arc<StaticView>, node: Weak<ClusterNode>) {
    let mut last = None;
    loop {
        tokio::time::sleep(REFRESH).await;
        let Some(node) = node.upgrade() else { return };
        let now = inputs(&node);
        if last.as_ref() != Some(&now) {
            refresh(&view, &node);
            last = Some(now);
        }
    }
}

fn refresh(view: &StaticView, node: &ClusterNode) {
    let version = node.shared().last_applied().unwrap_or(0);
    view.set(node.shared().read(|state| ZoneSnapshot::from_state(state, version, ZONE, |pop| node.healthy(pop))));
}

// --- the clients ---

/// What the driver asks the client host to do.
#[derive(Debug)]
pub(crate) enum Ask {
    /// Ask PoP `asked` for the apex and every endpoint, from every client city: one sample of
    /// what its DNS hands out.
    Sample { asked: usize },
    /// Resolve endpoint `endpoint` at PoP `asked` for client city `client`, then send request
    /// `op` to the PoP answered.
    Request { op: u64, asked: usize, client: usize, endpoint: usize },
}

/// How one query ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    /// The PoP answered with this PoP's address.
    Pop(usize),
    /// A reply without a usable `A` record: its response code, or an address of no PoP.
    Empty(String),
    /// No reply within [`QUERY_TIMEOUT`].
    Lost,
}

/// The client host's socket, and the queries waiting for their reply.
struct Resolver {
    socket: turmoil::net::UdpSocket,
    /// By (server, query id).
    pending: Mutex<BTreeMap<(SocketAddr, u16), oneshot::Sender<Message>>>,
    next_id: Mutex<u16>,
}

/// The client host's software: receives replies, and runs each of the driver's [`Ask`]s as its
/// own task.
pub(crate) async fn clients(env: Arc<Env>) -> turmoil::Result {
    let socket = turmoil::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, CLIENT_PORT)).await?;
    let resolver = Arc::new(Resolver { socket, pending: Mutex::new(BTreeMap::new()), next_id: Mutex::new(0) });
    let (tx, mut rx) = mpsc::unbounded_channel();
    *env.clients.lock().unwrap_or_else(PoisonError::into_inner) = Some(tx);
    let receiver = resolver.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; MAX_MESSAGE];
        loop {
            let Ok((len, from)) = receiver.socket.recv_from(&mut buf).await else { continue };
            let Ok(reply) = Message::from_vec(&buf[..len]) else { continue };
            let waiting =
                receiver.pending.lock().unwrap_or_else(PoisonError::into_inner).remove(&(from, reply.metadata.id));
            if let Some(waiting) = waiting {
                let _ = waiting.send(reply);
            }
        }
    });
    while let Some(ask) = rx.recv().await {
        let (env, resolver) = (env.clone(), resolver.clone());
        match ask {
            Ask::Sample { asked } => tokio::spawn(sample(env, resolver, asked)),
            Ask::Request { op, asked, client, endpoint } => {
                tokio::spawn(request(env, resolver, op, asked, client, endpoint))
            }
        };
    }
    Ok(())
}

impl Resolver {
    /// Asks `server` for the `A` record of `name` on behalf of client city `client`.
    async fn ask(&self, env: &Env, server: SocketAddr, name: &str, client: usize) -> Answer {
        let id = {
            let mut next = self.next_id.lock().unwrap_or_else(PoisonError::into_inner);
            *next = next.wrapping_add(1);
            *next
        };
        let Ok(packet) = query(id, name, env.world.clients[client].net.to_string().as_str()) else {
            return Answer::Empty("the query could not be built".into());
        };
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).insert((server, id), tx);
        let sent = self.socket.send_to(&packet, server).await;
        let reply = match sent {
            Ok(_) => tokio::time::timeout(QUERY_TIMEOUT, rx).await.ok().and_then(Result::ok),
            Err(_) => None,
        };
        self.pending.lock().unwrap_or_else(PoisonError::into_inner).remove(&(server, id));
        env.history(|h| h.dns_stats.asked += 1);
        let Some(reply) = reply else {
            env.history(|h| h.dns_stats.lost += 1);
            return Answer::Lost;
        };
        let first = reply.answers.iter().find_map(|r| if let RData::A(a) = &r.data { Some(a.0) } else { None });
        let answer = match first.and_then(|ip| env.world.pops.iter().position(|p| p.public_ipv4 == ip)) {
            Some(pop) => Answer::Pop(pop),
            None if reply.metadata.response_code != ResponseCode::NoError => {
                Answer::Empty(reply.metadata.response_code.to_string())
            }
            None => Answer::Empty(format!("no PoP's A record ({first:?})")),
        };
        env.history(|h| match answer {
            Answer::Pop(_) => h.dns_stats.answered += 1,
            _ => h.dns_stats.empty += 1,
        });
        answer
    }
}

/// A query for the `A` record of `name`, with an EDNS Client Subnet option for `subnet`.
fn query(id: u16, name: &str, subnet: &str) -> Result<Vec<u8>, String> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(Name::from_str(name).map_err(|e| e.to_string())?, RecordType::A));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.options_mut().insert(EdnsOption::Subnet(ClientSubnet::from_str(subnet).map_err(|e| e.to_string())?));
    msg.set_edns(edns);
    msg.to_vec().map_err(|e| e.to_string())
}

fn server(env: &Env, pop: usize) -> SocketAddr {
    SocketAddr::new(turmoil::lookup(env.world.pops[pop].id.as_str()), DNS_PORT)
}

/// One sample: every client city asks `asked` for the apex and for every endpoint.
async fn sample(env: Arc<Env>, resolver: Arc<Resolver>, asked: usize) {
    let to = server(&env, asked);
    let mut names = vec![format!("{ZONE}.")];
    names.extend(env.world.endpoints.iter().map(|e| format!("{}.", e.host)));
    let mut queries = Vec::new();
    for name in &names {
        for client in 0..env.world.clients.len() {
            queries.push(resolver.ask(&env, to, name, client));
        }
    }
    let asked_n = queries.len();
    let results = join_all(queries).await;
    let answers: BTreeSet<usize> =
        results.iter().filter_map(|a| if let Answer::Pop(p) = a { Some(*p) } else { None }).collect();
    let lost = results.iter().filter(|a| **a == Answer::Lost).count();
    let empty = results.iter().filter(|a| matches!(a, Answer::Empty(_))).count();
    let now = now_ms();
    env.history(|h| {
        let who = h.names[asked].clone();
        let names: Vec<&str> = answers.iter().map(|i| h.names[*i].as_str()).collect();
        let mut line = format!("dns answers {names:?}");
        if lost + empty > 0 {
            line.push_str(&format!(" ({lost} of {asked_n} queries unanswered, {empty} without a PoP)"));
        }
        h.trace(now, &who, line);
        if !answers.is_empty() {
            h.dns.push(DnsSample { at_ms: now, asked, answers });
        }
    });
}

/// Awaits `futures` concurrently, in this task; their results in order.
async fn join_all<F: std::future::Future<Output = Answer>>(futures: Vec<F>) -> Vec<Answer> {
    let mut set = Vec::with_capacity(futures.len());
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out = vec![None; set.len()];
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (slot, f) in out.iter_mut().zip(set.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(a) => *slot = Some(a),
                    std::task::Poll::Pending => done = false,
                }
            }
        }
        if done { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    out.into_iter().map(|a| a.unwrap_or(Answer::Lost)).collect()
}

/// A client request: DNS at `asked`, then the request to the PoP answered.
async fn request(env: Arc<Env>, resolver: Arc<Resolver>, op: u64, asked: usize, client: usize, endpoint: usize) {
    let ep = env.world.endpoints[endpoint].clone();
    let answer = resolver.ask(&env, server(&env, asked), &format!("{}.", ep.host), client).await;
    let now = now_ms();
    let client_name = env.world.clients[client].name;
    let asked_name = env.world.pops[asked].id.clone();
    let entry = match answer {
        Answer::Pop(entry) => entry,
        failed => {
            let why = match failed {
                Answer::Lost => format!("no DNS reply from {asked_name} within {QUERY_TIMEOUT:?}"),
                Answer::Empty(what) => format!("no DNS answer from {asked_name}: {what}"),
                Answer::Pop(_) => unreachable!(),
            };
            // Failed at the client's first step: recorded against the PoP it asked.
            env.history(|h| {
                h.trace(now, "client", format_args!("request #{op} from {client_name} for {}: {why}", ep.host));
                h.requests
                    .insert(op, RequestOp { issued_ms: now, entry: asked, endpoint, done: Some((now, Err(why))) });
            });
            return;
        }
    };
    let entry_name = env.world.pops[entry].id.clone();
    env.history(|h| {
        h.requests.insert(op, RequestOp { issued_ms: now, entry, endpoint, done: None });
        h.trace(
            now,
            "client",
            format_args!("request #{op} from {client_name} for {}: {asked_name} answers {entry_name}", ep.host),
        );
    });
    if !env.send(entry, Cmd::Request { op, endpoint }) {
        env.history(|h| {
            if let Some(r) = h.requests.get_mut(&op) {
                r.done = Some((now, Err(format!("{entry_name} is down"))));
            }
            h.trace(now, "client", format_args!("request #{op}: {entry_name} is down"));
        });
    }
}
