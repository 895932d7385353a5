//! One worker process, watched: its report lines become events, its exit too; it is killed
//! when its slot lets go of the kill switch.

use std::process::ExitStatus;
use std::time::Duration;

use cnd_core::WorkerReport;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot};

use super::Event;

/// How long a worker's remaining stdout is read after it exits.
const DRAIN: Duration = Duration::from_secs(1);

/// Reads a child's report lines and waits for it; kills it when `kill` fires or is dropped.
pub(super) async fn supervise(
    worker: u32,
    generation: u32,
    mut child: Child,
    mut kill: oneshot::Receiver<()>,
    events: mpsc::UnboundedSender<Event>,
) {
    // Held open for the child's life: with CND_EXIT_WITH_PARENT it stops when this closes.
    let _stdin = child.stdin.take();
    let mut lines = child.stdout.take().map(|s| BufReader::new(s).lines());
    let forward = |line: &str| {
        let line = line.trim();
        if line.is_empty() {
            return;
        }
        match WorkerReport::from_json(line) {
            Ok(report) => {
                let _ = events.send(Event::Report { worker, generation, report: Box::new(report) });
            }
            Err(_) => tracing::debug!(worker, "worker output that is not a report: {line}"),
        }
    };
    let mut killed = false;
    let status = loop {
        tokio::select! {
            _ = &mut kill, if !killed => {
                killed = true;
                let _ = child.start_kill();
            }
            line = next_line(&mut lines) => match line {
                Some(l) => forward(&l),
                None => lines = None,
            },
            status = child.wait() => break status,
        }
    };
    // The report line may still be in the pipe when the exit is seen.
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
