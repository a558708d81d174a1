//! Node-pressure eviction: the kubelet's eviction manager (upstream `pkg/kubelet/eviction`,
//! v1.34) for `memory.available` and the filesystem signals (`nodefs.available`,
//! `nodefs.inodesFree`, `imagefs.available`, `imagefs.inodesFree`; see `filesystem`).
//!
//! Upstream synchronizes every `evictionMonitoringPeriod` (10 s): it reads the node's
//! stats, compares each signal with the hard thresholds, keeps a pressure condition
//! (MemoryPressure, DiskPressure) for `evictionPressureTransitionPeriod` (5 min) after
//! one of its thresholds was last met, first evicts every pod above its ephemeral-storage
//! limit (`localStorageEviction`), and, while a threshold is met, tries node-level reclaim
//! for a filesystem signal (unused images) and evicts one pod ranked first for the
//! signal (`rankMemoryPressure`, `rankDiskPressureFunc`) if that was not enough; after an
//! eviction it waits (polling every second, at most 30 s) for the pods' resources to be
//! reclaimed and synchronizes again at once.
//!
//! kubesim keeps those instants but skips the synchronizations that could change
//! nothing: with every signal on the safe side of its threshold, no condition held and
//! no pod with an ephemeral-storage limit, a synchronize does nothing. The kernel tells
//! the kubelet when `memory.available` crosses its threshold (`MemoryMsg`, a memcg
//! threshold notification) and when some filesystem threshold becomes met or none is
//! (`DiskMsg`); from then on the manager synchronizes on its 10 s beat, reading the
//! kernel's stats, until the conditions have cleared. A node that never nears a
//! threshold costs a message or two at start.
//!
//! Node-level reclaim deletes unused images (`DeleteUnusedImages`); upstream also removes
//! dead containers first (`DeleteAllUnusedContainers`), which kubesim has none of to
//! remove: its runtime removes a pod's exited containers with the pod's sandbox, and
//! keeps every exited attempt of a running pod's container until then (container GC is
//! not modelled).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use sim_core::{Context, SimDuration, SimTime};

use crate::api::quantity::format_bytes;
use crate::api::{Pod, PodPhase, QosClass, ResourceList, Str, Taint, TaintEffect, s};
use crate::controllers::node_lifecycle::TAINT_MEMORY_PRESSURE;
use crate::filesystem::{
    DiskSignal, DiskStats, DiskThreshold, ThresholdValue, default_disk_thresholds, threshold_met,
};
use crate::kernel::{DiskMsg, MemoryMsg, MemoryStats};
use crate::msg::Msg;
use crate::runtime::CallId;

use super::qos::{is_critical_pod, qos_class};
use super::worker::{ContainerStage, Lifecycle, MINIMUM_GRACE_PERIOD, PodWorker, SandboxStage};
use super::{Kubelet, Tick};

/// `status.reason` of an evicted pod (upstream `eviction.Reason`).
pub const REASON_EVICTED: &str = "Evicted";

/// The message of a pod refused under MemoryPressure (upstream `nodeConditionMessageFmt`
/// with the node's conditions).
pub const MESSAGE_MEMORY_PRESSURE_ADMISSION: &str = "The node had condition: [MemoryPressure]. ";

/// Upstream eviction manager's `Admit`: with no pressure condition every pod is admitted,
/// and so is a critical pod under any. Under MemoryPressure alone a pod that is not
/// BestEffort is admitted, and so is a BestEffort pod that tolerates the
/// `node.kubernetes.io/memory-pressure:NoSchedule` taint. Any other pod is refused: every
/// pod under DiskPressure. Returns the refusal's message.
pub fn admission_refusal(pod: &Pod, memory_pressure: bool, disk_pressure: bool) -> Option<String> {
    if !memory_pressure && !disk_pressure || is_critical_pod(pod) {
        return None;
    }
    if !disk_pressure {
        let taint = Taint {
            key: s(TAINT_MEMORY_PRESSURE),
            value: s(""),
            effect: TaintEffect::NoSchedule,
            time_added: None,
        };
        if qos_class(pod) != QosClass::BestEffort
            || pod.spec.tolerations.iter().any(|t| t.tolerates(&taint))
        {
            return None;
        }
    }
    let conditions: Vec<&str> = [
        (memory_pressure, "MemoryPressure"),
        (disk_pressure, "DiskPressure"),
    ]
    .into_iter()
    .filter_map(|(held, name)| held.then_some(name))
    .collect();
    Some(format!(
        "The node had condition: [{}]. ",
        conditions.join(" ")
    ))
}

/// The eviction manager's settings, named as in `KubeletConfiguration`.
#[derive(Clone, Debug)]
pub struct EvictionConfig {
    /// `evictionHard: memory.available`, upstream default 100Mi.
    pub memory_available_hard_bytes: u64,
    /// `evictionHard` on the filesystem signals, upstream default nodefs.available<10%,
    /// nodefs.inodesFree<5%, imagefs.available<15% (`filesystem::default_disk_thresholds`).
    /// In the order the manager looks at them.
    pub disk_hard: Vec<DiskThreshold>,
    /// `evictionMinimumReclaim`, upstream default none (0) for every signal: a threshold
    /// met at the last synchronize stays met until this much more than its quantity is
    /// available, and node-level reclaim is enough only past it.
    pub memory_minimum_reclaim_bytes: u64,
    pub disk_minimum_reclaim: BTreeMap<DiskSignal, ThresholdValue>,
    /// The manager's period (`evictionMonitoringPeriod`), upstream 10 s.
    pub eviction_monitoring_period: SimDuration,
    /// `evictionPressureTransitionPeriod`, upstream default 5 min.
    pub eviction_pressure_transition_period: SimDuration,
    /// How long the manager waits for an evicted pod's cleanup (`podCleanupTimeout`, 30 s)
    /// and how often it looks (`podCleanupPollFreq`, 1 s).
    pub pod_cleanup_timeout: SimDuration,
    pub pod_cleanup_poll_frequency: SimDuration,
}

impl Default for EvictionConfig {
    fn default() -> Self {
        EvictionConfig {
            memory_available_hard_bytes: 100 << 20,
            disk_hard: default_disk_thresholds(),
            memory_minimum_reclaim_bytes: 0,
            disk_minimum_reclaim: BTreeMap::new(),
            eviction_monitoring_period: SimDuration::from_secs(10),
            eviction_pressure_transition_period: SimDuration::from_mins(5),
            pod_cleanup_timeout: SimDuration::from_secs(30),
            pod_cleanup_poll_frequency: SimDuration::from_secs(1),
        }
    }
}

/// What the manager is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Every signal is on the safe side of its threshold, no condition is held and no
    /// pod has an ephemeral-storage limit: nothing to do until the kernel reports
    /// otherwise.
    Idle,
    /// Synchronizing on the beat; the next at the timer.
    Monitoring,
    /// The stats reads of a synchronize are in flight; `after_reclaim`: they re-read
    /// the node after node-level reclaim for that signal.
    Reading {
        read_id: u64,
        after_reclaim: Option<DiskSignal>,
    },
    /// Node-level reclaim for `signal`: the image removals are in flight.
    Reclaiming { signal: DiskSignal },
    /// Waiting for the evicted pods' resources to be reclaimed, until `deadline`.
    WaitingForCleanup { deadline: SimTime },
}

#[derive(Clone, Debug)]
pub struct EvictionManager {
    stage: Stage,
    /// The kernel's last word: `memory.available` is below the threshold.
    signal_below: bool,
    /// The kernel's last word: some filesystem threshold is met.
    disk_met: bool,
    /// When a synchronize last saw a memory / filesystem threshold met.
    memory_last_observed: Option<SimTime>,
    disk_last_observed: Option<SimTime>,
    /// The thresholds the last synchronize found met (upstream `thresholdsMet`), held
    /// until their minimum reclaim is available.
    memory_met_last: bool,
    disk_met_last: Vec<DiskSignal>,
    /// The conditions the node status reports.
    memory_pressure: bool,
    disk_pressure: bool,
    /// The next instant of the 10 s beat (kept while idle, so the phase survives).
    next_sync: SimTime,
    timer_generation: u64,
    next_read_id: u64,
    /// The answers of the reads in flight.
    memory_read: Option<MemoryStats>,
    disk_read: Option<DiskStats>,
    /// The pods evicted by the last synchronize, whose cleanup it waits for.
    evicted: Vec<u64>,
    /// The image removals of a node-level reclaim still unanswered.
    reclaim_calls: BTreeSet<CallId>,
}

impl Default for EvictionManager {
    fn default() -> Self {
        EvictionManager {
            stage: Stage::Idle,
            signal_below: false,
            disk_met: false,
            memory_last_observed: None,
            disk_last_observed: None,
            memory_met_last: false,
            disk_met_last: Vec::new(),
            memory_pressure: false,
            disk_pressure: false,
            next_sync: SimTime::ZERO,
            timer_generation: 0,
            next_read_id: 0,
            memory_read: None,
            disk_read: None,
            evicted: Vec::new(),
            reclaim_calls: BTreeSet::new(),
        }
    }
}

impl EvictionManager {
    pub fn memory_pressure(&self) -> bool {
        self.memory_pressure
    }

    pub fn disk_pressure(&self) -> bool {
        self.disk_pressure
    }

    /// A fresh read id (the eviction manager's reads and the image GC's share them).
    pub fn next_read_id(&mut self) -> u64 {
        self.next_read_id += 1;
        self.next_read_id
    }
}

/// The first instant of the beat (`phase` + k × `period`) at or after `now`.
pub fn next_beat(phase: SimTime, period: SimDuration, now: SimTime) -> SimTime {
    if now <= phase {
        return phase;
    }
    let period_nanos = period.as_nanos().max(1);
    let behind = now.saturating_since(phase).as_nanos();
    let beats = behind.div_ceil(period_nanos);
    SimTime::from_nanos(phase.as_nanos() + beats * period_nanos)
}

/// Upstream `nodeConditionsObservedSince`: a condition is kept while its threshold was
/// last met less than the transition period ago.
pub fn pressure_held(
    last_observed: Option<SimTime>,
    now: SimTime,
    transition: SimDuration,
) -> bool {
    last_observed.is_some_and(|at| now.saturating_since(at) < transition)
}

/// A pod the manager may evict, with what the ranking reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub uid: u64,
    pub priority: i32,
    /// The pod's use of the resource (working set, disk bytes or inodes); `None` when
    /// the stats have none for it.
    pub usage_bytes: Option<u64>,
    /// Upstream `podRequest` of the resource: the containers' requests summed, or the
    /// largest init container's if that is more.
    pub request_bytes: u64,
}

/// Upstream's ranking shape `orderedBy(exceed<R>Requests, priority, <R>)`: pods using
/// more than they request first (pods without stats before all), then lower priority
/// first, then the larger use above request first. Ties keep the older pod (the lower
/// uid) first, where upstream's unstable sort leaves the order open.
fn rank_by_use_over_request(candidates: &mut [Candidate]) {
    fn exceeds(c: &Candidate) -> Option<bool> {
        c.usage_bytes.map(|usage| usage > c.request_bytes)
    }
    fn above_request(c: &Candidate) -> i128 {
        i128::from(c.usage_bytes.unwrap_or(0)) - i128::from(c.request_bytes)
    }
    candidates.sort_by(|a, b| {
        let by_stats_and_excess = match (exceeds(a), exceeds(b)) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => y.cmp(&x),
        };
        by_stats_and_excess
            .then(a.priority.cmp(&b.priority))
            .then(above_request(b).cmp(&above_request(a)))
            .then(a.uid.cmp(&b.uid))
    });
}

/// Upstream `rankMemoryPressure` (`orderedBy(exceedMemoryRequests, priority, memory)`),
/// over working sets and memory requests.
pub fn rank_memory_pressure(candidates: &mut [Candidate]) {
    rank_by_use_over_request(candidates);
}

/// Upstream `rankDiskPressureFunc` (`orderedBy(exceedDiskRequests, priority, disk)`),
/// over the pods' disk usage for the signal (`DiskStats::pod_usage`) and their
/// ephemeral-storage requests. For an inode signal upstream compares inodes with the
/// ephemeral-storage request in bytes, and so does this.
pub fn rank_disk_pressure(candidates: &mut [Candidate]) {
    rank_by_use_over_request(candidates);
}

/// Upstream `podRequest(pod, resource)` for the resource `of` picks.
fn pod_request(pod: &Pod, of: impl Fn(&ResourceList) -> Option<u64>) -> u64 {
    let containers: u64 = pod
        .spec
        .containers
        .iter()
        .map(|c| of(&c.resources.requests).unwrap_or(0))
        .sum();
    let init = pod
        .spec
        .init_containers
        .iter()
        .map(|c| of(&c.resources.requests).unwrap_or(0))
        .max()
        .unwrap_or(0);
    containers.max(init)
}

/// Upstream `podRequest(pod, memory)`.
pub fn pod_memory_request(pod: &Pod) -> u64 {
    pod_request(pod, |r| r.memory_bytes)
}

/// Upstream `podRequest(pod, ephemeral-storage)`.
pub fn pod_ephemeral_storage_request(pod: &Pod) -> u64 {
    pod_request(pod, |r| r.ephemeral_storage_bytes)
}

/// Upstream `PodLimits(pod)[ephemeral-storage]`: the containers' limits summed, or the
/// largest init container's if that is more; `None` when no container has one.
pub fn pod_ephemeral_storage_limit(pod: &Pod) -> Option<u64> {
    let limits = |containers: &[crate::api::Container]| -> Vec<u64> {
        containers
            .iter()
            .filter_map(|c| c.resources.limits.ephemeral_storage_bytes)
            .collect()
    };
    let (containers, init) = (
        limits(&pod.spec.containers),
        limits(&pod.spec.init_containers),
    );
    if containers.is_empty() && init.is_empty() {
        return None;
    }
    let sum: u64 = containers.iter().sum();
    Some(sum.max(init.into_iter().max().unwrap_or(0)))
}

/// One container's files, for the local-storage checks: its name, its writable layer
/// and its logs in bytes, and its ephemeral-storage limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerStorage {
    pub name: Str,
    pub rootfs_bytes: u64,
    pub logs_bytes: u64,
    pub limit_bytes: Option<u64>,
}

/// Upstream `localStorageEviction` for one pod (the emptyDir check has nothing to look
/// at: kubesim pods have no volumes): the pod's use (every container's layer and logs)
/// above the pod's ephemeral-storage limit (`podEphemeralStorageLimitEviction`), else a
/// container's logs (and layer, without a dedicated imagefs) above its own limit
/// (`containerEphemeralStorageLimitEviction`). Returns the eviction message.
pub fn local_storage_violation(
    pod_limit_bytes: Option<u64>,
    containers: &[ContainerStorage],
    dedicated_imagefs: bool,
) -> Option<String> {
    if let Some(limit) = pod_limit_bytes {
        let used: u64 = containers
            .iter()
            .map(|c| c.rootfs_bytes + c.logs_bytes)
            .sum();
        if used > limit {
            return Some(format!(
                "Pod ephemeral local storage usage exceeds the total limit of containers {}. ",
                binary_si(limit)
            ));
        }
    }
    containers.iter().find_map(|c| {
        let limit = c.limit_bytes.filter(|&limit| limit > 0)?;
        let used = c.logs_bytes + if dedicated_imagefs { 0 } else { c.rootfs_bytes };
        (used > limit).then(|| {
            format!(
                "Container {} exceeded its local ephemeral storage limit {:?}. ",
                c.name,
                binary_si(limit)
            )
        })
    })
}

/// A quantity as `resource.Quantity` prints a byte count in BinarySI: the largest binary
/// suffix that divides it exactly (`81920Ki`, `100Mi`), else plain bytes.
pub fn binary_si(bytes: u64) -> String {
    format_bytes(bytes)
}

/// A count as `resource.Quantity` prints it in DecimalSI (inodes): the largest decimal
/// suffix that divides it exactly (`12k`, `3M`), else the plain number.
pub fn decimal_si(count: u64) -> String {
    const SUFFIXES: [(u64, &str); 6] = [
        (1_000_000_000_000_000_000, "E"),
        (1_000_000_000_000_000, "P"),
        (1_000_000_000_000, "T"),
        (1_000_000_000, "G"),
        (1_000_000, "M"),
        (1_000, "k"),
    ];
    if count == 0 {
        return "0".to_string();
    }
    SUFFIXES
        .iter()
        .find(|(unit, _)| count.is_multiple_of(*unit))
        .map_or_else(
            || count.to_string(),
            |(unit, suffix)| format!("{}{suffix}", count / unit),
        )
}

/// Upstream `evictionMessage`: the node's signal, its threshold and what is available,
/// and each container using more than it requests (`containers`: name, use, request;
/// listed for memory and ephemeral-storage, whose per-container use upstream reads).
pub fn eviction_message(
    resource: &str,
    threshold: &str,
    available: &str,
    containers: &[(Str, u64, u64)],
) -> String {
    let mut message = format!(
        "The node was low on resource: {resource}. Threshold quantity: {threshold}, available: {available}. "
    );
    for (name, usage, request) in containers {
        if usage > request {
            message.push_str(&format!(
                "Container {name} was using {}, request is {}, has larger consumption of {resource}. ",
                binary_si(*usage),
                binary_si(*request)
            ));
        }
    }
    message
}

/// Upstream `thresholdsMet` over `thresholds` on `stats`, with `enforce_min_reclaim`: a
/// threshold counts as met while less than its quantity plus its minimum reclaim is
/// available.
pub fn disk_thresholds_met(
    thresholds: &[DiskThreshold],
    minimum_reclaim: &BTreeMap<DiskSignal, ThresholdValue>,
    stats: &DiskStats,
    enforce_min_reclaim: impl Fn(DiskSignal) -> bool,
) -> Vec<DiskThreshold> {
    thresholds
        .iter()
        .copied()
        .filter(|t| {
            let observed = stats.observe(t.signal);
            let extra = minimum_reclaim
                .get(&t.signal)
                .filter(|_| enforce_min_reclaim(t.signal))
                .map_or(0, |value| value.quantity(observed.capacity));
            let quantity = t.value.quantity(observed.capacity).saturating_add(extra);
            threshold_met(ThresholdValue::Quantity(quantity), observed)
        })
        .collect()
}

/// What a synchronize reclaims: memory, or a filesystem signal's resource.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Reclaim {
    Memory,
    Disk(DiskThreshold),
}

/// Upstream `buildSignalToNodeReclaimFuncs`: on a shared disk every filesystem signal
/// first deletes unused containers and images; with a dedicated imagefs only the imagefs
/// signals do (nodefs holds nothing the runtime could delete).
pub fn reclaims_images(signal: DiskSignal, dedicated_imagefs: bool) -> bool {
    !dedicated_imagefs || signal.on_imagefs()
}

impl Kubelet {
    /// Whether the node has filesystems the kernel accounts for (its `ephemeral-storage`).
    pub(super) fn has_filesystems(&self) -> bool {
        self.kernel.is_some()
            && self
                .setup
                .capacity
                .ephemeral_storage_bytes
                .is_some_and(|bytes| bytes > 0)
    }

    /// At start: the thresholds go to the kernel, the beat starts now.
    pub(super) fn start_eviction_manager(&mut self, cx: &mut Context<'_, Msg>) {
        self.eviction = EvictionManager {
            next_sync: cx.now(),
            ..EvictionManager::default()
        };
        let Some(kernel) = self.kernel else {
            return;
        };
        cx.send(
            kernel,
            Msg::Memory(Box::new(MemoryMsg::NotifyAvailableBelow {
                threshold_bytes: self.config.eviction.memory_available_hard_bytes,
            })),
        );
        if self.has_filesystems() {
            cx.send(
                kernel,
                Msg::Disk(Box::new(DiskMsg::NotifyThresholds {
                    thresholds: self.watched_disk_thresholds(),
                })),
            );
        }
    }

    /// The filesystem thresholds the kernel watches for this kubelet: the eviction
    /// manager's `evictionHard`, then the image GC's trigger (its high threshold).
    fn watched_disk_thresholds(&self) -> Vec<DiskThreshold> {
        let mut thresholds = self.config.eviction.disk_hard.clone();
        thresholds.push(super::image_gc::gc_trigger(&self.config.image_gc));
        thresholds
    }

    fn arm_eviction(&mut self, at: SimTime, cx: &mut Context<'_, Msg>) {
        self.eviction.timer_generation += 1;
        let generation = self.eviction.timer_generation;
        self.timer(
            at.saturating_since(cx.now()),
            Tick::Eviction { generation },
            cx,
        );
    }

    /// The manager, idle, has a reason to synchronize: it does at the next beat.
    fn wake_eviction_manager(&mut self, cx: &mut Context<'_, Msg>) {
        if self.eviction.stage == Stage::Idle {
            let period = self.config.eviction.eviction_monitoring_period;
            let at = next_beat(self.eviction.next_sync, period, cx.now());
            self.eviction.stage = Stage::Monitoring;
            self.arm_eviction(at, cx);
        }
    }

    pub(super) fn on_memory_msg(&mut self, msg: MemoryMsg, cx: &mut Context<'_, Msg>) {
        match msg {
            MemoryMsg::AvailableBelow { below } => {
                self.eviction.signal_below = below;
                let node = self.setup.name.clone();
                cx.record("detail", || {
                    let side = if below { "below" } else { "back above" };
                    format!(
                        "kubelet on node {node}: memory.available is {side} the eviction threshold"
                    )
                });
                if below {
                    self.wake_eviction_manager(cx);
                }
            }
            MemoryMsg::Stats { read_id, stats } => {
                if matches!(self.eviction.stage, Stage::Reading { read_id: id, .. } if id == read_id)
                {
                    self.eviction.memory_read = Some(stats);
                    self.maybe_synchronize(cx);
                }
            }
            other @ (MemoryMsg::NotifyAvailableBelow { .. } | MemoryMsg::Read { .. }) => panic!(
                "kubelet/{} got a message it sends: {other:?}",
                self.setup.name
            ),
        }
    }

    pub(super) fn on_disk_msg(&mut self, msg: DiskMsg, cx: &mut Context<'_, Msg>) {
        match msg {
            DiskMsg::ThresholdsMet { met } => {
                // Bits 0..n: `evictionHard`; bit n: the image GC's trigger.
                let n = self.config.eviction.disk_hard.len();
                let eviction = met & ((1u64 << n) - 1) != 0;
                self.image_gc_trigger_met(met & (1u64 << n) != 0);
                if eviction != self.eviction.disk_met {
                    self.eviction.disk_met = eviction;
                    let node = self.setup.name.clone();
                    cx.record("detail", || {
                        let side = if eviction {
                            "now meet"
                        } else {
                            "no longer meet"
                        };
                        format!(
                            "kubelet on node {node}: the filesystems {side} an eviction threshold"
                        )
                    });
                    if eviction {
                        self.wake_eviction_manager(cx);
                    }
                }
            }
            DiskMsg::Stats { read_id, stats } => {
                if self.image_gc_read(read_id) {
                    self.garbage_collect_images_with(&stats, cx);
                } else if matches!(self.eviction.stage, Stage::Reading { read_id: id, .. } if id == read_id)
                {
                    self.eviction.disk_read = Some(stats);
                    self.maybe_synchronize(cx);
                }
            }
            other @ (DiskMsg::NotifyThresholds { .. } | DiskMsg::Read { .. }) => panic!(
                "kubelet/{} got a message it sends: {other:?}",
                self.setup.name
            ),
        }
    }

    pub(super) fn on_eviction_tick(&mut self, generation: u64, cx: &mut Context<'_, Msg>) {
        if generation != self.eviction.timer_generation {
            return;
        }
        match self.eviction.stage {
            Stage::Idle | Stage::Reading { .. } | Stage::Reclaiming { .. } => {}
            Stage::Monitoring => self.read_stats(None, cx),
            Stage::WaitingForCleanup { deadline } => {
                let cleaned = self
                    .eviction
                    .evicted
                    .iter()
                    .all(|&uid| self.pod_cleaned_up(uid));
                if cleaned || cx.now() >= deadline {
                    self.read_stats(None, cx);
                } else {
                    let poll = self.config.eviction.pod_cleanup_poll_frequency;
                    self.arm_eviction(cx.now() + poll, cx);
                }
            }
        }
    }

    /// A synchronize begins (or, after node-level reclaim, continues): the stats are
    /// read; a new synchronize moves the beat on.
    fn read_stats(&mut self, after_reclaim: Option<DiskSignal>, cx: &mut Context<'_, Msg>) {
        let Some(kernel) = self.kernel else {
            return;
        };
        if after_reclaim.is_none() {
            self.eviction.next_sync = cx.now() + self.config.eviction.eviction_monitoring_period;
        }
        let read_id = self.eviction.next_read_id();
        self.eviction.stage = Stage::Reading {
            read_id,
            after_reclaim,
        };
        self.eviction.memory_read = None;
        self.eviction.disk_read = None;
        cx.send(kernel, Msg::Memory(Box::new(MemoryMsg::Read { read_id })));
        if self.has_filesystems() {
            cx.send(kernel, Msg::Disk(Box::new(DiskMsg::Read { read_id })));
        }
    }

    /// Synchronizes once every read of the stage has been answered.
    fn maybe_synchronize(&mut self, cx: &mut Context<'_, Msg>) {
        let Stage::Reading { after_reclaim, .. } = self.eviction.stage else {
            return;
        };
        let disk_ready = self.eviction.disk_read.is_some() || !self.has_filesystems();
        if self.eviction.memory_read.is_none() || !disk_ready {
            return;
        }
        let memory = self.eviction.memory_read.take().expect("checked");
        let disk = self.eviction.disk_read.take();
        match after_reclaim {
            None => self.synchronize(&memory, disk.as_ref(), cx),
            Some(signal) => self.after_reclaim(signal, &memory, disk.as_ref(), cx),
        }
    }

    /// Admission of a new pod while the node has a pressure condition (upstream
    /// `Admit`): a refused pod never starts and is reported Failed with reason `Evicted`.
    /// A pod with an ephemeral-storage limit keeps the manager on its beat. Returns
    /// whether the pod was refused.
    pub(super) fn rejected_under_pressure(
        &mut self,
        worker: &mut PodWorker,
        cx: &mut Context<'_, Msg>,
    ) -> bool {
        let refusal = match worker.pod.status.phase {
            PodPhase::Pending => admission_refusal(
                &worker.pod,
                self.eviction.memory_pressure,
                self.eviction.disk_pressure,
            ),
            _ => None,
        };
        let Some(message) = refusal else {
            // A pod that runs (or is adopted) with a limit to watch.
            if self.has_filesystems() && pod_ephemeral_storage_limit(&worker.pod).is_some() {
                self.wake_eviction_manager(cx);
            }
            return false;
        };
        for record in &mut worker.containers {
            record.stage = ContainerStage::Terminated;
        }
        worker.sandbox = SandboxStage::Removed;
        let (name, node) = (worker.display(cx.recording()), self.setup.name.clone());
        let (memory, disk) = (self.eviction.memory_pressure, self.eviction.disk_pressure);
        cx.record("step", || {
            let why = match (memory, disk) {
                (true, false) => "the node has MemoryPressure and the pod is BestEffort",
                (false, true) => "the node has DiskPressure",
                _ => "the node has MemoryPressure and DiskPressure",
            };
            format!("pod {name}: refused by the kubelet on node {node}: {why}")
        });
        worker.evicted = Some(s(&message));
        true
    }

    /// An evicted pod whose teardown is done rests, Failed, while the API still holds it
    /// (upstream's pod worker keeps a terminated pod until it is deleted): its worker
    /// goes back to active with nothing to run. Returns whether it does.
    pub(super) fn rest_evicted(&mut self, uid: u64) -> bool {
        let Some(worker) = self.workers.get_mut(&uid) else {
            return false;
        };
        let meta = &worker.pod.metadata;
        let in_api = self
            .pods
            .get(&meta.namespace, &meta.name)
            .is_some_and(|pod| pod.metadata.uid == uid && !pod.metadata.is_terminating());
        if worker.evicted.is_none() || !in_api {
            return false;
        }
        worker.lifecycle = Lifecycle::Active;
        true
    }

    /// Upstream `podResourcesAreReclaimed`, as far as kubesim has them: no container of
    /// the pod runs and its sandbox is gone.
    fn pod_cleaned_up(&self, uid: u64) -> bool {
        self.workers.get(&uid).is_none_or(|worker| {
            !worker.containers.iter().any(|c| c.stage.is_running())
                && matches!(
                    worker.sandbox,
                    SandboxStage::None | SandboxStage::Removed | SandboxStage::Failed { .. }
                )
        })
    }

    /// The pods the manager may evict.
    fn eviction_candidates(&self) -> impl Iterator<Item = &PodWorker> {
        self.workers.values().filter(|w| {
            w.lifecycle == Lifecycle::Active
                && w.evicted.is_none()
                && !matches!(w.pod.status.phase, PodPhase::Succeeded | PodPhase::Failed)
                && !w.all_terminated()
                && !is_critical_pod(&w.pod)
        })
    }

    /// Whether some pod the manager watches has an ephemeral-storage limit.
    fn any_ephemeral_storage_limit(&self) -> bool {
        self.has_filesystems()
            && self
                .eviction_candidates()
                .any(|w| pod_ephemeral_storage_limit(&w.pod).is_some())
    }

    /// Upstream `synchronize`.
    fn synchronize(
        &mut self,
        memory: &MemoryStats,
        disk: Option<&DiskStats>,
        cx: &mut Context<'_, Msg>,
    ) {
        let now = cx.now();
        let config = self.config.eviction.clone();
        let available = memory.available_bytes();
        // Met now, or met at the last synchronize and not yet reclaimed past the minimum
        // (upstream merges `thresholdsMet(.., false)` with `thresholdsMet(last, .., true)`).
        let memory_met = available < config.memory_available_hard_bytes
            || self.eviction.memory_met_last
                && available
                    < config
                        .memory_available_hard_bytes
                        .saturating_add(config.memory_minimum_reclaim_bytes);
        let last = std::mem::take(&mut self.eviction.disk_met_last);
        let disk_met = disk.map_or_else(Vec::new, |d| {
            disk_thresholds_met(
                &config.disk_hard,
                &config.disk_minimum_reclaim,
                d,
                |signal| last.contains(&signal),
            )
        });
        self.eviction.memory_met_last = memory_met;
        self.eviction.disk_met_last = disk_met.iter().map(|t| t.signal).collect();
        if memory_met {
            self.eviction.memory_last_observed = Some(now);
        }
        if !disk_met.is_empty() {
            self.eviction.disk_last_observed = Some(now);
        }
        let transition = config.eviction_pressure_transition_period;
        let memory_pressure = pressure_held(self.eviction.memory_last_observed, now, transition);
        let disk_pressure = pressure_held(self.eviction.disk_last_observed, now, transition);
        let node = self.setup.name.clone();
        if memory_pressure != self.eviction.memory_pressure {
            self.eviction.memory_pressure = memory_pressure;
            self.node_status_inputs_changed = true;
            cx.record("step", || {
                if memory_pressure {
                    format!(
                        "kubelet on node {node}: memory.available {} is below the eviction threshold {}: node has MemoryPressure",
                        binary_si(available),
                        binary_si(config.memory_available_hard_bytes)
                    )
                } else {
                    format!(
                        "kubelet on node {node}: no memory pressure for {transition}: MemoryPressure cleared"
                    )
                }
            });
        }
        if disk_pressure != self.eviction.disk_pressure {
            self.eviction.disk_pressure = disk_pressure;
            self.node_status_inputs_changed = true;
            let stats = disk.expect("disk pressure needs filesystems");
            let first = disk_met.first().copied();
            cx.record("step", || match first {
                Some(threshold) => format!(
                    "kubelet on node {node}: {}: node has DiskPressure",
                    describe_met(&threshold, stats)
                ),
                None => format!(
                    "kubelet on node {node}: no disk pressure for {transition}: DiskPressure cleared"
                ),
            });
        }
        // Pods above their ephemeral-storage limits go first, whatever the node's state.
        let evicted = match disk {
            Some(stats) => self.local_storage_eviction(stats, cx),
            None => Vec::new(),
        };
        if !evicted.is_empty() {
            self.wait_for_cleanup(evicted, cx);
            return;
        }
        // Upstream `byEvictionPriority`: memory first, then the filesystem signals.
        let reclaim = if memory_met {
            Some(Reclaim::Memory)
        } else {
            disk_met.first().copied().map(Reclaim::Disk)
        };
        match reclaim {
            None => self.end_synchronize(cx),
            Some(Reclaim::Memory) => {
                let evicted = self.evict_one(Reclaim::Memory, memory, disk, cx);
                self.after_eviction(evicted, cx);
            }
            Some(Reclaim::Disk(threshold)) => {
                let stats = disk.expect("a filesystem threshold met has stats");
                if reclaims_images(threshold.signal, stats.dedicated_imagefs())
                    && self.reclaim_images(threshold, stats, cx)
                {
                    self.eviction.stage = Stage::Reclaiming {
                        signal: threshold.signal,
                    };
                    return;
                }
                let evicted = self.evict_one(Reclaim::Disk(threshold), memory, disk, cx);
                self.after_eviction(evicted, cx);
            }
        }
    }

    /// Upstream `reclaimNodeLevelResources`, second half: the node read again after the
    /// unused images were deleted. If no threshold is met any more, nothing is evicted.
    fn after_reclaim(
        &mut self,
        signal: DiskSignal,
        memory: &MemoryStats,
        disk: Option<&DiskStats>,
        cx: &mut Context<'_, Msg>,
    ) {
        let config = self.config.eviction.clone();
        // Every threshold, each past its minimum reclaim (`thresholdsMet(.., true)`).
        let memory_met = memory.available_bytes()
            < config
                .memory_available_hard_bytes
                .saturating_add(config.memory_minimum_reclaim_bytes);
        let disk_met = disk.map_or_else(Vec::new, |d| {
            disk_thresholds_met(&config.disk_hard, &config.disk_minimum_reclaim, d, |_| true)
        });
        let node = self.setup.name.clone();
        if !memory_met && disk_met.is_empty() {
            let stats = disk.expect("a reclaim read has filesystems");
            let observed = stats.observe(signal);
            cx.record("step", || {
                format!(
                    "kubelet on node {node}: deleting unused images brought {} back to {}: no pod evicted",
                    signal.name(),
                    describe_amount(signal, observed.available)
                )
            });
            self.end_synchronize(cx);
            return;
        }
        // Still met: rank by the signal that asked for the reclaim, with its threshold.
        let threshold = config
            .disk_hard
            .iter()
            .copied()
            .find(|t| t.signal == signal)
            .expect("the reclaim's signal has a threshold");
        let evicted = self.evict_one(Reclaim::Disk(threshold), memory, disk, cx);
        self.after_eviction(evicted, cx);
    }

    fn after_eviction(&mut self, evicted: Option<u64>, cx: &mut Context<'_, Msg>) {
        match evicted {
            Some(uid) => self.wait_for_cleanup(vec![uid], cx),
            None => self.end_synchronize(cx),
        }
    }

    fn wait_for_cleanup(&mut self, evicted: Vec<u64>, cx: &mut Context<'_, Msg>) {
        let config = &self.config.eviction;
        let (poll, timeout) = (
            config.pod_cleanup_poll_frequency,
            config.pod_cleanup_timeout,
        );
        self.eviction.evicted = evicted;
        self.eviction.stage = Stage::WaitingForCleanup {
            deadline: cx.now() + timeout,
        };
        self.arm_eviction(cx.now() + poll, cx);
    }

    /// No eviction this time: on to the next beat, or idle when nothing can change.
    fn end_synchronize(&mut self, cx: &mut Context<'_, Msg>) {
        let manager = &self.eviction;
        let keep_beating = manager.memory_pressure
            || manager.disk_pressure
            || manager.memory_met_last
            || !manager.disk_met_last.is_empty()
            || manager.signal_below
            || manager.disk_met
            || self.any_ephemeral_storage_limit();
        if keep_beating {
            self.eviction.stage = Stage::Monitoring;
            self.arm_eviction(self.eviction.next_sync, cx);
        } else {
            self.eviction.stage = Stage::Idle;
        }
    }

    /// Node-level reclaim (`DeleteUnusedImages`): every image no container uses and
    /// first detected at least `imageMinimumGCAge` ago is removed. Returns whether any
    /// removal is in flight.
    fn reclaim_images(
        &mut self,
        threshold: DiskThreshold,
        stats: &DiskStats,
        cx: &mut Context<'_, Msg>,
    ) -> bool {
        let images = self.unused_images(cx.now());
        if images.is_empty() {
            return false;
        }
        let node = self.setup.name.clone();
        let freed: u64 = images.iter().map(|(_, size)| size).sum();
        let observed = stats.observe(threshold.signal);
        let listed: Vec<Str> = images.iter().map(|(image, _)| image.clone()).collect();
        cx.record("step", || {
            let count = match listed.len() {
                1 => "the unused image".to_string(),
                n => format!("{n} unused images"),
            };
            format!(
                "kubelet on node {node}: {} ({} available) is below the eviction threshold: deleting {count} ({}) before evicting pods: {}",
                threshold.signal.name(),
                describe_amount(threshold.signal, observed.available),
                format_bytes(freed),
                listed.join(", ")
            )
        });
        for (image, _) in images {
            let call = self.remove_image(image, cx);
            self.eviction.reclaim_calls.insert(call);
        }
        true
    }

    /// An image removal was answered: the last one of a node-level reclaim re-reads
    /// the node.
    pub(super) fn on_reclaim_call_done(&mut self, call: CallId, cx: &mut Context<'_, Msg>) {
        if !self.eviction.reclaim_calls.remove(&call) {
            return;
        }
        if let Stage::Reclaiming { signal } = self.eviction.stage
            && self.eviction.reclaim_calls.is_empty()
        {
            self.read_stats(Some(signal), cx);
        }
    }

    /// Upstream `localStorageEviction`: every pod above its ephemeral-storage limit (or a
    /// container above its own) is evicted, at once and whatever the node's state.
    fn local_storage_eviction(&mut self, stats: &DiskStats, cx: &mut Context<'_, Msg>) -> Vec<u64> {
        let mut by_pod: BTreeMap<u64, BTreeMap<usize, (u64, u64)>> = BTreeMap::new();
        for c in &stats.containers {
            if let Some(&(owner, index)) = self.container_owner.get(&c.container_id)
                && owner == c.pod_uid
            {
                let entry = by_pod.entry(owner).or_default().entry(index).or_default();
                entry.0 += c.rootfs_bytes;
                entry.1 += c.logs_bytes;
            }
        }
        let violations: Vec<(u64, String)> = self
            .eviction_candidates()
            .filter_map(|w| {
                let pod_limit = pod_ephemeral_storage_limit(&w.pod);
                let files = by_pod.get(&w.uid())?;
                let any_limit = pod_limit.is_some()
                    || files
                        .keys()
                        .any(|&i| w.spec(i).resources.limits.ephemeral_storage_bytes.is_some());
                if !any_limit {
                    return None;
                }
                let containers: Vec<ContainerStorage> = files
                    .iter()
                    .map(|(&index, &(rootfs_bytes, logs_bytes))| ContainerStorage {
                        name: w.containers[index].name.clone(),
                        rootfs_bytes,
                        logs_bytes,
                        limit_bytes: w.spec(index).resources.limits.ephemeral_storage_bytes,
                    })
                    .collect();
                local_storage_violation(pod_limit, &containers, stats.dedicated_imagefs())
                    .map(|message| (w.uid(), message))
            })
            .collect();
        let mut evicted = Vec::new();
        for (uid, message) in violations {
            self.evict(uid, message, cx);
            evicted.push(uid);
        }
        evicted
    }

    /// Ranks the pods this kubelet runs for `reclaim` and evicts the first it may;
    /// returns its uid.
    fn evict_one(
        &mut self,
        reclaim: Reclaim,
        memory: &MemoryStats,
        disk: Option<&DiskStats>,
        cx: &mut Context<'_, Msg>,
    ) -> Option<u64> {
        let mut memory_by_uid: BTreeMap<u64, u64> = BTreeMap::new();
        if reclaim == Reclaim::Memory {
            for &(pod_uid, _, bytes) in &memory.processes {
                *memory_by_uid.entry(pod_uid).or_default() += bytes;
            }
        }
        let mut candidates: Vec<Candidate> = self
            .eviction_candidates()
            .map(|w| match reclaim {
                Reclaim::Memory => Candidate {
                    uid: w.uid(),
                    priority: w.pod.spec.priority,
                    usage_bytes: memory_by_uid.get(&w.uid()).copied(),
                    request_bytes: pod_memory_request(&w.pod),
                },
                Reclaim::Disk(threshold) => Candidate {
                    uid: w.uid(),
                    priority: w.pod.spec.priority,
                    usage_bytes: disk.and_then(|d| d.pod_usage(w.uid(), threshold.signal)),
                    request_bytes: pod_ephemeral_storage_request(&w.pod),
                },
            })
            .collect();
        if candidates.is_empty() {
            let node = self.setup.name.clone();
            cx.record("detail", || {
                format!("kubelet on node {node}: under node pressure, but no pod to evict")
            });
            return None;
        }
        match reclaim {
            Reclaim::Memory => rank_memory_pressure(&mut candidates),
            Reclaim::Disk(_) => rank_disk_pressure(&mut candidates),
        }
        let uid = candidates[0].uid;
        let message = self.eviction_message_for(uid, reclaim, memory, disk);
        self.evict(uid, message, cx);
        Some(uid)
    }

    /// The message of pod `uid`'s eviction for `reclaim`, naming each container that
    /// uses more than it requests.
    fn eviction_message_for(
        &self,
        uid: u64,
        reclaim: Reclaim,
        memory: &MemoryStats,
        disk: Option<&DiskStats>,
    ) -> String {
        let worker = &self.workers[&uid];
        let mut usage_by_container: BTreeMap<usize, u64> = BTreeMap::new();
        let mut count = |process_id: u64, bytes: u64| {
            if let Some(&(owner, index)) = self.container_owner.get(&process_id)
                && owner == uid
            {
                *usage_by_container.entry(index).or_default() += bytes;
            }
        };
        let (resource, threshold, available) = match reclaim {
            Reclaim::Memory => {
                for &(pod_uid, process_id, bytes) in &memory.processes {
                    if pod_uid == uid {
                        count(process_id, bytes);
                    }
                }
                (
                    "memory",
                    binary_si(self.config.eviction.memory_available_hard_bytes),
                    binary_si(memory.available_bytes()),
                )
            }
            Reclaim::Disk(threshold) => {
                let stats = disk.expect("a disk eviction has stats");
                if !threshold.signal.counts_inodes() {
                    for c in stats.containers.iter().filter(|c| c.pod_uid == uid) {
                        count(c.container_id, c.rootfs_bytes + c.logs_bytes);
                    }
                }
                let observed = stats.observe(threshold.signal);
                let quantity = threshold.value.quantity(observed.capacity);
                // Upstream prints the observed bytes in BinarySI, the inodes in DecimalSI.
                let available = if threshold.signal.counts_inodes() {
                    decimal_si(observed.available)
                } else {
                    binary_si(observed.available)
                };
                (threshold.signal.resource(), binary_si(quantity), available)
            }
        };
        let containers: Vec<(Str, u64, u64)> = usage_by_container
            .iter()
            .map(|(&index, &usage)| {
                let requests = &worker.spec(index).resources.requests;
                let request = match reclaim {
                    Reclaim::Memory => requests.memory_bytes,
                    Reclaim::Disk(_) => requests.ephemeral_storage_bytes,
                };
                (
                    worker.containers[index].name.clone(),
                    usage,
                    request.unwrap_or(0),
                )
            })
            .collect();
        eviction_message(resource, &threshold, &available, &containers)
    }

    /// Evicts pod `uid` with `message`: a hard threshold (and a local-storage limit)
    /// gives no grace: the pod worker's floor of 1 s, raised to the runtime's minimum
    /// of 2 s between SIGTERM and SIGKILL.
    fn evict(&mut self, uid: u64, message: String, cx: &mut Context<'_, Msg>) {
        let worker = self
            .workers
            .get_mut(&uid)
            .expect("an evicted pod has a worker");
        let name = worker.display(cx.recording());
        let shown = message.clone();
        cx.record("step", || format!("pod {name}: evicted: {shown}"));
        worker.evicted = Some(s(&message));
        worker.begin_termination(MINIMUM_GRACE_PERIOD, false);
        self.sync_pod(uid, cx);
    }
}

/// `imagefs.available 1400Mi is below the eviction threshold 15% (1536Mi)`.
fn describe_met(threshold: &DiskThreshold, stats: &DiskStats) -> String {
    let observed = stats.observe(threshold.signal);
    format!(
        "{} {} is below the eviction threshold {} ({})",
        threshold.signal.name(),
        describe_amount(threshold.signal, observed.available),
        threshold.value.describe(),
        describe_amount(
            threshold.signal,
            threshold.value.quantity(observed.capacity)
        )
    )
}

/// For the narration: inodes as a count, bytes exact when round, else in MiB to a
/// tenth.
fn describe_amount(signal: DiskSignal, amount: u64) -> String {
    if signal.counts_inodes() {
        format!("{amount} inodes")
    } else {
        crate::kernel::approx_bytes(amount)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MI: u64 = 1 << 20;

    fn t(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    fn candidate(uid: u64, priority: i32, usage: Option<u64>, request: u64) -> Candidate {
        Candidate {
            uid,
            priority,
            usage_bytes: usage,
            request_bytes: request,
        }
    }

    fn ranked(mut candidates: Vec<Candidate>) -> Vec<u64> {
        rank_memory_pressure(&mut candidates);
        candidates.iter().map(|c| c.uid).collect()
    }

    #[test]
    fn memory_pressure_ranking_follows_upstream() {
        // BestEffort (request 0) using 50Mi, Burstable over its request by 200Mi,
        // Burstable under its request, Guaranteed at its request.
        let best_effort = candidate(1, 0, Some(50 * MI), 0);
        let burstable_over = candidate(2, 0, Some(300 * MI), 100 * MI);
        let burstable_under = candidate(3, 0, Some(50 * MI), 100 * MI);
        let guaranteed = candidate(4, 0, Some(256 * MI), 256 * MI);
        assert_eq!(
            ranked(vec![
                guaranteed.clone(),
                burstable_under.clone(),
                best_effort.clone(),
                burstable_over.clone()
            ]),
            // Over their requests first, the larger excess first; then the others, the
            // one furthest below its request last.
            vec![2, 1, 4, 3]
        );
        // Among pods over their requests a lower priority goes first, whatever it uses.
        let low = candidate(5, -10, Some(20 * MI), 10 * MI);
        assert_eq!(ranked(vec![burstable_over.clone(), low]), vec![5, 2]);
        // A pod without stats goes before all.
        let unknown = candidate(6, 1000, None, 0);
        assert_eq!(ranked(vec![burstable_over, unknown]), vec![6, 2]);
        // Ties: the older pod.
        assert_eq!(
            ranked(vec![
                candidate(8, 0, Some(MI), 0),
                candidate(7, 0, Some(MI), 0)
            ]),
            vec![7, 8]
        );
    }

    fn pod_with(
        requests: ResourceList,
        limits: ResourceList,
        tolerations: Vec<crate::api::Toleration>,
        priority: i32,
    ) -> Pod {
        use crate::api::{Container, ObjectMeta, PodSpec, ResourceRequirements};
        Pod {
            metadata: ObjectMeta::named("default", "p"),
            spec: PodSpec {
                containers: vec![Container {
                    name: s("c"),
                    resources: ResourceRequirements { requests, limits },
                    ..Container::default()
                }]
                .into(),
                tolerations: tolerations.into(),
                priority,
                ..PodSpec::default()
            },
            status: Default::default(),
        }
    }

    #[test]
    fn admission_refuses_best_effort_pods_under_memory_pressure_and_every_pod_under_disk_pressure()
    {
        use crate::api::{Toleration, TolerationOperator};
        let memory = |bytes| ResourceList {
            memory_bytes: Some(bytes),
            ..ResourceList::default()
        };
        let none = ResourceList::default();
        let best_effort = pod_with(none, none, vec![], 0);
        let burstable = pod_with(memory(MI), none, vec![], 0);
        let critical = pod_with(none, none, vec![], 2_000_000_000);
        let tolerates = pod_with(
            none,
            none,
            vec![Toleration {
                key: s(TAINT_MEMORY_PRESSURE),
                operator: TolerationOperator::Exists,
                value: s(""),
                effect: Some(TaintEffect::NoSchedule),
                toleration_seconds: None,
            }],
            0,
        );
        // No condition: everyone.
        assert_eq!(admission_refusal(&best_effort, false, false), None);
        // MemoryPressure alone: only BestEffort pods that do not tolerate its taint.
        assert_eq!(
            admission_refusal(&best_effort, true, false).as_deref(),
            Some(MESSAGE_MEMORY_PRESSURE_ADMISSION)
        );
        assert_eq!(admission_refusal(&burstable, true, false), None);
        assert_eq!(admission_refusal(&critical, true, false), None);
        assert_eq!(admission_refusal(&tolerates, true, false), None);
        // DiskPressure: every pod but a critical one, tolerations or not.
        assert_eq!(
            admission_refusal(&burstable, false, true).as_deref(),
            Some("The node had condition: [DiskPressure]. ")
        );
        assert_eq!(
            admission_refusal(&tolerates, true, true).as_deref(),
            Some("The node had condition: [MemoryPressure DiskPressure]. ")
        );
        assert_eq!(admission_refusal(&critical, true, true), None);
    }

    #[test]
    fn disk_pressure_ranking_follows_upstream() {
        use crate::filesystem::{ContainerFsStats, FsStats};
        let layer = |pod_uid, container_id, rootfs_bytes| ContainerFsStats {
            pod_uid,
            container_id,
            rootfs_bytes,
            ..ContainerFsStats::default()
        };
        let stats = DiskStats {
            nodefs: FsStats::default(),
            imagefs: None,
            containers: vec![
                layer(1, 10, 2048 * MI),
                layer(2, 20, 200 * MI),
                layer(3, 30, 300 * MI),
                layer(4, 40, 50 * MI),
                layer(4, 41, 10 * MI),
            ],
        };
        // (uid, priority, ephemeral-storage request): the log spammer, a small writer, a
        // pod within its 1Gi request, an important pod over its (zero) request.
        let pods = [
            (1, 0, 0),
            (2, 0, 0),
            (3, 0, 1024 * MI),
            (4, 1000, 0),
            (5, 0, 0),
        ];
        let mut candidates: Vec<Candidate> = pods
            .iter()
            .map(|&(uid, priority, request)| Candidate {
                uid,
                priority,
                usage_bytes: stats.pod_usage(uid, DiskSignal::NodeFsAvailable),
                request_bytes: request,
            })
            .collect();
        assert_eq!(candidates[3].usage_bytes, Some(60 * MI));
        rank_disk_pressure(&mut candidates);
        let order: Vec<u64> = candidates.iter().map(|c| c.uid).collect();
        // A pod without stats (5: not started) first; then those over their requests,
        // lower priority first, the larger use first; the pod within its request last.
        assert_eq!(order, [5, 1, 2, 4, 3]);
        // The inode signals compare inodes with the request in bytes (upstream does):
        // a 1-byte request is exceeded by any pod with a file.
        let inodes = stats.pod_usage(1, DiskSignal::NodeFsInodesFree);
        assert_eq!(inodes, Some(0));
    }

    #[test]
    fn local_storage_limits_evict_whatever_the_node_state() {
        let container = |name: &str, rootfs_mi: u64, limit_mi: Option<u64>| ContainerStorage {
            name: s(name),
            rootfs_bytes: rootfs_mi * MI,
            logs_bytes: 0,
            limit_bytes: limit_mi.map(|l| l * MI),
        };
        // The pod's total above the sum of its containers' limits.
        assert_eq!(
            local_storage_violation(Some(100 * MI), &[container("app", 101, Some(100))], false)
                .as_deref(),
            Some("Pod ephemeral local storage usage exceeds the total limit of containers 100Mi. ")
        );
        assert_eq!(
            local_storage_violation(Some(100 * MI), &[container("app", 100, Some(100))], false),
            None
        );
        // A container above its own limit, the pod within the sum (another container has
        // room to spare).
        assert_eq!(
            local_storage_violation(
                Some(300 * MI),
                &[
                    container("app", 150, Some(100)),
                    container("side", 0, Some(200))
                ],
                false
            )
            .as_deref(),
            Some("Container app exceeded its local ephemeral storage limit \"100Mi\". ")
        );
        // With a dedicated imagefs a container's limit counts only its logs.
        assert_eq!(
            local_storage_violation(
                Some(300 * MI),
                &[
                    container("app", 150, Some(100)),
                    container("side", 0, Some(200))
                ],
                true
            ),
            None
        );
        assert_eq!(
            pod_ephemeral_storage_limit(&pod_with(
                ResourceList::default(),
                ResourceList {
                    ephemeral_storage_bytes: Some(MI),
                    ..ResourceList::default()
                },
                vec![],
                0
            )),
            Some(MI)
        );
        assert_eq!(
            pod_ephemeral_storage_limit(&pod_with(
                ResourceList::default(),
                ResourceList::default(),
                vec![],
                0
            )),
            None
        );
    }

    #[test]
    fn a_threshold_met_last_time_holds_until_its_minimum_reclaim_is_available() {
        use crate::filesystem::FsStats;
        let stats = |available_bytes| DiskStats {
            nodefs: FsStats {
                capacity_bytes: 1000 * MI,
                available_bytes,
                inodes: 1000,
                inodes_free: 1000,
            },
            imagefs: None,
            containers: Vec::new(),
        };
        let hard = [DiskThreshold {
            signal: DiskSignal::NodeFsAvailable,
            value: ThresholdValue::Quantity(100 * MI),
        }];
        let reclaim = BTreeMap::from([(
            DiskSignal::NodeFsAvailable,
            ThresholdValue::Quantity(50 * MI),
        )]);
        let met = |available, enforce: bool| {
            !disk_thresholds_met(&hard, &reclaim, &stats(available), |_| enforce).is_empty()
        };
        assert!(met(99 * MI, false));
        assert!(!met(120 * MI, false));
        // Met last time: held until 150Mi are available.
        assert!(met(120 * MI, true));
        assert!(met(150 * MI - 1, true));
        assert!(!met(150 * MI, true));
        // Without a minimum reclaim enforcing changes nothing.
        assert!(
            disk_thresholds_met(&hard, &BTreeMap::new(), &stats(120 * MI), |_| true).is_empty()
        );
    }

    #[test]
    fn node_level_reclaim_follows_the_filesystem_layout() {
        for signal in DiskSignal::ALL {
            assert!(
                reclaims_images(signal, false),
                "{signal:?} on a shared disk"
            );
        }
        assert!(!reclaims_images(DiskSignal::NodeFsAvailable, true));
        assert!(!reclaims_images(DiskSignal::NodeFsInodesFree, true));
        assert!(reclaims_images(DiskSignal::ImageFsAvailable, true));
        assert!(reclaims_images(DiskSignal::ImageFsInodesFree, true));
    }

    #[test]
    fn the_condition_is_held_for_the_transition_period() {
        let five_minutes = SimDuration::from_mins(5);
        assert!(!pressure_held(None, t(100), five_minutes));
        assert!(pressure_held(Some(t(100)), t(100), five_minutes));
        assert!(pressure_held(Some(t(100)), t(399), five_minutes));
        assert!(!pressure_held(Some(t(100)), t(400), five_minutes));
    }

    #[test]
    fn the_beat_keeps_its_phase() {
        let period = SimDuration::from_secs(10);
        assert_eq!(next_beat(t(3), period, t(1)), t(3));
        assert_eq!(next_beat(t(3), period, t(3)), t(3));
        assert_eq!(next_beat(t(3), period, t(4)), t(13));
        assert_eq!(next_beat(t(3), period, t(47)), t(53));
    }

    #[test]
    fn the_message_names_the_signal_and_the_greedy_containers() {
        let message = eviction_message(
            "memory",
            &binary_si(100 * MI),
            &binary_si(80 * MI),
            &[(s("leak"), 300 * MI, 0), (s("ok"), 10 * MI, 64 * MI)],
        );
        assert_eq!(
            message,
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi. \
             Container leak was using 300Mi, request is 0, has larger consumption of memory. "
        );
        let message = eviction_message(
            "ephemeral-storage",
            "1073741840",
            &binary_si(1000 * MI),
            &[(s("logger"), 2 * 1024 * MI, 0)],
        );
        assert_eq!(
            message,
            "The node was low on resource: ephemeral-storage. Threshold quantity: 1073741840, available: 1000Mi. \
             Container logger was using 2Gi, request is 0, has larger consumption of ephemeral-storage. "
        );
        assert_eq!(binary_si(81920 << 10), "80Mi");
        assert_eq!(binary_si(1536), "1536");
        assert_eq!(binary_si(3 << 10), "3Ki");
        assert_eq!(decimal_si(12_000), "12k");
        assert_eq!(decimal_si(3_000_000), "3M");
        assert_eq!(decimal_si(12_345), "12345");
        assert_eq!(decimal_si(0), "0");
    }
}
