//! The PoP's half: a client's request into frames on a tunnel stream, the agent's frames back
//! into a response.
//!
//! The request body is pumped in its own task while the response head is awaited, because
//! some exchanges only make progress with both directions open at once: gRPC bidirectional
//! streams, and `Expect: 100-continue` (hyper sends `100 Continue` to the client when the body
//! is first polled, i.e. at once; the `Expect` header itself is not forwarded, since this hop
//! has answered it).

use std::fmt::Display;
use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use http_body::Body;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use warren_tunnel::TunnelStream;
use warren_wire::{HttpFrame, RequestHead, ResponseHead};

use crate::ProxyError;
use crate::body::{AbortOnDrop, BoxBody, ChannelBody, body_to_frames};
use crate::frames::{FrameReader, kind, write_frame};
use crate::headers::{content_length, from_list, set_forwarded, strip_hop_by_hop, to_list, wants_upgrade};
use crate::upgrade::splice;

/// Which public listener a client came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Http,
    Https,
}

impl Proto {
    /// `http` or `https`: the scheme, and the value of `X-Forwarded-Proto`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Proto::Http => "http",
            Proto::Https => "https",
        }
    }
}

/// What the edge knows about the client's connection; the backend learns it through the
/// `X-Forwarded-*` headers.
#[derive(Debug, Clone)]
pub struct ForwardInfo {
    /// The client's address as the edge saw it (the TCP peer).
    pub client_addr: SocketAddr,
    pub proto: Proto,
    /// The routing host (lower case, no port); used when the request carries no host itself.
    pub host: String,
}

/// Forwards `req` over `stream` (positioned right after its `StreamHeader`) and returns the
/// agent's response, whose body streams in as the agent sends it.
///
/// The client's `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Host` and `Forwarded`
/// headers are dropped and replaced with the real connection's values rather than appended
/// to: Warren is the first proxy that knows the truth, and a backend reading the first
/// address of a list would otherwise trust whatever the client wrote there.
///
/// An error before the response head (the agent reported one, or the tunnel broke) is
/// returned for the caller to render; errors after it end the response body abnormally.
pub async fn forward<B>(
    mut req: Request<B>,
    stream: TunnelStream,
    info: &ForwardInfo,
) -> Result<Response<BoxBody>, ProxyError>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Display + Send,
{
    // Upgrades carry no body: after a 101 the request direction becomes raw bytes.
    let upgrade = req.version() <= Version::HTTP_11 && wants_upgrade(req.headers()) && req.body().is_end_stream();
    let on_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let is_head = req.method() == Method::HEAD;
    let head = request_head(&req, info, upgrade);
    let TunnelStream { mut send, recv } = stream;
    write_frame(&mut send, &HttpFrame::Request(head)).await?;
    let mut reader = FrameReader::new(recv);

    if let Some(on_upgrade) = on_upgrade {
        let head = read_response_head(&mut reader).await?;
        if head.status != StatusCode::SWITCHING_PROTOCOLS.as_u16() {
            // Refused upgrade: our direction is complete (no body) and the response is normal.
            let _ = send.shutdown().await;
            return response(head, reader, is_head, None);
        }
        let resp = response_head(head, true)?;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let (leftover, recv) = reader.into_raw();
                    if let Err(e) = splice(TokioIo::new(upgraded), leftover, recv, &mut send).await {
                        tracing::debug!(error = %e, "upgraded connection ended with an error");
                    }
                }
                Err(e) => tracing::debug!(error = %e, "client connection was not upgraded"),
            }
        });
        return Ok(resp.map(|()| Empty::new().map_err(|never| match never {}).boxed()));
    }

    let body = req.into_body();
    let pump = tokio::spawn(async move {
        if let Err(e) = body_to_frames(body, &mut send, ProxyError::ClientBody).await {
            tracing::debug!(error = %e, "request body did not reach the agent");
        }
    });
    let pump = AbortOnDrop(pump);
    let head = read_response_head(&mut reader).await?;
    response(head, reader, is_head, Some(pump))
}

/// The head the agent receives: origin-form URI, the host as the client sent it, end-to-end
/// headers only, and the forwarding headers of the real connection.
fn request_head<B: Body>(req: &Request<B>, info: &ForwardInfo, upgrade: bool) -> RequestHead {
    let host = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned))
        .unwrap_or_else(|| info.host.clone());
    let mut headers = req.headers().clone();
    strip_hop_by_hop(&mut headers, upgrade);
    headers.remove(header::HOST);
    headers.remove(header::EXPECT);
    set_forwarded(&mut headers, info.client_addr.ip(), info.proto.as_str(), &host);
    // The agent cannot see the client's framing: a known-empty body is announced as
    // `content-length: 0` so it does not stream a chunked body to the backend (it drops the
    // header again for methods that normally carry none). Upgrades are recognised by their
    // headers and carry no body.
    if !upgrade && req.body().is_end_stream() && !headers.contains_key(header::CONTENT_LENGTH) {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    }
    let version = match req.version() {
        Version::HTTP_09 | Version::HTTP_10 => 10,
        Version::HTTP_2 => 20,
        Version::HTTP_3 => 30,
        _ => 11,
    };
    let uri = req.uri().path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
    RequestHead { method: req.method().as_str().to_owned(), uri, host, version, headers: to_list(&headers) }
}

/// The first response head, skipping interim (1xx other than 101) ones.
async fn read_response_head(reader: &mut FrameReader) -> Result<ResponseHead, ProxyError> {
    loop {
        match reader.next().await? {
            Some(HttpFrame::Response(head)) if (102..200).contains(&head.status) => continue,
            Some(HttpFrame::Response(head)) => return Ok(head),
            Some(HttpFrame::Error { code, message }) => return Err(ProxyError::remote(&code, message)),
            Some(other) => return Err(ProxyError::UnexpectedFrame { expected: "response head", got: kind(&other) }),
            None => return Err(ProxyError::TunnelClosed("response head")),
        }
    }
}

fn response_head(head: ResponseHead, upgrade: bool) -> Result<Response<()>, ProxyError> {
    let status = StatusCode::from_u16(head.status).map_err(|_| ProxyError::InvalidHead {
        side: "response",
        what: "status",
        value: head.status.to_string(),
    })?;
    let mut headers = from_list(head.headers, "response")?;
    strip_hop_by_hop(&mut headers, upgrade);
    let mut resp = Response::new(());
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    Ok(resp)
}

fn response(
    head: ResponseHead,
    reader: FrameReader,
    is_head: bool,
    pump: Option<AbortOnDrop>,
) -> Result<Response<BoxBody>, ProxyError> {
    let resp = response_head(head, false)?;
    let status = resp.status();
    let bodiless = is_head || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let length = if bodiless { None } else { content_length(resp.headers()) };
    let (mut body, _) = ChannelBody::spawn(reader, length, "response");
    if let Some(pump) = pump {
        // The request pump lives as long as the response: a client that goes away ends both.
        body = body.guard(pump);
    }
    Ok(resp.map(|()| body.boxed()))
}
