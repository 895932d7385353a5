//! `cnd bench --calibrate` and `--scaling` (owned by the planner work).

use crate::args::Globals;
use crate::bench::BenchArgs;
use crate::exit::{Exit, usage};

/// Measures and stores the per-CPU hash rate.
pub fn calibrate(_args: &BenchArgs, _globals: &Globals) -> anyhow::Result<Exit> {
    Err(usage("cnd bench --calibrate: not built yet"))
}

/// Time to solution against workers.
pub fn scaling(_args: &BenchArgs, _globals: &Globals) -> anyhow::Result<Exit> {
    Err(usage("cnd bench --scaling: not built yet"))
}
