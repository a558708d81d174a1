//! The `oom_score_adj` the kubelet gives a container's processes, by the pod's QoS class
//! (upstream `pkg/kubelet/qos/policy.go`, v1.34, without pod-level resources), so that
//! the kernel's OOM killer takes BestEffort pods first and Guaranteed ones last.

use crate::api::{Container, Pod, QosClass, pod_qos_class};

/// The kubelet's own and kube-proxy's adjustment (`KubeletOOMScoreAdj`).
pub const KUBELET_OOM_SCORE_ADJ: i32 = -999;
/// Guaranteed pods and node-critical pods (`guaranteedOOMScoreAdj`).
pub const GUARANTEED_OOM_SCORE_ADJ: i32 = -997;
/// BestEffort pods (`besteffortOOMScoreAdj`).
pub const BESTEFFORT_OOM_SCORE_ADJ: i32 = 1000;

/// `scheduling.SystemCriticalPriority`: a pod at or above it is critical.
pub const SYSTEM_CRITICAL_PRIORITY: i32 = 2_000_000_000;
pub const SYSTEM_NODE_CRITICAL: &str = "system-node-critical";

/// Upstream `IsCriticalPod` (by priority; kubesim has no static or mirror pods).
pub fn is_critical_pod(pod: &Pod) -> bool {
    pod.spec.priority >= SYSTEM_CRITICAL_PRIORITY
}

/// Upstream `IsNodeCriticalPod`: critical and of the `system-node-critical` class.
pub fn is_node_critical_pod(pod: &Pod) -> bool {
    is_critical_pod(pod) && pod.spec.priority_class_name.as_deref() == Some(SYSTEM_NODE_CRITICAL)
}

/// The pod's QoS class: `status.qosClass` when the API server set it, else computed.
pub fn qos_class(pod: &Pod) -> QosClass {
    pod.status
        .qos_class
        .unwrap_or_else(|| pod_qos_class(&pod.spec))
}

/// Upstream `GetContainerOOMScoreAdjust`: Guaranteed (and node-critical) −997,
/// BestEffort 1000; Burstable `1000 − 1000 × memory request / node memory`, a sidecar
/// no higher than its pod's smallest regular container would get, then kept within
/// 1000 + (−997) = 3 and 999 (so above Guaranteed and below BestEffort).
pub fn container_oom_score_adj(
    pod: &Pod,
    container: &Container,
    memory_capacity_bytes: u64,
) -> i32 {
    if is_node_critical_pod(pod) {
        return GUARANTEED_OOM_SCORE_ADJ;
    }
    match qos_class(pod) {
        QosClass::Guaranteed => return GUARANTEED_OOM_SCORE_ADJ,
        QosClass::BestEffort => return BESTEFFORT_OOM_SCORE_ADJ,
        QosClass::Burstable => {}
    }
    let capacity = i128::from(memory_capacity_bytes.max(1));
    let adj_for = |request_bytes: u64| 1000 - 1000 * i128::from(request_bytes) / capacity;
    let mut adj = adj_for(container.resources.requests.memory_bytes.unwrap_or(0));
    let is_sidecar = container.is_sidecar()
        && pod
            .spec
            .init_containers
            .iter()
            .any(|init| init.name == container.name);
    if is_sidecar {
        let smallest_regular = pod
            .spec
            .containers
            .iter()
            .map(|c| c.resources.requests.memory_bytes.unwrap_or(0))
            .min()
            .unwrap_or(0);
        adj = adj.min(adj_for(smallest_regular));
    }
    let floor = i128::from(1000 + GUARANTEED_OOM_SCORE_ADJ);
    let adj = if adj < floor {
        floor
    } else if adj == i128::from(BESTEFFORT_OOM_SCORE_ADJ) {
        adj - 1
    } else {
        adj
    };
    i32::try_from(adj).expect("within 3 ..= 999")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        ContainerRestartPolicy, ObjectMeta, PodSpec, ResourceList, ResourceRequirements, s,
    };
    use std::rc::Rc;

    const GI: u64 = 1 << 30;
    const MI: u64 = 1 << 20;

    fn container(name: &str, memory_request: Option<u64>, memory_limit: Option<u64>) -> Container {
        Container {
            name: s(name),
            resources: ResourceRequirements {
                requests: ResourceList {
                    memory_bytes: memory_request,
                    cpu_millicores: memory_limit.map(|_| 100),
                    ..ResourceList::default()
                },
                limits: ResourceList {
                    memory_bytes: memory_limit,
                    cpu_millicores: memory_limit.map(|_| 100),
                    ..ResourceList::default()
                },
            },
            ..Container::default()
        }
    }

    fn pod(containers: Vec<Container>, init_containers: Vec<Container>) -> Pod {
        Pod {
            metadata: ObjectMeta::named("default", "p"),
            spec: PodSpec {
                containers: Rc::from(containers),
                init_containers: Rc::from(init_containers),
                ..PodSpec::default()
            },
            status: Default::default(),
        }
    }

    #[test]
    fn adjustments_by_qos_class() {
        let capacity = 4 * GI;
        let guaranteed = pod(vec![container("a", Some(GI), Some(GI))], vec![]);
        assert_eq!(
            container_oom_score_adj(&guaranteed, &guaranteed.spec.containers[0], capacity),
            -997
        );
        let best_effort = pod(vec![container("a", None, None)], vec![]);
        assert_eq!(
            container_oom_score_adj(&best_effort, &best_effort.spec.containers[0], capacity),
            1000
        );
        // Burstable requesting a quarter of the node: 1000 − 250.
        let burstable = pod(vec![container("a", Some(GI), None)], vec![]);
        assert_eq!(
            container_oom_score_adj(&burstable, &burstable.spec.containers[0], capacity),
            750
        );
        // A tiny request would give 1000: 999, one below BestEffort.
        let tiny = pod(vec![container("a", Some(1), None)], vec![]);
        assert_eq!(
            container_oom_score_adj(&tiny, &tiny.spec.containers[0], capacity),
            999
        );
        // A request of the whole node would give 0: 3, above Guaranteed.
        let huge = pod(vec![container("a", Some(capacity), None)], vec![]);
        assert_eq!(
            container_oom_score_adj(&huge, &huge.spec.containers[0], capacity),
            3
        );
        // In a Burstable pod a container without a request still gets 999.
        let mixed = pod(
            vec![container("a", Some(GI), None), container("b", None, None)],
            vec![],
        );
        assert_eq!(
            container_oom_score_adj(&mixed, &mixed.spec.containers[1], capacity),
            999
        );
    }

    #[test]
    fn node_critical_pods_are_protected_like_guaranteed_ones() {
        let mut critical = pod(vec![container("a", None, None)], vec![]);
        critical.spec.priority = 2_000_001_000;
        critical.spec.priority_class_name = Some(s(SYSTEM_NODE_CRITICAL));
        assert_eq!(
            container_oom_score_adj(&critical, &critical.spec.containers[0], GI),
            -997
        );
        critical.spec.priority_class_name = Some(s("system-cluster-critical"));
        assert_eq!(
            container_oom_score_adj(&critical, &critical.spec.containers[0], GI),
            1000
        );
    }

    #[test]
    fn a_sidecar_scores_no_higher_than_the_smallest_regular_container() {
        let mut sidecar = container("log", Some(10 * MI), None);
        sidecar.restart_policy = Some(ContainerRestartPolicy::Always);
        let p = pod(vec![container("app", Some(GI), None)], vec![sidecar]);
        // Alone the sidecar would get 1000 − 2 = 998; the app gets 750.
        assert_eq!(
            container_oom_score_adj(&p, &p.spec.init_containers[0], 4 * GI),
            750
        );
        assert_eq!(
            container_oom_score_adj(&p, &p.spec.containers[0], 4 * GI),
            750
        );
    }
}
