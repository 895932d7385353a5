//! One worker process, watched: orders go to its stdin, its note lines become events, its
//! exit too; it is killed when its slot lets go of the kill switch.

use std::process::ExitStatus;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot};

use super::Event;
use super::protocol::{self, Note, Order};

/// How long a worker's remaining stdout is read after it exits.
const DRAIN: Duration = Duration::from_secs(1);

/// Writes `orders` to a child's stdin, reads its note lines and waits for it; kills it when
/// `kill` fires or is dropped.
pub(super) async fn supervise(
    worker: u32,
    generation: u32,
    mut child: Child,
    mut kill: oneshot::Receiver<()>,
    mut orders: mpsc::UnboundedReceiver<Order>,
    events: mpsc::UnboundedSender<Event>,
) {
    // Held open for the child's life: with CND_EXIT_WITH_PARENT it stops when this closes.
    let mut stdin = child.stdin.take();
    let mut lines = child.stdout.take().map(|s| BufReader::new(s).lines());
    let forward = |line: &str| {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        let event = match protocol::decode::<Note>(line) {
            Ok(note) => Event::Note { worker, generation, note },
            Err(bad) => Event::Fault { worker, generation, bad },
        };
        let _ = events.send(event);
    };
    let (mut killed, mut ordering) = (false, true);
    let status = loop {
        tokio::select! {
            _ = &mut kill, if !killed => {
                killed = true;
                let _ = child.start_kill();
            }
            order = orders.recv(), if ordering => match (order, stdin.as_mut()) {
                (Some(order), Some(pipe)) => {
                    let line = protocol::encode(&order) + "\n";
                    // A write fails only when the child has gone: its exit comes next.
                    if pipe.write_all(line.as_bytes()).await.is_err() {
                        ordering = false;
                    }
                }
                _ => ordering = false,
            },
            line = next_line(&mut lines) => match line {
                Some(l) => forward(&l),
                None => lines = None,
            },
            status = child.wait() => break status,
        }
    };
    drop(stdin);
    // The last notes may still be in the pipe when the exit is seen.
    if lines.is_some() {
        let _ = tokio::time::timeout(DRAIN, async {
            while let Some(l) = next_line(&mut lines).await {
                forward(&l);
            }
        })
        .await;
    }
    let _ = events.send(Event::Exited { worker, generation, status });
}

/// The next line, or `None` at the end (pending forever once the stream is gone).
async fn next_line(lines: &mut Option<tokio::io::Lines<BufReader<tokio::process::ChildStdout>>>) -> Option<String> {
    match lines {
        Some(l) => l.next_line().await.ok().flatten(),
        None => std::future::pending().await,
    }
}

pub(super) fn describe(status: &std::io::Result<ExitStatus>) -> String {
    match status {
        Err(e) => format!("could not be waited for ({e})"),
        Ok(s) => {
            #[cfg(unix)]
            {
                use std::os::unix::process::ExitStatusExt as _;
                if let Some(sig) = s.signal() {
                    return format!("was killed by signal {sig}{}", signal_name(sig));
                }
            }
            match s.code() {
                Some(c) => format!("exited with code {c}"),
                None => format!("ended ({s})"),
            }
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        2 => " (SIGINT)",
        6 => " (SIGABRT)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        15 => " (SIGTERM)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn deaths_are_described_with_the_signal() {
        use std::os::unix::process::ExitStatusExt as _;
        assert_eq!(describe(&Ok(ExitStatus::from_raw(9))), "was killed by signal 9 (SIGKILL)");
        assert_eq!(describe(&Ok(ExitStatus::from_raw(1 << 8))), "exited with code 1");
    }
}
