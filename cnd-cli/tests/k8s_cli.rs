//! `cnd --backend k8s` and `cnd k8s ...` as a user runs them: the real binary, its exit codes
//! and one-line errors. The API server here is a small HTTP fake on 127.0.0.1 reached
//! through a kubeconfig (the coordinator's full flow is tested against recorded traffic in
//! `cnd-k8s/tests/mock_api.rs`).
#![cfg(feature = "k8s")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use assert_cmd::Command;
use predicates::prelude::*;

fn cnd() -> Command {
    let mut c = Command::cargo_bin("cnd").unwrap();
    // No ambient cluster: only what a test gives.
    c.env_remove("KUBECONFIG").env_remove("KUBERNETES_SERVICE_HOST").env_remove("KUBERNETES_SERVICE_PORT");
    for (k, _) in std::env::vars() {
        if k.starts_with("CND_") {
            c.env_remove(k);
        }
    }
    c
}

#[test]
fn manifest_renders_the_indexed_job_as_yaml() {
    let out = cnd().args(["k8s", "manifest", "--workers", "4", "-d", "24"]).assert().success();
    let yaml = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    for line in [
        "apiVersion: batch/v1",
        "kind: Job",
        "completionMode: Indexed",
        "completions: 4",
        "parallelism: 4",
        "backoffLimitPerIndex: 1",
        "- succeededCount: 1",
        "automountServiceAccountToken: false",
        "terminationMessagePolicy: File",
        "app.kubernetes.io/name: cnd",
    ] {
        assert!(yaml.contains(line), "no '{line}' in\n{yaml}");
    }
}

#[test]
fn manifest_for_1_29_has_no_success_policy_and_rbac_adds_three_objects() {
    let out = cnd().args(["k8s", "manifest", "-d", "24", "--kube-version", "1.29", "--rbac"]).assert().success();
    let yaml = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(!yaml.contains("successPolicy"), "{yaml}");
    for kind in ["kind: ServiceAccount", "kind: Role", "kind: RoleBinding", "kind: Job"] {
        assert!(yaml.contains(kind), "no {kind} in\n{yaml}");
    }
}

#[test]
fn cpu_fractions_set_one_thread() {
    let out = cnd().args(["k8s", "manifest", "-d", "24", "--cpu", "0.5"]).assert().success();
    let yaml = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(yaml.contains("cpu: 500m"), "{yaml}");
    assert!(yaml.contains("name: CND_THREADS\n          value: \"1\""), "{yaml}");
}

#[test]
fn bad_k8s_flags_are_one_line_usage_errors() {
    for (flag, value) in [
        ("--cpu", "lots"),
        ("--memory", "big"),
        ("--image-pull-policy", "sometimes"),
        ("--kube-version", "1.20"),
        ("--node-selector", "pool"),
        ("--toleration", "spot:Evict"),
    ] {
        cnd()
            .args(["k8s", "manifest", "-d", "24", flag, value])
            .assert()
            .code(2)
            .stderr(predicate::str::starts_with(format!("error: {flag}: ")).and(predicate::str::contains("allowed")));
    }
    cnd()
        .args(["--backend", "k8s", "-d", "8", "--results", "stdout"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--results").and(predicate::str::contains("stdout")));
    cnd().args(["k8s", "cleanup"]).assert().code(2).stderr(predicate::str::contains("--all"));
    // A run checks them before it reaches for a cluster, in one line.
    cnd()
        .args(["--backend", "k8s", "-d", "8", "--toleration", "spot=yes:Sometimes"])
        .env("KUBECONFIG", "/nonexistent")
        .assert()
        .code(2)
        .stderr(
            predicate::str::starts_with("error: --toleration: ")
                .and(predicate::str::contains("NoSchedule, PreferNoSchedule, NoExecute"))
                .and(predicate::function(|s: &str| s.trim_end().lines().count() == 1)),
        );
}

#[test]
fn no_cluster_configuration_is_exit_1_in_one_line() {
    let home = tempfile::tempdir().unwrap();
    cnd()
        .env("HOME", home.path())
        .env("KUBECONFIG", home.path().join("missing"))
        .args(["--backend", "k8s", "-d", "8", "-q"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::starts_with("error: no Kubernetes configuration")
                .and(predicate::function(|s: &str| s.trim_end().lines().count() == 1)),
        );
}

/// A tiny API server: `/version` says 1.34, creating a Job is forbidden, one run is listed.
struct FakeApi {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

fn fake_api() -> FakeApi {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let mut length = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let request = line.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
            seen.lock().unwrap().push(request.clone());
            let (code, mut json) = answer(&request);
            if request.contains("ffffffffff") {
                json["items"] = serde_json::json!([]);
            }
            let text = json.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    FakeApi { port, requests }
}

fn answer(request: &str) -> (u16, serde_json::Value) {
    use serde_json::json;
    let (method, path) = request.split_once(' ').unwrap_or(("", ""));
    let path_only = path.split('?').next().unwrap_or("");
    match (method, path_only) {
        ("GET", "/version") => (
            200,
            json!({"major": "1", "minor": "34", "gitVersion": "v1.34.4", "gitCommit": "", "gitTreeState": "", "buildDate": "", "goVersion": "", "compiler": "", "platform": ""}),
        ),
        ("POST", "/apis/batch/v1/namespaces/cnd-test/jobs") => (
            403,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Forbidden", "code": 403,
            "message": "jobs.batch is forbidden: User \"system:serviceaccount:cnd-test:norole\" cannot create resource \"jobs\" in API group \"batch\" in the namespace \"cnd-test\""}),
        ),
        ("GET", "/apis/batch/v1/namespaces/cnd-test/jobs") => (
            200,
            json!({"apiVersion": "batch/v1", "kind": "JobList", "metadata": {"resourceVersion": "5"}, "items": [
            {"metadata": {"name": "cnd-00aa11bb22", "namespace": "cnd-test", "creationTimestamp": "2026-01-01T00:00:00Z",
                          "labels": {"app.kubernetes.io/name": "cnd", "cnd.dev/run-id": "00aa11bb22"},
                          "annotations": {"cnd.dev/difficulty": "30", "cnd.dev/mode": "first"}},
             "spec": {"completions": 2, "template": {"spec": {"containers": []}}}, "status": {}}]}),
        ),
        ("GET", "/api/v1/namespaces/cnd-test/configmaps") => (
            200,
            json!({"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": "5"}, "items": []}),
        ),
        ("GET", "/api/v1/namespaces/cnd-test/pods") => (
            200,
            json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "5"}, "items": [
            {"metadata": {"name": "cnd-00aa11bb22-0-x", "labels": {"app.kubernetes.io/name": "cnd", "cnd.dev/run-id": "00aa11bb22"}}, "status": {"phase": "Running"}},
            {"metadata": {"name": "cnd-00aa11bb22-1-x", "labels": {"app.kubernetes.io/name": "cnd", "cnd.dev/run-id": "00aa11bb22"}}, "status": {"phase": "Pending"}}]}),
        ),
        _ => (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "NotFound", "code": 404, "message": "not in the fake"}),
        ),
    }
}

fn kubeconfig(dir: &Path, port: u16) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{port}\nusers:\n- name: norole\n  user: {{}}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: norole\n    namespace: cnd-test\ncurrent-context: fake\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn a_forbidden_create_is_exit_1_naming_verb_resource_namespace_and_rbac_file() {
    let api = fake_api();
    let dir = tempfile::tempdir().unwrap();
    let out = cnd()
        .env("KUBECONFIG", kubeconfig(dir.path(), api.port))
        .args(["--backend", "k8s", "--workers", "2", "-d", "20", "-q"])
        .assert()
        .code(1);
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.starts_with("error: forbidden: cannot create jobs.batch in namespace cnd-test — see deploy/rbac.yaml: "),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    let requests = api.requests.lock().unwrap().clone();
    assert!(!requests.iter().any(|r| r.starts_with("DELETE")), "nothing was created, nothing deleted: {requests:?}");
}

#[test]
fn status_lists_runs_with_pods_by_phase() {
    let api = fake_api();
    let dir = tempfile::tempdir().unwrap();
    cnd().env("KUBECONFIG", kubeconfig(dir.path(), api.port)).args(["k8s", "status"]).assert().success().stdout(
        predicate::str::contains("00aa11bb22")
            .and(predicate::str::contains("cnd-00aa11bb22"))
            .and(predicate::str::contains("running"))
            .and(predicate::str::contains("1 pending, 1 running")),
    );
}

#[test]
fn an_unknown_context_is_exit_1() {
    let api = fake_api();
    let dir = tempfile::tempdir().unwrap();
    cnd()
        .env("KUBECONFIG", kubeconfig(dir.path(), api.port))
        .args(["k8s", "status", "--context", "nowhere"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: no Kubernetes configuration"));
}

#[test]
fn status_of_an_unknown_run_is_exit_1_in_one_line() {
    let api = fake_api();
    let dir = tempfile::tempdir().unwrap();
    cnd()
        .env("KUBECONFIG", kubeconfig(dir.path(), api.port))
        .args(["k8s", "status", "ffffffffff"])
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with("error: no run ffffffffff in namespace cnd-test"));
}

#[test]
fn every_job_has_a_deadline_the_timeout_or_job_deadline() {
    let deadline = |args: &[&str]| {
        let out = cnd().args(["k8s", "manifest", "-d", "24"]).args(args).assert().success();
        let yaml = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        yaml.lines().find_map(|l| l.trim().strip_prefix("activeDeadlineSeconds: ").map(str::to_string))
    };
    assert_eq!(deadline(&[]).as_deref(), Some("86400"), "a day without --timeout");
    assert_eq!(deadline(&["--job-deadline", "2h"]).as_deref(), Some("7200"));
    assert_eq!(deadline(&["--timeout", "10m", "--job-deadline", "2h"]).as_deref(), Some("600"), "--timeout wins");
    cnd()
        .env("CND_JOB_DEADLINE", "90s")
        .args(["k8s", "manifest", "-d", "24"])
        .assert()
        .success()
        .stdout(predicate::str::contains("activeDeadlineSeconds: 90\n"));
}

#[test]
fn bad_deadlines_and_pending_timeouts_name_their_flag() {
    for (flag, value) in
        [("--job-deadline", "0"), ("--job-deadline", "400d"), ("--pending-timeout", "0"), ("--pending-timeout", "soon")]
    {
        cnd()
            .args(["k8s", "manifest", "-d", "24", flag, value])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(flag).and(predicate::str::contains("allowed")));
    }
}

#[test]
fn a_missing_aws_secret_is_exit_1_naming_it_before_anything_is_created() {
    let api = fake_api();
    let dir = tempfile::tempdir().unwrap();
    let out = cnd()
        .env("KUBECONFIG", kubeconfig(dir.path(), api.port))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .args(["--backend", "k8s", "-d", "20", "-q", "--results", "sqs", "--aws-secret", "cnd-nope"])
        // A port nobody serves: nothing may reach SQS either.
        .args(["--sqs-endpoint-url", "http://127.0.0.1:9"])
        .assert()
        .code(1);
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.starts_with("error: --aws-secret: Secret cnd-nope in namespace cnd-test does not exist: the pods read "),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    let requests = api.requests.lock().unwrap().clone();
    assert!(requests.iter().any(|r| r.starts_with("GET /api/v1/namespaces/cnd-test/secrets/cnd-nope")), "{requests:?}");
    assert!(
        !requests.iter().any(|r| r.starts_with("POST") || r.starts_with("DELETE")),
        "nothing created: {requests:?}"
    );
}
