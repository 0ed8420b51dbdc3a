//! The PoP's authoritative GSLB DNS server for the edge zone.
//!
//! Every PoP answers for `ZONE` over UDP and TCP on one address: SOA and NS at the apex,
//! `ns-<pop-id>.ZONE` for each PoP's own addresses, and `A`/`AAAA` for the apex and every
//! registered endpoint, chosen per client by `warren-gslb` from the client's location
//! (EDNS Client Subnet, else the source address; located by `warren-geo`). `docs/dns.md` is the
//! operator's description of the behaviour.
//!
//! The PoP supplies the zone's contents through [`DnsView`] (a [`ZoneSnapshot`] per query) and
//! starts the server with [`DnsServer::start`]; [`Responder`] answers packets that arrive some
//! other way (the chaos simulation's turmoil sockets).
//!
//! # Why not hickory-server's `Server` and `RequestHandler`
//!
//! hickory-server parses each packet before a `RequestHandler` sees it and answers malformed ones
//! itself: those could then be neither counted (`warren_dns_malformed_total`) nor answered by
//! our rules. Its EDNS Client Subnet decoding accepts options RFC 7871 says to reject (excess
//! address bytes, bits set beyond the source prefix, a non-zero scope in a query), and the raw
//! option is gone once parsed; its server also spawns a task and logs at INFO per query. So
//! this crate owns the sockets (tokio) and the few header and OPT fields it must read exactly
//! (`wire.rs`: bounds-checked, validating ECS on the bytes received), copies the question into
//! the reply byte for byte (mixed case preserved), and uses hickory-proto for names and records
//! (`encode.rs`), with name compression.
//!
//! Start with `handler.rs` (one packet in, one reply out), then `answer.rs` (what to answer).

mod answer;
mod config;
mod encode;
mod error;
mod from_state;
mod handler;
pub mod metrics;
mod responder;
mod server;
mod view;
mod wire;

pub use config::{DnsConfig, SoaTimers};
pub use error::DnsError;
pub use responder::Responder;
pub use server::{DnsHandle, DnsServer};
pub use view::{DnsView, StaticView, ZoneSnapshot};
pub use warren_gslb::{Params as GslbParams, PopCandidate};
