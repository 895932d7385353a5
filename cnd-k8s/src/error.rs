//! The errors of the Kubernetes backend.

use cnd_core::DispatchError;

/// Where to look when the API server refuses a request.
pub const RBAC_HINT: &str = "see deploy/rbac.yaml";

/// An error of the Kubernetes backend.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is invalid (bad input: exit code 2). Names the flag and the allowed values.
    #[error("{flag}: {message}")]
    Invalid {
        /// The CLI flag, e.g. `--cpu`.
        flag: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// The API server refused a request for lack of permission (403).
    #[error("forbidden: cannot {verb} {resource} in namespace {namespace} — {hint}", hint = RBAC_HINT)]
    Forbidden {
        /// The API verb: create, get, list, watch, delete.
        verb: &'static str,
        /// The resource, e.g. `jobs.batch`.
        resource: &'static str,
        /// The namespace.
        namespace: String,
        /// The server's message.
        #[source]
        source: ServerMessage,
    },
    /// The API server refused the credentials (401): an expired token, a revoked account.
    #[error(
        "unauthorized: cannot {verb} {resource} in namespace {namespace} — the API server refused the credentials \
             of the kubeconfig (expired?)"
    )]
    Unauthorized {
        /// The API verb.
        verb: &'static str,
        /// The resource.
        resource: &'static str,
        /// The namespace.
        namespace: String,
        /// The server's message.
        #[source]
        source: ServerMessage,
    },
    /// An object the pods read (the `--aws-secret` Secret, the `--ca-configmap` ConfigMap) is
    /// missing, or lacks a key they need: checked before anything is created.
    #[error("{flag}: {object} in namespace {namespace} {problem}")]
    Preflight {
        /// The flag that named it: `--aws-secret`, `--ca-configmap`.
        flag: &'static str,
        /// Its kind and name: `Secret cnd-aws`.
        object: String,
        /// The namespace.
        namespace: String,
        /// What is wrong: "does not exist", "has no key AWS_REGION".
        problem: String,
        /// What the pods need of it.
        #[source]
        needs: ServerMessage,
    },
    /// Any other failed API request.
    #[error("cannot {verb} {resource} in namespace {namespace}")]
    Api {
        /// The API verb.
        verb: &'static str,
        /// The resource.
        resource: &'static str,
        /// The namespace.
        namespace: String,
        /// The HTTP status of the answer, if the server answered.
        code: Option<u16>,
        /// The cause, in one line.
        #[source]
        source: ServerMessage,
    },
    /// No usable kubeconfig or in-cluster configuration.
    #[error("no Kubernetes configuration (KUBECONFIG, ~/.kube/config or in-cluster)")]
    Config(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A run's record (its ConfigMap) is missing or cannot be read back.
    #[error("run {run_id}: {message}")]
    Record {
        /// The run id.
        run_id: String,
        /// What is wrong with it.
        message: String,
    },
    /// The API server is too old for the Job this backend creates.
    #[error("Kubernetes {found} is too old: cnd needs 1.29 or newer (backoffLimitPerIndex, podFailurePolicy)")]
    TooOld {
        /// The server's version.
        found: String,
    },
}

/// The API server's own words for a refused request.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct ServerMessage(pub String);

/// Result of this crate's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps a failed API request, naming the verb, the resource and the namespace; a 403
    /// becomes [`Error::Forbidden`], with the RBAC hint.
    pub fn api(verb: &'static str, resource: &'static str, namespace: &str, source: kube::Error) -> Self {
        match source {
            kube::Error::Api(status) if status.code == 403 => Error::Forbidden {
                verb,
                resource,
                namespace: namespace.to_string(),
                source: ServerMessage(status.message.clone()),
            },
            kube::Error::Api(status) if status.code == 401 => Error::Unauthorized {
                verb,
                resource,
                namespace: namespace.to_string(),
                source: ServerMessage(describe(&kube::Error::Api(status))),
            },
            source => Error::Api {
                verb,
                resource,
                namespace: namespace.to_string(),
                code: match &source {
                    kube::Error::Api(s) => Some(s.code),
                    _ => None,
                },
                source: ServerMessage(describe(&source)),
            },
        }
    }

    /// True when the server answered 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api { code: Some(404), .. })
    }
}

impl From<Error> for DispatchError {
    fn from(e: Error) -> Self {
        // The CLI prints `context: source`: one line, each part said once.
        let context = e.to_string();
        match e {
            Error::Invalid { .. } => DispatchError::Invalid(context),
            Error::Forbidden { source, .. }
            | Error::Unauthorized { source, .. }
            | Error::Api { source, .. }
            | Error::Preflight { needs: source, .. } => DispatchError::backend(context, source),
            Error::Config(source) => DispatchError::backend(context, source),
            Error::Record { .. } => DispatchError::Incomplete(context),
            e @ Error::TooOld { .. } => DispatchError::backend("the Kubernetes API server", e),
        }
    }
}

/// A kube error as a one-line description (kube's own `Display` of an API error repeats the
/// status as debug output).
pub(crate) fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => {
            let reason = if s.reason.is_empty() { String::new() } else { format!(" ({})", s.reason) };
            format!("{}{reason}, HTTP {}", s.message, s.code)
        }
        e => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16, message: &str) -> kube::Error {
        kube::Error::Api(
            kube::core::Status { code, message: message.into(), reason: "Forbidden".into(), ..Default::default() }
                .boxed(),
        )
    }

    #[test]
    fn forbidden_names_verb_resource_namespace_and_the_rbac_file() {
        let e = Error::api("create", "jobs.batch", "x", status(403, "jobs.batch is forbidden"));
        assert_eq!(e.to_string(), "forbidden: cannot create jobs.batch in namespace x — see deploy/rbac.yaml");
        let d: DispatchError = e.into();
        assert!(!matches!(d, DispatchError::Invalid(_)));
        let line = anyhow_like(&d);
        assert_eq!(
            line,
            "forbidden: cannot create jobs.batch in namespace x — see deploy/rbac.yaml: jobs.batch is forbidden"
        );
    }

    /// What `{err:#}` prints in the CLI: the chain joined by ": ".
    fn anyhow_like(e: &(dyn std::error::Error + 'static)) -> String {
        let mut parts = vec![e.to_string()];
        let mut cur = e.source();
        while let Some(c) = cur {
            parts.push(c.to_string());
            cur = c.source();
        }
        parts.join(": ")
    }

    #[test]
    fn not_found_is_recognised() {
        assert!(Error::api("delete", "jobs.batch", "x", status(404, "gone")).is_not_found());
    }
}
