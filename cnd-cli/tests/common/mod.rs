//! Shared by the CLI tests (`mod common;`): the "run, exit 0, stdout as one JSON object"
//! chain of assert_cmd.
// Each test crate uses a part of it.
#![allow(dead_code)]

use assert_cmd::Command;
use serde_json::Value;

/// `bytes` as JSON; the panic shows what was printed instead.
pub fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// Runs `cmd`, asserts exit 0, and returns its stdout as JSON and its stderr as text.
pub fn run_json_with_stderr(cmd: &mut Command) -> (Value, String) {
    let out = cmd.assert().code(0).get_output().clone();
    (json(&out.stdout), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Runs `cmd`, asserts exit 0, and returns its stdout as JSON.
pub fn run_json(cmd: &mut Command) -> Value {
    run_json_with_stderr(cmd).0
}
