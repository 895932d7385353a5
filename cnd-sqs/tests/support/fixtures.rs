//! What both SQS test binaries need: dummy credentials set once, a report, a bare SDK client.

use std::sync::Once;

use cnd_core::{NonceRange, ReportOutcome, WorkerReport};

use crate::moto;

/// Dummy credentials for every client of this test binary, set once before any test reads
/// the environment (every test calls this first).
pub fn aws_env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (k, v) in moto::AWS_ENV {
            // SAFETY: every test calls this before anything reads the environment, and `Once`
            // blocks the other tests until it is done, so nothing reads it concurrently.
            unsafe { std::env::set_var(k, v) };
        }
        // SAFETY: as above.
        unsafe { std::env::remove_var("AWS_ENDPOINT_URL") };
    });
}

/// A report of `worker` in `run_id` over [0, 100).
pub fn report(run_id: &str, worker: u32, outcome: ReportOutcome) -> WorkerReport {
    WorkerReport {
        run_id: run_id.into(),
        worker,
        source: Some(format!("test worker {worker}")),
        range: NonceRange::new(0, 100).unwrap(),
        hashes: 100,
        elapsed_s: 0.01,
        outcome,
    }
}

/// An SDK client of `endpoint`, for what the tests do behind the channel's back.
pub async fn raw_client(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(endpoint).load().await;
    aws_sdk_sqs::Client::new(&config)
}
