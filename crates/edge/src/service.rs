//! One request at the edge: find the host, ask the guard, open a tunnel stream through the
//! router, forward, and count what happened.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header::{self, HeaderValue};
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::{Body as _, Incoming};
use tracing::Instrument;
use warren_core::ErrorCode;
use warren_proxy::{BoxBody, ForwardInfo, Proto, ProxyError, forward};

use crate::metrics::{
    BYTES_RECEIVED_TOTAL, BYTES_SENT_TOTAL, ERRORS_TOTAL, REQUEST_DURATION_SECONDS, REQUESTS_TOTAL, status_class,
};
use crate::respond::error_response;
use crate::router::{GuardOutcome, RequestContext, RequestGuard, Router};

/// What every request of every connection shares.
pub(crate) struct Shared {
    pub(crate) router: Arc<dyn Router>,
    pub(crate) guard: Arc<dyn RequestGuard>,
}

/// The connection a request arrived on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnInfo {
    pub(crate) client: SocketAddr,
    pub(crate) server: SocketAddr,
    pub(crate) proto: Proto,
}

pub(crate) async fn handle(req: Request<Incoming>, conn: ConnInfo, shared: Arc<Shared>) -> Response<BoxBody> {
    let start = Instant::now();
    let span = tracing::info_span!("request", http.method = %req.method(), endpoint.host = tracing::field::Empty);
    let resp = route(req, conn, &shared, &span).instrument(span.clone()).await;
    let proto = conn.proto.as_str();
    metrics::counter!(REQUESTS_TOTAL, "proto" => proto, "status" => status_class(resp.status().as_u16())).increment(1);
    // The duration is recorded when the body ends (or the client goes away), which for
    // streams is what "request duration" means.
    let done = RecordOnDrop { start, proto };
    resp.map(|body| {
        body.map_frame(move |frame| {
            let _ = &done;
            if let Some(data) = frame.data_ref() {
                metrics::counter!(BYTES_SENT_TOTAL, "proto" => proto).increment(data.len() as u64);
            }
            frame
        })
        .boxed()
    })
}

struct RecordOnDrop {
    start: Instant,
    proto: &'static str,
}

impl Drop for RecordOnDrop {
    fn drop(&mut self) {
        metrics::histogram!(REQUEST_DURATION_SECONDS, "proto" => self.proto).record(self.start.elapsed().as_secs_f64());
    }
}

async fn route(req: Request<Incoming>, conn: ConnInfo, shared: &Shared, span: &tracing::Span) -> Response<BoxBody> {
    let accept = req.headers().get(header::ACCEPT).cloned();
    let accept_encoding = req.headers().get(header::ACCEPT_ENCODING).cloned();
    let fail = |code: ErrorCode, reason: Option<&str>| {
        metrics::counter!(ERRORS_TOTAL, "code" => code.as_str()).increment(1);
        error_response(code, reason, accept.as_ref())
    };
    let Some(host) = request_host(&req) else {
        return fail(ErrorCode::BadRequest, Some("the request has no valid Host header"));
    };
    span.record("endpoint.host", host.as_str());
    let ctx = RequestContext { host, client: conn.client, server: conn.server, proto: conn.proto };

    let (mut parts, body) = req.into_parts();
    match shared.guard.on_request(&ctx, &mut parts).await {
        GuardOutcome::Continue => {}
        GuardOutcome::Respond(resp) => return resp,
        GuardOutcome::Reject { code, reason, headers } => {
            let mut resp = fail(code, reason.as_deref());
            resp.headers_mut().extend(headers);
            return resp;
        }
    }
    let stream = match shared.router.open(&ctx.host, ctx.client, ctx.server, ctx.proto).await {
        Ok(stream) => stream,
        Err(code) => return fail(code, None),
    };
    // A bodyless idempotent request whose agent vanished before answering (a pooled agent
    // crashed, its tunnel not yet timed out) is replayed once on another agent: the client
    // never sees a member of a pool go away.
    let replay = (is_idempotent(&parts.method) && body.is_end_stream()).then(|| parts.clone());
    let head_for_response = shared.guard.wants_response(&ctx).then(|| parts.clone());
    let proto = conn.proto.as_str();
    let req = Request::from_parts(parts, body).map(|body| {
        body.map_frame(move |frame| {
            if let Some(data) = frame.data_ref() {
                metrics::counter!(BYTES_RECEIVED_TOTAL, "proto" => proto).increment(data.len() as u64);
            }
            frame
        })
    });
    let info = ForwardInfo { client_addr: ctx.client, proto: ctx.proto, host: ctx.host.clone() };
    let mut result = forward(req, stream, &info).await;
    if let (Err(ProxyError::TunnelIo(_) | ProxyError::TunnelClosed(_)), Some(parts)) = (&result, replay) {
        tracing::info!("the agent vanished before answering; replaying the request on another agent");
        result = match shared.router.open(&ctx.host, ctx.client, ctx.server, ctx.proto).await {
            Ok(stream) => {
                forward(Request::from_parts(parts, http_body_util::Empty::<bytes::Bytes>::new()), stream, &info).await
            }
            Err(code) => return fail(code, None),
        };
    }
    match result {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            shared.guard.on_response(&ctx, head_for_response.as_ref(), &mut parts);
            crate::compress::apply(Response::from_parts(parts, body), accept_encoding.as_ref())
        }
        Err(e) => {
            tracing::info!(error = %e, code = %e.code(), "request failed");
            // The code says what happened; the details (which backend address refused) stay in
            // the PoP's log, since internal addresses are nobody else's business.
            fail(e.code(), None)
        }
    }
}

fn is_idempotent(method: &http::Method) -> bool {
    matches!(*method, http::Method::GET | http::Method::HEAD | http::Method::OPTIONS)
}

/// The request's host, lower case, without port: the URI's authority (HTTP/2 `:authority`,
/// absolute-form HTTP/1.1) or else the `Host` header. `None` if missing or not a host name.
pub(crate) fn request_host<B>(req: &Request<B>) -> Option<String> {
    let raw = match req.uri().authority() {
        Some(authority) => authority.as_str(),
        None => req.headers().get(header::HOST).map(HeaderValue::to_str)?.ok()?,
    };
    let raw = raw.rsplit_once('@').map_or(raw, |(_, host)| host);
    let host = match raw.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => raw,
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        && !host.split('.').any(str::is_empty);
    valid.then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_of(uri: &str, host: Option<&str>) -> Option<String> {
        let mut req = Request::builder().uri(uri);
        if let Some(h) = host {
            req = req.header("host", h);
        }
        request_host(&req.body(()).unwrap())
    }

    #[test]
    fn hosts_are_normalised_or_refused() {
        assert_eq!(host_of("/", Some("API.Edge.Test:8080")).as_deref(), Some("api.edge.test"));
        assert_eq!(host_of("/", Some("api.edge.test.")).as_deref(), Some("api.edge.test"));
        assert_eq!(host_of("http://b.edge.test/x", Some("a.edge.test")).as_deref(), Some("b.edge.test"));
        assert_eq!(host_of("/", None), None);
        assert_eq!(host_of("/", Some("")), None);
        assert_eq!(host_of("/", Some("a..b")), None);
        assert_eq!(host_of("/", Some("a b")), None);
        assert_eq!(host_of("/", Some("[::1]:80")), None);
    }
}
