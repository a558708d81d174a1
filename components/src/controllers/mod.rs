//! kube-controller-manager: one process running the Deployment, ReplicaSet, node
//! lifecycle and EndpointSlice controllers over shared informers.
//!
//! - [`deployment`]: pod-template-hash, new ReplicaSet, rolling update and Recreate,
//!   scaling, revision history, status.
//! - [`replicaset`]: expectations, slow-start creation batches, scale-down ranking, status.
//! - [`node_lifecycle`]: node health from Leases and Ready heartbeats, Ready=Unknown,
//!   condition taints, rate-limited NoExecute tainting per zone, taint-based eviction.
//! - [`endpointslice`]: EndpointSlices for every Service with a selector.
//! - [`statefulset`]: pods with stable names created in ordinal order (OrderedReady) or
//!   all at once (Parallel), scale-down from the highest ordinal, rolling update down to
//!   the partition or OnDelete, status.
//! - [`disruption`]: PodDisruptionBudget status (expected, desired and current healthy
//!   pods, disruptions allowed, the evicted pods not yet seen going).
//! - [`job`]: Job pods up to parallelism, completions, failure back-off, backoffLimit,
//!   activeDeadlineSeconds, suspend, SuccessCriteriaMet/FailureTarget then Complete/Failed.
//! - [`daemonset`]: one pod per eligible node (pinned by node affinity, bound by the
//!   scheduler), failed-pod back-off, rolling update with maxUnavailable or maxSurge,
//!   OnDelete, status.
//! - [`hpa`]: HorizontalPodAutoscaler: CPU utilisation from metrics-server, the replica
//!   calculation with tolerance and unready/missing pods, stabilisation, rate policies.
//! - [`garbage_collector`]: the owner/dependent graph of every object the informers
//!   show; deletes dependents of deleted owners, foreground and orphan propagation.
//! - [`index`]: pods by uid, owner, node, namespace and label; the generic `MultiIndex`.
//!
//! Each controller's decisions are pure functions in its module; the entry point here
//! applies them. Dirty keys of every controller share one work queue, drained by one
//! rearmable timer at `sync_cost` of CPU per sync. Nothing is synced before every
//! informer has listed (upstream's `WaitForCacheSync`).
//!
//! With `--leader-elect` (upstream's default) a replica first runs for the
//! `kube-system/kube-controller-manager` Lease ([`crate::client::leader_election`]) and
//! starts its informers and controllers only once it leads, so a standby costs one Lease
//! read per retry and nothing else; a replica that loses the Lease exits and is started
//! again (`cmd/kube-controller-manager/app/controllermanager.go`: "leaderelection
//! lost").

pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpointslice;
pub mod garbage_collector;
pub mod hpa;
pub mod index;
pub mod job;
pub mod node_lifecycle;
pub mod pod_control;
pub mod replicaset;
pub mod statefulset;

use std::collections::{BTreeSet, VecDeque};

use sim_core::{
    Actor, ActorId, Context, Event, FxIndexMap, FxIndexSet, SimDuration, SimTime, TraceHasher,
};

use self::daemonset::DaemonSetState;
use self::endpointslice::{ServiceIndex, SliceTracker};
use self::garbage_collector::{GarbageCollector, GcRequest};
use self::index::{MultiIndex, NsName, PodIndex};
use self::job::{JobState, StatusWrite};
use self::node_lifecycle::NodeLifecycle;
use self::replicaset::ReplicaSetState;
use self::statefulset::StatefulSetState;
use crate::api::{
    ApiOk, ApiResponse, ApiVerb, Deployment, EndpointSlice, Job, Kind, Lease, NAMESPACE_NODE_LEASE,
    Node, Pod, PodDisruptionBudget, ReplicaSet, RequestId, Service, Str, WatchEvent, s,
};
use crate::client::leader_election::{LeaderElectionConfig, LeaderElector, Outcome, draw_uuid};
use crate::client::{ApiClient, Delta, Informer};
use crate::msg::{Fingerprint, Msg, Tick as AnyTick};

/// Settings, named as the kube-controller-manager flags they stand for.
#[derive(Clone, Debug)]
pub struct ControllerManagerConfig {
    /// `--node-monitor-period`, upstream default 5 s.
    pub node_monitor_period: SimDuration,
    /// `--node-monitor-grace-period`, upstream default 50 s since v1.32 (40 s before).
    pub node_monitor_grace_period: SimDuration,
    /// `--node-startup-grace-period`, upstream default 60 s.
    pub node_startup_grace_period: SimDuration,
    /// `--node-eviction-rate`, nodes per second per zone, upstream default 0.1.
    pub node_eviction_rate: f64,
    /// `--secondary-node-eviction-rate`, nodes per second in a partially disrupted zone
    /// larger than `large_cluster_size_threshold`, upstream default 0.01.
    pub secondary_node_eviction_rate: f64,
    /// `--large-cluster-size-threshold`, upstream default 50.
    pub large_cluster_size_threshold: usize,
    /// `--unhealthy-zone-threshold`, upstream default 0.55.
    pub unhealthy_zone_threshold: f64,
    /// ReplicaSet controller `BurstReplicas`, upstream 500.
    pub burst_replicas: u32,
    /// `--max-endpoints-per-slice`, upstream default 100.
    pub max_endpoints_per_slice: usize,
    /// CPU time of one controller sync (an assumption).
    pub sync_cost: SimDuration,
    /// `--horizontal-pod-autoscaler-sync-period`, upstream default 15 s.
    pub horizontal_pod_autoscaler_sync_period: SimDuration,
    /// `--horizontal-pod-autoscaler-tolerance`, upstream default 0.1 (here in thousandths).
    pub horizontal_pod_autoscaler_tolerance_per_mille: u64,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period`, upstream default 5 min.
    pub horizontal_pod_autoscaler_cpu_initialization_period: SimDuration,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay`, upstream default 30 s.
    pub horizontal_pod_autoscaler_initial_readiness_delay: SimDuration,
    /// `--leader-elect` and friends: leaderElect true, leaseDuration 15 s, renewDeadline
    /// 10 s, retryPeriod 2 s, the Lease `kube-system/kube-controller-manager`.
    pub leader_election: LeaderElectionConfig,
}

impl ControllerManagerConfig {
    /// The HPA replica calculator's settings.
    pub fn hpa_calculator(&self) -> hpa::CalculatorConfig {
        hpa::CalculatorConfig {
            tolerance_per_mille: self.horizontal_pod_autoscaler_tolerance_per_mille,
            cpu_initialization_period: self.horizontal_pod_autoscaler_cpu_initialization_period,
            initial_readiness_delay: self.horizontal_pod_autoscaler_initial_readiness_delay,
        }
    }
}

impl Default for ControllerManagerConfig {
    fn default() -> Self {
        ControllerManagerConfig {
            node_monitor_period: SimDuration::from_secs(5),
            node_monitor_grace_period: SimDuration::from_secs(50),
            node_startup_grace_period: SimDuration::from_secs(60),
            node_eviction_rate: 0.1,
            secondary_node_eviction_rate: 0.01,
            large_cluster_size_threshold: 50,
            unhealthy_zone_threshold: 0.55,
            burst_replicas: 500,
            max_endpoints_per_slice: 100,
            sync_cost: SimDuration::from_micros(200),
            horizontal_pod_autoscaler_sync_period: SimDuration::from_secs(15),
            horizontal_pod_autoscaler_tolerance_per_mille: 100,
            horizontal_pod_autoscaler_cpu_initialization_period: SimDuration::from_secs(300),
            horizontal_pod_autoscaler_initial_readiness_delay: SimDuration::from_secs(30),
            leader_election: LeaderElectionConfig::for_component("kube-controller-manager"),
        }
    }
}

/// The controller manager's timers. Those carrying an instant are rearmable: a timer
/// whose instant is no longer the armed one is skipped.
#[derive(Clone, Debug)]
pub enum Tick {
    /// One sync's CPU time has passed: sync the next dirty key.
    Sync,
    /// Delayed keys (re-checks after minReadySeconds, retries after errors) are due.
    Delayed(SimTime),
    /// `--node-monitor-period`: check every node's health.
    NodeMonitor,
    /// A zone's NoExecute tainter may take its next node.
    Tainter(SimTime),
    /// A pod's toleration of a NoExecute taint runs out.
    Eviction(SimTime),
    /// The leader elector's timer (host clock instant; a superseded one is skipped).
    LeaderElection(SimTime),
}

impl Fingerprint for Tick {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            Tick::Sync => hasher.write_u64(1),
            Tick::Delayed(at) => {
                hasher.write_u64(2);
                hasher.write_u64(at.as_nanos());
            }
            Tick::NodeMonitor => hasher.write_u64(3),
            Tick::Tainter(at) => {
                hasher.write_u64(4);
                hasher.write_u64(at.as_nanos());
            }
            Tick::Eviction(at) => {
                hasher.write_u64(5);
                hasher.write_u64(at.as_nanos());
            }
            Tick::LeaderElection(at) => {
                hasher.write_u64(6);
                hasher.write_u64(at.as_nanos());
            }
        }
    }
}

/// A dirty key: which controller must sync which object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WorkKey {
    /// Garbage collector attemptToDelete: the object with this uid.
    GarbageCollect(u64),
    /// Garbage collector attemptToOrphan: the owner with this uid.
    Orphan(u64),
    Deployment(NsName),
    ReplicaSet(NsName),
    StatefulSet(NsName),
    Service(NsName),
    Job(NsName),
    PodDisruptionBudget(NsName),
    DaemonSet(NsName),
    HorizontalPodAutoscaler(NsName),
}

impl std::fmt::Display for WorkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, (namespace, name)) = match self {
            WorkKey::GarbageCollect(uid) => return write!(f, "garbage collector uid {uid}"),
            WorkKey::Orphan(uid) => return write!(f, "garbage collector orphaning uid {uid}"),
            WorkKey::Deployment(key) => ("deployment", key),
            WorkKey::ReplicaSet(key) => ("replicaset", key),
            WorkKey::StatefulSet(key) => ("statefulset", key),
            WorkKey::Service(key) => ("service", key),
            WorkKey::Job(key) => ("job", key),
            WorkKey::PodDisruptionBudget(key) => ("poddisruptionbudget", key),
            WorkKey::DaemonSet(key) => ("daemonset", key),
            WorkKey::HorizontalPodAutoscaler(key) => ("horizontalpodautoscaler", key),
        };
        write!(f, "{kind} {namespace}/{name}")
    }
}

/// `ItemExponentialFailureRateLimiter` of client-go's default controller rate limiter:
/// 5 ms doubling per consecutive failure, capped at 1000 s.
const RETRY_BASE_DELAY: SimDuration = SimDuration::from_millis(5);
const RETRY_MAX_DELAY: SimDuration = SimDuration::from_secs(1000);

/// The shared work queue: dirty keys in FIFO order (each at most once), keys due later,
/// and per-key failure counts for retry back-off.
#[derive(Debug, Default)]
pub struct WorkQueue {
    ready: VecDeque<WorkKey>,
    queued: FxIndexSet<WorkKey>,
    delayed: BTreeSet<(SimTime, u64, WorkKey)>,
    next_seq: u64,
    failures: FxIndexMap<WorkKey, u32>,
}

impl WorkQueue {
    pub fn add(&mut self, key: WorkKey) {
        if self.queued.insert(key.clone()) {
            self.ready.push_back(key);
        }
    }

    pub fn add_after(&mut self, key: WorkKey, at: SimTime) {
        self.next_seq += 1;
        self.delayed.insert((at, self.next_seq, key));
    }

    /// Re-adds a key after a failed write, with exponential back-off per key.
    pub fn add_rate_limited(&mut self, key: WorkKey, now: SimTime) {
        let failures = self.failures.entry(key.clone()).or_default();
        let delay = RETRY_BASE_DELAY
            .saturating_mul(1u64 << (*failures).min(40))
            .min(RETRY_MAX_DELAY);
        *failures += 1;
        self.add_after(key, now + delay);
    }

    /// The key's last write succeeded: its back-off starts over.
    pub fn forget(&mut self, key: &WorkKey) {
        self.failures.swap_remove(key);
    }

    pub fn pop(&mut self) -> Option<WorkKey> {
        let key = self.ready.pop_front()?;
        let removed = self.queued.swap_remove(&key);
        assert!(removed, "work queue out of step");
        Some(key)
    }

    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }

    pub fn delayed_len(&self) -> usize {
        self.delayed.len()
    }

    pub fn next_delayed(&self) -> Option<SimTime> {
        self.delayed.first().map(|(at, _, _)| *at)
    }

    /// Moves keys due by `now` to the ready queue.
    pub fn promote_due(&mut self, now: SimTime) {
        while self.delayed.first().is_some_and(|(at, _, _)| *at <= now) {
            let (_, _, key) = self.delayed.pop_first().expect("checked");
            self.add(key);
        }
    }

    pub fn clear(&mut self) {
        *self = WorkQueue::default();
    }
}

/// An object a controller writes: kind, namespace, name.
pub type ObjectRef = (Kind, Str, Str);

/// Writes a controller made to objects it also reads from an informer, until the
/// informer shows them. A sync that would write from a cache older than its own last
/// write waits instead (it would only earn a 409); the informer's event wakes it.
#[derive(Debug, Default)]
pub struct WriteTracker {
    in_flight: FxIndexMap<ObjectRef, u32>,
    /// The resourceVersion a successful write produced, while the cache is older.
    written: FxIndexMap<ObjectRef, u64>,
}

impl WriteTracker {
    pub fn begin(&mut self, object: ObjectRef) {
        *self.in_flight.entry(object).or_default() += 1;
    }

    /// A write came back; `written` is the version it produced, `cached` what the
    /// informer holds now.
    pub fn finish(&mut self, object: &ObjectRef, written: Option<u64>, cached: Option<u64>) {
        let count = self
            .in_flight
            .get_mut(object)
            .expect("a write in flight for this object");
        *count -= 1;
        if *count == 0 {
            self.in_flight.swap_remove(object);
        }
        if let Some(written) = written
            && cached.is_none_or(|cached| cached < written)
        {
            let entry = self.written.entry(object.clone()).or_default();
            *entry = (*entry).max(written);
        }
    }

    /// The informer shows `object` at `version` (`None`: deleted).
    pub fn observe(&mut self, object: &ObjectRef, version: Option<u64>) {
        if let Some(&written) = self.written.get(object)
            && version.is_none_or(|version| version >= written)
        {
            self.written.swap_remove(object);
        }
    }

    /// Whether the informer's copy is at least as new as every write made to it.
    pub fn fresh(&self, object: &ObjectRef) -> bool {
        !self.in_flight.contains_key(object) && !self.written.contains_key(object)
    }

    pub fn clear(&mut self) {
        *self = WriteTracker::default();
    }
}

/// The informers every controller shares.
struct Informers {
    deployments: Informer<Deployment>,
    replicasets: Informer<ReplicaSet>,
    pods: Informer<Pod>,
    nodes: Informer<Node>,
    leases: Informer<Lease>,
    services: Informer<Service>,
    endpointslices: Informer<EndpointSlice>,
    statefulsets: Informer<crate::api::StatefulSet>,
    jobs: Informer<Job>,
    pdbs: Informer<PodDisruptionBudget>,
    daemonsets: Informer<crate::api::DaemonSet>,
    hpas: Informer<crate::api::HorizontalPodAutoscaler>,
}

impl Informers {
    fn new() -> Informers {
        Informers {
            deployments: Informer::all(),
            replicasets: Informer::all(),
            pods: Informer::all(),
            nodes: Informer::all(),
            leases: Informer::new(
                Some(s(NAMESPACE_NODE_LEASE)),
                crate::api::FieldSelector::Everything,
            ),
            services: Informer::all(),
            endpointslices: Informer::all(),
            statefulsets: Informer::all(),
            jobs: Informer::all(),
            pdbs: Informer::all(),
            daemonsets: Informer::all(),
            hpas: Informer::all(),
        }
    }

    fn synced(&self) -> bool {
        self.deployments.has_synced()
            && self.replicasets.has_synced()
            && self.pods.has_synced()
            && self.nodes.has_synced()
            && self.leases.has_synced()
            && self.services.has_synced()
            && self.endpointslices.has_synced()
            && self.statefulsets.has_synced()
            && self.jobs.has_synced()
            && self.pdbs.has_synced()
            && self.daemonsets.has_synced()
            && self.hpas.has_synced()
    }

    fn reset(&mut self) {
        *self = Informers::new();
    }
}

/// A write whose response a controller waits for.
#[derive(Debug)]
enum Pending {
    /// ReplicaSet controller: one pod of a slow-start batch.
    CreatePod { rs: NsName },
    /// ReplicaSet controller: one pod chosen for scale-down.
    DeletePod { rs: NsName, pod_uid: u64 },
    /// A write to `object` on behalf of the controller that syncs `key`: a Deployment's
    /// ReplicaSets, revision annotation or status, or a ReplicaSet's status.
    Write { key: WorkKey, object: ObjectRef },
    /// Node lifecycle: a node status or taint update.
    NodeWrite { node: Str },
    /// Node lifecycle: a pod's Ready=False after its node went Unknown.
    PodNotReady { pod: NsName },
    /// Taint-based eviction of one pod.
    Eviction { pod: NsName, pod_uid: u64 },
    /// EndpointSlice controller: a slice create, update or delete.
    SliceWrite { service: NsName, slice: Option<Str> },
    /// Garbage collector: a live read or a write.
    GarbageCollector(GcRequest),
    /// StatefulSet controller: the pod of one ordinal.
    CreateStatefulPod { set: NsName, pod: Str },
    /// StatefulSet controller: a condemned, finished or outdated pod.
    DeleteStatefulPod { set: NsName, pod_uid: u64 },
    /// Job controller: one pod of a slow-start batch.
    CreateJobPod { job: NsName },
    /// Job controller: a surplus pod, or an active pod of a failing Job.
    DeleteJobPod { job: NsName, pod_uid: u64 },
    /// Job controller: a status write and the finished pods it counts.
    JobStatus { job: NsName, write: StatusWrite },
    /// DaemonSet controller: one pod of a slow-start batch.
    CreateDaemonPod { ds: NsName },
    /// DaemonSet controller: a surplus, failed, misplaced or outdated daemon pod.
    DeleteDaemonPod { ds: NsName, pod_uid: u64 },
    /// HPA controller: the target's new scale, and the status to write after it.
    HpaScale {
        hpa: NsName,
        from: u32,
        to: u32,
        status: Box<crate::api::HorizontalPodAutoscalerStatus>,
    },
    /// HPA controller: a status write.
    HpaStatus { hpa: NsName },
}

/// Counters for reports and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControllerStats {
    pub syncs: u64,
    pub pods_created: u64,
    pub pods_deleted: u64,
    pub replicasets_created: u64,
    pub nodes_marked_unknown: u64,
    pub pods_evicted: u64,
    pub slice_writes: u64,
}

pub struct ControllerManager {
    config: ControllerManagerConfig,
    api: ApiClient,
    informers: Informers,
    pods: PodIndex,
    /// Deployment uid → names of the ReplicaSets it controls (same namespace).
    replicasets_by_owner: MultiIndex<u64, Str>,
    services: ServiceIndex,
    slices: SliceTracker,
    /// Namespace → names of its PodDisruptionBudgets.
    budgets_by_namespace: MultiIndex<Str, Str>,
    queue: WorkQueue,
    sync_armed: bool,
    delayed_armed_at: Option<SimTime>,
    /// Requests awaiting their answer, by id (looked up, never walked).
    pending: FxIndexMap<RequestId, Pending>,
    replicaset_state: ReplicaSetState,
    statefulset_state: StatefulSetState,
    job_state: JobState,
    daemonset_state: DaemonSetState,
    hpa_state: hpa::HpaState,
    node_lifecycle: NodeLifecycle,
    writes: WriteTracker,
    /// Every informer has listed once since the last start.
    started: bool,
    gc: GarbageCollector,
    /// `None` without `--leader-elect`: the controllers start at once.
    election: Option<LeaderElector>,
    stats: ControllerStats,
}

pub(crate) fn ns_name(namespace: &Str, name: &Str) -> NsName {
    (namespace.clone(), name.clone())
}

impl ControllerManager {
    pub fn new(config: ControllerManagerConfig, apiserver: ActorId) -> ControllerManager {
        assert!(
            config.max_endpoints_per_slice > 0,
            "max_endpoints_per_slice is 0"
        );
        let node_lifecycle = NodeLifecycle::new(&config);
        ControllerManager {
            config,
            api: ApiClient::new(apiserver),
            informers: Informers::new(),
            pods: PodIndex::default(),
            replicasets_by_owner: MultiIndex::default(),
            services: ServiceIndex::default(),
            slices: SliceTracker::default(),
            budgets_by_namespace: MultiIndex::default(),
            queue: WorkQueue::default(),
            sync_armed: false,
            delayed_armed_at: None,
            pending: FxIndexMap::default(),
            replicaset_state: ReplicaSetState::default(),
            statefulset_state: StatefulSetState::default(),
            job_state: JobState::default(),
            daemonset_state: DaemonSetState::default(),
            hpa_state: hpa::HpaState::default(),
            node_lifecycle,
            writes: WriteTracker::default(),
            started: false,
            gc: GarbageCollector::default(),
            election: None,
            stats: ControllerStats::default(),
        }
        .on_host(crate::cluster::HOST_CONTROL_PLANE)
    }

    /// The replica runs on `host` (its leader election identity's first half).
    pub fn on_host(mut self, host: &str) -> ControllerManager {
        self.election = LeaderElector::for_replica(&self.config.leader_election, host);
        self
    }

    /// Whether this replica runs the controllers: it leads, or runs without leader
    /// election.
    pub fn leading(&self) -> bool {
        LeaderElector::acts(self.election.as_ref())
    }

    /// The leader elector, `None` without `--leader-elect`.
    pub fn election(&self) -> Option<&LeaderElector> {
        self.election.as_ref()
    }

    fn drive_election(&mut self, outcome: Outcome, cx: &mut Context<'_, Msg>) {
        let election = self.election.as_mut().expect("an elector");
        let started = election.drive(outcome, &mut self.api, cx, |at| {
            Msg::Tick(AnyTick::Controllers(Tick::LeaderElection(at)))
        });
        if started {
            // OnStartedLeading: the informers and controllers start.
            self.start_controllers(cx);
        }
    }

    pub fn stats(&self) -> ControllerStats {
        self.stats
    }

    /// Keys waiting for a sync (ready now) and keys due later.
    pub fn queue_lengths(&self) -> (usize, usize) {
        (self.queue.ready_len(), self.queue.delayed_len())
    }

    /// Whether every informer has listed, so the controllers run.
    pub fn synced(&self) -> bool {
        self.informers.synced()
    }

    fn enqueue(&mut self, key: WorkKey, cx: &mut Context<'_, Msg>) {
        self.queue.add(key);
        self.arm(cx);
    }

    fn enqueue_after(&mut self, key: WorkKey, after: SimDuration, cx: &mut Context<'_, Msg>) {
        self.queue.add_after(key, cx.now() + after);
        self.arm(cx);
    }

    /// A pod of `key`'s object just turned Ready: with a `min_ready_seconds` set, sync
    /// again once the pod counts as available (upstream queues `minReadySeconds + 1 s`
    /// later, pkg/controller/replicaset/replica_set.go `updatePod`).
    fn enqueue_when_available(
        &mut self,
        key: WorkKey,
        min_ready_seconds: u64,
        cx: &mut Context<'_, Msg>,
    ) {
        if min_ready_seconds > 0 {
            self.enqueue_after(key, SimDuration::from_secs(min_ready_seconds + 1), cx);
        }
    }

    fn retry(&mut self, key: WorkKey, cx: &mut Context<'_, Msg>) {
        self.queue.add_rate_limited(key, cx.now());
        self.arm(cx);
    }

    /// An informer delta of an object a controller writes: tells the write tracker the
    /// version the cache now holds (none once deleted) and returns the object's key.
    fn observe_written<T: crate::api::Resource>(&mut self, delta: &Delta<T>) -> NsName {
        let meta = delta.object().metadata();
        let key = ns_name(&meta.namespace, &meta.name);
        let version = match delta {
            Delta::Deleted(_) => None,
            Delta::Added(_) | Delta::Updated { .. } => Some(meta.resource_version),
        };
        self.writes
            .observe(&(T::KIND, key.0.clone(), key.1.clone()), version);
        key
    }

    /// Sets the sync timer when keys are ready, and the delayed-key timer.
    fn arm(&mut self, cx: &mut Context<'_, Msg>) {
        // `started` implies every informer has synced (only `reset` clears either), so
        // the twelve flags are read only until the controllers start.
        if !self.started && !self.informers.synced() {
            return;
        }
        if !self.sync_armed && self.queue.ready_len() > 0 {
            self.sync_armed = true;
            cx.timer(
                self.config.sync_cost,
                Msg::Tick(AnyTick::Controllers(Tick::Sync)),
            );
        }
        if let Some(at) = self.queue.next_delayed()
            && self.delayed_armed_at.is_none_or(|armed| at < armed)
        {
            self.delayed_armed_at = Some(at);
            cx.timer(
                at.saturating_since(cx.now()),
                Msg::Tick(AnyTick::Controllers(Tick::Delayed(at))),
            );
        }
    }

    fn sync_next(&mut self, cx: &mut Context<'_, Msg>) {
        let Some(key) = self.queue.pop() else {
            return;
        };
        self.stats.syncs += 1;
        match &key {
            WorkKey::Deployment(name) => self.sync_deployment(name, cx),
            WorkKey::ReplicaSet(name) => self.sync_replica_set(name, cx),
            WorkKey::StatefulSet(name) => self.sync_stateful_set(name, cx),
            WorkKey::Service(name) => self.sync_service(name, cx),
            WorkKey::GarbageCollect(uid) => self.sync_garbage_collect(*uid, cx),
            WorkKey::Orphan(uid) => self.sync_orphan(*uid, cx),
            WorkKey::Job(name) => self.sync_job(name, cx),
            WorkKey::PodDisruptionBudget(name) => self.sync_budget(name, cx),
            WorkKey::DaemonSet(name) => self.sync_daemon_set(name, cx),
            WorkKey::HorizontalPodAutoscaler(name) => self.sync_hpa(name, cx),
        }
    }

    fn on_reply(&mut self, response: ApiResponse, cx: &mut Context<'_, Msg>) {
        if let Some(election) = &mut self.election {
            let now = cx.host_clock();
            if let Some(outcome) = election.on_response(&response, now, cx.rng()) {
                self.drive_election(outcome, cx);
                return;
            }
        }
        macro_rules! offer {
            ($informer:ident, $handler:ident) => {
                if let Some(deltas) =
                    self.informers
                        .$informer
                        .on_response(&response, &mut self.api, cx)
                {
                    for delta in deltas {
                        self.gc_on_delta(&delta, cx);
                        self.$handler(delta, cx);
                    }
                    self.after_informer_change(cx);
                    return;
                }
            };
        }
        offer!(deployments, on_deployment_delta);
        offer!(replicasets, on_replica_set_delta);
        offer!(pods, on_pod_delta);
        offer!(nodes, on_node_change);
        offer!(leases, on_lease_delta);
        offer!(services, on_service_delta);
        offer!(endpointslices, on_slice_delta);
        offer!(statefulsets, on_stateful_set_delta);
        offer!(jobs, on_job_delta);
        offer!(pdbs, on_budget_delta);
        offer!(daemonsets, on_daemon_set_delta);
        offer!(hpas, on_hpa_delta);
        let Some(pending) = self.pending.swap_remove(&response.id) else {
            // The answer to a request sent before the controllers restarted (the replica
            // lost its Lease and started over): the new run never asked. It can come late
            // since the API server answers 504 after --request-timeout.
            let id = response.id;
            cx.record("detail", || {
                format!("kube-controller-manager drops the answer to request {id}, sent before it restarted")
            });
            return;
        };
        match pending {
            Pending::CreatePod { rs } => self.on_pod_created(&rs, &response, cx),
            Pending::DeletePod { rs, pod_uid } => self.on_pod_deleted(&rs, pod_uid, &response, cx),
            Pending::Write { key, object } => self.after_write(key, &object, &response, cx),
            Pending::NodeWrite { node } => self.on_node_write(&node, &response, cx),
            Pending::PodNotReady { pod } => {
                if let Err(error) = &response.result {
                    cx.record("detail", || {
                        format!(
                            "pod {}/{}: Ready=False not written: {} {}",
                            pod.0,
                            pod.1,
                            error.reason.code(),
                            error.message
                        )
                    });
                }
            }
            Pending::Eviction { pod, pod_uid } => {
                self.on_eviction_reply(&pod, pod_uid, &response, cx)
            }
            Pending::SliceWrite { service, slice } => {
                self.on_slice_write(&service, slice, &response, cx)
            }
            Pending::GarbageCollector(request) => {
                self.on_garbage_collector_reply(request, &response, cx)
            }
            Pending::CreateStatefulPod { set, pod } => {
                self.on_stateful_pod_created(&set, &pod, &response, cx)
            }
            Pending::DeleteStatefulPod { set, pod_uid } => {
                self.on_stateful_pod_deleted(&set, pod_uid, &response, cx)
            }
            Pending::CreateJobPod { job } => self.on_job_pod_created(&job, &response, cx),
            Pending::DeleteJobPod { job, pod_uid } => {
                self.on_job_pod_deleted(&job, pod_uid, &response, cx)
            }
            Pending::JobStatus { job, write } => {
                self.on_job_status_written(&job, write, &response, cx)
            }
            Pending::CreateDaemonPod { ds } => self.on_daemon_pod_created(&ds, &response, cx),
            Pending::DeleteDaemonPod { ds, pod_uid } => {
                self.on_daemon_pod_deleted(&ds, pod_uid, &response, cx)
            }
            Pending::HpaScale {
                hpa,
                from,
                to,
                status,
            } => self.on_hpa_scaled(&hpa, (from, to), *status, &response, cx),
            Pending::HpaStatus { hpa } => self.on_hpa_status_written(&hpa, &response, cx),
        }
    }

    /// Sends a write to `object` on behalf of `key`'s controller, tracked until the
    /// informer shows it.
    fn write(&mut self, key: WorkKey, object: ObjectRef, verb: ApiVerb, cx: &mut Context<'_, Msg>) {
        self.writes.begin(object.clone());
        let id = self.api.send(cx, verb);
        self.pending.insert(id, Pending::Write { key, object });
    }

    /// The informer's resourceVersion of a tracked object.
    fn cached_version(&self, object: &ObjectRef) -> Option<u64> {
        let (kind, namespace, name) = object;
        match kind {
            Kind::Deployment => self
                .informers
                .deployments
                .get(namespace, name)
                .map(|o| o.metadata.resource_version),
            Kind::ReplicaSet => self
                .informers
                .replicasets
                .get(namespace, name)
                .map(|o| o.metadata.resource_version),
            Kind::PodDisruptionBudget => self.cached_budget_version(namespace, name),
            Kind::StatefulSet => self
                .informers
                .statefulsets
                .get(namespace, name)
                .map(|o| o.metadata.resource_version),
            Kind::DaemonSet => self
                .informers
                .daemonsets
                .get(namespace, name)
                .map(|o| o.metadata.resource_version),
            other => panic!("writes to {other} are not tracked"),
        }
    }

    /// A controller's write came back: on success its back-off starts over (and if the
    /// informer already shows it, the key syncs again); on failure the key is retried
    /// with back-off (after a 409 the informer brings the newer object first).
    fn after_write(
        &mut self,
        key: WorkKey,
        object: &ObjectRef,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        let written = match &response.result {
            Ok(ApiOk::Object(o)) if o.kind() == object.0 => Some(o.meta().resource_version),
            _ => None,
        };
        let cached = self.cached_version(object);
        self.writes.finish(object, written, cached);
        match &response.result {
            Ok(_) => {
                self.queue.forget(&key);
                if self.writes.fresh(object) {
                    // Syncs skipped while the write was pending run now: the key's, and
                    // a ReplicaSet's Deployment's.
                    if object.0 == Kind::ReplicaSet
                        && let Some(owner) = self
                            .informers
                            .replicasets
                            .get(&object.1, &object.2)
                            .and_then(|rs| rs.metadata.controller_ref().cloned())
                        && owner.kind == Kind::Deployment
                    {
                        let deployment = ns_name(&object.1, &owner.name);
                        self.enqueue(WorkKey::Deployment(deployment), cx);
                    }
                    self.enqueue(key, cx);
                }
            }
            Err(error) => {
                cx.record("detail", || {
                    format!(
                        "{key}: write to {} {}/{} failed: {} {}; retrying",
                        object.0,
                        object.1,
                        object.2,
                        error.reason.code(),
                        error.message
                    )
                });
                self.retry(key, cx);
            }
        }
    }

    fn on_watch(&mut self, event: WatchEvent, cx: &mut Context<'_, Msg>) {
        macro_rules! offer {
            ($informer:ident, $handler:ident) => {
                if let Some(delta) =
                    self.informers
                        .$informer
                        .on_watch_delta(&event, &mut self.api, cx)
                {
                    if let Some(delta) = delta {
                        self.gc_on_delta(&delta, cx);
                        self.$handler(delta, cx);
                    }
                    self.after_informer_change(cx);
                    return;
                }
            };
        }
        offer!(pods, on_pod_delta);
        offer!(nodes, on_node_change);
        offer!(leases, on_lease_delta);
        offer!(replicasets, on_replica_set_delta);
        offer!(deployments, on_deployment_delta);
        offer!(services, on_service_delta);
        offer!(endpointslices, on_slice_delta);
        offer!(statefulsets, on_stateful_set_delta);
        offer!(jobs, on_job_delta);
        offer!(pdbs, on_budget_delta);
        offer!(daemonsets, on_daemon_set_delta);
        offer!(hpas, on_hpa_delta);
    }

    /// Once every informer has listed, the controllers start: node taints and pending
    /// evictions are brought up to date (their handlers held back until then), and the
    /// work queue starts draining.
    fn after_informer_change(&mut self, cx: &mut Context<'_, Msg>) {
        if !self.started && self.informers.synced() {
            self.started = true;
            cx.record("detail", || {
                "kube-controller-manager: caches synced, controllers running".to_string()
            });
            self.nodes_synced(cx);
        }
        self.arm(cx);
    }

    fn on_pod_delta(&mut self, delta: Delta<Pod>, cx: &mut Context<'_, Msg>) {
        let (old, new) = match &delta {
            Delta::Added(pod) => (None, Some(pod)),
            Delta::Updated { old, new } => (Some(old), Some(new)),
            Delta::Deleted(pod) => (Some(pod), None),
        };
        self.pods.apply(old, new);
        self.replica_set_on_pod(old, new, cx);
        self.stateful_set_on_pod(old, new, cx);
        self.deployment_on_pod(old, new, cx);
        self.endpoints_on_pod(old, new, cx);
        self.eviction_on_pod(old, new, cx);
        self.job_on_pod(old, new, cx);
        self.disruption_on_pod(old, new, cx);
        self.daemon_set_on_pod(old, new, cx);
    }

    /// A node changed: the DaemonSet controller looks first (it only queues), then node
    /// lifecycle.
    fn on_node_change(&mut self, delta: Delta<Node>, cx: &mut Context<'_, Msg>) {
        self.daemon_set_on_node(&delta, cx);
        self.on_node_delta(delta, cx);
    }

    fn reset(&mut self) {
        self.informers.reset();
        self.pods.clear();
        self.replicasets_by_owner.clear();
        self.services.clear();
        self.slices.clear();
        self.budgets_by_namespace.clear();
        self.queue.clear();
        self.sync_armed = false;
        self.delayed_armed_at = None;
        self.pending.clear();
        self.replicaset_state.clear();
        self.statefulset_state.clear();
        self.job_state.clear();
        self.daemonset_state.clear();
        self.hpa_state.clear();
        self.node_lifecycle.clear();
        self.writes.clear();
        self.gc.clear();
        self.started = false;
        if let Some(election) = &mut self.election {
            election.reset();
        }
    }

    /// The process starts: it runs for the Lease, or without leader election starts
    /// the controllers at once.
    fn start(&mut self, cx: &mut Context<'_, Msg>) {
        self.reset();
        match &mut self.election {
            Some(election) => {
                let uuid = draw_uuid(cx.rng());
                let outcome = election.start(cx.host_clock(), uuid);
                self.drive_election(outcome, cx);
            }
            None => {
                cx.record("detail", || {
                    "kube-controller-manager: --leader-elect=false: runs its controllers without a Lease, whatever other replicas do".to_string()
                });
                self.start_controllers(cx);
            }
        }
    }

    /// The informers start; the controllers run once they have synced.
    fn start_controllers(&mut self, cx: &mut Context<'_, Msg>) {
        let Informers {
            deployments,
            replicasets,
            pods,
            nodes,
            leases,
            services,
            endpointslices,
            statefulsets,
            jobs,
            pdbs,
            daemonsets,
            hpas,
        } = &mut self.informers;
        deployments.start(&mut self.api, cx);
        replicasets.start(&mut self.api, cx);
        pods.start(&mut self.api, cx);
        nodes.start(&mut self.api, cx);
        leases.start(&mut self.api, cx);
        services.start(&mut self.api, cx);
        endpointslices.start(&mut self.api, cx);
        statefulsets.start(&mut self.api, cx);
        jobs.start(&mut self.api, cx);
        pdbs.start(&mut self.api, cx);
        daemonsets.start(&mut self.api, cx);
        hpas.start(&mut self.api, cx);
        cx.timer(
            self.config.node_monitor_period,
            Msg::Tick(AnyTick::Controllers(Tick::NodeMonitor)),
        );
        cx.record("detail", || {
            "kube-controller-manager: starting informers".to_string()
        });
    }
}

impl Actor<Msg> for ControllerManager {
    fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
        match event {
            Event::Start => self.start(cx),
            Event::Message {
                msg: Msg::ApiReply(response),
                ..
            } => self.on_reply(*response, cx),
            Event::Message {
                msg: Msg::Watch(event),
                ..
            } => self.on_watch(*event, cx),
            Event::Message {
                msg: Msg::Metrics(msg),
                ..
            } => self.on_metrics(*msg, cx),
            Event::Timer(Msg::Tick(AnyTick::Controllers(tick))) => match tick {
                Tick::Sync => {
                    self.sync_armed = false;
                    if self.informers.synced() {
                        self.sync_next(cx);
                    }
                    self.arm(cx);
                }
                Tick::Delayed(at) => {
                    if self.delayed_armed_at == Some(at) {
                        self.delayed_armed_at = None;
                        self.queue.promote_due(cx.now());
                        self.arm(cx);
                    }
                }
                Tick::NodeMonitor => {
                    cx.timer(
                        self.config.node_monitor_period,
                        Msg::Tick(AnyTick::Controllers(Tick::NodeMonitor)),
                    );
                    if self.informers.synced() {
                        self.monitor_node_health(cx);
                    }
                }
                Tick::Tainter(at) => self.on_tainter_tick(at, cx),
                Tick::Eviction(at) => self.on_eviction_tick(at, cx),
                Tick::LeaderElection(at) => {
                    let now = cx.host_clock();
                    let outcome = self
                        .election
                        .as_mut()
                        .and_then(|election| election.on_timer(at, now, cx.rng()));
                    if let Some(outcome) = outcome {
                        self.drive_election(outcome, cx);
                    }
                }
            },
            Event::Message { msg, .. } | Event::Timer(msg) => {
                panic!("kube-controller-manager got an unexpected message: {msg:?}")
            }
        }
    }

    fn on_crash(&mut self) {
        self.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> WorkKey {
        WorkKey::ReplicaSet((s("default"), s(name)))
    }

    #[test]
    fn work_queue_dedupes_and_keeps_fifo_order() {
        let mut queue = WorkQueue::default();
        queue.add(key("a"));
        queue.add(key("b"));
        queue.add(key("a"));
        assert_eq!(queue.pop(), Some(key("a")));
        queue.add(key("a"));
        assert_eq!(queue.pop(), Some(key("b")));
        assert_eq!(queue.pop(), Some(key("a")));
        assert_eq!(queue.pop(), None);
    }

    #[test]
    fn retries_back_off_exponentially_until_forgotten() {
        let mut queue = WorkQueue::default();
        let now = SimTime::ZERO;
        queue.add_rate_limited(key("a"), now);
        assert_eq!(
            queue.next_delayed(),
            Some(now + SimDuration::from_millis(5))
        );
        queue.promote_due(now + SimDuration::from_millis(5));
        queue.pop();
        queue.add_rate_limited(key("a"), now);
        assert_eq!(
            queue.next_delayed(),
            Some(now + SimDuration::from_millis(10))
        );
        queue.promote_due(now + SimDuration::from_secs(1));
        queue.pop();
        queue.forget(&key("a"));
        queue.add_rate_limited(key("a"), now);
        assert_eq!(
            queue.next_delayed(),
            Some(now + SimDuration::from_millis(5))
        );
    }
}
