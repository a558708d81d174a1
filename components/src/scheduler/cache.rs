//! The scheduler's cache: a snapshot of every node with what its pods request, kept
//! incrementally from pod and node deltas, plus the pods the scheduler has assumed onto
//! nodes while their bindings are in flight (upstream `backend/cache`).

use std::rc::Rc;

use sim_core::FxIndexMap;

use super::plugins::{NodeInfo, NodePods, NodeTotals, PodInfo, Resources, pod_requests};
use crate::api::{Node, Pod, PodPhase, Str};

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
    state: AssignmentState,
}

#[derive(Debug, Default)]
pub struct Cache {
    nodes: Vec<NodeInfo>,
    index: FxIndexMap<Str, usize>,
    /// Pods bound to nodes the node informer has not shown (yet, or any more).
    orphans: FxIndexMap<Str, Counted>,
    assignments: FxIndexMap<u64, Assignment>,
}

/// What is counted on a node the informer does not show.
#[derive(Clone, Debug, Default)]
struct Counted {
    totals: NodeTotals,
    pods: NodePods,
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
                let pods = std::mem::take(&mut previous.pods);
                let mut info = NodeInfo::new(node, previous.totals);
                info.pods = pods;
                self.nodes[index] = info;
            }
            None => {
                let counted = self.orphans.swap_remove(&name).unwrap_or_default();
                let mut info = NodeInfo::new(node, counted.totals);
                info.pods = counted.pods;
                self.index.insert(name, self.nodes.len());
                self.nodes.push(info);
            }
        }
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(index) = self.index.swap_remove(name) else {
            return;
        };
        let removed = self.nodes.swap_remove(index);
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
                    pods: removed.pods,
                },
            );
        }
    }

    fn counted_mut(&mut self, node: &Str) -> (&mut NodeTotals, &mut NodePods) {
        match self.index.get(node) {
            Some(&index) => {
                let info = &mut self.nodes[index];
                (&mut info.totals, &mut info.pods)
            }
            None => {
                let counted = self.orphans.entry(node.clone()).or_default();
                (&mut counted.totals, &mut counted.pods)
            }
        }
    }

    fn add_to_node(&mut self, assignment: &Assignment) {
        let (totals, pods) = self.counted_mut(&assignment.node);
        totals.requested.add(&assignment.requests);
        totals.non_zero_requested.add(&assignment.non_zero_requests);
        totals.pod_count += 1;
        pods.add(assignment.pod.clone());
    }

    fn remove_from_node(&mut self, assignment: &Assignment) {
        let (totals, pods) = self.counted_mut(&assignment.node);
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
                    assignment.pod = pod.clone();
                    let node = assignment.node.clone();
                    let (_, pods) = self.counted_mut(&node);
                    pods.update(pod);
                    return;
                }
                if let Some(previous) = self.assignments.swap_remove(&uid) {
                    self.remove_from_node(&previous);
                }
                let assignment = Assignment {
                    pod: pod.clone(),
                    node: node.clone(),
                    requests: pod_requests(&pod.spec, false),
                    non_zero_requests: pod_requests(&pod.spec, true),
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
