//! The control loops end to end: kubectl applies a Deployment, the controller manager
//! makes its ReplicaSet and pods, the scheduler binds them, on a real API server.

use std::rc::Rc;

use components::api::{
    ConditionStatus, Deployment, LABEL_POD_TEMPLATE_HASH, Node, Pod, ReplicaSet,
};
use components::cluster::Cluster;
use components::controllers::ControllerManager;
use components::controllers::deployment::{REVISION_ANNOTATION, pod_template_hash};
use components::scheduler::Scheduler;
use sim_core::{Fault, SimDuration};

mod common;

use common::{
    at, deletion_asked_at, lease_renewed, live_pods_off, node, pods_on, run_until, small_requests,
    three_nodes_with_web, unreachable_no_execute,
};

fn three_node_cluster(seed: u64) -> (Cluster, Deployment) {
    three_nodes_with_web(seed, 3, small_requests())
}

#[test]
fn a_deployment_gets_its_replica_set_and_three_bound_pods() {
    let (mut cluster, deployment) = three_node_cluster(7);
    run_until(&mut cluster, at(30));

    let replica_sets: Vec<Rc<ReplicaSet>> = cluster.objects::<ReplicaSet>().cloned().collect();
    assert_eq!(replica_sets.len(), 1, "one ReplicaSet: {replica_sets:#?}");
    let rs = &replica_sets[0];
    let hash = pod_template_hash(&deployment.spec.template, None);
    assert_eq!(&*rs.metadata.name, format!("web-{hash}"));
    assert_eq!(
        rs.metadata
            .labels
            .get(LABEL_POD_TEMPLATE_HASH)
            .map(|h| &**h),
        Some(&*hash)
    );
    assert_eq!(
        rs.metadata
            .annotations
            .get(REVISION_ANNOTATION)
            .map(|r| &**r),
        Some("1")
    );
    assert_eq!(rs.spec.replicas, 3);

    let pods: Vec<Rc<Pod>> = cluster.objects::<Pod>().cloned().collect();
    assert_eq!(pods.len(), 3, "three pods: {pods:#?}");
    let nodes: Vec<Rc<Node>> = cluster.objects::<Node>().cloned().collect();
    for pod in &pods {
        assert!(pod.metadata.name.starts_with(&format!("web-{hash}-")));
        assert_eq!(
            pod.metadata.controller_ref().map(|r| r.uid),
            Some(rs.metadata.uid)
        );
        let node = pod.spec.node_name.as_ref().expect("every pod is bound");
        assert!(nodes.iter().any(|n| &n.metadata.name == node));
        assert_eq!(pod.status.scheduled, ConditionStatus::True);
    }
    assert_eq!(rs.status.replicas, 3);
    let stored = cluster
        .objects::<Deployment>()
        .next()
        .expect("the Deployment")
        .clone();
    assert_eq!(stored.status.replicas, 3);
    assert_eq!(stored.status.updated_replicas, 3);
    assert_eq!(
        stored.status.observed_generation,
        stored.metadata.generation
    );
    assert_eq!(
        stored
            .metadata
            .annotations
            .get(REVISION_ANNOTATION)
            .map(|r| &**r),
        Some("1")
    );

    let scheduler = cluster
        .sim
        .actor::<Scheduler>(cluster.scheduler)
        .expect("the scheduler actor");
    assert_eq!(scheduler.stats().bound, 3);
    assert_eq!(scheduler.queued_pods(), 0);
    let controllers = cluster
        .sim
        .actor::<ControllerManager>(cluster.controller_manager)
        .expect("the controller manager actor");
    assert_eq!(controllers.stats().pods_created, 3);
    assert_eq!(controllers.stats().replicasets_created, 1);

    // The narration tells the story in order: ReplicaSet, pods, bindings.
    let steps: Vec<String> = cluster.steps().map(|r| r.detail.clone()).collect();
    let position = |needle: &str| {
        steps
            .iter()
            .position(|s| s.contains(needle))
            .unwrap_or_else(|| panic!("no step mentions {needle:?}: {steps:#?}"))
    };
    assert!(position("created replicaset") < position("creating 3 pods"));
    assert!(position("creating 3 pods") < position(": bound to "));
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let hash = |seed| {
        let (mut cluster, _) = three_node_cluster(seed);
        run_until(&mut cluster, at(20));
        cluster.sim.trace_hash()
    };
    assert_eq!(hash(3), hash(3));
}

#[test]
fn pods_of_a_dead_node_are_evicted_after_grace_plus_toleration() {
    let (mut cluster, _) = three_nodes_with_web(11, 6, small_requests());
    let host = cluster.node("node-1").expect("node-1").host;
    cluster.schedule_fault(at(33), Fault::CrashHost(host));
    run_until(&mut cluster, at(420));

    let renewed = lease_renewed(&cluster, "node-1");
    let node = node(&cluster, "node-1");
    assert_eq!(node.status.ready.status, ConditionStatus::Unknown);
    assert_eq!(&*node.status.ready.reason, "NodeStatusUnknown");
    let no_execute = unreachable_no_execute(&node).expect("the unreachable NoExecute taint");
    let tainted = no_execute.time_added.expect("timeAdded");
    // Ready=Unknown within one monitor period after the 50 s grace; the taint at the
    // next monitor pass, which observes Unknown, plus the tainter's 100 ms period.
    assert!(
        tainted > renewed + SimDuration::from_secs(55),
        "{tainted} vs {renewed}"
    );
    assert!(
        tainted <= renewed + SimDuration::from_millis(60_100),
        "{tainted} vs {renewed}"
    );

    let on_dead_node = pods_on(&cluster, "node-1");
    assert!(!on_dead_node.is_empty());
    for pod in &on_dead_node {
        let deleted_at = deletion_asked_at(pod).expect("evicted");
        // The default 300 s toleration, counted from when the taint-eviction controller
        // saw the taint (the API server's few milliseconds after it was added).
        let earliest = tainted + SimDuration::from_secs(300);
        let latest = tainted + SimDuration::from_secs(301);
        assert!(
            deleted_at >= earliest && deleted_at <= latest,
            "pod {} deleted at {deleted_at}, lease renewed at {renewed}",
            pod.metadata.name
        );
        assert_eq!(pod.status.ready, ConditionStatus::False);
    }
    // The ReplicaSet replaced them on the living nodes.
    let live = live_pods_off(&cluster, "node-1", |_| true);
    assert_eq!(live, 6);
}
