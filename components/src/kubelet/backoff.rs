//! client-go's `flowcontrol.Backoff` as the kubelet uses it for CrashLoopBackOff and image
//! pull back-off: per key, a delay that starts at the initial duration and doubles on each
//! `next`, capped at the maximum, with no jitter (the kubelet's `NewBackOff` has none).
//! An entry is forgotten when the event it is asked about comes more than 2 × max after
//! its last update (`hasExpired`): a container that ran 10 minutes without failing
//! starts over at 10 s.
//!
//! The kubelet's use (`doBackOff`): when a container that must be restarted has exited at
//! `finished_at`, it is in back-off while `now − finished_at < entry.backoff`; once out,
//! `next(key, finished_at)` is called and the container is restarted. So the first
//! restart is immediate and the waits that follow are 10, 20, 40, 80, 160, 300, 300 s.

use std::collections::BTreeMap;

use sim_core::{SimDuration, SimTime};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    backoff: SimDuration,
    last_update: SimTime,
}

#[derive(Clone, Debug)]
pub struct Backoff<K: Ord> {
    initial: SimDuration,
    max: SimDuration,
    /// How long after its last update an entry is forgotten; upstream 2 × max.
    expiry: SimDuration,
    entries: BTreeMap<K, Entry>,
}

impl<K: Ord> Backoff<K> {
    /// Upstream's shape: entries expire 2 × `max` after their last update.
    pub fn new(initial: SimDuration, max: SimDuration) -> Backoff<K> {
        Backoff::with_expiry(initial, max, max.saturating_mul(2))
    }

    pub fn with_expiry(initial: SimDuration, max: SimDuration, expiry: SimDuration) -> Backoff<K> {
        assert!(initial <= max, "back-off initial {initial} above max {max}");
        Backoff {
            initial,
            max,
            expiry,
            entries: BTreeMap::new(),
        }
    }

    /// `hasExpired`: the entry is stale once the event is more than `expiry` after it.
    fn expired(&self, entry: &Entry, event_time: SimTime) -> bool {
        event_time.saturating_since(entry.last_update) > self.expiry
    }

    /// The current delay for `key` (zero when there is none).
    pub fn get(&self, key: &K) -> SimDuration {
        self.entries
            .get(key)
            .map_or(SimDuration::ZERO, |e| e.backoff)
    }

    /// `Next`: moves `key` to its next delay, or starts it over, and returns that delay.
    pub fn next(&mut self, key: K, event_time: SimTime, now: SimTime) -> SimDuration {
        let backoff = match self.entries.get(&key) {
            Some(entry) if !self.expired(entry, event_time) => {
                entry.backoff.saturating_mul(2).min(self.max)
            }
            _ => self.initial,
        };
        self.entries.insert(
            key,
            Entry {
                backoff,
                last_update: now,
            },
        );
        backoff
    }

    /// `IsInBackOffSince`: the instant the back-off that began at `event_time` ends, if it
    /// has not ended by `now`.
    pub fn in_backoff_until(&self, key: &K, event_time: SimTime, now: SimTime) -> Option<SimTime> {
        let entry = self.entries.get(key)?;
        if self.expired(entry, event_time) {
            return None;
        }
        let until = event_time + entry.backoff;
        (now < until).then_some(until)
    }

    pub fn remove(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// Drops every key matching `pred` (a pod's containers when the pod goes).
    pub fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        self.entries.retain(|key, _| keep(key));
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> SimDuration {
        SimDuration::from_secs(n)
    }
    fn t(n: u64) -> SimTime {
        SimTime::ZERO + secs(n)
    }

    fn crash_loop() -> Backoff<&'static str> {
        Backoff::new(secs(10), secs(300))
    }

    #[test]
    fn delays_double_from_10s_and_cap_at_300s() {
        let mut backoff = crash_loop();
        let mut now = t(0);
        let mut seen = Vec::new();
        for _ in 0..7 {
            seen.push(backoff.next("c", now, now).as_secs());
            now += secs(1);
        }
        assert_eq!(seen, vec![10, 20, 40, 80, 160, 300, 300]);
    }

    #[test]
    fn the_first_restart_is_immediate_then_the_waits_grow() {
        // A container that exits one second after each start, as the kubelet sees it.
        let mut backoff = crash_loop();
        let mut now = t(0);
        let mut waits = Vec::new();
        for _ in 0..5 {
            let finished_at = now + secs(1);
            now = finished_at;
            let restart_at = backoff
                .in_backoff_until(&"c", finished_at, now)
                .unwrap_or(now);
            waits.push(restart_at.saturating_since(finished_at).as_secs());
            now = restart_at;
            backoff.next("c", finished_at, now);
        }
        assert_eq!(waits, vec![0, 10, 20, 40, 80]);
    }

    #[test]
    fn ten_minutes_without_a_failure_resets_the_delay() {
        let mut backoff = crash_loop();
        for i in 0..4 {
            backoff.next("c", t(i), t(i));
        }
        assert_eq!(backoff.get(&"c"), secs(80));
        // An exit 600 s after the last restart still counts (not more than 2 × max)...
        assert_eq!(
            backoff.in_backoff_until(&"c", t(3 + 600), t(3 + 600)),
            Some(t(683))
        );
        // ...one 601 s after it starts over.
        assert_eq!(backoff.in_backoff_until(&"c", t(3 + 601), t(3 + 601)), None);
        assert_eq!(backoff.next("c", t(3 + 601), t(3 + 601)), secs(10));
    }

    #[test]
    fn keys_are_independent_and_removable() {
        let mut backoff = crash_loop();
        backoff.next("a", t(0), t(0));
        backoff.next("a", t(0), t(0));
        backoff.next("b", t(0), t(0));
        assert_eq!(backoff.get(&"a"), secs(20));
        assert_eq!(backoff.get(&"b"), secs(10));
        backoff.retain(|k| *k != "a");
        assert_eq!(backoff.get(&"a"), SimDuration::ZERO);
        assert_eq!(backoff.len(), 1);
    }
}
