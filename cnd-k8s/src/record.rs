//! The run's record: a labelled ConfigMap `cnd-<run-id>-record` beside the Job, created before
//! it and updated as chunks complete. It holds the Job as rendered (its pod template carries
//! the worker contract: the problem, the range, the chunk count, the mode), the chunks done
//! and the reports that found a golden nonce.
//!
//! Why a ConfigMap in the run's namespace: it outlives the Job (a deleted Job, one that hit
//! its deadline, one the TTL removed), it needs nothing but the API server the run already
//! uses (no volume, no bucket, no state on the coordinator's machine, which may close), the
//! run's labels find it with the rest of the run, and `cnd k8s cleanup` deletes it with them.
//! Its size is bounded: the chunks done are an index set (`0-41,43`), and only the reports
//! that found a nonce are kept (an exhausted chunk's report is its range).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cnd_core::{NonceRange, ReportOutcome, RunSpec, WorkerReport, WorkerSpec, split};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::job::{NAME_LABEL, RUN_LABEL, all_runs_selector, format_indexes, parse_indexes};

const CONFIGMAPS: &str = "configmaps";

/// The record's name: `cnd-<run-id>-record`.
pub fn record_name(run_id: &str) -> String {
    format!("cnd-{run_id}-record")
}

/// A run as its record keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The run id.
    pub run_id: String,
    /// The Job as first rendered.
    pub job: Job,
    /// The chunks whose verdict was read (found or exhausted).
    pub done: BTreeSet<u32>,
    /// The reports that found a golden nonce (the coordinator verifies them again).
    pub found: Vec<WorkerReport>,
}

/// The environment the worker of completion index `index` of `job` reads (its container's
/// literal variables and `JOB_COMPLETION_INDEX`), or `None` if the Job has no container.
pub(crate) fn pod_env(job: &Job, index: u32) -> Option<BTreeMap<String, String>> {
    let container = job.spec.as_ref()?.template.spec.as_ref()?.containers.first()?;
    let literal = container.env.iter().flatten().filter_map(|e| Some((e.name.clone(), e.value.clone()?)));
    Some(literal.chain([("JOB_COMPLETION_INDEX".to_string(), index.to_string())]).collect())
}

fn bad(run_id: &str, what: impl std::fmt::Display) -> Error {
    Error::Record { run_id: run_id.to_string(), message: what.to_string() }
}

impl RunRecord {
    /// The record of a run about to be created as `job`.
    pub fn new(run_id: &str, job: &Job) -> Self {
        Self { run_id: run_id.into(), job: as_rendered(job), done: BTreeSet::new(), found: Vec::new() }
    }

    /// The worker contract of the Job's pods (index 0's).
    fn contract(&self) -> Result<WorkerSpec> {
        let env = pod_env(&self.job, 0).ok_or_else(|| bad(&self.run_id, "the recorded Job has no container"))?;
        WorkerSpec::from_env(|k| env.get(k).cloned()).map_err(|e| bad(&self.run_id, e))
    }

    /// The run: problem, mode, run id, and its workers (the Job's parallelism).
    pub fn spec(&self) -> Result<RunSpec> {
        let c = self.contract()?;
        let workers = self.job.spec.as_ref().and_then(|s| s.parallelism).unwrap_or(1).max(1) as u32;
        Ok(RunSpec { run_id: self.run_id.clone(), problem: c.problem, workers, mode: c.mode, timeout: None })
    }

    /// The chunk plan: chunk `i` is `split(range, chunks)[i]`.
    pub fn chunks(&self) -> Result<Vec<NonceRange>> {
        let c = self.contract()?;
        Ok(split(c.problem.range(), c.workers))
    }

    /// The record's verdicts as reports: the nonces found, and each other chunk done as
    /// exhausted (its whole range searched).
    pub fn reports(&self) -> Result<Vec<WorkerReport>> {
        let chunks = self.chunks()?;
        let found: BTreeSet<u32> = self.found.iter().map(|r| r.worker).collect();
        let mut out = self.found.clone();
        for &i in self.done.iter().filter(|i| !found.contains(i)) {
            let Some(&range) = chunks.get(i as usize) else { continue };
            out.push(WorkerReport {
                run_id: self.run_id.clone(),
                worker: i,
                source: Some(record_name(&self.run_id)),
                range,
                hashes: 0,
                elapsed_s: 0.0,
                outcome: ReportOutcome::Exhausted,
            });
        }
        Ok(out)
    }

    /// Notes a chunk's verdict; whether the record changed.
    pub fn note(&mut self, report: &WorkerReport) -> bool {
        let verdict = matches!(report.outcome, ReportOutcome::Found { .. } | ReportOutcome::Exhausted);
        if !verdict || !self.done.insert(report.worker) {
            return false;
        }
        if matches!(report.outcome, ReportOutcome::Found { .. }) {
            self.found.push(report.clone());
        }
        true
    }

    fn data(&self) -> BTreeMap<String, String> {
        let found: Vec<serde_json::Value> =
            self.found.iter().filter_map(|r| serde_json::from_str(&r.to_json_line()).ok()).collect();
        BTreeMap::from([
            ("done".to_string(), format_indexes(&self.done)),
            ("found".to_string(), serde_json::Value::Array(found).to_string()),
        ])
    }

    /// The ConfigMap, labelled as the run.
    pub fn to_configmap(&self) -> ConfigMap {
        let mut data = self.data();
        data.insert("job".into(), serde_json::to_string(&self.job).expect("a Job serialises"));
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(record_name(&self.run_id)),
                labels: Some(BTreeMap::from([
                    (NAME_LABEL.to_string(), "cnd".to_string()),
                    ("app.kubernetes.io/component".to_string(), "record".to_string()),
                    (RUN_LABEL.to_string(), self.run_id.clone()),
                ])),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        }
    }

    /// A record read back.
    pub fn from_configmap(cm: &ConfigMap) -> Result<Self> {
        let labels = cm.metadata.labels.clone().unwrap_or_default();
        let run_id = labels.get(RUN_LABEL).cloned().unwrap_or_default();
        let data = cm.data.clone().unwrap_or_default();
        let job: Job = serde_json::from_str(data.get("job").map(String::as_str).unwrap_or(""))
            .map_err(|e| bad(&run_id, format!("its Job: {e}")))?;
        let found: Vec<serde_json::Value> =
            serde_json::from_str(data.get("found").map(String::as_str).unwrap_or("[]")).unwrap_or_default();
        let found = found.iter().filter_map(|v| WorkerReport::from_json(&v.to_string()).ok()).collect();
        let done = parse_indexes(data.get("done").map(String::as_str).unwrap_or(""));
        Ok(Self { run_id, job, done, found })
    }
}

/// A Job as cnd rendered it: what the API server added (uid, status, the selector and the
/// controller's labels) taken out, so that it can be created again.
fn as_rendered(job: &Job) -> Job {
    let mut job = job.clone();
    job.status = None;
    job.metadata = ObjectMeta {
        name: job.metadata.name.take(),
        labels: job.metadata.labels.take(),
        annotations: job.metadata.annotations.take(),
        ..Default::default()
    };
    if let Some(spec) = job.spec.as_mut() {
        spec.selector = None;
        spec.manual_selector = None;
        if let Some(labels) = spec.template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
            labels.retain(|k, _| !k.ends_with("controller-uid") && !k.ends_with("job-name"));
        }
    }
    job
}

fn api(client: Client, namespace: &str) -> Api<ConfigMap> {
    Api::namespaced(client, namespace)
}

/// Creates the record.
pub async fn create_record(client: Client, namespace: &str, record: &RunRecord) -> Result<()> {
    let cm = record.to_configmap();
    api(client, namespace)
        .create(&PostParams::default(), &cm)
        .await
        .map_err(|e| Error::api("create", CONFIGMAPS, namespace, e))?;
    Ok(())
}

/// Writes the record's chunks done and nonces found (a merge patch of those two keys).
pub async fn update_record(client: Client, namespace: &str, record: &RunRecord) -> Result<()> {
    let patch = serde_json::json!({ "data": record.data() });
    api(client, namespace)
        .patch(&record_name(&record.run_id), &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| Error::api("patch", CONFIGMAPS, namespace, e))?;
    Ok(())
}

/// Keeps a run's record up to date from a task of its own: each verdict is noted at once,
/// and what was noted is written at most once per [`RecordWriter::INTERVAL`] (one merge patch
/// for all the verdicts of that second). Thousands of chunks then cost about one request per
/// second instead of one each, and no verdict waits for a write before the run acts on it.
/// A coordinator that dies loses at most the last second of writes, which `cnd k8s attach`
/// reads again from the pods' termination messages. Dropping the writer stops its task.
#[derive(Debug)]
pub struct RecordWriter {
    run_id: String,
    verdicts: Option<mpsc::UnboundedSender<WorkerReport>>,
    task: Option<JoinHandle<()>>,
}

impl RecordWriter {
    /// The shortest time between two writes.
    pub const INTERVAL: Duration = Duration::from_secs(1);
    /// The longest a final write ([`RecordWriter::flush`]) is waited for.
    const FLUSH_WAIT: Duration = Duration::from_secs(10);

    /// Starts writing `record` (which exists already) as verdicts are noted.
    pub fn start(client: Client, namespace: &str, record: RunRecord) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let run_id = record.run_id.clone();
        let task = tokio::spawn(write_noted(client, namespace.to_string(), record, rx));
        Self { run_id, verdicts: Some(tx), task: Some(task) }
    }

    /// The run whose record this is.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Notes a report: a verdict (found or exhausted) goes into the next write.
    pub fn note(&self, report: &WorkerReport) {
        if let Some(tx) = &self.verdicts {
            // The task ends only when the writer is dropped or flushed.
            let _ = tx.send(report.clone());
        }
    }

    /// Writes what was noted and not yet written, then stops (waiting at most 10 s).
    pub async fn flush(mut self) {
        self.verdicts = None;
        if let Some(task) = self.task.take()
            && tokio::time::timeout(Self::FLUSH_WAIT, task).await.is_err()
        {
            tracing::warn!(run = %self.run_id, "the run's record was not written within {}s", Self::FLUSH_WAIT.as_secs());
        }
    }
}

impl Drop for RecordWriter {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The writer's task: notes the verdicts as they come, writes at most once per interval,
/// and writes what is left once the writer stops sending.
async fn write_noted(
    client: Client,
    namespace: String,
    mut record: RunRecord,
    mut rx: mpsc::UnboundedReceiver<WorkerReport>,
) {
    let mut unwritten = false;
    let mut next_write = tokio::time::Instant::now();
    loop {
        let next = if unwritten {
            tokio::select! {
                r = rx.recv() => r.map(Some),
                _ = tokio::time::sleep_until(next_write) => Some(None),
            }
        } else {
            rx.recv().await.map(Some)
        };
        match next {
            Some(Some(report)) => unwritten |= record.note(&report),
            Some(None) | None => {
                let last = next.is_none();
                if unwritten {
                    match update_record(client.clone(), &namespace, &record).await {
                        Ok(()) => unwritten = false,
                        Err(Error::Api { code: Some(404), .. }) => {
                            tracing::warn!(run = %record.run_id, "the run's record is gone: no more writes to it");
                            return;
                        }
                        // Tried again at the next write.
                        Err(e) => tracing::warn!("could not update the run's record: {e}"),
                    }
                    next_write = tokio::time::Instant::now() + RecordWriter::INTERVAL;
                }
                if last {
                    return;
                }
            }
        }
    }
}

/// The record of `run_id`, if there is one.
pub async fn read_record(client: Client, namespace: &str, run_id: &str) -> Result<Option<RunRecord>> {
    match api(client, namespace).get_opt(&record_name(run_id)).await {
        Ok(Some(cm)) => RunRecord::from_configmap(&cm).map(Some),
        Ok(None) => Ok(None),
        Err(e) => Err(Error::api("get", CONFIGMAPS, namespace, e)),
    }
}

/// The record of `run_id`, or, for a run whose coordinator died before it made one, a record
/// made (and created) from its Job; `None` if neither exists.
pub async fn find_run(client: Client, namespace: &str, run_id: &str) -> Result<Option<RunRecord>> {
    if let Some(record) = read_record(client.clone(), namespace, run_id).await? {
        return Ok(Some(record));
    }
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let name = crate::job::job_name(run_id);
    let Some(job) = jobs.get_opt(&name).await.map_err(|e| Error::api("get", "jobs.batch", namespace, e))? else {
        return Ok(None);
    };
    let record = RunRecord::new(run_id, &job);
    match create_record(client, namespace, &record).await {
        Err(Error::Api { code: Some(409), .. }) | Ok(()) => Ok(Some(record)),
        Err(e) => Err(e),
    }
}

/// Deletes the record of `run_id` (gone already is fine).
pub async fn delete_record(client: Client, namespace: &str, run_id: &str) -> Result<()> {
    match api(client, namespace).delete(&record_name(run_id), &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(Error::api("delete", CONFIGMAPS, namespace, e)),
    }
}

/// The run ids of the records in `namespace`.
pub async fn list_records(client: Client, namespace: &str) -> Result<Vec<RunRecord>> {
    let list = api(client, namespace)
        .list(&ListParams::default().labels(&format!("{},app.kubernetes.io/component=record", all_runs_selector())))
        .await
        .map_err(|e| Error::api("list", CONFIGMAPS, namespace, e))?;
    Ok(list.items.iter().filter_map(|cm| RunRecord::from_configmap(cm).ok()).collect())
}

#[cfg(test)]
mod tests {
    use cnd_core::{Mode, Problem};

    use super::*;
    use crate::job::{JobSettings, KubeVersion, render_job};

    #[test]
    fn a_record_round_trips_through_its_configmap_and_gives_the_run_back() {
        let p = Problem::text("COMSM0010cloud", 8).unwrap().with_range(NonceRange::new(0, 800).unwrap()).unwrap();
        let mut spec = RunSpec::new(p, 2, Mode::Lowest);
        spec.run_id = "abc123".into();
        let job =
            render_job(&spec, &JobSettings { chunks: Some(8), ..Default::default() }, KubeVersion::LATEST).unwrap();
        let mut record = RunRecord::new("abc123", &job);
        let exhausted = WorkerReport {
            run_id: "abc123".into(),
            worker: 3,
            source: None,
            range: NonceRange::new(300, 400).unwrap(),
            hashes: 100,
            elapsed_s: 1.0,
            outcome: ReportOutcome::Exhausted,
        };
        assert!(record.note(&exhausted));
        assert!(!record.note(&exhausted), "a chunk is done once");
        let cm = record.to_configmap();
        assert_eq!(cm.metadata.name.as_deref(), Some("cnd-abc123-record"));
        let back = RunRecord::from_configmap(&cm).unwrap();
        assert_eq!(back, record);
        let s = back.spec().unwrap();
        assert_eq!((s.workers, s.mode, s.problem.range()), (2, Mode::Lowest, spec.problem.range()));
        assert_eq!(back.chunks().unwrap().len(), 8);
        let reports = back.reports().unwrap();
        assert_eq!(reports.len(), 1);
        assert_eq!((reports[0].worker, reports[0].range), (3, NonceRange::new(300, 400).unwrap()));
    }

    #[test]
    fn a_record_made_from_a_live_job_can_create_it_again() {
        let p = Problem::text("COMSM0010cloud", 8).unwrap();
        let mut spec = RunSpec::new(p, 2, Mode::First);
        spec.run_id = "abc123".into();
        let rendered = render_job(&spec, &JobSettings::default(), KubeVersion::LATEST).unwrap();
        let mut live = rendered.clone();
        live.metadata.uid = Some("u-1".into());
        live.metadata.resource_version = Some("42".into());
        live.status = Some(Default::default());
        let js = live.spec.as_mut().unwrap();
        js.selector = Some(Default::default());
        let labels = js.template.metadata.as_mut().unwrap().labels.as_mut().unwrap();
        labels.insert("batch.kubernetes.io/controller-uid".into(), "u-1".into());
        labels.insert("job-name".into(), "cnd-abc123".into());
        assert_eq!(RunRecord::new("abc123", &live).job, rendered);
    }
}
