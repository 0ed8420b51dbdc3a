//! The PoP's public HTTP and HTTPS listeners.
//!
//! [`EdgeServer::start`] binds the http and https listeners (HTTP/1.1 and HTTP/2 on both,
//! WebSocket and other upgrades included), terminates TLS with a certificate chosen by SNI
//! (from PEM files or a local dev CA), routes each request by its host through a [`Router`]
//! to a tunnel stream, and hands the exchange to `warren-proxy`. Failures become error
//! responses with stable codes ([`error_response`]).
//!
//! What this crate does not know: QUIC, the endpoint registry, the cluster and traffic
//! policy. The PoP supplies them through [`Router`] and [`RequestGuard`].
//!
//! Start with [`EdgeServer`], then `service.rs` for the path of one request.

mod compress;
mod error;
pub mod metrics;
pub mod policy;
mod respond;
mod router;
mod server;
mod service;
mod tls;

pub use compress::CompressWith;
pub use error::EdgeError;
pub use respond::{ERROR_CODE_HEADER, error_response};
pub use router::{AllowAll, BoxFuture, GuardOutcome, RequestContext, RequestGuard, Router};
pub use server::{EdgeConfig, EdgeHandle, EdgeServer};
pub use tls::{CertStore, DevCa, TlsSource};
pub use warren_proxy::Proto;
