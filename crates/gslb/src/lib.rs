//! Global server load balancing decisions: which PoP a DNS answer should send a client to.
//!
//! Input: the PoPs ([`PopCandidate`]: location, addresses, health, drain flag, weight), where the
//! client is (if known), which PoP is answering, and which PoPs hold a live tunnel for the asked
//! endpoint. Output: the PoP to hand out for `A` and for `AAAA` ([`answer`], [`choose`]).
//!
//! Pure: no I/O, no clock, no async runtime, no DNS types. Equal inputs give equal answers on
//! every PoP, which is what makes the cluster's answers consistent. `warren-dns` turns the
//! decisions into records; `docs/dns.md` explains the rules for operators.
//!
//! Start with [`choose`].

mod distance;
mod rank;

pub use distance::{EARTH_RADIUS_KM, haversine_km};
pub use rank::{Answer, Choice, Family, Params, PopCandidate, Reason, Request, answer, choose};
