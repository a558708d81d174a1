//! Node-death eviction, timed to the second of simulated time (issue 5): a node is
//! killed; the node lifecycle controller marks it Ready=Unknown at its first monitor pass
//! (every 5 s from its start) more than node-monitor-grace-period (50 s) after the last
//! Lease renewal it saw; the next pass observes Unknown and queues the node, and the
//! tainter (every 100 ms) adds `node.kubernetes.io/unreachable:NoExecute`; each pod,
//! tolerating that for the admission default of 300 s, is deleted 300 s after the
//! taint-eviction controller saw the taint; the ReplicaSet replaces it elsewhere.

use components::api::{ConditionStatus, Pod, PodPhase};
use components::controllers::node_lifecycle::tainter_run_at;
use sim_core::{Fault, SimDuration, SimTime};

const MONITOR_PERIOD: SimDuration = SimDuration::from_secs(5);
const GRACE: SimDuration = SimDuration::from_secs(50);
const TOLERATION: SimDuration = SimDuration::from_secs(300);
const SECOND: SimDuration = SimDuration::from_secs(1);

mod common;

use common::{
    deletion_asked_at, lease_renewed, live_pods_off, node, pods_on, run_until, small_requests,
    three_nodes_with_web, unreachable_no_execute,
};

/// The first monitor pass strictly after `after`: passes run every period from the
/// instant the controller manager started leading (its controllers start then).
fn first_pass_after(after: SimTime, leading_since: SimTime) -> SimTime {
    let period = MONITOR_PERIOD.as_nanos();
    let since = after.saturating_since(leading_since).as_nanos();
    leading_since + SimDuration::from_nanos((since / period + 1) * period)
}

fn node_death(seed: u64, kill_at: SimTime) {
    let (mut cluster, _) = three_nodes_with_web(seed, 6, small_requests());
    let host = cluster.node("node-1").expect("node-1").host;
    cluster.schedule_fault(kill_at, Fault::CrashHost(host));

    // The last renewal is at most one renew interval (10 s) before the kill.
    run_until(&mut cluster, kill_at + SimDuration::from_secs(20));
    let doomed = pods_on(&cluster, "node-1");
    assert!(!doomed.is_empty(), "seed {seed}: node-1 runs pods");
    let renewed = lease_renewed(&cluster, "node-1");
    assert!(
        renewed <= kill_at && renewed + SimDuration::from_secs(10) >= kill_at,
        "seed {seed}: renewed at {renewed}, killed at {kill_at}"
    );

    // Ready=Unknown exactly at the first monitor pass past the grace period.
    let leading_since = cluster
        .controller_manager()
        .election()
        .and_then(|election| election.leading_since())
        .expect("the controller manager leads");
    let unknown_at = first_pass_after(renewed + GRACE, leading_since);
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

    // The next pass observes Unknown; the tainter's next tick on its 100 ms grid adds
    // the taint.
    let tainted_at = tainter_run_at(unknown_at + MONITOR_PERIOD + SimDuration::from_nanos(1));
    run_until(&mut cluster, tainted_at + SECOND);
    let dead = node(&cluster, "node-1");
    let taint = unreachable_no_execute(&dead)
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
        let deleted_at = deletion_asked_at(evicted)
            .unwrap_or_else(|| panic!("seed {seed}: pod {} evicted", pod.metadata.name));
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
    let replacements = live_pods_off(&cluster, "node-1", |pod| {
        pod.status.phase == PodPhase::Running
    });
    assert_eq!(replacements, 6, "seed {seed}");
}

#[test]
fn node_death_evicts_at_grace_plus_monitor_pass_plus_toleration_to_the_second() {
    let kill_times_ms = [120_000, 125_300, 131_770, 140_050, 157_999];
    for (seed, kill_ms) in (1..).zip(kill_times_ms) {
        node_death(seed, SimTime::ZERO + SimDuration::from_millis(kill_ms));
    }
}
