//! A PoP and agents as real `warren` processes, for end-to-end tests.
//!
//! [`PopProcess::start`] writes a `pop.yaml` into its own [`TestDir`], starts `warren pop`, and
//! reads back every listener address. [`AgentProcess::http`] starts `warren http` against it
//! and waits for `endpoint online`. These helpers panic with context instead of returning
//! errors: they are only ever called from tests, where a panic is the report.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{TestDir, WarrenProcess, free_tcp_port, free_tcp_udp_port, run_warren_with};

/// How long a process gets to come up.
const START: Duration = Duration::from_secs(30);

/// What kind of PoP to start.
#[derive(Debug, Clone)]
pub struct PopOptions {
    pub id: String,
    pub zone: String,
    /// Fixed ports instead of port 0, so the PoP can restart on the same addresses.
    pub fixed_ports: bool,
    /// An inclusive port range for TCP endpoints.
    pub tcp_ports: Option<(u16, u16)>,
    /// Extra YAML appended to the config.
    pub extra_yaml: String,
    /// The cluster listener's port (UDP); `None`: as the other ports.
    pub cluster_port: Option<u16>,
    /// `(lat, lon)`.
    pub location: (f64, f64),
    pub region: String,
    /// A dev CA directory shared with other PoPs (one CA for a whole test cluster, as one
    /// certificate authority serves a real edge); `None`: the PoP's own.
    pub dev_ca_dir: Option<PathBuf>,
    /// Serve GSLB DNS on a loopback port (`listen.dns`).
    pub dns: bool,
    /// What GSLB hands out for this PoP (`public_ipv4`).
    pub public_ipv4: String,
    /// The loopback address of the http and https listeners (and so of TCP endpoints), so
    /// several PoPs can offer the same TCP port.
    pub http_ip: String,
}

impl Default for PopOptions {
    fn default() -> Self {
        PopOptions {
            id: "pop-test".into(),
            zone: "edge.test".into(),
            fixed_ports: false,
            tcp_ports: None,
            extra_yaml: String::new(),
            cluster_port: None,
            location: (50.11, 8.68),
            region: "test".into(),
            dev_ca_dir: None,
            dns: false,
            public_ipv4: "127.0.0.1".into(),
            http_ip: "127.0.0.1".into(),
        }
    }
}

/// A running `warren pop`.
pub struct PopProcess {
    pub id: String,
    pub ca_dir: PathBuf,
    pub process: WarrenProcess,
    pub dir: TestDir,
    pub bin: PathBuf,
    pub config: PathBuf,
    pub zone: String,
    pub admin_token: String,
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub tunnel: SocketAddr,
    pub cluster: SocketAddr,
    pub admin: SocketAddr,
    /// UDP and TCP, when started with `dns: true`.
    pub dns: Option<SocketAddr>,
}

impl PopProcess {
    /// Starts a PoP on loopback with a dev CA, and waits for every listener.
    pub async fn start(bin: impl AsRef<Path>, opts: PopOptions) -> PopProcess {
        let dir = TestDir::new().expect("temporary directory");
        let port = |udp: bool| -> u16 {
            if !opts.fixed_ports {
                0
            } else if udp {
                // The tunnel listens on UDP (QUIC) and on TCP (the fallback) with one number.
                free_tcp_udp_port().expect("free UDP+TCP port")
            } else {
                free_tcp_port().expect("free TCP port")
            }
        };
        let tcp_ports = match opts.tcp_ports {
            Some((a, b)) => format!("tcp_ports: {a}-{b}\n"),
            None => String::new(),
        };
        let dns = match opts.dns {
            true => format!("  dns: 127.0.0.1:{}\n", port(true)),
            false => String::new(),
        };
        let yaml = format!(
            "id: {id}\nregion: {region}\nlocation: {{ lat: {lat}, lon: {lon} }}\npublic_ipv4: {ipv4}\nzone: {zone}\n\
             data_dir: {data}\nlisten:\n  http: {hip}:{http}\n  https: {hip}:{https}\n  tunnel: 127.0.0.1:{tunnel}\n\
             \x20 cluster: 127.0.0.1:{cluster}\n  admin: 127.0.0.1:{admin}\n{dns}{tcp_ports}tls:\n  dev_ca_dir: {ca}\n{extra}",
            id = opts.id,
            region = opts.region,
            ipv4 = opts.public_ipv4,
            hip = opts.http_ip,
            lat = opts.location.0,
            lon = opts.location.1,
            zone = opts.zone,
            data = dir.join("data").display(),
            http = port(false),
            https = port(false),
            tunnel = port(true),
            cluster = opts.cluster_port.unwrap_or_else(|| port(true)),
            admin = port(false),
            ca = opts.dev_ca_dir.clone().unwrap_or_else(|| dir.join("ca")).display(),
            extra = opts.extra_yaml,
        );
        let config = dir.write("pop.yaml", yaml);
        let admin_token = "test-admin-token".to_owned();
        let bin = bin.as_ref().to_path_buf();
        let (process, [http, https, tunnel, cluster, admin], dns) =
            Self::spawn(&bin, &config, &admin_token, opts.dns).await;
        let ca_dir = opts.dev_ca_dir.unwrap_or_else(|| dir.join("ca"));
        PopProcess {
            id: opts.id,
            ca_dir,
            process,
            dir,
            bin,
            config,
            zone: opts.zone,
            admin_token,
            http,
            https,
            tunnel,
            cluster,
            admin,
            dns,
        }
    }

    async fn spawn(
        bin: &Path,
        config: &Path,
        token: &str,
        dns: bool,
    ) -> (WarrenProcess, [SocketAddr; 5], Option<SocketAddr>) {
        let process = WarrenProcess::builder(bin)
            .args(["pop", "--config"])
            .arg(config)
            .env("WARREN_ADMIN_TOKEN", token)
            .env("WARREN_LOG_LEVEL", "info")
            .name("pop")
            .spawn()
            .expect("warren pop starts");
        let addr = |name: &'static str| {
            let p = &process;
            async move { p.listener_addr(name, START).await.unwrap_or_else(|e| panic!("listener {name}: {e}")) }
        };
        let addrs =
            [addr("http").await, addr("https").await, addr("tunnel").await, addr("cluster").await, addr("admin").await];
        let dns = match dns {
            true => Some(addr("dns").await),
            false => None,
        };
        (process, addrs, dns)
    }

    /// Kills the PoP (SIGKILL) and starts it again with the same config and data.
    pub async fn restart(&mut self) {
        let _ = self.process.kill().await;
        self.start_again().await;
    }

    /// Starts the PoP again after it was killed (same config and data).
    pub async fn start_again(&mut self) {
        let (process, [http, https, tunnel, cluster, admin], dns) =
            Self::spawn(&self.bin, &self.config, &self.admin_token, self.dns.is_some()).await;
        (self.process, self.http, self.https, self.tunnel, self.cluster, self.admin, self.dns) =
            (process, http, https, tunnel, cluster, admin, dns);
    }

    /// The dev CA that signs the PoP's certificates (for `--ca-file` and HTTPS clients).
    pub fn ca_pem(&self) -> PathBuf {
        self.ca_dir.join("ca.pem")
    }

    /// Runs `warren admin ARGS` against this PoP.
    pub async fn admin(&self, args: &[&str]) -> crate::Output {
        let url = format!("http://{}", self.admin);
        let mut all = vec!["admin", "--url", url.as_str(), "--token", self.admin_token.as_str()];
        all.extend_from_slice(args);
        run_warren_with(&self.bin, all, [("WARREN_LOG_LEVEL", "warn")], Duration::from_secs(30))
            .await
            .expect("warren admin runs")
    }

    /// Creates an agent authtoken through `warren admin tokens create` (the last stdout line).
    pub async fn create_token(&self) -> String {
        let out = self.admin(&["tokens", "create", "--description", "test"]).await;
        assert!(out.success(), "tokens create failed: {}", out.stderr);
        out.stdout.lines().last().expect("a token line").trim().to_owned()
    }

    /// `http://HOST:PORT` of this PoP's plain listener for `name.ZONE`.
    pub fn http_url(&self, name: &str, path: &str) -> String {
        format!("http://{name}.{}:{}{path}", self.zone, self.http.port())
    }

    /// `https://HOST:PORT` of this PoP's TLS listener for `name.ZONE`.
    pub fn https_url(&self, name: &str, path: &str) -> String {
        format!("https://{name}.{}:{}{path}", self.zone, self.https.port())
    }
}

/// A reqwest client that resolves `hosts` to 127.0.0.1 and trusts `ca_pem`.
pub fn client_for(hosts: &[&str], ca_pem: Option<&Path>) -> reqwest::Client {
    let mut b = reqwest::Client::builder().timeout(Duration::from_secs(120)).no_proxy();
    for h in hosts {
        b = b.resolve(h, SocketAddr::from(([127, 0, 0, 1], 0)));
    }
    if let Some(p) = ca_pem {
        let pem = std::fs::read(p).expect("CA file");
        b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA PEM"));
    }
    b.build().expect("reqwest client")
}

/// A running agent (`warren http` / `warren tcp`).
pub struct AgentProcess {
    pub process: WarrenProcess,
    /// The public URL it printed with `endpoint online`.
    pub url: String,
}

impl AgentProcess {
    /// `warren http TARGET --server-addr POP --authtoken T --ca-file CA EXTRA...`, then waits
    /// for `endpoint online`.
    pub async fn http(pop: &PopProcess, token: &str, target: &str, extra: &[&str]) -> AgentProcess {
        Self::start(pop, "http", token, target, extra).await
    }

    /// The same for `warren tcp`.
    pub async fn tcp(pop: &PopProcess, token: &str, target: &str, extra: &[&str]) -> AgentProcess {
        Self::start(pop, "tcp", token, target, extra).await
    }

    /// [`AgentProcess::http`] with `--server-addr SERVER` instead of the PoP's tunnel address
    /// (a relay, or a port where UDP is blocked).
    pub async fn http_via(pop: &PopProcess, server: &str, token: &str, target: &str, extra: &[&str]) -> AgentProcess {
        let process = Self::spawn_via(pop, server, "http", token, target, extra);
        Self::online(process).await
    }

    async fn start(pop: &PopProcess, kind: &str, token: &str, target: &str, extra: &[&str]) -> AgentProcess {
        Self::online(Self::spawn(pop, kind, token, target, extra)).await
    }

    async fn online(process: WarrenProcess) -> AgentProcess {
        let line = process
            .wait_for_stdout_line(|l| l.contains("endpoint online"), START)
            .await
            .unwrap_or_else(|e| panic!("agent did not come online: {e}"));
        let url = line.split_whitespace().nth(2).expect("endpoint online URL -> TARGET").to_owned();
        AgentProcess { process, url }
    }

    /// Starts an agent without waiting for anything.
    pub fn spawn(pop: &PopProcess, kind: &str, token: &str, target: &str, extra: &[&str]) -> WarrenProcess {
        Self::spawn_via(pop, &pop.tunnel.to_string(), kind, token, target, extra)
    }

    fn spawn_via(
        pop: &PopProcess,
        server: &str,
        kind: &str,
        token: &str,
        target: &str,
        extra: &[&str],
    ) -> WarrenProcess {
        WarrenProcess::builder(&pop.bin)
            .args([kind, target, "--authtoken", token, "--server-addr", server])
            .arg("--ca-file")
            .arg(pop.ca_pem())
            .args(extra)
            .env_remove("WARREN_AUTHTOKEN")
            .env("XDG_CONFIG_HOME", pop.dir.join("agent-config"))
            .name(format!("agent {kind}"))
            .spawn()
            .expect("warren agent starts")
    }
}
