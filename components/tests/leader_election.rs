//! Leader election between two kube-scheduler replicas, timed by its settings
//! (leaseDuration 15 s, renewDeadline 10 s, retryPeriod 2 s with client-go's 1.2 jitter):
//! a killed leader is replaced once the Lease has expired by the standby's own observation;
//! a partitioned leader stops leading by its renewDeadline, before the standby may take
//! over, so the two never lead at once (the "at most one leader" invariant runs too).

use components::cluster::{Cluster, ClusterConfig};
use components::fixtures;
use sim_core::{Cut, Fault, SimDuration, SimTime};

mod common;

use common::{at, run_until};

const STEP: SimDuration = SimDuration::from_millis(100);

fn two_schedulers(seed: u64) -> Cluster {
    let mut config = ClusterConfig::default();
    config.control_plane.schedulers = 2;
    config
        .node_pools
        .push(fixtures::node_pool("node", 2, Some("zone-a")));
    Cluster::build(&config, seed, false)
}

fn leading(cluster: &Cluster, replica: usize) -> bool {
    let id = cluster.schedulers[replica];
    cluster.sim.actor_up(id) && cluster.scheduler_replica(id).leading()
}

/// Makes replica `first` the leader: the other starts 5 s later.
fn led_by(seed: u64, first: usize) -> Cluster {
    let mut cluster = two_schedulers(seed);
    let other = cluster.schedulers[1 - first];
    cluster.schedule_fault(at(0), Fault::CrashActor(other));
    cluster.schedule_fault(at(5), Fault::RestartActor(other));
    run_until(&mut cluster, at(30));
    assert!(
        leading(&cluster, first),
        "seed {seed}: replica {first} leads"
    );
    assert!(!leading(&cluster, 1 - first), "seed {seed}: one leader");
    cluster
}

/// Steps in 100 ms until `done` holds; the instant it first held.
fn first_instant(
    cluster: &mut Cluster,
    until: SimTime,
    done: impl Fn(&Cluster) -> bool,
) -> Option<SimTime> {
    let mut now = cluster.sim.now();
    while now < until {
        now += STEP;
        run_until(cluster, now);
        if done(cluster) {
            return Some(now);
        }
    }
    None
}

#[test]
fn a_killed_leader_is_replaced_after_lease_duration_from_the_standbys_last_observation() {
    for seed in 1..=8 {
        let mut cluster = led_by(seed, 0);
        let killed = cluster.schedulers[0];
        cluster.schedule_fault(at(60), Fault::CrashActor(killed));
        // The last renewal R is in (58 s, 60 s]; the standby sees it by R + 4.4 s and takes
        // the Lease at its first retry more than 15 s after it first saw it.
        let acquired = first_instant(&mut cluster, at(90), |c| leading(c, 1))
            .unwrap_or_else(|| panic!("seed {seed}: the standby never leads"));
        assert!(
            acquired > at(73) && acquired <= at(84) + STEP,
            "seed {seed}: acquired at {acquired}"
        );
    }
}

#[test]
fn a_partitioned_leader_stops_within_renew_deadline_before_the_standby_takes_over() {
    for seed in 1..=8 {
        // Replica 1 (on control-plane-2) leads; control-plane-1 runs etcd, the API server
        // and the standby.
        let mut cluster = led_by(seed, 1);
        let (plane_1, plane_2) = (cluster.control_planes[0], cluster.control_planes[1]);
        cluster.schedule_fault(at(60), Fault::Partition(Cut::Link(plane_1, plane_2)));
        // Renewal rounds start 2 s after each success; the round after the last success R
        // (in (58 s, 60 s]) gives up renewDeadline later: at R + 12 s.
        let stopped = first_instant(&mut cluster, at(90), |c| !leading(c, 1))
            .unwrap_or_else(|| panic!("seed {seed}: the partitioned leader keeps leading"));
        assert!(
            stopped > at(70) && stopped <= at(72) + STEP,
            "seed {seed}: stopped leading at {stopped}"
        );
        let acquired = first_instant(&mut cluster, at(90), |c| leading(c, 0))
            .unwrap_or_else(|| panic!("seed {seed}: the standby never leads"));
        assert!(
            acquired > at(73) && acquired <= at(84) + STEP,
            "seed {seed}: acquired at {acquired}"
        );
        // Cut off, the old leader restarts as a candidate and cannot win it back.
        run_until(&mut cluster, at(120));
        assert!(leading(&cluster, 0) && !leading(&cluster, 1), "seed {seed}");
    }
}

/// The API server holds requests until its bootstrap writes (kube-system among them) are
/// done, as `/readyz` waits for the post-start hooks: the first Lease create no longer
/// races the namespace's creation (it failed with 404 and the first acquisition came 2 s
/// to 4.4 s late), so the scheduler and the controller manager lead within 100 ms.
#[test]
fn the_first_acquisition_does_not_race_the_bootstrap_namespaces() {
    for seed in 1..=5 {
        let mut config = ClusterConfig::default();
        config
            .node_pools
            .push(fixtures::node_pool("node", 1, Some("zone-a")));
        let mut cluster = Cluster::build(&config, seed, true);
        run_until(&mut cluster, SimTime::ZERO + STEP);
        let scheduler = cluster.schedulers[0];
        assert!(
            cluster.scheduler_replica(scheduler).leading(),
            "seed {seed}: the scheduler leads"
        );
        let manager = cluster.controller_managers[0];
        assert!(
            cluster
                .sim
                .actor::<components::controllers::ControllerManager>(manager)
                .expect("a controller manager")
                .leading(),
            "seed {seed}: the controller manager leads"
        );
        let missing_namespace = cluster
            .sim
            .records()
            .iter()
            .any(|r| r.detail.contains("namespaces \"kube-system\" not found"));
        assert!(
            !missing_namespace,
            "seed {seed}: a request found no kube-system"
        );
    }
}
