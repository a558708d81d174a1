//! The engine: a queue of events ordered by (time, insertion sequence), delivered one at a
//! time to actors living on hosts, with faults, invariants and a running trace hash.

use std::any::Any;
use std::collections::BTreeMap;

use crate::actor::{Actor, ActorId, Context, Effect, Event, HostId, Message};
use crate::fault::Fault;
use crate::hash::TraceHasher;
use crate::network::{Network, Verdict};
use crate::queue::EventQueue;
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};
use crate::trace::{EventKind, LoggedEvent, Record, Recorder};

/// Where to stop a run.
#[derive(Clone, Copy, Debug)]
pub struct RunLimits {
    /// Stop before processing any event later than this instant.
    pub until: SimTime,
    /// Stop after this many processed events (a bound against runaway runs).
    pub events_max: u64,
}

/// Why a run stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// The time limit was reached.
    TimeReached,
    /// Nothing was left to do before the time limit.
    QueueEmpty,
    /// The event bound was hit: the run was cut short.
    EventBound {
        events: u64,
        time: SimTime,
    },
    InvariantViolated(Violation),
}

/// The first failed invariant of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub invariant: String,
    pub time: SimTime,
    pub seq: u64,
    pub message: String,
}

/// A cluster-wide check run after every event.
pub type InvariantCheck<M> = Box<dyn FnMut(&Simulation<M>) -> Result<(), String>>;
/// Receives every processed event, for the event log.
pub type EventSink = Box<dyn FnMut(&LoggedEvent)>;

enum Payload<M> {
    Start {
        to: ActorId,
        incarnation: u32,
    },
    Deliver {
        to: ActorId,
        from: ActorId,
        incarnation: u32,
        msg: M,
        is_timer: bool,
    },
    Fault(Fault),
    /// The supervisor starts an actor that exited on its own ([`Context::exit`]); dropped
    /// if the actor's incarnation moved on since (restarted or crashed again, or its host).
    Revive {
        to: ActorId,
        incarnation: u32,
    },
}

/// What the event loop reads for every event to an actor, kept small and apart from the
/// rest of its bookkeeping ([`ActorMeta`]): a delivery's checks and dispatch touch this
/// record alone (a slot with the RNG stream inline spans several cache lines).
struct ActorSlot<M> {
    actor: Box<dyn Actor<M>>,
    host: HostId,
    /// The incarnation a delivery sent now carries: its host's incarnation plus its own
    /// restarts (see `ActorMeta::restarts`), refreshed whenever either changes.
    incarnation: u32,
    /// Its host is up and it has not crashed alone, refreshed with `incarnation`.
    running: bool,
    /// Bit `i` set: invariant `i` reads this actor's state, so it runs after this
    /// actor's events (see [`Simulation::add_invariant_over`]).
    invariant_mask: u64,
}

/// The rest of an actor's bookkeeping: its name, RNG stream and crash history.
struct ActorMeta {
    name: String,
    rng: SimRng,
    /// Crashed alone ([`Fault::CrashActor`]) while its host stays up.
    crashed: bool,
    /// Bumped at each crash and restart of this actor alone. A delivery carries the sum
    /// of its host's incarnation and this: both only grow, so the sum matches the
    /// current one exactly when neither the host nor the actor has crashed or restarted
    /// since it was sent.
    restarts: u32,
}

/// A machine: actors on it crash and restart together.
#[derive(Clone, Debug)]
pub struct Host {
    pub name: String,
    pub up: bool,
    /// Bumped on every crash and restart; deliveries sent before are dropped.
    pub incarnation: u32,
    /// Offset of this host's clock from simulated time, in nanoseconds.
    pub clock_offset_nanos: i64,
    pub actors: Vec<ActorId>,
}

/// One deterministic run.
pub struct Simulation<M: Message> {
    master_seed: u64,
    now: SimTime,
    queue: EventQueue<Payload<M>>,
    actors: Vec<ActorSlot<M>>,
    /// Parallel to `actors`.
    actor_meta: Vec<ActorMeta>,
    /// Actor ids by name, for `add_actor`'s duplicate check and `find_actor`.
    actor_ids: BTreeMap<String, ActorId>,
    hosts: Vec<Host>,
    network: Network,
    effects: Vec<Effect<M>>,
    recorder: Recorder,
    hash: TraceHasher,
    events_processed: u64,
    deliveries_dropped: u64,
    invariants: Vec<(String, InvariantCheck<M>)>,
    /// The invariants that run after every event, as a bit per invariant.
    invariants_every_event: u64,
    event_sink: Option<EventSink>,
}

/// Hashes and logs the outcome `kind` of a (re)start of actor `to` (a start, or a drop).
fn start_event(
    digest: &mut TraceHasher,
    time: SimTime,
    seq: u64,
    kind: EventKind,
    to: ActorId,
    label: &'static str,
) -> LoggedEvent {
    digest.write_u64(kind.code());
    digest.write_u64(u64::from(to.0));
    LoggedEvent {
        time,
        seq,
        kind,
        actor: Some(to),
        from: None,
        label,
        digest: 0,
    }
}

impl<M: Message> Simulation<M> {
    pub fn new(master_seed: u64) -> Simulation<M> {
        Simulation {
            master_seed,
            now: SimTime::ZERO,
            queue: EventQueue::default(),
            actors: Vec::new(),
            actor_meta: Vec::new(),
            actor_ids: BTreeMap::new(),
            hosts: Vec::new(),
            network: Network::new(SimRng::for_stream(master_seed, "network")),
            effects: Vec::new(),
            recorder: Recorder::new(false),
            hash: TraceHasher::new(),
            events_processed: 0,
            deliveries_dropped: 0,
            invariants: Vec::new(),
            invariants_every_event: 0,
            event_sink: None,
        }
    }

    pub fn master_seed(&self) -> u64 {
        self.master_seed
    }
    pub fn now(&self) -> SimTime {
        self.now
    }
    pub fn network_mut(&mut self) -> &mut Network {
        &mut self.network
    }
    pub fn network(&self) -> &Network {
        &self.network
    }
    /// Keep trace records from now on.
    pub fn enable_records(&mut self) {
        self.recorder = Recorder::new(true);
    }
    pub fn records(&self) -> &[Record] {
        self.recorder.records()
    }
    pub fn take_records(&mut self) -> Vec<Record> {
        self.recorder.take()
    }
    /// Streams every processed event to `sink` (for the event log and replay).
    pub fn set_event_sink(&mut self, sink: EventSink) {
        self.event_sink = Some(sink);
    }
    /// An invariant checked after every event (and after faults).
    pub fn add_invariant(&mut self, name: impl Into<String>, check: InvariantCheck<M>) {
        let bit = self.next_invariant_bit();
        self.invariants_every_event |= bit;
        self.invariants.push((name.into(), check));
    }

    /// An invariant over the state of `actors` alone: checked after their events and
    /// after faults, the only moments its verdict can change (it must not depend on the
    /// clock by itself). Most events of a big run concern other actors.
    pub fn add_invariant_over(
        &mut self,
        name: impl Into<String>,
        actors: &[ActorId],
        check: InvariantCheck<M>,
    ) {
        let bit = self.next_invariant_bit();
        for actor in actors {
            self.actors[actor.index()].invariant_mask |= bit;
        }
        self.invariants.push((name.into(), check));
    }

    fn next_invariant_bit(&self) -> u64 {
        let index = self.invariants.len();
        assert!(index < 64, "at most 64 invariants");
        1 << index
    }

    /// The stable hash over every event processed so far.
    pub fn trace_hash(&self) -> u64 {
        self.hash.finish()
    }
    pub fn events_processed(&self) -> u64 {
        self.events_processed
    }
    /// Deliveries dropped because their host crashed or restarted after they were sent.
    pub fn deliveries_dropped(&self) -> u64 {
        self.deliveries_dropped
    }
    pub fn pending_events(&self) -> usize {
        self.queue.len()
    }

    /// Adds a host that is up: actors added to it receive `Event::Start` at once.
    pub fn add_host(&mut self, name: impl Into<String>) -> HostId {
        self.add_host_with_power(name.into(), true)
    }

    /// Adds a host that is powered off: actors added to it do not start, and messages
    /// sent to it are dropped, until [`Fault::PowerOnHost`] boots it (a machine that
    /// joins during the run). Crash and restart faults leave it off until then, and a
    /// power-on of a host that has already run does nothing.
    pub fn add_host_powered_off(&mut self, name: impl Into<String>) -> HostId {
        self.add_host_with_power(name.into(), false)
    }

    fn add_host_with_power(&mut self, name: String, up: bool) -> HostId {
        assert!(
            self.hosts.iter().all(|h| h.name != name),
            "duplicate host name {name}"
        );
        let id = HostId(u32::try_from(self.hosts.len()).expect("too many hosts"));
        self.hosts.push(Host {
            name,
            up,
            incarnation: 0,
            clock_offset_nanos: 0,
            actors: Vec::new(),
        });
        id
    }

    /// Adds an actor on `host`; it receives `Event::Start` at the current instant.
    pub fn add_actor(
        &mut self,
        host: HostId,
        name: impl Into<String>,
        actor: Box<dyn Actor<M>>,
    ) -> ActorId {
        let name = name.into();
        let id = ActorId(u32::try_from(self.actors.len()).expect("too many actors"));
        let previous = self.actor_ids.insert(name.clone(), id);
        assert!(previous.is_none(), "duplicate actor name {name}");
        let rng = SimRng::for_stream(self.master_seed, &name);
        let host_state = &mut self.hosts[host.index()];
        host_state.actors.push(id);
        let incarnation = host_state.incarnation;
        let running = host_state.up;
        self.actors.push(ActorSlot {
            actor,
            host,
            incarnation,
            running,
            invariant_mask: 0,
        });
        self.actor_meta.push(ActorMeta {
            name,
            rng,
            crashed: false,
            restarts: 0,
        });
        if running {
            self.push(
                self.now,
                Payload::Start {
                    to: id,
                    incarnation,
                },
            );
        }
        id
    }

    pub fn actor_count(&self) -> usize {
        self.actors.len()
    }
    pub fn actor_name(&self, id: ActorId) -> &str {
        &self.actor_meta[id.index()].name
    }
    pub fn actor_host(&self, id: ActorId) -> HostId {
        self.actors[id.index()].host
    }
    /// Whether the actor runs: its host is up and it has not crashed alone.
    pub fn actor_up(&self, id: ActorId) -> bool {
        self.actors[id.index()].running
    }
    pub fn find_actor(&self, name: &str) -> Option<ActorId> {
        self.actor_ids.get(name).copied()
    }
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }
    pub fn host(&self, id: HostId) -> &Host {
        &self.hosts[id.index()]
    }
    pub fn find_host(&self, name: &str) -> Option<HostId> {
        self.hosts
            .iter()
            .position(|h| h.name == name)
            .map(|index| HostId(index as u32))
    }
    pub fn set_host_clock_offset(&mut self, host: HostId, offset_nanos: i64) {
        self.hosts[host.index()].clock_offset_nanos = offset_nanos;
    }

    /// Read-only access to an actor's state, for invariants, expectations and reports.
    pub fn actor<T: Actor<M>>(&self, id: ActorId) -> Option<&T> {
        let actor: &dyn Any = self.actors[id.index()].actor.as_ref();
        actor.downcast_ref::<T>()
    }

    /// Mutable access to an actor before the run starts: for wiring two actors that must
    /// know each other's id at build time. Never during a run.
    pub fn actor_mut<T: Actor<M>>(&mut self, id: ActorId) -> Option<&mut T> {
        assert!(
            self.now == SimTime::ZERO && self.events_processed() == 0,
            "actors are rewired only before the run"
        );
        let actor: &mut dyn Any = self.actors[id.index()].actor.as_mut();
        actor.downcast_mut::<T>()
    }

    /// Schedules a fault at `at` (not before now).
    pub fn schedule_fault(&mut self, at: SimTime, fault: Fault) {
        assert!(at >= self.now, "fault scheduled in the past");
        self.push(at, Payload::Fault(fault));
    }

    /// Delivers `msg` to `to` as a timer at `at`: how a scenario's timeline drives actors.
    pub fn schedule_timer(&mut self, at: SimTime, to: ActorId, msg: M) {
        assert!(at >= self.now, "timer scheduled in the past");
        let incarnation = self.incarnation(to);
        self.push(
            at,
            Payload::Deliver {
                to,
                from: to,
                incarnation,
                msg,
                is_timer: true,
            },
        );
    }

    fn push(&mut self, time: SimTime, payload: Payload<M>) {
        self.queue.push(time, payload);
    }

    /// Runs until a limit is reached, the queue empties, or an invariant fails.
    pub fn run(&mut self, limits: RunLimits) -> RunOutcome {
        loop {
            let Some(next_time) = self.queue.peek_time() else {
                return RunOutcome::QueueEmpty;
            };
            if next_time > limits.until {
                self.now = limits.until;
                return RunOutcome::TimeReached;
            }
            if self.events_processed >= limits.events_max {
                return RunOutcome::EventBound {
                    events: self.events_processed,
                    time: self.now,
                };
            }
            let (time, seq, target) = self.step();
            if let Some(violation) = self.check_invariants(time, seq, target) {
                return RunOutcome::InvariantViolated(violation);
            }
        }
    }

    /// Processes the next event; returns its time, sequence number and the actor it
    /// was for (`None`: a fault).
    fn step(&mut self) -> (SimTime, u64, Option<ActorId>) {
        let (time, seq, payload) = self.queue.pop().expect("step on an empty queue");
        assert!(time >= self.now, "time went backwards");
        self.now = time;
        self.events_processed += 1;

        let mut digest = TraceHasher::new();
        digest.write_u64(time.as_nanos());
        let logged = match payload {
            Payload::Fault(fault) => {
                digest.write_u64(EventKind::Fault.code());
                digest.write_str(&format!("{fault:?}"));
                self.apply_fault(fault);
                LoggedEvent {
                    time,
                    seq,
                    kind: EventKind::Fault,
                    actor: None,
                    from: None,
                    label: "fault",
                    digest: 0,
                }
            }
            Payload::Revive { to, incarnation } => {
                let slot = &self.actors[to.index()];
                let kind = if self.actor_meta[to.index()].crashed
                    && self.hosts[slot.host.index()].up
                    && slot.incarnation == incarnation
                {
                    let meta = &mut self.actor_meta[to.index()];
                    meta.crashed = false;
                    meta.restarts += 1;
                    self.refresh_actor(to);
                    self.dispatch(to, Event::Start, seq);
                    EventKind::Start
                } else {
                    self.deliveries_dropped += 1;
                    EventKind::Dropped
                };
                start_event(&mut digest, time, seq, kind, to, "Restart")
            }
            Payload::Start { to, incarnation } => {
                let kind = if self.is_current(to, incarnation) {
                    self.dispatch(to, Event::Start, seq);
                    EventKind::Start
                } else {
                    self.deliveries_dropped += 1;
                    EventKind::Dropped
                };
                start_event(&mut digest, time, seq, kind, to, "Start")
            }
            Payload::Deliver {
                to,
                from,
                incarnation,
                msg,
                is_timer,
            } => {
                let label = msg.label();
                digest.write_u64(u64::from(to.0));
                digest.write_u64(u64::from(from.0));
                digest.write_str(label);
                msg.fingerprint(&mut digest);
                let kind = if !self.is_current(to, incarnation) {
                    self.deliveries_dropped += 1;
                    EventKind::Dropped
                } else if is_timer {
                    self.dispatch(to, Event::Timer(msg), seq);
                    EventKind::Timer
                } else {
                    self.dispatch(to, Event::Message { from, msg }, seq);
                    EventKind::Message
                };
                digest.write_u64(kind.code());
                LoggedEvent {
                    time,
                    seq,
                    kind,
                    actor: Some(to),
                    from: (!is_timer).then_some(from),
                    label,
                    digest: 0,
                }
            }
        };
        let event_digest = digest.finish();
        self.hash.write_u64(event_digest);
        if let Some(sink) = self.event_sink.as_mut() {
            sink(&LoggedEvent {
                digest: event_digest,
                ..logged
            });
        }
        (time, seq, logged.actor)
    }

    #[inline]
    fn is_current(&self, actor: ActorId, incarnation: u32) -> bool {
        let slot = &self.actors[actor.index()];
        slot.running && slot.incarnation == incarnation
    }

    /// The incarnation a delivery to `actor` sent now carries (see `ActorMeta::restarts`).
    #[inline]
    fn incarnation(&self, actor: ActorId) -> u32 {
        self.actors[actor.index()].incarnation
    }

    /// Recomputes the actor's cached incarnation and running state after its host's or
    /// its own crash state changed.
    fn refresh_actor(&mut self, actor: ActorId) {
        let meta = &self.actor_meta[actor.index()];
        let slot = &mut self.actors[actor.index()];
        let host = &self.hosts[slot.host.index()];
        slot.incarnation = host.incarnation + meta.restarts;
        slot.running = host.up && !meta.crashed;
    }

    fn refresh_host_actors(&mut self, host: HostId) {
        for index in 0..self.hosts[host.index()].actors.len() {
            let actor = self.hosts[host.index()].actors[index];
            self.refresh_actor(actor);
        }
    }

    #[inline]
    fn dispatch(&mut self, to: ActorId, event: Event<M>, seq: u64) {
        let slot = &mut self.actors[to.index()];
        let host = &self.hosts[slot.host.index()];
        let from_host = slot.host;
        let incarnation = slot.incarnation;
        let mut cx = Context {
            now: self.now,
            seq,
            me: to,
            host_clock_offset_nanos: host.clock_offset_nanos,
            rng: &mut self.actor_meta[to.index()].rng,
            effects: &mut self.effects,
            recorder: &mut self.recorder,
        };
        slot.actor.on_event(event, &mut cx);

        let mut effects = std::mem::take(&mut self.effects);
        let mut exit = None;
        for effect in effects.drain(..) {
            match effect {
                Effect::Exit { restart_after } => exit = Some(restart_after),
                Effect::Timer { after, msg } => self.push(
                    self.now + after,
                    Payload::Deliver {
                        to,
                        from: to,
                        incarnation,
                        msg,
                        is_timer: true,
                    },
                ),
                Effect::Send {
                    to: receiver,
                    msg,
                    departs_after,
                } => {
                    let receiver_host = self.actors[receiver.index()].host;
                    let departs = self.now + departs_after;
                    if let Verdict::Deliver(at) =
                        self.network
                            .route(departs, (to, from_host), (receiver, receiver_host))
                    {
                        let incarnation = self.incarnation(receiver);
                        self.push(
                            at,
                            Payload::Deliver {
                                to: receiver,
                                from: to,
                                incarnation,
                                msg,
                                is_timer: false,
                            },
                        );
                    }
                }
            }
        }
        // Keep the buffer's capacity for the next event.
        self.effects = effects;
        if let Some(restart_after) = exit {
            let meta = &mut self.actor_meta[to.index()];
            meta.crashed = true;
            meta.restarts += 1;
            self.actors[to.index()].actor.on_crash();
            self.refresh_actor(to);
            let incarnation = self.incarnation(to);
            self.push(
                self.now + restart_after,
                Payload::Revive { to, incarnation },
            );
        }
    }

    fn apply_fault(&mut self, fault: Fault) {
        match fault {
            Fault::CrashHost(host) => {
                let state = &mut self.hosts[host.index()];
                if !state.up {
                    return;
                }
                state.up = false;
                state.incarnation += 1;
                for &actor in &state.actors {
                    // One that crashed alone has lost its memory already.
                    if !self.actor_meta[actor.index()].crashed {
                        self.actors[actor.index()].actor.on_crash();
                    }
                }
                self.refresh_host_actors(host);
            }
            Fault::RestartHost(host) | Fault::PowerOnHost(host) => {
                let state = &mut self.hosts[host.index()];
                // A host that never ran is down at incarnation 0 (a crash bumps it): only
                // its power-on boots it, and a power-on boots nothing else.
                let never_ran = !state.up && state.incarnation == 0;
                if state.up || never_ran != matches!(fault, Fault::PowerOnHost(_)) {
                    return;
                }
                state.up = true;
                state.incarnation += 1;
                let actors = state.actors.clone();
                for to in actors {
                    // The boot starts every service, those that had crashed alone too.
                    self.actor_meta[to.index()].crashed = false;
                    self.refresh_actor(to);
                    let incarnation = self.incarnation(to);
                    self.push(self.now, Payload::Start { to, incarnation });
                }
            }
            Fault::CrashActor(actor) => {
                if !self.actor_up(actor) {
                    return;
                }
                let meta = &mut self.actor_meta[actor.index()];
                meta.crashed = true;
                meta.restarts += 1;
                self.actors[actor.index()].actor.on_crash();
                self.refresh_actor(actor);
            }
            Fault::RestartActor(to) => {
                let host = self.actors[to.index()].host;
                let meta = &mut self.actor_meta[to.index()];
                if !meta.crashed || !self.hosts[host.index()].up {
                    return;
                }
                meta.crashed = false;
                meta.restarts += 1;
                self.refresh_actor(to);
                let incarnation = self.incarnation(to);
                self.push(self.now, Payload::Start { to, incarnation });
            }
            Fault::Partition(cut) => self.network.partition(cut),
            Fault::Heal(cut) => self.network.heal(cut.as_ref()),
            Fault::SetLink(a, b, link) => self.network.set_link(a, b, link),
        }
    }

    fn check_invariants(
        &mut self,
        time: SimTime,
        seq: u64,
        target: Option<ActorId>,
    ) -> Option<Violation> {
        let due = self.invariants_every_event
            | target.map_or(u64::MAX, |actor| self.actors[actor.index()].invariant_mask);
        if due == 0 || self.invariants.is_empty() {
            return None;
        }
        let mut invariants = std::mem::take(&mut self.invariants);
        let mut violation = None;
        for (index, (name, check)) in invariants.iter_mut().enumerate() {
            if due & (1 << index) == 0 {
                continue;
            }
            if let Err(message) = check(self) {
                violation = Some(Violation {
                    invariant: name.clone(),
                    time,
                    seq,
                    message,
                });
                break;
            }
        }
        self.invariants = invariants;
        violation
    }

    /// A convenience for tests and tools: run for `span` of simulated time from now.
    pub fn run_for(&mut self, span: SimDuration) -> RunOutcome {
        let until = self.now + span;
        self.run(RunLimits {
            until,
            events_max: u64::MAX,
        })
    }
}
