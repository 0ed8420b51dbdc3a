use super::*;

/// The example of CONTRACT.md, verbatim apart from the comments.
pub(crate) const CONTRACT_EXAMPLE: &str = r#"id: pop-fra
region: eu-central
location: { lat: 50.11, lon: 8.68 }
public_ipv4: 203.0.113.10
zone: edge.example.com
data_dir: /var/lib/warren
listen:
  http: 0.0.0.0:80
  https: 0.0.0.0:443
  tunnel: 0.0.0.0:4443
  cluster: 0.0.0.0:7443
  dns: 0.0.0.0:53
  admin: 127.0.0.1:9090
tcp_ports: 20000-20999
cluster:
  bootstrap: true
  peers:
    pop-fra: 10.0.0.1:7443
    pop-iad: 10.0.0.2:7443
  secret_file: /etc/warren/cluster.secret
tls:
  dev_ca_dir: ./data/ca
admin_token_file: /etc/warren/admin.token
global_policy_file: ./operator-policy.yaml
geo:
  mmdb: /usr/share/GeoIP/GeoLite2-City.mmdb
  networks:
    - { cidr: 192.0.2.0/24, lat: 48.86, lon: 2.35 }
health: { interval_ms: 1000, fall: 3, rise: 2 }
dns: { ttl: 30 }
"#;

fn parse(src: &str) -> Result<PopConfig, ConfigError> {
    PopConfig::parse(src, "pop.yaml")
}

#[test]
fn contract_example_parses() {
    let c = parse(CONTRACT_EXAMPLE).unwrap();
    assert_eq!(c.id.as_str(), "pop-fra");
    assert_eq!(c.zone.as_str(), "edge.example.com");
    assert_eq!(c.listen.admin, "127.0.0.1:9090".parse().unwrap());
    assert_eq!(c.tcp_ports, Some(TcpPortRange { first: 20000, last: 20999 }));
    assert_eq!(c.peers.len(), 2);
    assert_eq!(c.tls, TlsConfig::DevCa("./data/ca".into()));
    assert_eq!(c.geo.networks[0].cidr, "192.0.2.0/24".parse::<IpNet>().unwrap());
    assert_eq!(c.health, HealthConfig { interval_ms: 1000, fall: 3, rise: 2 });
    assert_eq!(c.dns_ttl, 30);
}

/// Replaces the first line starting with `from` (after indentation) by `to`.
fn with_line(from: &str, to: &str) -> String {
    let mut done = false;
    CONTRACT_EXAMPLE
        .lines()
        .map(|l| {
            if !done && l.trim_start().starts_with(from) {
                done = true;
                to.to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn line_of(src: &str, needle: &str) -> u64 {
    src.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1
}

#[test]
fn each_bad_value_points_at_its_line_and_field() {
    let cases = [
        ("id:", "id: POP_FRA", "id"),
        ("admin:", "  admin: nowhere", "listen.admin"),
        ("tunnel:", "  tunnel: 0.0.0.0:99999", "listen.tunnel"),
        ("zone:", "zone: bad_zone.example", "zone"),
        ("public_ipv4:", "public_ipv4: 300.1.1.1", "public_ipv4"),
        ("tcp_ports:", "tcp_ports: 30000-20000", "tcp_ports"),
        ("location:", "location: { lat: 95, lon: 8.68 }", "location"),
        ("pop-iad:", "    pop-iad: not an address", "cluster.peers.pop-iad"),
        ("- { cidr", "    - { cidr: 192.0.2.0/33, lat: 48.86, lon: 2.35 }", "geo.networks[0].cidr"),
        ("dns: {", "dns: { ttl: 0 }", "dns.ttl"),
        ("health:", "health: { interval_ms: 1, fall: 3, rise: 2 }", "health"),
        ("region:", "regoin: eu-central", "regoin"),
    ];
    for (from, to, field) in cases {
        let src = with_line(from, to);
        let err = parse(&src).expect_err(to);
        assert_eq!(err.field, field, "{to} → {err}");
        assert_eq!(err.line, line_of(&src, to.trim()), "{to} → {err}");
        assert!(err.to_string().starts_with(&format!("pop.yaml:{}:", err.line)), "{err}");
    }
}

#[test]
fn duplicate_key_is_rejected() {
    let src = format!("{CONTRACT_EXAMPLE}zone: other.example.com\n");
    let err = parse(&src).unwrap_err();
    assert_eq!(err.line, line_of(&src, "other.example.com"), "{err}");
}

#[test]
fn missing_required_listener_is_named() {
    let src: String =
        CONTRACT_EXAMPLE.lines().filter(|l| !l.contains("admin: 127")).map(|l| format!("{l}\n")).collect();
    let err = parse(&src).unwrap_err();
    assert_eq!(err.field, "listen.admin", "{err}");
}

#[test]
fn cluster_of_many_needs_a_secret() {
    let src: String =
        CONTRACT_EXAMPLE.lines().filter(|l| !l.contains("secret_file")).map(|l| format!("{l}\n")).collect();
    let err = parse(&src).unwrap_err();
    assert_eq!(err.field, "cluster.secret_file", "{err}");
}

#[test]
fn https_needs_a_certificate_source() {
    let src: String = CONTRACT_EXAMPLE
        .lines()
        .filter(|l| !l.contains("tls:") && !l.contains("dev_ca_dir"))
        .map(|l| format!("{l}\n"))
        .collect();
    let err = parse(&src).unwrap_err();
    assert_eq!(err.field, "listen.https", "{err}");
    let src = with_line("dev_ca_dir", "  cert: /x.pem");
    assert_eq!(parse(&src).unwrap_err().field, "tls.key");
}

#[test]
fn minimal_single_pop() {
    let src = "id: solo\nlocation: {lat: 0, lon: 0}\nzone: edge.test\ndata_dir: /tmp/x\nlisten: {tunnel: 127.0.0.1:0, cluster: 127.0.0.1:0, admin: localhost:0}\n";
    let c = parse(src).unwrap();
    assert!(c.bootstrap && c.peers.is_empty() && c.tls == TlsConfig::None);
    assert_eq!(c.listen.admin, "127.0.0.1:0".parse().unwrap());
    assert_eq!(c.dns_ttl, PopConfig::DEFAULT_DNS_TTL);
}

#[test]
fn host_port_rules() {
    assert!(is_host_port("10.0.0.1:7443"));
    assert!(is_host_port("[::1]:7443"));
    assert!(is_host_port("pop-fra.internal:7443"));
    assert!(!is_host_port("pop-fra.internal"));
    assert!(!is_host_port("a b:1"));
    assert!(!is_host_port("host:0"));
}

#[test]
fn two_listeners_on_one_address_are_refused() {
    let src = with_line("https:", "  https: 0.0.0.0:80");
    let err = parse(&src).unwrap_err();
    assert_eq!((err.field.as_str(), err.line), ("listen.https", line_of(&src, "https: 0.0.0.0:80")), "{err}");
    assert!(err.reason.contains("listen.http"), "{err}");
}

#[test]
fn raft_timing_and_gslb_weight() {
    let base = "id: p\nlocation: { lat: 1, lon: 2 }\nzone: e.test\ndata_dir: /tmp/x\nlisten: { tunnel: 127.0.0.1:1, cluster: 127.0.0.1:2, admin: 127.0.0.1:3 }\n";
    let cfg = PopConfig::parse(base, "pop.yaml").unwrap();
    assert_eq!(cfg.raft, crate::RaftTiming { heartbeat_ms: 250, election_timeout_ms: 1500 });
    assert_eq!((cfg.dns_weight, cfg.dns_drain), (100, false));

    let tuned = format!(
        "{base}cluster: {{ heartbeat_ms: 100, election_timeout_ms: 600 }}\ndns: {{ weight: 50, drain: true }}\n"
    );
    let cfg = PopConfig::parse(&tuned, "pop.yaml").unwrap();
    assert_eq!(cfg.raft, crate::RaftTiming { heartbeat_ms: 100, election_timeout_ms: 600 });
    assert_eq!((cfg.dns_weight, cfg.dns_drain), (50, true));

    let too_eager = format!("{base}cluster: {{ heartbeat_ms: 200, election_timeout_ms: 300 }}\n");
    let e = PopConfig::parse(&too_eager, "pop.yaml").unwrap_err().to_string();
    assert!(
        e.starts_with("pop.yaml:6:")
            && e.contains("cluster.election_timeout_ms: must be at least 3 heartbeats (600 ms)"),
        "{e}"
    );
    let heavy = format!("{base}dns: {{ weight: 5000 }}\n");
    let e = PopConfig::parse(&heavy, "pop.yaml").unwrap_err().to_string();
    assert!(e.contains("dns.weight: must be 0..=1000, got 5000"), "{e}");
}
