//! The coordinator's share-out of a run's range: chunks handed to worker processes in
//! increasing order (by a [`ChunkQueue`], as the local engine's threads claim theirs), the
//! chunks of a dead worker handed out again before any new one, and the run decided by the
//! same rule as the engine's: `first` at the first golden nonce, `lowest` once every chunk
//! below the best golden nonce is searched (chunks that start above it are never handed out).

use std::collections::BTreeMap;
use std::time::Instant;

use cnd_core::{ChunkQueue, Mode, NonceRange};

/// A chunk handed to a worker and not yet settled.
#[derive(Debug, Clone, Copy)]
struct Handed {
    worker: u32,
    range: NonceRange,
    /// The worker has searched it and published its golden nonce on the result channel
    /// (since then), where it has not arrived yet.
    published: Option<Instant>,
}

/// The best golden nonce so far and who found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Best {
    pub nonce: u64,
    pub source: String,
}

/// How the run ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decision {
    Found(Best),
    Exhausted,
}

/// The chunks of one run.
#[derive(Debug)]
pub(super) struct Schedule {
    mode: Mode,
    range: NonceRange,
    fresh: ChunkQueue,
    /// Where the chunks not yet handed out begin.
    fresh_from: u64,
    next_id: u64,
    /// Chunks of dead workers, by start: lower than every fresh chunk.
    returned: BTreeMap<u64, NonceRange>,
    handed: BTreeMap<u64, Handed>,
    best: Option<Best>,
}

impl Schedule {
    pub(super) fn new(mode: Mode, range: NonceRange, chunk: u64) -> Self {
        Self {
            mode,
            range,
            fresh: ChunkQueue::new(range, chunk),
            fresh_from: range.start,
            next_id: 0,
            returned: BTreeMap::new(),
            handed: BTreeMap::new(),
            best: None,
        }
    }

    /// The lowest nonce that may be the answer (`lowest`): the best nonce, or the end of a
    /// chunk whose published nonce is on its way; `None` while there is neither.
    fn bound(&self) -> Option<u64> {
        let best = self.best.as_ref().map(|b| b.nonce);
        let published = self.handed.values().filter(|h| h.published.is_some()).map(|h| h.range.end);
        best.into_iter().chain(published).min()
    }

    /// Could a chunk starting at `start` still change the answer? The local engine's rule
    /// ([`ChunkQueue::worth_searching`]); in `first` mode a published nonce does not count
    /// until it has arrived and been verified.
    fn worth(&self, start: u64) -> bool {
        let best = match self.mode {
            Mode::First => self.best.as_ref().map(|b| b.nonce),
            Mode::Lowest => self.bound(),
        };
        ChunkQueue::worth_searching(self.mode, start, best)
    }

    /// The next chunk for `worker`, recorded as handed to it: a dead worker's first, else the
    /// next of the range; `None` if no chunk left could change the answer.
    pub(super) fn hand_out(&mut self, worker: u32) -> Option<(u64, NonceRange)> {
        let range = match self.returned.first_key_value() {
            Some((&start, _)) => {
                if !self.worth(start) {
                    return None;
                }
                self.returned.pop_first()?.1
            }
            None => {
                if self.fresh_from >= self.range.end || !self.worth(self.fresh_from) {
                    return None;
                }
                let chunk = self.fresh.claim()?;
                self.fresh_from = chunk.end;
                chunk
            }
        };
        let id = self.next_id;
        self.next_id += 1;
        self.handed.insert(id, Handed { worker, range, published: None });
        Some((id, range))
    }

    /// Chunks `worker` is still to search.
    pub(super) fn searching(&self, worker: u32) -> usize {
        self.handed.values().filter(|h| h.worker == worker && h.published.is_none()).count()
    }

    /// `worker` says it searched chunk `id` (`range`), and published its nonce if
    /// `published`; an error says what does not match what it was handed.
    pub(super) fn searched(&mut self, worker: u32, id: u64, range: NonceRange, published: bool) -> Result<(), String> {
        match self.handed.get_mut(&id) {
            Some(h) if h.worker == worker && h.range == range && h.published.is_none() => {
                if published {
                    h.published = Some(Instant::now());
                } else {
                    self.handed.remove(&id);
                }
                Ok(())
            }
            Some(h) if h.worker == worker && h.range == range => Err(format!("chunk {id} {range} was answered twice")),
            _ => Err(format!("it was not handed chunk {id} {range}")),
        }
    }

    /// A published chunk's report has arrived (the chunk of that range, if one waits for it).
    pub(super) fn arrived(&mut self, range: NonceRange) {
        let id = self.handed.iter().find(|(_, h)| h.range == range && h.published.is_some()).map(|(id, _)| *id);
        if let Some(id) = id {
            self.handed.remove(&id);
        }
    }

    /// The oldest chunk whose published report has not arrived: since when, its worker, its range.
    pub(super) fn awaited(&self) -> Option<(Instant, u32, NonceRange)> {
        self.handed.values().filter_map(|h| h.published.map(|t| (t, h.worker, h.range))).min_by_key(|(t, ..)| *t)
    }

    /// A verified golden nonce: the answer if it is the best so far.
    pub(super) fn offer(&mut self, nonce: u64, source: String) {
        if self.best.as_ref().is_none_or(|b| nonce < b.nonce) {
            self.best = Some(Best { nonce, source });
        }
    }

    /// `worker` died: its chunks not searched go back to be handed out first.
    pub(super) fn give_back(&mut self, worker: u32) -> Vec<NonceRange> {
        let ids: Vec<u64> = self
            .handed
            .iter()
            .filter(|(_, h)| h.worker == worker && h.published.is_none())
            .map(|(id, _)| *id)
            .collect();
        let ranges: Vec<NonceRange> = ids.iter().filter_map(|id| self.handed.remove(id)).map(|h| h.range).collect();
        self.returned.extend(ranges.iter().map(|r| (r.start, *r)));
        ranges
    }

    /// Is the run decided?
    pub(super) fn decision(&self) -> Option<Decision> {
        let unsettled_below = |n: u64| {
            self.returned.keys().any(|s| *s < n)
                || self.handed.values().any(|h| h.range.start < n)
                || self.fresh_from < n.min(self.range.end)
        };
        match &self.best {
            Some(b) if self.mode == Mode::First || !unsettled_below(b.nonce) => Some(Decision::Found(b.clone())),
            None if !unsettled_below(u64::MAX) => Some(Decision::Exhausted),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: u64, end: u64) -> NonceRange {
        NonceRange::new(start, end).unwrap()
    }

    fn found(nonce: u64) -> Option<Decision> {
        Some(Decision::Found(Best { nonce, source: "w".into() }))
    }

    #[test]
    fn chunks_go_out_in_order_and_an_exhausted_range_is_decided() {
        let mut s = Schedule::new(Mode::Lowest, range(10, 45), 10);
        let got: Vec<_> = std::iter::from_fn(|| s.hand_out(0)).collect();
        assert_eq!(got, vec![(0, range(10, 20)), (1, range(20, 30)), (2, range(30, 40)), (3, range(40, 45))]);
        assert_eq!(s.searching(0), 4);
        for (id, r) in got {
            assert_eq!(s.decision(), None);
            s.searched(0, id, r, false).unwrap();
        }
        assert_eq!(s.decision(), Some(Decision::Exhausted));
    }

    /// A nonce found in a higher chunk first: nothing above it goes out any more, and the
    /// run waits for every chunk below it, whose own nonce then wins.
    #[test]
    fn lowest_waits_for_every_chunk_below_the_best_and_hands_out_none_above() {
        let mut s = Schedule::new(Mode::Lowest, range(0, 100), 10);
        let (a, b) = (s.hand_out(0).unwrap(), s.hand_out(1).unwrap());
        s.searched(1, b.0, b.1, false).unwrap();
        s.offer(15, "w".into());
        assert_eq!(s.decision(), None, "chunk [0, 10) is not searched");
        assert_eq!(s.hand_out(1), None, "every chunk left starts above 15");
        s.searched(0, a.0, a.1, false).unwrap();
        assert_eq!(s.decision(), found(15));
        s.offer(7, "w".into());
        s.offer(9, "x".into());
        assert_eq!(s.decision(), found(7));
    }

    #[test]
    fn first_is_decided_by_any_nonce() {
        let mut s = Schedule::new(Mode::First, range(0, 100), 10);
        let _ = (s.hand_out(0).unwrap(), s.hand_out(1).unwrap());
        s.offer(15, "w".into());
        assert_eq!(s.decision(), found(15));
        assert_eq!(s.hand_out(0), None);
    }

    /// A dead worker's chunks go out again, before any new chunk, under new ids.
    #[test]
    fn a_dead_workers_chunks_go_out_first_again() {
        let mut s = Schedule::new(Mode::Lowest, range(0, 100), 10);
        let c: Vec<_> = (0..4).map(|i| s.hand_out(i % 2).unwrap()).collect();
        s.searched(1, c[1].0, c[1].1, false).unwrap();
        assert_eq!(s.give_back(0), vec![range(0, 10), range(20, 30)]);
        assert_eq!(s.searching(0), 0);
        assert!(s.searched(0, c[0].0, c[0].1, false).is_err(), "no longer its chunk");
        assert_eq!(s.hand_out(1), Some((4, range(0, 10))));
        assert_eq!(s.hand_out(0), Some((5, range(20, 30))));
        assert_eq!(s.hand_out(0), Some((6, range(40, 50))));
    }

    #[test]
    fn a_published_chunk_bounds_the_search_until_its_report_arrives() {
        let mut s = Schedule::new(Mode::Lowest, range(0, 100), 10);
        let a = s.hand_out(0).unwrap();
        let b = s.hand_out(0).unwrap();
        s.searched(0, b.0, b.1, true).unwrap();
        assert_eq!(s.hand_out(0), None, "a nonce below 20 is on its way");
        assert_eq!(s.searching(0), 1);
        assert_eq!(s.awaited().map(|(_, w, r)| (w, r)), Some((0, range(10, 20))));
        s.searched(0, a.0, a.1, false).unwrap();
        assert_eq!(s.decision(), None);
        s.arrived(range(10, 20));
        s.offer(13, "w".into());
        assert_eq!((s.decision(), s.awaited()), (found(13), None));
    }

    #[test]
    fn answers_that_do_not_match_what_was_handed_are_refused() {
        let mut s = Schedule::new(Mode::Lowest, range(0, 100), 10);
        let (id, r) = s.hand_out(0).unwrap();
        assert_eq!(s.searched(1, id, r, false).unwrap_err(), "it was not handed chunk 0 [0, 10)");
        assert!(s.searched(0, id, range(0, 11), false).is_err());
        assert!(s.searched(0, 9, r, false).is_err());
        s.searched(0, id, r, true).unwrap();
        assert_eq!(s.searched(0, id, r, true).unwrap_err(), "chunk 0 [0, 10) was answered twice");
    }
}
