//! The reference path: messages, digests and the golden test, built on the `sha2` crate.
//!
//! Every kernel is checked against these functions, and every reported nonce is
//! re-verified with them before it is shown.

use sha2::{Digest as _, Sha256};

use crate::problem::{BitOrder, Format, Goal, Problem};

/// A SHA-256 digest.
pub type Digest = [u8; 32];

/// The message hashed for `nonce`: block ++ decimal digits (text), or the header with the
/// nonce's low 32 bits, little-endian, at bytes 76..80 (Bitcoin).
pub fn message(problem: &Problem, nonce: u64) -> Vec<u8> {
    match problem.format() {
        Format::Text => {
            let mut m = problem.block().to_vec();
            m.extend_from_slice(nonce.to_string().as_bytes());
            m
        }
        Format::Bitcoin => {
            let mut m = problem.block().to_vec();
            m[76..80].copy_from_slice(&(nonce as u32).to_le_bytes());
            m
        }
    }
}

/// SHA-256(SHA-256(message)).
pub fn sha256d(message: &[u8]) -> Digest {
    let first = Sha256::digest(message);
    Sha256::digest(first).into()
}

/// The digest of `nonce` under `problem`, by the reference path.
pub fn digest(problem: &Problem, nonce: u64) -> Digest {
    sha256d(&message(problem, nonce))
}

/// Leading zero bits of `bytes`, counted from the first byte; within a byte from the most
/// significant bit (`Msb`) or from bit 0 (`Lsb`).
pub fn leading_zero_bits_in(bytes: &[u8], order: BitOrder) -> u32 {
    let mut n = 0;
    for &b in bytes {
        if b != 0 {
            return n + match order {
                BitOrder::Msb => b.leading_zeros(),
                BitOrder::Lsb => b.trailing_zeros(),
            };
        }
        n += 8;
    }
    n
}

/// Leading zero bits of a digest as the problem counts them: on the digest bytes (text), or
/// on the reversed digest, the little-endian number a block explorer shows (Bitcoin).
pub fn leading_zero_bits(problem: &Problem, digest: &Digest) -> u32 {
    match problem.format() {
        Format::Text => leading_zero_bits_in(digest, problem.bit_order()),
        Format::Bitcoin => {
            let mut reversed = *digest;
            reversed.reverse();
            leading_zero_bits_in(&reversed, problem.bit_order())
        }
    }
}

/// SHA-256 padding of a message's last block(s): the byte 0x80 right after the message's
/// `len` bytes in `blocks`, and the whole message's length, `total_len` bytes, as a big-endian
/// bit count in the last 8 bytes of `blocks`. The bytes between must already be zero.
pub(crate) const fn pad(blocks: &mut [u8], len: usize, total_len: u64) {
    blocks[len] = 0x80;
    let bits = (total_len * 8).to_be_bytes();
    let end = blocks.len() - 8;
    let mut i = 0;
    while i < 8 {
        blocks[end + i] = bits[i];
        i += 1;
    }
}

/// True when `digest` meets the problem's goal.
pub fn is_golden(problem: &Problem, digest: &Digest) -> bool {
    match problem.goal() {
        Goal::LeadingZeros(d) => leading_zero_bits(problem, digest) >= d,
        Goal::Target(target) => {
            // The digest is a little-endian number: compare its reversed bytes big-endian.
            let mut value = *digest;
            value.reverse();
            value <= target
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::problem::NonceRange;

    /// The Bitcoin genesis block header, nonce 2083236893.
    pub(crate) const GENESIS_HEADER_HEX: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";

    #[allow(non_snake_case)]
    pub(crate) fn GENESIS_HEADER_BYTES() -> Vec<u8> {
        hex::decode(GENESIS_HEADER_HEX).unwrap()
    }

    #[test]
    fn nist_vectors() {
        let cases: [(&[u8], &str); 3] = [
            (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            (
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(hex::encode(Sha256::digest(input)), want);
        }
    }

    #[test]
    fn genesis_header_is_golden_at_its_nonce() {
        let p = Problem::bitcoin(&GENESIS_HEADER_BYTES(), None).unwrap();
        let d = digest(&p, 2083236893);
        let mut shown = d;
        shown.reverse();
        assert_eq!(hex::encode(shown), "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f");
        assert!(is_golden(&p, &d));
        assert!(!is_golden(&p, &digest(&p, 2083236892)));
        assert_eq!(leading_zero_bits(&p, &d), 43);
        let _ = NonceRange::DEFAULT;
    }

    /// Fixed vectors computed with Python's hashlib:
    /// `hashlib.sha256(hashlib.sha256(b"COMSM0010cloud" + str(n).encode()).digest()).hexdigest()`.
    #[test]
    fn text_format_known_answers() {
        let p = Problem::text("COMSM0010cloud", 0).unwrap();
        for (nonce, want) in TEXT_VECTORS {
            assert_eq!(hex::encode(digest(&p, *nonce)), *want, "nonce {nonce}");
        }
    }

    /// Leading zero bits in both orders for the fixed vectors, as Python counts them:
    /// msb: `256 - int(hex, 16).bit_length()`; lsb: the reference worker's
    /// `(digest[i // 8] >> (i % 8)) & 1` loop.
    #[test]
    fn text_format_bit_orders() {
        for (nonce, msb, lsb) in TEXT_ZERO_BITS {
            let p = Problem::text("COMSM0010cloud", 0).unwrap();
            let d = digest(&p, *nonce);
            assert_eq!(leading_zero_bits(&p, &d), *msb, "msb nonce {nonce}");
            let p = p.with_bit_order(BitOrder::Lsb);
            assert_eq!(leading_zero_bits(&p, &d), *lsb, "lsb nonce {nonce}");
        }
    }

    /// [`pad`] gives the blocks `sha2` hashes, for one and two final blocks.
    #[test]
    fn pad_matches_sha2() {
        for len in [0usize, 3, 55, 56, 63, 64, 100, 119] {
            let msg: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
            let mut blocks = vec![[0u8; 64]; (len + 9).div_ceil(64)];
            blocks.as_flattened_mut()[..len].copy_from_slice(&msg);
            pad(blocks.as_flattened_mut(), len, len as u64);
            let mut state = crate::kernel::IV;
            sha2::block_api::compress256(&mut state, &blocks);
            assert_eq!(crate::kernel::state_to_digest(&state), Digest::from(Sha256::digest(&msg)), "length {len}");
        }
    }

    pub(crate) use crate::test_vectors::*;
}
