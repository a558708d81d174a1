//! `scale-1k`: 1,000 nodes, 30,000 pods in 1,000 Deployments, one simulated hour of
//! leases, node status and watches. Target: ≤ 3.6 s of wall time (1,000× real time).
//! Also 100 and 300 nodes (30 pods per node), to show how time grows with size, and
//! `scale-1k-rollout`: the same hour with every Deployment's image changed at 300 s, a
//! rolling update of all 1,000 at once (issue 5's target: ≥ 500× real time, ≤ 7.2 s),
//! and `scale-1k-probes`: the hour with a readiness and a liveness probe on every pod
//! (issue 6's target: ≥ 500× real time, ≤ 1.5 GiB).
//!
//! Run: `cargo bench --bench scale`. Memory and the rollout's simulated duration:
//! `cargo run --release --example scale [-- 1000 1000 30 3600 --rollout 300]`.

use components::cluster::Cluster;
use components::fixtures;
use components::kubectl::Action;
use criterion::{Criterion, criterion_group, criterion_main};
use sim_core::{RunLimits, SimDuration, SimTime};

#[path = "../src/allocator.rs"]
mod allocator;

#[global_allocator]
static ALLOCATOR: allocator::Allocator = allocator::Allocator;

/// One simulated hour; with `rollout_at`, every Deployment's image changes then.
fn run(nodes: u32, deployments: u32, rollout_at: Option<u64>, probes: bool) -> u64 {
    let workload = fixtures::Scale {
        nodes,
        deployments,
        replicas: 30,
        probes,
    };
    let (config, objects) = workload.build();
    let mut cluster = Cluster::build(&config, 1, false);
    cluster.schedule_action(
        SimTime::ZERO + SimDuration::from_secs(1),
        Action::Apply(objects),
    );
    if let Some(at) = rollout_at {
        cluster.schedule_action(
            SimTime::ZERO + SimDuration::from_secs(at),
            Action::Apply(workload.deployments_running(fixtures::SCALE_ROLLOUT_IMAGE)),
        );
    }
    cluster.run(RunLimits {
        until: SimTime::ZERO + SimDuration::from_secs(3600),
        events_max: u64::MAX,
    });
    cluster.sim.events_processed()
}

fn scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("scale");
    group.sample_size(10);
    for (label, nodes, deployments, rollout_at, probes) in [
        ("scale-100", 100, 100, None, false),
        ("scale-300", 300, 300, None, false),
        ("scale-1k", 1000, 1000, None, false),
        ("scale-1k-rollout", 1000, 1000, Some(300), false),
        ("scale-1k-probes", 1000, 1000, None, true),
    ] {
        let events = run(nodes, deployments, rollout_at, probes);
        println!("{label}: {events} events per simulated hour");
        group.bench_function(label, |b| {
            b.iter(|| run(nodes, deployments, rollout_at, probes))
        });
    }
    group.finish();
}

criterion_group!(benches, scale);
criterion_main!(benches);
