//! The scheduler's cache: a snapshot of every node with what its pods request, kept
//! incrementally from pod and node deltas, plus the pods the scheduler has assumed onto
//! nodes while their bindings are in flight (upstream `backend/cache`). It also keeps
//! what plugins look at across nodes: how many nodes hold each image (ImageLocality),
//! which nodes hold pods with (anti-)affinity terms, the namespaces' labels and the
//! workloads' selectors ([`ClusterView`]).

use std::cell::RefCell;
use std::rc::Rc;

use sim_core::FxIndexMap;

use super::node_memo::NodeMemo;
use super::plugins::image_locality::normalized_image_name;
use super::plugins::resources::{extended_add, extended_subtract};
use super::plugins::topology_spread::SpreadIndex;
use super::plugins::{
    ClusterView, Extended, NodeInfo, NodePods, NodeTotals, PodInfo, Resources, pod_requests_full,
};
use crate::api::{LabelSelector, Labels, Node, Pod, PodPhase, Str};

/// Whether a pod's requests count against a node: it is bound there and not finished.
pub fn counts_on_node(pod: &Pod) -> Option<&Str> {
    match pod.status.phase {
        PodPhase::Succeeded | PodPhase::Failed => None,
        _ => pod.spec.node_name.as_ref(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignmentState {
    /// The scheduler put it there; the binding is in flight.
    Assumed,
    /// The pod informer shows it bound there.
    Bound,
}

/// One pod counted on one node.
#[derive(Clone, Debug)]
struct Assignment {
    pod: Rc<Pod>,
    node: Str,
    requests: Resources,
    non_zero_requests: Resources,
    extended_requests: Extended,
    state: AssignmentState,
}

#[derive(Debug, Default)]
pub struct Cache {
    nodes: Vec<NodeInfo>,
    index: FxIndexMap<Str, usize>,
    /// Pods bound to nodes the node informer has not shown (yet, or any more).
    orphans: FxIndexMap<Str, Counted>,
    assignments: FxIndexMap<u64, Assignment>,
    /// Per normalized image name, how many nodes report it (`ImageStateSummary.NumNodes`).
    image_nodes: FxIndexMap<Str, u32>,
    namespace_labels: FxIndexMap<Str, Labels>,
    /// Selectors of Services and ReplicaSets, by (kind, namespace, name).
    workloads: FxIndexMap<(&'static str, Str, Str), LabelSelector>,
    /// Derived lists, rebuilt by [`Cache::refresh`] when `derived_dirty`.
    workload_selectors: Vec<(Str, LabelSelector)>,
    nodes_with_affinity: Vec<usize>,
    nodes_with_required_anti_affinity: Vec<usize>,
    derived_dirty: bool,
    /// PodTopologySpread's counts, told of every pod and node change on the listed nodes
    /// (entries are created while scheduling, through a shared borrow).
    spread: RefCell<SpreadIndex>,
    /// The last [`NodeInfo::generation`] given.
    generation_last: u64,
    /// Per-node results kept across cycles, trusted by the generations above.
    node_memo: RefCell<NodeMemo>,
}

/// What is counted on a node the informer does not show.
#[derive(Clone, Debug, Default)]
struct Counted {
    totals: NodeTotals,
    extended: Extended,
    pods: NodePods,
}

fn has_pod_affinity(pod: &Pod) -> bool {
    pod.spec
        .affinity
        .as_ref()
        .is_some_and(|a| a.pod_affinity.is_some() || a.pod_anti_affinity.is_some())
}

impl Cache {
    pub fn clear(&mut self) {
        *self = Cache::default();
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn node(&self, index: usize) -> &NodeInfo {
        &self.nodes[index]
    }

    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// PodTopologySpread's per-node and per-domain counts of matching pods.
    pub fn spread_index(&self) -> &RefCell<SpreadIndex> {
        &self.spread
    }

    /// Per-node plugin results kept across cycles (see `scheduler::node_memo`).
    pub fn node_memo(&self) -> &RefCell<NodeMemo> {
        &self.node_memo
    }

    /// Gives node `index` a fresh generation: its object or its pods' requests changed.
    fn touch(&mut self, index: usize) {
        self.generation_last += 1;
        self.nodes[index].generation = self.generation_last;
    }

    pub fn assumed_count(&self) -> usize {
        self.assignments
            .values()
            .filter(|a| a.state == AssignmentState::Assumed)
            .count()
    }

    pub fn assignment_state(&self, uid: u64) -> Option<AssignmentState> {
        self.assignments.get(&uid).map(|a| a.state)
    }

    pub fn set_node(&mut self, node: Rc<Node>) {
        let name = node.metadata.name.clone();
        match self.index.get(&name) {
            Some(&index) => {
                let previous = &mut self.nodes[index];
                if previous.node.status.images != node.status.images {
                    let old = Rc::clone(&previous.node);
                    self.count_images(&old, -1);
                    self.count_images(&node, 1);
                }
                let previous = &mut self.nodes[index];
                let pods = std::mem::take(&mut previous.pods);
                let extended = std::mem::take(&mut previous.extended_requested);
                let mut info = NodeInfo::new(node, previous.totals);
                info.pods = pods;
                info.extended_requested = extended;
                let old = std::mem::replace(&mut self.nodes[index], info);
                self.touch(index);
                self.spread
                    .get_mut()
                    .node_updated(index, &old.node, &self.nodes[index].node);
            }
            None => {
                self.count_images(&node, 1);
                let counted = self.orphans.swap_remove(&name).unwrap_or_default();
                let mut info = NodeInfo::new(node, counted.totals);
                info.pods = counted.pods;
                info.extended_requested = counted.extended;
                self.spread.get_mut().node_added(&info.node, &info.pods.all);
                self.index.insert(name, self.nodes.len());
                self.nodes.push(info);
                self.touch(self.nodes.len() - 1);
                self.derived_dirty = true;
            }
        }
    }

    fn count_images(&mut self, node: &Node, delta: i32) {
        for (image, _) in &node.status.images {
            let name = Str::from(&*normalized_image_name(image));
            let count = self.image_nodes.entry(name).or_insert(0);
            *count = count.checked_add_signed(delta).expect("image node count");
        }
        self.image_nodes.retain(|_, count| *count > 0);
    }

    /// How many nodes hold `image` (a normalized name).
    pub fn image_node_count(&self, image: &str) -> u32 {
        self.image_nodes.get(image).copied().unwrap_or(0)
    }

    pub fn image_node_counts(&self) -> &FxIndexMap<Str, u32> {
        &self.image_nodes
    }

    pub fn set_namespace(&mut self, name: Str, labels: Labels) {
        self.namespace_labels.insert(name, labels);
    }

    pub fn remove_namespace(&mut self, name: &str) {
        self.namespace_labels.swap_remove(name);
    }

    /// A Service's or ReplicaSet's selector (`kind` names which); `None` removes it.
    /// Returns whether the selectors changed.
    pub fn set_workload(
        &mut self,
        kind: &'static str,
        namespace: Str,
        name: Str,
        selector: Option<LabelSelector>,
    ) -> bool {
        let key = (kind, namespace, name);
        let changed = match selector {
            Some(selector) => self.workloads.insert(key, selector.clone()) != Some(selector),
            None => self.workloads.swap_remove(&key).is_some(),
        };
        self.derived_dirty |= changed;
        changed
    }

    /// Rebuilds the derived lists of [`Cache::view`] if something they depend on changed.
    pub fn refresh(&mut self) {
        if !self.derived_dirty {
            return;
        }
        self.derived_dirty = false;
        self.nodes_with_affinity = (0..self.nodes.len())
            .filter(|&i| !self.nodes[i].pods.with_affinity.is_empty())
            .collect();
        self.nodes_with_required_anti_affinity = (0..self.nodes.len())
            .filter(|&i| !self.nodes[i].pods.with_required_anti_affinity.is_empty())
            .collect();
        let mut selectors: Vec<(Str, LabelSelector)> = self
            .workloads
            .iter()
            .map(|((_, namespace, _), selector)| (namespace.clone(), selector.clone()))
            .collect();
        selectors.sort_by(|a, b| a.0.cmp(&b.0));
        self.workload_selectors = selectors;
    }

    /// What plugins see besides one node. Call [`Cache::refresh`] first.
    pub fn view(&self) -> ClusterView<'_> {
        assert!(!self.derived_dirty, "cache view read before refresh");
        ClusterView {
            nodes: &self.nodes,
            namespace_labels: &self.namespace_labels,
            nodes_with_affinity: &self.nodes_with_affinity,
            nodes_with_required_anti_affinity: &self.nodes_with_required_anti_affinity,
            workload_selectors: &self.workload_selectors,
        }
    }

    /// A snapshot of `nodes` with `pods` counted on the nodes they are bound to (pods
    /// without a node are left out): for `kubesim schedule` and tests.
    pub fn from_objects(nodes: &[Rc<Node>], pods: &[Rc<Pod>]) -> Cache {
        let mut cache = Cache::default();
        for node in nodes {
            cache.set_node(node.clone());
        }
        for pod in pods {
            cache.on_pod(None, Some(pod));
        }
        cache.refresh();
        cache
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(index) = self.index.swap_remove(name) else {
            return;
        };
        let removed = self.nodes.swap_remove(index);
        self.spread
            .get_mut()
            .node_removed(index, &removed.node, &removed.pods.all);
        let removed_node = Rc::clone(&removed.node);
        self.count_images(&removed_node, -1);
        self.derived_dirty = true;
        if index < self.nodes.len() {
            let moved = self.nodes[index].name().clone();
            self.index.insert(moved, index);
        }
        if removed.totals.pod_count > 0 {
            let name = removed.name().clone();
            self.orphans.insert(
                name,
                Counted {
                    totals: removed.totals,
                    extended: removed.extended_requested,
                    pods: removed.pods,
                },
            );
        }
    }

    fn counted_mut(&mut self, node: &Str) -> (&mut NodeTotals, &mut Extended, &mut NodePods) {
        match self.index.get(node) {
            Some(&index) => {
                let info = &mut self.nodes[index];
                (
                    &mut info.totals,
                    &mut info.extended_requested,
                    &mut info.pods,
                )
            }
            None => {
                let counted = self.orphans.entry(node.clone()).or_default();
                (
                    &mut counted.totals,
                    &mut counted.extended,
                    &mut counted.pods,
                )
            }
        }
    }

    fn add_to_node(&mut self, assignment: &Assignment) {
        self.derived_dirty |= has_pod_affinity(&assignment.pod);
        if let Some(&index) = self.index.get(&assignment.node) {
            self.spread.get_mut().pod_changed(index, &assignment.pod, 1);
            self.touch(index);
        }
        let (totals, extended, pods) = self.counted_mut(&assignment.node);
        totals.requested.add(&assignment.requests);
        totals.non_zero_requested.add(&assignment.non_zero_requests);
        totals.pod_count += 1;
        extended_add(extended, &assignment.extended_requests);
        pods.add(assignment.pod.clone());
    }

    fn remove_from_node(&mut self, assignment: &Assignment) {
        self.derived_dirty |= has_pod_affinity(&assignment.pod);
        if let Some(&index) = self.index.get(&assignment.node) {
            self.spread
                .get_mut()
                .pod_changed(index, &assignment.pod, -1);
            self.touch(index);
        }
        let (totals, extended, pods) = self.counted_mut(&assignment.node);
        extended_subtract(extended, &assignment.extended_requests);
        pods.remove(assignment.pod.metadata.uid);
        totals.requested.subtract(&assignment.requests);
        totals
            .non_zero_requested
            .subtract(&assignment.non_zero_requests);
        assert!(
            totals.pod_count > 0,
            "pod count underflow on {}",
            assignment.node
        );
        totals.pod_count -= 1;
        if totals.pod_count == 0 && !self.index.contains_key(&assignment.node) {
            self.orphans.swap_remove(&assignment.node);
        }
    }

    /// Counts `pod` on `node` before its binding is confirmed (`AssumePod`).
    pub fn assume(&mut self, pod: &PodInfo, node: usize) {
        let uid = pod.pod.metadata.uid;
        assert!(
            !self.assignments.contains_key(&uid),
            "assuming pod {uid} that is already counted"
        );
        let assignment = Assignment {
            pod: pod.pod.clone(),
            node: self.nodes[node].name().clone(),
            requests: pod.requests,
            non_zero_requests: pod.non_zero_requests,
            extended_requests: pod.extended_requests.clone(),
            state: AssignmentState::Assumed,
        };
        self.add_to_node(&assignment);
        self.assignments.insert(uid, assignment);
    }

    /// The binding failed: stop counting the assumed pod (`ForgetPod`).
    pub fn forget(&mut self, uid: u64) {
        if self
            .assignments
            .get(&uid)
            .is_some_and(|a| a.state == AssignmentState::Assumed)
        {
            let assignment = self.assignments.swap_remove(&uid).expect("checked above");
            self.remove_from_node(&assignment);
        }
    }

    /// Applies a pod delta (`None` for absent) to the node totals. An assumed pod stays
    /// counted while the informer still shows it unbound.
    pub fn on_pod(&mut self, old: Option<&Rc<Pod>>, new: Option<&Rc<Pod>>) {
        let uid = new.or(old).expect("a pod delta has a pod").metadata.uid;
        if let (Some(old), Some(new)) = (old, new)
            && old.metadata.uid != new.metadata.uid
        {
            // Replaced under the same name between two lists: a deletion, then an add.
            self.on_pod(Some(old), None);
            self.on_pod(None, Some(new));
            return;
        }
        let existing = self.assignments.get(&uid);
        match (
            new.and_then(|pod| counts_on_node(pod).map(|node| (pod, node))),
            existing,
        ) {
            (None, None) => {}
            (None, Some(assignment)) => {
                let still_assumed = assignment.state == AssignmentState::Assumed && new.is_some();
                if !still_assumed {
                    let assignment = self.assignments.swap_remove(&uid).expect("present");
                    self.remove_from_node(&assignment);
                }
            }
            (Some((pod, node)), existing) => {
                let unchanged = existing.is_some_and(|a| {
                    a.node == *node
                        && old.is_some_and(|old| {
                            Rc::ptr_eq(&old.spec.containers, &pod.spec.containers)
                        })
                        && old.is_some_and(|old| {
                            Rc::ptr_eq(&old.spec.init_containers, &pod.spec.init_containers)
                        })
                });
                if unchanged {
                    let assignment = self.assignments.get_mut(&uid).expect("present");
                    assignment.state = AssignmentState::Bound;
                    let previous = std::mem::replace(&mut assignment.pod, pod.clone());
                    let node = assignment.node.clone();
                    if let Some(&index) = self.index.get(&node) {
                        self.spread.get_mut().pod_updated(index, &previous, pod);
                    }
                    let (_, _, pods) = self.counted_mut(&node);
                    pods.update(pod);
                    return;
                }
                if let Some(previous) = self.assignments.swap_remove(&uid) {
                    self.remove_from_node(&previous);
                }
                let full = pod_requests_full(&pod.spec, false);
                let assignment = Assignment {
                    pod: pod.clone(),
                    node: node.clone(),
                    requests: full.base,
                    non_zero_requests: pod_requests_full(&pod.spec, true).base,
                    extended_requests: full.extended,
                    state: AssignmentState::Bound,
                };
                self.add_to_node(&assignment);
                self.assignments.insert(uid, assignment);
            }
        }
    }

    /// Recomputes every node's totals from the assignments: for tests and invariants.
    pub fn recomputed_totals(&self, node: &str) -> NodeTotals {
        let mut totals = NodeTotals::default();
        for assignment in self.assignments.values().filter(|a| &*a.node == node) {
            totals.requested.add(&assignment.requests);
            totals.non_zero_requested.add(&assignment.non_zero_requests);
            totals.pod_count += 1;
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::s;
    use crate::scheduler::plugins::tests::{node_with, pod_with};

    fn bound(uid: u64, node: Option<&str>) -> Rc<Pod> {
        let mut pod = pod_with(vec![], vec![]);
        pod.metadata.uid = uid;
        pod.spec.node_name = node.map(s);
        Rc::new(pod)
    }

    #[test]
    fn assume_confirm_and_delete_keep_totals_exact() {
        let mut cache = Cache::default();
        cache.set_node(Rc::new(node_with("a", 1000, 1 << 30, 110)));
        cache.set_node(Rc::new(node_with("b", 1000, 1 << 30, 110)));
        let pending = bound(7, None);
        cache.on_pod(None, Some(&pending));
        cache.assume(&PodInfo::new(pending.clone()), 1);
        assert_eq!(cache.node(1).totals.pod_count, 1);
        // A status update of the still-unbound pod keeps the assumption.
        cache.on_pod(Some(&pending), Some(&pending));
        assert_eq!(cache.node(1).totals.pod_count, 1);
        let on_b = bound(7, Some("b"));
        cache.on_pod(Some(&pending), Some(&on_b));
        assert_eq!(cache.assignment_state(7), Some(AssignmentState::Bound));
        assert_eq!(cache.node(1).totals, cache.recomputed_totals("b"));
        cache.forget(7); // no effect once bound
        assert_eq!(cache.node(1).totals.pod_count, 1);
        cache.on_pod(Some(&on_b), None);
        assert_eq!(cache.node(1).totals, NodeTotals::default());
    }

    #[test]
    fn pods_on_unknown_nodes_wait_for_their_node() {
        let mut cache = Cache::default();
        let pod = bound(1, Some("late"));
        cache.on_pod(None, Some(&pod));
        cache.set_node(Rc::new(node_with("late", 1000, 1 << 30, 110)));
        assert_eq!(cache.node(0).totals.pod_count, 1);
        cache.remove_node("late");
        assert_eq!(cache.node_count(), 0);
        cache.on_pod(Some(&pod), None);
        assert!(cache.orphans.is_empty());
    }

    #[test]
    fn removing_a_node_keeps_the_index_dense() {
        let mut cache = Cache::default();
        for name in ["a", "b", "c"] {
            cache.set_node(Rc::new(node_with(name, 1000, 1 << 30, 110)));
        }
        cache.remove_node("a");
        assert_eq!(cache.node_index("c"), Some(0));
        assert_eq!(cache.node_index("b"), Some(1));
        assert_eq!(&**cache.node(0).name(), "c");
    }
}
