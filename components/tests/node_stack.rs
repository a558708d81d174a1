//! The node stack end to end: kubelet, container runtime, kernel, registry and kube-proxy
//! on a real API server, driven by kubectl with pods already bound to a node.

use std::rc::Rc;

use components::api::{
    ConditionStatus, ContainerPort, ContainerState, Deployment, DeploymentSpec, DeploymentStrategy,
    Endpoint, EndpointConditions, EndpointPort, EndpointSlice, ImagePullPolicy, IntOrPercent, Kind,
    LABEL_SERVICE_NAME, LabelSelector, Labels, Lease, Node, ObjectMeta, Pod, PodPhase,
    PodTemplateSpec, Protocol, RestartPolicy, Service, ServicePort, ServiceSpec, ServiceType,
    TargetPort, s,
};
use components::cluster::Cluster;
use components::kernel::{Kernel, ProcessBehaviour, ProcessExit};
use components::kubectl::Action;
use components::proxy::{KubeProxy, Probability};
use components::registry::ImageProfile;
use components::runtime::ContainerRuntime;
use sim_core::{Cut, Fault, SimDuration, SimTime};

mod common;

use common::{app_container, at, one_node_config};

const NODE: &str = "pool-1";

fn image(name: &str, size_bytes: u64, behaviour: ProcessBehaviour) -> ImageProfile {
    ImageProfile {
        name: name.to_string(),
        size_bytes,
        behaviour,
    }
}

fn bound_pod(name: &str, image: &str, restart_policy: RestartPolicy, grace_seconds: u64) -> Pod {
    let mut pod = common::bound_pod(name, NODE, app_container(image), restart_policy);
    pod.spec.termination_grace_period_seconds = grace_seconds;
    pod
}

fn stored_pod(cluster: &Cluster, name: &str) -> Option<Rc<Pod>> {
    cluster
        .objects::<Pod>()
        .find(|p| p.metadata.name.as_ref() == name)
        .cloned()
}

fn steps(cluster: &Cluster) -> Vec<(SimTime, String)> {
    cluster
        .steps()
        .map(|r| (r.time, r.detail.clone()))
        .collect()
}

#[test]
fn a_bound_pod_is_pulled_started_and_becomes_ready() {
    let nginx = ProcessBehaviour {
        startup: SimDuration::from_secs(2),
        ..ProcessBehaviour::default()
    };
    let mut cluster = Cluster::build(
        &one_node_config(vec![image("nginx:1.14.2", 70 << 20, nginx)]),
        7,
        true,
    );
    cluster.schedule_action(
        at(2),
        Action::Apply(vec![
            bound_pod("web", "nginx:1.14.2", RestartPolicy::Always, 30).into(),
        ]),
    );
    cluster.sim.run_for(SimDuration::from_secs(20));

    let node: Vec<_> = cluster.objects::<Node>().collect();
    assert_eq!(node.len(), 1);
    assert_eq!(node[0].status.ready.status, ConditionStatus::True);
    assert_eq!(
        node[0]
            .metadata
            .labels
            .get("kubernetes.io/hostname")
            .map(|v| v.as_ref()),
        Some(NODE)
    );
    assert_eq!(node[0].spec.pod_cidr.as_deref(), Some("10.244.0.0/24"));
    assert!(
        node[0]
            .status
            .images
            .iter()
            .any(|(name, size)| name.as_ref() == "nginx:1.14.2" && *size == 70 << 20),
        "the pulled image is reported on the node once the status is posted: {:?}",
        node[0].status.images
    );

    // The node's Lease (the others are the scheduler's and controller manager's).
    let lease: Vec<_> = cluster
        .objects::<Lease>()
        .filter(|lease| lease.metadata.namespace.as_ref() == "kube-node-lease")
        .collect();
    assert_eq!(lease.len(), 1);
    assert_eq!(lease[0].spec.holder_identity.as_deref(), Some(NODE));
    assert_eq!(lease[0].spec.lease_duration_seconds, 40);
    let renewed = lease[0].spec.renew_time.expect("renewed");
    assert!(renewed >= at(10), "renewed every 10 s, last at {renewed}");

    let pod = stored_pod(&cluster, "web").expect("the pod exists");
    assert_eq!(pod.status.phase, PodPhase::Running);
    assert_eq!(pod.status.ready, ConditionStatus::True);
    assert_eq!(pod.status.pod_ip.as_deref(), Some("10.244.0.2"));
    assert_eq!(pod.status.host_ip.as_deref(), Some("10.0.0.10"));
    let started = pod.status.start_time.expect("startTime set");
    let ready_since = pod.status.ready_since.expect("readiness recorded");
    // 70 MiB at 50 MB/s plus setup is about 1.7 s of pull; without a readiness probe the
    // container is Ready as soon as it runs (upstream's prober), its 2 s of startup
    // notwithstanding.
    let took = ready_since.saturating_since(started);
    assert!(
        took >= SimDuration::from_millis(1700) && took <= SimDuration::from_millis(2300),
        "ready {took} after start"
    );
    let container = &pod.status.container_statuses[0];
    assert!(container.ready);
    assert_eq!(container.restart_count, 0);
    assert!(matches!(container.state, ContainerState::Running { .. }));

    let kernel = cluster
        .sim
        .actor::<Kernel>(cluster.nodes[0].kernel)
        .expect("kernel");
    // The container and its sandbox's infra (runc's pause container and shim: 12 MiB).
    assert_eq!(kernel.process_count(), 2);
    assert_eq!(kernel.memory_bytes_used(), (32 + 12) << 20);
    let runtime = cluster
        .sim
        .actor::<ContainerRuntime>(cluster.nodes[0].runtime)
        .expect("runtime");
    assert!(runtime.has_image("nginx:1.14.2"));

    let narration = steps(&cluster);
    for expected in [
        "node pool-1 registered",
        "RunPodSandbox default/web: sandbox",
        "pulling nginx:1.14.2 from the registry",
        "pod default/web: pulled image nginx:1.14.2 (70Mi)",
        // The sandbox's pause container is process 2 (12 MiB), the container process 4.
        "process 2 started in sandbox 1's namespaces and cgroup (12Mi charged)",
        "process 4 started in sandbox",
        "pod default/web: started container app",
        "pod default/web: status Running (Ready=True)",
    ] {
        assert!(
            narration.iter().any(|(_, d)| d.contains(expected)),
            "missing {expected:?} in {narration:#?}"
        );
    }
}

#[test]
fn a_crashing_container_is_restarted_with_crash_loop_back_off() {
    let crasher = ProcessBehaviour {
        startup: SimDuration::from_millis(100),
        exit: Some(ProcessExit {
            after: SimDuration::from_secs(1),
            exit_code: 1,
        }),
        ..ProcessBehaviour::default()
    };
    let mut cluster = Cluster::build(
        &one_node_config(vec![image("crasher:1", 10 << 20, crasher)]),
        7,
        true,
    );
    cluster.schedule_action(
        at(1),
        Action::Apply(vec![
            bound_pod("crash", "crasher:1", RestartPolicy::Always, 30).into(),
        ]),
    );
    cluster.sim.run_for(SimDuration::from_secs(120));

    let narration = steps(&cluster);
    let exits: Vec<SimTime> = narration
        .iter()
        .filter(|(_, d)| d.contains("pod default/crash: container app exited with code 1"))
        .map(|(t, _)| *t)
        .collect();
    let starts: Vec<SimTime> = narration
        .iter()
        .filter(|(_, d)| {
            d.contains("pod default/crash: started container app")
                || d.contains("pod default/crash: restarted container app")
        })
        .map(|(t, _)| *t)
        .collect();
    // Waits between an exit and the next start: immediate, then 10, 20, 40 s (measured
    // from the exit; the kubelet notices an exit at its next PLEG relist, up to 1 s
    // later).
    let waits: Vec<u64> = exits
        .iter()
        .zip(starts.iter().skip(1))
        .map(|(exit, start)| start.saturating_since(*exit).as_millis())
        .collect();
    assert!(waits.len() >= 4, "exits {exits:?} starts {starts:?}");
    assert!(waits[0] < 500, "the first restart is immediate: {waits:?}");
    for (wait, backoff_ms) in waits[1..4].iter().zip([10_000u64, 20_000, 40_000]) {
        assert!(
            *wait + 1000 >= backoff_ms && *wait <= backoff_ms + 500,
            "waits {waits:?} should follow 10 s, 20 s, 40 s"
        );
    }
    assert!(narration.iter().any(|(_, d)| {
        d.contains("back-off 20s restarting failed container app (CrashLoopBackOff)")
    }));

    let pod = stored_pod(&cluster, "crash").expect("the pod exists");
    assert_eq!(
        pod.status.phase,
        PodPhase::Running,
        "restartPolicy Always keeps it Running"
    );
    assert_eq!(pod.status.ready, ConditionStatus::False);
    let container = &pod.status.container_statuses[0];
    assert!(
        container.restart_count >= 4,
        "restarts: {}",
        container.restart_count
    );
}

#[test]
fn pull_policy_never_with_a_missing_image_waits_with_err_image_never_pull() {
    let mut cluster = Cluster::build(&one_node_config(vec![]), 7, true);
    let mut pod = bound_pod("never", "absent:1", RestartPolicy::Always, 30);
    let mut containers = pod.spec.containers.to_vec();
    containers[0].image_pull_policy = ImagePullPolicy::Never;
    pod.spec.containers = containers.into();
    cluster.schedule_action(at(1), Action::Apply(vec![pod.into()]));
    cluster.sim.run_for(SimDuration::from_secs(30));
    let pod = stored_pod(&cluster, "never").expect("the pod exists");
    assert_eq!(pod.status.phase, PodPhase::Pending);
    assert_eq!(
        pod.status.container_statuses[0].state,
        ContainerState::Waiting {
            reason: s("ErrImageNeverPull")
        }
    );
    let runtime = cluster
        .sim
        .actor::<ContainerRuntime>(cluster.nodes[0].runtime)
        .expect("runtime");
    assert!(!runtime.has_image("absent:1"), "never pulled");
}

#[test]
fn a_registry_outage_ends_in_image_pull_back_off_then_recovers() {
    let mut cluster = Cluster::build(&one_node_config(vec![]), 7, true);
    let registry = cluster
        .sim
        .find_host("registry")
        .expect("the registry host");
    cluster.schedule_fault(at(0), Fault::CrashHost(registry));
    cluster.schedule_action(
        at(1),
        Action::Apply(vec![
            bound_pod("web", "nginx:1.14.2", RestartPolicy::Always, 30).into(),
        ]),
    );
    cluster.schedule_fault(at(400), Fault::RestartHost(registry));
    // The first pull times out after containerd's 5 minutes.
    cluster.sim.run_for(SimDuration::from_secs(305));
    let waiting = |cluster: &Cluster| {
        let pod = stored_pod(cluster, "web").expect("the pod exists");
        pod.status.container_statuses[0].state.clone()
    };
    assert_eq!(
        waiting(&cluster),
        ContainerState::Waiting {
            reason: s("ErrImagePull")
        }
    );
    // The retry 10 s later fails again (the registry is still down): ImagePullBackOff.
    cluster.sim.run_for(SimDuration::from_secs(310));
    assert_eq!(
        waiting(&cluster),
        ContainerState::Waiting {
            reason: s("ImagePullBackOff")
        }
    );
    // After the 20 s back-off the registry is back and the pull succeeds.
    cluster.sim.run_for(SimDuration::from_secs(40));
    let pod = stored_pod(&cluster, "web").expect("the pod exists");
    assert_eq!(pod.status.phase, PodPhase::Running);
    let narration = steps(&cluster);
    assert!(
        narration
            .iter()
            .any(|(_, d)| d.contains("failed to pull image nginx:1.14.2")
                && d.contains("back-off 20s")),
        "{narration:#?}"
    );
}

#[test]
fn a_job_like_pod_succeeds_and_keeps_nothing_running() {
    let task = ProcessBehaviour {
        exit: Some(ProcessExit {
            after: SimDuration::from_secs(3),
            exit_code: 0,
        }),
        ..ProcessBehaviour::default()
    };
    let mut cluster = Cluster::build(
        &one_node_config(vec![image("task:1", 1 << 20, task)]),
        7,
        true,
    );
    cluster.schedule_action(
        at(1),
        Action::Apply(vec![
            bound_pod("once", "task:1", RestartPolicy::OnFailure, 30).into(),
        ]),
    );
    cluster.sim.run_for(SimDuration::from_secs(20));
    let pod = stored_pod(&cluster, "once").expect("the pod exists");
    assert_eq!(pod.status.phase, PodPhase::Succeeded);
    assert!(matches!(
        pod.status.container_statuses[0].state,
        ContainerState::Terminated { exit_code: 0, .. }
    ));
    let runtime = cluster
        .sim
        .actor::<ContainerRuntime>(cluster.nodes[0].runtime)
        .expect("runtime");
    assert_eq!(
        runtime.ready_sandbox_count(),
        0,
        "a finished pod's sandbox is stopped"
    );
}

#[test]
fn deletion_stops_the_container_gracefully_then_removes_the_pod() {
    let mut cluster = Cluster::build(&one_node_config(vec![]), 7, true);
    cluster.schedule_action(
        at(1),
        Action::Apply(vec![
            bound_pod("web", "nginx:1.14.2", RestartPolicy::Always, 30).into(),
        ]),
    );
    cluster.schedule_action(
        at(10),
        Action::Delete {
            kind: Kind::Pod,
            namespace: s("default"),
            name: s("web"),
            cascade: components::api::PropagationPolicy::Background,
        },
    );
    cluster.sim.run_for(SimDuration::from_secs(9));
    assert_eq!(
        stored_pod(&cluster, "web").expect("running").status.phase,
        PodPhase::Running
    );
    cluster.sim.run_for(SimDuration::from_secs(3));
    assert!(
        stored_pod(&cluster, "web").is_none(),
        "deleted once its container exited on SIGTERM"
    );
    let kernel = cluster
        .sim
        .actor::<Kernel>(cluster.nodes[0].kernel)
        .expect("kernel");
    assert_eq!(kernel.process_count(), 0);
    assert_eq!(kernel.sandbox_count(), 0);
    let runtime = cluster
        .sim
        .actor::<ContainerRuntime>(cluster.nodes[0].runtime)
        .expect("runtime");
    assert_eq!(runtime.ready_sandbox_count(), 0);
    let narration = steps(&cluster);
    assert!(
        narration.iter().any(|(_, d)| d
            .contains("pod default/web: stopping container app (SIGTERM, SIGKILL after 30s)")),
        "{narration:#?}"
    );
}

#[test]
fn a_process_that_ignores_sigterm_is_killed_after_the_grace_period() {
    let stubborn = ProcessBehaviour {
        sigterm_exit_after: Some(SimDuration::from_secs(3600)),
        ..ProcessBehaviour::default()
    };
    let mut cluster = Cluster::build(
        &one_node_config(vec![image("stubborn:1", 1 << 20, stubborn)]),
        7,
        true,
    );
    cluster.schedule_action(
        at(1),
        Action::Apply(vec![
            bound_pod("web", "stubborn:1", RestartPolicy::Always, 5).into(),
        ]),
    );
    cluster.schedule_action(
        at(10),
        Action::Delete {
            kind: Kind::Pod,
            namespace: s("default"),
            name: s("web"),
            cascade: components::api::PropagationPolicy::Background,
        },
    );
    cluster.sim.run_for(SimDuration::from_secs(14));
    let pod = stored_pod(&cluster, "web").expect("still terminating within its grace period");
    assert!(pod.metadata.is_terminating());
    cluster.sim.run_for(SimDuration::from_secs(3));
    assert!(
        stored_pod(&cluster, "web").is_none(),
        "SIGKILL after 5 s, then deleted"
    );
    assert!(
        cluster
            .sim
            .records()
            .iter()
            .any(|r| r.detail.contains("outlived its stop timeout: SIGKILL"))
    );
}

#[test]
fn a_node_that_crashes_and_comes_back_re_registers_and_restarts_its_pods() {
    let mut cluster = Cluster::build(&one_node_config(vec![]), 7, true);
    cluster.schedule_action(
        at(1),
        Action::Apply(vec![
            bound_pod("web", "nginx:1.14.2", RestartPolicy::Always, 30).into(),
        ]),
    );
    let host = cluster.nodes[0].host;
    cluster.schedule_fault(at(20), Fault::CrashHost(host));
    cluster.schedule_fault(at(30), Fault::RestartHost(host));
    cluster.sim.run_for(SimDuration::from_secs(45));
    let pod = stored_pod(&cluster, "web").expect("the pod exists");
    assert_eq!(pod.status.phase, PodPhase::Running);
    assert_eq!(pod.status.ready, ConditionStatus::True);
    assert_eq!(
        pod.status.container_statuses[0].restart_count, 1,
        "the container the crash killed was started again"
    );
    let runtime = cluster
        .sim
        .actor::<ContainerRuntime>(cluster.nodes[0].runtime)
        .expect("runtime");
    assert!(
        runtime.has_image("nginx:1.14.2"),
        "pulled images survive the crash"
    );
    let narration = steps(&cluster);
    assert!(
        narration
            .iter()
            .any(|(_, d)| d.contains("node pool-1 registered again")),
        "{narration:#?}"
    );
    // The image was not pulled a second time.
    let pulls = narration
        .iter()
        .filter(|(_, d)| d.contains("pulled image nginx:1.14.2"))
        .count();
    assert_eq!(pulls, 1);
}

fn service_with_slice(endpoints: Vec<(&str, bool, bool, bool)>) -> (Service, EndpointSlice) {
    let service = Service {
        metadata: ObjectMeta::named("default", "web"),
        spec: ServiceSpec {
            selector: None,
            ports: vec![ServicePort {
                name: Some(s("http")),
                protocol: Protocol::Tcp,
                port: 80,
                target_port: TargetPort::Name(s("web")),
            }],
            cluster_ip: None,
            type_: ServiceType::ClusterIP,
        },
    };
    let mut metadata = ObjectMeta::named("default", "web-abc12");
    metadata.labels = Labels::from_pairs([(LABEL_SERVICE_NAME, "web")]);
    let slice = EndpointSlice {
        metadata,
        endpoints: endpoints
            .into_iter()
            .map(|(address, ready, serving, terminating)| Endpoint {
                address: s(address),
                conditions: EndpointConditions {
                    ready,
                    serving,
                    terminating,
                },
                node_name: Some(s(NODE)),
                target_pod: s(address),
            })
            .collect(),
        ports: vec![EndpointPort {
            name: Some(s("http")),
            port: 8080,
            protocol: Protocol::Tcp,
        }],
    };
    (service, slice)
}

#[test]
fn kube_proxy_programs_ready_endpoints_after_its_sync_delay() {
    let mut cluster = Cluster::build(&one_node_config(vec![]), 7, true);
    let (service, slice) = service_with_slice(vec![
        ("10.244.0.5", true, true, false),
        ("10.244.0.6", true, true, false),
        ("10.244.0.7", false, false, false),
    ]);
    cluster.schedule_action(at(5), Action::Apply(vec![service.into(), slice.into()]));
    cluster.sim.run_for(SimDuration::from_secs(8));
    let proxy = cluster
        .sim
        .actor::<KubeProxy>(cluster.nodes[0].proxy)
        .expect("kube-proxy");
    let rule = proxy.rule("default", "web", "http").expect("programmed");
    let second_octet: u32 = rule
        .cluster_ip
        .split('.')
        .nth(1)
        .and_then(|o| o.parse().ok())
        .expect("an IPv4 cluster IP");
    assert!(
        (96..112).contains(&second_octet),
        "cluster IP {} in 10.96.0.0/12",
        rule.cluster_ip
    );
    assert_eq!(rule.port, 80);
    let endpoints: Vec<(&str, u16, Probability)> = rule
        .endpoints
        .iter()
        .map(|e| (e.address.as_ref(), e.port, e.probability))
        .collect();
    assert_eq!(
        endpoints,
        vec![
            ("10.244.0.5", 8080, Probability::OneIn(2)),
            ("10.244.0.6", 8080, Probability::Always)
        ]
    );
    assert!(
        steps(&cluster).iter().any(|(_, d)| d.contains(
            "kube-proxy on pool-1: iptables rules synced: default/web:http → 2 endpoints"
        )),
        "{:#?}",
        steps(&cluster)
    );
}

#[test]
fn the_same_seed_replays_the_node_stack_exactly() {
    let run = || {
        let crasher = ProcessBehaviour {
            exit: Some(ProcessExit {
                after: SimDuration::from_secs(2),
                exit_code: 3,
            }),
            ..ProcessBehaviour::default()
        };
        let mut cluster = Cluster::build(
            &one_node_config(vec![image("crasher:1", 5 << 20, crasher)]),
            11,
            false,
        );
        cluster.schedule_action(
            at(1),
            Action::Apply(vec![
                bound_pod("a", "crasher:1", RestartPolicy::Always, 30).into(),
                bound_pod("b", "nginx:1.14.2", RestartPolicy::Always, 30).into(),
            ]),
        );
        cluster.schedule_action(
            at(20),
            Action::Delete {
                kind: Kind::Pod,
                namespace: s("default"),
                name: s("b"),
                cascade: components::api::PropagationPolicy::Background,
            },
        );
        cluster.sim.run_for(SimDuration::from_secs(90));
        (cluster.sim.trace_hash(), cluster.sim.events_processed())
    };
    assert_eq!(run(), run());
}

/// Deployment `default/web` (nginx, port `http` 80) with `replicas` and a Service that
/// selects it.
fn web_deployment_and_service(replicas: u32) -> (Deployment, Service) {
    let labels = Labels::from_pairs([("app", "web")]);
    let mut template = bound_pod("unused", "nginx:1.14.2", RestartPolicy::Always, 30).spec;
    template.node_name = None;
    let mut containers = template.containers.to_vec();
    containers[0].ports = vec![ContainerPort {
        name: Some(s("http")),
        container_port: 80,
        protocol: Protocol::Tcp,
        host_port: None,
        host_ip: None,
    }];
    template.containers = containers.into();
    let deployment = Deployment {
        metadata: ObjectMeta::named("default", "web"),
        spec: DeploymentSpec {
            replicas,
            selector: LabelSelector::from_labels(labels.clone()),
            template: Rc::new(PodTemplateSpec {
                labels: labels.clone(),
                annotations: Labels::new(),
                spec: template,
            }),
            strategy: DeploymentStrategy::RollingUpdate {
                max_surge: IntOrPercent::Percent(25),
                max_unavailable: IntOrPercent::Percent(25),
            },
            min_ready_seconds: 0,
            revision_history_limit: 10,
            progress_deadline_seconds: 600,
            paused: false,
        },
        status: Default::default(),
    };
    let service = Service {
        metadata: ObjectMeta::named("default", "web"),
        spec: ServiceSpec {
            selector: Some(labels),
            ports: vec![ServicePort {
                name: Some(s("http")),
                protocol: Protocol::Tcp,
                port: 80,
                target_port: TargetPort::Name(s("http")),
            }],
            cluster_ip: None,
            type_: ServiceType::ClusterIP,
        },
    };
    (deployment, service)
}

/// The whole chain: Deployment → ReplicaSet → pods → scheduler → kubelet → runtime →
/// EndpointSlice → kube-proxy on every node; then a scale-down drains the rules.
#[test]
fn a_deployment_behind_a_service_reaches_every_node_s_rules() {
    let mut cluster_config = one_node_config(vec![]);
    cluster_config.node_pools[0].count = 2;
    let mut cluster = Cluster::build(&cluster_config, 5, true);
    let (deployment, service) = web_deployment_and_service(3);
    cluster.schedule_action(
        at(1),
        Action::Apply(vec![deployment.into(), service.into()]),
    );
    cluster.schedule_action(
        at(30),
        Action::Scale {
            kind: Kind::Deployment,
            namespace: s("default"),
            name: s("web"),
            replicas: 1,
        },
    );
    cluster.sim.run_for(SimDuration::from_secs(29));

    let pods: Vec<Rc<Pod>> = cluster.objects::<Pod>().cloned().collect();
    assert_eq!(pods.len(), 3);
    let mut pod_ips: Vec<String> = pods
        .iter()
        .map(|p| {
            assert_eq!(p.status.phase, PodPhase::Running);
            assert_eq!(p.status.ready, ConditionStatus::True);
            p.status.pod_ip.as_deref().expect("a pod IP").to_string()
        })
        .collect();
    pod_ips.sort();
    for node in &cluster.nodes {
        let proxy = cluster
            .sim
            .actor::<KubeProxy>(node.proxy)
            .expect("kube-proxy");
        let rule = proxy.rule("default", "web", "http").expect("programmed");
        let mut addresses: Vec<String> = rule
            .endpoints
            .iter()
            .map(|e| {
                assert_eq!(
                    e.port, 80,
                    "the named target port resolved through the slice"
                );
                e.address.to_string()
            })
            .collect();
        addresses.sort();
        assert_eq!(addresses, pod_ips, "node {}", node.name);
    }

    cluster.sim.run_for(SimDuration::from_secs(16));
    let pods: Vec<Rc<Pod>> = cluster.objects::<Pod>().cloned().collect();
    assert_eq!(
        pods.len(),
        1,
        "two pods terminated and deleted by their kubelets"
    );
    let survivor = pods[0].status.pod_ip.clone().expect("a pod IP");
    for node in &cluster.nodes {
        let proxy = cluster
            .sim
            .actor::<KubeProxy>(node.proxy)
            .expect("kube-proxy");
        let rule = proxy.rule("default", "web", "http").expect("programmed");
        let addresses: Vec<&str> = rule.endpoints.iter().map(|e| e.address.as_ref()).collect();
        assert_eq!(addresses, vec![survivor.as_ref()], "node {}", node.name);
    }
}

/// Regression: a node isolated long enough to go Unknown stayed Unknown after the
/// partition healed, because its kubelet waited for answers the partition had dropped
/// and its pod watch had silently lost the node lifecycle controller's Ready=False.
#[test]
fn a_node_isolated_until_unknown_is_ready_again_after_the_partition_heals() {
    let mut cluster_config = one_node_config(vec![]);
    cluster_config.node_pools[0].count = 2;
    let mut cluster = Cluster::build(&cluster_config, 5, true);
    let (deployment, service) = web_deployment_and_service(4);
    cluster.schedule_action(
        at(1),
        Action::Apply(vec![deployment.into(), service.into()]),
    );
    let isolated = cluster.nodes[0].name.clone();
    let host = cluster.nodes[0].host;
    // Past the 50 s node monitor grace period, well short of the 300 s toleration of the
    // unreachable taint (no eviction).
    cluster.schedule_fault(at(40), Fault::Partition(Cut::Isolate(host)));
    cluster.schedule_fault(at(163), Fault::Heal(None));

    cluster.sim.run_for(SimDuration::from_secs(39));
    let on_isolated = |cluster: &Cluster| -> Vec<Rc<Pod>> {
        cluster
            .objects::<Pod>()
            .filter(|p| p.spec.node_name.as_deref() == Some(isolated.as_ref()))
            .cloned()
            .collect()
    };
    let before = on_isolated(&cluster);
    assert!(
        !before.is_empty(),
        "the isolated node runs some of the pods"
    );
    assert!(
        before
            .iter()
            .all(|p| p.status.ready == ConditionStatus::True)
    );

    cluster.sim.run_for(SimDuration::from_secs(120));
    let node_ready = |cluster: &Cluster| {
        cluster
            .objects::<Node>()
            .find(|n| n.metadata.name == isolated)
            .expect("the node exists")
            .status
            .ready
            .status
    };
    assert_eq!(node_ready(&cluster), ConditionStatus::Unknown);
    assert!(
        on_isolated(&cluster)
            .iter()
            .all(|p| p.status.ready == ConditionStatus::False),
        "the node lifecycle controller marked the pods not ready"
    );

    // Healed at 163 s: the lease renewal at 170 s is answered, the kubelet relists its
    // pods and re-reads its node, and everything is back within a heartbeat period.
    cluster.sim.run_for(SimDuration::from_secs(20));
    let narration = steps(&cluster);
    let said = |text: &str| {
        narration
            .iter()
            .any(|(_, d)| d.contains(&format!("kubelet on node {isolated}: {text}")))
    };
    assert!(
        said("1 request(s) to the API server unanswered"),
        "{narration:#?}"
    );
    assert!(
        said("the API server answers again; relisting its pods"),
        "{narration:#?}"
    );
    assert_eq!(node_ready(&cluster), ConditionStatus::True);
    let after = on_isolated(&cluster);
    let uids = |pods: &[Rc<Pod>]| -> Vec<u64> { pods.iter().map(|p| p.metadata.uid).collect() };
    assert_eq!(uids(&after), uids(&before), "the same pods, never evicted");
    for pod in &after {
        assert_eq!(pod.status.phase, PodPhase::Running, "{}", pod.metadata.name);
        assert_eq!(
            pod.status.ready,
            ConditionStatus::True,
            "{}",
            pod.metadata.name
        );
    }
    let mut pod_ips: Vec<String> = cluster
        .objects::<Pod>()
        .map(|p| p.status.pod_ip.as_deref().expect("a pod IP").to_string())
        .collect();
    pod_ips.sort();
    assert_eq!(pod_ips.len(), 4);
    let slices: Vec<Rc<EndpointSlice>> = cluster.objects::<EndpointSlice>().cloned().collect();
    let mut ready: Vec<String> = slices
        .iter()
        .flat_map(|slice| slice.endpoints.iter())
        .filter(|e| e.conditions.ready)
        .map(|e| e.address.to_string())
        .collect();
    ready.sort();
    assert_eq!(ready, pod_ips, "every endpoint ready again");
    for node in &cluster.nodes {
        let proxy = cluster
            .sim
            .actor::<KubeProxy>(node.proxy)
            .expect("kube-proxy");
        let rule = proxy.rule("default", "web", "http").expect("programmed");
        let mut addresses: Vec<String> = rule
            .endpoints
            .iter()
            .map(|e| e.address.to_string())
            .collect();
        addresses.sort();
        assert_eq!(addresses, pod_ips, "kube-proxy rules on {}", node.name);
    }
}

/// A node that boots while cut off loses its first requests (registration, lease, the
/// informers' lists): each is given up at its deadline and sent again, so the node joins
/// once the partition heals.
#[test]
fn a_node_that_boots_during_a_partition_joins_once_it_heals() {
    let mut cluster = Cluster::build(&one_node_config(vec![]), 7, true);
    let host = cluster.nodes[0].host;
    cluster.schedule_fault(SimTime::ZERO, Fault::Partition(Cut::Isolate(host)));
    let (service, slice) = service_with_slice(vec![("10.244.0.5", true, true, false)]);
    cluster.schedule_action(
        at(1),
        Action::Apply(vec![
            service.into(),
            slice.into(),
            bound_pod("web", "nginx:1.14.2", RestartPolicy::Always, 30).into(),
        ]),
    );
    cluster.schedule_fault(at(30), Fault::Heal(None));
    cluster.sim.run_for(SimDuration::from_secs(29));
    assert_eq!(
        cluster.objects::<Node>().count(),
        0,
        "not registered while cut off"
    );

    cluster.sim.run_for(SimDuration::from_secs(61));
    let node: Vec<_> = cluster.objects::<Node>().collect();
    assert_eq!(node.len(), 1);
    assert_eq!(node[0].status.ready.status, ConditionStatus::True);
    let pod = stored_pod(&cluster, "web").expect("the pod exists");
    assert_eq!(pod.status.phase, PodPhase::Running);
    assert_eq!(pod.status.ready, ConditionStatus::True);
    let proxy = cluster
        .sim
        .actor::<KubeProxy>(cluster.nodes[0].proxy)
        .expect("kube-proxy");
    let rule = proxy.rule("default", "web", "http").expect("programmed");
    assert_eq!(rule.endpoints.len(), 1);
}
