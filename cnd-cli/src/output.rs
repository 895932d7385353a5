//! One result struct feeds both the human report and `--json`; the progress bar lives here.

use std::io::IsTerminal as _;
use std::time::Duration;

use cnd_core::{
    Exit, HashRate, HumanSeconds, Outcome, ProgressProbe, RunResult, RunSpec, SearchModel, StopReason, group_digits,
    percent,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

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
    /// Who found it (a thread, process or pod), as DESIGN.md's JSON names it.
    #[serde(rename = "worker")]
    pub found_by: Option<String>,
    /// Hashes of all workers.
    pub hashes: u64,
    /// Search time of the finding worker.
    pub worker_elapsed_s: Option<f64>,
    /// Wall-clock time of the run up to this report: for a found nonce or an exhausted
    /// range, printed before the cleanup, which it does not include.
    pub elapsed_s: f64,
    /// Seconds from the start of the run to the verification of the answer.
    pub answer_elapsed_s: Option<f64>,
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
            found_by: None,
            hashes: result.hashes,
            worker_elapsed_s: None,
            elapsed_s: elapsed,
            answer_elapsed_s: result.answered.map(|a| a.as_secs_f64()),
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
                r.found_by = Some(f.found_by.clone());
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
    /// stderr), and flushes it: it is printed before the run's cleanup, and must be seen then.
    pub fn print(&self, json: bool) {
        self.print_unflushed(json);
        let _ = std::io::Write::flush(&mut std::io::stdout());
    }

    fn print_unflushed(&self, json: bool) {
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
                let times = match (self.worker_elapsed_s, self.answer_elapsed_s) {
                    (Some(w), Some(a)) => {
                        format!(" (searched {}, verified {} into the run)", HumanSeconds(w), HumanSeconds(a))
                    }
                    _ => String::new(),
                };
                println!("  found by           {}{times}", self.found_by.as_deref().unwrap_or("?"));
                println!(
                    "  hashes             {} in {} ({}, {} on {} workers)",
                    group_digits(self.hashes),
                    HumanSeconds(self.elapsed_s),
                    HashRate(self.hash_rate),
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
                HumanSeconds(self.elapsed_s)
            ),
            "timed_out" => eprintln!(
                "timed out after {} ({} hashes, nothing left running)",
                HumanSeconds(self.elapsed_s),
                group_digits(self.hashes)
            ),
            _ => eprintln!(
                "cancelled after {} ({} hashes, nothing left running)",
                HumanSeconds(self.elapsed_s),
                group_digits(self.hashes)
            ),
        }
    }
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
        // P(found by now) from the planner's model; the rate does not enter it.
        let model = SearchModel::new(&spec.problem, 1.0, Duration::ZERO).ok();
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
                        HashRate(hashes as f64 / secs),
                        percent(model.map_or(0.0, |m| m.probability_in(hashes as f64)))
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
    use cnd_core::{Found, Mode, NonceRange, Problem};

    fn result(outcome: Outcome) -> RunResult {
        RunResult { outcome, hashes: 1000, elapsed: Duration::from_secs(2), rejected: 0, answered: None }
    }

    #[test]
    fn the_report_names_the_finder_as_worker_and_maps_exits() {
        let spec = RunSpec::new(Problem::text("x", 1).unwrap(), 2, Mode::First);
        let found = Found {
            nonce: 7,
            digest: [0; 32],
            leading_zero_bits: 256,
            found_by: "pod-1".into(),
            hashes: 10,
            elapsed: Duration::from_millis(5),
        };
        let answered = RunResult { answered: Some(Duration::from_millis(1500)), ..result(Outcome::Found(found)) };
        let r = SearchReport::new(&spec, &answered, "k8s", "avx2");
        assert_eq!(r.exit(), Exit::Found);
        let json: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(json["worker"], "pod-1");
        assert_eq!(json["hash_rate"], 500.0);
        assert_eq!(json["answer_elapsed_s"], 1.5);
        assert_eq!(json["worker_elapsed_s"], 0.005);
        let range = NonceRange::new(0, 1).unwrap();
        assert_eq!(SearchReport::new(&spec, &result(Outcome::Exhausted { range }), "", "").exit(), Exit::Exhausted);
        let stopped = result(Outcome::Stopped(StopReason::TimedOut));
        assert_eq!(SearchReport::new(&spec, &stopped, "", "").exit(), Exit::Stopped);
    }
}
