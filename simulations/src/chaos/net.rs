//! QUIC over turmoil: quinn's [`AsyncUdpSocket`] on a simulated UDP socket, and the faults the
//! simulation puts on links that turmoil does not model itself.
//!
//! quinn only needs three things from a runtime: timers, `spawn` and a socket. Its own
//! [`quinn::TokioRuntime`] already takes its timers and `now()` from tokio's clock, which turmoil
//! drives (every host runs on a paused tokio runtime that turmoil advances one tick at a time), so
//! only the socket needs an adapter: [`SimSocket`] sends with `try_send_to` (turmoil's UDP never
//! pushes back) and receives by polling a stored `readable()` future, then `try_recv_from`.
//!
//! Turmoil drops every message of a partitioned link and delays each by the link's latency, but
//! its only loss model breaks a whole link at random; independent per-datagram loss (a lossy
//! link) is done here, on send, with a draw keyed by the seed, the direction, the millisecond and
//! the datagram's number within it.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};

/// Per-link datagram loss, shared by every host's socket.
#[derive(Debug)]
pub(crate) struct Faults {
    seed: u64,
    /// Loss probability per unordered pair of host addresses.
    loss: BTreeMap<(IpAddr, IpAddr), f64>,
    /// Per direction: the millisecond of the last datagram, and how many were sent in it.
    counters: BTreeMap<(IpAddr, IpAddr), (u64, u64)>,
    /// Datagrams dropped so far (reported in the summary).
    pub(crate) dropped: u64,
    /// Datagrams and bytes sent so far.
    pub(crate) sent: (u64, u64),
}

pub(crate) type SharedFaults = Arc<Mutex<Faults>>;

/// SplitMix64's finaliser: a well-spread 64-bit hash.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn ip_bits(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => u64::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6) as u64,
    }
}

fn pair(a: IpAddr, b: IpAddr) -> (IpAddr, IpAddr) {
    if a <= b { (a, b) } else { (b, a) }
}

impl Faults {
    pub(crate) fn new(seed: u64) -> SharedFaults {
        Arc::new(Mutex::new(Faults {
            seed,
            loss: BTreeMap::new(),
            counters: BTreeMap::new(),
            dropped: 0,
            sent: (0, 0),
        }))
    }

    /// Sets the loss rate of the link between `a` and `b` (0 removes it).
    pub(crate) fn set_loss(&mut self, a: IpAddr, b: IpAddr, rate: f64) {
        if rate > 0.0 {
            self.loss.insert(pair(a, b), rate);
        } else {
            self.loss.remove(&pair(a, b));
        }
    }

    pub(crate) fn clear(&mut self) {
        self.loss.clear();
    }

    /// Whether the next datagram from `from` to `to`, sent at `now_ms`, is lost.
    ///
    /// The draw is a function of the seed, the direction, the millisecond and the datagram's
    /// number within it, not of a shared stream: two hosts sending in one tick in another order
    /// (tokio may wake tasks in either order within a tick, see `history.rs`), or a TLS flight
    /// taking one datagram more (see `chaos.rs`), must not shift the losses of everything after.
    fn drops(&mut self, from: IpAddr, to: IpAddr, now_ms: u64) -> bool {
        let (ms, n) = self.counters.entry((from, to)).or_insert((now_ms, 0));
        if *ms != now_ms {
            (*ms, *n) = (now_ms, 0);
        }
        *n += 1;
        let Some(rate) = self.loss.get(&pair(from, to)).copied() else { return false };
        let bits = mix(mix(mix(mix(self.seed ^ ip_bits(from)) ^ ip_bits(to)) ^ now_ms) ^ *n);
        // 53 random bits, as a float in [0, 1).
        let draw = (bits >> 11) as f64 / (1u64 << 53) as f64;
        let lost = draw < rate;
        self.dropped += u64::from(lost);
        lost
    }
}

type Readable = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

/// A turmoil UDP socket as quinn sees it.
pub(crate) struct SimSocket {
    inner: Arc<turmoil::net::UdpSocket>,
    /// The host's address (the socket is bound to the unspecified one).
    ip: IpAddr,
    faults: SharedFaults,
    /// The pending wait for a datagram, kept between polls.
    readable: Mutex<Option<Readable>>,
}

impl fmt::Debug for SimSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimSocket").field("ip", &self.ip).finish_non_exhaustive()
    }
}

impl SimSocket {
    pub(crate) fn new(inner: turmoil::net::UdpSocket, ip: IpAddr, faults: SharedFaults) -> SimSocket {
        SimSocket { inner: Arc::new(inner), ip, faults, readable: Mutex::new(None) }
    }
}

/// Turmoil's UDP has no send buffer to fill: always writable.
#[derive(Debug)]
struct AlwaysWritable;

impl UdpPoller for AlwaysWritable {
    fn poll_writable(self: Pin<&mut Self>, _cx: &mut Context) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncUdpSocket for SimSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Box::pin(AlwaysWritable)
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        let segment = transmit.segment_size.unwrap_or(transmit.contents.len()).max(1);
        for datagram in transmit.contents.chunks(segment) {
            let lost = {
                let mut faults = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
                faults.sent.0 += 1;
                faults.sent.1 += datagram.len() as u64;
                let now_ms = turmoil::sim_elapsed().map_or(0, |d| d.as_millis() as u64);
                faults.drops(self.ip, transmit.destination.ip(), now_ms)
            };
            if !lost {
                self.inner.try_send_to(datagram, transmit.destination)?;
            }
        }
        Ok(())
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let (Some(buf), Some(meta)) = (bufs.first_mut(), meta.first_mut()) else { return Poll::Ready(Ok(0)) };
        let mut readable = self.readable.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            // A pending `readable()` holds the socket's receive lock: finish it before reading.
            if let Some(wait) = readable.as_mut() {
                match wait.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(result) => {
                        *readable = None;
                        result?;
                    }
                }
            }
            match self.inner.try_recv_from(buf) {
                Ok((len, addr)) => {
                    *meta = RecvMeta { addr, len, stride: len, ecn: None, dst_ip: Some(self.ip) };
                    return Poll::Ready(Ok(1));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let socket = self.inner.clone();
                    *readable = Some(Box::pin(async move { socket.readable().await }));
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A QUIC endpoint on `socket` with quinn's tokio runtime (whose clock turmoil drives) and a
/// generator seeded with `seed` for everything quinn draws per connection.
pub(crate) fn endpoint(socket: SimSocket, seed: [u8; 32]) -> io::Result<quinn::Endpoint> {
    let mut config = quinn::EndpointConfig::default();
    config.rng_seed(Some(seed));
    quinn::Endpoint::new_with_abstract_socket(config, None, Arc::new(socket), Arc::new(quinn::TokioRuntime))
}
