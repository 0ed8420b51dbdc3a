//! `on_tcp_connect` for TCP endpoints: decided once per connection, before any byte flows.

use std::net::{IpAddr, SocketAddr};

use tracing::warn;
use warren_policy::{Phase, RequestView};

use super::effects::EdgeEffects;
use super::entry::PolicyEntry;
use super::jwks::JwksStore;

struct TcpView<'a> {
    client: SocketAddr,
    endpoint_url: &'a str,
    region: &'a str,
}

impl RequestView for TcpView<'_> {
    fn client_ip(&self) -> IpAddr {
        self.client.ip()
    }
    fn client_port(&self) -> u16 {
        self.client.port()
    }
    fn server_region(&self) -> &str {
        self.region
    }
    fn endpoint_url(&self) -> &str {
        self.endpoint_url
    }
}

/// Whether a new TCP connection from `client` may reach the endpoint. Any terminal action
/// (restrict-ips, deny, close-connection, a failed guard expression) closes it.
pub fn tcp_connect_allowed(
    entry: &PolicyEntry,
    jwks: &JwksStore,
    client: SocketAddr,
    endpoint_url: &str,
    region: &str,
    now_ms: u64,
) -> bool {
    if entry.policy.rules(Phase::OnTcpConnect).is_empty() {
        return true;
    }
    let view = TcpView { client, endpoint_url, region };
    let mut effects = EdgeEffects { entry, jwks, unknown_kid: None };
    let outcome = warren_policy::evaluate(&entry.policy, Phase::OnTcpConnect, &view, &mut effects, now_ms);
    for e in &outcome.errors {
        warn!(error = %e, "traffic policy expression failed in on_tcp_connect");
    }
    outcome.terminal.is_none()
}
