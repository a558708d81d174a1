//! Faults the engine applies at scheduled instants (and a machine's first power-on, which
//! is applied the same way).

use crate::actor::HostId;
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
    Partition(Cut),
    /// Removes one cut, or all of them.
    Heal(Option<Cut>),
    SetLink(HostId, HostId, Link),
}
