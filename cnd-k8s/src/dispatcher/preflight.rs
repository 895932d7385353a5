//! What is checked before anything is created: the AWS Secret the pods read (`--aws-secret`)
//! exists and has the keys they need, and so does the CA ConfigMap (`--ca-configmap`). A run
//! whose pods could never start or report fails here, in one line naming the object and the
//! key, with no queue and no Job made.

use std::collections::BTreeSet;

use cnd_core::Results;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;

use super::Ctx;
use crate::error::{Error, Result, ServerMessage};
use crate::job::JobSettings;

/// The credentials the worker's AWS SDK reads from its environment.
const CREDENTIALS: [&str; 2] = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];
/// The variables the AWS SDK reads its region from, either one.
const REGION: [&str; 2] = ["AWS_REGION", "AWS_DEFAULT_REGION"];

/// The keys the pods need from the Secret: the credentials, and a region unless the pods get
/// one otherwise (`AWS_REGION` of the coordinator, set in the Job) or talk to a given SQS
/// endpoint (a local server, which does not care which region signs).
fn needed(job: &JobSettings) -> (Vec<&'static str>, bool) {
    let endpoint = matches!(&job.results, Results::Sqs(t) if t.endpoint_url.is_some());
    (CREDENTIALS.to_vec(), job.aws_region.is_none() && !endpoint)
}

/// What the pods read from the Secret, for the error line.
fn needs(job: &JobSettings) -> ServerMessage {
    let (mut keys, region) = needed(job);
    if region {
        keys.push("AWS_REGION");
    }
    ServerMessage(format!("the pods read {} from it (kubectl create secret generic ...)", keys.join(", ")))
}

/// The keys of a Secret that the pods lack.
fn missing(secret: &Secret, job: &JobSettings) -> Vec<&'static str> {
    let keys: BTreeSet<&str> = secret
        .data
        .iter()
        .flat_map(|d| d.keys())
        .chain(secret.string_data.iter().flat_map(|d| d.keys()))
        .map(String::as_str)
        .collect();
    let (credentials, region) = needed(job);
    let mut out: Vec<&'static str> = credentials.into_iter().filter(|k| !keys.contains(k)).collect();
    if region && !REGION.iter().any(|k| keys.contains(k)) {
        out.push("AWS_REGION");
    }
    out
}

impl Ctx {
    /// Checks what the pods will read before anything is created: `--aws-secret` exists and
    /// has the keys the pods need, `--ca-configmap` exists and has `ca.crt`.
    pub(super) async fn preflight(&self) -> Result<()> {
        let job = &self.settings.job;
        if let Some(name) = job.aws_secret.as_deref() {
            let object = Object { flag: "--aws-secret", kind: "Secret", resource: "secrets", name, needs: needs(job) };
            if let Some(secret) = self.get::<Secret>(&object).await? {
                object.lacks(self, &missing(&secret, job))?;
            }
        }
        if let Some(name) = job.ca_configmap.as_deref() {
            let needs = ServerMessage(format!("the pods trust the PEM certificates of its key {CA_KEY}"));
            let object = Object { flag: "--ca-configmap", kind: "ConfigMap", resource: "configmaps", name, needs };
            if let Some(map) = self.get::<ConfigMap>(&object).await? {
                let text = map.data.as_ref().is_some_and(|d| d.contains_key(CA_KEY));
                let binary = map.binary_data.as_ref().is_some_and(|d| d.contains_key(CA_KEY));
                object.lacks(self, if text || binary { &[] } else { &[CA_KEY] })?;
            }
        }
        Ok(())
    }

    /// Reads the object, `None` if the coordinator may not (the least-privilege Role of
    /// deploy/rbac.yaml reads no Secrets; it reads ConfigMaps, for the run's record, so a
    /// `--ca-configmap` is checked): a missing one then ends the run when the first pod
    /// cannot start.
    async fn get<K>(&self, object: &Object<'_>) -> Result<Option<K>>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), &self.namespace);
        match api.get(object.name).await {
            Ok(o) => Ok(Some(o)),
            Err(kube::Error::Api(s)) if s.code == 404 => Err(object.error(self, "does not exist".into())),
            Err(kube::Error::Api(s)) if s.code == 403 => {
                tracing::warn!(
                    kind = object.kind,
                    name = object.name,
                    namespace = %self.namespace,
                    "may not read it to check its keys (forbidden): a missing one shows when the pods start"
                );
                Ok(None)
            }
            Err(e) => Err(Error::api("get", object.resource, &self.namespace, e)),
        }
    }
}

/// The key of the `--ca-configmap` ConfigMap that the pods mount.
const CA_KEY: &str = "ca.crt";

/// An object named by a flag, that the pods will read.
struct Object<'a> {
    flag: &'static str,
    kind: &'static str,
    resource: &'static str,
    name: &'a str,
    needs: ServerMessage,
}

impl Object<'_> {
    fn error(&self, ctx: &Ctx, problem: String) -> Error {
        Error::Preflight {
            flag: self.flag,
            object: format!("{} {}", self.kind, self.name),
            namespace: ctx.namespace.clone(),
            problem,
            needs: self.needs.clone(),
        }
    }

    /// An error naming the keys it lacks, if any.
    fn lacks(&self, ctx: &Ctx, keys: &[&str]) -> Result<()> {
        match keys {
            [] => Ok(()),
            [key] => Err(self.error(ctx, format!("has no key {key}"))),
            keys => Err(self.error(ctx, format!("has no keys {}", keys.join(", ")))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use cnd_core::SqsTarget;
    use k8s_openapi::ByteString;

    use super::*;

    fn secret(keys: &[&str]) -> Secret {
        Secret {
            data: Some(keys.iter().map(|k| (k.to_string(), ByteString(b"x".to_vec()))).collect::<BTreeMap<_, _>>()),
            ..Default::default()
        }
    }

    fn sqs(endpoint: Option<&str>, region: Option<&str>) -> JobSettings {
        JobSettings {
            results: Results::Sqs(SqsTarget { queue_url: None, endpoint_url: endpoint.map(str::to_string) }),
            aws_secret: Some("cnd-aws".into()),
            aws_region: region.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn credentials_are_needed_and_a_region_unless_the_pods_have_one() {
        let aws = sqs(None, None);
        assert_eq!(missing(&secret(&[]), &aws), ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"]);
        assert_eq!(missing(&secret(&["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]), &aws), ["AWS_REGION"]);
        let all = secret(&["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"]);
        assert!(missing(&all, &aws).is_empty());
        let creds = secret(&["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]);
        assert!(missing(&creds, &sqs(None, Some("eu-west-1"))).is_empty(), "the Job sets AWS_REGION");
        assert!(missing(&creds, &sqs(Some("http://10.88.77.1:5000"), None)).is_empty(), "a local endpoint");
        assert_eq!(missing(&secret(&["AWS_ACCESS_KEY_ID"]), &sqs(Some("http://x"), None)), ["AWS_SECRET_ACCESS_KEY"]);
        assert_eq!(
            needs(&aws).0,
            "the pods read AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION from it (kubectl create secret generic ...)"
        );
    }
}
