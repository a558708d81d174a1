//! The kubelet restarting alone (its node and runtime keep running), its API request
//! rate limit, and a crash of the container runtime's daemon.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use components::api::{
    ConditionStatus, Container, ImagePullPolicy, Node, ObjectMeta, Pod, PodPhase, PodSpec,
    ResourceList, s,
};
use components::cluster::{Cluster, ClusterConfig};
use components::fixtures;
use components::kubectl::Action;
use components::msg::{Msg, Tick};
use components::runtime::{self, ContainerRuntime};
use sim_core::{EventKind, Fault, SimDuration, SimTime};

use common::{at, node, run_until, three_nodes_with_web};

fn web_pods(cluster: &Cluster) -> Vec<Rc<Pod>> {
    let mut pods: Vec<_> = cluster
        .objects::<Pod>()
        .filter(|p| p.metadata.name.starts_with("web-"))
        .cloned()
        .collect();
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    pods
}

fn on_node_1(cluster: &Cluster) -> Vec<Rc<Pod>> {
    web_pods(cluster)
        .into_iter()
        .filter(|p| p.spec.node_name.as_deref() == Some("node-1"))
        .collect()
}

fn ready(node: &Node) -> (ConditionStatus, String) {
    (
        node.status.ready.status,
        node.status.ready.message.to_string(),
    )
}

/// Samples node-1's Ready condition every second from `from` to `to`.
fn ready_timeline(cluster: &mut Cluster, from: u64, to: u64) -> Vec<(u64, ConditionStatus)> {
    let mut seen = Vec::new();
    for second in from..=to {
        run_until(cluster, at(second));
        seen.push((second, node(cluster, "node-1").status.ready.status));
    }
    seen
}

/// The seconds at which node-1's Ready status changed, with the new status.
fn transitions(samples: &[(u64, ConditionStatus)]) -> Vec<(u64, ConditionStatus)> {
    samples
        .windows(2)
        .filter(|w| w[0].1 != w[1].1)
        .map(|w| w[1])
        .collect()
}

#[test]
fn a_kubelet_restart_adopts_running_containers_without_restarting_them() {
    let (mut cluster, _) = three_nodes_with_web(3, 6, ResourceList::default());
    run_until(&mut cluster, at(60));
    let before = on_node_1(&cluster);
    assert!(!before.is_empty());
    assert!(before.iter().all(|p| p.status.phase == PodPhase::Running));
    let kubelet = cluster.nodes[0].kubelet;
    let runtime_id = cluster.nodes[0].runtime;
    let running = |cluster: &Cluster| {
        cluster
            .sim
            .actor::<ContainerRuntime>(runtime_id)
            .unwrap()
            .running_container_count()
    };
    let running_before = running(&cluster);
    // Down for 5 s: well within the node monitor's grace period.
    cluster.schedule_fault(at(70), Fault::CrashActor(kubelet));
    cluster.schedule_fault(at(75), Fault::RestartActor(kubelet));
    let samples = ready_timeline(&mut cluster, 60, 120);
    assert!(transitions(&samples).is_empty(), "{samples:?}");
    assert_eq!(
        running(&cluster),
        running_before,
        "no container was touched"
    );
    let after = on_node_1(&cluster);
    assert_eq!(before.len(), after.len());
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b.metadata.uid, a.metadata.uid);
        assert_eq!(a.status.phase, PodPhase::Running);
        assert_eq!(a.status.ready, ConditionStatus::True);
        assert_eq!(a.status.container_statuses[0].restart_count, 0);
        assert_eq!(
            a.status.container_statuses[0].state, b.status.container_statuses[0].state,
            "the same container, started at the same time"
        );
    }
    let adopted = cluster.steps().any(|r| {
        r.time == at(75) + SimDuration::from_millis(1)
            && r.detail.contains("running containers adopted: 2")
    });
    assert!(
        adopted
            || cluster
                .steps()
                .any(|r| r.detail.contains("running containers adopted"))
    );
}

#[test]
fn a_kubelet_down_longer_than_the_grace_period_leaves_its_node_unknown_until_it_returns() {
    let (mut cluster, _) = three_nodes_with_web(4, 6, ResourceList::default());
    run_until(&mut cluster, at(60));
    let before = on_node_1(&cluster);
    let kubelet = cluster.nodes[0].kubelet;
    cluster.schedule_fault(at(70), Fault::CrashActor(kubelet));
    cluster.schedule_fault(at(170), Fault::RestartActor(kubelet));
    let samples = ready_timeline(&mut cluster, 60, 200);
    let changes = transitions(&samples);
    assert_eq!(changes.len(), 2, "{changes:?}");
    let (lost_at, status) = changes[0];
    assert_eq!(status, ConditionStatus::Unknown);
    // The last renewal was at most 10 s before the crash; the node lifecycle controller
    // notices within its 5 s period once the 50 s grace period has passed.
    assert!((110..=126).contains(&lost_at), "Unknown at {lost_at} s");
    let (back_at, status) = changes[1];
    assert_eq!(status, ConditionStatus::True);
    assert!((170..=172).contains(&back_at), "Ready again at {back_at} s");
    let after = on_node_1(&cluster);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b.metadata.uid, a.metadata.uid, "no pod was evicted");
        assert_eq!(a.status.container_statuses[0].restart_count, 0);
        assert_eq!(a.status.ready, ConditionStatus::True);
    }
}

fn crash_runtime(cluster: &mut Cluster, from: SimTime, to: SimTime) {
    let runtime = cluster.nodes[0].runtime;
    let tick = |t| Msg::Tick(Tick::Runtime(t));
    cluster
        .sim
        .schedule_timer(from, runtime, tick(runtime::Tick::CrashDaemon));
    cluster
        .sim
        .schedule_timer(to, runtime, tick(runtime::Tick::RecoverDaemon));
}

#[test]
fn a_runtime_crash_makes_the_node_not_ready_after_30s_while_containers_run_on() {
    let (mut cluster, _) = three_nodes_with_web(5, 6, ResourceList::default());
    run_until(&mut cluster, at(60));
    let before = on_node_1(&cluster);
    crash_runtime(&mut cluster, at(62), at(122));
    run_until(&mut cluster, at(88));
    assert_eq!(ready(&node(&cluster, "node-1")).0, ConditionStatus::True);
    let samples = ready_timeline(&mut cluster, 88, 160);
    let changes = transitions(&samples);
    assert_eq!(changes.len(), 2, "{changes:?}");
    // The last good status check was at most 5 s before the crash; Ready turns False
    // at the first status update 30 s after it (every 10 s).
    let (down_at, status) = changes[0];
    assert_eq!(status, ConditionStatus::False);
    assert!((88..=103).contains(&down_at), "NotReady at {down_at} s");
    // Back at the first status check after the recovery (5 s grid), reported at the
    // next status update.
    let (up_at, status) = changes[1];
    assert_eq!(status, ConditionStatus::True);
    assert!((123..=138).contains(&up_at), "Ready again at {up_at} s");
    let after = on_node_1(&cluster);
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b.metadata.uid, a.metadata.uid);
        assert_eq!(a.status.phase, PodPhase::Running);
        assert_eq!(a.status.container_statuses[0].restart_count, 0);
    }
    let messages: Vec<String> = cluster
        .steps()
        .filter(|r| r.detail.contains("container runtime"))
        .map(|r| format!("{} {}", r.time, r.detail))
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("container runtime unreachable")),
        "{messages:#?}"
    );
}

#[test]
fn a_runtime_down_over_3m_adds_the_pleg_message() {
    let (mut cluster, _) = three_nodes_with_web(6, 3, ResourceList::default());
    run_until(&mut cluster, at(60));
    crash_runtime(&mut cluster, at(60), at(300));
    run_until(&mut cluster, at(100));
    let (status, message) = ready(&node(&cluster, "node-1"));
    assert_eq!(status, ConditionStatus::False);
    assert_eq!(message, "container runtime is down");
    assert_eq!(
        &*node(&cluster, "node-1").status.ready.reason,
        "KubeletNotReady"
    );
    run_until(&mut cluster, at(260));
    let (_, message) = ready(&node(&cluster, "node-1"));
    assert!(
        message.starts_with(
            "[container runtime is down, PLEG is not healthy: pleg was last seen active 3m"
        ) && message.ends_with("s ago; threshold is 3m0s]"),
        "{message}"
    );
    run_until(&mut cluster, at(330));
    assert_eq!(ready(&node(&cluster, "node-1")).0, ConditionStatus::True);
}

/// `count` pods bound to node-1 (nodeName set: no scheduling), applied at 1 s.
fn bound_pods(count: u32) -> Vec<components::api::Object> {
    (0..count)
        .map(|i| {
            Pod {
                metadata: ObjectMeta::named("default", &format!("p-{i:03}")),
                spec: PodSpec {
                    node_name: Some(s("node-1")),
                    containers: Rc::from(vec![Container {
                        name: s("app"),
                        image: s("nginx:1.14.2"),
                        image_pull_policy: ImagePullPolicy::IfNotPresent,
                        ..Container::default()
                    }]),
                    ..PodSpec::default()
                },
                status: Default::default(),
            }
            .into()
        })
        .collect()
}

/// The kubelet's API requests, by the instant they reached the API server, in a run
/// where 250 pods land on its node at once.
fn kubelet_requests(qps: u32, burst: u32) -> Vec<SimTime> {
    kubelet_requests_with(qps, burst, None)
}

/// The same, with the kubelet down over `outage` (seconds).
fn kubelet_requests_with(qps: u32, burst: u32, outage: Option<(u64, u64)>) -> Vec<SimTime> {
    let mut config = ClusterConfig::default();
    let mut pool = fixtures::node_pool("node", 1, None);
    pool.capacity.pods = Some(300);
    config.node_pools.push(pool);
    config.kubelet.kube_api_qps = qps;
    config.kubelet.kube_api_burst = burst;
    let mut cluster = Cluster::build(&config, 9, false);
    let kubelet = cluster.nodes[0].kubelet;
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = seen.clone();
    cluster.sim.set_event_sink(Box::new(move |event| {
        if event.kind == EventKind::Message
            && event.label == "ApiRequest"
            && event.from == Some(kubelet)
        {
            sink.borrow_mut().push(event.time);
        }
    }));
    cluster.schedule_action(at(30), Action::Apply(bound_pods(250)));
    let end = match outage {
        Some((down, up)) => {
            cluster.schedule_fault(at(down), Fault::CrashActor(kubelet));
            cluster.schedule_fault(at(up), Fault::RestartActor(kubelet));
            up + 30
        }
        None => 90,
    };
    run_until(&mut cluster, at(end));
    let running = cluster
        .objects::<Pod>()
        .filter(|p| p.status.phase == PodPhase::Running)
        .count();
    assert_eq!(running, 250);
    seen.take()
}

/// The most requests that arrived within any one second.
fn most_in_a_second(times: &[SimTime]) -> usize {
    let mut most = 0;
    let mut first = 0;
    for (last, &t) in times.iter().enumerate() {
        while t.saturating_since(times[first]) >= SimDuration::from_secs(1) {
            first += 1;
        }
        most = most.max(last + 1 - first);
    }
    most
}

#[test]
fn the_kubelet_paces_its_requests_at_kube_api_qps_after_its_burst() {
    // kubeAPIQPS 50, kubeAPIBurst 100: at most 100 + 50 in any second (plus the
    // heartbeat client's lease and node status, which are not limited).
    let limited = kubelet_requests(50, 100);
    let most = most_in_a_second(&limited);
    assert!((100..=153).contains(&most), "{most} requests in one second");
    // Without the limit the same work sends far more at once: the test can fail.
    let unlimited = kubelet_requests(1_000_000, 1_000_000);
    assert!(most_in_a_second(&unlimited) > 200);
    // Paced, not dropped: the pods all run either way (checked in `kubelet_requests`).
    // With the limit, the second the pods arrive carries the burst and 50 more, and each
    // following second 50, until the backlog is gone; without it, everything at once.
    let per_second = |times: &[SimTime]| {
        (30..40)
            .map(|s| {
                times
                    .iter()
                    .filter(|t| t.as_nanos() / 1_000_000_000 == s)
                    .count()
            })
            .collect::<Vec<_>>()
    };
    let paced = per_second(&limited);
    assert!((148..=152).contains(&paced[0]), "{paced:?}");
    assert!(
        paced[1..8].iter().all(|&n| (50..=52).contains(&n)),
        "{paced:?}"
    );
    let unpaced = per_second(&unlimited);
    assert!(
        unpaced[0] + unpaced[1] > 400 && unpaced[3..].iter().all(|&n| n < 5),
        "{unpaced:?}"
    );
}

#[test]
fn a_kubelet_restart_keeps_restart_counts_from_the_runtime() {
    use components::kernel::{ProcessBehaviour, ProcessExit};
    use components::registry::ImageProfile;
    // A container that fails 5 s after each start: CrashLoopBackOff, restart count
    // growing. The kubelet restarts while it is in back-off.
    let mut config = ClusterConfig::default();
    config.node_pools.push(fixtures::node_pool("node", 1, None));
    config.registry.images.push(ImageProfile {
        name: "crasher:1".to_string(),
        size_bytes: 10 << 20,
        behaviour: ProcessBehaviour {
            exit: Some(ProcessExit {
                after: SimDuration::from_secs(5),
                exit_code: 1,
            }),
            ..ProcessBehaviour::default()
        },
    });
    let mut cluster = Cluster::build(&config, 11, true);
    let pod = Pod {
        metadata: ObjectMeta::named("default", "crasher"),
        spec: PodSpec {
            node_name: Some(s("node-1")),
            containers: Rc::from(vec![Container {
                name: s("app"),
                image: s("crasher:1"),
                image_pull_policy: ImagePullPolicy::IfNotPresent,
                ..Container::default()
            }]),
            ..PodSpec::default()
        },
        status: Default::default(),
    };
    cluster.schedule_action(at(1), Action::Apply(vec![pod.into()]));
    let restarts = |cluster: &Cluster| {
        cluster
            .objects::<Pod>()
            .find(|p| &*p.metadata.name == "crasher")
            .map(|p| p.status.container_statuses[0].restart_count)
            .expect("the pod")
    };
    run_until(&mut cluster, at(100));
    let before = restarts(&cluster);
    assert!(before >= 3, "{before} restarts in 100 s");
    let kubelet = cluster.nodes[0].kubelet;
    cluster.schedule_fault(at(101), Fault::CrashActor(kubelet));
    cluster.schedule_fault(at(102), Fault::RestartActor(kubelet));
    run_until(&mut cluster, at(104));
    // The count comes from the runtime's record of the last attempt, not from 0. The
    // container was in back-off, and the back-off lived in the old process's memory: the
    // new kubelet restarts it at once, as upstream's does.
    assert_eq!(restarts(&cluster), before + 1);
    let restarted_at_once = cluster.steps().any(|r| {
        r.time >= at(102)
            && r.time < at(104)
            && r.detail
                .contains(&format!("restarted container app (restart {})", before + 1))
    });
    assert!(restarted_at_once);
}

#[test]
fn a_container_that_exits_while_the_runtime_is_down_is_restarted_after_the_relist() {
    use components::kernel::{ProcessBehaviour, ProcessExit};
    use components::registry::ImageProfile;
    // Exits 60 s after its start, with code 2; the runtime is down from 40 s to 100 s.
    let mut config = ClusterConfig::default();
    config.node_pools.push(fixtures::node_pool("node", 1, None));
    config.registry.images.push(ImageProfile {
        name: "job:1".to_string(),
        size_bytes: 10 << 20,
        behaviour: ProcessBehaviour {
            exit: Some(ProcessExit {
                after: SimDuration::from_secs(60),
                exit_code: 2,
            }),
            ..ProcessBehaviour::default()
        },
    });
    let mut cluster = Cluster::build(&config, 12, true);
    let pod = Pod {
        metadata: ObjectMeta::named("default", "worker"),
        spec: PodSpec {
            node_name: Some(s("node-1")),
            containers: Rc::from(vec![Container {
                name: s("app"),
                image: s("job:1"),
                image_pull_policy: ImagePullPolicy::IfNotPresent,
                ..Container::default()
            }]),
            ..PodSpec::default()
        },
        status: Default::default(),
    };
    cluster.schedule_action(at(1), Action::Apply(vec![pod.into()]));
    crash_runtime(&mut cluster, at(40), at(100));
    let status = |cluster: &Cluster| {
        let pod = cluster
            .objects::<Pod>()
            .find(|p| &*p.metadata.name == "worker")
            .cloned()
            .expect("the pod");
        pod.status.container_statuses[0].clone()
    };
    run_until(&mut cluster, at(95));
    // The exit (at about 62 s) reached nobody: the daemon was down.
    let during = status(&cluster);
    assert_eq!(during.restart_count, 0);
    assert!(
        matches!(
            during.state,
            components::api::ContainerState::Running { .. }
        ),
        "{during:?}"
    );
    run_until(&mut cluster, at(120));
    // Found by the relist after the recovery, and restarted (restart policy Always).
    let after = status(&cluster);
    assert_eq!(after.restart_count, 1, "{after:?}");
    let exit_seen = cluster
        .steps()
        .find(|r| r.detail.contains("container app exited with code 2"))
        .map(|r| r.time)
        .expect("the exit was seen");
    assert!(exit_seen >= at(100) && exit_seen < at(107), "{exit_seen}");
}

#[test]
fn after_a_long_outage_the_restarted_kubelet_paces_its_status_writes() {
    // Down from 100 s to 200 s: the node went Unknown and the node lifecycle controller
    // marked its 250 pods not Ready. The new kubelet adopts them and writes each status
    // back (Ready again): 100 at once, then 50 a second.
    let times = kubelet_requests_with(50, 100, Some((100, 200)));
    let per_second: Vec<usize> = (199..208)
        .map(|s| {
            times
                .iter()
                .filter(|t| t.as_nanos() / 1_000_000_000 == s)
                .count()
        })
        .collect();
    assert_eq!(per_second[0], 0, "{per_second:?}");
    // 100 + 50 paced, and the new process's heartbeat client (register, get the node,
    // post its status, get and renew the lease), which is not limited and does not queue
    // behind the paced requests.
    assert!((100..=158).contains(&per_second[1]), "{per_second:?}");
    assert!((50..=53).contains(&per_second[2]), "{per_second:?}");
    assert!((50..=53).contains(&per_second[3]), "{per_second:?}");
    // Unlimited, the same writes all go in the first second.
    let unlimited = kubelet_requests_with(1_000_000, 1_000_000, Some((100, 200)));
    let first = unlimited
        .iter()
        .filter(|t| t.as_nanos() / 1_000_000_000 == 200)
        .count();
    assert!(first > 240, "{first}");
}

/// Regression (issue 6): requests queued behind the rate limiter were still sent after
/// the kubelet crashed, as the engine carried them off at their departure instant.
#[test]
fn a_crashed_kubelet_sends_nothing_it_had_queued_behind_its_rate_limit() {
    // 250 pods at 30s: at 50 QPS the backlog lasts until about 33s. The kubelet crashes
    // at 31s with more than a hundred requests still waiting for their token.
    let times = kubelet_requests_with(50, 100, Some((31, 60)));
    let after_crash = times
        .iter()
        .filter(|t| **t > at(31) + SimDuration::from_millis(50) && **t < at(60))
        .count();
    assert_eq!(after_crash, 0, "requests sent by a dead kubelet");
    // The backlog was there: before the crash it was being paced out.
    let paced = times
        .iter()
        .filter(|t| **t >= at(30) && **t <= at(31))
        .count();
    assert!((100..=153).contains(&paced), "{paced}");
}
