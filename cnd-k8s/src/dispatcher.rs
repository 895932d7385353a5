//! `K8sDispatcher`: one Indexed Job per run, watched (not polled), read through its pods'
//! termination messages, and deleted on every exit path.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cnd_core::{
    DispatchError, Dispatcher, NonceRange, Progress, ProgressProbe, ReportOutcome, ResultChannel, RunSpec,
    WorkerReport, split,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::job::{
    CONTAINER, EXIT_BAD_INPUT, EXIT_EXHAUSTED, JobSettings, KubeVersion, job_name, render_job, run_selector,
};

const JOBS: &str = "jobs.batch";
const PODS: &str = "pods";
/// The annotation (and, from 1.28, label) that carries a pod's completion index.
const INDEX_KEY: &str = "batch.kubernetes.io/job-completion-index";
/// Exit code of a worker stopped by SIGTERM/SIGINT: not a verdict on its range.
const EXIT_CANCELLED: i32 = 4;

/// Settings of a [`K8sDispatcher`] beyond the Job itself.
#[derive(Debug, Clone)]
pub struct DispatcherSettings {
    /// The pods' settings.
    pub job: JobSettings,
    /// The namespace of the run (default: the client's).
    pub namespace: Option<String>,
    /// How long `shutdown` waits for the run's pods to be gone.
    pub cleanup_timeout: Duration,
    /// After the Job fails on its deadline, how long to wait for the coordinator's own timer
    /// (which started first, so it normally fires first) before reporting an error.
    pub deadline_grace: Duration,
    /// The planned hash rate of the whole run, for the progress line.
    pub planned_rate: Option<f64>,
}

impl Default for DispatcherSettings {
    fn default() -> Self {
        Self {
            job: JobSettings::default(),
            namespace: None,
            cleanup_timeout: Duration::from_secs(60),
            deadline_grace: Duration::from_secs(10),
            planned_rate: None,
        }
    }
}

/// What the progress line shows: pods by phase and why some are pending.
#[derive(Debug, Default)]
struct Live {
    pods: BTreeMap<String, PodView>,
    hashes: u64,
    planned_rate: Option<f64>,
    job: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct PodView {
    phase: String,
    /// Why it is not running yet: `Unschedulable`, `ImagePullBackOff`, ...
    waiting: Option<String>,
}

impl Live {
    fn detail(&self) -> String {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for p in self.pods.values() {
            *counts.entry(p.phase.as_str()).or_default() += 1;
            if let Some(w) = &p.waiting {
                *reasons.entry(w.as_str()).or_default() += 1;
            }
        }
        let n = |phase: &str| counts.get(phase).copied().unwrap_or(0);
        let mut s = format!("pods: {} running, {} pending", n("Running"), n("Pending"));
        if !reasons.is_empty() {
            let why: Vec<String> = reasons
                .iter()
                .map(|(r, c)| {
                    if *r == "Unschedulable" {
                        format!("{c} Unschedulable: waiting for the autoscaler")
                    } else {
                        format!("{c} {r}")
                    }
                })
                .collect();
            s.push_str(&format!(" ({})", why.join(", ")));
        }
        s.push_str(&format!(", {} succeeded, {} failed", n("Succeeded"), n("Failed")));
        if let Some(r) = self.planned_rate {
            s.push_str(&format!(" · planned {}", rate(r)));
        }
        if let Some(j) = &self.job {
            s.push_str(&format!(" · job {j}"));
        }
        s
    }
}

fn rate(per_second: f64) -> String {
    let units = [(1e12, "TH/s"), (1e9, "GH/s"), (1e6, "MH/s"), (1e3, "kH/s")];
    for (scale, unit) in units {
        if per_second >= scale {
            return format!("{:.1} {unit}", per_second / scale);
        }
    }
    format!("{per_second:.0} H/s")
}

/// How the Job ended, as its conditions say.
#[derive(Debug, Clone, PartialEq)]
enum JobEnd {
    Complete,
    Deadline,
    Failed { reason: String, message: String },
    Deleted,
}

// Each event is moved once from the stream into the match: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Ev {
    Pod(Result<Event<Pod>, watcher::Error>),
    Job(Result<Event<Job>, watcher::Error>),
    Report(Result<Option<WorkerReport>, DispatchError>),
}

/// A run in progress.
struct Run {
    run_id: String,
    job_name: String,
    partitions: Vec<NonceRange>,
    started: Instant,
    timeout: Option<Duration>,
    events: BoxStream<'static, Ev>,
    queue: VecDeque<WorkerReport>,
    /// Pods whose termination was read (by uid).
    read: HashSet<String>,
    /// Crashes per index, and the last reason.
    crashes: HashMap<u32, (i32, String)>,
    end: Option<JobEnd>,
    flushed: bool,
}

/// Reports from a [`ResultChannel`] (e.g. SQS), received on a task of their own so that a
/// long poll is never cut short by a pod event.
struct ChannelTask {
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<Box<dyn ResultChannel>>,
}

/// What reading events needs (kept apart from the run so that both can be borrowed).
struct Ctx {
    client: Client,
    namespace: String,
    settings: DispatcherSettings,
    live: Arc<Mutex<Live>>,
    /// Reports come in termination messages (not through a result channel).
    reports_from_pods: bool,
}

impl Ctx {
    fn jobs(&self) -> Api<Job> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn set_job_state(&self, state: impl Into<String>) {
        self.live.lock().expect("progress lock").job = Some(state.into());
    }

    /// Reads a pod: progress, and, once its container has terminated, its verdict.
    fn on_pod(&self, run: &mut Run, pod: &Pod) -> Result<(), DispatchError> {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.clone()).unwrap_or_else(|| "Pending".into());
        let unschedulable =
            status.and_then(|s| s.conditions.as_ref()).into_iter().flatten().any(|c| {
                c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable")
            });
        let container = status
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.name == CONTAINER).or(cs.first()));
        let waiting = container.and_then(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone());
        let view = PodView {
            phase: phase.clone(),
            waiting: if unschedulable {
                Some("Unschedulable".into())
            } else {
                waiting.clone().filter(|_| phase == "Pending")
            },
        };
        self.live.lock().expect("progress lock").pods.insert(name.clone(), view);

        // Images that can never start: say so now rather than wait for the deadline.
        if let Some(w) = waiting.as_deref().filter(|w| ["ErrImageNeverPull", "InvalidImageName"].contains(w)) {
            let message =
                container.and_then(|c| c.state.as_ref()?.waiting.as_ref()?.message.clone()).unwrap_or_default();
            return Err(DispatchError::backend(
                format!("pod {name} cannot start its worker image ({w})"),
                crate::error::ServerMessage(message),
            ));
        }

        let Some(terminated) = container.and_then(|c| c.state.as_ref()?.terminated.as_ref()) else {
            return Ok(());
        };
        let uid = pod.metadata.uid.clone().unwrap_or_else(|| name.clone());
        if !run.read.insert(uid) {
            return Ok(());
        }
        let index = pod_index(pod);
        let message = terminated.message.as_deref().unwrap_or("").trim();
        let mut parsed = if message.is_empty() { None } else { WorkerReport::from_json(message).ok() };
        if let (Some(r), Some(i)) = (parsed.as_mut(), index)
            && r.worker != i
        {
            // The pod's completion index is what the Job controller gave it: it wins.
            tracing::warn!(pod = %name, reported = r.worker, index = i, "a report names another worker index");
            r.worker = i;
        }
        if let Some(r) = &parsed {
            self.live.lock().expect("progress lock").hashes += r.hashes;
        }
        let code = terminated.exit_code;
        tracing::debug!(pod = %name, ?index, code, "worker terminated");
        if !self.reports_from_pods && (code == 0 || code == EXIT_EXHAUSTED) {
            // Its report travels through the result channel.
            return Ok(());
        }
        match (code, parsed) {
            (0, Some(mut r)) if matches!(r.outcome, ReportOutcome::Found { .. }) => {
                r.source.get_or_insert(name.clone());
                run.queue.push_back(r);
            }
            (EXIT_EXHAUSTED, report) => {
                let Some(worker) = index.or(report.as_ref().map(|r| r.worker)) else {
                    tracing::warn!(pod = %name, "an exhausted pod without a completion index: ignored");
                    return Ok(());
                };
                let mut r = report.unwrap_or_else(|| {
                    let range = run.partitions.get(worker as usize).copied().unwrap_or_default();
                    WorkerReport {
                        run_id: run.run_id.clone(),
                        worker,
                        source: None,
                        range,
                        hashes: range.len(),
                        elapsed_s: 0.0,
                        outcome: ReportOutcome::Exhausted,
                    }
                });
                r.source.get_or_insert(name.clone());
                if matches!(r.outcome, ReportOutcome::Exhausted) {
                    run.queue.push_back(r);
                } else {
                    tracing::warn!(pod = %name, "exit 3 with a report that is not 'exhausted': ignored");
                }
            }
            (EXIT_BAD_INPUT, report) => {
                let why = match report.map(|r| r.outcome) {
                    Some(ReportOutcome::Failed { reason }) => reason,
                    _ if !message.is_empty() => message.to_string(),
                    _ => "no message".into(),
                };
                return Err(DispatchError::Invalid(format!(
                    "the worker in pod {name} rejected its input (exit 2): {why}"
                )));
            }
            (EXIT_CANCELLED, _) => tracing::debug!(pod = %name, "worker stopped by a signal"),
            (0, _) => tracing::warn!(pod = %name, "worker exited 0 without a golden-nonce report: ignored"),
            (code, _) => {
                let reason = format!(
                    "pod {name} exited {code}{}",
                    terminated.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
                );
                if let Some(i) = index {
                    let entry = run.crashes.entry(i).or_insert((0, String::new()));
                    entry.0 += 1;
                    entry.1 = reason.clone();
                    let retry = entry.0 <= self.settings.job.backoff_limit_per_index;
                    tracing::warn!(
                        "{reason}; {}",
                        if retry { "the Job retries that index" } else { "that index failed for good" }
                    );
                }
            }
        }
        Ok(())
    }

    fn on_job(&self, run: &mut Run, job: &Job) {
        let Some(status) = job.status.as_ref() else { return };
        let conditions = status.conditions.as_deref().unwrap_or_default();
        let active = |t: &str| conditions.iter().find(|c| c.type_ == t && c.status == "True");
        if active("Complete").is_some() {
            self.set_job_state("complete");
            run.end = Some(JobEnd::Complete);
        } else if let Some(c) = active("Failed") {
            let reason = c.reason.clone().unwrap_or_default();
            self.set_job_state(format!("failed ({reason})"));
            run.end = Some(if reason == "DeadlineExceeded" {
                JobEnd::Deadline
            } else {
                JobEnd::Failed { reason, message: c.message.clone().unwrap_or_default() }
            });
        } else if active("SuccessCriteriaMet").is_some() {
            self.set_job_state("success criteria met");
        }
    }

    /// After the Job ended: reads every pod once more (the pod watch may lag behind the Job's).
    async fn flush(&self, run: &mut Run) -> Result<(), DispatchError> {
        let lp = ListParams::default().labels(&run_selector(&run.run_id));
        let pods = self.pods().list(&lp).await.map_err(|e| Error::api("list", PODS, &self.namespace, e))?;
        for pod in &pods.items {
            self.on_pod(run, pod)?;
        }
        Ok(())
    }
}

/// Runs a search as an Indexed Job: see the crate docs.
pub struct K8sDispatcher {
    ctx: Ctx,
    channel: Option<Box<dyn ResultChannel>>,
    channel_task: Option<ChannelTask>,
    run: Option<Run>,
    /// The Job may exist: a create was sent and not refused.
    maybe_created: Option<String>,
    version: Option<KubeVersion>,
}

impl std::fmt::Debug for K8sDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("K8sDispatcher")
            .field("namespace", &self.ctx.namespace)
            .field("job", &self.maybe_created)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl K8sDispatcher {
    /// A dispatcher on this client; pods report through their termination messages unless
    /// [`K8sDispatcher::with_result_channel`] is used.
    pub fn new(client: Client, settings: DispatcherSettings) -> Self {
        let namespace = settings.namespace.clone().unwrap_or_else(|| client.default_namespace().to_string());
        let live = Live { planned_rate: settings.planned_rate, ..Default::default() };
        Self {
            ctx: Ctx { client, namespace, settings, live: Arc::new(Mutex::new(live)), reports_from_pods: true },
            channel: None,
            channel_task: None,
            run: None,
            maybe_created: None,
            version: None,
        }
    }

    /// Receives the workers' reports from this channel (e.g. SQS, with
    /// `Results::Sqs` in the Job settings) instead of termination messages. Pods are still
    /// watched, for progress, failures and the Job's end. The channel is closed on shutdown.
    pub fn with_result_channel(mut self, channel: Box<dyn ResultChannel>) -> Self {
        self.channel = Some(channel);
        self.ctx.reports_from_pods = false;
        self
    }

    /// The namespace of the run.
    pub fn namespace(&self) -> &str {
        &self.ctx.namespace
    }

    /// The API server's version, once `start` has read it.
    pub fn server_version(&self) -> Option<KubeVersion> {
        self.version
    }

    /// Reads `/version`: which Job features the server runs.
    async fn read_version(&mut self) -> Result<KubeVersion> {
        let info = self
            .ctx
            .client
            .apiserver_version()
            .await
            .map_err(|e| Error::api("get", "/version", &self.ctx.namespace, e))?;
        let v = KubeVersion::from_info(&info).unwrap_or(KubeVersion::LATEST);
        if !v.supported() {
            return Err(Error::TooOld { found: info.git_version });
        }
        self.version = Some(v);
        Ok(v)
    }

    fn stream_for(&mut self, run_id: &str, name: &str) -> BoxStream<'static, Ev> {
        let pods = watcher(self.ctx.pods(), watcher::Config::default().labels(&run_selector(run_id)))
            .default_backoff()
            .map(Ev::Pod);
        let jobs = watcher(self.ctx.jobs(), watcher::Config::default().fields(&format!("metadata.name={name}")))
            .default_backoff()
            .map(Ev::Job);
        let mut merged = futures::stream::select(pods, jobs).boxed();
        if let Some(mut channel) = self.channel.take() {
            let (tx, rx) = mpsc::channel(64);
            let (stop, mut stopped) = oneshot::channel();
            let done = tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        r = channel.receive(None) => {
                            let end = !matches!(r, Ok(Some(_)));
                            if tx.send(r).await.is_err() || end {
                                break;
                            }
                        }
                    }
                }
                channel
            });
            self.channel_task = Some(ChannelTask { stop, done });
            let reports = tokio_stream_from(rx).map(Ev::Report);
            merged = futures::stream::select(merged, reports).boxed();
        }
        merged
    }
}

fn watcher<K>(
    api: Api<K>,
    config: watcher::Config,
) -> impl futures::Stream<Item = Result<Event<K>, watcher::Error>> + Send
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    watcher::watcher(api, config)
}

fn tokio_stream_from<T: Send + 'static>(mut rx: mpsc::Receiver<T>) -> BoxStream<'static, T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

/// A pod's completion index, from its annotation (or label).
fn pod_index(pod: &Pod) -> Option<u32> {
    let m = &pod.metadata;
    m.annotations
        .as_ref()
        .and_then(|a| a.get(INDEX_KEY))
        .or_else(|| m.labels.as_ref().and_then(|l| l.get(INDEX_KEY)))
        .and_then(|v| v.parse().ok())
}

/// A watcher error that retrying cannot fix (permissions), as an error of the run.
fn fatal_watch_error(e: &watcher::Error, resource: &'static str, namespace: &str) -> Option<Error> {
    let source = match e {
        watcher::Error::InitialListFailed(k) | watcher::Error::WatchStartFailed(k) => k,
        _ => return None,
    };
    match source {
        kube::Error::Api(s) if s.code == 403 => Some(Error::api(
            if matches!(e, watcher::Error::InitialListFailed(_)) { "list" } else { "watch" },
            resource,
            namespace,
            kube::Error::Api(s.clone()),
        )),
        _ => None,
    }
}

#[async_trait]
impl Dispatcher for K8sDispatcher {
    fn name(&self) -> &'static str {
        "k8s"
    }

    async fn start(&mut self, spec: &RunSpec) -> Result<Vec<NonceRange>, DispatchError> {
        let version = self.read_version().await?;
        let job = render_job(spec, &self.ctx.settings.job, version)?;
        let name = job_name(&spec.run_id);
        // From here on the Job may exist, even if this future is dropped mid-request.
        self.maybe_created = Some(name.clone());
        if let Err(e) = self.ctx.jobs().create(&PostParams::default(), &job).await {
            if matches!(&e, kube::Error::Api(s) if (400..500).contains(&s.code)) {
                self.maybe_created = None; // refused: nothing was created
            }
            return Err(Error::api("create", JOBS, &self.ctx.namespace, e).into());
        }
        tracing::info!(job = %name, namespace = %self.ctx.namespace, %version, "created the Job");
        self.ctx.set_job_state("created");
        let events = self.stream_for(&spec.run_id, &name);
        let partitions = split(spec.problem.range(), spec.workers);
        self.run = Some(Run {
            run_id: spec.run_id.clone(),
            job_name: name,
            partitions: partitions.clone(),
            started: Instant::now(),
            timeout: spec.timeout,
            events,
            queue: VecDeque::new(),
            read: HashSet::new(),
            crashes: HashMap::new(),
            end: None,
            flushed: false,
        });
        Ok(partitions)
    }

    async fn next_report(&mut self) -> Result<Option<WorkerReport>, DispatchError> {
        let run = self.run.as_mut().ok_or_else(|| DispatchError::Incomplete("the run was not started".into()))?;
        self.ctx.next_report_of(run).await
    }

    fn progress_probe(&self) -> ProgressProbe {
        let live = Arc::clone(&self.ctx.live);
        Arc::new(move || {
            let l = live.lock().expect("progress lock");
            // Pods report hashes only when they end: the count is what ended pods did.
            Progress { hashes: (l.hashes > 0).then_some(l.hashes), detail: Some(l.detail()) }
        })
    }

    async fn shutdown(&mut self) -> Result<(), DispatchError> {
        let mut first_error: Option<DispatchError> = None;
        if let Some(task) = self.channel_task.take() {
            let _ = task.stop.send(());
            match task.done.await {
                Ok(mut channel) => {
                    if let Err(e) = channel.close().await {
                        first_error.get_or_insert(e);
                    }
                }
                Err(e) => tracing::warn!("the result channel's task ended badly: {e}"),
            }
        } else if let Some(mut channel) = self.channel.take()
            && let Err(e) = channel.close().await
        {
            first_error.get_or_insert(e);
        }
        // Drop the watches before deleting: nothing more is read from them.
        let run = self.run.take();
        if let Some(name) = self.maybe_created.take() {
            let run_id =
                run.as_ref().map(|r| r.run_id.clone()).or_else(|| name.strip_prefix("cnd-").map(str::to_string));
            let ctx = &self.ctx;
            let deleted =
                delete_run(ctx.client.clone(), &ctx.namespace, &name, run_id.as_deref(), ctx.settings.cleanup_timeout)
                    .await;
            if let Err(e) = deleted {
                first_error.get_or_insert(e.into());
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Ctx {
    async fn next_report_of(&self, run: &mut Run) -> Result<Option<WorkerReport>, DispatchError> {
        loop {
            if let Some(r) = run.queue.pop_front() {
                return Ok(Some(r));
            }
            if let Some(end) = run.end.clone() {
                if !run.flushed {
                    run.flushed = true;
                    self.flush(run).await?;
                    continue;
                }
                let (wait_until, error) = self.ended(run, end);
                if let Some(t) = wait_until {
                    tokio::time::sleep_until(t.into()).await;
                }
                return Err(error);
            }
            let Some(ev) = run.events.next().await else {
                return Ok(None);
            };
            match ev {
                Ev::Pod(Ok(Event::Apply(pod) | Event::InitApply(pod))) => self.on_pod(run, &pod)?,
                Ev::Pod(Ok(Event::Delete(pod))) => {
                    self.on_pod(run, &pod)?;
                    if let Some(n) = &pod.metadata.name {
                        self.live.lock().expect("progress lock").pods.remove(n);
                    }
                }
                Ev::Pod(Ok(Event::Init)) => self.live.lock().expect("progress lock").pods.clear(),
                Ev::Pod(Ok(Event::InitDone)) | Ev::Job(Ok(Event::Init | Event::InitDone)) => {}
                Ev::Job(Ok(Event::Apply(job) | Event::InitApply(job))) => self.on_job(run, &job),
                Ev::Job(Ok(Event::Delete(_))) => {
                    self.set_job_state("deleted");
                    run.end = Some(JobEnd::Deleted);
                }
                Ev::Pod(Err(e)) => match fatal_watch_error(&e, PODS, &self.namespace) {
                    Some(f) => return Err(f.into()),
                    None => tracing::warn!("watching pods: {e} (retrying)"),
                },
                Ev::Job(Err(e)) => match fatal_watch_error(&e, JOBS, &self.namespace) {
                    Some(f) => return Err(f.into()),
                    None => tracing::warn!("watching the Job: {e} (retrying)"),
                },
                Ev::Report(Ok(Some(r))) => {
                    self.live.lock().expect("progress lock").hashes += r.hashes;
                    run.queue.push_back(r);
                }
                Ev::Report(Ok(None)) => return Ok(None),
                Ev::Report(Err(e)) => return Err(e),
            }
        }
    }

    /// The error for a Job that ended without deciding the run, and until when to hold it
    /// back.
    fn ended(&self, run: &Run, end: JobEnd) -> (Option<Instant>, DispatchError) {
        let job = &run.job_name;
        let error = match end {
            JobEnd::Deadline => {
                // activeDeadlineSeconds is the run's timeout, and the coordinator's timer
                // started before the Job: it reports the time-out (exit 4) in a moment.
                let timeout = run.timeout.unwrap_or_default();
                let until = run.started + timeout + self.settings.deadline_grace;
                let e =
                    DispatchError::Incomplete(format!("the Job {job} reached its deadline (activeDeadlineSeconds)"));
                return (Some(until), e);
            }
            JobEnd::Complete => DispatchError::Incomplete(format!(
                "the Job {job} completed but no pod reported a verified golden nonce"
            )),
            JobEnd::Deleted => DispatchError::Incomplete(format!("the Job {job} was deleted by someone else")),
            JobEnd::Failed { reason, message } => match run.crashes.iter().min_by_key(|(i, _)| **i) {
                Some((worker, (_, why))) => DispatchError::WorkerFailed { worker: *worker, reason: why.clone() },
                None => DispatchError::Incomplete(format!("the Job {job} failed: {reason}: {message}")),
            },
        };
        (None, error)
    }
}

/// Deletes a run's Job with background propagation, then waits (at most `timeout`) until
/// its pods are gone, watching them.
pub async fn delete_run(
    client: Client,
    namespace: &str,
    job: &str,
    run_id: Option<&str>,
    timeout: Duration,
) -> Result<()> {
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    match jobs.delete(job, &DeleteParams::background()).await {
        Ok(_) => tracing::info!(job, namespace, "deleted the Job (background propagation)"),
        Err(kube::Error::Api(s)) if s.code == 404 => tracing::debug!(job, "the Job was already gone"),
        Err(e) => return Err(Error::api("delete", JOBS, namespace, e)),
    }
    let Some(run_id) = run_id else { return Ok(()) };
    let pods: Api<Pod> = Api::namespaced(client, namespace);
    wait_pods_gone(pods, &run_selector(run_id), namespace, timeout).await
}

/// Waits until no pod matches `selector`, watching (initial list, then deletions).
pub async fn wait_pods_gone(pods: Api<Pod>, selector: &str, namespace: &str, timeout: Duration) -> Result<()> {
    let mut live: HashSet<String> = HashSet::new();
    let mut listed = false;
    let mut stream = watcher(pods, watcher::Config::default().labels(selector)).default_backoff().boxed();
    let wait = async {
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(Event::Init) => {
                    live.clear();
                    listed = false;
                }
                Ok(Event::InitApply(p)) | Ok(Event::Apply(p)) => {
                    live.insert(p.metadata.name.unwrap_or_default());
                }
                Ok(Event::Delete(p)) => {
                    live.remove(&p.metadata.name.unwrap_or_default());
                }
                Ok(Event::InitDone) => listed = true,
                Err(e) => {
                    if let Some(f) = fatal_watch_error(&e, PODS, namespace) {
                        return Err(f);
                    }
                    tracing::debug!("waiting for pods to go: {e}");
                }
            }
            if listed && live.is_empty() {
                return Ok(());
            }
        }
        Ok(())
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(r) => r,
        Err(_) => {
            let mut left: Vec<_> = live.into_iter().collect();
            left.sort();
            Err(Error::Api {
                verb: "wait for the deletion of",
                resource: PODS,
                namespace: namespace.to_string(),
                code: None,
                source: crate::error::ServerMessage(format!(
                    "still there after {}s: {}",
                    timeout.as_secs(),
                    left.join(", ")
                )),
            })
        }
    }
}

/// Lists a run's (or every run's) pods, for `cnd k8s status`.
pub(crate) async fn list_pods(client: Client, namespace: &str, selector: &str) -> Result<Vec<Pod>> {
    let api: Api<Pod> = Api::namespaced(client, namespace);
    Ok(api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|e| Error::api("list", PODS, namespace, e))?
        .items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_detail_names_phases_and_unschedulable() {
        let mut l = Live { planned_rate: Some(2.5e6), ..Default::default() };
        l.pods.insert("a".into(), PodView { phase: "Running".into(), waiting: None });
        l.pods.insert("b".into(), PodView { phase: "Pending".into(), waiting: Some("Unschedulable".into()) });
        l.pods.insert("c".into(), PodView { phase: "Failed".into(), waiting: None });
        assert_eq!(
            l.detail(),
            "pods: 1 running, 1 pending (1 Unschedulable: waiting for the autoscaler), 0 succeeded, 1 failed · planned 2.5 MH/s"
        );
    }
}
