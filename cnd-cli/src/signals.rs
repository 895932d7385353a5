//! What stops a run from outside: its timeout, Ctrl-C (SIGINT) or SIGTERM.
//!
//! Each of them is a *request to stop*, counted by [`StopRequests`]. The first one stops the
//! run cleanly: the coordinator stops the workers and cleans up (deletes the Job, waits for
//! the pods, removes the queue), which can take a while on a slow cluster. The second one
//! (a second Ctrl-C, or a Ctrl-C after the timeout) ends the coordinator at once: the
//! caller then says how to finish the cleanup.

use std::sync::Arc;
use std::time::Duration;

use cnd_core::StopReason;
use tokio::sync::watch;

/// The requests to stop a run so far: each SIGINT or SIGTERM, and the timeout.
#[derive(Debug, Clone)]
pub struct StopRequests {
    count: Arc<watch::Sender<u32>>,
}

impl StopRequests {
    /// Starts counting SIGINT and SIGTERM (from now on they no longer kill the process).
    /// Must be called on the runtime.
    pub fn listen() -> Self {
        let requests = Self::new();
        let mut signals = Interrupts::install();
        let count = Arc::clone(&requests.count);
        tokio::spawn(async move {
            while signals.next().await {
                count.send_modify(|n| *n = n.saturating_add(1));
            }
        });
        requests
    }

    /// A counter that no signal reaches (requests come from [`StopRequests::request`]).
    fn new() -> Self {
        Self { count: Arc::new(watch::channel(0).0) }
    }

    /// One more request.
    fn request(&self) {
        self.count.send_modify(|n| *n = n.saturating_add(1));
    }

    /// Resolves once `n` requests have been made.
    pub async fn reached(&self, n: u32) {
        let mut rx = self.count.subscribe();
        // The sender lives as long as `self`: the wait cannot fail.
        let _ = rx.wait_for(|c| *c >= n).await;
    }

    /// The first request: the timeout (which counts as a request) or a signal.
    pub async fn first(&self, timeout: Option<Duration>) -> StopReason {
        let timer = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = self.reached(1) => StopReason::Cancelled,
            _ = timer => {
                self.request();
                StopReason::TimedOut
            }
        }
    }

    /// Resolves on the second request: stop waiting for the cleanup.
    pub async fn second(&self) {
        self.reached(2).await
    }
}

/// Resolves on the timeout, Ctrl-C (SIGINT) or SIGTERM: for runs with no cleanup to speak of
/// (the benchmark's).
pub async fn stop_signal(timeout: Option<Duration>) -> StopReason {
    let mut signals = Interrupts::install();
    let timer = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = timer => StopReason::TimedOut,
        true = signals.next() => StopReason::Cancelled,
    }
}

/// SIGINT and SIGTERM (Ctrl-C elsewhere), one at a time.
struct Interrupts {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Interrupts {
    /// Installs the handlers now, so that no signal between here and the first wait is lost.
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let streams = match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
                (Ok(int), Ok(term)) => Some((int, term)),
                _ => {
                    tracing::warn!("cannot watch SIGINT/SIGTERM: only the timeout stops this run");
                    None
                }
            };
            Self { streams }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// The next signal (`false`: no more can come).
    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        {
            let Some((int, term)) = self.streams.as_mut() else { return std::future::pending().await };
            tokio::select! {
                s = int.recv() => s.is_some(),
                s = term.recv() => s.is_some(),
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c().await.is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready<F: std::future::Future>(f: F) -> bool {
        futures::executor::block_on(async {
            futures::pin_mut!(f);
            futures::poll!(f).is_ready()
        })
    }

    #[tokio::test]
    async fn a_signal_cancels_and_a_second_one_forces() {
        let stops = StopRequests::new();
        assert!(!ready(stops.second()));
        stops.request();
        assert_eq!(stops.first(None).await, StopReason::Cancelled);
        assert!(!ready(stops.second()), "one request only stops the run cleanly");
        stops.request();
        assert!(ready(stops.second()));
    }

    #[tokio::test]
    async fn the_timeout_is_the_first_request_so_one_signal_then_forces() {
        let stops = StopRequests::new();
        assert_eq!(stops.first(Some(Duration::from_millis(10))).await, StopReason::TimedOut);
        assert!(ready(stops.reached(1)));
        assert!(!ready(stops.second()));
        stops.request();
        assert!(ready(stops.second()));
    }

    #[tokio::test]
    async fn no_request_no_stop() {
        let stops = StopRequests::new();
        let first = tokio::time::timeout(Duration::from_millis(20), stops.first(None)).await;
        assert!(first.is_err(), "nothing stopped the run");
    }
}
