//! `cnd bench --calibrate` (this machine's hash rate per CPU, stored for the planner) and
//! `cnd bench --scaling` (time to solution against workers: table, JSON and an SVG plot).

use std::io::IsTerminal as _;
use std::path::Path;
use std::time::Duration;

use clap::Parser;
use cnd_core::{Dispatcher, Mode, Outcome, Problem, RunSpec, coordinate, new_run_id};
use cnd_local::{LocalDispatcher, available_threads};
use serde::Serialize;

use crate::args::{Backend, Globals, SearchArgs, kernel_from};
use crate::bench::BenchArgs;
use crate::exit::{Exit, usage};
use crate::output::{group_digits, rate};
use crate::plan::{Calibration, measure_rate};

/// Mean and standard deviation.
fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 { xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

/// The q-quantile of sorted values, linearly interpolated (R's type 7).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

fn check_seconds(seconds: f64) -> anyhow::Result<Duration> {
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0) {
        return Err(usage(format!("--seconds: {seconds} is out of range (allowed: 0 < S <= 3600)")));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// What `cnd bench --calibrate` measured and stored.
#[derive(Debug, Serialize)]
struct CalibrationReport {
    #[serde(flatten)]
    calibration: Calibration,
    single_thread_sd: f64,
    per_cpu_sd: f64,
    seconds: f64,
    repeats: u32,
    path: String,
}

/// Measures this machine's hash rate per CPU (every CPU hashing) and alone, and stores it
/// for `cnd plan` and `--workers auto`.
pub fn calibrate(args: &BenchArgs, globals: &Globals) -> anyhow::Result<Exit> {
    let kernel = kernel_from(args.kernel.as_deref())?;
    let duration = check_seconds(args.seconds)?;
    let repeats = args.repeats.max(1);
    let threads = available_threads();
    let single: Vec<f64> = (0..repeats).map(|_| measure_rate(kernel, 1, duration)).collect();
    let per_cpu: Vec<f64> =
        (0..repeats).map(|_| measure_rate(kernel, threads, duration) / f64::from(threads)).collect();
    let ((single_mean, single_sd), (per_cpu_mean, per_cpu_sd)) = (mean_sd(&single), mean_sd(&per_cpu));
    let calibration = Calibration {
        kernel: kernel.name().to_string(),
        per_cpu_rate: per_cpu_mean,
        single_thread_rate: single_mean,
        threads,
        measured_unix_s: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let path = calibration.store()?;
    let report = CalibrationReport {
        calibration,
        single_thread_sd: single_sd,
        per_cpu_sd,
        seconds: args.seconds,
        repeats,
        path: path.display().to_string(),
    };
    if globals.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(Exit::Found);
    }
    println!("calibration ({kernel} kernel, {} s × {repeats} per measurement)", args.seconds);
    println!("  1 thread      {} ± {}", rate(single_mean), rate(single_sd));
    println!(
        "  {threads} threads     {} per CPU ± {} ({} in all)",
        rate(per_cpu_mean),
        rate(per_cpu_sd),
        rate(per_cpu_mean * f64::from(threads))
    );
    println!("stored {}: cnd plan assumes {} per CPU", report.path, rate(per_cpu_mean));
    Ok(Exit::Found)
}

/// One search of the scaling benchmark.
#[derive(Debug, Clone, Serialize)]
struct ScalingRun {
    /// Wall-clock time of the run, start-up included.
    time_s: f64,
    /// Hashes of all workers.
    hashes: u64,
    /// A golden nonce was found (else the range was used up).
    found: bool,
}

/// The runs of one worker count, summarised.
#[derive(Debug, Clone, Serialize)]
struct ScalingPoint {
    workers: u32,
    runs: Vec<ScalingRun>,
    /// Runs that found a golden nonce (the statistics below are over these).
    found: usize,
    median_s: f64,
    p25_s: f64,
    p75_s: f64,
    min_s: f64,
    max_s: f64,
    mean_s: f64,
    sd_s: f64,
    median_hashes: f64,
    /// All hashes over all time: the measured throughput.
    hash_rate: f64,
    /// Median time at the first worker count × its workers / median time here.
    speedup: f64,
    /// speedup / (workers / first worker count).
    efficiency: f64,
    /// The same from the hash rates (much less noisy than medians of exponential times).
    speedup_rate: f64,
    /// speedup_rate / (workers / first worker count).
    efficiency_rate: f64,
}

impl ScalingPoint {
    fn new(workers: u32, runs: Vec<ScalingRun>) -> Self {
        let mut times: Vec<f64> = runs.iter().filter(|r| r.found).map(|r| r.time_s).collect();
        times.sort_by(f64::total_cmp);
        let mut hashes: Vec<f64> = runs.iter().filter(|r| r.found).map(|r| r.hashes as f64).collect();
        hashes.sort_by(f64::total_cmp);
        let total_time: f64 = runs.iter().map(|r| r.time_s).sum();
        let total_hashes: f64 = runs.iter().map(|r| r.hashes as f64).sum();
        let (mean_s, sd_s) = if times.is_empty() { (f64::NAN, f64::NAN) } else { mean_sd(&times) };
        let q = |v: &[f64], q: f64| if v.is_empty() { f64::NAN } else { quantile(v, q) };
        ScalingPoint {
            workers,
            found: times.len(),
            median_s: q(&times, 0.5),
            p25_s: q(&times, 0.25),
            p75_s: q(&times, 0.75),
            min_s: q(&times, 0.0),
            max_s: q(&times, 1.0),
            mean_s,
            sd_s,
            median_hashes: q(&hashes, 0.5),
            hash_rate: total_hashes / total_time.max(1e-9),
            speedup: 1.0,
            efficiency: 1.0,
            speedup_rate: 1.0,
            efficiency_rate: 1.0,
            runs,
        }
    }
}

/// The scaling benchmark's result.
#[derive(Debug, Serialize)]
struct ScalingReport {
    difficulty: u32,
    runs_per_point: u32,
    backend: &'static str,
    kernel: String,
    cpus: u32,
    points: Vec<ScalingPoint>,
    plot: Option<String>,
}

/// Parses a search's flags for the process and Kubernetes dispatcher factories, which take
/// them as `cnd` would (their settings come from the `CND_*` environment).
#[derive(Debug, Parser)]
struct SearchFlags {
    #[command(flatten)]
    search: SearchArgs,
}

/// Time to solution against workers: for each worker count, `--runs` searches on distinct
/// random blocks; a table (or JSON) and optionally an SVG plot.
pub fn scaling(args: &BenchArgs, globals: &Globals) -> anyhow::Result<Exit> {
    let kernel = kernel_from(args.kernel.as_deref())?;
    let mut workers = args.workers.clone();
    workers.sort_unstable();
    workers.dedup();
    if workers.is_empty() {
        return Err(usage("--workers: no worker count (allowed: a list such as 1,2,4)"));
    }
    if let Some(plot) = &args.plot
        && plot.extension().and_then(|e| e.to_str()).is_none_or(|e| !e.eq_ignore_ascii_case("svg"))
    {
        return Err(usage(format!("--plot: '{}' is not an .svg file (allowed: FILE.svg)", plot.display())));
    }
    let backend_name = match args.backend {
        Backend::Local => "local",
        Backend::Process => "process",
        Backend::K8s => "k8s",
    };
    let show = !globals.quiet && !globals.json && std::io::stderr().is_terminal();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("cnd-async").enable_all().build()?;
    let mut points = Vec::with_capacity(workers.len());
    for &w in &workers {
        let mut runs = Vec::with_capacity(args.runs as usize);
        for i in 0..args.runs {
            if show {
                eprint!("\r{w} workers: run {}/{}   ", i + 1, args.runs);
            }
            let block = format!("cnd-scaling-{}", new_run_id());
            let problem = Problem::text(block.clone().into_bytes(), args.difficulty)?;
            let spec = RunSpec::new(problem, w, Mode::First);
            let result = runtime.block_on(async {
                let mut dispatcher: Box<dyn Dispatcher> = match args.backend {
                    Backend::Local => Box::new(LocalDispatcher::new(kernel)),
                    Backend::Process | Backend::K8s => {
                        let flags = SearchFlags::try_parse_from([
                            "cnd".to_string(),
                            format!("--backend={backend_name}"),
                            format!("-d{}", args.difficulty),
                            format!("--block={block}"),
                            format!("--workers={w}"),
                            format!("--kernel={}", kernel.name()),
                        ])
                        .map_err(|e| usage(format!("--backend {backend_name}: {}", e.kind())))?;
                        match args.backend {
                            Backend::Process => {
                                crate::process_backend::dispatcher(&flags.search, &spec, kernel).await?
                            }
                            _ => crate::k8s_cmd::dispatcher(&flags.search, &spec).await?,
                        }
                    }
                };
                anyhow::Ok(coordinate(dispatcher.as_mut(), &spec, crate::search::stop_signal(None)).await?)
            })?;
            match result.outcome {
                Outcome::Found(_) | Outcome::Exhausted { .. } => runs.push(ScalingRun {
                    time_s: result.elapsed.as_secs_f64(),
                    hashes: result.hashes,
                    found: matches!(result.outcome, Outcome::Found(_)),
                }),
                Outcome::Stopped(_) => {
                    if show {
                        eprintln!();
                    }
                    eprintln!("cancelled: nothing left running");
                    return Ok(Exit::Stopped);
                }
            }
        }
        points.push(ScalingPoint::new(w, runs));
    }
    if show {
        eprint!("\r{:40}\r", "");
    }
    runtime.shutdown_timeout(Duration::from_secs(2));

    let (base_w, base_median, base_rate) = (points[0].workers, points[0].median_s, points[0].hash_rate);
    for p in &mut points {
        let ideal = f64::from(p.workers) / f64::from(base_w);
        p.speedup = base_median / p.median_s;
        p.efficiency = p.speedup / ideal;
        p.speedup_rate = p.hash_rate / base_rate;
        p.efficiency_rate = p.speedup_rate / ideal;
    }
    let report = ScalingReport {
        difficulty: args.difficulty,
        runs_per_point: args.runs,
        backend: backend_name,
        kernel: kernel.name().to_string(),
        cpus: available_threads(),
        plot: args.plot.as_ref().map(|p| p.display().to_string()),
        points,
    };
    if let Some(path) = &args.plot {
        draw(path, &report).map_err(|e| anyhow::anyhow!("--plot: cannot draw {}: {e}", path.display()))?;
    }
    if globals.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    Ok(Exit::Found)
}

fn secs(s: f64) -> String {
    if s.is_nan() {
        "-".into()
    } else if s < 10.0 {
        format!("{s:.2} s")
    } else {
        format!("{s:.1} s")
    }
}

fn print_table(r: &ScalingReport) {
    println!(
        "scaling: D={}, {} runs per worker count on distinct random blocks, {} backend, {} kernel, {} CPUs here",
        r.difficulty, r.runs_per_point, r.backend, r.kernel, r.cpus
    );
    println!(
        "{:>7}  {:>9}  {:>19}  {:>19}  {:>14}  {:>11}  {:>8}  {:>10}  {:>8}  {:>10}",
        "workers",
        "median",
        "IQR (25%-75%)",
        "min .. max",
        "median hashes",
        "hash rate",
        "speed-up",
        "efficiency",
        "rate x",
        "rate eff."
    );
    for p in &r.points {
        let missing =
            if p.found < p.runs.len() { format!("  ({} exhausted)", p.runs.len() - p.found) } else { String::new() };
        println!(
            "{:>7}  {:>9}  {:>19}  {:>19}  {:>14}  {:>11}  {:>8.2}  {:>9.0}%  {:>8.2}  {:>9.0}%{missing}",
            p.workers,
            secs(p.median_s),
            format!("{} - {}", secs(p.p25_s), secs(p.p75_s)),
            format!("{} .. {}", secs(p.min_s), secs(p.max_s)),
            if p.median_hashes.is_nan() { "-".into() } else { group_digits(p.median_hashes as u64) },
            rate(p.hash_rate),
            p.speedup,
            100.0 * p.efficiency,
            p.speedup_rate,
            100.0 * p.efficiency_rate
        );
    }
    println!(
        "speed-up and efficiency: from the median times (noisy: a time to solution is exponential, its median \
         over {} runs is within about ±{:.0}% at 95%) and from the hash rates (rate x, rate eff.)",
        r.runs_per_point,
        100.0 * 1.96 * median_relative_se(r.runs_per_point)
    );
    if let Some(plot) = &r.plot {
        println!("plot: {plot}");
    }
}

/// Relative standard error of the median of n exponential samples: 1/(2·f(m)·m·√n) with
/// f(m)·m = ln 2 / 2 for the exponential law, i.e. 1/(ln 2·√n).
fn median_relative_se(n: u32) -> f64 {
    1.0 / (2f64.ln() * f64::from(n).sqrt())
}

/// Time to solution against workers, log-log: every run, the medians with their
/// interquartile range and min–max whiskers, the ideal 1/W curve from the first point, the
/// planner's median ln 2·2^D/(W·r) with r the per-worker hash rate measured at the first
/// point, and the same median with the total hash rate measured at each point.
fn draw(path: &Path, r: &ScalingReport) -> Result<(), Box<dyn std::error::Error>> {
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
        .label(format!("planner median ln2·2^D/(W·r), r = {}", rate(per_worker)))
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
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 4.0);
        assert_eq!(quantile(&v, 0.5), 2.5);
        assert!((quantile(&v, 0.25) - 1.75).abs() < 1e-12);
        assert_eq!(mean_sd(&[2.0, 4.0]), (3.0, 2f64.sqrt()));
    }

    #[test]
    fn median_of_exponential_times_is_noisy() {
        // 20 runs: ±35 % at 95 %; this is why the table also shows speed-ups from rates.
        assert!((1.96 * median_relative_se(20) - 0.633).abs() < 0.01);
    }

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
