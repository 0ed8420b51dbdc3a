//! An HTTP backend that tells the test what it received.
//!
//! HTTP/1.1 and HTTP/2 cleartext (prior knowledge) on one 127.0.0.1:0 listener, through
//! hyper-util's auto server. Bodies are streamed both ways and hashed as they pass, never held
//! whole, so multi-gigabyte transfers cost no memory. Routes:
//!
//! | route | answer |
//! | --- | --- |
//! | `/echo`, `/headers` (any method) | JSON `{method, path, query, version, headers, body_len, body_sha256, peer, backend}` |
//! | `POST /upload` | JSON `{body_len, body_sha256}` |
//! | `/sse?n=N&interval_ms=M` | `text/event-stream`: `id: i` / `data: event-i`, one chunk per event |
//! | `/bytes?n=N&seed=S` | N deterministic bytes, `Content-Length: N`, `x-body-sha256` |
//! | `/status/NNN` | that status |
//! | `/delay?ms=M` | 200 after M ms |
//! | `/ws` | WebSocket echo of text and binary messages |
//!
//! Every response carries `x-backend: NAME` when the backend has a name.

mod inspect;
mod stream;
mod ws;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::Error;

pub use stream::{expected_bytes_sha256, pseudo_random_bytes};

pub(crate) type Body = UnsyncBoxBody<Bytes, Infallible>;

/// The longest `/delay` honoured, so a typo cannot hang a test run.
const MAX_DELAY: Duration = Duration::from_secs(120);

pub(crate) struct State {
    name: Option<String>,
    requests: AtomicU64,
    /// Dropped with the backend: WebSocket tasks (outside the connection set) watch it to end.
    pub(crate) stop: watch::Receiver<()>,
    /// `(n, seed)` → hex SHA-256, so a repeated large `/bytes` is hashed once.
    pub(crate) bytes_hashes: Mutex<HashMap<(u64, u64), String>>,
}

/// A running HTTP echo backend. Stops when dropped.
pub struct EchoBackend {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
    _stop: watch::Sender<()>,
}

impl std::fmt::Debug for EchoBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoBackend").field("addr", &self.addr).field("name", &self.state.name).finish()
    }
}

impl EchoBackend {
    pub async fn start() -> Result<Self, Error> {
        Self::start_inner(None).await
    }

    /// A backend that stamps `x-backend: NAME` on every response, to tell backends apart.
    pub async fn start_with_name(name: impl Into<String>) -> Result<Self, Error> {
        Self::start_inner(Some(name.into())).await
    }

    async fn start_inner(name: Option<String>) -> Result<Self, Error> {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.map_err(Error::io("cannot bind the echo backend"))?;
        let addr = listener.local_addr().map_err(Error::io("local_addr"))?;
        let (stop_tx, stop) = watch::channel(());
        let state =
            Arc::new(State { name, requests: AtomicU64::new(0), stop, bytes_hashes: Mutex::new(HashMap::new()) });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&state)));
        Ok(Self { addr, state, task, _stop: stop_tx })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn name(&self) -> Option<&str> {
        self.state.name.as_deref()
    }

    /// Requests received so far, on every route.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }
}

impl Drop for EchoBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                let state = Arc::clone(&state);
                connections.spawn(async move {
                    let service = service_fn(move |req| route(Arc::clone(&state), peer, req));
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn route(state: Arc<State>, peer: SocketAddr, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let path = req.uri().path().to_owned();
    let query = query_pairs(req.uri().query().unwrap_or(""));
    let mut resp = match path.as_str() {
        "/echo" | "/headers" => inspect::echo(&state, peer, req).await,
        "/upload" if req.method() == http::Method::POST => inspect::upload(req).await,
        "/sse" => stream::sse(number(&query, "n", 3), number(&query, "interval_ms", 100)),
        "/bytes" => stream::bytes(&state, number(&query, "n", 1024), number(&query, "seed", 0)).await,
        "/delay" => {
            let ms = Duration::from_millis(number(&query, "ms", 0)).min(MAX_DELAY);
            tokio::time::sleep(ms).await;
            json(StatusCode::OK, &serde_json::json!({"delayed_ms": ms.as_millis() as u64}))
        }
        "/ws" => ws::upgrade(&state, req),
        p if p.starts_with("/status/") => status(&p["/status/".len()..]),
        _ => text(StatusCode::NOT_FOUND, "no such route\n"),
    };
    if let Some(name) = state.name.as_deref().and_then(|n| HeaderValue::from_str(n).ok()) {
        resp.headers_mut().insert("x-backend", name);
    }
    Ok(resp)
}

fn status(code: &str) -> Response<Body> {
    match code.parse::<u16>().ok().and_then(|c| StatusCode::from_u16(c).ok()) {
        Some(status) if status.is_informational() => text(StatusCode::BAD_REQUEST, "1xx cannot be a final status\n"),
        Some(status) if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED => {
            let mut resp = Response::new(Empty::new().boxed_unsync());
            *resp.status_mut() = status;
            resp
        }
        Some(status) => json(status, &serde_json::json!({"status": status.as_u16()})),
        None => text(StatusCode::BAD_REQUEST, "not a status code\n"),
    }
}

/// Decoded `a=1&b=2` pairs (test URLs carry numbers and plain words: no percent-decoding).
fn query_pairs(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn number(query: &HashMap<String, String>, name: &str, default: u64) -> u64 {
    query.get(name).and_then(|v| v.parse().ok()).unwrap_or(default)
}

pub(crate) fn json(status: StatusCode, value: &Value) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(value.to_string())).boxed_unsync());
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

pub(crate) fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())).boxed_unsync());
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    resp
}
