//! What the whole-cluster tests share: time in seconds, running to an instant, the
//! three-node cluster with a `web` Deployment most of them start from, and lookups.
// Each test file uses part of this module.
#![allow(dead_code)]

use std::rc::Rc;

use components::api::{
    Container, Deployment, ImagePullPolicy, Kind, Lease, Node, ObjectMeta, Pod, PodSpec, PodStatus,
    ResourceList, RestartPolicy, TAINT_UNREACHABLE, Taint, TaintEffect, s,
};
use components::cluster::{Cluster, ClusterConfig, NodePool};
use components::fixtures;
use components::kubectl::Action;
use components::registry::ImageProfile;
use sim_core::{RunLimits, RunOutcome, SimDuration, SimTime};

/// `secs` seconds after the start of the run.
pub fn at(secs: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs(secs)
}

/// Runs the cluster to `until`; a run that stops early (the event cap) fails the test.
pub fn run_until(cluster: &mut Cluster, until: SimTime) {
    let outcome = cluster.run(RunLimits {
        until,
        events_max: 50_000_000,
    });
    assert!(
        matches!(outcome, RunOutcome::TimeReached | RunOutcome::QueueEmpty),
        "run stopped early: {outcome:?}"
    );
}

/// Three nodes `node-1` to `node-3` in `zone-a`, and a Deployment `default/web` of
/// `replicas` `nginx:1.14.2` pods asking for `requests`, applied at 1 s.
pub fn three_nodes_with_web(
    seed: u64,
    replicas: u32,
    requests: ResourceList,
) -> (Cluster, Deployment) {
    let mut config = ClusterConfig::default();
    config
        .node_pools
        .push(fixtures::node_pool("node", 3, Some("zone-a")));
    let deployment = fixtures::deployment("default", "web", replicas, "nginx:1.14.2", requests);
    let mut cluster = Cluster::build(&config, seed, true);
    cluster.schedule_action(at(1), Action::Apply(vec![deployment.clone().into()]));
    (cluster, deployment)
}

/// A pool of one node (4 CPUs, 16Gi of memory, 110 pods, no ephemeral storage), as
/// [`fixtures::node_pool`] lays pools out.
pub fn one_node_pool(name: &str) -> NodePool {
    let mut pool = fixtures::node_pool(name, 1, None);
    pool.capacity.cpu_millicores = Some(4000);
    pool.capacity.memory_bytes = Some(16 << 30);
    pool.capacity.ephemeral_storage_bytes = None;
    pool
}

/// One node `pool-1` (see [`one_node_pool`]) and a registry serving `images`.
pub fn one_node_config(images: Vec<ImageProfile>) -> ClusterConfig {
    let mut config = ClusterConfig {
        node_pools: vec![one_node_pool("pool")],
        ..ClusterConfig::default()
    };
    config.registry.images = images;
    config
}

/// A container `app` running `image`, pulled only if the node does not have it.
pub fn app_container(image: &str) -> Container {
    Container {
        name: s("app"),
        image: s(image),
        image_pull_policy: ImagePullPolicy::IfNotPresent,
        ..Container::default()
    }
}

/// A pod `default/name` already bound to `node`, running `container` under `restart_policy`.
pub fn bound_pod(
    name: &str,
    node: &str,
    container: Container,
    restart_policy: RestartPolicy,
) -> Pod {
    Pod {
        metadata: ObjectMeta::named("default", name),
        spec: PodSpec {
            node_name: Some(s(node)),
            containers: Rc::from(vec![container]),
            restart_policy,
            ..PodSpec::default()
        },
        status: PodStatus::default(),
    }
}

/// Schedules, at `when`, a `kubectl scale` of Deployment `default/name` to `replicas`.
pub fn scale_deployment(cluster: &mut Cluster, when: SimTime, name: &str, replicas: u32) {
    cluster.schedule_action(
        when,
        Action::Scale {
            kind: Kind::Deployment,
            namespace: s("default"),
            name: s(name),
            replicas,
        },
    );
}

/// 100m of CPU and 128Mi of memory.
pub fn small_requests() -> ResourceList {
    ResourceList {
        cpu_millicores: Some(100),
        memory_bytes: Some(128 << 20),
        ..ResourceList::default()
    }
}

/// The stored Node `name`.
pub fn node(cluster: &Cluster, name: &str) -> Rc<Node> {
    cluster
        .objects::<Node>()
        .find(|node| &*node.metadata.name == name)
        .cloned()
        .unwrap_or_else(|| panic!("node {name}"))
}

/// When node `name`'s Lease was last renewed.
pub fn lease_renewed(cluster: &Cluster, name: &str) -> SimTime {
    cluster
        .objects::<Lease>()
        .find(|lease| &*lease.metadata.name == name)
        .and_then(|lease| lease.spec.renew_time)
        .unwrap_or_else(|| panic!("node {name}'s lease was renewed"))
}

/// The node lifecycle controller's `node.kubernetes.io/unreachable:NoExecute` taint.
pub fn unreachable_no_execute(node: &Node) -> Option<&Taint> {
    node.spec
        .taints
        .iter()
        .find(|t| &*t.key == TAINT_UNREACHABLE && t.effect == TaintEffect::NoExecute)
}

/// The pods bound to node `name`.
pub fn pods_on(cluster: &Cluster, name: &str) -> Vec<Rc<Pod>> {
    cluster
        .objects::<Pod>()
        .filter(|pod| pod.spec.node_name.as_deref() == Some(name))
        .cloned()
        .collect()
}

/// When a graceful delete of `pod` was asked for: its deletion timestamp less its grace
/// period; `None` while it is not being deleted.
pub fn deletion_asked_at(pod: &Pod) -> Option<SimTime> {
    let deadline = pod.metadata.deletion_timestamp?;
    let grace = pod
        .metadata
        .deletion_grace_period_seconds
        .expect("a graceful deletion");
    Some(SimTime::from_nanos(
        deadline.as_nanos() - grace * 1_000_000_000,
    ))
}

/// Pods not being deleted, bound to a node other than `name`, for which `keep` holds.
pub fn live_pods_off(cluster: &Cluster, name: &str, keep: impl Fn(&Pod) -> bool) -> usize {
    cluster
        .objects::<Pod>()
        .filter(|pod| !pod.metadata.is_terminating())
        .filter(|pod| {
            pod.spec
                .node_name
                .as_deref()
                .is_some_and(|node| node != name)
        })
        .filter(|pod| keep(pod))
        .count()
}
