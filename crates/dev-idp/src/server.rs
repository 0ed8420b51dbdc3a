//! The HTTP side: hyper 1 over tokio, one task per connection, routed by method and path.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::form::parse_pairs;
use crate::idp::Shared;
use crate::{Alg, Error, token_request};

/// Token requests are a few hundred bytes; anything bigger is a mistake or abuse.
const MAX_BODY: usize = 64 * 1024;

/// Accepts until `stop` flips (or its sender is gone). Connection tasks live in a `JoinSet`, so
/// they are aborted when this future ends or is aborted.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else { continue };
                let shared = Arc::clone(&shared);
                connections.spawn(async move {
                    let service = service_fn(move |req| handle(Arc::clone(&shared), req));
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

type Resp = Response<Full<Bytes>>;

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Resp, Infallible> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let response = match (req.method().clone(), path.as_str()) {
        (Method::GET, "/.well-known/jwks.json") => jwks(&shared),
        (Method::GET, "/.well-known/openid-configuration") => discovery(&shared),
        (Method::POST, "/token") => token(&shared, req).await,
        (Method::POST, "/rotate") => rotate(&shared, &query).await,
        (_, "/.well-known/jwks.json" | "/.well-known/openid-configuration" | "/token" | "/rotate") => {
            error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "wrong method for this path")
        }
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such path"),
    };
    Ok(response)
}

fn jwks(shared: &Shared) -> Resp {
    shared.count_jwks_fetch();
    if !shared.is_available() {
        let mut resp = error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "the JWKS is switched off");
        resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return resp;
    }
    let mut resp = json_response(StatusCode::OK, &shared.jwks_document());
    if let Some(cc) = shared.opts.jwks_cache_control.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
        resp.headers_mut().insert(header::CACHE_CONTROL, cc);
    }
    resp
}

fn discovery(shared: &Shared) -> Resp {
    json_response(
        StatusCode::OK,
        &json!({
            "issuer": shared.issuer,
            "jwks_uri": shared.jwks_url,
            "token_endpoint": shared.token_url,
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": Alg::ALL.map(Alg::as_str),
        }),
    )
}

async fn token(shared: &Shared, req: Request<Incoming>) -> Resp {
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_request", &format!("cannot read body: {e}")),
    };
    let parsed = match token_request::parse(
        content_type.as_deref(),
        &body,
        shared.opts.default_ttl,
        shared.opts.default_audience.as_deref(),
    ) {
        Ok(parsed) => parsed,
        Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string()),
    };
    match shared.try_mint(&parsed.spec) {
        Ok(token) => json_response(
            StatusCode::OK,
            &json!({"access_token": token, "token_type": "Bearer", "expires_in": parsed.ttl_secs}),
        ),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e.to_string()),
    }
}

/// `POST /rotate?alg=ES256&retire=true`; without `alg`, every algorithm rotates.
async fn rotate(shared: &Arc<Shared>, query: &str) -> Resp {
    let mut algs = Vec::new();
    let mut retire = false;
    for (name, value) in parse_pairs(query) {
        match name.as_str() {
            "alg" => match value.parse::<Alg>() {
                Ok(alg) => algs.push(alg),
                Err(e) => return error(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string()),
            },
            "retire" => retire = matches!(value.as_str(), "true" | "1" | "yes" | ""),
            other => {
                return error(StatusCode::BAD_REQUEST, "invalid_request", &format!("unknown parameter {other:?}"));
            }
        }
    }
    if algs.is_empty() {
        algs = Alg::ALL.to_vec();
    }
    let shared = Arc::clone(shared);
    // Key generation is CPU work: keep it off the reactor threads.
    let outcome = tokio::task::spawn_blocking(move || {
        algs.into_iter().map(|alg| shared.rotate(alg, retire)).collect::<Result<Vec<_>, Error>>()
    })
    .await;
    match outcome {
        Ok(Ok(rotations)) => {
            let rotated: Vec<Value> = rotations.iter().map(|r| json!({"alg": r.alg.as_str(), "kid": r.kid})).collect();
            let retired: Vec<&String> = rotations.iter().flat_map(|r| &r.retired).collect();
            json_response(StatusCode::OK, &json!({"rotated": rotated, "retired": retired}))
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", &e.to_string()),
    }
}

fn error(status: StatusCode, code: &str, description: &str) -> Resp {
    json_response(status, &json!({"error": code, "error_description": description}))
}

fn json_response(status: StatusCode, body: &Value) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}
