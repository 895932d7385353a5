//! A worker that takes its chunks from its coordinator (`CND_CHUNKS=stdin`, the process
//! backend): orders come in on one stream, notes go out on another, one JSON line each
//! ([`crate::process::protocol`]).
//!
//! Three threads: one reads the orders and hands each chunk straight to the search thread
//! (so that a chunk sent ahead starts the moment the previous one ends, without waiting for
//! this task), the search thread runs a [`RangeSearch`] per chunk, and this task writes a
//! note per searched chunk, publishes golden nonces and watches the signals.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cnd_core::{Exit, Kernel, Mode, NonceRange, Prepared, ReportOutcome, ResultChannel, WorkerReport, WorkerSpec};
use tokio::sync::mpsc;

use super::stops::{StopCause, Stops};
use super::{WorkerError, chain};
use crate::engine::{RangeResult, RangeSearch};
use crate::process::protocol::{self, BadLine, Note, Order};

/// What the order reader and the search thread tell this task.
enum Event {
    /// A chunk has been searched (or its threads could not start).
    Searched { chunk: u64, range: NonceRange, result: std::io::Result<RangeResult> },
    /// A line of the orders that is not an order of this protocol, or a chunk outside the run.
    BadOrder(BadLine),
    /// The orders ended: the coordinator is gone or done.
    OrdersEnd,
}

/// Runs a worker that searches the chunks `orders` sends (one [`Order`] line each, in the
/// order sent) and writes one note line per chunk on `notes`: what `cnd worker` runs with
/// `CND_CHUNKS=stdin` on its stdin and stdout. A chunk's golden nonce is published on
/// `channel` as a report of that chunk, if one is given, and the note then only says so.
///
/// Ends when `orders` ends or `notes` cannot be written (the coordinator is gone: exit 4),
/// on SIGTERM or SIGINT (a `failed` note, exit 4), on a line of `orders` that is not a valid
/// order (a `failed` note, [`WorkerError::Protocol`]) or a report that cannot be published
/// (a `failed` note, [`WorkerError::Deliver`]). In `first` mode it searches no chunk after
/// its first golden nonce. The thread reading `orders` ends with them (or with the process).
pub async fn serve_chunks<R, W>(
    spec: WorkerSpec,
    channel: Option<Box<dyn ResultChannel>>,
    orders: R,
    mut notes: W,
) -> Result<Exit, WorkerError>
where
    R: BufRead + Send + 'static,
    W: Write + Send,
{
    let index = spec.index.ok_or(WorkerError::NoIndex)?;
    let threads = super::checked_threads(&spec, channel.is_some())?;
    let mut stops = Stops::install(false);
    let kernel = spec.kernel.unwrap_or_else(Kernel::best);
    let source = spec.source.clone().unwrap_or_else(|| format!("worker {index} (pid {})", std::process::id()));
    tracing::info!(run_id = %spec.run_id, worker = index, of = spec.workers, threads, %kernel, "searching the chunks of its coordinator");

    let stop = Arc::new(AtomicBool::new(false));
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (chunks_tx, chunks) = std::sync::mpsc::channel::<(u64, NonceRange)>();
    let run_range = spec.problem.range();
    {
        let events = events_tx.clone();
        std::thread::Builder::new()
            .name("cnd-orders".into())
            .spawn(move || read_orders(orders, run_range, &chunks_tx, &events))
            .map_err(WorkerError::Spawn)?;
    }
    {
        let (stop, problem, mode, events) = (stop.clone(), spec.problem.clone(), spec.mode, events_tx);
        std::thread::Builder::new()
            .name("cnd-worker".into())
            .spawn(move || {
                let prepared = Prepared::new(&problem);
                let hashes = AtomicU64::new(0);
                for (chunk, range) in chunks {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    let result =
                        RangeSearch { prepared: &prepared, kernel, range, threads, mode, stop: &stop, hashes: &hashes }
                            .run();
                    // In `first` mode the search stops at its nonce (and sets `stop`): the run
                    // is over once the coordinator has it.
                    let last = result.as_ref().map_or(true, |r| r.stopped || r.found.is_some() && mode == Mode::First);
                    if events.send(Event::Searched { chunk, range, result }).is_err() || last {
                        break;
                    }
                }
            })
            .map_err(WorkerError::Spawn)?;
    }

    let mut write = |note: &Note| writeln!(notes, "{}", protocol::encode(note)).and_then(|()| notes.flush());
    loop {
        let event = tokio::select! {
            event = events.recv() => event.unwrap_or(Event::OrdersEnd),
            cause = stops.next() => {
                stop.store(true, Ordering::Release);
                let _ = write(&Note::Failed { reason: cause.to_string() });
                return Ok(Exit::Stopped);
            }
        };
        let note = match event {
            Event::Searched { chunk, range, result } => {
                let result = match result {
                    Ok(r) if !r.stopped => r,
                    Ok(_) => {
                        // Only a stop from outside ends a search early, and that returns above.
                        let _ = write(&Note::Failed { reason: "stopped".into() });
                        return Ok(Exit::Stopped);
                    }
                    Err(e) => {
                        let _ =
                            write(&Note::Failed { reason: format!("could not start {threads} hashing threads: {e}") });
                        return Err(WorkerError::Spawn(e));
                    }
                };
                let (hashes, elapsed_s) = (result.hashes, result.elapsed.as_secs_f64());
                let (mut nonce, mut published) = (result.found.map(|(n, _)| n), false);
                if let (Some(n), Some(channel)) = (nonce, channel.as_ref()) {
                    let report = WorkerReport {
                        run_id: spec.run_id.clone(),
                        worker: index,
                        source: Some(source.clone()),
                        range,
                        hashes,
                        elapsed_s,
                        outcome: ReportOutcome::Found { nonce: n, digest: cnd_core::hash::digest(&spec.problem, n) },
                    };
                    if let Err(e) = channel.publish(&report).await {
                        let e = WorkerError::Deliver(e);
                        let _ = write(&Note::Failed { reason: chain(&e) });
                        return Err(e);
                    }
                    (nonce, published) = (None, true);
                }
                Note::Done { chunk, range, hashes, elapsed_s, nonce, published }
            }
            Event::BadOrder(bad) => {
                stop.store(true, Ordering::Release);
                let e = WorkerError::Protocol(bad.to_string());
                let _ = write(&Note::Failed { reason: e.to_string() });
                return Err(e);
            }
            Event::OrdersEnd => {
                stop.store(true, Ordering::Release);
                tracing::debug!("{}", StopCause::ParentGone);
                return Ok(Exit::Stopped);
            }
        };
        if write(&note).is_err() {
            // Nobody reads the notes any more: the coordinator is gone.
            stop.store(true, Ordering::Release);
            return Ok(Exit::Stopped);
        }
    }
}

/// Reads order lines until they end or one is bad; hands each chunk to the search thread.
fn read_orders(
    orders: impl BufRead,
    run: NonceRange,
    chunks: &std::sync::mpsc::Sender<(u64, NonceRange)>,
    events: &mpsc::UnboundedSender<Event>,
) {
    for line in orders.lines() {
        let Ok(line) = line else { break };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let order = protocol::decode::<Order>(line).and_then(|order| match order {
            Order::Chunk { range, .. } if range.is_empty() || range.start < run.start || range.end > run.end => {
                Err(BadLine {
                    line: line.chars().take(200).collect(),
                    why: format!("chunk {range} is not inside the run's range {run}"),
                })
            }
            order => Ok(order),
        });
        match order {
            Ok(Order::Chunk { chunk, range }) => {
                if chunks.send((chunk, range)).is_err() {
                    return; // the search has ended
                }
            }
            Err(bad) => {
                let _ = events.send(Event::BadOrder(bad));
                return;
            }
        }
    }
    let _ = events.send(Event::OrdersEnd);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use cnd_core::{Problem, RunSpec, verify};

    use super::*;
    use crate::worker::tests::{ONE_AT_A_TIME, Recorder};

    fn spec(difficulty: u32, end: u64, mode: Mode) -> WorkerSpec {
        let problem =
            Problem::text("COMSM0010cloud", difficulty).unwrap().with_range(NonceRange::new(0, end).unwrap()).unwrap();
        WorkerSpec {
            index: Some(1),
            threads: Some(2),
            chunks_from_stdin: true,
            ..WorkerSpec::for_run(&RunSpec::new(problem, 2, mode))
        }
    }

    fn order(chunk: u64, start: u64, end: u64) -> String {
        protocol::encode(&Order::Chunk { chunk, range: NonceRange::new(start, end).unwrap() }) + "\n"
    }

    /// Serves `orders` as a coordinator would: reads `wanted` notes, then closes the orders
    /// and reads the notes left. Returns the exit and every note.
    async fn serve(
        spec: WorkerSpec,
        channel: Option<Box<dyn ResultChannel>>,
        orders: String,
        wanted: usize,
    ) -> (Result<Exit, WorkerError>, Vec<Note>) {
        let (orders_out, mut orders_in) = std::io::pipe().unwrap();
        let (notes_out, notes_in) = std::io::pipe().unwrap();
        orders_in.write_all(orders.as_bytes()).unwrap();
        let worker = tokio::spawn(serve_chunks(spec, channel, std::io::BufReader::new(orders_out), notes_in));
        let notes = tokio::task::spawn_blocking(move || {
            let mut lines = std::io::BufReader::new(notes_out).lines().map_while(Result::ok);
            let mut notes: Vec<String> = lines.by_ref().take(wanted).collect();
            drop(orders_in);
            notes.extend(lines);
            notes
        })
        .await
        .unwrap();
        let notes = notes.iter().map(|l| protocol::decode::<Note>(l).unwrap()).collect();
        (worker.await.unwrap(), notes)
    }

    #[tokio::test]
    async fn each_chunk_gets_a_note_with_its_lowest_nonce_in_the_order_sent() {
        let _one = ONE_AT_A_TIME.lock().await;
        let spec = spec(8, 10_000, Mode::Lowest);
        let lowest = |s: u64, e: u64| (s..e).find(|n| verify(&spec.problem, *n).is_valid());
        let orders = order(4, 3_000, 6_000) + &order(9, 0, 3_000) + "\n" + &order(2, 6_000, 6_001);
        let (exit, notes) = serve(spec.clone(), None, orders, 3).await;
        assert_eq!(exit.unwrap(), Exit::Stopped, "the orders' end is the coordinator's");
        let expect = [(4, 3_000, 6_000), (9, 0, 3_000), (2, 6_000, 6_001)];
        assert_eq!(notes.len(), 3, "{notes:?}");
        for (note, (id, s, e)) in notes.iter().zip(expect) {
            let Note::Done { chunk, range, hashes, nonce, published, .. } = note else { panic!("{note:?}") };
            // Lowest mode: the threads skip what lies above the chunk's nonce.
            assert!(*hashes > 0 && *hashes <= e - s, "{note:?}");
            assert_eq!((*chunk, *range, *nonce, *published), (id, NonceRange::new(s, e).unwrap(), lowest(s, e), false));
        }
    }

    #[tokio::test]
    async fn with_a_channel_the_nonce_is_published_as_the_chunks_report_and_the_note_says_so() {
        let _one = ONE_AT_A_TIME.lock().await;
        let spec = spec(8, 10_000, Mode::Lowest);
        let want = (3_000..6_000).find(|n| verify(&spec.problem, *n).is_valid()).unwrap();
        let channel = Recorder::default();
        let (exit, notes) = serve(spec.clone(), channel.boxed(), order(4, 3_000, 6_000), 1).await;
        assert_eq!(exit.unwrap(), Exit::Stopped);
        assert!(matches!(notes[..], [Note::Done { chunk: 4, nonce: None, published: true, .. }]), "{notes:?}");
        let published = channel.published();
        assert_eq!(published.len(), 1);
        assert_eq!((published[0].worker, published[0].range), (1, NonceRange::new(3_000, 6_000).unwrap()));
        assert!(matches!(published[0].outcome, ReportOutcome::Found { nonce, .. } if nonce == want));
        // A report that cannot be delivered: a failed note that says why, and an error.
        let failing = Recorder { fail: true, ..Recorder::default() };
        let (exit, notes) = serve(spec, failing.boxed(), order(4, 3_000, 6_000), usize::MAX).await;
        assert!(matches!(exit, Err(WorkerError::Deliver(_))), "{exit:?}");
        assert!(matches!(&notes[..], [Note::Failed { reason }] if reason.contains("unreachable")), "{notes:?}");
    }

    #[tokio::test]
    async fn a_malformed_order_or_a_chunk_outside_the_run_is_a_failed_note_and_an_error() {
        let _one = ONE_AT_A_TIME.lock().await;
        for (orders, why) in [
            ("{\"v\":1,\"type\":\"chunk\"\n".to_string(), "not a JSON protocol line"),
            (
                r#"{"v":7,"type":"chunk","chunk":1,"range":{"start":0,"end":5}}"#.to_string() + "\n",
                "protocol version 7",
            ),
            (order(1, 9_000, 11_000), "chunk [9000, 11000) is not inside the run's range [0, 10000)"),
        ] {
            let (exit, notes) =
                serve(spec(8, 10_000, Mode::Lowest), None, order(0, 0, 100) + &orders, usize::MAX).await;
            let e = exit.unwrap_err();
            assert!(matches!(&e, WorkerError::Protocol(m) if m.contains(why)) && e.exit() == Exit::Error, "{e:?}");
            assert!(matches!(&notes.last(), Some(Note::Failed { reason }) if reason.contains(why)), "{notes:?}");
        }
    }

    #[tokio::test]
    async fn first_mode_searches_nothing_after_its_nonce() {
        let _one = ONE_AT_A_TIME.lock().await;
        let orders = order(0, 0, 5_000) + &order(1, 5_000, 10_000);
        let (exit, notes) = serve(spec(4, 10_000, Mode::First), None, orders, 1).await;
        assert_eq!(exit.unwrap(), Exit::Stopped);
        assert!(matches!(&notes[..], [Note::Done { chunk: 0, nonce: Some(_), .. }]), "{notes:?}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn sigterm_stops_a_chunk_within_a_second_with_a_failed_note() {
        let _one = ONE_AT_A_TIME.lock().await;
        let kill = tokio::spawn(async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let kill = format!("kill -TERM {}", std::process::id());
            tokio::process::Command::new("sh").args(["-c", &kill]).status().await.unwrap()
        });
        // Orders that never end: a pipe whose writer stays open.
        let (reader, writer) = std::io::pipe().unwrap();
        let mut writer = writer;
        writer.write_all(order(0, 0, 1 << 40).as_bytes()).unwrap();
        let started = std::time::Instant::now();
        let mut out = Vec::new();
        let exit = serve_chunks(spec(256, 1 << 40, Mode::First), None, std::io::BufReader::new(reader), &mut out).await;
        assert!(kill.await.unwrap().success());
        assert_eq!(exit.unwrap(), Exit::Stopped);
        assert!(started.elapsed() < Duration::from_millis(1_300), "{:?}", started.elapsed());
        let out = String::from_utf8(out).unwrap();
        assert_eq!(protocol::decode::<Note>(out.trim()).unwrap(), Note::Failed { reason: "stopped by SIGTERM".into() });
        drop(writer);
    }
}
