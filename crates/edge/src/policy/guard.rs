//! The traffic-policy guard of the edge: the operator's global policy, then the endpoint's own.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Uri};
use http_body_util::{BodyExt, Full};
use tracing::{info, warn};
use warren_core::ErrorCode;
use warren_policy::{Cause, Outcome, Phase, Step, Terminal};

use super::effects::EdgeEffects;
use super::entry::PolicyEntry;
use super::jwks::JwksStore;
use super::view::HttpView;
use crate::router::{BoxFuture, GuardOutcome, RequestContext, RequestGuard};

/// Where the guard finds the policies that apply to a request.
pub trait PolicySource: Send + Sync + 'static {
    /// The operator's global policy, run before every endpoint's own.
    fn global(&self) -> Option<Arc<PolicyEntry>>;
    /// The endpoint's own policy (sent by its agent), by host.
    fn endpoint(&self, host: &str) -> Option<Arc<PolicyEntry>>;
}

/// Runs `on_http_request` of the global and the endpoint policy for every request.
pub struct PolicyGuard {
    source: Arc<dyn PolicySource>,
    jwks: Arc<JwksStore>,
    region: String,
    geo: Option<Arc<warren_geo::GeoDb>>,
}

impl std::fmt::Debug for PolicyGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyGuard").field("region", &self.region).finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl PolicyGuard {
    pub fn new(source: Arc<dyn PolicySource>, jwks: Arc<JwksStore>, region: impl Into<String>) -> PolicyGuard {
        PolicyGuard { source, jwks, region: region.into(), geo: None }
    }

    /// Adds the PoP's geolocation sources, for `conn.geo.*`.
    pub fn with_geo(mut self, geo: Arc<warren_geo::GeoDb>) -> PolicyGuard {
        self.geo = Some(geo);
        self
    }

    fn run(
        &self,
        entry: &PolicyEntry,
        ctx: &RequestContext,
        parts: &http::request::Parts,
        response: Option<&http::response::Parts>,
    ) -> (Outcome, Option<(String, Option<String>)>) {
        let scheme = ctx.proto.as_str();
        let view = HttpView {
            ctx,
            parts,
            region: &self.region,
            geo: self.geo.as_deref(),
            endpoint_url: format!("{scheme}://{}", ctx.host),
            response,
        };
        let mut effects = EdgeEffects { entry, jwks: &self.jwks, unknown_kid: None };
        let phase = if response.is_some() { Phase::OnHttpResponse } else { Phase::OnHttpRequest };
        let outcome = warren_policy::evaluate(&entry.policy, phase, &view, &mut effects, now_ms());
        (outcome, effects.unknown_kid)
    }

    fn policies(&self, host: &str) -> impl Iterator<Item = Arc<PolicyEntry>> {
        [self.source.global(), self.source.endpoint(host)].into_iter().flatten()
    }

    async fn decide(&self, ctx: &RequestContext, parts: &mut http::request::Parts) -> GuardOutcome {
        for entry in self.policies(&ctx.host) {
            let urls = entry.policy.jwks_urls();
            if !urls.is_empty() {
                self.jwks.ensure(&urls).await;
            }
            let (mut outcome, unknown) = self.run(&entry, ctx, parts, None);
            // Key rotation: a token signed with a key we have not seen yet makes us refetch
            // (rate-limited by the cache) and decide again with the new keys.
            if let (Some((url, kid)), Some(Terminal::Respond { cause: Cause::JwtInvalid { reason }, .. })) =
                (unknown, &outcome.terminal)
                && reason == "unknown_kid"
                && self.jwks.refetch_for_unknown_kid(&url, kid.as_deref()).await
            {
                outcome = self.run(&entry, ctx, parts, None).0;
            }
            for e in &outcome.errors {
                warn!(error = %e, "traffic policy expression failed (the rule did not match)");
            }
            apply_steps(&outcome.steps, parts);
            if let Some(t) = outcome.terminal {
                return terminal(t);
            }
        }
        GuardOutcome::Continue
    }
}

impl RequestGuard for PolicyGuard {
    fn on_request<'a>(
        &'a self,
        ctx: &'a RequestContext,
        req: &'a mut http::request::Parts,
    ) -> BoxFuture<'a, GuardOutcome> {
        Box::pin(self.decide(ctx, req))
    }

    fn wants_response(&self, ctx: &RequestContext) -> bool {
        self.policies(&ctx.host).any(|e| !e.policy.rules(Phase::OnHttpResponse).is_empty())
    }

    /// `on_http_response`: header edits apply to the response head. The body has already
    /// started towards the client, so a terminal action here (deny, custom-response) cannot
    /// replace it; such rules are logged and ignored.
    fn on_response(&self, ctx: &RequestContext, req: Option<&http::request::Parts>, resp: &mut http::response::Parts) {
        let Some(req) = req else { return };
        for entry in self.policies(&ctx.host) {
            if entry.policy.rules(Phase::OnHttpResponse).is_empty() {
                continue;
            }
            let (outcome, _) = self.run(&entry, ctx, req, Some(resp));
            for e in &outcome.errors {
                warn!(error = %e, "traffic policy expression failed in on_http_response");
            }
            for step in &outcome.steps {
                match step {
                    Step::AddHeaders(headers) => append_headers(&mut resp.headers, headers),
                    Step::RemoveHeaders(names) => {
                        for name in names {
                            resp.headers.remove(name.as_str());
                        }
                    }
                    Step::Log { metadata } => info!(target: "warren::policy", %metadata, "policy log"),
                    Step::CompressResponse { algorithms } => {
                        resp.extensions.insert(crate::CompressWith(algorithms.clone()));
                    }
                    Step::UrlRewrite { .. } => {}
                }
            }
            if outcome.terminal.is_some() {
                warn!("a terminal action in on_http_response cannot replace a response already on its way; ignored");
            }
        }
    }
}

fn append_headers(map: &mut HeaderMap, headers: &[(String, String)]) {
    for (name, value) in headers {
        match (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str())) {
            (Ok(n), Ok(v)) => {
                map.append(n, v);
            }
            _ => warn!(header = %name, "add-headers produced an invalid header; skipped"),
        }
    }
}

fn apply_steps(steps: &[Step], parts: &mut http::request::Parts) {
    for step in steps {
        match step {
            Step::AddHeaders(headers) => append_headers(&mut parts.headers, headers),
            Step::RemoveHeaders(names) => {
                for name in names {
                    parts.headers.remove(name.as_str());
                }
            }
            Step::UrlRewrite { url } => match rewrite(&parts.uri, url) {
                Some(uri) => parts.uri = uri,
                None => warn!(%url, "url-rewrite produced an invalid URL; left unchanged"),
            },
            Step::Log { metadata } => info!(target: "warren::policy", %metadata, "policy log"),
            Step::CompressResponse { .. } => {}
        }
    }
}

/// The new request URI: an absolute URL keeps only its path and query (the host stays the
/// endpoint's), a path replaces path and query.
fn rewrite(old: &Uri, to: &str) -> Option<Uri> {
    let new: Uri = to.parse().ok()?;
    let pq = new.path_and_query()?.clone();
    let mut p = old.clone().into_parts();
    p.path_and_query = Some(pq);
    Uri::from_parts(p).ok()
}

/// Policy refusals become the edge's stable error pages where the status is the code's own;
/// custom responses and redirects are sent as the policy wrote them.
fn terminal(t: Terminal) -> GuardOutcome {
    let (response, cause) = match t {
        Terminal::CloseConnection { .. } => {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
            return GuardOutcome::Reject {
                code: ErrorCode::PolicyDenied,
                reason: Some("connection closed by policy".into()),
                headers,
            };
        }
        Terminal::Respond { response, cause } => (response, cause),
    };
    let (code, reason) = match &cause {
        Cause::Deny | Cause::ExpressionError => (Some(ErrorCode::PolicyDenied), None),
        Cause::RestrictIps => (Some(ErrorCode::IpRestricted), None),
        Cause::BasicAuth => (Some(ErrorCode::BasicAuthFailed), None),
        Cause::JwtInvalid { reason } if reason == "missing_token" => {
            (Some(ErrorCode::JwtMissing), Some(reason.clone()))
        }
        Cause::JwtInvalid { reason } => (Some(ErrorCode::JwtInvalid), Some(reason.clone())),
        Cause::JwtKeysUnavailable => (Some(ErrorCode::JwksUnavailable), None),
        Cause::RateLimited { .. } => (Some(ErrorCode::RateLimited), None),
        _ => (None, None),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &response.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str())) {
            headers.append(n, v);
        }
    }
    if let Some(code) = code
        && code.http_status() == response.status_code
        && response.body.is_empty()
    {
        if code == ErrorCode::JwtMissing && !headers.contains_key(http::header::WWW_AUTHENTICATE) {
            headers.insert(http::header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        return GuardOutcome::Reject { code, reason, headers };
    }
    let mut builder = http::Response::builder().status(response.status_code);
    if let Some(code) = code {
        builder = builder.header(crate::ERROR_CODE_HEADER, code.as_str());
    }
    let body = Full::new(bytes::Bytes::from(response.body)).map_err(|never| match never {}).boxed();
    match builder.body(body) {
        Ok(mut resp) => {
            resp.headers_mut().extend(headers);
            GuardOutcome::Respond(resp)
        }
        Err(_) => GuardOutcome::Reject { code: ErrorCode::Internal, reason: None, headers: HeaderMap::new() },
    }
}
