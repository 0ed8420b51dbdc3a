//! A local OpenID-style identity provider for trying JWT policies, in tests and with
//! `warren dev-idp`.
//!
//! Real identity providers cannot be rotated, switched off or asked for a broken token on demand;
//! this one can, which is what testing a JWT verifier (`warren-jwt`) and its JWKS cache needs:
//!
//! - `GET /.well-known/jwks.json`: the published keys (RFC 7517), counted by [`DevIdp::jwks_fetches`],
//!   answering 503 while [`DevIdp::set_available`] is `false`;
//! - `GET /.well-known/openid-configuration`: `issuer`, `jwks_uri`, `token_endpoint`;
//! - `POST /token`: a JSON or form body (`sub`, `aud`, `ttl_secs`, `alg`, `claims`) answered with
//!   `{"access_token", "token_type": "Bearer", "expires_in"}`;
//! - `POST /rotate?alg=RS256&retire=true`: a new signing key; old keys stay published unless retired.
//!
//! In process, [`DevIdp::mint`] signs a [`TokenSpec`], and the `mint_*` methods make the bad tokens
//! negative tests need (`alg: none`, HS256 keyed with the RSA public key, unknown kid, foreign key).
//!
//! This is an I/O crate (tokio, hyper). Crypto is aws-lc-rs only, never `ring`. It must not depend
//! on any other Warren crate: it stands in for an outside system. Start reading at [`DevIdp`] in
//! `idp.rs`; keys are made in `keys.rs`, tokens in `mint.rs`, HTTP is in `server.rs`.

mod alg;
mod error;
mod form;
mod idp;
mod jwks;
mod keys;
mod mint;
mod server;
mod token_request;

pub use alg::Alg;
pub use error::Error;
pub use idp::{DevIdp, DevIdpOptions, Rotation};
pub use mint::{DEFAULT_TTL, Kid, Time, TokenSpec};
