//! The sockets: UDP and TCP on one address, served until the handle says stop.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use warren_geo::GeoDb;

use crate::handler::{Handler, Transport};
use crate::{DnsConfig, DnsError, DnsView};

mod udp;

/// Largest DNS message (the TCP length prefix is 16 bits; a UDP datagram cannot be larger).
const MAX_MESSAGE: usize = u16::MAX as usize;
/// Attempts at finding a port free for both UDP and TCP when asked for port 0.
const PORT_ATTEMPTS: usize = 32;

/// The authoritative GSLB DNS server.
#[derive(Debug)]
pub struct DnsServer;

impl DnsServer {
    /// Binds UDP and TCP on `addr` (port 0: one port free for both) and serves the zone from
    /// `view`, locating clients with `geo`.
    pub async fn start(
        addr: SocketAddr,
        cfg: DnsConfig,
        view: Arc<dyn DnsView>,
        geo: Arc<GeoDb>,
    ) -> Result<DnsHandle, DnsError> {
        let max_tcp = cfg.max_tcp_connections.max(1);
        let tcp = TcpLimits {
            idle: cfg.tcp_idle_timeout,
            per_client: cfg.max_tcp_per_client.max(1),
            total: max_tcp,
            clients: Mutex::new(HashMap::new()),
        };
        let handler = Arc::new(Handler::new(cfg, view, geo)?);
        let (udp, tcp_listener) = bind(addr).await?;
        let (udp_addr, tcp_addr) = (local_addr(&udp, addr, "udp")?, tcp_addr(&tcp_listener, addr)?);
        let udp = Arc::new(udp::Udp::new(udp).map_err(|source| DnsError::Bind { addr, proto: "udp", source })?);
        // A bigger receive buffer rides out bursts; the kernel caps it at net.core.rmem_max.
        let _ = socket2::SockRef::from(udp.socket()).set_recv_buffer_size(4 << 20);

        let (stop, stopped) = watch::channel(false);
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
        let mut tasks = Vec::with_capacity(workers + 1);
        for _ in 0..workers {
            tasks.push(tokio::spawn(udp::serve(udp.clone(), handler.clone(), stopped.clone())));
        }
        let limits = Arc::new(Semaphore::new(max_tcp));
        tasks.push(tokio::spawn(serve_tcp(tcp_listener, handler, limits, Arc::new(tcp), stopped)));
        tracing::info!(udp.addr = %udp_addr, tcp.addr = %tcp_addr, "DNS server listening");
        Ok(DnsHandle { udp_addr, tcp_addr, stop, tasks })
    }
}

/// A running server; dropping it stops the server too, without waiting.
#[derive(Debug)]
pub struct DnsHandle {
    udp_addr: SocketAddr,
    tcp_addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl DnsHandle {
    /// The bound UDP address (the port chosen when asked for 0).
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// The bound TCP address: the same port as UDP.
    pub fn tcp_addr(&self) -> SocketAddr {
        self.tcp_addr
    }

    /// Stops answering and waits until the sockets are closed. Queries in flight on open TCP
    /// connections are answered first.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for DnsHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn bind(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), DnsError> {
    let bind_err = |proto, source| DnsError::Bind { addr, proto, source };
    let mut last = None;
    for _ in 0..if addr.port() == 0 { PORT_ATTEMPTS } else { 1 } {
        let udp = UdpSocket::bind(addr).await.map_err(|e| bind_err("udp", e))?;
        let port = udp.local_addr().map_err(|e| bind_err("udp", e))?.port();
        match TcpListener::bind(SocketAddr::new(addr.ip(), port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            // Port 0 gave a port that is free for UDP only: try another.
            Err(e) if addr.port() == 0 && e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(bind_err("tcp", e)),
        }
    }
    Err(bind_err("tcp", last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse))))
}

fn local_addr(udp: &UdpSocket, addr: SocketAddr, proto: &'static str) -> Result<SocketAddr, DnsError> {
    udp.local_addr().map_err(|source| DnsError::Bind { addr, proto, source })
}

fn tcp_addr(tcp: &TcpListener, addr: SocketAddr) -> Result<SocketAddr, DnsError> {
    tcp.local_addr().map_err(|source| DnsError::Bind { addr, proto: "tcp", source })
}

/// What keeps one client from holding every TCP connection (RFC 7766 §6.2, RFC 9210 §4).
struct TcpLimits {
    idle: Duration,
    /// Connections one client address may hold at once; more are closed on accept.
    per_client: usize,
    total: usize,
    clients: Mutex<HashMap<IpAddr, usize>>,
}

impl TcpLimits {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a connection of `client`, unless it holds its share already.
    fn admit(&self, client: IpAddr) -> bool {
        let mut clients = self.lock();
        let n = clients.entry(client).or_insert(0);
        if *n >= self.per_client {
            return false;
        }
        *n += 1;
        true
    }

    fn release(&self, client: IpAddr) {
        let mut clients = self.lock();
        if let Some(n) = clients.get_mut(&client) {
            *n -= 1;
            if *n == 0 {
                clients.remove(&client);
            }
        }
    }

    /// How long a connection may wait for its next query: the configured idle time, cut to
    /// [`BUSY_IDLE`] while nine in ten connection slots are taken, so idle clients make room.
    fn idle_now(&self, slots: &Semaphore) -> Duration {
        if slots.available_permits() * 10 < self.total { self.idle.min(BUSY_IDLE) } else { self.idle }
    }
}

/// The idle time of TCP connections while the server is near its connection limit.
const BUSY_IDLE: Duration = Duration::from_secs(1);

async fn serve_tcp(
    listener: TcpListener,
    handler: Arc<Handler>,
    slots: Arc<Semaphore>,
    limits: Arc<TcpLimits>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        // Wait for a free slot before accepting: excess connections queue in the backlog.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stopped.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(got) => got,
                Err(error) => {
                    tracing::debug!(%error, "DNS TCP accept failed");
                    continue;
                }
            },
            _ = stopped.changed() => break,
        };
        let client = peer.ip().to_canonical();
        if !limits.admit(client) {
            tracing::debug!(client.addr = %peer, "DNS TCP connection refused: the client holds its share already");
            handler.metrics().tcp_refused();
            continue;
        }
        let (handler, stopped, limits, slots) = (handler.clone(), stopped.clone(), limits.clone(), slots.clone());
        connections.spawn(async move {
            let _permit = permit;
            if let Err(error) = serve_connection(stream, peer.ip(), &handler, &limits, &slots, stopped).await {
                tracing::trace!(%error, client.addr = %peer, "DNS TCP connection ended");
            }
            limits.release(client);
        });
        // Reap finished connections so the set does not grow with the server's lifetime.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

/// Length-prefixed messages, answered in order, until the client closes, stays idle (see
/// [`TcpLimits::idle_now`]), does not read its answers within the idle time, sends something
/// unanswerable, or the server stops.
async fn serve_connection(
    mut stream: TcpStream,
    peer: IpAddr,
    handler: &Handler,
    limits: &TcpLimits,
    slots: &Semaphore,
    mut stopped: watch::Receiver<bool>,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; MAX_MESSAGE];
    let idle = limits.idle;
    loop {
        let wait = limits.idle_now(slots);
        let len = tokio::select! {
            r = tokio::time::timeout(wait, stream.read_u16()) => match r {
                Ok(len) => usize::from(len?),
                Err(_) => return Ok(()),
            },
            _ = stopped.changed() => return Ok(()),
        };
        match tokio::time::timeout(idle, stream.read_exact(&mut buf[..len])).await {
            Ok(r) => r?,
            Err(_) => return Ok(()),
        };
        let started = Instant::now();
        let Some(reply) = handler.handle(&buf[..len], peer, Transport::Tcp) else {
            // Not DNS (or a response): nothing sensible can follow on this stream.
            return Ok(());
        };
        let mut framed = Vec::with_capacity(2 + reply.len());
        framed.extend_from_slice(&(reply.len() as u16).to_be_bytes());
        framed.extend_from_slice(&reply);
        // A client that stops reading must not hold the connection (and a slot) for ever.
        match tokio::time::timeout(idle, stream.write_all(&framed)).await {
            Ok(r) => r?,
            Err(_) => return Ok(()),
        }
        handler.metrics().answered(true, started.elapsed().as_secs_f64());
    }
}
