//! What grows with the number of pods: how long the cleanup may wait for them.
//!
//! The cleanup deletes the run's Job, then its pods by `deletecollection` (those that may
//! still run, then the ended ones), which the API server carries out one pod after another
//! (`--delete-collection-workers`, 1 by default): `tests/k8s-scale.sh` measured 5 000 pods
//! stopped 26.7 s after the Job's deletion on the idle 2-CPU test cluster. Without the verb
//! in the Role, the garbage collector deletes them one request each at the
//! controller-manager's client rate limit (1 000 pods at its default 20 QPS: 49.4 s, against
//! 4.8 s by deletecollection), and a loaded control plane is slower still (113 s at 5 000
//! pods on the test machine running three builds beside it). The cleanup's wait is therefore
//! the configured base plus a share per pod.

use std::time::Duration;

/// The wait per pod on top of the base: 20 ms (5 000 pods: 100 s more).
pub(super) const PER_POD: Duration = Duration::from_millis(20);

/// How long the cleanup waits for `pods` pods to stop: `base` plus [`PER_POD`] each.
pub(super) fn cleanup_wait(base: Duration, pods: usize) -> Duration {
    base + PER_POD * u32::try_from(pods).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cleanup_wait_grows_with_the_pods() {
        let base = Duration::from_secs(60);
        assert_eq!(cleanup_wait(base, 0), base);
        assert_eq!(cleanup_wait(base, 3), Duration::from_millis(60_060));
        assert_eq!(cleanup_wait(base, 5000), Duration::from_secs(160));
    }
}
