//! Preemption through a whole cluster: a high-priority pod that fits nowhere makes the
//! scheduler delete a lower-priority pod, which its kubelet stops gracefully; the pod is
//! nominated to that node and binds there once the victim is gone.

use std::rc::Rc;

use components::api::{
    Container, ImagePullPolicy, IntOrPercent, LabelSelector, Labels, Object, ObjectMeta, Pod,
    PodDisruptionBudget, PodDisruptionBudgetSpec, PodDisruptionBudgetStatus, PodPhase, PodSpec,
    PodStatus, PreemptionPolicy, PriorityClass, ResourceList, ResourceRequirements, s,
};
use components::cluster::{Cluster, ClusterConfig};
use components::fixtures;
use components::kubectl::Action;
use components::scheduler::Scheduler;
use sim_core::SimDuration;

mod common;

use common::at;

fn class(name: &str, value: i32) -> Object {
    Object::from(PriorityClass {
        metadata: ObjectMeta::named("", name),
        value,
        global_default: false,
        preemption_policy: PreemptionPolicy::PreemptLowerPriority,
        description: s(""),
    })
}

/// A bare pod asking for `millicores` of CPU, in PriorityClass `class`.
fn pod(name: &str, class: &str, millicores: u64) -> Object {
    let container = Container {
        name: s("app"),
        image: s("nginx:1.14.2"),
        image_pull_policy: ImagePullPolicy::IfNotPresent,
        resources: ResourceRequirements {
            requests: ResourceList {
                cpu_millicores: Some(millicores),
                ..ResourceList::default()
            },
            limits: ResourceList::default(),
        },
        ..Container::default()
    };
    Object::from(Pod {
        metadata: ObjectMeta::named("default", name),
        spec: PodSpec {
            containers: Rc::from(vec![container]),
            priority_class_name: Some(s(class)),
            termination_grace_period_seconds: 30,
            ..PodSpec::default()
        },
        status: PodStatus::default(),
    })
}

fn find<'a>(cluster: &'a Cluster, name: &str) -> Option<&'a Rc<Pod>> {
    cluster.objects::<Pod>().find(|p| &*p.metadata.name == name)
}

#[test]
fn a_high_priority_pod_preempts_a_low_priority_one_and_binds_to_the_nominated_node() {
    let mut config = ClusterConfig::default();
    let mut pool = fixtures::node_pool("node", 2, None);
    pool.capacity.cpu_millicores = Some(1000);
    config.node_pools.push(pool);
    let mut cluster = Cluster::build(&config, 7, true);
    cluster.schedule_action(
        at(1),
        Action::Apply(vec![class("batch", 100), class("critical", 1000)]),
    );
    cluster.schedule_action(
        at(2),
        Action::Apply(vec![
            pod("batch-1", "batch", 700),
            pod("batch-2", "batch", 600),
        ]),
    );
    cluster.sim.run_for(SimDuration::from_secs(20));
    let batch = |cluster: &Cluster, name| find(cluster, name).cloned().expect("batch pod");
    let first_node = batch(&cluster, "batch-1").spec.node_name.clone();
    assert!(first_node.is_some());
    assert_ne!(first_node, batch(&cluster, "batch-2").spec.node_name);

    // 800m fits on neither node (300m and 400m free): one batch pod must go. Both
    // nodes would need one victim of priority 100; the later-started one is picked
    // (pickOneNodeForPreemption's last criterion), whichever that is.
    cluster.schedule_action(
        at(21),
        Action::Apply(vec![pod("critical", "critical", 800)]),
    );
    cluster.sim.run_for(SimDuration::from_secs(60));
    let critical = find(&cluster, "critical").expect("critical pod").clone();
    let node = critical
        .spec
        .node_name
        .clone()
        .expect("the preemptor is bound");
    assert_eq!(critical.status.phase, PodPhase::Running);
    assert_eq!(
        critical.status.nominated_node_name.as_ref(),
        Some(&node),
        "bound where it was nominated"
    );
    let gone: Vec<&str> = ["batch-1", "batch-2"]
        .into_iter()
        .filter(|name| find(&cluster, name).is_none())
        .collect();
    assert_eq!(gone.len(), 1, "exactly one victim");
    let victim = gone[0];
    let survivor = if victim == "batch-1" {
        "batch-2"
    } else {
        "batch-1"
    };
    let survivor = find(&cluster, survivor).expect("survivor");
    assert_eq!(survivor.status.phase, PodPhase::Running);
    assert_ne!(survivor.spec.node_name.as_ref(), Some(&node));

    let steps: Vec<String> = cluster.steps().map(|r| r.detail.clone()).collect();
    let position = |text: &str| {
        steps
            .iter()
            .position(|d| d.starts_with(text))
            .unwrap_or_else(|| panic!("no step {text:?}: {steps:#?}"))
    };
    let preempting = position(&format!(
        "pod default/critical: preempting 1 pod on {node} (default/{victim})"
    ));
    // The victim's kubelet stops it gracefully: SIGTERM with the pod's 30 s.
    let stopping = position(&format!(
        "pod default/{victim}: deletion requested; stopping its containers (grace period 30s)"
    ));
    let sigterm = position(&format!(
        "pod default/{victim}: stopping container app (SIGTERM, SIGKILL after 30s)"
    ));
    let bound = position(&format!("pod default/critical: bound to {node}"));
    assert!(preempting < stopping && stopping < sigterm && sigterm < bound);
    let stats = cluster
        .sim
        .actor::<Scheduler>(cluster.scheduler)
        .expect("the scheduler actor")
        .stats();
    assert_eq!((stats.preemptions, stats.victims), (1, 1));
}

#[test]
fn a_pod_that_may_not_preempt_stays_pending() {
    let mut config = ClusterConfig::default();
    let mut pool = fixtures::node_pool("node", 1, None);
    pool.capacity.cpu_millicores = Some(1000);
    config.node_pools.push(pool);
    let mut cluster = Cluster::build(&config, 7, true);
    let mut polite = PriorityClass {
        metadata: ObjectMeta::named("", "polite"),
        value: 1000,
        global_default: false,
        preemption_policy: PreemptionPolicy::Never,
        description: s(""),
    };
    polite.description = s("high priority that waits its turn");
    cluster.schedule_action(
        at(1),
        Action::Apply(vec![class("batch", 100), Object::from(polite)]),
    );
    cluster.schedule_action(at(2), Action::Apply(vec![pod("batch-1", "batch", 700)]));
    cluster.schedule_action(at(10), Action::Apply(vec![pod("waiter", "polite", 800)]));
    cluster.sim.run_for(SimDuration::from_secs(40));
    let waiter = find(&cluster, "waiter").expect("waiter");
    assert_eq!(waiter.spec.node_name, None);
    assert_eq!(waiter.status.nominated_node_name, None);
    assert!(
        waiter
            .status
            .scheduled_message
            .as_deref()
            .is_some_and(|m| m.ends_with("preemption: not eligible due to preemptionPolicy=Never.")),
        "{:?}",
        waiter.status.scheduled_message
    );
    assert!(!find(&cluster, "batch-1").unwrap().metadata.is_terminating());
}

/// Two nodes, each with one 700m pod of priority 100: `db` (started last, so the
/// tie-breaking criteria alone would take it) and `web`. An 800m critical pod needs one
/// of them gone. With `budget`, a PodDisruptionBudget over `db` whose status nobody has
/// written (0 disruptions allowed), as happens before the disruption controller runs.
/// Returns the victim's name, the node it ran on and the node the critical pod was
/// bound to.
fn preempt_beside_a_budget(budget: bool) -> (String, String, String) {
    let mut config = ClusterConfig::default();
    let mut pool = fixtures::node_pool("node", 2, None);
    pool.capacity.cpu_millicores = Some(1000);
    config.node_pools.push(pool);
    let mut cluster = Cluster::build(&config, 11, true);
    let labelled = |name: &str, app: &str| {
        let Object::Pod(mut pod) = pod(name, "batch", 700) else {
            unreachable!("pod() builds a pod")
        };
        Rc::make_mut(&mut pod).metadata.labels = Labels::from_pairs([("app", app)]);
        Object::Pod(pod)
    };
    let mut first = vec![class("batch", 100), class("critical", 1000)];
    if budget {
        first.push(Object::from(PodDisruptionBudget {
            metadata: ObjectMeta::named("default", "db"),
            spec: PodDisruptionBudgetSpec {
                min_available: Some(IntOrPercent::Int(1)),
                selector: Some(LabelSelector::from_labels(Labels::from_pairs([(
                    "app", "db",
                )]))),
                max_unavailable: None,
                ..Default::default()
            },
            status: PodDisruptionBudgetStatus::default(),
        }));
    }
    cluster.schedule_action(at(1), Action::Apply(first));
    cluster.schedule_action(at(2), Action::Apply(vec![labelled("web", "web")]));
    cluster.schedule_action(at(8), Action::Apply(vec![labelled("db", "db")]));
    cluster.sim.run_for(SimDuration::from_secs(30));
    let web_node = find(&cluster, "web").and_then(|p| p.spec.node_name.clone());
    let db_node = find(&cluster, "db").and_then(|p| p.spec.node_name.clone());
    assert!(web_node.is_some() && db_node.is_some() && web_node != db_node);
    let started = |name| find(&cluster, name).and_then(|p| p.status.start_time);
    assert!(started("web") < started("db"), "db starts last");

    cluster.schedule_action(
        at(31),
        Action::Apply(vec![pod("critical", "critical", 800)]),
    );
    cluster.sim.run_for(SimDuration::from_secs(60));
    let critical = find(&cluster, "critical").expect("critical pod");
    let node = critical
        .spec
        .node_name
        .clone()
        .expect("the preemptor is bound");
    let gone: Vec<&str> = ["web", "db"]
        .into_iter()
        .filter(|name| find(&cluster, name).is_none())
        .collect();
    assert_eq!(gone.len(), 1, "exactly one victim: {gone:?}");
    let victim_node = if gone[0] == "web" { web_node } else { db_node };
    (
        gone[0].to_string(),
        victim_node.expect("bound").to_string(),
        node.to_string(),
    )
}

#[test]
fn preemption_picks_the_node_whose_victims_break_no_disruption_budget() {
    // Without a budget the last-started victim's node wins the tie-break.
    let (victim, victim_node, node) = preempt_beside_a_budget(false);
    assert_eq!(victim, "db");
    assert_eq!(node, victim_node);
    // The budget allows no disruption of db: web's node has no violation, so it wins
    // before any other criterion (pickOneNodeForPreemption: fewest PDB violations).
    let (victim, victim_node, node) = preempt_beside_a_budget(true);
    assert_eq!(victim, "web");
    assert_eq!(node, victim_node, "bound where web ran");
}
