//! [`ProcessDispatcher`]: N worker processes on this machine, each under the pod contract.

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cnd_core::{
    DispatchError, Dispatcher, Kernel, NonceRange, Progress, ProgressProbe, ReportOutcome, ResultChannel, RunSpec,
    WorkerReport, split,
};
use futures::future::BoxFuture;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// A run's remote result channel, opened by the coordinator, and the environment its workers
/// need to publish to it (e.g. `CND_RESULTS=sqs`, `CND_SQS_QUEUE_URL=...`).
pub struct RemoteChannel {
    /// The coordinator's end: receives the run's reports; closed (and its queue removed) by
    /// [`Dispatcher::shutdown`].
    pub channel: Box<dyn ResultChannel>,
    /// Variables added to every worker's environment.
    pub worker_env: Vec<(String, String)>,
}

impl fmt::Debug for RemoteChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteChannel").field("worker_env", &self.worker_env).finish_non_exhaustive()
    }
}

/// Opens a run's remote result channel when the run starts.
pub type OpenChannel = Box<dyn FnOnce(RunSpec) -> BoxFuture<'static, cnd_core::Result<RemoteChannel>> + Send>;

/// Variables of the worker contract (and aliases) that a worker must not inherit from the
/// coordinator's environment: the dispatcher sets the ones it means.
const CONTRACT_VARS: &[&str] = &[
    "CND_RUN_ID",
    "CND_FORMAT",
    "CND_BLOCK",
    "CND_BLOCK_HEX",
    "CND_BITCOIN_HEADER",
    "CND_DIFFICULTY",
    "CND_BIT_ORDER",
    "CND_START",
    "CND_END",
    "CND_WORKER_INDEX",
    "CND_WORKER_COUNT",
    "CND_THREADS",
    "CND_MODE",
    "CND_RESULTS",
    "CND_TERMINATION_LOG",
    "CND_SQS_QUEUE_URL",
    "CND_SQS_ENDPOINT_URL",
    "CND_KERNEL",
    "CND_BACKEND",
    "CND_WORKERS",
    "CND_EXIT_WITH_PARENT",
    "D",
    "WORKER_INDEX",
    "WORKER_MAX",
    "PROCESS_ID",
    "POD_NAME",
    "JOB_COMPLETION_INDEX",
];

/// How long a worker's remaining stdout is read after it exits.
const DRAIN: Duration = Duration::from_secs(1);
/// How long shutdown waits for the remote channel to finish opening or close.
const CHANNEL_GRACE: Duration = Duration::from_secs(30);

/// Runs a search as N `cnd worker` processes of this machine: a faithful local stand-in for
/// N pods. Each child gets the worker env contract of its partition, runs in its own process
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
    worker_env: Vec<(String, String)>,
    remote: Option<RemoteTask>,
    /// Each worker's reports that arrived through the remote channel (anyone may publish
    /// there: a worker is accounted for when the report it printed has arrived).
    remote_seen: Vec<Vec<WorkerReport>>,
    /// The remote channel has nothing more to give.
    remote_closed: bool,
}

struct RemoteTask {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Box<dyn ResultChannel>>,
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

    /// Threads per worker (`CND_THREADS`) [default: every CPU this process may use].
    pub fn threads(mut self, threads: u32) -> Self {
        self.launcher.threads = Some(threads.max(1));
        self
    }

    /// Adds a variable to every worker's environment.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.launcher.env.push((key.into(), value.into()));
        self
    }

    /// Receives the reports through a remote channel that `open` opens when the run starts
    /// (and shutdown closes), instead of the workers' stdout.
    pub fn remote_channel(mut self, open: OpenChannel) -> Self {
        self.open_channel = Some(open);
        self
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
    fn contract(&self, run: &Run, worker: u32) -> Vec<(String, String)> {
        let spec = &run.spec;
        let problem = &spec.problem;
        let range = problem.range();
        // Every worker may use every CPU, as a pod uses all of its own: in `lowest` mode the
        // workers above the answer end early, and the one that must finish then has them all.
        let threads = self.threads.unwrap_or_else(crate::available_threads);
        let mut env = vec![
            ("CND_RUN_ID".to_string(), spec.run_id.clone()),
            ("CND_FORMAT".into(), problem.format().as_str().into()),
            ("CND_BLOCK_HEX".into(), hex_encode(problem.block())),
            ("CND_BIT_ORDER".into(), problem.bit_order().as_str().into()),
            ("CND_START".into(), range.start.to_string()),
            ("CND_END".into(), range.end.to_string()),
            ("CND_WORKER_INDEX".into(), worker.to_string()),
            ("CND_WORKER_COUNT".into(), spec.workers.to_string()),
            ("CND_THREADS".into(), threads.to_string()),
            ("CND_MODE".into(), spec.mode.as_str().into()),
            ("CND_RESULTS".into(), "stdout".into()),
            ("CND_EXIT_WITH_PARENT".into(), "1".into()),
        ];
        if let Some(d) = problem.difficulty() {
            env.push(("CND_DIFFICULTY".into(), d.to_string()));
        }
        if let Some(k) = self.kernel {
            env.push(("CND_KERNEL".into(), k.name().into()));
        }
        env.extend(self.env.iter().cloned());
        env.extend(run.worker_env.iter().cloned());
        env
    }

    /// Starts (or restarts) worker `worker` of the run.
    fn spawn(&self, run: &mut Run, worker: u32) -> cnd_core::Result<()> {
        let env = self.contract(run, worker);
        let mut command = Command::new(&self.program);
        command.args(&self.args);
        for var in CONTRACT_VARS {
            command.env_remove(var);
        }
        command.envs(env).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).kill_on_drop(true);
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
        if matches!(&status, Ok(s) if s.code() == Some(2)) {
            return Err(DispatchError::WorkerFailed {
                worker,
                reason: format!("process{pid} rejected its environment (exit code 2; see its error above)"),
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
        if spec.workers == 0 {
            return Err(DispatchError::Invalid("workers: 0 is not allowed (allowed: 1 or more)".into()));
        }
        let partitions = split(spec.problem.range(), spec.workers);
        let (events_tx, events) = mpsc::unbounded_channel();
        let mut run = Run {
            spec: spec.clone(),
            partitions: partitions.clone(),
            slots: (0..spec.workers).map(|_| Slot::default()).collect(),
            events,
            events_tx,
            worker_env: Vec::new(),
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
            let RemoteChannel { channel, worker_env } = opened??;
            run.worker_env = worker_env;
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
            if let Some(remote) = run.remote.take() {
                let _ = remote.stop.send(());
                match tokio::time::timeout(CHANNEL_GRACE, remote.task).await {
                    Ok(Ok(mut channel)) => {
                        if let Err(e) = channel.close().await {
                            first_error.get_or_insert(e);
                        }
                    }
                    Ok(Err(e)) => {
                        first_error.get_or_insert(DispatchError::backend("stop the result channel", e));
                    }
                    Err(_) => {
                        first_error.get_or_insert(DispatchError::Incomplete("the result channel did not stop".into()));
                    }
                }
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

/// Receives remote reports on a task of their own (a long poll is never cut short by a
/// worker's exit), until stopped; gives the channel back for closing.
fn receive_remote(
    mut channel: Box<dyn ResultChannel>,
    deadline: Option<Instant>,
    events: mpsc::UnboundedSender<Event>,
) -> RemoteTask {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                _ = &mut stopped => break,
                r = channel.receive(deadline) => r,
            };
            let end = !matches!(next, Ok(Some(_)));
            if events.send(Event::Remote(next)).is_err() || end {
                break;
            }
        }
        channel
    });
    RemoteTask { stop, task }
}

/// Reads a child's report lines and waits for it; kills it when `kill` fires or is dropped.
async fn supervise(
    worker: u32,
    generation: u32,
    mut child: Child,
    mut kill: oneshot::Receiver<()>,
    events: mpsc::UnboundedSender<Event>,
) {
    // Held open for the child's life: with CND_EXIT_WITH_PARENT it stops when this closes.
    let _stdin = child.stdin.take();
    let mut lines = child.stdout.take().map(|s| BufReader::new(s).lines());
    let forward = |line: &str| {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        match WorkerReport::from_json(line) {
            Ok(report) => {
                let _ = events.send(Event::Report { worker, generation, report: Box::new(report) });
            }
            Err(_) => tracing::debug!(worker, "worker output that is not a report: {line}"),
        }
    };
    let mut killed = false;
    let status = loop {
        tokio::select! {
            _ = &mut kill, if !killed => {
                killed = true;
                let _ = child.start_kill();
            }
            line = next_line(&mut lines) => match line {
                Some(l) => forward(&l),
                None => lines = None,
            },
            status = child.wait() => break status,
        }
    };
    // The report line may still be in the pipe when the exit is seen.
    if lines.is_some() {
        let _ = tokio::time::timeout(DRAIN, async {
            while let Some(l) = next_line(&mut lines).await {
                forward(&l);
            }
        })
        .await;
    }
    let _ = events.send(Event::Exited { worker, generation, status });
}

/// The next line, or `None` at the end (pending forever once the stream is gone).
async fn next_line(lines: &mut Option<tokio::io::Lines<BufReader<tokio::process::ChildStdout>>>) -> Option<String> {
    match lines {
        Some(l) => l.next_line().await.ok().flatten(),
        None => std::future::pending().await,
    }
}

fn describe(status: &std::io::Result<ExitStatus>) -> String {
    match status {
        Err(e) => format!("could not be waited for ({e})"),
        Ok(s) => {
            #[cfg(unix)]
            {
                use std::os::unix::process::ExitStatusExt as _;
                if let Some(sig) = s.signal() {
                    return format!("was killed by signal {sig}{}", signal_name(sig));
                }
            }
            match s.code() {
                Some(c) => format!("exited with code {c}"),
                None => format!("ended ({s})"),
            }
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        2 => " (SIGINT)",
        6 => " (SIGABRT)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        15 => " (SIGTERM)",
        _ => "",
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_pairs() {
        assert_eq!(hex_encode(b"COMSM"), "434f4d534d");
        assert_eq!(hex_encode(&[0, 255]), "00ff");
    }

    #[cfg(unix)]
    #[test]
    fn deaths_are_described_with_the_signal() {
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(describe(&Ok(ExitStatus::from_raw(9))), "was killed by signal 9 (SIGKILL)");
        assert_eq!(describe(&Ok(ExitStatus::from_raw(1 << 8))), "exited with code 1");
    }
}
