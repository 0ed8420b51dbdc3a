//! Traffic policy enforced at a real PoP, for a real agent's endpoint, with a real identity
//! provider serving its JWKS over HTTP: the first JWT-validated call and every way it fails.

use std::time::Duration;

use warren_test_support::idp::{Alg, DevIdp, DevIdpOptions, Time, TokenSpec};
use warren_test_support::{AgentProcess, EchoBackend, PopOptions, PopProcess, client_for};

const BIN: &str = env!("CARGO_BIN_EXE_warren");
const AUD: &str = "api://warren-test";

fn jwt_policy(idp: &DevIdp) -> String {
    format!(
        "on_http_request:
  - name: require a token
    actions:
      - type: jwt-validation
        config:
          issuer:
            allow_list:
              - value: {iss}
          audience:
            allow_list:
              - value: {AUD}
          http:
            tokens:
              - type: jwt
                method: header
                name: Authorization
                prefix: \"Bearer \"
          jws:
            allowed_algorithms: [RS256, ES256]
            keys:
              sources:
                additional_jkus:
                  - {jwks}
",
        iss = idp.issuer(),
        jwks = idp.jwks_url()
    )
}

struct World {
    pop: PopProcess,
    echo: EchoBackend,
    _agent: AgentProcess,
    client: reqwest::Client,
}

async fn world_with_policy(policy: &str, name: &str) -> World {
    let pop = PopProcess::start(BIN, PopOptions::default()).await;
    let token = pop.create_token().await;
    let echo = EchoBackend::start().await.unwrap();
    let file = pop.dir.write("policy.yaml", policy);
    let url = format!("https://{name}.edge.test");
    let agent = AgentProcess::http(
        &pop,
        &token,
        &echo.addr().to_string(),
        &["--url", &url, "--traffic-policy-file", file.to_str().unwrap()],
    )
    .await;
    let client = client_for(&[&format!("{name}.edge.test")], None);
    World { pop, echo, _agent: agent, client }
}

impl World {
    async fn get(&self, name: &str, bearer: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.pop.http_url(name, "/echo"));
        if let Some(t) = bearer {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        req.send().await.unwrap()
    }
}

async fn code_and_reason(res: reqwest::Response) -> (u16, String, Option<String>) {
    let status = res.status().as_u16();
    let v: serde_json::Value = res.json().await.unwrap();
    (status, v["error"]["code"].as_str().unwrap().to_owned(), v["error"]["reason"].as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread")]
async fn jwt_validation_accepts_good_tokens_and_rejects_every_bad_one() {
    let idp = DevIdp::start("127.0.0.1:0".parse().unwrap(), DevIdpOptions::default()).await.unwrap();
    let w = world_with_policy(&jwt_policy(&idp), "jwt").await;
    let good = TokenSpec::rs256().aud(AUD).sub("alice");

    // No token: 401 with a Bearer challenge, and the backend never sees the request.
    let res = w.get("jwt", None).await;
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    let (_, code, _) = code_and_reason(res).await;
    assert_eq!(code, "WARREN_ERR_JWT_MISSING");
    assert_eq!(w.echo.requests(), 0);

    // A valid token: 200 through the tunnel.
    let res = w.get("jwt", Some(&idp.mint(&good))).await;
    assert_eq!(res.status(), 200);
    assert_eq!(w.echo.requests(), 1);
    // ES256 works as well (allowed, and its key is in the JWKS).
    assert_eq!(w.get("jwt", Some(&idp.mint(&TokenSpec::es256().aud(AUD)))).await.status(), 200);

    let cases = [
        ("expired", idp.mint(&good.clone().exp(Time::ago(3600))), "expired"),
        ("not yet valid", idp.mint(&good.clone().nbf(Time::in_secs(3600))), "not_yet_valid"),
        ("wrong audience", idp.mint(&TokenSpec::rs256().aud("api://other")), "bad_audience"),
        ("wrong issuer", idp.mint(&good.clone().iss("https://evil.example")), "bad_issuer"),
        ("alg none", idp.mint_alg_none(&good), "alg_none"),
        ("HS256 keyed with the public key", idp.mint_hs256_with_public_key(&good), "alg_not_allowed"),
        ("foreign key", idp.mint_with_foreign_key(&good.clone().kid(idp.current_kid(Alg::Rs256))), "bad_signature"),
        ("garbage", "not.a.jwt".to_owned(), "malformed"),
    ];
    for (what, token, reason) in cases {
        let res = w.get("jwt", Some(&token)).await;
        assert_eq!(res.status(), 401, "{what}");
        assert!(res.headers()["www-authenticate"].to_str().unwrap().contains("invalid_token"), "{what}");
        let (_, code, got) = code_and_reason(res).await;
        assert_eq!(code, "WARREN_ERR_JWT_INVALID", "{what}");
        assert_eq!(got.as_deref(), Some(reason), "{what}");
    }
    assert_eq!(w.echo.requests(), 2, "no rejected request reached the backend");
}

#[tokio::test(flavor = "multi_thread")]
async fn key_rotation_and_idp_outages() {
    let idp = DevIdp::start("127.0.0.1:0".parse().unwrap(), DevIdpOptions::default()).await.unwrap();
    let w = world_with_policy(&jwt_policy(&idp), "rot").await;
    let spec = TokenSpec::rs256().aud(AUD);
    assert_eq!(w.get("rot", Some(&idp.mint(&spec))).await.status(), 200);
    let fetches = idp.jwks_fetches();

    // The IdP rotates its signing key: a token with the new kid makes the PoP refetch once.
    idp.rotate(Alg::Rs256, false).unwrap();
    assert_eq!(w.get("rot", Some(&idp.mint(&spec))).await.status(), 200, "rotation picked up without a restart");
    assert_eq!(idp.jwks_fetches(), fetches + 1);

    // The IdP goes down: tokens signed with cached keys still pass.
    idp.set_available(false);
    assert_eq!(w.get("rot", Some(&idp.mint(&spec.clone().sub("bob")))).await.status(), 200);
    // A token with a kid we never saw cannot be checked: still a 401, not a pass.
    assert_eq!(w.get("rot", Some(&idp.mint_with_unknown_kid(&spec))).await.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn idp_down_with_no_keys_is_a_distinct_503() {
    let idp = DevIdp::start("127.0.0.1:0".parse().unwrap(), DevIdpOptions::default()).await.unwrap();
    idp.set_available(false);
    let w = world_with_policy(&jwt_policy(&idp), "down").await;
    let res = w.get("down", Some(&idp.mint(&TokenSpec::rs256().aud(AUD)))).await;
    let (status, code, _) = code_and_reason(res).await;
    assert_eq!((status, code.as_str()), (503, "WARREN_ERR_JWKS_UNAVAILABLE"));
    assert_eq!(w.echo.requests(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_ip_restriction_and_header_edits() {
    let policy = "on_http_request:
  - name: block the admin area from loopback
    expressions:
      - req.url.path.startsWith('/admin')
    actions:
      - type: restrict-ips
        config:
          deny:
            - 127.0.0.0/8
  - name: three per minute
    actions:
      - type: rate-limit
        config:
          name: per-client
          algorithm: sliding_window
          capacity: 3
          rate: 60s
          bucket_key:
            - conn.client_ip
  - name: edit headers
    actions:
      - type: add-headers
        config:
          headers:
            x-client-ip: ${conn.client_ip}
            x-policy: applied
      - type: remove-headers
        config:
          headers:
            - x-secret
";
    let w = world_with_policy(policy, "rl").await;
    let res = w.client.get(w.pop.http_url("rl", "/admin/panel")).send().await.unwrap();
    let (status, code, _) = code_and_reason(res).await;
    assert_eq!((status, code.as_str()), (403, "WARREN_ERR_IP_RESTRICTED"));

    let res = w.client.get(w.pop.http_url("rl", "/echo")).header("x-secret", "hunter2").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["headers"]["x-policy"], serde_json::json!(["applied"]));
    assert_eq!(v["headers"]["x-client-ip"], serde_json::json!(["127.0.0.1"]));
    assert!(v["headers"].get("x-secret").is_none(), "removed before the backend: {v}");

    assert_eq!(w.client.get(w.pop.http_url("rl", "/echo")).send().await.unwrap().status(), 200);
    // The restricted request above did not count (it ended before the rate-limit rule).
    let res = w.client.get(w.pop.http_url("rl", "/echo")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = w.client.get(w.pop.http_url("rl", "/echo")).send().await.unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    // A sliding window: the wait is until the burst's weight has decayed enough, which can
    // reach into the next window (at most two windows).
    assert!((1..=120).contains(&retry), "{retry}");
    let (_, code, _) = code_and_reason(res).await;
    assert_eq!(code, "WARREN_ERR_RATE_LIMITED");
}

#[tokio::test(flavor = "multi_thread")]
async fn global_policy_runs_first_and_changes_apply_to_new_requests() {
    let w = world_with_policy("on_http_request:\n  - actions:\n      - type: add-headers\n        config:\n          headers:\n            x-endpoint-policy: yes-it-ran\n", "gp").await;
    let res = w.client.get(w.pop.http_url("gp", "/echo")).send().await.unwrap();
    let v: serde_json::Value = res.json().await.unwrap();
    assert!(v["headers"].get("x-global").is_none());

    let global = w.pop.dir.write(
        "global.yaml",
        "on_http_request:\n  - expressions:\n      - req.url.path == '/blocked'\n    actions:\n      - type: deny\n  - actions:\n      - type: add-headers\n        config:\n          headers:\n            x-global: operator\n",
    );
    let out = w.pop.admin(&["policy", "set", global.to_str().unwrap()]).await;
    assert!(out.success(), "{}", out.stderr);
    let res = w.client.get(w.pop.http_url("gp", "/echo")).send().await.unwrap();
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["headers"]["x-global"], serde_json::json!(["operator"]));
    assert_eq!(v["headers"]["x-endpoint-policy"], serde_json::json!(["yes-it-ran"]));
    let (status, code, _) = code_and_reason(w.client.get(w.pop.http_url("gp", "/blocked")).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (403, "WARREN_ERR_POLICY_DENIED"));

    // An invalid global policy is refused with the mistakes, and the old one stays.
    let bad = w.pop.dir.write("bad.yaml", "on_http_request:\n  - actions:\n      - type: no-such-action\n");
    let out = w.pop.admin(&["policy", "set", bad.to_str().unwrap()]).await;
    assert_eq!(out.code(), Some(1));
    assert!(out.stderr.contains("no-such-action"), "{}", out.stderr);
    let res = w.client.get(w.pop.http_url("gp", "/echo")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_policy_file_stops_the_agent_before_it_connects() {
    let pop = PopProcess::start(BIN, PopOptions::default()).await;
    let token = pop.create_token().await;
    let file = pop.dir.write("p.yaml", "on_http_request:\n  - expressions: ['']\n    actions:\n      - type: deny\n        config:\n          status: 403\n");
    let mut agent =
        AgentProcess::spawn(&pop, "http", &token, "8080", &["--traffic-policy-file", file.to_str().unwrap()]);
    let line = agent.wait_for_line(|l| l.contains("p.yaml:"), Duration::from_secs(10)).await.unwrap();
    assert!(line.contains("p.yaml:2:"), "{line}");
    assert_eq!(agent.wait_exit(Duration::from_secs(10)).await.unwrap().code(), Some(1));
    let lines = agent.lines();
    assert!(lines.iter().filter(|l| l.contains("p.yaml:")).count() >= 2, "every mistake is reported: {lines:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn response_phase_edits_response_headers() {
    let policy = "on_http_response:
  - expressions:
      - res.status_code == 200
    actions:
      - type: add-headers
        config:
          headers:
            x-seen-status: ${res.status_code}
            x-for-path: ${req.url.path}
      - type: remove-headers
        config:
          headers:
            - x-backend
";
    let pop = PopProcess::start(BIN, PopOptions::default()).await;
    let token = pop.create_token().await;
    let echo = EchoBackend::start_with_name("secret-name").await.unwrap();
    let file = pop.dir.write("policy.yaml", policy);
    let _agent = AgentProcess::http(
        &pop,
        &token,
        &echo.addr().to_string(),
        &["--url", "https://resp.edge.test", "--traffic-policy-file", file.to_str().unwrap()],
    )
    .await;
    let client = client_for(&["resp.edge.test"], None);
    let res = client.get(pop.http_url("resp", "/echo")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-seen-status"], "200");
    assert_eq!(res.headers()["x-for-path"], "/echo");
    assert!(res.headers().get("x-backend").is_none(), "removed: {:?}", res.headers());
    let res = client.get(pop.http_url("resp", "/status/404")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.headers().get("x-seen-status").is_none());
    assert_eq!(res.headers()["x-backend"], "secret-name");
}

#[tokio::test(flavor = "multi_thread")]
async fn on_tcp_connect_closes_refused_connections_before_the_backend_sees_them() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let port = warren_test_support::free_tcp_port().unwrap();
    let pop = PopProcess::start(BIN, PopOptions { tcp_ports: Some((port, port)), ..Default::default() }).await;
    let token = pop.create_token().await;
    let echo = warren_test_support::TcpEchoBackend::start().await.unwrap();
    let policy = "on_tcp_connect:\n  - actions:\n      - type: restrict-ips\n        config:\n          deny:\n            - 127.0.0.0/8\n";
    let file = pop.dir.write("tcp-policy.yaml", policy);
    let _agent =
        AgentProcess::tcp(&pop, &token, &echo.addr().to_string(), &["--traffic-policy-file", file.to_str().unwrap()])
            .await;
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let _ = conn.write_all(b"hello").await;
    let mut buf = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut buf)).await.unwrap().unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    assert_eq!(echo.connections(), 0, "the backend never saw the refused client");
}

#[tokio::test(flavor = "multi_thread")]
async fn compress_response_gzips_for_clients_that_accept_it() {
    use sha2::Digest;
    use tokio::io::AsyncReadExt;
    let policy = "on_http_response:\n  - actions:\n      - type: compress-response\n        config:\n          algorithms: [gzip]\n";
    let w = world_with_policy(policy, "gz").await;
    const N: u64 = 3_000_000;
    let url = w.pop.http_url("gz", &format!("/bytes?n={N}&seed=3"));
    let res = w.client.get(&url).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-encoding"], "gzip");
    assert!(res.headers().get("content-length").is_none());
    let compressed = res.bytes().await.unwrap();
    let mut plain = Vec::new();
    async_compression::tokio::bufread::GzipDecoder::new(&compressed[..]).read_to_end(&mut plain).await.unwrap();
    assert_eq!(plain.len() as u64, N);
    assert_eq!(hex::encode(sha2::Sha256::digest(&plain)), warren_test_support::expected_bytes_sha256(N, 3));
    // A client that does not ask for it gets the body as the backend sent it.
    let res = w.client.get(&url).send().await.unwrap();
    assert!(res.headers().get("content-encoding").is_none());
    assert_eq!(res.content_length(), Some(N));
}

#[tokio::test(flavor = "multi_thread")]
async fn conn_geo_comes_from_the_pops_geo_networks() {
    let opts = PopOptions {
        extra_yaml: "geo:\n  networks:\n    - { cidr: 127.0.0.0/8, lat: 48.86, lon: 2.35 }\n".into(),
        ..Default::default()
    };
    let pop = PopProcess::start(BIN, opts).await;
    let token = pop.create_token().await;
    let echo = EchoBackend::start().await.unwrap();
    let policy = "on_http_request:\n  - actions:\n      - type: add-headers\n        config:\n          headers:\n            x-geo: \"${conn.geo.latitude},${conn.geo.longitude}\"\n";
    let file = pop.dir.write("geo-policy.yaml", policy);
    let _agent = AgentProcess::http(
        &pop,
        &token,
        &echo.addr().to_string(),
        &["--url", "https://geo.edge.test", "--traffic-policy-file", file.to_str().unwrap()],
    )
    .await;
    let client = client_for(&["geo.edge.test"], None);
    let v: serde_json::Value = client.get(pop.http_url("geo", "/echo")).send().await.unwrap().json().await.unwrap();
    let geo = v["headers"]["x-geo"][0].as_str().unwrap();
    let (lat, lon) = geo.split_once(',').unwrap();
    assert!((lat.parse::<f64>().unwrap() - 48.86).abs() < 1e-9, "{geo}");
    assert!((lon.parse::<f64>().unwrap() - 2.35).abs() < 1e-9, "{geo}");
}

#[tokio::test(flavor = "multi_thread")]
async fn editing_the_policy_file_applies_to_new_requests_without_dropping_open_ones() {
    use futures_util::StreamExt;
    let pop = PopProcess::start(BIN, PopOptions::default()).await;
    let token = pop.create_token().await;
    let echo = EchoBackend::start().await.unwrap();
    let policy = |v: &str| {
        format!(
            "on_http_request:\n  - actions:\n      - type: add-headers\n        config:\n          headers:\n            x-version: {v}\n"
        )
    };
    let file = pop.dir.write("live.yaml", policy("one"));
    let agent = AgentProcess::http(
        &pop,
        &token,
        &echo.addr().to_string(),
        &["--url", "https://live.edge.test", "--traffic-policy-file", file.to_str().unwrap()],
    )
    .await;
    let client = client_for(&["live.edge.test"], None);
    let version = |v: serde_json::Value| v["headers"]["x-version"][0].as_str().unwrap().to_owned();
    let v: serde_json::Value = client.get(pop.http_url("live", "/echo")).send().await.unwrap().json().await.unwrap();
    assert_eq!(version(v), "one");

    // A long stream is open while the policy changes.
    let sse = client.get(pop.http_url("live", "/sse?n=8&interval_ms=300")).send().await.unwrap();
    let mut events = sse.bytes_stream();
    assert!(events.next().await.unwrap().is_ok());

    std::fs::write(&file, policy("two")).unwrap();
    agent.process.wait_for_line(|l| l.contains("traffic policy reloaded"), Duration::from_secs(10)).await.unwrap();
    let url = pop.http_url("live", "/echo");
    warren_test_support::wait_until(Duration::from_secs(10), || async {
        let v: serde_json::Value = client.get(&url).send().await.unwrap().json().await.unwrap();
        version(v) == "two"
    })
    .await
    .unwrap();

    // The stream opened before the change still delivers every event.
    let mut rest = Vec::new();
    while let Some(chunk) = events.next().await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    assert!(String::from_utf8_lossy(&rest).contains("data: event-8"), "{}", String::from_utf8_lossy(&rest));

    // A broken edit is reported and the last good policy stays.
    std::fs::write(&file, "on_http_request:\n  - actions:\n      - type: nope\n").unwrap();
    agent.process.wait_for_line(|l| l.contains("keeping the previous policy"), Duration::from_secs(10)).await.unwrap();
    let v: serde_json::Value = client.get(pop.http_url("live", "/echo")).send().await.unwrap().json().await.unwrap();
    assert_eq!(version(v), "two");
}

#[tokio::test(flavor = "multi_thread")]
async fn first_jwt_validated_call_with_warren_dev_idp() {
    let idp = warren_test_support::WarrenProcess::builder(BIN)
        .args(["dev-idp", "--listen", "127.0.0.1:0", "--audience", AUD])
        .name("dev-idp")
        .spawn()
        .unwrap();
    let addr = idp.listener_addr("dev-idp", Duration::from_secs(20)).await.unwrap();
    let issuer = format!("http://{addr}");
    let policy = format!(
        "on_http_request:\n  - actions:\n      - type: jwt-validation\n        config:\n          issuer:\n            allow_list:\n              - value: {issuer}\n          audience:\n            allow_list:\n              - value: {AUD}\n          http:\n            tokens:\n              - type: jwt\n                method: header\n                name: Authorization\n                prefix: \"Bearer \"\n          jws:\n            allowed_algorithms: [RS256]\n            keys:\n              sources:\n                additional_jkus:\n                  - {issuer}/.well-known/jwks.json\n"
    );
    let w = world_with_policy(&policy, "first").await;
    assert_eq!(w.get("first", None).await.status(), 401);
    let token: serde_json::Value = reqwest::Client::new()
        .post(format!("{issuer}/token"))
        .json(&serde_json::json!({"sub": "alice"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let res = w.get("first", Some(token)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(w.echo.requests(), 1);
}
