//! kubesim's compact object types. Real manifests are converted into these at the edge
//! (the scenarios crate); field names follow the Kubernetes API.

use std::rc::Rc;

use sim_core::SimTime;

use super::apps::DaemonSet;
use super::autoscaling::HorizontalPodAutoscaler;
use super::batch::Job;
use super::meta::{Kind, LabelSelector, Labels, ObjectKey, ObjectMeta, Str};
use super::probe::Probe;

// ---------------------------------------------------------------------------------------
// Resources

/// Requests or limits of one container, or capacity of a node. `None` means "not set",
/// which matters: the scheduler scores an unset CPU request as 100m, an explicit 0 as 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResourceList {
    pub cpu_millicores: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub ephemeral_storage_bytes: Option<u64>,
    pub pods: Option<u64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResourceRequirements {
    pub requests: ResourceList,
    pub limits: ResourceList,
}

// ---------------------------------------------------------------------------------------
// Pod

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ImagePullPolicy {
    Always,
    #[default]
    IfNotPresent,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContainerPort {
    pub name: Option<Str>,
    pub container_port: u16,
    pub protocol: Protocol,
    /// A port claimed on the node itself (the NodePorts filter).
    pub host_port: Option<u16>,
    /// The node address the host port binds; `None` means every address (`0.0.0.0`).
    pub host_ip: Option<Str>,
}

/// `container.restartPolicy`: only `Always` exists, and only on init containers, where it
/// makes the container a sidecar that keeps running beside the regular containers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContainerRestartPolicy {
    Always,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Container {
    pub name: Str,
    pub image: Str,
    pub image_pull_policy: ImagePullPolicy,
    pub resources: ResourceRequirements,
    /// Extended resources (`nvidia.com/gpu`, `example.com/foo`) with their request; for
    /// these Kubernetes requires the limit to equal the request.
    pub extended_requests: Rc<[(Str, u64)]>,
    pub ports: Vec<ContainerPort>,
    /// `Always` on an init container makes it a sidecar.
    pub restart_policy: Option<ContainerRestartPolicy>,
    /// `lifecycle`: the postStart and preStop hooks.
    pub lifecycle: Option<Rc<Lifecycle>>,
    /// Probes the kubelet's prober runs (`kubelet::prober`), stored defaulted.
    pub liveness_probe: Option<Rc<Probe>>,
    pub readiness_probe: Option<Rc<Probe>>,
    pub startup_probe: Option<Rc<Probe>>,
}

/// `container.lifecycle` (core/v1 `Lifecycle`): actions the kubelet runs right after a
/// container starts and right before it is stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Lifecycle {
    pub post_start: Option<LifecycleHandler>,
    pub pre_stop: Option<LifecycleHandler>,
}

/// One hook's action (core/v1 `LifecycleHandler`; exactly one of its fields is set).
/// How long an `exec` or `httpGet` handler takes is the container's business: kubesim
/// reads it from the image's behaviour.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LifecycleHandler {
    /// `exec.command`, run in the container (CRI `ExecSync`).
    Exec { command: Rc<[Str]> },
    /// `httpGet`: a GET of `path` on the pod's `port` (a number or a port name).
    HttpGet { path: Str, port: Str },
    /// `sleep.seconds`: the kubelet itself waits this long.
    Sleep { seconds: u64 },
}

impl Default for Container {
    /// A container with no name, image or requests: a base for `..Default::default()`.
    fn default() -> Container {
        Container {
            name: Str::from(""),
            image: Str::from(""),
            image_pull_policy: ImagePullPolicy::IfNotPresent,
            resources: ResourceRequirements::default(),
            extended_requests: Rc::from(Vec::new()),
            ports: Vec::new(),
            restart_policy: None,
            lifecycle: None,
            liveness_probe: None,
            readiness_probe: None,
            startup_probe: None,
        }
    }
}

impl Container {
    /// A restartable init container (a sidecar).
    pub fn is_sidecar(&self) -> bool {
        self.restart_policy == Some(ContainerRestartPolicy::Always)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RestartPolicy {
    #[default]
    Always,
    OnFailure,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Taint {
    pub key: Str,
    pub value: Str,
    pub effect: TaintEffect,
    /// Set for NoExecute taints: when the taint was added (eviction counts from here).
    pub time_added: Option<SimTime>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TolerationOperator {
    #[default]
    Equal,
    Exists,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Toleration {
    /// Empty with operator Exists tolerates every taint.
    pub key: Str,
    pub operator: TolerationOperator,
    pub value: Str,
    /// `None` tolerates every effect.
    pub effect: Option<TaintEffect>,
    pub toleration_seconds: Option<u64>,
}

impl Toleration {
    /// Whether this toleration tolerates `taint` (upstream `ToleratesTaint`).
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|effect| effect != taint.effect) {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        match self.operator {
            TolerationOperator::Exists => true,
            TolerationOperator::Equal => self.value == taint.value,
        }
    }
}

/// The part of a pod that a template stamps out: shared by every pod of a ReplicaSet.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PodTemplateSpec {
    pub labels: Labels,
    pub annotations: Labels,
    pub spec: PodSpec,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PodSpec {
    /// Set by the scheduler's binding; empty until then.
    pub node_name: Option<Str>,
    pub containers: Rc<[Container]>,
    pub init_containers: Rc<[Container]>,
    pub restart_policy: RestartPolicy,
    /// Upstream default 30.
    pub termination_grace_period_seconds: u64,
    pub tolerations: Rc<[Toleration]>,
    pub node_selector: Labels,
    /// Resolved by the Priority admission plugin from `priority_class_name` (0 without).
    pub priority: i32,
    pub priority_class_name: Option<Str>,
    pub preemption_policy: PreemptionPolicy,
    pub scheduler_name: Str,
    pub affinity: Option<Rc<Affinity>>,
    pub topology_spread_constraints: Rc<[TopologySpreadConstraint]>,
    /// `spec.overhead`, set from the pod's RuntimeClass: added to the pod's requests.
    pub overhead: ResourceList,
    /// `spec.runtimeClassName`: the RuntimeClass whose handler runs the pod (`None`:
    /// the node runtime's default handler).
    pub runtime_class_name: Option<Str>,
    /// `spec.hostname` and `spec.subdomain`: a StatefulSet's pod is `<pod>.<service>`.
    pub hostname: Option<Str>,
    pub subdomain: Option<Str>,
}

impl Default for PodSpec {
    /// Upstream's defaults for a pod with no containers: restartPolicy Always, a 30 s
    /// grace period, priority 0, the default scheduler, no constraints.
    fn default() -> PodSpec {
        PodSpec {
            node_name: None,
            containers: Rc::from(Vec::new()),
            init_containers: Rc::from(Vec::new()),
            restart_policy: RestartPolicy::Always,
            termination_grace_period_seconds: 30,
            tolerations: Rc::from(Vec::new()),
            node_selector: Labels::new(),
            priority: 0,
            priority_class_name: None,
            preemption_policy: PreemptionPolicy::PreemptLowerPriority,
            scheduler_name: Str::from(super::DEFAULT_SCHEDULER_NAME),
            affinity: None,
            topology_spread_constraints: Rc::from(Vec::new()),
            overhead: ResourceList::default(),
            runtime_class_name: None,
            hostname: None,
            subdomain: None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Scheduling constraints

/// `preemptionPolicy` of a pod or PriorityClass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PreemptionPolicy {
    #[default]
    PreemptLowerPriority,
    Never,
}

/// The operators of a node selector requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeSelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
    /// The label's value, parsed as an integer, is greater than the single value given.
    Gt,
    Lt,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeSelectorRequirement {
    pub key: Str,
    pub operator: NodeSelectorOperator,
    pub values: Vec<Str>,
}

/// One node selector term: every expression (on labels) and every field requirement
/// (only `metadata.name` exists) must hold. Terms of a selector are ORed; an empty term
/// matches no node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NodeSelectorTerm {
    pub match_expressions: Vec<NodeSelectorRequirement>,
    pub match_fields: Vec<NodeSelectorRequirement>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PreferredSchedulingTerm {
    /// 1..=100.
    pub weight: i32,
    pub preference: NodeSelectorTerm,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NodeAffinity {
    /// `requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`; `None` when the
    /// pod requires nothing.
    pub required: Option<Vec<NodeSelectorTerm>>,
    /// `preferredDuringSchedulingIgnoredDuringExecution`.
    pub preferred: Vec<PreferredSchedulingTerm>,
}

/// Pods matching `label_selector` in the chosen namespaces, counted per domain of
/// `topology_key`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PodAffinityTerm {
    /// `None` matches no pod.
    pub label_selector: Option<LabelSelector>,
    /// With no namespaces and no namespace selector: the incoming pod's own namespace.
    pub namespaces: Vec<Str>,
    /// Namespaces whose labels match; an empty selector means every namespace.
    pub namespace_selector: Option<LabelSelector>,
    pub topology_key: Str,
    /// Keys whose values are copied from the incoming pod into the selector (`In`).
    pub match_label_keys: Vec<Str>,
    /// Keys whose values are copied from the incoming pod into the selector (`NotIn`).
    pub mismatch_label_keys: Vec<Str>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WeightedPodAffinityTerm {
    /// 1..=100.
    pub weight: i32,
    pub term: PodAffinityTerm,
}

/// `podAffinity` or `podAntiAffinity`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PodAffinity {
    pub required: Vec<PodAffinityTerm>,
    pub preferred: Vec<WeightedPodAffinityTerm>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Affinity {
    pub node_affinity: Option<NodeAffinity>,
    pub pod_affinity: Option<PodAffinity>,
    pub pod_anti_affinity: Option<PodAffinity>,
}

/// `whenUnsatisfiable`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnsatisfiableConstraintAction {
    DoNotSchedule,
    ScheduleAnyway,
}

/// `nodeAffinityPolicy` / `nodeTaintsPolicy`: whether nodes the pod could not land on
/// count when spreading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeInclusionPolicy {
    Honor,
    Ignore,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TopologySpreadConstraint {
    pub max_skew: i32,
    pub topology_key: Str,
    pub when_unsatisfiable: UnsatisfiableConstraintAction,
    /// `None` matches no pod.
    pub label_selector: Option<LabelSelector>,
    pub min_domains: Option<i32>,
    /// Upstream default Honor.
    pub node_affinity_policy: NodeInclusionPolicy,
    /// Upstream default Ignore.
    pub node_taints_policy: NodeInclusionPolicy,
    pub match_label_keys: Vec<Str>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PodPhase {
    #[default]
    Pending,
    Running,
    Succeeded,
    Failed,
    Unknown,
}

impl PodPhase {
    pub fn name(self) -> &'static str {
        match self {
            PodPhase::Pending => "Pending",
            PodPhase::Running => "Running",
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Failed => "Failed",
            PodPhase::Unknown => "Unknown",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ContainerState {
    Waiting {
        reason: Str,
    },
    Running {
        started_at: SimTime,
    },
    Terminated {
        exit_code: i32,
        reason: Str,
        finished_at: SimTime,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContainerStatus {
    pub name: Str,
    pub state: ContainerState,
    pub ready: bool,
    pub restart_count: u32,
    pub image: Str,
    /// `started`: the container runs and its startup probe, if it has one, has
    /// succeeded (upstream a `*bool` the kubelet always sets; false here when unset).
    pub started: bool,
    /// `lastState.terminated`: how the container's previous instance ended (the one
    /// before the instance `state` describes), if one did.
    pub last_state: Option<ContainerStateTerminated>,
}

/// `ContainerStateTerminated`, as `lastState.terminated` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContainerStateTerminated {
    pub exit_code: i32,
    pub reason: Str,
    /// Unset for an instance that never ran (reason `StartError`).
    pub started_at: Option<SimTime>,
    pub finished_at: SimTime,
}

/// A condition's status, as Kubernetes spells it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConditionStatus {
    True,
    False,
    #[default]
    Unknown,
}

impl ConditionStatus {
    pub fn name(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
    pub fn from_bool(value: bool) -> ConditionStatus {
        if value {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PodStatus {
    pub phase: PodPhase,
    /// PodScheduled condition.
    pub scheduled: ConditionStatus,
    /// PodScheduled condition's reason (`Unschedulable`, `SchedulerError`) when it is False.
    pub scheduled_reason: Option<Str>,
    /// PodScheduled condition's message, e.g. `0/3 nodes are available: 3 Insufficient cpu.`
    pub scheduled_message: Option<Str>,
    /// Ready condition, and when it last changed (for minReadySeconds / availability).
    pub ready: ConditionStatus,
    pub ready_since: Option<SimTime>,
    pub host_ip: Option<Str>,
    pub pod_ip: Option<Str>,
    pub start_time: Option<SimTime>,
    pub container_statuses: Vec<ContainerStatus>,
    /// `status.initContainerStatuses`, in spec order (sidecars included).
    pub init_container_statuses: Vec<ContainerStatus>,
    /// The Initialized condition: every init container has completed and every sidecar
    /// has started (True as well for a pod without init containers, once the kubelet
    /// reports).
    pub initialized: ConditionStatus,
    /// Reason for the phase (e.g. "Evicted"), when there is one.
    pub reason: Option<Str>,
    /// `status.message`: a human-readable detail of the reason (the eviction manager's
    /// "The node was low on resource: memory. ...").
    pub message: Option<Str>,
    /// `status.qosClass`, set by the API server when the pod is created.
    pub qos_class: Option<super::qos::QosClass>,
    /// `status.nominatedNodeName`: the node the scheduler preempted pods on for this
    /// pending pod, where it expects the pod to go once the victims are gone. Written by
    /// the scheduler only.
    pub nominated_node_name: Option<Str>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
    pub status: PodStatus,
}

impl Pod {
    pub fn is_ready(&self) -> bool {
        self.status.ready == ConditionStatus::True
    }
    /// Available: ready for at least `min_ready_seconds` (upstream `IsPodAvailable`).
    pub fn is_available(&self, min_ready_seconds: u64, now: SimTime) -> bool {
        self.is_ready()
            && self
                .status
                .ready_since
                .is_some_and(|since| now.saturating_since(since).as_secs() >= min_ready_seconds)
    }
    /// Counted by controllers: not terminating and not finished (upstream `IsPodActive`).
    pub fn is_active(&self) -> bool {
        !self.metadata.is_terminating()
            && !matches!(self.status.phase, PodPhase::Succeeded | PodPhase::Failed)
    }
}

// ---------------------------------------------------------------------------------------
// Node

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NodeSpec {
    pub unschedulable: bool,
    pub taints: Vec<Taint>,
    pub pod_cidr: Option<Str>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeCondition {
    pub status: ConditionStatus,
    pub reason: Str,
    /// Human-readable detail, e.g. `Kubelet stopped posting node status.`
    pub message: Str,
    pub last_heartbeat_time: SimTime,
    pub last_transition_time: SimTime,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeStatus {
    pub capacity: ResourceList,
    pub allocatable: ResourceList,
    pub ready: NodeCondition,
    pub memory_pressure: ConditionStatus,
    /// The eviction manager's DiskPressure condition (a filesystem signal's threshold
    /// met).
    pub disk_pressure: ConditionStatus,
    pub internal_ip: Str,
    /// Images present on the node with their sizes in bytes (for ImageLocality).
    pub images: Vec<(Str, u64)>,
    /// Extended resources the node offers (`nvidia.com/gpu: 4`), by name.
    pub extended_allocatable: Vec<(Str, u64)>,
    pub kubelet_version: Str,
    pub container_runtime_version: Str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub metadata: ObjectMeta,
    pub spec: NodeSpec,
    pub status: NodeStatus,
}

impl Node {
    pub fn is_ready(&self) -> bool {
        self.status.ready.status == ConditionStatus::True
    }
}

// ---------------------------------------------------------------------------------------
// Workloads

/// An `IntOrString` that is either an absolute count or a percentage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntOrPercent {
    Int(u32),
    Percent(u32),
}

impl IntOrPercent {
    /// Scales against `total`, rounding up or down as the caller's rule says.
    pub fn scaled(self, total: u32, round_up: bool) -> u32 {
        match self {
            IntOrPercent::Int(n) => n,
            IntOrPercent::Percent(p) => {
                let product = u64::from(p) * u64::from(total);
                let value = if round_up {
                    product.div_ceil(100)
                } else {
                    product / 100
                };
                value as u32
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DeploymentStrategy {
    RollingUpdate {
        max_surge: IntOrPercent,
        max_unavailable: IntOrPercent,
    },
    Recreate,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeploymentSpec {
    pub replicas: u32,
    pub selector: LabelSelector,
    pub template: Rc<PodTemplateSpec>,
    pub strategy: DeploymentStrategy,
    pub min_ready_seconds: u64,
    pub revision_history_limit: u32,
    pub progress_deadline_seconds: u64,
    pub paused: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeploymentStatus {
    pub observed_generation: u64,
    pub replicas: u32,
    pub updated_replicas: u32,
    pub ready_replicas: u32,
    pub available_replicas: u32,
    pub unavailable_replicas: u32,
    /// Available condition status (the same as the `Available` entry of `conditions`).
    pub available: ConditionStatus,
    /// `status.conditions`: Available and Progressing, each at most once.
    pub conditions: Vec<DeploymentCondition>,
}

impl DeploymentStatus {
    /// `GetDeploymentCondition`.
    pub fn condition(&self, type_: DeploymentConditionType) -> Option<&DeploymentCondition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}

/// `DeploymentConditionType` (apps/v1). ReplicaFailure is not modelled: kubesim's
/// ReplicaSet controller reports no pod-creation failures as conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeploymentConditionType {
    Available,
    Progressing,
}

impl DeploymentConditionType {
    pub fn name(self) -> &'static str {
        match self {
            DeploymentConditionType::Available => "Available",
            DeploymentConditionType::Progressing => "Progressing",
        }
    }
}

/// `DeploymentCondition`: times are whole seconds, as `metav1.Time` serializes them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DeploymentCondition {
    pub type_: DeploymentConditionType,
    pub status: ConditionStatus,
    pub reason: Str,
    pub message: Str,
    pub last_update_time: SimTime,
    pub last_transition_time: SimTime,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    pub metadata: ObjectMeta,
    pub spec: DeploymentSpec,
    pub status: DeploymentStatus,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaSetSpec {
    pub replicas: u32,
    pub selector: LabelSelector,
    pub template: Rc<PodTemplateSpec>,
    pub min_ready_seconds: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaSetStatus {
    pub observed_generation: u64,
    pub replicas: u32,
    pub ready_replicas: u32,
    pub available_replicas: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaSet {
    pub metadata: ObjectMeta,
    pub spec: ReplicaSetSpec,
    pub status: ReplicaSetStatus,
}

// ---------------------------------------------------------------------------------------
// Services and endpoints

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TargetPort {
    Number(u16),
    Name(Str),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServicePort {
    pub name: Option<Str>,
    pub protocol: Protocol,
    pub port: u16,
    pub target_port: TargetPort,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ServiceType {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    /// `None`: a Service without selector, whose endpoints are managed by hand.
    pub selector: Option<Labels>,
    pub ports: Vec<ServicePort>,
    /// Allocated by the API server from the service CIDR when not given.
    pub cluster_ip: Option<Str>,
    pub type_: ServiceType,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub metadata: ObjectMeta,
    pub spec: ServiceSpec,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EndpointConditions {
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub address: Str,
    pub conditions: EndpointConditions,
    pub node_name: Option<Str>,
    /// The pod this endpoint stands for.
    pub target_pod: Str,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EndpointPort {
    pub name: Option<Str>,
    pub port: u16,
    pub protocol: Protocol,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointSlice {
    /// Labelled `kubernetes.io/service-name`, owned by its Service.
    pub metadata: ObjectMeta,
    pub endpoints: Vec<Endpoint>,
    pub ports: Vec<EndpointPort>,
}

pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";

// ---------------------------------------------------------------------------------------
// Namespace and Lease

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    pub metadata: ObjectMeta,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseSpec {
    pub holder_identity: Option<Str>,
    pub lease_duration_seconds: u64,
    /// Written from the holder's host clock.
    pub renew_time: Option<SimTime>,
    pub acquire_time: Option<SimTime>,
    pub lease_transitions: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub metadata: ObjectMeta,
    pub spec: LeaseSpec,
}

// ---------------------------------------------------------------------------------------
// PriorityClass (scheduling.k8s.io/v1)

/// A cluster-scoped name for a pod priority. The Priority admission plugin copies `value`
/// and `preemption_policy` into each pod that names the class (or into every pod that
/// names none, when the class is the `global_default`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriorityClass {
    pub metadata: ObjectMeta,
    /// Higher runs first and may preempt lower; user classes go up to
    /// `HIGHEST_USER_DEFINABLE_PRIORITY`.
    pub value: i32,
    pub global_default: bool,
    /// Upstream default PreemptLowerPriority (`SetDefaults_PriorityClass`).
    pub preemption_policy: PreemptionPolicy,
    pub description: Str,
}

/// Upstream `scheduling.HighestUserDefinablePriority`: 1,000,000,000.
pub const HIGHEST_USER_DEFINABLE_PRIORITY: i32 = 1_000_000_000;
/// Upstream `scheduling.SystemCriticalPriority`: 2 × HighestUserDefinablePriority.
pub const SYSTEM_CRITICAL_PRIORITY: i32 = 2 * HIGHEST_USER_DEFINABLE_PRIORITY;
/// Names starting with this are reserved for the built-in classes.
pub const SYSTEM_PRIORITY_CLASS_PREFIX: &str = "system-";
pub const SYSTEM_NODE_CRITICAL: &str = "system-node-critical";
pub const SYSTEM_CLUSTER_CRITICAL: &str = "system-cluster-critical";

/// The built-in classes the API server creates at start-up (upstream
/// `SystemPriorityClasses`): system-node-critical 2000001000, system-cluster-critical
/// 2000000000.
pub fn system_priority_classes() -> [PriorityClass; 2] {
    let class = |name: &str, value: i32, description: &str| PriorityClass {
        metadata: ObjectMeta::named("", name),
        value,
        global_default: false,
        preemption_policy: PreemptionPolicy::PreemptLowerPriority,
        description: Str::from(description),
    };
    [
        class(
            SYSTEM_NODE_CRITICAL,
            SYSTEM_CRITICAL_PRIORITY + 1000,
            "Built-in: node-level system pods, never moved off their node.",
        ),
        class(
            SYSTEM_CLUSTER_CRITICAL,
            SYSTEM_CRITICAL_PRIORITY,
            "Built-in: cluster-level system pods, which may move to another node.",
        ),
    ]
}

// ---------------------------------------------------------------------------------------
// RuntimeClass (node.k8s.io/v1)

/// A cluster-scoped name for a container runtime configuration. Pods name it in
/// `spec.runtimeClassName`; the RuntimeClass admission plugin copies `overhead` into
/// the pod's `spec.overhead` and merges `scheduling` into its node selector and
/// tolerations; the kubelet passes `handler` to the runtime's `RunPodSandbox`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeClass {
    pub metadata: ObjectMeta,
    /// The CRI handler (`runc`, `crun`, `kata`, `runsc`): a DNS label, immutable.
    pub handler: Str,
    /// `overhead.podFixed`: resources the sandbox itself uses, per pod.
    pub overhead: Option<ResourceList>,
    pub scheduling: Option<RuntimeClassScheduling>,
}

/// `scheduling` of a RuntimeClass: where pods of the class may run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeClassScheduling {
    /// Labels the nodes that support the class carry; merged into the pod's
    /// `nodeSelector` (a conflicting value refuses the pod).
    pub node_selector: Labels,
    /// Appended to the pod's tolerations (those it already has stay).
    pub tolerations: Rc<[Toleration]>,
}

// ---------------------------------------------------------------------------------------
// PodDisruptionBudget (policy/v1)

/// How many of the selected pods must stay up through voluntary disruptions (evictions,
/// preemption): at most one of `min_available` and `max_unavailable` is set (upstream
/// `ValidatePodDisruptionBudgetSpec`; policy/v1 defaults neither).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodDisruptionBudgetSpec {
    pub min_available: Option<IntOrPercent>,
    /// policy/v1: `None` selects no pod, an empty selector every pod of the namespace.
    /// (The scheduler's preemption counts neither as covering any pod.)
    pub selector: Option<LabelSelector>,
    pub max_unavailable: Option<IntOrPercent>,
    /// `spec.unhealthyPodEvictionPolicy`: when a selected pod that is not Ready may be
    /// evicted. Unset behaves as `IfHealthyBudget` (pkg/registry/core/pod/storage/eviction.go).
    pub unhealthy_pod_eviction_policy: UnhealthyPodEvictionPolicy,
}

/// `policyv1.UnhealthyPodEvictionPolicyType`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum UnhealthyPodEvictionPolicy {
    /// A not-Ready pod may be evicted only while the application is not disrupted
    /// (`currentHealthy >= desiredHealthy > 0`); otherwise it needs a disruption like
    /// any other. Upstream's behaviour when the field is unset.
    #[default]
    IfHealthyBudget,
    /// A not-Ready pod may always be evicted, without using a disruption.
    AlwaysAllow,
}

impl UnhealthyPodEvictionPolicy {
    pub fn name(self) -> &'static str {
        match self {
            UnhealthyPodEvictionPolicy::IfHealthyBudget => "IfHealthyBudget",
            UnhealthyPodEvictionPolicy::AlwaysAllow => "AlwaysAllow",
        }
    }
}

/// The `DisruptionAllowed` condition of a budget's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisruptionAllowedCondition {
    pub status: ConditionStatus,
    /// `SufficientPods`, `InsufficientPods` or `SyncFailed`.
    pub reason: Str,
    pub message: Str,
    pub last_transition_time: SimTime,
}

/// Written by the disruption controller. A budget nobody has written a status for allows
/// no disruption (every count 0), which is what a reader such as the scheduler sees.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodDisruptionBudgetStatus {
    pub observed_generation: u64,
    /// How many selected pods may be disrupted now.
    pub disruptions_allowed: u32,
    pub current_healthy: u32,
    pub desired_healthy: u32,
    /// Pods counted by the budget (the scale of their controllers).
    pub expected_pods: u32,
    /// `status.disruptedPods`: pods the eviction API has let go but the controller has
    /// not yet seen terminating, with when each was evicted (from the API server's
    /// clock), sorted by pod name. The controller drops an entry once the pod is
    /// terminating or gone, or 2 minutes after the eviction (`DeletionTimeout`).
    pub disrupted_pods: Vec<(Str, SimTime)>,
    /// `status.conditions[type=DisruptionAllowed]`; `None` until a controller writes it.
    pub disruption_allowed_condition: Option<DisruptionAllowedCondition>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodDisruptionBudget {
    pub metadata: ObjectMeta,
    pub spec: PodDisruptionBudgetSpec,
    pub status: PodDisruptionBudgetStatus,
}

// ---------------------------------------------------------------------------------------
// StatefulSet (apps/v1)

/// `spec.podManagementPolicy`. Upstream default OrderedReady (`SetDefaults_StatefulSet`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PodManagementPolicy {
    /// One pod at a time: ordinal i is created once 0..i-1 are Running and Ready (and
    /// available for minReadySeconds); scale-down removes the highest ordinal first.
    #[default]
    OrderedReady,
    /// Create and delete without waiting for each other.
    Parallel,
}

impl PodManagementPolicy {
    pub fn name(self) -> &'static str {
        match self {
            PodManagementPolicy::OrderedReady => "OrderedReady",
            PodManagementPolicy::Parallel => "Parallel",
        }
    }
}

/// `spec.updateStrategy`. Upstream default RollingUpdate with partition 0.
/// (`rollingUpdate.maxUnavailable` sits behind the MaxUnavailableStatefulSet feature
/// gate, alpha and off in v1.34: not modelled, so a rolling update replaces one pod at a
/// time.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatefulSetUpdateStrategy {
    /// Pods with an ordinal at or above `partition` are replaced, highest first.
    RollingUpdate { partition: u32 },
    /// Pods are replaced only when someone deletes them.
    OnDelete,
}

impl Default for StatefulSetUpdateStrategy {
    fn default() -> Self {
        StatefulSetUpdateStrategy::RollingUpdate { partition: 0 }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatefulSetSpec {
    /// Upstream default 1.
    pub replicas: u32,
    pub selector: LabelSelector,
    pub template: Rc<PodTemplateSpec>,
    /// The headless Service that names the pods: it becomes each pod's `subdomain`.
    pub service_name: Str,
    pub pod_management_policy: PodManagementPolicy,
    pub update_strategy: StatefulSetUpdateStrategy,
    /// Upstream default 10.
    pub revision_history_limit: u32,
    pub min_ready_seconds: u64,
    /// `spec.ordinals.start`: the first ordinal, upstream default 0.
    pub ordinals_start: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatefulSetStatus {
    pub observed_generation: u64,
    /// Pods the controller has created that exist.
    pub replicas: u32,
    pub ready_replicas: u32,
    /// At `current_revision` (and not terminating).
    pub current_replicas: u32,
    /// At `update_revision` (and not terminating).
    pub updated_replicas: u32,
    pub available_replicas: u32,
    /// The revision pods below the partition keep: `<set>-<hash>`.
    pub current_revision: Str,
    /// The revision of `spec.template`: `<set>-<hash>`.
    pub update_revision: Str,
    pub collision_count: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatefulSet {
    pub metadata: ObjectMeta,
    pub spec: StatefulSetSpec,
    pub status: StatefulSetStatus,
}

/// Labels the StatefulSet controller puts on its pods.
pub const LABEL_STATEFULSET_POD_NAME: &str = "statefulset.kubernetes.io/pod-name";
pub const LABEL_POD_INDEX: &str = "apps.kubernetes.io/pod-index";
/// The revision a DaemonSet's or StatefulSet's pod was made from (upstream
/// `ControllerRevisionHashLabelKey`, shared by both controllers).
pub const LABEL_CONTROLLER_REVISION_HASH: &str = "controller-revision-hash";

// ---------------------------------------------------------------------------------------
// The object enum and the Resource trait

/// Any object, shared by reference count between the store, watch events and caches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Object {
    Namespace(Rc<Namespace>),
    Node(Rc<Node>),
    Pod(Rc<Pod>),
    Deployment(Rc<Deployment>),
    ReplicaSet(Rc<ReplicaSet>),
    Service(Rc<Service>),
    EndpointSlice(Rc<EndpointSlice>),
    Lease(Rc<Lease>),
    PriorityClass(Rc<PriorityClass>),
    RuntimeClass(Rc<RuntimeClass>),
    PodDisruptionBudget(Rc<PodDisruptionBudget>),
    HorizontalPodAutoscaler(Rc<HorizontalPodAutoscaler>),
    Job(Rc<Job>),
    StatefulSet(Rc<StatefulSet>),
    DaemonSet(Rc<DaemonSet>),
}

macro_rules! each_object {
    ($object:expr, $inner:ident => $body:expr) => {
        match $object {
            Object::Namespace($inner) => $body,
            Object::Node($inner) => $body,
            Object::Pod($inner) => $body,
            Object::Deployment($inner) => $body,
            Object::ReplicaSet($inner) => $body,
            Object::Service($inner) => $body,
            Object::EndpointSlice($inner) => $body,
            Object::Lease($inner) => $body,
            Object::PriorityClass($inner) => $body,
            Object::RuntimeClass($inner) => $body,
            Object::PodDisruptionBudget($inner) => $body,
            Object::HorizontalPodAutoscaler($inner) => $body,
            Object::Job($inner) => $body,
            Object::StatefulSet($inner) => $body,
            Object::DaemonSet($inner) => $body,
        }
    };
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::Namespace(_) => Kind::Namespace,
            Object::Node(_) => Kind::Node,
            Object::Pod(_) => Kind::Pod,
            Object::Deployment(_) => Kind::Deployment,
            Object::ReplicaSet(_) => Kind::ReplicaSet,
            Object::Service(_) => Kind::Service,
            Object::EndpointSlice(_) => Kind::EndpointSlice,
            Object::Lease(_) => Kind::Lease,
            Object::PriorityClass(_) => Kind::PriorityClass,
            Object::RuntimeClass(_) => Kind::RuntimeClass,
            Object::PodDisruptionBudget(_) => Kind::PodDisruptionBudget,
            Object::HorizontalPodAutoscaler(_) => Kind::HorizontalPodAutoscaler,
            Object::Job(_) => Kind::Job,
            Object::StatefulSet(_) => Kind::StatefulSet,
            Object::DaemonSet(_) => Kind::DaemonSet,
        }
    }

    pub fn meta(&self) -> &ObjectMeta {
        each_object!(self, inner => &inner.metadata)
    }

    /// Copy-on-write access to the metadata (clones the object only if it is shared).
    pub fn meta_mut(&mut self) -> &mut ObjectMeta {
        each_object!(self, inner => &mut Rc::make_mut(inner).metadata)
    }

    pub fn key(&self) -> ObjectKey {
        let meta = self.meta();
        ObjectKey::new(self.kind(), &meta.namespace, &meta.name)
    }

    /// Whether `key` is this object's [`Object::key`], without building it.
    pub fn has_key(&self, key: &ObjectKey) -> bool {
        let meta = self.meta();
        key.is(self.kind(), &meta.namespace, &meta.name)
    }
}

/// A kind of object with its own Rust type.
pub trait Resource: Clone + std::fmt::Debug + 'static {
    const KIND: Kind;
    fn metadata(&self) -> &ObjectMeta;
    fn metadata_mut(&mut self) -> &mut ObjectMeta;
    fn into_object(this: Rc<Self>) -> Object;
    fn from_object(object: &Object) -> Option<&Rc<Self>>;

    fn key(&self) -> ObjectKey {
        let meta = self.metadata();
        ObjectKey::new(Self::KIND, &meta.namespace, &meta.name)
    }
}

macro_rules! resource {
    ($type:ident) => {
        impl Resource for $type {
            const KIND: Kind = Kind::$type;
            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
            fn into_object(this: Rc<Self>) -> Object {
                Object::$type(this)
            }
            fn from_object(object: &Object) -> Option<&Rc<Self>> {
                match object {
                    Object::$type(inner) => Some(inner),
                    _ => None,
                }
            }
        }
    };
}

resource!(Namespace);
resource!(Node);
resource!(Pod);
resource!(Deployment);
resource!(ReplicaSet);
resource!(Service);
resource!(EndpointSlice);
resource!(Lease);
resource!(PriorityClass);
resource!(RuntimeClass);
resource!(PodDisruptionBudget);
resource!(HorizontalPodAutoscaler);
resource!(StatefulSet);
resource!(Job);
resource!(DaemonSet);

impl<T: Resource> From<T> for Object {
    fn from(value: T) -> Object {
        T::into_object(Rc::new(value))
    }
}

// ---------------------------------------------------------------------------------------
// Well-known names

pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
pub const LABEL_POD_TEMPLATE_HASH: &str = "pod-template-hash";
pub const NAMESPACE_NODE_LEASE: &str = "kube-node-lease";
pub const NAMESPACE_DEFAULT: &str = "default";
pub const NAMESPACE_SYSTEM: &str = "kube-system";
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
