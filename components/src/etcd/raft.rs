//! Raft consensus as pure transitions: the state machine of one member, after etcd-io/raft
//! (raft.go, log.go, tracker/progress.go), driven by ticks and messages and returning what
//! to send. No time, no network: the member actor (`etcd/mod.rs`) ticks it every
//! `--heartbeat-interval`, hands it messages and sends what it queued.
//!
//! What is modelled, as etcd configures the library (server/etcdserver/raft.go):
//! - Roles Follower, PreCandidate, Candidate, Leader. PreVote is on (`--pre-vote`,
//!   default true since etcd v3.4) and CheckQuorum is on: a leader that has not heard from
//!   a quorum within an election timeout steps down, and a member that heard from a leader
//!   within an election timeout ignores (pre-)vote requests (leader lease).
//! - Election timeout randomized in `[election, 2 × election)` ticks, drawn from the
//!   member's own random stream at each reset.
//! - RequestVote with the log up-to-date check; AppendEntries with log matching, conflict
//!   truncation and a rejection hint; commit on a quorum of match indexes, only for an
//!   entry of the leader's own term; a new leader appends an empty entry.
//! - Progress per follower: Probe (one append in flight until answered), Replicate
//!   (pipelined) and Snapshot (the follower's next entry was compacted away: it gets a
//!   snapshot of the leader's store).
//! - ReadIndex for linearizable reads: the leader records its commit index, confirms its
//!   leadership with a heartbeat round acknowledged by a quorum, then the read is served
//!   once the member has applied up to that index.
//! - Proposals at a member without a leader wait (etcd's raft node stops taking proposals
//!   while it has no leader, node.go `propc = nil`) until one is known or the client's
//!   request times out; a follower forwards them to its leader.

use std::collections::VecDeque;
use std::rc::Rc;

use sim_core::SimRng;

use super::Proposal;
use super::store::Store;

/// A member's position in the cluster's member list (`etcd-1` is 0).
pub type MemberIndex = usize;

/// Settings of the consensus state machine, in ticks of `--heartbeat-interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RaftConfig {
    /// `--election-timeout` / `--heartbeat-interval`: 1000 ms / 100 ms = 10 upstream.
    pub election_ticks: u32,
    /// A leader sends heartbeats every this many ticks (etcd: 1).
    pub heartbeat_ticks: u32,
    /// `--pre-vote`, upstream default true (etcd v3.4+).
    pub pre_vote: bool,
    /// Entries per append message at most (etcd bounds messages by MaxSizePerMsg, 1 MiB).
    pub max_entries_per_append: usize,
}

impl Default for RaftConfig {
    fn default() -> Self {
        RaftConfig {
            election_ticks: 10,
            heartbeat_ticks: 1,
            pre_vote: true,
            max_entries_per_append: 4096,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub term: u64,
    pub index: u64,
    pub proposal: Proposal,
}

/// A member's applied store at a log position, sent to a follower whose next entry the
/// leader has compacted away (or that lost its disk).
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub index: u64,
    pub term: u64,
    pub store: Rc<Store>,
}

/// What a read waits for: a confirmed read index, for this member's own client or for a
/// follower that forwarded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadRequester {
    Local(u64),
    Remote(MemberIndex, u64),
}

#[derive(Clone, Debug)]
pub enum RaftMessage {
    PreVote {
        term: u64,
        last_index: u64,
        last_term: u64,
    },
    PreVoteResponse {
        term: u64,
        granted: bool,
    },
    Vote {
        term: u64,
        last_index: u64,
        last_term: u64,
    },
    VoteResponse {
        term: u64,
        granted: bool,
    },
    Append {
        term: u64,
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        commit: u64,
    },
    /// Accepted: `index` is the follower's match. Rejected: `index` is the `prev_index`
    /// that did not match and `hint` the follower's last index.
    AppendResponse {
        term: u64,
        reject: bool,
        index: u64,
        hint: u64,
    },
    Heartbeat {
        term: u64,
        commit: u64,
        /// The read round this heartbeat confirms leadership for.
        context: u64,
    },
    HeartbeatResponse {
        term: u64,
        context: u64,
    },
    InstallSnapshot {
        term: u64,
        snapshot: Snapshot,
    },
    /// Proposals a follower forwards to its leader (no term: a local message in raft).
    Propose {
        proposals: Vec<Proposal>,
    },
    /// A follower asks its leader for a read index.
    ReadIndex {
        context: u64,
    },
    ReadIndexResponse {
        term: u64,
        context: u64,
        index: u64,
    },
}

impl RaftMessage {
    /// The sender's term; `None` for local messages (proposals, read requests).
    pub fn term(&self) -> Option<u64> {
        match self {
            RaftMessage::PreVote { term, .. }
            | RaftMessage::PreVoteResponse { term, .. }
            | RaftMessage::Vote { term, .. }
            | RaftMessage::VoteResponse { term, .. }
            | RaftMessage::Append { term, .. }
            | RaftMessage::AppendResponse { term, .. }
            | RaftMessage::Heartbeat { term, .. }
            | RaftMessage::HeartbeatResponse { term, .. }
            | RaftMessage::InstallSnapshot { term, .. }
            | RaftMessage::ReadIndexResponse { term, .. } => Some(*term),
            RaftMessage::Propose { .. } | RaftMessage::ReadIndex { .. } => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            RaftMessage::PreVote { .. } => "PreVote",
            RaftMessage::PreVoteResponse { .. } => "PreVoteResponse",
            RaftMessage::Vote { .. } => "Vote",
            RaftMessage::VoteResponse { .. } => "VoteResponse",
            RaftMessage::Append { .. } => "Append",
            RaftMessage::AppendResponse { .. } => "AppendResponse",
            RaftMessage::Heartbeat { .. } => "Heartbeat",
            RaftMessage::HeartbeatResponse { .. } => "HeartbeatResponse",
            RaftMessage::InstallSnapshot { .. } => "InstallSnapshot",
            RaftMessage::Propose { .. } => "Propose",
            RaftMessage::ReadIndex { .. } => "ReadIndex",
            RaftMessage::ReadIndexResponse { .. } => "ReadIndexResponse",
        }
    }
}

/// Something the member should narrate or act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RaftEvent {
    /// An election timeout passed: a pre-vote (no term change) or a real election.
    Campaign {
        term: u64,
        pre_vote: bool,
    },
    BecameLeader {
        term: u64,
    },
    /// A leader became known (or changed).
    Following {
        term: u64,
        leader: MemberIndex,
    },
    /// The leader stepped down: it had not heard from a quorum (CheckQuorum).
    LostQuorum {
        term: u64,
    },
    /// A higher term was seen; no leader is known in it yet.
    NewTerm {
        term: u64,
    },
    /// The leader needs a snapshot of its store to send this follower.
    NeedSnapshot {
        follower: MemberIndex,
    },
    /// A snapshot replaced this member's log and store.
    SnapshotInstalled {
        index: u64,
    },
}

/// The replicated log: entries after the last snapshot, and the commit and apply marks.
#[derive(Clone, Debug, Default)]
pub struct Log {
    /// The last index folded into a snapshot; entries start after it.
    snapshot_index: u64,
    snapshot_term: u64,
    entries: VecDeque<Entry>,
    pub committed: u64,
    pub applied: u64,
}

impl Log {
    pub fn first_index(&self) -> u64 {
        self.snapshot_index + 1
    }
    pub fn last_index(&self) -> u64 {
        self.snapshot_index + self.entries.len() as u64
    }
    pub fn last_term(&self) -> u64 {
        self.entries.back().map_or(self.snapshot_term, |e| e.term)
    }
    /// The term of the entry at `index`; `None` when compacted or beyond the end.
    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        if index < self.snapshot_index || index > self.last_index() {
            return None;
        }
        Some(self.entries[(index - self.first_index()) as usize].term)
    }
    fn matches(&self, index: u64, term: u64) -> bool {
        self.term_at(index) == Some(term)
    }
    /// Raft's up-to-date rule (§5.4.1): a higher last term, or the same and a log at
    /// least as long.
    pub fn is_up_to_date(&self, last_index: u64, last_term: u64) -> bool {
        last_term > self.last_term()
            || (last_term == self.last_term() && last_index >= self.last_index())
    }
    fn push(&mut self, entry: Entry) {
        assert_eq!(
            entry.index,
            self.last_index() + 1,
            "log entries are contiguous"
        );
        assert!(
            entry.term >= self.last_term(),
            "terms never decrease in a log"
        );
        self.entries.push_back(entry);
    }
    fn entries_from(&self, index: u64, max: usize) -> Vec<Entry> {
        assert!(
            index >= self.first_index(),
            "entries {index}.. were compacted"
        );
        let start = (index - self.first_index()) as usize;
        self.entries.range(start..).take(max).cloned().collect()
    }
    /// Appends a leader's entries after `prev` (already matched), cutting off a
    /// conflicting suffix. Committed entries never conflict.
    fn append_after_match(&mut self, entries: Vec<Entry>) {
        for entry in entries {
            match self.term_at(entry.index) {
                Some(term) if term == entry.term => {}
                Some(_) => {
                    assert!(
                        entry.index > self.committed,
                        "a leader's entry conflicts with committed entry {}",
                        entry.index
                    );
                    let keep = (entry.index - self.first_index()) as usize;
                    self.entries.truncate(keep);
                    self.push(entry);
                }
                None if entry.index <= self.snapshot_index => {}
                None => self.push(entry),
            }
        }
    }
    /// Drops entries up to `index` (applied), keeping their position as the snapshot's.
    pub fn compact_to(&mut self, index: u64) {
        assert!(index <= self.applied, "only applied entries are compacted");
        if index <= self.snapshot_index {
            return;
        }
        let term = self.term_at(index).expect("within the log");
        let drop = (index - self.snapshot_index) as usize;
        self.entries.drain(..drop);
        self.snapshot_index = index;
        self.snapshot_term = term;
    }
    /// Replaces everything with a snapshot's position.
    fn restore(&mut self, index: u64, term: u64) {
        self.entries.clear();
        self.snapshot_index = index;
        self.snapshot_term = term;
        self.committed = index;
        self.applied = index;
    }
    /// Where the committed entries not yet applied sit in `entries` (`None`: there are
    /// none), marking them applied.
    fn mark_committed_applied(&mut self) -> Option<std::ops::Range<usize>> {
        if self.applied >= self.committed {
            return None;
        }
        assert!(
            self.applied >= self.snapshot_index,
            "applied entries were compacted"
        );
        let start = (self.applied - self.snapshot_index) as usize;
        let end = (self.committed - self.snapshot_index) as usize;
        self.applied = self.committed;
        Some(start..end)
    }
    /// The committed entries not yet applied, marking them applied.
    pub fn take_committed(&mut self) -> Vec<Entry> {
        self.mark_committed_applied()
            .map_or_else(Vec::new, |range| {
                self.entries.range(range).cloned().collect()
            })
    }
    /// As [`Log::take_committed`] (appending them to `into`), and forgets the log up to
    /// the last of them (as [`Log::compact_to`] would): a lone member, which nobody will
    /// ask for entries, gets its proposals back unshared, so applying them copies no
    /// object.
    pub fn drain_committed_into(&mut self, into: &mut Vec<Entry>) {
        let Some(range) = self.mark_committed_applied() else {
            return;
        };
        let term = self
            .term_at(self.committed)
            .expect("committed entries are in the log");
        into.extend(self.entries.drain(..range.end).skip(range.start));
        self.snapshot_index = self.committed;
        self.snapshot_term = term;
    }
    pub fn snapshot_index(&self) -> u64 {
        self.snapshot_index
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProgressState {
    /// One append at a time, until the follower answers.
    Probe,
    /// Appends are pipelined; `next` runs ahead of `match`.
    Replicate,
    /// A snapshot at this index is on its way.
    Snapshot(u64),
}

#[derive(Clone, Debug)]
struct Progress {
    match_index: u64,
    next_index: u64,
    state: ProgressState,
    /// In Probe: an append is in flight.
    probe_sent: bool,
    /// Heard from since the last CheckQuorum round.
    recent_active: bool,
    /// The highest read round this member acknowledged.
    acked_round: u64,
}

#[derive(Clone, Debug)]
struct PendingRead {
    round: u64,
    index: u64,
    requester: ReadRequester,
}

#[derive(Clone, Debug)]
pub struct LeaderState {
    progress: Vec<Progress>,
    read_round: u64,
    reads: Vec<PendingRead>,
    /// Reads that arrived before the leader committed an entry of its term.
    reads_before_commit: Vec<ReadRequester>,
}

/// Votes collected in a (pre-)election, as bit sets of members.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Votes {
    granted: u32,
    rejected: u32,
}

#[derive(Clone, Debug)]
pub enum Role {
    Follower,
    PreCandidate(Votes),
    Candidate(Votes),
    Leader(Box<LeaderState>),
}

impl Role {
    pub fn name(&self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::PreCandidate(_) => "pre-candidate",
            Role::Candidate(_) => "candidate",
            Role::Leader(_) => "leader",
        }
    }
}

/// Work held at a member without a leader, until one is known.
#[derive(Clone, Debug)]
enum Waiting {
    Proposal(Proposal),
    Read(ReadRequester),
}

/// One member's consensus state.
#[derive(Clone, Debug)]
pub struct Raft {
    id: MemberIndex,
    member_count: usize,
    config: RaftConfig,
    // Durable (the WAL's HardState and entries).
    term: u64,
    voted_for: Option<MemberIndex>,
    pub log: Log,
    // Volatile.
    role: Role,
    leader: Option<MemberIndex>,
    election_elapsed: u32,
    randomized_election_ticks: u32,
    heartbeat_elapsed: u32,
    /// The leader's own log is durable up to here (its WAL flush).
    flushed_index: u64,
    /// Came back after losing its disk: until a leader has brought it up to date it
    /// neither votes nor campaigns (it rejoins as a new member would, as a learner).
    rejoining: bool,
    waiting: Vec<Waiting>,
    outbox: Vec<(MemberIndex, RaftMessage)>,
    events: Vec<RaftEvent>,
    ready_reads: Vec<(u64, u64)>,
    /// A snapshot the last message installed, for the member to load.
    installed: Option<Snapshot>,
}

impl Raft {
    pub fn new(id: MemberIndex, member_count: usize, config: RaftConfig) -> Raft {
        assert!(id < member_count, "member {id} of {member_count}");
        assert!(member_count <= 32, "votes are kept as a 32-bit set");
        Raft {
            id,
            member_count,
            config,
            term: 0,
            voted_for: None,
            log: Log::default(),
            role: Role::Follower,
            leader: None,
            election_elapsed: 0,
            randomized_election_ticks: config.election_ticks,
            heartbeat_elapsed: 0,
            flushed_index: 0,
            rejoining: false,
            waiting: Vec::new(),
            outbox: Vec::new(),
            events: Vec::new(),
            ready_reads: Vec::new(),
            installed: None,
        }
    }

    pub fn id(&self) -> MemberIndex {
        self.id
    }
    pub fn term(&self) -> u64 {
        self.term
    }
    pub fn voted_for(&self) -> Option<MemberIndex> {
        self.voted_for
    }
    pub fn role(&self) -> &Role {
        &self.role
    }
    pub fn leader(&self) -> Option<MemberIndex> {
        self.leader
    }
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }
    pub fn is_rejoining(&self) -> bool {
        self.rejoining
    }
    pub fn quorum(&self) -> usize {
        self.member_count / 2 + 1
    }
    /// The leader's entries appended since its last WAL flush.
    pub fn has_unflushed(&self) -> bool {
        self.is_leader() && self.flushed_index < self.log.last_index()
    }
    /// Proposals and reads waiting for a leader.
    pub fn waiting_count(&self) -> usize {
        self.waiting.len()
    }

    pub fn take_messages(&mut self) -> Vec<(MemberIndex, RaftMessage)> {
        std::mem::take(&mut self.outbox)
    }
    pub fn take_events(&mut self) -> Vec<RaftEvent> {
        std::mem::take(&mut self.events)
    }
    /// Confirmed reads of this member's own clients: (context, read index).
    pub fn take_ready_reads(&mut self) -> Vec<(u64, u64)> {
        std::mem::take(&mut self.ready_reads)
    }

    /// A crash: memory is lost; term, vote and log (the WAL) stay.
    pub fn crash(&mut self) {
        self.role = Role::Follower;
        self.leader = None;
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.flushed_index = 0;
        self.waiting.clear();
        self.outbox.clear();
        self.events.clear();
        self.ready_reads.clear();
    }

    /// The member lost its disk: it comes back empty and rejoins.
    pub fn wipe(&mut self) {
        let (id, members, config) = (self.id, self.member_count, self.config);
        *self = Raft::new(id, members, config);
        self.rejoining = self.member_count > 1;
    }

    /// Starts (or restarts) as a follower with a fresh election timeout. A single member
    /// elects itself at once: it needs nobody's vote, and etcd's
    /// `--initial-election-tick-advance` (default true) makes its first election nearly
    /// immediate anyway.
    pub fn start(&mut self, rng: &mut SimRng) {
        let term = self.term;
        self.become_follower(term, None, rng);
        // etcd advances the election ticks at boot so the first election does not wait a
        // whole timeout (server/etcdserver/raft.go advanceTicks: election - 1 ticks).
        self.election_elapsed = self.config.election_ticks.saturating_sub(1);
        if self.member_count == 1 {
            self.campaign(false, rng);
        }
    }

    fn reset(&mut self, term: u64, rng: &mut SimRng) {
        if term != self.term {
            assert!(term > self.term, "terms only grow");
            self.term = term;
            self.voted_for = None;
        }
        self.leader = None;
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        let election = u64::from(self.config.election_ticks);
        self.randomized_election_ticks = (election + rng.below(election)) as u32;
    }

    fn become_follower(&mut self, term: u64, leader: Option<MemberIndex>, rng: &mut SimRng) {
        let was_leader = self.is_leader();
        let new_term = term > self.term;
        self.reset(term, rng);
        self.role = Role::Follower;
        self.leader = leader;
        match leader {
            Some(leader) => {
                self.events.push(RaftEvent::Following { term, leader });
                self.release_waiting();
            }
            None if was_leader || new_term => self.events.push(RaftEvent::NewTerm { term }),
            None => {}
        }
    }

    fn campaign(&mut self, pre_vote: bool, rng: &mut SimRng) {
        let term = if pre_vote {
            self.role = Role::PreCandidate(Votes::default());
            self.leader = None;
            self.term + 1
        } else {
            let next = self.term + 1;
            self.reset(next, rng);
            self.voted_for = Some(self.id);
            self.role = Role::Candidate(Votes::default());
            next
        };
        self.events.push(RaftEvent::Campaign { term, pre_vote });
        if self.record_vote(self.id, true, rng) {
            return;
        }
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        for peer in self.peers() {
            let message = if pre_vote {
                RaftMessage::PreVote {
                    term,
                    last_index,
                    last_term,
                }
            } else {
                RaftMessage::Vote {
                    term,
                    last_index,
                    last_term,
                }
            };
            self.outbox.push((peer, message));
        }
    }

    /// Counts a vote; true when it decided the (pre-)election.
    fn record_vote(&mut self, from: MemberIndex, granted: bool, rng: &mut SimRng) -> bool {
        let quorum = self.quorum() as u32;
        let members = self.member_count as u32;
        let (votes, pre_vote) = match &mut self.role {
            Role::PreCandidate(votes) => (votes, true),
            Role::Candidate(votes) => (votes, false),
            _ => return false,
        };
        let bit = 1u32 << from;
        if granted {
            votes.granted |= bit;
            votes.rejected &= !bit;
        } else if votes.granted & bit == 0 {
            votes.rejected |= bit;
        }
        let (yes, no) = (votes.granted.count_ones(), votes.rejected.count_ones());
        if yes >= quorum {
            if pre_vote {
                // The pre-vote would succeed: campaign for real in the next term.
                self.campaign(false, rng);
            } else {
                self.become_leader();
            }
            return true;
        }
        if no > members - quorum {
            self.role = Role::Follower;
            return true;
        }
        false
    }

    fn peers(&self) -> impl Iterator<Item = MemberIndex> + use<> {
        let id = self.id;
        (0..self.member_count).filter(move |&m| m != id)
    }

    fn become_leader(&mut self) {
        self.leader = Some(self.id);
        let last = self.log.last_index();
        let progress = (0..self.member_count)
            .map(|_| Progress {
                match_index: 0,
                next_index: last + 1,
                state: ProgressState::Probe,
                probe_sent: false,
                recent_active: false,
                acked_round: 0,
            })
            .collect();
        self.role = Role::Leader(Box::new(LeaderState {
            progress,
            read_round: 0,
            reads: Vec::new(),
            reads_before_commit: Vec::new(),
        }));
        self.flushed_index = last;
        self.events
            .push(RaftEvent::BecameLeader { term: self.term });
        // A new leader appends an empty entry of its term: committing it commits
        // everything before it (raft.go becomeLeader).
        let entry = Entry {
            term: self.term,
            index: last + 1,
            proposal: Proposal::Empty,
        };
        self.log.push(entry);
        self.release_waiting();
        if self.member_count == 1 {
            self.flush();
        }
    }

    fn release_waiting(&mut self) {
        for waiting in std::mem::take(&mut self.waiting) {
            match waiting {
                Waiting::Proposal(proposal) => self.propose(proposal),
                Waiting::Read(requester) => self.read_index(requester),
            }
        }
    }

    /// The client of this member's waiter `waiter` gave up: a proposal or read still held
    /// here for want of a leader is dropped, as etcd's `Propose` returns when its
    /// context expires before raft took the proposal (node.go `stepWithWaitOption`).
    pub fn cancel_waiting(&mut self, waiter: u64) {
        let id = self.id;
        self.waiting.retain(|waiting| match waiting {
            Waiting::Proposal(Proposal::Txn {
                origin: Some(origin),
                ..
            }) => !(origin.member == id && origin.waiter == waiter),
            Waiting::Read(ReadRequester::Local(context)) => *context != waiter,
            _ => true,
        });
    }

    /// A client's write (or an alarm, a compaction): appended at a leader, forwarded by a
    /// follower, held by a member without a leader.
    pub fn propose(&mut self, proposal: Proposal) {
        match (&self.role, self.leader) {
            (Role::Leader(_), _) => {
                let entry = Entry {
                    term: self.term,
                    index: self.log.last_index() + 1,
                    proposal,
                };
                self.log.push(entry);
            }
            (_, Some(leader)) => self.outbox.push((
                leader,
                RaftMessage::Propose {
                    proposals: vec![proposal],
                },
            )),
            (_, None) => self.waiting.push(Waiting::Proposal(proposal)),
        }
    }

    /// The leader's WAL flush: its own entries count towards the quorum, and the batch goes
    /// out to every follower in one append each.
    pub fn flush(&mut self) {
        if !self.is_leader() {
            return;
        }
        self.flushed_index = self.log.last_index();
        let id = self.id;
        if let Role::Leader(state) = &mut self.role {
            state.progress[id].match_index = self.flushed_index;
            state.progress[id].next_index = self.flushed_index + 1;
        }
        if self.maybe_commit() {
            self.release_reads_before_commit();
        }
        for peer in self.peers() {
            self.send_append(peer, false);
        }
    }

    /// Asks for a linearizable read index.
    pub fn read_index(&mut self, requester: ReadRequester) {
        let committed_in_term = self.log.term_at(self.log.committed) == Some(self.term);
        let single = self.member_count == 1;
        let committed = self.log.committed;
        match (&mut self.role, self.leader) {
            (Role::Leader(state), _) => {
                if !committed_in_term {
                    state.reads_before_commit.push(requester);
                    return;
                }
                if single {
                    self.answer_read(requester, committed);
                    return;
                }
                state.read_round += 1;
                let round = state.read_round;
                state.progress[self.id].acked_round = round;
                state.reads.push(PendingRead {
                    round,
                    index: committed,
                    requester,
                });
                self.broadcast_heartbeat();
            }
            (_, Some(leader)) => match requester {
                ReadRequester::Local(context) => self
                    .outbox
                    .push((leader, RaftMessage::ReadIndex { context })),
                ReadRequester::Remote(..) => {}
            },
            (_, None) => self.waiting.push(Waiting::Read(requester)),
        }
    }

    fn answer_read(&mut self, requester: ReadRequester, index: u64) {
        match requester {
            ReadRequester::Local(context) => self.ready_reads.push((context, index)),
            ReadRequester::Remote(member, context) => self.outbox.push((
                member,
                RaftMessage::ReadIndexResponse {
                    term: self.term,
                    context,
                    index,
                },
            )),
        }
    }

    fn release_reads_before_commit(&mut self) {
        if let Role::Leader(state) = &mut self.role {
            let waiting = std::mem::take(&mut state.reads_before_commit);
            for requester in waiting {
                self.read_index(requester);
            }
        }
    }

    /// One tick of `--heartbeat-interval`.
    pub fn tick(&mut self, rng: &mut SimRng) {
        self.election_elapsed += 1;
        if self.is_leader() {
            self.heartbeat_elapsed += 1;
            if self.election_elapsed >= self.config.election_ticks {
                self.election_elapsed = 0;
                if !self.quorum_active() {
                    let term = self.term;
                    self.events.push(RaftEvent::LostQuorum { term });
                    self.become_follower(term, None, rng);
                    return;
                }
            }
            if self.heartbeat_elapsed >= self.config.heartbeat_ticks {
                self.heartbeat_elapsed = 0;
                self.broadcast_heartbeat();
            }
            return;
        }
        if !self.rejoining && self.election_elapsed >= self.randomized_election_ticks {
            self.election_elapsed = 0;
            self.campaign(self.config.pre_vote, rng);
        }
    }

    /// CheckQuorum: whether a quorum (the leader included) was heard from since the last
    /// check; resets the marks.
    fn quorum_active(&mut self) -> bool {
        let id = self.id;
        let quorum = self.quorum();
        let Role::Leader(state) = &mut self.role else {
            return false;
        };
        let mut active = 0;
        for (member, progress) in state.progress.iter_mut().enumerate() {
            if member == id || progress.recent_active {
                active += 1;
            }
            progress.recent_active = false;
        }
        active >= quorum
    }

    fn broadcast_heartbeat(&mut self) {
        let committed = self.log.committed;
        let term = self.term;
        let Role::Leader(state) = &self.role else {
            return;
        };
        let context = state.read_round;
        let messages: Vec<_> = self
            .peers()
            .map(|peer| {
                // A follower may not have the entries up to our commit yet.
                let commit = committed.min(state.progress[peer].match_index);
                (
                    peer,
                    RaftMessage::Heartbeat {
                        term,
                        commit,
                        context,
                    },
                )
            })
            .collect();
        self.outbox.extend(messages);
    }

    /// Sends a follower what it lacks: entries from its next index (`send_if_empty`: an
    /// empty append all the same, to carry the commit index or to find out that earlier
    /// appends were lost), or asks the member for a snapshot when those were compacted.
    fn send_append(&mut self, peer: MemberIndex, send_if_empty: bool) {
        let term = self.term;
        let committed = self.log.committed;
        let max = self.config.max_entries_per_append;
        let last = self.flushed_index;
        let Role::Leader(state) = &mut self.role else {
            return;
        };
        let progress = &mut state.progress[peer];
        match progress.state {
            ProgressState::Snapshot(_) => return,
            ProgressState::Probe if progress.probe_sent => return,
            _ => {}
        }
        let prev_index = progress.next_index - 1;
        let Some(prev_term) = self.log.term_at(prev_index) else {
            progress.state = ProgressState::Snapshot(0);
            self.events.push(RaftEvent::NeedSnapshot { follower: peer });
            return;
        };
        let entries = if progress.next_index <= last {
            self.log.entries_from(progress.next_index, max)
        } else {
            Vec::new()
        };
        if entries.is_empty() && !send_if_empty {
            return;
        }
        let sent_last = prev_index + entries.len() as u64;
        match progress.state {
            ProgressState::Replicate => progress.next_index = sent_last + 1,
            ProgressState::Probe => progress.probe_sent = true,
            ProgressState::Snapshot(_) => unreachable!("returned above"),
        }
        self.outbox.push((
            peer,
            RaftMessage::Append {
                term,
                prev_index,
                prev_term,
                entries,
                commit: committed.min(sent_last),
            },
        ));
    }

    /// A response arrived from `peer`: a probe may go again.
    fn resume(&mut self, peer: MemberIndex) {
        if let Role::Leader(state) = &mut self.role {
            state.progress[peer].probe_sent = false;
        }
    }

    /// Sends `peer` the member's snapshot, after [`RaftEvent::NeedSnapshot`].
    pub fn send_snapshot(&mut self, peer: MemberIndex, snapshot: Snapshot) {
        let term = self.term;
        let Role::Leader(state) = &mut self.role else {
            return;
        };
        state.progress[peer].state = ProgressState::Snapshot(snapshot.index);
        self.outbox
            .push((peer, RaftMessage::InstallSnapshot { term, snapshot }));
    }

    /// Advances the commit index to the highest index a quorum has, if it is of this term.
    fn maybe_commit(&mut self) -> bool {
        let quorum = self.quorum();
        let Role::Leader(state) = &self.role else {
            return false;
        };
        // The highest index a quorum has: the quorum-th largest match index. Counted
        // without a sort or an allocation (a lone member does this on every write).
        let candidate = state
            .progress
            .iter()
            .map(|p| p.match_index)
            .filter(|&index| {
                state
                    .progress
                    .iter()
                    .filter(|other| other.match_index >= index)
                    .count()
                    >= quorum
            })
            .max()
            .expect("every member holds the smallest match index");
        if candidate > self.log.committed && self.log.term_at(candidate) == Some(self.term) {
            self.log.committed = candidate;
            return true;
        }
        false
    }

    /// Handles one message from another member.
    pub fn step(&mut self, from: MemberIndex, message: RaftMessage, rng: &mut SimRng) {
        assert!(
            from < self.member_count && from != self.id,
            "message from {from}"
        );
        if let Some(term) = message.term() {
            if term > self.term {
                let vote_request = matches!(
                    message,
                    RaftMessage::PreVote { .. } | RaftMessage::Vote { .. }
                );
                let in_lease =
                    self.leader.is_some() && self.election_elapsed < self.config.election_ticks;
                if vote_request && in_lease {
                    // CheckQuorum's leader lease: a member that hears from a leader does
                    // not help unseat it.
                    return;
                }
                match &message {
                    RaftMessage::PreVote { .. } => {}
                    RaftMessage::PreVoteResponse { granted: true, .. } => {}
                    RaftMessage::Append { .. }
                    | RaftMessage::Heartbeat { .. }
                    | RaftMessage::InstallSnapshot { .. } => {
                        self.become_follower(term, Some(from), rng)
                    }
                    _ => self.become_follower(term, None, rng),
                }
            } else if term < self.term {
                match message {
                    // Tell a stale leader about the newer term so it steps down.
                    RaftMessage::Append { .. } | RaftMessage::Heartbeat { .. } => {
                        self.outbox.push((
                            from,
                            RaftMessage::AppendResponse {
                                term: self.term,
                                reject: true,
                                index: 0,
                                hint: 0,
                            },
                        ))
                    }
                    RaftMessage::PreVote { .. } => self.outbox.push((
                        from,
                        RaftMessage::PreVoteResponse {
                            term: self.term,
                            granted: false,
                        },
                    )),
                    _ => {}
                }
                return;
            }
        }
        match message {
            RaftMessage::PreVote {
                term,
                last_index,
                last_term,
            } => self.handle_vote_request(from, true, term, last_index, last_term),
            RaftMessage::Vote {
                term,
                last_index,
                last_term,
            } => self.handle_vote_request(from, false, term, last_index, last_term),
            RaftMessage::PreVoteResponse { granted, .. } => {
                if matches!(self.role, Role::PreCandidate(_)) {
                    self.record_vote(from, granted, rng);
                }
            }
            RaftMessage::VoteResponse { granted, .. } => {
                if matches!(self.role, Role::Candidate(_)) {
                    self.record_vote(from, granted, rng);
                }
            }
            RaftMessage::Append {
                term,
                prev_index,
                prev_term,
                entries,
                commit,
            } => {
                self.follow(term, from, rng);
                self.handle_append(from, prev_index, prev_term, entries, commit);
            }
            RaftMessage::Heartbeat {
                term,
                commit,
                context,
            } => {
                self.follow(term, from, rng);
                if self.rejoining {
                    // Tell the leader this member has (next to) nothing, so that it stops
                    // believing the match it had before the disk was lost.
                    let last = self.log.last_index();
                    self.outbox.push((
                        from,
                        RaftMessage::AppendResponse {
                            term: self.term,
                            reject: true,
                            index: last,
                            hint: last,
                        },
                    ));
                }
                // The leader sends at most our match; a member that lost its disk has less
                // than the leader believes until the leader notices.
                let commit = commit.min(self.log.last_index());
                if commit > self.log.committed {
                    self.log.committed = commit;
                }
                self.outbox.push((
                    from,
                    RaftMessage::HeartbeatResponse {
                        term: self.term,
                        context,
                    },
                ));
            }
            RaftMessage::InstallSnapshot { term, snapshot } => {
                self.follow(term, from, rng);
                let index = snapshot.index;
                if index > self.log.committed {
                    self.log.restore(index, snapshot.term);
                    self.events.push(RaftEvent::SnapshotInstalled { index });
                    self.installed = Some(snapshot);
                    self.finish_rejoin(from);
                }
                let response = RaftMessage::AppendResponse {
                    term: self.term,
                    reject: false,
                    index: self.log.committed,
                    hint: self.log.last_index(),
                };
                self.outbox.push((from, response));
            }
            RaftMessage::AppendResponse {
                reject,
                index,
                hint,
                ..
            } => self.handle_append_response(from, reject, index, hint),
            RaftMessage::HeartbeatResponse { context, .. } => {
                self.handle_heartbeat_response(from, context)
            }
            RaftMessage::Propose { proposals } => {
                for proposal in proposals {
                    match (&self.role, self.leader) {
                        (Role::Leader(_), _) => self.propose(proposal),
                        // Forwarded once more to the leader this member knows.
                        (_, Some(_)) => self.propose(proposal),
                        // raft drops a forwarded proposal when it knows no leader; the
                        // client's request times out.
                        (_, None) => {}
                    }
                }
            }
            RaftMessage::ReadIndex { context } => {
                if self.is_leader() {
                    self.read_index(ReadRequester::Remote(from, context));
                }
            }
            RaftMessage::ReadIndexResponse { context, index, .. } => {
                self.ready_reads.push((context, index));
            }
        }
    }

    /// raft.go's vote rule: a member votes for the candidate it already voted for, or for
    /// anyone when it has neither voted nor follows a leader in this term, or grants a
    /// pre-vote for a later term; always only for a log at least as up to date as its own.
    fn handle_vote_request(
        &mut self,
        from: MemberIndex,
        pre_vote: bool,
        term: u64,
        last_index: u64,
        last_term: u64,
    ) {
        let can_vote = self.voted_for == Some(from)
            || (self.voted_for.is_none() && self.leader.is_none())
            || (pre_vote && term > self.term);
        let granted = !self.rejoining && can_vote && self.log.is_up_to_date(last_index, last_term);
        let response_term = if granted { term } else { self.term };
        let response = if pre_vote {
            RaftMessage::PreVoteResponse {
                term: response_term,
                granted,
            }
        } else {
            if granted {
                self.election_elapsed = 0;
                self.voted_for = Some(from);
            }
            RaftMessage::VoteResponse {
                term: response_term,
                granted,
            }
        };
        self.outbox.push((from, response));
    }

    fn follow(&mut self, term: u64, leader: MemberIndex, rng: &mut SimRng) {
        assert_eq!(term, self.term, "terms were matched on arrival");
        assert!(
            !self.is_leader(),
            "two leaders in term {term}: {} and {leader}",
            self.id
        );
        if self.leader != Some(leader) || !matches!(self.role, Role::Follower) {
            self.become_follower(term, Some(leader), rng);
        }
        self.election_elapsed = 0;
    }

    fn finish_rejoin(&mut self, leader: MemberIndex) {
        if self.rejoining {
            self.rejoining = false;
            // Whatever this member voted in this term before its disk was lost, it now
            // counts as a vote for the leader it follows: it can never vote twice.
            self.voted_for = Some(leader);
        }
    }

    fn handle_append(
        &mut self,
        leader: MemberIndex,
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        commit: u64,
    ) {
        let term = self.term;
        if prev_index < self.log.committed {
            // Everything up to our commit is known to match the leader's log.
            let known = self.log.committed;
            let fresh: Vec<Entry> = entries.into_iter().filter(|e| e.index > known).collect();
            let last_new = fresh.last().map_or(known, |e| e.index);
            if let Some(first) = fresh.first() {
                assert_eq!(
                    first.index,
                    known + 1,
                    "entries after the commit are contiguous"
                );
            }
            self.log.append_after_match(fresh);
            self.outbox.push((
                leader,
                RaftMessage::AppendResponse {
                    term,
                    reject: false,
                    index: last_new.max(known),
                    hint: self.log.last_index(),
                },
            ));
            return;
        }
        if !self.log.matches(prev_index, prev_term) {
            let hint = prev_index.min(self.log.last_index());
            self.outbox.push((
                leader,
                RaftMessage::AppendResponse {
                    term,
                    reject: true,
                    index: prev_index,
                    hint,
                },
            ));
            return;
        }
        let last_new = prev_index + entries.len() as u64;
        self.log.append_after_match(entries);
        let commit = commit.min(last_new);
        if commit > self.log.committed {
            self.log.committed = commit;
        }
        self.finish_rejoin(leader);
        self.outbox.push((
            leader,
            RaftMessage::AppendResponse {
                term,
                reject: false,
                index: last_new,
                hint: self.log.last_index(),
            },
        ));
    }

    fn handle_append_response(&mut self, from: MemberIndex, reject: bool, index: u64, hint: u64) {
        let Role::Leader(state) = &mut self.role else {
            return;
        };
        let progress = &mut state.progress[from];
        progress.recent_active = true;
        if reject {
            if hint < progress.match_index {
                // The follower has less than it acknowledged: it lost its disk. raft
                // would refuse this; etcd replaces such a member by a new one, which
                // starts from nothing, and so does its progress here.
                progress.match_index = 0;
                progress.next_index = hint + 1;
                progress.state = ProgressState::Probe;
            }
            // Only the answer to the append we sent from `next - 1` moves `next` back.
            if index + 1 == progress.next_index || progress.state == ProgressState::Replicate {
                progress.next_index = (hint + 1).min(index).max(progress.match_index + 1);
                progress.state = ProgressState::Probe;
            }
            progress.probe_sent = false;
            self.send_append(from, true);
            return;
        }
        if index > progress.match_index {
            progress.match_index = index;
        }
        if progress.next_index <= progress.match_index {
            progress.next_index = progress.match_index + 1;
        }
        match progress.state {
            ProgressState::Probe => progress.state = ProgressState::Replicate,
            ProgressState::Snapshot(at) if progress.match_index >= at && at > 0 => {
                progress.state = ProgressState::Replicate;
            }
            _ => {}
        }
        progress.probe_sent = false;
        if self.maybe_commit() {
            self.release_reads_before_commit();
            // Followers learn the new commit index at once (raft's bcastAppend after a
            // commit), not at the next heartbeat.
            for peer in self.peers() {
                self.send_commit(peer);
            }
        } else {
            self.send_append(from, false);
        }
    }

    /// An append carrying the new commit index, with any entries the follower lacks.
    fn send_commit(&mut self, peer: MemberIndex) {
        self.send_append(peer, true);
    }

    fn handle_heartbeat_response(&mut self, from: MemberIndex, context: u64) {
        let quorum = self.quorum();
        let Role::Leader(state) = &mut self.role else {
            return;
        };
        let progress = &mut state.progress[from];
        progress.recent_active = true;
        progress.acked_round = progress.acked_round.max(context);
        let behind = progress.match_index < self.flushed_index;
        // The highest round a quorum has acknowledged.
        let mut acked: Vec<u64> = state.progress.iter().map(|p| p.acked_round).collect();
        acked.sort_unstable_by(|a, b| b.cmp(a));
        let confirmed = acked[quorum - 1];
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut state.reads)
            .into_iter()
            .partition(|read| read.round <= confirmed);
        state.reads = waiting;
        for read in ready {
            self.answer_read(read.requester, read.index);
        }
        if behind {
            self.resume(from);
            self.send_append(from, true);
        }
    }

    /// A snapshot installed by the last `step`, for the member to load into its store.
    pub fn take_installed(&mut self) -> Option<Snapshot> {
        self.installed.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Members exchanging messages directly, in order, with an optional set of members
    /// that are down (messages to and from them are lost).
    struct Net {
        members: Vec<Raft>,
        down: Vec<bool>,
        rng: SimRng,
    }

    impl Net {
        fn new(count: usize) -> Net {
            let mut rng = SimRng::for_stream(1, "raft-test");
            let mut members: Vec<Raft> = (0..count)
                .map(|id| Raft::new(id, count, RaftConfig::default()))
                .collect();
            for member in &mut members {
                member.start(&mut rng);
            }
            Net {
                members,
                down: vec![false; count],
                rng,
            }
        }

        /// Delivers messages until none is left; flushes leaders' batches.
        fn settle(&mut self) {
            for _ in 0..10_000 {
                let mut moved = false;
                for id in 0..self.members.len() {
                    if self.down[id] {
                        self.members[id].take_messages();
                        continue;
                    }
                    if self.members[id].has_unflushed() {
                        self.members[id].flush();
                    }
                    for event in self.members[id].take_events() {
                        if let RaftEvent::NeedSnapshot { follower } = event {
                            let raft = &self.members[id];
                            let index = raft.log.applied.max(raft.log.snapshot_index());
                            let snapshot = Snapshot {
                                index,
                                term: raft.log.term_at(index).expect("kept"),
                                store: Rc::new(Store::default()),
                            };
                            self.members[id].send_snapshot(follower, snapshot);
                        }
                    }
                    for (to, message) in self.members[id].take_messages() {
                        moved = true;
                        if !self.down[to] {
                            self.members[to].step(id, message, &mut self.rng);
                        }
                    }
                    let log = &mut self.members[id].log;
                    log.take_committed();
                }
                if !moved {
                    return;
                }
            }
            panic!("messages never settled");
        }

        fn tick_all(&mut self, ticks: u32) {
            for _ in 0..ticks {
                for id in 0..self.members.len() {
                    if !self.down[id] {
                        self.members[id].tick(&mut self.rng);
                    }
                }
                self.settle();
            }
        }

        fn leaders(&self) -> Vec<MemberIndex> {
            (0..self.members.len())
                .filter(|&m| !self.down[m] && self.members[m].is_leader())
                .collect()
        }

        fn leader(&self) -> MemberIndex {
            let leaders = self.leaders();
            assert_eq!(leaders.len(), 1, "exactly one live leader: {leaders:?}");
            leaders[0]
        }

        fn propose(&mut self, at: MemberIndex, count: usize) {
            for _ in 0..count {
                self.members[at].propose(Proposal::Empty);
            }
            self.settle();
        }
    }

    #[test]
    fn a_single_member_leads_at_once_and_commits_without_messages() {
        let mut rng = SimRng::for_stream(1, "single");
        let mut raft = Raft::new(0, 1, RaftConfig::default());
        raft.start(&mut rng);
        assert!(raft.is_leader());
        assert_eq!(raft.term(), 1);
        raft.propose(Proposal::Empty);
        raft.flush();
        assert_eq!(
            raft.log.committed, 2,
            "the leader's empty entry and the proposal"
        );
        assert!(raft.take_messages().is_empty());
        raft.read_index(ReadRequester::Local(7));
        assert_eq!(raft.take_ready_reads(), vec![(7, 2)]);
    }

    #[test]
    fn three_members_elect_one_leader_and_commit_on_quorum() {
        let mut net = Net::new(3);
        net.tick_all(25);
        let leader = net.leader();
        let term = net.members[leader].term();
        assert!(term >= 1);
        for member in &net.members {
            assert_eq!(member.term(), term, "everybody is in the leader's term");
            assert_eq!(member.leader(), Some(leader));
        }
        net.propose(leader, 5);
        let committed = net.members[leader].log.committed;
        assert_eq!(committed, net.members[leader].log.last_index());
        // Followers learn the commit from the append that follows it.
        for member in &net.members {
            assert_eq!(member.log.committed, committed);
        }
    }

    #[test]
    fn a_follower_forwards_proposals_to_the_leader() {
        let mut net = Net::new(3);
        net.tick_all(25);
        let leader = net.leader();
        let follower = (leader + 1) % 3;
        let before = net.members[leader].log.last_index();
        net.propose(follower, 2);
        assert_eq!(net.members[leader].log.last_index(), before + 2);
        assert_eq!(net.members[follower].log.committed, before + 2);
    }

    #[test]
    fn without_a_quorum_nothing_commits_and_the_leader_steps_down() {
        let mut net = Net::new(3);
        net.tick_all(25);
        let leader = net.leader();
        let committed = net.members[leader].log.committed;
        for other in 0..3 {
            if other != leader {
                net.down[other] = true;
            }
        }
        net.propose(leader, 3);
        assert_eq!(
            net.members[leader].log.committed, committed,
            "no quorum, no commit"
        );
        net.tick_all(25);
        assert!(!net.members[leader].is_leader(), "CheckQuorum steps down");
        let term = net.members[leader].term();
        net.tick_all(100);
        assert_eq!(
            net.members[leader].term(),
            term,
            "pre-votes fail without a quorum"
        );
        // The quorum returns: a leader is elected and commits again. The entries the lone
        // leader could not commit may be kept or replaced: they were never committed.
        net.down = vec![false; 3];
        net.tick_all(40);
        let leader = net.leader();
        net.propose(leader, 1);
        let now_committed = net.members[leader].log.committed;
        assert!(
            now_committed >= committed + 2,
            "a new empty entry and the proposal"
        );
        assert_eq!(now_committed, net.members[leader].log.last_index());
        for member in &net.members {
            assert_eq!(member.log.committed, now_committed);
        }
    }

    #[test]
    fn leader_loss_elects_a_new_leader_in_a_higher_term() {
        let mut net = Net::new(3);
        net.tick_all(25);
        let old = net.leader();
        let old_term = net.members[old].term();
        net.propose(old, 3);
        let committed = net.members[old].log.committed;
        net.down[old] = true;
        net.tick_all(40);
        let new = net.leader();
        assert_ne!(new, old);
        assert!(net.members[new].term() > old_term);
        assert!(
            net.members[new].log.committed > committed,
            "the new leader commits its empty entry, and with it everything before"
        );
        // The old leader comes back as a follower and catches up.
        net.down[old] = false;
        net.members[old].crash();
        net.members[old].start(&mut net.rng);
        net.tick_all(5);
        assert_eq!(net.leader(), new);
        assert_eq!(
            net.members[old].log.committed,
            net.members[new].log.committed
        );
        assert_eq!(net.members[old].term(), net.members[new].term());
    }

    #[test]
    fn a_member_that_missed_entries_catches_up() {
        let mut net = Net::new(3);
        net.tick_all(25);
        let leader = net.leader();
        let lagging = (leader + 1) % 3;
        net.down[lagging] = true;
        net.propose(leader, 50);
        net.down[lagging] = false;
        net.tick_all(3);
        assert_eq!(
            net.members[lagging].log.last_index(),
            net.members[leader].log.last_index()
        );
        assert_eq!(
            net.members[lagging].log.committed,
            net.members[leader].log.committed
        );
    }

    #[test]
    fn conflicting_uncommitted_entries_are_truncated() {
        let mut rng = SimRng::for_stream(1, "conflict");
        let mut follower = Raft::new(1, 3, RaftConfig::default());
        follower.start(&mut rng);
        let entry = |term, index| Entry {
            term,
            index,
            proposal: Proposal::Empty,
        };
        // Term 1's leader (member 0) wrote entries 1..=3; only 1 committed.
        follower.step(
            0,
            RaftMessage::Append {
                term: 1,
                prev_index: 0,
                prev_term: 0,
                entries: vec![entry(1, 1), entry(1, 2), entry(1, 3)],
                commit: 1,
            },
            &mut rng,
        );
        assert_eq!(follower.log.last_index(), 3);
        assert_eq!(follower.log.committed, 1);
        // Term 2's leader (member 2) has a different entry 2.
        follower.step(
            2,
            RaftMessage::Append {
                term: 2,
                prev_index: 1,
                prev_term: 1,
                entries: vec![entry(2, 2)],
                commit: 2,
            },
            &mut rng,
        );
        assert_eq!(follower.log.last_index(), 2, "entry 3 of term 1 is gone");
        assert_eq!(follower.log.term_at(2), Some(2));
        assert_eq!(follower.log.committed, 2);
        // A mismatched prev is rejected with a hint of the follower's last index.
        follower.take_messages();
        follower.step(
            2,
            RaftMessage::Append {
                term: 2,
                prev_index: 5,
                prev_term: 2,
                entries: vec![],
                commit: 2,
            },
            &mut rng,
        );
        let messages = follower.take_messages();
        assert!(matches!(
            messages.as_slice(),
            [(
                2,
                RaftMessage::AppendResponse {
                    reject: true,
                    index: 5,
                    hint: 2,
                    ..
                }
            )]
        ));
    }

    #[test]
    fn votes_go_only_to_up_to_date_logs_and_once_per_term() {
        let mut rng = SimRng::for_stream(1, "votes");
        let mut voter = Raft::new(0, 3, RaftConfig::default());
        voter.start(&mut rng);
        voter.log.push(Entry {
            term: 2,
            index: 1,
            proposal: Proposal::Empty,
        });
        // A candidate whose last term is older is refused.
        voter.step(
            1,
            RaftMessage::Vote {
                term: 3,
                last_index: 5,
                last_term: 1,
            },
            &mut rng,
        );
        assert!(matches!(
            voter.take_messages().as_slice(),
            [(1, RaftMessage::VoteResponse { granted: false, .. })]
        ));
        // An up-to-date one is granted; a second candidate in that term is refused.
        voter.step(
            1,
            RaftMessage::Vote {
                term: 3,
                last_index: 1,
                last_term: 2,
            },
            &mut rng,
        );
        assert_eq!(voter.voted_for(), Some(1));
        voter.step(
            2,
            RaftMessage::Vote {
                term: 3,
                last_index: 9,
                last_term: 3,
            },
            &mut rng,
        );
        let messages = voter.take_messages();
        assert!(matches!(
            messages.as_slice(),
            [
                (1, RaftMessage::VoteResponse { granted: true, .. }),
                (2, RaftMessage::VoteResponse { granted: false, .. })
            ]
        ));
    }

    #[test]
    fn a_wiped_member_resyncs_from_a_snapshot_once_the_log_is_compacted() {
        let mut net = Net::new(3);
        net.tick_all(25);
        let leader = net.leader();
        let wiped = (leader + 1) % 3;
        net.propose(leader, 20);
        // Every member compacts its applied log.
        for member in &mut net.members {
            let applied = member.log.applied;
            member.log.compact_to(applied);
        }
        net.members[wiped].wipe();
        net.members[wiped].start(&mut net.rng);
        assert!(net.members[wiped].is_rejoining());
        assert_eq!(net.members[wiped].log.last_index(), 0);
        net.tick_all(3);
        let member = &net.members[wiped];
        assert!(!member.is_rejoining());
        assert!(member.log.snapshot_index() > 0, "it got a snapshot");
        assert_eq!(member.log.committed, net.members[leader].log.committed);
        assert_eq!(member.voted_for(), Some(leader));
    }

    #[test]
    fn a_proposal_held_without_a_leader_is_dropped_when_its_client_gives_up() {
        use crate::api::{Namespace, Object, ObjectMeta};
        let mut rng = SimRng::for_stream(1, "cancel");
        let mut raft = Raft::new(0, 3, RaftConfig::default());
        raft.start(&mut rng);
        let object = Object::from(Namespace {
            metadata: ObjectMeta::named("", "a"),
        });
        let txn = |waiter| Proposal::Txn {
            origin: Some(super::super::Origin { member: 0, waiter }),
            key: object.key(),
            compare: super::super::Compare::Any,
            op: super::super::TxnOp::Put(object.clone()),
        };
        raft.propose(txn(1));
        raft.propose(txn(2));
        raft.read_index(ReadRequester::Local(3));
        assert_eq!(raft.waiting_count(), 3, "no leader: everything waits");
        raft.cancel_waiting(1);
        raft.cancel_waiting(3);
        assert_eq!(raft.waiting_count(), 1);
        // A leader becomes known: only the proposal still wanted is forwarded.
        raft.step(
            2,
            RaftMessage::Heartbeat {
                term: 1,
                commit: 0,
                context: 0,
            },
            &mut rng,
        );
        let forwarded: Vec<_> = raft
            .take_messages()
            .into_iter()
            .filter(|(_, m)| matches!(m, RaftMessage::Propose { .. }))
            .collect();
        assert_eq!(forwarded.len(), 1);
        assert_eq!(raft.waiting_count(), 0);
    }

    #[test]
    fn reads_wait_for_a_quorum_heartbeat_round() {
        let mut net = Net::new(3);
        net.tick_all(25);
        let leader = net.leader();
        let committed = net.members[leader].log.committed;
        net.members[leader].read_index(ReadRequester::Local(1));
        assert!(
            net.members[leader].take_ready_reads().is_empty(),
            "not yet confirmed"
        );
        net.settle();
        assert_eq!(net.members[leader].take_ready_reads(), vec![(1, committed)]);
        // Through a follower: its leader confirms and answers with the index.
        let follower = (leader + 1) % 3;
        net.members[follower].read_index(ReadRequester::Local(2));
        net.settle();
        assert_eq!(
            net.members[follower].take_ready_reads(),
            vec![(2, committed)]
        );
        // With the followers down, the read never confirms.
        net.down = (0..3).map(|m| m != leader).collect();
        net.members[leader].read_index(ReadRequester::Local(3));
        net.settle();
        assert!(net.members[leader].take_ready_reads().is_empty());
    }
}
