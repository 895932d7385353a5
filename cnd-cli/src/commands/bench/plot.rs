//! The SVG plot of `cnd bench --scaling`.

use std::path::Path;

use cnd_core::HashRate;

use super::points::{ScalingPoint, ScalingReport};

/// Time to solution against workers, log-log: every run, the medians with their
/// interquartile range and min–max whiskers, the ideal 1/W curve from the first point, the
/// planner's median ln 2·2^D/(W·r) with r the per-worker hash rate measured at the first
/// point, and the same median with the total hash rate measured at each point.
pub fn draw(path: &Path, r: &ScalingReport) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;

    let found: Vec<&ScalingPoint> = r.points.iter().filter(|p| p.found > 0).collect();
    let Some(first) = found.first() else { return Err("no run found a golden nonce".into()) };
    let (w_min, w_max) = (f64::from(r.points[0].workers), f64::from(r.points[r.points.len() - 1].workers));
    let all_times = r.points.iter().flat_map(|p| p.runs.iter().filter(|x| x.found).map(|x| x.time_s));
    let (t_min, t_max) = all_times.fold((f64::INFINITY, 0f64), |(a, b), t| (a.min(t), b.max(t)));
    // Room above the data for the legend.
    let (t_min, t_max) = (t_min.max(1e-3) / 1.5, t_max.max(1e-3) * 4.0);
    let ticks: Vec<f64> = r.points.iter().map(|p| f64::from(p.workers)).collect();

    let root = SVGBackend::new(path, (860, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "cnd: time to a golden nonce, D = {}, {} backend, {} runs per point",
                r.difficulty, r.backend, r.runs_per_point
            ),
            ("sans-serif", 20),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (w_min / 1.3..w_max * 1.3).log_scale().with_key_points(ticks.clone()),
            (t_min..t_max).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("workers (log scale)")
        .y_desc("time to solution, s (log scale)")
        .axis_desc_style(("sans-serif", 15))
        .label_style(("sans-serif", 13))
        .x_labels(ticks.len())
        .x_label_formatter(&|w| format!("{w:.0}"))
        .y_label_formatter(&|t| if *t < 1.0 { format!("{t:.2}") } else { format!("{t:.1}") })
        .light_line_style(WHITE.mix(0.0))
        .draw()?;

    let blue = RGBColor(31, 119, 180);
    // Every run, spread a little sideways so that equal times stay visible.
    chart
        .draw_series(r.points.iter().flat_map(|p| {
            let n = p.runs.len().max(1) as f64;
            p.runs.iter().enumerate().filter(|(_, x)| x.found).map(move |(i, x)| {
                let jitter = 1.0 + 0.08 * ((i as f64 + 0.5) / n - 0.5);
                Circle::new((f64::from(p.workers) * jitter, x.time_s), 3, blue.mix(0.35).filled())
            })
        }))?
        .label("each run")
        .legend(move |(x, y)| Circle::new((x + 10, y), 3, blue.mix(0.35).filled()));
    // Min–max whiskers and the interquartile range around the median.
    chart.draw_series(found.iter().map(|p| {
        ErrorBar::new_vertical(f64::from(p.workers), p.min_s, p.median_s, p.max_s, BLACK.mix(0.4).stroke_width(1), 8)
    }))?;
    chart
        .draw_series(found.iter().map(|p| {
            ErrorBar::new_vertical(f64::from(p.workers), p.p25_s, p.median_s, p.p75_s, BLACK.stroke_width(3), 16)
        }))?
        .label("median, 25-75% (bar), min-max (whisker)")
        .legend(|(x, y)| PathElement::new(vec![(x, y - 6), (x, y + 6)], BLACK.stroke_width(3)));
    chart.draw_series(LineSeries::new(
        found.iter().map(|p| (f64::from(p.workers), p.median_s)),
        BLACK.stroke_width(1),
    ))?;
    chart.draw_series(found.iter().map(|p| Circle::new((f64::from(p.workers), p.median_s), 5, BLACK.filled())))?;

    // Ideal scaling from the first point: T(W) = T(W0)·W0/W.
    let grid: Vec<f64> = (0..=64).map(|i| w_min * (w_max / w_min).powf(f64::from(i) / 64.0)).collect();
    let (w0, t0) = (f64::from(first.workers), first.median_s);
    let red = RGBColor(214, 39, 40);
    chart
        .draw_series(DashedLineSeries::new(grid.iter().map(|&w| (w, t0 * w0 / w)), 8, 5, red.stroke_width(2)))?
        .label(format!("ideal 1/W from the {} worker median", first.workers))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red.stroke_width(2)));
    // The planner's median with the rate measured at the first point (per worker).
    let per_worker = first.hash_rate / w0;
    let p = 2f64.powi(-(r.difficulty as i32));
    let median_hashes = 2f64.ln() / -(-p).ln_1p();
    let green = RGBColor(44, 160, 44);
    chart
        .draw_series(LineSeries::new(
            grid.iter().map(|&w| (w, median_hashes / (w * per_worker))),
            green.stroke_width(2),
        ))?
        .label(format!("planner median ln2·2^D/(W·r), r = {}", HashRate(per_worker)))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], green.stroke_width(2)));

    // The same with the hash rate measured at each point: where the model and the medians
    // part, the workers did not hash faster together (shared cores, start-up).
    let purple = RGBColor(148, 103, 189);
    chart
        .draw_series(LineSeries::new(
            r.points.iter().map(|p| (f64::from(p.workers), median_hashes / p.hash_rate)),
            purple.stroke_width(2),
        ))?
        .label("planner median with the hash rate measured at each W")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], purple.stroke_width(2)));
    chart.draw_series(
        r.points
            .iter()
            .map(|p| TriangleMarker::new((f64::from(p.workers), median_hashes / p.hash_rate), 6, purple.filled())),
    )?;

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.5))
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::points::ScalingRun;
    use super::*;

    #[test]
    fn a_plot_is_an_svg() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.svg");
        let run = |t: f64| ScalingRun { time_s: t, hashes: (t * 1e6) as u64, found: true };
        let report = ScalingReport {
            difficulty: 20,
            runs_per_point: 3,
            backend: "local",
            kernel: "portable".into(),
            cpus: 2,
            points: vec![
                ScalingPoint::new(1, vec![run(0.5), run(1.0), run(2.0)]),
                ScalingPoint::new(2, vec![run(0.3), run(0.5), run(1.1)]),
            ],
            plot: None,
        };
        draw(&path, &report).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.contains("ideal 1/W"));
    }
}
