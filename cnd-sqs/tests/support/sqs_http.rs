//! A minimal SQS client for test set-up and inspection (create, list, send raw messages,
//! receive): the SQS JSON protocol over plain HTTP to a local moto server, std and serde_json
//! only, so that crates without the AWS SDK (the `cnd` CLI tests) can use it. Every call is
//! bounded by socket timeouts.
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

/// Calls `AmazonSQS.<action>` with a JSON body; panics on a transport error or an HTTP error.
pub fn call(endpoint: &str, action: &str, body: &Value) -> Value {
    let host = endpoint.strip_prefix("http://").expect("an http:// endpoint").trim_end_matches('/');
    let payload = body.to_string();
    let mut stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect to {host}: {e}"));
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = format!(
        "POST / HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/x-amz-json-1.0\r\n\
         X-Amz-Target: AmazonSQS.{action}\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{payload}",
        payload.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap_or_else(|e| panic!("read the {action} answer: {e}"));
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status_ok = head.lines().next().is_some_and(|l| l.contains(" 200"));
    assert!(status_ok, "SQS {action} failed: {head}\n{body}");
    if body.trim().is_empty() {
        json!({})
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{action}: {e}: {body}"))
    }
}

/// Creates a queue; returns its URL.
pub fn create_queue(endpoint: &str, name: &str) -> String {
    call(endpoint, "CreateQueue", &json!({ "QueueName": name }))["QueueUrl"].as_str().expect("QueueUrl").to_string()
}

/// The URLs of every queue.
pub fn list_queues(endpoint: &str) -> Vec<String> {
    call(endpoint, "ListQueues", &json!({}))["QueueUrls"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Sends a message, with a `run_id` attribute if given.
pub fn send(endpoint: &str, queue_url: &str, body: &str, run_id: Option<&str>) {
    let mut request = json!({ "QueueUrl": queue_url, "MessageBody": body });
    if let Some(run) = run_id {
        request["MessageAttributes"] = json!({ "run_id": { "DataType": "String", "StringValue": run } });
    }
    call(endpoint, "SendMessage", &request);
}

/// Receives up to 10 message bodies (long poll of `wait_s` seconds) and leaves them in the
/// queue, visible at once (a peek).
pub fn receive(endpoint: &str, queue_url: &str, wait_s: u32) -> Vec<String> {
    let out = call(
        endpoint,
        "ReceiveMessage",
        &json!({ "QueueUrl": queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": wait_s, "VisibilityTimeout": 0, "MessageAttributeNames": ["All"] }),
    );
    out["Messages"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["Body"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// Deletes a queue.
pub fn delete_queue(endpoint: &str, queue_url: &str) {
    call(endpoint, "DeleteQueue", &json!({ "QueueUrl": queue_url }));
}
