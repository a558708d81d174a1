//! Leader election through a Lease: client-go's `LeaderElector`
//! (`staging/src/k8s.io/client-go/tools/leaderelection/leaderelection.go`) with its
//! Lease lock (`resourcelock/leaselock.go`), as a state machine its component drives.
//!
//! A replica starts as a candidate: it tries at once, then `retryPeriod` plus up to
//! `JitterFactor` × `retryPeriod` after each failed try (`wait.JitterUntil`). A try
//! (`tryAcquireOrRenew`) is one to three requests: the holder first updates the Lease
//! optimistically from the copy it wrote last; otherwise it gets the Lease (creating it
//! when absent), judges it, and updates it with the resourceVersion it read, so two
//! candidates racing for an expired Lease get one 200 and one 409.
//!
//! Expiry is judged by the candidate's own observation, never by the `renewTime` written
//! in the record: a record counts as expired once `leaseDurationSeconds` have passed, on
//! the candidate's clock, since the candidate first saw that record unchanged (the
//! `observedTime` of client-go). Clock offsets between hosts therefore do not matter.
//!
//! Once it wins, the replica leads (`OnStartedLeading`) and renews in rounds
//! (`wait.Until` of `PollUntilContextTimeout`): a round starts at once and then
//! `retryPeriod` after the last success; a failing round retries every `retryPeriod` from
//! its start, and when `renewDeadline` has passed since the round began without a
//! renewal, the replica stops leading (`OnStoppedLeading`). kube-scheduler and
//! kube-controller-manager then exit (`klog.FlushAndExit`, "leaderelection lost") and
//! are started again as candidates: [`LeaderElector::drive`] asks the engine for that
//! ([`sim_core::Context::exit`]).
//!
//! Each request of the lock has the leader-election client's timeout, max(1 s,
//! `renewDeadline` / 2) (`resourcelock.NewFromKubeconfig`). `ReleaseOnCancel` is not
//! modelled: kubesim stops a component only by crashing it, which never releases.
//!
//! The decisions are pure ([`LeaderElector::start`], [`LeaderElector::on_response`],
//! [`LeaderElector::on_timer`] take the host clock's time and return an [`Outcome`]);
//! [`LeaderElector::drive`] sends the request, sets the one rearmable timer and narrates.

use std::rc::Rc;

use sim_core::{Context, SimDuration, SimRng, SimTime};

use crate::api::{
    ApiOk, ApiResponse, ApiVerb, Kind, Lease, LeaseSpec, NAMESPACE_SYSTEM, Object, ObjectKey,
    ObjectMeta, RequestId, StatusReason, Str, s,
};
use crate::client::ApiClient;
use crate::msg::Msg;

/// client-go's `JitterFactor` (1.2), in thousandths: a candidate waits `retryPeriod`
/// plus up to 1.2 × `retryPeriod` between tries.
pub const JITTER_FACTOR_PER_MILLE: u64 = 1_200;

/// The `leaderElection` block of KubeSchedulerConfiguration and
/// KubeControllerManagerConfiguration (component-base `LeaderElectionConfiguration`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderElectionConfig {
    /// `--leader-elect`, upstream default true. Off, the component acts at once and
    /// alone thinks nothing of other replicas.
    pub leader_elect: bool,
    /// `leaseDuration`, upstream default 15 s.
    pub lease_duration: SimDuration,
    /// `renewDeadline`, upstream default 10 s.
    pub renew_deadline: SimDuration,
    /// `retryPeriod`, upstream default 2 s.
    pub retry_period: SimDuration,
    /// `resourceNamespace`, upstream default `kube-system`.
    pub resource_namespace: Str,
    /// `resourceName`: `kube-scheduler`, `kube-controller-manager`.
    pub resource_name: Str,
    /// How long after the process exits on a lost election it runs again (an
    /// assumption: the kubelet notices the static pod's container exit at its next 1 s
    /// PLEG relist and restarts it at once, a first restart having no back-off).
    pub restart_after_exit: SimDuration,
}

impl LeaderElectionConfig {
    /// Upstream's defaults for the component whose Lease is `resource_name`.
    pub fn for_component(resource_name: &str) -> LeaderElectionConfig {
        LeaderElectionConfig {
            leader_elect: true,
            lease_duration: SimDuration::from_secs(15),
            renew_deadline: SimDuration::from_secs(10),
            retry_period: SimDuration::from_secs(2),
            resource_namespace: s(NAMESPACE_SYSTEM),
            resource_name: s(resource_name),
            restart_after_exit: SimDuration::from_secs(1),
        }
    }

    /// `NewLeaderElector`'s checks: leaseDuration > renewDeadline > JitterFactor ×
    /// retryPeriod, every one positive; and whole seconds for leaseDuration (the record
    /// holds `leaseDurationSeconds`).
    pub fn validate(&self) -> Result<(), String> {
        if self.lease_duration <= self.renew_deadline {
            return Err("leaseDuration must be greater than renewDeadline".to_string());
        }
        if self.renew_deadline.as_nanos()
            <= self.retry_period.as_nanos() * JITTER_FACTOR_PER_MILLE / 1_000
        {
            return Err("renewDeadline must be greater than retryPeriod*JitterFactor".to_string());
        }
        if self.retry_period == SimDuration::ZERO {
            return Err("retryPeriod must be greater than zero".to_string());
        }
        if !self.lease_duration.as_nanos().is_multiple_of(1_000_000_000) {
            return Err("leaseDuration must be whole seconds".to_string());
        }
        Ok(())
    }

    /// The lock client's request timeout: max(1 s, renewDeadline / 2).
    pub fn request_timeout(&self) -> SimDuration {
        Ord::max(
            SimDuration::from_secs(1),
            SimDuration::from_nanos(self.renew_deadline.as_nanos() / 2),
        )
    }

    fn lease_duration_seconds(&self) -> u64 {
        self.lease_duration.as_secs()
    }
}

/// Where the elector is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Not running: before its start, after a crash.
    Stopped,
    /// `acquire`: trying to take the Lease.
    Candidate,
    /// `renew`: leading since `OnStartedLeading`.
    Leading(Renewal),
    /// A renewal round ran out of time: `OnStoppedLeading` ran, the process exits.
    Lost,
}

/// The leader's renewal loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// Between rounds; the next starts at the elector's next try instant.
    Waiting,
    /// A round began at `started` (host clock): tries at `started + k × retryPeriod`
    /// (`k` is `tick`) until one succeeds or `renewDeadline` passes.
    Round { started: SimTime, tick: u64 },
}

/// Which request of `tryAcquireOrRenew` is in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// The leader's fast path: update from the Lease it wrote last.
    OptimisticUpdate,
    Get,
    Create,
    Update,
}

#[derive(Clone, Copy, Debug)]
struct InFlight {
    /// `None` until [`LeaderElector::sent`] names it.
    id: Option<RequestId>,
    step: Step,
    /// When the lock client gives up on it (host clock).
    timeout_at: SimTime,
}

/// A record and when this replica saw it (client-go's `observedRecord`/`observedTime`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Observed {
    record: LeaseSpec,
    time: SimTime,
}

/// What happened, for the component and the narration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ElectionEvent {
    /// `OnStartedLeading`: this replica holds the Lease.
    StartedLeading { lease_transitions: u32 },
    /// `OnStoppedLeading`: the last renewal round found no renewal within
    /// `renewDeadline`; the process exits.
    StoppedLeading { last_error: String },
    /// `OnNewLeader`: the records show a holder other than the one reported last.
    NewLeader(Str),
    /// A try that did not win (a candidate's, or one renewal attempt): why.
    TryFailed(String),
}

/// What a decision asks for: at most one request, and the events to narrate.
#[derive(Debug, Default)]
pub struct Outcome {
    pub request: Option<ApiVerb>,
    pub events: Vec<ElectionEvent>,
}

/// Counters for tests and reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ElectionStats {
    pub tries: u64,
    pub acquisitions: u64,
    pub renewals: u64,
}

/// One replica's elector.
#[derive(Debug)]
pub struct LeaderElector {
    config: LeaderElectionConfig,
    /// The host's name: the identity's first half, as upstream's `os.Hostname()`.
    host: Str,
    /// `<host>_<uuid>`, a fresh uuid at every start of the process.
    identity: Str,
    phase: Phase,
    observed: Option<Observed>,
    /// The record as last read by a get (client-go's `observedRawRecord`): a get that
    /// reads the same record again does not refresh the observation time.
    observed_raw: Option<LeaseSpec>,
    /// The Lease as last read or written (`LeaseLock.lease`): its resourceVersion is the
    /// next update's precondition.
    lease: Option<Rc<Lease>>,
    in_flight: Option<InFlight>,
    /// Requests given up on (timed out or cancelled) whose answers may still arrive: they
    /// are the elector's to swallow, not the component's (a few at most).
    abandoned: Vec<RequestId>,
    /// When the next try (a candidate's) or the next renewal round starts.
    next_try_at: Option<SimTime>,
    /// The last error of the running renewal round, for the narration of a loss.
    last_error: String,
    reported_leader: Option<Str>,
    /// The instant of the live timer, if one is set.
    timer_armed_at: Option<SimTime>,
    /// When this process started leading (host clock).
    leading_since: Option<SimTime>,
    stats: ElectionStats,
}

impl LeaderElector {
    /// The elector of a replica on `host`, `None` when `config` turns leader election off.
    pub fn for_replica(config: &LeaderElectionConfig, host: &str) -> Option<LeaderElector> {
        config
            .leader_elect
            .then(|| LeaderElector::new(config.clone(), host))
    }

    /// Whether a replica with this elector acts: it leads, or runs without one.
    pub fn acts(election: Option<&LeaderElector>) -> bool {
        election.is_none_or(LeaderElector::is_leading)
    }

    pub fn new(config: LeaderElectionConfig, host: &str) -> LeaderElector {
        if let Err(why) = config.validate() {
            panic!(
                "leader election settings of {}: {why}",
                config.resource_name
            );
        }
        LeaderElector {
            config,
            host: s(host),
            identity: s(""),
            phase: Phase::Stopped,
            observed: None,
            observed_raw: None,
            lease: None,
            in_flight: None,
            abandoned: Vec::new(),
            next_try_at: None,
            last_error: String::new(),
            reported_leader: None,
            timer_armed_at: None,
            leading_since: None,
            stats: ElectionStats::default(),
        }
    }

    pub fn config(&self) -> &LeaderElectionConfig {
        &self.config
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Whether this replica leads: between `OnStartedLeading` and `OnStoppedLeading`.
    pub fn is_leading(&self) -> bool {
        matches!(self.phase, Phase::Leading(_))
    }

    /// `<host>_<uuid>` of the running process (empty before its start).
    pub fn identity(&self) -> &Str {
        &self.identity
    }

    pub fn stats(&self) -> ElectionStats {
        self.stats
    }

    /// When this process started leading (host clock), while it leads.
    pub fn leading_since(&self) -> Option<SimTime> {
        self.leading_since.filter(|_| self.is_leading())
    }

    /// The Lease's namespace/name.
    pub fn lease_name(&self) -> String {
        format!(
            "{}/{}",
            self.config.resource_namespace, self.config.resource_name
        )
    }

    /// Forgets everything, as the process does when it dies.
    pub fn reset(&mut self) {
        self.identity = s("");
        self.phase = Phase::Stopped;
        self.observed = None;
        self.observed_raw = None;
        self.lease = None;
        self.in_flight = None;
        self.abandoned.clear();
        self.next_try_at = None;
        self.last_error.clear();
        self.reported_leader = None;
        self.timer_armed_at = None;
        self.leading_since = None;
    }

    /// The process starts (`LeaderElector.Run`): a candidate under a fresh identity
    /// (`uuid` from the process's randomness), trying at once.
    pub fn start(&mut self, now: SimTime, uuid: u128) -> Outcome {
        self.reset();
        self.identity = s(&format!("{}_{}", self.host, format_uuid(uuid)));
        self.phase = Phase::Candidate;
        let mut out = Outcome::default();
        self.begin_try(now, &mut out);
        out
    }

    /// The request just built by a decision was sent as `id`.
    pub fn sent(&mut self, id: RequestId) {
        let in_flight = self
            .in_flight
            .as_mut()
            .expect("a leader election request to name");
        assert!(
            in_flight.id.is_none(),
            "leader election request named twice"
        );
        in_flight.id = Some(id);
    }

    /// The host clock instant the elector next needs to wake at.
    pub fn next_wake(&self) -> Option<SimTime> {
        let round_deadline = match self.phase {
            Phase::Leading(Renewal::Round { started, .. }) => {
                Some(started + self.config.renew_deadline)
            }
            Phase::Stopped | Phase::Lost => return None,
            _ => None,
        };
        let next = match &self.in_flight {
            Some(in_flight) => Some(in_flight.timeout_at),
            None => self.next_try_at,
        };
        [round_deadline, next].into_iter().flatten().min()
    }

    /// Gives up on the request in flight; its answer, if one comes, is swallowed.
    fn abandon(&mut self) {
        const ABANDONED_MAX: usize = 16;
        if let Some(InFlight { id: Some(id), .. }) = self.in_flight.take() {
            if self.abandoned.len() == ABANDONED_MAX {
                self.abandoned.remove(0);
            }
            self.abandoned.push(id);
        }
    }

    /// Offers a response: `None` if it answers no request of the elector's.
    pub fn on_response(
        &mut self,
        response: &ApiResponse,
        now: SimTime,
        rng: &mut SimRng,
    ) -> Option<Outcome> {
        if let Some(index) = self.abandoned.iter().position(|&id| id == response.id) {
            self.abandoned.swap_remove(index);
            return Some(Outcome::default());
        }
        let in_flight = self.in_flight?;
        if in_flight.id != Some(response.id) {
            return None;
        }
        self.in_flight = None;
        let mut out = Outcome::default();
        let lease = match &response.result {
            Ok(ApiOk::Object(Object::Lease(lease))) => Ok(lease),
            Ok(other) => panic!("leader election: unexpected answer {other:?}"),
            Err(error) => Err(error),
        };
        match (in_flight.step, lease) {
            (Step::OptimisticUpdate, Ok(lease))
            | (Step::Create, Ok(lease))
            | (Step::Update, Ok(lease)) => {
                self.wrote(lease.clone(), now);
                self.try_finished(Ok(()), now, rng, &mut out);
            }
            (Step::OptimisticUpdate, Err(_)) => {
                // "falling back to slow path": the same try goes on with a get.
                self.send_get(now, &mut out);
            }
            (Step::Get, Err(error)) if error.reason == StatusReason::NotFound => {
                let record = self.fresh_record(now, 0);
                let lease = Lease {
                    metadata: ObjectMeta::named(
                        &self.config.resource_namespace,
                        &self.config.resource_name,
                    ),
                    spec: record,
                };
                self.send(Step::Create, ApiVerb::Create(lease.into()), now, &mut out);
            }
            (Step::Get, Ok(lease)) => self.judge(lease.clone(), now, rng, &mut out),
            (step, Err(error)) => {
                let what = match step {
                    Step::Get => "error retrieving resource lock",
                    Step::Create => "error initially creating leader election record",
                    _ => "failed to update lock",
                };
                let why = format!("{what}: {} {}", error.reason.code(), error.message);
                self.try_finished(Err(why), now, rng, &mut out);
            }
        }
        Some(out)
    }

    /// A timer set by [`LeaderElector::drive`] fired. `at` is the instant it carries;
    /// `None` if a later arming superseded it.
    pub fn on_timer(&mut self, at: SimTime, now: SimTime, rng: &mut SimRng) -> Option<Outcome> {
        if self.timer_armed_at != Some(at) {
            return None;
        }
        self.timer_armed_at = None;
        Some(self.on_wake(now, rng))
    }

    /// Whatever is due at `now`: a lost round, a request given up on, the next try.
    pub fn on_wake(&mut self, now: SimTime, rng: &mut SimRng) -> Outcome {
        let mut out = Outcome::default();
        if let Phase::Leading(Renewal::Round { started, .. }) = self.phase
            && now >= started + self.config.renew_deadline
        {
            // The round's context ends: a request in flight is cancelled with it.
            self.abandon();
            self.next_try_at = None;
            self.phase = Phase::Lost;
            let last_error = if self.last_error.is_empty() {
                "timed out waiting for the condition".to_string()
            } else {
                self.last_error.clone()
            };
            out.events
                .push(ElectionEvent::StoppedLeading { last_error });
            return out;
        }
        if let Some(in_flight) = self.in_flight {
            if now >= in_flight.timeout_at {
                self.abandon();
                let why = format!(
                    "request timed out after {} (the leader election client's timeout)",
                    self.config.request_timeout()
                );
                self.try_finished(Err(why), now, rng, &mut out);
            }
            return out;
        }
        if self.next_try_at.is_some_and(|at| at <= now) {
            self.next_try_at = None;
            if self.phase == Phase::Leading(Renewal::Waiting) {
                self.phase = Phase::Leading(Renewal::Round {
                    started: now,
                    tick: 0,
                });
                self.last_error.clear();
            }
            self.begin_try(now, &mut out);
        }
        out
    }

    /// Applies an outcome: sends its request, narrates its events, exits the process on
    /// a lost election and sets the timer. Returns whether this replica just started
    /// leading. Times are the host clock's.
    pub fn drive(
        &mut self,
        outcome: Outcome,
        api: &mut ApiClient,
        cx: &mut Context<'_, Msg>,
        tick: impl Fn(SimTime) -> Msg,
    ) -> bool {
        if let Some(verb) = outcome.request {
            // The leader-election client is a clientset of its own (its own rate limiter),
            // sending one request per retryPeriod: never throttled.
            let id = api.send_unthrottled(cx, verb);
            self.sent(id);
        }
        let mut started = false;
        for event in outcome.events {
            let lease = self.lease_name();
            let identity = &self.identity;
            match event {
                ElectionEvent::StartedLeading { lease_transitions } => {
                    started = true;
                    cx.record("step", || {
                        format!(
                            "lease {lease}: {identity} acquired it (leaseTransitions {lease_transitions}) and starts leading"
                        )
                    });
                }
                ElectionEvent::StoppedLeading { last_error } => {
                    let deadline = self.config.renew_deadline;
                    let restart = self.config.restart_after_exit;
                    cx.record("step", || {
                        format!(
                            "lease {lease}: {identity} could not renew it within renewDeadline {deadline} ({last_error}): stopped leading; leaderelection lost, the process exits and is restarted in {restart}"
                        )
                    });
                    cx.exit(restart);
                    return false;
                }
                ElectionEvent::NewLeader(holder) => cx.record("detail", || {
                    format!("lease {lease}: {identity} sees a new leader: {holder}")
                }),
                ElectionEvent::TryFailed(why) => cx.record("detail", || {
                    format!("lease {lease}: {identity} did not get it: {why}")
                }),
            }
        }
        let now = cx.host_clock();
        if let Some(at) = self.next_wake()
            && self.timer_armed_at.is_none_or(|armed| at < armed)
        {
            self.timer_armed_at = Some(at);
            cx.timer(at.saturating_since(now), tick(at));
        }
        started
    }

    // ------------------------------------------------------------------------------
    // tryAcquireOrRenew

    fn is_leader(&self) -> bool {
        self.observed
            .as_ref()
            .is_some_and(|o| o.record.holder_identity.as_ref() == Some(&self.identity))
    }

    /// `isLeaseValid`: the observed record's duration has not run out since it was seen.
    fn lease_valid(&self, now: SimTime) -> bool {
        self.observed
            .as_ref()
            .is_some_and(|o| o.time + SimDuration::from_secs(o.record.lease_duration_seconds) > now)
    }

    fn fresh_record(&self, now: SimTime, lease_transitions: u32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: self.config.lease_duration_seconds(),
            renew_time: Some(now),
            acquire_time: Some(now),
            lease_transitions,
        }
    }

    fn begin_try(&mut self, now: SimTime, out: &mut Outcome) {
        assert!(self.in_flight.is_none(), "a try while another runs");
        self.stats.tries += 1;
        if let Some(lease) = &self.lease
            && self.is_leader()
            && self.lease_valid(now)
        {
            let observed = &self.observed.as_ref().expect("a leader observed").record;
            let mut record = self.fresh_record(now, observed.lease_transitions);
            record.acquire_time = observed.acquire_time;
            let mut updated = (**lease).clone();
            updated.spec = record;
            self.send(
                Step::OptimisticUpdate,
                ApiVerb::Update(updated.into()),
                now,
                out,
            );
            return;
        }
        self.send_get(now, out);
    }

    fn send_get(&mut self, now: SimTime, out: &mut Outcome) {
        let key = ObjectKey::new(
            Kind::Lease,
            &self.config.resource_namespace,
            &self.config.resource_name,
        );
        self.send(Step::Get, ApiVerb::Get(key), now, out);
    }

    fn send(&mut self, step: Step, verb: ApiVerb, now: SimTime, out: &mut Outcome) {
        assert!(
            out.request.is_none(),
            "two leader election requests at once"
        );
        out.request = Some(verb);
        self.in_flight = Some(InFlight {
            id: None,
            step,
            timeout_at: now + self.config.request_timeout(),
        });
    }

    /// A get answered: observe the record, and update it if it is ours or free.
    fn judge(&mut self, lease: Rc<Lease>, now: SimTime, rng: &mut SimRng, out: &mut Outcome) {
        let record = lease.spec.clone();
        if self.observed_raw.as_ref() != Some(&record) {
            self.observed = Some(Observed {
                record: record.clone(),
                time: now,
            });
            self.observed_raw = Some(record.clone());
        }
        self.lease = Some(lease.clone());
        match judge_record(
            &record,
            self.observed.as_ref().expect("just observed").time,
            now,
            self.is_leader(),
        ) {
            Judgement::HeldByOther { holder } => {
                let expires = self.observed.as_ref().expect("observed").time
                    + SimDuration::from_secs(record.lease_duration_seconds);
                let why = format!("held by {holder}, which has not expired (until {expires})");
                self.try_finished(Err(why), now, rng, out);
            }
            Judgement::Take { lease_transitions } => {
                let mut next = self.fresh_record(now, lease_transitions);
                if self.is_leader() {
                    next.acquire_time = record.acquire_time;
                }
                let mut updated = (*lease).clone();
                updated.spec = next;
                self.send(Step::Update, ApiVerb::Update(updated.into()), now, out);
            }
        }
    }

    /// A write succeeded: the written record is the observed one (`setObservedRecord`).
    fn wrote(&mut self, lease: Rc<Lease>, now: SimTime) {
        self.observed = Some(Observed {
            record: lease.spec.clone(),
            time: now,
        });
        self.lease = Some(lease);
    }

    /// A try ended (`tryAcquireOrRenew` returned): move the loop on.
    fn try_finished(
        &mut self,
        result: Result<(), String>,
        now: SimTime,
        rng: &mut SimRng,
        out: &mut Outcome,
    ) {
        // `maybeReportTransition`.
        let holder = self
            .observed
            .as_ref()
            .and_then(|o| o.record.holder_identity.clone());
        if let Some(holder) = holder
            && self.reported_leader.as_ref() != Some(&holder)
        {
            self.reported_leader = Some(holder.clone());
            out.events.push(ElectionEvent::NewLeader(holder));
        }
        match (self.phase, result) {
            (Phase::Candidate, Ok(())) => {
                self.stats.acquisitions += 1;
                let lease_transitions = self
                    .observed
                    .as_ref()
                    .map_or(0, |o| o.record.lease_transitions);
                out.events
                    .push(ElectionEvent::StartedLeading { lease_transitions });
                self.leading_since = Some(now);
                // `renew` begins with a round at once.
                self.phase = Phase::Leading(Renewal::Round {
                    started: now,
                    tick: 0,
                });
                self.last_error.clear();
                self.begin_try(now, out);
            }
            (Phase::Candidate, Err(why)) => {
                out.events.push(ElectionEvent::TryFailed(why));
                self.next_try_at = Some(now + jittered(self.config.retry_period, rng));
            }
            (Phase::Leading(Renewal::Round { .. }), Ok(())) => {
                self.stats.renewals += 1;
                self.phase = Phase::Leading(Renewal::Waiting);
                self.next_try_at = Some(now + self.config.retry_period);
            }
            (Phase::Leading(Renewal::Round { started, tick }), Err(why)) => {
                out.events.push(ElectionEvent::TryFailed(why.clone()));
                self.last_error = why;
                let (tick, at) = next_round_tick(started, tick, now, self.config.retry_period);
                self.phase = Phase::Leading(Renewal::Round { started, tick });
                if at <= now {
                    self.begin_try(now, out);
                } else {
                    self.next_try_at = Some(at);
                }
            }
            (phase, _) => panic!("leader election: a try ended in phase {phase:?}"),
        }
    }
}

/// What a replica makes of a record it read (step 3 of `tryAcquireOrRenew`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// Someone else holds it and it has not expired by our observation: wait.
    HeldByOther { holder: Str },
    /// Ours, expired or free: write it with this `leaseTransitions`.
    Take { lease_transitions: u32 },
}

/// Judges a record first seen at `observed_time` (the reader's clock): another holder's
/// record expires once its `leaseDurationSeconds` have passed since then, strictly
/// (`observedTime + leaseDuration` before `now`). Taking it from someone else (or from
/// nobody) counts a transition; the holder renewing keeps the count.
pub fn judge_record(
    record: &LeaseSpec,
    observed_time: SimTime,
    now: SimTime,
    is_leader: bool,
) -> Judgement {
    let expired = observed_time + SimDuration::from_secs(record.lease_duration_seconds) < now;
    let held = record
        .holder_identity
        .as_ref()
        .filter(|holder| !holder.is_empty());
    if let Some(holder) = held
        && !expired
        && !is_leader
    {
        return Judgement::HeldByOther {
            holder: holder.clone(),
        };
    }
    Judgement::Take {
        lease_transitions: if is_leader {
            record.lease_transitions
        } else {
            record.lease_transitions + 1
        },
    }
}

/// `wait.Jitter(period, JitterFactor)`: `period` plus a uniform draw below 1.2 × `period`.
pub fn jittered(period: SimDuration, rng: &mut SimRng) -> SimDuration {
    let spread = period.as_nanos() * JITTER_FACTOR_PER_MILLE / 1_000;
    if spread == 0 {
        return period;
    }
    period + SimDuration::from_nanos(rng.below(spread))
}

/// After a failed renewal at `now` in a round that began at `started` and whose last
/// try ran at tick `tick`: the tick of the next try and its instant. The round's ticker
/// fires every `retry_period` from its start; one tick that passed while a try was in
/// flight waits in the ticker's channel and runs at once.
pub fn next_round_tick(
    started: SimTime,
    tick: u64,
    now: SimTime,
    retry_period: SimDuration,
) -> (u64, SimTime) {
    let next = tick + 1;
    let at = started + retry_period.saturating_mul(next);
    if at > now {
        return (next, at);
    }
    let elapsed_ticks = (now - started).as_nanos() / retry_period.as_nanos();
    (Ord::max(next, elapsed_ticks), now)
}

/// A uuid's usual text: 8-4-4-4-12 hex digits.
fn format_uuid(uuid: u128) -> String {
    let hex = format!("{uuid:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A fresh uuid from the process's random stream.
pub fn draw_uuid(rng: &mut SimRng) -> u128 {
    (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ApiError, ApiResponse};

    fn at(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    fn at_ms(millis: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_millis(millis)
    }

    fn rng() -> SimRng {
        SimRng::for_stream(7, "leader-election-test")
    }

    fn record(holder: &str, renew: SimTime, transitions: u32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(s(holder)),
            lease_duration_seconds: 15,
            renew_time: Some(renew),
            acquire_time: Some(renew),
            lease_transitions: transitions,
        }
    }

    fn lease(spec: LeaseSpec, resource_version: u64) -> Rc<Lease> {
        let mut metadata = ObjectMeta::named(NAMESPACE_SYSTEM, "kube-scheduler");
        metadata.resource_version = resource_version;
        Rc::new(Lease { metadata, spec })
    }

    fn ok(id: RequestId, lease: Rc<Lease>) -> ApiResponse {
        ApiResponse {
            id,
            result: Ok(ApiOk::Object(Object::Lease(lease))),
        }
    }

    fn err(id: RequestId, reason: StatusReason) -> ApiResponse {
        ApiResponse {
            id,
            result: Err(ApiError {
                reason,
                message: "test".to_string(),
            }),
        }
    }

    /// A test driver: numbers requests and keeps the last one sent.
    struct Driver {
        elector: LeaderElector,
        next_id: RequestId,
        last: Option<ApiVerb>,
        events: Vec<ElectionEvent>,
        rng: SimRng,
    }

    impl Driver {
        fn new() -> Driver {
            Driver {
                elector: LeaderElector::new(
                    LeaderElectionConfig::for_component("kube-scheduler"),
                    "control-plane-2",
                ),
                next_id: 0,
                last: None,
                events: Vec::new(),
                rng: rng(),
            }
        }
        fn take(&mut self, outcome: Outcome) {
            if let Some(verb) = outcome.request {
                self.next_id += 1;
                self.elector.sent(self.next_id);
                self.last = Some(verb);
            } else {
                self.last = None;
            }
            self.events.extend(outcome.events);
        }
        fn start(&mut self, now: SimTime) {
            let outcome = self.elector.start(now, 0xabc);
            self.take(outcome);
        }
        fn answer(&mut self, response: ApiResponse, now: SimTime) {
            let outcome = self
                .elector
                .on_response(&response, now, &mut self.rng)
                .expect("the elector's request");
            self.take(outcome);
        }
        fn wake(&mut self, now: SimTime) {
            let outcome = self.elector.on_wake(now, &mut self.rng);
            self.take(outcome);
        }
        fn last_verb(&self) -> &'static str {
            self.last.as_ref().map_or("none", |v| v.name())
        }
        fn written(&self) -> LeaseSpec {
            match &self.last {
                Some(ApiVerb::Update(Object::Lease(l)) | ApiVerb::Create(Object::Lease(l))) => {
                    l.spec.clone()
                }
                other => panic!("no lease write: {other:?}"),
            }
        }
        fn started(&self) -> bool {
            self.events
                .iter()
                .any(|e| matches!(e, ElectionEvent::StartedLeading { .. }))
        }
    }

    #[test]
    fn identity_is_the_host_and_a_uuid() {
        let mut d = Driver::new();
        d.start(at(0));
        assert_eq!(
            d.elector.identity().as_ref(),
            "control-plane-2_00000000-0000-0000-0000-000000000abc"
        );
        assert_eq!(d.last_verb(), "get");
    }

    #[test]
    fn creates_the_lease_when_absent_and_leads() {
        let mut d = Driver::new();
        d.start(at(0));
        d.answer(err(1, StatusReason::NotFound), at_ms(5));
        assert_eq!(d.last_verb(), "create");
        let written = d.written();
        assert_eq!(written.holder_identity.as_ref(), Some(d.elector.identity()));
        assert_eq!(written.lease_duration_seconds, 15);
        assert_eq!(written.lease_transitions, 0);
        d.answer(ok(2, lease(written, 10)), at_ms(10));
        assert!(d.started());
        assert!(d.elector.is_leading());
        // renew() begins with a round at once: the fast path updates from the copy
        // written, with its resourceVersion as the precondition.
        assert_eq!(d.last_verb(), "update");
        match &d.last {
            Some(ApiVerb::Update(o)) => assert_eq!(o.meta().resource_version, 10),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_held_unexpired_lease_is_left_alone_and_retried_with_jitter() {
        let mut d = Driver::new();
        d.start(at(0));
        d.answer(ok(1, lease(record("other_x", at(0), 3), 5)), at(1));
        assert_eq!(d.last_verb(), "none");
        assert!(!d.elector.is_leading());
        assert!(d.events.contains(&ElectionEvent::NewLeader(s("other_x"))));
        let next = d.elector.next_wake().expect("a retry");
        // retryPeriod 2 s plus up to 1.2 × 2 s.
        assert!(next >= at(3) && next < at_ms(5_400), "{next}");
    }

    #[test]
    fn expiry_runs_from_the_candidates_observation_not_the_records_renew_time() {
        // The record says it was renewed at 0 s, but this replica first sees it at 10 s:
        // it is not expired at 25 s (10 + 15 is not before 25), only after.
        let stale = record("other_x", at(0), 3);
        assert_eq!(
            judge_record(&stale, at(10), at(25), false),
            Judgement::HeldByOther {
                holder: s("other_x")
            }
        );
        assert_eq!(
            judge_record(&stale, at(10), at_ms(25_001), false),
            Judgement::Take {
                lease_transitions: 4
            }
        );

        // The same through the elector: a get at 10 s and again at 20 s reads the same
        // record; the second read does not refresh the observation.
        let mut d = Driver::new();
        d.start(at(10));
        d.answer(ok(1, lease(stale.clone(), 5)), at(10));
        d.wake(at(20));
        assert_eq!(d.last_verb(), "get");
        d.answer(ok(2, lease(stale.clone(), 5)), at(20));
        assert_eq!(d.last_verb(), "none", "not expired at 20 s");
        d.wake(at(26));
        d.answer(ok(3, lease(stale, 5)), at(26));
        assert_eq!(d.last_verb(), "update", "expired at 26 s");
        let taken = d.written();
        assert_eq!(taken.lease_transitions, 4);
        assert_eq!(taken.acquire_time, Some(at(26)));
        match &d.last {
            Some(ApiVerb::Update(o)) => assert_eq!(o.meta().resource_version, 5),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_changed_record_restarts_the_observation() {
        let mut d = Driver::new();
        d.start(at(0));
        d.answer(ok(1, lease(record("other_x", at(0), 0), 5)), at(0));
        // Renewed by its holder at 12 s: seen at 14 s, so valid until 29 s.
        d.wake(at(14));
        d.answer(ok(2, lease(record("other_x", at(12), 0), 6)), at(14));
        d.wake(at(20));
        d.answer(ok(3, lease(record("other_x", at(12), 0), 6)), at(20));
        assert_eq!(d.last_verb(), "none", "15 s after 0 s but not after 14 s");
    }

    #[test]
    fn losing_the_race_for_an_expired_lease_is_a_failed_try() {
        let mut d = Driver::new();
        d.start(at(0));
        d.answer(ok(1, lease(record("", at(0), 2), 5)), at(0));
        assert_eq!(d.last_verb(), "update", "a free lease is taken at once");
        d.answer(err(2, StatusReason::Conflict), at_ms(10));
        assert!(!d.elector.is_leading());
        assert!(d.elector.next_wake().is_some_and(|t| t >= at_ms(2_010)));
    }

    fn leader_at(now: SimTime) -> Driver {
        let mut d = Driver::new();
        d.start(now);
        d.answer(err(1, StatusReason::NotFound), now);
        let written = d.written();
        d.answer(ok(2, lease(written, 10)), now);
        // The first renewal of renew()'s first round.
        let renewed = d.written();
        d.answer(ok(3, lease(renewed, 11)), now);
        assert!(d.elector.is_leading());
        d
    }

    #[test]
    fn the_leader_renews_every_retry_period_keeping_acquire_time_and_transitions() {
        let mut d = leader_at(at(0));
        assert_eq!(d.elector.next_wake(), Some(at(2)));
        d.wake(at(2));
        assert_eq!(d.last_verb(), "update");
        let renewed = d.written();
        assert_eq!(renewed.renew_time, Some(at(2)));
        assert_eq!(renewed.acquire_time, Some(at(0)));
        assert_eq!(renewed.lease_transitions, 0);
        d.answer(ok(4, lease(renewed, 12)), at(2));
        assert_eq!(d.elector.next_wake(), Some(at(4)));
        assert_eq!(d.elector.stats().renewals, 2);
    }

    #[test]
    fn the_leader_gives_up_renew_deadline_after_the_round_began() {
        let mut d = leader_at(at(0));
        // Round from 2 s: tries at 2, 4, 6, 8 and 10 s fail (the optimistic update and
        // then the get both refused), and at 12 s it stops.
        let mut now = at(2);
        let mut tries = Vec::new();
        loop {
            d.wake(now);
            if d.elector.phase() == Phase::Lost {
                break;
            }
            tries.push(now);
            if d.last.is_some() {
                let id = d.next_id;
                d.answer(err(id, StatusReason::ServiceUnavailable), now);
                if d.last.is_some() {
                    // The fast path fell back to a get, which fails too.
                    let id = d.next_id;
                    d.answer(err(id, StatusReason::ServiceUnavailable), now);
                }
            }
            now = d.elector.next_wake().expect("a wake while leading");
            assert!(now <= at(12), "{now}");
        }
        assert_eq!(tries, [at(2), at(4), at(6), at(8), at(10)]);
        assert_eq!(now, at(12));
        assert!(
            d.events
                .iter()
                .any(|e| matches!(e, ElectionEvent::StoppedLeading { .. }))
        );
        assert!(!d.elector.is_leading());
        assert_eq!(d.elector.next_wake(), None);
    }

    #[test]
    fn an_unanswered_renewal_times_out_and_the_round_still_ends_at_its_deadline() {
        let mut d = leader_at(at(0));
        d.wake(at(2));
        assert_eq!(d.last_verb(), "update");
        // No answer: the lock client gives up after renewDeadline / 2 = 5 s.
        assert_eq!(d.elector.next_wake(), Some(at(7)));
        d.wake(at(7));
        // Tick 2 (6 s) passed while in flight: the next try runs at once, on the fast
        // path again (the lease observed at 0 s is still valid by its own clock).
        assert_eq!(d.last_verb(), "update");
        assert_eq!(d.elector.next_wake(), Some(at(12)), "the round's deadline");
        d.wake(at(12));
        assert_eq!(d.elector.phase(), Phase::Lost);
    }

    #[test]
    fn a_late_answer_to_a_request_given_up_on_is_swallowed() {
        let mut d = Driver::new();
        d.start(at(0));
        // The get times out after 5 s; the retry's get is request 2.
        d.wake(at(5));
        assert!(
            d.elector
                .on_response(&err(7, StatusReason::NotFound), at(5), &mut d.rng)
                .is_none()
        );
        let late = d
            .elector
            .on_response(&err(1, StatusReason::Timeout), at(6), &mut d.rng)
            .expect("the elector's own request");
        assert!(late.request.is_none() && late.events.is_empty());
    }

    #[test]
    fn a_leader_that_finds_another_holder_stops_renewing() {
        let mut d = leader_at(at(0));
        d.wake(at(2));
        d.answer(err(4, StatusReason::Conflict), at(2));
        assert_eq!(d.last_verb(), "get", "the slow path after a 409");
        d.answer(ok(5, lease(record("thief_y", at(2), 1), 20)), at(2));
        assert_eq!(d.last_verb(), "none");
        assert!(d.elector.is_leading(), "until the round's deadline");
        assert_eq!(d.elector.next_wake(), Some(at(4)));
    }

    #[test]
    fn round_ticks_run_from_the_rounds_start() {
        let retry = SimDuration::from_secs(2);
        assert_eq!(next_round_tick(at(2), 0, at(3), retry), (1, at(4)));
        // A try that took past a tick: the buffered tick runs at once.
        assert_eq!(next_round_tick(at(2), 0, at(7), retry), (2, at(7)));
    }

    #[test]
    fn jitter_stays_within_client_gos_factor() {
        let mut rng = rng();
        let period = SimDuration::from_secs(2);
        let draws: Vec<SimDuration> = (0..200).map(|_| jittered(period, &mut rng)).collect();
        assert!(draws.iter().all(|d| *d >= period));
        assert!(draws.iter().all(|d| *d < SimDuration::from_millis(4_400)));
        assert!(draws.iter().any(|d| *d > SimDuration::from_millis(3_500)));
    }

    #[test]
    fn settings_are_checked_as_new_leader_elector_does() {
        let mut config = LeaderElectionConfig::for_component("kube-scheduler");
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.request_timeout(), SimDuration::from_secs(5));
        config.renew_deadline = SimDuration::from_secs(15);
        assert!(config.validate().is_err());
        config.renew_deadline = SimDuration::from_millis(2_400);
        assert_eq!(
            config.validate(),
            Err("renewDeadline must be greater than retryPeriod*JitterFactor".to_string())
        );
    }
}
