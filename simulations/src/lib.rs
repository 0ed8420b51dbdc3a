//! Warren at world scale, simulated: what one machine cannot show with real PoPs.
//!
//! Today this crate holds the **GSLB world model** ([`gslb`]): Warren's real ranking code
//! (`warren-gslb`, the same `choose` the DNS server calls) against a synthetic planet — 43 PoPs at
//! the cities of real cloud regions, 391 client cities weighted by population, a route-inflated
//! fibre latency model — next to round-robin, nearest-only, anycast-like routing and an oracle,
//! in normal operation and with a region down. Everything random is drawn from ChaCha streams
//! keyed by the seed and by the names involved, so one seed gives byte-identical CSVs and SVGs.
//!
//! The cluster chaos simulation (Warren's real cluster, DNS and tunnel code over a simulated
//! network) is planned for this crate too and is not built yet.
//!
//! Pure apart from [`gslb::run`], which writes the files: the model itself is a function from a
//! seed to file contents ([`gslb::model`]), which is what the replay test compares. Start reading
//! at [`gslb`].

pub mod gslb;

mod error;

pub use error::SimError;
