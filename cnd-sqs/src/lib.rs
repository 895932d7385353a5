//! The CND SQS result channel: worker reports over AWS SQS.
//!
//! [`SqsResultChannel`] implements [`cnd_core::ResultChannel`] on an SQS queue. A message is
//! one report: its body is the report's JSON line, and its message attribute `run_id` names
//! the run, so that a receiver can leave other runs' messages alone without parsing them.
//!
//! - **A queue per run** (the default): the coordinator creates `cnd-<run id>` with
//!   [`SqsResultChannel::create`] and deletes it with [`ResultChannel::close`] on every exit
//!   path. Workers publish to it with [`SqsResultChannel::connect`].
//!   The queue is tagged at creation with [`RUN_TAG`] (`cnd.dev/run-id`) and [`CREATED_TAG`]
//!   (`cnd.dev/created-at`), so that the queue of a coordinator killed with SIGKILL can be
//!   found and removed ([`QueueJanitor`], `cnd sqs cleanup`, `cnd k8s cleanup`).
//! - **A shared queue** ([`SqsSettings::queue_url`]): messages of other runs, and messages
//!   that are no report, are never deleted: they are hidden for a few seconds, longer each
//!   time this run passes over them again (4 s, 8 s, ... up to 60 s), so that the ten a poll
//!   returns cannot hide this run's own reports behind them for ever; this run's reports are
//!   deleted once read. Closing leaves the queue in place.
//!
//! Receiving long-polls (up to 20 s a call, shortened near the caller's deadline): there is
//! no sleep loop. Every call has a connect timeout, an attempt timeout and at most three
//! attempts. Opening a channel fails at once, naming the endpoint and the cause. A receive
//! that fails while a run is going (no connection, a timeout, a 5xx, throttling) is retried
//! with a capped backoff (1 s doubling up to 10 s) for as long as the run lasts, each failure
//! a warning naming the error and the try ([`ReceiveHealth`]); a refusal (the queue is gone,
//! access denied) ends the run.
//!
//! TLS: rustls with the platform's roots, read from `SSL_CERT_FILE` if it is set (a private
//! CA), else from the system bundle (`/etc/ssl/certs/ca-certificates.crt`, which the worker
//! image carries). A set `SSL_CERT_FILE` that holds no certificate is an error.
//!
//! Credentials and region come from the standard AWS chain (environment, profile, web
//! identity, container and instance metadata); the endpoint from
//! [`SqsSettings::endpoint_url`] or `AWS_ENDPOINT_URL`, for a local SQS-protocol server.
#![deny(missing_docs)]

mod channel;
mod cleanup;
mod retry;
mod settings;

pub use channel::{RUN_ID_ATTRIBUTE, SqsResultChannel, queue_name};
pub use cleanup::{CREATED_TAG, QueueJanitor, RUN_TAG, RunQueue};
pub use retry::ReceiveHealth;
pub use settings::SqsSettings;
