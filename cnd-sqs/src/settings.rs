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
    /// The AWS region [default: the standard chain's, `AWS_REGION`].
    pub region: Option<String>,
}

/// An SQS client and the endpoint it talks to, for messages.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    pub(crate) client: aws_sdk_sqs::Client,
    pub(crate) endpoint: String,
}

impl Connection {
    /// A per-call override for calls that do not long-poll (create, delete, tags): bounded
    /// to [`SHORT_CALL_TIMEOUT`] in all, so that a coordinator stopped while its queue is
    /// being created always learns the outcome in time to delete the queue.
    pub(crate) fn short_calls(&self) -> aws_sdk_sqs::config::Builder {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(8))
            .operation_timeout(SHORT_CALL_TIMEOUT)
            .build();
        aws_sdk_sqs::config::Builder::default().timeout_config(timeouts)
    }
}

/// The longest a call that does not long-poll may take, its retries included (less than the
/// 30 s a dispatcher's shutdown waits for a channel being opened).
pub(crate) const SHORT_CALL_TIMEOUT: Duration = Duration::from_secs(20);

impl From<&cnd_core::SqsTarget> for SqsSettings {
    /// The settings of a worker contract's SQS target (`CND_SQS_QUEUE_URL`,
    /// `CND_SQS_ENDPOINT_URL`) or of the `--sqs-*` flags.
    fn from(target: &cnd_core::SqsTarget) -> Self {
        Self { endpoint_url: target.endpoint_url.clone(), queue_url: target.queue_url.clone(), region: None }
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
        Self { endpoint_url, queue_url: None, region: None }
    }

    /// The same settings in this region (overrides `AWS_REGION`).
    pub fn with_region(mut self, region: Option<String>) -> Self {
        self.region = region.filter(|r| !r.trim().is_empty());
        self
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
        check_ca_file()?;
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
        if let Some(region) = &self.region {
            loader = loader.region(Region::new(region.clone()));
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

/// `SSL_CERT_FILE`, if set, must name a readable PEM file with at least one certificate: the
/// TLS client reads its trusted roots from that file alone (a private CA, or a bundle), and a
/// wrong path would otherwise only show as "invalid peer certificate" on the first call.
/// Without it, the roots come from the system's bundle (`/etc/ssl/certs/ca-certificates.crt`,
/// which the worker image carries).
fn check_ca_file() -> cnd_core::Result<()> {
    let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) else { return Ok(()) };
    let shown = std::path::Path::new(&path).display().to_string();
    match std::fs::read(&path) {
        Ok(pem) if pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") => Ok(()),
        Ok(_) => Err(DispatchError::Invalid(format!(
            "SSL_CERT_FILE={shown}: no PEM certificate in it (allowed: a file of -----BEGIN CERTIFICATE----- blocks)"
        ))),
        Err(e) => Err(DispatchError::Invalid(format!("SSL_CERT_FILE={shown}: cannot read it: {e}"))),
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
