//! `cnd verify`: check a claimed nonce with the reference SHA-256.

use clap::Args;
use cnd_core::verify;

use crate::args::{Globals, ProblemArgs};
use crate::exit::Exit;

/// Check a claimed nonce: exit 0 if it is golden and in range, 1 if not.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The nonce to check.
    #[arg(long, env = "CND_NONCE")]
    pub nonce: u64,

    #[command(flatten)]
    pub problem: ProblemArgs,
}

/// Runs `cnd verify`.
pub fn run(args: VerifyArgs, globals: &Globals) -> anyhow::Result<Exit> {
    let json = globals.json;
    let mut problem_args = args.problem.clone();
    // The nonce may lie outside the default range; widen it to include the nonce.
    if args.nonce >= problem_args.end && problem_args.bitcoin_header.is_none() {
        problem_args.end = args.nonce.saturating_add(1).max(problem_args.end);
    }
    let problem = problem_args.problem()?;
    let v = verify(&problem, args.nonce);
    if json {
        println!("{}", serde_json::to_string(&v)?);
    } else {
        println!("nonce              {}", v.nonce);
        println!("  digest           {}", hex::encode(v.digest));
        println!("  leading zero bits {}", v.leading_zero_bits);
        println!("  golden           {}", v.golden);
        println!("  in range         {}", v.in_range);
    }
    if v.is_valid() {
        Ok(Exit::Found)
    } else {
        if !json {
            eprintln!("error: nonce {} is not a golden nonce of this problem", v.nonce);
        }
        Ok(Exit::Error)
    }
}
