//! `--results` and the SQS flags: how workers report back (owned by the SQS/worker work).

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

/// Result-channel flags.
#[derive(Debug, Clone, Args)]
pub struct ResultsArgs {
    /// How workers report back [default: stdout for processes, termination-log for k8s].
    #[arg(long, env = "CND_RESULTS", value_enum)]
    pub results: Option<ResultsMode>,

    /// A shared SQS queue to use instead of a queue per run.
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
