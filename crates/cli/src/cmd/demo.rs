//! `warren demo`: the whole product on one machine, on real parts.
//!
//! Three `warren pop` children (Frankfurt, Virginia, Singapore) form one Raft cluster on loopback
//! and serve DNS for `edge.test`; an identity provider (`warren-dev-idp`, in process) publishes a
//! JWKS and mints RS256 tokens; a sample API (in process) stands for a private service; a
//! `warren http` child exposes it at `https://api.edge.test` with a `jwt-validation` policy,
//! keeping tunnels to two PoPs. Then, in front of the user: the DNS answer, a call refused without
//! a token, a call accepted with one (and one through the PoP without a tunnel), and the time to
//! that first accepted call. With `--once` it stops there (exit 0, or 1 with the failed check);
//! otherwise it prints ready-to-paste commands and runs until SIGINT/SIGTERM. Either way it stops
//! every child and removes its temporary folder (kept with `--data-dir`, and after a failure, for
//! the logs).
//!
//! `world.rs` starts and stops the parts, `checks.rs` runs what is shown, `commands.rs` prints
//! what to paste; `layout.rs` holds the addresses and the files' contents.

mod admin;
mod api;
mod calls;
mod checks;
mod child;
mod commands;
mod dns;
mod layout;
mod world;

use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use warren_dev_idp::TokenSpec;

use crate::cli::DemoArgs;
use layout::{API_NAME, AUDIENCE, CLIENT_NETS, SITES, ZONE};
use world::World;

/// The agent keeps tunnels to Frankfurt and Virginia; Singapore forwards.
const AGENT_POPS: [usize; 2] = [0, 1];
/// The token printed for pasting stays valid this long.
const PASTE_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// One line per step, with the time since the demo started.
pub(crate) struct Progress {
    start: Instant,
}

impl Progress {
    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub(crate) fn step(&self, what: &str, text: impl Display) {
        println!("[{:>5.1}s] {what:<18} {text}", self.elapsed().as_secs_f64());
    }
}

/// How the demo ended.
enum End {
    /// Checks passed (and, without `--once`, the user stopped it).
    Done,
    /// SIGINT/SIGTERM before the checks finished.
    Interrupted,
    Failed(anyhow::Error),
}

pub(crate) fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(run_async(args, Progress { start }))
}

async fn run_async(args: DemoArgs, p: Progress) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find the warren binary itself")?;
    let (root, temp) = match &args.data_dir {
        Some(dir) => (absolute(dir)?, None),
        None => {
            let t =
                tempfile::Builder::new().prefix("warren-demo-").tempdir().context("cannot make a temporary folder")?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    println!("warren demo: 3 PoPs, an identity provider, a sample API and an agent on this machine");
    println!("files: {}", root.display());
    let mut world = World::prepare(exe, root.clone())?;

    // One signal future for the whole run, so a signal between two phases is not lost.
    let stop = stop_signal();
    tokio::pin!(stop);
    let end = tokio::select! {
        r = start_and_check(&mut world, &p, args.data_dir.is_some()) => match r {
            Ok(ready) if args.once => { drop(ready); End::Done }
            Ok(ready) => {
                println!("{ready}");
                watch(&mut world, &mut stop).await
            }
            Err(e) => End::Failed(e),
        },
        () = &mut stop => End::Interrupted,
    };

    if let Some(api) = &world.api {
        p.step("sample API", format!("answered {} requests through the edge", api.requests()));
    }
    let (stopped, clean) = world.stop().await;
    let how = if clean { "each exited cleanly" } else { "some had to be killed" };
    p.step("stopped", format!("{} ({how})", stopped.join(", ")));
    match end {
        End::Failed(e) => {
            // Keep the logs of a failed run.
            if let Some(t) = temp {
                let _ = t.keep();
            }
            Err(e.context(format!("demo failed (logs kept in {})", world.files.logs().display())))
        }
        End::Done | End::Interrupted => {
            match temp {
                Some(t) => {
                    t.close().with_context(|| format!("cannot remove {}", root.display()))?;
                    p.step("removed", root.display());
                }
                None => p.step("kept", root.display()),
            }
            if matches!(end, End::Interrupted) {
                return Err(anyhow!("demo interrupted before its checks finished"));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Starts every part and runs the checks; returns the commands to paste.
async fn start_and_check(world: &mut World, p: &Progress, keep: bool) -> anyhow::Result<String> {
    let api = world.start_api().await?.addr();
    p.step("sample API", format!("http://{api} (private: only the agent talks to it)"));
    let idp = world.start_idp().await?;
    p.step("identity provider", format!("{} (RS256; JWKS {})", idp.issuer(), idp.jwks_url()));

    // The first PoP makes the shared dev CA; the other two reuse it.
    world.start_pops(&[0]).await?;
    world.start_pops(&[1, 2]).await?;
    for pop in &world.pops {
        let site = SITES[pop.index];
        let dns = pop.dns.map_or_else(|| "no DNS listener".to_owned(), |d| format!("dns {d}"));
        p.step(
            site.id,
            format!(
                "{} ({}): https {}, {dns}, admin {}, pid {}",
                site.city,
                site.region,
                world.layout.https(pop.index),
                pop.admin.url(),
                pid(&pop.child)
            ),
        );
    }
    let leader = world.converge().await?;
    p.step("cluster", format!("one Raft cluster of 3 voters, leader {leader}; every PoP ready"));

    let token = world.create_token().await?;
    p.step("agent authtoken", format!("created through {}'s admin API, known to every PoP", SITES[0].id));
    let url = world.start_agent(&token, &AGENT_POPS).await?;
    for i in 0..SITES.len() {
        world.wait_binding(i, &url).await?;
    }
    let via: Vec<&str> = AGENT_POPS.iter().map(|i| SITES[*i].id).collect();
    let agent_pid = world.agent.as_ref().map_or_else(|| "?".to_owned(), pid);
    p.step(
        "agent",
        format!(
            "{url} -> http://{api} through {}; policy {} (jwt-validation), pid {agent_pid}",
            via.join(" and "),
            world.files.policy().display()
        ),
    );

    let nearest = checks::dns_step(world, p).await?;
    let idp = world.idp.as_ref().context("the identity provider is not running")?;
    let token = idp.mint(&TokenSpec::rs256().sub("alice").aud(AUDIENCE).ttl(PASTE_TOKEN_TTL));
    let accepted = checks::calls_step(world, p, nearest, &token).await?;
    println!("first accepted call {:.1}s after start", accepted.as_secs_f64());

    let far = (0..SITES.len()).find(|i| !AGENT_POPS.contains(i)).unwrap_or(2);
    let first = world.pop(nearest)?;
    let host = format!("{API_NAME}.{ZONE}");
    let ready = commands::Ready {
        exe: &world.exe,
        host: &host,
        nearest: (world.layout.https(nearest), SITES[nearest].id),
        forwarding: (world.layout.https(far), SITES[far].id),
        ca_pem: &world.files.ca_pem(),
        token: &token,
        token_url: idp.token_url(),
        dns: first.dns,
        other_subnet: (CLIENT_NETS[1].cidr, CLIENT_NETS[1].place),
        admin_url: first.admin.url(),
        admin_token: &world.admin_token,
        root: &world.files.root,
        keep,
    };
    Ok(commands::render(&ready))
}

/// Runs until a signal (the normal end) or until a child dies (a failure).
async fn watch(world: &mut World, stop: &mut std::pin::Pin<&mut impl std::future::Future<Output = ()>>) -> End {
    loop {
        tokio::select! {
            () = stop.as_mut() => return End::Done,
            () = tokio::time::sleep(Duration::from_millis(500)) => {
                if let Some((name, code, log)) = world.exited_child() {
                    let code = code.map_or_else(|| "a signal".to_owned(), |c| format!("status {c}"));
                    return End::Failed(anyhow!("{name} exited unexpectedly with {code} (log: {})", log.display()));
                }
            }
        }
    }
}

/// SIGINT, SIGTERM, or SIGHUP (the terminal closed): the children run in their own process
/// group, so without the demo to stop them they would outlive it.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(mut hup) => {
            tokio::select! {
                () = crate::signals::terminated() => {}
                _ = hup.recv() => {}
            }
        }
        Err(_) => crate::signals::terminated().await,
    }
}

/// A child's process id for the step lines (so a user can `kill -STOP` a PoP and watch).
fn pid(child: &child::Child) -> String {
    child.pid().map_or_else(|| "?".to_owned(), |p| p.to_string())
}

fn absolute(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    dir.canonicalize().with_context(|| format!("cannot resolve {}", dir.display()))
}
