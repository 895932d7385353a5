//! Finding and removing the queues that runs left behind (a coordinator killed with
//! SIGKILL cannot delete its queue): every per-run queue carries the tags [`RUN_TAG`] and
//! [`CREATED_TAG`], and only a queue with the run tag is ever deleted here, so a shared
//! queue (`--sqs-queue-url`, created by someone else) is never touched.

use std::time::SystemTime;

use cnd_core::DispatchError;

use crate::retry::{cause_chain, is_missing_queue, sdk_error};
use crate::settings::{Connection, SqsSettings};

/// The tag that names the run a queue was created for (`cnd sqs cleanup` finds queues by it).
pub const RUN_TAG: &str = "cnd.dev/run-id";

/// The tag that says when a run's queue was created (RFC 3339, UTC, seconds).
pub const CREATED_TAG: &str = "cnd.dev/created-at";

/// The name prefix of every per-run queue.
const QUEUE_PREFIX: &str = "cnd-";

/// A queue that cnd created for a run, as its tags describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunQueue {
    /// The queue's URL.
    pub queue_url: String,
    /// The run it was created for (tag `cnd.dev/run-id`).
    pub run_id: String,
    /// When (tag `cnd.dev/created-at`), if the tag is readable.
    pub created_at: Option<SystemTime>,
}

impl RunQueue {
    /// The creation time as RFC 3339, if known.
    pub fn created_at_rfc3339(&self) -> Option<String> {
        self.created_at.map(|t| humantime::format_rfc3339_seconds(t).to_string())
    }
}

/// Lists and deletes the per-run queues of an SQS endpoint.
#[derive(Debug)]
pub struct QueueJanitor {
    conn: Connection,
}

impl QueueJanitor {
    /// A janitor for the endpoint (and region) of `settings`.
    pub async fn connect(settings: &SqsSettings) -> cnd_core::Result<Self> {
        Ok(Self { conn: settings.connect().await? })
    }

    /// The endpoint it talks to.
    pub fn endpoint(&self) -> &str {
        &self.conn.endpoint
    }

    /// Every queue named `cnd-*` that carries the run tag. A failed call is an error: "no
    /// queue" is never a guess.
    pub async fn run_queues(&self) -> cnd_core::Result<Vec<RunQueue>> {
        let mut urls = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .conn
                .client
                .list_queues()
                .queue_name_prefix(QUEUE_PREFIX)
                .max_results(1000)
                .set_next_token(token.take())
                .customize()
                .config_override(self.conn.short_calls())
                .send()
                .await
                .map_err(|e| sdk_error("ListQueues", &self.conn.endpoint, e))?;
            urls.extend(out.queue_urls().iter().cloned());
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        let mut queues = Vec::new();
        for url in urls {
            if let Some(q) = self.run_queue_at(&url).await? {
                queues.push(q);
            }
        }
        Ok(queues)
    }

    /// The queue at `queue_url` if it exists and carries the run tag; `None` if it is gone
    /// or is not a run's queue.
    pub async fn run_queue_at(&self, queue_url: &str) -> cnd_core::Result<Option<RunQueue>> {
        let tags = match self
            .conn
            .client
            .list_queue_tags()
            .queue_url(queue_url)
            .customize()
            .config_override(self.conn.short_calls())
            .send()
            .await
        {
            Ok(out) => out.tags().cloned().unwrap_or_default(),
            Err(e) if is_missing_queue(&e) => return Ok(None),
            Err(e) => return Err(sdk_error("ListQueueTags", &self.conn.endpoint, e)),
        };
        let Some(run_id) = tags.get(RUN_TAG).cloned() else { return Ok(None) };
        let created_at = tags.get(CREATED_TAG).and_then(|t| humantime::parse_rfc3339_weak(t).ok());
        Ok(Some(RunQueue { queue_url: queue_url.to_string(), run_id, created_at }))
    }

    /// Deletes a run's queue. A queue already gone counts as deleted.
    pub async fn delete(&self, queue: &RunQueue) -> cnd_core::Result<()> {
        match self
            .conn
            .client
            .delete_queue()
            .queue_url(&queue.queue_url)
            .customize()
            .config_override(self.conn.short_calls())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_missing_queue(&e) => Ok(()),
            Err(e) => Err(DispatchError::backend(
                format!("SQS DeleteQueue {} at {}", queue.queue_url, self.conn.endpoint),
                cause_chain(&e),
            )),
        }
    }
}
