//! `cnd bench --calibrate`: this machine's hash rate per CPU, stored for the planner.

use std::time::Duration;

use cnd_core::{Exit, HashRate, mean_sd};
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
}

/// Measures this machine's hash rate per CPU (every CPU hashing) and alone, and stores it
/// for `cnd plan` and `--workers auto`.
pub fn calibrate(args: &BenchArgs, out: Output, duration: Duration) -> anyhow::Result<Exit> {
    let kernel = kernel_from(&args.kernel)?.unwrap_or_else(cnd_core::Kernel::best);
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
    if out.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(Exit::Found);
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
