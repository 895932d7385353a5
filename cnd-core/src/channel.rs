//! A run's remote result channel as the backends share it: the coordinator's end of a
//! channel (e.g. an SQS queue) and where its workers publish.

use std::fmt;

use futures::future::BoxFuture;

use crate::contract::Results;
use crate::dispatch::{ResultChannel, RunSpec};

/// A run's remote result channel, opened by the coordinator, and where its workers publish
/// (e.g. `Results::Sqs` with the run's queue URL).
pub struct RemoteChannel {
    /// The coordinator's end: receives the run's reports; closed (and its queue removed) by
    /// the dispatcher's shutdown.
    pub channel: Box<dyn ResultChannel>,
    /// What every worker of the run is told (`CND_RESULTS` and its settings).
    pub results: Results,
}

impl fmt::Debug for RemoteChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteChannel").field("results", &self.results).finish_non_exhaustive()
    }
}

/// Opens a run's remote result channel when the run starts.
pub type OpenChannel = Box<dyn FnOnce(RunSpec) -> BoxFuture<'static, crate::Result<RemoteChannel>> + Send>;
