//! Runs the `scale` workload once and prints what it cost: events, wall time, events per
//! second, speed-up over real time, and peak memory (from /proc/self/status).
//!
//! `cargo run --release --example scale -- [NODES] [DEPLOYMENTS] [REPLICAS] [SIM_SECONDS]`
//! (defaults: 1000 1000 30 3600).

use components::cluster::Cluster;
use components::fixtures;
use components::kubectl::Action;
use sim_core::{RunLimits, SimDuration, SimTime};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// The example measures the run from outside it: the wall clock is the point.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
fn main() {
    let tally = std::env::args().any(|a| a == "--tally");
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter(|a| a != "--tally")
        .map(|a| {
            a.parse()
                .expect("numbers: NODES DEPLOYMENTS REPLICAS SIM_SECONDS")
        })
        .collect();
    let arg = |i: usize, default: u64| args.get(i).copied().unwrap_or(default);
    let (nodes, deployments, replicas, sim_seconds) =
        (arg(0, 1000), arg(1, 1000), arg(2, 30), arg(3, 3600));
    let started = std::time::Instant::now();
    let (config, objects) = fixtures::scale(nodes as u32, deployments as u32, replicas as u32);
    let mut cluster = Cluster::build(&config, 1, false);
    cluster.schedule_action(
        SimTime::ZERO + SimDuration::from_secs(1),
        Action::Apply(objects),
    );
    // With --tally, count events by label and receiving component.
    let counts = std::rc::Rc::new(std::cell::RefCell::new(std::collections::BTreeMap::<
        (String, &'static str),
        u64,
    >::new()));
    if tally {
        let names: Vec<String> = (0..cluster.sim.actor_count())
            .map(|i| {
                let name = cluster.sim.actor_name(sim_core::ActorId(i as u32));
                name.split('/').next().unwrap_or(name).to_string()
            })
            .collect();
        let counts = counts.clone();
        cluster.sim.set_event_sink(Box::new(move |event| {
            let actor = event
                .actor
                .map_or("-".to_string(), |a| names[a.index()].clone());
            *counts.borrow_mut().entry((actor, event.label)).or_default() += 1;
        }));
    }
    let outcome = cluster.run(RunLimits {
        until: SimTime::ZERO + SimDuration::from_secs(sim_seconds),
        events_max: u64::MAX,
    });
    let wall = started.elapsed().as_secs_f64();
    let events = cluster.sim.events_processed();
    let state = cluster.state();
    let pods: u32 = state.pods_by_phase.values().sum();
    let running = state.pods_by_phase.get("Running").copied().unwrap_or(0);
    let peak = fixtures::peak_rss_bytes();
    println!("outcome: {outcome:?}");
    println!("nodes: {nodes} ready {}", state.nodes_ready);
    println!("pods: {pods} ({running} running)");
    println!("events: {events}");
    println!("wall: {wall:.3} s  ({:.0} events/s)", events as f64 / wall);
    println!("speed-up over real time: {:.0}x", sim_seconds as f64 / wall);
    println!(
        "peak memory: {:.1} MiB ({:.1} KiB per pod, {:.1} KiB per node)",
        peak as f64 / (1 << 20) as f64,
        peak as f64 / 1024.0 / f64::from(pods.max(1)),
        peak as f64 / 1024.0 / nodes.max(1) as f64
    );
    println!("trace hash: {:016x}", cluster.sim.trace_hash());
    println!(
        "pending events at the end: {}",
        cluster.sim.pending_events()
    );
    let mut rows: Vec<_> = counts
        .borrow()
        .iter()
        .map(|(k, v)| (*v, k.clone()))
        .collect();
    rows.sort_by_key(|row| std::cmp::Reverse(row.0));
    for (count, (actor, label)) in rows {
        println!("{count:>10}  {actor:<24} {label}");
    }
}
