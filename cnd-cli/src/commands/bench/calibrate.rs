//! `cnd bench --calibrate`: every kernel's single-thread rate, recorded for the choice of
//! kernel (`kernels.json`, read by `Kernel::best`), and this machine's hash rate per CPU with
//! the chosen kernel, stored for the planner (`calibration.json`).

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use cnd_core::{
    Exit, Format, HashRate, Kernel, KernelRate, Prepared, Sample, kernel_choice, mean_sd, measure_problem,
    measure_range, measure_sample, record_calibration,
};
use cnd_local::available_threads;
use serde::Serialize;

use crate::config::kernel_from;
use crate::flags::{BenchArgs, Output};
use crate::planning::{Calibration, measure_rate};

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
    /// The fastest kernel by `kernels` (the one `cnd` now chooses here).
    best: &'static str,
    /// Its lead over the next kernel, per format.
    margin: Option<String>,
    /// Every kernel's single-thread rate, nonces per CPU-second.
    kernels: Vec<KernelRate>,
    /// Where they were recorded (None, with `kernels_error`, when they could not be).
    kernels_path: Option<String>,
    kernels_error: Option<String>,
}

/// Every available kernel's single-thread rate per CPU-second, text and Bitcoin: `repeats`
/// interleaved measurements of `duration` / 2 each, summed.
fn kernel_rates(repeats: u32, duration: Duration) -> Vec<KernelRate> {
    let kernels = Kernel::available();
    let formats = [Format::Text, Format::Bitcoin];
    let prepared = formats.map(|f| Prepared::new(&measure_problem(f)));
    let next = AtomicU64::new(0);
    let mut sums = vec![[Sample::default(); 2]; kernels.len()];
    for _ in 0..repeats {
        for (k, sum) in kernels.iter().zip(sums.iter_mut()) {
            for (i, f) in formats.iter().enumerate() {
                let s = measure_sample(*k, &prepared[i], measure_range(*f), &next, duration / 2);
                sum[i] = Sample {
                    hashes: sum[i].hashes + s.hashes,
                    wall_s: sum[i].wall_s + s.wall_s,
                    cpu_s: sum[i].cpu_s + s.cpu_s,
                };
            }
        }
    }
    kernels
        .iter()
        .zip(sums)
        .map(|(k, [t, b])| KernelRate {
            kernel: k.name().into(),
            text: t.per_cpu_second(),
            bitcoin: b.per_cpu_second(),
        })
        .collect()
}

/// Measures every kernel on one thread and records it for the choice of kernel; then this
/// machine's hash rate per CPU (every CPU hashing) and alone with the chosen kernel (or
/// `--kernel`), stored for `cnd plan` and `--workers auto`.
pub fn calibrate(args: &BenchArgs, out: Output, duration: Duration) -> anyhow::Result<Exit> {
    let repeats = args.repeats.max(1);
    if !out.json && !out.quiet {
        eprintln!(
            "measuring every kernel on one thread ({repeats} × {:.2} s per kernel and format)",
            args.seconds / 2.0
        );
    }
    let rates = kernel_rates(repeats, duration);
    let best = kernel_choice::fastest(&rates, None, &Kernel::available()).unwrap_or(Kernel::Portable);
    let margin = kernel_choice::margin(&rates, best);
    let (kernels_path, kernels_error) = match record_calibration(rates.clone()) {
        Ok(p) => (Some(p.display().to_string()), None),
        Err(e) => (None, Some(e)),
    };
    let kernel = kernel_from(&args.kernel)?.unwrap_or(best);
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
        best: best.name(),
        margin,
        kernels: rates,
        kernels_path,
        kernels_error,
    };
    if out.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(Exit::Found);
    }
    println!("kernels, one thread, per CPU-second (text / bitcoin):");
    for r in &report.kernels {
        println!("  {:<9} {:>12} / {}", r.kernel, HashRate(r.text).to_string(), HashRate(r.bitcoin));
    }
    let margin = report.margin.as_deref().map(|m| format!(", {m}")).unwrap_or_default();
    println!("best here: {best}{margin}");
    match (&report.kernels_path, &report.kernels_error) {
        (Some(p), _) => println!("recorded {p}: cnd chooses {best} on this CPU with this binary"),
        (None, e) => println!("not recorded ({}): cnd will probe on each start", e.as_deref().unwrap_or("?")),
    }
    println!("calibration ({kernel} kernel, {} s × {repeats} per measurement)", args.seconds);
    println!("  1 thread      {} ± {}", HashRate(single_mean), HashRate(single_sd));
    println!(
        "  {threads} threads     {} per CPU ± {} ({} in all)",
        HashRate(per_cpu_mean),
        HashRate(per_cpu_sd),
        HashRate(per_cpu_mean * f64::from(threads))
    );
    println!("stored {}: cnd plan assumes {} per CPU", report.path, HashRate(per_cpu_mean));
    Ok(Exit::Found)
}
