//! docs/quickstart.md, run: every shell block marked `<!-- test: NAME -->` is executed with `sh`,
//! in the order of the page, on loopback, and the page's promise is checked: the PoPs form a
//! cluster and answer for the zone, the agent comes online, the call without a token gets 401 and
//! the one with a token 200 from the API.
//!
//! What the test changes, and nothing else (each rule must match somewhere, so the page and the
//! test cannot drift apart silently):
//! - the page's addresses 203.0.113.10/20/30 become 127.0.0.31/32/33, and its well-known ports
//!   (80, 443, 4443, 7443, 53, 9090) free ports, the same on the three addresses;
//! - `/etc/warren` and `/var/lib/warren` become folders of the PoP's own, `sudo` goes;
//! - the agent dials `127.0.0.3x:PORT` instead of `ns-pop-….edge.example.com:4443` (no public DNS
//!   here), and the API on `localhost:8080` is an echo server on a free port, whose route is
//!   `/echo` rather than the page's `/orders`;
//! - the certificate for `*.edge.example.com` comes from a throwaway CA that the agent
//!   (`SSL_CERT_FILE`) and curl (`CURL_HOME/.curlrc`: `cacert`, and `connect-to` in place of
//!   DNS for api.edge.example.com) trust;
//! - Auth0 is `warren dev-idp`: the `values` block runs as written, then ISSUER and JWKS_URL are
//!   pointed at the local provider, and the `auth0-token` block is replaced by a request to it.
//!
//! Blocks that need a real machine are marked `<!-- not tested: why -->`; an unmarked `sh`
//! block fails the test.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

use warren_test_support::{EchoBackend, TestCa, TestDir, WarrenProcess, wait_for_ok};

const BIN: &str = env!("CARGO_BIN_EXE_warren");
const START: Duration = Duration::from_secs(60);
/// The tested blocks, in the page's order.
const TESTED: [&str; 14] = [
    "secrets",
    "pop-values",
    "pop-config",
    "pop-run",
    "cluster-status",
    "dns-check",
    "values",
    "authtoken",
    "policy",
    "agent-config",
    "agent-run",
    "endpoint-dns",
    "auth0-token",
    "first-call",
];
const POP_IPS: [&str; 3] = ["127.0.0.31", "127.0.0.32", "127.0.0.33"];
const PAGE_IPS: [&str; 3] = ["203.0.113.10", "203.0.113.20", "203.0.113.30"];
const POP_IDS: [&str; 3] = ["pop-fra", "pop-iad", "pop-sin"];

/// One fenced `sh` block of the page.
#[derive(Debug)]
struct Block {
    /// `Some(name)` for `<!-- test: name -->`, `None` for `<!-- not tested: … -->`.
    name: Option<String>,
    line: usize,
    text: String,
}

fn page() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/quickstart.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The page's `sh` blocks with their markers; panics on a block without one.
fn blocks(doc: &str) -> Vec<Block> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != "```sh" {
            i += 1;
            continue;
        }
        let marker = (0..i).rev().map(|j| lines[j].trim()).find(|l| !l.is_empty()).unwrap_or("");
        let name = if let Some(rest) = marker.strip_prefix("<!-- test: ") {
            Some(rest.trim_end_matches("-->").trim().to_owned())
        } else if marker.starts_with("<!-- not tested: ") {
            None
        } else {
            panic!(
                "docs/quickstart.md:{}: a sh block needs `<!-- test: NAME -->` or `<!-- not tested: WHY -->`",
                i + 1
            );
        };
        let end = (i + 1..lines.len()).find(|j| lines[*j].trim() == "```").expect("closed block");
        out.push(Block { name, line: i + 1, text: lines[i + 1..end].join("\n") + "\n" });
        i = end + 1;
    }
    out
}

/// The ports of one PoP, free for TCP and UDP on all three addresses.
#[derive(Debug, Clone, Copy)]
struct Ports {
    http: u16,
    https: u16,
    tunnel: u16,
    cluster: u16,
    dns: u16,
    admin: u16,
}

fn free_ports() -> Ports {
    let ips: Vec<Ipv4Addr> = POP_IPS.iter().map(|ip| ip.parse().unwrap()).collect();
    let mut held = Vec::new();
    let mut ports = Vec::new();
    while ports.len() < 6 {
        assert!(held.len() < 400, "no free ports on {ips:?}");
        let first = TcpListener::bind((ips[0], 0)).unwrap();
        let port = first.local_addr().unwrap().port();
        let socks: Vec<_> =
            ips.iter().map(|ip| (TcpListener::bind((*ip, port)), UdpSocket::bind((*ip, port)))).collect();
        let ok = socks.iter().enumerate().all(|(k, (t, u))| (k == 0 || t.is_ok()) && u.is_ok());
        held.push((first, socks));
        if ok {
            ports.push(port);
        }
    }
    Ports { http: ports[0], https: ports[1], tunnel: ports[2], cluster: ports[3], dns: ports[4], admin: ports[5] }
}

/// The rewrites of the module doc, applied in order; each must be used at least once.
struct Rewrites {
    rules: Vec<(String, String)>,
    used: Vec<bool>,
}

impl Rewrites {
    fn new(p: Ports, api: u16) -> Rewrites {
        let mut rules: Vec<(String, String)> = vec![
            ("sudo ".into(), String::new()),
            ("/etc/warren".into(), "{root}/etc/warren".into()),
            ("/var/lib/warren".into(), "{root}/var/lib/warren".into()),
            ("0.0.0.0:80\n".into(), format!("$PUBLIC_IP:{}\n", p.http)),
            ("0.0.0.0:443\n".into(), format!("$PUBLIC_IP:{}\n", p.https)),
            ("0.0.0.0:4443\n".into(), format!("$PUBLIC_IP:{}\n", p.tunnel)),
            ("0.0.0.0:7443\n".into(), format!("$PUBLIC_IP:{}\n", p.cluster)),
            ("0.0.0.0:53\n".into(), format!("$PUBLIC_IP:{}\n", p.dns)),
            ("127.0.0.1:9090".into(), format!("$PUBLIC_IP:{}", p.admin)),
        ];
        // The page's agent dials two PoPs.
        for (id, ip) in POP_IDS.iter().zip(POP_IPS).take(2) {
            rules.push((format!("ns-{id}.edge.example.com:4443"), format!("{ip}:{}", p.tunnel)));
        }
        for (page, ip) in PAGE_IPS.iter().zip(POP_IPS) {
            rules.push(((*page).into(), ip.into()));
        }
        rules.push((":7443".into(), format!(":{}", p.cluster)));
        rules.push(("dig ".into(), format!("dig -p {} ", p.dns)));
        rules.push(("{ url: 8080 }".into(), format!("{{ url: {api} }}")));
        rules.push(("https://api.edge.example.com/orders".into(), "https://api.edge.example.com/echo".into()));
        let used = vec![false; rules.len()];
        Rewrites { rules, used }
    }

    /// `text` with every rule applied, `{root}` being `root`.
    fn apply(&mut self, text: &str, root: &Path) -> String {
        let mut s = text.to_owned();
        for (k, (from, to)) in self.rules.iter().enumerate() {
            if s.contains(from.as_str()) {
                self.used[k] = true;
                s = s.replace(from.as_str(), &to.replace("{root}", &root.display().to_string()));
            }
        }
        s
    }

    fn assert_all_used(&self) {
        let unused: Vec<&str> =
            self.rules.iter().zip(&self.used).filter(|(_, u)| !**u).map(|((f, _), _)| f.as_str()).collect();
        assert!(unused.is_empty(), "rewrites that match nothing in docs/quickstart.md any more: {unused:?}");
    }
}

/// Where and with what the blocks run.
struct Runner {
    work: PathBuf,
    env: Vec<(String, String)>,
    /// Prepended to every block: `set -eu`, the Auth0 values and the local overrides.
    prelude: String,
}

impl Runner {
    fn command(&self, program: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        cmd.current_dir(&self.work).kill_on_drop(true);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("WARREN_") || k == "SSL_CERT_DIR") {
            cmd.env_remove(k);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs `script` after the prelude (and a PoP's values) to completion: its stdout if it exits
    /// 0, else everything it printed.
    async fn try_run(&self, name: &str, pop_values: &str, script: &str) -> Result<String, String> {
        let full = format!("{}{pop_values}\n{script}", self.prelude);
        let out = tokio::time::timeout(START, self.command("sh").arg("-c").arg(&full).output())
            .await
            .map_err(|_| format!("block {name} did not finish:\n{full}"))?
            .map_err(|e| format!("cannot run sh: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!("block {name} failed ({}):\n{full}\n--- stdout\n{stdout}\n--- stderr\n{stderr}", out.status))
        }
    }

    /// [`Runner::try_run`] that must succeed.
    async fn run(&self, name: &str, pop_values: &str, script: &str) -> String {
        self.try_run(name, pop_values, script).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Starts a one-command block in the background: `exec` makes the `warren` in it the process.
    fn spawn(&self, name: &str, pop_values: &str, command: &str) -> WarrenProcess {
        assert_eq!(command.trim().lines().count(), 1, "block {name} runs in the background: one command");
        let command = command.trim().replacen("warren ", "exec warren ", 1);
        let full = format!("{}{pop_values}\n{command}", self.prelude);
        let mut b = WarrenProcess::builder("sh").args(["-c", &full]).current_dir(&self.work).name(name);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("WARREN_") || k == "SSL_CERT_DIR") {
            b = b.env_remove(k);
        }
        for (k, v) in &self.env {
            b = b.env(k, v);
        }
        b.spawn().unwrap()
    }
}

/// The HTTP status of every response head curl printed with `-i`.
fn statuses(out: &str) -> Vec<u16> {
    out.lines().filter(|l| l.starts_with("HTTP/")).filter_map(|l| l.split_whitespace().nth(1)?.parse().ok()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_quickstart_reaches_an_authenticated_call() {
    let doc = page();
    let all = blocks(&doc);
    let tested: Vec<&Block> = all.iter().filter(|b| b.name.is_some()).collect();
    let names: Vec<&str> = tested.iter().filter_map(|b| b.name.as_deref()).collect();
    assert_eq!(names, TESTED, "the tested blocks of docs/quickstart.md changed; teach this test the new ones");
    let block = |name: &str| tested.iter().find(|b| b.name.as_deref() == Some(name)).unwrap();

    // The world around the page: a folder per machine, a CA and the wildcard certificate, the API.
    let dir = TestDir::new().unwrap();
    let work = dir.join("laptop");
    std::fs::create_dir_all(&work).unwrap();
    let ca = TestCa::new().unwrap();
    let ca_pem = ca.write_to(dir.path()).unwrap();
    let mut names_and_ips = vec!["*.edge.example.com", "edge.example.com"];
    names_and_ips.extend(POP_IPS);
    let (cert, key) = ca.issue_server_cert(&names_and_ips).unwrap();
    std::fs::write(work.join("fullchain.pem"), cert).unwrap();
    std::fs::write(work.join("key.pem"), key).unwrap();
    let api = EchoBackend::start_with_name("orders").await.unwrap();
    let ports = free_ports();
    let mut rw = Rewrites::new(ports, api.addr().port());

    // Auth0's stand-in: the real `warren dev-idp`.
    let idp = WarrenProcess::builder(BIN).args(["dev-idp", "--listen", "127.0.0.1:0"]).name("dev-idp").spawn().unwrap();
    let field = |prefix: &'static str| {
        let idp = &idp;
        async move {
            let line = idp.wait_for_stdout_line(|l| l.starts_with(prefix), START).await.unwrap();
            line.trim_start_matches(prefix).trim().to_owned()
        }
    };
    let (issuer, jwks) = (field("issuer:").await, field("JWKS:").await);

    let curl_home = dir.join("curl");
    std::fs::create_dir_all(&curl_home).unwrap();
    std::fs::write(
        curl_home.join(".curlrc"),
        format!(
            "# docs/quickstart.md under test: api.edge.example.com is pop-sin (no tunnel: forwarded)\n\
             connect-to = api.edge.example.com:443:{}:{}\ncacert = {}\n",
            POP_IPS[2],
            ports.https,
            ca_pem.display()
        ),
    )
    .unwrap();
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let ca_text = ca_pem.display().to_string();
    let env = vec![
        ("PATH".to_owned(), path),
        ("SSL_CERT_FILE".to_owned(), ca_text.clone()),
        ("CURL_CA_BUNDLE".to_owned(), ca_text),
        ("CURL_HOME".to_owned(), curl_home.display().to_string()),
        ("WARREN_LOG_LEVEL".to_owned(), "info".to_owned()),
    ];
    let values = rw.apply(&block("values").text, &work);
    let prelude = format!("set -eu\n{values}ISSUER={issuer}\nJWKS_URL={jwks}\n");
    let runner = Runner { work: work.clone(), env, prelude };

    // 2.1 Secrets.
    runner.run("secrets", "", &rw.apply(&block("secrets").text, &work)).await;
    assert_eq!(std::fs::read_to_string(work.join("cluster.secret")).unwrap().trim().len(), 64);

    // 2.2 Each PoP: its values line, the files (the untested install block's job), its config.
    let values_block = rw.apply(&block("pop-values").text, &work);
    let pop_values: Vec<&str> = values_block.lines().filter(|l| l.starts_with("POP_ID=")).collect();
    assert_eq!(pop_values.len(), 3, "{values_block}");
    let roots: Vec<PathBuf> = POP_IDS.iter().map(|id| dir.join(id)).collect();
    for (i, root) in roots.iter().enumerate() {
        assert!(pop_values[i].contains(POP_IDS[i]) && pop_values[i].contains(POP_IPS[i]), "{}", pop_values[i]);
        for sub in ["etc/warren/tls", "var/lib/warren"] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        for f in ["cluster.secret", "admin.token"] {
            std::fs::copy(work.join(f), root.join("etc/warren").join(f)).unwrap();
        }
        for f in ["fullchain.pem", "key.pem"] {
            std::fs::copy(work.join(f), root.join("etc/warren/tls").join(f)).unwrap();
        }
        let out = runner.run("pop-config", pop_values[i], &rw.apply(&block("pop-config").text, root)).await;
        assert!(out.contains("ok"), "pop-config of {}: {out}", POP_IDS[i]);
    }
    let mut pops = Vec::new();
    for (i, root) in roots.iter().enumerate() {
        pops.push(runner.spawn("pop-run", pop_values[i], &rw.apply(&block("pop-run").text, root)));
    }
    for pop in &pops {
        pop.listener_addr("admin", START).await.unwrap_or_else(|e| panic!("{e}\n{}", pop.lines().join("\n")));
    }

    // 2.3 The cluster, as the page checks it: a leader and three voters.
    let status_block = rw.apply(&block("cluster-status").text, &roots[0]);
    let status = wait_for_ok(START, || async {
        let out = runner.try_run("cluster-status", pop_values[0], &status_block).await?;
        let v: serde_json::Value = serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))?;
        // What the page says to look for: a leader, three voters, healthy, at the same index.
        let members = v["members"].as_array().cloned().unwrap_or_default();
        let voters = members.iter().filter(|m| m["voter"] == true && m["healthy"] == true).count();
        let same = members.windows(2).all(|w| w[0]["last_applied"] == w[1]["last_applied"]);
        if v["leader"].is_string() && voters == 3 && same { Ok(v) } else { Err(v.to_string()) }
    })
    .await
    .unwrap();
    eprintln!("cluster: {status}");

    // 3. The PoPs answer for the zone.
    // Every PoP learns the others through the replicated state, a moment after they joined.
    let dns_check = rw.apply(&block("dns-check").text, &work);
    wait_for_ok(START, || async {
        let out = runner.try_run("dns-check", "", &dns_check).await?;
        let all = POP_IDS.iter().all(|id| out.contains(&format!("ns-{id}.edge.example.com.")));
        // The second question's answer: ns-pop-iad's address.
        if all && out.contains(&format!("IN\tA\t{}", POP_IPS[1])) { Ok(()) } else { Err(out) }
    })
    .await
    .unwrap();

    // 5. An authtoken, the policy and the agent.
    runner.run("authtoken", pop_values[0], &rw.apply(&block("authtoken").text, &roots[0])).await;
    assert!(std::fs::read_to_string(work.join("authtoken")).unwrap().trim().starts_with("wrn_"));
    let out = runner.run("policy", "", &rw.apply(&block("policy").text, &work)).await;
    assert!(out.contains("policy.yaml: ok"), "{out}");
    let policy = std::fs::read_to_string(work.join("policy.yaml")).unwrap();
    assert!(
        policy.contains(&format!("- value: {issuer}")) && policy.contains("- value: https://api.example.com"),
        "{policy}"
    );
    let out = runner.run("agent-config", "", &rw.apply(&block("agent-config").text, &work)).await;
    assert!(out.contains("agent.yaml: ok"), "{out}");
    let agent = runner.spawn("agent-run", "", &rw.apply(&block("agent-run").text, &work));
    for ip in &POP_IPS[..2] {
        let via = format!("{ip}:{}", ports.tunnel);
        agent
            .wait_for_stdout_line(
                |l| l.contains("endpoint online https://api.edge.example.com") && l.contains(&via),
                START,
            )
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", agent.lines().join("\n")));
    }

    // 6. DNS hands out a PoP for the endpoint (once the binding has replicated).
    let dns_block = rw.apply(&block("endpoint-dns").text, &work);
    let answer = wait_for_ok(START, || async {
        let out = runner.try_run("endpoint-dns", "", &dns_block).await?;
        let ip = out.trim().to_owned();
        if POP_IPS.contains(&ip.as_str()) { Ok(ip) } else { Err(out) }
    })
    .await
    .unwrap();
    eprintln!("api.edge.example.com A {answer}");
    // Any PoP serves the endpoint once the agent's registration has replicated to it; curl goes to
    // pop-sin, so wait for that (a client that comes too early gets 404 and tries again).
    let admin_token = std::fs::read_to_string(work.join("admin.token")).unwrap().trim().to_owned();
    let admin = reqwest::Client::new();
    for ip in POP_IPS {
        let url = format!("http://{ip}:{}/v1/endpoints", ports.admin);
        wait_for_ok(START, || async {
            let list: serde_json::Value = admin
                .get(&url)
                .bearer_auth(&admin_token)
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            let known = list.as_array().is_some_and(|l| l.iter().any(|e| e["url"] == "https://api.edge.example.com"));
            if known { Ok(()) } else { Err(format!("{ip}: {list}")) }
        })
        .await
        .unwrap();
    }

    // The Auth0 token request, replaced by the same request to the local provider.
    let auth0 = &block("auth0-token").text;
    assert!(auth0.contains("/oauth/token") && auth0.contains("client_credentials") && auth0.starts_with("TOKEN=$("));
    let token = "TOKEN=$(curl -s -X POST http://127.0.0.1:PORT/token -H 'content-type: application/json' \\\n  \
                 -d \"{\\\"sub\\\":\\\"quickstart\\\",\\\"aud\\\":\\\"$AUDIENCE\\\"}\" | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')\n"
        .replace("http://127.0.0.1:PORT", issuer.trim_end_matches('/'));
    let calls = rw.apply(&block("first-call").text, &work);
    let out = runner.run("first-call", "", &format!("{token}{calls}")).await;
    assert_eq!(statuses(&out), [401, 200], "first-call:\n{out}");
    assert!(out.contains("WARREN_ERR_JWT_MISSING"), "{out}");
    let body = out.rsplit("\r\n\r\n").next().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["path"], "/echo", "{v}");
    assert_eq!(v["headers"]["host"][0], "api.edge.example.com", "{v}");
    assert_eq!(api.requests(), 1, "the call without a token never reached the API");

    rw.assert_all_used();
    for mut p in pops.into_iter().chain([agent]) {
        let _ = p.terminate(Duration::from_secs(15)).await;
    }
}

#[test]
fn every_sh_block_of_the_quickstart_is_marked() {
    let doc = page();
    let all = blocks(&doc);
    assert!(all.len() >= TESTED.len(), "{all:?}");
    let untested: Vec<usize> = all.iter().filter(|b| b.name.is_none()).map(|b| b.line).collect();
    assert!(untested.len() <= 8, "most of the page should run: untested blocks at lines {untested:?}");
}
