//! Engine behaviour: queue order, crash and restart, partitions, determinism.

use sim_core::{
    Actor, ActorId, Context, Cut, Event, Fault, HostId, Message, RunLimits, RunOutcome,
    SimDuration, SimTime, Simulation, TraceHasher,
};

#[derive(Debug, Clone)]
enum Msg {
    Note(u32),
    Ping(u32),
}

impl Message for Msg {
    fn label(&self) -> &'static str {
        match self {
            Msg::Note(_) => "Note",
            Msg::Ping(_) => "Ping",
        }
    }
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            Msg::Note(n) | Msg::Ping(n) => hasher.write_u64(u64::from(*n)),
        }
    }
}

/// Remembers what it saw; on start, sets the timers it was given.
#[derive(Default)]
struct Probe {
    timers_on_start: Vec<(SimDuration, u32)>,
    seen: Vec<(SimTime, String)>,
    starts: u32,
    volatile_count: u32,
}

impl Actor<Msg> for Probe {
    fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
        match event {
            Event::Start => {
                self.starts += 1;
                for &(after, n) in &self.timers_on_start {
                    cx.timer(after, Msg::Note(n));
                }
            }
            Event::Timer(Msg::Note(n))
            | Event::Message {
                msg: Msg::Note(n), ..
            } => {
                self.volatile_count += 1;
                self.seen.push((cx.now(), format!("note {n}")));
            }
            Event::Timer(Msg::Ping(n))
            | Event::Message {
                msg: Msg::Ping(n), ..
            } => {
                self.seen.push((cx.now(), format!("ping {n}")));
            }
        }
    }
    fn on_crash(&mut self) {
        self.volatile_count = 0;
    }
}

fn probe(sim: &Simulation<Msg>, id: ActorId) -> &Probe {
    sim.actor::<Probe>(id).expect("a probe")
}

#[test]
fn events_at_the_same_instant_run_in_insertion_order() {
    let mut sim = Simulation::new(1);
    let host = sim.add_host("h");
    let mut actor = Probe::default();
    for n in 0..5 {
        actor.timers_on_start.push((SimDuration::from_secs(1), n));
    }
    actor
        .timers_on_start
        .push((SimDuration::from_millis(500), 99));
    let id = sim.add_actor(host, "probe", Box::new(actor));
    sim.run_for(SimDuration::from_secs(2));
    let seen: Vec<_> = probe(&sim, id)
        .seen
        .iter()
        .map(|(_, s)| s.as_str())
        .collect();
    assert_eq!(
        seen,
        ["note 99", "note 0", "note 1", "note 2", "note 3", "note 4"]
    );
}

#[test]
fn crash_drops_timers_and_memory_and_restart_sends_start() {
    let mut sim = Simulation::new(1);
    let host = sim.add_host("node");
    let actor = Probe {
        timers_on_start: vec![
            (SimDuration::from_secs(1), 1),
            (SimDuration::from_secs(10), 2),
        ],
        ..Probe::default()
    };
    let id = sim.add_actor(host, "probe", Box::new(actor));
    sim.schedule_fault(
        SimTime::ZERO + SimDuration::from_secs(5),
        Fault::CrashHost(host),
    );
    sim.schedule_fault(
        SimTime::ZERO + SimDuration::from_secs(7),
        Fault::RestartHost(host),
    );
    sim.run_for(SimDuration::from_secs(30));
    let p = probe(&sim, id);
    assert_eq!(p.starts, 2);
    let seen: Vec<_> = p.seen.iter().map(|(t, s)| format!("{t} {s}")).collect();
    // The 10 s timer set before the crash never fires; after the restart at 7 s the
    // timers are set again from then.
    assert_eq!(seen, ["1.000s note 1", "8.000s note 1", "17.000s note 2"]);
    assert_eq!(p.volatile_count, 2, "memory was lost at the crash");
    assert!(sim.deliveries_dropped() >= 1);
}

#[test]
fn a_host_added_powered_off_starts_only_at_its_power_on() {
    let mut sim = Simulation::new(1);
    let up = sim.add_host("up");
    let joining = sim.add_host_powered_off("joining");
    assert!(!sim.host(joining).up);
    let sender = sim.add_actor(up, "sender", Box::new(Probe::default()));
    let actor = Probe {
        timers_on_start: vec![(SimDuration::from_secs(1), 1)],
        ..Probe::default()
    };
    let id = sim.add_actor(joining, "late", Box::new(actor));
    let at = |secs| SimTime::ZERO + SimDuration::from_secs(secs);
    let run_until = |sim: &mut Simulation<Msg>, secs| {
        sim.run(RunLimits {
            until: at(secs),
            events_max: u64::MAX,
        })
    };
    // Neither a message nor a crash nor a restart reaches a host that never ran.
    sim.schedule_timer(at(2), id, Msg::Ping(7));
    sim.schedule_fault(at(3), Fault::CrashHost(joining));
    sim.schedule_fault(at(4), Fault::RestartHost(joining));
    run_until(&mut sim, 9);
    assert_eq!(probe(&sim, id).starts, 0);
    assert!(probe(&sim, id).seen.is_empty());
    assert!(!sim.host(joining).up);
    assert_eq!(probe(&sim, sender).starts, 1);

    sim.schedule_fault(at(10), Fault::PowerOnHost(joining));
    // A second power-on of a host that is up, or after it crashed, boots nothing.
    sim.schedule_fault(at(12), Fault::PowerOnHost(joining));
    run_until(&mut sim, 15);
    assert!(sim.host(joining).up);
    let p = probe(&sim, id);
    assert_eq!(p.starts, 1);
    let seen: Vec<_> = p.seen.iter().map(|(t, s)| format!("{t} {s}")).collect();
    assert_eq!(seen, ["11.000s note 1"]);
    sim.schedule_fault(at(20), Fault::CrashHost(joining));
    sim.schedule_fault(at(21), Fault::PowerOnHost(joining));
    run_until(&mut sim, 25);
    assert!(
        !sim.host(joining).up,
        "only a restart brings a crashed host back"
    );
    sim.schedule_fault(at(30), Fault::RestartHost(joining));
    run_until(&mut sim, 35);
    assert_eq!(probe(&sim, id).starts, 2);
}

/// Sends a ping to a peer each second.
struct Pinger {
    peer: Option<ActorId>,
    sent: u32,
}

impl Actor<Msg> for Pinger {
    fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
        match event {
            Event::Start => cx.timer(SimDuration::from_secs(1), Msg::Note(0)),
            Event::Timer(_) => {
                if let Some(peer) = self.peer {
                    self.sent += 1;
                    cx.send(peer, Msg::Ping(self.sent));
                }
                cx.timer(SimDuration::from_secs(1), Msg::Note(0));
            }
            Event::Message { .. } => {}
        }
    }
    fn on_crash(&mut self) {}
}

#[test]
fn partition_drops_messages_until_healed() {
    let mut sim = Simulation::new(3);
    let a = sim.add_host("a");
    let b = sim.add_host("b");
    let receiver = sim.add_actor(b, "receiver", Box::new(Probe::default()));
    sim.add_actor(
        a,
        "pinger",
        Box::new(Pinger {
            peer: Some(receiver),
            sent: 0,
        }),
    );
    let at = |s| SimTime::ZERO + SimDuration::from_millis(s);
    sim.schedule_fault(at(2_500), Fault::Partition(Cut::Link(a, b)));
    sim.schedule_fault(at(5_500), Fault::Heal(None));
    sim.run_for(SimDuration::from_millis(7_900));
    let got: Vec<_> = probe(&sim, receiver)
        .seen
        .iter()
        .map(|(_, s)| s.clone())
        .collect();
    assert_eq!(got, ["ping 1", "ping 2", "ping 6", "ping 7"]);
    assert_eq!(sim.network().dropped_count(), 3);
}

fn ring(seed: u64, actors: u32) -> Simulation<Msg> {
    let mut sim = Simulation::new(seed);
    let hosts: Vec<HostId> = (0..4).map(|i| sim.add_host(format!("h{i}"))).collect();
    for i in 0..actors {
        let peer = ActorId((i + 1) % actors);
        sim.add_actor(
            hosts[(i % 4) as usize],
            format!("pinger-{i}"),
            Box::new(Pinger {
                peer: Some(peer),
                sent: 0,
            }),
        );
    }
    sim
}

#[test]
fn same_seed_same_hash_other_seed_other_hash() {
    let run = |seed| {
        let mut sim = ring(seed, 20);
        let outcome = sim.run_for(SimDuration::from_secs(20));
        assert_eq!(outcome, RunOutcome::TimeReached);
        (sim.trace_hash(), sim.events_processed())
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7).0, run(8).0);
}

#[test]
fn event_bound_is_reported() {
    let mut sim = ring(1, 4);
    let outcome = sim.run(sim_core::RunLimits {
        until: SimTime::MAX,
        events_max: 100,
    });
    assert!(matches!(
        outcome,
        RunOutcome::EventBound { events: 100, .. }
    ));
}

#[test]
fn invariant_failure_stops_the_run_at_the_first_violation() {
    let mut sim = Simulation::new(1);
    let host = sim.add_host("h");
    let actor = Probe {
        timers_on_start: (1..=5)
            .map(|n| (SimDuration::from_secs(u64::from(n)), n))
            .collect(),
        ..Probe::default()
    };
    let id = sim.add_actor(host, "probe", Box::new(actor));
    sim.add_invariant(
        "fewer than three notes",
        Box::new(move |sim| {
            let count = sim.actor::<Probe>(id).unwrap().seen.len();
            if count < 3 {
                Ok(())
            } else {
                Err(format!("{count} notes"))
            }
        }),
    );
    let RunOutcome::InvariantViolated(violation) = sim.run_for(SimDuration::from_secs(10)) else {
        panic!("the invariant must fail")
    };
    assert_eq!(violation.time, SimTime::ZERO + SimDuration::from_secs(3));
    assert_eq!(violation.message, "3 notes");
}

#[test]
fn an_invariant_over_some_actors_runs_only_after_their_events() {
    let mut sim = Simulation::new(1);
    let host = sim.add_host("h");
    let seconds = |n: u32| {
        (1..=n)
            .map(|k| (SimDuration::from_secs(u64::from(k)), k))
            .collect()
    };
    let watched = sim.add_actor(
        host,
        "watched",
        Box::new(Probe {
            timers_on_start: seconds(2),
            ..Probe::default()
        }),
    );
    let other = sim.add_actor(
        host,
        "other",
        Box::new(Probe {
            timers_on_start: seconds(5),
            ..Probe::default()
        }),
    );
    let runs = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let counted = runs.clone();
    sim.add_invariant_over(
        "counts its runs",
        &[watched],
        Box::new(move |_| {
            counted.set(counted.get() + 1);
            Ok(())
        }),
    );
    let all_runs = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let counted_all = all_runs.clone();
    sim.add_invariant(
        "runs after everything",
        Box::new(move |_| {
            counted_all.set(counted_all.get() + 1);
            Ok(())
        }),
    );
    sim.run_for(SimDuration::from_secs(3));
    assert_eq!(sim.actor::<Probe>(other).unwrap().seen.len(), 3);
    // The watched actor's start and its two timers; nothing of the other's.
    assert_eq!(runs.get(), 3);
    // Both starts, two timers and three timers.
    assert_eq!(all_runs.get(), 7);
    // A fault may change anyone's state: every invariant runs after it.
    sim.schedule_fault(
        SimTime::ZERO + SimDuration::from_secs(4),
        sim_core::Fault::CrashHost(host),
    );
    sim.run_for(SimDuration::from_secs(2));
    assert_eq!(runs.get(), 4);
}

/// Sends a note to `to` every second, numbered from 1.
struct Ticker {
    to: ActorId,
    sent: u32,
}

impl Actor<Msg> for Ticker {
    fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
        if !matches!(event, Event::Start | Event::Timer(_)) {
            return;
        }
        if matches!(event, Event::Timer(_)) {
            self.sent += 1;
            cx.send(self.to, Msg::Note(self.sent));
        }
        cx.timer(SimDuration::from_secs(1), Msg::Ping(0));
    }
    fn on_crash(&mut self) {}
}

#[test]
fn one_actor_crashes_and_restarts_while_its_host_and_neighbours_run() {
    let mut sim = Simulation::new(1);
    let host = sim.add_host("node");
    let at = |millis| SimTime::ZERO + SimDuration::from_millis(millis);
    // The probe's 10 s timer is pending when it crashes; a neighbour on the same host
    // keeps its own 6 s timer.
    let crashing = Probe {
        timers_on_start: vec![(SimDuration::from_secs(10), 1)],
        ..Probe::default()
    };
    let id = sim.add_actor(host, "crashing", Box::new(crashing));
    let neighbour = Probe {
        timers_on_start: vec![(SimDuration::from_secs(6), 7)],
        ..Probe::default()
    };
    let neighbour = sim.add_actor(host, "neighbour", Box::new(neighbour));
    let ticker = sim.add_actor(host, "ticker", Box::new(Ticker { to: id, sent: 0 }));
    sim.schedule_fault(at(3_500), Fault::CrashActor(id));
    // A second crash of a crashed actor does nothing (its memory is not lost twice).
    sim.schedule_fault(at(4_000), Fault::CrashActor(id));
    sim.schedule_fault(at(5_500), Fault::RestartActor(id));
    // Restarting a running actor does nothing.
    sim.schedule_fault(at(5_600), Fault::RestartActor(id));
    sim.run(RunLimits {
        until: at(5_000),
        events_max: u64::MAX,
    });
    assert!(!sim.actor_up(id));
    assert!(sim.actor_up(neighbour) && sim.host(host).up);
    sim.run_for(SimDuration::from_millis(12_500));

    let p = probe(&sim, id);
    assert_eq!(p.starts, 2, "started at 0 s and at its restart");
    let seen: Vec<_> = p.seen.iter().map(|(t, s)| format!("{t} {s}")).collect();
    // Notes 4 and 5 arrive while it is down and are lost; its 10 s timer from the first
    // start never fires; the one set at the restart fires at 15.5 s.
    assert_eq!(
        seen,
        [
            "1.000s note 1",
            "2.000s note 2",
            "3.000s note 3",
            "6.000s note 6",
            "7.000s note 7",
            "8.000s note 8",
            "9.000s note 9",
            "10.000s note 10",
            "11.000s note 11",
            "12.000s note 12",
            "13.000s note 13",
            "14.000s note 14",
            "15.000s note 15",
            "15.500s note 1",
            "16.000s note 16",
            "17.000s note 17",
        ]
    );
    assert_eq!(p.volatile_count, 13, "memory was lost once, at 3.5 s");
    let n = probe(&sim, neighbour);
    assert_eq!(
        (n.starts, n.seen.len()),
        (1, 1),
        "the neighbour never noticed"
    );
    assert_eq!(sim.actor::<Ticker>(ticker).unwrap().sent, 17);
    assert_eq!(
        sim.deliveries_dropped(),
        3,
        "notes 4 and 5 and the 10 s timer"
    );
}

#[test]
fn a_host_restart_starts_an_actor_that_had_crashed_alone() {
    let mut sim = Simulation::new(1);
    let host = sim.add_host("node");
    let at = |secs| SimTime::ZERO + SimDuration::from_secs(secs);
    let actor = Probe {
        timers_on_start: vec![(SimDuration::from_secs(1), 1)],
        ..Probe::default()
    };
    let id = sim.add_actor(host, "probe", Box::new(actor));
    let other = sim.add_actor(host, "other", Box::new(Probe::default()));
    sim.schedule_fault(at(5), Fault::CrashActor(id));
    sim.schedule_fault(at(10), Fault::CrashHost(host));
    // The host is down: the actor cannot start alone.
    sim.schedule_fault(at(12), Fault::RestartActor(id));
    sim.schedule_fault(at(20), Fault::RestartHost(host));
    sim.run_for(SimDuration::from_secs(30));
    let p = probe(&sim, id);
    assert_eq!(p.starts, 2);
    let seen: Vec<_> = p.seen.iter().map(|(t, s)| format!("{t} {s}")).collect();
    assert_eq!(seen, ["1.000s note 1", "21.000s note 1"]);
    assert_eq!(probe(&sim, other).starts, 2);
    assert!(sim.actor_up(id));
}

/// Exits on its own at its first `Ping`, asking to be started again 2 s later.
#[derive(Default)]
struct Quitter {
    starts: u32,
    seen: Vec<(SimTime, String)>,
}

impl Actor<Msg> for Quitter {
    fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
        match event {
            Event::Start => {
                self.starts += 1;
                // Set at every start: the first process's fires at 3 s only if it lived.
                cx.timer(SimDuration::from_secs(3), Msg::Note(self.starts));
            }
            Event::Timer(Msg::Note(n))
            | Event::Message {
                msg: Msg::Note(n), ..
            } => {
                self.seen.push((cx.now(), format!("note {n}")));
            }
            Event::Timer(Msg::Ping(n))
            | Event::Message {
                msg: Msg::Ping(n), ..
            } => {
                self.seen.push((cx.now(), format!("ping {n}")));
                cx.exit(SimDuration::from_secs(2));
            }
        }
    }
    fn on_crash(&mut self) {
        self.seen.push((SimTime::ZERO, "crash".to_string()));
    }
}

#[test]
fn an_actor_that_exits_is_started_again_and_its_old_timers_are_dropped() {
    let mut sim = Simulation::new(1);
    let host = sim.add_host("h");
    let id = sim.add_actor(host, "quitter", Box::new(Quitter::default()));
    let at = |millis| SimTime::ZERO + SimDuration::from_millis(millis);
    sim.schedule_timer(at(1_000), id, Msg::Ping(1));
    sim.run_for(SimDuration::from_millis(2_500));
    assert!(!sim.actor_up(id), "down between its exit and its restart");
    sim.run_for(SimDuration::from_secs(10));
    assert!(sim.actor_up(id));
    let q = sim.actor::<Quitter>(id).unwrap();
    assert_eq!(q.starts, 2);
    let seen: Vec<_> = q.seen.iter().map(|(t, s)| format!("{t} {s}")).collect();
    // The first process's 3 s timer is dropped; the second one's fires 3 s after its
    // start at 3 s.
    assert_eq!(seen, ["1.000s ping 1", "0.000s crash", "6.000s note 2"]);
}

#[test]
fn an_exited_actor_restarted_by_a_fault_first_is_not_started_twice() {
    let mut sim = Simulation::new(1);
    let host = sim.add_host("h");
    let id = sim.add_actor(host, "quitter", Box::new(Quitter::default()));
    let at = |millis| SimTime::ZERO + SimDuration::from_millis(millis);
    sim.schedule_timer(at(1_000), id, Msg::Ping(1));
    sim.schedule_fault(at(2_000), Fault::RestartActor(id));
    sim.run_for(SimDuration::from_secs(10));
    assert_eq!(sim.actor::<Quitter>(id).unwrap().starts, 2);
    assert_eq!(
        sim.deliveries_dropped(),
        2,
        "the old timer and the supervisor's start"
    );
}
