//! Errors: [`AdminError`] when the server cannot start, [`AdminApiError`] for one failed call.

use std::net::SocketAddr;

use thiserror::Error;
use warren_core::ErrorCode;

/// The admin server could not start.
#[derive(Debug, Error)]
pub enum AdminError {
    #[error("cannot listen for the admin API on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// An empty admin token would let anyone in with `Authorization: Bearer `.
    #[error("the admin token is empty")]
    EmptyToken,
}

/// A failed admin call, as the client sees it: a stable code, an HTTP status (usually the code's
/// own, but e.g. 404 for a token that does not exist), a message, and optional detail lines such
/// as a policy's `file:line:column: reason` errors.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{code}: {message}")]
pub struct AdminApiError {
    pub code: ErrorCode,
    pub status: u16,
    pub message: String,
    pub details: Vec<String>,
}

impl AdminApiError {
    /// An error with the code's own status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> AdminApiError {
        AdminApiError { code, status: code.http_status(), message: message.into(), details: Vec::new() }
    }

    /// 400 `WARREN_ERR_ADMIN_BAD_REQUEST`.
    pub fn bad_request(message: impl Into<String>) -> AdminApiError {
        AdminApiError::new(ErrorCode::AdminBadRequest, message)
    }

    /// 404 `WARREN_ERR_ADMIN_BAD_REQUEST`: the request named something that does not exist.
    pub fn not_found(message: impl Into<String>) -> AdminApiError {
        AdminApiError::bad_request(message).with_status(404)
    }

    /// 503 `WARREN_ERR_NO_QUORUM`: a write could not reach a majority; retrying may work.
    pub fn no_quorum(message: impl Into<String>) -> AdminApiError {
        AdminApiError::new(ErrorCode::NoQuorum, message)
    }

    /// 500 `WARREN_ERR_INTERNAL`.
    pub fn internal(message: impl Into<String>) -> AdminApiError {
        AdminApiError::new(ErrorCode::Internal, message)
    }

    pub fn with_status(mut self, status: u16) -> AdminApiError {
        self.status = status;
        self
    }

    pub fn with_details(mut self, details: Vec<String>) -> AdminApiError {
        self.details = details;
        self
    }
}
