//! `--backend k8s` and `cnd k8s manifest|status|cleanup` (owned by the Kubernetes work).

use clap::{Args, Subcommand};
use cnd_core::{Dispatcher, RunSpec};

use crate::args::{Globals, SearchArgs};
use crate::exit::{Exit, usage};

/// Kubernetes flags of a search.
#[derive(Debug, Clone, Args)]
pub struct K8sRunArgs {
    /// Namespace of the run's Job (k8s backend).
    #[arg(long, env = "CND_NAMESPACE", value_name = "NS")]
    pub namespace: Option<String>,

    /// Worker image (k8s backend).
    #[arg(long, env = "CND_IMAGE", value_name = "IMAGE")]
    pub image: Option<String>,

    /// CPUs per pod (k8s backend).
    #[arg(long, env = "CND_CPU", value_name = "N")]
    pub cpu: Option<String>,

    /// Memory per pod, e.g. 64Mi (k8s backend).
    #[arg(long, env = "CND_MEMORY", value_name = "SIZE")]
    pub memory: Option<String>,
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
    /// Print the Job manifest of a run.
    Manifest,
    /// Runs and their pods by phase.
    Status,
    /// Delete what a run left behind.
    Cleanup,
}

/// Runs `cnd k8s ...`.
pub async fn run(_args: K8sArgs, _globals: Globals) -> anyhow::Result<Exit> {
    Err(usage("cnd k8s: not built yet"))
}

/// The Kubernetes dispatcher for this search.
pub async fn dispatcher(_args: &SearchArgs, _spec: &RunSpec) -> anyhow::Result<Box<dyn Dispatcher>> {
    Err(usage("--backend k8s: not built yet (allowed today: local)"))
}
