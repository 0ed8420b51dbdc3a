//! Mutual authentication of two PoPs on a fresh QUIC connection.
//!
//! The dialler opens the first stream and sends `Hello` with an HMAC (keyed by the cluster
//! secret) over the TLS exporter of this connection, its role and its PoP id; the listener checks
//! it and answers with its own proof for the other role. Nothing else is read or answered on a
//! connection before this succeeds, so a process without the secret can neither join, read nor
//! write: it learns only that it was refused.

use serde::{Deserialize, Serialize};
use warren_tunnel::framed::{read_frame, write_frame};

use crate::secret::ClusterSecret;

/// 2: openraft with `single-term-leader` (votes and log ids no longer carry a node id next to the
/// term), so a PoP of protocol 1 could not read this one's Raft messages.
const PROTOCOL_VERSION: u32 = 2;
const EXPORTER_LABEL: &[u8] = b"EXPORTER-warren-cluster-auth";
const MAX_HELLO: usize = 4096;
/// QUIC application close code: authentication failed.
pub(crate) const CLOSE_AUTH_FAILED: u32 = 0x41;

#[derive(Debug, Serialize, Deserialize)]
struct Hello {
    version: u32,
    pop: String,
    proof: [u8; 32],
}

#[derive(Debug, Serialize, Deserialize)]
enum HelloReply {
    Welcome { pop: String, proof: [u8; 32] },
    Refused { reason: String },
}

fn exporter(conn: &quinn::Connection) -> Result<[u8; 32], String> {
    let mut out = [0u8; 32];
    conn.export_keying_material(&mut out, EXPORTER_LABEL, b"").map_err(|e| format!("TLS exporter: {e:?}"))?;
    Ok(out)
}

/// The dialling side; returns the peer's PoP id.
pub(crate) async fn dial(conn: &quinn::Connection, secret: &ClusterSecret, me: &str) -> Result<String, String> {
    let ekm = exporter(conn)?;
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    let hello =
        Hello { version: PROTOCOL_VERSION, pop: me.to_owned(), proof: secret.proof(&[b"client", &ekm, me.as_bytes()]) };
    write_frame(&mut send, &hello, MAX_HELLO).await.map_err(|e| e.to_string())?;
    let _ = send.finish();
    match read_frame::<_, HelloReply>(&mut recv, MAX_HELLO).await.map_err(|e| e.to_string())? {
        Some(HelloReply::Welcome { pop, proof }) => {
            if secret.verify(&[b"server", &ekm, pop.as_bytes()], &proof) {
                Ok(pop)
            } else {
                conn.close(CLOSE_AUTH_FAILED.into(), b"peer failed cluster authentication");
                Err(format!("peer {pop} does not hold the cluster secret"))
            }
        }
        Some(HelloReply::Refused { reason }) => Err(format!("refused by the peer: {reason}")),
        None => Err("the peer closed the connection during authentication".into()),
    }
}

/// The listening side; returns the peer's PoP id, or why it was refused (the connection is then
/// closed).
pub(crate) async fn accept(conn: &quinn::Connection, secret: &ClusterSecret, me: &str) -> Result<String, String> {
    let result = accept_inner(conn, secret, me).await;
    if let Err(reason) = &result {
        conn.close(CLOSE_AUTH_FAILED.into(), reason.as_bytes());
    }
    result
}

async fn accept_inner(conn: &quinn::Connection, secret: &ClusterSecret, me: &str) -> Result<String, String> {
    let ekm = exporter(conn)?;
    let (mut send, mut recv) = conn.accept_bi().await.map_err(|e| e.to_string())?;
    let hello = read_frame::<_, Hello>(&mut recv, MAX_HELLO)
        .await
        .map_err(|e| format!("malformed hello: {e}"))?
        .ok_or("no hello")?;
    let refuse = |reason: &str| HelloReply::Refused { reason: reason.to_owned() };
    let reply = if hello.version != PROTOCOL_VERSION {
        Err(refuse(&format!(
            "cluster protocol {} is not supported (this PoP speaks {PROTOCOL_VERSION})",
            hello.version
        )))
    } else if !secret.verify(&[b"client", &ekm, hello.pop.as_bytes()], &hello.proof) {
        Err(refuse("cluster authentication failed: the secret differs"))
    } else {
        Ok(HelloReply::Welcome { pop: me.to_owned(), proof: secret.proof(&[b"server", &ekm, me.as_bytes()]) })
    };
    match reply {
        Ok(welcome) => {
            write_frame(&mut send, &welcome, MAX_HELLO).await.map_err(|e| e.to_string())?;
            let _ = send.finish();
            Ok(hello.pop)
        }
        Err(refused) => {
            let _ = write_frame(&mut send, &refused, MAX_HELLO).await;
            let _ = send.finish();
            // Let the refusal reach the peer before the close does.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let HelloReply::Refused { reason } = refused else { unreachable!() };
            Err(format!("{} (from {})", reason, conn.remote_address()))
        }
    }
}
