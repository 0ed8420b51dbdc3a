//! What the demo's world looks like on disk and on the network: the three PoPs, their addresses
//! and ports, and the files they read (`pop.yaml`, the traffic policy, the shared secrets).
//!
//! Each PoP gets its own loopback address (127.0.0.11, .12, .13), which it also hands out as its
//! `public_ipv4`, so the DNS answer names visibly different PoPs for clients in different places
//! while every PoP uses the same port numbers, as real PoPs all use 443 and 53. Where the extra
//! loopback addresses cannot be bound (not Linux), all PoPs share 127.0.0.1 on distinct ports.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The zone the demo's PoPs serve.
pub(crate) const ZONE: &str = "edge.test";
/// The endpoint's name under [`ZONE`].
pub(crate) const API_NAME: &str = "api";
/// The `aud` the policy requires (as an Auth0 API identifier would be).
pub(crate) const AUDIENCE: &str = "https://api.edge.test";

/// One PoP of the demo: where it is and what it is called.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PopSite {
    pub(crate) id: &'static str,
    pub(crate) city: &'static str,
    pub(crate) region: &'static str,
    pub(crate) lat: f64,
    pub(crate) lon: f64,
}

/// Frankfurt bootstraps the cluster; the agent keeps tunnels to the first two.
pub(crate) const SITES: [PopSite; 3] = [
    PopSite { id: "pop-fra", city: "Frankfurt", region: "eu-central", lat: 50.11, lon: 8.68 },
    PopSite { id: "pop-iad", city: "Virginia", region: "us-east", lat: 39.04, lon: -77.49 },
    PopSite { id: "pop-sin", city: "Singapore", region: "ap-southeast", lat: 1.35, lon: 103.82 },
];

/// A client network of `geo.networks`, placed near one PoP.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientNet {
    pub(crate) cidr: &'static str,
    pub(crate) place: &'static str,
    pub(crate) continent: &'static str,
    pub(crate) lat: f64,
    pub(crate) lon: f64,
}

/// This machine's own queries (source 127.0.0.0/8) come from Paris; the other two networks are
/// documentation prefixes that DNS questions name with EDNS Client Subnet.
pub(crate) const CLIENT_NETS: [ClientNet; 3] = [
    ClientNet { cidr: "127.0.0.0/8", place: "Paris", continent: "Europe", lat: 48.86, lon: 2.35 },
    ClientNet { cidr: "198.51.100.0/24", place: "New York", continent: "North America", lat: 40.71, lon: -74.01 },
    ClientNet { cidr: "203.0.113.0/24", place: "Tokyo", continent: "Asia", lat: 35.68, lon: 139.69 },
];

/// The ports every PoP listens on before it starts (the others are port 0, read back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PopPorts {
    pub(crate) https: u16,
    pub(crate) dns: u16,
    pub(crate) cluster: u16,
}

/// Addresses and ports of the three PoPs, kept in `DIR/layout.json` so that a demo restarted on
/// the same `--data-dir` finds its cluster where the Raft log says it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Layout {
    pub(crate) ips: [Ipv4Addr; 3],
    pub(crate) ports: [PopPorts; 3],
}

impl Layout {
    /// The saved layout of `dir`, or a new one with free ports.
    pub(crate) fn load_or_pick(dir: &Path) -> anyhow::Result<Layout> {
        let file = dir.join("layout.json");
        if let Ok(text) = std::fs::read_to_string(&file) {
            return serde_json::from_str(&text).with_context(|| format!("{} is not a demo layout", file.display()));
        }
        let layout = Layout::pick().context("cannot find free ports on loopback")?;
        let text = serde_json::to_string_pretty(&layout).context("cannot encode the layout")?;
        std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))?;
        Ok(layout)
    }

    fn pick() -> std::io::Result<Layout> {
        let own = [Ipv4Addr::new(127, 0, 0, 11), Ipv4Addr::new(127, 0, 0, 12), Ipv4Addr::new(127, 0, 0, 13)];
        if own.iter().all(|ip| UdpSocket::bind((*ip, 0)).is_ok()) {
            // One set of ports free on all three addresses.
            let p = free_ports(&own, 3)?;
            let ports = PopPorts { https: p[0], dns: p[1], cluster: p[2] };
            return Ok(Layout { ips: own, ports: [ports; 3] });
        }
        let lo = Ipv4Addr::LOCALHOST;
        let p = free_ports(&[lo], 9)?;
        let at = |i: usize| PopPorts { https: p[3 * i], dns: p[3 * i + 1], cluster: p[3 * i + 2] };
        Ok(Layout { ips: [lo; 3], ports: [at(0), at(1), at(2)] })
    }

    pub(crate) fn https(&self, i: usize) -> SocketAddr {
        SocketAddr::from((self.ips[i], self.ports[i].https))
    }

    pub(crate) fn dns(&self, i: usize) -> SocketAddr {
        SocketAddr::from((self.ips[i], self.ports[i].dns))
    }

    pub(crate) fn cluster(&self, i: usize) -> SocketAddr {
        SocketAddr::from((self.ips[i], self.ports[i].cluster))
    }

    /// The PoP whose public address is `ip`.
    pub(crate) fn pop_of(&self, ip: Ipv4Addr) -> Option<usize> {
        let mut found = (0..3).filter(|i| self.ips[*i] == ip);
        let first = found.next();
        // With one shared address an answer cannot name a PoP.
        if found.next().is_some() { None } else { first }
    }
}

/// `n` distinct ports free for TCP and UDP on every address of `ips`. All probe sockets stay open
/// until every port is chosen, so the kernel cannot hand out the same port twice.
fn free_ports(ips: &[Ipv4Addr], n: usize) -> std::io::Result<Vec<u16>> {
    let mut held: Vec<(TcpListener, UdpSocket)> = Vec::new();
    let mut ports = Vec::new();
    for _ in 0..200 {
        if ports.len() == n {
            return Ok(ports);
        }
        let first = TcpListener::bind((ips[0], 0))?;
        let port = first.local_addr()?.port();
        let mut taken = Vec::new();
        let ok = ips.iter().all(|ip| {
            let tcp = if *ip == ips[0] { first.try_clone() } else { TcpListener::bind((*ip, port)) };
            match (tcp, UdpSocket::bind((*ip, port))) {
                (Ok(t), Ok(u)) => {
                    taken.push((t, u));
                    true
                }
                _ => false,
            }
        });
        if ok {
            ports.push(port);
            held.extend(taken);
        }
    }
    Err(std::io::Error::other(format!("no {n} ports free on {ips:?} after 200 tries")))
}

/// The files of the world, all under one folder.
#[derive(Debug, Clone)]
pub(crate) struct Files {
    pub(crate) root: PathBuf,
}

impl Files {
    pub(crate) fn ca_dir(&self) -> PathBuf {
        self.root.join("ca")
    }
    pub(crate) fn ca_pem(&self) -> PathBuf {
        self.ca_dir().join("ca.pem")
    }
    pub(crate) fn secret(&self) -> PathBuf {
        self.root.join("cluster.secret")
    }
    pub(crate) fn admin_token(&self) -> PathBuf {
        self.root.join("admin.token")
    }
    pub(crate) fn pop_dir(&self, i: usize) -> PathBuf {
        self.root.join(SITES[i].id)
    }
    pub(crate) fn pop_yaml(&self, i: usize) -> PathBuf {
        self.pop_dir(i).join("pop.yaml")
    }
    pub(crate) fn api_dir(&self) -> PathBuf {
        self.root.join("api")
    }
    pub(crate) fn policy(&self) -> PathBuf {
        self.api_dir().join("policy.yaml")
    }
    pub(crate) fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub(crate) fn log(&self, name: &str) -> PathBuf {
        self.logs().join(format!("{name}.log"))
    }
}

/// `pop.yaml` of PoP `i`: a cluster of three on loopback with short Raft and health timings (the
/// defaults suit PoPs continents apart), the shared dev CA, and `geo.networks` placing this
/// machine in Paris.
pub(crate) fn pop_yaml(i: usize, layout: &Layout, files: &Files) -> String {
    let site = SITES[i];
    let ip = layout.ips[i];
    let mut y = String::new();
    // Writing to a String cannot fail.
    let _ =
        writeln!(y, "# PoP {} of `warren demo` ({}); the cluster's other members are its peers.", site.id, site.city);
    let _ = writeln!(y, "id: {}", site.id);
    let _ = writeln!(y, "region: {}", site.region);
    let _ = writeln!(y, "location: {{ lat: {}, lon: {} }}", site.lat, site.lon);
    let _ = writeln!(y, "public_ipv4: {ip}");
    let _ = writeln!(y, "zone: {ZONE}");
    let _ = writeln!(y, "data_dir: {}", files.pop_dir(i).join("data").display());
    let _ = writeln!(y, "listen:");
    let _ = writeln!(y, "  https: {}", layout.https(i));
    let _ = writeln!(y, "  tunnel: {ip}:0");
    let _ = writeln!(y, "  cluster: {}", layout.cluster(i));
    let _ = writeln!(y, "  dns: {}", layout.dns(i));
    let _ = writeln!(y, "  admin: {ip}:0");
    let _ = writeln!(y, "cluster:");
    let _ = writeln!(y, "  bootstrap: {}", i == 0);
    let _ = writeln!(y, "  secret_file: {}", files.secret().display());
    let _ = writeln!(y, "  heartbeat_ms: 100");
    let _ = writeln!(y, "  election_timeout_ms: 600");
    let _ = writeln!(y, "  peers:");
    for (j, s) in SITES.iter().enumerate() {
        let _ = writeln!(y, "    {}: {}", s.id, layout.cluster(j));
    }
    let _ = writeln!(y, "tls:\n  dev_ca_dir: {}", files.ca_dir().display());
    let _ = writeln!(y, "admin_token_file: {}", files.admin_token().display());
    let _ = writeln!(y, "geo:\n  networks:");
    for n in CLIENT_NETS {
        let _ = writeln!(y, "    - {{ cidr: {}, lat: {}, lon: {} }}   # {}", n.cidr, n.lat, n.lon, n.place);
    }
    let _ = writeln!(y, "health: {{ interval_ms: 200, fall: 3, rise: 2 }}");
    let _ = writeln!(y, "dns: {{ ttl: 30 }}");
    y
}

/// The endpoint's traffic policy, in ngrok's format: a valid RS256 token from the identity
/// provider, meant for this API, on every request.
pub(crate) fn policy_yaml(issuer: &str, jwks_url: &str) -> String {
    format!(
        "# Traffic policy of https://{API_NAME}.{ZONE}, enforced by every PoP (ngrok's Traffic Policy format).\n\
         # For Auth0: issuer https://TENANT.auth0.com/, JWKS https://TENANT.auth0.com/.well-known/jwks.json,\n\
         # audience = the API identifier.\n\
         on_http_request:\n\
         \x20 - name: Require a token from the identity provider\n\
         \x20   actions:\n\
         \x20     - type: jwt-validation\n\
         \x20       config:\n\
         \x20         issuer:\n\
         \x20           allow_list:\n\
         \x20             - value: {issuer}\n\
         \x20         audience:\n\
         \x20           allow_list:\n\
         \x20             - value: {AUDIENCE}\n\
         \x20         http:\n\
         \x20           tokens:\n\
         \x20             - type: jwt\n\
         \x20               method: header\n\
         \x20               name: Authorization\n\
         \x20               prefix: \"Bearer \"\n\
         \x20         jws:\n\
         \x20           allowed_algorithms:\n\
         \x20             - RS256\n\
         \x20           keys:\n\
         \x20             sources:\n\
         \x20               additional_jkus:\n\
         \x20                 - {jwks_url}\n"
    )
}

/// Writes `text` to `path` readable by the owner only (secrets).
pub(crate) fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}

/// A random secret of 32 hex digits per `u128`.
pub(crate) fn random_hex(prefix: &str) -> String {
    format!("{prefix}{:032x}{:032x}", rand::random::<u128>(), rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Layout, Files) {
        let ports = PopPorts { https: 18443, dns: 18053, cluster: 17443 };
        let ips = [Ipv4Addr::new(127, 0, 0, 11), Ipv4Addr::new(127, 0, 0, 12), Ipv4Addr::new(127, 0, 0, 13)];
        (Layout { ips, ports: [ports; 3] }, Files { root: PathBuf::from("/tmp/warren-demo-x") })
    }

    #[test]
    fn every_pop_yaml_is_a_valid_config() {
        let (layout, files) = sample();
        for (i, site) in SITES.iter().enumerate() {
            let cfg = warren_config::PopConfig::parse(&pop_yaml(i, &layout, &files), "pop.yaml")
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(cfg.id.to_string(), site.id);
            assert_eq!(cfg.bootstrap, i == 0);
            assert_eq!(cfg.peers.len(), 3);
            assert_eq!(cfg.public_ipv4, Some(layout.ips[i]));
            assert_eq!(cfg.listen.dns, Some(layout.dns(i)));
            assert_eq!(cfg.geo.networks.len(), CLIENT_NETS.len());
        }
    }

    #[test]
    fn the_policy_is_valid_and_names_the_idp() {
        let text = policy_yaml("http://127.0.0.1:4000", "http://127.0.0.1:4000/.well-known/jwks.json");
        warren_policy::validate(&text, "policy.yaml").unwrap_or_else(|e| panic!("{e:?}"));
        assert!(text.contains("- value: https://api.edge.test"));
    }

    #[test]
    fn an_answer_names_a_pop_only_when_addresses_differ() {
        let (mut layout, _) = sample();
        assert_eq!(layout.pop_of(Ipv4Addr::new(127, 0, 0, 12)), Some(1));
        assert_eq!(layout.pop_of(Ipv4Addr::new(127, 0, 0, 1)), None);
        layout.ips = [Ipv4Addr::LOCALHOST; 3];
        assert_eq!(layout.pop_of(Ipv4Addr::LOCALHOST), None);
    }

    #[test]
    fn picked_ports_are_distinct_and_free() {
        let p = free_ports(&[Ipv4Addr::LOCALHOST], 4).unwrap();
        let mut sorted = p.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 4);
        assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, p[0])).is_ok(), "released after picking");
    }
}
