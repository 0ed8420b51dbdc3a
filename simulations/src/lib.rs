//! Warren at world scale, simulated: what one machine cannot show with real PoPs.
//!
//! Two simulations. The **GSLB world model** ([`gslb`]): Warren's real ranking code
//! (`warren-gslb`, the same `choose` the DNS server calls) against a synthetic planet — 43 PoPs at
//! the cities of real cloud regions, 391 client cities weighted by population, a route-inflated
//! fibre latency model — next to round-robin, nearest-only, anycast-like routing and an oracle,
//! in normal operation and with a region down. Everything random is drawn from ChaCha streams
//! keyed by the seed and by the names involved, so one seed gives byte-identical CSVs and SVGs.
//!
//! The **chaos simulation** ([`chaos`]): Warren's real cluster (openraft over the QUIC transport,
//! the redb store, the state machine, health, forwarding), DNS server logic (real packets) and
//! tunnels (the PoP's listener and the agents' sessions) on N PoPs over turmoil's deterministic
//! network, through crashes, partitions, lossy and slow links, then a recovery, with invariants
//! checked after; the same seed gives the same trace.
//!
//! The GSLB model is pure apart from [`gslb::run`], which writes the files: the model itself is a
//! function from a seed to file contents ([`gslb::model`]), which is what its replay test
//! compares. Start reading at [`gslb`] or [`chaos`].

pub mod chaos;
pub mod gslb;

mod error;

pub use error::SimError;
