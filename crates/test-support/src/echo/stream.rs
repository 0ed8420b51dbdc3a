//! `/sse` and `/bytes`: responses produced a chunk at a time.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use sha2::{Digest, Sha256};

use super::{Body, State, text};

/// `/bytes` chunk size; a multiple of 8 so chunking never changes the byte sequence.
const CHUNK: usize = 64 * 1024;
/// Most events one `/sse` request may ask for.
const MAX_EVENTS: u64 = 100_000;

/// SplitMix64: tiny, fast, and the same sequence on every platform, so tests can recompute
/// what the backend sent without storing it.
struct ByteGen {
    state: u64,
    remaining: u64,
}

impl ByteGen {
    fn new(n: u64, seed: u64) -> Self {
        Self { state: seed, remaining: n }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next_chunk(&mut self) -> Option<Bytes> {
        if self.remaining == 0 {
            return None;
        }
        let len = usize::try_from(self.remaining).map_or(CHUNK, |r| r.min(CHUNK));
        let mut chunk = Vec::with_capacity(len + 8);
        while chunk.len() < len {
            chunk.extend_from_slice(&self.next_u64().to_le_bytes());
        }
        chunk.truncate(len);
        self.remaining -= len as u64;
        Some(Bytes::from(chunk))
    }
}

/// The `n` bytes `/bytes?n=N&seed=S` sends (keep `n` small: this allocates them).
pub fn pseudo_random_bytes(n: u64, seed: u64) -> Vec<u8> {
    let mut gen_ = ByteGen::new(n, seed);
    let mut out = Vec::new();
    while let Some(chunk) = gen_.next_chunk() {
        out.extend_from_slice(&chunk);
    }
    out
}

/// Hex SHA-256 of what `/bytes?n=N&seed=S` sends, computed without holding the bytes.
pub fn expected_bytes_sha256(n: u64, seed: u64) -> String {
    let mut gen_ = ByteGen::new(n, seed);
    let mut hasher = Sha256::new();
    while let Some(chunk) = gen_.next_chunk() {
        hasher.update(&chunk);
    }
    hex::encode(hasher.finalize())
}

pub(super) async fn bytes(state: &State, n: u64, seed: u64) -> Response<Body> {
    let cached = state.bytes_hashes.lock().ok().and_then(|m| m.get(&(n, seed)).cloned());
    let digest = match cached {
        Some(digest) => digest,
        None => {
            // Hashing a large body is CPU work: keep it off the reactor threads.
            let Ok(digest) = tokio::task::spawn_blocking(move || expected_bytes_sha256(n, seed)).await else {
                return text(StatusCode::INTERNAL_SERVER_ERROR, "hashing failed\n");
            };
            if let Ok(mut memo) = state.bytes_hashes.lock() {
                memo.insert((n, seed), digest.clone());
            }
            digest
        }
    };
    let chunks = futures_util::stream::unfold(ByteGen::new(n, seed), |mut gen_| async move {
        gen_.next_chunk().map(|chunk| (Ok::<_, Infallible>(Frame::data(chunk)), gen_))
    });
    let mut resp = Response::new(StreamBody::new(chunks).boxed_unsync());
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    if let Ok(digest) = HeaderValue::from_str(&digest) {
        headers.insert("x-body-sha256", digest);
    }
    resp
}

/// Events `1..=n`, the first at once and each next one `interval_ms` later, each its own chunk
/// (hyper flushes whenever the body is pending, i.e. during every interval).
pub(super) fn sse(n: u64, interval_ms: u64) -> Response<Body> {
    let n = n.min(MAX_EVENTS);
    let interval = Duration::from_millis(interval_ms);
    let events = futures_util::stream::unfold(1u64, move |i| async move {
        if i > n {
            return None;
        }
        if i > 1 {
            tokio::time::sleep(interval).await;
        }
        let event = Bytes::from(format!("id: {i}\ndata: event-{i}\n\n"));
        Some((Ok::<_, Infallible>(Frame::data(event)), i + 1))
    });
    let mut resp = Response::new(StreamBody::new(events).boxed_unsync());
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_do_not_depend_on_chunking() {
        let small = pseudo_random_bytes(13, 7);
        let big = pseudo_random_bytes(CHUNK as u64 + 13, 7);
        assert_eq!(&big[..13], &small[..]);
        assert_eq!(big.len(), CHUNK + 13);
        assert_ne!(pseudo_random_bytes(13, 8), small);
        assert_eq!(expected_bytes_sha256(13, 7), hex::encode(Sha256::digest(&small)));
        // SHA-256 of the empty string.
        assert_eq!(expected_bytes_sha256(0, 1), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
