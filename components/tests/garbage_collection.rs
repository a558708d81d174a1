//! Cascading deletion through a whole cluster: `kubectl delete deployment --cascade=...`
//! with each propagation policy, carried out by the API server's finalizer handling and
//! the garbage collector.

use std::rc::Rc;

use components::api::{
    Deployment, FINALIZER_FOREGROUND_DELETION, Kind, Pod, PodPhase, PropagationPolicy, ReplicaSet,
    ResourceList, s,
};
use components::cluster::Cluster;
use components::kubectl::Action;
use sim_core::{RunLimits, SimDuration};

mod common;

use common::{at, run_until, three_nodes_with_web};

/// Three nodes and a 3-replica Deployment `web`, running by 30 s, deleted at 30 s with
/// `cascade`.
fn deleted_at_30s(cascade: PropagationPolicy) -> Cluster {
    let requests = ResourceList {
        cpu_millicores: Some(100),
        ..ResourceList::default()
    };
    let (mut cluster, _) = three_nodes_with_web(11, 3, requests);
    cluster.schedule_action(
        at(30),
        Action::Delete {
            kind: Kind::Deployment,
            namespace: s("default"),
            name: s("web"),
            cascade,
        },
    );
    run_until(&mut cluster, at(29));
    let running = cluster
        .objects::<Pod>()
        .filter(|p| p.status.phase == PodPhase::Running)
        .count();
    assert_eq!(running, 3, "the Deployment runs before it is deleted");
    cluster
}

fn deployments(cluster: &Cluster) -> Vec<Rc<Deployment>> {
    cluster.objects::<Deployment>().cloned().collect()
}

fn replica_sets(cluster: &Cluster) -> Vec<Rc<ReplicaSet>> {
    cluster.objects::<ReplicaSet>().cloned().collect()
}

#[test]
fn background_deletion_removes_the_deployment_at_once_then_its_replica_set_and_pods() {
    let mut cluster = deleted_at_30s(PropagationPolicy::Background);
    run_until(&mut cluster, at(31));
    assert!(deployments(&cluster).is_empty(), "the owner goes at once");
    run_until(&mut cluster, at(90));
    assert!(
        replica_sets(&cluster).is_empty(),
        "{:#?}",
        replica_sets(&cluster)
    );
    assert_eq!(cluster.objects::<Pod>().count(), 0);
    let steps: Vec<String> = cluster.steps().map(|r| r.detail.clone()).collect();
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with("garbage collector: deleting replicaset/default/web-")),
        "{steps:#?}"
    );
}

#[test]
fn foreground_deletion_keeps_the_deployment_until_its_pods_are_gone() {
    let mut cluster = deleted_at_30s(PropagationPolicy::Foreground);
    cluster.run(RunLimits {
        until: at(30) + SimDuration::from_millis(10),
        events_max: 50_000_000,
    });
    let held = deployments(&cluster);
    assert_eq!(held.len(), 1);
    assert!(held[0].metadata.deletion_timestamp.is_some());
    assert_eq!(
        held[0].metadata.finalizers,
        [s(FINALIZER_FOREGROUND_DELETION)]
    );
    // Every 2 ms: while any pod or ReplicaSet is left, the Deployment is too.
    let mut deployment_gone_at = None;
    let mut pods_gone_at = None;
    for step in 1..=1000 {
        let now = at(30) + SimDuration::from_millis(10 + 2 * step);
        cluster.run(RunLimits {
            until: now,
            events_max: 50_000_000,
        });
        let pods = cluster.objects::<Pod>().count();
        let sets = replica_sets(&cluster).len();
        let owners = deployments(&cluster).len();
        if pods > 0 || sets > 0 {
            assert_eq!(
                owners, 1,
                "at {now:?}: {pods} pods, {sets} replica sets left"
            );
        }
        if pods == 0 && pods_gone_at.is_none() {
            pods_gone_at = Some(now);
        }
        if owners == 0 && deployment_gone_at.is_none() {
            deployment_gone_at = Some(now);
        }
    }
    let (pods_gone, deployment_gone) = (pods_gone_at.unwrap(), deployment_gone_at.unwrap());
    assert!(
        pods_gone < deployment_gone,
        "{pods_gone:?} {deployment_gone:?}"
    );
    assert!(replica_sets(&cluster).is_empty());
}

#[test]
fn orphan_deletion_leaves_the_replica_set_and_pods_running_without_the_owner() {
    let mut cluster = deleted_at_30s(PropagationPolicy::Orphan);
    run_until(&mut cluster, at(90));
    assert!(deployments(&cluster).is_empty(), "the owner is gone");
    let sets = replica_sets(&cluster);
    assert_eq!(sets.len(), 1);
    assert!(
        sets[0].metadata.owner_references.is_empty(),
        "{:#?}",
        sets[0].metadata
    );
    assert_eq!(sets[0].spec.replicas, 3);
    let pods: Vec<Rc<Pod>> = cluster.objects::<Pod>().cloned().collect();
    assert_eq!(pods.len(), 3);
    for pod in &pods {
        assert_eq!(pod.status.phase, PodPhase::Running);
        assert!(!pod.metadata.is_terminating());
        let owner = pod
            .metadata
            .controller_ref()
            .expect("pods keep their ReplicaSet");
        assert_eq!(owner.uid, sets[0].metadata.uid);
    }
}
