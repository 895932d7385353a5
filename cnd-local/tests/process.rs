//! The process backend end to end without the `cnd` binary: this test program is its own
//! worker. Started by a [`ProcessDispatcher`] (which sets `CND_RUN_ID`), it reads the env
//! contract and runs [`run_worker`], as `cnd worker` does (or, to play a faulty worker,
//! [`serve_chunks`] behind a filter of its orders); started by `cargo test`, it runs the
//! scenarios below one after another (`harness = false`: no test threads, so the
//! coordinator's environment can be set safely before anything starts).

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use cnd_core::{
    DispatchError, Exit, Mode, NonceRange, Outcome, Problem, RunSpec, StopReason, WorkerSpec, coordinate, verify,
};
use cnd_local::{ProcessDispatcher, SearchOptions, run_worker, serve_chunks};

/// Worker faults a scenario asks for (set with [`ProcessDispatcher::env`]).
const GARBAGE: &str = "HARNESS_GARBAGE"; // print this line on stdout first
const HOLD: &str = "HARNESS_HOLD"; // hold the chunk with this nonce back 1.5 s
const DIE: &str = "HARNESS_DIE"; // "<nonce>:<marker file>": SIGKILL itself on the chunk with
// this nonce, once (the marker file says it happened)

fn main() -> ExitCode {
    let runtime = || tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    if std::env::var_os("CND_RUN_ID").is_some() {
        let spec = match WorkerSpec::from_process_env() {
            Ok(spec) => spec,
            Err(e) => {
                eprintln!("{e}");
                return Exit::Usage.into();
            }
        };
        let faulty = [GARBAGE, HOLD, DIE].iter().any(|v| std::env::var_os(v).is_some());
        let worker = async {
            if !faulty {
                return run_worker(spec, None).await;
            }
            if let Ok(line) = std::env::var(GARBAGE) {
                println!("{line}");
            }
            serve_chunks(spec, None, filtered_orders(), std::io::stdout()).await
        };
        return match runtime().block_on(worker) {
            Ok(exit) => exit.into(),
            Err(e) => e.exit().into(),
        };
    }
    // What a coordinator's own environment may hold; no worker must see it. Inherited, the
    // variables that the contract leaves out when unset would change what a worker does:
    // name another finder (POD_NAME), refuse to run (CND_KERNEL).
    let inherited = [
        ("POD_NAME", "the-coordinator"),
        ("CND_KERNEL", "no-such-kernel"),
        ("CND_TERMINATION_LOG", "/nonexistent/log"),
        ("D", "99"),
        ("WORKER_INDEX", "2"),
        ("CND_RESULTS", "sqs"),
    ];
    for (var, value) in inherited {
        // SAFETY: no other thread runs yet in this process.
        unsafe { std::env::set_var(var, value) };
    }
    for (name, scenario) in [
        ("workers find the lowest golden nonce of the run", finds_the_lowest as fn(&tokio::runtime::Runtime)),
        ("lowest waits for a slow chunk below the nonces found above it", waits_for_a_slow_chunk),
        ("a worker killed on the answer's chunk: the chunk goes out again", survives_a_kill_mid_chunk),
        ("a line that breaks the protocol fails the run", malformed_line),
        ("workers exhaust a range without one", exhausts),
        ("a worker that rejects its environment fails the run", rejected),
    ] {
        // `cargo test -p cnd-local --test process -- WORDS`: the scenarios whose name has them.
        let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
        if !filters.iter().all(|f| name.contains(f.as_str())) {
            continue;
        }
        print!("test {name} ... ");
        scenario(&runtime());
        println!("ok");
    }
    ExitCode::SUCCESS
}

/// The orders of this worker's stdin, through the faults its environment asks for.
fn filtered_orders() -> BufReader<std::io::PipeReader> {
    let (reader, mut writer) = std::io::pipe().unwrap();
    let chunk_holds = |var: &str| {
        let nonce: u64 = std::env::var(var).ok()?.split(':').next()?.parse().ok()?;
        Some(move |line: &str| {
            let order: serde_json::Value = serde_json::from_str(line).ok()?;
            let (start, end) = (order["range"]["start"].as_u64()?, order["range"]["end"].as_u64()?);
            (start..end).contains(&nonce).then_some(())
        })
    };
    let (hold, die) = (chunk_holds(HOLD), chunk_holds(DIE));
    let marker = std::env::var(DIE).ok().and_then(|v| v.split_once(':').map(|(_, m)| m.to_string()));
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if hold.as_ref().is_some_and(|h| h(&line).is_some()) {
                std::thread::sleep(Duration::from_millis(1_500));
            }
            if die.as_ref().is_some_and(|d| d(&line).is_some())
                && let Some(marker) = &marker
                && std::fs::OpenOptions::new().write(true).create_new(true).open(marker).is_ok()
            {
                let me = std::process::id().to_string();
                let _ = std::process::Command::new("kill").args(["-KILL", &me]).status();
                std::thread::sleep(Duration::from_secs(60));
            }
            if writeln!(writer, "{line}").is_err() {
                break;
            }
        }
    });
    BufReader::new(reader)
}

fn dispatcher() -> ProcessDispatcher {
    ProcessDispatcher::new(std::env::current_exe().unwrap(), Vec::<String>::new()).threads(1)
}

/// D = 12 over [0, 300 000) in chunks of 10 000: 10 chunks per worker of 3, about 73
/// golden nonces, the lowest in the first chunk.
fn chunked_problem() -> (Problem, u64) {
    let problem =
        Problem::text("COMSM0010cloud", 12).unwrap().with_range(NonceRange::new(0, 300_000).unwrap()).unwrap();
    let want = (0..300_000).find(|n| verify(&problem, *n).is_valid()).unwrap();
    (problem, want)
}

fn found(outcome: cnd_core::Result<Outcome>) -> cnd_core::Found {
    match outcome {
        Ok(Outcome::Found(f)) => f,
        other => panic!("{other:?}"),
    }
}

fn run(rt: &tokio::runtime::Runtime, dispatcher: &mut ProcessDispatcher, spec: &RunSpec) -> cnd_core::Result<Outcome> {
    rt.block_on(coordinate(dispatcher, spec, async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        StopReason::TimedOut
    }))
    .map(|r| r.outcome)
}

fn finds_the_lowest(rt: &tokio::runtime::Runtime) {
    let (problem, want) = chunked_problem();
    let local = cnd_local::search(&problem, &SearchOptions { threads: 2, mode: Mode::Lowest, ..Default::default() });
    let spec = RunSpec::new(problem, 3, Mode::Lowest);
    let f = found(run(rt, &mut dispatcher().chunk_size(10_000), &spec));
    assert_eq!(f.nonce, want);
    assert!(matches!(local.unwrap().outcome, Outcome::Found(l) if l.nonce == f.nonce), "the local backend's answer");
    assert!(f.found_by.starts_with("worker ") && f.found_by.contains(" (pid "), "{}", f.found_by);
}

/// The chunk with the answer is held back 1.5 s: the other workers meanwhile search the
/// chunks above it and find their nonces first; the answer is still the lowest.
fn waits_for_a_slow_chunk(rt: &tokio::runtime::Runtime) {
    let (problem, want) = chunked_problem();
    let spec = RunSpec::new(problem, 3, Mode::Lowest);
    let mut dispatcher = dispatcher().chunk_size(10_000).env(HOLD, want.to_string());
    assert_eq!(found(run(rt, &mut dispatcher, &spec)).nonce, want);
}

/// The worker that gets the chunk with the answer SIGKILLs itself on it (once): the chunk
/// goes out again (to its restarted self or another) and the answer is still the lowest.
fn survives_a_kill_mid_chunk(rt: &tokio::runtime::Runtime) {
    let (problem, want) = chunked_problem();
    let spec = RunSpec::new(problem, 3, Mode::Lowest);
    let marker = std::env::temp_dir().join(format!("cnd-harness-{}-{}", std::process::id(), spec.run_id));
    let mut dispatcher = dispatcher().chunk_size(10_000).env(DIE, format!("{want}:{}", marker.display()));
    let outcome = run(rt, &mut dispatcher, &spec);
    let died = std::fs::remove_file(&marker).is_ok();
    assert_eq!(found(outcome).nonce, want);
    assert!(died, "no worker killed itself on the answer's chunk");
}

fn malformed_line(rt: &tokio::runtime::Runtime) {
    let (problem, _) = chunked_problem();
    let spec = RunSpec::new(problem, 2, Mode::Lowest);
    let mut dispatcher = dispatcher().chunk_size(10_000).env(GARBAGE, "hello, coordinator");
    match run(rt, &mut dispatcher, &spec) {
        Err(DispatchError::WorkerFailed { reason, .. }) => assert!(
            reason.starts_with("process (pid ")
                && reason.contains(") broke the chunk protocol: not a JSON protocol line (")
                && reason.ends_with(r#" in line "hello, coordinator""#),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
}

fn exhausts(rt: &tokio::runtime::Runtime) {
    let problem =
        Problem::text("COMSM0010cloud", 256).unwrap().with_range(NonceRange::new(7, 40_007).unwrap()).unwrap();
    let spec = RunSpec::new(problem, 2, Mode::First);
    assert!(matches!(run(rt, &mut dispatcher(), &spec).unwrap(), Outcome::Exhausted { .. }));
}

fn rejected(rt: &tokio::runtime::Runtime) {
    let problem = Problem::text("COMSM0010cloud", 8).unwrap();
    let spec = RunSpec::new(problem, 2, Mode::First);
    // Added after the contract, so it wins: a bad value, as a broken launcher would write.
    let mut dispatcher = dispatcher().env("CND_MODE", "best");
    match run(rt, &mut dispatcher, &spec) {
        Err(DispatchError::WorkerFailed { reason, .. }) => {
            assert!(reason.contains("rejected its environment (exit code 2"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}
