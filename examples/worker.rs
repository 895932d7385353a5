//! Run one worker of a run from Rust code, as `cnd worker` does in a pod or a worker process,
//! but with its [`WorkerSpec`] built in code instead of read from the env contract:
//!
//! ```text
//! cargo run -p cnd --example worker
//! ```
//!
//! Worker 1 of 4 searches its quarter of [0, 2^20) for the lowest nonce with 16 leading zero
//! bits, prints its one JSON report line (what a coordinator reads), then its exit; the
//! example exits with the worker's code (0 found, 3 exhausted, 4 stopped by Ctrl-C).

use std::process::ExitCode;

use cnd::{Mode, NonceRange, Problem, RunSpec, WorkerSpec};

fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let problem = Problem::text("COMSM0010cloud", 16)?.with_range(NonceRange::new(0, 1 << 20)?)?;
    let run = RunSpec::new(problem, 4, Mode::Lowest);
    // Threads: the CPUs this process may use; kernel: the fastest this CPU runs; results:
    // stdout only, so no channel to open.
    let spec = WorkerSpec { index: Some(1), ..WorkerSpec::for_run(&run) };
    println!("worker 1 of 4 searches {}", spec.partition().ok_or("no partition")?);
    // The worker waits for signals and its search thread on a runtime; it hashes on threads.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let exit = runtime.block_on(cnd::local::run_worker(spec, None))?;
    println!("exit {} ({exit:?})", exit.code());
    Ok(exit.into())
}
