//! The docs' console blocks are tests: every ```` ```console ```` block of `README.md` and
//! `docs/*.md` is run by trycmd against the `cnd` binary built for this test, and what the block
//! shows must be what `cnd` prints (stdout and stderr together). In a block, `$ ` starts a
//! command, `? N` is its exit code (0 if absent), `...` on a line of its own stands for any
//! lines and `[..]` for any text within a line (run ids, timings, the machine's thread count).
//!
//! Blocks that cannot run here (they need a Kubernetes cluster or AWS, or measure this machine
//! for minutes) are marked ```` ```console ignore ````, or are `sh`/`text`. The cargo commands
//! of the docs run in `tests/docs-commands.sh`; the cluster commands in `tests/k8s-e2e.sh`.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The docs, relative to this crate's manifest directory (where `cargo test` runs tests).
const DOCS: [&str; 2] = ["../README.md", "../docs/*.md"];

#[test]
fn console_blocks_print_what_the_docs_show() {
    trycmd::TestCases::new()
        // The binary cargo built for this test (a path fixed at compile time: it holds with any
        // target or build directory).
        .register_bin("cnd", PathBuf::from(env!("CARGO_BIN_EXE_cnd")))
        .timeout(Duration::from_secs(120))
        // A fixed terminal width: clap wraps `--help` to it.
        .env("COLUMNS", "100")
        .case(DOCS[0])
        .case(DOCS[1]);
}

/// trycmd skips, silently, a command whose program it does not know (`kubectl`, `cargo`, a
/// pipe into `jq`): every command of a block it runs must be `cnd`, or the block must say
/// `ignore`. This test reads the blocks as trycmd does and names the offenders.
#[test]
fn console_blocks_run_only_cnd() {
    let mut commands = 0;
    let mut offenders = vec![];
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, command) in tested_commands(&text) {
            commands += 1;
            let mut words = command.split_whitespace().skip_while(|w| w.contains('='));
            let program = words.next().unwrap_or("");
            if program != "cnd" || command.contains(" | ") {
                offenders.push(format!("{}:{line}: $ {command}", file.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "commands trycmd would skip or misread (mark their block `console ignore`):\n{}",
        offenders.join("\n")
    );
    assert!(commands >= 5, "only {commands} console commands found in {DOCS:?}: are the blocks still there?");
}

fn doc_files() -> Vec<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![manifest.join("../README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(manifest.join("../docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The `$ ` commands (with their `> ` continuations) of the fenced blocks trycmd runs: a fence
/// at the start of a line with no info string, or `console`/`trycmd` without `ignore`.
fn tested_commands(text: &str) -> Vec<(usize, String)> {
    let mut out = vec![];
    let mut fence: Option<(String, bool)> = None;
    for (i, line) in text.lines().enumerate() {
        let ticks = line.chars().take_while(|&c| c == '`').count();
        match &fence {
            None if ticks >= 3 => {
                let mut info = line[ticks..].trim().split(',');
                let lang = info.next().unwrap_or("");
                let tested =
                    lang.is_empty() || ((lang == "console" || lang == "trycmd") && !info.any(|i| i == "ignore"));
                fence = Some((line[..ticks].to_owned(), tested));
            }
            Some((pattern, _)) if line.starts_with(pattern.as_str()) => fence = None,
            Some((_, true)) => {
                if let Some(command) = line.strip_prefix("$ ") {
                    out.push((i + 1, command.trim().to_owned()));
                } else if let (Some(more), Some(last)) = (line.strip_prefix("> "), out.last_mut()) {
                    last.1.push(' ');
                    last.1.push_str(more.trim());
                }
            }
            _ => {}
        }
    }
    out
}
