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
    fn add(&mut self, key: &Str, value: &Str, delta: i64) {
        *self
            .0
            .entry(key.clone())
            .or_default()
            .entry(value.clone())
            .or_default() += delta;
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
    if !pods_exist && !(state.affinity_counts.is_empty() && state.matches_own_affinity) {
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
