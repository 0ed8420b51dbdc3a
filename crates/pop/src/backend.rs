//! The admin API of a PoP over its cluster node: writes go through Raft (to the leader, from
//! whichever PoP the operator called), reads answer from this PoP's applied copy of the state.

use std::sync::Arc;

use rand::RngCore;
use warren_admin::{
    AdminApiError, AdminBackend, BoxFuture, ClusterStatus, CreatedToken, EndpointInfo, MemberStatus, PolicyDoc,
};
use warren_cluster::{ClusterNode, WriteRefused};
use warren_core::PopId;
use warren_state::{Command, Outcome, Rejection, State, TokenId, TokenInfo, new_token};

type PolicyValidator = Box<dyn Fn(&str) -> Result<(), Vec<String>> + Send + Sync>;

pub(crate) struct ClusterBackend {
    node: Arc<ClusterNode>,
    validate_policy: PolicyValidator,
}

impl ClusterBackend {
    pub(crate) fn new(
        node: Arc<ClusterNode>,
        validate_policy: impl Fn(&str) -> Result<(), Vec<String>> + Send + Sync + 'static,
    ) -> ClusterBackend {
        ClusterBackend { node, validate_policy: Box::new(validate_policy) }
    }

    pub(crate) fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        self.node.shared().read(f)
    }

    async fn write(&self, cmd: Command) -> Result<Outcome, AdminApiError> {
        self.node.write(cmd).await.map_err(refused)
    }

    /// Validates and sets the global policy. The version is computed from this PoP's copy; if a
    /// concurrent set won the race the write is refused and retried with the fresh version.
    pub(crate) async fn set_global_policy(&self, text: String) -> Result<PolicyDoc, AdminApiError> {
        (self.validate_policy)(&text).map_err(|lines| {
            let message = match lines.len() {
                1 => "invalid global policy (1 error)".to_owned(),
                n => format!("invalid global policy ({n} errors)"),
            };
            AdminApiError::bad_request(message).with_details(lines)
        })?;
        for _ in 0..5 {
            let version = self.read(State::next_policy_version);
            match self.write(Command::SetGlobalPolicy { text: text.clone(), version }).await? {
                Outcome::PolicySet { version } => return Ok(PolicyDoc { version, policy: text }),
                Outcome::Rejected(Rejection::PolicyVersion { .. }) => continue,
                other => return Err(AdminApiError::internal(format!("policy update refused: {other:?}"))),
            }
        }
        Err(AdminApiError::internal("the global policy kept changing under this update; try again").with_status(409))
    }
}

/// A refused write as the admin API reports it.
pub(crate) fn refused(e: WriteRefused) -> AdminApiError {
    match e {
        WriteRefused::NoQuorum => AdminApiError::no_quorum(e.to_string()),
        WriteRefused::Invalid(m) => AdminApiError::bad_request(m).with_status(409),
        WriteRefused::NotFound(m) => AdminApiError::not_found(m),
        WriteRefused::NotLeader { .. } | WriteRefused::Internal(_) => AdminApiError::internal(e.to_string()),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl AdminBackend for ClusterBackend {
    fn create_token(&self, description: String) -> BoxFuture<'_, Result<CreatedToken, AdminApiError>> {
        Box::pin(async move {
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
            match self.write(cmd).await? {
                Outcome::TokenCreated { .. } => Ok(CreatedToken { id, secret, description, created_at_ms }),
                other => Err(AdminApiError::internal(format!("token creation refused: {other:?}"))),
            }
        })
    }

    fn revoke_token(&self, id: TokenId) -> BoxFuture<'_, Result<(), AdminApiError>> {
        // The tunnels close on every PoP as it applies the revocation (see `Pop::start`).
        Box::pin(async move {
            match self.write(Command::RevokeToken { id }).await? {
                Outcome::TokenRevoked { .. } => Ok(()),
                Outcome::Rejected(Rejection::UnknownToken { id }) => {
                    Err(AdminApiError::not_found(format!("no token {id}")))
                }
                other => Err(AdminApiError::internal(format!("token revocation refused: {other:?}"))),
            }
        })
    }

    fn list_tokens(&self) -> BoxFuture<'_, Result<Vec<TokenInfo>, AdminApiError>> {
        Box::pin(async move { Ok(self.read(State::list_tokens)) })
    }

    fn cluster_status(&self) -> BoxFuture<'_, Result<ClusterStatus, AdminApiError>> {
        Box::pin(async move {
            let view = self.node.status();
            Ok(ClusterStatus {
                leader: view.leader,
                members: view
                    .members
                    .into_iter()
                    .map(|m| MemberStatus {
                        id: m.id,
                        addr: m.addr,
                        voter: m.voter,
                        healthy: m.healthy,
                        last_applied: m.last_applied,
                    })
                    .collect(),
            })
        })
    }

    fn add_member(&self, id: PopId, addr: String, learner: bool) -> BoxFuture<'_, Result<(), AdminApiError>> {
        Box::pin(async move { self.node.add_member(id.to_string(), addr, learner).await.map_err(refused) })
    }

    fn remove_member(&self, id: PopId) -> BoxFuture<'_, Result<(), AdminApiError>> {
        Box::pin(async move { self.node.remove_member(id.to_string()).await.map_err(refused) })
    }

    fn set_policy(&self, text: String) -> BoxFuture<'_, Result<PolicyDoc, AdminApiError>> {
        Box::pin(self.set_global_policy(text))
    }

    fn get_policy(&self) -> BoxFuture<'_, Result<PolicyDoc, AdminApiError>> {
        Box::pin(async move {
            Ok(self.read(|s| match s.global_policy() {
                Some(p) => PolicyDoc { version: p.version, policy: p.text.clone() },
                None => PolicyDoc { version: 0, policy: String::new() },
            }))
        })
    }

    fn list_endpoints(&self) -> BoxFuture<'_, Result<Vec<EndpointInfo>, AdminApiError>> {
        // Cluster-wide: every endpoint any PoP holds, from the replicated bindings.
        Box::pin(async move {
            Ok(self.read(|s| {
                s.bindings()
                    .iter()
                    .map(|(url, holders)| EndpointInfo {
                        url: url.clone(),
                        pops: holders.keys().cloned().collect(),
                        agents: agent_count(holders),
                    })
                    .collect()
            }))
        })
    }

    fn ready(&self) -> bool {
        self.node.ready()
    }
}

/// Distinct agents serving an endpoint: one agent with tunnels to several PoPs counts once.
/// Bindings written before agent ids were replicated count their sessions instead.
fn agent_count(holders: &std::collections::BTreeMap<String, warren_state::Binding>) -> u32 {
    let mut ids: Vec<&str> = holders.values().flat_map(|b| b.agent_ids.iter().map(String::as_str)).collect();
    ids.sort_unstable();
    ids.dedup();
    let unnamed: u32 = holders.values().filter(|b| b.agent_ids.is_empty()).map(|b| b.agents).sum();
    ids.len() as u32 + unnamed
}
