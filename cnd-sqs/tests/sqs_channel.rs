//! `SqsResultChannel` against a real SQS-protocol server (moto), started by the harness.

#[path = "support/fixtures.rs"]
mod fixtures;
#[path = "support/moto.rs"]
mod moto;

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::MessageAttributeValue;
use cnd_core::{ReportOutcome, ResultChannel, new_run_id};
use cnd_sqs::{RUN_ID_ATTRIBUTE, SqsResultChannel, SqsSettings, queue_name};
use fixtures::{aws_env, raw_client, report};
use moto::Moto;

async fn queue_urls(client: &aws_sdk_sqs::Client) -> Vec<String> {
    client.list_queues().send().await.expect("ListQueues").queue_urls().to_vec()
}

async fn within<T>(limit: Duration, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, f).await.expect("bounded wait passed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_run_queue_carries_reports_and_is_deleted_on_close() {
    aws_env();
    let moto = Moto::shared();
    let settings = SqsSettings::new(Some(moto.endpoint.clone()));
    let run = new_run_id();
    let mut coordinator = SqsResultChannel::create(&run, &settings).await.unwrap();
    assert!(coordinator.owns_queue());
    assert!(coordinator.queue_url().ends_with(&queue_name(&run)), "{}", coordinator.queue_url());

    // A worker finds the run's queue by name.
    let worker = SqsResultChannel::connect(&run, &settings).await.unwrap();
    assert_eq!(worker.queue_url(), coordinator.queue_url());
    let sent = report(&run, 1, ReportOutcome::Found { nonce: 42, digest: [7; 32] });
    worker.publish(&sent).await.unwrap();
    let got = within(Duration::from_secs(30), coordinator.receive(None)).await.unwrap();
    assert_eq!(got, Some(sent));

    let raw = raw_client(&moto.endpoint).await;
    assert!(queue_urls(&raw).await.iter().any(|u| u.ends_with(&queue_name(&run))));
    coordinator.close().await.unwrap();
    coordinator.close().await.unwrap(); // idempotent
    assert!(!queue_urls(&raw).await.iter().any(|u| u.ends_with(&queue_name(&run))), "the run's queue is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_queue_leaves_other_runs_and_malformed_messages_alone() {
    aws_env();
    let moto = Moto::shared();
    let raw = raw_client(&moto.endpoint).await;
    let shared = raw
        .create_queue()
        .queue_name(format!("cnd-shared-{}", new_run_id()))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let other_run = new_run_id();
    let attr = |run: &str| MessageAttributeValue::builder().data_type("String").string_value(run).build().unwrap();
    let theirs = report(&other_run, 0, ReportOutcome::Exhausted);
    raw.send_message()
        .queue_url(&shared)
        .message_body(theirs.to_json_line())
        .message_attributes(RUN_ID_ATTRIBUTE, attr(&other_run))
        .send()
        .await
        .unwrap();
    // Another run's report without the attribute: recognised by its body.
    let theirs_plain = report(&other_run, 1, ReportOutcome::Exhausted);
    raw.send_message().queue_url(&shared).message_body(theirs_plain.to_json_line()).send().await.unwrap();
    raw.send_message().queue_url(&shared).message_body("this is not a report {").send().await.unwrap();

    let run = new_run_id();
    let settings = SqsSettings::new(Some(moto.endpoint.clone())).with_queue_url(Some(shared.clone()));
    let mut coordinator = SqsResultChannel::create(&run, &settings).await.unwrap();
    assert!(!coordinator.owns_queue());
    let worker = SqsResultChannel::connect(&run, &settings).await.unwrap();
    let mine = report(&run, 0, ReportOutcome::Found { nonce: 9, digest: [1; 32] });
    worker.publish(&mine).await.unwrap();
    let got = within(Duration::from_secs(30), coordinator.receive(None)).await.unwrap();
    assert_eq!(got, Some(mine));
    // Nothing more for this run: a deadline ends the wait.
    let t = Instant::now();
    let none = coordinator.receive(Some(Instant::now() + Duration::from_millis(1500))).await.unwrap();
    assert_eq!(none, None);
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    coordinator.close().await.unwrap();

    // The shared queue is still there, holding both of the other run's reports (visible at
    // once) and not this run's, which was deleted once read.
    assert!(queue_urls(&raw).await.contains(&shared));
    let mut bodies = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10)
        && bodies.iter().filter(|b: &&String| b.contains(&other_run)).count() < 2
    {
        let out = raw
            .receive_message()
            .queue_url(&shared)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        bodies.extend(out.messages().iter().filter_map(|m| m.body().map(str::to_string)));
    }
    assert_eq!(bodies.iter().filter(|b| b.contains(&other_run)).count(), 2, "{bodies:?}");
    assert!(!bodies.iter().any(|b| b.contains(&run)), "{bodies:?}");
    raw.delete_queue().queue_url(&shared).send().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_endpoint_fails_fast_naming_it() {
    aws_env();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let t = Instant::now();
    let e = within(Duration::from_secs(30), SqsResultChannel::create("abc", &SqsSettings::new(Some(endpoint.clone()))))
        .await
        .unwrap_err();
    let message = format!("{:#}", anyhow_like(&e));
    assert!(message.contains(&endpoint), "{message}");
    assert!(message.to_lowercase().contains("connect"), "{message}");
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
}

/// The error and its sources on one line, as the CLI prints it.
fn anyhow_like(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The closing note's figure: from a report sent to it being received, through SQS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_latency_through_sqs_median_of_20() {
    aws_env();
    let moto = Moto::shared();
    let settings = SqsSettings::new(Some(moto.endpoint.clone()));
    let run = new_run_id();
    let mut coordinator = SqsResultChannel::create(&run, &settings).await.unwrap();
    let worker = SqsResultChannel::connect(&run, &settings).await.unwrap();
    let mut samples = Vec::new();
    for i in 0..20 {
        let waiting = tokio::spawn(async move {
            let r = within(Duration::from_secs(30), coordinator.receive(None)).await;
            (coordinator, r, Instant::now())
        });
        tokio::time::sleep(Duration::from_millis(50)).await; // the receiver is long-polling
        let sent_at = Instant::now();
        worker.publish(&report(&run, i, ReportOutcome::Exhausted)).await.unwrap();
        let (c, r, received_at) = waiting.await.unwrap();
        coordinator = c;
        assert_eq!(r.unwrap().unwrap().worker, i);
        samples.push(received_at - sent_at);
    }
    coordinator.close().await.unwrap();
    samples.sort();
    let median = (samples[9] + samples[10]) / 2;
    println!(
        "SQS report latency (send → received, long polling, moto on 127.0.0.1): median {:.1} ms, min {:.1} ms, max {:.1} ms (n = 20)",
        median.as_secs_f64() * 1e3,
        samples[0].as_secs_f64() * 1e3,
        samples[19].as_secs_f64() * 1e3
    );
    assert!(median < Duration::from_secs(5), "{samples:?}");
}
