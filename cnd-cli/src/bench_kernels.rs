//! `cnd bench` (kernel rates): the hash rate of every kernel this CPU runs (or the one
//! `--kernel` names), on one thread and on all threads, for the text format (default block,
//! 10-digit nonces) and the Bitcoin format (the genesis header), mean ± σ over `--repeats`.
//!
//! Repeats are interleaved (every configuration once, then again) so that a change in the
//! machine's load during the benchmark spreads over all configurations instead of biasing
//! one. `benches/compare.sh` runs this with `--json` next to `openssl speed` and prints each
//! kernel's ratio to the single-stream SHA-256 bound.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cnd_core::{Kernel, NonceRange, Prepared, Problem};
use cnd_local::available_threads;
use serde::Serialize;

use crate::args::{Globals, kernel_from};
use crate::bench::BenchArgs;
use crate::exit::{Exit, usage};

/// The Bitcoin genesis block header (its nonce is irrelevant here: difficulty 256).
const GENESIS: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";

/// Nonces a thread claims at a time.
const CHUNK: u64 = 1 << 16;

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
pub fn run(args: &BenchArgs, globals: &Globals) -> anyhow::Result<Exit> {
    let kernels = match args.kernel.as_deref() {
        Some(name) if !name.trim().is_empty() => vec![kernel_from(Some(name))?],
        _ => Kernel::available(),
    };
    if !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 3600.0) {
        return Err(usage(format!("--seconds: {} is out of range (allowed: 0 < S <= 3600)", args.seconds)));
    }
    if args.repeats == 0 {
        return Err(usage("--repeats: 0 is out of range (allowed: 1 or more)"));
    }
    let duration = Duration::from_secs_f64(args.seconds);
    let all = available_threads();
    let mut threads = vec![1];
    if all > 1 {
        threads.push(all);
    }
    let header = hex::decode(GENESIS).expect("valid hex");
    let formats = [
        ("text", Problem::text(cnd_core::DEFAULT_BLOCK, 256)?, 1_000_000_000u64),
        ("bitcoin", Problem::bitcoin(&header, Some(256))?, 0),
    ];
    let mut configs = vec![];
    for (format, problem, start) in &formats {
        for &kernel in &kernels {
            for &t in &threads {
                configs.push((*format, Prepared::new(problem), *start, kernel, t, vec![], (0u64, 0f64)));
            }
        }
    }
    if !globals.json && !globals.quiet {
        eprintln!(
            "measuring {} configurations × {} repeats × {:.1} s (kernels: {})",
            configs.len(),
            args.repeats,
            args.seconds,
            kernels.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
        );
    }
    for _ in 0..args.repeats {
        for (_, prepared, start, kernel, t, rates, cpu) in configs.iter_mut() {
            let m = measure(*kernel, prepared, *start, *t, duration);
            rates.push(m.hashes as f64 / m.wall);
            cpu.0 += m.hashes;
            cpu.1 += m.cpu;
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
    if globals.json {
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

/// What one measurement counted.
#[derive(Debug, Clone, Copy)]
struct Measured {
    hashes: u64,
    /// Wall-clock seconds.
    wall: f64,
    /// CPU seconds of the hashing threads (0 where unknown).
    cpu: f64,
}

/// CPU time this thread has run, in seconds, from `/proc/thread-self/schedstat` (Linux).
fn thread_cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(s.split_whitespace().next()?.parse::<u64>().ok()? as f64 / 1e9)
}

/// Hashes with `threads` threads for `duration`.
fn measure(kernel: Kernel, prepared: &Prepared, start: u64, threads: u32, duration: Duration) -> Measured {
    let cpu_ns = AtomicU64::new(0);
    let next = AtomicU64::new(0);
    let hashes = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let began = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let cpu0 = thread_cpu_seconds();
                let mut done = 0;
                while began.elapsed() < duration {
                    // Wrap within [start, start + 2^31) so text nonces keep 10 digits and
                    // Bitcoin nonces stay below 2^32.
                    let i = next.fetch_add(1, Ordering::Relaxed) % ((1 << 31) / CHUNK);
                    let first = start + i * CHUNK;
                    let range = NonceRange { start: first, end: first + CHUNK };
                    done += kernel.scan(prepared, range, &stop).hashes;
                }
                hashes.fetch_add(done, Ordering::Relaxed);
                if let (Some(a), Some(b)) = (cpu0, thread_cpu_seconds()) {
                    cpu_ns.fetch_add(((b - a) * 1e9) as u64, Ordering::Relaxed);
                }
            });
        }
    });
    Measured {
        hashes: hashes.load(Ordering::Relaxed),
        wall: began.elapsed().as_secs_f64(),
        cpu: cpu_ns.load(Ordering::Relaxed) as f64 / 1e9,
    }
}

fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 { xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kernel_measures_a_positive_rate() {
        let problem = Problem::text(cnd_core::DEFAULT_BLOCK, 256).unwrap();
        let prepared = Prepared::new(&problem);
        for kernel in Kernel::available() {
            let m = measure(kernel, &prepared, 1_000_000_000, 1, Duration::from_millis(20));
            assert!(m.hashes > 0 && m.wall > 0.0, "{kernel}");
        }
    }

    #[test]
    fn mean_and_sd() {
        let (m, s) = mean_sd(&[1.0, 2.0, 3.0]);
        assert!((m - 2.0).abs() < 1e-12 && (s - 1.0).abs() < 1e-12);
        assert_eq!(mean_sd(&[5.0]), (5.0, 0.0));
    }
}
