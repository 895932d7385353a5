//! `cnd sqs cleanup`: remove the queues that runs left behind.

use cnd_core::Exit;

use crate::backends::sqs::{QueueFilter, cleanup_queues};
use crate::error::usage;
use crate::flags::{Output, SqsArgs, SqsCommand};

/// Runs `cnd sqs ...`.
pub async fn run(args: SqsArgs, out: Output) -> anyhow::Result<Exit> {
    let SqsCommand::Cleanup(a) = args.command;
    if a.run.is_none() && a.older_than.is_none() {
        return Err(usage(
            "cnd sqs cleanup: name a run or an age (allowed: --run ID, --older-than DURATION such as 1h; \
             --older-than 0s removes every run's queue, also of runs still going)",
        ));
    }
    let filter = QueueFilter { run: a.run.clone(), older_than: a.older_than };
    let report = cleanup_queues(a.sqs_endpoint_url.clone(), a.region.clone(), &filter).await?;
    if out.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        for q in &report.deleted_queues {
            let created = q.created_at.as_deref().unwrap_or("at an unknown time");
            println!("deleted queue {} (run {}, created {created})", q.queue_url, q.run_id);
        }
        if report.deleted_queues.is_empty() && report.failed.is_empty() {
            println!(
                "nothing to clean up at {} ({} run queues left: younger or of other runs)",
                report.endpoint, report.kept_queues
            );
        }
    }
    if report.failed.is_empty() {
        Ok(Exit::Found)
    } else {
        anyhow::bail!("could not delete {} queue(s): {}", report.failed.len(), report.failed.join("; "))
    }
}
