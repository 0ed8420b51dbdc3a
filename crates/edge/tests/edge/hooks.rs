//! What the PoP and the policy issue build on: upgrades through the edge, the request guard,
//! and the metrics the edge records.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::HeaderMap;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use tokio_tungstenite::tungstenite::Message;
use warren_core::{ErrorCode, Zone};
use warren_edge::{BoxFuture, EdgeConfig, EdgeServer, GuardOutcome, RequestContext, RequestGuard};
use warren_test_support::{EchoBackend, wait_until_sync};

use crate::harness::{FakeRouter, HOST, client, http_url, start_edge};

#[tokio::test]
async fn websocket_through_the_edge() {
    let backend = EchoBackend::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let edge = start_edge(FakeRouter::new(backend.addr()), dir.path()).await;
    let tcp = tokio::net::TcpStream::connect(edge.http_addr().unwrap()).await.unwrap();
    let url = format!("ws://{HOST}/ws");
    let (mut ws, resp) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    assert_eq!(resp.status(), 101);
    ws.send(Message::text("ping")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("ping"));
    ws.close(None).await.unwrap();
}

/// Refuses requests without `x-key`, tags the others on the way in and out.
struct KeyGuard;

impl RequestGuard for KeyGuard {
    fn on_request<'a>(
        &'a self,
        ctx: &'a RequestContext,
        req: &'a mut http::request::Parts,
    ) -> BoxFuture<'a, GuardOutcome> {
        Box::pin(async move {
            if req.headers.contains_key("x-key") {
                req.headers.insert("x-guard-host", ctx.host.parse().unwrap());
                return GuardOutcome::Continue;
            }
            let mut headers = HeaderMap::new();
            headers.insert("retry-after", "7".parse().unwrap());
            GuardOutcome::Reject { code: ErrorCode::RateLimited, reason: Some("slow down".into()), headers }
        })
    }

    fn on_response(
        &self,
        _ctx: &RequestContext,
        _req: Option<&http::request::Parts>,
        resp: &mut http::response::Parts,
    ) {
        resp.headers.insert("x-guarded", "1".parse().unwrap());
    }
}

#[tokio::test]
async fn the_request_guard_can_rewrite_or_reject() {
    let backend = EchoBackend::start().await.unwrap();
    let cfg = EdgeConfig {
        http: Some("127.0.0.1:0".parse().unwrap()),
        https: None,
        zone: Zone::parse("edge.test").unwrap(),
        tls: None,
    };
    let edge = EdgeServer::start_with_guard(cfg, FakeRouter::new(backend.addr()), Arc::new(KeyGuard)).await.unwrap();
    assert!(edge.https_addr().is_none() && edge.dev_ca_pem_path().is_none());
    let client = client(&edge, edge.http_addr().unwrap(), |b| b);

    let resp = client.get(http_url(&edge, HOST, "/echo")).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "WARREN_ERR_RATE_LIMITED");
    assert_eq!(body["error"]["reason"], "slow down");
    assert_eq!(backend.requests(), 0, "a refused request costs the agent nothing");

    let resp = client.get(http_url(&edge, HOST, "/echo")).header("x-key", "k").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-guarded"], "1");
    let echo: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(echo["headers"]["x-guard-host"], serde_json::json!([HOST]));
}

/// Counters and gauges by `name{label=value,…}`, histograms ignored.
#[derive(Default)]
struct TestRecorder {
    values: Mutex<HashMap<String, Arc<AtomicU64>>>,
}

impl TestRecorder {
    fn cell(&self, key: &Key) -> Arc<AtomicU64> {
        let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        Arc::clone(self.values.lock().unwrap().entry(name).or_default())
    }

    fn counter(&self, name: &str) -> u64 {
        self.values.lock().unwrap().get(name).map_or(0, |v| v.load(Ordering::SeqCst))
    }

    fn gauge(&self, name: &str) -> f64 {
        f64::from_bits(self.counter(name))
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.cell(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.cell(key))
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

// A current-thread runtime: every task of the edge runs on this thread, where the local
// recorder is installed.
#[tokio::test(flavor = "current_thread")]
async fn requests_bytes_errors_and_connections_are_counted() {
    let recorder = TestRecorder::default();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let backend = EchoBackend::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let edge = start_edge(FakeRouter::new(backend.addr()), dir.path()).await;
    {
        let client = client(&edge, edge.http_addr().unwrap(), |b| b.http1_only());
        let resp = client.post(http_url(&edge, HOST, "/echo")).body("hello").send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let sent = resp.bytes().await.unwrap().len() as u64;
        let resp = client.get(http_url(&edge, "nowhere.edge.test", "/")).send().await.unwrap();
        assert_eq!(resp.status(), 404);
        // reqwest may open a second connection before the first is back in its pool.
        assert!(recorder.gauge("warren_edge_active_connections{proto=http}") >= 1.0);
        assert_eq!(recorder.counter("warren_edge_requests_total{proto=http,status=2xx}"), 1);
        assert_eq!(recorder.counter("warren_edge_requests_total{proto=http,status=4xx}"), 1);
        assert_eq!(recorder.counter("warren_edge_errors_total{code=WARREN_ERR_ENDPOINT_NOT_FOUND}"), 1);
        assert_eq!(recorder.counter("warren_edge_bytes_received_total{proto=http}"), 5);
        // The error page's bytes count as sent too.
        assert!(recorder.counter("warren_edge_bytes_sent_total{proto=http}") > sent);
    }
    wait_until_sync(Duration::from_secs(10), || recorder.gauge("warren_edge_active_connections{proto=http}") == 0.0)
        .await
        .unwrap();
}
