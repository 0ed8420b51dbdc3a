//! The driver: steps the simulation one millisecond at a time, applies the plan's faults and
//! undoes them, plays the clients (writes, requests, DNS questions, token checks) and records
//! what the network looked like at every change.
//!
//! The driver runs between turmoil's steps, outside every host. It reaches a running PoP's node
//! through a weak reference that it drops before the next step, so a crash always takes the whole
//! process (sockets included) down with the host's runtime.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use warren_state::{Command, Outcome, Rejection, new_token};

use super::history::{AuthSample, FinalState, NetState, Token, WriteKind, WriteOp};
use super::pop::{Cmd, Env};
use super::schedule::{Fault, Planned};
use super::{ChaosError, Timings, dns};

/// The turmoil host of every client's DNS queries.
const CLIENT_HOST: &str = "clients";
/// Milliseconds of simulated time per step.
const TICK_MS: u64 = 1;
/// A client write every this many milliseconds.
const WRITE_EVERY_MS: u64 = 1_000;
/// A client request every this many milliseconds.
const REQUEST_EVERY_MS: u64 = 400;
/// Every PoP's DNS answers are sampled this often.
const DNS_EVERY_MS: u64 = 1_000;
/// Every PoP's verdict on the tokens is sampled this often.
const AUTH_EVERY_MS: u64 = 500;
/// The last this many milliseconds send no new client operation, so that all of them end.
const DRAIN_MS: u64 = 20_000;
/// After the run, how long the PoPs get to agree on one log position before the states are read.
const CONVERGE_MS: u64 = 30_000;
/// Share of writes that revoke a token rather than create one, in percent.
const REVOKE_PERCENT: u64 = 35;
/// The agents' tokens are created from this moment of the warm-up (the cluster has formed)…
const AGENT_TOKENS_FROM_MS: u64 = 2_000;
/// …one attempt per agent this often, until one is acknowledged.
const AGENT_TOKENS_EVERY_MS: u64 = 1_000;
/// An agent token's write unanswered this long is sent again.
const AGENT_TOKEN_PATIENCE_MS: u64 = 15_000;

/// How to undo a fault.
#[derive(Debug, Clone)]
enum Undo {
    Restart(usize),
    Heal(Vec<(usize, usize)>),
    Lossless(usize, usize),
    Fast(usize, usize),
}

pub(crate) struct Driver<'a> {
    sim: turmoil::Sim<'a>,
    env: Arc<Env>,
    timings: Timings,
    rng: ChaCha8Rng,
    plan: Vec<Planned>,
    /// Undo actions, by due time then order of scheduling.
    undo: BTreeMap<(u64, u64), Undo>,
    seq: u64,
    net: NetState,
    cuts: BTreeMap<(usize, usize), u32>,
    lossy: BTreeMap<(usize, usize), u32>,
    slow: BTreeMap<(usize, usize), u32>,
    ips: Vec<IpAddr>,
    next_op: u64,
    /// Last recorded verdict per (PoP, token), to trace changes only.
    auth_seen: BTreeMap<(usize, usize), bool>,
    /// Tokens whose creation was acknowledged and that no write revokes yet.
    revocable: BTreeSet<usize>,
    /// Per agent: its token's number in the history, and its last creating write (op).
    agent_tokens: Vec<Option<(usize, u64)>>,
    pub(crate) faults_applied: Vec<String>,
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl<'a> Driver<'a> {
    pub(crate) fn new(env: Arc<Env>, timings: Timings, plan: Vec<Planned>, seed: u64) -> Driver<'a> {
        let n = env.world.pops.len();
        let total = timings.total_ms() + CONVERGE_MS + 10_000;
        let mut sim = turmoil::Builder::new()
            .epoch(super::epoch())
            .simulation_duration(Duration::from_millis(total))
            .tick_duration(Duration::from_millis(TICK_MS))
            .min_message_latency(Duration::from_millis(1))
            .max_message_latency(Duration::from_millis(1))
            .udp_capacity(8192)
            .rng_seed(seed)
            .build();
        for (i, pop) in env.world.pops.iter().enumerate() {
            let env = env.clone();
            sim.host(pop.id.as_str(), move || super::pop::run(env.clone(), i));
        }
        let ips = env.world.pops.iter().map(|p| sim.lookup(p.id.as_str())).collect();
        // After the PoPs, so that their addresses stay as they were.
        let clients = env.clone();
        sim.host(CLIENT_HOST, move || dns::clients(clients.clone()));
        for (k, e) in env.world.endpoints.iter().enumerate() {
            let agents = env.clone();
            sim.host(e.agent.as_str(), move || super::agent::run(agents.clone(), k));
            for (pop, ms) in e.agent_one_way_ms.iter().enumerate() {
                sim.set_link_latency(e.agent.as_str(), env.world.pops[pop].id.as_str(), Duration::from_millis(*ms));
            }
        }
        let agents = env.world.endpoints.len();
        let driver = Driver {
            sim,
            env,
            timings,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6472_6976_6572),
            plan,
            undo: BTreeMap::new(),
            seq: 0,
            net: NetState { at_ms: 0, up: vec![true; n], cut: BTreeSet::new() },
            cuts: BTreeMap::new(),
            lossy: BTreeMap::new(),
            slow: BTreeMap::new(),
            ips,
            next_op: 0,
            auth_seen: BTreeMap::new(),
            revocable: BTreeSet::new(),
            agent_tokens: vec![None; agents],
            faults_applied: Vec::new(),
        };
        for a in 0..n {
            for b in a + 1..n {
                driver.set_latency(a, b, 1);
            }
        }
        let net = driver.net.clone();
        driver.env.history(|h| h.net.push(net));
        driver
    }

    fn name(&self, pop: usize) -> &str {
        &self.env.world.pops[pop].id
    }

    fn now(&self) -> u64 {
        self.sim.elapsed().as_millis() as u64
    }

    fn trace(&self, what: impl std::fmt::Display) {
        let now = self.now();
        self.env.history(|h| h.trace(now, "driver", what));
    }

    fn below(&mut self, n: usize) -> usize {
        (self.rng.next_u64() % n.max(1) as u64) as usize
    }

    /// The link's one-way delay: its base times `factor`.
    fn set_latency(&self, a: usize, b: usize, factor: u64) {
        self.set_latency_plus(a, b, factor, 0);
    }

    /// The link's one-way delay: its base times `factor`, plus `extra_ms`. Fixed, without
    /// jitter: turmoil draws each message's jitter from one stream shared by all links, so two
    /// sends of one tick in another order (which tokio allows, see `history.rs`) would trade
    /// their delays and the run would drift apart from its replay.
    fn set_latency_plus(&self, a: usize, b: usize, factor: u64, extra_ms: u64) {
        let delay = self.env.world.one_way_ms[a][b] * factor + extra_ms;
        let (na, nb) = (self.name(a).to_owned(), self.name(b).to_owned());
        self.sim.set_link_latency(na.as_str(), nb.as_str(), Duration::from_millis(delay));
    }

    fn net_changed(&mut self) {
        self.net.at_ms = self.now();
        let net = self.net.clone();
        self.env.history(|h| h.net.push(net));
    }

    fn later(&mut self, at_ms: u64, undo: Undo) {
        self.seq += 1;
        self.undo.insert((at_ms, self.seq), undo);
    }

    // --- faults ---

    fn crash(&mut self, pop: usize) -> bool {
        if !self.net.up[pop] {
            return false;
        }
        self.env.forget(pop);
        self.env.disks[pop].crash();
        let name = self.name(pop).to_owned();
        self.sim.crash(name.as_str());
        self.net.up[pop] = false;
        self.net_changed();
        self.trace(format_args!("crash {name}"));
        true
    }

    fn restart(&mut self, pop: usize) {
        if self.net.up[pop] {
            return;
        }
        let name = self.name(pop).to_owned();
        self.sim.bounce(name.as_str());
        self.net.up[pop] = true;
        self.net_changed();
        self.trace(format_args!("restart {name}"));
    }

    /// Cuts `group` off from every other PoP; returns the links cut.
    fn cut_off(&mut self, group: &[usize]) -> Vec<(usize, usize)> {
        let n = self.net.up.len();
        let links: Vec<(usize, usize)> =
            group.iter().flat_map(|&a| (0..n).filter(move |b| !group.contains(b)).map(move |b| pair(a, b))).collect();
        for &(a, b) in &links {
            let count = self.cuts.entry((a, b)).or_insert(0);
            *count += 1;
            if *count == 1 {
                let (na, nb) = (self.name(a).to_owned(), self.name(b).to_owned());
                self.sim.partition(na.as_str(), nb.as_str());
                self.net.cut.insert((a, b));
            }
        }
        self.net_changed();
        links
    }

    fn heal(&mut self, links: &[(usize, usize)]) {
        for &(a, b) in links {
            let Some(count) = self.cuts.get_mut(&(a, b)) else { continue };
            *count -= 1;
            if *count == 0 {
                self.cuts.remove(&(a, b));
                let (na, nb) = (self.name(a).to_owned(), self.name(b).to_owned());
                self.sim.repair(na.as_str(), nb.as_str());
                self.net.cut.remove(&(a, b));
            }
        }
        self.net_changed();
    }

    /// The PoP that leads in the highest term any running PoP knows of.
    fn leader(&self) -> Option<usize> {
        let mut best: Option<(u64, usize)> = None;
        for pop in 0..self.net.up.len() {
            let Some(node) = self.env.node(pop) else { continue };
            let m = node.raft_metrics().borrow().clone();
            if m.state == openraft::ServerState::Leader && best.is_none_or(|(term, _)| m.current_term > term) {
                best = Some((m.current_term, pop));
            }
        }
        best.map(|(_, pop)| pop)
    }

    fn apply(&mut self, planned: Planned) {
        let until = planned.at_ms + planned.for_ms;
        let shown = planned.fault.describe(|pop| self.name(pop).to_owned());
        self.trace(format_args!("fault: {shown} for {} ms", planned.for_ms));
        match planned.fault {
            Fault::Crash { pop } => {
                if self.crash(pop) {
                    self.later(until, Undo::Restart(pop));
                }
            }
            Fault::CrashLeader => match self.leader() {
                Some(pop) => {
                    if self.crash(pop) {
                        self.later(until, Undo::Restart(pop));
                    }
                }
                None => self.trace("no leader to crash"),
            },
            Fault::Partition { minority } => {
                let links = self.cut_off(&minority);
                self.later(until, Undo::Heal(links));
            }
            Fault::IsolateLeader { with } => {
                let Some(leader) = self.leader() else { return self.trace("no leader to cut off") };
                let mut group = vec![leader];
                while group.len() < 1 + with {
                    let pick = self.below(self.net.up.len());
                    if !group.contains(&pick) {
                        group.push(pick);
                    }
                }
                group.sort_unstable();
                let names: Vec<&str> = group.iter().map(|p| self.name(*p)).collect();
                self.trace(format_args!("leader {} cut off with {names:?}", self.name(leader)));
                let links = self.cut_off(&group);
                self.later(until, Undo::Heal(links));
            }
            Fault::Lossy { a, b, percent } => {
                *self.lossy.entry((a, b)).or_insert(0) += 1;
                self.env.faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner).set_loss(
                    self.ips[a],
                    self.ips[b],
                    f64::from(percent) / 100.0,
                );
                self.later(until, Undo::Lossless(a, b));
            }
            Fault::Slow { a, b, extra_ms } => {
                *self.slow.entry((a, b)).or_insert(0) += 1;
                self.set_latency_plus(a, b, 4, extra_ms);
                self.later(until, Undo::Fast(a, b));
            }
        }
        self.faults_applied.push(shown);
    }

    fn undo(&mut self, undo: Undo) {
        match undo {
            Undo::Restart(pop) => self.restart(pop),
            Undo::Heal(links) => {
                self.heal(&links);
                self.trace(format_args!("healed {} links", links.len()));
            }
            Undo::Lossless(a, b) => {
                if decrement(&mut self.lossy, (a, b)) {
                    self.env.faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner).set_loss(
                        self.ips[a],
                        self.ips[b],
                        0.0,
                    );
                    self.trace(format_args!("{}–{} lossless again", self.name(a), self.name(b)));
                }
            }
            Undo::Fast(a, b) => {
                if decrement(&mut self.slow, (a, b)) {
                    self.set_latency(a, b, 1);
                    self.trace(format_args!("{}–{} fast again", self.name(a), self.name(b)));
                }
            }
        }
    }

    /// The recovery phase starts: every fault is undone at once.
    fn heal_all(&mut self) {
        self.undo.clear();
        let links: Vec<(usize, usize)> = self.cuts.keys().copied().collect();
        for (a, b) in links {
            let (na, nb) = (self.name(a).to_owned(), self.name(b).to_owned());
            self.sim.repair(na.as_str(), nb.as_str());
        }
        self.cuts.clear();
        self.net.cut.clear();
        self.env.faults.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        self.lossy.clear();
        for (a, b) in std::mem::take(&mut self.slow).into_keys() {
            self.set_latency(a, b, 1);
        }
        self.net_changed();
        for pop in 0..self.net.up.len() {
            self.restart(pop);
        }
        self.trace("recovery: every fault undone");
    }

    // --- clients ---

    fn up_pops(&self) -> Vec<usize> {
        (0..self.net.up.len()).filter(|p| self.net.up[*p] && self.env.node(*p).is_some()).collect()
    }

    fn client_write(&mut self) {
        let up = self.up_pops();
        if up.is_empty() {
            return;
        }
        let pop = up[self.below(up.len())];
        self.next_op += 1;
        let op = self.next_op;
        let now = self.now();
        let revoke = !self.revocable.is_empty() && (self.rng.next_u64() % 100) < REVOKE_PERCENT;
        let (kind, cmd) = if revoke {
            let pick = self.below(self.revocable.len());
            let token = *self.revocable.iter().nth(pick).unwrap_or(&0);
            self.revocable.remove(&token);
            let id = self.env.history(|h| h.tokens[token].id.clone());
            (WriteKind::Revoke(token), Command::RevokeToken { id })
        } else {
            let mut random = [0u8; 40];
            for chunk in random.chunks_mut(8) {
                chunk.copy_from_slice(&self.rng.next_u64().to_le_bytes()[..chunk.len()]);
            }
            let (id, secret) = new_token(random);
            let cmd = Command::CreateToken {
                id: id.clone(),
                secret_hash: secret.hash(),
                description: format!("chaos token of op {op}"),
                created_at_ms: super::epoch_ms() + now,
            };
            let n = self.env.history(|h| {
                h.tokens.push(Token { id, secret });
                h.tokens.len() - 1
            });
            (WriteKind::Create(n), cmd)
        };
        let name = self.name(pop).to_owned();
        self.env.history(|h| {
            h.writes.insert(op, WriteOp { issued_ms: now, pop, kind, done: None });
            let what = h.describe(kind);
            h.trace(now, "client", format_args!("write #{op}: {what} via {name}"));
        });
        self.env.send(pop, Cmd::Write { op, cmd });
    }

    /// Creates each agent's token through the cluster (until a creation is acknowledged): a
    /// write like a client's, recorded the same way (so the invariants cover it), never revoked.
    fn agent_token_writes(&mut self) {
        for k in 0..self.agent_tokens.len() {
            if !self.agent_token_wanted(k) {
                continue;
            }
            let up = self.up_pops();
            if up.is_empty() {
                return;
            }
            let pop = up[self.below(up.len())];
            self.next_op += 1;
            let op = self.next_op;
            let now = self.now();
            let (id, secret) = self.env.agent_tokens[k].clone();
            let host = self.env.world.endpoints[k].agent.clone();
            let cmd = Command::CreateToken {
                id: id.clone(),
                secret_hash: secret.hash(),
                description: format!("chaos token of {host}"),
                created_at_ms: super::epoch_ms() + now,
            };
            let n = match self.agent_tokens[k] {
                Some((n, _)) => n,
                None => self.env.history(|h| {
                    h.tokens.push(Token { id, secret });
                    h.tokens.len() - 1
                }),
            };
            self.agent_tokens[k] = Some((n, op));
            let kind = WriteKind::Create(n);
            let name = self.name(pop).to_owned();
            self.env.history(|h| {
                h.writes.insert(op, WriteOp { issued_ms: now, pop, kind, done: None });
                h.trace(
                    now,
                    "client",
                    format_args!("write #{op}: {} via {name} (the token of {host})", h.describe(kind)),
                );
            });
            self.env.send(pop, Cmd::Write { op, cmd });
        }
    }

    /// Whether agent `k`'s token needs a (new) creating write: there was none yet, or the last
    /// one failed, or it went unanswered for `AGENT_TOKEN_PATIENCE_MS`.
    fn agent_token_wanted(&self, k: usize) -> bool {
        let Some((_, op)) = self.agent_tokens[k] else { return true };
        let now = self.now();
        self.env.history(|h| {
            let Some(w) = h.writes.get(&op) else { return true };
            match &w.done {
                Some((_, Ok(Outcome::TokenCreated { .. } | Outcome::Rejected(Rejection::TokenIdExists { .. })))) => {
                    false
                }
                Some(_) => true,
                None => w.issued_ms + AGENT_TOKEN_PATIENCE_MS <= now,
            }
        })
    }

    /// Tokens whose creation came back acknowledged become revocable (agents' tokens never).
    fn note_acks(&mut self) {
        let acked: Vec<usize> = self.env.history(|h| {
            h.writes
                .values()
                .filter_map(|w| match (w.kind, &w.done) {
                    (WriteKind::Create(n), Some((_, Ok(Outcome::TokenCreated { .. })))) => Some(n),
                    _ => None,
                })
                .collect()
        });
        let revoking: BTreeSet<usize> = self.env.history(|h| {
            h.writes
                .values()
                .filter_map(|w| match w.kind {
                    WriteKind::Revoke(n) => Some(n),
                    WriteKind::Create(_) => None,
                })
                .collect()
        });
        let agents: BTreeSet<usize> = self.agent_tokens.iter().flatten().map(|(n, _)| *n).collect();
        self.revocable.extend(acked.into_iter().filter(|n| !revoking.contains(n) && !agents.contains(n)));
    }

    /// A client request: the client host asks `asked` (a running PoP) for the endpoint's
    /// address over DNS, then sends the request to the PoP answered (`dns.rs`).
    fn client_request(&mut self) {
        let up = self.up_pops();
        if up.is_empty() {
            return;
        }
        let asked = up[self.below(up.len())];
        let client = self.below(self.env.world.clients.len());
        let endpoint = self.below(self.env.world.endpoints.len());
        self.next_op += 1;
        let op = self.next_op;
        if !self.env.ask(dns::Ask::Request { op, asked, client, endpoint }) {
            self.trace(format_args!("request #{op}: the client host does not run"));
        }
    }

    /// Every running PoP is asked, over DNS, for the apex and every endpoint from every client
    /// city; the client host records what it handed out (`dns.rs`).
    fn sample_dns(&mut self) {
        for asked in self.up_pops() {
            self.env.ask(dns::Ask::Sample { asked });
        }
    }

    fn sample_auth(&mut self) {
        let now = self.now();
        let tokens: Vec<(usize, String)> =
            self.env.history(|h| h.tokens.iter().enumerate().map(|(i, t)| (i, t.secret.expose().to_owned())).collect());
        for pop in self.up_pops() {
            let Some(node) = self.env.node(pop) else { continue };
            let verdicts: Vec<(usize, bool)> =
                node.shared().read(|s| tokens.iter().map(|(i, secret)| (*i, s.authenticate(secret).is_ok())).collect());
            drop(node);
            for (token, accepted) in verdicts {
                let changed = self.auth_seen.insert((pop, token), accepted) != Some(accepted);
                self.env.history(|h| {
                    if changed {
                        let id = h.tokens[token].id.to_string();
                        let name = h.names[pop].clone();
                        h.trace(
                            now,
                            &name,
                            format_args!("token {id} {}", if accepted { "accepted" } else { "refused" }),
                        );
                    }
                    h.auth.push(AuthSample { at_ms: now, pop, token, accepted });
                });
            }
        }
    }

    // --- the run ---

    fn step(&mut self) -> Result<(), ChaosError> {
        self.sim.step().map(|_| ()).map_err(|e| ChaosError::Sim(format!("the simulation stopped: {e}")))
    }

    pub(crate) fn run(&mut self) -> Result<(), ChaosError> {
        let t = self.timings;
        let (healed_at, end) = (t.warmup_ms + t.chaos_ms, t.total_ms());
        self.env.history(|h| h.phases = super::history::Phases { healed_at });
        let mut plan = std::mem::take(&mut self.plan).into_iter().peekable();
        let mut healed = false;
        loop {
            let now = self.now();
            if now >= end {
                break;
            }
            while let Some(p) = plan.next_if(|p| p.at_ms <= now) {
                self.apply(p);
            }
            while let Some(entry) = self.undo.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let undo = entry.remove();
                self.undo(undo);
            }
            if !healed && now >= healed_at {
                healed = true;
                self.heal_all();
            }
            if now >= AGENT_TOKENS_FROM_MS && now % AGENT_TOKENS_EVERY_MS == AGENT_TOKENS_EVERY_MS / 4 {
                self.agent_token_writes();
            }
            let clients = now >= t.warmup_ms / 2 && now + DRAIN_MS < end;
            if clients && now.is_multiple_of(WRITE_EVERY_MS) {
                self.note_acks();
                self.client_write();
            }
            if clients && now.is_multiple_of(REQUEST_EVERY_MS) {
                self.client_request();
            }
            if now % DNS_EVERY_MS == DNS_EVERY_MS / 2 {
                self.sample_dns();
            }
            if now % AUTH_EVERY_MS == AUTH_EVERY_MS / 2 {
                self.sample_auth();
            }
            self.step()?;
        }
        self.converge()
    }

    /// Lets the PoPs agree on one log position (or gives up after `CONVERGE_MS`), then records
    /// every replica.
    fn converge(&mut self) -> Result<(), ChaosError> {
        let until = self.now() + CONVERGE_MS;
        loop {
            let applied: BTreeSet<Option<u64>> =
                (0..self.net.up.len()).map(|p| self.env.node(p).and_then(|n| n.shared().last_applied())).collect();
            if (applied.len() == 1 && !applied.contains(&None)) || self.now() >= until {
                self.trace(format_args!("final log positions {applied:?}"));
                break;
            }
            self.step()?;
        }
        let finals: Vec<FinalState> = (0..self.net.up.len())
            .map(|pop| {
                let node = self.env.node(pop);
                FinalState {
                    pop,
                    last_applied: node.as_ref().and_then(|n| n.shared().last_applied()),
                    state: node.map(|n| n.shared().read(Clone::clone)),
                }
            })
            .collect();
        self.env.history(|h| h.finals = finals);
        Ok(())
    }
}

/// Decrements a fault count; true when it reached zero (the fault is gone).
fn decrement(counts: &mut BTreeMap<(usize, usize), u32>, key: (usize, usize)) -> bool {
    match counts.get_mut(&key) {
        Some(c) if *c > 1 => {
            *c -= 1;
            false
        }
        Some(_) => {
            counts.remove(&key);
            true
        }
        None => false,
    }
}
