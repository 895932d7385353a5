//! The exit codes of DESIGN.md, one type for every place a code is written or read: the CLI,
//! the worker, the Job's `podFailurePolicy` and the coordinator that reads a pod's exit.

use crate::report::ReportOutcome;

/// How a `cnd` process (a search, a command or a worker) ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exit {
    /// 0: a golden nonce was found (or the command succeeded).
    Found,
    /// 1: a runtime error.
    Error,
    /// 2: bad input or usage (a worker: a missing or bad variable).
    Usage,
    /// 3: the range holds no golden nonce.
    Exhausted,
    /// 4: timed out or cancelled.
    Stopped,
}

impl Exit {
    /// Every exit code, in numeric order.
    pub const ALL: [Exit; 5] = [Exit::Found, Exit::Error, Exit::Usage, Exit::Exhausted, Exit::Stopped];

    /// The numeric code.
    pub const fn code(self) -> u8 {
        match self {
            Exit::Found => 0,
            Exit::Error => 1,
            Exit::Usage => 2,
            Exit::Exhausted => 3,
            Exit::Stopped => 4,
        }
    }

    /// The exit of a numeric code, if it is one of ours.
    pub fn from_code(code: i32) -> Option<Exit> {
        Self::ALL.into_iter().find(|e| i32::from(e.code()) == code)
    }

    /// The exit of a worker that reported `outcome`.
    pub fn of_report(outcome: &ReportOutcome) -> Exit {
        match outcome {
            ReportOutcome::Found { .. } => Exit::Found,
            ReportOutcome::Exhausted => Exit::Exhausted,
            ReportOutcome::Failed { .. } => Exit::Stopped,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for e in Exit::ALL {
            assert_eq!(Exit::from_code(i32::from(e.code())), Some(e));
        }
        assert_eq!(Exit::ALL.map(Exit::code), [0, 1, 2, 3, 4]);
        assert_eq!(Exit::from_code(137), None);
    }
}
