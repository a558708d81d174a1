//! Engine throughput: a ping-pong between 1,000 actors (500 pairs) spread over 10 hosts.
//!
//! Target (issue: the deterministic engine): at least 10 million events per second.
//! Run: `cargo bench --bench engine`

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sim_core::{
    Actor, ActorId, Context, Event, HostId, Link, Message, RunLimits, SimDuration, SimTime,
    Simulation, TraceHasher,
};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ACTORS: u32 = 1_000;
const HOSTS: u32 = 10;
const EVENTS: u64 = 2_000_000;

struct Ball(u64);

impl Message for Ball {
    fn label(&self) -> &'static str {
        "Ball"
    }
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        hasher.write_u64(self.0);
    }
}

struct Player {
    partner: ActorId,
    serves: bool,
}

impl Actor<Ball> for Player {
    fn on_event(&mut self, event: Event<Ball>, cx: &mut Context<'_, Ball>) {
        match event {
            Event::Start if self.serves => cx.send(self.partner, Ball(0)),
            Event::Start | Event::Timer(_) => {}
            Event::Message { msg: Ball(n), .. } => cx.send(self.partner, Ball(n + 1)),
        }
    }
    fn on_crash(&mut self) {}
}

fn build() -> Simulation<Ball> {
    let mut sim = Simulation::new(42);
    sim.network_mut().set_default_link(Link {
        latency: SimDuration::from_micros(100),
        jitter: SimDuration::from_micros(20),
        loss_per_million: 0,
    });
    let hosts: Vec<HostId> = (0..HOSTS)
        .map(|h| sim.add_host(format!("host-{h}")))
        .collect();
    for i in 0..ACTORS {
        // Partners sit on different hosts, so every message crosses the network.
        let partner = ActorId(i ^ 1);
        sim.add_actor(
            hosts[(i % HOSTS) as usize],
            format!("player-{i}"),
            Box::new(Player {
                partner,
                serves: i % 2 == 0,
            }),
        );
    }
    sim
}

fn ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(10);
    // Building the 1,000 actors (names, RNG streams) is set-up, not events: it stays
    // outside the measured time.
    group.bench_function("ping_pong_1000_actors", |b| {
        b.iter_batched(
            build,
            |mut sim| {
                sim.run(RunLimits {
                    until: SimTime::MAX,
                    events_max: EVENTS,
                });
                assert_eq!(sim.events_processed(), EVENTS);
                sim.trace_hash()
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, ping_pong);
criterion_main!(benches);
