//! `--backend process`: N `cnd worker` child processes (owned by the worker/SQS work).

use cnd_core::{Dispatcher, Kernel, RunSpec};

use crate::args::SearchArgs;
use crate::exit::usage;

/// The process dispatcher for this search.
pub async fn dispatcher(_args: &SearchArgs, _spec: &RunSpec, _kernel: Kernel) -> anyhow::Result<Box<dyn Dispatcher>> {
    Err(usage("--backend process: not built yet (allowed today: local)"))
}
