//! The cluster listener: authenticate each connection, then answer its streams.

use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, warn};
use warren_raft::Response;
use warren_tunnel::TunnelStream;
use warren_tunnel::framed::{read_frame, write_frame};

use crate::node::{Inner, WRITE_TIMEOUT};
use crate::rpc::{MAX_RPC, Rpc, RpcReply};
use crate::{auth, metrics};

/// How long a fresh connection has to prove it holds the secret.
const AUTH_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) async fn run(inner: Arc<Inner>) {
    let endpoint = inner.transport.endpoint().clone();
    while let Some(incoming) = endpoint.accept().await {
        let inner = inner.clone();
        tokio::spawn(async move {
            let conn = match incoming.await {
                Ok(c) => c,
                Err(e) => return debug!(error = %e, "cluster handshake failed"),
            };
            let remote = conn.remote_address();
            let secret = inner.transport.secret.clone();
            let peer = match tokio::time::timeout(AUTH_TIMEOUT, auth::accept(&conn, &secret, &inner.me)).await {
                Ok(Ok(peer)) => peer,
                Ok(Err(reason)) => {
                    metrics::auth_failure("inbound");
                    return warn!(%remote, %reason, "cluster connection refused");
                }
                Err(_) => {
                    metrics::auth_failure("inbound");
                    conn.close(auth::CLOSE_AUTH_FAILED.into(), b"authentication timed out");
                    return warn!(%remote, "cluster connection refused: no authentication in time");
                }
            };
            debug!(peer, %remote, "cluster peer connected");
            while let Ok((send, recv)) = conn.accept_bi().await {
                tokio::spawn(handle(inner.clone(), TunnelStream::from_quic(send, recv)));
            }
        });
    }
}

async fn handle(inner: Arc<Inner>, mut stream: TunnelStream) {
    let rpc = match read_frame::<_, Rpc>(&mut stream.recv, MAX_RPC).await {
        Ok(Some(rpc)) => rpc,
        Ok(None) => return,
        Err(e) => {
            ::metrics::counter!(metrics::CLUSTER_MALFORMED).increment(1);
            return debug!(error = %e, "malformed cluster frame; stream dropped");
        }
    };
    let reply = match rpc {
        Rpc::Forward(req) => return crate::forward::serve(&inner, req, stream).await,
        Rpc::AppendEntries(r) => RpcReply::AppendEntries(inner.raft.append_entries(r).await),
        Rpc::Vote(r) => RpcReply::Vote(inner.raft.vote(r).await),
        Rpc::InstallSnapshot(r) => RpcReply::InstallSnapshot(inner.raft.install_snapshot(r).await),
        Rpc::Write(req) => RpcReply::Write(
            inner
                .write_here(req, WRITE_TIMEOUT)
                .await
                .map(|(index, outcome)| (index, Response { outcome: Some(outcome) })),
        ),
        rpc @ (Rpc::Join { .. } | Rpc::AddMember { .. } | Rpc::RemoveMember { .. }) => {
            RpcReply::Membership(inner.membership_here(&rpc).await)
        }
        Rpc::Ping { .. } => RpcReply::Pong { pop: inner.me.clone(), last_applied: inner.shared.last_applied() },
    };
    if write_frame(&mut stream.send, &reply, MAX_RPC).await.is_ok() {
        use tokio::io::AsyncWriteExt;
        let _ = stream.send.shutdown().await;
    }
}
