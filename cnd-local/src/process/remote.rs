//! The coordinator's end of a run's remote result channel (SQS): reports are received on a
//! task of their own and forwarded as events; shutdown stops the task and closes the channel.

use std::time::{Duration, Instant};

use cnd_core::{DispatchError, ResultChannel};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::Event;

/// How long shutdown waits for the remote channel to finish opening or close.
pub(super) const CHANNEL_GRACE: Duration = Duration::from_secs(30);

/// The task that receives a run's remote reports.
pub(super) struct RemoteTask {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Box<dyn ResultChannel>>,
}

/// Receives remote reports on a task of their own (a long poll is never cut short by a
/// worker's exit), until stopped; gives the channel back for closing.
pub(super) fn receive_remote(
    mut channel: Box<dyn ResultChannel>,
    deadline: Option<Instant>,
    events: mpsc::UnboundedSender<Event>,
) -> RemoteTask {
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        loop {
            let next = tokio::select! {
                _ = &mut stopped => break,
                r = channel.receive(deadline) => r,
            };
            let end = !matches!(next, Ok(Some(_)));
            if events.send(Event::Remote(next)).is_err() || end {
                break;
            }
        }
        channel
    });
    RemoteTask { stop, task }
}

impl RemoteTask {
    /// Stops receiving and closes the channel (removing a per-run queue).
    pub(super) async fn close(self) -> cnd_core::Result<()> {
        let _ = self.stop.send(());
        match tokio::time::timeout(CHANNEL_GRACE, self.task).await {
            Ok(Ok(mut channel)) => channel.close().await,
            Ok(Err(e)) => Err(DispatchError::backend("stop the result channel", e)),
            Err(_) => Err(DispatchError::Incomplete("the result channel did not stop".into())),
        }
    }
}
