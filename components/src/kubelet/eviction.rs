//! Node-pressure eviction: the kubelet's eviction manager (upstream `pkg/kubelet/eviction`,
//! v1.34) for the `memory.available` signal.
//!
//! Upstream synchronizes every `evictionMonitoringPeriod` (10 s): it reads the node's
//! stats, compares each signal with the hard thresholds, keeps a pressure condition for
//! `evictionPressureTransitionPeriod` (5 min) after its threshold was last met, and, while
//! a threshold is met, evicts one pod ranked first by `rankMemoryPressure`; after an
//! eviction it waits (polling every second, at most 30 s) for the pod's resources to be
//! reclaimed and synchronizes again at once.
//!
//! kubesim keeps those instants but skips the synchronizations that could change
//! nothing: with the signal above its threshold and no condition held, a synchronize does
//! nothing. The kernel tells the kubelet when `memory.available` crosses the threshold
//! (`MemoryMsg::NotifyAvailableBelow`, as a memcg threshold notification); from then on
//! the manager synchronizes on its 10 s beat, reading the working sets from the kernel
//! (`MemoryMsg::Read`), until the condition has cleared. A node that never nears the
//! threshold costs one message at start.
//!
//! Only memory is modelled: kubesim keeps no filesystem or inode usage, so the
//! `nodefs.available<10%`, `nodefs.inodesFree<5%` and `imagefs.available<15%` thresholds
//! have no signal to compare (they are absent, not pretended). The kubelet's admission of
//! new BestEffort pods under MemoryPressure is not modelled either (the lifecycle
//! controller's `node.kubernetes.io/memory-pressure` taint keeps the scheduler away).

use std::cmp::Ordering;

use sim_core::{Context, SimDuration, SimTime};

use crate::api::quantity::format_bytes;
use crate::api::{Pod, PodPhase, QosClass, Str, Taint, TaintEffect, s};
use crate::controllers::node_lifecycle::TAINT_MEMORY_PRESSURE;
use crate::kernel::{MemoryMsg, MemoryStats};
use crate::msg::Msg;

use super::qos::{is_critical_pod, qos_class};
use super::worker::{ContainerStage, Lifecycle, MINIMUM_GRACE_PERIOD, PodWorker, SandboxStage};
use super::{Kubelet, Tick};

/// `status.reason` of an evicted pod (upstream `eviction.Reason`).
pub const REASON_EVICTED: &str = "Evicted";

/// The message of a pod refused under MemoryPressure (upstream `nodeConditionMessageFmt`
/// with the node's conditions).
pub const MESSAGE_MEMORY_PRESSURE_ADMISSION: &str = "The node had condition: [MemoryPressure]. ";

/// Upstream eviction manager's `Admit` under MemoryPressure (the only pressure condition
/// kubesim has): critical pods and pods that are not BestEffort are admitted, and so is a
/// BestEffort pod that tolerates the `node.kubernetes.io/memory-pressure:NoSchedule`
/// taint; any other BestEffort pod is refused.
pub fn refused_under_memory_pressure(pod: &Pod) -> bool {
    let taint = Taint {
        key: s(TAINT_MEMORY_PRESSURE),
        value: s(""),
        effect: TaintEffect::NoSchedule,
        time_added: None,
    };
    !is_critical_pod(pod)
        && qos_class(pod) == QosClass::BestEffort
        && !pod.spec.tolerations.iter().any(|t| t.tolerates(&taint))
}

/// The eviction manager's settings, named as in `KubeletConfiguration`.
#[derive(Clone, Debug)]
pub struct EvictionConfig {
    /// `evictionHard: memory.available`, upstream default 100Mi.
    pub memory_available_hard_bytes: u64,
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
    /// The signal is above its threshold and no condition is held: nothing to do until
    /// the kernel reports otherwise.
    Idle,
    /// Synchronizing on the beat; the next at the timer.
    Monitoring,
    /// The stats read of a synchronize is in flight.
    Reading { read_id: u64 },
    /// Waiting for pod `uid`'s resources to be reclaimed after its eviction, until
    /// `deadline`.
    WaitingForCleanup { uid: u64, deadline: SimTime },
}

#[derive(Clone, Debug)]
pub struct EvictionManager {
    stage: Stage,
    /// The kernel's last word: `memory.available` is below the threshold.
    signal_below: bool,
    /// When a synchronize last saw the threshold met.
    threshold_last_observed: Option<SimTime>,
    /// The MemoryPressure condition the node status reports.
    memory_pressure: bool,
    /// The next instant of the 10 s beat (kept while idle, so the phase survives).
    next_sync: SimTime,
    timer_generation: u64,
    next_read_id: u64,
}

impl Default for EvictionManager {
    fn default() -> Self {
        EvictionManager {
            stage: Stage::Idle,
            signal_below: false,
            threshold_last_observed: None,
            memory_pressure: false,
            next_sync: SimTime::ZERO,
            timer_generation: 0,
            next_read_id: 0,
        }
    }
}

impl EvictionManager {
    pub fn memory_pressure(&self) -> bool {
        self.memory_pressure
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
    /// The pod's working set; `None` when the stats have none for it.
    pub usage_bytes: Option<u64>,
    /// Upstream `podRequest(pod, memory)`: the containers' requests summed, or the
    /// largest init container's if that is more.
    pub request_bytes: u64,
}

/// Upstream `rankMemoryPressure` (`orderedBy(exceedMemoryRequests, priority, memory)`):
/// pods using more than they request first (pods without stats before all), then lower
/// priority first, then the larger use above request first. Ties keep the older pod (the
/// lower uid) first, where upstream's unstable sort leaves the order open.
pub fn rank_memory_pressure(candidates: &mut [Candidate]) {
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

/// Upstream `podRequest(pod, memory)`.
pub fn pod_memory_request(pod: &Pod) -> u64 {
    let containers: u64 = pod
        .spec
        .containers
        .iter()
        .map(|c| c.resources.requests.memory_bytes.unwrap_or(0))
        .sum();
    let init = pod
        .spec
        .init_containers
        .iter()
        .map(|c| c.resources.requests.memory_bytes.unwrap_or(0))
        .max()
        .unwrap_or(0);
    containers.max(init)
}

/// A quantity as `resource.Quantity` prints a byte count in BinarySI: the largest binary
/// suffix that divides it exactly (`81920Ki`, `100Mi`), else plain bytes.
pub fn binary_si(bytes: u64) -> String {
    format_bytes(bytes)
}

/// Upstream `evictionMessage` for memory: the node's signal and each container using more
/// than it requests (`containers`: name, working set, request as written).
pub fn eviction_message(
    threshold_bytes: u64,
    available_bytes: u64,
    containers: &[(Str, u64, u64)],
) -> String {
    let mut message = format!(
        "The node was low on resource: memory. Threshold quantity: {}, available: {}. ",
        binary_si(threshold_bytes),
        binary_si(available_bytes)
    );
    for (name, usage, request) in containers {
        if usage > request {
            message.push_str(&format!(
                "Container {name} was using {}, request is {}, has larger consumption of memory. ",
                binary_si(*usage),
                binary_si(*request)
            ));
        }
    }
    message
}

impl Kubelet {
    /// At start: the threshold goes to the kernel, the beat starts now.
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

    pub(super) fn on_memory_msg(&mut self, msg: MemoryMsg, cx: &mut Context<'_, Msg>) {
        match msg {
            MemoryMsg::AvailableBelow { below } => {
                self.eviction.signal_below = below;
                let (node, period) = (
                    self.setup.name.clone(),
                    self.config.eviction.eviction_monitoring_period,
                );
                cx.record("detail", || {
                    let side = if below { "below" } else { "back above" };
                    format!(
                        "kubelet on node {node}: memory.available is {side} the eviction threshold"
                    )
                });
                if below && self.eviction.stage == Stage::Idle {
                    let at = next_beat(self.eviction.next_sync, period, cx.now());
                    self.eviction.stage = Stage::Monitoring;
                    self.arm_eviction(at, cx);
                }
            }
            MemoryMsg::Stats { read_id, stats } => {
                if self.eviction.stage == (Stage::Reading { read_id }) {
                    self.synchronize(&stats, cx);
                }
            }
            other @ (MemoryMsg::NotifyAvailableBelow { .. } | MemoryMsg::Read { .. }) => panic!(
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
            Stage::Idle | Stage::Reading { .. } => {}
            Stage::Monitoring => self.read_memory(cx),
            Stage::WaitingForCleanup { uid, deadline } => {
                if self.pod_cleaned_up(uid) || cx.now() >= deadline {
                    self.read_memory(cx);
                } else {
                    let poll = self.config.eviction.pod_cleanup_poll_frequency;
                    self.arm_eviction(cx.now() + poll, cx);
                }
            }
        }
    }

    /// A synchronize begins: the beat moves on, the stats are read.
    fn read_memory(&mut self, cx: &mut Context<'_, Msg>) {
        let Some(kernel) = self.kernel else {
            return;
        };
        self.eviction.next_sync = cx.now() + self.config.eviction.eviction_monitoring_period;
        self.eviction.next_read_id += 1;
        let read_id = self.eviction.next_read_id;
        self.eviction.stage = Stage::Reading { read_id };
        cx.send(kernel, Msg::Memory(Box::new(MemoryMsg::Read { read_id })));
    }

    /// Admission of a new pod while the node has MemoryPressure: a refused pod never
    /// starts and is reported Failed with reason `Evicted`. Returns whether it was refused.
    pub(super) fn rejected_under_pressure(
        &self,
        worker: &mut PodWorker,
        cx: &mut Context<'_, Msg>,
    ) -> bool {
        if !self.eviction.memory_pressure
            || worker.pod.status.phase != PodPhase::Pending
            || !refused_under_memory_pressure(&worker.pod)
        {
            return false;
        }
        for record in &mut worker.containers {
            record.stage = ContainerStage::Terminated;
        }
        worker.sandbox = SandboxStage::Removed;
        worker.evicted = Some(s(MESSAGE_MEMORY_PRESSURE_ADMISSION));
        let (name, node) = (worker.display(cx.recording()), self.setup.name.clone());
        cx.record("step", || {
            format!("pod {name}: refused by the kubelet on node {node}: the node has MemoryPressure and the pod is BestEffort")
        });
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

    /// Upstream `synchronize` for `memory.available`.
    fn synchronize(&mut self, stats: &MemoryStats, cx: &mut Context<'_, Msg>) {
        let now = cx.now();
        let config = self.config.eviction.clone();
        let available = stats.available_bytes();
        let threshold_met = available < config.memory_available_hard_bytes;
        if threshold_met {
            self.eviction.threshold_last_observed = Some(now);
        }
        let pressure = pressure_held(
            self.eviction.threshold_last_observed,
            now,
            config.eviction_pressure_transition_period,
        );
        if pressure != self.eviction.memory_pressure {
            self.eviction.memory_pressure = pressure;
            self.node_status_inputs_changed = true;
            let node = self.setup.name.clone();
            cx.record("step", || {
                if pressure {
                    format!(
                        "kubelet on node {node}: memory.available {} is below the eviction threshold {}: node has MemoryPressure",
                        binary_si(available),
                        binary_si(config.memory_available_hard_bytes)
                    )
                } else {
                    format!(
                        "kubelet on node {node}: no memory pressure for {}: MemoryPressure cleared",
                        config.eviction_pressure_transition_period
                    )
                }
            });
        }
        let evicted = if threshold_met {
            self.evict_one(stats, available, cx)
        } else {
            None
        };
        self.eviction.stage = match evicted {
            Some(uid) => {
                self.arm_eviction(now + config.pod_cleanup_poll_frequency, cx);
                Stage::WaitingForCleanup {
                    uid,
                    deadline: now + config.pod_cleanup_timeout,
                }
            }
            None if pressure || self.eviction.signal_below => {
                self.arm_eviction(self.eviction.next_sync, cx);
                Stage::Monitoring
            }
            None => Stage::Idle,
        };
    }

    /// Ranks the pods this kubelet runs and evicts the first it may; returns its uid.
    fn evict_one(
        &mut self,
        stats: &MemoryStats,
        available: u64,
        cx: &mut Context<'_, Msg>,
    ) -> Option<u64> {
        let mut usage_by_uid: std::collections::BTreeMap<u64, u64> = Default::default();
        for &(pod_uid, _, bytes) in &stats.processes {
            *usage_by_uid.entry(pod_uid).or_default() += bytes;
        }
        let mut candidates: Vec<Candidate> = self
            .workers
            .values()
            .filter(|w| {
                w.lifecycle == Lifecycle::Active
                    && w.evicted.is_none()
                    && !matches!(w.pod.status.phase, PodPhase::Succeeded | PodPhase::Failed)
                    && !w.all_terminated()
                    && !is_critical_pod(&w.pod)
            })
            .map(|w| Candidate {
                uid: w.uid(),
                priority: w.pod.spec.priority,
                usage_bytes: usage_by_uid.get(&w.uid()).copied(),
                request_bytes: pod_memory_request(&w.pod),
            })
            .collect();
        if candidates.is_empty() {
            let node = self.setup.name.clone();
            cx.record("detail", || {
                format!("kubelet on node {node}: under memory pressure, but no pod to evict")
            });
            return None;
        }
        rank_memory_pressure(&mut candidates);
        let uid = candidates[0].uid;
        // The message names each container using more than it requests.
        let mut usage_by_container: std::collections::BTreeMap<usize, u64> = Default::default();
        for &(pod_uid, process_id, bytes) in &stats.processes {
            if pod_uid == uid
                && let Some(&(owner, index)) = self.container_owner.get(&process_id)
                && owner == uid
            {
                *usage_by_container.entry(index).or_default() += bytes;
            }
        }
        let worker = self
            .workers
            .get_mut(&uid)
            .expect("a candidate has a worker");
        let containers: Vec<(Str, u64, u64)> = usage_by_container
            .iter()
            .map(|(&index, &usage)| {
                let record = &worker.containers[index];
                let request = worker
                    .spec(index)
                    .resources
                    .requests
                    .memory_bytes
                    .unwrap_or(0);
                (record.name.clone(), usage, request)
            })
            .collect();
        let message = eviction_message(
            self.config.eviction.memory_available_hard_bytes,
            available,
            &containers,
        );
        let name = worker.display(cx.recording());
        let shown = message.clone();
        cx.record("step", || format!("pod {name}: evicted: {shown}"));
        worker.evicted = Some(s(&message));
        // A hard threshold gives no grace: the pod worker's floor of 1 s, raised to the
        // runtime's minimum of 2 s between SIGTERM and SIGKILL.
        worker.begin_termination(MINIMUM_GRACE_PERIOD, false);
        self.sync_pod(uid, cx);
        Some(uid)
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

    #[test]
    fn admission_under_memory_pressure_refuses_only_best_effort_pods() {
        use crate::api::{
            Container, ObjectMeta, PodSpec, ResourceList, ResourceRequirements, Toleration,
            TolerationOperator,
        };
        let pod = |memory_request: Option<u64>, tolerations: Vec<Toleration>, priority: i32| Pod {
            metadata: ObjectMeta::named("default", "p"),
            spec: PodSpec {
                containers: vec![Container {
                    name: s("c"),
                    resources: ResourceRequirements {
                        requests: ResourceList {
                            memory_bytes: memory_request,
                            ..ResourceList::default()
                        },
                        ..ResourceRequirements::default()
                    },
                    ..Container::default()
                }]
                .into(),
                tolerations: tolerations.into(),
                priority,
                ..PodSpec::default()
            },
            status: Default::default(),
        };
        assert!(refused_under_memory_pressure(&pod(None, vec![], 0)));
        assert!(!refused_under_memory_pressure(&pod(Some(MI), vec![], 0)));
        assert!(!refused_under_memory_pressure(&pod(
            None,
            vec![],
            2_000_000_000
        )));
        let tolerates = Toleration {
            key: s(TAINT_MEMORY_PRESSURE),
            operator: TolerationOperator::Exists,
            value: s(""),
            effect: Some(TaintEffect::NoSchedule),
            toleration_seconds: None,
        };
        assert!(!refused_under_memory_pressure(&pod(
            None,
            vec![tolerates],
            0
        )));
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
            100 * MI,
            80 * MI,
            &[(s("leak"), 300 * MI, 0), (s("ok"), 10 * MI, 64 * MI)],
        );
        assert_eq!(
            message,
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi. \
             Container leak was using 300Mi, request is 0, has larger consumption of memory. "
        );
        assert_eq!(binary_si(81920 << 10), "80Mi");
        assert_eq!(binary_si(1536), "1536");
        assert_eq!(binary_si(3 << 10), "3Ki");
    }
}
