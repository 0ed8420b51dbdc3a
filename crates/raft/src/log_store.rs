//! The Raft log, vote and commit point on redb: openraft's `RaftLogStorage`.
//!
//! Raft's safety rests on a node never forgetting what it acknowledged: an entry it told the leader
//! it holds, or a vote it cast. So every write here is one durable redb transaction, and openraft
//! hears of an append (through `LogFlushed`) only after that transaction is on disk. A PoP killed
//! at any moment restarts with every write it acknowledged. Truncation and purging each delete a
//! contiguous range in one transaction, so a crash can never leave a hole in the log.
//!
//! The committed log id is stored too (openraft's optional `save_committed`): the state machine is
//! only in memory, so at restart openraft re-applies the log up to it and a PoP serves the state it
//! had, not the older state of its last snapshot. That record alone is written without its own
//! fsync: it reaches the disk with the next append or vote, and a crash can only make it older,
//! never newer than the log — the restarted PoP then applies the rest once a leader tells it.

use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftLogReader, StorageError, Vote};

use crate::store::{Db, LOG, LogEntry, META, key};
use crate::{NodeId, RaftStoreError, TypeConfig};

/// The Raft log of one PoP; also its own log reader (clones share the file).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Db>,
}

impl LogStore {
    pub(crate) fn new(db: Arc<Db>) -> LogStore {
        LogStore { db }
    }
}

impl Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore").field("path", &self.db.path()).finish()
    }
}

fn logs(verb: ErrorVerb) -> impl FnOnce(RaftStoreError) -> StorageError<NodeId> {
    move |e| e.into_storage(ErrorSubject::Logs, verb)
}

fn vote(verb: ErrorVerb) -> impl FnOnce(RaftStoreError) -> StorageError<NodeId> {
    move |e| e.into_storage(ErrorSubject::Vote, verb)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<LogEntry>, StorageError<NodeId>> {
        let bounds = (range.start_bound().cloned(), range.end_bound().cloned());
        self.db.read_log(bounds).map_err(logs(ErrorVerb::Read))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let last_purged_log_id: Option<LogId<NodeId>> =
            self.db.get_meta(key::LAST_PURGED, "last purged log id").map_err(logs(ErrorVerb::Read))?;
        let last_log_id = self.db.last_log_id().map_err(logs(ErrorVerb::Read))?.or(last_purged_log_id);
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, v: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        let bytes = self.db.encode(v, "vote").map_err(vote(ErrorVerb::Write))?;
        self.db.put_meta(vec![(key::VOTE, bytes)]).await.map_err(vote(ErrorVerb::Write))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        self.db.get_meta(key::VOTE, "vote").map_err(vote(ErrorVerb::Read))
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> Result<(), StorageError<NodeId>> {
        let bytes = self.db.encode(&committed, "committed log id").map_err(logs(ErrorVerb::Write))?;
        // Lazily durable: the committed point is not part of Raft's safety (a restarted node
        // learns it again from the leader), it only lets a restart re-apply the log at once. An
        // fsync for it would sit on every write's commit path (measured: bench/cluster.sh).
        self.db.put_meta_lazy(vec![(key::COMMITTED, bytes)]).await.map_err(logs(ErrorVerb::Write))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        // Stored as an `Option` itself: `None` was a valid saved value.
        let stored: Option<Option<LogId<NodeId>>> =
            self.db.get_meta(key::COMMITTED, "committed log id").map_err(logs(ErrorVerb::Read))?;
        Ok(stored.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = LogEntry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let encoded = entries
            .into_iter()
            .map(|entry| Ok((entry.log_id.index, self.db.encode(&entry, "log entry")?)))
            .collect::<Result<Vec<_>, RaftStoreError>>()
            .map_err(logs(ErrorVerb::Write))?;
        let written = self
            .db
            .write_blocking(move |db, txn| {
                let mut log = txn.open_table(LOG).map_err(|e| db.redb(e))?;
                for (index, bytes) in &encoded {
                    log.insert(*index, bytes.as_slice()).map_err(|e| db.redb(e))?;
                }
                Ok(())
            })
            .await;
        // Only now, with the transaction committed durably, may openraft count these entries.
        match written {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(io::Error::other(e.to_string())));
                Err(e.into_storage(ErrorSubject::Logs, ErrorVerb::Write))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        tracing::debug!(%log_id, "truncating the raft log");
        self.db
            .write_blocking(move |db, txn| {
                let mut log = txn.open_table(LOG).map_err(|e| db.redb(e))?;
                log.retain_in(log_id.index.., |_, _| false).map_err(|e| db.redb(e))
            })
            .await
            .map_err(logs(ErrorVerb::Delete))
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        tracing::debug!(%log_id, "purging the raft log");
        let bytes = self.db.encode(&log_id, "last purged log id").map_err(logs(ErrorVerb::Delete))?;
        self.db
            .write_blocking(move |db, txn| {
                // One transaction: the purged id and the deletion are never seen apart.
                let mut meta = txn.open_table(META).map_err(|e| db.redb(e))?;
                meta.insert(key::LAST_PURGED, bytes.as_slice()).map_err(|e| db.redb(e))?;
                let mut log = txn.open_table(LOG).map_err(|e| db.redb(e))?;
                log.retain_in(..=log_id.index, |_, _| false).map_err(|e| db.redb(e))
            })
            .await
            .map_err(logs(ErrorVerb::Delete))
    }
}
