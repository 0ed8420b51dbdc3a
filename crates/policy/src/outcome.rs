//! What evaluating a phase decided: transformations to apply in order, at most one terminal
//! response, and every run-time error (for logging).

use serde_json::{Map, Value};

use crate::error::EvalError;

/// Why a phase ended the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    Deny,
    CustomResponse,
    Redirect,
    RestrictIps,
    BasicAuth,
    /// A token was missing or invalid; `reason` is the stable code (`expired`, `bad_issuer`...).
    JwtInvalid {
        reason: String,
    },
    /// No JWKS could be fetched yet: answer 503, the client did nothing wrong.
    JwtKeysUnavailable,
    RateLimited {
        retry_after_secs: u64,
    },
    CloseConnection,
    /// A guard rule's expression failed at run time (fail closed, see `eval`).
    ExpressionError,
}

/// A response the edge must send instead of forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status_code: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// How a phase ended the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Terminal {
    Respond { response: Response, cause: Cause },
    CloseConnection { cause: Cause },
}

impl Terminal {
    pub fn cause(&self) -> &Cause {
        match self {
            Terminal::Respond { cause, .. } | Terminal::CloseConnection { cause } => cause,
        }
    }
}

/// A non-terminal effect, to apply in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    AddHeaders(Vec<(String, String)>),
    RemoveHeaders(Vec<String>),
    /// Replace the request URL (`scheme://host/path?query`) with this one.
    UrlRewrite {
        url: String,
    },
    Log {
        metadata: Value,
    },
    CompressResponse {
        algorithms: Vec<String>,
    },
}

/// The result of evaluating one phase.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Names (or `#index`) of the rules whose expressions all held.
    pub matched_rules: Vec<String>,
    pub steps: Vec<Step>,
    pub terminal: Option<Terminal>,
    pub errors: Vec<EvalError>,
    /// `vars.*` after the phase.
    pub vars: Map<String, Value>,
    /// `actions.*` results after the phase.
    pub actions: Value,
}

impl Outcome {
    /// The response status the edge will send, if the phase ended the request.
    pub fn status_code(&self) -> Option<u16> {
        match &self.terminal {
            Some(Terminal::Respond { response, .. }) => Some(response.status_code),
            _ => None,
        }
    }
}
