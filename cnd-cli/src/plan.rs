//! `cnd plan` and `--workers auto` (owned by the planner work).

use std::time::Duration;

use clap::Args;
use cnd_core::Problem;

use crate::args::{Globals, SearchArgs, parse_duration};
use crate::exit::{Exit, usage};

/// How many workers for a deadline and a confidence.
#[derive(Debug, Args)]
pub struct PlanArgs {}

/// Flags of `--workers auto` on a search.
#[derive(Debug, Clone, Args)]
pub struct AutoArgs {
    /// With --workers auto: the time by which a golden nonce should be found.
    #[arg(long, env = "CND_DEADLINE", value_name = "DURATION", value_parser = parse_duration)]
    pub deadline: Option<Duration>,

    /// With --workers auto: the probability of meeting the deadline, in (0, 1).
    #[arg(long, env = "CND_CONFIDENCE", value_name = "P")]
    pub confidence: Option<f64>,
}

/// Runs `cnd plan`.
pub fn run(_args: PlanArgs, _globals: &Globals) -> anyhow::Result<Exit> {
    Err(usage("cnd plan: not built yet"))
}

/// The planned worker count for `--workers auto`.
pub async fn auto_workers(_args: &SearchArgs, _problem: &Problem) -> anyhow::Result<u32> {
    Err(usage("--workers auto: not built yet (allowed today: a count)"))
}
