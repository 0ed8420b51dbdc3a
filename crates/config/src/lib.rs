//! Warren's configuration files: `pop.yaml` for a PoP and `agent.yaml` for an agent.
//!
//! Files are read by the binary; this crate only sees their text, so it stays pure and every
//! rule is testable without touching a disk. Parsing is two steps, as quinn's guide puts it,
//! "parse, don't validate": a strict serde pass over the YAML (unknown fields, duplicate keys
//! and YAML tags are errors) into the `*File` structs, then a conversion into validated types
//! ([`PopConfig`], [`AgentConfig`]) that the rest of Warren takes. Every error names the file,
//! line, column and field: `pop.yaml:7:11: listen.admin: invalid socket address "localhost"`.
//!
//! Secrets (authtokens) are wrapped in [`Secret`], whose `Debug` and `Display` never print them.

mod agent;
mod error;
mod pop;
mod secret;
mod yaml;

pub use agent::{AgentConfig, AgentEndpoint, AgentFile, EndpointProtocol, Target, parse_target};
pub use error::ConfigError;
pub use pop::{
    GeoConfig, GeoNetwork, HealthConfig, Listen, Location, PopConfig, PopFile, RaftTiming, TcpPortRange, TlsConfig,
};
pub use secret::Secret;
pub use yaml::from_yaml;
