//! Reading a run's events, one at a time, until a report comes or the run cannot go on: the
//! pods, the Job and its events, the result channel's reports and the clock's ticks.

use std::time::Instant;

use cnd_core::{DispatchError, WorkerReport};
use futures::StreamExt;
use kube::runtime::watcher::Event;

use super::faults::{Limits, on_job_event};
use super::{Ctx, Ev, JOBS, JobEnd, PODS, Run, fatal_watch_error, short};

impl Ctx {
    pub(super) async fn next_report_of(&self, run: &mut Run) -> Result<Option<WorkerReport>, DispatchError> {
        loop {
            if let Some(r) = run.queue.pop_front() {
                return Ok(Some(r));
            }
            if let Some(end) = run.end.clone() {
                if !run.flushed {
                    run.flushed = true;
                    self.flush(run).await?;
                    if !self.reports_from_pods {
                        // The Job's end can come before the reports its pods sent: drain them.
                        run.drain_until = Some(Instant::now() + self.settings.drain_timeout);
                    }
                    continue;
                }
                if self.drained(run) {
                    let (wait_until, error) = self.ended(run, end);
                    if let Some(t) = wait_until {
                        tokio::time::sleep_until(t.into()).await;
                    }
                    return Err(error);
                }
            }
            let Some(ev) = run.events.next().await else {
                return Ok(None);
            };
            match ev {
                Ev::Pod(Ok(Event::Apply(pod) | Event::InitApply(pod))) => self.on_pod(run, &pod)?,
                Ev::Pod(Ok(Event::Delete(pod))) => {
                    self.on_pod(run, &pod)?;
                    if let Some(n) = &pod.metadata.name {
                        run.faults.gone(n);
                        let mut live = self.live.lock().expect("progress lock");
                        live.pods.remove(n);
                        live.pending = run.faults.pending_since().map(|s| (s, self.settings.pending_timeout));
                    }
                }
                Ev::Pod(Ok(Event::Init)) => self.live.lock().expect("progress lock").pods.clear(),
                Ev::Pod(Ok(Event::InitDone))
                | Ev::Job(Ok(Event::Init | Event::InitDone))
                | Ev::JobEvent(Ok(Event::Init | Event::InitDone | Event::Delete(_))) => {}
                Ev::Job(Ok(Event::Apply(job) | Event::InitApply(job))) => self.on_job(run, &job),
                Ev::Job(Ok(Event::Delete(_))) => {
                    self.set_job_state("deleted");
                    run.end = Some(JobEnd::Deleted);
                }
                Ev::JobEvent(Ok(Event::Apply(e) | Event::InitApply(e))) => {
                    on_job_event(&e, &run.job_name, run.job_uid.as_deref())?
                }
                // The event stream ends itself on an error retrying cannot fix (see
                // `until_refused`): its errors are never the run's.
                Ev::JobEvent(Err(e)) => tracing::debug!("watching the Job's events: {e}"),
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
                    run.received.insert(r.worker);
                    run.queue.push_back(r);
                }
                Ev::Report(Ok(None)) => return Ok(None),
                Ev::Report(Err(e)) => return Err(e),
                // Once the Job ended, its pods' waits no longer matter.
                Ev::Tick if run.end.is_some() => {}
                Ev::Tick => {
                    let limits =
                        Limits { pending: self.settings.pending_timeout, pull: self.settings.image_pull_grace };
                    run.faults.check(Instant::now(), limits, run.partitions.len())?;
                }
            }
        }
    }

    /// Whether every report the ended Job's pods sent through the result channel came (or
    /// the wait for them is over). Without a channel the termination messages were read.
    fn drained(&self, run: &Run) -> bool {
        let Some(until) = run.drain_until else { return true };
        let all_in = run.awaited.is_subset(&run.received);
        // A complete Job had a pod that succeeded: its report is due even if its pod was
        // not seen (a pod watch behind, a pod gone).
        let success_due = run.end == Some(JobEnd::Complete) && run.received.is_empty();
        if (all_in && !success_due) || Instant::now() >= until {
            if !all_in || success_due {
                tracing::warn!(
                    waited = %short(self.settings.drain_timeout),
                    "the Job ended; not every report came through the result channel"
                );
            }
            return true;
        }
        false
    }

    /// The error for a Job that ended without deciding the run, and until when to hold it
    /// back.
    fn ended(&self, run: &Run, end: JobEnd) -> (Option<Instant>, DispatchError) {
        let job = &run.job_name;
        let error = match end {
            JobEnd::Deadline => {
                let Some(timeout) = run.timeout else {
                    // No --timeout: the deadline is --job-deadline's, and the run timed out.
                    let deadline = self.settings.job.active_deadline_seconds(None);
                    return (
                        None,
                        DispatchError::TimedOut(format!(
                            "the Job {job} reached its deadline (activeDeadlineSeconds {deadline}, --job-deadline)"
                        )),
                    );
                };
                // activeDeadlineSeconds is the run's timeout, and the coordinator's timer
                // started before the Job: it reports the time-out (exit 4) in a moment.
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
