//! `cnd --backend process`: real `cnd worker` child processes, reporting on their stdout or
//! through SQS on a real SQS-protocol server (moto, started here; the tests fail if it cannot
//! start). Every run is checked for leftovers: no process of the run (scanned in /proc by its
//! CND_RUN_ID) and no per-run queue.

#[path = "../../cnd-sqs/tests/support/moto.rs"]
mod moto;
#[path = "../../cnd-sqs/tests/support/procs.rs"]
mod procs;
#[path = "../../cnd-sqs/tests/support/sqs_http.rs"]
mod sqs_http;

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assert_cmd::cargo::cargo_bin;
use cnd_core::{Problem, verify};
use serde_json::Value;

/// The lowest golden nonce of COMSM0010cloud for D = 16 (msb).
const LOWEST_D16: u64 = 9248;
/// The lowest golden nonce of COMSM0010cloud for D = 24 (msb): worker 0 of 2 over
/// [0, 60 000 000) needs about 26 million hashes to reach it.
const LOWEST_D24: u64 = 26_429_595;

/// A running coordinator (`cnd ...`), its output gathered by threads; killed and reaped on drop.
struct Coordinator {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Coordinator {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Coordinator {
        let mut command = Command::new(cargo_bin("cnd"));
        for (k, _) in std::env::vars() {
            if k.starts_with("CND_") || k.starts_with("AWS_") {
                command.env_remove(k);
            }
        }
        command.args(args).envs(moto::AWS_ENV.iter().copied()).envs(env.iter().copied());
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start cnd");
        let (stdout, stderr) = (Arc::new(Mutex::new(String::new())), Arc::new(Mutex::new(Vec::new())));
        let mut out_pipe = child.stdout.take().unwrap();
        let err_pipe = child.stderr.take().unwrap();
        let readers = vec![
            {
                let stdout = stdout.clone();
                std::thread::spawn(move || {
                    let mut s = String::new();
                    let _ = out_pipe.read_to_string(&mut s);
                    stdout.lock().unwrap().push_str(&s);
                })
            },
            {
                let stderr = stderr.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(err_pipe).lines().map_while(Result::ok) {
                        stderr.lock().unwrap().push(line);
                    }
                })
            },
        ];
        Coordinator { child, stdout, stderr, readers }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (bounded) for the exit and for all output.
    fn finish(&mut self, limit: Duration) -> ExitStatus {
        let status = procs::wait_for(limit, || self.child.try_wait().unwrap())
            .unwrap_or_else(|| panic!("cnd did not exit within {limit:?}; stderr: {:?}", self.stderr()));
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        status
    }

    fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    fn json(&self) -> Value {
        let out = self.stdout.lock().unwrap().clone();
        serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {out}; stderr: {:?}", self.stderr()))
    }

    /// Waits (bounded) for a stderr line containing `text`.
    fn wait_stderr(&self, text: &str, limit: Duration) -> bool {
        procs::wait_for(limit, || self.stderr().iter().any(|l| l.contains(text)).then_some(())).is_some()
    }

    /// Its worker processes (children running `cnd worker`), once there are `n` of them.
    fn wait_workers(&self, n: usize, limit: Duration) -> Vec<u32> {
        procs::wait_for(limit, || {
            let kids: Vec<u32> = procs::children_of(self.pid())
                .into_iter()
                .filter(|p| procs::env_var(*p, "CND_RUN_ID").is_some())
                .collect();
            (kids.len() >= n).then_some(kids)
        })
        .unwrap_or_else(|| panic!("{n} worker processes did not appear; stderr: {:?}", self.stderr()))
    }
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text_problem(d: u32) -> Problem {
    Problem::text("COMSM0010cloud", d).unwrap()
}

/// No process of the run is left, and (with SQS) no per-run queue.
fn assert_nothing_left(run_id: &str, endpoint: Option<&str>) {
    let left = procs::wait_for(Duration::from_secs(2), || {
        let left = procs::processes_with_env("CND_RUN_ID", run_id);
        left.is_empty().then_some(())
    });
    assert!(
        left.is_some(),
        "worker processes of run {run_id} outlived it: {:?}",
        procs::processes_with_env("CND_RUN_ID", run_id)
    );
    if let Some(endpoint) = endpoint {
        let queues = sqs_http::list_queues(endpoint);
        assert!(!queues.iter().any(|q| q.ends_with(&format!("/cnd-{run_id}"))), "the run's queue is left: {queues:?}");
    }
}

fn sqs_args(endpoint: &str) -> [&str; 4] {
    ["--results", "sqs", "--sqs-endpoint-url", endpoint]
}

#[test]
fn process_backend_over_stdout_finds_the_same_lowest_nonce_and_reaps_its_workers() {
    let mut c = Coordinator::start(
        &["--backend", "process", "--workers", "3", "-d", "16", "--mode", "lowest", "--json", "--timeout", "60s"],
        &[],
    );
    let status = c.finish(Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "{:?}", c.stderr());
    let j = c.json();
    assert_eq!(j["nonce"], LOWEST_D16);
    assert_eq!(j["backend"], "process");
    assert_nothing_left(j["run_id"].as_str().unwrap(), None);
}

/// D = 20 over [0, 2 000 000): 32 chunks of 62 500, the answer (505 928) in the ninth, so
/// each of the 2 workers searches several chunks before it: the same nonce as `local`.
#[test]
fn process_backend_finds_the_local_backends_lowest_nonce_over_many_chunks() {
    let args = ["--workers", "2", "-d", "20", "--end", "2000000", "--mode", "lowest", "--json", "--timeout", "60s"];
    let mut nonces = Vec::new();
    for backend in ["local", "process"] {
        let mut c = Coordinator::start(&[&["--backend", backend][..], &args[..]].concat(), &[]);
        let status = c.finish(Duration::from_secs(60));
        assert_eq!(status.code(), Some(0), "{backend}: {:?}", c.stderr());
        let j = c.json();
        nonces.push(j["nonce"].as_u64().unwrap());
        if backend == "process" {
            assert!(j["worker"].as_str().unwrap().starts_with("worker "), "{j}");
            assert_nothing_left(j["run_id"].as_str().unwrap(), None);
        }
    }
    assert_eq!(nonces[0], nonces[1], "local and process disagree");
    let problem = text_problem(20);
    assert_eq!(Some(nonces[0]), (0..2_000_000).find(|n| verify(&problem, *n).is_valid()));
}

#[test]
fn process_backend_with_sqs_finds_a_verified_nonce_and_leaves_no_queue_and_no_child() {
    let moto = moto::Moto::shared();
    let mut args = vec!["--backend", "process", "--workers", "2", "-d", "18", "--json", "--timeout", "60s"];
    args.extend(sqs_args(&moto.endpoint));
    let mut c = Coordinator::start(&args, &[]);
    let status = c.finish(Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "{:?}", c.stderr());
    let j = c.json();
    let nonce = j["nonce"].as_u64().unwrap();
    assert!(verify(&text_problem(18), nonce).is_valid(), "{j}");
    assert_eq!(j["rejected"], 0);
    assert_nothing_left(j["run_id"].as_str().unwrap(), Some(&moto.endpoint));
}

#[test]
fn process_backend_on_a_shared_queue_leaves_another_runs_report_and_a_malformed_message() {
    let moto = moto::Moto::shared();
    let queue = sqs_http::create_queue(&moto.endpoint, &format!("cnd-shared-{}", std::process::id()));
    let theirs = r#"{"run_id":"someone-else","worker":0,"range":{"start":0,"end":10},"hashes":10,"elapsed_s":0.1,"status":"found","nonce":7,"digest":"0000000000000000000000000000000000000000000000000000000000000000"}"#;
    sqs_http::send(&moto.endpoint, &queue, theirs, Some("someone-else"));
    sqs_http::send(&moto.endpoint, &queue, "<<not a report>>", None);

    let mut args =
        vec!["--backend", "process", "--workers", "2", "-d", "16", "--mode", "lowest", "--json", "--timeout", "60s"];
    args.extend(sqs_args(&moto.endpoint));
    args.extend(["--sqs-queue-url", &queue]);
    let mut c = Coordinator::start(&args, &[]);
    let status = c.finish(Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "{:?}", c.stderr());
    assert_eq!(c.json()["nonce"], LOWEST_D16);
    let malformed_warnings = c.stderr().iter().filter(|l| l.contains("not a CND report")).count();
    assert!(malformed_warnings <= 1, "logged once at most: {:?}", c.stderr());

    // The shared queue is still there with the other run's report in it.
    assert!(sqs_http::list_queues(&moto.endpoint).contains(&queue));
    let found = procs::wait_for(Duration::from_secs(15), || {
        sqs_http::receive(&moto.endpoint, &queue, 1).iter().any(|b| b == theirs).then_some(())
    });
    assert!(found.is_some(), "the other run's report was removed from the shared queue");
    assert_nothing_left(c.json()["run_id"].as_str().unwrap(), Some(&moto.endpoint));
    sqs_http::delete_queue(&moto.endpoint, &queue);
}

#[test]
fn process_backend_rejects_a_report_that_does_not_verify_and_goes_on_to_a_real_one() {
    let moto = moto::Moto::shared();
    let mut args = vec![
        "--backend",
        "process",
        "--workers",
        "2",
        "-d",
        "24",
        "--end",
        "60000000",
        "--mode",
        "lowest",
        "--json",
        "--timeout",
        "120s",
    ];
    args.extend(sqs_args(&moto.endpoint));
    let mut c = Coordinator::start(&args, &[]);
    // Freeze the workers so that the bogus report surely comes first.
    let workers = c.wait_workers(2, Duration::from_secs(30));
    for w in &workers {
        procs::signal(*w, "STOP");
    }
    let run_id = procs::env_var(workers[0], "CND_RUN_ID").unwrap();
    let queue = procs::env_var(workers[0], "CND_SQS_QUEUE_URL").expect("workers get the queue URL");
    let bogus_nonce = 12_345u64;
    assert!(!verify(&text_problem(24), bogus_nonce).is_valid());
    let bogus = format!(
        r#"{{"run_id":"{run_id}","worker":0,"source":"liar","range":{{"start":0,"end":30000000}},"hashes":1,"elapsed_s":0.1,"status":"found","nonce":{bogus_nonce},"digest":"{}"}}"#,
        "00".repeat(32)
    );
    sqs_http::send(&moto.endpoint, &queue, &bogus, Some(&run_id));
    let warned = c.wait_stderr("does not verify", Duration::from_secs(30));
    for w in &workers {
        procs::signal(*w, "CONT");
    }
    assert!(warned, "no warning for the bogus nonce: {:?}", c.stderr());
    let status = c.finish(Duration::from_secs(120));
    assert_eq!(status.code(), Some(0), "{:?}", c.stderr());
    let j = c.json();
    assert_eq!(j["nonce"], LOWEST_D24, "{j}");
    assert_eq!(j["rejected"], 1);
    assert_nothing_left(&run_id, Some(&moto.endpoint));
}

/// Worker 0 is SIGKILLed in its first chunks: they go out again, it is restarted, and the
/// run still finds the lowest nonce.
#[test]
fn process_backend_restarts_a_sigkilled_worker_once_and_still_finds_the_nonce() {
    let mut c = Coordinator::start(
        &[
            "--backend",
            "process",
            "--workers",
            "2",
            "-d",
            "24",
            "--end",
            "60000000",
            "--mode",
            "lowest",
            "--json",
            "--timeout",
            "120s",
        ],
        &[],
    );
    let workers = c.wait_workers(2, Duration::from_secs(30));
    let first = *workers.iter().find(|w| procs::env_var(**w, "CND_WORKER_INDEX").as_deref() == Some("0")).unwrap();
    let run_id = procs::env_var(first, "CND_RUN_ID").unwrap();
    procs::signal(first, "KILL");
    let status = c.finish(Duration::from_secs(120));
    assert_eq!(status.code(), Some(0), "{:?}", c.stderr());
    assert!(
        c.stderr().iter().any(|l| l.contains("worker 0")
            && l.contains("SIGKILL")
            && l.contains("handing its chunks [0, ")
            && l.contains("out again, and restarting it once")),
        "{:?}",
        c.stderr()
    );
    assert_eq!(c.json()["nonce"], LOWEST_D24);
    assert_nothing_left(&run_id, None);
}

#[test]
fn process_backend_fails_naming_a_worker_that_dies_twice() {
    let mut c = Coordinator::start(&["--backend", "process", "--workers", "2", "-d", "60", "--timeout", "120s"], &[]);
    let workers = c.wait_workers(2, Duration::from_secs(30));
    let first = *workers.iter().find(|w| procs::env_var(**w, "CND_WORKER_INDEX").as_deref() == Some("1")).unwrap();
    let run_id = procs::env_var(first, "CND_RUN_ID").unwrap();
    procs::signal(first, "KILL");
    assert!(c.wait_stderr("restarting it once", Duration::from_secs(30)), "{:?}", c.stderr());
    let again = procs::wait_for(Duration::from_secs(30), || {
        procs::children_of(c.pid())
            .into_iter()
            .find(|p| *p != first && procs::env_var(*p, "CND_WORKER_INDEX").as_deref() == Some("1"))
    })
    .expect("worker 1 restarted");
    procs::signal(again, "KILL");
    let status = c.finish(Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{:?}", c.stderr());
    let last = c.stderr().last().cloned().unwrap_or_default();
    assert!(last.starts_with("error: ") && last.contains("worker 1") && last.contains("SIGKILL"), "{:?}", c.stderr());
    assert_nothing_left(&run_id, None);
}

#[test]
fn process_backend_on_sigint_exits_4_leaving_no_child_and_no_queue() {
    let moto = moto::Moto::shared();
    let mut args = vec!["--backend", "process", "--workers", "2", "-d", "60", "--json", "--timeout", "120s"];
    args.extend(sqs_args(&moto.endpoint));
    let mut c = Coordinator::start(&args, &[]);
    let workers = c.wait_workers(2, Duration::from_secs(30));
    let run_id = procs::env_var(workers[0], "CND_RUN_ID").unwrap();
    assert!(sqs_http::list_queues(&moto.endpoint).iter().any(|q| q.ends_with(&format!("/cnd-{run_id}"))));
    procs::signal(c.pid(), "INT");
    let status = c.finish(Duration::from_secs(30));
    assert_eq!(status.code(), Some(4), "{:?}", c.stderr());
    assert_nothing_left(&run_id, Some(&moto.endpoint));
}

#[test]
fn process_backend_with_an_unreachable_sqs_endpoint_exits_1_naming_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut args = vec!["--backend", "process", "--workers", "2", "-d", "20", "--timeout", "60s"];
    args.extend(sqs_args(&endpoint));
    let mut c = Coordinator::start(&args, &[]);
    let status = c.finish(Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{:?}", c.stderr());
    let err = c.stderr();
    assert_eq!(err.len(), 1, "one line: {err:?}");
    assert!(err[0].starts_with("error: ") && err[0].contains(&endpoint) && err[0].contains("onnect"), "{err:?}");
}

#[test]
fn process_backend_refuses_the_termination_log() {
    let mut c = Coordinator::start(&["--backend", "process", "-d", "8", "--results", "termination-log"], &[]);
    let status = c.finish(Duration::from_secs(30));
    assert_eq!(status.code(), Some(2));
    assert!(c.stderr().iter().any(|l| l.contains("--results") && l.contains("allowed")), "{:?}", c.stderr());
}

#[test]
fn workers_stop_by_themselves_when_their_coordinator_is_killed() {
    let mut c = Coordinator::start(&["--backend", "process", "--workers", "2", "-d", "60", "--timeout", "120s"], &[]);
    let workers = c.wait_workers(2, Duration::from_secs(30));
    let run_id = procs::env_var(workers[0], "CND_RUN_ID").unwrap();
    // SIGKILL: no shutdown runs; the workers see their stdin close and stop (exit 4).
    procs::signal(c.pid(), "KILL");
    let status = c.finish(Duration::from_secs(10));
    assert_eq!(status.code(), None, "killed by a signal");
    assert_nothing_left(&run_id, None);
}

/// A worker frozen (SIGSTOP) for 10 s, with no --timeout: the run waits for it and, once it
/// goes on, still returns the right lowest nonce; nothing is left.
#[test]
fn process_backend_waits_out_a_worker_stopped_for_10_s_and_still_finds_the_lowest_nonce() {
    let mut c = Coordinator::start(
        &["--backend", "process", "--workers", "2", "-d", "24", "--end", "60000000", "--mode", "lowest", "--json"],
        &[],
    );
    let workers = c.wait_workers(2, Duration::from_secs(30));
    // Worker 0 holds the answer: the run cannot end without it.
    let first = *workers.iter().find(|w| procs::env_var(**w, "CND_WORKER_INDEX").as_deref() == Some("0")).unwrap();
    let run_id = procs::env_var(first, "CND_RUN_ID").unwrap();
    procs::signal(first, "STOP");
    std::thread::sleep(Duration::from_secs(10));
    assert!(c.child.try_wait().unwrap().is_none(), "the run ended while worker 0 was stopped: {:?}", c.stderr());
    procs::signal(first, "CONT");
    let status = c.finish(Duration::from_secs(120));
    assert_eq!(status.code(), Some(0), "{:?}", c.stderr());
    assert_eq!(c.json()["nonce"], LOWEST_D24);
    assert_nothing_left(&run_id, None);
}

/// A worker frozen (SIGSTOP) past the --timeout: the run ends on time with exit 4, and the
/// stopped worker is killed and reaped, not left behind stopped.
#[test]
fn process_backend_times_out_on_time_and_kills_a_stopped_worker() {
    let started = std::time::Instant::now();
    let mut c =
        Coordinator::start(&["--backend", "process", "--workers", "2", "-d", "60", "--timeout", "5s", "--json"], &[]);
    let workers = c.wait_workers(2, Duration::from_secs(30));
    let run_id = procs::env_var(workers[0], "CND_RUN_ID").unwrap();
    procs::signal(workers[0], "STOP");
    let status = c.finish(Duration::from_secs(15));
    let took = started.elapsed();
    assert_eq!(status.code(), Some(4), "{:?}", c.stderr());
    assert!(took < Duration::from_secs(10), "a 5 s timeout took {took:?}");
    assert_nothing_left(&run_id, None);
}
