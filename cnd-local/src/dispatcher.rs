//! [`LocalDispatcher`]: one run on every core of this machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use async_trait::async_trait;
use cnd_core::{
    DispatchError, Dispatcher, Kernel, NonceRange, Prepared, Progress, ProgressProbe, ReportOutcome, RunSpec,
    WorkerReport,
};
use futures::StreamExt as _;
use futures::channel::mpsc;

use crate::engine::RangeSearch;

/// Runs a search on threads of this process: `workers` threads (all cores by default)
/// claim chunks of the whole range; in `first` mode the first golden nonce stops every
/// thread, in `lowest` mode every chunk below the best is finished.
///
/// To the coordinator the run is one partition (the whole range) and one report; the report
/// names the thread that found the nonce.
#[derive(Debug)]
pub struct LocalDispatcher {
    kernel: Kernel,
    stop: Arc<AtomicBool>,
    hashes: Arc<AtomicU64>,
    reports: Option<mpsc::UnboundedReceiver<WorkerReport>>,
    thread: Option<JoinHandle<()>>,
}

impl LocalDispatcher {
    /// A dispatcher that hashes with `kernel`.
    pub fn new(kernel: Kernel) -> Self {
        Self {
            kernel,
            stop: Arc::new(AtomicBool::new(false)),
            hashes: Arc::new(AtomicU64::new(0)),
            reports: None,
            thread: None,
        }
    }

    /// Hashes done so far (live).
    pub fn hashes(&self) -> u64 {
        self.hashes.load(Ordering::Relaxed)
    }
}

impl Default for LocalDispatcher {
    fn default() -> Self {
        Self::new(Kernel::best())
    }
}

#[async_trait]
impl Dispatcher for LocalDispatcher {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn start(&mut self, spec: &RunSpec) -> cnd_core::Result<Vec<NonceRange>> {
        if self.thread.is_some() {
            return Err(DispatchError::Invalid("a LocalDispatcher runs one search at a time".into()));
        }
        crate::engine::check_workers(spec.workers, crate::max_threads(), "threads")?;
        let (tx, rx) = mpsc::unbounded();
        self.reports = Some(rx);
        let spec = spec.clone();
        let (kernel, stop, hashes) = (self.kernel, self.stop.clone(), self.hashes.clone());
        let range = spec.problem.range();
        let handle = std::thread::Builder::new()
            .name("cnd-local".into())
            .spawn(move || {
                let prepared = Prepared::new(&spec.problem);
                let searched = RangeSearch {
                    prepared: &prepared,
                    kernel,
                    range,
                    threads: spec.workers,
                    mode: spec.mode,
                    stop: &stop,
                    hashes: &hashes,
                }
                .run();
                let (outcome, source, hashes, elapsed_s) = match searched {
                    Ok(result) => (
                        match result.found {
                            Some((nonce, _)) => {
                                ReportOutcome::Found { nonce, digest: cnd_core::hash::digest(&spec.problem, nonce) }
                            }
                            None if result.stopped => ReportOutcome::Failed { reason: "stopped".into() },
                            None => ReportOutcome::Exhausted,
                        },
                        result.found.map(|(_, t)| format!("local thread {t} of {}", spec.workers)),
                        result.hashes,
                        result.elapsed.as_secs_f64(),
                    ),
                    Err(e) => {
                        let reason = format!("could not start {} hashing threads: {e}", spec.workers);
                        (ReportOutcome::Failed { reason }, None, 0, 0.0)
                    }
                };
                let report =
                    WorkerReport { run_id: spec.run_id.clone(), worker: 0, source, range, hashes, elapsed_s, outcome };
                // The receiver may be gone if the run was cancelled: nothing to tell then.
                let _ = tx.unbounded_send(report);
            })
            .map_err(|e| DispatchError::backend("spawn the local search thread", e))?;
        self.thread = Some(handle);
        Ok(vec![range])
    }

    async fn next_report(&mut self) -> cnd_core::Result<Option<WorkerReport>> {
        match self.reports.as_mut() {
            Some(rx) => Ok(rx.next().await),
            None => Ok(None),
        }
    }

    fn progress_probe(&self) -> ProgressProbe {
        let hashes = self.hashes.clone();
        Arc::new(move || Progress { hashes: Some(hashes.load(Ordering::Relaxed)), detail: None })
    }

    async fn shutdown(&mut self) -> cnd_core::Result<()> {
        self.stop.store(true, Ordering::Release);
        // Every hashing thread sees the flag within one stop-check interval; wait for the
        // search thread to end without blocking the async runtime, then reap it.
        if let Some(mut rx) = self.reports.take() {
            while rx.next().await.is_some() {}
        }
        if let Some(handle) = self.thread.take() {
            handle.join().map_err(|_| DispatchError::Incomplete("the local search thread panicked".into()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use cnd_core::{Mode, Problem};

    use super::*;

    /// 10^8 threads would take minutes to start and to stop: refused before any starts.
    #[tokio::test]
    async fn more_threads_than_the_limit_are_refused_before_any_starts() {
        let spec = RunSpec::new(Problem::text("x", 8).unwrap(), crate::max_threads() + 1, Mode::First);
        let mut d = LocalDispatcher::new(Kernel::Portable);
        let e = d.start(&spec).await.unwrap_err();
        assert!(matches!(&e, DispatchError::Invalid(m) if m.contains("allowed: 1..=")), "{e}");
        assert!(d.thread.is_none() && d.reports.is_none());
        let ok = RunSpec::new(Problem::text("x", 8).unwrap(), crate::max_threads(), Mode::First);
        assert!(d.start(&ok).await.is_ok(), "the limit itself is allowed");
        d.shutdown().await.unwrap();
    }
}
