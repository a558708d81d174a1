//! etcd as a Raft cluster under a whole Kubernetes cluster: a 3-member cluster serves the
//! control plane like one member does; a member's loss changes nothing visible; a
//! quorum's loss stalls writes until it returns; a wiped member resyncs.

use components::api::{Deployment, Pod};
use components::cluster::{Cluster, ClusterConfig};
use components::etcd::Role;
use components::fixtures;
use components::kubectl::Action;
use sim_core::{ActorId, Fault};

mod common;

use common::{at, run_until, scale_deployment, small_requests};

fn three_members(seed: u64) -> Cluster {
    let mut config = ClusterConfig::default();
    config.etcd.members = 3;
    config
        .node_pools
        .push(fixtures::node_pool("node", 3, Some("zone-a")));
    let deployment = fixtures::deployment("default", "web", 3, "nginx:1.14.2", small_requests());
    let mut cluster = Cluster::build(&config, seed, true);
    cluster.schedule_action(at(1), Action::Apply(vec![deployment.into()]));
    cluster
}

fn leaders(cluster: &Cluster) -> Vec<String> {
    cluster
        .etcd_members
        .iter()
        .filter(|&&id| cluster.sim.actor_up(id))
        .map(|&id| {
            cluster
                .sim
                .actor::<components::etcd::Etcd>(id)
                .expect("etcd")
        })
        .filter(|member| matches!(member.raft().role(), Role::Leader(_)))
        .map(|member| member.name())
        .collect()
}

fn running_web_pods(cluster: &Cluster) -> usize {
    cluster
        .objects::<Pod>()
        .filter(|pod| pod.status.phase.name() == "Running")
        .count()
}

fn available(cluster: &Cluster) -> u32 {
    cluster
        .objects::<Deployment>()
        .map(|d| d.status.available_replicas)
        .sum()
}

/// A member that is neither the API server's endpoint (etcd-1) nor the leader.
fn a_follower(cluster: &Cluster) -> ActorId {
    let leader = leaders(cluster).pop().expect("a leader");
    cluster.etcd_members[1..]
        .iter()
        .copied()
        .find(|&id| {
            cluster
                .sim
                .actor::<components::etcd::Etcd>(id)
                .expect("etcd")
                .name()
                != leader
        })
        .expect("a follower besides etcd-1")
}

#[test]
fn three_members_elect_one_leader_and_serve_a_deployment() {
    let mut cluster = three_members(1);
    run_until(&mut cluster, at(30));
    assert_eq!(leaders(&cluster).len(), 1);
    assert_eq!(available(&cluster), 3);
    assert_eq!(running_web_pods(&cluster), 3);
    // Every member applied the same history.
    let revisions: Vec<u64> = cluster
        .etcd_members
        .iter()
        .map(|&id| {
            cluster
                .sim
                .actor::<components::etcd::Etcd>(id)
                .expect("etcd")
                .revision()
        })
        .collect();
    let newest = *revisions.iter().max().expect("members");
    assert!(newest > 50, "{revisions:?}");
    for revision in &revisions {
        assert!(newest - revision < 5, "members stay close: {revisions:?}");
    }
}

#[test]
fn losing_one_member_of_three_changes_nothing_visible() {
    let mut cluster = three_members(2);
    run_until(&mut cluster, at(20));
    let follower = a_follower(&cluster);
    cluster.schedule_fault(at(21), Fault::CrashActor(follower));
    scale_deployment(&mut cluster, at(25), "web", 5);
    run_until(&mut cluster, at(60));
    assert_eq!(available(&cluster), 5, "writes still commit with 2 of 3");
    // It comes back and catches up.
    cluster.schedule_fault(at(61), Fault::RestartActor(follower));
    run_until(&mut cluster, at(70));
    let back = cluster
        .sim
        .actor::<components::etcd::Etcd>(follower)
        .expect("etcd");
    assert!(cluster.etcd().revision() - back.revision() < 5);
}

#[test]
fn losing_two_of_three_stalls_writes_until_the_quorum_returns() {
    let mut cluster = three_members(3);
    run_until(&mut cluster, at(20));
    let (second, third) = (cluster.etcd_members[1], cluster.etcd_members[2]);
    cluster.schedule_fault(at(21), Fault::CrashActor(second));
    cluster.schedule_fault(at(21), Fault::CrashActor(third));
    scale_deployment(&mut cluster, at(25), "web", 5);
    run_until(&mut cluster, at(60));
    assert!(leaders(&cluster).is_empty(), "no leader without a quorum");
    let stored: Vec<_> = cluster.objects::<Deployment>().collect();
    assert_eq!(stored[0].spec.replicas, 3, "the scale did not commit");
    assert_eq!(running_web_pods(&cluster), 3, "running pods keep running");
    let timed_out = cluster
        .sim
        .records()
        .iter()
        .any(|r| r.detail.contains("etcdserver: request timed out"));
    assert!(timed_out, "requests time out without a quorum");
    cluster.schedule_fault(at(61), Fault::RestartActor(second));
    cluster.schedule_fault(at(61), Fault::RestartActor(third));
    run_until(&mut cluster, at(75));
    assert_eq!(leaders(&cluster).len(), 1, "a leader again");
}

#[test]
fn a_wiped_member_comes_back_empty_and_resyncs() {
    let mut cluster = three_members(4);
    run_until(&mut cluster, at(20));
    let follower = a_follower(&cluster);
    cluster.sim.schedule_timer(
        at(21),
        follower,
        components::msg::Msg::Etcd(Box::new(components::etcd::EtcdRequest::Maintenance(
            components::etcd::Maintenance::DiskLost,
        ))),
    );
    cluster.schedule_fault(at(21), Fault::CrashActor(follower));
    cluster.schedule_fault(at(30), Fault::RestartActor(follower));
    run_until(&mut cluster, at(30));
    let member = cluster
        .sim
        .actor::<components::etcd::Etcd>(follower)
        .expect("etcd");
    assert_eq!(member.revision(), 0, "the disk is gone");
    run_until(&mut cluster, at(40));
    let member = cluster
        .sim
        .actor::<components::etcd::Etcd>(follower)
        .expect("etcd");
    assert!(!member.raft().is_rejoining());
    assert!(
        cluster.etcd().revision() - member.revision() < 5,
        "resynced"
    );
}

/// Without a quorum nothing commits, so the watch cache hears nothing, but its streams
/// stay open: every stream of the nodes' kubelets and kube-proxies is the same stream,
/// with nothing more sent, from just after the loss until just before the quorum
/// returns (no relist, no reconnect).
#[test]
fn without_a_quorum_existing_watches_stay_open_and_silent() {
    let mut cluster = three_members(5);
    run_until(&mut cluster, at(20));
    let (second, third) = (cluster.etcd_members[1], cluster.etcd_members[2]);
    cluster.schedule_fault(at(21), Fault::CrashActor(second));
    cluster.schedule_fault(at(21), Fault::CrashActor(third));
    let node_clients: Vec<ActorId> = cluster
        .nodes
        .iter()
        .flat_map(|node| [node.kubelet, node.proxy])
        .collect();
    let streams = |cluster: &Cluster| -> Vec<(ActorId, u64, u64)> {
        let server = cluster
            .sim
            .actor::<components::apiserver::ApiServer>(cluster.apiserver)
            .expect("apiserver");
        let mut streams: Vec<(ActorId, u64, u64)> = server
            .watchers()
            .filter(|w| node_clients.contains(&w.client))
            .map(|w| (w.client, w.watch_id, w.sent_count))
            .collect();
        streams.sort();
        streams
    };
    run_until(&mut cluster, at(23));
    let after_the_loss = streams(&cluster);
    assert!(
        after_the_loss.len() >= 2 * cluster.nodes.len(),
        "{after_the_loss:?}"
    );
    run_until(&mut cluster, at(80));
    assert!(leaders(&cluster).is_empty(), "still no quorum");
    assert_eq!(streams(&cluster), after_the_loss);
}
