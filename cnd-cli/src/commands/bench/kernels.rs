//! `cnd bench` (kernel rates): the hash rate of every kernel this CPU runs (or the one
//! `--kernel` names), on one thread and on all threads, for the text format (default block,
//! 10-digit nonces) and the Bitcoin format (the genesis header), mean ± σ over `--repeats`.
//!
//! Every rate is measured as the probe behind `Kernel::best` and `cargo bench --bench
//! kernels` measure it (`cnd_core::measure_sample`: the same nonces, chunks and clock); the
//! table says which kernel this measurement finds fastest on one thread, by how much, and
//! which kernel `cnd` chose here and why.
//!
//! Repeats are interleaved (every configuration once, then again) so that a change in the
//! machine's load during the benchmark spreads over all configurations instead of biasing
//! one. `benches/compare.sh` runs this with `--json` next to `openssl speed` and prints each
//! kernel's ratio to the single-stream SHA-256 bound.

use std::time::Duration;

use cnd_core::{Exit, Format, Kernel, KernelChoice, KernelRate, Prepared, mean_sd, measure_problem, measure_range};
use cnd_local::{Measured, available_threads, measure};
use serde::Serialize;

use crate::config::kernel_from;
use crate::flags::{BenchArgs, Output};

/// One configuration's measured rate.
#[derive(Debug, Serialize)]
struct ConfigRate {
    kernel: &'static str,
    format: &'static str,
    threads: u32,
    /// Nonces (double SHA-256 hashes) per second.
    mean: f64,
    sd: f64,
    min: f64,
    max: f64,
    /// Every repeat's rate.
    rates: Vec<f64>,
    /// Nonces per second of CPU time the hashing threads got (Linux; 0 elsewhere): less
    /// sensitive than `mean` to other processes competing for the CPUs.
    per_cpu_second: f64,
}

/// The fastest kernel of this measurement on one thread, per CPU-second.
#[derive(Debug, Serialize)]
struct MeasuredBest {
    kernel: &'static str,
    /// "1.12× sha-ni (text), 1.31× sha-ni (bitcoin)": its lead over the next kernel.
    margin: Option<String>,
    /// The one-thread rates per CPU-second it was picked from.
    rates: Vec<KernelRate>,
}

/// What `cnd bench --json` prints.
#[derive(Debug, Serialize)]
struct KernelReport {
    /// The kernel `cnd` uses on this CPU (`--kernel` when given).
    best: &'static str,
    /// The choice behind `best`: the kernel, why (`source`), the rates it used.
    choice: KernelChoice,
    /// The fastest kernel by this measurement (None when one kernel was measured).
    measured_best: Option<MeasuredBest>,
    seconds: f64,
    repeats: u32,
    unit: &'static str,
    results: Vec<ConfigRate>,
}

/// Measures and prints the kernel rates.
pub fn run(args: &BenchArgs, out: Output, duration: Duration) -> anyhow::Result<Exit> {
    let forced = kernel_from(&args.kernel)?;
    let kernels = match forced {
        Some(kernel) => vec![kernel],
        None => Kernel::available(),
    };
    let all = available_threads();
    let mut threads = vec![1];
    if all > 1 {
        threads.push(all);
    }
    // Text nonces keep 10 digits and Bitcoin nonces stay below 2^32.
    let mut configs = vec![];
    for format in [Format::Text, Format::Bitcoin] {
        let prepared = Prepared::new(&measure_problem(format));
        for &kernel in &kernels {
            for &t in &threads {
                configs.push((
                    format.as_str(),
                    prepared.clone(),
                    measure_range(format),
                    kernel,
                    t,
                    vec![],
                    (0u64, 0f64),
                ));
            }
        }
    }
    if !out.json && !out.quiet {
        eprintln!(
            "measuring {} configurations × {} repeats × {:.1} s (kernels: {})",
            configs.len(),
            args.repeats,
            args.seconds,
            kernels.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
        );
    }
    for _ in 0..args.repeats {
        for (_, prepared, range, kernel, t, rates, cpu) in configs.iter_mut() {
            let m: Measured = measure(*kernel, prepared, *range, *t, duration);
            rates.push(m.rate());
            cpu.0 += m.hashes;
            cpu.1 += m.cpu_s;
        }
    }
    let results: Vec<ConfigRate> = configs
        .into_iter()
        .map(|(format, _, _, kernel, threads, rates, cpu)| {
            let (mean, sd) = mean_sd(&rates);
            ConfigRate {
                kernel: kernel.name(),
                format,
                threads,
                mean,
                sd,
                min: rates.iter().copied().fold(f64::INFINITY, f64::min),
                max: rates.iter().copied().fold(0.0, f64::max),
                rates,
                per_cpu_second: if cpu.1 > 0.0 { cpu.0 as f64 / cpu.1 } else { 0.0 },
            }
        })
        .collect();
    let choice = match forced {
        Some(k) => KernelChoice::forced(k),
        None => Kernel::choice().clone(),
    };
    let measured_best = measured_best(&results);
    let report = KernelReport {
        best: choice.kernel.name(),
        choice,
        measured_best,
        seconds: args.seconds,
        repeats: args.repeats,
        unit: "nonces/s",
        results,
    };
    if out.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    Ok(Exit::Found)
}

/// The fastest kernel of `results` on one thread, per CPU-second (wall-clock where unknown).
fn measured_best(results: &[ConfigRate]) -> Option<MeasuredBest> {
    let rate = |kernel: &str, format: &str| {
        results
            .iter()
            .find(|r| r.kernel == kernel && r.format == format && r.threads == 1)
            .map_or(0.0, |r| if r.per_cpu_second > 0.0 { r.per_cpu_second } else { r.mean })
    };
    let mut names: Vec<&'static str> = results.iter().map(|r| r.kernel).collect();
    names.dedup();
    if names.len() < 2 {
        return None;
    }
    let rates: Vec<KernelRate> = names
        .iter()
        .map(|k| KernelRate { kernel: k.to_string(), text: rate(k, "text"), bitcoin: rate(k, "bitcoin") })
        .collect();
    let kernel = cnd_core::kernel_choice::fastest(&rates, None, &Kernel::available())?;
    Some(MeasuredBest { kernel: kernel.name(), margin: cnd_core::kernel_choice::margin(&rates, kernel), rates })
}

fn print_table(report: &KernelReport) {
    println!(
        "kernel rates: nonces (double SHA-256) per second, mean ± σ of {} × {:.1} s",
        report.repeats, report.seconds
    );
    println!(
        "{:<9} {:<8} {:>7}  {:>22}  {:>23}  {:>9}  {:>13}",
        "kernel", "format", "threads", "mean ± σ", "min … max", "×portable", "per CPU-second"
    );
    for r in &report.results {
        let portable = report
            .results
            .iter()
            .find(|p| p.kernel == "portable" && p.format == r.format && p.threads == r.threads)
            .map(|p| format!("{:.2}", r.mean / p.mean))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<9} {:<8} {:>7}  {:>22}  {:>23}  {:>9}  {:>9.2} MH/s",
            r.kernel,
            r.format,
            r.threads,
            format!("{:.2} ± {:.2} MH/s", r.mean / 1e6, r.sd / 1e6),
            format!("{:.2} … {:.2} MH/s", r.min / 1e6, r.max / 1e6),
            portable,
            r.per_cpu_second / 1e6
        );
    }
    if let Some(m) = &report.measured_best {
        let margin = m.margin.as_deref().map(|m| format!(", {m}")).unwrap_or_default();
        println!("best here: {}{margin} (one thread, per CPU-second)", m.kernel);
    }
    println!("chosen: {}", report.choice.why());
    if report.measured_best.as_ref().is_some_and(|m| m.kernel != report.best) {
        println!(
            "  (this measurement finds another kernel fastest: `cnd bench --calibrate` records it for the choice)"
        );
    }
}
