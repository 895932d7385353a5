//! Processes seen through /proc: children of a process, processes by an environment entry,
//! signals, and bounded waits. std only.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Process ids of every process in /proc.
pub fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|d| d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

/// The parent of `pid` (field 4 of /proc/<pid>/stat, after the command name).
pub fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

/// Live (not zombie) children of `pid`.
pub fn children_of(pid: u32) -> Vec<u32> {
    all_pids().into_iter().filter(|p| parent_of(*p) == Some(pid) && !is_zombie(*p)).collect()
}

/// True if `pid` is a zombie (exited, not yet reaped).
pub fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s[s.rfind(')')? + 1..].split_whitespace().next().map(|st| st == "Z"))
        .unwrap_or(false)
}

/// The environment of `pid`, as `KEY=VALUE` entries (empty if unreadable or gone).
pub fn environ(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|b| {
            b.split(|c| *c == 0).filter(|e| !e.is_empty()).map(|e| String::from_utf8_lossy(e).into_owned()).collect()
        })
        .unwrap_or_default()
}

/// One variable of `pid`'s environment.
pub fn env_var(pid: u32, key: &str) -> Option<String> {
    let prefix = format!("{key}=");
    environ(pid).into_iter().find_map(|e| e.strip_prefix(&prefix).map(str::to_string))
}

/// Every process (any parent, zombies included) whose environment holds `key=value`.
pub fn processes_with_env(key: &str, value: &str) -> Vec<u32> {
    let entry = format!("{key}={value}");
    all_pids().into_iter().filter(|p| environ(*p).contains(&entry)).collect()
}

/// Sends a signal (`TERM`, `INT`, `KILL`, `STOP`, `CONT`) with kill(1).
pub fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status();
    assert!(status.is_ok_and(|s| s.success()), "kill -{name} {pid} failed");
}

/// Polls `f` every 5 ms until it returns `Some`, for at most `limit`.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if started.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
