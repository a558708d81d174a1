//! etcd: a multi-version key-value store with revisions and watches.
//!
//! One member here. The request/response shapes are those a Raft cluster serves through
//! its leader (transactions with a compare, ranges at a revision, watches from a start
//! revision, compaction), so a cluster can replace the single member without touching the
//! API server. Values are kubesim objects; etcd stamps each write's revision into the
//! object's `resource_version`, as the API server's versioner does on read.
//!
//! The write-ahead log is modelled as the whole store surviving a crash: a restarted
//! member answers with everything it had committed.

use std::collections::VecDeque;

use sim_core::{Actor, ActorId, Context, Event, FxIndexMap, SimDuration, TraceHasher};

use crate::api::{Kind, NamespacedName, Object, ObjectKey};
use crate::msg::{Fingerprint, Msg};

/// Settings of one etcd member.
#[derive(Clone, Debug)]
pub struct EtcdConfig {
    /// Time from receiving a write to answering it: WAL append and fsync. An assumption:
    /// etcd's docs ask for fsync p99 under 10 ms; 2 ms is a healthy SSD.
    pub commit_latency: SimDuration,
    /// Time to answer a read.
    pub read_latency: SimDuration,
}

impl Default for EtcdConfig {
    fn default() -> Self {
        EtcdConfig {
            commit_latency: SimDuration::from_millis(2),
            read_latency: SimDuration::from_micros(200),
        }
    }
}

/// A write's precondition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    /// Unconditional.
    Any,
    /// The key must not exist (create).
    Absent,
    /// The key must exist with this mod revision (optimistic concurrency).
    ModRevision(u64),
}

#[derive(Clone, Debug)]
pub enum TxnOp {
    Put(Object),
    Delete,
}

#[derive(Clone, Debug)]
pub enum EtcdRequest {
    /// `if compare then op`, on one key.
    Txn {
        id: u64,
        key: ObjectKey,
        compare: Compare,
        op: TxnOp,
    },
    /// Every current value of one kind, and the store's revision.
    Range { id: u64, kind: Kind },
    /// Streams every change to `kind` from `start_revision` (inclusive) on.
    Watch {
        watch_id: u64,
        kind: Kind,
        start_revision: u64,
    },
    /// Forget history at or below `revision`.
    Compact { revision: u64 },
}

#[derive(Clone, Debug)]
pub enum EtcdResponse {
    Txn {
        id: u64,
        succeeded: bool,
        /// The store's revision after the transaction.
        revision: u64,
        /// On success the value written (none for a delete); on failure the current value.
        value: Option<Object>,
        /// The event the requester's own watch on this kind would receive for this write,
        /// carried with the response. Both leave etcd at the same instant over the same
        /// local connection, so one delivery stands for two (one event fewer per write);
        /// the requester applies the watch event first, as it would have arrived first.
        own_watch_event: Option<Box<EtcdWatchEvent>>,
    },
    Range {
        id: u64,
        items: Vec<Object>,
        revision: u64,
    },
    /// A watch asked for history that compaction already removed.
    WatchCompacted {
        watch_id: u64,
        compact_revision: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EtcdEventType {
    Put,
    Delete,
}

/// One change, as a watch delivers it.
#[derive(Clone, Debug)]
pub struct EtcdWatchEvent {
    pub watch_id: u64,
    pub revision: u64,
    pub type_: EtcdEventType,
    pub key: ObjectKey,
    /// The new value; for a delete, the last value (with the delete's revision stamped).
    pub object: Object,
    /// The value before this change, if any.
    pub previous: Option<Object>,
}

#[derive(Clone, Debug)]
pub enum Tick {}

/// One key's current state.
#[derive(Clone, Debug)]
struct KeyValue {
    object: Object,
    create_revision: u64,
    mod_revision: u64,
}

/// A change kept in history for watches that start in the past.
#[derive(Clone, Debug)]
struct Change {
    revision: u64,
    type_: EtcdEventType,
    key: ObjectKey,
    object: Object,
    previous: Option<Object>,
}

#[derive(Clone, Debug)]
struct Watcher {
    client: ActorId,
    watch_id: u64,
    kind: Kind,
}

/// The durable part of a member: what its WAL and snapshot hold.
#[derive(Clone, Debug, Default)]
struct Durable {
    revision: u64,
    compact_revision: u64,
    store: Store,
    history: VecDeque<Change>,
}

/// Current values, one hash map per kind (a key's prefix in real etcd). Point reads and
/// writes hash the key; a range sorts, so it returns keys in etcd's lexical order.
#[derive(Clone, Debug, Default)]
struct Store {
    kinds: [FxIndexMap<NamespacedName, KeyValue>; Kind::ALL.len()],
}

impl Store {
    fn of(&self, kind: Kind) -> &FxIndexMap<NamespacedName, KeyValue> {
        &self.kinds[kind as usize]
    }
    fn get(&self, key: &ObjectKey) -> Option<&KeyValue> {
        self.of(key.kind).get(&key.lookup())
    }
    fn insert(&mut self, key: &ObjectKey, value: KeyValue) {
        self.kinds[key.kind as usize].insert(key.namespaced_name(), value);
    }
    fn remove(&mut self, key: &ObjectKey) -> Option<KeyValue> {
        self.kinds[key.kind as usize].swap_remove(&key.lookup())
    }
    fn len(&self) -> usize {
        self.kinds.iter().map(FxIndexMap::len).sum()
    }
    /// Every value of `kind`, in key order.
    fn sorted(&self, kind: Kind) -> Vec<&KeyValue> {
        let mut entries: Vec<_> = self.of(kind).iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        entries.into_iter().map(|(_, kv)| kv).collect()
    }
}

pub struct Etcd {
    config: EtcdConfig,
    durable: Durable,
    /// Watches live in memory: a crash ends them.
    watchers: Vec<Watcher>,
}

impl Etcd {
    pub fn new(config: EtcdConfig) -> Etcd {
        Etcd {
            config,
            durable: Durable::default(),
            watchers: Vec::new(),
        }
    }

    /// The latest revision.
    pub fn revision(&self) -> u64 {
        self.durable.revision
    }

    /// Current value of a key, for observers outside the simulation (expectations, reports).
    pub fn get(&self, key: &ObjectKey) -> Option<&Object> {
        self.durable.store.get(key).map(|kv| &kv.object)
    }

    /// Every current value of one kind, in key order.
    pub fn objects(&self, kind: Kind) -> impl Iterator<Item = &Object> {
        self.durable
            .store
            .sorted(kind)
            .into_iter()
            .map(|kv| &kv.object)
    }

    /// Every change after `revision`, oldest first, as (value before, value after; `None`
    /// after a delete), for checkers outside the simulation. `None` when compaction has
    /// already dropped some of them (or the store went back to an older revision).
    pub fn changes_since(
        &self,
        revision: u64,
    ) -> Option<impl Iterator<Item = (Option<&Object>, Option<&Object>)>> {
        let history = &self.durable.history;
        if revision > self.durable.revision {
            return None;
        }
        let oldest_kept = history
            .front()
            .map_or(self.durable.revision + 1, |c| c.revision);
        if revision + 1 < oldest_kept && revision < self.durable.revision {
            return None;
        }
        // Checkers call this after nearly every write, for the last few changes: walk back
        // from the newest rather than binary-searching the whole history.
        let mut start = history.len();
        while start > 0 && history[start - 1].revision > revision {
            start -= 1;
        }
        Some(history.range(start..).map(|c| {
            let after = match c.type_ {
                EtcdEventType::Put => Some(&c.object),
                EtcdEventType::Delete => None,
            };
            (c.previous.as_ref(), after)
        }))
    }

    pub fn key_count(&self) -> usize {
        self.durable.store.len()
    }

    fn handle(&mut self, from: ActorId, request: EtcdRequest, cx: &mut Context<'_, Msg>) {
        match request {
            EtcdRequest::Txn {
                id,
                key,
                compare,
                op,
            } => self.txn(from, id, key, compare, op, cx),
            EtcdRequest::Range { id, kind } => {
                let items = self.objects(kind).cloned().collect();
                let response = EtcdResponse::Range {
                    id,
                    items,
                    revision: self.durable.revision,
                };
                cx.send_after(
                    self.config.read_latency,
                    from,
                    Msg::EtcdReply(Box::new(response)),
                );
            }
            EtcdRequest::Watch {
                watch_id,
                kind,
                start_revision,
            } => self.watch(from, watch_id, kind, start_revision, cx),
            EtcdRequest::Compact { revision } => {
                let revision = revision.min(self.durable.revision);
                if revision > self.durable.compact_revision {
                    self.durable.compact_revision = revision;
                    while self
                        .durable
                        .history
                        .front()
                        .is_some_and(|c| c.revision <= revision)
                    {
                        self.durable.history.pop_front();
                    }
                    cx.record("detail", || {
                        format!("compacted history up to revision {revision}")
                    });
                }
            }
        }
    }

    fn txn(
        &mut self,
        from: ActorId,
        id: u64,
        key: ObjectKey,
        compare: Compare,
        op: TxnOp,
        cx: &mut Context<'_, Msg>,
    ) {
        let current = self.durable.store.get(&key);
        let holds = match compare {
            Compare::Any => true,
            Compare::Absent => current.is_none(),
            Compare::ModRevision(rev) => current.is_some_and(|kv| kv.mod_revision == rev),
        };
        // A failed compare answers with the current value; deleting nothing succeeds
        // without a new revision. Neither writes.
        let deletes_nothing = matches!(op, TxnOp::Delete) && current.is_none();
        if !holds || deletes_nothing {
            let response = EtcdResponse::Txn {
                id,
                succeeded: holds,
                revision: self.durable.revision,
                value: if holds {
                    None
                } else {
                    current.map(|kv| kv.object.clone())
                },
                own_watch_event: None,
            };
            cx.send_after(
                self.config.read_latency,
                from,
                Msg::EtcdReply(Box::new(response)),
            );
            return;
        }
        self.durable.revision += 1;
        let revision = self.durable.revision;
        let previous = current.map(|kv| kv.object.clone());
        let (type_, object, stored) = match op {
            TxnOp::Put(mut object) => {
                assert_eq!(
                    object.key(),
                    key,
                    "etcd put under a key that is not the object's"
                );
                object.meta_mut().resource_version = revision;
                let create_revision = self
                    .durable
                    .store
                    .get(&key)
                    .map_or(revision, |kv| kv.create_revision);
                self.durable.store.insert(
                    &key,
                    KeyValue {
                        object: object.clone(),
                        create_revision,
                        mod_revision: revision,
                    },
                );
                (EtcdEventType::Put, object.clone(), Some(object))
            }
            TxnOp::Delete => {
                let removed = self.durable.store.remove(&key).expect("checked above");
                let mut last = removed.object;
                last.meta_mut().resource_version = revision;
                (EtcdEventType::Delete, last, None)
            }
        };
        let change = Change {
            revision,
            type_,
            key,
            object,
            previous,
        };
        let created = change.previous.is_none();
        let kind = if (created || type_ == EtcdEventType::Delete)
            && !matches!(
                change.key.kind,
                Kind::Lease | Kind::Namespace | Kind::PriorityClass
            ) {
            "step"
        } else {
            "detail"
        };
        if change.key.kind != Kind::Lease {
            let verb = match (type_, created) {
                (EtcdEventType::Delete, _) => "deleted",
                (EtcdEventType::Put, true) => "stored",
                (EtcdEventType::Put, false) => "updated",
            };
            cx.record(kind, || {
                format!("{verb} {} at revision {revision}", change.key.etcd_key())
            });
        }
        // Watch events go out with the response, once the write is durable.
        let mut own_watch_event = None;
        for watcher in self.watchers.iter().filter(|w| w.kind == change.key.kind) {
            let event = Box::new(change.to_event(watcher.watch_id));
            if watcher.client == from && own_watch_event.is_none() {
                own_watch_event = Some(event);
            } else {
                cx.send_after(
                    self.config.commit_latency,
                    watcher.client,
                    Msg::EtcdWatch(event),
                );
            }
        }
        self.durable.history.push_back(change);
        let response = EtcdResponse::Txn {
            id,
            succeeded: true,
            revision,
            value: stored,
            own_watch_event,
        };
        cx.send_after(
            self.config.commit_latency,
            from,
            Msg::EtcdReply(Box::new(response)),
        );
    }

    fn watch(
        &mut self,
        from: ActorId,
        watch_id: u64,
        kind: Kind,
        start_revision: u64,
        cx: &mut Context<'_, Msg>,
    ) {
        if start_revision != 0 && start_revision <= self.durable.compact_revision {
            let response = EtcdResponse::WatchCompacted {
                watch_id,
                compact_revision: self.durable.compact_revision,
            };
            cx.send(from, Msg::EtcdReply(Box::new(response)));
            return;
        }
        for change in
            self.durable.history.iter().filter(|c| {
                c.key.kind == kind && c.revision >= start_revision && start_revision != 0
            })
        {
            cx.send_after(
                self.config.read_latency,
                from,
                Msg::EtcdWatch(Box::new(change.to_event(watch_id))),
            );
        }
        self.watchers
            .retain(|w| !(w.client == from && w.watch_id == watch_id));
        self.watchers.push(Watcher {
            client: from,
            watch_id,
            kind,
        });
    }
}

impl Change {
    fn to_event(&self, watch_id: u64) -> EtcdWatchEvent {
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

impl Actor<Msg> for Etcd {
    fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
        match event {
            Event::Start => {
                let revision = self.durable.revision;
                let keys = self.durable.store.len();
                cx.record("detail", || {
                    format!("etcd member serving at revision {revision} with {keys} keys")
                });
            }
            Event::Message {
                from,
                msg: Msg::Etcd(request),
            } => self.handle(from, *request, cx),
            Event::Message { msg, .. } | Event::Timer(msg) => {
                panic!("etcd got an unexpected message: {msg:?}")
            }
        }
    }

    fn on_crash(&mut self) {
        self.watchers.clear();
    }
}

impl Fingerprint for EtcdRequest {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            EtcdRequest::Txn { id, key, .. } => {
                hasher.write_u64(1);
                hasher.write_u64(*id);
                hasher.write_str(&key.name);
            }
            EtcdRequest::Range { id, kind } => {
                hasher.write_u64(2);
                hasher.write_u64(*id);
                hasher.write_u64(kind.code());
            }
            EtcdRequest::Watch {
                watch_id,
                start_revision,
                ..
            } => {
                hasher.write_u64(3);
                hasher.write_u64(*watch_id);
                hasher.write_u64(*start_revision);
            }
            EtcdRequest::Compact { revision } => {
                hasher.write_u64(4);
                hasher.write_u64(*revision);
            }
        }
    }
}

impl Fingerprint for EtcdResponse {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            EtcdResponse::Txn {
                id,
                succeeded,
                revision,
                own_watch_event,
                ..
            } => {
                hasher.write_u64(*id);
                hasher.write_u64(u64::from(*succeeded));
                hasher.write_u64(*revision);
                if let Some(event) = own_watch_event {
                    event.fingerprint(hasher);
                }
            }
            EtcdResponse::Range {
                id,
                revision,
                items,
            } => {
                hasher.write_u64(*id);
                hasher.write_u64(*revision);
                hasher.write_u64(items.len() as u64);
            }
            EtcdResponse::WatchCompacted {
                watch_id,
                compact_revision,
            } => {
                hasher.write_u64(*watch_id);
                hasher.write_u64(*compact_revision);
            }
        }
    }
}

impl Fingerprint for EtcdWatchEvent {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        hasher.write_u64(self.watch_id);
        hasher.write_u64(self.revision);
        hasher.write_u64(self.type_ as u64);
    }
}

impl Fingerprint for Tick {
    fn fingerprint(&self, _hasher: &mut TraceHasher) {
        match *self {}
    }
}
