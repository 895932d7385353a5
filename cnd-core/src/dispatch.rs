//! The seams the backends implement, and the coordinator that drives any of them.
//!
//! A [`Dispatcher`] starts W workers over the partitions of a problem's range and streams
//! their [`WorkerReport`]s; [`coordinate`] verifies every reported nonce, applies the search
//! [`Mode`], stops on a deadline or a cancellation, and always awaits
//! [`Dispatcher::shutdown`], whatever ended the run. [`coordinate_then`] hands the decided
//! outcome (a verified nonce, or the range exhausted) to its caller *before* that cleanup,
//! so that a user sees the answer the moment it is verified, not after the pods are gone.

use std::future::Future;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::FutureExt as _;
use serde::{Deserialize, Serialize};

use crate::problem::{NonceRange, Problem};
use crate::report::{Found, ReportOutcome, WorkerReport};
use crate::verify::verify;

/// Which golden nonce a run returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Any golden nonce: the first one found.
    #[default]
    First,
    /// The smallest golden nonce of the range (deterministic).
    Lowest,
}

impl Mode {
    /// The name used by the CLI (`first`, `lowest`).
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::First => "first",
            Mode::Lowest => "lowest",
        }
    }
}

/// One run: a problem, how many workers, and which nonce to return.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Identifies the run in reports, queues and Kubernetes labels.
    pub run_id: String,
    /// The problem, with its range.
    pub problem: Problem,
    /// Number of workers (threads, processes or pods).
    pub workers: u32,
    /// First or lowest.
    pub mode: Mode,
    /// Wall-clock limit of the run, if any.
    pub timeout: Option<Duration>,
}

impl RunSpec {
    /// The most workers of any run: Kubernetes' limit on the completions and the parallelism
    /// of an Indexed Job (10^5), the largest of the backends. Local threads and processes
    /// are bounded by this machine's CPUs, lower still.
    pub const MAX_WORKERS: u32 = 100_000;

    /// A run with a fresh run id.
    pub fn new(problem: Problem, workers: u32, mode: Mode) -> Self {
        Self { run_id: new_run_id(), problem, workers, mode, timeout: None }
    }
}

/// A fresh run id: 10 lowercase hex digits (valid in Kubernetes names and SQS queue names).
pub fn new_run_id() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.write_u32(std::process::id());
    format!("{:010x}", h.finish() & 0xff_ffff_ffff)
}

/// Reads a dispatcher's live progress from another task (e.g. a progress bar) while the
/// coordinator holds the dispatcher.
pub type ProgressProbe = std::sync::Arc<dyn Fn() -> Progress + Send + Sync>;

/// Progress of a run, as a dispatcher sees it (cheap to read, for a progress display).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// Hashes computed so far, if the backend can count them live.
    pub hashes: Option<u64>,
    /// A short backend-specific status (e.g. pods by phase).
    pub detail: Option<String>,
}

/// Errors of a dispatcher or result channel.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The backend cannot run this request (bad input: exit code 2).
    #[error("{0}")]
    Invalid(String),
    /// A worker failed for good (after any retries the backend makes).
    #[error("worker {worker} failed: {reason}")]
    WorkerFailed {
        /// Its index.
        worker: u32,
        /// Why.
        reason: String,
    },
    /// The backend failed (API, I/O, process spawn, ...).
    #[error("{context}")]
    Backend {
        /// What was being done, e.g. "create jobs.batch in namespace default".
        context: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The workers stopped reporting before the run was decided.
    #[error("the workers ended without deciding the run ({0})")]
    Incomplete(String),
    /// The backend gave up waiting for its workers, e.g. pods that no node can take or a
    /// Job past its deadline: the run timed out (exit code 4), for the reason given.
    #[error("{0}")]
    TimedOut(String),
}

impl DispatchError {
    /// A backend error with context.
    pub fn backend(context: impl Into<String>, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Backend { context: context.into(), source: source.into() }
    }
}

/// Result of dispatcher and channel operations.
pub type Result<T, E = DispatchError> = std::result::Result<T, E>;

/// A backend that runs the workers of a search.
#[async_trait]
pub trait Dispatcher: Send {
    /// A short name for messages: `local`, `process`, `k8s`.
    fn name(&self) -> &'static str;

    /// Starts the run's workers. Returns the worker partitions whose reports will follow:
    /// report `worker = i` covers `partitions[i]`.
    async fn start(&mut self, spec: &RunSpec) -> Result<Vec<NonceRange>>;

    /// The next report of this run; `None` when no more will come.
    async fn next_report(&mut self) -> Result<Option<WorkerReport>>;

    /// Stops the workers of these partitions (the run no longer needs them). Best effort and
    /// quick; [`Dispatcher::shutdown`] does the final cleanup.
    async fn stop_workers(&mut self, workers: &[u32]) -> Result<()> {
        let _ = workers;
        Ok(())
    }

    /// A probe of live progress, for display; callable from any thread while the run goes
    /// on. The default knows nothing.
    fn progress_probe(&self) -> ProgressProbe {
        std::sync::Arc::new(Progress::default)
    }

    /// The run's start-up delay as this backend measures it (k8s: from the Job created to
    /// the first pod seen running), once known; `None` when it measures none. Read before
    /// [`Dispatcher::shutdown`]. Run histories and the planner use it.
    fn startup_delay(&self) -> Option<Duration> {
        None
    }

    /// Stops every worker and removes everything the run created (threads, processes,
    /// pods, queues), and waits until it is gone. Called exactly once, on every exit path.
    async fn shutdown(&mut self) -> Result<()>;
}

/// Where workers publish their reports and the coordinator receives them.
#[async_trait]
pub trait ResultChannel: Send {
    /// Publishes a worker's report.
    async fn publish(&self, report: &WorkerReport) -> Result<()>;

    /// The next report of this channel's run (reports of other runs are left alone), or
    /// `None` if the channel is closed. Waits at most until `deadline` if one is given and
    /// then returns `Ok(None)`.
    async fn receive(&mut self, deadline: Option<Instant>) -> Result<Option<WorkerReport>>;

    /// Removes what the channel created for the run (e.g. a per-run queue).
    async fn close(&mut self) -> Result<()>;
}

/// Why a run was stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The run's timeout passed.
    TimedOut,
    /// The user cancelled (Ctrl-C, SIGTERM).
    Cancelled,
}

/// How a run ended (errors aside).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A verified golden nonce.
    Found(Found),
    /// Every worker searched its range without success.
    Exhausted {
        /// The range searched.
        range: NonceRange,
    },
    /// Stopped from outside before the run was decided.
    Stopped(StopReason),
}

/// A finished run: the outcome, with totals.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// How it ended.
    pub outcome: Outcome,
    /// Total hashes of all workers (as far as the backend can tell).
    pub hashes: u64,
    /// Wall-clock time of the run: up to the moment this result was handed over (for
    /// [`coordinate`]'s, after the cleanup; for [`coordinate_then`]'s `on_decided`, before it).
    pub elapsed: Duration,
    /// Reports rejected because their nonce did not verify.
    pub rejected: u32,
    /// When the answer was verified, from the start of the run: set for [`Outcome::Found`].
    pub answered: Option<Duration>,
}

/// A run that [`coordinate_then`] drove to its end: the result as decided, then the cleanup.
#[derive(Debug)]
pub struct Finished {
    /// The run's result (its `elapsed` includes the cleanup).
    pub result: Result<RunResult>,
    /// What [`Dispatcher::shutdown`] returned.
    pub cleanup: Result<()>,
    /// How long the cleanup took.
    pub cleanup_elapsed: Duration,
    /// Whether `on_decided` was called (the outcome was reported before the cleanup).
    pub reported_early: bool,
}

impl RunResult {
    /// Whether the run was decided by its workers (a verified nonce, or the range searched
    /// without one) rather than stopped from outside: such an outcome cannot change during
    /// the cleanup, so it may be reported before it.
    pub fn is_decided(&self) -> bool {
        matches!(self.outcome, Outcome::Found(_) | Outcome::Exhausted { .. })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Pending,
    Exhausted,
    Found(u64),
}

/// Drives a run to its end on any dispatcher: starts it, verifies each reported nonce with
/// the reference path (a nonce that does not verify is logged and ignored), returns the first
/// verified nonce (`first`) or the smallest once every lower partition is exhausted
/// (`lowest`), and stops when `stop` resolves. [`Dispatcher::shutdown`] is awaited on every
/// path, including errors; an error of the cleanup is the run's error.
pub async fn coordinate<D, S>(dispatcher: &mut D, spec: &RunSpec, stop: S) -> Result<RunResult>
where
    D: Dispatcher + ?Sized,
    S: Future<Output = StopReason> + Send,
{
    let finished = coordinate_then(dispatcher, spec, stop, |_| {}).await;
    let result = finished.result?;
    finished.cleanup?;
    Ok(result)
}

/// [`coordinate`], with the decided outcome handed to `on_decided` the moment it is known
/// (a verified nonce, or the whole range exhausted: [`RunResult::is_decided`]) and *before*
/// [`Dispatcher::shutdown`], which runs next, on every path. A run stopped from outside or
/// ended by an error is not handed over: its report waits for the cleanup, whose outcome it
/// may state. The result handed over counts the hashes known at that moment and the time
/// until then; [`Finished::result`] is the same result after the cleanup (its hashes and
/// `elapsed` final), with the cleanup's own outcome beside it.
pub async fn coordinate_then<D, S, F>(dispatcher: &mut D, spec: &RunSpec, stop: S, on_decided: F) -> Finished
where
    D: Dispatcher + ?Sized,
    S: Future<Output = StopReason> + Send,
    F: FnOnce(&RunResult),
{
    let started = Instant::now();
    let mut stop = std::pin::pin!(stop.fuse());
    let mut result = drive(dispatcher, spec, &mut stop, started).await;
    let mut reported_early = false;
    if let Ok(r) = &mut result
        && r.is_decided()
    {
        count_live_hashes(dispatcher, r);
        r.elapsed = started.elapsed();
        tracing::debug!(after = ?r.elapsed, "the run is decided: reported before the cleanup");
        on_decided(r);
        reported_early = true;
    }
    let cleaning = Instant::now();
    let cleanup = dispatcher.shutdown().await;
    let cleanup_elapsed = cleaning.elapsed();
    tracing::info!(cleanup_s = cleanup_elapsed.as_secs_f64(), ok = cleanup.is_ok(), "cleanup done");
    if let Ok(r) = &mut result {
        count_live_hashes(dispatcher, r);
        r.elapsed = started.elapsed();
    }
    Finished { result, cleanup, cleanup_elapsed, reported_early }
}

/// The dispatcher's live hash count, if it knows more than the reports said.
fn count_live_hashes<D: Dispatcher + ?Sized>(dispatcher: &D, result: &mut RunResult) {
    if let Some(h) = (dispatcher.progress_probe())().hashes {
        result.hashes = result.hashes.max(h);
    }
}

async fn drive<D, S>(
    dispatcher: &mut D,
    spec: &RunSpec,
    stop: &mut std::pin::Pin<&mut futures::future::Fuse<S>>,
    started: Instant,
) -> Result<RunResult>
where
    D: Dispatcher + ?Sized,
    S: Future<Output = StopReason> + Send,
{
    let partitions = futures::select_biased! {
        reason = stop.as_mut() => return Ok(stopped(reason, started)),
        p = dispatcher.start(spec).fuse() => p?,
    };
    let mut units = vec![Unit::Pending; partitions.len()];
    let mut best: Option<(u64, WorkerReport)> = None;
    let mut hashes = 0u64;
    let mut rejected = 0u32;
    loop {
        let report = futures::select_biased! {
            reason = stop.as_mut() => {
                let mut r = stopped(reason, started);
                r.hashes = hashes;
                r.rejected = rejected;
                return Ok(r);
            }
            r = dispatcher.next_report().fuse() => r?,
        };
        let Some(report) = report else {
            let pending = units.iter().filter(|u| **u == Unit::Pending).count();
            return Err(DispatchError::Incomplete(format!("{pending} of {} workers never reported", units.len())));
        };
        if report.run_id != spec.run_id {
            tracing::warn!(run_id = %report.run_id, "ignoring a report of another run");
            continue;
        }
        let Some(index) = usize::try_from(report.worker).ok().filter(|i| *i < units.len()) else {
            tracing::warn!(worker = report.worker, "ignoring a report from an unknown worker");
            continue;
        };
        hashes = hashes.saturating_add(report.hashes);
        match &report.outcome {
            ReportOutcome::Found { nonce, .. } => {
                let verdict = verify(&spec.problem, *nonce);
                if !verdict.is_valid() || !partitions[index].contains(*nonce) {
                    tracing::warn!(
                        worker = report.worker,
                        nonce = *nonce,
                        "rejected a reported nonce that does not verify (leading zero bits {}, in range {})",
                        verdict.leading_zero_bits,
                        partitions[index].contains(*nonce)
                    );
                    rejected += 1;
                    continue;
                }
                units[index] = Unit::Found(*nonce);
                if best.as_ref().is_none_or(|(b, _)| *nonce < *b) {
                    best = Some((*nonce, report.clone()));
                }
                if spec.mode == Mode::First {
                    break;
                }
                // Lowest: workers above this one cannot do better.
                let above: Vec<u32> =
                    (index + 1..units.len()).filter(|i| units[*i] == Unit::Pending).map(|i| i as u32).collect();
                if !above.is_empty() {
                    dispatcher.stop_workers(&above).await?;
                }
            }
            ReportOutcome::Exhausted => units[index] = Unit::Exhausted,
            ReportOutcome::Failed { reason } => {
                return Err(DispatchError::WorkerFailed { worker: report.worker, reason: reason.clone() });
            }
        }
        if spec.mode == Mode::Lowest
            && let Some((b, _)) = &best
            && units.iter().zip(&partitions).all(|(u, p)| *u != Unit::Pending || p.start > *b)
        {
            break;
        }
        if best.is_none() && units.iter().all(|u| *u == Unit::Exhausted) {
            return Ok(RunResult {
                outcome: Outcome::Exhausted { range: spec.problem.range() },
                hashes,
                elapsed: started.elapsed(),
                rejected,
                answered: None,
            });
        }
    }
    let (nonce, report) = best.expect("loop ends with a best nonce");
    // Every report was verified as it came: the answer is known from here.
    let answered = started.elapsed();
    tracing::info!(answer_elapsed_s = answered.as_secs_f64(), worker = report.worker, "verified the answer");
    let verdict = verify(&spec.problem, nonce);
    let found = Found {
        nonce,
        digest: verdict.digest,
        leading_zero_bits: verdict.leading_zero_bits,
        found_by: report.source.clone().unwrap_or_else(|| format!("worker-{}", report.worker)),
        hashes: report.hashes,
        elapsed: Duration::from_secs_f64(report.elapsed_s.max(0.0)),
    };
    Ok(RunResult {
        outcome: Outcome::Found(found),
        hashes,
        elapsed: started.elapsed(),
        rejected,
        answered: Some(answered),
    })
}

fn stopped(reason: StopReason, started: Instant) -> RunResult {
    RunResult { outcome: Outcome::Stopped(reason), hashes: 0, elapsed: started.elapsed(), rejected: 0, answered: None }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::hash::tests::*;
    use crate::partition::split;

    /// A dispatcher that replays scripted reports (for the coordinator's logic only).
    struct Scripted {
        partitions: Vec<NonceRange>,
        reports: VecDeque<WorkerReport>,
        stopped: Vec<u32>,
        shutdowns: u32,
    }

    #[async_trait]
    impl Dispatcher for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }
        async fn start(&mut self, _spec: &RunSpec) -> Result<Vec<NonceRange>> {
            Ok(self.partitions.clone())
        }
        async fn next_report(&mut self) -> Result<Option<WorkerReport>> {
            match self.reports.pop_front() {
                Some(r) => Ok(Some(r)),
                None => futures::future::pending().await,
            }
        }
        async fn stop_workers(&mut self, workers: &[u32]) -> Result<()> {
            self.stopped.extend_from_slice(workers);
            Ok(())
        }
        async fn shutdown(&mut self) -> Result<()> {
            self.shutdowns += 1;
            Ok(())
        }
    }

    fn report(spec: &RunSpec, worker: u32, range: NonceRange, outcome: ReportOutcome) -> WorkerReport {
        WorkerReport { run_id: spec.run_id.clone(), worker, source: None, range, hashes: 10, elapsed_s: 0.1, outcome }
    }

    fn found(n: u64) -> ReportOutcome {
        ReportOutcome::Found { nonce: n, digest: [0; 32] }
    }

    fn spec(mode: Mode) -> RunSpec {
        let p = Problem::text("COMSM0010cloud", 16).unwrap().with_range(NonceRange::new(0, 40_000).unwrap()).unwrap();
        RunSpec::new(p, 4, mode)
    }

    fn never() -> impl Future<Output = StopReason> + Send {
        futures::future::pending()
    }

    #[test]
    fn first_mode_skips_a_bogus_nonce_then_takes_a_real_one() {
        let spec = spec(Mode::First);
        let parts = split(spec.problem.range(), 4);
        let reports = vec![
            report(&spec, 0, parts[0], found(LOWEST_MSB_16 + 1)),
            report(&spec, 0, parts[0], found(LOWEST_MSB_16)),
        ];
        let mut d = Scripted { partitions: parts, reports: reports.into(), stopped: vec![], shutdowns: 0 };
        let r = futures::executor::block_on(coordinate(&mut d, &spec, never())).unwrap();
        assert_eq!(r.rejected, 1);
        match r.outcome {
            Outcome::Found(f) => assert_eq!(f.nonce, LOWEST_MSB_16),
            o => panic!("{o:?}"),
        }
        assert_eq!(d.shutdowns, 1);
    }

    #[test]
    fn lowest_mode_waits_for_lower_partitions() {
        let spec = spec(Mode::Lowest);
        let parts = split(spec.problem.range(), 4); // 10k each: LOWEST_MSB_16 = 9248 is in part 0
        // A golden nonce in partition 3 first, then partition 0's: the answer is partition 0's.
        let high = (30_000..40_000).find(|n| verify(&spec.problem, *n).is_valid()).expect("a golden nonce in part 3");
        let reports = vec![
            report(&spec, 3, parts[3], found(high)),
            report(&spec, 1, parts[1], ReportOutcome::Exhausted),
            report(&spec, 0, parts[0], found(LOWEST_MSB_16)),
        ];
        let mut d = Scripted { partitions: parts, reports: reports.into(), stopped: vec![], shutdowns: 0 };
        let r = futures::executor::block_on(coordinate(&mut d, &spec, never())).unwrap();
        match r.outcome {
            Outcome::Found(f) => assert_eq!(f.nonce, LOWEST_MSB_16),
            o => panic!("{o:?}"),
        }
        assert!(d.stopped.contains(&1) || d.stopped.contains(&2));
    }

    #[test]
    fn all_exhausted_is_exhausted() {
        let spec = spec(Mode::First);
        let parts = split(spec.problem.range(), 2);
        let reports = vec![
            report(&spec, 1, parts[1], ReportOutcome::Exhausted),
            report(&spec, 0, parts[0], ReportOutcome::Exhausted),
        ];
        let mut d = Scripted { partitions: parts, reports: reports.into(), stopped: vec![], shutdowns: 0 };
        let r = futures::executor::block_on(coordinate(&mut d, &spec, never())).unwrap();
        assert!(matches!(r.outcome, Outcome::Exhausted { .. }));
        assert_eq!(d.shutdowns, 1);
    }

    /// Another run's golden nonce (valid, in range: only its run id tells) comes first, then
    /// this run's only worker says it exhausted its range: the run is exhausted. Were the
    /// other run's report taken, the run would end with its nonce.
    #[test]
    fn other_runs_reports_are_ignored() {
        let spec = spec(Mode::First);
        let parts = split(spec.problem.range(), 1);
        let mut other = report(&spec, 0, parts[0], found(LOWEST_MSB_16));
        other.run_id = "someone-else".into();
        let mine = report(&spec, 0, parts[0], ReportOutcome::Exhausted);
        let mut d = Scripted { partitions: parts, reports: vec![other, mine].into(), stopped: vec![], shutdowns: 0 };
        let r = futures::executor::block_on(coordinate(&mut d, &spec, never())).unwrap();
        assert!(matches!(r.outcome, Outcome::Exhausted { .. }), "{:?}", r.outcome);
        assert!(d.reports.is_empty(), "both reports were read");
        assert_eq!(d.shutdowns, 1);
    }

    /// Workers that never report: the stop ends the run, and shutdown still runs.
    #[test]
    fn stop_ends_a_run_whose_workers_are_silent() {
        let spec = spec(Mode::First);
        let parts = split(spec.problem.range(), 1);
        let mut d = Scripted { partitions: parts, reports: VecDeque::new(), stopped: vec![], shutdowns: 0 };
        let r = futures::executor::block_on(coordinate(&mut d, &spec, async { StopReason::Cancelled })).unwrap();
        assert_eq!(r.outcome, Outcome::Stopped(StopReason::Cancelled));
        assert_eq!(d.shutdowns, 1);
    }

    #[test]
    fn a_failed_worker_fails_the_run_and_still_shuts_down() {
        let spec = spec(Mode::First);
        let parts = split(spec.problem.range(), 1);
        let reports = vec![report(&spec, 0, parts[0], ReportOutcome::Failed { reason: "boom".into() })];
        let mut d = Scripted { partitions: parts, reports: reports.into(), stopped: vec![], shutdowns: 0 };
        let e = futures::executor::block_on(coordinate(&mut d, &spec, never())).unwrap_err();
        assert!(e.to_string().contains("boom"));
        assert_eq!(d.shutdowns, 1);
    }

    /// Notes, in one shared log, when the run's cleanup happens (to order it against the
    /// report).
    struct Logged<'a> {
        inner: Scripted,
        log: &'a std::sync::Mutex<Vec<String>>,
    }

    #[async_trait]
    impl Dispatcher for Logged<'_> {
        fn name(&self) -> &'static str {
            "logged"
        }
        async fn start(&mut self, spec: &RunSpec) -> Result<Vec<NonceRange>> {
            self.inner.start(spec).await
        }
        async fn next_report(&mut self) -> Result<Option<WorkerReport>> {
            self.inner.next_report().await
        }
        async fn shutdown(&mut self) -> Result<()> {
            self.log.lock().unwrap().push("shutdown".into());
            Err(DispatchError::Incomplete("the cleanup failed".into()))
        }
    }

    /// The answer is handed over before the cleanup starts, with the time of its
    /// verification; the cleanup still runs, and its failure is reported beside the result
    /// (and, through `coordinate`, is the run's error).
    #[test]
    fn a_decided_answer_is_reported_before_the_cleanup() {
        let spec = spec(Mode::First);
        let parts = split(spec.problem.range(), 4);
        let log = std::sync::Mutex::new(Vec::new());
        let scripted = |reports: Vec<WorkerReport>| Scripted {
            partitions: parts.clone(),
            reports: reports.into(),
            stopped: vec![],
            shutdowns: 0,
        };
        let mut d = Logged { inner: scripted(vec![report(&spec, 0, parts[0], found(LOWEST_MSB_16))]), log: &log };
        let finished = futures::executor::block_on(coordinate_then(&mut d, &spec, never(), |r| {
            log.lock().unwrap().push(format!("answer {:?}", r.answered.is_some()));
        }));
        assert_eq!(*log.lock().unwrap(), ["answer true", "shutdown"]);
        assert!(finished.reported_early);
        assert!(finished.cleanup.is_err(), "the cleanup's failure is kept");
        let r = finished.result.unwrap();
        assert!(r.answered.unwrap() <= r.elapsed);
        assert!(matches!(r.outcome, Outcome::Found(_)));

        // Through `coordinate`, a failed cleanup is the run's error.
        let mut d = Logged { inner: scripted(vec![report(&spec, 0, parts[0], found(LOWEST_MSB_16))]), log: &log };
        assert!(futures::executor::block_on(coordinate(&mut d, &spec, never())).is_err());

        // A run stopped from outside is not handed over before its cleanup.
        log.lock().unwrap().clear();
        let mut d = Logged { inner: scripted(vec![]), log: &log };
        let finished =
            futures::executor::block_on(coordinate_then(&mut d, &spec, async { StopReason::Cancelled }, |_| {
                log.lock().unwrap().push("answer".into());
            }));
        assert_eq!(*log.lock().unwrap(), ["shutdown"]);
        assert!(!finished.reported_early);
        assert_eq!(finished.result.unwrap().answered, None);
    }

    #[test]
    fn run_ids_are_short_lowercase_hex() {
        let a = new_run_id();
        assert_eq!(a.len(), 10);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, new_run_id());
    }
}
