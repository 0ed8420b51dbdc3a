//! The chaos simulation: Warren's real cluster on a simulated planet, with faults, then a check of
//! the properties the cluster promises.
//!
//! `warren-sim chaos --seed N` runs N PoPs (default 5: Ashburn, Frankfurt, Singapore, San Jose,
//! Tokyo) as turmoil hosts. Each runs the real [`warren_cluster::ClusterNode`] — openraft with
//! Warren's network and RPCs, the QUIC transport authenticated by the cluster secret, the redb
//! log and state machine of `warren-raft`, the state machine of `warren-state`, peer health,
//! leader-forwarded writes, request forwarding — and the real tunnel listener
//! ([`warren_tunnel::TunnelServer`]) over a network whose links have the delays of the real
//! distances between those cities (`world.rs`). Each endpoint's agent is a turmoil host too,
//! running the real tunnel client ([`warren_tunnel::AgentSession`]) to every PoP of its endpoint.
//! Three phases:
//!
//! 1. **warm-up**: the bootstrap PoP forms the cluster, every PoP announces itself; the driver
//!    creates each agent's authtoken through the cluster, the agents (refused until then) connect
//!    and register their endpoints, and each PoP binds what its registry holds; clients start
//!    writing and sending requests;
//! 2. **chaos** (`schedule.rs`): crashes that lose unsynced writes, the leader crashed, partitions,
//!    the leader cut off in a minority, lossy links, slow links — overlapping, drawn from the seed;
//!    an agent whose PoP crashed sees its tunnel time out and dials again until it is back;
//! 3. **recovery**: every fault undone at once, clients go on, then the PoPs settle.
//!
//! Then the invariants (`invariants/`, one per file) are checked on what was recorded
//! (`history.rs`). A failure prints the seed and the command that replays it; the run's trace
//! (every event, in order, with simulated times) and its SHA-256 are written out, and the same
//! seed gives the same trace byte for byte (`tests/chaos_replay.rs`).
//!
//! # How the real code runs in a simulation
//!
//! - **QUIC over turmoil** (`net.rs`): quinn runs on any socket that implements its
//!   `AsyncUdpSocket`; a small adapter puts it on turmoil's UDP. quinn's own `TokioRuntime` serves
//!   as its runtime unchanged: its timers and `now()` are tokio's, and turmoil runs every host on a
//!   paused tokio runtime whose clock it advances. `ClusterNode::start_with` takes the bound
//!   endpoint ([`warren_cluster::NodeParts`]); the production `start` binds its own, unchanged.
//! - **Tunnels over turmoil** (`tunnel.rs`, `agent.rs`): each PoP process binds a second
//!   simulated QUIC endpoint for its tunnel listener, built with
//!   [`warren_tunnel::TunnelServer::from_endpoint`] (the production `bind` binds OS sockets and
//!   the TCP+TLS fallback, unchanged); each agent host dials with its own endpoint. The PoP side
//!   around the listener (the authtoken check against the replica, the local router, the registry
//!   sync) is a copy of `warren-pop`'s, whose modules are private to its binary; the agent's
//!   reconnect loop is a copy of `warren-agent`'s without its HTTP proxying.
//! - **DNS** (`dns.rs`): the real `warren_dns::Responder` answers real DNS packets on turmoil's
//!   UDP, from a zone rebuilt from the PoP's replica and health view as `warren-pop` does.
//! - **Disk** (`disk.rs`): the real store's writes go to a blocking thread, which a simulation
//!   cannot schedule (its result would land at a different simulated moment on every run).
//!   `warren_raft::open_storage_with_backend` opens the same store on an in-memory redb backend
//!   with the writes inline; the backend keeps what was synced apart from what was written, so a
//!   crash loses exactly what a power cut would.
//! - **Clock**: every timeout in the cluster is tokio's (`ClusterNode::write`'s deadlines were
//!   moved from `std::time::Instant` to tokio's for this; same behaviour on a PoP). The
//!   commands' `at_ms` come from the simulated wall clock (`NodeParts::clock`), with a fixed epoch.
//! - **Randomness**, all from the seed: the faults and the clients' (ChaCha streams keyed by the
//!   seed), per-datagram loss (keyed by the seed, the direction and the millisecond: `net.rs`),
//!   quinn's per-connection generator (`EndpointConfig::rng_seed`, on the cluster's, the tunnel
//!   listeners' and the agents' endpoints), the agents' tokens, and openraft's election
//!   timeouts (`warren_raft::WarrenRuntime`, whose generator `seed_thread_rng` seeds; openraft
//!   draws them from its runtime's thread-local generator, and turmoil runs every host on this one
//!   thread).
//! - **What stays unseeded, and why it does not show**: TLS (aws-lc draws key shares, nonces and
//!   ECDSA signatures from the OS; a signature's DER length varies by a byte, so once in a while a
//!   handshake flight takes one datagram more), and tokio's own generator, which decides the order
//!   in which a `watch` channel wakes its waiters (it spreads them over 8 shards) and which ready
//!   branch an unbiased `select!` takes (openraft's replication backoff). Seeding tokio needs its
//!   unstable `rng_seed`, i.e. `RUSTFLAGS=--cfg tokio_unstable` for the whole build (turmoil then
//!   seeds every host's runtime); tried, it does not remove the TLS effect, so it is not used. So
//!   the simulation is built to be insensitive to both: every link has a fixed delay (turmoil's
//!   jitter comes from one stream shared by all messages, so one datagram more or two sends of one
//!   tick in another order would shift every later delay), losses are keyed per direction and
//!   millisecond rather than drawn from a shared stream, datagram counts are not in the trace, and
//!   the trace sorts the lines of one simulated millisecond. Seeds 1–8 (`--short`) give identical
//!   traces in separate processes, and `tests/chaos_replay.rs` runs a seed twice in one process.
//!
//! # What is modelled rather than run
//!
//! - **The agent's backend**: an agent echoes each stream's bytes (after the real stream header)
//!   instead of proxying them to a local service; it holds one HTTP endpoint, sends no traffic
//!   policy, never pools, and dials over QUIC only (the TCP+TLS fallback is not run). Its
//!   reconnect delays have no jitter.
//! - **Requests** are the PoP router's path: at the PoP the client's DNS answer named, a stream
//!   through that PoP's own tunnel when its registry holds the endpoint, else
//!   `ClusterNode::forward` to a PoP the replicated bindings name, which opens one through its
//!   tunnel; the payload must come back intact. The edge (TLS, HTTP, policies) is not in the
//!   loop: the clients' requests enter the PoPs' router directly.
//! - **Revocation** of a token closes no tunnel: the agents' tokens are never revoked (the
//!   clients' tokens, which are, belong to no agent).
//!
//! Start reading at [`run`], then `driver.rs`.

mod agent;
mod disk;
mod dns;
mod driver;
mod history;
mod invariants;
mod net;
mod pop;
mod schedule;
mod tunnel;
mod world;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use warren_cluster::{ClusterSecret, HealthSettings};

use history::WriteKind;
use invariants::{Bounds, Violation};
use world::World;

/// The default number of PoPs.
pub const DEFAULT_POPS: usize = 5;
/// The fewest PoPs a simulation runs (a cluster that can lose one voter).
pub const MIN_POPS: usize = 3;
/// The most PoPs a simulation runs: one per city of the world model.
pub const MAX_POPS: usize = world::MAX_POPS;

/// Why a simulation could not run to the end (a broken invariant is not an error: see
/// [`ChaosReport::violations`]).
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    #[error("{0}")]
    Setup(String),
    #[error("{0}")]
    Sim(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// How long each phase lasts, in simulated milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    pub warmup_ms: u64,
    pub chaos_ms: u64,
    pub recovery_ms: u64,
}

impl Timings {
    /// The default run: ten minutes of chaos.
    pub const FULL: Timings = Timings { warmup_ms: 20_000, chaos_ms: 600_000, recovery_ms: 60_000 };
    /// `--short`, for CI: two minutes of chaos, every kind of fault at least once.
    pub const SHORT: Timings = Timings { warmup_ms: 15_000, chaos_ms: 120_000, recovery_ms: 50_000 };
    /// For tests: a few faults, a short recovery.
    pub const TINY: Timings = Timings { warmup_ms: 10_000, chaos_ms: 30_000, recovery_ms: 40_000 };

    pub fn total_ms(&self) -> u64 {
        self.warmup_ms + self.chaos_ms + self.recovery_ms
    }
}

/// One run.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    pub seed: u64,
    /// 3 to 43 PoPs.
    pub pops: usize,
    pub timings: Timings,
}

/// What a run found.
#[derive(Debug, Clone)]
pub struct ChaosReport {
    /// Every event of the run, in order, with simulated times; a function of the configuration.
    pub trace: String,
    /// SHA-256 of `trace`, hex.
    pub trace_sha256: String,
    /// Broken invariants: (invariant, what happened).
    pub violations: Vec<(String, String)>,
    /// A few lines on what happened, for people.
    pub summary: String,
}

/// The simulated Unix time at which every simulation starts (2027-01-01).
const EPOCH_MS: u64 = 1_798_761_600_000;

fn epoch() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(EPOCH_MS)
}

fn epoch_ms() -> u64 {
    EPOCH_MS
}

/// Panics of any thread while simulations run; see `invariants/no_panics.rs`.
static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
            let what = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_default();
            PANICS.lock().unwrap_or_else(PoisonError::into_inner).push(format!("panic{at}: {what}"));
            previous(info);
        }));
    });
}

/// The command that replays `cfg`.
pub fn replay_command(cfg: &ChaosConfig) -> String {
    let mut cmd = format!("cargo run -p warren-sim --release -- chaos --seed {}", cfg.seed);
    if cfg.timings == Timings::SHORT {
        cmd.push_str(" --short");
    }
    if cfg.pops != DEFAULT_POPS {
        let _ = write!(cmd, " --pops {}", cfg.pops);
    }
    cmd
}

/// Runs one simulation and checks the invariants.
pub fn run(cfg: &ChaosConfig) -> Result<ChaosReport, ChaosError> {
    if !(MIN_POPS..=MAX_POPS).contains(&cfg.pops) {
        return Err(ChaosError::Setup(format!("--pops must be {MIN_POPS} to {MAX_POPS}, not {}", cfg.pops)));
    }
    record_panics();
    PANICS.lock().unwrap_or_else(PoisonError::into_inner).clear();
    let started = Instant::now();
    let world = World::new(cfg.seed, cfg.pops);
    let secret = ClusterSecret::from_bytes(format!("warren-sim chaos seed {:020}", cfg.seed).as_bytes())
        .map_err(ChaosError::Setup)?;
    let t = cfg.timings;
    let plan = schedule::plan(cfg.seed, cfg.pops, t.warmup_ms, t.warmup_ms + t.chaos_ms);
    let env = Arc::new(pop::Env::new(world.clone(), cfg.seed, secret, net::Faults::new(cfg.seed ^ 0x6c6f_7373))?);
    env.history(|h| {
        let names: Vec<&str> = world.pops.iter().map(|p| p.id.as_str()).collect();
        h.trace(0, "driver", format_args!("seed {} pops {names:?} timings {t:?}", cfg.seed));
        for a in 0..world.pops.len() {
            let links: Vec<String> = (a + 1..world.pops.len())
                .map(|b| format!("{} {} ms", world.pops[b].id, world.one_way_ms[a][b]))
                .collect();
            if !links.is_empty() {
                h.trace(0, "driver", format_args!("one-way from {}: {}", world.pops[a].id, links.join(", ")));
            }
        }
        for e in &world.endpoints {
            let holders: Vec<&str> = e.holders.iter().map(|i| world.pops[*i].id.as_str()).collect();
            h.trace(0, "driver", format_args!("endpoint {} held at {holders:?} by {}", e.host, e.agent));
        }
    });
    // Election timeouts: one seeded generator on this thread, which runs every host.
    warren_raft::seed_thread_rng(Some(cfg.seed));
    let outcome = (|| {
        let mut driver = driver::Driver::new(env.clone(), t, plan, cfg.seed);
        driver.run()?;
        Ok::<_, ChaosError>(driver.faults_applied.len())
    })();
    warren_raft::seed_thread_rng(None);
    let faults = outcome?;
    let panics = std::mem::take(&mut *PANICS.lock().unwrap_or_else(PoisonError::into_inner));
    let bounds = Bounds::new(HealthSettings::default(), &warren_raft::RaftTimeouts::default());
    let history = std::mem::take(&mut *env.history.lock().unwrap_or_else(PoisonError::into_inner));
    let mut history = history;
    history.panics = panics;
    for f in history.finals.clone() {
        let digest = f.state.as_ref().map_or_else(
            || "none".to_owned(),
            |s| hex(&Sha256::digest(serde_json::to_vec(&s.snapshot()).unwrap_or_default())),
        );
        let name = history.name(f.pop).to_owned();
        history.trace(t.total_ms(), &name, format_args!("final: applied {:?}, state {digest}", f.last_applied));
    }
    let violations = invariants::check_all(&history, &world, &bounds);
    for v in &violations {
        history.trace(t.total_ms(), "check", format_args!("{}: {}", v.invariant, v.detail));
    }
    let trace = history.trace_text();
    let trace_sha256 = hex(&Sha256::digest(trace.as_bytes()));
    let (dropped, sent) = {
        let f = env.faults.lock().unwrap_or_else(PoisonError::into_inner);
        (f.dropped, f.sent.0)
    };
    let summary = summarize(cfg, &history, &bounds, faults, (sent, dropped), started.elapsed(), &violations);
    Ok(ChaosReport {
        trace,
        trace_sha256,
        violations: violations.into_iter().map(|v| (v.invariant.to_owned(), v.detail)).collect(),
        summary,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn summarize(
    cfg: &ChaosConfig,
    h: &history::History,
    bounds: &Bounds,
    faults: usize,
    (sent, dropped): (u64, u64),
    wall: Duration,
    violations: &[Violation],
) -> String {
    let t = cfg.timings;
    let mut s = String::new();
    let names: Vec<&str> = h.names.iter().map(String::as_str).collect();
    let _ = writeln!(
        s,
        "chaos seed {}: {} PoPs {names:?}, {} s simulated ({} warm-up, {} chaos, {} recovery) in {:.1} s",
        cfg.seed,
        cfg.pops,
        t.total_ms() / 1000,
        t.warmup_ms / 1000,
        t.chaos_ms / 1000,
        t.recovery_ms / 1000,
        wall.as_secs_f64()
    );
    let mut writes: BTreeMap<&str, usize> = BTreeMap::new();
    for w in h.writes.values() {
        let kind = match w.kind {
            WriteKind::Create(_) => "create",
            WriteKind::Revoke(_) => "revoke",
        };
        let result = match &w.done {
            Some((_, Ok(_))) => "acked",
            Some((_, Err(_))) => "refused",
            None => "unanswered",
        };
        *writes.entry(if kind == "create" { result } else { "revocations" }).or_default() += 1;
    }
    let _ = writeln!(s, "  {faults} faults; {sent} datagrams sent, {dropped} of them lost on lossy links");
    let _ = writeln!(s, "  writes: {} issued, {writes:?}", h.writes.len());
    let heal = h.phases.healed_at;
    let count = |after: bool, ok: bool| {
        h.requests
            .values()
            .filter(|r| (r.issued_ms >= heal) == after && matches!(r.done, Some((_, Ok(_)))) == ok)
            .count()
    };
    let _ = writeln!(
        s,
        "  requests: {} ok / {} failed before the heal, {} ok / {} failed after",
        count(false, true),
        count(false, false),
        count(true, true),
        count(true, false)
    );
    let d = h.dns_stats;
    let _ = writeln!(
        s,
        "  DNS: {} queries, {} answered with a PoP, {} without one, {} unanswered",
        d.asked, d.answered, d.empty, d.lost
    );
    let terms = h.roles.iter().map(|r| r.term).max().unwrap_or(0);
    let _ = writeln!(s, "  Raft: {} leaderships observed, highest term {terms}", h.roles.len());
    let _ = writeln!(
        s,
        "  bounds: health window {} ms, revocation {} ms, settle {} ms",
        bounds.health_window_ms, bounds.revocation_ms, bounds.settle_ms
    );
    if violations.is_empty() {
        let _ = writeln!(s, "  invariants: all {} hold", invariants::ALL.len());
    } else {
        let _ = writeln!(s, "  invariants: {} violation(s)", violations.len());
    }
    s
}

/// Log lines carry the simulated time (inside a host; blank outside), which is what matters when
/// reading a run's logs next to its trace. `RUST_LOG=turmoil=info,...` adds each line's host.
struct SimTime;

impl tracing_subscriber::fmt::time::FormatTime for SimTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        match turmoil::sim_elapsed() {
            Some(t) => write!(w, "{:>7}.{:03}", t.as_secs(), t.subsec_millis()),
            None => write!(w, "{:>11}", ""),
        }
    }
}

/// `warren-sim chaos`: runs, prints the summary, writes the trace, and on a broken invariant
/// prints what broke and how to replay it. `RUST_LOG` turns on the nodes' logs (to stderr).
pub fn cli(seed: u64, pops: usize, short: bool, trace: Option<PathBuf>) -> std::process::ExitCode {
    use std::process::ExitCode;
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_timer(SimTime)
            .with_writer(std::io::stderr)
            .try_init();
    }
    let cfg = ChaosConfig { seed, pops, timings: if short { Timings::SHORT } else { Timings::FULL } };
    let path = trace.unwrap_or_else(|| {
        let pops = if pops == DEFAULT_POPS { String::new() } else { format!("-pops{pops}") };
        std::env::temp_dir()
            .join(format!("warren-sim-chaos-seed{seed}{pops}{}.trace", if short { "-short" } else { "" }))
    });
    // Opened before the run: a trace that cannot be written fails at once, not after minutes.
    let mut file = match std::fs::File::create(&path) {
        Ok(file) => file,
        Err(source) => {
            eprintln!("warren-sim chaos: cannot write the trace: {}", ChaosError::Io { path, source });
            return ExitCode::from(2);
        }
    };
    let report = match run(&cfg) {
        Ok(report) => report,
        Err(e @ ChaosError::Setup(_)) => {
            eprintln!("warren-sim chaos: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("warren-sim chaos: {e}\nseed {seed}; replay: {}", replay_command(&cfg));
            return ExitCode::FAILURE;
        }
    };
    print!("{}", report.summary);
    match std::io::Write::write_all(&mut file, report.trace.as_bytes()).and_then(|()| file.sync_all()) {
        Ok(()) => println!(
            "  trace: {} ({} lines), sha256 {}",
            path.display(),
            report.trace.lines().count(),
            report.trace_sha256
        ),
        Err(source) => {
            eprintln!("warren-sim chaos: cannot write the trace: {}", ChaosError::Io { path, source });
            return ExitCode::FAILURE;
        }
    }
    if report.violations.is_empty() {
        return ExitCode::SUCCESS;
    }
    for (invariant, detail) in &report.violations {
        println!("VIOLATED {invariant}: {detail}");
    }
    println!("seed {seed} broke {} invariant check(s); replay: {}", report.violations.len(), replay_command(&cfg));
    ExitCode::FAILURE
}
