//! The prober: liveness, readiness and startup probes (upstream `pkg/kubelet/prober`:
//! `prober_manager.go`, `worker.go`, `results/results_manager.go`).
//!
//! Upstream runs one worker per (container, probe type). A worker is created when the
//! pod is admitted and ticks every `periodSeconds` from then on (after a random wait in
//! `[0, period)` when the kubelet started less than one period ago); the grid does not
//! move when the container restarts. At each tick it skips the probe while the
//! container is not running, during `initialDelaySeconds` after the container's start,
//! while a failed liveness or startup worker waits for a new container ("on hold"),
//! for liveness and readiness while the startup probe has not succeeded, and for the
//! startup probe once it has. Otherwise it probes, counts runs of equal answers and,
//! once `successThreshold` successes or `failureThreshold` failures are in a row, sets
//! the result. Results start as Failure (readiness), Success (liveness) or Unknown
//! (startup) for every new container. A liveness or startup Failure kills the container
//! as any kill does (its preStop hook, then SIGTERM; grace: the probe's
//! `terminationGracePeriodSeconds`, else the pod's), which restarts per the restart
//! policy. A container is ready when it runs, has started and its
//! readiness result is Success; without a readiness probe, as soon as it has started.
//! When the kubelet reports a started container that is not ready, it asks its readiness
//! worker for an immediate extra probe (`UpdatePodStatus`): kubesim does so at the first
//! PLEG relist after the container's start and when its startup probe succeeds (the
//! other syncs that would also ask, such as the one-minute resync, are not modelled).
//!
//! What a probe answers is a function of the process's health, which the runtime pushes
//! at each change (its `Ready` and `Unresponsive` container events): not answering yet
//! (`Starting`: refused, a failure at once), serving (a success at once), or hung
//! (`Unresponsive`: a failure once `timeoutSeconds` have passed). Every handler (exec,
//! httpGet, tcpSocket, grpc) answers alike.
//!
//! A worker probes serially on its ticker (upstream `worker.run`: `doProbe`, then wait
//! for the ticker's channel). A probe that outlasts the period (a hung process with
//! `timeoutSeconds` ≥ `periodSeconds`) lets ticks fall while it runs: Go's ticker
//! channel keeps one of them (buffered; later ones are dropped), so the next probe starts
//! as soon as this one times out, and the grid goes on after the next one that is not
//! late. Probes of a hung process then run back to back, one per `timeoutSeconds`.
//!
//! Not modelled: a manual readiness probe asked for while a probe of a hung process runs
//! is made at once (upstream's trigger channel would hold it until then); the extra
//! readiness probe of an adopted container (after a kubelet restart its probes
//! begin on their grids); liveness and startup workers stop at once when the pod is being
//! deleted rather than at their next tick.
//!
//! ## Elided ticks
//!
//! A probe every 10 s on 30,000 pods is 10.8 million probes an hour, and almost none of
//! them changes anything. So no tick is an event. Between two changes of what a worker
//! depends on (the container's instance and health, and its own or its startup
//! sibling's result) every tick gives the same answer, so the tick at which a threshold
//! will be crossed is arithmetic on the grid: [`ProbeWorker::next_decisive`]. Each
//! container keeps the earliest such instant of its workers in the kubelet's one
//! rearmable probe timer ([`Deadlines`]); when a change arrives, the ticks before it are
//! first accounted in bulk with the old health ([`ContainerProbes::advance`]), then the
//! change is applied and the instant recomputed. Counters (the run of equal answers)
//! come out exactly as a tick-by-tick prober's would: the tests compare the two over
//! random health timelines.

use std::collections::BTreeMap;

use sim_core::{Context, SimDuration, SimTime};

use crate::api::{Probe, RestartPolicy, s};
use crate::kernel::EXIT_CODE_SIGKILL;
use crate::msg::Msg;
use crate::timers::{Deadlines, Rearm};

use super::worker::{ContainerStage, Lifecycle, PodWorker, Role, Terminated};
use super::{Kubelet, Tick};

/// Upstream `probeType`. The order is the order in which results published at the same
/// instant are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProbeType {
    Startup,
    Liveness,
    Readiness,
}

impl ProbeType {
    pub const ALL: [ProbeType; 3] = [
        ProbeType::Startup,
        ProbeType::Liveness,
        ProbeType::Readiness,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ProbeType::Startup => "startup",
            ProbeType::Liveness => "liveness",
            ProbeType::Readiness => "readiness",
        }
    }

    /// A new container's result (upstream `worker.initialValue`).
    fn initial_result(self) -> ProbeResult {
        match self {
            ProbeType::Startup => ProbeResult::Unknown,
            ProbeType::Liveness => ProbeResult::Success,
            ProbeType::Readiness => ProbeResult::Failure,
        }
    }
}

/// Upstream `results.Result`: what the kubelet acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProbeResult {
    Unknown,
    Success,
    Failure,
}

/// One probe's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    fn result(self) -> ProbeResult {
        match self {
            Outcome::Success => ProbeResult::Success,
            Outcome::Failure => ProbeResult::Failure,
        }
    }
}

/// What the container's process would answer a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Not answering yet (nothing listens): refused at once.
    Starting,
    /// Answers.
    Serving,
    /// Hung: the probe times out.
    Unresponsive,
}

/// A probe's timing, from the spec (already defaulted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeTiming {
    pub period: SimDuration,
    /// How long a probe of a hung process waits: `timeoutSeconds`, kept below the period.
    pub timeout: SimDuration,
    pub initial_delay: SimDuration,
    pub success_threshold: u32,
    pub failure_threshold: u32,
}

impl ProbeTiming {
    pub fn of(probe: &Probe) -> ProbeTiming {
        let period = probe.period().max(SimDuration::from_secs(1));
        ProbeTiming {
            period,
            timeout: probe.timeout().max(SimDuration::from_nanos(1)),
            initial_delay: probe.initial_delay(),
            success_threshold: probe.success_threshold.max(1),
            failure_threshold: probe.failure_threshold.max(1),
        }
    }

    /// Whether probes that take the whole timeout outlast the period: the ticks that
    /// fall meanwhile are dropped but one, delivered as the probe ends, and such probes
    /// run back to back.
    fn back_to_back(&self) -> bool {
        self.timeout >= self.period
    }

    fn threshold(&self, outcome: Outcome) -> u32 {
        match outcome {
            Outcome::Success => self.success_threshold,
            Outcome::Failure => self.failure_threshold,
        }
    }
}

impl Health {
    /// The probe's answer and how long after the tick it arrives.
    fn answer(self, timing: &ProbeTiming) -> (Outcome, SimDuration) {
        match self {
            Health::Starting => (Outcome::Failure, SimDuration::ZERO),
            Health::Serving => (Outcome::Success, SimDuration::ZERO),
            Health::Unresponsive => (Outcome::Failure, timing.timeout),
        }
    }
}

/// The running instance of a container, as the prober knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instance {
    pub container_id: u64,
    pub started_at: SimTime,
    pub health: Health,
}

/// What a worker's probes depend on besides the worker itself: constant between two
/// published results or external changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Situation {
    pub instance: Option<Instance>,
    /// The container has started: it runs and its startup probe (if any) succeeded.
    pub started: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerState {
    Probing,
    /// A liveness or startup failure: no probing until a new container runs.
    OnHold,
    /// The worker has exited (the pod is being deleted: liveness and startup stop).
    Stopped,
}

/// A probe whose answer decides the result, arriving at `at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InFlight {
    pub at: SimTime,
    pub outcome: Outcome,
    pub container_id: u64,
}

/// A result that changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flip {
    pub probe_type: ProbeType,
    pub result: ProbeResult,
    pub at: SimTime,
    /// The answers in a row that flipped it.
    pub run_count: u32,
}

/// One (container, probe type) worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeWorker {
    pub probe_type: ProbeType,
    pub timing: ProbeTiming,
    /// Where the ticker's grid starts: its ticks are `grid_origin + k × period`.
    grid_origin: SimTime,
    /// The next probe's start not yet accounted: a grid tick, or (after a probe that
    /// outlasted the period) the instant that probe ended, when the tick that fell
    /// meanwhile is delivered late.
    next_tick: SimTime,
    /// An extra probe asked for by the kubelet (readiness only).
    manual: Option<SimTime>,
    /// Upstream `lastResult` (its zero value is Success) and `resultRun`: kept across
    /// container restarts.
    last_outcome: Outcome,
    run_count: u32,
    /// The current container's result.
    pub result: ProbeResult,
    pub state: WorkerState,
    in_flight: Option<InFlight>,
}

impl ProbeWorker {
    /// A worker whose first tick is at `first_tick`.
    pub fn new(probe_type: ProbeType, timing: ProbeTiming, first_tick: SimTime) -> ProbeWorker {
        ProbeWorker {
            probe_type,
            timing,
            grid_origin: first_tick,
            next_tick: first_tick,
            manual: None,
            last_outcome: Outcome::Success,
            run_count: 0,
            result: probe_type.initial_result(),
            state: WorkerState::Probing,
            in_flight: None,
        }
    }

    /// Whether `at` is a tick of the ticker's grid.
    fn on_grid(&self, at: SimTime) -> bool {
        at >= self.grid_origin
            && (at.as_nanos() - self.grid_origin.as_nanos())
                .is_multiple_of(self.timing.period.as_nanos())
    }

    /// The first grid tick at or after `at`.
    fn grid_at_or_after(&self, at: SimTime) -> SimTime {
        let origin = self.grid_origin.as_nanos();
        let period = self.timing.period.as_nanos();
        let since = at.as_nanos().saturating_sub(origin);
        SimTime::from_nanos(origin + since.div_ceil(period) * period)
    }

    /// Whether a probe answered after `delay` runs back to back with the next: it takes
    /// the whole timeout, and that is a period or more.
    fn back_to_back(&self, delay: SimDuration) -> bool {
        delay > SimDuration::ZERO && self.timing.back_to_back()
    }

    /// What a probe now would answer, ignoring the initial delay; `None` when the tick
    /// is skipped.
    fn answer(&self, situation: Situation) -> Option<(Instance, Outcome, SimDuration)> {
        if self.state != WorkerState::Probing || self.in_flight.is_some() {
            return None;
        }
        let instance = situation.instance?;
        let gated = match self.probe_type {
            ProbeType::Startup => situation.started,
            ProbeType::Liveness | ProbeType::Readiness => !situation.started,
        };
        if gated {
            return None;
        }
        let (outcome, delay) = instance.health.answer(&self.timing);
        Some((instance, outcome, delay))
    }

    fn eligible_from(&self, instance: Instance) -> SimTime {
        instance.started_at + self.timing.initial_delay
    }

    /// Counts one answer; whether it crossed the threshold and changes the result.
    fn count(&mut self, outcome: Outcome) -> bool {
        if self.last_outcome == outcome {
            self.run_count = self.run_count.saturating_add(1);
        } else {
            self.last_outcome = outcome;
            self.run_count = 1;
        }
        self.run_count >= self.timing.threshold(outcome) && self.result != outcome.result()
    }

    /// One probe at `at` (the manual one).
    fn probe_once(&mut self, situation: Situation, at: SimTime) {
        let Some((instance, outcome, delay)) = self.answer(situation) else {
            return;
        };
        if at < self.eligible_from(instance) {
            return;
        }
        if self.count(outcome) {
            self.in_flight = Some(InFlight {
                at: at + delay,
                outcome,
                container_id: instance.container_id,
            });
        }
    }

    /// Accounts the probes that start up to `until` (inclusive) in one step, stopping
    /// after a decisive one: the grid's ticks, or, while probes run back to back, one per
    /// timeout from the next start.
    fn run_grid(&mut self, situation: Situation, until: SimTime) {
        if self.next_tick > until || self.in_flight.is_some() {
            // A decisive probe runs: the next one starts once it has been answered.
            return;
        }
        let Some((instance, outcome, delay)) = self.answer(situation) else {
            // Every tick is skipped at once, a late one too.
            self.next_tick = self.grid_at_or_after(SimTime::from_nanos(until.as_nanos() + 1));
            return;
        };
        let eligible_from = self.eligible_from(instance);
        let back_to_back = self.back_to_back(delay);
        if !back_to_back && !self.on_grid(self.next_tick) {
            // The tick delivered late as a long probe ended: one probe, then the grid.
            let at = self.next_tick;
            self.next_tick = self.grid_at_or_after(SimTime::from_nanos(at.as_nanos() + 1));
            self.probe_once(situation, at);
            if self.in_flight.is_none() {
                self.run_grid(situation, until);
            }
            return;
        }
        if back_to_back && self.next_tick < eligible_from {
            // Skipped ticks take no time: the first probe is at the first eligible tick.
            self.next_tick = self.grid_at_or_after(eligible_from);
            if self.next_tick > until {
                return;
            }
        }
        let step = if back_to_back {
            self.timing.timeout.as_nanos()
        } else {
            self.timing.period.as_nanos()
        };
        let count = (until.as_nanos() - self.next_tick.as_nanos()) / step + 1;
        let after_range = SimTime::from_nanos(self.next_tick.as_nanos() + count * step);
        let skipped = if self.next_tick >= eligible_from {
            0
        } else {
            (eligible_from.as_nanos() - self.next_tick.as_nanos()).div_ceil(step)
        };
        if skipped >= count {
            self.next_tick = after_range;
            return;
        }
        let first = self.next_tick.as_nanos() + skipped * step;
        let eligible_count = count - skipped;
        let base = if self.last_outcome == outcome {
            self.run_count
        } else {
            0
        };
        if self.result != outcome.result() {
            let needed = u64::from(self.timing.threshold(outcome).saturating_sub(base).max(1));
            if needed <= eligible_count {
                let tick = SimTime::from_nanos(first + (needed - 1) * step);
                self.last_outcome = outcome;
                self.run_count = base.saturating_add(needed as u32);
                self.in_flight = Some(InFlight {
                    at: tick + delay,
                    outcome,
                    container_id: instance.container_id,
                });
                // The next start: the next grid tick, or, back to back, this probe's end.
                self.next_tick = SimTime::from_nanos(tick.as_nanos() + step);
                return;
            }
        }
        self.last_outcome = outcome;
        self.run_count = base.saturating_add(u32::try_from(eligible_count).unwrap_or(u32::MAX));
        self.next_tick = after_range;
    }

    /// Accounts every probe at or before `until` (never past an answer in flight): the
    /// grid first, the manual probe after a grid tick at the same instant. A tick or
    /// manual probe that falls while a probe is in flight (up to and including the
    /// instant its answer arrives) is dropped.
    fn run_until(&mut self, situation: Situation, until: SimTime) {
        assert!(
            self.in_flight.is_none_or(|f| f.at >= until),
            "prober: accounting past a probe's answer"
        );
        if let Some(manual) = self.manual
            && manual <= until
        {
            self.run_grid(situation, manual);
            self.manual = None;
            self.probe_once(situation, manual);
        }
        self.run_grid(situation, until);
    }

    /// The instant the next result is decided, if the situation stays as it is.
    pub fn next_decisive(&self, situation: Situation) -> Option<SimTime> {
        if let Some(in_flight) = self.in_flight {
            return Some(in_flight.at);
        }
        let mut worker = *self;
        if let Some(manual) = worker.manual {
            worker.run_grid(situation, manual);
            if let Some(in_flight) = worker.in_flight {
                return Some(in_flight.at);
            }
            worker.manual = None;
            worker.probe_once(situation, manual);
            if let Some(in_flight) = worker.in_flight {
                return Some(in_flight.at);
            }
        }
        let (instance, outcome, delay) = worker.answer(situation)?;
        if worker.result == outcome.result() {
            return None;
        }
        let back_to_back = worker.back_to_back(delay);
        if !back_to_back && !worker.on_grid(worker.next_tick) {
            // The late tick's probe first.
            let at = worker.next_tick;
            worker.next_tick = worker.grid_at_or_after(SimTime::from_nanos(at.as_nanos() + 1));
            worker.probe_once(situation, at);
            if let Some(in_flight) = worker.in_flight {
                return Some(in_flight.at);
            }
        }
        if back_to_back && worker.next_tick < worker.eligible_from(instance) {
            worker.next_tick = worker.grid_at_or_after(worker.eligible_from(instance));
        }
        let period = if back_to_back {
            worker.timing.timeout.as_nanos()
        } else {
            worker.timing.period.as_nanos()
        };
        let eligible_from = worker.eligible_from(instance).max(worker.next_tick);
        let first = worker.next_tick.as_nanos()
            + (eligible_from.as_nanos() - worker.next_tick.as_nanos()).div_ceil(period) * period;
        let base = if worker.last_outcome == outcome {
            worker.run_count
        } else {
            0
        };
        let needed = u64::from(worker.timing.threshold(outcome).saturating_sub(base).max(1));
        Some(SimTime::from_nanos(first + (needed - 1) * period) + delay)
    }

    /// The decisive answer arrives: the result flips if it is still the same container.
    fn publish(&mut self, instance: Option<Instance>) -> Option<Flip> {
        let in_flight = self.in_flight.take().expect("publishing a probe in flight");
        let same = instance.is_some_and(|i| i.container_id == in_flight.container_id);
        let run_count = self.run_count;
        if self.probe_type != ProbeType::Readiness && in_flight.outcome == Outcome::Failure {
            // Upstream: stop probing until a new container, and start counting afresh.
            self.run_count = 0;
            if same {
                self.state = WorkerState::OnHold;
            }
        }
        if !same {
            return None;
        }
        self.result = in_flight.outcome.result();
        Some(Flip {
            probe_type: self.probe_type,
            result: self.result,
            at: in_flight.at,
            run_count,
        })
    }
}

/// A container's probe workers and what they know of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerProbes {
    /// Indexed by `ProbeType as usize`.
    workers: [Option<ProbeWorker>; 3],
    instance: Option<Instance>,
    /// The instant this container waits for in the prober's timer.
    due: Option<SimTime>,
}

impl ContainerProbes {
    /// Workers for the probes given (startup, liveness, readiness), ticking from
    /// `first_tick[type]`.
    pub fn new(timings: [Option<ProbeTiming>; 3], first_ticks: [SimTime; 3]) -> ContainerProbes {
        let mut workers = [None; 3];
        for probe_type in ProbeType::ALL {
            let index = probe_type as usize;
            workers[index] = timings[index]
                .map(|timing| ProbeWorker::new(probe_type, timing, first_ticks[index]));
        }
        ContainerProbes {
            workers,
            instance: None,
            due: None,
        }
    }

    pub fn worker(&self, probe_type: ProbeType) -> Option<&ProbeWorker> {
        self.workers[probe_type as usize].as_ref()
    }

    pub fn situation(&self) -> Situation {
        let started = self.instance.is_some()
            && self.workers[ProbeType::Startup as usize]
                .is_none_or(|startup| startup.result == ProbeResult::Success);
        Situation {
            instance: self.instance,
            started,
        }
    }

    /// Whether the running container is ready (upstream `UpdatePodStatus`).
    pub fn ready(&self) -> bool {
        let situation = self.situation();
        situation.started
            && self.workers[ProbeType::Readiness as usize]
                .is_none_or(|readiness| readiness.result == ProbeResult::Success)
    }

    /// The earliest instant a result is decided, as things stand.
    pub fn next_decisive(&self) -> Option<SimTime> {
        let situation = self.situation();
        self.workers
            .iter()
            .flatten()
            .filter_map(|worker| worker.next_decisive(situation))
            .min()
    }

    /// Accounts every probe before `limit` (and at it, when `inclusive`), in time order,
    /// publishing the results decided meanwhile.
    pub fn advance(&mut self, limit: SimTime, inclusive: bool) -> Vec<Flip> {
        let mut flips = Vec::new();
        let mut rounds = 0usize;
        while let Some(at) = self
            .next_decisive()
            .filter(|&at| at < limit || (inclusive && at == limit))
        {
            // Each round publishes at least one result: a container's probes cannot
            // flip this often between two of the kubelet's calls.
            rounds += 1;
            assert!(
                rounds <= ADVANCE_ROUNDS_MAX,
                "prober: {rounds} results decided before {limit}"
            );
            let situation = self.situation();
            for worker in self.workers.iter_mut().flatten() {
                worker.run_until(situation, at);
            }
            for index in 0..self.workers.len() {
                let instance = self.instance;
                let Some(worker) = self.workers[index].as_mut() else {
                    continue;
                };
                if worker.in_flight.is_none_or(|f| f.at != at) {
                    continue;
                }
                if let Some(flip) = worker.publish(instance) {
                    flips.push(flip);
                    if flip.probe_type == ProbeType::Startup && flip.result == ProbeResult::Success
                    {
                        // The sync this causes reports the container started and not ready.
                        self.trigger_readiness(at);
                    }
                }
            }
        }
        let until = if inclusive {
            Some(limit)
        } else {
            limit.as_nanos().checked_sub(1).map(SimTime::from_nanos)
        };
        if let Some(until) = until {
            let situation = self.situation();
            for worker in self.workers.iter_mut().flatten() {
                worker.run_until(situation, until);
            }
        }
        flips
    }

    /// Asks the readiness worker for an extra probe at `at`.
    pub fn trigger_readiness(&mut self, at: SimTime) {
        if let Some(readiness) = self.workers[ProbeType::Readiness as usize].as_mut() {
            readiness.manual = Some(at);
        }
    }

    /// A new instance of the container runs: every result starts afresh, held workers
    /// resume.
    pub fn start(&mut self, instance: Instance) {
        self.instance = Some(instance);
        for worker in self.workers.iter_mut().flatten() {
            worker.result = worker.probe_type.initial_result();
            if worker.state == WorkerState::OnHold {
                worker.state = WorkerState::Probing;
            }
        }
    }

    /// The container's process changed its health.
    pub fn set_health(&mut self, container_id: u64, health: Health) {
        if let Some(instance) = self.instance.as_mut()
            && instance.container_id == container_id
        {
            instance.health = health;
        }
    }

    /// The container no longer runs.
    pub fn stop(&mut self) {
        self.instance = None;
    }

    /// Whether [`ContainerProbes::terminating`] has been applied.
    pub fn is_terminating(&self) -> bool {
        self.workers
            .iter()
            .flatten()
            .any(|w| w.state == WorkerState::Stopped)
    }

    /// The pod is being deleted: liveness and startup workers exit (upstream sets their
    /// result to Success and stops); readiness goes on.
    pub fn terminating(&mut self) {
        for worker in self.workers.iter_mut().flatten() {
            if worker.probe_type != ProbeType::Readiness {
                worker.state = WorkerState::Stopped;
                worker.in_flight = None;
                worker.result = ProbeResult::Success;
            }
        }
    }
}

/// The grace period of a kill for a failed probe of container `index`, in seconds
/// (upstream `setTerminationGracePeriod`, pkg/kubelet/kuberuntime/kuberuntime_container.go):
/// the pod's deletion grace period if it is being deleted, else the failed probe's own
/// `terminationGracePeriodSeconds` if set, else the pod's. Not floored here: a zero
/// skips the preStop hook, and `StopContainer` gets at least 2 s whatever is left.
pub fn probe_kill_grace_seconds(worker: &PodWorker, index: usize, probe_type: ProbeType) -> u64 {
    let spec = worker.spec(index);
    let probe = match probe_type {
        ProbeType::Liveness => spec.liveness_probe.as_deref(),
        ProbeType::Startup => spec.startup_probe.as_deref(),
        ProbeType::Readiness => None,
    };
    worker
        .pod
        .metadata
        .deletion_grace_period_seconds
        .or(probe.and_then(|p| p.termination_grace_period_seconds))
        .unwrap_or(worker.pod.spec.termination_grace_period_seconds)
}

/// The most results one call of [`ContainerProbes::advance`] may publish.
const ADVANCE_ROUNDS_MAX: usize = 100_000;

/// (pod uid, container index in the pod worker).
pub type ContainerKey = (u64, usize);

/// Every probed container of a kubelet and its one timer.
#[derive(Clone, Debug, Default)]
pub struct Prober {
    containers: BTreeMap<ContainerKey, ContainerProbes>,
    deadlines: Deadlines<ContainerKey>,
    /// Containers being stopped for a failed liveness or startup probe, with when their
    /// previous instance had ended (what the restart's back-off is judged by).
    killing: BTreeMap<ContainerKey, Option<SimTime>>,
}

impl Prober {
    pub fn new() -> Prober {
        Prober::default()
    }

    pub fn is_probed(&self, key: ContainerKey) -> bool {
        self.containers.contains_key(&key)
    }

    pub fn get(&self, key: ContainerKey) -> Option<&ContainerProbes> {
        self.containers.get(&key)
    }

    pub fn add(&mut self, key: ContainerKey, probes: ContainerProbes) {
        self.containers.insert(key, probes);
    }

    /// Applies `change` to a container at `now`: the probes before now are accounted
    /// first. Returns the results published (normally none: those come due at the
    /// timer) and the timer to set, if any.
    pub fn update(
        &mut self,
        key: ContainerKey,
        now: SimTime,
        change: impl FnOnce(&mut ContainerProbes),
    ) -> (Vec<Flip>, Option<Rearm>) {
        let Some(probes) = self.containers.get_mut(&key) else {
            return (Vec::new(), None);
        };
        let flips = probes.advance(now, false);
        change(probes);
        let rearm = self.reschedule(key, now);
        (flips, rearm)
    }

    /// The timer fired: the containers whose instant has come, with their results.
    pub fn fire(&mut self, generation: u64, now: SimTime) -> Vec<(ContainerKey, Vec<Flip>)> {
        let mut out = Vec::new();
        for key in self.deadlines.fire(generation, now) {
            let Some(probes) = self.containers.get_mut(&key) else {
                continue;
            };
            if probes.due.is_none_or(|due| due > now) {
                // Superseded by a later plan.
                continue;
            }
            probes.due = None;
            let flips = probes.advance(now, true);
            out.push((key, flips));
        }
        out
    }

    /// Sets the container's next instant in the timer; the timer to (re)set, if any.
    pub fn reschedule(&mut self, key: ContainerKey, now: SimTime) -> Option<Rearm> {
        let probes = self.containers.get_mut(&key)?;
        let next = probes.next_decisive().map(|at| at.max(now));
        if next == probes.due {
            return None;
        }
        probes.due = next;
        let at = next?;
        self.deadlines.schedule(now, at, key)
    }

    /// The timer to set after [`Prober::fire`] and the reschedules that followed it.
    pub fn rearm(&mut self, now: SimTime) -> Option<Rearm> {
        self.deadlines.rearm(now)
    }

    /// Forgets a pod's containers.
    pub fn remove_pod(&mut self, uid: u64) {
        let keys: Vec<ContainerKey> = self
            .containers
            .range((uid, 0)..=(uid, usize::MAX))
            .map(|(key, _)| *key)
            .collect();
        for key in keys {
            self.containers.remove(&key);
            self.killing.remove(&key);
        }
    }

    pub fn clear(&mut self) {
        self.containers.clear();
        self.deadlines.clear();
        self.killing.clear();
    }
}

// ---------------------------------------------------------------------------------------
// The kubelet's side: hooks called from `kubelet/mod.rs`.

impl Prober {
    /// The probed containers of a pod.
    fn keys_of(&self, uid: u64) -> Vec<ContainerKey> {
        self.containers
            .range((uid, 0)..=(uid, usize::MAX))
            .map(|(key, _)| *key)
            .collect()
    }
}

/// Sets `ready` on the stage of the running container `container_id`; whether it
/// changed.
fn set_stage_ready(stage: &mut ContainerStage, container_id: u64, value: bool) -> bool {
    match stage {
        ContainerStage::Running {
            container_id: id,
            ready,
            ..
        }
        | ContainerStage::PostStart {
            container_id: id,
            ready,
            ..
        }
        | ContainerStage::Killing {
            container_id: id,
            ready,
            ..
        }
        | ContainerStage::Stopping {
            container_id: id,
            ready,
            ..
        } if *id == container_id && *ready != value => {
            *ready = value;
            true
        }
        _ => false,
    }
}

impl Kubelet {
    fn arm_probe_timer(&self, rearm: Option<Rearm>, cx: &mut Context<'_, Msg>) {
        if let Some(rearm) = rearm {
            self.timer(
                rearm.after,
                Tick::Probe {
                    generation: rearm.generation,
                },
                cx,
            );
        }
    }

    /// Admission (upstream `AddPod`): a worker per probe of each container, its grid
    /// starting now, or after a random part of its period when the kubelet started
    /// less than one period ago.
    pub(super) fn add_probes(&mut self, worker: &PodWorker, cx: &mut Context<'_, Msg>) {
        let now = cx.now();
        let since_start = now.saturating_since(self.started_at);
        for index in 0..worker.containers.len() {
            let spec = worker.spec(index);
            let timings = [
                &spec.startup_probe,
                &spec.liveness_probe,
                &spec.readiness_probe,
            ]
            .map(|probe| probe.as_deref().map(ProbeTiming::of));
            if timings.iter().all(Option::is_none) {
                continue;
            }
            let mut first_ticks = [now; 3];
            for (first_tick, timing) in first_ticks.iter_mut().zip(timings) {
                if let Some(timing) = timing
                    && timing.period > since_start
                {
                    *first_tick =
                        now + SimDuration::from_nanos(cx.rng().below(timing.period.as_nanos()));
                }
            }
            self.prober.add(
                (worker.uid(), index),
                ContainerProbes::new(timings, first_ticks),
            );
        }
    }

    /// The next PLEG relist after now: the sync that first reports a container started.
    fn next_relist(&self, now: SimTime) -> SimTime {
        let period = self.config.pleg_relist_period.as_nanos().max(1);
        let into_period = now.saturating_since(self.started_at).as_nanos() % period;
        now + SimDuration::from_nanos(period - into_period)
    }

    /// Container `index` of pod `uid` started as `container_id`: its probes begin; it is
    /// ready at once when it has neither a startup nor a readiness probe.
    pub(super) fn probe_container_started(
        &mut self,
        uid: u64,
        index: usize,
        container_id: u64,
        cx: &mut Context<'_, Msg>,
    ) {
        let key = (uid, index);
        let now = cx.now();
        let relist = self.next_relist(now);
        let (flips, rearm) = self.prober.update(key, now, |probes| {
            probes.start(Instance {
                container_id,
                started_at: now,
                health: Health::Starting,
            });
            probes.trigger_readiness(relist);
        });
        self.arm_probe_timer(rearm, cx);
        self.apply_probe_flips(key, &flips, cx);
        // The sync under way reports it.
        self.refresh_ready(key);
    }

    /// The running containers of an adopted pod (after a kubelet restart): their probes
    /// begin afresh (readiness starts as Failure), with the health the runtime reports.
    pub(super) fn probe_adopted(&mut self, uid: u64, cx: &mut Context<'_, Msg>) {
        let Some(worker) = self.workers.get(&uid) else {
            return;
        };
        let running: Vec<(usize, u64, SimTime, bool)> = worker
            .containers
            .iter()
            .enumerate()
            .filter_map(|(index, record)| match record.stage {
                ContainerStage::Running {
                    container_id,
                    started_at,
                    ready,
                } => Some((index, container_id, started_at, ready)),
                _ => None,
            })
            .collect();
        let now = cx.now();
        for (index, container_id, started_at, answering) in running {
            let key = (uid, index);
            // The runtime's timestamp is on this host's clock.
            let age = cx.host_clock().saturating_since(started_at);
            let started_at = SimTime::from_nanos(now.as_nanos().saturating_sub(age.as_nanos()));
            let health = if answering {
                Health::Serving
            } else {
                Health::Starting
            };
            let (flips, rearm) = self.prober.update(key, now, |probes| {
                probes.start(Instance {
                    container_id,
                    started_at,
                    health,
                });
            });
            self.arm_probe_timer(rearm, cx);
            self.apply_probe_flips(key, &flips, cx);
            // The adoption's sync reports it.
            self.refresh_ready(key);
        }
    }

    /// The runtime says the process's health changed.
    pub(super) fn probe_container_health(
        &mut self,
        container_id: u64,
        health: Health,
        cx: &mut Context<'_, Msg>,
    ) {
        let Some(&key) = self.container_owner.get(&container_id) else {
            return;
        };
        if !self.prober.is_probed(key) {
            return;
        }
        let (flips, rearm) = self.prober.update(key, cx.now(), |probes| {
            probes.set_health(container_id, health)
        });
        self.arm_probe_timer(rearm, cx);
        self.apply_probe_flips(key, &flips, cx);
        if self.refresh_ready(key) {
            self.sync_status(key.0, cx);
        }
    }

    /// Container `index` of pod `uid` no longer runs.
    pub(super) fn probe_container_stopped(
        &mut self,
        uid: u64,
        index: usize,
        cx: &mut Context<'_, Msg>,
    ) {
        let key = (uid, index);
        if !self.prober.is_probed(key) {
            return;
        }
        let (flips, rearm) = self.prober.update(key, cx.now(), ContainerProbes::stop);
        self.arm_probe_timer(rearm, cx);
        self.apply_probe_flips(key, &flips, cx);
    }

    /// The pod is terminating: its liveness and startup workers exit.
    pub(super) fn probe_pod_terminating(&mut self, uid: u64, cx: &mut Context<'_, Msg>) {
        for key in self.prober.keys_of(uid) {
            if self
                .prober
                .get(key)
                .is_some_and(ContainerProbes::is_terminating)
            {
                continue;
            }
            let (flips, rearm) = self
                .prober
                .update(key, cx.now(), ContainerProbes::terminating);
            self.arm_probe_timer(rearm, cx);
            self.apply_probe_flips(key, &flips, cx);
        }
    }

    /// The prober's timer fired.
    pub(super) fn on_probe_tick(&mut self, generation: u64, cx: &mut Context<'_, Msg>) {
        let now = cx.now();
        for (key, flips) in self.prober.fire(generation, now) {
            self.apply_probe_flips(key, &flips, cx);
            if self.refresh_ready(key) {
                self.sync_status(key.0, cx);
            }
            let rearm = self.prober.reschedule(key, now);
            self.arm_probe_timer(rearm, cx);
        }
        let rearm = self.prober.rearm(now);
        self.arm_probe_timer(rearm, cx);
    }

    /// Acts on results that flipped: a liveness or startup failure kills the container.
    fn apply_probe_flips(&mut self, key: ContainerKey, flips: &[Flip], cx: &mut Context<'_, Msg>) {
        let (uid, index) = key;
        for flip in flips {
            let Some(worker) = self.workers.get(&uid) else {
                return;
            };
            let name = worker.display(cx.recording());
            let container = worker.containers[index].name.clone();
            let (kind, run_count) = (flip.probe_type.name(), flip.run_count);
            match (flip.probe_type, flip.result) {
                (ProbeType::Liveness | ProbeType::Startup, ProbeResult::Failure) => {
                    self.kill_for_probe(uid, index, flip.probe_type, run_count, cx);
                }
                (ProbeType::Startup, _) => {
                    cx.record("step", || {
                        format!("pod {name}: container {container} startup probe succeeded: started")
                    });
                    let record = &mut self.workers.get_mut(&uid).expect("present").containers[index];
                    record.awaiting_startup_probe = false;
                    if record.role == Role::Sidecar {
                        // The next init container may start now.
                        self.sync_pod(uid, cx);
                    }
                }
                (_, ProbeResult::Success) => cx.record("step", || {
                    format!("pod {name}: container {container} {kind} probe succeeded {run_count} time(s): ready")
                }),
                (_, _) => cx.record("step", || {
                    format!("pod {name}: container {container} {kind} probe failed {run_count} time(s): not ready")
                }),
            }
        }
    }

    /// Shows the prober's readiness of a container on its stage (an unprobed one is
    /// ready as soon as it runs); whether it changed.
    fn refresh_ready(&mut self, key: ContainerKey) -> bool {
        let (uid, index) = key;
        let Some(worker) = self.workers.get_mut(&uid) else {
            return false;
        };
        let stage = &mut worker.containers[index].stage;
        match self.prober.get(key) {
            None => stage
                .container_id()
                .is_some_and(|container_id| set_stage_ready(stage, container_id, true)),
            Some(probes) => {
                let ready = probes.ready();
                probes
                    .situation()
                    .instance
                    .is_some_and(|instance| set_stage_ready(stage, instance.container_id, ready))
            }
        }
    }

    /// A liveness or startup failure (upstream `computePodActions`: "failed liveness
    /// probe, will be restarted"): the container is killed as `killContainer` kills any
    /// container (pkg/kubelet/kuberuntime/kuberuntime_container.go): its preStop hook
    /// first, when it has one and the grace period is not zero, then `StopContainer`
    /// with what is left (at least 2 s). The grace period is upstream's
    /// `setTerminationGracePeriod`: the deletion's, else the failed probe's
    /// `terminationGracePeriodSeconds`, else the pod's. It is restarted per the restart
    /// policy once it has stopped ([`Kubelet::probe_kill_done`]).
    fn kill_for_probe(
        &mut self,
        uid: u64,
        index: usize,
        probe_type: ProbeType,
        run_count: u32,
        cx: &mut Context<'_, Msg>,
    ) {
        let Some(worker) = self.workers.get(&uid) else {
            return;
        };
        if worker.is_terminating() {
            return;
        }
        let record = &worker.containers[index];
        if record.stage.live().is_none() {
            return;
        }
        let grace_seconds = probe_kill_grace_seconds(worker, index, probe_type);
        let restarts =
            worker.pod.spec.restart_policy != RestartPolicy::Never || record.role == Role::Sidecar;
        let name = worker.display(cx.recording());
        let container = record.name.clone();
        let previous_finished_at = record.last_termination.as_ref().map(|t| t.finished_at);
        let kind = probe_type.name();
        cx.record("step", || {
            let then = if restarts {
                "killing it to restart it"
            } else {
                "killing it; not restarted (restartPolicy Never)"
            };
            format!(
                "pod {name}: container {container} {kind} probe failed {run_count} times: {then} (grace period {grace_seconds}s)"
            )
        });
        self.prober
            .killing
            .insert((uid, index), previous_finished_at);
        // The preStop hook (if any), then `StopContainer`, as for any other kill.
        self.apply(
            uid,
            super::worker::Action::BeginKill {
                index,
                grace_seconds,
            },
            cx,
        );
        self.advance_pod(uid, cx);
    }

    /// Container `index` exited on its own while a probe's kill ran its preStop hook: the
    /// exit decides its restart, as any exit does.
    pub(super) fn probe_kill_overtaken(&mut self, uid: u64, index: usize) {
        self.prober.killing.remove(&(uid, index));
    }

    /// A `StopContainer` answered: if it was a probe's kill of a container of a pod that
    /// goes on, the container is restarted in the same sync (upstream `SyncPod` kills
    /// and starts it in one go). Its back-off is judged, as upstream's `doBackOff` does,
    /// by the instance that ended before the killed one: a container killed for the
    /// first time, or long after its previous end, starts again at once.
    pub(super) fn probe_kill_done(&mut self, uid: u64, index: usize, cx: &mut Context<'_, Msg>) {
        self.probe_container_stopped(uid, index, cx);
        let Some(previous_finished_at) = self.prober.killing.remove(&(uid, index)) else {
            return;
        };
        let Some(worker) = self.workers.get_mut(&uid) else {
            return;
        };
        let record = &mut worker.containers[index];
        if worker.lifecycle != Lifecycle::Active || record.stage != ContainerStage::Terminated {
            return;
        }
        if record.last_termination.as_ref().map(|t| t.finished_at) == previous_finished_at {
            // The runtime did not answer with an exit (the container was gone already):
            // it counts as killed.
            record.ended(Terminated {
                exit_code: EXIT_CODE_SIGKILL,
                reason: s("Error"),
                started_at: None,
                finished_at: cx.host_clock(),
            });
        }
        let record = &worker.containers[index];
        let last = record
            .last_termination
            .clone()
            .expect("set above when the runtime gave none");
        if !worker.should_restart(index, last.exit_code) {
            worker.containers[index].stage = ContainerStage::Waiting;
            self.decide_after_exit(uid, index, cx);
            return;
        }
        let name = worker.display(cx.recording());
        let container = record.name.clone();
        let key = (uid, container.clone());
        let (now, host_now) = (cx.now(), cx.host_clock());
        let until = previous_finished_at.and_then(|previous| {
            self.crash_backoff
                .in_backoff_until(&key, previous, host_now)
                .map(|until_host| now + until_host.saturating_since(host_now))
                .or_else(|| {
                    self.crash_backoff.next(key.clone(), previous, host_now);
                    None
                })
        });
        let record = &mut self.workers.get_mut(&uid).expect("present").containers[index];
        match until {
            Some(until) => {
                record.stage = ContainerStage::BackOff { until };
                // The sync's start failed with the back-off: its reason is shown until
                // the container starts again (upstream `reasonCache`).
                record.start_failure = Some("CrashLoopBackOff");
                let delay = self.crash_backoff.get(&key);
                cx.record("step", || {
                    format!("pod {name}: back-off {delay} restarting failed container {container} (CrashLoopBackOff)")
                });
            }
            None => record.stage = ContainerStage::Waiting,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ProbeHandler, Str, TargetPort, UriScheme};
    use sim_core::SimRng;

    fn at_ms(ms: u64) -> SimTime {
        SimTime::from_nanos(ms * 1_000_000)
    }

    fn secs(s: u64) -> SimTime {
        at_ms(s * 1000)
    }

    fn timing(
        period_s: u64,
        timeout_s: u64,
        delay_s: u64,
        success: u32,
        failure: u32,
    ) -> ProbeTiming {
        let mut probe = Probe::new(ProbeHandler::HttpGet {
            path: Str::from("/healthz"),
            port: TargetPort::Number(8080),
            scheme: UriScheme::Http,
        });
        probe.period_seconds = period_s as u32;
        probe.timeout_seconds = timeout_s as u32;
        probe.initial_delay_seconds = delay_s as u32;
        probe.success_threshold = success;
        probe.failure_threshold = failure;
        ProbeTiming::of(&probe)
    }

    fn instance(id: u64, started: SimTime, health: Health) -> Instance {
        Instance {
            container_id: id,
            started_at: started,
            health,
        }
    }

    /// A change from outside the prober, as the kubelet would apply it.
    #[derive(Clone, Copy, Debug)]
    enum Change {
        Start {
            id: u64,
            health: Health,
            manual: Option<SimTime>,
        },
        Health {
            id: u64,
            health: Health,
        },
        Stop,
        Terminating,
    }

    fn apply(probes: &mut ContainerProbes, at: SimTime, change: Change) {
        match change {
            Change::Start { id, health, manual } => {
                probes.start(instance(id, at, health));
                if let Some(manual) = manual {
                    probes.trigger_readiness(manual);
                }
            }
            Change::Health { id, health } => probes.set_health(id, health),
            Change::Stop => probes.stop(),
            Change::Terminating => probes.terminating(),
        }
    }

    /// The elided prober, driven as the kubelet drives it: changes at their instants
    /// (before a timer at the same instant), the timer at each decisive instant.
    fn elided(
        mut probes: ContainerProbes,
        changes: &[(SimTime, Change)],
        end: SimTime,
    ) -> Vec<Flip> {
        let mut flips = Vec::new();
        let mut next_change = 0;
        loop {
            let due = probes.next_decisive();
            let change_at = changes.get(next_change).map(|(at, _)| *at);
            match (change_at, due) {
                (Some(c), d) if d.is_none_or(|d| c <= d) && c <= end => {
                    flips.extend(probes.advance(c, false));
                    apply(&mut probes, c, changes[next_change].1);
                    next_change += 1;
                }
                (_, Some(d)) if d <= end => flips.extend(probes.advance(d, true)),
                _ => break,
            }
        }
        flips
    }

    /// A tick-by-tick prober over the same rules: every tick is evaluated on its own.
    fn naive(
        mut probes: ContainerProbes,
        changes: &[(SimTime, Change)],
        end: SimTime,
    ) -> Vec<Flip> {
        let mut flips = Vec::new();
        let mut next_change = 0;
        // Go's ticker, tick by tick: while a probe runs (until `busy_until`), a tick that
        // falls is kept (`pending`, one at most) and delivered when the probe ends.
        let mut busy_until: [Option<SimTime>; 3] = [None; 3];
        let mut pending = [false; 3];
        loop {
            let mut candidates: Vec<SimTime> = Vec::new();
            if let Some((at, _)) = changes.get(next_change) {
                candidates.push(*at);
            }
            for worker in probes.workers.iter().flatten() {
                candidates.push(worker.next_tick);
                candidates.extend(worker.manual);
                candidates.extend(worker.in_flight.map(|f| f.at));
            }
            candidates.extend(busy_until.iter().flatten());
            let Some(now) = candidates.into_iter().min() else {
                break;
            };
            if now > end {
                break;
            }
            while changes.get(next_change).is_some_and(|(at, _)| *at == now) {
                apply(&mut probes, now, changes[next_change].1);
                next_change += 1;
            }
            // A probe answered now is published before the next one starts (the worker
            // records the result, then reads the tick kept meanwhile).
            for index in 0..3 {
                let instance = probes.instance;
                let Some(worker) = probes.workers[index].as_mut() else {
                    continue;
                };
                if worker.in_flight.is_some_and(|f| f.at == now)
                    && let Some(flip) = worker.publish(instance)
                {
                    flips.push(flip);
                    if flip.probe_type == ProbeType::Startup && flip.result == ProbeResult::Success
                    {
                        probes.trigger_readiness(now);
                    }
                }
            }
            let situation = probes.situation();
            for (index, worker) in probes.workers.iter_mut().enumerate() {
                let Some(worker) = worker.as_mut() else {
                    continue;
                };
                let mut start = false;
                if busy_until[index] == Some(now) {
                    busy_until[index] = None;
                    start = std::mem::take(&mut pending[index]);
                }
                if worker.next_tick == now {
                    worker.next_tick = now + worker.timing.period;
                    if busy_until[index].is_some() {
                        pending[index] = true;
                    } else {
                        start = true;
                    }
                }
                if !start {
                    continue;
                }
                let runs = worker
                    .answer(situation)
                    .filter(|(instance, _, _)| now >= worker.eligible_from(*instance));
                worker.probe_once(situation, now);
                if let Some((_, _, delay)) = runs
                    && delay > SimDuration::ZERO
                {
                    busy_until[index] = Some(now + delay);
                }
            }
            for worker in probes.workers.iter_mut().flatten() {
                if worker.manual == Some(now) {
                    worker.manual = None;
                    worker.probe_once(situation, now);
                }
            }
            loop {
                let mut happened = false;
                for index in 0..3 {
                    let instance = probes.instance;
                    let Some(worker) = probes.workers[index].as_mut() else {
                        continue;
                    };
                    if worker.in_flight.is_some_and(|f| f.at == now) {
                        happened = true;
                        if let Some(flip) = worker.publish(instance) {
                            flips.push(flip);
                            if flip.probe_type == ProbeType::Startup
                                && flip.result == ProbeResult::Success
                            {
                                probes.trigger_readiness(now);
                            }
                        }
                    }
                }
                let situation = probes.situation();
                for worker in probes.workers.iter_mut().flatten() {
                    if worker.manual == Some(now) {
                        happened = true;
                        worker.manual = None;
                        worker.probe_once(situation, now);
                    }
                }
                if !happened {
                    break;
                }
            }
        }
        flips
    }

    fn liveness_only(timing: ProbeTiming, first_tick: SimTime) -> ContainerProbes {
        ContainerProbes::new([None, Some(timing), None], [first_tick; 3])
    }

    #[test]
    fn liveness_fails_on_the_third_tick_after_the_hang_plus_the_timeout() {
        // Period 10 s, timeout 1 s, failureThreshold 3; ticks at 0, 10, 20, ...; the
        // process serves from 1 s and hangs at 61 s: failures at 70, 80, 90, and the
        // third answer (a timeout) arrives at 91 s.
        let probes = liveness_only(timing(10, 1, 0, 1, 3), secs(0));
        let changes = [
            (
                at_ms(500),
                Change::Start {
                    id: 1,
                    health: Health::Starting,
                    manual: None,
                },
            ),
            (
                secs(1),
                Change::Health {
                    id: 1,
                    health: Health::Serving,
                },
            ),
            (
                secs(61),
                Change::Health {
                    id: 1,
                    health: Health::Unresponsive,
                },
            ),
        ];
        let flips = elided(probes.clone(), &changes, secs(200));
        assert_eq!(
            flips,
            vec![Flip {
                probe_type: ProbeType::Liveness,
                result: ProbeResult::Failure,
                at: secs(91),
                run_count: 3,
            }]
        );
        assert_eq!(naive(probes, &changes, secs(200)), flips);
    }

    #[test]
    fn a_failed_liveness_worker_waits_for_a_new_container() {
        let mut probes = liveness_only(timing(10, 1, 0, 1, 1), secs(0));
        probes.start(instance(1, secs(1), Health::Unresponsive));
        let flips = probes.advance(secs(100), true);
        assert_eq!(flips.len(), 1);
        assert_eq!(flips[0].at, secs(11));
        assert_eq!(
            probes.worker(ProbeType::Liveness).unwrap().state,
            WorkerState::OnHold
        );
        assert_eq!(probes.next_decisive(), None, "on hold: nothing to decide");
        // The restarted container starts with Success and is probed again.
        probes.stop();
        probes.start(instance(2, secs(105), Health::Serving));
        assert_eq!(
            probes.worker(ProbeType::Liveness).unwrap().result,
            ProbeResult::Success
        );
        assert_eq!(
            probes.worker(ProbeType::Liveness).unwrap().state,
            WorkerState::Probing
        );
        assert_eq!(
            probes.next_decisive(),
            None,
            "healthy: the result stays Success"
        );
    }

    #[test]
    fn readiness_starts_failed_and_needs_success_threshold_successes() {
        let t = timing(5, 1, 0, 2, 3);
        let mut probes = ContainerProbes::new([None, None, Some(t)], [secs(0); 3]);
        probes.start(instance(1, secs(2), Health::Serving));
        assert!(!probes.ready(), "readiness starts as Failure");
        // Ticks at 5 and 10: two successes in a row.
        assert_eq!(probes.next_decisive(), Some(secs(10)));
        let flips = probes.advance(secs(10), true);
        assert_eq!(flips[0].result, ProbeResult::Success);
        assert!(probes.ready());
        // Unready after three failures (15, 20, 25), answered at once (refused).
        probes.advance(secs(12), false);
        probes.set_health(1, Health::Starting);
        assert_eq!(probes.next_decisive(), Some(secs(25)));
    }

    #[test]
    fn initial_delay_counts_whole_seconds_from_the_container_start() {
        // initialDelaySeconds 15 from a start at 3.2 s: the ticks at 0 and 10 s are too
        // early; the one at 20 s (16.8 s after the start) counts.
        let t = timing(10, 1, 15, 1, 1);
        let mut probes = ContainerProbes::new([None, Some(t), None], [secs(0); 3]);
        probes.start(instance(1, at_ms(3200), Health::Unresponsive));
        assert_eq!(probes.next_decisive(), Some(secs(21)));
    }

    #[test]
    fn liveness_and_readiness_wait_for_the_startup_probe() {
        let startup = timing(2, 1, 0, 1, 30);
        let liveness = timing(10, 1, 0, 1, 3);
        let readiness = timing(10, 1, 0, 1, 3);
        let mut probes = ContainerProbes::new(
            [Some(startup), Some(liveness), Some(readiness)],
            [secs(0), secs(0), secs(0)],
        );
        probes.start(instance(1, at_ms(500), Health::Starting));
        assert!(!probes.situation().started);
        // Liveness would see a hung process, but it does not run before startup succeeds.
        probes.set_health(1, Health::Unresponsive);
        assert_eq!(
            probes.next_decisive(),
            Some(secs(61)),
            "the startup probe's 30th failure: the tick at 60 s, answered 1 s later"
        );
        probes.set_health(1, Health::Serving);
        let flips = probes.advance(secs(2), true);
        // The startup success asks readiness for a probe at once: ready at 2 s too.
        assert_eq!(
            flips,
            vec![
                Flip {
                    probe_type: ProbeType::Startup,
                    result: ProbeResult::Success,
                    at: secs(2),
                    run_count: 1,
                },
                Flip {
                    probe_type: ProbeType::Readiness,
                    result: ProbeResult::Success,
                    at: secs(2),
                    run_count: 1,
                }
            ]
        );
        assert!(probes.ready());
    }

    #[test]
    fn without_a_readiness_probe_a_started_container_is_ready() {
        let mut probes =
            ContainerProbes::new([None, Some(timing(10, 1, 0, 1, 3)), None], [secs(0); 3]);
        assert!(!probes.ready());
        probes.start(instance(1, secs(1), Health::Starting));
        assert!(probes.ready());
        probes.stop();
        assert!(!probes.ready());
    }

    #[test]
    fn termination_stops_liveness_but_not_readiness() {
        let mut probes = ContainerProbes::new(
            [
                None,
                Some(timing(10, 1, 0, 1, 1)),
                Some(timing(10, 1, 0, 1, 1)),
            ],
            [secs(0); 3],
        );
        probes.start(instance(1, secs(1), Health::Unresponsive));
        probes.terminating();
        let flips = probes.advance(secs(100), true);
        assert!(
            flips.is_empty(),
            "readiness already Failure, liveness stopped: {flips:?}"
        );
    }

    #[test]
    fn a_probe_kill_takes_the_probes_grace_period_else_the_pods() {
        // Upstream `setTerminationGracePeriod` (kuberuntime_container.go).
        use crate::kubelet::worker::tests::pod;
        let mut p = (*pod(&[("app", "img")], RestartPolicy::Always)).clone();
        let mut spec = p.spec.containers[0].clone();
        let mut liveness = Probe::new(ProbeHandler::HttpGet {
            path: Str::from("/healthz"),
            port: TargetPort::Number(8080),
            scheme: UriScheme::Http,
        });
        liveness.termination_grace_period_seconds = Some(4);
        spec.liveness_probe = Some(std::rc::Rc::new(liveness));
        spec.startup_probe = Some(std::rc::Rc::new(Probe::new(ProbeHandler::HttpGet {
            path: Str::from("/started"),
            port: TargetPort::Number(8080),
            scheme: UriScheme::Http,
        })));
        p.spec.containers = vec![spec].into();
        p.spec.termination_grace_period_seconds = 45;
        let w = PodWorker::new(std::rc::Rc::new(p.clone()));
        assert_eq!(probe_kill_grace_seconds(&w, 0, ProbeType::Liveness), 4);
        assert_eq!(
            probe_kill_grace_seconds(&w, 0, ProbeType::Startup),
            45,
            "a probe without its own takes the pod's"
        );
        // A pod being deleted: the deletion's grace wins, zero included (the preStop hook
        // is then skipped, and StopContainer still gets 2 s).
        p.metadata.deletion_grace_period_seconds = Some(0);
        let w = PodWorker::new(std::rc::Rc::new(p));
        assert_eq!(probe_kill_grace_seconds(&w, 0, ProbeType::Liveness), 0);
    }

    #[test]
    fn probes_that_outlast_the_period_run_back_to_back() {
        // Regression (issue 6): a tick that fell while a probe of a hung process waited
        // for its timeout was dropped. Upstream's worker probes serially on a Go ticker,
        // whose channel keeps one tick for a slow receiver: the next probe starts as the
        // timed-out one ends. Period 2 s, timeout 5 s, 3 failures, ticks from 0: hung
        // from 1 s, probes start at 2, 7 and 12 s, and the third times out at 17 s (on
        // the grid, dropping the late ticks, it would be 2, 4, 6 → 11 s; with the
        // timeout capped below the period, 2, 4, 6 → 8 s).
        let slow = timing(2, 5, 0, 1, 3);
        assert_eq!(slow.timeout, SimDuration::from_secs(5), "not capped");
        let mut probes = liveness_only(slow, secs(0));
        probes.start(instance(1, secs(0), Health::Serving));
        probes.advance(secs(1), false);
        probes.set_health(1, Health::Unresponsive);
        assert_eq!(probes.next_decisive(), Some(secs(17)));
        let flips = probes.advance(secs(17), true);
        assert_eq!(flips.len(), 1);
        assert_eq!(flips[0].result, ProbeResult::Failure);
        assert_eq!(flips[0].at, secs(17));
        // Serving again while the next probe (started at 17 s, the late tick) runs: it
        // answers at once, and the grid goes on at 18 s.
        let mut probes = liveness_only(slow, secs(0));
        probes.start(instance(1, secs(0), Health::Serving));
        probes.advance(secs(1), false);
        probes.set_health(1, Health::Unresponsive);
        probes.advance(secs(8), false);
        probes.set_health(1, Health::Serving);
        assert_eq!(probes.next_decisive(), None, "liveness is still Success");
        let worker = probes.worker(ProbeType::Liveness).expect("liveness");
        assert_eq!(
            worker.next_tick,
            secs(12),
            "the late tick of the probe at 7 s"
        );
        // A timeout shorter than the period keeps the grid: 2, 4, 6 → answered at 7 s.
        let quick = timing(2, 1, 0, 1, 3);
        let mut probes = liveness_only(quick, secs(0));
        probes.start(instance(1, secs(0), Health::Serving));
        probes.advance(secs(1), false);
        probes.set_health(1, Health::Unresponsive);
        assert_eq!(probes.next_decisive(), Some(secs(7)));
    }

    fn random_timing(rng: &mut SimRng, thresholds_of_one: bool) -> ProbeTiming {
        let success = if thresholds_of_one {
            1
        } else {
            1 + rng.below(3) as u32
        };
        timing(
            1 + rng.below(5),
            1 + rng.below(3),
            rng.below(6),
            success,
            1 + rng.below(4) as u32,
        )
    }

    #[test]
    fn elided_prober_matches_a_tick_by_tick_one() {
        let mut flip_count = 0;
        let mut kinds = std::collections::BTreeSet::new();
        for seed in 0..3000 {
            let mut rng = SimRng::for_stream(seed, "prober-test");
            let mut timings = [None; 3];
            for probe_type in ProbeType::ALL {
                if rng.chance(2, 3) {
                    timings[probe_type as usize] =
                        Some(random_timing(&mut rng, probe_type != ProbeType::Readiness));
                }
            }
            // Half-second steps make ties with the grid common.
            let step =
                |rng: &mut SimRng, max_steps: u64| at_ms(500 * rng.below(max_steps)).as_nanos();
            let first_ticks = [0; 3].map(|_: u8| SimTime::from_nanos(step(&mut rng, 8)));
            let probes = ContainerProbes::new(timings, first_ticks);
            let mut changes = Vec::new();
            let mut now = 0u64;
            let mut id = 0u64;
            let mut running = false;
            for _ in 0..(2 + rng.below(12)) {
                now += step(&mut rng, 40);
                let at = SimTime::from_nanos(now);
                let roll = rng.below(10);
                let change = if !running || roll == 0 {
                    if running {
                        running = false;
                        Change::Stop
                    } else {
                        running = true;
                        id += 1;
                        let manual = rng
                            .chance(1, 2)
                            .then(|| at + SimDuration::from_millis(rng.below(1000)));
                        Change::Start {
                            id,
                            health: Health::Starting,
                            manual,
                        }
                    }
                } else if roll == 1 {
                    Change::Terminating
                } else {
                    let health = [Health::Starting, Health::Serving, Health::Unresponsive]
                        [rng.below(3) as usize];
                    Change::Health { id, health }
                };
                changes.push((at, change));
            }
            // A manual probe lies after its start: keep the changes in time order.
            let end = SimTime::from_nanos(now) + SimDuration::from_secs(60);
            let fast = elided(probes.clone(), &changes, end);
            let slow = naive(probes, &changes, end);
            assert_eq!(fast, slow, "seed {seed}: changes {changes:?}");
            flip_count += fast.len();
            kinds.extend(fast.iter().map(|f| (f.probe_type, f.result)));
        }
        // The timelines exercise every kind of flip, many times over.
        assert!(flip_count > 5000, "only {flip_count} flips");
        assert_eq!(kinds.len(), 5, "{kinds:?}");
    }

    #[test]
    fn the_prober_timer_fires_for_the_decisive_instant_only() {
        let mut prober = Prober::new();
        prober.add((7, 0), liveness_only(timing(10, 1, 0, 1, 3), secs(0)));
        let (flips, rearm) = prober.update((7, 0), secs(1), |p| {
            p.start(instance(1, secs(1), Health::Serving));
        });
        assert!(flips.is_empty());
        assert_eq!(rearm, None, "a healthy container needs no timer");
        let (_, rearm) = prober.update((7, 0), secs(65), |p| p.set_health(1, Health::Unresponsive));
        let rearm = rearm.expect("a timer for the third failure");
        assert_eq!(rearm.after, SimDuration::from_secs(91 - 65));
        let fired = prober.fire(rearm.generation, secs(91));
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].1[0].result, ProbeResult::Failure);
        prober.remove_pod(7);
        assert!(!prober.is_probed((7, 0)));
    }
}
