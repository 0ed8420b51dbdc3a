//! Which traffic policies apply where: the operator's global policy (from the control state)
//! and each endpoint's own (sent by its agent), compiled once and shared.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use warren_edge::policy::{PolicyEntry, PolicySource};
use warren_raft::SharedState;
use warren_tunnel::Registry;

const DENY_ALL: &str = "on_http_request:\n  - name: global policy invalid\n    actions:\n      - type: deny\n";

/// Compiled endpoint policies kept (by text); beyond it the cache starts over.
const MAX_COMPILED: usize = 4096;

pub(crate) struct Policies {
    pub(crate) state: SharedState,
    pub(crate) registry: Weak<Registry>,
    by_text: Mutex<HashMap<Arc<str>, Arc<PolicyEntry>>>,
    global: Mutex<Option<(u64, Arc<PolicyEntry>)>>,
}

impl Policies {
    pub(crate) fn new(state: SharedState, registry: Weak<Registry>) -> Policies {
        Policies { state, registry, by_text: Mutex::default(), global: Mutex::default() }
    }

    /// Compiles (or finds) an endpoint policy; `Err` holds every mistake, one per line.
    pub(crate) fn compile(&self, text: &str) -> Result<Arc<PolicyEntry>, String> {
        if let Some(e) = self.by_text.lock().unwrap_or_else(PoisonError::into_inner).get(text) {
            return Ok(e.clone());
        }
        let entry = PolicyEntry::compile(text, "traffic-policy")
            .map_err(|ds| ds.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))?;
        let mut map = self.by_text.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_COMPILED {
            map.clear();
        }
        map.insert(Arc::from(text), entry.clone());
        Ok(entry)
    }
}

impl PolicySource for Policies {
    fn global(&self) -> Option<Arc<PolicyEntry>> {
        let (version, text) = self.state.read(|s| s.global_policy().map(|g| (g.version, g.text.clone())))?;
        let mut cached = self.global.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((v, e)) = cached.as_ref()
            && *v == version
        {
            return Some(e.clone());
        }
        // Stored policies were validated when they were set; one that no longer compiles (a
        // newer PoP with stricter rules) fails closed: every request is denied until the
        // operator fixes it, rather than silently dropping the operator's guardrails.
        let entry = match PolicyEntry::compile(&text, "global-policy") {
            Ok(e) => e,
            Err(ds) => {
                for d in &ds {
                    tracing::error!(error = %d, "the stored global policy does not compile; denying all requests");
                }
                PolicyEntry::compile(DENY_ALL, "deny-all").ok()?
            }
        };
        *cached = Some((version, entry.clone()));
        Some(entry)
    }

    /// The endpoint's policy as its local agents sent it, or, for an endpoint whose agents are
    /// connected to another PoP, as the replicated bindings carry it: the PoP a request enters
    /// enforces the policy either way.
    fn endpoint(&self, host: &str) -> Option<Arc<PolicyEntry>> {
        let local = self.registry.upgrade().and_then(|r| r.policy_for(host));
        let text: Arc<str> = match local {
            Some(text) => text,
            None => Arc::from(self.state.read(|s| s.endpoint_policy(&format!("https://{host}")).map(str::to_owned))?),
        };
        self.compile(&text).ok()
    }
}
