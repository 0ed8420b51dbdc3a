//! The server's metrics, scraped in Prometheus text form. A test binary of its own: the
//! recorder is process-wide.

mod support;

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use support::*;

/// The value of the sample `name{labels}` (labels as rendered, in order), or 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn queries_answers_ecs_chosen_pops_and_malformed_packets_are_counted() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).unwrap();
    warren_dns::metrics::describe();

    let s = start("pop-fra").await;
    let _ = a_for(s.udp(), "www.edge.test", Some(&Opt::ecs(PARIS_NET))).await;
    let _ = a_for(s.udp(), "www.edge.test", Some(&Opt::ecs(NEW_YORK_NET))).await;
    let _ = parse(&tcp(s.tcp(), &query("edge.test", A, Some(&Opt::ecs(TOKYO_NET)))).await);
    let _ = parse(&udp(s.udp(), &query("nope.edge.test", AAAA, None)).await);
    let _ = parse(&udp(s.udp(), &query("example.com", MX, None)).await);
    // Malformed: one dropped (too short), one FORMERR (bad ECS).
    assert!(udp_maybe(s.udp(), &[1, 2, 3], Duration::from_millis(200)).await.is_none());
    let _ = parse(&udp(s.udp(), &query("www.edge.test", A, Some(&Opt::ecs_raw(&[0, 9, 0, 0])))).await);

    let text = handle.render();
    let check = |series: &str, want: f64| assert_eq!(sample(&text, series), want, "{series} in\n{text}");
    check(r#"warren_dns_queries_total{qtype="A",rcode="NOERROR"}"#, 3.0);
    check(r#"warren_dns_queries_total{qtype="AAAA",rcode="NXDOMAIN"}"#, 1.0);
    check(r#"warren_dns_queries_total{qtype="MX",rcode="REFUSED"}"#, 1.0);
    check(r#"warren_dns_queries_total{qtype="A",rcode="FORMERR"}"#, 1.0);
    check("warren_dns_ecs_total", 3.0);
    check(r#"warren_dns_chosen_pop_total{pop="pop-fra"}"#, 1.0);
    check(r#"warren_dns_chosen_pop_total{pop="pop-iad"}"#, 1.0);
    check(r#"warren_dns_chosen_pop_total{pop="pop-sin"}"#, 1.0);
    check("warren_dns_malformed_total", 2.0);
    check(r#"warren_dns_answer_seconds_count{proto="udp"}"#, 5.0);
    check(r#"warren_dns_answer_seconds_count{proto="tcp"}"#, 1.0);
    assert!(text.contains("# HELP warren_dns_queries_total"), "{text}");
}
