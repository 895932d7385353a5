//! How many workers find a golden nonce by a deadline? The planner of `cnd-core`, embedded.
//!
//! ```text
//! cargo run -p cnd --example plan          # D = 26, 60 s, 95 %, 211 000 hashes/s per worker
//! cargo run -p cnd --example plan -- 30 300 0.9 3.5e6 5
//!                                          # D, deadline s, confidence, rate, start-up s
//! ```
//!
//! Prints the plan, then the probability of meeting the deadline for worker counts around it.

use std::time::Duration;

use cnd::{HumanSeconds, Problem, SearchModel, percent};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: f64| -> Result<f64, Box<dyn std::error::Error>> {
        Ok(args.get(i).map(|a| a.parse::<f64>()).transpose()?.unwrap_or(default))
    };
    let difficulty = arg(0, 26.0)? as u32;
    let deadline = Duration::from_secs_f64(arg(1, 60.0)?);
    let confidence = arg(2, 0.95)?;
    let rate = arg(3, 211_000.0)?;
    let startup = Duration::from_secs_f64(arg(4, 0.0)?);

    // The default range [0, 2^32) of the text format, with the reference system's block.
    let problem = Problem::text("COMSM0010cloud", difficulty)?;
    let model = SearchModel::new(&problem, rate, startup)?;
    let plan = model.plan(deadline, confidence, None)?;

    println!(
        "D = {difficulty}, deadline {}, confidence {}, {rate} hashes/s per worker, start-up {}",
        HumanSeconds(plan.deadline_s),
        percent(confidence),
        HumanSeconds(plan.startup_s)
    );
    println!(
        "=> {} workers: P(found by the deadline) = {}, expected {}, median {}, expected cost {:.0} worker-s",
        plan.workers,
        percent(plan.probability_by_deadline),
        HumanSeconds(plan.expected_s),
        plan.p50_s.map_or("-".into(), |s| HumanSeconds(s).to_string()),
        plan.cost_worker_seconds
    );
    println!("\n{:>8}  {:>16}  {:>10}", "workers", "P(by deadline)", "expected");
    let w = plan.workers;
    for workers in [w / 4, w / 2, w.saturating_sub(1), w, w + 1, 2 * w, 4 * w] {
        if workers == 0 {
            continue;
        }
        let marker = if workers == w { "  <= the plan" } else { "" };
        println!(
            "{workers:>8}  {:>16}  {:>10}{marker}",
            percent(model.probability_found_by(workers, plan.deadline_s)),
            HumanSeconds(model.expected_time(workers)).to_string()
        );
    }
    Ok(())
}
