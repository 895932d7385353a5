//! What a failed SQS call means (its one-line description, a missing queue, a failure that
//! may pass), and how long to wait before the next receive.
//!
//! A coordinator must not give up on a run because SQS (or the network to it) was away for a
//! minute: the workers' reports wait in the queue. Every failure that may pass (no connection,
//! a timeout, a garbled answer, a 5xx, throttling) is retried for as long as the run lives,
//! with a capped exponential backoff, and each one is said in a warning that names the error
//! and the try. What cannot pass (the queue is gone, access denied, bad credentials) ends the
//! run at once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use cnd_core::DispatchError;

/// The first pause after a failed receive (the SDK has already tried three times).
const BACKOFF_START: Duration = Duration::from_secs(1);

/// The longest pause between two receives that failed: a recovered endpoint is used again
/// within this long.
pub(crate) const BACKOFF_CAP: Duration = Duration::from_secs(10);

/// The pause after the `failures`-th failure in a row (1-based): 1 s, 2 s, 4 s, 8 s, then
/// [`BACKOFF_CAP`].
pub(crate) fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    BACKOFF_START.saturating_mul(1 << doublings).min(BACKOFF_CAP)
}

/// True if a failed call may succeed when tried again later: the request did not get an
/// answer (no connection, a timeout, an unreadable answer), or the service said it is busy
/// or broken (5xx, throttling). A refusal (4xx: no such queue, access denied, bad
/// signature) is final.
pub(crate) fn is_transient<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    match e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            status >= 500
                || status == 429
                || matches!(
                    s.err().code(),
                    Some("ThrottlingException" | "RequestThrottled" | "ServiceUnavailable" | "InternalError")
                )
        }
        _ => false,
    }
}

/// How receiving goes: failures in a row and the last error, shared with whoever shows the
/// run's progress ([`crate::SqsResultChannel::health`]).
#[derive(Debug, Clone, Default)]
pub struct ReceiveHealth(Arc<Mutex<HealthState>>);

#[derive(Debug, Default)]
struct HealthState {
    failures: u32,
    total_failures: u64,
    last_error: Option<String>,
}

impl ReceiveHealth {
    /// Receives that failed in a row, up to now (0 once one succeeds again).
    pub fn failures(&self) -> u32 {
        self.0.lock().expect("health lock").failures
    }

    /// Receives that failed since the channel was opened.
    pub fn total_failures(&self) -> u64 {
        self.0.lock().expect("health lock").total_failures
    }

    /// The error of the last failed receive while failures go on; `None` when receiving works.
    pub fn last_error(&self) -> Option<String> {
        let s = self.0.lock().expect("health lock");
        (s.failures > 0).then(|| s.last_error.clone()).flatten()
    }

    /// A line for a progress display while receiving fails, e.g. "SQS unreachable, retry 3:
    /// ...": `None` when receiving works.
    pub fn describe(&self) -> Option<String> {
        let s = self.0.lock().expect("health lock");
        (s.failures > 0)
            .then(|| format!("SQS receive failing, retry {}: {}", s.failures, s.last_error.as_deref().unwrap_or("?")))
    }

    /// Records a failure; returns how many in a row.
    pub(crate) fn failed(&self, error: String) -> u32 {
        let mut s = self.0.lock().expect("health lock");
        s.failures += 1;
        s.total_failures += 1;
        s.last_error = Some(error);
        s.failures
    }

    /// Records a success; returns how many failures in a row it ended.
    pub(crate) fn succeeded(&self) -> u32 {
        let mut s = self.0.lock().expect("health lock");
        std::mem::take(&mut s.failures)
    }
}

/// An SDK error as a backend error: the operation and endpoint, then the whole cause chain.
pub(crate) fn sdk_error<E, R>(operation: &str, endpoint: &str, e: aws_sdk_sqs::error::SdkError<E, R>) -> DispatchError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    DispatchError::backend(format!("SQS {operation} at {endpoint}"), cause_chain(&e))
}

/// An error and its sources on one line (`a: b: c`), skipping a source whose text the
/// previous one already shows.
pub(crate) fn cause_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut last = out.clone();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !last.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        last = text;
        source = s.source();
    }
    out
}

/// True if the call failed because the queue does not exist.
pub(crate) fn is_missing_queue<E: aws_sdk_sqs::error::ProvideErrorMetadata, R>(
    e: &aws_sdk_sqs::error::SdkError<E, R>,
) -> bool {
    e.as_service_error().and_then(|s| s.code()).is_some_and(|c| {
        matches!(c, "AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist" | "NonExistentQueue")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_stays_at_the_cap() {
        let pauses: Vec<u64> = (1..=7).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 10, 10, 10]);
        assert_eq!(backoff(u32::MAX), BACKOFF_CAP);
    }

    #[test]
    fn health_counts_failures_in_a_row() {
        let h = ReceiveHealth::default();
        assert_eq!(h.describe(), None);
        assert_eq!(h.failed("connection refused".into()), 1);
        assert_eq!(h.failed("connection refused".into()), 2);
        assert_eq!(h.describe().as_deref(), Some("SQS receive failing, retry 2: connection refused"));
        assert_eq!(h.succeeded(), 2);
        assert_eq!((h.failures(), h.total_failures(), h.last_error()), (0, 2, None));
    }
}
