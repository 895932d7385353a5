//! The coordinator's whole flow against recorded API traffic: a `tower_test::mock::pair`
//! behind `kube::Client` plays the API server (as kube-rs's own `kube/src/mock_tests.rs`
//! does), every request is recorded, and each scenario asserts what was sent.
//!
//! The fake server answers by route: `/version`; `POST jobs` (created or refused); lists
//! and watches of the run's pods and Job, whose watch answers are the scenario's batches of
//! events, pods first, then the Job (as a real Job's status follows its pods); `DELETE` of
//! the Job, after which no pod is listed any more.
//!
//! `fake` is the server and the scenario runner, `objects` the pods, Jobs and reports that
//! the scenarios below play.

mod fake;
mod faults;
mod objects;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cnd_core::{
    Mode, Outcome, RemoteChannel, ReportOutcome, Results, RunSpec, SqsTarget, StopReason, WorkerReport, coordinate,
    coordinate_then, split, verify,
};
use cnd_k8s::{JobSettings, K8sDispatcher, KubeVersion, render_job};
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};

use self::fake::*;
use self::objects::*;

// ---------------------------------------------------------------------------------------
// Scenarios.
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn found_on_the_first_pod_posts_the_job_and_deletes_it_in_background() {
    let spec = spec(2, Mode::First);
    let parts = split(spec.problem.range(), 2);
    let nonce = golden_in(&spec, parts[0]);
    let id = &spec.run_id;
    let pods = vec![
        vec![("ADDED", unschedulable(pod(id, 0, 0))), ("ADDED", pod(id, 1, 0))],
        vec![("MODIFIED", running(pod(id, 0, 0))), ("MODIFIED", running(pod(id, 1, 0)))],
        vec![("MODIFIED", terminated(pod(id, 0, 0), 0, Some(report(&spec, 0, found(&spec, nonce)))))],
    ];
    let jobs = vec![vec![("MODIFIED", job_with(&spec, "Complete", "SuccessPolicy"))]];
    let (result, recorded) = run(script("34", pods, jobs), &spec, never()).await;
    assert_eq!(exit_code(&result), 0, "{result:?}");
    let Outcome::Found(f) = result.unwrap().outcome else { panic!("not found") };
    assert_eq!(f.nonce, nonce);
    assert_eq!(f.found_by, format!("cnd-{id}-0-a0"), "the finder is the pod that reported");

    assert!(recorded[0].is("GET", "/version"), "the version is read first: {recorded:#?}");
    let posted = posted_job(&recorded);
    let expected = render_job(&spec, &JobSettings::default(), KubeVersion { major: 1, minor: 34 }).unwrap();
    assert_eq!(posted, serde_json::to_value(&expected).unwrap(), "the POSTed Job is the rendered one");
    let js = &posted["spec"];
    assert_eq!(js["completionMode"], "Indexed");
    assert_eq!((js["completions"].as_i64(), js["parallelism"].as_i64()), (Some(2), Some(2)));
    assert_eq!(js["successPolicy"]["rules"][0]["succeededCount"], 1);
    assert_eq!(js["backoffLimitPerIndex"], 1);
    let rules = js["podFailurePolicy"]["rules"].as_array().unwrap();
    assert_eq!(rules[0]["action"], "FailJob");
    assert_eq!(rules[0]["onExitCodes"]["values"], json!([2]));
    assert_eq!(rules[1]["action"], "FailIndex");
    assert_eq!(rules[1]["onExitCodes"]["values"], json!([3]));
    assert_eq!(rules[2]["action"], "Ignore");
    assert_eq!(rules[2]["onPodConditions"][0]["type"], "DisruptionTarget");
    assert_eq!(posted["metadata"]["labels"]["app.kubernetes.io/name"], "cnd");
    assert_eq!(posted["metadata"]["labels"]["cnd.dev/run-id"], id.as_str());
    let pod_spec = &js["template"]["spec"];
    assert_eq!(pod_spec["automountServiceAccountToken"], false);
    assert_eq!(pod_spec["restartPolicy"], "Never");
    let c = &pod_spec["containers"][0];
    assert_eq!(c["command"], json!(["/cnd", "worker"]));
    assert_eq!(c["terminationMessagePolicy"], "File");
    assert_eq!(c["resources"]["requests"], c["resources"]["limits"]);
    assert_eq!(c["securityContext"]["runAsNonRoot"], true);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(c["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    let watches = recorded.iter().filter(|r| r.is_watch()).count();
    assert!(watches >= 2, "pods are watched, not polled: {recorded:#?}");
    assert_deleted_in_background(&spec, &recorded);
}

#[tokio::test]
async fn every_index_exhausted_exits_3_and_deletes_the_job() {
    let spec = spec(3, Mode::First);
    let id = &spec.run_id;
    let pods = vec![
        vec![("ADDED", running(pod(id, 0, 0))), ("ADDED", running(pod(id, 1, 0))), ("ADDED", running(pod(id, 2, 0)))],
        vec![
            ("MODIFIED", terminated(pod(id, 0, 0), 3, Some(report(&spec, 0, ReportOutcome::Exhausted)))),
            ("MODIFIED", terminated(pod(id, 2, 0), 3, Some(report(&spec, 2, ReportOutcome::Exhausted)))),
        ],
        // Exit 3 without a message still means exhausted.
        vec![("MODIFIED", terminated(pod(id, 1, 0), 3, None))],
    ];
    let jobs = vec![vec![("MODIFIED", job_with(&spec, "Failed", "FailedIndexes"))]];
    let (result, recorded) = run(script("34", pods, jobs), &spec, never()).await;
    assert_eq!(exit_code(&result), 3, "{result:?}");
    assert_deleted_in_background(&spec, &recorded);
}

#[tokio::test]
async fn a_bogus_nonce_is_ignored_then_a_real_one_wins() {
    let spec = spec(2, Mode::First);
    let parts = split(spec.problem.range(), 2);
    let real = golden_in(&spec, parts[1]);
    let bogus = (parts[0].start..parts[0].end).find(|n| !verify(&spec.problem, *n).is_valid()).unwrap();
    let id = &spec.run_id;
    let pods = vec![
        vec![("ADDED", running(pod(id, 0, 0))), ("ADDED", running(pod(id, 1, 0)))],
        vec![("MODIFIED", terminated(pod(id, 0, 0), 0, Some(report(&spec, 0, found(&spec, bogus)))))],
        vec![("MODIFIED", terminated(pod(id, 1, 0), 0, Some(report(&spec, 1, found(&spec, real)))))],
    ];
    let (result, recorded) = run(script("34", pods, vec![]), &spec, never()).await;
    assert_eq!(exit_code(&result), 0, "{result:?}");
    let r = result.unwrap();
    assert_eq!(r.rejected, 1, "the bogus report was rejected");
    let Outcome::Found(f) = r.outcome else { panic!() };
    assert_eq!(f.nonce, real);
    assert_deleted_in_background(&spec, &recorded);
}

#[tokio::test]
async fn job_failed_on_its_deadline_exits_4_and_deletes_the_job() {
    let mut spec = spec(2, Mode::First);
    spec.timeout = Some(Duration::from_secs(2));
    let id = &spec.run_id;
    let pods = vec![
        vec![("ADDED", running(pod(id, 0, 0))), ("ADDED", running(pod(id, 1, 0)))],
        // The Job controller stops the pods at the deadline: SIGTERM, exit 4.
        vec![("MODIFIED", terminated(pod(id, 0, 0), 4, None)), ("MODIFIED", terminated(pod(id, 1, 0), 4, None))],
    ];
    let jobs = vec![vec![("MODIFIED", job_with(&spec, "Failed", "DeadlineExceeded"))]];
    // The CLI's stop: the run's timeout (or Ctrl-C).
    let timer = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        StopReason::TimedOut
    };
    let (result, recorded) = run(script("34", pods, jobs), &spec, timer).await;
    assert_eq!(exit_code(&result), 4, "{result:?}");
    assert_eq!(posted_job(&recorded)["spec"]["activeDeadlineSeconds"], 2);
    assert_deleted_in_background(&spec, &recorded);
}

#[tokio::test]
async fn a_deadline_without_the_coordinator_timer_is_an_error_and_still_deletes() {
    let mut spec = spec(1, Mode::First);
    spec.timeout = Some(Duration::from_secs(1));
    let id = &spec.run_id;
    let pods = vec![vec![("ADDED", running(pod(id, 0, 0)))], vec![("MODIFIED", terminated(pod(id, 0, 0), 4, None))]];
    let jobs = vec![vec![("MODIFIED", job_with(&spec, "Failed", "DeadlineExceeded"))]];
    let (result, recorded) = run(script("34", pods, jobs), &spec, never()).await;
    assert_eq!(exit_code(&result), 1);
    assert!(one_line(result.as_ref().unwrap_err()).contains("deadline"), "{result:?}");
    assert_deleted_in_background(&spec, &recorded);
}

#[tokio::test]
async fn forbidden_create_exits_1_with_the_rbac_hint_and_creates_nothing() {
    let spec = spec(2, Mode::First);
    let s = Script { create: CreateAnswer::Forbidden, ..script("34", vec![], vec![]) };
    let (result, recorded) = run(s, &spec, never()).await;
    assert_eq!(exit_code(&result), 1, "{result:?}");
    let line = one_line(result.as_ref().unwrap_err());
    assert!(
        line.starts_with(&format!("forbidden: cannot create jobs.batch in namespace {NS} — see deploy/rbac.yaml: ")),
        "{line}"
    );
    assert!(!line.contains('\n'));
    let methods: Vec<_> = recorded.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(
        methods,
        vec!["GET /version".to_string(), format!("POST /apis/batch/v1/namespaces/{NS}/jobs")],
        "nothing but the refused create: no watch, no DELETE"
    );
}

#[tokio::test]
async fn a_1_29_server_gets_no_success_policy() {
    let spec = spec(2, Mode::First);
    let parts = split(spec.problem.range(), 2);
    let nonce = golden_in(&spec, parts[1]);
    let id = &spec.run_id;
    let pods = vec![
        vec![("ADDED", running(pod(id, 0, 0))), ("ADDED", running(pod(id, 1, 0)))],
        vec![("MODIFIED", terminated(pod(id, 1, 0), 0, Some(report(&spec, 1, found(&spec, nonce)))))],
    ];
    let (result, recorded) = run(script("29", pods, vec![]), &spec, never()).await;
    assert_eq!(exit_code(&result), 0, "{result:?}");
    let posted = posted_job(&recorded);
    assert!(posted["spec"].get("successPolicy").is_none(), "{posted:#}");
    assert_eq!(posted["spec"]["backoffLimitPerIndex"], 1);
    assert!(posted["spec"]["podFailurePolicy"].is_object());
    assert_deleted_in_background(&spec, &recorded);
}

#[tokio::test]
async fn a_crashed_pod_is_retried_and_its_retry_finds() {
    let spec = spec(1, Mode::First);
    let nonce = golden_in(&spec, spec.problem.range());
    let id = &spec.run_id;
    let pods = vec![
        vec![("ADDED", running(pod(id, 0, 0)))],
        // SIGKILL: exit 137, no report; the Job retries index 0 (backoffLimitPerIndex 1).
        vec![("MODIFIED", terminated(pod(id, 0, 0), 137, None)), ("ADDED", running(pod(id, 0, 1)))],
        vec![("MODIFIED", terminated(pod(id, 0, 1), 0, Some(report(&spec, 0, found(&spec, nonce)))))],
    ];
    let (result, recorded) = run(script("34", pods, vec![]), &spec, never()).await;
    assert_eq!(exit_code(&result), 0, "{result:?}");
    let Outcome::Found(f) = result.unwrap().outcome else { panic!() };
    assert_eq!(f.found_by, format!("cnd-{id}-0-a1"));
    assert_deleted_in_background(&spec, &recorded);
}

#[tokio::test]
async fn bad_input_in_a_worker_exits_2_and_deletes_the_job() {
    let spec = spec(2, Mode::First);
    let id = &spec.run_id;
    let failed = report(&spec, 0, ReportOutcome::Failed { reason: "CND_BLOCK_HEX: not hex".into() });
    let pods =
        vec![vec![("ADDED", running(pod(id, 0, 0)))], vec![("MODIFIED", terminated(pod(id, 0, 0), 2, Some(failed)))]];
    let (result, recorded) = run(script("34", pods, vec![]), &spec, never()).await;
    assert_eq!(exit_code(&result), 2, "{result:?}");
    assert!(one_line(result.as_ref().unwrap_err()).contains("CND_BLOCK_HEX: not hex"));
    assert_deleted_in_background(&spec, &recorded);
}

#[tokio::test]
async fn an_image_that_can_never_be_pulled_fails_fast_and_deletes() {
    let spec = spec(1, Mode::First);
    let id = &spec.run_id;
    let pods = vec![vec![("ADDED", waiting(pod(id, 0, 0), "ErrImageNeverPull"))]];
    let (result, recorded) = run(script("34", pods, vec![]), &spec, never()).await;
    assert_eq!(exit_code(&result), 1, "{result:?}");
    assert!(one_line(result.as_ref().unwrap_err()).contains("ErrImageNeverPull"));
    assert_deleted_in_background(&spec, &recorded);
}

#[tokio::test]
async fn ctrl_c_while_pods_run_exits_4_and_deletes_the_job() {
    let spec = spec(2, Mode::First);
    let id = &spec.run_id;
    let pods = vec![vec![("ADDED", running(pod(id, 0, 0))), ("ADDED", running(pod(id, 1, 0)))]];
    let ctrl_c = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        StopReason::Cancelled
    };
    let (result, recorded) = run(script("34", pods, vec![]), &spec, ctrl_c).await;
    assert_eq!(exit_code(&result), 4, "{result:?}");
    assert_eq!(result.unwrap().outcome, Outcome::Stopped(StopReason::Cancelled));
    assert_deleted_in_background(&spec, &recorded);
}

/// The answer is handed over (printed, by the CLI) the moment it is verified: before the
/// Job's DELETE is sent, and the cleanup still follows.
#[tokio::test]
async fn the_answer_is_handed_over_before_the_job_is_deleted() {
    let spec = spec(2, Mode::First);
    let parts = split(spec.problem.range(), 2);
    let nonce = golden_in(&spec, parts[1]);
    let id = &spec.run_id;
    let pods = vec![
        vec![("ADDED", running(pod(id, 0, 0))), ("ADDED", running(pod(id, 1, 0)))],
        vec![("MODIFIED", terminated(pod(id, 1, 0), 0, Some(report(&spec, 1, found(&spec, nonce)))))],
    ];
    let (client, record) = fake_api(script("34", pods, vec![]));
    let mut d = K8sDispatcher::new(client, settings());
    let job_path = format!("/apis/batch/v1/namespaces/{NS}/jobs/cnd-{id}");
    let mut seen_at_answer = None;
    let finished = tokio::time::timeout(
        Duration::from_secs(20),
        coordinate_then(&mut d, &spec, never(), |r| {
            assert!(matches!(&r.outcome, Outcome::Found(f) if f.nonce == nonce), "{r:?}");
            assert!(r.answered.is_some(), "the answer's time is set");
            seen_at_answer = Some(record.lock().unwrap().clone());
        }),
    )
    .await
    .expect("the run ends on its own");
    drop(d);
    let at_answer = seen_at_answer.expect("the answer was handed over");
    assert!(!at_answer.iter().any(|r| r.is("DELETE", &job_path)), "deleted before the answer: {at_answer:#?}");
    assert!(finished.reported_early);
    finished.cleanup.expect("the cleanup succeeded");
    let Outcome::Found(f) = finished.result.unwrap().outcome else { panic!("not found") };
    assert_eq!(f.nonce, nonce);
    assert_deleted_in_background(&spec, &record.lock().unwrap());
}

#[tokio::test]
async fn lowest_mode_waits_for_lower_indexes_and_has_no_success_policy() {
    let spec = spec(2, Mode::Lowest);
    let parts = split(spec.problem.range(), 2);
    let high = golden_in(&spec, parts[1]);
    let low = golden_in(&spec, parts[0]);
    let id = &spec.run_id;
    let pods = vec![
        vec![("ADDED", running(pod(id, 0, 0))), ("ADDED", running(pod(id, 1, 0)))],
        vec![("MODIFIED", terminated(pod(id, 1, 0), 0, Some(report(&spec, 1, found(&spec, high)))))],
        vec![("MODIFIED", terminated(pod(id, 0, 0), 0, Some(report(&spec, 0, found(&spec, low)))))],
    ];
    let (result, recorded) = run(script("34", pods, vec![]), &spec, never()).await;
    let Outcome::Found(f) = result.unwrap().outcome else { panic!() };
    assert_eq!(f.nonce, low);
    assert!(posted_job(&recorded)["spec"].get("successPolicy").is_none());
    assert_deleted_in_background(&spec, &recorded);
}

#[tokio::test]
async fn the_progress_probe_shows_pods_by_phase_and_unschedulable() {
    let spec = spec(2, Mode::First);
    let id = &spec.run_id;
    let pods = vec![vec![("ADDED", unschedulable(pod(id, 0, 0))), ("ADDED", running(pod(id, 1, 0)))]];
    let (client, _record) = fake_api(script("34", pods, vec![]));
    let mut d = K8sDispatcher::new(client, settings());
    let probe = cnd_core::Dispatcher::progress_probe(&d);
    let stop = async {
        // Let the watch deliver, then look.
        tokio::time::sleep(Duration::from_millis(500)).await;
        StopReason::Cancelled
    };
    let result = coordinate(&mut d, &spec, stop).await.unwrap();
    assert_eq!(result.outcome, Outcome::Stopped(StopReason::Cancelled));
    let detail = probe().detail.unwrap();
    // Two chunks (one per worker): one running, one waiting for its pod.
    assert!(
        detail.starts_with(
            "chunks: 0 done, 1 running, 1 pending · pods: 1 running, 1 pending (1 Unschedulable: waiting for the \
             autoscaler "
        ),
        "{detail}"
    );
    assert!(detail.contains(" of --pending-timeout 10m), 0 succeeded, 0 failed"), "the pending clock: {detail}");
    assert!(detail.contains("planned 1.00 MH/s"), "{detail}");
}

/// A result channel in memory (the SQS channel's stand-in): replays reports, then waits.
struct MemoryChannel {
    reports: VecDeque<WorkerReport>,
    closed: Arc<Mutex<bool>>,
}

#[async_trait::async_trait]
impl cnd_core::ResultChannel for MemoryChannel {
    async fn publish(&self, _report: &WorkerReport) -> cnd_core::Result<()> {
        Ok(())
    }
    async fn receive(&mut self, _deadline: Option<std::time::Instant>) -> cnd_core::Result<Option<WorkerReport>> {
        match self.reports.pop_front() {
            Some(r) => Ok(Some(r)),
            None => futures::future::pending().await,
        }
    }
    async fn close(&mut self) -> cnd_core::Result<()> {
        *self.closed.lock().unwrap() = true;
        Ok(())
    }
}

/// Two pods of which pod `index` finds: the golden nonce, the pods' events and the report,
/// which travels on a channel (with SQS the pods' termination messages are empty).
fn found_through_a_channel(spec: &RunSpec, index: u32) -> (u64, Vec<Vec<(&'static str, Pod)>>, WorkerReport) {
    let nonce = golden_in(spec, split(spec.problem.range(), 2)[index as usize]);
    let id = &spec.run_id;
    let pods = vec![
        vec![("ADDED", running(pod(id, 0, 0))), ("ADDED", running(pod(id, 1, 0)))],
        vec![("MODIFIED", terminated(pod(id, index, 0), 0, None))],
    ];
    let line = report(spec, index, found(spec, nonce));
    (nonce, pods, WorkerReport::from_json(&line).unwrap())
}

#[tokio::test]
async fn reports_through_a_result_channel_win_and_the_channel_is_closed() {
    let spec = spec(2, Mode::First);
    let (nonce, pods, found) = found_through_a_channel(&spec, 0);
    let (client, record) = fake_api(script("34", pods, vec![]));
    let closed = Arc::new(Mutex::new(false));
    let channel = MemoryChannel { reports: VecDeque::from([found]), closed: Arc::clone(&closed) };
    let mut d = K8sDispatcher::new(client, settings()).with_result_channel(Box::new(channel));
    let result = tokio::time::timeout(Duration::from_secs(20), coordinate(&mut d, &spec, never())).await.unwrap();
    drop(d);
    let Outcome::Found(f) = result.unwrap().outcome else { panic!() };
    assert_eq!(f.nonce, nonce);
    assert!(*closed.lock().unwrap(), "the channel was closed on shutdown");
    assert_deleted_in_background(&spec, &record.lock().unwrap());
}

#[tokio::test]
async fn a_role_without_pods_is_exit_1_naming_list_pods_and_the_job_is_still_deleted() {
    let spec = spec(1, Mode::First);
    let mut s = script("34", vec![], vec![]);
    s.pods_refused = Some(403);
    let (client, record) = fake_api(s);
    let mut settings = settings();
    // The deletion wait is refused too: it ends with the same forbidden error.
    settings.cleanup_timeout = Duration::from_secs(2);
    let mut d = K8sDispatcher::new(client, settings);
    let result = tokio::time::timeout(Duration::from_secs(20), coordinate(&mut d, &spec, never())).await.unwrap();
    drop(d);
    assert_eq!(exit_code(&result), 1, "{result:?}");
    let line = one_line(result.as_ref().unwrap_err());
    assert!(
        line.starts_with(&format!("forbidden: cannot list pods in namespace {NS} — see deploy/rbac.yaml")),
        "{line}"
    );
    let recorded = record.lock().unwrap().clone();
    let job_path = format!("/apis/batch/v1/namespaces/{NS}/jobs/cnd-{}", spec.run_id);
    let delete = recorded.iter().find(|r| r.is("DELETE", &job_path)).expect("the Job is deleted");
    assert_eq!(delete.body.as_ref().unwrap()["propagationPolicy"], "Background");
}

/// An opener of a [`MemoryChannel`] that tells the pods to publish on `queue_url`, and counts
/// its calls.
fn open_memory(
    reports: Vec<WorkerReport>,
    queue_url: &'static str,
    closed: Arc<Mutex<bool>>,
    opened: Arc<Mutex<u32>>,
) -> cnd_core::OpenChannel {
    Box::new(move |_spec: RunSpec| -> BoxFuture<'static, cnd_core::Result<RemoteChannel>> {
        Box::pin(async move {
            *opened.lock().unwrap() += 1;
            let channel = MemoryChannel { reports: reports.into(), closed };
            let target = SqsTarget { queue_url: Some(queue_url.into()), endpoint_url: Some("http://sqs.local".into()) };
            Ok(RemoteChannel { channel: Box::new(channel), results: Results::Sqs(target) })
        })
    })
}

#[tokio::test]
async fn a_remote_channel_opens_at_start_tells_the_pods_where_to_publish_and_is_closed() {
    let spec = spec(2, Mode::First);
    let (nonce, pods, found) = found_through_a_channel(&spec, 1);
    let secret = secret_with(&["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"]);
    let s = Script { secrets: BTreeMap::from([("cnd-aws".to_string(), secret)]), ..script("34", pods, vec![]) };
    let (client, record) = fake_api(s);
    let (closed, opened) = (Arc::new(Mutex::new(false)), Arc::new(Mutex::new(0)));
    let queue = "http://sqs.local/000000000000/cnd-0a1b2c3d4e";
    let open = open_memory(vec![found], queue, Arc::clone(&closed), Arc::clone(&opened));
    let mut settings = settings();
    // The queue is not known yet: the opener gives it.
    settings.job.results = Results::Sqs(SqsTarget::default());
    settings.job.aws_secret = Some("cnd-aws".into());
    let mut d = K8sDispatcher::new(client, settings).remote_channel(open);
    let result = tokio::time::timeout(Duration::from_secs(20), coordinate(&mut d, &spec, never())).await.unwrap();
    drop(d);
    let Outcome::Found(f) = result.unwrap().outcome else { panic!() };
    assert_eq!(f.nonce, nonce);
    assert_eq!(*opened.lock().unwrap(), 1, "opened once");
    assert!(*closed.lock().unwrap(), "the channel was closed on shutdown");
    let recorded = record.lock().unwrap().clone();
    let env: BTreeMap<String, Value> = posted_job(&recorded)["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e["value"].clone()))
        .collect();
    assert_eq!(env["CND_RESULTS"], "sqs");
    assert_eq!(env["CND_SQS_QUEUE_URL"], queue);
    assert_eq!(env["CND_SQS_ENDPOINT_URL"], "http://sqs.local");
    assert!(!env.contains_key("CND_TERMINATION_LOG"));
    assert_deleted_in_background(&spec, &recorded);
}

#[tokio::test]
async fn settings_pods_cannot_use_exit_2_before_a_queue_or_a_job_is_made() {
    let spec = spec(1, Mode::First);
    let (client, record) = fake_api(script("34", vec![], vec![]));
    let (closed, opened) = (Arc::new(Mutex::new(false)), Arc::new(Mutex::new(0)));
    let open = open_memory(vec![], "http://sqs.local/q", closed, Arc::clone(&opened));
    let mut settings = settings();
    settings.job.results = Results::Stdout;
    let mut d = K8sDispatcher::new(client, settings).remote_channel(open);
    let result = tokio::time::timeout(Duration::from_secs(20), coordinate(&mut d, &spec, never())).await.unwrap();
    drop(d);
    assert_eq!(exit_code(&result), 2, "{result:?}");
    assert!(one_line(result.as_ref().unwrap_err()).starts_with("--results: "), "{result:?}");
    assert_eq!(*opened.lock().unwrap(), 0, "no queue was created");
    let methods: Vec<_> = record.lock().unwrap().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(methods, vec!["GET /version".to_string()], "nothing but the version: no Job, no DELETE");
}
