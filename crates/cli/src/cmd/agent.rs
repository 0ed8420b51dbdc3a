//! `warren http`, `warren tcp` and `warren start`: the agent in front of a terminal.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use tokio::sync::mpsc;
use warren_agent::{
    Agent, AgentEvent, AgentOptions, EndpointOptions, EndpointUpdater, Protocol, ProxyProtocol, Upstream,
};
use warren_config::{AgentConfig, EndpointProtocol, parse_target};

use crate::cli::{AgentArgs, StartArgs};
use crate::cmd::agent_file;

/// `warren http` / `warren tcp`.
pub(crate) fn run_single(args: AgentArgs, protocol: Protocol) -> anyhow::Result<ExitCode> {
    let (_, file) = agent_file::load(args.config.as_deref())?;
    let target = parse_target(&args.target).map_err(|e| anyhow::anyhow!("TARGET {e}"))?;
    if protocol == Protocol::Tcp && target.scheme == "https" {
        bail!("TARGET: a TCP endpoint takes HOST:PORT, not an https:// URL");
    }
    let traffic_policy = args.traffic_policy_file.as_deref().map(read_policy).transpose()?;
    let endpoint = EndpointOptions {
        url: args.url.clone(),
        protocol,
        upstream: Upstream { addr: target.addr.clone(), tls: target.scheme == "https" },
        traffic_policy,
        pooling: args.pooling_enabled,
        proxy_protocol: match args.proxy_protocol.as_deref() {
            Some("v1") => ProxyProtocol::V1,
            Some("v2") => ProxyProtocol::V2,
            _ => ProxyProtocol::None,
        },
        response_timeout: std::time::Duration::from_secs(args.response_timeout),
    };
    let mut opts = options(args.authtoken, args.server_addrs, args.ca_file, file.as_ref(), vec![endpoint])?;
    opts.transport = args.transport.parse().map_err(|e: String| anyhow::anyhow!("--transport: {e}"))?;
    let files = args.traffic_policy_file.iter().map(|p| (0, p.clone())).collect();
    run(opts, &target.addr, files)
}

/// `warren start --config agent.yaml`.
pub(crate) fn run_start(args: StartArgs) -> anyhow::Result<ExitCode> {
    let (_, file) = agent_file::load(Some(&args.config))?;
    let file = file.context("the agent config file is empty")?;
    if file.endpoints.is_empty() {
        bail!("{}: no endpoints to start", args.config.display());
    }
    let base = args.config.parent().unwrap_or(Path::new("."));
    let mut endpoints = Vec::new();
    let mut files = Vec::new();
    for (i, e) in file.endpoints.iter().enumerate() {
        if let Some(p) = &e.traffic_policy_file {
            files.push((i, base.join(p)));
        }
        let traffic_policy = e.traffic_policy_file.as_ref().map(|p| read_policy(&base.join(p))).transpose()?;
        endpoints.push(EndpointOptions {
            url: e.url.clone(),
            protocol: match e.protocol {
                EndpointProtocol::Http => Protocol::Http,
                EndpointProtocol::Tcp => Protocol::Tcp,
            },
            upstream: Upstream { addr: e.upstream_addr.clone(), tls: e.upstream_tls },
            traffic_policy,
            pooling: e.pooling_enabled,
            proxy_protocol: ProxyProtocol::None,
            response_timeout: std::time::Duration::from_secs(60),
        });
    }
    if args.check {
        println!("{}: ok ({} endpoint(s))", args.config.display(), endpoints.len());
        return Ok(ExitCode::SUCCESS);
    }
    // `warren start` has no --server-addr flag; the environment still overrides the file.
    let env_servers: Vec<String> = std::env::var("WARREN_SERVER_ADDR")
        .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let opts = options(std::env::var("WARREN_AUTHTOKEN").ok(), env_servers, None, Some(&file), endpoints)?;
    run(opts, "the configured upstreams", files)
}

/// Flags first, then the environment (clap reads it), then the agent config file.
fn options(
    authtoken: Option<String>,
    server_addrs: Vec<String>,
    ca_file: Option<std::path::PathBuf>,
    file: Option<&AgentConfig>,
    endpoints: Vec<EndpointOptions>,
) -> anyhow::Result<AgentOptions> {
    let authtoken = authtoken
        .filter(|t| !t.is_empty())
        .or_else(|| file.and_then(|f| f.authtoken.as_ref()).map(|s| s.expose().to_owned()))
        .ok_or(warren_agent::AgentError::NoAuthtoken)?;
    let server_addrs =
        if server_addrs.is_empty() { file.map(|f| f.server_addrs.clone()).unwrap_or_default() } else { server_addrs };
    let ca_file = ca_file.or_else(|| file.and_then(|f| f.ca_file.clone()));
    Ok(AgentOptions { server_addrs, authtoken, ca_file, endpoints, transport: Default::default() })
}

/// Reads a traffic policy and validates it here, so mistakes show before anything connects,
/// each as `file:line:column: field: reason`.
fn read_policy(path: &Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the traffic policy {}", path.display()))?;
    if let Err(diagnostics) = warren_policy::validate(&text, &path.display().to_string()) {
        for d in &diagnostics {
            eprintln!("{d}");
        }
        bail!("{}: {} mistake(s) in the traffic policy", path.display(), diagnostics.len());
    }
    Ok(text)
}

/// Re-reads the traffic policy files every second; a changed, valid file is re-registered on
/// every tunnel without dropping connections, an invalid one is reported and ignored.
fn watch_policies(updater: EndpointUpdater, mut endpoints: Vec<EndpointOptions>, files: Vec<(usize, PathBuf)>) {
    if files.is_empty() {
        return;
    }
    // What each file held when last read, so a bad edit is reported once, not every second.
    let mut seen: Vec<Option<String>> = files.iter().map(|(i, _)| endpoints[*i].traffic_policy.clone()).collect();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let mut changed = false;
            for (n, (i, path)) in files.iter().enumerate() {
                let Ok(text) = std::fs::read_to_string(path) else { continue };
                if seen[n].as_deref() == Some(text.as_str()) {
                    continue;
                }
                seen[n] = Some(text);
                match read_policy(path) {
                    Ok(text) => {
                        endpoints[*i].traffic_policy = Some(text);
                        changed = true;
                        println!("traffic policy reloaded from {}", path.display());
                    }
                    Err(e) => eprintln!("warren: {e:#}; keeping the previous policy"),
                }
            }
            if changed {
                updater.update(endpoints.clone());
            }
        }
    });
}

fn run(opts: AgentOptions, target: &str, policy_files: Vec<(usize, PathBuf)>) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let opts_endpoints = opts.endpoints.clone();
    rt.block_on(async {
        // The QUIC endpoint needs the runtime, so the agent is built inside it.
        let agent = Agent::new(opts)?;
        let closer = agent.closer();
        watch_policies(agent.updater(), opts_endpoints, policy_files);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let printer = {
            let target = target.to_owned();
            tokio::spawn(async move {
                while let Some(ev) = rx.recv().await {
                    match ev {
                        AgentEvent::Updated { server } => tracing::info!(%server, "endpoint settings updated"),
                        AgentEvent::Online { server, url } => println!("endpoint online {url} -> {target} (via {server})"),
                        AgentEvent::Connected { server, pop_id, transport } => {
                            tracing::info!(%server, pop.id = %pop_id, %transport, "tunnel up")
                        }
                        AgentEvent::Fallback { server, reason } => {
                            tracing::warn!(%reason, "UDP to {server} seems blocked; using TCP+TLS")
                        }
                        AgentEvent::Disconnected { server, reason, retry_in } => {
                            tracing::warn!(%server, %reason, retry_in_ms = retry_in.as_millis() as u64, "tunnel down, reconnecting")
                        }
                    }
                }
            })
        };
        let outcome = tokio::select! {
            r = agent.run(tx) => r.map_err(anyhow::Error::from),
            _ = crate::signals::terminated() => {
                closer.close().await;
                Ok(())
            }
        };
        printer.abort();
        outcome.map(|()| ExitCode::SUCCESS)
    })
}
