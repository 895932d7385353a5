//! Threads searching one range together: chunks claimed in order from one atomic counter.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
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

/// The best golden nonce so far and the thread that found it, always updated together (a
/// finder read apart from its nonce could name another thread under a race).
#[derive(Debug)]
struct Best {
    /// The best nonce, or `u64::MAX`: lets a thread in `lowest` mode skip chunks above it
    /// without the lock. Written under the lock only, so it only decreases.
    nonce: AtomicU64,
    found: Mutex<Option<(u64, u32)>>,
}

impl Best {
    fn new() -> Self {
        Self { nonce: AtomicU64::new(u64::MAX), found: Mutex::new(None) }
    }

    /// Thread `thread` found `nonce`: it becomes the best if it is lower.
    fn offer(&self, nonce: u64, thread: u32) {
        let mut found = self.found.lock().unwrap_or_else(PoisonError::into_inner);
        if found.is_none_or(|(best, _)| nonce < best) {
            *found = Some((nonce, thread));
            self.nonce.store(nonce, Ordering::Release);
        }
    }

    /// The best nonce so far.
    fn nonce(&self) -> Option<u64> {
        Some(self.nonce.load(Ordering::Acquire)).filter(|n| *n != u64::MAX)
    }

    /// The best nonce and its finder.
    fn into_found(self) -> Option<(u64, u32)> {
        self.found.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RangeSearch<'_> {
    /// Runs the search on `threads` scoped threads and returns when every thread has ended.
    ///
    /// If a thread cannot be started (the system's thread limit), the threads already
    /// started are stopped (through `stop`) and joined, and the error is returned: a search
    /// with fewer threads than asked is never reported as done.
    pub fn run(&self) -> std::io::Result<RangeResult> {
        let started = Instant::now();
        let threads = self.threads.max(1);
        let queue = ChunkQueue::new(self.range, ChunkQueue::chunk_size_for(self.range.len(), threads));
        let best = Best::new();
        let found_any = AtomicBool::new(false);
        let total = AtomicU64::new(0);
        let mut spawn_error = None;
        std::thread::scope(|scope| {
            for t in 0..threads {
                let (queue, best, found_any, total) = (&queue, &best, &found_any, &total);
                let spawned =
                    std::thread::Builder::new().name(format!("cnd-hash-{t}")).spawn_scoped(scope, move || {
                        let mut mine = 0u64;
                        while !self.stop.load(Ordering::Relaxed) {
                            let Some(chunk) = queue.claim() else { break };
                            // Chunks come in increasing order: none after this one can do better.
                            if !ChunkQueue::worth_searching(self.mode, chunk.start, best.nonce()) {
                                break;
                            }
                            let scan = self.kernel.scan(self.prepared, chunk, self.stop);
                            mine += scan.hashes;
                            self.hashes.fetch_add(scan.hashes, Ordering::Relaxed);
                            if let Some(n) = scan.golden {
                                found_any.store(true, Ordering::Release);
                                best.offer(n, t);
                                if self.mode == Mode::First {
                                    self.stop.store(true, Ordering::Release);
                                    break;
                                }
                            }
                        }
                        total.fetch_add(mine, Ordering::Relaxed);
                    });
                if let Err(e) = spawned {
                    // The scope joins the threads already started once they see the stop.
                    self.stop.store(true, Ordering::Release);
                    spawn_error = Some(e);
                    break;
                }
            }
        });
        if let Some(e) = spawn_error {
            return Err(e);
        }
        let found = best.into_found();
        Ok(RangeResult {
            found,
            hashes: total.load(Ordering::Relaxed),
            stopped: found.is_none() && self.stop.load(Ordering::Acquire) && !found_any.load(Ordering::Acquire),
            elapsed: started.elapsed(),
        })
    }
}

/// The CPUs this process may use (affinity), at least 1.
pub fn available_threads() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// The most hashing threads one search starts on this machine: 16 per CPU, and at least 64.
///
/// More threads than CPUs never hash faster, but a few times more are useful (to see that
/// `lowest` gives the same answer for any count, or to measure oversubscription); 10^8
/// would take minutes to start, and as long to stop. A count above this is refused, not
/// clamped: the caller asked for a number and is told the limit rather than given another.
pub fn max_threads() -> u32 {
    available_threads().saturating_mul(16).max(64)
}

/// A dispatcher's check of a run's worker count: 1..=`max` of `unit` ("threads",
/// "processes"), else bad input naming the limit and this machine's CPUs.
pub(crate) fn check_workers(workers: u32, max: u32, unit: &str) -> cnd_core::Result<()> {
    if workers == 0 || workers > max {
        return Err(cnd_core::DispatchError::Invalid(format!(
            "workers: {workers} {unit} is out of range (allowed: 1..={max} on this machine's {} CPUs)",
            available_threads()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cnd_core::{Problem, verify};

    /// The kernel CI's per-kernel loop forces (`CND_KERNEL`), else the best one.
    fn kernel() -> Kernel {
        Kernel::from_env().unwrap_or_else(|e| panic!("CND_KERNEL: {e}"))
    }

    fn search(problem: &Problem, threads: u32, mode: Mode) -> RangeResult {
        let prepared = Prepared::new(problem);
        let stop = AtomicBool::new(false);
        let hashes = AtomicU64::new(0);
        RangeSearch {
            prepared: &prepared,
            kernel: kernel(),
            range: problem.range(),
            threads,
            mode,
            stop: &stop,
            hashes: &hashes,
        }
        .run()
        .unwrap()
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

    /// Many short ranges, each answered by the kernel under test and by the reference: a
    /// kernel that misplaces or drops one position of its batch (a SIMD lane, a SHA-NI
    /// message) gives a wrong lowest nonce in some of them.
    #[test]
    fn the_lowest_of_many_short_ranges_is_the_references() {
        let block = Problem::text("COMSM0010cloud", 6).unwrap();
        let mut start = 1_000_000u64;
        for _ in 0..300 {
            let p = block.clone().with_range(NonceRange::new(start, start + 4000).unwrap()).unwrap();
            let want = (start..start + 4000).find(|n| verify(&p, *n).is_valid());
            let got = search(&p, 1, Mode::Lowest).found.map(|f| f.0);
            assert_eq!(got, want, "{} kernel, range from {start}", kernel());
            start = want.map_or(start + 4000, |n| n + 1);
        }
    }

    #[test]
    fn first_mode_finds_a_valid_nonce() {
        let p = Problem::text("COMSM0010cloud", 12).unwrap();
        let r = search(&p, 3, Mode::First);
        assert!(verify(&p, r.found.unwrap().0).is_valid());
        assert!(!r.stopped);
    }

    /// Threads offer nonces that name their finder (`nonce % 8`), all at once, round after
    /// round: the best nonce and its finder must always belong together. (With the nonce
    /// and the finder kept in two atomics, a finder could be stored after a lower nonce's.)
    #[test]
    fn the_best_nonce_and_its_finder_belong_together() {
        const THREADS: u32 = 4;
        let rounds = 2_000u64;
        let barrier = std::sync::Barrier::new(THREADS as usize);
        let bests: Vec<Best> = (0..rounds).map(|_| Best::new()).collect();
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let (barrier, bests) = (&barrier, &bests);
                scope.spawn(move || {
                    let mut x = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(u64::from(t) + 1);
                    for best in bests {
                        barrier.wait();
                        for _ in 0..16 {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            best.offer((x >> 4) / 8 * 8 + u64::from(t), t);
                        }
                    }
                });
            }
        });
        for (round, best) in bests.into_iter().enumerate() {
            let (nonce, thread) = best.into_found().unwrap();
            assert_eq!(u64::from(thread), nonce % 8, "round {round}: nonce {nonce} is not thread {thread}'s");
        }
    }

    #[test]
    fn the_thread_limit_is_16_per_cpu_and_at_least_64() {
        assert_eq!(max_threads(), (available_threads() * 16).max(64));
        assert!(max_threads() >= 64);
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
