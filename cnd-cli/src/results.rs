//! `--results` and the SQS flags: how workers report back.
//!
//! The SQS channel lives behind the `sqs` feature. With it off, the `sqs` functions below
//! answer with one clear error instead of `cfg`s scattered through the CLI (ripgrep's
//! enabled/disabled pattern).

use clap::{Args, ValueEnum};

/// How workers report their results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResultsMode {
    /// One JSON line on the worker's stdout.
    Stdout,
    /// The Kubernetes termination message (`/dev/termination-log`).
    TerminationLog,
    /// An AWS SQS queue.
    Sqs,
}

impl std::str::FromStr for ResultsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "stdout" => Ok(ResultsMode::Stdout),
            "termination-log" => Ok(ResultsMode::TerminationLog),
            "sqs" => Ok(ResultsMode::Sqs),
            _ => Err(format!("'{s}' is not a result channel (allowed: stdout, termination-log, sqs)")),
        }
    }
}

/// Result-channel flags.
#[derive(Debug, Clone, Args)]
pub struct ResultsArgs {
    /// How workers report back [default: stdout for processes, termination-log for k8s].
    #[arg(long, env = "CND_RESULTS", value_enum)]
    pub results: Option<ResultsMode>,

    /// A shared SQS queue to use instead of a queue per run (other runs' messages are left
    /// in it).
    #[arg(long, env = "CND_SQS_QUEUE_URL", value_name = "URL")]
    pub sqs_queue_url: Option<String>,

    /// SQS endpoint override (e.g. a local SQS-protocol server); also AWS_ENDPOINT_URL.
    #[arg(long, env = "CND_SQS_ENDPOINT_URL", value_name = "URL")]
    pub sqs_endpoint_url: Option<String>,
}

impl ResultsArgs {
    /// True when results travel through something other than the process itself.
    pub fn uses_remote_channel(&self) -> bool {
        matches!(self.results, Some(ResultsMode::Sqs) | Some(ResultsMode::TerminationLog))
    }
}

pub use sqs::{coordinator_channel, worker_channel};

#[cfg(feature = "sqs")]
mod sqs {
    use cnd_core::{ResultChannel, RunSpec};
    use cnd_local::{OpenChannel, RemoteChannel};
    use cnd_sqs::{SqsResultChannel, SqsSettings};

    use super::ResultsArgs;

    type Opening = std::pin::Pin<Box<dyn Future<Output = cnd_core::Result<RemoteChannel>> + Send>>;

    /// Opens the run's SQS channel when the run starts (a queue per run, or the shared
    /// queue), and tells the workers where to publish.
    pub fn coordinator_channel(args: &ResultsArgs) -> anyhow::Result<OpenChannel> {
        let settings = SqsSettings::new(args.sqs_endpoint_url.clone()).with_queue_url(args.sqs_queue_url.clone());
        Ok(Box::new(move |spec: RunSpec| -> Opening {
            Box::pin(async move {
                let channel = SqsResultChannel::create(&spec.run_id, &settings).await?;
                let mut worker_env = vec![
                    ("CND_RESULTS".to_string(), "sqs".to_string()),
                    ("CND_SQS_QUEUE_URL".to_string(), channel.queue_url().to_string()),
                ];
                if let Some(url) = settings.effective_endpoint_url() {
                    worker_env.push(("CND_SQS_ENDPOINT_URL".to_string(), url));
                }
                tracing::info!(
                    queue_url = channel.queue_url(),
                    endpoint = channel.endpoint(),
                    "reports travel through SQS"
                );
                Ok(RemoteChannel { channel: Box::new(channel), worker_env })
            })
        }))
    }

    /// A worker's channel for publishing its report.
    pub async fn worker_channel(
        run_id: &str,
        queue_url: Option<String>,
        endpoint_url: Option<String>,
    ) -> anyhow::Result<Box<dyn ResultChannel>> {
        let settings = SqsSettings::new(endpoint_url).with_queue_url(queue_url);
        Ok(Box::new(SqsResultChannel::connect(run_id, &settings).await?))
    }
}

#[cfg(not(feature = "sqs"))]
mod sqs {
    use cnd_core::ResultChannel;
    use cnd_local::OpenChannel;

    use super::ResultsArgs;
    use crate::exit::usage;

    fn disabled() -> anyhow::Error {
        usage(
            "--results sqs / CND_RESULTS=sqs: this cnd was built without the `sqs` feature (allowed: stdout, termination-log)",
        )
    }

    /// Always an error: SQS is not built in.
    pub fn coordinator_channel(_args: &ResultsArgs) -> anyhow::Result<OpenChannel> {
        Err(disabled())
    }

    /// Always an error: SQS is not built in.
    pub async fn worker_channel(
        _run_id: &str,
        _queue_url: Option<String>,
        _endpoint_url: Option<String>,
    ) -> anyhow::Result<Box<dyn ResultChannel>> {
        Err(disabled())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip_through_their_names() {
        assert_eq!("stdout".parse::<ResultsMode>().unwrap(), ResultsMode::Stdout);
        assert_eq!("Termination-Log".parse::<ResultsMode>().unwrap(), ResultsMode::TerminationLog);
        assert_eq!(" sqs ".parse::<ResultsMode>().unwrap(), ResultsMode::Sqs);
        let e = "kafka".parse::<ResultsMode>().unwrap_err();
        assert!(e.contains("allowed: stdout, termination-log, sqs"), "{e}");
    }
}
