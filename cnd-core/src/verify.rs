//! Re-verification of a claimed nonce by the reference path.

use serde::Serialize;

use crate::hash::{self, Digest};
use crate::problem::Problem;

/// What the reference path says about a claimed nonce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// The nonce checked.
    pub nonce: u64,
    /// Its digest, SHA-256(SHA-256(message)).
    #[serde(with = "hex::serde")]
    pub digest: Digest,
    /// Leading zero bits of the digest as the problem counts them.
    pub leading_zero_bits: u32,
    /// The digest meets the problem's goal.
    pub golden: bool,
    /// The nonce lies in the problem's range.
    pub in_range: bool,
}

impl Verdict {
    /// True when the nonce is golden and inside the range: the only nonces CND reports.
    pub fn is_valid(&self) -> bool {
        self.golden && self.in_range
    }
}

/// Checks `nonce` against `problem` with the `sha2` reference, independent of any kernel.
pub fn verify(problem: &Problem, nonce: u64) -> Verdict {
    let digest = hash::digest(problem, nonce);
    Verdict {
        nonce,
        digest,
        leading_zero_bits: hash::leading_zero_bits(problem, &digest),
        golden: hash::is_golden(problem, &digest),
        in_range: problem.range().contains(nonce),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::tests::*;
    use crate::problem::BitOrder;

    #[test]
    fn lowest_known_nonces_verify() {
        let p = Problem::text("COMSM0010cloud", 20).unwrap();
        assert!(verify(&p, LOWEST_MSB_20).is_valid());
        assert!(!verify(&p, LOWEST_MSB_20 + 1).is_valid());
        let p = p.with_bit_order(BitOrder::Lsb);
        assert!(verify(&p, LOWEST_LSB_20).is_valid());
    }

    #[test]
    fn out_of_range_is_not_valid() {
        let p =
            Problem::text("COMSM0010cloud", 16).unwrap().with_range(crate::NonceRange::new(0, 100).unwrap()).unwrap();
        let v = verify(&p, LOWEST_MSB_16);
        assert!(v.golden);
        assert!(!v.in_range);
        assert!(!v.is_valid());
    }
}
