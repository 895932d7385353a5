//! `cnd`: find golden nonces on every core, on worker processes, or on Kubernetes.
//!
//! A thin binary: clap flags are turned into validated `cnd-core` values, a backend is
//! chosen, and outcomes are mapped to the exit codes of DESIGN.md
//! (0 found · 1 runtime error · 2 bad input · 3 range exhausted · 4 timed out or cancelled).

mod args;
mod bench;
mod bench_kernels;
mod bench_scaling;
mod exit;
mod k8s_cmd;
mod output;
mod plan;
mod process_backend;
mod results;
mod search;
mod verify_cmd;
mod worker;

use std::process::ExitCode;

use args::Command;
use exit::Exit;

fn main() -> ExitCode {
    let cli = match args::parse() {
        Ok(cli) => cli,
        Err(exit) => return exit.into(),
    };
    let globals = cli.globals();
    init_tracing(globals.verbose, globals.quiet);
    let result = match cli.command {
        None => run_async(search::run(cli.search)),
        Some(Command::Verify(a)) => verify_cmd::run(a, &globals),
        Some(Command::Worker(a)) => worker::run(a, &globals),
        Some(Command::Plan(a)) => plan::run(a, &globals),
        Some(Command::Bench(a)) => bench::run(a, &globals),
        Some(Command::K8s(a)) => run_async(k8s_cmd::run(a, globals)),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(err) => exit::report_error(&err).into(),
    }
}

/// Runs an async command on a multi-threaded runtime (hashing never runs on it).
fn run_async<F: std::future::Future<Output = anyhow::Result<Exit>>>(f: F) -> anyhow::Result<Exit> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("cnd-async").enable_all().build()?;
    let result = runtime.block_on(f);
    // Nothing may outlive the run: give background tasks a moment, then drop them.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    result
}

fn init_tracing(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CND_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}
