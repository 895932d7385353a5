//! The Job of a run, rendered once from typed `k8s_openapi` structs: the dispatcher creates
//! exactly what `cnd k8s manifest` prints. The worker env contract is written by
//! [`WorkerSpec`], the one type that the worker reads it with; the pod adds only what a pod
//! alone has (`POD_NAME`, `AWS_REGION`, the AWS Secret).

mod chunks;
mod placement;
mod quantities;
mod rbac;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use cnd_core::{DEFAULT_TERMINATION_LOG, Exit, Goal, Kernel, Mode, Results, RunSpec, WorkerSpec};
use k8s_openapi::api::batch::v1::{
    Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyOnPodConditionsPattern,
    PodFailurePolicyRule, SuccessPolicy, SuccessPolicyRule,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, EnvFromSource, EnvVar, EnvVarSource, KeyToPath,
    ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements, SeccompProfile,
    SecretEnvSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use self::chunks::chunked;
pub use self::chunks::{AUTO_CHUNK_TIME, ChunkPlan, MAX_CHUNKS, auto_chunks, format_indexes, parse_indexes};
pub use self::placement::{NodeSelector, Placement, TaintEffect, TolerationSpec};
pub use self::quantities::{Cpu, KubeVersion, Memory, PullPolicy};
pub use self::rbac::render_rbac;
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
/// The deadline of a Job whose run has no timeout: a day.
pub const DEFAULT_JOB_DEADLINE: Duration = Duration::from_secs(24 * 3600);
/// The longest Job deadline accepted: a year (longer is surely a mistake).
pub const MAX_JOB_DEADLINE: Duration = Duration::from_secs(366 * 24 * 3600);

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

/// Everything about the pods that is not the problem: image, resources, reporting.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// The worker image.
    pub image: String,
    /// When to pull it.
    pub image_pull_policy: PullPolicy,
    /// CPUs per pod (requests = limits); the worker hashes on its whole CPUs.
    pub cpu: Cpu,
    /// Memory per pod (requests = limits).
    pub memory: Memory,
    /// Seconds a finished Job is kept before the cluster deletes it.
    pub ttl_seconds_after_finished: i32,
    /// The Job's `activeDeadlineSeconds` when the run has no timeout: every Job gets a
    /// deadline, so that the pods of a coordinator killed mid-run never search forever.
    pub job_deadline: Duration,
    /// How pods report: [`Results::TerminationLog`] (the default, at
    /// [`DEFAULT_TERMINATION_LOG`]; the container's `terminationMessagePath` follows it) or
    /// [`Results::Sqs`], whose queue URL must be set by the time the Job is rendered (a
    /// search sets it once the run's queue exists). [`Results::Stdout`] is invalid: nobody
    /// reads a pod's stdout.
    pub results: Results,
    /// With [`Results::Sqs`]: the Secret whose keys (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, ...) become the worker's environment; none with
    /// IAM roles for service accounts. Credentials are never written inline.
    pub aws_secret: Option<String>,
    /// With [`Results::Sqs`]: the AWS region, if known (`AWS_REGION` in the pods).
    pub aws_region: Option<String>,
    /// A hashing kernel to force in the workers (`CND_KERNEL`).
    pub kernel: Option<Kernel>,
    /// Retries of a crashed index.
    pub backoff_limit_per_index: i32,
    /// Seconds a pod gets between SIGTERM and SIGKILL.
    pub termination_grace_period_seconds: i64,
    /// A ConfigMap whose key `ca.crt` holds the CA certificates (PEM) the worker trusts for
    /// HTTPS (e.g. to SQS through a private CA): mounted read-only at [`CA_DIR`], named by
    /// `SSL_CERT_FILE`. The image's own bundle is used without it.
    pub ca_configmap: Option<String>,
    /// `--node-selector` and `--toleration`: which nodes the pods may go to.
    pub placement: Placement,
    /// Chunks of the range, the Job's `completions` (`--chunks`; default: one per worker).
    /// The run's workers stay the Job's `parallelism`: a pod that ends makes room for the
    /// next pending chunk. See [`ChunkPlan`].
    pub chunks: Option<u32>,
}

/// Where the CA ConfigMap is mounted in a worker (`SSL_CERT_FILE` = this + `/ca.crt`).
pub const CA_DIR: &str = "/etc/cnd/ca";

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            image: DEFAULT_IMAGE.into(),
            image_pull_policy: PullPolicy::default(),
            cpu: Cpu::default(),
            memory: Memory::default(),
            ttl_seconds_after_finished: 300,
            job_deadline: DEFAULT_JOB_DEADLINE,
            results: Results::termination_log(),
            aws_secret: None,
            aws_region: None,
            kernel: None,
            backoff_limit_per_index: 1,
            termination_grace_period_seconds: 10,
            ca_configmap: None,
            placement: Placement::default(),
            chunks: None,
        }
    }
}

impl JobSettings {
    /// Checks what can be checked before a run starts (bad input: exit 2, naming the flag):
    /// pods cannot report on stdout, and an AWS Secret goes only with SQS. The queue URL is
    /// checked by [`render_job`], as a search learns it only once its queue exists.
    pub fn validate(&self) -> Result<()> {
        match (&self.results, &self.aws_secret) {
            (Results::Stdout, _) => Err(Error::Invalid {
                flag: "--results",
                message: "stdout is not read from pods: they report through their termination messages or SQS \
                          (allowed with --backend k8s: termination-log, sqs)"
                    .into(),
            }),
            (Results::TerminationLog(_), Some(_)) => Err(Error::Invalid {
                flag: "--aws-secret",
                message: "only used with --results sqs (allowed: omit it)".into(),
            }),
            _ if self.job_deadline < Duration::from_secs(1) || self.job_deadline > MAX_JOB_DEADLINE => {
                Err(Error::Invalid {
                    flag: "--job-deadline",
                    message: format!(
                        "{}s is out of range (allowed: 1s to {} days)",
                        self.job_deadline.as_secs_f64(),
                        MAX_JOB_DEADLINE.as_secs() / 86400
                    ),
                })
            }
            _ => Ok(()),
        }
    }

    /// The Job's `activeDeadlineSeconds` for a run with this timeout: the timeout (rounded up
    /// to whole seconds), else [`JobSettings::job_deadline`].
    pub fn active_deadline_seconds(&self, timeout: Option<Duration>) -> i64 {
        let deadline = timeout.unwrap_or(self.job_deadline).min(MAX_JOB_DEADLINE);
        deadline.as_secs_f64().ceil().max(1.0) as i64
    }

    /// The file the kubelet reads a pod's termination message from.
    fn termination_message_path(&self) -> &Path {
        match &self.results {
            Results::TerminationLog(path) => path,
            _ => Path::new(DEFAULT_TERMINATION_LOG),
        }
    }
}

fn labels(run_id: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAME_LABEL.to_string(), "cnd".to_string()),
        ("app.kubernetes.io/component".to_string(), "worker".to_string()),
        (RUN_LABEL.to_string(), run_id.to_string()),
    ])
}

/// The worker env contract of DESIGN.md for a run's pods, written by [`WorkerSpec`]: no
/// index (the Job controller sets `JOB_COMPLETION_INDEX` in every pod, which the contract
/// reads), then what only a pod has: `AWS_REGION` and `POD_NAME` from the pod's own name.
fn worker_env(spec: &RunSpec, settings: &JobSettings) -> Vec<EnvVar> {
    let mut worker = WorkerSpec::for_run(spec);
    worker.threads = Some(settings.cpu.threads());
    worker.kernel = settings.kernel;
    worker.results = settings.results.clone();
    let mut env: Vec<EnvVar> = worker
        .to_env()
        .into_iter()
        .map(|(name, value)| EnvVar { name, value: Some(value), ..Default::default() })
        .collect();
    if let (Results::Sqs(_), Some(region)) = (&settings.results, &settings.aws_region) {
        env.push(EnvVar { name: "AWS_REGION".into(), value: Some(region.clone()), ..Default::default() });
    }
    if settings.ca_configmap.is_some() {
        env.push(EnvVar {
            name: "SSL_CERT_FILE".into(),
            value: Some(format!("{CA_DIR}/ca.crt")),
            ..Default::default()
        });
    }
    env.push(EnvVar {
        name: "POD_NAME".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector { field_path: "metadata.name".into(), ..Default::default() }),
            ..Default::default()
        }),
        ..Default::default()
    });
    env
}

/// The run's Job, for an API server of `version`: an Indexed Job of one completion per
/// chunk (`settings.chunks`, else one per worker) run by at most `spec.workers` pods at a
/// time, that
/// the cluster itself stops on the first success (`successPolicy`, servers ≥ 1.31, `first`
/// mode only), on bad input (`podFailurePolicy`: exit 2 fails the Job), on the deadline
/// (`activeDeadlineSeconds` = the run's timeout, rounded up, else the settings'
/// `job_deadline`: every Job has one), and whose exhausted indexes
/// (exit 3) are final while a crashed one is retried once.
///
/// Invalid settings ([`JobSettings::validate`], and [`Results::Sqs`] without a queue URL)
/// are [`Error::Invalid`], naming the flag.
pub fn render_job(spec: &RunSpec, settings: &JobSettings, version: KubeVersion) -> Result<Job> {
    if !version.supported() {
        return Err(Error::TooOld { found: version.to_string() });
    }
    settings.validate()?;
    if let Results::Sqs(target) = &settings.results
        && target.queue_url.as_deref().is_none_or(|q| q.trim().is_empty())
    {
        return Err(Error::Invalid {
            flag: "--sqs-queue-url",
            message: "required to render a Job with --results sqs (a search creates a queue per run; a manifest \
                      needs one given)"
                .into(),
        });
    }
    let workers = i32::try_from(spec.workers).ok().filter(|w| *w >= 1 && *w <= 100_000).ok_or(Error::Invalid {
        flag: "--workers",
        message: format!("{} pods is out of range (allowed: 1..=100000)", spec.workers),
    })?;
    let plan = ChunkPlan::new(spec, settings.chunks)?;
    let completions = plan.len() as i32; // at most MAX_CHUNKS
    // The pods' contract: CND_WORKER_COUNT is the chunk count.
    let spec = &chunked(spec, &plan);
    let resources: BTreeMap<String, Quantity> =
        BTreeMap::from([("cpu".into(), settings.cpu.quantity()), ("memory".into(), settings.memory.quantity())]);
    let env_from = settings.aws_secret.as_ref().map(|secret| {
        vec![EnvFromSource {
            secret_ref: Some(SecretEnvSource { name: secret.clone(), optional: Some(false) }),
            ..Default::default()
        }]
    });
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
        volume_mounts: settings.ca_configmap.as_ref().map(|_| {
            vec![VolumeMount {
                name: "ca".into(),
                mount_path: CA_DIR.into(),
                read_only: Some(true),
                ..Default::default()
            }]
        }),
        resources: Some(ResourceRequirements {
            requests: Some(resources.clone()),
            limits: Some(resources),
            ..Default::default()
        }),
        termination_message_path: Some(settings.termination_message_path().display().to_string()),
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
    let mut pod = PodSpec {
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
        volumes: settings.ca_configmap.as_ref().map(|name| {
            let items = vec![KeyToPath { key: "ca.crt".into(), path: "ca.crt".into(), ..Default::default() }];
            let source = ConfigMapVolumeSource {
                name: name.clone(),
                items: Some(items),
                optional: Some(false),
                ..Default::default()
            };
            vec![Volume { name: "ca".into(), config_map: Some(source), ..Default::default() }]
        }),
        ..Default::default()
    };
    settings.placement.apply(&mut pod);
    let exit_codes = |action: &str, exit: Exit| PodFailurePolicyRule {
        action: action.into(),
        on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
            container_name: Some(CONTAINER.into()),
            operator: "In".into(),
            values: vec![i32::from(exit.code())],
        }),
        ..Default::default()
    };
    let pod_failure_policy = PodFailurePolicy {
        rules: vec![
            // Bad input: every index would fail the same way.
            exit_codes("FailJob", Exit::Usage),
            // Exhausted: the index's range holds no golden nonce; retrying cannot help.
            exit_codes("FailIndex", Exit::Exhausted),
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
            completions: Some(completions),
            parallelism: Some(workers.min(completions)),
            backoff_limit_per_index: Some(settings.backoff_limit_per_index),
            pod_failure_policy: Some(pod_failure_policy),
            success_policy,
            active_deadline_seconds: Some(settings.active_deadline_seconds(spec.timeout)),
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

/// One Kubernetes object as a YAML document (with `apiVersion` and `kind`).
pub fn to_yaml<K: serde::Serialize>(object: &K) -> String {
    // k8s_openapi's Serialize writes apiVersion and kind; going through JSON values keeps
    // every string a string in the YAML (e.g. "1" for a CPU, "0" for CND_START).
    let value = serde_json::to_value(object).expect("Kubernetes objects serialise");
    serde_saphyr::to_string(&value).expect("JSON values serialise as YAML")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use cnd_core::{ContractError, NonceRange, Problem, SqsTarget};

    use super::*;

    fn spec(workers: u32, mode: Mode) -> RunSpec {
        let mut s = RunSpec::new(Problem::text("COMSM0010cloud", 24).unwrap(), workers, mode);
        s.run_id = "0123456789".into();
        s
    }

    fn container(job: &Job) -> &Container {
        &job.spec.as_ref().unwrap().template.spec.as_ref().unwrap().containers[0]
    }

    /// The plain values of a container's env (`valueFrom` ones left out).
    fn values(c: &Container) -> BTreeMap<&str, &str> {
        c.env.as_ref().unwrap().iter().filter_map(|e| Some((e.name.as_str(), e.value.as_deref()?))).collect()
    }

    /// What the worker of pod `index` reads: the container's env plus what the kubelet adds.
    fn read_in_pod(c: &Container, index: u32) -> Result<WorkerSpec, ContractError> {
        let mut env: BTreeMap<String, String> =
            values(c).into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.insert("JOB_COMPLETION_INDEX".into(), index.to_string());
        env.insert("POD_NAME".into(), format!("cnd-x-{index}-abcde"));
        WorkerSpec::from_env(|k| env.get(k).cloned())
    }

    fn sqs(queue_url: Option<&str>) -> Results {
        Results::Sqs(SqsTarget {
            queue_url: queue_url.map(str::to_string),
            endpoint_url: Some("http://10.88.77.1:5000".into()),
        })
    }

    fn invalid(settings: &JobSettings) -> String {
        let e = render_job(&spec(1, Mode::First), settings, KubeVersion::LATEST).unwrap_err();
        assert!(matches!(e, Error::Invalid { .. }), "{e:?}");
        e.to_string()
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
        let env = values(c);
        assert_eq!(env["CND_BLOCK_HEX"], "434f4d534d30303130636c6f7564");
        assert_eq!(env["CND_DIFFICULTY"], "24");
        assert_eq!(env["CND_RESULTS"], "termination-log");
        assert_eq!(env["CND_TERMINATION_LOG"], "/dev/termination-log");
        assert_eq!(env["CND_THREADS"], "1");
        assert_eq!(env["CND_WORKER_COUNT"], "4");
        assert!(!env.contains_key("CND_WORKER_INDEX"), "the index comes from JOB_COMPLETION_INDEX");
        assert_eq!(c.termination_message_path.as_deref(), Some("/dev/termination-log"));
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.capabilities.as_ref().unwrap().drop.as_deref(), Some(&["ALL".to_string()][..]));
        let pod_name = c.env.as_ref().unwrap().iter().find(|e| e.name == "POD_NAME").unwrap();
        assert_eq!(pod_name.value_from.as_ref().unwrap().field_ref.as_ref().unwrap().field_path, "metadata.name");
    }

    #[test]
    fn chunks_are_the_completions_and_workers_the_parallelism() {
        let mut s = spec(2, Mode::Lowest);
        s.problem = s.problem.with_range(NonceRange::new(0, 800).unwrap()).unwrap();
        let settings = JobSettings { chunks: Some(8), ..Default::default() };
        let job = render_job(&s, &settings, KubeVersion::LATEST).unwrap();
        let js = job.spec.as_ref().unwrap();
        assert_eq!((js.completions, js.parallelism), (Some(8), Some(2)));
        let c = container(&job);
        assert_eq!(values(c)["CND_WORKER_COUNT"], "8", "the contract counts chunks, not pods");
        // Pod of index 5 searches chunk 5 of 8, whatever the pod count.
        assert_eq!(read_in_pod(c, 5).unwrap().partition(), Some(NonceRange::new(500, 600).unwrap()));
        // Fewer chunks than workers: no idle pod is asked for.
        let one = JobSettings { chunks: Some(1), ..Default::default() };
        let js = render_job(&spec(4, Mode::First), &one, KubeVersion::LATEST).unwrap().spec.unwrap();
        assert_eq!((js.completions, js.parallelism), (Some(1), Some(1)));
        let e = render_job(&s, &JobSettings { chunks: Some(0), ..Default::default() }, KubeVersion::LATEST);
        assert!(e.unwrap_err().to_string().starts_with("--chunks: "));
    }

    #[test]
    fn every_job_has_a_deadline_the_timeout_or_the_job_deadline() {
        let deadline = |timeout: Option<Duration>, settings: &JobSettings| {
            let mut s = spec(1, Mode::First);
            s.timeout = timeout;
            render_job(&s, settings, KubeVersion::LATEST).unwrap().spec.unwrap().active_deadline_seconds
        };
        let default = JobSettings::default();
        assert_eq!(deadline(None, &default), Some(86_400), "a day without a timeout");
        let hour = JobSettings { job_deadline: Duration::from_secs(3600), ..Default::default() };
        assert_eq!(deadline(None, &hour), Some(3600));
        assert_eq!(deadline(Some(Duration::from_millis(1500)), &hour), Some(2), "the timeout, rounded up");
        for bad in [Duration::ZERO, MAX_JOB_DEADLINE + Duration::from_secs(1)] {
            let e = JobSettings { job_deadline: bad, ..Default::default() }.validate().unwrap_err().to_string();
            assert!(e.starts_with("--job-deadline: ") && e.ends_with("(allowed: 1s to 366 days)"), "{e}");
        }
    }

    #[test]
    fn each_pod_reads_back_the_run_with_its_own_index() {
        let mut s = spec(4, Mode::Lowest);
        s.problem = s.problem.with_range(NonceRange::new(10, 1_000_010).unwrap()).unwrap();
        let settings = JobSettings {
            cpu: "2".parse().unwrap(),
            kernel: Some(Kernel::Portable),
            results: Results::TerminationLog("/tmp/report".into()),
            ..Default::default()
        };
        let c = container(&render_job(&s, &settings, KubeVersion::LATEST).unwrap()).clone();
        assert_eq!(c.termination_message_path.as_deref(), Some("/tmp/report"), "the kubelet reads where it writes");
        for index in 0..4 {
            let mut expected = WorkerSpec::for_run(&s);
            expected.index = Some(index);
            expected.threads = Some(2);
            expected.kernel = Some(Kernel::Portable);
            expected.results = Results::TerminationLog(PathBuf::from("/tmp/report"));
            expected.source = Some(format!("cnd-x-{index}-abcde"));
            assert_eq!(read_in_pod(&c, index).unwrap(), expected);
        }
    }

    #[test]
    fn exit_codes_of_the_failure_policy_are_the_workers() {
        let job = render_job(&spec(2, Mode::First), &JobSettings::default(), KubeVersion::LATEST).unwrap();
        let rules = job.spec.unwrap().pod_failure_policy.unwrap().rules;
        let codes = |action: &str| {
            rules.iter().find(|r| r.action == action).and_then(|r| r.on_exit_codes.as_ref()).unwrap().values.clone()
        };
        assert_eq!(codes("FailJob"), [2], "bad input fails the Job");
        assert_eq!(codes("FailIndex"), [3], "an exhausted index is final");
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
            results: sqs(Some("http://10.88.77.1:5000/000000000000/q")),
            aws_secret: Some("cnd-aws".into()),
            aws_region: Some("us-east-1".into()),
            ..Default::default()
        };
        let job = render_job(&s, &settings, KubeVersion::LATEST).unwrap();
        let c = container(&job);
        let names: Vec<_> = c.env.as_ref().unwrap().iter().map(|e| e.name.as_str()).collect();
        assert!(!names.contains(&"CND_DIFFICULTY"));
        assert!(!names.iter().any(|n| n.contains("SECRET") || n.contains("ACCESS_KEY")));
        let env = values(c);
        assert_eq!(env["CND_RESULTS"], "sqs");
        assert_eq!(env["CND_SQS_QUEUE_URL"], "http://10.88.77.1:5000/000000000000/q");
        assert_eq!(env["CND_SQS_ENDPOINT_URL"], "http://10.88.77.1:5000");
        assert_eq!(env["AWS_REGION"], "us-east-1");
        assert_eq!(c.env_from.as_ref().unwrap()[0].secret_ref.as_ref().unwrap().name, "cnd-aws");
        assert_eq!(read_in_pod(c, 0).unwrap().results, settings.results);
    }

    #[test]
    fn settings_pods_cannot_use_are_named_by_their_flag() {
        let stdout = JobSettings { results: Results::Stdout, ..Default::default() };
        assert!(stdout.validate().is_err());
        let e = invalid(&stdout);
        assert!(
            e.starts_with("--results: ") && e.ends_with("(allowed with --backend k8s: termination-log, sqs)"),
            "{e}"
        );

        let secret = JobSettings { aws_secret: Some("cnd-aws".into()), ..Default::default() };
        assert_eq!(invalid(&secret), "--aws-secret: only used with --results sqs (allowed: omit it)");

        // A search sets the queue URL once the queue exists: valid before, not renderable.
        let no_queue = JobSettings { results: sqs(None), aws_secret: Some("cnd-aws".into()), ..Default::default() };
        assert!(no_queue.validate().is_ok());
        assert_eq!(
            invalid(&no_queue),
            "--sqs-queue-url: required to render a Job with --results sqs (a search creates a queue per run; a \
             manifest needs one given)"
        );
        assert!(invalid(&JobSettings { results: sqs(Some(" ")), ..Default::default() }).starts_with("--sqs-queue-url"));
        // A region without SQS is not an error (it may come from the environment): unused.
        let region = JobSettings { aws_region: Some("eu-west-2".into()), ..Default::default() };
        let job = render_job(&spec(1, Mode::First), &region, KubeVersion::LATEST).unwrap();
        assert!(!values(container(&job)).contains_key("AWS_REGION"));
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

    #[test]
    fn a_ca_configmap_is_mounted_read_only_and_named_by_ssl_cert_file() {
        let settings = JobSettings { ca_configmap: Some("corp-ca".into()), ..Default::default() };
        let job = render_job(&spec(1, Mode::First), &settings, KubeVersion::LATEST).unwrap();
        let pod = job.spec.unwrap().template.spec.unwrap();
        let volume = &pod.volumes.as_ref().unwrap()[0];
        assert_eq!(volume.config_map.as_ref().unwrap().name, "corp-ca");
        let c = &pod.containers[0];
        let mount = &c.volume_mounts.as_ref().unwrap()[0];
        assert_eq!((mount.name.as_str(), mount.mount_path.as_str(), mount.read_only), ("ca", CA_DIR, Some(true)));
        let env = c.env.as_ref().unwrap();
        let cert_file = env.iter().find(|e| e.name == "SSL_CERT_FILE").and_then(|e| e.value.as_deref());
        assert_eq!(cert_file, Some("/etc/cnd/ca/ca.crt"));
        let plain = render_job(&spec(1, Mode::First), &JobSettings::default(), KubeVersion::LATEST).unwrap();
        let plain = plain.spec.unwrap().template.spec.unwrap();
        assert!(
            plain.volumes.is_none()
                && !plain.containers[0].env.as_ref().unwrap().iter().any(|e| e.name == "SSL_CERT_FILE")
        );
    }
}
