//! `cnd k8s manifest|status|cleanup|attach` (cleanup also removes the runs' SQS queues and
//! records).

use cnd_core::Exit;

use cnd_core::SqsTarget;

use crate::backends::k8s::{self, ManifestOptions};
use crate::backends::sqs;
use crate::config::{BackendConfig, RunConfig};
use crate::error::usage;
use crate::flags::{AttachArgs, K8sArgs, K8sCommand, Output};

/// Runs `cnd k8s ...`.
pub async fn run(args: K8sArgs, out: Output) -> anyhow::Result<Exit> {
    match args.command {
        K8sCommand::Manifest(a) => {
            let config = RunConfig::try_from(a.as_ref())?;
            let BackendConfig::K8s(k8s) = &config.backend else { unreachable!("a manifest is for k8s") };
            if a.k8s.detach {
                return Err(usage("--detach: for searches, not manifests (allowed here: omit it)"));
            }
            let options = ManifestOptions { kube_version: a.kube_version.clone(), rbac: a.rbac };
            print!("{}", k8s::manifest(k8s, &config.spec, &options)?);
        }
        K8sCommand::Attach(a) => return follow(a, false, out).await,
        K8sCommand::Resume(a) => return follow(a, true, out).await,
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
            // The runs' SQS queues, read from their Jobs before the Jobs go.
            let queues = run_queues(&k8s::status(&a.cluster, None).await?.runs, run);
            let report = k8s::cleanup(&a.cluster, run, a.wait).await?;
            let ns = &report.namespace;
            let mut deleted_queues = Vec::new();
            let mut failed = Vec::new();
            for (run_id, target) in &queues {
                match sqs::delete_run_queue(target, run_id).await {
                    Ok(Some(q)) => deleted_queues.push(q),
                    Ok(None) => {}
                    Err(e) => failed.push(format!(
                        "the SQS queue {} of run {run_id}: {e:#} (retry: cnd sqs cleanup --run {run_id})",
                        target.queue_url.as_deref().unwrap_or("?")
                    )),
                }
            }
            if out.json {
                println!(
                    "{}",
                    serde_json::json!({ "namespace": ns, "deleted_jobs": report.deleted_jobs, "deleted_queues": deleted_queues })
                );
            } else if report.deleted_jobs.is_empty() && deleted_queues.is_empty() {
                println!("nothing to clean up in namespace {ns} (no Job left; no pod left)");
            } else {
                for j in &report.deleted_jobs {
                    if j.ends_with("-record") {
                        println!("deleted the run record {j} (a ConfigMap) in namespace {ns}");
                    } else {
                        println!("deleted job {j} in namespace {ns} (background propagation); its pods are gone");
                    }
                }
                for q in &deleted_queues {
                    println!("deleted the SQS queue {} of run {}", q.queue_url, q.run_id);
                }
            }
            if !failed.is_empty() {
                anyhow::bail!("could not delete {}", failed.join("; "));
            }
        }
    }
    Ok(Exit::Found)
}

/// `cnd k8s attach RUN` (or, with `resume`, `cnd k8s resume RUN`): the run followed to its
/// end as if started here.
async fn follow(a: AttachArgs, resume: bool, out: Output) -> anyhow::Result<Exit> {
    let stops = crate::signals::StopRequests::listen();
    let follow =
        async { if resume { k8s::resume(&a.cluster, &a.run).await } else { k8s::attach(&a.cluster, &a.run).await } };
    let (mut spec, k8s, dispatcher) = tokio::select! {
        r = follow => r?,
        _ = stops.reached(1) => return Ok(Exit::Stopped),
    };
    spec.timeout = a.timeout;
    let config =
        RunConfig { spec, kernel: cnd_core::Kernel::best(), backend: BackendConfig::K8s(Box::new(k8s)), plan: None };
    crate::commands::search::drive(&config, async { Ok(dispatcher) }, stops, out.quiet, out.json).await
}

/// The SQS queue of each run (or of `only`) whose Job's pods publish to one, from `cnd k8s
/// status`'s runs: (run id, where the queue is).
fn run_queues(runs: &serde_json::Value, only: Option<&str>) -> Vec<(String, SqsTarget)> {
    let text = |r: &serde_json::Value, k: &str| r.get(k).and_then(|v| v.as_str()).map(str::to_string);
    runs.as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let run_id = text(r, "run_id")?;
            let queue_url = Some(text(r, "sqs_queue_url")?);
            let target = SqsTarget { queue_url, endpoint_url: text(r, "sqs_endpoint_url") };
            only.is_none_or(|o| o == run_id).then_some((run_id, target))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_queues_are_read_from_the_runs_with_a_queue() {
        let runs = serde_json::json!([
            { "run_id": "a1", "sqs_queue_url": "http://q/cnd-a1", "sqs_endpoint_url": "http://q" },
            { "run_id": "b2" },
            { "run_id": "c3", "sqs_queue_url": "https://sqs.eu-west-1.amazonaws.com/1/cnd-c3" },
        ]);
        let all = run_queues(&runs, None);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].0, "a1");
        assert_eq!(all[0].1.endpoint_url.as_deref(), Some("http://q"));
        assert_eq!(all[1].1.endpoint_url, None);
        let one = run_queues(&runs, Some("c3"));
        assert_eq!(one.len(), 1);
        assert!(run_queues(&runs, Some("b2")).is_empty());
    }
}
