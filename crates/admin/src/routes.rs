//! Method and path to handler, the bearer-token check, and the per-request metric.
//!
//! Routes are matched on fixed path segments; the only variable parts are ids, which the handlers
//! parse into validated types. Every `/v1/...` path, known or not, needs the token first, so an
//! unauthenticated caller learns nothing about which routes exist.

use std::convert::Infallible;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use hyper::body::Incoming;
use serde_json::json;
use sha2::{Digest, Sha256};
use warren_core::ErrorCode;
use warren_state::constant_time_eq;

use crate::AdminApiError;
use crate::handlers;
use crate::respond::{self, Resp};
use crate::server::Shared;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    Healthz,
    Readyz,
    Metrics,
    CreateToken,
    ListTokens,
    RevokeToken(String),
    ClusterStatus,
    AddMember,
    RemoveMember(String),
    SetPolicy,
    GetPolicy,
    ListEndpoints,
    WrongMethod { label: &'static str, allow: &'static str },
    NotFound,
}

impl Route {
    pub(crate) fn resolve(method: &Method, path: &str) -> Route {
        let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
        let get = method == Method::GET || method == Method::HEAD;
        let wrong = |label, allow| Route::WrongMethod { label, allow };
        match segments.as_slice() {
            ["healthz"] if get => Route::Healthz,
            ["readyz"] if get => Route::Readyz,
            ["metrics"] if get => Route::Metrics,
            ["healthz"] => wrong("healthz", "GET"),
            ["readyz"] => wrong("readyz", "GET"),
            ["metrics"] => wrong("metrics", "GET"),
            ["v1", "tokens"] if method == Method::POST => Route::CreateToken,
            ["v1", "tokens"] if get => Route::ListTokens,
            ["v1", "tokens"] => wrong("tokens", "GET, POST"),
            ["v1", "tokens", id] if method == Method::DELETE => Route::RevokeToken((*id).to_owned()),
            ["v1", "tokens", _] => wrong("tokens_revoke", "DELETE"),
            ["v1", "cluster"] if get => Route::ClusterStatus,
            ["v1", "cluster"] => wrong("cluster_status", "GET"),
            ["v1", "cluster", "members"] if method == Method::POST => Route::AddMember,
            ["v1", "cluster", "members"] => wrong("members_add", "POST"),
            ["v1", "cluster", "members", id] if method == Method::DELETE => Route::RemoveMember((*id).to_owned()),
            ["v1", "cluster", "members", _] => wrong("members_remove", "DELETE"),
            ["v1", "policy"] if method == Method::PUT => Route::SetPolicy,
            ["v1", "policy"] if get => Route::GetPolicy,
            ["v1", "policy"] => wrong("policy", "GET, PUT"),
            ["v1", "endpoints"] if get => Route::ListEndpoints,
            ["v1", "endpoints"] => wrong("endpoints_list", "GET"),
            _ => Route::NotFound,
        }
    }

    /// The `route` label of the request counter: a fixed set, never the raw path.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Route::Healthz => "healthz",
            Route::Readyz => "readyz",
            Route::Metrics => "metrics",
            Route::CreateToken => "tokens_create",
            Route::ListTokens => "tokens_list",
            Route::RevokeToken(_) => "tokens_revoke",
            Route::ClusterStatus => "cluster_status",
            Route::AddMember => "members_add",
            Route::RemoveMember(_) => "members_remove",
            Route::SetPolicy => "policy_set",
            Route::GetPolicy => "policy_get",
            Route::ListEndpoints => "endpoints_list",
            Route::WrongMethod { label, .. } => label,
            Route::NotFound => "unknown",
        }
    }
}

pub(crate) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Resp, Infallible> {
    let route = Route::resolve(req.method(), req.uri().path());
    let label = route.label();
    let method = req.method().clone();
    let resp = respond(&shared, route, req).await;
    crate::metrics::record(label, resp.status().as_u16());
    tracing::debug!(http.method = %method, admin.route = label, http.status = resp.status().as_u16(), "admin request");
    Ok(resp)
}

async fn respond(shared: &Shared, route: Route, req: Request<Incoming>) -> Resp {
    let path = req.uri().path();
    if (path == "/v1" || path.starts_with("/v1/")) && !authorized(&shared.token_hash, req.headers()) {
        let message = "missing or wrong admin token: send Authorization: Bearer TOKEN";
        return respond::error(&AdminApiError::new(ErrorCode::AdminUnauthorized, message));
    }
    let backend = &*shared.backend;
    let result = match route {
        Route::Healthz => Ok(respond::json(StatusCode::OK, &json!({"status": "ok"}))),
        Route::Readyz if backend.ready() => Ok(respond::json(StatusCode::OK, &json!({"ready": true}))),
        Route::Readyz => Ok(respond::json(StatusCode::SERVICE_UNAVAILABLE, &json!({"ready": false}))),
        Route::Metrics => {
            let body = (shared.metrics_render)();
            Ok(respond::text(StatusCode::OK, body, "text/plain; version=0.0.4; charset=utf-8"))
        }
        Route::CreateToken => handlers::create_token(backend, req).await,
        Route::ListTokens => handlers::list_tokens(backend).await,
        Route::RevokeToken(id) => handlers::revoke_token(backend, &id).await,
        Route::ClusterStatus => backend.cluster_status().await.map(|s| respond::json(StatusCode::OK, &s)),
        Route::AddMember => handlers::add_member(backend, req).await,
        Route::RemoveMember(id) => handlers::remove_member(backend, &id).await,
        Route::SetPolicy => handlers::set_policy(backend, req).await,
        Route::GetPolicy => backend.get_policy().await.map(|p| respond::json(StatusCode::OK, &p)),
        Route::ListEndpoints => backend.list_endpoints().await.map(|e| respond::json(StatusCode::OK, &e)),
        Route::WrongMethod { allow, .. } => {
            let e = AdminApiError::bad_request(format!("method not allowed here; use {allow}")).with_status(405);
            let mut resp = respond::error(&e);
            resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
            Ok(resp)
        }
        Route::NotFound => Err(AdminApiError::not_found(format!("no admin API route {path}"))),
    };
    result.unwrap_or_else(|e| respond::error(&e))
}

/// `Authorization: Bearer TOKEN`, compared as SHA-256 digests in constant time: hashing first
/// hides the token's length as well as its content.
fn authorized(token_hash: &[u8; 32], headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some((scheme, presented)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let presented: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
    constant_time_eq(&presented, token_hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_routes() {
        let r = |m: Method, p: &str| Route::resolve(&m, p);
        assert_eq!(r(Method::POST, "/v1/tokens"), Route::CreateToken);
        assert_eq!(r(Method::DELETE, "/v1/tokens/tok_1"), Route::RevokeToken("tok_1".into()));
        assert_eq!(r(Method::DELETE, "/v1/cluster/members/pop-a"), Route::RemoveMember("pop-a".into()));
        assert_eq!(r(Method::HEAD, "/healthz"), Route::Healthz);
        assert_eq!(r(Method::PUT, "/v1/tokens").label(), "tokens");
        assert!(matches!(r(Method::POST, "/v1/policy"), Route::WrongMethod { allow: "GET, PUT", .. }));
        assert!(matches!(r(Method::GET, "/v1/tokens/"), Route::WrongMethod { .. }));
        assert_eq!(r(Method::GET, "/v1/nope"), Route::NotFound);
        assert_eq!(r(Method::GET, "/"), Route::NotFound);
    }

    #[test]
    fn bearer_check() {
        let hash: [u8; 32] = Sha256::digest(b"s3cret").into();
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            authorized(&hash, &h)
        };
        assert!(with("Bearer s3cret"));
        assert!(with("bearer s3cret"));
        assert!(!with("Bearer s3cre"));
        assert!(!with("Basic s3cret"));
        assert!(!with("s3cret"));
        assert!(!authorized(&hash, &HeaderMap::new()));
    }
}
