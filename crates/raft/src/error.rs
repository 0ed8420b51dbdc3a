//! Errors of the Raft store. Each one names the store file, because a PoP operator's first question
//! is which file on which disk is broken.
//!
//! Inside openraft's traits these become `StorageError`s (see [`RaftStoreError::into_storage`]),
//! which openraft treats as fatal for the node: it stops rather than risk acknowledging a write it
//! did not keep. Nothing read from the file is trusted enough to panic on.

use std::path::PathBuf;

use openraft::{ErrorSubject, ErrorVerb, StorageError, StorageIOError};
use thiserror::Error;

use crate::NodeId;

/// Why the Raft store or its configuration failed.
#[derive(Debug, Error)]
pub enum RaftStoreError {
    /// The directory that holds the store could not be created.
    #[error("cannot create the raft directory {}: {source}", .path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another process (or a Raft node of this process that has not finished shutting down) has
    /// the store open.
    #[error("the raft store {} is already open by another process or Raft instance", .path.display())]
    AlreadyOpen { path: PathBuf },
    /// redb could not open or create the file.
    #[error("cannot open the raft store {}: {source}", .path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: redb::DatabaseError,
    },
    /// A read or write of the file failed.
    #[error("raft store {}: {source}", .path.display())]
    Db {
        path: PathBuf,
        #[source]
        source: redb::Error,
    },
    /// A record could not be encoded (`what` names it).
    #[error("raft store {}: cannot encode the {what}: {source}", .path.display())]
    Encode {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A stored or received record is not what this build wrote (`what` names it).
    #[error("raft store {}: cannot decode the {what}: {source}", .path.display())]
    Decode {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// The file was written by a build that allowed two leaders in one Raft term (store format
    /// 1); its log ids cannot be read as this build's. The wire format changed with it, so the
    /// whole cluster moves at once.
    #[error(
        "raft store {}: store format 1 was written by an older Warren, whose Raft allowed two leaders in one term; this build (store format {supported}, cluster protocol 2) cannot read it. Upgrade every PoP of the cluster together, starting each from an empty data_dir (move this one away), and bootstrap the cluster again",
        .path.display()
    )]
    OldStoreFormat { path: PathBuf, supported: u32 },
    /// The file was written by a newer, incompatible build.
    #[error("raft store {}: store format {found:?} is not supported (this build reads {supported})", .path.display())]
    StoreFormat { path: PathBuf, found: String, supported: u32 },
    /// A snapshot was written by a newer, incompatible build.
    #[error("raft store {}: snapshot format {found} is not supported (this build reads {supported})", .path.display())]
    SnapshotFormat { path: PathBuf, found: u32, supported: u32 },
    /// A snapshot's payload and its meta disagree on the log position it covers.
    #[error(
        "raft store {}: snapshot {snapshot_id} covers the log up to {payload} but its meta says {meta}",
        .path.display()
    )]
    SnapshotMismatch { path: PathBuf, snapshot_id: String, payload: String, meta: String },
    /// A snapshot decoded but describes a state no apply could produce.
    #[error("raft store {}: the snapshot cannot be restored: {source}", .path.display())]
    Restore {
        path: PathBuf,
        #[source]
        source: warren_state::RestoreError,
    },
    /// The blocking task that writes to the file did not finish (the runtime is shutting down).
    #[error("raft store {}: the write task did not finish: {reason}", .path.display())]
    Task { path: PathBuf, reason: String },
    /// openraft refused the configuration (boxed: it is larger than every other variant).
    #[error("invalid raft configuration: {0}")]
    Config(#[source] Box<openraft::ConfigError>),
    /// A heartbeat interval of zero would make a leader spin.
    #[error("invalid raft configuration: heartbeat_ms must be greater than 0")]
    ZeroHeartbeat,
}

impl From<openraft::ConfigError> for RaftStoreError {
    fn from(e: openraft::ConfigError) -> Self {
        RaftStoreError::Config(Box::new(e))
    }
}

impl RaftStoreError {
    /// This error as openraft's storage error about `subject`, keeping the message.
    pub(crate) fn into_storage(self, subject: ErrorSubject<NodeId>, verb: ErrorVerb) -> StorageError<NodeId> {
        StorageIOError::new(subject, verb, &self).into()
    }
}
