//! One hash-rate measurement for the planner, the benches and the Kubernetes planner: a
//! kernel hashing a range on some threads for a while, in wall-clock and CPU time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cnd_core::{Kernel, NonceRange, Prepared, thread_cpu_seconds};

/// Nonces a thread claims at a time.
const CHUNK: u64 = 1 << 16;

/// What one measurement counted.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Measured {
    /// Hashes computed by every thread.
    pub hashes: u64,
    /// Wall-clock seconds, from the first thread's start to the last one's end.
    pub wall_s: f64,
    /// CPU seconds of the hashing threads, summed (0 where the platform does not say).
    pub cpu_s: f64,
}

impl Measured {
    /// Hashes per wall-clock second: the rate of all the threads together.
    pub fn rate(&self) -> f64 {
        if self.wall_s > 0.0 { self.hashes as f64 / self.wall_s } else { 0.0 }
    }

    /// Hashes per CPU second: the rate of one thread while it runs (0 where unknown).
    pub fn per_cpu_second(&self) -> f64 {
        if self.cpu_s > 0.0 { self.hashes as f64 / self.cpu_s } else { 0.0 }
    }
}

/// Hashes `prepared` with `kernel` on `threads` threads (at least 1) for about `duration`:
/// each thread claims chunks of 2^16 nonces of `range` in turn, wrapping around inside it
/// (so a measurement never runs out of nonces, and the nonces keep the range's length in
/// digits), until `duration` has passed. Golden nonces are counted as hashes, nothing more:
/// give a problem no digest meets (difficulty 256) to measure a search.
pub fn measure(kernel: Kernel, prepared: &Prepared, range: NonceRange, threads: u32, duration: Duration) -> Measured {
    let chunks = range.len().div_ceil(CHUNK).max(1);
    let next = AtomicU64::new(0);
    let hashes = AtomicU64::new(0);
    let cpu_ns = AtomicU64::new(0);
    let never = AtomicBool::new(false);
    let began = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads.max(1) {
            let (next, hashes, cpu_ns, never) = (&next, &hashes, &cpu_ns, &never);
            std::thread::Builder::new()
                .name(format!("cnd-measure-{t}"))
                .spawn_scoped(scope, move || {
                    let cpu0 = thread_cpu_seconds();
                    let mut done = 0;
                    while began.elapsed() < duration {
                        let first = range.start + next.fetch_add(1, Ordering::Relaxed) % chunks * CHUNK;
                        let chunk = NonceRange { start: first, end: first.saturating_add(CHUNK).min(range.end) };
                        done += kernel.scan(prepared, chunk, never).hashes;
                    }
                    hashes.fetch_add(done, Ordering::Relaxed);
                    if let (Some(a), Some(b)) = (cpu0, thread_cpu_seconds()) {
                        cpu_ns.fetch_add(((b - a).max(0.0) * 1e9) as u64, Ordering::Relaxed);
                    }
                })
                .expect("spawn a measuring thread");
        }
    });
    Measured {
        hashes: hashes.load(Ordering::Relaxed),
        wall_s: began.elapsed().as_secs_f64(),
        cpu_s: cpu_ns.load(Ordering::Relaxed) as f64 / 1e9,
    }
}

#[cfg(test)]
mod tests {
    use cnd_core::Problem;

    use super::*;

    #[test]
    fn every_kernel_measures_a_positive_rate() {
        let problem = Problem::text(cnd_core::DEFAULT_BLOCK, 256).unwrap();
        let prepared = Prepared::new(&problem);
        let range = NonceRange::new(1_000_000_000, 1_000_000_000 + (1 << 31)).unwrap();
        for kernel in Kernel::available() {
            let m = measure(kernel, &prepared, range, 1, Duration::from_millis(20));
            assert!(m.hashes > 0 && m.wall_s > 0.0 && m.rate() > 0.0, "{kernel}: {m:?}");
            assert!(m.wall_s >= 0.02, "{kernel}: hashes for the whole duration: {m:?}");
        }
    }

    #[test]
    fn a_small_range_wraps_around_and_threads_add_up() {
        let problem = Problem::text(cnd_core::DEFAULT_BLOCK, 256).unwrap();
        let prepared = Prepared::new(&problem);
        // 1000 nonces: one short chunk, hashed again and again.
        let range = NonceRange::new(5, 1_005).unwrap();
        let m = measure(Kernel::Portable, &prepared, range, 2, Duration::from_millis(30));
        assert!(m.hashes > 1_000, "{m:?}");
        assert_eq!(m.hashes % 1_000, 0, "whole passes over the range only: {m:?}");
        if cfg!(target_os = "linux") {
            assert!(m.cpu_s > 0.0 && m.per_cpu_second() > 0.0, "{m:?}");
        }
        assert_eq!(Measured::default().per_cpu_second(), 0.0);
    }
}
