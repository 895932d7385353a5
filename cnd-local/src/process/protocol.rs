//! The chunk protocol between the process backend's coordinator and its workers
//! (`CND_CHUNKS=stdin`): one JSON object per line, the coordinator's [`Order`]s on the
//! worker's stdin and the worker's [`Note`]s on its stdout. Every line carries the protocol
//! version (`"v": 1`); a line that is not JSON, has another version or is not a message of
//! this version is a fault of the side that wrote it ([`BadLine`]), never a panic.
//!
//! ```text
//! → {"v":1,"type":"chunk","chunk":7,"range":{"start":7340032,"end":8388608}}
//! ← {"v":1,"type":"done","chunk":7,"range":{"start":7340032,"end":8388608},"hashes":1048576,"elapsed_s":0.04}
//! ← {"v":1,"type":"done","chunk":8,"range":{...},"hashes":...,"elapsed_s":...,"nonce":8392051}
//! ← {"v":1,"type":"done","chunk":9,"range":{...},"hashes":...,"elapsed_s":...,"published":true}
//! ← {"v":1,"type":"failed","reason":"stopped by SIGTERM"}
//! ```

use cnd_core::NonceRange;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The protocol version this build speaks.
pub(crate) const VERSION: u64 = 1;

/// Coordinator → worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum Order {
    /// Search this chunk of the run's range and answer with [`Note::Done`]. Chunks are
    /// searched in the order they are sent.
    Chunk {
        /// The chunk's id in the run.
        chunk: u64,
        /// Its nonces.
        range: NonceRange,
    },
}

/// Worker → coordinator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum Note {
    /// A chunk searched to its end (in `first` mode: to its first golden nonce).
    Done {
        /// The chunk's id, as ordered.
        chunk: u64,
        /// Its nonces, as ordered.
        range: NonceRange,
        /// Hashes computed for it.
        hashes: u64,
        /// Seconds spent on it.
        elapsed_s: f64,
        /// Its golden nonce (in `lowest` mode its lowest), unless `published`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<u64>,
        /// It holds a golden nonce, sent as a report through the run's result channel
        /// (SQS): the coordinator learns the nonce from there.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        published: bool,
    },
    /// The worker cannot go on (stopped by a signal, a malformed order, an undelivered
    /// report); it exits after this line.
    Failed {
        /// Why.
        reason: String,
    },
}

/// A line of the other side that is not a message of this protocol version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{why} in line {line:?}")]
pub(crate) struct BadLine {
    /// The line (its first 200 characters).
    pub line: String,
    /// What is wrong with it.
    pub why: String,
}

/// The line of a message (no newline).
pub(crate) fn encode<T: Serialize>(message: &T) -> String {
    #[derive(Serialize)]
    struct Line<'a, T> {
        v: u64,
        #[serde(flatten)]
        body: &'a T,
    }
    serde_json::to_string(&Line { v: VERSION, body: message }).expect("a protocol message always serialises")
}

/// Reads a line of the other side: JSON, of this protocol version, a message of it.
pub(crate) fn decode<T: DeserializeOwned>(line: &str) -> Result<T, BadLine> {
    let bad = |why: String| BadLine { line: line.chars().take(200).collect(), why };
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| bad(format!("not a JSON protocol line ({e})")))?;
    match value.get("v").and_then(serde_json::Value::as_u64) {
        Some(VERSION) => {}
        Some(v) => return Err(bad(format!("protocol version {v} (this side speaks {VERSION})"))),
        None => return Err(bad(format!("no protocol version (\"v\":{VERSION})"))),
    }
    serde_json::from_value(value).map_err(|e| bad(format!("not a protocol message ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: u64, end: u64) -> NonceRange {
        NonceRange::new(start, end).unwrap()
    }

    #[test]
    fn messages_round_trip_as_one_versioned_line() {
        let order = Order::Chunk { chunk: 7, range: range(70, 80) };
        let line = encode(&order);
        assert_eq!(line, r#"{"v":1,"type":"chunk","chunk":7,"range":{"start":70,"end":80}}"#);
        assert_eq!(decode::<Order>(&line).unwrap(), order);
        let done = |nonce, published| Note::Done {
            chunk: 7,
            range: range(70, 80),
            hashes: 10,
            elapsed_s: 0.5,
            nonce,
            published,
        };
        for note in [
            done(None, false),
            done(Some(u64::MAX - 1), false),
            done(None, true),
            Note::Failed { reason: "stopped by \"SIGTERM\"\n".into() },
        ] {
            let line = encode(&note);
            assert!(!line.contains('\n') && line.starts_with(r#"{"v":1,"#), "{line}");
            assert_eq!(decode::<Note>(&line).unwrap(), note);
        }
        assert!(!encode(&done(None, false)).contains("nonce") && !encode(&done(None, false)).contains("published"));
    }

    #[test]
    fn anything_else_is_a_bad_line_that_says_why() {
        let why = |line: &str| decode::<Note>(line).unwrap_err().why;
        assert!(why("hello").starts_with("not a JSON protocol line"));
        assert!(why("").starts_with("not a JSON protocol line"));
        assert!(why(r#"{"type":"failed","reason":"x"}"#).starts_with("no protocol version"));
        assert!(why(r#"{"v":2,"type":"failed","reason":"x"}"#).starts_with("protocol version 2 (this side speaks 1)"));
        assert!(why(r#"{"v":1,"type":"explode"}"#).starts_with("not a protocol message (unknown variant `explode`"));
        assert!(why(r#"{"v":1,"type":"done","chunk":1}"#).starts_with("not a protocol message (missing field"));
        // An old worker's report line is not a note.
        let report =
            r#"{"run_id":"r","worker":0,"range":{"start":0,"end":9},"hashes":9,"elapsed_s":0.1,"status":"exhausted"}"#;
        assert!(why(report).starts_with("no protocol version"));
        let long = "x".repeat(1_000);
        assert_eq!(decode::<Order>(&long).unwrap_err().line.len(), 200);
    }
}
