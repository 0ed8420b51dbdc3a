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
mod shared;
mod state_machine;
mod store;
mod types;

use std::path::Path;

pub use config::{RaftTimeouts, raft_config};
pub use error::RaftStoreError;
pub use log_store::LogStore;
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
