//! openraft wiring for a Warren cluster: its types, its configuration, and durable storage on redb.
//!
//! PoPs replicate the control state ([`warren_state::State`]: authtokens, the global policy) with
//! Raft. This crate is what openraft needs from a PoP besides the network: the type configuration
//! ([`TypeConfig`], with a [`Request`] per log entry), a WAN-friendly [`raft_config`], and the two
//! storages openraft drives, [`LogStore`] (log, vote, commit point) and [`StateMachineStore`]
//! (applies entries, builds and installs snapshots), both over one redb file opened by
//! [`open_storage`]. The applied state is exposed to the rest of the PoP as [`SharedState`].
//!
//! It is an I/O crate: it depends on the pure `warren-state`, never the other way round, and knows
//! nothing of sockets; the RPC transport between PoPs lives in the cluster crate above it.
//!
//! Start reading at [`open_storage`], then `log_store.rs` for the durability rules and
//! `state_machine.rs` for how a restarted PoP gets its state back.

mod config;
mod error;
mod log_store;
mod runtime;
mod shared;
mod state_machine;
mod store;
mod types;

use std::path::Path;

pub use config::{RaftTimeouts, raft_config};
pub use error::RaftStoreError;
pub use log_store::LogStore;
pub use runtime::{WarrenRuntime, random_in, seed_thread_rng};
pub use shared::{APPLY_LAG_SECONDS, APPLY_SECONDS, SharedState};
pub use state_machine::{StateMachineStore, StateSnapshotBuilder};
pub use types::{NodeId, PopNode, Raft, Request, Response, TypeConfig, node_id};

/// Opens (creating it and `dir` if needed) `dir/raft.redb`, the one file holding the log, the vote,
/// the committed and purged log ids and the state machine's snapshot, and returns the two storages
/// to hand to [`Raft::new`].
///
/// The state machine starts from the stored snapshot (or empty) and `shared` is replaced with it;
/// openraft then re-applies the committed log after it when the Raft node starts.
pub fn open_storage(dir: &Path, shared: SharedState) -> Result<(LogStore, StateMachineStore), RaftStoreError> {
    let db = store::Db::open(dir)?;
    let sm = StateMachineStore::open(db.clone(), shared)?;
    Ok((LogStore::new(db), sm))
}

/// Like [`open_storage`], but on a caller-provided redb backend instead of `dir/raft.redb`:
/// simulations keep each PoP's "disk" in memory this way, and model a crash by reopening only what
/// the backend had synced. `label` names the store in errors.
///
/// Every write then runs inline on the calling task rather than on a blocking thread: such a
/// backend has no disk to wait for, and a deterministic simulation must not hand work to threads
/// its scheduler does not control. The production path ([`open_storage`]) is unchanged.
pub fn open_storage_with_backend(
    backend: impl redb::StorageBackend,
    label: &str,
    shared: SharedState,
) -> Result<(LogStore, StateMachineStore), RaftStoreError> {
    let db = store::Db::open_backend(backend, label)?;
    let sm = StateMachineStore::open(db.clone(), shared)?;
    Ok((LogStore::new(db), sm))
}
