//! The fake API server, which answers by route and records every request, and how a
//! scenario runs against it and checks what it recorded.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cnd_core::{DispatchError, Outcome, RunResult, RunSpec, StopReason, coordinate};
use cnd_k8s::{DispatcherSettings, K8sDispatcher};
use http::{Request, Response, StatusCode};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::client::Body;
use serde_json::{Value, json};

pub(crate) const NS: &str = "cnd-test";

/// One request as the fake API server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) body: Option<Value>,
}

impl Recorded {
    pub(crate) fn is(&self, method: &str, path: &str) -> bool {
        self.method == method && self.path == path
    }
    pub(crate) fn is_watch(&self) -> bool {
        self.query.contains("watch=true")
    }
}

pub(crate) enum CreateAnswer {
    Created,
    Forbidden,
}

pub(crate) struct Script {
    pub(crate) minor: &'static str,
    pub(crate) create: CreateAnswer,
    /// Listing pods is refused with this HTTP status (403: a Role without pods; 401: expired
    /// credentials; 404).
    pub(crate) pods_refused: Option<u16>,
    pub(crate) pod_batches: VecDeque<Vec<(&'static str, Pod)>>,
    pub(crate) job_batches: VecDeque<Vec<(&'static str, Job)>>,
    /// Events of the Job, one watch answer per batch.
    pub(crate) event_batches: VecDeque<Vec<(&'static str, Event)>>,
    /// Listing events is refused with this HTTP status (403: a Role without events).
    pub(crate) events_refused: Option<u16>,
    /// The Secrets of the namespace, by name (as the API server returns them).
    pub(crate) secrets: BTreeMap<String, Value>,
    /// Reading Secrets is forbidden.
    pub(crate) secrets_forbidden: bool,
    /// The ConfigMaps of the namespace, by name.
    pub(crate) configmaps: BTreeMap<String, Value>,
    /// Deleting the run's pods (`deletecollection`) is refused with this HTTP status (403: a
    /// Role without the verb).
    pub(crate) pod_deletion_refused: Option<u16>,
}

#[derive(Default)]
pub(crate) struct State {
    job: Option<Value>,
    deleted: bool,
    pods: BTreeMap<String, Value>,
    rv: u64,
    held: Vec<tower_test::mock::SendResponse<Response<Body>>>,
    held_job_watches: Vec<tower_test::mock::SendResponse<Response<Body>>>,
}

pub(crate) type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

pub(crate) fn json_response(code: u16, v: &Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap())
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(v).unwrap()))
        .unwrap()
}

pub(crate) fn watch_body(events: &[(&'static str, Value)]) -> Response<Body> {
    let mut body = Vec::new();
    for (kind, object) in events {
        body.extend(serde_json::to_vec(&json!({ "type": kind, "object": object })).unwrap());
        body.push(b'\n');
    }
    Response::builder().status(200).body(Body::from(body)).unwrap()
}

pub(crate) fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

/// The API server's 404 for the object `name` of `resource` (e.g. `configmaps`).
fn not_found(resource: &str, name: &str) -> Response<Body> {
    json_response(404, &status(404, "NotFound", &format!("{resource} \"{name}\" not found")))
}

/// The API server's answer to a deletion that succeeded.
fn deleted() -> Response<Body> {
    json_response(200, &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}))
}

/// Starts the fake API server; returns the client and the record of requests.
pub(crate) fn fake_api(script: Script) -> (kube::Client, Arc<Mutex<Vec<Recorded>>>) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, NS);
    let record = Arc::new(Mutex::new(Vec::new()));
    tokio::spawn(serve(handle, script, Arc::clone(&record)));
    (client, record)
}

pub(crate) async fn serve(mut handle: Handle, mut script: Script, record: Arc<Mutex<Vec<Recorded>>>) {
    let mut st = State::default();
    let jobs_path = format!("/apis/batch/v1/namespaces/{NS}/jobs");
    let pods_path = format!("/api/v1/namespaces/{NS}/pods");
    let events_path = format!("/api/v1/namespaces/{NS}/events");
    let secrets_path = format!("/api/v1/namespaces/{NS}/secrets/");
    let configmaps_path = format!("/api/v1/namespaces/{NS}/configmaps/");
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
        } else if rec.method == "GET"
            && rec.path == pods_path
            && let Some(code) = script.pods_refused
        {
            let (reason, message) = match code {
                401 => ("Unauthorized", "Unauthorized".to_string()),
                403 => (
                    "Forbidden",
                    format!(
                        "pods is forbidden: User \"x\" cannot list resource \"pods\" in API group \"\" in the namespace \"{NS}\""
                    ),
                ),
                _ => ("NotFound", "the server could not find the requested resource".to_string()),
            };
            send.send_response(json_response(code, &status(code, reason, &message)));
        } else if rec.method == "GET" && rec.path == events_path {
            if let Some(code) = script.events_refused {
                send.send_response(json_response(code, &status(code, "Forbidden", "events is forbidden")));
            } else if !rec.is_watch() {
                send.send_response(json_response(
                    200,
                    &json!({"apiVersion": "v1", "kind": "EventList", "metadata": {"resourceVersion": rv}, "items": []}),
                ));
            } else if let Some(batch) = script.event_batches.pop_front() {
                let events = stamped(batch, &mut st.rv);
                send.send_response(watch_body(&events));
            } else {
                st.held.push(send);
            }
        } else if rec.method == "GET" && rec.path.starts_with(&secrets_path) {
            let name = &rec.path[secrets_path.len()..];
            if script.secrets_forbidden {
                send.send_response(json_response(403, &status(403, "Forbidden", "secrets is forbidden")));
            } else if let Some(secret) = script.secrets.get(name) {
                send.send_response(json_response(200, secret));
            } else {
                send.send_response(not_found("secrets", name));
            }
        } else if rec.is("POST", configmaps_path.trim_end_matches('/')) {
            // A run's record, created.
            let cm = rec.body.clone().unwrap();
            script.configmaps.insert(cm["metadata"]["name"].as_str().unwrap().to_string(), cm.clone());
            send.send_response(json_response(201, &cm));
        } else if rec.method == "PATCH" && rec.path.starts_with(&configmaps_path) {
            // A merge patch of a record's data.
            let name = &rec.path[configmaps_path.len()..];
            match script.configmaps.get_mut(name) {
                Some(cm) => {
                    for (k, v) in rec.body.as_ref().unwrap()["data"].as_object().unwrap() {
                        cm["data"][k] = v.clone();
                    }
                    send.send_response(json_response(200, cm));
                }
                None => send.send_response(not_found("configmaps", name)),
            }
        } else if rec.method == "DELETE" && rec.path.starts_with(&configmaps_path) {
            let name = &rec.path[configmaps_path.len()..];
            match script.configmaps.remove(name) {
                Some(_) => send.send_response(deleted()),
                None => send.send_response(not_found("configmaps", name)),
            }
        } else if rec.method == "GET" && rec.path.starts_with(&configmaps_path) {
            let name = &rec.path[configmaps_path.len()..];
            match script.configmaps.get(name) {
                Some(map) => send.send_response(json_response(200, map)),
                None => send.send_response(not_found("configmaps", name)),
            }
        } else if rec.method == "GET" && rec.path == pods_path {
            if rec.is_watch() {
                match script.pod_batches.pop_front() {
                    Some(batch) => {
                        let events = stamped(batch, &mut st.rv);
                        for (_, v) in &events {
                            st.pods.insert(v["metadata"]["name"].as_str().unwrap().to_string(), v.clone());
                        }
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
        } else if rec.is("DELETE", &pods_path) {
            match script.pod_deletion_refused {
                Some(code) => send.send_response(json_response(
                    code,
                    &status(code, "Forbidden", "pods is forbidden: cannot deletecollection resource \"pods\""),
                )),
                None => {
                    let items: Vec<Value> = std::mem::take(&mut st.pods).into_values().collect();
                    send.send_response(json_response(
                        200,
                        &json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": rv}, "items": items}),
                    ));
                }
            }
        } else if rec.method == "DELETE" && rec.path.starts_with(&format!("{jobs_path}/")) {
            st.deleted = true;
            send.send_response(deleted());
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
            let events = stamped(batch, &mut st.rv);
            send.send_response(watch_body(&events));
        }
    }
}

/// The dispatcher's settings in every scenario: short waits.
pub(crate) fn settings() -> DispatcherSettings {
    DispatcherSettings {
        cleanup_timeout: Duration::from_secs(5),
        deadline_grace: Duration::from_secs(3),
        planned_rate: Some(1.0e6),
        ..Default::default()
    }
}

/// The exit code the CLI gives a run's result (DESIGN.md: 0 found, 1 error, 2 bad input,
/// 3 exhausted, 4 timed out or cancelled), as `cnd-cli`'s `exit.rs` and `output.rs` map it.
pub(crate) fn exit_code(r: &Result<RunResult, DispatchError>) -> u8 {
    match r {
        Ok(r) => match r.outcome {
            Outcome::Found(_) => 0,
            Outcome::Exhausted { .. } => 3,
            Outcome::Stopped(_) => 4,
        },
        Err(DispatchError::Invalid(_)) => 2,
        Err(DispatchError::TimedOut(_)) => 4,
        Err(_) => 1,
    }
}

/// `{err:#}` as the CLI prints it: the error chain joined by ": ".
pub(crate) fn one_line(e: &DispatchError) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        parts.push(c.to_string());
        cur = c.source();
    }
    parts.join(": ")
}

pub(crate) async fn run(
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

pub(crate) fn never() -> impl Future<Output = StopReason> + Send {
    futures::future::pending()
}

pub(crate) fn posted_job(recorded: &[Recorded]) -> Value {
    let jobs_path = format!("/apis/batch/v1/namespaces/{NS}/jobs");
    let posts: Vec<_> = recorded.iter().filter(|r| r.is("POST", &jobs_path)).collect();
    assert_eq!(posts.len(), 1, "one Job created: {recorded:#?}");
    posts[0].body.clone().expect("a Job body")
}

/// The run's Job was deleted with background propagation, then its pods, in one request by
/// the run's label, and the pods were then awaited.
pub(crate) fn assert_deleted_in_background(spec: &RunSpec, recorded: &[Recorded]) {
    let job_path = format!("/apis/batch/v1/namespaces/{NS}/jobs/cnd-{}", spec.run_id);
    let deletes: Vec<_> = recorded.iter().enumerate().filter(|(_, r)| r.is("DELETE", &job_path)).collect();
    assert_eq!(deletes.len(), 1, "one DELETE of the Job: {recorded:#?}");
    let (at, delete) = deletes[0];
    assert_eq!(delete.body.as_ref().unwrap()["propagationPolicy"], "Background", "{delete:?}");
    let pods_path = format!("/api/v1/namespaces/{NS}/pods");
    let run_label = format!("cnd.dev%2Frun-id%3D{}", spec.run_id);
    let pod_deletes: Vec<_> = recorded.iter().enumerate().filter(|(_, r)| r.is("DELETE", &pods_path)).collect();
    assert_eq!(pod_deletes.len(), 2, "two DELETEs of the run's pods: {recorded:#?}");
    let (first_at, first) = pod_deletes[0];
    let (pods_at, pods_delete) = pod_deletes[1];
    assert!(first_at > at, "the pods are deleted after their Job: {recorded:#?}");
    for delete in [first, pods_delete] {
        assert!(
            delete.query.contains("labelSelector=") && delete.query.contains(&run_label),
            "only the run's pods ({run_label}): {delete:?}"
        );
    }
    // The pods that may still run first, then every pod of the run.
    assert!(first.query.contains("fieldSelector=status.phase%21%3DSucceeded%2Cstatus.phase%21%3DFailed"), "{first:?}");
    assert!(!pods_delete.query.contains("fieldSelector"), "{pods_delete:?}");
    assert!(
        recorded[pods_at + 1..].iter().any(|r| r.is("GET", &pods_path) && r.query.contains("labelSelector")),
        "the pods were awaited after the DELETE: {recorded:#?}"
    );
}

pub(crate) fn script(
    minor: &'static str,
    pods: Vec<Vec<(&'static str, Pod)>>,
    jobs: Vec<Vec<(&'static str, Job)>>,
) -> Script {
    Script {
        minor,
        create: CreateAnswer::Created,
        pods_refused: None,
        pod_batches: pods.into(),
        job_batches: jobs.into(),
        event_batches: VecDeque::new(),
        events_refused: None,
        secrets: BTreeMap::new(),
        secrets_forbidden: false,
        configmaps: BTreeMap::new(),
        pod_deletion_refused: None,
    }
}

/// The Secret `cnd-aws` with these keys, as the API server returns it.
pub(crate) fn secret_with(keys: &[&str]) -> Value {
    let data: BTreeMap<&str, &str> = keys.iter().map(|k| (*k, "eA==")).collect();
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cnd-aws", "namespace": NS}, "data": data})
}

/// The ConfigMap `cnd-ca` with these keys, as the API server returns it.
pub(crate) fn configmap_with(keys: &[&str]) -> Value {
    let data: BTreeMap<&str, &str> = keys.iter().map(|k| (*k, "-----BEGIN CERTIFICATE-----")).collect();
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cnd-ca", "namespace": NS}, "data": data})
}

/// A watch batch as the API server sends it: each object stamped with the next
/// resourceVersion.
fn stamped<T: serde::Serialize>(batch: Vec<(&'static str, T)>, rv: &mut u64) -> Vec<(&'static str, Value)> {
    batch
        .into_iter()
        .map(|(kind, object)| {
            *rv += 1;
            let mut v = serde_json::to_value(&object).unwrap();
            v["metadata"]["resourceVersion"] = json!(rv.to_string());
            (kind, v)
        })
        .collect()
}
