//! Threads searching one range together: chunks claimed in order from one atomic counter.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cnd_core::{ChunkQueue, Kernel, Mode, NonceRange, Prepared};

/// A search of one range by several threads.
#[derive(Debug)]
pub struct RangeSearch<'a> {
    /// The prepared problem.
    pub prepared: &'a Prepared,
    /// The kernel every thread runs.
    pub kernel: Kernel,
    /// The range to search (the problem's, or a worker's partition of it).
    pub range: NonceRange,
    /// Number of threads (at least 1).
    pub threads: u32,
    /// First or lowest.
    pub mode: Mode,
    /// Set to stop every thread (the search also sets it when `first` finds a nonce).
    pub stop: &'a AtomicBool,
    /// Live hash counter, added to after every chunk.
    pub hashes: &'a AtomicU64,
}

/// What a range search gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeResult {
    /// The golden nonce (lowest of the range in `lowest` mode) and the thread that found it.
    pub found: Option<(u64, u32)>,
    /// Hashes computed by this search.
    pub hashes: u64,
    /// The search was stopped from outside before it was decided.
    pub stopped: bool,
    /// Wall-clock time of the search.
    pub elapsed: Duration,
}

const NONE: u64 = u64::MAX;

impl RangeSearch<'_> {
    /// Runs the search on `threads` scoped threads and returns when every thread has ended.
    pub fn run(&self) -> RangeResult {
        let started = Instant::now();
        let threads = self.threads.max(1);
        let queue = ChunkQueue::new(self.range, ChunkQueue::chunk_size_for(self.range.len(), threads));
        let best = AtomicU64::new(NONE);
        let best_thread = AtomicU32::new(0);
        let found_any = AtomicBool::new(false);
        let total = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for t in 0..threads {
                let (queue, best, best_thread, found_any, total) = (&queue, &best, &best_thread, &found_any, &total);
                std::thread::Builder::new()
                    .name(format!("cnd-hash-{t}"))
                    .spawn_scoped(scope, move || {
                        let mut mine = 0u64;
                        while !self.stop.load(Ordering::Relaxed) {
                            let Some(chunk) = queue.claim() else { break };
                            // Chunks come in increasing order: none after a found nonce can beat it.
                            if self.mode == Mode::Lowest && chunk.start >= best.load(Ordering::Acquire) {
                                break;
                            }
                            let scan = self.kernel.scan(self.prepared, chunk, self.stop);
                            mine += scan.hashes;
                            self.hashes.fetch_add(scan.hashes, Ordering::Relaxed);
                            if let Some(n) = scan.golden {
                                found_any.store(true, Ordering::Release);
                                let previous = best.fetch_min(n, Ordering::AcqRel);
                                if n < previous {
                                    best_thread.store(t, Ordering::Release);
                                }
                                if self.mode == Mode::First {
                                    self.stop.store(true, Ordering::Release);
                                    break;
                                }
                            }
                        }
                        total.fetch_add(mine, Ordering::Relaxed);
                    })
                    .expect("spawn a hashing thread");
            }
        });
        let best = best.load(Ordering::Acquire);
        let found = (best != NONE).then(|| (best, best_thread.load(Ordering::Acquire)));
        RangeResult {
            found,
            hashes: total.load(Ordering::Relaxed),
            stopped: found.is_none() && self.stop.load(Ordering::Acquire) && !found_any.load(Ordering::Acquire),
            elapsed: started.elapsed(),
        }
    }
}

/// The CPUs this process may use (affinity), at least 1.
pub fn available_threads() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cnd_core::{Problem, verify};

    fn search(problem: &Problem, threads: u32, mode: Mode) -> RangeResult {
        let prepared = Prepared::new(problem);
        let stop = AtomicBool::new(false);
        let hashes = AtomicU64::new(0);
        RangeSearch {
            prepared: &prepared,
            kernel: Kernel::best(),
            range: problem.range(),
            threads,
            mode,
            stop: &stop,
            hashes: &hashes,
        }
        .run()
    }

    #[test]
    fn lowest_is_the_same_for_1_2_and_7_threads() {
        let p = Problem::text("COMSM0010cloud", 14).unwrap().with_range(NonceRange::new(0, 200_000).unwrap()).unwrap();
        let want = (0..200_000).find(|n| verify(&p, *n).is_valid()).unwrap();
        for threads in [1, 2, 7] {
            let r = search(&p, threads, Mode::Lowest);
            assert_eq!(r.found.map(|f| f.0), Some(want), "{threads} threads");
        }
    }

    #[test]
    fn first_mode_finds_a_valid_nonce() {
        let p = Problem::text("COMSM0010cloud", 12).unwrap();
        let r = search(&p, 3, Mode::First);
        assert!(verify(&p, r.found.unwrap().0).is_valid());
        assert!(!r.stopped);
    }

    #[test]
    fn exhausted_range_counts_every_hash() {
        let p = Problem::text("COMSM0010cloud", 256).unwrap().with_range(NonceRange::new(5, 50_005).unwrap()).unwrap();
        let r = search(&p, 2, Mode::First);
        assert_eq!(r.found, None);
        assert_eq!(r.hashes, 50_000);
        assert!(!r.stopped);
    }
}
