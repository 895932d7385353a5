//! The lane engine shared by the AVX-512 (16 lanes) and AVX2 (8 lanes) kernels: one nonce
//! per 32-bit lane, consecutive nonces in consecutive lanes.
//!
//! The engine is generic over [`Lanes`] (a vector of 32-bit words and the SHA-256 operations
//! on it). Each block compression is monomorphised on which message words vary (`VAR`) and on
//! the round it starts at (`START`), so the compiler drops every constant term: the rounds
//! before the first varying word are computed once per run in scalar code, constant schedule
//! words become broadcast constants, and the second hash's padding words fold away. Only the
//! output word the early test reads is kept, so dead-code elimination removes the last rounds
//! that do not feed it (for Bitcoin, the last three rounds of the second hash).
//!
//! The entry points live in `avx512.rs` and `avx2.rs`: each implements [`Lanes`] with its
//! intrinsics, and [`trampolines!`] gives it [`Lanes::run`] and its `scan`, compiled with its
//! target features, into which all of this is inlined.

use std::sync::atomic::{AtomicBool, Ordering};

use super::runs::{self, BlockConsts, Layout, SECOND, TextFill, schedule_var};
use super::{IV, Prepared, STOP_CHECK_INTERVAL, Scan};
use crate::hash;
use crate::problem::{Format, NonceRange};

/// The `#[target_feature]` trampolines of a kernel: functions compiled with its CPU features
/// that only call the generic code, which is inlined into them (a feature cannot be a generic
/// parameter).
///
/// - `trampolines!(entry_points, "features", drive)`: the kernel's `scan` and (tests) `words`,
///   over its `drive(prepared, range, sink)`.
/// - `trampolines!(lanes_run, "features")`, in an `impl Lanes`: [`Lanes::run`].
macro_rules! trampolines {
    (entry_points, $features:literal, $drive:expr) => {
        /// Scans `range` (see `Kernel::scan`).
        ///
        /// # Safety
        /// The CPU must have the kernel's features (`is_available`).
        #[target_feature(enable = $features)]
        pub(super) unsafe fn scan(
            prepared: &$crate::kernel::Prepared,
            range: $crate::problem::NonceRange,
            stop: &::std::sync::atomic::AtomicBool,
        ) -> $crate::kernel::Scan {
            let mut sink = $crate::kernel::simd::ScanSink::new(prepared, stop);
            // SAFETY: this function has the features `drive` needs.
            unsafe { $drive(prepared, range, &mut sink) };
            sink.scan
        }

        /// Every nonce's output word (see `Kernel::output_words`).
        ///
        /// # Safety
        /// As `scan`.
        #[cfg(test)]
        #[target_feature(enable = $features)]
        pub(super) unsafe fn words(
            prepared: &$crate::kernel::Prepared,
            range: $crate::problem::NonceRange,
        ) -> Vec<u32> {
            let mut sink = $crate::kernel::simd::CollectSink::default();
            // SAFETY: as in `scan`.
            unsafe { $drive(prepared, range, &mut sink) };
            sink.words
        }
    };
    (lanes_run, $features:literal) => {
        #[target_feature(enable = $features)]
        #[inline(never)]
        unsafe fn run<
            F: $crate::kernel::simd::Fill,
            S: $crate::kernel::simd::Sink,
            const VAR0: u32,
            const START0: usize,
            const VAR1: u32,
            const TWO: bool,
            const OUT: usize,
        >(
            job: &$crate::kernel::simd::Job,
            fill: &mut F,
            sink: &mut S,
        ) -> bool {
            // SAFETY: this function has the features `Self`'s `Lanes` needs.
            unsafe { $crate::kernel::simd::run::<Self, F, S, VAR0, START0, VAR1, TWO, OUT>(job, fill, sink) }
        }
    };
}
pub(super) use trampolines;

/// A vector of 32-bit lanes and the SHA-256 operations on it.
///
/// # Safety
/// Every method may only be called where the CPU features of the implementation are
/// available (the kernels check them before the first call).
pub(super) unsafe trait Lanes: Copy {
    /// Lanes per vector (at most 16).
    const N: usize;
    /// Every lane `x`.
    unsafe fn splat(x: u32) -> Self;
    /// The first `N` words of `x`.
    unsafe fn load(x: &[u32; 16]) -> Self;
    /// Stores the lanes into the first `N` words of `x`.
    #[cfg_attr(not(test), allow(dead_code))]
    unsafe fn store(self, x: &mut [u32; 16]);
    /// Lane-wise wrapping addition.
    unsafe fn add(self, b: Self) -> Self;
    /// Σ0.
    unsafe fn big_sigma0(self) -> Self;
    /// Σ1.
    unsafe fn big_sigma1(self) -> Self;
    /// σ0.
    unsafe fn small_sigma0(self) -> Self;
    /// σ1.
    unsafe fn small_sigma1(self) -> Self;
    /// Ch(e, f, g).
    unsafe fn ch(e: Self, f: Self, g: Self) -> Self;
    /// Maj(a, b, c), given `bc = b ^ c` (the previous round's `a ^ b`), which lets a kernel
    /// without a three-input logic instruction save one operation per round.
    unsafe fn maj(a: Self, b: Self, c: Self, bc: Self) -> Self;
    /// Lane-wise XOR.
    unsafe fn xor(self, b: Self) -> Self;
    /// Bit `i` set when lane `i` of `self & mask` is zero.
    unsafe fn zero_lanes(self, mask: Self) -> u32;
    /// [`run`] for this vector type, compiled with its target features (`trampolines!`).
    #[allow(clippy::too_many_arguments)]
    unsafe fn run<
        F: Fill,
        S: Sink,
        const VAR0: u32,
        const START0: usize,
        const VAR1: u32,
        const TWO: bool,
        const OUT: usize,
    >(
        job: &Job,
        fill: &mut F,
        sink: &mut S,
    ) -> bool;
}

/// Makes the window words of the next `n` nonces (high word, and low word if any).
pub(super) trait Fill {
    /// Fills lanes `0..n` of `hi` and `lo`.
    fn fill(&mut self, hi: &mut [u32; 16], lo: &mut [u32; 16], n: usize);
}

impl Fill for TextFill {
    #[inline(always)]
    fn fill(&mut self, hi: &mut [u32; 16], lo: &mut [u32; 16], n: usize) {
        for i in 0..n {
            (hi[i], lo[i]) = self.next();
        }
    }
}

/// The Bitcoin nonce word (word 3 of the header's second block), big-endian.
#[derive(Debug)]
pub(super) struct BitcoinFill {
    /// The next nonce.
    pub(super) next: u64,
}

impl Fill for BitcoinFill {
    #[inline(always)]
    fn fill(&mut self, hi: &mut [u32; 16], _lo: &mut [u32; 16], n: usize) {
        for (i, w) in hi.iter_mut().enumerate().take(n) {
            *w = (self.next.wrapping_add(i as u64) as u32).swap_bytes();
        }
        self.next = self.next.wrapping_add(n as u64);
    }
}

/// Receives the output word of every batch of lanes.
pub(super) trait Sink {
    /// `word` holds, for nonces `first..first + valid`, the output word the early test reads
    /// (lanes past `valid` are garbage). Returns true to end the scan.
    ///
    /// # Safety
    /// Only where `V`'s CPU features are available.
    unsafe fn batch<V: Lanes>(&mut self, first: u64, valid: usize, word: V) -> bool;

    /// The output words of nonces `first..first + words.len()`, from a kernel that has them
    /// as scalars (SHA-NI). Returns true to end the scan.
    fn words(&mut self, first: u64, words: &[u32]) -> bool;
}

/// The scan: early test in lanes, confirmation by the reference, stop flag.
#[derive(Debug)]
pub(super) struct ScanSink<'a> {
    prepared: &'a Prepared,
    stop: &'a AtomicBool,
    /// The early test's mask, on the output word as the kernel computes it (big-endian).
    mask: u32,
    since_check: u64,
    pub(super) scan: Scan,
}

impl<'a> ScanSink<'a> {
    pub(super) fn new(prepared: &'a Prepared, stop: &'a AtomicBool) -> Self {
        let early = prepared.early_test();
        let mask = if early.swap_bytes { early.mask.swap_bytes() } else { early.mask };
        Self { prepared, stop, mask, since_check: STOP_CHECK_INTERVAL, scan: Scan::default() }
    }

    /// The state word the early test reads: 0 (text) or 7 (Bitcoin).
    pub(super) fn out_word(prepared: &Prepared) -> usize {
        prepared.early_test().word
    }

    #[inline(always)]
    fn candidates(&mut self, first: u64, valid: usize, mut lanes: u32) -> bool {
        self.scan.hashes += valid as u64;
        while lanes != 0 {
            let nonce = first + u64::from(lanes.trailing_zeros());
            lanes &= lanes - 1;
            let problem = self.prepared.problem();
            if hash::is_golden(problem, &hash::digest(problem, nonce)) {
                self.scan.golden = Some(nonce);
                return true;
            }
        }
        self.since_check += valid as u64;
        if self.since_check >= STOP_CHECK_INTERVAL {
            self.since_check = 0;
            if self.stop.load(Ordering::Relaxed) {
                self.scan.stopped = true;
                return true;
            }
        }
        false
    }
}

impl Sink for ScanSink<'_> {
    #[inline(always)]
    unsafe fn batch<V: Lanes>(&mut self, first: u64, valid: usize, word: V) -> bool {
        // SAFETY: the caller guarantees V's features.
        let lanes = unsafe { word.zero_lanes(V::splat(self.mask)) } & low_bits(valid);
        self.candidates(first, valid, lanes)
    }

    #[inline(always)]
    fn words(&mut self, first: u64, words: &[u32]) -> bool {
        let mut lanes = 0;
        for (i, w) in words.iter().enumerate() {
            lanes |= u32::from(w & self.mask == 0) << i;
        }
        self.candidates(first, words.len(), lanes)
    }
}

#[inline(always)]
fn low_bits(n: usize) -> u32 {
    if n >= 32 { u32::MAX } else { (1 << n) - 1 }
}

/// Collects every output word (tests compare them with the reference digests).
#[cfg(test)]
#[derive(Debug, Default)]
pub(super) struct CollectSink {
    pub(super) words: Vec<u32>,
}

#[cfg(test)]
impl Sink for CollectSink {
    unsafe fn batch<V: Lanes>(&mut self, _first: u64, valid: usize, word: V) -> bool {
        let mut out = [0u32; 16];
        // SAFETY: the caller guarantees V's features.
        unsafe { word.store(&mut out) };
        self.words.extend_from_slice(&out[..valid]);
        false
    }

    fn words(&mut self, _first: u64, words: &[u32]) -> bool {
        self.words.extend_from_slice(words);
        false
    }
}

/// What a run's batches share.
#[derive(Debug)]
pub(super) struct Job {
    /// The nonces.
    pub(super) range: NonceRange,
    /// State of block 0 after its first `START0` rounds.
    pub(super) state: [u32; 8],
    /// State entering block 0 (added back after its last round).
    pub(super) feed: [u32; 8],
    /// Block 0's constants.
    pub(super) c0: BlockConsts,
    /// Block 1's constants (two-block layouts).
    pub(super) c1: BlockConsts,
}

/// `$m!(t)` for every round `t` of 0..64, `t` a literal.
macro_rules! seq64 {
    ($m:ident) => {
        seq64!($m; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
            32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63)
    };
    ($m:ident; $($t:literal)*) => {
        $($m!($t);)*
    };
}

/// `x + y`, or `y` when there is no `x`.
#[inline(always)]
unsafe fn add_opt<V: Lanes>(x: Option<V>, y: V) -> V {
    // SAFETY: the caller guarantees V's features.
    unsafe {
        match x {
            Some(x) => x.add(y),
            None => y,
        }
    }
}

/// Rounds `START..64` of one block, without the feed-forward. `state` is the state after
/// round `START - 1`; `wv` holds the varying message words (the others come from `c`).
#[inline(always)]
#[allow(unused_assignments)] // the last round's `bc` is not read
unsafe fn block<V: Lanes, const VAR: u32, const START: usize>(
    state: [V; 8],
    wv: &[V; 16],
    consts: &BlockConsts,
) -> [V; 8] {
    let var = const { schedule_var(VAR) };
    // SAFETY: the caller guarantees V's features.
    unsafe {
        // Logical register i (a = 0 .. h = 7) of round t lives in s[(i - t) mod 8].
        let mut s = state;
        for (i, x) in state.into_iter().enumerate() {
            s[(i + 64 - START) % 8] = x;
        }
        let mut w = *wv;
        // b ^ c of round START; each round hands its a ^ b to the next as b ^ c.
        let mut bc = s[(65 - START) % 8].xor(s[(66 - START) % 8]);
        macro_rules! round {
            ($t:literal) => {
                if $t >= START {
                    let kw = if (var >> $t) & 1 == 0 {
                        V::splat(consts.kw[$t])
                    } else {
                        if $t >= 16 {
                            let v2 = (var >> (($t + 62) % 64)) & 1 != 0;
                            let v7 = (var >> (($t + 57) % 64)) & 1 != 0;
                            let v15 = (var >> (($t + 49) % 64)) & 1 != 0;
                            let v16 = (var >> (($t + 48) % 64)) & 1 != 0;
                            let mut x = if v2 && v7 && v15 && v16 { None } else { Some(V::splat(consts.part[$t])) };
                            if v16 {
                                x = Some(add_opt(x, w[$t % 16]));
                            }
                            if v7 {
                                x = Some(add_opt(x, w[($t + 9) % 16]));
                            }
                            if v15 {
                                x = Some(add_opt(x, w[($t + 1) % 16].small_sigma0()));
                            }
                            if v2 {
                                x = Some(add_opt(x, w[($t + 14) % 16].small_sigma1()));
                            }
                            w[$t % 16] = x.expect("a varying word has a varying term");
                        }
                        w[$t % 16].add(V::splat(runs::K[$t]))
                    };
                    let a = s[(64 - $t) % 8];
                    let b = s[(65 - $t) % 8];
                    let c = s[(66 - $t) % 8];
                    let d = s[(67 - $t) % 8];
                    let e = s[(68 - $t) % 8];
                    let f = s[(69 - $t) % 8];
                    let g = s[(70 - $t) % 8];
                    let h = s[(71 - $t) % 8];
                    let t1 = h.add(kw).add(V::ch(e, f, g)).add(e.big_sigma1());
                    let t2 = a.big_sigma0().add(V::maj(a, b, c, bc));
                    bc = a.xor(b);
                    s[(67 - $t) % 8] = d.add(t1);
                    s[(71 - $t) % 8] = t1.add(t2);
                }
            };
        }
        seq64!(round);
        s
    }
}

/// Hashes the nonces of `job.range` in batches of `V::N` lanes and hands the output word of
/// each batch to `sink`. Returns true when the sink ended the scan.
///
/// Block 0 has varying words `VAR0` and starts at round `START0`; with `TWO`, block 1 has
/// varying words `VAR1` and starts from block 0's output. The window's high word is block 0's
/// first varying word; its low word the next word (in block 0, or word 0 of block 1).
///
/// # Safety
/// Only where `V`'s CPU features are available.
#[inline(always)]
pub(super) unsafe fn run<
    V: Lanes,
    F: Fill,
    S: Sink,
    const VAR0: u32,
    const START0: usize,
    const VAR1: u32,
    const TWO: bool,
    const OUT: usize,
>(
    job: &Job,
    fill: &mut F,
    sink: &mut S,
) -> bool {
    // SAFETY: the caller guarantees V's features.
    unsafe {
        let (mut state, mut feed, mut iv) = ([V::splat(0); 8], [V::splat(0); 8], [V::splat(0); 8]);
        for i in 0..8 {
            state[i] = V::splat(job.state[i]);
            feed[i] = V::splat(job.feed[i]);
            iv[i] = V::splat(IV[i]);
        }
        let first_var = VAR0.trailing_zeros() as usize;
        let (mut hi, mut lo) = ([0u32; 16], [0u32; 16]);
        let mut n = job.range.start;
        while n < job.range.end {
            let valid = (job.range.end - n).min(V::N as u64) as usize;
            fill.fill(&mut hi, &mut lo, V::N);
            let (vh, vl) = (V::load(&hi), V::load(&lo));
            let mut wv = [vh; 16];
            if first_var + 1 < 16 {
                wv[first_var + 1] = vl;
            }
            let mut out = block::<V, VAR0, START0>(state, &wv, &job.c0);
            for (o, f) in out.iter_mut().zip(feed) {
                *o = o.add(f);
            }
            if TWO {
                let wv1 = [vl; 16];
                let mut o1 = block::<V, VAR1, 0>(out, &wv1, &job.c1);
                for (o, f) in o1.iter_mut().zip(out) {
                    *o = o.add(f);
                }
                out = o1;
            }
            let mut w2 = [vh; 16];
            w2[..8].copy_from_slice(&out);
            let second = block::<V, 0xff, 0>(iv, &w2, &SECOND);
            let word = second[OUT].add(iv[OUT]);
            if sink.batch(n, valid, word) {
                return true;
            }
            n += valid as u64;
        }
        false
    }
}

/// Splits `range` into runs and hashes each with the variant that fits its layout.
///
/// # Safety
/// Only where `V`'s CPU features are available.
pub(super) unsafe fn drive<V: Lanes, S: Sink>(prepared: &Prepared, range: NonceRange, sink: &mut S) {
    // SAFETY (whole body): forwarded from the caller.
    unsafe {
        if prepared.problem().format() == Format::Bitcoin {
            debug_assert_eq!(ScanSink::out_word(prepared), 7);
            let c0 = BlockConsts::new(&runs::words(&prepared.bitcoin_block()), 1 << 3);
            let feed = *prepared.midstate();
            let job = Job { range, state: runs::scalar_rounds(feed, &c0.kw, 0, 3), feed, c0, c1: c0 };
            let mut fill = BitcoinFill { next: range.start };
            V::run::<_, _, { 1 << 3 }, 3, 0, false, 7>(&job, &mut fill, sink);
            return;
        }
        debug_assert_eq!(ScanSink::out_word(prepared), 0);
        for run in runs::text_runs(prepared, range) {
            let (block, s, var) = run.window();
            let c0 = BlockConsts::new(&runs::words(&run.blocks[block]), var);
            let state = runs::scalar_rounds(run.state_in, &c0.kw, 0, s);
            // Block 1 follows when the window is in block 0 of two; its word 0 varies when the
            // window straddles the blocks.
            let c1 = BlockConsts::new(&runs::words(&run.blocks[1]), u32::from(s == 15));
            let job = Job { range: run.range, state, feed: run.state_in, c0, c1 };
            let mut fill = run.fill;
            macro_rules! go {
                ($two:literal; $($s:literal)*) => {
                    match s {
                        $($s => V::run::<_, _, { runs::window_var($s) }, $s, { ($s == 15) as u32 }, $two, 0>(
                            &job, &mut fill, sink,
                        ),)*
                        _ => unreachable!("window word {s}"),
                    }
                };
            }
            let done = match run.layout {
                Layout::LastBlock { .. } => go!(false; 0 1 2 3 4 5 6 7 8 9 10 11 12),
                Layout::FirstOfTwo { .. } | Layout::Straddle => go!(true; 12 13 14 15),
            };
            if done {
                return;
            }
        }
    }
}
