//! openraft's configuration, with timings for PoPs that talk across a WAN.
//!
//! openraft's defaults (50 ms heartbeats, 150–300 ms elections, 200 ms to install a snapshot) suit a
//! single data centre. Between PoPs on different continents a round trip alone can take 150 ms, so
//! those defaults cause spurious elections and snapshot installs that can never finish. The
//! timeouts here are an order of magnitude longer; everything else is fixed by this crate.

use std::sync::Arc;

use openraft::{Config, SnapshotPolicy};

use crate::RaftStoreError;

/// Build a snapshot once this many entries were applied since the last one: the log of a control
/// plane grows slowly, and a snapshot of it is small, so this bounds both the replay at restart
/// and the log kept on disk.
const SNAPSHOT_EVERY_ENTRIES: u64 = 1000;

/// Entries already covered by a snapshot that are still kept, so that a follower slightly behind
/// catches up from the log instead of receiving a whole snapshot.
const KEEP_IN_SNAPSHOT_ENTRIES: u64 = 100;

/// Time allowed to send and install a snapshot. Generous: it crosses a WAN and the receiver writes
/// it durably before answering.
const INSTALL_SNAPSHOT_TIMEOUT_MS: u64 = 10_000;

/// The tunable Raft timings, in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftTimeouts {
    /// How often a leader heartbeats its followers.
    pub heartbeat_ms: u64,
    /// A follower that hears no leader for a random time in `election_min_ms..election_max_ms`
    /// starts an election. Must exceed `heartbeat_ms`.
    pub election_min_ms: u64,
    pub election_max_ms: u64,
}

impl Default for RaftTimeouts {
    fn default() -> Self {
        RaftTimeouts { heartbeat_ms: 250, election_min_ms: 1500, election_max_ms: 3000 }
    }
}

/// openraft's configuration for the cluster `cluster_name`, checked by openraft's own `validate`.
pub fn raft_config(cluster_name: &str, t: &RaftTimeouts) -> Result<Arc<Config>, RaftStoreError> {
    if t.heartbeat_ms == 0 {
        return Err(RaftStoreError::ZeroHeartbeat);
    }
    let config = Config {
        cluster_name: cluster_name.to_owned(),
        heartbeat_interval: t.heartbeat_ms,
        election_timeout_min: t.election_min_ms,
        election_timeout_max: t.election_max_ms,
        install_snapshot_timeout: INSTALL_SNAPSHOT_TIMEOUT_MS,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(SNAPSHOT_EVERY_ENTRIES),
        max_in_snapshot_log_to_keep: KEEP_IN_SNAPSHOT_ENTRIES,
        ..Config::default()
    };
    Ok(Arc::new(config.validate()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_wan_friendly_and_valid() {
        let config = raft_config("warren", &RaftTimeouts::default()).unwrap();
        assert_eq!(config.cluster_name, "warren");
        assert_eq!(config.heartbeat_interval, 250);
        assert_eq!((config.election_timeout_min, config.election_timeout_max), (1500, 3000));
        assert_eq!(config.install_snapshot_timeout, INSTALL_SNAPSHOT_TIMEOUT_MS);
        assert_eq!(config.snapshot_policy, SnapshotPolicy::LogsSinceLast(1000));
        // A follower further behind than a snapshot interval must get a snapshot, not the log.
        assert!(config.replication_lag_threshold > SNAPSHOT_EVERY_ENTRIES);
    }

    #[test]
    fn bad_timings_are_refused() {
        let inverted = RaftTimeouts { heartbeat_ms: 100, election_min_ms: 3000, election_max_ms: 1500 };
        assert!(matches!(raft_config("w", &inverted), Err(RaftStoreError::Config(_))));
        let slow_heartbeat = RaftTimeouts { heartbeat_ms: 2000, election_min_ms: 1500, election_max_ms: 3000 };
        assert!(matches!(raft_config("w", &slow_heartbeat), Err(RaftStoreError::Config(_))));
        let zero = RaftTimeouts { heartbeat_ms: 0, ..RaftTimeouts::default() };
        assert!(matches!(raft_config("w", &zero), Err(RaftStoreError::ZeroHeartbeat)));
    }
}
