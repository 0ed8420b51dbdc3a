//! The PoP's metrics: the Prometheus recorder every crate records into, and the PoP's own names.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Counter: bytes relayed on TCP endpoints, label `direction` (`in` from clients, `out` to them).
pub const TCP_BYTES: &str = "warren_edge_tcp_bytes_total";

/// Counter: TCP connections closed by an endpoint's `on_tcp_connect` policy.
pub const TCP_REFUSED: &str = "warren_edge_tcp_policy_refused_total";

/// Installs the process-wide recorder (once) and returns a handle that renders `/metrics`.
pub(crate) fn install() -> PrometheusHandle {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first (a test harness); then our
            // handle simply renders nothing, which the metrics test would notice.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
