//! Every count and duration the `cnd` binary takes is bounded: a value out of range (negative,
//! huge, NaN) exits 2 at once with one line naming the flag and the limit, and starts nothing.
//! (`--timeout 1e20` used to panic, `--workers 100000000` to start threads for minutes,
//! `--workers 4000000000 --backend process` to abort on a 64 GB allocation, `-d -1` to say
//! "unexpected argument '-1'".)

use std::time::{Duration, Instant};

use assert_cmd::Command;

fn cnd() -> Command {
    let mut c = Command::cargo_bin("cnd").unwrap();
    for (k, _) in std::env::vars() {
        if k.starts_with("CND_") {
            c.env_remove(k);
        }
    }
    c.timeout(Duration::from_secs(30));
    c
}

#[test]
fn out_of_range_numbers_exit_2_at_once_naming_the_flag_and_the_limit() {
    let cases: &[(&[&str], &str, &str)] = &[
        (&["-d", "-1"], "--difficulty", "0..=256"),
        (&["-d", "257"], "--difficulty", "0..=256"),
        (&["-d", "99999999999999999999"], "--difficulty", "0..=256"),
        (&["-d", "8", "--start", "-1"], "--start", "0..=18446744073709551615"),
        (&["-d", "8", "--end", "18446744073709551616"], "--end", "0..=18446744073709551615"),
        (&["-d", "8", "--timeout", "1e20"], "--timeout", "365d"),
        (&["-d", "8", "--timeout", "nan"], "--timeout", "allowed"),
        (&["-d", "8", "--timeout", "400d"], "--timeout", "365d"),
        (&["-d", "8", "--workers", "-3"], "--workers", "1..=100000"),
        (&["-d", "8", "--workers", "5000000000"], "--workers", "1..=100000"),
        (&["-d", "8", "--workers", "100000000"], "--workers", "allowed with --backend local: 1..="),
        (
            &["-d", "8", "--workers", "4000000000", "--backend", "process"],
            "--workers",
            "allowed with --backend process: 1..=",
        ),
        (&["-d", "8", "--workers", "100001", "--backend", "k8s"], "--workers", "1..=100000, the Indexed Job limit"),
        (&["-d", "8", "--workers", "auto", "--deadline", "1e20"], "--deadline", "365d"),
        (&["plan", "-d", "10", "--deadline", "1e30"], "--deadline", "365d"),
        (&["plan", "-d", "10", "--deadline", "10s", "--rate", "1e308G"], "--rate", "1e15"),
        (&["plan", "-d", "10", "--deadline", "10s", "--cpu", "1e300"], "--cpu", "1024"),
        (&["plan", "-d", "10", "--deadline", "10s", "--startup", "1e20"], "--startup", "365d"),
        (&["plan", "-d", "10", "--deadline", "10s", "--max-workers", "-1"], "--max-workers", "1.."),
        (&["verify", "-d", "8", "--nonce", "-5"], "--nonce", "0..=18446744073709551615"),
        (&["bench", "--scaling", "--workers", "1,100000000"], "--workers", "allowed with --backend local: 1..="),
        (&["bench", "--seconds", "-1"], "--seconds", "3600"),
        (&["bench", "--repeats", "-1"], "--repeats", "0.."),
        (&["k8s", "manifest", "-d", "8", "--ttl", "1e12"], "--ttl", "365d"),
        (&["k8s", "cleanup", "--all", "--wait", "1e20"], "--wait", "365d"),
    ];
    for (args, flag, limit) in cases {
        let started = Instant::now();
        let out = cnd().args(*args).assert().code(2).get_output().clone();
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<_> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: want one line, got {err:?}");
        assert!(lines[0].contains(flag), "{args:?}: {err:?} does not name {flag}");
        assert!(lines[0].contains(limit), "{args:?}: {err:?} does not say {limit}");
        assert!(!err.contains("panicked") && !err.contains("unexpected argument"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: printed a result");
        assert!(started.elapsed() < Duration::from_secs(10), "{args:?} took {:?}", started.elapsed());
    }
}

/// The limits themselves are allowed: a year of timeout, 256 bits, the largest nonce.
#[test]
fn the_limits_themselves_are_allowed() {
    cnd().args(["-d", "0", "--end", "1", "--timeout", "365d", "-q"]).assert().code(0);
    cnd()
        .args(["-d", "256", "--start", "18446744073709551614", "--end", "18446744073709551615", "-q"])
        .assert()
        .code(3);
    cnd()
        .args(["verify", "-d", "0", "--end", "18446744073709551615", "--nonce", "18446744073709551614"])
        .assert()
        .code(0);
}
