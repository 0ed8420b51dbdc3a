//! `compress-response`: the edge compresses a response body on its way to the client.
//!
//! The policy's `on_http_response` phase only sees the response head, so it leaves a
//! [`CompressWith`] marker in the response's extensions; the request path then negotiates an
//! encoding with the client's `Accept-Encoding` and wraps the body, streaming (never buffered
//! whole). Bodies already encoded, ranges, and bodiless statuses are left alone.

use async_compression::tokio::bufread::{BrotliEncoder, GzipEncoder, ZlibEncoder};
use futures_util::TryStreamExt;
use http::header::{self, HeaderValue};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use tokio_util::io::{ReaderStream, StreamReader};
use warren_proxy::{BoxBody, ProxyError};

/// Set by policy on a response: compress it with one of these (in the policy's order).
#[derive(Debug, Clone)]
pub struct CompressWith(pub Vec<String>);

/// The encoding to use: the client's most preferred (by q-value) among `offered`, ties broken by
/// the policy's order; `None` if they share none.
pub(crate) fn negotiate(accept_encoding: &str, offered: &[String]) -> Option<&'static str> {
    let mut best: Option<(f32, usize, &'static str)> = None;
    for item in accept_encoding.split(',') {
        let mut parts = item.trim().split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q =
            parts.filter_map(|p| p.trim().strip_prefix("q=")).find_map(|v| v.trim().parse::<f32>().ok()).unwrap_or(1.0);
        if q <= 0.0 {
            continue;
        }
        let supported: &'static str = match coding.as_str() {
            "gzip" | "x-gzip" => "gzip",
            "br" => "br",
            "deflate" => "deflate",
            _ => continue,
        };
        let Some(rank) = offered.iter().position(|o| o.eq_ignore_ascii_case(supported)) else { continue };
        let better = match best {
            None => true,
            Some((bq, brank, _)) => q > bq || (q == bq && rank < brank),
        };
        if better {
            best = Some((q, rank, supported));
        }
    }
    best.map(|(_, _, c)| c)
}

/// Compresses `resp` if policy asked for it and the client accepts one of the encodings.
pub(crate) fn apply(resp: http::Response<BoxBody>, accept_encoding: Option<&HeaderValue>) -> http::Response<BoxBody> {
    let (mut parts, body) = resp.into_parts();
    let Some(CompressWith(offered)) = parts.extensions.remove::<CompressWith>() else {
        return http::Response::from_parts(parts, body);
    };
    let accept = accept_encoding.and_then(|v| v.to_str().ok()).unwrap_or("");
    let skip = parts.headers.contains_key(header::CONTENT_ENCODING)
        || parts.headers.contains_key(header::CONTENT_RANGE)
        || parts.status == http::StatusCode::NO_CONTENT
        || parts.status == http::StatusCode::NOT_MODIFIED
        || parts.status.is_informational();
    let Some(coding) = (!skip).then(|| negotiate(accept, &offered)).flatten() else {
        return http::Response::from_parts(parts, body);
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    parts.headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    // Trailers cannot survive compression into a byte stream; compressed responses have none.
    let data = body.into_data_stream().map_err(std::io::Error::other);
    let reader = StreamReader::new(data);
    let stream = match coding {
        "gzip" => BoxedReader::new(GzipEncoder::new(reader)),
        "br" => BoxedReader::new(BrotliEncoder::new(reader)),
        _ => BoxedReader::new(ZlibEncoder::new(reader)),
    };
    let out =
        ReaderStream::new(stream.0).map_ok(Frame::data).map_err(|e| ProxyError::TunnelIo(std::io::Error::other(e)));
    http::Response::from_parts(parts, BodyExt::boxed(StreamBody::new(out)))
}

struct BoxedReader(std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send + Sync>>);

impl BoxedReader {
    fn new(r: impl tokio::io::AsyncRead + Send + Sync + 'static) -> BoxedReader {
        BoxedReader(Box::pin(r))
    }
}

#[cfg(test)]
mod tests {
    use super::negotiate;

    fn offered(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn picks_the_clients_preference_among_the_offered() {
        assert_eq!(negotiate("gzip, br", &offered(&["br", "gzip"])), Some("br"));
        assert_eq!(negotiate("gzip;q=1.0, br;q=0.5", &offered(&["br", "gzip"])), Some("gzip"));
        assert_eq!(negotiate("br;q=0, gzip", &offered(&["br"])), None);
        assert_eq!(negotiate("identity", &offered(&["gzip"])), None);
        assert_eq!(negotiate("", &offered(&["gzip"])), None);
        assert_eq!(negotiate("deflate", &offered(&["gzip", "deflate"])), Some("deflate"));
    }
}
