//! Reading and writing single frames on a stream without reading past them.
//!
//! A stream header is followed by bytes that belong to someone else (HTTP frames, raw TCP), so
//! frames here are read exactly: the 4-byte length, then that many bytes, never more.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use warren_wire::{WireError, decode, encode_frame};

use crate::TunnelError;

/// Writes one frame. Does not flush: QUIC streams send as soon as they can.
pub async fn write_frame<W, T>(w: &mut W, value: &T, limit: usize) -> Result<(), TunnelError>
where
    W: AsyncWrite + Unpin + ?Sized,
    T: Serialize,
{
    let bytes = encode_frame(value, limit)?;
    w.write_all(&bytes).await?;
    Ok(())
}

/// Reads one frame; `Ok(None)` on a clean end of stream before any byte of it.
pub async fn read_frame<R, T>(r: &mut R, limit: usize) -> Result<Option<T>, TunnelError>
where
    R: AsyncRead + Unpin + ?Sized,
    T: DeserializeOwned,
{
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut len[got..]).await?;
        if n == 0 {
            if got == 0 {
                return Ok(None);
            }
            return Err(WireError::Truncated { have: got, want: 4 }.into());
        }
        got += n;
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > limit {
        return Err(WireError::FrameTooLarge { limit, actual: len }.into());
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => TunnelError::Wire(WireError::Truncated { have: 4, want: 4 + len }),
        _ => TunnelError::Io(e),
    })?;
    Ok(Some(decode(&payload, limit)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_exactly_one_frame_and_leaves_the_rest() {
        let mut bytes = encode_frame(&"head".to_string(), 64).unwrap();
        bytes.extend_from_slice(b"raw tail");
        let mut r = &bytes[..];
        let v: String = read_frame(&mut r, 64).await.unwrap().unwrap();
        assert_eq!(v, "head");
        assert_eq!(r, b"raw tail");
    }

    #[tokio::test]
    async fn limits_and_truncation_are_errors() {
        let bytes = encode_frame(&"x".repeat(100), 1000).unwrap();
        let r: Result<Option<String>, _> = read_frame(&mut &bytes[..], 64).await;
        assert!(matches!(r, Err(TunnelError::Wire(WireError::FrameTooLarge { limit: 64, .. }))));
        let r: Result<Option<String>, _> = read_frame(&mut &bytes[..10], 1000).await;
        assert!(matches!(r, Err(TunnelError::Wire(WireError::Truncated { .. }))), "{r:?}");
        let r: Result<Option<String>, _> = read_frame(&mut &b""[..], 1000).await;
        assert!(matches!(r, Ok(None)));
    }
}
