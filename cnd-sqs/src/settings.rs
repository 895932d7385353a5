//! Where the queue is and how to reach it.

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sqs::config::Region;
use cnd_core::DispatchError;

/// The longest SQS long poll (the service's maximum wait time).
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(20);

/// How to reach SQS: an endpoint override and, optionally, a shared queue.
///
/// Credentials and region come from the standard AWS chain; `AWS_ENDPOINT_URL` (or
/// `AWS_ENDPOINT_URL_SQS`) is honoured when no endpoint is given here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SqsSettings {
    /// The SQS endpoint, e.g. `http://127.0.0.1:5000` for a local SQS-protocol server.
    pub endpoint_url: Option<String>,
    /// A shared queue to use instead of a queue per run.
    pub queue_url: Option<String>,
}

/// An SQS client and the endpoint it talks to, for messages.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    pub(crate) client: aws_sdk_sqs::Client,
    pub(crate) endpoint: String,
}

impl From<&cnd_core::SqsTarget> for SqsSettings {
    /// The settings of a worker contract's SQS target (`CND_SQS_QUEUE_URL`,
    /// `CND_SQS_ENDPOINT_URL`) or of the `--sqs-*` flags.
    fn from(target: &cnd_core::SqsTarget) -> Self {
        Self { endpoint_url: target.endpoint_url.clone(), queue_url: target.queue_url.clone() }
    }
}

impl SqsSettings {
    /// Where workers publish to reach a channel made with these settings: the queue and the
    /// effective endpoint.
    pub fn target(&self, queue_url: &str) -> cnd_core::SqsTarget {
        cnd_core::SqsTarget { queue_url: Some(queue_url.to_string()), endpoint_url: self.effective_endpoint_url() }
    }

    /// Settings for a per-run queue on this endpoint (or the default one).
    pub fn new(endpoint_url: Option<String>) -> Self {
        Self { endpoint_url, queue_url: None }
    }

    /// The same settings with a shared queue.
    pub fn with_queue_url(mut self, queue_url: Option<String>) -> Self {
        self.queue_url = queue_url;
        self
    }

    /// The endpoint override: these settings', else `AWS_ENDPOINT_URL_SQS`, else
    /// `AWS_ENDPOINT_URL`.
    pub fn effective_endpoint_url(&self) -> Option<String> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        self.endpoint_url
            .clone()
            .filter(|v| !v.trim().is_empty())
            .or_else(|| env("AWS_ENDPOINT_URL_SQS"))
            .or_else(|| env("AWS_ENDPOINT_URL"))
    }

    /// Loads the AWS configuration and builds a client with bounded timeouts and retries.
    pub(crate) async fn connect(&self) -> cnd_core::Result<Connection> {
        let endpoint_url = self.effective_endpoint_url();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            // A long poll takes up to 20 s; one attempt never hangs much longer.
            .operation_attempt_timeout(MAX_WAIT + Duration::from_secs(10))
            .operation_timeout(MAX_WAIT + Duration::from_secs(25))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(3));
        if let Some(url) = &endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        let shared = loader.load().await;
        let mut config = aws_sdk_sqs::config::Builder::from(&shared);
        let region = match shared.region() {
            Some(r) => r.clone(),
            // A local SQS-protocol server does not care which region signs the request.
            None if endpoint_url.is_some() => Region::from_static("us-east-1"),
            None => {
                return Err(DispatchError::Invalid(
                    "SQS: no AWS region configured (set AWS_REGION, or give --sqs-endpoint-url for a local server)"
                        .into(),
                ));
            }
        };
        config = config.region(region.clone());
        let endpoint = endpoint_url.unwrap_or_else(|| format!("https://sqs.{region}.amazonaws.com"));
        Ok(Connection { client: aws_sdk_sqs::Client::from_conf(config.build()), endpoint })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_endpoint_wins_and_blank_means_unset() {
        let s = SqsSettings::new(Some("http://127.0.0.1:1".into()));
        assert_eq!(s.effective_endpoint_url().as_deref(), Some("http://127.0.0.1:1"));
        let blank = SqsSettings::new(Some("  ".into()));
        // Falls through to the environment, which may or may not name one.
        assert_ne!(blank.effective_endpoint_url().as_deref(), Some("  "));
    }

    #[test]
    fn shared_queue_is_kept() {
        let s = SqsSettings::new(None).with_queue_url(Some("http://q".into()));
        assert_eq!(s.queue_url.as_deref(), Some("http://q"));
    }
}
