//! From where clients were sent to what they got: population-weighted latency, load per PoP,
//! and the share of clients sent to a PoP that is down.

use super::latency::Matrix;
use super::policy::Split;
use super::world::{Region, World};

/// What one policy did for the clients of a world (or of one region of it).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// (round trip in ms, people) for every client that reached a live PoP, sorted by round trip.
    served: Vec<(f64, f64)>,
    /// People sent to a PoP that is down.
    dead: f64,
    /// Everyone: served + dead.
    total: f64,
    /// People per PoP (dead PoPs included), by PoP index.
    load: Vec<f64>,
}

/// The headline numbers of an [`Outcome`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Percentiles of the round trip over the clients served (people sent to a dead PoP are not
    /// in them: see `dead_share`).
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub mean: f64,
    /// Share of all clients sent to a PoP that is down.
    pub dead_share: f64,
}

impl Outcome {
    /// What `splits` (one per city) give when the PoPs with `down[i]` are really down; only the
    /// cities `include` accepts count.
    pub fn new(world: &World, matrix: &Matrix, splits: &[Split], down: &[bool], include: Option<Region>) -> Outcome {
        let mut served = Vec::new();
        let mut dead = 0.0;
        let mut load = vec![0.0; world.pops.len()];
        for (c, split) in splits.iter().enumerate() {
            let city = &world.cities[c];
            if include.is_some_and(|r| r != city.region) {
                continue;
            }
            let people = city.population as f64;
            for &(p, share) in split {
                load[p] += people * share;
                if down[p] {
                    dead += people * share;
                } else {
                    served.push((matrix.rtt[c][p], people * share));
                }
            }
        }
        served.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total = served.iter().map(|s| s.1).sum::<f64>() + dead;
        Outcome { served, dead, total, load }
    }

    /// The smallest round trip within which at least `q` (0..=1) of the served people are.
    pub fn quantile(&self, q: f64) -> f64 {
        weighted_quantile(&self.served, q)
    }

    pub fn summary(&self) -> Summary {
        let served: f64 = self.served.iter().map(|s| s.1).sum();
        let mean = if served > 0.0 { self.served.iter().map(|(ms, w)| ms * w).sum::<f64>() / served } else { f64::NAN };
        Summary {
            p50: self.quantile(0.50),
            p90: self.quantile(0.90),
            p99: self.quantile(0.99),
            mean,
            dead_share: if self.total > 0.0 { self.dead / self.total } else { 0.0 },
        }
    }

    /// Share of *all* clients (dead PoPs' included, who never get an answer) served within `ms`.
    pub fn cdf(&self, ms: f64) -> f64 {
        let within: f64 = self.served.iter().take_while(|s| s.0 <= ms).map(|s| s.1).sum();
        within / self.total
    }

    /// Share of all clients sent to each PoP, by PoP index.
    pub fn load_shares(&self) -> Vec<f64> {
        self.load.iter().map(|l| l / self.total).collect()
    }
}

/// The smallest value whose cumulative weight reaches `q` of the total; `samples` sorted by
/// value. NaN when there are none.
pub fn weighted_quantile(samples: &[(f64, f64)], q: f64) -> f64 {
    let total: f64 = samples.iter().map(|s| s.1).sum();
    let target = q.clamp(0.0, 1.0) * total;
    let mut cumulative = 0.0;
    for &(value, weight) in samples {
        cumulative += weight;
        // The tolerance keeps q = 1 from missing the last sample to rounding.
        if cumulative >= target - total * 1e-12 {
            return value;
        }
    }
    samples.last().map_or(f64::NAN, |s| s.0)
}

#[cfg(test)]
mod tests {
    use super::super::latency::LatencyModel;
    use super::super::policy::{Policy, assign};
    use super::*;

    #[test]
    fn weighted_quantiles() {
        let s = [(10.0, 1.0), (20.0, 1.0), (30.0, 2.0)];
        assert_eq!(weighted_quantile(&s, 0.0), 10.0);
        assert_eq!(weighted_quantile(&s, 0.25), 10.0);
        assert_eq!(weighted_quantile(&s, 0.26), 20.0);
        assert_eq!(weighted_quantile(&s, 0.5), 20.0);
        assert_eq!(weighted_quantile(&s, 0.51), 30.0);
        assert_eq!(weighted_quantile(&s, 1.0), 30.0);
        assert!(weighted_quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn round_robin_load_is_uniform_and_its_dead_share_is_the_dead_pops_share() {
        let world = World::full().unwrap();
        let matrix = Matrix::new(&world, LatencyModel { seed: 3 });
        let n = world.pops.len();
        let down: Vec<bool> = world.pops.iter().map(|p| p.region == Region::Europe).collect();
        let splits = assign(Policy::RoundRobin, &world, &matrix, &vec![false; n]);
        let outcome = Outcome::new(&world, &matrix, &splits, &down, None);
        for share in outcome.load_shares() {
            assert!((share - 1.0 / n as f64).abs() < 1e-12, "{share}");
        }
        let dead = outcome.summary().dead_share;
        assert!((dead - 10.0 / n as f64).abs() < 1e-12, "{dead}");
        // The CDF of all clients stops at the share that was served.
        assert!((outcome.cdf(1e9) - (1.0 - dead)).abs() < 1e-12);
    }

    #[test]
    fn a_region_filter_counts_only_its_cities() {
        let world = World::full().unwrap();
        let matrix = Matrix::new(&world, LatencyModel { seed: 3 });
        let splits = assign(Policy::Nearest, &world, &matrix, &vec![false; world.pops.len()]);
        let up = vec![false; world.pops.len()];
        let oceania = Outcome::new(&world, &matrix, &splits, &up, Some(Region::Oceania));
        let people: f64 =
            world.cities.iter().filter(|c| c.region == Region::Oceania).map(|c| c.population as f64).sum();
        assert_eq!(oceania.total, people);
        let loaded: Vec<&str> =
            oceania.load.iter().zip(&world.pops).filter(|(l, _)| **l > 0.0).map(|(_, p)| p.id).collect();
        assert_eq!(loaded, ["syd", "mel", "akl"]);
    }
}
