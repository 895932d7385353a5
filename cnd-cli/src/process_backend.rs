//! `--backend process`: N `cnd worker` child processes of this binary, each under the worker
//! env contract (a local stand-in for N pods), reporting on their stdout or through SQS.

use cnd_core::{Dispatcher, Kernel, RunSpec};
use cnd_local::ProcessDispatcher;

use crate::args::SearchArgs;
use crate::exit::usage;
use crate::results::{ResultsMode, coordinator_channel};

/// The process dispatcher for this search.
pub async fn dispatcher(args: &SearchArgs, _spec: &RunSpec, kernel: Kernel) -> anyhow::Result<Box<dyn Dispatcher>> {
    let exe = std::env::current_exe().map_err(|e| anyhow::anyhow!("find this program to start its workers: {e}"))?;
    let mut dispatcher = ProcessDispatcher::new(exe, ["worker"]).kernel(kernel);
    match args.results.results.unwrap_or(ResultsMode::Stdout) {
        ResultsMode::Stdout => {}
        ResultsMode::Sqs => dispatcher = dispatcher.remote_channel(coordinator_channel(&args.results)?),
        ResultsMode::TerminationLog => {
            return Err(usage("--results: termination-log is for pods (allowed with --backend process: stdout, sqs)"));
        }
    }
    Ok(Box::new(dispatcher))
}
