//! The run history: one JSON line per finished run in `$XDG_DATA_HOME/cnd/history.jsonl`
//! (`~/.local/share/cnd/history.jsonl`), which `cnd plan` and `--workers auto` on
//! `--backend k8s` learn the cluster's start-up delay and per-pod rate from.
//!
//! - **What a line holds**: [`RunRecord`]: when, the run id, the backend, for k8s the
//!   kubeconfig context, its API server and the namespace, workers, CPUs per worker, kernel,
//!   problem, the start-up delay, the rate per worker (hashes / worker time, over the
//!   workers' own reports), the outcome and the elapsed time.
//! - **Best effort**: a history that cannot be written is a warning, never a failed run; a
//!   line that cannot be read (cut short, hand-edited, from a newer cnd) is skipped.
//! - **Bounded**: at most [`MAX_RECORDS`] lines; an append past them keeps the newest.
//! - **`CND_HISTORY`**: `off` writes and reads none; a path uses that file instead.

mod recorder;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use recorder::Recorder;

/// The most lines the history keeps (the newest).
pub const MAX_RECORDS: usize = 1000;

/// How many of a cluster's most recent measured runs the planner takes the median of.
pub const RECENT_RUNS: usize = 10;

/// The environment variable that turns the history off (`off`) or moves it (a path).
pub const HISTORY_ENV: &str = "CND_HISTORY";

/// How the start-up delay of a k8s run is measured.
pub const STARTUP_K8S: &str = "job-created-to-first-pod-running";

/// How the start-up delay of a local or process run is measured: from the dispatcher's
/// start to the first report, less that worker's own search time.
pub const STARTUP_FIRST_REPORT: &str = "start-to-first-report-less-its-search";

/// One finished run, as one line of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// When the run ended, seconds since the Unix epoch.
    pub time_unix_s: u64,
    /// The run id.
    pub run_id: String,
    /// `local`, `process` or `k8s`.
    pub backend: String,
    /// k8s: the kubeconfig context (`in-cluster` in a pod).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// k8s: the context's API server URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// k8s: the namespace of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Workers (threads, processes or pods).
    pub workers: u32,
    /// CPUs that hash in one worker.
    pub cpu_per_worker: f64,
    /// The kernel (k8s: the coordinator's choice; the pods pick their own unless forced).
    pub kernel: String,
    /// `text` or `bitcoin`.
    pub format: String,
    /// Leading zero bits asked for (none for a Bitcoin nBits target).
    #[serde(default)]
    pub difficulty: Option<u32>,
    /// Seconds from the start of the run until a worker hashed (see `startup_measured`).
    #[serde(default)]
    pub startup_delay_s: Option<f64>,
    /// How `startup_delay_s` was measured: [`STARTUP_K8S`] or [`STARTUP_FIRST_REPORT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_measured: Option<String>,
    /// Hashes per second of one worker: the reports' hashes over their search time.
    #[serde(default)]
    pub rate_per_worker: Option<f64>,
    /// Worker reports the rate was measured over.
    #[serde(default)]
    pub reports: u32,
    /// Hashes of all workers as far as the run counted them.
    pub hashes: u64,
    /// `found`, `exhausted`, `timed-out`, `cancelled` or `error`.
    pub outcome: String,
    /// Seconds from the start to the end of the run.
    pub elapsed_s: f64,
    /// The cnd that ran it.
    pub version: String,
}

/// A Kubernetes cluster as the history keys it: the kubeconfig context, and its API server
/// when known (a context of that name on another server is another cluster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterKey {
    /// The kubeconfig context.
    pub context: String,
    /// The API server's URL.
    pub server: Option<String>,
}

impl ClusterKey {
    /// Whether this run ran on this cluster.
    fn ran(&self, r: &RunRecord) -> bool {
        r.backend == "k8s"
            && r.context.as_deref() == Some(&self.context)
            && (self.server.is_none() || r.server.is_none() || r.server == self.server)
    }
}

/// What the history measured on one cluster: medians of its most recent runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measured {
    /// The kubeconfig context.
    pub context: String,
    /// Runs whose figures were used (the recent runs with a start-up delay or a rate).
    pub runs: usize,
    /// Median start-up delay, seconds, and the runs it is the median of.
    pub startup_delay_s: Option<f64>,
    /// Runs that measured a start-up delay.
    pub startup_runs: usize,
    /// Median rate of one worker of the CPUs asked for, hashes/s.
    pub rate_per_worker: Option<f64>,
    /// Runs that measured a rate.
    pub rate_runs: usize,
    /// The rate was scaled from workers of other CPU counts (per CPU), none of the asked.
    pub rate_scaled: bool,
}

/// The median of some values (none for none).
fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// The medians of the [`RECENT_RUNS`] most recent runs on `cluster` (oldest first in
/// `records`) that measured each figure; the rate is of workers with `cpus` CPUs when any
/// ran, else scaled per CPU from the others. `None` if no run measured anything.
pub fn measured_on(records: &[RunRecord], cluster: &ClusterKey, cpus: f64) -> Option<Measured> {
    let on: Vec<&RunRecord> = records.iter().filter(|r| cluster.ran(r)).collect();
    let recent = |f: &dyn Fn(&RunRecord) -> Option<f64>| -> Vec<f64> {
        let mut v: Vec<f64> = on.iter().rev().filter_map(|r| f(r)).take(RECENT_RUNS).collect();
        v.reverse();
        v
    };
    let positive = |x: Option<f64>| x.filter(|x| x.is_finite() && *x >= 0.0);
    let startups = recent(&|r| positive(r.startup_delay_s));
    let same_cpu = |r: &RunRecord| (r.cpu_per_worker - cpus).abs() < 1e-9;
    let mut rates = recent(&|r| positive(r.rate_per_worker).filter(|x| *x > 0.0 && same_cpu(r)));
    let mut rate_scaled = false;
    if rates.is_empty() {
        rates = recent(&|r| {
            let per_cpu = positive(r.rate_per_worker).filter(|x| *x > 0.0 && r.cpu_per_worker > 0.0)?;
            Some(per_cpu / r.cpu_per_worker * cpus)
        });
        rate_scaled = !rates.is_empty();
    }
    if startups.is_empty() && rates.is_empty() {
        return None;
    }
    // The runs used: the recent runs that measured either figure.
    let runs = on
        .iter()
        .rev()
        .filter(|r| positive(r.startup_delay_s).is_some() || positive(r.rate_per_worker).is_some_and(|x| x > 0.0))
        .take(RECENT_RUNS)
        .count();
    Some(Measured {
        context: cluster.context.clone(),
        runs,
        startup_runs: startups.len(),
        rate_runs: rates.len(),
        startup_delay_s: median(startups),
        rate_per_worker: median(rates),
        rate_scaled,
    })
}

/// The history file.
#[derive(Debug, Clone)]
pub struct History {
    path: PathBuf,
}

impl History {
    /// The history in this file.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The history `CND_HISTORY` names: `off` none, a path that file, unset (or empty)
    /// `$XDG_DATA_HOME/cnd/history.jsonl`, else `$HOME/.local/share/cnd/history.jsonl`.
    pub fn from_env() -> Option<Self> {
        match std::env::var_os(HISTORY_ENV) {
            Some(v) if v == "off" => None,
            Some(v) if !v.is_empty() => Some(Self::at(v)),
            _ => {
                let data = std::env::var_os("XDG_DATA_HOME")
                    .filter(|d| !d.is_empty())
                    .map(PathBuf::from)
                    .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
                Some(Self::at(data.join("cnd").join("history.jsonl")))
            }
        }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every readable record, oldest first; lines that are not records are skipped. An
    /// absent file is an empty history.
    pub fn read(&self) -> Vec<RunRecord> {
        let Ok(text) = std::fs::read_to_string(&self.path) else { return Vec::new() };
        text.lines().filter_map(|l| serde_json::from_str(l.trim()).ok()).collect()
    }

    /// Appends one record, then keeps the newest `max` lines if there are more.
    pub fn append_bounded(&self, record: &RunRecord, max: usize) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut line = serde_json::to_string(record).map_err(std::io::Error::other)? + "\n";
        let mut file = std::fs::OpenOptions::new().create(true).read(true).append(true).open(&self.path)?;
        // A line cut short (a crash mid-write) must not swallow this one.
        if ends_without_newline(&mut file)? {
            line.insert(0, '\n');
        }
        file.write_all(line.as_bytes())?;
        drop(file);
        let text = std::fs::read_to_string(&self.path)?;
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() > max {
            // Rewritten whole and renamed over: a reader sees the old file or the new one.
            let tmp = self.path.with_extension("jsonl.tmp");
            let kept = lines[lines.len() - max..].join("\n") + "\n";
            std::fs::write(&tmp, kept)?;
            std::fs::rename(&tmp, &self.path)?;
        }
        Ok(())
    }

    /// Appends one record ([`MAX_RECORDS`] kept).
    pub fn append(&self, record: &RunRecord) -> std::io::Result<()> {
        self.append_bounded(record, MAX_RECORDS)
    }
}

/// Whether a file has bytes and its last is not a newline.
fn ends_without_newline(file: &mut std::fs::File) -> std::io::Result<bool> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    if file.metadata()?.len() == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

/// Appends a run to the history `CND_HISTORY` names, if any; a failure is one warning line
/// on stderr (unless `quiet`), never the run's.
pub fn record(record: &RunRecord, quiet: bool) {
    let Some(history) = History::from_env() else { return };
    match history.append(record) {
        Ok(()) => tracing::info!(path = %history.path().display(), "run recorded in the history"),
        Err(e) if !quiet => eprintln!(
            "warning: the run history {} was not written: {e} (CND_HISTORY=off turns it off)",
            history.path().display()
        ),
        Err(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(run: &str, context: &str, startup: Option<f64>, rate: Option<f64>, cpu: f64) -> RunRecord {
        RunRecord {
            time_unix_s: 1_700_000_000,
            run_id: run.into(),
            backend: "k8s".into(),
            context: Some(context.into()),
            server: Some("https://127.0.0.1:6443".into()),
            namespace: Some("default".into()),
            workers: 2,
            cpu_per_worker: cpu,
            kernel: "sha-ni".into(),
            format: "text".into(),
            difficulty: Some(20),
            startup_delay_s: startup,
            startup_measured: startup.map(|_| STARTUP_K8S.into()),
            rate_per_worker: rate,
            reports: 1,
            hashes: 1000,
            outcome: "found".into(),
            elapsed_s: 3.0,
            version: "0.1.0".into(),
        }
    }

    fn key(context: &str) -> ClusterKey {
        ClusterKey { context: context.into(), server: Some("https://127.0.0.1:6443".into()) }
    }

    #[test]
    fn records_are_appended_and_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::at(dir.path().join("sub/dir/history.jsonl"));
        assert!(h.read().is_empty(), "no file is an empty history");
        let (a, b) = (record("a", "c", Some(1.0), Some(5e6), 1.0), record("b", "c", None, None, 0.5));
        h.append(&a).unwrap();
        h.append(&b).unwrap();
        assert_eq!(h.read(), vec![a, b]);
        let text = std::fs::read_to_string(h.path()).unwrap();
        assert_eq!(text.lines().count(), 2, "one line per run: {text}");
    }

    #[test]
    fn the_history_keeps_only_the_newest_lines() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::at(dir.path().join("history.jsonl"));
        for i in 0..7 {
            h.append_bounded(&record(&format!("r{i}"), "c", None, None, 1.0), 5).unwrap();
        }
        let ids: Vec<String> = h.read().into_iter().map(|r| r.run_id).collect();
        assert_eq!(ids, ["r2", "r3", "r4", "r5", "r6"]);
        assert!(!dir.path().join("history.jsonl.tmp").exists());
    }

    #[test]
    fn lines_that_are_not_records_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let good = serde_json::to_string(&record("good", "c", Some(2.0), None, 1.0)).unwrap();
        let cut = &good[..good.len() / 2];
        std::fs::write(&path, format!("not json\n{cut}\n{{\"run_id\": 3}}\n\n{good}\n")).unwrap();
        let h = History::at(&path);
        assert_eq!(h.read().iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), ["good"]);
        // Appending after a line cut short (no newline) still gives one record per line.
        std::fs::write(&path, cut).unwrap();
        h.append(&record("next", "c", None, None, 1.0)).unwrap();
        assert_eq!(h.read().iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), ["next"]);
    }

    #[test]
    fn medians_are_of_the_recent_runs_of_one_cluster() {
        let mut rs = vec![
            record("old", "a", Some(100.0), Some(1.0), 1.0),
            record("other-cluster", "b", Some(50.0), Some(9e9), 1.0),
        ];
        for (i, (s, r)) in [(3.0, 10e6), (1.0, 14e6), (2.0, 12e6)].into_iter().enumerate() {
            rs.push(record(&format!("r{i}"), "a", Some(s), Some(r), 1.0));
        }
        // Older than the RECENT_RUNS most recent: left out.
        for i in 0..RECENT_RUNS - 3 {
            rs.push(record(&format!("x{i}"), "a", Some(2.0), Some(12e6), 1.0));
        }
        let m = measured_on(&rs, &key("a"), 1.0).unwrap();
        assert_eq!((m.runs, m.startup_runs, m.rate_runs), (RECENT_RUNS, RECENT_RUNS, RECENT_RUNS));
        assert_eq!((m.startup_delay_s, m.rate_per_worker, m.rate_scaled), (Some(2.0), Some(12e6), false));
        assert_eq!(measured_on(&rs, &key("b"), 1.0).unwrap().startup_delay_s, Some(50.0));
        assert_eq!(measured_on(&rs, &key("c"), 1.0), None);
        // The same context name on another server is another cluster.
        let elsewhere = ClusterKey { context: "a".into(), server: Some("https://10.1.1.1".into()) };
        assert_eq!(measured_on(&rs, &elsewhere, 1.0), None);
    }

    #[test]
    fn an_even_count_takes_the_middle_two_and_missing_figures_are_skipped() {
        let rs = vec![
            record("a", "k", Some(1.0), None, 0.5),
            record("b", "k", Some(4.0), Some(2e6), 0.5),
            record("c", "k", None, Some(4e6), 0.5),
        ];
        let m = measured_on(&rs, &key("k"), 0.5).unwrap();
        assert_eq!((m.startup_delay_s, m.startup_runs), (Some(2.5), 2));
        assert_eq!((m.rate_per_worker, m.rate_runs, m.runs), (Some(3e6), 2, 3));
        // No run of 2-CPU pods: scaled per CPU from the half-CPU ones.
        let m = measured_on(&rs, &key("k"), 2.0).unwrap();
        assert_eq!((m.rate_per_worker, m.rate_scaled), (Some(12e6), true));
    }

    #[test]
    fn other_backends_are_not_the_clusters() {
        let mut r = record("a", "k", Some(1.0), Some(1e6), 1.0);
        r.backend = "process".into();
        assert_eq!(measured_on(&[r], &key("k"), 1.0), None);
    }
}
