//! The PoP's control state (authtokens, global policy), kept durable in `data_dir`.
//!
//! Until the cluster issue moves it into Raft, the state lives in memory and every change is
//! written to `data_dir/state.json` (write to a temporary file, fsync, rename) before the admin
//! call returns, so a PoP that restarts keeps its tokens and agents reconnect with the same one.

use std::path::{Path, PathBuf};

use warren_admin::{
    AdminApiError, AdminBackend, BoxFuture, ClusterStatus, CreatedToken, EndpointInfo, LocalBackend, PolicyDoc,
};
use warren_core::PopId;
use warren_state::{Snapshot, State, TokenId, TokenInfo};

use crate::PopError;

/// The admin backend of a standalone PoP: [`LocalBackend`] plus persistence.
pub(crate) struct Store {
    local: LocalBackend,
    path: PathBuf,
}

impl Store {
    /// Loads `data_dir/state.json` if it exists; `configure` adds hooks to the backend.
    pub(crate) fn open(
        data_dir: &Path,
        pop_id: PopId,
        cluster_addr: String,
        configure: impl FnOnce(LocalBackend) -> LocalBackend,
    ) -> Result<Store, PopError> {
        let path = data_dir.join("state.json");
        let state = match std::fs::read(&path) {
            Ok(bytes) => {
                let snap: Snapshot =
                    serde_json::from_slice(&bytes).map_err(|e| PopError::State(format!("{}: {e}", path.display())))?;
                State::restore(snap).map_err(|e| PopError::State(format!("{}: {e}", path.display())))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::new(),
            Err(e) => return Err(PopError::Io { path: path.display().to_string(), source: e }),
        };
        let local = configure(LocalBackend::new(pop_id, cluster_addr).with_state(state));
        Ok(Store { local, path })
    }

    pub(crate) fn local(&self) -> &LocalBackend {
        &self.local
    }

    fn persist(&self) -> Result<(), AdminApiError> {
        let snap = self.local.read(|s| s.snapshot());
        let bytes = serde_json::to_vec(&snap).map_err(|e| AdminApiError::internal(e.to_string()))?;
        write_atomic(&self.path, &bytes).map_err(|e| AdminApiError::internal(format!("cannot save the state: {e}")))
    }
}

/// Writes via a temporary file, fsync and rename, owner-only (the file holds token hashes).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Runs a mutating call, then persists the state before answering.
macro_rules! persisted {
    ($self:ident, $call:expr) => {
        Box::pin(async move {
            let out = $call.await?;
            $self.persist()?;
            Ok(out)
        })
    };
}

impl AdminBackend for Store {
    fn create_token(&self, description: String) -> BoxFuture<'_, Result<CreatedToken, AdminApiError>> {
        persisted!(self, self.local.create_token(description))
    }
    fn revoke_token(&self, id: TokenId) -> BoxFuture<'_, Result<(), AdminApiError>> {
        persisted!(self, self.local.revoke_token(id))
    }
    fn list_tokens(&self) -> BoxFuture<'_, Result<Vec<TokenInfo>, AdminApiError>> {
        self.local.list_tokens()
    }
    fn cluster_status(&self) -> BoxFuture<'_, Result<ClusterStatus, AdminApiError>> {
        self.local.cluster_status()
    }
    fn add_member(&self, id: PopId, addr: String, learner: bool) -> BoxFuture<'_, Result<(), AdminApiError>> {
        self.local.add_member(id, addr, learner)
    }
    fn remove_member(&self, id: PopId) -> BoxFuture<'_, Result<(), AdminApiError>> {
        self.local.remove_member(id)
    }
    fn set_policy(&self, text: String) -> BoxFuture<'_, Result<PolicyDoc, AdminApiError>> {
        persisted!(self, self.local.set_policy(text))
    }
    fn get_policy(&self) -> BoxFuture<'_, Result<PolicyDoc, AdminApiError>> {
        self.local.get_policy()
    }
    fn list_endpoints(&self) -> BoxFuture<'_, Result<Vec<EndpointInfo>, AdminApiError>> {
        self.local.list_endpoints()
    }
    fn ready(&self) -> bool {
        self.local.ready()
    }
}
