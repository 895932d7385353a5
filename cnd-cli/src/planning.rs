//! The planner's inputs as this machine knows them: the run history, the stored
//! calibration, a rate measured now, and the plan report that `cnd plan` and `--workers
//! auto` print.
//!
//! On a Kubernetes cluster the rate per pod and the start-up delay are the medians of the
//! cluster's recent runs in the run history ([`crate::history`]) when it has any. Otherwise
//! the rate per worker is `--rate`, or the per-CPU rate that `cnd bench --calibrate` stored
//! in `$XDG_CACHE_HOME/cnd/calibration.json` (`~/.cache/cnd/...`), or, without one, a rate
//! measured here for about a second; the start-up delay `--startup` or the backend's
//! default. A flag always wins over the history.

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
use crate::history::{ClusterKey, History, Measured, measured_on};

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
    /// Where the rate came from: `flag`, `history`, `calibration` or `measured`.
    pub rate_source: &'static str,
    /// Where the start-up delay came from: `flag`, `history` or `default`.
    pub startup_source: &'static str,
    /// `history` when a figure of the plan came from the run history, else `calibration`.
    pub source: &'static str,
    /// The start-up delay assumed, seconds (as `startup_s`).
    pub startup_delay_s: f64,
    /// The run history's figures for the cluster, when it has any (used or not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Measured>,
    /// Runs of the history whose figures were used (0 when none was).
    pub history_runs: usize,
    /// The kubeconfig context the plan is for (k8s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
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
    /// The cluster whose runs in the history give the rate and start-up (k8s), if known.
    pub cluster: Option<&'a ClusterKey>,
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
        let history = self.cluster.and_then(|c| measured_on(&History::from_env()?.read(), c, self.cpus));
        let from_history = history.as_ref().and_then(|h| h.rate_per_worker);
        let (rate, rate_source) = match (self.auto.rate, from_history) {
            (Some(r), _) => (r, "flag"),
            (None, Some(r)) => (r, "history"),
            (None, None) => {
                let (per_cpu, source) = per_cpu_rate(self.kernel, self.tell);
                (per_cpu * self.cpus, source)
            }
        };
        let (startup, startup_source) = match (self.auto.startup, history.as_ref().and_then(|h| h.startup_delay_s)) {
            (Some(s), _) => (s, "flag"),
            (None, Some(s)) => (Duration::from_secs_f64(s), "history"),
            (None, None) => (self.default_startup, "default"),
        };
        let used = |s: &str| s == "history";
        let history_runs = match &history {
            Some(h) => {
                let rate_runs = if used(rate_source) { h.rate_runs } else { 0 };
                let startup_runs = if used(startup_source) { h.startup_runs } else { 0 };
                if rate_runs + startup_runs > 0 { h.runs } else { 0 }
            }
            None => 0,
        };
        let max_workers = match (self.auto.max_workers, self.cap) {
            (Some(m), Some(c)) => Some(m.min(c)),
            (m, c) => m.or(c),
        };
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
            startup_delay_s: plan.startup_s,
            plan,
            difficulty: problem.difficulty(),
            rate_source,
            startup_source,
            source: if history_runs > 0 { "history" } else { "calibration" },
            history,
            history_runs,
            context: self.cluster.map(|c| c.context.clone()),
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
        // On a cluster, whether the figures came from its runs or not.
        if self.context.is_some() || self.history.is_some() {
            out += &format!("  {:<18} {}\n", "based on", self.basis());
        }
        out.pop();
        out
    }

    /// Where the rate and the start-up delay came from, for people.
    fn basis(&self) -> String {
        let unit = self.unit;
        let context = self.context.as_deref().map_or(String::new(), |c| format!(" on context {c}"));
        match (&self.history, self.history_runs) {
            (Some(h), n) if n > 0 => {
                let plural = if n == 1 { "" } else { "s" };
                let mut figures = Vec::new();
                if self.startup_source == "history" {
                    figures.push(format!("start-up {}", HumanSeconds(self.plan.startup_s)));
                }
                if self.rate_source == "history" {
                    let scaled = if h.rate_scaled { " (scaled per CPU from other pod sizes)" } else { "" };
                    figures.push(format!("{} per {unit}{scaled}", HashRate(self.plan.rate_per_worker)));
                }
                let rest = match (self.startup_source, self.rate_source) {
                    ("history", "history") => String::new(),
                    ("history", r) => format!("; {}", rate_said(r)),
                    (s, _) => format!("; {}", startup_said(s)),
                };
                format!("measured over {n} run{plural}{context}: {}{rest}", figures.join(", "))
            }
            (Some(h), _) => format!(
                "{}, {} (the flags win over {} run{} in the run history{context})",
                rate_said(self.rate_source),
                startup_said(self.startup_source),
                h.runs,
                if h.runs == 1 { "" } else { "s" }
            ),
            _ if self.context.is_some() => format!(
                "no runs{context} in the run history: {}, {}",
                rate_said(self.rate_source),
                startup_said(self.startup_source)
            ),
            _ => format!("{}, {}", rate_said(self.rate_source), startup_said(self.startup_source)),
        }
    }
}

/// Where the rate came from, for people.
fn rate_said(source: &str) -> &'static str {
    match source {
        "flag" => "rate from --rate",
        "calibration" => "rate from this machine's calibration",
        "measured" => "rate measured on this machine now",
        _ => "rate from the run history",
    }
}

/// Where the start-up delay came from, for people.
fn startup_said(source: &str) -> &'static str {
    match source {
        "flag" => "start-up from --startup",
        "default" => "start-up the backend's default",
        _ => "start-up from the run history",
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
