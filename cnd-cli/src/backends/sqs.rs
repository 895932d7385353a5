//! Results over SQS (feature `sqs`): the coordinator's per-run or shared queue, and a
//! worker's channel to publish on.

pub use imp::{coordinator_channel, worker_channel};

#[cfg(feature = "sqs")]
use enabled as imp;

#[cfg(not(feature = "sqs"))]
use disabled as imp;

#[cfg(feature = "sqs")]
mod enabled {
    use cnd_core::{OpenChannel, RemoteChannel, ResultChannel, Results, RunSpec, SqsTarget};
    use cnd_sqs::{SqsResultChannel, SqsSettings};
    use futures::FutureExt as _;

    /// Opens the run's SQS channel when the run starts (a queue per run, or the shared
    /// queue of `target`), and tells the workers where to publish.
    pub fn coordinator_channel(target: &SqsTarget) -> anyhow::Result<OpenChannel> {
        let settings = SqsSettings::from(target);
        Ok(Box::new(move |spec: RunSpec| {
            async move {
                let channel = SqsResultChannel::create(&spec.run_id, &settings).await?;
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

    /// Always an error: SQS is not built in.
    pub async fn worker_channel(_run_id: &str, _target: &SqsTarget) -> anyhow::Result<Box<dyn ResultChannel>> {
        Err(disabled())
    }
}
