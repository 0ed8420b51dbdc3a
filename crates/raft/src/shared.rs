//! The applied state as the rest of a PoP sees it.
//!
//! The state machine lives in memory, not in redb: it is small, every read on the request path
//! (authenticating an agent, loading the global policy) must be a map lookup rather than a disk
//! read, and durability comes from the log plus snapshots. [`SharedState`] is that memory, owned
//! jointly by the Raft state machine (the only writer) and by the PoP's readers.
//!
//! Readers that keep derived data (a compiled policy, an index) subscribe with
//! [`SharedState::on_apply`] or [`SharedState::watch_applied`] instead of polling.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use tokio::sync::watch;
use warren_state::{Command, Outcome, State};

use crate::Request;

type Listener = Arc<dyn Fn(Option<(&Command, &Outcome)>) + Send + Sync>;

/// Seconds one entry takes to apply to the in-memory state (histogram).
pub const APPLY_SECONDS: &str = "warren_raft_apply_seconds";
/// Seconds from an entry's proposal to its application on this PoP (histogram).
pub const APPLY_LAG_SECONDS: &str = "warren_raft_apply_lag_seconds";

/// The applied replicated state, shared between the Raft state machine and the PoP. Cloning is
/// cheap: clones share one state.
#[derive(Clone)]
pub struct SharedState {
    inner: Arc<Inner>,
}

struct Inner {
    applied: RwLock<Applied>,
    /// Copy-on-write, so that a listener may register another listener without deadlocking.
    listeners: Mutex<Arc<Vec<Listener>>>,
    watch: watch::Sender<u64>,
}

struct Applied {
    state: State,
    last_applied: Option<u64>,
}

impl SharedState {
    /// An empty state, as before the first log entry.
    pub fn new() -> Self {
        let (watch, _) = watch::channel(0);
        SharedState {
            inner: Arc::new(Inner {
                applied: RwLock::new(Applied { state: State::new(), last_applied: None }),
                listeners: Mutex::new(Arc::new(Vec::new())),
                watch,
            }),
        }
    }

    /// Runs `f` on the current state. Keep `f` short: the state machine waits for it to apply the
    /// next entry.
    pub fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.applied().state)
    }

    /// The log index of the last applied entry (normal, blank or membership), `None` before any.
    pub fn last_applied(&self) -> Option<u64> {
        self.applied().last_applied
    }

    /// A receiver that changes after every applied batch of entries and every snapshot install; its
    /// value is the last applied log index (0 before any).
    pub fn watch_applied(&self) -> watch::Receiver<u64> {
        self.inner.watch.subscribe()
    }

    /// Calls `f` after each applied normal entry with its command and outcome (the state already
    /// includes it), and with `None` whenever the state is replaced wholesale: when a snapshot is
    /// installed, and once when the store is opened. `f` runs on the applying task: it must be cheap
    /// and must not block (hand work to a channel if needed).
    pub fn on_apply(&self, f: impl Fn(Option<(&Command, &Outcome)>) + Send + Sync + 'static) {
        let mut listeners = self.inner.listeners.lock().unwrap_or_else(PoisonError::into_inner);
        let mut next = Vec::clone(&listeners);
        next.push(Arc::new(f));
        *listeners = Arc::new(next);
    }

    /// Applies one command from the log entry at `index`.
    pub(crate) fn apply(&self, request: Request, index: u64) -> Outcome {
        let Request { cmd, at_ms } = request;
        let started = std::time::Instant::now();
        let outcome = {
            let mut applied = self.applied_mut();
            let outcome = applied.state.apply(cmd.clone(), at_ms);
            applied.last_applied = Some(index);
            outcome
        };
        metrics::histogram!(APPLY_SECONDS).record(started.elapsed().as_secs_f64());
        // From the proposal (the proposing PoP's clock) to this PoP's state: replication and
        // commit included, so it shows how far behind this replica runs (clock skew shifts it).
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let lag_ms = now_ms.saturating_sub(u128::from(at_ms));
        metrics::histogram!(APPLY_LAG_SECONDS).record(lag_ms as f64 / 1000.0);
        // After the lock is released, so a listener may read the state.
        for listener in self.listeners().iter() {
            listener(Some((&cmd, &outcome)));
        }
        outcome
    }

    /// Records that the entry at `index`, which changes no state, was applied.
    pub(crate) fn mark_applied(&self, index: u64) {
        self.applied_mut().last_applied = Some(index);
    }

    /// Replaces the whole state (a snapshot was installed or loaded) and tells the listeners.
    pub(crate) fn replace(&self, state: State, last_applied: Option<u64>) {
        *self.applied_mut() = Applied { state, last_applied };
        for listener in self.listeners().iter() {
            listener(None);
        }
        self.publish();
    }

    /// Wakes the watchers with the current last applied index.
    pub(crate) fn publish(&self) {
        let index = self.last_applied().unwrap_or(0);
        self.inner.watch.send_replace(index);
    }

    fn listeners(&self) -> Arc<Vec<Listener>> {
        Arc::clone(&self.inner.listeners.lock().unwrap_or_else(PoisonError::into_inner))
    }

    // A poisoned lock means a reader's closure panicked while holding it; the state itself is only
    // written by `State::apply`, which does not panic, so it is still consistent and usable.
    fn applied(&self) -> std::sync::RwLockReadGuard<'_, Applied> {
        self.inner.applied.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn applied_mut(&self) -> std::sync::RwLockWriteGuard<'_, Applied> {
        self.inner.applied.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for SharedState {
    fn default() -> Self {
        SharedState::new()
    }
}

impl fmt::Debug for SharedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedState").field("last_applied", &self.last_applied()).finish_non_exhaustive()
    }
}
