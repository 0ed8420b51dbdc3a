//! Every command and flag of the `warren` binary (CONTRACT.md is the source of truth).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Warren: a self-hosted global edge. PoPs, tunnel agents, traffic policy and GSLB DNS in one binary.
#[derive(Debug, Parser)]
#[command(
    name = "warren",
    version,
    about = "Warren: a self-hosted global edge. PoPs, tunnel agents, traffic policy and GSLB DNS in one binary.",
    propagate_version = true
)]
pub struct Cli {
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value = "text", env = "WARREN_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log level or filter (e.g. `info`, `debug`, `warren_edge=debug,info`).
    #[arg(long, global = true, default_value = "info", env = "WARREN_LOG_LEVEL")]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a Point of Presence: edge proxy, tunnel listener, cluster member, GSLB DNS, admin API.
    Pop(PopArgs),
    /// Agent: expose an HTTP backend (TARGET is 8080, host:8080 or http(s)://host:port).
    Http(AgentArgs),
    /// Agent: expose a raw TCP backend.
    Tcp(AgentArgs),
    /// Agent: run the endpoints of an agent config file.
    Start(StartArgs),
    /// Agent configuration file commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Operator commands against a PoP's admin API.
    Admin(AdminArgs),
    /// Traffic policy tools: validate, test offline, print the JSON Schema.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Start a complete local world: 3 PoPs, an identity provider, a sample API and an agent.
    Demo(DemoArgs),
    /// A local identity provider (JWKS, token endpoint, key rotation) for trying policies.
    DevIdp(DevIdpArgs),
}

#[derive(Debug, Args)]
pub struct PopArgs {
    /// The PoP's configuration file.
    #[arg(long, short = 'c')]
    pub config: PathBuf,
    /// Validate the configuration and exit: 0 if valid, else `file:line:column: field: reason`.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The backend: PORT, HOST:PORT or SCHEME://HOST:PORT.
    pub target: String,
    /// Public URL to ask for (https://NAME.ZONE); a random name when omitted.
    #[arg(long)]
    pub url: Option<String>,
    /// Agent authtoken (else env WARREN_AUTHTOKEN, else the agent config file).
    #[arg(long, env = "WARREN_AUTHTOKEN", hide_env_values = true)]
    pub authtoken: Option<String>,
    /// PoP tunnel address HOST:PORT; repeat to keep tunnels to several PoPs.
    #[arg(long = "server-addr", env = "WARREN_SERVER_ADDR", value_delimiter = ',')]
    pub server_addrs: Vec<String>,
    /// Trust this CA (PEM) for the tunnel, for PoPs with a private or dev CA.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Traffic policy to enforce at the edge for this endpoint.
    #[arg(long)]
    pub traffic_policy_file: Option<PathBuf>,
    /// Let several agents serve the same URL; traffic is balanced between them.
    #[arg(long)]
    pub pooling_enabled: bool,
    /// Agent config file (default $XDG_CONFIG_HOME/warren/agent.yaml).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Seconds the backend may take to start answering an HTTP request before the client gets
    /// 504 `WARREN_ERR_UPSTREAM_TIMEOUT`.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub response_timeout: u64,
    /// Send a PROXY protocol header (v1 or v2) to a TCP backend before the client's bytes.
    #[arg(long, value_parser = ["v1", "v2"])]
    pub proxy_protocol: Option<String>,
    /// Tunnel transport: QUIC with a TCP+TLS fallback when UDP is blocked (auto), or only one.
    #[arg(long, env = "WARREN_TRANSPORT", default_value = "auto", value_parser = ["auto", "quic", "tcp"])]
    pub transport: String,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Agent config file with an `endpoints` list.
    #[arg(long, short = 'c')]
    pub config: PathBuf,
    /// Validate the file (and the policies it names) and exit.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Save the authtoken in the agent config file.
    AddAuthtoken {
        token: String,
        /// Agent config file (default $XDG_CONFIG_HOME/warren/agent.yaml).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Validate the agent config file.
    Check {
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Admin API base URL of any PoP.
    #[arg(long, global = true, env = "WARREN_ADMIN_URL", default_value = "http://127.0.0.1:9090")]
    pub url: String,
    /// Admin token.
    #[arg(long, global = true, env = "WARREN_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Agent authtokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Cluster membership and status.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// The operator's global traffic policy.
    #[command(subcommand)]
    Policy(AdminPolicyCommand),
    /// Registered endpoints.
    #[command(subcommand)]
    Endpoints(EndpointsCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create an agent authtoken; the token is the last line printed.
    Create {
        #[arg(long)]
        description: Option<String>,
    },
    /// Revoke a token; its tunnels close within a second.
    Revoke { id: String },
    /// List tokens (ids and descriptions, never the secrets).
    List,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Leader, members, health and progress.
    Status,
    /// Add a member through Raft.
    AddMember {
        id: String,
        addr: String,
        /// Join as a learner (serves traffic and DNS, does not vote).
        #[arg(long)]
        learner: bool,
    },
    /// Remove a member through Raft.
    RemoveMember { id: String },
}

#[derive(Debug, Subcommand)]
pub enum AdminPolicyCommand {
    /// Replace the global policy with FILE.
    Set { file: PathBuf },
    /// Print the global policy.
    Get,
}

#[derive(Debug, Subcommand)]
pub enum EndpointsCommand {
    /// URL, PoPs holding its agents, agent count.
    List,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check a traffic policy file: exit 0, or every mistake as file:line:column and the reason.
    Validate { file: PathBuf },
    /// Evaluate a policy offline against a described request and print the outcome.
    Test {
        file: PathBuf,
        /// YAML description of the request (method, url, headers, client_ip, token...).
        #[arg(long)]
        request: PathBuf,
        /// Print the report as JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema (draft-07) of policy files.
    Schema,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Run the checks, print the results and exit 0 (instead of running until Ctrl-C).
    #[arg(long)]
    pub once: bool,
    /// Keep the demo's state here instead of a temporary folder.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DevIdpArgs {
    /// Address to serve the JWKS and token endpoints on (port 0 picks one).
    #[arg(long, default_value = "127.0.0.1:8900")]
    pub listen: std::net::SocketAddr,
    /// The `aud` of tokens that name none (what your policy's audience.allow_list expects).
    #[arg(long)]
    pub audience: Option<String>,
    /// The `iss` of tokens (default: the IdP's own URL).
    #[arg(long)]
    pub issuer: Option<String>,
}
