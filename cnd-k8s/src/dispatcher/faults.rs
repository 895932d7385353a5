//! Pods that cannot start, and when to give up on them (see docs/kubernetes.md, "Pods that
//! cannot start"):
//!
//! - **at once** (exit 1), for what waiting cannot fix: an image the node may never pull
//!   (`ErrImageNeverPull`) or cannot even parse (`InvalidImageName`), a pull the registry
//!   refused for good (not found, unauthorized, denied), a container whose Secret or
//!   ConfigMap (or a key of it) is missing (`CreateContainerConfigError` saying "not found"
//!   or "couldn't find key"), pods the Job controller may not create (a `FailedCreate`
//!   event: a quota, an admission webhook, Pod Security);
//! - **after a grace** (exit 1), for pulls that fail for another reason (a registry that
//!   does not answer, throttling; the kubelet retries after 10 s, then 20 s, ...) and for
//!   containers the kubelet could not configure for another reason (`failed to sync secret
//!   cache: timed out waiting for the condition`, common for a Secret made just before the
//!   run): a pod still stuck after the grace (30 s: two failed pulls) ends the run;
//! - **after `--pending-timeout`** (exit 4), for pods no node can take: normal while an
//!   autoscaler adds nodes, so the clock runs only while some pod is unschedulable and no pod
//!   has been scheduled since it started.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cnd_core::DispatchError;
use k8s_openapi::api::core::v1::Event;

use crate::error::ServerMessage;

/// Waiting reasons of a container whose image cannot be pulled now.
const PULL_FAILURES: [&str; 4] =
    ["ErrImagePull", "ImagePullBackOff", "RegistryUnavailable", "SignatureValidationFailed"];

/// Waiting reasons that no retry fixes: the run ends at once.
const NEVER_STARTS: [&str; 2] = ["ErrImageNeverPull", "InvalidImageName"];

/// The waiting reason of a container the kubelet could not configure (its Secret, its
/// ConfigMap, a key of them).
const CONFIG_ERROR: &str = "CreateContainerConfigError";

/// Words of a [`CONFIG_ERROR`] that say what the container reads does not exist (the
/// kubelet's `secret "x" not found`, `couldn't find key K in Secret ns/x`): retrying cannot
/// help. Other messages (a secret cache not yet synced) pass as the kubelet retries.
const CONFIG_MISSING: [&str; 2] = ["not found", "couldn't find key"];

/// Words of a pull error that say the image or the access to it does not exist (containerd,
/// CRI-O, Docker Hub, ECR, GCR): retrying cannot help.
const PULL_REFUSED: [&str; 10] = [
    "not found",
    "manifest unknown",
    "name unknown",
    "repository does not exist",
    "unauthorized",
    "denied",
    "forbidden",
    "authorization failed",
    "no basic auth credentials",
    "invalid reference format",
];

/// A pod the kubelet cannot start yet (its image pulls or its configuration fail): since
/// when, what fails, and the kubelet's last words.
#[derive(Debug, Clone)]
struct Stuck {
    since: Instant,
    /// What it cannot do: "pull its image IMAGE", "start its container".
    what: String,
    reason: String,
    message: String,
}

/// What a pod's status says about its start, as [`Faults::pod`] reads it.
#[derive(Debug, Default)]
pub(super) struct PodStart {
    /// The scheduler's message when the pod is unschedulable.
    pub(super) unschedulable: Option<String>,
    /// The container's waiting reason and message.
    pub(super) waiting: Option<(String, String)>,
    /// The container's image.
    pub(super) image: String,
}

/// The run's pods that have not started, and the clocks that bound their wait.
#[derive(Debug, Default)]
pub(super) struct Faults {
    stuck: BTreeMap<String, Stuck>,
    /// Unschedulable pods, with the scheduler's message.
    unschedulable: BTreeMap<String, String>,
    /// Since when some pod has been unschedulable with none scheduled since (the pending clock).
    pending_since: Option<Instant>,
}

/// How long to wait for what may still resolve.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Pods unschedulable, none scheduled meanwhile (`--pending-timeout`).
    pub(super) pending: Duration,
    /// A pod whose image pulls (or configuration) keep failing.
    pub(super) pull: Duration,
}

impl Faults {
    /// Reads a pod's start: an error if it can never start; updates the clocks.
    pub(super) fn pod(&mut self, name: &str, start: PodStart, now: Instant) -> Result<(), DispatchError> {
        match start.unschedulable {
            Some(message) => {
                self.unschedulable.insert(name.to_string(), message);
                self.pending_since.get_or_insert(now);
            }
            None if self.unschedulable.remove(name).is_some() => {
                // Scheduled: the autoscaler (or a freed node) makes progress; the clock restarts.
                self.pending_since = (!self.unschedulable.is_empty()).then_some(now);
            }
            None => {}
        }
        let Some((reason, message)) = start.waiting.filter(|(r, _)| {
            NEVER_STARTS.contains(&r.as_str()) || PULL_FAILURES.contains(&r.as_str()) || r == CONFIG_ERROR
        }) else {
            self.stuck.remove(name);
            return Ok(());
        };
        let lower = message.to_lowercase();
        let what = if reason == CONFIG_ERROR {
            if CONFIG_MISSING.iter().any(|w| lower.contains(w)) {
                // The kubelet's message names the Secret or ConfigMap (and the key) it misses.
                return Err(DispatchError::backend(
                    format!("pod {name} cannot start its container ({reason})"),
                    ServerMessage(message),
                ));
            }
            "start its container".to_string()
        } else {
            if NEVER_STARTS.contains(&reason.as_str()) || PULL_REFUSED.iter().any(|w| lower.contains(w)) {
                return Err(DispatchError::backend(
                    format!("pod {name} cannot start its image {} ({reason})", start.image),
                    ServerMessage(message),
                ));
            }
            format!("pull its image {}", start.image)
        };
        let entry = self.stuck.entry(name.to_string()).or_insert_with(|| Stuck {
            since: now,
            what: what.clone(),
            reason: reason.clone(),
            message: message.clone(),
        });
        entry.what = what;
        entry.reason = reason;
        // ErrImagePull carries the registry's answer; the back-off message only repeats it.
        if entry.reason == "ErrImagePull" || entry.message.is_empty() {
            entry.message = message;
        }
        Ok(())
    }

    /// A pod was deleted: it no longer waits (its deletion is no progress).
    pub(super) fn gone(&mut self, name: &str) {
        self.stuck.remove(name);
        if self.unschedulable.remove(name).is_some() && self.unschedulable.is_empty() {
            self.pending_since = None;
        }
    }

    /// On the clock: an error once a pod has been stuck (pulls, configuration) for
    /// `limits.pull`, or once pods have been unschedulable for `limits.pending` (out of
    /// `workers`) with none scheduled.
    pub(super) fn check(&self, now: Instant, limits: Limits, workers: usize) -> Result<(), DispatchError> {
        if let Some((name, p)) = self.stuck.iter().find(|(_, p)| now.duration_since(p.since) >= limits.pull) {
            return Err(DispatchError::backend(
                format!("pod {name} cannot {} ({} for {})", p.what, p.reason, short(limits.pull)),
                ServerMessage(p.message.clone()),
            ));
        }
        if let (Some(since), Some((_, message))) = (self.pending_since, self.unschedulable.first_key_value())
            && now.duration_since(since) >= limits.pending
        {
            return Err(DispatchError::TimedOut(format!(
                "{} of {workers} pods unschedulable for {}: {}",
                self.unschedulable.len(),
                short(limits.pending),
                message.trim()
            )));
        }
        Ok(())
    }

    /// Since when the pending clock runs, if it does.
    pub(super) fn pending_since(&self) -> Option<Instant> {
        self.pending_since
    }
}

/// An event of the run's Job: a `FailedCreate` (the Job controller may not create its pods:
/// a quota, an admission webhook, Pod Security) ends the run, naming what refused.
pub(super) fn on_job_event(event: &Event, job: &str, job_uid: Option<&str>) -> Result<(), DispatchError> {
    let ours = job_uid.is_none_or(|uid| event.involved_object.uid.as_deref().is_none_or(|u| u == uid));
    if !ours || event.reason.as_deref() != Some("FailedCreate") {
        return Ok(());
    }
    Err(DispatchError::backend(
        format!("the Job controller cannot create the pods of Job {job} (FailedCreate)"),
        ServerMessage(event.message.clone().unwrap_or_default().trim().to_string()),
    ))
}

/// A duration as people write it: `20s`, `1m30s`, `10m`, `24h`.
pub(crate) fn short(d: Duration) -> String {
    let s = d.as_secs_f64().ceil() as u64;
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    for (v, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if v > 0 {
            out.push_str(&format!("{v}{unit}"));
        }
    }
    if out.is_empty() { "0s".into() } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { pending: Duration::from_secs(600), pull: Duration::from_secs(30) };

    fn waiting(reason: &str, message: &str) -> PodStart {
        PodStart {
            waiting: Some((reason.into(), message.into())),
            image: "registry.example/cnd:1".into(),
            ..Default::default()
        }
    }

    fn unschedulable(message: &str) -> PodStart {
        PodStart { unschedulable: Some(message.into()), ..Default::default() }
    }

    fn line(e: &DispatchError) -> String {
        let mut s = e.to_string();
        if let Some(c) = std::error::Error::source(e) {
            s.push_str(&format!(": {c}"));
        }
        s
    }

    #[test]
    fn refused_pulls_and_missing_secrets_end_at_once_naming_the_cause() {
        let t = Instant::now();
        let mut f = Faults::default();
        let e =
            f.pod("p", waiting("ErrImagePull", "failed to resolve reference: registry.example/cnd:1: not found"), t);
        assert_eq!(
            line(&e.unwrap_err()),
            "pod p cannot start its image registry.example/cnd:1 (ErrImagePull): failed to resolve reference: \
             registry.example/cnd:1: not found"
        );
        let e = f.pod("p", waiting("ImagePullBackOff", "pull access denied, repository does not exist"), t);
        assert!(line(&e.unwrap_err()).contains("(ImagePullBackOff)"));
        let e = f.pod("p", waiting("ErrImagePull", "unexpected status: 401 Unauthorized"), t);
        assert!(e.is_err());
        let e = f.pod("p", waiting("CreateContainerConfigError", "secret \"cnd-aws\" not found"), t).unwrap_err();
        assert_eq!(
            line(&e),
            "pod p cannot start its container (CreateContainerConfigError): secret \"cnd-aws\" not found"
        );
        assert!(f.pod("p", waiting("ErrImageNeverPull", "never pull"), t).is_err());
        assert!(f.pod("p", waiting("ContainerCreating", ""), t).is_ok(), "creating is normal");
    }

    #[test]
    fn a_secret_cache_not_yet_synced_is_waited_out_for_the_grace() {
        let t = Instant::now();
        let mut f = Faults::default();
        let sync = "failed to sync secret cache: timed out waiting for the condition";
        f.pod("p", waiting("CreateContainerConfigError", sync), t).unwrap();
        assert!(f.check(t + Duration::from_secs(29), LIMITS, 1).is_ok());
        let e = f.check(t + Duration::from_secs(30), LIMITS, 1).unwrap_err();
        assert_eq!(line(&e), format!("pod p cannot start its container (CreateContainerConfigError for 30s): {sync}"));
        // The kubelet's next try starts the container: the clock stops.
        f.pod("p", PodStart::default(), t + Duration::from_secs(2)).unwrap();
        assert!(f.check(t + Duration::from_secs(60), LIMITS, 1).is_ok());
        let key = "couldn't find key AWS_REGION in Secret default/cnd-aws";
        assert!(f.pod("p", waiting("CreateContainerConfigError", key), t).is_err(), "a missing key is final");
    }

    #[test]
    fn other_pull_failures_end_the_run_after_the_grace() {
        let t = Instant::now();
        let mut f = Faults::default();
        let refused = "failed to do request: dial tcp 127.0.0.1:443: connect: connection refused";
        f.pod("p", waiting("ErrImagePull", refused), t).unwrap();
        f.pod("p", waiting("ImagePullBackOff", "Back-off pulling image"), t + Duration::from_secs(1)).unwrap();
        assert!(f.check(t + Duration::from_secs(29), LIMITS, 1).is_ok());
        let e = f.check(t + Duration::from_secs(30), LIMITS, 1).unwrap_err();
        assert_eq!(
            line(&e),
            format!("pod p cannot pull its image registry.example/cnd:1 (ImagePullBackOff for 30s): {refused}")
        );
        // A pull that succeeds stops the clock.
        f.pod("p", PodStart::default(), t + Duration::from_secs(31)).unwrap();
        assert!(f.check(t + Duration::from_secs(60), LIMITS, 1).is_ok());
    }

    #[test]
    fn the_pending_clock_runs_while_no_pod_is_scheduled() {
        let t = Instant::now();
        let at = |s: u64| t + Duration::from_secs(s);
        let msg = "0/3 nodes are available: 3 Insufficient cpu.";
        let mut f = Faults::default();
        f.pod("a", unschedulable(msg), at(0)).unwrap();
        f.pod("b", unschedulable(msg), at(100)).unwrap();
        f.pod("c", unschedulable(msg), at(100)).unwrap();
        assert_eq!(f.pending_since(), Some(at(0)));
        // The autoscaler adds a node at 500 s: a is scheduled, the clock restarts.
        f.pod("a", PodStart::default(), at(500)).unwrap();
        assert!(f.check(at(1099), LIMITS, 16).is_ok());
        let e = f.check(at(1100), LIMITS, 16).unwrap_err();
        assert!(matches!(e, DispatchError::TimedOut(_)), "{e:?}");
        assert_eq!(e.to_string(), "2 of 16 pods unschedulable for 10m: 0/3 nodes are available: 3 Insufficient cpu.");
        // Every pod scheduled (or gone): no clock.
        f.pod("b", PodStart::default(), at(1101)).unwrap();
        f.gone("c");
        assert_eq!(f.pending_since(), None);
        assert!(f.check(at(9999), LIMITS, 16).is_ok());
    }

    #[test]
    fn failed_create_names_what_refused() {
        let mut ev = Event { reason: Some("FailedCreate".into()), ..Default::default() };
        ev.message =
            Some("Error creating: pods \"cnd-x-0-\" is forbidden: exceeded quota: compute, requested: cpu=64".into());
        ev.involved_object.uid = Some("u1".into());
        let e = on_job_event(&ev, "cnd-x", Some("u1")).unwrap_err();
        assert_eq!(
            line(&e),
            "the Job controller cannot create the pods of Job cnd-x (FailedCreate): Error creating: pods \"cnd-x-0-\" \
             is forbidden: exceeded quota: compute, requested: cpu=64"
        );
        assert!(on_job_event(&ev, "cnd-x", Some("another")).is_ok(), "another Job's event");
        ev.reason = Some("SuccessfulCreate".into());
        assert!(on_job_event(&ev, "cnd-x", Some("u1")).is_ok());
    }

    #[test]
    fn durations_read_as_people_write_them() {
        let s = |n| short(Duration::from_secs(n));
        assert_eq!([s(20), s(90), s(600), s(86400), s(0)], ["20s", "1m30s", "10m", "24h", "0s"]);
    }
}
