//! The scheduler alone: 30,000 pending pods (1,000 ReplicaSets of 30) scheduled one after
//! another onto 5,000 nodes in three zones with the default profile, each assumed onto
//! its node before the next, through the same entry point as the in-cluster scheduler
//! and `kubesim schedule`. Pods of a ReplicaSet get upstream's system-default spreading
//! (hostname and zone), as they would in a cluster.
//!
//! Target (issue: the scheduler at upstream fidelity): at least 20,000 pods per second.
//! Run: `cargo bench --bench schedule`

use std::rc::Rc;

use components::api::{LabelSelector, Labels, ObjectMeta, Pod, PodStatus, ResourceList, s};
use components::fixtures::{self, deployment, node_pool, ready_node};
use components::scheduler::cache::Cache;
use components::scheduler::plugins::PodInfo;
use components::scheduler::profile::Profile;
use components::scheduler::schedule_one::{CycleInput, Scratch, Selection, schedule_pod};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sim_core::SimRng;

#[path = "../src/allocator.rs"]
mod allocator;

#[global_allocator]
static ALLOCATOR: allocator::Allocator = allocator::Allocator;

const NODES: u32 = 5_000;
const REPLICA_SETS: u32 = 1_000;
const REPLICAS: u32 = 30;

/// The nodes, with every ReplicaSet's selector known to the cache.
fn snapshot() -> Cache {
    let mut cache = Cache::default();
    let zones = ["zone-a", "zone-b", "zone-c"];
    for index in 0..NODES {
        let zone = zones[(index % 3) as usize];
        let pool = node_pool(&format!("node-{zone}"), 1, Some(zone));
        let node = ready_node(&pool, &format!("node-{index:05}"), index);
        cache.set_node(Rc::new(node));
    }
    for set in 0..REPLICA_SETS {
        let labels = Labels::from_pairs([("app", format!("app-{set:04}"))]);
        cache.set_workload(
            "ReplicaSet",
            s("default"),
            s(&format!("app-{set:04}")),
            Some(LabelSelector::from_labels(labels)),
        );
    }
    cache.refresh();
    cache
}

/// The pending pods, in creation order: requests vary by ReplicaSet (100m–1 CPU,
/// 128Mi–1Gi) so nodes fill unevenly and scores differ.
fn pods() -> Vec<PodInfo> {
    let mut pods = Vec::new();
    for set in 0..REPLICA_SETS {
        let name = format!("app-{set:04}");
        let requests = ResourceList {
            cpu_millicores: Some(100 + u64::from(set % 10) * 100),
            memory_bytes: Some((128 + u64::from(set % 8) * 128) << 20),
            ..ResourceList::default()
        };
        let template = deployment("default", &name, REPLICAS, "nginx:1.14.2", requests)
            .spec
            .template;
        for replica in 0..REPLICAS {
            let mut metadata = ObjectMeta::named("default", &format!("{name}-{replica:02}"));
            metadata.uid = u64::from(set * REPLICAS + replica) + 1;
            metadata.labels = template.labels.clone();
            let pod = Pod {
                metadata,
                spec: template.spec.clone(),
                status: PodStatus::default(),
            };
            pods.push(PodInfo::new(Rc::new(pod)));
        }
    }
    pods
}

/// Schedules every pod in order; returns how many were placed.
fn schedule_all(mut cache: Cache, pods: &[PodInfo], profile: &Profile) -> usize {
    let mut rng = SimRng::for_stream(1, "kube-scheduler");
    let mut scratch = Scratch::default();
    let mut start = 0;
    let mut placed = 0;
    for pod in pods {
        cache.refresh();
        let input = CycleInput {
            profile,
            percentage_of_nodes_to_score: 0,
            start,
            explain: false,
        };
        let outcome = schedule_pod(input, pod, &cache, &mut rng, &mut scratch);
        start = (start + outcome.processed) % cache.node_count();
        if let Selection::Node { node, .. } = outcome.selection {
            cache.assume(pod, node);
            placed += 1;
        }
    }
    placed
}

fn schedule(c: &mut Criterion) {
    let profile = Profile::default();
    let pods = pods();
    let cache = snapshot();
    let placed = schedule_all(cache, &pods, &profile);
    assert_eq!(placed, pods.len(), "every pod fits somewhere");
    println!(
        "schedule: {placed} pods onto {NODES} nodes; peak memory {:.1} MiB",
        fixtures::peak_rss_bytes() as f64 / f64::from(1 << 20)
    );
    let mut group = c.benchmark_group("scheduler");
    group.throughput(Throughput::Elements(pods.len() as u64));
    group.sample_size(10);
    group.bench_function("30k_pods_5k_nodes", |b| {
        b.iter_batched(
            snapshot,
            |cache| schedule_all(cache, &pods, &profile),
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, schedule);
criterion_main!(benches);
