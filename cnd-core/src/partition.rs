//! Splitting a range across workers, and a worker's range into chunks that threads claim.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::dispatch::Mode;
use crate::problem::NonceRange;

/// Splits `range` into `parts` contiguous ranges that cover it exactly, in order, without
/// overlap. The remainder is spread one nonce each over the first parts; when there are more
/// parts than nonces the last parts are empty (`start == end`).
pub fn split(range: NonceRange, parts: u32) -> Vec<NonceRange> {
    assert!(parts > 0, "split into zero parts");
    let len = range.len();
    let parts64 = u64::from(parts);
    let base = len / parts64;
    let extra = len % parts64;
    let mut out = Vec::with_capacity(parts as usize);
    let mut start = range.start;
    for i in 0..parts64 {
        let size = base + u64::from(i < extra);
        out.push(NonceRange { start, end: start + size });
        start += size;
    }
    debug_assert_eq!(start, range.end);
    out
}

/// A worker's range handed out in chunks, in increasing order, to threads that claim them
/// with one atomic counter.
#[derive(Debug)]
pub struct ChunkQueue {
    range: NonceRange,
    chunk: u64,
    next: AtomicU64,
}

impl ChunkQueue {
    /// Chunks of `chunk` nonces (the last may be shorter).
    pub fn new(range: NonceRange, chunk: u64) -> Self {
        Self { range, chunk: chunk.max(1), next: AtomicU64::new(0) }
    }

    /// A chunk size that keeps `threads` threads busy and checks for cancellation often:
    /// about 64 chunks per thread, at most 2^18 nonces (a few ms of work), at least 1.
    pub fn chunk_size_for(len: u64, threads: u32) -> u64 {
        (len / (u64::from(threads.max(1)) * 64)).clamp(1, 1 << 18)
    }

    /// The next unclaimed chunk, or `None` when the range is used up.
    pub fn claim(&self) -> Option<NonceRange> {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        let offset = index.checked_mul(self.chunk)?;
        if offset >= self.range.len() {
            return None;
        }
        let start = self.range.start + offset;
        let end = start.saturating_add(self.chunk).min(self.range.end);
        Some(NonceRange { start, end })
    }

    /// The whole range.
    pub fn range(&self) -> NonceRange {
        self.range
    }

    /// The stopping rule of a search that takes its chunks in increasing order (the local
    /// engine's threads, the process backend's coordinator): can a chunk that starts at
    /// `start` still change the answer, `best` being the lowest golden nonce that may be it?
    /// With none, every chunk can; in `first` mode any nonce is the answer, so none can; in
    /// `lowest` mode only a chunk that starts below it can hold a lower one.
    pub fn worth_searching(mode: Mode, start: u64, best: Option<u64>) -> bool {
        match (mode, best) {
            (_, None) => true,
            (Mode::First, Some(_)) => false,
            (Mode::Lowest, Some(best)) => start < best,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_is_worth_searching_until_a_nonce_decides_and_in_lowest_only_below_it() {
        for mode in [Mode::First, Mode::Lowest] {
            assert!(ChunkQueue::worth_searching(mode, 1 << 40, None), "{mode:?}: nothing found yet");
        }
        assert!(!ChunkQueue::worth_searching(Mode::First, 0, Some(5)), "first: any nonce decides");
        assert!(ChunkQueue::worth_searching(Mode::Lowest, 4, Some(5)));
        assert!(!ChunkQueue::worth_searching(Mode::Lowest, 5, Some(5)), "a chunk starting at the best cannot beat it");
        assert!(!ChunkQueue::worth_searching(Mode::Lowest, 6, Some(5)));
    }
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn split_covers_exactly(start in 0u64..u64::MAX / 2, len in 1u64..1_000_000_000_000, parts in 1u32..300) {
            let range = NonceRange::new(start, start + len).unwrap();
            let ranges = split(range, parts);
            prop_assert_eq!(ranges.len(), parts as usize);
            prop_assert_eq!(ranges[0].start, range.start);
            prop_assert_eq!(ranges.last().unwrap().end, range.end);
            for w in ranges.windows(2) {
                prop_assert_eq!(w[0].end, w[1].start);
            }
            let min = ranges.iter().map(|r| r.len()).min().unwrap();
            let max = ranges.iter().map(|r| r.len()).max().unwrap();
            prop_assert!(max - min <= 1);
        }

        #[test]
        fn chunks_cover_exactly(start in 0u64..u64::MAX - 100_000, len in 1u64..100_000, parts in 1u32..9, chunk in 1u64..5_000) {
            let range = NonceRange::new(start, start + len).unwrap();
            let mut covered = 0u64;
            let mut expect = range.start;
            for part in split(range, parts) {
                let q = ChunkQueue::new(part, chunk);
                while let Some(c) = q.claim() {
                    prop_assert_eq!(c.start, expect);
                    prop_assert!(c.len() <= chunk && !c.is_empty());
                    expect = c.end;
                    covered += c.len();
                }
            }
            prop_assert_eq!(covered, len);
            prop_assert_eq!(expect, range.end);
        }
    }

    #[test]
    fn chunks_near_u64_max_do_not_overflow() {
        let q = ChunkQueue::new(NonceRange::new(u64::MAX - 10, u64::MAX).unwrap(), 4);
        let got: Vec<_> = std::iter::from_fn(|| q.claim()).collect();
        assert_eq!(got.iter().map(|r| r.len()).sum::<u64>(), 10);
        assert_eq!(got.last().unwrap().end, u64::MAX);
    }
}
