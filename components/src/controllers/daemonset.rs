//! The DaemonSet controller (`pkg/controller/daemon`: daemon_controller.go, update.go,
//! util/daemonset_util.go): one pod on every node that should run it, replaced node by
//! node when the template changes, and the DaemonSet's status.
//!
//! - Which nodes: the template's `nodeName`, `nodeSelector` and required node affinity
//!   must match the node, and every NoSchedule/NoExecute taint must be tolerated by the
//!   template's tolerations plus the ones upstream adds to every daemon pod
//!   (`AddOrUpdateDaemonPodTolerations`). A node whose only untolerated taints are
//!   NoSchedule keeps the pod it already has (`NodeShouldRunDaemonPod`'s
//!   shouldContinueRunning) but gets no new one.
//! - How pods get there: as upstream since v1.12, each pod is created unbound with a
//!   required node affinity `matchFields metadata.name In [<node>]`
//!   (`ReplaceDaemonSetPodNodeNameNodeAffinity`), and the default scheduler binds it.
//!   Creations go out in slow-start batches under expectations, as the ReplicaSet
//!   controller's do, at most `BURST_REPLICAS` per sync.
//! - Failed daemon pods are deleted (and so recreated) with upstream's per-node back-off,
//!   1 s doubling to 15 min (`failedPodsBackoff`).
//! - Rolling update (update.go `rollingUpdate`): without surge, old pods are deleted
//!   while at most `maxUnavailable` nodes lack an available pod, and the next sync creates
//!   the new pod once the old one is gone; with `maxSurge`, the new pod starts beside the
//!   old one, which goes once the new one is available. `OnDelete` replaces nothing.
//! - Pods whose node no longer exists are deleted: unscheduled ones as upstream's
//!   controller does (`getUnscheduledPodsWithoutNode`); bound ones too, because kubesim
//!   has no pod garbage collector to do it.
//!
//! Not modelled: ControllerRevision objects. The revision of a pod is the
//! `controller-revision-hash` label, the hash of the DaemonSet's template computed as the
//! Deployment controller computes `pod-template-hash` (`deployment::pod_template_hash`),
//! so there is no rollback history and `revisionHistoryLimit` has nothing to limit.
//! `hostNetwork` is not modelled either, so daemon pods never get the
//! network-unavailable toleration upstream adds to host-network pods.

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::rc::Rc;

use sim_core::{Context, FxIndexMap, SimDuration, SimTime};

use super::deployment::pod_template_hash;
use super::index::NsName;
use super::node_lifecycle::TAINT_MEMORY_PRESSURE;
use super::pod_control::{PodControl, SlowStart, record_pod_write_failed};
use super::replicaset::Expectations;
use super::{ControllerManager, Pending, WorkKey, ns_name};
use crate::api::{
    ApiResponse, ApiVerb, DEFAULT_DAEMON_SET_UNIQUE_LABEL_KEY, DaemonSet, DaemonSetStatus,
    DaemonSetUpdateStrategy, IntOrPercent, Kind, LABEL_POD_TEMPLATE_GENERATION, Node, NodeAffinity,
    NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm, Object, ObjectMeta,
    OwnerReference, Pod, PodPhase, PodSpec, PodStatus, StatusReason, Str, TAINT_NOT_READY,
    TAINT_UNREACHABLE, TAINT_UNSCHEDULABLE, TaintEffect, Toleration, TolerationOperator, s,
};
use crate::client::Delta;
use crate::msg::Msg;
use crate::scheduler::plugins::node_affinity::{FIELD_METADATA_NAME, terms_match};
use crate::scheduler::plugins::tolerations_tolerate;

/// `BurstReplicas` of daemon_controller.go: at most 250 creations or deletions per sync.
pub const BURST_REPLICAS: usize = 250;
/// `failedPodsBackoff = flowcontrol.NewBackOff(1*time.Second, 15*time.Minute)`.
pub const FAILED_POD_BACKOFF_INITIAL: SimDuration = SimDuration::from_secs(1);
pub const FAILED_POD_BACKOFF_MAX: SimDuration = SimDuration::from_mins(15);
/// The node-condition taints every daemon pod tolerates (`v1.TaintNodeDiskPressure`,
/// `v1.TaintNodePIDPressure`; memory pressure is the node lifecycle controller's).
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
pub const TAINT_PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";

// ---------------------------------------------------------------------------------------
// Which nodes

/// The tolerations `AddOrUpdateDaemonPodTolerations` gives every daemon pod: not-ready and
/// unreachable NoExecute with no `tolerationSeconds` (so taint-based eviction never takes
/// a daemon pod), and the NoSchedule taints of disk, memory and PID pressure and of a
/// cordoned node. A toleration of the template with the same key, operator, value and
/// effect is replaced (`AddOrUpdateTolerationInPodSpec`).
pub fn add_daemon_pod_tolerations(tolerations: &[Toleration]) -> Vec<Toleration> {
    let mut all = tolerations.to_vec();
    for (key, effect) in [
        (TAINT_NOT_READY, TaintEffect::NoExecute),
        (TAINT_UNREACHABLE, TaintEffect::NoExecute),
        (TAINT_DISK_PRESSURE, TaintEffect::NoSchedule),
        (TAINT_MEMORY_PRESSURE, TaintEffect::NoSchedule),
        (TAINT_PID_PRESSURE, TaintEffect::NoSchedule),
        (TAINT_UNSCHEDULABLE, TaintEffect::NoSchedule),
    ] {
        let wanted = Toleration {
            key: s(key),
            operator: TolerationOperator::Exists,
            value: s(""),
            effect: Some(effect),
            toleration_seconds: None,
        };
        let same = |t: &Toleration| {
            t.key == wanted.key
                && t.operator == wanted.operator
                && t.value == wanted.value
                && t.effect == wanted.effect
        };
        if all.iter().any(same) {
            for existing in all.iter_mut().filter(|t| same(t)) {
                *existing = wanted.clone();
            }
        } else {
            all.push(wanted);
        }
    }
    all
}

/// What `NodeShouldRunDaemonPod` says about one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeFit {
    /// A daemon pod should be created here if there is none.
    pub should_run: bool,
    /// A daemon pod already here may stay (it tolerates every NoExecute taint).
    pub should_continue_running: bool,
}

impl NodeFit {
    const NO: NodeFit = NodeFit {
        should_run: false,
        should_continue_running: false,
    };
}

/// `NodeShouldRunDaemonPod` for a daemon pod's `spec` (tolerations already extended by
/// `add_daemon_pod_tolerations`): node name, node selector and required node affinity
/// (through the scheduler's NodeAffinity helpers), then taints.
pub fn node_should_run_daemon_pod(spec: &PodSpec, node: &Node) -> NodeFit {
    if spec
        .node_name
        .as_ref()
        .is_some_and(|name| *name != node.metadata.name)
    {
        return NodeFit::NO;
    }
    if !node.metadata.labels.contains_all(&spec.node_selector) {
        return NodeFit::NO;
    }
    if let Some(required) = spec
        .affinity
        .as_ref()
        .and_then(|affinity| affinity.node_affinity.as_ref())
        .and_then(|node_affinity| node_affinity.required.as_ref())
        && !terms_match(required, node)
    {
        return NodeFit::NO;
    }
    let untolerated = |effect: TaintEffect| {
        node.spec
            .taints
            .iter()
            .any(|taint| taint.effect == effect && !tolerations_tolerate(&spec.tolerations, taint))
    };
    let no_execute = untolerated(TaintEffect::NoExecute);
    NodeFit {
        should_run: !no_execute && !untolerated(TaintEffect::NoSchedule),
        should_continue_running: !no_execute,
    }
}

/// The node a daemon pod is for: its `nodeName` once bound, before that the node its
/// `metadata.name` field affinity names (`util.GetTargetNodeName`).
pub fn target_node(pod: &Pod) -> Option<&Str> {
    if let Some(node) = &pod.spec.node_name {
        return Some(node);
    }
    let terms = pod
        .spec
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required
        .as_ref()?;
    terms.iter().find_map(|term| {
        term.match_fields.iter().find_map(|field| {
            match (
                &*field.key == FIELD_METADATA_NAME,
                field.operator,
                field.values.as_slice(),
            ) {
                (true, NodeSelectorOperator::In, [node]) => Some(node),
                _ => None,
            }
        })
    })
}

// ---------------------------------------------------------------------------------------
// Pods

/// The pod template every new pod of `ds` starts from (`util.CreatePodTemplate` and
/// `GetPodFromTemplate`): the daemon tolerations, the `controller-revision-hash` and
/// `pod-template-generation` labels, and a controller reference to the DaemonSet.
pub fn daemon_pod_template(ds: &DaemonSet, hash: &str) -> Pod {
    let template = &ds.spec.template;
    let mut metadata = ObjectMeta::named(&ds.metadata.namespace, "");
    metadata.generate_name = s(&format!("{}-", ds.metadata.name));
    metadata.labels = template.labels.clone();
    metadata.labels.insert(
        s(LABEL_POD_TEMPLATE_GENERATION),
        s(&ds.template_generation().to_string()),
    );
    metadata
        .labels
        .insert(s(DEFAULT_DAEMON_SET_UNIQUE_LABEL_KEY), s(hash));
    metadata.annotations = template.annotations.clone();
    metadata.owner_references = vec![OwnerReference::controlled_by(
        Kind::DaemonSet,
        ds.metadata.name.clone(),
        ds.metadata.uid,
    )];
    let mut spec = template.spec.clone();
    spec.tolerations = add_daemon_pod_tolerations(&spec.tolerations).into();
    Pod {
        metadata,
        spec,
        status: PodStatus::default(),
    }
}

/// `template` pinned to `node` by the required node affinity term
/// `matchFields: metadata.name In [node]`, which replaces any required terms the template
/// had (`ReplaceDaemonSetPodNodeNameNodeAffinity`); preferred terms stay.
pub fn daemon_pod_for_node(template: &Pod, node: &Str) -> Pod {
    let mut pod = template.clone();
    let term = NodeSelectorTerm {
        match_expressions: Vec::new(),
        match_fields: vec![NodeSelectorRequirement {
            key: s(FIELD_METADATA_NAME),
            operator: NodeSelectorOperator::In,
            values: vec![node.clone()],
        }],
    };
    let mut affinity = pod.spec.affinity.as_deref().cloned().unwrap_or_default();
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    node_affinity.required = Some(vec![term]);
    pod.spec.affinity = Some(Rc::new(affinity));
    pod
}

/// Whether `pod` was made from the current template (`util.IsPodUpdated`). Upstream also
/// compares the `pod-template-generation` label, but against a pointer printed with
/// `fmt.Sprint`, which never matches: the hash alone decides there, and here.
pub fn is_pod_updated(pod: &Pod, hash: &str) -> bool {
    pod.metadata
        .labels
        .get(DEFAULT_DAEMON_SET_UNIQUE_LABEL_KEY)
        .is_some_and(|value| &**value == hash)
}

/// `podByCreationTimestampAndPhase`: bound pods first, then the oldest, then by name.
pub fn oldest_first(a: &Rc<Pod>, b: &Rc<Pod>) -> Ordering {
    b.spec
        .node_name
        .is_some()
        .cmp(&a.spec.node_name.is_some())
        .then(
            a.metadata
                .creation_timestamp
                .cmp(&b.metadata.creation_timestamp),
        )
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// How the rolling update may replace pods, resolved against the number of nodes that
/// should run one (`updatedDesiredNodeCounts`: both rounded up; both 0 → 1 unavailable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RollingLimits {
    pub max_surge: usize,
    pub max_unavailable: usize,
}

pub fn rolling_limits(strategy: DaemonSetUpdateStrategy, desired: usize) -> RollingLimits {
    let scaled = |value: IntOrPercent| value.scaled(desired as u32, true) as usize;
    let (mut max_surge, mut max_unavailable) = match strategy {
        DaemonSetUpdateStrategy::RollingUpdate {
            max_unavailable,
            max_surge,
        } => (scaled(max_surge), scaled(max_unavailable)),
        DaemonSetUpdateStrategy::OnDelete => (0, 0),
    };
    if desired > 0 && max_surge == 0 && max_unavailable == 0 {
        max_unavailable = 1;
    }
    if !matches!(strategy, DaemonSetUpdateStrategy::RollingUpdate { .. }) {
        max_surge = 0;
    }
    RollingLimits {
        max_surge,
        max_unavailable,
    }
}

/// `util.AllowsSurge`: a rolling update with a non-zero maxSurge (scaled against 1).
pub fn allows_surge(strategy: DaemonSetUpdateStrategy) -> bool {
    match strategy {
        DaemonSetUpdateStrategy::RollingUpdate { max_surge, .. } => max_surge.scaled(1, true) > 0,
        DaemonSetUpdateStrategy::OnDelete => false,
    }
}

/// What one node needs, from `podsShouldBeOnNode`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodePlan {
    pub create: bool,
    pub delete: Vec<Rc<Pod>>,
    /// A failed pod is deleted: the node's back-off moves on.
    pub failed_deleted: bool,
    /// A failed pod stays because the node is in back-off: sync again later.
    pub failed_waiting: bool,
}

/// The inputs `podsShouldBeOnNode` reads besides the node's pods.
#[derive(Clone, Copy, Debug)]
pub struct PlanContext<'a> {
    pub hash: &'a str,
    pub surge: bool,
    pub min_ready_seconds: u64,
    pub now: SimTime,
    /// The node's failed-pod back-off has not run out.
    pub in_backoff: bool,
}

/// `podsShouldBeOnNode`: create a pod where one should run and none exists; delete
/// finished pods (failed ones subject to back-off); without surge keep only the oldest
/// running pod; with surge keep the oldest new and oldest old pod while the old one is
/// Ready and the new one not yet available; on a node that should not keep daemon pods,
/// delete them all. Terminating pods count as present but are never deleted again.
pub fn plan_node(fit: NodeFit, pods: &[Rc<Pod>], cx: PlanContext<'_>) -> NodePlan {
    let mut plan = NodePlan::default();
    if fit.should_run && pods.is_empty() {
        plan.create = true;
        return plan;
    }
    if !fit.should_continue_running {
        plan.delete = pods
            .iter()
            .filter(|pod| !pod.metadata.is_terminating())
            .cloned()
            .collect();
        return plan;
    }
    let mut running = Vec::new();
    for pod in pods.iter().filter(|pod| !pod.metadata.is_terminating()) {
        match pod.status.phase {
            PodPhase::Failed if cx.in_backoff => plan.failed_waiting = true,
            PodPhase::Failed => {
                plan.failed_deleted = true;
                plan.delete.push(pod.clone());
            }
            PodPhase::Succeeded => plan.delete.push(pod.clone()),
            _ => running.push(pod.clone()),
        }
    }
    running.sort_by(oldest_first);
    if !cx.surge {
        plan.delete.extend(running.iter().skip(1).cloned());
        return plan;
    }
    if running.is_empty() {
        plan.create = fit.should_run;
        return plan;
    }
    let (mut oldest_new, mut oldest_old) = (None, None);
    for pod in running {
        let slot = if is_pod_updated(&pod, cx.hash) {
            &mut oldest_new
        } else {
            &mut oldest_old
        };
        if slot.is_none() {
            *slot = Some(pod);
        } else {
            plan.delete.push(pod);
        }
    }
    if let (Some(new), Some(old)) = (oldest_new, oldest_old)
        && (!old.is_ready() || new.is_available(cx.min_ready_seconds, cx.now))
    {
        plan.delete.push(old);
    }
    plan
}

/// One node as the rolling update sees it: whether it should run the pod (false for a
/// node that no longer exists) and its non-terminated daemon pods.
#[derive(Clone, Debug)]
pub struct NodeSlot {
    pub node: Str,
    pub should_run: bool,
    pub pods: Vec<Rc<Pod>>,
}

/// A node's pod of the current template and its pod of an older one.
struct NodeRevisions {
    new: Option<Rc<Pod>>,
    old: Option<Rc<Pod>>,
}

/// `findUpdatedPodsOnNode`: the node's new and old pod, ignoring terminating ones; `None`
/// when there are several of either (the manage loop prunes them first).
fn updated_and_old(pods: &[Rc<Pod>], hash: &str) -> Option<NodeRevisions> {
    let (mut new, mut old) = (None, None);
    for pod in pods.iter().filter(|pod| !pod.metadata.is_terminating()) {
        let slot = if is_pod_updated(pod, hash) {
            &mut new
        } else {
            &mut old
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(pod.clone());
    }
    Some(NodeRevisions { new, old })
}

/// What the rolling update does this sync.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RollingPlan {
    pub delete: Vec<Rc<Pod>>,
    pub create_on: Vec<Str>,
}

/// update.go `rollingUpdate`, over the nodes that should run the pod or have one.
/// Without surge: a node counts as unavailable when it has no pod, two pods, or only an
/// unavailable new one; unavailable old pods are always replaced, and available old pods
/// while fewer than `max_unavailable` nodes are unavailable. With surge: a new pod is
/// started beside an unavailable old pod at once, beside an available one while fewer
/// than `max_surge` new pods are still starting; an old pod goes once the new one beside
/// it is available; old pods on nodes that should no longer run one go only while more
/// nodes are available than should run the pod.
pub fn rolling_update(
    slots: &[NodeSlot],
    limits: RollingLimits,
    hash: &str,
    min_ready_seconds: u64,
    now: SimTime,
) -> RollingPlan {
    let available = |pod: &Pod| pod.is_available(min_ready_seconds, now);
    let mut plan = RollingPlan::default();
    if limits.max_surge == 0 {
        let mut unavailable = 0;
        let mut candidates = Vec::new();
        for slot in slots {
            let Some(NodeRevisions { new, old }) = updated_and_old(&slot.pods, hash) else {
                unavailable += 1;
                continue;
            };
            match (new, old) {
                (None, None) | (Some(_), Some(_)) => unavailable += 1,
                (Some(new), None) => unavailable += usize::from(!available(&new)),
                (None, Some(old)) => {
                    if !available(&old) {
                        plan.delete.push(old);
                        unavailable += 1;
                    } else if unavailable < limits.max_unavailable {
                        candidates.push(old);
                    }
                }
            }
        }
        let room = limits
            .max_unavailable
            .saturating_sub(unavailable)
            .min(candidates.len());
        plan.delete.extend(candidates.into_iter().take(room));
        return plan;
    }
    let desired = slots.iter().filter(|slot| slot.should_run).count();
    let (mut surging, mut available_count) = (0usize, 0usize);
    let mut should_not_run = Vec::new();
    let mut candidates = Vec::new();
    for slot in slots {
        let Some(NodeRevisions { new, old }) = updated_and_old(&slot.pods, hash) else {
            surging += 1;
            continue;
        };
        if let Some(pod) = old.as_ref().or(new.as_ref())
            && available(pod)
        {
            available_count += 1;
        }
        match (new, old) {
            (_, None) => {}
            (None, Some(old)) => {
                if !available(&old) {
                    if slot.should_run {
                        plan.create_on.push(slot.node.clone());
                    } else {
                        plan.delete.push(old);
                    }
                } else if !slot.should_run {
                    should_not_run.push(old);
                } else if surging < limits.max_surge {
                    candidates.push(slot.node.clone());
                }
            }
            (Some(new), Some(old)) => {
                if available(&new) {
                    plan.delete.push(old);
                } else {
                    surging += 1;
                }
            }
        }
    }
    let deletable = available_count.saturating_sub(desired);
    plan.delete
        .extend(should_not_run.into_iter().take(deletable));
    let room = limits
        .max_surge
        .saturating_sub(surging)
        .min(candidates.len());
    plan.create_on.extend(candidates.into_iter().take(room));
    plan
}

// ---------------------------------------------------------------------------------------
// Status

/// `updateDaemonSetStatus` over `(fit, pods on the node)` for every node that exists:
/// each node counts once, by its oldest pod (`podByCreationTimestampAndPhase`).
pub fn calculate_status<'a>(
    ds: &DaemonSet,
    nodes: impl Iterator<Item = (NodeFit, &'a [Rc<Pod>])>,
    hash: &str,
    now: SimTime,
    observed_generation: u64,
) -> DaemonSetStatus {
    let mut status = DaemonSetStatus {
        observed_generation,
        ..DaemonSetStatus::default()
    };
    for (fit, pods) in nodes {
        let oldest = pods.iter().min_by(|a, b| oldest_first(a, b));
        if !fit.should_run {
            status.number_misscheduled += u32::from(oldest.is_some());
            continue;
        }
        status.desired_number_scheduled += 1;
        let Some(pod) = oldest else { continue };
        status.current_number_scheduled += 1;
        if pod.is_ready() {
            status.number_ready += 1;
            status.number_available += u32::from(pod.is_available(ds.spec.min_ready_seconds, now));
        }
        status.updated_number_scheduled += u32::from(is_pod_updated(pod, hash));
    }
    status.number_unavailable = status.desired_number_scheduled - status.number_available;
    status
}

// ---------------------------------------------------------------------------------------
// Controller state

/// `flowcontrol.Backoff` for failed daemon pods, per DaemonSet and node.
#[derive(Debug, Default)]
pub struct FailedPodBackoff {
    /// (current delay, last update).
    entries: FxIndexMap<(NsName, Str), (SimDuration, SimTime)>,
}

impl FailedPodBackoff {
    /// `IsInBackOffSinceUpdate`.
    pub fn in_backoff(&self, key: &(NsName, Str), now: SimTime) -> bool {
        self.entries
            .get(key)
            .is_some_and(|(delay, updated)| now.saturating_since(*updated) < *delay)
    }

    /// `Next`: 1 s at first or after a quiet spell of twice the maximum, else doubled up
    /// to the maximum. Returns the new delay.
    pub fn next(&mut self, key: (NsName, Str), now: SimTime) -> SimDuration {
        let entry = self.entries.entry(key).or_insert((SimDuration::ZERO, now));
        let expired = now.saturating_since(entry.1) > FAILED_POD_BACKOFF_MAX.saturating_mul(2);
        entry.0 = if entry.0 == SimDuration::ZERO || expired {
            FAILED_POD_BACKOFF_INITIAL
        } else {
            entry.0.saturating_mul(2).min(FAILED_POD_BACKOFF_MAX)
        };
        entry.1 = now;
        entry.0
    }

    pub fn delay(&self, key: &(NsName, Str)) -> SimDuration {
        self.entries
            .get(key)
            .map_or(SimDuration::ZERO, |entry| entry.0)
    }
}

/// Creations of one sync, sent in slow-start batches (1, 2, 4, …) to these nodes.
#[derive(Debug)]
struct DaemonSlowStart {
    template: Rc<Pod>,
    nodes: SlowStart<Str>,
}

#[derive(Debug, Default)]
pub struct DaemonSetState {
    pods: PodControl<DaemonSlowStart>,
    failed_pods_backoff: FailedPodBackoff,
}

impl DaemonSetState {
    pub fn clear(&mut self) {
        *self = DaemonSetState::default();
    }
}

fn ds_name(key: &NsName) -> String {
    format!("{}/{}", key.0, key.1)
}

fn daemon_set_owner(pod: &Pod) -> Option<NsName> {
    pod.metadata
        .controller_ref()
        .filter(|owner| owner.kind == Kind::DaemonSet)
        .map(|owner| ns_name(&pod.metadata.namespace, &owner.name))
}

/// A node's labels, taints or name: what `NodeShouldRunDaemonPod` reads.
fn scheduling_view_changed(old: &Node, new: &Node) -> bool {
    old.metadata.labels != new.metadata.labels || old.spec.taints != new.spec.taints
}

impl ControllerManager {
    pub(super) fn on_daemon_set_delta(
        &mut self,
        delta: Delta<DaemonSet>,
        cx: &mut Context<'_, Msg>,
    ) {
        let key = self.observe_written(&delta);
        if matches!(delta, Delta::Deleted(_)) {
            self.daemonset_state.pods.expectations.swap_remove(&key);
        }
        self.enqueue(WorkKey::DaemonSet(key), cx);
    }

    /// The DaemonSet controller's pod handlers: expectations, and wake the owner.
    pub(super) fn daemon_set_on_pod(
        &mut self,
        old: Option<&Rc<Pod>>,
        new: Option<&Rc<Pod>>,
        cx: &mut Context<'_, Msg>,
    ) {
        match (old, new) {
            (None, Some(pod)) => {
                let Some(key) = daemon_set_owner(pod) else {
                    return;
                };
                if pod.metadata.is_terminating() {
                    self.daemonset_state
                        .pods
                        .deletion_observed(&key, pod.metadata.uid);
                } else {
                    self.daemonset_state.pods.creations_observed(&key, 1);
                }
                self.enqueue(WorkKey::DaemonSet(key), cx);
            }
            (Some(old), Some(new)) => {
                let Some(key) = daemon_set_owner(new) else {
                    return;
                };
                if new.metadata.is_terminating() && !old.metadata.is_terminating() {
                    self.daemonset_state
                        .pods
                        .deletion_observed(&key, new.metadata.uid);
                }
                // Bound, Ready, available or finished: each moves a count or a decision.
                if old.spec.node_name != new.spec.node_name
                    || old.is_ready() != new.is_ready()
                    || old.status.phase != new.status.phase
                    || old.metadata.is_terminating() != new.metadata.is_terminating()
                {
                    if !old.is_ready() && new.is_ready() {
                        let min_ready_seconds = self
                            .informers
                            .daemonsets
                            .get(&key.0, &key.1)
                            .map_or(0, |ds| ds.spec.min_ready_seconds);
                        self.enqueue_when_available(
                            WorkKey::DaemonSet(key.clone()),
                            min_ready_seconds,
                            cx,
                        );
                    }
                    self.enqueue(WorkKey::DaemonSet(key), cx);
                }
            }
            (Some(pod), None) => {
                let Some(key) = daemon_set_owner(pod) else {
                    return;
                };
                self.daemonset_state
                    .pods
                    .deletion_observed(&key, pod.metadata.uid);
                self.enqueue(WorkKey::DaemonSet(key), cx);
            }
            (None, None) => unreachable!("a pod delta has a pod"),
        }
    }

    /// Node handlers (`addNode`, `updateNode`, `deleteNode`): wake every DaemonSet whose
    /// verdict on the node changes. A node update that leaves its labels and taints
    /// alone (heartbeats, status) wakes none.
    pub(super) fn daemon_set_on_node(&mut self, delta: &Delta<Node>, cx: &mut Context<'_, Msg>) {
        if self.informers.daemonsets.is_empty() {
            return;
        }
        let (old, new) = match delta {
            Delta::Added(node) => (None, Some(node)),
            Delta::Updated { old, new } => {
                if !scheduling_view_changed(old, new) {
                    return;
                }
                (Some(old), Some(new))
            }
            Delta::Deleted(node) => (Some(node), None),
        };
        let mut woken = Vec::new();
        for ds in self.informers.daemonsets.iter() {
            let spec = PodSpec {
                tolerations: add_daemon_pod_tolerations(&ds.spec.template.spec.tolerations).into(),
                ..ds.spec.template.spec.clone()
            };
            let fit =
                |node: Option<&Rc<Node>>| node.map(|node| node_should_run_daemon_pod(&spec, node));
            if fit(old) != fit(new) {
                woken.push(ns_name(&ds.metadata.namespace, &ds.metadata.name));
            }
        }
        for key in woken {
            self.enqueue(WorkKey::DaemonSet(key), cx);
        }
    }

    /// `syncDaemonSet`: manage the pods, then (when nothing was created or deleted) the
    /// rolling update, then the status.
    pub(super) fn sync_daemon_set(&mut self, key: &NsName, cx: &mut Context<'_, Msg>) {
        let Some(ds) = self.informers.daemonsets.get(&key.0, &key.1).cloned() else {
            self.daemonset_state.pods.expectations.swap_remove(key);
            self.daemonset_state.pods.slow_starts.swap_remove(key);
            return;
        };
        if ds.spec.selector.is_empty() || ds.metadata.is_terminating() {
            // Upstream refuses to act on a select-everything DaemonSet (the API server
            // refuses one anyway) and leaves one being deleted to the garbage collector.
            return;
        }
        let now = cx.now();
        let host_now = cx.host_clock();
        let hash = pod_template_hash(&ds.spec.template, None);
        let template = Rc::new(daemon_pod_template(&ds, &hash));
        // Pods by the node they are for; deleted finished pods no longer count.
        let mut by_node: FxIndexMap<Str, Vec<Rc<Pod>>> = FxIndexMap::default();
        for pod in self.pods.owned_by(ds.metadata.uid) {
            let finished = matches!(pod.status.phase, PodPhase::Succeeded | PodPhase::Failed);
            if finished && pod.metadata.is_terminating() {
                continue;
            }
            if let Some(node) = target_node(pod) {
                by_node.entry(node.clone()).or_default().push(pod.clone());
            }
        }
        // By node name, so creations and the rolling update go node-1, node-2, ... (the
        // informer's order is deterministic but not meaningful; upstream's is a map's).
        let mut fits: Vec<(Str, NodeFit)> = self
            .informers
            .nodes
            .iter()
            .map(|node| {
                (
                    node.metadata.name.clone(),
                    node_should_run_daemon_pod(&template.spec, node),
                )
            })
            .collect();
        fits.sort_by(|a, b| a.0.cmp(&b.0));
        let satisfied = self.daemonset_state.pods.satisfied(key, now);
        if satisfied {
            let (creates, deletes) = self.manage_daemon_pods(key, &ds, &fits, &by_node, &hash, cx);
            let rolling = creates.is_empty()
                && deletes.is_empty()
                && matches!(
                    ds.spec.update_strategy,
                    DaemonSetUpdateStrategy::RollingUpdate { .. }
                );
            let (creates, deletes) = if rolling {
                let fit_of: FxIndexMap<&Str, NodeFit> =
                    fits.iter().map(|(name, fit)| (name, *fit)).collect();
                let mut slots: Vec<NodeSlot> = fits
                    .iter()
                    .filter(|(name, fit)| fit.should_run || by_node.contains_key(name))
                    .map(|(name, fit)| NodeSlot {
                        node: name.clone(),
                        should_run: fit.should_run,
                        pods: by_node.get(name).cloned().unwrap_or_default(),
                    })
                    .collect();
                slots.extend(
                    by_node
                        .iter()
                        .filter(|(name, _)| !fit_of.contains_key(name))
                        .map(|(name, pods)| NodeSlot {
                            node: name.clone(),
                            should_run: false,
                            pods: pods.clone(),
                        }),
                );
                let desired = fits.iter().filter(|(_, fit)| fit.should_run).count();
                let limits = rolling_limits(ds.spec.update_strategy, desired);
                let plan =
                    rolling_update(&slots, limits, &hash, ds.spec.min_ready_seconds, host_now);
                if !plan.delete.is_empty() || !plan.create_on.is_empty() {
                    let (delete_count, create_count) = (plan.delete.len(), plan.create_on.len());
                    cx.record("step", || {
                        let names: Vec<String> = plan
                            .delete
                            .iter()
                            .map(|pod| {
                                let node = target_node(pod).map_or("", |node| &**node);
                                format!("{} on {node}", pod.metadata.name)
                            })
                            .collect();
                        let mut text = format!(
                            "daemonset {}: rolling update to revision {hash} (maxUnavailable {}, maxSurge {})",
                            ds_name(key),
                            limits.max_unavailable,
                            limits.max_surge
                        );
                        if delete_count > 0 {
                            text += &format!(": deleting old pod {}", names.join(", "));
                        }
                        if create_count > 0 {
                            text += &format!(
                                "; starting new pod{} beside the old on {}",
                                if create_count == 1 { "" } else { "s" },
                                plan.create_on.join(", ")
                            );
                        }
                        text
                    });
                }
                (plan.create_on, plan.delete)
            } else {
                (creates, deletes)
            };
            self.sync_daemon_nodes(key, &template, creates, deletes, cx);
        }
        // Status (updateDaemonSetStatus); observedGeneration moves only when this sync
        // acted on the spec it saw.
        let observed_generation = if satisfied {
            ds.metadata.generation
        } else {
            ds.status.observed_generation
        };
        let empty: Vec<Rc<Pod>> = Vec::new();
        let status = calculate_status(
            &ds,
            fits.iter().map(|(name, fit)| {
                (
                    *fit,
                    by_node
                        .get(name)
                        .map_or(empty.as_slice(), |pods| pods.as_slice()),
                )
            }),
            &hash,
            host_now,
            observed_generation,
        );
        let object = (Kind::DaemonSet, key.0.clone(), key.1.clone());
        if status != ds.status && self.writes.fresh(&object) {
            let mut updated = (*ds).clone();
            updated.status = status.clone();
            self.write(
                WorkKey::DaemonSet(key.clone()),
                object,
                ApiVerb::UpdateStatus(Object::from(updated)),
                cx,
            );
        }
        if ds.spec.min_ready_seconds > 0 && status.number_ready != status.number_available {
            self.enqueue_after(
                WorkKey::DaemonSet(key.clone()),
                SimDuration::from_secs(ds.spec.min_ready_seconds),
                cx,
            );
        }
    }

    /// `manage`: `podsShouldBeOnNode` for every node, plus the pods of nodes that are
    /// gone. Returns the nodes to create a pod on and the pods to delete.
    fn manage_daemon_pods(
        &mut self,
        key: &NsName,
        ds: &DaemonSet,
        fits: &[(Str, NodeFit)],
        by_node: &FxIndexMap<Str, Vec<Rc<Pod>>>,
        hash: &str,
        cx: &mut Context<'_, Msg>,
    ) -> (Vec<Str>, Vec<Rc<Pod>>) {
        let now = cx.now();
        let host_now = cx.host_clock();
        let surge = allows_surge(ds.spec.update_strategy);
        let (mut creates, mut deletes) = (Vec::new(), Vec::new());
        let mut retry_after: Option<SimDuration> = None;
        let no_pods: Vec<Rc<Pod>> = Vec::new();
        for (name, fit) in fits {
            let pods = by_node.get(name).unwrap_or(&no_pods);
            if pods.is_empty() && !fit.should_run {
                continue;
            }
            let backoff_key = (key.clone(), name.clone());
            let plan = plan_node(
                *fit,
                pods,
                PlanContext {
                    hash,
                    surge,
                    min_ready_seconds: ds.spec.min_ready_seconds,
                    now: host_now,
                    in_backoff: self
                        .daemonset_state
                        .failed_pods_backoff
                        .in_backoff(&backoff_key, now),
                },
            );
            if plan.failed_waiting {
                let delay = self.daemonset_state.failed_pods_backoff.delay(&backoff_key);
                retry_after = Some(retry_after.map_or(delay, |d| d.min(delay)));
            }
            if plan.failed_deleted {
                let delay = self
                    .daemonset_state
                    .failed_pods_backoff
                    .next(backoff_key, now);
                cx.record("step", || {
                    format!(
                        "daemonset {}: daemon pod on node {name} failed; deleting it (next retry no sooner than {}s)",
                        ds_name(key),
                        delay.as_secs()
                    )
                });
            }
            if plan.create {
                creates.push(name.clone());
            }
            deletes.extend(plan.delete);
        }
        // Pods for nodes that no longer exist (upstream deletes the unscheduled ones and
        // leaves bound ones to the pod GC, which kubesim does not have).
        let existing: BTreeSet<&Str> = fits.iter().map(|(name, _)| name).collect();
        for (node, pods) in by_node {
            if existing.contains(node) {
                continue;
            }
            let gone: Vec<Rc<Pod>> = pods
                .iter()
                .filter(|pod| !pod.metadata.is_terminating())
                .cloned()
                .collect();
            if !gone.is_empty() {
                cx.record("detail", || {
                    format!(
                        "daemonset {}: node {node} no longer exists; deleting its daemon pod",
                        ds_name(key)
                    )
                });
            }
            deletes.extend(gone);
        }
        if let Some(delay) = retry_after {
            self.enqueue_after(WorkKey::DaemonSet(key.clone()), delay, cx);
        }
        if !creates.is_empty() {
            let desired = fits.iter().filter(|(_, fit)| fit.should_run).count();
            let count = creates.len();
            cx.record("step", || {
                format!(
                    "daemonset {}: creating {count} daemon pod{} for node{} {} ({desired} node{} should run one)",
                    ds_name(key),
                    if count == 1 { "" } else { "s" },
                    if count == 1 { "" } else { "s" },
                    creates.join(", "),
                    if desired == 1 { "" } else { "s" },
                )
            });
        }
        if !deletes.is_empty() {
            cx.record("step", || {
                let names: Vec<&str> = deletes.iter().map(|pod| &*pod.metadata.name).collect();
                format!(
                    "daemonset {}: deleting daemon pod{} {} (not wanted on {})",
                    ds_name(key),
                    if deletes.len() == 1 { "" } else { "s" },
                    names.join(", "),
                    if deletes.len() == 1 {
                        "its node"
                    } else {
                        "their nodes"
                    }
                )
            });
        }
        (creates, deletes)
    }

    /// `syncNodes`: set the expectations, send the creations (slow start) and deletions,
    /// at most `BURST_REPLICAS` of each.
    fn sync_daemon_nodes(
        &mut self,
        key: &NsName,
        template: &Rc<Pod>,
        mut creates: Vec<Str>,
        mut deletes: Vec<Rc<Pod>>,
        cx: &mut Context<'_, Msg>,
    ) {
        creates.truncate(BURST_REPLICAS);
        deletes.truncate(BURST_REPLICAS);
        self.daemonset_state.pods.expectations.insert(
            key.clone(),
            Expectations {
                add: creates.len() as u32,
                del: deletes.iter().map(|pod| pod.metadata.uid).collect(),
                timestamp: cx.now(),
            },
        );
        if !creates.is_empty() {
            self.daemonset_state.pods.slow_starts.insert(
                key.clone(),
                DaemonSlowStart {
                    template: template.clone(),
                    nodes: SlowStart::new(creates),
                },
            );
            self.send_daemon_create_batch(key, cx);
        }
        for pod in deletes {
            let pending = Pending::DeleteDaemonPod {
                ds: key.clone(),
                pod_uid: pod.metadata.uid,
            };
            self.delete_pod(&pod, pending, cx);
        }
    }

    fn send_daemon_create_batch(&mut self, key: &NsName, cx: &mut Context<'_, Msg>) {
        let state = self
            .daemonset_state
            .pods
            .slow_starts
            .get_mut(key)
            .expect("a slow start in progress");
        let nodes = state.nodes.next_batch();
        let template = state.template.clone();
        for node in nodes {
            let pod = Object::from(daemon_pod_for_node(&template, &node));
            let id = self.api.send(cx, ApiVerb::Create(pod));
            self.pending
                .insert(id, Pending::CreateDaemonPod { ds: key.clone() });
            self.stats.pods_created += 1;
        }
    }

    /// A creation came back: when its batch is done, send the next (twice as large), or
    /// after a failure give up the rest of this round and retry with back-off.
    pub(super) fn on_daemon_pod_created(
        &mut self,
        key: &NsName,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        let Some(state) = self.daemonset_state.pods.slow_starts.get_mut(key) else {
            return;
        };
        let batch_done = state.nodes.on_reply(response.result.is_ok());
        if let Err(error) = &response.result {
            // The informer will never show this pod.
            self.daemonset_state.pods.creations_observed(key, 1);
            record_pod_write_failed(cx, "daemonset", key, "create", error);
        }
        if !batch_done {
            return;
        }
        let present = self.informers.daemonsets.get(&key.0, &key.1).is_some();
        if self.daemonset_state.pods.slow_starts[key]
            .nodes
            .finished(present)
        {
            let state = self
                .daemonset_state
                .pods
                .slow_starts
                .swap_remove(key)
                .expect("present");
            let skipped = state.nodes.unsent() as u32;
            self.daemonset_state.pods.creations_observed(key, skipped);
            let work = WorkKey::DaemonSet(key.clone());
            if state.nodes.failed() {
                self.retry(work, cx);
            } else {
                self.queue.forget(&work);
                self.enqueue(work, cx);
            }
            return;
        }
        self.send_daemon_create_batch(key, cx);
    }

    pub(super) fn on_daemon_pod_deleted(
        &mut self,
        key: &NsName,
        pod_uid: u64,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        match &response.result {
            Ok(_) => self.stats.pods_deleted += 1,
            Err(error) => {
                self.daemonset_state.pods.deletion_observed(key, pod_uid);
                if error.reason != StatusReason::NotFound {
                    record_pod_write_failed(cx, "daemonset", key, "delete", error);
                    self.retry(WorkKey::DaemonSet(key.clone()), cx);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Affinity, ConditionStatus, LabelSelector, Labels, PodTemplateSpec, Taint};
    use crate::scheduler::plugins::tests::{node_with, pod_with, taint};

    fn at(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    fn node(name: &str, labels: &[(&str, &str)], taints: Vec<Taint>) -> Node {
        let mut node = node_with(name, 4000, 8 << 30, 110);
        node.metadata.labels = Labels::from_pairs(labels.iter().copied());
        node.spec.taints = taints;
        node
    }

    fn daemon_set(strategy: DaemonSetUpdateStrategy) -> DaemonSet {
        let labels = Labels::from_pairs([("app", "agent")]);
        let mut template = pod_with(Vec::new(), Vec::new());
        template.spec.tolerations = Vec::new().into();
        let mut metadata = ObjectMeta::named("kube-system", "agent");
        metadata.uid = 7;
        DaemonSet {
            metadata,
            spec: crate::api::DaemonSetSpec {
                selector: LabelSelector::from_labels(labels.clone()),
                template: Rc::new(PodTemplateSpec {
                    labels,
                    annotations: Labels::new(),
                    spec: template.spec,
                }),
                update_strategy: strategy,
                min_ready_seconds: 0,
                revision_history_limit: 10,
            },
            status: DaemonSetStatus::default(),
        }
    }

    fn rolling(max_unavailable: IntOrPercent, max_surge: IntOrPercent) -> DaemonSetUpdateStrategy {
        DaemonSetUpdateStrategy::RollingUpdate {
            max_unavailable,
            max_surge,
        }
    }

    /// A daemon pod of revision `hash` for `node`: bound, Running, Ready since 0 s when
    /// `ready`.
    fn pod(uid: u64, node: &str, hash: &str, ready: bool, created: u64) -> Rc<Pod> {
        let mut pod = pod_with(Vec::new(), Vec::new());
        pod.metadata.name = s(&format!("agent-{uid}"));
        pod.metadata.uid = uid;
        pod.metadata.creation_timestamp = at(created);
        pod.metadata
            .labels
            .insert(s(DEFAULT_DAEMON_SET_UNIQUE_LABEL_KEY), s(hash));
        pod.spec.node_name = Some(s(node));
        pod.status.phase = PodPhase::Running;
        if ready {
            pod.status.ready = ConditionStatus::True;
            pod.status.ready_since = Some(at(created));
        }
        Rc::new(pod)
    }

    fn names(pods: &[Rc<Pod>]) -> Vec<&str> {
        pods.iter().map(|pod| &*pod.metadata.name).collect()
    }

    #[test]
    fn daemon_pods_tolerate_node_problems_forever() {
        let template = [Toleration {
            key: s(TAINT_UNREACHABLE),
            operator: TolerationOperator::Exists,
            value: s(""),
            effect: Some(TaintEffect::NoExecute),
            toleration_seconds: Some(300),
        }];
        let all = add_daemon_pod_tolerations(&template);
        let keys: Vec<(&str, Option<TaintEffect>, Option<u64>)> = all
            .iter()
            .map(|t| (&*t.key, t.effect, t.toleration_seconds))
            .collect();
        // The template's 300 s toleration is replaced in place; the rest are appended
        // in upstream's order, none with tolerationSeconds.
        assert_eq!(
            keys,
            [
                (TAINT_UNREACHABLE, Some(TaintEffect::NoExecute), None),
                (TAINT_NOT_READY, Some(TaintEffect::NoExecute), None),
                (TAINT_DISK_PRESSURE, Some(TaintEffect::NoSchedule), None),
                (TAINT_MEMORY_PRESSURE, Some(TaintEffect::NoSchedule), None),
                (TAINT_PID_PRESSURE, Some(TaintEffect::NoSchedule), None),
                (TAINT_UNSCHEDULABLE, Some(TaintEffect::NoSchedule), None),
            ]
        );
        // Adding them twice changes nothing.
        assert_eq!(add_daemon_pod_tolerations(&all), all);
    }

    #[test]
    fn eligibility_follows_selector_affinity_and_taints() {
        let mut ds = daemon_set(DaemonSetUpdateStrategy::default());
        Rc::make_mut(&mut ds.spec.template).spec.node_selector =
            Labels::from_pairs([("disk", "ssd")]);
        let spec = daemon_pod_template(&ds, "h1").spec;
        let fit = |node: &Node| node_should_run_daemon_pod(&spec, node);
        let yes = NodeFit {
            should_run: true,
            should_continue_running: true,
        };
        assert_eq!(fit(&node("a", &[("disk", "ssd")], vec![])), yes);
        assert_eq!(fit(&node("b", &[("disk", "hdd")], vec![])), NodeFit::NO);
        // Cordoned, not ready, unreachable or under pressure: still eligible.
        let tolerated = vec![
            taint(TAINT_UNSCHEDULABLE, TaintEffect::NoSchedule),
            taint(TAINT_NOT_READY, TaintEffect::NoExecute),
            taint(TAINT_UNREACHABLE, TaintEffect::NoExecute),
            taint(TAINT_MEMORY_PRESSURE, TaintEffect::NoSchedule),
        ];
        assert_eq!(fit(&node("c", &[("disk", "ssd")], tolerated)), yes);
        // An untolerated NoSchedule taint: no new pod, but one already there stays.
        assert_eq!(
            fit(&node(
                "d",
                &[("disk", "ssd")],
                vec![taint("dedicated", TaintEffect::NoSchedule)]
            )),
            NodeFit {
                should_run: false,
                should_continue_running: true,
            }
        );
        // An untolerated NoExecute taint: the pod goes too.
        assert_eq!(
            fit(&node(
                "e",
                &[("disk", "ssd")],
                vec![taint("dedicated", TaintEffect::NoExecute)]
            )),
            NodeFit::NO
        );
        // PreferNoSchedule is no obstacle.
        assert_eq!(
            fit(&node(
                "f",
                &[("disk", "ssd")],
                vec![taint("dedicated", TaintEffect::PreferNoSchedule)]
            )),
            yes
        );
        // Required node affinity of the template, and a template nodeName.
        let mut pinned = spec.clone();
        pinned.node_name = Some(s("a"));
        assert_eq!(
            node_should_run_daemon_pod(&pinned, &node("g", &[("disk", "ssd")], vec![])),
            NodeFit::NO
        );
        let zoned = daemon_pod_for_node(
            &Pod {
                metadata: ObjectMeta::named("kube-system", ""),
                spec: spec.clone(),
                status: PodStatus::default(),
            },
            &s("a"),
        );
        assert_eq!(
            node_should_run_daemon_pod(&zoned.spec, &node("a", &[("disk", "ssd")], vec![])),
            yes
        );
        assert_eq!(
            node_should_run_daemon_pod(&zoned.spec, &node("b2", &[("disk", "ssd")], vec![])),
            NodeFit::NO
        );
    }

    #[test]
    fn pods_are_pinned_by_node_affinity_and_labelled_with_the_revision() {
        let mut ds = daemon_set(DaemonSetUpdateStrategy::default());
        ds.metadata.annotations.insert(
            s(crate::api::ANNOTATION_DEPRECATED_TEMPLATE_GENERATION),
            s("3"),
        );
        // The template's own required terms are replaced; its preferred ones stay.
        Rc::make_mut(&mut ds.spec.template).spec.affinity = Some(Rc::new(Affinity {
            node_affinity: Some(NodeAffinity {
                required: Some(vec![NodeSelectorTerm {
                    match_expressions: vec![NodeSelectorRequirement {
                        key: s("disk"),
                        operator: NodeSelectorOperator::Exists,
                        values: Vec::new(),
                    }],
                    match_fields: Vec::new(),
                }]),
                preferred: vec![crate::api::PreferredSchedulingTerm {
                    weight: 5,
                    preference: NodeSelectorTerm::default(),
                }],
            }),
            ..Affinity::default()
        }));
        let template = daemon_pod_template(&ds, "abc");
        let pod = daemon_pod_for_node(&template, &s("node-4"));
        assert_eq!(&*pod.metadata.generate_name, "agent-");
        assert_eq!(
            pod.metadata.labels.to_string(),
            "app=agent,controller-revision-hash=abc,pod-template-generation=3"
        );
        let owner = pod.metadata.controller_ref().expect("controlled");
        assert_eq!(
            (owner.kind, &*owner.name, owner.uid),
            (Kind::DaemonSet, "agent", 7)
        );
        assert_eq!(target_node(&pod).map(|n| &**n), Some("node-4"));
        let node_affinity = pod
            .spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .expect("affinity");
        assert_eq!(node_affinity.preferred.len(), 1);
        let required = node_affinity.required.as_ref().expect("required");
        assert_eq!(required.len(), 1);
        assert!(required[0].match_expressions.is_empty());
        assert_eq!(required[0].match_fields[0].values, [s("node-4")]);
        assert!(is_pod_updated(&pod, "abc"));
        assert!(!is_pod_updated(&pod, "abd"));
        // Once bound, the node name decides.
        let mut bound = pod.clone();
        bound.spec.node_name = Some(s("node-9"));
        assert_eq!(target_node(&bound).map(|n| &**n), Some("node-9"));
    }

    fn plan_cx(hash: &str, surge: bool, in_backoff: bool) -> PlanContext<'_> {
        PlanContext {
            hash,
            surge,
            min_ready_seconds: 0,
            now: at(100),
            in_backoff,
        }
    }

    const YES: NodeFit = NodeFit {
        should_run: true,
        should_continue_running: true,
    };

    #[test]
    fn pods_should_be_on_node_creates_prunes_and_replaces_failed_pods() {
        let plan = plan_node(YES, &[], plan_cx("h", false, false));
        assert!(plan.create && plan.delete.is_empty());
        // Not wanted here at all: nothing created.
        assert_eq!(
            plan_node(NodeFit::NO, &[], plan_cx("h", false, false)),
            NodePlan::default()
        );
        // Two running pods without surge: the younger goes.
        let (old, young) = (pod(1, "a", "h", true, 10), pod(2, "a", "h", true, 20));
        let plan = plan_node(
            YES,
            &[young.clone(), old.clone()],
            plan_cx("h", false, false),
        );
        assert_eq!(names(&plan.delete), ["agent-2"]);
        assert!(!plan.create);
        // A failed pod goes, unless the node is in back-off.
        let mut failed = (*pod(3, "a", "h", false, 10)).clone();
        failed.status.phase = PodPhase::Failed;
        let failed = Rc::new(failed);
        let plan = plan_node(
            YES,
            std::slice::from_ref(&failed),
            plan_cx("h", false, false),
        );
        assert_eq!(names(&plan.delete), ["agent-3"]);
        assert!(plan.failed_deleted && !plan.create);
        let plan = plan_node(
            YES,
            std::slice::from_ref(&failed),
            plan_cx("h", false, true),
        );
        assert!(plan.delete.is_empty() && plan.failed_waiting && !plan.create);
        // A terminating pod blocks a new one until it is gone, and is not deleted again.
        let mut terminating = (*old).clone();
        terminating.metadata.deletion_timestamp = Some(at(90));
        let plan = plan_node(YES, &[Rc::new(terminating)], plan_cx("h", false, false));
        assert_eq!(plan, NodePlan::default());
        // No longer tolerated: every pod goes.
        let plan = plan_node(
            NodeFit::NO,
            &[old.clone(), young.clone()],
            plan_cx("h", false, false),
        );
        assert_eq!(names(&plan.delete), ["agent-1", "agent-2"]);
        // NoSchedule only: the pod stays, nothing new.
        let keep = NodeFit {
            should_run: false,
            should_continue_running: true,
        };
        assert_eq!(
            plan_node(keep, std::slice::from_ref(&old), plan_cx("h", false, false)),
            NodePlan::default()
        );
    }

    #[test]
    fn surge_keeps_old_and_new_until_the_new_one_is_available() {
        let old = pod(1, "a", "old", true, 10);
        let starting = pod(2, "a", "new", false, 50);
        let plan = plan_node(
            YES,
            &[old.clone(), starting.clone()],
            plan_cx("new", true, false),
        );
        assert!(plan.delete.is_empty());
        let ready = pod(3, "a", "new", true, 50);
        let plan = plan_node(YES, &[old.clone(), ready], plan_cx("new", true, false));
        assert_eq!(names(&plan.delete), ["agent-1"]);
        // An old pod that is no longer Ready goes at once.
        let not_ready = pod(4, "a", "old", false, 10);
        let plan = plan_node(YES, &[not_ready, starting], plan_cx("new", true, false));
        assert_eq!(names(&plan.delete), ["agent-4"]);
    }

    #[test]
    fn rolling_limits_round_up_and_never_both_zero() {
        let limits = |u, s, desired| rolling_limits(rolling(u, s), desired);
        assert_eq!(
            limits(IntOrPercent::Percent(10), IntOrPercent::Int(0), 15),
            RollingLimits {
                max_surge: 0,
                max_unavailable: 2
            }
        );
        assert_eq!(
            limits(IntOrPercent::Int(0), IntOrPercent::Percent(25), 5),
            RollingLimits {
                max_surge: 2,
                max_unavailable: 0
            }
        );
        assert_eq!(
            limits(IntOrPercent::Percent(0), IntOrPercent::Int(0), 5),
            RollingLimits {
                max_surge: 0,
                max_unavailable: 1
            }
        );
        assert!(allows_surge(rolling(
            IntOrPercent::Int(0),
            IntOrPercent::Percent(1)
        )));
        assert!(!allows_surge(rolling(
            IntOrPercent::Int(1),
            IntOrPercent::Int(0)
        )));
        assert!(!allows_surge(DaemonSetUpdateStrategy::OnDelete));
    }

    fn slot(node: &str, pods: Vec<Rc<Pod>>) -> NodeSlot {
        NodeSlot {
            node: s(node),
            should_run: true,
            pods,
        }
    }

    #[test]
    fn rolling_update_replaces_one_node_at_a_time_without_surge() {
        let limits = RollingLimits {
            max_surge: 0,
            max_unavailable: 1,
        };
        let all_old = [
            slot("a", vec![pod(1, "a", "old", true, 0)]),
            slot("b", vec![pod(2, "b", "old", true, 0)]),
            slot("c", vec![pod(3, "c", "old", true, 0)]),
        ];
        let plan = rolling_update(&all_old, limits, "new", 0, at(100));
        assert_eq!(names(&plan.delete), ["agent-1"]);
        assert!(plan.create_on.is_empty());
        // Node a is between pods (old one gone, new not created yet): nothing else goes.
        let between = [
            slot("a", vec![]),
            slot("b", vec![pod(2, "b", "old", true, 0)]),
            slot("c", vec![pod(3, "c", "old", true, 0)]),
        ];
        assert!(
            rolling_update(&between, limits, "new", 0, at(100))
                .delete
                .is_empty()
        );
        // Its new pod is not available yet: still nothing.
        let starting = [
            slot("a", vec![pod(4, "a", "new", false, 90)]),
            slot("b", vec![pod(2, "b", "old", true, 0)]),
            slot("c", vec![pod(3, "c", "old", true, 0)]),
        ];
        assert!(
            rolling_update(&starting, limits, "new", 0, at(100))
                .delete
                .is_empty()
        );
        // Available (minReadySeconds 5 passed): the next node goes.
        let available = [
            slot("a", vec![pod(4, "a", "new", true, 90)]),
            slot("b", vec![pod(2, "b", "old", true, 0)]),
            slot("c", vec![pod(3, "c", "old", true, 0)]),
        ];
        assert!(
            rolling_update(&available, limits, "new", 20, at(100))
                .delete
                .is_empty()
        );
        assert_eq!(
            names(&rolling_update(&available, limits, "new", 5, at(100)).delete),
            ["agent-2"]
        );
        // An unavailable old pod is replaced regardless of the budget.
        let broken = [
            slot("a", vec![pod(4, "a", "new", false, 90)]),
            slot("b", vec![pod(2, "b", "old", false, 0)]),
            slot("c", vec![pod(3, "c", "old", true, 0)]),
        ];
        assert_eq!(
            names(&rolling_update(&broken, limits, "new", 0, at(100)).delete),
            ["agent-2"]
        );
        // Two unavailable allowed: two go at once.
        let two = RollingLimits {
            max_surge: 0,
            max_unavailable: 2,
        };
        assert_eq!(
            names(&rolling_update(&all_old, two, "new", 0, at(100)).delete),
            ["agent-1", "agent-2"]
        );
    }

    #[test]
    fn rolling_update_with_surge_starts_new_pods_first() {
        let limits = RollingLimits {
            max_surge: 1,
            max_unavailable: 0,
        };
        let all_old = [
            slot("a", vec![pod(1, "a", "old", true, 0)]),
            slot("b", vec![pod(2, "b", "old", true, 0)]),
        ];
        let plan = rolling_update(&all_old, limits, "new", 0, at(100));
        assert!(plan.delete.is_empty());
        assert_eq!(plan.create_on, [s("a")]);
        // The new pod on a is starting: no second surge.
        let surging = [
            slot(
                "a",
                vec![pod(1, "a", "old", true, 0), pod(3, "a", "new", false, 90)],
            ),
            slot("b", vec![pod(2, "b", "old", true, 0)]),
        ];
        assert_eq!(
            rolling_update(&surging, limits, "new", 0, at(100)),
            RollingPlan::default()
        );
        // Available: the old pod on a goes, and b may surge.
        let surged = [
            slot(
                "a",
                vec![pod(1, "a", "old", true, 0), pod(3, "a", "new", true, 90)],
            ),
            slot("b", vec![pod(2, "b", "old", true, 0)]),
        ];
        let plan = rolling_update(&surged, limits, "new", 0, at(100));
        assert_eq!(names(&plan.delete), ["agent-1"]);
        assert_eq!(plan.create_on, [s("b")]);
    }

    #[test]
    fn status_counts_each_node_by_its_oldest_pod() {
        let mut ds = daemon_set(DaemonSetUpdateStrategy::default());
        ds.spec.min_ready_seconds = 30;
        let a = vec![pod(1, "a", "new", true, 0)];
        let b = vec![pod(2, "b", "old", true, 90)];
        let c: Vec<Rc<Pod>> = Vec::new();
        let tainted = vec![pod(3, "d", "old", true, 0)];
        let keep = NodeFit {
            should_run: false,
            should_continue_running: true,
        };
        let nodes: Vec<(NodeFit, &[Rc<Pod>])> =
            vec![(YES, &a), (YES, &b), (YES, &c), (keep, &tainted)];
        let status = calculate_status(&ds, nodes.into_iter(), "new", at(100), 4);
        assert_eq!(
            status,
            DaemonSetStatus {
                observed_generation: 4,
                current_number_scheduled: 2,
                number_misscheduled: 1,
                desired_number_scheduled: 3,
                number_ready: 2,
                updated_number_scheduled: 1,
                // b has been Ready for 10 s of the 30 required.
                number_available: 1,
                number_unavailable: 2,
            }
        );
    }

    #[test]
    fn taint_based_eviction_never_takes_a_daemon_pod() {
        use super::super::node_lifecycle::{Eviction, eviction_for};
        let ds = daemon_set(DaemonSetUpdateStrategy::default());
        let tolerations = daemon_pod_template(&ds, "h").spec.tolerations;
        let mut unreachable = taint(TAINT_UNREACHABLE, TaintEffect::NoExecute);
        unreachable.time_added = Some(at(50));
        let not_ready = taint(TAINT_NOT_READY, TaintEffect::NoExecute);
        assert_eq!(
            eviction_for(&[unreachable.clone(), not_ready], &tolerations),
            Eviction::Never
        );
        // An ordinary pod with the API server's default 300 s tolerations would go.
        let ordinary = [Toleration {
            toleration_seconds: Some(300),
            ..tolerations[1].clone()
        }];
        assert!(matches!(
            eviction_for(&[unreachable], &ordinary),
            Eviction::After {
                toleration_seconds: 300,
                ..
            }
        ));
    }

    #[test]
    fn failed_pod_backoff_doubles_to_fifteen_minutes() {
        let mut backoff = FailedPodBackoff::default();
        let key = ((s("kube-system"), s("agent")), s("node-1"));
        assert!(!backoff.in_backoff(&key, at(0)));
        assert_eq!(backoff.next(key.clone(), at(0)), SimDuration::from_secs(1));
        assert!(backoff.in_backoff(&key, at(0)));
        assert!(!backoff.in_backoff(&key, at(1)));
        assert_eq!(backoff.next(key.clone(), at(1)), SimDuration::from_secs(2));
        let mut delay = SimDuration::ZERO;
        for step in 2..20 {
            delay = backoff.next(key.clone(), at(step));
        }
        assert_eq!(delay, FAILED_POD_BACKOFF_MAX);
        // Quiet for more than twice the maximum: back to 1 s.
        assert_eq!(
            backoff.next(key.clone(), at(20 + 31 * 60)),
            SimDuration::from_secs(1)
        );
    }
}
