//! Results over SQS (feature `sqs`): the coordinator's per-run or shared queue, a worker's
//! channel to publish on, and the removal of queues that runs left behind.

use std::time::Duration;

pub use imp::{cleanup_queues, coordinator_channel, delete_run_queue, receive_status, worker_channel};

/// A run's queue that `cnd sqs cleanup` removed (or found).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunQueueInfo {
    /// The queue's URL.
    pub queue_url: String,
    /// Its run (tag `cnd.dev/run-id`).
    pub run_id: String,
    /// When it was created (tag `cnd.dev/created-at`), RFC 3339.
    pub created_at: Option<String>,
}

/// What `cnd sqs cleanup` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QueueCleanupReport {
    /// The SQS endpoint looked at.
    pub endpoint: String,
    /// The runs' queues deleted.
    pub deleted_queues: Vec<RunQueueInfo>,
    /// Runs' queues left because they are younger than `--older-than` or of another run.
    pub kept_queues: usize,
    /// Queues that could not be deleted, with the reason.
    pub failed: Vec<String>,
}

/// Which runs' queues `cnd sqs cleanup` removes.
#[derive(Debug, Clone, Default)]
#[cfg_attr(not(feature = "sqs"), allow(dead_code))] // read only by the sqs build
pub struct QueueFilter {
    /// Only this run's.
    pub run: Option<String>,
    /// Only those created longer ago than this.
    pub older_than: Option<Duration>,
}

#[cfg(feature = "sqs")]
use enabled as imp;

#[cfg(not(feature = "sqs"))]
use disabled as imp;

#[cfg(feature = "sqs")]
mod enabled {
    use std::sync::Mutex;
    use std::time::SystemTime;

    use cnd_core::{OpenChannel, RemoteChannel, ResultChannel, Results, RunSpec, SqsTarget};
    use cnd_sqs::{QueueJanitor, ReceiveHealth, RunQueue, SqsResultChannel, SqsSettings};
    use futures::FutureExt as _;

    use super::{QueueCleanupReport, QueueFilter, RunQueueInfo};

    fn info(q: &RunQueue) -> RunQueueInfo {
        RunQueueInfo { queue_url: q.queue_url.clone(), run_id: q.run_id.clone(), created_at: q.created_at_rfc3339() }
    }

    /// Deletes the runs' queues (tagged `cnd.dev/run-id`) at the endpoint that `filter`
    /// selects. A queue whose creation time is unknown is not "older than" anything.
    pub async fn cleanup_queues(
        endpoint_url: Option<String>,
        region: Option<String>,
        filter: &QueueFilter,
    ) -> anyhow::Result<QueueCleanupReport> {
        let settings = SqsSettings::new(endpoint_url).with_region(region);
        let janitor = QueueJanitor::connect(&settings).await?;
        let now = SystemTime::now();
        let mut report = QueueCleanupReport {
            endpoint: janitor.endpoint().to_string(),
            deleted_queues: Vec::new(),
            kept_queues: 0,
            failed: Vec::new(),
        };
        for q in janitor.run_queues().await? {
            let run_matches = filter.run.as_ref().is_none_or(|r| *r == q.run_id);
            let old_enough = filter
                .older_than
                .is_none_or(|age| q.created_at.is_some_and(|t| now.duration_since(t).unwrap_or_default() >= age));
            if !(run_matches && old_enough) {
                report.kept_queues += 1;
                continue;
            }
            match janitor.delete(&q).await {
                Ok(()) => report.deleted_queues.push(info(&q)),
                Err(e) => report.failed.push(format!("{}: {:#}", q.queue_url, anyhow::Error::new(e))),
            }
        }
        Ok(report)
    }

    /// For `cnd k8s cleanup`: deletes the run's own queue named by a Job's pod environment
    /// (`CND_SQS_QUEUE_URL`, `CND_SQS_ENDPOINT_URL`), if it is still there and tagged with
    /// this run (a shared queue is never deleted). Returns the deleted queue.
    pub async fn delete_run_queue(target: &SqsTarget, run_id: &str) -> anyhow::Result<Option<RunQueueInfo>> {
        let Some(url) = target.queue_url.as_deref() else { return Ok(None) };
        let janitor = QueueJanitor::connect(&SqsSettings::new(target.endpoint_url.clone())).await?;
        match janitor.run_queue_at(url).await? {
            Some(q) if q.run_id == run_id => {
                janitor.delete(&q).await?;
                Ok(Some(info(&q)))
            }
            _ => Ok(None),
        }
    }

    /// How receiving goes on the coordinator's channel (one run per process at a time), for
    /// the progress line.
    static RECEIVING: Mutex<Option<ReceiveHealth>> = Mutex::new(None);

    /// While the run's channel fails to receive (and retries), what the progress line says of
    /// it: "SQS receive failing, retry 3: ...". `None` when receiving works or there is no
    /// channel.
    pub fn receive_status() -> Option<String> {
        RECEIVING.lock().expect("receive health lock").as_ref()?.describe()
    }

    /// Opens the run's SQS channel when the run starts (a queue per run, or the shared
    /// queue of `target`), and tells the workers where to publish.
    pub fn coordinator_channel(target: &SqsTarget) -> anyhow::Result<OpenChannel> {
        let settings = SqsSettings::from(target);
        Ok(Box::new(move |spec: RunSpec| {
            async move {
                let channel = SqsResultChannel::create(&spec.run_id, &settings).await?;
                *RECEIVING.lock().expect("receive health lock") = Some(channel.health());
                tracing::info!(
                    queue_url = channel.queue_url(),
                    endpoint = channel.endpoint(),
                    "reports travel through SQS"
                );
                let results = Results::Sqs(settings.target(channel.queue_url()));
                Ok(RemoteChannel { channel: Box::new(channel), results })
            }
            .boxed()
        }))
    }

    /// A worker's channel for publishing its report.
    pub async fn worker_channel(run_id: &str, target: &SqsTarget) -> anyhow::Result<Box<dyn ResultChannel>> {
        Ok(Box::new(SqsResultChannel::connect(run_id, &SqsSettings::from(target)).await?))
    }
}

#[cfg(not(feature = "sqs"))]
mod disabled {
    use cnd_core::{OpenChannel, ResultChannel, SqsTarget};

    use super::{QueueCleanupReport, QueueFilter, RunQueueInfo};
    use crate::error::usage;

    fn disabled() -> anyhow::Error {
        usage(
            "--results sqs / CND_RESULTS=sqs: this cnd was built without the `sqs` feature (allowed: stdout, termination-log)",
        )
    }

    /// Always an error: SQS is not built in.
    pub fn coordinator_channel(_target: &SqsTarget) -> anyhow::Result<OpenChannel> {
        Err(disabled())
    }

    /// Never anything to say: there is no SQS channel.
    pub fn receive_status() -> Option<String> {
        None
    }

    /// Always an error: SQS is not built in.
    pub async fn cleanup_queues(
        _: Option<String>,
        _: Option<String>,
        _: &QueueFilter,
    ) -> anyhow::Result<QueueCleanupReport> {
        Err(usage("cnd sqs: this cnd was built without the `sqs` feature"))
    }

    /// Always an error: SQS is not built in.
    pub async fn delete_run_queue(_: &SqsTarget, _: &str) -> anyhow::Result<Option<RunQueueInfo>> {
        Err(usage("removing a run's SQS queue: this cnd was built without the `sqs` feature"))
    }

    /// Always an error: SQS is not built in.
    pub async fn worker_channel(_run_id: &str, _target: &SqsTarget) -> anyhow::Result<Box<dyn ResultChannel>> {
        Err(disabled())
    }
}
