//! Faults the engine applies at scheduled instants.

use crate::actor::HostId;
use crate::network::{Cut, Link};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Every actor on the host stops and loses its memory; messages to it are dropped.
    CrashHost(HostId),
    /// The host boots again; each of its actors receives `Event::Start`.
    RestartHost(HostId),
    Partition(Cut),
    /// Removes one cut, or all of them.
    Heal(Option<Cut>),
    SetLink(HostId, HostId, Link),
}
