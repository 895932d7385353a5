//! Chunks: more partitions than pods. A run's range is split into `chunks` partitions, the
//! Job's `completions`; `parallelism` stays the run's workers (pods at a time), so the Job
//! controller starts the next pending index whenever a pod ends. Each pod searches chunk
//! `JOB_COMPLETION_INDEX` of `split(range, chunks)`: the worker contract's `CND_WORKER_COUNT`
//! is the chunk count, not the pod count.

use std::collections::BTreeSet;
use std::time::Duration;

use cnd_core::{NonceRange, RunSpec, split};

use crate::error::{Error, Result};

/// The most chunks of a run: Kubernetes' limit on an Indexed Job's completions.
pub const MAX_CHUNKS: u32 = 100_000;

/// How long one chunk should take on one pod with `--chunks auto`.
pub const AUTO_CHUNK_TIME: Duration = Duration::from_secs(60);

/// `--chunks auto`: enough chunks that one takes about [`AUTO_CHUNK_TIME`] on one pod at
/// `pod_rate` hashes/s, never fewer than the pods (each pod gets one), never more than
/// [`MAX_CHUNKS`] or than the range has nonces.
pub fn auto_chunks(range: NonceRange, pods: u32, pod_rate: f64) -> u32 {
    let per_chunk = (pod_rate * AUTO_CHUNK_TIME.as_secs_f64()).max(1.0);
    let wanted = (range.len() as f64 / per_chunk).ceil();
    let cap = MAX_CHUNKS.min(u32::try_from(range.len()).unwrap_or(u32::MAX)).max(1);
    (wanted.min(f64::from(cap)) as u32).max(pods.min(cap)).max(1)
}

/// A run's chunk plan: how many chunks, and each one's range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkPlan {
    /// The chunks, in order: chunk `i` is `split(range, chunks)[i]`.
    pub ranges: Vec<NonceRange>,
}

impl ChunkPlan {
    /// The plan of `spec` cut into `chunks` (None: one per worker), checked against the
    /// Indexed Job's limit (bad input names `--chunks`).
    pub fn new(spec: &RunSpec, chunks: Option<u32>) -> Result<Self> {
        let k = chunks.unwrap_or(spec.workers);
        if k == 0 || k > MAX_CHUNKS {
            return Err(Error::Invalid {
                flag: "--chunks",
                message: format!("{k} chunks is out of range (allowed: 1..={MAX_CHUNKS}, or auto)"),
            });
        }
        Ok(Self { ranges: split(spec.problem.range(), k) })
    }

    /// How many chunks.
    pub fn len(&self) -> u32 {
        self.ranges.len() as u32
    }

    /// Never: a plan has at least one chunk.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// The run as its pods see it: the contract's worker count is the chunk count.
pub(crate) fn chunked(spec: &RunSpec, plan: &ChunkPlan) -> RunSpec {
    RunSpec { workers: plan.len(), ..spec.clone() }
}

/// Parses an index set as the Job's `status.completedIndexes` / `failedIndexes` write it:
/// `1,3-5,7`. Parts that are not indexes are skipped.
pub fn parse_indexes(text: &str) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
                    out.extend(a..=b.min(a.saturating_add(MAX_CHUNKS)));
                }
            }
            None => {
                if let Ok(i) = part.parse() {
                    out.insert(i);
                }
            }
        }
    }
    out
}

/// An index set written as the Job controller writes one: `1,3-5,7` (empty: `""`).
pub fn format_indexes(set: &BTreeSet<u32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = set.iter().copied().peekable();
    while let Some(first) = iter.next() {
        let mut last = first;
        while iter.peek() == Some(&(last + 1)) {
            last = iter.next().unwrap_or(last);
        }
        parts.push(if first == last { first.to_string() } else { format!("{first}-{last}") });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use cnd_core::{Mode, Problem};

    use super::*;

    #[test]
    fn index_sets_round_trip_as_the_job_controller_writes_them() {
        let set = parse_indexes("0,2-4,7, 9-9");
        assert_eq!(set, BTreeSet::from([0, 2, 3, 4, 7, 9]));
        assert_eq!(format_indexes(&set), "0,2-4,7,9");
        assert_eq!(format_indexes(&BTreeSet::new()), "");
        assert!(parse_indexes("").is_empty());
        assert_eq!(parse_indexes("x,3"), BTreeSet::from([3]));
    }

    #[test]
    fn auto_chunks_take_about_a_minute_and_give_each_pod_one() {
        let range = NonceRange::new(0, 1 << 32).unwrap();
        // 1 MH/s per pod: 60 M nonces a chunk, 2^32 / 6e7 = 71.6 -> 72 chunks.
        assert_eq!(auto_chunks(range, 2, 1e6), 72);
        assert_eq!(auto_chunks(range, 100, 1e6), 100, "never fewer than the pods");
        assert_eq!(auto_chunks(range, 1, 1.0), MAX_CHUNKS, "never more than a Job's completions");
        assert_eq!(auto_chunks(NonceRange::new(0, 5).unwrap(), 8, 1.0), 5, "never more than the nonces");
    }

    #[test]
    fn a_plan_is_the_split_of_the_range_and_bounded() {
        let s = RunSpec::new(
            Problem::text("b", 8).unwrap().with_range(NonceRange::new(0, 80).unwrap()).unwrap(),
            2,
            Mode::Lowest,
        );
        let plan = ChunkPlan::new(&s, Some(8)).unwrap();
        assert_eq!(plan.len(), 8);
        assert_eq!(plan.ranges[7], NonceRange::new(70, 80).unwrap());
        assert_eq!(ChunkPlan::new(&s, None).unwrap().len(), 2, "one per worker by default");
        assert_eq!(chunked(&s, &plan).workers, 8);
        for bad in [0, MAX_CHUNKS + 1] {
            let e = ChunkPlan::new(&s, Some(bad)).unwrap_err().to_string();
            assert!(e.starts_with("--chunks: ") && e.ends_with("(allowed: 1..=100000, or auto)"), "{e}");
        }
    }
}
