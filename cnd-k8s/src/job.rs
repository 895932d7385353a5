//! The Job of a run, rendered once from typed `k8s_openapi` structs: the dispatcher creates
//! exactly what `cnd k8s manifest` prints.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use cnd_core::{Goal, Mode, RunSpec};
use k8s_openapi::api::batch::v1::{
    Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyOnPodConditionsPattern,
    PodFailurePolicyRule, SuccessPolicy, SuccessPolicyRule,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EnvFromSource, EnvVar, EnvVarSource, ObjectFieldSelector, PodSecurityContext, PodSpec,
    PodTemplateSpec, ResourceRequirements, SeccompProfile, SecretEnvSource, SecurityContext, ServiceAccount,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::error::{Error, Result};

/// The label every object of cnd carries: `app.kubernetes.io/name=cnd`.
pub const NAME_LABEL: &str = "app.kubernetes.io/name";
/// The label that names a run: `cnd.dev/run-id=<id>`.
pub const RUN_LABEL: &str = "cnd.dev/run-id";
/// The worker container's name.
pub const CONTAINER: &str = "worker";
/// The user the worker runs as (distroless "nonroot").
pub const WORKER_UID: i64 = 65532;
/// The image `deploy/build-image.sh` builds by default.
pub const DEFAULT_IMAGE: &str = "localhost/cnd:dev";
/// Exit code of a worker whose range holds no golden nonce.
pub const EXIT_EXHAUSTED: i32 = 3;
/// Exit code of a worker that rejected its input.
pub const EXIT_BAD_INPUT: i32 = 2;

/// The label selector of every cnd object.
pub fn all_runs_selector() -> String {
    format!("{NAME_LABEL}=cnd")
}

/// The label selector of one run's objects.
pub fn run_selector(run_id: &str) -> String {
    format!("{NAME_LABEL}=cnd,{RUN_LABEL}={run_id}")
}

/// The Job name of a run.
pub fn job_name(run_id: &str) -> String {
    format!("cnd-{run_id}")
}

/// A Kubernetes minor version, as `/version` reports it or `--kube-version` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubeVersion {
    /// Major version (1).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl KubeVersion {
    /// The oldest server cnd supports: `backoffLimitPerIndex` is on by default from 1.29.
    pub const MIN: KubeVersion = KubeVersion { major: 1, minor: 29 };
    /// `successPolicy` is on by default from 1.31.
    pub const SUCCESS_POLICY: KubeVersion = KubeVersion { major: 1, minor: 31 };
    /// The newest version this build knows; `cnd k8s manifest` renders for it by default.
    pub const LATEST: KubeVersion = KubeVersion { major: 1, minor: 37 };

    /// From `/version`'s `major` and `minor` (which may carry a suffix, as in EKS's `"31+"`).
    pub fn from_parts(major: &str, minor: &str) -> Option<Self> {
        fn leading_number(s: &str) -> Option<u32> {
            let digits: String = s.trim().chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        }
        Some(Self { major: leading_number(major)?, minor: leading_number(minor)? })
    }

    /// From the API server's `/version`.
    pub fn from_info(info: &k8s_openapi::apimachinery::pkg::version::Info) -> Option<Self> {
        Self::from_parts(&info.major, &info.minor).or_else(|| {
            // Some distributions leave major/minor empty: fall back to gitVersion "v1.31.2".
            let v = info.git_version.trim_start_matches('v');
            let mut parts = v.split('.');
            Self::from_parts(parts.next()?, parts.next()?)
        })
    }

    /// True if a server of this version accepts cnd's Job.
    pub fn supported(self) -> bool {
        self >= Self::MIN
    }

    /// True if a server of this version runs `successPolicy`.
    pub fn has_success_policy(self) -> bool {
        self >= Self::SUCCESS_POLICY
    }
}

impl FromStr for KubeVersion {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().trim_start_matches('v');
        let mut parts = t.split('.');
        let parsed = match (parts.next(), parts.next()) {
            (Some(major), Some(minor)) => Self::from_parts(major, minor),
            _ => None,
        };
        match parsed {
            Some(v) if v.supported() => Ok(v),
            Some(v) => Err(Error::Invalid {
                flag: "--kube-version",
                message: format!("{v} is too old (allowed: 1.29 or newer)"),
            }),
            None => Err(Error::Invalid {
                flag: "--kube-version",
                message: format!("'{s}' is not a version (allowed: MAJOR.MINOR such as 1.29, 1.31)"),
            }),
        }
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// CPUs per pod, in millicores: `1`, `2`, `0.5`, `500m`, `1.5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cpu {
    millis: u32,
}

impl Cpu {
    /// One whole CPU.
    pub const ONE: Cpu = Cpu { millis: 1000 };

    /// The CPU in millicores.
    pub fn millis(self) -> u32 {
        self.millis
    }

    /// The worker's threads: the whole CPUs requested, at least one.
    pub fn threads(self) -> u32 {
        (self.millis / 1000).max(1)
    }

    /// As a Kubernetes quantity: `2` for whole CPUs, `500m` otherwise.
    pub fn quantity(self) -> Quantity {
        if self.millis.is_multiple_of(1000) {
            Quantity((self.millis / 1000).to_string())
        } else {
            Quantity(format!("{}m", self.millis))
        }
    }
}

impl Default for Cpu {
    fn default() -> Self {
        Self::ONE
    }
}

impl FromStr for Cpu {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::Invalid {
            flag: "--cpu",
            message: format!("'{s}' {why} (allowed: whole CPUs such as 1 or 2, or a fraction such as 0.5 or 500m)"),
        };
        let t = s.trim();
        let millis: u64 = if let Some(m) = t.strip_suffix('m') {
            m.parse().map_err(|_| bad("is not a CPU quantity"))?
        } else {
            let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
            if whole.is_empty() && frac.is_empty() {
                return Err(bad("is not a CPU quantity"));
            }
            if !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad("is not a CPU quantity"));
            }
            if frac.len() > 3 {
                return Err(bad("is finer than a millicore"));
            }
            let w: u64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad("is too large"))? };
            let f: u64 = if frac.is_empty() {
                0
            } else {
                format!("{frac:0<3}").parse().map_err(|_| bad("is not a CPU quantity"))?
            };
            w.checked_mul(1000).and_then(|w| w.checked_add(f)).ok_or_else(|| bad("is too large"))?
        };
        if millis == 0 {
            return Err(bad("is zero"));
        }
        if millis > 1_024_000 {
            return Err(bad("is too large"));
        }
        Ok(Cpu { millis: millis as u32 })
    }
}

impl fmt::Display for Cpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.quantity().0)
    }
}

/// Memory per pod, a Kubernetes quantity such as `64Mi` or `1Gi`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Memory(String);

impl Memory {
    /// The default: 128 MiB (the worker is a static binary that allocates next to nothing).
    pub fn default_size() -> Self {
        Memory("128Mi".into())
    }

    /// As a Kubernetes quantity.
    pub fn quantity(&self) -> Quantity {
        Quantity(self.0.clone())
    }
}

impl Default for Memory {
    fn default() -> Self {
        Self::default_size()
    }
}

impl FromStr for Memory {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        let digits = t.chars().take_while(|c| c.is_ascii_digit()).count();
        let (number, suffix) = t.split_at(digits);
        let ok = digits > 0
            && number.parse::<u64>().is_ok_and(|n| n > 0)
            && ["", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti"].contains(&suffix);
        if !ok {
            return Err(Error::Invalid {
                flag: "--memory",
                message: format!(
                    "'{s}' is not a memory size (allowed: a positive whole number with an optional suffix Ki, Mi, Gi, Ti, k, M, G, T, e.g. 128Mi)"
                ),
            });
        }
        Ok(Memory(t.to_string()))
    }
}

/// When the kubelet pulls the worker image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PullPolicy {
    /// Always pull.
    Always,
    /// Pull if the node lacks it (the default).
    #[default]
    IfNotPresent,
    /// Never pull: the image must be on the node (e.g. `kind load`, `ctr images import`).
    Never,
}

impl PullPolicy {
    /// The Kubernetes name.
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

impl FromStr for PullPolicy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "always" => Ok(PullPolicy::Always),
            "ifnotpresent" | "if-not-present" => Ok(PullPolicy::IfNotPresent),
            "never" => Ok(PullPolicy::Never),
            _ => Err(Error::Invalid {
                flag: "--image-pull-policy",
                message: format!("'{s}' is not a pull policy (allowed: Always, IfNotPresent, Never)"),
            }),
        }
    }
}

/// How the pods report their results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Results {
    /// In the container's termination message (`/dev/termination-log`): no other service.
    #[default]
    TerminationLog,
    /// On an SQS queue; AWS credentials come from a Secret, never inline.
    Sqs {
        /// The queue's URL.
        queue_url: String,
        /// An endpoint override (a local SQS-protocol server).
        endpoint_url: Option<String>,
        /// The Secret whose keys (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
        /// ...) become the worker's environment; none with IAM roles for service accounts.
        aws_secret: Option<String>,
        /// The AWS region, if known.
        region: Option<String>,
    },
}

/// Everything about the pods that is not the problem: image, resources, reporting.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// The worker image.
    pub image: String,
    /// When to pull it.
    pub image_pull_policy: PullPolicy,
    /// CPUs per pod (requests = limits).
    pub cpu: Cpu,
    /// Memory per pod (requests = limits).
    pub memory: Memory,
    /// Seconds a finished Job is kept before the cluster deletes it.
    pub ttl_seconds_after_finished: i32,
    /// How pods report.
    pub results: Results,
    /// A hashing kernel to force in the workers (`CND_KERNEL`).
    pub kernel: Option<String>,
    /// Retries of a crashed index.
    pub backoff_limit_per_index: i32,
    /// Seconds a pod gets between SIGTERM and SIGKILL.
    pub termination_grace_period_seconds: i64,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            image: DEFAULT_IMAGE.into(),
            image_pull_policy: PullPolicy::default(),
            cpu: Cpu::default(),
            memory: Memory::default(),
            ttl_seconds_after_finished: 300,
            results: Results::default(),
            kernel: None,
            backoff_limit_per_index: 1,
            termination_grace_period_seconds: 10,
        }
    }
}

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar { name: name.into(), value: Some(value.into()), ..Default::default() }
}

fn labels(run_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAME_LABEL.to_string(), "cnd".to_string()),
        ("app.kubernetes.io/component".to_string(), "worker".to_string()),
        (RUN_LABEL.to_string(), run_id.to_string()),
    ])
}

/// The worker env contract of DESIGN.md for a run (the index comes from
/// `JOB_COMPLETION_INDEX`, which the Job controller sets in every pod).
fn worker_env(spec: &RunSpec, settings: &JobSettings) -> Vec<EnvVar> {
    let p = &spec.problem;
    let range = p.range();
    let mut v = vec![
        env("CND_RUN_ID", &spec.run_id),
        env("CND_FORMAT", p.format().as_str()),
        env("CND_BLOCK_HEX", hex_lower(p.block())),
    ];
    if let Goal::LeadingZeros(d) = p.goal() {
        v.push(env("CND_DIFFICULTY", d.to_string()));
    }
    v.extend([
        env("CND_BIT_ORDER", p.bit_order().as_str()),
        env("CND_START", range.start.to_string()),
        env("CND_END", range.end.to_string()),
        env("CND_MODE", spec.mode.as_str()),
        env("CND_WORKER_COUNT", spec.workers.to_string()),
        env("CND_THREADS", settings.cpu.threads().to_string()),
    ]);
    if let Some(k) = &settings.kernel {
        v.push(env("CND_KERNEL", k));
    }
    match &settings.results {
        Results::TerminationLog => {
            v.push(env("CND_RESULTS", "termination-log"));
            v.push(env("CND_TERMINATION_LOG", "/dev/termination-log"));
        }
        Results::Sqs { queue_url, endpoint_url, region, .. } => {
            v.push(env("CND_RESULTS", "sqs"));
            v.push(env("CND_SQS_QUEUE_URL", queue_url));
            if let Some(e) = endpoint_url {
                v.push(env("CND_SQS_ENDPOINT_URL", e));
            }
            if let Some(r) = region {
                v.push(env("AWS_REGION", r));
            }
        }
    }
    v.push(EnvVar {
        name: "POD_NAME".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector { field_path: "metadata.name".into(), ..Default::default() }),
            ..Default::default()
        }),
        ..Default::default()
    });
    v
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The run's Job, for an API server of `version`: an Indexed Job of `spec.workers` pods that
/// the cluster itself stops on the first success (`successPolicy`, servers ≥ 1.31, `first`
/// mode only), on bad input (`podFailurePolicy`: exit 2 fails the Job), on the deadline
/// (`activeDeadlineSeconds` = the run's timeout, rounded up), and whose exhausted indexes
/// (exit 3) are final while a crashed one is retried once.
pub fn render_job(spec: &RunSpec, settings: &JobSettings, version: KubeVersion) -> Result<Job> {
    if !version.supported() {
        return Err(Error::TooOld { found: version.to_string() });
    }
    let workers = i32::try_from(spec.workers).ok().filter(|w| *w >= 1 && *w <= 100_000).ok_or(Error::Invalid {
        flag: "--workers",
        message: format!("{} pods is out of range (allowed: 1..=100000)", spec.workers),
    })?;
    let resources: BTreeMap<String, Quantity> =
        BTreeMap::from([("cpu".into(), settings.cpu.quantity()), ("memory".into(), settings.memory.quantity())]);
    let env_from = match &settings.results {
        Results::Sqs { aws_secret: Some(secret), .. } => Some(vec![EnvFromSource {
            secret_ref: Some(SecretEnvSource { name: secret.clone(), optional: Some(false) }),
            ..Default::default()
        }]),
        _ => None,
    };
    let runtime_default = || SeccompProfile { type_: "RuntimeDefault".into(), ..Default::default() };
    let container = Container {
        name: CONTAINER.into(),
        image: Some(settings.image.clone()),
        image_pull_policy: Some(settings.image_pull_policy.as_str().into()),
        // `command` replaces the image's entrypoint: right for the Dockerfile's
        // ["/cnd", "worker"] and for images whose entrypoint is ["/cnd"].
        command: Some(vec!["/cnd".into(), "worker".into()]),
        env: Some(worker_env(spec, settings)),
        env_from,
        resources: Some(ResourceRequirements {
            requests: Some(resources.clone()),
            limits: Some(resources),
            ..Default::default()
        }),
        termination_message_path: Some("/dev/termination-log".into()),
        termination_message_policy: Some("File".into()),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            run_as_user: Some(WORKER_UID),
            run_as_group: Some(WORKER_UID),
            capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), ..Default::default() }),
            seccomp_profile: Some(runtime_default()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let pod = PodSpec {
        restart_policy: Some("Never".into()),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        termination_grace_period_seconds: Some(settings.termination_grace_period_seconds),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(WORKER_UID),
            run_as_group: Some(WORKER_UID),
            seccomp_profile: Some(runtime_default()),
            ..Default::default()
        }),
        containers: vec![container],
        ..Default::default()
    };
    let exit_codes = |action: &str, code: i32| PodFailurePolicyRule {
        action: action.into(),
        on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
            container_name: Some(CONTAINER.into()),
            operator: "In".into(),
            values: vec![code],
        }),
        ..Default::default()
    };
    let pod_failure_policy = PodFailurePolicy {
        rules: vec![
            // Bad input: every index would fail the same way.
            exit_codes("FailJob", EXIT_BAD_INPUT),
            // Exhausted: the index's range holds no golden nonce; retrying cannot help.
            exit_codes("FailIndex", EXIT_EXHAUSTED),
            // Evicted, preempted, node drained: not the worker's fault, not counted.
            PodFailurePolicyRule {
                action: "Ignore".into(),
                on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                    type_: "DisruptionTarget".into(),
                    status: "True".into(),
                }]),
                ..Default::default()
            },
        ],
    };
    let success_policy = (spec.mode == Mode::First && version.has_success_policy())
        .then(|| SuccessPolicy { rules: vec![SuccessPolicyRule { succeeded_count: Some(1), ..Default::default() }] });
    let mut annotations = BTreeMap::from([
        ("cnd.dev/mode".to_string(), spec.mode.as_str().to_string()),
        ("cnd.dev/range".to_string(), spec.problem.range().to_string()),
    ]);
    match spec.problem.goal() {
        Goal::LeadingZeros(d) => annotations.insert("cnd.dev/difficulty".into(), d.to_string()),
        Goal::Target(_) => annotations.insert("cnd.dev/difficulty".into(), "nbits-target".into()),
    };
    Ok(Job {
        metadata: ObjectMeta {
            name: Some(job_name(&spec.run_id)),
            labels: Some(labels(&spec.run_id)),
            annotations: Some(annotations),
            ..Default::default()
        },
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".into()),
            completions: Some(workers),
            parallelism: Some(workers),
            backoff_limit_per_index: Some(settings.backoff_limit_per_index),
            pod_failure_policy: Some(pod_failure_policy),
            success_policy,
            active_deadline_seconds: spec.timeout.map(|t| t.as_secs_f64().ceil().max(1.0) as i64),
            ttl_seconds_after_finished: Some(settings.ttl_seconds_after_finished),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels(&spec.run_id)), ..Default::default() }),
                spec: Some(pod),
            },
            ..Default::default()
        }),
        status: None,
    })
}

/// The least-privilege objects a coordinator needs in `namespace`: a ServiceAccount, a
/// Role (jobs: create, get, list, watch, delete; pods: get, list, watch) and its RoleBinding.
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
            rule("", "pods", &["get", "list", "watch"]),
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

/// One Kubernetes object as a YAML document (with `apiVersion` and `kind`).
pub fn to_yaml<K: serde::Serialize>(object: &K) -> String {
    // k8s_openapi's Serialize writes apiVersion and kind; going through JSON values keeps
    // every string a string in the YAML (e.g. "1" for a CPU, "0" for CND_START).
    let value = serde_json::to_value(object).expect("Kubernetes objects serialise");
    serde_saphyr::to_string(&value).expect("JSON values serialise as YAML")
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use cnd_core::{NonceRange, Problem};

    use super::*;

    fn spec(workers: u32, mode: Mode) -> RunSpec {
        let mut s = RunSpec::new(Problem::text("COMSM0010cloud", 24).unwrap(), workers, mode);
        s.run_id = "0123456789".into();
        s
    }

    #[test]
    fn cpu_takes_whole_cpus_and_fractions() {
        let c: Cpu = "2".parse().unwrap();
        assert_eq!((c.millis(), c.threads(), c.quantity().0.as_str()), (2000, 2, "2"));
        let c: Cpu = "0.5".parse().unwrap();
        assert_eq!((c.millis(), c.threads(), c.quantity().0.as_str()), (500, 1, "500m"));
        let c: Cpu = "500m".parse().unwrap();
        assert_eq!((c.millis(), c.threads()), (500, 1));
        let c: Cpu = "1.5".parse().unwrap();
        assert_eq!((c.millis(), c.threads(), c.quantity().0.as_str()), (1500, 1, "1500m"));
        assert_eq!("2500m".parse::<Cpu>().unwrap().threads(), 2);
        for bad in ["0", "0m", "-1", "x", "1.0005", "", ".", "1e3"] {
            let e = bad.parse::<Cpu>().unwrap_err().to_string();
            assert!(e.starts_with("--cpu: ") && e.contains("allowed"), "{bad}: {e}");
        }
    }

    #[test]
    fn memory_and_pull_policy_validate() {
        assert!("64Mi".parse::<Memory>().is_ok());
        assert!("1Gi".parse::<Memory>().is_ok());
        assert!("lots".parse::<Memory>().unwrap_err().to_string().starts_with("--memory: "));
        assert!("0Mi".parse::<Memory>().is_err());
        assert_eq!("never".parse::<PullPolicy>().unwrap(), PullPolicy::Never);
        assert!("sometimes".parse::<PullPolicy>().is_err());
    }

    #[test]
    fn versions_parse_like_servers_report_them() {
        assert_eq!(KubeVersion::from_parts("1", "31+"), Some(KubeVersion { major: 1, minor: 31 }));
        assert_eq!("1.29".parse::<KubeVersion>().unwrap(), KubeVersion::MIN);
        assert_eq!("v1.34.4".parse::<KubeVersion>().unwrap(), KubeVersion { major: 1, minor: 34 });
        assert!("1.28".parse::<KubeVersion>().unwrap_err().to_string().contains("too old"));
        assert!("one".parse::<KubeVersion>().is_err());
        assert!(!KubeVersion::MIN.has_success_policy());
        assert!(KubeVersion::SUCCESS_POLICY.has_success_policy());
    }

    #[test]
    fn the_job_follows_the_contract() {
        let mut s = spec(4, Mode::First);
        s.timeout = Some(Duration::from_millis(90_500));
        let job = render_job(&s, &JobSettings::default(), KubeVersion::LATEST).unwrap();
        let js = job.spec.as_ref().unwrap();
        assert_eq!(job.metadata.name.as_deref(), Some("cnd-0123456789"));
        assert_eq!((js.completions, js.parallelism), (Some(4), Some(4)));
        assert_eq!(js.completion_mode.as_deref(), Some("Indexed"));
        assert_eq!(js.active_deadline_seconds, Some(91));
        assert_eq!(js.backoff_limit_per_index, Some(1));
        assert_eq!(js.success_policy.as_ref().unwrap().rules[0].succeeded_count, Some(1));
        let pod = js.template.spec.as_ref().unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(pod.automount_service_account_token, Some(false));
        let c = &pod.containers[0];
        let r = c.resources.as_ref().unwrap();
        assert_eq!(r.requests, r.limits);
        let env: BTreeMap<_, _> =
            c.env.as_ref().unwrap().iter().filter_map(|e| Some((e.name.as_str(), e.value.as_deref()?))).collect();
        assert_eq!(env["CND_BLOCK_HEX"], hex_lower(b"COMSM0010cloud"));
        assert_eq!(env["CND_DIFFICULTY"], "24");
        assert_eq!(env["CND_RESULTS"], "termination-log");
        assert_eq!(env["CND_THREADS"], "1");
        assert_eq!(env["CND_WORKER_COUNT"], "4");
        assert!(!env.contains_key("CND_WORKER_INDEX"), "the index comes from JOB_COMPLETION_INDEX");
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.capabilities.as_ref().unwrap().drop.as_deref(), Some(&["ALL".to_string()][..]));
    }

    #[test]
    fn no_success_policy_before_1_31_or_in_lowest_mode() {
        let s = spec(2, Mode::First);
        let old = render_job(&s, &JobSettings::default(), KubeVersion::MIN).unwrap();
        assert!(old.spec.unwrap().success_policy.is_none());
        let lowest = render_job(&spec(2, Mode::Lowest), &JobSettings::default(), KubeVersion::LATEST).unwrap();
        assert!(lowest.spec.unwrap().success_policy.is_none());
        let e = render_job(&s, &JobSettings::default(), KubeVersion { major: 1, minor: 28 }).unwrap_err();
        assert!(e.to_string().contains("1.29"));
    }

    #[test]
    fn bitcoin_targets_have_no_difficulty_and_sqs_uses_a_secret() {
        let header = [0u8; 80];
        let mut header = header.to_vec();
        header[72..76].copy_from_slice(&0x1d00ffffu32.to_le_bytes());
        let p = Problem::bitcoin(&header, None).unwrap().with_range(NonceRange::new(0, 1000).unwrap()).unwrap();
        let s = RunSpec::new(p, 1, Mode::First);
        let settings = JobSettings {
            results: Results::Sqs {
                queue_url: "http://10.88.77.1:5000/000000000000/q".into(),
                endpoint_url: Some("http://10.88.77.1:5000".into()),
                aws_secret: Some("cnd-aws".into()),
                region: Some("us-east-1".into()),
            },
            ..Default::default()
        };
        let job = render_job(&s, &settings, KubeVersion::LATEST).unwrap();
        let c = &job.spec.unwrap().template.spec.unwrap().containers[0];
        let names: Vec<_> = c.env.as_ref().unwrap().iter().map(|e| e.name.as_str()).collect();
        assert!(!names.contains(&"CND_DIFFICULTY"));
        assert!(names.contains(&"CND_SQS_QUEUE_URL"));
        assert!(!names.iter().any(|n| n.contains("SECRET") || n.contains("ACCESS_KEY")));
        assert_eq!(c.env_from.as_ref().unwrap()[0].secret_ref.as_ref().unwrap().name, "cnd-aws");
    }

    #[test]
    fn yaml_keeps_strings_strings() {
        let job = render_job(&spec(4, Mode::First), &JobSettings::default(), KubeVersion::LATEST).unwrap();
        let y = to_yaml(&job);
        assert!(y.starts_with("apiVersion: batch/v1\n"), "{y}");
        assert!(y.contains("kind: Job"));
        assert!(y.contains("value: '0'") || y.contains("value: \"0\""), "{y}");
        let back: serde_json::Value = serde_saphyr::from_str(&y).unwrap();
        assert_eq!(back, serde_json::to_value(&job).unwrap());
    }
}
