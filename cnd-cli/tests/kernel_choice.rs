//! The kernel chosen by measurement, end to end: the probe on first use and its cache file
//! (`$XDG_CACHE_HOME/cnd/kernels.json`), a cache hit without a probe, records of another CPU
//! or binary and corrupt files ignored, an unwritable cache that does not fail the run,
//! `CND_KERNEL` / `--kernel` forcing, and `cnd bench --calibrate` recording every kernel.
//!
//! Each search runs `cnd -d 4 -v --json`: the chosen kernel is the JSON's `kernel`, why it
//! was chosen is the `kernel ...` line `-v` logs on stderr.

use std::path::Path;

mod common;

use assert_cmd::Command;
use common::{json, run_json, run_json_with_stderr};
use serde_json::Value;

/// `cnd` with no CND_* from the caller and `dir` as its cache home (XDG_CACHE_HOME).
fn cnd(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("cnd").unwrap();
    for (k, _) in std::env::vars() {
        if k.starts_with("CND_") {
            c.env_remove(k);
        }
    }
    c.env("XDG_CACHE_HOME", dir).env("HOME", dir);
    c
}

/// A search; returns the kernel used and the `kernel ...` line of `-v` (empty if none).
fn search(c: &mut Command) -> (String, String) {
    let (out, stderr) = run_json_with_stderr(c.args(["-d", "4", "-v", "--json"]));
    let kernel = out["kernel"].as_str().expect("kernel in the JSON").to_string();
    // "kernel NAME (why...)"
    let is_why = |l: &&str| {
        l.split("kernel ").nth(1).is_some_and(|rest| rest.split_once(' ').is_some_and(|(_, why)| why.starts_with('(')))
    };
    let why = stderr.lines().find(is_why).unwrap_or_default().to_string();
    (kernel, why)
}

/// The kernels this CPU runs besides `portable`, as `cnd bench` lists them (its own cache).
fn fast_kernels() -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let v = run_json(cnd(dir.path()).args(["bench", "--seconds", "0.01", "--repeats", "1", "--json"]));
    let mut kernels: Vec<String> = vec![];
    for r in v["results"].as_array().unwrap() {
        let k = r["kernel"].as_str().unwrap().to_string();
        if k != "portable" && !kernels.contains(&k) {
            kernels.push(k);
        }
    }
    kernels
}

fn read(path: &Path) -> Value {
    json(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// Sets `kernel`'s recorded rates in every record to far above the others'.
fn make_fastest(file: &mut Value, kernel: &str) {
    for record in file["records"].as_array_mut().unwrap() {
        for rate in record["rates"].as_array_mut().unwrap() {
            if rate["kernel"] == kernel {
                rate["text"] = 1e12.into();
                rate["bitcoin"] = 1e12.into();
            }
        }
    }
}

#[test]
fn the_probe_decides_once_then_the_cache_decides_without_probing() {
    let dir = tempfile::tempdir().unwrap();
    let fast = fast_kernels();
    let cache = dir.path().join("cnd").join("kernels.json");
    let (kernel, why) = search(&mut cnd(dir.path()));
    if fast.len() < 2 {
        // Nothing to measure: no probe, no file.
        assert!(why.contains("no probe"), "{why}");
        assert!(!cache.exists());
        return;
    }
    assert!(fast.contains(&kernel), "{kernel} is not one of {fast:?}");
    assert!(why.contains("ms probe, cached in") && why.contains(&cache.display().to_string()), "{why}");
    let mut file = read(&cache);
    assert_eq!(file["records"].as_array().unwrap().len(), 1, "{file}");
    let rates = file["records"][0]["rates"].as_array().unwrap();
    assert_eq!(rates.len(), fast.len(), "every fast kernel probed: {file}");

    // The slowest one made fastest in the file: a cache hit chooses it, and writes nothing.
    let slowest = fast.last().unwrap().clone();
    make_fastest(&mut file, &slowest);
    std::fs::write(&cache, file.to_string()).unwrap();
    let (kernel, why) = search(&mut cnd(dir.path()));
    assert_eq!(kernel, slowest, "{why}");
    assert!(why.contains("probe's calibration cached in"), "{why}");
    assert_eq!(read(&cache), file, "a cache hit does not probe or rewrite the file");
}

#[test]
fn a_record_of_another_cpu_or_binary_is_ignored_and_a_corrupt_file_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    if fast_kernels().len() < 2 {
        return assert!(search(&mut cnd(dir.path())).1.contains("no probe"));
    }
    let cache = dir.path().join("cnd").join("kernels.json");
    search(&mut cnd(dir.path()));
    let mut file = read(&cache);
    let ours = file["records"][0].clone();
    for field in ["cpu", "binary"] {
        let mut other = ours.clone();
        other[field] = format!("another {field}").into();
        file["records"] = vec![other].into();
        make_fastest(&mut file, "portable");
        std::fs::write(&cache, file.to_string()).unwrap();
        let (kernel, why) = search(&mut cnd(dir.path()));
        assert!(why.contains("ms probe, cached in"), "{field}: {why}");
        assert_ne!(kernel, "portable");
        let now = read(&cache);
        let records = now["records"].as_array().unwrap();
        assert_eq!(records.len(), 2, "ours added, the other kept: {now}");
        assert_eq!(records[0]["cpu"], ours["cpu"]);
        assert_eq!(records[0]["binary"], ours["binary"]);
    }

    for corrupt in ["{ not json", "{\"records\": 7}", ""] {
        std::fs::write(&cache, corrupt).unwrap();
        let (_, why) = search(&mut cnd(dir.path()));
        assert!(why.contains("ms probe, cached in"), "{corrupt:?}: {why}");
        assert_eq!(read(&cache)["records"].as_array().unwrap().len(), 1, "rewritten after {corrupt:?}");
    }
}

#[test]
fn an_unwritable_cache_or_no_home_does_not_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let several = fast_kernels().len() >= 2;
    // A file where the cache directory should be, as on a read-only filesystem.
    let blocked = dir.path().join("blocked");
    std::fs::write(&blocked, "").unwrap();
    let (_, why) = search(&mut cnd(&blocked));
    assert!(!several || why.contains("kept in this process only: create"), "{why}");
    // A FROM scratch pod: neither XDG_CACHE_HOME nor HOME.
    let (_, why) = search(cnd(dir.path()).env_remove("XDG_CACHE_HOME").env_remove("HOME"));
    assert!(!several || why.contains("kept in this process only: no cache directory"), "{why}");
    assert!(several || why.contains("no probe"), "{why}");
}

#[test]
fn cnd_kernel_and_the_flag_force_a_kernel_without_a_probe() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cnd").join("kernels.json");
    let (kernel, why) = search(cnd(dir.path()).env("CND_KERNEL", "portable"));
    assert_eq!(kernel, "portable");
    assert!(!why.contains("probe"), "{why}");
    let (kernel, _) = search(cnd(dir.path()).args(["--kernel", "portable"]));
    assert_eq!(kernel, "portable");
    assert!(!cache.exists(), "a forced kernel needs no probe");
}

#[test]
fn bench_calibrate_records_every_kernel_and_the_choice_follows_it() {
    let dir = tempfile::tempdir().unwrap();
    let fast = fast_kernels();
    let report =
        run_json(cnd(dir.path()).args(["bench", "--calibrate", "--seconds", "0.05", "--repeats", "1", "--json"]));
    let cache = dir.path().join("cnd").join("kernels.json");
    assert_eq!(report["kernels_path"], cache.display().to_string(), "{report}");
    let file = read(&cache);
    assert_eq!(file["records"][0]["measured_by"], "calibrate");
    let recorded: Vec<&str> =
        file["records"][0]["rates"].as_array().unwrap().iter().map(|r| r["kernel"].as_str().unwrap()).collect();
    for k in fast.iter().map(String::as_str).chain(["portable"]) {
        assert!(recorded.contains(&k), "{k} not recorded: {file}");
    }
    let (kernel, why) = search(&mut cnd(dir.path()));
    if fast.len() >= 2 {
        assert!(why.contains("`cnd bench --calibrate` calibration cached in"), "{why}");
        assert_eq!(report["best"], kernel.as_str(), "{report}");
    }

    // `cnd bench` says which kernel wins, in the table and in --json.
    let v = run_json(cnd(dir.path()).args(["bench", "--seconds", "0.02", "--repeats", "1", "--json"]));
    assert_eq!(v["choice"]["kernel"], kernel.as_str(), "{v}");
    assert!(v["measured_best"]["kernel"].is_string(), "{v}");
    let out = cnd(dir.path()).args(["bench", "--seconds", "0.02", "--repeats", "1"]).assert().code(0);
    let table = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(table.contains("best here: ") && table.contains("chosen: "), "{table}");
}
