//! `SqsResultChannel` under faults, against a real moto server: an SQS outage mid-run, a
//! shared queue crowded with other runs' messages, and the queues a killed coordinator
//! leaves (found by their tags and removed).

#[path = "support/fixtures.rs"]
mod fixtures;
#[path = "support/moto.rs"]
mod moto;

use std::time::{Duration, Instant, SystemTime};

use aws_sdk_sqs::types::MessageAttributeValue;
use cnd_core::{ReportOutcome, ResultChannel, new_run_id};
use cnd_sqs::{QueueJanitor, RUN_ID_ATTRIBUTE, SqsResultChannel, SqsSettings, queue_name};
use fixtures::{aws_env, raw_client, report};
use moto::Moto;

async fn within<T>(limit: Duration, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, f).await.expect("bounded wait passed")
}

async fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

/// SQS goes away mid-run (the server is killed) and comes back on the same port: the
/// coordinator's receive retries, counting the failures, and returns the report sent once
/// the server is back; one failed receive does not end the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_retries_through_an_outage_and_gets_the_report_after_it() {
    aws_env();
    let moto = Moto::start();
    let port = moto.port();
    let settings = SqsSettings::new(Some(moto.endpoint.clone()));
    let run = new_run_id();
    let mut coordinator = SqsResultChannel::create(&run, &settings).await.unwrap();
    let queue_url = coordinator.queue_url().to_string();
    let health = coordinator.health();
    let worker = SqsResultChannel::connect(&run, &settings).await.unwrap();

    drop(moto); // killed and reaped: connections are refused from now on
    let waiting = tokio::spawn(async move {
        let r = within(Duration::from_secs(90), coordinator.receive(None)).await;
        (coordinator, r)
    });
    assert!(
        wait_until(Duration::from_secs(30), || health.failures() >= 2).await,
        "receive did not retry: {} failures",
        health.failures()
    );
    assert!(!waiting.is_finished(), "the receive gave up during the outage");
    let error = health.last_error().unwrap_or_default();
    assert!(error.contains("ReceiveMessage") && error.contains(&format!("127.0.0.1:{port}")), "{error}");

    // Back on the same port (an empty server: the run's queue is made again, same URL).
    let moto = Moto::start_on(port);
    let raw = raw_client(&moto.endpoint).await;
    let again = raw.create_queue().queue_name(queue_name(&run)).send().await.unwrap();
    assert_eq!(again.queue_url(), Some(queue_url.as_str()));
    let sent = report(&run, 0, ReportOutcome::Found { nonce: 7, digest: [3; 32] });
    worker.publish(&sent).await.unwrap();
    let (mut coordinator, got) = within(Duration::from_secs(60), waiting).await.unwrap();
    assert_eq!(got.unwrap(), Some(sent));
    assert_eq!(health.failures(), 0, "the failures in a row end with a receive that works");
    assert!(health.total_failures() >= 2);
    coordinator.close().await.unwrap();
}

/// A shared queue holding 50 messages of other runs (and a few that are no report): this
/// run's report still arrives promptly, and the others' messages are all still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_foreign_messages_do_not_starve_this_runs_report() {
    aws_env();
    let moto = Moto::start();
    let raw = raw_client(&moto.endpoint).await;
    let shared = raw.create_queue().queue_name("team-shared").send().await.unwrap().queue_url().unwrap().to_string();
    let attr = |run: &str| MessageAttributeValue::builder().data_type("String").string_value(run).build().unwrap();
    let others: Vec<String> = (0..5).map(|_| new_run_id()).collect();
    for i in 0..50u32 {
        let other = &others[i as usize % others.len()];
        let body = report(other, i, ReportOutcome::Exhausted).to_json_line();
        let send = raw.send_message().queue_url(&shared).message_body(body);
        let send = if i % 2 == 0 { send.message_attributes(RUN_ID_ATTRIBUTE, attr(other)) } else { send };
        send.send().await.unwrap();
    }
    for i in 0..3 {
        raw.send_message().queue_url(&shared).message_body(format!("not a report {i}")).send().await.unwrap();
    }

    let run = new_run_id();
    let settings = SqsSettings::new(Some(moto.endpoint.clone())).with_queue_url(Some(shared.clone()));
    let mut coordinator = SqsResultChannel::create(&run, &settings).await.unwrap();
    let worker = SqsResultChannel::connect(&run, &settings).await.unwrap();
    let mine = report(&run, 0, ReportOutcome::Found { nonce: 11, digest: [5; 32] });
    worker.publish(&mine).await.unwrap();
    let t = Instant::now();
    let got = tokio::time::timeout(Duration::from_secs(20), coordinator.receive(None)).await;
    let took = t.elapsed();
    assert!(got.is_ok(), "this run's report did not arrive within 20 s behind 53 foreign messages");
    assert_eq!(got.unwrap().unwrap(), Some(mine));
    assert!(took < Duration::from_secs(5), "took {took:?}");
    println!("own report behind 53 foreign messages received after {:.2} s", took.as_secs_f64());
    coordinator.close().await.unwrap();

    // Nothing of the others' was deleted: every one comes back (they were hidden a few s).
    let mut bodies = std::collections::HashSet::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) && bodies.len() < 53 {
        let out = raw
            .receive_message()
            .queue_url(&shared)
            .max_number_of_messages(10)
            .visibility_timeout(30)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        bodies.extend(out.messages().iter().filter_map(|m| m.body().map(str::to_string)));
    }
    assert_eq!(bodies.len(), 53, "foreign messages lost");
    assert!(!bodies.iter().any(|b| b.contains(&run)));
}

/// A per-run queue carries its run and creation time as tags; the janitor finds it (and not a
/// shared queue named like one) and removes it; the coordinator's close then still succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_queues_are_tagged_found_and_removed() {
    aws_env();
    let moto = Moto::start();
    let settings = SqsSettings::new(Some(moto.endpoint.clone()));
    let raw = raw_client(&moto.endpoint).await;
    let untagged = raw.create_queue().queue_name("cnd-shared").send().await.unwrap().queue_url().unwrap().to_string();
    let before = SystemTime::now() - Duration::from_secs(2);
    let run = new_run_id();
    let mut coordinator = SqsResultChannel::create(&run, &settings).await.unwrap();

    let janitor = QueueJanitor::connect(&settings).await.unwrap();
    let found = janitor.run_queues().await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let q = &found[0];
    assert_eq!((q.queue_url.as_str(), q.run_id.as_str()), (coordinator.queue_url(), run.as_str()));
    let created = q.created_at.expect("a readable created-at tag");
    assert!(created >= before && created <= SystemTime::now() + Duration::from_secs(2), "{:?}", q.created_at_rfc3339());
    assert_eq!(janitor.run_queue_at(&untagged).await.unwrap(), None, "a queue without the run tag is not a run's");

    janitor.delete(q).await.unwrap();
    janitor.delete(q).await.unwrap(); // gone already: fine
    assert!(janitor.run_queues().await.unwrap().is_empty());
    coordinator.close().await.unwrap();
    let left: Vec<String> = raw.list_queues().send().await.unwrap().queue_urls().to_vec();
    assert_eq!(left, vec![untagged], "the untagged queue is left alone");

    // An endpoint that does not answer: an error naming it, not "no queue".
    drop(moto);
    let e = janitor.run_queues().await.unwrap_err().to_string();
    assert!(e.contains("ListQueues"), "{e}");
}
