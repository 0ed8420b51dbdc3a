//! Error responses: the same stable code for people and programs.
//!
//! Programs get JSON `{"error":{"code","status","message","reason"}}`; browsers (whose
//! `Accept` prefers `text/html`) get a small page. Both carry `Warren-Error-Code`, so a
//! client can branch on the code without parsing the body.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};
use warren_core::ErrorCode;
use warren_proxy::BoxBody;

/// The response header naming the stable error code.
pub const ERROR_CODE_HEADER: &str = "warren-error-code";

/// The edge's answer for `code`, with an optional one-line `reason` for the client, in the
/// format the client's `Accept` header prefers.
pub fn error_response(code: ErrorCode, reason: Option<&str>, accept: Option<&HeaderValue>) -> Response<BoxBody> {
    let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (content_type, body) = if accept.is_some_and(prefers_html) {
        ("text/html; charset=utf-8", html(code, status, reason))
    } else {
        let json = serde_json::json!({"error": {
            "code": code.as_str(),
            "status": status.as_u16(),
            "message": code.title(),
            "reason": reason,
        }});
        ("application/json", format!("{json}\n"))
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)).map_err(|never| match never {}).boxed());
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(ERROR_CODE_HEADER, HeaderValue::from_static(code.as_str()));
    resp
}

fn html(code: ErrorCode, status: StatusCode, reason: Option<&str>) -> String {
    let reason = reason.map(|r| format!("<p>{}</p>\n", escape(r))).unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{status} {title}</title></head>\n\
         <body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\">\n<h1>{title}</h1>\n{reason}\
         <p><code>{code}</code> &middot; HTTP {status}</p>\n</body></html>\n",
        status = status.as_u16(),
        title = escape(code.title()),
        code = code.as_str(),
    )
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether `Accept` ranks `text/html` above JSON (browsers send `text/html,…,*/*;q=0.8`; API
/// clients send `application/json` or `*/*`).
fn prefers_html(accept: &HeaderValue) -> bool {
    let Ok(accept) = accept.to_str() else { return false };
    let mut html = 0.0f32;
    let mut json = 0.0f32;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q =
            parts.filter_map(|p| p.trim().strip_prefix("q=")).find_map(|q| q.trim().parse::<f32>().ok()).unwrap_or(1.0);
        match media.as_str() {
            "text/html" | "application/xhtml+xml" => html = html.max(q),
            "application/json" | "application/problem+json" => json = json.max(q),
            _ => {}
        }
    }
    html > 0.0 && html > json
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(resp: Response<BoxBody>) -> String {
        String::from_utf8(resp.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn json_by_default() {
        let resp = error_response(ErrorCode::EndpointNotFound, Some("no <endpoint>"), None);
        assert_eq!(resp.status(), 404);
        assert_eq!(resp.headers()[ERROR_CODE_HEADER], "WARREN_ERR_ENDPOINT_NOT_FOUND");
        assert_eq!(resp.headers()["content-type"], "application/json");
        let v: serde_json::Value = serde_json::from_str(&body(resp).await).unwrap();
        assert_eq!(v["error"]["code"], "WARREN_ERR_ENDPOINT_NOT_FOUND");
        assert_eq!(v["error"]["status"], 404);
        assert_eq!(v["error"]["message"], ErrorCode::EndpointNotFound.title());
        assert_eq!(v["error"]["reason"], "no <endpoint>");
        let v: serde_json::Value =
            serde_json::from_str(&body(error_response(ErrorCode::Internal, None, None)).await).unwrap();
        assert!(v["error"]["reason"].is_null());
    }

    #[tokio::test]
    async fn html_for_browsers_escaped() {
        let accept = HeaderValue::from_static("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
        let resp = error_response(ErrorCode::EndpointOffline, Some("<script>"), Some(&accept));
        assert_eq!(resp.status(), 502);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert_eq!(resp.headers()[ERROR_CODE_HEADER], "WARREN_ERR_ENDPOINT_OFFLINE");
        let page = body(resp).await;
        assert!(page.contains("WARREN_ERR_ENDPOINT_OFFLINE"));
        assert!(page.contains("&lt;script&gt;") && !page.contains("<script>"));
    }

    #[test]
    fn accept_ranking() {
        let prefers = |s: &'static str| prefers_html(&HeaderValue::from_static(s));
        assert!(prefers("text/html"));
        assert!(prefers("text/html,*/*;q=0.8"));
        assert!(!prefers("*/*"));
        assert!(!prefers("application/json"));
        assert!(!prefers("application/json, text/html;q=0.5"));
        assert!(!prefers("text/html;q=0"));
        assert!(prefers("application/json;q=0.4, text/html"));
    }
}
