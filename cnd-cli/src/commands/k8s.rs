//! `cnd k8s manifest|status|cleanup`.

use cnd_core::Exit;

use crate::backends::k8s::{self, ManifestOptions};
use crate::config::{BackendConfig, RunConfig};
use crate::error::usage;
use crate::flags::{K8sArgs, K8sCommand, Output};

/// Runs `cnd k8s ...`.
pub async fn run(args: K8sArgs, out: Output) -> anyhow::Result<Exit> {
    match args.command {
        K8sCommand::Manifest(a) => {
            let config = RunConfig::try_from(a.as_ref())?;
            let BackendConfig::K8s(k8s) = &config.backend else { unreachable!("a manifest is for k8s") };
            let options = ManifestOptions { kube_version: a.kube_version.clone(), rbac: a.rbac };
            print!("{}", k8s::manifest(k8s, &config.spec, &options)?);
        }
        K8sCommand::Status(a) => {
            let report = k8s::status(&a.cluster, a.run.as_deref()).await?;
            let ns = &report.namespace;
            if out.json {
                println!("{}", serde_json::json!({ "namespace": ns, "runs": report.runs }));
            } else if report.lines.is_empty() {
                println!("no cnd runs in namespace {ns}");
            } else {
                println!("runs in namespace {ns}:");
                for line in &report.lines {
                    println!("  {line}");
                }
            }
        }
        K8sCommand::Cleanup(a) => {
            let run = match (a.all, a.run.as_deref()) {
                (true, _) => None,
                (false, Some(run)) => Some(run),
                (false, None) => {
                    return Err(usage(
                        "cnd k8s cleanup: name a run or give --all (allowed: cnd k8s cleanup RUN | --all)",
                    ));
                }
            };
            let report = k8s::cleanup(&a.cluster, run, a.wait).await?;
            let ns = &report.namespace;
            if out.json {
                println!("{}", serde_json::json!({ "namespace": ns, "deleted_jobs": report.deleted_jobs }));
            } else if report.deleted_jobs.is_empty() {
                println!("nothing to clean up in namespace {ns} (no Job left; no pod left)");
            } else {
                for j in &report.deleted_jobs {
                    println!("deleted job {j} in namespace {ns} (background propagation); its pods are gone");
                }
            }
        }
    }
    Ok(Exit::Found)
}
