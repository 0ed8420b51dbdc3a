//! Free loopback ports, for the few configs that cannot take port 0.
//!
//! Racy by nature (another process may take the port between our probe and its use); prefer
//! binding to port 0 and reading the address back whenever the program under test allows it.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use crate::Error;

const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_tcp_port() -> Result<u16, Error> {
    let listener = TcpListener::bind(LOOPBACK).map_err(Error::io("cannot bind 127.0.0.1:0/tcp"))?;
    Ok(listener.local_addr().map_err(Error::io("local_addr"))?.port())
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> Result<u16, Error> {
    let socket = UdpSocket::bind(LOOPBACK).map_err(Error::io("cannot bind 127.0.0.1:0/udp"))?;
    Ok(socket.local_addr().map_err(Error::io("local_addr"))?.port())
}

/// A port free for both UDP and TCP on 127.0.0.1 (a DNS listener serves both on one port).
pub fn free_tcp_udp_port() -> Result<u16, Error> {
    for _ in 0..100 {
        let udp = UdpSocket::bind(LOOPBACK).map_err(Error::io("cannot bind 127.0.0.1:0/udp"))?;
        let port = udp.local_addr().map_err(Error::io("local_addr"))?.port();
        if TcpListener::bind(SocketAddr::new(LOOPBACK.ip(), port)).is_ok() {
            return Ok(port);
        }
    }
    Err(Error::Io {
        context: "no port free for both TCP and UDP after 100 tries".to_owned(),
        source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_bindable() {
        let tcp = free_tcp_port().unwrap();
        assert_ne!(tcp, 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, tcp)).unwrap();
        let udp = free_udp_port().unwrap();
        UdpSocket::bind((Ipv4Addr::LOCALHOST, udp)).unwrap();
        let both = free_tcp_udp_port().unwrap();
        let _t = TcpListener::bind((Ipv4Addr::LOCALHOST, both)).unwrap();
        let _u = UdpSocket::bind((Ipv4Addr::LOCALHOST, both)).unwrap();
    }
}
