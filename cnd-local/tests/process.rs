//! The process backend end to end without the `cnd` binary: this test program is its own
//! worker. Started by a [`ProcessDispatcher`] (which sets `CND_RUN_ID`), it reads the env
//! contract and runs [`run_worker`], as `cnd worker` does; started by `cargo test`, it runs
//! the scenarios below one after another (`harness = false`: no test threads, so the
//! coordinator's environment can be set safely before anything starts).

use std::process::ExitCode;
use std::time::Duration;

use cnd_core::{
    DispatchError, Exit, Mode, NonceRange, Outcome, Problem, RunSpec, StopReason, WorkerSpec, coordinate, verify,
};
use cnd_local::{ProcessDispatcher, run_worker};

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
        return match runtime().block_on(run_worker(spec, None)) {
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
        ("workers exhaust a range without one", exhausts),
        ("a worker that rejects its environment fails the run", rejected),
    ] {
        print!("test {name} ... ");
        scenario(&runtime());
        println!("ok");
    }
    ExitCode::SUCCESS
}

fn dispatcher() -> ProcessDispatcher {
    ProcessDispatcher::new(std::env::current_exe().unwrap(), Vec::<String>::new()).threads(1)
}

fn run(rt: &tokio::runtime::Runtime, dispatcher: &mut ProcessDispatcher, spec: &RunSpec) -> cnd_core::Result<Outcome> {
    rt.block_on(coordinate(dispatcher, spec, async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        StopReason::TimedOut
    }))
    .map(|r| r.outcome)
}

fn finds_the_lowest(rt: &tokio::runtime::Runtime) {
    let problem =
        Problem::text("COMSM0010cloud", 12).unwrap().with_range(NonceRange::new(0, 300_000).unwrap()).unwrap();
    let want = (0..300_000).find(|n| verify(&problem, *n).is_valid()).unwrap();
    let spec = RunSpec::new(problem, 3, Mode::Lowest);
    match run(rt, &mut dispatcher(), &spec).unwrap() {
        Outcome::Found(f) => {
            assert_eq!(f.nonce, want);
            assert!(f.found_by.starts_with("worker 0 (pid "), "{}", f.found_by);
        }
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
