//! [`LocalResultChannel`]: reports within one process.

use std::time::Instant;

use async_trait::async_trait;
use cnd_core::{ResultChannel, WorkerReport};
use tokio::sync::mpsc;

/// An in-process [`ResultChannel`]: publishers and the receiver share a channel; reports of
/// other runs are dropped with a warning.
#[derive(Debug)]
pub struct LocalResultChannel {
    run_id: String,
    tx: mpsc::UnboundedSender<WorkerReport>,
    rx: mpsc::UnboundedReceiver<WorkerReport>,
}

impl LocalResultChannel {
    /// A channel for the run `run_id`.
    pub fn new(run_id: impl Into<String>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self { run_id: run_id.into(), tx, rx }
    }
}

#[async_trait]
impl ResultChannel for LocalResultChannel {
    async fn publish(&self, report: &WorkerReport) -> cnd_core::Result<()> {
        self.tx
            .send(report.clone())
            .map_err(|e| cnd_core::DispatchError::backend("publish a report in process", e.to_string()))
    }

    async fn receive(&mut self, deadline: Option<Instant>) -> cnd_core::Result<Option<WorkerReport>> {
        loop {
            let next = match deadline {
                Some(d) => match tokio::time::timeout_at(d.into(), self.rx.recv()).await {
                    Ok(r) => r,
                    Err(_) => return Ok(None),
                },
                None => self.rx.recv().await,
            };
            match next {
                Some(r) if r.run_id == self.run_id => return Ok(Some(r)),
                Some(r) => tracing::warn!(run_id = %r.run_id, "dropping a report of another run"),
                None => return Ok(None),
            }
        }
    }

    async fn close(&mut self) -> cnd_core::Result<()> {
        self.rx.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cnd_core::{NonceRange, ReportOutcome};

    fn report(run: &str) -> WorkerReport {
        WorkerReport {
            run_id: run.into(),
            worker: 0,
            source: None,
            range: NonceRange::DEFAULT,
            hashes: 1,
            elapsed_s: 0.0,
            outcome: ReportOutcome::Exhausted,
        }
    }

    #[tokio::test]
    async fn receives_own_reports_only_and_honours_the_deadline() {
        let mut ch = LocalResultChannel::new("mine");
        ch.publish(&report("theirs")).await.unwrap();
        ch.publish(&report("mine")).await.unwrap();
        assert_eq!(ch.receive(None).await.unwrap().unwrap().run_id, "mine");
        let t = Instant::now();
        let deadline = t + std::time::Duration::from_millis(50);
        assert!(ch.receive(Some(deadline)).await.unwrap().is_none());
        assert!(t.elapsed() >= std::time::Duration::from_millis(45));
    }
}
