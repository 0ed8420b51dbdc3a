//! Great-circle distance on a spherical Earth.

/// Mean Earth radius (IUGG), in kilometres.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Great-circle distance in kilometres between two points given in degrees (haversine formula:
/// well-conditioned for small distances, where the spherical law of cosines is not). The
/// sphere is off by at most ~0.5% against the ellipsoid: far below what matters for choosing a
/// PoP.
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let d_phi = (lat2 - lat1).to_radians();
    let d_lambda = (lon2 - lon1).to_radians();
    let a = (d_phi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (d_lambda / 2.0).sin().powi(2);
    // Rounding can push `a` a hair above 1 for antipodal points.
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_distances() {
        // Frankfurt – Ashburn ≈ 6 560 km, Frankfurt – Singapore ≈ 10 270 km.
        let fra_iad = haversine_km(50.11, 8.68, 39.04, -77.49);
        assert!((fra_iad - 6560.0).abs() < 60.0, "{fra_iad}");
        let fra_sin = haversine_km(50.11, 8.68, 1.35, 103.82);
        assert!((fra_sin - 10270.0).abs() < 80.0, "{fra_sin}");
        assert_eq!(haversine_km(10.0, 20.0, 10.0, 20.0), 0.0);
        let antipodes = haversine_km(0.0, 0.0, 0.0, 180.0);
        assert!((antipodes - std::f64::consts::PI * EARTH_RADIUS_KM).abs() < 1e-6);
    }

    fn point() -> impl Strategy<Value = (f64, f64)> {
        (-90.0..=90.0f64, -180.0..=180.0f64)
    }

    proptest! {
        #[test]
        fn a_metric_on_the_sphere(a in point(), b in point(), c in point()) {
            let d = |p: (f64, f64), q: (f64, f64)| haversine_km(p.0, p.1, q.0, q.1);
            let ab = d(a, b);
            prop_assert!((0.0..=std::f64::consts::PI * EARTH_RADIUS_KM + 1e-6).contains(&ab));
            prop_assert!((ab - d(b, a)).abs() < 1e-6);
            prop_assert!(d(a, c) <= ab + d(b, c) + 1e-6);
        }
    }
}
