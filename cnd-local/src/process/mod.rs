//! [`ProcessDispatcher`]: N worker processes on this machine, each under the pod contract.

mod remote;
mod supervise;

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
    ReportOutcome, Results, RunSpec, WorkerReport, WorkerSpec, split,
};
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use self::remote::{CHANNEL_GRACE, RemoteTask, receive_remote};
use self::supervise::{describe, supervise};

/// Variables the CLI reads besides the worker contract: a worker must not inherit them either.
const CLI_VARS: &[&str] = &["CND_BLOCK", "CND_BITCOIN_HEADER", "CND_BACKEND", "CND_WORKERS"];

/// Runs a search as N `cnd worker` processes of this machine: a faithful local stand-in for
/// N pods. Each child gets the worker env contract of its partition, written by
/// [`WorkerSpec::to_env`] as for a pod (and none of the contract's variables from the
/// coordinator's own environment), runs in its own process
/// group (Ctrl-C is the coordinator's to handle) and is killed if the coordinator's handle
/// drops; with `CND_EXIT_WITH_PARENT=1` it also stops by itself when the coordinator's end
/// of its stdin closes, so that not even a killed coordinator leaves it behind.
///
/// Reports come from each child's stdout (one JSON line), or from a remote channel (SQS)
/// opened when the run starts; a child's stdout line then only tells that it has reported,
/// unless it says the worker failed. A child that exits without a report (crash, SIGKILL) has
/// its partition restarted once; a second death fails the run, naming the worker.
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
    partitions: Vec<NonceRange>,
    slots: Vec<Slot>,
    events: mpsc::UnboundedReceiver<Event>,
    events_tx: mpsc::UnboundedSender<Event>,
    /// Where the workers publish (`Results::Stdout` without a remote channel).
    results: Results,
    remote: Option<RemoteTask>,
    /// Each worker's reports that arrived through the remote channel (anyone may publish
    /// there: a worker is accounted for when the report it printed has arrived).
    remote_seen: Vec<Vec<WorkerReport>>,
    /// The remote channel has nothing more to give.
    remote_closed: bool,
}

#[derive(Default)]
struct Slot {
    pid: Option<u32>,
    generation: u32,
    restarts: u32,
    /// Dropping it kills the child.
    kill: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    alive: bool,
    /// The report the current process printed on its stdout.
    reported: Option<WorkerReport>,
    stopped: bool,
}

enum Event {
    Report { worker: u32, generation: u32, report: Box<WorkerReport> },
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

    /// Threads per worker (`CND_THREADS`) [default: [`default_threads`](crate::default_threads),
    /// the CPUs this process may use].
    pub fn threads(mut self, threads: u32) -> Self {
        self.launcher.threads = Some(threads.max(1));
        self
    }

    /// Adds a variable to every worker's environment (after the contract's: it wins).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.launcher.env.push((key.into(), value.into()));
        self
    }

    /// Receives the reports through a remote channel that `open` opens when the run starts
    /// (and shutdown closes), instead of the workers' stdout; the workers are told its
    /// [`RemoteChannel::results`].
    pub fn remote_channel(mut self, open: OpenChannel) -> Self {
        self.open_channel = Some(open);
        self
    }

    /// The most worker processes a run starts on this machine: one per CPU, and at least 64.
    ///
    /// Each process hashes on every CPU (as a pod uses all of its own), so more processes
    /// than CPUs only share the same cores; 64 lets a small machine stand in for a run of
    /// 64 pods. 4 × 10^9 would ask for a table of that many workers (and as many processes).
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
    /// The worker env contract of one worker of the run.
    fn contract(&self, spec: &RunSpec, results: &Results, worker: u32) -> WorkerSpec {
        WorkerSpec {
            index: Some(worker),
            // Every worker may use every CPU, as a pod uses all of its own: in `lowest` mode
            // the workers above the answer end early, and the one that must finish then has
            // them all.
            threads: Some(self.threads.unwrap_or_else(crate::default_threads)),
            kernel: self.kernel,
            results: results.clone(),
            exit_with_parent: true,
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
        slot.reported = None;
        let (kill, killed) = oneshot::channel();
        slot.kill = Some(kill);
        // A previous generation's supervisor has ended already: that is why this one starts.
        slot.task = Some(tokio::spawn(supervise(worker, slot.generation, child, killed, run.events_tx.clone())));
        self.running.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(worker, pid = slot.pid, generation = slot.generation, "started a worker process");
        Ok(())
    }

    /// A worker died without a report: restart its partition once, or fail the run.
    fn died(&self, run: &mut Run, worker: u32, status: std::io::Result<ExitStatus>) -> cnd_core::Result<()> {
        let why = describe(&status);
        let slot = &run.slots[worker as usize];
        let range = run.partitions[worker as usize];
        let pid = slot.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
        if matches!(&status, Ok(s) if s.code().and_then(Exit::from_code) == Some(Exit::Usage)) {
            return Err(DispatchError::WorkerFailed {
                worker,
                reason: format!(
                    "process{pid} rejected its environment (exit code {}; see its error above)",
                    Exit::Usage.code()
                ),
            });
        }
        if slot.restarts >= 1 {
            return Err(DispatchError::WorkerFailed {
                worker,
                reason: format!("process{pid} {why} without a report, after its range {range} was restarted once"),
            });
        }
        tracing::warn!("worker {worker}{pid} {why} without a report: restarting its range {range} once");
        run.slots[worker as usize].restarts += 1;
        self.spawn(run, worker)
    }
}

/// How long the coordinator waits for remote reports once every worker has ended.
const REMOTE_GRACE: Duration = Duration::from_secs(60);

impl Run {
    /// True once nothing more is awaited from worker `w` through the remote channel: it was
    /// stopped, or it failed (said on its stdout), or the report it printed has arrived.
    fn accounted_for(&self, w: u32) -> bool {
        let slot = &self.slots[w as usize];
        slot.stopped
            || match &slot.reported {
                Some(r) if matches!(r.outcome, ReportOutcome::Failed { .. }) => true,
                Some(r) => self.remote_seen[w as usize].contains(r),
                None => false,
            }
    }

    /// The next report: from a child's stdout or the remote channel. Restarts a worker that
    /// died without a report. Cancel-safe: the only wait is on the event channel.
    async fn next_report(&mut self, launcher: &Launcher, hashes: &AtomicU64) -> cnd_core::Result<Option<WorkerReport>> {
        loop {
            let all_ended = self.slots.iter().all(|s| !s.alive);
            let missing: Vec<u32> = if self.remote.is_none() || self.remote_closed {
                Vec::new()
            } else {
                (0..self.slots.len() as u32).filter(|w| !self.accounted_for(*w)).collect()
            };
            let event = if all_ended && missing.is_empty() {
                return Ok(None);
            } else if all_ended {
                // Every worker has reported on its stdout; their remote reports are in flight.
                match tokio::time::timeout(REMOTE_GRACE, self.events.recv()).await {
                    Ok(e) => e,
                    Err(_) => {
                        return Err(DispatchError::Incomplete(format!(
                            "workers {missing:?} ended, but their reports did not arrive through the result channel within {REMOTE_GRACE:?}"
                        )));
                    }
                }
            } else {
                self.events.recv().await
            };
            let Some(event) = event else { return Ok(None) };
            match event {
                Event::Report { worker, generation, report } => {
                    let slot = &mut self.slots[worker as usize];
                    if generation == slot.generation {
                        slot.reported = Some((*report).clone());
                    }
                    if self.remote.is_some() && !matches!(report.outcome, ReportOutcome::Failed { .. }) {
                        // The same report travels through the remote channel.
                        continue;
                    }
                    hashes.fetch_add(report.hashes, Ordering::Relaxed);
                    return Ok(Some(*report));
                }
                Event::Exited { worker, generation, status } => {
                    let slot = &mut self.slots[worker as usize];
                    if generation != slot.generation {
                        continue;
                    }
                    slot.alive = false;
                    slot.kill = None;
                    launcher.running.fetch_sub(1, Ordering::Relaxed);
                    tracing::debug!(worker, status = %describe(&status), "a worker process ended");
                    if slot.stopped || slot.reported.is_some() {
                        continue;
                    }
                    launcher.died(self, worker, status)?;
                }
                Event::Remote(Ok(Some(report))) => {
                    if let Some(seen) = self.remote_seen.get_mut(report.worker as usize) {
                        seen.push(report.clone());
                    }
                    hashes.fetch_add(report.hashes, Ordering::Relaxed);
                    return Ok(Some(report));
                }
                Event::Remote(Ok(None)) => {
                    // The channel has nothing more (closed, or the run's deadline passed).
                    self.remote_closed = true;
                }
                Event::Remote(Err(e)) => return Err(e),
            }
        }
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
        let partitions = split(spec.problem.range(), spec.workers);
        let (events_tx, events) = mpsc::unbounded_channel();
        let mut run = Run {
            spec: spec.clone(),
            partitions: partitions.clone(),
            slots: (0..spec.workers).map(|_| Slot::default()).collect(),
            events,
            events_tx,
            results: Results::Stdout,
            remote: None,
            remote_seen: vec![Vec::new(); spec.workers as usize],
            remote_closed: false,
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
        let mut result = Ok(partitions);
        for worker in 0..spec.workers {
            if let Err(e) = self.launcher.spawn(&mut run, worker) {
                result = Err(e);
                break;
            }
        }
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
        if let Some(run) = self.run.as_mut() {
            for &w in workers {
                if let Some(slot) = run.slots.get_mut(w as usize) {
                    slot.stopped = true;
                    slot.kill = None; // kills the child
                }
            }
        }
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

    use cnd_core::{Mode, Problem, SqsTarget};

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
    fn each_worker_gets_the_contract_of_its_partition() {
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
    }
}
