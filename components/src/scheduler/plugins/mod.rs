//! The default profile's filter and score plugins, as pure functions over one pod and one
//! node of the scheduler's snapshot.
//!
//! A filter plugin returns `Ok(())` or the reason the node does not fit ([`Unfit`]); a
//! score plugin returns a raw score, which its normalizer maps to 0..=100 across the
//! feasible nodes before the plugin's weight is applied. The plugin lists [`FILTERS`] and
//! [`SCORERS`] are the profile, in upstream's order; a later plugin slots in by adding an
//! entry (its state goes into [`PodInfo`] or [`NodeInfo`]).

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

use crate::api::{
    Container, Node, Pod, PodSpec, ResourceList, Str, TAINT_UNSCHEDULABLE, Taint, TaintEffect,
    Toleration, s,
};

/// `DefaultMilliCPURequest` (pkg/scheduler/util): what a container without a CPU request
/// counts as when scoring.
pub const DEFAULT_MILLI_CPU_REQUEST: u64 = 100;
/// `DefaultMemoryRequest` (pkg/scheduler/util): 200 MiB.
pub const DEFAULT_MEMORY_REQUEST_BYTES: u64 = 200 * 1024 * 1024;
/// `framework.MaxNodeScore`.
pub const MAX_NODE_SCORE: i64 = 100;

/// Requested (or allocatable) amounts of the resources the scheduler checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub cpu_millicores: u64,
    pub memory_bytes: u64,
    pub ephemeral_storage_bytes: u64,
}

impl Resources {
    pub fn add(&mut self, other: &Resources) {
        self.cpu_millicores += other.cpu_millicores;
        self.memory_bytes += other.memory_bytes;
        self.ephemeral_storage_bytes += other.ephemeral_storage_bytes;
    }

    pub fn subtract(&mut self, other: &Resources) {
        assert!(
            self.cpu_millicores >= other.cpu_millicores,
            "cpu accounting underflow"
        );
        assert!(
            self.memory_bytes >= other.memory_bytes,
            "memory accounting underflow"
        );
        assert!(
            self.ephemeral_storage_bytes >= other.ephemeral_storage_bytes,
            "ephemeral-storage accounting underflow"
        );
        self.cpu_millicores -= other.cpu_millicores;
        self.memory_bytes -= other.memory_bytes;
        self.ephemeral_storage_bytes -= other.ephemeral_storage_bytes;
    }

    fn max_with(&mut self, other: &Resources) {
        self.cpu_millicores = self.cpu_millicores.max(other.cpu_millicores);
        self.memory_bytes = self.memory_bytes.max(other.memory_bytes);
        self.ephemeral_storage_bytes = self
            .ephemeral_storage_bytes
            .max(other.ephemeral_storage_bytes);
    }
}

/// One container's requests. With `non_missing`, an absent CPU or memory request counts
/// as 100m / 200Mi (`NonMissingContainerRequests`); an explicit 0 stays 0.
fn container_requests(container: &Container, non_missing: bool) -> Resources {
    let requests: &ResourceList = &container.resources.requests;
    let (cpu_default, memory_default) = if non_missing {
        (DEFAULT_MILLI_CPU_REQUEST, DEFAULT_MEMORY_REQUEST_BYTES)
    } else {
        (0, 0)
    };
    Resources {
        cpu_millicores: requests.cpu_millicores.unwrap_or(cpu_default),
        memory_bytes: requests.memory_bytes.unwrap_or(memory_default),
        ephemeral_storage_bytes: requests.ephemeral_storage_bytes.unwrap_or(0),
    }
}

/// A pod's requests as `resourcehelper.PodRequests` computes them: the sum over its
/// containers, then the maximum with each init container (init containers run one at a
/// time, before the others). Pod overhead and sidecars are not modelled.
pub fn pod_requests(spec: &PodSpec, non_missing: bool) -> Resources {
    let mut total = Resources::default();
    for container in spec.containers.iter() {
        total.add(&container_requests(container, non_missing));
    }
    for init in spec.init_containers.iter() {
        total.max_with(&container_requests(init, non_missing));
    }
    total
}

/// What the plugins need to know about the pod being scheduled, computed once per cycle.
#[derive(Clone, Debug)]
pub struct PodInfo {
    pub pod: Rc<Pod>,
    /// Actual requests (NodeResourcesFit filter, node accounting).
    pub requests: Resources,
    /// Requests with 100m / 200Mi for containers that set none (scoring).
    pub non_zero_requests: Resources,
    /// The pod names a node or has a nodeSelector: NodeName and NodeAffinity must look
    /// at every node. Without it, only NodeResourcesFit can reject a [`NodeInfo::plain`]
    /// node.
    pub constrained: bool,
}

impl PodInfo {
    pub fn new(pod: Rc<Pod>) -> PodInfo {
        let requests = pod_requests(&pod.spec, false);
        let non_zero_requests = pod_requests(&pod.spec, true);
        let constrained = pod.spec.node_name.is_some() || !pod.spec.node_selector.is_empty();
        PodInfo {
            pod,
            requests,
            non_zero_requests,
            constrained,
        }
    }
}

/// What the node's pods add up to: upstream `NodeInfo.Requested`, `NonZeroRequested` and
/// `len(Pods)`. Kept incrementally by the cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeTotals {
    pub requested: Resources,
    pub non_zero_requested: Resources,
    pub pod_count: u64,
}

/// One node of the scheduler's snapshot, with what the filters ask of every node kept
/// at hand (one cycle looks at hundreds of nodes).
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub node: Rc<Node>,
    pub allocatable: Resources,
    /// `allocatable.pods` (the kubelet's maxPods, upstream default 110).
    pub allowed_pod_count: u64,
    pub totals: NodeTotals,
    /// The pods counted here (bound or assumed).
    pub pods: NodePods,
    /// `spec.unschedulable`.
    pub unschedulable: bool,
    /// The node has NoSchedule or NoExecute taints.
    pub hard_taints: bool,
    /// The node has PreferNoSchedule taints.
    pub soft_taints: bool,
    /// Neither unschedulable nor hard-tainted: NodeUnschedulable and TaintToleration pass
    /// whatever the pod tolerates.
    pub plain: bool,
    /// The last LeastAllocated score computed here, keyed by the summed CPU and memory
    /// requests it was computed for (allocatable is fixed for this `NodeInfo`). Pods of
    /// one Deployment ask the same, and one cycle changes one node's totals, so most
    /// cycles find the score here instead of dividing again.
    least_allocated_memo: Cell<Option<(u64, u64, i64)>>,
}

impl NodeInfo {
    pub fn new(node: Rc<Node>, totals: NodeTotals) -> NodeInfo {
        let allocatable = node.status.allocatable;
        let taints = &node.spec.taints;
        let unschedulable = node.spec.unschedulable;
        let hard_taints = taints
            .iter()
            .any(|t| matches!(t.effect, TaintEffect::NoSchedule | TaintEffect::NoExecute));
        NodeInfo {
            allocatable: Resources {
                cpu_millicores: allocatable.cpu_millicores.unwrap_or(0),
                memory_bytes: allocatable.memory_bytes.unwrap_or(0),
                ephemeral_storage_bytes: allocatable.ephemeral_storage_bytes.unwrap_or(0),
            },
            allowed_pod_count: allocatable.pods.unwrap_or(0),
            unschedulable,
            hard_taints,
            soft_taints: taints
                .iter()
                .any(|t| t.effect == TaintEffect::PreferNoSchedule),
            plain: !unschedulable && !hard_taints,
            least_allocated_memo: Cell::new(None),
            node,
            totals,
            pods: NodePods::default(),
        }
    }

    pub fn name(&self) -> &Str {
        &self.node.metadata.name
    }
}

/// The pods on one node, as upstream `NodeInfo` keeps them: every pod, and the ones with
/// (anti-)affinity terms that InterPodAffinity must look at. Each list appends on add and
/// swaps the last entry into the hole on remove, as upstream does.
#[derive(Clone, Debug, Default)]
pub struct NodePods {
    /// `NodeInfo.Pods`.
    pub all: Vec<Rc<Pod>>,
    /// `PodsWithAffinity`: pods with any pod affinity or anti-affinity term.
    pub with_affinity: Vec<Rc<Pod>>,
    /// `PodsWithRequiredAntiAffinity`.
    pub with_required_anti_affinity: Vec<Rc<Pod>>,
    /// Bumped on every change, so plugins may memoize per-node counts.
    pub generation: u64,
}

fn has_affinity(pod: &Pod) -> bool {
    pod.spec
        .affinity
        .as_ref()
        .is_some_and(|a| a.pod_affinity.is_some() || a.pod_anti_affinity.is_some())
}

fn has_required_anti_affinity(pod: &Pod) -> bool {
    pod.spec
        .affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .is_some_and(|anti| !anti.required.is_empty())
}

impl NodePods {
    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    pub fn add(&mut self, pod: Rc<Pod>) {
        if has_affinity(&pod) {
            self.with_affinity.push(pod.clone());
        }
        if has_required_anti_affinity(&pod) {
            self.with_required_anti_affinity.push(pod.clone());
        }
        self.all.push(pod);
        self.generation += 1;
    }

    /// Removes the pod with `uid`; panics if it is not here (a cache bug).
    pub fn remove(&mut self, uid: u64) {
        fn take(list: &mut Vec<Rc<Pod>>, uid: u64) -> bool {
            match list.iter().position(|p| p.metadata.uid == uid) {
                Some(position) => {
                    list.swap_remove(position);
                    true
                }
                None => false,
            }
        }
        assert!(take(&mut self.all, uid), "pod {uid} is not on this node");
        take(&mut self.with_affinity, uid);
        take(&mut self.with_required_anti_affinity, uid);
        self.generation += 1;
    }

    /// Replaces the listed copy of a pod with a newer one (same uid).
    pub fn update(&mut self, pod: &Rc<Pod>) {
        self.remove(pod.metadata.uid);
        self.add(pod.clone());
    }
}

/// What plugins see besides the pod and one node: every node of the snapshot, the
/// namespaces' labels (for `namespaceSelector`), which nodes hold pods with (anti-)affinity
/// terms, and the selectors of the workloads that may own a pod (for the system-default
/// spreading constraints).
pub struct ClusterView<'a> {
    pub nodes: &'a [NodeInfo],
    /// Labels of each namespace the scheduler knows, by name.
    pub namespace_labels: &'a sim_core::FxIndexMap<Str, crate::api::Labels>,
    /// Indexes of nodes with at least one pod in `pods.with_affinity` /
    /// `pods.with_required_anti_affinity` (upstream's `HavePodsWithAffinityNodeInfoList`
    /// and `HavePodsWithRequiredAntiAffinityNodeInfoList`).
    pub nodes_with_affinity: &'a [usize],
    pub nodes_with_required_anti_affinity: &'a [usize],
    /// Label selectors of the Services and ReplicaSets in each namespace (namespace,
    /// selector), for the system-default spreading selector (upstream `DefaultSelector`).
    pub workload_selectors: &'a [(Str, crate::api::LabelSelector)],
}

// ---------------------------------------------------------------------------------------
// Filters

/// Why a filter plugin rejected a node. `reasons` renders upstream's words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unfit {
    /// NodeUnschedulable: `spec.unschedulable` and the pod does not tolerate it.
    NodeUnschedulable,
    /// NodeName: the pod names another node.
    NodeName,
    /// TaintToleration: the first NoSchedule/NoExecute taint the pod does not tolerate.
    UntoleratedTaint { key: Str, value: Str },
    /// NodeAffinity: the node's labels do not match the pod's nodeSelector.
    NodeAffinity,
    /// NodeResourcesFit: which checks failed.
    Resources(Insufficient),
    /// NodePorts: a host port the pod asks for is taken on the node.
    NodePorts,
    /// PodTopologySpread: placing the pod here would exceed a constraint's maxSkew.
    TopologySpread,
    /// PodTopologySpread: the node lacks a required constraint's topology key.
    TopologySpreadMissingLabel,
    /// InterPodAffinity: the pod's required affinity terms do not hold here.
    PodAffinity,
    /// InterPodAffinity: the pod's required anti-affinity terms do not hold here.
    PodAntiAffinity,
    /// InterPodAffinity: a pod already on the node's domain has anti-affinity against the
    /// incoming pod.
    ExistingPodsAntiAffinity,
}

/// The NodeResourcesFit checks that failed on one node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Insufficient {
    pub too_many_pods: bool,
    pub cpu: bool,
    pub memory: bool,
    pub ephemeral_storage: bool,
}

impl Unfit {
    /// The plugin that said no.
    pub fn plugin(&self) -> &'static str {
        match self {
            Unfit::NodeUnschedulable => "NodeUnschedulable",
            Unfit::NodeName => "NodeName",
            Unfit::UntoleratedTaint { .. } => "TaintToleration",
            Unfit::NodeAffinity => "NodeAffinity",
            Unfit::Resources(_) => "NodeResourcesFit",
            Unfit::NodePorts => "NodePorts",
            Unfit::TopologySpread | Unfit::TopologySpreadMissingLabel => "PodTopologySpread",
            Unfit::PodAffinity | Unfit::PodAntiAffinity | Unfit::ExistingPodsAntiAffinity => {
                "InterPodAffinity"
            }
        }
    }

    /// Upstream's reason strings, one per failed check.
    pub fn reasons(&self, mut each: impl FnMut(String)) {
        match self {
            Unfit::NodeUnschedulable => each("node(s) were unschedulable".to_string()),
            Unfit::NodeName => each("node(s) didn't match the requested node name".to_string()),
            Unfit::UntoleratedTaint { key, value } => {
                each(format!("node(s) had untolerated taint {{{key}: {value}}}"))
            }
            Unfit::NodeAffinity => {
                each("node(s) didn't match Pod's node affinity/selector".to_string())
            }
            Unfit::Resources(insufficient) => {
                if insufficient.too_many_pods {
                    each("Too many pods".to_string());
                }
                if insufficient.cpu {
                    each("Insufficient cpu".to_string());
                }
                if insufficient.memory {
                    each("Insufficient memory".to_string());
                }
                if insufficient.ephemeral_storage {
                    each("Insufficient ephemeral-storage".to_string());
                }
            }
            Unfit::NodePorts => {
                each("node(s) didn't have free ports for the requested pod ports".to_string())
            }
            Unfit::TopologySpread => {
                each("node(s) didn't match pod topology spread constraints".to_string())
            }
            Unfit::TopologySpreadMissingLabel => each(
                "node(s) didn't match pod topology spread constraints (missing required label)"
                    .to_string(),
            ),
            Unfit::PodAffinity => each("node(s) didn't match pod affinity rules".to_string()),
            Unfit::PodAntiAffinity => {
                each("node(s) didn't match pod anti-affinity rules".to_string())
            }
            Unfit::ExistingPodsAntiAffinity => {
                each("node(s) didn't satisfy existing pods anti-affinity rules".to_string())
            }
        }
    }
}

impl fmt::Display for Unfit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut result = Ok(());
        self.reasons(|reason| {
            if !first {
                result = result.and_then(|()| f.write_str(", "));
            }
            first = false;
            result = result.and_then(|()| f.write_str(&reason));
        });
        result
    }
}

pub type FilterFn = fn(&PodInfo, &NodeInfo) -> Result<(), Unfit>;

/// The default profile's filter plugins that kubesim models, in upstream's order.
pub const FILTERS: &[(&str, FilterFn)] = &[
    ("NodeUnschedulable", node_unschedulable),
    ("NodeName", node_name),
    ("TaintToleration", taint_toleration_filter),
    ("NodeAffinity", node_affinity),
    ("NodeResourcesFit", node_resources_fit),
];

/// Runs the filters in order; the first that rejects the node decides (upstream stops
/// at the first failing plugin for a node).
#[inline]
pub fn run_filters(pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
    if !pod.constrained && node.plain {
        // NodeUnschedulable, NodeName, TaintToleration and NodeAffinity all pass here.
        return node_resources_fit(pod, node);
    }
    // The plugins of `FILTERS`, in its order, called directly so they inline: a cycle
    // runs them over hundreds of nodes.
    node_unschedulable(pod, node)?;
    node_name(pod, node)?;
    taint_toleration_filter(pod, node)?;
    node_affinity(pod, node)?;
    node_resources_fit(pod, node)
}

/// Whether any toleration tolerates `taint` (upstream `TolerationsTolerateTaint`).
pub fn tolerations_tolerate(tolerations: &[Toleration], taint: &Taint) -> bool {
    tolerations
        .iter()
        .any(|toleration| toleration.tolerates(taint))
}

/// NodeUnschedulable.
pub fn node_unschedulable(pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
    if !node.unschedulable {
        return Ok(());
    }
    let taint = Taint {
        key: s(TAINT_UNSCHEDULABLE),
        value: s(""),
        effect: TaintEffect::NoSchedule,
        time_added: None,
    };
    if tolerations_tolerate(&pod.pod.spec.tolerations, &taint) {
        Ok(())
    } else {
        Err(Unfit::NodeUnschedulable)
    }
}

/// NodeName: a pod that names a node fits only there.
pub fn node_name(pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
    match &pod.pod.spec.node_name {
        Some(wanted) if wanted != node.name() => Err(Unfit::NodeName),
        _ => Ok(()),
    }
}

/// TaintToleration filter: every NoSchedule and NoExecute taint must be tolerated.
pub fn taint_toleration_filter(pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
    if !node.hard_taints {
        return Ok(());
    }
    let untolerated = node.node.spec.taints.iter().find(|taint| {
        matches!(
            taint.effect,
            TaintEffect::NoSchedule | TaintEffect::NoExecute
        ) && !tolerations_tolerate(&pod.pod.spec.tolerations, taint)
    });
    match untolerated {
        Some(taint) => Err(Unfit::UntoleratedTaint {
            key: taint.key.clone(),
            value: taint.value.clone(),
        }),
        None => Ok(()),
    }
}

/// NodeAffinity, limited to `nodeSelector` (required and preferred affinity terms are
/// not modelled yet).
pub fn node_affinity(pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
    if pod.pod.spec.node_selector.is_empty()
        || node
            .node
            .metadata
            .labels
            .contains_all(&pod.pod.spec.node_selector)
    {
        Ok(())
    } else {
        Err(Unfit::NodeAffinity)
    }
}

/// NodeResourcesFit filter (`fitsRequest`): the pod count, then CPU, memory and
/// ephemeral storage against allocatable minus what the node's pods request.
pub fn node_resources_fit(pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
    let mut insufficient = Insufficient {
        too_many_pods: node.totals.pod_count + 1 > node.allowed_pod_count,
        ..Insufficient::default()
    };
    let want = &pod.requests;
    let used = &node.totals.requested;
    let have = &node.allocatable;
    if *want != Resources::default() {
        insufficient.cpu = want.cpu_millicores > 0
            && want.cpu_millicores + used.cpu_millicores > have.cpu_millicores;
        insufficient.memory =
            want.memory_bytes > 0 && want.memory_bytes + used.memory_bytes > have.memory_bytes;
        insufficient.ephemeral_storage = want.ephemeral_storage_bytes > 0
            && want.ephemeral_storage_bytes + used.ephemeral_storage_bytes
                > have.ephemeral_storage_bytes;
    }
    if insufficient == Insufficient::default() {
        Ok(())
    } else {
        Err(Unfit::Resources(insufficient))
    }
}

// ---------------------------------------------------------------------------------------
// Scores

/// How a score plugin's raw scores are mapped to 0..=100 across the feasible nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalize {
    /// The raw score already is 0..=100.
    None,
    /// `DefaultNormalizeScore(MaxNodeScore, reverse)`.
    Default { reverse: bool },
}

#[derive(Clone, Copy, Debug)]
pub struct ScorePlugin {
    pub name: &'static str,
    pub weight: i64,
    pub score: fn(&PodInfo, &NodeInfo) -> i64,
    pub normalize: Normalize,
}

/// Number of score plugins in the profile.
pub const SCORER_COUNT: usize = 2;

/// The default profile's score plugins that kubesim models, with upstream's weights.
pub const SCORERS: [ScorePlugin; SCORER_COUNT] = [
    ScorePlugin {
        name: "TaintToleration",
        weight: 3,
        score: taint_toleration_score,
        normalize: Normalize::Default { reverse: true },
    },
    ScorePlugin {
        name: "NodeResourcesFit",
        weight: 1,
        score: least_allocated_score,
        normalize: Normalize::None,
    },
];

/// Every plugin of [`SCORERS`] on one node, in its order, called directly (a cycle
/// scores hundreds of nodes; a test checks it agrees with the table).
#[inline]
pub fn raw_scores(pod: &PodInfo, node: &NodeInfo) -> [i64; SCORER_COUNT] {
    [
        taint_toleration_score(pod, node),
        least_allocated_score(pod, node),
    ]
}

/// TaintToleration score: how many PreferNoSchedule taints the pod does not tolerate with
/// a PreferNoSchedule (or effect-less) toleration. Fewer is better (normalized reversed).
pub fn taint_toleration_score(pod: &PodInfo, node: &NodeInfo) -> i64 {
    if !node.soft_taints {
        return 0;
    }
    let tolerations = &pod.pod.spec.tolerations;
    node.node
        .spec
        .taints
        .iter()
        .filter(|taint| taint.effect == TaintEffect::PreferNoSchedule)
        .filter(|taint| {
            !tolerations.iter().any(|toleration| {
                matches!(
                    toleration.effect,
                    None | Some(TaintEffect::PreferNoSchedule)
                ) && toleration.tolerates(taint)
            })
        })
        .count() as i64
}

/// `leastRequestedScore`: the free fraction of one resource, 0..=100.
pub fn least_requested_score(requested: u64, capacity: u64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    let free = capacity - requested;
    match free.checked_mul(MAX_NODE_SCORE as u64) {
        Some(scaled) => (scaled / capacity) as i64,
        None => (u128::from(free) * MAX_NODE_SCORE as u128 / u128::from(capacity)) as i64,
    }
}

/// NodeResourcesFit with the LeastAllocated strategy (`resources: [cpu:1, memory:1]`):
/// the node side counts what its pods request with the non-zero defaults, the pod side
/// too; resources the node has none of are left out of the weighted mean.
pub fn least_allocated_score(pod: &PodInfo, node: &NodeInfo) -> i64 {
    let requested = &node.totals.non_zero_requested;
    let want = &pod.non_zero_requests;
    let cpu_millicores = requested.cpu_millicores + want.cpu_millicores;
    let memory_bytes = requested.memory_bytes + want.memory_bytes;
    if let Some((cpu, memory, score)) = node.least_allocated_memo.get()
        && cpu == cpu_millicores
        && memory == memory_bytes
    {
        return score;
    }
    let score = least_allocated(
        cpu_millicores,
        memory_bytes,
        node.allocatable.cpu_millicores,
        node.allocatable.memory_bytes,
    );
    node.least_allocated_memo
        .set(Some((cpu_millicores, memory_bytes, score)));
    score
}

/// The LeastAllocated weighted mean over CPU and memory (weight 1 each).
fn least_allocated(
    cpu_millicores: u64,
    memory_bytes: u64,
    allocatable_cpu_millicores: u64,
    allocatable_memory_bytes: u64,
) -> i64 {
    let resources = [
        (cpu_millicores, allocatable_cpu_millicores, 1),
        (memory_bytes, allocatable_memory_bytes, 1),
    ];
    let mut score_sum = 0;
    let mut weight_sum = 0;
    for (requested, allocatable, weight) in resources {
        if allocatable == 0 {
            continue;
        }
        score_sum += least_requested_score(requested, allocatable) * weight;
        weight_sum += weight;
    }
    if weight_sum == 0 {
        0
    } else {
        score_sum / weight_sum
    }
}

/// `DefaultNormalizeScore(MaxNodeScore, reverse, scores)`.
pub fn default_normalize_score(reverse: bool, scores: &mut [i64]) {
    let max = scores.iter().copied().max().unwrap_or(0).max(0);
    if max == 0 {
        if reverse {
            scores.iter_mut().for_each(|score| *score = MAX_NODE_SCORE);
        }
        return;
    }
    for score in scores.iter_mut() {
        let scaled = MAX_NODE_SCORE * *score / max;
        *score = if reverse {
            MAX_NODE_SCORE - scaled
        } else {
            scaled
        };
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::{
        ConditionStatus, ImagePullPolicy, Labels, NodeCondition, NodeSpec, NodeStatus, ObjectMeta,
        PodStatus, ResourceRequirements, TolerationOperator,
    };
    use sim_core::SimTime;

    const MI: u64 = 1024 * 1024;

    fn container(cpu: Option<u64>, memory: Option<u64>) -> Container {
        Container {
            name: s("c"),
            image: s("nginx"),
            image_pull_policy: ImagePullPolicy::IfNotPresent,
            resources: ResourceRequirements {
                requests: ResourceList {
                    cpu_millicores: cpu,
                    memory_bytes: memory,
                    ..ResourceList::default()
                },
                limits: ResourceList::default(),
            },
            ..Container::default()
        }
    }

    pub(crate) fn pod_with(containers: Vec<Container>, init: Vec<Container>) -> Pod {
        Pod {
            metadata: ObjectMeta::named("default", "p"),
            spec: PodSpec {
                node_name: None,
                containers: containers.into(),
                init_containers: init.into(),
                ..PodSpec::default()
            },
            status: PodStatus::default(),
        }
    }

    pub(crate) fn node_with(name: &str, cpu: u64, memory: u64, pods: u64) -> Node {
        Node {
            metadata: ObjectMeta::named("", name),
            spec: NodeSpec::default(),
            status: NodeStatus {
                capacity: ResourceList::default(),
                allocatable: ResourceList {
                    cpu_millicores: Some(cpu),
                    memory_bytes: Some(memory),
                    ephemeral_storage_bytes: Some(100 * 1024 * MI),
                    pods: Some(pods),
                },
                ready: NodeCondition {
                    status: ConditionStatus::True,
                    reason: s("KubeletReady"),
                    message: s(""),
                    last_heartbeat_time: SimTime::ZERO,
                    last_transition_time: SimTime::ZERO,
                },
                memory_pressure: ConditionStatus::False,
                internal_ip: s("10.0.0.1"),
                images: Vec::new(),
                extended_allocatable: Vec::new(),
                kubelet_version: s("v1.34.0"),
                container_runtime_version: s("containerd://2.0"),
            },
        }
    }

    fn info(node: Node, totals: NodeTotals) -> NodeInfo {
        NodeInfo::new(Rc::new(node), totals)
    }

    #[test]
    fn missing_requests_count_as_100m_and_200mi_for_scoring_only() {
        let pod = pod_with(
            vec![container(None, None), container(Some(0), Some(MI))],
            vec![],
        );
        assert_eq!(
            pod_requests(&pod.spec, false),
            Resources::default().with(0, MI)
        );
        assert_eq!(
            pod_requests(&pod.spec, true),
            Resources::default().with(100, 200 * MI + MI)
        );
        // A pod with no containers adds nothing.
        let empty = pod_with(vec![], vec![]);
        assert_eq!(pod_requests(&empty.spec, true), Resources::default());
    }

    #[test]
    fn init_containers_take_the_maximum() {
        let pod = pod_with(
            vec![
                container(Some(100), Some(MI)),
                container(Some(200), Some(MI)),
            ],
            vec![container(Some(500), Some(MI))],
        );
        let requests = pod_requests(&pod.spec, false);
        assert_eq!(requests.cpu_millicores, 500);
        assert_eq!(requests.memory_bytes, 2 * MI);
    }

    impl Resources {
        fn with(mut self, cpu: u64, memory: u64) -> Resources {
            self.cpu_millicores = cpu;
            self.memory_bytes = memory;
            self
        }
    }

    #[test]
    fn least_allocated_matches_upstream_examples() {
        // From least_allocated_test.go: node 4000m / 10000 bytes, pod requests 3000m
        // and 5000 bytes on an empty node → cpu (4000-3000)*100/4000 = 25,
        // memory (10000-5000)*100/10000 = 50 → (25+50)/2 = 37.
        let pod = PodInfo::new(Rc::new(pod_with(
            vec![
                container(Some(1000), Some(2000)),
                container(Some(2000), Some(3000)),
            ],
            vec![],
        )));
        let node = info(node_with("n", 4000, 10000, 110), NodeTotals::default());
        assert_eq!(least_allocated_score(&pod, &node), 37);
        // Over capacity scores 0 for that resource.
        assert_eq!(least_requested_score(5000, 4000), 0);
        assert_eq!(least_requested_score(0, 0), 0);
        assert_eq!(least_requested_score(0, 4000), 100);
    }

    #[test]
    fn least_allocated_uses_non_zero_defaults_on_both_sides() {
        // A best-effort pod on an empty 1-core, 1Gi node: cpu (1000-100)*100/1000 = 90,
        // memory (1024-200)*100/1024 = 80 (truncated) → 85.
        let pod = PodInfo::new(Rc::new(pod_with(vec![container(None, None)], vec![])));
        let node = info(node_with("n", 1000, 1024 * MI, 110), NodeTotals::default());
        assert_eq!(least_allocated_score(&pod, &node), 85);
        // The node side counts its pods' non-zero requests.
        let busy = NodeTotals {
            requested: Resources::default(),
            non_zero_requested: Resources::default().with(500, 512 * MI),
            pod_count: 5,
        };
        let node = info(node_with("n", 1000, 1024 * MI, 110), busy);
        // cpu (1000-600)*100/1000 = 40, memory (1024-712)*100/1024 = 30 → 35.
        assert_eq!(least_allocated_score(&pod, &node), 35);
    }

    #[test]
    fn raw_scores_are_the_score_plugins_in_profile_order() {
        let pod = PodInfo::new(Rc::new(pod_with(vec![container(None, None)], vec![])));
        let mut tainted = node_with("t", 1000, 1024 * MI, 110);
        tainted.spec.taints = vec![Taint {
            key: s("soft"),
            value: s(""),
            effect: TaintEffect::PreferNoSchedule,
            time_added: None,
        }];
        for node in [
            info(node_with("n", 1000, 1024 * MI, 110), NodeTotals::default()),
            info(tainted, NodeTotals::default()),
        ] {
            let expected: Vec<i64> = SCORERS.iter().map(|p| (p.score)(&pod, &node)).collect();
            assert_eq!(raw_scores(&pod, &node).to_vec(), expected);
        }
    }

    #[test]
    fn least_allocated_follows_totals_that_change_after_a_score() {
        let pod = PodInfo::new(Rc::new(pod_with(vec![container(None, None)], vec![])));
        let mut node = info(node_with("n", 1000, 1024 * MI, 110), NodeTotals::default());
        assert_eq!(least_allocated_score(&pod, &node), 85);
        // The cache adds a pod to the node: the next score sees it, not the last one.
        node.totals.non_zero_requested = Resources::default().with(500, 512 * MI);
        assert_eq!(least_allocated_score(&pod, &node), 35);
        node.totals.non_zero_requested = Resources::default();
        assert_eq!(least_allocated_score(&pod, &node), 85);
    }

    #[test]
    fn a_plain_node_still_rejects_a_pod_that_names_another_node_or_selects_labels() {
        let node = info(node_with("n", 1000, 1024 * MI, 110), NodeTotals::default());
        assert!(node.plain);
        let mut named = pod_with(vec![], vec![]);
        named.spec.node_name = Some(s("other"));
        let named = PodInfo::new(Rc::new(named));
        assert!(named.constrained);
        assert_eq!(run_filters(&named, &node), Err(Unfit::NodeName));
        let mut selecting = pod_with(vec![], vec![]);
        selecting.spec.node_selector = Labels::from_pairs([("disk", "ssd")]);
        let selecting = PodInfo::new(Rc::new(selecting));
        assert_eq!(run_filters(&selecting, &node), Err(Unfit::NodeAffinity));
        let free = PodInfo::new(Rc::new(pod_with(vec![], vec![])));
        assert!(!free.constrained);
        assert_eq!(run_filters(&free, &node), Ok(()));
    }

    #[test]
    fn resources_fit_reports_every_shortfall() {
        let pod = PodInfo::new(Rc::new(pod_with(
            vec![container(Some(600), Some(MI))],
            vec![],
        )));
        let totals = NodeTotals {
            requested: Resources::default().with(500, 0),
            non_zero_requested: Resources::default(),
            pod_count: 2,
        };
        let node = info(node_with("n", 1000, 10 * MI, 2), totals);
        let unfit = node_resources_fit(&pod, &node).unwrap_err();
        assert_eq!(unfit.to_string(), "Too many pods, Insufficient cpu");
        // A pod that requests nothing is only checked for the pod count.
        let nothing = PodInfo::new(Rc::new(pod_with(vec![container(Some(0), Some(0))], vec![])));
        let node = info(node_with("n", 0, 0, 110), NodeTotals::default());
        assert_eq!(node_resources_fit(&nothing, &node), Ok(()));
    }

    fn toleration(
        key: &str,
        operator: TolerationOperator,
        effect: Option<TaintEffect>,
    ) -> Toleration {
        Toleration {
            key: s(key),
            operator,
            value: s(""),
            effect,
            toleration_seconds: None,
        }
    }

    fn taint(key: &str, effect: TaintEffect) -> Taint {
        Taint {
            key: s(key),
            value: s(""),
            effect,
            time_added: None,
        }
    }

    #[test]
    fn taints_must_be_tolerated_for_no_schedule_and_no_execute() {
        let mut node = node_with("n", 1000, MI, 110);
        node.spec.taints = vec![
            taint("soft", TaintEffect::PreferNoSchedule),
            taint("dedicated", TaintEffect::NoSchedule),
        ];
        let node = info(node, NodeTotals::default());
        let mut pod = pod_with(vec![container(None, None)], vec![]);
        let unfit =
            taint_toleration_filter(&PodInfo::new(Rc::new(pod.clone())), &node).unwrap_err();
        assert_eq!(
            unfit.to_string(),
            "node(s) had untolerated taint {dedicated: }"
        );
        pod.spec.tolerations = Rc::from(vec![toleration(
            "dedicated",
            TolerationOperator::Exists,
            Some(TaintEffect::NoSchedule),
        )]);
        assert_eq!(
            taint_toleration_filter(&PodInfo::new(Rc::new(pod.clone())), &node),
            Ok(())
        );
        // An empty key with Exists tolerates everything.
        pod.spec.tolerations = Rc::from(vec![toleration("", TolerationOperator::Exists, None)]);
        assert_eq!(
            taint_toleration_filter(&PodInfo::new(Rc::new(pod)), &node),
            Ok(())
        );
    }

    #[test]
    fn run_filters_is_the_filter_list_in_order() {
        let names: Vec<&str> = FILTERS.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "NodeUnschedulable",
                "NodeName",
                "TaintToleration",
                "NodeAffinity",
                "NodeResourcesFit"
            ]
        );
        let mut cordoned = node_with("a", 100, MI, 1);
        cordoned.spec.unschedulable = true;
        cordoned.spec.taints = vec![taint("x", TaintEffect::NoSchedule)];
        let mut full = node_with("b", 100, MI, 1);
        full.metadata.labels = Labels::from_pairs([("disk", "ssd")]);
        let mut pod = pod_with(vec![container(Some(500), None)], vec![]);
        pod.spec.node_selector = Labels::from_pairs([("disk", "ssd")]);
        let pod = PodInfo::new(Rc::new(pod));
        for node in [cordoned, full, node_with("c", 1000, MI, 110)] {
            let node = info(node, NodeTotals::default());
            let listed = FILTERS
                .iter()
                .try_for_each(|(_, filter)| filter(&pod, &node));
            assert_eq!(run_filters(&pod, &node), listed);
        }
        // Huge capacities still score exactly.
        assert_eq!(least_requested_score(u64::MAX / 2, u64::MAX), 50);
    }

    #[test]
    fn unschedulable_nodes_need_the_unschedulable_toleration() {
        let mut node = node_with("n", 1000, MI, 110);
        node.spec.unschedulable = true;
        let node = info(node, NodeTotals::default());
        let mut pod = pod_with(vec![], vec![]);
        assert_eq!(
            node_unschedulable(&PodInfo::new(Rc::new(pod.clone())), &node),
            Err(Unfit::NodeUnschedulable)
        );
        pod.spec.tolerations = Rc::from(vec![toleration(
            TAINT_UNSCHEDULABLE,
            TolerationOperator::Exists,
            Some(TaintEffect::NoSchedule),
        )]);
        assert_eq!(
            node_unschedulable(&PodInfo::new(Rc::new(pod)), &node),
            Ok(())
        );
    }

    #[test]
    fn node_selector_must_match_labels() {
        let mut node = node_with("n", 1000, MI, 110);
        node.metadata.labels = Labels::from_pairs([("disk", "ssd"), ("zone", "a")]);
        let node = info(node, NodeTotals::default());
        let mut pod = pod_with(vec![], vec![]);
        pod.spec.node_selector = Labels::from_pairs([("disk", "ssd")]);
        assert_eq!(
            node_affinity(&PodInfo::new(Rc::new(pod.clone())), &node),
            Ok(())
        );
        pod.spec.node_selector = Labels::from_pairs([("disk", "hdd")]);
        assert_eq!(
            node_affinity(&PodInfo::new(Rc::new(pod)), &node),
            Err(Unfit::NodeAffinity)
        );
    }

    #[test]
    fn prefer_no_schedule_counts_and_normalizes_reversed() {
        let mut tainted = node_with("a", 1000, MI, 110);
        tainted.spec.taints = vec![
            taint("x", TaintEffect::PreferNoSchedule),
            taint("y", TaintEffect::PreferNoSchedule),
            taint("z", TaintEffect::NoSchedule),
        ];
        let mut pod = pod_with(vec![], vec![]);
        // A NoSchedule toleration does not count for PreferNoSchedule scoring.
        pod.spec.tolerations = Rc::from(vec![
            toleration(
                "x",
                TolerationOperator::Exists,
                Some(TaintEffect::NoSchedule),
            ),
            toleration("y", TolerationOperator::Exists, None),
        ]);
        let pod = PodInfo::new(Rc::new(pod));
        let raw = taint_toleration_score(&pod, &info(tainted, NodeTotals::default()));
        assert_eq!(raw, 1);
        let mut scores = [1, 0, 2];
        default_normalize_score(true, &mut scores);
        assert_eq!(scores, [50, 100, 0]);
        let mut zeros = [0, 0];
        default_normalize_score(true, &mut zeros);
        assert_eq!(zeros, [100, 100]);
        let mut plain = [3, 0, 6];
        default_normalize_score(false, &mut plain);
        assert_eq!(plain, [50, 0, 100]);
    }
}
