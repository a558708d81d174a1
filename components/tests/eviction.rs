//! The eviction API end to end: `kubectl drain` asks for evictions, the API server
//! refuses them with 429 while the PodDisruptionBudget allows no disruption, kubectl
//! retries every 5 s, and an eviction succeeds once the budget (recomputed by the
//! disruption controller) allows one.

use components::api::{
    IntOrPercent, LabelSelector, Labels, ObjectMeta, Pod, PodDisruptionBudget,
    PodDisruptionBudgetSpec, ResourceList, s,
};
use components::cluster::{Cluster, ClusterConfig};
use components::fixtures;
use components::kubectl::{Action, DrainOptions};
use sim_core::SimDuration;

mod common;

use common::{at, run_until};

fn budget(min_available: u32) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: ObjectMeta::named("default", "web"),
        spec: PodDisruptionBudgetSpec {
            min_available: Some(IntOrPercent::Int(min_available)),
            selector: Some(LabelSelector::from_labels(Labels::from_pairs([(
                "app", "web",
            )]))),
            ..Default::default()
        },
        status: Default::default(),
    }
}

/// Seconds (with a fraction) of each step record that contains `text`.
fn step_times(cluster: &Cluster, text: &str) -> Vec<f64> {
    cluster
        .steps()
        .filter(|r| r.detail.contains(text))
        .map(|r| r.time.as_secs_f64())
        .collect()
}

#[test]
fn a_refused_eviction_is_retried_every_5s_and_succeeds_once_the_budget_allows_it() {
    // One node: the evicted pods' replacements have nowhere to go, so only the budget
    // decides.
    let mut config = ClusterConfig::default();
    config.node_pools.push(fixtures::node_pool("node", 1, None));
    let mut cluster = Cluster::build(&config, 3, true);
    let web = fixtures::deployment("default", "web", 2, "nginx:1.14.2", ResourceList::default());
    cluster.schedule_action(at(1), Action::Apply(vec![web.into(), budget(2).into()]));
    let mut drain = DrainOptions::new(s("node-1"));
    drain.timeout = Some(SimDuration::from_secs(60));
    cluster.schedule_action(at(20), Action::Drain(drain));
    // The user relaxes the budget: 2 healthy pods, 1 needed → 1 disruption allowed.
    cluster.schedule_action(at(32), Action::Apply(vec![budget(1).into()]));
    run_until(&mut cluster, at(90));

    let refused = step_times(
        &cluster,
        "(will retry after 5s): Cannot evict pod as it would violate the pod's disruption budget.",
    );
    let allowed = step_times(&cluster, "allowed by poddisruptionbudget default/web");
    // Both pods are refused at 20 s, 25 s and 30 s; at 35 s one is allowed, and the other,
    // refused again, keeps being refused until the drain's 60 s timeout.
    assert!(refused.len() >= 6, "refusals at {refused:?}");
    for (index, t) in refused.iter().take(6).enumerate() {
        let due = 20.0 + 5.0 * (index / 2) as f64;
        assert!(
            (due..due + 0.5).contains(t),
            "refusal {index} at {t}, due {due}"
        );
    }
    assert_eq!(allowed.len(), 1, "one eviction allowed: {allowed:?}");
    assert!(
        (35.0..35.5).contains(&allowed[0]),
        "allowed at {}",
        allowed[0]
    );
    assert!(
        refused.iter().all(|t| *t < 80.5),
        "no eviction after the timeout: {refused:?}"
    );
    assert_eq!(
        step_times(
            &cluster,
            "kubectl drain node-1: error: global timeout reached: 1m0s"
        )
        .len(),
        1
    );

    // One web pod is left on the cordoned node; its evicted sibling's replacement waits
    // unscheduled; the budget is spent.
    let pods: Vec<&Pod> = cluster.objects::<Pod>().map(|p| &**p).collect();
    let bound = pods.iter().filter(|p| p.spec.node_name.is_some()).count();
    let pending = pods.iter().filter(|p| p.spec.node_name.is_none()).count();
    assert_eq!((bound, pending), (1, 1), "{pods:#?}");
    let budget = cluster
        .objects::<PodDisruptionBudget>()
        .next()
        .expect("the budget");
    assert_eq!(budget.status.desired_healthy, 1);
    assert_eq!(budget.status.current_healthy, 1);
    assert_eq!(budget.status.disruptions_allowed, 0);
    assert_eq!(
        budget.status.observed_generation,
        budget.metadata.generation
    );
    let node = cluster
        .objects::<components::api::Node>()
        .next()
        .expect("the node");
    assert!(node.spec.unschedulable);
}

#[test]
fn a_percentage_budget_counts_the_deployments_scale() {
    let mut config = ClusterConfig::default();
    config.node_pools.push(fixtures::node_pool("node", 2, None));
    let mut cluster = Cluster::build(&config, 5, true);
    let web = fixtures::deployment("default", "web", 4, "nginx:1.14.2", ResourceList::default());
    let mut budget = budget(0);
    budget.spec.min_available = None;
    // expectedPods is the Deployment's 4 replicas; maxUnavailable 30% of 4 rounds up to
    // 2, so 2 must stay healthy; all 5 selected pods are healthy: 3 disruptions allowed.
    budget.spec.max_unavailable = Some(IntOrPercent::Percent(30));
    // A bare pod with the same label: selected (and healthy) but no controller's scale.
    let bare = Pod {
        metadata: ObjectMeta {
            labels: web.spec.template.labels.clone(),
            ..ObjectMeta::named("default", "bare")
        },
        spec: web.spec.template.spec.clone(),
        status: Default::default(),
    };
    cluster.schedule_action(
        at(1),
        Action::Apply(vec![web.into(), bare.into(), budget.into()]),
    );
    run_until(&mut cluster, at(30));
    let status = &cluster
        .objects::<PodDisruptionBudget>()
        .next()
        .expect("the budget")
        .status;
    assert_eq!(
        (
            status.expected_pods,
            status.desired_healthy,
            status.current_healthy,
            status.disruptions_allowed
        ),
        (4, 2, 5, 3),
        "{status:?}"
    );
    let condition = status
        .disruption_allowed_condition
        .as_ref()
        .expect("the DisruptionAllowed condition");
    assert_eq!(&*condition.reason, "SufficientPods");
}
