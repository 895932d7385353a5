//! The backends as the CLI builds them. Each optional one (`k8s`, `sqs`) has an `enabled`
//! module behind its cargo feature and a `disabled` one that answers with one clear error,
//! as ripgrep does for its optional features, so no `cfg` leaks into the rest of the CLI.

pub mod cluster;
pub mod k8s;
pub mod sqs;
