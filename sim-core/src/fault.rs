//! Faults the engine applies at scheduled instants (and a machine's first power-on, which
//! is applied the same way).

use crate::actor::{ActorId, HostId};
use crate::network::{Cut, Link};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Every actor on the host stops and loses its memory; messages to it are dropped.
    CrashHost(HostId),
    /// The host boots again; each of its actors receives `Event::Start`.
    RestartHost(HostId),
    /// A host added powered off ([`crate::Simulation::add_host_powered_off`]) boots for
    /// the first time: a machine joining, not one coming back. Its actors receive
    /// `Event::Start`, as after a restart; the variant differs so traces and event logs
    /// can tell the two apart.
    PowerOnHost(HostId),
    /// One actor's process dies while its host stays up (a service that crashes or is
    /// stopped): its `on_crash` runs, and messages and timers addressed to it, sent before
    /// or while it is down, are dropped. Nothing if it or its host is down already.
    CrashActor(ActorId),
    /// The actor crashed alone starts again (`systemctl start`): it receives
    /// `Event::Start`. Nothing if it is running or its host is down (a host's restart
    /// starts all its actors).
    RestartActor(ActorId),
    Partition(Cut),
    /// Removes one cut, or all of them.
    Heal(Option<Cut>),
    SetLink(HostId, HostId, Link),
}
