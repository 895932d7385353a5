//! What stops a run from outside: its timeout, Ctrl-C (SIGINT) or SIGTERM.

use std::time::Duration;

use cnd_core::StopReason;

/// Resolves on the timeout, Ctrl-C (SIGINT) or SIGTERM.
pub async fn stop_signal(timeout: Option<Duration>) -> StopReason {
    let timer = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = timer => StopReason::TimedOut,
        _ = interrupted() => StopReason::Cancelled,
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn interrupted() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
