//! The top-level search: flags → [`RunConfig`] → a dispatcher → the coordinator → the report.

use cnd_core::{Exit, coordinate};

use crate::config::RunConfig;
use crate::flags::SearchArgs;
use crate::output::{ProgressDisplay, SearchReport};
use crate::signals::stop_signal;

/// Runs a search and returns its exit code.
pub async fn run(args: SearchArgs) -> anyhow::Result<Exit> {
    let config = RunConfig::try_from(&args)?;
    if let (Some(plan), false) = (&config.plan, args.quiet) {
        eprintln!("{}", plan.human());
    }
    let mut dispatcher = config.dispatcher().await?;
    let spec = &config.spec;
    tracing::info!(run_id = %spec.run_id, backend = dispatcher.name(), workers = spec.workers, kernel = %config.kernel, "starting");
    let progress = ProgressDisplay::start(spec, dispatcher.progress_probe(), args.quiet || args.json);
    let result = coordinate(dispatcher.as_mut(), spec, stop_signal(spec.timeout)).await;
    progress.finish();
    let report = SearchReport::new(spec, &result?, dispatcher.name(), config.kernel.name());
    report.print(args.json);
    Ok(report.exit())
}
