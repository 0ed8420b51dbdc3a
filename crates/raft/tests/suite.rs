//! openraft's own conformance suite for storage implementations, run on fresh redb files.

use openraft::StorageError;
use openraft::testing::{StoreBuilder, Suite};
use tempfile::TempDir;
use warren_raft::{LogStore, NodeId, SharedState, StateMachineStore, TypeConfig, open_storage};

struct FreshStore;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for FreshStore {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError<NodeId>> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (log, sm) = open_storage(dir.path(), SharedState::new()).expect("a fresh store opens");
        // The directory outlives both storages: the suite drops the guard last.
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite() {
    if let Err(e) = Suite::test_all(FreshStore) {
        panic!("openraft's storage suite failed: {e}");
    }
}
