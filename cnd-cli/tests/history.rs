//! The run history end to end: every run appends one line (found, exhausted, timed out; not
//! bad input; a history that cannot be written is a warning), and `cnd plan --backend k8s`
//! and `--workers auto` on k8s take the rate per pod and the start-up delay of the current
//! context's runs from it, and say so; the calibration otherwise.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A private home: cache (calibration), kubeconfig, history.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let home = Self { dir: tempfile::tempdir().unwrap() };
        // A calibration of the portable kernel: plans without history never measure.
        let cache = home.dir.path().join("cache/cnd");
        std::fs::create_dir_all(&cache).unwrap();
        std::fs::write(
            cache.join("calibration.json"),
            r#"{"kernel":"portable","per_cpu_rate":1000000.0,"single_thread_rate":1000000.0,"threads":1,
                "measured_unix_s":0,"version":"test"}"#,
        )
        .unwrap();
        // Two contexts; `lab` is the current one, its API server a closed local port.
        std::fs::write(
            home.kubeconfig(),
            "apiVersion: v1\nkind: Config\ncurrent-context: lab\nclusters:\n- name: lab\n  cluster: {server: \
             'https://127.0.0.1:9'}\n- name: prod\n  cluster: {server: 'https://127.0.0.1:10'}\ncontexts:\n- name: \
             lab\n  context: {cluster: lab, user: u}\n- name: prod\n  context: {cluster: prod, user: u}\nusers:\n- \
             name: u\n  user: {token: t}\n",
        )
        .unwrap();
        home
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    fn history(&self) -> PathBuf {
        self.dir.path().join("history.jsonl")
    }

    /// `cnd` with no CND_* of the caller, this home, and this history.
    fn cnd(&self, history: &Path) -> Command {
        let mut c = Command::cargo_bin("cnd").unwrap();
        for (k, _) in std::env::vars() {
            if k.starts_with("CND_") {
                c.env_remove(k);
            }
        }
        c.env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .env("KUBECONFIG", self.kubeconfig())
            .env("CND_KERNEL", "portable")
            .env("CND_HISTORY", history);
        c
    }
}

fn json(out: &[u8]) -> serde_json::Value {
    serde_json::from_slice(out).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(out)))
}

/// A k8s run's line as `cnd` writes it.
fn k8s_line(context: &str, server: &str, startup: f64, rate: f64, cpu: f64) -> String {
    serde_json::json!({
        "time_unix_s": 1_700_000_000u64, "run_id": "r", "backend": "k8s", "context": context, "server": server,
        "namespace": "default", "workers": 2, "cpu_per_worker": cpu, "kernel": "sha-ni", "format": "text",
        "difficulty": 20, "startup_delay_s": startup, "startup_measured": "job-created-to-first-pod-running",
        "rate_per_worker": rate, "reports": 1, "hashes": 1000, "outcome": "found", "elapsed_s": 3.0,
        "version": "0.1.0"
    })
    .to_string()
}

/// Three runs on `lab` (start-up 2, 4, 3 s; 10, 14, 12 MH/s per pod), one on `prod`, and a
/// line cut short.
fn lab_history(home: &Home) -> PathBuf {
    let lines = [
        k8s_line("lab", "https://127.0.0.1:9", 2.0, 10e6, 1.0),
        k8s_line("prod", "https://127.0.0.1:10", 40.0, 1e6, 1.0),
        k8s_line("lab", "https://127.0.0.1:9", 4.0, 14e6, 1.0),
        "{\"time_unix_s\": 17000".to_string(),
        k8s_line("lab", "https://127.0.0.1:9", 3.0, 12e6, 1.0),
    ];
    let path = home.history();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

const PLAN: [&str; 9] = ["plan", "--backend", "k8s", "-d", "30", "--deadline", "5m", "--confidence", "0.95"];

#[test]
fn a_k8s_plan_uses_the_medians_of_the_contexts_runs_and_says_so() {
    let home = Home::new();
    let history = lab_history(&home);
    let out = home.cnd(&history).args(PLAN).arg("--json").assert().code(0).get_output().stdout.clone();
    let v = json(&out);
    assert_eq!(v["source"], "history", "{v}");
    assert_eq!((v["rate_source"].as_str(), v["startup_source"].as_str()), (Some("history"), Some("history")));
    assert_eq!(v["history_runs"], 3, "{v}");
    assert_eq!(v["context"], "lab");
    assert_eq!(v["startup_delay_s"].as_f64(), Some(3.0), "{v}");
    assert_eq!(v["rate_per_worker"].as_f64(), Some(12e6), "{v}");
    // 2^30 / (W × 12 MH/s) after 3 s within 5 min at 95 %: the planner's own answer.
    let workers = v["workers"].as_u64().unwrap();
    assert!((1..=10).contains(&workers), "{v}");

    let human = home.cnd(&history).args(PLAN).assert().code(0).get_output().stdout.clone();
    let human = String::from_utf8(human).unwrap();
    assert!(human.starts_with(&format!("plan: {workers} pod")), "{human}");
    assert!(human.contains("measured over 3 runs on context lab: start-up 3.0 s, 12.00 MH/s per pod"), "{human}");

    // Another context: its own run.
    let v = json(&home.cnd(&history).args(PLAN).args(["--json", "--context", "prod"]).output().unwrap().stdout);
    assert_eq!((v["history_runs"].as_u64(), v["startup_delay_s"].as_f64()), (Some(1), Some(40.0)), "{v}");
}

#[test]
fn without_runs_of_the_context_the_plan_uses_the_calibration_and_says_so() {
    let home = Home::new();
    for history in [home.history(), PathBuf::from("off")] {
        // No file at all, or the history turned off (with runs in it).
        let _ = lab_history(&home);
        if history == home.history() {
            std::fs::write(&history, k8s_line("prod", "https://127.0.0.1:10", 40.0, 1e6, 1.0) + "\n").unwrap();
        }
        let out = home.cnd(&history).args(PLAN).arg("--json").assert().code(0).get_output().stdout.clone();
        let v = json(&out);
        assert_eq!((v["source"].as_str(), v["history_runs"].as_u64()), (Some("calibration"), Some(0)), "{v}");
        assert_eq!((v["rate_source"].as_str(), v["startup_source"].as_str()), (Some("calibration"), Some("default")));
        assert_eq!((v["rate_per_worker"].as_f64(), v["startup_delay_s"].as_f64()), (Some(1e6), Some(5.0)), "{v}");
        let human = home.cnd(&history).args(PLAN).assert().code(0).get_output().stdout.clone();
        let human = String::from_utf8(human).unwrap();
        assert!(
            human.contains(
                "no runs on context lab in the run history: rate from this machine's calibration, start-up the \
                 backend's default"
            ),
            "{human}"
        );
    }
}

#[test]
fn flags_win_over_the_history() {
    let home = Home::new();
    let history = lab_history(&home);
    let out = home.cnd(&history).args(PLAN).args(["--json", "--rate", "2M"]).output().unwrap();
    let v = json(&out.stdout);
    assert_eq!((v["rate_source"].as_str(), v["startup_source"].as_str()), (Some("flag"), Some("history")), "{v}");
    assert_eq!((v["rate_per_worker"].as_f64(), v["startup_delay_s"].as_f64()), (Some(2e6), Some(3.0)));
    assert_eq!(v["source"], "history");
}

#[test]
fn workers_auto_on_k8s_plans_from_the_history() {
    let home = Home::new();
    let history = lab_history(&home);
    // The plan is printed before the cluster is reached (here: a closed port, exit 1).
    let out = home
        .cnd(&history)
        .args(["--backend", "k8s", "-d", "30", "--workers", "auto", "--deadline", "5m", "--timeout", "10s"])
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("measured over 3 runs on context lab: start-up 3.0 s, 12.00 MH/s per pod"), "{err}");
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(|l| json(l.as_bytes())).collect()
}

#[test]
fn every_run_appends_one_line_and_bad_input_none() {
    let home = Home::new();
    let history = home.history();
    home.cnd(&history).args(["-d", "8", "--workers", "2", "--json"]).assert().code(0);
    let end = ["--block", "history-exhausted", "-d", "40", "--end", "200000", "--workers", "2", "--json"];
    home.cnd(&history).args(end).assert().code(3);
    home.cnd(&history).args(["-d", "64", "--workers", "1", "--timeout", "300ms", "--json"]).assert().code(4);
    home.cnd(&history).args(["-d", "8", "--backend", "process", "--workers", "2", "--json"]).assert().code(0);
    home.cnd(&history).args(["-d", "abc"]).assert().code(2);
    home.cnd(&history).args(["-d", "8", "--workers", "0"]).assert().code(2);
    let rs = lines(&history);
    let outcomes: Vec<&str> = rs.iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["found", "exhausted", "timed-out", "found"], "{rs:?}");
    let backends: Vec<&str> = rs.iter().map(|r| r["backend"].as_str().unwrap()).collect();
    assert_eq!(backends, ["local", "local", "local", "process"]);
    let exhausted = &rs[1];
    // The local backend reports once for all its threads.
    assert_eq!((exhausted["workers"].as_u64(), exhausted["reports"].as_u64()), (Some(2), Some(1)), "{exhausted}");
    assert_eq!(exhausted["hashes"].as_u64(), Some(200_000));
    assert!(exhausted["rate_per_worker"].as_f64().unwrap() > 1e4, "{exhausted}");
    assert_eq!(exhausted["startup_measured"], "start-to-first-report-less-its-search");
    assert!(exhausted["startup_delay_s"].as_f64().unwrap() >= 0.0);
    for r in &rs {
        assert_eq!((r["format"].as_str(), r["kernel"].as_str()), (Some("text"), Some("portable")), "{r}");
        assert!(r["run_id"].as_str().is_some_and(|s| !s.is_empty()) && r["elapsed_s"].as_f64().unwrap() > 0.0);
        assert!(r.get("context").is_none(), "{r}");
    }
}

#[test]
fn a_history_that_cannot_be_written_is_a_warning() {
    let home = Home::new();
    // A directory where the file should be.
    let history = home.dir.path().join("a-dir");
    std::fs::create_dir(&history).unwrap();
    let out = home.cnd(&history).args(["-d", "8", "--workers", "1", "--json"]).assert().code(0).get_output().clone();
    assert!(json(&out.stdout)["nonce"].is_u64());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("warning: the run history") && err.contains("CND_HISTORY=off"), "{err}");
    // Off: nothing written anywhere, nothing said.
    let mut off = home.cnd(Path::new("off"));
    let out = off.args(["-d", "8", "--workers", "1"]).env("XDG_DATA_HOME", home.dir.path()).assert().code(0);
    let out = out.get_output().clone();
    assert!(!home.dir.path().join("cnd/history.jsonl").exists());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("history"));
}

#[test]
fn the_default_history_is_in_the_xdg_data_dir() {
    let home = Home::new();
    let mut c = home.cnd(Path::new(""));
    c.env_remove("CND_HISTORY").env("XDG_DATA_HOME", home.dir.path().join("data"));
    c.args(["-d", "8", "--workers", "1", "--json"]).assert().code(0);
    assert_eq!(lines(&home.dir.path().join("data/cnd/history.jsonl")).len(), 1);
}
