//! Traffic policy at the edge: the [`PolicyGuard`] that runs the operator's global policy and
//! then the endpoint's own for every request, and the per-PoP state policies share ([`JwksStore`])
//! or own ([`PolicyEntry`]: verified tokens, rate-limit windows).
//!
//! Evaluation itself is `warren-policy`'s (pure); this module feeds it the request, performs the
//! I/O it asks for (fetching JWKS), and turns its decisions into responses with stable codes.

mod effects;
mod entry;
mod guard;
mod jwks;
mod tcp;
mod view;

pub use entry::PolicyEntry;
pub use guard::{PolicyGuard, PolicySource};
pub use jwks::{JWKS_FETCHES, JwksStore};
pub use tcp::tcp_connect_allowed;
/// The geolocation sources (`conn.geo.*`) live in `warren-geo`, shared with the DNS server.
pub use warren_geo::{GeoDb, GeoNetwork};
