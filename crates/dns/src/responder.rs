//! The server's answers without its sockets: one query packet in, at most one reply out.
//!
//! [`DnsServer`](crate::DnsServer) owns tokio sockets. Code that moves datagrams some other way
//! — the chaos simulation (`simulations/`) serves every simulated PoP's zone on turmoil's UDP,
//! whose sockets are not tokio's — uses a [`Responder`] instead: the same parsing, answer rules,
//! encoding (size limits, truncation) and metrics as the server, with no I/O of its own.

use std::net::IpAddr;
use std::sync::Arc;

use warren_geo::GeoDb;

use crate::handler::{Handler, Transport};
use crate::{DnsConfig, DnsError, DnsView};

/// Answers DNS packets exactly as the server's UDP sockets do.
pub struct Responder {
    handler: Handler,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder").field("zone", &self.handler.cfg().zone).finish_non_exhaustive()
    }
}

impl Responder {
    /// Checks `cfg` as [`DnsServer::start`](crate::DnsServer::start) does; the zone is read
    /// from `view` for every packet, clients are located with `geo`.
    pub fn new(cfg: DnsConfig, view: Arc<dyn DnsView>, geo: Arc<GeoDb>) -> Result<Responder, DnsError> {
        Ok(Responder { handler: Handler::new(cfg, view, geo)? })
    }

    /// The reply to a UDP datagram from `src` (the sender's address, located when the query
    /// carries no EDNS Client Subnet), or `None` when the server would send nothing back.
    /// Replies are limited to the client's EDNS buffer size (512 bytes without EDNS, at most
    /// `max_udp_payload`) and truncated (TC) beyond it.
    pub fn answer_udp(&self, packet: &[u8], src: IpAddr) -> Option<Vec<u8>> {
        self.handler.handle(packet, src, Transport::Udp)
    }
}
