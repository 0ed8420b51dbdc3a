//! A miniature PoP and agent in one process: a hyper server whose every request goes through
//! `forward` into an in-memory tunnel stream served by `serve` against a real backend, plus a
//! backend with routes that let tests watch data flow while it is produced.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use warren_proxy::{Backend, ForwardInfo, Proto, forward, serve};
use warren_tunnel::TunnelStream;

pub type TestBody = BoxBody<Bytes, std::io::Error>;

/// Chunk size of the generated bodies.
pub const CHUNK: usize = 64 * 1024;

/// Aborts the server task when the test ends.
pub struct Server {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_http<F, Fut>(handler: F) -> Server
where
    F: Fn(Request<Incoming>, SocketAddr) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<BoxBody<Bytes, warren_proxy::ProxyError>>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else { continue };
            let handler = handler.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(req, peer).await) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    Server { addr, task }
}

/// The PoP and agent halves joined by `TunnelStream::pair`. Errors become
/// `status` + `warren-error-code`, as the real edge renders them.
pub async fn mini_edge(backend: Backend) -> Server {
    let backend = Arc::new(backend);
    serve_http(move |req, peer| {
        let backend = Arc::clone(&backend);
        async move {
            let (edge_end, agent_end) = TunnelStream::pair(64 * 1024);
            tokio::spawn(async move {
                let _ = serve(agent_end, &backend).await;
            });
            let info = ForwardInfo { client_addr: peer, proto: Proto::Http, host: "api.edge.test".into() };
            match forward(req, edge_end, &info).await {
                Ok(resp) => resp,
                Err(e) => {
                    let code = e.code();
                    let mut resp = Response::new(Full::new(Bytes::from(e.to_string())).map_err(|n| match n {}).boxed());
                    *resp.status_mut() = StatusCode::from_u16(code.http_status()).unwrap();
                    resp.headers_mut().insert("warren-error-code", HeaderValue::from_static(code.as_str()));
                    resp
                }
            }
        }
    })
    .await
}

/// Shared between the test and the probe backend.
#[derive(Default)]
pub struct Probe {
    /// Bytes the producer (client upload or backend download) has generated so far.
    pub produced: AtomicU64,
    /// Lets `/sse` send its last event.
    pub release: Notify,
}

/// Deterministic content: a fixed 64 KiB pattern stamped with the chunk's index, so a lost,
/// repeated or reordered chunk changes the hash. Cheap to make, even in a debug build.
pub fn chunk(i: u64) -> Bytes {
    static BASE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let base = BASE.get_or_init(|| (0..CHUNK).map(|j| (j % 251) as u8).collect());
    let mut v = base.clone();
    v[..8].copy_from_slice(&i.to_le_bytes());
    Bytes::from(v)
}

/// SHA-256 (hex) of `n` chunks.
pub fn chunks_sha256(n: u64) -> String {
    let mut h = Sha256::new();
    for i in 0..n {
        h.update(chunk(i));
    }
    hex::encode(h.finalize())
}

/// A body of `n` chunks that counts what it produced into `probe`.
pub fn counted_body(
    n: u64,
    probe: Arc<Probe>,
) -> StreamBody<impl futures_util::Stream<Item = Result<Frame<Bytes>, std::io::Error>>> {
    StreamBody::new(futures_util::stream::unfold(0u64, move |i| {
        let probe = Arc::clone(&probe);
        async move {
            (i < n).then(|| {
                probe.produced.fetch_add(CHUNK as u64, Ordering::SeqCst);
                (Ok(Frame::data(chunk(i))), i + 1)
            })
        }
    }))
}

fn json(v: serde_json::Value) -> Response<BoxBody<Bytes, warren_proxy::ProxyError>> {
    Response::new(Full::new(Bytes::from(v.to_string())).map_err(|n| match n {}).boxed())
}

/// Routes: `/upload` (hash the body; note how much the producer had made at the first chunk),
/// `/download?n=CHUNKS`, `/sse` (2 events, then the 3rd after `probe.release`), `/grpc` (h2:
/// answers with `grpc-status: 0` trailers and echoes the request's `x-client-trailer`),
/// `/hang` (never answers).
pub async fn probe_backend(probe: Arc<Probe>) -> Server {
    serve_http(move |req, _peer| {
        let probe = Arc::clone(&probe);
        async move {
            let path = req.uri().path().to_owned();
            let query = req.uri().query().unwrap_or("").to_owned();
            match path.as_str() {
                "/upload" => {
                    let mut body = req.into_body();
                    let (mut len, mut first, mut h) = (0u64, None, Sha256::new());
                    while let Some(Ok(frame)) = body.frame().await {
                        if let Ok(data) = frame.into_data() {
                            first.get_or_insert(probe.produced.load(Ordering::SeqCst));
                            len += data.len() as u64;
                            h.update(&data);
                        }
                    }
                    json(serde_json::json!({"len": len, "sha256": hex::encode(h.finalize()), "produced_at_first": first}))
                }
                "/download" => {
                    let n: u64 = query.strip_prefix("n=").and_then(|n| n.parse().ok()).unwrap_or(1);
                    let body = counted_body(n, Arc::clone(&probe)).map_err(|e| warren_proxy::ProxyError::ClientBody(e.to_string()));
                    let mut resp = Response::new(body.boxed());
                    resp.headers_mut().insert("content-length", HeaderValue::from(n * CHUNK as u64));
                    resp
                }
                "/sse" => {
                    let events = futures_util::stream::unfold(1u32, move |i| {
                        let probe = Arc::clone(&probe);
                        async move {
                            if i > 3 {
                                return None;
                            }
                            if i == 3 {
                                probe.release.notified().await;
                            }
                            Some((Ok(Frame::data(Bytes::from(format!("data: event-{i}\n\n")))), i + 1))
                        }
                    });
                    let mut resp = Response::new(StreamBody::new(events).boxed());
                    resp.headers_mut().insert("content-type", HeaderValue::from_static("text/event-stream"));
                    resp
                }
                "/grpc" => {
                    let version = req.version();
                    let collected = req.into_body().collect().await.unwrap();
                    let seen = collected
                        .trailers()
                        .and_then(|t| t.get("x-client-trailer"))
                        .cloned()
                        .unwrap_or(HeaderValue::from_static("none"));
                    let mut trailers = HeaderMap::new();
                    trailers.insert("grpc-status", HeaderValue::from_static("0"));
                    trailers.insert("x-request-trailer", seen);
                    let frames: Vec<Result<Frame<Bytes>, warren_proxy::ProxyError>> =
                        vec![Ok(Frame::data(collected.to_bytes())), Ok(Frame::trailers(trailers))];
                    let mut resp = Response::new(StreamBody::new(futures_util::stream::iter(frames)).boxed());
                    resp.headers_mut().insert("content-type", HeaderValue::from_static("application/grpc"));
                    resp.headers_mut().insert("x-backend-version", HeaderValue::from_str(&format!("{version:?}")).unwrap());
                    resp
                }
                "/hang" => std::future::pending().await,
                _ => json(serde_json::json!({"error": "no route"})),
            }
        }
    })
    .await
}

/// An HTTP/1.1 client connection to `addr`.
pub async fn h1(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<TestBody> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn.with_upgrades());
    sender
}

/// An HTTP/2 (prior knowledge) client connection to `addr`.
pub async fn h2(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<TestBody> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn);
    sender
}

pub fn empty() -> TestBody {
    http_body_util::Empty::new().map_err(|n| match n {}).boxed()
}

pub fn full(bytes: &'static [u8]) -> TestBody {
    Full::new(Bytes::from_static(bytes)).map_err(|n| match n {}).boxed()
}

/// A GET/POST request for the mini edge with the host `api.edge.test`.
pub fn request(method: &str, path: &str, body: TestBody) -> Request<TestBody> {
    Request::builder().method(method).uri(path).header("host", "api.edge.test").body(body).unwrap()
}

pub async fn body_json(resp: Response<Incoming>) -> serde_json::Value {
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)))
}
