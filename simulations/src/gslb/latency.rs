//! The latency model: round trips over route-inflated fibre, plus the last mile.
//!
//! ```text
//! rtt_ms = 2 × great_circle_km × inflation / 200 km/ms + 10 ms
//! ```
//!
//! Light in fibre covers about 200 km per millisecond. Real paths are longer than the great
//! circle (cables follow coasts and roads, traffic goes through exchange points, and the two
//! directions may differ), so every (client city, PoP) pair gets its own *route inflation*,
//! drawn once, uniformly in 1.2–2.5: measurements of Internet paths put the usual inflation over
//! great-circle fibre between about 1.5 and 2. The last mile (access network, Wi-Fi, the
//! client's stack) adds a constant 10 ms round trip. Queueing, loss and jitter are not modelled.
//!
//! Every random draw of the model is a function of the seed, a domain (`"route"`, `"bgp"`) and
//! the *unordered* pair of names involved ([`pair_draw`]): the same for (a, b) and (b, a), and
//! independent of the order in which pairs are looked at, so adding a city or a PoP does not
//! reshuffle the others.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use warren_gslb::haversine_km;

use super::policy::BGP_NOISE;
use super::world::World;

/// Speed of light in fibre (refractive index ≈ 1.5).
pub const FIBRE_KM_PER_MS: f64 = 200.0;
/// Round trip added by the client's access network, whatever the distance.
pub const LAST_MILE_MS: f64 = 10.0;
/// Range of the per-pair route inflation over the great circle.
pub const ROUTE_INFLATION: (f64, f64) = (1.2, 2.5);

/// A named point: a city or a PoP.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub name: &'a str,
    pub lat: f64,
    pub lon: f64,
}

/// Round trip in milliseconds over `distance_km` of great circle at `inflation`.
pub fn rtt_ms(distance_km: f64, inflation: f64) -> f64 {
    2.0 * distance_km * inflation / FIBRE_KM_PER_MS + LAST_MILE_MS
}

/// A uniform draw in `lo..hi` for the unordered pair `{a, b}` in `domain`, from the seed.
pub fn pair_draw(seed: u64, domain: &str, a: &str, b: &str, (lo, hi): (f64, f64)) -> f64 {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    // FNV-1a: a hash whose value is fixed by its definition (std's hashers promise no
    // stability across Rust releases). Zero bytes separate the parts.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in domain.bytes().chain([0]).chain(first.bytes()).chain([0]).chain(second.bytes()) {
        h = (h ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(h);
    lo + (hi - lo) * unit(rng.next_u64())
}

/// A u64 to a float in [0, 1): its top 53 bits (rand's algorithm, done here so the values
/// depend only on the ChaCha stream, which rand_chacha keeps stable, and not on rand's version).
fn unit(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The model for one seed.
#[derive(Debug, Clone, Copy)]
pub struct LatencyModel {
    pub seed: u64,
}

impl LatencyModel {
    pub fn inflation(&self, a: Place<'_>, b: Place<'_>) -> f64 {
        pair_draw(self.seed, "route", a.name, b.name, ROUTE_INFLATION)
    }

    pub fn rtt_ms(&self, a: Place<'_>, b: Place<'_>) -> f64 {
        rtt_ms(haversine_km(a.lat, a.lon, b.lat, b.lon), self.inflation(a, b))
    }
}

/// Everything the policies and the statistics need per (city, PoP), computed once.
#[derive(Debug, Clone)]
pub struct Matrix {
    /// `[city][pop]` great-circle kilometres.
    pub km: Vec<Vec<f64>>,
    /// `[city][pop]` round trip in milliseconds.
    pub rtt: Vec<Vec<f64>>,
    /// `[city][pop]` BGP's preference factor for the route (`policy::BGP_NOISE`).
    pub bgp_noise: Vec<Vec<f64>>,
}

impl Matrix {
    pub fn new(world: &World, model: LatencyModel) -> Matrix {
        let mut km = Vec::with_capacity(world.cities.len());
        let mut rtt = Vec::with_capacity(world.cities.len());
        let mut bgp_noise = Vec::with_capacity(world.cities.len());
        for c in &world.cities {
            let city = Place { name: &c.name, lat: c.lat, lon: c.lon };
            let places = world.pops.iter().map(|p| Place { name: p.id, lat: p.lat, lon: p.lon });
            km.push(world.pops.iter().map(|p| haversine_km(c.lat, c.lon, p.lat, p.lon)).collect());
            rtt.push(places.map(|pop| model.rtt_ms(city, pop)).collect());
            bgp_noise.push(world.pops.iter().map(|p| pair_draw(model.seed, "bgp", &c.name, p.id, BGP_NOISE)).collect());
        }
        Matrix { km, rtt, bgp_noise }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARIS: Place<'static> = Place { name: "Paris", lat: 48.86, lon: 2.35 };
    const FRA: Place<'static> = Place { name: "fra", lat: 50.11, lon: 8.68 };
    const SIN: Place<'static> = Place { name: "sin", lat: 1.35, lon: 103.82 };

    #[test]
    fn rtt_is_twice_the_fibre_time_inflated_plus_the_last_mile() {
        assert_eq!(rtt_ms(0.0, 2.0), LAST_MILE_MS);
        // 1000 km at inflation 1.5: 1500 km of fibre each way, 7.5 ms each way.
        assert!((rtt_ms(1000.0, 1.5) - 25.0).abs() < 1e-9);
    }

    #[test]
    fn the_model_is_symmetric() {
        for seed in [0, 1, 42, u64::MAX] {
            let m = LatencyModel { seed };
            assert_eq!(m.rtt_ms(PARIS, FRA), m.rtt_ms(FRA, PARIS));
            assert_eq!(m.rtt_ms(PARIS, SIN), m.rtt_ms(SIN, PARIS));
            assert_eq!(pair_draw(seed, "bgp", "a", "b", (1.0, 3.0)), pair_draw(seed, "bgp", "b", "a", (1.0, 3.0)));
        }
    }

    #[test]
    fn the_rtt_grows_with_distance_at_any_inflation() {
        for inflation in [ROUTE_INFLATION.0, 1.7, ROUTE_INFLATION.1] {
            let mut last = rtt_ms(0.0, inflation);
            for km in (1..=200).map(|i| f64::from(i) * 100.0) {
                let rtt = rtt_ms(km, inflation);
                assert!(rtt > last, "{km} km at {inflation}: {rtt} <= {last}");
                last = rtt;
            }
        }
        // Across pairs the inflation varies, but never enough to make Singapore nearer to Paris
        // than Frankfurt is: the worst short path beats the best long one.
        let m = LatencyModel { seed: 7 };
        assert!(m.rtt_ms(PARIS, FRA) < m.rtt_ms(PARIS, SIN));
    }

    #[test]
    fn draws_stay_in_range_depend_on_the_seed_and_the_domain() {
        let draws: Vec<f64> = (0..1000).map(|s| pair_draw(s, "route", "Paris", "fra", ROUTE_INFLATION)).collect();
        assert!(draws.iter().all(|d| (ROUTE_INFLATION.0..ROUTE_INFLATION.1).contains(d)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 1.85).abs() < 0.05, "{mean}");
        assert_ne!(
            pair_draw(1, "route", "Paris", "fra", (0.0, 1.0)),
            pair_draw(2, "route", "Paris", "fra", (0.0, 1.0))
        );
        assert_ne!(pair_draw(1, "route", "Paris", "fra", (0.0, 1.0)), pair_draw(1, "bgp", "Paris", "fra", (0.0, 1.0)));
        // Fixed by the seed and the names alone: if this value changes (a new rand_chacha stream,
        // another hash), every committed result changes with it.
        assert_eq!(pair_draw(1, "route", "Paris", "fra", (0.0, 1.0)), 0.505545117085448);
    }
}
