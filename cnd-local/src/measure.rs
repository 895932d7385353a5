//! One hash-rate measurement for the planner, the benches and the Kubernetes planner: a
//! kernel hashing a range on some threads for a while, in wall-clock and CPU time. Each
//! thread runs [`cnd_core::measure_sample`], the loop that `cargo bench --bench kernels` and
//! the probe behind `Kernel::best` run too: the same chunks of the same nonces, the same unit.

use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use cnd_core::{Kernel, NonceRange, Prepared, Sample, measure_sample};

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
/// each thread claims chunks of [`cnd_core::MEASURE_CHUNK`] nonces of `range` in turn,
/// wrapping around inside it (so a measurement never runs out of nonces, and the nonces keep
/// the range's length in digits), until `duration` has passed. Golden nonces are counted as
/// hashes, nothing more: give a problem no digest meets (difficulty 256) to measure a search;
/// [`cnd_core::measure_problem`] and [`cnd_core::measure_range`] are the ones every rate of
/// `cnd bench` is measured on.
pub fn measure(kernel: Kernel, prepared: &Prepared, range: NonceRange, threads: u32, duration: Duration) -> Measured {
    let next = AtomicU64::new(0);
    let began = Instant::now();
    let samples: Vec<Sample> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.max(1))
            .map(|t| {
                let next = &next;
                std::thread::Builder::new()
                    .name(format!("cnd-measure-{t}"))
                    .spawn_scoped(scope, move || {
                        let left = duration.saturating_sub(began.elapsed());
                        measure_sample(kernel, prepared, range, next, left)
                    })
                    .expect("spawn a measuring thread")
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a measuring thread")).collect()
    });
    Measured {
        hashes: samples.iter().map(|s| s.hashes).sum(),
        wall_s: began.elapsed().as_secs_f64(),
        cpu_s: samples.iter().map(|s| s.cpu_s).sum(),
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
