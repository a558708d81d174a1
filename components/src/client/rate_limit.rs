//! Client-side rate limiting: client-go's `flowcontrol.NewTokenBucketRateLimiter(qps,
//! burst)` (`k8s.io/client-go/util/flowcontrol/throttle.go`), which wraps
//! `golang.org/x/time/rate`'s `Limiter`.
//!
//! A request takes one token. The bucket holds up to `burst` tokens and refills at `qps`
//! tokens per second. A request that finds no token does not fail: `Wait` reserves the
//! next token to come (the count goes below zero) and blocks until then, so waiting
//! requests leave in the order they were made, `1/qps` apart.
//!
//! In kubesim the wait is the request's departure delay (`Context::send_after`): the
//! bucket is plain arithmetic on the instants requests are made, and costs no event, no
//! timer and no allocation whether or not a request has to wait.

use sim_core::{SimDuration, SimTime};

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// A token bucket in integer arithmetic: `credit` is the number of tokens × 10⁹, and
/// each nanosecond adds `qps` to it, so nothing is rounded while it refills.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    qps: u32,
    burst: u32,
    /// Tokens × 10⁹ at `last`; below zero when requests wait for tokens to come.
    credit: i128,
    last: SimTime,
}

impl TokenBucket {
    /// A full bucket (x/time/rate starts with `burst` tokens).
    pub fn new(qps: u32, burst: u32) -> TokenBucket {
        assert!(qps > 0, "a token bucket with qps 0 would never refill");
        assert!(burst > 0, "a token bucket with burst 0 admits nothing");
        TokenBucket {
            qps,
            burst,
            credit: i128::from(burst) * NANOS_PER_SECOND,
            last: SimTime::ZERO,
        }
    }

    pub fn qps(&self) -> u32 {
        self.qps
    }

    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Takes a token for a request made at `now`; returns how long the request waits
    /// for it (zero when one was in the bucket). Calls must come in time order.
    pub fn reserve(&mut self, now: SimTime) -> SimDuration {
        assert!(now >= self.last, "token bucket asked out of time order");
        let elapsed_nanos = i128::from(now.saturating_since(self.last).as_nanos());
        let full = i128::from(self.burst) * NANOS_PER_SECOND;
        self.credit = Ord::min(full, self.credit + elapsed_nanos * i128::from(self.qps));
        self.last = now;
        self.credit -= NANOS_PER_SECOND;
        if self.credit >= 0 {
            return SimDuration::ZERO;
        }
        // The deficit is paid off at `qps` per nanosecond; round up so the token is
        // there when the request leaves.
        let qps = i128::from(self.qps);
        let wait_nanos = (-self.credit + qps - 1) / qps;
        SimDuration::from_nanos(u64::try_from(wait_nanos).expect("a wait fits in u64 nanos"))
    }

    /// Tokens in the bucket at `now` (negative: requests waiting), rounded down; for
    /// tests and reports.
    pub fn tokens(&self, now: SimTime) -> i64 {
        let elapsed_nanos = i128::from(now.saturating_since(self.last).as_nanos());
        let full = i128::from(self.burst) * NANOS_PER_SECOND;
        let credit = Ord::min(full, self.credit + elapsed_nanos * i128::from(self.qps));
        i64::try_from(credit.div_euclid(NANOS_PER_SECOND)).expect("tokens fit in i64")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_millis(millis)
    }

    #[test]
    fn the_burst_passes_at_once_then_requests_wait_one_interval_each() {
        // kubeAPIQPS 50, kubeAPIBurst 100: an interval of 20 ms.
        let mut bucket = TokenBucket::new(50, 100);
        for _ in 0..100 {
            assert_eq!(bucket.reserve(ms(0)), SimDuration::ZERO);
        }
        assert_eq!(bucket.tokens(ms(0)), 0);
        // The 101st waits for the first token to come, the next ones queue behind it.
        assert_eq!(bucket.reserve(ms(0)), SimDuration::from_millis(20));
        assert_eq!(bucket.reserve(ms(0)), SimDuration::from_millis(40));
        assert_eq!(bucket.reserve(ms(0)), SimDuration::from_millis(60));
        assert_eq!(bucket.tokens(ms(0)), -3);
        // 10 ms later, the one asked then leaves after those three.
        assert_eq!(bucket.reserve(ms(10)), SimDuration::from_millis(70));
    }

    #[test]
    fn waits_keep_request_order_and_rate() {
        let mut bucket = TokenBucket::new(50, 100);
        let mut departures = Vec::new();
        // 300 requests, three every 20 ms: 150/s asked, 50/s allowed after the burst.
        for i in 0..300u64 {
            let now = ms(i / 3 * 20);
            departures.push(now + bucket.reserve(now));
        }
        assert!(departures.windows(2).all(|w| w[0] <= w[1]), "FIFO");
        // In any second, at most burst + qps requests leave.
        for start in (0..8_000).step_by(100) {
            let window = departures
                .iter()
                .filter(|&&d| d >= ms(start) && d < ms(start + 1_000))
                .count();
            assert!(
                window <= 150,
                "{window} requests left in [{start} ms, +1 s)"
            );
        }
        // After the burst they leave exactly 20 ms apart.
        let tail: Vec<_> = departures[150..]
            .windows(2)
            .map(|w| w[1].saturating_since(w[0]))
            .collect();
        assert!(tail.iter().all(|&gap| gap == SimDuration::from_millis(20)));
        // 100 at once, then one per 20 ms: the 300th leaves at 200 × 20 ms = 4 s.
        assert_eq!(departures[299], ms(4_000));
    }

    #[test]
    fn the_bucket_refills_at_qps_up_to_burst() {
        let mut bucket = TokenBucket::new(5, 10);
        for _ in 0..10 {
            bucket.reserve(ms(0));
        }
        assert_eq!(bucket.tokens(ms(0)), 0);
        assert_eq!(bucket.tokens(ms(1_000)), 5);
        assert_eq!(bucket.tokens(ms(60_000)), 10, "never more than burst");
        // A request under the rate never waits.
        let mut steady = TokenBucket::new(5, 1);
        for i in 0..100 {
            assert_eq!(steady.reserve(ms(i * 200)), SimDuration::ZERO);
        }
        // 1/qps that does not divide a second rounds the wait up to the nanosecond.
        let mut odd = TokenBucket::new(3, 1);
        odd.reserve(ms(0));
        assert_eq!(odd.reserve(ms(0)), SimDuration::from_nanos(333_333_334));
    }
}
