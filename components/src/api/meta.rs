//! Object metadata, labels and selectors.

use std::fmt;
use std::rc::Rc;

use sim_core::SimTime;

/// A shared, immutable string: names and label values are cloned by reference count.
pub type Str = Rc<str>;

pub fn s(text: &str) -> Str {
    if text.is_empty() {
        // Cluster-scoped keys and unset fields ask for "" millions of times in a big run:
        // they share one allocation.
        return EMPTY.with(Rc::clone);
    }
    Rc::from(text)
}

thread_local! {
    static EMPTY: Str = Rc::from("");
}

/// The kinds of object the API server serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Namespace,
    Node,
    Pod,
    Deployment,
    ReplicaSet,
    Service,
    EndpointSlice,
    Lease,
    PriorityClass,
    PodDisruptionBudget,
    HorizontalPodAutoscaler,
    Job,
    StatefulSet,
    DaemonSet,
    RuntimeClass,
}

impl Kind {
    pub const ALL: [Kind; 15] = [
        Kind::Namespace,
        Kind::Node,
        Kind::Pod,
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::Service,
        Kind::EndpointSlice,
        Kind::Lease,
        Kind::PriorityClass,
        Kind::PodDisruptionBudget,
        Kind::HorizontalPodAutoscaler,
        Kind::Job,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::RuntimeClass,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Node => "Node",
            Kind::Pod => "Pod",
            Kind::Deployment => "Deployment",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::Service => "Service",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::Lease => "Lease",
            Kind::PriorityClass => "PriorityClass",
            Kind::PodDisruptionBudget => "PodDisruptionBudget",
            Kind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler",
            Kind::Job => "Job",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::RuntimeClass => "RuntimeClass",
        }
    }

    /// The lower-case plural used in etcd keys and API paths (`pods`, `replicasets`).
    pub fn resource(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::Node => "nodes",
            Kind::Pod => "pods",
            Kind::Deployment => "deployments",
            Kind::ReplicaSet => "replicasets",
            Kind::Service => "services",
            Kind::EndpointSlice => "endpointslices",
            Kind::Lease => "leases",
            Kind::PriorityClass => "priorityclasses",
            Kind::PodDisruptionBudget => "poddisruptionbudgets",
            Kind::HorizontalPodAutoscaler => "horizontalpodautoscalers",
            Kind::Job => "jobs",
            Kind::StatefulSet => "statefulsets",
            Kind::DaemonSet => "daemonsets",
            Kind::RuntimeClass => "runtimeclasses",
        }
    }

    pub fn namespaced(self) -> bool {
        !matches!(
            self,
            Kind::Namespace | Kind::Node | Kind::PriorityClass | Kind::RuntimeClass
        )
    }

    pub fn code(self) -> u64 {
        self as u64
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Namespace and name: how stores key the objects of one kind.
pub type NamespacedName = (Str, Str);

/// A borrowed `NamespacedName` for lookups in hash maps keyed by one, without building
/// two `Rc`s per lookup. It hashes exactly as the tuple does (each `str` in order).
#[derive(Clone, Copy, Debug, Hash)]
pub struct NameLookup<'a>(pub &'a str, pub &'a str);

impl indexmap::Equivalent<NamespacedName> for NameLookup<'_> {
    fn equivalent(&self, key: &NamespacedName) -> bool {
        same_str(&key.0, self.0) && same_str(&key.1, self.1)
    }
}

/// `map.insert((namespace, name), value)` without building the key when the entry is
/// there already: its value is replaced in place (where an insert keeps it too). `hint`
/// is where the entry may be, trusted once its key is checked. Returns the old value.
pub fn replace_or_insert<V, S: std::hash::BuildHasher>(
    map: &mut indexmap::IndexMap<NamespacedName, V, S>,
    (namespace, name): (&Str, &Str),
    value: V,
    hint: Option<usize>,
) -> Option<V> {
    let lookup = NameLookup(namespace, name);
    let held = hint.filter(|&index| {
        map.get_index(index)
            .is_some_and(|(key, _)| indexmap::Equivalent::equivalent(&lookup, key))
    });
    match held.or_else(|| map.get_index_of(&lookup)) {
        Some(index) => Some(std::mem::replace(&mut map[index], value)),
        None => map.insert((namespace.clone(), name.clone()), value),
    }
}

/// String equality that skips the byte comparison when both sides are the same `str`:
/// an object's names are shared `Rc`s from its creation on, so a lookup of a stored
/// object usually borrows the very strings the store's key holds.
fn same_str(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
}

/// Identifies an object: its kind, namespace (empty for cluster-scoped kinds) and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub kind: Kind,
    pub namespace: Str,
    pub name: Str,
}

impl ObjectKey {
    pub fn new(kind: Kind, namespace: &Str, name: &Str) -> ObjectKey {
        ObjectKey {
            kind,
            namespace: if kind.namespaced() {
                namespace.clone()
            } else {
                s("")
            },
            name: name.clone(),
        }
    }

    /// Whether this is `ObjectKey::new(kind, namespace, name)`, without building that key.
    pub fn is(&self, kind: Kind, namespace: &str, name: &str) -> bool {
        let namespace = if kind.namespaced() { namespace } else { "" };
        self.kind == kind && same_str(&self.namespace, namespace) && same_str(&self.name, name)
    }

    /// The key of this object within its kind.
    pub fn namespaced_name(&self) -> NamespacedName {
        (self.namespace.clone(), self.name.clone())
    }

    pub fn lookup(&self) -> NameLookup<'_> {
        NameLookup(&self.namespace, &self.name)
    }

    /// The etcd key, as the API server lays it out: `/registry/pods/default/nginx`.
    pub fn etcd_key(&self) -> String {
        if self.namespace.is_empty() {
            format!("/registry/{}/{}", self.kind.resource(), self.name)
        } else {
            format!(
                "/registry/{}/{}/{}",
                self.kind.resource(),
                self.namespace,
                self.name
            )
        }
    }
}

/// `pod/default/nginx` or `node/node-1`.
impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind.name().to_ascii_lowercase();
        if self.namespace.is_empty() {
            write!(f, "{kind}/{}", self.name)
        } else {
            write!(f, "{kind}/{}/{}", self.namespace, self.name)
        }
    }
}

/// Labels (or annotations, or a node selector) as a small sorted list: cheaper than a
/// tree map for the handful of entries real objects carry. The list is shared: every
/// version of an object, and every actor's copy of it, carries the same labels, so a
/// clone costs a reference count (none for an empty list) and a change copies the list.
#[derive(Clone, Default)]
pub struct Labels(Option<Rc<[(Str, Str)]>>);

impl Labels {
    pub fn new() -> Labels {
        Labels(None)
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Labels
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut entries: Vec<(Str, Str)> = Vec::new();
        for (key, value) in pairs {
            insert_sorted(&mut entries, s(key.as_ref()), s(value.as_ref()));
        }
        Labels::from_sorted(entries)
    }

    fn from_sorted(entries: Vec<(Str, Str)>) -> Labels {
        if entries.is_empty() {
            Labels(None)
        } else {
            Labels(Some(Rc::from(entries)))
        }
    }

    fn entries(&self) -> &[(Str, Str)] {
        self.0.as_deref().unwrap_or(&[])
    }

    pub fn get(&self, key: &str) -> Option<&Str> {
        let entries = self.entries();
        entries
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|index| &entries[index].1)
    }

    pub fn insert(&mut self, key: Str, value: Str) {
        let mut entries = self.entries().to_vec();
        insert_sorted(&mut entries, key, value);
        *self = Labels::from_sorted(entries);
    }

    pub fn remove(&mut self, key: &str) -> Option<Str> {
        let index = self
            .entries()
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()?;
        let mut entries = self.entries().to_vec();
        let (_, value) = entries.remove(index);
        *self = Labels::from_sorted(entries);
        Some(value)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Str, &Str)> {
        self.entries().iter().map(|(k, v)| (k, v))
    }

    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// True when every pair of `subset` is present here (map-style selector match).
    pub fn contains_all(&self, subset: &Labels) -> bool {
        subset
            .iter()
            .all(|(k, v)| self.get(k).is_some_and(|mine| mine == v))
    }
}

/// Puts `(key, value)` in its sorted place, replacing the value of an existing key.
fn insert_sorted(entries: &mut Vec<(Str, Str)>, key: Str, value: Str) {
    match entries.binary_search_by(|(k, _)| k.as_ref().cmp(&key)) {
        Ok(index) => entries[index].1 = value,
        Err(index) => entries.insert(index, (key, value)),
    }
}

// Equality, hashing and debug output are the list's, as when it was a plain `Vec`.
impl PartialEq for Labels {
    fn eq(&self, other: &Labels) -> bool {
        match (&self.0, &other.0) {
            // Versions of one object share their list.
            (Some(mine), Some(theirs)) if Rc::ptr_eq(mine, theirs) => true,
            _ => self.entries() == other.entries(),
        }
    }
}

impl Eq for Labels {}

impl std::hash::Hash for Labels {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.entries().hash(state)
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Labels").field(&self.entries()).finish()
    }
}

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (k, v) in self.iter() {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SelectorOperator {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SelectorRequirement {
    pub key: Str,
    pub operator: SelectorOperator,
    pub values: Vec<Str>,
}

/// A `metav1.LabelSelector`: all `match_labels` and all `match_expressions` must hold. An
/// empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LabelSelector {
    pub match_labels: Labels,
    pub match_expressions: Vec<SelectorRequirement>,
}

impl LabelSelector {
    pub fn from_labels(labels: Labels) -> LabelSelector {
        LabelSelector {
            match_labels: labels,
            match_expressions: Vec::new(),
        }
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        labels.contains_all(&self.match_labels)
            && self.match_expressions.iter().all(|req| {
                let value = labels.get(&req.key);
                match req.operator {
                    SelectorOperator::In => value.is_some_and(|v| req.values.contains(v)),
                    SelectorOperator::NotIn => value.is_none_or(|v| !req.values.contains(v)),
                    SelectorOperator::Exists => value.is_some(),
                    SelectorOperator::DoesNotExist => value.is_none(),
                }
            })
    }

    pub fn is_empty(&self) -> bool {
        self.match_labels.is_empty() && self.match_expressions.is_empty()
    }
}

/// An owner reference: who this object belongs to, for the garbage collector and for
/// controllers adopting their objects.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OwnerReference {
    pub kind: Kind,
    pub name: Str,
    pub uid: u64,
    pub controller: bool,
    /// While this object exists, a foreground deletion of the owner waits for it
    /// (the owner keeps its `foregroundDeletion` finalizer).
    pub block_owner_deletion: bool,
}

impl OwnerReference {
    /// The reference a controller puts on what it creates, as upstream's
    /// `metav1.NewControllerRef` does: `controller` and `blockOwnerDeletion` both true.
    pub fn controlled_by(kind: Kind, name: Str, uid: u64) -> OwnerReference {
        OwnerReference {
            kind,
            name,
            uid,
            controller: true,
            block_owner_deletion: true,
        }
    }
}

/// `metav1.ObjectMeta`, the fields kubesim models.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectMeta {
    pub name: Str,
    /// Empty for cluster-scoped objects.
    pub namespace: Str,
    /// Used by the API server when `name` is empty: it appends five random characters.
    pub generate_name: Str,
    /// Assigned by the API server from a seeded counter; 0 until created.
    pub uid: u64,
    /// The etcd revision of the last write; 0 until created.
    pub resource_version: u64,
    /// Bumped by the API server on every spec change.
    pub generation: u64,
    pub labels: Labels,
    pub annotations: Labels,
    pub owner_references: Vec<OwnerReference>,
    pub creation_timestamp: SimTime,
    pub deletion_timestamp: Option<SimTime>,
    pub deletion_grace_period_seconds: Option<u64>,
    /// Keys that hold a deleted object in storage (with its `deletion_timestamp` set)
    /// until whoever owns each key removes it: `foregroundDeletion`, `orphan`, or a
    /// user's own.
    pub finalizers: Vec<Str>,
}

impl ObjectMeta {
    pub fn named(namespace: &str, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: s(name),
            namespace: s(namespace),
            generate_name: s(""),
            uid: 0,
            resource_version: 0,
            generation: 0,
            labels: Labels::new(),
            annotations: Labels::new(),
            owner_references: Vec::new(),
            creation_timestamp: SimTime::ZERO,
            deletion_timestamp: None,
            deletion_grace_period_seconds: None,
            finalizers: Vec::new(),
        }
    }

    pub fn controller_ref(&self) -> Option<&OwnerReference> {
        self.owner_references.iter().find(|r| r.controller)
    }

    pub fn is_terminating(&self) -> bool {
        self.deletion_timestamp.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_stay_sorted_and_replace() {
        let mut labels = Labels::from_pairs([("b", "2"), ("a", "1")]);
        labels.insert(s("a"), s("one"));
        assert_eq!(labels.to_string(), "a=one,b=2");
        assert_eq!(labels.remove("b").as_deref(), Some("2"));
        assert_eq!(labels.len(), 1);
    }

    #[test]
    fn selector_operators() {
        let labels = Labels::from_pairs([("app", "web"), ("tier", "front")]);
        let req = |key: &str, operator, values: &[&str]| SelectorRequirement {
            key: s(key),
            operator,
            values: values.iter().map(|v| s(v)).collect(),
        };
        let selector = |reqs| LabelSelector {
            match_labels: Labels::from_pairs([("app", "web")]),
            match_expressions: reqs,
        };
        assert!(selector(vec![]).matches(&labels));
        assert!(
            selector(vec![req("tier", SelectorOperator::In, &["front", "x"])]).matches(&labels)
        );
        assert!(!selector(vec![req("tier", SelectorOperator::NotIn, &["front"])]).matches(&labels));
        assert!(selector(vec![req("zone", SelectorOperator::DoesNotExist, &[])]).matches(&labels));
        assert!(!selector(vec![req("zone", SelectorOperator::Exists, &[])]).matches(&labels));
        assert!(LabelSelector::default().matches(&Labels::new()));
    }

    #[test]
    fn etcd_keys() {
        let pod = ObjectKey::new(Kind::Pod, &s("default"), &s("web"));
        assert_eq!(pod.etcd_key(), "/registry/pods/default/web");
        let node = ObjectKey::new(Kind::Node, &s("ignored"), &s("node-1"));
        assert_eq!(node.etcd_key(), "/registry/nodes/node-1");
        assert_eq!(node.to_string(), "node/node-1");
    }
}
