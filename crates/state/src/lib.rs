//! The replicated state machine of a Warren cluster.
//!
//! Every PoP holds the same [`State`]: it changes only by [`State::apply`]ing a [`Command`], and the
//! same commands in the same order give the same state on every PoP. That is what lets a later
//! layer (`warren-raft`, through openraft) replicate the command log and hand each PoP an identical
//! copy, and what lets a PoP catch up from a [`Snapshot`] instead of the whole log.
//!
//! This crate is pure: no tokio, no hyper, no I/O, no clock and no randomness. The time of a
//! command is an argument of `apply` (in a replicated log it must come from the log entry, never
//! from the applying PoP's own clock), and the random bytes of a new token are an argument of
//! [`new_token`]. It must not depend on any I/O crate; `.ci/check-layers` enforces that.
//!
//! Start reading at [`Command`] and [`State::apply`]; `token.rs` holds the authtoken types and
//! explains why a fast hash is the right one for them.

mod command;
mod error;
mod policy;
mod pops;
mod state;
mod token;

pub use command::{Command, Outcome, Rejection};
pub use error::{AuthError, ParseTokenIdError, RestoreError};
pub use policy::GlobalPolicy;
pub use pops::{Binding, Bindings, PopEntry, PopRecord, Reservation};
pub use state::{Snapshot, State};
pub use token::{SecretHash, TokenId, TokenInfo, TokenSecret, constant_time_eq, new_token};
