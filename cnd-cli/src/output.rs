//! One result struct feeds both the human report and `--json`; the progress bar lives here.

use std::io::IsTerminal as _;
use std::time::Duration;

use cnd_core::{Outcome, Problem, ProgressProbe, RunResult, RunSpec, StopReason, percent};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::exit::Exit;

/// The result of a search, as printed (human or JSON).
#[derive(Debug, Serialize)]
pub struct SearchReport {
    /// The run's id.
    pub run_id: String,
    /// `found`, `exhausted`, `timed_out` or `cancelled`.
    pub status: &'static str,
    /// The golden nonce.
    pub nonce: Option<u64>,
    /// Its digest, hex.
    pub digest: Option<String>,
    /// Leading zero bits of the digest.
    pub leading_zero_bits: Option<u32>,
    /// The difficulty asked for (None for a Bitcoin nBits target).
    pub difficulty: Option<u32>,
    /// Who found it.
    pub worker: Option<String>,
    /// Hashes of all workers.
    pub hashes: u64,
    /// Search time of the finding worker.
    pub worker_elapsed_s: Option<f64>,
    /// Wall-clock time of the run.
    pub elapsed_s: f64,
    /// Hashes per second over the run.
    pub hash_rate: f64,
    /// Where it ran.
    pub backend: String,
    /// The kernel (local backend) .
    pub kernel: String,
    /// first or lowest.
    pub mode: &'static str,
    /// Range start.
    pub start: u64,
    /// Range end.
    pub end: u64,
    /// Workers used.
    pub workers: u32,
    /// Reports rejected because their nonce did not verify.
    pub rejected: u32,
}

impl SearchReport {
    /// Builds the report of a finished run.
    pub fn new(spec: &RunSpec, result: &RunResult, backend: &str, kernel: &str) -> Self {
        let elapsed = result.elapsed.as_secs_f64();
        let mut r = SearchReport {
            run_id: spec.run_id.clone(),
            status: "found",
            nonce: None,
            digest: None,
            leading_zero_bits: None,
            difficulty: spec.problem.difficulty(),
            worker: None,
            hashes: result.hashes,
            worker_elapsed_s: None,
            elapsed_s: elapsed,
            hash_rate: if elapsed > 0.0 { result.hashes as f64 / elapsed } else { 0.0 },
            backend: backend.to_string(),
            kernel: kernel.to_string(),
            mode: spec.mode.as_str(),
            start: spec.problem.range().start,
            end: spec.problem.range().end,
            workers: spec.workers,
            rejected: result.rejected,
        };
        match &result.outcome {
            Outcome::Found(f) => {
                r.nonce = Some(f.nonce);
                r.digest = Some(hex::encode(f.digest));
                r.leading_zero_bits = Some(f.leading_zero_bits);
                r.worker = Some(f.worker.clone());
                r.worker_elapsed_s = Some(f.elapsed.as_secs_f64());
            }
            Outcome::Exhausted { .. } => r.status = "exhausted",
            Outcome::Stopped(StopReason::TimedOut) => r.status = "timed_out",
            Outcome::Stopped(StopReason::Cancelled) => r.status = "cancelled",
        }
        r
    }

    /// The exit code for this report.
    pub fn exit(&self) -> Exit {
        match self.status {
            "found" => Exit::Found,
            "exhausted" => Exit::Exhausted,
            _ => Exit::Stopped,
        }
    }

    /// Prints the report: JSON on stdout, or the human form (result on stdout, failures on
    /// stderr).
    pub fn print(&self, json: bool) {
        if json {
            println!("{}", serde_json::to_string(self).expect("report serialises"));
            return;
        }
        match self.status {
            "found" => {
                println!("golden nonce {}", self.nonce.unwrap_or_default());
                println!("  digest             {}", self.digest.as_deref().unwrap_or(""));
                let need = self.difficulty.map_or("target".to_string(), |d| format!(">= {d}"));
                println!("  leading zero bits  {} ({need})", self.leading_zero_bits.unwrap_or_default());
                println!("  found by           {}", self.worker.as_deref().unwrap_or("?"));
                println!(
                    "  hashes             {} in {} ({}, {} on {} workers)",
                    group_digits(self.hashes),
                    seconds(self.elapsed_s),
                    rate(self.hash_rate),
                    self.backend,
                    self.workers
                );
                println!("  run                {} ({} mode, kernel {})", self.run_id, self.mode, self.kernel);
            }
            "exhausted" => eprintln!(
                "no golden nonce in [{}, {}) ({} hashes in {})",
                self.start,
                self.end,
                group_digits(self.hashes),
                seconds(self.elapsed_s)
            ),
            "timed_out" => eprintln!(
                "timed out after {} ({} hashes, nothing left running)",
                seconds(self.elapsed_s),
                group_digits(self.hashes)
            ),
            _ => eprintln!(
                "cancelled after {} ({} hashes, nothing left running)",
                seconds(self.elapsed_s),
                group_digits(self.hashes)
            ),
        }
    }
}

/// `1234567` → `1,234,567`.
pub fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A hash rate with a unit.
pub fn rate(per_second: f64) -> String {
    if per_second >= 1e9 {
        format!("{:.2} GH/s", per_second / 1e9)
    } else if per_second >= 1e6 {
        format!("{:.2} MH/s", per_second / 1e6)
    } else if per_second >= 1e3 {
        format!("{:.1} kH/s", per_second / 1e3)
    } else {
        format!("{per_second:.0} H/s")
    }
}

fn seconds(s: f64) -> String {
    if s < 10.0 { format!("{s:.3} s") } else { format!("{s:.1} s") }
}

/// P(at least one golden nonce in `hashes` tries) = 1 − (1 − p)^hashes, without underflow.
pub fn probability_found(problem: &Problem, hashes: u64) -> f64 {
    let p = problem.probability();
    if p <= 0.0 || hashes == 0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    -(hashes as f64 * (-p).ln_1p()).exp_m1()
}

/// The live progress display: hashes, rate, elapsed and P(found by now), on stderr, hidden
/// when stderr is not a terminal or output is quiet/JSON.
#[derive(Debug)]
pub struct ProgressDisplay {
    bar: ProgressBar,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ProgressDisplay {
    /// Starts updating the display from `probe` every 100 ms.
    pub fn start(spec: &RunSpec, probe: ProgressProbe, hidden: bool) -> Self {
        let visible = !hidden && std::io::stderr().is_terminal();
        let len = spec.problem.range().len();
        let bar = if visible {
            ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr_with_hz(10))
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} [{bar:24}] {human_pos} hashes  {msg}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        if !visible {
            return Self { bar, task: None };
        }
        let problem = spec.problem.clone();
        let b = bar.clone();
        let task = tokio::spawn(async move {
            let started = std::time::Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tick.tick().await;
                let p = probe();
                let hashes = p.hashes.unwrap_or(0);
                b.set_position(hashes);
                let secs = started.elapsed().as_secs_f64().max(1e-9);
                let mut msg = String::new();
                if p.hashes.is_some() {
                    msg = format!(
                        "{}  P(found by now) {}",
                        rate(hashes as f64 / secs),
                        percent(probability_found(&problem, hashes))
                    );
                }
                if let Some(d) = p.detail {
                    msg = if msg.is_empty() { d } else { format!("{msg}  {d}") };
                }
                b.set_message(msg);
            }
        });
        Self { bar, task: Some(task) }
    }

    /// Stops updating and clears the display.
    pub fn finish(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_group() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(1234567), "1,234,567");
        assert_eq!(group_digits(100), "100");
    }

    #[test]
    fn probability_does_not_underflow() {
        let p = Problem::text("x", 256).unwrap();
        let tiny = probability_found(&p, 1 << 40);
        assert!(tiny > 0.0 && tiny < 1e-60, "{tiny}");
        let p = Problem::text("x", 1).unwrap();
        assert!((probability_found(&p, 1) - 0.5).abs() < 1e-12);
        let p = Problem::text("x", 20).unwrap();
        let expect = 1.0 - (1.0 - 2f64.powi(-20)).powf(1e6);
        assert!((probability_found(&p, 1_000_000) - expect).abs() < 1e-6, "{expect}");
    }
}
