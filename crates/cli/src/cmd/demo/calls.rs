//! Calls to the endpoint as a client on the internet would make them: HTTPS to
//! `https://api.ZONE` at one PoP's address (what DNS answered), trusting the demo's dev CA.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

/// What came back from one call.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    /// `Warren-Error-Code`, on errors the edge answered itself.
    pub(crate) code: Option<String>,
    pub(crate) www_authenticate: Option<String>,
    pub(crate) body: String,
}

/// An HTTPS client that reaches `host` at `at`, trusting `ca_pem`.
pub(crate) fn client(host: &str, at: SocketAddr, ca_pem: &Path) -> anyhow::Result<reqwest::Client> {
    let pem = std::fs::read(ca_pem).with_context(|| format!("cannot read the dev CA {}", ca_pem.display()))?;
    let ca = reqwest::Certificate::from_pem(&pem)
        .with_context(|| format!("{} is not a PEM certificate", ca_pem.display()))?;
    reqwest::Client::builder()
        .resolve(host, at)
        .add_root_certificate(ca)
        .no_proxy()
        .timeout(Duration::from_secs(15))
        .build()
        .context("cannot build an HTTPS client")
}

/// `GET url`, with `Authorization: Bearer TOKEN` when a token is given.
pub(crate) async fn get(client: &reqwest::Client, url: &str, token: Option<&str>) -> anyhow::Result<Reply> {
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.with_context(|| format!("GET {url} failed"))?;
    let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let status = res.status().as_u16();
    let code = header("warren-error-code");
    let www_authenticate = header("www-authenticate");
    let body = res.text().await.with_context(|| format!("GET {url}: the body broke off"))?;
    Ok(Reply { status, code, www_authenticate, body })
}

impl Reply {
    /// `401 WARREN_ERR_JWT_MISSING` or `200`.
    pub(crate) fn summary(&self) -> String {
        match &self.code {
            Some(code) => format!("{} {code}", self.status),
            None => self.status.to_string(),
        }
    }

    /// The body on one line, cut to `max` characters.
    pub(crate) fn body_line(&self, max: usize) -> String {
        let one: String = self.body.split_whitespace().collect::<Vec<_>>().join(" ");
        if one.chars().count() > max { format!("{}…", one.chars().take(max).collect::<String>()) } else { one }
    }
}
