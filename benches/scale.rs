//! `scale-1k`: 1,000 nodes, 30,000 pods in 1,000 Deployments, one simulated hour of
//! leases, node status and watches. Target: ≤ 3.6 s of wall time (1,000× real time).
//! Also 100 and 300 nodes (30 pods per node), to show how time grows with size.
//!
//! Run: `cargo bench --bench scale`. Memory: `cargo run --release --example scale`.

use components::cluster::Cluster;
use components::fixtures;
use components::kubectl::Action;
use criterion::{Criterion, criterion_group, criterion_main};
use sim_core::{RunLimits, SimDuration, SimTime};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn run(nodes: u32, deployments: u32) -> u64 {
    let (config, objects) = fixtures::scale(nodes, deployments, 30);
    let mut cluster = Cluster::build(&config, 1, false);
    cluster.schedule_action(
        SimTime::ZERO + SimDuration::from_secs(1),
        Action::Apply(objects),
    );
    cluster.run(RunLimits {
        until: SimTime::ZERO + SimDuration::from_secs(3600),
        events_max: u64::MAX,
    });
    cluster.sim.events_processed()
}

fn scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("scale");
    group.sample_size(10);
    for (label, nodes, deployments) in [
        ("scale-100", 100, 100),
        ("scale-300", 300, 300),
        ("scale-1k", 1000, 1000),
    ] {
        let events = run(nodes, deployments);
        println!("{label}: {events} events per simulated hour");
        group.bench_function(label, |b| b.iter(|| run(nodes, deployments)));
    }
    group.finish();
}

criterion_group!(benches, scale);
criterion_main!(benches);
