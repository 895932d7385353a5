//! The worker's end of a pod's termination message: the report goes to a file that the
//! kubelet copies into the container's status, where the dispatcher reads it.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use async_trait::async_trait;
use cnd_core::{DispatchError, ResultChannel, WorkerReport};

/// A [`ResultChannel`] that writes a worker's report to its termination log
/// (`terminationMessagePath`, by default [`cnd_core::DEFAULT_TERMINATION_LOG`]). It only
/// publishes: the coordinator reads the message from the pod's status, not from this file.
///
/// Beside the report's fields, the message carries the worker's clock: `worker_started_at`
/// (when this log was opened, first thing in the worker) and `written_at` (unix seconds),
/// from which the coordinator's `-v` timeline tells the worker's start-up and the time the
/// kubelet took to pass the message on. Readers of the report ignore them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminationLog {
    path: PathBuf,
    opened: SystemTime,
}

impl TerminationLog {
    /// The termination log at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), opened: SystemTime::now() }
    }

    /// The message: the report's JSON object with the worker's clock added.
    fn message(&self, report: &WorkerReport) -> String {
        let unix = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        let mut object = serde_json::to_value(report).expect("a report always serialises");
        if let Some(fields) = object.as_object_mut() {
            fields.insert("worker_started_at".into(), unix(self.opened).into());
            fields.insert("written_at".into(), unix(SystemTime::now()).into());
        }
        object.to_string()
    }

    /// Where the report goes.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[async_trait]
impl ResultChannel for TerminationLog {
    /// Writes the report as one JSON line, replacing what the file held: a pod has one
    /// termination message. The write is a few hundred bytes to a local file, done in place.
    async fn publish(&self, report: &WorkerReport) -> cnd_core::Result<()> {
        std::fs::write(&self.path, self.message(report))
            .map_err(|e| DispatchError::backend(format!("write the termination log {}", self.path.display()), e))
    }

    /// Always `None`: a pod's termination message is read from the pod's status by the
    /// dispatcher.
    async fn receive(&mut self, _deadline: Option<Instant>) -> cnd_core::Result<Option<WorkerReport>> {
        Ok(None)
    }

    /// Nothing to remove: the file belongs to the kubelet.
    async fn close(&mut self) -> cnd_core::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use cnd_core::{NonceRange, ReportOutcome};

    use super::*;

    fn report(outcome: ReportOutcome) -> WorkerReport {
        WorkerReport {
            run_id: "r1".into(),
            worker: 2,
            source: Some("cnd-r1-2-abcde".into()),
            range: NonceRange::new(10, 20).unwrap(),
            hashes: 10,
            elapsed_s: 0.25,
            outcome,
        }
    }

    #[tokio::test]
    async fn publish_writes_the_report_as_one_line_and_receive_reads_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("termination-log");
        std::fs::write(&path, "an older message that is much longer than the report").unwrap();
        let mut log = TerminationLog::new(&path);
        let found = report(ReportOutcome::Found { nonce: 12, digest: [7; 32] });
        log.publish(&found).await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains('\n') && !text.contains("older"), "one line, the old message gone: {text}");
        assert_eq!(WorkerReport::from_json(&text).unwrap(), found, "the message is the report");
        let clock = crate::dispatcher::WorkerClock::of_message(&text);
        let (started, written) = (clock.worker_started_at.unwrap(), clock.written_at.unwrap());
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!(started <= written && written <= now && now - started < 60.0, "{clock:?}");
        assert_eq!(log.receive(None).await.unwrap(), None);
        log.close().await.unwrap();
        assert!(path.exists(), "closing leaves the kubelet's file alone");
    }

    #[tokio::test]
    async fn a_failed_write_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no-such-dir").join("termination-log");
        let e = TerminationLog::new(&path).publish(&report(ReportOutcome::Exhausted)).await.unwrap_err();
        assert_eq!(e.to_string(), format!("write the termination log {}", path.display()));
        assert!(std::error::Error::source(&e).is_some(), "the I/O error is the source: {e:?}");
    }
}
