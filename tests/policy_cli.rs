//! `warren policy validate | schema | test`, driven through the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use warren_test_support::idp::{DevIdp, DevIdpOptions, Time, TokenSpec};

const BIN: &str = env!("CARGO_BIN_EXE_warren");

fn warren(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("warren runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// `warren policy test POLICY --request REQ --json`, parsed.
fn policy_test(dir: &Path, policy: &str, request: &str) -> Value {
    let p = write(dir, "policy.yaml", policy);
    let r = write(dir, "request.yaml", request);
    let out = warren(&["policy", "test", p.to_str().unwrap(), "--request", r.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "exit {:?}: {}", out.status, text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)))
}

fn outcome(report: &Value, run: usize) -> &Value {
    &report["runs"][run]["outcome"]
}

#[test]
fn validate_accepts_a_good_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "ok.yaml",
        "on_http_request:\n  - actions:\n      - type: deny\non_http_response:\n  - actions:\n      - type: remove-headers\n        config:\n          headers: [server]\n",
    );
    let out = warren(&["policy", "validate", p.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), format!("{}: ok (2 rules in 2 phases)", p.display()));
}

#[test]
fn validate_reports_every_mistake_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = "on_http_request:
  - name: a
    expressions:
      - \"req.url.path.startsWith(\"
    actions:
      - type: deny
  - actions:
      - type: teleport
  - actions:
      - type: deny
        config:
          status_code: 200
";
    let p = write(dir.path(), "bad.yaml", bad);
    let out = warren(&["policy", "validate", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "three diagnostics:\n{err}");
    let file = p.display().to_string();
    for (line, (n, field)) in lines.iter().zip([
        (4, "on_http_request[0].expressions[0]"),
        (8, "on_http_request[1].actions[0].type"),
        (12, "on_http_request[2].actions[0].config.status_code"),
    ]) {
        assert!(line.starts_with(&format!("{file}:{n}:")), "line {n} expected: {line}");
        assert!(line.contains(&format!(": {field}: ")), "field {field} expected: {line}");
    }
}

#[test]
fn schema_is_draft07_json_with_every_action() {
    let out = warren(&["policy", "schema"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let schema: Value = serde_json::from_slice(&out.stdout).expect("schema is JSON");
    assert!(schema["$schema"].as_str().unwrap().contains("draft-07"), "{}", schema["$schema"]);
    let all = schema.to_string();
    for action in [
        "jwt-validation",
        "rate-limit",
        "restrict-ips",
        "add-headers",
        "remove-headers",
        "url-rewrite",
        "redirect",
        "deny",
        "custom-response",
        "basic-auth",
        "log",
        "set-vars",
        "close-connection",
        "compress-response",
    ] {
        assert!(all.contains(&format!("\"{action}\"")), "{action} missing from the schema");
    }
}

#[test]
fn test_prints_the_deny() {
    let dir = tempfile::tempdir().unwrap();
    let policy = "on_http_request:
  - name: no admin
    expressions:
      - req.url.path.startsWith('/admin')
    actions:
      - type: deny
";
    let p = write(dir.path(), "policy.yaml", policy);
    let r = write(dir.path(), "req.yaml", "url: https://api.example.com/admin/users\nclient_ip: 198.51.100.7\n");
    let out = warren(&["policy", "test", p.to_str().unwrap(), "--request", r.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(report.contains("rule \"no admin\": matched"), "{report}");
    assert!(report.contains("result: responded 403 in on_http_request (deny)"), "{report}");

    let json = policy_test(dir.path(), policy, "url: https://api.example.com/admin\n");
    assert_eq!(outcome(&json, 0)["result"], "responded");
    assert_eq!(outcome(&json, 0)["status_code"], 403);
    let json = policy_test(dir.path(), policy, "url: https://api.example.com/public\n");
    assert_eq!(outcome(&json, 0)["result"], "forwarded");
}

#[test]
fn test_rejects_a_bad_request_file_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "policy.yaml", "on_http_request:\n  - actions:\n      - type: deny\n");
    let r = write(dir.path(), "req.yaml", "url: https://api.example.com/\nmethd: POST\n");
    let out = warren(&["policy", "test", p.to_str().unwrap(), "--request", r.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with(&format!("{}:2:", r.display())) && err.contains("methd"), "{err}");

    let r = write(dir.path(), "req.yaml", "url: https://api.example.com/\nrepeat: 0\n");
    let out = warren(&["policy", "test", p.to_str().unwrap(), "--request", r.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with(&format!("{}:2:9: repeat: ", r.display())), "{err}");
}

#[test]
fn test_shows_rate_limiting_over_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let policy = "on_http_request:
  - actions:
      - type: rate-limit
        config:
          name: per client
          algorithm: sliding_window
          capacity: 3
          rate: 60s
          bucket_key:
            - conn.client_ip
";
    let json = policy_test(dir.path(), policy, "url: https://api.example.com/\nrepeat: 5\nnow: 1900000000\n");
    let results: Vec<(String, Option<u64>)> = json["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["outcome"]["result"].as_str().unwrap().to_owned(), r["outcome"]["status_code"].as_u64()))
        .collect();
    let fwd = ("forwarded".to_owned(), None);
    let limited = ("responded".to_owned(), Some(429));
    assert_eq!(results, vec![fwd.clone(), fwd.clone(), fwd, limited.clone(), limited], "{json:#}");
    let headers = &outcome(&json, 3)["headers"];
    assert_eq!(headers[0][0], "retry-after", "{headers}");

    let p = write(dir.path(), "policy.yaml", policy);
    let r = write(dir.path(), "req.yaml", "url: https://api.example.com/\nrepeat: 5\n");
    let out = warren(&["policy", "test", p.to_str().unwrap(), "--request", r.to_str().unwrap()]);
    let report = text(&out.stdout);
    assert!(report.contains("summary: 3 forwarded, 2 responded 429"), "{report}");
}

#[test]
fn test_shows_header_changes() {
    let dir = tempfile::tempdir().unwrap();
    let policy = "on_http_request:
  - actions:
      - type: add-headers
        config:
          headers:
            x-client-ip: ${conn.client_ip}
      - type: remove-headers
        config:
          headers: [cookie]
";
    let request = "url: https://api.example.com/v1?page=2\nclient_ip: 192.0.2.9\nheaders:\n  cookie: a=b\n  accept: [text/html, application/json]\n";
    let json = policy_test(dir.path(), policy, request);
    let up = &outcome(&json, 0)["upstream_request"];
    assert_eq!(up["url"], "https://api.example.com/v1?page=2");
    assert_eq!(up["changes"], serde_json::json!(["+ x-client-ip: 192.0.2.9", "- cookie"]), "{json:#}");
    let headers: Vec<(String, String)> = serde_json::from_value(up["headers"].clone()).unwrap();
    assert!(headers.contains(&("x-client-ip".into(), "192.0.2.9".into())), "{headers:?}");
    assert!(!headers.iter().any(|(n, _)| n == "cookie"), "{headers:?}");
    assert_eq!(headers.iter().filter(|(n, _)| n == "accept").count(), 2, "{headers:?}");

    let p = write(dir.path(), "policy.yaml", policy);
    let r = write(dir.path(), "req.yaml", request);
    let out = warren(&["policy", "test", p.to_str().unwrap(), "--request", r.to_str().unwrap()]);
    let report = text(&out.stdout);
    assert!(report.contains("result: forwarded GET https://api.example.com/v1?page=2"), "{report}");
    assert!(report.contains("  + x-client-ip: 192.0.2.9"), "{report}");
}

fn jwt_policy(idp: &DevIdp) -> String {
    format!(
        "on_http_request:
  - name: require a token
    actions:
      - type: jwt-validation
        config:
          issuer:
            allow_list:
              - value: {issuer}
          http:
            tokens:
              - type: jwt
                method: header
                name: Authorization
                prefix: \"Bearer \"
          jws:
            allowed_algorithms: [RS256]
            keys:
              sources:
                additional_jkus:
                  - {jwks}
",
        issuer = idp.issuer(),
        jwks = idp.jwks_url(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn test_validates_jwts_offline() {
    let idp = DevIdp::start("127.0.0.1:0".parse().unwrap(), DevIdpOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "jwks.json", &idp.jwks().to_string());
    let policy = jwt_policy(&idp);
    let with_token = |token: &str| format!("url: https://api.example.com/\njwks_file: jwks.json\ntoken: {token}\n");

    let good = idp.mint(&TokenSpec::rs256().sub("alice"));
    let json = policy_test(dir.path(), &policy, &with_token(&good));
    assert_eq!(outcome(&json, 0)["result"], "forwarded", "{json:#}");
    let effect = json["runs"][0]["phases"][0]["rules"][0]["actions"][0]["effect"].as_str().unwrap();
    assert!(effect.contains("token verified") && effect.contains("sub=alice"), "{effect}");

    let expired = idp.mint(&TokenSpec::rs256().exp(Time::ago(3600)).iat(Time::ago(7200)));
    let json = policy_test(dir.path(), &policy, &with_token(&expired));
    assert_eq!(outcome(&json, 0)["status_code"], 401, "{json:#}");
    assert_eq!(outcome(&json, 0)["cause"], "jwt-validation: expired", "{json:#}");
    let headers = outcome(&json, 0)["headers"].to_string();
    assert!(headers.contains("www-authenticate") && headers.contains("Bearer"), "{headers}");

    let none = idp.mint_alg_none(&TokenSpec::rs256());
    let json = policy_test(dir.path(), &policy, &with_token(&none));
    assert_eq!(outcome(&json, 0)["status_code"], 401, "{json:#}");
    assert_eq!(outcome(&json, 0)["cause"], "jwt-validation: alg_none", "{json:#}");

    // Without the request's jwks_file nothing can be verified; the report says so.
    let p = write(dir.path(), "policy.yaml", &policy);
    let r = write(dir.path(), "req.yaml", &format!("url: https://api.example.com/\ntoken: {good}\n"));
    let out = warren(&["policy", "test", p.to_str().unwrap(), "--request", r.to_str().unwrap()]);
    let report = text(&out.stdout);
    assert!(report.contains("no jwks_file"), "{report}");
    assert!(!report.contains(&good), "the token is never printed:\n{report}");

    // A missing token is a 401 too.
    let json = policy_test(dir.path(), &policy, "url: https://api.example.com/\njwks_file: jwks.json\n");
    assert_eq!(outcome(&json, 0)["cause"], "jwt-validation: missing_token", "{json:#}");
    idp.shutdown().await;
}
