//! Runs the `scale` workload once and prints what it cost: events, wall time, events per
//! second, speed-up over real time, and peak memory (from /proc/self/status).
//!
//! `cargo run --release --example scale -- [NODES] [DEPLOYMENTS] [REPLICAS] [SIM_SECONDS]`
//! (defaults: 1000 1000 30 3600).
//!
//! `--rollout SECONDS` also changes every Deployment's image at that simulated second (a
//! rolling update of all of them at once) and reports when the last one completed.
//!
//! `--apiservers N` runs N kube-apiserver replicas behind the load balancer (one per
//! control-plane host) instead of one.
//!
//! `--etcd N` runs an etcd cluster of N members (1, 3 or 5), each on its own host,
//! instead of the one member on the control-plane host.
//!
//! `--probes` gives every pod a readiness and a liveness httpGet probe (upstream
//! defaults: every 10 s).

use components::api::Deployment;
use components::cluster::Cluster;
use components::controllers::deployment::deployment_complete;
use components::fixtures;
use components::kubectl::Action;
use sim_core::{RunLimits, SimDuration, SimTime};

#[path = "../src/allocator.rs"]
mod allocator;

#[global_allocator]
static ALLOCATOR: allocator::Allocator = allocator::Allocator;

// The example measures the run from outside it: the wall clock is the point.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
fn main() {
    let mut words: Vec<String> = std::env::args().skip(1).collect();
    let tally = words.iter().any(|a| a == "--tally");
    words.retain(|a| a != "--tally");
    let probes = words.iter().any(|a| a == "--probes");
    words.retain(|a| a != "--probes");
    let rollout_at = words.iter().position(|a| a == "--rollout").map(|i| {
        let seconds = words
            .get(i + 1)
            .and_then(|s| s.parse::<u64>().ok())
            .expect("--rollout SECONDS");
        words.drain(i..i + 2);
        seconds
    });
    let apiservers = words.iter().position(|a| a == "--apiservers").map(|i| {
        let count = words
            .get(i + 1)
            .and_then(|s| s.parse::<u32>().ok())
            .expect("--apiservers COUNT");
        words.drain(i..i + 2);
        count
    });
    let etcd_members = words.iter().position(|a| a == "--etcd").map(|i| {
        let count = words
            .get(i + 1)
            .and_then(|s| s.parse::<usize>().ok())
            .expect("--etcd MEMBERS");
        words.drain(i..i + 2);
        count
    });
    let args: Vec<u64> = words
        .iter()
        .map(|a| {
            a.parse()
                .expect("numbers: NODES DEPLOYMENTS REPLICAS SIM_SECONDS")
        })
        .collect();
    let arg = |i: usize, default: u64| args.get(i).copied().unwrap_or(default);
    let (nodes, deployments, replicas, sim_seconds) =
        (arg(0, 1000), arg(1, 1000), arg(2, 30), arg(3, 3600));
    let started = std::time::Instant::now();
    let workload = fixtures::Scale {
        nodes: nodes as u32,
        deployments: deployments as u32,
        replicas: replicas as u32,
        probes,
    };
    let (mut config, objects) = workload.build();
    if let Some(count) = apiservers {
        config.control_plane.apiservers = count;
    }
    if let Some(members) = etcd_members {
        config.etcd.members = members;
    }
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
    let end = SimTime::ZERO + SimDuration::from_secs(sim_seconds);
    let mut rollout_done = None;
    if let Some(at) = rollout_at {
        let at = SimTime::ZERO + SimDuration::from_secs(at);
        cluster.schedule_action(
            at,
            Action::Apply(workload.deployments_running(fixtures::SCALE_ROLLOUT_IMAGE)),
        );
        // Step one simulated second at a time from the update until every Deployment
        // has completed its rollout to the new image.
        let mut now = at;
        while now < end && rollout_done.is_none() {
            now += SimDuration::from_secs(1);
            cluster.run(RunLimits {
                until: now,
                events_max: u64::MAX,
            });
            if rolled_out(&cluster, deployments as usize) {
                rollout_done = Some(now.saturating_since(at));
            }
        }
    }
    let outcome = cluster.run(RunLimits {
        until: end,
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
    if rollout_at.is_some() {
        match rollout_done {
            Some(took) => println!("rolling update of every Deployment completed in {took}"),
            None => println!("rolling update not complete at the end of the run"),
        }
    }
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

/// Every Deployment runs the rollout image and is complete (`DeploymentComplete`).
fn rolled_out(cluster: &Cluster, deployments: usize) -> bool {
    let mut complete = 0;
    for d in cluster.objects::<Deployment>() {
        let image = &d.spec.template.spec.containers[0].image;
        if &**image != fixtures::SCALE_ROLLOUT_IMAGE
            || d.status.observed_generation < d.metadata.generation
            || !deployment_complete(d, &d.status)
        {
            return false;
        }
        complete += 1;
    }
    complete == deployments
}
