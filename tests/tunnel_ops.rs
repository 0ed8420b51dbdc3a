//! The data path under the failures users meet: TCP half-close, pooling, PoP restarts,
//! revoked tokens, every error code, drain on SIGTERM, and the metrics that show it.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warren_test_support::{
    AgentProcess, EchoBackend, PopOptions, PopProcess, TcpEchoBackend, client_for, wait_for_ok, wait_until,
};

const BIN: &str = env!("CARGO_BIN_EXE_warren");

async fn pop() -> (PopProcess, String) {
    let pop = PopProcess::start(BIN, PopOptions::default()).await;
    let token = pop.create_token().await;
    (pop, token)
}

async fn error_code(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let header = res.headers().get("warren-error-code").map(|v| v.to_str().unwrap().to_owned());
    let v: serde_json::Value = res.json().await.unwrap();
    let code = v["error"]["code"].as_str().unwrap().to_owned();
    assert_eq!(header.as_deref(), Some(code.as_str()), "Warren-Error-Code header matches the body");
    (status, code)
}

#[tokio::test(flavor = "multi_thread")]
async fn tcp_echo_with_half_close() {
    let port = warren_test_support::free_tcp_port().unwrap();
    let pop = PopProcess::start(BIN, PopOptions { tcp_ports: Some((port, port)), ..Default::default() }).await;
    let token = pop.create_token().await;
    let echo = TcpEchoBackend::start().await.unwrap();
    let agent = AgentProcess::tcp(&pop, &token, &echo.addr().to_string(), &[]).await;
    assert_eq!(agent.url, format!("tcp://edge.test:{port}"));

    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let payload: Vec<u8> = (0..500_000u32).map(|i| (i % 253) as u8).collect();
    conn.write_all(&payload).await.unwrap();
    // Half-close: we are done sending, but still read everything the backend sends back.
    conn.shutdown().await.unwrap();
    let mut back = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), conn.read_to_end(&mut back)).await.unwrap().unwrap();
    assert_eq!(back.len(), payload.len());
    assert!(back == payload);
    assert_eq!(echo.connections(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn pooling_balances_and_fails_over_without_errors() {
    let (pop, token) = pop().await;
    let a = EchoBackend::start_with_name("a").await.unwrap();
    let b = EchoBackend::start_with_name("b").await.unwrap();
    let args = ["--url", "https://pool.edge.test", "--pooling-enabled"];
    let mut agent_a = AgentProcess::http(&pop, &token, &a.addr().to_string(), &args).await;
    let _agent_b = AgentProcess::http(&pop, &token, &b.addr().to_string(), &args).await;
    let client = client_for(&["pool.edge.test"], None);
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..10 {
        let res = client.get(pop.http_url("pool", "/echo")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        *seen.entry(res.headers()["x-backend"].to_str().unwrap().to_owned()).or_insert(0) += 1;
    }
    assert_eq!(seen.get("a"), Some(&5), "{seen:?}");
    assert_eq!(seen.get("b"), Some(&5), "{seen:?}");

    // One agent stops: every request still succeeds, on the other one.
    agent_a.process.terminate(Duration::from_secs(5)).await.unwrap();
    for _ in 0..10 {
        let res = client.get(pop.http_url("pool", "/echo")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["x-backend"], "b");
    }
    // One agent crashes (no goodbye, its tunnel is still open on the PoP): still no error.
    let mut agent_c = AgentProcess::http(&pop, &token, &a.addr().to_string(), &args).await;
    agent_c.process.kill().await.unwrap();
    for _ in 0..6 {
        let res = client.get(pop.http_url("pool", "/echo")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["x-backend"], "b");
    }

    // Without pooling, a second agent gets a clear error and exits.
    let mut third =
        AgentProcess::spawn(&pop, "http", &token, &a.addr().to_string(), &["--url", "https://pool.edge.test"]);
    third.wait_for_line(|l| l.contains("WARREN_ERR_URL_IN_USE"), Duration::from_secs(10)).await.unwrap();
    assert_eq!(third.wait_exit(Duration::from_secs(10)).await.unwrap().code(), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn agent_comes_back_after_the_pop_restarts() {
    let mut pop = PopProcess::start(BIN, PopOptions { fixed_ports: true, ..Default::default() }).await;
    let token = pop.create_token().await;
    let echo = EchoBackend::start().await.unwrap();
    let agent = AgentProcess::http(&pop, &token, &echo.addr().to_string(), &["--url", "https://back.edge.test"]).await;
    let client = client_for(&["back.edge.test"], None);
    assert_eq!(client.get(pop.http_url("back", "/echo")).send().await.unwrap().status(), 200);

    pop.restart().await;
    // The token survived the restart (state in data_dir) and the agent re-registered.
    let url = pop.http_url("back", "/echo");
    wait_for_ok(Duration::from_secs(20), || async {
        let res = client.get(&url).send().await.map_err(|e| e.to_string())?;
        if res.status() == 200 { Ok(()) } else { Err(format!("status {}", res.status())) }
    })
    .await
    .unwrap();
    let onlines = agent.process.stdout_lines().iter().filter(|l| l.contains("endpoint online")).count();
    assert_eq!(onlines, 2, "{:?}", agent.process.stdout_lines());
}

#[tokio::test(flavor = "multi_thread")]
async fn revoked_token_closes_its_tunnels_within_a_second() {
    let (pop, token) = pop().await;
    let echo = EchoBackend::start().await.unwrap();
    let mut agent =
        AgentProcess::http(&pop, &token, &echo.addr().to_string(), &["--url", "https://rev.edge.test"]).await;
    let list = pop.admin(&["tokens", "list"]).await;
    let tokens: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let id = tokens[0]["id"].as_str().unwrap().to_owned();
    assert!(!list.stdout.contains(&token), "secrets are never listed");

    let started = std::time::Instant::now();
    let out = pop.admin(&["tokens", "revoke", &id]).await;
    assert!(out.success(), "{}", out.stderr);
    agent.process.wait_for_line(|l| l.contains("WARREN_ERR_AUTHTOKEN_REVOKED"), Duration::from_secs(5)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(agent.process.wait_exit(Duration::from_secs(5)).await.unwrap().code(), Some(1));

    let client = client_for(&["rev.edge.test"], None);
    let (status, code) = error_code(client.get(pop.http_url("rev", "/")).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (502, "WARREN_ERR_ENDPOINT_OFFLINE"));

    // The revoked token cannot come back.
    let mut again = AgentProcess::spawn(&pop, "http", &token, &echo.addr().to_string(), &[]);
    again.wait_for_line(|l| l.contains("WARREN_ERR_AUTHTOKEN_REVOKED"), Duration::from_secs(10)).await.unwrap();
    assert_eq!(again.wait_exit(Duration::from_secs(10)).await.unwrap().code(), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn each_error_code_with_its_status() {
    let (pop, token) = pop().await;
    let client = client_for(&["nothing.edge.test", "refused.edge.test", "slow.edge.test"], None);

    let (status, code) = error_code(client.get(pop.http_url("nothing", "/")).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (404, "WARREN_ERR_ENDPOINT_NOT_FOUND"));
    let html = client.get(pop.http_url("nothing", "/")).header("accept", "text/html,*/*").send().await.unwrap();
    assert_eq!(html.status(), 404);
    assert!(html.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(html.text().await.unwrap().contains("WARREN_ERR_ENDPOINT_NOT_FOUND"));

    // A backend that refuses connections: a port that nothing listens on.
    let dead = warren_test_support::free_tcp_port().unwrap();
    let _refused =
        AgentProcess::http(&pop, &token, &format!("127.0.0.1:{dead}"), &["--url", "https://refused.edge.test"]).await;
    let (status, code) = error_code(client.get(pop.http_url("refused", "/")).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (502, "WARREN_ERR_UPSTREAM_REFUSED"));

    // A backend that does not answer in time.
    let echo = EchoBackend::start().await.unwrap();
    let mut slow = AgentProcess::http(
        &pop,
        &token,
        &echo.addr().to_string(),
        &["--url", "https://slow.edge.test", "--response-timeout", "1"],
    )
    .await;
    let (status, code) = error_code(client.get(pop.http_url("slow", "/delay?ms=5000")).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (504, "WARREN_ERR_UPSTREAM_TIMEOUT"));

    // The agent goes away: the URL is known but offline.
    slow.process.kill().await.unwrap();
    let url = pop.http_url("slow", "/");
    wait_until(Duration::from_secs(10), || async {
        match client.get(&url).send().await {
            Ok(res) => res.status() == 502,
            Err(_) => false,
        }
    })
    .await
    .unwrap();
    let (status, code) = error_code(client.get(pop.http_url("slow", "/")).send().await.unwrap()).await;
    assert_eq!((status, code.as_str()), (502, "WARREN_ERR_ENDPOINT_OFFLINE"));

    // A bad authtoken: the agent exits 1 with the code.
    let mut bad = AgentProcess::spawn(&pop, "http", "wrn_not-a-token", "8080", &[]);
    bad.wait_for_line(|l| l.contains("WARREN_ERR_AUTHTOKEN_INVALID"), Duration::from_secs(10)).await.unwrap();
    assert_eq!(bad.wait_exit(Duration::from_secs(10)).await.unwrap().code(), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_in_flight_requests() {
    let (mut pop, token) = pop().await;
    let echo = EchoBackend::start().await.unwrap();
    let _agent =
        AgentProcess::http(&pop, &token, &echo.addr().to_string(), &["--url", "https://drain.edge.test"]).await;
    let client = client_for(&["drain.edge.test"], None);
    let url = pop.http_url("drain", "/delay?ms=1500");
    let in_flight = tokio::spawn(async move { client.get(url).send().await.map(|r| r.status().as_u16()) });
    wait_until(Duration::from_secs(5), || async { echo.requests() == 1 }).await.unwrap();
    let status = pop.process.terminate(Duration::from_secs(15)).await.unwrap();
    assert_eq!(status.code(), Some(0), "clean exit after draining");
    assert_eq!(in_flight.await.unwrap().unwrap(), 200, "the in-flight request finished");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_show_requests_and_sessions() {
    let (pop, token) = pop().await;
    let echo = EchoBackend::start().await.unwrap();
    let _agent = AgentProcess::http(&pop, &token, &echo.addr().to_string(), &["--url", "https://m.edge.test"]).await;
    let client = client_for(&["m.edge.test"], None);
    for _ in 0..3 {
        assert_eq!(client.get(pop.http_url("m", "/echo")).send().await.unwrap().status(), 200);
    }
    let _ = client.get(pop.http_url("unknown", "/")).send().await;
    let text = reqwest::get(format!("http://{}/metrics", pop.admin)).await.unwrap().text().await.unwrap();
    let value = |name: &str, must: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name) && l.contains(must))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    };
    assert_eq!(value("warren_tunnel_sessions_active", ""), 1.0, "{text}");
    assert!(value("warren_edge_requests_total", "2xx") >= 3.0, "{text}");
    assert!(value("warren_tunnel_streams_opened_total", "") >= 3.0, "{text}");
    assert!(text.contains("warren_edge_request_duration_seconds"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tcp_fallback_carries_requests_and_counts_its_sessions() {
    let (pop, token) = pop().await;
    let echo = EchoBackend::start().await.unwrap();
    let client = client_for(&["fb.edge.test", "auto.edge.test"], None);

    // Forced TCP+TLS, to the PoP's tunnel port: the fallback listens on the QUIC port's number.
    let _forced = AgentProcess::http(
        &pop,
        &token,
        &echo.addr().to_string(),
        &["--url", "https://fb.edge.test", "--transport", "tcp"],
    )
    .await;
    for _ in 0..3 {
        let res = client.post(pop.http_url("fb", "/echo")).body("over tcp").send().await.unwrap();
        assert_eq!(res.status(), 200);
        let v: serde_json::Value = res.json().await.unwrap();
        assert_eq!(v["body_len"], 8, "{v}");
    }
    let metrics =
        || async { reqwest::get(format!("http://{}/metrics", pop.admin)).await.unwrap().text().await.unwrap() };
    let value = |text: &str, name: &str, must: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name) && l.contains(must))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    };
    let text = metrics().await;
    assert_eq!(value(&text, "warren_tunnel_sessions_active", ""), 1.0, "{text}");
    assert_eq!(value(&text, "warren_tunnel_sessions_total", "transport=\"tcp\""), 1.0, "{text}");
    assert_eq!(value(&text, "warren_tunnel_sessions_total", "transport=\"quic\""), 0.0, "{text}");

    // UDP blocked: the agent is pointed at a port where datagrams vanish and TCP is relayed to
    // the PoP. It says so once, and comes online over TCP+TLS.
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = relay.local_addr().unwrap();
    let _black_hole = std::net::UdpSocket::bind(port).expect("the relay's port is free on UDP too");
    let tunnel = pop.tunnel;
    tokio::spawn(async move {
        while let Ok((mut a, _)) = relay.accept().await {
            tokio::spawn(async move {
                let mut b = tokio::net::TcpStream::connect(tunnel).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
            });
        }
    });
    let auto = AgentProcess::http_via(
        &pop,
        &port.to_string(),
        &token,
        &echo.addr().to_string(),
        &["--url", "https://auto.edge.test"],
    )
    .await;
    let warning = format!("UDP to {port} seems blocked; using TCP+TLS");
    assert_eq!(auto.process.lines().iter().filter(|l| l.contains(&warning)).count(), 1, "{:?}", auto.process.lines());
    assert_eq!(client.get(pop.http_url("auto", "/echo")).send().await.unwrap().status(), 200);
    let text = metrics().await;
    assert_eq!(value(&text, "warren_tunnel_sessions_active", ""), 2.0, "{text}");
    assert_eq!(value(&text, "warren_tunnel_sessions_total", "transport=\"tcp\""), 2.0, "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_protocol_v1_tells_a_tcp_backend_the_real_client() {
    let port = warren_test_support::free_tcp_port().unwrap();
    let pop = PopProcess::start(BIN, PopOptions { tcp_ports: Some((port, port)), ..Default::default() }).await;
    let token = pop.create_token().await;
    // A backend that sends back everything it received, PROXY header included.
    let backend = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend_addr = backend.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut conn, _) = backend.accept().await.unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).await.unwrap();
        conn.write_all(&got).await.unwrap();
        conn.shutdown().await.unwrap();
    });
    let _agent = AgentProcess::tcp(&pop, &token, &backend_addr.to_string(), &["--proxy-protocol", "v1"]).await;
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let me = conn.local_addr().unwrap();
    conn.write_all(b"ping").await.unwrap();
    conn.shutdown().await.unwrap();
    let mut back = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut back)).await.unwrap().unwrap();
    let expected = format!("PROXY TCP4 127.0.0.1 127.0.0.1 {} {port}\r\nping", me.port());
    assert_eq!(String::from_utf8_lossy(&back), expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_pop_certificate_stops_the_agent_with_a_hint() {
    let (pop, token) = pop().await;
    let mut agent = warren_test_support::WarrenProcess::builder(BIN)
        .args(["http", "8080", "--authtoken", &token, "--transport", "quic", "--server-addr"])
        .arg(pop.tunnel.to_string())
        .env_remove("WARREN_AUTHTOKEN")
        .env("XDG_CONFIG_HOME", pop.dir.join("nothing"))
        .name("agent without --ca-file")
        .spawn()
        .unwrap();
    let line = agent.wait_for_line(|l| l.contains("--ca-file"), Duration::from_secs(15)).await.unwrap();
    assert!(line.contains("does not trust"), "{line}");
    assert_eq!(agent.wait_exit(Duration::from_secs(5)).await.unwrap().code(), Some(1));
}

/// Waits until a PoP's admin API counts `n` agents for `url`; on timeout the error shows the last
/// listing.
async fn wait_agents(pop: &PopProcess, url: &str, n: u64, within: Duration) {
    wait_for_ok(within, || async {
        let out = pop.admin(&["endpoints", "list"]).await;
        let list: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
        let count: u64 = list
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["url"] == url)
            .filter_map(|e| e["agents"].as_u64())
            .sum();
        if count == n { Ok(()) } else { Err(format!("{count} agents: {} {}", out.stdout, out.stderr)) }
    })
    .await
    .unwrap_or_else(|e| panic!("waiting for {n} agents of {url}: {e}"));
}

async fn signal(process: &warren_test_support::WarrenProcess, sig: &str) {
    let status = tokio::process::Command::new("kill").arg(sig).arg(process.pid().to_string()).status().await.unwrap();
    assert!(status.success(), "kill {sig}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_whose_network_dies_loses_its_binding_and_comes_back() {
    let (pop, token) = pop().await;
    let a = EchoBackend::start_with_name("a").await.unwrap();
    let b = EchoBackend::start_with_name("b").await.unwrap();
    let url = "https://net.edge.test";
    let args = ["--url", url, "--pooling-enabled"];
    let agent_a = AgentProcess::http(&pop, &token, &a.addr().to_string(), &args).await;
    let _agent_b = AgentProcess::http(&pop, &token, &b.addr().to_string(), &args).await;
    wait_agents(&pop, url, 2, Duration::from_secs(10)).await;

    // Agent a's network dies: frozen (SIGSTOP), its tunnel neither answers nor closes, as with a
    // pulled cable or a NAT binding gone. The PoP must notice by itself and drop the binding.
    signal(&agent_a.process, "-STOP").await;
    let frozen = std::time::Instant::now();
    wait_agents(&pop, url, 1, Duration::from_secs(15)).await;
    let noticed = frozen.elapsed();
    eprintln!("binding of the frozen agent dropped after {noticed:?}");
    assert!(noticed < Duration::from_secs(10), "the stale binding lived {noticed:?}");
    let client = client_for(&["net.edge.test"], None);
    for _ in 0..6 {
        let res = tokio::time::timeout(Duration::from_secs(5), client.get(pop.http_url("net", "/echo")).send())
            .await
            .expect("no request waits on the dead tunnel")
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["x-backend"], "b");
    }

    // The network comes back: the agent notices its tunnel is gone, reconnects, and serves again.
    signal(&agent_a.process, "-CONT").await;
    wait_agents(&pop, url, 2, Duration::from_secs(20)).await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let res = client.get(pop.http_url("net", "/echo")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        seen.insert(res.headers()["x-backend"].to_str().unwrap().to_owned());
    }
    assert_eq!(seen.len(), 2, "both agents serve again: {seen:?}");
    let onlines = agent_a.process.stdout_lines().iter().filter(|l| l.contains("endpoint online")).count();
    assert!(onlines >= 2, "the agent came back online by itself: {:?}", agent_a.process.lines());
}
