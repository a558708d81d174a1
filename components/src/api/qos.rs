//! A pod's quality-of-service class (`status.qosClass`), as upstream computes it
//! (`pkg/apis/core/v1/helper/qos/qos.go`, `ComputePodQOS`, v1.34, without pod-level
//! resources).
//!
//! Only CPU and memory count, and only non-zero quantities. The requests and the limits of
//! every container (regular and init) are summed per resource; a container without both a
//! CPU and a memory limit makes the pod at most Burstable. A pod with neither requests nor
//! limits is BestEffort; one whose summed requests equal its summed limits, for every
//! resource requested and with as many resources limited as requested, is Guaranteed.
//! The manifest ingest has already defaulted unset requests from the limits, as the API
//! server's defaulting does.

use super::objects::{Container, PodSpec};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

impl QosClass {
    pub fn name(self) -> &'static str {
        match self {
            QosClass::Guaranteed => "Guaranteed",
            QosClass::Burstable => "Burstable",
            QosClass::BestEffort => "BestEffort",
        }
    }
}

/// Summed non-zero quantities of one resource, and whether any container set one.
#[derive(Clone, Copy, Debug, Default)]
struct Sum {
    total: u64,
    found: bool,
}

impl Sum {
    fn add(&mut self, quantity: Option<u64>) {
        if let Some(value) = quantity.filter(|v| *v > 0) {
            self.total += value;
            self.found = true;
        }
    }
}

/// The pod's QoS class from its containers' requests and limits.
pub fn pod_qos_class(spec: &PodSpec) -> QosClass {
    qos_class_of(spec.containers.iter().chain(spec.init_containers.iter()))
}

fn qos_class_of<'a>(containers: impl Iterator<Item = &'a Container>) -> QosClass {
    let (mut cpu_requests, mut memory_requests) = (Sum::default(), Sum::default());
    let (mut cpu_limits, mut memory_limits) = (Sum::default(), Sum::default());
    let mut every_container_limits_both = true;
    for container in containers {
        let resources = &container.resources;
        cpu_requests.add(resources.requests.cpu_millicores);
        memory_requests.add(resources.requests.memory_bytes);
        cpu_limits.add(resources.limits.cpu_millicores);
        memory_limits.add(resources.limits.memory_bytes);
        let limits_both = resources.limits.cpu_millicores.is_some_and(|v| v > 0)
            && resources.limits.memory_bytes.is_some_and(|v| v > 0);
        every_container_limits_both &= limits_both;
    }
    let any_request = cpu_requests.found || memory_requests.found;
    let any_limit = cpu_limits.found || memory_limits.found;
    if !any_request && !any_limit {
        return QosClass::BestEffort;
    }
    // Each requested resource must be limited by exactly as much...
    let matches =
        |request: Sum, limit: Sum| !request.found || (limit.found && limit.total == request.total);
    // ...and as many resources limited as requested.
    let count = |a: Sum, b: Sum| usize::from(a.found) + usize::from(b.found);
    if every_container_limits_both
        && matches(cpu_requests, cpu_limits)
        && matches(memory_requests, memory_limits)
        && count(cpu_requests, memory_requests) == count(cpu_limits, memory_limits)
    {
        QosClass::Guaranteed
    } else {
        QosClass::Burstable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ResourceList, ResourceRequirements, s};

    fn container(
        cpu_request: Option<u64>,
        memory_request: Option<u64>,
        cpu_limit: Option<u64>,
        memory_limit: Option<u64>,
    ) -> Container {
        Container {
            name: s("c"),
            resources: ResourceRequirements {
                requests: ResourceList {
                    cpu_millicores: cpu_request,
                    memory_bytes: memory_request,
                    ..ResourceList::default()
                },
                limits: ResourceList {
                    cpu_millicores: cpu_limit,
                    memory_bytes: memory_limit,
                    ..ResourceList::default()
                },
            },
            ..Container::default()
        }
    }

    fn class(containers: &[Container]) -> QosClass {
        qos_class_of(containers.iter())
    }

    const MI: u64 = 1 << 20;

    #[test]
    fn upstream_qos_rules() {
        // Nothing set: BestEffort; zero quantities count as unset.
        assert_eq!(
            class(&[container(None, None, None, None)]),
            QosClass::BestEffort
        );
        assert_eq!(
            class(&[container(Some(0), Some(0), None, None)]),
            QosClass::BestEffort
        );
        // Requests equal to limits for CPU and memory: Guaranteed.
        let guaranteed = container(Some(500), Some(256 * MI), Some(500), Some(256 * MI));
        assert_eq!(
            class(std::slice::from_ref(&guaranteed)),
            QosClass::Guaranteed
        );
        // A request below its limit, a memory request alone, a memory limit alone.
        assert_eq!(
            class(&[container(
                Some(250),
                Some(128 * MI),
                Some(500),
                Some(256 * MI)
            )]),
            QosClass::Burstable
        );
        assert_eq!(
            class(&[container(None, Some(256 * MI), None, None)]),
            QosClass::Burstable
        );
        assert_eq!(
            class(&[container(None, Some(256 * MI), None, Some(256 * MI))]),
            QosClass::Burstable,
            "no CPU limit"
        );
        // One BestEffort container among Guaranteed ones makes the pod Burstable.
        assert_eq!(
            class(&[guaranteed.clone(), container(None, None, None, None)]),
            QosClass::Burstable
        );
        // Upstream compares the sums over containers.
        assert_eq!(
            class(&[guaranteed.clone(), guaranteed]),
            QosClass::Guaranteed
        );
        assert_eq!(
            class(&[
                container(Some(100), Some(MI), Some(200), Some(2 * MI)),
                container(Some(300), Some(3 * MI), Some(200), Some(2 * MI)),
            ]),
            QosClass::Guaranteed,
            "summed requests equal summed limits"
        );
    }

    #[test]
    fn init_containers_count() {
        let spec = PodSpec {
            containers: vec![container(Some(500), Some(MI), Some(500), Some(MI))].into(),
            init_containers: vec![container(None, None, None, None)].into(),
            ..PodSpec::default()
        };
        assert_eq!(pod_qos_class(&spec), QosClass::Burstable);
    }
}
