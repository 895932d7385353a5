//! The Kubernetes backend (feature `k8s`): the pods' settings from the flags, the
//! dispatcher, and the work of `cnd k8s manifest|status|cleanup`.

use std::time::Duration;

pub use imp::{K8sConfig, attach, cleanup, detach, dispatcher, manifest, resume, status, termination_log};

#[cfg(feature = "k8s")]
use enabled as imp;

#[cfg(not(feature = "k8s"))]
use disabled as imp;

/// What `cnd k8s status` found: the namespace, the runs as JSON and as lines for people.
#[derive(Debug)]
pub struct StatusReport {
    /// The namespace looked at.
    pub namespace: String,
    /// The runs, as `--json` prints them.
    pub runs: serde_json::Value,
    /// One line per run.
    pub lines: Vec<String>,
}

/// How long the cluster keeps a detached run's Job (and its pods' reports) after it ended,
/// for `cnd k8s attach` to read: a week (`ttlSecondsAfterFinished`, when `--ttl` is shorter).
#[cfg_attr(not(feature = "k8s"), allow(dead_code))] // read only by the k8s build
pub const DETACHED_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// What `cnd k8s cleanup` deleted.
#[derive(Debug)]
pub struct CleanupReport {
    /// The namespace cleaned.
    pub namespace: String,
    /// The Jobs and the runs' records (ConfigMaps) deleted.
    pub deleted_jobs: Vec<String>,
}

/// How `cnd k8s manifest` renders: beside the run configuration.
#[derive(Debug, Clone, Default)]
#[cfg_attr(not(feature = "k8s"), allow(dead_code))] // read only by the k8s build
pub struct ManifestOptions {
    /// `--kube-version`.
    pub kube_version: Option<String>,
    /// `--rbac`.
    pub rbac: bool,
}

#[cfg(feature = "k8s")]
mod enabled {
    use cnd_core::{Dispatcher, Kernel, Problem, Results, RunSpec};
    use cnd_k8s::{
        ClientOptions, DispatcherSettings, JobSettings, K8sDispatcher, KubeVersion, Placement, auto_chunks, connect,
        render_job, render_rbac, to_yaml,
    };

    use super::*;
    use crate::error::usage;
    use crate::flags::{Chunks, ClusterArgs, K8sRunArgs};

    /// A `cnd-k8s` error as the CLI reports it: bad settings are usage errors (exit 2).
    fn cli_error(e: cnd_k8s::Error) -> anyhow::Error {
        match e {
            cnd_k8s::Error::Invalid { .. } => usage(e.to_string()),
            e => anyhow::Error::new(cnd_core::DispatchError::from(e)),
        }
    }

    /// The Kubernetes settings of a run.
    #[derive(Debug, Clone)]
    pub struct K8sConfig {
        /// The pods.
        pub job: JobSettings,
        /// `--pending-timeout`.
        pub pending_timeout: Duration,
        /// `--namespace`, `--context`.
        pub cluster: ClusterArgs,
        /// `--chunks`, resolved against the run by [`K8sConfig::job_for`].
        pub chunks: Option<Chunks>,
    }

    impl K8sConfig {
        /// The pods' settings from the flags; `results` is `--results` with its SQS target.
        pub fn from_flags(k8s: &K8sRunArgs, results: Option<Results>, kernel: Option<Kernel>) -> anyhow::Result<Self> {
            let ttl =
                i32::try_from(k8s.ttl.as_secs()).map_err(|_| usage("--ttl: too long (allowed: up to 68 years)"))?;
            let job = JobSettings {
                image: k8s.image.clone(),
                image_pull_policy: k8s.image_pull_policy.parse().map_err(cli_error)?,
                cpu: k8s.cpu.parse().map_err(cli_error)?,
                memory: k8s.memory.parse().map_err(cli_error)?,
                ttl_seconds_after_finished: ttl,
                results: results.unwrap_or_else(Results::termination_log),
                aws_secret: k8s.aws_secret.clone(),
                ca_configmap: k8s.ca_configmap.clone(),
                aws_region: std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION")).ok(),
                kernel,
                job_deadline: k8s.job_deadline,
                placement: Placement::parse(&k8s.node_selector, &k8s.toleration).map_err(cli_error)?,
                ..JobSettings::default()
            };
            job.validate().map_err(cli_error)?;
            Ok(Self { job, pending_timeout: k8s.pending_timeout, cluster: k8s.cluster.clone(), chunks: k8s.chunks })
        }

        /// The Job settings of this run: `--chunks auto` becomes chunks of about a minute on
        /// one pod at the planned rate (measured here), a count stays as given.
        pub fn job_for(&self, spec: &RunSpec) -> JobSettings {
            let chunks = match self.chunks {
                None => None,
                Some(Chunks::Count(k)) => Some(k),
                Some(Chunks::Auto) => {
                    let pod_rate = planned_rate(&spec.problem, self.job.cpu.threads(), 1);
                    Some(auto_chunks(spec.problem.range(), spec.workers, pod_rate))
                }
            };
            JobSettings { chunks, ..self.job.clone() }
        }

        /// CPUs that hash in one pod (one thread on a fraction of a CPU), for the planner.
        pub fn hashing_cpus(&self) -> f64 {
            let cpus = f64::from(self.job.cpu.millis()) / 1000.0;
            if cpus < 1.0 { cpus } else { cpus.floor() }
        }

        /// The run makes a queue of its own (`--results sqs` without `--sqs-queue-url`).
        pub fn makes_a_queue(&self) -> bool {
            matches!(&self.job.results, Results::Sqs(t) if t.queue_url.is_none())
        }

        /// `--context` and `--namespace`, if given.
        pub fn context_and_namespace(&self) -> (Option<&str>, Option<&str>) {
            (self.cluster.context.as_deref(), self.cluster.namespace.as_deref())
        }

        /// The command that removes what a run left in the cluster, with this run's
        /// `--namespace` and `--context` (the kubeconfig comes from the same environment).
        pub fn cleanup_command(&self, run_id: &str) -> String {
            let mut cmd = format!("cnd k8s cleanup {}", shell_word(run_id));
            if let Some(ns) = &self.cluster.namespace {
                cmd.push_str(&format!(" --namespace {}", shell_word(ns)));
            }
            if let Some(ctx) = &self.cluster.context {
                cmd.push_str(&format!(" --context {}", shell_word(ctx)));
            }
            cmd
        }
    }

    /// `w` as one word of a POSIX shell command line.
    fn shell_word(w: &str) -> String {
        let plain = |c: char| c.is_ascii_alphanumeric() || "-_.:/@=+,".contains(c);
        if !w.is_empty() && w.chars().all(plain) { w.to_string() } else { format!("'{}'", w.replace('\'', "'\\''")) }
    }

    /// The run's planned hash rate: this machine's kernel speed on one thread (measured for
    /// a moment) × threads per pod × pods. An estimate: the nodes' CPUs may differ.
    fn planned_rate(problem: &Problem, threads_per_pod: u32, pods: u32) -> f64 {
        let one = crate::planning::measure_rate_of(Some(problem), Kernel::best(), 1, Duration::from_millis(50));
        one * f64::from(threads_per_pod) * f64::from(pods)
    }

    /// The Kubernetes dispatcher of a run. With `--results sqs`, the dispatcher opens the
    /// run's queue when the run starts (after the cluster is reached and the settings are
    /// checked), tells the pods its URL, receives from it and closes it on shutdown.
    pub async fn dispatcher(config: &K8sConfig, spec: &RunSpec) -> anyhow::Result<Box<dyn Dispatcher>> {
        let opener = match &config.job.results {
            Results::Sqs(target) => Some(crate::backends::sqs::coordinator_channel(target)?),
            _ => None,
        };
        let client = connect(&ClientOptions { context: config.cluster.context.clone() }).await.map_err(cli_error)?;
        let settings = DispatcherSettings {
            job: config.job_for(spec),
            namespace: config.cluster.namespace.clone(),
            planned_rate: Some(planned_rate(&spec.problem, config.job.cpu.threads(), spec.workers)),
            pending_timeout: config.pending_timeout,
            record: true,
            ..Default::default()
        };
        let dispatcher = K8sDispatcher::new(client, settings);
        Ok(match opener {
            Some(open) => Box::new(dispatcher.remote_channel(open)),
            None => Box::new(dispatcher),
        })
    }

    /// Creates the run's Job and record and leaves the run to the cluster (`--detach`): the
    /// Job is kept [`DETACHED_TTL`] after it ends, for `cnd k8s attach` to read its reports.
    pub async fn detach(config: &K8sConfig, spec: &RunSpec) -> anyhow::Result<()> {
        if !matches!(config.job.results, Results::TerminationLog(_)) {
            return Err(usage(
                "--detach: a detached run reports through its pods' termination messages (allowed with --detach: \
                 --results termination-log)",
            ));
        }
        let client = connect(&ClientOptions { context: config.cluster.context.clone() }).await.map_err(cli_error)?;
        let mut job = config.job_for(spec);
        let week = i32::try_from(DETACHED_TTL.as_secs()).unwrap_or(i32::MAX);
        job.ttl_seconds_after_finished = job.ttl_seconds_after_finished.max(week);
        let settings =
            DispatcherSettings { job, namespace: config.cluster.namespace.clone(), record: true, ..Default::default() };
        let mut dispatcher = K8sDispatcher::new(client, settings);
        match dispatcher.start(spec).await {
            Ok(_) => {
                dispatcher.detach();
                Ok(())
            }
            Err(e) => {
                // Nothing half-made is left: the cleanup of a run that did not start.
                let _ = dispatcher.shutdown().await;
                Err(anyhow::Error::new(e))
            }
        }
    }

    /// A run to follow again (`cnd k8s attach`): its spec (from its record), the settings
    /// its cleanup command needs, and a dispatcher that adopts its Job.
    pub async fn attach(
        cluster: &ClusterArgs,
        run_id: &str,
    ) -> anyhow::Result<(RunSpec, K8sConfig, Box<dyn Dispatcher>)> {
        let (client, namespace) = client_and_namespace(cluster).await?;
        let Some(record) = cnd_k8s::find_run(client.clone(), &namespace, run_id).await.map_err(cli_error)? else {
            anyhow::bail!(
                "no run {run_id} to attach to in namespace {namespace}: no record {} and no Job (cnd k8s status lists runs)",
                cnd_k8s::record_name(run_id)
            );
        };
        follow(client, namespace, cluster, record)
    }

    /// A run whose Job failed or was deleted, resumed (`cnd k8s resume`): a new Job over the
    /// chunks not yet done, then followed as by `attach`.
    pub async fn resume(
        cluster: &ClusterArgs,
        run_id: &str,
    ) -> anyhow::Result<(RunSpec, K8sConfig, Box<dyn Dispatcher>)> {
        let (client, namespace) = client_and_namespace(cluster).await?;
        let cleanup = DispatcherSettings::default().cleanup_timeout;
        let record = cnd_k8s::resume(client.clone(), &namespace, run_id, cleanup).await.map_err(cli_error)?;
        follow(client, namespace, cluster, record)
    }

    /// The spec, settings and attached dispatcher of a recorded run.
    fn follow(
        client: cnd_k8s::Client,
        namespace: String,
        cluster: &ClusterArgs,
        record: cnd_k8s::RunRecord,
    ) -> anyhow::Result<(RunSpec, K8sConfig, Box<dyn Dispatcher>)> {
        let spec = record.spec().map_err(cli_error)?;
        let config = K8sConfig {
            job: JobSettings::default(),
            pending_timeout: DispatcherSettings::default().pending_timeout,
            cluster: ClusterArgs { namespace: Some(namespace.clone()), ..cluster.clone() },
            chunks: None,
        };
        let settings =
            DispatcherSettings { namespace: Some(namespace), planned_rate: None, record: true, ..Default::default() };
        Ok((spec, config, Box::new(K8sDispatcher::new(client, settings).attach(record))))
    }

    /// A worker's termination-log channel (`CND_RESULTS=termination-log`).
    pub fn termination_log(path: &std::path::Path) -> anyhow::Result<Box<dyn cnd_core::ResultChannel>> {
        Ok(Box::new(cnd_k8s::TerminationLog::new(path)))
    }

    /// The YAML of the run's Job (and, with `rbac`, what a coordinator needs to create it).
    pub fn manifest(config: &K8sConfig, spec: &RunSpec, options: &ManifestOptions) -> anyhow::Result<String> {
        let version = match &options.kube_version {
            Some(v) => v.parse::<KubeVersion>().map_err(cli_error)?,
            None => KubeVersion::LATEST,
        };
        let mut job = render_job(spec, &config.job_for(spec), version).map_err(cli_error)?;
        job.metadata.namespace = config.cluster.namespace.clone();
        let mut out = String::new();
        if options.rbac {
            let namespace = config.cluster.namespace.as_deref().unwrap_or("default");
            let (sa, role, binding) = render_rbac(namespace, "cnd");
            for doc in [to_yaml(&sa), to_yaml(&role), to_yaml(&binding)] {
                out.push_str("---\n");
                out.push_str(&doc);
            }
            out.push_str("---\n");
        }
        out.push_str(&to_yaml(&job));
        Ok(out)
    }

    async fn client_and_namespace(c: &ClusterArgs) -> anyhow::Result<(cnd_k8s::Client, String)> {
        let client = connect(&ClientOptions { context: c.context.clone() }).await.map_err(cli_error)?;
        let ns = c.namespace.clone().unwrap_or_else(|| client.default_namespace().to_string());
        Ok((client, ns))
    }

    /// The runs in the namespace (or one run).
    pub async fn status(cluster: &ClusterArgs, run: Option<&str>) -> anyhow::Result<StatusReport> {
        let (client, namespace) = client_and_namespace(cluster).await?;
        let runs = cnd_k8s::status(client, &namespace, run).await.map_err(cli_error)?;
        if let (Some(run), true) = (run, runs.is_empty()) {
            anyhow::bail!("no run {run} in namespace {namespace} (no Job and no pod labelled cnd.dev/run-id={run})");
        }
        Ok(StatusReport {
            runs: serde_json::to_value(&runs)?,
            lines: runs.iter().map(ToString::to_string).collect(),
            namespace,
        })
    }

    /// Deletes a run's (or every run's) Job and waits for its pods to be gone.
    pub async fn cleanup(cluster: &ClusterArgs, run: Option<&str>, wait: Duration) -> anyhow::Result<CleanupReport> {
        let (client, namespace) = client_and_namespace(cluster).await?;
        let deleted_jobs = cnd_k8s::cleanup(client, &namespace, run, wait).await.map_err(cli_error)?;
        Ok(CleanupReport { namespace, deleted_jobs })
    }
}

#[cfg(not(feature = "k8s"))]
mod disabled {
    use cnd_core::{Dispatcher, Kernel, Results, RunSpec};

    use super::*;
    use crate::error::usage;
    use crate::flags::{ClusterArgs, K8sRunArgs};

    fn unavailable() -> anyhow::Error {
        usage(
            "Kubernetes support is not built in: rebuild cnd with the `k8s` feature (allowed backends here: local, process)",
        )
    }

    /// Never built: Kubernetes support is not in this binary.
    #[derive(Debug, Clone)]
    pub struct K8sConfig(());

    impl K8sConfig {
        /// Always an error: Kubernetes support is not built in.
        pub fn from_flags(_: &K8sRunArgs, _: Option<Results>, _: Option<Kernel>) -> anyhow::Result<Self> {
            Err(unavailable())
        }

        /// Unreachable: no `K8sConfig` exists in this build.
        pub fn hashing_cpus(&self) -> f64 {
            1.0
        }

        /// Unreachable: no `K8sConfig` exists in this build.
        pub fn makes_a_queue(&self) -> bool {
            false
        }

        /// Unreachable: no `K8sConfig` exists in this build.
        pub fn context_and_namespace(&self) -> (Option<&str>, Option<&str>) {
            (None, None)
        }

        /// Unreachable: no `K8sConfig` exists in this build.
        pub fn cleanup_command(&self, run_id: &str) -> String {
            format!("cnd k8s cleanup {run_id}")
        }
    }

    /// Always an error: Kubernetes support is not built in.
    pub async fn dispatcher(_: &K8sConfig, _: &RunSpec) -> anyhow::Result<Box<dyn Dispatcher>> {
        Err(unavailable())
    }

    /// Always an error: the termination log is Kubernetes' and not built in.
    pub fn termination_log(_: &std::path::Path) -> anyhow::Result<Box<dyn cnd_core::ResultChannel>> {
        Err(usage(
            "CND_RESULTS: termination-log needs the `k8s` feature, not built into this cnd (allowed: stdout, sqs)",
        ))
    }

    /// Always an error: Kubernetes support is not built in.
    pub async fn detach(_: &K8sConfig, _: &RunSpec) -> anyhow::Result<()> {
        Err(unavailable())
    }

    /// Always an error: Kubernetes support is not built in.
    pub async fn attach(_: &ClusterArgs, _: &str) -> anyhow::Result<(RunSpec, K8sConfig, Box<dyn Dispatcher>)> {
        Err(unavailable())
    }

    /// Always an error: Kubernetes support is not built in.
    pub async fn resume(_: &ClusterArgs, _: &str) -> anyhow::Result<(RunSpec, K8sConfig, Box<dyn Dispatcher>)> {
        Err(unavailable())
    }

    /// Always an error: Kubernetes support is not built in.
    pub fn manifest(_: &K8sConfig, _: &RunSpec, _: &ManifestOptions) -> anyhow::Result<String> {
        Err(unavailable())
    }

    /// Always an error: Kubernetes support is not built in.
    pub async fn status(_: &ClusterArgs, _: Option<&str>) -> anyhow::Result<StatusReport> {
        Err(unavailable())
    }

    /// Always an error: Kubernetes support is not built in.
    pub async fn cleanup(_: &ClusterArgs, _: Option<&str>, _: Duration) -> anyhow::Result<CleanupReport> {
        Err(unavailable())
    }
}
