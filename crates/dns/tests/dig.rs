//! The server as `dig` (dnsutils) sees it: a widely used client that is not ours. Skipped, with
//! a message, where `dig` is not installed, except in CI (env `CI` set), which installs it.

mod support;

use support::*;

/// Runs `dig @127.0.0.1 -p PORT ARGS…`; `None` (after saying so) when dig is missing.
async fn dig(port: u16, args: &[&str]) -> Option<String> {
    let out = match tokio::process::Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+time=5", "+tries=1"])
        .args(args)
        .output()
        .await
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(std::env::var_os("CI").is_none(), "`dig` (dnsutils) must be installed in CI");
            eprintln!("SKIPPED: `dig` is not installed (Debian package dnsutils)");
            return None;
        }
        Err(e) => panic!("running dig: {e}"),
    };
    assert!(out.status.success(), "dig {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8(out.stdout).unwrap())
}

#[tokio::test]
async fn dig_gets_the_nearest_pop_with_client_subnet() {
    let s = start("pop-fra").await;
    let port = s.udp().port();
    for (cidr, want) in [(PARIS_NET, FRA_V4), (NEW_YORK_NET, IAD_V4), (TOKYO_NET, SIN_V4)] {
        let subnet = format!("+subnet={cidr}");
        let Some(out) = dig(port, &["www.edge.test", "A", &subnet]).await else { return };
        assert!(out.contains("status: NOERROR"), "{out}");
        assert!(out.contains(" aa "), "authoritative: {out}");
        // dig prints the echoed option as ADDRESS/SOURCE/SCOPE.
        assert!(
            out.contains(&format!("CLIENT-SUBNET: {cidr}/24")) || out.contains(&format!("CLIENT-SUBNET: {cidr}/16")),
            "{out}"
        );
        assert!(out.contains(&format!("IN\tA\t{want}")), "{cidr} → {want}: {out}");
    }
}

#[tokio::test]
async fn dig_over_tcp_and_the_negative_answers() {
    let s = start("pop-fra").await;
    let port = s.udp().port();
    let Some(out) = dig(port, &["+tcp", "+short", "www.edge.test", "A", "+subnet=203.0.113.0/24"]).await else {
        return;
    };
    assert_eq!(out.trim(), IAD_V4.to_string());
    let Some(out) = dig(port, &["+tcp", "edge.test", "NS"]).await else { return };
    assert!(out.contains("ns-pop-sin.edge.test."), "{out}");
    let Some(out) = dig(port, &["nope.edge.test", "A"]).await else { return };
    assert!(
        out.contains("status: NXDOMAIN") && out.contains("IN\tSOA\tns-pop-fra.edge.test. hostmaster.edge.test. 7 "),
        "{out}"
    );
    let Some(out) = dig(port, &["www.example.com", "A"]).await else { return };
    assert!(out.contains("status: REFUSED"), "{out}");
    let Some(out) = dig(port, &["+noedns", "www.edge.test", "TXT"]).await else { return };
    assert!(out.contains("status: NOERROR") && out.contains("ANSWER: 0"), "{out}");
    assert!(!out.contains("OPT PSEUDOSECTION"), "no OPT without EDNS: {out}");
}
