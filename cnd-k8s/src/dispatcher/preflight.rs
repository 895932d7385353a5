//! What is checked before anything is created: the AWS Secret the pods read (`--aws-secret`)
//! exists and has the keys they need. A run whose pods could never report fails here, in one
//! line naming the Secret and the key, with no queue and no Job made.

use std::collections::BTreeSet;

use cnd_core::Results;
use k8s_openapi::api::core::v1::Secret;
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
    /// Checks `--aws-secret` (if any): it exists and has the keys the pods need. A coordinator
    /// that may not read Secrets (the least-privilege Role of deploy/rbac.yaml) skips the
    /// check with a warning: a missing Secret then ends the run when the first pod cannot
    /// start (CreateContainerConfigError).
    pub(super) async fn check_aws_secret(&self) -> Result<()> {
        let Some(name) = self.settings.job.aws_secret.as_deref() else { return Ok(()) };
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let problem = |problem: String| Error::AwsSecret {
            name: name.to_string(),
            namespace: self.namespace.clone(),
            problem,
            needs: needs(&self.settings.job),
        };
        let secret = match api.get(name).await {
            Ok(s) => s,
            Err(kube::Error::Api(s)) if s.code == 404 => return Err(problem("does not exist".into())),
            Err(kube::Error::Api(s)) if s.code == 403 => {
                tracing::warn!(
                    secret = name,
                    namespace = %self.namespace,
                    "may not read the Secret to check its keys (forbidden): a missing one shows when the pods start"
                );
                return Ok(());
            }
            Err(e) => return Err(Error::api("get", "secrets", &self.namespace, e)),
        };
        match missing(&secret, &self.settings.job).as_slice() {
            [] => Ok(()),
            [key] => Err(problem(format!("has no key {key}"))),
            keys => Err(problem(format!("has no keys {}", keys.join(", ")))),
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
