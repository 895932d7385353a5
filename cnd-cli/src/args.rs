//! Raw command-line flags (clap derive) and their conversion into validated values.
//!
//! Every flag also reads an environment variable `CND_<FLAG>`.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use cnd_core::{BitOrder, DEFAULT_BLOCK, Kernel, Mode, NonceRange, Problem};

use crate::exit::{Exit, usage};

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
    Verify(crate::verify_cmd::VerifyArgs),
    /// Run as a worker (a pod or a local worker process): reads the CND_* env contract.
    Worker(crate::worker::WorkerArgs),
    /// How many workers for a deadline and a confidence.
    Plan(crate::plan::PlanArgs),
    /// Kernel hash rates, calibration, and scaling over 1..N workers.
    Bench(crate::bench::BenchArgs),
    /// Kubernetes: render the Job manifest, inspect or clean up runs.
    K8s(crate::k8s_cmd::K8sArgs),
}

/// Flags every command shares (`--json`, `-q`, `-v`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Globals {
    /// Print JSON.
    pub json: bool,
    /// Print only the result.
    pub quiet: bool,
    /// Verbosity.
    pub verbose: u8,
}

impl Cli {
    /// The shared flags.
    pub fn globals(&self) -> Globals {
        Globals { json: self.search.json, quiet: self.search.quiet, verbose: self.search.verbose }
    }
}

/// Where the search runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// Threads on every core of this machine.
    Local,
    /// N `cnd worker` processes on this machine (a local stand-in for pods).
    Process,
    /// An Indexed Job on a Kubernetes cluster.
    K8s,
}

/// `--bit-order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BitOrderArg {
    /// Most significant bit first (what a person reads in the hex digest).
    Msb,
    /// Bit 0 of each byte first (the reference system's order).
    Lsb,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Any golden nonce: the first one found.
    First,
    /// The smallest golden nonce of the range (deterministic).
    Lowest,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::First => Mode::First,
            ModeArg::Lowest => Mode::Lowest,
        }
    }
}

/// The problem: block, difficulty, bit order, range.
#[derive(Debug, Clone, Args)]
pub struct ProblemArgs {
    /// Leading zero bits required, 0..=256 (required for text blocks; for a Bitcoin header
    /// the default is the target of its nBits).
    #[arg(short = 'd', long = "difficulty", env = "CND_DIFFICULTY", value_name = "D")]
    pub difficulty: Option<u32>,

    /// The block as text [default: COMSM0010cloud].
    #[arg(long, env = "CND_BLOCK", value_name = "TEXT", conflicts_with_all = ["block_hex", "bitcoin_header"])]
    pub block: Option<String>,

    /// The block as hex bytes.
    #[arg(long, env = "CND_BLOCK_HEX", value_name = "HEX", conflicts_with = "bitcoin_header")]
    pub block_hex: Option<String>,

    /// An 80-byte Bitcoin block header (160 hex digits); the nonce is its bytes 76..80.
    #[arg(long, env = "CND_BITCOIN_HEADER", value_name = "HEX")]
    pub bitcoin_header: Option<String>,

    /// How leading zero bits are counted.
    #[arg(long, env = "CND_BIT_ORDER", value_enum, default_value = "msb")]
    pub bit_order: BitOrderArg,

    /// First nonce of the range.
    #[arg(long, env = "CND_START", default_value_t = 0, value_name = "N")]
    pub start: u64,

    /// One past the last nonce of the range.
    #[arg(long, env = "CND_END", default_value_t = 1 << 32, value_name = "N")]
    pub end: u64,
}

impl ProblemArgs {
    /// The validated problem.
    pub fn problem(&self) -> anyhow::Result<Problem> {
        let problem = if let Some(hex_header) = &self.bitcoin_header {
            let header = decode_hex("--bitcoin-header", hex_header)?;
            Problem::bitcoin(&header, self.difficulty)?
        } else {
            let block = match &self.block_hex {
                Some(h) => decode_hex("--block-hex", h)?,
                None => self.block.clone().unwrap_or_else(|| DEFAULT_BLOCK.to_string()).into_bytes(),
            };
            let d = self.difficulty.ok_or_else(|| {
                usage("-d/--difficulty is required for a text block (allowed: 0..=256 leading zero bits)")
            })?;
            Problem::text(block, d)?
        };
        let order = match self.bit_order {
            BitOrderArg::Msb => BitOrder::Msb,
            BitOrderArg::Lsb => BitOrder::Lsb,
        };
        if self.start >= self.end {
            return Err(usage(format!(
                "--start/--end: the range [{}, {}) is empty (allowed: start < end)",
                self.start, self.end
            )));
        }
        Ok(problem.with_range(NonceRange::new(self.start, self.end)?)?.with_bit_order(order))
    }
}

/// Decodes hex, or a usage error naming the flag.
pub fn decode_hex(flag: &str, text: &str) -> anyhow::Result<Vec<u8>> {
    hex::decode(text.trim()).map_err(|e| usage(format!("{flag}: not hex ({e}) (allowed: pairs of 0-9, a-f)")))
}

/// The top-level search.
#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub problem: ProblemArgs,

    /// Where the search runs.
    #[arg(long, env = "CND_BACKEND", value_enum, default_value = "local")]
    pub backend: Backend,

    /// Workers: threads (local), processes (process) or pods (k8s); `auto` plans them from
    /// --deadline and --confidence [default: all cores for local, 2 otherwise].
    #[arg(long, env = "CND_WORKERS", value_name = "N|auto")]
    pub workers: Option<String>,

    /// Which golden nonce to return.
    #[arg(long, env = "CND_MODE", value_enum, default_value = "first")]
    pub mode: ModeArg,

    /// Give up after this long (e.g. 30s, 5m, 1h30m); exit 4.
    #[arg(long, env = "CND_TIMEOUT", value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    pub timeout: Option<Duration>,

    /// Force a hashing kernel (avx512, sha-ni, avx2, portable) [default: the fastest here].
    #[arg(long, env = "CND_KERNEL", value_name = "NAME")]
    pub kernel: Option<String>,

    /// Print one JSON object instead of the human report.
    #[arg(long, env = "CND_JSON", global = true)]
    pub json: bool,

    /// Print only the result (no progress, warnings as errors only).
    #[arg(short, long, env = "CND_QUIET", global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// More logging (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(flatten)]
    pub plan: crate::plan::AutoArgs,

    #[command(flatten)]
    pub results: crate::results::ResultsArgs,

    #[command(flatten)]
    pub k8s: crate::k8s_cmd::K8sRunArgs,
}

impl SearchArgs {
    /// The kernel: `--kernel`/`CND_KERNEL`, or the fastest this CPU runs.
    pub fn kernel(&self) -> anyhow::Result<Kernel> {
        kernel_from(self.kernel.as_deref())
    }
}

/// A kernel by name (usage error if unknown or unavailable), or the best one.
pub fn kernel_from(name: Option<&str>) -> anyhow::Result<Kernel> {
    match name {
        Some(n) if !n.trim().is_empty() => Kernel::from_name(n).map_err(|e| usage(format!("--kernel: {e}"))),
        _ => Ok(Kernel::best()),
    }
}

/// The worker count: `None` for the backend's default, `Some(Auto)` for the planner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkersArg {
    /// A fixed count.
    Count(u32),
    /// Planned from --deadline and --confidence.
    Auto,
}

/// Parses `--workers`.
pub fn parse_workers(text: Option<&str>) -> anyhow::Result<Option<WorkersArg>> {
    let Some(t) = text else { return Ok(None) };
    if t.trim().eq_ignore_ascii_case("auto") {
        return Ok(Some(WorkersArg::Auto));
    }
    match t.trim().parse::<u32>() {
        Ok(0) => Err(usage("--workers: 0 is not allowed (allowed: 1 or more, or auto)")),
        Ok(n) => Ok(Some(WorkersArg::Count(n))),
        Err(_) => Err(usage(format!("--workers: '{t}' is not a count (allowed: 1 or more, or auto)"))),
    }
}

/// Parses a duration such as `30s`, `5m`, `1h30m`, or plain seconds (`90`, `2.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(format!("'{t}' is negative (allowed: a positive duration such as 30s, 5m, 1h)"));
    }
    let d = match t.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => Duration::from_secs_f64(secs),
        Ok(_) => return Err(format!("'{t}' is not a duration (allowed: e.g. 30s, 5m, 1h)")),
        Err(_) => humantime::parse_duration(t).map_err(|e| format!("'{t}': {e} (allowed: e.g. 30s, 5m, 1h)"))?,
    };
    if d.is_zero() {
        return Err(format!("'{t}' is zero (allowed: a positive duration such as 30s, 5m, 1h)"));
    }
    Ok(d)
}

/// Parses the command line; a usage error is printed as one line and becomes exit 2.
pub fn parse() -> Result<Cli, Exit> {
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e) => Err(print_clap_error(e)),
    }
}

/// Help and version go to stdout (exit 0); errors become one line on stderr (exit 2).
fn print_clap_error(e: clap::Error) -> Exit {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                Exit::Usage
            } else {
                Exit::Found
            };
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
    use clap::CommandFactory;

    #[test]
    fn verify_app() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("2.5").unwrap(), Duration::from_millis(2500));
        assert!(parse_duration("-3s").unwrap_err().contains("negative"));
        assert!(parse_duration("0").unwrap_err().contains("zero"));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn workers() {
        assert_eq!(parse_workers(Some("4")).unwrap(), Some(WorkersArg::Count(4)));
        assert_eq!(parse_workers(Some("auto")).unwrap(), Some(WorkersArg::Auto));
        assert!(parse_workers(Some("0")).is_err());
        assert!(parse_workers(Some("x")).is_err());
    }
}
