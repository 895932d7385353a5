//! The top-level search: validated flags → a backend → the coordinator → the report.

use std::time::Duration;

use cnd_core::{Dispatcher, RunSpec, StopReason, coordinate};
use cnd_local::{LocalDispatcher, available_threads};

use crate::args::{Backend, SearchArgs, WorkersArg, parse_workers};
use crate::exit::{Exit, usage};
use crate::output::{ProgressDisplay, SearchReport};

/// Runs a search and returns its exit code.
pub async fn run(args: SearchArgs) -> anyhow::Result<Exit> {
    let problem = args.problem.problem()?;
    let kernel = args.kernel()?;
    let workers = match parse_workers(args.workers.as_deref())? {
        Some(WorkersArg::Count(n)) => n,
        Some(WorkersArg::Auto) => crate::plan::auto_workers(&args, &problem).await?,
        None => match args.backend {
            Backend::Local => available_threads(),
            _ => 2,
        },
    };
    let mut spec = RunSpec::new(problem, workers, args.mode.into());
    spec.timeout = args.timeout;

    let mut dispatcher: Box<dyn Dispatcher> = match args.backend {
        Backend::Local => {
            if args.results.uses_remote_channel() {
                return Err(usage(
                    "--results: the local backend reports in process (allowed with --backend local: stdout)",
                ));
            }
            Box::new(LocalDispatcher::new(kernel))
        }
        Backend::Process => crate::process_backend::dispatcher(&args, &spec, kernel).await?,
        Backend::K8s => crate::k8s_cmd::dispatcher(&args, &spec).await?,
    };
    tracing::info!(run_id = %spec.run_id, backend = dispatcher.name(), workers, kernel = %kernel, "starting");
    let progress = ProgressDisplay::start(&spec, dispatcher.progress_probe(), args.quiet || args.json);
    let result = coordinate(dispatcher.as_mut(), &spec, stop_signal(args.timeout)).await;
    progress.finish();
    let result = result?;
    let report = SearchReport::new(&spec, &result, dispatcher.name(), kernel.name());
    report.print(args.json);
    Ok(report.exit())
}

/// Resolves on the timeout, Ctrl-C (SIGINT) or SIGTERM.
pub async fn stop_signal(timeout: Option<Duration>) -> StopReason {
    let timer = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = timer => StopReason::TimedOut,
        _ = interrupted() => StopReason::Cancelled,
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
