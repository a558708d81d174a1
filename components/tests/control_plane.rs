//! The API server over etcd, driven by kubectl: creates, conflicts, watches.

use components::api::{Deployment, LabelSelector, Labels, s};
use components::cluster::{Cluster, ClusterConfig};
use components::fixtures;
use components::kubectl::Action;
use sim_core::SimDuration;

mod common;

use common::at;

fn deployment(name: &str, replicas: u32) -> Deployment {
    fixtures::deployment(
        "default",
        name,
        replicas,
        "nginx:1.14.2",
        Default::default(),
    )
}

#[test]
fn apply_creates_then_scale_updates_through_etcd() {
    let mut cluster = Cluster::build(&ClusterConfig::default(), 1, true);
    cluster.schedule_action(at(1), Action::Apply(vec![deployment("web", 3).into()]));
    cluster.schedule_action(
        at(2),
        Action::Scale {
            kind: components::api::Kind::Deployment,
            namespace: s("default"),
            name: s("web"),
            replicas: 5,
        },
    );
    // Applying the same manifest again updates it back.
    cluster.schedule_action(at(3), Action::Apply(vec![deployment("web", 4).into()]));
    cluster.sim.run_for(SimDuration::from_secs(5));
    let stored: Vec<_> = cluster.objects::<Deployment>().collect();
    assert_eq!(stored.len(), 1);
    let web = &stored[0];
    assert_eq!(web.spec.replicas, 4);
    assert_eq!(
        web.metadata.generation, 3,
        "two spec changes after the create"
    );
    assert_ne!(web.metadata.uid, 0);
    // System namespaces exist.
    let namespaces = cluster
        .etcd()
        .objects(components::api::Kind::Namespace)
        .count();
    assert_eq!(namespaces, 4);
    let steps: Vec<_> = cluster.steps().map(|r| r.detail.clone()).collect();
    assert!(
        steps
            .iter()
            .any(|d| d.contains("deployment/default/web created")),
        "{steps:#?}"
    );
}

#[test]
fn create_in_a_missing_namespace_is_404_and_recorded() {
    let mut cluster = Cluster::build(&ClusterConfig::default(), 1, true);
    let mut stray = deployment("stray", 1);
    stray.metadata.namespace = s("nowhere");
    cluster.schedule_action(at(1), Action::Apply(vec![stray.into()]));
    cluster.sim.run_for(SimDuration::from_secs(2));
    assert_eq!(cluster.objects::<Deployment>().count(), 0);
    assert!(
        cluster
            .sim
            .records()
            .iter()
            .any(|r| r.detail.contains("namespaces \"nowhere\" not found"))
    );
}

#[test]
fn a_selector_that_does_not_match_the_template_is_invalid() {
    let mut cluster = Cluster::build(&ClusterConfig::default(), 1, true);
    let mut bad = deployment("bad", 1);
    bad.spec.selector = LabelSelector::from_labels(Labels::from_pairs([("app", "other")]));
    cluster.schedule_action(at(1), Action::Apply(vec![bad.into()]));
    cluster.sim.run_for(SimDuration::from_secs(2));
    assert_eq!(cluster.objects::<Deployment>().count(), 0);
    assert!(
        cluster
            .sim
            .records()
            .iter()
            .any(|r| r.detail.contains("422") && r.detail.contains("selector"))
    );
}
