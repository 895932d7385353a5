//! Hashing kernels: one file per backend, one signature, one runtime choice.
//!
//! A kernel scans a range of nonces in increasing order and returns the first golden nonce
//! it meets (so, within that range, the lowest), counting the hashes it did. Everything that
//! does not change across nonces is computed once in [`Prepared`]. The choice of kernel is
//! made once per process by measurement ([`Kernel::best`], see [`choice`]), or forced with
//! `CND_KERNEL` / `--kernel`; every kernel is checked against the `sha2` reference in the
//! tests. Every rate measurement hashes the same nonces the same way ([`measure`]).

use std::sync::atomic::AtomicBool;

use crate::hash::{self, Digest};
use crate::problem::{BITCOIN_HEADER_LEN, BitOrder, Format, Goal, NonceRange, Problem};

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
pub mod choice;
#[cfg(target_arch = "x86_64")]
mod hybrid;
pub mod measure;
mod portable;
#[cfg(target_arch = "x86_64")]
mod runs;
#[cfg(target_arch = "x86_64")]
mod sha_ni;
#[cfg(target_arch = "x86_64")]
mod simd;

/// The SHA-256 initial state.
pub(crate) const IV: [u32; 8] =
    [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/// The second hash's block: a 32-byte digest (left zero here) and its padding.
pub(crate) const SECOND_BLOCK: [u8; 64] = {
    let mut block = [0u8; 64];
    hash::pad(&mut block, 32, 32);
    block
};

/// How many nonces a kernel hashes between two looks at the stop flag.
pub(crate) const STOP_CHECK_INTERVAL: u64 = 4096;

/// A hashing kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// x86_64 with AVX-512 (`avx512f` + `avx512vl`): 16 nonces per instruction.
    Avx512,
    /// x86_64 with the SHA extensions and AVX-512: SHA-NI messages and 16 AVX-512 lanes
    /// interleaved in one instruction stream (assembly).
    Hybrid,
    /// x86_64 with the SHA extensions: several messages interleaved through `sha256rnds2`.
    ShaNi,
    /// x86_64 with AVX2: 8 nonces per instruction.
    Avx2,
    /// Scalar, on `sha2`'s compression function: any CPU, any architecture.
    Portable,
}

/// Error for a kernel name that is unknown or that this CPU cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    /// Not a kernel name.
    #[error("'{name}' is not a kernel (allowed: {allowed})")]
    Unknown {
        /// The name given.
        name: String,
        /// The kernel names.
        allowed: String,
    },
    /// The CPU lacks the features the kernel needs.
    #[error("this CPU cannot run the {name} kernel (available here: {available})")]
    Unavailable {
        /// The kernel asked for.
        name: &'static str,
        /// The kernels this CPU can run.
        available: String,
    },
}

impl Kernel {
    /// Every kernel, fastest first.
    pub const ALL: &'static [Kernel] = &[Kernel::Avx512, Kernel::Hybrid, Kernel::ShaNi, Kernel::Avx2, Kernel::Portable];

    /// The kernel's name, as `CND_KERNEL` and `--kernel` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Avx512 => "avx512",
            Kernel::Hybrid => "hybrid",
            Kernel::ShaNi => "sha-ni",
            Kernel::Avx2 => "avx2",
            Kernel::Portable => "portable",
        }
    }

    /// True when this CPU has every feature the kernel needs.
    pub fn is_available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => avx512::is_available(),
            #[cfg(target_arch = "x86_64")]
            Kernel::Hybrid => hybrid::is_available(),
            #[cfg(target_arch = "x86_64")]
            Kernel::ShaNi => sha_ni::is_available(),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => avx2::is_available(),
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx512 | Kernel::Hybrid | Kernel::ShaNi | Kernel::Avx2 => false,
            Kernel::Portable => true,
        }
    }

    /// The kernels this CPU can run, fastest first.
    pub fn available() -> Vec<Kernel> {
        Self::ALL.iter().copied().filter(|k| k.is_available()).collect()
    }

    /// The fastest kernel this CPU can run, by measurement: the cached calibration for this
    /// CPU and binary, or a probe of about 200 ms on first use (see [`choice`]); the static
    /// order ([`Kernel::ALL`]) where there is nothing to measure or the probe cannot.
    pub fn best() -> Kernel {
        choice::choice().kernel
    }

    /// The fastest kernel for `format` by the same measurement as [`Kernel::best`].
    pub fn best_for(format: Format) -> Kernel {
        choice::choice().best_for(format)
    }

    /// The choice behind [`Kernel::best`], and why (made on first use).
    pub fn choice() -> &'static choice::KernelChoice {
        choice::choice()
    }

    /// A kernel by name; an error if the name is unknown or the CPU lacks its features.
    pub fn from_name(name: &str) -> Result<Kernel, KernelError> {
        let kernel =
            Self::ALL.iter().copied().find(|k| k.name() == name.trim().to_ascii_lowercase()).ok_or_else(|| {
                KernelError::Unknown {
                    name: name.to_string(),
                    allowed: Self::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", "),
                }
            })?;
        if !kernel.is_available() {
            return Err(KernelError::Unavailable {
                name: kernel.name(),
                available: Self::available().iter().map(|k| k.name()).collect::<Vec<_>>().join(", "),
            });
        }
        Ok(kernel)
    }

    /// The kernel `CND_KERNEL` forces, or the best one when it is unset or empty.
    pub fn from_env() -> Result<Kernel, KernelError> {
        match std::env::var("CND_KERNEL") {
            Ok(name) if !name.trim().is_empty() => Self::from_name(&name),
            _ => Ok(Self::best()),
        }
    }

    /// Scans `range` in increasing order; returns the first golden nonce and the hashes done.
    /// Stops early (with `stopped`) soon after `stop` becomes true.
    ///
    /// # Panics
    /// If the CPU cannot run this kernel (see [`Kernel::is_available`]).
    pub fn scan(self, prepared: &Prepared, range: NonceRange, stop: &AtomicBool) -> Scan {
        assert!(self.is_available(), "the {} kernel cannot run on this CPU", self.name());
        if range.is_empty() {
            return Scan::default();
        }
        match self {
            // SAFETY (the four x86 kernels): `is_available` checked above that the CPU has
            // every feature the kernel's `#[target_feature]` functions are compiled with.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { avx512::scan(prepared, range, stop) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Hybrid => unsafe { hybrid::scan(prepared, range, stop) },
            #[cfg(target_arch = "x86_64")]
            Kernel::ShaNi => unsafe { sha_ni::scan(prepared, range, stop) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { avx2::scan(prepared, range, stop) },
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx512 | Kernel::Hybrid | Kernel::ShaNi | Kernel::Avx2 => {
                unreachable!("not available on this architecture")
            }
            Kernel::Portable => portable::scan(prepared, range, stop),
        }
    }

    /// For every nonce of `range`, the final-state word the kernel computes for the early
    /// test (word 0 for text, word 7 for Bitcoin), to compare with the reference digest.
    #[cfg(test)]
    pub(crate) fn output_words(self, prepared: &Prepared, range: NonceRange) -> Vec<u32> {
        assert!(self.is_available());
        let word = prepared.early_test().word;
        match self {
            // SAFETY: as in `scan`.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { avx512::words(prepared, range) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Hybrid => unsafe { hybrid::words(prepared, range) },
            #[cfg(target_arch = "x86_64")]
            Kernel::ShaNi => unsafe { sha_ni::words(prepared, range) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { avx2::words(prepared, range) },
            _ => (range.start..range.end)
                .map(|n| {
                    let d = hash::digest(prepared.problem(), n);
                    u32::from_be_bytes(d[4 * word..4 * word + 4].try_into().expect("4 bytes"))
                })
                .collect(),
        }
    }
}

impl std::fmt::Display for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a kernel's scan of a range gave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scan {
    /// The first (lowest) golden nonce of the range, if any was met before stopping.
    pub golden: Option<u64>,
    /// Hashes computed (a SIMD kernel may count a few lanes past the golden nonce).
    pub hashes: u64,
    /// The scan ended early because the stop flag was set.
    pub stopped: bool,
}

/// A necessary condition on the final SHA-256 state for a digest to be golden, testable on
/// one state word: `(word(state) & mask) == 0`. Kernels test it first and confirm with the
/// full reference test ([`Prepared::is_golden_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EarlyTest {
    /// Which state word (0..8) to test.
    pub word: usize,
    /// Swap the word's bytes before masking (Bitcoin reads the digest reversed).
    pub swap_bytes: bool,
    /// Bits that must all be zero.
    pub mask: u32,
}

impl EarlyTest {
    /// True when the state may be golden.
    #[inline(always)]
    pub fn passes(&self, state: &[u32; 8]) -> bool {
        let w = state[self.word];
        let w = if self.swap_bytes { w.swap_bytes() } else { w };
        w & self.mask == 0
    }

    fn for_problem(problem: &Problem) -> Self {
        // How many of the first bits (in the problem's reading order) must be zero.
        let zero_bits = match problem.goal() {
            Goal::LeadingZeros(d) => d,
            Goal::Target(t) => hash::leading_zero_bits_in(&t, BitOrder::Msb),
        }
        .min(32);
        let order = match problem.goal() {
            Goal::Target(_) => BitOrder::Msb,
            Goal::LeadingZeros(_) => problem.bit_order(),
        };
        // A bit of the big-endian word is in the mask when it comes before bit `zero_bits` in
        // reading order: a word with only that bit set has fewer leading zero bits.
        let mask = (0..32)
            .map(|bit| 1u32 << bit)
            .filter(|w| hash::leading_zero_bits_in(&w.to_be_bytes(), order) < zero_bits)
            .fold(0, |mask, w| mask | w);
        match problem.format() {
            Format::Text => EarlyTest { word: 0, swap_bytes: false, mask },
            // Reversed digest: its first 4 bytes are digest[31], [30], [29], [28] = word 7 swapped.
            Format::Bitcoin => EarlyTest { word: 7, swap_bytes: true, mask },
        }
    }
}

/// Everything about a problem that a kernel computes once per run.
#[derive(Debug, Clone)]
pub struct Prepared {
    problem: Problem,
    early: EarlyTest,
    /// State after the whole 64-byte blocks of the constant prefix (text: of the block;
    /// Bitcoin: of the header's first 64 bytes).
    midstate: [u32; 8],
    /// Bytes of the constant prefix after those blocks (text: block tail; Bitcoin: header
    /// bytes 64..76).
    tail: Vec<u8>,
    /// Bytes already compressed into `midstate`.
    compressed_len: u64,
}

impl Prepared {
    /// Precomputes the constant part of `problem`.
    pub fn new(problem: &Problem) -> Self {
        let prefix: &[u8] = match problem.format() {
            Format::Text => problem.block(),
            Format::Bitcoin => &problem.block()[..76],
        };
        let whole = prefix.len() / 64 * 64;
        let mut midstate = IV;
        let blocks: Vec<[u8; 64]> = prefix[..whole].chunks_exact(64).map(|c| c.try_into().expect("64 bytes")).collect();
        sha2::block_api::compress256(&mut midstate, &blocks);
        Self {
            problem: problem.clone(),
            early: EarlyTest::for_problem(problem),
            midstate,
            tail: prefix[whole..].to_vec(),
            compressed_len: whole as u64,
        }
    }

    /// The problem.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }

    /// The one-word early test for this problem.
    pub fn early_test(&self) -> EarlyTest {
        self.early
    }

    /// State after the constant prefix's whole blocks.
    pub fn midstate(&self) -> &[u32; 8] {
        &self.midstate
    }

    /// The constant bytes after the midstate.
    pub fn tail(&self) -> &[u8] {
        &self.tail
    }

    /// Bytes compressed into the midstate (a multiple of 64).
    pub fn compressed_len(&self) -> u64 {
        self.compressed_len
    }

    /// The padded final block(s) of `nonce`'s text-format message (the tail, the nonce's
    /// decimal digits, the padding) and how many there are (1 or 2).
    pub(crate) fn text_blocks(&self, nonce: u64) -> ([[u8; 64]; 2], usize) {
        let digits = nonce.to_string();
        let msg_len = self.tail.len() + digits.len();
        let nblocks = (msg_len + 9).div_ceil(64);
        let mut blocks = [[0u8; 64]; 2];
        let bytes = &mut blocks.as_flattened_mut()[..64 * nblocks];
        bytes[..self.tail.len()].copy_from_slice(&self.tail);
        bytes[self.tail.len()..msg_len].copy_from_slice(digits.as_bytes());
        hash::pad(bytes, msg_len, self.compressed_len + msg_len as u64);
        (blocks, nblocks)
    }

    /// The Bitcoin format's second block, padded: header bytes 64..76, then the nonce
    /// (bytes 12..16, left zero here), then the padding of the 80-byte header.
    pub(crate) fn bitcoin_block(&self) -> [u8; 64] {
        let mut block = [0u8; 64];
        block[..self.tail.len()].copy_from_slice(&self.tail);
        hash::pad(&mut block, BITCOIN_HEADER_LEN - 64, BITCOIN_HEADER_LEN as u64);
        block
    }

    /// The full golden test on a final state (the second hash's output words).
    pub fn is_golden_state(&self, state: &[u32; 8]) -> bool {
        hash::is_golden(&self.problem, &state_to_digest(state))
    }
}

/// The digest bytes of a final SHA-256 state.
pub fn state_to_digest(state: &[u32; 8]) -> Digest {
    let mut d = [0u8; 32];
    for (i, w) in state.iter().enumerate() {
        d[4 * i..4 * i + 4].copy_from_slice(&w.to_be_bytes());
    }
    d
}

/// CPU time the calling thread has run, in seconds: rates per CPU-second are disturbed less
/// by other processes than wall-clock ones. From `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` on
/// Unix, which is exact to the nanosecond. (`/proc/thread-self/schedstat`, used before, only
/// advances at scheduler ticks, 4 ms steps here: ±25 % on the probe's 16 ms slices.) `None`
/// where the platform does not say.
pub fn thread_cpu_seconds() -> Option<f64> {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, writable timespec; the call only writes it.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        (rc == 0).then(|| ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The nonces of `range` split where the decimal digit count changes (9 → 10, 99 → 100, …),
/// so that every piece has one message length.
pub fn digit_segments(range: NonceRange) -> impl Iterator<Item = (NonceRange, usize)> {
    let mut start = range.start;
    std::iter::from_fn(move || {
        if start >= range.end {
            return None;
        }
        let digits = decimal_digits(start);
        let limit = if digits >= 20 { u64::MAX } else { 10u64.pow(digits as u32) };
        let end = range.end.min(limit);
        let seg = NonceRange { start, end };
        start = end;
        // u64::MAX itself has 20 digits and is excluded from a half-open range.
        Some((seg, digits))
    })
}

/// Number of decimal digits of `n` (1 for 0).
pub fn decimal_digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |l| l as usize + 1)
}

#[cfg(test)]
mod tests;
