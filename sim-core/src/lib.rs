//! sim-core: a deterministic discrete-event engine. It knows nothing about Kubernetes.
//!
//! A run is a [`Simulation`]: a queue of events ordered by `(time, insertion sequence)`,
//! delivered one at a time to [`Actor`]s that live on [`Host`]s and talk over a simulated
//! [`Network`]. A run is a pure function of its inputs and its master seed: every actor
//! draws from its own [`SimRng`] stream, and every processed event is folded into a stable
//! trace hash.
//!
//! Module map:
//! - [`time`]: `SimTime` and `SimDuration`, integer nanoseconds.
//! - [`actor`]: the `Actor` trait, `Event`, `Context`, `Message`, ids.
//! - [`simulation`]: the engine: queue, dispatch, hosts, faults, invariants, run limits.
//! - [`queue`]: the event queue, ordered by `(time, insertion sequence)`.
//! - [`network`]: latency, jitter, loss, partitions, FIFO per connection.
//! - [`fault`]: timed faults (crash, restart, partition, heal).
//! - [`rng`]: per-actor ChaCha8 streams.
//! - [`hash`]: stable hashing for the trace hash and fixed-hasher maps.
//! - [`trace`]: records and the per-event log.

pub mod actor;
pub mod fault;
pub mod hash;
pub mod network;
pub mod queue;
pub mod rng;
pub mod simulation;
pub mod time;
pub mod trace;

pub use actor::{Actor, ActorId, Context, Event, HostId, Message};
pub use fault::Fault;
pub use hash::{FxIndexMap, FxIndexSet, TraceHasher, stable_hash_str};
pub use network::{Cut, DropReason, Link, Network, Verdict};
pub use rng::SimRng;
pub use simulation::{
    EventSink, Host, InvariantCheck, RunLimits, RunOutcome, Simulation, Violation,
};
pub use time::{SimDuration, SimTime};
pub use trace::{EventKind, LoggedEvent, Record, Recorder};
