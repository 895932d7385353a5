//! The flags of a search (the top-level command): where it runs, how many workers, which
//! nonce, how results come back, the Kubernetes pods' settings and the planner's inputs.

use std::time::Duration;

use clap::builder::TypedValueParser as _;
use clap::{Args, ValueEnum};
use cnd_core::{Mode, Results};

use super::problem::ProblemArgs;
use super::values::{
    Chunks, Workers, parse_chunks, parse_confidence, parse_duration, parse_rate, parse_startup, parse_workers,
};

/// Where the search runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// Threads on every core of this machine.
    Local,
    /// N `cnd worker` processes on this machine (a local stand-in for pods).
    Process,
    /// An Indexed Job on a Kubernetes cluster.
    K8s,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Any golden nonce: the first one found.
    First,
    /// The smallest golden nonce of the range (deterministic).
    Lowest,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::First => Mode::First,
            ModeArg::Lowest => Mode::Lowest,
        }
    }
}

/// `--kernel`, wherever a kernel can be forced.
#[derive(Debug, Clone, Args)]
pub struct KernelArgs {
    /// Force a hashing kernel (avx512, hybrid, sha-ni, avx2, portable) [default: the fastest here, as
    /// measured once per CPU and binary and cached (`-v` says which and why); bench: every
    /// kernel this CPU runs].
    #[arg(long, env = "CND_KERNEL", value_name = "NAME")]
    pub kernel: Option<String>,
}

/// How a run is split and bounded: of a search and of `cnd k8s manifest`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Workers: threads (local), processes (process) or pods (k8s); `auto` plans them from
    /// --deadline and --confidence [default: all cores for local, 2 otherwise].
    #[arg(long, env = "CND_WORKERS", value_name = "N|auto", value_parser = parse_workers)]
    pub workers: Option<Workers>,

    /// Which golden nonce to return (k8s: lowest renders no successPolicy).
    #[arg(long, env = "CND_MODE", value_enum, default_value = "first")]
    pub mode: ModeArg,

    /// Give up after this long (e.g. 30s, 5m, 1h30m); exit 4 (k8s: the Job's
    /// activeDeadlineSeconds).
    #[arg(long, env = "CND_TIMEOUT", value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    pub timeout: Option<Duration>,

    #[command(flatten)]
    pub kernel: KernelArgs,
}

/// The top-level search.
#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub problem: ProblemArgs,

    /// Where the search runs.
    #[arg(long, env = "CND_BACKEND", value_enum, default_value = "local")]
    pub backend: Backend,

    #[command(flatten)]
    pub run: RunArgs,

    /// Print one JSON object instead of the human report.
    #[arg(long, env = "CND_JSON", global = true)]
    pub json: bool,

    /// Print only the result (no progress, warnings as errors only).
    #[arg(short, long, env = "CND_QUIET", global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// More logging (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(flatten)]
    pub plan: AutoArgs,

    #[command(flatten)]
    pub results: ResultsArgs,

    #[command(flatten)]
    pub k8s: K8sRunArgs,
}

/// Planner flags: of `cnd plan`, and of a search with `--workers auto`.
#[derive(Debug, Clone, Args)]
pub struct AutoArgs {
    /// The time by which a golden nonce should be found (cnd plan, --workers auto).
    #[arg(long, env = "CND_DEADLINE", value_name = "DURATION", value_parser = parse_duration, allow_hyphen_values = true)]
    pub deadline: Option<Duration>,

    /// The probability of meeting the deadline, strictly between 0 and 1 [default: 0.95].
    #[arg(long, env = "CND_CONFIDENCE", value_name = "P", value_parser = parse_confidence, allow_hyphen_values = true)]
    pub confidence: Option<f64>,

    /// Hashes per second of one worker, e.g. 211000, 3.5M [default: the calibrated per-CPU
    /// rate times the worker's CPUs].
    #[arg(long, env = "CND_RATE", value_name = "R", value_parser = parse_rate, allow_hyphen_values = true)]
    pub rate: Option<f64>,

    /// Delay from the start of the run until the workers hash, e.g. 0, 500ms, 8s [default:
    /// 0 local, 100ms process, 5s k8s].
    #[arg(long, env = "CND_STARTUP", value_name = "DURATION", value_parser = parse_startup, allow_hyphen_values = true)]
    pub startup: Option<Duration>,

    /// Never plan more workers than this.
    #[arg(long, env = "CND_MAX_WORKERS", value_name = "M", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_workers: Option<u32>,
}

/// Result-channel flags: how workers report back.
#[derive(Debug, Clone, Args)]
pub struct ResultsArgs {
    /// How workers report back [default: stdout for processes, termination-log for k8s].
    #[arg(long, env = "CND_RESULTS", value_name = "CHANNEL",
          value_parser = clap::builder::PossibleValuesParser::new(Results::NAMES).try_map(|s| s.parse::<Results>()))]
    pub results: Option<Results>,

    /// A shared SQS queue to use instead of a queue per run (other runs' messages are left
    /// in it).
    #[arg(long, env = "CND_SQS_QUEUE_URL", value_name = "URL")]
    pub sqs_queue_url: Option<String>,

    /// SQS endpoint override (e.g. a local SQS-protocol server); also AWS_ENDPOINT_URL.
    #[arg(long, env = "CND_SQS_ENDPOINT_URL", value_name = "URL")]
    pub sqs_endpoint_url: Option<String>,
}

/// Which cluster and namespace: of a run, and of `cnd k8s status|cleanup`.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Namespace [default: the kubeconfig context's] (k8s).
    #[arg(long, env = "CND_NAMESPACE", value_name = "NS")]
    pub namespace: Option<String>,

    /// Kubeconfig context [default: the current one] (k8s).
    #[arg(long, env = "CND_CONTEXT", value_name = "NAME")]
    pub context: Option<String>,
}

/// Kubernetes flags of a run.
#[derive(Debug, Clone, Args)]
pub struct K8sRunArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,

    /// Worker image: the static cnd binary, e.g. built by deploy/build-image.sh (k8s backend).
    #[arg(long, env = "CND_IMAGE", value_name = "IMAGE", default_value = "localhost/cnd:dev")]
    pub image: String,

    /// When nodes pull the image: Always, IfNotPresent or Never (k8s backend).
    #[arg(long, env = "CND_IMAGE_PULL_POLICY", value_name = "POLICY", default_value = "IfNotPresent")]
    pub image_pull_policy: String,

    /// CPUs per pod, requests = limits: whole CPUs (1, 2) or a fraction (0.5, 500m); the
    /// worker runs max(1, whole CPUs) threads (k8s backend).
    #[arg(long, env = "CND_CPU", value_name = "N", default_value = "1")]
    pub cpu: String,

    /// Memory per pod, requests = limits, e.g. 64Mi (k8s backend).
    #[arg(long, env = "CND_MEMORY", value_name = "SIZE", default_value = "128Mi")]
    pub memory: String,

    /// How long the cluster keeps a finished Job a coordinator could not delete
    /// (ttlSecondsAfterFinished) (k8s backend).
    #[arg(long, env = "CND_TTL", value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub ttl: Duration,

    /// With --results sqs: a Secret whose keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_REGION, ...) become the workers' environment; credentials never go inline;
    /// checked before anything is created (k8s backend).
    #[arg(long, env = "CND_AWS_SECRET", value_name = "SECRET")]
    pub aws_secret: Option<String>,

    /// A ConfigMap whose key ca.crt holds the CA certificates (PEM) the pods trust for HTTPS,
    /// e.g. a private CA in front of SQS; mounted read-only, named by SSL_CERT_FILE [default:
    /// the image's CA bundle] (k8s backend).
    #[arg(long, env = "CND_CA_CONFIGMAP", value_name = "CONFIGMAP")]
    pub ca_configmap: Option<String>,

    /// End the run (exit 4) when pods stay unschedulable this long with none scheduled
    /// meanwhile (an autoscaler that adds no node); shown in the progress line (k8s backend).
    #[arg(long, env = "CND_PENDING_TIMEOUT", value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub pending_timeout: Duration,

    /// The Job's activeDeadlineSeconds when there is no --timeout: the cluster stops the pods
    /// of a run whose coordinator was killed after this long (k8s backend).
    #[arg(long, env = "CND_JOB_DEADLINE", value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    pub job_deadline: Duration,

    /// Schedule the pods only on nodes with this label, KEY=VALUE; repeatable, e.g. a spot or
    /// dedicated node pool (k8s backend).
    #[arg(long = "node-selector", env = "CND_NODE_SELECTOR", value_name = "KEY=VALUE", value_delimiter = ',')]
    pub node_selector: Vec<String>,

    /// Let the pods go to nodes with this taint, KEY[=VALUE]:EFFECT, EFFECT one of NoSchedule,
    /// PreferNoSchedule, NoExecute; repeatable (k8s backend).
    #[arg(long = "toleration", env = "CND_TOLERATION", value_name = "KEY[=VALUE]:EFFECT", value_delimiter = ',')]
    pub toleration: Vec<String>,

    /// Partitions of the range, the Job's completions: N (1..=100000) or auto (about a
    /// minute each on one pod at the planned rate); --workers pods run them, the next
    /// pending chunk starting as a pod ends [default: one per worker] (k8s backend only).
    #[arg(long, value_name = "N|auto", value_parser = parse_chunks)]
    pub chunks: Option<Chunks>,

    /// Create the run (its Job and record), print its run id and exit 0: the cluster
    /// finishes it; `cnd k8s attach RUN` reads the answer. A detached Job is kept a week
    /// after it ends (ttlSecondsAfterFinished) (k8s backend only).
    #[arg(long)]
    pub detach: bool,
}
