//! Search for a golden nonce from Rust code: `cargo run -p cnd --release --example embed`.
//!
//! The examples belong to the facade package `cnd` (the root `Cargo.toml`), not to the default
//! member `cnd-cli`: hence `-p cnd`.

use cnd::local::{SearchOptions, search};
use cnd::{Mode, NonceRange, Outcome, Problem};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // SHA-256(SHA-256("COMSM0010cloud" ++ nonce)) with at least 20 leading zero bits.
    let problem = Problem::text("COMSM0010cloud", 20)?.with_range(NonceRange::new(0, 1 << 32)?)?;
    // Every core, the fastest kernel this CPU runs, the smallest golden nonce.
    let options = SearchOptions { mode: Mode::Lowest, ..SearchOptions::default() };
    let run = search(&problem, &options)?;
    match run.outcome {
        Outcome::Found(found) => println!("nonce {} digest {}", found.nonce, hex(&found.digest)),
        other => println!("no nonce: {other:?}"),
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
