//! The coordinator's whole flow against recorded API traffic: a `tower_test::mock::pair`
//! behind `kube::Client` plays the API server (as kube-rs's own `kube/src/mock_tests.rs`
//! does), every request is recorded, and each scenario asserts what was sent.
//!
//! The fake server answers by route: `/version`; `POST jobs` (created or refused); lists
//! and watches of the run's pods and Job, whose watch answers are the scenario's batches of
//! events, pods first, then the Job (as a real Job's status follows its pods); `DELETE` of
//! the Job, after which no pod is listed any more.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cnd_core::{
    DispatchError, Mode, NonceRange, Outcome, Problem, ReportOutcome, RunResult, RunSpec, StopReason, WorkerReport,
    coordinate, split, verify,
};
use cnd_k8s::{DispatcherSettings, JobSettings, K8sDispatcher, KubeVersion, render_job};
use http::{Request, Response, StatusCode};
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, Pod,
    PodCondition, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::client::Body;
use serde_json::{Value, json};

const NS: &str = "cnd-test";

/// One request as the fake API server saw it.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    query: String,
    body: Option<Value>,
}

impl Recorded {
    fn is(&self, method: &str, path: &str) -> bool {
        self.method == method && self.path == path
    }
    fn is_watch(&self) -> bool {
        self.query.contains("watch=true")
    }
}

enum CreateAnswer {
    Created,
    Forbidden,
}

struct Script {
    minor: &'static str,
    create: CreateAnswer,
    /// Listing pods is forbidden (a Role without pods).
    pods_forbidden: bool,
    pod_batches: VecDeque<Vec<(&'static str, Pod)>>,
    job_batches: VecDeque<Vec<(&'static str, Job)>>,
}

#[derive(Default)]
struct State {
    job: Option<Value>,
    deleted: bool,
    pods: BTreeMap<String, Value>,
    rv: u64,
    held: Vec<tower_test::mock::SendResponse<Response<Body>>>,
    held_job_watches: Vec<tower_test::mock::SendResponse<Response<Body>>>,
}

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

fn json_response(code: u16, v: &Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap())
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(v).unwrap()))
        .unwrap()
}

fn watch_body(events: &[(&'static str, Value)]) -> Response<Body> {
    let mut body = Vec::new();
    for (kind, object) in events {
        body.extend(serde_json::to_vec(&json!({ "type": kind, "object": object })).unwrap());
        body.push(b'\n');
    }
    Response::builder().status(200).body(Body::from(body)).unwrap()
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

/// Starts the fake API server; returns the client and the record of requests.
fn fake_api(script: Script) -> (kube::Client, Arc<Mutex<Vec<Recorded>>>) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, NS);
    let record = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(serve(handle, script, Arc::clone(&record)));
    (client, record)
}

async fn serve(mut handle: Handle, mut script: Script, record: Arc<Mutex<Vec<Recorded>>>) {
    let mut st = State::default();
    let jobs_path = format!("/apis/batch/v1/namespaces/{NS}/jobs");
    let pods_path = format!("/api/v1/namespaces/{NS}/pods");
    while let Some((request, send)) = handle.next_request().await {
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.unwrap();
        let rec = Recorded {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            query: parts.uri.query().unwrap_or("").to_string(),
            body: if bytes.is_empty() { None } else { serde_json::from_slice(&bytes).ok() },
        };
        record.lock().unwrap().push(rec.clone());
        st.rv += 1;
        let rv = st.rv.to_string();
        if rec.is("GET", "/version") {
            send.send_response(json_response(
                200,
                &json!({"major": "1", "minor": script.minor, "gitVersion": format!("v1.{}.0", script.minor),
                        "gitCommit": "", "gitTreeState": "", "buildDate": "2026-01-01T00:00:00Z",
                        "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64"}),
            ));
        } else if rec.is("POST", &jobs_path) {
            match script.create {
                CreateAnswer::Forbidden => send.send_response(json_response(
                    403,
                    &status(
                        403,
                        "Forbidden",
                        &format!("jobs.batch is forbidden: User \"system:serviceaccount:{NS}:nobody\" cannot create resource \"jobs\" in API group \"batch\" in the namespace \"{NS}\""),
                    ),
                )),
                CreateAnswer::Created => {
                    let mut job = rec.body.clone().unwrap();
                    job["metadata"]["uid"] = json!("job-uid");
                    job["metadata"]["namespace"] = json!(NS);
                    job["metadata"]["resourceVersion"] = json!(rv);
                    job["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
                    st.job = Some(job.clone());
                    send.send_response(json_response(201, &job));
                }
            }
        } else if rec.method == "GET" && rec.path == jobs_path {
            if rec.is_watch() {
                st.held_job_watches.push(send);
            } else {
                let items: Vec<Value> = st.job.iter().filter(|_| !st.deleted).cloned().collect();
                send.send_response(json_response(
                    200,
                    &json!({"apiVersion": "batch/v1", "kind": "JobList", "metadata": {"resourceVersion": rv}, "items": items}),
                ));
            }
        } else if rec.method == "GET" && rec.path == pods_path && script.pods_forbidden {
            send.send_response(json_response(
                403,
                &status(403, "Forbidden", &format!("pods is forbidden: User \"x\" cannot list resource \"pods\" in API group \"\" in the namespace \"{NS}\"")),
            ));
        } else if rec.method == "GET" && rec.path == pods_path {
            if rec.is_watch() {
                match script.pod_batches.pop_front() {
                    Some(batch) => {
                        let events: Vec<(&'static str, Value)> = batch
                            .into_iter()
                            .map(|(kind, pod)| {
                                st.rv += 1;
                                let mut v = serde_json::to_value(&pod).unwrap();
                                v["metadata"]["resourceVersion"] = json!(st.rv.to_string());
                                st.pods.insert(pod.metadata.name.clone().unwrap(), v.clone());
                                (kind, v)
                            })
                            .collect();
                        send.send_response(watch_body(&events));
                    }
                    None => st.held.push(send),
                }
            } else {
                let items: Vec<Value> = if st.deleted { vec![] } else { st.pods.values().cloned().collect() };
                send.send_response(json_response(
                    200,
                    &json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": rv}, "items": items}),
                ));
            }
        } else if rec.method == "DELETE" && rec.path.starts_with(&format!("{jobs_path}/")) {
            st.deleted = true;
            send.send_response(json_response(
                200,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
            ));
        } else {
            send.send_response(json_response(404, &status(404, "NotFound", "no such route in the fake")));
        }
        // The Job's events come once every pod event is out, as a real Job's status
        // follows its pods.
        if script.pod_batches.is_empty()
            && !st.held_job_watches.is_empty()
            && let Some(batch) = script.job_batches.pop_front()
        {
            let send = st.held_job_watches.remove(0);
            let events: Vec<(&'static str, Value)> = batch
                .into_iter()
                .map(|(kind, job)| {
                    st.rv += 1;
                    let mut v = serde_json::to_value(&job).unwrap();
                    v["metadata"]["resourceVersion"] = json!(st.rv.to_string());
                    (kind, v)
                })
                .collect();
            send.send_response(watch_body(&events));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Objects as the Job controller and kubelet would show them.
// ---------------------------------------------------------------------------------------

fn pod(run_id: &str, index: u32, attempt: u32) -> Pod {
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

fn unschedulable(mut p: Pod) -> Pod {
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

fn container(state: ContainerState) -> Option<Vec<ContainerStatus>> {
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

fn running(mut p: Pod) -> Pod {
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

fn waiting(mut p: Pod, reason: &str) -> Pod {
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

fn terminated(mut p: Pod, exit_code: i32, message: Option<String>) -> Pod {
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

fn report(spec: &RunSpec, worker: u32, outcome: ReportOutcome) -> String {
    let range = split(spec.problem.range(), spec.workers)[worker as usize];
    WorkerReport { run_id: spec.run_id.clone(), worker, source: None, range, hashes: 1234, elapsed_s: 0.5, outcome }
        .to_json_line()
}

fn found(spec: &RunSpec, nonce: u64) -> ReportOutcome {
    ReportOutcome::Found { nonce, digest: verify(&spec.problem, nonce).digest }
}

fn job_with(spec: &RunSpec, condition: &str, reason: &str) -> Job {
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
fn spec(workers: u32, mode: Mode) -> RunSpec {
    let p = Problem::text("COMSM0010cloud", 16).unwrap().with_range(NonceRange::new(0, 40_000).unwrap()).unwrap();
    let mut s = RunSpec::new(p, workers, mode);
    s.run_id = "0a1b2c3d4e".into();
    s
}

fn golden_in(spec: &RunSpec, range: NonceRange) -> u64 {
    (range.start..range.end).find(|n| verify(&spec.problem, *n).is_valid()).expect("a golden nonce in the range")
}

fn settings() -> DispatcherSettings {
    DispatcherSettings {
        cleanup_timeout: Duration::from_secs(5),
        deadline_grace: Duration::from_secs(3),
        planned_rate: Some(1.0e6),
        ..Default::default()
    }
}

/// The exit code the CLI gives a run's result (DESIGN.md: 0 found, 1 error, 2 bad input,
/// 3 exhausted, 4 timed out or cancelled), as `cnd-cli`'s `exit.rs` and `output.rs` map it.
fn exit_code(r: &Result<RunResult, DispatchError>) -> u8 {
    match r {
        Ok(r) => match r.outcome {
            Outcome::Found(_) => 0,
            Outcome::Exhausted { .. } => 3,
            Outcome::Stopped(_) => 4,
        },
        Err(DispatchError::Invalid(_)) => 2,
        Err(_) => 1,
    }
}

/// `{err:#}` as the CLI prints it: the error chain joined by ": ".
fn one_line(e: &DispatchError) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        parts.push(c.to_string());
        cur = c.source();
    }
    parts.join(": ")
}

async fn run(
    script: Script,
    spec: &RunSpec,
    stop: impl Future<Output = StopReason> + Send,
) -> (Result<RunResult, DispatchError>, Vec<Recorded>) {
    let (client, record) = fake_api(script);
    let mut d = K8sDispatcher::new(client, settings());
    let result = tokio::time::timeout(Duration::from_secs(20), coordinate(&mut d, spec, stop))
        .await
        .expect("the run ends on its own");
    drop(d);
    let recorded = record.lock().unwrap().clone();
    (result, recorded)
}

fn never() -> impl Future<Output = StopReason> + Send {
    futures::future::pending()
}

fn posted_job(recorded: &[Recorded]) -> Value {
    let jobs_path = format!("/apis/batch/v1/namespaces/{NS}/jobs");
    let posts: Vec<_> = recorded.iter().filter(|r| r.is("POST", &jobs_path)).collect();
    assert_eq!(posts.len(), 1, "one Job created: {recorded:#?}");
    posts[0].body.clone().expect("a Job body")
}

/// The run's Job was deleted with background propagation, and the pods were then awaited.
fn assert_deleted_in_background(spec: &RunSpec, recorded: &[Recorded]) {
    let job_path = format!("/apis/batch/v1/namespaces/{NS}/jobs/cnd-{}", spec.run_id);
    let deletes: Vec<_> = recorded.iter().enumerate().filter(|(_, r)| r.is("DELETE", &job_path)).collect();
    assert_eq!(deletes.len(), 1, "one DELETE of the Job: {recorded:#?}");
    let (at, delete) = deletes[0];
    assert_eq!(delete.body.as_ref().unwrap()["propagationPolicy"], "Background", "{delete:?}");
    let pods_path = format!("/api/v1/namespaces/{NS}/pods");
    assert!(
        recorded[at + 1..].iter().any(|r| r.is("GET", &pods_path) && r.query.contains("labelSelector")),
        "the pods were awaited after the DELETE: {recorded:#?}"
    );
}

fn script(minor: &'static str, pods: Vec<Vec<(&'static str, Pod)>>, jobs: Vec<Vec<(&'static str, Job)>>) -> Script {
    Script {
        minor,
        create: CreateAnswer::Created,
        pods_forbidden: false,
        pod_batches: pods.into(),
        job_batches: jobs.into(),
    }
}

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
    assert_eq!(f.worker, format!("cnd-{id}-0-a0"), "the finder is the pod that reported");

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
    let s = Script {
        minor: "34",
        create: CreateAnswer::Forbidden,
        pods_forbidden: false,
        pod_batches: VecDeque::new(),
        job_batches: VecDeque::new(),
    };
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
    assert_eq!(f.worker, format!("cnd-{id}-0-a1"));
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
    assert!(
        detail.starts_with(
            "pods: 1 running, 1 pending (1 Unschedulable: waiting for the autoscaler), 0 succeeded, 0 failed"
        ),
        "{detail}"
    );
    assert!(detail.contains("planned 1.0 MH/s"), "{detail}");
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

#[tokio::test]
async fn reports_through_a_result_channel_win_and_the_channel_is_closed() {
    let spec = spec(2, Mode::First);
    let parts = split(spec.problem.range(), 2);
    let nonce = golden_in(&spec, parts[0]);
    let id = &spec.run_id;
    // With SQS the pods' termination messages are empty: the report travels on the channel.
    let pods = vec![
        vec![("ADDED", running(pod(id, 0, 0))), ("ADDED", running(pod(id, 1, 0)))],
        vec![("MODIFIED", terminated(pod(id, 0, 0), 0, None))],
    ];
    let (client, record) = fake_api(script("34", pods, vec![]));
    let closed = Arc::new(Mutex::new(false));
    let line = report(&spec, 0, found(&spec, nonce));
    let channel = MemoryChannel {
        reports: VecDeque::from([WorkerReport::from_json(&line).unwrap()]),
        closed: Arc::clone(&closed),
    };
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
    s.pods_forbidden = true;
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
