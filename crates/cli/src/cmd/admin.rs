//! `warren admin`: the operator's client for a PoP's admin API.
//!
//! Each subcommand is one HTTP call under `/v1/` (CONTRACT.md lists them), so everything this
//! command does can also be scripted with curl. Output is meant for both people and scripts:
//! listings are pretty JSON for `jq`, and `tokens create` puts the new token alone on the last
//! line of stdout (the human note goes to stderr), so `TOKEN=$(warren admin tokens create)` works.
//! An API error prints `warren admin: STATUS CODE: message` and exits 1.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

use crate::cli::{AdminArgs, AdminCommand, AdminPolicyCommand, ClusterCommand, EndpointsCommand, TokensCommand};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Writes go through Raft; a membership change can take a while on a WAN.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs one `warren admin` subcommand on a private current-thread runtime (a single request
/// needs no more).
pub(crate) fn run(args: AdminArgs) -> anyhow::Result<ExitCode> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: AdminArgs) -> anyhow::Result<ExitCode> {
    let Some(token) = args.token.filter(|t| !t.trim().is_empty()) else {
        bail!("no admin token: pass --token or set WARREN_ADMIN_TOKEN");
    };
    let client = AdminClient::new(&args.url, token.trim().to_owned())?;
    let outcome = match args.command {
        AdminCommand::Tokens(TokensCommand::Create { description }) => {
            let body = json!({ "description": description.unwrap_or_default() });
            match client.call(Method::POST, "/v1/tokens", Body::Json(body)).await? {
                Ok(created) => {
                    let token = created["token"].as_str().context("the admin API answered without a token")?;
                    eprintln!("{}", created_note(&created));
                    // The token alone, last line of stdout: scripts capture it.
                    println!("{token}");
                    Ok(())
                }
                Err(lines) => Err(lines),
            }
        }
        AdminCommand::Tokens(TokensCommand::Revoke { id }) => {
            let path = format!("/v1/tokens/{}", encode_segment(&id));
            client.call(Method::DELETE, &path, Body::None).await?.map(|_| println!("revoked {id}"))
        }
        AdminCommand::Tokens(TokensCommand::List) => client.get_json("/v1/tokens").await?,
        AdminCommand::Cluster(ClusterCommand::Status) => client.get_json("/v1/cluster").await?,
        AdminCommand::Cluster(ClusterCommand::AddMember { id, addr, learner }) => {
            let body = json!({ "id": id, "addr": addr, "learner": learner });
            let role = if learner { "learner" } else { "voter" };
            client
                .call(Method::POST, "/v1/cluster/members", Body::Json(body))
                .await?
                .map(|_| println!("added member {id} at {addr} as a {role}"))
        }
        AdminCommand::Cluster(ClusterCommand::RemoveMember { id }) => {
            let path = format!("/v1/cluster/members/{}", encode_segment(&id));
            client.call(Method::DELETE, &path, Body::None).await?.map(|_| println!("removed member {id}"))
        }
        AdminCommand::Policy(AdminPolicyCommand::Set { file }) => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            client.call(Method::PUT, "/v1/policy", Body::Text(text)).await?.map(|doc| {
                println!("global policy set from {} (version {})", file.display(), doc["version"]);
            })
        }
        AdminCommand::Policy(AdminPolicyCommand::Get) => client.get_json("/v1/policy").await?,
        AdminCommand::Endpoints(EndpointsCommand::List) => client.get_json("/v1/endpoints").await?,
    };
    match outcome {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(lines) => {
            for line in lines {
                eprintln!("{line}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

enum Body {
    None,
    Json(Value),
    Text(String),
}

/// The answer to one call: the JSON body (`Null` when empty), or the error lines to print.
type ApiResult = Result<Value, Vec<String>>;

struct AdminClient {
    base: String,
    token: String,
    http: Client,
}

impl AdminClient {
    fn new(url: &str, token: String) -> anyhow::Result<AdminClient> {
        let base = base_url(url)?;
        let http = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("warren-admin/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(AdminClient { base, token, http })
    }

    /// Sends one request. Transport failures are `Err` (with the URL that could not be reached);
    /// an API error is `Ok(Err(lines))`.
    async fn call(&self, method: Method, path: &str, body: Body) -> anyhow::Result<ApiResult> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(&v),
            Body::Text(t) => req.header(reqwest::header::CONTENT_TYPE, "application/yaml").body(t),
        };
        let resp = req.send().await.map_err(|e| transport_error(&self.base, &e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| transport_error(&self.base, &e))?;
        if !status.is_success() {
            return Ok(Err(api_error_lines(status, &text)));
        }
        if text.trim().is_empty() {
            return Ok(Ok(Value::Null));
        }
        serde_json::from_str(&text)
            .map(Ok)
            .with_context(|| format!("{url} answered {status} with a body that is not JSON"))
    }

    /// GET and print the JSON answer, pretty.
    async fn get_json(&self, path: &str) -> anyhow::Result<Result<(), Vec<String>>> {
        Ok(match self.call(Method::GET, path, Body::None).await? {
            Ok(value) => {
                println!("{}", serde_json::to_string_pretty(&value).context("cannot format the answer")?);
                Ok(())
            }
            Err(lines) => Err(lines),
        })
    }
}

/// Checks and normalises `--url`: http or https, no query, no trailing slash (a path prefix, for
/// an admin API behind a reverse proxy, is kept).
fn base_url(url: &str) -> anyhow::Result<String> {
    let expected = || format!("invalid admin URL {url:?}: expected http://HOST:PORT or https://HOST:PORT");
    let parsed = reqwest::Url::parse(url.trim()).map_err(|_| anyhow::anyhow!(expected()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        bail!(expected());
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        bail!("invalid admin URL {url:?}: no query or fragment allowed");
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

/// Percent-encodes one path segment, so an id can never add path segments or a query.
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `warren admin: STATUS CODE: message`, then any detail lines (a policy's `file:line:col` errors).
fn api_error_lines(status: StatusCode, body: &str) -> Vec<String> {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let error = parsed.as_ref().map(|v| &v["error"]).filter(|e| e.is_object());
    let Some(error) = error else {
        // Not a Warren error body (a proxy in between, or the wrong URL): show the start of it.
        let snippet: String = body.trim().chars().take(200).collect();
        let reason = status.canonical_reason().unwrap_or("error");
        let tail = if snippet.is_empty() { String::new() } else { format!(": {snippet}") };
        return vec![format!("warren admin: {} {reason}{tail}", status.as_u16())];
    };
    let code = error["code"].as_str().unwrap_or("WARREN_ERR_UNKNOWN");
    let message = error["message"].as_str().unwrap_or("(no message)");
    let mut lines = vec![format!("warren admin: {} {code}: {message}", status.as_u16())];
    if let Some(details) = error["details"].as_array() {
        lines.extend(details.iter().filter_map(Value::as_str).map(|d| format!("  {d}")));
    }
    lines
}

/// Names the URL that could not be reached and the innermost cause ("Connection refused").
fn transport_error(base: &str, e: &reqwest::Error) -> anyhow::Error {
    let mut cause: &dyn std::error::Error = e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    let what = if e.is_timeout() {
        "timed out talking to"
    } else if e.is_connect() {
        "cannot reach"
    } else {
        "request failed to"
    };
    anyhow::anyhow!(
        "{what} the admin API at {base}: {cause} (is the PoP running, and is --url / WARREN_ADMIN_URL right?)"
    )
}

/// The human note printed to stderr after `tokens create`.
fn created_note(created: &Value) -> String {
    let id = created["id"].as_str().unwrap_or("?");
    match created["description"].as_str().filter(|d| !d.is_empty()) {
        Some(d) => format!("created authtoken {id} ({d}); it is shown only this once:"),
        None => format!("created authtoken {id}; it is shown only this once:"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(base_url("http://127.0.0.1:9090").unwrap(), "http://127.0.0.1:9090");
        assert_eq!(base_url("http://127.0.0.1:9090/").unwrap(), "http://127.0.0.1:9090");
        assert_eq!(base_url(" https://pop.example.com/warren/ ").unwrap(), "https://pop.example.com/warren");
        assert_eq!(base_url("http://[::1]:9090").unwrap(), "http://[::1]:9090");
        for bad in ["127.0.0.1:9090", "localhost:9090", "ftp://x", "http://x/?a=1", "", "http://"] {
            assert!(base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("tok_0123456789abcdef"), "tok_0123456789abcdef");
        assert_eq!(encode_segment("pop-fra"), "pop-fra");
        assert_eq!(encode_segment("../x?y"), "..%2Fx%3Fy");
        assert_eq!(encode_segment("a b/é"), "a%20b%2F%C3%A9");
    }

    #[test]
    fn api_errors_are_one_line_plus_details() {
        let body =
            r#"{"error":{"code":"WARREN_ERR_ADMIN_BAD_REQUEST","status":404,"message":"no token tok_1","details":[]}}"#;
        assert_eq!(
            api_error_lines(StatusCode::NOT_FOUND, body),
            ["warren admin: 404 WARREN_ERR_ADMIN_BAD_REQUEST: no token tok_1"]
        );
        let body = r#"{"error":{"code":"WARREN_ERR_ADMIN_BAD_REQUEST","message":"invalid global policy","details":["p.yaml:2:5: bad"]}}"#;
        assert_eq!(
            api_error_lines(StatusCode::BAD_REQUEST, body),
            ["warren admin: 400 WARREN_ERR_ADMIN_BAD_REQUEST: invalid global policy", "  p.yaml:2:5: bad"]
        );
        assert_eq!(
            api_error_lines(StatusCode::BAD_GATEWAY, "<html>oops</html>"),
            ["warren admin: 502 Bad Gateway: <html>oops</html>"]
        );
        assert_eq!(api_error_lines(StatusCode::UNAUTHORIZED, ""), ["warren admin: 401 Unauthorized"]);
    }

    #[test]
    fn created_note_never_holds_the_token() {
        let created = json!({"id": "tok_1", "token": "wrn_secret", "description": "ci", "created_at": "x"});
        let note = created_note(&created);
        assert!(note.contains("tok_1") && note.contains("ci") && !note.contains("wrn_secret"), "{note}");
        assert!(!created_note(&json!({"id": "tok_1", "description": ""})).contains("()"));
    }

    #[tokio::test]
    async fn connection_refused_names_the_url() {
        // Bind then drop: the port is (almost certainly) closed for the instant we need.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let client = AdminClient::new(&url, "t".into()).unwrap();
        let Err(err) = client.call(Method::GET, "/v1/tokens", Body::None).await else {
            panic!("a closed port answered");
        };
        let msg = format!("{err:#}");
        assert!(msg.contains(&format!("cannot reach the admin API at {url}")), "{msg}");
    }
}
