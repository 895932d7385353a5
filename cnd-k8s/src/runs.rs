//! `cnd k8s status` and `cnd k8s cleanup`: runs found by their labels.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use kube::api::ListParams;
use kube::{Api, Client};
use serde::Serialize;

use crate::dispatcher::{delete_run, list_pods, wait_pods_gone};
use crate::error::{Error, Result};
use crate::job::{RUN_LABEL, all_runs_selector, run_selector};

/// A run as the cluster shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunStatus {
    /// The run id (label `cnd.dev/run-id`).
    pub run_id: String,
    /// Its Job, if it still exists.
    pub job: Option<String>,
    /// `running`, `complete`, `failed (Reason)`, or `no job` for pods left without one.
    pub state: String,
    /// Workers (the Job's completions).
    pub workers: Option<i32>,
    /// Search difficulty and mode, from the Job's annotations.
    pub difficulty: Option<String>,
    /// `first` or `lowest`.
    pub mode: Option<String>,
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
            "{:<12} {:<16} {:<22} workers {:<4} d {:<6} {:<7} pods: {}",
            self.run_id,
            self.job.as_deref().unwrap_or("-"),
            self.state,
            self.workers.map(|w| w.to_string()).unwrap_or_else(|| "-".into()),
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
    let pods = list_pods(client, namespace, &selector).await?;
    let mut runs: BTreeMap<String, RunStatus> = BTreeMap::new();
    for job in &jobs {
        let Some(id) = job.metadata.labels.as_ref().and_then(|l| l.get(RUN_LABEL)) else { continue };
        let annotations = job.metadata.annotations.clone().unwrap_or_default();
        runs.insert(
            id.clone(),
            RunStatus {
                run_id: id.clone(),
                job: job.metadata.name.clone(),
                state: job_state(job),
                workers: job.spec.as_ref().and_then(|s| s.completions),
                difficulty: annotations.get("cnd.dev/difficulty").cloned(),
                mode: annotations.get("cnd.dev/mode").cloned(),
                created: job.metadata.creation_timestamp.as_ref().map(|t| t.0.to_string()),
                pods: BTreeMap::new(),
                sqs_queue_url: sqs_env(job, "CND_SQS_QUEUE_URL"),
                sqs_endpoint_url: sqs_env(job, "CND_SQS_ENDPOINT_URL"),
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
    let mut list: Vec<RunStatus> = runs.into_values().collect();
    list.sort_by(|a, b| a.created.cmp(&b.created).then(a.run_id.cmp(&b.run_id)));
    Ok(list)
}

/// Deletes the Jobs of `run` (or of every cnd run in `namespace`) with background
/// propagation and waits, at most `timeout`, until their pods are gone. Returns the Jobs
/// deleted.
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
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client, namespace);
    wait_pods_gone(pods, &selector, namespace, timeout).await?;
    Ok(deleted)
}
