//! What workers report, and what a run finds.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::hash::Digest;
use crate::problem::NonceRange;

/// The outcome a worker reports for its range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum ReportOutcome {
    /// A golden nonce (in `lowest` mode, the lowest of the worker's range).
    Found {
        /// The nonce.
        nonce: u64,
        /// Its digest, hex.
        #[serde(with = "hex::serde")]
        digest: Digest,
    },
    /// The whole range was searched without success.
    Exhausted,
    /// The worker could not finish: cancelled, bad input or a fault.
    Failed {
        /// Why.
        reason: String,
    },
}

/// One worker's report: one JSON line on stdout, in a termination message or an SQS message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerReport {
    /// The run this report belongs to.
    pub run_id: String,
    /// The worker's index (0-based) among the run's workers.
    pub worker: u32,
    /// Who computed it, for people: a thread, process or pod name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The worker's range.
    pub range: NonceRange,
    /// Hashes the worker computed.
    pub hashes: u64,
    /// Seconds the worker spent searching.
    pub elapsed_s: f64,
    /// What it found.
    #[serde(flatten)]
    pub outcome: ReportOutcome,
}

impl WorkerReport {
    /// The report as one JSON line (no trailing newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("a report always serialises")
    }

    /// Parses a JSON report.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text.trim())
    }
}

/// A verified golden nonce: what a run reports when it succeeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Found {
    /// The nonce.
    pub nonce: u64,
    /// Its digest.
    #[serde(with = "hex::serde")]
    pub digest: Digest,
    /// Leading zero bits of the digest, as the problem counts them.
    pub leading_zero_bits: u32,
    /// Who found it, for people: a thread, process or pod name.
    pub found_by: String,
    /// Hashes the finding worker computed.
    pub hashes: u64,
    /// Time the finding worker spent searching.
    #[serde(skip)]
    pub elapsed: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_round_trips_as_one_json_line() {
        let r = WorkerReport {
            run_id: "abc".into(),
            worker: 3,
            source: None,
            range: NonceRange { start: 5, end: 9 },
            hashes: 4,
            elapsed_s: 0.5,
            outcome: ReportOutcome::Found { nonce: 7, digest: [1; 32] },
        };
        let line = r.to_json_line();
        assert!(!line.contains('\n'));
        assert!(line.contains(r#""status":"found""#), "{line}");
        assert_eq!(WorkerReport::from_json(&line).unwrap(), r);
        let e = WorkerReport { outcome: ReportOutcome::Exhausted, ..r };
        assert_eq!(WorkerReport::from_json(&e.to_json_line()).unwrap(), e);
    }
}
