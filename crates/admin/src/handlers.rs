//! The `/v1/` handlers that read a body or an id: parse and check the input, call the backend,
//! shape the JSON answer. Handlers that only forward a backend result live in `routes.rs`.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use warren_core::PopId;
use warren_state::{TokenId, TokenInfo};

use crate::respond::{self, Resp, rfc3339};
use crate::{AdminApiError, AdminBackend, MAX_BODY_BYTES};

/// Token descriptions show up in listings and logs: a line of text, not a document.
const MAX_DESCRIPTION_CHARS: usize = 256;
/// An oversized body is read and thrown away up to this much, so the client gets its 413 instead
/// of a reset connection; beyond it the connection is closed.
const DRAIN_LIMIT: u64 = 16 * MAX_BODY_BYTES as u64;
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTokenBody {
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddMemberBody {
    id: String,
    addr: String,
    #[serde(default)]
    learner: bool,
}

pub(crate) async fn create_token(backend: &dyn AdminBackend, req: Request<Incoming>) -> Result<Resp, AdminApiError> {
    let body = read_body(req).await?;
    let description = if body.iter().all(u8::is_ascii_whitespace) {
        String::new()
    } else {
        parse_json::<CreateTokenBody>(&body)?.description
    };
    if description.chars().count() > MAX_DESCRIPTION_CHARS || description.chars().any(char::is_control) {
        return Err(AdminApiError::bad_request(format!(
            "description must be one line of at most {MAX_DESCRIPTION_CHARS} characters"
        )));
    }
    let created = backend.create_token(description).await?;
    let body = json!({
        "id": created.id,
        "token": created.secret.expose(),
        "description": created.description,
        "created_at": rfc3339(created.created_at_ms),
    });
    Ok(respond::json(StatusCode::CREATED, &body))
}

pub(crate) async fn list_tokens(backend: &dyn AdminBackend) -> Result<Resp, AdminApiError> {
    let tokens = backend.list_tokens().await?;
    let rows: Vec<Value> = tokens.iter().map(token_json).collect();
    Ok(respond::json(StatusCode::OK, &rows))
}

fn token_json(t: &TokenInfo) -> Value {
    json!({
        "id": t.id,
        "description": t.description,
        "created_at": rfc3339(t.created_at_ms),
        "revoked": t.revoked,
        "revoked_at": t.revoked_at_ms.map(rfc3339),
    })
}

pub(crate) async fn revoke_token(backend: &dyn AdminBackend, id: &str) -> Result<Resp, AdminApiError> {
    // A malformed id cannot name a token: same answer as an unknown one.
    let id = TokenId::parse(id).map_err(|_| AdminApiError::not_found(format!("no token {id:?}")))?;
    backend.revoke_token(id).await?;
    Ok(respond::empty(StatusCode::NO_CONTENT))
}

pub(crate) async fn add_member(backend: &dyn AdminBackend, req: Request<Incoming>) -> Result<Resp, AdminApiError> {
    let body: AddMemberBody = parse_json(&read_body(req).await?)?;
    let id = PopId::parse(&body.id).map_err(|e| AdminApiError::bad_request(format!("id: {e}")))?;
    check_host_port(&body.addr)?;
    backend.add_member(id, body.addr, body.learner).await?;
    Ok(respond::empty(StatusCode::NO_CONTENT))
}

pub(crate) async fn remove_member(backend: &dyn AdminBackend, id: &str) -> Result<Resp, AdminApiError> {
    let id = PopId::parse(id).map_err(|_| AdminApiError::not_found(format!("no member {id:?}")))?;
    backend.remove_member(id).await?;
    Ok(respond::empty(StatusCode::NO_CONTENT))
}

pub(crate) async fn set_policy(backend: &dyn AdminBackend, req: Request<Incoming>) -> Result<Resp, AdminApiError> {
    let body = read_body(req).await?;
    let text = String::from_utf8(body.to_vec())
        .map_err(|e| AdminApiError::bad_request(format!("the policy must be UTF-8 text: {e}")))?;
    let doc = backend.set_policy(text).await?;
    Ok(respond::json(StatusCode::OK, &doc))
}

/// `host:port`, where host is a name, an IPv4 address or a bracketed IPv6 address.
fn check_host_port(addr: &str) -> Result<(), AdminApiError> {
    let bad = || AdminApiError::bad_request(format!("addr: expected HOST:PORT, got {addr:?}"));
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad)?;
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        }
    };
    if host_ok { Ok(()) } else { Err(bad()) }
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, AdminApiError> {
    serde_json::from_slice(body).map_err(|e| AdminApiError::bad_request(format!("invalid JSON body: {e}")))
}

fn too_large() -> AdminApiError {
    AdminApiError::bad_request(format!("request body larger than {MAX_BODY_BYTES} bytes")).with_status(413)
}

/// Reads the body up to [`MAX_BODY_BYTES`]. A larger body (declared or actual) is 413; it is
/// drained (bounded by size and time) so the client reads the answer rather than a reset.
async fn read_body(req: Request<Incoming>) -> Result<Bytes, AdminApiError> {
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let limit = MAX_BODY_BYTES as u64;
    let mut oversized = declared.is_some_and(|n| n > limit);
    let mut body = req.into_body();
    let mut buf = Vec::new();
    let mut seen = 0u64;
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| AdminApiError::bad_request(format!("cannot read the request body: {e}")))?;
            let Ok(data) = frame.into_data() else { continue };
            seen = seen.saturating_add(data.len() as u64);
            oversized |= seen > limit;
            if seen > DRAIN_LIMIT {
                break;
            }
            if !oversized {
                buf.extend_from_slice(&data);
            }
        }
        Ok::<(), AdminApiError>(())
    };
    let outcome = tokio::time::timeout(BODY_READ_TIMEOUT, read).await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) if oversized => return Err(too_large()),
        Err(_) => return Err(AdminApiError::bad_request("timed out reading the request body").with_status(408)),
    }
    if oversized { Err(too_large()) } else { Ok(Bytes::from(buf)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port() {
        for ok in ["10.0.0.1:7443", "pop-fra.internal:7443", "[::1]:7443", "localhost:1"] {
            assert!(check_host_port(ok).is_ok(), "{ok}");
        }
        for bad in ["", "10.0.0.1", ":7443", "host:0", "host:70000", "::1:7443", "a b:1", "[nope]:1"] {
            assert!(check_host_port(bad).is_err(), "{bad}");
        }
    }
}
