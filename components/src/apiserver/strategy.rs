//! Per-kind rules the API server applies to writes, as upstream's registry strategies do:
//! what a create resets, what an update may change, what a status update may change, and
//! the defaulting admission plugins kubesim models.

use std::rc::Rc;

use sim_core::SimTime;

use crate::api::{
    ConditionStatus, Object, PodPhase, PodStatus, TAINT_NOT_READY, TAINT_UNREACHABLE, TaintEffect,
    Toleration, TolerationOperator, s,
};

/// Why a write was refused before reaching etcd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid(pub String);

/// Validation and defaulting for a create. `uid` and `now` are the server's.
pub fn prepare_for_create(
    object: &mut Object,
    uid: u64,
    now: SimTime,
    default_toleration_seconds: (u64, u64),
) -> Result<(), Invalid> {
    validate_name(&object.meta().name)?;
    {
        let meta = object.meta_mut();
        meta.uid = uid;
        meta.creation_timestamp = now;
        meta.resource_version = 0;
        meta.generation = 1;
        meta.deletion_timestamp = None;
        meta.deletion_grace_period_seconds = None;
    }
    match object {
        Object::Pod(pod) => {
            let pod = Rc::make_mut(pod);
            pod.status = PodStatus {
                phase: PodPhase::Pending,
                scheduled: if pod.spec.node_name.is_some() {
                    ConditionStatus::True
                } else {
                    ConditionStatus::Unknown
                },
                ..PodStatus::default()
            };
            add_default_tolerations(&mut pod.spec.tolerations, default_toleration_seconds);
        }
        Object::Deployment(deployment) => {
            let deployment = Rc::make_mut(deployment);
            if !deployment
                .spec
                .selector
                .matches(&deployment.spec.template.labels)
            {
                return Err(Invalid(
                    "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`"
                        .to_string(),
                ));
            }
            deployment.status = Default::default();
        }
        Object::ReplicaSet(replica_set) => {
            let replica_set = Rc::make_mut(replica_set);
            if !replica_set
                .spec
                .selector
                .matches(&replica_set.spec.template.labels)
            {
                return Err(Invalid(
                    "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`"
                        .to_string(),
                ));
            }
            replica_set.status = Default::default();
        }
        Object::Namespace(_)
        | Object::Node(_)
        | Object::Service(_)
        | Object::EndpointSlice(_)
        | Object::Lease(_) => {}
    }
    Ok(())
}

/// Merges a client's update into the stored object: spec and metadata from the client,
/// status and server-owned metadata from the store. Bumps `generation` when the spec
/// changed.
pub fn prepare_for_update(current: &Object, mut update: Object) -> Result<Object, Invalid> {
    if update.kind() != current.kind() {
        return Err(Invalid("kind may not change".to_string()));
    }
    let spec_changed = match (&mut update, current) {
        (Object::Pod(new), Object::Pod(old)) => {
            let new = Rc::make_mut(new);
            new.status = old.status.clone();
            if new.spec.node_name != old.spec.node_name && old.spec.node_name.is_some() {
                return Err(Invalid(
                    "spec.nodeName: Forbidden: pod updates may not change nodeName".to_string(),
                ));
            }
            new.spec != old.spec
        }
        (Object::Node(new), Object::Node(old)) => {
            let new = Rc::make_mut(new);
            new.status = old.status.clone();
            new.spec != old.spec
        }
        (Object::Deployment(new), Object::Deployment(old)) => {
            let new = Rc::make_mut(new);
            new.status = old.status.clone();
            new.spec != old.spec
        }
        (Object::ReplicaSet(new), Object::ReplicaSet(old)) => {
            let new = Rc::make_mut(new);
            new.status = old.status.clone();
            new.spec != old.spec
        }
        (Object::Service(new), Object::Service(old)) => {
            let new = Rc::make_mut(new);
            if new.spec.cluster_ip.is_none() {
                new.spec.cluster_ip = old.spec.cluster_ip.clone();
            } else if new.spec.cluster_ip != old.spec.cluster_ip {
                return Err(Invalid(
                    "spec.clusterIP: Invalid value: field is immutable".to_string(),
                ));
            }
            new.spec != old.spec
        }
        (Object::EndpointSlice(new), Object::EndpointSlice(old)) => {
            new.endpoints != old.endpoints || new.ports != old.ports
        }
        (Object::Lease(new), Object::Lease(old)) => new.spec != old.spec,
        (Object::Namespace(_), Object::Namespace(_)) => false,
        _ => unreachable!("kinds checked above"),
    };
    let old_meta = current.meta();
    let meta = update.meta_mut();
    meta.uid = old_meta.uid;
    meta.creation_timestamp = old_meta.creation_timestamp;
    meta.deletion_timestamp = old_meta.deletion_timestamp;
    meta.deletion_grace_period_seconds = old_meta.deletion_grace_period_seconds;
    meta.generate_name = old_meta.generate_name.clone();
    meta.generation = old_meta.generation + u64::from(spec_changed);
    Ok(update)
}

/// Takes only the status from a client's status update; everything else stays as stored.
pub fn prepare_for_status_update(current: &Object, update: &Object) -> Result<Object, Invalid> {
    let mut merged = current.clone();
    match (&mut merged, update) {
        (Object::Pod(m), Object::Pod(u)) => Rc::make_mut(m).status = u.status.clone(),
        (Object::Node(m), Object::Node(u)) => Rc::make_mut(m).status = u.status.clone(),
        (Object::Deployment(m), Object::Deployment(u)) => Rc::make_mut(m).status = u.status.clone(),
        (Object::ReplicaSet(m), Object::ReplicaSet(u)) => Rc::make_mut(m).status = u.status.clone(),
        _ => {
            return Err(Invalid(format!(
                "{} has no status subresource",
                update.kind()
            )));
        }
    }
    Ok(merged)
}

/// The `DefaultTolerationSeconds` admission plugin: every pod tolerates the not-ready and
/// unreachable NoExecute taints for a while (300 s each by default) unless it says
/// otherwise.
pub fn add_default_tolerations(
    tolerations: &mut Rc<[Toleration]>,
    (not_ready_seconds, unreachable_seconds): (u64, u64),
) {
    let has = |key: &str| {
        tolerations.iter().any(|t| {
            (t.key.as_ref() == key
                || (t.key.is_empty() && t.operator == TolerationOperator::Exists))
                && t.effect.is_none_or(|e| e == TaintEffect::NoExecute)
        })
    };
    let mut added = Vec::new();
    for (key, seconds) in [
        (TAINT_NOT_READY, not_ready_seconds),
        (TAINT_UNREACHABLE, unreachable_seconds),
    ] {
        if !has(key) {
            added.push(Toleration {
                key: s(key),
                operator: TolerationOperator::Exists,
                value: s(""),
                effect: Some(TaintEffect::NoExecute),
                toleration_seconds: Some(seconds),
            });
        }
    }
    if !added.is_empty() {
        let mut all: Vec<Toleration> = tolerations.iter().cloned().collect();
        all.extend(added);
        *tolerations = all.into();
    }
}

/// A DNS-1123 subdomain, as most object names must be.
fn validate_name(name: &str) -> Result<(), Invalid> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Invalid(format!(
            "metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
        )))
    }
}

/// The characters upstream's `utilrand.String` draws from for generated names.
pub const GENERATE_NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// Upstream appends five random characters to `generateName`.
pub const GENERATE_NAME_SUFFIX_LEN: usize = 5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_tolerations_are_added_once() {
        let mut tolerations: Rc<[Toleration]> = Rc::from(Vec::new());
        add_default_tolerations(&mut tolerations, (300, 300));
        assert_eq!(tolerations.len(), 2);
        assert!(
            tolerations
                .iter()
                .all(|t| t.toleration_seconds == Some(300))
        );
        add_default_tolerations(&mut tolerations, (300, 300));
        assert_eq!(tolerations.len(), 2);
    }

    #[test]
    fn an_existing_toleration_for_the_key_wins() {
        let mut tolerations: Rc<[Toleration]> = Rc::from(vec![Toleration {
            key: s(TAINT_UNREACHABLE),
            operator: TolerationOperator::Exists,
            value: s(""),
            effect: Some(TaintEffect::NoExecute),
            toleration_seconds: Some(10),
        }]);
        add_default_tolerations(&mut tolerations, (300, 300));
        assert_eq!(tolerations.len(), 2);
        let unreachable: Vec<_> = tolerations
            .iter()
            .filter(|t| t.key.as_ref() == TAINT_UNREACHABLE)
            .collect();
        assert_eq!(unreachable.len(), 1);
        assert_eq!(unreachable[0].toleration_seconds, Some(10));
    }

    #[test]
    fn names_must_be_dns_subdomains() {
        assert!(validate_name("nginx-7c5ddbdf54-x2bq4").is_ok());
        assert!(validate_name("Nginx").is_err());
        assert!(validate_name("-a").is_err());
        assert!(validate_name("").is_err());
    }
}
