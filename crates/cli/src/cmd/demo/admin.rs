//! The demo talking to its PoPs' admin APIs, as `warren admin` does: readiness, the cluster's
//! leader, an agent authtoken, and which PoPs hold the endpoint.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use serde_json::{Value, json};

/// A client for one PoP's admin API.
#[derive(Clone)]
pub(crate) struct Admin {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Admin {
    pub(crate) fn new(addr: SocketAddr, token: &str) -> anyhow::Result<Admin> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .build()
            .context("cannot build the admin client")?;
        Ok(Admin { base: format!("http://{addr}"), token: token.to_owned(), http })
    }

    pub(crate) fn url(&self) -> &str {
        &self.base
    }

    /// `GET /readyz` answers 200: joined the cluster and applied the latest state.
    pub(crate) async fn ready(&self) -> bool {
        let res = self.http.get(format!("{}/readyz", self.base)).send().await;
        res.is_ok_and(|r| r.status().is_success())
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let res = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await?;
        let status = res.status();
        let body: Value = res.json().await.with_context(|| format!("GET {path}: not JSON"))?;
        if !status.is_success() {
            bail!("GET {path}: {status} {}", body["error"]["code"]);
        }
        Ok(body)
    }

    /// The leader's id and the number of voters, once there is a leader.
    pub(crate) async fn leader(&self) -> Option<(String, usize)> {
        let s = self.get("/v1/cluster").await.ok()?;
        let leader = s["leader"].as_str()?.to_owned();
        let voters = s["members"].as_array()?.iter().filter(|m| m["voter"] == true).count();
        Some((leader, voters))
    }

    /// `POST /v1/tokens`: a new agent authtoken `(id, secret)`.
    pub(crate) async fn create_token(&self, description: &str) -> anyhow::Result<(String, String)> {
        let res = self
            .http
            .post(format!("{}/v1/tokens", self.base))
            .bearer_auth(&self.token)
            .json(&json!({ "description": description }))
            .send()
            .await?;
        let status = res.status();
        let body: Value = res.json().await.context("POST /v1/tokens: not JSON")?;
        if !status.is_success() {
            bail!("POST /v1/tokens: {status} {}", body["error"]["code"]);
        }
        let field = |k: &str| body[k].as_str().map(str::to_owned).ok_or_else(|| anyhow!("POST /v1/tokens: no {k}"));
        Ok((field("id")?, field("token")?))
    }

    /// Whether this PoP knows the token `id` (it has replicated it).
    pub(crate) async fn knows_token(&self, id: &str) -> bool {
        let Ok(list) = self.get("/v1/tokens").await else { return false };
        list.as_array().is_some_and(|l| l.iter().any(|t| t["id"] == id))
    }

    /// The PoPs holding a tunnel of `url`, as this PoP sees the replicated registry.
    pub(crate) async fn holders(&self, url: &str) -> Vec<String> {
        let Ok(list) = self.get("/v1/endpoints").await else { return Vec::new() };
        let rows = list.as_array().cloned().unwrap_or_default();
        let mut pops: Vec<String> = rows
            .iter()
            .filter(|e| e["url"] == url)
            .flat_map(|e| e["pops"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| p.as_str().map(str::to_owned))
            .collect();
        pops.sort();
        pops
    }
}

/// Polls `probe` every 100 ms until it gives `Some`, for at most `timeout`.
pub(crate) async fn poll<T, F, Fut>(timeout: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
