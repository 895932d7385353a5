//! Long runs: the run's record kept as chunks complete, a run left to the cluster
//! (`detach`), and a run followed again from its record (`attach`).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::Instant;

use cnd_core::{DispatchError, NonceRange, ReportOutcome, RunSpec, WorkerReport};

use super::faults::Faults;
use super::timeline::Timeline;
use super::{JOBS, JobEnd, K8sDispatcher, Run};
use crate::error::Error;
use crate::job::job_name;
use crate::record::{RecordWriter, RunRecord, delete_record};
use crate::resume::chunk_list_of;

impl K8sDispatcher {
    /// Follows the run of `record` instead of creating one: `start` adopts its Job (which
    /// must not be created again), reads the verdicts the record holds and those of the
    /// Job's pods, and `shutdown` removes the Job, its pods and the record, as for a run
    /// started here. The [`RunSpec`] to coordinate with is [`RunRecord::spec`].
    pub fn attach(mut self, record: RunRecord) -> Self {
        self.attach = Some(record);
        self.ctx.settings.record = true;
        self
    }

    /// Leaves the started run to the cluster: `shutdown` will delete nothing (the Job, its
    /// pods and its record stay until `cnd k8s attach` or `cnd k8s cleanup`).
    pub fn detach(&mut self) {
        self.maybe_created = None;
        self.record = None;
        self.run = None;
    }

    /// The run's state from `start` on: one place for a created and an adopted Job.
    pub(super) fn begin(
        &mut self,
        spec: &RunSpec,
        job_uid: Option<String>,
        partitions: Vec<NonceRange>,
        timeline: Timeline,
    ) -> Vec<NonceRange> {
        let name = job_name(&spec.run_id);
        self.ctx.live.lock().expect("progress lock").chunks = partitions.len() as u32;
        let events = self.stream_for(&spec.run_id, &name);
        self.run = Some(Run {
            run_id: spec.run_id.clone(),
            job_name: name,
            job_uid,
            partitions: partitions.clone(),
            started: Instant::now(),
            timeout: spec.timeout,
            events,
            queue: VecDeque::new(),
            read: HashSet::new(),
            crashes: HashMap::new(),
            end: None,
            flushed: false,
            faults: Faults::default(),
            awaited: BTreeSet::new(),
            received: BTreeSet::new(),
            drain_until: None,
            timeline,
            verdicts: BTreeSet::new(),
            chunk_list: None,
        });
        partitions
    }

    /// `start` for an attached run: the existing Job, and the record's verdicts first.
    pub(super) async fn adopt(&mut self, spec: &RunSpec, record: RunRecord) -> Result<Vec<NonceRange>, DispatchError> {
        let name = job_name(&record.run_id);
        let job = self.ctx.jobs().get_opt(&name).await.map_err(|e| Error::api("get", JOBS, &self.ctx.namespace, e))?;
        let partitions = record.chunks()?;
        let reports = record.reports()?;
        {
            let mut live = self.ctx.live.lock().expect("progress lock");
            live.done.extend(record.done.iter().copied());
        }
        // From here on, shutdown removes the Job (if any) and the record.
        self.maybe_created = Some(name.clone());
        let uid = job.as_ref().and_then(|j| j.metadata.uid.clone());
        self.record = Some(RecordWriter::start(self.ctx.client.clone(), &self.ctx.namespace, record));
        let partitions = self.begin(spec, uid, partitions, Timeline::new(Instant::now()));
        let run = self.run.as_mut().expect("begun");
        run.queue.extend(reports);
        run.chunk_list = job.as_ref().and_then(chunk_list_of);
        match &job {
            Some(job) => {
                tracing::info!(job = %name, namespace = %self.ctx.namespace, "attached to the Job");
                self.ctx.on_job(run, job);
            }
            None => {
                self.ctx.set_job_state("gone");
                run.end = Some(JobEnd::Failed {
                    reason: "Gone".into(),
                    message: format!(
                        "no Job {name} (deleted, or removed by its TTL); `cnd k8s resume {}` searches the chunks \
                         not yet done",
                        spec.run_id
                    ),
                });
            }
        }
        Ok(partitions)
    }

    /// The next report, once per chunk (an attached run may read a verdict from the record
    /// and again from the pod), noted in the record.
    pub(super) async fn next_verdict(&mut self) -> Result<Option<WorkerReport>, DispatchError> {
        let run = self.run.as_mut().ok_or_else(|| DispatchError::Incomplete("the run was not started".into()))?;
        loop {
            let next = self.ctx.next_report_of(run).await;
            // A Job that failed or was deleted under the run leaves chunks to resume: the
            // record stays (the run's other objects go), and the error says how to go on.
            // Only when the pods report in their termination messages: `resume` and `attach`
            // read those, and a result channel (SQS) is gone with the run.
            let resumable = self.ctx.reports_from_pods
                && match &run.end {
                    Some(JobEnd::Deleted | JobEnd::Failed { .. }) => true,
                    Some(JobEnd::Deadline) => run.timeout.is_none(),
                    _ => false,
                };
            let r = match next {
                Err(e) if resumable && self.record.is_some() => {
                    // The record keeps every verdict read: written before the error goes up.
                    if let Some(writer) = self.record.take() {
                        writer.flush().await;
                    }
                    return Err(DispatchError::Incomplete(format!(
                        "{e}; the run's record is kept: `cnd k8s resume {}` searches the chunks not yet done",
                        run.run_id
                    )));
                }
                next => next?,
            };
            let Some(r) = r else { return Ok(None) };
            let verdict = matches!(r.outcome, ReportOutcome::Found { .. } | ReportOutcome::Exhausted);
            if verdict && !run.verdicts.insert(r.worker) {
                tracing::debug!(chunk = r.worker, "a verdict read twice: once is enough");
                continue;
            }
            if let Some(writer) = &self.record {
                writer.note(&r);
            }
            return Ok(Some(r));
        }
    }

    /// Deletes the run's record, if this dispatcher keeps one.
    pub(super) async fn remove_record(&mut self) -> Result<(), DispatchError> {
        if let Some(writer) = self.record.take() {
            let run_id = writer.run_id().to_string();
            // No write after the deletion: the writer stops first.
            drop(writer);
            delete_record(self.ctx.client.clone(), &self.ctx.namespace, &run_id).await?;
            tracing::info!(run = %run_id, "deleted the run's record");
        }
        Ok(())
    }
}

impl Run {
    /// The chunk a pod of this completion index searches.
    pub(super) fn chunk_of(&self, index: u32) -> u32 {
        match &self.chunk_list {
            Some(list) => list.get(index as usize).copied().unwrap_or(index),
            None => index,
        }
    }
}
