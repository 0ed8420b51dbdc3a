//! Control-stream messages: the agent's session with a PoP.
//!
//! Sequence: the agent opens the control stream and sends [`AgentMsg::Hello`]; the PoP answers
//! [`PopMsg::Welcome`] or [`PopMsg::Error`] and closes. Then the agent sends
//! [`AgentMsg::Register`] whenever its endpoints change, and heartbeats. The PoP may send
//! [`PopMsg::Drain`] (move to another PoP, this one is shutting down) or [`PopMsg::Error`]
//! followed by closing the tunnel (e.g. the authtoken was revoked).

use serde::{Deserialize, Serialize};

/// What an endpoint carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    Http,
    Tcp,
}

/// One endpoint the agent asks the PoP to serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSpec {
    /// The agent's own key for the endpoint; data streams name it.
    pub key: u32,
    /// Requested public URL; `None` asks for a random name (HTTP) or any free port (TCP).
    pub url: Option<String>,
    pub protocol: Protocol,
    /// The traffic policy file's text (YAML), enforced at the edge.
    pub traffic_policy: Option<String>,
    /// Whether other agents may serve the same URL at the same time.
    pub pooling: bool,
}

/// Messages from the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentMsg {
    Hello {
        version: u16,
        authtoken: String,
        /// Stable for the life of the agent process: a reconnecting agent takes its own
        /// bindings over at once instead of being refused as a second agent.
        agent_id: String,
        agent_version: String,
    },
    Register {
        endpoints: Vec<EndpointSpec>,
    },
    Heartbeat {
        seq: u64,
    },
}

/// The outcome of registering one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegisterResult {
    Online { key: u32, url: String },
    Refused { key: u32, code: String, message: String },
}

/// Messages from the PoP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PopMsg {
    Welcome {
        session_id: String,
        pop_id: String,
        zone: String,
        heartbeat_ms: u32,
    },
    Registered {
        results: Vec<RegisterResult>,
    },
    HeartbeatAck {
        seq: u64,
    },
    /// This PoP is going away: reconnect elsewhere (or here later) and re-register.
    Drain {
        reason: String,
    },
    /// A fatal error for the session; the PoP closes the tunnel after sending it.
    Error {
        code: String,
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MAX_CONTROL_FRAME, decode, encode};

    #[test]
    fn control_messages_round_trip() {
        let msgs = vec![
            AgentMsg::Hello { version: 1, authtoken: "t".into(), agent_id: "a".into(), agent_version: "0.1".into() },
            AgentMsg::Register {
                endpoints: vec![EndpointSpec {
                    key: 7,
                    url: Some("https://api.edge.test".into()),
                    protocol: Protocol::Http,
                    traffic_policy: Some("on_http_request: []".into()),
                    pooling: true,
                }],
            },
            AgentMsg::Heartbeat { seq: 9 },
        ];
        for m in msgs {
            assert_eq!(decode::<AgentMsg>(&encode(&m).unwrap(), MAX_CONTROL_FRAME).unwrap(), m);
        }
        let p = PopMsg::Registered {
            results: vec![RegisterResult::Refused {
                key: 1,
                code: "WARREN_ERR_URL_IN_USE".into(),
                message: "x".into(),
            }],
        };
        assert_eq!(decode::<PopMsg>(&encode(&p).unwrap(), MAX_CONTROL_FRAME).unwrap(), p);
    }
}
