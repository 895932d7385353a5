//! `cnd k8s status` and `cnd k8s cleanup`: runs found by their labels.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::api::ListParams;
use kube::{Api, Client};
use serde::Serialize;

use crate::dispatcher::{delete_run, list_pods, wait_pods_gone};
use crate::error::{Error, Result};
use crate::job::{RUN_LABEL, all_runs_selector, parse_indexes, run_selector};
use crate::record::{delete_record, list_records, record_name};

/// A run as the cluster shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunStatus {
    /// The run id (label `cnd.dev/run-id`).
    pub run_id: String,
    /// Its Job, if it still exists.
    pub job: Option<String>,
    /// `running`, `complete`, `failed (Reason)`, or `no job` for pods left without one.
    pub state: String,
    /// Workers: pods at a time (the Job's parallelism).
    pub workers: Option<i32>,
    /// Chunks of the range (the Job's completions), and how many are done (completed or
    /// failed for good: `status.completedIndexes`, `failedIndexes`), running (pods running)
    /// and pending (the rest).
    pub chunks: Option<i32>,
    /// Chunks done.
    pub chunks_done: usize,
    /// Chunks running.
    pub chunks_running: usize,
    /// Chunks pending.
    pub chunks_pending: usize,
    /// Search difficulty and mode, from the Job's annotations.
    pub difficulty: Option<String>,
    /// `first` or `lowest`.
    pub mode: Option<String>,
    /// The run's record (a ConfigMap), if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// When the Job was created (RFC 3339).
    pub created: Option<String>,
    /// Pods by phase.
    pub pods: BTreeMap<String, usize>,
    /// With `--results sqs`: the queue the pods publish to (`CND_SQS_QUEUE_URL` of the Job's
    /// pods), so that `cnd k8s cleanup` can remove a run's queue too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sqs_queue_url: Option<String>,
    /// With `--results sqs`: the SQS endpoint override of the pods (`CND_SQS_ENDPOINT_URL`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sqs_endpoint_url: Option<String>,
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pods: Vec<String> = self.pods.iter().map(|(p, n)| format!("{n} {}", p.to_lowercase())).collect();
        write!(
            f,
            "{:<12} {:<16} {:<22} workers {:<4} chunks {} d {:<6} {:<7} pods: {}",
            self.run_id,
            self.job.as_deref().unwrap_or("-"),
            self.state,
            self.workers.map(|w| w.to_string()).unwrap_or_else(|| "-".into()),
            match self.chunks {
                Some(k) => format!(
                    "{k} ({} done, {} running, {} pending)",
                    self.chunks_done, self.chunks_running, self.chunks_pending
                ),
                None => "-".into(),
            },
            self.difficulty.as_deref().unwrap_or("-"),
            self.mode.as_deref().unwrap_or("-"),
            if pods.is_empty() { "none".to_string() } else { pods.join(", ") }
        )
    }
}

/// A variable of the Job's worker environment when the pods report through SQS.
fn sqs_env(job: &Job, name: &str) -> Option<String> {
    let container = job.spec.as_ref()?.template.spec.as_ref()?.containers.first()?;
    let env = container.env.as_deref()?;
    let value = |n: &str| env.iter().find(|e| e.name == n).and_then(|e| e.value.clone());
    (value("CND_RESULTS").as_deref() == Some("sqs")).then(|| value(name)).flatten()
}

fn job_state(job: &Job) -> String {
    let conditions = job.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    let active = |t: &str| conditions.iter().find(|c| c.type_ == t && c.status == "True");
    if job.metadata.deletion_timestamp.is_some() {
        "deleting".into()
    } else if active("Complete").is_some() {
        "complete".into()
    } else if let Some(c) = active("Failed") {
        format!("failed ({})", c.reason.as_deref().unwrap_or("?"))
    } else if job.spec.as_ref().and_then(|s| s.suspend) == Some(true) {
        "suspended".into()
    } else {
        "running".into()
    }
}

/// The indexes of a Job that are done: completed, or failed for good.
pub(crate) fn done_indexes(job: &Job) -> BTreeSet<u32> {
    let status = job.status.as_ref();
    let sets = status.into_iter().flat_map(|s| [&s.completed_indexes, &s.failed_indexes]).flatten();
    let list = crate::resume::chunk_list_of(job);
    let chunk = |i: u32| list.as_ref().and_then(|l| l.get(i as usize).copied()).unwrap_or(i);
    sets.flat_map(|s| parse_indexes(s)).map(chunk).collect()
}

/// The Jobs that `selector` matches.
async fn list_jobs(client: Client, namespace: &str, selector: &str) -> Result<Vec<Job>> {
    let api: Api<Job> = Api::namespaced(client, namespace);
    let list = api.list(&ListParams::default().labels(selector)).await;
    Ok(list.map_err(|e| Error::api("list", "jobs.batch", namespace, e))?.items)
}

/// The runs in `namespace` (or just `run`), with their pods by phase, oldest first.
pub async fn status(client: Client, namespace: &str, run: Option<&str>) -> Result<Vec<RunStatus>> {
    let selector = run.map(run_selector).unwrap_or_else(all_runs_selector);
    let jobs = list_jobs(client.clone(), namespace, &selector).await?;
    let pods = list_pods(client.clone(), namespace, &selector).await?;
    let mut runs: BTreeMap<String, RunStatus> = BTreeMap::new();
    let mut done_sets: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    for job in &jobs {
        let Some(id) = job.metadata.labels.as_ref().and_then(|l| l.get(RUN_LABEL)) else { continue };
        let annotations = job.metadata.annotations.clone().unwrap_or_default();
        runs.insert(
            id.clone(),
            RunStatus {
                run_id: id.clone(),
                job: job.metadata.name.clone(),
                state: job_state(job),
                workers: job.spec.as_ref().and_then(|s| s.parallelism),
                chunks: job.spec.as_ref().and_then(|s| s.completions),
                chunks_done: {
                    let done = done_indexes(job);
                    done_sets.insert(id.clone(), done.clone());
                    done.len()
                },
                difficulty: annotations.get("cnd.dev/difficulty").cloned(),
                mode: annotations.get("cnd.dev/mode").cloned(),
                created: job.metadata.creation_timestamp.as_ref().map(|t| t.0.to_string()),
                pods: BTreeMap::new(),
                sqs_queue_url: sqs_env(job, "CND_SQS_QUEUE_URL"),
                sqs_endpoint_url: sqs_env(job, "CND_SQS_ENDPOINT_URL"),
                ..Default::default()
            },
        );
    }
    for pod in &pods {
        let Some(id) = pod.metadata.labels.as_ref().and_then(|l| l.get(RUN_LABEL)) else { continue };
        let phase = pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_else(|| "Pending".into());
        let entry = runs.entry(id.clone()).or_insert_with(|| RunStatus {
            run_id: id.clone(),
            state: "no job".into(),
            ..Default::default()
        });
        *entry.pods.entry(phase).or_default() += 1;
    }
    for record in list_records(client, namespace).await? {
        if run.is_some_and(|r| r != record.run_id) {
            continue;
        }
        let entry = runs.entry(record.run_id.clone()).or_insert_with(|| RunStatus {
            run_id: record.run_id.clone(),
            state: "no job (resume it, or clean it up)".into(),
            ..Default::default()
        });
        entry.record = Some(record_name(&record.run_id));
        // A resumed Job's completions are the chunks left: the record has the plan.
        entry.chunks = record.chunks().ok().map(|c| c.len() as i32).or(entry.chunks);
        if entry.workers.is_none() {
            let spec = record.job.spec.as_ref();
            entry.workers = spec.and_then(|s| s.parallelism);
            let annotations = record.job.metadata.annotations.clone().unwrap_or_default();
            entry.difficulty = annotations.get("cnd.dev/difficulty").cloned();
            entry.mode = annotations.get("cnd.dev/mode").cloned();
        }
        let mut done = record.done.clone();
        done.extend(done_sets.get(&record.run_id).into_iter().flatten());
        entry.chunks_done = done.len();
    }
    for run in runs.values_mut() {
        if let Some(k) = run.chunks {
            let running = run.pods.get("Running").copied().unwrap_or(0);
            run.chunks_running = running.min((k as usize).saturating_sub(run.chunks_done));
            run.chunks_pending = (k as usize).saturating_sub(run.chunks_done + run.chunks_running);
        }
    }
    let mut list: Vec<RunStatus> = runs.into_values().collect();
    list.sort_by(|a, b| a.created.cmp(&b.created).then(a.run_id.cmp(&b.run_id)));
    Ok(list)
}

/// Deletes the Jobs of `run` (or of every cnd run in `namespace`) with background
/// propagation, deletes their records, and waits, at most `timeout`, until their pods are
/// gone. Returns the Jobs and records (ConfigMaps) deleted.
pub async fn cleanup(client: Client, namespace: &str, run: Option<&str>, timeout: Duration) -> Result<Vec<String>> {
    let selector = run.map(run_selector).unwrap_or_else(all_runs_selector);
    let jobs = list_jobs(client.clone(), namespace, &selector).await?;
    let mut deleted = Vec::new();
    for job in jobs {
        let Some(name) = job.metadata.name else { continue };
        // Each run's pods are awaited below, together.
        delete_run(client.clone(), namespace, &name, None, timeout).await?;
        deleted.push(name);
    }
    // The runs' records: a record without a Job is a run left to resume, or to remove.
    for record in list_records(client.clone(), namespace).await? {
        if run.is_none_or(|r| r == record.run_id) {
            delete_record(client.clone(), namespace, &record.run_id).await?;
            deleted.push(record_name(&record.run_id));
        }
    }
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client, namespace);
    wait_pods_gone(pods, &selector, namespace, timeout).await?;
    Ok(deleted)
}
