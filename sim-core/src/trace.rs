//! Trace: records that actors add, and the per-event log the engine can stream out.

use crate::actor::ActorId;
use crate::time::SimTime;

/// A record an actor added while handling an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub time: SimTime,
    /// Sequence number of the event being handled when the record was made.
    pub seq: u64,
    pub actor: ActorId,
    pub kind: &'static str,
    pub detail: String,
}

/// Keeps records when enabled; costs one branch when not.
#[derive(Debug, Default)]
pub struct Recorder {
    enabled: bool,
    records: Vec<Record>,
}

impl Recorder {
    pub fn new(enabled: bool) -> Recorder {
        Recorder {
            enabled,
            records: Vec::new(),
        }
    }
    pub fn enabled(&self) -> bool {
        self.enabled
    }
    pub(crate) fn push(
        &mut self,
        time: SimTime,
        seq: u64,
        actor: ActorId,
        kind: &'static str,
        detail: String,
    ) {
        self.records.push(Record {
            time,
            seq,
            actor,
            kind,
            detail,
        });
    }
    pub fn records(&self) -> &[Record] {
        &self.records
    }
    pub fn take(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.records)
    }
}

/// What happened in one processed event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Start,
    Message,
    Timer,
    /// A delivery to a host that had crashed or restarted since it was sent.
    Dropped,
    Fault,
}

impl EventKind {
    pub fn code(self) -> u64 {
        match self {
            EventKind::Start => 1,
            EventKind::Message => 2,
            EventKind::Timer => 3,
            EventKind::Dropped => 4,
            EventKind::Fault => 5,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Start => "start",
            EventKind::Message => "message",
            EventKind::Timer => "timer",
            EventKind::Dropped => "dropped",
            EventKind::Fault => "fault",
        }
    }
}

/// One line of the event log: enough to find where two runs first diverge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoggedEvent {
    pub time: SimTime,
    pub seq: u64,
    pub kind: EventKind,
    /// The actor the event was delivered to (none for faults).
    pub actor: Option<ActorId>,
    pub from: Option<ActorId>,
    pub label: &'static str,
    /// Digest of this event alone.
    pub digest: u64,
}
