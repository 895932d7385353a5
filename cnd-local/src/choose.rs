//! The kernel chosen on the run's own nonces.
//!
//! Where no calibration is cached (a pod: its root filesystem is read-only and its cache
//! empty at every start), [`Kernel::best`] would spend its ≈ 200 ms probe hashing nonces that
//! belong to no run before the search starts. A worker instead lets the probe hash the first
//! nonces of its own range: every kernel in turn, on consecutive slices taken in increasing
//! order from the start of the range, each slice scanned like any other chunk (its hashes
//! count, a golden nonce in it is verified by the kernel and reported). The measured rates
//! choose the kernel for the rest of the range. Because the slices are consecutive and in
//! increasing order, the first golden nonce the probe meets is the lowest of the range: it
//! ends the search in `lowest` mode as well as in `first`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cnd_core::kernel_measure::MEASURE_CHUNK;
use cnd_core::{Kernel, NonceRange, Prepared, thread_cpu_seconds};

/// What choosing the kernel searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probed {
    /// The kernel for the rest of the range.
    pub kernel: Kernel,
    /// The nonces the probe searched: `[range.start, searched_to)` (up to and including its
    /// golden nonce, if it met one).
    pub searched_to: u64,
    /// The first golden nonce the probe met: the lowest of the range.
    pub golden: Option<u64>,
    /// Hashes the probe computed.
    pub hashes: u64,
    /// The stop flag ended the probe.
    pub stopped: bool,
}

impl Probed {
    /// No probe: `kernel` was known, nothing of the range starting at `start` searched.
    pub fn nothing(kernel: Kernel, start: u64) -> Self {
        Probed { kernel, searched_to: start, golden: None, hashes: 0, stopped: false }
    }
}

/// The kernel for a search of `range` on this thread: the process's choice if it needs no
/// measurement (forced, the only fast kernel, a cached calibration), else chosen by
/// measuring every kernel on the first nonces of `range`, which are thereby searched (see
/// the module's documentation). Adds the probe's hashes to `hashes` as it goes; stops soon
/// after `stop` is set.
pub fn choose_on_range(prepared: &Prepared, range: NonceRange, stop: &AtomicBool, hashes: &AtomicU64) -> Probed {
    let mut probed =
        Probed { kernel: Kernel::Portable, searched_to: range.start, golden: None, hashes: 0, stopped: false };
    let format = prepared.problem().format();
    let choice = cnd_core::kernel_choice::choose_by_search(format, &mut |kernel, budget| {
        measure_on_range(kernel, budget, prepared, range, stop, hashes, &mut probed)
    });
    probed.kernel = choice.kernel;
    probed
}

/// Scans `kernel` over the next slices of `range` for about `budget` of this thread's time
/// (at least one slice); the rate in nonces per CPU second, 0 once the probe is over (a
/// golden nonce met, the range searched, or `stop` set).
fn measure_on_range(
    kernel: Kernel,
    budget: Duration,
    prepared: &Prepared,
    range: NonceRange,
    stop: &AtomicBool,
    hashes: &AtomicU64,
    probed: &mut Probed,
) -> f64 {
    let (began, cpu0) = (Instant::now(), thread_cpu_seconds());
    let mut done = 0u64;
    while probed.golden.is_none() && probed.searched_to < range.end && (done == 0 || began.elapsed() < budget) {
        if stop.load(Ordering::Relaxed) {
            probed.stopped = true;
            break;
        }
        let slice = NonceRange {
            start: probed.searched_to,
            end: probed.searched_to.saturating_add(MEASURE_CHUNK).min(range.end),
        };
        let scan = kernel.scan(prepared, slice, stop);
        done += scan.hashes;
        hashes.fetch_add(scan.hashes, Ordering::Relaxed);
        if scan.stopped {
            probed.stopped = true;
            break;
        }
        match scan.golden {
            Some(n) => {
                probed.golden = Some(n);
                probed.searched_to = n + 1;
            }
            None => probed.searched_to = slice.end,
        }
    }
    probed.hashes += done;
    let cpu_s = match (cpu0, thread_cpu_seconds()) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => began.elapsed().as_secs_f64(),
    };
    if done == 0 || cpu_s <= 0.0 { 0.0 } else { done as f64 / cpu_s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cnd_core::{Problem, verify};

    /// The probe's work is the search's: its hashes are the nonces it covered, and the first
    /// golden nonce it meets is the lowest of the range, verified.
    #[test]
    fn the_probe_searches_the_first_nonces_in_order() {
        let p =
            Problem::text("COMSM0010cloud", 18).unwrap().with_range(NonceRange::new(1000, 3_000_000).unwrap()).unwrap();
        let want = (1000..3_000_000).find(|n| verify(&p, *n).is_valid()).unwrap();
        let (stop, hashes) = (AtomicBool::new(false), AtomicU64::new(0));
        let prepared = Prepared::new(&p);
        let mut probed =
            Probed { kernel: Kernel::Portable, searched_to: 1000, golden: None, hashes: 0, stopped: false };
        let mut rounds = 0;
        while probed.golden.is_none() && probed.searched_to < 3_000_000 {
            let kernel = Kernel::available()[rounds % Kernel::available().len()];
            let rate =
                measure_on_range(kernel, Duration::from_millis(2), &prepared, p.range(), &stop, &hashes, &mut probed);
            assert!(rate > 0.0);
            rounds += 1;
        }
        assert_eq!(probed.golden, Some(want));
        assert_eq!(probed.searched_to, want + 1);
        // A SIMD kernel may count a few lanes past the golden nonce.
        assert!((want + 1 - 1000..want + 1 - 1000 + 64).contains(&probed.hashes), "{probed:?}");
        assert_eq!(hashes.load(Ordering::Relaxed), probed.hashes);
        assert_eq!(
            measure_on_range(Kernel::Portable, Duration::ZERO, &prepared, p.range(), &stop, &hashes, &mut probed),
            0.0,
            "over once found"
        );
    }

    #[test]
    fn a_stopped_probe_says_so_and_hashes_nothing_more() {
        let p = Problem::text("COMSM0010cloud", 256).unwrap();
        let (stop, hashes) = (AtomicBool::new(true), AtomicU64::new(0));
        let probed = choose_on_range(&Prepared::new(&p), p.range(), &stop, &hashes);
        assert!(probed.golden.is_none());
        assert_eq!(probed.hashes, hashes.load(Ordering::Relaxed));
        assert!(probed.stopped || probed.hashes == 0, "{probed:?}");
    }
}
