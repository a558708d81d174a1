//! kubelet: registers its node, keeps its Lease and status fresh, watches only its own
//! pods, and drives the container runtime over CRI to make them run.
//!
//! - Node: created at start (on `AlreadyExists`, fetched and its status updated); status
//!   computed every `nodeStatusUpdateFrequency` and posted when it changed or
//!   `nodeStatusReportFrequency` has passed. Lease `kube-node-lease/<node>` renewed every
//!   `node_lease_renew_interval` from the host clock.
//! - Pods: an informer with `spec.nodeName=<node>`; one [`worker::PodWorker`] per pod.
//!   [`worker::plan`] says what to do next; CRI answers advance the stages. Container
//!   exits reach the kubelet through a PLEG that relists every second (modelled as the
//!   runtime's events being handled at the next relist instant); restarts follow the
//!   restart policy with CrashLoopBackOff ([`backoff`]). Readiness comes from the kernel's
//!   "startup done" (probes are a later issue). Status is posted with UpdateStatus at the
//!   resourceVersion of the cached pod; a 409 is retried with the newer version.
//! - Termination: a deletionTimestamp stops the containers (SIGTERM, SIGKILL after the
//!   grace period), then the sandbox, then the pod is deleted with grace 0.
//! - Node pressure ([`eviction`]): MemoryPressure when `memory.available` falls below
//!   100Mi, DiskPressure when a filesystem signal passes its threshold (unused images
//!   deleted first), one pod evicted per pass (Failed, `Evicted`), pods above their
//!   ephemeral-storage limits evicted at once, new pods refused while it lasts (only
//!   BestEffort ones under MemoryPressure alone); each container's `oom_score_adj` comes
//!   from its pod's QoS class ([`qos`]).
//! - Connection: every request has a deadline (the heartbeat client's 10 s for the lease
//!   and the node, `api_request_timeout` for the rest), checked at the heartbeat; a lost
//!   request is sent again by the loop that sent it, and makes the connection suspect. A
//!   partition drops watch events as silently as requests, so at the next answer to a
//!   lease renewal (every 10 s, whatever else happens) the kubelet relists its pods and
//!   re-reads its Node.
//! - Crash: everything in memory is lost; on restart the kubelet re-registers, re-lists
//!   its pods and the runtime's sandboxes and containers, and adopts what still runs.

pub mod backoff;
pub mod eviction;
pub mod image_gc;
pub mod prober;
pub mod qos;
pub mod runtime_state;
pub mod status;
pub mod worker;

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use sim_core::{Actor, ActorId, Context, Event, SimDuration, SimTime, TraceHasher};

use crate::api::quantity::{format_bytes, format_millicores};
use crate::api::{
    ApiOk, ApiResponse, ApiVerb, ContainerState as ApiContainerState, FieldSelector, Kind,
    LABEL_HOSTNAME, Labels, Lease, LeaseSpec, NAMESPACE_NODE_LEASE, Node, NodeSpec, Object,
    ObjectKey, ObjectMeta, OwnerReference, Pod, PodPhase, RequestId, Resource, ResourceList,
    StatusReason, Str, Taint, WatchEvent, s,
};
use crate::client::{ApiClient, Delta, Informer};
use crate::kernel::CgroupLimits;
use crate::msg::{Fingerprint, Msg, Tick as AnyTick};
use crate::runtime::{
    CallId, ContainerConfig, ContainerEvent, ContainerEventKind, ContainerExit, ContainerInfo,
    ContainerState, CriCall, CriReply, CriRequest, CriResponse, PodSandboxConfig, SandboxInfo,
};
use crate::timers::{Deadlines, InformerDeadline};

use backoff::Backoff;
use worker::{
    Action, ContainerStage, HookWait, Lifecycle, PodWorker, PullDecision, PullFailure, Role,
    SandboxStage, Terminated, pull_decision, termination_grace,
};

/// Settings, named as in `KubeletConfiguration`.
#[derive(Clone, Debug)]
pub struct KubeletConfig {
    /// `nodeLeaseDurationSeconds`, upstream default 40.
    pub node_lease_duration_seconds: u64,
    /// Lease renew interval: 0.25 × the lease duration upstream, so 10 s.
    pub node_lease_renew_interval: SimDuration,
    /// `nodeStatusUpdateFrequency`, upstream default 10 s.
    pub node_status_update_frequency: SimDuration,
    /// `nodeStatusReportFrequency`, upstream default 5 min.
    pub node_status_report_frequency: SimDuration,
    /// Node-pressure eviction (`evictionHard`, `evictionPressureTransitionPeriod`).
    pub eviction: eviction::EvictionConfig,
    /// Image garbage collection (`imageGCHighThresholdPercent`, ...; see `image_gc`).
    pub image_gc: image_gc::ImageGcPolicy,
    /// CrashLoopBackOff: first delay 10 s, doubling, capped at 300 s (`MaxContainerBackOff`).
    pub crash_loop_backoff_initial: SimDuration,
    pub crash_loop_backoff_max: SimDuration,
    /// A back-off entry is forgotten after 2 × max = 600 s without a new failure.
    pub crash_loop_backoff_reset: SimDuration,
    /// Image pull back-off: upstream uses the same 10 s → 300 s back-off.
    pub image_pull_backoff_initial: SimDuration,
    pub image_pull_backoff_max: SimDuration,
    /// Generic PLEG relist period, upstream 1 s.
    pub pleg_relist_period: SimDuration,
    /// Pod worker `backOffPeriod`, upstream 10 s: a failed sync (sandbox or container
    /// creation) is retried this much later.
    pub pod_worker_backoff_period: SimDuration,
    /// How long the kubelet waits for the API server before giving a request up as lost
    /// (kube-apiserver's `--request-timeout` is 60 s: by then it has answered).
    pub api_request_timeout: SimDuration,
    /// `kubeAPIQPS` and `kubeAPIBurst`, upstream defaults 50 and 100 (since 1.27): the
    /// rate limit of every request but the heartbeat client's (lease, node status).
    pub kube_api_qps: u32,
    pub kube_api_burst: u32,
    pub kubelet_version: Str,
}

impl KubeletConfig {
    /// The timeout of the heartbeat client that renews the lease and posts the node
    /// status: `nodeStatusUpdateFrequency`, capped at the lease duration (upstream
    /// `cmd/kubelet/app/server.go`), so 10 s.
    pub fn heartbeat_request_timeout(&self) -> SimDuration {
        Ord::min(
            self.node_status_update_frequency,
            SimDuration::from_secs(self.node_lease_duration_seconds),
        )
    }
}

impl Default for KubeletConfig {
    fn default() -> Self {
        KubeletConfig {
            node_lease_duration_seconds: 40,
            node_lease_renew_interval: SimDuration::from_secs(10),
            node_status_update_frequency: SimDuration::from_secs(10),
            node_status_report_frequency: SimDuration::from_mins(5),
            eviction: eviction::EvictionConfig::default(),
            image_gc: image_gc::ImageGcPolicy::default(),
            crash_loop_backoff_initial: SimDuration::from_secs(10),
            crash_loop_backoff_max: SimDuration::from_secs(300),
            crash_loop_backoff_reset: SimDuration::from_secs(600),
            image_pull_backoff_initial: SimDuration::from_secs(10),
            image_pull_backoff_max: SimDuration::from_secs(300),
            pleg_relist_period: SimDuration::from_secs(1),
            pod_worker_backoff_period: SimDuration::from_secs(10),
            api_request_timeout: SimDuration::from_secs(60),
            kube_api_qps: 50,
            kube_api_burst: 100,
            kubelet_version: Str::from("v1.34.0"),
        }
    }
}

/// What the kubelet registers its Node with: the machine it runs on.
#[derive(Clone, Debug)]
pub struct NodeSetup {
    pub name: Str,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    /// Capacity; allocatable is the same (no system reservations modelled yet).
    pub capacity: ResourceList,
    /// Extended resources the node advertises (`nvidia.com/gpu: 4`).
    pub extended_resources: Vec<(Str, u64)>,
    pub internal_ip: Str,
    /// This node's pod CIDR, e.g. `10.244.3.0/24`; pod IPs are taken from it.
    pub pod_cidr: Str,
}

/// The lease controller retries a failed write after 200 ms, doubling up to 7 s (FACTS 4,
/// marked recalled there).
const LEASE_RETRY_INITIAL: SimDuration = SimDuration::from_millis(200);
const LEASE_RETRY_MAX: SimDuration = SimDuration::from_secs(7);

#[derive(Clone, Debug)]
pub enum Tick {
    /// Renew the lease (every `node_lease_renew_interval`) and, every
    /// `nodeStatusUpdateFrequency`, compute the node status, post it if due and retry
    /// pod status updates that were lost; whichever is due.
    Heartbeat,
    /// A lease write failed: try again (back-off 200 ms → 7 s).
    RetryLease,
    /// The PLEG relist that picks up container exits.
    PlegRelist,
    /// A pod's back-off ended (see `timers::Deadlines`).
    Wake { generation: u64 },
    /// The eviction manager's next synchronize or cleanup poll (see `eviction`).
    Eviction { generation: u64 },
    /// `updateRuntimeUp`'s status check, armed only while the runtime is unreachable
    /// (see `runtime_state`).
    RuntimeStatus,
    /// The prober's next decisive instant (see `prober`).
    Probe { generation: u64 },
    /// API requests held by the rate limiter (or a retry back-off) may leave (see
    /// `client::rate_limit::Held`).
    ApiRelease { at: SimTime },
}

/// What an API request in flight was for.
#[derive(Clone, Debug)]
enum Purpose {
    CreateNode,
    GetNode,
    NodeStatus,
    CreateLease,
    GetLease,
    RenewLease,
    PodStatus { uid: u64, resource_version: u64 },
    GetPod { uid: u64 },
    DeletePod { uid: u64 },
}

impl Purpose {
    /// Sent with the heartbeat client (lease and node), whose timeout is short.
    fn is_heartbeat(&self) -> bool {
        matches!(
            self,
            Purpose::CreateNode
                | Purpose::GetNode
                | Purpose::NodeStatus
                | Purpose::CreateLease
                | Purpose::GetLease
                | Purpose::RenewLease
        )
    }
}

#[derive(Clone, Debug)]
struct Pending {
    purpose: Purpose,
    /// Unanswered by then, the request is given up as lost.
    deadline: SimTime,
}

/// What the kubelet believes about its connection to the API server. A partition drops
/// requests, answers and watch events alike, and nothing resets the connection: a request
/// that outlives its deadline is the sign that the pod watch may have lost events too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Connection {
    Healthy,
    /// A request went unanswered: once a lease renewal is answered, the kubelet relists
    /// its pods and re-reads its Node (as client-go re-establishes a broken watch and
    /// the node status loop re-reads the node after a failed update).
    Suspect,
}

/// What a CRI call in flight was for.
#[derive(Clone, Copy, Debug)]
enum Call {
    Version,
    ListImages,
    ListSandboxes,
    ListContainers,
    RunSandbox {
        uid: u64,
    },
    StopSandbox {
        uid: u64,
    },
    RemoveSandbox {
        uid: u64,
    },
    ImageStatus {
        uid: u64,
        index: usize,
    },
    PullImage {
        uid: u64,
        index: usize,
    },
    CreateContainer {
        uid: u64,
        index: usize,
    },
    StartContainer {
        uid: u64,
        index: usize,
    },
    StopContainer {
        uid: u64,
        index: usize,
    },
    /// A postStart or preStop hook run through the runtime (`ExecSync`).
    Hook {
        uid: u64,
        index: usize,
    },
    /// The status check of an unreachable runtime (`runtime_state`).
    RuntimeStatus,
    /// The relist after the runtime came back (`runtime_state`).
    Relist,
    /// Cleaning up runtime objects no pod owns.
    Orphan,
    /// Removing an image the image GC chose (`image_gc`).
    RemoveImage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Registration {
    /// Waiting for the runtime's version (part of the node info).
    AwaitingRuntime,
    Creating,
    Fetching,
    Registered,
}

/// What the kubelet learns from the runtime at start, to adopt what still runs.
#[derive(Clone, Debug, Default)]
struct Adoption {
    sandboxes: Option<Vec<SandboxInfo>>,
    containers: Option<Vec<ContainerInfo>>,
    done: bool,
}

/// `repr(C)` keeps the declared order: the fields every heartbeat and lease answer
/// touch (two thirds of a kubelet's events, each on a kubelet long out of cache) come
/// first, so that those events read few cache lines.
///
/// Only `config`, `setup`, `runtime`, `api` and `next_call_id` survive a crash (see
/// `on_crash`); everything else lives in memory.
#[repr(C)]
pub struct Kubelet {
    /// The lease request in flight (kept out of `requests`: it is most of them).
    lease_request: Option<(RequestId, Pending)>,
    lease: Option<Rc<Lease>>,
    next_lease_renewal: SimTime,
    next_status_update: SimTime,
    /// Back-off of lease retries after an error.
    lease_retry_delay: SimDuration,
    node_status_posted_at: Option<SimTime>,
    /// The pod informer's list or watch request in flight, given up at this deadline.
    pods_deadline: InformerDeadline,
    connection: Connection,
    registration: Registration,
    /// Something the node status is computed from (images, runtime version, the stored
    /// node) changed since it was last computed.
    node_status_inputs_changed: bool,
    requests: BTreeMap<RequestId, Pending>,
    /// Pods whose status must be synced again once nothing is in flight.
    status_dirty: BTreeSet<u64>,
    /// Pods torn down and to be deleted from the API.
    deleting: BTreeSet<u64>,
    /// Kept across a crash, as is `next_call_id`: request and call numbers are never
    /// reused, so an answer or watch event addressed to the previous incarnation can never
    /// be mistaken for one of this incarnation's.
    api: ApiClient,
    config: KubeletConfig,
    setup: NodeSetup,
    runtime: ActorId,
    next_call_id: CallId,
    started_at: SimTime,
    pods: Informer<Pod>,
    /// Every RuntimeClass, for the handler a pod's sandbox runs with (upstream's
    /// runtimeclass manager). Listed with the pods, so both are current together.
    runtime_classes: Informer<crate::api::RuntimeClass>,
    calls: BTreeMap<CallId, Call>,
    runtime_version: Option<Str>,
    /// Images on the node and their sizes, for the node status.
    images: BTreeMap<Str, u64>,
    node: Option<Rc<Node>>,
    node_status_request: Option<RequestId>,
    /// Pods whose final delete is in flight.
    delete_in_flight: BTreeMap<u64, RequestId>,
    adoption: Adoption,
    workers: BTreeMap<u64, PodWorker>,
    /// Container id → (pod uid, container index), for container events.
    container_owner: BTreeMap<u64, (u64, usize)>,
    crash_backoff: Backoff<(u64, Str)>,
    pull_backoff: Backoff<(u64, Str)>,
    wakeups: Deadlines<u64>,
    pleg_pending: Vec<ContainerEvent>,
    pleg_armed: bool,
    /// Whether the runtime answers; its status check and PLEG stamps (`runtime_state`).
    runtime_health: runtime_state::RuntimeHealth,
    runtime_poll_armed: bool,
    /// The node's kernel, whose cgroups cAdvisor reads for /metrics/resource (set when
    /// the cluster runs metrics-server).
    kernel: Option<ActorId>,
    /// cgroup reads in flight: read id → (metrics-server, its scrape id).
    scrapes: BTreeMap<u64, (ActorId, u64)>,
    next_read_id: u64,
    /// Node-pressure eviction (see `eviction`).
    eviction: eviction::EvictionManager,
    /// Image records and the next GC pass (see `image_gc`).
    image_gc: image_gc::ImageGcManager,
    /// Liveness, readiness and startup probes (see `prober`).
    prober: prober::Prober,
}

impl Kubelet {
    pub fn new(
        config: KubeletConfig,
        setup: NodeSetup,
        apiserver: ActorId,
        runtime: ActorId,
    ) -> Kubelet {
        let pods = Informer::new(None, FieldSelector::NodeName(setup.name.clone()));
        let crash_backoff = Backoff::with_expiry(
            config.crash_loop_backoff_initial,
            config.crash_loop_backoff_max,
            config.crash_loop_backoff_reset,
        );
        let pull_backoff = Backoff::new(
            config.image_pull_backoff_initial,
            config.image_pull_backoff_max,
        );
        let api =
            ApiClient::new(apiserver).with_rate_limit(config.kube_api_qps, config.kube_api_burst);
        Kubelet {
            config,
            setup,
            runtime,
            api,
            next_call_id: 1,
            started_at: SimTime::ZERO,
            pods,
            runtime_classes: Informer::all(),
            pods_deadline: InformerDeadline::default(),
            connection: Connection::Healthy,
            requests: BTreeMap::new(),
            calls: BTreeMap::new(),
            runtime_version: None,
            images: BTreeMap::new(),
            registration: Registration::AwaitingRuntime,
            node: None,
            node_status_posted_at: None,
            node_status_request: None,
            node_status_inputs_changed: true,
            next_lease_renewal: SimTime::ZERO,
            next_status_update: SimTime::ZERO,
            lease: None,
            lease_request: None,
            lease_retry_delay: LEASE_RETRY_INITIAL,
            deleting: BTreeSet::new(),
            delete_in_flight: BTreeMap::new(),
            adoption: Adoption::default(),
            workers: BTreeMap::new(),
            container_owner: BTreeMap::new(),
            status_dirty: BTreeSet::new(),
            crash_backoff,
            pull_backoff,
            wakeups: Deadlines::new(),
            pleg_pending: Vec::new(),
            pleg_armed: false,
            runtime_health: runtime_state::RuntimeHealth::Up,
            runtime_poll_armed: false,
            kernel: None,
            scrapes: BTreeMap::new(),
            next_read_id: 0,
            eviction: eviction::EvictionManager::default(),
            image_gc: image_gc::ImageGcManager::default(),
            prober: prober::Prober::new(),
        }
    }

    /// Serves /metrics/resource from `kernel`'s cgroups (cAdvisor runs inside the
    /// kubelet and reads cgroupfs directly).
    pub fn with_kernel(mut self, kernel: ActorId) -> Kubelet {
        self.kernel = Some(kernel);
        self
    }

    /// The resource metrics endpoint: a scrape is answered from a fresh cgroup read;
    /// the kernel's per-pod-uid counters become per-pod samples of the pods this kubelet
    /// runs.
    fn on_metrics(
        &mut self,
        from: ActorId,
        msg: crate::metrics::MetricsMsg,
        cx: &mut Context<'_, Msg>,
    ) {
        use crate::metrics::{MetricsMsg, PodSample};
        match msg {
            MetricsMsg::Scrape { scrape_id } => {
                let Some(kernel) = self.kernel else {
                    return;
                };
                self.next_read_id += 1;
                self.scrapes.insert(self.next_read_id, (from, scrape_id));
                cx.send(
                    kernel,
                    Msg::Metrics(Box::new(MetricsMsg::ReadCgroups {
                        read_id: self.next_read_id,
                    })),
                );
            }
            MetricsMsg::CgroupStats {
                read_id,
                usage_by_pod_uid,
                ..
            } => {
                let Some((server, scrape_id)) = self.scrapes.remove(&read_id) else {
                    return;
                };
                let pods = usage_by_pod_uid
                    .into_iter()
                    .filter_map(|(uid, usage_core_nanos)| {
                        let pod = &self.workers.get(&uid)?.pod;
                        Some(PodSample {
                            namespace: pod.metadata.namespace.clone(),
                            name: pod.metadata.name.clone(),
                            uid,
                            usage_core_nanos,
                        })
                    })
                    .collect();
                cx.send(
                    server,
                    Msg::Metrics(Box::new(MetricsMsg::ScrapeReply {
                        scrape_id,
                        node: self.setup.name.clone(),
                        timestamp: cx.host_clock(),
                        pods,
                    })),
                );
            }
            other => panic!(
                "kubelet/{} got an unexpected metrics message: {other:?}",
                self.setup.name
            ),
        }
    }

    pub fn node_name(&self) -> &Str {
        &self.setup.name
    }

    /// Whether the Node object has been created (or found) in this incarnation.
    pub fn is_registered(&self) -> bool {
        self.registration == Registration::Registered
    }

    /// Pods this kubelet currently runs a worker for.
    pub fn pod_count(&self) -> usize {
        self.workers.len()
    }

    /// The Lease as last written.
    pub fn lease(&self) -> Option<&Rc<Lease>> {
        self.lease.as_ref()
    }

    /// The Node as last written or read.
    pub fn node(&self) -> Option<&Rc<Node>> {
        self.node.as_ref()
    }

    // ------------------------------------------------------------------------------
    // Plumbing

    fn request(&mut self, verb: ApiVerb, purpose: Purpose, cx: &mut Context<'_, Msg>) -> RequestId {
        let (id, pending) = self.send(verb, purpose, cx);
        self.requests.insert(id, pending);
        id
    }

    /// Sends a request; the caller keeps what it is waiting for.
    fn send(
        &mut self,
        verb: ApiVerb,
        purpose: Purpose,
        cx: &mut Context<'_, Msg>,
    ) -> (RequestId, Pending) {
        // The heartbeat client (lease, node status) has no rate limit (QPS -1); the
        // rest share kubeAPIQPS / kubeAPIBurst, and wait for their token before leaving.
        let id = if purpose.is_heartbeat() {
            self.api.send_unthrottled(cx, verb)
        } else {
            self.api.send(cx, verb)
        };
        let timeout = if purpose.is_heartbeat() {
            self.config.heartbeat_request_timeout()
        } else {
            self.config.api_request_timeout
        };
        let deadline = cx.now() + self.api.last_wait() + timeout;
        (id, Pending { purpose, deadline })
    }

    /// (Re)starts the pod informer with a full list (the RuntimeClass informer first,
    /// so a pod's class is known when the pod is).
    fn list_pods(&mut self, cx: &mut Context<'_, Msg>) {
        self.runtime_classes.start(&mut self.api, cx);
        self.pods.start(&mut self.api, cx);
        self.pods_deadline
            .started(cx.now(), self.config.api_request_timeout);
    }

    fn cri(&mut self, request: CriRequest, call: Call, cx: &mut Context<'_, Msg>) -> CallId {
        let id = self.next_call_id;
        self.next_call_id += 1;
        self.calls.insert(id, call);
        cx.send(self.runtime, Msg::Cri(Box::new(CriCall { id, request })));
        id
    }

    fn timer(&self, after: SimDuration, tick: Tick, cx: &mut Context<'_, Msg>) {
        cx.timer(after, Msg::Tick(AnyTick::Kubelet(tick)));
    }

    fn wake_at(&mut self, uid: u64, at: SimTime, cx: &mut Context<'_, Msg>) {
        if let Some(rearm) = self.wakeups.schedule(cx.now(), at, uid) {
            self.timer(
                rearm.after,
                Tick::Wake {
                    generation: rearm.generation,
                },
                cx,
            );
        }
    }

    // ------------------------------------------------------------------------------
    // Start

    fn start(&mut self, cx: &mut Context<'_, Msg>) {
        self.started_at = cx.now();
        let node = self.setup.name.clone();
        cx.record("step", || format!("kubelet on node {node} starting"));
        self.list_pods(cx);
        self.cri(CriRequest::Version, Call::Version, cx);
        self.cri(CriRequest::ListImages, Call::ListImages, cx);
        self.cri(CriRequest::ListPodSandbox, Call::ListSandboxes, cx);
        self.cri(CriRequest::ListContainers, Call::ListContainers, cx);
        self.renew_lease(cx);
        self.next_lease_renewal = cx.now() + self.config.node_lease_renew_interval;
        self.next_status_update = cx.now() + self.config.node_status_update_frequency;
        self.arm_heartbeat(cx);
        self.start_eviction_manager(cx);
        self.image_gc.start(cx.now(), &self.config.image_gc);
    }

    /// One timer serves the lease renewal, the node status update and the deadlines of
    /// the requests in flight: with the default settings (10 s each) the first two fall
    /// on the same instants, and a heartbeat request (10 s timeout) is due exactly at the
    /// next one. Other requests (60 s) are given up at most one period late.
    fn arm_heartbeat(&self, cx: &mut Context<'_, Msg>) {
        let next = Ord::min(self.next_lease_renewal, self.next_status_update);
        self.timer(next.saturating_since(cx.now()), Tick::Heartbeat, cx);
    }

    fn heartbeat(&mut self, cx: &mut Context<'_, Msg>) {
        let now = cx.now();
        // Before the lease renewal replaces the previous one: a renewal still unanswered
        // is a lost request, not merely a superseded one.
        self.expire_requests(cx);
        if now >= self.next_lease_renewal {
            self.next_lease_renewal = now + self.config.node_lease_renew_interval;
            self.renew_lease(cx);
        }
        if self.image_gc.due(now, &self.config.image_gc) {
            self.garbage_collect_images(cx);
        }
        if now >= self.next_status_update {
            self.next_status_update = now + self.config.node_status_update_frequency;
            if !self.runtime_health.is_up() {
                // The runtime errors age with time: computed at every update.
                self.node_status_inputs_changed = true;
            }
            self.on_node_status_tick(cx);
        }
        self.arm_heartbeat(cx);
    }

    // ------------------------------------------------------------------------------
    // Node registration and status

    fn node_object(&self, status: crate::api::NodeStatus) -> Node {
        let mut labels = self.setup.labels.clone();
        labels.insert(s(LABEL_HOSTNAME), self.setup.name.clone());
        if labels.get("kubernetes.io/os").is_none() {
            labels.insert(s("kubernetes.io/os"), s("linux"));
        }
        if labels.get("kubernetes.io/arch").is_none() {
            labels.insert(s("kubernetes.io/arch"), s("amd64"));
        }
        let mut metadata = ObjectMeta::named("", "");
        // The node's name, the lease's name, its holder and its owner reference share
        // one string: a renewal reads it once.
        metadata.name = self.setup.name.clone();
        metadata.labels = labels;
        Node {
            metadata,
            spec: NodeSpec {
                unschedulable: false,
                taints: self.setup.taints.clone(),
                pod_cidr: Some(self.setup.pod_cidr.clone()),
            },
            status,
        }
    }

    fn current_node_status(&self, cx: &mut Context<'_, Msg>) -> crate::api::NodeStatus {
        let runtime_version = self.runtime_version.clone().unwrap_or_else(|| s(""));
        let previous = self.node.as_ref().map(|n| &n.status);
        let mut status = status::node_status(
            &self.setup,
            &self.config.kubelet_version,
            &runtime_version,
            &self.images,
            previous,
            cx.host_clock(),
        );
        // The eviction manager's view (`MemoryPressureCondition`).
        status.memory_pressure =
            crate::api::ConditionStatus::from_bool(self.eviction.memory_pressure());
        status.disk_pressure =
            crate::api::ConditionStatus::from_bool(self.eviction.disk_pressure());
        // The runtime's health decides the Ready condition (`ReadyCondition`).
        let errors = self.runtime_health.errors(cx.now());
        if !errors.is_empty() {
            status.ready = runtime_state::ready_condition(
                status.ready,
                &errors,
                previous.map(|p| &p.ready),
                cx.host_clock(),
            );
        }
        status
    }

    fn register(&mut self, cx: &mut Context<'_, Msg>) {
        self.registration = Registration::Creating;
        let node = self.node_object(self.current_node_status(cx));
        self.request(ApiVerb::Create(node.into()), Purpose::CreateNode, cx);
    }

    fn fetch_node(&mut self, cx: &mut Context<'_, Msg>) {
        let key = ObjectKey::new(Kind::Node, &s(""), &self.setup.name);
        self.request(ApiVerb::Get(key), Purpose::GetNode, cx);
    }

    /// Posts the node status if it changed or the report frequency has passed (always
    /// with `force`).
    fn update_node_status(&mut self, force: bool, cx: &mut Context<'_, Msg>) {
        if self.registration != Registration::Registered {
            return;
        }
        let report_due = self.node_status_posted_at.is_none_or(|at| {
            cx.now().saturating_since(at) >= self.config.node_status_report_frequency
        });
        if !force && !report_due && !self.node_status_inputs_changed {
            // Nothing the status is made of has moved: it would differ only in the
            // heartbeat, so there is no need to compute it.
            return;
        }
        let node = self
            .node
            .clone()
            .expect("a registered kubelet knows its node");
        let fresh = self.current_node_status(cx);
        self.node_status_inputs_changed = false;
        if !force && !report_due && !status::node_status_changed(&node.status, &fresh) {
            return;
        }
        let mut updated = (*node).clone();
        updated.status = fresh;
        if let Some(previous) = self.node_status_request.take() {
            // Unanswered for a whole period: given up.
            self.requests.remove(&previous);
        }
        let id = self.request(
            ApiVerb::UpdateStatus(updated.into()),
            Purpose::NodeStatus,
            cx,
        );
        self.node_status_request = Some(id);
    }

    fn on_node_reply(
        &mut self,
        purpose: Purpose,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        let node_name = self.setup.name.clone();
        match (purpose, &response.result) {
            (Purpose::CreateNode, Ok(ApiOk::Object(Object::Node(node)))) => {
                self.node = Some(node.clone());
                self.registration = Registration::Registered;
                // The status went in with the object.
                self.node_status_posted_at = Some(cx.now());
                let capacity = node.status.capacity;
                let pod_cidr = self.setup.pod_cidr.clone();
                cx.record("step", || {
                    format!(
                        "node {node_name} registered: {} CPU, {} memory, pod CIDR {pod_cidr}",
                        capacity
                            .cpu_millicores
                            .map_or("?".to_string(), format_millicores),
                        capacity.memory_bytes.map_or("?".to_string(), format_bytes),
                    )
                });
            }
            (Purpose::GetNode, Ok(ApiOk::Object(Object::Node(node)))) => {
                if self.registration != Registration::Registered {
                    cx.record("step", || {
                        format!(
                            "node {node_name} registered again (the Node object already existed)"
                        )
                    });
                }
                self.node = Some(node.clone());
                self.node_status_inputs_changed = true;
                self.registration = Registration::Registered;
                // Ours replaces whatever status it holds.
                self.update_node_status(true, cx);
            }
            (Purpose::NodeStatus, Ok(ApiOk::Object(Object::Node(node)))) => {
                self.node = Some(node.clone());
            }
            (Purpose::CreateNode, Err(e)) if e.reason == StatusReason::AlreadyExists => {
                cx.record("detail", || {
                    format!("node {node_name} exists already: fetching it")
                });
                self.registration = Registration::Fetching;
                self.fetch_node(cx);
            }
            (Purpose::GetNode, Err(e)) if e.reason == StatusReason::NotFound => self.register(cx),
            (Purpose::NodeStatus, Err(e)) if e.reason == StatusReason::Conflict => {
                self.fetch_node(cx)
            }
            (Purpose::NodeStatus, Err(e)) if e.reason == StatusReason::NotFound => {
                // Someone deleted the Node: register it again.
                self.node = None;
                self.register(cx);
            }
            (purpose, Err(e)) => {
                let message = e.message.clone();
                cx.record("detail", || {
                    format!("node {node_name}: {purpose:?} failed: {message}")
                });
                if matches!(purpose, Purpose::NodeStatus) {
                    // Compared again with the stored node at the next update.
                    self.node_status_inputs_changed = true;
                }
                if matches!(purpose, Purpose::CreateNode | Purpose::GetNode)
                    && self.registration != Registration::Registered
                {
                    // Retried at the next status tick.
                    self.registration = Registration::Creating;
                }
            }
            (purpose, Ok(other)) => panic!("kubelet: unexpected answer {other:?} to {purpose:?}"),
        }
    }

    // ------------------------------------------------------------------------------
    // Lease

    fn lease_object(&self, cx: &mut Context<'_, Msg>) -> Lease {
        let now = cx.host_clock();
        let owner = || {
            self.node.as_ref().map(|node| OwnerReference {
                kind: Kind::Node,
                name: self.setup.name.clone(),
                uid: node.metadata.uid,
                controller: false,
                block_owner_deletion: false,
            })
        };
        match &self.lease {
            Some(lease) => {
                let mut renewed = (**lease).clone();
                renewed.spec.renew_time = Some(now);
                if !renewed.spec.holder_identity.as_ref().is_some_and(|holder| {
                    Rc::ptr_eq(holder, &self.setup.name) || *holder == self.setup.name
                }) {
                    renewed.spec.holder_identity = Some(self.setup.name.clone());
                }
                renewed.spec.lease_duration_seconds = self.config.node_lease_duration_seconds;
                if renewed.metadata.owner_references.is_empty()
                    && let Some(owner) = owner()
                {
                    renewed.metadata.owner_references.push(owner);
                }
                renewed
            }
            None => {
                let mut metadata = ObjectMeta::named(NAMESPACE_NODE_LEASE, "");
                metadata.name = self.setup.name.clone();
                metadata.owner_references.extend(owner());
                Lease {
                    metadata,
                    spec: LeaseSpec {
                        holder_identity: Some(self.setup.name.clone()),
                        lease_duration_seconds: self.config.node_lease_duration_seconds,
                        renew_time: Some(now),
                        acquire_time: Some(now),
                        lease_transitions: 0,
                    },
                }
            }
        }
    }

    /// Renews (or creates) the lease; a request still in flight is superseded.
    fn renew_lease(&mut self, cx: &mut Context<'_, Msg>) {
        let lease = self.lease_object(cx);
        let sent = if self.lease.is_some() {
            self.send(ApiVerb::Update(lease.into()), Purpose::RenewLease, cx)
        } else {
            self.send(ApiVerb::Create(lease.into()), Purpose::CreateLease, cx)
        };
        self.lease_request = Some(sent);
    }

    fn get_lease(&mut self, cx: &mut Context<'_, Msg>) {
        let key = ObjectKey::new(Kind::Lease, &s(NAMESPACE_NODE_LEASE), &self.setup.name);
        let sent = self.send(ApiVerb::Get(key), Purpose::GetLease, cx);
        self.lease_request = Some(sent);
    }

    fn on_lease_reply(
        &mut self,
        purpose: Purpose,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        let node_name = &self.setup.name;
        match (purpose, &response.result) {
            (purpose, Ok(ApiOk::Object(Object::Lease(lease)))) => {
                if matches!(purpose, Purpose::CreateLease) {
                    cx.record("step", || {
                        format!("node {node_name}: lease kube-node-lease/{node_name} created")
                    });
                }
                self.lease = Some(lease.clone());
                if matches!(purpose, Purpose::GetLease) {
                    // Fetched after a conflict: renew with the fresh resourceVersion.
                    self.renew_lease(cx);
                }
            }
            (Purpose::CreateLease, Err(e)) if e.reason == StatusReason::AlreadyExists => {
                self.get_lease(cx)
            }
            (Purpose::RenewLease, Err(e)) if e.reason == StatusReason::Conflict => {
                self.get_lease(cx)
            }
            (Purpose::RenewLease | Purpose::GetLease, Err(e))
                if e.reason == StatusReason::NotFound =>
            {
                self.lease = None;
                self.renew_lease(cx);
            }
            (purpose, Err(e)) => {
                let (message, delay) = (e.message.clone(), self.lease_retry_delay);
                cx.record("detail", || {
                    format!("node {node_name}: {purpose:?} failed: {message}; retrying in {delay}")
                });
                self.timer(delay, Tick::RetryLease, cx);
                self.lease_retry_delay = Ord::min(delay.saturating_mul(2), LEASE_RETRY_MAX);
                return;
            }
            (purpose, Ok(other)) => panic!("kubelet: unexpected answer {other:?} to {purpose:?}"),
        }
        self.lease_retry_delay = LEASE_RETRY_INITIAL;
    }

    // ------------------------------------------------------------------------------
    // API answers

    fn on_api_reply(&mut self, response: ApiResponse, cx: &mut Context<'_, Msg>) {
        if self
            .lease_request
            .as_ref()
            .is_some_and(|(id, _)| *id == response.id)
        {
            let (_, pending) = self.lease_request.take().expect("just matched");
            self.on_lease_reply(pending.purpose, &response, cx);
            // The lease is renewed every 10 s whatever else happens: its answers are
            // where a suspect connection is found working again.
            self.on_api_reachable(cx);
            return;
        }
        let response = &response;
        if self
            .runtime_classes
            .on_response(response, &mut self.api, cx)
            .is_some()
        {
            return;
        }
        if let Some(deltas) = self.pods.on_response(response, &mut self.api, cx) {
            self.pods_deadline.on_response(
                &response.result,
                cx.now(),
                self.config.api_request_timeout,
            );
            self.maybe_adopt(cx);
            self.on_pod_deltas(deltas, cx);
            return;
        }
        let Some(pending) = self.requests.remove(&response.id) else {
            // Given up on, or from before a crash.
            return;
        };
        match pending.purpose {
            purpose @ (Purpose::CreateNode | Purpose::GetNode | Purpose::NodeStatus) => {
                if matches!(purpose, Purpose::NodeStatus) {
                    self.node_status_request = None;
                    if response.result.is_ok() {
                        self.node_status_posted_at = Some(cx.now());
                    }
                }
                self.on_node_reply(purpose, response, cx);
            }
            purpose @ (Purpose::CreateLease | Purpose::GetLease | Purpose::RenewLease) => {
                panic!("kubelet: {purpose:?} is kept in lease_request, not in requests")
            }
            Purpose::PodStatus {
                uid,
                resource_version,
            } => self.on_pod_status_reply(uid, resource_version, response, cx),
            Purpose::GetPod { uid } => {
                if let Ok(ApiOk::Object(Object::Pod(pod))) = &response.result {
                    self.observe_pod(pod.clone());
                }
                self.status_dirty.insert(uid);
                self.sync_status(uid, cx);
                self.maybe_delete(uid, cx);
            }
            Purpose::DeletePod { uid } => {
                if self.delete_in_flight.get(&uid) == Some(&response.id) {
                    self.delete_in_flight.remove(&uid);
                }
                let gone = match &response.result {
                    Ok(_) => true,
                    Err(e) => e.reason == StatusReason::NotFound,
                };
                if gone
                    && let Some(worker) = self.workers.get(&uid)
                    && worker.lifecycle == Lifecycle::Deleting
                {
                    let name = worker.display(cx.recording());
                    cx.record("step", || format!("pod {name}: deleted from the API"));
                    self.forget(uid);
                } else if matches!(&response.result, Err(e) if e.reason == StatusReason::Conflict) {
                    // Raced with another write of the pod: delete again.
                    self.maybe_delete(uid, cx);
                }
            }
        }
    }

    fn on_pod_status_reply(
        &mut self,
        uid: u64,
        sent_resource_version: u64,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        if let Some(worker) = self.workers.get_mut(&uid)
            && worker.status_write == Some(response.id)
        {
            worker.status_write = None;
        }
        match &response.result {
            Ok(ApiOk::Object(Object::Pod(pod))) => {
                // The API now holds exactly the status that was sent (the write was
                // conditional on the version it was computed from). Whatever changed
                // since was synced and, finding this write in flight, marked dirty.
                self.observe_pod(pod.clone());
                if self.status_dirty.contains(&uid) {
                    self.sync_status(uid, cx);
                }
            }
            Err(e) if e.reason == StatusReason::Conflict => {
                let newer_known = self
                    .workers
                    .get(&uid)
                    .is_some_and(|w| w.pod.metadata.resource_version > sent_resource_version);
                if newer_known {
                    self.sync_status(uid, cx);
                } else if let Some(worker) = self.workers.get(&uid) {
                    let key = worker.pod.key();
                    self.request(ApiVerb::Get(key), Purpose::GetPod { uid }, cx);
                }
            }
            Err(e) if e.reason == StatusReason::NotFound => {}
            Err(_) => {
                // Retried at the next status tick.
                self.status_dirty.insert(uid);
            }
            Ok(other) => panic!("kubelet: unexpected answer {other:?} to a pod status update"),
        }
        self.maybe_delete(uid, cx);
    }

    /// Keeps the newest version of a pod in its worker.
    fn observe_pod(&mut self, pod: Rc<Pod>) {
        if let Some(worker) = self.workers.get_mut(&pod.metadata.uid)
            && pod.metadata.resource_version > worker.pod.metadata.resource_version
        {
            worker.pod = pod;
        }
    }

    // ------------------------------------------------------------------------------
    // Pods from the informer

    fn on_pod_deltas(&mut self, deltas: Vec<Delta<Pod>>, cx: &mut Context<'_, Msg>) {
        if !self.adoption.done {
            // The informer's cache keeps them; adoption reads it.
            return;
        }
        for delta in deltas {
            match delta {
                Delta::Added(pod) => self.on_pod_seen(pod, cx),
                Delta::Updated { old, new } => {
                    if old.metadata.uid != new.metadata.uid {
                        self.on_pod_gone(&old, cx);
                    }
                    self.on_pod_seen(new, cx);
                }
                Delta::Deleted(pod) => self.on_pod_gone(&pod, cx),
            }
        }
    }

    fn on_pod_seen(&mut self, pod: Rc<Pod>, cx: &mut Context<'_, Msg>) {
        let uid = pod.metadata.uid;
        if let Some(worker) = self.workers.get(&uid)
            && pod.metadata.resource_version <= worker.pod.metadata.resource_version
            && (worker.is_terminating() || !pod.metadata.is_terminating())
        {
            // Seen already (the echo of the kubelet's own status write, whose answer
            // came first): nothing the worker acts on has changed.
            return;
        }
        if !self.workers.contains_key(&uid) {
            let worker = self.admit(pod.clone(), cx);
            self.workers.insert(uid, worker);
        }
        self.observe_pod(pod.clone());
        let worker = self.workers.get_mut(&uid).expect("just inserted");
        if pod.metadata.is_terminating() && !worker.is_terminating() {
            let grace = termination_grace(&pod);
            worker.begin_termination(grace, true);
            let name = worker.display(cx.recording());
            cx.record("step", || {
                format!(
                    "pod {name}: deletion requested; stopping its containers (grace period {grace})"
                )
            });
        }
        self.sync_pod(uid, cx);
    }

    fn on_pod_gone(&mut self, pod: &Pod, cx: &mut Context<'_, Msg>) {
        let uid = pod.metadata.uid;
        let Some(worker) = self.workers.get_mut(&uid) else {
            return;
        };
        if worker.lifecycle == Lifecycle::Deleting {
            let name = worker.display(cx.recording());
            cx.record("step", || format!("pod {name}: deleted from the API"));
            self.forget(uid);
            return;
        }
        if !worker.is_terminating() {
            let name = worker.display(cx.recording());
            cx.record("step", || {
                format!("pod {name}: removed from the API; killing its containers")
            });
        }
        worker.begin_termination(termination_grace(pod), false);
        self.sync_pod(uid, cx);
    }

    /// A new worker for a pod, continuing from what the API last said about it.
    fn admit(&mut self, pod: Rc<Pod>, cx: &mut Context<'_, Msg>) -> PodWorker {
        let mut worker = PodWorker::new(pod.clone());
        for record in &mut worker.containers {
            let Some(api) = status::shown_status(&pod.status, record) else {
                continue;
            };
            record.restart_count = api.restart_count;
            record.created_before = api.restart_count > 0
                || matches!(
                    api.state,
                    ApiContainerState::Running { .. } | ApiContainerState::Terminated { .. }
                );
            let last_state = api.last_state.as_ref().map(Terminated::from_api);
            if let ApiContainerState::Terminated {
                exit_code,
                reason,
                finished_at,
            } = &api.state
            {
                record.last_termination = Some(Terminated {
                    exit_code: *exit_code,
                    reason: reason.clone(),
                    started_at: None,
                    finished_at: *finished_at,
                });
                record.previous_termination = last_state;
            } else {
                record.last_termination = last_state;
            }
        }
        if matches!(pod.status.phase, PodPhase::Succeeded | PodPhase::Failed) {
            // Finished before: nothing runs again.
            for record in &mut worker.containers {
                record.stage = ContainerStage::Terminated;
            }
            worker.sandbox = SandboxStage::Removed;
        } else if self.rejected_under_pressure(&mut worker, cx) {
            // The eviction manager's admission: a BestEffort pod is refused under
            // MemoryPressure, every pod under DiskPressure (see `eviction`).
        } else {
            let (name, node) = (worker.display(cx.recording()), self.setup.name.clone());
            // A pod that ran before this kubelet started is taken over (adopted), not
            // started.
            let ran = pod.status.phase == PodPhase::Running;
            cx.record("step", || {
                if ran {
                    format!("pod {name}: on node {node}; the restarted kubelet takes it over")
                } else {
                    format!("pod {name}: assigned to node {node}; kubelet starts it")
                }
            });
            self.add_probes(&worker, cx);
        }
        worker
    }

    // ------------------------------------------------------------------------------
    // Adoption after a (re)start

    fn maybe_adopt(&mut self, cx: &mut Context<'_, Msg>) {
        if self.adoption.done || !self.pods.has_synced() {
            return;
        }
        let (Some(sandboxes), Some(containers)) = (
            self.adoption.sandboxes.take(),
            self.adoption.containers.take(),
        ) else {
            return;
        };
        self.adoption.done = true;
        let pods: Vec<Rc<Pod>> = self.pods.iter().cloned().collect();
        let mut adopted_sandboxes = BTreeSet::new();
        let mut adopted_containers = 0usize;
        for pod in pods {
            let uid = pod.metadata.uid;
            let mut worker = self.admit(pod.clone(), cx);
            let sandbox = sandboxes
                .iter()
                .filter(|sb| sb.pod_uid == uid && sb.ready)
                .max_by_key(|sb| sb.attempt);
            if let Some(sandbox) = sandbox
                && worker.sandbox == SandboxStage::None
            {
                adopted_sandboxes.insert(sandbox.sandbox_id);
                worker.sandbox = SandboxStage::Ready {
                    sandbox_id: sandbox.sandbox_id,
                };
                worker.sandbox_attempt = sandbox.attempt;
                worker.pod_ip = sandbox.ip.clone();
                for (index, record) in worker.containers.iter_mut().enumerate() {
                    let latest = containers
                        .iter()
                        .filter(|c| c.sandbox_id == sandbox.sandbox_id && c.name == record.name)
                        .max_by_key(|c| c.attempt);
                    let Some(found) = latest else { continue };
                    record.restart_count = record.restart_count.max(found.attempt);
                    record.created_before = true;
                    match &found.state {
                        ContainerState::Running { started_at, ready } => {
                            record.stage = ContainerStage::Running {
                                container_id: found.container_id,
                                started_at: *started_at,
                                ready: *ready,
                            };
                            self.container_owner
                                .insert(found.container_id, (uid, index));
                            adopted_containers += 1;
                        }
                        ContainerState::Exited { exit, started_at } => {
                            record.last_termination = Some(terminated(exit, *started_at));
                        }
                        ContainerState::Created => {}
                    }
                }
            }
            // A container the API shows running but the runtime no longer has (the node
            // rebooted) ended in an unknown way: upstream reports it terminated with
            // reason ContainerStatusUnknown and exit code 137.
            for record in &mut worker.containers {
                let was_running = status::shown_status(&pod.status, record)
                    .is_some_and(|c| matches!(c.state, ApiContainerState::Running { .. }));
                if record.stage == ContainerStage::Waiting && was_running {
                    let started_at =
                        status::shown_status(&pod.status, record).and_then(|c| match c.state {
                            ApiContainerState::Running { started_at } => Some(started_at),
                            _ => None,
                        });
                    record.ended(Terminated {
                        exit_code: EXIT_CODE_STATUS_UNKNOWN,
                        reason: s("ContainerStatusUnknown"),
                        started_at,
                        finished_at: cx.host_clock(),
                    });
                }
            }
            if pod.metadata.is_terminating() {
                worker.begin_termination(termination_grace(&pod), true);
            }
            let exited: Vec<usize> = worker
                .containers
                .iter()
                .enumerate()
                .filter(|(_, c)| c.stage == ContainerStage::Waiting && c.last_termination.is_some())
                .map(|(i, _)| i)
                .collect();
            self.workers.insert(uid, worker);
            self.probe_adopted(uid, cx);
            for index in exited {
                self.decide_after_exit(uid, index, cx);
            }
        }
        for sandbox in sandboxes {
            if !adopted_sandboxes.contains(&sandbox.sandbox_id) {
                let id = sandbox.sandbox_id;
                // A sandbox of a pod the API no longer has (an etcd restore forgot it, or
                // it was deleted while the kubelet was down): its containers are killed,
                // as upstream's HandlePodCleanups kills pods outside the desired set.
                // Older attempts of a pod that still exists are housekeeping.
                let forgotten = !self.workers.contains_key(&sandbox.pod_uid);
                let (node, namespace, name) = (
                    self.setup.name.clone(),
                    sandbox.namespace.clone(),
                    sandbox.name.clone(),
                );
                cx.record(if forgotten { "step" } else { "detail" }, || {
                    if forgotten {
                        format!(
                            "kubelet on node {node}: pod {namespace}/{name} runs here but the API does not have it: stopping its sandbox and containers"
                        )
                    } else {
                        format!("kubelet on node {node}: removing an older sandbox of pod {namespace}/{name}")
                    }
                });
                self.cri(
                    CriRequest::StopPodSandbox { sandbox_id: id },
                    Call::Orphan,
                    cx,
                );
                self.cri(
                    CriRequest::RemovePodSandbox { sandbox_id: id },
                    Call::Orphan,
                    cx,
                );
            }
        }
        let (node, pods) = (self.setup.name.clone(), self.workers.len());
        let kind = if pods == 0 { "detail" } else { "step" };
        cx.record(kind, || {
            format!(
                "kubelet on node {node}: pods assigned here: {pods}; running containers adopted: {adopted_containers}"
            )
        });
        let uids: Vec<u64> = self.workers.keys().copied().collect();
        for uid in uids {
            self.sync_pod(uid, cx);
        }
    }

    // ------------------------------------------------------------------------------
    // Driving pod workers

    /// A sync of the pod (it changed, a container exited, a back-off ended): plans and
    /// issues the next steps, then syncs its status.
    fn sync_pod(&mut self, uid: u64, cx: &mut Context<'_, Msg>) {
        if self.workers.get(&uid).is_some_and(|w| w.is_terminating()) {
            self.probe_pod_terminating(uid, cx);
        }
        self.advance_pod(uid, cx);
        self.sync_status(uid, cx);
    }

    /// A CRI answer moved the pod on: the next steps of the same sync. Its status is
    /// synced once nothing is left in flight, as upstream's pod worker reports the status
    /// at the start of a sync and runs the whole pipeline (sandbox, image, create, start)
    /// before the next one: the sandbox's IP shows together with the started containers.
    fn continue_pod(&mut self, uid: u64, cx: &mut Context<'_, Msg>) {
        self.advance_pod(uid, cx);
        if self
            .workers
            .get(&uid)
            .is_some_and(|worker| !worker.has_call_in_flight())
        {
            self.sync_status(uid, cx);
        }
    }

    /// Plans and issues the next steps for a pod.
    fn advance_pod(&mut self, uid: u64, cx: &mut Context<'_, Msg>) {
        if !self.runtime_health.is_up() {
            // Nothing to ask an unreachable runtime: the pod is synced again once it
            // answers (upstream's sync loop skips pods while runtimeErrors is not nil).
            return;
        }
        // A local step (a kill begun, a hook ended) changes what the plan says at the
        // same instant: plan again, at most a few times per container.
        let Some(worker) = self.workers.get(&uid) else {
            return;
        };
        let rounds_max = 3 * worker.containers.len() + 2;
        for _ in 0..rounds_max {
            let Some(worker) = self.workers.get(&uid) else {
                return;
            };
            let actions = worker::plan(worker, cx.now());
            let again = actions.iter().any(|a| a.is_local());
            for action in actions {
                if !self.workers.contains_key(&uid) {
                    return;
                }
                self.apply(uid, action, cx);
            }
            if !again {
                return;
            }
        }
        panic!("kubelet: pod {uid}'s plan did not settle in {rounds_max} rounds");
    }

    fn apply(&mut self, uid: u64, action: Action, cx: &mut Context<'_, Msg>) {
        let node_cidr = self.setup.pod_cidr.clone();
        let worker = self.workers.get_mut(&uid).expect("caller checked");
        let name = worker.display(cx.recording());
        match action {
            Action::RunSandbox => {
                let runtime_handler = match crate::runtime::oci::lookup_runtime_handler(
                    worker.pod.spec.runtime_class_name.as_deref(),
                    |class| self.runtime_classes.get("", class).map(|c| &**c),
                ) {
                    Ok(handler) => handler,
                    Err(why) => {
                        // As a failed RunPodSandbox: retried at the pod worker's back-off.
                        let retry_after = self.config.pod_worker_backoff_period;
                        worker.sandbox = SandboxStage::Failed {
                            until: cx.now() + retry_after,
                        };
                        cx.record("step", || {
                            format!("pod {name}: failed to create the pod sandbox: {why}; retrying in {retry_after}")
                        });
                        self.wake_at(uid, cx.now() + retry_after, cx);
                        return;
                    }
                };
                let config = PodSandboxConfig {
                    pod_uid: uid,
                    namespace: worker.pod.metadata.namespace.clone(),
                    name: worker.pod.metadata.name.clone(),
                    attempt: worker.sandbox_attempt,
                    pod_cidr: node_cidr,
                    runtime_handler,
                };
                worker.sandbox_attempt += 1;
                let call = self.cri(
                    CriRequest::RunPodSandbox(config),
                    Call::RunSandbox { uid },
                    cx,
                );
                self.workers.get_mut(&uid).expect("present").sandbox =
                    SandboxStage::Creating { call };
            }
            Action::StartPipeline(index) => {
                let record = &worker.containers[index];
                if let (ContainerStage::BackOff { .. }, Some(last)) =
                    (&record.stage, &record.last_termination)
                {
                    // Out of back-off: the restart counts as the next step of it.
                    let finished_at = last.finished_at;
                    self.crash_backoff.next(
                        (uid, record.name.clone()),
                        finished_at,
                        cx.host_clock(),
                    );
                }
                let image = record.image.clone();
                let call = self.cri(
                    CriRequest::ImageStatus { image },
                    Call::ImageStatus { uid, index },
                    cx,
                );
                self.workers.get_mut(&uid).expect("present").containers[index].stage =
                    ContainerStage::CheckingImage { call };
            }
            Action::BeginKill {
                index,
                grace_seconds,
            } => {
                let handler = worker.pre_stop_hook(index, grace_seconds).cloned();
                let container = worker.containers[index].name.clone();
                let wait = match &handler {
                    None => None,
                    Some(handler) => {
                        cx.record("step", || {
                            format!(
                                "pod {name}: running container {container}'s preStop hook ({}; grace period {grace_seconds}s)",
                                hook_text(handler)
                            )
                        });
                        Some(self.run_hook(uid, index, handler, crate::runtime::Hook::PreStop, cx))
                    }
                };
                let worker = self.workers.get_mut(&uid).expect("present");
                worker.begin_kill(index, grace_seconds, wait, cx.now());
            }
            Action::EndPreStop(index) => {
                let container = worker.containers[index].name.clone();
                cx.record("detail", || {
                    format!("pod {name}: container {container}'s preStop hook ran out of its grace period")
                });
                worker.end_pre_stop(index, cx.now());
            }
            Action::EndPostStart(index) => worker.end_post_start(index),
            Action::StopContainer(index) => {
                let record = &worker.containers[index];
                let ContainerStage::Killing {
                    container_id,
                    started_at,
                    ready,
                    kill,
                } = record.stage
                else {
                    panic!("stopping a container that is not being killed");
                };
                let timeout = kill.stop_timeout(cx.now());
                let container = record.name.clone();
                cx.record("step", || {
                    format!("pod {name}: stopping container {container} (SIGTERM, SIGKILL after {timeout})")
                });
                let call = self.cri(
                    CriRequest::StopContainer {
                        container_id,
                        timeout,
                    },
                    Call::StopContainer { uid, index },
                    cx,
                );
                self.workers.get_mut(&uid).expect("present").containers[index].stage =
                    ContainerStage::Stopping {
                        container_id,
                        started_at,
                        ready,
                        call,
                    };
            }
            Action::ReplaceSandbox => {
                let sandbox_id = worker.replace_sandbox();
                cx.record("step", || {
                    format!("pod {name}: SandboxChanged: Pod sandbox changed, it will be killed and re-created (sandbox {sandbox_id} is gone)")
                });
                // The dead sandbox is stopped and removed on the side (upstream's
                // KillPod stops it; the container GC removes it later).
                self.cri(CriRequest::StopPodSandbox { sandbox_id }, Call::Orphan, cx);
                self.cri(
                    CriRequest::RemovePodSandbox { sandbox_id },
                    Call::Orphan,
                    cx,
                );
            }
            Action::AbandonWaiting => {
                cx.record("step", || {
                    format!("pod {name}: its sandbox died and restartPolicy Never starts nothing again; the pod ends")
                });
                worker.abandon_waiting();
            }
            Action::StopSandbox => {
                let (SandboxStage::Ready { sandbox_id } | SandboxStage::NotReady { sandbox_id }) =
                    worker.sandbox
                else {
                    panic!("stopping a sandbox that is not there");
                };
                let call = self.cri(
                    CriRequest::StopPodSandbox { sandbox_id },
                    Call::StopSandbox { uid },
                    cx,
                );
                self.workers.get_mut(&uid).expect("present").sandbox =
                    SandboxStage::Stopping { sandbox_id, call };
            }
            Action::RemoveSandbox => {
                let SandboxStage::Stopped { sandbox_id } = worker.sandbox else {
                    panic!("removing a sandbox that is not stopped");
                };
                let call = self.cri(
                    CriRequest::RemovePodSandbox { sandbox_id },
                    Call::RemoveSandbox { uid },
                    cx,
                );
                self.workers.get_mut(&uid).expect("present").sandbox =
                    SandboxStage::Removing { call };
            }
            Action::DeletePod => {
                worker.lifecycle = Lifecycle::Deleting;
                self.deleting.insert(uid);
                cx.record("step", || {
                    format!("pod {name}: containers and sandbox gone; deleting the pod (grace 0)")
                });
                // The final status (terminal phase) is written first, as the status
                // manager does before it deletes.
                self.sync_status(uid, cx);
                self.maybe_delete(uid, cx);
            }
            Action::Forget if self.rest_evicted(uid) => {
                // Evicted, stopped, and still in the API: it stays Failed until deleted.
                self.sync_status(uid, cx);
            }
            Action::Forget => {
                cx.record("detail", || {
                    format!("pod {name}: torn down and gone from the API")
                });
                self.forget(uid);
            }
            Action::WakeAt(at) => self.wake_at(uid, at, cx),
        }
    }

    /// Sends the final delete of a torn-down pod once its final status is written.
    fn maybe_delete(&mut self, uid: u64, cx: &mut Context<'_, Msg>) {
        let Some(worker) = self.workers.get(&uid) else {
            return;
        };
        if worker.lifecycle != Lifecycle::Deleting
            || worker.status_write.is_some()
            || self.status_dirty.contains(&uid)
            || self.delete_in_flight.contains_key(&uid)
        {
            return;
        }
        let key = worker.pod.key();
        let id = self.request(
            ApiVerb::Delete {
                key,
                grace_period_seconds: Some(0),
                uid_precondition: uid,
                propagation_policy: None,
            },
            Purpose::DeletePod { uid },
            cx,
        );
        self.delete_in_flight.insert(uid, id);
    }

    fn note_image(&mut self, image: Str, size_bytes: u64) {
        if self.images.insert(image, size_bytes) != Some(size_bytes) {
            self.node_status_inputs_changed = true;
        }
    }

    fn forget(&mut self, uid: u64) {
        if let Some(worker) = self.workers.remove(&uid) {
            for record in &worker.containers {
                if let Some(id) = record.stage.container_id() {
                    self.container_owner.remove(&id);
                }
                self.pull_backoff.remove(&(uid, record.image.clone()));
            }
        }
        self.crash_backoff.retain(|(pod, _)| *pod != uid);
        self.status_dirty.remove(&uid);
        self.delete_in_flight.remove(&uid);
        self.deleting.remove(&uid);
        self.prober.remove_pod(uid);
    }

    /// Posts the pod's status if it differs from what the API holds.
    fn sync_status(&mut self, uid: u64, cx: &mut Context<'_, Msg>) {
        let Some(worker) = self.workers.get(&uid) else {
            return;
        };
        if !status::pod_status_changed(worker, &self.setup.internal_ip) {
            self.status_dirty.remove(&uid);
            return;
        }
        if worker.status_write.is_some() {
            self.status_dirty.insert(uid);
            return;
        }
        self.status_dirty.remove(&uid);
        let fresh = status::pod_status(worker, &self.setup.internal_ip, cx.host_clock());
        let old = &worker.pod.status;
        if old.phase != fresh.phase || old.ready != fresh.ready {
            let (name, phase, ready) = (worker.display(cx.recording()), fresh.phase, fresh.ready);
            cx.record("step", || {
                format!(
                    "pod {name}: status {} (Ready={})",
                    phase.name(),
                    ready.name()
                )
            });
        }
        let resource_version = worker.pod.metadata.resource_version;
        // The status subresource takes only the status (upstream's status manager sends
        // a patch of it): the object carries just what names it and the precondition.
        let stored = &worker.pod.metadata;
        let metadata = ObjectMeta {
            name: stored.name.clone(),
            namespace: stored.namespace.clone(),
            generate_name: stored.generate_name.clone(),
            uid: stored.uid,
            resource_version,
            generation: stored.generation,
            labels: Labels::new(),
            annotations: Labels::new(),
            owner_references: Vec::new(),
            creation_timestamp: stored.creation_timestamp,
            deletion_timestamp: stored.deletion_timestamp,
            deletion_grace_period_seconds: stored.deletion_grace_period_seconds,
            finalizers: Vec::new(),
        };
        let updated = Pod {
            metadata,
            spec: worker.pod.spec.clone(),
            status: fresh,
        };
        let id = self.request(
            ApiVerb::UpdateStatus(updated.into()),
            Purpose::PodStatus {
                uid,
                resource_version,
            },
            cx,
        );
        self.workers.get_mut(&uid).expect("present").status_write = Some(id);
    }

    // ------------------------------------------------------------------------------
    // CRI answers

    fn on_cri_reply(&mut self, reply: CriReply, cx: &mut Context<'_, Msg>) {
        match reply {
            CriReply::Event(event) => self.on_container_event(event, cx),
            CriReply::Response { id, result } => {
                let Some(call) = self.calls.remove(&id) else {
                    return;
                };
                if runtime_state::is_unavailable(&result) {
                    let why = format!("{} failed", runtime_state::call_name(&call));
                    self.runtime_lost(&why, cx);
                }
                self.on_cri_response(id, call, result, cx);
            }
            CriReply::Disconnected => self.runtime_lost("its socket closed", cx),
        }
    }

    fn on_cri_response(
        &mut self,
        id: CallId,
        call: Call,
        result: Result<CriResponse, crate::runtime::CriError>,
        cx: &mut Context<'_, Msg>,
    ) {
        match (call, result) {
            (
                Call::Version,
                Ok(CriResponse::Version {
                    runtime_name,
                    runtime_version,
                }),
            ) => {
                self.runtime_version = Some(s(&format!("{runtime_name}://{runtime_version}")));
                self.node_status_inputs_changed = true;
                self.register(cx);
            }
            (Call::ListImages, Ok(CriResponse::Images(list))) => {
                for info in list {
                    self.image_gc
                        .detected(info.image.clone(), info.size_bytes, cx.now());
                    self.note_image(info.image, info.size_bytes);
                }
            }
            (Call::RemoveImage, result) => self.on_image_removed(id, result.is_ok(), cx),
            (Call::ListSandboxes, Ok(CriResponse::Sandboxes(list))) => {
                self.adoption.sandboxes = Some(list);
                self.maybe_adopt(cx);
            }
            (Call::ListContainers, Ok(CriResponse::Containers(list))) => {
                self.adoption.containers = Some(list);
                self.maybe_adopt(cx);
            }
            (Call::Orphan, _) => {}
            (Call::RuntimeStatus, result) => {
                let up = match result {
                    Ok(CriResponse::Version {
                        runtime_name,
                        runtime_version,
                    }) => Some((runtime_name, runtime_version)),
                    _ => None,
                };
                self.on_runtime_status(up, cx);
            }
            (Call::Relist, Ok(CriResponse::Containers(list))) => self.on_relist(list, cx),
            // The runtime is unreachable (`runtime_lost` has begun polling it): the
            // start asks again, and the relist is made again, once it answers.
            (
                Call::Version
                | Call::ListImages
                | Call::ListSandboxes
                | Call::ListContainers
                | Call::Relist,
                Err(_),
            ) => {}
            (
                Call::RunSandbox { uid }
                | Call::StopSandbox { uid }
                | Call::RemoveSandbox { uid }
                | Call::ImageStatus { uid, .. }
                | Call::PullImage { uid, .. }
                | Call::CreateContainer { uid, .. }
                | Call::StartContainer { uid, .. }
                | Call::StopContainer { uid, .. }
                | Call::Hook { uid, .. },
                result,
            ) => {
                if !self.workers.contains_key(&uid) {
                    self.clean_up_after_forgotten(call, result, cx);
                    return;
                }
                if runtime_state::is_unavailable(&result)
                    && self.undo_unavailable_call(uid, id, call)
                {
                    return;
                }
                self.on_pod_call(uid, id, call, result, cx);
                self.continue_pod(uid, cx);
            }
            (call, result) => panic!("kubelet: unexpected CRI answer {result:?} to {call:?}"),
        }
    }

    /// A runtime object was made for a pod the kubelet has forgotten: remove it.
    fn clean_up_after_forgotten(
        &mut self,
        call: Call,
        result: Result<CriResponse, crate::runtime::CriError>,
        cx: &mut Context<'_, Msg>,
    ) {
        match (call, result) {
            (Call::RunSandbox { .. }, Ok(CriResponse::SandboxReady { sandbox_id, .. })) => {
                self.cri(CriRequest::StopPodSandbox { sandbox_id }, Call::Orphan, cx);
                self.cri(
                    CriRequest::RemovePodSandbox { sandbox_id },
                    Call::Orphan,
                    cx,
                );
            }
            (Call::CreateContainer { .. }, Ok(CriResponse::ContainerCreated { container_id })) => {
                self.cri(
                    CriRequest::RemoveContainer { container_id },
                    Call::Orphan,
                    cx,
                );
            }
            _ => {}
        }
    }

    fn on_pod_call(
        &mut self,
        uid: u64,
        id: CallId,
        call: Call,
        result: Result<CriResponse, crate::runtime::CriError>,
        cx: &mut Context<'_, Msg>,
    ) {
        let now = cx.now();
        let retry_after = self.config.pod_worker_backoff_period;
        let worker = self.workers.get_mut(&uid).expect("caller checked");
        let name = worker.display(cx.recording());
        let terminating = worker.is_terminating();
        match (call, result) {
            (Call::RunSandbox { .. }, result) => {
                if worker.sandbox != (SandboxStage::Creating { call: id }) {
                    return;
                }
                match result {
                    Ok(CriResponse::SandboxReady { sandbox_id, ip }) => {
                        worker.sandbox = SandboxStage::Ready { sandbox_id };
                        worker.pod_ip = Some(ip.clone());
                        cx.record("detail", || {
                            format!("pod {name}: sandbox ready, pod IP {ip}")
                        });
                    }
                    Ok(other) => panic!("RunPodSandbox answered {other:?}"),
                    Err(e) => {
                        worker.sandbox = SandboxStage::Failed {
                            until: now + retry_after,
                        };
                        cx.record("step", || {
                            format!("pod {name}: failed to create the pod sandbox: {}; retrying in {retry_after}", e.message)
                        });
                    }
                }
            }
            (Call::StopSandbox { .. }, _) => {
                if let SandboxStage::Stopping { sandbox_id, call } = worker.sandbox
                    && call == id
                {
                    worker.sandbox = SandboxStage::Stopped { sandbox_id };
                }
            }
            (Call::RemoveSandbox { .. }, _) => {
                if worker.sandbox == (SandboxStage::Removing { call: id }) {
                    worker.sandbox = SandboxStage::Removed;
                }
            }
            (Call::ImageStatus { index, .. }, result) => {
                let record = &mut worker.containers[index];
                if record.stage != (ContainerStage::CheckingImage { call: id }) {
                    return;
                }
                if terminating {
                    record.stage = ContainerStage::Terminated;
                    return;
                }
                let present = matches!(result, Ok(CriResponse::ImageStatus(Some(_))));
                let image = record.image.clone();
                match pull_decision(record.pull_policy, present) {
                    PullDecision::UsePresent => {
                        cx.record("detail", || {
                            format!("pod {name}: image {image} already present on the node")
                        });
                        self.create_container(uid, index, cx);
                    }
                    PullDecision::Pull => {
                        cx.record("detail", || format!("pod {name}: pulling image {image}"));
                        let call = self.cri(
                            CriRequest::PullImage { image },
                            Call::PullImage { uid, index },
                            cx,
                        );
                        self.workers.get_mut(&uid).expect("present").containers[index].stage =
                            ContainerStage::Pulling { call, since: now };
                    }
                    PullDecision::NeverPull => {
                        cx.record("step", || {
                            format!("pod {name}: image {image} is not present with pull policy Never (ErrImageNeverPull)")
                        });
                        // Checked again at the pod worker's next sync.
                        record.stage = ContainerStage::NeverPull {
                            until: now + retry_after,
                        };
                    }
                }
            }
            (Call::PullImage { index, .. }, result) => {
                let record = &mut worker.containers[index];
                let ContainerStage::Pulling { call, since } = record.stage else {
                    return;
                };
                if call != id {
                    return;
                }
                let image = record.image.clone();
                match result {
                    Ok(CriResponse::ImagePulled(info)) => {
                        let took = now.saturating_since(since);
                        cx.record("step", || {
                            format!(
                                "pod {name}: pulled image {image} ({}) in {}",
                                format_bytes(info.size_bytes),
                                seconds(took)
                            )
                        });
                        self.image_gc
                            .detected(info.image.clone(), info.size_bytes, now);
                        self.note_image(info.image, info.size_bytes);
                        if terminating {
                            self.workers.get_mut(&uid).expect("present").containers[index].stage =
                                ContainerStage::Terminated;
                        } else {
                            self.create_container(uid, index, cx);
                        }
                    }
                    Ok(other) => panic!("PullImage answered {other:?}"),
                    Err(e) => {
                        let key = (uid, image.clone());
                        let failure = if self.pull_backoff.get(&key) == SimDuration::ZERO {
                            PullFailure::ErrImagePull
                        } else {
                            PullFailure::ImagePullBackOff
                        };
                        let delay = self.pull_backoff.next(key, now, now);
                        cx.record("step", || {
                            format!(
                                "pod {name}: failed to pull image {image}: {} ({}); back-off {delay}",
                                e.message,
                                failure.reason()
                            )
                        });
                        let record =
                            &mut self.workers.get_mut(&uid).expect("present").containers[index];
                        record.stage = if terminating {
                            ContainerStage::Terminated
                        } else {
                            ContainerStage::PullBackOff {
                                until: now + delay,
                                failure,
                            }
                        };
                    }
                }
            }
            (Call::CreateContainer { index, .. }, result) => {
                let record = &mut worker.containers[index];
                if record.stage != (ContainerStage::Creating { call: id }) {
                    return;
                }
                match result {
                    Ok(CriResponse::ContainerCreated { container_id }) => {
                        if record.created_before {
                            record.restart_count += 1;
                        }
                        record.created_before = true;
                        if terminating {
                            // Created but never started; it goes with the sandbox.
                            record.stage = ContainerStage::Terminated;
                            return;
                        }
                        self.container_owner.insert(container_id, (uid, index));
                        let call = self.cri(
                            CriRequest::StartContainer { container_id },
                            Call::StartContainer { uid, index },
                            cx,
                        );
                        self.workers.get_mut(&uid).expect("present").containers[index].stage =
                            ContainerStage::Starting { container_id, call };
                    }
                    Ok(other) => panic!("CreateContainer answered {other:?}"),
                    Err(e) => {
                        let container = record.name.clone();
                        cx.record("step", || {
                            format!(
                                "pod {name}: CreateContainerError for {container}: {}",
                                e.message
                            )
                        });
                        // Retried like a failed start: it counts towards the back-off.
                        self.container_failed_to_start(uid, index, "CreateContainerError", cx);
                    }
                }
            }
            (Call::StartContainer { index, .. }, result) => {
                let has_startup_probe = worker.spec(index).startup_probe.is_some();
                let has_post_start = worker.post_start_hook(index).is_some();
                let record = &mut worker.containers[index];
                let ContainerStage::Starting { container_id, call } = record.stage else {
                    return;
                };
                if call != id {
                    return;
                }
                let container = record.name.clone();
                match result {
                    Ok(CriResponse::ContainerStarted { started_at }) => {
                        record.stage = ContainerStage::Running {
                            container_id,
                            started_at,
                            ready: false,
                        };
                        record.awaiting_startup_probe = has_startup_probe;
                        if !has_post_start {
                            record.start_failure = None;
                        }
                        let restarts = record.restart_count;
                        let kind = match record.role {
                            Role::Init => "init container",
                            Role::Sidecar => "sidecar container",
                            Role::App => "container",
                        };
                        let last = record.last_termination.as_ref();
                        cx.record("step", || {
                            match last.filter(|_| restarts > 0) {
                                None => format!("pod {name}: started {kind} {container}"),
                                Some(last) => format!(
                                    "pod {name}: restarted {kind} {container} (restart {restarts}); last state: {}",
                                    last_state_text(last)
                                ),
                            }
                        });
                        if let Some(handler) = worker.post_start_hook(index).cloned() {
                            // The next container waits for the hook (upstream
                            // `startContainer` runs it before it returns).
                            cx.record("detail", || {
                                format!(
                                    "pod {name}: running container {container}'s postStart hook ({})",
                                    hook_text(&handler)
                                )
                            });
                            let hook = crate::runtime::Hook::PostStart;
                            let wait = self.run_hook(uid, index, &handler, hook, cx);
                            self.workers.get_mut(&uid).expect("present").containers[index].stage =
                                ContainerStage::PostStart {
                                    container_id,
                                    started_at,
                                    ready: false,
                                    wait,
                                };
                        }
                        self.probe_container_started(uid, index, container_id, cx);
                    }
                    Ok(other) => panic!("StartContainer answered {other:?}"),
                    Err(e) => {
                        // Upstream reports a container that failed to start as terminated
                        // with reason StartError and exit code 128.
                        cx.record("step", || {
                            format!(
                                "pod {name}: container {container} failed to start: {}",
                                e.message
                            )
                        });
                        self.container_owner.remove(&container_id);
                        self.container_failed_to_start(uid, index, "StartError", cx);
                    }
                }
            }
            (Call::StopContainer { index, .. }, result) => {
                let record = &mut worker.containers[index];
                let ContainerStage::Stopping {
                    container_id,
                    started_at,
                    call,
                    ..
                } = record.stage
                else {
                    return;
                };
                if call != id {
                    return;
                }
                let stopped_with_exit = matches!(&result, Ok(CriResponse::ContainerStopped(_)));
                if let Ok(CriResponse::ContainerStopped(exit)) = &result {
                    record.ended(terminated(exit, Some(started_at)));
                    let (container, code, reason) =
                        (record.name.clone(), exit.exit_code, exit.reason.clone());
                    cx.record("detail", || {
                        format!("pod {name}: container {container} stopped with exit code {code} ({reason})")
                    });
                }
                record.stage = ContainerStage::Terminated;
                self.container_owner.remove(&container_id);
                if std::mem::take(&mut record.failed_post_start) {
                    self.post_start_kill_done(uid, index, stopped_with_exit, cx);
                } else {
                    self.probe_kill_done(uid, index, cx);
                }
            }
            (Call::Hook { index, .. }, result) => {
                // A failed preStop hook changes nothing upstream: the kill goes on. A
                // failed postStart hook kills the container (below).
                let answer = match &result {
                    Ok(CriResponse::Exec { exit_code }) => Ok(*exit_code),
                    _ => Err(()),
                };
                if let Err(e) = &result {
                    let container = worker.containers[index].name.clone();
                    cx.record("detail", || {
                        format!(
                            "pod {name}: container {container}'s hook failed: {}",
                            e.message
                        )
                    });
                }
                match worker.containers[index].stage {
                    ContainerStage::PostStart {
                        wait: HookWait::Call(call),
                        ..
                    } if call == id && worker::post_start_failed(answer) => {
                        self.fail_post_start(uid, index, answer, cx);
                    }
                    ContainerStage::PostStart {
                        wait: HookWait::Call(call),
                        ..
                    } if call == id => worker.end_post_start(index),
                    ContainerStage::Killing {
                        kill:
                            worker::Kill {
                                step: worker::KillStep::PreStop(HookWait::Call(call)),
                                ..
                            },
                        ..
                    } if call == id => worker.end_pre_stop(index, now),
                    _ => {}
                }
            }
            (call, result) => panic!("kubelet: unexpected CRI answer {result:?} to {call:?}"),
        }
    }

    /// Container `index`'s postStart hook failed (upstream `startContainer`): a
    /// `FailedPostStartHook` warning, and the container is killed as any kill goes (its
    /// preStop hook, then SIGTERM, within the pod's grace period); once it has stopped,
    /// its exit decides the restart as a crash's would (restart policy, back-off).
    fn fail_post_start(
        &mut self,
        uid: u64,
        index: usize,
        answer: Result<i32, ()>,
        cx: &mut Context<'_, Msg>,
    ) {
        let worker = self.workers.get_mut(&uid).expect("caller checked");
        let name = worker.display(cx.recording());
        let grace_seconds = worker::kill_grace_seconds(&worker.pod);
        let record = &mut worker.containers[index];
        record.failed_post_start = true;
        let container = record.name.clone();
        cx.record("step", || {
            let why = match answer {
                Ok(code) => format!("exited with {code}"),
                Err(()) => "could not run".to_string(),
            };
            format!(
                "pod {name}: Warning FailedPostStartHook: container {container}'s postStart hook {why}; killing it (grace period {grace_seconds}s)"
            )
        });
        self.apply(
            uid,
            Action::BeginKill {
                index,
                grace_seconds,
            },
            cx,
        );
    }

    /// Starts a lifecycle hook of container `index`: a `sleep` is the kubelet's own
    /// timer; `exec` and `httpGet` are answered for the container by the runtime, which
    /// knows from the image how long the handler takes (upstream sends an httpGet over
    /// the pod network; kubesim routes it through the runtime's `ExecSync` like an exec).
    fn run_hook(
        &mut self,
        uid: u64,
        index: usize,
        handler: &crate::api::LifecycleHandler,
        hook: crate::runtime::Hook,
        cx: &mut Context<'_, Msg>,
    ) -> HookWait {
        use crate::api::LifecycleHandler;
        let worker = self.workers.get(&uid).expect("caller checked");
        let container_id = worker.containers[index]
            .stage
            .container_id()
            .expect("a hook runs in a running container");
        match handler {
            LifecycleHandler::Sleep { seconds } => {
                HookWait::Until(cx.now() + SimDuration::from_secs(*seconds))
            }
            LifecycleHandler::Exec { .. } | LifecycleHandler::HttpGet { .. } => {
                HookWait::Call(self.cri(
                    CriRequest::ExecSync { container_id, hook },
                    Call::Hook { uid, index },
                    cx,
                ))
            }
        }
    }

    fn create_container(&mut self, uid: u64, index: usize, cx: &mut Context<'_, Msg>) {
        let worker = self.workers.get_mut(&uid).expect("caller checked");
        let SandboxStage::Ready { sandbox_id } = worker.sandbox else {
            // The sandbox died while the image was looked at or pulled: the container
            // waits for the new one.
            worker.containers[index].stage = ContainerStage::Waiting;
            return;
        };
        let worker = &*worker;
        let spec = worker.spec(index);
        let record = &worker.containers[index];
        let config = ContainerConfig {
            name: record.name.clone(),
            image: record.image.clone(),
            attempt: if record.created_before {
                record.restart_count + 1
            } else {
                0
            },
            limits: CgroupLimits {
                memory_bytes_limit: spec.resources.limits.memory_bytes,
                cpu_millicores_limit: spec.resources.limits.cpu_millicores,
                cpu_millicores_request: spec.resources.requests.cpu_millicores,
                oom_score_adj: qos::container_oom_score_adj(
                    &worker.pod,
                    spec,
                    self.setup.capacity.memory_bytes.unwrap_or(0),
                ),
            },
        };
        let call = self.cri(
            CriRequest::CreateContainer { sandbox_id, config },
            Call::CreateContainer { uid, index },
            cx,
        );
        self.workers.get_mut(&uid).expect("present").containers[index].stage =
            ContainerStage::Creating { call };
    }

    /// After container `index` ended (its `last_termination` set, stage `Waiting`):
    /// restart now, back off, or let it be, per the restart policy.
    /// A container that could not be created or started counts as terminated with exit
    /// code 128 and `reason` (upstream's CreateContainerError / StartError), towards the
    /// back-off.
    fn container_failed_to_start(
        &mut self,
        uid: u64,
        index: usize,
        reason: &str,
        cx: &mut Context<'_, Msg>,
    ) {
        let record = &mut self
            .workers
            .get_mut(&uid)
            .expect("caller checked")
            .containers[index];
        record.ended(Terminated {
            exit_code: 128,
            reason: s(reason),
            started_at: None,
            finished_at: cx.host_clock(),
        });
        record.stage = ContainerStage::Waiting;
        self.decide_after_exit(uid, index, cx);
    }

    /// A container killed for its failed postStart hook has stopped: in a pod that goes
    /// on, its exit (137 if the runtime had none to give) decides its restart.
    fn post_start_kill_done(
        &mut self,
        uid: u64,
        index: usize,
        stopped_with_exit: bool,
        cx: &mut Context<'_, Msg>,
    ) {
        self.probe_container_stopped(uid, index, cx);
        let worker = self.workers.get_mut(&uid).expect("caller checked");
        if worker.lifecycle != Lifecycle::Active {
            return;
        }
        let record = &mut worker.containers[index];
        if !stopped_with_exit {
            record.ended(Terminated {
                exit_code: crate::kernel::EXIT_CODE_SIGKILL,
                reason: s("Error"),
                started_at: None,
                finished_at: cx.host_clock(),
            });
        }
        record.stage = ContainerStage::Waiting;
        record.start_failure = Some("PostStartHookError");
        self.decide_after_exit(uid, index, cx);
        // The failed sync is over: the next one reports the container waiting with the
        // reason (and its exit as lastState) before it starts it again.
        self.sync_status(uid, cx);
    }

    fn decide_after_exit(&mut self, uid: u64, index: usize, cx: &mut Context<'_, Msg>) {
        let now = cx.now();
        let worker = self.workers.get_mut(&uid).expect("caller checked");
        let name = worker.display(cx.recording());
        let last = worker.containers[index]
            .last_termination
            .clone()
            .expect("an exited container has a termination");
        if !worker.should_restart(index, last.exit_code) {
            worker.containers[index].stage = ContainerStage::Terminated;
            if !worker.is_terminating()
                && worker.containers[index].role != Role::Sidecar
                && worker.must_kill()
            {
                let failed_init = worker.containers[index].role == Role::Init;
                cx.record("step", || {
                    if failed_init {
                        format!("pod {name}: init container failed with restartPolicy Never; the pod fails")
                    } else {
                        format!("pod {name}: no regular container will run again; stopping what is left")
                    }
                });
            }
            worker.settle();
            return;
        }
        let record = &mut worker.containers[index];
        let container = record.name.clone();
        let key = (uid, container.clone());
        // The back-off is counted on the node's clock, which stamped `finished_at`.
        let host_now = cx.host_clock();
        match self
            .crash_backoff
            .in_backoff_until(&key, last.finished_at, host_now)
        {
            Some(until_host) => {
                let until = now + until_host.saturating_since(host_now);
                record.stage = ContainerStage::BackOff { until };
                // The sync's start failed with the back-off: its reason is shown until
                // the container starts again (upstream `reasonCache`).
                record.start_failure = Some("CrashLoopBackOff");
                let delay = self.crash_backoff.get(&key);
                cx.record("step", || {
                    format!("pod {name}: back-off {delay} restarting failed container {container} (CrashLoopBackOff)")
                });
            }
            None => {
                self.crash_backoff.next(key, last.finished_at, host_now);
                record.stage = ContainerStage::Waiting;
            }
        }
    }

    // ------------------------------------------------------------------------------
    // Container events and the PLEG

    fn on_container_event(&mut self, event: ContainerEvent, cx: &mut Context<'_, Msg>) {
        match event.kind {
            // The process's health, for the prober: a container is ready when its probes
            // say so (or, without a readiness probe, as soon as it has started).
            ContainerEventKind::Ready => {
                self.probe_container_health(event.container_id, prober::Health::Serving, cx);
            }
            ContainerEventKind::Unresponsive => {
                self.probe_container_health(event.container_id, prober::Health::Unresponsive, cx);
            }
            ContainerEventKind::Exited(_) | ContainerEventKind::SandboxNotReady => {
                self.pleg_pending.push(event);
                if !self.pleg_armed {
                    self.pleg_armed = true;
                    let period = self.config.pleg_relist_period;
                    let into_period = cx.now().saturating_since(self.started_at).as_nanos()
                        % period.as_nanos().max(1);
                    let after = SimDuration::from_nanos(period.as_nanos() - into_period);
                    self.timer(after, Tick::PlegRelist, cx);
                }
            }
        }
    }

    fn pleg_relist(&mut self, cx: &mut Context<'_, Msg>) {
        self.pleg_armed = false;
        for event in std::mem::take(&mut self.pleg_pending) {
            if event.kind == ContainerEventKind::SandboxNotReady {
                self.on_sandbox_not_ready(event.sandbox_id, cx);
                continue;
            }
            let ContainerEventKind::Exited(exit) = event.kind else {
                continue;
            };
            let Some(&(uid, index)) = self.container_owner.get(&event.container_id) else {
                continue;
            };
            let worker = self
                .workers
                .get_mut(&uid)
                .expect("owned containers have workers");
            let name = worker.display(cx.recording());
            let record = &mut worker.containers[index];
            let (ContainerStage::Running {
                container_id,
                started_at,
                ..
            }
            | ContainerStage::PostStart {
                container_id,
                started_at,
                ..
            }
            | ContainerStage::Killing {
                container_id,
                started_at,
                ..
            }) = record.stage
            else {
                // Being stopped: the StopContainer answer handles it.
                continue;
            };
            if container_id != event.container_id {
                continue;
            }
            self.container_owner.remove(&container_id);
            let container = record.name.clone();
            record.ended(terminated(&exit, Some(started_at)));
            record.stage = ContainerStage::Waiting;
            record.failed_post_start = false;
            self.probe_kill_overtaken(uid, index);
            cx.record("step", || {
                format!(
                    "pod {name}: container {container} exited with code {} ({})",
                    exit.exit_code, exit.reason
                )
            });
            self.decide_after_exit(uid, index, cx);
            self.probe_container_stopped(uid, index, cx);
            self.sync_pod(uid, cx);
        }
    }

    /// The relist found sandbox `sandbox_id` not ready (its infra died): the pod's
    /// sync kills what still runs in it and replaces it (see `worker::sandbox_change`).
    /// A sandbox death is rare: the pod is found by a look at this node's workers.
    fn on_sandbox_not_ready(&mut self, sandbox_id: u64, cx: &mut Context<'_, Msg>) {
        let Some((&uid, worker)) = self
            .workers
            .iter_mut()
            .find(|(_, w)| w.sandbox == (SandboxStage::Ready { sandbox_id }))
        else {
            return;
        };
        if !worker.sandbox_died(sandbox_id) {
            return;
        }
        let name = worker.display(cx.recording());
        cx.record("step", || {
            format!("pod {name}: sandbox {sandbox_id} is not ready (its infra process died); its containers are killed")
        });
        self.sync_pod(uid, cx);
    }

    // ------------------------------------------------------------------------------
    // Periodic work

    /// Gives up the requests whose deadline has passed: each is retried by the loop that
    /// sent it (the status manager's periodic sync, the node status update, the lease
    /// renewal), and the connection becomes suspect.
    fn expire_requests(&mut self, cx: &mut Context<'_, Msg>) {
        let now = cx.now();
        let mut lost_count = 0usize;
        if self
            .lease_request
            .as_ref()
            .is_some_and(|(_, pending)| pending.deadline <= now)
        {
            let (id, pending) = self.lease_request.take().expect("just checked");
            self.on_request_lost(id, pending.purpose);
            lost_count += 1;
        }
        if self.pods_deadline.expired(now) {
            // The informer's list or watch went unanswered: relisted once the API server
            // answers again.
            lost_count += 1;
        }
        if self.requests.values().any(|p| p.deadline <= now) {
            let lost: Vec<RequestId> = self
                .requests
                .iter()
                .filter(|(_, p)| p.deadline <= now)
                .map(|(&id, _)| id)
                .collect();
            lost_count += lost.len();
            for id in lost {
                let pending = self.requests.remove(&id).expect("listed above");
                self.on_request_lost(id, pending.purpose);
            }
        }
        if lost_count > 0 && self.connection == Connection::Healthy {
            self.connection = Connection::Suspect;
            let node = self.setup.name.clone();
            cx.record("step", || {
                format!(
                    "kubelet on node {node}: {lost_count} request(s) to the API server unanswered; connection presumed broken"
                )
            });
        }
    }

    fn on_request_lost(&mut self, id: RequestId, purpose: Purpose) {
        match purpose {
            Purpose::PodStatus { uid, .. } | Purpose::GetPod { uid } => {
                if let Some(worker) = self.workers.get_mut(&uid)
                    && worker.status_write == Some(id)
                {
                    worker.status_write = None;
                }
                self.status_dirty.insert(uid);
            }
            Purpose::DeletePod { uid } => {
                if self.delete_in_flight.get(&uid) == Some(&id) {
                    self.delete_in_flight.remove(&uid);
                }
            }
            Purpose::CreateNode | Purpose::GetNode => {
                if self.registration != Registration::Registered {
                    self.registration = Registration::Creating;
                }
            }
            Purpose::NodeStatus => {
                if self.node_status_request == Some(id) {
                    self.node_status_request = None;
                }
                // Compared again with the stored node at the next update.
                self.node_status_inputs_changed = true;
            }
            // Taken out of `lease_request` by the caller; the next heartbeat renews.
            Purpose::CreateLease | Purpose::GetLease | Purpose::RenewLease => {}
        }
    }

    /// A lease renewal was answered while the connection was suspect: what the partition may
    /// have dropped is read again. The pods are relisted (the informer reports what
    /// changed meanwhile) and the Node is fetched, whose answer posts a fresh status
    /// (the node lifecycle controller may have set Ready=Unknown).
    fn on_api_reachable(&mut self, cx: &mut Context<'_, Msg>) {
        if self.connection == Connection::Healthy {
            return;
        }
        self.connection = Connection::Healthy;
        let node = self.setup.name.clone();
        cx.record("step", || {
            format!(
                "kubelet on node {node}: the API server answers again; relisting its pods and re-reading its Node"
            )
        });
        self.list_pods(cx);
        if self.registration == Registration::Registered {
            self.fetch_node(cx);
        }
    }

    fn on_node_status_tick(&mut self, cx: &mut Context<'_, Msg>) {
        match self.registration {
            Registration::Registered => self.update_node_status(false, cx),
            Registration::Creating if self.runtime_version.is_some() => {
                let registering = self
                    .requests
                    .values()
                    .any(|p| matches!(p.purpose, Purpose::CreateNode | Purpose::GetNode));
                if !registering {
                    self.register(cx);
                }
            }
            _ => {}
        }
        if !self.status_dirty.is_empty() {
            let dirty: Vec<u64> = self.status_dirty.iter().copied().collect();
            for uid in dirty {
                self.sync_status(uid, cx);
            }
        }
        if !self.deleting.is_empty() {
            let deleting: Vec<u64> = self.deleting.iter().copied().collect();
            for uid in deleting {
                self.maybe_delete(uid, cx);
            }
        }
    }
}

/// Exit code upstream reports for a container that vanished (`ContainerStatusUnknown`).
const EXIT_CODE_STATUS_UNKNOWN: i32 = 137;

/// A hook's action as a record names it.
fn hook_text(handler: &crate::api::LifecycleHandler) -> String {
    use crate::api::LifecycleHandler;
    match handler {
        LifecycleHandler::Exec { command } => format!("exec {}", command.join(" ")),
        LifecycleHandler::HttpGet { path, port } => format!("httpGet {path} on port {port}"),
        LifecycleHandler::Sleep { seconds } => format!("sleep {seconds}s"),
    }
}

/// `1.669s`: seconds with milliseconds, for records.
fn seconds(duration: SimDuration) -> String {
    let millis = duration.as_millis();
    format!("{}.{:03}s", millis / 1000, millis % 1000)
}

/// A container's `lastState`, as a record names it: `Terminated (Error, exit code 1)
/// after 5.000s`.
fn last_state_text(last: &Terminated) -> String {
    let ran = match last.started_at {
        Some(started_at) => format!(
            " after {}",
            seconds(last.finished_at.saturating_since(started_at))
        ),
        None => String::new(),
    };
    format!(
        "Terminated ({}, exit code {}){ran}",
        last.reason, last.exit_code
    )
}

fn terminated(exit: &ContainerExit, started_at: Option<SimTime>) -> Terminated {
    Terminated {
        started_at,
        exit_code: exit.exit_code,
        reason: exit.reason.clone(),
        finished_at: exit.finished_at,
    }
}

impl Actor<Msg> for Kubelet {
    fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
        match event {
            Event::Start => self.start(cx),
            Event::Message {
                msg: Msg::ApiReply(response),
                ..
            } => self.on_api_reply(*response, cx),
            Event::Message {
                msg: Msg::Watch(event),
                ..
            } => {
                // An event of the RuntimeClass informer's is not the pods'.
                if self
                    .runtime_classes
                    .on_watch(&event, &mut self.api, cx)
                    .is_none()
                    && let Some(deltas) = self.pods.on_watch(&event, &mut self.api, cx)
                {
                    if matches!(*event, WatchEvent::Closed { .. }) {
                        self.pods_deadline
                            .on_closed(cx.now(), self.config.api_request_timeout);
                    }
                    self.on_pod_deltas(deltas, cx);
                }
            }
            Event::Message {
                msg: Msg::CriReply(reply),
                ..
            } => self.on_cri_reply(*reply, cx),
            Event::Message {
                from,
                msg: Msg::Metrics(msg),
            } => self.on_metrics(from, *msg, cx),
            Event::Message {
                msg: Msg::Memory(msg),
                ..
            } => self.on_memory_msg(*msg, cx),
            Event::Message {
                msg: Msg::Disk(msg),
                ..
            } => self.on_disk_msg(*msg, cx),
            Event::Timer(Msg::Tick(AnyTick::Kubelet(tick))) => match tick {
                Tick::Eviction { generation } => self.on_eviction_tick(generation, cx),
                Tick::Heartbeat => self.heartbeat(cx),
                Tick::RetryLease => {
                    if self.lease_request.is_none() {
                        self.renew_lease(cx);
                    }
                }
                Tick::PlegRelist => self.pleg_relist(cx),
                Tick::RuntimeStatus => self.poll_runtime(cx),
                Tick::Probe { generation } => self.on_probe_tick(generation, cx),
                Tick::ApiRelease { at } => self.api.release(at, cx),
                Tick::Wake { generation } => {
                    for uid in self.wakeups.fire(generation, cx.now()) {
                        self.sync_pod(uid, cx);
                    }
                    if let Some(rearm) = self.wakeups.rearm(cx.now()) {
                        self.timer(
                            rearm.after,
                            Tick::Wake {
                                generation: rearm.generation,
                            },
                            cx,
                        );
                    }
                }
            },
            Event::Message { msg, .. } | Event::Timer(msg) => {
                panic!(
                    "kubelet/{} got an unexpected message: {msg:?}",
                    self.setup.name
                )
            }
        }
        // Whatever sent a request that must wait, one timer lets it leave.
        if let Some(at) = self.api.arm() {
            self.timer(at.saturating_since(cx.now()), Tick::ApiRelease { at }, cx);
        }
    }

    fn on_crash(&mut self) {
        // Only the configuration and the never-reused request and call counters remain.
        self.pods.reset();
        self.runtime_classes.reset();
        self.pods_deadline.clear();
        self.connection = Connection::Healthy;
        self.requests.clear();
        self.calls.clear();
        self.runtime_version = None;
        self.images.clear();
        self.registration = Registration::AwaitingRuntime;
        self.node = None;
        self.node_status_posted_at = None;
        self.node_status_inputs_changed = true;
        self.node_status_request = None;
        self.lease = None;
        self.lease_request = None;
        self.lease_retry_delay = LEASE_RETRY_INITIAL;
        self.deleting.clear();
        self.delete_in_flight.clear();
        self.adoption = Adoption::default();
        self.workers.clear();
        self.container_owner.clear();
        self.status_dirty.clear();
        self.crash_backoff.clear();
        self.pull_backoff.clear();
        self.wakeups.clear();
        self.prober.clear();
        self.pleg_pending.clear();
        self.scrapes.clear();
        self.pleg_armed = false;
        self.runtime_health = runtime_state::RuntimeHealth::Up;
        self.runtime_poll_armed = false;
        // Requests held for their token die with the process; a new process starts with
        // a full token bucket.
        self.api.on_crash();
        self.eviction = eviction::EvictionManager::default();
        self.image_gc.clear();
    }
}

impl Fingerprint for Tick {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            Tick::Heartbeat => hasher.write_u64(1),
            Tick::Eviction { generation } => {
                hasher.write_u64(6);
                hasher.write_u64(*generation);
            }
            Tick::PlegRelist => hasher.write_u64(3),
            Tick::RetryLease => hasher.write_u64(5),
            Tick::RuntimeStatus => hasher.write_u64(7),
            Tick::Wake { generation } => {
                hasher.write_u64(4);
                hasher.write_u64(*generation);
            }
            Tick::Probe { generation } => {
                hasher.write_u64(11);
                hasher.write_u64(*generation);
            }
            Tick::ApiRelease { at } => {
                hasher.write_u64(13);
                hasher.write_u64(at.as_nanos());
            }
        }
    }
}
