//! The PoP's cluster member, configured from `pop.yaml`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use rand::RngCore;
use warren_cluster::{ClusterNode, ClusterOptions, ClusterSecret, HealthSettings};
use warren_config::PopConfig;
use warren_raft::{RaftTimeouts, SharedState};
use warren_state::PopRecord;

use crate::PopError;

/// `cluster.secret_file`, or for a PoP that is its own cluster, a secret generated once into
/// `data_dir/cluster.secret` (nothing else may join it without that file).
fn secret(cfg: &PopConfig) -> Result<ClusterSecret, PopError> {
    if let Some(path) = &cfg.secret_file {
        return ClusterSecret::from_file(path).map_err(|e| PopError::State(e.to_string()));
    }
    let path = cfg.data_dir.join("cluster.secret");
    if !path.exists() {
        write_new_secret(&path).map_err(|e| PopError::Io { path: path.display().to_string(), source: e })?;
    }
    ClusterSecret::from_file(&path).map_err(|e| PopError::State(e.to_string()))
}

fn write_new_secret(path: &Path) -> std::io::Result<()> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(hex.as_bytes())?;
    f.sync_all()
}

pub(crate) async fn start(cfg: &PopConfig, shared: SharedState) -> Result<ClusterNode, PopError> {
    let me = cfg.id.to_string();
    let record = PopRecord {
        id: me.clone(),
        region: cfg.region.clone(),
        lat: cfg.location.lat,
        lon: cfg.location.lon,
        public_ipv4: cfg.public_ipv4,
        public_ipv6: cfg.public_ipv6,
        // Filled in by the node from `peers` or the bound address.
        cluster_addr: String::new(),
        weight: cfg.dns_weight,
        draining: cfg.dns_drain,
    };
    let t = cfg.raft;
    let opts = ClusterOptions {
        record,
        listen: cfg.listen.cluster,
        advertise: cfg.peers.get(&cfg.id).cloned(),
        data_dir: cfg.data_dir.join("raft"),
        secret: secret(cfg)?,
        bootstrap: cfg.bootstrap,
        peers: cfg.peers.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        timeouts: RaftTimeouts {
            heartbeat_ms: t.heartbeat_ms,
            election_min_ms: t.election_timeout_ms,
            election_max_ms: t.election_timeout_ms * 2,
        },
        health: HealthSettings {
            interval: Duration::from_millis(cfg.health.interval_ms),
            fall: cfg.health.fall,
            rise: cfg.health.rise,
        },
    };
    std::fs::create_dir_all(&opts.data_dir)
        .map_err(|e| PopError::Io { path: opts.data_dir.display().to_string(), source: e })?;
    ClusterNode::start(opts, shared).await.map_err(|e| PopError::State(e.to_string()))
}
