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

    /// Scaling: the worker counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2", value_name = "N,N,...",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub workers: Vec<u32>,

    /// Scaling: searches per worker count, each on a distinct random block.
    #[arg(long, default_value_t = 10, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,

    /// Scaling: leading zero bits of each search.
    #[arg(short = 'd', long = "difficulty", default_value_t = 20, value_name = "D",
          value_parser = clap::value_parser!(u32).range(0..=256))]
    pub difficulty: u32,

    /// Scaling: draw time to solution against workers into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<std::path::PathBuf>,

    /// Scaling: where the searches run (process and k8s read their settings from CND_*).
    #[arg(long, env = "CND_BACKEND", value_enum, default_value = "local")]
    pub backend: crate::args::Backend,
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
