//! The planner's inputs as this machine knows them: the stored calibration, a rate measured
//! now, and the plan report that `cnd plan` and `--workers auto` print.
//!
//! The rate per worker is `--rate`, or the per-CPU rate that `cnd bench --calibrate` stored
//! in `$XDG_CACHE_HOME/cnd/calibration.json` (`~/.cache/cnd/...`), or, without one, a rate
//! measured here for about a second.

use std::path::PathBuf;
use std::time::Duration;

use cnd_core::{
    Format, HashRate, HumanSeconds, Kernel, Plan, Prepared, Problem, SearchModel, measure_problem, measure_range,
    percent,
};
use cnd_local::{available_threads, measure};
use serde::{Deserialize, Serialize};

use crate::error::usage;
use crate::flags::AutoArgs;

/// The confidence when none is given.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;

/// The plan as printed: the planner's [`Plan`] and what it was computed from.
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    /// The plan.
    #[serde(flatten)]
    pub plan: Plan,
    /// Leading zero bits asked for (None for a Bitcoin nBits target).
    pub difficulty: Option<u32>,
    /// Where the rate came from: `flag`, `calibration` or `measured`.
    pub rate_source: &'static str,
    /// P(found by the deadline) with one worker fewer (None for one worker).
    pub probability_with_one_fewer: Option<f64>,
    /// What one worker is, in the human form: `worker`, `thread`, `process`, `pod`.
    #[serde(skip)]
    pub unit: &'static str,
}

/// What a plan is asked for: the planner flags and what the backend adds.
#[derive(Debug, Clone, Copy)]
pub struct PlanRequest<'a> {
    /// `--deadline`, `--confidence`, `--rate`, `--startup`, `--max-workers`.
    pub auto: &'a AutoArgs,
    /// The kernel whose rate is measured when there is no `--rate`.
    pub kernel: Kernel,
    /// CPUs that hash in one worker.
    pub cpus: f64,
    /// The start-up delay when `--startup` is not given.
    pub default_startup: Duration,
    /// The most workers this backend can use (local CPUs), if limited.
    pub cap: Option<u32>,
    /// `worker`, `thread`, `process` or `pod`.
    pub unit: &'static str,
    /// Say on stderr when a rate is measured now.
    pub tell: bool,
}

impl PlanRequest<'_> {
    /// The smallest worker count for the deadline and confidence; errors are usage errors
    /// that say why no count can do it.
    pub fn plan(&self, problem: &Problem) -> anyhow::Result<PlanReport> {
        let deadline = self
            .auto
            .deadline
            .ok_or_else(|| usage("--deadline is required (allowed: a positive duration such as 30s, 5m, 1h)"))?;
        let confidence = self.auto.confidence.unwrap_or(DEFAULT_CONFIDENCE);
        let (rate, rate_source) = match self.auto.rate {
            Some(r) => (r, "flag"),
            None => {
                let (per_cpu, source) = per_cpu_rate(self.kernel, self.tell);
                (per_cpu * self.cpus, source)
            }
        };
        let max_workers = match (self.auto.max_workers, self.cap) {
            (Some(m), Some(c)) => Some(m.min(c)),
            (m, c) => m.or(c),
        };
        let startup = self.auto.startup.unwrap_or(self.default_startup);
        let model = SearchModel::new(problem, rate, startup).map_err(|e| usage(e.to_string()))?;
        let plan = model.plan(deadline, confidence, max_workers).map_err(|e| {
            let why = e.to_string();
            match (self.cap, self.auto.max_workers) {
                (Some(c), m) if m.is_none_or(|m| m > c) && why.contains("at most") => {
                    usage(format!("{why}; this machine has {c} CPUs (allowed: a longer --deadline)"))
                }
                _ => usage(why),
            }
        })?;
        let probability_with_one_fewer =
            (plan.workers > 1).then(|| model.probability_found_by(plan.workers - 1, plan.deadline_s));
        Ok(PlanReport {
            plan,
            difficulty: problem.difficulty(),
            rate_source,
            probability_with_one_fewer,
            unit: self.unit,
        })
    }
}

impl PlanReport {
    /// The human form, several lines.
    pub fn human(&self) -> String {
        let (p, unit) = (&self.plan, self.unit);
        let goal = match self.difficulty {
            Some(d) => format!("D={d}"),
            None => format!("target 2^{:.1}", p.log2_probability + 256.0),
        };
        let quantile = |q: Option<f64>| q.map_or("beyond the range".to_string(), |s| HumanSeconds(s).to_string());
        let fewer = match self.probability_with_one_fewer {
            Some(q) => {
                let fewer_plural = if p.workers == 2 { "" } else { "s" };
                format!("   ({} {unit}{fewer_plural}: {})", p.workers - 1, percent(q))
            }
            None => String::new(),
        };
        let plural = if p.workers == 1 { "" } else { "s" };
        let mut out = format!(
            "plan: {} {unit}{plural} for {goal} by {} with {} confidence\n",
            p.workers,
            HumanSeconds(p.deadline_s),
            percent(p.confidence)
        );
        let mut line = |label: &str, value: String| out += &format!("  {label:<18} {value}\n");
        line(
            &format!("P(found by {})", HumanSeconds(p.deadline_s)),
            format!("{}{fewer}", percent(p.probability_by_deadline)),
        );
        line(
            "time to solution",
            format!(
                "expected {} · median {} · 95% {} · 99% {}",
                HumanSeconds(p.expected_s),
                quantile(p.p50_s),
                quantile(p.p95_s),
                quantile(p.p99_s)
            ),
        );
        line(
            "expected cost",
            format!(
                "{} {unit}-seconds ({} × {})",
                significant(p.cost_worker_seconds),
                p.workers,
                HumanSeconds(p.expected_s)
            ),
        );
        line(
            "assumes",
            format!(
                "{} per {unit} ({}), start-up {}, range [{}, {}) holding one with P = {}",
                HashRate(p.rate_per_worker),
                self.rate_source,
                HumanSeconds(p.startup_s),
                p.start,
                p.end,
                percent(p.probability_in_range)
            ),
        );
        out.pop();
        out
    }
}

/// A positive number with about three significant digits.
fn significant(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// This machine's stored rate per CPU, measured by `cnd bench --calibrate`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Calibration {
    /// The kernel measured.
    pub kernel: String,
    /// Hashes/s of one thread while every CPU hashes (the rate a one-CPU worker gets on a
    /// busy machine; the planner uses it).
    pub per_cpu_rate: f64,
    /// Hashes/s of one thread alone.
    pub single_thread_rate: f64,
    /// Threads that hashed for `per_cpu_rate`.
    pub threads: u32,
    /// When, in seconds since the Unix epoch.
    pub measured_unix_s: u64,
    /// The cnd version that measured it.
    pub version: String,
}

/// Where the calibration is stored: `$XDG_CACHE_HOME/cnd/calibration.json`, or
/// `$HOME/.cache/cnd/calibration.json` (beside the kernels' `kernels.json`).
pub fn calibration_path() -> Option<PathBuf> {
    Some(cnd_core::cache_dir()?.join("calibration.json"))
}

impl Calibration {
    /// The stored calibration, if there is one for this kernel.
    pub fn load(kernel: Kernel) -> Option<Self> {
        let text = std::fs::read_to_string(calibration_path()?).ok()?;
        let c: Calibration = serde_json::from_str(&text).ok()?;
        (c.kernel == kernel.name() && c.per_cpu_rate.is_finite() && c.per_cpu_rate > 0.0).then_some(c)
    }

    /// Stores this calibration; returns where.
    pub fn store(&self) -> anyhow::Result<PathBuf> {
        let path =
            calibration_path().ok_or_else(|| anyhow::anyhow!("no cache directory (set XDG_CACHE_HOME or HOME)"))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("create {}: {e}", dir.display()))?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(self)? + "\n")
            .map_err(|e| anyhow::anyhow!("write {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| anyhow::anyhow!("write {}: {e}", path.display()))?;
        Ok(path)
    }
}

/// The per-CPU rate: the stored calibration, or one measured now for about a second (with a
/// note on stderr when `tell`).
fn per_cpu_rate(kernel: Kernel, tell: bool) -> (f64, &'static str) {
    if let Some(c) = Calibration::load(kernel) {
        return (c.per_cpu_rate, "calibration");
    }
    let threads = available_threads();
    let per_cpu = measure_rate(kernel, threads, Duration::from_secs(1)) / f64::from(threads);
    if tell {
        eprintln!(
            "note: rate {} per CPU measured now over 1 s on {threads} threads ({kernel} kernel); `cnd bench \
             --calibrate` stores one",
            HashRate(per_cpu)
        );
    }
    (per_cpu, "measured")
}

/// Hashes/s of `threads` threads of `kernel` on `problem`'s message layout (the measuring
/// problem of `cnd bench` when `None`), for about `duration`, on the nonces `cnd bench`
/// measures ([`measure_range`]: 10 digits for text), so that the planner, `cnd bench` and
/// `cargo bench` count the same thing.
pub fn measure_rate_of(problem: Option<&Problem>, kernel: Kernel, threads: u32, duration: Duration) -> f64 {
    // The same message layout, with a goal no digest meets: a scan of known length.
    let probe = match problem {
        Some(p) => Problem::from_parts(p.format(), p.block().to_vec(), Some(256)).expect("a valid problem"),
        None => measure_problem(Format::Text),
    };
    measure(kernel, &Prepared::new(&probe), measure_range(probe.format()), threads, duration).rate()
}

/// Hashes/s of `threads` threads of `kernel` hashing for about `duration`.
pub fn measure_rate(kernel: Kernel, threads: u32, duration: Duration) -> f64 {
    measure_rate_of(None, kernel, threads, duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_measurement_counts_hashes() {
        let r = measure_rate(Kernel::Portable, 1, Duration::from_millis(50));
        assert!(r > 1e4, "{r}");
    }
}
