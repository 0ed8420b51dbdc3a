//! Evaluation: variables, helpers, interpolation, actions and fail-closed behaviour.

mod support;
use support::*;
use warren_policy::*;

#[test]
fn variables() {
    let r = Req::default();
    for e in [
        "req.method == 'GET'",
        "req.url.path == '/api/users'",
        "req.url.query == 'page=2&tag=a&tag=b%20c'",
        "req.url.host == 'api.edge.example.com'",
        "req.url.scheme == 'https'",
        "req.url.raw == 'https://api.edge.example.com/api/users?page=2&tag=a&tag=b%20c'",
        "req.url.contains('/api/')",
        "req.url.startsWith('https://')",
        "req.url.query_params['tag'] == ['a', 'b c']",
        "req.headers['x-api-key'][0] == 'k1'",
        "req.cookies['session'][0].value == 'abc'",
        "req.user_agent.raw == 'curl/8'",
        "req.host == 'api.edge.example.com'",
        "conn.client_ip == '203.0.113.7'",
        "conn.client_port == 51000",
        "conn.server_region == 'eu-central'",
        "conn.tls.sni == 'api.edge.example.com'",
        "conn.geo.country_code == 'DE'",
        "endpoint.url == 'https://api.edge.example.com'",
        "time.now > timestamp('2020-01-01T00:00:00Z')",
        "'lang' in vars || true",
    ] {
        assert!(holds(e, &r), "{e}");
    }
    assert!(!holds("req.method == 'POST'", &r));
}

#[test]
fn response_variables() {
    let p = load(
        "on_http_response:\n  - expressions: ['res.status_code == 404 && res.headers[\"server\"][0] == \"x\"']\n    actions: [{type: custom-response, config: {status_code: 404, body: gone}}]\n",
    );
    let r = Req { status: Some(404), res_headers: vec![("Server".into(), "x".into())], ..Req::default() };
    let out = evaluate(&p, Phase::OnHttpResponse, &r, &mut Fx::default(), NOW_MS);
    assert_eq!(out.status_code(), Some(404));
}

#[test]
fn helpers() {
    let r = Req::default().header("X-Multi", "1").header("x-multi", "2");
    assert!(holds("getReqHeader('X-MULTI') == ['1', '2']", &r));
    assert!(holds("getReqHeader('absent') == []", &r));
    assert!(holds("hasReqHeader('x-api-key') && !hasReqHeader('nope')", &r));
    assert!(holds("getQueryParam('tag') == ['a', 'b c'] && getQueryParam('x') == []", &r));
    assert!(holds("inCidrRange(conn.client_ip, '203.0.113.0/24')", &r));
    assert!(!holds("inCidrRange(conn.client_ip, '10.0.0.0/8')", &r));
    assert!(holds("inCidrRanges(conn.client_ip, ['10.0.0.0/8', '203.0.113.7/32'])", &r));
    assert!(holds("inCidrRange('::ffff:10.1.2.3', '10.0.0.0/8')", &r));
}

#[test]
fn interpolation_and_transform_actions() {
    let src = r#"
on_http_request:
  - name: headers
    actions:
      - type: add-headers
        config:
          headers:
            x-client: "${conn.client_ip}:${conn.client_port}"
            x-path: "path=${req.url.path} n=${size(req.url.query_params)}"
      - type: remove-headers
        config: {headers: [X-Api-Key]}
      - type: set-vars
        config: {vars: [{who: "${req.headers['x-api-key'][0]}"}]}
      - type: log
        config: {metadata: {who: "${vars.who}", added: "${actions.ngrok.add_headers.headers_added['x-path']}"}}
      - type: url-rewrite
        config: {from: "/api/(.*)", to: "/v2/$1"}
"#;
    let out = run(src, &Req::default());
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert_eq!(
        out.steps,
        vec![
            Step::AddHeaders(vec![
                ("x-client".into(), "203.0.113.7:51000".into()),
                ("x-path".into(), "path=/api/users n=2".into())
            ]),
            Step::RemoveHeaders(vec!["x-api-key".into()]),
            Step::Log { metadata: serde_json::json!({"who": "k1", "added": "path=/api/users n=2"}) },
            Step::UrlRewrite { url: "https://api.edge.example.com/v2/users?page=2&tag=a&tag=b%20c".into() },
        ]
    );
    assert_eq!(out.vars["who"], "k1");
}

#[test]
fn terminal_actions() {
    let deny = run(
        "on_http_request:\n  - expressions: [\"req.url.path.startsWith('/api')\"]\n    actions: [{type: deny, config: {status_code: 451}}, {type: log, config: {metadata: {a: b}}}]\n",
        &Req::default(),
    );
    assert_eq!(deny.status_code(), Some(451));
    assert!(deny.steps.is_empty(), "actions after a terminal one do not run");
    let redirect = run(
        "on_http_request:\n  - actions: [{type: redirect, config: {from: '^http://(.*)$', to: 'https://$1'}}]\n",
        &Req { scheme: "http".into(), ..Req::default() },
    );
    let Some(Terminal::Respond { response, cause: Cause::Redirect }) = redirect.terminal else {
        panic!("{redirect:?}")
    };
    assert_eq!(response.status_code, 302);
    assert_eq!(
        response.headers[0],
        ("location".into(), "https://api.edge.example.com/api/users?page=2&tag=a&tag=b%20c".into())
    );
    let custom = run(
        "on_http_request:\n  - actions: [{type: custom-response, config: {status_code: 200, body: '{\"ip\": \"${conn.client_ip}\"}', headers: {content-type: application/json}}}]\n",
        &Req::default(),
    );
    let Some(Terminal::Respond { response, .. }) = custom.terminal else { panic!() };
    assert_eq!(response.body, r#"{"ip": "203.0.113.7"}"#);
    let tcp = load("on_tcp_connect:\n  - actions: [{type: restrict-ips, config: {deny: [203.0.113.0/24]}}]\n");
    let out = evaluate(&tcp, Phase::OnTcpConnect, &Req::default(), &mut Fx::default(), NOW_MS);
    assert!(matches!(out.terminal, Some(Terminal::CloseConnection { cause: Cause::RestrictIps })));
}

#[test]
fn restrict_ips_and_basic_auth() {
    let allow = "on_http_request:\n  - actions: [{type: restrict-ips, config: {allow: [203.0.113.0/24], deny: [203.0.113.7]}}]\n";
    assert_eq!(run(allow, &Req::default()).status_code(), Some(403));
    assert_eq!(run(allow, &Req { ip: "203.0.113.8".parse().unwrap(), ..Req::default() }).status_code(), None);
    let auth = "on_http_request:\n  - actions: [{type: basic-auth, config: {credentials: ['alice:correct-horse'], realm: api}}]\n";
    let out = run(auth, &Req::default());
    let Some(Terminal::Respond { response, .. }) = &out.terminal else { panic!() };
    assert_eq!(response.status_code, 401);
    assert_eq!(response.headers[0].1, "Basic realm=\"api\"");
    let good = Req::default().header("Authorization", "Basic YWxpY2U6Y29ycmVjdC1ob3JzZQ==");
    let out = run(auth, &good);
    assert_eq!(out.terminal, None);
    assert_eq!(out.actions["ngrok"]["basic_auth"]["credentials"]["username"], "alice");
    let wrong = Req::default().header("Authorization", "Basic YWxpY2U6d3JvbmctaG9yc2U=");
    assert_eq!(run(auth, &wrong).status_code(), Some(401));
}

#[test]
fn jwt_validation_results_and_failures() {
    let src = "on_http_request:
  - actions:
      - type: jwt-validation
        config:
          issuer: {allow_list: [{value: 'https://idp/'}]}
          http: {tokens: [{type: jwt, method: header, name: Authorization, prefix: 'Bearer '}]}
          jws: {allowed_algorithms: [RS256], keys: {sources: {additional_jkus: ['https://idp/jwks']}}}
  - expressions: [\"actions.ngrok.jwt_validation.tokens[0].payload.sub == 'alice'\"]
    actions: [{type: add-headers, config: {headers: {x-user: '${actions.ngrok.jwt_validation.tokens[0].payload.sub}'}}}]
";
    assert_eq!(load(src).jwks_urls(), ["https://idp/jwks"]);
    let ok = run(src, &Req::default().header("Authorization", "Bearer good"));
    assert_eq!(ok.terminal, None, "{ok:?}");
    assert_eq!(ok.steps, vec![Step::AddHeaders(vec![("x-user".into(), "alice".into())])]);
    let missing = run(src, &Req::default());
    assert_eq!(
        missing.terminal.as_ref().map(Terminal::cause),
        Some(&Cause::JwtInvalid { reason: "missing_token".into() })
    );
    let bad = run(src, &Req::default().header("Authorization", "Bearer bad"));
    let Some(Terminal::Respond { response, cause }) = bad.terminal else { panic!() };
    assert_eq!((response.status_code, cause), (401, Cause::JwtInvalid { reason: "expired".into() }));
    assert!(response.headers[0].1.starts_with("Bearer"));
    let mut fx = Fx { keys_available: false, ..Fx::default() };
    let out = evaluate(
        &load(src),
        Phase::OnHttpRequest,
        &Req::default().header("Authorization", "Bearer good"),
        &mut fx,
        NOW_MS,
    );
    assert_eq!(out.status_code(), Some(503));
}

#[test]
fn rate_limit_with_retry_after() {
    let src = "on_http_request:\n  - actions: [{type: rate-limit, config: {name: r, algorithm: sliding_window, capacity: 2, rate: 60s, bucket_key: [conn.client_ip]}}]\n";
    let p = load(src);
    let mut fx = Fx::default();
    let r = Req::default();
    let codes: Vec<Option<u16>> =
        (0..3).map(|i| evaluate(&p, Phase::OnHttpRequest, &r, &mut fx, NOW_MS + i).status_code()).collect();
    assert_eq!(codes, [None, None, Some(429)]);
    let out = evaluate(&p, Phase::OnHttpRequest, &r, &mut fx, NOW_MS + 10);
    let Some(Terminal::Respond { response, cause: Cause::RateLimited { retry_after_secs } }) = out.terminal else {
        panic!()
    };
    assert_eq!(response.headers[0], ("retry-after".into(), retry_after_secs.to_string()));
    assert_eq!(out.actions["ngrok"]["rate_limit"]["limited"], true);
    // Another client has its own bucket.
    let other = Req { ip: "198.51.100.1".parse().unwrap(), ..Req::default() };
    assert_eq!(evaluate(&p, Phase::OnHttpRequest, &other, &mut fx, NOW_MS + 10).status_code(), None);
}

#[test]
fn fail_closed() {
    // A deny guarded by an expression that errors (missing header key): the request is stopped.
    let guard = "on_http_request:\n  - name: only-internal\n    expressions: [\"!inCidrRange(req.headers['x-real-ip'][0], '10.0.0.0/8')\"]\n    actions: [{type: deny}]\n";
    let out = run(guard, &Req::default());
    assert_eq!(out.terminal.as_ref().map(Terminal::cause), Some(&Cause::ExpressionError));
    assert_eq!(out.status_code(), Some(403));
    assert!(matches!(&out.errors[0], EvalError::Expression { rule, index: 0, .. } if rule == "only-internal"));
    // The same with a bad CIDR at run time, and a non-boolean result.
    let bad_cidr = "on_http_request:\n  - expressions: [\"inCidrRange(conn.client_ip, req.url.path)\"]\n    actions: [{type: deny}]\n";
    assert_eq!(run(bad_cidr, &Req::default()).status_code(), Some(403));
    let non_bool = "on_http_request:\n  - expressions: [\"req.method\"]\n    actions: [{type: jwt-validation, config: {issuer: {allow_list: [{value: i}]}, http: {tokens: [{type: jwt, method: header, name: a}]}, jws: {allowed_algorithms: [RS256], keys: {sources: {additional_jkus: ['https://x']}}}}}]\n";
    assert_eq!(run(non_bool, &Req::default()).status_code(), Some(403));
    // A transform-only rule is skipped, the error recorded, later rules still run.
    let transform = "on_http_request:\n  - expressions: [\"req.headers['nope'][0] == 'x'\"]\n    actions: [{type: add-headers, config: {headers: {a: b}}}]\n  - actions: [{type: log, config: {metadata: {ran: yes}}}]\n";
    let out = run(transform, &Req::default());
    assert_eq!(out.terminal, None);
    assert_eq!(out.errors.len(), 1);
    assert_eq!(out.steps.len(), 1);
    // A failing interpolation skips a non-terminal action but never a terminal one.
    let interp = "on_http_request:\n  - actions:\n      - {type: add-headers, config: {headers: {a: \"${req.headers['nope'][0]}\"}}}\n      - {type: custom-response, config: {status_code: 403, body: \"no ${req.headers['nope'][0]}\"}}\n";
    let out = run(interp, &Req::default());
    assert!(out.steps.is_empty());
    let Some(Terminal::Respond { response, .. }) = out.terminal else { panic!() };
    assert_eq!((response.status_code, response.body.as_str()), (403, ""));
    assert_eq!(out.errors.len(), 2);
    // A failing rate-limit key shares one bucket.
    let rl = "on_http_request:\n  - actions: [{type: rate-limit, config: {name: r, algorithm: sliding_window, capacity: 2, rate: 60s, bucket_key: [\"req.headers['nope'][0]\"]}}]\n";
    let out = run(rl, &Req::default());
    assert_eq!(out.actions["ngrok"]["rate_limit"]["bucket_key"], FAILED_KEY_BUCKET);
}

#[test]
fn ngrok_examples() {
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/examples")).unwrap() {
        let path = entry.unwrap().path();
        let src = std::fs::read_to_string(&path).unwrap();
        if let Err(d) = validate(&src, &path.display().to_string()) {
            panic!("{d:#?}");
        }
    }
    let src =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/examples/block-and-limit.yaml")).unwrap();
    let p = validate(&src, "block-and-limit.yaml").unwrap();
    let admin = Req { path: "/admin".into(), ..Req::default() };
    assert_eq!(evaluate(&p, Phase::OnHttpRequest, &admin, &mut Fx::default(), NOW_MS).status_code(), Some(403));
    let api = Req { path: "/api/specific_endpoint".into(), ..Req::default() };
    let mut fx = Fx::default();
    let codes: Vec<_> =
        (0..3).map(|i| evaluate(&p, Phase::OnHttpRequest, &api, &mut fx, NOW_MS + i).status_code()).collect();
    assert_eq!(codes, [None, None, Some(429)]);
}
