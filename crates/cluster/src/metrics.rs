//! Metric names of the cluster layer (`warren_raft_*`, `warren_cluster_*`).

/// Current Raft term.
pub const RAFT_TERM: &str = "warren_raft_term";
/// 1 on the leader, else 0.
pub const RAFT_IS_LEADER: &str = "warren_raft_is_leader";
/// Leader changes seen by this PoP.
pub const RAFT_LEADER_CHANGES: &str = "warren_raft_leader_changes_total";
pub const RAFT_LAST_LOG_INDEX: &str = "warren_raft_last_log_index";
pub const RAFT_LAST_APPLIED: &str = "warren_raft_last_applied_index";
/// Entries in the log not yet compacted into a snapshot.
pub const RAFT_LOG_ENTRIES: &str = "warren_raft_log_entries";
/// Time from proposing a write until it is committed and applied here (seconds).
pub const RAFT_COMMIT_SECONDS: &str = "warren_raft_commit_seconds";
/// Writes proposed through this PoP, by result.
pub const RAFT_WRITES: &str = "warren_raft_writes_total";
/// Requests forwarded to another PoP, by result.
pub const CLUSTER_FORWARDED: &str = "warren_cluster_forwarded_requests_total";
/// Requests received from another PoP, by result.
pub const CLUSTER_FORWARD_RECEIVED: &str = "warren_cluster_forward_received_total";
/// 1 when a peer passes its health checks, by peer.
pub const CLUSTER_PEER_HEALTHY: &str = "warren_cluster_peer_healthy";
/// Connections refused for failing the secret check, by direction.
pub const CLUSTER_AUTH_FAILURES: &str = "warren_cluster_auth_failures_total";
/// Cluster streams dropped for a malformed frame.
pub const CLUSTER_MALFORMED: &str = "warren_cluster_malformed_frames_total";

pub(crate) fn auth_failure(direction: &'static str) {
    metrics::counter!(CLUSTER_AUTH_FAILURES, "direction" => direction).increment(1);
}

pub(crate) fn record_write(result: &'static str, took: std::time::Duration) {
    metrics::counter!(RAFT_WRITES, "result" => result).increment(1);
    if result == "ok" {
        metrics::histogram!(RAFT_COMMIT_SECONDS).record(took.as_secs_f64());
    }
}
