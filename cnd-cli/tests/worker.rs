//! `cnd worker`: the env contract, the report line, exit codes and signals, run as a real
//! process of the built binary.

#[path = "../../cnd-sqs/tests/support/procs.rs"]
mod procs;

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;
use cnd_core::{BitOrder, NonceRange, Problem, ReportOutcome, WorkerReport, verify};

/// A `cnd worker` with a clean contract environment (nothing inherited from the caller's
/// CND_* or reference variables) and no AWS metadata lookups.
fn worker() -> Command {
    let mut c = Command::new(cargo_bin("cnd"));
    c.arg("worker");
    for (k, _) in std::env::vars() {
        if k.starts_with("CND_")
            || ["D", "WORKER_INDEX", "WORKER_MAX", "PROCESS_ID", "POD_NAME", "JOB_COMPLETION_INDEX"]
                .contains(&k.as_str())
        {
            c.env_remove(k);
        }
    }
    c.env("AWS_EC2_METADATA_DISABLED", "true");
    c
}

fn report_of(stdout: &[u8]) -> WorkerReport {
    let text = String::from_utf8_lossy(stdout);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "exactly one report line: {text}");
    WorkerReport::from_json(lines[0]).unwrap_or_else(|e| panic!("not a report ({e}): {}", lines[0]))
}

#[test]
fn worker_reads_the_reference_names_and_searches_the_same_quarter() {
    let out = worker()
        .envs([
            ("D", "20"),
            ("WORKER_INDEX", "1"),
            ("WORKER_MAX", "4"),
            ("CND_BIT_ORDER", "lsb"),
            ("PROCESS_ID", "ref"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let r = report_of(&out.stdout);
    let quarter = NonceRange::new(1 << 30, 1 << 31).unwrap();
    assert_eq!((r.run_id.as_str(), r.worker, r.range), ("ref", 1, quarter));
    let problem = Problem::text("COMSM0010cloud", 20).unwrap().with_bit_order(BitOrder::Lsb);
    let ReportOutcome::Found { nonce, digest } = r.outcome else { panic!("{r:?}") };
    assert!(quarter.contains(nonce));
    let v = verify(&problem, nonce);
    assert!(v.is_valid() && v.digest == digest, "{v:?}");
    // The lowest of its quarter (the worker's default mode): nothing golden below it.
    let below = (quarter.start..nonce).find(|n| verify(&problem, *n).is_valid());
    assert_eq!(below, None);
}

#[test]
fn worker_exhausts_its_partition_with_exit_3_and_writes_the_termination_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("termination-log");
    let out = worker()
        .envs([
            ("CND_RUN_ID", "ex"),
            ("CND_DIFFICULTY", "256"),
            ("CND_START", "1000"),
            ("CND_END", "3001"),
            ("CND_WORKER_COUNT", "2"),
            ("JOB_COMPLETION_INDEX", "1"),
            ("CND_THREADS", "2"),
            ("CND_RESULTS", "termination-log"),
            ("POD_NAME", "cnd-ex-1-abcde"),
        ])
        .env("CND_TERMINATION_LOG", &log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let r = report_of(&out.stdout);
    assert_eq!(r.outcome, ReportOutcome::Exhausted);
    assert_eq!(r.range, NonceRange::new(2001, 3001).unwrap());
    assert_eq!(r.hashes, 1000);
    assert_eq!(r.source.as_deref(), Some("cnd-ex-1-abcde"));
    let written = std::fs::read_to_string(&log).unwrap();
    assert_eq!(WorkerReport::from_json(&written).unwrap(), r);
}

#[test]
fn worker_rejects_a_missing_or_bad_variable_with_exit_2_and_one_line_naming_it() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("D", "20")], "CND_RUN_ID"),
        (&[("CND_RUN_ID", "x")], "CND_DIFFICULTY"),
        (&[("CND_RUN_ID", "x"), ("D", "twenty")], "D: 'twenty'"),
        (&[("CND_RUN_ID", "x"), ("D", "20"), ("WORKER_MAX", "4"), ("WORKER_INDEX", "7")], "WORKER_INDEX: 7"),
        (&[("CND_RUN_ID", "x"), ("D", "20"), ("CND_THREADS", "lots")], "CND_THREADS"),
        (&[("CND_RUN_ID", "x"), ("D", "20"), ("CND_FORMAT", "yaml")], "CND_FORMAT"),
    ];
    for (vars, named) in cases {
        let out = worker().envs(vars.iter().copied()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{vars:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{vars:?}: {stderr}");
        assert!(stderr.contains(named), "{vars:?} should name {named}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn worker_stops_within_a_second_on_sigterm_and_sigint_with_exit_4() {
    for sig in ["TERM", "INT"] {
        let mut child = worker()
            .envs([
                ("CND_RUN_ID", "sig"),
                ("CND_DIFFICULTY", "256"),
                ("CND_END", "1000000000000"),
                ("CND_THREADS", "2"),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let sent = Instant::now();
        procs::signal(child.id(), sig);
        let status = procs::wait_for(Duration::from_secs(5), || child.try_wait().unwrap()).expect("exits");
        let took = sent.elapsed();
        let out = child.wait_with_output().unwrap();
        assert_eq!(status.code(), Some(4), "SIG{sig}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(took < Duration::from_secs(1), "SIG{sig}: stopped after {took:?}");
        let r = report_of(&out.stdout);
        assert!(
            matches!(&r.outcome, ReportOutcome::Failed { reason } if reason.contains(&format!("SIG{sig}"))),
            "{r:?}"
        );
        assert!(r.hashes > 0);
    }
}

#[test]
fn worker_stops_when_its_coordinator_end_of_stdin_closes() {
    let mut child = worker()
        .envs([
            ("CND_RUN_ID", "orphan"),
            ("CND_DIFFICULTY", "256"),
            ("CND_END", "1000000000000"),
            ("CND_EXIT_WITH_PARENT", "1"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"still here\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(child.try_wait().unwrap().is_none(), "runs while its stdin is open");
    drop(stdin);
    let status = procs::wait_for(Duration::from_secs(5), || child.try_wait().unwrap()).expect("exits");
    assert_eq!(status.code(), Some(4));
    let out = child.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("coordinator is gone"));
}

#[test]
fn worker_help_documents_the_env_contract() {
    let out = Command::new(cargo_bin("cnd")).args(["worker", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    // Every variable the contract reads, aliases included ("D" as "[D]").
    for name in cnd_core::WorkerSpec::VARIABLES.iter().map(|v| if *v == "D" { "[D]" } else { v }) {
        assert!(help.contains(name), "worker --help should mention {name}");
    }
}

#[cfg(feature = "sqs")]
#[test]
fn worker_with_an_unreachable_sqs_endpoint_exits_1_naming_it() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let out = worker()
        .envs([
            ("CND_RUN_ID", "nosqs"),
            ("D", "8"),
            ("CND_RESULTS", "sqs"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ])
        .env("CND_SQS_ENDPOINT_URL", &endpoint)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    let last = stderr.trim().lines().last().unwrap_or_default();
    assert!(last.starts_with("error: ") && last.contains(&endpoint) && last.contains("onnect"), "{stderr}");
}

/// As in a pod (no HOME, nothing cached): the kernel is chosen on the partition's first
/// nonces, and those are searched, not spent: a golden nonce among them is the answer (the
/// lowest), and a range without one is counted exactly once, probe and search together.
#[test]
fn without_a_cache_the_kernel_is_chosen_on_the_ranges_own_first_nonces() {
    let several = cnd_core::Kernel::available().iter().filter(|k| **k != cnd_core::Kernel::Portable).count() >= 2;
    let pod = |difficulty: &str, end: &str| {
        let mut c = worker();
        c.env_remove("HOME").env_remove("XDG_CACHE_HOME").env("CND_LOG", "info").envs([
            ("CND_RUN_ID", "probe"),
            ("CND_DIFFICULTY", difficulty),
            ("CND_START", "1000"),
            ("CND_END", end),
            ("CND_WORKER_INDEX", "0"),
            ("CND_WORKER_COUNT", "1"),
        ]);
        c.output().unwrap()
    };
    let problem = Problem::text("COMSM0010cloud", 14).unwrap();
    let lowest = (1000..).find(|n| verify(&problem, *n).is_valid()).unwrap();
    let out = pod("14", "4294967296");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!several || stderr.contains("searched the run's first nonces"), "{stderr}");
    let ReportOutcome::Found { nonce, .. } = report_of(&out.stdout).outcome else { panic!("{stderr}") };
    assert_eq!(nonce, lowest);

    // 3·10^7 nonces: more than the probe's 200 ms cover on one thread, so the search goes on
    // after it with the chosen kernel.
    let out = pod("256", "30000000");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let r = report_of(&out.stdout);
    assert_eq!((r.outcome, r.hashes), (ReportOutcome::Exhausted, 30_000_000 - 1000), "{stderr}");
}
