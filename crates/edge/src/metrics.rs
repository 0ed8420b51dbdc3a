//! Metric names of the edge, in one place so dashboards and alerts have a single source.
//!
//! Labels stay within small fixed sets (listener protocol, status class, error code): never
//! hosts, addresses or paths, which would explode the series count.

/// Requests answered, labels `proto` (`http`/`https`) and `status` (`2xx`, `4xx`, …).
pub const REQUESTS_TOTAL: &str = "warren_edge_requests_total";
/// From the request head to the end of the response body, label `proto`.
pub const REQUEST_DURATION_SECONDS: &str = "warren_edge_request_duration_seconds";
/// Request body bytes read from clients, label `proto`.
pub const BYTES_RECEIVED_TOTAL: &str = "warren_edge_bytes_received_total";
/// Response body bytes written to clients, label `proto`.
pub const BYTES_SENT_TOTAL: &str = "warren_edge_bytes_sent_total";
/// Client connections open now, label `proto`.
pub const ACTIVE_CONNECTIONS: &str = "warren_edge_active_connections";
/// Error responses the edge produced, label `code` (a stable `WARREN_ERR_*` code).
pub const ERRORS_TOTAL: &str = "warren_edge_errors_total";

/// Registers units and help texts with the installed recorder (call once at start-up).
pub fn describe() {
    metrics::describe_counter!(REQUESTS_TOTAL, "HTTP requests answered by the edge");
    metrics::describe_histogram!(
        REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Request duration, head to end of body"
    );
    metrics::describe_counter!(BYTES_RECEIVED_TOTAL, metrics::Unit::Bytes, "Request body bytes received from clients");
    metrics::describe_counter!(BYTES_SENT_TOTAL, metrics::Unit::Bytes, "Response body bytes sent to clients");
    metrics::describe_gauge!(ACTIVE_CONNECTIONS, "Open client connections");
    metrics::describe_counter!(ERRORS_TOTAL, "Error responses by stable code");
}

/// `2xx`-style class of a status, a fixed label set.
pub(crate) fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}
