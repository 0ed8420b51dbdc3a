//! The sending half of a QUIC stream with abort-on-drop semantics.
//!
//! quinn *finishes* a send stream that is dropped, which the peer reads as a clean end. In a
//! tunnel that would turn a cut-off upload (the client went away mid-body) into a complete,
//! truncated one at the backend. Here only an explicit `shutdown()` finishes the stream; a drop
//! without it resets the stream, and the peer sees an error instead.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;

/// Application error code of a stream reset because its writer went away.
pub const RESET_ABORTED: u32 = 1;

pub(crate) struct QuicSend {
    inner: quinn::SendStream,
    finished: bool,
}

impl QuicSend {
    pub(crate) fn new(inner: quinn::SendStream) -> QuicSend {
        QuicSend { inner, finished: false }
    }
}

impl AsyncWrite for QuicSend {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf).map_err(io::Error::from)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.finished = true;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Drop for QuicSend {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.inner.reset(quinn::VarInt::from_u32(RESET_ABORTED));
        }
    }
}
