//! RuntimeClass (node.k8s.io/v1) on the API server: its validation, and the RuntimeClass
//! admission plugin that applies a pod's class at create
//! (plugin/pkg/admission/runtimeclass/admission.go):
//! - a pod naming a class that does not exist is refused;
//! - `overhead.podFixed` becomes the pod's `spec.overhead` (a pod that brings its own
//!   overhead must match the class's, and a pod may not have one without a class that
//!   defines it);
//! - `scheduling.nodeSelector` is merged into the pod's `nodeSelector` (a key the pod
//!   sets to another value refuses the pod) and `scheduling.tolerations` into its
//!   tolerations.

use std::rc::Rc;

use crate::api::{PodSpec, ResourceList, RuntimeClass, Toleration};

use super::strategy::Invalid;

/// Upstream `ValidateRuntimeClass`: the handler is a lowercase RFC 1123 label.
pub fn validate_runtime_class(class: &RuntimeClass) -> Result<(), Invalid> {
    let handler = &*class.handler;
    let ok = !handler.is_empty()
        && handler.len() <= 63
        && handler
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && handler.starts_with(|c: char| c.is_ascii_alphanumeric())
        && handler.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Invalid(format!(
            "handler: Invalid value: {handler:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
        )))
    }
}

/// Upstream `ValidateRuntimeClassUpdate`: the handler may not change.
pub fn validate_runtime_class_update(
    new: &RuntimeClass,
    old: &RuntimeClass,
) -> Result<(), Invalid> {
    validate_runtime_class(new)?;
    if new.handler != old.handler {
        return Err(Invalid(
            "handler: Invalid value: field is immutable".to_string(),
        ));
    }
    Ok(())
}

fn is_set(list: &ResourceList) -> bool {
    *list != ResourceList::default()
}

/// The RuntimeClass admission plugin on a pod create: `class` is what the pod's
/// `runtimeClassName` resolves to (`None` when it names none or one that does not
/// exist). The error is the text after `pods "<name>" is forbidden: `.
pub fn admit_runtime_class(spec: &mut PodSpec, class: Option<&RuntimeClass>) -> Result<(), String> {
    let class = match (&spec.runtime_class_name, class) {
        (None, _) => None,
        (Some(name), None) => return Err(format!("pod rejected: RuntimeClass {name:?} not found")),
        (Some(_), Some(class)) => Some(class),
    };
    // setOverhead, then validateOverhead.
    match class.and_then(|c| c.overhead.as_ref()) {
        Some(overhead) => {
            if is_set(&spec.overhead) && spec.overhead != *overhead {
                return Err(
                    "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead"
                        .to_string(),
                );
            }
            spec.overhead = *overhead;
        }
        None if is_set(&spec.overhead) => {
            return Err(
                "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead"
                    .to_string(),
            );
        }
        None => {}
    }
    // setScheduling.
    if let Some(scheduling) = class.and_then(|c| c.scheduling.as_ref()) {
        for (key, value) in scheduling.node_selector.iter() {
            match spec.node_selector.get(key) {
                Some(pod_value) if pod_value != value => {
                    return Err(format!(
                        "conflict: runtimeClass.scheduling.nodeSelector[{key}] = {value}; pod.spec.nodeSelector[{key}] = {pod_value}"
                    ));
                }
                Some(_) => {}
                None => spec.node_selector.insert(key.clone(), value.clone()),
            }
        }
        spec.tolerations = merge_tolerations(&spec.tolerations, &scheduling.tolerations);
    }
    Ok(())
}

/// The pod's tolerations followed by the class's that it does not already have
/// (upstream `tolerations.MergeTolerations` also drops a toleration another one covers;
/// kubesim drops only exact duplicates).
fn merge_tolerations(pod: &Rc<[Toleration]>, class: &[Toleration]) -> Rc<[Toleration]> {
    let added: Vec<&Toleration> = class.iter().filter(|t| !pod.contains(t)).collect();
    if added.is_empty() {
        return pod.clone();
    }
    pod.iter().chain(added).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        Labels, ObjectMeta, RuntimeClassScheduling, TaintEffect, TolerationOperator, s,
    };

    fn kata(
        overhead: Option<ResourceList>,
        scheduling: Option<RuntimeClassScheduling>,
    ) -> RuntimeClass {
        RuntimeClass {
            metadata: ObjectMeta::named("", "kata"),
            handler: s("kata"),
            overhead,
            scheduling,
        }
    }

    fn overhead(cpu_millicores: u64, memory_bytes: u64) -> ResourceList {
        ResourceList {
            cpu_millicores: Some(cpu_millicores),
            memory_bytes: Some(memory_bytes),
            ..ResourceList::default()
        }
    }

    fn spec(class: Option<&str>) -> PodSpec {
        PodSpec {
            runtime_class_name: class.map(s),
            ..PodSpec::default()
        }
    }

    fn toleration(key: &str) -> Toleration {
        Toleration {
            key: s(key),
            operator: TolerationOperator::Exists,
            value: s(""),
            effect: Some(TaintEffect::NoSchedule),
            toleration_seconds: None,
        }
    }

    #[test]
    fn the_class_overhead_becomes_the_pods() {
        // The usual example: podFixed {memory: 120Mi, cpu: 250m}.
        let class = kata(Some(overhead(250, 120 << 20)), None);
        let mut pod = spec(Some("kata"));
        admit_runtime_class(&mut pod, Some(&class)).unwrap();
        assert_eq!(pod.overhead, overhead(250, 120 << 20));
        // A pod that already carries the same overhead passes; another one does not.
        admit_runtime_class(&mut pod, Some(&class)).unwrap();
        pod.overhead = overhead(100, 120 << 20);
        assert_eq!(
            admit_runtime_class(&mut pod, Some(&class)).unwrap_err(),
            "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead"
        );
    }

    #[test]
    fn overhead_without_a_class_that_defines_it_is_refused() {
        let mut pod = spec(None);
        pod.overhead = overhead(250, 0);
        assert_eq!(
            admit_runtime_class(&mut pod, None).unwrap_err(),
            "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead"
        );
        let mut pod = spec(Some("kata"));
        pod.overhead = overhead(250, 0);
        assert!(admit_runtime_class(&mut pod, Some(&kata(None, None))).is_err());
        // No class, no overhead: nothing changes.
        let mut plain = spec(None);
        admit_runtime_class(&mut plain, None).unwrap();
        assert_eq!(plain, spec(None));
    }

    #[test]
    fn a_missing_class_is_refused() {
        assert_eq!(
            admit_runtime_class(&mut spec(Some("gvisor")), None).unwrap_err(),
            "pod rejected: RuntimeClass \"gvisor\" not found"
        );
    }

    #[test]
    fn scheduling_merges_into_the_pod_and_conflicts_refuse_it() {
        let scheduling = RuntimeClassScheduling {
            node_selector: Labels::from_pairs([("sandbox", "kata")]),
            tolerations: Rc::from(vec![toleration("kata"), toleration("shared")]),
        };
        let class = kata(None, Some(scheduling));
        let mut pod = spec(Some("kata"));
        pod.node_selector = Labels::from_pairs([("disk", "ssd")]);
        pod.tolerations = Rc::from(vec![toleration("shared")]);
        admit_runtime_class(&mut pod, Some(&class)).unwrap();
        assert_eq!(pod.node_selector.get("sandbox").map(|v| &**v), Some("kata"));
        assert_eq!(pod.node_selector.get("disk").map(|v| &**v), Some("ssd"));
        let keys: Vec<&str> = pod.tolerations.iter().map(|t| &*t.key).collect();
        assert_eq!(keys, ["shared", "kata"]);

        let mut conflicting = spec(Some("kata"));
        conflicting.node_selector = Labels::from_pairs([("sandbox", "gvisor")]);
        assert_eq!(
            admit_runtime_class(&mut conflicting, Some(&class)).unwrap_err(),
            "conflict: runtimeClass.scheduling.nodeSelector[sandbox] = kata; pod.spec.nodeSelector[sandbox] = gvisor"
        );
    }

    #[test]
    fn the_handler_is_a_dns_label_and_immutable() {
        let class = kata(None, None);
        validate_runtime_class(&class).unwrap();
        let bad = RuntimeClass {
            handler: s("Kata_QEMU"),
            ..class.clone()
        };
        assert!(validate_runtime_class(&bad).is_err());
        let changed = RuntimeClass {
            handler: s("runsc"),
            ..class.clone()
        };
        assert_eq!(
            validate_runtime_class_update(&changed, &class).unwrap_err(),
            Invalid("handler: Invalid value: field is immutable".to_string())
        );
    }
}
