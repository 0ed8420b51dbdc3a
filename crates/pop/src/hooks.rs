//! What the tunnel listener asks the PoP: is this authtoken valid, is this policy valid.

use std::sync::Arc;

use warren_core::ErrorCode;
use warren_state::AuthError;
use warren_tunnel::SessionHooks;

use crate::policies::Policies;

pub(crate) struct Hooks {
    pub(crate) state: warren_raft::SharedState,
    pub(crate) policies: Arc<Policies>,
}

impl SessionHooks for Hooks {
    fn authenticate(&self, authtoken: &str) -> Result<String, ErrorCode> {
        match self.state.read(|s| s.authenticate(authtoken)) {
            Ok(id) => Ok(id.as_str().to_owned()),
            Err(AuthError::Revoked { .. }) => Err(ErrorCode::AuthtokenRevoked),
            Err(_) => Err(ErrorCode::AuthtokenInvalid),
        }
    }

    fn check_policy(&self, text: &str) -> Result<(), String> {
        // Compiling here also warms the cache the edge reads from.
        self.policies.compile(text).map(|_| ())
    }
}
