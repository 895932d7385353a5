//! `cnd plan`: the smallest worker count for a deadline and a confidence.

use std::time::Duration;

use cnd_core::{Exit, Kernel, Problem};

use crate::flags::{Output, PlanArgs};
use crate::planning::PlanRequest;

/// Runs `cnd plan`.
pub fn run(args: PlanArgs, out: Output) -> anyhow::Result<Exit> {
    let problem = Problem::try_from(&args.problem)?;
    let request = PlanRequest {
        auto: &args.auto,
        kernel: Kernel::from_env()?,
        cpus: args.cpu,
        default_startup: Duration::ZERO,
        cap: None,
        unit: "worker",
        tell: !out.quiet,
    };
    let report = request.plan(&problem)?;
    if out.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", report.human());
    }
    Ok(Exit::Found)
}
