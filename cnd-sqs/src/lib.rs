//! The CND SQS result channel: worker reports over AWS SQS.
//!
//! [`SqsResultChannel`] implements [`cnd_core::ResultChannel`] on an SQS queue. A message is
//! one report: its body is the report's JSON line, and its message attribute `run_id` names
//! the run, so that a receiver can leave other runs' messages alone without parsing them.
//!
//! - **A queue per run** (the default): the coordinator creates `cnd-<run id>` with
//!   [`SqsResultChannel::create`] and deletes it with [`ResultChannel::close`] on every exit
//!   path. Workers publish to it with [`SqsResultChannel::connect`].
//! - **A shared queue** ([`SqsSettings::queue_url`]): messages of other runs are made visible
//!   again at once (`ChangeMessageVisibility 0`) and never deleted; a message that is not a
//!   report is logged once and left alone; this run's reports are deleted once read. Closing
//!   leaves the queue in place.
//!
//! Receiving long-polls (up to 20 s a call, shortened near the caller's deadline): there is
//! no sleep loop. Every call has a connect timeout, an attempt timeout and at most three
//! attempts, so an unreachable endpoint or refused credentials end in an error that names the
//! endpoint and the cause, never in an endless retry.
//!
//! Credentials and region come from the standard AWS chain (environment, profile, web
//! identity, container and instance metadata); the endpoint from
//! [`SqsSettings::endpoint_url`] or `AWS_ENDPOINT_URL`, for a local SQS-protocol server.
#![deny(missing_docs)]

mod channel;
mod settings;

pub use channel::{RUN_ID_ATTRIBUTE, SqsResultChannel, queue_name};
pub use settings::SqsSettings;
