//! [`LocalBackend`]: the admin backend of a PoP without a cluster, and of tests.
//!
//! It applies commands to an in-memory [`State`] behind a mutex, with the wall clock and the OS
//! random generator supplying what the pure state machine takes as arguments. A clustered PoP
//! proposes the same [`Command`]s through Raft instead; keeping the two on the same commands means
//! the single-PoP and the clustered behaviour cannot drift apart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;
use warren_core::PopId;
use warren_state::{AuthError, Command, Outcome, Rejection, State, TokenId, TokenInfo, new_token};

use crate::{
    AdminApiError, AdminBackend, BoxFuture, ClusterStatus, CreatedToken, EndpointInfo, MemberStatus, PolicyDoc,
};

type RevokeHook = Box<dyn Fn(&TokenId) + Send + Sync>;
type EndpointsFn = Box<dyn Fn() -> Vec<EndpointInfo> + Send + Sync>;
type PolicyValidator = Box<dyn Fn(&str) -> Result<(), Vec<String>> + Send + Sync>;

/// An [`AdminBackend`] over a local, in-memory [`State`]; a standalone PoP's whole cluster.
///
/// ```ignore
/// let backend = Arc::new(
///     LocalBackend::new(pop_id, "127.0.0.1:7443")
///         .on_revoke(move |id| tunnels.close_token(id))
///         .endpoints(move || registry.list())
///         .policy_validator(|text| warren_policy::validate(text).map_err(|e| e.lines())),
/// );
/// AdminServer::start(addr, token, backend.clone(), render).await?;
/// backend.authenticate(presented_authtoken)?; // from the tunnel listener
/// ```
pub struct LocalBackend {
    pop_id: PopId,
    addr: String,
    state: Mutex<State>,
    ready: AtomicBool,
    on_revoke: RevokeHook,
    endpoints: EndpointsFn,
    validate_policy: PolicyValidator,
}

impl std::fmt::Debug for LocalBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBackend").field("pop_id", &self.pop_id).field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl LocalBackend {
    /// A ready backend for PoP `pop_id`, whose cluster address (shown in the status) is `addr`, with an
    /// empty state, no revocation hook, no endpoints, and a validator that accepts any policy.
    pub fn new(pop_id: PopId, addr: impl Into<String>) -> LocalBackend {
        LocalBackend {
            pop_id,
            addr: addr.into(),
            state: Mutex::new(State::new()),
            ready: AtomicBool::new(true),
            on_revoke: Box::new(|_| {}),
            endpoints: Box::new(Vec::new),
            validate_policy: Box::new(|_| Ok(())),
        }
    }

    /// Starts from `state` (e.g. restored from a snapshot on disk).
    pub fn with_state(self, state: State) -> LocalBackend {
        LocalBackend { state: Mutex::new(state), ..self }
    }

    /// Called after a token is revoked (outside the state lock), e.g. to close its tunnels.
    pub fn on_revoke(self, hook: impl Fn(&TokenId) + Send + Sync + 'static) -> LocalBackend {
        LocalBackend { on_revoke: Box::new(hook), ..self }
    }

    /// Supplies `GET /v1/endpoints`.
    pub fn endpoints(self, list: impl Fn() -> Vec<EndpointInfo> + Send + Sync + 'static) -> LocalBackend {
        LocalBackend { endpoints: Box::new(list), ..self }
    }

    /// Checks a global policy before it is stored; `Err` carries the error lines
    /// (`file:line:column: reason`) returned to the client.
    pub fn policy_validator(
        self,
        validate: impl Fn(&str) -> Result<(), Vec<String>> + Send + Sync + 'static,
    ) -> LocalBackend {
        LocalBackend { validate_policy: Box::new(validate), ..self }
    }

    /// Flips `/readyz`.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    /// Checks an agent's authtoken.
    pub fn authenticate(&self, presented: &str) -> Result<TokenId, AuthError> {
        self.read(|state| state.authenticate(presented))
    }

    /// Applies a command stamped with the wall clock (e.g. the bootstrap global policy).
    pub fn apply(&self, cmd: Command) -> Outcome {
        let now = now_ms();
        self.state.lock().unwrap_or_else(PoisonError::into_inner).apply(cmd, now)
    }

    /// Reads the state under the lock.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn create(&self, description: String) -> Result<CreatedToken, AdminApiError> {
        let mut random = [0u8; 40];
        rand::rng().fill_bytes(&mut random);
        let (id, secret) = new_token(random);
        let created_at_ms = now_ms();
        let cmd = Command::CreateToken {
            id: id.clone(),
            secret_hash: secret.hash(),
            description: description.clone(),
            created_at_ms,
        };
        match self.apply(cmd) {
            Outcome::TokenCreated { .. } => Ok(CreatedToken { id, secret, description, created_at_ms }),
            other => Err(AdminApiError::internal(format!("token creation refused: {other:?}"))),
        }
    }

    fn revoke(&self, id: TokenId) -> Result<(), AdminApiError> {
        match self.apply(Command::RevokeToken { id: id.clone() }) {
            Outcome::TokenRevoked { id } => {
                (self.on_revoke)(&id);
                Ok(())
            }
            Outcome::Rejected(Rejection::UnknownToken { id }) => {
                Err(AdminApiError::not_found(format!("no token {id}")))
            }
            other => Err(AdminApiError::internal(format!("token revocation refused: {other:?}"))),
        }
    }

    fn set(&self, text: String) -> Result<PolicyDoc, AdminApiError> {
        (self.validate_policy)(&text).map_err(|lines| {
            let message = match lines.len() {
                0 => "invalid global policy".to_owned(),
                1 => "invalid global policy (1 error)".to_owned(),
                n => format!("invalid global policy ({n} errors)"),
            };
            AdminApiError::bad_request(message).with_details(lines)
        })?;
        let now = now_ms();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        // Version computed and applied under one lock: no concurrent set can make it stale.
        let version = state.next_policy_version();
        match state.apply(Command::SetGlobalPolicy { text: text.clone(), version }, now) {
            Outcome::PolicySet { version } => Ok(PolicyDoc { version, policy: text }),
            other => Err(AdminApiError::internal(format!("policy update refused: {other:?}"))),
        }
    }

    fn policy(&self) -> PolicyDoc {
        self.read(|s| match s.global_policy() {
            Some(p) => PolicyDoc { version: p.version, policy: p.text.clone() },
            None => PolicyDoc { version: 0, policy: String::new() },
        })
    }

    fn status(&self) -> ClusterStatus {
        ClusterStatus {
            leader: Some(self.pop_id.to_string()),
            members: vec![MemberStatus {
                id: self.pop_id.to_string(),
                addr: self.addr.clone(),
                voter: true,
                healthy: self.ready.load(Ordering::Relaxed),
                last_applied: None,
            }],
        }
    }
}

fn standalone() -> AdminApiError {
    AdminApiError::bad_request("this PoP runs standalone: membership changes need a clustered PoP").with_status(409)
}

impl AdminBackend for LocalBackend {
    fn create_token(&self, description: String) -> BoxFuture<'_, Result<CreatedToken, AdminApiError>> {
        Box::pin(async move { self.create(description) })
    }

    fn revoke_token(&self, id: TokenId) -> BoxFuture<'_, Result<(), AdminApiError>> {
        Box::pin(async move { self.revoke(id) })
    }

    fn list_tokens(&self) -> BoxFuture<'_, Result<Vec<TokenInfo>, AdminApiError>> {
        Box::pin(async move { Ok(self.read(State::list_tokens)) })
    }

    fn cluster_status(&self) -> BoxFuture<'_, Result<ClusterStatus, AdminApiError>> {
        Box::pin(async move { Ok(self.status()) })
    }

    fn add_member(&self, _id: PopId, _addr: String, _learner: bool) -> BoxFuture<'_, Result<(), AdminApiError>> {
        Box::pin(async move { Err(standalone()) })
    }

    fn remove_member(&self, _id: PopId) -> BoxFuture<'_, Result<(), AdminApiError>> {
        Box::pin(async move { Err(standalone()) })
    }

    fn set_policy(&self, text: String) -> BoxFuture<'_, Result<PolicyDoc, AdminApiError>> {
        Box::pin(async move { self.set(text) })
    }

    fn get_policy(&self) -> BoxFuture<'_, Result<PolicyDoc, AdminApiError>> {
        Box::pin(async move { Ok(self.policy()) })
    }

    fn list_endpoints(&self) -> BoxFuture<'_, Result<Vec<EndpointInfo>, AdminApiError>> {
        Box::pin(async move { Ok((self.endpoints)()) })
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

fn now_ms() -> u64 {
    // A clock before 1970 is a broken host; 0 keeps apply total rather than panicking.
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
