//! The demo's sample API: a private HTTP server on 127.0.0.1 answering every request with a small
//! JSON document, so the output shows what the backend saw through the edge (method, path, the
//! original Host, the client address from `X-Forwarded-For`). It has no authentication of its
//! own: the edge's policy is its only guard, as with an API behind an API gateway.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running sample API; stops when dropped.
pub(crate) struct SampleApi {
    addr: SocketAddr,
    requests: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl SampleApi {
    pub(crate) async fn start() -> std::io::Result<SampleApi> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| answer(req, Arc::clone(&counter)));
                    // A client that goes away mid-request is its own business.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Ok(SampleApi { addr, requests, task })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many requests reached the API.
    pub(crate) fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for SampleApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(req: Request<Incoming>, counter: Arc<AtomicU64>) -> Result<Response<Full<Bytes>>, Infallible> {
    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = json!({
        "message": "hello from the sample API",
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "host": header("host"),
        "client": header("x-forwarded-for"),
        "request": n,
    });
    let mut res = Response::new(Full::new(Bytes::from(body.to_string())));
    res.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    Ok(res)
}
