//! A raw TCP echo server on 127.0.0.1:0, for TCP endpoints.
//!
//! A pure echo that respects half-close: when the client shuts down its write side, the server
//! finishes writing back what it read, then shuts down its own write side. A test can thus check
//! that EOF travels end to end through a tunnel in both directions.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::Error;

/// A running TCP echo server. Stops when dropped.
#[derive(Debug)]
pub struct TcpEchoBackend {
    addr: SocketAddr,
    connections: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl TcpEchoBackend {
    pub async fn start() -> Result<Self, Error> {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.map_err(Error::io("cannot bind the TCP echo backend"))?;
        let addr = listener.local_addr().map_err(Error::io("local_addr"))?;
        let connections = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            let mut tasks = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        counter.fetch_add(1, Ordering::SeqCst);
                        tasks.spawn(async move {
                            let (mut rd, mut wr) = stream.into_split();
                            // copy returns at the client's EOF, after writing everything it read.
                            if tokio::io::copy(&mut rd, &mut wr).await.is_ok() {
                                let _ = wr.shutdown().await;
                            }
                        });
                    }
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                }
            }
        });
        Ok(Self { addr, connections, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for TcpEchoBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}
