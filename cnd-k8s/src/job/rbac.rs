//! The least-privilege RBAC objects of a coordinator, as `cnd k8s manifest --rbac` prints them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::NAME_LABEL;

/// The least-privilege objects a coordinator needs in `namespace`: a ServiceAccount, a
/// Role (jobs: create, get, list, watch, delete; pods: get, list, watch, and deletecollection,
/// to delete a run's thousands of pods in one request; events: list, watch, for the Job
/// controller's `FailedCreate`; configmaps: get, list, create, patch, delete, for the run's
/// record) and its RoleBinding. No Secrets: reading one
/// reads the credentials in it, so the check of `--aws-secret` is skipped without them.
pub fn render_rbac(namespace: &str, name: &str) -> (ServiceAccount, Role, RoleBinding) {
    let meta = || ObjectMeta {
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        labels: Some(BTreeMap::from([
            (NAME_LABEL.to_string(), "cnd".to_string()),
            ("app.kubernetes.io/component".to_string(), "coordinator".to_string()),
        ])),
        ..Default::default()
    };
    let rule = |group: &str, resource: &str, verbs: &[&str]| PolicyRule {
        api_groups: Some(vec![group.into()]),
        resources: Some(vec![resource.into()]),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        ..Default::default()
    };
    let sa = ServiceAccount { metadata: meta(), ..Default::default() };
    let role = Role {
        metadata: meta(),
        rules: Some(vec![
            rule("batch", "jobs", &["create", "get", "list", "watch", "delete"]),
            rule("", "pods", &["get", "list", "watch", "deletecollection"]),
            rule("", "events", &["list", "watch"]),
            rule("", "configmaps", &["get", "list", "create", "patch", "delete"]),
        ]),
    };
    let binding = RoleBinding {
        metadata: meta(),
        role_ref: RoleRef { api_group: "rbac.authorization.k8s.io".into(), kind: "Role".into(), name: name.into() },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: name.into(),
            namespace: Some(namespace.into()),
            ..Default::default()
        }]),
    };
    (sa, role, binding)
}
