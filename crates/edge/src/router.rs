//! The edge's two extension points: where a request goes ([`Router`], implemented by the PoP
//! over its tunnel registry and the cluster) and whether it may go there ([`RequestGuard`],
//! filled by traffic policy). Both are object safe: the futures are boxed by hand, no macro.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use http::HeaderMap;
use warren_core::ErrorCode;
use warren_proxy::{BoxBody, Proto};
use warren_tunnel::TunnelStream;

/// A boxed `Send` future, the return type of the traits' async methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Finds the endpoint of a host and opens a tunnel stream to one of its agents.
pub trait Router: Send + Sync + 'static {
    /// `host` is lower case without port. The stream must be positioned after its
    /// `StreamHeader`. Errors are stable codes: `EndpointNotFound`, `EndpointOffline`,
    /// `ClusterForwardFailed`, …
    fn open<'a>(
        &'a self,
        host: &'a str,
        client: SocketAddr,
        server: SocketAddr,
        proto: Proto,
    ) -> BoxFuture<'a, Result<TunnelStream, ErrorCode>>;
}

/// What a guard knows about a request besides its head.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Lower case, no port.
    pub host: String,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub proto: Proto,
}

/// A guard's decision about one request.
#[derive(Debug)]
pub enum GuardOutcome {
    /// Forward the (possibly modified) request.
    Continue,
    /// Answer with the edge's error response for `code`, plus `headers` (e.g.
    /// `WWW-Authenticate`, `Retry-After`).
    Reject { code: ErrorCode, reason: Option<String>, headers: HeaderMap },
    /// Answer with this response (custom-response, redirect).
    Respond(http::Response<BoxBody>),
}

/// The traffic-policy hook: runs after routing by host and before a tunnel stream is opened,
/// so refused requests cost no agent work.
pub trait RequestGuard: Send + Sync + 'static {
    /// May rewrite the request head (headers, URI) or end the request.
    fn on_request<'a>(
        &'a self,
        ctx: &'a RequestContext,
        req: &'a mut http::request::Parts,
    ) -> BoxFuture<'a, GuardOutcome>;

    /// Whether [`RequestGuard::on_response`] wants to see this request's response (the edge
    /// then keeps a copy of the request head for it).
    fn wants_response(&self, _ctx: &RequestContext) -> bool {
        false
    }

    /// May rewrite the response head before it goes to the client; `req` is the request head
    /// as it was forwarded (only when [`RequestGuard::wants_response`] said so, else `None`).
    fn on_response(
        &self,
        _ctx: &RequestContext,
        _req: Option<&http::request::Parts>,
        _resp: &mut http::response::Parts,
    ) {
    }
}

/// The guard used when no policy is installed: lets everything through unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl RequestGuard for AllowAll {
    fn on_request<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        _req: &'a mut http::request::Parts,
    ) -> BoxFuture<'a, GuardOutcome> {
        Box::pin(std::future::ready(GuardOutcome::Continue))
    }
}
