//! The kubelet's prober in a whole cluster: a startup probe that never succeeds kills and
//! restarts its container on the probe's grid, and holds the liveness probe off while it
//! has not succeeded.

use std::rc::Rc;

use components::api::{Container, Pod, Probe, ProbeHandler, RestartPolicy, Str};
use components::cluster::{Cluster, ClusterConfig};
use components::kernel::ProcessBehaviour;
use components::kubectl::Action;
use components::registry::ImageProfile;
use sim_core::SimDuration;

mod common;

use common::{app_container, at, bound_pod, one_node_config, run_until};

const NODE: &str = "pool-1";

fn config(startup: SimDuration) -> ClusterConfig {
    one_node_config(vec![ImageProfile {
        name: "slow:1".to_string(),
        size_bytes: 1 << 20,
        behaviour: ProcessBehaviour {
            startup,
            ..ProcessBehaviour::default()
        },
    }])
}

fn exec_probe(period_seconds: u32, failure_threshold: u32) -> Rc<Probe> {
    let mut probe = Probe::new(ProbeHandler::Exec {
        command: vec![Str::from("cat"), Str::from("/tmp/started")],
    });
    probe.period_seconds = period_seconds;
    probe.failure_threshold = failure_threshold;
    Rc::new(probe)
}

fn pod(startup_probe: Rc<Probe>, liveness_probe: Option<Rc<Probe>>) -> Pod {
    let container = Container {
        startup_probe: Some(startup_probe),
        liveness_probe,
        ..app_container("slow:1")
    };
    let mut pod = bound_pod("slow", NODE, container, RestartPolicy::Always);
    pod.spec.termination_grace_period_seconds = 30;
    pod
}

/// (restartCount, ready) of the pod's container.
fn container(cluster: &Cluster) -> (u32, bool) {
    let pod = cluster
        .objects::<Pod>()
        .find(|p| p.metadata.name.as_ref() == "slow")
        .expect("the pod exists");
    let status = &pod.status.container_statuses[0];
    (status.restart_count, status.ready)
}

#[test]
fn a_startup_probe_that_never_succeeds_restarts_the_container_on_its_grid() {
    // The process needs 60 s to answer; the startup probe allows 3 failures 2 s apart.
    // Admitted at A ≈ 5.0 s, the container runs from ≈ A + 0.2 s; the ticks at A + 2, 4
    // and 6 are refused: killed at A + 6 and restarted at once (≈ A + 6.1). The next
    // instance fails at A + 8, 10, 12 and starts again at once (the back-off is judged
    // by the instance before, long over); the third fails at A + 14, 16, 18 and waits out
    // a 10 s back-off from the end of the second (≈ A + 12.1): restarted at ≈ A + 22.1.
    let mut cluster = Cluster::build(&config(SimDuration::from_secs(60)), 3, true);
    cluster.schedule_action(
        at(5),
        Action::Apply(vec![pod(exec_probe(2, 3), None).into()]),
    );
    run_until(&mut cluster, at(10));
    assert_eq!(container(&cluster), (0, false));
    run_until(&mut cluster, at(16));
    assert_eq!(container(&cluster), (1, false));
    run_until(&mut cluster, at(19));
    assert_eq!(container(&cluster), (2, false));
    run_until(&mut cluster, at(26));
    assert_eq!(
        container(&cluster),
        (2, false),
        "in back-off until ≈ 27.1 s"
    );
    run_until(&mut cluster, at(28));
    assert_eq!(container(&cluster), (3, false));
    let failures = cluster
        .steps()
        .filter(|r| {
            r.detail
                .contains("container app startup probe failed 3 times")
        })
        .count();
    assert_eq!(failures, 3);
}

#[test]
fn liveness_waits_for_the_startup_probe() {
    // The process answers after 5 s. A liveness probe that gives up at the first failure
    // would kill it at once, but it does not run before the startup probe (every second,
    // 30 failures allowed) has succeeded; from then on the process answers.
    let mut cluster = Cluster::build(&config(SimDuration::from_secs(5)), 3, true);
    cluster.schedule_action(
        at(5),
        Action::Apply(vec![pod(exec_probe(1, 30), Some(exec_probe(1, 1))).into()]),
    );
    run_until(&mut cluster, at(10));
    assert_eq!(container(&cluster), (0, false), "not started: not ready");
    run_until(&mut cluster, at(30));
    assert_eq!(container(&cluster), (0, true), "started, never restarted");
    assert!(
        cluster.steps().any(|r| r
            .detail
            .contains("container app startup probe succeeded: started")),
        "the startup probe's success is narrated"
    );
}
