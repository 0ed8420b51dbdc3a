//! `/echo`, `/headers` and `/upload`: describe the request, hashing the body as it streams in.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Body, State, json};

/// Reads the body frame by frame into a running hash: `(length, hex SHA-256)`.
async fn hash_body(mut body: Incoming) -> Result<(u64, String), hyper::Error> {
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            len += data.len() as u64;
            hasher.update(&data);
        }
    }
    Ok((len, hex::encode(hasher.finalize())))
}

pub(super) async fn echo(state: &State, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &parts.headers {
        headers
            .entry(name.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let (body_len, body_sha256) = match hash_body(body).await {
        Ok(hashed) => hashed,
        Err(e) => return json(StatusCode::BAD_REQUEST, &json!({"error": e.to_string()})),
    };
    json(
        StatusCode::OK,
        &json!({
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "query": parts.uri.query(),
            "version": format!("{:?}", parts.version),
            "headers": headers,
            "body_len": body_len,
            "body_sha256": body_sha256,
            "peer": peer.to_string(),
            "backend": state.name,
        }),
    )
}

pub(super) async fn upload(req: Request<Incoming>) -> Response<Body> {
    match hash_body(req.into_body()).await {
        Ok((body_len, body_sha256)) => json(StatusCode::OK, &json!({"body_len": body_len, "body_sha256": body_sha256})),
        Err(e) => json(StatusCode::BAD_REQUEST, &json!({"error": e.to_string()})),
    }
}
