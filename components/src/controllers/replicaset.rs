//! The ReplicaSet controller (`pkg/controller/replicaset`): keeps `spec.replicas` active
//! pods, creating them in slow-start batches under expectations and deleting the
//! lowest-ranked ones first, and reports status.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::rc::Rc;

use sim_core::{Context, FxIndexMap, SimDuration, SimTime};

use super::index::{NsName, OwnerCounts};
use super::pod_control::{PodControl, SlowStart, record_pod_write_failed};
use super::{ControllerManager, Pending, WorkKey, ns_name};
use crate::api::{
    ApiResponse, ApiVerb, Kind, Object, ObjectMeta, OwnerReference, Pod, PodPhase, PodStatus,
    ReplicaSet, ReplicaSetStatus, StatusReason, s,
};
use crate::client::Delta;
use crate::msg::Msg;

/// `controller.SlowStartInitialBatchSize`.
pub const SLOW_START_INITIAL_BATCH_SIZE: u32 = 1;
/// `controller.ExpectationsTimeout`: expectations older than this are ignored.
pub const EXPECTATIONS_TIMEOUT: SimDuration = SimDuration::from_mins(5);
/// The PodDeletionCost annotation (GA).
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// The batch sizes `slowStartBatch` uses for `count` creations: 1, 2, 4, … (each batch
/// twice the last, the last one whatever remains).
pub fn slow_start_batches(count: u32, initial: u32) -> Vec<u32> {
    let mut batches = Vec::new();
    let mut remaining = count;
    let mut batch = remaining.min(initial);
    while batch > 0 {
        batches.push(batch);
        remaining -= batch;
        batch = (2 * batch).min(remaining);
    }
    batches
}

/// `UIDTrackingControllerExpectations` for one ReplicaSet: creations not yet seen by the
/// pod informer, and the uids of pods whose deletion has not been seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectations {
    pub add: u32,
    pub del: BTreeSet<u64>,
    pub timestamp: SimTime,
}

impl Expectations {
    pub fn fulfilled(&self) -> bool {
        self.add == 0 && self.del.is_empty()
    }

    /// `SatisfiedExpectations`: fulfilled, or too old to trust.
    pub fn satisfied(&self, now: SimTime) -> bool {
        self.fulfilled() || now.saturating_since(self.timestamp) > EXPECTATIONS_TIMEOUT
    }
}

/// The ReplicaSet controller's expectations and creation rounds (every pod of a
/// ReplicaSet is alike: nothing per creation).
pub type ReplicaSetState = PodControl<SlowStart<()>>;

/// A new pod for `rs`, stamped from its template (`GetPodFromTemplate`).
pub fn pod_from_template(rs: &ReplicaSet) -> Pod {
    let template = &rs.spec.template;
    let mut metadata = ObjectMeta::named(&rs.metadata.namespace, "");
    metadata.generate_name = s(&format!("{}-", rs.metadata.name));
    metadata.labels = template.labels.clone();
    metadata.annotations = template.annotations.clone();
    metadata.owner_references = vec![OwnerReference {
        kind: Kind::ReplicaSet,
        name: rs.metadata.name.clone(),
        uid: rs.metadata.uid,
        controller: true,
        block_owner_deletion: true,
    }];
    let mut spec = template.spec.clone();
    spec.node_name = None;
    Pod {
        metadata,
        spec,
        status: PodStatus::default(),
    }
}

/// Status from the active pods (`calculateStatus`).
pub fn calculate_status<'a>(
    rs: &ReplicaSet,
    active: impl Iterator<Item = &'a Rc<Pod>>,
    now: SimTime,
) -> ReplicaSetStatus {
    let mut status = ReplicaSetStatus {
        observed_generation: rs.metadata.generation,
        ..ReplicaSetStatus::default()
    };
    for pod in active {
        status.replicas += 1;
        status.ready_replicas += u32::from(pod.is_ready());
        status.available_replicas += u32::from(pod.is_available(rs.spec.min_ready_seconds, now));
    }
    status
}

/// The same status from the index's running totals, exact when minReadySeconds is 0.
pub fn status_from_counts(rs: &ReplicaSet, counts: &OwnerCounts) -> ReplicaSetStatus {
    assert_eq!(
        rs.spec.min_ready_seconds, 0,
        "counts know no ready durations"
    );
    ReplicaSetStatus {
        observed_generation: rs.metadata.generation,
        replicas: counts.active,
        ready_replicas: counts.ready,
        available_replicas: counts.available,
    }
}

/// A pod up for scale-down with its rank: how many active pods of the same controller
/// (the whole Deployment) share its node.
#[derive(Clone, Debug)]
pub struct RankedPod {
    pub pod: Rc<Pod>,
    pub colocated: u32,
}

fn phase_ordinal(phase: PodPhase) -> u8 {
    match phase {
        PodPhase::Pending => 0,
        PodPhase::Unknown => 1,
        PodPhase::Running => 2,
        PodPhase::Succeeded | PodPhase::Failed => 0,
    }
}

fn deletion_cost(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .get(POD_DELETION_COST)
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

fn max_restarts(pod: &Pod) -> u32 {
    pod.status
        .container_statuses
        .iter()
        .map(|status| status.restart_count)
        .max()
        .unwrap_or(0)
}

/// `floor(log2(now − t))` in nanoseconds, or −1 when `t` is not in the past.
fn log2_age(t: SimTime, now: SimTime) -> i64 {
    let age = now.saturating_since(t).as_nanos();
    if age == 0 { -1 } else { i64::from(age.ilog2()) }
}

/// Orders two distinct instants where the zero instant means "unset": unset first, then
/// (LogarithmicScaleDown) the one in the younger power-of-two age bucket; same bucket →
/// by uid.
fn compare_times(a: (SimTime, u64), b: (SimTime, u64), now: SimTime) -> Ordering {
    let (ta, tb) = (a.0, b.0);
    if ta == SimTime::ZERO || tb == SimTime::ZERO || now == SimTime::ZERO {
        // afterOrZero: zero first, else the later one first.
        return match (ta == SimTime::ZERO, tb == SimTime::ZERO) {
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            _ => tb.cmp(&ta),
        };
    }
    match log2_age(ta, now).cmp(&log2_age(tb, now)) {
        Ordering::Equal => a.1.cmp(&b.1),
        other => other,
    }
}

/// `ActivePodsWithRanks.Less` with LogarithmicScaleDown: `Less` means "delete first".
/// 1 unassigned, 2 Pending < Unknown < Running, 3 not ready, 4 lower deletion cost,
/// 5 more colocated pods, 6 ready for less time, 7 more restarts, 8 newer; then uid.
pub fn deletion_order(a: &RankedPod, b: &RankedPod, now: SimTime) -> Ordering {
    let (pa, pb) = (&a.pod, &b.pod);
    let assigned = |pod: &Pod| pod.spec.node_name.is_some();
    if assigned(pa) != assigned(pb) {
        return assigned(pa).cmp(&assigned(pb));
    }
    let phases = phase_ordinal(pa.status.phase).cmp(&phase_ordinal(pb.status.phase));
    if phases != Ordering::Equal {
        return phases;
    }
    if pa.is_ready() != pb.is_ready() {
        return pa.is_ready().cmp(&pb.is_ready());
    }
    let costs = deletion_cost(pa).cmp(&deletion_cost(pb));
    if costs != Ordering::Equal {
        return costs;
    }
    if a.colocated != b.colocated {
        return b.colocated.cmp(&a.colocated);
    }
    if pa.is_ready() && pb.is_ready() {
        let ready_a = pa.status.ready_since.unwrap_or(SimTime::ZERO);
        let ready_b = pb.status.ready_since.unwrap_or(SimTime::ZERO);
        if ready_a != ready_b {
            return compare_times((ready_a, pa.metadata.uid), (ready_b, pb.metadata.uid), now);
        }
    }
    let restarts = max_restarts(pb).cmp(&max_restarts(pa));
    if restarts != Ordering::Equal {
        return restarts;
    }
    let (created_a, created_b) = (
        pa.metadata.creation_timestamp,
        pb.metadata.creation_timestamp,
    );
    if created_a != created_b {
        return compare_times(
            (created_a, pa.metadata.uid),
            (created_b, pb.metadata.uid),
            now,
        );
    }
    pa.metadata.uid.cmp(&pb.metadata.uid)
}

/// `getPodsToDelete`: the `diff` pods to delete first; ranked only when not all go.
pub fn pods_to_delete(mut pods: Vec<RankedPod>, diff: usize, now: SimTime) -> Vec<Rc<Pod>> {
    if diff < pods.len() {
        pods.sort_by(|a, b| deletion_order(a, b, now));
    }
    pods.into_iter()
        .take(diff)
        .map(|ranked| ranked.pod)
        .collect()
}

fn rs_name(key: &NsName) -> String {
    format!("{}/{}", key.0, key.1)
}

impl ControllerManager {
    pub(super) fn on_replica_set_delta(
        &mut self,
        delta: Delta<ReplicaSet>,
        cx: &mut Context<'_, Msg>,
    ) {
        let (old, new) = match &delta {
            Delta::Added(rs) => (None, Some(rs)),
            Delta::Updated { old, new } => (Some(old), Some(new)),
            Delta::Deleted(rs) => (Some(rs), None),
        };
        // Index by the controlling Deployment, and wake it.
        for (rs, present) in [(old, false), (new, true)] {
            let Some(rs) = rs else { continue };
            if let Some(owner) = rs.metadata.controller_ref()
                && owner.kind == Kind::Deployment
            {
                if present {
                    self.replicasets_by_owner
                        .insert(owner.uid, rs.metadata.name.clone());
                } else {
                    self.replicasets_by_owner
                        .remove(&owner.uid, &rs.metadata.name);
                }
                let deployment = ns_name(&rs.metadata.namespace, &owner.name);
                self.enqueue(WorkKey::Deployment(deployment), cx);
            }
        }
        let key = self.observe_written(&delta);
        if matches!(delta, Delta::Deleted(_)) {
            self.replicaset_state.expectations.swap_remove(&key);
        }
        self.enqueue(WorkKey::ReplicaSet(key), cx);
    }

    /// The ReplicaSet controller's pod handlers: expectations, and wake the owner.
    pub(super) fn replica_set_on_pod(
        &mut self,
        old: Option<&Rc<Pod>>,
        new: Option<&Rc<Pod>>,
        cx: &mut Context<'_, Msg>,
    ) {
        let owner_key = |pod: &Pod| {
            pod.metadata
                .controller_ref()
                .filter(|owner| owner.kind == Kind::ReplicaSet)
                .map(|owner| ns_name(&pod.metadata.namespace, &owner.name))
        };
        match (old, new) {
            (None, Some(pod)) => {
                let Some(key) = owner_key(pod) else { return };
                if pod.metadata.is_terminating() {
                    self.replicaset_state
                        .deletion_observed(&key, pod.metadata.uid);
                } else {
                    self.replicaset_state.creations_observed(&key, 1);
                }
                self.enqueue(WorkKey::ReplicaSet(key), cx);
            }
            (Some(old), Some(new)) => {
                // Upstream queues the ReplicaSet on every change of its pods; a change
                // that moves none of its totals (a binding, an IP, a container state)
                // would sync to the same status, so it queues nothing here.
                let same_owner = owner_key(old) == owner_key(new);
                if same_owner
                    && old.metadata.is_terminating() == new.metadata.is_terminating()
                    && OwnerCounts::of(old) == OwnerCounts::of(new)
                {
                    return;
                }
                if let Some(key) = owner_key(new) {
                    if new.metadata.is_terminating() && !old.metadata.is_terminating() {
                        self.replicaset_state
                            .deletion_observed(&key, new.metadata.uid);
                    }
                    if !old.is_ready() && new.is_ready() {
                        // Re-check availability once minReadySeconds have passed.
                        let min_ready_seconds = self
                            .informers
                            .replicasets
                            .get(&key.0, &key.1)
                            .map_or(0, |rs| rs.spec.min_ready_seconds);
                        self.enqueue_when_available(
                            WorkKey::ReplicaSet(key.clone()),
                            min_ready_seconds,
                            cx,
                        );
                    }
                    self.enqueue(WorkKey::ReplicaSet(key), cx);
                }
                if let Some(old_key) = owner_key(old)
                    && Some(&old_key) != owner_key(new).as_ref()
                {
                    self.enqueue(WorkKey::ReplicaSet(old_key), cx);
                }
            }
            (Some(pod), None) => {
                let Some(key) = owner_key(pod) else { return };
                self.replicaset_state
                    .deletion_observed(&key, pod.metadata.uid);
                self.enqueue(WorkKey::ReplicaSet(key), cx);
            }
            (None, None) => unreachable!("a pod delta has a pod"),
        }
    }

    /// `syncReplicaSet`.
    pub(super) fn sync_replica_set(&mut self, key: &NsName, cx: &mut Context<'_, Msg>) {
        let Some(rs) = self.informers.replicasets.get(&key.0, &key.1).cloned() else {
            self.replicaset_state.expectations.swap_remove(key);
            self.replicaset_state.slow_starts.swap_remove(key);
            return;
        };
        let now = cx.now();
        let host_now = cx.host_clock();
        let counts = self.pods.owner_counts(rs.metadata.uid);
        if self.replicaset_state.satisfied(key, now) && !rs.metadata.is_terminating() {
            self.manage_replicas(key, &rs, counts.active as usize, cx);
        }
        let status = if rs.spec.min_ready_seconds == 0 {
            status_from_counts(&rs, &counts)
        } else {
            let active = self
                .pods
                .owned_by(rs.metadata.uid)
                .filter(|pod| pod.is_active());
            calculate_status(&rs, active, host_now)
        };
        let object = (Kind::ReplicaSet, key.0.clone(), key.1.clone());
        if status != rs.status && self.writes.fresh(&object) {
            let mut updated = (*rs).clone();
            updated.status = status.clone();
            self.write(
                WorkKey::ReplicaSet(key.clone()),
                object,
                ApiVerb::UpdateStatus(Object::from(updated)),
                cx,
            );
        }
        if rs.spec.min_ready_seconds > 0
            && status.ready_replicas == rs.spec.replicas
            && status.available_replicas != rs.spec.replicas
        {
            self.enqueue_after(
                WorkKey::ReplicaSet(key.clone()),
                SimDuration::from_secs(rs.spec.min_ready_seconds),
                cx,
            );
        }
    }

    /// `manageReplicas`: create or delete the difference, at most `burst_replicas`.
    fn manage_replicas(
        &mut self,
        key: &NsName,
        rs: &Rc<ReplicaSet>,
        active_count: usize,
        cx: &mut Context<'_, Msg>,
    ) {
        let want = rs.spec.replicas as usize;
        let burst = self.config.burst_replicas as usize;
        let now = cx.now();
        if active_count < want {
            let count = (want - active_count).min(burst) as u32;
            self.replicaset_state.expectations.insert(
                key.clone(),
                Expectations {
                    add: count,
                    del: BTreeSet::new(),
                    timestamp: now,
                },
            );
            self.replicaset_state
                .slow_starts
                .insert(key.clone(), SlowStart::new((0..count).map(|_| ())));
            let have = active_count;
            cx.record("step", || {
                format!(
                    "replicaset {}: creating {count} pod{} (has {have}, wants {want})",
                    rs_name(key),
                    if count == 1 { "" } else { "s" }
                )
            });
            self.send_create_batch(key, rs, cx);
        } else if active_count > want {
            let active: Vec<Rc<Pod>> = self
                .pods
                .owned_by(rs.metadata.uid)
                .filter(|pod| pod.is_active())
                .cloned()
                .collect();
            assert_eq!(active.len(), active_count, "owner counts out of step");
            let diff = (active.len() - want).min(burst);
            let ranked = self.rank_for_deletion(rs, &active);
            let victims = pods_to_delete(ranked, diff, cx.host_clock());
            self.replicaset_state.expectations.insert(
                key.clone(),
                Expectations {
                    add: 0,
                    del: victims.iter().map(|pod| pod.metadata.uid).collect(),
                    timestamp: now,
                },
            );
            let have = active.len();
            cx.record("step", || {
                let names: Vec<&str> = victims.iter().map(|p| &*p.metadata.name).collect();
                format!(
                    "replicaset {}: deleting {diff} pod{} (has {have}, wants {want}): {}",
                    rs_name(key),
                    if diff == 1 { "" } else { "s" },
                    names.join(", ")
                )
            });
            for pod in victims {
                let pending = Pending::DeletePod {
                    rs: key.clone(),
                    pod_uid: pod.metadata.uid,
                };
                self.delete_pod(&pod, pending, cx);
            }
        }
    }

    /// Ranks `active` for scale-down: colocation counts over every active pod of the
    /// ReplicaSet's Deployment (its sibling ReplicaSets too).
    fn rank_for_deletion(&self, rs: &ReplicaSet, active: &[Rc<Pod>]) -> Vec<RankedPod> {
        let mut per_node: FxIndexMap<crate::api::Str, u32> = FxIndexMap::default();
        let mut count = |pod: &Pod| {
            if let Some(node) = &pod.spec.node_name
                && pod.is_active()
            {
                *per_node.entry(node.clone()).or_default() += 1;
            }
        };
        let deployment = rs
            .metadata
            .controller_ref()
            .filter(|owner| owner.kind == Kind::Deployment);
        match deployment {
            Some(owner) => {
                for sibling in self.replicasets_by_owner.get(&owner.uid) {
                    if let Some(sibling) = self
                        .informers
                        .replicasets
                        .get(&rs.metadata.namespace, sibling)
                    {
                        self.pods
                            .owned_by(sibling.metadata.uid)
                            .for_each(|p| count(p));
                    }
                }
            }
            None => active.iter().for_each(|p| count(p)),
        }
        active
            .iter()
            .map(|pod| RankedPod {
                pod: pod.clone(),
                colocated: pod
                    .spec
                    .node_name
                    .as_ref()
                    .and_then(|node| per_node.get(node).copied())
                    .unwrap_or(0),
            })
            .collect()
    }

    fn send_create_batch(&mut self, key: &NsName, rs: &ReplicaSet, cx: &mut Context<'_, Msg>) {
        let batch = self
            .replicaset_state
            .slow_starts
            .get_mut(key)
            .expect("a slow start in progress")
            .next_batch();
        let pod = Object::from(pod_from_template(rs));
        for () in &batch {
            let id = self.api.send(cx, ApiVerb::Create(pod.clone()));
            self.pending
                .insert(id, Pending::CreatePod { rs: key.clone() });
        }
        self.stats.pods_created += batch.len() as u64;
    }

    /// A create of the slow start came back; when the batch is done, send the next one
    /// (twice as large) or, after a failure, give up on the rest of this round.
    pub(super) fn on_pod_created(
        &mut self,
        key: &NsName,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        let Some(state) = self.replicaset_state.slow_starts.get_mut(key) else {
            return;
        };
        let batch_done = state.on_reply(response.result.is_ok());
        if let Err(error) = &response.result {
            // The informer will never show this pod.
            self.replicaset_state.creations_observed(key, 1);
            record_pod_write_failed(cx, "replicaset", key, "create", error);
        }
        if !batch_done {
            return;
        }
        let rs = self.informers.replicasets.get(&key.0, &key.1).cloned();
        let state = &self.replicaset_state.slow_starts[key];
        if state.finished(rs.is_some()) {
            let state = self
                .replicaset_state
                .slow_starts
                .swap_remove(key)
                .expect("present");
            let failed = state.failed();
            self.replicaset_state
                .creations_observed(key, state.unsent() as u32);
            let key = WorkKey::ReplicaSet(key.clone());
            if failed {
                self.retry(key, cx);
            } else {
                self.queue.forget(&key);
                self.enqueue(key, cx);
            }
            return;
        }
        let rs = rs.expect("checked above");
        self.send_create_batch(key, &rs, cx);
    }

    pub(super) fn on_pod_deleted(
        &mut self,
        key: &NsName,
        pod_uid: u64,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        match &response.result {
            Ok(_) => self.stats.pods_deleted += 1,
            Err(error) => {
                // The informer will not see this deletion: stop expecting it.
                self.replicaset_state.deletion_observed(key, pod_uid);
                if error.reason != StatusReason::NotFound {
                    record_pod_write_failed(cx, "replicaset", key, "delete", error);
                    self.retry(WorkKey::ReplicaSet(key.clone()), cx);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ConditionStatus, ContainerState, ContainerStatus, Labels};
    use crate::scheduler::plugins::tests::pod_with;

    #[test]
    fn slow_start_batches_double() {
        let expected: [&[u32]; 20] = [
            &[1],
            &[1, 1],
            &[1, 2],
            &[1, 2, 1],
            &[1, 2, 2],
            &[1, 2, 3],
            &[1, 2, 4],
            &[1, 2, 4, 1],
            &[1, 2, 4, 2],
            &[1, 2, 4, 3],
            &[1, 2, 4, 4],
            &[1, 2, 4, 5],
            &[1, 2, 4, 6],
            &[1, 2, 4, 7],
            &[1, 2, 4, 8],
            &[1, 2, 4, 8, 1],
            &[1, 2, 4, 8, 2],
            &[1, 2, 4, 8, 3],
            &[1, 2, 4, 8, 4],
            &[1, 2, 4, 8, 5],
        ];
        for (count, batches) in (1..=20).zip(expected) {
            let got = slow_start_batches(count, SLOW_START_INITIAL_BATCH_SIZE);
            assert_eq!(got, batches, "{count} creations");
            assert_eq!(got.iter().sum::<u32>(), count);
            // 1 + floor(log2(count)) batches.
            assert_eq!(got.len() as u32, 1 + count.ilog2());
        }
        assert!(slow_start_batches(0, 1).is_empty());
    }

    #[test]
    fn expectations_expire_after_five_minutes() {
        let start = SimTime::ZERO + SimDuration::from_secs(10);
        let expectations = Expectations {
            add: 2,
            del: BTreeSet::new(),
            timestamp: start,
        };
        assert!(!expectations.satisfied(start + SimDuration::from_secs(300)));
        assert!(expectations.satisfied(start + SimDuration::from_secs(301)));
    }

    fn at(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    struct P {
        uid: u64,
        node: Option<&'static str>,
        phase: PodPhase,
        ready_since: Option<u64>,
        created: u64,
        restarts: u32,
        cost: Option<&'static str>,
        colocated: u32,
    }

    fn p(uid: u64) -> P {
        P {
            uid,
            node: Some("n"),
            phase: PodPhase::Running,
            ready_since: Some(10),
            created: 5,
            restarts: 0,
            cost: None,
            colocated: 1,
        }
    }

    fn ranked(spec: P) -> RankedPod {
        let mut pod = pod_with(vec![], vec![]);
        pod.metadata.uid = spec.uid;
        pod.metadata.name = s(&format!("p{}", spec.uid));
        pod.metadata.creation_timestamp = at(spec.created);
        if let Some(cost) = spec.cost {
            pod.metadata.annotations = Labels::from_pairs([(POD_DELETION_COST, cost)]);
        }
        pod.spec.node_name = spec.node.map(s);
        pod.status.phase = spec.phase;
        pod.status.ready = ConditionStatus::from_bool(spec.ready_since.is_some());
        pod.status.ready_since = spec.ready_since.map(at);
        pod.status.container_statuses = vec![ContainerStatus {
            name: s("c"),
            state: ContainerState::Running { started_at: at(1) },
            ready: spec.ready_since.is_some(),
            restart_count: spec.restarts,
            image: s("nginx"),
            started: spec.ready_since.is_some(),
            last_state: None,
        }];
        RankedPod {
            pod: Rc::new(pod),
            colocated: spec.colocated,
        }
    }

    fn order(pods: Vec<P>, now: u64) -> Vec<u64> {
        let count = pods.len();
        let ranked: Vec<RankedPod> = pods.into_iter().map(ranked).collect();
        // Ask for all but one so the list is sorted.
        let mut chosen: Vec<u64> = pods_to_delete(ranked.clone(), count - 1, at(now))
            .iter()
            .map(|pod| pod.metadata.uid)
            .collect();
        let last = ranked
            .iter()
            .map(|r| r.pod.metadata.uid)
            .find(|uid| !chosen.contains(uid))
            .unwrap();
        chosen.push(last);
        chosen
    }

    #[test]
    fn scale_down_ranking_follows_upstream_order() {
        let now = 100_000;
        // 1. unassigned before assigned; 2. Pending < Unknown < Running; 3. not ready first.
        let pods = vec![
            p(1),
            P {
                node: None,
                ready_since: None,
                phase: PodPhase::Pending,
                ..p(2)
            },
            P {
                phase: PodPhase::Pending,
                ready_since: None,
                ..p(3)
            },
            P {
                phase: PodPhase::Unknown,
                ready_since: None,
                ..p(4)
            },
            P {
                ready_since: None,
                ..p(5)
            },
        ];
        assert_eq!(order(pods, now), [2, 3, 4, 5, 1]);
        // 4. lower deletion cost first; 5. more colocated pods first.
        let pods = vec![
            P {
                cost: Some("10"),
                ..p(1)
            },
            P {
                cost: Some("-5"),
                ..p(2)
            },
            P {
                colocated: 3,
                ..p(3)
            },
            p(4),
        ];
        assert_eq!(order(pods, now), [2, 3, 4, 1]);
        // 6. ready for less time first, in log2 buckets of age; same bucket → uid.
        let pods = vec![
            P {
                ready_since: Some(10),
                ..p(1)
            },
            P {
                ready_since: Some(now - 3),
                ..p(2)
            },
            P {
                ready_since: Some(now - 2),
                ..p(3)
            },
        ];
        // Ages 2e9 ns (bucket 30) and 3e9 ns (bucket 31): pod 3, in the younger bucket,
        // goes first.
        assert_eq!(order(pods, now), [3, 2, 1]);
        let pods = vec![
            P {
                ready_since: Some(now - 3),
                ..p(5)
            },
            P {
                ready_since: Some(now - 4),
                ..p(4)
            },
        ];
        // 3e9 and 4e9 ns both fall in bucket 31 (2^31 ≈ 2.1e9 .. 4.3e9): by uid.
        assert_eq!(order(pods, now), [4, 5]);
        // 7. more restarts first; 8. newer first.
        let pods = vec![
            P {
                restarts: 1,
                ..p(1)
            },
            P {
                restarts: 4,
                ..p(2)
            },
            P { created: 1, ..p(3) },
            P {
                created: now - 1,
                ..p(4)
            },
        ];
        assert_eq!(order(pods, now), [2, 1, 4, 3]);
    }

    #[test]
    fn everything_goes_without_ranking_when_all_are_deleted() {
        let pods = vec![ranked(p(2)), ranked(p(1))];
        let all = pods_to_delete(pods, 5, at(10));
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].metadata.uid, 2);
    }

    #[test]
    fn pods_are_stamped_from_the_template() {
        let mut template_pod = pod_with(vec![], vec![]);
        template_pod.spec.node_name = Some(s("stale"));
        let rs = ReplicaSet {
            metadata: {
                let mut meta = ObjectMeta::named("default", "web-5d9c");
                meta.uid = 42;
                meta
            },
            spec: crate::api::ReplicaSetSpec {
                replicas: 3,
                selector: crate::api::LabelSelector::from_labels(Labels::from_pairs([(
                    "app", "web",
                )])),
                template: Rc::new(crate::api::PodTemplateSpec {
                    labels: Labels::from_pairs([("app", "web"), ("pod-template-hash", "5d9c")]),
                    annotations: Labels::new(),
                    spec: template_pod.spec,
                }),
                min_ready_seconds: 0,
            },
            status: ReplicaSetStatus::default(),
        };
        let pod = pod_from_template(&rs);
        assert_eq!(&*pod.metadata.generate_name, "web-5d9c-");
        assert!(pod.metadata.name.is_empty());
        assert_eq!(
            pod.metadata.labels.get("pod-template-hash").map(|v| &**v),
            Some("5d9c")
        );
        let owner = pod.metadata.controller_ref().unwrap();
        assert_eq!(
            (owner.kind, owner.uid, &*owner.name),
            (Kind::ReplicaSet, 42, "web-5d9c")
        );
        assert_eq!(pod.spec.node_name, None);
    }

    #[test]
    fn status_counts_ready_and_available_pods() {
        let mut rs_pod = pod_with(vec![], vec![]);
        rs_pod.status.ready = ConditionStatus::True;
        rs_pod.status.ready_since = Some(at(100));
        let ready = Rc::new(rs_pod.clone());
        rs_pod.status.ready = ConditionStatus::False;
        let not_ready = Rc::new(rs_pod);
        let rs = ReplicaSet {
            metadata: {
                let mut meta = ObjectMeta::named("default", "web");
                meta.generation = 3;
                meta
            },
            spec: crate::api::ReplicaSetSpec {
                replicas: 2,
                selector: crate::api::LabelSelector::default(),
                template: Rc::new(crate::api::PodTemplateSpec {
                    labels: Labels::new(),
                    annotations: Labels::new(),
                    spec: ready.spec.clone(),
                }),
                min_ready_seconds: 10,
            },
            status: ReplicaSetStatus::default(),
        };
        let pods = [ready, not_ready];
        let early = calculate_status(&rs, pods.iter(), at(105));
        assert_eq!(
            (
                early.replicas,
                early.ready_replicas,
                early.available_replicas
            ),
            (2, 1, 0)
        );
        assert_eq!(early.observed_generation, 3);
        let later = calculate_status(&rs, pods.iter(), at(110));
        assert_eq!(later.available_replicas, 1);
        // With minReadySeconds 0 the running totals give the same answer.
        let mut index = super::super::index::PodIndex::default();
        let mut rs = rs;
        rs.spec.min_ready_seconds = 0;
        for pod in &pods {
            let mut owned = (**pod).clone();
            owned.metadata.uid = index.len() as u64 + 1;
            owned.metadata.owner_references = vec![OwnerReference {
                kind: Kind::ReplicaSet,
                name: s("web"),
                uid: 77,
                controller: true,
                block_owner_deletion: true,
            }];
            index.apply(None, Some(&Rc::new(owned)));
        }
        assert_eq!(
            status_from_counts(&rs, &index.owner_counts(77)),
            calculate_status(&rs, pods.iter(), at(105))
        );
    }
}
