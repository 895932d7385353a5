//! The worker runtime: what `cnd worker` runs in a pod or a local worker process, and what an
//! embedder can run itself.
//!
//! [`run_worker`] takes a [`WorkerSpec`] (read from the env contract, or built in code),
//! searches the worker's partition with every thread it may use, prints ONE JSON report line
//! on stdout, delivers the report through a [`ResultChannel`] opened by the caller (the
//! termination log, SQS) and returns the worker's [`Exit`]. With `CND_CHUNKS=stdin` it
//! searches the chunks its coordinator sends instead ([`serve_chunks`]).

mod chunks;
mod stops;
mod threads;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use cnd_core::{
    DispatchError, Exit, Mode, NonceRange, Prepared, ReportOutcome, ResultChannel, Results, WorkerReport, WorkerSpec,
};

pub use self::chunks::serve_chunks;
use self::stops::{StopCause, Stops};
pub use self::threads::default_threads;
use crate::choose::{Probed, choose_on_range};
use crate::engine::{RangeResult, RangeSearch};

/// Why a worker could not run or deliver its report (exit 1, or 2 for [`WorkerError::NoIndex`]).
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The spec has no worker index, so no partition.
    #[error("the worker's index is not set (CND_WORKER_INDEX)")]
    NoIndex,
    /// The spec asks for a result channel that the caller did not open.
    #[error("CND_RESULTS={0} needs a result channel, and none was given")]
    NoChannel(&'static str),
    /// The search could not start its threads.
    #[error("start the search threads")]
    Spawn(#[source] std::io::Error),
    /// More threads than this machine allows ([`max_threads`](crate::max_threads)).
    #[error("CND_THREADS: {threads} is out of range (allowed: 1..={max} on this machine's {cpus} CPUs, or auto)")]
    TooManyThreads {
        /// Threads asked for.
        threads: u32,
        /// The limit here.
        max: u32,
        /// The CPUs this process may use.
        cpus: u32,
    },
    /// The search thread panicked.
    #[error("the search thread panicked")]
    Panicked,
    /// The report could not be delivered (it was printed on stdout as failed).
    #[error("could not deliver its report")]
    Deliver(#[source] DispatchError),
    /// A line from the coordinator that is not an order of the chunk protocol.
    #[error("a malformed order from its coordinator: {0}")]
    Protocol(String),
}

impl WorkerError {
    /// The worker's exit for this error: [`Exit::Usage`] for a spec that cannot run,
    /// [`Exit::Error`] otherwise.
    pub fn exit(&self) -> Exit {
        match self {
            WorkerError::NoIndex | WorkerError::NoChannel(_) | WorkerError::TooManyThreads { .. } => Exit::Usage,
            _ => Exit::Error,
        }
    }
}

/// Runs one worker to its end: searches `spec.partition()` with `spec.threads` threads
/// [default: [`default_threads`]] and `spec.kernel` [default: [`Kernel::best`]], prints the
/// report as one JSON line on stdout, publishes it on `channel` and returns
/// [`Exit::of_report`].
///
/// SIGTERM and SIGINT (and, with `spec.exit_with_parent`, the end of stdin) stop the search
/// within a second; the report then says so (exit 4), and is not published on SQS, where
/// nobody waits for it any more. In `lowest` mode a stopped worker reports no nonce even if
/// it found one: a lower one may be in a chunk it did not finish.
///
/// `channel` is opened by the caller (before, so that an unreachable endpoint fails before
/// the search); `spec.results` other than [`Results::Stdout`] needs one. If the delivery
/// fails, the printed report is a failure that says why, and the error is returned.
///
/// With `spec.chunks_from_stdin` it is [`serve_chunks`] on stdin and stdout instead.
///
/// Needs a tokio runtime with IO enabled (for the signals); hashing runs on plain threads.
pub async fn run_worker(spec: WorkerSpec, channel: Option<Box<dyn ResultChannel>>) -> Result<Exit, WorkerError> {
    if spec.chunks_from_stdin {
        let stdin = std::io::BufReader::new(std::io::stdin());
        return serve_chunks(spec, channel, stdin, std::io::stdout()).await;
    }
    let (report, delivered) = work(spec, channel).await?;
    println!("{}", report.to_json_line());
    delivered.map(|()| Exit::of_report(&report.outcome))
}

/// Searches and delivers: the report to print, and whether it was delivered.
async fn work(
    spec: WorkerSpec,
    channel: Option<Box<dyn ResultChannel>>,
) -> Result<(WorkerReport, Result<(), WorkerError>), WorkerError> {
    let (Some(index), Some(partition)) = (spec.index, spec.partition()) else { return Err(WorkerError::NoIndex) };
    let threads = checked_threads(&spec, channel.is_some())?;
    let mut stops = Stops::install(spec.exit_with_parent);
    // Without a known choice, the kernel is chosen on the partition's first nonces (searched,
    // not spent on a separate probe: see `choose`).
    let kernel = spec.kernel.or_else(|| cnd_core::kernel_choice::known_choice().map(|c| c.kernel));
    let named = kernel.map_or("chosen on its first nonces".to_string(), |k| k.to_string());
    tracing::info!(run_id = %spec.run_id, worker = index, of = spec.workers, range = %partition, threads, kernel = %named, "searching");

    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, mut done) = tokio::sync::oneshot::channel();
    let search = {
        let (stop, problem, mode) = (stop.clone(), spec.problem.clone(), spec.mode);
        std::thread::Builder::new()
            .name("cnd-worker".into())
            .spawn(move || {
                let started = Instant::now();
                let prepared = Prepared::new(&problem);
                let hashes = AtomicU64::new(0);
                let probed = match kernel {
                    Some(kernel) => Probed::nothing(kernel, partition.start),
                    None => choose_on_range(&prepared, partition, &stop, &hashes),
                };
                let rest = NonceRange { start: probed.searched_to, end: partition.end };
                let result = if probed.golden.is_some() || probed.stopped || rest.is_empty() {
                    Ok(RangeResult {
                        found: probed.golden.map(|n| (n, 0)),
                        hashes: probed.hashes,
                        stopped: probed.stopped && probed.golden.is_none(),
                        elapsed: started.elapsed(),
                    })
                } else {
                    let search = RangeSearch {
                        prepared: &prepared,
                        kernel: probed.kernel,
                        range: rest,
                        threads,
                        mode,
                        stop: &stop,
                        hashes: &hashes,
                    };
                    search.run().map(|r| RangeResult {
                        hashes: r.hashes + probed.hashes,
                        elapsed: started.elapsed(),
                        ..r
                    })
                };
                let _ = done_tx.send(result);
            })
            .map_err(WorkerError::Spawn)?
    };
    let (result, cause) = tokio::select! {
        r = &mut done => (r, None),
        cause = stops.next() => {
            stop.store(true, Ordering::Release);
            ((&mut done).await, Some(cause))
        }
    };
    // The sender is dropped without a result only if the thread panicked.
    let result = result.map_err(|_| WorkerError::Panicked)?;
    search.join().map_err(|_| WorkerError::Panicked)?;
    let result = result.map_err(WorkerError::Spawn)?;

    let report = WorkerReport {
        run_id: spec.run_id.clone(),
        worker: index,
        source: Some(spec.source.clone().unwrap_or_else(|| format!("worker {index} (pid {})", std::process::id()))),
        range: partition,
        hashes: result.hashes,
        elapsed_s: result.elapsed.as_secs_f64(),
        outcome: outcome(&spec, &result, cause),
    };
    // Stopped from outside, nobody waits for an SQS report; a termination message is still
    // the pod's last word.
    let publish = !(cause.is_some() && matches!(spec.results, Results::Sqs(_)));
    let delivered = match channel {
        Some(channel) if publish => channel.publish(&report).await.map_err(WorkerError::Deliver),
        _ => Ok(()),
    };
    Ok(match delivered {
        Ok(()) => (report, Ok(())),
        Err(e) => {
            // The report still goes to stdout, as a failure that says why.
            let reason = chain(&e);
            (WorkerReport { outcome: ReportOutcome::Failed { reason }, ..report }, Err(e))
        }
    })
}

/// The spec's hashing threads, once it is known to be runnable: its result channel was
/// opened (`has_channel`) if it needs one, and the threads are within this machine's limit.
fn checked_threads(spec: &WorkerSpec, has_channel: bool) -> Result<u32, WorkerError> {
    if !has_channel && spec.results != Results::Stdout {
        return Err(WorkerError::NoChannel(spec.results.name()));
    }
    let threads = spec.threads.unwrap_or_else(default_threads);
    let max = crate::max_threads();
    if threads > max {
        return Err(WorkerError::TooManyThreads { threads, max, cpus: crate::available_threads() });
    }
    Ok(threads)
}

/// What the worker reports for its search, stopped by `cause` or not.
fn outcome(spec: &WorkerSpec, result: &RangeResult, cause: Option<StopCause>) -> ReportOutcome {
    match (result.found, cause) {
        // Stopped in lowest mode, a lower chunk may be unfinished: not an answer.
        (Some(_), Some(c)) if spec.mode == Mode::Lowest => ReportOutcome::Failed { reason: c.to_string() },
        (Some((nonce, _)), _) => ReportOutcome::Found { nonce, digest: cnd_core::hash::digest(&spec.problem, nonce) },
        (None, Some(c)) => ReportOutcome::Failed { reason: c.to_string() },
        (None, None) if result.stopped => ReportOutcome::Failed { reason: "stopped".into() },
        (None, None) => ReportOutcome::Exhausted,
    }
}

/// An error and its sources, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use async_trait::async_trait;
    use cnd_core::{NonceRange, Problem, RunSpec, SqsTarget, split, verify};

    use super::*;

    /// Every test that runs a worker installs signal handlers: one at a time, so that the
    /// SIGTERM of one cannot stop another.
    pub(super) static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    /// A channel that records what is published, or fails.
    #[derive(Clone, Default)]
    pub(super) struct Recorder {
        pub(super) published: Arc<Mutex<Vec<WorkerReport>>>,
        pub(super) fail: bool,
    }

    #[async_trait]
    impl ResultChannel for Recorder {
        async fn publish(&self, report: &WorkerReport) -> cnd_core::Result<()> {
            if self.fail {
                return Err(DispatchError::backend("publish to the queue", "unreachable"));
            }
            self.published.lock().unwrap().push(report.clone());
            Ok(())
        }
        async fn receive(&mut self, _: Option<Instant>) -> cnd_core::Result<Option<WorkerReport>> {
            Ok(None)
        }
        async fn close(&mut self) -> cnd_core::Result<()> {
            Ok(())
        }
    }

    impl Recorder {
        pub(super) fn boxed(&self) -> Option<Box<dyn ResultChannel>> {
            Some(Box::new(self.clone()))
        }
        pub(super) fn published(&self) -> Vec<WorkerReport> {
            self.published.lock().unwrap().clone()
        }
    }

    fn spec(difficulty: u32, end: u64, workers: u32, index: u32, mode: Mode) -> WorkerSpec {
        let problem =
            Problem::text("COMSM0010cloud", difficulty).unwrap().with_range(NonceRange::new(0, end).unwrap()).unwrap();
        WorkerSpec {
            index: Some(index),
            threads: Some(2),
            ..WorkerSpec::for_run(&RunSpec::new(problem, workers, mode))
        }
    }

    #[tokio::test]
    async fn a_worker_reports_and_publishes_the_lowest_nonce_of_its_partition() {
        let _one = ONE_AT_A_TIME.lock().await;
        let spec =
            WorkerSpec { results: Results::TerminationLog("/unused".into()), ..spec(8, 40_000, 4, 1, Mode::Lowest) };
        let partition = split(spec.problem.range(), 4)[1];
        let want = (partition.start..partition.end).find(|n| verify(&spec.problem, *n).is_valid()).unwrap();
        let channel = Recorder::default();
        let (report, delivered) = work(spec.clone(), channel.boxed()).await.unwrap();
        delivered.unwrap();
        assert!(matches!(report.outcome, ReportOutcome::Found { nonce, .. } if nonce == want), "{report:?}");
        assert_eq!((report.worker, report.range, report.run_id.as_str()), (1, partition, spec.run_id.as_str()));
        assert_eq!(report.source, Some(format!("worker 1 (pid {})", std::process::id())));
        assert_eq!(channel.published(), vec![report]);
    }

    #[tokio::test]
    async fn an_exhausted_partition_counts_every_hash_and_exits_3() {
        let _one = ONE_AT_A_TIME.lock().await;
        let spec = WorkerSpec { source: Some("pod-0".into()), ..spec(256, 10_000, 2, 0, Mode::First) };
        let (report, _) = work(spec.clone(), None).await.unwrap();
        assert_eq!((report.outcome, report.hashes), (ReportOutcome::Exhausted, 5_000));
        assert_eq!(report.source.as_deref(), Some("pod-0"));
        assert_eq!(run_worker(spec, None).await.unwrap(), Exit::Exhausted);
    }

    #[tokio::test]
    async fn a_failed_delivery_is_printed_as_failed_and_returned() {
        let _one = ONE_AT_A_TIME.lock().await;
        let spec = WorkerSpec { results: Results::Sqs(SqsTarget::default()), ..spec(8, 1_000, 1, 0, Mode::First) };
        let failing = Recorder { fail: true, ..Recorder::default() };
        let (report, delivered) = work(spec, failing.boxed()).await.unwrap();
        let e = delivered.unwrap_err();
        assert!(matches!(e, WorkerError::Deliver(_)) && e.exit() == Exit::Error, "{e:?}");
        let reason = "could not deliver its report: publish to the queue: unreachable".to_string();
        assert_eq!(report.outcome, ReportOutcome::Failed { reason });
    }

    #[tokio::test]
    async fn a_spec_without_an_index_or_its_channel_is_refused_before_searching() {
        let no_index = WorkerSpec { index: None, ..spec(8, 1_000, 2, 0, Mode::First) };
        assert!(matches!(work(no_index, None).await, Err(WorkerError::NoIndex)));
        let no_channel = WorkerSpec { results: Results::termination_log(), ..spec(8, 1_000, 1, 0, Mode::First) };
        let e = work(no_channel, None).await.unwrap_err();
        assert!(matches!(e, WorkerError::NoChannel("termination-log")) && e.exit() == Exit::Usage, "{e:?}");
        // CND_THREADS=100000000 would start threads for minutes: refused, exit 2.
        let max = crate::max_threads();
        let too_many = WorkerSpec { threads: Some(max + 1), ..spec(8, 1_000, 1, 0, Mode::First) };
        let e = work(too_many, None).await.unwrap_err();
        assert!(matches!(e, WorkerError::TooManyThreads { threads, .. } if threads == max + 1), "{e:?}");
        assert_eq!(e.exit(), Exit::Usage);
        assert!(e.to_string().starts_with(&format!("CND_THREADS: {} is out of range (allowed: 1..={max} ", max + 1)));
    }

    #[test]
    fn a_stopped_lowest_search_reports_no_nonce() {
        let result = |found, stopped| RangeResult { found, hashes: 1, stopped, elapsed: Duration::ZERO };
        let term = Some(StopCause::Signal("SIGTERM"));
        let failed = |reason: &str| ReportOutcome::Failed { reason: reason.into() };
        let lowest = spec(8, 1_000, 1, 0, Mode::Lowest);
        let first = WorkerSpec { mode: Mode::First, ..lowest.clone() };
        assert_eq!(outcome(&lowest, &result(Some((5, 0)), false), term), failed("stopped by SIGTERM"));
        assert!(matches!(outcome(&first, &result(Some((5, 0)), false), term), ReportOutcome::Found { nonce: 5, .. }));
        assert_eq!(
            outcome(&first, &result(None, true), Some(StopCause::ParentGone)),
            failed("stopped: its coordinator is gone")
        );
        assert_eq!(outcome(&first, &result(None, true), None), failed("stopped"));
        assert_eq!(outcome(&first, &result(None, false), None), ReportOutcome::Exhausted);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn sigterm_stops_the_search_within_a_second_and_nothing_goes_to_sqs() {
        let _one = ONE_AT_A_TIME.lock().await;
        let spec = WorkerSpec { results: Results::Sqs(SqsTarget::default()), ..spec(256, 1 << 40, 1, 0, Mode::First) };
        let channel = Recorder::default();
        let started = Instant::now();
        let kill = tokio::spawn(async {
            // The handlers are installed before the search starts, long before this.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let kill = format!("kill -TERM {}", std::process::id());
            tokio::process::Command::new("sh").args(["-c", &kill]).status().await.unwrap()
        });
        let (report, delivered) = work(spec, channel.boxed()).await.unwrap();
        assert!(kill.await.unwrap().success());
        delivered.unwrap();
        assert_eq!(report.outcome, ReportOutcome::Failed { reason: "stopped by SIGTERM".into() });
        assert_eq!(Exit::of_report(&report.outcome), Exit::Stopped);
        assert!(started.elapsed() < Duration::from_millis(1_300), "{:?}", started.elapsed());
        assert!(channel.published().is_empty(), "nobody waits for a stopped worker's SQS report");
    }

    #[test]
    fn a_worker_can_run_on_a_spawned_task() {
        fn send<T: Send>(_: &T) {}
        send(&run_worker(spec(8, 1_000, 1, 0, Mode::First), None));
    }
}
