//! `cnd bench`: kernel hash rates (`kernels`), calibration and time to solution against
//! workers (`scaling`, drawn by `plot`).

mod calibrate;
mod kernels;
mod plot;
mod points;
mod scaling;

use std::time::Duration;

use cnd_core::Exit;

use crate::error::usage;
use crate::flags::{BenchArgs, Output};

/// Runs `cnd bench`.
pub fn run(args: BenchArgs, out: Output) -> anyhow::Result<Exit> {
    if !(args.seconds.is_finite() && args.seconds > 0.0 && args.seconds <= 3600.0) {
        return Err(usage(format!("--seconds: {} is out of range (allowed: 0 < S <= 3600)", args.seconds)));
    }
    if args.repeats == 0 {
        return Err(usage("--repeats: 0 is out of range (allowed: 1 or more)"));
    }
    let duration = Duration::from_secs_f64(args.seconds);
    if args.calibrate {
        calibrate::calibrate(&args, out, duration)
    } else if args.scaling {
        scaling::scaling(&args, out)
    } else {
        kernels::run(&args, out, duration)
    }
}
