//! The SHA-NI kernel: `STREAMS` (4) messages interleaved through the SHA extensions.
//!
//! One message is latency-bound: each `sha256rnds2` waits for the previous one (4 cycles on
//! the CPU measured, which issues one every 3 cycles at best). Several independent messages,
//! step by step, keep the unit busy. Constant work is hoisted as in the lane kernels: a
//! constant first block is compressed once per run (see `runs.rs`), so are the rounds before
//! the first step that reads a window word (2 of the 32 steps for the default text block, 1
//! for Bitcoin), the window words are rewritten in place in each stream's block, the second
//! hash's padding words are constants, and for Bitcoin the second hash stops after 62 rounds
//! (digest word 7 is then known).

use std::arch::x86_64::*;

use super::runs::{self, BlockConsts, K, Layout, SECOND_WORDS};
use super::simd::{self, BitcoinFill, Fill, Sink};
use super::{IV, Prepared};
use crate::problem::{Format, NonceRange};

/// Messages in flight (2, 3 and 4 measured within 2 % of each other here; see `kernel_speed`).
const STREAMS: usize = 4;

/// True when this CPU can run the kernel.
pub(super) fn is_available() -> bool {
    is_x86_feature_detected!("sha") && is_x86_feature_detected!("sse4.1") && is_x86_feature_detected!("ssse3")
}

// `scan` and `words`, compiled with the features `drive` needs.
simd::trampolines!(entry_points, "sha,sse2,ssse3,sse4.1", drive::<STREAMS, _>);

/// [`scan`] with `N` streams (to compare stream counts).
///
/// # Safety
/// As [`scan`].
#[cfg(test)]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(super) unsafe fn scan_streams<const N: usize>(
    prepared: &Prepared,
    range: NonceRange,
    stop: &std::sync::atomic::AtomicBool,
) -> super::Scan {
    let mut sink = simd::ScanSink::new(prepared, stop);
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

/// `N` SHA-NI messages hashed one `sha256rnds2` step at a time. Step `k` (0..32) is rounds
/// `2k` and `2k + 1` of the current block; a block may start at any step (the rounds before
/// it being constant across the run).
struct Streams<const N: usize> {
    st: [State; N],
    m: [[__m128i; 4]; N],
    wk: [__m128i; N],
}

impl<const N: usize> Streams<N> {
    /// Stream j's block is `blocks[j][..16]`, from `state`: the state after the block's
    /// first `2 * k0` rounds. The next step is `k0`.
    #[inline(always)]
    unsafe fn first(state: &[u32; 8], blocks: &[[u32; 32]; N], k0: usize) -> Self {
        unsafe {
            let s = to_state(state);
            // Odd k0: the next step is the second of its quad, which finds (CDGH, ABEF).
            let s = if k0.is_multiple_of(2) { s } else { [s[1], s[0]] };
            let mut streams = Self { st: [s; N], m: [[s[0]; 4]; N], wk: [s[0]; N] };
            streams.load(blocks, 0);
            streams
        }
    }

    /// Loads block `half` (0 or 1) of each stream's `blocks[j]`.
    #[inline(always)]
    unsafe fn load(&mut self, blocks: &[[u32; 32]; N], half: usize) {
        unsafe {
            for (mj, b) in self.m.iter_mut().zip(blocks) {
                for (q, mq) in mj.iter_mut().enumerate() {
                    *mq = _mm_loadu_si128(b[16 * half + 4 * q..].as_ptr().cast());
                }
            }
        }
    }

    /// Step `k` of a block whose first step is `k0` (both constants once inlined).
    #[inline(always)]
    unsafe fn step(&mut self, k: usize, k0: usize) {
        unsafe {
            let q = k / 2;
            if k.is_multiple_of(2) || k == k0 {
                if q >= 4 && k.is_multiple_of(2) {
                    for mj in self.m.iter_mut() {
                        let x = _mm_sha256msg1_epu32(mj[q % 4], mj[(q + 1) % 4]);
                        let x = _mm_add_epi32(x, _mm_alignr_epi8::<4>(mj[(q + 3) % 4], mj[(q + 2) % 4]));
                        mj[q % 4] = _mm_sha256msg2_epu32(x, mj[(q + 3) % 4]);
                    }
                }
                let kq = _mm_set_epi32(K[4 * q + 3] as i32, K[4 * q + 2] as i32, K[4 * q + 1] as i32, K[4 * q] as i32);
                for (wk, mj) in self.wk.iter_mut().zip(&self.m) {
                    *wk = _mm_add_epi32(mj[q % 4], kq);
                }
            }
            if k.is_multiple_of(2) {
                for (s, wk) in self.st.iter_mut().zip(self.wk) {
                    s[1] = _mm_sha256rnds2_epu32(s[1], s[0], wk);
                }
            } else {
                for (s, wk) in self.st.iter_mut().zip(self.wk) {
                    s[0] = _mm_sha256rnds2_epu32(s[0], s[1], _mm_shuffle_epi32::<0x0e>(wk));
                }
            }
        }
    }

    /// After step 31: adds each stream's `feed` (its state entering the block).
    #[inline(always)]
    unsafe fn feed_forward(&mut self, feed: &[State; N]) {
        unsafe {
            for (s, f) in self.st.iter_mut().zip(feed) {
                s[0] = _mm_add_epi32(s[0], f[0]);
                s[1] = _mm_add_epi32(s[1], f[1]);
            }
        }
    }

    /// After the first hash: sets up the second hash of each stream's digest.
    #[inline(always)]
    unsafe fn second(&mut self) {
        unsafe {
            let w = SECOND_WORDS.map(|x| x as i32);
            let pad0 = _mm_set_epi32(w[11], w[10], w[9], w[8]);
            let pad1 = _mm_set_epi32(w[15], w[14], w[13], w[12]);
            for (s, mj) in self.st.iter_mut().zip(self.m.iter_mut()) {
                let [abef, cdgh] = *s;
                *mj = [
                    _mm_shuffle_epi32::<0x1b>(_mm_unpackhi_epi64(cdgh, abef)),
                    _mm_shuffle_epi32::<0x1b>(_mm_unpacklo_epi64(cdgh, abef)),
                    pad0,
                    pad1,
                ];
                *s = to_state(&IV);
            }
        }
    }

    /// The output word of each stream after the second hash: word 0 after step 31, or (with
    /// `BITCOIN`) word 7 after step 30.
    #[inline(always)]
    unsafe fn out<const BITCOIN: bool>(&self) -> [u32; N] {
        unsafe {
            let mut out = [0u32; N];
            for (o, s) in out.iter_mut().zip(self.st) {
                *o = if BITCOIN {
                    (_mm_cvtsi128_si32(s[1]) as u32).wrapping_add(IV[7])
                } else {
                    (_mm_extract_epi32::<3>(s[0]) as u32).wrapping_add(IV[0])
                };
            }
            out
        }
    }
}

/// Hashes `range`, `N` nonces at a time. `template` is the message's last one or (with
/// `TWO`) two blocks; the fill rewrites word `ws` (and `ws + 1` unless `BITCOIN`) for every
/// nonce. The first block starts at step `K0` from `state` (its state after `2 * K0` rounds)
/// and `feed` is its state before round 0. Returns true when the sink ended the scan.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn run_batches<const N: usize, F: Fill, S: Sink, const BITCOIN: bool, const K0: usize, const TWO: bool>(
    range: NonceRange,
    state: &[u32; 8],
    feed: &[u32; 8],
    template: &[u32; 32],
    ws: usize,
    fill: &mut F,
    sink: &mut S,
) -> bool {
    unsafe {
        let feed = [to_state(feed); N];
        let mut blocks = [*template; N];
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
            let mut st = Streams::<N>::first(state, &blocks, K0);
            macro_rules! steps {
                ($k0:expr, $last:expr) => {
                    steps!($k0, $last; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31)
                };
                ($k0:expr, $last:expr; $($k:literal)*) => {
                    $( if $k >= $k0 && $k <= $last { st.step($k, $k0); } )*
                };
            }
            steps!(K0, 31);
            st.feed_forward(&feed);
            if TWO {
                let feed1 = st.st;
                st.load(&blocks, 1);
                steps!(0, 31);
                st.feed_forward(&feed1);
            }
            st.second();
            steps!(0, if BITCOIN { 30 } else { 31 });
            if sink.words(n, &st.out::<BITCOIN>()[..valid]) {
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
            // Word 3 (the nonce) is the first that varies: step 0 (rounds 0, 1) is done once.
            let block = runs::words(&prepared.bitcoin_block());
            let mut template = [0u32; 32];
            template[..16].copy_from_slice(&block);
            let feed = *prepared.midstate();
            let state = runs::scalar_rounds(feed, &BlockConsts::new(&block, 1 << 3).kw, 0, 2);
            let mut fill = BitcoinFill { next: range.start };
            run_batches::<N, _, _, true, 1, false>(range, &state, &feed, &template, 3, &mut fill, sink);
            return;
        }
        for run in runs::text_runs(prepared, range) {
            // The window's words within the blocks hashed per nonce, and the first block's
            // varying words: the steps before the first one that reads them are done once.
            let (first, s, var) = run.window();
            let mut template = [0u32; 32];
            template[..16].copy_from_slice(&runs::words(&run.blocks[first]));
            if first == 0 && run.nblocks == 2 {
                template[16..].copy_from_slice(&runs::words(&run.blocks[1]));
            }
            let kw = BlockConsts::new(&template[..16].try_into().expect("16 words"), var).kw;
            let state = runs::scalar_rounds(run.state_in, &kw, 0, s / 2 * 2);
            let mut fill = run.fill;
            macro_rules! go {
                ($two:literal; $($s:literal)*) => {
                    match s {
                        $($s => run_batches::<N, _, _, false, { $s / 2 }, $two>(
                            run.range, &state, &run.state_in, &template, s, &mut fill, sink,
                        ),)*
                        _ => unreachable!("window word {s}"),
                    }
                };
            }
            let done = match run.layout {
                Layout::LastBlock { .. } => go!(false; 0 1 2 3 4 5 6 7 8 9 10 11 12),
                _ => go!(true; 12 13 14 15),
            };
            if done {
                return;
            }
        }
    }
}
