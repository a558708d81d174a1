//! kube-scheduler: watches unscheduled pods and nodes, picks a node for each pod with the
//! filter and score plugins, and binds it through the API server.
//!
//! - [`queue`]: activeQ, backoffQ and the unschedulable pool.
//! - [`cache`]: the node snapshot with incremental per-node totals and assumed pods.
//! - [`plugins`]: filter and score plugins as pure functions over (pod, node).
//! - [`profile`]: which plugins run, with which weights and arguments, per schedulerName.
//! - [`schedule_one`]: the cycle (PreFilter, Filter with numFeasibleNodesToFind, PreScore,
//!   Score, NormalizeScore, selectHost), FitError, and the [`schedule_one::Decision`]
//!   that explains it. `kubesim schedule` calls the same [`schedule_one::schedule_pod`].
//!
//! One scheduling cycle runs per `scheduling_cycle_cost` of simulated CPU while activeQ
//! holds pods: the pod at its head is filtered against nodes from a round-robin start,
//! scored, assumed onto the chosen node in the cache (so the next cycle sees it) and
//! bound; a failed binding forgets the assumption and backs the pod off. With records
//! on, every decision is recorded as a "detail" with each node's plugin scores and each
//! rejected node's reason.
//!
//! With `--leader-elect` (upstream's default) the informers start and sync first, then
//! the replica runs for the `kube-system/kube-scheduler` Lease
//! ([`crate::client::leader_election`]); its event handlers fill the queue all along,
//! but no cycle runs until it leads. A replica that loses the Lease exits and is
//! started again (`cmd/kube-scheduler/app/server.go`: "Leaderelection lost").
//!
//! When no node fits, [`preemption`] (DefaultPreemption) looks for a node where deleting
//! lower-priority pods makes room: the victims are deleted through the API server (their
//! kubelets stop them gracefully), the pod is nominated to the node
//! (`status.nominatedNodeName`) and waits in the unschedulable pool; the victims' deletion
//! moves it back, and its next cycle tries the nominated node first.

pub mod cache;
pub mod node_memo;
pub mod plugins;
pub mod preemption;
pub mod profile;
pub mod queue;
pub mod schedule_one;

use std::collections::BTreeMap;
use std::rc::Rc;

use sim_core::{Actor, ActorId, Context, Event, SimDuration, SimTime, TraceHasher};

use self::cache::{Cache, counts_on_node};
use self::plugins::PodInfo;
use self::preemption::{
    DisruptionBudget, Nominator, PostFilter, PostFilterInput, PreemptionArgs, post_filter,
};
use self::profile::Profile;
use self::queue::{BackoffConfig, SchedulingQueue};
use self::schedule_one::{
    CycleInput, NO_NODES_AVAILABLE, Scratch, Selection, node_filter, schedule_pod_with_nominated,
};
use crate::api::{
    ApiResponse, ApiVerb, ConditionStatus, LabelSelector, Namespace, Node, Object, ObjectMeta, Pod,
    PodDisruptionBudget, PodPhase, ReplicaSet, RequestId, Resource, Service, Str, WatchEvent, s,
};
use crate::client::leader_election::{
    LeaderElectionConfig, LeaderElector, Outcome, Phase, draw_uuid,
};
use crate::client::{ApiClient, Delta, Informer};
use crate::msg::{Fingerprint, Msg, Tick as AnyTick};

/// Settings, named as in `KubeSchedulerConfiguration` where upstream has them.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// `profiles`: each pod is scheduled by the profile naming its `spec.schedulerName`;
    /// a pod naming none is left alone (another scheduler's). Upstream default: one
    /// profile, `default-scheduler`.
    pub profiles: Vec<Profile>,
    /// `percentageOfNodesToScore`; 0 means adaptive (upstream default).
    pub percentage_of_nodes_to_score: u32,
    /// `podInitialBackoffSeconds`, upstream default 1 s.
    pub pod_initial_backoff: SimDuration,
    /// `podMaxBackoffSeconds`, upstream default 10 s.
    pub pod_max_backoff: SimDuration,
    /// `DefaultPodMaxInUnschedulablePodsDuration`, upstream 5 min.
    pub pod_max_in_unschedulable_pods_duration: SimDuration,
    /// CPU time one scheduling cycle takes (an assumption: upstream reaches a few hundred
    /// pods per second, so a few milliseconds per pod).
    pub scheduling_cycle_cost: SimDuration,
    /// `DefaultPreemptionArgs` (upstream sets them per profile; kubesim's profiles share
    /// one set): minCandidateNodesPercentage 10, minCandidateNodesAbsolute 100.
    pub default_preemption: PreemptionArgs,
    /// `leaderElection`: leaderElect true, leaseDuration 15 s, renewDeadline 10 s,
    /// retryPeriod 2 s, the Lease `kube-system/kube-scheduler`.
    pub leader_election: LeaderElectionConfig,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            profiles: vec![Profile::default()],
            percentage_of_nodes_to_score: 0,
            pod_initial_backoff: SimDuration::from_secs(1),
            pod_max_backoff: SimDuration::from_secs(10),
            pod_max_in_unschedulable_pods_duration: SimDuration::from_mins(5),
            scheduling_cycle_cost: SimDuration::from_millis(2),
            default_preemption: PreemptionArgs::default(),
            leader_election: LeaderElectionConfig::for_component("kube-scheduler"),
        }
    }
}

impl SchedulerConfig {
    fn backoff(&self) -> BackoffConfig {
        BackoffConfig {
            initial: self.pod_initial_backoff,
            max: self.pod_max_backoff,
            max_in_unschedulable: self.pod_max_in_unschedulable_pods_duration,
        }
    }
}

/// The scheduler's timers.
#[derive(Clone, Debug)]
pub enum Tick {
    /// The CPU time of one scheduling cycle has passed: schedule the head of activeQ.
    Cycle,
    /// Move pods whose back-off ended, or that sat too long in the unschedulable pool.
    /// Carries the instant it was armed for; a superseded timer is skipped.
    Flush(SimTime),
    /// The leader elector's timer (host clock instant; a superseded one is skipped).
    LeaderElection(SimTime),
}

impl Fingerprint for Tick {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            Tick::Cycle => hasher.write_u64(1),
            Tick::Flush(at) => {
                hasher.write_u64(2);
                hasher.write_u64(at.as_nanos());
            }
            Tick::LeaderElection(at) => {
                hasher.write_u64(3);
                hasher.write_u64(at.as_nanos());
            }
        }
    }
}

/// Counters for reports and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchedulerStats {
    /// Scheduling cycles run (pods popped from activeQ).
    pub attempts: u64,
    /// Bindings the API server accepted.
    pub bound: u64,
    /// Cycles that found no feasible node.
    pub unschedulable: u64,
    /// Bindings the API server refused.
    pub binding_failures: u64,
    /// Preemptions decided (a pod nominated to a node and its victims deleted).
    pub preemptions: u64,
    /// Pods deleted as victims.
    pub victims: u64,
}

/// Why DefaultPreemption did not nominate the pod; the text follows `preemption: ` in
/// the pod's PodScheduled message.
#[derive(Debug)]
enum PostFilterFailure {
    NotEligible(&'static str),
    NoCandidates(String),
}

impl std::fmt::Display for PostFilterFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PostFilterFailure::NotEligible(reason) => f.write_str(reason),
            PostFilterFailure::NoCandidates(message) => f.write_str(message),
        }
    }
}

/// A request whose response the scheduler waits for.
#[derive(Debug)]
enum Pending {
    Bind {
        pod: Rc<Pod>,
        node: Str,
        feasible_count: usize,
        /// `None` when exactly one node was feasible (no scoring).
        best_score: Option<i64>,
    },
    /// The PodScheduled=False condition write, or a nomination cleared.
    Status { pod: Rc<Pod> },
    /// The deletion of a preemption victim.
    Preempt { victim: Rc<Pod>, preemptor: String },
}

/// Deltas of the informers that feed the cluster view rather than the queue.
enum ClusterDeltas {
    Namespaces(Vec<Delta<Namespace>>),
    Services(Vec<Delta<Service>>),
    ReplicaSets(Vec<Delta<ReplicaSet>>),
}

pub struct Scheduler {
    config: SchedulerConfig,
    api: ApiClient,
    pods: Informer<Pod>,
    nodes: Informer<Node>,
    /// Namespace labels, for inter-pod affinity's namespaceSelector.
    namespaces: Informer<Namespace>,
    /// Services and ReplicaSets: their selectors build the system-default spreading
    /// selector of the pods they select.
    services: Informer<Service>,
    replica_sets: Informer<ReplicaSet>,
    /// What preemption reads to prefer victims whose eviction breaks no budget
    /// (upstream `getPodDisruptionBudgets` lists them from this informer's lister).
    budgets: Informer<PodDisruptionBudget>,
    cache: Cache,
    queue: SchedulingQueue,
    /// Where the next cycle starts filtering (round-robin over the snapshot).
    next_start_node_index: usize,
    cycle_armed: bool,
    /// The instant of the live flush timer, if one is set.
    flush_armed_at: Option<SimTime>,
    pending: BTreeMap<RequestId, Pending>,
    scratch: Scratch,
    /// Pending pods nominated to nodes by preemption (upstream's PodNominator).
    nominator: Nominator,
    /// `None` without `--leader-elect`: the replica schedules once synced.
    election: Option<LeaderElector>,
    stats: SchedulerStats,
}

fn pod_name(pod: &Pod) -> String {
    format!("{}/{}", pod.metadata.namespace, pod.metadata.name)
}

/// The profile that schedules `pod`, if this scheduler should place it: unbound, not
/// terminating, not finished, and naming one of the profiles.
fn profile_for(profiles: &[Profile], pod: &Pod) -> Option<usize> {
    if pod.spec.node_name.is_some()
        || pod.metadata.is_terminating()
        || matches!(pod.status.phase, PodPhase::Succeeded | PodPhase::Failed)
    {
        return None;
    }
    profiles
        .iter()
        .position(|p| p.scheduler_name == pod.spec.scheduler_name)
}

/// Whether `pod` has terms that another pod's placement can satisfy: pod affinity or
/// topology spread constraints.
fn has_cross_topology_terms(pod: &Pod) -> bool {
    !pod.spec.topology_spread_constraints.is_empty()
        || pod
            .spec
            .affinity
            .as_ref()
            .is_some_and(|a| a.pod_affinity.is_some())
}

/// Whether a node change can make an unschedulable pod fit (upstream compares the
/// scheduling-relevant properties, not heartbeats).
fn node_change_matters(old: &Node, new: &Node) -> bool {
    old.spec != new.spec
        || old.metadata.labels != new.metadata.labels
        || old.status.allocatable != new.status.allocatable
        || old.status.ready.status != new.status.ready.status
}

impl Scheduler {
    pub fn new(config: SchedulerConfig, apiserver: ActorId) -> Scheduler {
        assert!(
            !config.profiles.is_empty(),
            "kube-scheduler without profiles"
        );
        let backoff = config.backoff();
        Scheduler {
            config,
            api: ApiClient::new(apiserver),
            pods: Informer::all(),
            nodes: Informer::all(),
            namespaces: Informer::all(),
            services: Informer::all(),
            replica_sets: Informer::all(),
            budgets: Informer::all(),
            cache: Cache::default(),
            queue: SchedulingQueue::new(backoff),
            next_start_node_index: 0,
            cycle_armed: false,
            flush_armed_at: None,
            pending: BTreeMap::new(),
            scratch: Scratch::default(),
            nominator: Nominator::default(),
            election: None,
            stats: SchedulerStats::default(),
        }
        .on_host(crate::cluster::HOST_CONTROL_PLANE)
    }

    /// The replica runs on `host` (its leader election identity's first half).
    pub fn on_host(mut self, host: &str) -> Scheduler {
        self.election = LeaderElector::for_replica(&self.config.leader_election, host);
        self
    }

    /// Whether this replica schedules: it leads, or runs without leader election.
    pub fn leading(&self) -> bool {
        LeaderElector::acts(self.election.as_ref())
    }

    /// The leader elector, `None` without `--leader-elect`.
    pub fn election(&self) -> Option<&LeaderElector> {
        self.election.as_ref()
    }

    pub fn stats(&self) -> SchedulerStats {
        self.stats
    }

    /// Pods waiting in the scheduling queue (active, backing off, unschedulable or in
    /// flight).
    pub fn queued_pods(&self) -> usize {
        self.queue.len()
    }

    /// Pods in the unschedulable pool.
    pub fn unschedulable_pods(&self) -> usize {
        self.queue.unschedulable_len()
    }

    /// Nodes in the scheduler's snapshot.
    pub fn node_count(&self) -> usize {
        self.cache.node_count()
    }

    /// The snapshot's view of one node: what its pods request, as the scheduler counts it.
    pub fn node_totals(&self, name: &str) -> Option<plugins::NodeTotals> {
        self.cache
            .node_index(name)
            .map(|index| self.cache.node(index).totals)
    }

    fn wants(&self, pod: &Pod) -> bool {
        profile_for(&self.config.profiles, pod).is_some()
    }

    fn synced(&self) -> bool {
        self.pods.has_synced()
            && self.nodes.has_synced()
            && self.namespaces.has_synced()
            && self.services.has_synced()
            && self.replica_sets.has_synced()
            && self.budgets.has_synced()
    }

    /// Applies the deltas of the informers that feed the cluster view.
    fn on_cluster_deltas(&mut self, deltas: ClusterDeltas) {
        match deltas {
            ClusterDeltas::Namespaces(deltas) => {
                for delta in deltas {
                    match delta {
                        Delta::Added(ns) | Delta::Updated { new: ns, .. } => self
                            .cache
                            .set_namespace(ns.metadata.name.clone(), ns.metadata.labels.clone()),
                        Delta::Deleted(ns) => self.cache.remove_namespace(&ns.metadata.name),
                    }
                }
            }
            ClusterDeltas::Services(deltas) => {
                for delta in deltas {
                    let (meta, selector) = match &delta {
                        Delta::Added(svc) | Delta::Updated { new: svc, .. } => (
                            &svc.metadata,
                            svc.spec.selector.clone().map(LabelSelector::from_labels),
                        ),
                        Delta::Deleted(svc) => (&svc.metadata, None),
                    };
                    self.set_workload("Service", meta, selector);
                }
            }
            ClusterDeltas::ReplicaSets(deltas) => {
                for delta in deltas {
                    let (meta, selector) = match &delta {
                        Delta::Added(rs) | Delta::Updated { new: rs, .. } => {
                            (&rs.metadata, Some(rs.spec.selector.clone()))
                        }
                        Delta::Deleted(rs) => (&rs.metadata, None),
                    };
                    self.set_workload("ReplicaSet", meta, selector);
                }
            }
        }
    }

    fn set_workload(
        &mut self,
        kind: &'static str,
        meta: &ObjectMeta,
        selector: Option<LabelSelector>,
    ) {
        if self
            .cache
            .set_workload(kind, meta.namespace.clone(), meta.name.clone(), selector)
        {
            self.scratch.spread_memo.workloads_changed();
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
        if let Some(deltas) = self.pods.on_response(&response, &mut self.api, cx) {
            for delta in deltas {
                self.on_pod_delta(delta, cx);
            }
            // An empty list may be the one that completes the sync.
            self.arm(cx);
            return;
        }
        if let Some(deltas) = self.nodes.on_response(&response, &mut self.api, cx) {
            for delta in deltas {
                self.on_node_delta(delta, cx);
            }
            self.arm(cx);
            return;
        }
        if let Some(deltas) = self.namespaces.on_response(&response, &mut self.api, cx) {
            self.on_cluster_deltas(ClusterDeltas::Namespaces(deltas));
            self.arm(cx);
            return;
        }
        if let Some(deltas) = self.services.on_response(&response, &mut self.api, cx) {
            self.on_cluster_deltas(ClusterDeltas::Services(deltas));
            self.arm(cx);
            return;
        }
        if let Some(deltas) = self.replica_sets.on_response(&response, &mut self.api, cx) {
            self.on_cluster_deltas(ClusterDeltas::ReplicaSets(deltas));
            self.arm(cx);
            return;
        }
        // Budgets are read from the informer's cache when preemption runs; a change
        // moves no pod in the queue (DefaultPreemption registers no PDB event).
        if self
            .budgets
            .on_response(&response, &mut self.api, cx)
            .is_some()
        {
            self.arm(cx);
            return;
        }
        match self.pending.remove(&response.id) {
            Some(Pending::Bind {
                pod,
                node,
                feasible_count,
                best_score,
            }) => self.on_bind_reply(&response, pod, node, feasible_count, best_score, cx),
            Some(Pending::Status { pod }) => {
                if let Err(error) = &response.result {
                    cx.record("detail", || {
                        format!(
                            "pod {}: PodScheduled condition not written: {} {}",
                            pod_name(&pod),
                            error.reason.code(),
                            error.message
                        )
                    });
                }
            }
            Some(Pending::Preempt { victim, preemptor }) => {
                if let Err(error) = &response.result {
                    cx.record("detail", || {
                        format!(
                            "pod {}: deleting it for {preemptor} failed: {} {}",
                            pod_name(&victim),
                            error.reason.code(),
                            error.message
                        )
                    });
                }
            }
            None => {
                // The answer to a request sent before the scheduler restarted (it lost its
                // Lease and started over): the new run never asked. It can come late since
                // the API server answers 504 after --request-timeout.
                let id = response.id;
                cx.record("detail", || {
                    format!(
                        "kube-scheduler drops the answer to request {id}, sent before it restarted"
                    )
                });
            }
        }
    }

    fn on_bind_reply(
        &mut self,
        response: &ApiResponse,
        pod: Rc<Pod>,
        node: Str,
        feasible_count: usize,
        best_score: Option<i64>,
        cx: &mut Context<'_, Msg>,
    ) {
        let uid = pod.metadata.uid;
        match &response.result {
            Ok(_) => {
                self.stats.bound += 1;
                self.queue.done(uid);
                cx.record("step", || {
                    let nodes = if feasible_count == 1 { "node" } else { "nodes" };
                    match best_score {
                        Some(score) => format!(
                            "pod {}: bound to {node} ({feasible_count} feasible {nodes}, best score {score})",
                            pod_name(&pod)
                        ),
                        None => format!(
                            "pod {}: bound to {node} (the only feasible node, not scored)",
                            pod_name(&pod)
                        ),
                    }
                });
            }
            Err(error) => {
                self.stats.binding_failures += 1;
                self.cache.forget(uid);
                self.queue.requeue_backoff(uid, cx.now());
                cx.record("detail", || {
                    format!(
                        "pod {}: binding to {node} failed: {} {}; backing off",
                        pod_name(&pod),
                        error.reason.code(),
                        error.message
                    )
                });
            }
        }
    }

    fn on_pod_delta(&mut self, delta: Delta<Pod>, cx: &mut Context<'_, Msg>) {
        let now = cx.now();
        let (freed, assigned) = match &delta {
            Delta::Added(pod) => {
                self.cache.on_pod(None, Some(pod));
                self.nominator.on_pod(None, Some(pod));
                if self.wants(pod) {
                    self.queue.add(pod.clone(), now);
                }
                (false, counts_on_node(pod).is_some())
            }
            Delta::Updated { old, new } => {
                self.cache.on_pod(Some(old), Some(new));
                self.nominator.on_pod(Some(old), Some(new));
                if old.metadata.uid != new.metadata.uid {
                    self.queue.remove(old.metadata.uid);
                }
                if self.wants(new) {
                    if !self.queue.update(new.clone(), now) {
                        self.queue.add(new.clone(), now);
                    }
                } else {
                    self.queue.remove(new.metadata.uid);
                }
                let was = counts_on_node(old);
                let is = counts_on_node(new);
                (
                    was.is_some_and(|node| is != Some(node)),
                    is.is_some() && was != is,
                )
            }
            Delta::Deleted(pod) => {
                self.cache.on_pod(Some(pod), None);
                self.nominator.on_pod(Some(pod), None);
                self.queue.remove(pod.metadata.uid);
                (counts_on_node(pod).is_some(), false)
            }
        };
        if freed {
            // An assigned pod went away: room may have appeared (AssignedPodDelete).
            self.queue.move_all_unschedulable(now);
        } else if assigned && self.queue.unschedulable_len() > 0 {
            // A pod landed on a node: pods waiting for pod affinity or spreading may fit
            // now (AssignedPodAdd moves pods with cross-topology terms).
            self.queue
                .move_unschedulable_where(now, has_cross_topology_terms);
        }
        self.arm(cx);
    }

    fn on_node_delta(&mut self, delta: Delta<Node>, cx: &mut Context<'_, Msg>) {
        let moves = match delta {
            Delta::Added(node) => {
                self.cache.set_node(node);
                true
            }
            Delta::Updated { old, new } => {
                let matters = node_change_matters(&old, &new);
                self.cache.set_node(new);
                matters
            }
            Delta::Deleted(node) => {
                self.cache.remove_node(&node.metadata.name);
                false
            }
        };
        if moves {
            self.queue.move_all_unschedulable(cx.now());
        }
        self.arm(cx);
    }

    /// Sets the cycle timer when activeQ has work, and the flush timer for the earliest
    /// back-off or unschedulable-pool deadline.
    fn arm(&mut self, cx: &mut Context<'_, Msg>) {
        if !self.synced() {
            return;
        }
        if !self.leading() {
            self.start_election(cx);
            return;
        }
        if !self.cycle_armed && self.queue.active_len() > 0 {
            self.cycle_armed = true;
            cx.timer(
                self.config.scheduling_cycle_cost,
                Msg::Tick(AnyTick::Scheduler(Tick::Cycle)),
            );
        }
        if let Some(at) = self.queue.next_flush()
            && self.flush_armed_at.is_none_or(|armed| at < armed)
        {
            self.flush_armed_at = Some(at);
            cx.timer(
                at.saturating_since(cx.now()),
                Msg::Tick(AnyTick::Scheduler(Tick::Flush(at))),
            );
        }
    }

    /// One scheduling cycle for the head of activeQ.
    fn schedule_one(&mut self, cx: &mut Context<'_, Msg>) {
        let Some(pod) = self.queue.pop() else {
            return;
        };
        self.stats.attempts += 1;
        let Some(profile_index) = profile_for(&self.config.profiles, &pod) else {
            // Queued pods always name a profile (checked when queued and on update).
            panic!("queued pod {} names no profile", pod_name(&pod));
        };
        let pod = PodInfo::new(pod);
        self.cache.refresh();
        let node_count = self.cache.node_count();
        let input = CycleInput {
            profile: &self.config.profiles[profile_index],
            percentage_of_nodes_to_score: self.config.percentage_of_nodes_to_score,
            start: if node_count == 0 {
                0
            } else {
                self.next_start_node_index % node_count
            },
            explain: cx.recording(),
        };
        let outcome = schedule_pod_with_nominated(
            input,
            &pod,
            &self.cache,
            &self.nominator,
            cx.rng(),
            &mut self.scratch,
        );
        if node_count > 0 {
            self.next_start_node_index = (input.start + outcome.processed) % node_count;
        }
        if let Some(decision) = &outcome.decision {
            cx.record("detail", || decision.to_string());
        }
        match outcome.selection {
            Selection::NoNodes => {
                let nominated = pod.pod.status.nominated_node_name.clone();
                self.fail(
                    &pod,
                    "SchedulerError",
                    NO_NODES_AVAILABLE.to_string(),
                    nominated,
                    cx,
                );
                self.queue.requeue_backoff(pod.pod.metadata.uid, cx.now());
            }
            Selection::Unschedulable { message } => {
                self.stats.unschedulable += 1;
                let nominated = self.post_filter(profile_index, &pod, cx);
                let message = match &nominated {
                    Ok(_) => message,
                    Err(why) => format!("{message} preemption: {why}"),
                };
                let nominated = match nominated {
                    Ok(node) => Some(node),
                    // Not eligible now: the nomination stays as it is.
                    Err(PostFilterFailure::NotEligible(_)) => {
                        pod.pod.status.nominated_node_name.clone()
                    }
                    Err(PostFilterFailure::NoCandidates(_)) => {
                        self.nominator.remove(pod.pod.metadata.uid);
                        None
                    }
                };
                self.fail(&pod, "Unschedulable", message, nominated, cx);
                self.queue
                    .requeue_unschedulable(pod.pod.metadata.uid, cx.now());
            }
            Selection::Node {
                node,
                feasible_count,
                best_score,
            } => self.assume_and_bind(pod, node, feasible_count, best_score, cx),
        }
    }

    /// DefaultPreemption after a FitError: on success the victims' deletions and the
    /// cleared nominations are sent and the node the pod is nominated to is returned.
    fn post_filter(
        &mut self,
        profile_index: usize,
        pod: &PodInfo,
        cx: &mut Context<'_, Msg>,
    ) -> Result<Str, PostFilterFailure> {
        let budgets: Vec<DisruptionBudget> = self
            .budgets
            .iter()
            .map(|budget| DisruptionBudget::from_budget(budget))
            .collect();
        let result = {
            let profile = &self.config.profiles[profile_index];
            let filter = node_filter(profile, pod, &self.cache, &mut self.scratch.spread_memo);
            let input = PostFilterInput {
                nodes: self.cache.nodes(),
                unfit: &self.scratch.unfit,
                nominator: &self.nominator,
                budgets: &budgets,
                args: &self.config.default_preemption,
                filter: &filter,
            };
            post_filter(pod, &input, cx.rng())
        };
        match result {
            PostFilter::NotEligible(reason) => {
                cx.record("detail", || {
                    format!("pod {}: does not preempt: {reason}", pod_name(&pod.pod))
                });
                Err(PostFilterFailure::NotEligible(reason))
            }
            PostFilter::NoCandidates(message) => Err(PostFilterFailure::NoCandidates(message)),
            PostFilter::Preempt {
                candidate,
                lower_priority_nominated,
            } => {
                let node = self.cache.node(candidate.node).name().clone();
                self.prepare_candidate(pod, &node, &candidate.victims.pods, cx);
                for other in &lower_priority_nominated {
                    self.clear_nomination(other, &node, cx);
                }
                self.nominator.nominate(pod.clone(), node.clone());
                Ok(node)
            }
        }
    }

    /// `prepareCandidate`: deletes each victim not already terminating, with its own
    /// grace period (its kubelet sends SIGTERM, then SIGKILL after the grace period).
    fn prepare_candidate(
        &mut self,
        pod: &PodInfo,
        node: &Str,
        victims: &[Rc<Pod>],
        cx: &mut Context<'_, Msg>,
    ) {
        let preemptor = pod_name(&pod.pod);
        self.stats.preemptions += 1;
        cx.record("step", || {
            let noun = if victims.len() == 1 { "pod" } else { "pods" };
            format!(
                "pod {preemptor}: preempting {} {noun} on {node} ({})",
                victims.len(),
                preemption::pod_names(victims)
            )
        });
        for victim in victims {
            if victim.metadata.is_terminating() {
                continue;
            }
            self.stats.victims += 1;
            let id = self.api.send(
                cx,
                ApiVerb::Delete {
                    key: victim.key(),
                    grace_period_seconds: None,
                    uid_precondition: 0,
                    propagation_policy: None,
                },
            );
            self.pending.insert(
                id,
                Pending::Preempt {
                    victim: victim.clone(),
                    preemptor: preemptor.clone(),
                },
            );
        }
    }

    /// A lower-priority pod nominated to the node a higher-priority pod now takes loses
    /// its nomination (upstream `clearNominatedNodeName`).
    fn clear_nomination(&mut self, pod: &Rc<Pod>, node: &Str, cx: &mut Context<'_, Msg>) {
        self.nominator.remove(pod.metadata.uid);
        let latest = self
            .pods
            .get(&pod.metadata.namespace, &pod.metadata.name)
            .filter(|p| p.metadata.uid == pod.metadata.uid)
            .cloned()
            .unwrap_or_else(|| pod.clone());
        if latest.status.nominated_node_name.is_none() {
            return;
        }
        cx.record("detail", || {
            format!(
                "pod {}: nomination to {node} cleared for a higher-priority pod",
                pod_name(&latest)
            )
        });
        let mut updated = (*latest).clone();
        updated.status.nominated_node_name = None;
        updated.metadata.resource_version = 0;
        let id = self
            .api
            .send(cx, ApiVerb::UpdateStatus(Object::from(updated)));
        self.pending.insert(id, Pending::Status { pod: latest });
    }

    /// Assumes `pod` onto node `index` in the cache and sends the binding.
    fn assume_and_bind(
        &mut self,
        pod: PodInfo,
        index: usize,
        feasible_count: usize,
        best_score: Option<i64>,
        cx: &mut Context<'_, Msg>,
    ) {
        let node = self.cache.node(index).name().clone();
        self.cache.assume(&pod, index);
        self.nominator.remove(pod.pod.metadata.uid);
        let id = self.api.send(
            cx,
            ApiVerb::Bind {
                pod: pod.pod.key(),
                pod_uid: pod.pod.metadata.uid,
                node: node.clone(),
            },
        );
        self.pending.insert(
            id,
            Pending::Bind {
                pod: pod.pod,
                node,
                feasible_count,
                best_score,
            },
        );
    }

    /// Records a failed cycle and writes PodScheduled=False with the reason and the
    /// nominated node, if that changes the pod's status.
    fn fail(
        &mut self,
        pod: &PodInfo,
        reason: &str,
        message: String,
        nominated: Option<Str>,
        cx: &mut Context<'_, Msg>,
    ) {
        let status = &pod.pod.status;
        let changed = status.scheduled != ConditionStatus::False
            || status.scheduled_reason.as_deref() != Some(reason)
            || status.scheduled_message.as_deref() != Some(message.as_str())
            || status.nominated_node_name != nominated;
        let kind = if changed { "step" } else { "detail" };
        cx.record(kind, || {
            format!("pod {}: cannot be scheduled: {message}", pod_name(&pod.pod))
        });
        if !changed {
            return;
        }
        let mut updated = (*pod.pod).clone();
        updated.status.scheduled = ConditionStatus::False;
        updated.status.scheduled_reason = Some(s(reason));
        updated.status.scheduled_message = Some(s(&message));
        updated.status.nominated_node_name = nominated;
        // Upstream patches the condition; an unconditional status update is the same here
        // (nothing else writes an unbound pod's status).
        updated.metadata.resource_version = 0;
        let id = self
            .api
            .send(cx, ApiVerb::UpdateStatus(Object::from(updated)));
        self.pending.insert(
            id,
            Pending::Status {
                pod: pod.pod.clone(),
            },
        );
    }

    /// Once the informers have synced, the replica runs for the Lease (upstream runs the
    /// elector after `WaitForCacheSync`).
    fn start_election(&mut self, cx: &mut Context<'_, Msg>) {
        let Some(election) = &mut self.election else {
            return;
        };
        if election.phase() != Phase::Stopped {
            return;
        }
        let uuid = draw_uuid(cx.rng());
        let outcome = election.start(cx.host_clock(), uuid);
        self.drive_election(outcome, cx);
    }

    fn drive_election(&mut self, outcome: Outcome, cx: &mut Context<'_, Msg>) {
        let election = self.election.as_mut().expect("an elector");
        let started = election.drive(outcome, &mut self.api, cx, |at| {
            Msg::Tick(AnyTick::Scheduler(Tick::LeaderElection(at)))
        });
        if started {
            // OnStartedLeading: sched.Run, over the queue the handlers filled.
            self.arm(cx);
        }
    }

    fn reset(&mut self, now: SimTime) {
        self.pods.reset();
        self.nodes.reset();
        self.namespaces.reset();
        self.services.reset();
        self.replica_sets.reset();
        self.budgets.reset();
        self.cache.clear();
        self.scratch.spread_memo.clear();
        self.queue.clear(now);
        self.next_start_node_index = 0;
        self.cycle_armed = false;
        self.flush_armed_at = None;
        self.pending.clear();
        self.nominator.clear();
        if let Some(election) = &mut self.election {
            election.reset();
        }
    }
}

impl Actor<Msg> for Scheduler {
    fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
        match event {
            Event::Start => {
                self.reset(cx.now());
                if self.election.is_none() {
                    cx.record("detail", || {
                        "kube-scheduler: --leader-elect=false: schedules without a Lease, whatever other replicas do".to_string()
                    });
                }
                self.pods.start(&mut self.api, cx);
                self.nodes.start(&mut self.api, cx);
                self.namespaces.start(&mut self.api, cx);
                self.services.start(&mut self.api, cx);
                self.replica_sets.start(&mut self.api, cx);
                self.budgets.start(&mut self.api, cx);
                cx.record("detail", || {
                    "kube-scheduler: listing pods, nodes, namespaces, services, replicasets and poddisruptionbudgets"
                        .to_string()
                });
            }
            Event::Message {
                msg: Msg::ApiReply(response),
                ..
            } => self.on_reply(*response, cx),
            Event::Message {
                msg: Msg::Watch(event),
                ..
            } => {
                let event: WatchEvent = *event;
                if let Some(delta) = self.pods.on_watch_delta(&event, &mut self.api, cx) {
                    if let Some(delta) = delta {
                        self.on_pod_delta(delta, cx);
                    }
                } else if let Some(delta) = self.nodes.on_watch_delta(&event, &mut self.api, cx) {
                    if let Some(delta) = delta {
                        self.on_node_delta(delta, cx);
                    }
                } else if let Some(deltas) = self.namespaces.on_watch(&event, &mut self.api, cx) {
                    self.on_cluster_deltas(ClusterDeltas::Namespaces(deltas));
                } else if let Some(deltas) = self.services.on_watch(&event, &mut self.api, cx) {
                    self.on_cluster_deltas(ClusterDeltas::Services(deltas));
                } else if let Some(deltas) = self.replica_sets.on_watch(&event, &mut self.api, cx) {
                    self.on_cluster_deltas(ClusterDeltas::ReplicaSets(deltas));
                } else {
                    // The budgets' informer keeps its cache; nothing else follows.
                    self.budgets.on_watch(&event, &mut self.api, cx);
                }
            }
            Event::Timer(Msg::Tick(AnyTick::Scheduler(Tick::LeaderElection(at)))) => {
                let now = cx.host_clock();
                let outcome = self
                    .election
                    .as_mut()
                    .and_then(|election| election.on_timer(at, now, cx.rng()));
                if let Some(outcome) = outcome {
                    self.drive_election(outcome, cx);
                }
            }
            Event::Timer(Msg::Tick(AnyTick::Scheduler(tick))) => {
                match tick {
                    Tick::Cycle => {
                        self.cycle_armed = false;
                        self.schedule_one(cx);
                    }
                    Tick::Flush(at) => {
                        if self.flush_armed_at != Some(at) {
                            return;
                        }
                        self.flush_armed_at = None;
                        self.queue.flush(cx.now());
                    }
                    Tick::LeaderElection(_) => unreachable!("matched above"),
                }
                self.arm(cx);
            }
            Event::Message { msg, .. } | Event::Timer(msg) => {
                panic!("kube-scheduler got an unexpected message: {msg:?}")
            }
        }
    }

    fn on_crash(&mut self) {
        self.reset(SimTime::ZERO);
    }
}
