//! One module per command: each takes its flags, builds what it needs through
//! [`crate::config`] and the library crates, prints, and returns the exit code.

pub mod bench;
pub mod k8s;
pub mod plan;
pub mod search;
pub mod sqs;
pub mod verify;
pub mod worker;
