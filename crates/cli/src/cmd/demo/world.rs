//! The demo's world: its folder, three `warren pop` children forming one cluster, the identity
//! provider and the sample API (in process), and a `warren http` agent. Starting is split into
//! steps so `demo.rs` can report each; stopping is one call that always runs, whatever failed.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow};
use warren_dev_idp::{DevIdp, DevIdpOptions};

use super::admin::{Admin, poll};
use super::api::SampleApi;
use super::child::Child;
use super::layout::{self, AUDIENCE, Files, Layout, SITES};

/// How long a process gets to print what the demo waits for.
const START: Duration = Duration::from_secs(30);
/// How long the cluster gets to elect a leader, replicate a token or a binding.
const CONVERGE: Duration = Duration::from_secs(30);
/// A PoP drains in-flight requests for up to 10 s on SIGTERM; a little more before SIGKILL.
const POP_GRACE: Duration = Duration::from_secs(12);
const AGENT_GRACE: Duration = Duration::from_secs(5);

/// One running PoP and what it printed about itself.
pub(crate) struct Pop {
    pub(crate) index: usize,
    pub(crate) child: Child,
    pub(crate) admin: Admin,
    pub(crate) tunnel: SocketAddr,
    /// `None` if this build's `warren pop` does not open `listen.dns`.
    pub(crate) dns: Option<SocketAddr>,
}

impl Pop {
    pub(crate) fn id(&self) -> &'static str {
        SITES[self.index].id
    }
}

pub(crate) struct World {
    pub(crate) exe: PathBuf,
    pub(crate) files: Files,
    pub(crate) layout: Layout,
    pub(crate) admin_token: String,
    pub(crate) pops: Vec<Pop>,
    pub(crate) agent: Option<Child>,
    pub(crate) agent_servers: Vec<usize>,
    /// Children that failed to come up, kept to be reaped by [`World::stop`].
    stray: Vec<Child>,
    pub(crate) idp: Option<DevIdp>,
    pub(crate) api: Option<SampleApi>,
}

impl World {
    /// Makes the folder's files: layout, cluster secret, admin token, every `pop.yaml`. Files
    /// from an earlier run on the same `--data-dir` are kept, so its cluster comes back.
    pub(crate) fn prepare(exe: PathBuf, root: PathBuf) -> anyhow::Result<World> {
        let files = Files { root };
        for dir in [files.root.clone(), files.logs(), files.api_dir(), files.ca_dir()] {
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        for i in 0..SITES.len() {
            std::fs::create_dir_all(files.pop_dir(i))
                .with_context(|| format!("cannot create {}", files.pop_dir(i).display()))?;
        }
        let layout = Layout::load_or_pick(&files.root)?;
        if !files.secret().is_file() {
            layout::write_private(&files.secret(), &layout::random_hex(""))?;
        }
        if !files.admin_token().is_file() {
            layout::write_private(&files.admin_token(), &layout::random_hex("wra_"))?;
        }
        let admin_token = std::fs::read_to_string(files.admin_token())
            .with_context(|| format!("cannot read {}", files.admin_token().display()))?
            .trim()
            .to_owned();
        for i in 0..SITES.len() {
            std::fs::write(files.pop_yaml(i), layout::pop_yaml(i, &layout, &files))
                .with_context(|| format!("cannot write {}", files.pop_yaml(i).display()))?;
        }
        Ok(World {
            exe,
            files,
            layout,
            admin_token,
            pops: Vec::new(),
            agent: None,
            agent_servers: Vec::new(),
            stray: Vec::new(),
            idp: None,
            api: None,
        })
    }

    pub(crate) async fn start_api(&mut self) -> anyhow::Result<&SampleApi> {
        let api = SampleApi::start().await.context("cannot start the sample API on 127.0.0.1")?;
        Ok(self.api.insert(api))
    }

    /// The identity provider (RS256 keys, JWKS, token endpoint), and the endpoint's policy
    /// file naming it.
    pub(crate) async fn start_idp(&mut self) -> anyhow::Result<&DevIdp> {
        let opts = DevIdpOptions { default_audience: Some(AUDIENCE.to_owned()), ..Default::default() };
        let bind = SocketAddr::from(([127, 0, 0, 1], 0));
        let idp = DevIdp::start(bind, opts).await.context("cannot start the identity provider")?;
        std::fs::write(self.files.policy(), layout::policy_yaml(idp.issuer(), idp.jwks_url()))
            .with_context(|| format!("cannot write {}", self.files.policy().display()))?;
        Ok(self.idp.insert(idp))
    }

    /// Starts PoPs `indexes` at once and waits for their listeners.
    pub(crate) async fn start_pops(&mut self, indexes: &[usize]) -> anyhow::Result<()> {
        let mut started = Vec::new();
        for &i in indexes {
            let args = vec![OsString::from("pop"), OsString::from("--config"), self.files.pop_yaml(i).into()];
            let child = Child::spawn(&self.exe, SITES[i].id, args, &[], self.files.log(SITES[i].id))?;
            started.push((i, child));
        }
        let mut failure = None;
        for (index, child) in started {
            if failure.is_some() {
                self.stray.push(child);
                continue;
            }
            match Self::listeners(&child).await {
                Ok((admin_addr, tunnel, dns)) => {
                    let admin = Admin::new(admin_addr, &self.admin_token)?;
                    self.pops.push(Pop { index, child, admin, tunnel, dns });
                }
                Err(e) => {
                    failure = Some(e);
                    self.stray.push(child);
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// The admin, tunnel and DNS addresses a PoP printed (it must print https too).
    async fn listeners(child: &Child) -> anyhow::Result<(SocketAddr, SocketAddr, Option<SocketAddr>)> {
        let admin = child.listener("admin", START).await?;
        let tunnel = child.listener("tunnel", START).await?;
        child.listener("https", START).await?;
        // All listener lines are printed together, so the DNS line is there by now if the PoP
        // opens `listen.dns` at all; allow a moment for the pipe.
        let dns = child.listener("dns", Duration::from_millis(500)).await.ok();
        Ok((admin, tunnel, dns))
    }

    pub(crate) fn pop(&self, index: usize) -> anyhow::Result<&Pop> {
        self.pops.iter().find(|p| p.index == index).ok_or_else(|| anyhow!("{} is not running", SITES[index].id))
    }

    /// Waits until every PoP is ready and they agree on one leader of three voters.
    pub(crate) async fn converge(&self) -> anyhow::Result<String> {
        let found = poll(CONVERGE, || async {
            let mut leader = None;
            for pop in &self.pops {
                if !pop.admin.ready().await {
                    return None;
                }
                let (l, voters) = pop.admin.leader().await?;
                if voters != SITES.len() || leader.as_ref().is_some_and(|x| *x != l) {
                    return None;
                }
                leader = Some(l);
            }
            leader
        })
        .await;
        found.ok_or_else(|| {
            anyhow!(
                "the three PoPs did not agree on a leader within {}s (logs: {})",
                CONVERGE.as_secs(),
                self.files.logs().display()
            )
        })
    }

    /// An agent authtoken made through the first PoP, once every PoP has it.
    pub(crate) async fn create_token(&self) -> anyhow::Result<String> {
        let first = self.pop(0)?;
        let last_error = std::sync::Mutex::new(String::new());
        let created = poll(CONVERGE, || async {
            match first.admin.create_token("warren demo agent").await {
                Ok(t) => Some(t),
                Err(e) => {
                    *last_error.lock().unwrap_or_else(|p| p.into_inner()) = format!("{e:#}");
                    None
                }
            }
        })
        .await;
        let (id, secret) = created.ok_or_else(|| {
            anyhow!("cannot create an agent authtoken: {}", last_error.lock().unwrap_or_else(|p| p.into_inner()))
        })?;
        for pop in &self.pops {
            poll(CONVERGE, || async { pop.admin.knows_token(&id).await.then_some(()) })
                .await
                .ok_or_else(|| anyhow!("{} never received the agent's authtoken", pop.id()))?;
        }
        Ok(secret)
    }

    /// `warren http API --url https://api.ZONE` with tunnels to PoPs `servers` and the policy
    /// file; waits until the endpoint is online through each.
    pub(crate) async fn start_agent(&mut self, token: &str, servers: &[usize]) -> anyhow::Result<String> {
        let api = self.api.as_ref().ok_or_else(|| anyhow!("the sample API is not running"))?.addr();
        let url = format!("https://{}.{}", layout::API_NAME, layout::ZONE);
        let mut args: Vec<OsString> = ["http", &api.to_string(), "--url", &url].iter().map(OsString::from).collect();
        let mut tunnels = Vec::new();
        for &i in servers {
            let t = self.pop(i)?.tunnel;
            tunnels.push(t);
            args.extend([OsString::from("--server-addr"), OsString::from(t.to_string())]);
        }
        args.extend([OsString::from("--ca-file"), self.files.ca_pem().into()]);
        args.extend([OsString::from("--traffic-policy-file"), self.files.policy().into()]);
        // Its own config folder: a user's agent.yaml must not change what the demo runs.
        // The authtoken goes through the environment, not the command line `ps` shows.
        let envs = [
            ("XDG_CONFIG_HOME", OsString::from(self.files.api_dir().join("agent-config"))),
            ("WARREN_AUTHTOKEN", OsString::from(token)),
        ];
        let child = Child::spawn(&self.exe, "agent", args, &envs, self.files.log("agent"))?;
        let agent = self.agent.insert(child);
        self.agent_servers = servers.to_vec();
        for t in tunnels {
            let via = format!("(via {t})");
            agent
                .wait_line("`endpoint online` through every PoP", START, |l| {
                    l.contains("endpoint online") && l.contains(&via)
                })
                .await?;
        }
        Ok(url)
    }

    /// Waits until PoP `index` knows that the agent's PoPs hold `url`.
    pub(crate) async fn wait_binding(&self, index: usize, url: &str) -> anyhow::Result<()> {
        let mut want: Vec<String> = self.agent_servers.iter().map(|i| SITES[*i].id.to_owned()).collect();
        want.sort();
        let pop = self.pop(index)?;
        poll(CONVERGE, || async { (pop.admin.holders(url).await == want).then_some(()) })
            .await
            .ok_or_else(|| anyhow!("{} never learned that {url} is held by {want:?}", pop.id()))
    }

    /// The first child that has exited, if any (while the demo runs, nothing should).
    pub(crate) fn exited_child(&mut self) -> Option<(String, Option<i32>, PathBuf)> {
        let children = self.agent.iter_mut().chain(self.pops.iter_mut().map(|p| &mut p.child));
        for child in children {
            if let Some(code) = child.exited() {
                return Some((child.name.clone(), code, child.log().to_path_buf()));
            }
        }
        None
    }

    /// Stops everything: the agent first (it says goodbye to its PoPs), then the PoPs together
    /// (SIGTERM: they drain), then the in-process servers. Returns what was stopped and whether
    /// every process exited by itself.
    pub(crate) async fn stop(&mut self) -> (Vec<String>, bool) {
        let mut names = Vec::new();
        let mut clean = true;
        if let Some(mut agent) = self.agent.take() {
            agent.terminate();
            clean &= agent.wait_stopped(AGENT_GRACE).await;
            names.push(agent.name.clone());
        }
        let pops = std::mem::take(&mut self.pops);
        let mut children: Vec<Child> = pops.into_iter().rev().map(|p| p.child).collect();
        children.append(&mut self.stray);
        for child in &mut children {
            child.terminate();
        }
        for child in &mut children {
            clean &= child.wait_stopped(POP_GRACE).await;
            names.push(child.name.clone());
        }
        if let Some(idp) = self.idp.take() {
            idp.shutdown().await;
        }
        self.api = None;
        (names, clean)
    }
}
