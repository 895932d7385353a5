//! The portable kernel: scalar code on `sha2`'s compression function. Runs anywhere; the
//! floor every other kernel is measured against.

use std::sync::atomic::{AtomicBool, Ordering};

use sha2::block_api::compress256;

use super::{IV, Prepared, SECOND_BLOCK, STOP_CHECK_INTERVAL, Scan, digit_segments};
use crate::problem::{Format, NonceRange};

pub(super) fn scan(prepared: &Prepared, range: NonceRange, stop: &AtomicBool) -> Scan {
    match prepared.problem().format() {
        Format::Text => scan_text(prepared, range, stop),
        Format::Bitcoin => scan_bitcoin(prepared, range, stop),
    }
}

/// The second hash of a 32-byte digest: one block, constant padding.
#[inline(always)]
fn second_hash(first: &[u32; 8]) -> [u32; 8] {
    let mut block = SECOND_BLOCK;
    for (i, w) in first.iter().enumerate() {
        block[4 * i..4 * i + 4].copy_from_slice(&w.to_be_bytes());
    }
    let mut state = IV;
    compress256(&mut state, &[block]);
    state
}

fn scan_text(prepared: &Prepared, range: NonceRange, stop: &AtomicBool) -> Scan {
    let early = prepared.early_test();
    let digits_at = prepared.tail().len();
    let mut hashes = 0u64;
    for (segment, digits) in digit_segments(range) {
        // The padded final block(s); the digits are then incremented in place.
        let (mut buf, nblocks) = prepared.text_blocks(segment.start);
        let mut nonce = segment.start;
        while nonce < segment.end {
            if (nonce - segment.start).is_multiple_of(STOP_CHECK_INTERVAL) && stop.load(Ordering::Relaxed) {
                return Scan { golden: None, hashes, stopped: true };
            }
            let mut state = *prepared.midstate();
            compress256(&mut state, &buf[..nblocks]);
            let out = second_hash(&state);
            hashes += 1;
            if early.passes(&out) && prepared.is_golden_state(&out) {
                return Scan { golden: Some(nonce), hashes, stopped: false };
            }
            nonce += 1;
            if nonce < segment.end {
                increment_ascii(&mut buf.as_flattened_mut()[digits_at..digits_at + digits]);
            }
        }
    }
    Scan { golden: None, hashes, stopped: false }
}

/// Adds one to a decimal number kept as ASCII digits (no carry out of the first digit: the
/// caller splits ranges where the digit count changes).
#[inline(always)]
pub(crate) fn increment_ascii(digits: &mut [u8]) {
    for d in digits.iter_mut().rev() {
        if *d == b'9' {
            *d = b'0';
        } else {
            *d += 1;
            return;
        }
    }
}

fn scan_bitcoin(prepared: &Prepared, range: NonceRange, stop: &AtomicBool) -> Scan {
    let early = prepared.early_test();
    let mut block = prepared.bitcoin_block();
    let mut hashes = 0u64;
    for nonce in range.start..range.end {
        if (nonce - range.start).is_multiple_of(STOP_CHECK_INTERVAL) && stop.load(Ordering::Relaxed) {
            return Scan { golden: None, hashes, stopped: true };
        }
        block[12..16].copy_from_slice(&(nonce as u32).to_le_bytes());
        let mut state = *prepared.midstate();
        compress256(&mut state, &[block]);
        let out = second_hash(&state);
        hashes += 1;
        if early.passes(&out) && prepared.is_golden_state(&out) {
            return Scan { golden: Some(nonce), hashes, stopped: false };
        }
    }
    Scan { golden: None, hashes, stopped: false }
}
