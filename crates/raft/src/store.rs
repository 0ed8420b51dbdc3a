//! The one redb file behind both storages, and how records are laid out in it.
//!
//! One file rather than one per storage: a single fsync'd transaction can then never leave the log
//! and the snapshot disagreeing about what was purged, and a PoP has one thing to back up or wipe.
//! Two tables: `log` (index → entry) and `meta` (name → record) for the vote, the committed and
//! purged log ids and the snapshot.
//!
//! Records are JSON. The volume is a control plane's (a few writes a second at most), so compactness
//! does not matter, while a self-describing format survives added fields and can be read when
//! debugging a PoP's file. Every write is committed with [`Durability::Immediate`] on a blocking
//! thread, so that the caller learns of the write only once it is on disk, without stalling the
//! async runtime on an fsync. (A store on a caller-provided backend, which simulations use, writes
//! inline instead: see [`crate::open_storage_with_backend`].)

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::{Entry, LogId};
use redb::{Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{NodeId, RaftStoreError, TypeConfig};

/// Name of the store file inside the directory given to `open_storage`.
pub(crate) const FILE_NAME: &str = "raft.redb";

/// Layout version of the file; a build refuses a file with another one instead of misreading it.
///
/// 2: openraft's `single-term-leader` (standard Raft: at most one leader per term). A log id's
/// leader is then its term alone, so every stored log id, vote and snapshot meta of format 1
/// (term and node id) reads differently.
pub(crate) const STORE_FORMAT: u32 = 2;

pub(crate) const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Keys of the `meta` table.
pub(crate) mod key {
    pub(crate) const STORE_FORMAT: &str = "store_format";
    pub(crate) const VOTE: &str = "vote";
    pub(crate) const COMMITTED: &str = "committed";
    pub(crate) const LAST_PURGED: &str = "last_purged";
    /// `SnapshotMeta` of the current snapshot, written in the same transaction as its data.
    pub(crate) const SNAPSHOT_META: &str = "snapshot_meta";
    /// The snapshot's bytes exactly as they are sent to followers.
    pub(crate) const SNAPSHOT_DATA: &str = "snapshot_data";
}

pub(crate) type LogEntry = Entry<TypeConfig>;

/// The open store file.
pub(crate) struct Db {
    db: Database,
    path: PathBuf,
    /// Writes run on the calling task instead of a blocking thread: set for a caller-provided
    /// backend (see [`crate::open_storage_with_backend`]), which has no disk to wait for.
    inline: bool,
}

impl Db {
    /// Opens `dir/raft.redb`, creating the directory, the file and its tables if needed.
    pub(crate) fn open(dir: &Path) -> Result<Arc<Db>, RaftStoreError> {
        std::fs::create_dir_all(dir).map_err(|source| RaftStoreError::CreateDir { path: dir.to_path_buf(), source })?;
        let path = dir.join(FILE_NAME);
        let db = Database::create(&path).map_err(|source| match source {
            DatabaseError::DatabaseAlreadyOpen => RaftStoreError::AlreadyOpen { path: path.clone() },
            source => RaftStoreError::Open { path: path.clone(), source },
        })?;
        Db::init(Db { db, path, inline: false })
    }

    /// Opens a store on a caller-provided redb backend (memory, for simulations); `label` stands
    /// for the file path in errors. Writes run inline on the calling task.
    pub(crate) fn open_backend(backend: impl redb::StorageBackend, label: &str) -> Result<Arc<Db>, RaftStoreError> {
        let path = PathBuf::from(label);
        let db = Database::builder()
            .create_with_backend(backend)
            .map_err(|source| RaftStoreError::Open { path: path.clone(), source })?;
        Db::init(Db { db, path, inline: true })
    }

    /// Creates the tables if needed and checks the layout version.
    fn init(db: Db) -> Result<Arc<Db>, RaftStoreError> {
        let db = Arc::new(db);
        db.write(|db, txn| {
            txn.open_table(LOG).map_err(|e| db.redb(e))?;
            let mut meta = txn.open_table(META).map_err(|e| db.redb(e))?;
            let found = meta.get(key::STORE_FORMAT).map_err(|e| db.redb(e))?.map(|v| v.value().to_vec());
            match found {
                None => {
                    meta.insert(key::STORE_FORMAT, STORE_FORMAT.to_string().as_bytes()).map_err(|e| db.redb(e))?;
                }
                Some(found) if found == STORE_FORMAT.to_string().as_bytes() => {}
                Some(found) if found == b"1" => {
                    return Err(RaftStoreError::OldStoreFormat { path: db.path.clone(), supported: STORE_FORMAT });
                }
                Some(found) => {
                    return Err(RaftStoreError::StoreFormat {
                        path: db.path.clone(),
                        found: String::from_utf8_lossy(&found).into_owned(),
                        supported: STORE_FORMAT,
                    });
                }
            }
            Ok(())
        })?;
        Ok(db)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn redb(&self, source: impl Into<redb::Error>) -> RaftStoreError {
        RaftStoreError::Db { path: self.path.clone(), source: source.into() }
    }

    pub(crate) fn encode<T: Serialize>(&self, value: &T, what: &'static str) -> Result<Vec<u8>, RaftStoreError> {
        serde_json::to_vec(value).map_err(|source| RaftStoreError::Encode { path: self.path.clone(), what, source })
    }

    pub(crate) fn decode<T: DeserializeOwned>(&self, bytes: &[u8], what: &'static str) -> Result<T, RaftStoreError> {
        serde_json::from_slice(bytes).map_err(|source| RaftStoreError::Decode { path: self.path.clone(), what, source })
    }

    /// Runs `f` in a write transaction and commits it durably.
    pub(crate) fn write<R>(
        &self,
        f: impl FnOnce(&Db, &WriteTransaction) -> Result<R, RaftStoreError>,
    ) -> Result<R, RaftStoreError> {
        // The default, spelled out: the durability rules of the whole crate rest on it.
        self.write_with(Durability::Immediate, f)
    }

    fn write_with<R>(
        &self,
        durability: Durability,
        f: impl FnOnce(&Db, &WriteTransaction) -> Result<R, RaftStoreError>,
    ) -> Result<R, RaftStoreError> {
        let mut txn = self.db.begin_write().map_err(|e| self.redb(e))?;
        txn.set_durability(durability).map_err(|e| self.redb(e))?;
        let out = f(self, &txn)?;
        txn.commit().map_err(|e| self.redb(e))?;
        Ok(out)
    }

    /// [`Db::write`] on a blocking thread, awaited: when this returns `Ok`, the write is on disk.
    pub(crate) async fn write_blocking<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Db, &WriteTransaction) -> Result<R, RaftStoreError> + Send + 'static,
    ) -> Result<R, RaftStoreError> {
        if self.inline {
            return self.write(f);
        }
        let db = Arc::clone(self);
        tokio::task::spawn_blocking(move || db.write(f))
            .await
            .map_err(|e| RaftStoreError::Task { path: self.path.clone(), reason: e.to_string() })?
    }

    /// Writes several `meta` records durably in one transaction.
    pub(crate) async fn put_meta(
        self: &Arc<Self>,
        records: Vec<(&'static str, Vec<u8>)>,
    ) -> Result<(), RaftStoreError> {
        self.write_blocking(move |db, txn| insert_meta(db, txn, &records)).await
    }

    /// Writes a `meta` record that may be lost in a crash: it reaches the disk with the next
    /// durable write (the next append or vote), in the same consistent state of the file. For
    /// records that only save work at restart, never for what Raft's safety rests on.
    pub(crate) async fn put_meta_lazy(
        self: &Arc<Self>,
        records: Vec<(&'static str, Vec<u8>)>,
    ) -> Result<(), RaftStoreError> {
        if self.inline {
            return self.write_with(Durability::None, |db, txn| insert_meta(db, txn, &records));
        }
        let db = Arc::clone(self);
        tokio::task::spawn_blocking(move || db.write_with(Durability::None, |db, txn| insert_meta(db, txn, &records)))
            .await
            .map_err(|e| RaftStoreError::Task { path: self.path.clone(), reason: e.to_string() })?
    }

    /// The raw bytes of a `meta` record.
    pub(crate) fn get_meta_raw(&self, name: &str) -> Result<Option<Vec<u8>>, RaftStoreError> {
        let txn = self.db.begin_read().map_err(|e| self.redb(e))?;
        let meta = txn.open_table(META).map_err(|e| self.redb(e))?;
        let value = meta.get(name).map_err(|e| self.redb(e))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    /// A decoded `meta` record; `what` names it in errors.
    pub(crate) fn get_meta<T: DeserializeOwned>(
        &self,
        name: &str,
        what: &'static str,
    ) -> Result<Option<T>, RaftStoreError> {
        self.get_meta_raw(name)?.map(|bytes| self.decode(&bytes, what)).transpose()
    }

    /// The entries with an index in `range`, in order.
    pub(crate) fn read_log(&self, range: (Bound<u64>, Bound<u64>)) -> Result<Vec<LogEntry>, RaftStoreError> {
        let txn = self.db.begin_read().map_err(|e| self.redb(e))?;
        let log = txn.open_table(LOG).map_err(|e| self.redb(e))?;
        let mut entries = Vec::new();
        for item in log.range(range).map_err(|e| self.redb(e))? {
            let (_, value) = item.map_err(|e| self.redb(e))?;
            entries.push(self.decode(value.value(), "log entry")?);
        }
        Ok(entries)
    }

    /// The id of the last entry in the log, if any.
    pub(crate) fn last_log_id(&self) -> Result<Option<LogId<NodeId>>, RaftStoreError> {
        let txn = self.db.begin_read().map_err(|e| self.redb(e))?;
        let log = txn.open_table(LOG).map_err(|e| self.redb(e))?;
        let Some((_, value)) = log.last().map_err(|e| self.redb(e))? else {
            return Ok(None);
        };
        let entry: LogEntry = self.decode(value.value(), "log entry")?;
        Ok(Some(entry.log_id))
    }
}

fn insert_meta(db: &Db, txn: &WriteTransaction, records: &[(&'static str, Vec<u8>)]) -> Result<(), RaftStoreError> {
    let mut meta = txn.open_table(META).map_err(|e| db.redb(e))?;
    for (name, bytes) in records {
        meta.insert(*name, bytes.as_slice()).map_err(|e| db.redb(e))?;
    }
    Ok(())
}
