//! The agent's half: a request from the tunnel to the backend, the backend's answer back.
//!
//! Failures before a response head exists are reported to the edge as one `HttpFrame::Error`
//! with a stable code (refused, timeout, invalid HTTP), which the edge renders for the client;
//! failures after it end the response with an `Error` frame, so a cut body is never mistaken
//! for a complete one.

use http::header::{self, HeaderValue};
use http::{Method, Request, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;
use warren_tunnel::{BoxWrite, TunnelStream};
use warren_wire::{HttpFrame, RequestHead, ResponseHead};

use crate::ProxyError;
use crate::backend::{Backend, connect};
use crate::body::{BoxBody, ChannelBody, body_to_frames};
use crate::frames::{FrameReader, kind, write_frame};
use crate::headers::{content_length, from_list, strip_hop_by_hop, to_list, wants_upgrade};
use crate::upgrade::splice;

/// Serves one HTTP exchange arriving on `stream` (positioned right after its `StreamHeader`)
/// against `backend`. Errors are also reported to the edge before being returned, so the
/// caller only logs them.
pub async fn serve(stream: TunnelStream, backend: &Backend) -> Result<(), ProxyError> {
    let TunnelStream { mut send, recv } = stream;
    let mut reader = FrameReader::new(recv);
    let head = match reader.next().await {
        Ok(Some(HttpFrame::Request(head))) => head,
        Ok(Some(other)) => {
            let err = ProxyError::UnexpectedFrame { expected: "request head", got: kind(&other) };
            return Err(report(&mut send, err).await);
        }
        Ok(None) => return Err(ProxyError::TunnelClosed("request head")),
        Err(e) => return Err(report(&mut send, e).await),
    };
    match exchange(head, reader, &mut send, backend).await {
        Ok(()) => Ok(()),
        Err(Failure::BeforeHead(e)) => Err(report(&mut send, e).await),
        Err(Failure::AfterHead(e)) => Err(e),
    }
}

enum Failure {
    /// Nothing was sent back yet: the edge gets an `Error` frame instead of a head.
    BeforeHead(ProxyError),
    /// The head (or more) went out; the body writer reported what it could.
    AfterHead(ProxyError),
}

/// Sends `err` as the answer and hands it back.
async fn report(send: &mut BoxWrite, err: ProxyError) -> ProxyError {
    let frame = HttpFrame::Error { code: err.code().as_str().to_owned(), message: err.to_string() };
    // Best effort: the edge may be gone, and the error is returned either way.
    if write_frame(send, &frame).await.is_ok() {
        let _ = send.shutdown().await;
    }
    err
}

async fn exchange(
    mut head: RequestHead,
    reader: FrameReader,
    send: &mut BoxWrite,
    backend: &Backend,
) -> Result<(), Failure> {
    let before = Failure::BeforeHead;
    let mut headers = from_list(std::mem::take(&mut head.headers), "request").map_err(before)?;
    let upgrade = wants_upgrade(&headers);
    let grpc = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    let mut conn = connect(backend, !upgrade && (grpc || backend.force_http2)).await.map_err(before)?;

    // The request body: none for upgrades and announced-empty bodies, else streamed from the
    // tunnel. `body_sent` resolves when the last frame has been handed to hyper.
    let length = content_length(&headers);
    let method = Method::from_bytes(head.method.as_bytes())
        .map_err(|_| before(ProxyError::InvalidHead { side: "request", what: "method", value: head.method.clone() }))?;
    let (body, body_sent, reader) = if upgrade || length == Some(0) {
        if length == Some(0)
            && matches!(method, Method::GET | Method::HEAD | Method::OPTIONS | Method::DELETE | Method::TRACE)
        {
            // The edge's marker for "no body" (see forward.rs); such methods go without one.
            headers.remove(header::CONTENT_LENGTH);
        }
        let (done, body_sent) = oneshot::channel::<()>();
        drop(done);
        (Empty::new().map_err(|never| match never {}).boxed(), body_sent, Some(reader))
    } else {
        let (body, body_sent) = ChannelBody::spawn(reader, length, "request");
        (body.boxed(), body_sent, None)
    };
    let req = backend_request(head, method, headers, backend, conn.is_h2(), upgrade, body).map_err(before)?;

    let after = backend.response_timeout;
    let response = tokio::select! {
        r = conn.send(req) => r.map_err(|source| ProxyError::UpstreamHttp { addr: backend.addr.clone(), source }),
        () = async { let _ = body_sent.await; tokio::time::sleep(after).await } => {
            Err(ProxyError::UpstreamTimeout { addr: backend.addr.clone(), what: "answer", after })
        }
    };
    let mut response = response.map_err(before)?;

    let switching = upgrade && response.status() == StatusCode::SWITCHING_PROTOCOLS;
    let mut resp_headers = response.headers().clone();
    strip_hop_by_hop(&mut resp_headers, switching);
    let head = ResponseHead { status: response.status().as_u16(), headers: to_list(&resp_headers) };
    write_frame(send, &HttpFrame::Response(head)).await.map_err(Failure::AfterHead)?;

    if switching {
        let upgraded = hyper::upgrade::on(&mut response)
            .await
            .map_err(|e| Failure::AfterHead(ProxyError::Upgrade(e.to_string())))?;
        let Some(reader) = reader else {
            return Err(Failure::AfterHead(ProxyError::Upgrade("the request stream was already consumed".into())));
        };
        let (leftover, recv) = reader.into_raw();
        return splice(TokioIo::new(upgraded), leftover, recv, send).await.map_err(Failure::AfterHead);
    }
    body_to_frames(response.into_body(), send, ProxyError::UpstreamBody).await.map_err(Failure::AfterHead)
}

/// The request as the backend sees it: its own hop-by-hop headers, the original `Host` (or the
/// configured override), origin-form on HTTP/1.1 and an absolute URI on HTTP/2.
fn backend_request(
    head: RequestHead,
    method: Method,
    mut headers: http::HeaderMap,
    backend: &Backend,
    h2: bool,
    upgrade: bool,
    body: BoxBody,
) -> Result<Request<BoxBody>, ProxyError> {
    strip_hop_by_hop(&mut headers, upgrade && !h2);
    headers.remove(header::HOST);
    let host = backend.host_header.clone().unwrap_or(head.host);
    let invalid = |what, value: &str| ProxyError::InvalidHead { side: "request", what, value: value.to_owned() };
    let uri = if h2 {
        let authority = if host.is_empty() { backend.addr.as_str() } else { host.as_str() };
        format!("{}://{}{}", backend.scheme(), authority, head.uri)
    } else {
        head.uri.clone()
    };
    let uri: Uri = uri.parse().map_err(|_| invalid("uri", &uri))?;
    if !h2 && !host.is_empty() {
        headers.insert(header::HOST, HeaderValue::from_str(&host).map_err(|_| invalid("host", &host))?);
    }
    let mut req = Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = if h2 { Version::HTTP_2 } else { Version::HTTP_11 };
    *req.headers_mut() = headers;
    Ok(req)
}
