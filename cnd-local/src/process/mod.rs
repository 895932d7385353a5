//! [`ProcessDispatcher`]: N worker processes on this machine, each under the pod contract,
//! sharing the run's range in chunks that the coordinator hands out over their pipes.

pub(crate) mod protocol;
mod remote;
mod schedule;
mod supervise;

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cnd_core::{
    DispatchError, Dispatcher, Exit, Kernel, NonceRange, OpenChannel, Progress, ProgressProbe, RemoteChannel,
    ReportOutcome, Results, RunSpec, WorkerReport, WorkerSpec, verify,
};
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use self::protocol::{BadLine, Note, Order};
use self::remote::{CHANNEL_GRACE, RemoteTask, receive_remote};
use self::schedule::{Decision, Schedule};
use self::supervise::{describe, supervise};

/// Variables the CLI reads besides the worker contract: a worker must not inherit them either.
const CLI_VARS: &[&str] = &["CND_BLOCK", "CND_BITCOIN_HEADER", "CND_BACKEND", "CND_WORKERS"];

/// Chunks a worker holds at once: the one it searches and the next, so that it never waits
/// for the coordinator between two.
const WINDOW: usize = 2;

/// Nonces per chunk and hashing thread of a worker: about 60–80 ms at today's kernels' rates
/// per thread, so that a chunk's round trip over the pipes is lost in it, and `lowest` mode,
/// which waits for every chunk below its answer, waits little.
const CHUNK_PER_THREAD: u64 = 1 << 21;

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

/// What starts a worker process.
#[derive(Debug)]
struct Launcher {
    program: PathBuf,
    args: Vec<OsString>,
    kernel: Option<Kernel>,
    threads: Option<u32>,
    chunk: Option<u64>,
    env: Vec<(String, String)>,
    running: Arc<AtomicU32>,
}

impl fmt::Debug for ProcessDispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessDispatcher")
            .field("launcher", &self.launcher)
            .field("remote", &self.open_channel.is_some())
            .finish_non_exhaustive()
    }
}

struct Run {
    spec: RunSpec,
    started: Instant,
    schedule: Schedule,
    slots: Vec<Slot>,
    events: mpsc::UnboundedReceiver<Event>,
    events_tx: mpsc::UnboundedSender<Event>,
    /// Where the workers publish (`Results::Stdout` without a remote channel).
    results: Results,
    remote: Option<RemoteTask>,
    /// The remote channel has nothing more to give.
    remote_closed: bool,
    /// Reports from the remote channel whose nonce does not verify: the coordinator's to reject.
    rejects: VecDeque<WorkerReport>,
    /// The run's one report has been given.
    reported: bool,
}

#[derive(Default)]
struct Slot {
    pid: Option<u32>,
    generation: u32,
    restarts: u32,
    /// Dropping it kills the child.
    kill: Option<oneshot::Sender<()>>,
    /// Orders for the child's stdin.
    orders: Option<mpsc::UnboundedSender<Order>>,
    task: Option<JoinHandle<()>>,
    alive: bool,
    stopped: bool,
}

impl Slot {
    /// ` (pid N)`, for messages.
    fn pid(&self) -> String {
        self.pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    }
}

enum Event {
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

impl Launcher {
    /// Hashing threads of each worker of `spec`.
    fn threads_per_worker(&self, spec: &RunSpec) -> u32 {
        // The workers share this machine's CPUs: every one of them is busy to the end.
        self.threads.unwrap_or_else(|| crate::default_threads().div_ceil(spec.workers.max(1)).max(1))
    }

    /// Nonces per chunk of `spec`.
    fn chunk_size(&self, spec: &RunSpec) -> u64 {
        self.chunk.unwrap_or_else(|| {
            let per_worker = spec.problem.range().len() / (u64::from(spec.workers.max(1)) * 16);
            (CHUNK_PER_THREAD * u64::from(self.threads_per_worker(spec))).min(per_worker).max(1)
        })
    }

    /// The worker env contract of one worker of the run.
    fn contract(&self, spec: &RunSpec, results: &Results, worker: u32) -> WorkerSpec {
        WorkerSpec {
            index: Some(worker),
            threads: Some(self.threads_per_worker(spec)),
            kernel: self.kernel,
            results: results.clone(),
            exit_with_parent: true,
            chunks_from_stdin: true,
            ..WorkerSpec::for_run(spec)
        }
    }

    /// Starts (or restarts) worker `worker` of the run.
    fn spawn(&self, run: &mut Run, worker: u32) -> cnd_core::Result<()> {
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        for var in WorkerSpec::VARIABLES.iter().chain(CLI_VARS) {
            command.env_remove(var);
        }
        command
            .envs(self.contract(&run.spec, &run.results, worker).to_env())
            .envs(self.env.iter().cloned())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        // Its own process group: a terminal's Ctrl-C reaches the coordinator only, which
        // stops the workers itself.
        #[cfg(unix)]
        command.process_group(0);
        let child = command
            .spawn()
            .map_err(|e| DispatchError::backend(format!("spawn worker {worker} ({})", self.program.display()), e))?;
        let slot = &mut run.slots[worker as usize];
        slot.generation += 1;
        slot.pid = child.id();
        slot.alive = true;
        let (kill, killed) = oneshot::channel();
        slot.kill = Some(kill);
        let (orders, orders_rx) = mpsc::unbounded_channel();
        slot.orders = Some(orders);
        // A previous generation's supervisor has ended already: that is why this one starts.
        slot.task =
            Some(tokio::spawn(supervise(worker, slot.generation, child, killed, orders_rx, run.events_tx.clone())));
        self.running.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(worker, pid = slot.pid, generation = slot.generation, "started a worker process");
        Ok(())
    }

    /// A worker died before the run was decided: its chunks go out again and it is
    /// restarted once, or the run fails.
    fn died(&self, run: &mut Run, worker: u32, status: std::io::Result<ExitStatus>) -> cnd_core::Result<()> {
        let why = describe(&status);
        let pid = run.slots[worker as usize].pid();
        if matches!(&status, Ok(s) if s.code().and_then(Exit::from_code) == Some(Exit::Usage)) {
            return Err(DispatchError::WorkerFailed {
                worker,
                reason: format!(
                    "process{pid} rejected its environment (exit code {}; see its error above)",
                    Exit::Usage.code()
                ),
            });
        }
        let chunks = run.schedule.give_back(worker);
        if run.slots[worker as usize].restarts >= 1 {
            return Err(DispatchError::WorkerFailed {
                worker,
                reason: format!("process{pid} {why} after it was restarted once"),
            });
        }
        let chunks = match &chunks[..] {
            [] => "it held no chunk".to_string(),
            c => format!(
                "handing its chunks {} out again",
                c.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
        };
        tracing::warn!("worker {worker}{pid} {why}: {chunks}, and restarting it once");
        run.slots[worker as usize].restarts += 1;
        self.spawn(run, worker)
    }
}

/// How long the coordinator waits for a published nonce to arrive through the remote channel.
const REMOTE_GRACE: Duration = Duration::from_secs(60);

impl Run {
    /// Hands chunks to every live worker until each holds [`WINDOW`], one round at a time (so
    /// that the lowest chunks are spread over the workers).
    fn hand_out(&mut self) {
        for round in 1..=WINDOW {
            for (worker, slot) in self.slots.iter().enumerate() {
                let worker = worker as u32;
                let Some(orders) = slot.orders.as_ref().filter(|_| slot.alive && !slot.stopped) else { continue };
                if self.schedule.searching(worker) >= round {
                    continue;
                }
                let Some((chunk, range)) = self.schedule.hand_out(worker) else { return };
                // A closed channel means the child is gone: its exit gives the chunk back.
                let _ = orders.send(Order::Chunk { chunk, range });
            }
        }
    }

    /// The run's one report, once it is decided.
    fn report(&self, decision: Decision, hashes: u64) -> WorkerReport {
        let (source, outcome) = match decision {
            Decision::Found(best) => (
                Some(best.source),
                ReportOutcome::Found {
                    nonce: best.nonce,
                    digest: cnd_core::hash::digest(&self.spec.problem, best.nonce),
                },
            ),
            Decision::Exhausted => (None, ReportOutcome::Exhausted),
        };
        WorkerReport {
            run_id: self.spec.run_id.clone(),
            worker: 0,
            source,
            range: self.spec.problem.range(),
            hashes,
            elapsed_s: self.started.elapsed().as_secs_f64(),
            outcome,
        }
    }

    /// Is `nonce` a golden nonce of this run?
    fn verifies(&self, nonce: u64) -> bool {
        self.spec.problem.range().contains(nonce) && verify(&self.spec.problem, nonce).is_valid()
    }

    /// The next event; a published nonce that does not arrive in time ends the run.
    async fn next_event(&mut self) -> cnd_core::Result<Event> {
        let awaited = self.schedule.awaited();
        if let Some((_, worker, range)) = awaited
            && (self.remote.is_none() || self.remote_closed)
        {
            return Err(DispatchError::Incomplete(format!(
                "worker {worker}'s report of chunk {range} cannot arrive: the result channel is closed"
            )));
        }
        if self.slots.iter().all(|s| !s.alive) && awaited.is_none() {
            return Err(DispatchError::Incomplete("every worker process has ended".into()));
        }
        let next = match awaited {
            Some((since, ..)) => tokio::time::timeout_at((since + REMOTE_GRACE).into(), self.events.recv()).await,
            None => Ok(self.events.recv().await),
        };
        match next {
            // The run holds a sender: the channel never ends.
            Ok(event) => Ok(event.expect("the run holds an event sender")),
            Err(_) => {
                let (_, worker, range) = awaited.expect("a deadline only while a report is awaited");
                Err(DispatchError::Incomplete(format!(
                    "worker {worker} published the golden nonce of chunk {range}, but it did not arrive through the result channel within {REMOTE_GRACE:?}"
                )))
            }
        }
    }

    /// The next report: the run's one report once it is decided, before it any remote
    /// report whose nonce does not verify. Cancel-safe: the only wait is on the event channel.
    async fn next_report(&mut self, launcher: &Launcher, hashes: &AtomicU64) -> cnd_core::Result<Option<WorkerReport>> {
        loop {
            if let Some(reject) = self.rejects.pop_front() {
                return Ok(Some(reject));
            }
            if self.reported {
                return Ok(None);
            }
            if let Some(decision) = self.schedule.decision() {
                self.reported = true;
                return Ok(Some(self.report(decision, hashes.load(Ordering::Relaxed))));
            }
            self.hand_out();
            let event = self.next_event().await?;
            self.handle(event, launcher, hashes)?;
        }
    }

    fn handle(&mut self, event: Event, launcher: &Launcher, hashes: &AtomicU64) -> cnd_core::Result<()> {
        match event {
            Event::Note { worker, generation, note } => {
                let slot = &self.slots[worker as usize];
                if generation != slot.generation || slot.stopped {
                    return Ok(());
                }
                let (pid, finder) = (slot.pid(), format!("worker {worker}{}", slot.pid()));
                let fault = |why: String| DispatchError::WorkerFailed { worker, reason: format!("process{pid} {why}") };
                match note {
                    Note::Done { chunk, range, hashes: h, nonce, published, .. } => {
                        hashes.fetch_add(h, Ordering::Relaxed);
                        if published && self.remote.is_none() {
                            return Err(fault(format!(
                                "says it published the nonce of chunk {chunk} {range}, but the run has no result channel"
                            )));
                        }
                        if published && nonce.is_some() {
                            return Err(fault(format!(
                                "broke the chunk protocol: chunk {chunk} has a nonce and was published"
                            )));
                        }
                        self.schedule
                            .searched(worker, chunk, range, published)
                            .map_err(|why| fault(format!("broke the chunk protocol: {why}")))?;
                        if let Some(n) = nonce {
                            if !range.contains(n) || !self.verifies(n) {
                                return Err(fault(format!(
                                    "reported nonce {n} for chunk {range}, and it is not a golden nonce of it"
                                )));
                            }
                            self.schedule.offer(n, finder);
                        }
                    }
                    Note::Failed { reason } => return Err(DispatchError::WorkerFailed { worker, reason }),
                }
            }
            Event::Fault { worker, generation, bad } => {
                let slot = &self.slots[worker as usize];
                if generation == slot.generation && !slot.stopped {
                    return Err(DispatchError::WorkerFailed {
                        worker,
                        reason: format!("process{} broke the chunk protocol: {bad}", slot.pid()),
                    });
                }
            }
            Event::Exited { worker, generation, status } => {
                let slot = &mut self.slots[worker as usize];
                if generation != slot.generation {
                    return Ok(());
                }
                slot.alive = false;
                slot.kill = None;
                slot.orders = None;
                launcher.running.fetch_sub(1, Ordering::Relaxed);
                tracing::debug!(worker, status = %describe(&status), "a worker process ended");
                if !slot.stopped {
                    launcher.died(self, worker, status)?;
                }
            }
            Event::Remote(Ok(Some(report))) => match report.outcome {
                ReportOutcome::Found { nonce, .. } if self.verifies(nonce) => {
                    self.schedule.arrived(report.range);
                    let source = report.source.clone().unwrap_or_else(|| format!("worker {}", report.worker));
                    self.schedule.offer(nonce, source);
                }
                // Not a golden nonce of this run: the coordinator rejects it, as every backend's.
                ReportOutcome::Found { .. } => self.rejects.push_back(WorkerReport { worker: 0, ..report }),
                _ => tracing::warn!(
                    worker = report.worker,
                    "ignoring a report without a nonce on the result channel (chunk workers publish only golden nonces)"
                ),
            },
            Event::Remote(Ok(None)) => self.remote_closed = true,
            Event::Remote(Err(e)) => return Err(e),
        }
        Ok(())
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

    use cnd_core::{Mode, Problem, SqsTarget, split};

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
