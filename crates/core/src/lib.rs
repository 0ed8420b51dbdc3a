//! Warren's shared vocabulary, at the bottom of the crate graph.
//!
//! Everything here is pure: no I/O, no clock, no async runtime. Higher crates take these types
//! so that a value that reached them has already been validated ("parse, don't validate"):
//! a [`PopId`] is always `[a-z0-9-]{1,32}`, a [`Zone`] is always a lower-case DNS name, and
//! every error the edge shows a user carries one of the stable [`ErrorCode`]s documented in
//! `docs/errors.md`.
//!
//! Start with [`ErrorCode`]; the names module holds the id and hostname types.

mod error_code;
mod names;

pub use error_code::{ErrorCode, ErrorSource};
pub use names::{EndpointName, NameError, PopId, Zone};
