//! A second Ctrl-C during a slow cleanup ends `cnd` at once (exit 4) and says what may be left.
//!
//! The slow cleanup is real: `--backend process --results sqs` on a moto server of its own
//! (started here; the test fails if it cannot start), frozen with SIGSTOP once the run is
//! going, so that removing the run's queue hangs after the first Ctrl-C (the workers are
//! already gone by then). The Kubernetes form (pods that take their grace period) is scenario
//! 16 of `tests/k8s-e2e.sh`.

#[path = "../../cnd-sqs/tests/support/moto.rs"]
mod moto;
#[path = "../../cnd-sqs/tests/support/procs.rs"]
mod procs;
#[path = "../../cnd-sqs/tests/support/sqs_http.rs"]
mod sqs_http;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;

#[test]
fn a_second_ctrl_c_during_a_hung_queue_cleanup_exits_4_at_once_and_names_the_queue() {
    let moto = moto::Moto::start();
    let mut cnd = Command::new(cargo_bin("cnd"))
        .args(["--backend", "process", "--workers", "1", "-d", "64", "--timeout", "120s"])
        .args(["--results", "sqs", "--sqs-endpoint-url", &moto.endpoint])
        .envs(moto::AWS_ENV.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cnd");
    let stderr = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let (pipe, stderr) = (cnd.stderr.take().unwrap(), Arc::clone(&stderr));
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                stderr.lock().unwrap().push(line);
            }
        })
    };
    let said = |what: &str| stderr.lock().unwrap().iter().any(|l| l.contains(what));

    // The run is going once its worker process runs (after the queue was created).
    let worker = procs::wait_for(Duration::from_secs(30), || procs::children_of(cnd.id()).first().copied());
    assert!(worker.is_some(), "no worker process started: {:?}", stderr.lock().unwrap());
    std::thread::sleep(Duration::from_millis(500));
    assert!(cnd.try_wait().unwrap().is_none(), "cnd ended early: {:?}", stderr.lock().unwrap());

    procs::signal(moto.pid(), "STOP");
    procs::signal(cnd.id(), "INT");
    std::thread::sleep(Duration::from_millis(2500));
    let still_running = cnd.try_wait().unwrap().is_none();
    assert!(still_running, "the cleanup was not slow: the second Ctrl-C is untested: {:?}", stderr.lock().unwrap());
    assert!(
        said("Ctrl-C again to quit now"),
        "cnd did not say that a second Ctrl-C quits: {:?}",
        stderr.lock().unwrap()
    );

    procs::signal(cnd.id(), "INT");
    let second = Instant::now();
    let status = procs::wait_for(Duration::from_secs(10), || cnd.try_wait().unwrap());
    let took = second.elapsed();
    procs::signal(moto.pid(), "CONT");
    let Some(status) = status else {
        let _ = cnd.kill();
        panic!("cnd still running 10 s after the second Ctrl-C: {:?}", stderr.lock().unwrap());
    };
    reader.join().unwrap();
    let lines = stderr.lock().unwrap().clone();
    assert_eq!(status.code(), Some(4), "{lines:?}");
    assert!(took < Duration::from_secs(2), "exit {took:?} after the second Ctrl-C");
    let forced = lines.iter().find(|l| l.contains("second Ctrl-C")).unwrap_or_else(|| panic!("{lines:?}"));
    let run = forced.split("cleanup of run ").nth(1).and_then(|s| s.split_whitespace().next()).expect("names the run");
    assert!(forced.contains(&format!("its SQS queue cnd-{run} may be left")), "{forced}");
    assert!(procs::processes_with_env("CND_RUN_ID", run).is_empty(), "a worker process outlived cnd");
    // What the line said was left is there, and goes now.
    let queue = sqs_http::list_queues(&moto.endpoint).into_iter().find(|q| q.ends_with(&format!("/cnd-{run}")));
    if let Some(q) = queue {
        sqs_http::delete_queue(&moto.endpoint, &q);
    }
}
