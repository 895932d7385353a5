//! `cnd bench --scaling`: time to solution against workers, on any backend: a table (or
//! JSON) and optionally an SVG plot.

use std::io::IsTerminal as _;
use std::time::Duration;

use cnd_core::{Exit, Mode, Outcome, Problem, RunSpec, coordinate, new_run_id};
use cnd_local::available_threads;

use super::points::{ScalingPoint, ScalingReport, ScalingRun, print_table};
use crate::config::{BackendConfig, RunConfig, kernel_from};
use crate::error::usage;
use crate::flags::{BenchArgs, ModeArg, Output, RunArgs, Workers, check_workers};
use crate::signals::stop_signal;

/// Leading zero bits of each search when -d is not given.
const DEFAULT_DIFFICULTY: u32 = 20;

/// Time to solution against workers: for each worker count, `--runs` searches on distinct
/// random blocks; a table (or JSON) and optionally an SVG plot.
pub fn scaling(args: &BenchArgs, out: Output) -> anyhow::Result<Exit> {
    let mut workers = args
        .workers
        .iter()
        .map(|w| match w {
            Workers::Count(n) => Ok(*n),
            Workers::Auto => Err(usage("--workers: auto is for searches (allowed here: a list such as 1,2,4)")),
        })
        .collect::<anyhow::Result<Vec<u32>>>()?;
    workers.sort_unstable();
    workers.dedup();
    if workers.is_empty() {
        return Err(usage("--workers: no worker count (allowed: a list such as 1,2,4)"));
    }
    if let Some(plot) = &args.plot
        && plot.extension().and_then(|e| e.to_str()).is_none_or(|e| !e.eq_ignore_ascii_case("svg"))
    {
        return Err(usage(format!("--plot: '{}' is not an .svg file (allowed: FILE.svg)", plot.display())));
    }
    if args.problem.bitcoin_header.is_some() {
        return Err(usage("--bitcoin-header: bench --scaling searches text blocks (allowed: --block, --block-hex)"));
    }
    let mut problem_args = args.problem.clone();
    let difficulty = *problem_args.difficulty.get_or_insert(DEFAULT_DIFFICULTY);
    let base = Problem::try_from(&problem_args)?;
    // One validated configuration; each run differs only in its block and worker count.
    let run = RunArgs { workers: None, mode: ModeArg::First, timeout: None, kernel: args.kernel.clone() };
    let backend = BackendConfig::from_flags(args.backend, &args.results, &args.k8s, kernel_from(&args.kernel)?)?;
    let config = RunConfig::build(base.clone(), &run, backend, None)?;
    for w in &workers {
        check_workers(config.backend.name(), *w).map_err(usage)?;
    }
    let show = !out.quiet && !out.json && std::io::stderr().is_terminal();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("cnd-async").enable_all().build()?;
    let mut points = Vec::with_capacity(workers.len());
    for &w in &workers {
        let mut runs = Vec::with_capacity(args.runs as usize);
        for i in 0..args.runs {
            if show {
                eprint!("\r{w} workers: run {}/{}   ", i + 1, args.runs);
            }
            let mut block = base.block().to_vec();
            block.extend(format!("-{}", new_run_id()).bytes());
            let problem = Problem::text(block, difficulty)?.with_range(base.range())?.with_bit_order(base.bit_order());
            let mut run = config.clone();
            run.spec = RunSpec::new(problem, w, Mode::First);
            let result = runtime.block_on(async {
                let mut dispatcher = run.dispatcher().await?;
                anyhow::Ok(coordinate(dispatcher.as_mut(), &run.spec, stop_signal(None)).await?)
            })?;
            match result.outcome {
                Outcome::Found(_) | Outcome::Exhausted { .. } => runs.push(ScalingRun {
                    time_s: result.elapsed.as_secs_f64(),
                    hashes: result.hashes,
                    found: matches!(result.outcome, Outcome::Found(_)),
                }),
                Outcome::Stopped(_) => {
                    if show {
                        eprintln!();
                    }
                    eprintln!("cancelled: nothing left running");
                    return Ok(Exit::Stopped);
                }
            }
        }
        points.push(ScalingPoint::new(w, runs));
    }
    if show {
        eprint!("\r{:40}\r", "");
    }
    runtime.shutdown_timeout(Duration::from_secs(2));

    let (base_w, base_median, base_rate) = (points[0].workers, points[0].median_s, points[0].hash_rate);
    for p in &mut points {
        let ideal = f64::from(p.workers) / f64::from(base_w);
        p.speedup = base_median / p.median_s;
        p.efficiency = p.speedup / ideal;
        p.speedup_rate = p.hash_rate / base_rate;
        p.efficiency_rate = p.speedup_rate / ideal;
    }
    let report = ScalingReport {
        difficulty,
        runs_per_point: args.runs,
        backend: config.backend.name(),
        kernel: config.kernel.name().to_string(),
        cpus: available_threads(),
        plot: args.plot.as_ref().map(|p| p.display().to_string()),
        points,
    };
    if let Some(path) = &args.plot {
        super::plot::draw(path, &report).map_err(|e| anyhow::anyhow!("--plot: cannot draw {}: {e}", path.display()))?;
    }
    if out.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_table(&report);
    }
    Ok(Exit::Found)
}
