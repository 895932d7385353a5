//! `--backend k8s` and `cnd k8s manifest|status|cleanup`.
//!
//! The flags are always defined, so that `cnd --help` is the same in every build; the work
//! is done by `enabled` (feature `k8s`) or answered with one clear error by `disabled`, as
//! ripgrep does for its optional features.

use std::time::Duration;

use clap::{Args, Subcommand};
use cnd_core::{Dispatcher, RunSpec};

use crate::args::{Globals, ModeArg, ProblemArgs, SearchArgs, parse_duration};
use crate::exit::Exit;
use crate::results::ResultsArgs;

/// Kubernetes flags of a search.
#[derive(Debug, Clone, Args)]
pub struct K8sRunArgs {
    /// Namespace of the run's Job [default: the kubeconfig context's] (k8s backend).
    #[arg(long, env = "CND_NAMESPACE", value_name = "NS")]
    pub namespace: Option<String>,

    /// Kubeconfig context [default: the current one] (k8s backend).
    #[arg(long, env = "CND_CONTEXT", value_name = "NAME")]
    pub context: Option<String>,

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
    /// AWS_REGION, ...) become the workers' environment; credentials never go inline
    /// (k8s backend).
    #[arg(long, env = "CND_AWS_SECRET", value_name = "SECRET")]
    pub aws_secret: Option<String>,
}

/// Which cluster and namespace (`cnd k8s status|cleanup`).
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Namespace [default: the kubeconfig context's].
    #[arg(long, env = "CND_NAMESPACE", value_name = "NS")]
    pub namespace: Option<String>,

    /// Kubeconfig context [default: the current one].
    #[arg(long, env = "CND_CONTEXT", value_name = "NAME")]
    pub context: Option<String>,
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
    /// Delete what a run (or every run) left behind: its Job, then wait for its pods.
    Cleanup(CleanupArgs),
}

/// `cnd k8s manifest`.
#[derive(Debug, Args)]
pub struct ManifestArgs {
    #[command(flatten)]
    pub problem: ProblemArgs,

    /// Workers: the Job's completions and parallelism.
    #[arg(long, env = "CND_WORKERS", value_name = "N", default_value_t = 2)]
    pub workers: u32,

    /// Which golden nonce to return (lowest: no successPolicy).
    #[arg(long, env = "CND_MODE", value_enum, default_value = "first")]
    pub mode: ModeArg,

    /// The run's time limit: the Job's activeDeadlineSeconds.
    #[arg(long, env = "CND_TIMEOUT", value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Force a hashing kernel in the workers (CND_KERNEL).
    #[arg(long, env = "CND_KERNEL", value_name = "NAME")]
    pub kernel: Option<String>,

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

pub use imp::{dispatcher, run};

#[cfg(feature = "k8s")]
use enabled as imp;

#[cfg(not(feature = "k8s"))]
use disabled as imp;

#[cfg(feature = "k8s")]
mod enabled {
    use std::sync::atomic::AtomicBool;
    use std::time::Instant;

    use cnd_core::{Format, Kernel, Mode, NonceRange, Prepared, Problem};
    use cnd_k8s::{
        ClientOptions, DispatcherSettings, JobSettings, K8sDispatcher, KubeVersion, Results, connect, render_job,
        render_rbac, to_yaml,
    };

    use super::*;
    use crate::exit::usage;
    use crate::results::ResultsMode;

    /// A `cnd-k8s` error as the CLI reports it: bad settings are usage errors (exit 2).
    fn cli_error(e: cnd_k8s::Error) -> anyhow::Error {
        match e {
            cnd_k8s::Error::Invalid { .. } => usage(e.to_string()),
            e => anyhow::Error::new(cnd_core::DispatchError::from(e)),
        }
    }

    /// The pods' settings from the flags.
    fn job_settings(k8s: &K8sRunArgs, results: &ResultsArgs, kernel: Option<&str>) -> anyhow::Result<JobSettings> {
        let ttl = i32::try_from(k8s.ttl.as_secs()).map_err(|_| usage("--ttl: too long (allowed: up to 68 years)"))?;
        let results = match results.results {
            None | Some(ResultsMode::TerminationLog) => Results::TerminationLog,
            Some(ResultsMode::Stdout) => {
                return Err(usage(
                    "--results stdout: pods report through their termination messages or SQS (allowed with --backend k8s: termination-log, sqs)",
                ));
            }
            Some(ResultsMode::Sqs) => Results::Sqs {
                queue_url: results.sqs_queue_url.clone().unwrap_or_default(),
                endpoint_url: results.sqs_endpoint_url.clone(),
                aws_secret: k8s.aws_secret.clone(),
                region: std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION")).ok(),
            },
        };
        if k8s.aws_secret.is_some() && !matches!(results, Results::Sqs { .. }) {
            return Err(usage("--aws-secret: only used with --results sqs (allowed: omit it)"));
        }
        Ok(JobSettings {
            image: k8s.image.clone(),
            image_pull_policy: k8s.image_pull_policy.parse().map_err(cli_error)?,
            cpu: k8s.cpu.parse().map_err(cli_error)?,
            memory: k8s.memory.parse().map_err(cli_error)?,
            ttl_seconds_after_finished: ttl,
            results,
            kernel: kernel.filter(|k| !k.trim().is_empty()).map(str::to_string),
            ..JobSettings::default()
        })
    }

    /// The run's planned hash rate: this machine's kernel speed on one thread (measured for
    /// a moment) × threads per pod × pods. An estimate: the nodes' CPUs may differ.
    fn planned_rate(problem: &Problem, threads_per_pod: u32, pods: u32) -> Option<f64> {
        // The same message layout, with a goal no digest meets: a scan of known length.
        let probe = match problem.format() {
            Format::Text => Problem::text(problem.block().to_vec(), 256).ok()?,
            Format::Bitcoin => Problem::bitcoin(problem.block(), Some(256)).ok()?,
        };
        let probe = probe.with_range(NonceRange::new(0, 200_000).ok()?).ok()?;
        let prepared = Prepared::new(&probe);
        let started = Instant::now();
        let scan = Kernel::best().scan(&prepared, probe.range(), &AtomicBool::new(false));
        let secs = started.elapsed().as_secs_f64();
        (secs > 0.0).then(|| scan.hashes as f64 / secs * f64::from(threads_per_pod) * f64::from(pods))
    }

    /// The Kubernetes dispatcher for this search. With `--results sqs`, the run's queue is
    /// opened here (after every setting is checked and the cluster is reached), its URL goes
    /// to the pods, and the dispatcher receives from it and closes it on shutdown.
    pub async fn dispatcher(args: &SearchArgs, spec: &RunSpec) -> anyhow::Result<Box<dyn Dispatcher>> {
        let mut job = job_settings(&args.k8s, &args.results, args.kernel.as_deref())?;
        let opener = match job.results {
            Results::Sqs { .. } => Some(crate::results::coordinator_channel(&args.results)?),
            Results::TerminationLog => None,
        };
        let client = connect(&ClientOptions { context: args.k8s.context.clone() }).await.map_err(cli_error)?;
        let planned = planned_rate(&spec.problem, job.cpu.threads(), spec.workers);
        let mut channel = None;
        if let (Some(open), Results::Sqs { queue_url, endpoint_url, .. }) = (opener, &mut job.results) {
            let remote = open(spec.clone()).await?;
            for (name, value) in &remote.worker_env {
                match name.as_str() {
                    "CND_SQS_QUEUE_URL" => *queue_url = value.clone(),
                    "CND_SQS_ENDPOINT_URL" => *endpoint_url = Some(value.clone()),
                    _ => {}
                }
            }
            channel = Some(remote.channel);
        }
        let settings = DispatcherSettings {
            job,
            namespace: args.k8s.namespace.clone(),
            planned_rate: planned,
            ..Default::default()
        };
        let dispatcher = K8sDispatcher::new(client, settings);
        Ok(match channel {
            Some(c) => Box::new(dispatcher.with_result_channel(c)),
            None => Box::new(dispatcher),
        })
    }

    /// Runs `cnd k8s ...`.
    pub async fn run(args: K8sArgs, globals: Globals) -> anyhow::Result<Exit> {
        match args.command {
            K8sCommand::Manifest(a) => manifest(*a),
            K8sCommand::Status(a) => status(a, globals).await,
            K8sCommand::Cleanup(a) => cleanup(a, globals).await,
        }
    }

    fn manifest(a: ManifestArgs) -> anyhow::Result<Exit> {
        let version = match &a.kube_version {
            Some(v) => v.parse::<KubeVersion>().map_err(cli_error)?,
            None => KubeVersion::LATEST,
        };
        let problem = a.problem.problem()?;
        if a.workers == 0 {
            return Err(usage("--workers: 0 is not allowed (allowed: 1 or more)"));
        }
        let mut spec = RunSpec::new(problem, a.workers, Mode::from(a.mode));
        spec.timeout = a.timeout;
        if let Some(id) = &a.run_id {
            let ok = !id.is_empty()
                && id.len() <= 40
                && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !id.starts_with('-')
                && !id.ends_with('-');
            if !ok {
                return Err(usage(format!(
                    "--run-id: '{id}' is not a run id (allowed: 1 to 40 of a-z, 0-9 and '-', not at either end)"
                )));
            }
            spec.run_id = id.clone();
        }
        let settings = job_settings(&a.k8s, &a.results, a.kernel.as_deref())?;
        if let Results::Sqs { queue_url, .. } = &settings.results
            && queue_url.is_empty()
        {
            return Err(usage(
                "--sqs-queue-url: required to render a Job with --results sqs (a search creates a queue per run; a manifest needs one given)",
            ));
        }
        let mut job = render_job(&spec, &settings, version).map_err(cli_error)?;
        job.metadata.namespace = a.k8s.namespace.clone();
        let mut out = String::new();
        if a.rbac {
            let namespace = a.k8s.namespace.as_deref().unwrap_or("default");
            let (sa, role, binding) = render_rbac(namespace, "cnd");
            for doc in [to_yaml(&sa), to_yaml(&role), to_yaml(&binding)] {
                out.push_str("---\n");
                out.push_str(&doc);
            }
            out.push_str("---\n");
        }
        out.push_str(&to_yaml(&job));
        print!("{out}");
        Ok(Exit::Found)
    }

    async fn client_and_namespace(c: &ClusterArgs) -> anyhow::Result<(cnd_k8s::Client, String)> {
        let client = connect(&ClientOptions { context: c.context.clone() }).await.map_err(cli_error)?;
        let ns = c.namespace.clone().unwrap_or_else(|| client.default_namespace().to_string());
        Ok((client, ns))
    }

    async fn status(a: StatusArgs, globals: Globals) -> anyhow::Result<Exit> {
        let (client, ns) = client_and_namespace(&a.cluster).await?;
        let runs = cnd_k8s::status(client, &ns, a.run.as_deref()).await.map_err(cli_error)?;
        if let (Some(run), true) = (&a.run, runs.is_empty()) {
            anyhow::bail!("no run {run} in namespace {ns} (no Job and no pod labelled cnd.dev/run-id={run})");
        }
        if globals.json {
            println!("{}", serde_json::json!({ "namespace": ns, "runs": runs }));
        } else if runs.is_empty() {
            println!("no cnd runs in namespace {ns}");
        } else {
            println!("runs in namespace {ns}:");
            for r in &runs {
                println!("  {r}");
            }
        }
        Ok(Exit::Found)
    }

    async fn cleanup(a: CleanupArgs, globals: Globals) -> anyhow::Result<Exit> {
        let run = match (a.all, a.run.as_deref()) {
            (true, _) => None,
            (false, Some(run)) => Some(run),
            (false, None) => {
                return Err(usage("cnd k8s cleanup: name a run or give --all (allowed: cnd k8s cleanup RUN | --all)"));
            }
        };
        let (client, ns) = client_and_namespace(&a.cluster).await?;
        let deleted = cnd_k8s::cleanup(client, &ns, run, a.wait).await.map_err(cli_error)?;
        if globals.json {
            println!("{}", serde_json::json!({ "namespace": ns, "deleted_jobs": deleted }));
        } else if deleted.is_empty() {
            println!("nothing to clean up in namespace {ns} (no Job left; no pod left)");
        } else {
            for j in &deleted {
                println!("deleted job {j} in namespace {ns} (background propagation); its pods are gone");
            }
        }
        Ok(Exit::Found)
    }
}

#[cfg(not(feature = "k8s"))]
mod disabled {
    use super::*;
    use crate::exit::usage;

    fn unavailable() -> anyhow::Error {
        usage(
            "Kubernetes support is not built in: rebuild cnd with the `k8s` feature (allowed backends here: local, process)",
        )
    }

    /// Always an error: Kubernetes support is not built in.
    pub async fn dispatcher(_args: &SearchArgs, _spec: &RunSpec) -> anyhow::Result<Box<dyn Dispatcher>> {
        Err(unavailable())
    }

    /// Always an error: Kubernetes support is not built in.
    pub async fn run(_args: K8sArgs, _globals: Globals) -> anyhow::Result<Exit> {
        Err(unavailable())
    }
}
