//! One member's MVCC store: current values by key, the revision counter, the change
//! history that watches replay, compaction, and the backend size that `--quota-backend-
//! bytes` limits.
//!
//! Every member applies the same committed log entries in the same order to its own
//! store, so revisions are identical across members (etcd's consistent index). Values are
//! kubesim objects; the store stamps each write's revision into the object's
//! `resource_version`, as the API server's versioner does on read.
//!
//! Size accounting follows bbolt as etcd uses it (server/storage/backend): every kept
//! revision of a key occupies pages. A put keeps the previous revision until compaction
//! frees it; freed pages are reused by later writes but the database file does not
//! shrink until a defragmentation rewrites it. The NOSPACE quota checks the file size
//! (`backend.Size()`), not what is in use, which is why compaction alone does not clear
//! the alarm (etcd's maintenance guide: compact, defragment, then disarm).

use std::collections::VecDeque;

use sim_core::FxIndexMap;

use crate::api::{Kind, NamespacedName, Object, ObjectKey};

use super::{Compare, EtcdEventType, EtcdWatchEvent, TxnOp};

/// One key's current state.
#[derive(Clone, Debug)]
pub(crate) struct KeyValue {
    pub object: Object,
    pub create_revision: u64,
    pub mod_revision: u64,
    /// `estimated_bytes(&object)`, computed once at the put.
    pub bytes: u64,
}

/// A change kept in history for watches that start in the past.
#[derive(Clone, Debug)]
pub(crate) struct Change {
    pub revision: u64,
    pub type_: EtcdEventType,
    pub key: ObjectKey,
    pub object: Object,
    pub previous: Option<Object>,
    /// `estimated_bytes` of `previous` (0 without one): what compaction frees.
    pub previous_bytes: u64,
}

impl Change {
    pub fn to_event(&self, watch_id: u64) -> EtcdWatchEvent {
        EtcdWatchEvent {
            watch_id,
            revision: self.revision,
            type_: self.type_,
            key: self.key.clone(),
            object: self.object.clone(),
            previous: self.previous.clone(),
        }
    }
}

/// Current values, one hash map per kind (a key's prefix in real etcd). Point reads and
/// writes hash the key; a range sorts, so it returns keys in etcd's lexical order.
#[derive(Clone, Debug, Default)]
struct KeyIndex {
    kinds: [FxIndexMap<NamespacedName, KeyValue>; Kind::ALL.len()],
}

impl KeyIndex {
    fn of(&self, kind: Kind) -> &FxIndexMap<NamespacedName, KeyValue> {
        &self.kinds[kind as usize]
    }
    fn get(&self, key: &ObjectKey) -> Option<&KeyValue> {
        self.of(key.kind).get(&key.lookup())
    }
    fn len(&self) -> usize {
        self.kinds.iter().map(FxIndexMap::len).sum()
    }
    /// Every value of `kind`, in key order.
    fn sorted(&self, kind: Kind) -> Vec<&KeyValue> {
        let mut entries: Vec<_> = self.of(kind).iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        entries.into_iter().map(|(_, kv)| kv).collect()
    }
}

/// What applying one transaction did.
#[derive(Debug)]
pub(crate) enum TxnOutcome {
    /// The compare failed: nothing written; the current value, if any.
    Failed { current: Option<Object> },
    /// A delete of a key that does not exist: success without a new revision.
    Nothing,
    /// Written at a new revision; the change is the newest in history.
    Written,
}

/// The applied state of one member: what its backend database holds. It survives a
/// crash (it is on disk) and is what a snapshot carries.
#[derive(Clone, Debug, Default)]
pub struct Store {
    revision: u64,
    compact_revision: u64,
    keys: KeyIndex,
    history: VecDeque<Change>,
    /// Bytes of every revision kept: current values, plus each value a change after the
    /// compact revision superseded.
    in_use_bytes: u64,
    /// The database file's size: grows when what is in use outgrows it, shrinks only by
    /// defragmentation.
    db_size_bytes: u64,
    /// The NOSPACE alarm is raised (alarms are applied through the log, so every member
    /// agrees).
    nospace_alarm: bool,
}

/// An estimate of the bytes one stored revision of `object` takes in the backend:
/// the key, the protobuf value with its metadata, and bbolt's per-item overhead. The
/// per-kind bases are assumptions from typical `etcdctl get -w json` sizes of objects
/// as kubectl creates them (managedFields included), not upstream figures.
pub fn estimated_bytes(object: &Object) -> u64 {
    let meta = object.meta();
    let base: u64 = match object.kind() {
        Kind::Pod => 2_500,
        Kind::Node => 4_000,
        Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet => 2_000,
        Kind::ReplicaSet | Kind::Job => 1_800,
        Kind::EndpointSlice => 600,
        Kind::Service => 900,
        Kind::Lease => 350,
        Kind::Namespace => 300,
        Kind::PriorityClass | Kind::RuntimeClass => 300,
        Kind::PodDisruptionBudget | Kind::HorizontalPodAutoscaler => 700,
    };
    let extra = match object {
        Object::Pod(pod) => 400 * (pod.spec.containers.len() + pod.spec.init_containers.len()),
        Object::EndpointSlice(slice) => 150 * slice.endpoints.len(),
        _ => 0,
    } as u64;
    let labels = 48 * (meta.labels.len() + meta.annotations.len()) as u64;
    // The key: /registry/<resource>/<namespace>/<name>.
    let key = 12 + (object.kind().resource().len() + meta.namespace.len() + meta.name.len()) as u64;
    base + extra + labels + 2 * key
}

impl Store {
    pub fn revision(&self) -> u64 {
        self.revision
    }
    pub fn compact_revision(&self) -> u64 {
        self.compact_revision
    }
    pub fn get(&self, key: &ObjectKey) -> Option<&Object> {
        self.keys.get(key).map(|kv| &kv.object)
    }
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }
    pub fn in_use_bytes(&self) -> u64 {
        self.in_use_bytes
    }
    pub fn db_size_bytes(&self) -> u64 {
        self.db_size_bytes
    }
    pub fn nospace_alarm(&self) -> bool {
        self.nospace_alarm
    }

    /// Every current value of one kind, in key order.
    pub fn objects(&self, kind: Kind) -> impl Iterator<Item = &Object> {
        self.keys.sorted(kind).into_iter().map(|kv| &kv.object)
    }

    /// The newest change (after a write).
    pub(crate) fn latest(&self) -> Option<&Change> {
        self.history.back()
    }

    /// Changes to `kind` from `start_revision` on, oldest first.
    pub(crate) fn changes_from(
        &self,
        kind: Kind,
        start_revision: u64,
    ) -> impl Iterator<Item = &Change> {
        let start = self
            .history
            .partition_point(|c| c.revision < start_revision);
        self.history
            .range(start..)
            .filter(move |c| c.key.kind == kind)
    }

    /// Every change after `revision`, oldest first, as (value before, value after; `None`
    /// after a delete). `None` when compaction has already dropped some of them (or the
    /// store went back to an older revision).
    pub fn changes_since(
        &self,
        revision: u64,
    ) -> Option<impl Iterator<Item = (Option<&Object>, Option<&Object>)>> {
        let history = &self.history;
        if revision > self.revision {
            return None;
        }
        let oldest_kept = history.front().map_or(self.revision + 1, |c| c.revision);
        if revision + 1 < oldest_kept && revision < self.revision {
            return None;
        }
        // Every revision is one change, so the history's revisions are consecutive and
        // the start is found by subtraction (checkers call this after every write).
        let start = (revision + 1).saturating_sub(oldest_kept) as usize;
        assert!(
            history
                .get(start)
                .is_none_or(|c| c.revision == revision + 1),
            "etcd history skips a revision"
        );
        Some(history.range(start..).map(|c| {
            let after = match c.type_ {
                EtcdEventType::Put => Some(&c.object),
                EtcdEventType::Delete => None,
            };
            (c.previous.as_ref(), after)
        }))
    }

    /// The change at `revision` as (value before, value after; `None` after a delete),
    /// if history still holds it: what `changes_since(revision - 1)` yields first,
    /// found by subtraction (checkers look at one new write after another).
    pub fn change_at(&self, revision: u64) -> Option<(Option<&Object>, Option<&Object>)> {
        let oldest_kept = self.history.front()?.revision;
        let change = self
            .history
            .get(usize::try_from(revision.checked_sub(oldest_kept)?).ok()?)?;
        assert_eq!(change.revision, revision, "etcd history skips a revision");
        let after = match change.type_ {
            EtcdEventType::Put => Some(&change.object),
            EtcdEventType::Delete => None,
        };
        Some((change.previous.as_ref(), after))
    }

    /// Whether a put of `cost_bytes` fits under `quota_bytes` (etcd's backendQuota
    /// `Available`: the file size plus the request's cost must stay below the quota;
    /// server/etcdserver/api/v3rpc/quota.go and storage/quota.go).
    pub fn quota_allows(&self, cost_bytes: u64, quota_bytes: u64) -> bool {
        self.db_size_bytes.saturating_add(cost_bytes) < quota_bytes
    }

    /// Applies `if compare then op` on one key.
    pub(crate) fn apply_txn(&mut self, key: &ObjectKey, compare: Compare, op: TxnOp) -> TxnOutcome {
        // The key is hashed once: a put over an existing key replaces its value in place.
        let values = &mut self.keys.kinds[key.kind as usize];
        let index = values.get_index_of(&key.lookup());
        let current = index.map(|index| &values[index]);
        let holds = match compare {
            Compare::Any => true,
            Compare::Absent => current.is_none(),
            Compare::ModRevision(rev) => current.is_some_and(|kv| kv.mod_revision == rev),
        };
        if !holds {
            return TxnOutcome::Failed {
                current: current.map(|kv| kv.object.clone()),
            };
        }
        if matches!(op, TxnOp::Delete) && current.is_none() {
            return TxnOutcome::Nothing;
        }
        self.revision += 1;
        let revision = self.revision;
        let previous = current.map(|kv| kv.object.clone());
        let previous_bytes = current.map_or(0, |kv| kv.bytes);
        let create_revision = current.map_or(revision, |kv| kv.create_revision);
        let (type_, object) = match op {
            TxnOp::Put(object) => {
                assert!(
                    object.has_key(key),
                    "etcd put under a key that is not the object's"
                );
                // Unshared when a lone member applies it: the stamp then copies nothing.
                let mut object = object;
                object.meta_mut().resource_version = revision;
                let bytes = estimated_bytes(&object);
                self.in_use_bytes += bytes;
                let value = KeyValue {
                    object: object.clone(),
                    create_revision,
                    mod_revision: revision,
                    bytes,
                };
                match index {
                    Some(index) => values[index] = value,
                    None => {
                        values.insert(key.namespaced_name(), value);
                    }
                }
                (EtcdEventType::Put, object)
            }
            TxnOp::Delete => {
                let index = index.expect("checked above");
                let (_, removed) = values
                    .swap_remove_index(index)
                    .expect("an index just found");
                let mut last = removed.object;
                last.meta_mut().resource_version = revision;
                (EtcdEventType::Delete, last)
            }
        };
        self.db_size_bytes = self.db_size_bytes.max(self.in_use_bytes);
        self.history.push_back(Change {
            revision,
            type_,
            key: key.clone(),
            object,
            previous,
            previous_bytes,
        });
        TxnOutcome::Written
    }

    /// Forgets history at or below `revision` (clamped to the current revision); the
    /// superseded revisions' pages are freed. False when nothing was left to compact.
    pub fn compact(&mut self, revision: u64) -> bool {
        let revision = revision.min(self.revision);
        if revision <= self.compact_revision {
            return false;
        }
        self.compact_revision = revision;
        while self.history.front().is_some_and(|c| c.revision <= revision) {
            let change = self.history.pop_front().expect("checked");
            if change.previous.is_some() {
                self.in_use_bytes -= change.previous_bytes;
            }
        }
        true
    }

    /// Rewrites the database file without its free pages (`etcdctl defrag`).
    pub fn defragment(&mut self) {
        self.db_size_bytes = self.in_use_bytes;
    }

    pub fn set_nospace_alarm(&mut self, raised: bool) {
        self.nospace_alarm = raised;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Namespace, ObjectMeta};

    fn namespace(name: &str) -> Object {
        Object::from(Namespace {
            metadata: ObjectMeta::named("", name),
        })
    }

    fn put(store: &mut Store, name: &str) {
        let object = namespace(name);
        let outcome = store.apply_txn(&object.key(), Compare::Any, TxnOp::Put(object));
        assert!(matches!(outcome, TxnOutcome::Written));
    }

    #[test]
    fn revisions_count_writes_and_compares_guard_them() {
        let mut store = Store::default();
        put(&mut store, "a");
        put(&mut store, "a");
        assert_eq!(store.revision(), 2);
        let key = namespace("a").key();
        assert!(matches!(
            store.apply_txn(&key, Compare::ModRevision(1), TxnOp::Delete),
            TxnOutcome::Failed { current: Some(_) }
        ));
        assert!(matches!(
            store.apply_txn(&key, Compare::Absent, TxnOp::Put(namespace("a"))),
            TxnOutcome::Failed { .. }
        ));
        assert!(matches!(
            store.apply_txn(&key, Compare::ModRevision(2), TxnOp::Delete),
            TxnOutcome::Written
        ));
        let missing = namespace("b").key();
        assert!(matches!(
            store.apply_txn(&missing, Compare::Any, TxnOp::Delete),
            TxnOutcome::Nothing
        ));
        assert_eq!(store.revision(), 3);
        assert_eq!(store.get(&key), None);
    }

    #[test]
    fn compaction_frees_pages_but_only_defrag_shrinks_the_file() {
        let mut store = Store::default();
        let one = estimated_bytes(&namespace("a"));
        for _ in 0..10 {
            put(&mut store, "a");
        }
        // Ten revisions of one key are kept until compaction.
        assert_eq!(store.in_use_bytes(), 10 * one);
        assert_eq!(store.db_size_bytes(), 10 * one);
        assert!(store.compact(store.revision()));
        assert_eq!(store.in_use_bytes(), one, "only the current value stays");
        assert_eq!(store.db_size_bytes(), 10 * one, "the file keeps its size");
        // Freed pages are reused before the file grows.
        put(&mut store, "a");
        assert_eq!(store.db_size_bytes(), 10 * one);
        store.defragment();
        assert_eq!(store.db_size_bytes(), 2 * one);
        assert!(
            !store.compact(1),
            "nothing below the compact revision is left"
        );
    }

    #[test]
    fn the_quota_compares_the_file_size_plus_the_request() {
        let mut store = Store::default();
        put(&mut store, "a");
        let size = store.db_size_bytes();
        assert!(store.quota_allows(10, size + 11));
        assert!(
            !store.quota_allows(10, size + 10),
            "etcd needs size + cost < quota"
        );
        assert!(!store.quota_allows(0, size));
    }

    #[test]
    fn changes_since_reports_gaps_after_compaction() {
        let mut store = Store::default();
        for name in ["a", "b", "c"] {
            put(&mut store, name);
        }
        assert_eq!(store.changes_since(1).expect("kept").count(), 2);
        store.compact(2);
        assert!(store.changes_since(1).is_none(), "revision 2 was compacted");
        assert_eq!(store.changes_since(2).expect("kept").count(), 1);
        assert_eq!(store.changes_from(Kind::Namespace, 0).count(), 1);
        assert!(store.change_at(2).is_none(), "compacted");
        assert!(store.change_at(4).is_none(), "not written yet");
        let (previous, after) = store.change_at(3).expect("kept");
        assert!(previous.is_none());
        assert_eq!(
            after.map(|o| o.meta().name.to_string()),
            Some("c".to_string())
        );
    }
}
