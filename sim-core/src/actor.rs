//! Actors: the state machines the engine drives, and the context they act through.

use std::any::Any;

use crate::hash::TraceHasher;
use crate::rng::SimRng;
use crate::time::{SimDuration, SimTime};
use crate::trace::Recorder;

/// Dense, stable index of an actor, in the order actors were added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActorId(pub u32);

/// Dense, stable index of a host, in the order hosts were added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub u32);

impl ActorId {
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl HostId {
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What actors exchange. The engine never looks inside: it asks for a label and for the
/// identifying fields to fold into the trace hash.
pub trait Message: 'static {
    /// A short, stable name of this message's kind, such as `"ApiRequest"`.
    fn label(&self) -> &'static str;
    /// Writes the fields that identify this message into the event digest. Two runs that
    /// deliver messages with different contents must (almost surely) write different words.
    fn fingerprint(&self, hasher: &mut TraceHasher);
}

/// One thing that happens to an actor.
#[derive(Debug)]
pub enum Event<M> {
    /// The actor's host came up: at the start of the run, and again after each restart.
    Start,
    /// A message from another actor (or from itself through the network).
    Message { from: ActorId, msg: M },
    /// A timer the actor set earlier, carrying the message it gave.
    Timer(M),
}

/// A component of the simulated system: a state machine with one entry point.
pub trait Actor<M: Message>: Any {
    /// Handles one event. All of the actor's branching lives here; effects go through `cx`.
    fn on_event(&mut self, event: Event<M>, cx: &mut Context<'_, M>);

    /// The actor's host crashed. Drop everything a real process holds only in memory; keep
    /// what it would find on disk after a reboot (a WAL, pulled images). The next event the
    /// actor sees is `Event::Start` when its host restarts.
    fn on_crash(&mut self);
}

/// An effect requested by an actor, applied by the engine after `on_event` returns.
#[derive(Debug)]
pub(crate) enum Effect<M> {
    Send {
        to: ActorId,
        msg: M,
        departs_after: SimDuration,
    },
    Timer {
        after: SimDuration,
        msg: M,
    },
    /// The actor's process exits on its own and is started again after `restart_after`.
    Exit {
        restart_after: SimDuration,
    },
}

/// The actor's window onto the simulation for the duration of one event.
pub struct Context<'a, M> {
    pub(crate) now: SimTime,
    pub(crate) seq: u64,
    pub(crate) me: ActorId,
    pub(crate) host_clock_offset_nanos: i64,
    pub(crate) rng: &'a mut SimRng,
    pub(crate) effects: &'a mut Vec<Effect<M>>,
    pub(crate) recorder: &'a mut Recorder,
}

impl<M> Context<'_, M> {
    /// The current simulated instant.
    #[inline]
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// The time shown by this actor's host clock (simulated time plus the host's offset).
    /// Use it for timestamps written into objects, never to order events.
    pub fn host_clock(&self) -> SimTime {
        let nanos = self.now.as_nanos() as i128 + i128::from(self.host_clock_offset_nanos);
        SimTime::from_nanos(nanos.clamp(0, i128::from(u64::MAX)) as u64)
    }

    pub fn me(&self) -> ActorId {
        self.me
    }

    /// Sends `msg` to `to` now, over the simulated network.
    #[inline]
    pub fn send(&mut self, to: ActorId, msg: M) {
        self.effects.push(Effect::Send {
            to,
            msg,
            departs_after: SimDuration::ZERO,
        });
    }

    /// Sends `msg` once `delay` of local work has passed (service time, a disk write).
    #[inline]
    pub fn send_after(&mut self, delay: SimDuration, to: ActorId, msg: M) {
        self.effects.push(Effect::Send {
            to,
            msg,
            departs_after: delay,
        });
    }

    /// Delivers `msg` back to this actor as `Event::Timer` after `after`.
    #[inline]
    pub fn timer(&mut self, after: SimDuration, msg: M) {
        self.effects.push(Effect::Timer { after, msg });
    }

    /// The actor's process exits on its own, as a fatal error ends a real one
    /// (`klog.Fatalf`, `os.Exit(1)`): once this event is handled, the messages and timers
    /// it asked for are sent, then it crashes as under [`crate::Fault::CrashActor`] (its
    /// `on_crash` runs; whatever was addressed to the old process is dropped), and its
    /// supervisor (systemd, or the kubelet for a static pod) starts it again after
    /// `restart_after`, unless something else crashed or restarted it or its host
    /// meanwhile.
    pub fn exit(&mut self, restart_after: SimDuration) {
        self.effects.push(Effect::Exit { restart_after });
    }

    /// This actor's own random stream.
    #[inline]
    pub fn rng(&mut self) -> &mut SimRng {
        self.rng
    }

    /// True when trace records are being kept; use it to skip building costly details.
    pub fn recording(&self) -> bool {
        self.recorder.enabled()
    }

    /// Adds a trace record. `detail` runs only when records are kept, so it must not draw
    /// randomness or change state.
    #[inline]
    pub fn record(&mut self, kind: &'static str, detail: impl FnOnce() -> String) {
        if self.recorder.enabled() {
            let text = detail();
            self.recorder.push(self.now, self.seq, self.me, kind, text);
        }
    }
}
