//! The `cnd` binary end to end on the local backend: every exit code and every bad input.

use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

mod common;

use assert_cmd::Command;
use cnd_core::{NonceRange, Problem, verify};
use common::run_json;

const GENESIS: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";

fn cnd() -> Command {
    let mut c = Command::cargo_bin("cnd").unwrap();
    // A clean environment: no CND_* from the caller.
    for (k, _) in std::env::vars() {
        if k.starts_with("CND_") && k != "CND_KERNEL" {
            c.env_remove(k);
        }
    }
    c
}

#[test]
fn finds_a_verified_nonce_as_json() {
    let v = run_json(cnd().args(["-d", "18", "--json"]));
    for field in [
        "run_id",
        "nonce",
        "digest",
        "leading_zero_bits",
        "difficulty",
        "worker",
        "hashes",
        "worker_elapsed_s",
        "elapsed_s",
        "answer_elapsed_s",
        "hash_rate",
    ] {
        assert!(v.get(field).is_some_and(|f| !f.is_null()), "missing {field} in {v}");
    }
    // Verified after the worker's search ended, reported then (before the cleanup).
    let (worker, answer, elapsed) =
        (v["worker_elapsed_s"].as_f64(), v["answer_elapsed_s"].as_f64(), v["elapsed_s"].as_f64());
    assert!(worker <= answer && answer <= elapsed, "worker {worker:?} <= answer {answer:?} <= elapsed {elapsed:?}");
    let nonce = v["nonce"].as_u64().unwrap();
    let p = Problem::text("COMSM0010cloud", 18).unwrap();
    let verdict = verify(&p, nonce);
    assert!(verdict.is_valid());
    assert_eq!(v["digest"].as_str().unwrap(), hex::encode(verdict.digest));
    assert!(v["leading_zero_bits"].as_u64().unwrap() >= 18);
}

#[test]
fn human_output_names_nonce_and_digest() {
    let out = cnd().args(["-d", "12", "--mode", "lowest", "--workers", "2"]).assert().code(0).get_output().clone();
    let text = String::from_utf8_lossy(&out.stdout);
    let p = Problem::text("COMSM0010cloud", 12).unwrap();
    let lowest = (0..1_000_000).find(|n| verify(&p, *n).is_valid()).unwrap();
    assert!(text.contains(&format!("golden nonce {lowest}")), "{text}");
    assert!(text.contains(&hex::encode(verify(&p, lowest).digest)), "{text}");
}

#[test]
fn lowest_is_the_same_for_1_2_and_7_workers() {
    let mut seen = vec![];
    for w in ["1", "2", "7"] {
        let out =
            run_json(cnd().args(["-d", "17", "--mode", "lowest", "--bit-order", "lsb", "--json", "--workers", w]));
        seen.push(out["nonce"].as_u64().unwrap());
    }
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:?}");
    let p = Problem::text("COMSM0010cloud", 17).unwrap().with_bit_order(cnd_core::BitOrder::Lsb);
    assert!(verify(&p, seen[0]).is_valid());
}

#[test]
fn finds_the_bitcoin_genesis_nonce() {
    let out = run_json(cnd().args([
        "--bitcoin-header",
        GENESIS,
        "--start",
        "2083200000",
        "--end",
        "2083300000",
        "--mode",
        "lowest",
        "--json",
    ]));
    assert_eq!(out["nonce"].as_u64(), Some(2083236893));
}

#[test]
fn exhausted_range_exits_3_quickly() {
    let t = Instant::now();
    let out = cnd().args(["-d", "64", "--start", "0", "--end", "200000"]).assert().code(3).get_output().clone();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no golden nonce in [0, 200000)"));
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[test]
fn timeout_exits_4_within_2_seconds() {
    let t = Instant::now();
    cnd().args(["-d", "256", "--timeout", "1s"]).assert().code(4);
    assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
}

#[test]
fn sigint_stops_every_thread_and_exits_4_within_a_second() {
    let bin = assert_cmd::cargo::cargo_bin("cnd");
    let mut child = StdCommand::new(bin).args(["-d", "256", "-q"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let pid = child.id();
    let t = Instant::now();
    assert!(StdCommand::new("kill").args(["-INT", &pid.to_string()]).status().unwrap().success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(3), "cnd did not stop after SIGINT");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(4));
    assert!(t.elapsed() < Duration::from_secs(1), "took {:?}", t.elapsed());
}

/// Each bad input: exit 2, one line on stderr naming the flag and what is allowed.
#[test]
fn bad_input_gets_one_line_naming_the_flag() {
    let cases: &[(&[&str], &str, &str)] = &[
        (&["-d", "300"], "--difficulty", "0..=256"),
        (&["-d", "8", "--block-hex", "zz"], "--block-hex", "allowed"),
        (&["-d", "8", "--start", "10", "--end", "5"], "--start", "start < end"),
        (&["--bitcoin-header", "00ff"], "--bitcoin-header", "80 bytes"),
        (&["-d", "8", "--workers", "0"], "--workers", "1..=100000"),
        (&["-d", "-1"], "--difficulty", "0..=256"),
        (&["-d", "8", "--mode", "fastest"], "--mode", "first, lowest"),
        (&["-d", "8", "--bit-order", "big"], "--bit-order", "msb, lsb"),
        (&["-d", "8", "--timeout", "-3s"], "--timeout", "allowed"),
        (&["-d", "8", "--kernel", "sse9"], "--kernel", "portable"),
        (&["--bitcoin-header", GENESIS, "--end", "9999999999"], "--end", "2^32"),
        (&[], "--difficulty", "required"),
    ];
    for (args, flag, allowed) in cases {
        let out = cnd().args(*args).assert().code(2).get_output().clone();
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<_> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: want one line, got {err:?}");
        assert!(lines[0].contains(flag), "{args:?}: {err:?} does not name {flag}");
        assert!(lines[0].contains(allowed), "{args:?}: {err:?} does not say {allowed}");
        assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{err}");
        assert!(out.stdout.is_empty(), "{args:?}: printed a result");
    }
}

#[test]
fn every_flag_reads_its_env_var() {
    let v = run_json(
        cnd()
            .env("CND_DIFFICULTY", "10")
            .env("CND_MODE", "lowest")
            .env("CND_START", "1000")
            .env("CND_END", "900000")
            .env("CND_JSON", "true"),
    );
    assert_eq!(v["difficulty"].as_u64(), Some(10));
    let p = Problem::text("COMSM0010cloud", 10).unwrap().with_range(NonceRange::new(1000, 900000).unwrap()).unwrap();
    let want = (1000..900000).find(|n| verify(&p, *n).is_valid()).unwrap();
    assert_eq!(v["nonce"].as_u64(), Some(want));
}

#[test]
fn verify_subcommand_accepts_and_rejects() {
    let p = Problem::text("COMSM0010cloud", 16).unwrap();
    let good = (0..1_000_000).find(|n| verify(&p, *n).is_valid()).unwrap();
    cnd().args(["verify", "-d", "16", "--nonce", &good.to_string()]).assert().code(0);
    cnd().args(["verify", "-d", "16", "--nonce", &(good + 1).to_string()]).assert().code(1);
    let out = run_json(cnd().args(["verify", "-d", "16", "--nonce", &good.to_string(), "--json"]));
    assert_eq!(out["golden"].as_bool(), Some(true));
}

#[test]
fn help_explains_exit_codes() {
    let out = cnd().arg("--help").assert().code(0).get_output().stdout.clone();
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("Exit codes"), "{text}");
    assert!(text.contains("--difficulty"));
}
