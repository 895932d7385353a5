//! The CND SQS result channel (being built: see the SQS issue).
#![deny(missing_docs)]
