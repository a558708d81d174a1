//! The API server's watch cache: every object as of the latest etcd revision it has seen,
//! a window of recent changes to replay to watches that start slightly in the past, and
//! the watchers to fan changes out to (filtered on the server side).

use std::collections::VecDeque;

use sim_core::{ActorId, FxIndexMap, FxIndexSet, SimDuration, SimTime};

use crate::api::{
    FieldSelector, Kind, NameLookup, NamespacedName, Object, ObjectKey, PriorityClass,
    RuntimeClass, Str, WatchEventType, replace_or_insert,
};

/// One change as the cache keeps it.
#[derive(Clone, Debug)]
pub struct CachedChange {
    pub revision: u64,
    pub observed_at: SimTime,
    pub deleted: bool,
    pub object: Object,
    pub previous: Option<Object>,
}

/// One open watch stream, with the ledger of what it was sent (for the stream checker).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watcher {
    pub client: ActorId,
    pub watch_id: u64,
    pub kind: Kind,
    pub namespace: Option<Str>,
    pub fields: FieldSelector,
    /// The stream carries the changes after this revision (the watch's resourceVersion,
    /// or the cache's revision for a watch from "any" version).
    pub start_revision: u64,
    /// The revision of the last change sent (the start before any).
    pub sent_revision: u64,
    /// How many changes were sent (not counting a watch-from-any's initial state).
    pub sent_count: u64,
    /// The stream's place in the cache's registration order, from 1 (set on
    /// registration), so observers find the streams opened since they last looked.
    pub serial: u64,
}

impl Watcher {
    /// Whether `object` passes the stream's namespace and field filter.
    pub fn sees(&self, object: &Object) -> bool {
        self.namespace
            .as_ref()
            .is_none_or(|ns| object.meta().namespace == *ns)
            && self.fields.matches(object)
    }

    /// What this watcher is told about `change`, if anything. With a selector, an object
    /// that starts matching arrives as Added and one that stops matching as Deleted.
    pub fn event_for(&self, change: &CachedChange) -> Option<WatchEventType> {
        let was = change.previous.as_ref().is_some_and(|p| self.sees(p));
        if change.deleted {
            return was.then_some(WatchEventType::Deleted);
        }
        match (was, self.sees(&change.object)) {
            (false, true) => Some(WatchEventType::Added),
            (true, true) => Some(WatchEventType::Modified),
            (true, false) => Some(WatchEventType::Deleted),
            (false, false) => None,
        }
    }
}

#[derive(Debug, Default)]
pub struct WatchCache {
    revision: u64,
    /// Objects by kind, then namespace and name. Lists sort, so they come out in key order.
    objects: [FxIndexMap<NamespacedName, Object>; Kind::ALL.len()],
    /// Pods by `spec.nodeName`, for kubelets' lists.
    pods_by_node: FxIndexMap<Str, FxIndexSet<NamespacedName>>,
    history: VecDeque<CachedChange>,
    /// Watchers without a node selector, by kind (indexed by `Kind as usize`).
    watchers: [Vec<Watcher>; Kind::ALL.len()],
    /// Pod watchers selecting `spec.nodeName`, by node: a kubelet each. Hashed, as
    /// every pod change looks its node up; walks that send sort by node name.
    node_watchers: FxIndexMap<Str, Vec<Watcher>>,
    /// Watchers registered so far.
    watchers_added: u64,
}

fn pod_node(object: &Object) -> Option<&Str> {
    match object {
        Object::Pod(pod) => pod.spec.node_name.as_ref(),
        _ => None,
    }
}

impl WatchCache {
    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Object> {
        self.objects[key.kind as usize].get(&key.lookup())
    }

    /// The object under `key` and its slot among its kind's objects, for
    /// [`WatchCache::apply`] to find it again without a lookup.
    pub fn get_with_slot(&self, key: &ObjectKey) -> Option<(usize, &Object)> {
        self.objects[key.kind as usize]
            .get_full(&key.lookup())
            .map(|(slot, _, object)| (slot, object))
    }

    /// The PriorityClass named `name`, without building a key (the Priority admission
    /// plugin looks one up on every pod create).
    pub fn priority_class(&self, name: &str) -> Option<&PriorityClass> {
        match self.objects[Kind::PriorityClass as usize].get(&NameLookup("", name)) {
            Some(Object::PriorityClass(class)) => Some(class),
            Some(other) => panic!("a {} stored among the PriorityClasses", other.kind()),
            None => None,
        }
    }

    /// The RuntimeClass named `name` (the RuntimeClass admission plugin's lookup).
    pub fn runtime_class(&self, name: &str) -> Option<&RuntimeClass> {
        match self.objects[Kind::RuntimeClass as usize].get(&NameLookup("", name)) {
            Some(Object::RuntimeClass(class)) => Some(class),
            Some(other) => panic!("a {} stored among the RuntimeClasses", other.kind()),
            None => None,
        }
    }

    /// Every PriorityClass, in storage order (callers must not depend on it).
    pub fn priority_classes(&self) -> impl Iterator<Item = &PriorityClass> {
        self.objects[Kind::PriorityClass as usize]
            .values()
            .map(|object| match object {
                Object::PriorityClass(class) => &**class,
                other => panic!("a {} stored among the PriorityClasses", other.kind()),
            })
    }

    /// Every object of `kind`, in key order.
    pub fn objects_of(&self, kind: Kind) -> impl Iterator<Item = &Object> {
        let mut entries: Vec<_> = self.objects[kind as usize].iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        entries.into_iter().map(|(_, o)| o)
    }

    /// A list, filtered on the server side.
    pub fn list(&self, kind: Kind, namespace: Option<&Str>, fields: &FieldSelector) -> Vec<Object> {
        let in_namespace = |o: &&Object| namespace.is_none_or(|ns| o.meta().namespace == *ns);
        if let (Kind::Pod, FieldSelector::NodeName(node)) = (kind, fields) {
            let pods = &self.objects[Kind::Pod as usize];
            let mut keys: Vec<_> = self.pods_by_node.get(node).into_iter().flatten().collect();
            keys.sort_unstable();
            return keys
                .into_iter()
                .filter_map(|key| pods.get(key))
                .filter(in_namespace)
                .cloned()
                .collect();
        }
        self.objects_of(kind)
            .filter(in_namespace)
            .filter(|o| fields.matches(o))
            .cloned()
            .collect()
    }

    /// Loads the state of one kind from an etcd range at `revision`.
    pub fn load(&mut self, items: Vec<Object>, revision: u64) {
        for object in items {
            self.index(&object);
            let key = object.key();
            self.objects[key.kind as usize].insert(key.namespaced_name(), object);
        }
        self.revision = self.revision.max(revision);
    }

    fn index(&mut self, object: &Object) {
        if let Some(node) = pod_node(object) {
            let meta = object.meta();
            self.pods_by_node
                .entry(node.clone())
                .or_default()
                .insert((meta.namespace.clone(), meta.name.clone()));
        }
    }

    fn unindex(&mut self, object: &Object) {
        if let Some(node) = pod_node(object)
            && let Some(keys) = self.pods_by_node.get_mut(node)
        {
            let meta = object.meta();
            keys.swap_remove(&crate::api::NameLookup(&meta.namespace, &meta.name));
        }
    }

    /// Applies one change from etcd and keeps it for replay. `slot` is where the object
    /// may be (from [`WatchCache::get_with_slot`] when its write was planned): used when
    /// the key there is still the object's.
    pub fn apply(&mut self, change: CachedChange, slot: Option<usize>, window: SimDuration) {
        assert!(
            change.revision > self.revision,
            "watch cache saw revision {} after {}",
            change.revision,
            self.revision
        );
        self.revision = change.revision;
        let objects = &mut self.objects[change.object.kind() as usize];
        let meta = change.object.meta();
        let old = if change.deleted {
            objects.swap_remove(&NameLookup(&meta.namespace, &meta.name))
        } else {
            // Most changes are updates: no key is built for them.
            replace_or_insert(
                objects,
                (&meta.namespace, &meta.name),
                change.object.clone(),
                slot,
            )
        };
        let moved_node = old.as_ref().and_then(pod_node) != pod_node(&change.object);
        if change.deleted || moved_node {
            if let Some(old) = &old {
                self.unindex(old);
            }
            if !change.deleted {
                self.index(&change.object);
            }
        }
        while self
            .history
            .front()
            .is_some_and(|c| change.observed_at.saturating_since(c.observed_at) > window)
        {
            self.history.pop_front();
        }
        self.history.push_back(change);
    }

    /// The oldest resourceVersion a watch may start from and still get every change.
    pub fn oldest_watchable_revision(&self) -> u64 {
        self.history
            .front()
            .map_or(self.revision, |c| c.revision - 1)
    }

    /// Changes after `revision`, for a watch starting there.
    pub fn changes_since(&self, revision: u64) -> impl Iterator<Item = &CachedChange> {
        let start = self.history.partition_point(|c| c.revision <= revision);
        self.history.range(start..)
    }

    /// Registers a watcher, replacing an earlier one of the same client with the same
    /// filter (the client's old stream is gone once it opens a new one).
    pub fn add_watcher(&mut self, mut watcher: Watcher) {
        self.watchers_added += 1;
        watcher.serial = self.watchers_added;
        let list = match (&watcher.kind, &watcher.fields) {
            (Kind::Pod, FieldSelector::NodeName(node)) => {
                self.node_watchers.entry(node.clone()).or_default()
            }
            _ => &mut self.watchers[watcher.kind as usize],
        };
        list.retain(|w| {
            !(w.client == watcher.client
                && w.kind == watcher.kind
                && w.namespace == watcher.namespace
                && w.fields == watcher.fields)
        });
        list.push(watcher);
    }

    /// Watchers registered since the cache was created.
    pub fn watchers_added(&self) -> u64 {
        self.watchers_added
    }

    /// Removes every watcher, returning each stream as (client, watch id): the replica
    /// stops and its connections break.
    /// The order is the kinds' order, then the nodes' by name.
    pub fn take_watchers(&mut self) -> Vec<(ActorId, u64)> {
        let general = std::mem::take(&mut self.watchers).into_iter().flatten();
        let mut by_node: Vec<_> = std::mem::take(&mut self.node_watchers)
            .into_iter()
            .collect();
        by_node.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        general
            .chain(by_node.into_iter().flat_map(|(_, list)| list))
            .map(|w| (w.client, w.watch_id))
            .collect()
    }

    /// Every open stream, in no particular order (the stream checker's use).
    pub fn all_watchers(&self) -> impl Iterator<Item = &Watcher> {
        self.watchers
            .iter()
            .chain(self.node_watchers.values())
            .flatten()
    }

    /// Sends the change applied last to every watcher it concerns, in registration order,
    /// through `send(watcher, event type, object)`, and notes it in their ledgers.
    pub fn deliver_latest(&mut self, mut send: impl FnMut(&Watcher, WatchEventType, &Object)) {
        let Some(change) = self.history.back() else {
            return;
        };
        let kind = change.object.kind();
        let mut offer = |watcher: &mut Watcher| {
            if change.revision <= watcher.start_revision {
                return;
            }
            if let Some(type_) = watcher.event_for(change) {
                watcher.sent_revision = change.revision;
                watcher.sent_count += 1;
                send(watcher, type_, &change.object);
            }
        };
        self.watchers[kind as usize].iter_mut().for_each(&mut offer);
        let new_node = pod_node(&change.object);
        let old_node = change
            .previous
            .as_ref()
            .and_then(pod_node)
            .filter(|old| Some(*old) != new_node);
        for node in new_node.into_iter().chain(old_node) {
            if let Some(list) = self.node_watchers.get_mut(node) {
                list.iter_mut().for_each(&mut offer);
            }
        }
    }

    /// Every watcher that may care about a change of `object` (before: `previous`),
    /// without scanning unrelated kubelets: the kind's general watchers, then the pod
    /// watchers of its node and of the node it left. As slices (empty where nobody
    /// watches), so a caller that looks after every change walks them with plain loops.
    pub fn watchers_of<'a>(
        &'a self,
        object: &'a Object,
        previous: Option<&'a Object>,
    ) -> [&'a [Watcher]; 3] {
        let general = self.watchers[object.kind() as usize].as_slice();
        let of_node = |node: Option<&Str>| {
            node.and_then(|node| self.node_watchers.get(node))
                .map_or(&[][..], Vec::as_slice)
        };
        let new_node = pod_node(object);
        let old_node = previous
            .and_then(pod_node)
            .filter(|old| Some(*old) != new_node);
        [general, of_node(new_node), of_node(old_node)]
    }

    pub fn watcher_count(&self) -> usize {
        self.watchers.iter().map(Vec::len).sum::<usize>()
            + self.node_watchers.values().map(Vec::len).sum::<usize>()
    }
}
