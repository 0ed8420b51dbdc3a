//! The data path end to end, with real processes: a client → `warren pop` → QUIC tunnel →
//! `warren http` agent → a real backend, and back. HTTP/1.1, HTTP/2, TLS, bodies in both
//! directions, SSE, WebSocket, gRPC, `Expect: 100-continue`.

mod grpc;

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use sha2::{Digest, Sha256};
use warren_test_support::{AgentProcess, EchoBackend, PopOptions, PopProcess, client_for, expected_bytes_sha256};

const BIN: &str = env!("CARGO_BIN_EXE_warren");

async fn world() -> (PopProcess, EchoBackend, AgentProcess, String) {
    let pop = PopProcess::start(BIN, PopOptions::default()).await;
    let token = pop.create_token().await;
    let echo = EchoBackend::start().await.unwrap();
    let agent = AgentProcess::http(&pop, &token, &echo.addr().to_string(), &["--url", "https://api.edge.test"]).await;
    assert_eq!(agent.url, "https://api.edge.test");
    (pop, echo, agent, token)
}

#[tokio::test(flavor = "multi_thread")]
async fn get_and_post_carry_the_real_client_address() {
    let (pop, echo, _agent, _) = world().await;
    let client = client_for(&["api.edge.test"], None);
    let res = client
        .get(pop.http_url("api", "/echo?x=1"))
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-custom", "kept")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["method"], "GET");
    assert_eq!(v["query"], "x=1");
    assert_eq!(
        v["headers"]["x-forwarded-for"],
        serde_json::json!(["127.0.0.1"]),
        "forged XFF never displaces the client: {v}"
    );
    assert_eq!(v["headers"]["x-forwarded-proto"], serde_json::json!(["http"]));
    assert_eq!(v["headers"]["x-forwarded-host"][0].as_str().unwrap(), format!("api.edge.test:{}", pop.http.port()));
    assert_eq!(
        v["headers"]["host"][0].as_str().unwrap(),
        format!("api.edge.test:{}", pop.http.port()),
        "original Host kept"
    );
    assert_eq!(v["headers"]["x-custom"], serde_json::json!(["kept"]));

    let body = vec![7u8; 300_000];
    let res = client.post(pop.http_url("api", "/echo")).body(body.clone()).send().await.unwrap();
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["body_len"], 300_000);
    assert_eq!(v["body_sha256"], hex::encode(Sha256::digest(&body)));
    assert_eq!(echo.requests(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn https_with_sni_and_http2() {
    let (pop, _echo, _agent, _) = world().await;
    let client = client_for(&["api.edge.test"], Some(&pop.ca_pem()));
    let res = client.get(pop.https_url("api", "/echo")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.version(), reqwest::Version::HTTP_2, "ALPN h2 on the TLS listener");
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["headers"]["x-forwarded-proto"], serde_json::json!(["https"]));
    // h2c with prior knowledge on the plain listener too.
    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .resolve("api.edge.test", ([127, 0, 0, 1], 0).into())
        .build()
        .unwrap();
    let res = h2c.get(pop.http_url("api", "/echo")).send().await.unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    assert_eq!(res.status(), 200);
}

/// Peak resident memory of a process in KiB (VmHWM).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_gib_each_way_with_matching_hashes_and_bounded_pop_memory() {
    const GIB: u64 = 1 << 30;
    let (pop, _echo, _agent, _) = world().await;
    let client = client_for(&["api.edge.test"], None);

    // Download: Content-Length is kept end to end, the hash matches.
    let res = client.get(pop.http_url("api", &format!("/bytes?n={GIB}&seed=7"))).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.content_length(), Some(GIB), "Content-Length bodies stay Content-Length");
    let mut hasher = Sha256::new();
    let mut n = 0u64;
    let mut stream = res.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        n += chunk.len() as u64;
        hasher.update(&chunk);
    }
    assert_eq!(n, GIB);
    assert_eq!(hex::encode(hasher.finalize()), expected_bytes_sha256(GIB, 7));

    // Upload: streamed from a generator, never held whole by the client either.
    let chunks = futures_util::stream::iter(
        (0..GIB / (1 << 20)).map(|i| Ok::<_, std::io::Error>(vec![(i % 251) as u8; 1 << 20])),
    );
    let mut expected = Sha256::new();
    for i in 0..GIB / (1 << 20) {
        expected.update(vec![(i % 251) as u8; 1 << 20]);
    }
    let res =
        client.post(pop.http_url("api", "/upload")).body(reqwest::Body::wrap_stream(chunks)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["body_len"], GIB);
    assert_eq!(v["body_sha256"], hex::encode(expected.finalize()));

    let peak = peak_rss_kib(pop.process.pid());
    eprintln!("PoP peak RSS after 1 GiB each way: {peak} KiB");
    assert!(peak < 256 * 1024, "PoP peak RSS {peak} KiB after 2 GiB through it");
}

#[tokio::test(flavor = "multi_thread")]
async fn sse_events_arrive_one_by_one() {
    let (pop, _echo, _agent, _) = world().await;
    let client = client_for(&["api.edge.test"], None);
    let res = client.get(pop.http_url("api", "/sse?n=4&interval_ms=400")).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut stream = res.bytes_stream();
    let mut text = String::new();
    let mut arrivals = Vec::new();
    let start = Instant::now();
    while let Some(chunk) = stream.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        while let Some(i) = text.find("\n\n") {
            let event: String = text.drain(..i + 2).collect();
            arrivals.push((event, start.elapsed()));
        }
    }
    assert_eq!(arrivals.len(), 4, "{arrivals:?}");
    assert!(arrivals[0].0.contains("data: event-1") || arrivals[0].0.contains("data: event-0"), "{arrivals:?}");
    // Event 1 arrived well before the last one was even written (3 intervals later).
    assert!(arrivals[3].1 - arrivals[0].1 >= Duration::from_millis(1000), "events were buffered: {arrivals:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_echo_through_the_edge() {
    let (pop, _echo, _agent, _) = world().await;
    let stream = tokio::net::TcpStream::connect(pop.http).await.unwrap();
    let url = format!("ws://api.edge.test:{}/ws", pop.http.port());
    let (mut ws, resp) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    assert_eq!(resp.status(), 101);
    ws.send(tokio_tungstenite::tungstenite::Message::text("hello warren")).await.unwrap();
    let msg = ws.next().await.unwrap().unwrap();
    assert_eq!(msg.into_text().unwrap().as_str(), "hello warren");
    let big = vec![42u8; 200_000];
    ws.send(tokio_tungstenite::tungstenite::Message::binary(big.clone())).await.unwrap();
    let msg = ws.next().await.unwrap().unwrap();
    assert_eq!(msg.into_data().to_vec(), big);
    ws.close(None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_unary_and_streaming_keep_their_status_trailers() {
    let pop = PopProcess::start(BIN, PopOptions::default()).await;
    let token = pop.create_token().await;
    let backend = grpc::Backend::start().await;
    let _agent =
        AgentProcess::http(&pop, &token, &backend.addr.to_string(), &["--url", "https://grpc.edge.test"]).await;

    let unary = grpc::call(pop.http, "grpc.edge.test", "/echo.Echo/Unary", b"ping").await;
    assert_eq!(unary.messages, vec![b"ping".to_vec()]);
    assert_eq!(unary.trailers.get("grpc-status").map(|v| v.to_str().unwrap()), Some("0"));

    let streaming = grpc::call(pop.http, "grpc.edge.test", "/echo.Echo/Stream", b"x").await;
    assert_eq!(streaming.messages.len(), 3);
    assert!(
        streaming.arrivals[2] - streaming.arrivals[0] >= Duration::from_millis(300),
        "messages were buffered: {:?}",
        streaming.arrivals
    );
    assert_eq!(streaming.trailers.get("grpc-status").map(|v| v.to_str().unwrap()), Some("0"));
    assert_eq!(streaming.trailers.get("grpc-message").map(|v| v.to_str().unwrap()), Some("done"));

    let failing = grpc::call(pop.http, "grpc.edge.test", "/echo.Echo/Fail", b"x").await;
    assert_eq!(failing.trailers.get("grpc-status").map(|v| v.to_str().unwrap()), Some("7"));
}

#[tokio::test(flavor = "multi_thread")]
async fn expect_100_continue_is_answered() {
    let (pop, _echo, _agent, _) = world().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body");
    std::fs::write(&file, vec![1u8; 2 << 20]).unwrap();
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "-v", "--resolve"])
        .arg(format!("api.edge.test:{}:127.0.0.1", pop.http.port()))
        .args(["-H", "Expect: 100-continue", "--data-binary"])
        .arg(format!("@{}", file.display()))
        .arg(pop.http_url("api", "/upload"))
        .output()
        .await
        .expect("curl is installed (.ci/install-packages)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("HTTP/1.1 100 Continue"), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["body_len"], 2 << 20);
}

/// Longer than every idle timer on the path: the tunnel's 5 s (QUIC and the TCP fallback) and
/// the edge's 30 s for reading a request's headers, which must not apply once a connection has
/// been upgraded.
const WEBSOCKET_IDLE: Duration = Duration::from_secs(32);

#[tokio::test(flavor = "multi_thread")]
async fn websocket_idle_longer_than_every_timeout_still_echoes() {
    use tokio_tungstenite::tungstenite::Message;
    let pop = PopProcess::start(BIN, PopOptions::default()).await;
    let token = pop.create_token().await;
    let echo = EchoBackend::start().await.unwrap();
    let backend = echo.addr().to_string();
    // One agent over QUIC, one over the TCP+TLS fallback: both carriers keep an idle stream.
    let _quic = AgentProcess::http(&pop, &token, &backend, &["--url", "https://wsq.edge.test"]).await;
    let _tcp =
        AgentProcess::http(&pop, &token, &backend, &["--url", "https://wst.edge.test", "--transport", "tcp"]).await;
    let mut sockets = Vec::new();
    for name in ["wsq", "wst"] {
        let stream = tokio::net::TcpStream::connect(pop.http).await.unwrap();
        let url = format!("ws://{name}.edge.test:{}/ws", pop.http.port());
        let (mut ws, resp) = tokio_tungstenite::client_async(url, stream).await.unwrap();
        assert_eq!(resp.status(), 101);
        ws.send(Message::text(format!("{name} before"))).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap().into_text().unwrap().as_str(), format!("{name} before"));
        sockets.push((name, ws));
    }

    // Nothing at all is sent on either connection (the client sends no pings, nor does the backend).
    tokio::time::sleep(WEBSOCKET_IDLE).await;

    for (name, ws) in &mut sockets {
        ws.send(Message::text(format!("{name} after"))).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap_or_else(|_| panic!("{name}: no echo after {WEBSOCKET_IDLE:?} idle"))
            .unwrap_or_else(|| panic!("{name}: closed after {WEBSOCKET_IDLE:?} idle"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(msg.into_text().unwrap().as_str(), format!("{name} after"));
        ws.close(None).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_forwarding_headers_fool_neither_the_backend_nor_the_policy() {
    // /admin is open to one office network only; a client elsewhere claims to be in it.
    let policy = "on_http_request:
  - name: the office only
    expressions:
      - req.url.path.startsWith('/admin')
    actions:
      - type: restrict-ips
        config:
          allow:
            - 203.0.113.0/24
  - name: what the edge saw
    actions:
      - type: add-headers
        config:
          headers:
            x-edge-client-ip: ${conn.client_ip}
";
    let pop = PopProcess::start(BIN, PopOptions::default()).await;
    let token = pop.create_token().await;
    let echo = EchoBackend::start().await.unwrap();
    let file = pop.dir.write("xff-policy.yaml", policy);
    let args = ["--url", "https://xff.edge.test", "--traffic-policy-file", file.to_str().unwrap()];
    let _agent = AgentProcess::http(&pop, &token, &echo.addr().to_string(), &args).await;
    let client = client_for(&["xff.edge.test"], Some(&pop.ca_pem()));
    let forged = |path: &str| {
        client
            .get(pop.https_url("xff", path))
            .header("x-forwarded-for", "203.0.113.9")
            .header("x-forwarded-for", "203.0.113.10, 10.0.0.1")
            .header("x-real-ip", "203.0.113.9")
            .header("forwarded", "for=203.0.113.9;proto=https;host=office.example")
            .header("x-forwarded-proto", "http")
            .header("x-forwarded-host", "office.example")
            .header("x-forwarded-port", "8443")
    };

    let res = forged("/admin").send().await.unwrap();
    assert_eq!(res.status(), 403, "a forged address opened /admin");
    assert_eq!(res.headers()["warren-error-code"], "WARREN_ERR_IP_RESTRICTED");
    assert_eq!(echo.requests(), 0);

    let res = forged("/echo").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let v: serde_json::Value = res.json().await.unwrap();
    let h = &v["headers"];
    assert_eq!(h["x-forwarded-for"], serde_json::json!(["127.0.0.1"]), "only the address the PoP saw: {v}");
    assert_eq!(h["x-edge-client-ip"], serde_json::json!(["127.0.0.1"]), "conn.client_ip ignores XFF: {v}");
    assert_eq!(h["x-forwarded-proto"], serde_json::json!(["https"]), "{v}");
    assert_eq!(h["x-forwarded-host"][0].as_str().unwrap(), format!("xff.edge.test:{}", pop.https.port()), "{v}");
    assert!(h.get("forwarded").is_none(), "a client's Forwarded header is dropped: {v}");
    assert!(h.get("x-forwarded-port").is_none(), "a client's X-Forwarded-Port is dropped: {v}");
}
