//! Runs that must end on their own, fast, with the cause named: pods that can never start,
//! pods no node takes, pods the Job controller may not create, watch errors retrying cannot
//! fix, a Job past its default deadline, the AWS Secret and the CA ConfigMap checked before
//! anything is created, and the reports of a result channel drained after the Job ended.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cnd_core::{DispatchError, Mode, ReportOutcome, Results, RunResult, RunSpec, SqsTarget, WorkerReport, coordinate};
use cnd_k8s::{DispatcherSettings, K8sDispatcher};
use k8s_openapi::api::core::v1::{ContainerState, ContainerStateWaiting, Event, ObjectReference, Pod, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::fake::*;
use crate::objects::*;
use crate::open_memory;

/// A container waiting for `reason`, with the kubelet's `message`.
fn waiting_with(mut p: Pod, reason: &str, message: &str) -> Pod {
    p.status = Some(PodStatus {
        phase: Some("Pending".into()),
        container_statuses: container(ContainerState {
            waiting: Some(ContainerStateWaiting { reason: Some(reason.into()), message: Some(message.into()) }),
            ..Default::default()
        }),
        ..Default::default()
    });
    p
}

/// A `FailedCreate` event of the run's Job, as the Job controller records it.
fn failed_create(spec: &RunSpec, message: &str) -> Event {
    Event {
        metadata: ObjectMeta {
            name: Some(format!("cnd-{}.1", spec.run_id)),
            namespace: Some(NS.into()),
            ..Default::default()
        },
        involved_object: ObjectReference {
            kind: Some("Job".into()),
            name: Some(format!("cnd-{}", spec.run_id)),
            namespace: Some(NS.into()),
            uid: Some("job-uid".into()),
            ..Default::default()
        },
        reason: Some("FailedCreate".into()),
        message: Some(message.into()),
        type_: Some("Warning".into()),
        ..Default::default()
    }
}

/// Runs `d` to its end (bounded): the result, how long it took, and what the server saw.
async fn drive(
    mut d: K8sDispatcher,
    spec: &RunSpec,
    record: Arc<Mutex<Vec<Recorded>>>,
) -> (Result<RunResult, DispatchError>, Duration, Vec<Recorded>) {
    let t = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(20), coordinate(&mut d, spec, never()))
        .await
        .expect("the run ends on its own");
    let took = t.elapsed();
    drop(d);
    let recorded = record.lock().unwrap().clone();
    (result, took, recorded)
}

async fn run_with(
    script: Script,
    settings: DispatcherSettings,
    spec: &RunSpec,
) -> (Result<RunResult, DispatchError>, Duration, Vec<Recorded>) {
    let (client, record) = fake_api(script);
    drive(K8sDispatcher::new(client, settings), spec, record).await
}

fn error_line(result: &Result<RunResult, DispatchError>) -> String {
    let line = one_line(result.as_ref().expect_err("the run failed"));
    assert!(!line.contains('\n'), "one line: {line}");
    line
}

#[tokio::test]
async fn an_image_the_registry_does_not_have_ends_the_run_at_once_naming_it() {
    let spec = spec(2, Mode::First);
    let id = &spec.run_id;
    let message = "failed to pull and unpack image \"localhost/cnd:dev\": failed to resolve reference \
                   \"localhost/cnd:dev\": localhost/cnd:dev: not found";
    let pods =
        vec![vec![("ADDED", pod(id, 0, 0))], vec![("MODIFIED", waiting_with(pod(id, 0, 0), "ErrImagePull", message))]];
    let (result, took, recorded) = run_with(script("34", pods, vec![]), settings(), &spec).await;
    assert_eq!(exit_code(&result), 1, "{result:?}");
    assert_eq!(
        error_line(&result),
        format!("pod cnd-{id}-0-a0 cannot start its image localhost/cnd:dev (ErrImagePull): {message}")
    );
    assert!(took < Duration::from_secs(5), "at once, not after a grace: {took:?}");
    assert_deleted_in_background(&spec, &recorded);
}

#[tokio::test]
async fn image_pulls_that_keep_failing_end_the_run_after_the_grace() {
    let spec = spec(1, Mode::First);
    let id = &spec.run_id;
    let refused = "failed to do request: Head \"https://localhost/v2/cnd/manifests/dev\": dial tcp 127.0.0.1:443: \
                   connect: connection refused";
    let pods = vec![
        vec![("ADDED", waiting_with(pod(id, 0, 0), "ErrImagePull", refused))],
        vec![(
            "MODIFIED",
            waiting_with(pod(id, 0, 0), "ImagePullBackOff", "Back-off pulling image \"localhost/cnd:dev\""),
        )],
    ];
    let mut s = settings();
    s.image_pull_grace = Duration::from_secs(2);
    let (result, took, recorded) = run_with(script("34", pods, vec![]), s, &spec).await;
    assert_eq!(exit_code(&result), 1, "{result:?}");
    assert_eq!(
        error_line(&result),
        format!("pod cnd-{id}-0-a0 cannot pull its image localhost/cnd:dev (ImagePullBackOff for 2s): {refused}")
    );
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(8), "after the grace: {took:?}");
    assert_deleted_in_background(&spec, &recorded);
}

#[tokio::test]
async fn a_secret_a_pod_cannot_find_ends_the_run_at_once_naming_it() {
    let spec = spec(2, Mode::First);
    let id = &spec.run_id;
    let pods = vec![vec![
        ("ADDED", running(pod(id, 1, 0))),
        ("ADDED", waiting_with(pod(id, 0, 0), "CreateContainerConfigError", "secret \"cnd-aws\" not found")),
    ]];
    let (result, _, recorded) = run_with(script("34", pods, vec![]), settings(), &spec).await;
    assert_eq!(exit_code(&result), 1, "{result:?}");
    assert_eq!(
        error_line(&result),
        format!(
            "pod cnd-{id}-0-a0 cannot start its container (CreateContainerConfigError): secret \"cnd-aws\" not found"
        )
    );
    assert_deleted_in_background(&spec, &recorded);
}

#[tokio::test]
async fn pods_the_job_controller_may_not_create_end_the_run_naming_the_quota() {
    let spec = spec(2, Mode::First);
    let quota = format!(
        "Error creating: pods \"cnd-{}-0-\" is forbidden: exceeded quota: compute-resources, requested: cpu=1, \
         used: cpu=2, limited: cpu=2",
        spec.run_id
    );
    let mut s = script("34", vec![], vec![]);
    s.event_batches = VecDeque::from([vec![("ADDED", failed_create(&spec, &quota))]]);
    let (result, took, recorded) = run_with(s, settings(), &spec).await;
    assert_eq!(exit_code(&result), 1, "{result:?}");
    assert_eq!(
        error_line(&result),
        format!("the Job controller cannot create the pods of Job cnd-{} (FailedCreate): {quota}", spec.run_id)
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    let events = format!("/api/v1/namespaces/{NS}/events");
    let watch = recorded.iter().find(|r| r.is("GET", &events) && r.is_watch()).expect("the Job's events are watched");
    assert!(
        watch
            .query
            .contains(&format!("fieldSelector=involvedObject.kind%3DJob%2CinvolvedObject.name%3Dcnd-{}", spec.run_id)),
        "{watch:?}"
    );
    assert_deleted_in_background(&spec, &recorded);
}

#[tokio::test]
async fn events_a_role_may_not_read_do_not_end_the_run() {
    let spec = spec(1, Mode::First);
    let nonce = golden_in(&spec, spec.problem.range());
    let id = &spec.run_id;
    let pods = vec![
        vec![("ADDED", running(pod(id, 0, 0)))],
        vec![("MODIFIED", terminated(pod(id, 0, 0), 0, Some(report(&spec, 0, found(&spec, nonce)))))],
    ];
    let mut s = script("34", pods, vec![]);
    s.events_refused = Some(403);
    let (result, _, recorded) = run_with(s, settings(), &spec).await;
    assert_eq!(exit_code(&result), 0, "{result:?}");
    let events = format!("/api/v1/namespaces/{NS}/events");
    assert_eq!(recorded.iter().filter(|r| r.is("GET", &events)).count(), 1, "asked once, not retried all run long");
    assert_deleted_in_background(&spec, &recorded);
}

#[tokio::test]
async fn pods_unschedulable_past_the_pending_timeout_end_the_run_with_exit_4() {
    let spec = spec(2, Mode::First);
    let id = &spec.run_id;
    let pods = vec![vec![("ADDED", unschedulable(pod(id, 0, 0))), ("ADDED", unschedulable(pod(id, 1, 0)))]];
    let mut s = settings();
    s.pending_timeout = Duration::from_secs(2);
    let (result, took, recorded) = run_with(script("34", pods, vec![]), s, &spec).await;
    assert_eq!(exit_code(&result), 4, "{result:?}");
    assert!(matches!(result, Err(DispatchError::TimedOut(_))));
    assert_eq!(error_line(&result), "2 of 2 pods unschedulable for 2s: 0/1 nodes are available: 1 Insufficient cpu.");
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(8), "{took:?}");
    assert_deleted_in_background(&spec, &recorded);
}

#[tokio::test]
async fn watch_errors_retrying_cannot_fix_end_the_run_naming_them() {
    for (code, expected) in [
        (401, format!("unauthorized: cannot list pods in namespace {NS} — the API server refused the credentials")),
        (404, format!("cannot list pods in namespace {NS}: the server could not find the requested resource")),
    ] {
        let spec = spec(1, Mode::First);
        let mut s = script("34", vec![], vec![]);
        s.pods_refused = Some(code);
        let mut settings = settings();
        settings.cleanup_timeout = Duration::from_secs(2);
        let (result, took, recorded) = run_with(s, settings, &spec).await;
        assert_eq!(exit_code(&result), 1, "{code}: {result:?}");
        let line = error_line(&result);
        assert!(line.starts_with(&expected), "{code}: {line}");
        assert!(line.ends_with(&format!("HTTP {code}")), "{code}: {line}");
        assert!(took < Duration::from_secs(8), "{code}: not retried: {took:?}");
        let job = format!("/apis/batch/v1/namespaces/{NS}/jobs/cnd-{}", spec.run_id);
        assert!(recorded.iter().any(|r| r.is("DELETE", &job)), "{code}: the Job is deleted");
    }
}

#[tokio::test]
async fn every_job_has_a_deadline_and_reaching_it_without_a_timeout_is_exit_4() {
    let spec = spec(1, Mode::First);
    assert_eq!(spec.timeout, None);
    let id = &spec.run_id;
    let pods = vec![vec![("ADDED", running(pod(id, 0, 0)))], vec![("MODIFIED", terminated(pod(id, 0, 0), 4, None))]];
    let jobs = vec![vec![("MODIFIED", job_with(&spec, "Failed", "DeadlineExceeded"))]];
    let (result, took, recorded) = run_with(script("34", pods, jobs), settings(), &spec).await;
    assert_eq!(exit_code(&result), 4, "{result:?}");
    assert_eq!(
        error_line(&result),
        format!("the Job cnd-{id} reached its deadline (activeDeadlineSeconds 86400, --job-deadline)")
    );
    assert!(took < Duration::from_secs(5), "no wait for a timer that does not exist: {took:?}");
    assert_eq!(posted_job(&recorded)["spec"]["activeDeadlineSeconds"], 86400);
    assert_deleted_in_background(&spec, &recorded);
}

// ---------------------------------------------------------------------------------------
// The AWS Secret, checked before anything is created.
// ---------------------------------------------------------------------------------------

/// A run with `--results sqs --aws-secret cnd-aws` against `s`: its result, what the server
/// saw and how many times the queue was opened.
async fn with_aws_secret(s: Script, spec: &RunSpec) -> (Result<RunResult, DispatchError>, Vec<Recorded>, u32) {
    let nonce = golden_in(spec, spec.problem.range());
    let line = report(spec, 0, found(spec, nonce));
    let (closed, opened) = (Arc::new(Mutex::new(false)), Arc::new(Mutex::new(0)));
    let open =
        open_memory(vec![WorkerReport::from_json(&line).unwrap()], "http://sqs.local/q", closed, Arc::clone(&opened));
    let mut settings = settings();
    settings.job.results = Results::Sqs(SqsTarget::default());
    settings.job.aws_secret = Some("cnd-aws".into());
    let (client, record) = fake_api(s);
    let (result, _, recorded) = drive(K8sDispatcher::new(client, settings).remote_channel(open), spec, record).await;
    let opened = *opened.lock().unwrap();
    (result, recorded, opened)
}

#[tokio::test]
async fn a_missing_aws_secret_or_key_is_exit_1_and_nothing_is_created() {
    let spec = spec(1, Mode::First);
    let needs = "the pods read AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION from it (kubectl create secret \
                 generic ...)";
    for (secrets, problem) in [
        (BTreeMap::new(), "does not exist".to_string()),
        (
            BTreeMap::from([("cnd-aws".to_string(), secret_with(&["AWS_ACCESS_KEY_ID"]))]),
            "has no keys AWS_SECRET_ACCESS_KEY, AWS_REGION".to_string(),
        ),
    ] {
        let s = Script { secrets, ..script("34", vec![], vec![]) };
        let (result, recorded, opened) = with_aws_secret(s, &spec).await;
        assert_eq!(exit_code(&result), 1, "{result:?}");
        assert_eq!(error_line(&result), format!("--aws-secret: Secret cnd-aws in namespace {NS} {problem}: {needs}"));
        assert_eq!(opened, 0, "no queue was created");
        let methods: Vec<_> = recorded.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
        assert_eq!(
            methods,
            ["GET /version".to_string(), format!("GET /api/v1/namespaces/{NS}/secrets/cnd-aws")],
            "nothing but the version and the Secret: no Job, no DELETE"
        );
    }
}

#[tokio::test]
async fn a_complete_aws_secret_or_one_the_role_may_not_read_lets_the_run_go_on() {
    let spec = spec(1, Mode::First);
    let id = &spec.run_id;
    let pods = || vec![vec![("ADDED", running(pod(id, 0, 0)))], vec![("MODIFIED", terminated(pod(id, 0, 0), 0, None))]];
    let complete = secret_with(&["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"]);
    let s = Script { secrets: BTreeMap::from([("cnd-aws".to_string(), complete)]), ..script("34", pods(), vec![]) };
    let (result, recorded, opened) = with_aws_secret(s, &spec).await;
    assert_eq!((exit_code(&result), opened), (0, 1), "{result:?}");
    assert_deleted_in_background(&spec, &recorded);

    let s = Script { secrets_forbidden: true, ..script("34", pods(), vec![]) };
    let (result, recorded, _) = with_aws_secret(s, &spec).await;
    assert_eq!(exit_code(&result), 0, "a Role without secrets skips the check: {result:?}");
    assert_deleted_in_background(&spec, &recorded);
}

#[tokio::test]
async fn a_missing_ca_configmap_or_key_is_exit_1_and_nothing_is_created() {
    let spec = spec(1, Mode::First);
    let id = &spec.run_id;
    let line = report(&spec, 0, found(&spec, golden_in(&spec, spec.problem.range())));
    let pods = || {
        vec![
            vec![("ADDED", running(pod(id, 0, 0)))],
            vec![("MODIFIED", terminated(pod(id, 0, 0), 0, Some(line.clone())))],
        ]
    };
    let needs = "the pods trust the PEM certificates of its key ca.crt";
    for (configmaps, problem) in [
        (BTreeMap::new(), Some("does not exist")),
        (BTreeMap::from([("cnd-ca".to_string(), configmap_with(&["tls.crt"]))]), Some("has no key ca.crt")),
        (BTreeMap::from([("cnd-ca".to_string(), configmap_with(&["ca.crt"]))]), None),
    ] {
        let s = Script { configmaps, ..script("34", pods(), vec![]) };
        let mut settings = settings();
        settings.job.ca_configmap = Some("cnd-ca".into());
        let (client, record) = fake_api(s);
        let (result, _, recorded) = drive(K8sDispatcher::new(client, settings), &spec, record).await;
        match problem {
            Some(problem) => {
                assert_eq!(exit_code(&result), 1, "{result:?}");
                let want = format!("--ca-configmap: ConfigMap cnd-ca in namespace {NS} {problem}: {needs}");
                assert_eq!(error_line(&result), want);
                let methods: Vec<_> = recorded.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
                let get = format!("GET /api/v1/namespaces/{NS}/configmaps/cnd-ca");
                assert_eq!(methods, ["GET /version".to_string(), get], "no Job, no DELETE");
            }
            None => {
                assert_eq!(exit_code(&result), 0, "{result:?}");
                assert_deleted_in_background(&spec, &recorded);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// A result channel is drained after the Job ended.
// ---------------------------------------------------------------------------------------

/// A result channel whose reports arrive `delay` after the first receive (SQS behind the
/// Job's end), then nothing.
struct LateChannel {
    reports: VecDeque<WorkerReport>,
    delay: Option<Duration>,
}

#[async_trait::async_trait]
impl cnd_core::ResultChannel for LateChannel {
    async fn publish(&self, _report: &WorkerReport) -> cnd_core::Result<()> {
        Ok(())
    }
    async fn receive(&mut self, _deadline: Option<Instant>) -> cnd_core::Result<Option<WorkerReport>> {
        if let Some(d) = self.delay.take() {
            tokio::time::sleep(d).await;
        }
        match self.reports.pop_front() {
            Some(r) => Ok(Some(r)),
            None => futures::future::pending().await,
        }
    }
    async fn close(&mut self) -> cnd_core::Result<()> {
        Ok(())
    }
}

/// The run's pods end (`exits`, no termination messages: the reports travel on the channel),
/// then the Job ends (`condition`, `reason`), and only then the channel delivers `reports`.
async fn reports_after_the_job_ended(
    spec: &RunSpec,
    exits: &[i32],
    condition: &str,
    reason: &str,
    reports: Vec<WorkerReport>,
    drain: Duration,
) -> (Result<RunResult, DispatchError>, Duration) {
    let id = &spec.run_id;
    let started: Vec<_> = (0..exits.len() as u32).map(|i| ("ADDED", running(pod(id, i, 0)))).collect();
    let ended: Vec<_> =
        exits.iter().enumerate().map(|(i, code)| ("MODIFIED", terminated(pod(id, i as u32, 0), *code, None))).collect();
    let jobs = vec![vec![("MODIFIED", job_with(spec, condition, reason))]];
    let (client, record) = fake_api(script("34", vec![started, ended], jobs));
    let mut settings = settings();
    settings.drain_timeout = drain;
    let channel = LateChannel { reports: reports.into(), delay: Some(Duration::from_millis(1500)) };
    let d = K8sDispatcher::new(client, settings).with_result_channel(Box::new(channel));
    let (result, took, recorded) = drive(d, spec, record).await;
    assert_deleted_in_background(spec, &recorded);
    (result, took)
}

fn report_of(spec: &RunSpec, worker: u32, outcome: ReportOutcome) -> WorkerReport {
    WorkerReport::from_json(&report(spec, worker, outcome)).unwrap()
}

#[tokio::test]
async fn a_nonce_reported_after_the_job_completed_still_wins() {
    let spec = spec(2, Mode::First);
    let nonce = golden_in(&spec, cnd_core::split(spec.problem.range(), 2)[0]);
    let found = report_of(&spec, 0, found(&spec, nonce));
    let (result, _) =
        reports_after_the_job_ended(&spec, &[0, 4], "Complete", "SuccessPolicy", vec![found], Duration::from_secs(10))
            .await;
    assert_eq!(exit_code(&result), 0, "{result:?}");
}

#[tokio::test]
async fn every_index_exhausted_after_the_job_failed_is_still_exit_3() {
    let spec = spec(3, Mode::First);
    let reports = (0..3).map(|i| report_of(&spec, i, ReportOutcome::Exhausted)).collect();
    let (result, _) =
        reports_after_the_job_ended(&spec, &[3, 3, 3], "Failed", "FailedIndexes", reports, Duration::from_secs(10))
            .await;
    assert_eq!(exit_code(&result), 3, "{result:?}");
}

#[tokio::test]
async fn the_drain_is_bounded() {
    let spec = spec(2, Mode::First);
    let (result, took) =
        reports_after_the_job_ended(&spec, &[3, 3], "Failed", "FailedIndexes", vec![], Duration::from_millis(800))
            .await;
    assert_eq!(exit_code(&result), 1, "{result:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
}

#[tokio::test]
async fn pods_a_role_may_not_delete_are_left_to_the_garbage_collector_and_a_failed_deletion_is_reported() {
    let spec = spec(1, Mode::First);
    let nonce = golden_in(&spec, spec.problem.range());
    let id = &spec.run_id;
    let pods = || {
        vec![
            vec![("ADDED", running(pod(id, 0, 0)))],
            vec![("MODIFIED", terminated(pod(id, 0, 0), 0, Some(report(&spec, 0, found(&spec, nonce)))))],
        ]
    };
    let pods_path = format!("/api/v1/namespaces/{NS}/pods");
    // A Role without `deletecollection` (an older deploy/rbac.yaml): the garbage collector
    // deletes the pods, the run ends as it would, and its pods are still awaited.
    let mut s = script("34", pods(), vec![]);
    s.pod_deletion_refused = Some(403);
    let (result, _, recorded) = run_with(s, settings(), &spec).await;
    assert_eq!(exit_code(&result), 0, "{result:?}");
    let deletes: Vec<_> = recorded.iter().enumerate().filter(|(_, r)| r.is("DELETE", &pods_path)).collect();
    assert_eq!(deletes.len(), 1, "refused once, not asked again: {recorded:#?}");
    assert!(
        recorded[deletes[0].0 + 1..].iter().any(|r| r.is("GET", &pods_path) && r.query.contains("labelSelector")),
        "the pods were awaited after the refused DELETE: {recorded:#?}"
    );
    // Any other refusal is the cleanup's error, named.
    let mut s = script("34", pods(), vec![]);
    s.pod_deletion_refused = Some(500);
    let (result, _, recorded) = run_with(s, settings(), &spec).await;
    let err = result.expect_err("a failed deletion of the pods is reported");
    assert!(one_line(&err).contains("delete pods"), "{}", one_line(&err));
    assert!(recorded.iter().any(|r| r.is("DELETE", &pods_path)), "{recorded:#?}");
}

#[tokio::test]
async fn a_failed_job_keeps_a_record_of_every_verdict_written_in_a_few_requests() {
    let spec = spec(6, Mode::First);
    let id = &spec.run_id;
    // Five chunks end, in two watch answers a moment apart, then the Job fails: the run can
    // be resumed from its record.
    let exhausted = |chunks: std::ops::Range<u32>| {
        chunks
            .map(|i| ("MODIFIED", terminated(pod(id, i, 0), 3, Some(report(&spec, i, ReportOutcome::Exhausted)))))
            .collect()
    };
    let jobs = vec![vec![("MODIFIED", job_with(&spec, "Failed", "BackoffLimitExceeded"))]];
    let mut s = settings();
    s.record = true;
    let (result, _, recorded) = run_with(script("34", vec![exhausted(0..3), exhausted(3..5)], jobs), s, &spec).await;
    let line = error_line(&result);
    assert!(line.contains(&format!("cnd k8s resume {id}")), "{line}");
    let record = format!("/api/v1/namespaces/{NS}/configmaps/cnd-{id}-record");
    let patches: Vec<_> = recorded.iter().filter(|r| r.is("PATCH", &record)).collect();
    // Written at most once a second (here: the first verdict at once, the rest on failing),
    // not once per verdict; and the last write holds every verdict read.
    assert!((1..=2).contains(&patches.len()), "{} writes of the record: {patches:#?}", patches.len());
    assert_eq!(patches.last().unwrap().body.as_ref().unwrap()["data"]["done"], "0-4", "{patches:#?}");
    assert!(!recorded.iter().any(|r| r.is("DELETE", &record)), "the record is kept: {recorded:#?}");
}
