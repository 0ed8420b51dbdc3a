//! The stable public error codes.
//!
//! A code is part of Warren's outside: users grep logs and write alerts for them, so a code,
//! once shipped, keeps its spelling and meaning. Each code knows its HTTP status, who caused it
//! and whether a client may retry, so the edge never has to decide that at the call site
//! (the same split pingora makes with `ErrorSource` and `RetryType`). `docs/errors.md` lists
//! every code; a test keeps the two in step.

use std::fmt;

/// Who caused an error: decides log level and whether the operator or the user must act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorSource {
    /// The client sent something wrong or is not allowed.
    Client,
    /// The endpoint's traffic policy refused the request.
    Policy,
    /// The agent or its tunnel failed.
    Agent,
    /// The backend behind the agent failed.
    Upstream,
    /// Another PoP of the cluster failed.
    Cluster,
    /// Warren itself failed.
    Internal,
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident => ($code:literal, $status:literal, $source:ident, $retry:literal, $title:literal), )*) => {
        /// A stable error code shown to users in error pages, API errors and logs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in documentation order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The stable spelling, e.g. `WARREN_ERR_ENDPOINT_NOT_FOUND`.
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }

            /// The HTTP status the edge answers with.
            pub const fn http_status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }

            /// Who caused it.
            pub const fn source(self) -> ErrorSource {
                match self { $(ErrorCode::$variant => ErrorSource::$source,)* }
            }

            /// Whether the same request may succeed if the client simply retries.
            pub const fn retryable(self) -> bool {
                match self { $(ErrorCode::$variant => $retry,)* }
            }

            /// A one-line human title for error pages.
            pub const fn title(self) -> &'static str {
                match self { $(ErrorCode::$variant => $title,)* }
            }

            /// Looks a code up by its stable spelling.
            pub fn from_code(s: &str) -> Option<ErrorCode> {
                Self::ALL.iter().copied().find(|c| c.as_str() == s)
            }
        }
    };
}

codes! {
    /// No endpoint is registered for the request's host name.
    EndpointNotFound => ("WARREN_ERR_ENDPOINT_NOT_FOUND", 404, Client, false, "No endpoint at this address"),
    /// The endpoint exists but no agent is connected to serve it.
    EndpointOffline => ("WARREN_ERR_ENDPOINT_OFFLINE", 502, Agent, true, "The endpoint's agent is offline"),
    /// The tunnel stream to the agent broke before a response arrived.
    TunnelStreamFailed => ("WARREN_ERR_TUNNEL_STREAM", 502, Agent, true, "The tunnel to the agent failed"),
    /// The agent could not connect to its backend (connection refused, unreachable).
    UpstreamRefused => ("WARREN_ERR_UPSTREAM_REFUSED", 502, Upstream, true, "The backend refused the connection"),
    /// The backend did not answer in time.
    UpstreamTimeout => ("WARREN_ERR_UPSTREAM_TIMEOUT", 504, Upstream, true, "The backend did not answer in time"),
    /// The backend answered with something that is not valid HTTP.
    UpstreamProtocol => ("WARREN_ERR_UPSTREAM_PROTOCOL", 502, Upstream, false, "The backend sent an invalid response"),
    /// The request itself is malformed (no Host, bad URI, oversized headers).
    BadRequest => ("WARREN_ERR_BAD_REQUEST", 400, Client, false, "Bad request"),
    /// A traffic policy `deny` action or rule refused the request.
    PolicyDenied => ("WARREN_ERR_POLICY_DENIED", 403, Policy, false, "Denied by traffic policy"),
    /// The client's IP address is not allowed by `restrict-ips`.
    IpRestricted => ("WARREN_ERR_IP_RESTRICTED", 403, Policy, false, "Your IP address is not allowed"),
    /// No bearer token was presented where `jwt-validation` requires one.
    JwtMissing => ("WARREN_ERR_JWT_MISSING", 401, Policy, false, "A bearer token is required"),
    /// The presented token failed validation; the body names the reason.
    JwtInvalid => ("WARREN_ERR_JWT_INVALID", 401, Policy, false, "The bearer token is not valid"),
    /// The identity provider's keys could not be fetched and none are cached.
    JwksUnavailable => ("WARREN_ERR_JWKS_UNAVAILABLE", 503, Upstream, true, "Token keys are unavailable"),
    /// `basic-auth` credentials are missing or wrong.
    BasicAuthFailed => ("WARREN_ERR_BASIC_AUTH", 401, Policy, false, "Authentication required"),
    /// A `rate-limit` action refused the request; `Retry-After` says when to come back.
    RateLimited => ("WARREN_ERR_RATE_LIMITED", 429, Policy, true, "Too many requests"),
    /// The PoP is draining for shutdown or maintenance.
    PopDraining => ("WARREN_ERR_POP_DRAINING", 503, Internal, true, "This edge node is draining"),
    /// The request had to be forwarded to another PoP, which could not be reached.
    ClusterForwardFailed => ("WARREN_ERR_CLUSTER_FORWARD", 502, Cluster, true, "The edge node holding the tunnel is unreachable"),
    /// A write needs a cluster majority this PoP cannot reach.
    NoQuorum => ("WARREN_ERR_NO_QUORUM", 503, Cluster, true, "The cluster has no reachable majority"),
    /// The admin API token is missing or wrong.
    AdminUnauthorized => ("WARREN_ERR_ADMIN_UNAUTHORIZED", 401, Client, false, "Admin token missing or invalid"),
    /// An admin API request was malformed or named something that does not exist.
    AdminBadRequest => ("WARREN_ERR_ADMIN_BAD_REQUEST", 400, Client, false, "Invalid admin request"),
    /// An agent presented an unknown authtoken.
    AuthtokenInvalid => ("WARREN_ERR_AUTHTOKEN_INVALID", 401, Client, false, "The authtoken is not valid"),
    /// An agent presented a revoked authtoken.
    AuthtokenRevoked => ("WARREN_ERR_AUTHTOKEN_REVOKED", 401, Client, false, "The authtoken has been revoked"),
    /// The requested endpoint URL is served by another agent and pooling is off.
    UrlInUse => ("WARREN_ERR_URL_IN_USE", 409, Client, false, "The endpoint URL is already in use"),
    /// The requested endpoint URL is not under this edge's zone or is malformed.
    UrlInvalid => ("WARREN_ERR_URL_INVALID", 400, Client, false, "The endpoint URL is not valid"),
    /// Every port of `tcp_ports` is taken.
    TcpPortsExhausted => ("WARREN_ERR_TCP_PORTS_EXHAUSTED", 503, Internal, true, "No TCP port is free"),
    /// A traffic policy sent with an endpoint registration is invalid.
    PolicyInvalid => ("WARREN_ERR_POLICY_INVALID", 400, Client, false, "The traffic policy is not valid"),
    /// The agent speaks a protocol version this PoP does not.
    ProtocolVersion => ("WARREN_ERR_PROTOCOL_VERSION", 400, Client, false, "Unsupported tunnel protocol version"),
    /// Anything Warren did not expect; the log has the details.
    Internal => ("WARREN_ERR_INTERNAL", 500, Internal, true, "Internal error"),
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        for code in ErrorCode::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "duplicate code {s}");
            assert!(s.starts_with("WARREN_ERR_"), "{s}");
            assert!(s.chars().all(|c| c.is_ascii_uppercase() || c == '_'), "{s}");
            assert!((400..600).contains(&code.http_status()), "{s}");
            assert_eq!(ErrorCode::from_code(s), Some(*code));
        }
    }

    #[test]
    fn contract_statuses() {
        assert_eq!(ErrorCode::EndpointNotFound.http_status(), 404);
        assert_eq!(ErrorCode::EndpointOffline.http_status(), 502);
        assert_eq!(ErrorCode::PolicyDenied.http_status(), 403);
        assert_eq!(ErrorCode::JwtInvalid.http_status(), 401);
        assert_eq!(ErrorCode::RateLimited.http_status(), 429);
        assert_eq!(ErrorCode::UpstreamTimeout.http_status(), 504);
        assert_ne!(ErrorCode::UpstreamRefused, ErrorCode::UpstreamTimeout);
    }
}
