//! The core of CND (Cloud Nonce Discovery): the problem, verification, hashing kernels,
//! partitioning, and the traits every backend implements.
//!
//! A *golden nonce* is a number that, appended to a block and hashed twice with SHA-256,
//! gives a digest with at least D leading zero bits (or, for a Bitcoin header, a digest at
//! most the header's target). This crate knows nothing of threads pools, processes,
//! Kubernetes or SQS; it defines:
//!
//! - [`Problem`]: format, block, goal, bit order and [`NonceRange`], built by validating
//!   constructors whose errors name the field and the allowed values;
//! - the reference path ([`hash`], [`verify`]) on the `sha2` crate, which re-checks every
//!   nonce any backend reports;
//! - the [`Kernel`]s, chosen once per run at run time, each checked against the reference;
//! - [`split`] and [`ChunkQueue`]: worker partitions and thread chunks;
//! - [`WorkerSpec`]: the worker env contract, written and read by one type;
//! - [`Exit`]: the exit codes, for the CLI, the worker, the Job's policies and the coordinator;
//! - [`Dispatcher`] and [`ResultChannel`], and [`coordinate`], which drives any dispatcher to
//!   a verified result and always cleans up.
#![deny(missing_docs)]

mod channel;
mod contract;
mod dispatch;
mod exit;
pub mod hash;
mod kernel;
mod partition;
mod planner;
mod problem;
mod report;
mod stats;
#[cfg(test)]
mod test_vectors;
mod units;
mod verify;

pub use channel::{OpenChannel, RemoteChannel};
pub use contract::{ContractError, DEFAULT_TERMINATION_LOG, ENV_HELP, Results, SqsTarget, WorkerSpec};
pub use dispatch::{
    DispatchError, Dispatcher, Finished, Mode, Outcome, Progress, ProgressProbe, Result, ResultChannel, RunResult,
    RunSpec, StopReason, coordinate, coordinate_then, new_run_id,
};
pub use exit::Exit;
pub use kernel::choice::{ChoiceSource, KernelChoice, KernelRate, cache_dir, record_calibration};
pub use kernel::measure::{
    GENESIS_HEADER_HEX, MEASURE_CHUNK, Sample, measure_problem, measure_range, sample as measure_sample, scan_chunks,
};
pub use kernel::thread_cpu_seconds;
pub use kernel::{EarlyTest, Kernel, KernelError, Prepared, Scan, decimal_digits, digit_segments, state_to_digest};
pub use kernel::{choice as kernel_choice, measure as kernel_measure};
pub use partition::{ChunkQueue, split};
pub use planner::{Plan, PlanError, SearchModel};
pub use problem::{
    BITCOIN_HEADER_LEN, BitOrder, DEFAULT_BLOCK, Format, Goal, MAX_DIFFICULTY, NonceRange, Problem, ProblemError,
    decode_nbits,
};
pub use report::{Found, ReportOutcome, WorkerReport};
pub use stats::{mean_sd, quantile};
pub use units::{HashRate, HumanSeconds, group_digits, percent};
pub use verify::{Verdict, verify};
