//! The synthetic world: PoPs at the cities of real cloud regions, and client cities weighted by
//! population (`data/cities.csv`).

use crate::SimError;

/// A part of the world, for grouping PoPs and clients and for failing PoPs together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Region {
    /// North and Central America, the Caribbean.
    NorthAmerica,
    SouthAmerica,
    /// Europe, Turkey, Russia west of the Urals.
    Europe,
    MiddleEast,
    Africa,
    Asia,
    Oceania,
}

impl Region {
    pub const ALL: [Region; 7] = [
        Region::NorthAmerica,
        Region::SouthAmerica,
        Region::Europe,
        Region::MiddleEast,
        Region::Africa,
        Region::Asia,
        Region::Oceania,
    ];

    /// The code used in the data files and the CSVs.
    pub fn code(self) -> &'static str {
        match self {
            Region::NorthAmerica => "na",
            Region::SouthAmerica => "sa",
            Region::Europe => "eu",
            Region::MiddleEast => "me",
            Region::Africa => "af",
            Region::Asia => "as",
            Region::Oceania => "oc",
        }
    }

    fn parse(code: &str) -> Option<Region> {
        Region::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// A PoP of the model: where a cloud provider has a region (the city of its data centres).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pop {
    pub id: &'static str,
    pub city: &'static str,
    pub region: Region,
    pub lat: f64,
    pub lon: f64,
}

const fn pop(id: &'static str, city: &'static str, region: Region, lat: f64, lon: f64) -> Pop {
    Pop { id, city, region, lat, lon }
}

use Region::SouthAmerica as SA;
use Region::{Africa as AF, Asia as AS, Europe as EU, MiddleEast as ME, NorthAmerica as NA, Oceania as OC};

/// Every PoP of the model, in the order an operator might open them (the PoP-count sweep takes
/// the first `k`): one per continent first, then the big population centres, then density.
/// Coordinates are those of the cities hosting public cloud regions (to ~0.01°).
pub const POPS: [Pop; 43] = [
    pop("iad", "Ashburn", NA, 39.04, -77.49),
    pop("fra", "Frankfurt", EU, 50.11, 8.68),
    pop("sin", "Singapore", AS, 1.35, 103.82),
    pop("sjc", "San Jose", NA, 37.34, -121.89),
    pop("nrt", "Tokyo", AS, 35.68, 139.69),
    pop("gru", "Sao Paulo", SA, -23.55, -46.63),
    pop("bom", "Mumbai", AS, 19.08, 72.88),
    pop("syd", "Sydney", OC, -33.87, 151.21),
    pop("lhr", "London", EU, 51.51, -0.13),
    pop("jnb", "Johannesburg", AF, -26.20, 28.05),
    pop("dfw", "Dallas", NA, 32.78, -96.80),
    pop("cdg", "Paris", EU, 48.86, 2.35),
    pop("hkg", "Hong Kong", AS, 22.32, 114.17),
    pop("icn", "Seoul", AS, 37.57, 126.98),
    pop("ord", "Chicago", NA, 41.88, -87.63),
    pop("dxb", "Dubai", ME, 25.20, 55.27),
    pop("ams", "Amsterdam", EU, 52.37, 4.90),
    pop("cgk", "Jakarta", AS, -6.21, 106.85),
    pop("yul", "Montreal", NA, 45.50, -73.57),
    pop("mad", "Madrid", EU, 40.42, -3.70),
    pop("lax", "Los Angeles", NA, 34.05, -118.24),
    pop("scl", "Santiago", SA, -33.45, -70.67),
    pop("del", "Delhi", AS, 28.61, 77.21),
    pop("arn", "Stockholm", EU, 59.33, 18.07),
    pop("mxp", "Milan", EU, 45.46, 9.19),
    pop("qro", "Queretaro", NA, 20.59, -100.39),
    pop("tlv", "Tel Aviv", ME, 32.08, 34.78),
    pop("kul", "Cyberjaya (Kuala Lumpur)", AS, 2.92, 101.65),
    pop("mel", "Melbourne", OC, -37.81, 144.96),
    pop("waw", "Warsaw", EU, 52.23, 21.01),
    pop("bah", "Bahrain", ME, 26.07, 50.56),
    pop("hyd", "Hyderabad", AS, 17.39, 78.49),
    pop("akl", "Auckland", OC, -36.85, 174.76),
    pop("cmh", "Columbus", NA, 39.96, -83.00),
    pop("pdx", "Boardman (Oregon)", NA, 45.84, -119.70),
    pop("kix", "Osaka", AS, 34.69, 135.50),
    pop("tpe", "Changhua (Taiwan)", AS, 24.05, 120.52),
    pop("bkk", "Bangkok", AS, 13.76, 100.50),
    pop("mia", "Miami", NA, 25.76, -80.19),
    pop("yyz", "Toronto", NA, 43.65, -79.38),
    pop("dub", "Dublin", EU, 53.35, -6.26),
    pop("zrh", "Zurich", EU, 47.37, 8.54),
    pop("cpt", "Cape Town", AF, -33.92, 18.42),
];

/// Where clients are: one city of `data/cities.csv`, all its people at its centre.
#[derive(Debug, Clone, PartialEq)]
pub struct City {
    pub name: String,
    pub country: String,
    pub region: Region,
    pub lat: f64,
    pub lon: f64,
    pub population: u64,
}

const CITIES_CSV: &str = include_str!("../../data/cities.csv");

/// The client cities of `data/cities.csv` (lines starting with `#` are comments; then a header).
pub fn cities() -> Result<Vec<City>, SimError> {
    let bad = |line: usize, reason: String| SimError::Data { table: "data/cities.csv", line, reason };
    let mut rows = CITIES_CSV.lines().enumerate().filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty());
    match rows.next() {
        Some((_, "city,country,region,lat,lon,population")) => {}
        Some((i, other)) => return Err(bad(i + 1, format!("unexpected header {other:?}"))),
        None => return Err(bad(0, "empty".into())),
    }
    rows.map(|(i, line)| {
        let fields: Vec<&str> = line.split(',').collect();
        let [name, country, region, lat, lon, population] = fields[..] else {
            return Err(bad(i + 1, format!("{} fields, want 6", fields.len())));
        };
        let number = |what: &str, s: &str| s.parse::<f64>().map_err(|e| bad(i + 1, format!("{what} {s:?}: {e}")));
        let (lat, lon) = (number("lat", lat)?, number("lon", lon)?);
        if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
            return Err(bad(i + 1, format!("coordinates {lat},{lon} out of range")));
        }
        Ok(City {
            name: name.to_owned(),
            country: country.to_owned(),
            region: Region::parse(region).ok_or_else(|| bad(i + 1, format!("unknown region {region:?}")))?,
            lat,
            lon,
            population: population.parse().map_err(|e| bad(i + 1, format!("population {population:?}: {e}")))?,
        })
    })
    .collect()
}

/// PoPs plus clients: the input of every policy.
#[derive(Debug, Clone)]
pub struct World {
    pub pops: Vec<Pop>,
    pub cities: Vec<City>,
}

impl World {
    /// Every PoP of [`POPS`] and every city.
    pub fn full() -> Result<World, SimError> {
        Ok(World { pops: POPS.to_vec(), cities: cities()? })
    }

    /// Only the first `k` PoPs of the rollout order.
    pub fn first_pops(&self, k: usize) -> World {
        World { pops: self.pops[..k.min(self.pops.len())].to_vec(), cities: self.cities.clone() }
    }

    pub fn total_population(&self) -> u64 {
        self.cities.iter().map(|c| c.population).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_city_table_is_a_few_hundred_distinct_cities_with_people() {
        let cities = cities().unwrap();
        assert!((200..=400).contains(&cities.len()), "{}", cities.len());
        let names: BTreeSet<&str> = cities.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.len(), cities.len(), "city names are the keys of the random draws: keep them unique");
        assert!(cities.iter().all(|c| c.population >= 100_000 && c.population % 100_000 == 0));
        let total: u64 = cities.iter().map(|c| c.population).sum();
        assert!((1_500_000_000..2_500_000_000).contains(&total), "{total}");
        for region in Region::ALL {
            assert!(cities.iter().any(|c| c.region == region), "no city in {}", region.code());
        }
        let tokyo = cities.iter().find(|c| c.name == "Tokyo").unwrap();
        assert_eq!((tokyo.region, tokyo.population), (Region::Asia, 37_400_000));
    }

    #[test]
    fn the_pop_table_has_20_to_50_distinct_pops_on_every_continent() {
        assert!((20..=50).contains(&POPS.len()));
        let ids: BTreeSet<&str> = POPS.iter().map(|p| p.id).collect();
        assert_eq!(ids.len(), POPS.len());
        for region in Region::ALL {
            assert!(POPS.iter().any(|p| p.region == region), "no PoP in {}", region.code());
        }
        // The first ten cover six regions (the Middle East comes 16th): small prefixes are global.
        let first: BTreeSet<Region> = POPS[..10].iter().map(|p| p.region).collect();
        assert_eq!(first.len(), 6, "{first:?}");
        assert_eq!(POPS.iter().filter(|p| p.region == Region::Europe).count(), 10);
    }

    #[test]
    fn first_pops_keeps_the_rollout_order() {
        let world = World::full().unwrap();
        let small = world.first_pops(3);
        assert_eq!(small.pops.iter().map(|p| p.id).collect::<Vec<_>>(), ["iad", "fra", "sin"]);
        assert_eq!(small.cities.len(), world.cities.len());
        assert_eq!(world.first_pops(100).pops.len(), POPS.len());
    }
}
