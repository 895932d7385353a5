//! What stops a worker from outside: SIGTERM, SIGINT and, for a local worker process, the
//! end of its stdin (its coordinator is gone).

use std::fmt;

use tokio::sync::oneshot;

/// Why a worker stopped before its search was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StopCause {
    Signal(&'static str),
    ParentGone,
}

impl fmt::Display for StopCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopCause::Signal(s) => write!(f, "stopped by {s}"),
            StopCause::ParentGone => f.write_str("stopped: its coordinator is gone"),
        }
    }
}

/// SIGTERM, SIGINT and, when asked, the end of stdin; installed before the search starts.
pub(super) struct Stops {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    parent: Option<oneshot::Receiver<()>>,
}

impl Stops {
    /// Installs the handlers (on the current runtime, which needs IO enabled).
    pub(super) fn install(watch_stdin: bool) -> Self {
        let parent = watch_stdin.then(|| {
            let (tx, rx) = oneshot::channel();
            // A plain thread: blocking reads have no place on the runtime. It ends with the
            // process.
            let _ = std::thread::Builder::new().name("cnd-parent-watch".into()).spawn(move || {
                let mut sink = [0u8; 256];
                let mut stdin = std::io::stdin().lock();
                while matches!(std::io::Read::read(&mut stdin, &mut sink), Ok(n) if n > 0) {}
                let _ = tx.send(());
            });
            rx
        });
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self { term: signal(SignalKind::terminate()).ok(), int: signal(SignalKind::interrupt()).ok(), parent }
        }
        #[cfg(not(unix))]
        Self { parent }
    }

    /// The first stop that comes.
    pub(super) async fn next(&mut self) -> StopCause {
        let parent = async {
            match self.parent.as_mut() {
                Some(rx) => {
                    let _ = rx.await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = recv(&mut self.term) => StopCause::Signal("SIGTERM"),
                _ = recv(&mut self.int) => StopCause::Signal("SIGINT"),
                _ = parent => StopCause::ParentGone,
            }
        }
        #[cfg(not(unix))]
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => StopCause::Signal("Ctrl-C"),
                _ = parent => StopCause::ParentGone,
            }
        }
    }
}
