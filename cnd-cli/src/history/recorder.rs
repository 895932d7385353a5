//! What a run measures for its history, seen from outside its backend: a [`Dispatcher`]
//! that passes everything to the run's own and notes each worker report on the way (hashes
//! and the worker's own search time: the rate per worker) and the backend's start-up delay
//! (k8s: Job created → first pod running) before the cleanup.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use cnd_core::{DispatchError, Dispatcher, NonceRange, ProgressProbe, RunSpec, WorkerReport};

use super::{STARTUP_FIRST_REPORT, STARTUP_K8S};

/// A dispatcher that notes what the history records; see the module docs.
pub struct Recorder {
    inner: Box<dyn Dispatcher>,
    started: Option<Instant>,
    /// The first report: when it came, less its worker's search time.
    first_report: Option<Duration>,
    hashes: u64,
    worker_seconds: f64,
    reports: u32,
    backend_startup: Option<Duration>,
    /// Workers behind one report: the local backend's one report is of all its threads.
    workers_per_report: f64,
}

/// What a run measured.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RunFacts {
    /// Seconds from the start until a worker hashed, and how that was measured.
    pub startup_delay: Option<(f64, &'static str)>,
    /// Hashes/s of one worker: the reports' hashes over their search time.
    pub rate_per_worker: Option<f64>,
    /// Reports seen.
    pub reports: u32,
}

impl Recorder {
    /// Notes what `inner` does.
    pub fn new(inner: Box<dyn Dispatcher>) -> Self {
        Self {
            inner,
            started: None,
            first_report: None,
            hashes: 0,
            worker_seconds: 0.0,
            reports: 0,
            backend_startup: None,
            workers_per_report: 1.0,
        }
    }

    /// What the run measured: the backend's own start-up delay if it measures one (k8s),
    /// else the first report's arrival less its search time.
    pub fn facts(&self) -> RunFacts {
        let startup = match (self.backend_startup, self.first_report) {
            (Some(d), _) => {
                let how = if self.inner.name() == "k8s" { STARTUP_K8S } else { "backend" };
                Some((d.as_secs_f64(), how))
            }
            // A k8s run with no pod seen running measured no start-up delay.
            (None, Some(d)) if self.inner.name() != "k8s" => Some((d.as_secs_f64(), STARTUP_FIRST_REPORT)),
            _ => None,
        };
        let rate = (self.worker_seconds > 0.0 && self.hashes > 0).then(|| self.hashes as f64 / self.worker_seconds);
        RunFacts { startup_delay: startup, rate_per_worker: rate, reports: self.reports }
    }

    fn note(&mut self, r: &WorkerReport) {
        self.reports += 1;
        if r.elapsed_s.is_finite() && r.elapsed_s > 0.0 {
            self.hashes += r.hashes;
            self.worker_seconds += r.elapsed_s * self.workers_per_report;
        }
        if self.first_report.is_none()
            && let Some(started) = self.started
        {
            let searched = Duration::try_from_secs_f64(r.elapsed_s.max(0.0)).unwrap_or_default();
            self.first_report = Some(started.elapsed().saturating_sub(searched));
        }
    }
}

#[async_trait]
impl Dispatcher for Recorder {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn start(&mut self, spec: &RunSpec) -> cnd_core::Result<Vec<NonceRange>> {
        self.started = Some(Instant::now());
        let partitions = self.inner.start(spec).await?;
        if !partitions.is_empty() {
            self.workers_per_report = (f64::from(spec.workers) / partitions.len() as f64).max(1.0);
        }
        Ok(partitions)
    }

    async fn next_report(&mut self) -> cnd_core::Result<Option<WorkerReport>> {
        let report = self.inner.next_report().await;
        if let Ok(Some(r)) = &report {
            self.note(r);
        }
        report
    }

    async fn stop_workers(&mut self, workers: &[u32]) -> cnd_core::Result<()> {
        self.inner.stop_workers(workers).await
    }

    fn progress_probe(&self) -> ProgressProbe {
        self.inner.progress_probe()
    }

    fn startup_delay(&self) -> Option<Duration> {
        self.inner.startup_delay()
    }

    async fn shutdown(&mut self) -> Result<(), DispatchError> {
        // Read before the cleanup, which forgets the run.
        self.backend_startup = self.inner.startup_delay();
        self.inner.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use cnd_core::{Kernel, Mode, Problem, ReportOutcome, coordinate};
    use cnd_local::LocalDispatcher;

    use super::*;

    #[tokio::test]
    async fn a_local_run_measures_its_rate_and_start_up() {
        // D = 40 in 3 million nonces: nothing to find, every thread searches its part.
        let problem =
            Problem::text(&b"history"[..], 40).unwrap().with_range(NonceRange::new(0, 3_000_000).unwrap()).unwrap();
        let spec = RunSpec::new(problem, 2, Mode::First);
        let mut rec = Recorder::new(Box::new(LocalDispatcher::new(Kernel::Portable)));
        let before = Instant::now();
        let result = coordinate(&mut rec, &spec, std::future::pending()).await.unwrap();
        let wall = before.elapsed().as_secs_f64();
        let facts = rec.facts();
        // One report, of both threads: each hashed for the report's time.
        assert_eq!((facts.reports, rec.workers_per_report), (1, 2.0), "{facts:?}");
        let rate = facts.rate_per_worker.unwrap();
        assert!(rate >= result.hashes as f64 / wall / 2.0, "{rate} vs {} in {wall}s", result.hashes);
        let (startup, how) = facts.startup_delay.unwrap();
        assert_eq!(how, STARTUP_FIRST_REPORT);
        assert!((0.0..wall).contains(&startup), "{startup} of {wall}");
    }

    #[test]
    fn the_rate_is_hashes_over_worker_time() {
        let report = |hashes: u64, elapsed_s: f64| WorkerReport {
            run_id: "r".into(),
            worker: 0,
            source: None,
            range: NonceRange::new(0, hashes).unwrap(),
            hashes,
            elapsed_s,
            outcome: ReportOutcome::Exhausted,
        };
        let mut rec = Recorder::new(Box::new(LocalDispatcher::new(Kernel::Portable)));
        rec.note(&report(3000, 1.0));
        rec.note(&report(1000, 1.0));
        // A report of no time (a pod that reported nothing useful) counts for nothing.
        rec.note(&report(5000, 0.0));
        assert_eq!(rec.facts().rate_per_worker, Some(2000.0));
        assert_eq!(rec.facts().reports, 3);
        assert_eq!(rec.facts().startup_delay, None, "never started");
        // One report of three threads: each hashed for its whole time.
        let mut rec = Recorder::new(Box::new(LocalDispatcher::new(Kernel::Portable)));
        rec.workers_per_report = 3.0;
        rec.note(&report(6000, 2.0));
        assert_eq!(rec.facts().rate_per_worker, Some(1000.0));
    }
}
