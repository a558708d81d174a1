//! The kernel's process behaviours end to end on one node: a crash drawn from the kernel's
//! seeded stream, and a CPU limit's CFS quota stretching a startup and counting throttled
//! periods in the cgroup stats.

use std::rc::Rc;

use components::api::{
    Container, ContainerState, Pod, PodPhase, ResourceList, ResourceRequirements, RestartPolicy,
};
use components::cluster::{Cluster, ClusterConfig};
use components::kernel::{CrashChance, Kernel, ProcessBehaviour};
use components::kubectl::Action;
use components::registry::ImageProfile;
use sim_core::SimDuration;

mod common;

use common::{app_container, at, one_node_config};

const NODE: &str = "pool-1";

fn config(images: Vec<(&str, ProcessBehaviour)>) -> ClusterConfig {
    one_node_config(
        images
            .into_iter()
            .map(|(name, behaviour)| ImageProfile {
                name: name.to_string(),
                size_bytes: 1 << 20,
                behaviour,
            })
            .collect(),
    )
}

fn bound_pod(name: &str, image: &str, limits: ResourceList) -> Pod {
    let container = Container {
        resources: ResourceRequirements {
            requests: limits,
            limits,
        },
        ..app_container(image)
    };
    common::bound_pod(name, NODE, container, RestartPolicy::Never)
}

fn stored_pod(cluster: &Cluster, name: &str) -> Rc<Pod> {
    cluster
        .objects::<Pod>()
        .find(|p| p.metadata.name.as_ref() == name)
        .cloned()
        .expect("the pod exists")
}

fn crashing(parts_per_million: u64) -> ProcessBehaviour {
    ProcessBehaviour {
        crash: Some(CrashChance {
            parts_per_million,
            after: SimDuration::from_secs(30),
            exit_code: 3,
        }),
        ..ProcessBehaviour::default()
    }
}

#[test]
fn a_certain_crash_ends_the_process_at_its_instant_and_an_impossible_one_never() {
    let mut cluster = Cluster::build(
        &config(vec![
            ("crasher:1", crashing(1_000_000)),
            ("solid:1", crashing(0)),
        ]),
        3,
        false,
    );
    cluster.schedule_action(
        at(2),
        Action::Apply(vec![
            bound_pod("crasher", "crasher:1", ResourceList::default()).into(),
            bound_pod("solid", "solid:1", ResourceList::default()).into(),
        ]),
    );
    cluster.sim.run_for(SimDuration::from_secs(60));

    let crasher = stored_pod(&cluster, "crasher");
    assert_eq!(crasher.status.phase, PodPhase::Failed);
    let ContainerState::Terminated {
        exit_code,
        reason,
        finished_at,
    } = &crasher.status.container_statuses[0].state
    else {
        panic!("crasher: {:?}", crasher.status.container_statuses);
    };
    assert_eq!(*exit_code, 3);
    assert_eq!(reason.as_ref(), "Error");
    // Applied at 2 s, running a few hundred milliseconds later, crashed 30 s after that.
    let finished = finished_at.since_start().as_secs();
    assert_eq!(finished, 32, "finished at {finished_at}");

    let solid = stored_pod(&cluster, "solid");
    assert_eq!(solid.status.phase, PodPhase::Running);
    assert!(matches!(
        solid.status.container_statuses[0].state,
        ContainerState::Running { .. }
    ));
}

#[test]
fn a_cpu_limit_below_the_demand_stretches_the_startup_and_counts_throttled_periods() {
    let busy = ProcessBehaviour {
        startup: SimDuration::from_secs(2),
        cpu_millicores: 1000,
        ..ProcessBehaviour::default()
    };
    let quarter = ResourceList {
        cpu_millicores: Some(250),
        memory_bytes: Some(64 << 20),
        ..ResourceList::default()
    };
    let ample = ResourceList {
        cpu_millicores: Some(2000),
        memory_bytes: Some(64 << 20),
        ..ResourceList::default()
    };
    let mut cluster = Cluster::build(&config(vec![("busy:1", busy)]), 5, true);
    cluster.schedule_action(
        at(2),
        Action::Apply(vec![
            bound_pod("throttled", "busy:1", quarter).into(),
            bound_pod("free", "busy:1", ample).into(),
        ]),
    );
    cluster.sim.run_for(SimDuration::from_secs(30));

    // 2 s of work at a quarter of the CPU it wants takes 8 s; with 2 cores it takes 2 s.
    let startups: Vec<&str> = cluster
        .steps()
        .filter_map(|r| r.detail.split_once("serving after ").map(|(_, rest)| rest))
        .collect();
    assert!(
        startups.contains(&"8s (slowed by its CPU limit's CFS quota)"),
        "{startups:?}"
    );
    assert!(startups.contains(&"2s"), "{startups:?}");

    let kernel = cluster
        .sim
        .actor::<Kernel>(cluster.nodes[0].kernel)
        .expect("kernel");
    let throttling = kernel.cgroup_throttling(cluster.sim.now());
    let uid = stored_pod(&cluster, "throttled").metadata.uid;
    assert_eq!(
        throttling.len(),
        1,
        "only the throttled pod: {throttling:?}"
    );
    let (pod_uid, counters) = throttling[0];
    assert_eq!(pod_uid, uid);
    // Throttled in every 100 ms period since its start (about 27 s), waiting 3/4 of each.
    assert!((260..=280).contains(&counters.nr_throttled), "{counters:?}");
    let waited = counters.throttled_nanos;
    let expected = counters.nr_throttled * 75_000_000;
    assert!(waited.abs_diff(expected) < 75_000_000, "{counters:?}");
}
