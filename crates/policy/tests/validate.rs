//! Loading: every mistake reported with its position; the YAML traps.

mod support;
use support::*;

#[test]
fn reports_every_mistake_with_lines() {
    let src = "\
on_http_request:
  - name: one
    expressions:
      - \"req.method ==\"
    actions:
      - type: deny
        config:
          status_code: 200
  - name: two
    bogus: 1
    actions:
      - type: no-such-action
  - name: three
    actions:
      - type: add-headers
        config:
          headerz: {a: b}
on_http_response:
  - actions:
      - type: rate-limit
        config: {name: x, algorithm: sliding_window, capacity: 1, rate: 60s}
";
    let d = errors(src);
    let lines: Vec<(u32, &str)> = d.iter().map(|d| (d.line, d.field.as_str())).collect();
    assert_eq!(
        lines,
        vec![
            (4, "on_http_request[0].expressions[0]"),
            (8, "on_http_request[0].actions[0].config.status_code"),
            (10, "on_http_request[1].bogus"),
            (12, "on_http_request[1].actions[0].type"),
            (17, "on_http_request[2].actions[0].config.headerz"),
            (20, "on_http_response[0].actions[0].type"),
        ],
        "{d:#?}"
    );
    assert!(d[0].to_string().starts_with("p.yaml:4:9: on_http_request[0].expressions[0]: invalid CEL"), "{}", d[0]);
    assert!(d[4].message.contains("unknown field"));
    // `warren policy validate` prints one line per mistake: no message may span lines.
    assert!(d.iter().all(|d| !d.to_string().contains('\n')), "{d:#?}");
    assert!(d[0].message.contains("(at 1:14 of the expression)"), "{}", d[0]);
}

#[test]
fn yaml_traps() {
    // Unquoted !expr is a tag.
    let d = errors("on_http_request:\n  - expressions:\n      - !req.method == 'GET'\n    actions: [{type: deny}]\n");
    assert_eq!((d[0].line, d[0].field.as_str()), (3, "on_http_request[0].expressions[0]"), "{d:?}");
    assert!(d[0].message.contains("tag"));
    // Duplicate keys.
    let d = errors("on_http_request:\n  - actions: [{type: deny}]\non_http_request: []\n");
    assert_eq!(d[0].line, 3);
    assert!(d[0].message.contains("duplicate"), "{}", d[0]);
    // Empty and oversized expressions.
    let d = errors("on_http_request:\n  - expressions: ['', '   ']\n    actions: [{type: deny}]\n");
    assert_eq!(d.len(), 2);
    let big = format!(
        "on_http_request:\n  - expressions: ['{}']\n    actions: [{{type: deny}}]\n",
        "1 == 1 && ".repeat(500) + "true"
    );
    assert!(errors(&big)[0].message.contains("limit"));
    // Unknown top-level field and syntax errors.
    assert_eq!(errors("on_http_requests: []\n")[0].field, "on_http_requests");
    let d = errors("on_http_request: [\n");
    assert_eq!(d.len(), 1);
    // Unknown variables and variables outside their phase.
    assert!(
        errors("on_http_request:\n  - expressions: ['foo == 1']\n    actions: [{type: deny}]\n")[0]
            .message
            .contains("unknown variable")
    );
    assert!(
        errors("on_tcp_connect:\n  - expressions: ['req.method == \"GET\"']\n    actions: [{type: deny}]\n")[0]
            .message
            .contains("not available")
    );
    assert!(
        errors("on_http_request:\n  - expressions: ['res.status_code == 200']\n    actions: [{type: deny}]\n")[0]
            .message
            .contains("not available")
    );
    // Rules need actions.
    assert!(errors("on_http_request:\n  - name: x\n")[0].message.contains("needs actions"));
    // Empty file is an empty policy.
    assert!(warren_policy::validate("", "e.yaml").unwrap().rules(warren_policy::Phase::OnHttpRequest).is_empty());
}

fn action(kind: &str, config: &str) -> Result<(), Vec<warren_policy::Diagnostic>> {
    let phase = if kind == "compress-response" { "on_http_response" } else { "on_http_request" };
    let src = format!("{phase}:\n  - actions:\n      - type: {kind}\n        config: {config}\n");
    warren_policy::validate(&src, "a.yaml").map(|_| ())
}

#[test]
fn action_configs_good_and_bad() {
    let good = [
        ("add-headers", "{headers: {x-a: '${req.method}'}}"),
        ("remove-headers", "{headers: [server]}"),
        ("deny", "{status_code: 404}"),
        ("deny", "{}"),
        ("custom-response", "{status_code: 200, body: 'hi ${conn.client_ip}', headers: {content-type: text/plain}}"),
        ("redirect", "{to: 'https://x.example${req.url.path}', status_code: 301}"),
        ("url-rewrite", "{from: '/v1/(.*)', to: '/v2/$1'}"),
        ("restrict-ips", "{allow: [10.0.0.0/8, '2001:db8::/32', 192.0.2.1], deny: [10.1.0.0/16]}"),
        ("basic-auth", "{credentials: ['alice:correct-horse'], realm: api}"),
        ("log", "{metadata: {path: '${req.url.path}', n: 3}}"),
        ("set-vars", "{vars: [{tier: gold}, {count: 1}]}"),
        ("close-connection", "{}"),
        ("compress-response", "{algorithms: [gzip, br]}"),
        ("rate-limit", "{name: r, algorithm: sliding_window, capacity: 10, rate: 60s, bucket_key: [conn.client_ip]}"),
        (
            "jwt-validation",
            "{issuer: {allow_list: [{value: 'https://idp/'}]}, audience: {allow_list: [{value: api}]}, http: {tokens: [{type: jwt, method: header, name: Authorization, prefix: 'Bearer '}]}, jws: {allowed_algorithms: [RS256, ES256], keys: {sources: {additional_jkus: ['https://idp/jwks']}}}}",
        ),
    ];
    for (kind, cfg) in good {
        if let Err(d) = action(kind, cfg) {
            panic!("{kind} {cfg}: {d:?}");
        }
    }
    let bad = [
        ("add-headers", "{headers: {}}", "between 1 and 10"),
        ("add-headers", "{headers: {'bad header': x}}", "invalid header name"),
        ("add-headers", "{headers: {x: '${nope}'}}", "unknown variable"),
        ("remove-headers", "{headers: []}", "between 1 and 10"),
        ("deny", "{status_code: 302}", "not an error status"),
        ("deny", "{status: 403}", "unknown field"),
        ("custom-response", "{body: x}", "missing field"),
        ("custom-response", "{status_code: 99}", "not a valid status"),
        ("redirect", "{to: x, status_code: 200}", "not a redirect status"),
        ("url-rewrite", "{from: '(', to: x}", "invalid regular expression"),
        ("restrict-ips", "{allow: [10.0.0.0/33]}", "invalid CIDR"),
        ("restrict-ips", "{}", "at least one"),
        ("restrict-ips", "{ip_policies: [ipp_1]}", "not supported"),
        ("basic-auth", "{credentials: ['alice:short']}", "8 to 128"),
        ("basic-auth", "{credentials: []}", "at least one"),
        ("log", "{metadata: {}}", "at least one"),
        ("set-vars", "{vars: [{'1x': a}]}", "invalid variable name"),
        ("compress-response", "{algorithms: [zstd]}", "unsupported algorithm"),
        ("rate-limit", "{name: r, algorithm: token_bucket, capacity: 10, rate: 60s}", "only sliding_window"),
        ("rate-limit", "{name: r, algorithm: sliding_window, capacity: 0, rate: 61s}", "capacity"),
        ("rate-limit", "{name: r, algorithm: sliding_window, capacity: 1, rate: 30s}", "multiple of 10s"),
        (
            "jwt-validation",
            "{issuer: {allow_list: []}, http: {tokens: [{type: jwt, method: header, name: a}]}, jws: {allowed_algorithms: [HS256], keys: {sources: {additional_jkus: []}}}}",
            "issuer.allow_list",
        ),
        (
            "jwt-validation",
            "{issuer: {allow_list: [{value: i}]}, http: {tokens: [{type: jwt, method: cookie, name: a}]}, jws: {allowed_algorithms: [RS256], keys: {sources: {additional_jkus: ['https://x']}}}}",
            "unknown variant",
        ),
        (
            "jwt-validation",
            "{issuer: {allow_list: [{value: i}]}, http: {tokens: [{type: jwt, method: header, name: a}]}, jws: {allowed_algorithms: [none], keys: {sources: {additional_jkus: ['ftp://x']}}}}",
            "none",
        ),
    ];
    for (kind, cfg, want) in bad {
        let d = action(kind, cfg).expect_err(cfg);
        assert!(d.iter().any(|d| d.message.contains(want)), "{kind} {cfg}: {d:#?}");
    }
    // All problems of one config are reported.
    let d = action("jwt-validation", "{issuer: {allow_list: []}, http: {tokens: []}, jws: {allowed_algorithms: [HS256], keys: {sources: {additional_jkus: []}}}}").unwrap_err();
    assert_eq!(d.len(), 4, "{d:#?}");
}

#[test]
fn schema_is_draft07() {
    let s = warren_policy::schema();
    assert_eq!(s["$schema"], "http://json-schema.org/draft-07/schema#");
    let text = s.to_string();
    for needle in ["on_http_request", "jwt-validation", "additional_jkus", "bucket_key", "status_code"] {
        assert!(text.contains(needle), "{needle}");
    }
}
