//! PodTopologySpread: spread a workload's pods evenly over topology domains (zones,
//! nodes, ...), as upstream `pkg/scheduler/framework/plugins/podtopologyspread` does.
//!
//! * Filter (`filtering.go`): for each `DoNotSchedule` constraint, the pods matching its
//!   selector in the incoming pod's namespace are counted per domain over every node the
//!   constraint considers (all topology keys present, `nodeAffinityPolicy` /
//!   `nodeTaintsPolicy`). A node is rejected when
//!   `count(domain of node) + (pod matches its own selector) − global minimum > maxSkew`;
//!   the global minimum is 0 while fewer than `minDomains` domains exist.
//! * Score (`scoring.go`): for each `ScheduleAnyway` constraint (or the system defaults,
//!   for a pod without constraints of its own that a Service or ReplicaSet selects), a
//!   node's raw score is `round(Σ count × ln(domains + 2) + (maxSkew − 1))`, where the
//!   hostname constraint counts the node's own pods; NormalizeScore maps the fewest
//!   matching pods to 100.
//!
//! Counting matching pods is the expensive part: with the system defaults every pod of a
//! ReplicaSet counts its siblings on every node, every cycle. [`SpreadMemo`], owned by
//! the scheduler across cycles, keeps each node's count per (namespace, selector) and
//! recounts a node only when its pods changed (`NodePods::generation`).

use std::mem;
use std::rc::Rc;

use sim_core::{FxIndexMap, FxIndexSet};

use super::{ClusterView, MAX_NODE_SCORE, NodeInfo, PodInfo, Unfit, taint_toleration_filter};
use crate::api::{
    LabelSelector, Labels, Node, NodeInclusionPolicy, NodeSelectorOperator,
    NodeSelectorRequirement, NodeSelectorTerm, Pod, SelectorOperator, SelectorRequirement, Str,
    TopologySpreadConstraint, UnsatisfiableConstraintAction, s,
};

/// `v1.LabelHostname`.
pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
/// `v1.LabelTopologyZone`.
pub const LABEL_TOPOLOGY_ZONE: &str = "topology.kubernetes.io/zone";
/// kubesim's bound on the memo's selector entries; past it the memo starts over.
const MEMO_MAX_SELECTORS: usize = 4096;

/// `PodTopologySpreadArgs.defaultingType`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DefaultingType {
    /// Upstream default: the two system constraints (hostname maxSkew 3, zone maxSkew 5,
    /// both ScheduleAnyway); `default_constraints` must be empty.
    #[default]
    System,
    /// `default_constraints` as configured (may be empty: no defaulting).
    List,
}

/// `PodTopologySpreadArgs` (upstream default: `defaultingType: System`, no constraints).
#[derive(Clone, Debug, Default)]
pub struct SpreadArgs {
    pub default_constraints: Vec<TopologySpreadConstraint>,
    pub defaulting_type: DefaultingType,
}

/// `systemDefaultConstraints` (podtopologyspread/plugin.go).
pub fn system_default_constraints() -> Vec<TopologySpreadConstraint> {
    [(LABEL_HOSTNAME, 3), (LABEL_TOPOLOGY_ZONE, 5)]
        .into_iter()
        .map(|(key, max_skew)| TopologySpreadConstraint {
            max_skew,
            topology_key: s(key),
            when_unsatisfiable: UnsatisfiableConstraintAction::ScheduleAnyway,
            label_selector: None,
            min_domains: None,
            node_affinity_policy: NodeInclusionPolicy::Honor,
            node_taints_policy: NodeInclusionPolicy::Ignore,
            match_label_keys: Vec::new(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Constraints

/// A constraint with its selector resolved (upstream `topologySpreadConstraint`).
#[derive(Clone, Debug)]
struct Constraint {
    max_skew: i32,
    topology_key: Str,
    /// `None` matches no pod (a constraint without `labelSelector`).
    selector: Option<Rc<LabelSelector>>,
    min_domains: i32,
    node_affinity_policy: NodeInclusionPolicy,
    node_taints_policy: NodeInclusionPolicy,
}

impl Constraint {
    fn is_hostname(&self) -> bool {
        &*self.topology_key == LABEL_HOSTNAME
    }

    fn selects(&self, labels: &Labels) -> bool {
        self.selector
            .as_ref()
            .is_some_and(|sel| sel.matches(labels))
    }

    /// `matchNodeInclusionPolicies`: whether `node` counts for this constraint.
    fn includes(&self, pod: &PodInfo, node: &NodeInfo) -> bool {
        (self.node_affinity_policy == NodeInclusionPolicy::Ignore
            || required_node_affinity_matches(&pod.pod, &node.node))
            && (self.node_taints_policy == NodeInclusionPolicy::Ignore
                || taint_toleration_filter(pod, node).is_ok())
    }
}

/// `filterTopologySpreadConstraints` (common.go): the constraints with `action`, with
/// `matchLabelKeys` merged into the selector as `key In (value of the pod's label)`.
fn filter_constraints(
    constraints: &[TopologySpreadConstraint],
    pod_labels: &Labels,
    action: UnsatisfiableConstraintAction,
) -> Vec<Constraint> {
    constraints
        .iter()
        .filter(|c| c.when_unsatisfiable == action)
        .map(|c| {
            let extra: Vec<SelectorRequirement> = c
                .match_label_keys
                .iter()
                .filter_map(|key| {
                    pod_labels.get(key).map(|value| SelectorRequirement {
                        key: key.clone(),
                        operator: SelectorOperator::In,
                        values: vec![value.clone()],
                    })
                })
                .collect();
            let selector = match (&c.label_selector, extra.is_empty()) {
                (selector, true) => selector.clone(),
                // `mergeLabelSetWithSelector`: a nil selector has no requirements to keep.
                (None, false) => Some(LabelSelector {
                    match_labels: Labels::new(),
                    match_expressions: extra,
                }),
                (Some(selector), false) => {
                    let mut merged = selector.clone();
                    merged.match_expressions.extend(extra);
                    Some(merged)
                }
            };
            Constraint {
                max_skew: c.max_skew,
                topology_key: c.topology_key.clone(),
                selector: selector.map(Rc::new),
                min_domains: c.min_domains.unwrap_or(1),
                node_affinity_policy: c.node_affinity_policy,
                node_taints_policy: c.node_taints_policy,
            }
        })
        .collect()
}

/// `getConstraints` / the first half of `initPreScoreState`: the pod's own constraints
/// with `action`, or, for a pod without any, the default constraints with the selector
/// of the workloads selecting it (`buildDefaultConstraints`).
fn constraints_for(
    pod: &Pod,
    view: &ClusterView<'_>,
    args: &SpreadArgs,
    memo: &mut SpreadMemo,
    action: UnsatisfiableConstraintAction,
) -> Vec<Constraint> {
    let labels = &pod.metadata.labels;
    if !pod.spec.topology_spread_constraints.is_empty() {
        return filter_constraints(&pod.spec.topology_spread_constraints, labels, action);
    }
    let defaults: &[TopologySpreadConstraint] = match args.defaulting_type {
        DefaultingType::System => &memo.system_defaults,
        DefaultingType::List => &args.default_constraints,
    };
    if !defaults.iter().any(|c| c.when_unsatisfiable == action) {
        return Vec::new();
    }
    let Some(selector) = memo.default_selector(pod, view.workload_selectors) else {
        return Vec::new();
    };
    let defaults: &[TopologySpreadConstraint] = match args.defaulting_type {
        DefaultingType::System => &memo.system_defaults,
        DefaultingType::List => &args.default_constraints,
    };
    let mut constraints = filter_constraints(defaults, labels, action);
    for constraint in &mut constraints {
        constraint.selector = Some(selector.clone());
    }
    constraints
}

/// Upstream `helper.DefaultSelector`: the selectors of the Services and workloads in the
/// pod's namespace that select it, ANDed; `None` when that is empty (no default
/// spreading). Upstream takes the ReplicaSet or StatefulSet only when it is the pod's
/// controller; kubesim's view lists selectors without their owners, so every selector
/// that selects the pod counts (the controller's always does).
pub fn default_selector(pod: &Pod, workloads: &[(Str, LabelSelector)]) -> Option<LabelSelector> {
    let mut merged = LabelSelector::default();
    for (namespace, selector) in workloads {
        if *namespace != pod.metadata.namespace
            || selector.is_empty()
            || !selector.matches(&pod.metadata.labels)
        {
            continue;
        }
        for (key, value) in selector.match_labels.iter() {
            merged.match_labels.insert(key.clone(), value.clone());
        }
        for requirement in &selector.match_expressions {
            if !merged.match_expressions.contains(requirement) {
                merged.match_expressions.push(requirement.clone());
            }
        }
    }
    (!merged.is_empty()).then_some(merged)
}

/// Whether the node matches the pod's `nodeSelector` and required node affinity
/// (upstream `nodeaffinity.GetRequiredNodeAffinity(pod).Match(node)`).
pub fn required_node_affinity_matches(pod: &Pod, node: &Node) -> bool {
    if !node.metadata.labels.contains_all(&pod.spec.node_selector) {
        return false;
    }
    let required = pod
        .spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| na.required.as_ref());
    match required {
        None => true,
        // Terms are ORed.
        Some(terms) => terms
            .iter()
            .any(|term| node_selector_term_matches(term, node)),
    }
}

/// One node selector term: an empty term matches nothing; otherwise every expression on
/// labels and every field requirement (only `metadata.name`) must hold.
fn node_selector_term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    if term.match_expressions.is_empty() && term.match_fields.is_empty() {
        return false;
    }
    term.match_expressions
        .iter()
        .all(|req| node_requirement_matches(req, node.metadata.labels.get(&req.key)))
        && term.match_fields.iter().all(|req| {
            let value = (&*req.key == "metadata.name").then_some(&node.metadata.name);
            node_requirement_matches(req, value)
        })
}

fn node_requirement_matches(req: &NodeSelectorRequirement, value: Option<&Str>) -> bool {
    let as_int = |text: &str| text.parse::<i64>().ok();
    match req.operator {
        NodeSelectorOperator::In => value.is_some_and(|v| req.values.contains(v)),
        NodeSelectorOperator::NotIn => value.is_none_or(|v| !req.values.contains(v)),
        NodeSelectorOperator::Exists => value.is_some(),
        NodeSelectorOperator::DoesNotExist => value.is_none(),
        NodeSelectorOperator::Gt | NodeSelectorOperator::Lt => {
            let (Some(have), [wanted]) = (value.and_then(|v| as_int(v)), req.values.as_slice())
            else {
                return false;
            };
            let Some(wanted) = as_int(wanted) else {
                return false;
            };
            if req.operator == NodeSelectorOperator::Gt {
                have > wanted
            } else {
                have < wanted
            }
        }
    }
}

/// `countPodsMatchSelector`: pods in `namespace`, not terminating, matching `selector`.
pub fn count_matching(pods: &[Rc<Pod>], namespace: &Str, selector: &LabelSelector) -> u32 {
    pods.iter()
        .filter(|p| {
            !p.metadata.is_terminating()
                && p.metadata.namespace == *namespace
                && selector.matches(&p.metadata.labels)
        })
        .count() as u32
}

// ---------------------------------------------------------------------------------------
// The memo

/// What the memo last saw at one index of the node list.
#[derive(Debug)]
struct NodeSlot {
    /// Held, so pointer equality cannot be fooled by a reused allocation.
    node: Rc<Node>,
    pods_generation: u64,
    pods_len: usize,
    /// Bumped when the pods counted here may have changed.
    pods_epoch: u64,
    /// Bumped when the node object (its labels) may have changed.
    node_epoch: u64,
}

/// The interned values of one topology key and each node's value.
#[derive(Debug, Default)]
struct KeyDomains {
    values: FxIndexSet<Str>,
    /// Per node index: (node epoch it was read at, domain id or `NO_DOMAIN`).
    per_node: Vec<(u64, u32)>,
}

const NO_DOMAIN: u32 = u32::MAX;

/// Per-node matching counts kept across scheduling cycles (owned by the Scheduler).
/// A node's count for a (namespace, selector) is recounted only when the node's pods
/// changed since it was counted. Call [`SpreadMemo::clear`] when the scheduler's cache is
/// rebuilt, and [`SpreadMemo::workloads_changed`] when the Services or ReplicaSets behind
/// `ClusterView::workload_selectors` change.
#[derive(Debug)]
pub struct SpreadMemo {
    system_defaults: Vec<TopologySpreadConstraint>,
    next_epoch: u64,
    slots: Vec<NodeSlot>,
    keys: FxIndexMap<Str, KeyDomains>,
    /// namespace → selector → per node index (pods epoch counted at, count).
    counts: FxIndexMap<Str, FxIndexMap<LabelSelector, Vec<(u64, u32)>>>,
    counts_len: usize,
    /// namespace → pod labels → default selector.
    default_selectors: FxIndexMap<Str, FxIndexMap<Labels, Option<Rc<LabelSelector>>>>,
    defaults_len: usize,
    /// (address, length) of the workload selector list the defaults were computed from.
    workloads_seen: (usize, usize),
}

impl Default for SpreadMemo {
    fn default() -> SpreadMemo {
        SpreadMemo {
            system_defaults: system_default_constraints(),
            next_epoch: 1,
            slots: Vec::new(),
            keys: FxIndexMap::default(),
            counts: FxIndexMap::default(),
            counts_len: 0,
            default_selectors: FxIndexMap::default(),
            defaults_len: 0,
            workloads_seen: (0, 0),
        }
    }
}

impl SpreadMemo {
    /// Forgets everything (the scheduler's cache was rebuilt: node pod generations may
    /// start over).
    pub fn clear(&mut self) {
        *self = SpreadMemo::default();
    }

    /// The Services or workloads changed: default selectors are computed afresh.
    pub fn workloads_changed(&mut self) {
        self.default_selectors.clear();
        self.defaults_len = 0;
    }

    fn epoch(&mut self) -> u64 {
        self.next_epoch += 1;
        self.next_epoch
    }

    fn default_selector(
        &mut self,
        pod: &Pod,
        workloads: &[(Str, LabelSelector)],
    ) -> Option<Rc<LabelSelector>> {
        let seen = (workloads.as_ptr() as usize, workloads.len());
        if seen != self.workloads_seen || self.defaults_len >= MEMO_MAX_SELECTORS {
            self.workloads_changed();
            self.workloads_seen = seen;
        }
        let namespace = &pod.metadata.namespace;
        let labels = &pod.metadata.labels;
        if let Some(found) = self
            .default_selectors
            .get(&**namespace)
            .and_then(|by_labels| by_labels.get(labels))
        {
            return found.clone();
        }
        let computed = default_selector(pod, workloads).map(Rc::new);
        self.default_selectors
            .entry(namespace.clone())
            .or_default()
            .insert(labels.clone(), computed.clone());
        self.defaults_len += 1;
        computed
    }

    /// Brings the per-node slots up to date with `nodes` (pointer and counter
    /// comparisons only, unless something changed).
    fn refresh(&mut self, nodes: &[NodeInfo]) {
        self.slots.truncate(nodes.len());
        for (index, info) in nodes.iter().enumerate() {
            if index == self.slots.len() {
                let (pods_epoch, node_epoch) = (self.epoch(), self.epoch());
                self.slots.push(NodeSlot {
                    node: info.node.clone(),
                    pods_generation: info.pods.generation,
                    pods_len: info.pods.len(),
                    pods_epoch,
                    node_epoch,
                });
                continue;
            }
            let slot = &self.slots[index];
            let same_node = Rc::ptr_eq(&slot.node, &info.node);
            let same_pods = slot.pods_generation == info.pods.generation
                && slot.pods_len == info.pods.len()
                && (same_node
                    || (slot.node.metadata.name == info.node.metadata.name
                        && slot.node.metadata.uid == info.node.metadata.uid));
            if same_node && same_pods {
                continue;
            }
            let node_epoch = if same_node {
                self.slots[index].node_epoch
            } else {
                self.epoch()
            };
            let pods_epoch = if same_pods {
                self.slots[index].pods_epoch
            } else {
                self.epoch()
            };
            self.slots[index] = NodeSlot {
                node: info.node.clone(),
                pods_generation: info.pods.generation,
                pods_len: info.pods.len(),
                pods_epoch,
                node_epoch,
            };
        }
    }

    /// The interned domain of node `index` for `key` (`None`: the node lacks the label).
    fn domain(&mut self, key: &Str, index: usize, node: &NodeInfo) -> Option<u32> {
        let node_epoch = self.slots[index].node_epoch;
        let domains = self.keys.entry(key.clone()).or_default();
        if domains.per_node.len() <= index {
            domains.per_node.resize(index + 1, (0, NO_DOMAIN));
        }
        let (seen, id) = domains.per_node[index];
        let id = if seen == node_epoch {
            id
        } else {
            let id = match node.node.metadata.labels.get(key) {
                Some(value) => domains.values.insert_full(value.clone()).0 as u32,
                None => NO_DOMAIN,
            };
            domains.per_node[index] = (node_epoch, id);
            id
        };
        (id != NO_DOMAIN).then_some(id)
    }

    /// The id of the empty value of `key` (a node without the label, where upstream reads
    /// `""`).
    fn empty_domain(&mut self, key: &Str) -> u32 {
        let domains = self.keys.entry(key.clone()).or_default();
        domains.values.insert_full(s("")).0 as u32
    }

    fn domain_value(&self, key: &Str, id: u32) -> Str {
        self.keys[&**key].values[id as usize].clone()
    }

    /// Matching pods on node `index` (upstream `countPodsMatchSelector`), from the memo
    /// when the node's pods have not changed since they were counted.
    fn count(
        &mut self,
        namespace: &Str,
        selector: &Option<Rc<LabelSelector>>,
        index: usize,
        node: &NodeInfo,
    ) -> i64 {
        let Some(selector) = selector else {
            return 0;
        };
        let pods_epoch = self.slots[index].pods_epoch;
        if self.counts_len >= MEMO_MAX_SELECTORS {
            self.counts.clear();
            self.counts_len = 0;
        }
        let by_selector = self.counts.entry(namespace.clone()).or_default();
        let per_node = match by_selector.get_index_of(&**selector) {
            Some(position) => &mut by_selector[position],
            None => {
                self.counts_len += 1;
                by_selector
                    .entry(LabelSelector::clone(selector))
                    .or_default()
            }
        };
        if per_node.len() <= index {
            per_node.resize(index + 1, (0, 0));
        }
        let (seen, count) = per_node[index];
        if seen == pods_epoch {
            return i64::from(count);
        }
        let count = count_matching(&node.pods.all, namespace, selector);
        per_node[index] = (pods_epoch, count);
        i64::from(count)
    }
}

fn has_all_keys(node: &NodeInfo, constraints: &[Constraint]) -> bool {
    let labels = &node.node.metadata.labels;
    constraints
        .iter()
        .all(|c| labels.get(&c.topology_key).is_some())
}

// ---------------------------------------------------------------------------------------
// Filter

/// One hard constraint with its counts (upstream `preFilterState`).
#[derive(Clone, Debug)]
struct FilterConstraint {
    topology_key: Str,
    max_skew: i32,
    /// The incoming pod matches the constraint's selector (counts itself).
    self_match: bool,
    /// Matching pods per domain value, over the nodes the constraint considers.
    counts: FxIndexMap<Str, i64>,
    /// The global minimum (0 while fewer than `minDomains` domains exist).
    min_count: i64,
}

/// What PreFilter computed for Filter.
#[derive(Clone, Debug)]
pub struct SpreadFilterState {
    constraints: Vec<FilterConstraint>,
}

impl SpreadFilterState {
    /// Matching pods in `value`'s domain for the `index`th hard constraint.
    pub fn count(&self, index: usize, value: &str) -> i64 {
        self.constraints[index]
            .counts
            .get(value)
            .copied()
            .unwrap_or(0)
    }

    /// The global minimum the `index`th hard constraint compares with.
    pub fn min_count(&self, index: usize) -> i64 {
        self.constraints[index].min_count
    }
}

/// PreFilter (`calPreFilterState`). `None`: the pod has no `DoNotSchedule` constraint
/// (upstream Skip).
pub fn pre_filter(
    pod: &PodInfo,
    view: &ClusterView<'_>,
    args: &SpreadArgs,
    memo: &mut SpreadMemo,
) -> Option<SpreadFilterState> {
    let constraints = constraints_for(
        &pod.pod,
        view,
        args,
        memo,
        UnsatisfiableConstraintAction::DoNotSchedule,
    );
    if constraints.is_empty() {
        return None;
    }
    memo.refresh(view.nodes);
    let namespace = &pod.pod.metadata.namespace;
    // Per constraint, per domain id: `None` until a considered node is in the domain.
    let mut per_domain: Vec<Vec<Option<i64>>> = vec![Vec::new(); constraints.len()];
    for (index, node) in view.nodes.iter().enumerate() {
        if !has_all_keys(node, &constraints) {
            continue;
        }
        for (c, constraint) in constraints.iter().enumerate() {
            if !constraint.includes(pod, node) {
                continue;
            }
            let id = memo
                .domain(&constraint.topology_key, index, node)
                .expect("has_all_keys checked the label") as usize;
            let count = memo.count(namespace, &constraint.selector, index, node);
            let domains = &mut per_domain[c];
            if domains.len() <= id {
                domains.resize(id + 1, None);
            }
            *domains[id].get_or_insert(0) += count;
        }
    }
    let constraints = constraints
        .iter()
        .zip(per_domain)
        .map(|(constraint, domains)| {
            let counts: FxIndexMap<Str, i64> = domains
                .iter()
                .enumerate()
                .filter_map(|(id, count)| {
                    count.map(|n| (memo.domain_value(&constraint.topology_key, id as u32), n))
                })
                .collect();
            let min_count = if (counts.len() as i64) < i64::from(constraint.min_domains) {
                0
            } else {
                counts.values().copied().min().unwrap_or(0)
            };
            FilterConstraint {
                topology_key: constraint.topology_key.clone(),
                max_skew: constraint.max_skew,
                self_match: constraint.selects(&pod.pod.metadata.labels),
                counts,
                min_count,
            }
        })
        .collect();
    Some(SpreadFilterState { constraints })
}

/// Filter: every hard constraint's skew on this node stays within maxSkew.
pub fn filter(state: &SpreadFilterState, _pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
    let labels = &node.node.metadata.labels;
    for constraint in &state.constraints {
        let Some(value) = labels.get(&constraint.topology_key) else {
            return Err(Unfit::TopologySpreadMissingLabel);
        };
        let count = constraint.counts.get(&**value).copied().unwrap_or(0);
        let skew = count + i64::from(constraint.self_match) - constraint.min_count;
        if skew > i64::from(constraint.max_skew) {
            return Err(Unfit::TopologySpread);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Score

/// What PreScore computed for Score and NormalizeScore (upstream `preScoreState`).
#[derive(Clone, Debug)]
pub struct SpreadScoreState {
    constraints: Vec<ScoreConstraint>,
    /// Nodes lacking a topology key are ignored (scored 0) when the constraints are the
    /// pod's own or configured ones.
    require_all_topologies: bool,
    /// Address of the node list PreScore saw (see `ScoreConstraint::host_counts`).
    nodes_address: usize,
}

#[derive(Clone, Debug)]
struct ScoreConstraint {
    topology_key: Str,
    hostname: bool,
    max_skew: i32,
    selector: Option<Rc<LabelSelector>>,
    /// `ln(domains + 2)`.
    weight: f64,
    /// Matching pods per domain value (not for the hostname constraint).
    counts: FxIndexMap<Str, i64>,
    /// Hostname constraint: each feasible node's count, by node index, with the node's
    /// address so `score` can check it was handed a node of the same list.
    host_counts: Vec<(usize, i64)>,
}

/// PreScore. `None`: no soft constraint applies to the pod (upstream Skip: the plugin
/// scores 0 on every node).
pub fn pre_score(
    pod: &PodInfo,
    view: &ClusterView<'_>,
    feasible: &[usize],
    args: &SpreadArgs,
    memo: &mut SpreadMemo,
) -> Option<SpreadScoreState> {
    if view.nodes.is_empty() {
        return None;
    }
    let constraints = constraints_for(
        &pod.pod,
        view,
        args,
        memo,
        UnsatisfiableConstraintAction::ScheduleAnyway,
    );
    if constraints.is_empty() {
        return None;
    }
    // Nodes without a zone label still get hostname spreading under the system defaults.
    let require_all_topologies = !pod.pod.spec.topology_spread_constraints.is_empty()
        || args.defaulting_type != DefaultingType::System;
    memo.refresh(view.nodes);
    let namespace = &pod.pod.metadata.namespace;

    // The domains of the feasible nodes (`initPreScoreState`).
    let mut per_domain: Vec<Vec<Option<i64>>> = vec![Vec::new(); constraints.len()];
    let mut ignored = 0usize;
    let mut host_counts: Vec<Vec<(usize, i64)>> = constraints
        .iter()
        .map(|c| {
            if c.is_hostname() {
                vec![(0, 0); view.nodes.len()]
            } else {
                Vec::new()
            }
        })
        .collect();
    for &index in feasible {
        let node = &view.nodes[index];
        if require_all_topologies && !has_all_keys(node, &constraints) {
            ignored += 1;
            continue;
        }
        for (c, constraint) in constraints.iter().enumerate() {
            if constraint.is_hostname() {
                // Counted per node during Score (upstream), here from the memo.
                let count = memo.count(namespace, &constraint.selector, index, node);
                host_counts[c][index] = (std::ptr::from_ref(node) as usize, count);
                continue;
            }
            let id = match memo.domain(&constraint.topology_key, index, node) {
                Some(id) => id,
                None => memo.empty_domain(&constraint.topology_key),
            } as usize;
            let domains = &mut per_domain[c];
            if domains.len() <= id {
                domains.resize(id + 1, None);
            }
            domains[id].get_or_insert(0);
        }
    }
    let considered = feasible.len() - ignored;
    let weights: Vec<f64> = constraints
        .iter()
        .zip(&per_domain)
        .map(|(constraint, domains)| {
            let size = if constraint.is_hostname() {
                considered
            } else {
                domains.iter().filter(|d| d.is_some()).count()
            };
            topology_normalizing_weight(size)
        })
        .collect();

    // Matching pods per domain over all nodes (`PreScore`'s processAllNode).
    if constraints.iter().any(|c| !c.is_hostname()) {
        for (index, node) in view.nodes.iter().enumerate() {
            if require_all_topologies && !has_all_keys(node, &constraints) {
                continue;
            }
            for (c, constraint) in constraints.iter().enumerate() {
                if constraint.is_hostname() || !constraint.includes(pod, node) {
                    continue;
                }
                let id = match memo.domain(&constraint.topology_key, index, node) {
                    Some(id) => id,
                    None => memo.empty_domain(&constraint.topology_key),
                } as usize;
                if per_domain[c].get(id).is_some_and(Option::is_some) {
                    let count = memo.count(namespace, &constraint.selector, index, node);
                    *per_domain[c][id].as_mut().expect("checked") += count;
                }
            }
        }
    }

    let constraints = constraints
        .into_iter()
        .zip(per_domain)
        .zip(weights)
        .zip(host_counts)
        .map(|(((constraint, domains), weight), host_counts)| {
            let counts = domains
                .iter()
                .enumerate()
                .filter_map(|(id, count)| {
                    count.map(|n| (memo.domain_value(&constraint.topology_key, id as u32), n))
                })
                .collect();
            ScoreConstraint {
                hostname: constraint.is_hostname(),
                topology_key: constraint.topology_key,
                max_skew: constraint.max_skew,
                selector: constraint.selector,
                weight,
                counts,
                host_counts,
            }
        })
        .collect();
    Some(SpreadScoreState {
        constraints,
        require_all_topologies,
        nodes_address: view.nodes.as_ptr() as usize,
    })
}

/// `topologyNormalizingWeight`: `ln(size + 2)`, with libm so every platform agrees.
fn topology_normalizing_weight(size: usize) -> f64 {
    libm::log((size + 2) as f64)
}

/// `scoreForCount`.
fn score_for_count(count: i64, max_skew: i32, weight: f64) -> f64 {
    count as f64 * weight + f64::from(max_skew - 1)
}

impl SpreadScoreState {
    fn ignores(&self, node: &NodeInfo) -> bool {
        let labels = &node.node.metadata.labels;
        self.require_all_topologies
            && self
                .constraints
                .iter()
                .any(|c| labels.get(&c.topology_key).is_none())
    }

    /// The hostname count of `node`, from PreScore when `node` is one of the listed
    /// nodes, else counted here.
    fn host_count(&self, pod: &PodInfo, node: &NodeInfo, constraint: &ScoreConstraint) -> i64 {
        let address = std::ptr::from_ref(node) as usize;
        let offset = address.wrapping_sub(self.nodes_address);
        let index = offset / mem::size_of::<NodeInfo>();
        if offset.is_multiple_of(mem::size_of::<NodeInfo>())
            && let Some(&(seen, count)) = constraint.host_counts.get(index)
            && seen == address
        {
            return count;
        }
        constraint.selector.as_ref().map_or(0, |selector| {
            i64::from(count_matching(
                &node.pods.all,
                &pod.pod.metadata.namespace,
                selector,
            ))
        })
    }
}

/// Score: the raw score of one feasible node (lower is better before normalizing).
pub fn score(state: &SpreadScoreState, pod: &PodInfo, node: &NodeInfo) -> i64 {
    if state.ignores(node) {
        return 0;
    }
    let labels = &node.node.metadata.labels;
    let mut total = 0.0f64;
    for constraint in &state.constraints {
        let Some(value) = labels.get(&constraint.topology_key) else {
            continue;
        };
        let count = if constraint.hostname {
            state.host_count(pod, node, constraint)
        } else {
            constraint.counts.get(&**value).copied().unwrap_or(0)
        };
        total += score_for_count(count, constraint.max_skew, constraint.weight);
    }
    // Go's math.Round and Rust's round both round half away from zero.
    total.round() as i64
}

/// NormalizeScore: ignored nodes 0; otherwise `100 × (max + min − s) / max` (all 100
/// when the maximum is 0). `scores[i]` belongs to `view.nodes[feasible[i]]`.
pub fn normalize(
    state: &SpreadScoreState,
    feasible: &[usize],
    view: &ClusterView<'_>,
    scores: &mut [i64],
) {
    assert_eq!(feasible.len(), scores.len(), "one score per feasible node");
    let ignored: Vec<bool> = feasible
        .iter()
        .map(|&index| state.ignores(&view.nodes[index]))
        .collect();
    let mut min = i64::MAX;
    let mut max = 0i64;
    for (score, &skip) in scores.iter().zip(&ignored) {
        if !skip {
            min = min.min(*score);
            max = max.max(*score);
        }
    }
    for (score, &skip) in scores.iter_mut().zip(&ignored) {
        *score = if skip {
            0
        } else if max == 0 {
            MAX_NODE_SCORE
        } else {
            MAX_NODE_SCORE * (max + min - *score) / max
        };
    }
}

#[cfg(test)]
mod tests {
    use super::super::NodeTotals;
    use super::super::tests::{node_with, pod_with};
    use super::*;
    use sim_core::{SimRng, SimTime};

    const ZONE: &str = LABEL_TOPOLOGY_ZONE;

    /// A node with the hostname label and, if given, a zone.
    fn node(name: &str, zone: Option<&str>) -> NodeInfo {
        let mut node = node_with(name, 64_000, 1 << 40, 110);
        node.metadata.labels.insert(s(LABEL_HOSTNAME), s(name));
        if let Some(zone) = zone {
            node.metadata.labels.insert(s(ZONE), s(zone));
        }
        NodeInfo::new(Rc::new(node), NodeTotals::default())
    }

    fn pod(name: &str, labels: &[(&str, &str)]) -> Pod {
        let mut pod = pod_with(vec![], vec![]);
        pod.metadata.name = s(name);
        pod.metadata.uid = 1 + name.bytes().map(u64::from).sum::<u64>() * 1000 + name.len() as u64;
        pod.metadata.labels = Labels::from_pairs(labels.iter().copied());
        pod
    }

    fn place(node: &mut NodeInfo, pod: Pod) {
        node.pods.add(Rc::new(pod));
    }

    fn foo_selector() -> LabelSelector {
        LabelSelector {
            match_labels: Labels::new(),
            match_expressions: vec![SelectorRequirement {
                key: s("foo"),
                operator: SelectorOperator::Exists,
                values: vec![],
            }],
        }
    }

    fn constraint(
        key: &str,
        max_skew: i32,
        action: UnsatisfiableConstraintAction,
    ) -> TopologySpreadConstraint {
        TopologySpreadConstraint {
            max_skew,
            topology_key: s(key),
            when_unsatisfiable: action,
            label_selector: Some(foo_selector()),
            min_domains: None,
            node_affinity_policy: NodeInclusionPolicy::Honor,
            node_taints_policy: NodeInclusionPolicy::Ignore,
            match_label_keys: vec![],
        }
    }

    fn incoming(constraints: Vec<TopologySpreadConstraint>) -> PodInfo {
        let mut pod = pod("incoming", &[("foo", "")]);
        pod.spec.topology_spread_constraints = constraints.into();
        PodInfo::new(Rc::new(pod))
    }

    struct World {
        nodes: Vec<NodeInfo>,
        namespaces: FxIndexMap<Str, Labels>,
        workloads: Vec<(Str, LabelSelector)>,
    }

    impl World {
        fn view(&self) -> ClusterView<'_> {
            ClusterView {
                nodes: &self.nodes,
                namespace_labels: &self.namespaces,
                nodes_with_affinity: &[],
                nodes_with_required_anti_affinity: &[],
                workload_selectors: &self.workloads,
            }
        }

        fn feasible(&self, pod: &PodInfo, state: &Option<SpreadFilterState>) -> Vec<&str> {
            self.nodes
                .iter()
                .filter(|n| state.as_ref().is_none_or(|st| filter(st, pod, n).is_ok()))
                .map(|n| &*n.node.metadata.name)
                .collect()
        }
    }

    /// Upstream filtering_test.go's layout: zone1 = node-a (2 matching pods), node-b (1);
    /// zone2 = node-x (1), node-y (0).
    fn zones_3_1() -> World {
        let mut a = node("node-a", Some("zone1"));
        let mut b = node("node-b", Some("zone1"));
        let mut x = node("node-x", Some("zone2"));
        let mut y = node("node-y", Some("zone2"));
        place(&mut a, pod("p-a1", &[("foo", "")]));
        place(&mut a, pod("p-a2", &[("foo", "")]));
        place(&mut b, pod("p-b1", &[("foo", "")]));
        place(&mut x, pod("p-x1", &[("foo", "")]));
        // Not counted: no label, terminating, another namespace.
        place(&mut y, pod("p-y1", &[("bar", "")]));
        let mut terminating = pod("p-y2", &[("foo", "")]);
        terminating.metadata.deletion_timestamp = Some(SimTime::ZERO);
        place(&mut y, terminating);
        let mut elsewhere = pod("p-y3", &[("foo", "")]);
        elsewhere.metadata.namespace = s("other");
        place(&mut y, elsewhere);
        World {
            nodes: vec![a, b, x, y],
            namespaces: FxIndexMap::default(),
            workloads: vec![],
        }
    }

    #[test]
    fn zone_constraint_max_skew_1_keeps_the_emptier_zone() {
        use UnsatisfiableConstraintAction::DoNotSchedule;
        let world = zones_3_1();
        let mut memo = SpreadMemo::default();
        let pod = incoming(vec![constraint(ZONE, 1, DoNotSchedule)]);
        let state = pre_filter(&pod, &world.view(), &SpreadArgs::default(), &mut memo);
        let st = state.as_ref().expect("a hard constraint");
        // zone1 holds 3 matching pods, zone2 1: the global minimum is 1.
        assert_eq!((st.count(0, "zone1"), st.count(0, "zone2")), (3, 1));
        assert_eq!(st.min_count(0), 1);
        // zone1: 3 + 1 − 1 = 3 > 1; zone2: 1 + 1 − 1 = 1.
        assert_eq!(world.feasible(&pod, &state), ["node-x", "node-y"]);
        assert_eq!(
            filter(st, &pod, &world.nodes[0]),
            Err(Unfit::TopologySpread)
        );
    }

    #[test]
    fn zone_and_hostname_constraints_leave_only_the_empty_node() {
        use UnsatisfiableConstraintAction::DoNotSchedule;
        // Upstream "two constraints on zone and node, spreads = [3/1, 2/1/1/0]".
        let world = zones_3_1();
        let mut memo = SpreadMemo::default();
        let pod = incoming(vec![
            constraint(ZONE, 1, DoNotSchedule),
            constraint(LABEL_HOSTNAME, 1, DoNotSchedule),
        ]);
        let state = pre_filter(&pod, &world.view(), &SpreadArgs::default(), &mut memo);
        assert_eq!(world.feasible(&pod, &state), ["node-y"]);
    }

    #[test]
    fn missing_label_min_domains_and_node_affinity_policy() {
        use UnsatisfiableConstraintAction::DoNotSchedule;
        let mut world = zones_3_1();
        world.nodes.push(node("node-z", None));
        let mut memo = SpreadMemo::default();
        let args = SpreadArgs::default();
        let pod = incoming(vec![constraint(ZONE, 1, DoNotSchedule)]);
        let state = pre_filter(&pod, &world.view(), &args, &mut memo).unwrap();
        assert_eq!(
            filter(&state, &pod, &world.nodes[4]),
            Err(Unfit::TopologySpreadMissingLabel)
        );

        // minDomains 3 with two zones: the global minimum counts as 0, so zone2 gives
        // 1 + 1 − 0 = 2 > 1 too.
        let mut wide = constraint(ZONE, 1, DoNotSchedule);
        wide.min_domains = Some(3);
        let pod = incoming(vec![wide]);
        let state = pre_filter(&pod, &world.view(), &args, &mut memo);
        assert_eq!(state.as_ref().unwrap().min_count(0), 0);
        assert!(world.feasible(&pod, &state).is_empty());

        // A pod that may only go to zone1: with nodeAffinityPolicy Honor only zone1 is a
        // domain (minimum 3) and node-a fits (3 + 1 − 3 = 1); with Ignore it does not.
        for (policy, fits) in [
            (NodeInclusionPolicy::Honor, true),
            (NodeInclusionPolicy::Ignore, false),
        ] {
            let mut c = constraint(ZONE, 1, DoNotSchedule);
            c.node_affinity_policy = policy;
            let mut pod = (*incoming(vec![c]).pod).clone();
            pod.spec.node_selector = Labels::from_pairs([(ZONE, "zone1")]);
            let pod = PodInfo::new(Rc::new(pod));
            let state = pre_filter(&pod, &world.view(), &args, &mut memo).unwrap();
            assert_eq!(filter(&state, &pod, &world.nodes[0]).is_ok(), fits);
        }
    }

    #[test]
    fn match_label_keys_narrow_the_selector() {
        use UnsatisfiableConstraintAction::DoNotSchedule;
        let mut world = zones_3_1();
        // Give node-a's pods another revision: with matchLabelKeys [rev] they no longer
        // count for a rev=2 pod.
        let mut a = node("node-a", Some("zone1"));
        place(&mut a, pod("p-a1", &[("foo", ""), ("rev", "1")]));
        place(&mut a, pod("p-a2", &[("foo", ""), ("rev", "1")]));
        world.nodes[0] = a;
        let mut c = constraint(ZONE, 1, DoNotSchedule);
        c.match_label_keys = vec![s("rev")];
        let mut pod = (*incoming(vec![c]).pod).clone();
        pod.metadata.labels.insert(s("rev"), s("2"));
        let pod = PodInfo::new(Rc::new(pod));
        let mut memo = SpreadMemo::default();
        let state = pre_filter(&pod, &world.view(), &SpreadArgs::default(), &mut memo);
        let st = state.as_ref().unwrap();
        assert_eq!((st.count(0, "zone1"), st.count(0, "zone2")), (0, 0));
        assert_eq!(world.feasible(&pod, &state).len(), 4);
    }

    fn scores_of(
        world: &World,
        pod: &PodInfo,
        args: &SpreadArgs,
        memo: &mut SpreadMemo,
    ) -> Option<Vec<i64>> {
        let feasible: Vec<usize> = (0..world.nodes.len()).collect();
        let state = pre_score(pod, &world.view(), &feasible, args, memo)?;
        let mut scores: Vec<i64> = feasible
            .iter()
            .map(|&i| score(&state, pod, &world.nodes[i]))
            .collect();
        normalize(&state, &feasible, &world.view(), &mut scores);
        Some(scores)
    }

    #[test]
    fn hostname_scores_follow_the_log_weight_and_normalize() {
        use UnsatisfiableConstraintAction::ScheduleAnyway;
        // Host counts a=2, b=1, x=1, y=0 over 4 candidates: weight ln(6) = 1.79;
        // raw = round(count × 1.79): 4, 2, 2, 0; normalized 100 × (4 + 0 − s) / 4.
        let world = zones_3_1();
        let pod = incoming(vec![constraint(LABEL_HOSTNAME, 1, ScheduleAnyway)]);
        let mut memo = SpreadMemo::default();
        let args = SpreadArgs::default();
        let feasible: Vec<usize> = (0..4).collect();
        let state = pre_score(&pod, &world.view(), &feasible, &args, &mut memo).unwrap();
        let raw: Vec<i64> = world.nodes.iter().map(|n| score(&state, &pod, n)).collect();
        assert_eq!(raw, [4, 2, 2, 0]);
        // A copy of a node (not from the list) is counted directly, with the same result.
        let copy = world.nodes[0].clone();
        assert_eq!(score(&state, &pod, &copy), 4);
        assert_eq!(
            scores_of(&world, &pod, &args, &mut memo).unwrap(),
            [0, 50, 50, 100]
        );
        // DoNotSchedule constraints do not score.
        let hard = incoming(vec![constraint(
            LABEL_HOSTNAME,
            1,
            UnsatisfiableConstraintAction::DoNotSchedule,
        )]);
        assert!(scores_of(&world, &hard, &args, &mut memo).is_none());
    }

    #[test]
    fn system_defaults_spread_a_replica_set_by_hostname_and_zone() {
        // zone1 = node-a (2 pods of the set), node-b (0); zone2 = node-c (1).
        let mut a = node("node-a", Some("zone1"));
        let b = node("node-b", Some("zone1"));
        let mut c = node("node-c", Some("zone2"));
        let app = [("app", "web"), ("pod-template-hash", "abc")];
        place(&mut a, pod("web-1", &app));
        place(&mut a, pod("web-2", &app));
        place(&mut c, pod("web-3", &app));
        let mut world = World {
            nodes: vec![a, b, c],
            namespaces: FxIndexMap::default(),
            workloads: vec![(
                s("default"),
                LabelSelector::from_labels(Labels::from_pairs(app)),
            )],
        };
        let web = PodInfo::new(Rc::new(pod("web-4", &app)));
        let args = SpreadArgs::default();
        let mut memo = SpreadMemo::default();
        // Nothing hard: the defaults are ScheduleAnyway.
        assert!(pre_filter(&web, &world.view(), &args, &mut memo).is_none());
        // hostname: weight ln(5) = 1.609, maxSkew 3; zone: weight ln(4) = 1.386, maxSkew 5.
        // node-a: 2×1.609 + 2 + 2×1.386 + 4 = 11.99 → 12
        // node-b: 0 + 2 + 2×1.386 + 4 = 8.77 → 9
        // node-c: 1.609 + 2 + 1.386 + 4 = 9.00 → 9
        // normalized 100 × (12 + 9 − s) / 12.
        assert_eq!(
            scores_of(&world, &web, &args, &mut memo).unwrap(),
            [75, 100, 100]
        );
        // A node without a zone is not ignored under the system defaults (its zone
        // counts nothing): raw 2 (hostname only), and the zone domains now are
        // zone1, zone2 and "" (weight ln 5).
        world.nodes.push(node("node-d", None));
        let scores = scores_of(&world, &web, &args, &mut memo).unwrap();
        assert_eq!(scores[3], 100);
        // A pod no workload selects gets no default constraints.
        let stray = PodInfo::new(Rc::new(pod("stray", &[("app", "db")])));
        assert!(scores_of(&world, &stray, &args, &mut memo).is_none());
        // With List defaulting and no constraints configured, nothing either.
        let list = SpreadArgs {
            default_constraints: vec![],
            defaulting_type: DefaultingType::List,
        };
        assert!(scores_of(&world, &web, &list, &mut memo).is_none());
    }

    #[test]
    fn own_soft_constraints_ignore_nodes_without_the_key() {
        use UnsatisfiableConstraintAction::ScheduleAnyway;
        let mut world = zones_3_1();
        world.nodes.push(node("node-z", None));
        let pod = incoming(vec![constraint(ZONE, 1, ScheduleAnyway)]);
        let mut memo = SpreadMemo::default();
        // zone weight ln(2 + 2); zone1 raw round(3 × 1.386) = 4, zone2 round(1.386) = 1;
        // normalized 100 × (4 + 1 − s) / 4; node-z ignored → 0.
        let scores = scores_of(&world, &pod, &SpreadArgs::default(), &mut memo).unwrap();
        assert_eq!(scores, [25, 25, 100, 100, 0]);
    }

    #[test]
    fn default_selector_ands_the_selectors_that_select_the_pod() {
        let service = LabelSelector::from_labels(Labels::from_pairs([("app", "web")]));
        let replica_set = LabelSelector::from_labels(Labels::from_pairs([
            ("app", "web"),
            ("pod-template-hash", "abc"),
        ]));
        let other = LabelSelector::from_labels(Labels::from_pairs([("app", "db")]));
        let workloads = vec![
            (s("default"), service),
            (s("default"), replica_set.clone()),
            (s("default"), other),
            (s("elsewhere"), replica_set.clone()),
            (s("default"), LabelSelector::default()),
        ];
        let web = pod("web-1", &[("app", "web"), ("pod-template-hash", "abc")]);
        assert_eq!(default_selector(&web, &workloads), Some(replica_set));
        let lonely = pod("x", &[("app", "cache")]);
        assert_eq!(default_selector(&lonely, &workloads), None);
    }

    #[test]
    fn required_node_affinity_operators() {
        use crate::api::{Affinity, NodeAffinity};
        let mut node = node_with("n1", 1000, 1000, 110);
        node.metadata.labels = Labels::from_pairs([("gpu", "2"), ("zone", "a")]);
        let requirement = |key: &str, operator, values: &[&str]| NodeSelectorRequirement {
            key: s(key),
            operator,
            values: values.iter().map(|v| s(v)).collect(),
        };
        let with_terms = |terms: Vec<NodeSelectorTerm>| {
            let mut pod = pod("p", &[]);
            pod.spec.affinity = Some(Rc::new(Affinity {
                node_affinity: Some(NodeAffinity {
                    required: Some(terms),
                    preferred: vec![],
                }),
                pod_affinity: None,
                pod_anti_affinity: None,
            }));
            pod
        };
        let term = |exprs| NodeSelectorTerm {
            match_expressions: exprs,
            match_fields: vec![],
        };
        use NodeSelectorOperator::*;
        let cases = [
            (vec![requirement("gpu", Gt, &["1"])], true),
            (vec![requirement("gpu", Lt, &["2"])], false),
            (vec![requirement("gpu", Gt, &["x"])], false),
            (vec![requirement("zone", In, &["a", "b"])], true),
            (vec![requirement("zone", NotIn, &["a"])], false),
            (vec![requirement("disk", DoesNotExist, &[])], true),
            (vec![requirement("disk", Exists, &[])], false),
        ];
        for (exprs, expected) in cases {
            assert_eq!(
                required_node_affinity_matches(&with_terms(vec![term(exprs.clone())]), &node),
                expected,
                "{exprs:?}"
            );
        }
        // Terms are ORed; an empty term matches nothing; matchFields names the node.
        let by_name = NodeSelectorTerm {
            match_expressions: vec![],
            match_fields: vec![requirement("metadata.name", In, &["n1"])],
        };
        assert!(required_node_affinity_matches(
            &with_terms(vec![term(vec![]), by_name]),
            &node
        ));
        assert!(!required_node_affinity_matches(
            &with_terms(vec![term(vec![])]),
            &node
        ));
    }

    #[test]
    fn memoized_counts_equal_a_naive_recount_after_random_changes() {
        let mut rng = SimRng::for_stream(7, "spread-memo");
        let mut nodes: Vec<NodeInfo> = (0..6)
            .map(|i| node(&format!("n{i}"), Some(["z1", "z2"][i % 2])))
            .collect();
        let selectors = [
            foo_selector(),
            LabelSelector::from_labels(Labels::from_pairs([("app", "a")])),
            LabelSelector::from_labels(Labels::from_pairs([("app", "b")])),
        ];
        let namespaces = [s("default"), s("other")];
        let mut memo = SpreadMemo::default();
        let mut next_uid = 1u64;
        for round in 0..400 {
            // A few random changes: add a pod, remove one, relabel a node (new object),
            // or drop a node from the list.
            for _ in 0..rng.below(4) {
                let target = rng.below(nodes.len() as u64) as usize;
                match rng.below(10) {
                    0..=5 => {
                        let app = ["a", "b", "c"][rng.below(3) as usize];
                        let mut p = pod(&format!("p{next_uid}"), &[("app", app)]);
                        if rng.chance(1, 3) {
                            p.metadata.labels.insert(s("foo"), s(""));
                        }
                        if rng.chance(1, 5) {
                            p.metadata.namespace = s("other");
                        }
                        if rng.chance(1, 10) {
                            p.metadata.deletion_timestamp = Some(SimTime::ZERO);
                        }
                        p.metadata.uid = next_uid;
                        next_uid += 1;
                        nodes[target].pods.add(Rc::new(p));
                    }
                    6..=8 => {
                        let pods = &nodes[target].pods;
                        if !pods.is_empty() {
                            let uid = pods.all[rng.below(pods.len() as u64) as usize].metadata.uid;
                            nodes[target].pods.remove(uid);
                        }
                    }
                    _ if round % 50 == 0 && nodes.len() > 2 => {
                        nodes.swap_remove(target);
                    }
                    _ => {
                        let mut relabeled = (*nodes[target].node).clone();
                        relabeled.metadata.labels.insert(s(ZONE), s("z3"));
                        let pods = std::mem::take(&mut nodes[target].pods);
                        nodes[target] = NodeInfo::new(Rc::new(relabeled), NodeTotals::default());
                        nodes[target].pods = pods;
                    }
                }
            }
            memo.refresh(&nodes);
            for (index, node) in nodes.iter().enumerate() {
                for selector in &selectors {
                    for namespace in &namespaces {
                        let naive = count_matching(&node.pods.all, namespace, selector);
                        let memoized =
                            memo.count(namespace, &Some(Rc::new(selector.clone())), index, node);
                        assert_eq!(memoized, i64::from(naive), "round {round} node {index}");
                    }
                }
                let domain = memo
                    .domain(&s(ZONE), index, node)
                    .map(|id| memo.domain_value(&s(ZONE), id));
                assert_eq!(domain.as_ref(), node.node.metadata.labels.get(ZONE));
            }
        }
    }
}
