//! The scheduling queue: activeQ (priority, then time), backoffQ (ordered by when the
//! back-off ends) and the unschedulable pool, as `PriorityQueue` in upstream's
//! `backend/queue/scheduling_queue.go` keeps them.
//!
//! Upstream moves unschedulable pods back on cluster events through QueueingHints; with
//! hints off it moves them all (`MoveAllToActiveOrBackoffQueue`), which is what kubesim
//! does on the events that can make a pod fit (a node added or changed to allow more, an
//! assigned pod deleted or finished). Pods left in the pool are swept by
//! `flushUnschedulablePodsLeftover`, which runs every 30 s and moves those that sat
//! there longer than 5 minutes.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::rc::Rc;

use sim_core::{FxIndexMap, SimDuration, SimTime};

use crate::api::Pod;

/// Back-off settings, from `KubeSchedulerConfiguration`.
#[derive(Clone, Copy, Debug)]
pub struct BackoffConfig {
    /// `podInitialBackoffSeconds`, upstream default 1 s.
    pub initial: SimDuration,
    /// `podMaxBackoffSeconds`, upstream default 10 s.
    pub max: SimDuration,
    /// `DefaultPodMaxInUnschedulablePodsDuration`, upstream 5 min.
    pub max_in_unschedulable: SimDuration,
}

/// The period of `flushUnschedulablePodsLeftover` (upstream 30 s).
pub const UNSCHEDULABLE_FLUSH_PERIOD: SimDuration = SimDuration::from_secs(30);

/// The first tick of the leftover flush (every [`UNSCHEDULABLE_FLUSH_PERIOD`] from
/// `origin`) at which a pod unschedulable since `since` has sat there longer than
/// `max_in_unschedulable` (upstream compares with `>`).
pub fn leftover_flush_at(
    origin: SimTime,
    since: SimTime,
    max_in_unschedulable: SimDuration,
) -> SimTime {
    let period = UNSCHEDULABLE_FLUSH_PERIOD.as_nanos();
    let due = (since + max_in_unschedulable)
        .saturating_since(origin)
        .as_nanos();
    let ticks = due / period + 1;
    origin + SimDuration::from_nanos(ticks * period)
}

/// `calculateBackoffDuration`: `initial × 2^(attempts−1)`, capped at `max`; zero before
/// the first attempt.
pub fn backoff_duration(attempts: u32, config: &BackoffConfig) -> SimDuration {
    if attempts == 0 {
        return SimDuration::ZERO;
    }
    let mut duration = config.initial;
    for _ in 1..attempts {
        duration = duration.saturating_mul(2);
        if duration >= config.max {
            return config.max;
        }
    }
    duration.min(config.max)
}

/// Where a queued pod is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Active,
    Backoff {
        until: SimTime,
    },
    Unschedulable {
        since: SimTime,
    },
    /// Popped: being scheduled or waiting for its binding.
    InFlight,
}

/// A pod the queue holds (`QueuedPodInfo`).
#[derive(Clone, Debug)]
pub struct QueuedPod {
    pub pod: Rc<Pod>,
    /// Scheduling attempts so far.
    pub attempts: u32,
    /// When the pod was added or last failed (upstream `Timestamp`).
    pub timestamp: SimTime,
    /// Insertion counter: a total order among pods with equal priority and timestamp.
    seq: u64,
    pub place: Place,
}

/// activeQ order: higher priority first, then earlier timestamp (PrioritySort).
type ActiveKey = (Reverse<i32>, SimTime, u64, u64);

#[derive(Debug)]
pub struct SchedulingQueue {
    config: BackoffConfig,
    pods: FxIndexMap<u64, QueuedPod>,
    active: BTreeSet<ActiveKey>,
    backoff: BTreeSet<(SimTime, u64, u64)>,
    unschedulable: BTreeSet<(SimTime, u64, u64)>,
    next_seq: u64,
    /// When the queue started: the leftover flush ticks from here.
    origin: SimTime,
}

impl SchedulingQueue {
    pub fn new(config: BackoffConfig) -> SchedulingQueue {
        SchedulingQueue {
            config,
            pods: FxIndexMap::default(),
            active: BTreeSet::new(),
            backoff: BTreeSet::new(),
            unschedulable: BTreeSet::new(),
            next_seq: 0,
            origin: SimTime::ZERO,
        }
    }

    /// Empties the queue; the leftover flush ticks from `now` on (the scheduler started).
    pub fn clear(&mut self, now: SimTime) {
        *self = SchedulingQueue::new(self.config);
        self.origin = now;
    }

    pub fn len(&self) -> usize {
        self.pods.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    pub fn active_len(&self) -> usize {
        self.active.len()
    }

    pub fn backoff_len(&self) -> usize {
        self.backoff.len()
    }

    pub fn unschedulable_len(&self) -> usize {
        self.unschedulable.len()
    }

    pub fn get(&self, uid: u64) -> Option<&QueuedPod> {
        self.pods.get(&uid)
    }

    /// A new pending pod: straight to activeQ.
    pub fn add(&mut self, pod: Rc<Pod>, now: SimTime) {
        let uid = pod.metadata.uid;
        assert!(!self.pods.contains_key(&uid), "pod {uid} queued twice");
        let seq = self.bump_seq();
        self.pods.insert(
            uid,
            QueuedPod {
                pod,
                attempts: 0,
                timestamp: now,
                seq,
                place: Place::Active,
            },
        );
        self.insert_place(uid);
    }

    /// The pod changed. An unschedulable pod whose spec or labels changed may fit now: it
    /// moves to backoffQ or activeQ. Returns whether the pod was queued.
    pub fn update(&mut self, pod: Rc<Pod>, now: SimTime) -> bool {
        let uid = pod.metadata.uid;
        if !self.pods.contains_key(&uid) {
            return false;
        }
        // The activeQ key holds the priority: take the pod out while it changes.
        self.remove_place(uid);
        let queued = self.pods.get_mut(&uid).expect("checked above");
        let old = std::mem::replace(&mut queued.pod, pod);
        let changed =
            old.spec != queued.pod.spec || old.metadata.labels != queued.pod.metadata.labels;
        let unschedulable = matches!(queued.place, Place::Unschedulable { .. });
        self.insert_place(uid);
        if changed && unschedulable {
            self.move_to_active_or_backoff(uid, now);
        }
        true
    }

    pub fn remove(&mut self, uid: u64) -> Option<QueuedPod> {
        self.remove_place(uid);
        self.pods.swap_remove(&uid)
    }

    /// Pops the head of activeQ; the pod is in flight until it is bound or requeued.
    pub fn pop(&mut self) -> Option<Rc<Pod>> {
        let (_, _, _, uid) = self.active.pop_first()?;
        let queued = self
            .pods
            .get_mut(&uid)
            .expect("activeQ entry without a pod");
        assert_eq!(queued.place, Place::Active);
        queued.place = Place::InFlight;
        queued.attempts += 1;
        Some(queued.pod.clone())
    }

    /// The in-flight pod was bound (or gave up on): it leaves the queue.
    pub fn done(&mut self, uid: u64) {
        if self
            .pods
            .get(&uid)
            .is_some_and(|queued| queued.place == Place::InFlight)
        {
            self.pods.swap_remove(&uid);
        }
    }

    /// The in-flight pod fits nowhere: into the unschedulable pool.
    pub fn requeue_unschedulable(&mut self, uid: u64, now: SimTime) {
        let seq = self.bump_seq();
        let Some(queued) = self.pods.get_mut(&uid) else {
            return;
        };
        assert_eq!(
            queued.place,
            Place::InFlight,
            "requeue of a pod not in flight"
        );
        queued.timestamp = now;
        queued.seq = seq;
        queued.place = Place::Unschedulable { since: now };
        self.insert_place(uid);
    }

    /// The in-flight pod failed for another reason (a binding error): into backoffQ.
    pub fn requeue_backoff(&mut self, uid: u64, now: SimTime) {
        let seq = self.bump_seq();
        let config = self.config;
        let Some(queued) = self.pods.get_mut(&uid) else {
            return;
        };
        if queued.place != Place::InFlight {
            return;
        }
        queued.timestamp = now;
        queued.seq = seq;
        queued.place = Place::Backoff {
            until: now + backoff_duration(queued.attempts, &config),
        };
        self.insert_place(uid);
    }

    /// `MoveAllToActiveOrBackoffQueue`: a cluster event may have made room.
    pub fn move_all_unschedulable(&mut self, now: SimTime) -> usize {
        let uids: Vec<u64> = self.unschedulable.iter().map(|&(_, _, uid)| uid).collect();
        for &uid in &uids {
            self.move_to_active_or_backoff(uid, now);
        }
        uids.len()
    }

    /// Moves the unschedulable pods for which `matters` holds (upstream's
    /// `movePodsToActiveOrBackoffQueue` over a filtered list).
    pub fn move_unschedulable_where(
        &mut self,
        now: SimTime,
        matters: impl Fn(&Pod) -> bool,
    ) -> usize {
        let uids: Vec<u64> = self
            .unschedulable
            .iter()
            .map(|&(_, _, uid)| uid)
            .filter(|uid| matters(&self.pods[uid].pod))
            .collect();
        for &uid in &uids {
            self.move_to_active_or_backoff(uid, now);
        }
        uids.len()
    }

    /// Moves pods whose back-off ended to activeQ, and pods that sat in the unschedulable
    /// pool longer than `max_in_unschedulable` to backoffQ or activeQ.
    pub fn flush(&mut self, now: SimTime) {
        while let Some(&(until, _, uid)) = self.backoff.first() {
            if until > now {
                break;
            }
            self.remove_place(uid);
            let queued = self
                .pods
                .get_mut(&uid)
                .expect("backoffQ entry without a pod");
            queued.place = Place::Active;
            self.insert_place(uid);
        }
        while let Some(&(since, _, uid)) = self.unschedulable.first() {
            if leftover_flush_at(self.origin, since, self.config.max_in_unschedulable) > now {
                break;
            }
            self.move_to_active_or_backoff(uid, now);
        }
    }

    /// When `flush` next has something to do.
    pub fn next_flush(&self) -> Option<SimTime> {
        let backoff = self.backoff.first().map(|&(until, _, _)| until);
        let leftover = self.unschedulable.first().map(|&(since, _, _)| {
            leftover_flush_at(self.origin, since, self.config.max_in_unschedulable)
        });
        match (backoff, leftover) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn move_to_active_or_backoff(&mut self, uid: u64, now: SimTime) {
        self.remove_place(uid);
        let config = self.config;
        let queued = self
            .pods
            .get_mut(&uid)
            .expect("moving a pod that is not queued");
        let until = queued.timestamp + backoff_duration(queued.attempts, &config);
        queued.place = if until > now {
            Place::Backoff { until }
        } else {
            Place::Active
        };
        self.insert_place(uid);
    }

    fn bump_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn insert_place(&mut self, uid: u64) {
        let queued = &self.pods[&uid];
        let inserted = match queued.place {
            Place::Active => self.active.insert((
                Reverse(queued.pod.spec.priority),
                queued.timestamp,
                queued.seq,
                uid,
            )),
            Place::Backoff { until } => self.backoff.insert((until, queued.seq, uid)),
            Place::Unschedulable { since } => self.unschedulable.insert((since, queued.seq, uid)),
            Place::InFlight => true,
        };
        assert!(inserted, "pod {uid} already in its sub-queue");
    }

    fn remove_place(&mut self, uid: u64) {
        let Some(queued) = self.pods.get(&uid) else {
            return;
        };
        let removed = match queued.place {
            Place::Active => self.active.remove(&(
                Reverse(queued.pod.spec.priority),
                queued.timestamp,
                queued.seq,
                uid,
            )),
            Place::Backoff { until } => self.backoff.remove(&(until, queued.seq, uid)),
            Place::Unschedulable { since } => self.unschedulable.remove(&(since, queued.seq, uid)),
            Place::InFlight => true,
        };
        assert!(removed, "pod {uid} missing from its sub-queue");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ObjectMeta, PodSpec, PodStatus};

    fn config() -> BackoffConfig {
        BackoffConfig {
            initial: SimDuration::from_secs(1),
            max: SimDuration::from_secs(10),
            max_in_unschedulable: SimDuration::from_mins(5),
        }
    }

    fn pod(uid: u64, priority: i32) -> Rc<Pod> {
        let mut metadata = ObjectMeta::named("default", &format!("p{uid}"));
        metadata.uid = uid;
        Rc::new(Pod {
            metadata,
            spec: PodSpec {
                priority,
                ..PodSpec::default()
            },
            status: PodStatus::default(),
        })
    }

    fn at(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    #[test]
    fn backoff_sequence_is_1_2_4_8_10_10() {
        let seconds: Vec<u64> = (1..=6)
            .map(|attempts| backoff_duration(attempts, &config()).as_secs())
            .collect();
        assert_eq!(seconds, [1, 2, 4, 8, 10, 10]);
        assert_eq!(backoff_duration(0, &config()), SimDuration::ZERO);
        assert_eq!(backoff_duration(200, &config()), SimDuration::from_secs(10));
    }

    #[test]
    fn active_queue_orders_by_priority_then_arrival() {
        let mut queue = SchedulingQueue::new(config());
        queue.add(pod(1, 0), at(0));
        queue.add(pod(2, 10), at(1));
        queue.add(pod(3, 0), at(0));
        let order: Vec<u64> = std::iter::from_fn(|| queue.pop().map(|p| p.metadata.uid)).collect();
        assert_eq!(order, [2, 1, 3]);
    }

    #[test]
    fn failed_pods_back_off_and_return() {
        let mut queue = SchedulingQueue::new(config());
        queue.add(pod(1, 0), at(0));
        let popped = queue.pop().unwrap();
        queue.requeue_backoff(popped.metadata.uid, at(0));
        assert_eq!(queue.next_flush(), Some(at(1)));
        queue.flush(at(0));
        assert!(queue.pop().is_none());
        queue.flush(at(1));
        assert!(queue.pop().is_some());
        // Second failure: 2 s.
        queue.requeue_backoff(1, at(5));
        assert_eq!(queue.next_flush(), Some(at(7)));
    }

    #[test]
    fn unschedulable_pods_move_on_events_or_after_five_minutes() {
        let mut queue = SchedulingQueue::new(config());
        queue.add(pod(1, 0), at(0));
        queue.add(pod(2, 0), at(0));
        queue.pop();
        queue.pop();
        queue.requeue_unschedulable(1, at(10));
        queue.requeue_unschedulable(2, at(0));
        assert_eq!(queue.unschedulable_len(), 2);
        // A node event at 10.5 s: pod 1 is still backing off (1 s after its failure).
        let event = at(10) + SimDuration::from_millis(500);
        queue.move_all_unschedulable(event);
        assert_eq!(
            queue.get(1).unwrap().place,
            Place::Backoff { until: at(11) }
        );
        assert_eq!(queue.get(2).unwrap().place, Place::Active);

        let mut queue = SchedulingQueue::new(config());
        queue.add(pod(3, 0), at(0));
        queue.pop();
        queue.requeue_unschedulable(3, at(0));
        // Exactly 5 minutes is not longer than 5 minutes: the 30 s tick after it.
        assert_eq!(queue.next_flush(), Some(at(330)));
        queue.flush(at(329));
        assert_eq!(queue.active_len(), 0);
        queue.flush(at(330));
        assert_eq!(queue.active_len(), 1);
    }

    #[test]
    fn leftover_flush_ticks_every_30_seconds_from_the_start() {
        let five = SimDuration::from_mins(5);
        // Started at 7 s; unschedulable since 10 s: due after 310 s; ticks at 7 + 30k:
        // 307 is not after 310, 337 is.
        assert_eq!(leftover_flush_at(at(7), at(10), five), at(337));
        assert_eq!(leftover_flush_at(at(0), at(10), five), at(330));
        assert_eq!(
            leftover_flush_at(at(0), at(1), five),
            at(330),
            "301 s waits for the 330 s tick"
        );
    }

    #[test]
    fn removing_keeps_sub_queues_consistent() {
        let mut queue = SchedulingQueue::new(config());
        queue.add(pod(1, 0), at(0));
        queue.add(pod(2, 0), at(0));
        assert!(queue.remove(1).is_some());
        assert_eq!(queue.active_len(), 1);
        assert_eq!(queue.pop().unwrap().metadata.uid, 2);
        queue.done(2);
        assert!(queue.is_empty());
    }
}
