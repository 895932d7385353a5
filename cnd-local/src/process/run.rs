//! One run of the process backend: what starts the worker processes ([`Launcher`]) and what
//! one run holds ([`Run`]): its chunk schedule, a slot per worker, the events of their pipes.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cnd_core::{DispatchError, Exit, Kernel, ReportOutcome, Results, RunSpec, WorkerReport, WorkerSpec, verify};
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::Event;
use super::protocol::{Note, Order};
use super::remote::RemoteTask;
use super::schedule::{Decision, Schedule};
use super::supervise::{describe, supervise};

/// Variables the CLI reads besides the worker contract: a worker must not inherit them either.
pub(super) const CLI_VARS: &[&str] = &["CND_BLOCK", "CND_BITCOIN_HEADER", "CND_BACKEND", "CND_WORKERS"];

/// Chunks a worker holds at once: the one it searches and the next, so that it never waits
/// for the coordinator between two.
pub(super) const WINDOW: usize = 2;

/// Nonces per chunk and hashing thread of a worker: about 60–80 ms at today's kernels' rates
/// per thread, so that a chunk's round trip over the pipes is lost in it, and `lowest` mode,
/// which waits for every chunk below its answer, waits little.
pub(super) const CHUNK_PER_THREAD: u64 = 1 << 21;

/// What starts a worker process.
#[derive(Debug)]
pub(super) struct Launcher {
    pub(super) program: PathBuf,
    pub(super) args: Vec<OsString>,
    pub(super) kernel: Option<Kernel>,
    pub(super) threads: Option<u32>,
    pub(super) chunk: Option<u64>,
    pub(super) env: Vec<(String, String)>,
    pub(super) running: Arc<AtomicU32>,
}

pub(super) struct Run {
    pub(super) spec: RunSpec,
    pub(super) started: Instant,
    pub(super) schedule: Schedule,
    pub(super) slots: Vec<Slot>,
    pub(super) events: mpsc::UnboundedReceiver<Event>,
    pub(super) events_tx: mpsc::UnboundedSender<Event>,
    /// Where the workers publish (`Results::Stdout` without a remote channel).
    pub(super) results: Results,
    pub(super) remote: Option<RemoteTask>,
    /// The remote channel has nothing more to give.
    pub(super) remote_closed: bool,
    /// Reports from the remote channel whose nonce does not verify: the coordinator's to reject.
    pub(super) rejects: VecDeque<WorkerReport>,
    /// The run's one report has been given.
    pub(super) reported: bool,
}

#[derive(Default)]
pub(super) struct Slot {
    pub(super) pid: Option<u32>,
    pub(super) generation: u32,
    pub(super) restarts: u32,
    /// Dropping it kills the child.
    pub(super) kill: Option<oneshot::Sender<()>>,
    /// Orders for the child's stdin.
    pub(super) orders: Option<mpsc::UnboundedSender<Order>>,
    pub(super) task: Option<JoinHandle<()>>,
    pub(super) alive: bool,
    pub(super) stopped: bool,
}

impl Slot {
    /// ` (pid N)`, for messages.
    pub(super) fn pid(&self) -> String {
        self.pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    }
}

impl Launcher {
    /// Hashing threads of each worker of `spec`.
    pub(super) fn threads_per_worker(&self, spec: &RunSpec) -> u32 {
        // The workers share this machine's CPUs: every one of them is busy to the end.
        self.threads.unwrap_or_else(|| crate::default_threads().div_ceil(spec.workers.max(1)).max(1))
    }

    /// Nonces per chunk of `spec`.
    pub(super) fn chunk_size(&self, spec: &RunSpec) -> u64 {
        self.chunk.unwrap_or_else(|| {
            let per_worker = spec.problem.range().len() / (u64::from(spec.workers.max(1)) * 16);
            (CHUNK_PER_THREAD * u64::from(self.threads_per_worker(spec))).min(per_worker).max(1)
        })
    }

    /// The worker env contract of one worker of the run.
    pub(super) fn contract(&self, spec: &RunSpec, results: &Results, worker: u32) -> WorkerSpec {
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
    pub(super) fn spawn(&self, run: &mut Run, worker: u32) -> cnd_core::Result<()> {
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
    pub(super) fn died(&self, run: &mut Run, worker: u32, status: std::io::Result<ExitStatus>) -> cnd_core::Result<()> {
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
pub(super) const REMOTE_GRACE: Duration = Duration::from_secs(60);

impl Run {
    /// Hands chunks to every live worker until each holds [`WINDOW`], one round at a time (so
    /// that the lowest chunks are spread over the workers).
    pub(super) fn hand_out(&mut self) {
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
    pub(super) fn report(&self, decision: Decision, hashes: u64) -> WorkerReport {
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
    pub(super) fn verifies(&self, nonce: u64) -> bool {
        self.spec.problem.range().contains(nonce) && verify(&self.spec.problem, nonce).is_valid()
    }

    /// The next event; a published nonce that does not arrive in time ends the run.
    pub(super) async fn next_event(&mut self) -> cnd_core::Result<Event> {
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
    pub(super) async fn next_report(
        &mut self,
        launcher: &Launcher,
        hashes: &AtomicU64,
    ) -> cnd_core::Result<Option<WorkerReport>> {
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

    pub(super) fn handle(&mut self, event: Event, launcher: &Launcher, hashes: &AtomicU64) -> cnd_core::Result<()> {
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
