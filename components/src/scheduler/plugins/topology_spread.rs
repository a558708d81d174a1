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
//! ReplicaSet counts its siblings on every node, every cycle. [`SpreadIndex`], kept by the
//! scheduler's cache as pods and nodes change, holds each node's count and each domain's
//! total per (namespace, selector) asked about, so a cycle costs O(domains + feasible
//! nodes) whenever every node counts for a constraint (no node excluded by the pod's node
//! affinity or by taints, no node missing a required key); otherwise PreFilter and
//! PreScore walk the nodes as upstream does, reading each node's count from the index.

use std::cell::{Ref, RefCell};
use std::rc::Rc;

use sim_core::{FxIndexMap, FxIndexSet};

use super::{ClusterView, MAX_NODE_SCORE, NodeInfo, PodInfo, Unfit, taint_toleration_filter};
use crate::api::{
    LabelSelector, Labels, Node, NodeInclusionPolicy, Pod, SelectorOperator, SelectorRequirement,
    Str, TaintEffect, TopologySpreadConstraint, UnsatisfiableConstraintAction, s,
};

/// `v1.LabelHostname`.
pub const LABEL_HOSTNAME: &str = "kubernetes.io/hostname";
/// `v1.LabelTopologyZone`.
pub const LABEL_TOPOLOGY_ZONE: &str = "topology.kubernetes.io/zone";
/// kubesim's bound on the selectors the memo and the index keep; past it they start over.
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
    /// `topology_key` is `kubernetes.io/hostname` (asked per node in hot loops).
    hostname: bool,
    /// `None` matches no pod (a constraint without `labelSelector`).
    selector: Option<Rc<LabelSelector>>,
    min_domains: i32,
    node_affinity_policy: NodeInclusionPolicy,
    node_taints_policy: NodeInclusionPolicy,
}

impl Constraint {
    fn is_hostname(&self) -> bool {
        self.hostname
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
                hostname: &*c.topology_key == LABEL_HOSTNAME,
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
    default_selector_among(pod, workloads, 0..workloads.len())
}

/// [`default_selector`] over the workloads at `candidates` (ascending positions in
/// `workloads`), which must include every workload that may select the pod.
fn default_selector_among(
    pod: &Pod,
    workloads: &[(Str, LabelSelector)],
    candidates: impl Iterator<Item = usize>,
) -> Option<LabelSelector> {
    let mut merged = LabelSelector::default();
    for (namespace, selector) in candidates.map(|position| &workloads[position]) {
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
        Some(terms) => super::node_affinity::terms_match(terms, node),
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

/// What PodTopologySpread keeps across scheduling cycles besides the cache's
/// [`SpreadIndex`]: the system default constraints and each pod label set's default
/// selector (owned by the Scheduler). Call [`SpreadMemo::clear`] when the scheduler's
/// cache is rebuilt, and [`SpreadMemo::workloads_changed`] when the Services or
/// ReplicaSets behind `ClusterView::workload_selectors` change.
#[derive(Debug)]
pub struct SpreadMemo {
    system_defaults: Vec<TopologySpreadConstraint>,
    /// namespace → pod labels → default selector.
    default_selectors: FxIndexMap<Str, FxIndexMap<Labels, Option<Rc<LabelSelector>>>>,
    defaults_len: usize,
    /// (address, length) of the workload selector list the defaults were computed from.
    workloads_seen: (usize, usize),
    /// Positions in that list by the first `matchLabels` pair of the selector there: a
    /// selector selects only pods carrying each of its pairs, so a pod is checked against
    /// the selectors under its own pairs (and those without `matchLabels`) instead of all
    /// of them. Built on first use after the list changed.
    by_first_pair: Option<SelectorsByPair<usize>>,
}

/// Selectors indexed by one of their `matchLabels` pairs: a selector selects only pods
/// carrying each of its pairs, so a pod is tested against the selectors under its own
/// pairs and those without `matchLabels`, not against all of them. `T` names a selector
/// (an id or a position in a list).
#[derive(Debug)]
struct SelectorsByPair<T> {
    /// label key → value → the selectors indexed under that pair.
    by_pair: FxIndexMap<Str, FxIndexMap<Str, Vec<T>>>,
    /// Selectors without `matchLabels`.
    unindexed: Vec<T>,
}

impl<T> Default for SelectorsByPair<T> {
    fn default() -> Self {
        SelectorsByPair {
            by_pair: FxIndexMap::default(),
            unindexed: Vec::new(),
        }
    }
}

impl<T: Copy> SelectorsByPair<T> {
    /// The selectors indexed under `key=value`.
    fn under(&self, key: &str, value: &str) -> &[T] {
        self.by_pair
            .get(key)
            .and_then(|values| values.get(value))
            .map_or(&[], Vec::as_slice)
    }

    /// Indexes `selector` under `pair`, one of its `matchLabels` pairs (`None`: it has none).
    fn insert(&mut self, pair: Option<(&Str, &Str)>, selector: T) {
        match pair {
            Some((key, value)) => self
                .by_pair
                .entry(key.clone())
                .or_default()
                .entry(value.clone())
                .or_default()
                .push(selector),
            None => self.unindexed.push(selector),
        }
    }

    /// Every selector that may select a pod with `labels`: those under its pairs, then
    /// those without `matchLabels`.
    fn for_each_candidate(&self, labels: &Labels, mut visit: impl FnMut(T)) {
        for (key, value) in labels.iter() {
            self.under(key, value)
                .iter()
                .for_each(|&selector| visit(selector));
        }
        self.unindexed.iter().for_each(|&selector| visit(selector));
    }

    fn clear(&mut self) {
        self.by_pair.clear();
        self.unindexed.clear();
    }
}

/// Positions in the workload selector list by each selector's first `matchLabels` pair.
fn workloads_by_first_pair(workloads: &[(Str, LabelSelector)]) -> SelectorsByPair<usize> {
    let mut by_pair = SelectorsByPair::default();
    for (position, (_, selector)) in workloads.iter().enumerate() {
        by_pair.insert(selector.match_labels.iter().next(), position);
    }
    by_pair
}

/// The positions of the workload selectors that may select a pod with `labels`, ascending.
fn candidate_positions(by_pair: &SelectorsByPair<usize>, labels: &Labels) -> Vec<usize> {
    let mut candidates = Vec::new();
    by_pair.for_each_candidate(labels, |position| candidates.push(position));
    candidates.sort_unstable();
    candidates.dedup();
    candidates
}

impl Default for SpreadMemo {
    fn default() -> SpreadMemo {
        SpreadMemo {
            system_defaults: system_default_constraints(),
            default_selectors: FxIndexMap::default(),
            defaults_len: 0,
            workloads_seen: (0, 0),
            by_first_pair: None,
        }
    }
}

impl SpreadMemo {
    /// Forgets everything.
    pub fn clear(&mut self) {
        *self = SpreadMemo::default();
    }

    /// The Services or workloads changed: default selectors are computed afresh.
    pub fn workloads_changed(&mut self) {
        self.default_selectors.clear();
        self.defaults_len = 0;
        self.by_first_pair = None;
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
        let by_first_pair = self
            .by_first_pair
            .get_or_insert_with(|| workloads_by_first_pair(workloads));
        let candidates = candidate_positions(by_first_pair, labels);
        let computed = default_selector_among(pod, workloads, candidates.into_iter()).map(Rc::new);
        self.default_selectors
            .entry(namespace.clone())
            .or_default()
            .insert(labels.clone(), computed.clone());
        self.defaults_len += 1;
        computed
    }
}

// ---------------------------------------------------------------------------------------
// The spread index

/// Where one node falls for one topology key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct NodeDomain {
    /// The interned label value; a node without the label is in the domain of `""`,
    /// which is what upstream reads for a missing label.
    id: u32,
    /// The node lacks the label.
    missing: bool,
}

/// One topology key asked about: its interned values and each node's domain.
#[derive(Debug)]
struct KeyDomains {
    key: Str,
    values: FxIndexSet<Str>,
    /// Per node index.
    nodes: Vec<NodeDomain>,
    /// Per domain id: how many nodes are in it (missing ones count under `""`).
    nodes_per_domain: Vec<u32>,
    /// Nodes without the label.
    missing_count: usize,
}

impl KeyDomains {
    fn domain_of(&mut self, node: &Node) -> NodeDomain {
        let (value, missing) = match node.metadata.labels.get(&self.key) {
            Some(value) => (value.clone(), false),
            None => (s(""), true),
        };
        let id = self.values.insert_full(value).0;
        if self.nodes_per_domain.len() <= id {
            self.nodes_per_domain.resize(id + 1, 0);
        }
        NodeDomain {
            id: id as u32,
            missing,
        }
    }

    fn enter(&mut self, domain: NodeDomain) {
        self.nodes_per_domain[domain.id as usize] += 1;
        self.missing_count += usize::from(domain.missing);
    }

    fn leave(&mut self, domain: NodeDomain) {
        let count = &mut self.nodes_per_domain[domain.id as usize];
        assert!(
            *count > 0,
            "node count underflow in a domain of {}",
            self.key
        );
        *count -= 1;
        assert!(self.missing_count >= usize::from(domain.missing));
        self.missing_count -= usize::from(domain.missing);
    }
}

/// The matching pods of one (namespace, selector) asked about.
#[derive(Debug)]
struct SelectorCounts {
    namespace: Str,
    selector: LabelSelector,
    /// Per node index: non-terminating pods in `namespace` matching `selector`.
    per_node: Vec<u32>,
    /// Per topology key asked about with this selector: (key id, matching pods per
    /// domain id, over every node).
    per_domain: Vec<(u32, Vec<i64>)>,
}

fn add_at(totals: &mut Vec<i64>, id: u32, delta: i64) {
    let id = id as usize;
    if totals.len() <= id {
        totals.resize(id + 1, 0);
    }
    totals[id] += delta;
    assert!(totals[id] >= 0, "negative matching pod count in a domain");
}

fn hard_tainted(node: &Node) -> bool {
    node.spec
        .taints
        .iter()
        .any(|t| matches!(t.effect, TaintEffect::NoSchedule | TaintEffect::NoExecute))
}

/// Matching pods per node and per topology domain for every (namespace, selector) and
/// topology key PodTopologySpread has asked about, kept incrementally by the scheduler's
/// cache: each pod added to, removed from or updated on a listed node, and each node
/// added, removed or relabeled, adjusts the counts. An entry is created on first use with
/// one full count. So PreFilter and PreScore read per-domain totals (upstream counts them
/// by walking every node each cycle) and Score reads a node's count by its index.
///
/// Pod changes find the selectors to adjust through one `matchLabels` pair of each
/// selector (`by_label`); selectors without `matchLabels` are tested on every change.
#[derive(Debug, Default)]
pub struct SpreadIndex {
    node_count: usize,
    /// Nodes with NoSchedule or NoExecute taints (for `nodeTaintsPolicy: Honor`).
    hard_tainted_count: usize,
    keys: Vec<KeyDomains>,
    key_ids: FxIndexMap<Str, u32>,
    selectors: Vec<SelectorCounts>,
    /// namespace → selector → id.
    selector_ids: FxIndexMap<Str, FxIndexMap<LabelSelector, u32>>,
    /// The selectors' ids, each under one of its `matchLabels` pairs.
    by_label: SelectorsByPair<u32>,
    /// Non-terminating pods on the listed nodes per label key and value (any namespace):
    /// a new selector with a `matchLabels` pair no pod carries counts nothing, without a
    /// scan of every pod (the usual case: a new ReplicaSet's first pod).
    label_pods: FxIndexMap<Str, FxIndexMap<Str, u32>>,
}

impl SpreadIndex {
    /// An index over `nodes` (for tests and rebuilt snapshots); the cache keeps its own
    /// incrementally.
    pub fn from_nodes(nodes: &[NodeInfo]) -> SpreadIndex {
        let mut index = SpreadIndex::default();
        for info in nodes {
            index.node_added(&info.node, &info.pods.all);
        }
        index
    }

    /// Node `node_count` (the next index) joined the list with `pods` on it.
    pub fn node_added(&mut self, node: &Node, pods: &[Rc<Pod>]) {
        let index = self.node_count;
        self.node_count += 1;
        self.hard_tainted_count += usize::from(hard_tainted(node));
        for domains in &mut self.keys {
            let domain = domains.domain_of(node);
            domains.enter(domain);
            domains.nodes.push(domain);
        }
        for entry in &mut self.selectors {
            entry.per_node.push(0);
        }
        for pod in pods {
            self.pod_changed(index, pod, 1);
        }
    }

    /// Node `index`, with `pods` on it, left the list; the last node takes its index
    /// (`swap_remove`).
    pub fn node_removed(&mut self, index: usize, node: &Node, pods: &[Rc<Pod>]) {
        assert!(
            index < self.node_count,
            "removing node {index} of {}",
            self.node_count
        );
        for pod in pods {
            self.count_labels(pod, -1);
        }
        for entry in &mut self.selectors {
            let count = i64::from(entry.per_node[index]);
            for (key, totals) in &mut entry.per_domain {
                add_at(totals, self.keys[*key as usize].nodes[index].id, -count);
            }
            entry.per_node.swap_remove(index);
        }
        for domains in &mut self.keys {
            let domain = domains.nodes.swap_remove(index);
            domains.leave(domain);
        }
        self.hard_tainted_count -= usize::from(hard_tainted(node));
        self.node_count -= 1;
    }

    /// Node `index`'s object changed: its pods move to the domains of its new labels.
    pub fn node_updated(&mut self, index: usize, old: &Node, new: &Node) {
        assert!(
            index < self.node_count,
            "updating node {index} of {}",
            self.node_count
        );
        self.hard_tainted_count -= usize::from(hard_tainted(old));
        self.hard_tainted_count += usize::from(hard_tainted(new));
        if old.metadata.labels == new.metadata.labels {
            return;
        }
        for (key, domains) in self.keys.iter_mut().enumerate() {
            let before = domains.nodes[index];
            let after = domains.domain_of(new);
            if before == after {
                continue;
            }
            domains.leave(before);
            domains.enter(after);
            domains.nodes[index] = after;
            for entry in &mut self.selectors {
                let count = i64::from(entry.per_node[index]);
                if let Some((_, totals)) = entry
                    .per_domain
                    .iter_mut()
                    .find(|(k, _)| *k as usize == key)
                {
                    add_at(totals, before.id, -count);
                    add_at(totals, after.id, count);
                }
            }
        }
    }

    /// Adjusts `label_pods` for a non-terminating pod.
    fn count_labels(&mut self, pod: &Pod, delta: i64) {
        if pod.metadata.is_terminating() {
            return;
        }
        for (key, value) in pod.metadata.labels.iter() {
            let values = match self.label_pods.get_mut(&**key) {
                Some(values) => values,
                None => self.label_pods.entry(key.clone()).or_default(),
            };
            let count = match values.get_mut(&**value) {
                Some(count) => count,
                None => values.entry(value.clone()).or_insert(0),
            };
            *count = count
                .checked_add_signed(delta as i32)
                .expect("pods per label count");
            if *count == 0 {
                values.swap_remove(&**value);
                if values.is_empty() {
                    self.label_pods.swap_remove(&**key);
                }
            }
        }
    }

    /// `pod` was added to (`delta` 1) or removed from (−1) node `index`.
    pub fn pod_changed(&mut self, index: usize, pod: &Pod, delta: i64) {
        self.count_labels(pod, delta);
        if self.selectors.is_empty() || pod.metadata.is_terminating() {
            return;
        }
        let labels = &pod.metadata.labels;
        let SpreadIndex {
            keys,
            selectors,
            by_label,
            ..
        } = self;
        let apply = |id: u32| {
            let entry = &mut selectors[id as usize];
            if entry.namespace != pod.metadata.namespace || !entry.selector.matches(labels) {
                return;
            }
            let count = &mut entry.per_node[index];
            *count = count
                .checked_add_signed(delta as i32)
                .expect("matching pod count on a node");
            for (key, totals) in &mut entry.per_domain {
                add_at(totals, keys[*key as usize].nodes[index].id, delta);
            }
        };
        by_label.for_each_candidate(labels, apply);
    }

    /// Pod `old` on node `index` was replaced by `new` (same uid).
    pub fn pod_updated(&mut self, index: usize, old: &Pod, new: &Pod) {
        let same = old.metadata.labels == new.metadata.labels
            && old.metadata.namespace == new.metadata.namespace
            && old.metadata.is_terminating() == new.metadata.is_terminating();
        if !same {
            self.pod_changed(index, old, -1);
            self.pod_changed(index, new, 1);
        }
    }

    /// Makes room for `wanted` new selectors before ids are handed out: past
    /// [`MEMO_MAX_SELECTORS`] every selector is forgotten (and counted again when asked).
    fn make_room(&mut self, wanted: usize) {
        if self.selectors.len() + wanted > MEMO_MAX_SELECTORS {
            self.selectors.clear();
            self.selector_ids.clear();
            self.by_label.clear();
        }
    }

    fn key_id(&mut self, key: &Str, nodes: &[NodeInfo]) -> u32 {
        assert_eq!(
            self.node_count,
            nodes.len(),
            "spread index out of step with the nodes"
        );
        if let Some(&id) = self.key_ids.get(&**key) {
            return id;
        }
        let mut domains = KeyDomains {
            key: key.clone(),
            values: FxIndexSet::default(),
            nodes: Vec::with_capacity(nodes.len()),
            nodes_per_domain: Vec::new(),
            missing_count: 0,
        };
        for info in nodes {
            let domain = domains.domain_of(&info.node);
            domains.enter(domain);
            domains.nodes.push(domain);
        }
        let id = self.keys.len() as u32;
        self.keys.push(domains);
        self.key_ids.insert(key.clone(), id);
        id
    }

    fn selector_id(
        &mut self,
        namespace: &Str,
        selector: &LabelSelector,
        nodes: &[NodeInfo],
    ) -> u32 {
        assert_eq!(
            self.node_count,
            nodes.len(),
            "spread index out of step with the nodes"
        );
        if let Some(&id) = self
            .selector_ids
            .get(&**namespace)
            .and_then(|ids| ids.get(selector))
        {
            return id;
        }
        let id = self.selectors.len() as u32;
        let label_pods = &self.label_pods;
        let carried_by_none = selector.match_labels.iter().any(|(key, value)| {
            label_pods
                .get(&**key)
                .and_then(|values| values.get(&**value))
                .is_none()
        });
        let per_node = if carried_by_none {
            vec![0; nodes.len()]
        } else {
            nodes
                .iter()
                .map(|info| count_matching(&info.pods.all, namespace, selector))
                .collect()
        };
        self.selectors.push(SelectorCounts {
            namespace: namespace.clone(),
            selector: selector.clone(),
            per_node,
            per_domain: Vec::new(),
        });
        self.selector_ids
            .entry(namespace.clone())
            .or_default()
            .insert(selector.clone(), id);
        // Index under the matchLabels pair with the fewest selectors so far.
        let fewest = selector
            .match_labels
            .iter()
            .min_by_key(|(key, value)| self.by_label.under(key, value).len());
        self.by_label.insert(fewest, id);
        id
    }

    /// The per-domain totals of selector `selector` for key `key`, created on first use.
    fn ensure_domain_totals(&mut self, selector: u32, key: u32) {
        let entry = &mut self.selectors[selector as usize];
        if entry.per_domain.iter().any(|(k, _)| *k == key) {
            return;
        }
        let domains = &self.keys[key as usize];
        let mut totals = vec![0; domains.values.len()];
        for (count, domain) in entry.per_node.iter().zip(&domains.nodes) {
            totals[domain.id as usize] += i64::from(*count);
        }
        entry.per_domain.push((key, totals));
    }

    fn per_node(&self, selector: Option<u32>, index: usize) -> i64 {
        selector.map_or(0, |id| {
            i64::from(self.selectors[id as usize].per_node[index])
        })
    }

    fn domain_total(&self, selector: Option<u32>, key: u32, id: u32) -> i64 {
        let Some(selector) = selector else {
            return 0;
        };
        let (_, totals) = self.selectors[selector as usize]
            .per_domain
            .iter()
            .find(|(k, _)| *k == key)
            .expect("domain totals ensured");
        totals.get(id as usize).copied().unwrap_or(0)
    }

    fn domain(&self, key: u32, index: usize) -> NodeDomain {
        self.keys[key as usize].nodes[index]
    }

    fn domain_value(&self, key: u32, id: u32) -> &Str {
        &self.keys[key as usize].values[id as usize]
    }

    /// Recounts everything from `nodes` and asserts the kept counts agree: for tests and
    /// invariant checks.
    pub fn assert_consistent(&self, nodes: &[NodeInfo]) {
        assert_eq!(self.node_count, nodes.len());
        let tainted = nodes.iter().filter(|n| hard_tainted(&n.node)).count();
        assert_eq!(self.hard_tainted_count, tainted);
        let mut label_pods: FxIndexMap<(Str, Str), u32> = FxIndexMap::default();
        for pod in nodes.iter().flat_map(|n| &n.pods.all) {
            if !pod.metadata.is_terminating() {
                for (key, value) in pod.metadata.labels.iter() {
                    *label_pods.entry((key.clone(), value.clone())).or_default() += 1;
                }
            }
        }
        let kept: usize = self.label_pods.values().map(FxIndexMap::len).sum();
        assert_eq!(kept, label_pods.len(), "label pairs counted");
        for ((key, value), count) in &label_pods {
            assert_eq!(
                self.label_pods[&**key][&**value], *count,
                "pods with {key}={value}"
            );
        }
        for domains in &self.keys {
            let mut per_domain = vec![0u32; domains.values.len()];
            for (index, info) in nodes.iter().enumerate() {
                let domain = domains.nodes[index];
                let value = info.node.metadata.labels.get(&domains.key);
                assert_eq!(
                    value.is_none(),
                    domain.missing,
                    "{} on node {index}",
                    domains.key
                );
                assert_eq!(
                    &*domains.values[domain.id as usize],
                    value.map_or("", |v| &**v)
                );
                per_domain[domain.id as usize] += 1;
            }
            assert_eq!(domains.nodes_per_domain, per_domain, "{}", domains.key);
            let missing = domains.nodes.iter().filter(|d| d.missing).count();
            assert_eq!(domains.missing_count, missing);
        }
        for entry in &self.selectors {
            let per_node: Vec<u32> = nodes
                .iter()
                .map(|info| count_matching(&info.pods.all, &entry.namespace, &entry.selector))
                .collect();
            assert_eq!(entry.per_node, per_node, "{:?}", entry.selector);
            for (key, totals) in &entry.per_domain {
                let domains = &self.keys[*key as usize];
                let mut expected = vec![0i64; totals.len().max(domains.values.len())];
                for (count, domain) in per_node.iter().zip(&domains.nodes) {
                    expected[domain.id as usize] += i64::from(*count);
                }
                let mut have = totals.clone();
                have.resize(expected.len(), 0);
                assert_eq!(have, expected, "{:?} by {}", entry.selector, domains.key);
            }
        }
    }
}

/// The index ids of one constraint: its topology key and (when it has a selector) its
/// (namespace, selector).
#[derive(Clone, Copy, Debug)]
struct ConstraintIds {
    key: u32,
    selector: Option<u32>,
}

/// Looks up (creating on first use) the ids of `constraints`, with per-domain totals when
/// `domain_totals` says so for a constraint.
fn constraint_ids(
    index: &mut SpreadIndex,
    nodes: &[NodeInfo],
    namespace: &Str,
    constraints: &[Constraint],
    domain_totals: impl Fn(&Constraint) -> bool,
) -> Vec<ConstraintIds> {
    index.make_room(constraints.len());
    constraints
        .iter()
        .map(|constraint| {
            let key = index.key_id(&constraint.topology_key, nodes);
            let selector = constraint
                .selector
                .as_ref()
                .map(|selector| index.selector_id(namespace, selector, nodes));
            if let Some(selector) = selector
                && domain_totals(constraint)
            {
                index.ensure_domain_totals(selector, key);
            }
            ConstraintIds { key, selector }
        })
        .collect()
}

impl Constraint {
    /// Whether [`Constraint::includes`] holds for every node of the index without looking
    /// at them: the pod restricts no nodes (or the policy ignores that) and no node has a
    /// taint that could matter (or the policy ignores taints).
    fn includes_every_node(&self, pod: &PodInfo, index: &SpreadIndex) -> bool {
        (self.node_affinity_policy == NodeInclusionPolicy::Ignore
            || !has_required_node_affinity(&pod.pod))
            && (self.node_taints_policy == NodeInclusionPolicy::Ignore
                || index.hard_tainted_count == 0)
    }
}

/// The pod has a nodeSelector or required node affinity (which may exclude nodes).
fn has_required_node_affinity(pod: &Pod) -> bool {
    !pod.spec.node_selector.is_empty()
        || pod
            .spec
            .affinity
            .as_ref()
            .and_then(|a| a.node_affinity.as_ref())
            .is_some_and(|na| na.required.is_some())
}

/// Node `index` lacks one of the constraints' topology keys.
fn lacks_a_key(index: &SpreadIndex, ids: &[ConstraintIds], node: usize) -> bool {
    ids.iter().any(|c| index.domain(c.key, node).missing)
}

/// No node lacks any of the constraints' topology keys.
fn no_node_lacks_a_key(index: &SpreadIndex, ids: &[ConstraintIds]) -> bool {
    ids.iter()
        .all(|c| index.keys[c.key as usize].missing_count == 0)
}

// ---------------------------------------------------------------------------------------
// Filter

/// One hard constraint with its counts (upstream `preFilterState`).
#[derive(Clone, Debug)]
struct FilterConstraint {
    /// The constraint itself, for updating the counts (selector, minDomains, policies).
    constraint: Constraint,
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

    /// `PreFilterExtensions.AddPod`: counts `pod`, placed on `node`, for `incoming`'s
    /// constraints (preemption's dry run putting a pod back, a nominated pod).
    pub fn add_pod(&mut self, incoming: &PodInfo, pod: &Pod, node: &NodeInfo) {
        self.update_with_pod(incoming, pod, node, 1);
    }

    /// `PreFilterExtensions.RemovePod`: stops counting `pod` on `node` (a preemption
    /// victim).
    pub fn remove_pod(&mut self, incoming: &PodInfo, pod: &Pod, node: &NodeInfo) {
        self.update_with_pod(incoming, pod, node, -1);
    }

    /// `updateWithPod` (podtopologyspread/filtering.go): only a pod in the incoming pod's
    /// namespace, only on a node carrying every constraint's topology key; per constraint
    /// whose selector matches the pod and whose node inclusion policies admit the node,
    /// the node's domain count moves by `delta` and the global minimum follows. A
    /// terminating pod changes nothing: PreFilter did not count it (`countPodsMatchSelector`),
    /// where upstream would take it off all the same.
    fn update_with_pod(&mut self, incoming: &PodInfo, pod: &Pod, node: &NodeInfo, delta: i64) {
        if pod.metadata.namespace != incoming.pod.metadata.namespace
            || pod.metadata.is_terminating()
        {
            return;
        }
        let labels = &node.node.metadata.labels;
        if self
            .constraints
            .iter()
            .any(|c| labels.get(&c.topology_key).is_none())
        {
            return;
        }
        for c in &mut self.constraints {
            if !c.constraint.selects(&pod.metadata.labels) || !c.constraint.includes(incoming, node)
            {
                continue;
            }
            let value = labels
                .get(&c.topology_key)
                .expect("every topology key checked above");
            let count = c.counts.entry(value.clone()).or_insert(0);
            *count += delta;
            assert!(*count >= 0, "spread count below zero in {value}");
            c.min_count = global_min(&c.counts, c.constraint.min_domains);
        }
    }
}

/// The global minimum of the per-domain counts: 0 while there are fewer domains than
/// `min_domains` (`minMatchNum`).
fn global_min(counts: &FxIndexMap<Str, i64>, min_domains: i32) -> i64 {
    if (counts.len() as i64) < i64::from(min_domains) {
        0
    } else {
        counts.values().copied().min().unwrap_or(0)
    }
}

/// PreFilter (`calPreFilterState`). `None`: the pod has no `DoNotSchedule` constraint
/// (upstream Skip). When every node counts for a constraint (see
/// [`Constraint::includes_every_node`], and no node lacks a key) its per-domain totals
/// come from the index; otherwise the nodes are walked, as upstream does.
pub fn pre_filter(
    pod: &PodInfo,
    view: &ClusterView<'_>,
    spread: &RefCell<SpreadIndex>,
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
    let namespace = &pod.pod.metadata.namespace;
    let mut index = spread.borrow_mut();
    let every_node = constraints
        .iter()
        .all(|c| c.includes_every_node(pod, &index));
    let ids = constraint_ids(&mut index, view.nodes, namespace, &constraints, |_| {
        every_node
    });
    let every_node = every_node && no_node_lacks_a_key(&index, &ids);
    // Per constraint, per domain id: `None` until a considered node is in the domain.
    let mut per_domain: Vec<Vec<Option<i64>>> = ids
        .iter()
        .map(|c| vec![None; index.keys[c.key as usize].values.len()])
        .collect();
    if every_node {
        for (c, domains) in ids.iter().zip(&mut per_domain) {
            let nodes_per_domain = &index.keys[c.key as usize].nodes_per_domain;
            for (id, (slot, &nodes)) in domains.iter_mut().zip(nodes_per_domain).enumerate() {
                if nodes > 0 {
                    *slot = Some(index.domain_total(c.selector, c.key, id as u32));
                }
            }
        }
    } else {
        for (node, info) in view.nodes.iter().enumerate() {
            if lacks_a_key(&index, &ids, node) {
                continue;
            }
            for ((constraint, c), domains) in constraints.iter().zip(&ids).zip(&mut per_domain) {
                if constraint.includes(pod, info) {
                    let id = index.domain(c.key, node).id as usize;
                    *domains[id].get_or_insert(0) += index.per_node(c.selector, node);
                }
            }
        }
    }
    let constraints = constraints
        .iter()
        .zip(&ids)
        .zip(per_domain)
        .map(|((constraint, c), domains)| {
            let counts: FxIndexMap<Str, i64> = domains
                .iter()
                .enumerate()
                .filter_map(|(id, count)| {
                    count.map(|n| (index.domain_value(c.key, id as u32).clone(), n))
                })
                .collect();
            let min_count = global_min(&counts, constraint.min_domains);
            FilterConstraint {
                constraint: constraint.clone(),
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

/// What PreScore computed for Score and NormalizeScore (upstream `preScoreState`), with
/// the cache's index to read each node's domain and hostname count from.
#[derive(Debug)]
pub struct SpreadScoreState<'a> {
    index: Ref<'a, SpreadIndex>,
    constraints: Vec<ScoreConstraint>,
    /// Some node lacks a topology key and such nodes are ignored (scored 0): the
    /// constraints are the pod's own or configured ones (`requireAllTopologies`).
    ignores_some: bool,
}

#[derive(Clone, Debug)]
struct ScoreConstraint {
    ids: ConstraintIds,
    hostname: bool,
    max_skew: i32,
    /// `ln(domains + 2)`.
    weight: f64,
    /// `scoreForCount` of the matching pods per domain id, for the domains of the
    /// feasible nodes (not for the hostname constraint, which reads the node's own count).
    domain_scores: Vec<f64>,
}

/// PreScore. `None`: no soft constraint applies to the pod (upstream Skip: the plugin
/// scores 0 on every node). Domain totals come from the index when every node counts
/// for a constraint; otherwise every node is walked, as upstream does.
pub fn pre_score<'a>(
    pod: &PodInfo,
    view: &ClusterView<'_>,
    spread: &'a RefCell<SpreadIndex>,
    feasible: &[usize],
    args: &SpreadArgs,
    memo: &mut SpreadMemo,
) -> Option<SpreadScoreState<'a>> {
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
    let namespace = &pod.pod.metadata.namespace;
    let ids = {
        let mut index = spread.borrow_mut();
        let index = &mut *index;
        let included: Vec<bool> = constraints
            .iter()
            .map(|c| c.includes_every_node(pod, index))
            .collect();
        let ids = constraint_ids(index, view.nodes, namespace, &constraints, |c| {
            !c.is_hostname()
        });
        let all_keys = !require_all_topologies || no_node_lacks_a_key(index, &ids);
        ids.into_iter()
            .zip(included)
            .map(|(ids, included)| (ids, included && all_keys))
            .collect::<Vec<_>>()
    };
    let index = spread.borrow();
    let key_ids: Vec<ConstraintIds> = ids.iter().map(|(c, _)| *c).collect();
    let ignores_some = require_all_topologies && !no_node_lacks_a_key(&index, &key_ids);

    // The domains of the feasible nodes (`initPreScoreState`).
    let mut per_domain: Vec<Vec<Option<i64>>> = constraints
        .iter()
        .zip(&key_ids)
        .map(|(constraint, c)| {
            let size = if constraint.is_hostname() {
                0
            } else {
                index.keys[c.key as usize].values.len()
            };
            vec![None; size]
        })
        .collect();
    let mut ignored = 0usize;
    if ignores_some {
        for &node in feasible {
            if lacks_a_key(&index, &key_ids, node) {
                ignored += 1;
                continue;
            }
            for (constraint, (c, domains)) in
                constraints.iter().zip(key_ids.iter().zip(&mut per_domain))
            {
                if !constraint.is_hostname() {
                    domains[index.domain(c.key, node).id as usize].get_or_insert(0);
                }
            }
        }
    } else {
        // No node is ignored: each constraint's domains are those of the feasible nodes,
        // and the walk ends once every domain holding a node has been seen (a few zones
        // are usually all seen within the first feasible nodes).
        for (constraint, (c, domains)) in
            constraints.iter().zip(key_ids.iter().zip(&mut per_domain))
        {
            if constraint.is_hostname() {
                continue;
            }
            let key = &index.keys[c.key as usize];
            let mut unseen = key.nodes_per_domain.iter().filter(|&&n| n > 0).count();
            for &node in feasible {
                if unseen == 0 {
                    break;
                }
                let slot = &mut domains[key.nodes[node].id as usize];
                if slot.is_none() {
                    *slot = Some(0);
                    unseen -= 1;
                }
            }
        }
    }
    let considered = feasible.len() - ignored;

    // Matching pods per domain over all nodes (`PreScore`'s processAllNode).
    for (constraint, ((c, every_node), domains)) in
        constraints.iter().zip(ids.iter().zip(&mut per_domain))
    {
        if constraint.is_hostname() {
            continue;
        }
        if *every_node {
            for (id, slot) in domains.iter_mut().enumerate() {
                if let Some(count) = slot {
                    *count = index.domain_total(c.selector, c.key, id as u32);
                }
            }
            continue;
        }
        for (node, info) in view.nodes.iter().enumerate() {
            if ignores_some && lacks_a_key(&index, &key_ids, node) {
                continue;
            }
            if !constraint.includes(pod, info) {
                continue;
            }
            if let Some(count) = &mut domains[index.domain(c.key, node).id as usize] {
                *count += index.per_node(c.selector, node);
            }
        }
    }

    let constraints = constraints
        .iter()
        .zip(key_ids)
        .zip(per_domain)
        .map(|((constraint, ids), domains)| {
            let size = if constraint.is_hostname() {
                considered
            } else {
                domains.iter().filter(|d| d.is_some()).count()
            };
            let weight = topology_normalizing_weight(size);
            ScoreConstraint {
                ids,
                hostname: constraint.is_hostname(),
                max_skew: constraint.max_skew,
                weight,
                domain_scores: domains
                    .into_iter()
                    .map(|d| score_for_count(d.unwrap_or(0), constraint.max_skew, weight))
                    .collect(),
            }
        })
        .collect();
    Some(SpreadScoreState {
        index,
        constraints,
        ignores_some,
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

impl SpreadScoreState<'_> {
    /// Node `node` lacks a topology key and is ignored.
    fn ignores(&self, node: usize) -> bool {
        self.ignores_some
            && self
                .constraints
                .iter()
                .any(|c| self.index.domain(c.ids.key, node).missing)
    }
}

/// Score: the raw score of the feasible node at `node` in the cache's list (lower is
/// better before normalizing).
pub fn score(state: &SpreadScoreState<'_>, node: usize) -> i64 {
    if state.ignores(node) {
        return 0;
    }
    let mut total = 0.0f64;
    for constraint in &state.constraints {
        let domain = state.index.domain(constraint.ids.key, node);
        if domain.missing {
            continue;
        }
        total += if constraint.hostname {
            let count = state.index.per_node(constraint.ids.selector, node);
            score_for_count(count, constraint.max_skew, constraint.weight)
        } else {
            constraint.domain_scores[domain.id as usize]
        };
    }
    round_non_negative(total)
}

/// Scratch space of [`score_feasible`], kept across cycles.
#[derive(Debug, Default)]
pub struct ScoreScratch {
    /// Unrounded sums, one per feasible node.
    sums: Vec<f64>,
    /// Scores by (hostname count, domain) (see `HostnamePair`).
    by_pair: Vec<i64>,
}

/// Score for every feasible node at once: `scores[i]` is [`score`] of `feasible[i]`.
/// Without ignored nodes the sums are built constraint by constraint, one tight loop over
/// the feasible nodes each reading the constraint's own slices (the nodes' domains, the
/// hostname counts); every node still adds its constraints in their order, starting from
/// 0, so each sum is the same float as [`score`]'s.
pub fn score_feasible(
    state: &SpreadScoreState<'_>,
    feasible: &[usize],
    scratch: &mut ScoreScratch,
    scores: &mut [i64],
) {
    assert_eq!(feasible.len(), scores.len(), "one score per feasible node");
    if state.ignores_some {
        for (score, &node) in scores.iter_mut().zip(feasible) {
            *score = self::score(state, node);
        }
        return;
    }
    let index = &*state.index;
    if let Some(pair) = HostnamePair::of(state) {
        pair.score_feasible(feasible, &mut scratch.by_pair, scores);
        return;
    }
    let sums = &mut scratch.sums;
    sums.clear();
    sums.resize(feasible.len(), 0.0);
    for constraint in &state.constraints {
        let domains = index.keys[constraint.ids.key as usize].nodes.as_slice();
        match (constraint.hostname, constraint.ids.selector) {
            (true, Some(selector)) => {
                let counts = index.selectors[selector as usize].per_node.as_slice();
                for (sum, &node) in sums.iter_mut().zip(feasible) {
                    if !domains[node].missing {
                        let count = i64::from(counts[node]);
                        *sum += score_for_count(count, constraint.max_skew, constraint.weight);
                    }
                }
            }
            (true, None) => {
                let value = score_for_count(0, constraint.max_skew, constraint.weight);
                for (sum, &node) in sums.iter_mut().zip(feasible) {
                    if !domains[node].missing {
                        *sum += value;
                    }
                }
            }
            (false, _) => {
                let values = constraint.domain_scores.as_slice();
                for (sum, &node) in sums.iter_mut().zip(feasible) {
                    let domain = domains[node];
                    if !domain.missing {
                        *sum += values[domain.id as usize];
                    }
                }
            }
        }
    }
    for (score, &sum) in scores.iter_mut().zip(sums.iter()) {
        *score = round_non_negative(sum);
    }
}

/// Score then NormalizeScore for every feasible node: `scores[i]` is what [`normalize`]
/// makes of [`score`] of `feasible[i]`. For the system defaults' shape (`HostnamePair`) a
/// node's normalized score, like its raw one, follows from its (hostname count, domain)
/// pair: each pair present is scored and normalized once, and the nodes read the result.
pub fn score_normalized_feasible(
    state: &SpreadScoreState<'_>,
    feasible: &[usize],
    scratch: &mut ScoreScratch,
    scores: &mut [i64],
) {
    assert_eq!(feasible.len(), scores.len(), "one score per feasible node");
    match HostnamePair::of(state) {
        Some(pair) if !state.ignores_some => {
            pair.score_normalized_feasible(feasible, &mut scratch.by_pair, scores)
        }
        _ => {
            score_feasible(state, feasible, scratch, scores);
            normalize(state, feasible, scores);
        }
    }
}

/// The system defaults' shape, one hostname constraint with a selector and one other
/// constraint, on nodes that all carry both keys: a node's score is a function of its own
/// matching pods and its domain in the other constraint, so it is computed once per such
/// pair in a cycle and looked up for the other nodes with that pair.
struct HostnamePair<'a> {
    /// The hostname constraint comes first in the pod's list (the sum adds in list order).
    hostname_first: bool,
    hostname: &'a ScoreConstraint,
    other: &'a ScoreConstraint,
    counts: &'a [u32],
    domains: &'a [NodeDomain],
}

impl<'a> HostnamePair<'a> {
    fn of(state: &'a SpreadScoreState<'_>) -> Option<HostnamePair<'a>> {
        let [first, second] = state.constraints.as_slice() else {
            return None;
        };
        let (hostname, other, hostname_first) = match (first.hostname, second.hostname) {
            (true, false) => (first, second, true),
            (false, true) => (second, first, false),
            _ => return None,
        };
        let index = &*state.index;
        let keys_everywhere = [hostname, other]
            .iter()
            .all(|c| index.keys[c.ids.key as usize].missing_count == 0);
        if !keys_everywhere {
            return None;
        }
        let selector = hostname.ids.selector?;
        Some(HostnamePair {
            hostname_first,
            hostname,
            other,
            counts: &index.selectors[selector as usize].per_node,
            domains: &index.keys[other.ids.key as usize].nodes,
        })
    }

    /// What [`score`] computes for a node with `count` matching pods in domain `domain`
    /// of the other constraint: the same additions in the same order.
    fn score(&self, count: u32, domain: u32) -> i64 {
        let by_hostname = score_for_count(
            i64::from(count),
            self.hostname.max_skew,
            self.hostname.weight,
        );
        let by_domain = self.other.domain_scores[domain as usize];
        let mut total = 0.0f64;
        if self.hostname_first {
            total += by_hostname;
            total += by_domain;
        } else {
            total += by_domain;
            total += by_hostname;
        }
        round_non_negative(total)
    }

    /// `table` is scratch space: the score per (count, domain), −1 until computed.
    fn score_feasible(&self, feasible: &[usize], table: &mut Vec<i64>, scores: &mut [i64]) {
        let stride = self.other.domain_scores.len();
        table.clear();
        for (score, &node) in scores.iter_mut().zip(feasible) {
            let count = self.counts[node];
            let domain = self.domains[node].id;
            let slot = count as usize * stride + domain as usize;
            if slot >= table.len() {
                table.resize(slot + 1, -1);
            }
            if table[slot] < 0 {
                table[slot] = self.score(count, domain);
            }
            *score = table[slot];
        }
    }

    /// [`HostnamePair::score_feasible`] followed by [`normalize_all`], computed per pair:
    /// the minimum and maximum over the nodes are those over the pairs present, and
    /// normalizing is a function of the raw score. `scores` holds each node's place in
    /// the table until the table is normalized.
    fn score_normalized_feasible(
        &self,
        feasible: &[usize],
        table: &mut Vec<i64>,
        scores: &mut [i64],
    ) {
        let stride = self.other.domain_scores.len();
        let (counts, domains) = (self.counts, self.domains);
        table.clear();
        let mut min = i64::MAX;
        let mut max = 0i64;
        for (score, &node) in scores.iter_mut().zip(feasible) {
            let count = counts[node];
            let domain = domains[node].id;
            let slot = count as usize * stride + domain as usize;
            if slot >= table.len() {
                table.resize(slot + 1, -1);
            }
            let cell = &mut table[slot];
            if *cell < 0 {
                let raw = self.score(count, domain);
                *cell = raw;
                min = min.min(raw);
                max = max.max(raw);
            }
            *score = slot as i64;
        }
        // As `normalize_all`; the pairs no node has stay −1 and are never read.
        for value in table.iter_mut().filter(|value| **value >= 0) {
            *value = if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - *value) / max
            };
        }
        for score in scores.iter_mut() {
            *score = table[*score as usize];
        }
    }
}

/// Go's `math.Round` (half away from zero) for the non-negative sums Score adds up, without
/// the libm call `f64::round` becomes on baseline x86-64 (it ran once per scored node).
/// Exact: truncation and the fractional part of a double are exact, and a sum at or above
/// 2^52 is already an integer.
fn round_non_negative(value: f64) -> i64 {
    assert!(
        (0.0..9.0e15).contains(&value),
        "spread score {value} out of range"
    );
    let whole = value as i64;
    whole + i64::from(value - whole as f64 >= 0.5)
}

/// NormalizeScore: ignored nodes 0; otherwise `100 × (max + min − s) / max` (all 100
/// when the maximum is 0). `scores[i]` belongs to the node at `feasible[i]`.
pub fn normalize(state: &SpreadScoreState<'_>, feasible: &[usize], scores: &mut [i64]) {
    assert_eq!(feasible.len(), scores.len(), "one score per feasible node");
    if !state.ignores_some {
        normalize_all(scores);
        return;
    }
    let mut min = i64::MAX;
    let mut max = 0i64;
    for (score, &node) in scores.iter().zip(feasible) {
        if !state.ignores(node) {
            min = min.min(*score);
            max = max.max(*score);
        }
    }
    // Raw scores repeat from node to node: the last division is reused.
    let mut last: Option<(i64, i64)> = None;
    for (score, &node) in scores.iter_mut().zip(feasible) {
        *score = if state.ignores(node) {
            0
        } else if max == 0 {
            MAX_NODE_SCORE
        } else if let Some((raw, normalized)) = last
            && raw == *score
        {
            normalized
        } else {
            let normalized = MAX_NODE_SCORE * (max + min - *score) / max;
            last = Some((*score, normalized));
            normalized
        };
    }
}

/// [`normalize`] when no node is ignored.
fn normalize_all(scores: &mut [i64]) {
    let mut min = i64::MAX;
    let mut max = 0i64;
    for &score in scores.iter() {
        min = min.min(score);
        max = max.max(score);
    }
    if max == 0 {
        scores.fill(MAX_NODE_SCORE);
        return;
    }
    // Raw scores repeat from node to node: the last division is reused.
    let mut last: Option<(i64, i64)> = None;
    for score in scores.iter_mut() {
        *score = match last {
            Some((raw, normalized)) if raw == *score => normalized,
            _ => {
                let normalized = MAX_NODE_SCORE * (max + min - *score) / max;
                last = Some((*score, normalized));
                normalized
            }
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

        /// The index the cache would keep for these nodes.
        fn index(&self) -> RefCell<SpreadIndex> {
            RefCell::new(SpreadIndex::from_nodes(&self.nodes))
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
        let state = pre_filter(
            &pod,
            &world.view(),
            &world.index(),
            &SpreadArgs::default(),
            &mut memo,
        );
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
    fn removing_and_adding_pods_moves_the_domain_count_and_the_minimum() {
        use UnsatisfiableConstraintAction::DoNotSchedule;
        // Upstream filtering_test.go "preemption" cases: zone1 = 3, zone2 = 1.
        let world = zones_3_1();
        let mut memo = SpreadMemo::default();
        let pod = incoming(vec![constraint(ZONE, 1, DoNotSchedule)]);
        let mut st = pre_filter(
            &pod,
            &world.view(),
            &world.index(),
            &SpreadArgs::default(),
            &mut memo,
        )
        .expect("a hard constraint");
        let x1 = pod_on(&world.nodes[2], "p-x1");
        st.remove_pod(&pod, &x1, &world.nodes[2]);
        assert_eq!((st.count(0, "zone1"), st.count(0, "zone2")), (3, 0));
        assert_eq!(st.min_count(0), 0);
        // zone2 is empty now: 0 + 1 − 0 = 1 on node-x, 3 + 1 − 0 on node-a.
        assert_eq!(filter(&st, &pod, &world.nodes[2]), Ok(()));
        // Not counted: another namespace, a pod the selector does not match, a node
        // without the topology key.
        let mut elsewhere = pod_on(&world.nodes[0], "p-a1").as_ref().clone();
        elsewhere.metadata.namespace = s("other");
        st.remove_pod(&pod, &elsewhere, &world.nodes[0]);
        st.remove_pod(&pod, &pod_on(&world.nodes[3], "p-y1"), &world.nodes[3]);
        let unzoned = node("node-z", None);
        st.add_pod(&pod, &x1, &unzoned);
        assert_eq!((st.count(0, "zone1"), st.count(0, "zone2")), (3, 0));
        st.add_pod(&pod, &x1, &world.nodes[2]);
        assert_eq!((st.count(0, "zone1"), st.count(0, "zone2")), (3, 1));
        assert_eq!(st.min_count(0), 1);

        // minDomains 3 over two zones: the minimum stays 0 whatever moves.
        let mut three = constraint(ZONE, 1, DoNotSchedule);
        three.min_domains = Some(3);
        let pod = incoming(vec![three]);
        let mut st = pre_filter(
            &pod,
            &world.view(),
            &world.index(),
            &SpreadArgs::default(),
            &mut memo,
        )
        .expect("a hard constraint");
        st.add_pod(&pod, &x1, &world.nodes[3]);
        assert_eq!(st.count(0, "zone2"), 2);
        assert_eq!(st.min_count(0), 0);
    }

    /// The pod `name` on `node`.
    fn pod_on(node: &NodeInfo, name: &str) -> Rc<Pod> {
        node.pods
            .all
            .iter()
            .find(|p| &*p.metadata.name == name)
            .expect("placed")
            .clone()
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
        let state = pre_filter(
            &pod,
            &world.view(),
            &world.index(),
            &SpreadArgs::default(),
            &mut memo,
        );
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
        let state = pre_filter(&pod, &world.view(), &world.index(), &args, &mut memo).unwrap();
        assert_eq!(
            filter(&state, &pod, &world.nodes[4]),
            Err(Unfit::TopologySpreadMissingLabel)
        );

        // minDomains 3 with two zones: the global minimum counts as 0, so zone2 gives
        // 1 + 1 − 0 = 2 > 1 too.
        let mut wide = constraint(ZONE, 1, DoNotSchedule);
        wide.min_domains = Some(3);
        let pod = incoming(vec![wide]);
        let state = pre_filter(&pod, &world.view(), &world.index(), &args, &mut memo);
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
            let state = pre_filter(&pod, &world.view(), &world.index(), &args, &mut memo).unwrap();
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
        let state = pre_filter(
            &pod,
            &world.view(),
            &world.index(),
            &SpreadArgs::default(),
            &mut memo,
        );
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
        let spread = world.index();
        let state = pre_score(pod, &world.view(), &spread, &feasible, args, memo)?;
        let mut scores: Vec<i64> = feasible.iter().map(|&i| score(&state, i)).collect();
        normalize(&state, &feasible, &mut scores);
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
        let spread = world.index();
        let state = pre_score(&pod, &world.view(), &spread, &feasible, &args, &mut memo).unwrap();
        let raw: Vec<i64> = (0..world.nodes.len()).map(|i| score(&state, i)).collect();
        assert_eq!(raw, [4, 2, 2, 0]);
        drop(state);
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
        assert!(pre_filter(&web, &world.view(), &world.index(), &args, &mut memo).is_none());
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
    fn the_memo_finds_the_same_default_selectors_through_its_label_index() {
        let expression = LabelSelector {
            match_labels: Labels::new(),
            match_expressions: vec![SelectorRequirement {
                key: s("tier"),
                operator: SelectorOperator::Exists,
                values: Vec::new(),
            }],
        };
        let workloads = vec![
            (s("default"), expression),
            (
                s("default"),
                LabelSelector::from_labels(Labels::from_pairs([("app", "web")])),
            ),
            (
                s("default"),
                LabelSelector::from_labels(Labels::from_pairs([
                    ("app", "web"),
                    ("pod-template-hash", "abc"),
                ])),
            ),
            (
                s("default"),
                LabelSelector::from_labels(Labels::from_pairs([("tier", "front")])),
            ),
            (
                s("elsewhere"),
                LabelSelector::from_labels(Labels::from_pairs([("app", "web")])),
            ),
        ];
        let mut memo = SpreadMemo::default();
        let pods = [
            pod("a", &[("app", "web"), ("pod-template-hash", "abc")]),
            pod("b", &[("app", "web"), ("tier", "front")]),
            pod("c", &[("tier", "back")]),
            pod("d", &[("app", "db")]),
        ];
        for pod in &pods {
            let expected = default_selector(pod, &workloads);
            let found = memo.default_selector(pod, &workloads);
            assert_eq!(found.as_deref(), expected.as_ref(), "{}", pod.metadata.name);
        }
    }

    #[test]
    fn required_node_affinity_operators() {
        use crate::api::{Affinity, NodeAffinity, NodeSelectorRequirement, NodeSelectorTerm};
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
        use crate::api::NodeSelectorOperator::*;
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

    /// Upstream's counting, node by node, without the index: the reference the index's
    /// fast and slow paths must agree with. Returns each hard constraint's (counts by
    /// domain value, global minimum).
    fn naive_filter_counts(
        pod: &PodInfo,
        constraints: &[Constraint],
        nodes: &[NodeInfo],
    ) -> Vec<(Vec<(Str, i64)>, i64)> {
        let namespace = &pod.pod.metadata.namespace;
        constraints
            .iter()
            .map(|c| {
                let mut counts: FxIndexMap<Str, i64> = FxIndexMap::default();
                for node in nodes {
                    if !has_all_keys(node, constraints) || !c.includes(pod, node) {
                        continue;
                    }
                    let value = node.node.metadata.labels.get(&c.topology_key).unwrap();
                    let matching = c
                        .selector
                        .as_ref()
                        .map_or(0, |sel| count_matching(&node.pods.all, namespace, sel));
                    *counts.entry(value.clone()).or_insert(0) += i64::from(matching);
                }
                let min = if (counts.len() as i64) < i64::from(c.min_domains) {
                    0
                } else {
                    counts.values().copied().min().unwrap_or(0)
                };
                let mut counts: Vec<(Str, i64)> = counts.into_iter().collect();
                counts.sort();
                (counts, min)
            })
            .collect()
    }

    fn has_all_keys(node: &NodeInfo, constraints: &[Constraint]) -> bool {
        let labels = &node.node.metadata.labels;
        constraints
            .iter()
            .all(|c| labels.get(&c.topology_key).is_some())
    }

    /// Upstream's PreScore, Score and NormalizeScore, node by node, without the index.
    fn naive_scores(
        pod: &PodInfo,
        constraints: &[Constraint],
        require_all: bool,
        nodes: &[NodeInfo],
        feasible: &[usize],
    ) -> Vec<i64> {
        let namespace = &pod.pod.metadata.namespace;
        let matching = |c: &Constraint, node: &NodeInfo| {
            c.selector.as_ref().map_or(0, |sel| {
                i64::from(count_matching(&node.pods.all, namespace, sel))
            })
        };
        let skip = |node: &NodeInfo| require_all && !has_all_keys(node, constraints);
        let value_of = |c: &Constraint, node: &NodeInfo| {
            node.node
                .metadata
                .labels
                .get(&c.topology_key)
                .cloned()
                .unwrap_or_else(|| s(""))
        };
        let mut pairs: Vec<FxIndexMap<Str, i64>> = vec![FxIndexMap::default(); constraints.len()];
        let mut ignored = 0;
        for &i in feasible {
            if skip(&nodes[i]) {
                ignored += 1;
                continue;
            }
            for (c, pairs) in constraints.iter().zip(&mut pairs) {
                if !c.is_hostname() {
                    pairs.entry(value_of(c, &nodes[i])).or_insert(0);
                }
            }
        }
        for node in nodes.iter().filter(|n| !skip(n)) {
            for (c, pairs) in constraints.iter().zip(&mut pairs) {
                if c.is_hostname() || !c.includes(pod, node) {
                    continue;
                }
                if let Some(count) = pairs.get_mut(&value_of(c, node)) {
                    *count += matching(c, node);
                }
            }
        }
        let weights: Vec<f64> = constraints
            .iter()
            .zip(&pairs)
            .map(|(c, pairs)| {
                let size = if c.is_hostname() {
                    feasible.len() - ignored
                } else {
                    pairs.len()
                };
                topology_normalizing_weight(size)
            })
            .collect();
        let mut scores: Vec<i64> = feasible
            .iter()
            .map(|&i| {
                let node = &nodes[i];
                if skip(node) {
                    return 0;
                }
                let mut total = 0.0;
                for ((c, pairs), weight) in constraints.iter().zip(&pairs).zip(&weights) {
                    let Some(value) = node.node.metadata.labels.get(&c.topology_key) else {
                        continue;
                    };
                    let count = if c.is_hostname() {
                        matching(c, node)
                    } else {
                        pairs[value]
                    };
                    total += score_for_count(count, c.max_skew, *weight);
                }
                total.round() as i64
            })
            .collect();
        let considered: Vec<i64> = feasible
            .iter()
            .zip(&scores)
            .filter(|(i, _)| !skip(&nodes[**i]))
            .map(|(_, s)| *s)
            .collect();
        let max = considered.iter().copied().max().unwrap_or(0);
        let min = considered.iter().copied().min().unwrap_or(i64::MAX);
        for (score, &i) in scores.iter_mut().zip(feasible) {
            *score = if skip(&nodes[i]) {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - *score) / max
            };
        }
        scores
    }

    /// A random incoming pod: its own random constraints, or none (system defaults).
    fn random_incoming(rng: &mut SimRng) -> PodInfo {
        use UnsatisfiableConstraintAction::{DoNotSchedule, ScheduleAnyway};
        let app = ["a", "b", "c"][rng.below(3) as usize];
        let mut p = pod("incoming", &[("app", app)]);
        if rng.chance(1, 3) {
            p.metadata.labels.insert(s("foo"), s(""));
        }
        if rng.chance(1, 6) {
            p.metadata.namespace = s("other");
        }
        if rng.chance(1, 4) {
            p.spec.node_selector = Labels::from_pairs([("disk", "ssd")]);
        }
        if rng.chance(1, 4) {
            p.spec.tolerations = Rc::from(vec![crate::api::Toleration {
                key: s("dedicated"),
                operator: crate::api::TolerationOperator::Exists,
                value: s(""),
                effect: None,
                toleration_seconds: None,
            }]);
        }
        if rng.chance(1, 3) {
            return PodInfo::new(Rc::new(p)); // system defaults, if a workload selects it
        }
        let mut constraints = Vec::new();
        for _ in 0..1 + rng.below(2) {
            let key = [ZONE, LABEL_HOSTNAME, "rack"][rng.below(3) as usize];
            let action = if rng.chance(1, 2) {
                DoNotSchedule
            } else {
                ScheduleAnyway
            };
            let mut c = constraint(key, 1 + rng.below(3) as i32, action);
            c.label_selector = match rng.below(4) {
                0 => None,
                1 => Some(foo_selector()),
                _ => Some(LabelSelector::from_labels(Labels::from_pairs([(
                    "app", app,
                )]))),
            };
            if rng.chance(1, 3) {
                c.min_domains = Some(1 + rng.below(4) as i32);
            }
            let policy = |rng: &mut SimRng| {
                if rng.chance(1, 2) {
                    NodeInclusionPolicy::Honor
                } else {
                    NodeInclusionPolicy::Ignore
                }
            };
            c.node_affinity_policy = policy(rng);
            c.node_taints_policy = policy(rng);
            constraints.push(c);
        }
        p.spec.topology_spread_constraints = constraints.into();
        PodInfo::new(Rc::new(p))
    }

    /// Random pod and node changes through the cache; after each round the index agrees
    /// with a recount, and PreFilter's and PreScore's results (fast or slow path) agree
    /// with upstream's node-by-node counting.
    #[test]
    fn index_counts_equal_a_naive_recount_after_random_changes() {
        use crate::api::{Taint, TaintEffect};
        use crate::scheduler::cache::Cache;
        let mut rng = SimRng::for_stream(7, "spread-index");
        let mut cache = Cache::default();
        let zones = [Some("z1"), Some("z2"), Some("z3"), Some(""), None];
        let random_node = |rng: &mut SimRng, name: &str| {
            let mut n = (*node(name, zones[rng.below(5) as usize]).node).clone();
            if rng.chance(1, 3) {
                n.metadata.labels.insert(s("disk"), s("ssd"));
            }
            if rng.chance(2, 3) {
                n.metadata
                    .labels
                    .insert(s("rack"), s(["r1", "r2"][rng.below(2) as usize]));
            }
            if rng.chance(1, 8) {
                n.metadata.labels.remove(LABEL_HOSTNAME);
            }
            if rng.chance(1, 6) {
                n.spec.taints = vec![Taint {
                    key: s("dedicated"),
                    value: s(""),
                    effect: TaintEffect::NoSchedule,
                    time_added: None,
                }];
            }
            Rc::new(n)
        };
        for i in 0..6 {
            let n = random_node(&mut rng, &format!("n{i}"));
            cache.set_node(n);
        }
        for app in ["a", "b"] {
            let selector = LabelSelector::from_labels(Labels::from_pairs([("app", app)]));
            cache.set_workload("ReplicaSet", s("default"), s(app), Some(selector));
        }
        let mut pods: Vec<Rc<Pod>> = Vec::new();
        let mut next_uid = 1u64;
        let mut fast_paths = 0;
        for round in 0..600 {
            for _ in 0..rng.below(5) {
                let names: Vec<Str> = cache.nodes().iter().map(|n| n.name().clone()).collect();
                match rng.below(12) {
                    0..=4 => {
                        let app = ["a", "b", "c"][rng.below(3) as usize];
                        let mut p = pod(&format!("p{next_uid}"), &[("app", app)]);
                        if rng.chance(1, 3) {
                            p.metadata.labels.insert(s("foo"), s(""));
                        }
                        if rng.chance(1, 5) {
                            p.metadata.namespace = s("other");
                        }
                        p.metadata.uid = next_uid;
                        next_uid += 1;
                        // Mostly on a listed node; sometimes on one not (yet) listed.
                        let node = if rng.chance(1, 8) || names.is_empty() {
                            s(&format!("n{}", rng.below(9)))
                        } else {
                            names[rng.below(names.len() as u64) as usize].clone()
                        };
                        if rng.chance(1, 4) && !names.is_empty() {
                            // Pending, assumed onto a node by the scheduler.
                            let pending = Rc::new(p);
                            cache.on_pod(None, Some(&pending));
                            let target = rng.below(names.len() as u64) as usize;
                            cache.assume(&PodInfo::new(pending.clone()), target);
                            if rng.chance(1, 3) {
                                cache.forget(pending.metadata.uid);
                                cache.on_pod(Some(&pending), None);
                            } else {
                                let mut bound = (*pending).clone();
                                bound.spec.node_name = Some(names[target].clone());
                                let bound = Rc::new(bound);
                                cache.on_pod(Some(&pending), Some(&bound));
                                pods.push(bound);
                            }
                        } else {
                            p.spec.node_name = Some(node);
                            let p = Rc::new(p);
                            cache.on_pod(None, Some(&p));
                            pods.push(p);
                        }
                    }
                    5..=6 if !pods.is_empty() => {
                        let p = pods.swap_remove(rng.below(pods.len() as u64) as usize);
                        cache.on_pod(Some(&p), None);
                    }
                    7..=8 if !pods.is_empty() => {
                        // Relabel or start terminating.
                        let at = rng.below(pods.len() as u64) as usize;
                        let mut changed = (*pods[at]).clone();
                        if rng.chance(1, 2) {
                            changed.metadata.deletion_timestamp = Some(SimTime::ZERO);
                        } else {
                            let app = ["a", "b", "c"][rng.below(3) as usize];
                            changed.metadata.labels.insert(s("app"), s(app));
                        }
                        let changed = Rc::new(changed);
                        cache.on_pod(Some(&pods[at]), Some(&changed));
                        pods[at] = changed;
                    }
                    9 if names.len() > 2 => {
                        cache.remove_node(&names[rng.below(names.len() as u64) as usize]);
                    }
                    _ => {
                        // A node joins or an existing one changes labels and taints.
                        let name = format!("n{}", rng.below(9));
                        let n = random_node(&mut rng, &name);
                        cache.set_node(n);
                    }
                }
            }
            cache.refresh();
            let nodes = cache.nodes();
            let view = cache.view();
            let mut memo = SpreadMemo::default();
            for _ in 0..3 {
                let pod = random_incoming(&mut rng);
                let args = SpreadArgs::default();
                let hard = constraints_for(
                    &pod.pod,
                    &view,
                    &args,
                    &mut memo,
                    UnsatisfiableConstraintAction::DoNotSchedule,
                );
                let state = pre_filter(&pod, &view, cache.spread_index(), &args, &mut memo);
                assert_eq!(state.is_some(), !hard.is_empty());
                if let Some(state) = &state {
                    let index = cache.spread_index().borrow();
                    fast_paths +=
                        usize::from(hard.iter().all(|c| c.includes_every_node(&pod, &index)));
                    let expected = naive_filter_counts(&pod, &hard, nodes);
                    for (c, (counts, min)) in expected.iter().enumerate() {
                        let mut have: Vec<(Str, i64)> = state.constraints[c]
                            .counts
                            .iter()
                            .map(|(k, v)| (k.clone(), *v))
                            .collect();
                        have.sort();
                        assert_eq!(&have, counts, "round {round} constraint {c}");
                        assert_eq!(state.min_count(c), *min, "round {round} constraint {c}");
                    }
                }
                let feasible: Vec<usize> = (0..nodes.len()).filter(|_| rng.chance(2, 3)).collect();
                let soft = constraints_for(
                    &pod.pod,
                    &view,
                    &args,
                    &mut memo,
                    UnsatisfiableConstraintAction::ScheduleAnyway,
                );
                let require_all = !pod.pod.spec.topology_spread_constraints.is_empty();
                match pre_score(
                    &pod,
                    &view,
                    cache.spread_index(),
                    &feasible,
                    &args,
                    &mut memo,
                ) {
                    None => assert!(soft.is_empty() || nodes.is_empty()),
                    Some(state) => {
                        let mut scores: Vec<i64> =
                            feasible.iter().map(|&i| score(&state, i)).collect();
                        // The whole-column scorer agrees with the per-node one.
                        let mut column = vec![0; feasible.len()];
                        let mut scratch = ScoreScratch::default();
                        score_feasible(&state, &feasible, &mut scratch, &mut column);
                        assert_eq!(column, scores, "round {round}");
                        normalize(&state, &feasible, &mut scores);
                        // Scoring and normalizing in one go agrees too.
                        score_normalized_feasible(&state, &feasible, &mut scratch, &mut column);
                        assert_eq!(column, scores, "round {round}");
                        let expected = naive_scores(&pod, &soft, require_all, nodes, &feasible);
                        assert_eq!(scores, expected, "round {round}");
                    }
                }
            }
            cache.spread_index().borrow().assert_consistent(nodes);
        }
        assert!(fast_paths > 100, "fast paths taken: {fast_paths}");
    }

    #[test]
    fn rounding_matches_half_away_from_zero() {
        let mut rng = sim_core::SimRng::for_stream(3, "round");
        let mut values = vec![
            0.0,
            0.5,
            1.5,
            2.5,
            0.49999999999999994,
            1e15 + 0.5,
            4503599627370495.5,
        ];
        values.extend((0..10_000).map(|_| rng.below(1 << 40) as f64 / 1024.0));
        for value in values {
            assert_eq!(round_non_negative(value), value.round() as i64, "{value}");
        }
    }
}
