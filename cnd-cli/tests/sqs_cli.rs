//! The run's SQS queue against a real moto server: a Ctrl-C while the queue is being created
//! leaves no queue, and `cnd sqs cleanup` removes the queue of a coordinator killed with
//! SIGKILL (and never a queue that is not a run's).

#[path = "../../cnd-sqs/tests/support/moto.rs"]
mod moto;
#[path = "../../cnd-sqs/tests/support/procs.rs"]
mod procs;
#[path = "../../cnd-sqs/tests/support/sqs_http.rs"]
mod sqs_http;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use assert_cmd::cargo::cargo_bin;

fn cnd() -> Command {
    let mut command = Command::new(cargo_bin("cnd"));
    for (k, _) in std::env::vars() {
        if k.starts_with("CND_") || k.starts_with("AWS_") {
            command.env_remove(k);
        }
    }
    command.envs(moto::AWS_ENV.iter().copied());
    command
}

fn spawn(args: &[&str]) -> Child {
    cnd().args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start cnd")
}

/// Waits (bounded) for the child to end; kills it if it does not.
fn finish(mut child: Child, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("cnd did not end within {limit:?}; stderr:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child.wait_with_output().unwrap(), started.elapsed())
}

fn run_queues(endpoint: &str) -> Vec<String> {
    sqs_http::list_queues(endpoint)
        .into_iter()
        .filter(|u| u.rsplit('/').next().is_some_and(|n| n.starts_with("cnd-")))
        .collect()
}

/// A TCP proxy in front of `upstream` that holds the first bytes of every connection for
/// `delay` before passing them on: a slow SQS endpoint. Counts the requests it holds.
fn slow_proxy(upstream: u16, delay: Duration) -> (u16, Arc<AtomicU32>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = Arc::new(AtomicU32::new(0));
    let count = held.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let count = count.clone();
            std::thread::spawn(move || {
                let mut first = [0u8; 65536];
                let Ok(n) = client.read(&mut first) else { return };
                count.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(delay);
                let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else { return };
                if server.write_all(&first[..n]).is_err() {
                    return;
                }
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut s2);
                    let _ = s2.shutdown(std::net::Shutdown::Write);
                });
                let _ = std::io::copy(&mut server, &mut client);
                let _ = client.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (port, held)
}

/// Ctrl-C (SIGINT) while the run's queue is being created (the CreateQueue request is held
/// by a slow endpoint): the coordinator still learns the queue's URL, deletes it, and exits 4.
#[test]
fn ctrl_c_while_the_queue_is_being_created_leaves_no_queue() {
    let moto = moto::Moto::start();
    let (port, held) = slow_proxy(moto.port(), Duration::from_secs(2));
    let endpoint = format!("http://127.0.0.1:{port}");
    let child = spawn(&[
        "--backend",
        "process",
        "--workers",
        "1",
        "-d",
        "60",
        "--results",
        "sqs",
        "--sqs-endpoint-url",
        &endpoint,
    ]);
    let pid = child.id();
    assert!(
        procs::wait_for(Duration::from_secs(20), || (held.load(Ordering::SeqCst) > 0).then_some(())).is_some(),
        "cnd never sent CreateQueue"
    );
    procs::signal(pid, "INT");
    let (out, took) = finish(child, Duration::from_secs(40));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "stderr: {stderr}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    // Whatever the proxy still holds reaches moto within its delay: then look.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(run_queues(&moto.endpoint), Vec::<String>::new(), "the queue created during the Ctrl-C was left");
}

/// A coordinator killed with SIGKILL leaves its queue; `cnd sqs cleanup` finds it by its tags:
/// not with --older-than 1h (it is new), yes with --run; an untagged cnd-* queue stays.
#[test]
fn sqs_cleanup_removes_a_killed_coordinators_queue_only() {
    let moto = moto::Moto::start();
    let ep = moto.endpoint.as_str();
    let shared = sqs_http::create_queue(ep, "cnd-team-shared");
    let mut child =
        spawn(&["--backend", "process", "--workers", "1", "-d", "60", "--results", "sqs", "--sqs-endpoint-url", ep]);
    let queue = procs::wait_for(Duration::from_secs(30), || run_queues(ep).into_iter().find(|q| *q != shared))
        .expect("the run's queue was never created");
    child.kill().unwrap(); // SIGKILL: no cleanup
    child.wait().unwrap();
    let run = queue.rsplit('/').next().unwrap().strip_prefix("cnd-").unwrap().to_string();

    let young = cnd().args(["sqs", "cleanup", "--older-than", "1h", "--sqs-endpoint-url", ep]).output().unwrap();
    assert_eq!(young.status.code(), Some(0), "{}", String::from_utf8_lossy(&young.stderr));
    assert!(String::from_utf8_lossy(&young.stdout).contains("nothing to clean up"));
    assert!(run_queues(ep).contains(&queue));

    let none = cnd().args(["sqs", "cleanup", "--sqs-endpoint-url", ep]).output().unwrap();
    assert_eq!(none.status.code(), Some(2));
    let err = String::from_utf8_lossy(&none.stderr);
    assert!(err.contains("--run") && err.contains("--older-than") && err.lines().count() == 1, "{err}");

    let out = cnd().args(["sqs", "cleanup", "--run", &run, "--sqs-endpoint-url", ep, "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["deleted_queues"][0]["queue_url"], queue.as_str());
    assert_eq!(json["deleted_queues"][0]["run_id"], run.as_str());
    assert!(json["deleted_queues"][0]["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{json}");

    let all = cnd().args(["sqs", "cleanup", "--older-than", "0s", "--sqs-endpoint-url", ep]).output().unwrap();
    assert_eq!(all.status.code(), Some(0));
    assert_eq!(run_queues(ep), vec![shared], "only the untagged queue is left");
}
