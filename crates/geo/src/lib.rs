//! Where a client is: the PoP's static `geo.networks` first, then a MaxMind City-format
//! database (`geo.mmdb`, read with the `maxminddb` crate).
//!
//! Two callers with different needs share one [`GeoDb`]:
//! - traffic policy (`conn.geo.*` in `warren-edge`) wants the whole record: [`GeoDb::lookup`];
//! - GSLB DNS (`warren-dns`) wants coordinates *and* the size of the address block the answer
//!   holds for, which becomes the EDNS Client Subnet scope: [`GeoDb::locate`].
//!
//! The only I/O is reading the database file once, in [`GeoDb::load`]; lookups are pure and
//! allocation-free on the `locate` path. This crate must not depend on an async runtime or on any
//! other Warren crate: it sits below both the edge and the DNS server.
//!
//! Start with [`GeoDb::locate`] and its notes on how the prefix is computed.

mod db;
mod error;
mod prefix;

pub use db::{Coordinates, GeoDb, GeoNetwork, Located, Location, Source};
pub use error::GeoError;
