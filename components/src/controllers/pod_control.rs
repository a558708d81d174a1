//! Pod creation in slow-start batches, shared by the ReplicaSet, DaemonSet and Job
//! controllers: upstream's `slowStartBatch` (pkg/controller/replicaset/replica_set.go,
//! called from the daemon and job controllers too) sends 1 create, then 2, 4, …, each
//! batch once the last came back, and stops the round at the first failed create.

use std::collections::VecDeque;

use sim_core::{Context, FxIndexMap, SimTime};

use super::index::NsName;
use super::replicaset::{Expectations, SLOW_START_INITIAL_BATCH_SIZE};
use super::{ControllerManager, Pending};
use crate::api::{ApiError, ApiVerb, Pod, Resource};
use crate::msg::Msg;

/// What a controller that owns pods directly (ReplicaSet, DaemonSet) keeps per owner:
/// its expectations (upstream `ControllerExpectations`) and its creation round in
/// progress (`S`: a slow start and whatever each creation needs).
#[derive(Debug)]
pub struct PodControl<S> {
    pub(super) expectations: FxIndexMap<NsName, Expectations>,
    pub(super) slow_starts: FxIndexMap<NsName, S>,
}

impl<S> Default for PodControl<S> {
    fn default() -> Self {
        PodControl {
            expectations: FxIndexMap::default(),
            slow_starts: FxIndexMap::default(),
        }
    }
}

impl<S> PodControl<S> {
    pub fn clear(&mut self) {
        self.expectations.clear();
        self.slow_starts.clear();
    }

    /// Whether the owner may sync: no creation round in flight, and its expectations
    /// met or expired.
    pub(super) fn satisfied(&self, key: &NsName, now: SimTime) -> bool {
        !self.slow_starts.contains_key(key)
            && self
                .expectations
                .get(key)
                .is_none_or(|expectations| expectations.satisfied(now))
    }

    /// `count` expected creations will not show up (seen, refused or never sent).
    pub(super) fn creations_observed(&mut self, key: &NsName, count: u32) {
        if let Some(expectations) = self.expectations.get_mut(key) {
            expectations.add = expectations.add.saturating_sub(count);
        }
    }

    pub(super) fn deletion_observed(&mut self, key: &NsName, uid: u64) {
        if let Some(expectations) = self.expectations.get_mut(key) {
            expectations.del.remove(&uid);
        }
    }
}

impl ControllerManager {
    /// Deletes one of a controller's pods with its uid as the precondition and the
    /// pod's own grace period (the pod control's `DeletePod`); `pending` is what the
    /// reply is for.
    pub(super) fn delete_pod(&mut self, pod: &Pod, pending: Pending, cx: &mut Context<'_, Msg>) {
        let id = self.api.send(
            cx,
            ApiVerb::Delete {
                key: pod.key(),
                grace_period_seconds: None,
                uid_precondition: pod.metadata.uid,
                propagation_policy: None,
            },
        );
        self.pending.insert(id, pending);
    }
}

/// Records a pod create or delete the API server refused, naming the controller's
/// object (`owner` is its kind as the records spell it: "replicaset", "job", …).
pub fn record_pod_write_failed(
    cx: &mut Context<'_, Msg>,
    owner: &'static str,
    key: &NsName,
    verb: &'static str,
    error: &ApiError,
) {
    let (code, message) = (error.reason.code(), &error.message);
    cx.record("detail", || {
        format!(
            "{owner} {}/{}: pod {verb} failed: {code} {message}",
            key.0, key.1
        )
    });
}

/// One round of creations: what each pod is made for (a node, a completion index, or
/// nothing when every pod is alike), sent batch by batch.
#[derive(Clone, Debug)]
pub struct SlowStart<T> {
    /// Creations not yet sent.
    queued: VecDeque<T>,
    /// The size of the next batch (capped by what is queued when it is sent).
    batch: usize,
    in_flight: usize,
    failed: bool,
}

impl<T> SlowStart<T> {
    pub fn new(items: impl IntoIterator<Item = T>) -> Self {
        SlowStart {
            queued: items.into_iter().collect(),
            batch: SLOW_START_INITIAL_BATCH_SIZE as usize,
            in_flight: 0,
            failed: false,
        }
    }

    /// The next batch to send; the replies to it are awaited.
    pub fn next_batch(&mut self) -> Vec<T> {
        assert_eq!(self.in_flight, 0, "a batch is already in flight");
        let size = self.batch.min(self.queued.len());
        assert!(size > 0, "an empty batch");
        self.in_flight = size;
        self.queued.drain(..size).collect()
    }

    /// A create of the batch in flight came back; true when it was the batch's last
    /// (the next batch, if any, is then twice as large).
    pub fn on_reply(&mut self, created: bool) -> bool {
        assert!(
            self.in_flight > 0,
            "creation reply without a batch in flight"
        );
        self.in_flight -= 1;
        self.failed |= !created;
        if self.in_flight > 0 {
            return false;
        }
        self.batch *= 2;
        true
    }

    /// Whether the round is over once a batch is done: a create failed, nothing is
    /// left, or the owner is gone.
    pub fn finished(&self, owner_present: bool) -> bool {
        self.failed || self.queued.is_empty() || !owner_present
    }

    /// Whether a create of this round failed.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Creations of this round that will not be sent if it ends now.
    pub fn unsent(&self) -> usize {
        self.queued.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::replicaset::slow_start_batches;
    use super::*;

    /// Runs a round where every create succeeds; the batch sizes it sent.
    fn batches(count: u32) -> Vec<u32> {
        let mut round = SlowStart::new(0..count);
        let mut sizes = Vec::new();
        while !round.finished(true) {
            let batch = round.next_batch();
            sizes.push(batch.len() as u32);
            let done: Vec<bool> = batch.iter().map(|_| round.on_reply(true)).collect();
            assert_eq!(done.iter().filter(|d| **d).count(), 1);
            assert!(done[done.len() - 1], "the last reply ends the batch");
        }
        sizes
    }

    #[test]
    fn batches_double_as_slow_start_batch_does() {
        for count in 1..=40 {
            assert_eq!(
                batches(count),
                slow_start_batches(count, SLOW_START_INITIAL_BATCH_SIZE)
            );
        }
    }

    #[test]
    fn a_failed_create_ends_the_round_after_its_batch() {
        let mut round = SlowStart::new(["a", "b", "c", "d"]);
        assert_eq!(round.next_batch(), ["a"]);
        assert!(round.on_reply(true));
        assert!(!round.finished(true));
        assert_eq!(round.next_batch(), ["b", "c"]);
        assert!(!round.on_reply(false));
        assert!(round.on_reply(true));
        assert!(round.failed());
        assert!(round.finished(true));
        assert_eq!(round.unsent(), 1);
    }

    #[test]
    fn a_gone_owner_ends_the_round() {
        let mut round = SlowStart::new([(); 3]);
        round.next_batch();
        assert!(round.on_reply(true));
        assert!(!round.finished(true));
        assert!(round.finished(false));
        assert_eq!(round.unsent(), 2);
        assert!(!round.failed());
    }
}
