//! A minimal gRPC peer pair for the end-to-end tests: real HTTP/2 (hyper), the real gRPC
//! framing (5-byte prefix) and status trailers, without generated code.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// A gRPC message on the wire: not compressed, 4-byte length, payload.
pub fn frame(msg: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + msg.len());
    b.extend_from_slice(&[0]);
    b.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    b.extend_from_slice(msg);
    b.freeze()
}

fn trailers(status: &str, message: Option<&str>) -> HeaderMap {
    let mut t = HeaderMap::new();
    t.insert("grpc-status", status.parse().unwrap());
    if let Some(m) = message {
        t.insert("grpc-message", m.parse().unwrap());
    }
    t
}

/// An h2c gRPC server with three methods: `Unary` echoes, `Stream` sends three messages
/// 200 ms apart, `Fail` answers status 7.
pub struct Backend {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Backend {
    pub async fn start() -> Backend {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((conn, _)) = listener.accept().await else { continue };
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(handle);
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(conn), svc)
                        .await;
                });
            }
        });
        Backend { addr, task }
    }
}

async fn handle(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    assert_eq!(req.headers()["content-type"], "application/grpc");
    let path = req.uri().path().to_owned();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let msg = body.get(5..).unwrap_or_default().to_vec();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
    tokio::spawn(async move {
        match path.as_str() {
            "/echo.Echo/Unary" => {
                let _ = tx.send(Ok(Frame::data(frame(&msg)))).await;
                let _ = tx.send(Ok(Frame::trailers(trailers("0", None)))).await;
            }
            "/echo.Echo/Stream" => {
                for i in 0..3u8 {
                    let _ = tx.send(Ok(Frame::data(frame(&[b'm', b'0' + i])))).await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                let _ = tx.send(Ok(Frame::trailers(trailers("0", Some("done"))))).await;
            }
            _ => {
                let _ = tx.send(Ok(Frame::trailers(trailers("7", Some("denied"))))).await;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    let body = BodyExt::boxed(StreamBody::new(stream));
    Ok(Response::builder().header("content-type", "application/grpc").body(body).unwrap())
}

/// What a call returned: messages (with arrival times) and trailers.
pub struct CallResult {
    pub messages: Vec<Vec<u8>>,
    pub arrivals: Vec<Duration>,
    pub trailers: HeaderMap,
}

/// Calls `path` on `authority` through the edge at `edge` (h2c prior knowledge).
pub async fn call(edge: SocketAddr, authority: &str, path: &str, msg: &[u8]) -> CallResult {
    let tcp = tokio::net::TcpStream::connect(edge).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await.unwrap();
    tokio::spawn(conn);
    let req = Request::post(format!("http://{authority}:{}{path}", edge.port()))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(frame(msg)))
        .unwrap();
    let start = Instant::now();
    let res = send.send_request(req).await.unwrap();
    assert_eq!(res.status(), 200, "{res:?}");
    let mut body = res.into_body();
    let mut buf = BytesMut::new();
    let (mut messages, mut arrivals, mut trailers) = (Vec::new(), Vec::new(), HeaderMap::new());
    while let Some(f) = body.frame().await {
        let f = f.unwrap();
        if let Some(d) = f.data_ref() {
            buf.extend_from_slice(d);
            while buf.len() >= 5 {
                let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
                if buf.len() < 5 + len {
                    break;
                }
                buf.advance(5);
                messages.push(buf.split_to(len).to_vec());
                arrivals.push(start.elapsed());
            }
        } else if let Ok(t) = f.into_trailers() {
            trailers = t;
        }
    }
    CallResult { messages, arrivals, trailers }
}
