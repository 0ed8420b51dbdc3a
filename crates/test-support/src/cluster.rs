//! A cluster of real `warren pop` processes on loopback, for end-to-end tests.
//!
//! Every PoP gets fixed ports (so it can be killed and started again on the same addresses), a
//! location in a different region, the same cluster secret, and Raft and health timings short
//! enough for tests (100 ms heartbeats, 600 ms elections, 200 ms probes).

use std::path::{Path, PathBuf};

use crate::{PopOptions, PopProcess, TestDir, free_tcp_udp_port};

/// `(id, region, lat, lon)` of the test PoPs, in start order.
pub const TEST_POPS: [(&str, &str, f64, f64); 5] = [
    ("pop-fra", "eu-central", 50.11, 8.68),
    ("pop-iad", "us-east", 39.04, -77.49),
    ("pop-sin", "ap-southeast", 1.35, 103.82),
    ("pop-syd", "ap-southeast-2", -33.87, 151.21),
    ("pop-gru", "sa-east", -23.55, -46.63),
];

/// A running cluster.
pub struct Cluster {
    pub pops: Vec<PopProcess>,
    pub dir: TestDir,
    pub secret: PathBuf,
    /// The dev CA all PoPs share.
    pub ca_dir: PathBuf,
    /// `(id, cluster port)` of the initial members.
    pub peers: Vec<(String, u16)>,
}

/// The `cluster:` and `health:` sections of a test PoP.
pub fn cluster_yaml(bootstrap: bool, peers: &[(String, u16)], secret: &Path) -> String {
    let mut y = format!(
        "cluster:\n  bootstrap: {bootstrap}\n  secret_file: {}\n  heartbeat_ms: 100\n  election_timeout_ms: 600\n  peers:\n",
        secret.display()
    );
    for (id, port) in peers {
        y.push_str(&format!("    {id}: 127.0.0.1:{port}\n"));
    }
    y.push_str("health: { interval_ms: 200, fall: 3, rise: 2 }\n");
    y
}

/// Options for test PoP number `i` of [`TEST_POPS`].
pub fn pop_options(i: usize, cluster_port: u16, extra_yaml: String, ca_dir: &Path) -> PopOptions {
    let (id, region, lat, lon) = TEST_POPS[i];
    PopOptions {
        id: id.into(),
        fixed_ports: true,
        cluster_port: Some(cluster_port),
        location: (lat, lon),
        region: region.into(),
        extra_yaml,
        dev_ca_dir: Some(ca_dir.to_path_buf()),
        // Distinct per PoP, so a GSLB answer tells which PoP was chosen.
        public_ipv4: format!("127.0.1.{}", i + 1),
        ..PopOptions::default()
    }
}

impl Cluster {
    /// Starts `n` PoPs (at most 5) that form one cluster; the first bootstraps it.
    pub async fn start(bin: impl AsRef<Path>, n: usize) -> Cluster {
        Cluster::start_with(bin, n, |_, _| {}).await
    }

    /// As [`Cluster::start`], with `edit` adjusting each PoP's options (by index) first.
    pub async fn start_with(bin: impl AsRef<Path>, n: usize, edit: impl Fn(usize, &mut PopOptions)) -> Cluster {
        let dir = TestDir::new().expect("temporary directory");
        let secret = dir.write("cluster.secret", "a-test-cluster-secret-of-enough-length-0123456789\n");
        let peers: Vec<(String, u16)> =
            TEST_POPS[..n].iter().map(|(id, ..)| ((*id).to_owned(), free_tcp_udp_port().expect("free port"))).collect();
        let mut pops = Vec::new();
        for (i, (_, port)) in peers.iter().enumerate() {
            let mut opts = pop_options(i, *port, cluster_yaml(i == 0, &peers, &secret), &dir.join("ca"));
            edit(i, &mut opts);
            pops.push(PopProcess::start(bin.as_ref(), opts).await);
        }
        let ca_dir = dir.join("ca");
        Cluster { pops, dir, secret, ca_dir, peers }
    }

    /// The PoP with this id.
    pub fn pop(&self, id: &str) -> &PopProcess {
        self.pops.iter().find(|p| p.id == id).unwrap_or_else(|| panic!("no PoP {id}"))
    }
}
