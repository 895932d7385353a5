//! The CND local backend: a search on every core of this machine, on local worker
//! processes, and the worker runtime that a process or a pod runs.
//!
//! - [`LocalDispatcher`]: threads of this process claim chunks of the range from one atomic
//!   counter; the first golden nonce stops them all (`first`), or every chunk below the best
//!   is finished (`lowest`, the same answer for any thread count).
//! - [`RangeSearch`]: the engine itself, shared by every path that hashes a range; the
//!   nonce it reports and the thread that found it are recorded together.
//! - [`ProcessDispatcher`]: N worker processes of this machine, each given the worker env
//!   contract ([`cnd_core::WorkerSpec`]) exactly as a pod of a Kubernetes Job is, so that the
//!   process backend is a faithful local stand-in for a cluster; they share the range in
//!   chunks that the coordinator hands out over their pipes, as the local threads share it.
//! - [`run_worker`]: the worker runtime behind `cnd worker` — its partition on
//!   [`default_threads`] threads (the CPUs the cgroup allows), signals and the coordinator's
//!   end watched, one JSON report line, delivery through a [`cnd_core::ResultChannel`] that
//!   the caller opens (termination log, SQS: those live with their backends); or, for the
//!   process backend, [`serve_chunks`]: the chunks its coordinator sends, one line each.
//! - [`measure`]: the one hash-rate measurement of the planner and the benches.
//! - [`LocalResultChannel`]: an in-process [`cnd_core::ResultChannel`].
//! - [`search`]: a blocking one-call search for applications.
//!
//! Hashing runs on plain threads, never on an async runtime; tokio only waits (for
//! processes, signals and timers).
#![deny(missing_docs)]

mod channel;
mod choose;
mod dispatcher;
mod engine;
mod measure;
mod process;
mod worker;

use std::time::Duration;

pub use channel::LocalResultChannel;
use cnd_core::{Kernel, Mode, Problem, RunResult, RunSpec, StopReason};
pub use dispatcher::LocalDispatcher;
pub use engine::{RangeResult, RangeSearch, available_threads, max_threads};
pub use measure::{Measured, measure};
pub use process::ProcessDispatcher;
pub use worker::{WorkerError, default_threads, run_worker, serve_chunks};

/// Options of [`search`].
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// Threads (default: every CPU this process may use).
    pub threads: u32,
    /// First or lowest.
    pub mode: Mode,
    /// The kernel (default: the fastest this CPU runs, or `CND_KERNEL`).
    pub kernel: Kernel,
    /// Give up after this long.
    pub timeout: Option<Duration>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self { threads: available_threads(), mode: Mode::First, kernel: Kernel::best(), timeout: None }
    }
}

/// Searches `problem` on this machine and blocks until it is decided: a verified nonce, an
/// exhausted range, or the timeout.
pub fn search(problem: &Problem, options: &SearchOptions) -> cnd_core::Result<RunResult> {
    let mut spec = RunSpec::new(problem.clone(), options.threads, options.mode);
    spec.timeout = options.timeout;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| cnd_core::DispatchError::backend("start a timer runtime", e))?;
    let mut dispatcher = LocalDispatcher::new(options.kernel);
    let timeout = options.timeout;
    runtime.block_on(cnd_core::coordinate(&mut dispatcher, &spec, async move {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending::<()>().await,
        }
        StopReason::TimedOut
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cnd_core::{NonceRange, Outcome, verify};

    #[test]
    fn search_finds_verifies_and_times_out() {
        let p = Problem::text("COMSM0010cloud", 16).unwrap();
        let r = search(&p, &SearchOptions { threads: 2, mode: Mode::Lowest, ..Default::default() }).unwrap();
        match r.outcome {
            Outcome::Found(f) => {
                assert!(verify(&p, f.nonce).is_valid());
                assert_eq!(f.nonce, 9248);
            }
            o => panic!("{o:?}"),
        }
        let hard =
            Problem::text("COMSM0010cloud", 256).unwrap().with_range(NonceRange::new(0, 1 << 40).unwrap()).unwrap();
        let t = std::time::Instant::now();
        let r =
            search(&hard, &SearchOptions { timeout: Some(Duration::from_millis(200)), ..Default::default() }).unwrap();
        assert_eq!(r.outcome, Outcome::Stopped(StopReason::TimedOut));
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }
}
