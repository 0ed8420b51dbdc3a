//! After `101 Switching Protocols`: raw bytes both ways between an upgraded HTTP connection
//! and the tunnel stream, each direction ending on its own (half-close carried across).

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use warren_tunnel::{BoxRead, BoxWrite};

use crate::ProxyError;

/// Copies `io` ⇄ tunnel until both directions have ended. `leftover` holds bytes the frame
/// reader had already taken from the tunnel past the response head; they go first.
pub(crate) async fn splice<U>(
    io: U,
    leftover: BytesMut,
    mut recv: BoxRead,
    send: &mut BoxWrite,
) -> Result<(), ProxyError>
where
    U: AsyncRead + AsyncWrite + Unpin,
{
    let (mut io_read, mut io_write) = tokio::io::split(io);
    let inbound = async {
        io_write.write_all(&leftover).await?;
        tokio::io::copy(&mut recv, &mut io_write).await?;
        io_write.shutdown().await
    };
    let outbound = async {
        tokio::io::copy(&mut io_read, send).await?;
        send.shutdown().await
    };
    let (inbound, outbound) = tokio::join!(inbound, outbound);
    inbound.and(outbound).map_err(ProxyError::TunnelIo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use warren_tunnel::TunnelStream;

    #[tokio::test]
    async fn bytes_flow_both_ways_and_half_close_propagates() {
        let (mut ours, mut theirs) = TunnelStream::pair(64);
        let (io, mut peer) = tokio::io::duplex(64);
        let task =
            tokio::spawn(async move { splice(io, BytesMut::from(&b"early "[..]), ours.recv, &mut ours.send).await });
        theirs.send.write_all(b"late").await.unwrap();
        theirs.send.shutdown().await.unwrap();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"early late");
        // The other direction is still open after the first one ended.
        peer.write_all(b"reply").await.unwrap();
        peer.shutdown().await.unwrap();
        let mut got = Vec::new();
        theirs.recv.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"reply");
        task.await.unwrap().unwrap();
    }
}
