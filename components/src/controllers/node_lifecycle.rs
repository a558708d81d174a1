//! The node lifecycle controller (`pkg/controller/nodelifecycle`) and the taint-eviction
//! controller (`pkg/controller/tainteviction`).
//!
//! Every `node_monitor_period` each node's health is checked: the controller notes, by
//! its own clock, when it last saw the node's Lease renewed or its Ready heartbeat
//! change. Past `node_monitor_grace_period` (`node_startup_grace_period` for a node
//! that never reported) the node's Ready condition becomes Unknown and its pods
//! Ready=False. Conditions map to NoSchedule taints at once; the NoExecute
//! `unreachable` / `not-ready` taint goes through a per-zone queue rate-limited by
//! `node_eviction_rate` (slowed or stopped when a zone or the whole cluster is
//! disrupted). Pods on a node with a NoExecute taint they do not tolerate are deleted at
//! once; those that tolerate it for `tolerationSeconds` at `timeAdded` plus that.

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

// ---------------------------------------------------------------------------------------
// Rate limiting

/// The interval between tokens for a rate in events per second; `None` for a rate of 0
/// (nothing is ever accepted).
pub fn rate_interval(rate_per_second: f64) -> Option<SimDuration> {
    (rate_per_second > 0.0).then(|| SimDuration::from_nanos((1e9 / rate_per_second).round() as u64))
}

/// `flowcontrol.NewTokenBucketRateLimiter(qps, burst = 1)`: one token every interval,
/// at most one stored; a fresh bucket is full.
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

    /// `SwapLimiter`: a new, full bucket at another rate (no change at the same rate).
    pub fn set_rate(&mut self, rate_per_second: f64) {
        let interval = rate_interval(rate_per_second);
        if interval != self.interval {
            *self = TokenBucket {
                interval,
                next_at: SimTime::ZERO,
            };
        }
    }
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

/// `ComputeZoneState`: no ready node (and some not ready) is a full disruption; more
/// than 2 not ready and at least `unhealthy_zone_threshold` of them a partial one.
pub fn compute_zone_state(
    ready: usize,
    not_ready: usize,
    unhealthy_zone_threshold: f64,
) -> ZoneState {
    if ready == 0 && not_ready > 0 {
        ZoneState::FullDisruption
    } else if not_ready > 2
        && not_ready as f64 / (not_ready + ready) as f64 >= unhealthy_zone_threshold
    {
        ZoneState::PartialDisruption
    } else {
        ZoneState::Normal
    }
}

/// `setLimiterInZone`: the tainting rate for a zone in `state` with `zone_size` nodes.
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

/// A zone's NoExecute tainter: a FIFO of nodes waiting for a token.
#[derive(Debug)]
struct Zone {
    queue: VecDeque<Str>,
    queued: FxIndexSet<Str>,
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
            queued: FxIndexSet::default(),
            bucket: TokenBucket::new(rate),
            state: ZoneState::Initial,
            ready: 0,
            not_ready: 0,
        }
    }

    fn add(&mut self, node: &Str) {
        if self.queued.insert(node.clone()) {
            self.queue.push_back(node.clone());
        }
    }

    fn remove(&mut self, node: &Str) {
        if self.queued.swap_remove(node) {
            self.queue.retain(|queued| queued != node);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Node health

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
    /// The zone tainter let the NoExecute taint through at this (host clock) instant; it
    /// is not on the node yet.
    no_execute_approved: Option<SimTime>,
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
            no_execute_approved: None,
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
    updated
}

/// A taint this controller owns.
fn controller_taint(taint: &Taint) -> bool {
    match taint.effect {
        TaintEffect::NoSchedule => matches!(
            &*taint.key,
            TAINT_NOT_READY | TAINT_UNREACHABLE | TAINT_MEMORY_PRESSURE | TAINT_UNSCHEDULABLE
        ),
        TaintEffect::NoExecute => matches!(&*taint.key, TAINT_NOT_READY | TAINT_UNREACHABLE),
        TaintEffect::PreferNoSchedule => false,
    }
}

fn no_execute_taint(node: &Node) -> Option<&Taint> {
    node.spec
        .taints
        .iter()
        .find(|t| t.effect == TaintEffect::NoExecute && controller_taint(t))
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
/// (`doNoScheduleTaintingPass`), and the NoExecute taint for Ready False/Unknown once the
/// zone tainter approved it (kept with its `timeAdded` while it stays; swapped at once
/// between `not-ready` and `unreachable`; removed when the node is Ready or evictions
/// are stopped). Other taints keep their place; controller taints are appended.
pub fn desired_taints(
    node: &Node,
    no_execute_approved: Option<SimTime>,
    evictions_stopped: bool,
    now: SimTime,
) -> Vec<Taint> {
    let mut wanted: Vec<Taint> = Vec::new();
    let ready = node.status.ready.status;
    match ready {
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
    if node.spec.unschedulable {
        wanted.push(taint(TAINT_UNSCHEDULABLE, TaintEffect::NoSchedule, None));
    }
    let no_execute_key = match ready {
        ConditionStatus::False => Some(TAINT_NOT_READY),
        ConditionStatus::Unknown => Some(TAINT_UNREACHABLE),
        ConditionStatus::True => None,
    };
    if let Some(key) = no_execute_key
        && !evictions_stopped
    {
        match no_execute_taint(node) {
            Some(existing) if &*existing.key == key => wanted.push(existing.clone()),
            Some(_) => wanted.push(taint(key, TaintEffect::NoExecute, Some(now))),
            None => {
                if let Some(approved) = no_execute_approved {
                    wanted.push(taint(key, TaintEffect::NoExecute, Some(approved)));
                }
            }
        }
    }
    let same = |a: &Taint, b: &Taint| a.key == b.key && a.effect == b.effect;
    let mut result: Vec<Taint> = node
        .spec
        .taints
        .iter()
        .filter(|t| !controller_taint(t) || wanted.iter().any(|w| same(w, t) && w == *t))
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

/// What the taint-eviction controller will do with a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// Every NoExecute taint is tolerated for ever (or there is none).
    Never,
    /// A NoExecute taint is not tolerated at all.
    Now { taint: Taint },
    /// The earliest `timeAdded + tolerationSeconds` over the node's NoExecute taints.
    At {
        at: SimTime,
        taint: Taint,
        toleration_seconds: u64,
    },
}

/// The pod's fate on a node with `taints`: for each NoExecute taint the shortest
/// `tolerationSeconds` among the tolerations that match it (none with seconds: for ever);
/// a taint without any matching toleration evicts at once. `now` stands in for a missing
/// `timeAdded`.
pub fn eviction_for(taints: &[Taint], tolerations: &[Toleration], now: SimTime) -> Eviction {
    let mut earliest: Option<(SimTime, &Taint, u64)> = None;
    for taint in taints.iter().filter(|t| t.effect == TaintEffect::NoExecute) {
        let matching: Vec<&Toleration> =
            tolerations.iter().filter(|t| t.tolerates(taint)).collect();
        if matching.is_empty() {
            return Eviction::Now {
                taint: taint.clone(),
            };
        }
        let Some(seconds) = matching.iter().filter_map(|t| t.toleration_seconds).min() else {
            continue;
        };
        let at = taint.time_added.unwrap_or(now) + SimDuration::from_secs(seconds);
        if earliest.is_none_or(|(current, _, _)| at < current) {
            earliest = Some((at, taint, seconds));
        }
    }
    match earliest {
        Some((at, taint, toleration_seconds)) => Eviction::At {
            at,
            taint: taint.clone(),
            toleration_seconds,
        },
        None => Eviction::Never,
    }
}

fn describe_taint(taint: &Taint) -> String {
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

// ---------------------------------------------------------------------------------------
// The controller's state

#[derive(Debug)]
pub struct NodeLifecycle {
    health: FxIndexMap<Str, NodeHealth>,
    zones: BTreeMap<Str, Zone>,
    writes_in_flight: FxIndexSet<Str>,
    /// All zones fully disrupted: no NoExecute taints, no tainting.
    evictions_stopped: bool,
    tainter_armed_at: Option<SimTime>,
    /// (host-clock deadline, pod uid).
    evictions: BTreeSet<(SimTime, u64)>,
    eviction_of: FxIndexMap<u64, SimTime>,
    eviction_armed_at: Option<SimTime>,
    default_rate: f64,
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
        }
    }

    /// Forgets everything, as a crashed process does.
    pub fn clear(&mut self) {
        *self = NodeLifecycle::with_rate(self.default_rate);
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
        if let Some(at) = self.eviction_of.swap_remove(&uid) {
            self.evictions.remove(&(at, uid));
        }
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
            }
        }
    }

    fn observe_node(&mut self, node: &Rc<Node>, now: SimTime) {
        let name = &node.metadata.name;
        match self.node_lifecycle.health.get_mut(name) {
            Some(health) => health.observe_node(node, now),
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

    /// `monitorNodeHealth`: every node's health, then the zones' disruption states, then
    /// the tainting queues. Taints follow node changes as they arrive, so the pass only
    /// looks for nodes that went quiet.
    pub(super) fn monitor_node_health(&mut self, cx: &mut Context<'_, Msg>) {
        let now = cx.now();
        let lifecycle = &self.node_lifecycle;
        let quiet: Vec<Str> = lifecycle
            .health
            .iter()
            .filter(|(name, health)| {
                health.latest.status.ready.status != ConditionStatus::Unknown
                    && health.is_stale(now, &self.config)
                    && !lifecycle.writes_in_flight.contains(*name)
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in &quiet {
            self.mark_unknown(name, cx);
        }
        self.handle_disruption(cx);
        self.tainting_pass(cx);
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
        // The NoExecute taint queues in this same pass (it is written once the status
        // write is back).
        let queue = no_execute_taint(&node).is_none() && health.no_execute_approved.is_none();
        let zone = health.zone.clone();
        if queue {
            self.node_lifecycle.zone(&zone).add(name);
        }
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

    /// Brings the node's taints to what its conditions ask for (one write at a time per
    /// node), queueing it for the rate-limited NoExecute taint when it is not Ready.
    fn reconcile_node_taints(&mut self, name: &Str, cx: &mut Context<'_, Msg>) {
        if !self.informers.synced() || self.node_lifecycle.writes_in_flight.contains(name) {
            return;
        }
        let stopped = self.node_lifecycle.evictions_stopped;
        let Some(health) = self.node_lifecycle.health.get_mut(name) else {
            return;
        };
        let node = health.latest.clone();
        let zone = health.zone.clone();
        let ready = node.status.ready.status;
        let needs_queue = ready != ConditionStatus::True
            && no_execute_taint(&node).is_none()
            && health.no_execute_approved.is_none();
        if ready == ConditionStatus::True {
            health.no_execute_approved = None;
        }
        let approved = health.no_execute_approved;
        if ready == ConditionStatus::True {
            self.node_lifecycle.zone(&zone).remove(name);
        } else if needs_queue {
            self.node_lifecycle.zone(&zone).add(name);
            self.arm_tainter(cx);
        }
        let desired = desired_taints(&node, approved, stopped, cx.host_clock());
        if desired == node.spec.taints {
            return;
        }
        let added = desired
            .iter()
            .find(|t| t.effect == TaintEffect::NoExecute && !node.spec.taints.contains(t))
            .cloned();
        let removed = no_execute_taint(&node)
            .filter(|t| !desired.contains(t))
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
            Ok(ApiOk::Object(Object::Node(node))) => {
                health.set_latest(node);
                if no_execute_taint(node).is_some() {
                    health.no_execute_approved = None;
                }
            }
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
    /// fully disrupted, tainting stops and NoExecute taints are removed (the controller
    /// assumes its own network is the problem).
    fn handle_disruption(&mut self, cx: &mut Context<'_, Msg>) {
        let threshold = self.config.unhealthy_zone_threshold;
        self.node_lifecycle
            .zones
            .retain(|_, zone| zone.ready + zone.not_ready > 0);
        let counts: BTreeMap<Str, (usize, usize)> = self
            .node_lifecycle
            .zones
            .iter()
            .map(|(name, zone)| (name.clone(), (zone.ready, zone.not_ready)))
            .collect();
        let new_states: BTreeMap<Str, ZoneState> = counts
            .iter()
            .map(|(zone, &(ready, not_ready))| {
                (
                    zone.clone(),
                    compute_zone_state(ready, not_ready, threshold),
                )
            })
            .collect();
        let all_are_full = new_states
            .values()
            .all(|state| *state == ZoneState::FullDisruption);
        let all_were_full = self
            .node_lifecycle
            .zones
            .values()
            .all(|zone| zone.state == ZoneState::FullDisruption);
        if all_are_full && all_were_full {
            return;
        }
        let size = |zone: &Str| counts.get(zone).map_or(0, |(r, n)| r + n);
        if all_are_full {
            // Entering full disruption: stop evictions everywhere.
            self.node_lifecycle.evictions_stopped = true;
            for zone in self.node_lifecycle.zones.values_mut() {
                zone.bucket.set_rate(0.0);
                zone.state = ZoneState::FullDisruption;
            }
            for health in self.node_lifecycle.health.values_mut() {
                health.no_execute_approved = None;
            }
            let count = self.node_lifecycle.health.len();
            cx.record("step", || {
                format!("all {count} nodes are not Ready: node controller stops evictions (full disruption)")
            });
            let names: Vec<Str> = self.node_lifecycle.health.keys().cloned().collect();
            for name in &names {
                self.reconcile_node_taints(name, cx);
            }
            return;
        }
        if all_were_full && self.node_lifecycle.evictions_stopped {
            // Leaving full disruption: every node gets a fresh grace period.
            self.node_lifecycle.evictions_stopped = false;
            let now = cx.now();
            for health in self.node_lifecycle.health.values_mut() {
                health.probe_timestamp = now;
                health.ready_transition_timestamp = now;
            }
            cx.record("detail", || {
                "some nodes are Ready again: evictions resume".to_string()
            });
            let names: Vec<Str> = self.node_lifecycle.health.keys().cloned().collect();
            for name in &names {
                self.reconcile_node_taints(name, cx);
            }
        }
        for (zone_name, zone) in self.node_lifecycle.zones.iter_mut() {
            let state = new_states[zone_name];
            if zone.state != state || all_were_full {
                zone.bucket
                    .set_rate(zone_eviction_rate(state, size(zone_name), &self.config));
                if zone.state != state && zone.state != ZoneState::Initial {
                    let name = zone_name.clone();
                    cx.record("detail", || format!("zone {name:?} is now {state:?}"));
                }
                zone.state = state;
            }
        }
    }

    /// `doNoExecuteTaintingPass`: each zone lets as many queued nodes through as its
    /// bucket has tokens.
    fn tainting_pass(&mut self, cx: &mut Context<'_, Msg>) {
        if self.node_lifecycle.evictions_stopped {
            return;
        }
        let now = cx.now();
        let host_now = cx.host_clock();
        let mut approved: Vec<Str> = Vec::new();
        let NodeLifecycle { zones, health, .. } = &mut self.node_lifecycle;
        for zone in zones.values_mut() {
            while let Some(name) = zone.queue.front().cloned() {
                let still_needed = health.get(&name).is_some_and(|h| {
                    h.effective_ready() != ConditionStatus::True
                        && no_execute_taint(&h.latest).is_none()
                });
                if still_needed && !zone.bucket.try_accept(now) {
                    break;
                }
                zone.queue.pop_front();
                zone.queued.swap_remove(&name);
                if still_needed {
                    health.get_mut(&name).expect("checked").no_execute_approved = Some(host_now);
                    approved.push(name);
                }
            }
        }
        for name in &approved {
            self.reconcile_node_taints(name, cx);
        }
        self.arm_tainter(cx);
    }

    fn arm_tainter(&mut self, cx: &mut Context<'_, Msg>) {
        if self.node_lifecycle.evictions_stopped {
            return;
        }
        let next = self
            .node_lifecycle
            .zones
            .values()
            .filter(|zone| !zone.queue.is_empty())
            .filter_map(|zone| zone.bucket.next_token())
            .min();
        let Some(at) = next else { return };
        let at = at.max(cx.now());
        if self
            .node_lifecycle
            .tainter_armed_at
            .is_none_or(|armed| at < armed)
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
        }
    }

    // -----------------------------------------------------------------------------------
    // Taint-based eviction

    /// Re-plans the eviction of every pod on `node` (its NoExecute taints changed).
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
                self.plan_eviction(&pod, cx);
            } else {
                self.node_lifecycle.cancel_eviction(pod.metadata.uid);
            }
        }
        self.arm_eviction(cx);
    }

    /// The taint-eviction controller's pod handler.
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
            self.plan_eviction(new, cx);
            self.arm_eviction(cx);
        }
    }

    fn plan_eviction(&mut self, pod: &Rc<Pod>, cx: &mut Context<'_, Msg>) {
        let uid = pod.metadata.uid;
        self.node_lifecycle.cancel_eviction(uid);
        if pod.metadata.is_terminating() {
            return;
        }
        let Some(node_name) = &pod.spec.node_name else {
            return;
        };
        let Some(node) = self.informers.nodes.get("", node_name) else {
            return;
        };
        let now = cx.host_clock();
        match eviction_for(&node.spec.taints, &pod.spec.tolerations, now) {
            Eviction::Never => {}
            Eviction::Now { taint } => self.evict(pod, node_name, &taint, None, cx),
            Eviction::At {
                at,
                taint,
                toleration_seconds,
            } => {
                if at <= now {
                    self.evict(pod, node_name, &taint, Some(toleration_seconds), cx);
                } else {
                    self.node_lifecycle.evictions.insert((at, uid));
                    self.node_lifecycle.eviction_of.insert(uid, at);
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
            self.node_lifecycle.eviction_of.swap_remove(&uid);
            due.push(uid);
        }
        for uid in due {
            // Re-check against the node as it is now: the taint may be gone.
            if let Some(pod) = self.pods.get(uid).cloned() {
                self.plan_eviction(&pod, cx);
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
            // Try again in a second unless the pod is gone.
            if let Some(current) = self.pods.get(pod_uid).cloned()
                && !current.metadata.is_terminating()
            {
                let at = cx.host_clock() + SimDuration::from_secs(1);
                self.node_lifecycle.evictions.insert((at, pod_uid));
                self.node_lifecycle.eviction_of.insert(pod_uid, at);
                self.arm_eviction(cx);
            }
        }
    }
}

#[cfg(test)]
mod tests {
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
        // Idle time does not bank more than one token.
        assert!(bucket.try_accept(at(200)));
        assert!(!bucket.try_accept(at(201)));
        // Rate 0 never accepts; a new rate starts full.
        bucket.set_rate(0.0);
        assert!(!bucket.try_accept(at(1000)));
        assert_eq!(bucket.next_token(), None);
        bucket.set_rate(0.01);
        assert!(bucket.try_accept(at(1000)));
        assert_eq!(bucket.next_token(), Some(at(1100)));
    }

    #[test]
    fn zone_states_follow_upstream_thresholds() {
        assert_eq!(compute_zone_state(0, 1, 0.55), ZoneState::FullDisruption);
        assert_eq!(compute_zone_state(0, 0, 0.55), ZoneState::Normal);
        assert_eq!(compute_zone_state(1, 2, 0.55), ZoneState::Normal);
        assert_eq!(compute_zone_state(2, 3, 0.55), ZoneState::PartialDisruption);
        assert_eq!(compute_zone_state(3, 3, 0.55), ZoneState::Normal);
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
    }

    fn toleration(key: &str, seconds: Option<u64>) -> Toleration {
        Toleration {
            key: s(key),
            operator: TolerationOperator::Exists,
            value: s(""),
            effect: Some(TaintEffect::NoExecute),
            toleration_seconds: seconds,
        }
    }

    #[test]
    fn eviction_time_is_time_added_plus_the_shortest_toleration() {
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
        assert_eq!(
            eviction_for(&taints, &defaults, at(61)),
            Eviction::At {
                at: at(360),
                taint: unreachable.clone(),
                toleration_seconds: 300
            }
        );
        // Several matching tolerations: the minimum counts.
        let mut tolerations = defaults.to_vec();
        tolerations.push(toleration("", Some(30)));
        assert_eq!(
            eviction_for(&taints, &tolerations, at(61)),
            Eviction::At {
                at: at(90),
                taint: unreachable.clone(),
                toleration_seconds: 30
            }
        );
        // Tolerated without seconds: never.
        assert_eq!(
            eviction_for(&taints, &[toleration(TAINT_UNREACHABLE, None)], at(61)),
            Eviction::Never
        );
        // Not tolerated: now.
        assert_eq!(
            eviction_for(&taints, &[toleration(TAINT_NOT_READY, Some(300))], at(61)),
            Eviction::Now { taint: unreachable }
        );
        // NoSchedule taints alone never evict.
        assert_eq!(eviction_for(&taints[..1], &[], at(61)), Eviction::Never);
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
    fn taints_follow_conditions_and_approval() {
        let mut node = node_with("n", 1000, 1 << 30, 110);
        node.spec.taints = vec![taint("dedicated", TaintEffect::NoSchedule, None)];
        node.status.ready.status = ConditionStatus::Unknown;
        // Unknown: unreachable NoSchedule at once; NoExecute only once approved.
        let unapproved = desired_taints(&node, None, false, at(50));
        assert_eq!(
            unapproved,
            vec![
                taint("dedicated", TaintEffect::NoSchedule, None),
                taint(TAINT_UNREACHABLE, TaintEffect::NoSchedule, None),
            ]
        );
        let approved = desired_taints(&node, Some(at(55)), false, at(56));
        assert_eq!(
            approved[2],
            taint(TAINT_UNREACHABLE, TaintEffect::NoExecute, Some(at(55)))
        );
        // Once on the node, the taint keeps its timeAdded.
        node.spec.taints = approved.clone();
        assert_eq!(desired_taints(&node, None, false, at(99)), approved);
        // Ready=False swaps unreachable for not-ready at once.
        node.status.ready.status = ConditionStatus::False;
        let swapped = desired_taints(&node, None, false, at(100));
        assert!(swapped.contains(&taint(
            TAINT_NOT_READY,
            TaintEffect::NoExecute,
            Some(at(100))
        )));
        assert!(!swapped.iter().any(|t| &*t.key == TAINT_UNREACHABLE));
        // Evictions stopped: no NoExecute taint.
        let stopped = desired_taints(&node, None, true, at(100));
        assert!(stopped.iter().all(|t| t.effect != TaintEffect::NoExecute));
        // Ready again: only the user's taint stays; cordoned nodes get unschedulable.
        node.status.ready.status = ConditionStatus::True;
        node.spec.unschedulable = true;
        assert_eq!(
            desired_taints(&node, None, false, at(120)),
            vec![
                taint("dedicated", TaintEffect::NoSchedule, None),
                taint(TAINT_UNSCHEDULABLE, TaintEffect::NoSchedule, None),
            ]
        );
    }
}
