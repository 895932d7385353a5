//! The top-level search: flags → [`RunConfig`] → a dispatcher → the coordinator → the report.
//!
//! Ctrl-C (or SIGTERM, or the timeout) stops the run cleanly: the coordinator stops the
//! workers and cleans up. When the cleanup takes a while (a slow cluster, pods that take
//! their grace period), a second Ctrl-C ends the coordinator at once, exit 4, with one line
//! that says what may be left and the command that removes it.
//!
//! A decided run is reported the moment the coordinator has verified it, before the cleanup
//! (deleting the Job and its pods, closing the result channel): the human report, or the one
//! `--json` object, is on stdout while the cleanup runs. A cleanup that then fails is one
//! `error:` line on stderr and exit 1 (something may be left), the answer above it still
//! valid. Runs stopped from outside, or ended by an error, are reported after the cleanup.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cnd_core::{Dispatcher as _, Exit, Outcome, ProgressProbe, Results, RunResult, StopReason, coordinate_then};

use crate::config::{BackendConfig, RunConfig};
use crate::flags::SearchArgs;
use crate::history::{Recorder, RunRecord};
use crate::output::{ProgressDisplay, SearchReport};
use crate::signals::StopRequests;

/// How long a clean stop may take before cnd says that a second Ctrl-C ends it at once.
const CLEANUP_NOTICE_AFTER: Duration = Duration::from_secs(1);

/// Runs a search and returns its exit code.
pub async fn run(args: SearchArgs) -> anyhow::Result<Exit> {
    // From here on a Ctrl-C is a request to stop, never a kill that leaves things behind.
    let stops = StopRequests::listen();
    let config = RunConfig::try_from(&args)?;
    if let (Some(plan), false) = (&config.plan, args.quiet) {
        eprintln!("{}", plan.human());
    }
    if args.k8s.detach {
        return detach(&config, args.json).await;
    }
    drive(&config, config.dispatcher(), stops, args.quiet, args.json).await
}

/// `--detach`: the run's Job and record are created, its id printed, and the cluster
/// finishes it (`cnd k8s attach RUN` reads the answer).
async fn detach(config: &RunConfig, json: bool) -> anyhow::Result<Exit> {
    let BackendConfig::K8s(k8s) = &config.backend else {
        return Err(crate::error::usage(format!(
            "--detach: only for --backend k8s (a {} run ends with cnd; allowed: omit it)",
            config.backend.name()
        )));
    };
    crate::backends::k8s::detach(k8s, &config.spec).await?;
    let run = &config.spec.run_id;
    if json {
        println!("{}", serde_json::json!({ "run_id": run, "status": "detached" }));
    } else {
        println!("run {run} detached: follow it with `cnd k8s attach {run}`, list runs with `cnd k8s status`");
    }
    Ok(Exit::Found)
}

/// Runs `config`'s search on the dispatcher `make` gives (a new run, or one attached to),
/// reports it and returns its exit code.
pub async fn drive(
    config: &RunConfig,
    make: impl std::future::Future<Output = anyhow::Result<Box<dyn cnd_core::Dispatcher>>>,
    stops: StopRequests,
    quiet: bool,
    json: bool,
) -> anyhow::Result<Exit> {
    // Every run that starts is recorded in the run history (best effort) when it ends.
    let started = std::time::Instant::now();
    let mut dispatcher = tokio::select! {
        d = make => Recorder::new(d?),
        // Nothing was created yet: connecting and checking create nothing.
        _ = stops.reached(1) => return Ok(Exit::Stopped),
    };
    let spec = &config.spec;
    let backend = dispatcher.name();
    tracing::info!(run_id = %spec.run_id, backend, workers = spec.workers, kernel = %config.kernel, "starting");
    let probe = with_status(dispatcher.progress_probe(), crate::backends::sqs::receive_status);
    let progress = Mutex::new(Some(ProgressDisplay::start(spec, probe, quiet || json)));
    let end_progress = || progress.lock().expect("progress lock").take().into_iter().for_each(ProgressDisplay::finish);
    // A decided run (a verified nonce, the range exhausted) is reported the moment it is
    // known, before the cleanup; its exit code waits for the cleanup's outcome.
    let printed: Mutex<Option<Exit>> = Mutex::new(None);
    let decided: Mutex<Option<(&'static str, u64, Duration)>> = Mutex::new(None);
    let finished = {
        let run = coordinate_then(&mut dispatcher, spec, stops.first(spec.timeout), |result| {
            *decided.lock().expect("report lock") = Some(ended(result));
            end_progress();
            let report = SearchReport::new(spec, result, backend, config.kernel.name());
            report.print(json);
            tracing::info!(printed_s = result.elapsed.as_secs_f64(), "reported; cleaning up");
            *printed.lock().expect("report lock") = Some(report.exit());
        });
        tokio::pin!(run);
        let notice = async {
            stops.reached(1).await;
            tokio::time::sleep(CLEANUP_NOTICE_AFTER).await;
        };
        tokio::pin!(notice);
        let mut noticed = false;
        loop {
            tokio::select! {
                r = &mut run => break r,
                _ = &mut notice, if !noticed => {
                    noticed = true;
                    end_progress();
                    if !quiet {
                        eprintln!("stopping run {}: cleaning up (Ctrl-C again to quit now)", spec.run_id);
                    }
                }
                _ = stops.second() => {
                    end_progress();
                    eprintln!("error: {}", forced_exit_message(config));
                    return Ok(Exit::Stopped);
                }
            }
        }
    };
    end_progress();
    let ended_as = decided.lock().expect("report lock").take().or_else(|| match &finished.result {
        Ok(r) => Some(ended(r)),
        Err(_) => Some(("error", 0, started.elapsed())),
    });
    if let Some((outcome, hashes, elapsed)) = ended_as {
        crate::history::record(&run_record(config, &dispatcher, outcome, hashes, elapsed), quiet);
    }
    if let Some(exit) = printed.lock().expect("report lock").take() {
        // Reported already: only the cleanup's outcome is left to tell.
        return Ok(match finished.cleanup {
            Ok(()) => exit,
            Err(e) => {
                eprintln!("error: {}", cleanup_failed_message(config, &anyhow::Error::new(e)));
                Exit::Error
            }
        });
    }
    let result = finished.result?;
    finished.cleanup?;
    let report = SearchReport::new(spec, &result, backend, config.kernel.name());
    report.print(json);
    Ok(report.exit())
}

/// How a run ended, for its history: the outcome's name, the hashes and the elapsed time.
fn ended(r: &RunResult) -> (&'static str, u64, Duration) {
    let outcome = match r.outcome {
        Outcome::Found(_) => "found",
        Outcome::Exhausted { .. } => "exhausted",
        Outcome::Stopped(StopReason::TimedOut) => "timed-out",
        Outcome::Stopped(StopReason::Cancelled) => "cancelled",
    };
    (outcome, r.hashes, r.elapsed)
}

/// The run's line in the history: its settings, what its recorder measured, how it ended.
fn run_record(config: &RunConfig, recorder: &Recorder, outcome: &str, hashes: u64, elapsed: Duration) -> RunRecord {
    let spec = &config.spec;
    let facts = recorder.facts();
    let (mut context, mut server, mut namespace, mut cpu) = (None, None, None, 1.0);
    if let BackendConfig::K8s(k8s) = &config.backend {
        cpu = k8s.hashing_cpus();
        let (given_context, given_namespace) = k8s.context_and_namespace();
        if let Some((key, ns)) = crate::backends::cluster::identify(given_context) {
            (context, server, namespace) = (Some(key.context), key.server, ns);
        }
        namespace = given_namespace.map(str::to_string).or(namespace).or_else(|| Some("default".into()));
    }
    RunRecord {
        time_unix_s: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        run_id: spec.run_id.clone(),
        backend: config.backend.name().into(),
        context,
        server,
        namespace,
        workers: spec.workers,
        cpu_per_worker: cpu,
        kernel: config.kernel.name().into(),
        format: spec.problem.format().as_str().into(),
        difficulty: spec.problem.difficulty(),
        startup_delay_s: facts.startup_delay.map(|(s, _)| s),
        startup_measured: facts.startup_delay.map(|(_, how)| how.into()),
        rate_per_worker: facts.rate_per_worker,
        reports: facts.reports,
        hashes,
        outcome: outcome.into(),
        elapsed_s: elapsed.as_secs_f64(),
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// The dispatcher's progress with what `status` says of the run's result channel (an SQS
/// receive that fails and is retried) after its detail.
fn with_status(probe: ProgressProbe, status: fn() -> Option<String>) -> ProgressProbe {
    Arc::new(move || {
        let mut p = probe();
        if let Some(s) = status() {
            p.detail = Some(match p.detail.take() {
                Some(d) => format!("{d} · {s}"),
                None => s,
            });
        }
        p
    })
}

/// The line printed when the cleanup of a run whose answer was printed failed: the answer
/// stands (it was verified), the exit code is 1, and the line says what may be left.
fn cleanup_failed_message(config: &RunConfig, error: &anyhow::Error) -> String {
    let run = &config.spec.run_id;
    let left = match &config.backend {
        BackendConfig::K8s(k8s) => format!("; finish it with `{}`", k8s.cleanup_command(run)),
        BackendConfig::Process(Results::Sqs(t)) if t.queue_url.is_none() => {
            format!("; its SQS queue cnd-{run} may be left")
        }
        _ => String::new(),
    };
    format!("the answer above is verified, but the cleanup of run {run} failed: {error:#}{left}")
}

/// The line printed when a second request to stop ends the coordinator before its cleanup
/// finished: what may be left, and how to remove it.
fn forced_exit_message(config: &RunConfig) -> String {
    let run = &config.spec.run_id;
    let left = match &config.backend {
        BackendConfig::K8s(k8s) => {
            let queue = if k8s.makes_a_queue() { format!(" and its SQS queue cnd-{run}") } else { String::new() };
            format!("its Job and pods{queue} may be left: finish the cleanup with `{}`", k8s.cleanup_command(run))
        }
        BackendConfig::Process(Results::Sqs(t)) if t.queue_url.is_none() => {
            format!("its worker processes end with cnd; its SQS queue cnd-{run} may be left")
        }
        BackendConfig::Process(_) => "its worker processes end with cnd".to_string(),
        BackendConfig::Local => "its threads end with cnd".to_string(),
    };
    format!("stopped at once (second Ctrl-C) before the cleanup of run {run} finished; {left}")
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn config(args: &[&str]) -> RunConfig {
        let cli = crate::flags::Cli::try_parse_from(std::iter::once("cnd").chain(args.iter().copied())).unwrap();
        RunConfig::try_from(&cli.search).unwrap()
    }

    #[cfg(feature = "k8s")]
    #[test]
    fn a_forced_exit_names_the_cleanup_command_with_the_runs_namespace_and_context() {
        let c = config(&["-d", "1", "--backend", "k8s", "--namespace", "team-a", "--context", "eks prod"]);
        let m = forced_exit_message(&c);
        let run = &c.spec.run_id;
        assert!(m.contains(&format!("`cnd k8s cleanup {run} --namespace team-a --context 'eks prod'`")), "{m}");
        let c = config(&["-d", "1", "--backend", "k8s"]);
        assert!(forced_exit_message(&c).ends_with(&format!("`cnd k8s cleanup {}`", c.spec.run_id)));
    }

    #[test]
    fn the_progress_line_says_when_the_result_channel_fails() {
        let probe: ProgressProbe =
            Arc::new(|| cnd_core::Progress { hashes: None, detail: Some("pods: 2 running".into()) });
        let failing = || Some("SQS receive failing, retry 3: connection refused".to_string());
        assert_eq!(
            with_status(Arc::clone(&probe), failing)().detail.as_deref(),
            Some("pods: 2 running · SQS receive failing, retry 3: connection refused")
        );
        assert_eq!(with_status(Arc::clone(&probe), || None)().detail.as_deref(), Some("pods: 2 running"));
        let bare: ProgressProbe = Arc::new(cnd_core::Progress::default);
        assert_eq!(
            with_status(bare, failing)().detail.as_deref(),
            Some("SQS receive failing, retry 3: connection refused")
        );
    }

    #[test]
    fn a_forced_exit_of_local_workers_leaves_nothing() {
        let m = forced_exit_message(&config(&["-d", "1", "--backend", "process"]));
        assert!(m.ends_with("its worker processes end with cnd"), "{m}");
    }
}
