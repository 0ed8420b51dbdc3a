//! Ranking PoPs for one client.
//!
//! The rules, in order (`docs/dns.md` has the operator's version):
//!
//! 1. **Family.** Only PoPs with an address of the asked family take part: a PoP without an IPv6
//!    address is never an `AAAA` answer. No such PoP at all: no answer (the DNS server says
//!    NODATA).
//! 2. **Tier.** PoPs are grouped, best first: healthy and not draining; healthy but draining;
//!    failing health checks and not draining; failing and draining. Within each of these,
//!    weight-0 PoPs come after the others (a backup that only gets clients when nothing else in
//!    its tier can). Only the best non-empty group is ranked. So a draining PoP gets no new
//!    clients while any healthy PoP is left, and when every PoP is down the answer is the
//!    nearest one anyway (a PoP that fails our checks may still work for the client, and an
//!    answer beats none). A healthy draining PoP is preferred to a PoP failing its checks: it
//!    still serves, it just wants to be left.
//! 3. **Distance.** Great-circle distance from the client, or from the answering PoP when the
//!    client's location is unknown. The weight biases it: `effective = distance × 100 / weight`
//!    (weight 1..=1000, default 100; weight 0 means "backup", see 2, and ranks by plain
//!    distance). Weight 200 makes a PoP look half as far away, weight 50 twice as far; a client
//!    at a PoP's door (distance ≈ 0) still gets that PoP whatever the weights.
//! 4. **Tunnels** (when the endpoint's tunnel locations are given). Moving a client to a PoP
//!    that holds the endpoint's tunnel saves the PoP-to-PoP forwarding hop on every request
//!    but lengthens the client's own round trips (connection set-up included). So the move is
//!    only considered within a window: a PoP qualifies when its effective distance is at most
//!    `max(best + detour_km, best × (1 + detour_ratio))`, where `best` is the nearest PoP's.
//!    Among the qualifying PoPs the one with the shortest path `effective distance + distance
//!    from that PoP to the nearest PoP holding a tunnel` wins (0 for a PoP holding one). The
//!    nearest PoP is in the window, so it keeps the client unless another is strictly better.
//! 5. **Ties** go to the higher weight, then to the smaller id: the same input gives the same
//!    answer on every PoP.

use std::cmp::Ordering;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::haversine_km;

/// A PoP as GSLB sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PopCandidate {
    pub id: String,
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
    /// What `A` answers hand out for this PoP; `None`: never an `A` answer.
    pub ipv4: Option<Ipv4Addr>,
    /// What `AAAA` answers hand out for this PoP; `None`: never an `AAAA` answer.
    pub ipv6: Option<Ipv6Addr>,
    /// Passing the cluster's health checks.
    pub healthy: bool,
    /// Being drained: gets no new clients while a PoP that is not draining is healthy.
    pub draining: bool,
    /// 0..=1000, default [`PopCandidate::DEFAULT_WEIGHT`]; larger values are taken as 1000.
    pub weight: u32,
}

impl PopCandidate {
    pub const DEFAULT_WEIGHT: u32 = 100;
    pub const MAX_WEIGHT: u32 = 1000;

    /// A healthy, not draining PoP of default weight without addresses.
    pub fn new(id: impl Into<String>, lat: f64, lon: f64) -> PopCandidate {
        PopCandidate {
            id: id.into(),
            lat,
            lon,
            ipv4: None,
            ipv6: None,
            healthy: true,
            draining: false,
            weight: Self::DEFAULT_WEIGHT,
        }
    }

    fn has(&self, family: Family) -> bool {
        match family {
            Family::V4 => self.ipv4.is_some(),
            Family::V6 => self.ipv6.is_some(),
        }
    }

    /// Lower is better; see rule 2 of the module doc.
    fn tier(&self) -> u8 {
        (u8::from(!self.healthy) << 2) | (u8::from(self.draining) << 1) | u8::from(self.weight == 0)
    }

    fn weight(&self) -> u32 {
        self.weight.min(Self::MAX_WEIGHT)
    }

    fn distance_km(&self, to: (f64, f64)) -> f64 {
        haversine_km(self.lat, self.lon, to.0, to.1)
    }
}

/// Address family of the asked record type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `A`
    V4,
    /// `AAAA`
    V6,
}

/// Tuning of the tunnel-aware preference (rule 4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// A PoP up to this many (effective) kilometres farther than the nearest may be chosen for
    /// holding, or being near, the endpoint's tunnel. Default 500 km: a few milliseconds of
    /// extra round trip in fibre.
    pub tunnel_detour_km: f64,
    /// … or up to this fraction farther, whichever allows more. Default 0.2 (20 %): for
    /// far-away clients a detour of a fifth costs little next to the distance they travel
    /// anyway.
    pub tunnel_detour_ratio: f64,
}

impl Default for Params {
    fn default() -> Params {
        Params { tunnel_detour_km: 500.0, tunnel_detour_ratio: 0.2 }
    }
}

/// One client's question.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    /// The client's (latitude, longitude) in degrees, if known.
    pub client: Option<(f64, f64)>,
    /// Id of the PoP answering: its location stands in for an unknown client's.
    pub self_id: &'a str,
    /// Ids of the PoPs holding a live tunnel for the asked endpoint; `None` or empty: no
    /// preference (the zone apex, or an endpoint whose tunnels are unknown).
    pub tunnel_pops: Option<&'a [String]>,
}

/// Why the chosen PoP won.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The nearest (by effective distance) PoP that is healthy and not draining.
    Nearest,
    /// Within the detour window, and holding (or nearer to) the endpoint's tunnel than the
    /// nearest PoP.
    Tunnel,
    /// No PoP of the family is healthy, not draining and of weight > 0: the best of a lower
    /// tier.
    Fallback,
}

/// A decision for one address family.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Choice<'a> {
    pub pop: &'a PopCandidate,
    /// Great-circle distance from the client (or the answering PoP) to the chosen PoP; 0 when
    /// neither location is known.
    pub distance_km: f64,
    /// Whether another client location could have given another answer: false when only one
    /// PoP was in the running. DNS uses it for the ECS scope (0 when false).
    pub depends_on_location: bool,
    pub reason: Reason,
}

/// Decisions for `A` and `AAAA`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Answer<'a> {
    pub v4: Option<Choice<'a>>,
    pub v6: Option<Choice<'a>>,
}

/// Decisions for both families, see [`choose`].
pub fn answer<'a>(pops: &'a [PopCandidate], req: &Request<'_>, params: &Params) -> Answer<'a> {
    Answer { v4: choose(pops, req, Family::V4, params), v6: choose(pops, req, Family::V6, params) }
}

/// A ranked PoP: its effective distance, raw distance and the PoP.
struct Ranked<'a> {
    effective: f64,
    distance: f64,
    pop: &'a PopCandidate,
}

/// Rule 5's order after the distance: higher weight, then smaller id.
fn tie_break(a: &PopCandidate, b: &PopCandidate) -> Ordering {
    b.weight().cmp(&a.weight()).then_with(|| a.id.cmp(&b.id))
}

/// The PoP to answer with for `family`, following the rules of the module doc; `None` when no
/// PoP has an address of that family.
pub fn choose<'a>(pops: &'a [PopCandidate], req: &Request<'_>, family: Family, params: &Params) -> Option<Choice<'a>> {
    let best_tier = pops.iter().filter(|p| p.has(family)).map(PopCandidate::tier).min()?;
    let origin = req.client.or_else(|| pops.iter().find(|p| p.id == req.self_id).map(|p| (p.lat, p.lon)));
    let ranked: Vec<Ranked<'a>> = pops
        .iter()
        .filter(|p| p.has(family) && p.tier() == best_tier)
        .map(|pop| {
            let distance = origin.map_or(0.0, |o| pop.distance_km(o));
            let effective = match pop.weight() {
                0 => distance,
                w => distance * f64::from(PopCandidate::DEFAULT_WEIGHT) / f64::from(w),
            };
            Ranked { effective, distance, pop }
        })
        .collect();
    let nearest =
        ranked.iter().min_by(|a, b| a.effective.total_cmp(&b.effective).then_with(|| tie_break(a.pop, b.pop)))?;
    let mut chosen = nearest;
    let mut reason = if best_tier == 0 { Reason::Nearest } else { Reason::Fallback };

    if let Some(tunnels) = req.tunnel_pops.filter(|t| !t.is_empty()) {
        let holders: Vec<&PopCandidate> = pops.iter().filter(|p| tunnels.contains(&p.id)).collect();
        if !holders.is_empty() && !tunnels.contains(&nearest.pop.id) {
            let limit = (nearest.effective + params.tunnel_detour_km)
                .max(nearest.effective * (1.0 + params.tunnel_detour_ratio));
            let to_tunnel = |p: &PopCandidate| {
                holders.iter().map(|h| haversine_km(p.lat, p.lon, h.lat, h.lon)).fold(f64::INFINITY, f64::min)
            };
            let best =
                ranked.iter().filter(|r| r.effective <= limit).map(|r| (r.effective + to_tunnel(r.pop), r)).min_by(
                    |(pa, a), (pb, b)| {
                        pa.total_cmp(pb)
                            .then_with(|| a.effective.total_cmp(&b.effective))
                            .then_with(|| tie_break(a.pop, b.pop))
                    },
                );
            if let Some((_, r)) = best
                && r.pop.id != nearest.pop.id
            {
                chosen = r;
                reason = Reason::Tunnel;
            }
        }
    }
    Some(Choice { pop: chosen.pop, distance_km: chosen.distance, depends_on_location: ranked.len() > 1, reason })
}

#[cfg(test)]
mod tests;
