//! The Deployment controller (`pkg/controller/deployment`): one ReplicaSet per pod
//! template, named by the template's hash; rolling updates and Recreate between them;
//! scaling (proportional mid-rollout); revision history; status.
//!
//! [`plan_deployment`] is the whole decision of one sync as a pure function of the
//! Deployment and the ReplicaSets it controls; the entry point sends what it returns.

use std::cmp::Ordering;
use std::rc::Rc;

use sim_core::{Context, SimDuration, SimTime};

use super::index::NsName;
use super::{ControllerManager, WorkKey, ns_name};
use crate::api::{
    ApiVerb, ConditionStatus, Container, Deployment, DeploymentCondition, DeploymentConditionType,
    DeploymentStatus, DeploymentStrategy, IntOrPercent, Kind, LABEL_POD_TEMPLATE_HASH, Labels,
    Object, ObjectMeta, OwnerReference, Pod, PodPhase, PodTemplateSpec, ReplicaSet, ReplicaSetSpec,
    ReplicaSetStatus, Resource, ResourceList, Str, TaintEffect, s,
};
use crate::client::Delta;
use crate::msg::Msg;

pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
pub const DESIRED_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS_ANNOTATION: &str = "deployment.kubernetes.io/max-replicas";
/// The revisions a ReplicaSet had before a rollback gave it a new one, comma-separated.
pub const REVISION_HISTORY_ANNOTATION: &str = "deployment.kubernetes.io/revision-history";
/// `maxRevHistoryLengthInChars`: the controller keeps the revision-history annotation
/// within 2000 characters by dropping the oldest entries.
const REVISION_HISTORY_CHARS_MAX: usize = 2000;

/// `progressDeadlineSeconds: MaxInt32` means no deadline (`HasProgressDeadline`).
pub const PROGRESS_DEADLINE_DISABLED: u64 = i32::MAX as u64;

// Condition reasons (`pkg/controller/deployment/util/deployment_util.go`).
pub const REASON_NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const REASON_FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const REASON_RS_UPDATED: &str = "ReplicaSetUpdated";
pub const REASON_NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const REASON_TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const REASON_PAUSED: &str = "DeploymentPaused";
pub const REASON_RESUMED: &str = "DeploymentResumed";
pub const REASON_MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const REASON_MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

// ---------------------------------------------------------------------------------------
// pod-template-hash

/// 32-bit FNV-1a (`hash/fnv.New32a`).
pub fn fnv32a(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for &byte in bytes {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// `rand.SafeEncodeString`: each character mapped into an alphabet without vowels and
/// look-alike digits, so hashes never spell words.
pub fn safe_encode_string(text: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    text.bytes()
        .map(|byte| ALPHANUMS[usize::from(byte) % ALPHANUMS.len()] as char)
        .collect()
}

/// Canonical bytes of a pod template: every field kubesim models, in a fixed order with
/// lengths and tags, standing in for upstream's `DeepHashObject` printout.
struct TemplateWriter(Vec<u8>);

impl TemplateWriter {
    fn u64(&mut self, value: u64) {
        self.0.extend_from_slice(&value.to_le_bytes());
    }
    fn str(&mut self, text: &str) {
        self.u64(text.len() as u64);
        self.0.extend_from_slice(text.as_bytes());
    }
    fn opt(&mut self, value: Option<u64>) {
        match value {
            None => self.0.push(0),
            Some(v) => {
                self.0.push(1);
                self.u64(v);
            }
        }
    }
    fn labels(&mut self, labels: &Labels) {
        self.u64(labels.len() as u64);
        for (key, value) in labels.iter() {
            self.str(key);
            self.str(value);
        }
    }
    fn resources(&mut self, list: &ResourceList) {
        self.opt(list.cpu_millicores);
        self.opt(list.memory_bytes);
        self.opt(list.ephemeral_storage_bytes);
        self.opt(list.pods);
    }
    fn containers(&mut self, containers: &[Container]) {
        self.u64(containers.len() as u64);
        for container in containers {
            self.str(&container.name);
            self.str(&container.image);
            self.u64(container.image_pull_policy as u64);
            self.resources(&container.resources.requests);
            self.resources(&container.resources.limits);
            self.u64(container.ports.len() as u64);
            for port in &container.ports {
                self.str(port.name.as_deref().unwrap_or(""));
                self.u64(u64::from(port.container_port));
                self.u64(port.protocol as u64);
            }
        }
    }
}

/// `ComputeHash(template, collisionCount)`: FNV-32a over the template (and the collision
/// count, when set), rendered as the decimal hash through `SafeEncodeString`.
pub fn pod_template_hash(template: &PodTemplateSpec, collision_count: Option<u32>) -> String {
    let mut w = TemplateWriter(Vec::with_capacity(256));
    w.labels(&template.labels);
    w.labels(&template.annotations);
    let spec = &template.spec;
    w.opt(spec.node_name.as_ref().map(|_| 1));
    w.containers(&spec.containers);
    w.containers(&spec.init_containers);
    w.u64(spec.restart_policy as u64);
    w.u64(spec.termination_grace_period_seconds);
    w.u64(spec.tolerations.len() as u64);
    for toleration in spec.tolerations.iter() {
        w.str(&toleration.key);
        w.u64(toleration.operator as u64);
        w.str(&toleration.value);
        w.opt(toleration.effect.map(|e: TaintEffect| e as u64));
        w.opt(toleration.toleration_seconds);
    }
    w.labels(&spec.node_selector);
    w.u64(spec.priority as u32 as u64);
    w.str(&spec.scheduler_name);
    if let Some(count) = collision_count {
        w.0.extend_from_slice(&count.to_le_bytes());
    }
    safe_encode_string(&fnv32a(&w.0).to_string())
}

/// `EqualIgnoreHash`: the templates are equal once the pod-template-hash label is
/// ignored.
pub fn templates_equal_ignoring_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    fn without_hash(labels: &Labels) -> impl Iterator<Item = (&Str, &Str)> {
        labels
            .iter()
            .filter(|(key, _)| &***key != LABEL_POD_TEMPLATE_HASH)
    }
    a.annotations == b.annotations
        && a.spec == b.spec
        && without_hash(&a.labels).eq(without_hash(&b.labels))
}

// ---------------------------------------------------------------------------------------
// Rollout arithmetic (deployment_util.go)

/// `ResolveFenceposts`: maxSurge rounds up, maxUnavailable rounds down; if both come out
/// 0, maxUnavailable is 1.
pub fn resolve_fenceposts(
    max_surge: IntOrPercent,
    max_unavailable: IntOrPercent,
    replicas: u32,
) -> (u32, u32) {
    let surge = max_surge.scaled(replicas, true);
    let unavailable = max_unavailable.scaled(replicas, false);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// `MaxSurge`: 0 unless RollingUpdate.
pub fn max_surge(d: &Deployment) -> u32 {
    match d.spec.strategy {
        DeploymentStrategy::RollingUpdate {
            max_surge,
            max_unavailable,
        } => resolve_fenceposts(max_surge, max_unavailable, d.spec.replicas).0,
        DeploymentStrategy::Recreate => 0,
    }
}

/// `MaxUnavailable`: 0 unless RollingUpdate with replicas; never more than replicas.
pub fn max_unavailable(d: &Deployment) -> u32 {
    match d.spec.strategy {
        DeploymentStrategy::RollingUpdate {
            max_surge,
            max_unavailable,
        } if d.spec.replicas > 0 => resolve_fenceposts(max_surge, max_unavailable, d.spec.replicas)
            .1
            .min(d.spec.replicas),
        _ => 0,
    }
}

/// `NewRSNewReplicas`: how far the new ReplicaSet may grow now. `total` is the sum of
/// every ReplicaSet's spec.replicas (the new one's included).
pub fn new_rs_new_replicas(d: &Deployment, total: u32, new_replicas: u32) -> u32 {
    match d.spec.strategy {
        DeploymentStrategy::Recreate => d.spec.replicas,
        DeploymentStrategy::RollingUpdate { .. } => {
            let max_total = d.spec.replicas + max_surge(d);
            if total >= max_total {
                return new_replicas;
            }
            let scale_up = max_total - total;
            new_replicas + scale_up.min(d.spec.replicas.saturating_sub(new_replicas))
        }
    }
}

/// `DeploymentComplete`.
pub fn deployment_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    status.updated_replicas == d.spec.replicas
        && status.replicas == d.spec.replicas
        && status.available_replicas == d.spec.replicas
        && status.observed_generation >= d.metadata.generation
}

// ---------------------------------------------------------------------------------------
// Conditions (deployment_util.go, progress.go, sync.go)

/// `HasProgressDeadline`.
pub fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec.progress_deadline_seconds != PROGRESS_DEADLINE_DISABLED
}

/// A condition's timestamp: `metav1.Time` keeps whole seconds.
pub fn condition_time(now: SimTime) -> SimTime {
    let second = SimDuration::from_secs(1).as_nanos();
    SimTime::from_nanos(now.as_nanos() / second * second)
}

/// `NewDeploymentCondition`: both times are now.
pub fn new_condition(
    type_: DeploymentConditionType,
    status: ConditionStatus,
    reason: &str,
    message: String,
    now: SimTime,
) -> DeploymentCondition {
    let now = condition_time(now);
    DeploymentCondition {
        type_,
        status,
        reason: s(reason),
        message: s(&message),
        last_update_time: now,
        last_transition_time: now,
    }
}

/// Whether `status` already has a condition of `type_` with this status and reason, which
/// `set_condition` would leave as it is: a sync that changes nothing builds no message.
fn condition_holds(
    status: &DeploymentStatus,
    type_: DeploymentConditionType,
    condition_status: ConditionStatus,
    reason: &str,
) -> bool {
    status
        .condition(type_)
        .is_some_and(|c| c.status == condition_status && &*c.reason == reason)
}

/// `SetDeploymentCondition`: same status and reason → unchanged; same status → the
/// transition time is kept; the condition replaces any of its type.
pub fn set_condition(status: &mut DeploymentStatus, mut condition: DeploymentCondition) {
    if let Some(current) = status.condition(condition.type_) {
        if current.status == condition.status && current.reason == condition.reason {
            return;
        }
        if current.status == condition.status {
            condition.last_transition_time = current.last_transition_time;
        }
    }
    remove_condition(status, condition.type_);
    status.conditions.push(condition);
}

/// `RemoveDeploymentCondition`.
pub fn remove_condition(status: &mut DeploymentStatus, type_: DeploymentConditionType) {
    status.conditions.retain(|c| c.type_ != type_);
}

/// `DeploymentProgressing`: compared with the last written status, more updated
/// replicas, fewer old ones, more ready or more available.
pub fn deployment_progressing(old: &DeploymentStatus, new: &DeploymentStatus) -> bool {
    let old_olds = old.replicas.saturating_sub(old.updated_replicas);
    let new_olds = new.replicas.saturating_sub(new.updated_replicas);
    new.updated_replicas > old.updated_replicas
        || new_olds < old_olds
        || new.ready_replicas > old.ready_replicas
        || new.available_replicas > old.available_replicas
}

/// `DeploymentTimedOut`: the Progressing condition's lastUpdateTime plus the deadline is
/// strictly before now. A completed rollout never times out; a timed-out one stays so.
pub fn deployment_timed_out(d: &Deployment, status: &DeploymentStatus, now: SimTime) -> bool {
    if !has_progress_deadline(d) {
        return false;
    }
    let Some(condition) = status.condition(DeploymentConditionType::Progressing) else {
        return false;
    };
    match &*condition.reason {
        REASON_NEW_RS_AVAILABLE => false,
        REASON_TIMED_OUT => true,
        _ => {
            condition.last_update_time + SimDuration::from_secs(d.spec.progress_deadline_seconds)
                < now
        }
    }
}

/// `checkPausedConditions`: Progressing=Unknown DeploymentPaused while paused,
/// DeploymentResumed once resumed; a reported timeout is never overwritten.
pub fn set_paused_condition(d: &Deployment, status: &mut DeploymentStatus, now: SimTime) {
    if !has_progress_deadline(d) {
        return;
    }
    let reason = status
        .condition(DeploymentConditionType::Progressing)
        .map(|c| c.reason.clone());
    if reason.as_deref() == Some(REASON_TIMED_OUT) {
        return;
    }
    let paused_shown = reason.as_deref() == Some(REASON_PAUSED);
    let (reason, message) = match (d.spec.paused, paused_shown) {
        (true, false) => (REASON_PAUSED, "Deployment is paused"),
        (false, true) => (REASON_RESUMED, "Deployment is resumed"),
        _ => return,
    };
    set_condition(
        status,
        new_condition(
            DeploymentConditionType::Progressing,
            ConditionStatus::Unknown,
            reason,
            message.to_string(),
            now,
        ),
    );
}

/// `calculateStatus`'s Available condition: at least replicas − maxUnavailable available.
pub fn set_available_condition(d: &Deployment, status: &mut DeploymentStatus, now: SimTime) {
    let available = status.available_replicas >= d.spec.replicas - max_unavailable(d);
    let (reason, message) = if available {
        (REASON_MIN_AVAILABLE, "Deployment has minimum availability.")
    } else {
        (
            REASON_MIN_UNAVAILABLE,
            "Deployment does not have minimum availability.",
        )
    };
    status.available = ConditionStatus::from_bool(available);
    if condition_holds(
        status,
        DeploymentConditionType::Available,
        status.available,
        reason,
    ) {
        return;
    }
    set_condition(
        status,
        new_condition(
            DeploymentConditionType::Available,
            status.available,
            reason,
            message.to_string(),
            now,
        ),
    );
}

/// `syncRolloutStatus`'s Progressing condition. `old` is the last written status, `new`
/// the one being computed (its conditions start as the old ones); `new_rs` names the new
/// ReplicaSet.
pub fn set_progress_condition(
    d: &Deployment,
    old: &DeploymentStatus,
    new: &mut DeploymentStatus,
    new_rs: Option<&str>,
    now: SimTime,
) {
    if !has_progress_deadline(d) {
        remove_condition(new, DeploymentConditionType::Progressing);
        return;
    }
    let current = new.condition(DeploymentConditionType::Progressing).cloned();
    let complete = new.replicas == new.updated_replicas
        && current
            .as_ref()
            .is_some_and(|c| &*c.reason == REASON_NEW_RS_AVAILABLE);
    if complete {
        return;
    }
    let rs_message = |what: &str| match new_rs {
        Some(name) => format!("ReplicaSet \"{name}\" {what}."),
        None => format!("Deployment \"{}\" {what}.", d.metadata.name),
    };
    if deployment_complete(d, new) {
        if condition_holds(
            new,
            DeploymentConditionType::Progressing,
            ConditionStatus::True,
            REASON_NEW_RS_AVAILABLE,
        ) {
            return;
        }
        set_condition(
            new,
            new_condition(
                DeploymentConditionType::Progressing,
                ConditionStatus::True,
                REASON_NEW_RS_AVAILABLE,
                rs_message("has successfully progressed"),
                now,
            ),
        );
    } else if deployment_progressing(old, new) {
        // Progress refreshes lastUpdateTime even when the reason stays the same, so this
        // replaces the condition instead of going through `set_condition`.
        let mut condition = new_condition(
            DeploymentConditionType::Progressing,
            ConditionStatus::True,
            REASON_RS_UPDATED,
            rs_message("is progressing"),
            now,
        );
        if let Some(current) = &current
            && current.status == ConditionStatus::True
        {
            condition.last_transition_time = current.last_transition_time;
        }
        remove_condition(new, DeploymentConditionType::Progressing);
        new.conditions.push(condition);
    } else if deployment_timed_out(d, new, now)
        && !condition_holds(
            new,
            DeploymentConditionType::Progressing,
            ConditionStatus::False,
            REASON_TIMED_OUT,
        )
    {
        set_condition(
            new,
            new_condition(
                DeploymentConditionType::Progressing,
                ConditionStatus::False,
                REASON_TIMED_OUT,
                rs_message("has timed out progressing"),
                now,
            ),
        );
    }
}

/// When a sync that changed nothing must look again (`requeueStuckDeployment`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requeue {
    /// The progress deadline runs out after this long.
    After(SimDuration),
    /// Less than a second is left: again soon, through the rate limiter.
    RateLimited,
}

/// `requeueStuckDeployment`: a rollout with a deadline that is neither complete nor
/// timed out is looked at again when its deadline passes.
pub fn stuck_requeue(d: &Deployment, status: &DeploymentStatus, now: SimTime) -> Option<Requeue> {
    if !has_progress_deadline(d) || deployment_complete(d, status) {
        return None;
    }
    let condition = d.status.condition(DeploymentConditionType::Progressing)?;
    if &*condition.reason == REASON_TIMED_OUT {
        return None;
    }
    let deadline =
        condition.last_update_time + SimDuration::from_secs(d.spec.progress_deadline_seconds);
    let after = deadline.saturating_since(now);
    if after < SimDuration::from_secs(1) {
        Some(Requeue::RateLimited)
    } else {
        Some(Requeue::After(after))
    }
}

fn annotation_u32(meta: &ObjectMeta, key: &str) -> Option<u32> {
    meta.annotations
        .get(key)
        .and_then(|value| value.parse().ok())
}

fn revision(rs: &ReplicaSet) -> u64 {
    rs.metadata
        .annotations
        .get(REVISION_ANNOTATION)
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

/// `ReplicaSetsByCreationTimestamp`: oldest first, then by name.
fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    a.metadata
        .creation_timestamp
        .cmp(&b.metadata.creation_timestamp)
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Rounds `numerator / denominator` half away from zero (`math.Round`), for
/// non-negative values.
fn round_div(numerator: u64, denominator: u64) -> u64 {
    (2 * numerator + denominator) / (2 * denominator)
}

/// `getReplicaSetFraction`: how much a ReplicaSet should grow (or shrink) when the
/// Deployment's allowed size changes, in proportion to the size it had when the
/// max-replicas annotation was written.
pub fn replica_set_fraction(
    rs_replicas: u32,
    max_replicas_annotation: Option<u32>,
    d: &Deployment,
) -> i64 {
    if d.spec.replicas == 0 {
        return -i64::from(rs_replicas);
    }
    let deployment_replicas = u64::from(d.spec.replicas + max_surge(d));
    let annotated = match max_replicas_annotation {
        Some(value) if value > 0 => u64::from(value),
        _ => u64::from(d.status.replicas),
    };
    if annotated == 0 {
        return 0;
    }
    let new_size = round_div(u64::from(rs_replicas) * deployment_replicas, annotated);
    new_size as i64 - i64::from(rs_replicas)
}

// ---------------------------------------------------------------------------------------
// The plan of one sync

/// A ReplicaSet the Deployment controls, with what the controller needs of its pods.
#[derive(Clone, Debug)]
pub struct OwnedReplicaSet {
    pub rs: Rc<ReplicaSet>,
    /// Pods of this ReplicaSet not yet Succeeded or Failed (for Recreate).
    pub running_pods: u32,
}

/// A change to one ReplicaSet the sync decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScaleChange {
    Scaled { from: u32, to: u32 },
    Annotated,
}

/// What one Deployment sync writes.
#[derive(Clone, Debug, Default)]
pub struct DeploymentPlan {
    /// The new ReplicaSet, when it does not exist yet.
    pub create: Option<ReplicaSet>,
    /// Changed ReplicaSets (their resource_version is the precondition).
    pub updates: Vec<(ReplicaSet, ScaleChange)>,
    /// Old ReplicaSets beyond revisionHistoryLimit.
    pub deletes: Vec<Rc<ReplicaSet>>,
    /// The Deployment's new revision annotation, when it changes.
    pub revision: Option<Str>,
    pub status: DeploymentStatus,
    /// A sync that changed nothing during a rollout looks again when the deadline passes.
    pub requeue: Option<Requeue>,
    /// An old ReplicaSet became the new one again (a rollback): its name, old revision
    /// and new revision.
    pub rolled_back: Option<(Str, u64, u64)>,
}

/// Which part of `syncDeployment` a sync runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SyncPath {
    /// `syncStatusOnly`: the Deployment is being deleted.
    StatusOnly,
    /// `sync`: paused, or a scaling event.
    Scale,
    /// `rolloutRolling` / `rolloutRecreate`, which end in `syncRolloutStatus`.
    Rollout,
}

struct Slot {
    original: Option<Rc<ReplicaSet>>,
    current: Rc<ReplicaSet>,
    running_pods: u32,
}

impl Slot {
    fn replicas(&self) -> u32 {
        self.current.spec.replicas
    }
    fn status(&self) -> &ReplicaSetStatus {
        &self.current.status
    }
}

struct Planner<'a> {
    d: &'a Deployment,
    /// Sorted oldest first.
    slots: Vec<Slot>,
    new: Option<usize>,
    /// The new ReplicaSet is created by this sync.
    created: bool,
    deletes: Vec<Rc<ReplicaSet>>,
    rolled_back: Option<(Str, u64, u64)>,
}

impl Planner<'_> {
    fn olds(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&i| Some(i) != self.new)
            .collect()
    }

    fn max_old_revision(&self) -> u64 {
        self.olds()
            .iter()
            .map(|&i| revision(&self.slots[i].current))
            .max()
            .unwrap_or(0)
    }

    fn total_replicas(&self) -> u32 {
        self.slots.iter().map(Slot::replicas).sum()
    }

    /// The existing new ReplicaSet's revision and minReadySeconds follow the Deployment
    /// (`getNewReplicaSet` for an existing one). An old ReplicaSet that is the new one
    /// again (a rollback) gets the next revision and keeps its old one in the
    /// revision-history annotation (`SetNewReplicaSetAnnotations`).
    fn sync_new_revision(&mut self) {
        let Some(new) = self.new else { return };
        let wanted = self.max_old_revision() + 1;
        let min_ready_seconds = self.d.spec.min_ready_seconds;
        let slot = &mut self.slots[new];
        let had_revision = slot
            .current
            .metadata
            .annotations
            .get(REVISION_ANNOTATION)
            .is_some();
        let old_revision = revision(&slot.current);
        if old_revision < wanted || slot.current.spec.min_ready_seconds != min_ready_seconds {
            let rs = Rc::make_mut(&mut slot.current);
            if old_revision < wanted {
                rs.metadata
                    .annotations
                    .insert(s(REVISION_ANNOTATION), s(&wanted.to_string()));
                if had_revision {
                    let history = rs
                        .metadata
                        .annotations
                        .get(REVISION_HISTORY_ANNOTATION)
                        .map(|h| h.to_string());
                    if let Some(history) = append_revision_history(history.as_deref(), old_revision)
                    {
                        rs.metadata
                            .annotations
                            .insert(s(REVISION_HISTORY_ANNOTATION), s(&history));
                    }
                    self.rolled_back = Some((rs.metadata.name.clone(), old_revision, wanted));
                }
            }
            rs.spec.min_ready_seconds = min_ready_seconds;
        }
    }

    /// Creates the new ReplicaSet (`getNewReplicaSet` with createIfNotExisted).
    fn create_new(&mut self) {
        assert!(self.new.is_none());
        let d = self.d;
        let hash = pod_template_hash(&d.spec.template, None);
        let mut template = (*d.spec.template).clone();
        template.labels.insert(s(LABEL_POD_TEMPLATE_HASH), s(&hash));
        let mut selector = d.spec.selector.clone();
        selector
            .match_labels
            .insert(s(LABEL_POD_TEMPLATE_HASH), s(&hash));
        let mut metadata = ObjectMeta::named(
            &d.metadata.namespace,
            &format!("{}-{hash}", d.metadata.name),
        );
        metadata.labels = template.labels.clone();
        metadata.owner_references = vec![OwnerReference {
            kind: Kind::Deployment,
            name: d.metadata.name.clone(),
            uid: d.metadata.uid,
            controller: true,
            block_owner_deletion: true,
        }];
        let revision = self.max_old_revision() + 1;
        metadata
            .annotations
            .insert(s(REVISION_ANNOTATION), s(&revision.to_string()));
        set_replicas_annotations(&mut metadata, d);
        let mut rs = ReplicaSet {
            metadata,
            spec: ReplicaSetSpec {
                replicas: 0,
                selector,
                template: Rc::new(template),
                min_ready_seconds: d.spec.min_ready_seconds,
            },
            status: ReplicaSetStatus::default(),
        };
        rs.spec.replicas = new_rs_new_replicas(d, self.total_replicas(), 0);
        self.slots.push(Slot {
            original: None,
            current: Rc::new(rs),
            running_pods: 0,
        });
        self.new = Some(self.slots.len() - 1);
        self.created = true;
    }

    /// `scaleReplicaSet`: new size and the replicas annotations.
    fn scale(&mut self, index: usize, replicas: u32) {
        let d = self.d;
        let slot = &mut self.slots[index];
        let needs_annotations = annotation_u32(&slot.current.metadata, DESIRED_REPLICAS_ANNOTATION)
            != Some(d.spec.replicas)
            || annotation_u32(&slot.current.metadata, MAX_REPLICAS_ANNOTATION)
                != Some(d.spec.replicas + max_surge(d));
        if slot.current.spec.replicas == replicas && !needs_annotations {
            return;
        }
        let rs = Rc::make_mut(&mut slot.current);
        rs.spec.replicas = replicas;
        set_replicas_annotations(&mut rs.metadata, d);
    }

    /// `scaleReplicaSetAndRecordEvent`: only when the size changes.
    fn scale_if_resized(&mut self, index: usize, replicas: u32) -> bool {
        if self.slots[index].replicas() == replicas {
            return false;
        }
        self.scale(index, replicas);
        true
    }

    fn active(&self, indices: impl Iterator<Item = usize>) -> Vec<usize> {
        indices.filter(|&i| self.slots[i].replicas() > 0).collect()
    }

    /// `isScalingEvent`: an active ReplicaSet was sized for another replica count.
    fn is_scaling_event(&self) -> bool {
        self.active(0..self.slots.len()).iter().any(|&i| {
            annotation_u32(&self.slots[i].current.metadata, DESIRED_REPLICAS_ANNOTATION)
                .is_some_and(|desired| desired != self.d.spec.replicas)
        })
    }

    /// `FindActiveOrLatest`.
    fn active_or_latest(&self) -> Option<usize> {
        let mut olds = self.olds();
        if self.new.is_none() && olds.is_empty() {
            return None;
        }
        olds.reverse(); // newest first
        let all: Vec<usize> = olds.iter().copied().chain(self.new).collect();
        let active = self.active(all.iter().copied());
        match active.len() {
            0 => self.new.or(olds.first().copied()),
            1 => Some(active[0]),
            _ => None,
        }
    }

    /// `IsSaturated`.
    fn new_is_saturated(&self) -> bool {
        self.new.is_some_and(|new| {
            let slot = &self.slots[new];
            let replicas = self.d.spec.replicas;
            slot.replicas() == replicas
                && annotation_u32(&slot.current.metadata, DESIRED_REPLICAS_ANNOTATION)
                    == Some(replicas)
                && slot.status().available_replicas == replicas
        })
    }

    /// `scale`: a scaling event (or a paused Deployment).
    fn scale_for_event(&mut self) {
        let replicas = self.d.spec.replicas;
        if let Some(target) = self.active_or_latest() {
            self.scale_if_resized(target, replicas);
            return;
        }
        if self.new_is_saturated() {
            for old in self.active(self.olds().into_iter()) {
                self.scale_if_resized(old, 0);
            }
            return;
        }
        if !matches!(
            self.d.spec.strategy,
            DeploymentStrategy::RollingUpdate { .. }
        ) {
            return;
        }
        // Proportional scaling across the active ReplicaSets.
        let mut all = self.active(self.olds().into_iter().chain(self.new));
        let all_replicas = i64::from(all.iter().map(|&i| self.slots[i].replicas()).sum::<u32>());
        let allowed = if replicas > 0 {
            i64::from(replicas + max_surge(self.d))
        } else {
            0
        };
        let to_add = allowed - all_replicas;
        let slots = &self.slots;
        match to_add.cmp(&0) {
            // Larger first; newer first among equals.
            Ordering::Greater => all.sort_by(|&a, &b| {
                slots[b]
                    .replicas()
                    .cmp(&slots[a].replicas())
                    .then_with(|| by_creation(&slots[b].current, &slots[a].current))
            }),
            // Larger first; older first among equals.
            Ordering::Less => all.sort_by(|&a, &b| {
                slots[b]
                    .replicas()
                    .cmp(&slots[a].replicas())
                    .then_with(|| by_creation(&slots[a].current, &slots[b].current))
            }),
            Ordering::Equal => {}
        }
        let mut added: i64 = 0;
        let mut sizes = Vec::with_capacity(all.len());
        for &index in &all {
            let slot = &self.slots[index];
            let current = i64::from(slot.replicas());
            if to_add == 0 || current == 0 || to_add == added {
                sizes.push(current);
                continue;
            }
            let fraction = replica_set_fraction(
                slot.replicas(),
                annotation_u32(&slot.current.metadata, MAX_REPLICAS_ANNOTATION),
                self.d,
            );
            let allowance = to_add - added;
            let proportion = if to_add > 0 {
                fraction.min(allowance)
            } else {
                fraction.max(allowance)
            };
            sizes.push(current + proportion);
            added += proportion;
        }
        for (position, (&index, size)) in all.iter().zip(sizes).enumerate() {
            let mut size = size;
            if position == 0 && to_add != 0 {
                size = (size + to_add - added).max(0);
            }
            self.scale(index, size as u32);
        }
    }

    /// `reconcileNewReplicaSet`.
    fn reconcile_new(&mut self) -> bool {
        let new = self.new.expect("rolling update has a new ReplicaSet");
        let replicas = self.d.spec.replicas;
        let current = self.slots[new].replicas();
        if current == replicas {
            return false;
        }
        if current > replicas {
            return self.scale_if_resized(new, replicas);
        }
        let wanted = new_rs_new_replicas(self.d, self.total_replicas(), current);
        self.scale_if_resized(new, wanted)
    }

    /// `reconcileOldReplicaSets`: first scale down old ReplicaSets' unhealthy replicas,
    /// then old ones while enough pods stay available.
    fn reconcile_olds(&mut self) -> bool {
        let new = self.new.expect("rolling update has a new ReplicaSet");
        let olds = self.active(self.olds().into_iter());
        let old_pods: u32 = olds.iter().map(|&i| self.slots[i].replicas()).sum();
        if old_pods == 0 {
            return false;
        }
        let all_pods = i64::from(self.total_replicas());
        let min_available = i64::from(self.d.spec.replicas - max_unavailable(self.d));
        let new_slot = &self.slots[new];
        let new_unavailable =
            i64::from(new_slot.replicas()) - i64::from(new_slot.status().available_replicas);
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return false;
        }
        // cleanupUnhealthyReplicas (olds are oldest first).
        let mut cleaned: i64 = 0;
        for &old in &olds {
            if cleaned >= max_scaled_down {
                break;
            }
            let replicas = i64::from(self.slots[old].replicas());
            let available = i64::from(self.slots[old].status().available_replicas);
            if replicas == 0 || replicas <= available {
                continue;
            }
            let down = (max_scaled_down - cleaned).min(replicas - available);
            self.scale(old, (replicas - down) as u32);
            cleaned += down;
        }
        // scaleDownOldReplicaSetsForRollingUpdate.
        let available: i64 = self
            .slots
            .iter()
            .map(|slot| i64::from(slot.status().available_replicas))
            .sum();
        let mut scaled: i64 = 0;
        if available > min_available {
            let wanted = available - min_available;
            for &old in &olds {
                if scaled >= wanted {
                    break;
                }
                let replicas = i64::from(self.slots[old].replicas());
                if replicas == 0 {
                    continue;
                }
                let down = replicas.min(wanted - scaled);
                self.scale(old, (replicas - down) as u32);
                scaled += down;
            }
        }
        cleaned + scaled > 0
    }

    fn rollout_rolling(&mut self) {
        if self.new.is_none() {
            self.create_new();
        }
        if self.reconcile_new() {
            return;
        }
        if self.reconcile_olds() {
            return;
        }
        if deployment_complete(self.d, &self.d.status) {
            self.cleanup();
        }
    }

    fn rollout_recreate(&mut self) {
        let mut scaled_down = false;
        for old in self.active(self.olds().into_iter()) {
            scaled_down |= self.scale_if_resized(old, 0);
        }
        if scaled_down {
            return;
        }
        // oldPodsRunning: old ReplicaSets still report pods, or pods of them still run.
        let olds = self.olds();
        let old_pods_running = olds
            .iter()
            .any(|&i| self.slots[i].status().replicas > 0 || self.slots[i].running_pods > 0);
        if old_pods_running {
            return;
        }
        if self.new.is_none() {
            self.create_new();
        }
        let new = self.new.expect("created above");
        self.scale_if_resized(new, self.d.spec.replicas);
        if deployment_complete(self.d, &self.d.status) {
            self.cleanup();
        }
    }

    /// `cleanupDeployment`: delete the oldest old ReplicaSets beyond revisionHistoryLimit
    /// that have scaled to zero.
    fn cleanup(&mut self) {
        let mut cleanable: Vec<&Slot> = self
            .olds()
            .into_iter()
            .map(|i| &self.slots[i])
            .filter(|slot| slot.original.is_some() && !slot.current.metadata.is_terminating())
            .collect();
        let limit = self.d.spec.revision_history_limit as usize;
        if cleanable.len() <= limit {
            return;
        }
        let diff = cleanable.len() - limit;
        cleanable.sort_by(|a, b| {
            revision(&a.current)
                .cmp(&revision(&b.current))
                .then_with(|| by_creation(&a.current, &b.current))
        });
        let deletes: Vec<Rc<ReplicaSet>> = cleanable
            .into_iter()
            .take(diff)
            .filter(|slot| {
                let rs = &slot.current;
                rs.status.replicas == 0
                    && rs.spec.replicas == 0
                    && rs.metadata.generation <= rs.status.observed_generation
            })
            .map(|slot| slot.original.clone().expect("filtered"))
            .collect();
        self.deletes = deletes;
    }

    /// The status this sync writes: `checkPausedConditions`, the new ReplicaSet's
    /// Progressing condition from `getNewReplicaSet`, `calculateStatus`, and on the
    /// rollout path `syncRolloutStatus`.
    fn status(&self, path: SyncPath, now: SimTime) -> DeploymentStatus {
        let d = self.d;
        let sum = |f: fn(&Slot) -> u32| self.slots.iter().map(f).sum::<u32>();
        let available = sum(|slot| slot.status().available_replicas);
        let total = sum(Slot::replicas);
        let mut status = DeploymentStatus {
            observed_generation: d.metadata.generation,
            replicas: sum(|slot| slot.status().replicas),
            updated_replicas: self.new.map_or(0, |new| self.slots[new].status().replicas),
            ready_replicas: sum(|slot| slot.status().ready_replicas),
            available_replicas: available,
            unavailable_replicas: total.saturating_sub(available),
            available: d.status.available,
            conditions: d.status.conditions.clone(),
        };
        if path != SyncPath::StatusOnly {
            set_paused_condition(d, &mut status, now);
        }
        let new_name = self
            .new
            .map(|new| self.slots[new].current.metadata.name.clone());
        if let Some(name) = &new_name
            && has_progress_deadline(d)
        {
            if self.created {
                let condition = new_condition(
                    DeploymentConditionType::Progressing,
                    ConditionStatus::True,
                    REASON_NEW_RS_CREATED,
                    format!("Created new replica set \"{name}\""),
                    now,
                );
                set_condition(&mut status, condition);
            } else if status
                .condition(DeploymentConditionType::Progressing)
                .is_none()
            {
                let condition = new_condition(
                    DeploymentConditionType::Progressing,
                    ConditionStatus::True,
                    REASON_FOUND_NEW_RS,
                    format!("Found new replica set \"{name}\""),
                    now,
                );
                set_condition(&mut status, condition);
            }
        }
        set_available_condition(d, &mut status, now);
        if path == SyncPath::Rollout {
            set_progress_condition(d, &d.status, &mut status, new_name.as_deref(), now);
        }
        status
    }

    fn finish(self, path: SyncPath, now: SimTime) -> DeploymentPlan {
        let status = self.status(path, now);
        let requeue = (path == SyncPath::Rollout && status == self.d.status)
            .then(|| stuck_requeue(self.d, &status, now))
            .flatten();
        let revision = self.new.and_then(|new| {
            let wanted = self.slots[new]
                .current
                .metadata
                .annotations
                .get(REVISION_ANNOTATION)
                .cloned()?;
            (self.d.metadata.annotations.get(REVISION_ANNOTATION) != Some(&wanted))
                .then_some(wanted)
        });
        let mut plan = DeploymentPlan {
            deletes: self.deletes,
            revision,
            status,
            requeue,
            rolled_back: self.rolled_back,
            ..DeploymentPlan::default()
        };
        for slot in self.slots {
            match slot.original {
                None => plan.create = Some((*slot.current).clone()),
                Some(original) if !Rc::ptr_eq(&original, &slot.current) => {
                    let change = if original.spec.replicas != slot.current.spec.replicas {
                        ScaleChange::Scaled {
                            from: original.spec.replicas,
                            to: slot.current.spec.replicas,
                        }
                    } else {
                        ScaleChange::Annotated
                    };
                    plan.updates.push(((*slot.current).clone(), change));
                }
                Some(_) => {}
            }
        }
        plan
    }
}

fn set_replicas_annotations(meta: &mut ObjectMeta, d: &Deployment) {
    meta.annotations.insert(
        s(DESIRED_REPLICAS_ANNOTATION),
        s(&d.spec.replicas.to_string()),
    );
    meta.annotations.insert(
        s(MAX_REPLICAS_ANNOTATION),
        s(&(d.spec.replicas + max_surge(d)).to_string()),
    );
}

/// `SetNewReplicaSetAnnotations`' revision history: `old` appended, the oldest entries
/// dropped to stay within the length limit; `None` when even that cannot fit.
pub fn append_revision_history(history: Option<&str>, old: u64) -> Option<String> {
    let old = old.to_string();
    let Some(history) = history.filter(|h| !h.is_empty()) else {
        return Some(old);
    };
    let entries: Vec<&str> = history.split(',').collect();
    let mut length = history.len() + old.len() + 1;
    let mut start = 0;
    while length > REVISION_HISTORY_CHARS_MAX && start < entries.len() {
        length -= entries[start].len() + 1;
        start += 1;
    }
    if length > REVISION_HISTORY_CHARS_MAX {
        return None;
    }
    let mut kept: Vec<&str> = entries[start..].to_vec();
    kept.push(&old);
    Some(kept.join(","))
}

/// One sync of `d` (`syncDeployment`) over the ReplicaSets it controls, at `now` (the
/// controller's host clock).
pub fn plan_deployment(d: &Deployment, owned: &[OwnedReplicaSet], now: SimTime) -> DeploymentPlan {
    let mut slots: Vec<Slot> = owned
        .iter()
        .map(|o| Slot {
            original: Some(o.rs.clone()),
            current: o.rs.clone(),
            running_pods: o.running_pods,
        })
        .collect();
    slots.sort_by(|a, b| by_creation(&a.current, &b.current));
    let new = slots.iter().position(|slot| {
        templates_equal_ignoring_hash(&slot.current.spec.template, &d.spec.template)
    });
    let mut planner = Planner {
        d,
        slots,
        new,
        created: false,
        deletes: Vec::new(),
        rolled_back: None,
    };
    if d.metadata.is_terminating() {
        return planner.finish(SyncPath::StatusOnly, now);
    }
    planner.sync_new_revision();
    let path = if d.spec.paused {
        // A paused Deployment only scales: no rollout, no deadline.
        planner.scale_for_event();
        planner.cleanup();
        SyncPath::Scale
    } else if planner.is_scaling_event() {
        planner.scale_for_event();
        SyncPath::Scale
    } else {
        match d.spec.strategy {
            DeploymentStrategy::Recreate => planner.rollout_recreate(),
            DeploymentStrategy::RollingUpdate { .. } => planner.rollout_rolling(),
        }
        SyncPath::Rollout
    };
    planner.finish(path, now)
}

fn deployment_name(key: &NsName) -> String {
    format!("{}/{}", key.0, key.1)
}

impl ControllerManager {
    pub(super) fn on_deployment_delta(
        &mut self,
        delta: Delta<Deployment>,
        cx: &mut Context<'_, Msg>,
    ) {
        let key = self.observe_written(&delta);
        self.enqueue(WorkKey::Deployment(key), cx);
    }

    /// Recreate waits for old pods to be gone: a deleted pod wakes its Deployment.
    pub(super) fn deployment_on_pod(
        &mut self,
        old: Option<&Rc<Pod>>,
        new: Option<&Rc<Pod>>,
        cx: &mut Context<'_, Msg>,
    ) {
        let gone = match (old, new) {
            (Some(pod), None) => pod,
            (Some(old), Some(new))
                if !matches!(old.status.phase, PodPhase::Succeeded | PodPhase::Failed)
                    && matches!(new.status.phase, PodPhase::Succeeded | PodPhase::Failed) =>
            {
                new
            }
            _ => return,
        };
        let Some(owner) = gone.metadata.controller_ref() else {
            return;
        };
        if owner.kind != Kind::ReplicaSet {
            return;
        }
        let Some(rs) = self
            .informers
            .replicasets
            .get(&gone.metadata.namespace, &owner.name)
        else {
            return;
        };
        let Some(deployment) = rs.metadata.controller_ref() else {
            return;
        };
        let key = ns_name(&rs.metadata.namespace, &deployment.name);
        let recreate = self
            .informers
            .deployments
            .get(&key.0, &key.1)
            .is_some_and(|d| matches!(d.spec.strategy, DeploymentStrategy::Recreate));
        if recreate {
            self.enqueue(WorkKey::Deployment(key), cx);
        }
    }

    pub(super) fn sync_deployment(&mut self, key: &NsName, cx: &mut Context<'_, Msg>) {
        let Some(d) = self.informers.deployments.get(&key.0, &key.1).cloned() else {
            return;
        };
        let owned: Vec<OwnedReplicaSet> = self
            .replicasets_by_owner
            .get(&d.metadata.uid)
            .filter_map(|name| self.informers.replicasets.get(&key.0, name))
            .filter(|rs| {
                rs.metadata
                    .controller_ref()
                    .is_some_and(|owner| owner.uid == d.metadata.uid)
            })
            .map(|rs| OwnedReplicaSet {
                rs: rs.clone(),
                running_pods: self.pods.owner_counts(rs.metadata.uid).unfinished,
            })
            .collect();
        // Wait for the cache to show this controller's own last writes.
        let deployment_ref = (Kind::Deployment, key.0.clone(), key.1.clone());
        let stale = !self.writes.fresh(&deployment_ref)
            || owned.iter().any(|o| {
                !self
                    .writes
                    .fresh(&(Kind::ReplicaSet, key.0.clone(), o.rs.metadata.name.clone()))
            });
        if stale {
            return;
        }
        let plan = plan_deployment(&d, &owned, cx.host_clock());
        let created = plan.create.is_some();
        let work = WorkKey::Deployment(key.clone());
        let rs_ref = |rs: &ReplicaSet| {
            (
                Kind::ReplicaSet,
                rs.metadata.namespace.clone(),
                rs.metadata.name.clone(),
            )
        };
        if let Some((rs, from, to)) = &plan.rolled_back {
            cx.record("step", || {
                format!(
                    "deployment {}: rolling back to replicaset {rs}: its revision {from} becomes {to}",
                    deployment_name(key)
                )
            });
        }
        if let Some(rs) = plan.create {
            self.stats.replicasets_created += 1;
            cx.record("step", || {
                format!(
                    "deployment {}: created replicaset {} (revision {}) with {} replicas",
                    deployment_name(key),
                    rs.metadata.name,
                    rs.metadata
                        .annotations
                        .get(REVISION_ANNOTATION)
                        .map_or("?", |r| r),
                    rs.spec.replicas
                )
            });
            let object = rs_ref(&rs);
            self.write(work.clone(), object, ApiVerb::Create(Object::from(rs)), cx);
        }
        for (rs, change) in plan.updates {
            if let ScaleChange::Scaled { from, to } = change {
                cx.record("step", || {
                    format!(
                        "deployment {}: scaled replicaset {} from {from} to {to}",
                        deployment_name(key),
                        rs.metadata.name
                    )
                });
            }
            let object = rs_ref(&rs);
            self.write(work.clone(), object, ApiVerb::Update(Object::from(rs)), cx);
        }
        for rs in plan.deletes {
            cx.record("detail", || {
                format!(
                    "deployment {}: deleting old replicaset {} (revision history limit)",
                    deployment_name(key),
                    rs.metadata.name
                )
            });
            let verb = ApiVerb::Delete {
                key: rs.key(),
                grace_period_seconds: None,
                uid_precondition: rs.metadata.uid,
                propagation_policy: None,
            };
            self.write(work.clone(), rs_ref(&rs), verb, cx);
        }
        match plan.requeue {
            Some(Requeue::After(after)) => self.enqueue_after(work.clone(), after, cx),
            Some(Requeue::RateLimited) => self.retry(work.clone(), cx),
            None => {}
        }
        let status_changed = plan.status != d.status;
        if status_changed {
            record_conditions(key, &d, &plan.status, cx);
        }
        // One write to the Deployment per sync keeps the resourceVersion precondition
        // valid. The sync that creates the new ReplicaSet writes the status (its
        // NewReplicaSetCreated condition); otherwise a new revision annotation goes
        // first and the status follows in the sync its update triggers.
        if let Some(revision) = plan.revision
            && !(created && status_changed)
        {
            let mut updated = (*d).clone();
            updated
                .metadata
                .annotations
                .insert(s(REVISION_ANNOTATION), revision);
            let verb = ApiVerb::Update(Object::from(updated));
            self.write(work, deployment_ref, verb, cx);
        } else if status_changed {
            let mut updated = (*d).clone();
            updated.status = plan.status;
            let verb = ApiVerb::UpdateStatus(Object::from(updated));
            self.write(work, deployment_ref, verb, cx);
        }
    }
}

/// Step records for the conditions a status write changes: availability, and the
/// Progressing reasons a reader follows (complete, timed out, paused, resumed).
fn record_conditions(
    key: &NsName,
    d: &Deployment,
    status: &DeploymentStatus,
    cx: &mut Context<'_, Msg>,
) {
    if status.available != d.status.available {
        let needed = d.spec.replicas - max_unavailable(d);
        cx.record("step", || {
            let state = match status.available {
                ConditionStatus::True => "available",
                _ => "unavailable",
            };
            format!(
                "deployment {}: {state} ({} of {} replicas available, {needed} needed)",
                deployment_name(key),
                status.available_replicas,
                d.spec.replicas
            )
        });
    }
    let progressing = |status: &DeploymentStatus| {
        status
            .condition(DeploymentConditionType::Progressing)
            .map(|c| (c.status, c.reason.clone(), c.message.clone()))
    };
    let (old, new) = (progressing(&d.status), progressing(status));
    let Some((condition, reason, message)) = new else {
        return;
    };
    if old.as_ref().map(|(_, reason, _)| reason) == Some(&reason) {
        return;
    }
    let kind = match &*reason {
        REASON_NEW_RS_AVAILABLE | REASON_TIMED_OUT | REASON_PAUSED | REASON_RESUMED => "step",
        _ => "detail",
    };
    cx.record(kind, || {
        format!(
            "deployment {}: Progressing={} {reason}: {message}",
            deployment_name(key),
            condition.name()
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::LabelSelector;
    use crate::scheduler::plugins::tests::pod_with;

    fn deployment(replicas: u32, strategy: DeploymentStrategy) -> Deployment {
        let labels = Labels::from_pairs([("app", "web")]);
        let pod = pod_with(vec![], vec![]);
        let mut metadata = ObjectMeta::named("default", "web");
        metadata.uid = 1;
        metadata.generation = 1;
        Deployment {
            metadata,
            spec: crate::api::DeploymentSpec {
                replicas,
                selector: LabelSelector::from_labels(labels.clone()),
                template: Rc::new(PodTemplateSpec {
                    labels,
                    annotations: Labels::new(),
                    spec: pod.spec,
                }),
                strategy,
                min_ready_seconds: 0,
                revision_history_limit: 10,
                progress_deadline_seconds: 600,
                paused: false,
            },
            status: DeploymentStatus::default(),
        }
    }

    fn rolling(surge: IntOrPercent, unavailable: IntOrPercent) -> DeploymentStrategy {
        DeploymentStrategy::RollingUpdate {
            max_surge: surge,
            max_unavailable: unavailable,
        }
    }

    fn default_rolling() -> DeploymentStrategy {
        rolling(IntOrPercent::Percent(25), IntOrPercent::Percent(25))
    }

    #[test]
    fn fnv32a_matches_the_published_vectors() {
        assert_eq!(fnv32a(b""), 0x811c_9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c_292c);
        assert_eq!(fnv32a(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn safe_encoding_uses_the_upstream_alphabet() {
        // '0' is byte 48 → 48 % 27 = 21 → '4'; '9' is 57 → 3 → 'f'.
        assert_eq!(safe_encode_string("09"), "4f");
        let hash = pod_template_hash(&deployment(3, default_rolling()).spec.template, None);
        assert!(
            hash.chars()
                .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c))
        );
        assert!(!hash.is_empty() && hash.len() <= 10);
    }

    #[test]
    fn template_hash_is_stable_and_sensitive() {
        let d = deployment(3, default_rolling());
        let first = pod_template_hash(&d.spec.template, None);
        // Same template, rebuilt: same hash.
        let again = deployment(5, default_rolling());
        assert_eq!(pod_template_hash(&again.spec.template, None), first);
        // Pinned: a change to the encoding changes every ReplicaSet name.
        assert_eq!(first, GOLDEN_HASH);
        // Another image, another hash; a collision count changes it too.
        let mut changed = (*d.spec.template).clone();
        let mut containers: Vec<Container> = changed.spec.containers.to_vec();
        containers.push(Container {
            name: s("sidecar"),
            image: s("busybox"),
            image_pull_policy: Default::default(),
            ..Container::default()
        });
        changed.spec.containers = containers.into();
        assert_ne!(pod_template_hash(&changed, None), first);
        assert_ne!(pod_template_hash(&d.spec.template, Some(1)), first);
    }
    const GOLDEN_HASH: &str = "ddf6b755c";

    #[test]
    fn fenceposts_round_surge_up_and_unavailable_down() {
        use IntOrPercent::{Int, Percent};
        assert_eq!(resolve_fenceposts(Percent(25), Percent(25), 10), (3, 2));
        assert_eq!(resolve_fenceposts(Percent(25), Percent(25), 3), (1, 0));
        assert_eq!(resolve_fenceposts(Percent(25), Percent(25), 1), (1, 0));
        assert_eq!(resolve_fenceposts(Int(0), Int(0), 5), (0, 1));
        assert_eq!(resolve_fenceposts(Percent(0), Percent(10), 5), (0, 1));
        assert_eq!(resolve_fenceposts(Int(2), Percent(50), 5), (2, 2));
        let d = deployment(2, rolling(Int(0), Int(5)));
        assert_eq!(max_unavailable(&d), 2);
        assert_eq!(
            max_unavailable(&deployment(4, DeploymentStrategy::Recreate)),
            0
        );
    }

    #[test]
    fn new_replica_set_grows_within_the_surge() {
        let d = deployment(10, default_rolling()); // surge 3
        // Nothing yet: straight to 10.
        assert_eq!(new_rs_new_replicas(&d, 0, 0), 10);
        // Old has 10, new 0: max total 13 → new may reach 3.
        assert_eq!(new_rs_new_replicas(&d, 10, 0), 3);
        // At the ceiling already: unchanged.
        assert_eq!(new_rs_new_replicas(&d, 13, 3), 3);
        // Old 5, new 5: 3 more, capped by replicas − new.
        assert_eq!(new_rs_new_replicas(&d, 10, 5), 8);
        assert_eq!(
            new_rs_new_replicas(&deployment(4, DeploymentStrategy::Recreate), 9, 1),
            4
        );
    }

    #[test]
    fn fractions_round_to_the_annotated_proportion() {
        let mut d = deployment(20, rolling(IntOrPercent::Int(0), IntOrPercent::Int(1)));
        // Was 10 (max-replicas 10), now 20: an RS of 4 grows to 8.
        assert_eq!(replica_set_fraction(4, Some(10), &d), 4);
        // 3 × 20 / 10 = 6.
        assert_eq!(replica_set_fraction(3, Some(10), &d), 3);
        // 1 × 20 / 8 = 2.5 → 3 (half away from zero).
        assert_eq!(replica_set_fraction(1, Some(8), &d), 2);
        // No annotation: the Deployment's status.replicas; zero → no change.
        d.status.replicas = 0;
        assert_eq!(replica_set_fraction(4, None, &d), 0);
        d.spec.replicas = 0;
        assert_eq!(replica_set_fraction(4, Some(10), &d), -4);
    }

    fn at(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    /// Materializes a plan as the API server would: creates get a uid and time.
    fn apply(owned: &mut Vec<OwnedReplicaSet>, plan: &DeploymentPlan, now: u64) {
        if let Some(rs) = &plan.create {
            let mut rs = rs.clone();
            rs.metadata.uid = 100 + owned.len() as u64;
            rs.metadata.creation_timestamp = at(now);
            rs.metadata.generation = 1;
            owned.push(OwnedReplicaSet {
                rs: Rc::new(rs),
                running_pods: 0,
            });
        }
        for (update, _) in &plan.updates {
            let slot = owned
                .iter_mut()
                .find(|o| o.rs.metadata.name == update.metadata.name)
                .unwrap();
            slot.rs = Rc::new(update.clone());
        }
    }

    /// Plans one sync and applies it.
    fn step(d: &Deployment, owned: &mut Vec<OwnedReplicaSet>, now: u64) -> DeploymentPlan {
        let plan = plan_deployment(d, owned, at(100));
        apply(owned, &plan, now);
        plan
    }

    /// Every ReplicaSet's pods come up and become available at once.
    fn settle(owned: &mut [OwnedReplicaSet]) {
        for o in owned.iter_mut() {
            let rs = Rc::make_mut(&mut o.rs);
            let n = rs.spec.replicas;
            rs.status = ReplicaSetStatus {
                observed_generation: rs.metadata.generation,
                replicas: n,
                ready_replicas: n,
                available_replicas: n,
            };
            o.running_pods = n;
        }
    }

    fn sizes(owned: &[OwnedReplicaSet]) -> Vec<u32> {
        owned.iter().map(|o| o.rs.spec.replicas).collect()
    }

    #[test]
    fn first_sync_creates_the_replica_set_with_revision_one() {
        let d = deployment(3, default_rolling());
        let plan = plan_deployment(&d, &[], at(100));
        let rs = plan.create.expect("a new ReplicaSet");
        let hash = pod_template_hash(&d.spec.template, None);
        assert_eq!(&*rs.metadata.name, format!("web-{hash}"));
        assert_eq!(rs.spec.replicas, 3);
        assert_eq!(
            rs.metadata
                .labels
                .get(LABEL_POD_TEMPLATE_HASH)
                .map(|h| &**h),
            Some(&*hash)
        );
        assert_eq!(
            rs.spec
                .selector
                .match_labels
                .get(LABEL_POD_TEMPLATE_HASH)
                .map(|h| &**h),
            Some(&*hash)
        );
        assert_eq!(
            rs.spec
                .template
                .labels
                .get(LABEL_POD_TEMPLATE_HASH)
                .map(|h| &**h),
            Some(&*hash)
        );
        let annotation = |key| rs.metadata.annotations.get(key).map(|v| v.to_string());
        assert_eq!(annotation(REVISION_ANNOTATION).as_deref(), Some("1"));
        assert_eq!(
            annotation(DESIRED_REPLICAS_ANNOTATION).as_deref(),
            Some("3")
        );
        assert_eq!(annotation(MAX_REPLICAS_ANNOTATION).as_deref(), Some("4"));
        let owner = rs.metadata.controller_ref().unwrap();
        assert_eq!((owner.kind, owner.uid), (Kind::Deployment, 1));
        assert_eq!(plan.revision.as_deref(), Some("1"));
    }

    #[test]
    fn scaling_resizes_the_only_replica_set() {
        let d = deployment(3, default_rolling());
        let mut owned = Vec::new();
        step(&d, &mut owned, 1);
        settle(&mut owned);
        let d = deployment(5, default_rolling());
        let plan = plan_deployment(&d, &owned, at(100));
        assert!(plan.create.is_none());
        assert_eq!(plan.updates.len(), 1);
        assert_eq!(plan.updates[0].1, ScaleChange::Scaled { from: 3, to: 5 });
        // Status reflects the ReplicaSets.
        assert_eq!(plan.status.available_replicas, 3);
        assert_eq!(plan.status.updated_replicas, 3);
    }

    #[test]
    fn rolling_update_walks_from_old_to_new_within_bounds() {
        // 10 replicas, 25 %: surge 3, unavailable 2 → at most 13 pods, at least 8 available.
        let mut d = deployment(10, default_rolling());
        let mut owned = Vec::new();
        step(&d, &mut owned, 1);
        settle(&mut owned);
        d.status.observed_generation = 1;
        let mut template = (*d.spec.template).clone();
        template.labels.insert(s("version"), s("2"));
        d.spec.template = Rc::new(template);
        d.spec.selector = LabelSelector::from_labels(Labels::from_pairs([("app", "web")]));
        d.metadata.generation = 2;

        let mut steps = Vec::new();
        for round in 0..20 {
            let plan = plan_deployment(&d, &owned, at(100));
            if plan.create.is_none() && plan.updates.is_empty() {
                break;
            }
            apply(&mut owned, &plan, 10 + round);
            let total: u32 = owned.iter().map(|o| o.rs.spec.replicas).sum();
            assert!(total <= 13, "surge exceeded: {total}");
            steps.push(sizes(&owned));
            settle(&mut owned);
        }
        // Upstream's sequence: the new ReplicaSet appears with 3 (the surge) and the old
        // one drops by maxUnavailable in the same sync; then each side moves as far as
        // the bounds allow once the last step's pods are available.
        assert_eq!(
            steps,
            vec![vec![8, 3], vec![8, 5], vec![3, 5], vec![3, 10], vec![0, 10]]
        );
        assert_eq!(revision(&owned[1].rs), 2);
    }

    #[test]
    fn old_replica_sets_wait_for_availability() {
        // New pods not available yet: old replicas stay at replicas − maxUnavailable.
        let mut d = deployment(4, rolling(IntOrPercent::Int(1), IntOrPercent::Int(1)));
        let mut owned = Vec::new();
        step(&d, &mut owned, 1);
        settle(&mut owned);
        let mut template = (*d.spec.template).clone();
        template.annotations.insert(s("rev"), s("2"));
        d.spec.template = Rc::new(template);
        // The new ReplicaSet takes the surge; the old one drops by maxUnavailable.
        step(&d, &mut owned, 2);
        assert_eq!(sizes(&owned), [3, 1]);
        // That freed room under maxSurge for one more new pod.
        step(&d, &mut owned, 3);
        assert_eq!(sizes(&owned), [3, 2]);
        // Nothing more until a new pod becomes available.
        let plan = plan_deployment(&d, &owned, at(100));
        assert!(plan.updates.is_empty() && plan.create.is_none());
    }

    #[test]
    fn recreate_scales_old_to_zero_and_waits_for_pods_to_go() {
        let mut d = deployment(3, DeploymentStrategy::Recreate);
        let mut owned = Vec::new();
        step(&d, &mut owned, 1);
        settle(&mut owned);
        let mut template = (*d.spec.template).clone();
        template.annotations.insert(s("rev"), s("2"));
        d.spec.template = Rc::new(template);
        let plan = plan_deployment(&d, &owned, at(100));
        assert!(plan.create.is_none());
        assert_eq!(plan.updates[0].1, ScaleChange::Scaled { from: 3, to: 0 });
        apply(&mut owned, &plan, 2);
        // Old pods still running: no new ReplicaSet yet.
        assert!(plan_deployment(&d, &owned, at(100)).create.is_none());
        settle(&mut owned);
        let plan = plan_deployment(&d, &owned, at(100));
        assert_eq!(plan.create.as_ref().map(|rs| rs.spec.replicas), Some(3));
    }

    #[test]
    fn proportional_scaling_mid_rollout() {
        // 10 replicas mid-rollout (old 8, new 5 = 13 = 10 + surge 3), scaled to 20:
        // allowed 20 + 5 = 25, 12 to add, split 8:5 of the old max-replicas 13.
        let mut d = deployment(10, default_rolling());
        let mut owned = Vec::new();
        step(&d, &mut owned, 1);
        let mut template = (*d.spec.template).clone();
        template.annotations.insert(s("rev"), s("2"));
        d.spec.template = Rc::new(template);
        step(&d, &mut owned, 2);
        Rc::make_mut(&mut owned[0].rs).spec.replicas = 8;
        Rc::make_mut(&mut owned[1].rs).spec.replicas = 5;
        d.spec.replicas = 20;
        let plan = plan_deployment(&d, &owned, at(100));
        apply(&mut owned, &plan, 3);
        // old: round(8 × 25 / 13) = 15 (+7); new: round(5 × 25 / 13) = 10 (+5).
        assert_eq!(sizes(&owned), [15, 10]);
    }

    #[test]
    fn history_beyond_the_limit_is_deleted_oldest_first() {
        let mut d = deployment(1, default_rolling());
        d.spec.revision_history_limit = 1;
        let mut owned = Vec::new();
        for revision in 1..=3 {
            let mut template = (*d.spec.template).clone();
            template
                .annotations
                .insert(s("rev"), s(&revision.to_string()));
            d.spec.template = Rc::new(template);
            for round in 0..5 {
                step(&d, &mut owned, revision * 10 + round);
                settle(&mut owned);
            }
        }
        d.status = plan_deployment(&d, &owned, at(100)).status;
        let plan = plan_deployment(&d, &owned, at(100));
        let deleted: Vec<u64> = plan.deletes.iter().map(|rs| revision(rs)).collect();
        assert_eq!(deleted, [1]);
    }

    #[test]
    fn status_counts_and_availability() {
        let d = deployment(4, default_rolling()); // maxUnavailable 1
        let mut owned = Vec::new();
        step(&d, &mut owned, 1);
        let rs = Rc::make_mut(&mut owned[0].rs);
        rs.status = ReplicaSetStatus {
            observed_generation: 1,
            replicas: 4,
            ready_replicas: 3,
            available_replicas: 3,
        };
        let status = plan_deployment(&d, &owned, at(100)).status;
        assert_eq!(status.replicas, 4);
        assert_eq!(status.ready_replicas, 3);
        assert_eq!(status.available_replicas, 3);
        assert_eq!(status.unavailable_replicas, 1);
        assert_eq!(status.available, ConditionStatus::True);
        assert_eq!(status.observed_generation, 1);
    }

    fn progressing(status: &DeploymentStatus) -> (ConditionStatus, String) {
        let c = status
            .condition(DeploymentConditionType::Progressing)
            .expect("a Progressing condition");
        (c.status, c.reason.to_string())
    }

    fn with_template(d: &Deployment, version: &str) -> Deployment {
        let mut d = d.clone();
        let mut template = (*d.spec.template).clone();
        template.annotations.insert(s("version"), s(version));
        d.spec.template = Rc::new(template);
        d.metadata.generation += 1;
        d
    }

    #[test]
    fn set_condition_keeps_the_transition_time_while_the_status_holds() {
        let mut status = DeploymentStatus::default();
        let p = DeploymentConditionType::Progressing;
        set_condition(
            &mut status,
            new_condition(
                p,
                ConditionStatus::True,
                REASON_NEW_RS_CREATED,
                "a".into(),
                at(10),
            ),
        );
        // Same status and reason: nothing changes, not even lastUpdateTime.
        set_condition(
            &mut status,
            new_condition(
                p,
                ConditionStatus::True,
                REASON_NEW_RS_CREATED,
                "b".into(),
                at(20),
            ),
        );
        assert_eq!(status.condition(p).unwrap().last_update_time, at(10));
        // New reason, same status: updated now, transitioned at 10.
        set_condition(
            &mut status,
            new_condition(
                p,
                ConditionStatus::True,
                REASON_RS_UPDATED,
                "c".into(),
                at(30),
            ),
        );
        let c = status.condition(p).unwrap();
        assert_eq!(
            (c.last_update_time, c.last_transition_time),
            (at(30), at(10))
        );
        // New status: both times move.
        set_condition(
            &mut status,
            new_condition(
                p,
                ConditionStatus::False,
                REASON_TIMED_OUT,
                "d".into(),
                at(40),
            ),
        );
        let c = status.condition(p).unwrap();
        assert_eq!(
            (c.last_update_time, c.last_transition_time),
            (at(40), at(40))
        );
        assert_eq!(status.conditions.len(), 1);
    }

    #[test]
    fn condition_times_are_whole_seconds() {
        let t = at(7) + SimDuration::from_millis(999);
        assert_eq!(condition_time(t), at(7));
    }

    #[test]
    fn progress_is_more_updated_fewer_old_more_ready_or_more_available() {
        let old = DeploymentStatus {
            replicas: 13,
            updated_replicas: 5,
            ready_replicas: 8,
            available_replicas: 8,
            ..DeploymentStatus::default()
        };
        assert!(!deployment_progressing(&old, &old));
        let with = |f: fn(&mut DeploymentStatus)| {
            let mut new = old.clone();
            f(&mut new);
            deployment_progressing(&old, &new)
        };
        assert!(with(|s| s.updated_replicas = 6));
        assert!(with(|s| s.replicas = 12)); // an old pod went: 7 old instead of 8
        assert!(with(|s| s.ready_replicas = 9));
        assert!(with(|s| s.available_replicas = 9));
        // Losing pods is not progress.
        assert!(!with(|s| s.ready_replicas = 7));
    }

    #[test]
    fn the_deadline_passes_strictly_after_last_update_plus_seconds() {
        let mut d = deployment(10, default_rolling());
        d.spec.progress_deadline_seconds = 120;
        let mut status = DeploymentStatus::default();
        set_condition(
            &mut status,
            new_condition(
                DeploymentConditionType::Progressing,
                ConditionStatus::True,
                REASON_RS_UPDATED,
                String::new(),
                at(30) + SimDuration::from_millis(400),
            ),
        );
        assert!(!deployment_timed_out(&d, &status, at(150)));
        assert!(deployment_timed_out(
            &d,
            &status,
            at(150) + SimDuration::from_millis(1)
        ));
        // No deadline: never.
        d.spec.progress_deadline_seconds = PROGRESS_DEADLINE_DISABLED;
        assert!(!deployment_timed_out(&d, &status, at(10_000)));
        // A complete rollout never times out.
        d.spec.progress_deadline_seconds = 120;
        status.conditions[0].reason = s(REASON_NEW_RS_AVAILABLE);
        assert!(!deployment_timed_out(&d, &status, at(10_000)));
    }

    #[test]
    fn pause_and_resume_conditions_and_a_timeout_stays() {
        let mut d = deployment(3, default_rolling());
        let mut status = DeploymentStatus::default();
        d.spec.paused = true;
        set_paused_condition(&d, &mut status, at(5));
        assert_eq!(
            progressing(&status),
            (ConditionStatus::Unknown, REASON_PAUSED.to_string())
        );
        d.spec.paused = false;
        set_paused_condition(&d, &mut status, at(9));
        assert_eq!(
            progressing(&status),
            (ConditionStatus::Unknown, REASON_RESUMED.to_string())
        );
        assert_eq!(
            status
                .condition(DeploymentConditionType::Progressing)
                .unwrap()
                .last_update_time,
            at(9)
        );
        // A reported timeout is not overwritten by pausing.
        status.conditions[0].reason = s(REASON_TIMED_OUT);
        d.spec.paused = true;
        set_paused_condition(&d, &mut status, at(12));
        assert_eq!(progressing(&status).1, REASON_TIMED_OUT);
    }

    #[test]
    fn a_stalled_rollout_times_out_and_is_requeued_for_its_deadline() {
        // Revision 1 complete, then a new template whose pods never become available.
        let mut d = deployment(10, default_rolling());
        d.spec.progress_deadline_seconds = 120;
        let mut owned = Vec::new();
        step(&d, &mut owned, 1);
        settle(&mut owned);
        d.status = plan_deployment(&d, &owned, at(2)).status;
        d.status.observed_generation = d.metadata.generation;
        assert_eq!(
            progressing(&d.status),
            (ConditionStatus::True, REASON_NEW_RS_AVAILABLE.to_string())
        );
        let mut d = with_template(&d, "2");
        // The sync that creates the new ReplicaSet says so.
        let plan = plan_deployment(&d, &owned, at(30));
        assert!(plan.create.is_some());
        assert_eq!(
            progressing(&plan.status),
            (ConditionStatus::True, REASON_NEW_RS_CREATED.to_string())
        );
        apply(&mut owned, &plan, 30);
        d.status = plan.status;
        // Pods of the new ReplicaSet appear: progress (more updated replicas).
        step(&d, &mut owned, 30);
        let new = owned.iter_mut().find(|o| revision(&o.rs) == 2).unwrap();
        Rc::make_mut(&mut new.rs).status.replicas = 5;
        let plan = plan_deployment(&d, &owned, at(31));
        assert_eq!(progressing(&plan.status).1, REASON_RS_UPDATED);
        d.status = plan.status;
        // Nothing changes: requeued for when the deadline passes (31 + 120).
        let plan = plan_deployment(&d, &owned, at(40));
        assert_eq!(plan.status, d.status);
        assert_eq!(
            plan.requeue,
            Some(Requeue::After(SimDuration::from_secs(111)))
        );
        // At the deadline itself it has not passed yet: look again shortly.
        let plan = plan_deployment(&d, &owned, at(151));
        assert_eq!(plan.requeue, Some(Requeue::RateLimited));
        // Just after: ProgressDeadlineExceeded, and no more requeues.
        let plan = plan_deployment(&d, &owned, at(151) + SimDuration::from_millis(5));
        assert_eq!(
            progressing(&plan.status),
            (ConditionStatus::False, REASON_TIMED_OUT.to_string())
        );
        d.status = plan.status;
        assert_eq!(plan_deployment(&d, &owned, at(200)).requeue, None);
        // The rollout itself still stands within its bounds: old 8, new 5.
        assert_eq!(sizes(&owned), [8, 5]);
    }

    #[test]
    fn a_paused_deployment_scales_but_does_not_roll_out() {
        let mut d = deployment(4, default_rolling());
        let mut owned = Vec::new();
        step(&d, &mut owned, 1);
        settle(&mut owned);
        d.spec.paused = true;
        let mut d = with_template(&d, "2");
        d.spec.replicas = 6;
        let plan = plan_deployment(&d, &owned, at(10));
        assert!(plan.create.is_none(), "paused: no new ReplicaSet");
        assert_eq!(plan.updates[0].1, ScaleChange::Scaled { from: 4, to: 6 });
        assert_eq!(progressing(&plan.status).1, REASON_PAUSED);
        assert_eq!(plan.requeue, None);
    }

    #[test]
    fn rolling_back_reuses_the_old_replica_set_with_the_next_revision() {
        let d1 = deployment(2, default_rolling());
        let mut owned = Vec::new();
        step(&d1, &mut owned, 1);
        settle(&mut owned);
        let d2 = with_template(&d1, "2");
        for round in 0..5 {
            step(&d2, &mut owned, 10 + round);
            settle(&mut owned);
        }
        assert_eq!(sizes(&owned), [0, 2]);
        // kubectl rollout undo puts revision 1's template back.
        let mut d3 = d2.clone();
        d3.spec.template = d1.spec.template.clone();
        d3.metadata.generation += 1;
        let plan = plan_deployment(&d3, &owned, at(50));
        assert!(plan.create.is_none());
        assert_eq!(plan.rolled_back.as_ref().map(|r| (r.1, r.2)), Some((1, 3)));
        assert_eq!(plan.revision.as_deref(), Some("3"));
        let old = plan
            .updates
            .iter()
            .find(|(rs, _)| rs.metadata.uid == owned[0].rs.metadata.uid)
            .map(|(rs, _)| rs.clone())
            .expect("the old ReplicaSet is updated");
        let annotation = |key| old.metadata.annotations.get(key).map(|v| v.to_string());
        assert_eq!(annotation(REVISION_ANNOTATION).as_deref(), Some("3"));
        assert_eq!(
            annotation(REVISION_HISTORY_ANNOTATION).as_deref(),
            Some("1")
        );
        assert_eq!(old.spec.replicas, 1, "scaled up within the surge");
    }

    #[test]
    fn revision_history_keeps_the_newest_entries_within_the_limit() {
        assert_eq!(append_revision_history(None, 1).as_deref(), Some("1"));
        assert_eq!(append_revision_history(Some(""), 4).as_deref(), Some("4"));
        assert_eq!(
            append_revision_history(Some("1,3"), 5).as_deref(),
            Some("1,3,5")
        );
        // 500 entries of 3 digits and a comma: 1999 characters; one more drops the oldest.
        let long: Vec<String> = (100..600).map(|n| n.to_string()).collect();
        let history = long.join(",");
        assert_eq!(history.len(), 1999);
        let appended = append_revision_history(Some(&history), 600).unwrap();
        assert!(appended.len() <= REVISION_HISTORY_CHARS_MAX);
        assert!(appended.starts_with("101,") && appended.ends_with(",599,600"));
    }
}
