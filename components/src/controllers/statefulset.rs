//! The StatefulSet controller (`pkg/controller/statefulset`: stateful_set_control.go,
//! stateful_set_utils.go, stateful_pod_control.go): pods with stable names
//! `<set>-<ordinal>`, created in ordinal order and removed from the highest ordinal down
//! (OrderedReady), or all at once in slow-start batches (Parallel); failed pods deleted and
//! made again under the same name; rolling updates from the highest ordinal down to the
//! partition, one pod at a time, or OnDelete; and the status.
//!
//! What kubesim leaves out:
//! - ControllerRevision objects. A revision is named `<set>-<hash>` from the template's
//!   hash as upstream names them, but the history is not stored: the template of an older
//!   revision (for pods made below the partition during a rolling update) is the one this
//!   controller remembers from an earlier sync, and after a restart of the controller
//!   manager such pods take the new template. `revisionHistoryLimit` therefore has
//!   nothing to truncate, and `collisionCount` stays 0.
//! - PersistentVolumeClaims: `volumeClaimTemplates` and
//!   `persistentVolumeClaimRetentionPolicy` are accepted by manifest ingest and have no
//!   effect, since kubesim models no volumes.
//! - `rollingUpdate.maxUnavailable`: behind the MaxUnavailableStatefulSet feature gate,
//!   alpha and off by default in v1.34, so updates replace one pod at a time.
//! - Adoption of orphaned pods that match the selector, and release of owned pods that no
//!   longer match: the controller manages the pods it created (controller reference).
//!
//! Upstream keeps no expectations for StatefulSets and relies on 409 AlreadyExists when a
//! stale cache makes it create a pod twice. kubesim's controller instead waits, per set,
//! until the pod informer shows what its last creates and deletes did, which saves the
//! pointless requests without changing what is decided.

use std::rc::Rc;

use sim_core::{Context, FxIndexMap, SimDuration, SimTime};

use super::deployment::pod_template_hash;
use super::index::NsName;
use super::pod_control::record_pod_write_failed;
use super::{ControllerManager, Pending, WorkKey, ns_name};
use crate::api::{
    ApiOk, ApiResponse, ApiVerb, Kind, LABEL_CONTROLLER_REVISION_HASH, LABEL_POD_INDEX,
    LABEL_STATEFULSET_POD_NAME, Object, ObjectKey, ObjectMeta, OwnerReference, Pod,
    PodManagementPolicy, PodPhase, PodStatus, PodTemplateSpec, StatefulSet, StatefulSetStatus,
    StatefulSetUpdateStrategy, StatusReason, Str, s,
};
use crate::client::Delta;
use crate::msg::Msg;

/// `MaxBatchSize` of stateful_set_control.go: the largest slow-start batch in Parallel
/// mode (batches of 1, 2, 4, ... capped here).
pub const MAX_BATCH_SIZE: u32 = 500;
/// How long the controller trusts that its own create or delete will show in the pod
/// informer before deciding anew (as `controller.ExpectationsTimeout`, 5 min).
pub const OBSERVATION_TIMEOUT: SimDuration = SimDuration::from_mins(5);

// ---------------------------------------------------------------------------------------
// Identity

/// The ordinal of `pod_name` if it is a pod of the set named `set_name`
/// (`getParentNameAndOrdinal` + `isMemberOf`: the name is `<parent>-<digits>`).
pub fn parse_ordinal(set_name: &str, pod_name: &str) -> Option<u32> {
    let (parent, digits) = pod_name.rsplit_once('-')?;
    if parent != set_name || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Upstream parses an int32; larger numbers are not ordinals.
    digits.parse::<u32>().ok().filter(|&n| n <= i32::MAX as u32)
}

/// `getPodName`: `<set>-<ordinal>`.
pub fn pod_name(set_name: &str, ordinal: u32) -> String {
    format!("{set_name}-{ordinal}")
}

/// The revision name of a template: `ControllerRevisionName(set, hash)`, the hash taken
/// over the template and the collision count.
pub fn revision_name(set: &StatefulSet, template: &PodTemplateSpec) -> Str {
    let hash = pod_template_hash(template, Some(set.status.collision_count));
    s(&format!("{}-{hash}", set.metadata.name))
}

/// `newVersionedStatefulSetPod` / `newStatefulSetPod`: the pod of `ordinal`, from
/// `template`, with the set's identity (`initIdentity`: hostname = pod name, subdomain =
/// serviceName) and the revision label.
pub fn new_stateful_pod(
    set: &StatefulSet,
    template: &PodTemplateSpec,
    revision: &Str,
    ordinal: u32,
) -> Pod {
    let name = pod_name(&set.metadata.name, ordinal);
    let mut metadata = ObjectMeta::named(&set.metadata.namespace, &name);
    metadata.labels = template.labels.clone();
    metadata.annotations = template.annotations.clone();
    metadata
        .labels
        .insert(s(LABEL_STATEFULSET_POD_NAME), s(&name));
    metadata
        .labels
        .insert(s(LABEL_POD_INDEX), s(&ordinal.to_string()));
    metadata
        .labels
        .insert(s(LABEL_CONTROLLER_REVISION_HASH), revision.clone());
    metadata.owner_references = vec![OwnerReference::controlled_by(
        Kind::StatefulSet,
        set.metadata.name.clone(),
        set.metadata.uid,
    )];
    let mut spec = template.spec.clone();
    spec.node_name = None;
    spec.hostname = Some(s(&name));
    spec.subdomain = Some(set.spec.service_name.clone()).filter(|name| !name.is_empty());
    Pod {
        metadata,
        spec,
        status: PodStatus::default(),
    }
}

fn pod_revision(pod: &Pod) -> Option<&Str> {
    pod.metadata.labels.get(LABEL_CONTROLLER_REVISION_HASH)
}

// ---------------------------------------------------------------------------------------
// Health

/// `isRunningAndReady`: phase Running and the Ready condition True.
pub fn is_running_and_ready(pod: &Pod) -> bool {
    pod.status.phase == PodPhase::Running && pod.is_ready()
}

/// `isRunningAndAvailable`: running and ready for at least `minReadySeconds`.
pub fn is_running_and_available(pod: &Pod, min_ready_seconds: u64, now: SimTime) -> bool {
    pod.status.phase == PodPhase::Running && pod.is_available(min_ready_seconds, now)
}

/// `isUnavailable`: not available, or terminating. A pod not yet created is unavailable.
fn is_unavailable(pod: Option<&Rc<Pod>>, min_ready_seconds: u64, now: SimTime) -> bool {
    pod.is_none_or(|pod| {
        !is_running_and_available(pod, min_ready_seconds, now) || pod.metadata.is_terminating()
    })
}

/// `isFailed` or `isSucceeded`: a pod that will not run again.
fn is_finished(pod: &Pod) -> bool {
    matches!(pod.status.phase, PodPhase::Failed | PodPhase::Succeeded)
}

// ---------------------------------------------------------------------------------------
// The decision

/// Which revision a new pod is made from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revision {
    Current,
    Update,
}

/// Why a pod is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteReason {
    /// Failed or Succeeded: it is deleted and made again under the same name.
    Finished,
    /// Its ordinal is no longer within `spec.replicas`.
    ScaleDown,
    /// It is not at the update revision.
    Update,
}

/// One write the controller makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatefulAction {
    Create {
        ordinal: u32,
        revision: Revision,
    },
    Delete {
        name: Str,
        uid: u64,
        reason: DeleteReason,
    },
}

/// What a sync decided: the status to report, the writes to make, and what it waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatefulPlan {
    pub status: StatefulSetStatus,
    pub actions: Vec<StatefulAction>,
    /// The pod the set waits for (OrderedReady), for the narration.
    pub waiting_for: Option<Str>,
    /// When a pod that is Ready but not yet available for minReadySeconds becomes so.
    pub recheck_at: Option<SimTime>,
}

/// Counts over the set's pods (`computeReplicaStatus`), with the revisions; then
/// `completeRollingUpdate`.
pub fn compute_status(
    set: &StatefulSet,
    pods: &[Rc<Pod>],
    current_revision: &Str,
    update_revision: &Str,
    now: SimTime,
) -> StatefulSetStatus {
    let mut status = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        current_revision: current_revision.clone(),
        update_revision: update_revision.clone(),
        collision_count: set.status.collision_count,
        ..StatefulSetStatus::default()
    };
    for pod in pods {
        status.replicas += 1;
        if is_running_and_ready(pod) {
            status.ready_replicas += 1;
            if is_running_and_available(pod, set.spec.min_ready_seconds, now) {
                status.available_replicas += 1;
            }
        }
        if !pod.metadata.is_terminating() {
            let revision = pod_revision(pod);
            status.current_replicas += u32::from(revision == Some(current_revision));
            status.updated_replicas += u32::from(revision == Some(update_revision));
        }
    }
    // completeRollingUpdate: every pod updated and ready makes the update current.
    if matches!(
        set.spec.update_strategy,
        StatefulSetUpdateStrategy::RollingUpdate { .. }
    ) && status.updated_replicas == status.replicas
        && status.ready_replicas == status.replicas
    {
        status.current_replicas = status.updated_replicas;
        status.current_revision = status.update_revision.clone();
    }
    status
}

/// `updateStatefulSet`: what to create and delete now. `pods` are the set's pods (any
/// order); `current_revision` is `status.currentRevision` (or the update revision when
/// the set has none).
pub fn plan_stateful_set(
    set: &StatefulSet,
    pods: &[Rc<Pod>],
    current_revision: &Str,
    update_revision: &Str,
    now: SimTime,
) -> StatefulPlan {
    let status = compute_status(set, pods, current_revision, update_revision, now);
    let min_ready_seconds = set.spec.min_ready_seconds;
    let start = set.spec.ordinals_start;
    let count = set.spec.replicas;
    let end = u64::from(start) + u64::from(count);
    // Pods within [start, start + replicas) by index; the rest (with a valid ordinal)
    // are condemned, highest ordinal first.
    let mut replicas: Vec<Option<&Rc<Pod>>> = vec![None; count as usize];
    let mut condemned: Vec<(u32, &Rc<Pod>)> = Vec::new();
    for pod in pods {
        let Some(ordinal) = parse_ordinal(&set.metadata.name, &pod.metadata.name) else {
            continue;
        };
        if ordinal >= start && u64::from(ordinal) < end {
            let slot = &mut replicas[(ordinal - start) as usize];
            // Two pods with one name cannot exist; keep the first deterministically.
            if slot.is_none() {
                *slot = Some(pod);
            }
        } else {
            condemned.push((ordinal, pod));
        }
    }
    condemned.sort_by_key(|(ordinal, _)| std::cmp::Reverse(*ordinal));
    // The first unavailable pod: the lowest ordinal among the replicas, else the lowest
    // among the condemned.
    let first_unavailable: Option<u32> = replicas
        .iter()
        .enumerate()
        .find(|(_, pod)| is_unavailable(**pod, min_ready_seconds, now))
        .map(|(index, _)| start + index as u32)
        .or_else(|| {
            condemned
                .iter()
                .rev()
                .find(|(_, pod)| is_unavailable(Some(pod), min_ready_seconds, now))
                .map(|(ordinal, _)| *ordinal)
        });
    let recheck_at = pods
        .iter()
        .filter(|pod| {
            is_running_and_ready(pod)
                && !is_running_and_available(pod, min_ready_seconds, now)
                && !pod.metadata.is_terminating()
        })
        .filter_map(|pod| pod.status.ready_since)
        .map(|since| since + SimDuration::from_secs(min_ready_seconds))
        .min();
    let mut plan = StatefulPlan {
        status,
        actions: Vec::new(),
        waiting_for: None,
        recheck_at,
    };
    if set.metadata.is_terminating() {
        return plan;
    }
    let monotonic = set.spec.pod_management_policy == PodManagementPolicy::OrderedReady;
    let partition = match set.spec.update_strategy {
        StatefulSetUpdateStrategy::RollingUpdate { partition } => Some(partition),
        StatefulSetUpdateStrategy::OnDelete => None,
    };
    // newVersionedStatefulSetPod: below the partition of a rolling update, a new pod
    // keeps the current revision.
    let revision_for = |ordinal: u32| match partition {
        Some(partition) if ordinal < partition => Revision::Current,
        _ => Revision::Update,
    };
    let waiting = |plan: &mut StatefulPlan, ordinal: u32| {
        plan.waiting_for = Some(s(&pod_name(&set.metadata.name, ordinal)));
    };

    // processReplica, in ordinal order.
    for (index, pod) in replicas.iter().enumerate() {
        let ordinal = start + index as u32;
        let Some(pod) = pod else {
            plan.actions.push(StatefulAction::Create {
                ordinal,
                revision: revision_for(ordinal),
            });
            if monotonic {
                return plan;
            }
            continue;
        };
        if is_finished(pod) {
            if !pod.metadata.is_terminating() {
                plan.actions.push(StatefulAction::Delete {
                    name: pod.metadata.name.clone(),
                    uid: pod.metadata.uid,
                    reason: DeleteReason::Finished,
                });
            }
            if monotonic {
                return plan;
            }
            continue;
        }
        if monotonic
            && (pod.metadata.is_terminating()
                || !is_running_and_available(pod, min_ready_seconds, now))
        {
            waiting(&mut plan, ordinal);
            return plan;
        }
    }

    // processCondemned, highest ordinal first.
    for (ordinal, pod) in &condemned {
        if pod.metadata.is_terminating() {
            if monotonic {
                waiting(&mut plan, *ordinal);
                return plan;
            }
            continue;
        }
        if monotonic
            && !is_running_and_available(pod, min_ready_seconds, now)
            && first_unavailable != Some(*ordinal)
        {
            if let Some(first) = first_unavailable {
                waiting(&mut plan, first);
            }
            return plan;
        }
        plan.actions.push(StatefulAction::Delete {
            name: pod.metadata.name.clone(),
            uid: pod.metadata.uid,
            reason: DeleteReason::ScaleDown,
        });
        if monotonic {
            return plan;
        }
    }
    // Parallel: what was created or deleted above settles before the update proceeds
    // (upstream's next sync would see the same).
    if !plan.actions.is_empty() {
        return plan;
    }

    // The rolling update: the highest index not at the update revision goes first, one
    // at a time, each waiting for the one before to be available again.
    let Some(partition) = partition else {
        return plan;
    };
    for index in (partition as usize..replicas.len()).rev() {
        let pod = replicas[index];
        let ordinal = start + index as u32;
        if let Some(pod) = pod
            && pod_revision(pod) != Some(update_revision)
            && !pod.metadata.is_terminating()
        {
            plan.actions.push(StatefulAction::Delete {
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid,
                reason: DeleteReason::Update,
            });
            return plan;
        }
        if is_unavailable(pod, min_ready_seconds, now) {
            waiting(&mut plan, ordinal);
            return plan;
        }
    }
    plan
}

/// Parallel creations and deletions go in slow-start batches of 1, 2, 4, ... up to
/// `MAX_BATCH_SIZE`: the size of the batch after one of `previous` succeeded.
pub fn next_batch_size(previous: u32) -> u32 {
    (previous * 2).clamp(1, MAX_BATCH_SIZE)
}

// ---------------------------------------------------------------------------------------
// State kept between syncs

/// What the controller waits to see in the pod informer after its own writes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Awaiting {
    /// A create of this pod name was sent (or succeeded) and the pod is not yet seen.
    Created(Str),
    /// A delete of this pod uid was sent (or succeeded): it must show terminating or gone.
    Deleted(u64),
}

#[derive(Debug, Default)]
struct SetState {
    awaiting: Vec<Awaiting>,
    /// When the oldest entry of `awaiting` was added.
    since: Option<SimTime>,
    /// The slow-start batch size for Parallel sets.
    batch: u32,
    /// Templates of revisions seen, by revision name (no ControllerRevision objects).
    templates: Vec<(Str, Rc<PodTemplateSpec>)>,
}

/// The StatefulSet controller's memory across syncs.
#[derive(Debug, Default)]
pub struct StatefulSetState {
    sets: FxIndexMap<NsName, SetState>,
}

impl StatefulSetState {
    pub fn clear(&mut self) {
        self.sets.clear();
    }

    fn observe_pod(&mut self, key: &NsName, pod: Option<&Pod>, uid: u64, name: &Str) {
        let Some(state) = self.sets.get_mut(key) else {
            return;
        };
        state.awaiting.retain(|awaiting| match awaiting {
            Awaiting::Created(created) => !(pod.is_some() && created == name),
            Awaiting::Deleted(deleted) => {
                !(*deleted == uid && pod.is_none_or(|pod| pod.metadata.is_terminating()))
            }
        });
        if state.awaiting.is_empty() {
            state.since = None;
        }
    }
}

fn set_name(key: &NsName) -> String {
    format!("{}/{}", key.0, key.1)
}

impl ControllerManager {
    pub(super) fn on_stateful_set_delta(
        &mut self,
        delta: Delta<StatefulSet>,
        cx: &mut Context<'_, Msg>,
    ) {
        let key = self.observe_written(&delta);
        if matches!(delta, Delta::Deleted(_)) {
            self.statefulset_state.sets.swap_remove(&key);
        }
        self.enqueue(WorkKey::StatefulSet(key), cx);
    }

    /// The pod handlers: note what the controller's writes did, and wake the owner.
    pub(super) fn stateful_set_on_pod(
        &mut self,
        old: Option<&Rc<Pod>>,
        new: Option<&Rc<Pod>>,
        cx: &mut Context<'_, Msg>,
    ) {
        let pod = new.or(old).expect("a pod delta has a pod");
        let Some(owner) = pod
            .metadata
            .controller_ref()
            .filter(|owner| owner.kind == Kind::StatefulSet)
        else {
            return;
        };
        let key = ns_name(&pod.metadata.namespace, &owner.name);
        self.statefulset_state.observe_pod(
            &key,
            new.map(|pod| &**pod),
            pod.metadata.uid,
            &pod.metadata.name,
        );
        self.enqueue(WorkKey::StatefulSet(key), cx);
    }

    /// `sync` of the StatefulSet controller.
    pub(super) fn sync_stateful_set(&mut self, key: &NsName, cx: &mut Context<'_, Msg>) {
        let Some(set) = self.informers.statefulsets.get(&key.0, &key.1).cloned() else {
            self.statefulset_state.sets.swap_remove(key);
            return;
        };
        let now = cx.now();
        let host_now = cx.host_clock();
        let pods: Vec<Rc<Pod>> = self.pods.owned_by(set.metadata.uid).cloned().collect();
        let update_revision = revision_name(&set, &set.spec.template);
        let current_revision = if set.status.current_revision.is_empty() {
            update_revision.clone()
        } else {
            set.status.current_revision.clone()
        };
        let state = self.statefulset_state.sets.entry(key.clone()).or_default();
        if !state
            .templates
            .iter()
            .any(|(name, _)| *name == update_revision)
        {
            state
                .templates
                .push((update_revision.clone(), set.spec.template.clone()));
        }
        // Only the revisions still named by the status are worth remembering.
        state
            .templates
            .retain(|(name, _)| *name == update_revision || *name == current_revision);
        let settled = state.awaiting.is_empty()
            || state
                .since
                .is_some_and(|since| now.saturating_since(since) > OBSERVATION_TIMEOUT);
        let plan = plan_stateful_set(&set, &pods, &current_revision, &update_revision, host_now);
        if settled {
            state.awaiting.clear();
            state.since = None;
            self.apply_stateful_plan(key, &set, &plan, &current_revision, &update_revision, cx);
        }
        if let Some(at) = plan.recheck_at {
            self.enqueue_after(
                WorkKey::StatefulSet(key.clone()),
                at.saturating_since(host_now) + SimDuration::from_millis(1),
                cx,
            );
        }
        let object = (Kind::StatefulSet, key.0.clone(), key.1.clone());
        if plan.status != set.status && self.writes.fresh(&object) {
            let (ready, replicas) = (plan.status.ready_replicas, set.spec.replicas);
            if plan.status.ready_replicas != set.status.ready_replicas {
                cx.record("detail", || {
                    format!("statefulset {}: {ready}/{replicas} ready", set_name(key))
                });
            }
            let mut updated = (*set).clone();
            updated.status = plan.status.clone();
            self.write(
                WorkKey::StatefulSet(key.clone()),
                object,
                ApiVerb::UpdateStatus(Object::from(updated)),
                cx,
            );
        }
    }

    fn apply_stateful_plan(
        &mut self,
        key: &NsName,
        set: &Rc<StatefulSet>,
        plan: &StatefulPlan,
        current_revision: &Str,
        update_revision: &Str,
        cx: &mut Context<'_, Msg>,
    ) {
        let state = self
            .statefulset_state
            .sets
            .get_mut(key)
            .expect("state made by the sync");
        if plan.actions.is_empty() {
            state.batch = 0;
            if let Some(waiting) = &plan.waiting_for {
                cx.record("detail", || {
                    format!(
                        "statefulset {}: waiting for pod {}/{waiting} to be Running and Ready",
                        set_name(key),
                        key.0
                    )
                });
            }
            return;
        }
        let batch = if set.spec.pod_management_policy == PodManagementPolicy::Parallel {
            state.batch = next_batch_size(state.batch);
            state.batch as usize
        } else {
            1
        };
        let current_template = state
            .templates
            .iter()
            .find(|(name, _)| name == current_revision)
            .map(|(_, template)| template.clone())
            .unwrap_or_else(|| set.spec.template.clone());
        state.since = Some(cx.now());
        for action in plan.actions.iter().take(batch) {
            match action {
                StatefulAction::Create { ordinal, revision } => {
                    let (template, revision_name) = match revision {
                        Revision::Current => (&current_template, current_revision),
                        Revision::Update => (&set.spec.template, update_revision),
                    };
                    let pod = new_stateful_pod(set, template, revision_name, *ordinal);
                    let name = pod.metadata.name.clone();
                    // OrderedReady: say which predecessor this pod waited for.
                    let after = (set.spec.pod_management_policy
                        == PodManagementPolicy::OrderedReady
                        && *ordinal > set.spec.ordinals_start)
                        .then(|| pod_name(&set.metadata.name, ordinal - 1));
                    cx.record("step", || {
                        let why = match &after {
                            Some(previous) => format!(", now that {previous} is Running and Ready"),
                            None => String::new(),
                        };
                        format!(
                            "statefulset {}: creating pod {}/{name} (ordinal {ordinal}{why})",
                            set_name(key),
                            key.0
                        )
                    });
                    state.awaiting.push(Awaiting::Created(name.clone()));
                    let id = self.api.send(cx, ApiVerb::Create(Object::from(pod)));
                    self.pending.insert(
                        id,
                        Pending::CreateStatefulPod {
                            set: key.clone(),
                            pod: name,
                        },
                    );
                    self.stats.pods_created += 1;
                }
                StatefulAction::Delete { name, uid, reason } => {
                    let ordered =
                        set.spec.pod_management_policy == PodManagementPolicy::OrderedReady;
                    let why = match reason {
                        DeleteReason::Finished => "it has finished, to make it again",
                        DeleteReason::ScaleDown if ordered => "scale-down, highest ordinal first",
                        DeleteReason::ScaleDown => "scale-down",
                        DeleteReason::Update => "rolling update, highest ordinal first",
                    };
                    cx.record("step", || {
                        format!(
                            "statefulset {}: deleting pod {}/{name} ({why})",
                            set_name(key),
                            key.0
                        )
                    });
                    state.awaiting.push(Awaiting::Deleted(*uid));
                    let id = self.api.send(
                        cx,
                        ApiVerb::Delete {
                            key: ObjectKey::new(Kind::Pod, &key.0, name),
                            grace_period_seconds: None,
                            uid_precondition: *uid,
                            propagation_policy: None,
                        },
                    );
                    self.pending.insert(
                        id,
                        Pending::DeleteStatefulPod {
                            set: key.clone(),
                            pod_uid: *uid,
                        },
                    );
                    self.stats.pods_deleted += 1;
                }
            }
        }
    }

    /// A create came back. On 409 AlreadyExists (a pod of that name the cache has not
    /// shown yet, or one still terminating) and other failures the set syncs again after
    /// the usual back-off.
    pub(super) fn on_stateful_pod_created(
        &mut self,
        key: &NsName,
        pod: &Str,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        match &response.result {
            Ok(ApiOk::Object(_)) | Ok(_) => {}
            Err(error) => {
                if let Some(state) = self.statefulset_state.sets.get_mut(key) {
                    state
                        .awaiting
                        .retain(|awaiting| *awaiting != Awaiting::Created(pod.clone()));
                    state.batch = 0;
                }
                let (code, reason, message) = (
                    error.reason.code(),
                    error.reason.name(),
                    error.message.clone(),
                );
                cx.record("detail", || {
                    format!(
                        "statefulset {}: create of pod {}/{pod} failed: {code} {reason}: {message}",
                        set_name(key),
                        key.0
                    )
                });
                self.retry(WorkKey::StatefulSet(key.clone()), cx);
            }
        }
    }

    pub(super) fn on_stateful_pod_deleted(
        &mut self,
        key: &NsName,
        pod_uid: u64,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        if let Err(error) = &response.result {
            if let Some(state) = self.statefulset_state.sets.get_mut(key) {
                state
                    .awaiting
                    .retain(|awaiting| *awaiting != Awaiting::Deleted(pod_uid));
                state.batch = 0;
            }
            if error.reason != StatusReason::NotFound {
                record_pod_write_failed(cx, "statefulset", key, "delete", error);
            }
            self.retry(WorkKey::StatefulSet(key.clone()), cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ConditionStatus, LabelSelector, Labels, PodSpec, StatefulSetSpec};

    fn at(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    fn template(image: &str) -> Rc<PodTemplateSpec> {
        let container = crate::api::Container {
            name: s("db"),
            image: s(image),
            ..crate::api::Container::default()
        };
        Rc::new(PodTemplateSpec {
            labels: Labels::from_pairs([("app", "db")]),
            annotations: Labels::new(),
            spec: PodSpec {
                containers: Rc::from(vec![container]),
                ..PodSpec::default()
            },
        })
    }

    fn set(replicas: u32, policy: PodManagementPolicy) -> StatefulSet {
        let mut metadata = ObjectMeta::named("default", "web");
        metadata.uid = 7;
        metadata.generation = 2;
        StatefulSet {
            metadata,
            spec: StatefulSetSpec {
                replicas,
                selector: LabelSelector::from_labels(Labels::from_pairs([("app", "db")])),
                template: template("db:1"),
                service_name: s("web"),
                pod_management_policy: policy,
                update_strategy: StatefulSetUpdateStrategy::default(),
                revision_history_limit: 10,
                min_ready_seconds: 0,
                ordinals_start: 0,
            },
            status: StatefulSetStatus::default(),
        }
    }

    #[derive(Clone, Copy)]
    enum State {
        Pending,
        Ready(u64),
        Terminating,
        Failed,
    }

    fn pod(set: &StatefulSet, ordinal: u32, state: State, revision: &Str) -> Rc<Pod> {
        let mut pod = new_stateful_pod(set, &set.spec.template, revision, ordinal);
        pod.metadata.uid = 100 + u64::from(ordinal);
        match state {
            State::Pending => {}
            State::Ready(since) => {
                pod.status.phase = PodPhase::Running;
                pod.status.ready = ConditionStatus::True;
                pod.status.ready_since = Some(at(since));
            }
            State::Terminating => {
                pod.status.phase = PodPhase::Running;
                pod.metadata.deletion_timestamp = Some(at(1));
            }
            State::Failed => pod.status.phase = PodPhase::Failed,
        }
        Rc::new(pod)
    }

    fn plan(set: &StatefulSet, pods: &[Rc<Pod>], now: u64) -> StatefulPlan {
        let update = revision_name(set, &set.spec.template);
        plan_stateful_set(set, pods, &update, &update, at(now))
    }

    fn names(plan: &StatefulPlan) -> Vec<String> {
        plan.actions
            .iter()
            .map(|action| match action {
                StatefulAction::Create { ordinal, .. } => format!("+{ordinal}"),
                StatefulAction::Delete { name, .. } => format!("-{name}"),
            })
            .collect()
    }

    #[test]
    fn ordinals_parse_only_for_members_of_the_set() {
        assert_eq!(parse_ordinal("web", "web-0"), Some(0));
        assert_eq!(parse_ordinal("web", "web-12"), Some(12));
        assert_eq!(parse_ordinal("my-db", "my-db-3"), Some(3));
        assert_eq!(parse_ordinal("web", "web-db-3"), None);
        assert_eq!(parse_ordinal("web", "web-"), None);
        assert_eq!(parse_ordinal("web", "web-x1"), None);
        assert_eq!(parse_ordinal("web", "web"), None);
        assert_eq!(parse_ordinal("web", "web-2147483648"), None);
        assert_eq!(pod_name("web", 4), "web-4");
    }

    #[test]
    fn a_pod_carries_the_set_identity() {
        let set = set(3, PodManagementPolicy::OrderedReady);
        let revision = revision_name(&set, &set.spec.template);
        assert!(revision.starts_with("web-"));
        let pod = new_stateful_pod(&set, &set.spec.template, &revision, 2);
        assert_eq!(&*pod.metadata.name, "web-2");
        let label = |key: &str| pod.metadata.labels.get(key).map(|v| v.to_string());
        assert_eq!(label(LABEL_STATEFULSET_POD_NAME).as_deref(), Some("web-2"));
        assert_eq!(label(LABEL_POD_INDEX).as_deref(), Some("2"));
        assert_eq!(
            label(LABEL_CONTROLLER_REVISION_HASH),
            Some(revision.to_string())
        );
        assert_eq!(label("app").as_deref(), Some("db"));
        assert_eq!(pod.spec.hostname.as_deref(), Some("web-2"));
        assert_eq!(pod.spec.subdomain.as_deref(), Some("web"));
        let owner = pod.metadata.controller_ref().unwrap();
        assert_eq!((owner.kind, owner.uid), (Kind::StatefulSet, 7));
        // Another template is another revision.
        let mut other = set.clone();
        other.spec.template = template("db:2");
        assert_ne!(revision_name(&other, &other.spec.template), revision);
    }

    #[test]
    fn ordered_ready_creates_one_at_a_time_after_its_predecessors_are_ready() {
        let set = set(3, PodManagementPolicy::OrderedReady);
        let rev = revision_name(&set, &set.spec.template);
        assert_eq!(names(&plan(&set, &[], 10)), ["+0"]);
        let pending = [pod(&set, 0, State::Pending, &rev)];
        let waiting = plan(&set, &pending, 10);
        assert!(waiting.actions.is_empty());
        assert_eq!(waiting.waiting_for.as_deref(), Some("web-0"));
        let ready = [pod(&set, 0, State::Ready(5), &rev)];
        assert_eq!(names(&plan(&set, &ready, 10)), ["+1"]);
        // A gap below is filled first: web-1 was deleted while web-2 runs.
        let gap = [
            pod(&set, 0, State::Ready(5), &rev),
            pod(&set, 2, State::Ready(5), &rev),
        ];
        assert_eq!(names(&plan(&set, &gap, 10)), ["+1"]);
        // minReadySeconds: ready for 3 s of 5 is not yet available.
        let mut slow = set.clone();
        slow.spec.min_ready_seconds = 5;
        let early = plan(&slow, &ready, 8);
        assert!(early.actions.is_empty());
        assert_eq!(early.recheck_at, Some(at(10)));
        assert_eq!(names(&plan(&slow, &ready, 10)), ["+1"]);
    }

    #[test]
    fn ordered_ready_scales_down_from_the_highest_ordinal_one_at_a_time() {
        let set = set(2, PodManagementPolicy::OrderedReady);
        let rev = revision_name(&set, &set.spec.template);
        let pods: Vec<Rc<Pod>> = (0..5)
            .map(|i| pod(&set, i, State::Ready(1), &rev))
            .collect();
        assert_eq!(names(&plan(&set, &pods, 10)), ["-web-4"]);
        let mut terminating = pods.clone();
        terminating[4] = pod(&set, 4, State::Terminating, &rev);
        let waiting = plan(&set, &terminating, 10);
        assert!(waiting.actions.is_empty());
        assert_eq!(waiting.waiting_for.as_deref(), Some("web-4"));
        assert_eq!(names(&plan(&set, &pods[..4], 10)), ["-web-3"]);
        // A condemned pod that is not ready blocks unless it is the first unavailable.
        let mut stuck = pods[..4].to_vec();
        stuck[2] = pod(&set, 2, State::Pending, &rev);
        assert_eq!(names(&plan(&set, &stuck, 10)), ["-web-3"]);
        let mut lower_unready = pods[..4].to_vec();
        lower_unready[3] = pod(&set, 3, State::Pending, &rev);
        lower_unready[2] = pod(&set, 2, State::Pending, &rev);
        assert!(plan(&set, &lower_unready, 10).actions.is_empty());
    }

    #[test]
    fn a_failed_pod_is_deleted_to_be_made_again() {
        let set = set(3, PodManagementPolicy::OrderedReady);
        let rev = revision_name(&set, &set.spec.template);
        let pods = [
            pod(&set, 0, State::Ready(1), &rev),
            pod(&set, 1, State::Failed, &rev),
            pod(&set, 2, State::Ready(1), &rev),
        ];
        let plan = plan(&set, &pods, 10);
        assert_eq!(
            plan.actions,
            [StatefulAction::Delete {
                name: s("web-1"),
                uid: 101,
                reason: DeleteReason::Finished
            }]
        );
    }

    #[test]
    fn parallel_creates_and_deletes_everything_at_once() {
        let set = set(3, PodManagementPolicy::Parallel);
        let rev = revision_name(&set, &set.spec.template);
        assert_eq!(names(&plan(&set, &[], 10)), ["+0", "+1", "+2"]);
        let pending = [pod(&set, 1, State::Pending, &rev)];
        assert_eq!(names(&plan(&set, &pending, 10)), ["+0", "+2"]);
        let mut smaller = set.clone();
        smaller.spec.replicas = 1;
        let pods: Vec<Rc<Pod>> = (0..3).map(|i| pod(&set, i, State::Pending, &rev)).collect();
        assert_eq!(names(&plan(&smaller, &pods, 10)), ["-web-2", "-web-1"]);
        assert_eq!(next_batch_size(0), 1);
        assert_eq!(next_batch_size(1), 2);
        assert_eq!(next_batch_size(256), 500);
        assert_eq!(next_batch_size(500), 500);
    }

    #[test]
    fn rolling_update_goes_down_from_the_highest_ordinal_to_the_partition() {
        let old = set(3, PodManagementPolicy::OrderedReady);
        let old_rev = revision_name(&old, &old.spec.template);
        let mut new = old.clone();
        new.spec.template = template("db:2");
        let new_rev = revision_name(&new, &new.spec.template);
        let run = |set: &StatefulSet, pods: &[Rc<Pod>]| {
            plan_stateful_set(set, pods, &old_rev, &new_rev, at(10))
        };
        let pods: Vec<Rc<Pod>> = (0..3)
            .map(|i| pod(&old, i, State::Ready(1), &old_rev))
            .collect();
        assert_eq!(names(&run(&new, &pods)), ["-web-2"]);
        // web-2 gone: it is made again, at the update revision.
        let two = &pods[..2];
        assert_eq!(
            run(&new, two).actions,
            [StatefulAction::Create {
                ordinal: 2,
                revision: Revision::Update
            }]
        );
        // web-2 updated but not ready: wait.
        let mut waiting = pods.clone();
        waiting[2] = pod(&new, 2, State::Pending, &new_rev);
        let blocked = run(&new, &waiting);
        assert!(blocked.actions.is_empty());
        assert_eq!(blocked.waiting_for.as_deref(), Some("web-2"));
        waiting[2] = pod(&new, 2, State::Ready(5), &new_rev);
        assert_eq!(names(&run(&new, &waiting)), ["-web-1"]);
        // Partition 2: web-1 and web-0 keep the old revision, even when made again.
        let mut partitioned = new.clone();
        partitioned.spec.update_strategy =
            StatefulSetUpdateStrategy::RollingUpdate { partition: 2 };
        assert!(run(&partitioned, &waiting).actions.is_empty());
        assert_eq!(
            run(&partitioned, &waiting[1..]).actions,
            [StatefulAction::Create {
                ordinal: 0,
                revision: Revision::Current
            }]
        );
        // OnDelete replaces nothing.
        let mut on_delete = new.clone();
        on_delete.spec.update_strategy = StatefulSetUpdateStrategy::OnDelete;
        assert!(run(&on_delete, &pods).actions.is_empty());
    }

    #[test]
    fn status_counts_revisions_readiness_and_completes_the_update() {
        let mut set = set(3, PodManagementPolicy::OrderedReady);
        set.spec.min_ready_seconds = 10;
        let old = s("web-old");
        let new = revision_name(&set, &set.spec.template);
        let pods = [
            pod(&set, 0, State::Ready(0), &old),
            pod(&set, 1, State::Ready(15), &new),
            pod(&set, 2, State::Terminating, &new),
        ];
        let status = compute_status(&set, &pods, &old, &new, at(20));
        assert_eq!(status.replicas, 3);
        assert_eq!(status.ready_replicas, 2);
        assert_eq!(status.available_replicas, 1);
        assert_eq!(status.current_replicas, 1);
        assert_eq!(status.updated_replicas, 1);
        assert_eq!(status.observed_generation, 2);
        assert_eq!(
            (&*status.current_revision, &*status.update_revision),
            (&*old, &*new)
        );
        // All updated and ready: the update revision becomes current.
        let done = [
            pod(&set, 0, State::Ready(0), &new),
            pod(&set, 1, State::Ready(0), &new),
        ];
        let status = compute_status(&set, &done, &old, &new, at(20));
        assert_eq!(status.current_revision, new);
        assert_eq!(status.current_replicas, 2);
    }

    #[test]
    fn a_start_ordinal_shifts_names() {
        let mut set = set(2, PodManagementPolicy::OrderedReady);
        set.spec.ordinals_start = 5;
        let rev = revision_name(&set, &set.spec.template);
        assert_eq!(names(&plan(&set, &[], 1)), ["+5"]);
        let pods = [
            pod(&set, 0, State::Ready(0), &rev),
            pod(&set, 5, State::Ready(0), &rev),
            pod(&set, 6, State::Ready(0), &rev),
        ];
        // web-0 is outside [5, 7): condemned.
        assert_eq!(names(&plan(&set, &pods, 1)), ["-web-0"]);
    }
}
