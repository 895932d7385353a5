//! When each step of a run happened: the coordinator's own clock on what its watches saw
//! (the Job created, each pod created, scheduled, running, terminated), beside the
//! kubelet's timestamps in the pod's status (whole seconds) and the worker's own clock in
//! its termination message ([`crate::TerminationLog`] stamps when the worker started and
//! when it wrote its report). Logged (`-v`) for every pod whose report is read, so that a
//! run's overhead can be broken down phase by phase: see docs/kubernetes.md.

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Deserialize;

use crate::job::CONTAINER;

/// What the coordinator's watches saw of one pod, and when.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    created: Option<Instant>,
    scheduled: Option<Instant>,
    running: Option<Instant>,
    terminated: Option<Instant>,
}

/// The worker's own clock, as [`crate::TerminationLog`] writes it beside the report (unix
/// seconds; absent from the messages of older workers).
#[derive(Debug, Default, Clone, Copy, PartialEq, Deserialize)]
pub(crate) struct WorkerClock {
    /// When the worker process opened its termination log (it does so first thing).
    pub(crate) worker_started_at: Option<f64>,
    /// When it wrote its report.
    pub(crate) written_at: Option<f64>,
}

impl WorkerClock {
    /// The stamps of a termination message (none if it has none, or is not JSON).
    pub(crate) fn of_message(message: &str) -> Self {
        serde_json::from_str(message.trim()).unwrap_or_default()
    }
}

/// A run's timeline, from the moment its dispatcher started.
#[derive(Debug)]
pub(super) struct Timeline {
    begun: Instant,
    begun_wall: SystemTime,
    job_created: Option<Instant>,
    pods: HashMap<String, Seen>,
}

impl Timeline {
    pub(super) fn new(begun: Instant) -> Self {
        let begun_wall = SystemTime::now() - begun.elapsed();
        Self { begun, begun_wall, job_created: None, pods: HashMap::new() }
    }

    /// The Job's create request was answered.
    pub(super) fn job_created(&mut self, at: Instant) {
        self.job_created.get_or_insert(at);
    }

    /// A pod as a watch event shows it at `now`: the first time each state is seen.
    pub(super) fn pod(&mut self, name: &str, pod: &Pod, now: Instant) {
        let seen = self.pods.entry(name.to_string()).or_default();
        seen.created.get_or_insert(now);
        if pod.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some() {
            seen.scheduled.get_or_insert(now);
        }
        let state = container(pod).and_then(|c| c.state.as_ref());
        if state.is_some_and(|s| s.running.is_some() || s.terminated.is_some()) {
            seen.running.get_or_insert(now);
        }
        if state.is_some_and(|s| s.terminated.is_some()) {
            seen.terminated.get_or_insert(now);
        }
    }

    /// The run's start-up delay: from the Job's create answered to the first pod seen
    /// running (or already ended), on the coordinator's clock; `None` until both were seen.
    pub(super) fn startup_delay(&self) -> Option<std::time::Duration> {
        let created = self.job_created?;
        let first = self.pods.values().filter_map(|s| s.running).min()?;
        Some(first.saturating_duration_since(created))
    }

    /// Seconds from the start of the run to `at`, on the coordinator's clock.
    fn rel(&self, at: Option<Instant>) -> Option<f64> {
        at.map(|t| t.saturating_duration_since(self.begun).as_secs_f64())
    }

    /// Seconds from the start of the run to a wall-clock time (unix seconds), which another
    /// machine's clock may have written: negative if that clock is behind.
    fn rel_wall(&self, unix_s: Option<f64>) -> Option<f64> {
        let begun = self.begun_wall.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs_f64();
        unix_s.map(|t| t - begun)
    }

    /// The phases of the pod whose report was just read, relative to the start of the run.
    pub(super) fn phases(&self, name: &str, pod: &Pod, clock: WorkerClock, searched_s: f64) -> Phases {
        let seen = self.pods.get(name).copied().unwrap_or_default();
        let terminated = container(pod).and_then(|c| c.state.as_ref()?.terminated.as_ref());
        let unix = |t: &Time| t.0.as_millisecond() as f64 / 1000.0;
        Phases {
            job_created: self.rel(self.job_created),
            pod_created: self.rel(seen.created),
            scheduled: self.rel(seen.scheduled),
            container_started: self.rel_wall(terminated.and_then(|t| t.started_at.as_ref()).map(unix)),
            running_seen: self.rel(seen.running),
            worker_started: self.rel_wall(clock.worker_started_at),
            search_started: self.rel_wall(clock.written_at.map(|w| w - searched_s)),
            report_written: self.rel_wall(clock.written_at),
            container_finished: self.rel_wall(terminated.and_then(|t| t.finished_at.as_ref()).map(unix)),
            report_seen: self.rel(seen.terminated.or(Some(Instant::now()))),
            searched: searched_s,
        }
    }
}

/// When each step of one pod's life happened, in seconds from the start of the run (the
/// dispatcher's `start`): see [`Timeline`]. `container_*` are the kubelet's, in whole
/// seconds; `worker_started`, `search_started` and `report_written` the worker's clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Phases {
    pub(super) job_created: Option<f64>,
    pub(super) pod_created: Option<f64>,
    pub(super) scheduled: Option<f64>,
    pub(super) container_started: Option<f64>,
    pub(super) running_seen: Option<f64>,
    pub(super) worker_started: Option<f64>,
    pub(super) search_started: Option<f64>,
    pub(super) report_written: Option<f64>,
    pub(super) container_finished: Option<f64>,
    pub(super) report_seen: Option<f64>,
    pub(super) searched: f64,
}

impl Phases {
    /// Logs the phases (`-v`), one `name=seconds` field each, for people and for the
    /// measurement script (`tests/k8s-e2e.sh --measure`).
    pub(super) fn log(&self, pod: &str) {
        let s = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"));
        tracing::info!(
            pod,
            job_created = %s(self.job_created),
            pod_created = %s(self.pod_created),
            scheduled = %s(self.scheduled),
            container_started = %s(self.container_started),
            running_seen = %s(self.running_seen),
            worker_started = %s(self.worker_started),
            search_started = %s(self.search_started),
            report_written = %s(self.report_written),
            container_finished = %s(self.container_finished),
            report_seen = %s(self.report_seen),
            searched = %format!("{:.3}", self.searched),
            "timeline (s from the start of the run)"
        );
    }
}

fn container(pod: &Pod) -> Option<&ContainerStatus> {
    let cs = pod.status.as_ref()?.container_statuses.as_ref()?;
    cs.iter().find(|c| c.name == CONTAINER).or(cs.first())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn pod(json: serde_json::Value) -> Pod {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn each_state_is_stamped_when_first_seen() {
        let begun = Instant::now();
        let mut t = Timeline::new(begun);
        t.job_created(begun + Duration::from_millis(50));
        let created = pod(serde_json::json!({"metadata": {"name": "p"}}));
        let scheduled =
            pod(serde_json::json!({"metadata": {"name": "p"}, "spec": {"containers": [], "nodeName": "n"}}));
        let done = pod(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [], "nodeName": "n"},
            "status": {"containerStatuses": [{"name": "worker", "image": "i", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"terminated": {"exitCode": 0}}}]}
        }));
        t.pod("p", &created, begun + Duration::from_millis(100));
        t.pod("p", &scheduled, begun + Duration::from_millis(200));
        t.pod("p", &scheduled, begun + Duration::from_millis(250));
        t.pod("p", &done, begun + Duration::from_millis(900));
        t.pod("p", &done, begun + Duration::from_millis(950));
        let wall = t.begun_wall.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64();
        let clock = WorkerClock { worker_started_at: Some(wall + 0.4), written_at: Some(wall + 0.8) };
        let p = t.phases("p", &done, clock, 0.3);
        let near = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-6;
        assert!(near(p.job_created, 0.05) && near(p.pod_created, 0.1) && near(p.scheduled, 0.2), "{p:?}");
        // Never seen running: the first sight of its end stands for it.
        assert!(near(p.running_seen, 0.9) && near(p.report_seen, 0.9), "{p:?}");
        assert!(near(p.worker_started, 0.4) && near(p.search_started, 0.5) && near(p.report_written, 0.8), "{p:?}");
        assert_eq!(p.container_started, None, "the kubelet gave no time");
    }

    #[test]
    fn the_startup_delay_runs_from_the_job_created_to_the_first_pod_running() {
        let begun = Instant::now();
        let mut t = Timeline::new(begun);
        let running = |name: &str| {
            pod(serde_json::json!({
                "metadata": {"name": name},
                "spec": {"containers": [], "nodeName": "n"},
                "status": {"containerStatuses": [{"name": "worker", "image": "i", "imageID": "", "ready": true,
                    "restartCount": 0, "state": {"running": {}}}]}
            }))
        };
        t.pod("a", &running("a"), begun + Duration::from_millis(500));
        assert_eq!(t.startup_delay(), None, "no Job created yet");
        t.job_created(begun + Duration::from_millis(100));
        t.pod("b", &pod(serde_json::json!({"metadata": {"name": "b"}})), begun + Duration::from_millis(200));
        t.pod("b", &running("b"), begun + Duration::from_millis(2100));
        t.pod("c", &running("c"), begun + Duration::from_millis(1600));
        // The first of the three seen running: pod a, at 0.5 s.
        assert_eq!(t.startup_delay(), Some(Duration::from_millis(400)));
        let mut t = Timeline::new(begun);
        t.job_created(begun + Duration::from_millis(100));
        t.pod("b", &running("b"), begun + Duration::from_millis(2100));
        t.pod("c", &running("c"), begun + Duration::from_millis(1600));
        assert_eq!(t.startup_delay(), Some(Duration::from_millis(1500)));
    }

    #[test]
    fn the_worker_clock_is_read_beside_the_report() {
        let m = r#"{"run_id":"r","worker":0,"range":{"start":0,"end":9},"hashes":1,"elapsed_s":0.5,
            "status":"exhausted","worker_started_at":100.25,"written_at":101.5}"#;
        assert_eq!(
            WorkerClock::of_message(m),
            WorkerClock { worker_started_at: Some(100.25), written_at: Some(101.5) }
        );
        assert_eq!(WorkerClock::of_message("not json"), WorkerClock::default());
    }
}
