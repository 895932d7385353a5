//! The planner: how many workers find a golden nonce by a deadline with a given confidence.
//!
//! Each nonce is golden with probability p (2^−D, or (target + 1)/2^256) independently of
//! the others, as SHA-256 behaves like a random function. W workers at r hashes/s each,
//! after a start-up delay s, have done n(t) = min(W·r·(t − s), N) hashes by time t, where N
//! is the size of the nonce range; so
//!
//! ```text
//! P(found by t) = 1 − (1 − p)^n(t)  =  −expm1(n(t) · ln1p(−p))
//! ```
//!
//! written with `ln_1p`/`exp_m1` so that it neither underflows (p = 2^−256 is a normal f64,
//! but 1 − p rounds to 1) nor loses the small probabilities of hard problems. The time to
//! solution is then s plus an exponential variable of rate λ = W·r·(−ln(1 − p)), cut at the
//! time τ = N/(W·r) at which the range is used up. Everything below follows from that:
//!
//! - the hashes needed for confidence C: n* = ln(1 − C)/ln(1 − p), feasible only if n* ≤ N;
//! - the smallest W: the least integer with W·r·(T − s) ≥ n*, found by the closed form and
//!   then checked against its neighbours so float rounding cannot move it by one;
//! - the q-quantile of the time: s + ln(1 − q)/(W·r·ln(1 − p)), if it is reached before τ;
//! - the expected duration of the run (found or exhausted): s + (1 − (1 − p)^N)/λ;
//! - the expected cost: W times the expected duration, in worker-seconds.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::problem::{NonceRange, Problem};
use crate::units::{HumanSeconds, percent};

/// A request the planner cannot answer: bad input, or a goal no worker count can meet.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The confidence is not in (0, 1).
    #[error("--confidence: {0} is out of range (allowed: a probability strictly between 0 and 1, e.g. 0.95)")]
    Confidence(f64),
    /// The rate is not a positive finite number.
    #[error("--rate: {0} is not a hash rate (allowed: a positive number of hashes per second per worker)")]
    Rate(f64),
    /// The deadline is zero.
    #[error("--deadline: zero is too short (allowed: a positive duration such as 30s, 5m, 1h)")]
    Deadline,
    /// The start-up delay uses the whole deadline.
    #[error(
        "impossible at any worker count: the start-up delay {startup} leaves no time before the deadline {deadline} \
         (allowed: --deadline longer than --startup)"
    )]
    StartupExceedsDeadline {
        /// The start-up delay.
        startup: HumanSeconds,
        /// The deadline.
        deadline: HumanSeconds,
    },
    /// The range holds a golden nonce with a probability below the confidence.
    #[error(
        "impossible at any worker count: the range {range} holds a golden nonce with probability {} only, \
         below the confidence {}{hint}",
        percent(*probability), percent(*confidence)
    )]
    RangeTooSmall {
        /// The range.
        range: NonceRange,
        /// P(the range holds a golden nonce).
        probability: f64,
        /// The confidence asked for.
        confidence: f64,
        /// How to make it possible.
        hint: String,
    },
    /// More workers than `--max-workers` allows would be needed.
    #[error(
        "impossible with at most {max_workers} workers: they find one by {deadline} with probability {} \
         (confidence {} needs {needed} workers{time_hint})",
        percent(*probability), percent(*confidence)
    )]
    TooManyWorkers {
        /// The cap.
        max_workers: u32,
        /// The deadline.
        deadline: HumanSeconds,
        /// P(found by the deadline) with `max_workers`.
        probability: f64,
        /// The confidence asked for.
        confidence: f64,
        /// Workers needed (may exceed u32).
        needed: String,
        /// The deadline `max_workers` would meet, if any.
        time_hint: String,
    },
}

/// What the planner assumes about a search: the per-nonce probability, the range size, the
/// rate of one worker and the start-up delay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchModel {
    /// ln(1 − p), negative (−p for small p; never 0 for p ≥ 2^−256).
    ln_miss: f64,
    /// log2 of p, kept for messages.
    log2_p: f64,
    /// The nonce range.
    range: NonceRange,
    /// Hashes per second of one worker.
    rate: f64,
    /// Seconds from the start of the run until the workers hash.
    startup: f64,
}

impl SearchModel {
    /// The model of `problem` searched by workers of `rate` hashes/s each, that start hashing
    /// `startup` after the run starts.
    pub fn new(problem: &Problem, rate: f64, startup: Duration) -> Result<Self, PlanError> {
        Self::from_log2_probability(problem.log2_probability(), problem.range(), rate, startup)
    }

    /// The model from log2 p directly (p = 2^log2_p, log2_p in [−256, 0]).
    pub fn from_log2_probability(
        log2_p: f64,
        range: NonceRange,
        rate: f64,
        startup: Duration,
    ) -> Result<Self, PlanError> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(PlanError::Rate(rate));
        }
        let p = log2_p.clamp(-1074.0, 0.0).exp2();
        // p = 1 (D = 0): every nonce is golden; ln(0) = −inf is handled where it is used.
        let ln_miss = (-p).ln_1p();
        Ok(Self { ln_miss, log2_p, range, rate, startup: startup.as_secs_f64() })
    }

    /// p, the probability that one nonce is golden.
    pub fn probability(&self) -> f64 {
        self.log2_p.exp2()
    }

    /// Hashes per second of one worker.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The start-up delay in seconds.
    pub fn startup(&self) -> f64 {
        self.startup
    }

    /// The nonce range.
    pub fn range(&self) -> NonceRange {
        self.range
    }

    fn range_len(&self) -> f64 {
        self.range.len() as f64
    }

    /// P(at least one golden nonce in `hashes` distinct nonces) = 1 − (1 − p)^hashes.
    pub fn probability_in(&self, hashes: f64) -> f64 {
        if hashes <= 0.0 {
            return 0.0;
        }
        if self.ln_miss == f64::NEG_INFINITY {
            return 1.0;
        }
        -(hashes * self.ln_miss).exp_m1()
    }

    /// P(the range holds a golden nonce): the most any number of workers can reach.
    pub fn probability_in_range(&self) -> f64 {
        self.probability_in(self.range_len())
    }

    /// Hashes done by `workers` workers `t` seconds after the start, capped by the range.
    pub fn hashes_by(&self, workers: u32, t: f64) -> f64 {
        (f64::from(workers) * self.rate * (t - self.startup).max(0.0)).min(self.range_len())
    }

    /// P(found by `t` seconds) with `workers` workers.
    pub fn probability_found_by(&self, workers: u32, t: f64) -> f64 {
        self.probability_in(self.hashes_by(workers, t))
    }

    /// Hashes needed for probability `q` of having found one: ln(1 − q)/ln(1 − p), ignoring
    /// the range (at least 1 for q > 0).
    pub fn hashes_for(&self, q: f64) -> f64 {
        if q <= 0.0 {
            return 0.0;
        }
        if self.ln_miss == f64::NEG_INFINITY {
            return 1.0;
        }
        (-q).ln_1p() / self.ln_miss
    }

    /// The time by which `workers` workers have found one with probability `q`, or `None` if
    /// the range is used up before (P(range holds one) < q).
    pub fn time_quantile(&self, workers: u32, q: f64) -> Option<f64> {
        let n = self.hashes_for(q);
        (n <= self.range_len()).then(|| self.startup + n / (f64::from(workers) * self.rate))
    }

    /// The expected duration of a run with `workers` workers: until a golden nonce is found
    /// or the range is used up, start-up included.
    pub fn expected_time(&self, workers: u32) -> f64 {
        let w_rate = f64::from(workers) * self.rate;
        let exhaust = self.range_len() / w_rate;
        // λ = W·r·(−ln(1 − p)); E[min(X, τ)] = (1 − e^(−λτ))/λ = P(range holds one)/λ.
        let lambda = w_rate * -self.ln_miss;
        let searching = if lambda == f64::INFINITY {
            0.0
        } else if lambda > 0.0 {
            (self.probability_in_range() / lambda).min(exhaust)
        } else {
            exhaust
        };
        self.startup + searching
    }

    /// The smallest worker count whose probability of finding one by `deadline` is at least
    /// `confidence`, at most `max_workers` if given.
    pub fn smallest_workers(
        &self,
        deadline: Duration,
        confidence: f64,
        max_workers: Option<u32>,
    ) -> Result<u32, PlanError> {
        if !(confidence > 0.0 && confidence < 1.0) {
            return Err(PlanError::Confidence(confidence));
        }
        if deadline.is_zero() {
            return Err(PlanError::Deadline);
        }
        let t = deadline.as_secs_f64();
        if t <= self.startup {
            return Err(PlanError::StartupExceedsDeadline {
                startup: HumanSeconds(self.startup),
                deadline: HumanSeconds(t),
            });
        }
        let needed = self.hashes_for(confidence);
        if needed > self.range_len() {
            return Err(self.range_too_small(confidence, needed));
        }
        // Hashes one worker does by the deadline; W·per_worker ≥ needed.
        let per_worker = self.rate * (t - self.startup);
        let estimate = (needed / per_worker).ceil().max(1.0);
        let cap = max_workers.unwrap_or(u32::MAX);
        if estimate > f64::from(cap) + 1.0 {
            return Err(self.too_many(t, confidence, cap, format!("{estimate:.0}")));
        }
        // Exact: the least integer W with W·per_worker ≥ needed (the estimate may be off by one
        // through rounding), compared in hashes, where no probability saturates at 1.
        let meets = |w: u64| (w as f64) * per_worker >= needed;
        let mut w = estimate as u64;
        while w > 1 && meets(w - 1) {
            w -= 1;
        }
        while !meets(w) {
            w += 1;
        }
        if w > u64::from(cap) {
            return Err(self.too_many(t, confidence, cap, w.to_string()));
        }
        Ok(w as u32)
    }

    /// The plan: the smallest W for `deadline` at `confidence`, and what it gives.
    pub fn plan(&self, deadline: Duration, confidence: f64, max_workers: Option<u32>) -> Result<Plan, PlanError> {
        let workers = self.smallest_workers(deadline, confidence, max_workers)?;
        Ok(self.describe(workers, deadline, confidence))
    }

    /// What `workers` workers give for this deadline and confidence.
    pub fn describe(&self, workers: u32, deadline: Duration, confidence: f64) -> Plan {
        let t = deadline.as_secs_f64();
        let expected = self.expected_time(workers);
        Plan {
            workers,
            deadline_s: t,
            confidence,
            probability_by_deadline: self.probability_found_by(workers, t),
            probability_in_range: self.probability_in_range(),
            expected_s: expected,
            p50_s: self.time_quantile(workers, 0.50),
            p95_s: self.time_quantile(workers, 0.95),
            p99_s: self.time_quantile(workers, 0.99),
            cost_worker_seconds: f64::from(workers) * expected,
            rate_per_worker: self.rate,
            startup_s: self.startup,
            log2_probability: self.log2_p,
            start: self.range.start,
            end: self.range.end,
        }
    }

    fn range_too_small(&self, confidence: f64, needed: f64) -> PlanError {
        let needed = needed.ceil();
        let hint = if needed < u64::MAX as f64 - self.range.start as f64 {
            format!("; a range of {needed:.0} nonces would do (e.g. --end {:.0})", self.range.start as f64 + needed)
        } else {
            "; no 64-bit range can: lower -d".to_string()
        };
        PlanError::RangeTooSmall { range: self.range, probability: self.probability_in_range(), confidence, hint }
    }

    fn too_many(&self, t: f64, confidence: f64, cap: u32, needed: String) -> PlanError {
        let time_hint = match self.time_quantile(cap, confidence) {
            Some(time) => format!(", or a deadline of {} with {cap}", HumanSeconds(time)),
            None => String::new(),
        };
        PlanError::TooManyWorkers {
            max_workers: cap,
            deadline: HumanSeconds(t),
            probability: self.probability_found_by(cap, t),
            confidence,
            needed,
            time_hint,
        }
    }
}

/// A plan: the smallest worker count for a deadline and a confidence, and what it gives.
/// Times are in seconds from the start of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The smallest worker count that meets the deadline with the confidence.
    pub workers: u32,
    /// The deadline.
    pub deadline_s: f64,
    /// The confidence asked for.
    pub confidence: f64,
    /// P(found by the deadline) with `workers` (at least `confidence`).
    pub probability_by_deadline: f64,
    /// P(the range holds a golden nonce).
    pub probability_in_range: f64,
    /// Expected duration of the run (found or range used up), start-up included.
    pub expected_s: f64,
    /// Median time to solution (`None`: the range is used up before).
    pub p50_s: Option<f64>,
    /// 95 % quantile of the time to solution.
    pub p95_s: Option<f64>,
    /// 99 % quantile of the time to solution.
    pub p99_s: Option<f64>,
    /// Expected cost: workers × expected duration.
    pub cost_worker_seconds: f64,
    /// Hashes per second of one worker assumed.
    pub rate_per_worker: f64,
    /// Start-up delay assumed.
    pub startup_s: f64,
    /// log2 of the per-nonce probability.
    pub log2_probability: f64,
    /// Range start.
    pub start: u64,
    /// Range end.
    pub end: u64,
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use rand::rngs::StdRng;
    use rand::{Rng as _, SeedableRng as _};

    use super::*;
    use crate::kernel::{Kernel, Prepared};

    fn model(d: u32, range: NonceRange, rate: f64, startup_s: f64) -> SearchModel {
        let p = Problem::text("x", d).unwrap().with_range(range).unwrap();
        SearchModel::new(&p, rate, Duration::from_secs_f64(startup_s)).unwrap()
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(f64::MIN_POSITIVE)
    }

    #[test]
    fn reference_system_d26_needs_16_pods_in_60s_at_95pct() {
        // The reference system measured 211 000 nonces/s per single-core pod.
        let m = model(26, NonceRange::DEFAULT, 211_000.0, 0.0);
        let plan = m.plan(Duration::from_secs(60), 0.95, None).unwrap();
        assert_eq!(plan.workers, 16);
        // By hand: n* = ln(0.05)/ln(1 − 2^−26) = 2.995732·2^26 ≈ 201 040 000 hashes; one
        // pod does 12 660 000 in 60 s; 201.04/12.66 = 15.88 → 16; 15 pods reach only 0.941.
        assert!(close(m.hashes_for(0.95), 2.995_732_273_553_991 * 67_108_864.0, 1e-6));
        assert!(plan.probability_by_deadline >= 0.95);
        assert!(m.probability_found_by(15, 60.0) < 0.95);
        assert!(close(m.probability_found_by(15, 60.0), 0.9411, 1e-3));
        // Expected time ≈ 2^26/(16·211 000) = 19.88 s; median = ln 2 of that.
        assert!(close(plan.expected_s, 67_108_864.0 / (16.0 * 211_000.0), 1e-3), "{}", plan.expected_s);
        assert!(close(plan.p50_s.unwrap(), 2f64.ln() * 67_108_864.0 / (16.0 * 211_000.0), 1e-6));
        assert!(close(plan.cost_worker_seconds, 16.0 * plan.expected_s, 1e-12));
    }

    #[test]
    fn d256_is_impossible_at_any_worker_count_in_a_u32_range() {
        let m = model(256, NonceRange::DEFAULT, 211_000.0, 0.0);
        let e = m.plan(Duration::from_secs(60), 0.95, None).unwrap_err();
        assert!(matches!(e, PlanError::RangeTooSmall { .. }), "{e:?}");
        let text = e.to_string();
        assert!(text.contains("impossible at any worker count"), "{text}");
        assert!(text.contains("lower -d"), "{text}");
        // 1 − (1 − 2^−256)^(2^32) = 2^−224 without underflow to 0.
        assert!(close(m.probability_in_range(), 2f64.powi(-224), 1e-9), "{}", m.probability_in_range());
    }

    #[test]
    fn hand_computed_small_cases() {
        // D = 1, 1 hash/s, no start-up: P(found by t) = 1 − 2^−t.
        let m = model(1, NonceRange::new(0, 1000).unwrap(), 1.0, 0.0);
        assert!(close(m.probability_found_by(1, 3.0), 0.875, 1e-15));
        assert!(close(m.probability_found_by(2, 3.0), 1.0 - 2f64.powi(-6), 1e-15));
        // 0.99 needs ln(0.01)/ln(0.5) = 6.64 hashes: 7 workers in 1 s, 4 in 2 s, 1 in 7 s.
        assert_eq!(m.smallest_workers(Duration::from_secs(1), 0.99, None).unwrap(), 7);
        assert_eq!(m.smallest_workers(Duration::from_secs(2), 0.99, None).unwrap(), 4);
        assert_eq!(m.smallest_workers(Duration::from_secs(7), 0.99, None).unwrap(), 1);
        // Start-up of 1 s: the 2 s deadline leaves 1 s, so 7 again.
        let s = model(1, NonceRange::new(0, 1000).unwrap(), 1.0, 1.0);
        assert_eq!(s.smallest_workers(Duration::from_secs(2), 0.99, None).unwrap(), 7);
        assert_eq!(s.probability_found_by(7, 0.5), 0.0);
        // Median of hashes: ln 2/ln 2 = 1 hash, so 1 s with 1 worker; with 4 workers 0.25 s.
        assert!(close(m.time_quantile(1, 0.5).unwrap(), 1.0, 1e-15));
        assert!(close(m.time_quantile(4, 0.5).unwrap(), 0.25, 1e-15));
        // Expected time: 1/(W·r·ln 2) (the range is far from used up).
        assert!(close(m.expected_time(1), 1.0 / 2f64.ln(), 1e-12));
        assert!(close(m.expected_time(3), 1.0 / (3.0 * 2f64.ln()), 1e-12));
    }

    #[test]
    fn the_range_caps_probability_and_time() {
        // D = 32 over 2^32 nonces: 1 − (1 − 2^−32)^(2^32) = 1 − 1/e (to 1e-9).
        let m = model(32, NonceRange::DEFAULT, 1e6, 0.0);
        assert!(close(m.probability_in_range(), 1.0 - (-1f64).exp(), 1e-9));
        assert!(close(m.probability_found_by(1000, 1e9), m.probability_in_range(), 1e-15));
        // 99 % cannot be reached in that range, whatever W; the hint names the range needed.
        match m.plan(Duration::from_secs(600), 0.99, None).unwrap_err() {
            PlanError::RangeTooSmall { hint, .. } => assert!(hint.contains("--end 19779"), "{hint}"),
            e => panic!("{e:?}"),
        }
        assert_eq!(m.time_quantile(1, 0.99), None);
        assert!(m.time_quantile(1, 0.5).is_some());
        // Expected duration: (1 − 1/e)/λ, with τ = 4295 s at W·r = 1e6.
        let lambda = 1e6 * 2f64.powi(-32);
        assert!(close(m.expected_time(1), (1.0 - (-1f64).exp()) / lambda, 1e-6));
        assert!(m.expected_time(1) < 4295.0);
    }

    #[test]
    fn max_workers_caps_the_plan_and_says_what_it_gives() {
        let m = model(26, NonceRange::DEFAULT, 211_000.0, 0.0);
        assert_eq!(m.smallest_workers(Duration::from_secs(60), 0.95, Some(16)).unwrap(), 16);
        let e = m.plan(Duration::from_secs(60), 0.95, Some(8)).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("at most 8 workers"), "{text}");
        assert!(text.contains("needs 16 workers"), "{text}");
        // 8 pods at 0.95: 201.04e6/(8·211 000) = 119.1 s.
        assert!(text.contains("1m 59s"), "{text}");
    }

    #[test]
    fn bad_inputs_name_the_flag() {
        let m = model(20, NonceRange::DEFAULT, 1e6, 0.0);
        for c in [0.0, 1.0, 1.5, -0.1, f64::NAN] {
            let e = m.smallest_workers(Duration::from_secs(1), c, None).unwrap_err();
            assert!(e.to_string().starts_with("--confidence"), "{e}");
        }
        assert_eq!(m.smallest_workers(Duration::ZERO, 0.9, None).unwrap_err(), PlanError::Deadline);
        let p = Problem::text("x", 20).unwrap();
        for r in [0.0, -1.0, f64::INFINITY, f64::NAN] {
            assert!(SearchModel::new(&p, r, Duration::ZERO).unwrap_err().to_string().starts_with("--rate"));
        }
        let s = model(20, NonceRange::DEFAULT, 1e6, 30.0);
        assert!(matches!(
            s.smallest_workers(Duration::from_secs(30), 0.9, None),
            Err(PlanError::StartupExceedsDeadline { .. })
        ));
    }

    #[test]
    fn no_underflow_or_saturation_at_the_extremes() {
        // D = 0: every nonce is golden; one hash suffices.
        let m = model(0, NonceRange::DEFAULT, 1.0, 0.0);
        assert_eq!(m.probability_in(1.0), 1.0);
        assert_eq!(m.smallest_workers(Duration::from_secs(1), 0.999, None).unwrap(), 1);
        // A confidence of 1 − 1e-12 is still told apart from 1.
        let m = model(20, NonceRange::new(0, u64::MAX).unwrap(), 1e6, 0.0);
        let w = m.smallest_workers(Duration::from_secs(10), 1.0 - 1e-12, None).unwrap();
        assert!(m.hashes_by(w, 10.0) >= m.hashes_for(1.0 - 1e-12));
        assert!(m.hashes_by(w - 1, 10.0) < m.hashes_for(1.0 - 1e-12));
        // The minimal W is exact on both sides for many deadlines and difficulties.
        for d in [8, 16, 24, 30, 40] {
            let m = model(d, NonceRange::new(0, u64::MAX).unwrap(), 123_457.0, 2.5);
            for secs in [3, 10, 77, 600, 86_400] {
                for c in [0.5, 0.9, 0.95, 0.99, 0.999_999] {
                    let t = Duration::from_secs(secs);
                    let w = m.smallest_workers(t, c, None).unwrap();
                    assert!(m.hashes_by(w, secs as f64) >= m.hashes_for(c));
                    assert!(w == 1 || m.hashes_by(w - 1, secs as f64) < m.hashes_for(c));
                }
            }
        }
    }

    #[test]
    fn durations_read_like_a_person_writes_them() {
        let show = |s: f64| HumanSeconds(s).to_string();
        assert_eq!(show(0.0), "0 s");
        assert_eq!(show(0.25), "250 ms");
        assert_eq!(show(8.5), "8.5 s");
        assert_eq!(show(60.0), "1m");
        assert_eq!(show(92.0), "1m 32s");
        assert_eq!(show(600.0), "10m");
        assert_eq!(show(7205.0), "2h 0m 5s");
        assert_eq!(show(3.0 * 86_400.0 + 4.0 * 3600.0 + 7.0), "3d 4h");
        assert_eq!(show(f64::INFINITY), "never");
    }

    #[test]
    fn percentages_never_round_up_to_certainty() {
        assert_eq!(percent(0.95), "95.00%");
        assert_eq!(percent(0.999_999), "99.9999%");
        assert_eq!(percent(3.7e-68), "3.70e-66%");
        assert_eq!(percent(0.0), "0%");
    }

    /// Exact two-sided binomial tail: min(P(X ≤ x), P(X ≥ x)) for X ~ Bin(n, q), summed in
    /// log space.
    fn binomial_tail(n: u64, q: f64, x: u64) -> f64 {
        let ln_pmf = |k: u64| {
            let mut lc = 0.0;
            for i in 0..k {
                lc += ((n - i) as f64).ln() - ((i + 1) as f64).ln();
            }
            lc + k as f64 * q.ln() + (n - k) as f64 * (-q).ln_1p()
        };
        let (mut below, mut above) = (0.0, 0.0);
        let mut lp = ln_pmf(0);
        for k in 0..=n {
            if k > 0 {
                lp += ((n - k + 1) as f64).ln() - (k as f64).ln() + q.ln() - (-q).ln_1p();
            }
            if k <= x {
                below += lp.exp();
            }
            if k >= x {
                above += lp.exp();
            }
        }
        f64::min(below, above)
    }

    /// The planner assumes that the hashes to a golden nonce follow the geometric law
    /// P(K ≤ k) = 1 − (1 − p)^k. Checked on the portable kernel, one thread, 4096 random
    /// blocks at D = 10, deterministic seed, so it does not depend on timing.
    ///
    /// Two checks, whose false-alarm rates add up to at most 1e-6 if the law holds:
    /// - Kolmogorov–Smirnov with the Dvoretzky–Kiefer–Wolfowitz–Massart bound
    ///   P(sup |F_n − F| > ε) ≤ 2·exp(−2nε²), valid for discrete F too: ε chosen for 5e-7;
    /// - exact binomial tails of the counts below the 10/25/50/75/90/99 % quantiles, each at
    ///   5e-7/6/2 per side (a union bound).
    #[test]
    fn hashes_to_solution_follow_the_geometric_law() {
        const N: usize = 4096;
        const D: u32 = 10;
        const ALPHA: f64 = 1e-6;
        let mut rng = StdRng::seed_from_u64(0x00C0_FFEE_2026);
        let p = 2f64.powi(-(D as i32));
        let stop = AtomicBool::new(false);
        let mut samples = Vec::with_capacity(N);
        for _ in 0..N {
            let len = rng.random_range(1..=100);
            let block: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            let start = rng.random_range(0..1u64 << 40);
            let problem =
                Problem::text(block, D).unwrap().with_range(NonceRange::new(start, start + (1 << 20)).unwrap());
            let problem = problem.unwrap();
            let scan = Kernel::Portable.scan(&Prepared::new(&problem), problem.range(), &stop);
            let golden = scan.golden.expect("a golden nonce in 2^20 nonces at D = 10");
            samples.push(golden - start + 1);
        }
        samples.sort_unstable();
        let cdf = |k: u64| -(k as f64 * (-p).ln_1p()).exp_m1();
        let n = N as f64;

        // KS over every step of both functions: just before and at each observed value.
        let mut ks: f64 = 0.0;
        for &k in &samples {
            let first = samples.partition_point(|&x| x < k) as f64 / n; // F_n(k − 1)
            let at = samples.partition_point(|&x| x <= k) as f64 / n; // F_n(k)
            ks = ks.max((first - cdf(k - 1)).abs()).max((at - cdf(k)).abs());
        }
        let eps = ((2.0 / (ALPHA / 2.0)).ln() / (2.0 * n)).sqrt();
        assert!(ks <= eps, "KS distance {ks:.4} > {eps:.4} (false-alarm rate {:.0e})", ALPHA / 2.0);

        // Binomial checks at fixed quantiles of the geometric law.
        let levels: [f64; 6] = [0.10, 0.25, 0.50, 0.75, 0.90, 0.99];
        let per_check = ALPHA / 2.0 / levels.len() as f64 / 2.0;
        for q in levels {
            let k = ((-q).ln_1p() / (-p).ln_1p()).ceil() as u64;
            let below = samples.partition_point(|&x| x <= k) as u64;
            let tail = binomial_tail(N as u64, cdf(k), below);
            assert!(tail > per_check, "quantile {q}: {below}/{N} at or below {k} (F = {:.4}), tail {tail:.2e}", cdf(k));
        }
        // And the mean is near 1/p: its standard error is 1/(p·√N) = 1.6 %, the band is 6σ.
        let mean = samples.iter().sum::<u64>() as f64 / n;
        assert!((mean * p - 1.0).abs() < 0.1, "mean {mean}");
    }
}
