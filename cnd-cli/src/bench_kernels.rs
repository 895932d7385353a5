//! Kernel hash rates for `cnd bench` (owned by the kernel work).

use crate::args::Globals;
use crate::bench::BenchArgs;
use crate::exit::{Exit, usage};

/// Prints the hash rate of every kernel.
pub fn run(_args: &BenchArgs, _globals: &Globals) -> anyhow::Result<Exit> {
    Err(usage("cnd bench: not built yet"))
}
