//! `cnd plan` and `--workers auto`: the smallest worker count for a deadline and a
//! confidence, from the planner of `cnd-core` and a measured hash rate.
//!
//! The rate per worker is `--rate`, or the per-CPU rate that `cnd bench --calibrate` stored
//! in `$XDG_CACHE_HOME/cnd/calibration.json` (`~/.cache/cnd/...`), or, without one, a rate
//! measured here for about a second.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use cnd_core::{HumanSeconds, Kernel, Mode, NonceRange, Plan, Prepared, Problem, SearchModel, percent};
use cnd_local::{RangeSearch, available_threads};
use serde::{Deserialize, Serialize};

use crate::args::{Backend, Globals, ProblemArgs, SearchArgs, kernel_from, parse_duration};
use crate::exit::{Exit, usage};
use crate::output::rate;

/// The confidence when none is given.
const DEFAULT_CONFIDENCE: f64 = 0.95;

/// Start-up delay assumed for a Kubernetes run when `--startup` is not given: Job
/// creation, scheduling and container start on warm nodes with the image cached.
const K8S_DEFAULT_STARTUP: Duration = Duration::from_secs(5);

/// Start-up delay assumed for local worker processes.
const PROCESS_DEFAULT_STARTUP: Duration = Duration::from_millis(100);

/// How many workers for a deadline and a confidence.
///
/// Prints the smallest worker count W for which a golden nonce is found by the deadline with
/// at least that confidence, the expected time and its 50/95/99 % quantiles with W, and the
/// expected cost in worker-seconds. Exits 2 when no W can meet the deadline (the range
/// holds too few nonces, or --max-workers caps W).
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  cnd plan -d 26 --deadline 60s --confidence 0.95 --rate 211000\n  cnd plan -d 32 \
                        --deadline 10m --confidence 0.99 --end 100000000000 --json")]
pub struct PlanArgs {
    #[command(flatten)]
    pub problem: ProblemArgs,

    #[command(flatten)]
    pub auto: AutoArgs,

    /// CPUs per worker: the rate per worker is this times the per-CPU rate (when --rate is
    /// not given).
    #[arg(long, env = "CND_CPU", value_name = "N", default_value = "1", value_parser = parse_cpus)]
    pub cpu: f64,
}

/// Planner flags: of `cnd plan`, and of a search with `--workers auto`.
#[derive(Debug, Clone, Args)]
pub struct AutoArgs {
    /// The time by which a golden nonce should be found (cnd plan, --workers auto).
    #[arg(long, env = "CND_DEADLINE", value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    pub deadline: Option<Duration>,

    /// The probability of meeting the deadline, strictly between 0 and 1 [default: 0.95].
    #[arg(long, env = "CND_CONFIDENCE", value_name = "P", value_parser = parse_confidence, allow_hyphen_values = true)]
    pub confidence: Option<f64>,

    /// Hashes per second of one worker, e.g. 211000, 3.5M [default: the calibrated per-CPU
    /// rate times the worker's CPUs].
    #[arg(long, env = "CND_RATE", value_name = "R", value_parser = parse_rate, allow_hyphen_values = true)]
    pub rate: Option<f64>,

    /// Delay from the start of the run until the workers hash, e.g. 0, 500ms, 8s [default:
    /// 0 local, 100ms process, 5s k8s].
    #[arg(long, env = "CND_STARTUP", value_name = "DURATION", value_parser = parse_startup, allow_hyphen_values = true)]
    pub startup: Option<Duration>,

    /// Never plan more workers than this.
    #[arg(long, env = "CND_MAX_WORKERS", value_name = "M", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_workers: Option<u32>,
}

/// Parses `--confidence`: a probability strictly between 0 and 1.
pub fn parse_confidence(text: &str) -> Result<f64, String> {
    let allowed = "(allowed: a probability strictly between 0 and 1, e.g. 0.95)";
    match text.trim().parse::<f64>() {
        Ok(c) if c > 0.0 && c < 1.0 => Ok(c),
        Ok(c) => Err(format!("{c} is out of range {allowed}")),
        Err(_) => Err(format!("'{text}' is not a number {allowed}")),
    }
}

/// Parses `--rate`: a positive number of hashes per second, with an optional k/M/G suffix.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let allowed = "(allowed: a positive hash rate per worker such as 211000, 250k, 3.5M)";
    let t = text.trim().trim_end_matches("H/s").trim_end_matches("/s").trim();
    let (number, scale) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1e3),
        Some((i, 'M')) => (&t[..i], 1e6),
        Some((i, 'G')) => (&t[..i], 1e9),
        _ => (t, 1.0),
    };
    match number.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r * scale),
        Ok(_) => Err(format!("'{text}' is not positive {allowed}")),
        Err(_) => Err(format!("'{text}' is not a rate {allowed}")),
    }
}

/// Parses `--startup`: a duration that may be zero.
pub fn parse_startup(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.parse::<f64>() == Ok(0.0) || t == "0s" || t == "0ms" {
        return Ok(Duration::ZERO);
    }
    parse_duration(t)
}

/// Parses CPUs per worker: `2`, `1.5` or Kubernetes' `1500m`.
pub fn parse_cpus(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let value = match t.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().map(|m| m / 1000.0),
        None => t.parse::<f64>(),
    };
    match value {
        Ok(c) if c.is_finite() && c > 0.0 => Ok(c),
        _ => Err(format!("'{text}' is not a CPU count (allowed: a positive number such as 1, 2, 1500m)")),
    }
}

/// The plan as printed: the planner's [`Plan`] and what it was computed from.
#[derive(Debug, Serialize)]
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
}

impl PlanReport {
    fn new(model: &SearchModel, plan: Plan, problem: &Problem, rate_source: &'static str) -> Self {
        let probability_with_one_fewer =
            (plan.workers > 1).then(|| model.probability_found_by(plan.workers - 1, plan.deadline_s));
        Self { plan, difficulty: problem.difficulty(), rate_source, probability_with_one_fewer }
    }

    /// The human form, several lines.
    pub fn human(&self, unit: &str) -> String {
        let p = &self.plan;
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
                rate(p.rate_per_worker),
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

/// Runs `cnd plan`.
pub fn run(args: PlanArgs, globals: &Globals) -> anyhow::Result<Exit> {
    let problem = args.problem.problem()?;
    let deadline = args
        .auto
        .deadline
        .ok_or_else(|| usage("--deadline is required (allowed: a positive duration such as 30s, 5m, 1h)"))?;
    let confidence = args.auto.confidence.unwrap_or(DEFAULT_CONFIDENCE);
    let (rate, rate_source) = match args.auto.rate {
        Some(r) => (r, "flag"),
        None => {
            let (per_cpu, source) = per_cpu_rate(!globals.quiet)?;
            (per_cpu * args.cpu, source)
        }
    };
    let startup = args.auto.startup.unwrap_or(Duration::ZERO);
    let model = SearchModel::new(&problem, rate, startup).map_err(|e| usage(e.to_string()))?;
    let plan = model.plan(deadline, confidence, args.auto.max_workers).map_err(|e| usage(e.to_string()))?;
    let report = PlanReport::new(&model, plan, &problem, rate_source);
    if globals.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", report.human("worker"));
    }
    Ok(Exit::Found)
}

/// The planned worker count for `--workers auto`: prints the plan (on stderr with --json,
/// not at all with --quiet) and returns W.
///
/// Local threads and worker processes are capped at the CPUs of this machine (more would
/// not hash faster); a Kubernetes pod of `--cpu` CPUs hashes at that many times the
/// per-CPU rate measured here.
pub async fn auto_workers(args: &SearchArgs, problem: &Problem) -> anyhow::Result<u32> {
    let auto = &args.plan;
    let deadline = auto
        .deadline
        .ok_or_else(|| usage("--workers auto needs --deadline (allowed: a positive duration such as 30s, 5m, 1h)"))?;
    let confidence = auto.confidence.unwrap_or(DEFAULT_CONFIDENCE);
    let (cpus, unit, default_startup, cap) = match args.backend {
        Backend::Local => (1.0, "thread", Duration::ZERO, Some(available_threads())),
        Backend::Process => (1.0, "process", PROCESS_DEFAULT_STARTUP, Some(available_threads())),
        Backend::K8s => {
            // A pod's worker runs one thread per whole CPU (one thread on a fraction of one).
            let cpus = parse_cpus(&args.k8s.cpu).map_err(|e| usage(format!("--cpu: {e}")))?;
            let hashing = if cpus < 1.0 { cpus } else { cpus.floor() };
            (hashing, "pod", K8S_DEFAULT_STARTUP, None)
        }
    };
    let max_workers = match (auto.max_workers, cap) {
        (Some(m), Some(c)) => Some(m.min(c)),
        (m, c) => m.or(c),
    };
    let verbose = !args.quiet;
    let (rate, rate_source) = match auto.rate {
        Some(r) => (r, "flag"),
        None => {
            let (per_cpu, source) = tokio::task::spawn_blocking(move || per_cpu_rate(verbose)).await??;
            (per_cpu * cpus, source)
        }
    };
    let startup = auto.startup.unwrap_or(default_startup);
    let model = SearchModel::new(problem, rate, startup).map_err(|e| usage(e.to_string()))?;
    let plan = model.plan(deadline, confidence, max_workers).map_err(|e| {
        let why = e.to_string();
        match (cap, auto.max_workers) {
            (Some(c), m) if m.is_none_or(|m| m > c) && why.contains("at most") => {
                usage(format!("--workers auto: {why}; this machine has {c} CPUs (allowed: a longer --deadline)"))
            }
            _ => usage(format!("--workers auto: {why}")),
        }
    })?;
    let report = PlanReport::new(&model, plan, problem, rate_source);
    if !args.quiet {
        eprintln!("{}", report.human(unit));
    }
    Ok(report.plan.workers)
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
/// `$HOME/.cache/cnd/calibration.json`.
pub fn calibration_path() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME") {
        Some(dir) if PathBuf::from(&dir).is_absolute() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(base.join("cnd").join("calibration.json"))
}

impl Calibration {
    /// The stored calibration, if there is one for the kernel this machine runs now.
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
fn per_cpu_rate(tell: bool) -> anyhow::Result<(f64, &'static str)> {
    let kernel = kernel_from(std::env::var("CND_KERNEL").ok().as_deref())?;
    if let Some(c) = Calibration::load(kernel) {
        return Ok((c.per_cpu_rate, "calibration"));
    }
    let threads = available_threads();
    let total = measure_rate(kernel, threads, Duration::from_secs(1));
    let per_cpu = total / f64::from(threads);
    if tell {
        eprintln!(
            "note: rate {} per CPU measured now over 1 s on {threads} threads ({kernel} kernel); `cnd bench \
             --calibrate` stores one",
            rate(per_cpu)
        );
    }
    Ok((per_cpu, "measured"))
}

/// Hashes/s of `threads` threads of `kernel` hashing for about `duration` (a problem with
/// no golden nonce, stopped by a timer).
pub fn measure_rate(kernel: Kernel, threads: u32, duration: Duration) -> f64 {
    let problem = Problem::text(b"cnd-calibration".to_vec(), 256)
        .and_then(|p| p.with_range(NonceRange { start: 0, end: 1 << 62 }))
        .expect("a valid problem");
    let prepared = Prepared::new(&problem);
    let stop = AtomicBool::new(false);
    let hashes = AtomicU64::new(0);
    let started = Instant::now();
    let result = std::thread::scope(|scope| {
        let stop = &stop;
        scope.spawn(move || {
            std::thread::sleep(duration);
            stop.store(true, Ordering::Relaxed);
        });
        RangeSearch {
            prepared: &prepared,
            kernel,
            range: problem.range(),
            threads,
            mode: Mode::First,
            stop,
            hashes: &hashes,
        }
        .run()
    });
    let elapsed = result.elapsed.max(started.elapsed()).as_secs_f64();
    result.hashes as f64 / elapsed.max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_is_a_probability() {
        assert_eq!(parse_confidence("0.95"), Ok(0.95));
        for bad in ["1.5", "1", "0", "-0.2", "nan", "x"] {
            assert!(parse_confidence(bad).unwrap_err().contains("allowed"), "{bad}");
        }
    }

    #[test]
    fn rates_take_suffixes() {
        assert_eq!(parse_rate("211000"), Ok(211_000.0));
        assert_eq!(parse_rate("250k"), Ok(250_000.0));
        assert_eq!(parse_rate("3.5M"), Ok(3_500_000.0));
        assert_eq!(parse_rate("1G"), Ok(1e9));
        for bad in ["0", "-5", "inf", "fast", ""] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn startup_may_be_zero_but_not_negative() {
        assert_eq!(parse_startup("0"), Ok(Duration::ZERO));
        assert_eq!(parse_startup("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_startup("8s"), Ok(Duration::from_secs(8)));
        assert!(parse_startup("-1s").is_err());
    }

    #[test]
    fn cpus_read_kubernetes_quantities() {
        assert_eq!(parse_cpus("2"), Ok(2.0));
        assert_eq!(parse_cpus("1500m"), Ok(1.5));
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("two").is_err());
    }

    #[test]
    fn a_short_measurement_counts_hashes() {
        let r = measure_rate(Kernel::Portable, 1, Duration::from_millis(50));
        assert!(r > 1e4, "{r}");
    }
}
