//! One validated run configuration, built from the flags (`TryFrom<&SearchArgs>`, or from
//! `cnd k8s manifest`'s flags), and the one place a backend is built
//! ([`RunConfig::dispatcher`]). `--workers auto` and `bench --scaling` build on it.

use std::time::Duration;

use cnd_core::{Dispatcher, Kernel, Problem, Results, RunSpec, SqsTarget};
use cnd_local::{LocalDispatcher, ProcessDispatcher, available_threads};

use crate::backends::k8s::K8sConfig;
use crate::error::usage;
use crate::flags::{
    AutoArgs, Backend, K8sRunArgs, KernelArgs, ManifestArgs, ResultsArgs, RunArgs, SearchArgs, Workers, check_workers,
};
use crate::history::ClusterKey;
use crate::planning::{PlanReport, PlanRequest};

/// Start-up delay assumed for a Kubernetes run when `--startup` is not given: Job
/// creation, scheduling and container start on warm nodes with the image cached.
pub(crate) const K8S_DEFAULT_STARTUP: Duration = Duration::from_secs(5);

/// Start-up delay assumed for local worker processes.
pub(crate) const PROCESS_DEFAULT_STARTUP: Duration = Duration::from_millis(100);

/// Workers of a backend when `--workers` is not given, except local (all cores).
const DEFAULT_REMOTE_WORKERS: u32 = 2;

/// Where a run's workers run, with each backend's own settings.
#[derive(Debug, Clone)]
pub enum BackendConfig {
    /// Threads of this process.
    Local,
    /// `cnd worker` processes of this machine reporting on stdout or (with
    /// `Results::Sqs`) through SQS.
    Process(Results),
    /// The pods of an Indexed Job.
    K8s(Box<K8sConfig>),
}

impl BackendConfig {
    /// The backend's settings from the flags; the result channel each allows is checked here.
    pub fn from_flags(
        backend: Backend,
        results: &ResultsArgs,
        k8s: &K8sRunArgs,
        kernel: Option<Kernel>,
    ) -> anyhow::Result<Self> {
        let chosen = results.results.clone().map(|r| match r {
            Results::Sqs(_) => Results::Sqs(SqsTarget {
                queue_url: results.sqs_queue_url.clone(),
                endpoint_url: results.sqs_endpoint_url.clone(),
            }),
            other => other,
        });
        if k8s.chunks.is_some() && backend != Backend::K8s {
            return Err(usage(format!(
                "--chunks: only for --backend k8s (--backend {} hands out small chunks by itself; allowed: omit it)",
                if backend == Backend::Local { "local" } else { "process" }
            )));
        }
        match backend {
            Backend::Local => match chosen {
                None | Some(Results::Stdout) => Ok(BackendConfig::Local),
                Some(_) => {
                    Err(usage("--results: the local backend reports in process (allowed with --backend local: stdout)"))
                }
            },
            Backend::Process => match chosen {
                Some(Results::TerminationLog(_)) => {
                    Err(usage("--results: termination-log is for pods (allowed with --backend process: stdout, sqs)"))
                }
                other => Ok(BackendConfig::Process(other.unwrap_or_default())),
            },
            Backend::K8s => Ok(BackendConfig::K8s(Box::new(K8sConfig::from_flags(k8s, chosen, kernel)?))),
        }
    }

    /// The backend's name.
    pub fn name(&self) -> &'static str {
        match self {
            BackendConfig::Local => "local",
            BackendConfig::Process(_) => "process",
            BackendConfig::K8s(_) => "k8s",
        }
    }
}

/// A validated run: the problem and how it is split, the kernel, the backend.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The run: problem, workers, mode, timeout, run id.
    pub spec: RunSpec,
    /// The hashing kernel (`--kernel`, else the fastest here).
    pub kernel: Kernel,
    /// Where the workers run.
    pub backend: BackendConfig,
    /// The plan `--workers auto` made, to be shown.
    pub plan: Option<PlanReport>,
}

/// A kernel by name (usage error if unknown or unavailable here), or the best one.
pub fn kernel_from(args: &KernelArgs) -> anyhow::Result<Option<Kernel>> {
    match args.kernel.as_deref() {
        Some(n) if !n.trim().is_empty() => Kernel::from_name(n).map(Some).map_err(|e| usage(format!("--kernel: {e}"))),
        _ => Ok(None),
    }
}

impl RunConfig {
    /// A run from its parts; `auto` (the planner flags, and whether to say when a rate is
    /// measured) plans `--workers auto`, which is refused without it.
    pub fn build(
        problem: Problem,
        run: &RunArgs,
        backend: BackendConfig,
        auto: Option<(&AutoArgs, bool)>,
    ) -> anyhow::Result<Self> {
        let kernel = kernel_from(&run.kernel)?.unwrap_or_else(Kernel::best);
        let (workers, plan) = match run.workers {
            Some(Workers::Count(n)) => (n, None),
            None => (
                if matches!(backend, BackendConfig::Local) { available_threads() } else { DEFAULT_REMOTE_WORKERS },
                None,
            ),
            Some(Workers::Auto) => {
                let Some((auto, tell)) = auto else {
                    return Err(usage("--workers: auto is for searches (allowed here: 1 or more)"));
                };
                if auto.deadline.is_none() {
                    return Err(usage(
                        "--workers auto needs --deadline (allowed: a positive duration such as 30s, 5m, 1h)",
                    ));
                }
                // On a cluster, the history of its runs gives the rate and the start-up.
                let cluster = match &backend {
                    BackendConfig::K8s(k8s) => {
                        crate::backends::cluster::identify(k8s.context_and_namespace().0).map(|(key, _)| key)
                    }
                    _ => None,
                };
                let report = plan_request(&backend, auto, kernel, tell, cluster.as_ref())
                    .plan(&problem)
                    .map_err(|e| usage(format!("--workers auto: {e}")))?;
                (report.plan.workers, Some(report))
            }
        };
        check_workers(backend.name(), workers).map_err(usage)?;
        let mut spec = RunSpec::new(problem, workers, run.mode.into());
        spec.timeout = run.timeout;
        Ok(Self { spec, kernel, backend, plan })
    }

    /// Builds the run's backend: the one place a dispatcher is made.
    pub async fn dispatcher(&self) -> anyhow::Result<Box<dyn Dispatcher>> {
        Ok(match &self.backend {
            BackendConfig::Local => Box::new(LocalDispatcher::new(self.kernel)),
            BackendConfig::Process(results) => {
                let exe = std::env::current_exe()
                    .map_err(|e| anyhow::anyhow!("find this program to start its workers: {e}"))?;
                let mut dispatcher = ProcessDispatcher::new(exe, ["worker"]).kernel(self.kernel);
                if let Results::Sqs(target) = results {
                    dispatcher = dispatcher.remote_channel(crate::backends::sqs::coordinator_channel(target)?);
                }
                Box::new(dispatcher)
            }
            BackendConfig::K8s(k8s) => crate::backends::k8s::dispatcher(k8s, &self.spec).await?,
        })
    }
}

/// How `--workers auto` plans on each backend: local threads and worker processes are
/// capped at the CPUs of this machine (more would not hash faster); a pod of `--cpu` CPUs
/// hashes at that many times the per-CPU rate measured here, unless the run history has
/// measured the cluster's pods.
fn plan_request<'a>(
    backend: &BackendConfig,
    auto: &'a AutoArgs,
    kernel: Kernel,
    tell: bool,
    cluster: Option<&'a ClusterKey>,
) -> PlanRequest<'a> {
    let (cpus, unit, default_startup, cap) = match backend {
        BackendConfig::Local => (1.0, "thread", Duration::ZERO, Some(available_threads())),
        BackendConfig::Process(_) => (1.0, "process", PROCESS_DEFAULT_STARTUP, Some(available_threads())),
        BackendConfig::K8s(k8s) => (k8s.hashing_cpus(), "pod", K8S_DEFAULT_STARTUP, None),
    };
    PlanRequest { auto, kernel, cpus, default_startup, cap, unit, tell, cluster }
}

impl TryFrom<&SearchArgs> for RunConfig {
    type Error = anyhow::Error;

    fn try_from(a: &SearchArgs) -> anyhow::Result<Self> {
        let problem = Problem::try_from(&a.problem)?;
        let kernel = kernel_from(&a.run.kernel)?;
        let backend = BackendConfig::from_flags(a.backend, &a.results, &a.k8s, kernel)?;
        Self::build(problem, &a.run, backend, Some((&a.plan, !a.quiet)))
    }
}

impl TryFrom<&ManifestArgs> for RunConfig {
    type Error = anyhow::Error;

    fn try_from(a: &ManifestArgs) -> anyhow::Result<Self> {
        let problem = Problem::try_from(&a.problem)?;
        let kernel = kernel_from(&a.run.kernel)?;
        let backend = BackendConfig::from_flags(Backend::K8s, &a.results, &a.k8s, kernel)?;
        let mut config = Self::build(problem, &a.run, backend, None)?;
        if let Some(id) = &a.run_id {
            config.spec.run_id = check_run_id(id)?;
        }
        Ok(config)
    }
}

/// A run id as Kubernetes names and SQS queues allow it.
fn check_run_id(id: &str) -> anyhow::Result<String> {
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
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::flags::Cli;

    fn config(args: &[&str]) -> anyhow::Result<RunConfig> {
        let cli = Cli::try_parse_from(std::iter::once("cnd").chain(args.iter().copied())).unwrap();
        RunConfig::try_from(&cli.search)
    }

    #[test]
    fn flags_become_one_validated_run() {
        let c = config(&["-d", "12", "--workers", "3", "--mode", "lowest", "--backend", "process"]).unwrap();
        assert_eq!((c.spec.workers, c.spec.mode, c.backend.name()), (3, cnd_core::Mode::Lowest, "process"));
        assert_eq!(c.spec.problem.difficulty(), Some(12));
        let local = config(&["-d", "12"]).unwrap();
        assert_eq!(local.spec.workers, available_threads());
        assert_eq!(config(&["-d", "1", "--backend", "process"]).unwrap().spec.workers, DEFAULT_REMOTE_WORKERS);
    }

    #[test]
    fn each_backend_allows_its_own_result_channels() {
        let e = config(&["-d", "1", "--results", "sqs"]).unwrap_err().to_string();
        assert!(e.contains("allowed with --backend local: stdout"), "{e}");
        let e = config(&["-d", "1", "--backend", "process", "--results", "termination-log"]).unwrap_err().to_string();
        assert!(e.contains("allowed with --backend process: stdout, sqs"), "{e}");
        let c =
            config(&["-d", "1", "--backend", "process", "--results", "sqs", "--sqs-queue-url", "http://q/1"]).unwrap();
        let BackendConfig::Process(Results::Sqs(target)) = c.backend else { panic!("{:?}", c.backend) };
        assert_eq!(target.queue_url.as_deref(), Some("http://q/1"));
    }

    #[test]
    fn auto_needs_a_deadline_and_plans_with_the_rate_given() {
        let e = config(&["-d", "20", "--workers", "auto"]).unwrap_err().to_string();
        assert!(e.contains("needs --deadline"), "{e}");
        let c =
            config(&["-d", "20", "--workers", "auto", "--deadline", "60s", "--rate", "1000", "--backend", "process"]);
        // 2^20 hashes at 1 kH/s per worker need far more than this machine's CPUs.
        assert!(c.unwrap_err().to_string().contains("--workers auto:"));
        let c = config(&["-d", "4", "--workers", "auto", "--deadline", "60s", "--rate", "1000"]).unwrap();
        assert_eq!(c.spec.workers, 1);
        assert_eq!(c.plan.map(|p| p.unit), Some("thread"));
    }

    #[test]
    fn workers_are_bounded_per_backend() {
        let e = config(&["-d", "1", "--workers", "100000000"]).unwrap_err().to_string();
        assert!(e.starts_with("--workers: 100000000 threads") && e.contains("allowed with --backend local"), "{e}");
        let e = config(&["-d", "1", "--workers", "4000000000", "--backend", "process"]).unwrap_err().to_string();
        assert!(e.contains("allowed with --backend process"), "{e}");
    }

    #[test]
    fn run_ids_are_checked() {
        assert!(check_run_id("ab-12").is_ok());
        for bad in ["", "-a", "a-", "A", "a_b"] {
            assert!(check_run_id(bad).is_err(), "{bad}");
        }
    }
}
