//! `cnd plan`, `--workers auto`, `cnd bench --calibrate` and `cnd bench --scaling` end to
//! end: plans, impossible goals, bad input (one line, exit 2), the stored calibration, the
//! scaling table and its SVG.

mod common;

use assert_cmd::Command;
use common::{json, run_json, run_json_with_stderr};

/// `cnd` with no CND_* from the caller and a private cache directory.
fn cnd(cache: &std::path::Path) -> Command {
    let mut c = Command::cargo_bin("cnd").unwrap();
    for (k, _) in std::env::vars() {
        if k.starts_with("CND_") && k != "CND_KERNEL" {
            c.env_remove(k);
        }
    }
    c.env("XDG_CACHE_HOME", cache);
    c
}

fn one_line_error(stderr: &[u8], needle: &str) {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {text}");
    assert!(lines[0].starts_with("error: "), "{text}");
    assert!(lines[0].contains(needle), "'{needle}' not in: {text}");
}

#[test]
fn plan_of_the_reference_system_is_16_pods() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["plan", "-d", "26", "--deadline", "60s", "--confidence", "0.95", "--rate", "211000", "--json"];
    let v = run_json(cnd(dir.path()).args(args));
    assert_eq!(v["workers"], 16);
    assert_eq!(v["difficulty"], 26);
    assert_eq!(v["rate_source"], "flag");
    assert!(v["probability_by_deadline"].as_f64().unwrap() >= 0.95);
    assert!(v["probability_with_one_fewer"].as_f64().unwrap() < 0.95);
    for q in ["p50_s", "p95_s", "p99_s", "expected_s", "cost_worker_seconds"] {
        assert!(v[q].as_f64().unwrap() > 0.0, "{q}");
    }
    let p95 = v["p95_s"].as_f64().unwrap();
    assert!(p95 <= 60.0, "{p95}");

    let human = cnd(dir.path()).args(&args[..args.len() - 1]).assert().code(0).get_output().stdout.clone();
    let human = String::from_utf8(human).unwrap();
    assert!(human.starts_with("plan: 16 workers for D=26 by 1m with 95.00% confidence"), "{human}");
    assert!(human.contains("worker-seconds"), "{human}");
    assert!(human.contains("median") && human.contains("95%") && human.contains("99%"), "{human}");
}

#[test]
fn impossible_goals_say_why_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = cnd(dir.path())
        .args(["plan", "-d", "256", "--deadline", "60s", "--confidence", "0.95", "--rate", "211000"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    one_line_error(&out.stderr, "impossible at any worker count");
    assert!(out.stdout.is_empty());

    // D = 32 in [0, 2^32) holds one with P = 1 − 1/e: 99 % is out of reach; the hint says
    // how large a range would do.
    let out = cnd(dir.path())
        .args(["plan", "-d", "32", "--deadline", "10m", "--confidence", "0.99", "--rate", "1M"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    one_line_error(&out.stderr, "63.21%");

    let out = cnd(dir.path())
        .args(["plan", "-d", "26", "--deadline", "60s", "--rate", "211000", "--max-workers", "8"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    one_line_error(&out.stderr, "at most 8 workers");
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let base = ["plan", "-d", "20", "--rate", "1M"];
    let cases: &[(&[&str], &str)] = &[
        (&["--deadline", "1m", "--confidence", "1.5"], "--confidence"),
        (&["--deadline", "1m", "--confidence", "0"], "--confidence"),
        (&["--deadline", "-3s"], "--deadline"),
        (&["--deadline=-3s"], "--deadline"),
        (&["--deadline", "0"], "--deadline"),
        (&["--deadline", "soon"], "--deadline"),
        (&["--deadline", "1m", "--rate", "0"], "--rate"),
        (&["--deadline", "1m", "--rate", "-5"], "--rate"),
        (&["--deadline", "1m", "--max-workers", "0"], "--max-workers"),
        (&["--deadline", "1m", "--startup", "-1s"], "--startup"),
        (&[], "--deadline"),
    ];
    for (extra, flag) in cases {
        let out = cnd(dir.path()).args(base).args(*extra).assert().code(2).get_output().clone();
        one_line_error(&out.stderr, flag);
    }
    // The same on a search with --workers auto.
    let out = cnd(dir.path()).args(["-d", "20", "--workers", "auto"]).assert().code(2).get_output().clone();
    one_line_error(&out.stderr, "--deadline");
    let out = cnd(dir.path())
        .args(["-d", "20", "--workers", "auto", "--deadline", "1m", "--confidence", "1.5"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    one_line_error(&out.stderr, "--confidence");
}

#[test]
fn workers_auto_prints_its_plan_first_then_searches() {
    let dir = tempfile::tempdir().unwrap();
    let out = cnd(dir.path())
        .args(["-d", "16", "--workers", "auto", "--deadline", "30s", "--confidence", "0.99", "--rate", "1M", "--json"])
        .assert()
        .code(0)
        .get_output()
        .clone();
    // With --json the plan goes to stderr and stdout stays one JSON object.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("plan: 1 thread for D=16"), "{stderr}");
    let v = json(&out.stdout);
    assert_eq!(v["status"], "found");
    assert_eq!(v["workers"], 1);

    // Local threads are capped at this machine's CPUs: a goal they cannot meet is refused.
    let out = cnd(dir.path())
        .args(["-d", "30", "--workers", "auto", "--deadline", "1s", "--rate", "1M"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    one_line_error(&out.stderr, "CPUs");
}

#[test]
fn calibration_is_stored_and_used_by_plan() {
    let dir = tempfile::tempdir().unwrap();
    let v = run_json(cnd(dir.path()).args(["bench", "--calibrate", "--seconds", "0.2", "--repeats", "1", "--json"]));
    let per_cpu = v["per_cpu_rate"].as_f64().unwrap();
    assert!(per_cpu > 1e4, "{per_cpu}");
    let stored = dir.path().join("cnd").join("calibration.json");
    assert!(stored.exists());

    let (v, stderr) = run_json_with_stderr(cnd(dir.path()).args(["plan", "-d", "24", "--deadline", "10s", "--json"]));
    assert_eq!(v["rate_source"], "calibration");
    assert_eq!(v["rate_per_worker"].as_f64().unwrap(), per_cpu);
    assert!(stderr.is_empty(), "{stderr}");
    // Two CPUs per worker: twice the rate.
    let out = run_json(cnd(dir.path()).args(["plan", "-d", "24", "--deadline", "10s", "--cpu", "2", "--json"]));
    assert_eq!(out["rate_per_worker"].as_f64().unwrap(), 2.0 * per_cpu);
}

#[test]
fn scaling_prints_a_table_and_draws_an_svg() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("scaling.svg");
    let out = cnd(dir.path())
        .args(["bench", "--scaling", "--workers", "1,2", "--runs", "3", "-d", "12", "--plot"])
        .arg(&svg)
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8(out).unwrap();
    assert!(table.contains("speed-up") && table.contains("efficiency"), "{table}");
    assert!(std::fs::read_to_string(&svg).unwrap().contains("ideal 1/W"));

    let v =
        run_json(cnd(dir.path()).args(["bench", "--scaling", "--workers", "1,2", "--runs", "2", "-d", "10", "--json"]));
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    assert_eq!(points[1]["workers"], 2);
    assert_eq!(points[1]["runs"].as_array().unwrap().len(), 2);

    for (args, flag) in [
        (["bench", "--scaling", "--workers", "0"], "--workers"),
        (["bench", "--scaling", "--runs", "0"], "--runs"),
        (["bench", "--scaling", "--plot", "x.png"], "--plot"),
    ] {
        let out = cnd(dir.path()).args(args).assert().code(2).get_output().clone();
        one_line_error(&out.stderr, flag);
    }
}
