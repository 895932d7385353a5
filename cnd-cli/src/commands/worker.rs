//! `cnd worker`: the entrypoint of a pod or a local worker process. The contract is read by
//! `cnd_core::WorkerSpec`, the work is done by `cnd_local::run_worker`; here the report's
//! channel is opened.

use std::time::Duration;

use cnd_core::{Exit, ResultChannel, Results, WorkerSpec};

/// Runs `cnd worker`.
pub fn run() -> anyhow::Result<Exit> {
    let spec = WorkerSpec::from_process_env()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let exit = runtime.block_on(async {
        // Connect before searching: an unreachable endpoint fails now, not after the search.
        let channel = channel(&spec).await?;
        anyhow::Ok(cnd_local::run_worker(spec, channel).await?)
    });
    runtime.shutdown_timeout(Duration::from_millis(500));
    exit
}

/// The channel a report is delivered on besides stdout.
async fn channel(spec: &WorkerSpec) -> anyhow::Result<Option<Box<dyn ResultChannel>>> {
    Ok(match &spec.results {
        Results::Stdout => None,
        Results::TerminationLog(path) => Some(crate::backends::k8s::termination_log(path)?),
        Results::Sqs(target) => Some(crate::backends::sqs::worker_channel(&spec.run_id, target).await?),
    })
}
