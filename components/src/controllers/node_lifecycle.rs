//! The node lifecycle controller (`pkg/controller/nodelifecycle`) and the taint-eviction
//! controller (`pkg/controller/tainteviction`), as in v1.34.
//!
//! Every `node_monitor_period` each node's health is checked: the controller notes, by
//! its own clock, when it last saw the node's Lease renewed or its Ready heartbeat
//! change. Past `node_monitor_grace_period` (`node_startup_grace_period` for a node
//! that never reported) the node's Ready condition becomes Unknown and its pods
//! Ready=False. Conditions map to NoSchedule taints as node updates arrive. The
//! NoExecute `unreachable` / `not-ready` taint follows the Ready condition the pass
//! *observed* (the one before its own update, as `processTaintBaseEviction` does): a node
//! seen not Ready joins its zone's tainting queue, which a token bucket drains at the
//! zone's rate (`node_eviction_rate`, slowed or stopped by zone disruption); a node seen
//! Ready loses both taints at once. The tainter runs every `NODE_EVICTION_PERIOD`.
//!
//! The taint-eviction controller watches NoExecute taints: a pod on a tainted node is
//! deleted at once if some taint has no matching toleration, never if every matching
//! toleration has no `tolerationSeconds`, else `tolerationSeconds` (the least over the
//! tolerations used) after the controller first saw the taints.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use sim_core::{Context, FxIndexMap, FxIndexSet, SimDuration, SimTime};

use super::index::NsName;
use super::{ControllerManager, ControllerManagerConfig, Pending, Tick, ns_name};
use crate::api::{
    ApiOk, ApiResponse, ApiVerb, ConditionStatus, LABEL_ZONE, Lease, Node, Object, Pod, Resource,
    Str, TAINT_NOT_READY, TAINT_UNREACHABLE, TAINT_UNSCHEDULABLE, Taint, TaintEffect, Toleration,
    s,
};
use crate::client::Delta;
use crate::msg::{Msg, Tick as AnyTick};

/// The Ready condition's reason and message when the controller gives up on a node.
pub const REASON_NODE_STATUS_UNKNOWN: &str = "NodeStatusUnknown";
pub const MESSAGE_NODE_STATUS_UNKNOWN: &str = "Kubelet stopped posting node status.";
/// `v1.TaintNodeMemoryPressure`.
pub const TAINT_MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
/// The NoSchedule taint of a node with DiskPressure (upstream `TaintNodeDiskPressure`).
pub const TAINT_DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
/// `scheduler.NodeEvictionPeriod` (pkg/controller/nodelifecycle/scheduler): how often the
/// NoExecute tainter drains the zone queues, upstream 100 ms. kubesim runs it on a grid
/// of this period from time zero.
pub const NODE_EVICTION_PERIOD: SimDuration = SimDuration::from_millis(100);

// ---------------------------------------------------------------------------------------
// Rate limiting

/// The interval between tokens for a rate in events per second; `None` for a rate of 0
/// (nothing is ever accepted).
pub fn rate_interval(rate_per_second: f64) -> Option<SimDuration> {
    (rate_per_second > 0.0).then(|| SimDuration::from_nanos((1e9 / rate_per_second).round() as u64))
}

/// `flowcontrol.NewTokenBucketRateLimiter(qps, burst = 1)`: one token every interval,
/// at most one stored; a fresh bucket is full. Rate 0 is `NewFakeNeverRateLimiter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    interval: Option<SimDuration>,
    next_at: SimTime,
}

impl TokenBucket {
    pub fn new(rate_per_second: f64) -> TokenBucket {
        TokenBucket {
            interval: rate_interval(rate_per_second),
            next_at: SimTime::ZERO,
        }
    }

    /// `TryAccept`.
    pub fn try_accept(&mut self, now: SimTime) -> bool {
        let Some(interval) = self.interval else {
            return false;
        };
        if now < self.next_at {
            return false;
        }
        self.next_at = now + interval;
        true
    }

    /// When the next token is available (`None`: never).
    pub fn next_token(&self) -> Option<SimTime> {
        self.interval.map(|_| self.next_at)
    }

    /// `RateLimitedTimedQueue.SwapLimiter`: nothing at the same rate; otherwise a new
    /// bucket, drained at once when the old one had no token to give (upstream's rule for
    /// burst 1), so a swap never grants an extra token.
    pub fn set_rate(&mut self, rate_per_second: f64, now: SimTime) {
        let interval = rate_interval(rate_per_second);
        if interval == self.interval {
            return;
        }
        let had_token = self.try_accept(now);
        *self = TokenBucket {
            interval,
            next_at: SimTime::ZERO,
        };
        if !had_token {
            self.try_accept(now);
        }
    }
}

/// The tainter's next run at or after `at`: the first point of the `NODE_EVICTION_PERIOD`
/// grid not before it.
pub fn tainter_run_at(at: SimTime) -> SimTime {
    let period = NODE_EVICTION_PERIOD.as_nanos();
    SimTime::from_nanos(at.as_nanos().div_ceil(period) * period)
}

// ---------------------------------------------------------------------------------------
// Zones

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneState {
    Initial,
    Normal,
    PartialDisruption,
    FullDisruption,
}

impl ZoneState {
    pub fn name(self) -> &'static str {
        match self {
            ZoneState::Initial => "Initial",
            ZoneState::Normal => "Normal",
            ZoneState::PartialDisruption => "PartialDisruption",
            ZoneState::FullDisruption => "FullDisruption",
        }
    }
}

/// `ComputeZoneState`: no ready node (and some not ready) is a full disruption; more
/// than 2 not ready and at least `unhealthy_zone_threshold` of them a partial one. The
/// ratio is a float32 division, as upstream's (`--unhealthy-zone-threshold` is a float32).
pub fn compute_zone_state(
    ready: usize,
    not_ready: usize,
    unhealthy_zone_threshold: f64,
) -> ZoneState {
    if ready == 0 && not_ready > 0 {
        ZoneState::FullDisruption
    } else if not_ready > 2
        && not_ready as f32 / (not_ready + ready) as f32 >= unhealthy_zone_threshold as f32
    {
        ZoneState::PartialDisruption
    } else {
        ZoneState::Normal
    }
}

/// `setLimiterInZone`: the tainting rate for a zone in `state` with `zone_size` nodes
/// (`HealthyQPSFunc` for Normal and FullDisruption, `ReducedQPSFunc` for
/// PartialDisruption: the secondary rate above `large_cluster_size_threshold`, else 0).
pub fn zone_eviction_rate(
    state: ZoneState,
    zone_size: usize,
    config: &ControllerManagerConfig,
) -> f64 {
    match state {
        ZoneState::Initial | ZoneState::Normal | ZoneState::FullDisruption => {
            config.node_eviction_rate
        }
        ZoneState::PartialDisruption => {
            if zone_size > config.large_cluster_size_threshold {
                config.secondary_node_eviction_rate
            } else {
                0.0
            }
        }
    }
}

fn zone_of(node: &Node) -> Str {
    node.metadata
        .labels
        .get(LABEL_ZONE)
        .cloned()
        .unwrap_or_else(|| s(""))
}

/// A zone's NoExecute tainter (`RateLimitedTimedQueue` over a `UniqueQueue`): nodes
/// waiting for a token, in order, and nodes already processed that stay members (so the
/// next pass does not queue them again) until marked reachable.
#[derive(Debug)]
struct Zone {
    queue: VecDeque<Str>,
    waiting: FxIndexSet<Str>,
    processed: FxIndexSet<Str>,
    bucket: TokenBucket,
    state: ZoneState,
    /// Nodes of the zone whose (effective) Ready is True, and the others.
    ready: usize,
    not_ready: usize,
}

impl Zone {
    fn new(rate: f64) -> Zone {
        Zone {
            queue: VecDeque::new(),
            waiting: FxIndexSet::default(),
            processed: FxIndexSet::default(),
            bucket: TokenBucket::new(rate),
            state: ZoneState::Initial,
            ready: 0,
            not_ready: 0,
        }
    }

    /// `UniqueQueue.Add`: a member (waiting or processed) is not added again.
    fn add(&mut self, node: &Str) -> bool {
        if self.processed.contains(node) || !self.waiting.insert(node.clone()) {
            return false;
        }
        self.queue.push_back(node.clone());
        true
    }

    /// `UniqueQueue.Remove`: no longer a member at all.
    fn remove(&mut self, node: &Str) {
        self.processed.swap_remove(node);
        if self.waiting.swap_remove(node) {
            self.queue.retain(|queued| queued != node);
        }
    }

    fn is_member(&self, node: &Str) -> bool {
        self.waiting.contains(node) || self.processed.contains(node)
    }

    fn has_members(&self) -> bool {
        !self.waiting.is_empty() || !self.processed.is_empty()
    }

    /// `UniqueQueue.RemoveFromQueue` of the head: processed, still a member.
    fn pop(&mut self) -> Option<Str> {
        let node = self.queue.pop_front()?;
        assert!(self.waiting.swap_remove(&node), "queued node not waiting");
        self.processed.insert(node.clone());
        Some(node)
    }
}

// ---------------------------------------------------------------------------------------
// Node health

/// What the controller wants done to its own NoExecute taints on a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoExecute {
    /// Leave them as they are.
    Keep,
    /// Exactly this one (`SwapNodeControllerTaint`: add it, remove the opposite one).
    Set(Taint),
    /// Neither (`markNodeAsReachable`).
    Clear,
}

/// What a monitor pass does about a node's NoExecute taint, from the Ready status it
/// observed (`processTaintBaseEviction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaintAction {
    /// The node carries the opposite taint: swap at once, without the rate limiter.
    Swap { key: &'static str },
    /// Join the zone's tainting queue (`markNodeForTainting`); `requeue` when the node
    /// lacks this status's taint, so a processed node is queued again.
    Queue { requeue: bool },
    /// Ready: remove both taints and leave the queue (`markNodeAsReachable`).
    MarkReachable,
}

/// `processTaintBaseEviction`'s decision for a node whose observed Ready is `observed`.
pub fn taint_action(observed: ConditionStatus, taints: &[Taint]) -> TaintAction {
    let has = |key: &str| {
        taints
            .iter()
            .any(|t| t.effect == TaintEffect::NoExecute && &*t.key == key)
    };
    match observed {
        ConditionStatus::False if has(TAINT_UNREACHABLE) => TaintAction::Swap {
            key: TAINT_NOT_READY,
        },
        ConditionStatus::False => TaintAction::Queue {
            requeue: !has(TAINT_NOT_READY),
        },
        ConditionStatus::Unknown if has(TAINT_NOT_READY) => TaintAction::Swap {
            key: TAINT_UNREACHABLE,
        },
        ConditionStatus::Unknown => TaintAction::Queue {
            requeue: !has(TAINT_UNREACHABLE),
        },
        ConditionStatus::True => TaintAction::MarkReachable,
    }
}

/// The NoExecute taint the tainter adds for a node in Ready status `ready` (`None`: the
/// node is Ready again and the token is spent on nothing, as upstream's).
pub fn tainter_taint(ready: ConditionStatus, time_added: SimTime) -> Option<Taint> {
    let key = match ready {
        ConditionStatus::False => TAINT_NOT_READY,
        ConditionStatus::Unknown => TAINT_UNREACHABLE,
        ConditionStatus::True => return None,
    };
    Some(taint(key, TaintEffect::NoExecute, Some(time_added)))
}

/// What the controller knows of one node's health (`nodeHealthData`).
#[derive(Clone, Debug)]
pub struct NodeHealth {
    /// When the controller last saw a sign of life (its own clock).
    pub probe_timestamp: SimTime,
    pub ready_transition_timestamp: SimTime,
    heartbeat: SimTime,
    transition: SimTime,
    lease_renew_time: Option<SimTime>,
    /// A lease or a real Ready condition was ever seen (else the startup grace applies).
    ever_reported: bool,
    /// The newest copy known, from the informer or from a write's response.
    latest: Rc<Node>,
    /// A status write in flight sets this Ready status.
    pending_ready: Option<ConditionStatus>,
    /// The NoExecute change decided and not yet seen on the node.
    no_execute: NoExecute,
    /// A monitor pass has seen the node since the controller started (`knownNodeSet`).
    known: bool,
    /// The node's `topology.kubernetes.io/zone` ("" without one).
    zone: Str,
    /// How the node is counted in its zone's ready / not-ready totals.
    counted: Option<(Str, bool)>,
}

impl NodeHealth {
    fn new(node: Rc<Node>, lease_renew_time: Option<SimTime>, now: SimTime) -> NodeHealth {
        let ready = &node.status.ready;
        NodeHealth {
            probe_timestamp: now,
            ready_transition_timestamp: now,
            heartbeat: ready.last_heartbeat_time,
            transition: ready.last_transition_time,
            lease_renew_time,
            ever_reported: lease_renew_time.is_some() || reported(&node),
            zone: zone_of(&node),
            latest: node,
            pending_ready: None,
            no_execute: NoExecute::Keep,
            known: false,
            counted: None,
        }
    }

    /// A new copy of the node from the informer: a changed heartbeat is a sign of life.
    fn observe_node(&mut self, node: &Rc<Node>, now: SimTime) {
        let ready = &node.status.ready;
        if ready.last_heartbeat_time != self.heartbeat {
            self.probe_timestamp = now;
            if ready.last_transition_time != self.transition {
                self.ready_transition_timestamp = now;
            }
            self.heartbeat = ready.last_heartbeat_time;
            self.transition = ready.last_transition_time;
        }
        self.ever_reported |= reported(node);
        self.set_latest(node);
    }

    /// A renewed Lease is a sign of life.
    fn observe_lease(&mut self, renew_time: Option<SimTime>, now: SimTime) {
        if renew_time.is_some() && renew_time > self.lease_renew_time {
            self.lease_renew_time = renew_time;
            self.probe_timestamp = now;
            self.ever_reported = true;
        }
    }

    fn set_latest(&mut self, node: &Rc<Node>) {
        if node.metadata.resource_version >= self.latest.metadata.resource_version {
            if node.metadata.labels != self.latest.metadata.labels {
                self.zone = zone_of(node);
            }
            self.latest = node.clone();
        }
    }

    fn effective_ready(&self) -> ConditionStatus {
        self.pending_ready
            .unwrap_or(self.latest.status.ready.status)
    }

    pub fn grace_period(&self, config: &ControllerManagerConfig) -> SimDuration {
        if self.ever_reported {
            config.node_monitor_grace_period
        } else {
            config.node_startup_grace_period
        }
    }

    /// No sign of life for longer than the grace period.
    pub fn is_stale(&self, now: SimTime, config: &ControllerManagerConfig) -> bool {
        now > self.probe_timestamp + self.grace_period(config)
    }
}

/// Whether a kubelet ever posted this node's status.
fn reported(node: &Node) -> bool {
    node.status.ready.status != ConditionStatus::Unknown
        || node.status.ready.last_heartbeat_time != SimTime::ZERO
}

/// The node's status with Ready (and MemoryPressure) Unknown, as `tryUpdateNodeHealth`
/// writes it; the heartbeat time is kept.
pub fn mark_unknown(node: &Node, now: SimTime) -> Node {
    let mut updated = node.clone();
    let ready = &mut updated.status.ready;
    if ready.status != ConditionStatus::Unknown {
        ready.status = ConditionStatus::Unknown;
        ready.reason = s(REASON_NODE_STATUS_UNKNOWN);
        ready.message = s(MESSAGE_NODE_STATUS_UNKNOWN);
        ready.last_transition_time = now;
    }
    updated.status.memory_pressure = ConditionStatus::Unknown;
    updated.status.disk_pressure = ConditionStatus::Unknown;
    updated
}

/// A taint this controller owns.
fn controller_taint(taint: &Taint) -> bool {
    match taint.effect {
        TaintEffect::NoSchedule => matches!(
            &*taint.key,
            TAINT_NOT_READY
                | TAINT_UNREACHABLE
                | TAINT_MEMORY_PRESSURE
                | TAINT_DISK_PRESSURE
                | TAINT_UNSCHEDULABLE
        ),
        TaintEffect::NoExecute => matches!(&*taint.key, TAINT_NOT_READY | TAINT_UNREACHABLE),
        TaintEffect::PreferNoSchedule => false,
    }
}

fn has_controller_no_execute(node: &Node) -> bool {
    node.spec
        .taints
        .iter()
        .any(|t| t.effect == TaintEffect::NoExecute && controller_taint(t))
}

fn taint(key: &str, effect: TaintEffect, time_added: Option<SimTime>) -> Taint {
    Taint {
        key: s(key),
        value: s(""),
        effect,
        time_added,
    }
}

/// The node's taints as the controller wants them: conditions mapped to NoSchedule taints
/// (`doNoScheduleTaintingPass`), and its own NoExecute taints changed as `no_execute`
/// says. Other taints keep their place; controller taints that stay keep theirs; new
/// ones are appended.
pub fn desired_taints(node: &Node, no_execute: &NoExecute) -> Vec<Taint> {
    let mut wanted: Vec<Taint> = Vec::new();
    match node.status.ready.status {
        ConditionStatus::False => {
            wanted.push(taint(TAINT_NOT_READY, TaintEffect::NoSchedule, None))
        }
        ConditionStatus::Unknown => {
            wanted.push(taint(TAINT_UNREACHABLE, TaintEffect::NoSchedule, None))
        }
        ConditionStatus::True => {}
    }
    if node.status.memory_pressure == ConditionStatus::True {
        wanted.push(taint(TAINT_MEMORY_PRESSURE, TaintEffect::NoSchedule, None));
    }
    if node.status.disk_pressure == ConditionStatus::True {
        wanted.push(taint(TAINT_DISK_PRESSURE, TaintEffect::NoSchedule, None));
    }
    if node.spec.unschedulable {
        wanted.push(taint(TAINT_UNSCHEDULABLE, TaintEffect::NoSchedule, None));
    }
    match no_execute {
        NoExecute::Keep => wanted.extend(
            node.spec
                .taints
                .iter()
                .filter(|t| t.effect == TaintEffect::NoExecute && controller_taint(t))
                .cloned(),
        ),
        NoExecute::Set(taint) => wanted.push(taint.clone()),
        NoExecute::Clear => {}
    }
    let same = |a: &Taint, b: &Taint| a.key == b.key && a.effect == b.effect;
    let mut result: Vec<Taint> = node
        .spec
        .taints
        .iter()
        .filter(|t| !controller_taint(t) || wanted.iter().any(|w| w == *t))
        .cloned()
        .collect();
    for w in wanted {
        if !result.iter().any(|t| same(t, &w)) {
            result.push(w);
        }
    }
    result
}

// ---------------------------------------------------------------------------------------
// Taint-based eviction

/// What the taint-eviction controller will do with a pod on a node with NoExecute taints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// No NoExecute taint, or every one tolerated for ever.
    Never,
    /// A NoExecute taint no toleration matches, or a used toleration with
    /// `tolerationSeconds` ≤ 0: delete at once.
    Now { taint: Taint },
    /// Delete `toleration_seconds` after the taints were first seen; `taint` is the one
    /// whose toleration is the shortest.
    After {
        taint: Taint,
        toleration_seconds: u64,
    },
}

/// `GetMatchingTolerations` + `getMinTolerationTime` (pkg/controller/tainteviction): for
/// each NoExecute taint the pod's *first* toleration that matches it is the one used; a
/// taint with none evicts at once; the least `tolerationSeconds` among the used ones
/// counts, and those without seconds tolerate for ever.
pub fn eviction_for(taints: &[Taint], tolerations: &[Toleration]) -> Eviction {
    let mut shortest: Option<(&Taint, u64)> = None;
    for taint in taints.iter().filter(|t| t.effect == TaintEffect::NoExecute) {
        let Some(used) = tolerations.iter().find(|t| t.tolerates(taint)) else {
            return Eviction::Now {
                taint: taint.clone(),
            };
        };
        let Some(seconds) = used.toleration_seconds else {
            continue;
        };
        if seconds == 0 {
            return Eviction::Now {
                taint: taint.clone(),
            };
        }
        if shortest.is_none_or(|(_, least)| seconds < least) {
            shortest = Some((taint, seconds));
        }
    }
    match shortest {
        Some((taint, toleration_seconds)) => Eviction::After {
            taint: taint.clone(),
            toleration_seconds,
        },
        None => Eviction::Never,
    }
}

/// One pod's deletion the taint-eviction controller has scheduled (`TimedWorker`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledEviction {
    /// When the taints were first seen (host clock).
    pub created_at: SimTime,
    pub fire_at: SimTime,
    pub taint: Taint,
    pub toleration_seconds: u64,
}

/// What `processPodOnNode` does with a pod whose taints are tolerated for
/// `toleration_seconds`, given what is already scheduled: an earlier schedule stands
/// when its start plus the new toleration comes first; else the deletion moves to `now`
/// plus the toleration, keeping the first start.
pub fn reschedule(
    existing: Option<&ScheduledEviction>,
    taint: &Taint,
    toleration_seconds: u64,
    now: SimTime,
) -> Option<ScheduledEviction> {
    let tolerated = SimDuration::from_secs(toleration_seconds);
    let fire_at = now + tolerated;
    match existing {
        Some(existing) if existing.created_at + tolerated < fire_at => None,
        Some(existing) => Some(ScheduledEviction {
            created_at: existing.created_at,
            fire_at,
            taint: taint.clone(),
            toleration_seconds,
        }),
        None => Some(ScheduledEviction {
            created_at: now,
            fire_at,
            taint: taint.clone(),
            toleration_seconds,
        }),
    }
}

pub(crate) fn describe_taint(taint: &Taint) -> String {
    let effect = match taint.effect {
        TaintEffect::NoSchedule => "NoSchedule",
        TaintEffect::PreferNoSchedule => "PreferNoSchedule",
        TaintEffect::NoExecute => "NoExecute",
    };
    if taint.value.is_empty() {
        format!("{}:{effect}", taint.key)
    } else {
        format!("{}={}:{effect}", taint.key, taint.value)
    }
}

/// A deletion the taint-eviction controller sent, kept for the cluster invariants.
#[derive(Clone, Debug)]
pub struct TaintEvictionRecord {
    /// The pod as the controller saw it (its tolerations).
    pub pod: Rc<Pod>,
    pub node: Str,
    /// When the delete was sent, by the controller's host clock.
    pub at: SimTime,
}

// ---------------------------------------------------------------------------------------
// The controller's state

#[derive(Debug)]
pub struct NodeLifecycle {
    health: FxIndexMap<Str, NodeHealth>,
    zones: BTreeMap<Str, Zone>,
    writes_in_flight: FxIndexSet<Str>,
    /// All zones fully disrupted: every tainter stopped.
    evictions_stopped: bool,
    tainter_armed_at: Option<SimTime>,
    /// (host-clock deadline, pod uid).
    evictions: BTreeSet<(SimTime, u64)>,
    eviction_of: FxIndexMap<u64, ScheduledEviction>,
    eviction_armed_at: Option<SimTime>,
    default_rate: f64,
    /// Every taint-based deletion sent, for the invariants: an observation, not state, so
    /// a crash keeps it.
    evicted: Vec<TaintEvictionRecord>,
}

impl NodeLifecycle {
    pub fn new(config: &ControllerManagerConfig) -> NodeLifecycle {
        NodeLifecycle::with_rate(config.node_eviction_rate)
    }

    fn with_rate(default_rate: f64) -> NodeLifecycle {
        NodeLifecycle {
            health: FxIndexMap::default(),
            zones: BTreeMap::new(),
            writes_in_flight: FxIndexSet::default(),
            evictions_stopped: false,
            tainter_armed_at: None,
            evictions: BTreeSet::new(),
            eviction_of: FxIndexMap::default(),
            eviction_armed_at: None,
            default_rate,
            evicted: Vec::new(),
        }
    }

    /// Forgets everything, as a crashed process does.
    pub fn clear(&mut self) {
        let evicted = std::mem::take(&mut self.evicted);
        *self = NodeLifecycle::with_rate(self.default_rate);
        self.evicted = evicted;
    }

    fn zone(&mut self, zone: &Str) -> &mut Zone {
        let rate = self.default_rate;
        self.zones
            .entry(zone.clone())
            .or_insert_with(|| Zone::new(rate))
    }

    /// Keeps the zone totals in step with one node's (effective) readiness and zone.
    fn recount(&mut self, name: &Str) {
        let Some(health) = self.health.get_mut(name) else {
            return;
        };
        let wanted = Some((
            health.zone.clone(),
            health.effective_ready() == ConditionStatus::True,
        ));
        let previous = std::mem::replace(&mut health.counted, wanted.clone());
        self.move_count(previous, wanted);
    }

    fn move_count(&mut self, previous: Option<(Str, bool)>, wanted: Option<(Str, bool)>) {
        if previous == wanted {
            return;
        }
        if let Some((zone, ready)) = previous {
            let zone = self.zone(&zone);
            let count = if ready {
                &mut zone.ready
            } else {
                &mut zone.not_ready
            };
            assert!(*count > 0, "zone count underflow");
            *count -= 1;
        }
        if let Some((zone, ready)) = wanted {
            let zone = self.zone(&zone);
            *(if ready {
                &mut zone.ready
            } else {
                &mut zone.not_ready
            }) += 1;
        }
    }

    fn cancel_eviction(&mut self, uid: u64) {
        if let Some(scheduled) = self.eviction_of.swap_remove(&uid) {
            assert!(
                self.evictions.remove(&(scheduled.fire_at, uid)),
                "scheduled eviction missing from the timeline"
            );
        }
    }

    fn schedule_eviction(&mut self, uid: u64, scheduled: ScheduledEviction) {
        self.cancel_eviction(uid);
        self.evictions.insert((scheduled.fire_at, uid));
        self.eviction_of.insert(uid, scheduled);
    }
}

impl ControllerManager {
    pub fn node_health(&self, name: &str) -> Option<&NodeHealth> {
        self.node_lifecycle.health.get(name)
    }

    /// Whether NoExecute tainting is stopped because every zone is fully disrupted.
    pub fn evictions_stopped(&self) -> bool {
        self.node_lifecycle.evictions_stopped
    }

    /// Each zone's disruption state as of the last monitor pass ("" is the zone of nodes
    /// without a `topology.kubernetes.io/zone` label).
    pub fn zone_states(&self) -> impl Iterator<Item = (&Str, ZoneState)> {
        self.node_lifecycle
            .zones
            .iter()
            .map(|(name, zone)| (name, zone.state))
    }

    /// Every deletion the taint-eviction controller sent, oldest first.
    pub fn taint_evictions(&self) -> &[TaintEvictionRecord] {
        &self.node_lifecycle.evicted
    }

    pub(super) fn on_node_delta(&mut self, delta: Delta<Node>, cx: &mut Context<'_, Msg>) {
        let now = cx.now();
        match delta {
            Delta::Added(node) => {
                self.observe_node(&node, now);
                self.reconcile_node_taints(&node.metadata.name, cx);
                self.reevaluate_pods_on(&node.metadata.name, cx);
            }
            Delta::Updated { old, new } => {
                self.observe_node(&new, now);
                self.reconcile_node_taints(&new.metadata.name, cx);
                let no_execute = |node: &Node| {
                    node.spec
                        .taints
                        .iter()
                        .filter(|t| t.effect == TaintEffect::NoExecute)
                        .cloned()
                        .collect::<Vec<_>>()
                };
                if no_execute(&old) != no_execute(&new) {
                    self.reevaluate_pods_on(&new.metadata.name, cx);
                }
            }
            Delta::Deleted(node) => {
                let name = &node.metadata.name;
                if let Some(health) = self.node_lifecycle.health.swap_remove(name) {
                    self.node_lifecycle.move_count(health.counted, None);
                    self.node_lifecycle.zone(&health.zone).remove(name);
                }
                self.node_lifecycle.writes_in_flight.swap_remove(name);
            }
        }
    }

    fn observe_node(&mut self, node: &Rc<Node>, now: SimTime) {
        let name = &node.metadata.name;
        match self.node_lifecycle.health.get_mut(name) {
            Some(health) => {
                let zone = health.zone.clone();
                health.observe_node(node, now);
                if health.zone != zone {
                    // A relabelled node leaves its old zone's queue.
                    self.node_lifecycle.zone(&zone).remove(name);
                }
            }
            None => {
                let lease = self
                    .informers
                    .leases
                    .get(crate::api::NAMESPACE_NODE_LEASE, name)
                    .and_then(|lease| lease.spec.renew_time);
                self.node_lifecycle
                    .health
                    .insert(name.clone(), NodeHealth::new(node.clone(), lease, now));
            }
        }
        self.node_lifecycle.recount(name);
    }

    /// The caches are complete: every node's taints and its pods' evictions.
    pub(super) fn nodes_synced(&mut self, cx: &mut Context<'_, Msg>) {
        let names: Vec<Str> = self.node_lifecycle.health.keys().cloned().collect();
        for name in &names {
            self.reconcile_node_taints(name, cx);
            self.reevaluate_pods_on(name, cx);
        }
    }

    pub(super) fn on_lease_delta(&mut self, delta: Delta<Lease>, cx: &mut Context<'_, Msg>) {
        if let Delta::Added(lease) | Delta::Updated { new: lease, .. } = &delta
            && let Some(health) = self.node_lifecycle.health.get_mut(&lease.metadata.name)
        {
            health.observe_lease(lease.spec.renew_time, cx.now());
        }
    }

    /// `monitorNodeHealth`: each node's health (Ready=Unknown past its grace period),
    /// then its NoExecute taint from the Ready status the pass observed before its own
    /// update, then the zones' disruption states. The tainter runs at its next period.
    pub(super) fn monitor_node_health(&mut self, cx: &mut Context<'_, Msg>) {
        let now = cx.now();
        // Whether any zone queues a node, before the per-node lookups: in a healthy
        // cluster none does, and looking each node's zone up by name is most of a pass.
        // Only a node's own turn below adds it to a queue or takes it out, so what this
        // says of the nodes not yet visited stays true during the pass.
        let zones_hold_members = self.node_lifecycle.zones.values().any(Zone::has_members);
        for index in 0..self.node_lifecycle.health.len() {
            let lifecycle = &self.node_lifecycle;
            let (name, health) = lifecycle.health.get_index(index).expect("in range");
            let observed = health.latest.status.ready.status;
            let quiet = observed != ConditionStatus::Unknown
                && health.is_stale(now, &self.config)
                && !lifecycle.writes_in_flight.contains(name);
            let first_sight = !health.known;
            // A Ready node with nothing to undo is the common case: skip it cheaply.
            let acts = quiet
                || first_sight
                || observed != ConditionStatus::True
                || has_controller_no_execute(&health.latest)
                || health.no_execute != NoExecute::Keep
                || zones_hold_members
                    && lifecycle
                        .zones
                        .get(&health.zone)
                        .is_some_and(|zone| zone.is_member(name));
            if !acts {
                continue;
            }
            let name = name.clone();
            if quiet {
                self.mark_unknown(&name, cx);
            }
            if first_sight {
                // A node new to this controller (at start, every node) first loses its
                // NoExecute taints (upstream marks added nodes reachable).
                self.node_lifecycle.health[&name].known = true;
                self.mark_reachable(&name, cx);
            }
            self.process_taint_based_eviction(&name, observed, cx);
        }
        self.handle_disruption(cx);
        self.arm_tainter(cx);
    }

    /// `processTaintBaseEviction` for one node, from the Ready status the pass observed.
    fn process_taint_based_eviction(
        &mut self,
        name: &Str,
        observed: ConditionStatus,
        cx: &mut Context<'_, Msg>,
    ) {
        let health = &self.node_lifecycle.health[name];
        match taint_action(observed, &health.latest.spec.taints) {
            TaintAction::Swap { key } => {
                let swapped = taint(key, TaintEffect::NoExecute, Some(cx.host_clock()));
                self.node_lifecycle.health[name].no_execute = NoExecute::Set(swapped);
                self.reconcile_node_taints(name, cx);
            }
            TaintAction::Queue { requeue } => {
                let zone = health.zone.clone();
                let zone = self.node_lifecycle.zone(&zone);
                if requeue {
                    zone.processed.swap_remove(name);
                }
                if zone.add(name) {
                    cx.record("detail", || {
                        format!("node {name}: queued for the NoExecute taint")
                    });
                }
            }
            TaintAction::MarkReachable => self.mark_reachable(name, cx),
        }
    }

    /// `markNodeAsReachable`: no NoExecute taint of the controller's, out of the queue.
    fn mark_reachable(&mut self, name: &Str, cx: &mut Context<'_, Msg>) {
        let health = &mut self.node_lifecycle.health[name];
        let zone = health.zone.clone();
        if has_controller_no_execute(&health.latest) || health.no_execute != NoExecute::Keep {
            health.no_execute = NoExecute::Clear;
            self.reconcile_node_taints(name, cx);
        }
        self.node_lifecycle.zone(&zone).remove(name);
    }

    /// The node went quiet: Ready=Unknown (and its pods Ready=False if it was Ready).
    fn mark_unknown(&mut self, name: &Str, cx: &mut Context<'_, Msg>) {
        let now = cx.now();
        let health = &self.node_lifecycle.health[name];
        let node = health.latest.clone();
        let grace = health.grace_period(&self.config);
        let was_ready = node.is_ready();
        let updated = mark_unknown(&node, cx.host_clock());
        let health = self.node_lifecycle.health.get_mut(name).expect("present");
        health.pending_ready = Some(ConditionStatus::Unknown);
        health.ready_transition_timestamp = now;
        self.node_lifecycle.recount(name);
        self.node_lifecycle.writes_in_flight.insert(name.clone());
        self.stats.nodes_marked_unknown += 1;
        cx.record("step", || {
            format!(
                "node {name}: Ready=Unknown, {MESSAGE_NODE_STATUS_UNKNOWN} (no Lease renewal or status for more than {grace})"
            )
        });
        let id = self
            .api
            .send(cx, ApiVerb::UpdateStatus(Object::from(updated)));
        self.pending
            .insert(id, Pending::NodeWrite { node: name.clone() });
        if was_ready {
            self.mark_pods_not_ready(name, cx);
        }
    }

    /// `MarkPodsNotReady`: the node's pods stop being Ready.
    fn mark_pods_not_ready(&mut self, node: &Str, cx: &mut Context<'_, Msg>) {
        let now = cx.host_clock();
        let pods: Vec<Rc<Pod>> = self
            .pods
            .on_node(node)
            .filter(|pod| pod.is_ready())
            .cloned()
            .collect();
        let count = pods.len();
        cx.record("detail", || {
            format!("node {node}: marking {count} pods Ready=False")
        });
        for pod in pods {
            let mut updated = (*pod).clone();
            updated.status.ready = ConditionStatus::False;
            updated.status.ready_since = Some(now);
            let id = self
                .api
                .send(cx, ApiVerb::UpdateStatus(Object::from(updated)));
            self.pending.insert(
                id,
                Pending::PodNotReady {
                    pod: ns_name(&pod.metadata.namespace, &pod.metadata.name),
                },
            );
        }
    }

    /// Brings the node's taints to what its conditions and the pending NoExecute change
    /// ask for (one write at a time per node).
    fn reconcile_node_taints(&mut self, name: &Str, cx: &mut Context<'_, Msg>) {
        if !self.informers.synced() || self.node_lifecycle.writes_in_flight.contains(name) {
            return;
        }
        let Some(health) = self.node_lifecycle.health.get_mut(name) else {
            return;
        };
        let node = health.latest.clone();
        let desired = desired_taints(&node, &health.no_execute);
        if desired == node.spec.taints {
            health.no_execute = NoExecute::Keep;
            return;
        }
        let no_execute = |taints: &[Taint]| -> Vec<Taint> {
            taints
                .iter()
                .filter(|t| t.effect == TaintEffect::NoExecute && controller_taint(t))
                .cloned()
                .collect()
        };
        let (before, after) = (no_execute(&node.spec.taints), no_execute(&desired));
        let added = after.iter().find(|t| !before.contains(t)).cloned();
        let removed = before
            .iter()
            .find(|t| !after.iter().any(|a| a.key == t.key))
            .cloned();
        match (&added, &removed) {
            (Some(taint), _) => cx.record("step", || {
                format!(
                    "node {name}: tainted {} (pods that do not tolerate it are evicted)",
                    describe_taint(taint)
                )
            }),
            (None, Some(taint)) => cx.record("step", || {
                format!("node {name}: taint {} removed", describe_taint(taint))
            }),
            (None, None) => cx.record("detail", || {
                let taints: Vec<String> = desired.iter().map(describe_taint).collect();
                format!("node {name}: taints now [{}]", taints.join(", "))
            }),
        }
        let mut updated = (*node).clone();
        updated.spec.taints = desired;
        self.node_lifecycle.writes_in_flight.insert(name.clone());
        let id = self.api.send(cx, ApiVerb::Update(Object::from(updated)));
        self.pending
            .insert(id, Pending::NodeWrite { node: name.clone() });
    }

    pub(super) fn on_node_write(
        &mut self,
        name: &Str,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        self.node_lifecycle.writes_in_flight.swap_remove(name);
        let Some(health) = self.node_lifecycle.health.get_mut(name) else {
            return;
        };
        health.pending_ready = None;
        match &response.result {
            Ok(ApiOk::Object(Object::Node(node))) => health.set_latest(node),
            Ok(_) => {}
            Err(error) => {
                let (code, message) = (error.reason.code(), error.message.clone());
                cx.record("detail", || {
                    format!("node {name}: update failed: {code} {message}; retrying")
                });
            }
        }
        self.node_lifecycle.recount(name);
        self.reconcile_node_taints(name, cx);
    }

    /// `handleDisruption`: per-zone states set the tainting rates; when every zone is
    /// fully disrupted, tainting stops and every node loses its NoExecute taints (the
    /// controller assumes its own network is the problem); when some zone recovers, every
    /// node gets a fresh grace period and every zone its state's rate.
    fn handle_disruption(&mut self, cx: &mut Context<'_, Msg>) {
        let now = cx.now();
        let threshold = self.config.unhealthy_zone_threshold;
        self.node_lifecycle
            .zones
            .retain(|_, zone| zone.ready + zone.not_ready > 0);
        let new_states: BTreeMap<Str, (ZoneState, usize, usize)> = self
            .node_lifecycle
            .zones
            .iter()
            .map(|(name, zone)| {
                let state = compute_zone_state(zone.ready, zone.not_ready, threshold);
                (name.clone(), (state, zone.ready, zone.not_ready))
            })
            .collect();
        let all_are_full = new_states
            .values()
            .all(|(state, ..)| *state == ZoneState::FullDisruption);
        let all_were_full = self
            .node_lifecycle
            .zones
            .values()
            .all(|zone| zone.state == ZoneState::FullDisruption);
        if all_are_full && all_were_full {
            return;
        }
        if all_are_full {
            self.node_lifecycle.evictions_stopped = true;
            for zone in self.node_lifecycle.zones.values_mut() {
                zone.bucket.set_rate(0.0, now);
                zone.state = ZoneState::FullDisruption;
            }
            let count = self.node_lifecycle.health.len();
            let zones = new_states.len();
            cx.record("step", || {
                format!("all {zones} zones are in FullDisruption ({count} nodes not Ready): node controller stops evictions and removes NoExecute taints")
            });
            let names: Vec<Str> = self.node_lifecycle.health.keys().cloned().collect();
            for name in &names {
                self.mark_reachable(name, cx);
            }
            return;
        }
        let leaving_full = all_were_full;
        if leaving_full {
            for health in self.node_lifecycle.health.values_mut() {
                health.probe_timestamp = now;
                health.ready_transition_timestamp = now;
            }
            if self.node_lifecycle.evictions_stopped {
                cx.record("step", || {
                    "some nodes are Ready again: node controller resumes evictions".to_string()
                });
            }
            self.node_lifecycle.evictions_stopped = false;
        }
        let config = &self.config;
        for (zone_name, zone) in self.node_lifecycle.zones.iter_mut() {
            let (state, ready, not_ready) = new_states[zone_name];
            if zone.state == state && !leaving_full {
                continue;
            }
            let rate = zone_eviction_rate(state, ready + not_ready, config);
            zone.bucket.set_rate(rate, now);
            if zone.state != state && zone.state != ZoneState::Initial {
                let name = zone_name.clone();
                cx.record("step", || {
                    format!(
                        "zone {name:?}: {} ({ready} of {} nodes Ready); tainting at {rate} nodes/s",
                        state.name(),
                        ready + not_ready
                    )
                });
            }
            zone.state = state;
        }
    }

    /// `doNoExecuteTaintingPass`: each zone's queue, head first, as long as its bucket
    /// gives tokens; a node Ready again still spends its token, as upstream's.
    fn tainting_pass(&mut self, cx: &mut Context<'_, Msg>) {
        let now = cx.now();
        let host_now = cx.host_clock();
        let mut tainted: Vec<Str> = Vec::new();
        let NodeLifecycle { zones, health, .. } = &mut self.node_lifecycle;
        for zone in zones.values_mut() {
            while !zone.queue.is_empty() && zone.bucket.try_accept(now) {
                let name = zone.pop().expect("queue not empty");
                let Some(health) = health.get_mut(&name) else {
                    continue;
                };
                if let Some(taint) = tainter_taint(health.latest.status.ready.status, host_now) {
                    health.no_execute = NoExecute::Set(taint);
                    tainted.push(name);
                }
            }
        }
        for name in &tainted {
            self.reconcile_node_taints(name, cx);
        }
    }

    /// Arms the tainter for its next run that has work: the first grid point after now
    /// at which some zone with a queue has a token.
    fn arm_tainter(&mut self, cx: &mut Context<'_, Msg>) {
        let next_token = self
            .node_lifecycle
            .zones
            .values()
            .filter(|zone| !zone.queue.is_empty())
            .filter_map(|zone| zone.bucket.next_token())
            .min();
        let Some(token) = next_token else { return };
        let at = tainter_run_at(token.max(cx.now() + SimDuration::from_nanos(1)));
        if self
            .node_lifecycle
            .tainter_armed_at
            .is_none_or(|armed| at < armed || armed <= cx.now())
        {
            self.node_lifecycle.tainter_armed_at = Some(at);
            cx.timer(
                at.saturating_since(cx.now()),
                Msg::Tick(AnyTick::Controllers(Tick::Tainter(at))),
            );
        }
    }

    pub(super) fn on_tainter_tick(&mut self, at: SimTime, cx: &mut Context<'_, Msg>) {
        if self.node_lifecycle.tainter_armed_at != Some(at) {
            return;
        }
        self.node_lifecycle.tainter_armed_at = None;
        if self.informers.synced() {
            self.tainting_pass(cx);
            self.arm_tainter(cx);
        }
    }

    // -----------------------------------------------------------------------------------
    // Taint-based eviction

    /// `handleNodeUpdate`: the node's NoExecute taints changed; every pod on it is
    /// processed against them (or has its deletion cancelled when there are none).
    fn reevaluate_pods_on(&mut self, node: &Str, cx: &mut Context<'_, Msg>) {
        if !self.informers.synced() {
            return;
        }
        let tainted = self.informers.nodes.get("", node).is_some_and(|node| {
            node.spec
                .taints
                .iter()
                .any(|t| t.effect == TaintEffect::NoExecute)
        });
        if !tainted && self.node_lifecycle.eviction_of.is_empty() {
            return;
        }
        let pods: Vec<Rc<Pod>> = self.pods.on_node(node).cloned().collect();
        for pod in pods {
            if tainted {
                self.process_pod(&pod, cx);
            } else {
                self.node_lifecycle.cancel_eviction(pod.metadata.uid);
            }
        }
        self.arm_eviction(cx);
    }

    /// The taint-eviction controller's pod handler (`PodUpdated`): a new pod, a pod
    /// bound, or its tolerations changed.
    pub(super) fn eviction_on_pod(
        &mut self,
        old: Option<&Rc<Pod>>,
        new: Option<&Rc<Pod>>,
        cx: &mut Context<'_, Msg>,
    ) {
        let Some(new) = new else {
            if let Some(old) = old {
                self.node_lifecycle.cancel_eviction(old.metadata.uid);
            }
            return;
        };
        let relevant = old.is_none_or(|old| {
            old.spec.node_name != new.spec.node_name
                || !Rc::ptr_eq(&old.spec.tolerations, &new.spec.tolerations)
                || old.metadata.is_terminating() != new.metadata.is_terminating()
        });
        if relevant && self.informers.synced() {
            self.process_pod(new, cx);
            self.arm_eviction(cx);
        }
    }

    /// `processPodOnNode`, at the controller's clock now.
    fn process_pod(&mut self, pod: &Rc<Pod>, cx: &mut Context<'_, Msg>) {
        let uid = pod.metadata.uid;
        let node = pod
            .spec
            .node_name
            .as_ref()
            .filter(|_| !pod.metadata.is_terminating())
            .and_then(|name| self.informers.nodes.get("", name));
        let Some(node) = node else {
            self.node_lifecycle.cancel_eviction(uid);
            return;
        };
        let now = cx.host_clock();
        match eviction_for(&node.spec.taints, &pod.spec.tolerations) {
            Eviction::Never => self.node_lifecycle.cancel_eviction(uid),
            Eviction::Now { taint } => {
                self.node_lifecycle.cancel_eviction(uid);
                let node = node.metadata.name.clone();
                self.evict(pod, &node, &taint, None, cx);
            }
            Eviction::After {
                taint,
                toleration_seconds,
            } => {
                let existing = self.node_lifecycle.eviction_of.get(&uid);
                if let Some(scheduled) = reschedule(existing, &taint, toleration_seconds, now) {
                    cx.record("detail", || {
                        format!(
                            "pod {}/{}: tolerates {} for {toleration_seconds}s; deletion scheduled at {}",
                            pod.metadata.namespace,
                            pod.metadata.name,
                            describe_taint(&taint),
                            scheduled.fire_at
                        )
                    });
                    self.node_lifecycle.schedule_eviction(uid, scheduled);
                }
            }
        }
    }

    fn evict(
        &mut self,
        pod: &Rc<Pod>,
        node: &Str,
        taint: &Taint,
        toleration_seconds: Option<u64>,
        cx: &mut Context<'_, Msg>,
    ) {
        self.stats.pods_evicted += 1;
        self.node_lifecycle.evicted.push(TaintEvictionRecord {
            pod: pod.clone(),
            node: node.clone(),
            at: cx.host_clock(),
        });
        cx.record("step", || {
            let why = match toleration_seconds {
                Some(seconds) => format!("tolerated {} for {seconds}s", describe_taint(taint)),
                None => format!("does not tolerate {}", describe_taint(taint)),
            };
            format!(
                "pod {}/{}: evicted from {node} ({why})",
                pod.metadata.namespace, pod.metadata.name
            )
        });
        let id = self.api.send(
            cx,
            ApiVerb::Delete {
                key: pod.key(),
                grace_period_seconds: Some(pod.spec.termination_grace_period_seconds),
                uid_precondition: pod.metadata.uid,
                propagation_policy: None,
            },
        );
        self.pending.insert(
            id,
            Pending::Eviction {
                pod: ns_name(&pod.metadata.namespace, &pod.metadata.name),
                pod_uid: pod.metadata.uid,
            },
        );
    }

    fn arm_eviction(&mut self, cx: &mut Context<'_, Msg>) {
        let Some(&(at, _)) = self.node_lifecycle.evictions.first() else {
            return;
        };
        if self
            .node_lifecycle
            .eviction_armed_at
            .is_none_or(|armed| at < armed)
        {
            self.node_lifecycle.eviction_armed_at = Some(at);
            cx.timer(
                at.saturating_since(cx.host_clock()),
                Msg::Tick(AnyTick::Controllers(Tick::Eviction(at))),
            );
        }
    }

    /// The due deletions (`TimedWorkerQueue` firing): each pod still in the cache, not
    /// terminating, is deleted.
    pub(super) fn on_eviction_tick(&mut self, at: SimTime, cx: &mut Context<'_, Msg>) {
        if self.node_lifecycle.eviction_armed_at != Some(at) {
            return;
        }
        self.node_lifecycle.eviction_armed_at = None;
        let now = cx.host_clock();
        let mut due = Vec::new();
        while let Some(&(deadline, uid)) = self.node_lifecycle.evictions.first()
            && deadline <= now
        {
            self.node_lifecycle.evictions.pop_first();
            let scheduled = self
                .node_lifecycle
                .eviction_of
                .swap_remove(&uid)
                .expect("every timeline entry has its schedule");
            due.push((uid, scheduled));
        }
        for (uid, scheduled) in due {
            if let Some(pod) = self.pods.get(uid).cloned()
                && !pod.metadata.is_terminating()
                && let Some(node) = pod.spec.node_name.clone()
            {
                self.evict(
                    &pod,
                    &node,
                    &scheduled.taint,
                    Some(scheduled.toleration_seconds),
                    cx,
                );
            }
        }
        self.arm_eviction(cx);
    }

    pub(super) fn on_eviction_reply(
        &mut self,
        pod: &NsName,
        pod_uid: u64,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        if let Err(error) = &response.result {
            let (code, message) = (error.reason.code(), error.message.clone());
            cx.record("detail", || {
                format!("pod {}/{}: eviction failed: {code} {message}", pod.0, pod.1)
            });
            // Try again in a second unless the pod is gone (upstream retries a few
            // times, 10 ms apart, then leaves it to the next taint update).
            if let Some(current) = self.pods.get(pod_uid).cloned()
                && !current.metadata.is_terminating()
                && let Some(node) = current
                    .spec
                    .node_name
                    .as_ref()
                    .and_then(|name| self.informers.nodes.get("", name))
                && let Eviction::Now { taint } | Eviction::After { taint, .. } =
                    eviction_for(&node.spec.taints, &current.spec.tolerations)
            {
                let at = cx.host_clock() + SimDuration::from_secs(1);
                self.node_lifecycle.schedule_eviction(
                    pod_uid,
                    ScheduledEviction {
                        created_at: at,
                        fire_at: at,
                        taint,
                        toleration_seconds: 0,
                    },
                );
                self.arm_eviction(cx);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::TolerationOperator;
    use crate::scheduler::plugins::tests::node_with;

    fn at(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    #[test]
    fn token_bucket_lets_one_through_every_ten_seconds() {
        let mut bucket = TokenBucket::new(0.1);
        assert!(bucket.try_accept(at(100)));
        assert!(!bucket.try_accept(at(100)));
        assert!(!bucket.try_accept(at(109)));
        assert_eq!(bucket.next_token(), Some(at(110)));
        assert!(bucket.try_accept(at(110)));
        // Idle time does not bank more than one token (burst 1).
        assert!(bucket.try_accept(at(200)));
        assert!(!bucket.try_accept(at(201)));
        // Rate 0 never accepts.
        bucket.set_rate(0.0, at(1000));
        assert!(!bucket.try_accept(at(1000)));
        assert_eq!(bucket.next_token(), None);
    }

    #[test]
    fn swapping_the_rate_never_grants_an_extra_token() {
        // SwapLimiter: the old bucket had a token, so the new one starts full.
        let mut full = TokenBucket::new(0.1);
        full.set_rate(0.01, at(50));
        assert!(full.try_accept(at(50)));
        assert_eq!(full.next_token(), Some(at(150)));
        // The old bucket was empty: the new one is drained at once.
        let mut empty = TokenBucket::new(0.1);
        assert!(empty.try_accept(at(50)));
        empty.set_rate(0.01, at(55));
        assert!(!empty.try_accept(at(55)));
        assert_eq!(empty.next_token(), Some(at(155)));
        // Leaving the never-limiter (all zones were fully disrupted) drains too: the
        // first taint after recovery waits one interval.
        let mut stopped = TokenBucket::new(0.0);
        stopped.set_rate(0.1, at(300));
        assert_eq!(stopped.next_token(), Some(at(310)));
        // The same rate changes nothing.
        let mut same = TokenBucket::new(0.1);
        assert!(same.try_accept(at(5)));
        same.set_rate(0.1, at(6));
        assert_eq!(same.next_token(), Some(at(15)));
    }

    #[test]
    fn the_tainter_runs_on_its_100ms_grid() {
        assert_eq!(tainter_run_at(at(65)), at(65));
        let just_after = at(65) + SimDuration::from_nanos(1);
        assert_eq!(
            tainter_run_at(just_after),
            at(65) + SimDuration::from_millis(100)
        );
        assert_eq!(
            tainter_run_at(at(65) + SimDuration::from_millis(250)),
            at(65) + SimDuration::from_millis(300)
        );
    }

    #[test]
    fn zone_states_follow_upstream_thresholds() {
        assert_eq!(compute_zone_state(0, 1, 0.55), ZoneState::FullDisruption);
        assert_eq!(compute_zone_state(0, 0, 0.55), ZoneState::Normal);
        // Not more than 2 not ready: Normal whatever the share.
        assert_eq!(compute_zone_state(1, 2, 0.55), ZoneState::Normal);
        assert_eq!(compute_zone_state(2, 3, 0.55), ZoneState::PartialDisruption);
        assert_eq!(compute_zone_state(3, 3, 0.55), ZoneState::Normal);
        // Exactly at the threshold counts (>=): 11 of 20.
        assert_eq!(
            compute_zone_state(9, 11, 0.55),
            ZoneState::PartialDisruption
        );
        assert_eq!(compute_zone_state(10, 10, 0.55), ZoneState::Normal);
        let config = ControllerManagerConfig::default();
        assert_eq!(
            zone_eviction_rate(ZoneState::PartialDisruption, 50, &config),
            0.0
        );
        assert_eq!(
            zone_eviction_rate(ZoneState::PartialDisruption, 51, &config),
            0.01
        );
        assert_eq!(
            zone_eviction_rate(ZoneState::FullDisruption, 3, &config),
            0.1
        );
        assert_eq!(zone_eviction_rate(ZoneState::Normal, 500, &config), 0.1);
    }

    #[test]
    fn a_zone_queue_takes_each_node_once_until_it_is_marked_reachable() {
        let mut zone = Zone::new(0.1);
        let (a, b) = (s("a"), s("b"));
        assert!(zone.add(&a));
        assert!(zone.add(&b));
        assert!(!zone.add(&a));
        assert_eq!(zone.pop(), Some(a.clone()));
        // Processed: still a member, so the next pass does not queue it again.
        assert!(!zone.add(&a));
        zone.remove(&a);
        assert!(zone.add(&a));
        zone.remove(&b);
        assert_eq!(zone.pop(), Some(a));
        assert_eq!(zone.pop(), None);
    }

    /// An `Exists` toleration of the NoExecute taint `key`, for `seconds` if given.
    pub(crate) fn toleration(key: &str, seconds: Option<u64>) -> Toleration {
        Toleration {
            key: s(key),
            operator: TolerationOperator::Exists,
            value: s(""),
            effect: Some(TaintEffect::NoExecute),
            toleration_seconds: seconds,
        }
    }

    #[test]
    fn eviction_uses_each_taints_first_matching_toleration() {
        let unreachable = taint(TAINT_UNREACHABLE, TaintEffect::NoExecute, Some(at(60)));
        let taints = vec![
            taint("dedicated", TaintEffect::NoSchedule, None),
            unreachable.clone(),
        ];
        // The admission defaults: 300 s.
        let defaults = [
            toleration(TAINT_NOT_READY, Some(300)),
            toleration(TAINT_UNREACHABLE, Some(300)),
        ];
        let after = |seconds| Eviction::After {
            taint: unreachable.clone(),
            toleration_seconds: seconds,
        };
        assert_eq!(eviction_for(&taints, &defaults), after(300));
        // A later, shorter match is not used: the first match counts.
        let mut tolerations = defaults.to_vec();
        tolerations.push(toleration("", Some(30)));
        assert_eq!(eviction_for(&taints, &tolerations), after(300));
        tolerations.insert(0, toleration("", Some(30)));
        assert_eq!(eviction_for(&taints, &tolerations), after(30));
        // First match without seconds: for ever, whatever follows.
        let forever = [
            toleration(TAINT_UNREACHABLE, None),
            toleration(TAINT_UNREACHABLE, Some(300)),
        ];
        assert_eq!(eviction_for(&taints, &forever), Eviction::Never);
        // tolerationSeconds 0: at once.
        assert_eq!(
            eviction_for(&taints, &[toleration(TAINT_UNREACHABLE, Some(0))]),
            Eviction::Now {
                taint: unreachable.clone()
            }
        );
        // Not tolerated: at once.
        assert_eq!(
            eviction_for(&taints, &[toleration(TAINT_NOT_READY, Some(300))]),
            Eviction::Now {
                taint: unreachable.clone()
            }
        );
        // Two NoExecute taints: the least of the used tolerations.
        let user = taint("maintenance", TaintEffect::NoExecute, Some(at(90)));
        let both = [unreachable.clone(), user.clone()];
        let mut tolerations = defaults.to_vec();
        tolerations.push(toleration("maintenance", Some(60)));
        assert_eq!(
            eviction_for(&both, &tolerations),
            Eviction::After {
                taint: user,
                toleration_seconds: 60
            }
        );
        tolerations.pop();
        tolerations.push(toleration("maintenance", None));
        assert_eq!(eviction_for(&both, &tolerations), after(300));
        // NoSchedule taints alone never evict.
        assert_eq!(eviction_for(&taints[..1], &[]), Eviction::Never);
    }

    #[test]
    fn an_earlier_schedule_stands_and_counts_from_when_taints_were_first_seen() {
        let unreachable = taint(TAINT_UNREACHABLE, TaintEffect::NoExecute, Some(at(60)));
        let first = reschedule(None, &unreachable, 300, at(61)).expect("scheduled");
        assert_eq!((first.created_at, first.fire_at), (at(61), at(361)));
        // Seen again later (a swap to not-ready): the first schedule stands.
        let not_ready = taint(TAINT_NOT_READY, TaintEffect::NoExecute, Some(at(100)));
        assert_eq!(reschedule(Some(&first), &not_ready, 300, at(100)), None);
        // Processed again at the same instant with a longer toleration: moved out,
        // keeping the first start.
        let longer = reschedule(Some(&first), &unreachable, 600, at(61)).expect("moved");
        assert_eq!((longer.created_at, longer.fire_at), (at(61), at(661)));
    }

    #[test]
    fn the_observed_ready_status_decides_queue_swap_or_removal() {
        let unreachable = taint(TAINT_UNREACHABLE, TaintEffect::NoExecute, Some(at(60)));
        let not_ready = taint(TAINT_NOT_READY, TaintEffect::NoExecute, Some(at(60)));
        let unreachable_no_schedule = taint(TAINT_UNREACHABLE, TaintEffect::NoSchedule, None);
        use ConditionStatus::{False, True, Unknown};
        assert_eq!(
            taint_action(Unknown, &[unreachable_no_schedule]),
            TaintAction::Queue { requeue: true }
        );
        assert_eq!(
            taint_action(Unknown, std::slice::from_ref(&unreachable)),
            TaintAction::Queue { requeue: false }
        );
        assert_eq!(
            taint_action(Unknown, std::slice::from_ref(&not_ready)),
            TaintAction::Swap {
                key: TAINT_UNREACHABLE
            }
        );
        assert_eq!(
            taint_action(False, &[unreachable]),
            TaintAction::Swap {
                key: TAINT_NOT_READY
            }
        );
        assert_eq!(
            taint_action(False, &[not_ready]),
            TaintAction::Queue { requeue: false }
        );
        assert_eq!(taint_action(True, &[]), TaintAction::MarkReachable);
        assert_eq!(
            tainter_taint(Unknown, at(70)),
            Some(taint(
                TAINT_UNREACHABLE,
                TaintEffect::NoExecute,
                Some(at(70))
            ))
        );
        assert_eq!(tainter_taint(True, at(70)), None);
    }

    #[test]
    fn unknown_status_keeps_the_heartbeat() {
        let mut node = node_with("n", 1000, 1 << 30, 110);
        node.status.ready.last_heartbeat_time = at(10);
        let unknown = mark_unknown(&node, at(65));
        assert_eq!(unknown.status.ready.status, ConditionStatus::Unknown);
        assert_eq!(&*unknown.status.ready.reason, REASON_NODE_STATUS_UNKNOWN);
        assert_eq!(
            &*unknown.status.ready.message,
            "Kubelet stopped posting node status."
        );
        assert_eq!(unknown.status.ready.last_heartbeat_time, at(10));
        assert_eq!(unknown.status.ready.last_transition_time, at(65));
    }

    #[test]
    fn grace_periods_count_from_the_last_sign_of_life() {
        let config = ControllerManagerConfig::default();
        let node = Rc::new(node_with("n", 1000, 1 << 30, 110));
        let mut health = NodeHealth::new(node.clone(), None, at(0));
        health.observe_lease(Some(at(20)), at(20));
        assert!(!health.is_stale(at(70), &config));
        assert!(health.is_stale(at(71), &config));
        // An older renewal is not a sign of life.
        health.observe_lease(Some(at(15)), at(75));
        assert_eq!(health.probe_timestamp, at(20));
        // A node that never reported gets the startup grace.
        let mut fresh = node_with("m", 1000, 1 << 30, 110);
        fresh.status.ready.status = ConditionStatus::Unknown;
        let fresh = NodeHealth::new(Rc::new(fresh), None, at(0));
        assert_eq!(fresh.grace_period(&config), SimDuration::from_secs(60));
        assert!(!fresh.is_stale(at(60), &config));
        assert!(fresh.is_stale(at(61), &config));
    }

    #[test]
    fn taints_follow_conditions_and_the_no_execute_decision() {
        let mut node = node_with("n", 1000, 1 << 30, 110);
        node.spec.taints = vec![taint("dedicated", TaintEffect::NoSchedule, None)];
        node.status.ready.status = ConditionStatus::Unknown;
        // Unknown: unreachable NoSchedule at once; NoExecute only when decided.
        let kept = desired_taints(&node, &NoExecute::Keep);
        assert_eq!(
            kept,
            vec![
                taint("dedicated", TaintEffect::NoSchedule, None),
                taint(TAINT_UNREACHABLE, TaintEffect::NoSchedule, None),
            ]
        );
        let unreachable = taint(TAINT_UNREACHABLE, TaintEffect::NoExecute, Some(at(55)));
        let set = desired_taints(&node, &NoExecute::Set(unreachable.clone()));
        assert_eq!(set[2], unreachable);
        // Once on the node, Keep keeps it with its timeAdded.
        node.spec.taints = set.clone();
        assert_eq!(desired_taints(&node, &NoExecute::Keep), set);
        // A swap replaces it in one write.
        node.status.ready.status = ConditionStatus::False;
        let not_ready = taint(TAINT_NOT_READY, TaintEffect::NoExecute, Some(at(100)));
        let swapped = desired_taints(&node, &NoExecute::Set(not_ready.clone()));
        assert!(swapped.contains(&not_ready));
        assert!(!swapped.iter().any(|t| &*t.key == TAINT_UNREACHABLE));
        // Ready again: the NoSchedule taint goes with the update, the NoExecute one only
        // when a monitor pass marks the node reachable.
        node.status.ready.status = ConditionStatus::True;
        node.spec.unschedulable = true;
        assert_eq!(
            desired_taints(&node, &NoExecute::Keep),
            vec![
                taint("dedicated", TaintEffect::NoSchedule, None),
                unreachable,
                taint(TAINT_UNSCHEDULABLE, TaintEffect::NoSchedule, None),
            ]
        );
        assert_eq!(
            desired_taints(&node, &NoExecute::Clear),
            vec![
                taint("dedicated", TaintEffect::NoSchedule, None),
                taint(TAINT_UNSCHEDULABLE, TaintEffect::NoSchedule, None),
            ]
        );
    }
}
