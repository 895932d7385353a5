//! `cnd`: find golden nonces on every core, on worker processes, or on Kubernetes.
//!
//! A thin binary, in layers that only import downwards: `flags` (clap) → `config` (one
//! validated run configuration, and the one place a backend is built, through `backends`
//! and `planning`) → `commands` (one module per command) → here, which maps every outcome
//! to the exit codes of DESIGN.md (0 found · 1 runtime error · 2 bad input · 3 range
//! exhausted · 4 timed out or cancelled). `output`, `signals` and `error` serve them all.

mod backends;
mod commands;
mod config;
mod error;
mod flags;
mod history;
mod output;
mod planning;
mod signals;

use std::process::ExitCode;

use cnd_core::Exit;
use flags::Command;

fn main() -> ExitCode {
    let cli = match flags::parse() {
        Ok(cli) => cli,
        Err(exit) => return exit.into(),
    };
    let out = cli.output();
    init_tracing(out.verbose, out.quiet);
    let result = match cli.command {
        None => run_async(commands::search::run(cli.search)),
        Some(Command::Verify(a)) => commands::verify::run(a, out),
        Some(Command::Worker(_)) => commands::worker::run(),
        Some(Command::Plan(a)) => commands::plan::run(a, out),
        Some(Command::Bench(a)) => commands::bench::run(*a, out),
        Some(Command::K8s(a)) => run_async(commands::k8s::run(a, out)),
        Some(Command::Sqs(a)) => run_async(commands::sqs::run(a, out)),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(err) => error::report(&err).into(),
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
