//! `warren-bench-idle`: one process holding many idle agent sessions to one PoP, for the
//! idle-tunnels scenario of `bench/run` (the PoP's memory per connected agent session).
//!
//! Each session is what `warren http` keeps per PoP, built from the same SDK pieces
//! (`warren_agent::client_tls`, `warren_tunnel::client_endpoint`, [`AgentSession`]): a QUIC
//! connection authenticated with the authtoken, one registered HTTP endpoint
//! (`PREFIX-N.ZONE`, unless `--no-register`), a loop accepting data streams, and the agent's
//! application heartbeat every 10 s (QUIC keep-alives every second come from the tunnel's
//! transport settings). Sessions share `--sockets` UDP sockets (one, like an agent, by default),
//! so the number of sessions is not bounded by file descriptors or local ports.
//!
//! Each session is dialled up to three times. Prints `ready sessions=N failed=F not_started=K
//! seconds=S` once every session started has opened or failed (`--deadline-secs` bounds how long
//! new ones are started; it exits non-zero only if none opened), then `live N` whenever the number
//! of open sessions changes, and holds them until SIGINT or SIGTERM (or `--hold-secs`). Progress
//! and every failure or closed session go to stderr.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use tokio::sync::{Semaphore, mpsc};
use warren_agent::{AgentSession, EndpointSpec, Protocol, RegisterResult};

/// The agent's application heartbeat period (the PoP's `heartbeat_ms`).
const HEARTBEAT: Duration = Duration::from_secs(10);
/// Attempts per session before giving up (a handshake may time out on a loaded machine).
const ATTEMPTS: u32 = 3;

#[derive(Debug, Parser)]
#[command(about = "Hold many idle Warren agent sessions to one PoP (benchmark helper)")]
struct Args {
    /// The PoP's tunnel listener (QUIC), HOST:PORT with HOST an IP address.
    #[arg(long)]
    server_addr: SocketAddr,
    /// The name checked on the PoP's certificate (default: the IP of --server-addr).
    #[arg(long)]
    server_name: Option<String>,
    /// A CA to trust for the tunnel (the PoP's dev CA).
    #[arg(long)]
    ca_file: Option<PathBuf>,
    /// The agent authtoken, shared by every session.
    #[arg(long, env = "WARREN_AUTHTOKEN", hide_env_values = true)]
    authtoken: String,
    /// How many sessions to open and hold.
    #[arg(long)]
    sessions: usize,
    /// The PoP's zone: session N registers http://PREFIX-N.ZONE.
    #[arg(long, default_value = "edge.test")]
    zone: String,
    #[arg(long, default_value = "idle")]
    prefix: String,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// UDP sockets the sessions are spread over.
    #[arg(long, default_value_t = 1)]
    sockets: usize,
    /// Connect and authenticate only; register no endpoint.
    #[arg(long)]
    no_register: bool,
    /// Start no new session after this many seconds (those started still finish opening).
    #[arg(long)]
    deadline_secs: Option<u64>,
    /// Exit after holding the sessions this long (default: until SIGINT or SIGTERM).
    #[arg(long)]
    hold_secs: Option<u64>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.sessions == 0 || args.concurrency == 0 || args.sockets == 0 {
        bail!("--sessions, --concurrency and --sockets must be at least 1");
    }
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let ca = match &args.ca_file {
        Some(path) => Some((path, std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?)),
        None => None,
    };
    let ca_ref = ca.as_ref().map(|(path, pem)| (path.to_str().unwrap_or("the CA file"), pem.as_slice()));
    let tls = warren_agent::client_tls(ca_ref)?;
    let endpoints = (0..args.sockets)
        .map(|_| warren_tunnel::client_endpoint(tls.clone(), args.server_addr.is_ipv6()))
        .collect::<Result<Vec<_>, _>>()?;
    let server_name = args.server_name.clone().unwrap_or_else(|| args.server_addr.ip().to_string());
    let args = Arc::new(args);

    let live = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(args.concurrency));
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Result<(), String>>();
    let started = Instant::now();
    let deadline = args.deadline_secs.map(|s| started + Duration::from_secs(s));
    let progress = {
        let (live, total) = (live.clone(), args.sessions);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let up = live.load(Ordering::Relaxed);
                eprintln!("{up}/{total} sessions up ({:.0} s)", started.elapsed().as_secs_f64());
            }
        })
    };
    let mut spawned = 0;
    for i in 0..args.sessions {
        let permit = gate.clone().acquire_owned().await?;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            eprintln!("deadline reached: {i} of {} sessions started", args.sessions);
            break;
        }
        spawned += 1;
        let (endpoint, args, name, live, done) =
            (endpoints[i % endpoints.len()].clone(), args.clone(), server_name.clone(), live.clone(), done_tx.clone());
        tokio::spawn(async move {
            let opened = open(&endpoint, &args, &name, i).await;
            drop(permit);
            match opened {
                Ok(session) => {
                    live.fetch_add(1, Ordering::Relaxed);
                    let _ = done.send(Ok(()));
                    drop(done);
                    let reason = hold(&session).await;
                    live.fetch_sub(1, Ordering::Relaxed);
                    eprintln!("session {i} closed: {reason}");
                }
                Err(e) => {
                    let _ = done.send(Err(format!("session {i}: {e:#}")));
                }
            }
        });
    }
    drop(done_tx);
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..spawned {
        match done_rx.recv().await.context("a session task ended without a word")? {
            Ok(()) => ok += 1,
            Err(e) => {
                failed += 1;
                eprintln!("{e}");
            }
        }
    }
    progress.abort();
    if ok == 0 {
        bail!("no session could be opened");
    }
    println!(
        "ready sessions={ok} failed={failed} not_started={} seconds={:.2}",
        args.sessions - spawned,
        started.elapsed().as_secs_f64()
    );

    let hold_for = async {
        match args.hold_secs {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => std::future::pending().await,
        }
    };
    let report = async {
        let mut last = usize::MAX;
        loop {
            let now = live.load(Ordering::Relaxed);
            if now != last {
                println!("live {now}");
                last = now;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        () = hold_for => {}
        () = report => {}
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    for endpoint in &endpoints {
        endpoint.close(0u32.into(), b"benchmark over");
    }
    for endpoint in &endpoints {
        let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
    }
    Ok(())
}

/// Dials, authenticates and registers session `i`, retrying a failed dial.
async fn open(endpoint: &quinn::Endpoint, args: &Args, name: &str, i: usize) -> anyhow::Result<AgentSession> {
    let agent_id = format!("{}-{i}", args.prefix);
    let mut attempt = 1;
    let session = loop {
        match AgentSession::connect(endpoint, args.server_addr, name, &args.authtoken, &agent_id).await {
            Ok(s) => break s,
            Err(e) if attempt < ATTEMPTS => {
                eprintln!("session {i}: attempt {attempt} failed ({e}); retrying");
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e).context("cannot connect"),
        }
    };
    if !args.no_register {
        let spec = EndpointSpec {
            key: 0,
            url: Some(format!("http://{}-{i}.{}", args.prefix, args.zone)),
            protocol: Protocol::Http,
            traffic_policy: None,
            pooling: false,
        };
        match session.register(vec![spec]).await?.as_slice() {
            [RegisterResult::Online { .. }] => {}
            other => bail!("registration refused: {other:?}"),
        }
    }
    Ok(session)
}

/// What an idle agent does with a session: accept (and drop) data streams, send heartbeats.
/// Returns why the session ended.
async fn hold(session: &AgentSession) -> String {
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    let mut seq = 0u64;
    loop {
        tokio::select! {
            stream = session.accept() => if let Err(e) = stream {
                return e.to_string();
            },
            _ = heartbeat.tick() => {
                seq += 1;
                if let Err(e) = session.heartbeat(seq).await {
                    return e.to_string();
                }
            }
        }
    }
}
