//! `cnd worker`: the entrypoint of a pod or a local worker process (owned by the worker/SQS work).

use clap::Args;

use crate::args::Globals;
use crate::exit::{Exit, usage};

/// Run as a worker: reads the CND_* environment contract, searches its partition with every
/// thread, prints one JSON report line, exits 0/1/2/3/4.
#[derive(Debug, Args)]
pub struct WorkerArgs {}

/// Runs `cnd worker`.
pub fn run(_args: WorkerArgs, _globals: &Globals) -> anyhow::Result<Exit> {
    Err(usage("cnd worker: not built yet"))
}
