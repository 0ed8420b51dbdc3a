//! A request described by hand, and in-memory effects.

#![allow(dead_code)]

use std::net::IpAddr;

use warren_jwt::VerifiedToken;
use warren_policy::*;

pub const NOW_MS: u64 = 1_800_000_000_000;

#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub scheme: String,
    pub host: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub ip: IpAddr,
    pub port: u16,
    pub status: Option<u16>,
    pub res_headers: Vec<(String, String)>,
}

impl Default for Req {
    fn default() -> Self {
        Req {
            method: "GET".into(),
            scheme: "https".into(),
            host: "api.edge.example.com".into(),
            path: "/api/users".into(),
            query: "page=2&tag=a&tag=b%20c".into(),
            headers: vec![
                ("User-Agent".into(), "curl/8".into()),
                ("X-Api-Key".into(), "k1".into()),
                ("Cookie".into(), "session=abc; theme=dark".into()),
            ],
            ip: "203.0.113.7".parse().unwrap(),
            port: 51000,
            status: None,
            res_headers: vec![],
        }
    }
}

impl Req {
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
}

impl RequestView for Req {
    fn method(&self) -> &str {
        &self.method
    }
    fn scheme(&self) -> &str {
        &self.scheme
    }
    fn host(&self) -> &str {
        &self.host
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn raw_query(&self) -> &str {
        &self.query
    }
    fn for_each_header(&self, f: &mut dyn FnMut(&str, &str)) {
        self.headers.iter().for_each(|(k, v)| f(k, v));
    }
    fn client_ip(&self) -> IpAddr {
        self.ip
    }
    fn client_port(&self) -> u16 {
        self.port
    }
    fn server_region(&self) -> &str {
        "eu-central"
    }
    fn tls_sni(&self) -> Option<&str> {
        Some("api.edge.example.com")
    }
    fn geo(&self) -> Option<Geo> {
        Some(Geo { country_code: "DE".into(), country: "Germany".into(), city: "Frankfurt".into(), ..Geo::default() })
    }
    fn endpoint_url(&self) -> &str {
        "https://api.edge.example.com"
    }
    fn response_status(&self) -> Option<u16> {
        self.status
    }
    fn for_each_response_header(&self, f: &mut dyn FnMut(&str, &str)) {
        self.res_headers.iter().for_each(|(k, v)| f(k, v));
    }
}

/// Accepts the token "good" (sub alice), rejects everything else as expired.
pub struct Fx {
    pub limiter: SlidingWindowLimiter,
    pub keys_available: bool,
    pub jwt_calls: usize,
}

impl Default for Fx {
    fn default() -> Self {
        Fx { limiter: SlidingWindowLimiter::new(2, 60, 100), keys_available: true, jwt_calls: 0 }
    }
}

impl Effects for Fx {
    fn verify_jwt(&mut self, _a: &JwtValidation, token: &str, _now: u64) -> Result<VerifiedToken, JwtFailure> {
        self.jwt_calls += 1;
        if !self.keys_available {
            return Err(JwtFailure::KeysUnavailable);
        }
        if token == "good" {
            Ok(VerifiedToken {
                header: serde_json::json!({"alg": "RS256"}),
                payload: serde_json::json!({"sub": "alice", "scope": "read write"}),
                alg: warren_jwt::Algorithm::RS256,
                kid: None,
                exp: None,
            })
        } else {
            Err(JwtFailure::Rejected(warren_jwt::JwtError::Expired { exp: 1, now: 2 }))
        }
    }
    fn rate_limit(&mut self, _a: &RateLimit, key: &str, now_ms: u64) -> RateDecision {
        self.limiter.check(key, now_ms)
    }
}

pub fn load(src: &str) -> Policy {
    match validate(src, "test.yaml") {
        Ok(p) => p,
        Err(d) => panic!("{}", d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n")),
    }
}

pub fn run(src: &str, req: &Req) -> Outcome {
    evaluate(&load(src), Phase::OnHttpRequest, req, &mut Fx::default(), NOW_MS)
}

pub fn errors(src: &str) -> Vec<Diagnostic> {
    validate(src, "p.yaml").expect_err("policy should be rejected")
}

/// Evaluates `expr` as the single expression of a deny rule: true means it matched.
pub fn holds(expr: &str, req: &Req) -> bool {
    let src = format!(
        "on_http_request:\n  - expressions: [{}]\n    actions: [{{type: log, config: {{metadata: {{a: b}}}}}}]\n",
        serde_json::to_string(expr).unwrap()
    );
    let out = run(&src, req);
    assert!(out.errors.is_empty(), "{expr}: {:?}", out.errors);
    !out.matched_rules.is_empty()
}
