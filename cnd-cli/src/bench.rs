//! `cnd bench`: kernel hash rates (bench_kernels), calibration and scaling (bench_scaling).

use clap::Args;

use crate::args::Globals;
use crate::exit::Exit;

/// Kernel hash rates per backend, calibration of the per-CPU rate, and scaling over 1..N
/// workers.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Only this kernel (avx512, sha-ni, avx2, portable) [default: every kernel this CPU runs].
    #[arg(long, env = "CND_KERNEL", value_name = "NAME")]
    pub kernel: Option<String>,

    /// Seconds per measurement.
    #[arg(long, default_value_t = 1.0, value_name = "S")]
    pub seconds: f64,

    /// Repeats per measurement (mean ± σ).
    #[arg(long, default_value_t = 3, value_name = "K")]
    pub repeats: u32,

    /// Measure this machine's hash rate per CPU and store it for `cnd plan`.
    #[arg(long, conflicts_with = "scaling")]
    pub calibrate: bool,

    /// Time to solution over 1..N workers (see --workers, --runs, -d, --plot).
    #[arg(long)]
    pub scaling: bool,
}

/// Runs `cnd bench`.
pub fn run(args: BenchArgs, globals: &Globals) -> anyhow::Result<Exit> {
    if args.calibrate {
        crate::bench_scaling::calibrate(&args, globals)
    } else if args.scaling {
        crate::bench_scaling::scaling(&args, globals)
    } else {
        crate::bench_kernels::run(&args, globals)
    }
}
