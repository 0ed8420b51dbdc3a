//! One public connection or request, from its tunnel stream to the backend.

use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use warren_tunnel::{TunnelError, TunnelStream, read_stream_header};
use warren_wire::Protocol;

use crate::proxy_header;
use crate::{EndpointOptions, ProxyProtocol};

pub(crate) async fn serve_stream(
    mut stream: TunnelStream,
    endpoints: &[EndpointOptions],
    tls: Arc<rustls::ClientConfig>,
) -> Result<(), TunnelError> {
    let header = read_stream_header(&mut stream).await?;
    let Some(ep) = endpoints.get(header.endpoint_key as usize) else {
        return Err(TunnelError::Unexpected(format!("stream for unknown endpoint {}", header.endpoint_key)));
    };
    match header.protocol {
        Protocol::Http => {
            let mut backend = warren_proxy::Backend::new(ep.upstream.addr.clone());
            backend.tls = ep.upstream.tls.then_some(tls);
            backend.response_timeout = ep.response_timeout;
            warren_proxy::serve(stream, &backend).await.map_err(|e| TunnelError::Unexpected(e.to_string()))
        }
        Protocol::Tcp => relay_tcp(stream, ep, header.client_addr, header.server_addr).await,
    }
}

/// Relays bytes both ways; each direction ends on its own, so half-close passes through.
async fn relay_tcp(
    stream: TunnelStream,
    ep: &EndpointOptions,
    client: std::net::SocketAddr,
    server: std::net::SocketAddr,
) -> Result<(), TunnelError> {
    let TunnelStream { mut send, mut recv } = stream;
    let backend = match TcpStream::connect(&ep.upstream.addr).await {
        Ok(b) => b,
        Err(e) => {
            // Closing the stream at once tells the PoP to close the public connection.
            let _ = send.shutdown().await;
            return Err(e.into());
        }
    };
    let _ = backend.set_nodelay(true);
    let (mut br, mut bw) = backend.into_split();
    if ep.proxy_protocol != ProxyProtocol::None {
        bw.write_all(&proxy_header::header(ep.proxy_protocol, client, server)?).await?;
    }
    let up = async {
        tokio::io::copy(&mut recv, &mut bw).await?;
        bw.shutdown().await
    };
    let down = async {
        tokio::io::copy(&mut br, &mut send).await?;
        send.shutdown().await
    };
    tokio::try_join!(up, down)?;
    Ok(())
}
