//! Keeps this PoP's endpoint bindings in the replicated state equal to its local registry.
//!
//! Reconciliation rather than event forwarding: every tick the local registry is compared with
//! what the state says this PoP holds, and only the differences are written. A lost write, a
//! partition, or the leader expiring this PoP's bindings while it was unreachable all heal the
//! same way, on the next tick once writes go through again. Each write carries this process's
//! incarnation, so nothing a previous process of this PoP left in flight can land afterwards.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tracing::{debug, warn};
use warren_cluster::ClusterNode;
use warren_state::{Command, Outcome, Rejection};
use warren_tunnel::Registry;

/// How often the registry is compared with the replicated bindings.
const TICK: Duration = Duration::from_millis(150);

/// What this PoP holds for one URL: agents, policy, agent ids, pooling.
type Holding = (u32, Option<String>, Vec<String>, bool);
type Held = BTreeMap<String, Holding>;

pub(crate) async fn sync_loop(node: Arc<ClusterNode>, registry: Weak<Registry>) {
    node.announced().await;
    let me = node.pop_id().to_owned();
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(reg) = registry.upgrade() else { return };
        let local: Held = reg
            .endpoints()
            .into_iter()
            .map(|e| (e.url, (e.agents as u32, e.policy.map(|p| p.to_string()), e.agent_ids, e.pooling)))
            .collect();
        drop(reg);
        let replicated: Held = node.shared().read(|s| {
            s.bindings()
                .iter()
                .filter_map(|(url, holders)| {
                    holders
                        .get(&me)
                        .map(|b| (url.clone(), (b.agents, b.policy.clone(), b.agent_ids.clone(), b.pooling)))
                })
                .collect()
        });
        let mut changes: Vec<(String, Holding)> = local
            .iter()
            .filter(|(url, held)| replicated.get(*url) != Some(held))
            .map(|(u, h)| (u.clone(), h.clone()))
            .collect();
        changes.extend(
            replicated
                .keys()
                .filter(|url| !local.contains_key(*url))
                .map(|url| (url.clone(), (0, None, vec![], false))),
        );
        for (url, (agents, policy, agent_ids, pooling)) in changes {
            let incarnation = node.incarnation();
            let cmd = Command::SetEndpointAgents {
                url: url.clone(),
                pop: me.clone(),
                incarnation,
                agents,
                policy,
                agent_ids,
                pooling,
            };
            match node.write(cmd).await {
                Ok(Outcome::EndpointBound { .. }) => debug!(%url, agents, "endpoint binding replicated"),
                Ok(Outcome::Rejected(Rejection::StaleIncarnation { current, .. })) => {
                    warn!(current, incarnation, "another process started as this PoP id; its bindings win");
                }
                Ok(other) => warn!(?other, %url, "endpoint binding refused"),
                // No quorum: keep serving locally and try again on a later tick.
                Err(e) => {
                    debug!(error = %e, "cannot replicate endpoint bindings now");
                    break;
                }
            }
        }
    }
}
