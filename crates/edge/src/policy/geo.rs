//! Where a client is, for `conn.geo.*`: the PoP's static `geo.networks` first, then a MaxMind
//! City-format database (`geo.mmdb`), read with the `maxminddb` crate.

use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use warren_policy::Geo;

/// A static network → location entry.
#[derive(Debug, Clone)]
pub struct GeoNetwork {
    pub cidr: IpNet,
    pub latitude: f64,
    pub longitude: f64,
}

/// The PoP's geolocation sources.
pub struct GeoDb {
    networks: Vec<GeoNetwork>,
    mmdb: Option<maxminddb::Reader<Vec<u8>>>,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb").field("networks", &self.networks.len()).field("mmdb", &self.mmdb.is_some()).finish()
    }
}

impl GeoDb {
    /// Static networks (most specific first is not required: the longest prefix wins) and an
    /// optional database file.
    pub fn open(networks: Vec<GeoNetwork>, mmdb: Option<&Path>) -> Result<GeoDb, String> {
        let mmdb = mmdb
            .map(|p| maxminddb::Reader::open_readfile(p).map_err(|e| format!("{}: {e}", p.display())))
            .transpose()?;
        Ok(GeoDb { networks, mmdb })
    }

    /// The client's location, if any source knows it.
    pub fn lookup(&self, ip: IpAddr) -> Option<Geo> {
        let static_hit = self.networks.iter().filter(|n| n.cidr.contains(&ip)).max_by_key(|n| n.cidr.prefix_len());
        if let Some(n) = static_hit {
            return Some(Geo { latitude: n.latitude, longitude: n.longitude, ..Geo::default() });
        }
        let reader = self.mmdb.as_ref()?;
        let city: maxminddb::geoip2::City<'_> = reader.lookup(ip).ok()?.decode().ok()??;
        let (latitude, longitude) = (city.location.latitude?, city.location.longitude?);
        Some(Geo {
            country_code: city.country.iso_code.unwrap_or_default().to_owned(),
            country: city.country.names.english.unwrap_or_default().to_owned(),
            subdivision: city.subdivisions.first().and_then(|s| s.names.english).unwrap_or_default().to_owned(),
            city: city.city.names.english.unwrap_or_default().to_owned(),
            postal_code: city.postal.code.unwrap_or_default().to_owned(),
            latitude,
            longitude,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(name: &str) -> Option<std::path::PathBuf> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/geoip").join(name);
        p.exists().then_some(p)
    }

    #[test]
    fn static_networks_win_then_the_database() {
        let Some(db) = testdata("GeoLite2-City-Test.mmdb") else {
            panic!("../shared/testdata/geoip/GeoLite2-City-Test.mmdb is missing: this test needs it");
        };
        let networks = vec![GeoNetwork { cidr: "81.2.69.0/24".parse().unwrap(), latitude: 1.0, longitude: 2.0 }];
        let geo = GeoDb::open(networks, Some(&db)).unwrap();
        let hit = geo.lookup("81.2.69.142".parse().unwrap()).unwrap();
        assert_eq!((hit.latitude, hit.longitude), (1.0, 2.0), "static table first");
        let london = geo.lookup("81.2.69.160".parse().unwrap());
        assert_eq!(london.map(|g| g.latitude), Some(1.0), "still inside the static /24");
        let se = geo.lookup("89.160.20.129".parse().unwrap()).unwrap();
        assert_eq!(se.country_code, "SE");
        assert!((se.latitude - 58.4167).abs() < 0.01, "{se:?}");
        assert!(geo.lookup("10.1.2.3".parse().unwrap()).is_none());
    }
}
