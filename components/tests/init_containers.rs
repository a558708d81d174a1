//! Init containers and sidecars on the whole node stack: the Init:N/M progression
//! kubectl shows, a sidecar that keeps running beside the regular container, a failing
//! init container under restartPolicy Never, and postStart / preStop hooks.

use std::rc::Rc;

use components::api::{
    ConditionStatus, Container, ContainerRestartPolicy, ContainerState, ImagePullPolicy, Lifecycle,
    LifecycleHandler, ObjectMeta, Pod, PodPhase, PodSpec, PodStatus, RestartPolicy, s,
};
use components::cluster::Cluster;
use components::kernel::{ProcessBehaviour, ProcessExit};
use components::kubectl::Action;
use components::kubelet::status::kubectl_status;
use components::registry::ImageProfile;
use sim_core::SimDuration;

mod common;

use common::{at, one_node_config, run_until};

fn image(name: &str, behaviour: ProcessBehaviour) -> ImageProfile {
    ImageProfile {
        name: name.to_string(),
        size_bytes: 1 << 20,
        behaviour,
    }
}

/// Runs `after` seconds, then exits with `code`.
fn task(after_secs: u64, code: i32) -> ProcessBehaviour {
    ProcessBehaviour {
        startup: SimDuration::from_millis(100),
        exit: Some(ProcessExit {
            after: SimDuration::from_secs(after_secs),
            exit_code: code,
        }),
        ..ProcessBehaviour::default()
    }
}

fn server() -> ProcessBehaviour {
    ProcessBehaviour {
        startup: SimDuration::from_millis(100),
        post_start_hook: SimDuration::from_secs(2),
        ..ProcessBehaviour::default()
    }
}

fn cluster() -> Cluster {
    let config = one_node_config(vec![
        image("migrate:1", task(4, 0)),
        image("broken-migrate:1", task(1, 1)),
        image("proxy:1", server()),
        image("web:1", ProcessBehaviour::default()),
    ]);
    Cluster::build(&config, 7, true)
}

fn container(name: &str, image: &str) -> Container {
    Container {
        name: s(name),
        image: s(image),
        image_pull_policy: ImagePullPolicy::IfNotPresent,
        ..Container::default()
    }
}

/// `migrate` (an init container that works 4 s), the `proxy` sidecar (whose exec
/// postStart hook takes 2 s), then `web`.
fn pod(name: &str, migrate_image: &str, restart_policy: RestartPolicy) -> Pod {
    let proxy = Container {
        restart_policy: Some(ContainerRestartPolicy::Always),
        lifecycle: Some(Rc::new(Lifecycle {
            post_start: Some(LifecycleHandler::Exec {
                command: Rc::from(vec![s("register")]),
            }),
            pre_stop: None,
        })),
        ..container("proxy", "proxy:1")
    };
    let web = Container {
        lifecycle: Some(Rc::new(Lifecycle {
            post_start: None,
            pre_stop: Some(LifecycleHandler::Sleep { seconds: 3 }),
        })),
        ..container("web", "web:1")
    };
    Pod {
        metadata: ObjectMeta::named("default", name),
        spec: PodSpec {
            node_name: Some(s("pool-1")),
            init_containers: Rc::from(vec![container("migrate", migrate_image), proxy]),
            containers: Rc::from(vec![web]),
            restart_policy,
            ..PodSpec::default()
        },
        status: PodStatus::default(),
    }
}

fn stored(cluster: &Cluster, name: &str) -> Rc<Pod> {
    cluster
        .objects::<Pod>()
        .find(|p| p.metadata.name.as_ref() == name)
        .cloned()
        .unwrap_or_else(|| panic!("pod {name} exists"))
}

#[test]
fn init_containers_then_a_sidecar_then_the_app_with_kubectl_s_progression() {
    let mut cluster = cluster();
    cluster.schedule_action(
        at(1),
        Action::Apply(vec![pod("web", "migrate:1", RestartPolicy::Always).into()]),
    );
    // migrate starts at 1.4 s and exits at 5.5 s (4 s after it serves); the PLEG relist
    // at 6 s sees it and starts proxy at 6.3 s, whose postStart hook takes 2 s: the
    // status written before the hook still shows proxy waiting (the pod worker reports
    // at the start of a sync), and web starts at 8.6 s, in the same sync as the hook's
    // end.
    let mut seen = Vec::new();
    for second in 2..=10 {
        run_until(&mut cluster, at(second));
        let pod = stored(&cluster, "web");
        seen.push((second, kubectl_status(&pod), pod.status.phase));
    }
    use PodPhase::*;
    let expected: Vec<(u64, String, PodPhase)> = [
        (2, "Init:0/2", Pending),
        (3, "Init:0/2", Pending),
        (4, "Init:0/2", Pending),
        (5, "Init:0/2", Pending),
        (6, "Init:0/2", Pending),
        (7, "Init:1/2", Pending),
        (8, "Init:1/2", Pending),
        (9, "Running", Running),
        (10, "Running", Running),
    ]
    .into_iter()
    .map(|(t, s, p)| (t, s.to_string(), p))
    .collect();
    assert_eq!(seen, expected);
    let pod = stored(&cluster, "web");
    assert_eq!(pod.status.initialized, ConditionStatus::True);
    assert_eq!(pod.status.ready, ConditionStatus::True);
    let statuses = &pod.status.init_container_statuses;
    assert!(matches!(
        statuses[0].state,
        ContainerState::Terminated { exit_code: 0, .. }
    ));
    assert!(matches!(statuses[1].state, ContainerState::Running { .. }));

    // Deleted: web's 3 s sleep preStop hook, then SIGTERM; the sidecar only after web.
    cluster.schedule_action(
        at(20),
        Action::Delete {
            kind: components::api::Kind::Pod,
            namespace: s("default"),
            name: s("web"),
            cascade: components::api::PropagationPolicy::Background,
        },
    );
    run_until(&mut cluster, at(30));
    let steps: Vec<String> = cluster.steps().map(|r| r.detail.clone()).collect();
    let position = |needle: &str| {
        steps
            .iter()
            .position(|d| d.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} in {steps:#?}"))
    };
    let hook = position("running container web's preStop hook (sleep 3s");
    let web = position("stopping container web (SIGTERM, SIGKILL after 27s)");
    let proxy = position("stopping container proxy (SIGTERM");
    assert!(hook < web && web < proxy, "{steps:#?}");
    assert!(
        cluster
            .objects::<Pod>()
            .all(|p| p.metadata.name.as_ref() != "web"),
        "the pod is gone"
    );
}

#[test]
fn a_failing_init_container_fails_a_never_pod_and_stops_nothing_else() {
    let mut cluster = cluster();
    cluster.schedule_action(
        at(1),
        Action::Apply(vec![
            pod("job", "broken-migrate:1", RestartPolicy::Never).into(),
        ]),
    );
    run_until(&mut cluster, at(10));
    let pod = stored(&cluster, "job");
    assert_eq!(pod.status.phase, PodPhase::Failed);
    assert_eq!(kubectl_status(&pod), "Init:Error");
    assert_eq!(pod.status.initialized, ConditionStatus::False);
    assert_eq!(
        pod.status.container_statuses[0].state,
        ContainerState::Waiting {
            reason: s("PodInitializing")
        },
        "web never ran"
    );
    assert!(matches!(
        pod.status.init_container_statuses[1].state,
        ContainerState::Waiting { .. }
    ));
}

#[test]
fn a_failing_init_container_crash_loops_under_restart_policy_always() {
    let mut cluster = cluster();
    cluster.schedule_action(
        at(1),
        Action::Apply(vec![
            pod("web", "broken-migrate:1", RestartPolicy::Always).into(),
        ]),
    );
    run_until(&mut cluster, at(30));
    let pod = stored(&cluster, "web");
    assert_eq!(pod.status.phase, PodPhase::Pending);
    assert_eq!(kubectl_status(&pod), "Init:CrashLoopBackOff");
    assert!(pod.status.init_container_statuses[0].restart_count >= 2);
}

#[test]
fn a_sidecar_s_startup_probe_holds_up_the_next_init_container() {
    let mut cluster = cluster();
    let mut pod = pod("web", "migrate:1", RestartPolicy::Always);
    // proxy (index 1 of the init containers) first, with a startup probe every 5 s
    // starting 10 s in: migrate waits for its first success.
    let mut init: Vec<Container> = pod.spec.init_containers.to_vec();
    init.swap(0, 1);
    let mut probe = components::api::Probe::http_get("/healthz", 8080);
    probe.initial_delay_seconds = 10;
    probe.period_seconds = 5;
    init[0].startup_probe = Some(Rc::new(probe));
    pod.spec.init_containers = Rc::from(init);
    cluster.schedule_action(at(1), Action::Apply(vec![pod.into()]));
    run_until(&mut cluster, at(40));
    let steps: Vec<(sim_core::SimTime, String)> = cluster
        .steps()
        .map(|r| (r.time, r.detail.clone()))
        .collect();
    let when = |needle: &str| {
        steps
            .iter()
            .find(|(_, d)| d.contains(needle))
            .map(|(t, _)| *t)
            .unwrap_or_else(|| panic!("{needle:?} in {steps:#?}"))
    };
    let started = when("container proxy startup probe succeeded");
    let migrate = when("started init container migrate");
    assert!(
        started >= at(11) && migrate >= started && migrate < started + SimDuration::from_secs(1),
        "migrate at {migrate}, proxy started at {started}"
    );
    assert_eq!(kubectl_status(&stored(&cluster, "web")), "Running");
}
