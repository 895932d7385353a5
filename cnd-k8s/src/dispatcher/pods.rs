//! What the run's pods say: the progress line's pods by phase, each terminated container's
//! verdict (its exit code as [`Exit`], its termination message as a [`WorkerReport`]), and
//! the Job's end.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use cnd_core::{DispatchError, Exit, HashRate, ReportOutcome, WorkerReport};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;

use super::faults::PodStart;
use super::{Ctx, JobEnd, PODS, Run, WorkerClock, short};
use crate::error::Error;
use crate::job::{CONTAINER, parse_indexes, run_selector};

/// The annotation (and, from 1.28, label) that carries a pod's completion index.
const INDEX_KEY: &str = "batch.kubernetes.io/job-completion-index";

/// What the progress line shows: pods by phase and why some are pending.
#[derive(Debug, Default)]
pub(super) struct Live {
    pub(super) pods: BTreeMap<String, PodView>,
    /// Hashes of the pods that ended (pods report only when they end).
    pub(super) hashes: u64,
    pub(super) planned_rate: Option<f64>,
    /// The Job's state: `created`, `complete`, `failed (Reason)`, ...
    pub(super) job: Option<String>,
    /// Since when pods wait for a node with none scheduled, and `--pending-timeout`.
    pub(super) pending: Option<(Instant, Duration)>,
    /// The run's chunks (the Job's completions), and those done: a pod's verdict read, or
    /// the Job's `completedIndexes` / `failedIndexes`.
    pub(super) chunks: u32,
    pub(super) done: BTreeSet<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct PodView {
    phase: String,
    /// Why it is not running yet: `Unschedulable`, `ImagePullBackOff`, ...
    waiting: Option<String>,
}

impl Live {
    /// The progress line's detail: pods by phase, why some wait, the plan, the Job.
    pub(super) fn detail(&self) -> String {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for p in self.pods.values() {
            *counts.entry(p.phase.as_str()).or_default() += 1;
            if let Some(w) = &p.waiting {
                *reasons.entry(w.as_str()).or_default() += 1;
            }
        }
        let n = |phase: &str| counts.get(phase).copied().unwrap_or(0);
        let mut s = String::new();
        if self.chunks > 0 {
            let done = self.done.len() as u32;
            let running = (n("Running") as u32).min(self.chunks - done.min(self.chunks));
            let pending = self.chunks.saturating_sub(done + running);
            s.push_str(&format!("chunks: {done} done, {running} running, {pending} pending · "));
        }
        s.push_str(&format!("pods: {} running, {} pending", n("Running"), n("Pending")));
        if !reasons.is_empty() {
            let why: Vec<String> = reasons
                .iter()
                .map(|(r, c)| {
                    if *r == "Unschedulable" {
                        let clock = self.pending.map(|(since, limit)| {
                            format!(" {} of --pending-timeout {}", short(since.elapsed()), short(limit))
                        });
                        format!("{c} Unschedulable: waiting for the autoscaler{}", clock.unwrap_or_default())
                    } else {
                        format!("{c} {r}")
                    }
                })
                .collect();
            s.push_str(&format!(" ({})", why.join(", ")));
        }
        s.push_str(&format!(", {} succeeded, {} failed", n("Succeeded"), n("Failed")));
        if let Some(r) = self.planned_rate {
            s.push_str(&format!(" · planned {}", HashRate(r)));
        }
        if let Some(j) = &self.job {
            s.push_str(&format!(" · job {j}"));
        }
        s
    }
}

impl Ctx {
    /// Reads a pod: progress, and, once its container has terminated, its verdict.
    pub(super) fn on_pod(&self, run: &mut Run, pod: &Pod) -> Result<(), DispatchError> {
        let name = pod.metadata.name.clone().unwrap_or_default();
        // A resumed run's label also matches the pods of its earlier Job, still going away:
        // their completion indexes are another Job's.
        if let (Some(uid), Some(owners)) = (&run.job_uid, &pod.metadata.owner_references)
            && !owners.is_empty()
            && !owners.iter().any(|o| &o.uid == uid)
        {
            return Ok(());
        }
        run.timeline.pod(&name, pod, Instant::now());
        let status = pod.status.as_ref();
        let phase = status.and_then(|s| s.phase.clone()).unwrap_or_else(|| "Pending".into());
        let unschedulable =
            status.and_then(|s| s.conditions.as_ref()).into_iter().flatten().find(|c| {
                c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable")
            });
        let container = status
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.name == CONTAINER).or(cs.first()));
        let waiting = container.and_then(|c| c.state.as_ref()?.waiting.as_ref());
        let reason = waiting.and_then(|w| w.reason.clone());
        let view = PodView {
            phase: phase.clone(),
            waiting: if unschedulable.is_some() {
                Some("Unschedulable".into())
            } else {
                reason.clone().filter(|_| phase == "Pending")
            },
        };
        // Pods that cannot start: at once for what no retry fixes, else on the clock.
        let start = PodStart {
            unschedulable: unschedulable.map(|c| c.message.clone().unwrap_or_default()),
            waiting: reason.map(|r| (r, waiting.and_then(|w| w.message.clone()).unwrap_or_default())),
            image: container.map(|c| c.image.clone()).unwrap_or_else(|| self.settings.job.image.clone()),
        };
        let fault = run.faults.pod(&name, start, Instant::now());
        {
            let mut live = self.live.lock().expect("progress lock");
            live.pods.insert(name.clone(), view);
            live.pending = run.faults.pending_since().map(|since| (since, self.settings.pending_timeout));
        }
        fault?;

        let Some(terminated) = container.and_then(|c| c.state.as_ref()?.terminated.as_ref()) else {
            return Ok(());
        };
        let uid = pod.metadata.uid.clone().unwrap_or_else(|| name.clone());
        if !run.read.insert(uid) {
            return Ok(());
        }
        // A resumed Job's completion index is a position in its chunk list.
        let index = pod_index(pod).map(|i| run.chunk_of(i));
        let message = terminated.message.as_deref().unwrap_or("").trim();
        let mut parsed = if message.is_empty() { None } else { WorkerReport::from_json(message).ok() };
        if let (Some(r), Some(i)) = (parsed.as_mut(), index)
            && r.worker != i
        {
            // The pod's completion index is what the Job controller gave it: it wins.
            tracing::warn!(pod = %name, reported = r.worker, index = i, "a report names another worker index");
            r.worker = i;
        }
        let code = terminated.exit_code;
        let exit = Exit::from_code(code);
        {
            let mut live = self.live.lock().expect("progress lock");
            if let Some(r) = &parsed {
                live.hashes += r.hashes;
            }
            if let (Some(Exit::Found | Exit::Exhausted), Some(i)) = (exit, index) {
                live.done.insert(i);
            }
        }
        tracing::debug!(pod = %name, ?index, code, "worker terminated");
        if let (Some(Exit::Found | Exit::Exhausted), Some(r)) = (exit, &parsed) {
            run.timeline.phases(&name, pod, WorkerClock::of_message(message), r.elapsed_s).log(&name);
        }
        if !self.reports_from_pods && matches!(exit, Some(Exit::Found | Exit::Exhausted)) {
            // Its report travels through the result channel: awaited there.
            if let Some(i) = index {
                run.awaited.insert(i);
            }
            return Ok(());
        }
        match (exit, parsed) {
            (Some(Exit::Found), Some(mut r)) if matches!(r.outcome, ReportOutcome::Found { .. }) => {
                r.source.get_or_insert(name.clone());
                run.queue.push_back(r);
            }
            (Some(Exit::Exhausted), report) => {
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
            (Some(Exit::Usage), report) => {
                let why = match report.map(|r| r.outcome) {
                    Some(ReportOutcome::Failed { reason }) => reason,
                    _ if !message.is_empty() => message.to_string(),
                    _ => "no message".into(),
                };
                return Err(DispatchError::Invalid(format!(
                    "the worker in pod {name} rejected its input (exit {code}): {why}"
                )));
            }
            // Stopped by SIGTERM/SIGINT (the deadline, a deletion): not a verdict on its range.
            (Some(Exit::Stopped), _) => tracing::debug!(pod = %name, "worker stopped by a signal"),
            (Some(Exit::Found), _) => {
                tracing::warn!(pod = %name, "worker exited 0 without a golden-nonce report: ignored")
            }
            // A runtime error, a signal's 128 + n, or anything else: a crash, retried by the Job.
            (Some(Exit::Error) | None, _) => {
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

    /// Reads the Job's conditions: its end, if it ended.
    pub(super) fn on_job(&self, run: &mut Run, job: &Job) {
        let Some(status) = job.status.as_ref() else { return };
        {
            let mut live = self.live.lock().expect("progress lock");
            for set in [&status.completed_indexes, &status.failed_indexes].into_iter().flatten() {
                live.done.extend(parse_indexes(set).into_iter().map(|i| run.chunk_of(i)));
            }
        }
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
    pub(super) async fn flush(&self, run: &mut Run) -> Result<(), DispatchError> {
        let lp = ListParams::default().labels(&run_selector(&run.run_id));
        let pods = self.pods().list(&lp).await.map_err(|e| Error::api("list", PODS, &self.namespace, e))?;
        for pod in &pods.items {
            self.on_pod(run, pod)?;
        }
        Ok(())
    }
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
            "pods: 1 running, 1 pending (1 Unschedulable: waiting for the autoscaler), 0 succeeded, 1 failed · planned 2.50 MH/s"
        );
    }

    #[test]
    fn progress_detail_counts_chunks_done_running_and_pending() {
        let mut l = Live { chunks: 8, done: BTreeSet::from([1, 2, 5]), ..Default::default() };
        for (name, phase) in [("a", "Running"), ("b", "Running"), ("c", "Succeeded")] {
            l.pods.insert(name.into(), PodView { phase: phase.into(), waiting: None });
        }
        assert!(l.detail().starts_with("chunks: 3 done, 2 running, 3 pending · pods: 2 running"), "{}", l.detail());
        l.done.extend(0..8);
        assert!(l.detail().starts_with("chunks: 8 done, 0 running, 0 pending"), "{}", l.detail());
    }
}
