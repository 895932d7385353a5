//! `K8sDispatcher`: one Indexed Job per run, watched (not polled), read through its pods'
//! termination messages (or a result channel), and deleted on every exit path.

mod attach;
mod events;
mod faults;
mod pods;
mod preflight;
mod scale;
mod timeline;
mod watch;

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cnd_core::{
    DispatchError, Dispatcher, NonceRange, OpenChannel, Progress, ProgressProbe, RemoteChannel, ResultChannel, RunSpec,
    WorkerReport,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event as CoreEvent, Pod};
use kube::api::PostParams;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use tokio::sync::{mpsc, oneshot};

use self::faults::Faults;
pub(crate) use self::faults::short;
use self::pods::Live;
use self::timeline::Timeline;
pub(crate) use self::timeline::WorkerClock;
pub(crate) use self::watch::list_pods;
use self::watch::{Until, delete_run_until, fatal_watch_error, tokio_stream_from, until_refused, watcher};
pub use self::watch::{delete_run, wait_pods_gone};
use crate::error::{Error, Result};
use crate::job::{ChunkPlan, JobSettings, KubeVersion, job_name, render_job, run_selector};
use crate::record::{RecordWriter, RunRecord, create_record};

const JOBS: &str = "jobs.batch";
const PODS: &str = "pods";
const EVENTS: &str = "events";
/// How often the clocks of a run (pending pods, failing pulls, draining) are looked at.
const TICK: Duration = Duration::from_millis(500);
/// How long a shutdown waits for a result channel whose opening the run's start left behind.
const CHANNEL_GRACE: Duration = Duration::from_secs(30);

/// Settings of a [`K8sDispatcher`] beyond the Job itself.
#[derive(Debug, Clone)]
pub struct DispatcherSettings {
    /// The pods' settings.
    pub job: JobSettings,
    /// The namespace of the run (default: the client's).
    pub namespace: Option<String>,
    /// How long `shutdown` waits for the run's pods to be gone, plus 20 ms per pod.
    pub cleanup_timeout: Duration,
    /// After the Job fails on its deadline, how long to wait for the coordinator's own timer
    /// (which started first, so it normally fires first) before reporting an error.
    pub deadline_grace: Duration,
    /// The planned hash rate of the whole run, for the progress line.
    pub planned_rate: Option<f64>,
    /// How long pods may stay unschedulable, with none scheduled meanwhile, before the run
    /// ends (timed out, exit 4): `--pending-timeout`.
    pub pending_timeout: Duration,
    /// How long a pod's image pulls may keep failing (for a reason other than a refusal,
    /// which ends the run at once) before the run ends.
    pub image_pull_grace: Duration,
    /// With a result channel: how long, once the Job has ended, to wait for the reports of
    /// the pods that ended with a verdict (found, exhausted) before deciding.
    pub drain_timeout: Duration,
    /// Keep the run's record (a ConfigMap, see [`RunRecord`]) from before the Job is created
    /// until the run's cleanup, updated as chunks complete: what `attach` and `resume`
    /// read. The CLI keeps one; off by default.
    pub record: bool,
}

impl Default for DispatcherSettings {
    fn default() -> Self {
        Self {
            job: JobSettings::default(),
            namespace: None,
            cleanup_timeout: Duration::from_secs(60),
            deadline_grace: Duration::from_secs(10),
            planned_rate: None,
            pending_timeout: Duration::from_secs(600),
            image_pull_grace: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
            record: false,
        }
    }
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
    /// An event (of the `Event` kind) about the run's Job.
    JobEvent(Result<Event<CoreEvent>, watcher::Error>),
    Report(Result<Option<WorkerReport>, DispatchError>),
    /// Time to look at the clocks.
    Tick,
}

/// A run in progress.
struct Run {
    run_id: String,
    job_name: String,
    job_uid: Option<String>,
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
    /// Pods that cannot start, and the clocks of those that may yet.
    faults: Faults,
    /// With a result channel: the indexes whose pods ended with a verdict (exit 0 or 3), whose
    /// reports travel through the channel, and the indexes whose reports came.
    awaited: BTreeSet<u32>,
    received: BTreeSet<u32>,
    /// With a result channel, once the Job ended: until when its reports are awaited.
    drain_until: Option<Instant>,
    /// When each step of the run was seen (logged with `-v`).
    timeline: Timeline,
    /// The chunks whose verdict (found, exhausted) was returned: each is returned once.
    verdicts: BTreeSet<u32>,
    /// A resumed Job's chunk list: completion index i searches chunk `chunk_list[i]`.
    chunk_list: Option<Vec<u32>>,
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
}

/// Runs a search as an Indexed Job: see the crate docs.
pub struct K8sDispatcher {
    ctx: Ctx,
    channel: Option<Box<dyn ResultChannel>>,
    channel_task: Option<ChannelTask>,
    /// Opens the run's result channel when the run starts.
    open_channel: Option<OpenChannel>,
    /// The channel being opened, kept here so that a cancelled start leaves it to shutdown.
    opening: Option<tokio::task::JoinHandle<cnd_core::Result<RemoteChannel>>>,
    run: Option<Run>,
    /// The Job may exist: a create was sent and not refused.
    maybe_created: Option<String>,
    version: Option<KubeVersion>,
    /// A run to follow instead of creating one ([`K8sDispatcher::attach`]).
    attach: Option<RunRecord>,
    /// The writer of the run's record, kept while the run goes on; shutdown deletes the record.
    record: Option<RecordWriter>,
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
    /// [`K8sDispatcher::remote_channel`] or [`K8sDispatcher::with_result_channel`] is used.
    pub fn new(client: Client, settings: DispatcherSettings) -> Self {
        let namespace = settings.namespace.clone().unwrap_or_else(|| client.default_namespace().to_string());
        let live = Live { planned_rate: settings.planned_rate, ..Default::default() };
        Self {
            ctx: Ctx { client, namespace, settings, live: Arc::new(Mutex::new(live)), reports_from_pods: true },
            channel: None,
            channel_task: None,
            open_channel: None,
            opening: None,
            run: None,
            maybe_created: None,
            version: None,
            attach: None,
            record: None,
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

    /// Receives the workers' reports through a remote channel (e.g. an SQS queue) that `open`
    /// opens when the run starts, once the settings are checked and the server reached; the
    /// pods are told where to publish by the [`RemoteChannel`]'s `results`, which replace the
    /// Job settings' own. Shutdown closes the channel (and removes its queue), even if the
    /// start was cancelled while it was being opened.
    pub fn remote_channel(mut self, open: OpenChannel) -> Self {
        self.open_channel = Some(open);
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
        // The Job controller's FailedCreate (a quota, an admission webhook) is an event on the
        // Job, not a condition. Events only help: a Role without them, or a server that
        // refuses the selector, ends this stream with a warning, not the run.
        let events_api: Api<CoreEvent> = Api::namespaced(self.ctx.client.clone(), &self.ctx.namespace);
        let selector = format!("involvedObject.kind=Job,involvedObject.name={name}");
        let events = until_refused(
            watcher(events_api, watcher::Config::default().fields(&selector)).default_backoff().boxed(),
            EVENTS,
            self.ctx.namespace.clone(),
        )
        .map(Ev::JobEvent);
        let ticks = futures::stream::unfold(tokio::time::interval(TICK), |mut every| async move {
            every.tick().await;
            Some((Ev::Tick, every))
        });
        let mut merged =
            futures::stream::select(futures::stream::select(pods, jobs), futures::stream::select(events, ticks))
                .boxed();
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

#[async_trait]
impl Dispatcher for K8sDispatcher {
    fn name(&self) -> &'static str {
        "k8s"
    }

    async fn start(&mut self, spec: &RunSpec) -> Result<Vec<NonceRange>, DispatchError> {
        if self.run.is_some() || self.opening.is_some() {
            return Err(DispatchError::Invalid("a K8sDispatcher runs one search at a time".into()));
        }
        if let Some(record) = self.attach.take() {
            return self.adopt(spec, record).await;
        }
        let timeline = Timeline::new(Instant::now());
        let version = self.read_version().await?;
        // Bad settings must not leave a queue behind: checked before the channel opens, as is
        // the Secret the pods would read their AWS settings from.
        self.ctx.settings.job.validate()?;
        self.ctx.preflight().await?;
        if let Some(open) = self.open_channel.take() {
            // Opened on a task of its own, kept in `self`: if this start is cancelled, shutdown
            // still gets the channel (and removes its queue).
            let opening = self.opening.insert(tokio::spawn(open(spec.clone())));
            let opened = opening.await.map_err(|e| DispatchError::backend("open the result channel", e));
            self.opening = None;
            let RemoteChannel { channel, results } = opened??;
            self.ctx.settings.job.results = results;
            self.channel = Some(channel);
        }
        let job = render_job(spec, &self.ctx.settings.job, version)?;
        let name = job_name(&spec.run_id);
        // From here on the Job may exist, even if this future is dropped mid-request.
        self.maybe_created = Some(name.clone());
        let created = match self.ctx.jobs().create(&PostParams::default(), &job).await {
            Ok(created) => created,
            Err(e) => {
                if matches!(&e, kube::Error::Api(s) if (400..500).contains(&s.code)) {
                    self.maybe_created = None; // refused: nothing was created
                }
                return Err(Error::api("create", JOBS, &self.ctx.namespace, e).into());
            }
        };
        if self.ctx.settings.record {
            // Right after the Job (a refused Job leaves nothing, record included); a run
            // whose coordinator died in between is attached to from its Job alone.
            let record = RunRecord::new(&spec.run_id, &job);
            let created = create_record(self.ctx.client.clone(), &self.ctx.namespace, &record).await;
            // Even if the create failed (its reply may be what was lost), shutdown deletes it.
            self.record = Some(RecordWriter::start(self.ctx.client.clone(), &self.ctx.namespace, record));
            created?;
        }
        let mut timeline = timeline;
        timeline.job_created(Instant::now());
        tracing::info!(job = %name, namespace = %self.ctx.namespace, %version, "created the Job");
        self.ctx.set_job_state("created");
        // Checked by render_job: one partition per chunk (the Job's completion indexes).
        let partitions = ChunkPlan::new(spec, self.ctx.settings.job.chunks)?.ranges;
        Ok(self.begin(spec, created.metadata.uid, partitions, timeline))
    }

    async fn next_report(&mut self) -> Result<Option<WorkerReport>, DispatchError> {
        self.next_verdict().await
    }

    fn progress_probe(&self) -> ProgressProbe {
        let live = Arc::clone(&self.ctx.live);
        Arc::new(move || {
            let l = live.lock().expect("progress lock");
            // Pods report hashes only when they end: the count is what ended pods did.
            Progress { hashes: (l.hashes > 0).then_some(l.hashes), detail: Some(l.detail()) }
        })
    }

    fn startup_delay(&self) -> Option<Duration> {
        self.run.as_ref()?.timeline.startup_delay()
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
        if let Some(opening) = self.opening.take() {
            // The run was cancelled while its channel was being opened: close what was opened.
            if let Ok(Ok(Ok(mut opened))) = tokio::time::timeout(CHANNEL_GRACE, opening).await
                && let Err(e) = opened.channel.close().await
            {
                first_error.get_or_insert(e);
            }
        }
        // Drop the watches before deleting: nothing more is read from them.
        let run = self.run.take();
        if let Some(name) = self.maybe_created.take() {
            let run_id =
                run.as_ref().map(|r| r.run_id.clone()).or_else(|| name.strip_prefix("cnd-").map(str::to_string));
            let ctx = &self.ctx;
            // The run is over once no worker runs: the kubelet removes the stopped pods'
            // objects by itself, a second or two later (sandbox, cgroup), not waited for.
            let pods = run.as_ref().map_or(0, |r| r.partitions.len());
            let timeout = scale::cleanup_wait(ctx.settings.cleanup_timeout, pods);
            let deleted =
                delete_run_until(ctx.client.clone(), &ctx.namespace, &name, run_id.as_deref(), timeout, Until::Stopped)
                    .await;
            if let Err(e) = deleted {
                first_error.get_or_insert(e.into());
            }
        }
        if let Err(e) = self.remove_record().await {
            first_error.get_or_insert(e);
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
