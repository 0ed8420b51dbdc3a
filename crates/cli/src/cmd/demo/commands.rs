//! The ready-to-paste commands the demo prints once its checks pass: each one works as printed
//! in another terminal while the demo runs (a test runs the first `curl` with `sh -c`).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

/// What the commands need to name.
pub(crate) struct Ready<'a> {
    pub(crate) exe: &'a Path,
    pub(crate) host: &'a str,
    /// The PoP DNS sends this machine to, and its id.
    pub(crate) nearest: (SocketAddr, &'a str),
    /// A PoP the agent has no tunnel to, and its id.
    pub(crate) forwarding: (SocketAddr, &'a str),
    pub(crate) ca_pem: &'a Path,
    /// A token valid for an hour.
    pub(crate) token: &'a str,
    pub(crate) token_url: &'a str,
    pub(crate) dns: Option<SocketAddr>,
    /// An ECS subnet placed elsewhere, and where.
    pub(crate) other_subnet: (&'a str, &'a str),
    pub(crate) admin_url: &'a str,
    pub(crate) admin_token: &'a str,
    pub(crate) root: &'a Path,
    pub(crate) keep: bool,
}

/// Quotes `s` for a POSIX shell when it holds anything but plain path characters.
pub(crate) fn sh(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-:+=@,".contains(&b)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn curl(r: &Ready<'_>, at: SocketAddr, auth: &str) -> String {
    let port = at.port();
    format!(
        "curl {auth}--resolve {host}:{port}:{ip} --cacert {ca} https://{host}:{port}/hello",
        host = r.host,
        ip = at.ip(),
        ca = sh(&r.ca_pem.display().to_string()),
    )
}

pub(crate) fn render(r: &Ready<'_>) -> String {
    let exe = sh(&r.exe.display().to_string());
    let admin = format!("{exe} admin --url {} --token {}", r.admin_url, r.admin_token);
    let mut o = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(o, "\nTry it (paste into another terminal while the demo runs):\n");
    let _ =
        writeln!(o, "  # the API through {}, the PoP DNS picks for you, with a token valid for an hour", r.nearest.1);
    let _ = writeln!(o, "  {}", curl(r, r.nearest.0, &format!("-H 'Authorization: Bearer {}' ", r.token)));
    let _ = writeln!(
        o,
        "\n  # a fresh token from the identity provider, then a call through {} (forwarded)",
        r.forwarding.1
    );
    let _ = writeln!(
        o,
        "  TOKEN=$(curl -s -X POST {} -H 'content-type: application/json' -d '{{\"sub\":\"you\"}}' | sed -E 's/.*\"access_token\":\"([^\"]+)\".*/\\1/')",
        r.token_url
    );
    let _ = writeln!(o, "  {}", curl(r, r.forwarding.0, "-H \"Authorization: Bearer $TOKEN\" "));
    let _ = writeln!(o, "\n  # no token: 401 with its error code");
    let _ = writeln!(o, "  {}", curl(r, r.nearest.0, "-i "));
    if let Some(dns) = r.dns {
        let _ = writeln!(o, "\n  # GSLB DNS: the PoP nearest to you, then to a client in {}", r.other_subnet.1);
        let _ = writeln!(o, "  dig +norec @{} -p {} {}", dns.ip(), dns.port(), r.host);
        let _ = writeln!(o, "  dig +norec @{} -p {} {} +subnet={}", dns.ip(), dns.port(), r.host, r.other_subnet.0);
    }
    let _ = writeln!(o, "\n  # the cluster and the endpoint, through any PoP's admin API");
    let _ = writeln!(o, "  {admin} cluster status");
    let _ = writeln!(o, "  {admin} endpoints list");
    let root = r.root.display();
    let _ = writeln!(o, "\n  # files: {root}/pop-*/pop.yaml, the policy {root}/api/policy.yaml, logs in {root}/logs/");
    let fate = if r.keep { "kept" } else { "removed" };
    let _ = writeln!(o, "\nCtrl-C stops every process; {root} is then {fate}.");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(sh("/tmp/warren-demo-x/ca/ca.pem"), "/tmp/warren-demo-x/ca/ca.pem");
        assert_eq!(sh("/tmp/my demo"), "'/tmp/my demo'");
        assert_eq!(sh("it's"), r"'it'\''s'");
    }

    #[test]
    fn commands_name_every_address() {
        let r = Ready {
            exe: Path::new("/usr/bin/warren"),
            host: "api.edge.test",
            nearest: ("127.0.0.11:18443".parse().unwrap(), "pop-fra"),
            forwarding: ("127.0.0.13:18443".parse().unwrap(), "pop-sin"),
            ca_pem: Path::new("/d/ca/ca.pem"),
            token: "eyJx.y.z",
            token_url: "http://127.0.0.1:4000/token",
            dns: Some("127.0.0.11:18053".parse().unwrap()),
            other_subnet: ("198.51.100.0/24", "New York"),
            admin_url: "http://127.0.0.11:19090",
            admin_token: "wra_1",
            root: Path::new("/d"),
            keep: false,
        };
        let text = render(&r);
        assert!(text.contains(
            "  curl -H 'Authorization: Bearer eyJx.y.z' --resolve api.edge.test:18443:127.0.0.11 --cacert /d/ca/ca.pem https://api.edge.test:18443/hello\n"
        ));
        assert!(text.contains("  dig +norec @127.0.0.11 -p 18053 api.edge.test +subnet=198.51.100.0/24\n"));
        assert!(text.contains("  /usr/bin/warren admin --url http://127.0.0.11:19090 --token wra_1 cluster status\n"));
        assert!(text.contains("/d is then removed"));
    }
}
