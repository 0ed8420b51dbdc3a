//! Damaged or foreign records must surface as errors, never as panics or as a silently wrong state.

use std::collections::BTreeMap;
use std::io::Cursor;

use openraft::entry::RaftEntry;
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::{CommittedLeaderId, Entry, LogId, Membership, RaftLogReader, RaftSnapshotBuilder, StoredMembership};

use super::*;
use crate::open_storage;

fn log_id(term: u64, index: u64) -> LogId<NodeId> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn membership() -> StoredMembership<NodeId, PopNode> {
    let node = PopNode { pop: "par1".into(), addr: "127.0.0.1:1".into() };
    StoredMembership::new(Some(log_id(1, 1)), Membership::new(vec![[1].into()], BTreeMap::from([(1, node)])))
}

fn overwrite(dir: &std::path::Path, name: &'static str, bytes: &[u8]) {
    let db = Db::open(dir).unwrap();
    db.write(|db, txn| {
        let mut meta = txn.open_table(META).map_err(|e| db.redb(e))?;
        meta.insert(name, bytes).map_err(|e| db.redb(e))?;
        Ok(())
    })
    .unwrap();
}

/// Builds and stores a real snapshot in `dir`, and returns its meta.
async fn stored_snapshot(dir: &std::path::Path) -> Meta {
    let (_log, mut sm) = open_storage(dir, SharedState::new()).unwrap();
    sm.apply([Entry::<TypeConfig>::new_blank(log_id(1, 1))]).await.unwrap();
    let snapshot = sm.get_snapshot_builder().await.build_snapshot().await.unwrap();
    snapshot.meta
}

#[tokio::test]
async fn undecodable_snapshot_record_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    stored_snapshot(dir.path()).await;
    overwrite(dir.path(), key::SNAPSHOT_DATA, b"\x00not json");
    let err = open_storage(dir.path(), SharedState::new()).unwrap_err();
    assert!(matches!(err, RaftStoreError::Decode { what: "snapshot", .. }), "{err}");
    assert!(err.to_string().contains("raft.redb"), "the message names the file: {err}");
}

#[tokio::test]
async fn undecodable_snapshot_meta_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    overwrite(dir.path(), key::SNAPSHOT_META, b"{\"last_log_id\": 7}");
    let err = open_storage(dir.path(), SharedState::new()).unwrap_err();
    assert!(matches!(err, RaftStoreError::Decode { what: "snapshot meta", .. }), "{err}");
}

#[tokio::test]
async fn snapshot_of_another_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    stored_snapshot(dir.path()).await;
    let db = Db::open(dir.path()).unwrap();
    let data = db.get_meta_raw(key::SNAPSHOT_DATA).unwrap().unwrap();
    drop(db);
    let mut payload: serde_json::Value = serde_json::from_slice(&data).unwrap();
    payload["format"] = 99.into();
    overwrite(dir.path(), key::SNAPSHOT_DATA, &serde_json::to_vec(&payload).unwrap());
    let err = open_storage(dir.path(), SharedState::new()).unwrap_err();
    assert!(matches!(err, RaftStoreError::SnapshotFormat { found: 99, supported: 1, .. }), "{err}");
}

#[tokio::test]
async fn installing_a_corrupt_snapshot_fails_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let shared = SharedState::new();
    let (_log, mut sm) = open_storage(dir.path(), shared.clone()).unwrap();
    let meta = Meta { last_log_id: Some(log_id(1, 5)), last_membership: membership(), snapshot_id: "bad".into() };

    let err = sm.install_snapshot(&meta, Box::new(Cursor::new(b"garbage".to_vec()))).await.unwrap_err();
    assert!(err.to_string().contains("cannot decode the snapshot"), "{err}");

    // Well-formed, but its payload claims another log position than the meta.
    let payload = SnapshotPayload {
        format: SNAPSHOT_FORMAT,
        last_applied: Some(log_id(1, 4)),
        last_membership: membership(),
        state: State::new().snapshot(),
    };
    let data = serde_json::to_vec(&payload).unwrap();
    let err = sm.install_snapshot(&meta, Box::new(Cursor::new(data))).await.unwrap_err();
    assert!(err.to_string().contains("but its meta says"), "{err}");

    assert_eq!(sm.applied_state().await.unwrap().0, None);
    assert!(sm.get_current_snapshot().await.unwrap().is_none());
    assert_eq!(shared.last_applied(), None);
}

#[tokio::test]
async fn corrupt_log_entry_is_a_read_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path()).unwrap();
        db.write(|db, txn| {
            let mut log = txn.open_table(crate::store::LOG).map_err(|e| db.redb(e))?;
            log.insert(1, b"{".as_slice()).map_err(|e| db.redb(e))?;
            Ok(())
        })
        .unwrap();
    }
    let (mut log, _sm) = open_storage(dir.path(), SharedState::new()).unwrap();
    assert!(log.try_get_log_entries(0..).await.is_err());
    assert!(log.get_log_state().await.is_err());
}

#[tokio::test]
async fn a_file_of_another_store_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    overwrite(dir.path(), key::STORE_FORMAT, b"3");
    let err = open_storage(dir.path(), SharedState::new()).unwrap_err();
    assert!(matches!(err, RaftStoreError::StoreFormat { .. }), "{err}");
}

#[tokio::test]
async fn a_file_of_the_format_before_single_term_leaders_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    overwrite(dir.path(), key::STORE_FORMAT, b"1");
    let err = open_storage(dir.path(), SharedState::new()).unwrap_err();
    assert!(matches!(err, RaftStoreError::OldStoreFormat { supported: 2, .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("empty data_dir") && msg.contains("two leaders in one term"), "{msg}");
}

#[tokio::test]
async fn a_second_open_of_the_same_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let _open = open_storage(dir.path(), SharedState::new()).unwrap();
    let err = open_storage(dir.path(), SharedState::new()).unwrap_err();
    assert!(matches!(err, RaftStoreError::AlreadyOpen { .. }), "{err}");
}
