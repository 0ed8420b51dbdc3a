//! The cluster: real `warren pop` processes on loopback sharing their state through Raft, and
//! serving each other's endpoints.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use warren_test_support::{
    AgentProcess, Cluster, EchoBackend, PopProcess, TEST_POPS, client_for, cluster_yaml, free_tcp_udp_port,
    pop_options, wait_for, wait_until,
};

const BIN: &str = env!("CARGO_BIN_EXE_warren");
const CONVERGE: Duration = Duration::from_secs(20);

fn admin() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(15)).no_proxy().build().unwrap()
}

/// `GET path` on a PoP's admin API.
async fn get(pop: &PopProcess, path: &str) -> Option<Value> {
    let res = admin().get(format!("http://{}{path}", pop.admin)).bearer_auth(&pop.admin_token).send().await.ok()?;
    if !res.status().is_success() {
        return None;
    }
    res.json().await.ok()
}

async fn ready(pop: &PopProcess) -> bool {
    let res = admin().get(format!("http://{}/readyz", pop.admin)).send().await;
    res.is_ok_and(|r| r.status() == 200)
}

/// Waits until every PoP is ready and agrees on one leader with `voters` voters.
async fn converged(pops: &[&PopProcess], voters: usize) -> String {
    wait_for(CONVERGE, || async {
        let mut leader = None;
        for pop in pops {
            if !ready(pop).await {
                return None;
            }
            let status = get(pop, "/v1/cluster").await?;
            let l = status["leader"].as_str()?.to_owned();
            let n = status["members"].as_array()?.iter().filter(|m| m["voter"] == true).count();
            if n != voters || leader.as_ref().is_some_and(|x| *x != l) {
                return None;
            }
            leader = Some(l);
        }
        leader
    })
    .await
    .expect("the cluster converges on one leader")
}

async fn token_count(pop: &PopProcess) -> Option<usize> {
    Some(get(pop, "/v1/tokens").await?.as_array()?.len())
}

/// Waits until `pop` knows that `url` is held by exactly `holders`.
async fn held_by(pop: &PopProcess, url: &str, holders: &[&str]) {
    let want: Vec<String> = holders.iter().map(|s| (*s).to_owned()).collect();
    wait_until(CONVERGE, || async {
        let Some(list) = get(pop, "/v1/endpoints").await else { return false };
        let pops: Vec<String> = list
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["url"] == url)
            .flat_map(|e| e["pops"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| p.as_str().map(str::to_owned))
            .collect();
        pops == want
    })
    .await
    .unwrap_or_else(|_| panic!("{} never saw {url} held by {holders:?}", pop.id));
}

#[tokio::test(flavor = "multi_thread")]
async fn any_pop_serves_an_endpoint_whose_agent_is_on_another() {
    let cluster = Cluster::start(BIN, 3).await;
    let [fra, iad, sin] = [&cluster.pops[0], &cluster.pops[1], &cluster.pops[2]];
    converged(&[fra, iad, sin], 3).await;

    // A token created through one PoP authenticates an agent on another.
    let token = fra.create_token().await;
    wait_until(CONVERGE, || async { token_count(iad).await == Some(1) }).await.unwrap();
    let echo = EchoBackend::start_with_name("origin").await.unwrap();
    let _agent = AgentProcess::http(iad, &token, &echo.addr().to_string(), &["--url", "https://api.edge.test"]).await;
    held_by(sin, "https://api.edge.test", &["pop-iad"]).await;

    // The agent is connected to pop-iad only; requests entering pop-fra and pop-sin reach it.
    let client = client_for(&["api.edge.test", "nobody.edge.test"], None);
    for pop in [fra, sin, iad] {
        let res =
            client.get(pop.http_url("api", "/echo?via=1")).header("x-forwarded-for", "6.6.6.6").send().await.unwrap();
        assert_eq!(res.status(), 200, "through {}", pop.id);
        assert_eq!(res.headers()["x-backend"], "origin");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["path"], "/echo");
        // The backend sees the real client, not what the client claimed, across PoPs too.
        assert_eq!(body["headers"]["x-forwarded-for"], serde_json::json!(["127.0.0.1"]), "through {}", pop.id);
        assert_eq!(body["headers"]["host"], serde_json::json!([format!("api.edge.test:{}", pop.http.port())]));
    }

    // Streaming survives the extra hop: a large upload hashes the same, SSE events arrive one
    // by one, and a WebSocket echoes.
    let upload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let res = client.post(sin.http_url("api", "/upload")).body(upload.clone()).send().await.unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["body_len"], upload.len());
    use sha2::Digest;
    assert_eq!(body["body_sha256"], hex::encode(sha2::Sha256::digest(&upload)));

    let mut sse = client.get(fra.http_url("api", "/sse?n=3&interval_ms=300")).send().await.unwrap();
    let started = Instant::now();
    let mut arrivals = Vec::new();
    while let Some(chunk) = sse.chunk().await.unwrap() {
        if String::from_utf8_lossy(&chunk).contains("data: event-") {
            arrivals.push(started.elapsed());
        }
    }
    assert_eq!(arrivals.len(), 3, "three events, each in its own chunk");
    assert!(arrivals[2] - arrivals[0] >= Duration::from_millis(500), "events were buffered: {arrivals:?}");

    let stream = tokio::net::TcpStream::connect(sin.http).await.unwrap();
    let url = format!("ws://api.edge.test:{}/ws", sin.http.port());
    let (mut ws, resp) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    assert_eq!(resp.status(), 101);
    ws.send(tokio_tungstenite::tungstenite::Message::text("across pops")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap().into_text().unwrap().as_str(), "across pops");

    // The operator's policy set on one PoP applies at every PoP within a second.
    let policy = cluster.dir.write(
        "operator.yaml",
        "on_http_response:\n  - actions:\n      - type: add-headers\n        config:\n          headers:\n            x-operator: \"v2\"\n",
    );
    let out = iad.admin(&["policy", "set", policy.to_str().unwrap()]).await;
    assert!(out.success(), "{}", out.stderr);
    let set_at = Instant::now();
    for pop in [fra, iad, sin] {
        wait_until(Duration::from_secs(1).saturating_sub(set_at.elapsed()), || async {
            get(pop, "/v1/policy").await.is_some_and(|p| p["version"] == 1)
        })
        .await
        .unwrap_or_else(|_| panic!("{} did not apply the policy within a second", pop.id));
    }
    for pop in [fra, iad, sin] {
        let res = client.get(pop.http_url("api", "/echo")).send().await.unwrap();
        assert_eq!(res.headers().get("x-operator").map(|v| v.to_str().unwrap()), Some("v2"), "via {}", pop.id);
    }

    // Every PoP reports how far behind the proposals it applies, and its Raft term.
    for pop in [fra, iad, sin] {
        let text = admin().get(format!("http://{}/metrics", pop.admin)).send().await.unwrap().text().await.unwrap();
        let value = |name: &str| -> Option<f64> {
            text.lines().find(|l| l.starts_with(name))?.rsplit(' ').next()?.parse().ok()
        };
        assert!(value("warren_raft_apply_lag_seconds_count").is_some_and(|n| n >= 1.0), "{}:\n{text}", pop.id);
        assert!(value("warren_raft_apply_seconds_count").is_some_and(|n| n >= 1.0), "{}", pop.id);
        assert!(value("warren_raft_term").is_some_and(|t| t >= 1.0), "{}", pop.id);
    }

    // An endpoint nobody holds is still a 404 everywhere, with its code.
    let res = client.get(fra.http_url("nobody", "/")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["warren-error-code"], "WARREN_ERR_ENDPOINT_NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread")]
async fn leader_failover_restart_catch_up_and_a_minority_refusing_writes() {
    let mut cluster = Cluster::start(BIN, 3).await;
    let leader = {
        let pops: Vec<&PopProcess> = cluster.pops.iter().collect();
        converged(&pops, 3).await
    };
    let first = cluster.pops[0].create_token().await;
    assert!(first.starts_with("wrn_"));

    // Kill the leader: the others elect a new one and writes continue.
    let li = cluster.pops.iter().position(|p| p.id == leader).unwrap();
    cluster.pops[li].process.kill().await.unwrap();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != li).collect();
    let new_leader = wait_for(CONVERGE, || async {
        let s = get(&cluster.pops[survivors[0]], "/v1/cluster").await?;
        s["leader"].as_str().filter(|l| *l != leader).map(str::to_owned)
    })
    .await
    .expect("a new leader is elected");
    assert_ne!(new_leader, leader);
    for i in &survivors {
        let t = cluster.pops[*i].create_token().await;
        assert!(t.starts_with("wrn_"), "writes through {} continue", cluster.pops[*i].id);
    }
    let s = get(&cluster.pops[survivors[1]], "/v1/cluster").await.unwrap();
    let old = s["members"].as_array().unwrap().iter().find(|m| m["id"] == leader).unwrap().clone();
    wait_until(CONVERGE, || async {
        let s = get(&cluster.pops[survivors[1]], "/v1/cluster").await.unwrap();
        s["members"].as_array().unwrap().iter().any(|m| m["id"] == leader && m["healthy"] == false)
    })
    .await
    .unwrap_or_else(|_| panic!("the killed PoP is never reported unhealthy: {old}"));

    // The killed PoP restarts and catches up with nothing lost.
    cluster.pops[li].start_again().await;
    let restarted = &cluster.pops[li];
    wait_until(CONVERGE, || async { token_count(restarted).await == Some(3) && ready(restarted).await })
        .await
        .expect("the restarted PoP has all three tokens");
    let applied = |s: &Value| -> Vec<Option<u64>> {
        s["members"].as_array().unwrap().iter().map(|m| m["last_applied"].as_u64()).collect()
    };
    wait_until(CONVERGE, || async {
        let s = get(restarted, "/v1/cluster").await.unwrap();
        s["members"].as_array().unwrap().iter().all(|m| m["healthy"] == true)
    })
    .await
    .unwrap();

    // Two PoPs die: the third keeps answering reads and refuses writes with a clear error.
    let keep = survivors[0];
    for i in (0..3).filter(|i| *i != keep) {
        cluster.pops[i].process.kill().await.unwrap();
    }
    let alone = &cluster.pops[keep];
    let started = Instant::now();
    let out = alone.admin(&["tokens", "create"]).await;
    assert!(!out.success(), "a minority must refuse writes");
    assert!(out.stderr.contains("WARREN_ERR_NO_QUORUM") && out.stderr.contains("no quorum"), "{}", out.stderr);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(token_count(alone).await, Some(3), "reads still answer from the local copy");
    let s = get(alone, "/v1/cluster").await.unwrap();
    assert!(!applied(&s).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn membership_a_learner_joins_and_a_pop_without_the_secret_cannot() {
    let cluster = Cluster::start(BIN, 3).await;
    let pops: Vec<&PopProcess> = cluster.pops.iter().collect();
    converged(&pops, 3).await;
    let token = cluster.pops[0].create_token().await;

    // A fourth PoP with the right secret, added by the operator as a learner through a PoP that
    // need not be the leader.
    let port = free_tcp_udp_port().unwrap();
    let own = vec![(TEST_POPS[3].0.to_owned(), port)];
    let syd =
        PopProcess::start(BIN, pop_options(3, port, cluster_yaml(false, &own, &cluster.secret), &cluster.ca_dir)).await;
    assert!(!ready(&syd).await, "not a member yet");
    let out =
        cluster.pops[2].admin(&["cluster", "add-member", "pop-syd", &format!("127.0.0.1:{port}"), "--learner"]).await;
    assert!(out.success(), "{}", out.stderr);
    wait_until(CONVERGE, || async {
        let Some(s) = get(&cluster.pops[1], "/v1/cluster").await else { return false };
        s["members"].as_array().unwrap().iter().any(|m| m["id"] == "pop-syd" && m["voter"] == false)
    })
    .await
    .expect("pop-syd is a learner");
    wait_until(CONVERGE, || async { token_count(&syd).await == Some(1) && ready(&syd).await })
        .await
        .expect("the learner replicates the state");
    // The learner serves traffic for an agent on another PoP.
    let echo = EchoBackend::start_with_name("fra-origin").await.unwrap();
    let _agent =
        AgentProcess::http(&cluster.pops[0], &token, &echo.addr().to_string(), &["--url", "https://app.edge.test"])
            .await;
    held_by(&syd, "https://app.edge.test", &["pop-fra"]).await;
    let client = client_for(&["app.edge.test"], None);
    let res = client.get(syd.http_url("app", "/echo")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-backend"], "fra-origin");
    // A sixth voter is refused with a reason; removing the learner works.
    let out = cluster.pops[0].admin(&["cluster", "remove-member", "pop-syd"]).await;
    assert!(out.success(), "{}", out.stderr);
    wait_until(CONVERGE, || async {
        let Some(s) = get(&cluster.pops[0], "/v1/cluster").await else { return false };
        s["members"].as_array().unwrap().iter().all(|m| m["id"] != "pop-syd")
    })
    .await
    .unwrap();

    // A PoP with another secret, pointed at the cluster: it cannot join, read or write.
    let dir = warren_test_support::TestDir::new().unwrap();
    let wrong = dir.write("wrong.secret", "not-the-cluster-secret-but-long-enough-0123456789\n");
    let port = free_tcp_udp_port().unwrap();
    let mut peers = cluster.peers.clone();
    peers.push((TEST_POPS[4].0.to_owned(), port));
    let intruder =
        PopProcess::start(BIN, pop_options(4, port, cluster_yaml(false, &peers, &wrong), &cluster.ca_dir)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!ready(&intruder).await);
    assert_eq!(token_count(&intruder).await, Some(0), "it learned no token");
    let out = intruder.admin(&["tokens", "create"]).await;
    assert!(!out.success(), "it cannot write");
    let s = get(&cluster.pops[0], "/v1/cluster").await.unwrap();
    assert!(s["members"].as_array().unwrap().iter().all(|m| m["id"] != "pop-gru"), "{s}");
    let metrics = admin().get(format!("http://{}/metrics", cluster.pops[0].admin)).send().await.unwrap();
    let text = metrics.text().await.unwrap();
    let refused: f64 = text
        .lines()
        .filter(|l| l.starts_with("warren_cluster_auth_failures_total{direction=\"inbound\"}"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(refused >= 1.0, "the refusals are counted:\n{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_on_two_pops_survives_one_dying_and_stale_bindings_are_cleared() {
    let mut cluster = Cluster::start(BIN, 3).await;
    {
        let pops: Vec<&PopProcess> = cluster.pops.iter().collect();
        converged(&pops, 3).await;
    }
    let token = cluster.pops[0].create_token().await;
    wait_until(CONVERGE, || async { token_count(&cluster.pops[1]).await == Some(1) }).await.unwrap();
    let echo = EchoBackend::start_with_name("both").await.unwrap();
    let second = cluster.pops[1].tunnel.to_string();
    let _agent = AgentProcess::http(
        &cluster.pops[0],
        &token,
        &echo.addr().to_string(),
        &["--url", "https://multi.edge.test", "--server-addr", &second],
    )
    .await;
    held_by(&cluster.pops[2], "https://multi.edge.test", &["pop-fra", "pop-iad"]).await;
    let client = client_for(&["multi.edge.test"], None);
    let res = client.get(cluster.pops[2].http_url("multi", "/echo")).send().await.unwrap();
    assert_eq!(res.status(), 200);

    // pop-fra dies without a goodbye: requests entering pop-sin keep working through pop-iad,
    // and the dead PoP's binding is expired by the leader.
    cluster.pops[0].process.kill().await.unwrap();
    let sin = &cluster.pops[2];
    let failed_at = Instant::now();
    let mut errors = 0;
    let mut recovered = None;
    while failed_at.elapsed() < Duration::from_secs(15) {
        let res = client.get(sin.http_url("multi", "/echo")).send().await.unwrap();
        if res.status() == 200 {
            recovered.get_or_insert(failed_at.elapsed());
        } else {
            errors += 1;
        }
        if failed_at.elapsed() > Duration::from_secs(3) && recovered.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered.is_some(), "traffic never recovered ({errors} errors)");
    held_by(sin, "https://multi.edge.test", &["pop-iad"]).await;
    let res = client.get(sin.http_url("multi", "/echo")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

/// Connects to `ip:port`, sends `payload`, half-closes, and returns what came back (`None`: the
/// connection was refused or closed without an answer).
async fn tcp_roundtrip(ip: &str, port: u16, payload: &[u8]) -> Option<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect((ip, port)).await.ok()?;
    conn.write_all(payload).await.ok()?;
    conn.shutdown().await.ok()?;
    let mut back = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut back)).await.ok()?.ok()?;
    (!back.is_empty()).then_some(back)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tcp_endpoint_is_served_on_every_pop_with_its_port_unique_in_the_cluster() {
    let first = warren_test_support::free_tcp_port().unwrap();
    let ports = (first, first + 1);
    // Each PoP on its own loopback address, all with the same port range, as on real hosts.
    let ip = |i: usize| format!("127.0.2.{}", i + 1);
    let cluster = Cluster::start_with(BIN, 3, |i, o| {
        o.tcp_ports = Some(ports);
        o.http_ip = ip(i);
    })
    .await;
    let [fra, iad, sin] = [&cluster.pops[0], &cluster.pops[1], &cluster.pops[2]];
    converged(&[fra, iad, sin], 3).await;
    let token = fra.create_token().await;
    wait_until(CONVERGE, || async { token_count(iad).await == Some(1) }).await.unwrap();

    // An agent on pop-fra gets the first port; it is reachable on every PoP.
    let echo = warren_test_support::TcpEchoBackend::start().await.unwrap();
    let open = AgentProcess::tcp(fra, &token, &echo.addr().to_string(), &[]).await;
    let open_url = format!("tcp://edge.test:{}", ports.0);
    assert_eq!(open.url, open_url);
    held_by(sin, &open_url, &["pop-fra"]).await;
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 249) as u8).collect();
    for (i, pop) in [fra, iad, sin].iter().enumerate() {
        let addr = ip(i);
        let back = wait_for(CONVERGE, || tcp_roundtrip(&addr, ports.0, &payload))
            .await
            .unwrap_or_else(|_| panic!("{}:{} never relayed to the agent on pop-fra", pop.id, ports.0));
        assert!(back == payload, "through {}: {} bytes back", pop.id, back.len());
    }

    // An agent on pop-iad cannot get the port pop-fra hands out: it gets the next one. Its
    // on_tcp_connect policy refuses loopback clients, at whichever PoP they enter.
    let policy = cluster.dir.write(
        "deny.yaml",
        "on_tcp_connect:\n  - actions:\n      - type: restrict-ips\n        config:\n          deny: [127.0.0.0/8]\n",
    );
    let guarded =
        AgentProcess::tcp(iad, &token, &echo.addr().to_string(), &["--traffic-policy-file", policy.to_str().unwrap()])
            .await;
    let guarded_url = format!("tcp://edge.test:{}", ports.1);
    assert_eq!(guarded.url, guarded_url);
    held_by(fra, &guarded_url, &["pop-iad"]).await;
    let connections = echo.connections();
    for (i, pop) in [fra, iad, sin].iter().enumerate() {
        // Wait until the port is open there, then expect the policy to close it unanswered.
        wait_until(CONVERGE, || async { tokio::net::TcpStream::connect((ip(i).as_str(), ports.1)).await.is_ok() })
            .await
            .unwrap_or_else(|_| panic!("{} never listened on {}", pop.id, ports.1));
        assert_eq!(tcp_roundtrip(&ip(i), ports.1, b"let me in").await, None, "through {}", pop.id);
    }
    assert_eq!(echo.connections(), connections, "refused connections never reached the backend");

    // The agent leaves: the port closes on every PoP.
    drop(open);
    for (i, pop) in [fra, iad, sin].iter().enumerate() {
        wait_until(CONVERGE, || async { tokio::net::TcpStream::connect((ip(i).as_str(), ports.0)).await.is_err() })
            .await
            .unwrap_or_else(|_| panic!("{} still listens on {} after the agent left", pop.id, ports.0));
    }
}

/// The URLs in an agent's `endpoint online` lines so far.
fn online_urls(agent: &AgentProcess) -> Vec<String> {
    agent
        .process
        .lines()
        .iter()
        .filter(|l| l.contains("endpoint online"))
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("https://") || w.starts_with("tcp://")))
        .map(str::to_owned)
        .collect()
}

/// Waits until `agent` has printed `n` `endpoint online` lines, and returns their URLs.
async fn online_n(agent: &AgentProcess, n: usize) -> Vec<String> {
    wait_for(CONVERGE, || async {
        let urls = online_urls(agent);
        (urls.len() >= n).then_some(urls)
    })
    .await
    .unwrap_or_else(|_| panic!("fewer than {n} `endpoint online` lines: {:?}", agent.process.lines()))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_keeps_one_url_on_every_pop_and_no_other_agent_can_take_it() {
    let first = warren_test_support::free_tcp_port().unwrap();
    let ip = |i: usize| format!("127.0.3.{}", i + 1);
    let mut cluster = Cluster::start_with(BIN, 3, |i, o| {
        o.tcp_ports = Some((first, first + 3));
        o.http_ip = ip(i);
    })
    .await;
    {
        let pops: Vec<&PopProcess> = cluster.pops.iter().collect();
        converged(&pops, 3).await;
    }
    let token = cluster.pops[0].create_token().await;
    wait_until(CONVERGE, || async { token_count(&cluster.pops[2]).await == Some(1) }).await.unwrap();
    let echo = EchoBackend::start_with_name("pinned").await.unwrap();
    let tcp_echo = warren_test_support::TcpEchoBackend::start().await.unwrap();
    let iad = cluster.pops[1].tunnel.to_string();

    // No --url: one random name and one port, the same through both PoPs.
    let http = AgentProcess::http(&cluster.pops[0], &token, &echo.addr().to_string(), &["--server-addr", &iad]).await;
    let tcp = AgentProcess::tcp(&cluster.pops[0], &token, &tcp_echo.addr().to_string(), &["--server-addr", &iad]).await;
    let urls = online_n(&http, 2).await;
    assert_eq!(urls[0], urls[1], "one name on both PoPs");
    let tcp_urls = online_n(&tcp, 2).await;
    assert_eq!(tcp_urls[0], tcp_urls[1], "one port on both PoPs");
    let url = urls[0].clone();
    held_by(&cluster.pops[2], &url, &["pop-fra", "pop-iad"]).await;
    held_by(&cluster.pops[2], &tcp_urls[0], &["pop-fra", "pop-iad"]).await;
    // One agent with tunnels to two PoPs is one agent.
    let list = get(&cluster.pops[2], "/v1/endpoints").await.unwrap();
    let entry = list.as_array().unwrap().iter().find(|e| e["url"] == url.as_str()).unwrap().clone();
    assert_eq!(entry["agents"], 1, "{list}");

    // pop-iad restarts: the agents come back to it with the same name and port.
    cluster.pops[1].restart().await;
    assert_eq!(online_n(&http, 3).await[2], url, "the same name after the PoP restarted");
    assert_eq!(online_n(&tcp, 3).await[2], tcp_urls[0], "the same port after the PoP restarted");
    held_by(&cluster.pops[2], &url, &["pop-fra", "pop-iad"]).await;

    // Another agent (even with the same token) cannot take the URL through a third PoP.
    let mut thief = AgentProcess::spawn(&cluster.pops[2], "http", &token, &echo.addr().to_string(), &["--url", &url]);
    thief.wait_for_line(|l| l.contains("WARREN_ERR_URL_IN_USE"), CONVERGE).await.unwrap();
    assert_eq!(thief.wait_exit(Duration::from_secs(10)).await.unwrap().code(), Some(1));
    let mut port_thief =
        AgentProcess::spawn(&cluster.pops[2], "tcp", &token, &tcp_echo.addr().to_string(), &["--url", &tcp_urls[0]]);
    port_thief.wait_for_line(|l| l.contains("WARREN_ERR_URL_IN_USE"), CONVERGE).await.unwrap();
    assert_eq!(port_thief.wait_exit(Duration::from_secs(10)).await.unwrap().code(), Some(1));

    // Requests entering the third PoP still reach the first agent.
    let host = url.trim_start_matches("https://").to_owned();
    let sin_ip: std::net::IpAddr = ip(2).parse().unwrap();
    let client = reqwest::Client::builder()
        .resolve(&host, std::net::SocketAddr::new(sin_ip, 0))
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let res = client.get(format!("http://{host}:{}/echo", cluster.pops[2].http.port())).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-backend"], "pinned");
}

/// A UDP relay on loopback that delays every datagram by `delay` in each direction: a peer
/// "across an ocean" without `tc netem` (not in this kernel). Each source gets its own upstream
/// socket, so the target sees one address per peer, as through a NAT.
struct SlowLink {
    port: u16,
}

impl SlowLink {
    async fn start(delay: Duration, target: std::sync::Arc<std::sync::OnceLock<std::net::SocketAddr>>) -> SlowLink {
        use std::collections::HashMap;
        use std::net::SocketAddr;
        use std::sync::Arc;
        use tokio::net::UdpSocket;
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let port = front.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut upstreams: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
            let mut buf = vec![0u8; 65_536];
            loop {
                let Ok((n, from)) = front.recv_from(&mut buf).await else { return };
                let Some(to) = target.get().copied() else { continue };
                let up = match upstreams.get(&from) {
                    Some(up) => up.clone(),
                    None => {
                        let up = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
                        up.connect(to).await.unwrap();
                        // Replies go back to `from`, delayed too.
                        let (up2, front2) = (up.clone(), front.clone());
                        tokio::spawn(async move {
                            let mut buf = vec![0u8; 65_536];
                            while let Ok(n) = up2.recv(&mut buf).await {
                                let (front, data) = (front2.clone(), buf[..n].to_vec());
                                tokio::spawn(async move {
                                    tokio::time::sleep(delay).await;
                                    let _ = front.send_to(&data, from).await;
                                });
                            }
                        });
                        upstreams.insert(from, up.clone());
                        up
                    }
                };
                let data = buf[..n].to_vec();
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = up.send(&data).await;
                });
            }
        });
        SlowLink { port }
    }
}

/// A voter whose round trip is longer than the Raft heartbeat (the test cluster's is 100 ms; the
/// relay makes pop-sin's 200 ms) still counts towards the quorum: with the third PoP dead, writes
/// go on through the leader and the far voter. openraft gives each AppendEntries the heartbeat as
/// its deadline; before the cluster network outlived that deadline (and dialled and kept its
/// connections independently of each call), such a voter never acknowledged anything, and losing
/// any other PoP stopped every write (`docs/scale.md`, "What it found").
#[tokio::test(flavor = "multi_thread")]
async fn a_voter_farther_than_a_heartbeat_keeps_the_quorum() {
    let target = std::sync::Arc::new(std::sync::OnceLock::new());
    let relay = SlowLink::start(Duration::from_millis(100), target.clone()).await;
    let far = "pop-sin";
    let mut cluster = Cluster::start_with(BIN, 3, |i, opts| {
        if i == 2 {
            let _ = target.set(std::net::SocketAddr::from(([127, 0, 0, 1], opts.cluster_port.unwrap())));
        }
        // Every PoP (pop-sin too: it advertises what its own entry says) reaches pop-sin through
        // the relay.
        let mut yaml = String::new();
        for line in opts.extra_yaml.lines() {
            if line.trim_start().starts_with(&format!("{far}:")) {
                yaml.push_str(&format!("    {far}: 127.0.0.1:{}\n", relay.port));
            } else {
                yaml.push_str(line);
                yaml.push('\n');
            }
        }
        opts.extra_yaml = yaml;
    })
    .await;
    let leader = {
        let pops: Vec<&PopProcess> = cluster.pops.iter().collect();
        converged(&pops, 3).await
    };
    let first = cluster.pops[0].create_token().await;
    assert!(first.starts_with("wrn_"));

    // Kill the PoP that is neither the far one nor the leader (if the far one leads, either other).
    let victim = cluster.pops.iter().position(|p| p.id != far && p.id != leader).unwrap();
    let victim_id = cluster.pops[victim].id.clone();
    cluster.pops[victim].process.kill().await.unwrap();
    let near = cluster.pops.iter().position(|p| p.id != far && p.id != victim_id).unwrap();
    // The quorum is now the near PoP and the far one: writes must still be committed (after an
    // election if the victim led), through either of them.
    for via in [near, 2] {
        let pop = &cluster.pops[via];
        let token = wait_for(CONVERGE, || async {
            let out = pop.admin(&["tokens", "create", "--description", "far quorum"]).await;
            out.success().then(|| out.stdout.lines().last().unwrap_or_default().trim().to_owned())
        })
        .await
        .unwrap_or_else(|_| panic!("no write is committed through {} with {far} as the second voter", pop.id));
        assert!(token.starts_with("wrn_"), "{token}");
    }
    wait_until(CONVERGE, || async { token_count(&cluster.pops[2]).await == Some(3) })
        .await
        .expect("the far PoP applies every write");
}
