//! The replicated state machine: openraft's `RaftStateMachine` over [`warren_state::State`].
//!
//! The state is kept in memory (in [`SharedState`]) and only snapshots are written to disk, the
//! "persistent snapshot" design openraft describes: applying an entry then costs no disk write,
//! and a restarted PoP rebuilds its state from the stored snapshot plus the log after it, which
//! openraft re-applies up to the stored commit point. For that to work, `applied_state` reports
//! the snapshot's position after a restart, never a position the memory no longer holds.
//!
//! A snapshot is written to redb, meta and data in one durable transaction, both when this node
//! builds one and when a leader installs one, before openraft is told: openraft purges the log
//! behind a snapshot, so a snapshot it knows of must survive a crash.

use std::fmt::Debug;
use std::io::Cursor;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftSnapshotBuilder, SnapshotMeta, StorageError,
    StoredMembership,
};
use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use warren_state::State;

use crate::store::{Db, LogEntry, META, key};
use crate::{NodeId, PopNode, RaftStoreError, Response, SharedState, TypeConfig};

/// Version of [`SnapshotPayload`]; a snapshot of another version is refused, not misread.
const SNAPSHOT_FORMAT: u32 = 1;

type Meta = SnapshotMeta<NodeId, PopNode>;
type Membership = StoredMembership<NodeId, PopNode>;

/// The bytes of a snapshot, as stored and as sent to followers. It repeats the log position the
/// meta records, so that data and meta that do not belong together are caught at install.
#[derive(Debug, Serialize, Deserialize)]
struct SnapshotPayload {
    format: u32,
    last_applied: Option<LogId<NodeId>>,
    last_membership: Membership,
    state: warren_state::Snapshot,
}

/// The state machine of one PoP.
pub struct StateMachineStore {
    db: Arc<Db>,
    shared: SharedState,
    last_applied: Option<LogId<NodeId>>,
    last_membership: Membership,
}

impl Debug for StateMachineStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMachineStore")
            .field("path", &self.db.path())
            .field("last_applied", &self.last_applied)
            .finish_non_exhaustive()
    }
}

/// Builds a snapshot of the state as it was when openraft asked for the builder, off the state
/// machine's task.
pub struct StateSnapshotBuilder {
    db: Arc<Db>,
    payload: SnapshotPayload,
}

impl Debug for StateSnapshotBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateSnapshotBuilder").field("last_applied", &self.payload.last_applied).finish()
    }
}

fn snapshot_error(meta: Option<&Meta>, verb: ErrorVerb) -> impl FnOnce(RaftStoreError) -> StorageError<NodeId> {
    let subject = ErrorSubject::Snapshot(meta.map(|m| m.signature()));
    move |e| e.into_storage(subject, verb)
}

fn display_log_id(id: &Option<LogId<NodeId>>) -> String {
    id.as_ref().map_or_else(|| "nothing".to_owned(), ToString::to_string)
}

impl StateMachineStore {
    /// Loads the stored snapshot, if any, into `shared`; without one, `shared` is reset to the empty
    /// state, since openraft will re-apply the log from its start.
    pub(crate) fn open(db: Arc<Db>, shared: SharedState) -> Result<StateMachineStore, RaftStoreError> {
        let mut sm = StateMachineStore { db, shared, last_applied: None, last_membership: Membership::default() };
        match sm.stored_snapshot()? {
            Some((meta, data)) => {
                let state = sm.decode_payload(&meta, &data)?;
                sm.replace(&meta, state);
            }
            None => sm.shared.replace(State::new(), None),
        }
        Ok(sm)
    }

    fn stored_snapshot(&self) -> Result<Option<(Meta, Vec<u8>)>, RaftStoreError> {
        let Some(meta) = self.db.get_meta::<Meta>(key::SNAPSHOT_META, "snapshot meta")? else {
            return Ok(None);
        };
        let data = self.db.get_meta_raw(key::SNAPSHOT_DATA)?.unwrap_or_default();
        Ok(Some((meta, data)))
    }

    /// Decodes and checks snapshot bytes against their meta, and rebuilds the state they hold.
    fn decode_payload(&self, meta: &Meta, data: &[u8]) -> Result<State, RaftStoreError> {
        let payload: SnapshotPayload = self.db.decode(data, "snapshot")?;
        let path = self.db.path().to_path_buf();
        if payload.format != SNAPSHOT_FORMAT {
            return Err(RaftStoreError::SnapshotFormat { path, found: payload.format, supported: SNAPSHOT_FORMAT });
        }
        if payload.last_applied != meta.last_log_id || payload.last_membership != meta.last_membership {
            return Err(RaftStoreError::SnapshotMismatch {
                path,
                snapshot_id: meta.snapshot_id.clone(),
                payload: display_log_id(&payload.last_applied),
                meta: display_log_id(&meta.last_log_id),
            });
        }
        State::restore(payload.state).map_err(|source| RaftStoreError::Restore { path, source })
    }

    fn replace(&mut self, meta: &Meta, state: State) {
        self.last_applied = meta.last_log_id;
        self.last_membership = meta.last_membership.clone();
        self.shared.replace(state, meta.last_log_id.as_ref().map(|id| id.index));
    }
}

/// Writes a snapshot durably unless a newer one is already stored (a leader's snapshot installed
/// while this one was being built).
async fn store_snapshot(db: &Arc<Db>, meta: &Meta, data: Vec<u8>) -> Result<(), RaftStoreError> {
    let meta_bytes = db.encode(meta, "snapshot meta")?;
    let last_log_id = meta.last_log_id;
    db.write_blocking(move |db, txn| {
        let mut table = txn.open_table(META).map_err(|e| db.redb(e))?;
        let stored = table.get(key::SNAPSHOT_META).map_err(|e| db.redb(e))?.map(|v| v.value().to_vec());
        if let Some(stored) = stored {
            let stored: Meta = db.decode(&stored, "snapshot meta")?;
            if stored.last_log_id > last_log_id {
                return Ok(());
            }
        }
        table.insert(key::SNAPSHOT_META, meta_bytes.as_slice()).map_err(|e| db.redb(e))?;
        table.insert(key::SNAPSHOT_DATA, data.as_slice()).map_err(|e| db.redb(e))?;
        Ok(())
    })
    .await
}

impl RaftSnapshotBuilder<TypeConfig> for StateSnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let data = self.db.encode(&self.payload, "snapshot").map_err(snapshot_error(None, ErrorVerb::Write))?;
        // Unique enough to tell two transfers apart; two snapshots at one log id hold the same state.
        let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let meta = Meta {
            last_log_id: self.payload.last_applied,
            last_membership: self.payload.last_membership.clone(),
            snapshot_id: format!("{}-{millis}", display_log_id(&self.payload.last_applied)),
        };
        store_snapshot(&self.db, &meta, data.clone()).await.map_err(snapshot_error(Some(&meta), ErrorVerb::Write))?;
        tracing::info!(snapshot.id = %meta.snapshot_id, snapshot.bytes = data.len(), "raft snapshot built");
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = StateSnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId<NodeId>>, Membership), StorageError<NodeId>> {
        Ok((self.last_applied, self.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = LogEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut replies = Vec::new();
        for entry in entries {
            let index = entry.log_id.index;
            let outcome = match entry.payload {
                EntryPayload::Normal(request) => Some(self.shared.apply(request, index)),
                EntryPayload::Blank => {
                    self.shared.mark_applied(index);
                    None
                }
                EntryPayload::Membership(membership) => {
                    self.last_membership = StoredMembership::new(Some(entry.log_id), membership);
                    self.shared.mark_applied(index);
                    None
                }
            };
            self.last_applied = Some(entry.log_id);
            replies.push(Response { outcome });
        }
        self.shared.publish();
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        StateSnapshotBuilder {
            db: Arc::clone(&self.db),
            payload: SnapshotPayload {
                format: SNAPSHOT_FORMAT,
                last_applied: self.last_applied,
                last_membership: self.last_membership.clone(),
                state: self.shared.read(State::snapshot),
            },
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let data = snapshot.into_inner();
        // Check everything before touching the disk or the memory: a bad snapshot changes nothing.
        let state = self.decode_payload(meta, &data).map_err(snapshot_error(Some(meta), ErrorVerb::Read))?;
        store_snapshot(&self.db, meta, data).await.map_err(snapshot_error(Some(meta), ErrorVerb::Write))?;
        self.replace(meta, state);
        tracing::info!(snapshot.id = %meta.snapshot_id, "raft snapshot installed");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let stored = self.stored_snapshot().map_err(snapshot_error(None, ErrorVerb::Read))?;
        Ok(stored.map(|(meta, data)| Snapshot { meta, snapshot: Box::new(Cursor::new(data)) }))
    }
}

#[cfg(test)]
#[path = "state_machine_tests.rs"]
mod tests;
