//! Seeded randomness: one ChaCha8 stream per actor.
//!
//! Every run has one master seed. Each actor's stream is ChaCha8 keyed by the master seed
//! with the stream number taken from a stable hash of the actor's name, so adding an actor
//! never changes the draws of another. Only integer arithmetic and `libm` feed behaviour,
//! so the same seed gives the same draws on every machine.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::hash::stable_hash_str;
use crate::time::SimDuration;

/// A deterministic random stream. Never seeded from the OS.
#[derive(Clone, Debug)]
pub struct SimRng {
    inner: ChaCha8Rng,
}

impl SimRng {
    /// The stream named `stream_name` under `master_seed`.
    pub fn for_stream(master_seed: u64, stream_name: &str) -> SimRng {
        let mut inner = ChaCha8Rng::seed_from_u64(master_seed);
        inner.set_stream(stable_hash_str(stream_name));
        SimRng { inner }
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in `0..bound` without modulo bias (Lemire's method). `bound` must be > 0.
    #[inline]
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "SimRng::below(0)");
        let mut product = u128::from(self.next_u64()) * u128::from(bound);
        // The rejection threshold `2^64 mod bound` is below `bound`, so the division that
        // computes it is only needed when the low word is below `bound` (rarely).
        if (product as u64) < bound {
            let threshold = bound.wrapping_neg() % bound;
            while (product as u64) < threshold {
                product = u128::from(self.next_u64()) * u128::from(bound);
            }
        }
        (product >> 64) as u64
    }

    /// True with probability `parts / per` (integer probability, e.g. per million).
    #[inline]
    pub fn chance(&mut self, parts: u64, per: u64) -> bool {
        assert!(per > 0, "SimRng::chance with a zero denominator");
        parts >= per || self.below(per) < parts
    }

    /// Uniform in `0..=max`.
    #[inline]
    pub fn duration_up_to(&mut self, max: SimDuration) -> SimDuration {
        if max == SimDuration::ZERO {
            return SimDuration::ZERO;
        }
        SimDuration::from_nanos(self.below(max.as_nanos().saturating_add(1).max(1)))
    }

    /// Exponentially distributed with the given mean, computed with `libm` so the result
    /// is the same on every platform.
    pub fn exponential(&mut self, mean: SimDuration) -> SimDuration {
        // 53 random bits → a uniform float in (0, 1].
        let unit = ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
        let nanos = -libm::log(unit) * mean.as_nanos() as f64;
        SimDuration::from_nanos(nanos as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(rng: &mut SimRng, count: usize) -> Vec<u64> {
        (0..count).map(|_| rng.next_u64()).collect()
    }

    #[test]
    fn same_seed_and_name_give_the_same_stream() {
        let mut a = SimRng::for_stream(7, "kubelet/node-1");
        let mut b = SimRng::for_stream(7, "kubelet/node-1");
        assert_eq!(draws(&mut a, 16), draws(&mut b, 16));
    }

    #[test]
    fn streams_are_independent_of_each_other() {
        let mut alone = SimRng::for_stream(7, "scheduler");
        let expected = draws(&mut alone, 16);
        // Drawing heavily from another stream first changes nothing for this one.
        let mut other = SimRng::for_stream(7, "kubelet/node-1");
        let _ = draws(&mut other, 1000);
        let mut again = SimRng::for_stream(7, "scheduler");
        assert_eq!(draws(&mut again, 16), expected);
        let mut other = SimRng::for_stream(7, "kubelet/node-1");
        assert_ne!(draws(&mut other, 16), expected);
    }

    #[test]
    fn different_seeds_differ() {
        let mut a = SimRng::for_stream(1, "x");
        let mut b = SimRng::for_stream(2, "x");
        assert_ne!(draws(&mut a, 4), draws(&mut b, 4));
    }

    #[test]
    fn golden_first_draw_is_stable_across_machines() {
        // Pins the seed derivation: changing it changes every trace hash.
        let mut rng = SimRng::for_stream(42, "network");
        let first = rng.next_u64();
        let mut again = SimRng::for_stream(42, "network");
        assert_eq!(first, again.next_u64());
        assert_eq!(first, GOLDEN_FIRST_DRAW);
    }
    const GOLDEN_FIRST_DRAW: u64 = 15_317_787_989_766_169_524;

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut rng = SimRng::for_stream(3, "dice");
        let mut seen = [false; 6];
        for _ in 0..600 {
            let face = rng.below(6);
            assert!(face < 6);
            seen[face as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn chance_extremes() {
        let mut rng = SimRng::for_stream(3, "coin");
        assert!((0..100).all(|_| !rng.chance(0, 1_000_000)));
        assert!((0..100).all(|_| rng.chance(1_000_000, 1_000_000)));
    }
}
