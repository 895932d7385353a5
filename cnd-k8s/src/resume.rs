//! `cnd k8s resume`: a run whose Job failed (its deadline, too many retries, a lost node) or
//! was deleted goes on over the chunks not yet done, in a new Job whose pods read their chunk
//! from the contract's `CND_CHUNK_LIST` (completion index i searches the i-th chunk listed).

use std::collections::BTreeSet;
use std::time::Duration;

use cnd_core::{Exit, Mode, ReportOutcome, WorkerReport};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{EnvVar, Pod};
use kube::api::PostParams;
use kube::{Api, Client};

use crate::dispatcher::{delete_run, list_pods, wait_pods_gone};
use crate::error::{Error, Result};
use crate::job::{CONTAINER, format_indexes, job_name, run_selector};
use crate::record::{RunRecord, find_run, update_record};

/// The contract variable of a resumed run's chunks.
pub const CHUNK_LIST: &str = "CND_CHUNK_LIST";

/// The chunks a resumed run still has to search: those not done; in `lowest` mode only
/// those below the lowest chunk that found a nonce (the answer is there or below).
pub fn chunks_to_do(record: &RunRecord, chunks: u32, mode: Mode) -> BTreeSet<u32> {
    let below = match mode {
        Mode::Lowest => record.found.iter().map(|r| r.worker).min().unwrap_or(chunks),
        Mode::First if record.found.is_empty() => chunks,
        Mode::First => 0,
    };
    (0..below.min(chunks)).filter(|i| !record.done.contains(i)).collect()
}

/// The Job that resumes `record` over the chunks `todo`: the recorded Job with `completions`
/// the chunks left, at most as many pods as before, and `CND_CHUNK_LIST`.
pub fn render_resume_job(record: &RunRecord, todo: &BTreeSet<u32>) -> Result<Job> {
    let invalid = |m: &str| Error::Record { run_id: record.run_id.clone(), message: m.to_string() };
    let n = i32::try_from(todo.len()).map_err(|_| invalid("too many chunks"))?;
    if n == 0 {
        return Err(invalid("no chunk is left to search"));
    }
    let mut job = record.job.clone();
    job.status = None;
    let list = format_indexes(todo);
    job.metadata.annotations.get_or_insert_default().insert("cnd.dev/resumed-chunks".into(), list.clone());
    let spec = job.spec.as_mut().ok_or_else(|| invalid("the recorded Job has no spec"))?;
    spec.completions = Some(n);
    spec.parallelism = Some(spec.parallelism.unwrap_or(1).clamp(1, n));
    let pod = spec.template.spec.as_mut().ok_or_else(|| invalid("the recorded Job has no pod template"))?;
    let container = pod
        .containers
        .iter_mut()
        .find(|c| c.name == CONTAINER)
        .ok_or_else(|| invalid("the recorded Job has no worker container"))?;
    let env = container.env.get_or_insert_default();
    env.retain(|e| e.name != CHUNK_LIST);
    env.push(EnvVar { name: CHUNK_LIST.into(), value: Some(list), ..Default::default() });
    Ok(job)
}

/// The chunk list of a (resumed) Job's pods, if it has one: completion index i is chunk
/// `list[i]`.
pub(crate) fn chunk_list_of(job: &Job) -> Option<Vec<u32>> {
    let container = job.spec.as_ref()?.template.spec.as_ref()?.containers.iter().find(|c| c.name == CONTAINER)?;
    let value = container.env.as_ref()?.iter().find(|e| e.name == CHUNK_LIST)?.value.clone()?;
    Some(crate::job::parse_indexes(&value).into_iter().collect())
}

fn finished(job: &Job) -> bool {
    let conditions = job.status.as_ref().and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    conditions.iter().any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
}

/// Starts the new Job of a run that failed or was deleted, and returns its record, brought
/// up to date: the verdicts the old Job's pods left (read before the old Job is deleted)
/// are noted first, so that no chunk done runs again. A Job still running is refused
/// (`cnd k8s attach` follows it).
pub async fn resume(client: Client, namespace: &str, run_id: &str, cleanup_timeout: Duration) -> Result<RunRecord> {
    let gone = |m: String| Error::Record { run_id: run_id.to_string(), message: m };
    let mut record = find_run(client.clone(), namespace, run_id)
        .await?
        .ok_or_else(|| gone(format!("no record cnd-{run_id}-record in namespace {namespace} to resume from")))?;
    let name = job_name(run_id);
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let old = jobs.get_opt(&name).await.map_err(|e| Error::api("get", "jobs.batch", namespace, e))?;
    if let Some(job) = &old
        && !finished(job)
        && job.metadata.deletion_timestamp.is_none()
    {
        return Err(gone(format!("its Job {name} is still running: `cnd k8s attach {run_id}` follows it")));
    }
    // The old pods' verdicts: each report names its chunk (the worker's index).
    for pod in list_pods(client.clone(), namespace, &run_selector(run_id)).await? {
        let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.clone()).unwrap_or_default();
        let Some(t) = statuses.iter().find(|c| c.name == CONTAINER).and_then(|c| c.state.as_ref()?.terminated.clone())
        else {
            continue;
        };
        let Some(report) = t.message.as_deref().and_then(|m| WorkerReport::from_json(m.trim()).ok()) else { continue };
        let verdict = match Exit::from_code(t.exit_code) {
            Some(Exit::Found) => matches!(report.outcome, ReportOutcome::Found { .. }),
            Some(Exit::Exhausted) => matches!(report.outcome, ReportOutcome::Exhausted),
            _ => false,
        };
        if verdict && report.run_id == run_id {
            record.note(&report);
        }
    }
    update_record(client.clone(), namespace, &record).await?;
    // The old pods go first: the new Job's would share their label and their indexes.
    if old.is_some() {
        delete_run(client.clone(), namespace, &name, Some(run_id), cleanup_timeout).await?;
    } else {
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        wait_pods_gone(pods, &run_selector(run_id), namespace, cleanup_timeout).await?;
    }
    let spec = record.spec()?;
    let chunks = record.chunks()?.len() as u32;
    let todo = chunks_to_do(&record, chunks, spec.mode);
    if !todo.is_empty() {
        let job = render_resume_job(&record, &todo)?;
        jobs.create(&PostParams::default(), &job)
            .await
            .map_err(|e| Error::api("create", "jobs.batch", namespace, e))?;
        tracing::info!(job = %name, chunks = %format_indexes(&todo), "resumed the run in a new Job");
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use cnd_core::{NonceRange, Problem, RunSpec, WorkerSpec};

    use super::*;
    use crate::job::{JobSettings, KubeVersion, render_job};

    fn record(mode: Mode) -> RunRecord {
        let p = Problem::text("COMSM0010cloud", 8).unwrap().with_range(NonceRange::new(0, 800).unwrap()).unwrap();
        let mut spec = RunSpec::new(p, 2, mode);
        spec.run_id = "abc123".into();
        let job =
            render_job(&spec, &JobSettings { chunks: Some(8), ..Default::default() }, KubeVersion::LATEST).unwrap();
        RunRecord::new("abc123", &job)
    }

    fn report(worker: u32, found: bool) -> WorkerReport {
        let range = NonceRange::new(u64::from(worker) * 100, u64::from(worker) * 100 + 100).unwrap();
        let outcome = if found {
            ReportOutcome::Found { nonce: range.start + 7, digest: [0; 32] }
        } else {
            ReportOutcome::Exhausted
        };
        WorkerReport { run_id: "abc123".into(), worker, source: None, range, hashes: 1, elapsed_s: 0.1, outcome }
    }

    #[test]
    fn a_resumed_job_runs_only_the_chunks_not_done_below_the_best() {
        let mut r = record(Mode::Lowest);
        for (i, found) in [(1, false), (5, true), (6, false)] {
            r.note(&report(i, found));
        }
        let todo = chunks_to_do(&r, 8, Mode::Lowest);
        assert_eq!(todo, BTreeSet::from([0, 2, 3, 4]), "done chunks and those above the best are skipped");
        assert_eq!(chunks_to_do(&r, 8, Mode::First), BTreeSet::new(), "first mode has its answer");
        let job = render_resume_job(&r, &todo).unwrap();
        let js = job.spec.as_ref().unwrap();
        assert_eq!((js.completions, js.parallelism), (Some(4), Some(2)));
        assert_eq!(chunk_list_of(&job), Some(vec![0, 2, 3, 4]));
        // The pod of completion index 2 reads chunk 3 of 8 from the contract.
        let env = crate::record::pod_env(&job, 2).unwrap();
        let w = WorkerSpec::from_env(|k| env.get(k).cloned()).unwrap();
        assert_eq!((w.index, w.partition()), (Some(3), Some(NonceRange::new(300, 400).unwrap())));
        assert!(render_resume_job(&r, &BTreeSet::new()).is_err());
    }

    #[test]
    fn a_chunk_list_out_of_range_is_refused_by_the_worker() {
        let r = record(Mode::Lowest);
        let job = render_resume_job(&r, &BTreeSet::from([9])).unwrap();
        let env = crate::record::pod_env(&job, 0).unwrap();
        let e = WorkerSpec::from_env(|k| env.get(k).cloned()).unwrap_err().to_string();
        assert!(e.contains("CND_CHUNK_LIST"), "{e}");
    }
}
