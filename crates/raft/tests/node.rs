//! A real single-node `Raft` on the redb store: writes survive a restart, snapshots round-trip, and
//! the PoP's read side sees every command.
//!
//! A one-voter cluster commits on its own, so the network here only ever answers "unreachable".

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use warren_raft::{
    LogStore, NodeId, PopNode, Raft, RaftStoreError, RaftTimeouts, Request, SharedState, StateMachineStore, node_id,
    open_storage, raft_config,
};
use warren_state::{Command, Outcome, Rejection, SecretHash, State, TokenId, new_token};

const WAIT: Duration = Duration::from_secs(10);

struct NoNetwork;

struct NoPeer;

fn unreachable<E: std::error::Error>() -> RPCError<NodeId, PopNode, E> {
    RPCError::Unreachable(Unreachable::new(&io::Error::other("this test has no network")))
}

impl RaftNetworkFactory<warren_raft::TypeConfig> for NoNetwork {
    type Network = NoPeer;

    async fn new_client(&mut self, _target: NodeId, _node: &PopNode) -> NoPeer {
        NoPeer
    }
}

impl RaftNetwork<warren_raft::TypeConfig> for NoPeer {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<warren_raft::TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, PopNode, RaftError<NodeId>>> {
        Err(unreachable())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<warren_raft::TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RPCError<NodeId, PopNode, RaftError<NodeId, InstallSnapshotError>>>
    {
        Err(unreachable())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, PopNode, RaftError<NodeId>>> {
        Err(unreachable())
    }
}

const POP: &str = "par1";

/// Short timings: the node is alone and on loopback.
fn fast() -> RaftTimeouts {
    RaftTimeouts { heartbeat_ms: 50, election_min_ms: 150, election_max_ms: 300 }
}

/// Opens the store, retrying while a just-shut-down node's state-machine task still holds the file.
async fn open(dir: &Path, shared: SharedState) -> (LogStore, StateMachineStore) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match open_storage(dir, shared.clone()) {
            Ok(stores) => return stores,
            Err(RaftStoreError::AlreadyOpen { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

async fn start(dir: &Path, shared: SharedState) -> Raft {
    let (log, sm) = open(dir, shared).await;
    let config = raft_config("test", &fast()).unwrap();
    Raft::new(node_id(POP), config, NoNetwork, log, sm).await.unwrap()
}

async fn start_new_cluster(dir: &Path, shared: SharedState) -> Raft {
    let raft = start(dir, shared).await;
    let node = PopNode { pop: POP.into(), addr: "127.0.0.1:1".into() };
    raft.initialize(BTreeMap::from([(node_id(POP), node)])).await.unwrap();
    wait_leader(&raft).await;
    raft
}

async fn wait_leader(raft: &Raft) {
    raft.wait(Some(WAIT)).current_leader(node_id(POP), "leader").await.unwrap();
}

async fn write(raft: &Raft, cmd: Command) -> Outcome {
    let resp = raft.client_write(Request { cmd, at_ms: 1_700_000_000_000 }).await.unwrap();
    resp.data.outcome.expect("a normal entry has an outcome")
}

fn create_token(seed: u8) -> Command {
    let (id, secret) = new_token([seed; 40]);
    Command::CreateToken {
        id,
        secret_hash: SecretHash::of(secret.expose()),
        description: format!("token {seed}"),
        created_at_ms: 1,
    }
}

fn token_id(seed: u8) -> TokenId {
    new_token([seed; 40]).0
}

fn set_policy(version: u64) -> Command {
    Command::SetGlobalPolicy { text: format!("# policy {version}\n"), version }
}

/// Writes a fixed mix of commands and returns how many there were.
async fn write_some(raft: &Raft, first_seed: u8) -> usize {
    for seed in first_seed..first_seed + 3 {
        assert_eq!(write(raft, create_token(seed)).await, Outcome::TokenCreated { id: token_id(seed) });
    }
    assert_eq!(
        write(raft, Command::RevokeToken { id: token_id(first_seed) }).await,
        Outcome::TokenRevoked { id: token_id(first_seed) }
    );
    4
}

async fn stop(raft: Raft) {
    raft.shutdown().await.unwrap();
}

fn snapshot_of(shared: &SharedState) -> State {
    shared.read(State::clone)
}

#[tokio::test]
async fn a_restarted_node_has_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let shared = SharedState::new();
    let raft = start_new_cluster(dir.path(), shared.clone()).await;
    write_some(&raft, 1).await;
    assert_eq!(write(&raft, set_policy(1)).await, Outcome::PolicySet { version: 1 });
    assert_eq!(write(&raft, set_policy(2)).await, Outcome::PolicySet { version: 2 });
    let before = snapshot_of(&shared);
    let last_applied = shared.last_applied();
    assert_eq!(last_applied, raft.metrics().borrow().last_applied.map(|id| id.index));
    assert!(last_applied.unwrap() >= 7, "{last_applied:?}: membership + blank + 6 commands");
    stop(raft).await;

    let restarted = SharedState::new();
    let (mut log, sm) = open(dir.path(), restarted.clone()).await;
    // The commit point was stored, so openraft re-applies the log up to it before anything else.
    let committed = log.read_committed().await.unwrap().expect("a stored commit point");
    assert!(Some(committed.index) >= last_applied, "{committed} vs {last_applied:?}");
    assert_eq!(restarted.last_applied(), None, "no snapshot yet: the state starts empty");
    let config = raft_config("test", &fast()).unwrap();
    let raft = Raft::new(node_id(POP), config, NoNetwork, log, sm).await.unwrap();
    raft.wait(Some(WAIT)).applied_index_at_least(last_applied, "committed log re-applied").await.unwrap();
    assert_eq!(snapshot_of(&restarted), before);
    assert_eq!(restarted.read(|s| s.list_tokens().len()), 3);
    assert_eq!(restarted.read(|s| s.policy_version()), 2);
    assert!(restarted.last_applied() >= last_applied);

    // And the node carries on: it elects itself again and accepts writes.
    wait_leader(&raft).await;
    assert_eq!(write(&raft, set_policy(3)).await, Outcome::PolicySet { version: 3 });
    stop(raft).await;
}

#[tokio::test]
async fn a_snapshot_survives_a_restart_after_the_log_behind_it_is_purged() {
    let dir = tempfile::tempdir().unwrap();
    let shared = SharedState::new();
    let raft = start_new_cluster(dir.path(), shared.clone()).await;
    write_some(&raft, 10).await;
    assert_eq!(write(&raft, set_policy(1)).await, Outcome::PolicySet { version: 1 });

    let at = raft.metrics().borrow().last_applied.unwrap();
    raft.trigger().snapshot().await.unwrap();
    raft.wait(Some(WAIT)).snapshot(at, "snapshot built").await.unwrap();
    let at_snapshot = snapshot_of(&shared);
    raft.trigger().purge_log(at.index).await.unwrap();
    raft.wait(Some(WAIT)).purged(Some(at), "log purged up to the snapshot").await.unwrap();

    // Entries after the snapshot come back from the log.
    write_some(&raft, 20).await;
    let before = snapshot_of(&shared);
    let last_applied = shared.last_applied();
    stop(raft).await;

    let restarted = SharedState::new();
    let (log, mut sm) = open(dir.path(), restarted.clone()).await;
    assert_eq!(snapshot_of(&restarted), at_snapshot, "open restores the stored snapshot");
    assert_eq!(restarted.last_applied(), Some(at.index));
    assert_eq!(sm.applied_state().await.unwrap().0, Some(at));

    let config = raft_config("test", &fast()).unwrap();
    let raft = Raft::new(node_id(POP), config, NoNetwork, log, sm).await.unwrap();
    raft.wait(Some(WAIT)).applied_index_at_least(last_applied, "log after the snapshot re-applied").await.unwrap();
    assert_eq!(snapshot_of(&restarted), before);
    assert_eq!(restarted.read(|s| s.list_tokens().len()), 6);
    stop(raft).await;
}

type Seen = Arc<Mutex<Vec<Option<(Command, Outcome)>>>>;

fn record(shared: &SharedState) -> Seen {
    let seen = Seen::default();
    let sink = Arc::clone(&seen);
    shared.on_apply(move |applied| {
        sink.lock().unwrap().push(applied.map(|(cmd, outcome)| (cmd.clone(), outcome.clone())));
    });
    seen
}

#[tokio::test]
async fn on_apply_sees_every_command_with_its_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let shared = SharedState::new();
    let seen = record(&shared);
    let mut applied = shared.watch_applied();
    let raft = start_new_cluster(dir.path(), shared.clone()).await;

    let commands =
        vec![create_token(1), create_token(1), set_policy(1), set_policy(5), Command::RevokeToken { id: token_id(2) }];
    let mut outcomes = Vec::new();
    for cmd in &commands {
        outcomes.push(write(&raft, cmd.clone()).await);
    }
    assert_eq!(outcomes[1], Outcome::Rejected(Rejection::TokenIdExists { id: token_id(1) }));
    assert_eq!(outcomes[3], Outcome::Rejected(Rejection::PolicyVersion { current: 1, proposed: 5 }));

    let seen = seen.lock().unwrap().clone();
    // Opening the store replaced the state wholesale once; then one call per command, in order.
    assert_eq!(seen[0], None);
    let expected: Vec<_> = commands.into_iter().zip(outcomes).map(Some).collect();
    assert_eq!(seen[1..], expected[..]);

    assert!(applied.has_changed().unwrap());
    assert_eq!(*applied.borrow_and_update(), shared.last_applied().unwrap());
    stop(raft).await;
}

#[tokio::test]
async fn an_installed_snapshot_replaces_the_state_and_tells_the_listeners() {
    // A "leader" store with some state and a snapshot of it.
    let leader_dir = tempfile::tempdir().unwrap();
    let leader_shared = SharedState::new();
    let raft = start_new_cluster(leader_dir.path(), leader_shared.clone()).await;
    write_some(&raft, 1).await;
    let at = raft.metrics().borrow().last_applied.unwrap();
    raft.trigger().snapshot().await.unwrap();
    raft.wait(Some(WAIT)).snapshot(at, "snapshot built").await.unwrap();
    stop(raft).await;
    let (_log, mut leader_sm) = open(leader_dir.path(), SharedState::new()).await;
    let snapshot = leader_sm.get_current_snapshot().await.unwrap().expect("a stored snapshot");

    // A "follower" store receives it.
    let follower_dir = tempfile::tempdir().unwrap();
    let follower = SharedState::new();
    let (_log, mut sm) = open(follower_dir.path(), follower.clone()).await;
    let seen = record(&follower);
    let mut applied = follower.watch_applied();
    sm.install_snapshot(&snapshot.meta, snapshot.snapshot).await.unwrap();

    assert_eq!(snapshot_of(&follower), snapshot_of(&leader_shared));
    assert_eq!(follower.last_applied(), Some(at.index));
    assert_eq!(*applied.borrow_and_update(), at.index);
    assert_eq!(*seen.lock().unwrap(), vec![None]);
    let current = sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta.last_log_id, Some(at));
}
