//! What the controllers look up, indexed: pods by uid, by controlling owner, by node, by
//! namespace and by label; a generic many-to-many index for the rest. Kept in step with
//! the informers' deltas, so no sync scans all pods.

use std::hash::Hash;
use std::rc::Rc;

use sim_core::{FxIndexMap, FxIndexSet};

use crate::api::{Labels, Pod, Str};

/// `(namespace, name)`: how controllers key namespaced objects.
pub type NsName = (Str, Str);

/// A many-to-many index: key → set of values. Empty sets are dropped.
#[derive(Debug)]
pub struct MultiIndex<K, V> {
    map: FxIndexMap<K, FxIndexSet<V>>,
}

impl<K, V> Default for MultiIndex<K, V> {
    fn default() -> Self {
        MultiIndex {
            map: FxIndexMap::default(),
        }
    }
}

impl<K: Hash + Eq, V: Hash + Eq> MultiIndex<K, V> {
    pub fn insert(&mut self, key: K, value: V) {
        self.map.entry(key).or_default().insert(value);
    }

    pub fn remove(&mut self, key: &K, value: &V) {
        if let Some(set) = self.map.get_mut(key) {
            set.swap_remove(value);
            if set.is_empty() {
                self.map.swap_remove(key);
            }
        }
    }

    pub fn get<'a>(&'a self, key: &K) -> impl Iterator<Item = &'a V> + use<'a, K, V> {
        self.map.get(key).into_iter().flat_map(|set| set.iter())
    }

    pub fn count(&self, key: &K) -> usize {
        self.map.get(key).map_or(0, |set| set.len())
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }
}

/// What a controller's pods add up to, kept as pods change so a ReplicaSet's status
/// needs no scan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OwnerCounts {
    /// Not terminating and not finished (`IsPodActive`).
    pub active: u32,
    /// Active and Ready.
    pub ready: u32,
    /// Active and available with minReadySeconds 0 (Ready, with a Ready time).
    pub available: u32,
    /// Not Succeeded or Failed (terminating ones included).
    pub unfinished: u32,
}

impl OwnerCounts {
    /// One pod's share.
    pub fn of(pod: &Pod) -> OwnerCounts {
        let active = pod.is_active();
        let ready = active && pod.is_ready();
        OwnerCounts {
            active: u32::from(active),
            ready: u32::from(ready),
            available: u32::from(ready && pod.status.ready_since.is_some()),
            unfinished: u32::from(!matches!(
                pod.status.phase,
                crate::api::PodPhase::Succeeded | crate::api::PodPhase::Failed
            )),
        }
    }

    fn add(&mut self, other: OwnerCounts) {
        self.active += other.active;
        self.ready += other.ready;
        self.available += other.available;
        self.unfinished += other.unfinished;
    }

    fn subtract(&mut self, other: OwnerCounts) {
        assert!(self.active >= other.active && self.ready >= other.ready);
        assert!(self.available >= other.available && self.unfinished >= other.unfinished);
        self.active -= other.active;
        self.ready -= other.ready;
        self.available -= other.available;
        self.unfinished -= other.unfinished;
    }
}

/// Every pod the controller manager knows, and the ways controllers find them.
#[derive(Debug, Default)]
pub struct PodIndex {
    by_uid: FxIndexMap<u64, Rc<Pod>>,
    by_owner: MultiIndex<u64, u64>,
    owner_counts: FxIndexMap<u64, OwnerCounts>,
    by_node: MultiIndex<Str, u64>,
    by_namespace: MultiIndex<Str, u64>,
    /// `(namespace, label key, label value)`.
    by_label: MultiIndex<(Str, Str, Str), u64>,
}

impl PodIndex {
    pub fn clear(&mut self) {
        *self = PodIndex::default();
    }

    pub fn len(&self) -> usize {
        self.by_uid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_uid.is_empty()
    }

    pub fn get(&self, uid: u64) -> Option<&Rc<Pod>> {
        self.by_uid.get(&uid)
    }

    /// Pods whose controlling owner has `owner_uid`.
    pub fn owned_by(&self, owner_uid: u64) -> impl Iterator<Item = &Rc<Pod>> {
        self.by_owner.get(&owner_uid).map(|uid| &self.by_uid[uid])
    }

    pub fn count_owned_by(&self, owner_uid: u64) -> usize {
        self.by_owner.count(&owner_uid)
    }

    /// The totals over the pods `owner_uid` controls.
    pub fn owner_counts(&self, owner_uid: u64) -> OwnerCounts {
        self.owner_counts
            .get(&owner_uid)
            .copied()
            .unwrap_or_default()
    }

    pub fn on_node<'a>(&'a self, node: &Str) -> impl Iterator<Item = &'a Rc<Pod>> + use<'a> {
        self.by_node.get(node).map(|uid| &self.by_uid[uid])
    }

    /// Pods of `namespace` whose labels contain every pair of `selector` (a map
    /// selector, as a Service has). Looks up the rarest pair, then filters.
    pub fn selected(&self, namespace: &Str, selector: &Labels) -> Vec<&Rc<Pod>> {
        let rarest = selector
            .iter()
            .map(|(key, value)| (namespace.clone(), key.clone(), value.clone()))
            .min_by_key(|triple| self.by_label.count(triple));
        let candidates: Box<dyn Iterator<Item = &u64>> = match &rarest {
            Some(triple) => Box::new(self.by_label.get(triple)),
            None => Box::new(self.by_namespace.get(namespace)),
        };
        candidates
            .map(|uid| &self.by_uid[uid])
            .filter(|pod| pod.metadata.labels.contains_all(selector))
            .collect()
    }

    /// Applies an informer delta (`None` for absent).
    pub fn apply(&mut self, old: Option<&Rc<Pod>>, new: Option<&Rc<Pod>>) {
        if let (Some(old), Some(new)) = (old, new)
            && old.metadata.uid == new.metadata.uid
            && same_keys(old, new)
        {
            let stored = self
                .by_uid
                .insert(new.metadata.uid, new.clone())
                .expect("an updated pod was indexed");
            if let Some(owner) = new.metadata.controller_ref() {
                let counts = self
                    .owner_counts
                    .get_mut(&owner.uid)
                    .expect("owner counted");
                counts.subtract(OwnerCounts::of(&stored));
                counts.add(OwnerCounts::of(new));
            }
            return;
        }
        if let Some(old) = old {
            self.remove(old);
        }
        if let Some(new) = new {
            self.insert(new);
        }
    }

    fn insert(&mut self, pod: &Rc<Pod>) {
        let uid = pod.metadata.uid;
        let previous = self.by_uid.insert(uid, pod.clone());
        assert!(previous.is_none(), "pod uid {uid} indexed twice");
        if let Some(owner) = pod.metadata.controller_ref() {
            self.by_owner.insert(owner.uid, uid);
            self.owner_counts
                .entry(owner.uid)
                .or_default()
                .add(OwnerCounts::of(pod));
        }
        if let Some(node) = &pod.spec.node_name {
            self.by_node.insert(node.clone(), uid);
        }
        let namespace = &pod.metadata.namespace;
        self.by_namespace.insert(namespace.clone(), uid);
        for (key, value) in pod.metadata.labels.iter() {
            self.by_label
                .insert((namespace.clone(), key.clone(), value.clone()), uid);
        }
    }

    fn remove(&mut self, pod: &Rc<Pod>) {
        let uid = pod.metadata.uid;
        let Some(stored) = self.by_uid.swap_remove(&uid) else {
            return;
        };
        // Unindex what was indexed: the stored copy, not the caller's.
        if let Some(owner) = stored.metadata.controller_ref() {
            self.by_owner.remove(&owner.uid, &uid);
            if self.by_owner.count(&owner.uid) == 0 {
                self.owner_counts.swap_remove(&owner.uid);
            } else {
                self.owner_counts
                    .get_mut(&owner.uid)
                    .expect("owner counted")
                    .subtract(OwnerCounts::of(&stored));
            }
        }
        if let Some(node) = &stored.spec.node_name {
            self.by_node.remove(node, &uid);
        }
        let namespace = &stored.metadata.namespace;
        self.by_namespace.remove(namespace, &uid);
        for (key, value) in stored.metadata.labels.iter() {
            self.by_label
                .remove(&(namespace.clone(), key.clone(), value.clone()), &uid);
        }
    }
}

/// Whether two versions of a pod sit under the same index keys.
fn same_keys(old: &Pod, new: &Pod) -> bool {
    old.metadata.controller_ref().map(|r| r.uid) == new.metadata.controller_ref().map(|r| r.uid)
        && old.spec.node_name == new.spec.node_name
        && old.metadata.namespace == new.metadata.namespace
        && old.metadata.labels == new.metadata.labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Kind, OwnerReference, s};
    use crate::scheduler::plugins::tests::pod_with;

    fn pod(uid: u64, owner: u64, node: Option<&str>, labels: &[(&str, &str)]) -> Rc<Pod> {
        let mut pod = pod_with(vec![], vec![]);
        pod.metadata.uid = uid;
        pod.metadata.name = s(&format!("p{uid}"));
        pod.metadata.labels = Labels::from_pairs(labels.iter().copied());
        pod.metadata.owner_references = vec![OwnerReference {
            kind: Kind::ReplicaSet,
            name: s("rs"),
            uid: owner,
            controller: true,
            block_owner_deletion: true,
        }];
        pod.spec.node_name = node.map(s);
        Rc::new(pod)
    }

    #[test]
    fn lookups_follow_updates_and_deletes() {
        let mut index = PodIndex::default();
        let a = pod(1, 10, None, &[("app", "web"), ("tier", "front")]);
        let b = pod(2, 10, Some("n1"), &[("app", "web")]);
        let c = pod(3, 11, Some("n1"), &[("app", "db")]);
        for p in [&a, &b, &c] {
            index.apply(None, Some(p));
        }
        assert_eq!(index.count_owned_by(10), 2);
        assert_eq!(index.on_node(&s("n1")).count(), 2);
        let web = Labels::from_pairs([("app", "web")]);
        assert_eq!(index.selected(&s("default"), &web).len(), 2);
        let front = Labels::from_pairs([("app", "web"), ("tier", "front")]);
        assert_eq!(index.selected(&s("default"), &front).len(), 1);
        assert_eq!(index.selected(&s("default"), &Labels::new()).len(), 3);
        assert!(index.selected(&s("other"), &web).is_empty());

        // Binding moves a pod onto a node; deleting it unindexes everything.
        let a_bound = pod(1, 10, Some("n2"), &[("app", "web"), ("tier", "front")]);
        index.apply(Some(&a), Some(&a_bound));
        assert_eq!(index.on_node(&s("n2")).count(), 1);
        index.apply(Some(&a_bound), None);
        assert_eq!(index.count_owned_by(10), 1);
        assert_eq!(index.on_node(&s("n2")).count(), 0);
        assert_eq!(index.selected(&s("default"), &front).len(), 0);
        assert_eq!(index.len(), 2);
    }

    #[test]
    fn owner_counts_follow_status_changes() {
        let mut index = PodIndex::default();
        let a = pod(1, 10, Some("n1"), &[]);
        let b = pod(2, 10, Some("n1"), &[]);
        index.apply(None, Some(&a));
        index.apply(None, Some(&b));
        assert_eq!(index.owner_counts(10).active, 2);
        assert_eq!(index.owner_counts(10).ready, 0);
        let mut ready = (*a).clone();
        ready.status.ready = crate::api::ConditionStatus::True;
        ready.status.ready_since = Some(sim_core::SimTime::ZERO);
        let ready = Rc::new(ready);
        index.apply(Some(&a), Some(&ready));
        let counts = index.owner_counts(10);
        assert_eq!((counts.active, counts.ready, counts.available), (2, 1, 1));
        let mut terminating = (*ready).clone();
        terminating.metadata.deletion_timestamp = Some(sim_core::SimTime::ZERO);
        let terminating = Rc::new(terminating);
        index.apply(Some(&ready), Some(&terminating));
        let counts = index.owner_counts(10);
        assert_eq!((counts.active, counts.ready, counts.unfinished), (1, 0, 2));
        index.apply(Some(&terminating), None);
        index.apply(Some(&b), None);
        assert_eq!(index.owner_counts(10), OwnerCounts::default());
    }
}
