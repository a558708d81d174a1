//! The garbage collector (pkg/controller/garbagecollector: graph_builder.go,
//! garbagecollector.go): deletes objects whose owners are gone, and carries out the
//! foreground and orphan propagation policies.
//!
//! The graph: one node per uid the controller manager's informers show (every kind they
//! watch), with its ownerReferences and the uids of its dependents, updated from each
//! informer delta. An owner referenced before it is observed is a *virtual* node.
//!
//! Two work queues (kinds of [`WorkKey`]), as upstream:
//! - attemptToDelete (`GarbageCollect(uid)`): the object is read live with a GET (the
//!   graph may lag); each owner is read live too (a 404 or another uid makes the
//!   reference *dangling*; an owner being deleted with `foregroundDeletion` makes it
//!   *waiting*; otherwise it is *solid*). With a solid owner, dangling and waiting
//!   references are removed; with none, the object is deleted (in the foreground when a
//!   waiting owner needs it and it has dependents of its own). An object in the
//!   foreground deletion of its own dependents loses its `foregroundDeletion` finalizer
//!   once no dependent with `blockOwnerDeletion` is left.
//! - attemptToOrphan (`Orphan(uid)`): every dependent loses its references to the owner,
//!   then the owner loses its `orphan` finalizer (and the API server deletes it).
//!
//! What enqueues: an owner's deletion enqueues its dependents; an object observed with a
//! new deletion timestamp and `foregroundDeletion` enqueues its dependents and itself; a
//! dependent's deletion (or dropped reference) enqueues an owner deleting its dependents;
//! `orphan` on a deleted object enqueues the orphaning; a virtual node is enqueued to
//! find out whether it exists.
//!
//! Not modelled: the circular blockOwnerDeletion unblocking upstream does when a waiting
//! owner's dependent is itself deleting dependents; discovery of kinds nobody watches
//! (the GC sees the kinds the controller manager's informers list); the 30 s resync.

use sim_core::{Context, FxIndexMap, FxIndexSet};

use super::{ControllerManager, Pending, WorkKey};
use crate::api::{
    ApiOk, ApiResponse, ApiVerb, FINALIZER_FOREGROUND_DELETION, FINALIZER_ORPHAN, Kind, Object,
    ObjectKey, ObjectMeta, OwnerReference, PropagationPolicy, Resource, StatusReason, Str,
};
use crate::client::Delta;
use crate::msg::Msg;

/// Upstream `absentOwnerCache` holds 500 uids (an LRU; here the oldest goes first).
pub const ABSENT_OWNER_CACHE_SIZE: usize = 500;

/// Whether the graph has seen the object itself or only references to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    /// Only named by a dependent's ownerReference; may not exist.
    Virtual,
    Observed,
}

/// Where an observed object is in its own deletion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deletion {
    Alive,
    /// It has a deletion timestamp.
    BeingDeleted,
    /// It has a deletion timestamp and `foregroundDeletion`: its blocking dependents go
    /// first.
    DeletingDependents,
}

#[derive(Clone, Debug)]
pub struct GraphNode {
    pub key: ObjectKey,
    pub presence: Presence,
    pub deletion: Deletion,
    /// The object's ownerReferences as last observed (empty while virtual).
    pub owners: Vec<OwnerReference>,
    pub dependents: FxIndexSet<u64>,
}

impl GraphNode {
    fn new(key: ObjectKey, presence: Presence) -> GraphNode {
        GraphNode {
            key,
            presence,
            deletion: Deletion::Alive,
            owners: Vec::new(),
            dependents: FxIndexSet::default(),
        }
    }
}

/// What a graph change asks the workers to look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueue {
    AttemptToDelete(u64),
    AttemptToOrphan(u64),
}

/// The uid → node graph (upstream `uidToNode` with the GraphBuilder's event processing).
#[derive(Debug, Default)]
pub struct Graph {
    nodes: FxIndexMap<u64, GraphNode>,
    /// Owners known to be gone: a reference to one is dangling without a GET.
    absent: FxIndexSet<u64>,
}

fn has_finalizer(meta: &ObjectMeta, name: &str) -> bool {
    meta.finalizers.iter().any(|f| &**f == name)
}

fn deletion_of(meta: &ObjectMeta) -> Deletion {
    match meta.deletion_timestamp {
        None => Deletion::Alive,
        Some(_) if has_finalizer(meta, FINALIZER_FOREGROUND_DELETION) => {
            Deletion::DeletingDependents
        }
        Some(_) => Deletion::BeingDeleted,
    }
}

fn waits_for_orphaning(meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some() && has_finalizer(meta, FINALIZER_ORPHAN)
}

impl Graph {
    pub fn get(&self, uid: u64) -> Option<&GraphNode> {
        self.nodes.get(&uid)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn clear(&mut self) {
        *self = Graph::default();
    }

    pub fn is_absent(&self, uid: u64) -> bool {
        self.absent.contains(&uid)
    }

    pub fn mark_absent(&mut self, uid: u64) {
        if self.absent.insert(uid) && self.absent.len() > ABSENT_OWNER_CACHE_SIZE {
            self.absent.shift_remove_index(0);
        }
    }

    /// Applies one informer change of an object of `kind` (`processGraphChanges`).
    pub fn observe(
        &mut self,
        kind: Kind,
        old: Option<&ObjectMeta>,
        new: Option<&ObjectMeta>,
    ) -> Vec<Enqueue> {
        let mut out = Vec::new();
        match (old, new) {
            (_, Some(new)) => self.observe_present(kind, old, new, &mut out),
            (Some(gone), None) => self.observe_deleted(gone.uid, &mut out),
            (None, None) => unreachable!("a delta has an object"),
        }
        out
    }

    fn observe_present(
        &mut self,
        kind: Kind,
        old: Option<&ObjectMeta>,
        new: &ObjectMeta,
        out: &mut Vec<Enqueue>,
    ) {
        let uid = new.uid;
        assert!(uid != 0, "an informer showed an object without a uid");
        if let Some(node) = self.nodes.get(&uid)
            && node.presence == Presence::Observed
            && node.owners == new.owner_references
            && node.deletion == deletion_of(new)
            && old.is_some_and(|old| waits_for_orphaning(old) == waits_for_orphaning(new))
        {
            // Most updates (status, spec) change nothing the graph holds.
            return;
        }
        let previous_owners = match self.nodes.get_mut(&uid) {
            Some(node) => {
                let previous = std::mem::take(&mut node.owners);
                if node.presence == Presence::Virtual {
                    node.presence = Presence::Observed;
                    node.key = ObjectKey::new(kind, &new.namespace, &new.name);
                }
                previous
            }
            None => {
                let key = ObjectKey::new(kind, &new.namespace, &new.name);
                self.nodes
                    .insert(uid, GraphNode::new(key, Presence::Observed));
                Vec::new()
            }
        };
        // References dropped, or no longer blocking: an owner deleting its dependents may
        // now be free to go.
        for before in &previous_owners {
            let now = new.owner_references.iter().find(|r| r.uid == before.uid);
            if now.is_none() {
                self.unlink(uid, before.uid);
            }
            let released =
                now.is_none_or(|r| before.block_owner_deletion && !r.block_owner_deletion);
            if released && self.deleting_dependents(before.uid) {
                out.push(Enqueue::AttemptToDelete(before.uid));
            }
        }
        for owner in &new.owner_references {
            if previous_owners.iter().any(|r| r.uid == owner.uid) {
                continue;
            }
            self.link(uid, owner, &new.namespace, out);
        }
        let node = self.nodes.get_mut(&uid).expect("inserted above");
        node.owners = new.owner_references.clone();
        // `processTransitions`.
        let deletion = deletion_of(new);
        let starts_deleting_dependents = deletion == Deletion::DeletingDependents
            && (node.deletion != Deletion::DeletingDependents
                || old.is_none_or(|old| deletion_of(old) != Deletion::DeletingDependents));
        node.deletion = deletion;
        if starts_deleting_dependents {
            out.extend(node.dependents.iter().map(|&d| Enqueue::AttemptToDelete(d)));
            out.push(Enqueue::AttemptToDelete(uid));
        }
        if waits_for_orphaning(new) && old.is_none_or(|old| !waits_for_orphaning(old)) {
            out.push(Enqueue::AttemptToOrphan(uid));
        }
    }

    fn deleting_dependents(&self, uid: u64) -> bool {
        self.nodes
            .get(&uid)
            .is_some_and(|n| n.deletion == Deletion::DeletingDependents)
    }

    /// Records `dependent` under `owner`, creating a virtual node for an owner not seen
    /// yet (and asking a worker to find out whether it exists).
    fn link(
        &mut self,
        dependent: u64,
        owner: &OwnerReference,
        namespace: &Str,
        out: &mut Vec<Enqueue>,
    ) {
        match self.nodes.get_mut(&owner.uid) {
            Some(node) => {
                node.dependents.insert(dependent);
            }
            None => {
                let key = ObjectKey::new(owner.kind, namespace, &owner.name);
                let mut node = GraphNode::new(key, Presence::Virtual);
                node.dependents.insert(dependent);
                self.nodes.insert(owner.uid, node);
                out.push(Enqueue::AttemptToDelete(owner.uid));
            }
        }
    }

    fn unlink(&mut self, dependent: u64, owner: u64) {
        let Some(node) = self.nodes.get_mut(&owner) else {
            return;
        };
        node.dependents.swap_remove(&dependent);
        if node.presence == Presence::Virtual && node.dependents.is_empty() {
            self.nodes.swap_remove(&owner);
        }
    }

    fn observe_deleted(&mut self, uid: u64, out: &mut Vec<Enqueue>) {
        let Some(node) = self.nodes.get(&uid) else {
            return;
        };
        if node.presence == Presence::Virtual {
            // A stale delete of something never observed: the dependents keep the node.
            return;
        }
        self.remove(uid, out);
    }

    /// The object is gone (an informer delete, or a live GET that found nothing for a
    /// virtual node): its dependents are looked at, and owners deleting their dependents
    /// may now go.
    pub fn remove(&mut self, uid: u64, out: &mut Vec<Enqueue>) {
        let node = self.nodes.swap_remove(&uid).expect("a node to remove");
        if !node.dependents.is_empty() {
            self.mark_absent(uid);
        }
        for owner in &node.owners {
            let deleting = self.deleting_dependents(owner.uid);
            self.unlink(uid, owner.uid);
            if deleting {
                out.push(Enqueue::AttemptToDelete(owner.uid));
            }
        }
        out.extend(node.dependents.iter().map(|&d| Enqueue::AttemptToDelete(d)));
    }

    /// Dependents whose reference to `owner` has `blockOwnerDeletion`
    /// (`blockingDependents`).
    pub fn blocking_dependents(&self, owner: u64) -> Vec<u64> {
        let Some(node) = self.nodes.get(&owner) else {
            return Vec::new();
        };
        node.dependents
            .iter()
            .copied()
            .filter(|d| {
                self.nodes.get(d).is_some_and(|dep| {
                    dep.owners
                        .iter()
                        .any(|r| r.uid == owner && r.block_owner_deletion)
                })
            })
            .collect()
    }
}

/// How a dependent's reference to one owner stands (`classifyReferences`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    /// The owner exists and is not deleting its dependents.
    Solid,
    /// The owner is gone (404, or the name now belongs to another uid).
    Dangling,
    /// The owner is being deleted in the foreground.
    Waiting,
}

/// Classifies a reference from what a live GET of the owner returned.
pub fn classify(reference: &OwnerReference, owner: Option<&ObjectMeta>) -> Reference {
    match owner {
        None => Reference::Dangling,
        Some(owner) if owner.uid != reference.uid => Reference::Dangling,
        Some(owner) if deletion_of(owner) == Deletion::DeletingDependents => Reference::Waiting,
        Some(_) => Reference::Solid,
    }
}

/// What attemptToDeleteItem does with an object once its references are classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// It still has a solid owner: nothing to delete.
    Keep,
    /// It has a solid owner; these references (dangling or waiting) are removed.
    RemoveReferences(Vec<u64>),
    /// No solid owner is left: delete it with this propagation.
    Delete(PropagationPolicy),
}

/// Upstream `attemptToDeleteItem`'s decision. `references` pairs each ownerReference
/// uid with its classification; `has_dependents` is whether the graph knows dependents
/// of the object.
pub fn decide(
    meta: &ObjectMeta,
    references: &[(u64, Reference)],
    has_dependents: bool,
) -> Decision {
    let solid = references.iter().any(|(_, r)| *r == Reference::Solid);
    let unwanted: Vec<u64> = references
        .iter()
        .filter(|(_, r)| *r != Reference::Solid)
        .map(|(uid, _)| *uid)
        .collect();
    let waiting = references.iter().any(|(_, r)| *r == Reference::Waiting);
    if solid {
        return if unwanted.is_empty() {
            Decision::Keep
        } else {
            Decision::RemoveReferences(unwanted)
        };
    }
    if waiting && has_dependents {
        // An owner waits for this object, which has dependents of its own: delete it in
        // the foreground too, so the wait covers the whole tree.
        return Decision::Delete(PropagationPolicy::Foreground);
    }
    // No owner is waiting: the object's own finalizers say how it goes.
    let policy = if has_finalizer(meta, FINALIZER_ORPHAN) {
        PropagationPolicy::Orphan
    } else if has_finalizer(meta, FINALIZER_FOREGROUND_DELETION) {
        PropagationPolicy::Foreground
    } else {
        PropagationPolicy::Background
    };
    Decision::Delete(policy)
}

/// A copy of `object` without its references to the owners in `uids`, or `None` when it
/// has none of them.
pub fn without_references(object: &Object, uids: &[u64]) -> Option<Object> {
    if !object
        .meta()
        .owner_references
        .iter()
        .any(|r| uids.contains(&r.uid))
    {
        return None;
    }
    let mut changed = object.clone();
    changed
        .meta_mut()
        .owner_references
        .retain(|r| !uids.contains(&r.uid));
    Some(changed)
}

/// A copy of `object` without `finalizer`, or `None` when it does not have it.
pub fn without_finalizer(object: &Object, finalizer: &str) -> Option<Object> {
    if !has_finalizer(object.meta(), finalizer) {
        return None;
    }
    let mut changed = object.clone();
    changed.meta_mut().finalizers.retain(|f| &**f != finalizer);
    Some(changed)
}

/// A GC request in flight.
#[derive(Debug)]
pub enum GcRequest {
    /// attemptToDelete: the live object.
    GetItem { uid: u64 },
    /// attemptToDelete: the live owner named by reference `index` of the item, for the
    /// attempt numbered `attempt`.
    GetOwner {
        uid: u64,
        attempt: u64,
        index: usize,
    },
    /// attemptToDelete: the delete, reference removal or finalizer removal it decided.
    Write { uid: u64 },
    /// attemptToOrphan: the live dependent.
    GetDependent { owner: u64, dependent: u64 },
    /// attemptToOrphan: the dependent without its reference to the owner.
    WriteDependent { owner: u64 },
    /// attemptToOrphan: the live owner, to remove its `orphan` finalizer.
    GetOrphaned { owner: u64 },
    /// attemptToOrphan: the owner without its `orphan` finalizer.
    WriteOrphaned { owner: u64 },
}

/// An attemptToDelete waiting for its owners' GETs.
#[derive(Debug)]
struct Classifying {
    /// Tells this attempt's owner GETs from those of an abandoned earlier one.
    attempt: u64,
    latest: Object,
    references: Vec<(u64, Option<Reference>)>,
}

/// An attemptToOrphan waiting for its dependents' updates.
#[derive(Debug, Default)]
struct Orphaning {
    remaining: usize,
    failed: bool,
}

/// The garbage collector's state in the controller manager.
#[derive(Debug, Default)]
pub struct GarbageCollector {
    pub graph: Graph,
    /// uids with a worker's requests in flight, and whether they were enqueued again
    /// meanwhile (then they run again when it finishes).
    busy: FxIndexMap<WorkKey, bool>,
    classifying: FxIndexMap<u64, Classifying>,
    orphaning: FxIndexMap<u64, Orphaning>,
    attempts: u64,
}

impl GarbageCollector {
    pub fn clear(&mut self) {
        *self = GarbageCollector::default();
    }
}

fn not_found(response: &ApiResponse) -> bool {
    matches!(&response.result, Err(e) if e.reason == StatusReason::NotFound)
}

impl ControllerManager {
    /// Every informer delta passes through here before its controller's handler.
    pub(super) fn gc_on_delta<T: Resource>(&mut self, delta: &Delta<T>, cx: &mut Context<'_, Msg>) {
        let (old, new) = match delta {
            Delta::Added(o) => (None, Some(o.metadata())),
            Delta::Updated { old, new } => {
                let (old, new) = (old.metadata(), new.metadata());
                // Most updates (a lease renewed, a status written) leave the graph as the
                // old version left it: same object, same owners, neither being deleted.
                // Returning here spares a lookup in a graph of every object per delta.
                if old.uid == new.uid
                    && old.deletion_timestamp.is_none()
                    && new.deletion_timestamp.is_none()
                    && old.owner_references == new.owner_references
                {
                    return;
                }
                (Some(old), Some(new))
            }
            Delta::Deleted(o) => (Some(o.metadata()), None),
        };
        let enqueued = self.gc.graph.observe(T::KIND, old, new);
        if !enqueued.is_empty() {
            self.gc_enqueue(enqueued, cx);
        }
    }

    fn gc_enqueue(&mut self, enqueued: Vec<Enqueue>, cx: &mut Context<'_, Msg>) {
        for item in enqueued {
            match item {
                Enqueue::AttemptToDelete(uid) => self.enqueue(WorkKey::GarbageCollect(uid), cx),
                Enqueue::AttemptToOrphan(uid) => self.enqueue(WorkKey::Orphan(uid), cx),
            }
        }
    }

    fn gc_send(&mut self, verb: ApiVerb, request: GcRequest, cx: &mut Context<'_, Msg>) {
        let id = self.api.send(cx, verb);
        self.pending.insert(id, Pending::GarbageCollector(request));
    }

    /// Claims `key` for a worker; `false` (and a note to run again) if one already has it.
    fn gc_claim(&mut self, key: WorkKey) -> bool {
        match self.gc.busy.get_mut(&key) {
            Some(again) => {
                *again = true;
                false
            }
            None => {
                self.gc.busy.insert(key, false);
                true
            }
        }
    }

    /// A worker is done with `key`: its back-off starts over on success, it is retried
    /// on failure, and it runs again if it was enqueued meanwhile.
    fn gc_done(&mut self, key: WorkKey, uid: u64, ok: bool, cx: &mut Context<'_, Msg>) {
        let again = self.gc.busy.swap_remove(&key).unwrap_or(false);
        if matches!(key, WorkKey::GarbageCollect(_)) {
            self.gc.classifying.swap_remove(&uid);
        }
        if ok {
            self.queue.forget(&key);
            if again {
                self.enqueue(key, cx);
            }
        } else {
            self.retry(key, cx);
        }
    }

    /// `attemptToDeleteItem`.
    pub(super) fn sync_garbage_collect(&mut self, uid: u64, cx: &mut Context<'_, Msg>) {
        let Some(node) = self.gc.graph.get(uid) else {
            return;
        };
        // An object already going (and not waiting for its dependents) needs nothing; an
        // observed object without owners has nothing to collect until it changes.
        let idle = node.presence == Presence::Observed
            && match node.deletion {
                Deletion::BeingDeleted => true,
                Deletion::DeletingDependents => false,
                Deletion::Alive => node.owners.is_empty(),
            };
        if idle {
            return;
        }
        let key = node.key.clone();
        if !self.gc_claim(WorkKey::GarbageCollect(uid)) {
            return;
        }
        self.gc_send(ApiVerb::Get(key), GcRequest::GetItem { uid }, cx);
    }

    pub(super) fn on_garbage_collector_reply(
        &mut self,
        request: GcRequest,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        match request {
            GcRequest::GetItem { uid } => self.gc_on_item(uid, response, cx),
            GcRequest::GetOwner {
                uid,
                attempt,
                index,
            } => self.gc_on_owner(uid, attempt, index, response, cx),
            GcRequest::Write { uid } => {
                let ok = match &response.result {
                    Ok(_) => true,
                    // Already gone, or replaced by another object of the same name.
                    Err(e) => matches!(e.reason, StatusReason::NotFound),
                };
                if let Err(e) = &response.result {
                    cx.record("detail", || {
                        format!(
                            "garbage collector: write for uid {uid} failed: {} {}",
                            e.reason.code(),
                            e.message
                        )
                    });
                }
                self.gc_done(WorkKey::GarbageCollect(uid), uid, ok, cx);
            }
            GcRequest::GetDependent { owner, dependent } => {
                self.gc_on_dependent(owner, dependent, response, cx)
            }
            GcRequest::WriteDependent { owner } => {
                let ok = response.result.is_ok() || not_found(response);
                self.gc_dependent_orphaned(owner, ok, cx);
            }
            GcRequest::GetOrphaned { owner } => self.gc_on_orphaned_owner(owner, response, cx),
            GcRequest::WriteOrphaned { owner } => {
                let ok = response.result.is_ok() || not_found(response);
                self.gc_done(WorkKey::Orphan(owner), owner, ok, cx);
            }
        }
    }

    fn gc_on_item(&mut self, uid: u64, response: &ApiResponse, cx: &mut Context<'_, Msg>) {
        let key = WorkKey::GarbageCollect(uid);
        let latest = match &response.result {
            Ok(ApiOk::Object(object)) if object.meta().uid == uid => Some(object.clone()),
            Ok(_) => None,
            Err(e) if e.reason == StatusReason::NotFound => None,
            Err(_) => return self.gc_done(key, uid, false, cx),
        };
        let Some(node) = self.gc.graph.get(uid) else {
            return self.gc_done(key, uid, true, cx);
        };
        let presence = node.presence;
        let deletion = node.deletion;
        let Some(latest) = latest else {
            if presence == Presence::Virtual {
                // The owner never existed, or is gone: a virtual delete event.
                let node_key = node.key.clone();
                cx.record("detail", || {
                    format!("garbage collector: owner {node_key} (uid {uid}) does not exist")
                });
                let mut enqueued = Vec::new();
                self.gc.graph.remove(uid, &mut enqueued);
                self.gc_enqueue(enqueued, cx);
            }
            // An observed object's deletion reaches the graph through its informer.
            return self.gc_done(key, uid, true, cx);
        };
        if presence == Presence::Virtual {
            // It exists; its informer will show it.
            return self.gc_done(key, uid, true, cx);
        }
        if deletion == Deletion::DeletingDependents {
            return self.gc_deleting_dependents(uid, &latest, cx);
        }
        let references = &latest.meta().owner_references;
        if references.is_empty() {
            return self.gc_done(key, uid, true, cx);
        }
        self.gc.attempts += 1;
        let attempt = self.gc.attempts;
        let mut classifying = Classifying {
            attempt,
            latest: latest.clone(),
            references: references.iter().map(|r| (r.uid, None)).collect(),
        };
        let mut gets = Vec::new();
        for (index, reference) in references.iter().enumerate() {
            if self.gc.graph.is_absent(reference.uid) {
                classifying.references[index].1 = Some(Reference::Dangling);
            } else {
                let owner_key =
                    ObjectKey::new(reference.kind, &latest.meta().namespace, &reference.name);
                gets.push((index, owner_key));
            }
        }
        self.gc.classifying.insert(uid, classifying);
        if gets.is_empty() {
            return self.gc_decide(uid, cx);
        }
        for (index, owner_key) in gets {
            self.gc_send(
                ApiVerb::Get(owner_key),
                GcRequest::GetOwner {
                    uid,
                    attempt,
                    index,
                },
                cx,
            );
        }
    }

    fn gc_on_owner(
        &mut self,
        uid: u64,
        attempt: u64,
        index: usize,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        if self
            .gc
            .classifying
            .get(&uid)
            .is_none_or(|c| c.attempt != attempt)
        {
            // An abandoned attempt's answer.
            return;
        }
        let owner = match &response.result {
            Ok(ApiOk::Object(object)) => Some(object.meta()),
            Ok(_) => None,
            Err(e) if e.reason == StatusReason::NotFound => None,
            Err(_) => {
                // Other GETs of this attempt may still be out: they find it abandoned.
                return self.gc_done(WorkKey::GarbageCollect(uid), uid, false, cx);
            }
        };
        let classifying = self.gc.classifying.get_mut(&uid).expect("checked above");
        let reference = &classifying.latest.meta().owner_references[index];
        let class = classify(reference, owner);
        classifying.references[index].1 = Some(class);
        let all_known = classifying.references.iter().all(|(_, c)| c.is_some());
        if class == Reference::Dangling {
            let absent = reference.uid;
            self.gc.graph.mark_absent(absent);
        }
        if all_known {
            self.gc_decide(uid, cx);
        }
    }

    fn gc_decide(&mut self, uid: u64, cx: &mut Context<'_, Msg>) {
        let key = WorkKey::GarbageCollect(uid);
        let classifying = self
            .gc
            .classifying
            .swap_remove(&uid)
            .expect("an attempt being classified");
        let references: Vec<(u64, Reference)> = classifying
            .references
            .iter()
            .map(|(owner, class)| (*owner, class.expect("every reference classified")))
            .collect();
        let has_dependents = self
            .gc
            .graph
            .get(uid)
            .is_some_and(|n| !n.dependents.is_empty());
        let latest = classifying.latest;
        let object_key = latest.key();
        match decide(latest.meta(), &references, has_dependents) {
            Decision::Keep => self.gc_done(key, uid, true, cx),
            Decision::RemoveReferences(owners) => {
                let changed = without_references(&latest, &owners).expect("references present");
                cx.record("detail", || {
                    format!(
                        "garbage collector: {object_key} keeps a live owner; removing its references to uids {owners:?}"
                    )
                });
                self.gc_send(ApiVerb::Update(changed), GcRequest::Write { uid }, cx);
            }
            Decision::Delete(policy) => {
                let owners: Vec<String> = latest
                    .meta()
                    .owner_references
                    .iter()
                    .map(|r| format!("{} {}", r.kind.name().to_ascii_lowercase(), r.name))
                    .collect();
                cx.record("step", || {
                    format!(
                        "garbage collector: deleting {object_key} (propagation {}): its owner {} is gone or being deleted",
                        policy.name(),
                        owners.join(", ")
                    )
                });
                let verb = ApiVerb::Delete {
                    key: object_key,
                    grace_period_seconds: None,
                    uid_precondition: uid,
                    propagation_policy: Some(policy),
                };
                self.gc_send(verb, GcRequest::Write { uid }, cx);
            }
        }
    }

    /// `processDeletingDependentsItem`: an object waiting for its blocking dependents.
    fn gc_deleting_dependents(&mut self, uid: u64, latest: &Object, cx: &mut Context<'_, Msg>) {
        let key = WorkKey::GarbageCollect(uid);
        let blocking = self.gc.graph.blocking_dependents(uid);
        if blocking.is_empty() {
            let Some(changed) = without_finalizer(latest, FINALIZER_FOREGROUND_DELETION) else {
                return self.gc_done(key, uid, true, cx);
            };
            let object_key = latest.key();
            cx.record("step", || {
                format!(
                    "garbage collector: {object_key} has no blocking dependents left: removing its {FINALIZER_FOREGROUND_DELETION} finalizer"
                )
            });
            return self.gc_send(ApiVerb::Update(changed), GcRequest::Write { uid }, cx);
        }
        for dependent in blocking {
            let deleting = self
                .gc
                .graph
                .get(dependent)
                .is_some_and(|d| d.deletion == Deletion::DeletingDependents);
            if !deleting {
                self.enqueue(WorkKey::GarbageCollect(dependent), cx);
            }
        }
        self.gc_done(key, uid, true, cx);
    }

    /// `attemptToOrphanWorker`: remove the owner's references from every dependent.
    pub(super) fn sync_orphan(&mut self, owner: u64, cx: &mut Context<'_, Msg>) {
        let Some(node) = self.gc.graph.get(owner) else {
            return;
        };
        if node.presence == Presence::Virtual {
            return;
        }
        let dependents: Vec<(u64, ObjectKey)> = node
            .dependents
            .iter()
            .filter_map(|d| self.gc.graph.get(*d).map(|n| (*d, n.key.clone())))
            .collect();
        let owner_key = node.key.clone();
        if !self.gc_claim(WorkKey::Orphan(owner)) {
            return;
        }
        if dependents.is_empty() {
            return self.gc_send(
                ApiVerb::Get(owner_key),
                GcRequest::GetOrphaned { owner },
                cx,
            );
        }
        cx.record("step", || {
            format!(
                "garbage collector: orphaning the {} dependents of {owner_key}",
                dependents.len()
            )
        });
        self.gc.orphaning.insert(
            owner,
            Orphaning {
                remaining: dependents.len(),
                failed: false,
            },
        );
        for (dependent, key) in dependents {
            self.gc_send(
                ApiVerb::Get(key),
                GcRequest::GetDependent { owner, dependent },
                cx,
            );
        }
    }

    fn gc_on_dependent(
        &mut self,
        owner: u64,
        dependent: u64,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        match &response.result {
            Ok(ApiOk::Object(object)) if object.meta().uid == dependent => {
                match without_references(object, &[owner]) {
                    Some(changed) => {
                        let key = object.key();
                        cx.record("detail", || {
                            format!("garbage collector: removing the owner reference (uid {owner}) from {key}")
                        });
                        self.gc_send(
                            ApiVerb::Update(changed),
                            GcRequest::WriteDependent { owner },
                            cx,
                        );
                    }
                    None => self.gc_dependent_orphaned(owner, true, cx),
                }
            }
            // Gone, or replaced by another object: nothing to orphan.
            Ok(_) => self.gc_dependent_orphaned(owner, true, cx),
            Err(e) => {
                let ok = e.reason == StatusReason::NotFound;
                self.gc_dependent_orphaned(owner, ok, cx);
            }
        }
    }

    fn gc_dependent_orphaned(&mut self, owner: u64, ok: bool, cx: &mut Context<'_, Msg>) {
        let state = self
            .gc
            .orphaning
            .get_mut(&owner)
            .expect("an orphaning in progress");
        state.remaining -= 1;
        state.failed |= !ok;
        if state.remaining > 0 {
            return;
        }
        let failed = state.failed;
        self.gc.orphaning.swap_remove(&owner);
        if failed {
            return self.gc_done(WorkKey::Orphan(owner), owner, false, cx);
        }
        let Some(node) = self.gc.graph.get(owner) else {
            return self.gc_done(WorkKey::Orphan(owner), owner, true, cx);
        };
        let key = node.key.clone();
        self.gc_send(ApiVerb::Get(key), GcRequest::GetOrphaned { owner }, cx);
    }

    fn gc_on_orphaned_owner(
        &mut self,
        owner: u64,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        let key = WorkKey::Orphan(owner);
        let latest = match &response.result {
            Ok(ApiOk::Object(object)) if object.meta().uid == owner => object.clone(),
            Ok(_) => return self.gc_done(key, owner, true, cx),
            Err(e) => {
                let ok = e.reason == StatusReason::NotFound;
                return self.gc_done(key, owner, ok, cx);
            }
        };
        let Some(changed) = without_finalizer(&latest, FINALIZER_ORPHAN) else {
            return self.gc_done(key, owner, true, cx);
        };
        let object_key = latest.key();
        cx.record("step", || {
            format!("garbage collector: dependents of {object_key} orphaned: removing its {FINALIZER_ORPHAN} finalizer")
        });
        self.gc_send(
            ApiVerb::Update(changed),
            GcRequest::WriteOrphaned { owner },
            cx,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::s;
    use sim_core::SimTime;

    fn meta(uid: u64, name: &str, owners: &[(Kind, u64, bool)]) -> ObjectMeta {
        let mut meta = ObjectMeta::named("default", name);
        meta.uid = uid;
        meta.owner_references = owners
            .iter()
            .map(|&(kind, owner, block)| OwnerReference {
                kind,
                name: s(&format!("owner-{owner}")),
                uid: owner,
                controller: true,
                block_owner_deletion: block,
            })
            .collect();
        meta
    }

    fn deleting(mut meta: ObjectMeta, finalizer: &str) -> ObjectMeta {
        meta.deletion_timestamp = Some(SimTime::ZERO);
        meta.finalizers = vec![s(finalizer)];
        meta
    }

    /// A Deployment (1), its ReplicaSet (2) and two pods (3, 4).
    fn tree() -> Graph {
        let mut graph = Graph::default();
        let d = meta(1, "web", &[]);
        let rs = meta(2, "web-abc", &[(Kind::Deployment, 1, true)]);
        assert!(graph.observe(Kind::Deployment, None, Some(&d)).is_empty());
        assert!(graph.observe(Kind::ReplicaSet, None, Some(&rs)).is_empty());
        for pod in [3, 4] {
            let p = meta(
                pod,
                &format!("web-abc-{pod}"),
                &[(Kind::ReplicaSet, 2, true)],
            );
            assert!(graph.observe(Kind::Pod, None, Some(&p)).is_empty());
        }
        graph
    }

    #[test]
    fn the_graph_links_owners_and_dependents() {
        let graph = tree();
        assert_eq!(graph.len(), 4);
        let rs = graph.get(2).unwrap();
        assert_eq!(rs.dependents.iter().copied().collect::<Vec<_>>(), [3, 4]);
        assert_eq!(graph.get(1).unwrap().dependents.len(), 1);
        assert_eq!(graph.blocking_dependents(2), [3, 4]);
    }

    #[test]
    fn deleting_an_owner_enqueues_its_dependents_and_remembers_it_absent() {
        let mut graph = tree();
        let d = meta(1, "web", &[]);
        let enqueued = graph.observe(Kind::Deployment, Some(&d), None);
        assert_eq!(enqueued, [Enqueue::AttemptToDelete(2)]);
        assert!(graph.get(1).is_none());
        assert!(graph.is_absent(1));
        // The ReplicaSet still names its owner: the worker will find it dangling.
        assert_eq!(graph.get(2).unwrap().owners[0].uid, 1);
    }

    #[test]
    fn an_unseen_owner_is_virtual_and_checked() {
        let mut graph = Graph::default();
        let pod = meta(3, "orphan-pod", &[(Kind::ReplicaSet, 9, true)]);
        let enqueued = graph.observe(Kind::Pod, None, Some(&pod));
        assert_eq!(enqueued, [Enqueue::AttemptToDelete(9)]);
        let owner = graph.get(9).unwrap();
        assert_eq!(owner.presence, Presence::Virtual);
        assert_eq!(owner.key.to_string(), "replicaset/default/owner-9");
        // Observing it makes it real, without enqueuing anything.
        let rs = meta(9, "owner-9", &[]);
        assert!(graph.observe(Kind::ReplicaSet, None, Some(&rs)).is_empty());
        assert_eq!(graph.get(9).unwrap().presence, Presence::Observed);
        // A virtual owner whose only dependent goes is dropped.
        let mut graph = Graph::default();
        graph.observe(Kind::Pod, None, Some(&pod));
        graph.observe(Kind::Pod, Some(&pod), None);
        assert!(graph.is_empty());
    }

    #[test]
    fn foreground_deletion_enqueues_dependents_and_the_owner_until_they_are_gone() {
        let mut graph = tree();
        let rs = meta(2, "web-abc", &[(Kind::Deployment, 1, true)]);
        let marked = deleting(rs.clone(), FINALIZER_FOREGROUND_DELETION);
        let enqueued = graph.observe(Kind::ReplicaSet, Some(&rs), Some(&marked));
        assert_eq!(
            enqueued,
            [
                Enqueue::AttemptToDelete(3),
                Enqueue::AttemptToDelete(4),
                Enqueue::AttemptToDelete(2)
            ]
        );
        assert_eq!(graph.get(2).unwrap().deletion, Deletion::DeletingDependents);
        // The same state again enqueues nothing.
        assert!(
            graph
                .observe(Kind::ReplicaSet, Some(&marked), Some(&marked))
                .is_empty()
        );
        // Each pod that goes wakes the waiting owner.
        let pod = meta(3, "web-abc-3", &[(Kind::ReplicaSet, 2, true)]);
        assert_eq!(
            graph.observe(Kind::Pod, Some(&pod), None),
            [Enqueue::AttemptToDelete(2)]
        );
        assert_eq!(graph.blocking_dependents(2), [4]);
        // A dependent that stops blocking wakes it too.
        let pod = meta(4, "web-abc-4", &[(Kind::ReplicaSet, 2, true)]);
        let unblocked = meta(4, "web-abc-4", &[(Kind::ReplicaSet, 2, false)]);
        assert_eq!(
            graph.observe(Kind::Pod, Some(&pod), Some(&unblocked)),
            [Enqueue::AttemptToDelete(2)]
        );
        assert!(graph.blocking_dependents(2).is_empty());
    }

    #[test]
    fn the_orphan_finalizer_on_a_deleted_owner_starts_orphaning_once() {
        let mut graph = tree();
        let d = meta(1, "web", &[]);
        let marked = deleting(d.clone(), FINALIZER_ORPHAN);
        assert_eq!(
            graph.observe(Kind::Deployment, Some(&d), Some(&marked)),
            [Enqueue::AttemptToOrphan(1)]
        );
        assert!(
            graph
                .observe(Kind::Deployment, Some(&marked), Some(&marked))
                .is_empty()
        );
        assert_eq!(graph.get(1).unwrap().deletion, Deletion::BeingDeleted);
        // Dropping the reference unlinks the dependent.
        let rs = meta(2, "web-abc", &[(Kind::Deployment, 1, true)]);
        let released = meta(2, "web-abc", &[]);
        assert!(
            graph
                .observe(Kind::ReplicaSet, Some(&rs), Some(&released))
                .is_empty()
        );
        assert!(graph.get(1).unwrap().dependents.is_empty());
    }

    #[test]
    fn references_are_classified_from_the_live_owner() {
        let reference = OwnerReference::controlled_by(Kind::ReplicaSet, s("web-abc"), 2);
        assert_eq!(classify(&reference, None), Reference::Dangling);
        let other = meta(99, "web-abc", &[]);
        assert_eq!(classify(&reference, Some(&other)), Reference::Dangling);
        let live = meta(2, "web-abc", &[]);
        assert_eq!(classify(&reference, Some(&live)), Reference::Solid);
        let waiting = deleting(live.clone(), FINALIZER_FOREGROUND_DELETION);
        assert_eq!(classify(&reference, Some(&waiting)), Reference::Waiting);
        let orphaning = deleting(live, FINALIZER_ORPHAN);
        assert_eq!(classify(&reference, Some(&orphaning)), Reference::Solid);
    }

    #[test]
    fn decisions_follow_attempt_to_delete_item() {
        let pod = meta(3, "p", &[]);
        use Reference::*;
        assert_eq!(decide(&pod, &[(2, Solid)], false), Decision::Keep);
        assert_eq!(
            decide(&pod, &[(2, Solid), (5, Dangling), (6, Waiting)], false),
            Decision::RemoveReferences(vec![5, 6])
        );
        assert_eq!(
            decide(&pod, &[(2, Dangling)], false),
            Decision::Delete(PropagationPolicy::Background)
        );
        // A waiting owner: a leaf goes in the background, an object with dependents in
        // the foreground.
        assert_eq!(
            decide(&pod, &[(2, Waiting)], false),
            Decision::Delete(PropagationPolicy::Background)
        );
        assert_eq!(
            decide(&pod, &[(2, Waiting)], true),
            Decision::Delete(PropagationPolicy::Foreground)
        );
        // Otherwise the object's own finalizer picks the policy.
        let mut orphaning = pod.clone();
        orphaning.finalizers = vec![s(FINALIZER_ORPHAN)];
        assert_eq!(
            decide(&orphaning, &[(2, Dangling)], true),
            Decision::Delete(PropagationPolicy::Orphan)
        );
    }

    #[test]
    fn the_absent_owner_cache_is_bounded() {
        let mut graph = Graph::default();
        for uid in 1..=(ABSENT_OWNER_CACHE_SIZE as u64 + 1) {
            graph.mark_absent(uid);
        }
        assert!(!graph.is_absent(1));
        assert!(graph.is_absent(2));
        assert!(graph.is_absent(ABSENT_OWNER_CACHE_SIZE as u64 + 1));
    }
}
