//! One rearmable timer for many deadlines.
//!
//! A component that has to act at many future instants (processes reaching their startup,
//! back-offs expiring, SIGKILL after a grace period) keeps them in a [`Deadlines`] and asks
//! the engine for a single timer at the earliest one. The timer carries a generation: when
//! an earlier deadline arrives the timer is re-armed with a new generation and the old one
//! is skipped when it fires. The engine's queue so holds one pending timer per purpose
//! instead of one per object.
//!
//! Entries are never cancelled: the owner checks, when a key comes due, whether the object
//! it names is still in the state that asked for it.

use std::collections::BTreeSet;

use sim_core::{SimDuration, SimTime};

use crate::api::{ApiError, ApiOk};
use crate::client::RELIST_BACKOFF;

/// A timer the owner must set: deliver `generation` back after `after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rearm {
    pub after: SimDuration,
    pub generation: u64,
}

#[derive(Clone, Debug)]
pub struct Deadlines<K: Ord> {
    /// (due, insertion sequence, key): equal instants come due in insertion order.
    queue: BTreeSet<(SimTime, u64, K)>,
    next_seq: u64,
    /// The instant the live timer is set for, if one is.
    armed: Option<SimTime>,
    generation: u64,
}

impl<K: Ord> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines {
            queue: BTreeSet::new(),
            next_seq: 0,
            armed: None,
            generation: 0,
        }
    }
}

impl<K: Ord> Deadlines<K> {
    pub fn new() -> Deadlines<K> {
        Deadlines::default()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Adds `key`, due at `at` (not before `now`). Returns the timer to set when the
    /// earliest deadline moved earlier than the live timer.
    pub fn schedule(&mut self, now: SimTime, at: SimTime, key: K) -> Option<Rearm> {
        assert!(at >= now, "deadline in the past: {at} < {now}");
        self.queue.insert((at, self.next_seq, key));
        self.next_seq += 1;
        self.rearm(now)
    }

    /// The timer with `generation` fired at `now`: every key due by now, in order. A stale
    /// timer (an older generation) yields nothing. Call [`Deadlines::rearm`] afterwards.
    pub fn fire(&mut self, generation: u64, now: SimTime) -> Vec<K> {
        if generation != self.generation || self.armed.is_none() {
            return Vec::new();
        }
        assert!(
            self.armed.is_some_and(|at| at <= now),
            "deadline timer fired early"
        );
        self.armed = None;
        let mut due = Vec::new();
        while self.queue.first().is_some_and(|(at, _, _)| *at <= now) {
            let (_, _, key) = self.queue.pop_first().expect("checked non-empty");
            due.push(key);
        }
        due
    }

    /// The timer to set so that the earliest deadline is covered, if it is not already.
    pub fn rearm(&mut self, now: SimTime) -> Option<Rearm> {
        let (earliest, _, _) = self.queue.first()?;
        let earliest = *earliest;
        if self.armed.is_some_and(|armed| armed <= earliest) {
            return None;
        }
        self.generation += 1;
        self.armed = Some(earliest);
        Some(Rearm {
            after: earliest.saturating_since(now),
            generation: self.generation,
        })
    }

    /// Forgets every deadline (a crash: the engine drops the live timer too).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.armed = None;
        self.generation += 1;
    }
}

/// The deadline of an informer's requests. An informer lists, then watches, and waits
/// for each answer as long as it takes; across a partition that dropped one of them it
/// would wait forever. Its owner keeps this beside it and restarts the informer (a fresh
/// list) when [`InformerDeadline::expired`] says the request in flight was lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InformerDeadline {
    due: Option<SimTime>,
}

impl InformerDeadline {
    /// The informer was (re)started: its list is in flight.
    pub fn started(&mut self, now: SimTime, timeout: SimDuration) {
        self.due = Some(now + timeout);
    }

    /// The informer took an answer (its `on_response` returned `Some`): once the watch
    /// has started nothing is awaited; after the list the watch is in flight; after an
    /// error the informer lists again once its back-off has passed.
    pub fn on_response(
        &mut self,
        result: &Result<ApiOk, ApiError>,
        now: SimTime,
        timeout: SimDuration,
    ) {
        self.due = match result {
            Ok(ApiOk::WatchStarted) => None,
            Ok(_) => Some(now + timeout),
            Err(_) => Some(now + RELIST_BACKOFF + timeout),
        };
    }

    /// The informer's watch stream was closed: it watches again, or lists after a 410.
    pub fn on_closed(&mut self, now: SimTime, timeout: SimDuration) {
        self.due = Some(now + RELIST_BACKOFF + timeout);
    }

    /// When the request in flight is given up, if one is.
    pub fn due(&self) -> Option<SimTime> {
        self.due
    }

    /// True once, when the request in flight has outlived its deadline at `now`.
    pub fn expired(&mut self, now: SimTime) -> bool {
        if self.due.is_some_and(|due| due <= now) {
            self.due = None;
            return true;
        }
        false
    }

    /// Nothing in flight (a crash).
    pub fn clear(&mut self) {
        self.due = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    #[test]
    fn one_timer_covers_many_deadlines() {
        let mut d = Deadlines::new();
        let first = d.schedule(t(0), t(10), "a").expect("first deadline arms");
        assert_eq!(first.after, SimDuration::from_secs(10));
        // A later deadline needs no new timer.
        assert_eq!(d.schedule(t(0), t(20), "b"), None);
        // An earlier one re-arms with a new generation.
        let earlier = d
            .schedule(t(0), t(5), "c")
            .expect("earlier deadline re-arms");
        assert_ne!(earlier.generation, first.generation);
        // The stale timer yields nothing.
        assert!(d.fire(first.generation, t(10)).is_empty());
        assert_eq!(d.fire(earlier.generation, t(5)), vec!["c"]);
        let next = d.rearm(t(5)).expect("two left");
        assert_eq!(next.after, SimDuration::from_secs(5));
        assert_eq!(d.fire(next.generation, t(10)), vec!["a"]);
        let last = d.rearm(t(10)).expect("one left");
        assert_eq!(d.fire(last.generation, t(20)), vec!["b"]);
        assert_eq!(d.rearm(t(20)), None);
    }

    #[test]
    fn equal_instants_come_due_in_insertion_order() {
        let mut d = Deadlines::new();
        let arm = d.schedule(t(0), t(1), 3).expect("arms");
        d.schedule(t(0), t(1), 1);
        d.schedule(t(0), t(1), 2);
        assert_eq!(d.fire(arm.generation, t(1)), vec![3, 1, 2]);
    }

    #[test]
    fn an_informer_request_is_given_up_only_while_one_is_in_flight() {
        use crate::api::StatusReason;
        let timeout = SimDuration::from_secs(60);
        let mut d = InformerDeadline::default();
        assert!(!d.expired(t(1000)), "nothing in flight");
        d.started(t(0), timeout);
        assert!(!d.expired(t(59)));
        // The list answered: now the watch is awaited.
        d.on_response(
            &Ok(ApiOk::List {
                items: Vec::new(),
                resource_version: 3,
            }),
            t(1),
            timeout,
        );
        assert_eq!(d.due(), Some(t(61)));
        d.on_response(&Ok(ApiOk::WatchStarted), t(2), timeout);
        assert_eq!(d.due(), None, "a started watch is not a request in flight");
        assert!(!d.expired(t(1000)));
        // A refused watch: the informer lists again after its back-off.
        let gone = ApiError {
            reason: StatusReason::Gone,
            message: String::new(),
        };
        d.on_response(&Err(gone), t(10), timeout);
        assert_eq!(d.due(), Some(t(70) + RELIST_BACKOFF));
        assert!(!d.expired(t(70)));
        assert!(d.expired(t(71)));
        assert!(!d.expired(t(72)), "expires once");
    }

    #[test]
    fn clear_makes_the_live_timer_stale() {
        let mut d = Deadlines::new();
        let arm = d.schedule(t(0), t(1), 1).expect("arms");
        d.clear();
        assert!(d.fire(arm.generation, t(1)).is_empty());
        assert!(d.is_empty());
    }
}
