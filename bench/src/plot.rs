//! The "ACTIVE instances over time" plot, written as SVG by hand: one panel per scenario, one
//! step line per controller.

use std::fmt::Write as _;

use crate::report::{Comparison, Report};

const PANEL_WIDTH: f64 = 460.0;
const PANEL_HEIGHT: f64 = 240.0;
const MARGIN_LEFT: f64 = 56.0;
const MARGIN_RIGHT: f64 = 16.0;
const MARGIN_TOP: f64 = 30.0;
const MARGIN_BOTTOM: f64 = 40.0;
const COLUMNS: usize = 2;
const TICKS: usize = 5;
/// Lines are drawn from at most this many points, so a 3,000-instance run stays a small file.
const MAX_POINTS: usize = 400;

/// Line colour per controller (colour-blind-safe pair), grey for anything else.
fn colour(controller: &str) -> &'static str {
    match controller {
        "upstream-kro" => "#d55e00",
        "kro-rs" => "#0072b2",
        _ => "#555555",
    }
}

/// A "nice" axis maximum (1, 2 or 5 times a power of ten) at or above `value`.
#[must_use]
pub fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * magnitude)
        .find(|candidate| *candidate >= value)
        .unwrap_or(10.0 * magnitude)
}

/// Keeps at most `limit` points, always including the first and the last.
#[must_use]
pub fn thin(points: &[(f64, usize)], limit: usize) -> Vec<(f64, usize)> {
    if points.len() <= limit || limit < 2 {
        return points.to_vec();
    }
    let step = (points.len() - 1) as f64 / (limit - 1) as f64;
    (0..limit)
        .map(|i| points[((i as f64) * step).round() as usize])
        .collect()
}

fn axis_label(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn panel(out: &mut String, comparison: &Comparison, x0: f64, y0: f64) {
    let plot_w = PANEL_WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
    let plot_h = PANEL_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;
    let left = x0 + MARGIN_LEFT;
    let top = y0 + MARGIN_TOP;
    let bottom = top + plot_h;
    let max_t = comparison
        .runs
        .iter()
        .flat_map(|run| {
            run.active_over_time
                .iter()
                .map(|(t, _)| *t)
                .chain([run.wall_seconds])
        })
        .fold(0.0, f64::max);
    let x_max = nice_ceiling(max_t);
    let y_max = nice_ceiling(comparison.instances as f64);
    let sx = |t: f64| left + t / x_max * plot_w;
    let sy = |n: f64| bottom - n / y_max * plot_h;
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" font-size="13" font-weight="bold">{}</text>"#,
        left,
        y0 + 18.0,
        comparison.scenario
    );
    for tick in 0..=TICKS {
        let fraction = tick as f64 / TICKS as f64;
        let (x, y) = (left + fraction * plot_w, bottom - fraction * plot_h);
        let _ = writeln!(
            out,
            r##"<line x1="{left:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="end">{}</text>"##,
            left + plot_w,
            left - 4.0,
            y + 3.0,
            axis_label(fraction * y_max)
        );
        let _ = writeln!(
            out,
            r#"<text x="{x:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#,
            bottom + 14.0,
            axis_label(fraction * x_max)
        );
    }
    let _ = writeln!(
        out,
        r##"<rect x="{left:.1}" y="{top:.1}" width="{plot_w:.1}" height="{plot_h:.1}" fill="none" stroke="#888"/><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">seconds since first create</text><text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle" transform="rotate(-90 {:.1} {:.1})">instances ACTIVE</text>"##,
        left + plot_w / 2.0,
        bottom + 30.0,
        x0 + 14.0,
        top + plot_h / 2.0,
        x0 + 14.0,
        top + plot_h / 2.0
    );
    for (index, run) in comparison.runs.iter().enumerate() {
        let mut points = String::new();
        let mut previous = 0usize;
        let _ = write!(points, "{:.1},{:.1}", sx(0.0), sy(0.0));
        for (t, active) in thin(&run.active_over_time, MAX_POINTS) {
            // A step line: the count holds until the next instance turns ACTIVE.
            let _ = write!(
                points,
                " {:.1},{:.1} {:.1},{:.1}",
                sx(t),
                sy(previous as f64),
                sx(t),
                sy(active as f64)
            );
            previous = active;
        }
        let colour = colour(&run.controller);
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{points}"/>"#
        );
        let legend_y = top + 14.0 + 14.0 * index as f64;
        let _ = writeln!(
            out,
            r#"<line x1="{:.1}" y1="{legend_y:.1}" x2="{:.1}" y2="{legend_y:.1}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text>"#,
            left + plot_w - 120.0,
            left + plot_w - 100.0,
            left + plot_w - 95.0,
            legend_y + 4.0,
            run.controller
        );
    }
}

/// The plot for every comparison in the report that has instances to show.
#[must_use]
pub fn render(report: &Report) -> String {
    let panels: Vec<&Comparison> = report
        .comparisons
        .iter()
        .filter(|c| !c.scenario.starts_with("idle"))
        .collect();
    let rows = panels.len().div_ceil(COLUMNS).max(1);
    let width = PANEL_WIDTH * COLUMNS as f64;
    let height = PANEL_HEIGHT * rows as f64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for (index, comparison) in panels.iter().enumerate() {
        let x0 = PANEL_WIDTH * (index % COLUMNS) as f64;
        let y0 = PANEL_HEIGHT * (index / COLUMNS) as f64;
        panel(&mut out, comparison, x0, y0);
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::report::tests::run;
    use crate::report::{BASELINE, Report};

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(100.0), 100.0);
        assert_eq!(nice_ceiling(101.0), 200.0);
        assert_eq!(nice_ceiling(3000.0), 5000.0);
        assert_eq!(nice_ceiling(0.3), 0.5);
    }

    #[test]
    fn thinning_keeps_ends() {
        let points: Vec<(f64, usize)> = (0..1000).map(|i| (i as f64, i)).collect();
        let thinned = thin(&points, 10);
        assert_eq!(thinned.len(), 10);
        assert_eq!(thinned[0], (0.0, 0));
        assert_eq!(thinned[9], (999.0, 999));
        assert_eq!(thin(&points[..5], 10).len(), 5);
    }

    #[test]
    fn renders_a_panel_per_scenario_with_both_lines() {
        let comparisons = ["three-resource:10", "chain:10", "idle-noise:1"]
            .into_iter()
            .map(|name| {
                Comparison::new(
                    name.into(),
                    10,
                    vec![
                        run(BASELINE, 30.0, 80.0, 100),
                        run("kro-rs", 10.0, 20.0, 50),
                    ],
                )
            })
            .collect();
        let report = Report {
            environment: BTreeMap::new(),
            comparisons,
        };
        let svg = render(&report);
        assert!(svg.starts_with("<svg "));
        assert!(svg.ends_with("</svg>\n"));
        assert_eq!(
            svg.matches("<polyline").count(),
            4,
            "idle scenario is not plotted"
        );
        assert!(svg.contains(">three-resource:10<") && svg.contains(">chain:10<"));
        assert!(svg.contains("#d55e00") && svg.contains("#0072b2"));
        assert_eq!(svg, render(&report));
    }
}
