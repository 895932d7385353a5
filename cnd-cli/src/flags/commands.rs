//! The flags of the subcommands: `verify`, `worker`, `plan`, `bench`, `k8s` and `sqs`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::problem::ProblemArgs;
use super::search::{AutoArgs, Backend, ClusterArgs, K8sRunArgs, KernelArgs, ResultsArgs, RunArgs};
use super::values::{Workers, parse_cpus, parse_duration, parse_nonce, parse_startup, parse_workers};

/// Check a claimed nonce: exit 0 if it is golden and in range, 1 if not.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The nonce to check.
    #[arg(long, env = "CND_NONCE", value_parser = parse_nonce)]
    pub nonce: u64,

    #[command(flatten)]
    pub problem: ProblemArgs,
}

/// Run as a worker: reads the CND_* environment contract, searches its partition with every
/// thread, prints one JSON report line, exits 0/1/2/3/4.
#[derive(Debug, Args)]
#[command(after_long_help = cnd_core::ENV_HELP)]
pub struct WorkerArgs {}

/// How many workers for a deadline and a confidence.
///
/// Prints the smallest worker count W for which a golden nonce is found by the deadline with
/// at least that confidence, the expected time and its 50/95/99 % quantiles with W, and the
/// expected cost in worker-seconds. Exits 2 when no W can meet the deadline (the range
/// holds too few nonces, or --max-workers caps W).
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  cnd plan -d 26 --deadline 60s --confidence 0.95 --rate 211000\n  cnd plan -d 32 \
                        --deadline 10m --confidence 0.99 --end 100000000000 --json")]
pub struct PlanArgs {
    #[command(flatten)]
    pub problem: ProblemArgs,

    #[command(flatten)]
    pub auto: AutoArgs,

    /// CPUs per worker: the rate per worker is this times the per-CPU rate (when --rate is
    /// not given).
    #[arg(long, env = "CND_CPU", value_name = "N", default_value = "1", value_parser = parse_cpus)]
    pub cpu: f64,

    /// Plan for this backend's workers (threads, processes, pods) and start-up delay;
    /// k8s: from the run history of the cluster's recent runs when it has any [default: a
    /// worker of --cpu CPUs, no start-up delay].
    #[arg(long, env = "CND_BACKEND", value_enum, value_name = "BACKEND")]
    pub backend: Option<Backend>,

    /// Kubeconfig context whose runs the history gives (k8s) [default: the current one].
    #[arg(long, env = "CND_CONTEXT", value_name = "NAME")]
    pub context: Option<String>,
}

/// Kernel hash rates per backend, calibration of the per-CPU rate, and scaling over 1..N
/// workers.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub kernel: KernelArgs,

    /// Seconds per measurement.
    #[arg(long, default_value_t = 1.0, value_name = "S")]
    pub seconds: f64,

    /// Repeats per measurement (mean ± σ).
    #[arg(long, default_value_t = 3, value_name = "K")]
    pub repeats: u32,

    /// Measure every kernel on one thread (recorded in the cache for the choice of kernel:
    /// `cnd` then uses the fastest) and this machine's hash rate per CPU with it (stored for
    /// `cnd plan`).
    #[arg(long, conflicts_with = "scaling")]
    pub calibrate: bool,

    /// Time to solution over 1..N workers (see --workers, --runs, -d, --plot).
    #[arg(long)]
    pub scaling: bool,

    /// Scaling: the worker counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2", value_name = "N,N,...", value_parser = parse_workers)]
    pub workers: Vec<Workers>,

    /// Scaling: searches per worker count, each on a distinct block (--block with a random
    /// suffix).
    #[arg(long, default_value_t = 10, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,

    /// Scaling: draw time to solution against workers into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// Scaling: where the searches run.
    #[arg(long, env = "CND_BACKEND", value_enum, default_value = "local")]
    pub backend: Backend,

    /// Scaling: the problem (-d defaults to 20; each run appends a random suffix to the block).
    #[command(flatten)]
    pub problem: ProblemArgs,

    #[command(flatten)]
    pub results: ResultsArgs,

    #[command(flatten)]
    pub k8s: K8sRunArgs,
}

/// Kubernetes commands.
#[derive(Debug, Args)]
pub struct K8sArgs {
    #[command(subcommand)]
    pub command: K8sCommand,
}

/// `cnd k8s ...`.
#[derive(Debug, Subcommand)]
pub enum K8sCommand {
    /// Print the Job a search would create, as YAML (and, with --rbac, what the coordinator
    /// needs to create it).
    Manifest(Box<ManifestArgs>),
    /// Runs in the namespace (or one run) and their pods by phase.
    Status(StatusArgs),
    /// Delete what a run (or every run) left behind: its Job and its record, then wait for
    /// its pods.
    Cleanup(CleanupArgs),
    /// Follow a run (e.g. one started with --detach, or whose coordinator was killed) to its
    /// end, as if started here: the verified nonce, the exit code, the cleanup.
    Attach(AttachArgs),
    /// Go on with a run whose Job failed or was deleted: a new Job over the chunks not yet
    /// done (from the run's record and the old Job's pods), followed as by attach.
    Resume(AttachArgs),
}

/// `cnd k8s attach` and `cnd k8s resume`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// The run's id (printed by --detach; `cnd k8s status` lists runs).
    pub run: String,

    /// End the run (exit 4) after this long [default: no limit but the Job's deadline].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `cnd k8s manifest`.
#[derive(Debug, Args)]
pub struct ManifestArgs {
    #[command(flatten)]
    pub problem: ProblemArgs,

    #[command(flatten)]
    pub run: RunArgs,

    /// Render for this Kubernetes version, e.g. 1.29 (no successPolicy before 1.31)
    /// [default: the newest this cnd knows].
    #[arg(long, value_name = "MAJOR.MINOR")]
    pub kube_version: Option<String>,

    /// Also print the ServiceAccount, Role and RoleBinding a coordinator needs.
    #[arg(long)]
    pub rbac: bool,

    /// The run id to render [default: a fresh one].
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,

    #[command(flatten)]
    pub results: ResultsArgs,

    #[command(flatten)]
    pub k8s: K8sRunArgs,
}

/// `cnd k8s status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// One run's id [default: every run].
    pub run: Option<String>,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `cnd k8s cleanup`.
#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// The run's id.
    pub run: Option<String>,

    /// Every cnd run in the namespace.
    #[arg(long, conflicts_with = "run")]
    pub all: bool,

    /// How long to wait for the pods to be gone.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub wait: Duration,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// SQS commands.
#[derive(Debug, Args)]
pub struct SqsArgs {
    #[command(subcommand)]
    pub command: SqsCommand,
}

/// `cnd sqs ...`.
#[derive(Debug, Subcommand)]
pub enum SqsCommand {
    /// Delete the queues that runs left behind (a coordinator killed with SIGKILL): queues
    /// named cnd-* and tagged cnd.dev/run-id, never a shared queue.
    Cleanup(SqsCleanupArgs),
}

/// `cnd sqs cleanup`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  cnd sqs cleanup --older-than 1d      queues of runs created over a day ago\n  cnd sqs \
                        cleanup --run 3f2a9c1d0b   one run's queue\n  cnd sqs cleanup --older-than 0s      every run's \
                        queue (also of runs still going)"
)]
pub struct SqsCleanupArgs {
    /// Only queues created longer ago than this (tag cnd.dev/created-at), e.g. 1h, 1d.
    #[arg(long, env = "CND_OLDER_THAN", value_name = "DURATION", value_parser = parse_startup)]
    pub older_than: Option<Duration>,

    /// Only this run's queue (tag cnd.dev/run-id).
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,

    /// SQS endpoint override (e.g. a local SQS-protocol server); also AWS_ENDPOINT_URL.
    #[arg(long, env = "CND_SQS_ENDPOINT_URL", value_name = "URL")]
    pub sqs_endpoint_url: Option<String>,

    /// AWS region [default: AWS_REGION, the profile's].
    #[arg(long, env = "CND_SQS_REGION", value_name = "REGION")]
    pub region: Option<String>,
}
