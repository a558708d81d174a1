//! Deletion with finalizers and propagation policies, as the generic registry store does
//! it (staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go: `Delete`,
//! `updateForGracefulDeletionAndFinalizers`, `deletionFinalizersForGarbageCollection`,
//! `markAsDeleting`, `ShouldDeleteDuringUpdate`).
//!
//! - A delete first settles the garbage collector's two finalizers from the request's
//!   `propagationPolicy`: `Orphan` adds `orphan`, `Foreground` adds
//!   `foregroundDeletion`, `Background` removes both; no policy keeps whichever the
//!   object already carries (the default for every kind kubesim serves is Background).
//! - An object left with finalizers is not removed: it gets a deletion timestamp (now,
//!   grace period 0; a pod's graceful deadline when it has one) and stays until an update
//!   removes its last finalizer. Such an update deletes it, unless a pod's graceful
//!   period is still running (its kubelet's final delete then removes it).
//! - Once the object is being deleted, no finalizer may be added.
//!
//! Pods keep kubesim's graceful rules (the apiserver module's delete): a scheduled,
//! unfinished pod with a grace period gets a deadline; a later delete may only bring
//! the deadline forward, and while its graceful deletion is pending the request
//! changes nothing (upstream: finalizers cannot be updated by a delete then).

use sim_core::{SimDuration, SimTime};

use super::strategy::Invalid;
use crate::api::{
    FINALIZER_FOREGROUND_DELETION, FINALIZER_ORPHAN, Object, PodPhase, PropagationPolicy, Str, s,
};

/// What a delete request does to the stored object.
#[derive(Clone, Debug)]
pub enum DeleteOutcome {
    /// Remove the key now.
    Remove,
    /// Nothing to write: a graceful deletion is already pending, or the object is
    /// already marked exactly so. The stored object is the answer.
    Unchanged,
    /// Write this: the object marked for deletion (deletion timestamp, grace period,
    /// finalizers), kept until its finalizers are gone.
    Mark(Object),
}

/// The finalizers an object keeps once a delete with `policy` is applied
/// (`deletionFinalizersForGarbageCollection`): the two GC finalizers are removed, then
/// added back as the policy (or, with no policy, the object itself) asks. The order of
/// other finalizers is kept.
pub fn finalizers_after_delete(existing: &[Str], policy: Option<PropagationPolicy>) -> Vec<Str> {
    // With no policy in the request, the first GC finalizer the object carries decides
    // (`shouldOrphanDependents`, `shouldDeleteDependents`); the kinds' default is
    // Background, which adds neither.
    let policy = policy.or_else(|| {
        existing.iter().find_map(|f| match &**f {
            FINALIZER_ORPHAN => Some(PropagationPolicy::Orphan),
            FINALIZER_FOREGROUND_DELETION => Some(PropagationPolicy::Foreground),
            _ => None,
        })
    });
    let mut kept: Vec<Str> = existing
        .iter()
        .filter(|f| !is_gc_finalizer(f))
        .cloned()
        .collect();
    match policy {
        Some(PropagationPolicy::Orphan) => kept.push(s(FINALIZER_ORPHAN)),
        Some(PropagationPolicy::Foreground) => kept.push(s(FINALIZER_FOREGROUND_DELETION)),
        Some(PropagationPolicy::Background) | None => {}
    }
    // An unchanged set keeps the stored order, so no write is needed.
    if same_set(existing, &kept) {
        existing.to_vec()
    } else {
        kept
    }
}

fn is_gc_finalizer(finalizer: &str) -> bool {
    finalizer == FINALIZER_ORPHAN || finalizer == FINALIZER_FOREGROUND_DELETION
}

fn same_set(a: &[Str], b: &[Str]) -> bool {
    a.iter().all(|f| b.contains(f)) && b.iter().all(|f| a.contains(f))
}

/// Plans a delete of `current` at host time `now`: `grace_period_seconds` and `policy`
/// are the request's `DeleteOptions`.
pub fn plan_delete(
    current: &Object,
    grace_period_seconds: Option<u64>,
    policy: Option<PropagationPolicy>,
    now: SimTime,
) -> DeleteOutcome {
    let meta = current.meta();
    let finalizers = finalizers_after_delete(&meta.finalizers, policy);
    if let Object::Pod(pod) = current {
        let grace = grace_period_seconds.unwrap_or(pod.spec.termination_grace_period_seconds);
        let finished = matches!(pod.status.phase, PodPhase::Succeeded | PodPhase::Failed);
        let immediate = pod.spec.node_name.is_none() || grace == 0 || finished;
        if !immediate {
            let deadline = now + SimDuration::from_secs(grace);
            if meta
                .deletion_timestamp
                .is_some_and(|existing| existing <= deadline)
            {
                return DeleteOutcome::Unchanged;
            }
            let mut marked = current.clone();
            let marked_meta = marked.meta_mut();
            marked_meta.deletion_timestamp = Some(deadline);
            marked_meta.deletion_grace_period_seconds = Some(grace);
            marked_meta.finalizers = finalizers;
            return DeleteOutcome::Mark(marked);
        }
    }
    if finalizers.is_empty() {
        return DeleteOutcome::Remove;
    }
    // `markAsDeleting`: a deletion timestamp of now (or the earlier one it has), grace
    // period 0, and the generation bumped the first time.
    let deletion_timestamp = meta.deletion_timestamp.map_or(now, |at| at.min(now));
    if meta.deletion_timestamp == Some(deletion_timestamp)
        && meta.deletion_grace_period_seconds == Some(0)
        && meta.finalizers == finalizers
    {
        return DeleteOutcome::Unchanged;
    }
    let mut marked = current.clone();
    let marked_meta = marked.meta_mut();
    if marked_meta.deletion_timestamp.is_none() && marked_meta.generation > 0 {
        marked_meta.generation += 1;
    }
    marked_meta.deletion_timestamp = Some(deletion_timestamp);
    marked_meta.deletion_grace_period_seconds = Some(0);
    marked_meta.finalizers = finalizers;
    DeleteOutcome::Mark(marked)
}

/// Upstream `ShouldDeleteDuringUpdate`: an update that leaves an object being deleted
/// with no finalizers deletes it, unless a graceful period is still running.
pub fn should_delete_during_update(current: &Object, updated: &Object) -> bool {
    let old = current.meta();
    updated.meta().finalizers.is_empty()
        && old.deletion_timestamp.is_some()
        && old.deletion_grace_period_seconds.unwrap_or(0) == 0
}

/// The finalizer rules of `ValidateObjectMeta` and `ValidateObjectMetaUpdate`
/// (apimachinery/pkg/api/validation/objectmeta.go): names are non-empty, `orphan` and
/// `foregroundDeletion` exclude each other, and an object being deleted takes no new
/// finalizer. `current` is `None` on create.
pub fn validate_finalizers(current: Option<&Object>, updated: &Object) -> Result<(), Invalid> {
    let finalizers = &updated.meta().finalizers;
    if finalizers.iter().any(|f| f.is_empty()) {
        return Err(Invalid(
            "metadata.finalizers: Invalid value: \"\": name part must be non-empty".to_string(),
        ));
    }
    let has = |name: &str| finalizers.iter().any(|f| &**f == name);
    if has(FINALIZER_ORPHAN) && has(FINALIZER_FOREGROUND_DELETION) {
        return Err(Invalid(format!(
            "metadata.finalizers: Invalid value: {}: finalizer {FINALIZER_ORPHAN} and {FINALIZER_FOREGROUND_DELETION} cannot be both set",
            quoted_list(finalizers)
        )));
    }
    if let Some(current) = current
        && current.meta().deletion_timestamp.is_some()
    {
        let old = &current.meta().finalizers;
        let added: Vec<Str> = finalizers
            .iter()
            .filter(|f| !old.contains(f))
            .cloned()
            .collect();
        if !added.is_empty() {
            return Err(Invalid(format!(
                "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {}",
                quoted_list(&added)
            )));
        }
    }
    Ok(())
}

/// `[]string{"a", "b"}`, as Go's `%#v` prints a string slice.
fn quoted_list(items: &[Str]) -> String {
    let inner: Vec<String> = items.iter().map(|f| format!("{f:?}")).collect();
    format!("[]string{{{}}}", inner.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Namespace, ObjectMeta, Pod, PodSpec, PodStatus, s};

    fn names(list: &[Str]) -> Vec<&str> {
        list.iter().map(|f| &**f).collect()
    }

    fn list(items: &[&str]) -> Vec<Str> {
        items.iter().map(|f| s(f)).collect()
    }

    #[test]
    fn policy_sets_the_gc_finalizers() {
        let mine = list(&["example.com/cleanup"]);
        let orphan = finalizers_after_delete(&mine, Some(PropagationPolicy::Orphan));
        assert_eq!(names(&orphan), ["example.com/cleanup", "orphan"]);
        let foreground = finalizers_after_delete(&orphan, Some(PropagationPolicy::Foreground));
        assert_eq!(
            names(&foreground),
            ["example.com/cleanup", "foregroundDeletion"]
        );
        let background = finalizers_after_delete(&foreground, Some(PropagationPolicy::Background));
        assert_eq!(names(&background), ["example.com/cleanup"]);
    }

    #[test]
    fn no_policy_keeps_the_objects_own_choice_and_defaults_to_background() {
        let orphaning = list(&["orphan"]);
        assert_eq!(
            names(&finalizers_after_delete(&orphaning, None)),
            ["orphan"]
        );
        assert!(finalizers_after_delete(&[], None).is_empty());
    }

    #[test]
    fn an_unchanged_set_keeps_its_order() {
        let stored = list(&["orphan", "example.com/a"]);
        let after = finalizers_after_delete(&stored, Some(PropagationPolicy::Orphan));
        assert_eq!(after, stored);
    }

    /// An object without graceful deletion (any kind but Pod behaves alike).
    fn owner(finalizers: &[&str]) -> Object {
        let mut metadata = ObjectMeta::named("", "team-a");
        metadata.uid = 7;
        metadata.generation = 3;
        metadata.finalizers = list(finalizers);
        Object::from(Namespace { metadata })
    }

    fn at(seconds: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(seconds)
    }

    #[test]
    fn background_delete_of_an_object_without_finalizers_removes_it() {
        let outcome = plan_delete(&owner(&[]), None, None, at(10));
        assert!(matches!(outcome, DeleteOutcome::Remove));
    }

    #[test]
    fn foreground_delete_marks_the_owner_and_keeps_it() {
        let outcome = plan_delete(
            &owner(&[]),
            None,
            Some(PropagationPolicy::Foreground),
            at(10),
        );
        let DeleteOutcome::Mark(marked) = outcome else {
            panic!("expected a mark, got {outcome:?}")
        };
        let meta = marked.meta();
        assert_eq!(meta.deletion_timestamp, Some(at(10)));
        assert_eq!(meta.deletion_grace_period_seconds, Some(0));
        assert_eq!(names(&meta.finalizers), ["foregroundDeletion"]);
        assert_eq!(meta.generation, 4, "markAsDeleting bumps the generation");
        // Deleting again with the same policy writes nothing.
        let again = plan_delete(&marked, None, None, at(20));
        assert!(matches!(again, DeleteOutcome::Unchanged));
        // Switching to background drops the GC finalizer: gone at once.
        let switched = plan_delete(&marked, None, Some(PropagationPolicy::Background), at(20));
        assert!(matches!(switched, DeleteOutcome::Remove));
    }

    #[test]
    fn a_users_finalizer_holds_a_background_delete() {
        let outcome = plan_delete(&owner(&["example.com/x"]), None, None, at(5));
        let DeleteOutcome::Mark(marked) = outcome else {
            panic!("expected a mark")
        };
        assert_eq!(names(&marked.meta().finalizers), ["example.com/x"]);
        assert_eq!(marked.meta().deletion_timestamp, Some(at(5)));
    }

    fn bound_pod(finalizers: &[&str]) -> Object {
        let mut pod = Pod {
            metadata: ObjectMeta::named("default", "web-1"),
            spec: PodSpec::default(),
            status: PodStatus::default(),
        };
        pod.metadata.finalizers = list(finalizers);
        pod.spec.node_name = Some(s("node-1"));
        pod.spec.termination_grace_period_seconds = 30;
        Object::from(pod)
    }

    #[test]
    fn a_pods_graceful_deadline_takes_the_finalizers_with_it() {
        let outcome = plan_delete(
            &bound_pod(&[]),
            None,
            Some(PropagationPolicy::Foreground),
            at(100),
        );
        let DeleteOutcome::Mark(marked) = outcome else {
            panic!("expected a mark")
        };
        assert_eq!(marked.meta().deletion_timestamp, Some(at(130)));
        assert_eq!(marked.meta().deletion_grace_period_seconds, Some(30));
        assert_eq!(names(&marked.meta().finalizers), ["foregroundDeletion"]);
        // While that deadline is pending, another delete changes nothing.
        let again = plan_delete(&marked, None, Some(PropagationPolicy::Background), at(101));
        assert!(matches!(again, DeleteOutcome::Unchanged));
        // The kubelet's final delete (grace 0) leaves it held by its finalizer.
        let last = plan_delete(&marked, Some(0), None, at(120));
        let DeleteOutcome::Mark(held) = last else {
            panic!("expected the finalizer to hold the pod")
        };
        assert_eq!(held.meta().deletion_timestamp, Some(at(120)));
        assert_eq!(held.meta().deletion_grace_period_seconds, Some(0));
    }

    #[test]
    fn removing_the_last_finalizer_deletes_unless_a_grace_period_runs() {
        let DeleteOutcome::Mark(marked) =
            plan_delete(&owner(&["example.com/x"]), None, None, at(5))
        else {
            panic!("expected a mark")
        };
        let mut cleared = marked.clone();
        cleared.meta_mut().finalizers.clear();
        assert!(should_delete_during_update(&marked, &cleared));
        assert!(!should_delete_during_update(&marked, &marked));
        assert!(!should_delete_during_update(&owner(&[]), &owner(&[])));
        let DeleteOutcome::Mark(graceful) =
            plan_delete(&bound_pod(&["example.com/x"]), None, None, at(5))
        else {
            panic!("expected a mark")
        };
        let mut cleared = graceful.clone();
        cleared.meta_mut().finalizers.clear();
        assert!(!should_delete_during_update(&graceful, &cleared));
    }

    #[test]
    fn finalizer_validation_follows_object_meta_rules() {
        assert!(validate_finalizers(None, &owner(&["orphan"])).is_ok());
        let both = validate_finalizers(None, &owner(&["orphan", "foregroundDeletion"]));
        assert_eq!(
            both.unwrap_err().0,
            "metadata.finalizers: Invalid value: []string{\"orphan\", \"foregroundDeletion\"}: finalizer orphan and foregroundDeletion cannot be both set"
        );
        let DeleteOutcome::Mark(deleting) =
            plan_delete(&owner(&["example.com/x"]), None, None, at(5))
        else {
            panic!("expected a mark")
        };
        let added =
            validate_finalizers(Some(&deleting), &owner(&["example.com/x", "example.com/y"]));
        assert_eq!(
            added.unwrap_err().0,
            "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{\"example.com/y\"}"
        );
        assert!(validate_finalizers(Some(&deleting), &owner(&[])).is_ok());
    }
}
