//! One packet in, at most one packet out: parse, decide, encode, count.

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::rr::Name;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use warren_geo::GeoDb;

use crate::answer::{self, Rcode, Reply};
use crate::metrics::Handles;
use crate::wire::{self, Edns, Malformed};
use crate::{DnsConfig, DnsError, DnsView};

/// The transport a query came over: it sets the reply's size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Udp,
    Tcp,
}

/// Smallest UDP payload every DNS client accepts (RFC 1035), also the floor for EDNS sizes
/// (RFC 6891 §6.2.5: smaller values are treated as 512).
const MIN_UDP_PAYLOAD: usize = 512;

/// Everything needed to answer, shared by all sockets.
pub(crate) struct Handler {
    cfg: DnsConfig,
    view: Arc<dyn DnsView>,
    geo: Arc<GeoDb>,
    /// The zone's labels, lower case, for matching questions.
    zone_labels: Vec<Vec<u8>>,
    apex: Name,
    hostmaster: Name,
    /// The SOA's primary name server, `ns-<self_id>.<zone>`.
    mname: Name,
    metrics: Handles,
}

impl Handler {
    pub(crate) fn new(cfg: DnsConfig, view: Arc<dyn DnsView>, geo: Arc<GeoDb>) -> Result<Handler, DnsError> {
        let zone_labels: Vec<Vec<u8>> = cfg.zone.as_str().split('.').map(|l| l.as_bytes().to_vec()).collect();
        let mut apex = Name::from_labels(zone_labels.iter().map(Vec::as_slice))
            .map_err(|e| DnsError::Config { field: "zone", reason: e.to_string() })?;
        apex.set_fqdn(true);
        let child = |label: &str| apex.prepend_label(label.as_bytes());
        let hostmaster = child("hostmaster").map_err(|e| DnsError::Config { field: "zone", reason: e.to_string() })?;
        let ns_label = format!("ns-{}", cfg.self_id);
        let valid = warren_core::PopId::parse(&cfg.self_id).is_ok();
        let mname = child(&ns_label).ok().filter(|_| valid).ok_or_else(|| DnsError::Config {
            field: "self_id",
            reason: format!("{:?} is not a PoP id usable in the name {ns_label}.{}", cfg.self_id, cfg.zone),
        })?;
        Ok(Handler { cfg, view, geo, zone_labels, apex, hostmaster, mname, metrics: Handles::new() })
    }

    pub(crate) fn cfg(&self) -> &DnsConfig {
        &self.cfg
    }
    pub(crate) fn view(&self) -> &dyn DnsView {
        &*self.view
    }
    pub(crate) fn geo(&self) -> &GeoDb {
        &self.geo
    }
    pub(crate) fn zone_labels(&self) -> &[Vec<u8>] {
        &self.zone_labels
    }
    pub(crate) fn apex(&self) -> &Name {
        &self.apex
    }
    pub(crate) fn hostmaster(&self) -> &Name {
        &self.hostmaster
    }
    pub(crate) fn mname(&self) -> &Name {
        &self.mname
    }
    pub(crate) fn metrics(&self) -> &Handles {
        &self.metrics
    }

    /// `ns-<pop_id>.<zone>`, if the id makes a DNS label.
    pub(crate) fn ns_name(&self, pop_id: &str) -> Option<Name> {
        self.apex.prepend_label(format!("ns-{pop_id}").as_bytes()).ok()
    }

    fn limit(&self, transport: Transport, edns: Option<&Edns>) -> usize {
        match (transport, edns) {
            (Transport::Tcp, _) => usize::from(u16::MAX),
            (Transport::Udp, None) => MIN_UDP_PAYLOAD,
            (Transport::Udp, Some(e)) => usize::from(e.payload.min(self.cfg.max_udp_payload)).max(MIN_UDP_PAYLOAD),
        }
    }

    /// The reply to one packet, or `None` when it is dropped.
    pub(crate) fn handle(&self, packet: &[u8], src: IpAddr, transport: Transport) -> Option<Vec<u8>> {
        let payload = self.cfg.max_udp_payload;
        let query = match wire::parse(packet) {
            Ok(q) => q,
            Err(Malformed::Drop) => {
                self.metrics.malformed();
                tracing::trace!(client.addr = %src, len = packet.len(), "DNS packet dropped");
                return None;
            }
            Err(Malformed::FormErr { head, question, edns }) => {
                self.metrics.malformed();
                self.metrics.query(question.map(|q| q.1), Rcode::FormErr);
                tracing::trace!(client.addr = %src, "DNS query malformed: FORMERR");
                let reply = Reply::bare(Rcode::FormErr, false);
                let limit = self.limit(transport, edns.as_ref());
                return Some(crate::encode::encode(
                    &head,
                    question.map(|q| q.0),
                    edns.as_ref(),
                    &reply,
                    limit,
                    payload,
                ));
            }
        };
        if query.edns.is_some_and(|e| e.ecs.is_some()) {
            self.metrics.ecs();
        }
        let reply = match Name::read(&mut BinDecoder::new(query.qname())) {
            Ok(name) => answer::decide(self, &query, &name, src),
            // Checked by wire::parse already; hickory's rules are the last word.
            Err(_) => {
                self.metrics.malformed();
                Reply::bare(Rcode::FormErr, false)
            }
        };
        self.metrics.query(Some(query.qtype), reply.rcode);
        let limit = self.limit(transport, query.edns.as_ref());
        Some(crate::encode::encode(&query.head, Some(query.question), query.edns.as_ref(), &reply, limit, payload))
    }
}

#[cfg(test)]
mod tests;
