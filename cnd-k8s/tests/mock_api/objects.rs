//! Objects as the Job controller and kubelet would show them, and the run they belong to.

use std::collections::BTreeMap;

use cnd_core::{Mode, NonceRange, Problem, ReportOutcome, RunSpec, WorkerReport, split, verify};
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, Pod,
    PodCondition, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::fake::NS;

pub(crate) fn pod(run_id: &str, index: u32, attempt: u32) -> Pod {
    let name = format!("cnd-{run_id}-{index}-a{attempt}");
    Pod {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(NS.into()),
            uid: Some(format!("uid-{name}")),
            labels: Some(BTreeMap::from([
                ("app.kubernetes.io/name".to_string(), "cnd".to_string()),
                ("cnd.dev/run-id".to_string(), run_id.to_string()),
                ("batch.kubernetes.io/job-completion-index".to_string(), index.to_string()),
            ])),
            annotations: Some(BTreeMap::from([(
                "batch.kubernetes.io/job-completion-index".to_string(),
                index.to_string(),
            )])),
            ..Default::default()
        },
        spec: None,
        status: Some(PodStatus { phase: Some("Pending".into()), ..Default::default() }),
    }
}

pub(crate) fn unschedulable(mut p: Pod) -> Pod {
    p.status = Some(PodStatus {
        phase: Some("Pending".into()),
        conditions: Some(vec![PodCondition {
            type_: "PodScheduled".into(),
            status: "False".into(),
            reason: Some("Unschedulable".into()),
            message: Some("0/1 nodes are available: 1 Insufficient cpu.".into()),
            ..Default::default()
        }]),
        ..Default::default()
    });
    p
}

pub(crate) fn container(state: ContainerState) -> Option<Vec<ContainerStatus>> {
    Some(vec![ContainerStatus {
        name: "worker".into(),
        image: "localhost/cnd:dev".into(),
        image_id: String::new(),
        ready: false,
        restart_count: 0,
        state: Some(state),
        ..Default::default()
    }])
}

pub(crate) fn running(mut p: Pod) -> Pod {
    p.status = Some(PodStatus {
        phase: Some("Running".into()),
        container_statuses: container(ContainerState {
            running: Some(ContainerStateRunning::default()),
            ..Default::default()
        }),
        ..Default::default()
    });
    p
}

pub(crate) fn waiting(mut p: Pod, reason: &str) -> Pod {
    p.status = Some(PodStatus {
        phase: Some("Pending".into()),
        container_statuses: container(ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.into()),
                message: Some(format!("{reason}: localhost/cnd:dev")),
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    p
}

pub(crate) fn terminated(mut p: Pod, exit_code: i32, message: Option<String>) -> Pod {
    p.status = Some(PodStatus {
        phase: Some(if exit_code == 0 { "Succeeded" } else { "Failed" }.into()),
        container_statuses: container(ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code,
                message,
                reason: Some(if exit_code == 0 { "Completed" } else { "Error" }.into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    p
}

pub(crate) fn report(spec: &RunSpec, worker: u32, outcome: ReportOutcome) -> String {
    let range = split(spec.problem.range(), spec.workers)[worker as usize];
    WorkerReport { run_id: spec.run_id.clone(), worker, source: None, range, hashes: 1234, elapsed_s: 0.5, outcome }
        .to_json_line()
}

pub(crate) fn found(spec: &RunSpec, nonce: u64) -> ReportOutcome {
    ReportOutcome::Found { nonce, digest: verify(&spec.problem, nonce).digest }
}

pub(crate) fn job_with(spec: &RunSpec, condition: &str, reason: &str) -> Job {
    Job {
        metadata: ObjectMeta {
            name: Some(format!("cnd-{}", spec.run_id)),
            namespace: Some(NS.into()),
            ..Default::default()
        },
        spec: None,
        status: Some(JobStatus {
            conditions: Some(vec![JobCondition {
                type_: condition.into(),
                status: "True".into(),
                reason: Some(reason.into()),
                message: Some(format!("{reason} (fake)")),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    }
}

// ---------------------------------------------------------------------------------------
// Runs and assertions.
// ---------------------------------------------------------------------------------------

/// A text problem at difficulty 16 over [0, 40000): two partitions of 20000, each with a
/// golden nonce.
pub(crate) fn spec(workers: u32, mode: Mode) -> RunSpec {
    let p = Problem::text("COMSM0010cloud", 16).unwrap().with_range(NonceRange::new(0, 40_000).unwrap()).unwrap();
    let mut s = RunSpec::new(p, workers, mode);
    s.run_id = "0a1b2c3d4e".into();
    s
}

pub(crate) fn golden_in(spec: &RunSpec, range: NonceRange) -> u64 {
    (range.start..range.end).find(|n| verify(&spec.problem, *n).is_valid()).expect("a golden nonce in the range")
}
