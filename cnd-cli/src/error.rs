//! Errors as the CLI reports them: one line, and the exit code of their kind.

use cnd_core::{ContractError, DispatchError, Exit, KernelError, ProblemError};

/// Bad input found after parsing: one line that names the flag and the allowed values.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A usage error as an `anyhow::Error`.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// The CLI flag for a `cnd-core` field name.
fn flag_for_field(field: &str) -> String {
    match field {
        "difficulty" => "-d/--difficulty".into(),
        other => format!("--{other}"),
    }
}

/// Prints `error: ...` on one line and returns the exit code for the error's kind.
pub fn report(err: &anyhow::Error) -> Exit {
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
        if let Some(w) = cause.downcast_ref::<cnd_local::WorkerError>() {
            return w.exit();
        }
        if cause.is::<UsageError>()
            || cause.is::<ProblemError>()
            || cause.is::<KernelError>()
            || cause.is::<ContractError>()
        {
            return Exit::Usage;
        }
        match cause.downcast_ref::<DispatchError>() {
            Some(DispatchError::Invalid(_)) => return Exit::Usage,
            Some(DispatchError::TimedOut(_)) => return Exit::Stopped,
            _ => {}
        }
    }
    Exit::Error
}
