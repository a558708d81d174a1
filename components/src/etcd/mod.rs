//! etcd: a cluster of 1, 3 or 5 members, each a Raft replica of one multi-version
//! key-value store.
//!
//! - [`raft`]: consensus as pure transitions (elections with PreVote, log replication,
//!   commit on quorum, ReadIndex, snapshots for members that fall behind).
//! - [`store`]: each member's MVCC store: revisions, history for watches, compaction,
//!   the backend size `--quota-backend-bytes` limits.
//! - [`etcdctl`]: the operator's client for maintenance (snapshot save and restore,
//!   defragmentation, alarm disarm, compaction).
//! - this module: [`Etcd`], the member actor: it takes client requests, runs Raft on a
//!   tick of `--heartbeat-interval`, batches the leader's proposals into one WAL flush
//!   and one append per follower, applies committed entries to its store, serves
//!   watches from it, and answers its own clients.
//!
//! Clients (the API server) may talk to any member. A follower forwards writes to its
//! leader, as etcd's raft does, and answers once it has applied the entry itself; a read
//! (Range) is linearizable: it goes through the leader's ReadIndex. Without a leader,
//! requests wait; after etcd's request timeout (`ReqTimeout`: 5 s + 2 × election
//! timeout, server/config/config.go) the member answers `etcdserver: request timed out`.
//! Watches are served by the member the client is connected to, from its applied store.
//!
//! A single member elects itself at start and commits without messages: each request is
//! answered after one WAL fsync (`commit_latency`), as the one-member store always was.
//!
//! Durable state (what survives a crash): the Raft term, vote and log (the WAL) and the
//! applied store (the bbolt backend). A disk loss wipes both; the member then rejoins as
//! a new member would (see `raft::Raft::wipe`) and is brought up to date by the leader,
//! from its log or, when that was compacted, from a snapshot of the leader's store.

pub mod etcdctl;
pub mod raft;
pub mod store;

use std::rc::Rc;

use std::collections::BTreeMap;

use sim_core::{Actor, ActorId, Context, Event, SimDuration, SimTime, Simulation, TraceHasher};

use crate::api::{Kind, Object, ObjectKey};
use crate::id_map::IdMap;
use crate::msg::{Fingerprint, Msg, Tick as AnyTick};
use crate::timers::Deadlines;

pub use etcdctl::{Etcdctl, EtcdctlCommand, EtcdctlMsg};
pub use raft::{MemberIndex, RaftConfig, RaftMessage, Role};
pub use store::{Store, estimated_bytes};

use raft::{Raft, RaftEvent, ReadRequester, Snapshot};
use store::TxnOutcome;

/// `--quota-backend-bytes` default: 2 GiB (etcd's DefaultQuotaBytes).
pub const DEFAULT_QUOTA_BACKEND_BYTES: u64 = 2 << 30;

/// Settings of the etcd cluster, named as etcd's flags.
#[derive(Clone, Debug)]
pub struct EtcdConfig {
    /// Cluster size: 1, 3 or 5 members (`--initial-cluster`). One member lives on the
    /// control-plane host, as kubeadm's stacked etcd; more each get a host `etcd-<n>`.
    pub members: usize,
    /// Time from receiving a write to answering it: WAL append and fsync. An assumption:
    /// etcd's docs ask for fsync p99 under 10 ms; 2 ms is a healthy SSD.
    pub commit_latency: SimDuration,
    /// Time to answer a read.
    pub read_latency: SimDuration,
    /// `--heartbeat-interval`, upstream default 100 ms: Raft's tick.
    pub heartbeat_interval: SimDuration,
    /// `--election-timeout`, upstream default 1000 ms.
    pub election_timeout: SimDuration,
    /// `--pre-vote`, upstream default true (since v3.4).
    pub pre_vote: bool,
    /// `--quota-backend-bytes`, upstream default 2 GiB.
    pub quota_backend_bytes: u64,
    /// `--snapshot-count`: applied entries between two snapshots, after which the log is
    /// compacted. Upstream default 10,000 in v3.6 (`DefaultSnapshotCount` in
    /// server/etcdserver/server.go was 100,000 in v3.2–v3.5).
    pub snapshot_count: u64,
    /// Entries kept behind a snapshot for slow followers (etcd's
    /// `SnapshotCatchUpEntries`, 5,000).
    pub snapshot_catch_up_entries: u64,
    /// Deploy etcdctl on the client host (scenarios with etcd maintenance actions).
    pub etcdctl: bool,
}

impl Default for EtcdConfig {
    fn default() -> Self {
        EtcdConfig {
            members: 1,
            commit_latency: SimDuration::from_millis(2),
            read_latency: SimDuration::from_micros(200),
            heartbeat_interval: SimDuration::from_millis(100),
            election_timeout: SimDuration::from_millis(1000),
            pre_vote: true,
            quota_backend_bytes: DEFAULT_QUOTA_BACKEND_BYTES,
            snapshot_count: 10_000,
            snapshot_catch_up_entries: 5_000,
            etcdctl: false,
        }
    }
}

impl EtcdConfig {
    /// etcd's `ReqTimeout`: 5 s plus two election timeouts (server/config/config.go).
    pub fn request_timeout(&self) -> SimDuration {
        SimDuration::from_secs(5) + self.election_timeout.saturating_mul(2)
    }

    fn raft(&self) -> RaftConfig {
        let ticks = self.election_timeout.as_nanos() / self.heartbeat_interval.as_nanos().max(1);
        RaftConfig {
            election_ticks: ticks.max(1) as u32,
            pre_vote: self.pre_vote,
            ..RaftConfig::default()
        }
    }

    /// A member's actor and host name: `etcd` alone, `etcd-<n>` in a cluster.
    pub fn member_name(&self, index: MemberIndex) -> String {
        if self.members == 1 {
            "etcd".to_string()
        } else {
            format!("etcd-{}", index + 1)
        }
    }
}

/// A write's precondition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compare {
    /// Unconditional.
    Any,
    /// The key must not exist (create).
    Absent,
    /// The key must exist with this mod revision (optimistic concurrency).
    ModRevision(u64),
}

#[derive(Clone, Debug)]
pub enum TxnOp {
    Put(Object),
    Delete,
}

#[derive(Clone, Debug)]
pub enum EtcdRequest {
    /// `if compare then op`, on one key.
    Txn {
        id: u64,
        key: ObjectKey,
        compare: Compare,
        op: TxnOp,
    },
    /// The current values of one kind, and the store's revision (linearizable).
    Range {
        id: u64,
        kind: Kind,
        /// At most this many values (etcd's `RangeRequest.limit`; 0: no limit). The API
        /// server asks for 1 when it only wants the current revision.
        limit: u64,
    },
    /// Streams every change to `kind` from `start_revision` (inclusive) on.
    Watch {
        watch_id: u64,
        kind: Kind,
        start_revision: u64,
    },
    /// Forget history at or below `revision`.
    Compact { revision: u64 },
    /// The operator's maintenance calls (from [`Etcdctl`]) and what happens to the
    /// member's machine (from the scenario's timeline).
    Maintenance(Maintenance),
}

#[derive(Clone, Debug)]
pub enum Maintenance {
    /// `etcdctl snapshot save`: the member sends its store to etcdctl.
    SnapshotSave { name: String },
    /// `etcdutl snapshot restore` into a fresh data directory, then the member starts
    /// again: a new cluster (new terms, an empty log) at the snapshot's revision.
    Restore { name: String, store: Rc<Store> },
    /// `etcdctl defrag`.
    Defragment,
    /// `etcdctl alarm disarm`.
    AlarmDisarm,
    /// The member's process is about to die (the timeline kills it at this instant): the
    /// kernel resets its connections, so its clients' requests and watch streams end.
    ProcessExit,
    /// The member's disk is lost (its process dies at the same instant).
    DiskLost,
}

/// Why a member refused or could not answer a request; the text is etcd's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EtcdError {
    /// No leader, or no quorum to commit, within the request timeout.
    RequestTimedOut,
    /// The NOSPACE alarm is raised: puts are refused until it is disarmed.
    NoSpace,
    /// A watch from a revision the store has not reached (after a restore to an older
    /// snapshot).
    FutureRevision,
    /// The member stopped (a restore): its watch streams end.
    Stopped,
}

impl EtcdError {
    pub fn message(self) -> &'static str {
        match self {
            EtcdError::RequestTimedOut => "etcdserver: request timed out",
            EtcdError::NoSpace => "etcdserver: mvcc: database space exceeded",
            EtcdError::FutureRevision => "etcdserver: mvcc: required revision is a future revision",
            EtcdError::Stopped => "etcdserver: server stopped",
        }
    }
    fn code(self) -> u64 {
        self as u64 + 1
    }
}

#[derive(Clone, Debug)]
pub enum EtcdResponse {
    Txn {
        id: u64,
        succeeded: bool,
        /// The store's revision after the transaction.
        revision: u64,
        /// On success the value written (none for a delete); on failure the current value.
        value: Option<Object>,
        /// The event the requester's own watch on this kind would receive for this write,
        /// carried with the response. Both leave etcd at the same instant over the same
        /// connection, so one delivery stands for two (one event fewer per write); the
        /// requester applies the watch event first, as it would have arrived first.
        own_watch_event: Option<Box<EtcdWatchEvent>>,
    },
    Range {
        id: u64,
        items: Vec<Object>,
        revision: u64,
    },
    /// A watch asked for history that compaction already removed.
    WatchCompacted {
        watch_id: u64,
        compact_revision: u64,
    },
    /// The request `id` (a transaction's or range's id, or a watch's `watch_id`) failed:
    /// a modelled failure, not a bug. A watch that gets one has ended.
    Error { id: u64, error: EtcdError },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EtcdEventType {
    Put,
    Delete,
}

/// One change, as a watch delivers it.
#[derive(Clone, Debug)]
pub struct EtcdWatchEvent {
    pub watch_id: u64,
    pub revision: u64,
    pub type_: EtcdEventType,
    pub key: ObjectKey,
    /// The new value; for a delete, the last value (with the delete's revision stamped).
    pub object: Object,
    /// The value before this change, if any.
    pub previous: Option<Object>,
}

/// A Raft message between members, stamped with the cluster's epoch: a restore starts a
/// new cluster, whose members ignore the old one's messages still in flight.
#[derive(Clone, Debug)]
pub struct RaftEnvelope {
    pub epoch: u64,
    pub message: RaftMessage,
}

#[derive(Clone, Copy, Debug)]
pub enum Tick {
    /// Raft's clock, every `--heartbeat-interval`.
    Raft,
    /// The leader's WAL flush of the batch proposed since the last one.
    Flush,
    /// Requests whose timeout has come (a [`Deadlines`] generation).
    Deadline(u64),
}

/// Who is waiting for what: the member answers when the entry is applied, the read index
/// reached, or the timeout passed.
#[derive(Clone, Copy, Debug)]
struct Waiter {
    client: ActorId,
    kind: WaiterKind,
}

#[derive(Clone, Copy, Debug)]
enum WaiterKind {
    Txn { id: u64 },
    Range { id: u64, kind: Kind, limit: u64 },
}

impl WaiterKind {
    fn id(self) -> u64 {
        match self {
            WaiterKind::Txn { id } | WaiterKind::Range { id, .. } => id,
        }
    }
}

/// Who proposed an entry and waits for its result: a member and its waiter's number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    pub member: MemberIndex,
    pub waiter: u64,
}

/// What a log entry asks every member to apply.
#[derive(Clone, Debug)]
pub enum Proposal {
    /// A new leader's first entry.
    Empty,
    Txn {
        origin: Option<Origin>,
        key: ObjectKey,
        compare: Compare,
        op: TxnOp,
    },
    Compact {
        revision: u64,
    },
    /// Raise (a member found the quota breached) or disarm the NOSPACE alarm.
    NoSpaceAlarm {
        raise: bool,
    },
}

#[derive(Clone, Debug)]
struct Watcher {
    client: ActorId,
    watch_id: u64,
    kind: Kind,
}

pub struct Etcd {
    config: EtcdConfig,
    index: MemberIndex,
    /// Every member's actor, by member index (this one included).
    members: Vec<ActorId>,
    // Durable: the WAL (inside `raft`) and the backend.
    raft: Raft,
    store: Store,
    /// Bumped by each restore from a snapshot.
    epoch: u64,
    /// The applied index at the last snapshot (log compaction point).
    snapshot_applied: u64,
    // In memory.
    watchers: Vec<Watcher>,
    waiters: IdMap<u64, Waiter>,
    next_waiter: u64,
    deadlines: Deadlines<u64>,
    /// Reads whose index is known, waiting for the store to apply up to it.
    reads_waiting_apply: Vec<(u64, u64)>,
    /// Waiters added by the current event, to give a timeout if they outlive it.
    new_waiters: Vec<u64>,
    /// The committed entries being applied: empty between events, kept only for its
    /// capacity (a lone member applies one entry per write).
    applying: Vec<raft::Entry>,
    flush_armed: bool,
    ticking: bool,
}

impl Etcd {
    /// Member `index` of a cluster whose member actors are `members` (wire them with
    /// [`Etcd::set_members`] once all are added).
    pub fn new(config: EtcdConfig) -> Etcd {
        let raft = Raft::new(0, config.members, config.raft());
        Etcd {
            config,
            index: 0,
            members: Vec::new(),
            raft,
            store: Store::default(),
            epoch: 0,
            snapshot_applied: 0,
            watchers: Vec::new(),
            waiters: IdMap::default(),
            next_waiter: 1,
            deadlines: Deadlines::new(),
            reads_waiting_apply: Vec::new(),
            new_waiters: Vec::new(),
            applying: Vec::new(),
            flush_armed: false,
            ticking: false,
        }
    }

    /// Tells the member who it is among `members` (all members' actors, in order).
    pub fn set_members(&mut self, index: MemberIndex, members: Vec<ActorId>) {
        assert_eq!(members.len(), self.config.members, "one actor per member");
        self.index = index;
        self.members = members;
        self.raft = Raft::new(index, self.config.members, self.config.raft());
    }

    fn single(&self) -> bool {
        self.config.members == 1
    }

    /// The latest applied revision.
    pub fn revision(&self) -> u64 {
        self.store.revision()
    }
    /// Current value of a key, for observers outside the simulation (expectations, reports).
    pub fn get(&self, key: &ObjectKey) -> Option<&Object> {
        self.store.get(key)
    }
    /// Every current value of one kind, in key order.
    pub fn objects(&self, kind: Kind) -> impl Iterator<Item = &Object> {
        self.store.objects(kind)
    }
    /// See [`Store::changes_since`].
    pub fn changes_since(
        &self,
        revision: u64,
    ) -> Option<impl Iterator<Item = (Option<&Object>, Option<&Object>)>> {
        self.store.changes_since(revision)
    }
    /// See [`Store::change_at`].
    pub fn change_at(&self, revision: u64) -> Option<(Option<&Object>, Option<&Object>)> {
        self.store.change_at(revision)
    }
    pub fn key_count(&self) -> usize {
        self.store.key_count()
    }
    pub fn store(&self) -> &Store {
        &self.store
    }
    pub fn raft(&self) -> &Raft {
        &self.raft
    }
    pub fn epoch(&self) -> u64 {
        self.epoch
    }
    pub fn member_index(&self) -> MemberIndex {
        self.index
    }
    pub fn name(&self) -> String {
        self.config.member_name(self.index)
    }
    pub fn is_leader(&self) -> bool {
        self.raft.is_leader()
    }
    /// The raised alarms, as `etcdctl alarm list` names them.
    pub fn alarm(&self) -> Option<&'static str> {
        self.store.nospace_alarm().then_some("NOSPACE")
    }

    fn member_name(&self, index: MemberIndex) -> String {
        self.config.member_name(index)
    }

    fn reply(
        &self,
        cx: &mut Context<'_, Msg>,
        delay: SimDuration,
        to: ActorId,
        response: EtcdResponse,
    ) {
        cx.send_after(delay, to, Msg::EtcdReply(Box::new(response)));
    }

    fn handle(&mut self, from: ActorId, request: EtcdRequest, cx: &mut Context<'_, Msg>) {
        match request {
            EtcdRequest::Txn {
                id,
                key,
                compare,
                op,
            } => self.propose_txn(from, id, key, compare, op, cx),
            EtcdRequest::Range { id, kind, limit } => {
                let waiter = self.add_waiter(from, WaiterKind::Range { id, kind, limit });
                self.raft.read_index(ReadRequester::Local(waiter));
            }
            EtcdRequest::Watch {
                watch_id,
                kind,
                start_revision,
            } => self.watch(from, watch_id, kind, start_revision, cx),
            EtcdRequest::Compact { revision } => {
                self.raft.propose(Proposal::Compact { revision });
            }
            EtcdRequest::Maintenance(maintenance) => self.maintenance(from, maintenance, cx),
        }
    }

    fn add_waiter(&mut self, client: ActorId, kind: WaiterKind) -> u64 {
        let waiter = self.next_waiter;
        self.next_waiter += 1;
        self.waiters.insert(waiter, Waiter { client, kind });
        self.new_waiters.push(waiter);
        waiter
    }

    fn propose_txn(
        &mut self,
        from: ActorId,
        id: u64,
        key: ObjectKey,
        compare: Compare,
        op: TxnOp,
        cx: &mut Context<'_, Msg>,
    ) {
        if let TxnOp::Put(object) = &op {
            // The quota is checked where the request arrives, before it is proposed
            // (v3rpc/quota.go): an alarm already raised refuses the put, a put that would
            // breach the quota raises the alarm through the log and is refused.
            let cost_bytes = estimated_bytes(object);
            let breach = !self
                .store
                .quota_allows(cost_bytes, self.config.quota_backend_bytes);
            if self.store.nospace_alarm() || breach {
                if breach && !self.store.nospace_alarm() {
                    let (size, quota) =
                        (self.store.db_size_bytes(), self.config.quota_backend_bytes);
                    let name = self.name();
                    cx.record("step", || {
                        format!(
                            "{name}: database size {size} B + {cost_bytes} B would exceed --quota-backend-bytes {quota} B: raising the NOSPACE alarm"
                        )
                    });
                    self.raft.propose(Proposal::NoSpaceAlarm { raise: true });
                }
                let response = EtcdResponse::Error {
                    id,
                    error: EtcdError::NoSpace,
                };
                self.reply(cx, self.config.read_latency, from, response);
                return;
            }
        }
        let waiter = self.add_waiter(from, WaiterKind::Txn { id });
        self.raft.propose(Proposal::Txn {
            origin: Some(Origin {
                member: self.index,
                waiter,
            }),
            key,
            compare,
            op,
        });
    }

    fn watch(
        &mut self,
        from: ActorId,
        watch_id: u64,
        kind: Kind,
        start_revision: u64,
        cx: &mut Context<'_, Msg>,
    ) {
        let compact_revision = self.store.compact_revision();
        if start_revision != 0 && start_revision <= compact_revision {
            let response = EtcdResponse::WatchCompacted {
                watch_id,
                compact_revision,
            };
            cx.send(from, Msg::EtcdReply(Box::new(response)));
            return;
        }
        if start_revision > self.store.revision() + 1 {
            let response = EtcdResponse::Error {
                id: watch_id,
                error: EtcdError::FutureRevision,
            };
            cx.send(from, Msg::EtcdReply(Box::new(response)));
            return;
        }
        if start_revision != 0 {
            for change in self.store.changes_from(kind, start_revision) {
                cx.send_after(
                    self.config.read_latency,
                    from,
                    Msg::EtcdWatch(Box::new(change.to_event(watch_id))),
                );
            }
        }
        self.watchers
            .retain(|w| !(w.client == from && w.watch_id == watch_id));
        self.watchers.push(Watcher {
            client: from,
            watch_id,
            kind,
        });
    }

    fn maintenance(&mut self, from: ActorId, maintenance: Maintenance, cx: &mut Context<'_, Msg>) {
        let name = self.name();
        match maintenance {
            Maintenance::SnapshotSave { name: snapshot } => {
                let revision = self.store.revision();
                cx.record("step", || {
                    format!("{name}: snapshot {snapshot:?} saved at revision {revision}")
                });
                let reply = EtcdctlMsg::SnapshotSaved {
                    name: snapshot,
                    member: self.index,
                    store: Rc::new(self.store.clone()),
                };
                cx.send(from, Msg::Etcdctl(Box::new(reply)));
            }
            Maintenance::Restore {
                name: snapshot,
                store,
            } => {
                let (before, after) = (self.store.revision(), store.revision());
                cx.record("step", || {
                    format!(
                        "{name}: restored from snapshot {snapshot:?}: revision {before} -> {after}; a new cluster starts with an empty log"
                    )
                });
                // The process stops: its clients' requests and watch streams end.
                self.end_connections(cx);
                self.forget_memory();
                self.store = (*store).clone();
                // Every member restores the same snapshot: nobody rejoins.
                self.raft = Raft::new(self.index, self.config.members, self.config.raft());
                self.epoch += 1;
                self.snapshot_applied = 0;
                self.start(cx);
            }
            Maintenance::Defragment => {
                let (before, after) = (self.store.db_size_bytes(), self.store.in_use_bytes());
                self.store.defragment();
                cx.record("step", || {
                    format!("{name}: defragmented: database size {before} B -> {after} B")
                });
            }
            Maintenance::AlarmDisarm => {
                cx.record("step", || format!("{name}: alarm disarm requested"));
                self.raft.propose(Proposal::NoSpaceAlarm { raise: false });
            }
            Maintenance::ProcessExit => self.end_connections(cx),
            Maintenance::DiskLost => {
                cx.record("step", || {
                    format!("{name}: its disk is lost: WAL and backend are gone")
                });
                self.end_connections(cx);
                self.store = Store::default();
                self.raft.wipe();
                self.snapshot_applied = 0;
            }
        }
    }

    /// The process goes away: every client's open request and watch stream ends with
    /// `etcdserver: server stopped` (a reset connection, as clients see it).
    fn end_connections(&mut self, cx: &mut Context<'_, Msg>) {
        for watcher in std::mem::take(&mut self.watchers) {
            let response = EtcdResponse::Error {
                id: watcher.watch_id,
                error: EtcdError::Stopped,
            };
            cx.send(watcher.client, Msg::EtcdReply(Box::new(response)));
        }
        let waiters: Vec<Waiter> = self.waiters.drain().map(|(_, waiter)| waiter).collect();
        for Waiter { client, kind } in waiters {
            if client == cx.me() {
                continue;
            }
            let response = EtcdResponse::Error {
                id: kind.id(),
                error: EtcdError::Stopped,
            };
            cx.send(client, Msg::EtcdReply(Box::new(response)));
        }
    }

    /// Boot: Raft starts as a follower (a lone member elects itself), the clock ticks.
    fn start(&mut self, cx: &mut Context<'_, Msg>) {
        self.raft.start(cx.rng());
        if !self.single() && !self.ticking {
            self.ticking = true;
            cx.timer(
                self.config.heartbeat_interval,
                Msg::Tick(AnyTick::Etcd(Tick::Raft)),
            );
        }
        let name = self.name();
        let (revision, keys, term) = (
            self.store.revision(),
            self.store.key_count(),
            self.raft.term(),
        );
        let rejoining = self.raft.is_rejoining();
        cx.record("detail", || {
            format!(
                "{name} serving at revision {revision} with {keys} keys, term {term}{}",
                if rejoining {
                    ", rejoining after a disk loss"
                } else {
                    ""
                }
            )
        });
    }

    fn forget_memory(&mut self) {
        self.watchers.clear();
        self.waiters.clear();
        self.deadlines.clear();
        self.reads_waiting_apply.clear();
        self.new_waiters.clear();
        self.flush_armed = false;
        self.raft.crash();
    }

    fn on_raft(&mut self, from: ActorId, envelope: RaftEnvelope, cx: &mut Context<'_, Msg>) {
        if envelope.epoch != self.epoch {
            return;
        }
        let Some(peer) = self.members.iter().position(|&m| m == from) else {
            panic!("raft message from a non-member {from:?}");
        };
        // A follower answers an append only once the entries are on its disk.
        let fsync = match &envelope.message {
            RaftMessage::Append { entries, .. } => !entries.is_empty(),
            RaftMessage::InstallSnapshot { .. } => true,
            _ => false,
        };
        self.raft.step(peer, envelope.message, cx.rng());
        let delay = if fsync {
            self.config.commit_latency
        } else {
            SimDuration::ZERO
        };
        self.after_raft(delay, cx);
    }

    fn on_tick(&mut self, tick: Tick, cx: &mut Context<'_, Msg>) {
        match tick {
            Tick::Raft => {
                self.raft.tick(cx.rng());
                cx.timer(
                    self.config.heartbeat_interval,
                    Msg::Tick(AnyTick::Etcd(Tick::Raft)),
                );
                self.after_raft(SimDuration::ZERO, cx);
            }
            Tick::Flush => {
                self.flush_armed = false;
                self.raft.flush();
                self.after_raft(SimDuration::ZERO, cx);
            }
            Tick::Deadline(generation) => {
                let now = cx.now();
                for waiter in self.deadlines.fire(generation, now) {
                    let Some(Waiter { client, kind }) = self.waiters.swap_remove(&waiter) else {
                        continue;
                    };
                    self.raft.cancel_waiting(waiter);
                    let name = self.name();
                    let leader = self.raft.leader().map(|l| self.member_name(l));
                    cx.record("step", || {
                        format!(
                            "{name}: request {} timed out ({}): etcdserver: request timed out",
                            kind.id(),
                            match leader {
                                Some(leader) => format!("leader {leader} did not commit it"),
                                None => "no leader".to_string(),
                            }
                        )
                    });
                    let response = EtcdResponse::Error {
                        id: kind.id(),
                        error: EtcdError::RequestTimedOut,
                    };
                    self.reply(cx, SimDuration::ZERO, client, response);
                }
                self.rearm_deadlines(cx.now(), cx);
            }
        }
    }

    fn rearm_deadlines(&mut self, now: SimTime, cx: &mut Context<'_, Msg>) {
        if let Some(rearm) = self.deadlines.rearm(now) {
            cx.timer(
                rearm.after,
                Msg::Tick(AnyTick::Etcd(Tick::Deadline(rearm.generation))),
            );
        }
    }

    /// Everything Raft asked for: a WAL flush, messages, narration, snapshots to send or
    /// load, entries to apply, reads to answer. `delay` holds back the messages (a
    /// follower's fsync before it acknowledges).
    fn after_raft(&mut self, delay: SimDuration, cx: &mut Context<'_, Msg>) {
        if self.raft.has_unflushed() {
            if self.single() {
                // Nobody to replicate to: the entry commits once it is on this disk, which
                // the answer's `commit_latency` stands for.
                self.raft.flush();
            } else if !self.flush_armed {
                self.flush_armed = true;
                cx.timer(
                    self.config.commit_latency,
                    Msg::Tick(AnyTick::Etcd(Tick::Flush)),
                );
            }
        }
        for event in self.raft.take_events() {
            self.on_raft_event(event, cx);
        }
        if let Some(snapshot) = self.raft.take_installed() {
            self.store = (*snapshot.store).clone();
            self.snapshot_applied = snapshot.index;
            // Watches continue from the new store; history they missed is not replayed.
        }
        for (to, message) in self.raft.take_messages() {
            let envelope = RaftEnvelope {
                epoch: self.epoch,
                message,
            };
            cx.send_after(delay, self.members[to], Msg::Raft(Box::new(envelope)));
        }
        self.apply(cx);
        for (waiter, index) in self.raft.take_ready_reads() {
            if index <= self.raft.log.applied {
                self.answer_read(waiter, cx);
            } else {
                self.reads_waiting_apply.push((waiter, index));
            }
        }
        self.compact_log();
        // Requests still waiting after this event wait for Raft: each gets its timeout.
        let now = cx.now();
        let due = now + self.config.request_timeout();
        for waiter in self.new_waiters.drain(..) {
            if self.waiters.contains_key(&waiter)
                && let Some(rearm) = self.deadlines.schedule(now, due, waiter)
            {
                cx.timer(
                    rearm.after,
                    Msg::Tick(AnyTick::Etcd(Tick::Deadline(rearm.generation))),
                );
            }
        }
    }

    fn on_raft_event(&mut self, event: RaftEvent, cx: &mut Context<'_, Msg>) {
        let name = self.name();
        match event {
            RaftEvent::Campaign { term, pre_vote } => {
                if self.single() {
                    return;
                }
                // A member without a quorum pre-votes at every timeout: the real
                // campaigns are the story, the pre-votes a detail.
                let kind = if pre_vote { "detail" } else { "step" };
                cx.record(kind, || {
                    if pre_vote {
                        format!("{name}: election timeout: pre-vote for term {term}")
                    } else {
                        format!("{name}: election timeout: campaigning for term {term}")
                    }
                });
            }
            RaftEvent::BecameLeader { term } => {
                cx.record("step", || {
                    format!("{name} is the etcd leader in term {term}")
                });
            }
            RaftEvent::Following { term, leader } => {
                let leader = self.member_name(leader);
                cx.record("detail", || {
                    format!("{name} follows leader {leader} in term {term}")
                });
            }
            RaftEvent::LostQuorum { term } => {
                cx.record("step", || {
                    format!(
                        "{name} steps down as leader of term {term}: it has not heard from a quorum within the election timeout; writes stall"
                    )
                });
            }
            RaftEvent::NewTerm { term } => {
                cx.record("detail", || {
                    format!("{name} moves to term {term}, no leader yet")
                });
            }
            RaftEvent::NeedSnapshot { follower } => {
                let index = self.raft.log.applied;
                let term = self
                    .raft
                    .log
                    .term_at(index)
                    .expect("the applied index is at or after the log's snapshot");
                let follower_name = self.member_name(follower);
                cx.record("step", || {
                    format!("{name} sends {follower_name} a snapshot at index {index}: its log no longer has what {follower_name} lacks")
                });
                let snapshot = Snapshot {
                    index,
                    term,
                    store: Rc::new(self.store.clone()),
                };
                self.raft.send_snapshot(follower, snapshot);
            }
            RaftEvent::SnapshotInstalled { index } => {
                cx.record("step", || {
                    format!("{name} installed a snapshot at index {index}")
                });
            }
        }
    }

    /// Applies committed entries in order and answers this member's waiters.
    fn apply(&mut self, cx: &mut Context<'_, Msg>) {
        let mut entries = std::mem::take(&mut self.applying);
        if self.single() {
            self.raft.log.drain_committed_into(&mut entries);
        } else {
            entries.extend(self.raft.log.take_committed());
        }
        if entries.is_empty() {
            self.applying = entries;
            return;
        }
        let (write_delay, no_write_delay) = if self.single() {
            (self.config.commit_latency, self.config.read_latency)
        } else {
            (SimDuration::ZERO, SimDuration::ZERO)
        };
        for entry in entries.drain(..) {
            match entry.proposal {
                Proposal::Empty => {}
                Proposal::Txn {
                    origin,
                    key,
                    compare,
                    op,
                } => self.apply_txn(origin, key, compare, op, write_delay, no_write_delay, cx),
                Proposal::Compact { revision } => {
                    if self.store.compact(revision) {
                        let name = self.name();
                        let compacted = self.store.compact_revision();
                        cx.record("detail", || {
                            format!("{name}: compacted history up to revision {compacted}")
                        });
                    }
                }
                Proposal::NoSpaceAlarm { raise } => {
                    if self.store.nospace_alarm() != raise {
                        self.store.set_nospace_alarm(raise);
                        let name = self.name();
                        cx.record("step", || {
                            if raise {
                                format!("{name}: alarm NOSPACE raised: the cluster refuses puts until it is disarmed")
                            } else {
                                format!("{name}: alarm NOSPACE disarmed")
                            }
                        });
                    }
                }
            }
        }
        self.applying = entries;
        if self.reads_waiting_apply.is_empty() {
            return;
        }
        let applied = self.raft.log.applied;
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.reads_waiting_apply)
            .into_iter()
            .partition(|(_, index)| *index <= applied);
        self.reads_waiting_apply = waiting;
        for (waiter, _) in ready {
            self.answer_read(waiter, cx);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_txn(
        &mut self,
        origin: Option<Origin>,
        key: ObjectKey,
        compare: Compare,
        op: TxnOp,
        write_delay: SimDuration,
        no_write_delay: SimDuration,
        cx: &mut Context<'_, Msg>,
    ) {
        let waiter = origin
            .filter(|o| o.member == self.index)
            .and_then(|o| self.waiters.swap_remove(&o.waiter));
        // etcd's applier refuses puts while NOSPACE is raised (applierV3Capped), also for
        // proposals made before the alarm.
        if self.store.nospace_alarm() && matches!(op, TxnOp::Put(_)) {
            if let Some(Waiter { client, kind }) = waiter {
                let response = EtcdResponse::Error {
                    id: kind.id(),
                    error: EtcdError::NoSpace,
                };
                self.reply(cx, no_write_delay, client, response);
            }
            return;
        }
        let outcome = self.store.apply_txn(&key, compare, op);
        let revision = self.store.revision();
        let written = matches!(outcome, TxnOutcome::Written);
        let (succeeded, value) = match outcome {
            TxnOutcome::Failed { current } => (false, current),
            TxnOutcome::Nothing => (true, None),
            TxnOutcome::Written => {
                let change = self.store.latest().expect("just written");
                let value = match change.type_ {
                    EtcdEventType::Put => Some(change.object.clone()),
                    EtcdEventType::Delete => None,
                };
                (true, value)
            }
        };
        let mut own_watch_event = None;
        if written {
            let change = self.store.latest().expect("just written");
            let created = change.previous.is_none();
            let type_ = change.type_;
            let kind = if (created || type_ == EtcdEventType::Delete)
                && !matches!(
                    change.key.kind,
                    Kind::Lease | Kind::Namespace | Kind::PriorityClass
                ) {
                "step"
            } else {
                "detail"
            };
            // In a cluster every member applies every write: the leader narrates it.
            let narrate = self.single() || self.raft.is_leader();
            if change.key.kind != Kind::Lease && narrate {
                let verb = match (type_, created) {
                    (EtcdEventType::Delete, _) => "deleted",
                    (EtcdEventType::Put, true) => "stored",
                    (EtcdEventType::Put, false) => "updated",
                };
                cx.record(kind, || {
                    format!("{verb} {} at revision {revision}", change.key.etcd_key())
                });
            }
            // Watch events go out once the write is applied.
            let requester = waiter.map(|w| w.client);
            for watcher in self.watchers.iter().filter(|w| w.kind == change.key.kind) {
                let event = Box::new(change.to_event(watcher.watch_id));
                if Some(watcher.client) == requester && own_watch_event.is_none() {
                    own_watch_event = Some(event);
                } else {
                    cx.send_after(write_delay, watcher.client, Msg::EtcdWatch(event));
                }
            }
        }
        let Some(Waiter { client, kind }) = waiter else {
            return;
        };
        let response = EtcdResponse::Txn {
            id: kind.id(),
            succeeded,
            revision,
            value: if succeeded || !written { value } else { None },
            own_watch_event,
        };
        let delay = if written { write_delay } else { no_write_delay };
        self.reply(cx, delay, client, response);
    }

    fn answer_read(&mut self, waiter: u64, cx: &mut Context<'_, Msg>) {
        let Some(Waiter { client, kind }) = self.waiters.swap_remove(&waiter) else {
            return;
        };
        let WaiterKind::Range { id, kind, limit } = kind else {
            panic!("a read index for a write's waiter");
        };
        let limit = if limit == 0 {
            usize::MAX
        } else {
            limit as usize
        };
        let items = self.store.objects(kind).take(limit).cloned().collect();
        let response = EtcdResponse::Range {
            id,
            items,
            revision: self.store.revision(),
        };
        self.reply(cx, self.config.read_latency, client, response);
    }

    /// `--snapshot-count`: every so many applied entries the member snapshots its store
    /// and drops the log behind it, keeping `SnapshotCatchUpEntries` for slow followers.
    fn compact_log(&mut self) {
        let applied = self.raft.log.applied;
        if self.single() {
            // Nobody will ever ask a lone member for entries: its log is kept no longer
            // than it takes to apply them (upstream keeps them until the next snapshot,
            // which nothing can observe).
            self.raft.log.compact_to(applied);
            return;
        }
        if applied - self.snapshot_applied.min(applied) < self.config.snapshot_count {
            return;
        }
        self.snapshot_applied = applied;
        let keep_from = applied.saturating_sub(self.config.snapshot_catch_up_entries);
        self.raft.log.compact_to(keep_from);
    }
}

/// The member observers read the cluster's state from: the newest cluster (a restore
/// starts one), then the most applied revision, then the leader.
pub fn freshest<'a>(sim: &'a Simulation<Msg>, members: &[ActorId]) -> &'a Etcd {
    if let [only] = members {
        return sim
            .actor::<Etcd>(*only)
            .expect("an etcd member actor is an Etcd");
    }
    members
        .iter()
        .map(|&id| {
            sim.actor::<Etcd>(id)
                .expect("an etcd member actor is an Etcd")
        })
        .max_by_key(|member| (member.epoch, member.store.revision(), member.is_leader()))
        .expect("at least one etcd member")
}

/// The etcd invariants, checked after every event of a run with more than one member
/// (one member is trivially its own only leader):
/// - at most one leader per term (Raft's Election Safety);
/// - no committed entry is lost while a quorum survives (Leader Completeness): every new
///   leader's log holds every entry committed before, with the term it was committed in.
pub fn install_invariants(sim: &mut Simulation<Msg>, members: &[ActorId]) {
    if members.len() == 1 {
        return;
    }
    let members = members.to_vec();
    let mut checker = RaftChecker::default();
    let watched = members.clone();
    sim.add_invariant_over(
        "etcd",
        &watched,
        Box::new(move |sim| {
            for (index, &id) in members.iter().enumerate() {
                if !sim.actor_up(id) {
                    continue;
                }
                let member = sim.actor::<Etcd>(id).expect("an etcd member");
                checker.observe(index, member)?;
            }
            Ok(())
        }),
    );
}

/// Follows the members' Raft state (see [`install_invariants`]).
#[derive(Debug, Default)]
struct RaftChecker {
    /// The leader seen in each (epoch, term).
    leaders: BTreeMap<(u64, u64), MemberIndex>,
    /// Per epoch, the highest committed index seen and its term.
    committed: BTreeMap<u64, (u64, u64)>,
}

impl RaftChecker {
    fn observe(&mut self, index: MemberIndex, member: &Etcd) -> Result<(), String> {
        let raft = &member.raft;
        let epoch = member.epoch;
        if raft.is_leader() {
            self.check_leader(index, epoch, raft)?;
        }
        let committed = raft.log.committed;
        let known = self.committed.get(&epoch).copied().unwrap_or((0, 0));
        if committed > known.0
            && let Some(term) = raft.log.term_at(committed)
        {
            self.committed.insert(epoch, (committed, term));
        }
        Ok(())
    }

    /// A leader: alone in its term, and holding every entry committed before it.
    fn check_leader(&mut self, index: MemberIndex, epoch: u64, raft: &Raft) -> Result<(), String> {
        let term = raft.term();
        match self.leaders.get(&(epoch, term)) {
            Some(&other) if other != index => {
                return Err(format!(
                    "at most one etcd leader per term: etcd-{} and etcd-{} both lead term {term}",
                    other + 1,
                    index + 1
                ));
            }
            Some(_) => return Ok(()),
            None => {
                self.leaders.insert((epoch, term), index);
            }
        }
        let (committed, committed_term) = self.committed.get(&epoch).copied().unwrap_or((0, 0));
        if raft.log.last_index() < committed {
            return Err(format!(
                "no committed write is lost: etcd-{} leads term {term} with a log ending at {} though entry {committed} was committed",
                index + 1,
                raft.log.last_index()
            ));
        }
        if let Some(found) = raft.log.term_at(committed)
            && found != committed_term
        {
            return Err(format!(
                "no committed write is lost: etcd-{} leads term {term} with entry {committed} of term {found}, but the committed entry {committed} is of term {committed_term}",
                index + 1
            ));
        }
        Ok(())
    }
}

impl Actor<Msg> for Etcd {
    fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
        match event {
            Event::Start => self.start(cx),
            Event::Message {
                from,
                msg: Msg::Etcd(request),
            } => {
                self.handle(from, *request, cx);
                self.after_raft(SimDuration::ZERO, cx);
            }
            Event::Message {
                from,
                msg: Msg::Raft(envelope),
            } => self.on_raft(from, *envelope, cx),
            Event::Timer(Msg::Tick(AnyTick::Etcd(tick))) => self.on_tick(tick, cx),
            Event::Timer(Msg::Etcd(request)) => {
                // The timeline acts on the member's machine (a disk loss).
                let me = cx.me();
                self.handle(me, *request, cx);
                self.after_raft(SimDuration::ZERO, cx);
            }
            Event::Message { msg, .. } | Event::Timer(msg) => {
                panic!("etcd got an unexpected message: {msg:?}")
            }
        }
    }

    fn on_crash(&mut self) {
        self.forget_memory();
        self.ticking = false;
    }
}

impl Fingerprint for EtcdRequest {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            EtcdRequest::Txn { id, key, .. } => {
                hasher.write_u64(1);
                hasher.write_u64(*id);
                hasher.write_str(&key.name);
            }
            EtcdRequest::Range { id, kind, limit } => {
                hasher.write_u64(2);
                hasher.write_u64(*id);
                hasher.write_u64(kind.code());
                hasher.write_u64(*limit);
            }
            EtcdRequest::Watch {
                watch_id,
                start_revision,
                ..
            } => {
                hasher.write_u64(3);
                hasher.write_u64(*watch_id);
                hasher.write_u64(*start_revision);
            }
            EtcdRequest::Compact { revision } => {
                hasher.write_u64(4);
                hasher.write_u64(*revision);
            }
            EtcdRequest::Maintenance(maintenance) => {
                hasher.write_u64(5);
                match maintenance {
                    Maintenance::SnapshotSave { name } => {
                        hasher.write_u64(1);
                        hasher.write_str(name);
                    }
                    Maintenance::Restore { name, store } => {
                        hasher.write_u64(2);
                        hasher.write_str(name);
                        hasher.write_u64(store.revision());
                    }
                    Maintenance::Defragment => hasher.write_u64(3),
                    Maintenance::AlarmDisarm => hasher.write_u64(4),
                    Maintenance::DiskLost => hasher.write_u64(5),
                    Maintenance::ProcessExit => hasher.write_u64(6),
                }
            }
        }
    }
}

impl Fingerprint for EtcdResponse {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            EtcdResponse::Txn {
                id,
                succeeded,
                revision,
                own_watch_event,
                ..
            } => {
                hasher.write_u64(*id);
                hasher.write_u64(u64::from(*succeeded));
                hasher.write_u64(*revision);
                if let Some(event) = own_watch_event {
                    event.fingerprint(hasher);
                }
            }
            EtcdResponse::Range {
                id,
                revision,
                items,
            } => {
                hasher.write_u64(*id);
                hasher.write_u64(*revision);
                hasher.write_u64(items.len() as u64);
            }
            EtcdResponse::WatchCompacted {
                watch_id,
                compact_revision,
            } => {
                hasher.write_u64(*watch_id);
                hasher.write_u64(*compact_revision);
            }
            EtcdResponse::Error { id, error } => {
                hasher.write_u64(*id);
                hasher.write_u64(1000 + error.code());
            }
        }
    }
}

impl Fingerprint for EtcdWatchEvent {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        hasher.write_u64(self.watch_id);
        hasher.write_u64(self.revision);
        hasher.write_u64(self.type_ as u64);
    }
}

impl Fingerprint for RaftEnvelope {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        hasher.write_u64(self.epoch);
        hasher.write_str(self.message.name());
        match &self.message {
            RaftMessage::PreVote {
                term,
                last_index,
                last_term,
            }
            | RaftMessage::Vote {
                term,
                last_index,
                last_term,
            } => {
                hasher.write_u64(*term);
                hasher.write_u64(*last_index);
                hasher.write_u64(*last_term);
            }
            RaftMessage::PreVoteResponse { term, granted }
            | RaftMessage::VoteResponse { term, granted } => {
                hasher.write_u64(*term);
                hasher.write_u64(u64::from(*granted));
            }
            RaftMessage::Append {
                term,
                prev_index,
                entries,
                commit,
                ..
            } => {
                hasher.write_u64(*term);
                hasher.write_u64(*prev_index);
                hasher.write_u64(entries.len() as u64);
                hasher.write_u64(*commit);
            }
            RaftMessage::AppendResponse {
                term,
                reject,
                index,
                ..
            } => {
                hasher.write_u64(*term);
                hasher.write_u64(u64::from(*reject));
                hasher.write_u64(*index);
            }
            RaftMessage::Heartbeat {
                term,
                commit,
                context,
            } => {
                hasher.write_u64(*term);
                hasher.write_u64(*commit);
                hasher.write_u64(*context);
            }
            RaftMessage::HeartbeatResponse { term, context } => {
                hasher.write_u64(*term);
                hasher.write_u64(*context);
            }
            RaftMessage::InstallSnapshot { term, snapshot } => {
                hasher.write_u64(*term);
                hasher.write_u64(snapshot.index);
            }
            RaftMessage::Propose { proposals } => hasher.write_u64(proposals.len() as u64),
            RaftMessage::ReadIndex { context } => hasher.write_u64(*context),
            RaftMessage::ReadIndexResponse {
                term,
                context,
                index,
            } => {
                hasher.write_u64(*term);
                hasher.write_u64(*context);
                hasher.write_u64(*index);
            }
        }
    }
}

impl Fingerprint for Tick {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            Tick::Raft => hasher.write_u64(1),
            Tick::Flush => hasher.write_u64(2),
            Tick::Deadline(generation) => {
                hasher.write_u64(3);
                hasher.write_u64(*generation);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::SimRng;

    /// A member whose Raft is a lone leader after `starts` boots with `entries` proposals:
    /// enough to show the checker any (term, log) a member of a cluster could have.
    fn leading(index: MemberIndex, starts: u32, entries: usize) -> Etcd {
        let config = EtcdConfig {
            members: 3,
            ..EtcdConfig::default()
        };
        let mut member = Etcd::new(config);
        member.index = index;
        let mut rng = SimRng::for_stream(1, "checker");
        let mut raft = Raft::new(0, 1, RaftConfig::default());
        for _ in 0..starts {
            raft.crash();
            raft.start(&mut rng);
        }
        for _ in 0..entries {
            raft.propose(Proposal::Empty);
        }
        raft.flush();
        member.raft = raft;
        member
    }

    #[test]
    fn the_checker_refuses_two_leaders_in_one_term() {
        let mut checker = RaftChecker::default();
        assert_eq!(checker.observe(0, &leading(0, 1, 0)), Ok(()));
        assert_eq!(
            checker.observe(0, &leading(0, 1, 0)),
            Ok(()),
            "the same leader"
        );
        let error = checker.observe(1, &leading(1, 1, 0)).unwrap_err();
        assert!(
            error.contains("etcd-1 and etcd-2 both lead term 1"),
            "{error}"
        );
        // Another term, or the same term after a restore (a new epoch), is fine.
        assert_eq!(checker.observe(1, &leading(1, 2, 0)), Ok(()));
        let mut restored = leading(2, 1, 0);
        restored.epoch = 1;
        assert_eq!(checker.observe(2, &restored), Ok(()));
    }

    #[test]
    fn the_checker_refuses_a_leader_missing_a_committed_entry() {
        let mut checker = RaftChecker::default();
        // Term 1's leader committed 5 entries (its empty entry and 4 proposals).
        assert_eq!(checker.observe(0, &leading(0, 1, 4)), Ok(()));
        // Term 2's leader has only 2 entries.
        let error = checker.observe(1, &leading(1, 2, 0)).unwrap_err();
        assert!(error.contains("log ending at 2 though entry 5"), "{error}");
        // Term 3's has 8, but its entry 5 is not the one committed in term 1.
        let error = checker.observe(1, &leading(1, 3, 4)).unwrap_err();
        assert!(error.contains("entry 5 of term 3"), "{error}");
        // The term-1 leader elected again, with its whole log, is fine.
        let mut again = leading(2, 1, 4);
        let mut rng = SimRng::for_stream(1, "again");
        for _ in 0..3 {
            again.raft.crash();
            again.raft.start(&mut rng);
        }
        assert_eq!(again.raft.term(), 4, "a term nobody led yet");
        assert_eq!(checker.observe(2, &again), Ok(()));
    }

    #[test]
    fn the_request_timeout_is_etcds_req_timeout() {
        // 5 s + 2 × the 1 s election timeout.
        assert_eq!(
            EtcdConfig::default().request_timeout(),
            SimDuration::from_secs(7)
        );
        assert_eq!(EtcdConfig::default().raft().election_ticks, 10);
    }
}
