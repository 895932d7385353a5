//! Raw command-line flags (clap derive), as a person types them. Nothing here searches:
//! [`crate::config`] turns them into one validated run configuration.
//!
//! Every flag also reads an environment variable `CND_<FLAG>`.

mod commands;
mod problem;
mod search;
mod values;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use cnd_core::Exit;
pub use commands::{
    AttachArgs, BenchArgs, K8sArgs, K8sCommand, ManifestArgs, PlanArgs, SqsArgs, SqsCommand, VerifyArgs, WorkerArgs,
};
pub use search::{AutoArgs, Backend, ClusterArgs, K8sRunArgs, KernelArgs, ModeArg, ResultsArgs, RunArgs, SearchArgs};
#[cfg(feature = "k8s")]
pub use values::Chunks;
pub use values::{Workers, check_workers};

/// Find golden nonces: SHA-256(SHA-256(block ++ nonce)) with at least D leading zero bits,
/// on every core of this machine, on worker processes, or as pods of a Kubernetes Job.
///
/// Exit codes: 0 found · 1 runtime error · 2 bad input · 3 range exhausted (no golden
/// nonce) · 4 timed out or cancelled.
#[derive(Debug, Parser)]
#[command(name = "cnd", version, about, long_about, max_term_width = 100)]
#[command(
    after_help = "Examples:\n  cnd -d 24                       search [0, 2^32) on all cores\n  cnd -d 28 --mode lowest --json  the smallest golden nonce, as JSON\n  cnd verify -d 24 --nonce 12345  check a claimed nonce\n  cnd bench                       hash rate of every kernel"
)]
pub struct Cli {
    /// A command; without one, cnd searches.
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub search: SearchArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a claimed nonce against the reference SHA-256.
    Verify(VerifyArgs),
    /// Run as a worker (a pod or a local worker process): reads the CND_* env contract.
    Worker(WorkerArgs),
    /// How many workers for a deadline and a confidence.
    Plan(PlanArgs),
    /// Kernel hash rates, calibration, and scaling over 1..N workers.
    Bench(Box<BenchArgs>),
    /// Kubernetes: render the Job manifest, inspect or clean up runs.
    K8s(K8sArgs),
    /// SQS: remove the queues that runs left behind.
    Sqs(SqsArgs),
}

/// How every command prints (`--json`, `-q`, `-v`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Output {
    /// Print JSON.
    pub json: bool,
    /// Print only the result.
    pub quiet: bool,
    /// Verbosity.
    pub verbose: u8,
}

impl Cli {
    /// How to print.
    pub fn output(&self) -> Output {
        Output { json: self.search.json, quiet: self.search.quiet, verbose: self.search.verbose }
    }
}

/// Parses the command line; a usage error is printed as one line and becomes exit 2.
pub fn parse() -> Result<Cli, Exit> {
    let mut matches = command().try_get_matches().map_err(print_clap_error)?;
    Cli::from_arg_matches_mut(&mut matches).map_err(print_clap_error)
}

/// The command line's definition, where a negative number is always a flag's value: `-d -1`
/// is then refused by `-d`'s own parser, naming the flag and its range, instead of
/// "unexpected argument '-1'". (No flag of cnd is a digit, so nothing is lost.)
pub fn command() -> clap::Command {
    fn negatives(command: clap::Command) -> clap::Command {
        command
            .mut_args(|a| if a.get_action().takes_values() { a.allow_negative_numbers(true) } else { a })
            .mut_subcommands(negatives)
    }
    negatives(Cli::command())
}

/// Help and version go to stdout (exit 0); errors become one line on stderr (exit 2).
fn print_clap_error(e: clap::Error) -> Exit {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            return Exit::Found;
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return Exit::Usage;
        }
        _ => {}
    }
    let rendered = e.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid usage").trim().to_string();
    let first = first.strip_prefix("error: ").unwrap_or(&first).to_string();
    let allowed = match e.get(ContextKind::ValidValue) {
        Some(ContextValue::Strings(v)) => format!(" (allowed: {})", v.join(", ")),
        _ => String::new(),
    };
    let suggested = match e.get(ContextKind::SuggestedArg) {
        Some(ContextValue::String(s)) => format!(" (did you mean {s}?)"),
        _ => String::new(),
    };
    eprintln!("error: {first}{allowed}{suggested}; see cnd --help");
    Exit::Usage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_app() {
        command().debug_assert();
    }

    /// `-d -1` and the like reach the flag's parser, which names the flag (it was
    /// "unexpected argument '-1'").
    #[test]
    fn a_negative_number_is_a_value_of_its_flag() {
        let parse = |args: &[&str]| {
            let mut m = command().try_get_matches_from(std::iter::once("cnd").chain(args.iter().copied()))?;
            Cli::from_arg_matches_mut(&mut m)
        };
        for (args, flag) in [
            (&["-d", "-1"][..], "-d"),
            (&["-d", "1", "--start", "-1"], "--start"),
            (&["-d", "1", "--end", "-5"], "--end"),
            (&["-d", "1", "--workers", "-2"], "--workers"),
            (&["-d", "1", "--max-workers", "-2"], "--max-workers"),
            (&["verify", "-d", "1", "--nonce", "-5"], "--nonce"),
            (&["bench", "--repeats", "-1"], "--repeats"),
        ] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation, "{args:?}: {e}");
            assert!(e.to_string().contains(flag), "{args:?}: {e}");
        }
        assert_eq!(parse(&["-d", "5"]).unwrap().search.problem.difficulty, Some(5));
    }
}
