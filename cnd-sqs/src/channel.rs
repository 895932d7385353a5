//! [`SqsResultChannel`]: reports as SQS messages.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, Message, MessageAttributeValue, QueueAttributeName,
};
use cnd_core::{DispatchError, ResultChannel, WorkerReport};

use crate::cleanup::{CREATED_TAG, RUN_TAG};
use crate::retry::{ReceiveHealth, backoff, cause_chain, is_missing_queue, is_transient, sdk_error};
use crate::settings::{Connection, MAX_WAIT, SqsSettings};

/// The message attribute that names a report's run.
pub const RUN_ID_ATTRIBUTE: &str = "run_id";

/// How long a per-run queue keeps a message (the run is long over by then).
const RETENTION_SECS: &str = "3600";

/// How long to wait before polling again when a poll returned only messages this channel
/// has already passed over (other runs' reports made visible again, malformed messages).
const PASSED_OVER_PAUSE: Duration = Duration::from_millis(250);

/// How long a received message stays hidden from other receivers. Short: a poll cut off by
/// the end of a run (before it could release another run's message or delete its own) hides
/// nothing for long.
const RECEIVE_VISIBILITY_SECS: i32 = 5;

/// How long another run's message (or a message that is no report) is hidden the first time
/// this channel passes over it; each later time it is hidden twice as long, up to
/// [`PASSED_OVER_HIDE_MAX_SECS`]. Not 0: made visible at once, the same ten messages would
/// come back on every poll and could starve this run's own reports behind them. Short the
/// first time: the run that owns the message waits at most this much longer for it.
const PASSED_OVER_HIDE_SECS: i32 = 4;

/// The longest a passed-over message is hidden (a stale report of a run long gone).
const PASSED_OVER_HIDE_MAX_SECS: i32 = 60;

/// How long a passed-over message is hidden the `seen`-th time (1-based).
fn passed_over_hide(seen: u32) -> i32 {
    PASSED_OVER_HIDE_SECS.saturating_mul(1 << seen.saturating_sub(1).min(8)).min(PASSED_OVER_HIDE_MAX_SECS)
}

/// The per-run queue's name: `cnd-<run id>`.
pub fn queue_name(run_id: &str) -> String {
    format!("cnd-{run_id}")
}

/// A [`ResultChannel`] on an SQS queue: a queue per run, or a shared queue filtered by the
/// `run_id` message attribute.
#[derive(Debug)]
pub struct SqsResultChannel {
    conn: Connection,
    run_id: String,
    queue_url: String,
    owns_queue: bool,
    closed: bool,
    pending: VecDeque<WorkerReport>,
    /// Messages passed over (other runs', malformed), by message id: how often.
    passed_over: HashMap<String, u32>,
    health: ReceiveHealth,
}

/// A failed poll: worth retrying or not.
enum PollError {
    Transient(DispatchError),
    Final(DispatchError),
}

enum Kind {
    Own(Box<WorkerReport>),
    OtherRun(String),
    Malformed(String),
}

impl SqsResultChannel {
    /// The coordinator's channel: creates the queue `cnd-<run id>`, or checks that the shared
    /// queue of `settings` is reachable. [`ResultChannel::close`] deletes a created queue.
    pub async fn create(run_id: &str, settings: &SqsSettings) -> cnd_core::Result<Self> {
        let conn = settings.connect().await?;
        let (queue_url, owns_queue) = match &settings.queue_url {
            Some(url) => {
                conn.client
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(QueueAttributeName::QueueArn)
                    .send()
                    .await
                    .map_err(|e| sdk_error("GetQueueAttributes", &conn.endpoint, e))?;
                (url.clone(), false)
            }
            None => {
                let created_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
                let out = conn
                    .client
                    .create_queue()
                    .queue_name(queue_name(run_id))
                    .attributes(QueueAttributeName::MessageRetentionPeriod, RETENTION_SECS)
                    .tags(RUN_TAG, run_id)
                    .tags(CREATED_TAG, created_at)
                    .customize()
                    .config_override(conn.short_calls())
                    .send()
                    .await
                    .map_err(|e| {
                        // No answer: the queue may exist all the same. Its tags name the run.
                        let hint = if is_transient(&e) {
                            format!(" (if the queue was created anyway: cnd sqs cleanup --run {run_id})")
                        } else {
                            String::new()
                        };
                        DispatchError::backend(
                            format!("SQS CreateQueue at {}", conn.endpoint),
                            format!("{}{hint}", cause_chain(&e)),
                        )
                    })?;
                let url = out.queue_url().ok_or_else(|| {
                    DispatchError::backend(
                        format!("SQS CreateQueue at {}", conn.endpoint),
                        "no queue URL in the answer",
                    )
                })?;
                tracing::debug!(queue_url = url, "created the run's queue");
                (url.to_string(), true)
            }
        };
        Ok(Self::with(conn, run_id, queue_url, owns_queue))
    }

    /// A worker's channel: publishes to the shared queue of `settings`, or to the run's queue
    /// `cnd-<run id>` (which the coordinator created). Closing it deletes nothing.
    pub async fn connect(run_id: &str, settings: &SqsSettings) -> cnd_core::Result<Self> {
        let conn = settings.connect().await?;
        let queue_url = match &settings.queue_url {
            Some(url) => url.clone(),
            None => conn
                .client
                .get_queue_url()
                .queue_name(queue_name(run_id))
                .send()
                .await
                .map_err(|e| sdk_error("GetQueueUrl", &conn.endpoint, e))?
                .queue_url()
                .unwrap_or_default()
                .to_string(),
        };
        Ok(Self::with(conn, run_id, queue_url, false))
    }

    fn with(conn: Connection, run_id: &str, queue_url: String, owns_queue: bool) -> Self {
        Self {
            conn,
            run_id: run_id.to_string(),
            queue_url,
            owns_queue,
            closed: false,
            pending: VecDeque::new(),
            passed_over: HashMap::new(),
            health: ReceiveHealth::default(),
        }
    }

    /// How receiving goes (failures in a row, the last error): for a progress display.
    pub fn health(&self) -> ReceiveHealth {
        self.health.clone()
    }

    /// The queue's URL (give it to the workers as `CND_SQS_QUEUE_URL`).
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// The endpoint this channel talks to.
    pub fn endpoint(&self) -> &str {
        &self.conn.endpoint
    }

    /// True if this channel created its queue and deletes it on close.
    pub fn owns_queue(&self) -> bool {
        self.owns_queue
    }

    fn classify(&self, message: &Message) -> Kind {
        let attribute = message
            .message_attributes()
            .and_then(|a| a.get(RUN_ID_ATTRIBUTE))
            .and_then(|v| v.string_value())
            .map(str::to_string);
        if let Some(run) = &attribute
            && *run != self.run_id
        {
            return Kind::OtherRun(run.clone());
        }
        let Some(body) = message.body() else { return Kind::Malformed("no body".into()) };
        match WorkerReport::from_json(body) {
            Ok(r) if r.run_id == self.run_id => Kind::Own(Box::new(r)),
            Ok(r) => Kind::OtherRun(r.run_id),
            Err(e) => Kind::Malformed(e.to_string()),
        }
    }

    async fn poll(&mut self, wait: Duration) -> Result<(), PollError> {
        let out = self
            .conn
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(RECEIVE_VISIBILITY_SECS)
            .wait_time_seconds(wait.as_secs().min(MAX_WAIT.as_secs()) as i32)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| {
                let transient = is_transient(&e);
                let e = sdk_error("ReceiveMessage", &self.conn.endpoint, e);
                if transient { PollError::Transient(e) } else { PollError::Final(e) }
            })?;
        let messages = out.messages();
        let mut anything_new = false;
        let mut hide = Vec::new();
        for m in messages {
            let id = m.message_id().unwrap_or_default().to_string();
            let kind = self.classify(m);
            if let Kind::Own(report) = kind {
                anything_new = true;
                if let Some(handle) = m.receipt_handle()
                    && let Err(e) =
                        self.conn.client.delete_message().queue_url(&self.queue_url).receipt_handle(handle).send().await
                {
                    tracing::warn!("could not delete a read report: {}", cause_chain(&e));
                }
                self.pending.push_back(*report);
                continue;
            }
            // Another run's report, or no report: never deleted, hidden for a while so that
            // the messages behind it come up (see PASSED_OVER_HIDE_SECS).
            let seen = self.passed_over.entry(id.clone()).or_default();
            *seen += 1;
            if *seen == 1 {
                anything_new = true;
                match &kind {
                    Kind::OtherRun(run) => {
                        tracing::debug!(run_id = %run, "passed over a report of another run in the shared queue")
                    }
                    Kind::Malformed(why) => {
                        tracing::warn!(message_id = %id, "ignoring an SQS message that is not a CND report: {why}")
                    }
                    Kind::Own(_) => {}
                }
            }
            if let Some(handle) = m.receipt_handle() {
                hide.push((handle.to_string(), passed_over_hide(*seen)));
            }
        }
        self.hide(hide).await;
        if !messages.is_empty() && !anything_new {
            // Only messages this channel has already passed over: do not spin on them.
            tokio::time::sleep(PASSED_OVER_PAUSE).await;
        }
        Ok(())
    }

    /// Hides passed-over messages (receipt handle, seconds) in one batch call; a failure is
    /// a warning (they reappear after the receive's short visibility timeout).
    async fn hide(&self, messages: Vec<(String, i32)>) {
        if messages.is_empty() {
            return;
        }
        let entries = messages
            .into_iter()
            .enumerate()
            .filter_map(|(i, (handle, secs))| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .receipt_handle(handle)
                    .visibility_timeout(secs)
                    .build()
                    .ok()
            })
            .collect();
        let sent = self
            .conn
            .client
            .change_message_visibility_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await;
        match sent {
            Ok(out) if !out.failed().is_empty() => {
                let why: Vec<String> = out.failed().iter().map(|f| f.code().to_string()).collect();
                tracing::warn!("could not hide {} passed-over messages: {}", why.len(), why.join(", "));
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("could not hide passed-over messages: {}", cause_chain(&e)),
        }
    }
}

#[async_trait]
impl ResultChannel for SqsResultChannel {
    async fn publish(&self, report: &WorkerReport) -> cnd_core::Result<()> {
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(&report.run_id)
            .build()
            .map_err(|e| DispatchError::backend("build the run_id message attribute", e))?;
        self.conn
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(report.to_json_line())
            .message_attributes(RUN_ID_ATTRIBUTE, attribute)
            .send()
            .await
            .map_err(|e| sdk_error("SendMessage", &self.conn.endpoint, e))?;
        Ok(())
    }

    async fn receive(&mut self, deadline: Option<Instant>) -> cnd_core::Result<Option<WorkerReport>> {
        loop {
            if let Some(report) = self.pending.pop_front() {
                return Ok(Some(report));
            }
            if self.closed {
                return Ok(None);
            }
            let wait = match deadline {
                None => MAX_WAIT,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    // Whole seconds, rounded up, at most 20: a poll ends within a second of
                    // the deadline.
                    Duration::from_secs(left.as_secs() + u64::from(left.subsec_nanos() > 0)).min(MAX_WAIT)
                }
            };
            match self.poll(wait).await {
                Ok(()) => {
                    let failed = self.health.succeeded();
                    if failed > 0 {
                        tracing::warn!(
                            "SQS ReceiveMessage at {} works again, after {failed} failed tries",
                            self.endpoint()
                        );
                    }
                }
                Err(PollError::Final(e)) => return Err(e),
                Err(PollError::Transient(e)) => {
                    let error = cause_chain(&e);
                    let failures = self.health.failed(error.clone());
                    let pause = backoff(failures);
                    tracing::warn!(
                        "{error} (try {failures} failed; retrying in {}s, for as long as the run lasts)",
                        pause.as_secs()
                    );
                    let until = Instant::now() + pause;
                    let until = deadline.map_or(until, |d| d.min(until));
                    tokio::time::sleep_until(until.into()).await;
                }
            }
        }
    }

    async fn close(&mut self) -> cnd_core::Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        if self.owns_queue {
            match self.conn.client.delete_queue().queue_url(&self.queue_url).send().await {
                Ok(_) => {}
                // Already removed (e.g. by `cnd k8s cleanup` while the run was going).
                Err(e) if is_missing_queue(&e) => {}
                Err(e) => return Err(sdk_error("DeleteQueue", &self.conn.endpoint, e)),
            }
            tracing::debug!(queue_url = %self.queue_url, "deleted the run's queue");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_are_valid_sqs_names() {
        let name = queue_name(&cnd_core::new_run_id());
        assert!(name.starts_with("cnd-"));
        assert!(name.len() <= 80);
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }
}
