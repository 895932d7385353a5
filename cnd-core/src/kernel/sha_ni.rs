//! The SHA-NI kernel: `STREAMS` (4) messages interleaved through the SHA extensions.
//!
//! One message is latency-bound: each `sha256rnds2` waits for the previous one. Several
//! independent messages, instruction by instruction, keep the unit busy. Constant work is
//! hoisted as in the lane kernels: a constant first block is compressed once per run (see
//! `runs.rs`), the window words are rewritten in place in each stream's block, the second
//! hash's padding words are constants, and for Bitcoin the second hash stops after 62 rounds
//! (digest word 7 is then known).

use std::arch::x86_64::*;
use std::sync::atomic::AtomicBool;

use super::runs::{self, K};
use super::simd::{BitcoinFill, Fill, ScanSink, Sink};
use super::{IV, Prepared, Scan};
use crate::problem::{Format, NonceRange};

/// Messages in flight (2, 3 and 4 measured: 4 is fastest on Zen 4; see `kernel_speed`).
const STREAMS: usize = 4;

/// True when this CPU can run the kernel.
pub(super) fn is_available() -> bool {
    is_x86_feature_detected!("sha") && is_x86_feature_detected!("sse4.1") && is_x86_feature_detected!("ssse3")
}

/// # Safety
/// The CPU must have `sha`, `ssse3` and `sse4.1` ([`is_available`]).
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(super) unsafe fn scan(prepared: &Prepared, range: NonceRange, stop: &AtomicBool) -> Scan {
    let mut sink = ScanSink::new(prepared, stop);
    // SAFETY: this function has the features `drive` needs.
    unsafe { drive::<STREAMS, _>(prepared, range, &mut sink) };
    sink.scan
}

/// # Safety
/// As [`scan`].
#[cfg(test)]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(super) unsafe fn words(prepared: &Prepared, range: NonceRange) -> Vec<u32> {
    let mut sink = super::simd::CollectSink::default();
    // SAFETY: as in `scan`.
    unsafe { drive::<STREAMS, _>(prepared, range, &mut sink) };
    sink.words
}

/// [`scan`] with `N` streams (to compare stream counts).
///
/// # Safety
/// As [`scan`].
#[cfg(test)]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(super) unsafe fn scan_streams<const N: usize>(prepared: &Prepared, range: NonceRange, stop: &AtomicBool) -> Scan {
    let mut sink = ScanSink::new(prepared, stop);
    // SAFETY: as in `scan`.
    unsafe { drive::<N, _>(prepared, range, &mut sink) };
    sink.scan
}

/// A state as SHA-NI holds it: (ABEF, CDGH).
type State = [__m128i; 2];

#[inline(always)]
unsafe fn to_state(s: &[u32; 8]) -> State {
    let s = s.map(|x| x as i32);
    unsafe { [_mm_set_epi32(s[0], s[1], s[4], s[5]), _mm_set_epi32(s[2], s[3], s[6], s[7])] }
}

/// Rounds of one block for each of `N` streams, without the feed-forward. With `EARLY7`, stops
/// after 62 rounds: then `st[j][1]`'s lane 0 is the final h (before the feed-forward).
#[inline(always)]
unsafe fn rounds<const N: usize, const EARLY7: bool>(st: &mut [State; N], w: &[[__m128i; 4]; N]) {
    unsafe {
        let mut m = *w;
        macro_rules! quad {
            ($q:literal) => {
                if $q >= 4 {
                    for mj in m.iter_mut() {
                        let x = _mm_sha256msg1_epu32(mj[$q % 4], mj[($q + 1) % 4]);
                        let x = _mm_add_epi32(x, _mm_alignr_epi8::<4>(mj[($q + 3) % 4], mj[($q + 2) % 4]));
                        mj[$q % 4] = _mm_sha256msg2_epu32(x, mj[($q + 3) % 4]);
                    }
                }
                let k =
                    _mm_set_epi32(K[4 * $q + 3] as i32, K[4 * $q + 2] as i32, K[4 * $q + 1] as i32, K[4 * $q] as i32);
                let mut wk = [k; N];
                for j in 0..N {
                    wk[j] = _mm_add_epi32(m[j][$q % 4], k);
                }
                for j in 0..N {
                    st[j][1] = _mm_sha256rnds2_epu32(st[j][1], st[j][0], wk[j]);
                }
                if EARLY7 && $q == 15 {
                    return;
                }
                for j in 0..N {
                    st[j][0] = _mm_sha256rnds2_epu32(st[j][0], st[j][1], _mm_shuffle_epi32::<0x0e>(wk[j]));
                }
            };
        }
        quad!(0);
        quad!(1);
        quad!(2);
        quad!(3);
        quad!(4);
        quad!(5);
        quad!(6);
        quad!(7);
        quad!(8);
        quad!(9);
        quad!(10);
        quad!(11);
        quad!(12);
        quad!(13);
        quad!(14);
        quad!(15);
    }
}

/// The second hash of each stream's first-hash state; returns the output word the early test
/// reads (word 0, or word 7 with `BITCOIN`).
#[inline(always)]
unsafe fn second<const N: usize, const BITCOIN: bool>(h: &[State; N]) -> [u32; N] {
    unsafe {
        let pad0 = _mm_set_epi32(0, 0, 0, 0x8000_0000u32 as i32);
        let pad1 = _mm_set_epi32(256, 0, 0, 0);
        let mut w = [[pad0, pad0, pad0, pad1]; N];
        for (wj, [abef, cdgh]) in w.iter_mut().zip(*h) {
            wj[0] = _mm_shuffle_epi32::<0x1b>(_mm_unpackhi_epi64(cdgh, abef));
            wj[1] = _mm_shuffle_epi32::<0x1b>(_mm_unpacklo_epi64(cdgh, abef));
        }
        let iv = to_state(&IV);
        let mut st = [iv; N];
        rounds::<N, BITCOIN>(&mut st, &w);
        let mut out = [0u32; N];
        for (o, s) in out.iter_mut().zip(st) {
            *o = if BITCOIN {
                (_mm_cvtsi128_si32(s[1]) as u32).wrapping_add(IV[7])
            } else {
                (_mm_extract_epi32::<3>(s[0]) as u32).wrapping_add(IV[0])
            };
        }
        out
    }
}

/// Hashes `range`, `N` nonces at a time. `blocks[j]` is stream j's message (words; 1 or 2
/// blocks); the fill rewrites words `ws` (and `ws + 1` unless `BITCOIN`) for every nonce.
/// Blocks `from..nblocks` are compressed from `state_in`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn run_streams<const N: usize, F: Fill, S: Sink, const BITCOIN: bool>(
    range: NonceRange,
    state_in: &[u32; 8],
    blocks: &mut [[u32; 32]; N],
    from: usize,
    nblocks: usize,
    ws: usize,
    fill: &mut F,
    sink: &mut S,
) -> bool {
    unsafe {
        let init = to_state(state_in);
        let (mut hi, mut lo) = ([0u32; 16], [0u32; 16]);
        let mut n = range.start;
        while n < range.end {
            let valid = (range.end - n).min(N as u64) as usize;
            fill.fill(&mut hi, &mut lo, N);
            for (j, b) in blocks.iter_mut().enumerate() {
                b[ws] = hi[j];
                if !BITCOIN {
                    b[ws + 1] = lo[j];
                }
            }
            let mut st = [init; N];
            for blk in from..nblocks {
                let mut w = [[init[0]; 4]; N];
                for (wj, b) in w.iter_mut().zip(blocks.iter()) {
                    for (q, wq) in wj.iter_mut().enumerate() {
                        *wq = _mm_loadu_si128(b[16 * blk + 4 * q..].as_ptr().cast());
                    }
                }
                let save = st;
                rounds::<N, false>(&mut st, &w);
                for (s, f) in st.iter_mut().zip(save) {
                    s[0] = _mm_add_epi32(s[0], f[0]);
                    s[1] = _mm_add_epi32(s[1], f[1]);
                }
            }
            let out = second::<N, BITCOIN>(&st);
            if sink.words(n, &out[..valid]) {
                return true;
            }
            n += valid as u64;
        }
        false
    }
}

#[inline(always)]
unsafe fn drive<const N: usize, S: Sink>(prepared: &Prepared, range: NonceRange, sink: &mut S) {
    unsafe {
        if prepared.problem().format() == Format::Bitcoin {
            let mut blocks = [[0u32; 32]; N];
            for b in blocks.iter_mut() {
                b[..16].copy_from_slice(&runs::bitcoin_block(prepared));
            }
            let mut fill = BitcoinFill { next: range.start };
            run_streams::<N, _, _, true>(range, prepared.midstate(), &mut blocks, 0, 1, 3, &mut fill, sink);
            return;
        }
        for run in runs::text_runs(prepared, range) {
            let mut template = [0u32; 32];
            template[..16].copy_from_slice(&runs::words(&run.blocks[0]));
            template[16..].copy_from_slice(&runs::words(&run.blocks[1]));
            let mut blocks = [template; N];
            let from = if run.nblocks == 2 && run.ws >= 16 { 1 } else { 0 };
            let mut fill = run.fill;
            let done = run_streams::<N, _, _, false>(
                run.range,
                &run.state_in,
                &mut blocks,
                from,
                run.nblocks,
                run.ws,
                &mut fill,
                sink,
            );
            if done {
                return;
            }
        }
    }
}
