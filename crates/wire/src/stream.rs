//! Data streams: the header that opens each one, and the frames of HTTP exchanges.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::Protocol;

/// Header fields in order, values as bytes (HTTP allows non-UTF-8 values).
pub type HeaderList = Vec<(String, Vec<u8>)>;

/// First frame of every data stream the PoP opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamHeader {
    /// The agent's key of the endpoint (from [`crate::EndpointSpec::key`]).
    pub endpoint_key: u32,
    pub protocol: Protocol,
    /// The public client's address as the PoP saw it.
    pub client_addr: SocketAddr,
    /// The PoP's address the client connected to (for PROXY protocol headers).
    pub server_addr: SocketAddr,
}

/// An HTTP request's head. The URI is origin-form (`/path?query`); the host is in `host`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestHead {
    pub method: String,
    pub uri: String,
    /// `Host` (HTTP/1) or `:authority` (HTTP/2) as the client sent it.
    pub host: String,
    /// 10, 11, 20: the version the client spoke to the edge.
    pub version: u8,
    pub headers: HeaderList,
}

/// An HTTP response's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseHead {
    pub status: u16,
    pub headers: HeaderList,
}

/// One frame of an HTTP exchange on a data stream. Each direction is: a head, any number of
/// `Data` chunks, optionally `Trailers`, then end of stream (FIN). After a `101 Switching
/// Protocols` response head, both directions carry raw bytes instead of frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpFrame {
    Request(RequestHead),
    Response(ResponseHead),
    Data(#[serde(with = "serde_bytes_compat")] Vec<u8>),
    Trailers(HeaderList),
    /// The agent could not produce a response: a stable error code and a message.
    Error {
        code: String,
        message: String,
    },
}

/// Body chunks as one length-prefixed byte string. Deserializing through a byte-buffer
/// visitor matters: serde's default for `Vec<u8>` decodes element by element, which made bodies
/// cost a function call per byte.
mod serde_bytes_compat {
    use std::fmt;

    use serde::de::{Error, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_byte_buf(BytesVisitor)
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a byte string")
        }

        fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(super::super::MAX_DATA_CHUNK));
            while let Some(b) = seq.next_element()? {
                out.push(b);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MAX_HEAD_FRAME, decode, encode_frame};

    #[test]
    fn frames_round_trip() {
        let frames = vec![
            HttpFrame::Request(RequestHead {
                method: "POST".into(),
                uri: "/a?b=c".into(),
                host: "api.edge.test".into(),
                version: 11,
                headers: vec![("x-a".into(), vec![0xff, b'b'])],
            }),
            HttpFrame::Response(ResponseHead { status: 200, headers: vec![] }),
            HttpFrame::Data(vec![1, 2, 3]),
            HttpFrame::Trailers(vec![("grpc-status".into(), b"0".to_vec())]),
            HttpFrame::Error { code: "WARREN_ERR_UPSTREAM_REFUSED".into(), message: "refused".into() },
        ];
        for f in frames {
            let bytes = encode_frame(&f, MAX_HEAD_FRAME).unwrap();
            assert_eq!(decode::<HttpFrame>(&bytes[4..], MAX_HEAD_FRAME).unwrap(), f);
        }
        let h = StreamHeader {
            endpoint_key: 3,
            protocol: Protocol::Tcp,
            client_addr: "127.0.0.2:5000".parse().unwrap(),
            server_addr: "127.0.0.1:20000".parse().unwrap(),
        };
        let bytes = encode_frame(&h, MAX_HEAD_FRAME).unwrap();
        assert_eq!(decode::<StreamHeader>(&bytes[4..], MAX_HEAD_FRAME).unwrap(), h);
    }

    #[test]
    fn data_chunks_have_little_overhead() {
        let bytes = encode_frame(&HttpFrame::Data(vec![0; 65536]), 1 << 20).unwrap();
        assert!(bytes.len() < 65536 + 16, "{}", bytes.len());
    }
}
