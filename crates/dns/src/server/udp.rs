//! The UDP side: queries received in batches, each answered and sent on its own.
//!
//! One `recvfrom` and one `sendto` per query left three quarters of the time per answer in the
//! kernel. quinn-udp's `UdpSocketState::recv` takes up to [`BATCH_SIZE`] datagrams per system
//! call (`recvmmsg` on Linux) without `unsafe` here. Its socket set-up turns on a few options
//! meant for QUIC; with replies capped at `max_udp_payload` (1232 bytes: no fragmentation on
//! common paths) they change nothing a client can see:
//!
//! - UDP GRO: the kernel may hand over several datagrams of one sender in one buffer, cut at
//!   `stride` bytes; [`datagrams`] splits them again, so each is answered as if received alone;
//! - path MTU discovery in "probe" mode (IPv4) and `IPV6_DONTFRAG`: replies are never
//!   fragmented by this host, as RFC 9715 recommends for DNS over UDP;
//! - packet info and TOS/traffic class ancillary data on receive, which is ignored.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use quinn_udp::{BATCH_SIZE, RecvMeta, UdpSockRef, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::MAX_MESSAGE;
use crate::handler::{Handler, Transport};

/// The UDP socket, shared by the server's UDP loops.
pub(super) struct Udp {
    socket: UdpSocket,
    state: UdpSocketState,
}

impl Udp {
    pub(super) fn new(socket: UdpSocket) -> io::Result<Udp> {
        let state = UdpSocketState::new(UdpSockRef::from(&socket))?;
        Ok(Udp { socket, state })
    }

    pub(super) fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// Waits for datagrams and takes up to [`BATCH_SIZE`] of them into `bufs`, one buffer of
    /// [`MAX_MESSAGE`] bytes each (none is ever truncated), described by `meta`.
    async fn recv(&self, bufs: &mut [u8], meta: &mut [RecvMeta; BATCH_SIZE]) -> io::Result<usize> {
        self.socket
            .async_io(Interest::READABLE, || {
                let mut chunks = bufs.chunks_exact_mut(MAX_MESSAGE);
                let mut iovs: [IoSliceMut<'_>; BATCH_SIZE] =
                    std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
                self.state.recv(UdpSockRef::from(&self.socket), &mut iovs, &mut meta[..])
            })
            .await
    }
}

/// One of the loops sharing the UDP socket: receive a batch, answer and send each query in
/// it, never waiting on anything but the socket.
pub(super) async fn serve(udp: Arc<Udp>, handler: Arc<Handler>, mut stopped: watch::Receiver<bool>) {
    // Never touched beyond what the datagrams fill: the pages stay unallocated.
    let mut bufs = vec![0u8; BATCH_SIZE * MAX_MESSAGE];
    let mut meta = [RecvMeta::default(); BATCH_SIZE];
    loop {
        let received = tokio::select! {
            r = udp.recv(&mut bufs, &mut meta) => r,
            _ = stopped.changed() => return,
        };
        let count = match received {
            Ok(count) => count,
            Err(error) => {
                // ICMP errors of earlier sends surface here (e.g. ECONNREFUSED): not fatal.
                tracing::debug!(%error, "DNS UDP receive failed");
                continue;
            }
        };
        for (m, buf) in meta[..count].iter().zip(bufs.chunks_exact(MAX_MESSAGE)) {
            for packet in datagrams(&buf[..m.len.min(MAX_MESSAGE)], m.stride) {
                answer(&udp, &handler, packet, m.addr).await;
            }
        }
    }
}

async fn answer(udp: &Udp, handler: &Handler, packet: &[u8], peer: SocketAddr) {
    let started = Instant::now();
    // A reply to port 0 cannot arrive anywhere: whoever sent that is spoofing.
    if peer.port() == 0 {
        return;
    }
    if let Some(reply) = handler.handle(packet, peer.ip(), Transport::Udp) {
        if let Err(error) = udp.socket.send_to(&reply, peer).await {
            tracing::debug!(%error, client.addr = %peer, "DNS UDP send failed");
        }
        handler.metrics().answered(false, started.elapsed().as_secs_f64());
    }
}

/// The datagrams in one received buffer: `stride` bytes each (the last may be shorter) when the
/// kernel coalesced several (GRO), else the whole buffer, empty datagrams included.
fn datagrams(data: &[u8], stride: usize) -> impl Iterator<Item = &[u8]> {
    let stride = if stride == 0 { data.len() } else { stride };
    data.chunks(stride.max(1)).chain(data.is_empty().then_some(data))
}

#[cfg(test)]
mod tests {
    use super::datagrams;

    #[test]
    fn coalesced_datagrams_are_split_at_the_stride() {
        let data: Vec<u8> = (0..10).collect();
        let got: Vec<&[u8]> = datagrams(&data, 4).collect();
        assert_eq!(got, [&data[0..4], &data[4..8], &data[8..10]]);
        assert_eq!(datagrams(&data, 10).collect::<Vec<_>>(), [&data[..]]);
        assert_eq!(datagrams(&data, 0).collect::<Vec<_>>(), [&data[..]], "no stride: one datagram");
        assert_eq!(datagrams(&data, 64).collect::<Vec<_>>(), [&data[..]]);
    }

    #[test]
    fn an_empty_datagram_is_still_a_datagram() {
        // It is answered by nothing but counted as malformed, as before batching.
        assert_eq!(datagrams(&[], 0).collect::<Vec<_>>(), [&[] as &[u8]]);
        assert_eq!(datagrams(&[], 4).collect::<Vec<_>>(), [&[] as &[u8]]);
    }
}
