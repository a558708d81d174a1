//! InterPodAffinity: place a pod near (affinity) or away from (anti-affinity) pods
//! matching a label selector, per topology domain, as upstream
//! `pkg/scheduler/framework/plugins/interpodaffinity` does.
//!
//! * Filter (`filtering.go`): the incoming pod's required affinity terms must all find a
//!   matching pod in the node's domain (or, when no pod anywhere matches and the pod
//!   matches its own terms, any node with the topology keys will do); no pod matching its
//!   required anti-affinity terms may be in the node's domain; and no pod already placed
//!   may have a required anti-affinity term that the incoming pod matches in that domain.
//! * Score (`scoring.go`): per topology domain, the incoming pod's preferred affinity
//!   (+weight) and anti-affinity (−weight) terms matched by existing pods, existing pods'
//!   preferred terms matched by the incoming pod, and existing pods' required affinity
//!   terms (×`hardPodAffinityWeight`); normalized `100 × (s − min) / (max − min)`.
//!
//! A term's namespaces: those it lists plus those its `namespaceSelector` selects (an
//! empty selector: every namespace), or the namespace of the pod that owns the term when
//! it names neither. `matchLabelKeys` / `mismatchLabelKeys` add `key In/NotIn (the owning
//! pod's value)` to the selector (upstream's API server merges them at admission; doing
//! it here again changes nothing).

use sim_core::FxIndexMap;

use super::{ClusterView, MAX_NODE_SCORE, NodeInfo, PodInfo, Unfit};
use crate::api::{Labels, Pod, PodAffinity, PodAffinityTerm, Str};

/// `InterPodAffinityArgs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AffinityArgs {
    /// Weight of an existing pod's required affinity term in scoring (upstream default 1,
    /// 0..=100).
    pub hard_pod_affinity_weight: i32,
}

impl Default for AffinityArgs {
    fn default() -> AffinityArgs {
        AffinityArgs {
            hard_pod_affinity_weight: 1,
        }
    }
}

fn pod_affinity(pod: &Pod) -> Option<&PodAffinity> {
    pod.spec.affinity.as_ref()?.pod_affinity.as_ref()
}

fn pod_anti_affinity(pod: &Pod) -> Option<&PodAffinity> {
    pod.spec.affinity.as_ref()?.pod_anti_affinity.as_ref()
}

fn required(terms: Option<&PodAffinity>) -> &[PodAffinityTerm] {
    terms.map_or(&[], |t| &t.required)
}

/// The term's label selector, with `matchLabelKeys` / `mismatchLabelKeys` taken from the
/// owning pod's labels, against `target`'s labels. A term without a selector matches no
/// pod.
fn selector_matches(term: &PodAffinityTerm, owner_labels: &Labels, target: &Labels) -> bool {
    term.label_selector
        .as_ref()
        .is_some_and(|selector| selector.matches(target))
        && term.match_label_keys.iter().all(|key| {
            owner_labels
                .get(key)
                .is_none_or(|value| target.get(key) == Some(value))
        })
        && term.mismatch_label_keys.iter().all(|key| {
            owner_labels
                .get(key)
                .is_none_or(|value| target.get(key) != Some(value))
        })
}

/// Upstream `AffinityTerm.Matches(pod, nsLabels)` for a term owned by an existing pod:
/// the namespaces it names or its namespace selector against the labels of the target's
/// namespace (`None`: unknown namespace, no labels).
fn term_matches(
    term: &PodAffinityTerm,
    owner: &Pod,
    target: &Pod,
    target_namespace_labels: Option<&Labels>,
) -> bool {
    let namespace = &target.metadata.namespace;
    let in_namespace = if term.namespaces.is_empty() && term.namespace_selector.is_none() {
        owner.metadata.namespace == *namespace
    } else {
        term.namespaces.contains(namespace)
            || term.namespace_selector.as_ref().is_some_and(|selector| {
                selector.matches(target_namespace_labels.unwrap_or(&Labels::new()))
            })
    };
    in_namespace && selector_matches(term, &owner.metadata.labels, &target.metadata.labels)
}

/// The namespaces an incoming pod's term covers, with its namespace selector resolved
/// against the namespaces the scheduler knows (`mergeAffinityTermNamespacesIfNotEmpty`).
#[derive(Clone, Debug)]
struct Namespaces {
    names: Vec<Str>,
    /// An empty namespace selector: every namespace.
    all: bool,
}

impl Namespaces {
    fn of(term: &PodAffinityTerm, owner: &Pod, view: &ClusterView<'_>) -> Namespaces {
        if term.namespaces.is_empty() && term.namespace_selector.is_none() {
            return Namespaces {
                names: vec![owner.metadata.namespace.clone()],
                all: false,
            };
        }
        let mut names = term.namespaces.clone();
        let mut all = false;
        if let Some(selector) = &term.namespace_selector {
            if selector.is_empty() {
                all = true;
            } else {
                for (name, labels) in view.namespace_labels {
                    if selector.matches(labels) && !names.contains(name) {
                        names.push(name.clone());
                    }
                }
            }
        }
        Namespaces { names, all }
    }

    fn contains(&self, namespace: &Str) -> bool {
        self.all || self.names.contains(namespace)
    }
}

/// One of the incoming pod's terms, resolved.
#[derive(Clone, Debug)]
struct IncomingTerm {
    term: PodAffinityTerm,
    namespaces: Namespaces,
    weight: i32,
}

impl IncomingTerm {
    fn matches(&self, owner_labels: &Labels, target: &Pod) -> bool {
        self.namespaces.contains(&target.metadata.namespace)
            && selector_matches(&self.term, owner_labels, &target.metadata.labels)
    }
}

fn resolve(
    terms: impl Iterator<Item = (i32, PodAffinityTerm)>,
    owner: &Pod,
    view: &ClusterView<'_>,
) -> Vec<IncomingTerm> {
    terms
        .map(|(weight, term)| IncomingTerm {
            namespaces: Namespaces::of(&term, owner, view),
            term,
            weight,
        })
        .collect()
}

/// Counts per topology pair (key → value → count); upstream `topologyToMatchedTermCount`.
#[derive(Clone, Debug, Default)]
struct PairCounts(FxIndexMap<Str, FxIndexMap<Str, i64>>);

impl PairCounts {
    /// Moves the pair's count by `delta`, forgetting a pair that reaches zero (upstream
    /// `topologyToMatchedTermCount.update`: an emptied map means "no pod matches").
    fn add(&mut self, key: &Str, value: &Str, delta: i64) {
        let values = self.0.entry(key.clone()).or_default();
        let count = values.entry(value.clone()).or_default();
        *count += delta;
        if *count == 0 {
            values.swap_remove(value);
            if values.is_empty() {
                self.0.swap_remove(key);
            }
        }
    }

    /// [`PairCounts::add`] for the node's value of `key`, if it has one.
    fn add_on(&mut self, node: &NodeInfo, key: &Str, delta: i64) {
        if let Some(value) = node.node.metadata.labels.get(key) {
            self.add(key, value, delta);
        }
    }

    fn get(&self, key: &str, value: &str) -> i64 {
        self.0
            .get(key)
            .and_then(|values| values.get(value))
            .copied()
            .unwrap_or(0)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

// ---------------------------------------------------------------------------------------
// Filter

/// What PreFilter computed for Filter (upstream `preFilterState`).
#[derive(Clone, Debug)]
pub struct AffinityFilterState {
    affinity_terms: Vec<IncomingTerm>,
    anti_affinity_terms: Vec<IncomingTerm>,
    /// Pods matching all the incoming pod's required affinity terms, per pair.
    affinity_counts: PairCounts,
    /// Pods matching the incoming pod's required anti-affinity terms, per pair.
    anti_affinity_counts: PairCounts,
    /// Existing pods whose required anti-affinity terms match the incoming pod, per pair.
    existing_anti_affinity_counts: PairCounts,
    /// The incoming pod matches all its own required affinity terms.
    matches_own_affinity: bool,
    /// The labels of the incoming pod's namespace, for existing pods' namespace selectors.
    namespace_labels: Option<Labels>,
}

impl AffinityFilterState {
    /// `PreFilterExtensions.AddPod`: counts `pod`, placed on `node`, for `incoming`
    /// (preemption's dry run putting a pod back, a nominated pod).
    pub fn add_pod(&mut self, incoming: &PodInfo, pod: &Pod, node: &NodeInfo) {
        self.update_with_pod(incoming, pod, node, 1);
    }

    /// `PreFilterExtensions.RemovePod`: stops counting `pod` on `node` (a preemption
    /// victim).
    pub fn remove_pod(&mut self, incoming: &PodInfo, pod: &Pod, node: &NodeInfo) {
        self.update_with_pod(incoming, pod, node, -1);
    }

    /// `updateWithPod` (interpodaffinity/filtering.go): `pod`'s required anti-affinity
    /// terms that match the incoming pod, per pair of `node`; `pod` against all the
    /// incoming pod's required affinity terms; `pod` against each of its required
    /// anti-affinity terms.
    fn update_with_pod(&mut self, incoming: &PodInfo, pod: &Pod, node: &NodeInfo, delta: i64) {
        let incoming = &*incoming.pod;
        for term in required(pod_anti_affinity(pod)) {
            if term_matches(term, pod, incoming, self.namespace_labels.as_ref()) {
                self.existing_anti_affinity_counts
                    .add_on(node, &term.topology_key, delta);
            }
        }
        let own_labels = &incoming.metadata.labels;
        if matches_all(&self.affinity_terms, own_labels, pod) {
            for term in &self.affinity_terms {
                self.affinity_counts
                    .add_on(node, &term.term.topology_key, delta);
            }
        }
        for term in &self.anti_affinity_terms {
            if term.matches(own_labels, pod) {
                self.anti_affinity_counts
                    .add_on(node, &term.term.topology_key, delta);
            }
        }
    }
}

/// Whether `target` matches every term (`podMatchesAllAffinityTerms`: false for none).
fn matches_all(terms: &[IncomingTerm], owner_labels: &Labels, target: &Pod) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(owner_labels, target))
}

/// PreFilter. `None`: the pod has no required terms and no existing pod's required
/// anti-affinity matches it (upstream Skip).
pub fn pre_filter(pod: &PodInfo, view: &ClusterView<'_>) -> Option<AffinityFilterState> {
    let incoming = &*pod.pod;
    let namespace_labels = view.namespace_labels.get(&*incoming.metadata.namespace);

    // Existing pods' required anti-affinity against the incoming pod
    // (`getExistingAntiAffinityCounts`).
    let mut existing_anti_affinity_counts = PairCounts::default();
    for &index in view.nodes_with_required_anti_affinity {
        let node = &view.nodes[index];
        let labels = &node.node.metadata.labels;
        for existing in &node.pods.with_required_anti_affinity {
            for term in required(pod_anti_affinity(existing)) {
                if let Some(value) = labels.get(&term.topology_key)
                    && term_matches(term, existing, incoming, namespace_labels)
                {
                    existing_anti_affinity_counts.add(&term.topology_key, value, 1);
                }
            }
        }
    }

    let own =
        |terms: &[PodAffinityTerm]| resolve(terms.iter().map(|t| (0, t.clone())), incoming, view);
    let affinity_terms = own(required(pod_affinity(incoming)));
    let anti_affinity_terms = own(required(pod_anti_affinity(incoming)));
    if existing_anti_affinity_counts.is_empty()
        && affinity_terms.is_empty()
        && anti_affinity_terms.is_empty()
    {
        return None;
    }

    // Existing pods matching the incoming pod's terms
    // (`getIncomingAffinityAntiAffinityCounts`).
    let mut affinity_counts = PairCounts::default();
    let mut anti_affinity_counts = PairCounts::default();
    let own_labels = &incoming.metadata.labels;
    if !affinity_terms.is_empty() || !anti_affinity_terms.is_empty() {
        for node in view.nodes {
            let labels = &node.node.metadata.labels;
            for existing in &node.pods.all {
                if matches_all(&affinity_terms, own_labels, existing) {
                    for term in &affinity_terms {
                        if let Some(value) = labels.get(&term.term.topology_key) {
                            affinity_counts.add(&term.term.topology_key, value, 1);
                        }
                    }
                }
                for term in &anti_affinity_terms {
                    if let Some(value) = labels.get(&term.term.topology_key)
                        && term.matches(own_labels, existing)
                    {
                        anti_affinity_counts.add(&term.term.topology_key, value, 1);
                    }
                }
            }
        }
    }
    Some(AffinityFilterState {
        matches_own_affinity: matches_all(&affinity_terms, own_labels, incoming),
        affinity_terms,
        anti_affinity_terms,
        affinity_counts,
        anti_affinity_counts,
        existing_anti_affinity_counts,
        namespace_labels: namespace_labels.cloned(),
    })
}

/// Filter: affinity, then anti-affinity, then existing pods' anti-affinity.
pub fn filter(state: &AffinityFilterState, _pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
    let labels = &node.node.metadata.labels;

    // `satisfyPodAffinity`.
    let mut pods_exist = true;
    for term in &state.affinity_terms {
        let Some(value) = labels.get(&term.term.topology_key) else {
            // Every topology key must be on the node.
            return Err(Unfit::PodAffinity);
        };
        if state.affinity_counts.get(&term.term.topology_key, value) <= 0 {
            pods_exist = false;
        }
    }
    // The first pod of a group with affinity to itself: nothing matches anywhere yet.
    let first_of_group = state.affinity_counts.is_empty() && state.matches_own_affinity;
    if !pods_exist && !first_of_group {
        return Err(Unfit::PodAffinity);
    }

    // `satisfyPodAntiAffinity`.
    if !state.anti_affinity_counts.is_empty() {
        for term in &state.anti_affinity_terms {
            if let Some(value) = labels.get(&term.term.topology_key)
                && state
                    .anti_affinity_counts
                    .get(&term.term.topology_key, value)
                    > 0
            {
                return Err(Unfit::PodAntiAffinity);
            }
        }
    }

    // `satisfyExistingPodsAntiAffinity`: any of the node's labels as a pair.
    if !state.existing_anti_affinity_counts.is_empty()
        && labels
            .iter()
            .any(|(key, value)| state.existing_anti_affinity_counts.get(key, value) > 0)
    {
        return Err(Unfit::ExistingPodsAntiAffinity);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Score

/// What PreScore computed for Score (upstream `preScoreState.topologyScore`).
#[derive(Clone, Debug)]
pub struct AffinityScoreState {
    topology_score: PairCounts,
}

/// PreScore. `None`: nothing scores anywhere (upstream Skip: 0 on every node).
pub fn pre_score(
    pod: &PodInfo,
    view: &ClusterView<'_>,
    feasible: &[usize],
    args: &AffinityArgs,
) -> Option<AffinityScoreState> {
    if feasible.is_empty() {
        return None;
    }
    let incoming = &*pod.pod;
    let preferred = |terms: Option<&PodAffinity>| {
        resolve(
            terms
                .map_or(&[][..], |t| &t.preferred)
                .iter()
                .map(|w| (w.weight, w.term.clone())),
            incoming,
            view,
        )
    };
    let affinity_terms = preferred(pod_affinity(incoming));
    let anti_affinity_terms = preferred(pod_anti_affinity(incoming));
    let has_constraints = !affinity_terms.is_empty() || !anti_affinity_terms.is_empty();
    let namespace_labels = view.namespace_labels.get(&*incoming.metadata.namespace);
    let own_labels = &incoming.metadata.labels;

    let mut score = PairCounts::default();
    let mut process_node = |node: &NodeInfo| {
        let labels = &node.node.metadata.labels;
        if labels.is_empty() {
            return;
        }
        // Unless the incoming pod has preferred terms, only pods with terms matter.
        let pods = if has_constraints {
            &node.pods.all
        } else {
            &node.pods.with_affinity
        };
        let mut add = |key: &Str, weight: i32| {
            if let Some(value) = labels.get(key) {
                score.add(key, value, i64::from(weight));
            }
        };
        for existing in pods {
            // `processExistingPod`.
            for term in &affinity_terms {
                if term.matches(own_labels, existing) {
                    add(&term.term.topology_key, term.weight);
                }
            }
            for term in &anti_affinity_terms {
                if term.matches(own_labels, existing) {
                    add(&term.term.topology_key, -term.weight);
                }
            }
            let existing_affinity = pod_affinity(existing);
            if args.hard_pod_affinity_weight > 0 {
                for term in required(existing_affinity) {
                    if term_matches(term, existing, incoming, namespace_labels) {
                        add(&term.topology_key, args.hard_pod_affinity_weight);
                    }
                }
            }
            for weighted in existing_affinity.map_or(&[][..], |a| &a.preferred) {
                if term_matches(&weighted.term, existing, incoming, namespace_labels) {
                    add(&weighted.term.topology_key, weighted.weight);
                }
            }
            for weighted in pod_anti_affinity(existing).map_or(&[][..], |a| &a.preferred) {
                if term_matches(&weighted.term, existing, incoming, namespace_labels) {
                    add(&weighted.term.topology_key, -weighted.weight);
                }
            }
        }
    };
    if has_constraints {
        view.nodes.iter().for_each(&mut process_node);
    } else {
        for &index in view.nodes_with_affinity {
            process_node(&view.nodes[index]);
        }
    }
    (!score.is_empty()).then_some(AffinityScoreState {
        topology_score: score,
    })
}

/// Score: the sum over the state's topology keys of the node's domain's score.
pub fn score(state: &AffinityScoreState, _pod: &PodInfo, node: &NodeInfo) -> i64 {
    let labels = &node.node.metadata.labels;
    state
        .topology_score
        .0
        .iter()
        .filter_map(|(key, values)| values.get(&**labels.get(key)?).copied())
        .sum()
}

/// NormalizeScore: `int64(100 × (s − min) / (max − min))` in floating point as upstream
/// computes it; all 0 when every score is equal.
pub fn normalize(state: &AffinityScoreState, scores: &mut [i64]) {
    if state.topology_score.is_empty() {
        return;
    }
    let min = scores.iter().copied().min().unwrap_or(0);
    let max = scores.iter().copied().max().unwrap_or(0);
    let spread = max - min;
    for score in scores.iter_mut() {
        *score = if spread > 0 {
            (MAX_NODE_SCORE as f64 * ((*score - min) as f64 / spread as f64)) as i64
        } else {
            0
        };
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::super::NodeTotals;
    use super::super::tests::{node_with, pod_with};
    use super::*;
    use crate::api::{
        Affinity, LabelSelector, SelectorOperator, SelectorRequirement, WeightedPodAffinityTerm, s,
    };

    const HOST: &str = "kubernetes.io/hostname";
    const ZONE: &str = "topology.kubernetes.io/zone";

    fn node(name: &str, zone: &str) -> NodeInfo {
        let mut node = node_with(name, 64_000, 1 << 40, 110);
        node.metadata.labels = Labels::from_pairs([(HOST, name), (ZONE, zone)]);
        NodeInfo::new(Rc::new(node), NodeTotals::default())
    }

    fn pod(name: &str, namespace: &str, labels: &[(&str, &str)]) -> Pod {
        let mut pod = pod_with(vec![], vec![]);
        pod.metadata.name = s(name);
        pod.metadata.namespace = s(namespace);
        pod.metadata.uid = name.bytes().map(u64::from).sum::<u64>() * 100 + name.len() as u64;
        pod.metadata.labels = Labels::from_pairs(labels.iter().copied());
        pod
    }

    /// `security In (value)` over `key`.
    fn term(value: &str, key: &str) -> PodAffinityTerm {
        PodAffinityTerm {
            label_selector: Some(LabelSelector {
                match_labels: Labels::new(),
                match_expressions: vec![SelectorRequirement {
                    key: s("security"),
                    operator: SelectorOperator::In,
                    values: vec![s(value)],
                }],
            }),
            namespaces: vec![],
            namespace_selector: None,
            topology_key: s(key),
            match_label_keys: vec![],
            mismatch_label_keys: vec![],
        }
    }

    fn with_affinity(
        mut pod: Pod,
        affinity: Option<PodAffinity>,
        anti: Option<PodAffinity>,
    ) -> Pod {
        pod.spec.affinity = Some(Rc::new(Affinity {
            node_affinity: None,
            pod_affinity: affinity,
            pod_anti_affinity: anti,
        }));
        pod
    }

    fn required_terms(terms: Vec<PodAffinityTerm>) -> Option<PodAffinity> {
        Some(PodAffinity {
            required: terms,
            preferred: vec![],
        })
    }

    fn preferred_terms(terms: Vec<(i32, PodAffinityTerm)>) -> Option<PodAffinity> {
        Some(PodAffinity {
            required: vec![],
            preferred: terms
                .into_iter()
                .map(|(weight, term)| WeightedPodAffinityTerm { weight, term })
                .collect(),
        })
    }

    struct World {
        nodes: Vec<NodeInfo>,
        namespaces: FxIndexMap<Str, Labels>,
        with_affinity: Vec<usize>,
        with_anti: Vec<usize>,
    }

    impl World {
        /// zone1 = node-a, node-b; zone2 = node-c; `pods[i]` go to node i.
        fn new(pods: Vec<(usize, Pod)>) -> World {
            let mut nodes = vec![
                node("node-a", "zone1"),
                node("node-b", "zone1"),
                node("node-c", "zone2"),
            ];
            for (index, pod) in pods {
                nodes[index].pods.add(Rc::new(pod));
            }
            let with_affinity = (0..nodes.len())
                .filter(|&i| !nodes[i].pods.with_affinity.is_empty())
                .collect();
            let with_anti = (0..nodes.len())
                .filter(|&i| !nodes[i].pods.with_required_anti_affinity.is_empty())
                .collect();
            World {
                nodes,
                namespaces: FxIndexMap::default(),
                with_affinity,
                with_anti,
            }
        }

        fn view(&self) -> ClusterView<'_> {
            ClusterView {
                nodes: &self.nodes,
                namespace_labels: &self.namespaces,
                nodes_with_affinity: &self.with_affinity,
                nodes_with_required_anti_affinity: &self.with_anti,
                workload_selectors: &[],
            }
        }

        fn filter_all(&self, pod: &Pod) -> Vec<Result<(), Unfit>> {
            let pod = PodInfo::new(Rc::new(pod.clone()));
            match pre_filter(&pod, &self.view()) {
                None => vec![Ok(()); self.nodes.len()],
                Some(state) => self.nodes.iter().map(|n| filter(&state, &pod, n)).collect(),
            }
        }

        fn scores(&self, pod: &Pod, args: &AffinityArgs) -> Option<Vec<i64>> {
            let pod = PodInfo::new(Rc::new(pod.clone()));
            let feasible: Vec<usize> = (0..self.nodes.len()).collect();
            let state = pre_score(&pod, &self.view(), &feasible, args)?;
            let mut scores: Vec<i64> = self.nodes.iter().map(|n| score(&state, &pod, n)).collect();
            normalize(&state, &mut scores);
            Some(scores)
        }
    }

    #[test]
    fn pods_without_terms_skip_both_phases() {
        let world = World::new(vec![(0, pod("p1", "default", &[("security", "S1")]))]);
        let plain = PodInfo::new(Rc::new(pod("in", "default", &[])));
        assert!(pre_filter(&plain, &world.view()).is_none());
        assert!(pre_score(&plain, &world.view(), &[0, 1, 2], &AffinityArgs::default()).is_none());
    }

    #[test]
    fn required_affinity_needs_a_matching_pod_in_the_domain() {
        // Upstream "satisfies the PodAffinity with labelSelector ... in the same zone".
        let world = World::new(vec![(0, pod("p1", "default", &[("security", "S1")]))]);
        let incoming = with_affinity(
            pod("in", "default", &[]),
            required_terms(vec![term("S1", ZONE)]),
            None,
        );
        assert_eq!(
            world.filter_all(&incoming),
            [Ok(()), Ok(()), Err(Unfit::PodAffinity)]
        );
        // A pod in another namespace does not count (the term defaults to the pod's own).
        let elsewhere = World::new(vec![(0, pod("p1", "other", &[("security", "S1")]))]);
        assert_eq!(
            elsewhere.filter_all(&incoming),
            [const { Err(Unfit::PodAffinity) }; 3]
        );
    }

    #[test]
    fn removing_and_adding_pods_moves_every_pair_count() {
        // Upstream filtering_test.go TestPreFilterStateAddRemovePod, in kubesim's terms.
        let p1 = pod("p1", "default", &[("security", "S1")]);
        let guard = with_affinity(
            pod("guard", "default", &[]),
            None,
            required_terms(vec![term("S2", HOST)]),
        );
        let world = World::new(vec![(0, p1.clone()), (2, guard.clone())]);
        // Self-affine by zone, away from S3 by host; matched by guard's anti-affinity.
        let incoming = PodInfo::new(Rc::new(with_affinity(
            pod("in", "default", &[("security", "S1")]),
            required_terms(vec![term("S1", ZONE)]),
            required_terms(vec![term("S3", HOST)]),
        )));
        let mut state = pre_filter(&incoming, &world.view()).expect("terms");
        let on = |state: &AffinityFilterState| -> Vec<Result<(), Unfit>> {
            world
                .nodes
                .iter()
                .map(|n| filter(state, &incoming, n))
                .collect()
        };
        // zone1 has p1; guard on node-c keeps S2 away, which the incoming pod is not.
        assert_eq!(on(&state), [Ok(()), Ok(()), Err(Unfit::PodAffinity)]);
        // Without p1 nothing matches the affinity anywhere: the first of its group.
        state.remove_pod(&incoming, &p1, &world.nodes[0]);
        assert!(state.affinity_counts.is_empty());
        assert_eq!(on(&state), [Ok(()), Ok(()), Ok(())]);
        state.add_pod(&incoming, &p1, &world.nodes[2]);
        assert_eq!(
            on(&state),
            [Err(Unfit::PodAffinity), Err(Unfit::PodAffinity), Ok(())]
        );
        // An S3 pod on node-c: the incoming pod's anti-affinity.
        let s3 = pod("s3", "default", &[("security", "S3")]);
        state.add_pod(&incoming, &s3, &world.nodes[2]);
        assert_eq!(on(&state)[2], Err(Unfit::PodAntiAffinity));
        state.remove_pod(&incoming, &s3, &world.nodes[2]);
        assert!(state.anti_affinity_counts.is_empty());
        // A pod keeping S1 away, added on node-c and removed again.
        let keeper = with_affinity(
            pod("keeper", "default", &[]),
            None,
            required_terms(vec![term("S1", HOST)]),
        );
        state.add_pod(&incoming, &keeper, &world.nodes[2]);
        assert_eq!(on(&state)[2], Err(Unfit::ExistingPodsAntiAffinity));
        state.remove_pod(&incoming, &keeper, &world.nodes[2]);
        assert!(state.existing_anti_affinity_counts.is_empty());
        assert_eq!(on(&state)[2], Ok(()));
        // guard's term does not match the incoming pod: it never counted.
        state.remove_pod(&incoming, &guard, &world.nodes[2]);
        assert!(state.existing_anti_affinity_counts.is_empty());
    }

    #[test]
    fn the_first_pod_of_a_self_affine_group_may_go_anywhere_with_the_key() {
        let world = World::new(vec![]);
        let first = with_affinity(
            pod("in", "default", &[("security", "S1")]),
            required_terms(vec![term("S1", ZONE)]),
            None,
        );
        assert_eq!(world.filter_all(&first), [Ok(()), Ok(()), Ok(())]);
        // Not if it does not match its own terms.
        let stranger = with_affinity(
            pod("in", "default", &[("security", "S2")]),
            required_terms(vec![term("S1", ZONE)]),
            None,
        );
        assert_eq!(
            world.filter_all(&stranger),
            [const { Err(Unfit::PodAffinity) }; 3]
        );
        // Every topology key must be on the node.
        let missing = with_affinity(
            pod("in", "default", &[("security", "S1")]),
            required_terms(vec![term("S1", "rack")]),
            None,
        );
        assert_eq!(
            world.filter_all(&missing),
            [const { Err(Unfit::PodAffinity) }; 3]
        );
    }

    #[test]
    fn required_anti_affinity_both_ways() {
        // The incoming pod avoids S1 pods per host.
        let world = World::new(vec![(0, pod("p1", "default", &[("security", "S1")]))]);
        let avoiding = with_affinity(
            pod("in", "default", &[]),
            None,
            required_terms(vec![term("S1", HOST)]),
        );
        assert_eq!(
            world.filter_all(&avoiding),
            [Err(Unfit::PodAntiAffinity), Ok(()), Ok(())]
        );
        // An existing pod on node-a avoids S1 pods per zone: an S1 pod cannot join zone1.
        let guard = with_affinity(
            pod("guard", "default", &[]),
            None,
            required_terms(vec![term("S1", ZONE)]),
        );
        let world = World::new(vec![(0, guard)]);
        let s1 = pod("in", "default", &[("security", "S1")]);
        assert_eq!(
            world.filter_all(&s1),
            [
                Err(Unfit::ExistingPodsAntiAffinity),
                Err(Unfit::ExistingPodsAntiAffinity),
                Ok(())
            ]
        );
        assert_eq!(
            world.filter_all(&pod("in", "default", &[("security", "S2")])),
            [Ok(()), Ok(()), Ok(())]
        );
    }

    #[test]
    fn namespace_selectors_pick_namespaces_by_label() {
        let mut world = World::new(vec![(2, pod("p1", "team-a", &[("security", "S1")]))]);
        world
            .namespaces
            .insert(s("team-a"), Labels::from_pairs([("team", "a")]));
        world
            .namespaces
            .insert(s("team-b"), Labels::from_pairs([("team", "b")]));
        let mut by_team = term("S1", ZONE);
        by_team.namespace_selector = Some(LabelSelector::from_labels(Labels::from_pairs([(
            "team", "a",
        )])));
        let incoming = with_affinity(
            pod("in", "default", &[]),
            required_terms(vec![by_team.clone()]),
            None,
        );
        assert_eq!(
            world.filter_all(&incoming),
            [Err(Unfit::PodAffinity), Err(Unfit::PodAffinity), Ok(())]
        );
        by_team.namespace_selector = Some(LabelSelector::from_labels(Labels::from_pairs([(
            "team", "b",
        )])));
        let incoming = with_affinity(
            pod("in", "default", &[]),
            required_terms(vec![by_team.clone()]),
            None,
        );
        assert_eq!(
            world.filter_all(&incoming),
            [const { Err(Unfit::PodAffinity) }; 3]
        );
        // An empty namespace selector: every namespace.
        by_team.namespace_selector = Some(LabelSelector::default());
        let incoming = with_affinity(
            pod("in", "default", &[]),
            required_terms(vec![by_team]),
            None,
        );
        assert_eq!(world.filter_all(&incoming)[2], Ok(()));
    }

    #[test]
    fn preferred_terms_score_per_domain_and_normalize() {
        // An S1 pod on node-a (zone1), an S2 pod on node-b.
        let world = World::new(vec![
            (0, pod("p1", "default", &[("security", "S1")])),
            (1, pod("p2", "default", &[("security", "S2")])),
        ]);
        let args = AffinityArgs::default();
        // Affinity to S1 per zone (weight 5): zone1 = 5, zone2 = 0.
        let near = with_affinity(
            pod("in", "default", &[]),
            preferred_terms(vec![(5, term("S1", ZONE))]),
            None,
        );
        assert_eq!(world.scores(&near, &args).unwrap(), [100, 100, 0]);
        // Plus anti-affinity to S2 per host (weight 3): node-b = 5 − 3 = 2 →
        // 100 × (2 − 0) / 5 = 40.
        let picky = with_affinity(
            pod("in", "default", &[]),
            preferred_terms(vec![(5, term("S1", ZONE))]),
            preferred_terms(vec![(3, term("S2", HOST))]),
        );
        assert_eq!(world.scores(&picky, &args).unwrap(), [100, 40, 0]);
    }

    #[test]
    fn existing_pods_terms_count_toward_the_incoming_pod() {
        // node-c holds a pod that requires S1 pods in its zone, and one that prefers to
        // avoid S1 pods per host (weight 4).
        let needs = with_affinity(
            pod("needs", "default", &[]),
            required_terms(vec![term("S1", ZONE)]),
            None,
        );
        let shy = with_affinity(
            pod("shy", "default", &[]),
            None,
            preferred_terms(vec![(4, term("S1", HOST))]),
        );
        let world = World::new(vec![(2, needs.clone()), (1, shy)]);
        let s1 = pod("in", "default", &[("security", "S1")]);
        // Raw: node-a 0, node-b −4, node-c +weight of the hard term.
        let args = AffinityArgs {
            hard_pod_affinity_weight: 2,
        };
        // min −4, max 2: node-a 100 × 4/6 = 66, node-b 0, node-c 100.
        assert_eq!(world.scores(&s1, &args).unwrap(), [66, 0, 100]);
        // With the hard weight 0 only the preferred anti-affinity remains.
        let zero = AffinityArgs {
            hard_pod_affinity_weight: 0,
        };
        assert_eq!(world.scores(&s1, &zero).unwrap(), [100, 0, 100]);
        // A pod none of the terms match: nothing to score.
        let world = World::new(vec![(2, needs)]);
        assert!(
            world
                .scores(&pod("in", "default", &[("security", "S9")]), &args)
                .is_none()
        );
    }

    #[test]
    fn normalize_truncates_the_floating_point_result_as_upstream() {
        let state = AffinityScoreState {
            topology_score: {
                let mut counts = PairCounts::default();
                counts.add(&s(ZONE), &s("zone1"), 1);
                counts
            },
        };
        // 100 × (29 / 100) is 28.999999999999996 in float64: upstream gives 28.
        let mut scores = [0, 29, 100];
        normalize(&state, &mut scores);
        assert_eq!(scores, [0, 28, 100]);
        let mut negative = [-3, 0, 6];
        normalize(&state, &mut negative);
        assert_eq!(negative, [0, 33, 100]);
        let mut equal = [7, 7];
        normalize(&state, &mut equal);
        assert_eq!(equal, [0, 0]);
    }

    #[test]
    fn match_label_keys_take_the_owners_value() {
        // The incoming pod prefers pods of its own release in its zone.
        let mut by_release = term("S1", ZONE);
        by_release.match_label_keys = vec![s("release")];
        let incoming = with_affinity(
            pod("in", "default", &[("release", "r2")]),
            required_terms(vec![by_release]),
            None,
        );
        let world = World::new(vec![
            (
                0,
                pod("old", "default", &[("security", "S1"), ("release", "r1")]),
            ),
            (
                2,
                pod("new", "default", &[("security", "S1"), ("release", "r2")]),
            ),
        ]);
        assert_eq!(
            world.filter_all(&incoming),
            [Err(Unfit::PodAffinity), Err(Unfit::PodAffinity), Ok(())]
        );
    }
}
