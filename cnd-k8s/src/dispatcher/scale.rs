//! What grows with the number of pods: how long the cleanup may wait for them.
//!
//! A run's pods are deleted by the cluster's garbage collector (the Job is deleted with
//! background propagation), one request per pod at the controller-manager's client rate
//! limit, and their tracking finalizers are removed by the Job controller, again one request
//! each: the deletion of thousands of pods takes tens of seconds even on a healthy control
//! plane (measured by `tests/k8s-scale.sh`: 5 000 pods in 78 s on a busy 2-CPU machine at
//! 200 QPS). The cleanup's wait is therefore the configured base plus a share per pod.

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
