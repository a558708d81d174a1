//! Client-side rate limiting: client-go's `flowcontrol.NewTokenBucketRateLimiter(qps,
//! burst)` (`k8s.io/client-go/util/flowcontrol/throttle.go`), which wraps
//! `golang.org/x/time/rate`'s `Limiter`.
//!
//! A request takes one token. The bucket holds up to `burst` tokens and refills at `qps`
//! tokens per second. A request that finds no token does not fail: `Wait` reserves the
//! next token to come (the count goes below zero) and blocks until then, so waiting
//! requests leave in the order they were made, `1/qps` apart.
//!
//! The bucket is plain arithmetic on the instants requests are made, and costs no event
//! and no allocation while requests get their token at once. A request that must wait is
//! held in the client's process ([`Held`]) until its instant, and only then sent: a
//! process that crashes meanwhile sends nothing (`Context::send_after` would let the
//! engine carry the message off after the crash). The owner keeps one timer for the
//! earliest held request.

use std::collections::BTreeMap;

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

/// Requests held in the client's process until they may leave, by departure instant
/// (then in the order they were made). Lost with the process.
#[derive(Clone, Debug)]
pub struct Held<T> {
    queue: BTreeMap<(SimTime, u64), T>,
    next_seq: u64,
    /// The instant the owner's release timer is set for, if one is.
    armed: Option<SimTime>,
}

impl<T> Default for Held<T> {
    fn default() -> Self {
        Held {
            queue: BTreeMap::new(),
            next_seq: 0,
            armed: None,
        }
    }
}

impl<T> Held<T> {
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Holds `request` until `departs`.
    pub fn hold(&mut self, departs: SimTime, request: T) {
        self.queue.insert((departs, self.next_seq), request);
        self.next_seq += 1;
    }

    /// The instant a release timer must be set for, if the earliest held request is not
    /// covered by the timer already set; the caller sets it.
    pub fn arm(&mut self) -> Option<SimTime> {
        let (&(first, _), _) = self.queue.first_key_value()?;
        if self.armed.is_some_and(|armed| armed <= first) {
            return None;
        }
        self.armed = Some(first);
        Some(first)
    }

    /// The release timer set for `at` fired at `now`: the requests due, in order. A timer
    /// superseded by an earlier one releases nothing.
    pub fn release(&mut self, at: SimTime, now: SimTime) -> Vec<T> {
        assert!(at <= now, "a release timer fired early");
        if self.armed != Some(at) {
            return Vec::new();
        }
        self.armed = None;
        let later = self.queue.split_off(&(now, u64::MAX));
        let due = std::mem::replace(&mut self.queue, later);
        due.into_values().collect()
    }

    /// The process is gone: nothing it held is sent, and its timer died with it.
    pub fn clear(&mut self) {
        self.queue.clear();
        self.armed = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_requests_leave_in_order_at_their_instant_and_die_with_the_process() {
        let mut held = Held::default();
        held.hold(ms(40), "c");
        held.hold(ms(20), "a");
        held.hold(ms(20), "b");
        assert_eq!(held.arm(), Some(ms(20)));
        assert_eq!(held.arm(), None, "the timer set covers the earliest");
        assert_eq!(held.release(ms(20), ms(20)), vec!["a", "b"]);
        assert_eq!(held.arm(), Some(ms(40)));
        held.hold(ms(30), "d");
        assert_eq!(held.arm(), Some(ms(30)), "an earlier one re-arms");
        assert_eq!(
            held.release(ms(40), ms(40)),
            Vec::<&str>::new(),
            "superseded"
        );
        assert_eq!(held.release(ms(30), ms(30)), vec!["d"]);
        assert_eq!(held.arm(), Some(ms(40)));
        // The kubelet crashes with "c" queued: it is never sent.
        held.clear();
        assert!(held.is_empty());
        assert_eq!(held.arm(), None);
        assert_eq!(held.release(ms(40), ms(40)), Vec::<&str>::new());
    }

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
