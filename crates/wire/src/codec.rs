//! Length-prefixed frames with bounded decoding.

use bytes::{Buf, BufMut, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why bytes from the other side were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("frame of {actual} bytes exceeds the limit of {limit}")]
    FrameTooLarge { limit: usize, actual: usize },
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("stream ended inside a frame ({have} of {want} bytes)")]
    Truncated { have: usize, want: usize },
    #[error("cannot encode: {0}")]
    Encode(String),
}

const LEN: usize = 4;

/// Encodes a value with bincode (standard configuration).
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, WireError> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).map_err(|e| WireError::Encode(e.to_string()))
}

/// Decodes a value, refusing inputs over `limit` and trailing garbage.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, WireError> {
    if bytes.len() > limit {
        return Err(WireError::FrameTooLarge { limit, actual: bytes.len() });
    }
    // The limit bounds every length bincode reads inside the payload, so a forged inner length
    // cannot make it allocate more than the frame itself.
    let config = bincode::config::standard().with_limit::<{ 2 * super::MAX_CONTROL_FRAME }>();
    let (value, used) =
        bincode::serde::decode_from_slice(bytes, config).map_err(|e| WireError::Malformed(e.to_string()))?;
    if used != bytes.len() {
        return Err(WireError::Malformed(format!("{} trailing bytes", bytes.len() - used)));
    }
    Ok(value)
}

/// Encodes `value` as one frame: `u32` big-endian length, then the payload.
pub fn encode_frame<T: Serialize>(value: &T, limit: usize) -> Result<Vec<u8>, WireError> {
    let payload = encode(value)?;
    if payload.len() > limit {
        return Err(WireError::FrameTooLarge { limit, actual: payload.len() });
    }
    let mut out = Vec::with_capacity(LEN + payload.len());
    out.put_u32(payload.len() as u32);
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Splits a byte stream into frames without trusting the lengths it announces.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: BytesMut,
    limit: usize,
}

impl FrameDecoder {
    pub fn new(limit: usize) -> FrameDecoder {
        FrameDecoder { buf: BytesMut::new(), limit }
    }

    /// Appends bytes read from the stream.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame's payload, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<BytesMut>, WireError> {
        if self.buf.len() < LEN {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if len > self.limit {
            return Err(WireError::FrameTooLarge { limit: self.limit, actual: len });
        }
        if self.buf.len() < LEN + len {
            self.buf.reserve(LEN + len - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(LEN);
        Ok(Some(self.buf.split_to(len)))
    }

    /// The buffer to read into (e.g. with `AsyncReadExt::read_buf`): bytes land where frames
    /// are cut from, with no zero-filled scratch buffer and no copy.
    pub fn read_buffer(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes buffered after the last complete frame (e.g. raw bytes after an upgrade).
    pub fn take_remaining(&mut self) -> BytesMut {
        self.buf.split()
    }

    /// Call at end of stream: an incomplete frame is an error.
    pub fn finish(&self) -> Result<(), WireError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let want = if self.buf.len() >= LEN {
            LEN + u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize
        } else {
            LEN
        };
        Err(WireError::Truncated { have: self.buf.len(), want })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn oversized_length_is_refused_before_buffering() {
        let mut d = FrameDecoder::new(16);
        d.extend(&[0xff, 0xff, 0xff, 0xff, 1, 2]);
        assert_eq!(d.next_frame(), Err(WireError::FrameTooLarge { limit: 16, actual: u32::MAX as usize }));
    }

    #[test]
    fn truncated_stream_is_reported() {
        let mut d = FrameDecoder::new(16);
        d.extend(&[0, 0, 0, 5, 1, 2]);
        assert_eq!(d.next_frame(), Ok(None));
        assert_eq!(d.finish(), Err(WireError::Truncated { have: 6, want: 9 }));
    }

    #[test]
    fn garbage_payload_is_malformed_not_a_panic() {
        let r: Result<crate::AgentMsg, _> = decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 1], 1024);
        assert!(matches!(r, Err(WireError::Malformed(_))), "{r:?}");
        let r: Result<String, _> = decode(&[0xfc, 0xff, 0xff, 0xff, 0x7f], 1024);
        assert!(matches!(r, Err(WireError::Malformed(_))), "{r:?}");
    }

    proptest! {
        #[test]
        fn frames_round_trip_in_any_split(values in proptest::collection::vec(".{0,40}", 1..8), split in 1usize..7) {
            let mut bytes = Vec::new();
            for v in &values {
                bytes.extend(encode_frame(v, 1024).unwrap());
            }
            let mut d = FrameDecoder::new(1024);
            let mut out: Vec<String> = Vec::new();
            for chunk in bytes.chunks(split) {
                d.extend(chunk);
                while let Some(f) = d.next_frame().unwrap() {
                    out.push(decode(&f, 1024).unwrap());
                }
            }
            d.finish().unwrap();
            prop_assert_eq!(out, values);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut d = FrameDecoder::new(128);
            d.extend(&bytes);
            while let Ok(Some(f)) = d.next_frame() {
                let _ = decode::<crate::AgentMsg>(&f, 128);
                let _ = decode::<crate::PopMsg>(&f, 128);
                let _ = decode::<crate::HttpFrame>(&f, 128);
                let _ = decode::<crate::StreamHeader>(&f, 128);
            }
        }
    }
}
