//! `cnd plan`: the smallest worker count for a deadline and a confidence. With `--backend
//! k8s`, the rate per pod and the start-up delay are the run history's medians for the
//! cluster's context when it has recent runs (see [`crate::history`]), and the plan says so.

use std::time::Duration;

use cnd_core::{Exit, Kernel, Problem};
use cnd_local::available_threads;

use crate::config::{K8S_DEFAULT_STARTUP, PROCESS_DEFAULT_STARTUP};
use crate::flags::{Backend, Output, PlanArgs};
use crate::planning::PlanRequest;

/// Runs `cnd plan`.
pub fn run(args: PlanArgs, out: Output) -> anyhow::Result<Exit> {
    let problem = Problem::try_from(&args.problem)?;
    let (unit, default_startup, cap, cpus) = match args.backend {
        None => ("worker", Duration::ZERO, None, args.cpu),
        Some(Backend::Local) => ("thread", Duration::ZERO, Some(available_threads()), 1.0),
        Some(Backend::Process) => ("process", PROCESS_DEFAULT_STARTUP, Some(available_threads()), 1.0),
        // A pod hashes on its whole CPUs, or on the fraction it is given (one thread).
        Some(Backend::K8s) => {
            ("pod", K8S_DEFAULT_STARTUP, None, if args.cpu < 1.0 { args.cpu } else { args.cpu.floor() })
        }
    };
    let cluster = match args.backend {
        Some(Backend::K8s) => crate::backends::cluster::identify(args.context.as_deref()).map(|(key, _)| key),
        _ => None,
    };
    if let (Some(Backend::K8s), None, false) = (args.backend, &cluster, out.quiet) {
        let which = args.context.as_deref().map_or("the current context".to_string(), |c| format!("context {c}"));
        eprintln!("note: no kubeconfig names {which}: the plan uses no run history");
    }
    let request = PlanRequest {
        auto: &args.auto,
        kernel: Kernel::from_env()?,
        cpus,
        default_startup,
        cap,
        unit,
        tell: !out.quiet,
        cluster: cluster.as_ref(),
    };
    let report = request.plan(&problem)?;
    if out.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", report.human());
    }
    Ok(Exit::Found)
}
