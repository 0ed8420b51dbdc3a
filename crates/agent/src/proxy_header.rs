//! PROXY protocol headers (v1 text, v2 binary) towards TCP backends, built with the `ppp` crate.

use std::net::SocketAddr;

use crate::ProxyProtocol;

/// The header to write before the client's bytes; empty for [`ProxyProtocol::None`].
pub(crate) fn header(kind: ProxyProtocol, client: SocketAddr, server: SocketAddr) -> std::io::Result<Vec<u8>> {
    // Both addresses must be of one family; map a v4 client on a v6 listener to v6.
    let (client, server) = match (client, server) {
        (SocketAddr::V4(c), SocketAddr::V6(s)) => {
            (SocketAddr::new(c.ip().to_ipv6_mapped().into(), c.port()), SocketAddr::V6(s))
        }
        (SocketAddr::V6(c), SocketAddr::V4(s)) => {
            (SocketAddr::V6(c), SocketAddr::new(s.ip().to_ipv6_mapped().into(), s.port()))
        }
        pair => pair,
    };
    Ok(match kind {
        ProxyProtocol::None => Vec::new(),
        ProxyProtocol::V1 => ppp::v1::Addresses::from((client, server)).to_string().into_bytes(),
        ProxyProtocol::V2 => ppp::v2::Builder::with_addresses(
            ppp::v2::Version::Two | ppp::v2::Command::Proxy,
            ppp::v2::Protocol::Stream,
            (client, server),
        )
        .build()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_headers() {
        let c: SocketAddr = "192.0.2.1:5555".parse().unwrap();
        let s: SocketAddr = "198.51.100.2:20000".parse().unwrap();
        assert_eq!(header(ProxyProtocol::V1, c, s).unwrap(), b"PROXY TCP4 192.0.2.1 198.51.100.2 5555 20000\r\n");
        let v2 = header(ProxyProtocol::V2, c, s).unwrap();
        assert_eq!(&v2[..12], b"\r\n\r\n\0\r\nQUIT\n");
        assert_eq!(v2[12], 0x21, "version 2, PROXY command");
        assert_eq!(v2[13], 0x11, "TCP over IPv4");
        assert_eq!(u16::from_be_bytes([v2[14], v2[15]]), 12);
        assert_eq!(&v2[16..20], &[192, 0, 2, 1]);
        assert_eq!(u16::from_be_bytes([v2[24], v2[25]]), 5555);
        let parsed = ppp::v2::Header::try_from(&v2[..]).unwrap();
        assert_eq!(parsed.command, ppp::v2::Command::Proxy);
        assert!(header(ProxyProtocol::None, c, s).unwrap().is_empty());
    }
}
