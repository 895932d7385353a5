//! How many hashing threads a worker gets by default: the CPUs its cgroup allows.

use std::path::PathBuf;

/// The CPUs this process may use: the cgroup v2 `cpu.max` quota (of its own cgroup and every
/// ancestor), capped by the CPU affinity; at least 1.
///
/// A pod that requests 2 CPUs on a 64-core node gets 2 threads, not 64 that the kernel
/// would throttle.
pub fn default_threads() -> u32 {
    let affinity = crate::available_threads();
    match cgroup_cpus() {
        Some(quota) => quota.min(affinity).max(1),
        None => affinity.max(1),
    }
}

/// The smallest whole-CPU quota of this process's cgroup (v2) and its ancestors.
fn cgroup_cpus() -> Option<u32> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = membership.lines().find_map(|l| l.strip_prefix("0::"))?.trim();
    let root = PathBuf::from("/sys/fs/cgroup");
    let mut dir = root.join(path.trim_start_matches('/'));
    let mut best: Option<u32> = None;
    loop {
        if let Some(n) = std::fs::read_to_string(dir.join("cpu.max")).ok().and_then(|t| parse_cpu_max(&t)) {
            best = Some(best.map_or(n, |b| b.min(n)));
        }
        if dir == root || !dir.starts_with(&root) || !dir.pop() {
            break;
        }
    }
    best
}

/// `cpu.max` is `"<quota> <period>"` or `"max <period>"`: whole CPUs, at least 1.
fn parse_cpu_max(text: &str) -> Option<u32> {
    let mut parts = text.split_whitespace();
    let quota: u64 = parts.next()?.parse().ok()?; // "max" does not parse: no limit
    let period: u64 = parts.next().and_then(|p| p.parse().ok()).filter(|p| *p > 0).unwrap_or(100_000);
    Some(u32::try_from(quota / period).unwrap_or(u32::MAX).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_max_is_whole_cpus() {
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max("200000 100000\n"), Some(2));
        assert_eq!(parse_cpu_max("150000 100000"), Some(1));
        assert_eq!(parse_cpu_max("50000 100000"), Some(1));
        let n = default_threads();
        assert!(n >= 1 && n <= crate::available_threads(), "{n}");
    }
}
