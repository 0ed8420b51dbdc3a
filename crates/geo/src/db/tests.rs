use super::*;
use proptest::prelude::*;

/// A test database from `../shared/testdata/geoip/`; the tests that need one fail, rather than
/// pass silently, when it is missing.
fn testdata(name: &str) -> std::path::PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/geoip").join(name);
    assert!(p.exists(), "{} is missing: this test needs ../shared/testdata/geoip/{name}", p.display());
    p
}

const DATABASES: [&str; 2] = ["GeoLite2-City-Test.mmdb", "GeoIP2-City-Test.mmdb"];

fn net(cidr: &str, latitude: f64, longitude: f64) -> GeoNetwork {
    GeoNetwork { cidr: cidr.parse().unwrap(), latitude, longitude }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn static_networks_win_then_the_database() {
    let db = testdata("GeoLite2-City-Test.mmdb");
    let geo = GeoDb::load(vec![net("81.2.69.0/24", 1.0, 2.0)], Some(&db)).unwrap();
    assert!(geo.has_database());
    let hit = geo.lookup(ip("81.2.69.142")).unwrap();
    assert_eq!((hit.latitude, hit.longitude), (1.0, 2.0), "static table first");
    assert_eq!(hit.country_code, "", "a static network knows only coordinates");
    let london = geo.lookup(ip("81.2.69.160"));
    assert_eq!(london.map(|g| g.latitude), Some(1.0), "still inside the static /24");
    let se = geo.lookup(ip("89.160.20.129")).unwrap();
    assert_eq!((se.country_code.as_str(), se.city.as_str()), ("SE", "Linköping"));
    assert!((se.latitude - 58.4167).abs() < 0.01, "{se:?}");
    assert!(geo.lookup(ip("10.1.2.3")).is_none());
}

#[test]
fn locate_gives_the_database_network_as_prefix() {
    for name in DATABASES {
        let geo = GeoDb::load(vec![], Some(&testdata(name))).unwrap();
        let cases = [
            ("81.2.69.142", 31, Some(51.5142)),
            ("81.2.69.150", 28, Some(51.5142)),
            ("81.2.69.170", 27, Some(51.5142)),
            ("89.160.20.129", 25, Some(58.4167)),
            ("89.160.20.115", 28, Some(58.4167)),
            ("175.16.199.3", 24, Some(43.88)),
            ("2001:218::1", 32, Some(35.68536)),
            // Not in the database: the prefix is the empty part of the tree holding it.
            ("10.1.2.3", 8, None),
        ];
        for (addr, prefix, lat) in cases {
            let got = geo.locate(ip(addr));
            assert_eq!(got.prefix_len, prefix, "{name} {addr}: {got:?}");
            assert_eq!(got.coordinates.map(|c| c.latitude), lat, "{name} {addr}: {got:?}");
            let want = if lat.is_some() { Source::Database } else { Source::Unknown };
            assert_eq!(got.source, want, "{name} {addr}");
            // The full record agrees on the coordinates.
            assert_eq!(geo.lookup(ip(addr)).map(|l| l.latitude), lat, "{name} {addr}");
        }
    }
}

#[test]
fn a_static_network_decides_with_its_own_prefix() {
    let geo = GeoDb::load(vec![net("81.2.69.128/25", 1.0, 2.0)], Some(&testdata("GeoLite2-City-Test.mmdb"))).unwrap();
    let got = geo.locate(ip("81.2.69.142"));
    assert_eq!(
        got,
        Located {
            coordinates: Some(Coordinates { latitude: 1.0, longitude: 2.0 }),
            prefix_len: 25,
            source: Source::Static
        }
    );
    // Just outside it the database decides, and its block must not reach into the static one.
    let outside = geo.locate(ip("81.2.69.100"));
    assert_eq!(outside.source, Source::Unknown, "{outside:?}");
    assert!(outside.prefix_len >= 25, "{outside:?}");
}

#[test]
fn more_specific_static_networks_narrow_the_prefix() {
    let geo = GeoDb::from_networks(vec![net("10.0.0.0/8", 1.0, 1.0), net("10.1.2.0/24", 2.0, 2.0)]);
    assert!(!geo.has_database());
    // 10.1.3.4 is in the /8 but next to the /24: the largest block that avoids it is a /24.
    let got = geo.locate(ip("10.1.3.4"));
    assert_eq!((got.coordinates.map(|c| c.latitude), got.prefix_len), (Some(1.0), 24));
    let far = geo.locate(ip("10.200.0.1"));
    assert_eq!((far.coordinates.map(|c| c.latitude), far.prefix_len), (Some(1.0), 9));
    let inner = geo.locate(ip("10.1.2.9"));
    assert_eq!((inner.coordinates.map(|c| c.latitude), inner.prefix_len), (Some(2.0), 24));
    // Outside every network and without a database: unknown, for the block avoiding them.
    let none = geo.locate(ip("192.0.2.1"));
    assert_eq!((none.coordinates, none.prefix_len, none.source), (None, 1, Source::Unknown));
    // Families do not mix.
    assert_eq!(geo.locate(ip("2001:db8::1")).prefix_len, 0);
    assert_eq!(GeoDb::from_networks(vec![]).locate(ip("192.0.2.1")).prefix_len, 0);
}

#[test]
fn a_missing_database_names_the_file() {
    let err = GeoDb::load(vec![], Some(Path::new("/nonexistent/x.mmdb"))).unwrap_err();
    assert!(err.to_string().starts_with("/nonexistent/x.mmdb: "), "{err}");
    let text = GeoDb::open(vec![], Some(Path::new("/nonexistent/x.mmdb"))).unwrap_err();
    assert_eq!(text, err.to_string());
}

/// Addresses around the networks of the test database and of the static table below, so that
/// blocks, their borders and their neighbours all get hit.
fn near_interesting() -> impl Strategy<Value = IpAddr> {
    let bases: [u32; 6] = [
        u32::from(std::net::Ipv4Addr::new(81, 2, 69, 128)),
        u32::from(std::net::Ipv4Addr::new(89, 160, 20, 112)),
        u32::from(std::net::Ipv4Addr::new(175, 16, 199, 0)),
        u32::from(std::net::Ipv4Addr::new(10, 0, 0, 0)),
        u32::from(std::net::Ipv4Addr::new(216, 160, 83, 56)),
        0,
    ];
    (0usize..bases.len(), any::<u32>(), 0u32..=32).prop_map(move |(i, noise, spread)| {
        let mask = if spread == 32 { u32::MAX } else { (1u32 << spread) - 1 };
        IpAddr::V4(std::net::Ipv4Addr::from(bases[i] ^ (noise & mask)))
    })
}

fn arb_static() -> impl Strategy<Value = Vec<GeoNetwork>> {
    prop::collection::vec(
        (near_interesting(), 8u8..=30, -80.0..80.0f64).prop_map(|(addr, len, lat)| GeoNetwork {
            cidr: IpNet::new(addr, len).unwrap().trunc(),
            latitude: lat,
            longitude: 0.0,
        }),
        0..5,
    )
}

proptest! {
    /// The promise of `prefix_len`: every address of the block gets the same answer.
    #[test]
    fn every_address_of_the_block_gets_the_same_answer(
        statics in arb_static(), addr in near_interesting(), others in prop::collection::vec(any::<u32>(), 8), with_db in any::<bool>(),
    ) {
        let db = with_db.then(|| testdata("GeoLite2-City-Test.mmdb"));
        let geo = GeoDb::load(statics, db.as_deref()).unwrap();
        let here = geo.locate(addr);
        let IpAddr::V4(v4) = addr else { unreachable!() };
        let host_bits = 32 - u32::from(here.prefix_len);
        let host_mask = if host_bits == 32 { u32::MAX } else { (1u32 << host_bits) - 1 };
        let base = u32::from(v4) & !host_mask;
        for other in others.iter().chain([&0, &u32::MAX]) {
            let sibling = IpAddr::V4(std::net::Ipv4Addr::from(base | (other & host_mask)));
            let there = geo.locate(sibling);
            prop_assert_eq!(there.coordinates, here.coordinates, "{} /{} vs {}", addr, here.prefix_len, sibling);
            prop_assert_eq!(there.source, here.source);
        }
    }
}
