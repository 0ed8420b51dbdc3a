//! The admin API's own metrics. Recorded through the `metrics` facade; the PoP installs the
//! Prometheus recorder whose output `/metrics` serves.

/// Requests answered, by route (a fixed set of names, never the raw path) and status code.
pub const REQUESTS_TOTAL: &str = "warren_admin_requests_total";

pub(crate) fn describe() {
    metrics::describe_counter!(REQUESTS_TOTAL, "Admin API requests answered, by route and status code.");
}

pub(crate) fn record(route: &'static str, status: u16) {
    metrics::counter!(REQUESTS_TOTAL, "route" => route, "status" => status.to_string()).increment(1);
}
