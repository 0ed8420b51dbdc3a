//! Bodies in motion: from an HTTP body into `Data`/`Trailers` frames, and from frames into an
//! HTTP body, one chunk at a time.
//!
//! Each pump awaits every write and every channel send, and the channel between a frame reader
//! and the body hyper polls holds only [`CHANNEL_FRAMES`] chunks, so a transfer of any size
//! holds at most a few hundred KiB per direction. A body that fails half way is reported as an
//! `Error` frame, never as a clean end of stream: a clean FIN would turn a truncated upload
//! into a complete-looking one.

use std::fmt::Display;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use warren_tunnel::BoxWrite;
use warren_wire::HttpFrame;

use crate::ProxyError;
use crate::frames::{FrameReader, kind, write_data, write_frame, write_trailers};
use crate::headers::{from_list, to_list};

/// The body of every response the edge half returns.
pub type BoxBody = http_body_util::combinators::BoxBody<Bytes, ProxyError>;

/// Chunks waiting between a frame reader and hyper, per direction.
const CHANNEL_FRAMES: usize = 4;

type Item = Result<Frame<Bytes>, ProxyError>;

/// Aborts a helper task when the exchange it serves is dropped (client gone, response done).
#[derive(Debug)]
pub(crate) struct AbortOnDrop(pub(crate) JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A body fed by a frame pump through a small channel.
pub(crate) struct ChannelBody {
    rx: mpsc::Receiver<Item>,
    /// Bytes still expected when the head announced a length: keeps the size hint exact, so
    /// hyper writes `Content-Length` instead of chunked encoding.
    remaining: Option<u64>,
    done: bool,
    /// Tasks that must not outlive this body (e.g. the request pump of the same exchange).
    _guards: Vec<AbortOnDrop>,
}

impl ChannelBody {
    /// A body and the pump that fills it from `reader`, spawned; `side` names the head the
    /// frames belong to ("request" or "response") for error attribution. The receiver
    /// resolves (with an error) once the pump has handed over the last frame.
    pub(crate) fn spawn(
        reader: FrameReader,
        length: Option<u64>,
        side: &'static str,
    ) -> (ChannelBody, oneshot::Receiver<()>) {
        let (tx, rx) = mpsc::channel(CHANNEL_FRAMES);
        let (done_tx, done_rx) = oneshot::channel();
        let pump = tokio::spawn(async move {
            frames_to_channel(reader, tx, side).await;
            drop(done_tx);
        });
        (ChannelBody { rx, remaining: length, done: false, _guards: vec![AbortOnDrop(pump)] }, done_rx)
    }

    pub(crate) fn guard(mut self, task: AbortOnDrop) -> ChannelBody {
        self._guards.push(task);
        self
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = ProxyError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(remaining)) = (frame.data_ref(), self.remaining.as_mut()) {
                    *remaining = remaining.saturating_sub(data.len() as u64);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                self.done = true;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        // A body at its announced length may still carry trailers: only the pump's end is
        // the end.
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        self.remaining.map(SizeHint::with_exact).unwrap_or_default()
    }
}

/// Moves `Data` and `Trailers` frames into the channel until FIN, an error, or the body's
/// reader going away.
async fn frames_to_channel(mut reader: FrameReader, tx: mpsc::Sender<Item>, side: &'static str) {
    loop {
        let (item, last) = match reader.next().await {
            Ok(Some(HttpFrame::Data(data))) => (Ok(Frame::data(Bytes::from(data))), false),
            Ok(Some(HttpFrame::Trailers(list))) => (from_list(list, side).map(Frame::trailers), true),
            Ok(Some(HttpFrame::Error { code, message })) => (Err(ProxyError::remote(&code, message)), true),
            Ok(Some(other)) => {
                (Err(ProxyError::UnexpectedFrame { expected: "data or trailers", got: kind(&other) }), true)
            }
            Ok(None) => return,
            Err(e) => (Err(e), true),
        };
        if tx.send(item).await.is_err() || last {
            return;
        }
    }
}

/// Writes `body` as frames, then ends this direction of the stream. If the body fails, the
/// failure is sent as an `Error` frame built by `fail` and returned.
pub(crate) async fn body_to_frames<B>(
    mut body: B,
    send: &mut BoxWrite,
    fail: impl Fn(String) -> ProxyError,
) -> Result<(), ProxyError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Display,
{
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => write_data(send, &data).await?,
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        write_trailers(send, to_list(&trailers)).await?;
                    }
                }
            },
            Err(e) => {
                let err = fail(e.to_string());
                let frame = HttpFrame::Error { code: err.code().as_str().to_owned(), message: err.to_string() };
                // Best effort: the other side may be gone already, and the error is returned.
                if write_frame(send, &frame).await.is_ok() {
                    let _ = send.shutdown().await;
                }
                return Err(err);
            }
        }
    }
    send.shutdown().await.map_err(ProxyError::TunnelIo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::StreamBody;
    use warren_tunnel::TunnelStream;

    #[tokio::test]
    async fn body_and_trailers_cross_the_stream() {
        let (mut a, b) = TunnelStream::pair(1024);
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = vec![
            Ok(Frame::data(Bytes::from_static(b"hello "))),
            Ok(Frame::data(Bytes::from_static(b"world"))),
            Ok(Frame::trailers(trailers)),
        ];
        let send = tokio::spawn(async move {
            body_to_frames(StreamBody::new(futures_util::stream::iter(frames)), &mut a.send, ProxyError::ClientBody)
                .await
        });
        let (body, _) = ChannelBody::spawn(FrameReader::new(b.recv), Some(11), "request");
        assert_eq!(body.size_hint().exact(), Some(11));
        let collected = body.collect().await.unwrap();
        assert_eq!(collected.trailers().unwrap()["grpc-status"], "0");
        assert_eq!(&collected.to_bytes()[..], b"hello world");
        send.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_failing_body_arrives_as_an_error_not_as_an_end() {
        let (mut a, b) = TunnelStream::pair(1024);
        let frames: Vec<Result<Frame<Bytes>, &str>> = vec![Ok(Frame::data(Bytes::from_static(b"part"))), Err("reset")];
        let sent =
            body_to_frames(StreamBody::new(futures_util::stream::iter(frames)), &mut a.send, ProxyError::ClientBody)
                .await;
        assert!(matches!(sent, Err(ProxyError::ClientBody(_))));
        let (mut body, _) = ChannelBody::spawn(FrameReader::new(b.recv), None, "request");
        assert!(body.frame().await.unwrap().is_ok());
        let err = body.frame().await.unwrap().unwrap_err();
        assert_eq!(err.code(), warren_core::ErrorCode::BadRequest);
        assert!(body.frame().await.is_none());
    }
}
