//! The filter and score plugins, as pure functions over one pod and one node of the
//! scheduler's snapshot, with what they share: [`PodInfo`] (the pod, with what the
//! plugins ask of it computed once per cycle), [`NodeInfo`] (one node with its pods and
//! their totals) and [`ClusterView`] (the whole snapshot, for plugins that count pods
//! across nodes).
//!
//! A filter plugin returns `Ok(())` or the reason the node does not fit ([`Unfit`]); a
//! score plugin returns a raw score, which its normalizer maps to 0..=100 across the
//! feasible nodes before the profile's weight is applied. Which plugins run, in which
//! order and with which weights is the profile's business (`scheduler::profile`); the
//! pipeline that calls them is `scheduler::schedule_one`.
//!
//! - [`resources`]: NodeResourcesFit and NodeResourcesBalancedAllocation, pod requests.
//! - [`node_affinity`], [`node_ports`], [`image_locality`]: one plugin each.
//! - This module: NodeUnschedulable, NodeName, TaintToleration, DefaultNormalizeScore.

pub mod image_locality;
pub mod inter_pod_affinity;
pub mod node_affinity;
pub mod node_ports;
pub mod resources;
pub mod topology_spread;

use std::fmt;
use std::rc::Rc;

use crate::api::{Node, Pod, Str, TAINT_UNSCHEDULABLE, Taint, TaintEffect, Toleration, s};

pub use self::node_ports::HostPort;
pub use self::resources::{
    DEFAULT_MEMORY_REQUEST_BYTES, DEFAULT_MILLI_CPU_REQUEST, Extended, Resources, pod_requests,
    pod_requests_full,
};

/// `framework.MaxNodeScore`.
pub const MAX_NODE_SCORE: i64 = 100;

/// What the plugins need to know about the pod being scheduled, computed once per cycle.
#[derive(Clone, Debug)]
pub struct PodInfo {
    pub pod: Rc<Pod>,
    /// Actual requests (NodeResourcesFit filter, node accounting).
    pub requests: Resources,
    /// Requests with 100m / 200Mi for containers that set none (scoring).
    pub non_zero_requests: Resources,
    /// Extended resources requested (sorted by name); usually empty.
    pub extended_requests: Extended,
    /// Host ports the pod claims (NodePorts); usually empty.
    pub host_ports: Vec<HostPort>,
    /// The pod names a node or has a nodeSelector or required node affinity: NodeName and
    /// NodeAffinity must look at every node. Without it (and without host ports or
    /// inter-pod constraints), only NodeResourcesFit can reject a [`NodeInfo::plain`]
    /// node.
    pub constrained: bool,
}

impl PodInfo {
    pub fn new(pod: Rc<Pod>) -> PodInfo {
        let full = pod_requests_full(&pod.spec, false);
        let non_zero_requests = pod_requests(&pod.spec, true);
        let constrained = pod.spec.node_name.is_some()
            || !pod.spec.node_selector.is_empty()
            || pod
                .spec
                .affinity
                .as_ref()
                .and_then(|a| a.node_affinity.as_ref())
                .is_some_and(|a| a.required.is_some());
        PodInfo {
            host_ports: node_ports::host_ports(&pod),
            pod,
            requests: full.base,
            non_zero_requests,
            extended_requests: full.extended,
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
    /// What the node's pods request of extended resources (sorted by name).
    pub extended_requested: Extended,
    /// The last NodeResourcesFit and BalancedAllocation scores computed here for
    /// upstream's default `[cpu:1, memory:1]` resources (see `resources::ScoreMemo`).
    pub score_memo: resources::ScoreMemo,
    /// The last ImageLocality lookup here (see `image_locality::ImageMemo`).
    pub image_memo: image_locality::ImageMemo,
    /// Given by the scheduler's cache, fresh whenever the node object or what its pods
    /// request changes (not when a pod's status does), and never given twice by one
    /// cache: results computed from the node at one generation hold while it lasts
    /// (see `scheduler::node_memo`). 0 outside a cache.
    pub generation: u64,
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
            extended_requested: Extended::new(),
            score_memo: resources::ScoreMemo::default(),
            image_memo: image_locality::ImageMemo::default(),
            generation: 0,
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
    /// NodeAffinity: the node matches neither the pod's nodeSelector nor its required
    /// node affinity terms.
    NodeAffinity,
    /// NodeAffinity: the node does not match the profile's `addedAffinity`.
    NodeAffinityEnforced,
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Insufficient {
    pub too_many_pods: bool,
    pub cpu: bool,
    pub memory: bool,
    pub ephemeral_storage: bool,
    /// Extended resources short, by name (`Insufficient nvidia.com/gpu`).
    pub extended: Vec<Str>,
}

impl Unfit {
    /// The plugin that said no.
    pub fn plugin(&self) -> &'static str {
        match self {
            Unfit::NodeUnschedulable => "NodeUnschedulable",
            Unfit::NodeName => "NodeName",
            Unfit::UntoleratedTaint { .. } => "TaintToleration",
            Unfit::NodeAffinity | Unfit::NodeAffinityEnforced => "NodeAffinity",
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
            Unfit::NodeAffinityEnforced => {
                each("node(s) didn't match scheduler-enforced node affinity".to_string())
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
                for name in &insufficient.extended {
                    each(format!("Insufficient {name}"));
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
        ConditionStatus, Container, ImagePullPolicy, Labels, NodeCondition, NodeSpec, NodeStatus,
        ObjectMeta, PodSpec, PodStatus, ResourceList, ResourceRequirements, TolerationOperator,
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
                disk_pressure: ConditionStatus::False,
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
        assert_eq!(
            resources::node_resources_fit_score(&pod, &node, &resources::FitArgs::default()),
            37
        );
        // Over capacity scores 0 for that resource.
        assert_eq!(resources::least_requested_score(5000, 4000), 0);
        assert_eq!(resources::least_requested_score(0, 0), 0);
        assert_eq!(resources::least_requested_score(0, 4000), 100);
    }

    #[test]
    fn least_allocated_uses_non_zero_defaults_on_both_sides() {
        // A best-effort pod on an empty 1-core, 1Gi node: cpu (1000-100)*100/1000 = 90,
        // memory (1024-200)*100/1024 = 80 (truncated) → 85.
        let pod = PodInfo::new(Rc::new(pod_with(vec![container(None, None)], vec![])));
        let node = info(node_with("n", 1000, 1024 * MI, 110), NodeTotals::default());
        assert_eq!(
            resources::node_resources_fit_score(&pod, &node, &resources::FitArgs::default()),
            85
        );
        // The node side counts its pods' non-zero requests.
        let busy = NodeTotals {
            requested: Resources::default(),
            non_zero_requested: Resources::default().with(500, 512 * MI),
            pod_count: 5,
        };
        let node = info(node_with("n", 1000, 1024 * MI, 110), busy);
        // cpu (1000-600)*100/1000 = 40, memory (1024-712)*100/1024 = 30 → 35.
        assert_eq!(
            resources::node_resources_fit_score(&pod, &node, &resources::FitArgs::default()),
            35
        );
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
        let unfit = resources::node_resources_fit(&pod, &node, &Default::default()).unwrap_err();
        assert_eq!(unfit.to_string(), "Too many pods, Insufficient cpu");
        // A pod that requests nothing is only checked for the pod count.
        let nothing = PodInfo::new(Rc::new(pod_with(vec![container(Some(0), Some(0))], vec![])));
        let node = info(node_with("n", 0, 0, 110), NodeTotals::default());
        assert_eq!(
            resources::node_resources_fit(&nothing, &node, &Default::default()),
            Ok(())
        );
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

    pub(crate) fn taint(key: &str, effect: TaintEffect) -> Taint {
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
            node_affinity::filter(
                &PodInfo::new(Rc::new(pod.clone())),
                &node,
                &Default::default()
            ),
            Ok(())
        );
        pod.spec.node_selector = Labels::from_pairs([("disk", "hdd")]);
        assert_eq!(
            node_affinity::filter(&PodInfo::new(Rc::new(pod)), &node, &Default::default()),
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
