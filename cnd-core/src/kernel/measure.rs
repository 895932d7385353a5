//! The one way a kernel's rate is measured: `cnd bench`, `cnd bench --calibrate`, the
//! planner's rate, the probe behind [`Kernel::best`] and `cargo bench --bench kernels` all
//! hash the same nonces ([`measure_problem`], [`measure_range`]) in the same chunks
//! ([`MEASURE_CHUNK`], [`scan_chunks`]) and count the same unit: nonces per second of CPU
//! time of the hashing thread ([`Sample::per_cpu_second`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Kernel, Prepared, thread_cpu_seconds};
use crate::problem::{DEFAULT_BLOCK, Format, NonceRange, Problem};

/// Nonces a measuring thread scans per call of the kernel: 2^16, fewer than a run (10^5
/// nonces, see `runs.rs`), so every chunk pays for at most one run start, as a search's
/// chunks do.
pub const MEASURE_CHUNK: u64 = 1 << 16;

/// The Bitcoin genesis block header: the Bitcoin format's measuring problem.
pub const GENESIS_HEADER_HEX: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";

/// The problem a rate is measured on: the default block (text) or the genesis header
/// (Bitcoin), at difficulty 256 so that no digest is golden and every scan runs to its end.
pub fn measure_problem(format: Format) -> Problem {
    match format {
        Format::Text => Problem::text(DEFAULT_BLOCK, 256),
        Format::Bitcoin => Problem::bitcoin(&hex::decode(GENESIS_HEADER_HEX).expect("valid hex"), Some(256)),
    }
    .expect("a valid measuring problem")
}

/// The nonces a rate is measured on: `[2^30, 2^31)` for text (10 decimal digits, the digit
/// count of most of the default range `[0, 2^32)`: 77 % of it), `[0, 2^31)` for Bitcoin
/// (the nonce is a 4-byte word, its value does not matter). Both are whole chunks.
pub fn measure_range(format: Format) -> NonceRange {
    match format {
        Format::Text => NonceRange { start: 1 << 30, end: 1 << 31 },
        Format::Bitcoin => NonceRange { start: 0, end: 1 << 31 },
    }
}

/// Scans chunk after chunk of `range` with `kernel`, taking chunk numbers from `next` (shared
/// by the threads of one measurement) and wrapping around inside `range`, for as long as
/// `more()` says; returns the hashes done. Golden nonces count as hashes, nothing more.
pub fn scan_chunks(
    kernel: Kernel,
    prepared: &Prepared,
    range: NonceRange,
    next: &AtomicU64,
    mut more: impl FnMut() -> bool,
) -> u64 {
    let chunks = range.len().div_ceil(MEASURE_CHUNK).max(1);
    let never = AtomicBool::new(false);
    let mut hashes = 0;
    while more() {
        let first = range.start + next.fetch_add(1, Ordering::Relaxed) % chunks * MEASURE_CHUNK;
        let chunk = NonceRange { start: first, end: first.saturating_add(MEASURE_CHUNK).min(range.end) };
        hashes += kernel.scan(prepared, chunk, &never).hashes;
    }
    hashes
}

/// What one thread's measurement counted.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// Hashes computed.
    pub hashes: u64,
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// CPU seconds of the thread (0 where the platform does not say).
    pub cpu_s: f64,
}

impl Sample {
    /// Hashes per CPU second, or per wall-clock second where CPU time is unknown: the rate of
    /// the thread while it runs, whatever else the machine does.
    pub fn per_cpu_second(&self) -> f64 {
        match (self.cpu_s > 0.0, self.wall_s > 0.0) {
            (true, _) => self.hashes as f64 / self.cpu_s,
            (false, true) => self.hashes as f64 / self.wall_s,
            _ => 0.0,
        }
    }
}

/// Measures `kernel` on the calling thread for about `duration` (at least one chunk),
/// taking chunk numbers from `next` (see [`scan_chunks`]).
pub fn sample(kernel: Kernel, prepared: &Prepared, range: NonceRange, next: &AtomicU64, duration: Duration) -> Sample {
    let cpu0 = thread_cpu_seconds();
    let began = Instant::now();
    let mut first = true;
    let hashes =
        scan_chunks(kernel, prepared, range, next, || std::mem::take(&mut first) || began.elapsed() < duration);
    let wall_s = began.elapsed().as_secs_f64();
    let cpu_s = match (cpu0, thread_cpu_seconds()) {
        (Some(a), Some(b)) => (b - a).max(0.0),
        _ => 0.0,
    };
    Sample { hashes, wall_s, cpu_s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_wrap_around_inside_the_range() {
        let prepared = Prepared::new(&measure_problem(Format::Text));
        let range = NonceRange { start: 10, end: 10 + 3 * MEASURE_CHUNK / 2 };
        let next = AtomicU64::new(0);
        let mut left = 5;
        let hashes = scan_chunks(Kernel::Portable, &prepared, range, &next, || {
            left -= 1;
            left >= 0
        });
        // Chunks 0, 1 (half), 0, 1 (half), 0.
        assert_eq!(hashes, 3 * MEASURE_CHUNK + MEASURE_CHUNK);
        assert_eq!(next.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn the_measuring_ranges_are_whole_chunks_of_one_digit_count() {
        for format in [Format::Text, Format::Bitcoin] {
            let r = measure_range(format);
            assert_eq!(r.len() % MEASURE_CHUNK, 0);
            assert!(measure_problem(format).difficulty() == Some(256));
        }
        let text = measure_range(Format::Text);
        assert_eq!(super::super::decimal_digits(text.start), super::super::decimal_digits(text.end - 1));
    }

    #[test]
    fn a_sample_hashes_at_least_one_chunk() {
        let prepared = Prepared::new(&measure_problem(Format::Bitcoin));
        let s = sample(Kernel::Portable, &prepared, measure_range(Format::Bitcoin), &AtomicU64::new(0), Duration::ZERO);
        assert_eq!(s.hashes, MEASURE_CHUNK);
        assert!(s.per_cpu_second() > 0.0, "{s:?}");
    }
}
