//! [`ProcessDispatcher`]: N worker processes on this machine, each under the pod contract,
//! sharing the run's range in chunks that the coordinator hands out over their pipes.

pub(crate) mod protocol;
mod remote;
mod run;
mod schedule;
mod supervise;

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use cnd_core::{
    DispatchError, Dispatcher, Kernel, NonceRange, OpenChannel, Progress, ProgressProbe, RemoteChannel, Results,
    RunSpec, WorkerReport,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use self::protocol::{BadLine, Note};
use self::remote::{CHANNEL_GRACE, receive_remote};
use self::run::{Launcher, Run, Slot};
use self::schedule::Schedule;

/// Runs a search as N `cnd worker` processes of this machine: a faithful local stand-in for
/// N pods, which share the range as the local backend's threads do. Each child gets the
/// worker env contract, written by [`WorkerSpec::to_env`] as for a pod (and none of the
/// contract's variables from the coordinator's own environment), with `CND_CHUNKS=stdin`:
/// instead of a fixed partition, it searches the chunks the coordinator sends on its stdin,
/// one JSON line each, and answers each on its stdout (`protocol`). Chunks go out in
/// increasing order, two per worker at a time, to whichever worker finishes one; `first`
/// ends at the first verified golden nonce, `lowest` once every chunk below the best one is
/// searched (and none above it is handed out): the answer of the local backend, not held
/// back by the slowest of fixed partitions.
///
/// Each child runs in its own process group (Ctrl-C is the coordinator's to handle) and is
/// killed if the coordinator's handle drops; with `CND_EXIT_WITH_PARENT=1` it also stops by
/// itself when the coordinator's end of its stdin closes, so that not even a killed
/// coordinator leaves it behind.
///
/// A chunk's golden nonce comes in its answer, or with a remote channel (SQS) opened when the
/// run starts, as the worker's report of that chunk on the channel; the answer then only says
/// that it was published. Every nonce is verified before it counts; one on the channel that
/// does not verify goes on to the coordinator, which rejects it. A child that dies has its
/// chunks handed out again and is restarted once; a second death fails the run, naming the
/// worker, and so does a line that breaks the protocol. To the coordinator the run is one
/// partition (the whole range) and one report, which names the process that found the nonce.
/// [`Dispatcher::shutdown`] kills and reaps every child and closes the remote channel.
pub struct ProcessDispatcher {
    launcher: Launcher,
    open_channel: Option<OpenChannel>,
    hashes: Arc<AtomicU64>,
    run: Option<Run>,
    opening: Option<JoinHandle<cnd_core::Result<RemoteChannel>>>,
}

impl fmt::Debug for ProcessDispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessDispatcher")
            .field("launcher", &self.launcher)
            .field("remote", &self.open_channel.is_some())
            .finish_non_exhaustive()
    }
}

/// What a worker's pipes, its exit and the remote channel tell the run.
pub(crate) enum Event {
    Note { worker: u32, generation: u32, note: Note },
    Fault { worker: u32, generation: u32, bad: BadLine },
    Exited { worker: u32, generation: u32, status: std::io::Result<ExitStatus> },
    Remote(cnd_core::Result<Option<WorkerReport>>),
}

impl ProcessDispatcher {
    /// Workers run `program args...` (for the `cnd` binary: `current_exe()` and `worker`).
    pub fn new(program: impl Into<PathBuf>, args: impl IntoIterator<Item = impl Into<OsString>>) -> Self {
        Self {
            launcher: Launcher {
                program: program.into(),
                args: args.into_iter().map(Into::into).collect(),
                kernel: None,
                threads: None,
                chunk: None,
                env: Vec::new(),
                running: Arc::new(AtomicU32::new(0)),
            },
            open_channel: None,
            hashes: Arc::new(AtomicU64::new(0)),
            run: None,
            opening: None,
        }
    }

    /// Forces the workers' kernel (`CND_KERNEL`).
    pub fn kernel(mut self, kernel: Kernel) -> Self {
        self.launcher.kernel = Some(kernel);
        self
    }

    /// Threads per worker (`CND_THREADS`) [default: this machine's CPUs shared among the
    /// workers, rounded up: [`default_threads`](crate::default_threads) / workers].
    pub fn threads(mut self, threads: u32) -> Self {
        self.launcher.threads = Some(threads.max(1));
        self
    }

    /// Nonces per chunk [default: 2^21 per hashing thread of a worker, and at least 16
    /// chunks per worker].
    pub fn chunk_size(mut self, nonces: u64) -> Self {
        self.launcher.chunk = Some(nonces.max(1));
        self
    }

    /// Adds a variable to every worker's environment (after the contract's: it wins).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.launcher.env.push((key.into(), value.into()));
        self
    }

    /// Receives the golden nonces through a remote channel that `open` opens when the run
    /// starts (and shutdown closes), instead of the workers' stdout; the workers are told
    /// its [`RemoteChannel::results`].
    pub fn remote_channel(mut self, open: OpenChannel) -> Self {
        self.open_channel = Some(open);
        self
    }

    /// The most worker processes a run starts on this machine: one per CPU, and at least 64.
    ///
    /// More processes than CPUs only share the same cores; 64 lets a small machine stand in
    /// for a run of 64 pods. 4 × 10^9 would ask for a table of that many workers (and as
    /// many processes).
    pub fn max_workers() -> u32 {
        crate::available_threads().max(64)
    }

    /// Process ids of the live worker processes (for tests and diagnostics).
    pub fn worker_pids(&self) -> Vec<u32> {
        self.run
            .as_ref()
            .map(|r| r.slots.iter().filter(|s| s.alive).filter_map(|s| s.pid).collect())
            .unwrap_or_default()
    }
}

#[async_trait]
impl Dispatcher for ProcessDispatcher {
    fn name(&self) -> &'static str {
        "process"
    }

    async fn start(&mut self, spec: &RunSpec) -> cnd_core::Result<Vec<NonceRange>> {
        if self.run.is_some() || self.opening.is_some() {
            return Err(DispatchError::Invalid("a ProcessDispatcher runs one search at a time".into()));
        }
        crate::engine::check_workers(spec.workers, Self::max_workers(), "processes")?;
        let range = spec.problem.range();
        let (events_tx, events) = mpsc::unbounded_channel();
        let mut run = Run {
            spec: spec.clone(),
            started: Instant::now(),
            schedule: Schedule::new(spec.mode, range, self.launcher.chunk_size(spec)),
            slots: (0..spec.workers).map(|_| Slot::default()).collect(),
            events,
            events_tx,
            results: Results::Stdout,
            remote: None,
            remote_closed: false,
            rejects: VecDeque::new(),
            reported: false,
        };
        if let Some(open) = self.open_channel.take() {
            // Opened on a task of its own, kept in `self`: if this start is cancelled, shutdown
            // still gets the channel (and removes its queue).
            let opening = self.opening.insert(tokio::spawn(open(spec.clone())));
            let opened = opening.await.map_err(|e| DispatchError::backend("open the result channel", e));
            self.opening = None;
            let RemoteChannel { channel, results } = opened??;
            run.results = results;
            let deadline = spec.timeout.map(|t| Instant::now() + t);
            run.remote = Some(receive_remote(channel, deadline, run.events_tx.clone()));
        }
        // No await from here on: whatever starts is in `self.run` for shutdown to reap.
        let mut result = Ok(vec![range]);
        for worker in 0..spec.workers {
            if let Err(e) = self.launcher.spawn(&mut run, worker) {
                result = Err(e);
                break;
            }
        }
        run.started = Instant::now();
        self.run = Some(run);
        result
    }

    async fn next_report(&mut self) -> cnd_core::Result<Option<WorkerReport>> {
        let Self { launcher, hashes, run, .. } = self;
        match run.as_mut() {
            Some(run) => run.next_report(launcher, hashes).await,
            None => Ok(None),
        }
    }

    async fn stop_workers(&mut self, workers: &[u32]) -> cnd_core::Result<()> {
        // The run is one partition to the coordinator: it has no workers to stop apart from
        // the whole run, which shutdown ends.
        let _ = workers;
        Ok(())
    }

    fn progress_probe(&self) -> ProgressProbe {
        let (hashes, running) = (self.hashes.clone(), self.launcher.running.clone());
        Arc::new(move || {
            let h = hashes.load(Ordering::Relaxed);
            Progress {
                hashes: (h > 0).then_some(h),
                detail: Some(format!("{} worker processes running", running.load(Ordering::Relaxed))),
            }
        })
    }

    async fn shutdown(&mut self) -> cnd_core::Result<()> {
        let mut first_error = None;
        if let Some(mut run) = self.run.take() {
            for slot in &mut run.slots {
                slot.stopped = true;
                slot.kill = None;
                slot.orders = None;
            }
            // Each supervisor kills its child, reaps it and ends.
            for slot in &mut run.slots {
                if let Some(task) = slot.task.take()
                    && let Err(e) = task.await
                {
                    first_error.get_or_insert(DispatchError::backend("reap a worker process", e));
                }
            }
            self.launcher.running.store(0, Ordering::Relaxed);
            if let Some(remote) = run.remote.take()
                && let Err(e) = remote.close().await
            {
                first_error.get_or_insert(e);
            }
        }
        if let Some(opening) = self.opening.take() {
            // The run was cancelled while its channel was being opened: close what was opened.
            if let Ok(Ok(Ok(mut opened))) = tokio::time::timeout(CHANNEL_GRACE, opening).await
                && let Err(e) = opened.channel.close().await
            {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use cnd_core::{Mode, Problem, SqsTarget, WorkerSpec, split};

    use super::*;

    /// 4 × 10^9 workers would ask for a 64 GB table: refused before anything is made or
    /// started (the program does not exist: starting it would be another error).
    #[tokio::test]
    async fn more_workers_than_the_limit_are_refused_before_any_starts() {
        let max = ProcessDispatcher::max_workers();
        assert_eq!(max, crate::available_threads().max(64));
        let mut d = ProcessDispatcher::new("/nonexistent/cnd", ["worker"]);
        for workers in [max + 1, 4_000_000_000] {
            let spec = RunSpec::new(Problem::text("x", 8).unwrap(), workers, Mode::First);
            let e = d.start(&spec).await.unwrap_err();
            assert!(matches!(&e, DispatchError::Invalid(m) if m.contains(&format!("allowed: 1..={max}"))), "{e}");
            assert!(d.run.is_none());
        }
    }

    #[test]
    fn each_worker_gets_its_contract_and_takes_chunks_from_its_stdin() {
        let problem = Problem::text("", 20).unwrap().with_range(NonceRange::new(100, 1_100).unwrap()).unwrap();
        let mut spec = RunSpec::new(problem, 4, Mode::First);
        spec.run_id = "r7".into();
        let dispatcher = ProcessDispatcher::new("cnd", ["worker"]).kernel(Kernel::Portable).threads(3);
        let results = Results::Sqs(SqsTarget { queue_url: Some("http://q/cnd-r7".into()), endpoint_url: None });
        let env: HashMap<String, String> =
            dispatcher.launcher.contract(&spec, &results, 2).to_env().into_iter().collect();
        let read = WorkerSpec::from_env(|k| env.get(k).cloned()).unwrap();
        assert_eq!(read.partition(), Some(split(spec.problem.range(), 4)[2]));
        assert_eq!(read.problem, spec.problem, "the empty block stays empty");
        assert_eq!((read.run_id.as_str(), read.mode, read.workers), ("r7", Mode::First, 4));
        assert_eq!((read.threads, read.kernel), (Some(3), Some(Kernel::Portable)));
        assert_eq!(read.results, results);
        assert!(read.exit_with_parent, "no worker outlives its coordinator");
        assert!(read.chunks_from_stdin, "workers share the range in chunks");
    }

    /// The workers share the CPUs (each is busy to the end of the run), and each gets 2^21
    /// nonces per thread a chunk, but at least 16 chunks.
    #[test]
    fn workers_share_the_cpus_and_chunks_are_sized_by_their_threads() {
        let spec = |end: u64, workers| {
            let p = Problem::text("x", 8).unwrap().with_range(NonceRange::new(0, end).unwrap()).unwrap();
            RunSpec::new(p, workers, Mode::Lowest)
        };
        let cpus = crate::default_threads();
        let d = ProcessDispatcher::new("cnd", ["worker"]);
        assert_eq!(d.launcher.threads_per_worker(&spec(1 << 32, 1)), cpus);
        assert_eq!(d.launcher.threads_per_worker(&spec(1 << 32, 2)), cpus.div_ceil(2));
        assert_eq!(d.launcher.threads_per_worker(&spec(1 << 32, 1_000)), 1);
        let d = d.threads(2);
        assert_eq!(d.launcher.chunk_size(&spec(1 << 32, 2)), 1 << 22);
        assert_eq!(d.launcher.chunk_size(&spec(320_000, 2)), 10_000);
        assert_eq!(d.launcher.chunk_size(&spec(5, 2)), 1);
        assert_eq!(d.chunk_size(777).launcher.chunk_size(&spec(1 << 32, 2)), 777);
    }
}
