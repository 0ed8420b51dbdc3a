//! The PoP's geolocation sources and the two lookups over them.

use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;

use crate::GeoError;
use crate::prefix::{bits, common_prefix_len};

/// A static network → location entry (`geo.networks` in `pop.yaml`).
#[derive(Debug, Clone, PartialEq)]
pub struct GeoNetwork {
    pub cidr: IpNet,
    pub latitude: f64,
    pub longitude: f64,
}

/// Everything known about where an address is, for traffic policy's `conn.geo.*`. Text fields
/// are empty when the source does not know them (a static network knows only coordinates).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Location {
    pub country_code: String,
    pub country: String,
    pub subdivision: String,
    pub city: String,
    pub postal_code: String,
    pub latitude: f64,
    pub longitude: f64,
}

/// A point on the globe, in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinates {
    pub latitude: f64,
    pub longitude: f64,
}

/// Which source decided a [`Located`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A static network of `geo.networks`.
    Static,
    /// The MaxMind database had coordinates for the address.
    Database,
    /// No source placed the address (or the database knows only the country).
    Unknown,
}

/// The answer of [`GeoDb::locate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Located {
    /// Where the address is, if any source knows.
    pub coordinates: Option<Coordinates>,
    /// Length of the prefix around the address throughout which this very answer holds
    /// (coordinates, or their absence): every address sharing these leading bits gets the same
    /// `coordinates` and `source`. 0..=32 for IPv4, 0..=128 for IPv6. Used as the scope of an
    /// EDNS Client Subnet answer.
    pub prefix_len: u8,
    pub source: Source,
}

/// The PoP's geolocation sources: static networks (the longest matching prefix wins), then an
/// optional MaxMind City-format database.
pub struct GeoDb {
    networks: Vec<GeoNetwork>,
    mmdb: Option<maxminddb::Reader<Vec<u8>>>,
}

impl std::fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoDb").field("networks", &self.networks.len()).field("mmdb", &self.mmdb.is_some()).finish()
    }
}

/// Only the coordinates of a City record: decoding skips everything else (names, subdivisions),
/// which keeps the DNS path free of allocations.
#[derive(serde::Deserialize)]
struct CoordinatesOnly {
    #[serde(default)]
    location: LatLon,
}

#[derive(serde::Deserialize, Default)]
struct LatLon {
    #[serde(default)]
    latitude: Option<f64>,
    #[serde(default)]
    longitude: Option<f64>,
}

impl GeoDb {
    /// Static networks (in any order: the longest prefix wins) and an optional database file,
    /// read into memory once.
    pub fn load(networks: Vec<GeoNetwork>, mmdb: Option<&Path>) -> Result<GeoDb, GeoError> {
        let mmdb = mmdb
            .map(|p| maxminddb::Reader::open_readfile(p).map_err(|source| GeoError::Open { path: p.into(), source }))
            .transpose()?;
        Ok(GeoDb { networks, mmdb })
    }

    /// [`GeoDb::load`] with the error as text (`path: reason`), for callers that carry it so.
    pub fn open(networks: Vec<GeoNetwork>, mmdb: Option<&Path>) -> Result<GeoDb, String> {
        GeoDb::load(networks, mmdb).map_err(|e| e.to_string())
    }

    /// Static networks only, no database.
    pub fn from_networks(networks: Vec<GeoNetwork>) -> GeoDb {
        GeoDb { networks, mmdb: None }
    }

    /// Whether a MaxMind database is loaded.
    pub fn has_database(&self) -> bool {
        self.mmdb.is_some()
    }

    /// The longest static network containing `ip`.
    fn static_hit(&self, ip: IpAddr) -> Option<&GeoNetwork> {
        self.networks.iter().filter(|n| n.cidr.contains(&ip)).max_by_key(|n| n.cidr.prefix_len())
    }

    /// The client's full location record, if any source has coordinates for it (traffic
    /// policy's `conn.geo.*`).
    pub fn lookup(&self, ip: IpAddr) -> Option<Location> {
        if let Some(n) = self.static_hit(ip) {
            return Some(Location { latitude: n.latitude, longitude: n.longitude, ..Location::default() });
        }
        let reader = self.mmdb.as_ref()?;
        let city: maxminddb::geoip2::City<'_> = reader.lookup(ip).ok()?.decode().ok()??;
        let (latitude, longitude) = (city.location.latitude?, city.location.longitude?);
        Some(Location {
            country_code: city.country.iso_code.unwrap_or_default().to_owned(),
            country: city.country.names.english.unwrap_or_default().to_owned(),
            subdivision: city.subdivisions.first().and_then(|s| s.names.english).unwrap_or_default().to_owned(),
            city: city.city.names.english.unwrap_or_default().to_owned(),
            postal_code: city.postal.code.unwrap_or_default().to_owned(),
            latitude,
            longitude,
        })
    }

    /// The client's coordinates and the prefix length of the block of addresses for which that
    /// answer holds.
    ///
    /// The prefix starts as the network that decided: the matching static network's prefix, or
    /// the database's record network (`LookupResult::network()`, also for "not in the
    /// database"), or 0 when there is no database. It is then lengthened just enough that the
    /// block contains no static network that does not contain `ip` — a more specific static
    /// network inside a static or database network would answer differently for its addresses.
    pub fn locate(&self, ip: IpAddr) -> Located {
        let (coordinates, base, source) = if let Some(n) = self.static_hit(ip) {
            let c = Coordinates { latitude: n.latitude, longitude: n.longitude };
            (Some(c), n.cidr.prefix_len(), Source::Static)
        } else if let Some(reader) = &self.mmdb {
            self.locate_in_database(reader, ip)
        } else {
            (None, 0, Source::Unknown)
        };
        let mut prefix_len = base;
        for n in &self.networks {
            if n.cidr.contains(&ip) {
                continue;
            }
            if let Some(common) = common_prefix_len(ip, n.cidr.network()) {
                // The block ip/s overlaps n exactly when s <= common (n does not contain ip, so
                // common < n's prefix); s = common + 1 is the shortest block that avoids it.
                prefix_len = prefix_len.max(common + 1);
            }
        }
        Located { coordinates, prefix_len, source }
    }

    fn locate_in_database(&self, reader: &maxminddb::Reader<Vec<u8>>, ip: IpAddr) -> (Option<Coordinates>, u8, Source) {
        let Ok(found) = reader.lookup(ip) else {
            // E.g. an IPv6 address in an IPv4-only database: nothing is known about any
            // neighbour either, so claim nothing beyond this one address.
            return (None, bits(ip), Source::Unknown);
        };
        let prefix = match found.network() {
            Ok(net) if net.ip().is_ipv4() == ip.is_ipv4() => net.prefix(),
            // An IPv4 address matched above the IPv4 subtree of an IPv6 database: the record
            // covers all of IPv4.
            Ok(_) => 0,
            Err(_) => bits(ip),
        };
        let coordinates = match found.decode::<CoordinatesOnly>() {
            Ok(Some(CoordinatesOnly { location: LatLon { latitude: Some(latitude), longitude: Some(longitude) } })) => {
                Some(Coordinates { latitude, longitude })
            }
            _ => None,
        };
        let source = if coordinates.is_some() { Source::Database } else { Source::Unknown };
        (coordinates, prefix, source)
    }
}

#[cfg(test)]
mod tests;
