//! The admin API over real sockets: a hyper server on 127.0.0.1:0 and a reqwest client.

#[path = "support/recorder.rs"]
mod recorder;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use warren_admin::{AdminBackend, AdminError, AdminHandle, AdminServer, EndpointInfo, LocalBackend};
use warren_core::PopId;
use warren_state::{AuthError, TokenId};

const TOKEN: &str = "admin-s3cret";

struct World {
    server: AdminHandle,
    backend: Arc<LocalBackend>,
    revoked: Arc<Mutex<Vec<TokenId>>>,
    http: Client,
}

impl World {
    async fn start() -> World {
        World::with(|b| b).await
    }

    async fn with(configure: impl FnOnce(LocalBackend) -> LocalBackend) -> World {
        recorder::install();
        let revoked = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&revoked);
        let pop = PopId::parse("pop-test").unwrap();
        let backend = configure(
            LocalBackend::new(pop, "127.0.0.1:7443").on_revoke(move |id| log.lock().unwrap().push(id.clone())),
        );
        let backend = Arc::new(backend);
        let render = Arc::new(recorder::render);
        let bind: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let dyn_backend: Arc<dyn AdminBackend> = backend.clone();
        let server = AdminServer::start(bind, TOKEN.to_owned(), dyn_backend, render).await.unwrap();
        World { server, backend, revoked, http: Client::new() }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.addr())
    }

    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(TOKEN)
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.req(method, path);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
        (status, value)
    }
}

fn assert_error(status: StatusCode, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status.as_u16(), want_status, "{body}");
    assert_eq!(body["error"]["code"], want_code, "{body}");
    assert_eq!(body["error"]["status"], want_status, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

#[tokio::test]
async fn v1_needs_the_admin_token() {
    let w = World::start().await;
    for path in ["/v1/tokens", "/v1/cluster", "/v1/policy", "/v1/endpoints", "/v1/no-such-route"] {
        let resp = w.http.get(w.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{path}");
        assert_eq!(resp.headers()["warren-error-code"], "WARREN_ERR_ADMIN_UNAUTHORIZED");
        assert!(resp.headers().contains_key("www-authenticate"));
        let body: Value = resp.json().await.unwrap();
        assert_error(StatusCode::UNAUTHORIZED, &body, 401, "WARREN_ERR_ADMIN_UNAUTHORIZED");

        for wrong in ["wrong", "admin-s3cre", "admin-s3cret2", ""] {
            let resp = w.http.get(w.url(path)).bearer_auth(wrong).send().await.unwrap();
            assert_eq!(resp.status(), 401, "{path} with {wrong:?}");
        }
        let resp = w.http.get(w.url(path)).basic_auth("admin", Some(TOKEN)).send().await.unwrap();
        assert_eq!(resp.status(), 401, "basic auth is not the bearer token");
    }
    // A revoke without the token changes nothing.
    let created = w.call(Method::POST, "/v1/tokens", None).await.1;
    let id = created["id"].as_str().unwrap();
    let resp = w.http.delete(w.url(&format!("/v1/tokens/{id}"))).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(w.backend.authenticate(created["token"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn create_list_revoke_tokens() {
    let w = World::start().await;
    let (status, created) = w.call(Method::POST, "/v1/tokens", Some(json!({"description": "laptop"}))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(id.starts_with("tok_") && secret.starts_with("wrn_"), "{created}");
    assert_eq!(created["description"], "laptop");
    assert!(created["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(w.backend.authenticate(&secret).unwrap().as_str(), id);

    // No body at all: an empty description.
    let (status, second) = w.call(Method::POST, "/v1/tokens", None).await;
    assert_eq!((status.as_u16(), second["description"].as_str()), (201, Some("")));

    let (status, list) = w.call(Method::GET, "/v1/tokens", None).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let text = list.to_string();
    assert!(!text.contains(&secret[4..]) && !text.contains(second["token"].as_str().unwrap()), "{text}");
    let row = list.as_array().unwrap().iter().find(|r| r["id"] == id.as_str()).unwrap();
    assert_eq!((row["revoked"].as_bool(), &row["revoked_at"]), (Some(false), &Value::Null));

    let (status, body) = w.call(Method::DELETE, &format!("/v1/tokens/{id}"), None).await;
    assert_eq!((status.as_u16(), body), (204, Value::Null));
    assert_eq!(w.revoked.lock().unwrap().iter().map(TokenId::as_str).collect::<Vec<_>>(), [id.as_str()]);
    assert!(matches!(w.backend.authenticate(&secret), Err(AuthError::Revoked { .. })));
    let (_, list) = w.call(Method::GET, "/v1/tokens", None).await;
    let row = list.as_array().unwrap().iter().find(|r| r["id"] == id.as_str()).unwrap();
    assert_eq!(row["revoked"], true);
    assert!(row["revoked_at"].is_string());

    // Revoking again converges.
    assert_eq!(w.call(Method::DELETE, &format!("/v1/tokens/{id}"), None).await.0, 204);
}

#[tokio::test]
async fn bad_token_requests() {
    let w = World::start().await;
    let (status, body) = w.call(Method::DELETE, "/v1/tokens/tok_0123456789abcdef", None).await;
    assert_error(status, &body, 404, "WARREN_ERR_ADMIN_BAD_REQUEST");
    let (status, body) = w.call(Method::DELETE, "/v1/tokens/not-an-id", None).await;
    assert_error(status, &body, 404, "WARREN_ERR_ADMIN_BAD_REQUEST");
    let (status, body) = w.call(Method::POST, "/v1/tokens", Some(json!({"desc": "typo"}))).await;
    assert_error(status, &body, 400, "WARREN_ERR_ADMIN_BAD_REQUEST");
    let (status, body) = w.call(Method::POST, "/v1/tokens", Some(json!({"description": "x".repeat(300)}))).await;
    assert_error(status, &body, 400, "WARREN_ERR_ADMIN_BAD_REQUEST");
    let resp = w.req(Method::POST, "/v1/tokens").body("{not json").send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let (status, body) = w.call(Method::GET, "/v1/nope", None).await;
    assert_error(status, &body, 404, "WARREN_ERR_ADMIN_BAD_REQUEST");
    let resp = w.req(Method::PATCH, "/v1/tokens").send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, POST");
}

#[tokio::test]
async fn body_over_one_mib_is_413() {
    let w = World::start().await;
    let big = "#".repeat(2 * 1024 * 1024);
    let resp = w.req(Method::PUT, "/v1/policy").body(big).send().await.unwrap();
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert_error(StatusCode::PAYLOAD_TOO_LARGE, &body, 413, "WARREN_ERR_ADMIN_BAD_REQUEST");
    assert_eq!(w.call(Method::GET, "/v1/policy", None).await.1["version"], 0);
    // Exactly the limit is fine.
    let resp = w.req(Method::PUT, "/v1/policy").body("#".repeat(1024 * 1024)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn health_ready_and_metrics_need_no_token() {
    let w = World::start().await;
    assert_eq!(w.http.get(w.url("/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(w.http.get(w.url("/readyz")).send().await.unwrap().status(), 200);
    w.backend.set_ready(false);
    assert_eq!(w.http.get(w.url("/readyz")).send().await.unwrap().status(), 503);
    assert_eq!(w.http.get(w.url("/healthz")).send().await.unwrap().status(), 200);
    w.backend.set_ready(true);
    assert_eq!(w.http.get(w.url("/readyz")).send().await.unwrap().status(), 200);

    w.call(Method::GET, "/v1/tokens", None).await;
    let resp = w.http.get(w.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    assert!(text.starts_with(recorder::HEADER), "{text}");
    let counted = |route: &str, status: u16| {
        let line = format!("warren_admin_requests_total{{route=\"{route}\",status=\"{status}\"}} ");
        text.lines().find_map(|l| l.strip_prefix(&line)).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0)
    };
    assert!(counted("tokens_list", 200) >= 1, "{text}");
    assert!(counted("readyz", 503) >= 1, "{text}");
    assert!(counted("readyz", 200) >= 2, "{text}");
}

#[tokio::test]
async fn policy_set_get_and_refusal() {
    let refuse = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&refuse);
    let w = World::with(move |b| {
        b.policy_validator(move |_| {
            if flag.load(Ordering::Relaxed) {
                Err(vec!["policy.yaml:2:5: on_http_request[0].actions[0].type: unknown action \"nope\"".into()])
            } else {
                Ok(())
            }
        })
    })
    .await;
    assert_eq!(w.call(Method::GET, "/v1/policy", None).await.1, json!({"version": 0, "policy": ""}));
    let policy = "on_http_request:\n  - actions: [{type: deny}]\n";
    let resp = w.req(Method::PUT, "/v1/policy").body(policy).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["version"], 1);
    w.req(Method::PUT, "/v1/policy").body("on_http_response: []\n").send().await.unwrap();
    assert_eq!(w.call(Method::GET, "/v1/policy", None).await.1["version"], 2);

    refuse.store(true, Ordering::Relaxed);
    let resp = w.req(Method::PUT, "/v1/policy").body("bad").send().await.unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_error(status, &body, 400, "WARREN_ERR_ADMIN_BAD_REQUEST");
    assert!(body["error"]["details"][0].as_str().unwrap().starts_with("policy.yaml:2:5:"), "{body}");
    let (_, current) = w.call(Method::GET, "/v1/policy", None).await;
    assert_eq!(current, json!({"version": 2, "policy": "on_http_response: []\n"}));
}

#[tokio::test]
async fn cluster_and_endpoints() {
    let w = World::with(|b| {
        b.endpoints(|| {
            vec![EndpointInfo { url: "https://api.edge.test".into(), pops: vec!["pop-test".into()], agents: 2 }]
        })
    })
    .await;
    let (status, cluster) = w.call(Method::GET, "/v1/cluster", None).await;
    assert_eq!(status, 200);
    assert_eq!(cluster["leader"], "pop-test");
    let member = &cluster["members"][0];
    assert_eq!((member["id"].as_str(), member["addr"].as_str()), (Some("pop-test"), Some("127.0.0.1:7443")));
    assert_eq!((member["voter"].as_bool(), member["healthy"].as_bool()), (Some(true), Some(true)));
    assert!(member.get("last_applied").is_some());

    let add = json!({"id": "pop-b", "addr": "10.0.0.2:7443", "learner": true});
    let (status, body) = w.call(Method::POST, "/v1/cluster/members", Some(add)).await;
    assert_error(status, &body, 409, "WARREN_ERR_ADMIN_BAD_REQUEST");
    let (status, body) = w.call(Method::POST, "/v1/cluster/members", Some(json!({"id": "POP B", "addr": "x:1"}))).await;
    assert_error(status, &body, 400, "WARREN_ERR_ADMIN_BAD_REQUEST");
    let (status, body) = w.call(Method::POST, "/v1/cluster/members", Some(json!({"id": "pop-b", "addr": "x"}))).await;
    assert_error(status, &body, 400, "WARREN_ERR_ADMIN_BAD_REQUEST");
    let (status, body) = w.call(Method::DELETE, "/v1/cluster/members/pop-b", None).await;
    assert_error(status, &body, 409, "WARREN_ERR_ADMIN_BAD_REQUEST");

    let (status, endpoints) = w.call(Method::GET, "/v1/endpoints", None).await;
    assert_eq!(status, 200);
    assert_eq!(endpoints, json!([{"url": "https://api.edge.test", "pops": ["pop-test"], "agents": 2}]));
}

#[tokio::test]
async fn start_and_shutdown() {
    let pop = PopId::parse("pop-test").unwrap();
    let backend: Arc<dyn AdminBackend> = Arc::new(LocalBackend::new(pop, "127.0.0.1:7443"));
    let bind: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let render = Arc::new(String::new);
    let err = AdminServer::start(bind, String::new(), Arc::clone(&backend), render.clone()).await.unwrap_err();
    assert!(matches!(err, AdminError::EmptyToken));

    let server = AdminServer::start(bind, TOKEN.into(), Arc::clone(&backend), render.clone()).await.unwrap();
    let addr = server.addr();
    assert_ne!(addr.port(), 0);
    let err = AdminServer::start(addr, TOKEN.into(), Arc::clone(&backend), render).await.unwrap_err();
    assert!(matches!(err, AdminError::Bind { .. }), "{err}");
    let http = Client::new();
    assert_eq!(http.get(format!("http://{addr}/healthz")).send().await.unwrap().status(), 200);
    server.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still listening after shutdown");
}
