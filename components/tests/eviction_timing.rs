//! Node-death eviction, timed to the second of simulated time (issue 5): a node is
//! killed; the node lifecycle controller marks it Ready=Unknown at its first monitor pass
//! (every 5 s from its start) more than node-monitor-grace-period (50 s) after the last
//! Lease renewal it saw; the next pass observes Unknown and queues the node, and the
//! tainter (every 100 ms) adds `node.kubernetes.io/unreachable:NoExecute`; each pod,
//! tolerating that for the admission default of 300 s, is deleted 300 s after the
//! taint-eviction controller saw the taint; the ReplicaSet replaces it elsewhere.

use std::rc::Rc;

use components::api::{
    ConditionStatus, Lease, Node, Pod, PodPhase, ResourceList, TAINT_UNREACHABLE, TaintEffect,
};
use components::cluster::{Cluster, ClusterConfig};
use components::fixtures;
use components::kubectl::Action;
use sim_core::{Fault, RunLimits, RunOutcome, SimDuration, SimTime};

const MONITOR_PERIOD: SimDuration = SimDuration::from_secs(5);
const GRACE: SimDuration = SimDuration::from_secs(50);
const TOLERATION: SimDuration = SimDuration::from_secs(300);
const SECOND: SimDuration = SimDuration::from_secs(1);

fn run_until(cluster: &mut Cluster, until: SimTime) {
    let outcome = cluster.run(RunLimits {
        until,
        events_max: 50_000_000,
    });
    assert!(
        matches!(outcome, RunOutcome::TimeReached | RunOutcome::QueueEmpty),
        "run stopped early: {outcome:?}"
    );
}

fn node(cluster: &Cluster, name: &str) -> Rc<Node> {
    cluster
        .objects::<Node>()
        .find(|node| &*node.metadata.name == name)
        .cloned()
        .unwrap_or_else(|| panic!("node {name}"))
}

fn pods_on(cluster: &Cluster, name: &str) -> Vec<Rc<Pod>> {
    cluster
        .objects::<Pod>()
        .filter(|pod| pod.spec.node_name.as_deref() == Some(name))
        .cloned()
        .collect()
}

/// The first monitor pass strictly after `after` (passes run at multiples of the
/// period: the controller manager starts at time zero).
fn first_pass_after(after: SimTime) -> SimTime {
    let period = MONITOR_PERIOD.as_nanos();
    SimTime::from_nanos((after.as_nanos() / period + 1) * period)
}

fn node_death(seed: u64, kill_at: SimTime) {
    let mut config = ClusterConfig::default();
    config
        .node_pools
        .push(fixtures::node_pool("node", 3, Some("zone-a")));
    let requests = ResourceList {
        cpu_millicores: Some(100),
        memory_bytes: Some(128 << 20),
        ..ResourceList::default()
    };
    let deployment = fixtures::deployment("default", "web", 6, "nginx:1.14.2", requests);
    let mut cluster = Cluster::build(&config, seed, true);
    cluster.schedule_action(
        SimTime::ZERO + SECOND,
        Action::Apply(vec![deployment.into()]),
    );
    let host = cluster.node("node-1").expect("node-1").host;
    cluster.schedule_fault(kill_at, Fault::CrashHost(host));

    // The last renewal is at most one renew interval (10 s) before the kill.
    run_until(&mut cluster, kill_at + SimDuration::from_secs(20));
    let doomed = pods_on(&cluster, "node-1");
    assert!(!doomed.is_empty(), "seed {seed}: node-1 runs pods");
    let renewed = cluster
        .objects::<Lease>()
        .find(|lease| &*lease.metadata.name == "node-1")
        .and_then(|lease| lease.spec.renew_time)
        .expect("node-1's lease was renewed");
    assert!(
        renewed <= kill_at && renewed + SimDuration::from_secs(10) >= kill_at,
        "seed {seed}: renewed at {renewed}, killed at {kill_at}"
    );

    // Ready=Unknown exactly at the first monitor pass past the grace period.
    let unknown_at = first_pass_after(renewed + GRACE);
    run_until(&mut cluster, SimTime::from_nanos(unknown_at.as_nanos() - 1));
    assert_eq!(
        node(&cluster, "node-1").status.ready.status,
        ConditionStatus::True,
        "seed {seed}: still Ready just before {unknown_at}"
    );
    run_until(&mut cluster, unknown_at + SECOND);
    let dead = node(&cluster, "node-1");
    assert_eq!(dead.status.ready.status, ConditionStatus::Unknown);
    assert_eq!(
        dead.status.ready.last_transition_time, unknown_at,
        "seed {seed}: Ready=Unknown at the first pass after {renewed} + 50 s"
    );

    // The next pass observes Unknown; the tainter's next 100 ms tick adds the taint.
    let tainted_at = unknown_at + MONITOR_PERIOD + SimDuration::from_millis(100);
    run_until(&mut cluster, tainted_at + SECOND);
    let dead = node(&cluster, "node-1");
    let taint = dead
        .spec
        .taints
        .iter()
        .find(|t| &*t.key == TAINT_UNREACHABLE && t.effect == TaintEffect::NoExecute)
        .unwrap_or_else(|| panic!("seed {seed}: unreachable:NoExecute by {tainted_at}"));
    assert_eq!(taint.time_added, Some(tainted_at), "seed {seed}");

    // No pod goes before its 300 s; all go within the second after.
    let before_toleration = tainted_at + TOLERATION;
    run_until(
        &mut cluster,
        SimTime::from_nanos(before_toleration.as_nanos() - 1),
    );
    assert!(
        pods_on(&cluster, "node-1")
            .iter()
            .all(|pod| !pod.metadata.is_terminating()),
        "seed {seed}: a pod left node-1 before {tainted_at} + 300 s"
    );
    run_until(&mut cluster, tainted_at + TOLERATION + SECOND);
    for pod in &doomed {
        let evicted = cluster
            .objects::<Pod>()
            .find(|p| p.metadata.uid == pod.metadata.uid)
            .unwrap_or_else(|| panic!("pod {} still stored", pod.metadata.name));
        let deadline = evicted
            .metadata
            .deletion_timestamp
            .unwrap_or_else(|| panic!("seed {seed}: pod {} evicted", pod.metadata.name));
        let grace = evicted
            .metadata
            .deletion_grace_period_seconds
            .expect("a graceful deletion");
        let deleted_at = SimTime::from_nanos(deadline.as_nanos() - grace * 1_000_000_000);
        assert!(
            deleted_at >= tainted_at + TOLERATION && deleted_at < tainted_at + TOLERATION + SECOND,
            "seed {seed}: pod {} deleted at {deleted_at}, taint added at {tainted_at}",
            pod.metadata.name
        );
    }
    let evictions: Vec<String> = cluster
        .steps()
        .filter(|r| r.detail.contains("evicted from node-1"))
        .map(|r| r.detail.clone())
        .collect();
    assert_eq!(evictions.len(), doomed.len(), "{evictions:#?}");
    assert!(
        evictions
            .iter()
            .all(|text| text
                .contains("(tolerated node.kubernetes.io/unreachable:NoExecute for 300s)")),
        "{evictions:#?}"
    );

    // The replacements are scheduled elsewhere and run.
    run_until(
        &mut cluster,
        tainted_at + TOLERATION + SimDuration::from_secs(60),
    );
    let replacements = cluster
        .objects::<Pod>()
        .filter(|pod| !pod.metadata.is_terminating())
        .filter(|pod| pod.status.phase == PodPhase::Running)
        .filter(|pod| {
            pod.spec
                .node_name
                .as_deref()
                .is_some_and(|node| node != "node-1")
        })
        .count();
    assert_eq!(replacements, 6, "seed {seed}");
}

#[test]
fn node_death_evicts_at_grace_plus_monitor_pass_plus_toleration_to_the_second() {
    let kill_times_ms = [120_000, 125_300, 131_770, 140_050, 157_999];
    for (seed, kill_ms) in (1..).zip(kill_times_ms) {
        node_death(seed, SimTime::ZERO + SimDuration::from_millis(kill_ms));
    }
}
