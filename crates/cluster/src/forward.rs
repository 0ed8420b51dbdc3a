//! Any PoP serves any endpoint: a request for an endpoint whose agents are connected elsewhere
//! is carried to a PoP that holds one of its tunnels.
//!
//! The first PoP runs the edge as usual (TLS, routing, the endpoint's traffic policy, which the
//! replicated bindings carry) and then, instead of a tunnel stream to an agent, opens a cluster
//! stream to the holding PoP with a [`ForwardRequest`]. That PoP opens a tunnel stream to its
//! agent and splices the two byte for byte. The frames are the tunnel protocol's own, so
//! streaming bodies, trailers, WebSocket and raw TCP behave exactly as on a local tunnel, and a
//! forwarded request is never forwarded again (no loops).

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tracing::debug;
use warren_core::ErrorCode;
use warren_tunnel::framed::write_frame;
use warren_tunnel::{BoxRead, BoxWrite, TunnelStream};

use crate::metrics;
use crate::node::Inner;
use crate::rpc::{ForwardRequest, MAX_RPC, Rpc, RpcReply};

/// Opening a forwarded stream, including the holder's own stream to its agent.
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// The same, when another holder is left to try: a holder that just died (its health not yet
/// known) must not hold a request for the whole [`OPEN_TIMEOUT`]. Nothing of the request has
/// been sent when an attempt is abandoned, so trying the next holder cannot run it twice.
const OPEN_TIMEOUT_WITH_FALLBACK: Duration = Duration::from_millis(1500);

/// Great-circle distance in km (haversine, mean Earth radius).
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1, lat2, lon2) = (a.0.to_radians(), a.1.to_radians(), b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().min(1.0).asin()
}

/// `holders` without this PoP, healthy ones first, each group nearest first.
fn order(inner: &Inner, holders: Vec<String>) -> Vec<(String, String)> {
    let here = (inner.record.lat, inner.record.lon);
    let mut v: Vec<(bool, f64, String, String)> = inner.shared.read(|s| {
        holders
            .into_iter()
            .filter(|h| *h != inner.me)
            .filter_map(|h| {
                let r = s.pop_record(&h)?;
                let d = distance_km(here, (r.lat, r.lon));
                Some((!inner.health.healthy(&h), d, h, r.cluster_addr.clone()))
            })
            .collect()
    });
    v.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
    v.into_iter().map(|(_, _, id, addr)| (id, addr)).collect()
}

pub(crate) async fn open(
    inner: &Arc<Inner>,
    req: ForwardRequest,
    holders: Vec<String>,
) -> Result<TunnelStream, ErrorCode> {
    let mut last = ErrorCode::EndpointOffline;
    let rpc = Rpc::Forward(req);
    let ordered = order(inner, holders);
    let count = ordered.len();
    for (i, (pop, addr)) in ordered.into_iter().enumerate() {
        let timeout = if i + 1 < count { OPEN_TIMEOUT_WITH_FALLBACK } else { OPEN_TIMEOUT };
        match inner.transport.open(&addr, &rpc, timeout).await {
            Ok((RpcReply::Forward(Ok(())), stream)) => {
                ::metrics::counter!(metrics::CLUSTER_FORWARDED, "result" => "ok").increment(1);
                return Ok(stream);
            }
            Ok((RpcReply::Forward(Err(code)), _)) => {
                debug!(%pop, %code, "the holding PoP could not reach its agent");
                last = ErrorCode::from_code(&code).unwrap_or(ErrorCode::ClusterForwardFailed);
            }
            Ok(_) => last = ErrorCode::ClusterForwardFailed,
            Err(e) => {
                debug!(%pop, error = %e, "cannot forward to the holding PoP");
                last = ErrorCode::ClusterForwardFailed;
            }
        }
    }
    ::metrics::counter!(metrics::CLUSTER_FORWARDED, "result" => "failed").increment(1);
    Err(last)
}

/// The holding PoP's half: a stream to a local agent, then the splice.
pub(crate) async fn serve(inner: &Arc<Inner>, req: ForwardRequest, mut stream: TunnelStream) {
    let local = inner.local.read().unwrap_or_else(PoisonError::into_inner).clone();
    let opened = match local {
        Some(local) => tokio::time::timeout(OPEN_TIMEOUT, local.open_local(&req))
            .await
            .unwrap_or(Err(ErrorCode::TunnelStreamFailed)),
        None => Err(ErrorCode::EndpointNotFound),
    };
    let agent = match opened {
        Ok(agent) => agent,
        Err(code) => {
            ::metrics::counter!(metrics::CLUSTER_FORWARD_RECEIVED, "result" => "refused").increment(1);
            let reply = RpcReply::Forward(Err(code.as_str().to_owned()));
            if write_frame(&mut stream.send, &reply, MAX_RPC).await.is_ok() {
                let _ = stream.send.shutdown().await;
            }
            return;
        }
    };
    if write_frame(&mut stream.send, &RpcReply::Forward(Ok(())), MAX_RPC).await.is_err() {
        return;
    }
    ::metrics::counter!(metrics::CLUSTER_FORWARD_RECEIVED, "result" => "ok").increment(1);
    splice(stream, agent).await;
}

/// Copies both directions until each ends. A clean end is passed on as a clean end
/// (half-close); an error drops the writer, which resets the stream on the other side, so a
/// cut-off body is never mistaken for a complete one.
async fn splice(a: TunnelStream, b: TunnelStream) {
    let TunnelStream { send: a_send, recv: a_recv } = a;
    let TunnelStream { send: b_send, recv: b_recv } = b;
    tokio::join!(pipe(a_recv, b_send), pipe(b_recv, a_send));
}

async fn pipe(mut from: BoxRead, mut to: BoxWrite) {
    match tokio::io::copy(&mut from, &mut to).await {
        Ok(_) => {
            let _ = to.shutdown().await;
        }
        Err(e) => debug!(error = %e, "forwarded stream aborted"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_match_known_city_pairs() {
        let fra = (50.11, 8.68);
        let iad = (39.04, -77.49);
        let sin = (1.35, 103.82);
        // Reference great-circle distances, to within 1 %.
        for (a, b, km) in [(fra, iad, 6_560.0), (fra, sin, 10_260.0), (iad, sin, 15_560.0)] {
            let d = distance_km(a, b);
            assert!((d - km).abs() / km < 0.01, "{d} vs {km}");
        }
        assert_eq!(distance_km(fra, fra), 0.0);
    }
}
