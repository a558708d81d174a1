//! Several kube-apiserver replicas behind the load balancer: clients are spread over
//! them, a restarted replica's watch streams move to the other one, and the restarted
//! replica's clients relist.

mod common;

use components::api::{Deployment, Pod, PodPhase};
use components::apiserver::ApiServer;
use components::apiserver::requests::{RequestStats, VERBS};
use components::cluster::{Cluster, ClusterConfig};
use components::fixtures;
use components::kubectl::Action;
use sim_core::SimDuration;

use common::{at, run_until, small_requests};

fn two_replicas(seed: u64) -> Cluster {
    let mut config = ClusterConfig::default();
    config.control_plane.apiservers = 2;
    config
        .node_pools
        .push(fixtures::node_pool("node", 4, Some("zone-a")));
    let deployment = fixtures::deployment("default", "web", 6, "nginx:1.14.2", small_requests());
    let mut cluster = Cluster::build(&config, seed, true);
    cluster.schedule_action(at(1), Action::Apply(vec![deployment.into()]));
    cluster
}

fn stats(cluster: &Cluster, index: usize) -> RequestStats {
    cluster
        .sim
        .actor::<ApiServer>(cluster.apiservers[index])
        .expect("a replica")
        .request_stats()
        .clone()
}

fn replica(cluster: &Cluster, index: usize) -> &ApiServer {
    cluster
        .sim
        .actor::<ApiServer>(cluster.apiservers[index])
        .expect("a replica")
}

fn verb(name: &str) -> usize {
    VERBS.iter().position(|v| *v == name).expect("a verb")
}

fn running_web_pods(cluster: &Cluster) -> usize {
    cluster
        .objects::<Pod>()
        .filter(|p| p.status.phase == PodPhase::Running && !p.metadata.is_terminating())
        .count()
}

#[test]
fn replicas_live_on_their_own_control_plane_hosts_and_share_the_clients() {
    let mut cluster = two_replicas(3);
    run_until(&mut cluster, at(40));
    let hosts: Vec<&str> = cluster
        .control_planes
        .iter()
        .map(|h| cluster.sim.host(*h).name.as_str())
        .collect();
    assert_eq!(hosts, ["control-plane-1", "control-plane-2"]);
    assert_eq!(
        cluster.sim.actor_name(cluster.apiservers[1]),
        "kube-apiserver/control-plane-2"
    );
    assert_eq!(cluster.apiserver, cluster.apiservers[0]);
    // The balancer spread the kubelets' and kube-proxies' connections: both replicas
    // serve watches and writes.
    for index in 0..2 {
        let served = stats(&cluster, index);
        let watches = served.between(verb("watch"), at(0), at(40)).count;
        let updates = served.between(verb("update-status"), at(0), at(40)).count;
        assert!(watches >= 4, "replica {index}: {watches} watches");
        assert!(updates > 0, "replica {index}: no status updates");
    }
    assert_eq!(running_web_pods(&cluster), 6);
    let deployment = cluster
        .objects::<Deployment>()
        .next()
        .expect("the deployment")
        .clone();
    assert_eq!(deployment.status.available_replicas, 6);
}

#[test]
fn a_restarted_replica_sends_its_watchers_to_the_other_one() {
    let mut cluster = two_replicas(5);
    run_until(&mut cluster, at(60));
    let before = cluster
        .sim
        .actor::<ApiServer>(cluster.apiservers[1])
        .expect("replica 2")
        .watcher_count();
    assert!(before > 0);
    cluster.schedule_apiserver_restart(at(61), 1, SimDuration::from_secs(20));
    run_until(&mut cluster, at(70));
    // Every stream of replica 2 moved to replica 1 while replica 2 is down.
    assert!(!cluster.sim.actor_up(cluster.apiservers[1]));
    let first = replica(&cluster, 0).watcher_count();
    assert!(first >= before, "{first} streams on replica 1");
    let steps: Vec<&str> = cluster.steps().map(|r| r.detail.as_str()).collect();
    assert!(
        steps.iter().any(|s| s.contains(&format!(
            "kube-apiserver shuts down: it closes {before} watch streams"
        ))),
        "{steps:#?}"
    );
    run_until(&mut cluster, at(120));
    // Back up, serving again; the cluster kept running throughout.
    assert!(replica(&cluster, 1).is_serving());
    assert_eq!(running_web_pods(&cluster), 6);
}

#[test]
fn a_lone_replica_restart_makes_its_clients_relist() {
    let mut config = ClusterConfig::default();
    config
        .node_pools
        .push(fixtures::node_pool("node", 3, Some("zone-a")));
    let deployment = fixtures::deployment("default", "web", 3, "nginx:1.14.2", small_requests());
    let mut cluster = Cluster::build(&config, 9, true);
    cluster.schedule_action(at(1), Action::Apply(vec![deployment.into()]));
    cluster.schedule_apiserver_restart(at(100), 0, SimDuration::from_secs(5));
    run_until(&mut cluster, at(140));
    let served = stats(&cluster, 0);
    // Every informer lists again after the restart: its resourceVersion is older than
    // what the restarted cache can replay (410), or its stream was reset.
    let lists_after = served.between(verb("list"), at(105), at(140)).count;
    let lists_before = served.between(verb("list"), at(30), at(100)).count;
    assert!(
        lists_after >= 8,
        "{lists_after} lists after the restart ({lists_before} before)"
    );
    let steps: Vec<&str> = cluster.steps().map(|r| r.detail.as_str()).collect();
    assert!(
        steps
            .iter()
            .any(|s| s.contains("kube-apiserver serves again:")),
        "{steps:#?}"
    );
    assert_eq!(running_web_pods(&cluster), 3);
}

#[test]
fn a_write_etcd_never_answers_gets_504_after_the_request_timeout() {
    let mut config = ClusterConfig::default();
    config
        .node_pools
        .push(fixtures::node_pool("node", 2, Some("zone-a")));
    let mut cluster = Cluster::build(&config, 4, true);
    // etcd's process dies: nothing it was sent is ever answered.
    cluster.schedule_fault(at(30), sim_core::Fault::CrashActor(cluster.etcd));
    let deployment = fixtures::deployment("default", "web", 2, "nginx:1.14.2", small_requests());
    cluster.schedule_action(at(31), Action::Apply(vec![deployment.into()]));
    run_until(&mut cluster, at(110));
    let timeouts: Vec<&str> = cluster
        .sim
        .records()
        .iter()
        .map(|r| r.detail.as_str())
        .filter(|d| {
            d.ends_with("failed: 504 Timeout: request did not complete within requested timeout - context deadline exceeded")
        })
        .collect();
    assert!(!timeouts.is_empty(), "no request timed out");
    let created = stats(&cluster, 0).between(verb("create"), at(31), at(110));
    assert!(created.errors >= 1, "{created:?}");
    // Answered once --request-timeout (60 s) had passed, and not much later: a busy
    // replica hears from a kubelet every few seconds.
    assert!(
        created.latency_max >= SimDuration::from_secs(60),
        "{created:?}"
    );
    assert!(
        created.latency_max <= SimDuration::from_secs(71),
        "{created:?}"
    );
    // The kubelets' watches stayed open, silent: the replica still holds them.
    assert!(replica(&cluster, 0).watcher_count() >= 2);
}

#[test]
fn the_api_server_moves_to_another_etcd_member_when_its_own_dies() {
    let mut config = ClusterConfig::default();
    config.etcd.members = 3;
    config
        .node_pools
        .push(fixtures::node_pool("node", 2, Some("zone-a")));
    let mut cluster = Cluster::build(&config, 6, true);
    let first = cluster.etcd_members[0];
    assert_eq!(replica(&cluster, 0).etcd_endpoint(), first);
    // The member the API server talks to is killed: its connections are reset first.
    cluster.sim.schedule_timer(
        at(30),
        first,
        components::msg::Msg::Etcd(Box::new(components::etcd::EtcdRequest::Maintenance(
            components::etcd::Maintenance::ProcessExit,
        ))),
    );
    cluster.schedule_fault(at(30), sim_core::Fault::CrashActor(first));
    let deployment = fixtures::deployment("default", "web", 2, "nginx:1.14.2", small_requests());
    cluster.schedule_action(at(40), Action::Apply(vec![deployment.into()]));
    run_until(&mut cluster, at(90));
    assert_eq!(
        replica(&cluster, 0).etcd_endpoint(),
        cluster.etcd_members[1]
    );
    assert!(replica(&cluster, 0).is_serving());
    // The write after the switch went through the surviving members.
    assert_eq!(running_web_pods(&cluster), 2);
}
