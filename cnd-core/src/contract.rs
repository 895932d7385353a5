//! The worker env contract of DESIGN.md: one type, [`WorkerSpec`], writes it
//! ([`WorkerSpec::to_env`], for local worker processes and for the pods of a Job) and reads
//! it ([`WorkerSpec::from_env`], in `cnd worker`), so that a worker always searches exactly
//! the problem its coordinator asked for.

use std::path::PathBuf;
use std::str::FromStr;

use crate::dispatch::{Mode, RunSpec};
use crate::kernel::Kernel;
use crate::partition::split;
use crate::problem::{BitOrder, DEFAULT_BLOCK, Format, NonceRange, Problem, ProblemError};

/// Where a worker's termination message goes unless `CND_TERMINATION_LOG` says otherwise.
pub const DEFAULT_TERMINATION_LOG: &str = "/dev/termination-log";

/// How workers report their results: the one type behind `--results`, `CND_RESULTS` and the
/// settings each channel needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Results {
    /// One JSON line on the worker's stdout (always printed; nothing else).
    #[default]
    Stdout,
    /// Also written to this file: a Kubernetes termination message.
    TerminationLog(PathBuf),
    /// Also published on an SQS queue.
    Sqs(SqsTarget),
}

/// Where an SQS report goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SqsTarget {
    /// The queue [default: the run's own queue, `cnd-<run id>`].
    pub queue_url: Option<String>,
    /// An endpoint override (a local SQS-protocol server) [default: `AWS_ENDPOINT_URL`, else
    /// AWS's].
    pub endpoint_url: Option<String>,
}

impl Results {
    /// The names `--results` and `CND_RESULTS` take.
    pub const NAMES: [&'static str; 3] = ["stdout", "termination-log", "sqs"];

    /// The name of this kind of channel.
    pub fn name(&self) -> &'static str {
        match self {
            Results::Stdout => "stdout",
            Results::TerminationLog(_) => "termination-log",
            Results::Sqs(_) => "sqs",
        }
    }

    /// The termination log at its default path.
    pub fn termination_log() -> Self {
        Results::TerminationLog(PathBuf::from(DEFAULT_TERMINATION_LOG))
    }
}

impl FromStr for Results {
    type Err = String;
    /// A kind of channel by name, with its default settings.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "stdout" => Ok(Results::Stdout),
            "termination-log" => Ok(Results::termination_log()),
            "sqs" => Ok(Results::Sqs(SqsTarget::default())),
            _ => Err(format!("'{s}' is not a result channel (allowed: {})", Self::NAMES.join(", "))),
        }
    }
}

/// A missing or bad variable of the contract: names it and the values it allows (exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ContractError {
    /// The variable, as it was found (an alias such as `D` if that is what was set).
    pub var: &'static str,
    /// What is wrong and what is allowed.
    pub message: String,
}

fn bad(var: &'static str, message: impl Into<String>) -> ContractError {
    ContractError { var, message: message.into() }
}

/// Everything one worker needs, as the env contract carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSpec {
    /// `CND_RUN_ID` [`PROCESS_ID`]: copied into the report.
    pub run_id: String,
    /// The problem over the run's whole range (`CND_FORMAT`, `CND_BLOCK_HEX`,
    /// `CND_DIFFICULTY` [`D`], `CND_BIT_ORDER`, `CND_START`, `CND_END`).
    pub problem: Problem,
    /// `CND_MODE`: `lowest` finishes the partition below its best nonce.
    pub mode: Mode,
    /// `CND_WORKER_COUNT` [`WORKER_MAX`]: the run's number of workers.
    pub workers: u32,
    /// `CND_WORKER_INDEX` [`WORKER_INDEX`, then Kubernetes' `JOB_COMPLETION_INDEX`]; `None`
    /// when the Job controller gives it. Read back, it is always set.
    pub index: Option<u32>,
    /// `CND_THREADS`: hashing threads [`None`: the CPUs the cgroup allows].
    pub threads: Option<u32>,
    /// `CND_KERNEL`: a forced kernel [`None`: the fastest the CPU runs].
    pub kernel: Option<Kernel>,
    /// `CND_RESULTS`, `CND_TERMINATION_LOG`, `CND_SQS_QUEUE_URL`, `CND_SQS_ENDPOINT_URL`.
    pub results: Results,
    /// `POD_NAME`: who computes, for the report [`None`: `worker <i> (pid <pid>)`].
    pub source: Option<String>,
    /// `CND_EXIT_WITH_PARENT=1`: stop when stdin closes (local worker processes).
    pub exit_with_parent: bool,
    /// `CND_CHUNKS=stdin`: take chunks of the range from the coordinator over stdin and
    /// stdout (the process backend) instead of searching the partition [`false`: the
    /// partition, as a pod does].
    pub chunks_from_stdin: bool,
}

impl WorkerSpec {
    /// Every variable of the contract and its aliases: what a worker must not inherit from
    /// its coordinator's environment.
    pub const VARIABLES: &'static [&'static str] = &[
        "CND_RUN_ID",
        "CND_FORMAT",
        "CND_BLOCK_HEX",
        "CND_DIFFICULTY",
        "CND_BIT_ORDER",
        "CND_START",
        "CND_END",
        "CND_MODE",
        "CND_WORKER_INDEX",
        "CND_WORKER_COUNT",
        "CND_THREADS",
        "CND_KERNEL",
        "CND_RESULTS",
        "CND_TERMINATION_LOG",
        "CND_SQS_QUEUE_URL",
        "CND_SQS_ENDPOINT_URL",
        "CND_EXIT_WITH_PARENT",
        "CND_CHUNKS",
        "POD_NAME",
        "PROCESS_ID",
        "D",
        "WORKER_INDEX",
        "WORKER_MAX",
        "JOB_COMPLETION_INDEX",
    ];

    /// The contract of one of `spec`'s workers, before a backend fills in the index, the
    /// threads, the kernel and the result channel.
    pub fn for_run(spec: &RunSpec) -> Self {
        Self {
            run_id: spec.run_id.clone(),
            problem: spec.problem.clone(),
            mode: spec.mode,
            workers: spec.workers,
            index: None,
            threads: None,
            kernel: None,
            results: Results::Stdout,
            source: None,
            exit_with_parent: false,
            chunks_from_stdin: false,
        }
    }

    /// This worker's partition of the run's range (`None` until the index is known).
    pub fn partition(&self) -> Option<NonceRange> {
        let index = self.index? as usize;
        split(self.problem.range(), self.workers).get(index).copied()
    }

    /// The contract as environment variables, in a stable order.
    pub fn to_env(&self) -> Vec<(String, String)> {
        let p = &self.problem;
        let range = p.range();
        let mut env: Vec<(&str, String)> = vec![
            ("CND_RUN_ID", self.run_id.clone()),
            ("CND_FORMAT", p.format().as_str().into()),
            // Always written, even empty: an empty block is a block, not the default one.
            ("CND_BLOCK_HEX", hex::encode(p.block())),
        ];
        if let Some(d) = p.difficulty() {
            env.push(("CND_DIFFICULTY", d.to_string()));
        }
        env.extend([
            ("CND_BIT_ORDER", p.bit_order().as_str().into()),
            ("CND_START", range.start.to_string()),
            ("CND_END", range.end.to_string()),
            ("CND_MODE", self.mode.as_str().into()),
            ("CND_WORKER_COUNT", self.workers.to_string()),
        ]);
        if let Some(i) = self.index {
            env.push(("CND_WORKER_INDEX", i.to_string()));
        }
        if let Some(t) = self.threads {
            env.push(("CND_THREADS", t.to_string()));
        }
        if let Some(k) = self.kernel {
            env.push(("CND_KERNEL", k.name().into()));
        }
        env.push(("CND_RESULTS", self.results.name().into()));
        match &self.results {
            Results::Stdout => {}
            Results::TerminationLog(path) => env.push(("CND_TERMINATION_LOG", path.display().to_string())),
            Results::Sqs(target) => {
                if let Some(q) = &target.queue_url {
                    env.push(("CND_SQS_QUEUE_URL", q.clone()));
                }
                if let Some(e) = &target.endpoint_url {
                    env.push(("CND_SQS_ENDPOINT_URL", e.clone()));
                }
            }
        }
        if let Some(s) = &self.source {
            env.push(("POD_NAME", s.clone()));
        }
        if self.exit_with_parent {
            env.push(("CND_EXIT_WITH_PARENT", "1".into()));
        }
        if self.chunks_from_stdin {
            env.push(("CND_CHUNKS", "stdin".into()));
        }
        env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// Reads this process's environment.
    pub fn from_process_env() -> Result<Self, ContractError> {
        Self::from_env(|name| std::env::var(name).ok())
    }

    /// Reads and validates the contract from `get` (a variable's value by name). Values are
    /// trimmed and a blank one counts as unset, except `CND_BLOCK_HEX`: set and empty, it is
    /// the empty block. The first error names its variable.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, ContractError> {
        let vars = Vars(&get);
        let (_, run_id) = vars
            .first(&["CND_RUN_ID", "PROCESS_ID"])
            .ok_or_else(|| bad("CND_RUN_ID", "missing (allowed: the run's id, e.g. 3f2a9c0b1d)"))?;
        if run_id.chars().any(char::is_control) {
            return Err(bad("CND_RUN_ID", "control characters are not allowed"));
        }
        let problem = read_problem(&vars)?;
        let mode = match vars.first(&["CND_MODE"]) {
            Some((var, v)) => match v.to_ascii_lowercase().as_str() {
                "first" => Mode::First,
                "lowest" => Mode::Lowest,
                _ => return Err(bad(var, format!("'{v}' is not a mode (allowed: first, lowest)"))),
            },
            None => Mode::Lowest,
        };
        let (count_var, workers) = match vars.first(&["CND_WORKER_COUNT", "WORKER_MAX"]) {
            Some((var, v)) => (var, number::<u32>(var, &v, "1 or more")?),
            None => ("CND_WORKER_COUNT", 1),
        };
        if workers == 0 || workers > RunSpec::MAX_WORKERS {
            return Err(bad(
                count_var,
                format!("{workers} is out of range (allowed: 1..={}, the most workers of a run)", RunSpec::MAX_WORKERS),
            ));
        }
        let index = match vars.first(&["CND_WORKER_INDEX", "WORKER_INDEX", "JOB_COMPLETION_INDEX"]) {
            Some((var, v)) => {
                let i = number::<u32>(var, &v, "0..CND_WORKER_COUNT")?;
                if i >= workers {
                    return Err(bad(
                        var,
                        format!("{i} is out of range (allowed: 0..={} for {count_var}={workers})", workers - 1),
                    ));
                }
                i
            }
            None if workers == 1 => 0,
            None => {
                return Err(bad(
                    "CND_WORKER_INDEX",
                    format!(
                        "missing (allowed: 0..={} for {count_var}={workers}; also WORKER_INDEX or JOB_COMPLETION_INDEX)",
                        workers - 1
                    ),
                ));
            }
        };
        // A resumed Kubernetes run: completion index i searches the i-th chunk of this list.
        let index = match vars.first(&["CND_CHUNK_LIST"]) {
            Some((var, v)) => {
                let list = chunk_list(var, &v, workers)?;
                *list.get(index as usize).ok_or_else(|| {
                    bad(var, format!("has no position {index} (allowed: 0..{} for this list)", list.len()))
                })?
            }
            None => index,
        };
        let threads = match vars.first(&["CND_THREADS"]) {
            Some((_, v)) if v.eq_ignore_ascii_case("auto") => None,
            Some((var, v)) => match number::<u32>(var, &v, "1 or more, or auto")? {
                0 => return Err(bad(var, "0 is not allowed (allowed: 1 or more, or auto)")),
                n => Some(n),
            },
            None => None,
        };
        let kernel = match vars.first(&["CND_KERNEL"]) {
            Some((var, v)) => Some(Kernel::from_name(&v).map_err(|e| bad(var, e.to_string()))?),
            None => None,
        };
        let results = match vars.first(&["CND_RESULTS"]) {
            Some((var, v)) => v.parse::<Results>().map_err(|e| bad(var, e))?,
            None => Results::Stdout,
        };
        let results = match results {
            Results::TerminationLog(default) => {
                Results::TerminationLog(vars.first(&["CND_TERMINATION_LOG"]).map_or(default, |(_, v)| v.into()))
            }
            Results::Sqs(_) => Results::Sqs(SqsTarget {
                queue_url: vars.first(&["CND_SQS_QUEUE_URL"]).map(|(_, v)| v),
                endpoint_url: vars.first(&["CND_SQS_ENDPOINT_URL"]).map(|(_, v)| v),
            }),
            other => other,
        };
        let source = vars.first(&["POD_NAME"]).map(|(_, v)| v);
        let exit_with_parent = vars
            .first(&["CND_EXIT_WITH_PARENT"])
            .is_some_and(|(_, v)| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"));
        let chunks_from_stdin = match vars.first(&["CND_CHUNKS"]) {
            Some((var, v)) => match v.to_ascii_lowercase().as_str() {
                "stdin" => true,
                "partition" => false,
                _ => return Err(bad(var, format!("'{v}' is not a source of work (allowed: partition, stdin)"))),
            },
            None => false,
        };
        Ok(Self {
            run_id,
            problem,
            mode,
            workers,
            index: Some(index),
            threads,
            kernel,
            results,
            source,
            exit_with_parent,
            chunks_from_stdin,
        })
    }
}

/// Variables by name: trimmed, blank ones unset.
struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    /// The first of `names` that is set and not blank: its name and trimmed value.
    fn first(&self, names: &[&'static str]) -> Option<(&'static str, String)> {
        names.iter().find_map(|n| (self.0)(n).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).map(|v| (*n, v)))
    }
}

fn number<T: FromStr>(var: &'static str, value: &str, allowed: &str) -> Result<T, ContractError> {
    value.parse().map_err(|_| bad(var, format!("'{value}' is not a whole number (allowed: {allowed})")))
}

/// The problem variables, each error naming the variable that was set.
fn read_problem(vars: &Vars<'_>) -> Result<Problem, ContractError> {
    let format = match vars.first(&["CND_FORMAT"]) {
        Some((var, v)) => v.parse::<Format>().map_err(|e| bad(var, e.message))?,
        None => Format::Text,
    };
    let block = match (vars.0)("CND_BLOCK_HEX") {
        Some(v) => hex::decode(v.trim())
            .map_err(|e| bad("CND_BLOCK_HEX", format!("not hex ({e}) (allowed: pairs of 0-9, a-f)")))?,
        None if format == Format::Text => DEFAULT_BLOCK.as_bytes().to_vec(),
        None => return Err(bad("CND_BLOCK_HEX", "missing (allowed: the 80-byte header as 160 hex digits)")),
    };
    let difficulty_var = vars.first(&["CND_DIFFICULTY", "D"]);
    let difficulty = match &difficulty_var {
        Some((var, v)) => Some(number::<u32>(var, v, "0..=256 leading zero bits")?),
        None => None,
    };
    let bit_order = match vars.first(&["CND_BIT_ORDER"]) {
        Some((var, v)) => v.parse::<BitOrder>().map_err(|e| bad(var, e.message))?,
        None => BitOrder::Msb,
    };
    let start = match vars.first(&["CND_START"]) {
        Some((var, v)) => number::<u64>(var, &v, "0..2^64")?,
        None => NonceRange::DEFAULT.start,
    };
    let end = match vars.first(&["CND_END"]) {
        Some((var, v)) => number::<u64>(var, &v, "1..=2^64-1, above CND_START")?,
        None => NonceRange::DEFAULT.end,
    };
    if start >= end {
        return Err(bad("CND_START", format!("the range [{start}, {end}) is empty (allowed: CND_START < CND_END)")));
    }
    let named = |e: ProblemError| {
        let var = match e.field {
            "difficulty" => difficulty_var.as_ref().map_or("CND_DIFFICULTY", |(n, _)| *n),
            "start" => "CND_START",
            "end" => "CND_END",
            "format" => "CND_FORMAT",
            "bit-order" => "CND_BIT_ORDER",
            _ => "CND_BLOCK_HEX",
        };
        bad(var, e.message)
    };
    let range = NonceRange::new(start, end).map_err(named)?;
    Ok(Problem::from_parts(format, block, difficulty)
        .and_then(|p| p.with_range(range))
        .map_err(named)?
        .with_bit_order(bit_order))
}

/// The contract as `cnd worker --help` shows it.
pub const ENV_HELP: &str = "\
The worker env contract (identical for pods and local worker processes; every value is
trimmed and a blank one counts as unset, except CND_BLOCK_HEX, which set and empty is the
empty block; reference-system aliases in brackets):

  CND_RUN_ID [PROCESS_ID]         the run's id, copied into the report          (required)
  CND_FORMAT                      text | bitcoin                                [text]
  CND_BLOCK_HEX                   the block (text) or the 80-byte header (bitcoin), as hex
                                  [the hex of COMSM0010cloud for text; required for bitcoin]
  CND_DIFFICULTY [D]              leading zero bits, 0..=256        (required for text;
                                  bitcoin: the header's nBits target when unset)
  CND_BIT_ORDER                   msb | lsb (lsb: the reference system's count) [msb]
  CND_START, CND_END              the run's whole range [start, end)            [0, 2^32)
  CND_WORKER_INDEX [WORKER_INDEX, then JOB_COMPLETION_INDEX]
                                  this worker's index, 0-based                  [0 if 1 worker]
  CND_WORKER_COUNT [WORKER_MAX]   the run's number of workers                   [1]
  CND_THREADS                     hashing threads [the CPUs the cgroup allows: cgroup v2
                                  cpu.max, then the CPU affinity]
  CND_MODE                        first | lowest [lowest: the smallest golden nonce of the
                                  partition, which is right for either mode of the run]
  CND_KERNEL                      force a hashing kernel [the fastest this CPU runs]
  CND_RESULTS                     stdout | termination-log | sqs                 [stdout]
  CND_TERMINATION_LOG             where termination-log writes    [/dev/termination-log]
  CND_SQS_QUEUE_URL               sqs: the queue to publish to [the run's queue cnd-<run id>]
  CND_SQS_ENDPOINT_URL            sqs: endpoint override [AWS_ENDPOINT_URL, else AWS's]
                                  (credentials and region: the standard AWS chain)
  POD_NAME                        who found it, in the report [worker <i> (pid <pid>)]
  CND_EXIT_WITH_PARENT            1: stop (exit 4) when stdin closes (set by the process
                                  backend, so that no worker outlives its coordinator)
  CND_CHUNKS                      partition | stdin: take chunks from the coordinator, one
                                  JSON line each on stdin, and answer each on stdout
                                  (set by the process backend)                  [partition]
  CND_CHUNK_LIST                  a resumed Kubernetes run: the chunks not yet done, as an
                                  index set (2-7,9); the worker of index i searches the
                                  i-th of them (set by `cnd k8s resume`)        [unset]

The worker searches split([CND_START, CND_END), CND_WORKER_COUNT)[CND_WORKER_INDEX] and
prints ONE JSON report line on stdout (status found | exhausted | failed, with run_id,
worker, source, range, hashes, elapsed_s); with CND_RESULTS=termination-log it also writes
it to the termination log, with sqs it also publishes it (body: the line; attribute run_id).
With CND_CHUNKS=stdin it searches the chunks its coordinator sends instead, answers each
with one JSON line on stdout, publishes a chunk's golden nonce as a report (sqs) and ends
when stdin closes.

Exit codes: 0 found · 1 runtime error (e.g. SQS unreachable) · 2 a missing or bad variable
(one line naming it) · 3 its range holds no golden nonce · 4 stopped by SIGTERM or SIGINT
(within a second) or by its coordinator's end.

Example (the reference system's names):
  D=20 WORKER_INDEX=1 WORKER_MAX=4 CND_BIT_ORDER=lsb CND_RUN_ID=demo cnd worker";

/// `CND_CHUNK_LIST`: chunk indexes as the Job controller writes index sets (`2-7,9`), each
/// below `workers` (the run's chunk count), in increasing order, none twice.
fn chunk_list(var: &'static str, text: &str, workers: u32) -> Result<Vec<u32>, ContractError> {
    let allowed = || format!("(allowed: increasing indexes 0..{workers} and ranges, e.g. 2-7,9)");
    let mut list: Vec<u32> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (Ok(a), Ok(b)) = (a.trim().parse::<u32>(), b.trim().parse::<u32>()) else {
            return Err(bad(var, format!("'{part}' is not an index or a range {}", allowed())));
        };
        if a > b || b >= workers || list.last().is_some_and(|l| *l >= a) {
            return Err(bad(var, format!("'{part}' is out of order or range {}", allowed())));
        }
        list.extend(a..=b);
    }
    if list.is_empty() {
        return Err(bad(var, format!("is empty {}", allowed())));
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<WorkerSpec, ContractError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        WorkerSpec::from_env(move |k| map.get(k).cloned())
    }

    fn err(vars: &[(&str, &str)]) -> String {
        read(vars).unwrap_err().to_string()
    }

    fn round_trip(spec: &WorkerSpec) -> WorkerSpec {
        let env: HashMap<String, String> = spec.to_env().into_iter().collect();
        WorkerSpec::from_env(move |k| env.get(k).cloned()).unwrap()
    }

    #[test]
    fn reference_names_pick_the_same_quarter() {
        let c = read(&[
            ("D", "20"),
            ("WORKER_INDEX", "1"),
            ("WORKER_MAX", "4"),
            ("CND_BIT_ORDER", "lsb"),
            ("PROCESS_ID", "r1"),
        ])
        .unwrap();
        assert_eq!(c.run_id, "r1");
        assert_eq!(c.problem.difficulty(), Some(20));
        assert_eq!(c.problem.bit_order(), BitOrder::Lsb);
        assert_eq!((c.index, c.workers), (Some(1), 4));
        assert_eq!(c.partition(), Some(NonceRange::new(1 << 30, 1 << 31).unwrap()));
        assert_eq!(c.problem.block(), b"COMSM0010cloud");
    }

    #[test]
    fn contract_names_win_over_aliases_and_job_index_is_a_fallback() {
        let c = read(&[
            ("CND_RUN_ID", "a"),
            ("CND_DIFFICULTY", "8"),
            ("D", "30"),
            ("CND_WORKER_COUNT", "3"),
            ("JOB_COMPLETION_INDEX", "2"),
            ("CND_THREADS", "3"),
            ("CND_RESULTS", "termination-log"),
            ("CND_TERMINATION_LOG", "/tmp/x"),
            ("POD_NAME", "cnd-abc-2-xyz"),
        ])
        .unwrap();
        assert_eq!(c.problem.difficulty(), Some(8));
        assert_eq!(c.index, Some(2));
        assert_eq!(c.threads, Some(3));
        assert_eq!(c.results, Results::TerminationLog("/tmp/x".into()));
        assert_eq!(c.source.as_deref(), Some("cnd-abc-2-xyz"));
        assert_eq!(c.mode, Mode::Lowest);
    }

    #[test]
    fn an_empty_block_is_the_empty_block_not_the_default() {
        let empty = read(&[("CND_RUN_ID", "a"), ("D", "1"), ("CND_BLOCK_HEX", "")]).unwrap();
        assert_eq!(empty.problem.block(), b"");
        let unset = read(&[("CND_RUN_ID", "a"), ("D", "1")]).unwrap();
        assert_eq!(unset.problem.block(), DEFAULT_BLOCK.as_bytes());
    }

    #[test]
    fn bad_or_missing_variables_are_named() {
        assert!(err(&[("CND_DIFFICULTY", "8")]).starts_with("CND_RUN_ID: missing"));
        assert!(err(&[("CND_RUN_ID", "a")]).starts_with("CND_DIFFICULTY:"));
        assert!(err(&[("CND_RUN_ID", "a"), ("D", "x")]).starts_with("D: 'x' is not a whole number"));
        assert!(err(&[("CND_RUN_ID", "a"), ("D", "300")]).starts_with("D: 300 is out of range"));
        assert!(err(&[("CND_RUN_ID", "a"), ("D", "1"), ("CND_BIT_ORDER", "middle")]).contains("allowed: msb, lsb"));
        assert!(err(&[("CND_RUN_ID", "a"), ("D", "1"), ("CND_FORMAT", "yaml")]).starts_with("CND_FORMAT:"));
        assert!(
            err(&[("CND_RUN_ID", "a"), ("D", "1"), ("CND_WORKER_COUNT", "4")]).starts_with("CND_WORKER_INDEX: missing")
        );
        assert!(
            err(&[("CND_RUN_ID", "a"), ("D", "1"), ("WORKER_MAX", "4"), ("WORKER_INDEX", "4")])
                .starts_with("WORKER_INDEX: 4 is out of range")
        );
        assert!(err(&[("CND_RUN_ID", "a"), ("D", "1"), ("CND_THREADS", "0")]).starts_with("CND_THREADS:"));
        // A worker count no run has: refused before a partition table of that size is made.
        assert!(
            err(&[("CND_RUN_ID", "a"), ("D", "1"), ("CND_WORKER_COUNT", "4000000000"), ("CND_WORKER_INDEX", "0")])
                .starts_with("CND_WORKER_COUNT: 4000000000 is out of range (allowed: 1..=100000")
        );
        assert!(
            err(&[("CND_RUN_ID", "a"), ("D", "1"), ("CND_WORKER_COUNT", "0")]).starts_with("CND_WORKER_COUNT: 0 is")
        );
        assert!(err(&[("CND_RUN_ID", "a"), ("D", "1"), ("CND_RESULTS", "kafka")]).starts_with("CND_RESULTS:"));
        assert!(
            err(&[("CND_RUN_ID", "a"), ("D", "1"), ("CND_START", "9"), ("CND_END", "9")]).starts_with("CND_START:")
        );
        assert!(err(&[("CND_RUN_ID", "a"), ("D", "1"), ("CND_BLOCK_HEX", "zz")]).starts_with("CND_BLOCK_HEX: not hex"));
        assert!(err(&[("CND_RUN_ID", "a"), ("CND_FORMAT", "bitcoin")]).starts_with("CND_BLOCK_HEX: missing"));
        assert!(err(&[("CND_RUN_ID", "a"), ("D", "1"), ("CND_MODE", "best")]).contains("allowed: first, lowest"));
        assert!(err(&[("CND_RUN_ID", "a"), ("D", "1"), ("CND_KERNEL", "sse9")]).starts_with("CND_KERNEL:"));
        assert!(
            err(&[("CND_RUN_ID", "a"), ("D", "1"), ("CND_CHUNKS", "socket")]).contains("allowed: partition, stdin")
        );
    }

    #[test]
    fn results_names_round_trip() {
        for name in Results::NAMES {
            assert_eq!(name.parse::<Results>().unwrap().name(), name);
        }
        assert!("kafka".parse::<Results>().unwrap_err().contains("allowed: stdout, termination-log, sqs"));
    }

    fn problems() -> impl Strategy<Value = Problem> {
        let text = (proptest::collection::vec(any::<u8>(), 0..100), 0u32..=256, any::<u64>(), 1u64..1 << 40).prop_map(
            |(block, d, start, len)| {
                let start = start % (u64::MAX - len);
                Problem::text(block, d).unwrap().with_range(NonceRange::new(start, start + len).unwrap()).unwrap()
            },
        );
        let bitcoin = (proptest::collection::vec(any::<u8>(), 80), proptest::option::of(0u32..=256), 0u64..1 << 31)
            .prop_filter_map("a decodable nBits", |(mut header, d, start)| {
                if d.is_none() {
                    header[72..76].copy_from_slice(&0x1d00_ffffu32.to_le_bytes());
                }
                Problem::bitcoin(&header, d).ok()?.with_range(NonceRange::new(start, 1 << 32).ok()?).ok()
            });
        (prop_oneof![text, bitcoin], any::<bool>())
            .prop_map(|(p, lsb)| p.with_bit_order(if lsb { BitOrder::Lsb } else { BitOrder::Msb }))
    }

    fn results() -> impl Strategy<Value = Results> {
        let url = proptest::option::of("https?://[a-z0-9.:/-]{1,40}");
        prop_oneof![
            Just(Results::Stdout),
            "/[a-z/]{1,20}".prop_map(|p| Results::TerminationLog(p.into())),
            (url.clone(), url)
                .prop_map(|(queue_url, endpoint_url)| Results::Sqs(SqsTarget { queue_url, endpoint_url })),
        ]
    }

    proptest! {
        /// Any worker of any problem → env → the same worker: nothing is lost or defaulted
        /// on the way, the empty block included.
        #[test]
        fn every_field_survives_the_environment(
            problem in problems(),
            lowest in any::<bool>(),
            workers in 1u32..10_000,
            index in any::<u32>(),
            threads in proptest::option::of(1u32..512),
            kernel in proptest::option::of(proptest::sample::select(Kernel::available())),
            results in results(),
            source in proptest::option::of("[a-z0-9-]{1,30}"),
            exit_with_parent in any::<bool>(),
            chunks_from_stdin in any::<bool>(),
            run_id in "[a-z0-9]{1,20}",
        ) {
            let spec = WorkerSpec {
                run_id,
                problem,
                mode: if lowest { Mode::Lowest } else { Mode::First },
                workers,
                index: Some(index % workers),
                threads,
                kernel,
                results,
                source,
                exit_with_parent,
                chunks_from_stdin,
            };
            prop_assert_eq!(round_trip(&spec), spec);
        }
    }
}
