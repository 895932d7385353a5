//! Exit codes and the one-line error report.

use std::process::ExitCode;

use cnd_core::{DispatchError, KernelError, ProblemError};

/// The exit codes of DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: a golden nonce was found (or the command succeeded).
    Found = 0,
    /// 1: a runtime error.
    Error = 1,
    /// 2: bad input or usage.
    Usage = 2,
    /// 3: the range holds no golden nonce.
    Exhausted = 3,
    /// 4: timed out or cancelled.
    Stopped = 4,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// Bad input found after parsing: one line that names the flag and the allowed values.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A usage error as an `anyhow::Error`.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// The CLI flag for a `cnd-core` field name.
pub fn flag_for_field(field: &str) -> String {
    match field {
        "difficulty" => "-d/--difficulty".into(),
        other => format!("--{other}"),
    }
}

/// Prints `error: ...` on one line and returns the exit code for the error's kind.
pub fn report_error(err: &anyhow::Error) -> Exit {
    let code = classify(err);
    let message = match err.downcast_ref::<ProblemError>() {
        Some(p) => format!("{}: {}", flag_for_field(p.field), p.message),
        None => format!("{err:#}"),
    };
    // One line, whatever the error chain held.
    let message = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
    eprintln!("error: {message}");
    code
}

fn classify(err: &anyhow::Error) -> Exit {
    for cause in err.chain() {
        if cause.is::<UsageError>() || cause.is::<ProblemError>() || cause.is::<KernelError>() {
            return Exit::Usage;
        }
        if let Some(DispatchError::Invalid(_)) = cause.downcast_ref::<DispatchError>() {
            return Exit::Usage;
        }
    }
    Exit::Error
}
