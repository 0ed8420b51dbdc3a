use super::*;
use proptest::prelude::*;

const PARIS: (f64, f64) = (48.86, 2.35);
const NEW_YORK: (f64, f64) = (40.71, -74.01);
const TOKYO: (f64, f64) = (35.68, 139.69);
const CHICAGO: (f64, f64) = (41.88, -87.63);

fn pop(id: &str, lat: f64, lon: f64, last: u8) -> PopCandidate {
    PopCandidate {
        ipv4: Some(Ipv4Addr::new(192, 0, 2, last)),
        ipv6: Some(format!("2001:db8::{last}").parse().unwrap()),
        ..PopCandidate::new(id, lat, lon)
    }
}

/// Frankfurt, Ashburn, Singapore.
fn three() -> Vec<PopCandidate> {
    vec![pop("pop-fra", 50.11, 8.68, 1), pop("pop-iad", 39.04, -77.49, 2), pop("pop-sin", 1.35, 103.82, 3)]
}

fn from(client: (f64, f64)) -> Request<'static> {
    Request { client: Some(client), self_id: "pop-fra", tunnel_pops: None }
}

fn pick<'a>(pops: &'a [PopCandidate], req: &Request<'_>) -> &'a str {
    &choose(pops, req, Family::V4, &Params::default()).unwrap().pop.id
}

#[test]
fn clients_get_their_nearest_pop() {
    let pops = three();
    assert_eq!(pick(&pops, &from(PARIS)), "pop-fra");
    assert_eq!(pick(&pops, &from(NEW_YORK)), "pop-iad");
    assert_eq!(pick(&pops, &from(TOKYO)), "pop-sin");
    let c = choose(&pops, &from(PARIS), Family::V4, &Params::default()).unwrap();
    assert_eq!(c.reason, Reason::Nearest);
    assert!(c.depends_on_location);
    assert!((c.distance_km - 480.0).abs() < 20.0, "{}", c.distance_km);
}

#[test]
fn unhealthy_and_draining_pops_are_left_out() {
    let mut pops = three();
    pops[0].healthy = false;
    assert_eq!(pick(&pops, &from(PARIS)), "pop-iad", "Frankfurt down: next nearest");
    pops[0].healthy = true;
    pops[0].draining = true;
    assert_eq!(pick(&pops, &from(PARIS)), "pop-iad", "Frankfurt draining: no new clients");
}

#[test]
fn all_down_still_answers_with_the_nearest() {
    let mut pops = three();
    for p in &mut pops {
        p.healthy = false;
    }
    let c = choose(&pops, &from(TOKYO), Family::V4, &Params::default()).unwrap();
    assert_eq!((c.pop.id.as_str(), c.reason), ("pop-sin", Reason::Fallback));
    // Down and draining comes after down and not draining.
    pops[2].draining = true;
    assert_eq!(pick(&pops, &from(TOKYO)), "pop-fra");
}

#[test]
fn a_healthy_draining_pop_beats_a_failing_one() {
    let mut pops = three();
    pops[0].draining = true;
    pops[1].healthy = false;
    pops[2].healthy = false;
    let c = choose(&pops, &from(TOKYO), Family::V4, &Params::default()).unwrap();
    assert_eq!((c.pop.id.as_str(), c.reason), ("pop-fra", Reason::Fallback));
    assert!(!c.depends_on_location, "one PoP in the running");
}

#[test]
fn unknown_location_means_nearest_to_the_answering_pop() {
    let pops = three();
    let req = |self_id| Request { client: None, self_id, tunnel_pops: None };
    assert_eq!(pick(&pops, &req("pop-sin")), "pop-sin");
    assert_eq!(pick(&pops, &req("pop-iad")), "pop-iad");
    let mut pops = three();
    pops[2].healthy = false;
    assert_eq!(pick(&pops, &req("pop-sin")), "pop-fra", "Singapore down: nearest to Singapore");
    // The answering PoP unknown too: no distance at all, so ties: weight, then id.
    let c = choose(&pops, &req("pop-elsewhere"), Family::V4, &Params::default()).unwrap();
    assert_eq!((c.pop.id.as_str(), c.distance_km), ("pop-fra", 0.0));
}

#[test]
fn aaaa_skips_pops_without_ipv6_and_may_be_empty() {
    let mut pops = three();
    pops[0].ipv6 = None;
    let a = answer(&pops, &from(PARIS), &Params::default());
    assert_eq!(a.v4.unwrap().pop.id, "pop-fra");
    assert_eq!(a.v6.unwrap().pop.id, "pop-iad");
    for p in &mut pops {
        p.ipv6 = None;
    }
    assert!(answer(&pops, &from(PARIS), &Params::default()).v6.is_none());
    assert!(choose(&[], &from(PARIS), Family::V4, &Params::default()).is_none());
}

#[test]
fn weights_scale_the_distance() {
    // Chicago: Ashburn ≈ 950 km, a Dallas PoP ≈ 1 300 km.
    let mut pops = vec![pop("pop-iad", 39.04, -77.49, 2), pop("pop-dfw", 32.78, -96.80, 4)];
    assert_eq!(pick(&pops, &from(CHICAGO)), "pop-iad");
    pops[1].weight = 200; // Dallas looks like 650 km
    assert_eq!(pick(&pops, &from(CHICAGO)), "pop-dfw");
    pops[1].weight = 100;
    pops[0].weight = 50; // Ashburn looks like 1 900 km
    assert_eq!(pick(&pops, &from(CHICAGO)), "pop-dfw");
    // Weights above the maximum count as the maximum.
    pops[0].weight = 5000;
    pops[1].weight = 1000;
    assert_eq!(pick(&pops, &from(CHICAGO)), "pop-iad");
}

#[test]
fn weight_zero_is_a_backup() {
    let mut pops = three();
    pops[0].weight = 0;
    assert_eq!(pick(&pops, &from(PARIS)), "pop-iad", "a backup gets no clients while others are up");
    pops[1].healthy = false;
    pops[2].healthy = false;
    let c = choose(&pops, &from(TOKYO), Family::V4, &Params::default()).unwrap();
    assert_eq!((c.pop.id.as_str(), c.reason), ("pop-fra", Reason::Fallback), "the healthy backup");
}

#[test]
fn ties_go_to_weight_then_id() {
    let pops = vec![pop("pop-b", 10.0, 10.0, 1), pop("pop-a", 10.0, 10.0, 2)];
    assert_eq!(pick(&pops, &from((10.0, 10.0))), "pop-a");
    let mut pops = pops;
    pops[0].weight = 150;
    assert_eq!(pick(&pops, &from((10.0, 10.0))), "pop-b");
}

#[test]
fn a_pop_holding_the_tunnel_wins_when_not_much_farther() {
    // Chicago: Ashburn ≈ 950 km, Dallas ≈ 1 290 km, tunnel at Dallas: 340 km more is inside
    // the 500 km window and saves the Ashburn → Dallas hop.
    let pops = vec![pop("pop-iad", 39.04, -77.49, 2), pop("pop-dfw", 32.78, -96.80, 4)];
    let tunnels = vec!["pop-dfw".to_owned()];
    let req = Request { client: Some(CHICAGO), self_id: "pop-iad", tunnel_pops: Some(&tunnels) };
    let c = choose(&pops, &req, Family::V4, &Params::default()).unwrap();
    assert_eq!((c.pop.id.as_str(), c.reason), ("pop-dfw", Reason::Tunnel));
    // A tighter window keeps the nearest.
    let tight = Params { tunnel_detour_km: 100.0, tunnel_detour_ratio: 0.1 };
    assert_eq!(choose(&pops, &req, Family::V4, &tight).unwrap().pop.id, "pop-iad");
}

#[test]
fn a_far_tunnel_does_not_move_nearby_clients() {
    // Paris with the tunnel in Ashburn: 6 000 km more is far outside the window.
    let pops = three();
    let tunnels = vec!["pop-iad".to_owned()];
    let req = Request { client: Some(PARIS), self_id: "pop-fra", tunnel_pops: Some(&tunnels) };
    let c = choose(&pops, &req, Family::V4, &Params::default()).unwrap();
    assert_eq!((c.pop.id.as_str(), c.reason), ("pop-fra", Reason::Nearest));
}

#[test]
fn the_ratio_widens_the_window_for_far_away_clients() {
    // A client in Hawaii: Ashburn ≈ 7 800 km; a PoP in Frankfurt is ≈ 12 000 km: too far even
    // at 20 %. A San Jose PoP ≈ 3 900 km would be nearest; with the tunnel at Ashburn and a
    // 100 % ratio, Ashburn (twice as far) becomes acceptable.
    let hawaii = (21.31, -157.86);
    let pops = vec![pop("pop-iad", 39.04, -77.49, 2), pop("pop-sjc", 37.34, -121.89, 5)];
    let tunnels = vec!["pop-iad".to_owned()];
    let req = Request { client: Some(hawaii), self_id: "pop-sjc", tunnel_pops: Some(&tunnels) };
    assert_eq!(choose(&pops, &req, Family::V4, &Params::default()).unwrap().pop.id, "pop-sjc");
    let wide = Params { tunnel_detour_km: 0.0, tunnel_detour_ratio: 1.1 };
    assert_eq!(choose(&pops, &req, Family::V4, &wide).unwrap().pop.id, "pop-iad");
}

#[test]
fn the_pop_nearest_to_the_tunnel_can_win_too() {
    // Client between Frankfurt (≈140 km) and Amsterdam (≈230 km); the tunnel is in
    // London, not a candidate for this family (no IPv6). Amsterdam is nearer London.
    let mut pops =
        vec![pop("pop-fra", 50.11, 8.68, 1), pop("pop-ams", 52.37, 4.90, 6), pop("pop-lon", 51.51, -0.13, 7)];
    pops[2].ipv6 = None;
    let tunnels = vec!["pop-lon".to_owned()];
    let client = (51.0, 7.3);
    let req = Request { client: Some(client), self_id: "pop-fra", tunnel_pops: Some(&tunnels) };
    let c = choose(&pops, &req, Family::V6, &Params::default()).unwrap();
    assert_eq!((c.pop.id.as_str(), c.reason), ("pop-ams", Reason::Tunnel));
    let none = Request { tunnel_pops: None, ..req };
    assert_eq!(choose(&pops, &none, Family::V6, &Params::default()).unwrap().pop.id, "pop-fra");
}

#[test]
fn tunnels_never_pull_clients_into_a_worse_tier() {
    let mut pops = vec![pop("pop-iad", 39.04, -77.49, 2), pop("pop-dfw", 32.78, -96.80, 4)];
    pops[1].draining = true;
    let tunnels = vec!["pop-dfw".to_owned()];
    let req = Request { client: Some(CHICAGO), self_id: "pop-iad", tunnel_pops: Some(&tunnels) };
    assert_eq!(pick(&pops, &req), "pop-iad");
}

// --- properties ---

fn arb_pop(i: usize) -> impl Strategy<Value = PopCandidate> {
    (
        -60.0..70.0f64,
        -180.0..180.0f64,
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.2),
        prop_oneof![Just(100u32), 0u32..=1200],
    )
        .prop_map(move |(lat, lon, v4, v6, healthy, draining, weight)| PopCandidate {
            id: format!("pop-{i:02}"),
            lat,
            lon,
            ipv4: v4.then(|| Ipv4Addr::new(192, 0, 2, i as u8)),
            ipv6: v6.then(|| Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i as u16)),
            healthy,
            draining,
            weight,
        })
}

fn arb_pops() -> impl Strategy<Value = Vec<PopCandidate>> {
    (1usize..8).prop_flat_map(|n| (0..n).map(arb_pop).collect::<Vec<_>>())
}

fn arb_client() -> impl Strategy<Value = Option<(f64, f64)>> {
    prop::option::weighted(0.8, (-90.0..=90.0f64, -180.0..=180.0f64))
}

fn family() -> impl Strategy<Value = Family> {
    prop_oneof![Just(Family::V4), Just(Family::V6)]
}

proptest! {
    #[test]
    fn the_answer_has_the_family_and_the_best_tier(
        pops in arb_pops(), client in arb_client(), fam in family(), self_ix in 0usize..8, tunnels in prop::collection::vec(0usize..8, 0..3),
    ) {
        let self_id = format!("pop-{self_ix:02}");
        let tunnels: Vec<String> = tunnels.iter().map(|i| format!("pop-{i:02}")).collect();
        let req = Request { client, self_id: &self_id, tunnel_pops: Some(&tunnels) };
        let got = choose(&pops, &req, fam, &Params::default());
        let eligible: Vec<&PopCandidate> = pops.iter().filter(|p| p.has(fam)).collect();
        prop_assert_eq!(got.is_none(), eligible.is_empty());
        if let Some(c) = got {
            prop_assert!(c.pop.has(fam));
            let best = eligible.iter().map(|p| p.tier()).min().unwrap();
            prop_assert_eq!(c.pop.tier(), best);
            if eligible.iter().any(|p| p.healthy && !p.draining && p.weight > 0) {
                prop_assert!(c.pop.healthy && !c.pop.draining);
            }
            let in_tier = eligible.iter().filter(|p| p.tier() == best).count();
            prop_assert_eq!(c.depends_on_location, in_tier > 1);
        }
    }

    #[test]
    fn without_tunnels_it_is_the_nearest_by_effective_distance(
        pops in arb_pops(), client in (-90.0..=90.0f64, -180.0..=180.0f64), fam in family(),
    ) {
        let req = Request { client: Some(client), self_id: "", tunnel_pops: None };
        if let Some(c) = choose(&pops, &req, fam, &Params::default()) {
            let eff = |p: &PopCandidate| {
                let d = p.distance_km(client);
                if p.weight() == 0 { d } else { d * 100.0 / f64::from(p.weight()) }
            };
            for p in pops.iter().filter(|p| p.has(fam) && p.tier() == c.pop.tier()) {
                prop_assert!(eff(c.pop) <= eff(p), "{} at {} beats {} at {}", p.id, eff(p), c.pop.id, eff(c.pop));
            }
        }
    }

    #[test]
    fn the_order_of_the_pops_does_not_matter(
        pops in arb_pops(), client in arb_client(), fam in family(), seed in any::<u64>(), tunnels in prop::collection::vec(0usize..8, 0..3),
    ) {
        let tunnels: Vec<String> = tunnels.iter().map(|i| format!("pop-{i:02}")).collect();
        let req = Request { client, self_id: "pop-00", tunnel_pops: Some(&tunnels) };
        let mut shuffled = pops.clone();
        // A deterministic shuffle from the seed (no rand in a pure crate's tests).
        let n = shuffled.len();
        for i in (1..n).rev() {
            let j = (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64) >> 33) as usize % (i + 1);
            shuffled.swap(i, j);
        }
        let a = choose(&pops, &req, fam, &Params::default()).map(|c| c.pop.id.clone());
        let b = choose(&shuffled, &req, fam, &Params::default()).map(|c| c.pop.id.clone());
        prop_assert_eq!(a, b);
    }

    #[test]
    fn tunnel_moves_stay_inside_the_window(
        pops in arb_pops(), client in (-90.0..=90.0f64, -180.0..=180.0f64), fam in family(), tunnels in prop::collection::vec(0usize..8, 1..3),
        detour_km in 0.0..3000.0f64, ratio in 0.0..1.0f64,
    ) {
        let params = Params { tunnel_detour_km: detour_km, tunnel_detour_ratio: ratio };
        let tunnels: Vec<String> = tunnels.iter().map(|i| format!("pop-{i:02}")).collect();
        let plain = choose(&pops, &Request { client: Some(client), self_id: "", tunnel_pops: None }, fam, &params);
        let aware = choose(&pops, &Request { client: Some(client), self_id: "", tunnel_pops: Some(&tunnels) }, fam, &params);
        prop_assert_eq!(plain.is_some(), aware.is_some());
        if let (Some(p), Some(a)) = (plain, aware) {
            prop_assert_eq!(p.pop.tier(), a.pop.tier());
            let eff = |c: &Choice<'_>| match c.pop.weight() { 0 => c.distance_km, w => c.distance_km * 100.0 / f64::from(w) };
            let limit = (eff(&p) + detour_km).max(eff(&p) * (1.0 + ratio));
            prop_assert!(eff(&a) <= limit + 1e-9);
            if a.reason == Reason::Tunnel {
                prop_assert!(a.pop.id != p.pop.id);
            } else {
                prop_assert_eq!(&a.pop.id, &p.pop.id);
            }
        }
    }

    #[test]
    fn raising_the_winners_weight_keeps_it_winning(
        pops in arb_pops(), client in (-90.0..=90.0f64, -180.0..=180.0f64), fam in family(), extra in 1u32..500,
    ) {
        let req = Request { client: Some(client), self_id: "", tunnel_pops: None };
        if let Some(c) = choose(&pops, &req, fam, &Params::default()) && c.pop.weight > 0 {
            let id = c.pop.id.clone();
            let mut heavier = pops.clone();
            let w = heavier.iter_mut().find(|p| p.id == id).unwrap();
            w.weight = (w.weight + extra).min(PopCandidate::MAX_WEIGHT);
            prop_assert_eq!(&choose(&heavier, &req, fam, &Params::default()).unwrap().pop.id, &id);
        }
    }
}
