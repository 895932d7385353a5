//! `cnd bench` (kernel rates): the hash rate of every kernel this CPU runs (or the one
//! `--kernel` names), on one thread and on all threads, for the text format (default block,
//! 10-digit nonces) and the Bitcoin format (the genesis header), mean ± σ over `--repeats`.
//!
//! Repeats are interleaved (every configuration once, then again) so that a change in the
//! machine's load during the benchmark spreads over all configurations instead of biasing
//! one. `benches/compare.sh` runs this with `--json` next to `openssl speed` and prints each
//! kernel's ratio to the single-stream SHA-256 bound.

use std::time::Duration;

use cnd_core::{Exit, Kernel, NonceRange, Prepared, Problem, mean_sd};
use cnd_local::{Measured, available_threads, measure};
use serde::Serialize;

use crate::config::kernel_from;
use crate::flags::{BenchArgs, Output};

/// The Bitcoin genesis block header (its nonce is irrelevant here: difficulty 256).
const GENESIS: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";

/// One configuration's measured rate.
#[derive(Debug, Serialize)]
struct KernelRate {
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

/// What `cnd bench --json` prints.
#[derive(Debug, Serialize)]
struct KernelReport {
    /// The kernel `cnd` picks on this CPU.
    best: &'static str,
    seconds: f64,
    repeats: u32,
    unit: &'static str,
    results: Vec<KernelRate>,
}

/// Measures and prints the kernel rates.
pub fn run(args: &BenchArgs, out: Output, duration: Duration) -> anyhow::Result<Exit> {
    let kernels = match kernel_from(&args.kernel)? {
        Some(kernel) => vec![kernel],
        None => Kernel::available(),
    };
    let all = available_threads();
    let mut threads = vec![1];
    if all > 1 {
        threads.push(all);
    }
    let header = hex::decode(GENESIS).expect("valid hex");
    let formats = [
        // Text nonces keep 10 digits and Bitcoin nonces stay below 2^32.
        ("text", Problem::text(cnd_core::DEFAULT_BLOCK, 256)?, NonceRange { start: 1 << 30, end: 1 << 31 }),
        ("bitcoin", Problem::bitcoin(&header, Some(256))?, NonceRange { start: 0, end: 1 << 31 }),
    ];
    let mut configs = vec![];
    for (format, problem, range) in &formats {
        for &kernel in &kernels {
            for &t in &threads {
                configs.push((*format, Prepared::new(problem), *range, kernel, t, vec![], (0u64, 0f64)));
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
    let results: Vec<KernelRate> = configs
        .into_iter()
        .map(|(format, _, _, kernel, threads, rates, cpu)| {
            let (mean, sd) = mean_sd(&rates);
            KernelRate {
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
    let report = KernelReport {
        best: Kernel::best().name(),
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

fn print_table(report: &KernelReport) {
    println!(
        "kernel rates: nonces (double SHA-256) per second, mean ± σ of {} × {:.1} s; best kernel here: {}",
        report.repeats, report.seconds, report.best
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
}
