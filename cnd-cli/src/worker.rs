//! `cnd worker`: the entrypoint of a pod or a local worker process.
//!
//! It reads the worker env contract of DESIGN.md, searches its own partition of the range
//! with every thread it may use, prints one JSON report line, delivers it (termination log,
//! SQS) and exits 0 found · 1 runtime error · 2 bad variable · 3 exhausted · 4 stopped.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use clap::Args;
use cnd_core::{
    BitOrder, Format, Kernel, Mode, NonceRange, Prepared, Problem, ProblemError, ReportOutcome, WorkerReport, split,
};
use cnd_local::{RangeSearch, available_threads};

use crate::args::Globals;
use crate::exit::{Exit, usage};
use crate::results::{ResultsMode, worker_channel};

const ENV_HELP: &str = "\
The worker env contract (identical for pods and local worker processes; every value is
trimmed, an empty variable counts as unset; reference-system aliases in brackets):

  CND_RUN_ID [PROCESS_ID]         the run's id, copied into the report          (required)
  CND_FORMAT                      text | bitcoin                                [text]
  CND_BLOCK_HEX                   the block (text) or the 80-byte header (bitcoin), as hex
                                  [the hex of COMSM0010cloud for text; required for bitcoin]
  CND_DIFFICULTY [D]              leading zero bits, 0..=256        (required for text;
                                  bitcoin: the header's nBits target when unset)
  CND_BIT_ORDER                   msb | lsb (lsb: the reference system's count) [msb]
  CND_START, CND_END              the run's whole range [start, end)            [0, 2^32)
  CND_WORKER_INDEX [WORKER_INDEX, then JOB_COMPLETION_INDEX]
                                  this worker's index, 0-based                  [0 if 1 worker]
  CND_WORKER_COUNT [WORKER_MAX]   the run's number of workers                   [1]
  CND_THREADS                     hashing threads [the CPUs the cgroup allows: cgroup v2
                                  cpu.max, then the CPU affinity]
  CND_MODE                        first | lowest [lowest: the smallest golden nonce of the
                                  partition, which is right for either mode of the run]
  CND_KERNEL                      force a hashing kernel [the fastest this CPU runs]
  CND_RESULTS                     stdout | termination-log | sqs                 [stdout]
  CND_TERMINATION_LOG             where termination-log writes    [/dev/termination-log]
  CND_SQS_QUEUE_URL               sqs: the queue to publish to [the run's queue cnd-<run id>]
  CND_SQS_ENDPOINT_URL            sqs: endpoint override [AWS_ENDPOINT_URL, else AWS's]
                                  (credentials and region: the standard AWS chain)
  POD_NAME                        who found it, in the report [worker <i> (pid <pid>)]
  CND_EXIT_WITH_PARENT            1: stop (exit 4) when stdin closes (set by the process
                                  backend, so that no worker outlives its coordinator)

The worker searches split([CND_START, CND_END), CND_WORKER_COUNT)[CND_WORKER_INDEX] and
prints ONE JSON report line on stdout (status found | exhausted | failed, with run_id,
worker, source, range, hashes, elapsed_s); with CND_RESULTS=termination-log it also writes
it to the termination log, with sqs it also publishes it (body: the line; attribute run_id).

Exit codes: 0 found · 1 runtime error (e.g. SQS unreachable) · 2 a missing or bad variable
(one line naming it) · 3 its range holds no golden nonce · 4 stopped by SIGTERM or SIGINT
(within a second) or by its coordinator's end.

Example (the reference system's names):
  D=20 WORKER_INDEX=1 WORKER_MAX=4 CND_BIT_ORDER=lsb CND_RUN_ID=demo cnd worker";

/// Run as a worker: reads the CND_* environment contract, searches its partition with every
/// thread, prints one JSON report line, exits 0/1/2/3/4.
#[derive(Debug, Args)]
#[command(after_long_help = ENV_HELP)]
pub struct WorkerArgs {}

/// A worker's validated settings, read from the environment.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The run id.
    pub run_id: String,
    /// The problem over the run's whole range.
    pub problem: Problem,
    /// This worker's index.
    pub index: u32,
    /// The run's worker count.
    pub count: u32,
    /// This worker's partition.
    pub partition: NonceRange,
    /// Hashing threads.
    pub threads: u32,
    /// First or lowest (within the partition).
    pub mode: Mode,
    /// The kernel.
    pub kernel: Kernel,
    /// Where the report goes besides stdout.
    pub results: ResultsMode,
    /// The termination log's path.
    pub termination_log: PathBuf,
    /// SQS: the queue.
    pub sqs_queue_url: Option<String>,
    /// SQS: the endpoint override.
    pub sqs_endpoint_url: Option<String>,
    /// Who computes, for the report.
    pub source: String,
    /// Stop when stdin closes.
    pub exit_with_parent: bool,
}

/// Reads one variable (first of `names` that is set and not blank): its name and value.
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn first_set(get: Lookup<'_>, names: &[&'static str]) -> Option<(&'static str, String)> {
    names.iter().find_map(|n| get(n).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).map(|v| (*n, v)))
}

fn parse_num<T: std::str::FromStr>(name: &str, value: &str, allowed: &str) -> anyhow::Result<T> {
    value.parse().map_err(|_| usage(format!("{name}: '{value}' is not a whole number (allowed: {allowed})")))
}

impl WorkerConfig {
    /// Reads and validates the contract; a missing or bad variable is a usage error naming it.
    pub fn from_env(get: Lookup<'_>) -> anyhow::Result<Self> {
        let (_, run_id) = first_set(get, &["CND_RUN_ID", "PROCESS_ID"])
            .ok_or_else(|| usage("CND_RUN_ID: missing (allowed: the run's id, e.g. 3f2a9c0b1d)"))?;
        if run_id.chars().any(char::is_control) {
            return Err(usage("CND_RUN_ID: control characters are not allowed"));
        }
        let format = match first_set(get, &["CND_FORMAT"]) {
            Some((name, v)) => v.parse::<Format>().map_err(|e| usage(format!("{name}: {}", e.message)))?,
            None => Format::Text,
        };
        let block = match first_set(get, &["CND_BLOCK_HEX"]) {
            Some((name, v)) => {
                hex::decode(&v).map_err(|e| usage(format!("{name}: not hex ({e}) (allowed: pairs of 0-9, a-f)")))?
            }
            None if format == Format::Text => cnd_core::DEFAULT_BLOCK.as_bytes().to_vec(),
            None => return Err(usage("CND_BLOCK_HEX: missing (allowed: the 80-byte header as 160 hex digits)")),
        };
        let difficulty_var = first_set(get, &["CND_DIFFICULTY", "D"]);
        let difficulty = match &difficulty_var {
            Some((name, v)) => Some(parse_num::<u32>(name, v, "0..=256 leading zero bits")?),
            None => None,
        };
        let difficulty_name = difficulty_var.as_ref().map_or("CND_DIFFICULTY", |(n, _)| *n);
        let bit_order = match first_set(get, &["CND_BIT_ORDER"]) {
            Some((name, v)) => v.parse::<BitOrder>().map_err(|e| usage(format!("{name}: {}", e.message)))?,
            None => BitOrder::Msb,
        };
        let start = match first_set(get, &["CND_START"]) {
            Some((name, v)) => parse_num::<u64>(name, &v, "0..2^64")?,
            None => NonceRange::DEFAULT.start,
        };
        let end = match first_set(get, &["CND_END"]) {
            Some((name, v)) => parse_num::<u64>(name, &v, "1..=2^64-1, above CND_START")?,
            None => NonceRange::DEFAULT.end,
        };
        let problem_error = |e: ProblemError| {
            let var = match e.field {
                "difficulty" => difficulty_name,
                "start" => "CND_START",
                "end" => "CND_END",
                "format" => "CND_FORMAT",
                "bit-order" => "CND_BIT_ORDER",
                _ => "CND_BLOCK_HEX",
            };
            usage(format!("{var}: {}", e.message))
        };
        if start >= end {
            return Err(usage(format!(
                "CND_START/CND_END: the range [{start}, {end}) is empty (allowed: start < end)"
            )));
        }
        let range = NonceRange::new(start, end).map_err(problem_error)?;
        let problem = Problem::from_parts(format, block, difficulty)
            .and_then(|p| p.with_range(range))
            .map_err(problem_error)?
            .with_bit_order(bit_order);

        let (count_name, count) = match first_set(get, &["CND_WORKER_COUNT", "WORKER_MAX"]) {
            Some((name, v)) => (name, parse_num::<u32>(name, &v, "1 or more")?),
            None => ("CND_WORKER_COUNT", 1),
        };
        if count == 0 {
            return Err(usage(format!("{count_name}: 0 is not allowed (allowed: 1 or more)")));
        }
        let index = match first_set(get, &["CND_WORKER_INDEX", "WORKER_INDEX", "JOB_COMPLETION_INDEX"]) {
            Some((name, v)) => {
                let i = parse_num::<u32>(name, &v, "0..CND_WORKER_COUNT")?;
                if i >= count {
                    return Err(usage(format!(
                        "{name}: {i} is out of range (allowed: 0..={} for {count_name}={count})",
                        count - 1
                    )));
                }
                i
            }
            None if count == 1 => 0,
            None => {
                return Err(usage(format!(
                    "CND_WORKER_INDEX: missing (allowed: 0..={} for {count_name}={count}; also WORKER_INDEX or JOB_COMPLETION_INDEX)",
                    count - 1
                )));
            }
        };
        let partition = split(range, count)[index as usize];

        let threads = match first_set(get, &["CND_THREADS"]) {
            Some((name, v)) if !v.eq_ignore_ascii_case("auto") => {
                match parse_num::<u32>(name, &v, "1 or more, or auto")? {
                    0 => return Err(usage(format!("{name}: 0 is not allowed (allowed: 1 or more, or auto)"))),
                    n => n,
                }
            }
            _ => default_threads(),
        };
        let mode = match first_set(get, &["CND_MODE"]) {
            Some((name, v)) => match v.to_ascii_lowercase().as_str() {
                "first" => Mode::First,
                "lowest" => Mode::Lowest,
                _ => return Err(usage(format!("{name}: '{v}' is not a mode (allowed: first, lowest)"))),
            },
            None => Mode::Lowest,
        };
        let kernel = match first_set(get, &["CND_KERNEL"]) {
            Some((name, v)) => Kernel::from_name(&v).map_err(|e| usage(format!("{name}: {e}")))?,
            None => Kernel::best(),
        };
        let results = match first_set(get, &["CND_RESULTS"]) {
            Some((name, v)) => v.parse::<ResultsMode>().map_err(|e| usage(format!("{name}: {e}")))?,
            None => ResultsMode::Stdout,
        };
        let termination_log = first_set(get, &["CND_TERMINATION_LOG"])
            .map_or_else(|| PathBuf::from("/dev/termination-log"), |(_, v)| PathBuf::from(v));
        let sqs_queue_url = first_set(get, &["CND_SQS_QUEUE_URL"]).map(|(_, v)| v);
        let sqs_endpoint_url = first_set(get, &["CND_SQS_ENDPOINT_URL"]).map(|(_, v)| v);
        let source = first_set(get, &["POD_NAME"])
            .map_or_else(|| format!("worker {index} (pid {})", std::process::id()), |(_, v)| v);
        let exit_with_parent = first_set(get, &["CND_EXIT_WITH_PARENT"])
            .is_some_and(|(_, v)| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"));
        Ok(Self {
            run_id,
            problem,
            index,
            count,
            partition,
            threads,
            mode,
            kernel,
            results,
            termination_log,
            sqs_queue_url,
            sqs_endpoint_url,
            source,
            exit_with_parent,
        })
    }
}

/// The CPUs this process may use: the cgroup v2 `cpu.max` quota (of its cgroup and every
/// ancestor), then the CPU affinity; at least 1.
pub fn default_threads() -> u32 {
    let affinity = available_threads();
    match cgroup_cpus() {
        Some(quota) => quota.min(affinity).max(1),
        None => affinity.max(1),
    }
}

fn cgroup_cpus() -> Option<u32> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = membership.lines().find_map(|l| l.strip_prefix("0::"))?.trim();
    let root = PathBuf::from("/sys/fs/cgroup");
    let mut dir = root.join(path.trim_start_matches('/'));
    let mut best: Option<u32> = None;
    loop {
        if let Some(n) = std::fs::read_to_string(dir.join("cpu.max")).ok().and_then(|t| parse_cpu_max(&t)) {
            best = Some(best.map_or(n, |b| b.min(n)));
        }
        if dir == root || !dir.starts_with(&root) || !dir.pop() {
            break;
        }
    }
    best
}

/// `cpu.max` is `"<quota> <period>"` or `"max <period>"`: whole CPUs, at least 1.
fn parse_cpu_max(text: &str) -> Option<u32> {
    let mut parts = text.split_whitespace();
    let quota: u64 = parts.next()?.parse().ok()?; // "max" does not parse: no limit
    let period: u64 = parts.next().and_then(|p| p.parse().ok()).filter(|p| *p > 0).unwrap_or(100_000);
    Some(u32::try_from(quota / period).unwrap_or(u32::MAX).max(1))
}

/// Runs `cnd worker`.
pub fn run(_args: WorkerArgs, _globals: &Globals) -> anyhow::Result<Exit> {
    let config = WorkerConfig::from_env(&|name| std::env::var(name).ok())?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let exit = runtime.block_on(work(config));
    runtime.shutdown_timeout(Duration::from_millis(500));
    exit
}

/// Why a worker stopped before its search was decided.
#[derive(Debug, Clone, Copy)]
enum StopCause {
    Signal(&'static str),
    ParentGone,
}

impl std::fmt::Display for StopCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopCause::Signal(s) => write!(f, "stopped by {s}"),
            StopCause::ParentGone => f.write_str("stopped: its coordinator is gone"),
        }
    }
}

/// SIGTERM, SIGINT and, when asked, the end of stdin; installed before the search starts.
struct Stops {
    term: Option<tokio::signal::unix::Signal>,
    int: Option<tokio::signal::unix::Signal>,
    parent: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl Stops {
    fn install(watch_stdin: bool) -> Self {
        let parent = watch_stdin.then(|| {
            let (tx, rx) = tokio::sync::oneshot::channel();
            // A plain thread: blocking reads have no place on the runtime. It ends with the
            // process.
            let _ = std::thread::Builder::new().name("cnd-parent-watch".into()).spawn(move || {
                let mut sink = [0u8; 256];
                let mut stdin = std::io::stdin().lock();
                while matches!(std::io::Read::read(&mut stdin, &mut sink), Ok(n) if n > 0) {}
                let _ = tx.send(());
            });
            rx
        });
        use tokio::signal::unix::{SignalKind, signal};
        Self { term: signal(SignalKind::terminate()).ok(), int: signal(SignalKind::interrupt()).ok(), parent }
    }

    async fn next(&mut self) -> StopCause {
        async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        let parent = async {
            match self.parent.as_mut() {
                Some(rx) => {
                    let _ = rx.await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = recv(&mut self.term) => StopCause::Signal("SIGTERM"),
            _ = recv(&mut self.int) => StopCause::Signal("SIGINT"),
            _ = parent => StopCause::ParentGone,
        }
    }
}

async fn work(config: WorkerConfig) -> anyhow::Result<Exit> {
    let mut stops = Stops::install(config.exit_with_parent);
    // Connect before searching: an unreachable endpoint fails now, not after the search.
    let channel = match config.results {
        ResultsMode::Sqs => {
            Some(worker_channel(&config.run_id, config.sqs_queue_url.clone(), config.sqs_endpoint_url.clone()).await?)
        }
        _ => None,
    };
    tracing::info!(
        run_id = %config.run_id,
        worker = config.index,
        of = config.count,
        range = %config.partition,
        threads = config.threads,
        kernel = %config.kernel,
        "searching"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let hashes = Arc::new(AtomicU64::new(0));
    let (done_tx, mut done) = tokio::sync::oneshot::channel();
    let search = {
        let (stop, hashes, config) = (stop.clone(), hashes.clone(), config.clone());
        std::thread::Builder::new().name("cnd-worker".into()).spawn(move || {
            let prepared = Prepared::new(&config.problem);
            let result = RangeSearch {
                prepared: &prepared,
                kernel: config.kernel,
                range: config.partition,
                threads: config.threads,
                mode: config.mode,
                stop: &stop,
                hashes: &hashes,
            }
            .run();
            let _ = done_tx.send(result);
        })?
    };
    let (result, cause) = tokio::select! {
        r = &mut done => (r, None),
        cause = stops.next() => {
            stop.store(true, Ordering::Release);
            ((&mut done).await, Some(cause))
        }
    };
    let result = result.map_err(|_| anyhow::anyhow!("the search thread ended without a result"))?;
    search.join().map_err(|_| anyhow::anyhow!("the search thread panicked"))?;

    let outcome = match (result.found, cause) {
        // Stopped in lowest mode, a lower chunk may be unfinished: not an answer.
        (Some(_), Some(c)) if config.mode == Mode::Lowest => ReportOutcome::Failed { reason: c.to_string() },
        (Some((nonce, _)), _) => ReportOutcome::Found { nonce, digest: cnd_core::hash::digest(&config.problem, nonce) },
        (None, Some(c)) => ReportOutcome::Failed { reason: c.to_string() },
        (None, None) if result.stopped => ReportOutcome::Failed { reason: "stopped".into() },
        (None, None) => ReportOutcome::Exhausted,
    };
    let exit = match &outcome {
        ReportOutcome::Found { .. } => Exit::Found,
        ReportOutcome::Exhausted => Exit::Exhausted,
        ReportOutcome::Failed { .. } => Exit::Stopped,
    };
    let report = WorkerReport {
        run_id: config.run_id.clone(),
        worker: config.index,
        source: Some(config.source.clone()),
        range: config.partition,
        hashes: result.hashes,
        elapsed_s: result.elapsed.as_secs_f64(),
        outcome,
    };
    match deliver(&config, channel.as_deref(), &report, cause.is_some()).await {
        Ok(()) => {
            println!("{}", report.to_json_line());
            Ok(exit)
        }
        Err(e) => {
            // The report still goes to stdout, as a failure that says why.
            let failed = WorkerReport {
                outcome: ReportOutcome::Failed { reason: format!("could not deliver its report: {e:#}") },
                ..report
            };
            println!("{}", failed.to_json_line());
            Err(e)
        }
    }
}

/// Delivers the report besides stdout: the termination log, or SQS (not when stopped from
/// outside: nobody waits for it then).
async fn deliver(
    config: &WorkerConfig,
    channel: Option<&dyn cnd_core::ResultChannel>,
    report: &WorkerReport,
    stopped: bool,
) -> anyhow::Result<()> {
    match config.results {
        ResultsMode::Stdout => Ok(()),
        ResultsMode::TerminationLog => std::fs::write(&config.termination_log, report.to_json_line())
            .map_err(|e| anyhow::anyhow!("write the termination log {}: {e}", config.termination_log.display())),
        ResultsMode::Sqs if stopped => Ok(()),
        ResultsMode::Sqs => match channel {
            Some(ch) => Ok(ch.publish(report).await?),
            None => Err(anyhow::anyhow!("no SQS channel")),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> anyhow::Result<WorkerConfig> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        WorkerConfig::from_env(&move |k| map.get(k).cloned())
    }

    fn err(vars: &[(&str, &str)]) -> String {
        let e = config(vars).unwrap_err();
        assert!(e.is::<crate::exit::UsageError>(), "{e:#}");
        e.to_string()
    }

    #[test]
    fn reference_names_pick_the_same_quarter() {
        let c = config(&[
            ("D", "20"),
            ("WORKER_INDEX", "1"),
            ("WORKER_MAX", "4"),
            ("CND_BIT_ORDER", "lsb"),
            ("PROCESS_ID", "r1"),
        ])
        .unwrap();
        assert_eq!(c.run_id, "r1");
        assert_eq!(c.problem.difficulty(), Some(20));
        assert_eq!(c.problem.bit_order(), BitOrder::Lsb);
        assert_eq!((c.index, c.count), (1, 4));
        assert_eq!(c.partition, NonceRange::new(1 << 30, 1 << 31).unwrap());
        assert_eq!(c.problem.block(), b"COMSM0010cloud");
    }

    #[test]
    fn contract_names_win_over_aliases_and_job_index_is_a_fallback() {
        let c = config(&[
            ("CND_RUN_ID", "a"),
            ("CND_DIFFICULTY", "8"),
            ("D", "30"),
            ("CND_WORKER_COUNT", "3"),
            ("JOB_COMPLETION_INDEX", "2"),
            ("CND_THREADS", "3"),
            ("CND_RESULTS", "termination-log"),
            ("CND_TERMINATION_LOG", "/tmp/x"),
            ("POD_NAME", "cnd-abc-2-xyz"),
        ])
        .unwrap();
        assert_eq!(c.problem.difficulty(), Some(8));
        assert_eq!(c.index, 2);
        assert_eq!(c.threads, 3);
        assert_eq!(c.results, ResultsMode::TerminationLog);
        assert_eq!(c.termination_log, PathBuf::from("/tmp/x"));
        assert_eq!(c.source, "cnd-abc-2-xyz");
        assert_eq!(c.mode, Mode::Lowest);
    }

    #[test]
    fn bad_or_missing_variables_are_named() {
        assert!(err(&[("CND_DIFFICULTY", "8")]).starts_with("CND_RUN_ID: missing"));
        assert!(err(&[("CND_RUN_ID", "a")]).starts_with("CND_DIFFICULTY:"));
        assert!(err(&[("CND_RUN_ID", "a"), ("D", "x")]).starts_with("D: 'x' is not a whole number"));
        assert!(err(&[("CND_RUN_ID", "a"), ("D", "300")]).starts_with("D: 300 is out of range"));
        assert!(err(&[("CND_RUN_ID", "a"), ("D", "1"), ("CND_BIT_ORDER", "middle")]).contains("allowed: msb, lsb"));
        assert!(err(&[("CND_RUN_ID", "a"), ("D", "1"), ("CND_FORMAT", "yaml")]).starts_with("CND_FORMAT:"));
        assert!(
            err(&[("CND_RUN_ID", "a"), ("D", "1"), ("CND_WORKER_COUNT", "4")]).starts_with("CND_WORKER_INDEX: missing")
        );
        assert!(
            err(&[("CND_RUN_ID", "a"), ("D", "1"), ("WORKER_MAX", "4"), ("WORKER_INDEX", "4")])
                .starts_with("WORKER_INDEX: 4 is out of range")
        );
        assert!(err(&[("CND_RUN_ID", "a"), ("D", "1"), ("CND_THREADS", "0")]).starts_with("CND_THREADS:"));
        assert!(err(&[("CND_RUN_ID", "a"), ("D", "1"), ("CND_RESULTS", "kafka")]).starts_with("CND_RESULTS:"));
        assert!(
            err(&[("CND_RUN_ID", "a"), ("D", "1"), ("CND_START", "9"), ("CND_END", "9")])
                .starts_with("CND_START/CND_END")
        );
        assert!(err(&[("CND_RUN_ID", "a"), ("D", "1"), ("CND_BLOCK_HEX", "zz")]).starts_with("CND_BLOCK_HEX: not hex"));
        assert!(err(&[("CND_RUN_ID", "a"), ("CND_FORMAT", "bitcoin")]).starts_with("CND_BLOCK_HEX: missing"));
        assert!(err(&[("CND_RUN_ID", "a"), ("D", "1"), ("CND_MODE", "best")]).contains("allowed: first, lowest"));
    }

    #[test]
    fn cpu_max_is_whole_cpus() {
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max("200000 100000\n"), Some(2));
        assert_eq!(parse_cpu_max("150000 100000"), Some(1));
        assert_eq!(parse_cpu_max("50000 100000"), Some(1));
        assert!(default_threads() >= 1);
    }
}
