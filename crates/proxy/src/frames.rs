//! Reading and writing [`HttpFrame`]s on one direction of a tunnel stream.
//!
//! The reader buffers at most one frame (plus one read), and hands back whatever it read past
//! the last frame when the exchange switches to raw bytes after `101 Switching Protocols`, so
//! no byte of an upgraded connection is lost. Writers await every write: a slow reader on the
//! other side slows the producer down instead of growing a buffer.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warren_tunnel::{BoxRead, BoxWrite};
use warren_wire::{FrameDecoder, HeaderList, HttpFrame, MAX_DATA_CHUNK, MAX_HEAD_FRAME, decode, encode_frame};

use crate::ProxyError;

/// Largest frame either side accepts: a head, or a data chunk with its few bytes of encoding.
pub(crate) const FRAME_LIMIT: usize =
    if MAX_HEAD_FRAME > MAX_DATA_CHUNK + 64 { MAX_HEAD_FRAME } else { MAX_DATA_CHUNK + 64 };

/// Size of one read from the tunnel.
/// How much room each read asks for; the buffer grows only as far as a frame needs.
const READ_CHUNK: usize = 16 * 1024;

/// The name of a frame's kind, for error messages.
pub(crate) fn kind(frame: &HttpFrame) -> &'static str {
    match frame {
        HttpFrame::Request(_) => "request head",
        HttpFrame::Response(_) => "response head",
        HttpFrame::Data(_) => "data",
        HttpFrame::Trailers(_) => "trailers",
        HttpFrame::Error { .. } => "error",
    }
}

/// Frames from the receiving half of a tunnel stream.
pub(crate) struct FrameReader {
    recv: BoxRead,
    decoder: FrameDecoder,
    eof: bool,
}

impl FrameReader {
    pub(crate) fn new(recv: BoxRead) -> FrameReader {
        FrameReader { recv, decoder: FrameDecoder::new(FRAME_LIMIT), eof: false }
    }

    /// The next frame, or `None` at a clean end of this direction (FIN between frames).
    pub(crate) async fn next(&mut self) -> Result<Option<HttpFrame>, ProxyError> {
        loop {
            if let Some(payload) = self.decoder.next_frame()? {
                return Ok(Some(decode(&payload, FRAME_LIMIT)?));
            }
            if self.eof {
                let rest = self.decoder.take_remaining();
                if rest.is_empty() {
                    return Ok(None);
                }
                return Err(ProxyError::TunnelClosed("end of a frame"));
            }
            let buf = self.decoder.read_buffer();
            buf.reserve(READ_CHUNK);
            let n = self.recv.read_buf(buf).await.map_err(ProxyError::TunnelIo)?;
            if n == 0 {
                self.eof = true;
            }
        }
    }

    /// Gives up framing: the bytes already read past the last frame, and the stream itself.
    pub(crate) fn into_raw(mut self) -> (BytesMut, BoxRead) {
        (self.decoder.take_remaining(), self.recv)
    }
}

/// Writes one frame and flushes it, so small frames (SSE events) leave at once.
pub(crate) async fn write_frame(send: &mut BoxWrite, frame: &HttpFrame) -> Result<(), ProxyError> {
    let bytes = encode_frame(frame, FRAME_LIMIT)?;
    send.write_all(&bytes).await.map_err(ProxyError::TunnelIo)?;
    send.flush().await.map_err(ProxyError::TunnelIo)
}

/// Writes a body chunk as one or more `Data` frames of at most [`MAX_DATA_CHUNK`] bytes.
pub(crate) async fn write_data(send: &mut BoxWrite, data: &Bytes) -> Result<(), ProxyError> {
    for chunk in data.chunks(MAX_DATA_CHUNK) {
        write_frame(send, &HttpFrame::Data(chunk.to_vec())).await?;
    }
    Ok(())
}

/// Writes the trailers frame.
pub(crate) async fn write_trailers(send: &mut BoxWrite, trailers: HeaderList) -> Result<(), ProxyError> {
    write_frame(send, &HttpFrame::Trailers(trailers)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use warren_tunnel::TunnelStream;
    use warren_wire::ResponseHead;

    #[tokio::test]
    async fn frames_then_raw_bytes_survive_small_reads() {
        // A tiny pipe forces frames to arrive in pieces.
        let (mut a, b) = TunnelStream::pair(7);
        let writer = tokio::spawn(async move {
            write_frame(&mut a.send, &HttpFrame::Response(ResponseHead { status: 101, headers: vec![] })).await?;
            write_data(&mut a.send, &Bytes::from(vec![9u8; MAX_DATA_CHUNK + 10])).await?;
            a.send.write_all(b"raw bytes").await.map_err(ProxyError::TunnelIo)?;
            a.send.shutdown().await.map_err(ProxyError::TunnelIo)
        });
        let mut reader = FrameReader::new(b.recv);
        assert!(matches!(reader.next().await.unwrap(), Some(HttpFrame::Response(h)) if h.status == 101));
        assert!(matches!(reader.next().await.unwrap(), Some(HttpFrame::Data(d)) if d.len() == MAX_DATA_CHUNK));
        assert!(matches!(reader.next().await.unwrap(), Some(HttpFrame::Data(d)) if d.len() == 10));
        let (mut rest, mut recv) = reader.into_raw();
        let mut tail = Vec::new();
        recv.read_to_end(&mut tail).await.unwrap();
        rest.extend_from_slice(&tail);
        assert_eq!(&rest[..], b"raw bytes");
        writer.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_cut_inside_a_frame_is_an_error_and_a_cut_between_frames_is_the_end() {
        let (mut a, b) = TunnelStream::pair(1024);
        a.send.write_all(&[0, 0, 0, 9, 1, 2]).await.unwrap();
        a.send.shutdown().await.unwrap();
        let mut reader = FrameReader::new(b.recv);
        assert!(matches!(reader.next().await, Err(ProxyError::TunnelClosed(_))));

        let (mut a, b) = TunnelStream::pair(1024);
        write_frame(&mut a.send, &HttpFrame::Data(vec![1])).await.unwrap();
        a.send.shutdown().await.unwrap();
        let mut reader = FrameReader::new(b.recv);
        assert!(reader.next().await.unwrap().is_some());
        assert!(reader.next().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn an_oversized_length_is_refused_before_reading_it() {
        let (mut a, b) = TunnelStream::pair(1024);
        a.send.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
        let mut reader = FrameReader::new(b.recv);
        assert!(matches!(reader.next().await, Err(ProxyError::Wire(_))));
    }
}
