//! Building responses: JSON bodies, error bodies with their stable code, timestamps.
//!
//! Error bodies have the shape of every Warren error (`docs/errors.md`):
//! `{"error": {"code", "status", "message", "details"}}` plus a `Warren-Error-Code` header, so a
//! client can match on the code without parsing the body.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;
use serde::Serialize;
use serde_json::json;

use crate::AdminApiError;

pub(crate) type Resp = Response<Full<Bytes>>;

pub(crate) const ERROR_CODE_HEADER: &str = "warren-error-code";

pub(crate) fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Resp {
    match serde_json::to_vec(body) {
        Ok(bytes) => with_type(status, Bytes::from(bytes), "application/json"),
        Err(e) => error(&AdminApiError::internal(format!("cannot encode the response: {e}"))),
    }
}

pub(crate) fn text(status: StatusCode, body: String, content_type: &'static str) -> Resp {
    with_type(status, Bytes::from(body), content_type)
}

pub(crate) fn empty(status: StatusCode) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    resp
}

pub(crate) fn error(e: &AdminApiError) -> Resp {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"error": {
        "code": e.code.as_str(),
        "status": status.as_u16(),
        "message": e.message,
        "details": e.details,
    }});
    let mut resp = with_type(status, Bytes::from(body.to_string()), "application/json");
    resp.headers_mut().insert(ERROR_CODE_HEADER, HeaderValue::from_static(e.code.as_str()));
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"warren-admin\""));
    }
    resp
}

fn with_type(status: StatusCode, body: Bytes, content_type: &'static str) -> Resp {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// Formats Unix milliseconds as RFC 3339 in UTC (`2023-11-14T22:13:20.000Z`), the form people and
/// `jq` read; the API shows times this way rather than as raw milliseconds.
pub fn rfc3339(unix_ms: u64) -> String {
    // chrono is already in the graph (cel's timestamps); one formatter everywhere.
    chrono::DateTime::from_timestamp_millis(i64::try_from(unix_ms).unwrap_or(i64::MAX))
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
        assert_eq!(rfc3339(1_709_251_199_000), "2024-02-29T23:59:59.000Z");
    }

    #[test]
    fn error_body_and_header() {
        let resp = error(&AdminApiError::not_found("no token tok_x").with_details(vec!["a".into()]));
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert_eq!(resp.headers()[ERROR_CODE_HEADER], "WARREN_ERR_ADMIN_BAD_REQUEST");
        let resp = error(&AdminApiError::new(warren_core::ErrorCode::AdminUnauthorized, "no"));
        assert!(resp.headers().contains_key(header::WWW_AUTHENTICATE));
    }
}
