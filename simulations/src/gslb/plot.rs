//! The model's SVG charts, drawn by plotters' SVG backend into strings (text stays `<text>`,
//! so no font library is needed, and the output is a pure function of the numbers).

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Phase, Policy, Results};
use crate::SimError;

const CDF_MAX_MS: f64 = 400.0;

fn color(policy: Policy) -> RGBColor {
    match policy {
        Policy::Warren => RGBColor(31, 119, 180),
        Policy::Anycast => RGBColor(214, 39, 40),
        Policy::Nearest => RGBColor(44, 160, 44),
        Policy::RoundRobin => RGBColor(150, 150, 150),
        Policy::Oracle => RGBColor(0, 0, 0),
    }
}

/// Every chart: file name → SVG.
pub fn charts(r: &Results) -> Result<BTreeMap<&'static str, String>, SimError> {
    let mut out = BTreeMap::new();
    out.insert("gslb-latency-cdf.svg", cdf_chart(r, "normal", Phase::Steady, "gslb-latency-cdf.svg")?);
    out.insert("gslb-failure.svg", cdf_chart(r, "eu-down", Phase::Settled, "gslb-failure.svg")?);
    let all = [Policy::Warren, Policy::Anycast, Policy::RoundRobin, Policy::Oracle];
    out.insert("gslb-load.svg", load_chart(r, "normal", Phase::Steady, &all, "gslb-load.svg")?);
    let failing = [Policy::Warren, Policy::Anycast, Policy::Nearest];
    out.insert("gslb-failure-load.svg", load_chart(r, "eu-down", Phase::Settled, &failing, "gslb-failure-load.svg")?);
    out.insert("gslb-sweep.svg", sweep_chart(r)?);
    Ok(out)
}

/// Draws into a fresh SVG string of `size`.
fn svg(
    name: &'static str,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String>,
) -> Result<String, SimError> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| e.to_string())
            .and_then(|()| draw(&root))
            .and_then(|()| root.present().map_err(|e| e.to_string()))
    }
    .map_err(|reason| SimError::Plot { name, reason })?;
    Ok(buf)
}

/// The CDF of the round trip over all clients, one line per policy; lines of policies that
/// send clients to dead PoPs stop below 1.
fn cdf_chart(r: &Results, scenario: &str, phase: Phase, name: &'static str) -> Result<String, SimError> {
    let title = match scenario {
        "normal" => format!("Client round trip, every PoP up (seed {})", r.seed),
        other => format!("Client round trip, {other} ({}, seed {})", phase.name(), r.seed),
    };
    svg(name, (960, 600), |root| {
        let e = |e: DrawingAreaErrorKind<_>| e.to_string();
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..CDF_MAX_MS, 0f64..1f64)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("round trip to the chosen PoP (ms)")
            .y_desc("share of clients (population) served within")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
            .draw()
            .map_err(e)?;
        // Warren last, so it is drawn over nearest-only where the two coincide.
        for policy in [Policy::RoundRobin, Policy::Nearest, Policy::Anycast, Policy::Oracle, Policy::Warren] {
            let Some(run) = r.run(scenario, phase, policy) else { continue };
            let s = run.outcome.summary();
            let points: Vec<(f64, f64)> =
                (0..=CDF_MAX_MS as u32).map(|ms| (f64::from(ms), run.outcome.cdf(f64::from(ms)))).collect();
            let c = color(policy);
            let mut label = format!("{} (p50 {:.0} ms, p99 {:.0} ms", policy.name(), s.p50, s.p99);
            if s.dead_share > 0.0 {
                label.push_str(&format!(", {:.1}% sent to dead PoPs", s.dead_share * 100.0));
            }
            label.push(')');
            chart
                .draw_series(LineSeries::new(points, c.stroke_width(if policy == Policy::Warren { 3 } else { 2 })))
                .map_err(e)?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(3)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(e)?;
        Ok(())
    })
}

/// Share of clients per PoP, one bar per policy, PoPs grouped by region.
fn load_chart(
    r: &Results,
    scenario: &str,
    phase: Phase,
    policies: &[Policy],
    name: &'static str,
) -> Result<String, SimError> {
    let mut order: Vec<usize> = (0..r.world.pops.len()).collect();
    order.sort_by_key(|&i| (r.world.pops[i].region, r.world.pops[i].id));
    let runs: Vec<_> = policies.iter().filter_map(|&p| r.run(scenario, phase, p)).collect();
    let Some(first) = runs.first() else { return Err(SimError::Plot { name, reason: "no runs".into() }) };
    let labels: Vec<String> = order
        .iter()
        .map(|&i| {
            let p = &r.world.pops[i];
            let down = if first.down[i] { " (down)" } else { "" };
            format!("{} {}{down}", p.id, p.region.code())
        })
        .collect();
    let shares: Vec<Vec<f64>> = runs.iter().map(|run| run.outcome.load_shares()).collect();
    let max = shares.iter().flatten().copied().fold(0.0, f64::max);
    // Up to the next 2 %, plus room for the legend.
    let x_max = (max * 50.0).ceil() / 50.0 + 0.01;
    let n = order.len();
    let title = match scenario {
        "normal" => format!("Share of clients per PoP, every PoP up (seed {})", r.seed),
        other => format!("Share of clients per PoP, {other} ({}, seed {})", phase.name(), r.seed),
    };
    svg(name, (960, 120 + 24 * n as u32), |root| {
        let e = |e: DrawingAreaErrorKind<_>| e.to_string();
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(120)
            .build_cartesian_2d(0f64..x_max, -0.5f64..(n as f64 - 0.5))
            .map_err(e)?;
        // Row i (from the top) is drawn at y = n - 1 - i.
        let label_of = |y: &f64| {
            let i = y.round();
            if (y - i).abs() > 1e-6 || i < 0.0 || i >= n as f64 {
                return String::new();
            }
            labels[n - 1 - i as usize].clone()
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n + 1)
            .y_label_formatter(&label_of)
            .x_label_formatter(&|x| format!("{:.0}%", x * 100.0))
            .x_desc("share of all clients (population)")
            .draw()
            .map_err(e)?;
        let height = 0.8 / runs.len() as f64;
        for (s, (run, shares)) in runs.iter().zip(&shares).enumerate() {
            let c = color(run.policy);
            let bars = order.iter().enumerate().map(|(row, &i)| {
                let y0 = (n - 1 - row) as f64 + 0.4 - (s + 1) as f64 * height;
                Rectangle::new([(0.0, y0), (shares[i], y0 + height)], c.filled())
            });
            chart
                .draw_series(bars)
                .map_err(e)?
                .label(run.policy.name())
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], c.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(e)?;
        Ok(())
    })
}

/// p50 and p99 against the number of PoPs (the first k of the rollout order).
fn sweep_chart(r: &Results) -> Result<String, SimError> {
    let name = "gslb-sweep.svg";
    let policies = [Policy::Warren, Policy::Anycast, Policy::Oracle];
    let series = |policy: Policy, pick: fn(&super::Summary) -> f64| -> Vec<(f64, f64)> {
        r.sweep.iter().filter(|row| row.policy == policy).map(|row| (row.pops as f64, pick(&row.summary))).collect()
    };
    let y_max =
        r.sweep.iter().filter(|row| policies.contains(&row.policy)).map(|row| row.summary.p99).fold(0.0, f64::max);
    let y_max = (y_max / 50.0).ceil() * 50.0;
    let x_max = r.sweep.iter().map(|row| row.pops).max().unwrap_or(1) as f64 + 2.0;
    svg(name, (960, 600), |root| {
        let e = |e: DrawingAreaErrorKind<_>| e.to_string();
        let mut chart = ChartBuilder::on(root)
            .caption(format!("Round trip against the number of PoPs (seed {})", r.seed), ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("PoPs (the first k of the rollout order)")
            .y_desc("round trip (ms)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(e)?;
        for policy in policies {
            let c = color(policy);
            for (what, pick, width) in [("p50", (|s| s.p50) as fn(&super::Summary) -> f64, 3), ("p99", |s| s.p99, 1)] {
                let points = series(policy, pick);
                chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, c.filled()))).map_err(e)?;
                chart
                    .draw_series(LineSeries::new(points, c.stroke_width(width)))
                    .map_err(e)?
                    .label(format!("{} {what}", policy.name()))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(width)));
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(e)?;
        Ok(())
    })
}
