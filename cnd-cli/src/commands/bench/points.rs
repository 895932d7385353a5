//! The runs of `cnd bench --scaling`, summarised per worker count, and their table.

use cnd_core::{HashRate, group_digits, mean_sd, quantile};
use serde::Serialize;

/// One search of the scaling benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct ScalingRun {
    /// Wall-clock time of the run, start-up included.
    pub time_s: f64,
    /// Hashes of all workers.
    pub hashes: u64,
    /// A golden nonce was found (else the range was used up).
    pub found: bool,
}

/// The runs of one worker count, summarised.
#[derive(Debug, Clone, Serialize)]
pub struct ScalingPoint {
    pub workers: u32,
    pub runs: Vec<ScalingRun>,
    /// Runs that found a golden nonce (the statistics below are over these).
    pub found: usize,
    pub median_s: f64,
    pub p25_s: f64,
    pub p75_s: f64,
    pub min_s: f64,
    pub max_s: f64,
    pub mean_s: f64,
    pub sd_s: f64,
    pub median_hashes: f64,
    /// All hashes over all time: the measured throughput.
    pub hash_rate: f64,
    /// Median time at the first worker count × its workers / median time here.
    pub speedup: f64,
    /// speedup / (workers / first worker count).
    pub efficiency: f64,
    /// The same from the hash rates (much less noisy than medians of exponential times).
    pub speedup_rate: f64,
    /// speedup_rate / (workers / first worker count).
    pub efficiency_rate: f64,
}

impl ScalingPoint {
    pub fn new(workers: u32, runs: Vec<ScalingRun>) -> Self {
        let mut times: Vec<f64> = runs.iter().filter(|r| r.found).map(|r| r.time_s).collect();
        times.sort_by(f64::total_cmp);
        let mut hashes: Vec<f64> = runs.iter().filter(|r| r.found).map(|r| r.hashes as f64).collect();
        hashes.sort_by(f64::total_cmp);
        let total_time: f64 = runs.iter().map(|r| r.time_s).sum();
        let total_hashes: f64 = runs.iter().map(|r| r.hashes as f64).sum();
        let (mean_s, sd_s) = if times.is_empty() { (f64::NAN, f64::NAN) } else { mean_sd(&times) };
        let q = quantile;
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
pub struct ScalingReport {
    pub difficulty: u32,
    pub runs_per_point: u32,
    pub backend: &'static str,
    pub kernel: String,
    pub cpus: u32,
    pub points: Vec<ScalingPoint>,
    pub plot: Option<String>,
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

pub fn print_table(r: &ScalingReport) {
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
            HashRate(p.hash_rate).to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_exponential_times_is_noisy() {
        // 20 runs: ±35 % at 95 %; this is why the table also shows speed-ups from rates.
        assert!((1.96 * median_relative_se(20) - 0.633).abs() < 0.01);
    }

    #[test]
    fn a_point_summarises_its_found_runs() {
        let run = |t: f64, found| ScalingRun { time_s: t, hashes: 100, found };
        let p = ScalingPoint::new(2, vec![run(1.0, true), run(3.0, true), run(9.0, false)]);
        assert_eq!((p.found, p.median_s, p.min_s, p.max_s), (2, 2.0, 1.0, 3.0));
        assert!((p.hash_rate - 300.0 / 13.0).abs() < 1e-9);
    }
}
