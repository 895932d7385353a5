//! `cnd verify`: check a claimed nonce with the reference SHA-256.

use cnd_core::{Exit, Problem, verify};

use crate::flags::{Output, VerifyArgs};

/// Runs `cnd verify`.
pub fn run(args: VerifyArgs, out: Output) -> anyhow::Result<Exit> {
    let mut problem_args = args.problem.clone();
    // The nonce may lie outside the default range; widen it to include the nonce.
    if args.nonce >= problem_args.end && problem_args.bitcoin_header.is_none() {
        problem_args.end = args.nonce.saturating_add(1).max(problem_args.end);
    }
    let problem = Problem::try_from(&problem_args)?;
    let v = verify(&problem, args.nonce);
    if out.json {
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
        if !out.json {
            eprintln!("error: nonce {} is not a golden nonce of this problem", v.nonce);
        }
        Ok(Exit::Error)
    }
}
