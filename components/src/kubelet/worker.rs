//! Pod workers: one state machine per pod the kubelet runs, and the pure decisions that
//! drive them (what to do next, whether to restart, whether to pull).
//!
//! A worker has a sandbox stage, one record per container (the init containers in spec
//! order, then the regular containers) with its own stage, and a lifecycle (active, or
//! terminating). [`plan`] looks at a worker and says what to begin; the kubelet issues
//! the CRI calls and advances the stages as the answers come back.
//!
//! Starting follows upstream's `computePodActions` and `computeInitContainerActions`
//! (pkg/kubelet/kuberuntime/kuberuntime_manager.go, kuberuntime_container.go): init
//! containers run one at a time, in order, each to a successful exit; a sidecar (an init
//! container with `restartPolicy: Always`) lets the next one start once it has started,
//! and keeps running (restarted whenever it exits); the regular containers start only
//! once the pod is initialized. A failed init container is restarted (with back-off)
//! unless the pod's restartPolicy is Never, which fails the pod. Containers are started
//! one after the other, as `SyncPod` does (the next container's image is not looked at
//! before the previous one has been started, postStart hook included).
//!
//! Stopping follows `killContainer` and kuberuntime_termination_order.go: every running
//! container is killed at once; each runs its preStop hook first (at most its grace
//! period, whose whole seconds it uses up), a sidecar then waits for the regular
//! containers and the sidecars after it to exit (at most what is left), and
//! `StopContainer` gets what remains, at least 2 s. The same kill ends a pod whose
//! regular containers will never run again (its sidecars) or whose init container failed
//! for good.

use std::fmt;
use std::rc::Rc;

use sim_core::{SimDuration, SimTime};

use crate::api::{
    Container, ContainerStateTerminated, ImagePullPolicy, LifecycleHandler, Pod, RequestId,
    RestartPolicy, Str,
};
use crate::runtime::CallId;

/// How a container instance ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terminated {
    pub exit_code: i32,
    pub reason: Str,
    /// When the instance had started (unset when it never ran: `StartError`).
    pub started_at: Option<SimTime>,
    pub finished_at: SimTime,
}

impl Terminated {
    /// As `lastState.terminated` shows it.
    pub fn to_api(&self) -> ContainerStateTerminated {
        ContainerStateTerminated {
            exit_code: self.exit_code,
            reason: self.reason.clone(),
            started_at: self.started_at,
            finished_at: self.finished_at,
        }
    }

    /// Whether the API's `shown` says the same.
    pub fn matches(&self, shown: &ContainerStateTerminated) -> bool {
        self.exit_code == shown.exit_code
            && self.finished_at == shown.finished_at
            && self.started_at == shown.started_at
            && (std::rc::Rc::ptr_eq(&self.reason, &shown.reason) || self.reason == shown.reason)
    }

    /// From what the API shows (a kubelet restarting reads it back).
    pub fn from_api(shown: &ContainerStateTerminated) -> Terminated {
        Terminated {
            exit_code: shown.exit_code,
            reason: shown.reason.clone(),
            started_at: shown.started_at,
            finished_at: shown.finished_at,
        }
    }
}

/// Why a container waits for its image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullFailure {
    /// The pull just failed.
    ErrImagePull,
    /// It failed again after a back-off.
    ImagePullBackOff,
}

impl PullFailure {
    pub fn reason(self) -> &'static str {
        match self {
            PullFailure::ErrImagePull => "ErrImagePull",
            PullFailure::ImagePullBackOff => "ImagePullBackOff",
        }
    }
}

/// What part a container plays in its pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A regular init container: runs to a successful exit before the next one starts.
    Init,
    /// A restartable init container (`restartPolicy: Always`, KEP-753).
    Sidecar,
    /// A regular container of `spec.containers`.
    App,
}

/// What a lifecycle hook in progress is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookWait {
    /// An `exec` or `httpGet` handler: the runtime's answer to this call.
    Call(CallId),
    /// A `sleep` handler: the kubelet's own timer, up at this instant.
    Until(SimTime),
}

/// Where a container's kill stands before `StopContainer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillStep {
    /// Its preStop hook runs.
    PreStop(HookWait),
    /// A sidecar waits for the containers that must exit before it (for a container that
    /// waits for nothing, this step lasts no time).
    AwaitingTurn,
}

/// A kill in progress (upstream `killContainer`): the grace period is counted in whole
/// seconds, as upstream counts it, and each step uses up the whole seconds it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kill {
    pub step: KillStep,
    /// When the current step began.
    pub since: SimTime,
    /// What is left of the grace period when the step began.
    pub grace_seconds: u64,
}

impl Kill {
    /// The instant the current step runs out of grace.
    pub fn deadline(&self) -> SimTime {
        self.since + SimDuration::from_secs(self.grace_seconds)
    }

    /// The preStop hook is over at `now` (done, or abandoned at the deadline): the whole
    /// seconds it took come off the grace period, and the container awaits its turn
    /// (`gracePeriod - executePreStopHook(..)`).
    pub fn after_pre_stop(&self, now: SimTime) -> Kill {
        Kill {
            step: KillStep::AwaitingTurn,
            since: now,
            grace_seconds: self
                .grace_seconds
                .saturating_sub(now.saturating_since(self.since).as_secs()),
        }
    }

    /// The timeout `StopContainer` gets at `now`: what is left after the wait for its
    /// turn (whole seconds), at least [`MINIMUM_GRACE_PERIOD`].
    pub fn stop_timeout(&self, now: SimTime) -> SimDuration {
        let waited_seconds = now.saturating_since(self.since).as_secs();
        let left = SimDuration::from_secs(self.grace_seconds.saturating_sub(waited_seconds));
        Ord::max(left, MINIMUM_GRACE_PERIOD)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerStage {
    /// To be (re)started: the start pipeline begins at the next plan.
    Waiting,
    /// `ImageStatus` in flight.
    CheckingImage { call: CallId },
    /// `PullImage` in flight, sent at `since`.
    Pulling { call: CallId, since: SimTime },
    /// The last pull failed; the next attempt is at `until`.
    PullBackOff {
        until: SimTime,
        failure: PullFailure,
    },
    /// `imagePullPolicy: Never` and the image is not on the node; looked for again at
    /// `until` (the pod worker's `backOffPeriod`).
    NeverPull { until: SimTime },
    /// `CreateContainer` in flight.
    Creating { call: CallId },
    /// `StartContainer` in flight.
    Starting { container_id: u64, call: CallId },
    /// Started; its postStart hook runs, and the next container waits for it.
    PostStart {
        container_id: u64,
        started_at: SimTime,
        ready: bool,
        wait: HookWait,
    },
    Running {
        container_id: u64,
        started_at: SimTime,
        ready: bool,
    },
    /// Being killed: preStop hook, then (a sidecar) its turn, then `StopContainer`.
    Killing {
        container_id: u64,
        started_at: SimTime,
        ready: bool,
        kill: Kill,
    },
    /// `StopContainer` in flight (graceful termination).
    Stopping {
        container_id: u64,
        started_at: SimTime,
        ready: bool,
        call: CallId,
    },
    /// Exited; restarted at `until` (CrashLoopBackOff).
    BackOff { until: SimTime },
    /// Done: it will not run again (restart policy, a completed init container, or the
    /// pod is terminating).
    Terminated,
}

impl ContainerStage {
    /// A CRI call of the start pipeline is in flight.
    pub fn is_starting(&self) -> bool {
        matches!(
            self,
            ContainerStage::CheckingImage { .. }
                | ContainerStage::Pulling { .. }
                | ContainerStage::Creating { .. }
                | ContainerStage::Starting { .. }
        )
    }

    /// The container's process runs (or is being stopped).
    pub fn is_running(&self) -> bool {
        matches!(
            self,
            ContainerStage::Running { .. }
                | ContainerStage::PostStart { .. }
                | ContainerStage::Killing { .. }
                | ContainerStage::Stopping { .. }
        )
    }

    /// The container id, start and readiness of a container that runs and is not being
    /// stopped (its postStart hook may still run).
    pub fn live(&self) -> Option<(u64, SimTime, bool)> {
        match *self {
            ContainerStage::Running {
                container_id,
                started_at,
                ready,
            }
            | ContainerStage::PostStart {
                container_id,
                started_at,
                ready,
                ..
            } => Some((container_id, started_at, ready)),
            _ => None,
        }
    }

    pub fn container_id(&self) -> Option<u64> {
        match self {
            ContainerStage::Starting { container_id, .. }
            | ContainerStage::PostStart { container_id, .. }
            | ContainerStage::Running { container_id, .. }
            | ContainerStage::Killing { container_id, .. }
            | ContainerStage::Stopping { container_id, .. } => Some(*container_id),
            _ => None,
        }
    }

    /// The instant a container waiting to be (re)started may be, if it waits for one.
    fn restart_due(&self) -> Option<SimTime> {
        match *self {
            ContainerStage::PullBackOff { until, .. }
            | ContainerStage::BackOff { until }
            | ContainerStage::NeverPull { until } => Some(until),
            _ => None,
        }
    }
}

/// A pod's `namespace/name`, for records (empty when records are off).
#[derive(Clone, Debug)]
pub struct PodName(Option<(Str, Str)>);

impl fmt::Display for PodName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some((namespace, name)) => write!(f, "{namespace}/{name}"),
            None => f.write_str("?"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ContainerRecord {
    pub name: Str,
    pub image: Str,
    pub pull_policy: ImagePullPolicy,
    pub role: Role,
    /// Its index in `spec.initContainers` (Init, Sidecar) or `spec.containers` (App).
    pub spec_index: usize,
    pub stage: ContainerStage,
    pub restart_count: u32,
    /// Whether an instance of this container has been created before (so that the next
    /// one is a restart).
    pub created_before: bool,
    /// How the previous instance ended.
    pub last_termination: Option<Terminated>,
    /// How the instance before that one ended: `lastState` while `last_termination` is
    /// what `state` shows (the container does not run again yet, or ever).
    pub previous_termination: Option<Terminated>,
    /// The waiting reason shown before the container first runs: `PodInitializing` in a
    /// pod with init containers, else `ContainerCreating` (upstream
    /// `convertToAPIContainerStatuses`).
    pub waiting_reason: &'static str,
    /// The running instance has a startup probe that has not succeeded yet: it has not
    /// started (for a sidecar, the next init container waits).
    pub awaiting_startup_probe: bool,
    /// The running instance is being killed because its postStart hook failed
    /// (FailedPostStartHook): once stopped, its exit decides the restart as a crash's
    /// would.
    pub failed_post_start: bool,
    /// Why the last start failed, shown as the waiting reason until the container runs
    /// again (upstream's `reasonCache`: `PostStartHookError`).
    pub start_failure: Option<&'static str>,
}

impl ContainerRecord {
    /// The current instance ended as `how`: the one before moves to
    /// `previous_termination`.
    pub fn ended(&mut self, how: Terminated) {
        self.previous_termination = self.last_termination.replace(how);
    }

    /// Upstream's `started` (`convertToAPIContainerStatuses` asks the startup results
    /// manager): the instance runs and its startup probe, if any, has succeeded.
    pub fn started(&self) -> bool {
        self.stage.is_running() && !self.awaiting_startup_probe
    }

    /// A regular init container that exited successfully: it never runs again.
    pub fn completed(&self) -> bool {
        self.role == Role::Init
            && self.stage == ContainerStage::Terminated
            && self
                .last_termination
                .as_ref()
                .is_some_and(|t| t.exit_code == 0)
    }

    /// A regular init container that failed and will not be restarted (restartPolicy
    /// Never).
    fn failed_for_good(&self) -> bool {
        self.role == Role::Init
            && self.stage == ContainerStage::Terminated
            && self
                .last_termination
                .as_ref()
                .is_some_and(|t| t.exit_code != 0)
    }

    /// A sidecar counts as started, for the next init container, once it runs with its
    /// postStart hook done and its startup probe, if it has one, succeeded
    /// (`computeInitContainerActions`).
    pub fn sidecar_started(&self) -> bool {
        matches!(self.stage, ContainerStage::Running { .. }) && !self.awaiting_startup_probe
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SandboxStage {
    None,
    /// `RunPodSandbox` in flight.
    Creating {
        call: CallId,
    },
    /// `RunPodSandbox` failed; retried at `until`.
    Failed {
        until: SimTime,
    },
    Ready {
        sandbox_id: u64,
    },
    /// The sandbox's infra process (the pause container, VM or Sentry) died: its
    /// containers are killed, and a new sandbox replaces it or the pod ends
    /// ([`sandbox_change`]).
    NotReady {
        sandbox_id: u64,
    },
    /// `StopPodSandbox` in flight.
    Stopping {
        sandbox_id: u64,
        call: CallId,
    },
    Stopped {
        sandbox_id: u64,
    },
    /// `RemovePodSandbox` in flight.
    Removing {
        call: CallId,
    },
    Removed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    Active,
    /// The pod got a deletionTimestamp, or vanished from the API: stop everything.
    Terminating {
        grace: SimDuration,
        /// Still in the API: delete it (grace 0) once torn down.
        delete_from_api: bool,
    },
    /// Torn down; the final delete was sent.
    Deleting,
}

#[derive(Clone, Debug)]
pub struct PodWorker {
    /// The newest version of the pod seen (watch or write response).
    pub pod: Rc<Pod>,
    pub sandbox: SandboxStage,
    pub sandbox_attempt: u32,
    pub pod_ip: Option<Str>,
    /// The init containers in spec order, then the regular containers.
    pub containers: Vec<ContainerRecord>,
    pub lifecycle: Lifecycle,
    /// The status update in flight for this pod (the kubelet's status manager writes one
    /// at a time per pod).
    pub status_write: Option<RequestId>,
    /// The eviction manager evicted the pod, with this message: its status is Failed
    /// with reason `Evicted` (see `kubelet::eviction`).
    pub evicted: Option<Str>,
    /// A new sandbox replaced a dead one: its init containers run again from the first
    /// before the regular containers start (upstream purges the old init containers).
    pub reinitializing: bool,
}

impl PodWorker {
    pub fn new(pod: Rc<Pod>) -> PodWorker {
        let has_init = !pod.spec.init_containers.is_empty();
        let waiting_reason = if has_init {
            "PodInitializing"
        } else {
            "ContainerCreating"
        };
        let record = |c: &Container, role: Role, spec_index: usize| ContainerRecord {
            name: c.name.clone(),
            image: c.image.clone(),
            pull_policy: c.image_pull_policy,
            role,
            spec_index,
            stage: ContainerStage::Waiting,
            restart_count: 0,
            created_before: false,
            last_termination: None,
            previous_termination: None,
            waiting_reason,
            awaiting_startup_probe: false,
            failed_post_start: false,
            start_failure: None,
        };
        let init = pod.spec.init_containers.iter().enumerate().map(|(i, c)| {
            let role = if c.is_sidecar() {
                Role::Sidecar
            } else {
                Role::Init
            };
            record(c, role, i)
        });
        let app = pod
            .spec
            .containers
            .iter()
            .enumerate()
            .map(|(i, c)| record(c, Role::App, i));
        let containers = init.chain(app).collect();
        PodWorker {
            pod,
            sandbox: SandboxStage::None,
            sandbox_attempt: 0,
            pod_ip: None,
            containers,
            lifecycle: Lifecycle::Active,
            status_write: None,
            evicted: None,
            reinitializing: false,
        }
    }

    pub fn uid(&self) -> u64 {
        self.pod.metadata.uid
    }

    /// The spec of container `index` (an index into `containers`).
    pub fn spec(&self, index: usize) -> &Container {
        let record = &self.containers[index];
        match record.role {
            Role::Init | Role::Sidecar => &self.pod.spec.init_containers[record.spec_index],
            Role::App => &self.pod.spec.containers[record.spec_index],
        }
    }

    /// `namespace/name`, for records: taken only when records are on (`recording`), as
    /// a record closure never runs otherwise and the strings are rarely in cache.
    pub fn display(&self, recording: bool) -> PodName {
        PodName(recording.then(|| {
            (
                self.pod.metadata.namespace.clone(),
                self.pod.metadata.name.clone(),
            )
        }))
    }

    pub fn is_terminating(&self) -> bool {
        !matches!(self.lifecycle, Lifecycle::Active)
    }

    /// A CRI call for the pod is in flight: the worker is in the middle of a sync.
    pub fn has_call_in_flight(&self) -> bool {
        matches!(
            self.sandbox,
            SandboxStage::Creating { .. }
                | SandboxStage::Stopping { .. }
                | SandboxStage::Removing { .. }
        ) || self.containers.iter().any(|c| {
            c.stage.is_starting()
                || matches!(
                    c.stage,
                    ContainerStage::Stopping { .. }
                        | ContainerStage::PostStart {
                            wait: HookWait::Call(_),
                            ..
                        }
                )
        })
    }

    /// Every container is done for good: the pod has reached a terminal phase.
    pub fn all_terminated(&self) -> bool {
        self.containers
            .iter()
            .all(|c| c.stage == ContainerStage::Terminated)
    }

    /// A regular container has run (or runs) in this pod: its init containers have all
    /// run at some point (upstream's `podHasInitialized` workaround).
    pub fn has_initialized_before(&self) -> bool {
        self.containers
            .iter()
            .any(|c| c.role == Role::App && (c.created_before || c.stage.is_running()))
    }

    /// Upstream's `KillPod` outside a deletion: an init container failed under
    /// restartPolicy Never, or every regular container is done for good (what still
    /// runs, the sidecars, is stopped).
    pub fn must_kill(&self) -> bool {
        let mut apps = self.containers.iter().filter(|c| c.role == Role::App);
        self.containers.iter().any(ContainerRecord::failed_for_good)
            || apps.all(|c| c.stage == ContainerStage::Terminated)
    }

    /// Whether container `index`, which just exited with `exit_code`, is started again:
    /// never in a terminating or finished pod; a regular init container after a failure
    /// unless the pod's restartPolicy is Never (Always counts as OnFailure for it); a
    /// sidecar always; a regular container per the restartPolicy.
    pub fn should_restart(&self, index: usize, exit_code: i32) -> bool {
        if self.is_terminating() {
            return false;
        }
        let policy = self.pod.spec.restart_policy;
        match self.containers[index].role {
            Role::Init => exit_code != 0 && policy != RestartPolicy::Never,
            Role::Sidecar => !self.must_kill(),
            Role::App => should_restart(policy, exit_code),
        }
    }

    /// After an exit decided for good: once the pod must be killed, what waits to be
    /// (re)started never will be.
    pub fn settle(&mut self) {
        if !self.must_kill() {
            return;
        }
        for container in &mut self.containers {
            if matches!(
                container.stage,
                ContainerStage::Waiting
                    | ContainerStage::PullBackOff { .. }
                    | ContainerStage::NeverPull { .. }
                    | ContainerStage::BackOff { .. }
            ) {
                container.stage = ContainerStage::Terminated;
            }
        }
    }

    /// Starts termination: containers that are not running and not in the middle of a
    /// CRI call will not run again.
    pub fn begin_termination(&mut self, grace: SimDuration, delete_from_api: bool) {
        match &mut self.lifecycle {
            Lifecycle::Active => {
                self.lifecycle = Lifecycle::Terminating {
                    grace,
                    delete_from_api,
                };
            }
            Lifecycle::Terminating {
                delete_from_api: delete,
                ..
            } => *delete = *delete && delete_from_api,
            Lifecycle::Deleting => {}
        }
        for container in &mut self.containers {
            if matches!(
                container.stage,
                ContainerStage::Waiting
                    | ContainerStage::PullBackOff { .. }
                    | ContainerStage::NeverPull { .. }
                    | ContainerStage::BackOff { .. }
            ) {
                container.stage = ContainerStage::Terminated;
            }
        }
    }

    /// Container `index` has its turn to be stopped: it is not a sidecar, or every
    /// regular container and every later sidecar has exited (upstream
    /// `newTerminationOrdering`: sidecars stop after the regular containers, in reverse
    /// order).
    pub fn turn_to_stop(&self, index: usize) -> bool {
        if self.containers[index].role != Role::Sidecar {
            return true;
        }
        self.containers.iter().enumerate().all(|(other, c)| {
            let must_go_first = c.role == Role::App || (c.role == Role::Sidecar && other > index);
            !must_go_first || !(c.stage.is_running() || c.stage.is_starting())
        })
    }

    /// How a kill of container `index` begins at `now` with `grace_seconds`: with its
    /// preStop hook (`Some(handler)`) when it has one and there is grace left, else
    /// awaiting its turn.
    pub fn pre_stop_hook(&self, index: usize, grace_seconds: u64) -> Option<&LifecycleHandler> {
        let lifecycle = self.spec(index).lifecycle.as_ref()?;
        lifecycle.pre_stop.as_ref().filter(|_| grace_seconds > 0)
    }

    /// The container's postStart hook, if it has one.
    pub fn post_start_hook(&self, index: usize) -> Option<&LifecycleHandler> {
        self.spec(index).lifecycle.as_ref()?.post_start.as_ref()
    }

    /// Begins killing running container `index` at `now`: its preStop hook, when
    /// `pre_stop` says what the hook waits for, else straight to awaiting its turn.
    pub fn begin_kill(
        &mut self,
        index: usize,
        grace_seconds: u64,
        pre_stop: Option<HookWait>,
        now: SimTime,
    ) {
        let stage = &mut self.containers[index].stage;
        let Some((container_id, started_at, ready)) = stage.live() else {
            panic!("killing a container that does not run: {stage:?}");
        };
        let step = pre_stop.map_or(KillStep::AwaitingTurn, KillStep::PreStop);
        *stage = ContainerStage::Killing {
            container_id,
            started_at,
            ready,
            kill: Kill {
                step,
                since: now,
                grace_seconds,
            },
        };
    }

    /// Container `index`'s preStop hook is over at `now` (done, or out of grace).
    pub fn end_pre_stop(&mut self, index: usize, now: SimTime) {
        let stage = &mut self.containers[index].stage;
        let ContainerStage::Killing {
            kill:
                kill @ Kill {
                    step: KillStep::PreStop(_),
                    ..
                },
            ..
        } = stage
        else {
            panic!("ending a preStop hook that does not run: {stage:?}");
        };
        *kill = kill.after_pre_stop(now);
    }

    /// Container `index`'s postStart hook is done: it runs, and the next one may start.
    pub fn end_post_start(&mut self, index: usize) {
        self.containers[index].start_failure = None;
        let stage = &mut self.containers[index].stage;
        let ContainerStage::PostStart {
            container_id,
            started_at,
            ready,
            ..
        } = *stage
        else {
            panic!("ending a postStart hook that does not run: {stage:?}");
        };
        *stage = ContainerStage::Running {
            container_id,
            started_at,
            ready,
        };
    }
}

/// What a pod whose sandbox died becomes once its containers are stopped (upstream
/// `computePodActions` when `podSandboxChanged`, pkg/kubelet/kuberuntime/
/// kuberuntime_manager.go).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SandboxChange {
    /// A new sandbox (attempt + 1), and the containers to start in it.
    Recreate,
    /// No new sandbox: the pod ends with what it has. restartPolicy Never once a
    /// container has been created, or nothing left to start (OnFailure with every
    /// regular container succeeded, initialization done).
    KillPod,
}

/// Upstream's rule for a pod whose sandbox changed: under restartPolicy Never, a new
/// sandbox only if no container was ever created in the old one; otherwise a new one
/// unless no regular container is left to start (under OnFailure those that succeeded
/// are not started again) and initialization is done.
pub fn sandbox_change(worker: &PodWorker) -> SandboxChange {
    let policy = worker.pod.spec.restart_policy;
    if policy == RestartPolicy::Never && worker.containers.iter().any(|c| c.created_before) {
        return SandboxChange::KillPod;
    }
    let succeeded = |c: &ContainerRecord| {
        c.stage == ContainerStage::Terminated
            && c.last_termination
                .as_ref()
                .is_some_and(|t| t.exit_code == 0)
    };
    let to_start = worker
        .containers
        .iter()
        .filter(|c| c.role == Role::App)
        .filter(|c| !(policy == RestartPolicy::OnFailure && succeeded(c)))
        .count();
    let initialized = worker
        .containers
        .iter()
        .all(|c| c.role != Role::Init || c.completed());
    if to_start == 0 && initialized {
        SandboxChange::KillPod
    } else {
        SandboxChange::Recreate
    }
}

impl PodWorker {
    /// The sandbox `sandbox_id` is not ready any more (its infra died); whether it was
    /// this pod's ready sandbox.
    pub fn sandbox_died(&mut self, sandbox_id: u64) -> bool {
        if self.sandbox != (SandboxStage::Ready { sandbox_id }) {
            return false;
        }
        self.sandbox = SandboxStage::NotReady { sandbox_id };
        true
    }

    /// Its containers stopped, the dead sandbox gives way to a new one: the init
    /// containers run again from the first, the regular containers to start wait for
    /// the new sandbox (one in back-off keeps it), those that succeeded under OnFailure
    /// stay done. Returns the dead sandbox's id.
    pub fn replace_sandbox(&mut self) -> u64 {
        let SandboxStage::NotReady { sandbox_id } = self.sandbox else {
            panic!("replacing a sandbox that has not died: {:?}", self.sandbox);
        };
        let policy = self.pod.spec.restart_policy;
        let has_init = self.containers.iter().any(|c| c.role != Role::App);
        for container in &mut self.containers {
            assert!(
                !container.stage.is_running() && !container.stage.is_starting(),
                "replacing the sandbox of a running container"
            );
            let succeeded = container
                .last_termination
                .as_ref()
                .is_some_and(|t| t.exit_code == 0);
            let keep = match container.role {
                // A back-off in force is kept (upstream's start checks doBackOff).
                _ if matches!(container.stage, ContainerStage::BackOff { .. }) => true,
                Role::Init | Role::Sidecar => false,
                Role::App => {
                    container.stage == ContainerStage::Terminated
                        && policy == RestartPolicy::OnFailure
                        && succeeded
                }
            };
            if !keep {
                container.stage = ContainerStage::Waiting;
            }
        }
        self.sandbox = SandboxStage::None;
        self.pod_ip = None;
        self.reinitializing = has_init;
        sandbox_id
    }

    /// The pod ends with its sandbox (`SandboxChange::KillPod`): what waits to start
    /// never will.
    pub fn abandon_waiting(&mut self) {
        for container in &mut self.containers {
            if !container.stage.is_running() && !container.stage.is_starting() {
                container.stage = ContainerStage::Terminated;
            }
        }
    }
}

/// A step the kubelet should take for a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    RunSandbox,
    /// Begin container `index`'s start pipeline (image check, pull, create, start).
    StartPipeline(usize),
    /// Begin killing running container `index` with this much grace (its preStop hook,
    /// its turn, then `StopContainer`).
    BeginKill {
        index: usize,
        grace_seconds: u64,
    },
    /// Container `index`'s preStop hook is done or out of time.
    EndPreStop(usize),
    /// Container `index`'s `sleep` postStart hook is done.
    EndPostStart(usize),
    /// The dead sandbox's containers have stopped: a new sandbox replaces it.
    ReplaceSandbox,
    /// The dead sandbox's containers have stopped and no new one comes: what waits to
    /// start never will.
    AbandonWaiting,
    /// `StopContainer` for container `index` (SIGTERM, SIGKILL after the timeout).
    StopContainer(usize),
    StopSandbox,
    RemoveSandbox,
    /// The pod is torn down: delete it from the API with grace 0.
    DeletePod,
    /// The pod is torn down and gone from the API: forget it.
    Forget,
    /// Nothing to do before this instant (a back-off ends, a hook runs out of time).
    WakeAt(SimTime),
}

impl Action {
    /// An action that only moves the worker's own stages: the plan is made again after it.
    pub fn is_local(self) -> bool {
        matches!(
            self,
            Action::BeginKill { .. }
                | Action::EndPreStop(_)
                | Action::EndPostStart(_)
                | Action::AbandonWaiting
        )
    }
}

/// What the kubelet should do next for `worker`; empty while CRI calls are in flight.
pub fn plan(worker: &PodWorker, now: SimTime) -> Vec<Action> {
    match worker.lifecycle {
        Lifecycle::Active => plan_active(worker, now),
        Lifecycle::Terminating {
            grace,
            delete_from_api,
        } => plan_termination(worker, grace.as_secs(), delete_from_api, now),
        Lifecycle::Deleting => Vec::new(),
    }
}

/// The earliest of `wake` and `at`.
fn earliest(wake: &mut Option<SimTime>, at: SimTime) {
    *wake = Some(wake.map_or(at, |w| w.min(at)));
}

fn plan_active(worker: &PodWorker, now: SimTime) -> Vec<Action> {
    match worker.sandbox {
        SandboxStage::None => return vec![Action::RunSandbox],
        SandboxStage::Failed { until } if until <= now => return vec![Action::RunSandbox],
        SandboxStage::Failed { until } => return vec![Action::WakeAt(until)],
        SandboxStage::Ready { .. } => {}
        SandboxStage::NotReady { .. } => return plan_sandbox_changed(worker, now),
        SandboxStage::Creating { .. }
        | SandboxStage::Stopping { .. }
        | SandboxStage::Stopped { .. }
        | SandboxStage::Removing { .. }
        | SandboxStage::Removed => return Vec::new(),
    }
    if worker.all_terminated() {
        // A pod in a terminal phase keeps nothing running: its sandbox is stopped.
        return vec![Action::StopSandbox];
    }
    let mut actions = Vec::new();
    let mut wake: Option<SimTime> = None;
    let must_kill = worker.must_kill();
    // Kills in progress go on (a single container's kill too); once the pod must be
    // killed, every running container's kill begins.
    let grace_seconds = termination_grace(&worker.pod).as_secs();
    plan_kills(
        worker,
        grace_seconds,
        must_kill,
        now,
        &mut actions,
        &mut wake,
    );
    if !must_kill && plan_init(worker, now, &mut actions, &mut wake) {
        plan_regular(worker, now, &mut actions, &mut wake);
    }
    for (index, container) in worker.containers.iter().enumerate() {
        if let ContainerStage::PostStart {
            wait: HookWait::Until(until),
            ..
        } = container.stage
        {
            if until <= now {
                actions.push(Action::EndPostStart(index));
            } else {
                earliest(&mut wake, until);
            }
        }
    }
    if let Some(at) = wake {
        actions.push(Action::WakeAt(at));
    }
    actions
}

/// A pod whose sandbox died (upstream `SyncPod` with `KillPod` and `CreateSandbox`):
/// every running container is killed with the pod's grace period; once none runs, a
/// new sandbox replaces the dead one, or the pod ends and its sandbox is stopped.
fn plan_sandbox_changed(worker: &PodWorker, now: SimTime) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut wake = None;
    let grace_seconds = kill_grace_seconds(&worker.pod);
    if plan_kills(worker, grace_seconds, true, now, &mut actions, &mut wake) {
        if let Some(at) = wake {
            actions.push(Action::WakeAt(at));
        }
        return actions;
    }
    match sandbox_change(worker) {
        SandboxChange::Recreate => vec![Action::ReplaceSandbox],
        SandboxChange::KillPod if worker.all_terminated() => vec![Action::StopSandbox],
        SandboxChange::KillPod => vec![Action::AbandonWaiting],
    }
}

/// The init containers' part of a sync (upstream `computeInitContainerActions`): true
/// once the pod is initialized and its regular containers may start.
fn plan_init(
    worker: &PodWorker,
    now: SimTime,
    actions: &mut Vec<Action>,
    wake: &mut Option<SimTime>,
) -> bool {
    let initialized_before = worker.has_initialized_before() && !worker.reinitializing;
    let init_count = worker
        .containers
        .iter()
        .take_while(|c| c.role != Role::App)
        .count();
    for index in 0..init_count {
        let container = &worker.containers[index];
        if initialized_before && container.role == Role::Init {
            // After initialization, only sidecars are kept running.
            continue;
        }
        // A sidecar that exits after the next init container has started is restarted
        // on the side; before that, the next one waits for it to run again.
        let later_started = initialized_before
            || worker.containers[index + 1..]
                .iter()
                .any(|c| c.created_before || c.stage.is_starting());
        let blocks = !(container.role == Role::Sidecar && later_started);
        match &container.stage {
            ContainerStage::Terminated => {
                if !container.completed() {
                    // Failed for good: `must_kill` has taken over.
                    return false;
                }
            }
            ContainerStage::Waiting => {
                actions.push(Action::StartPipeline(index));
                return false;
            }
            stage if stage.is_starting() => return false,
            ContainerStage::PostStart { .. } => return false,
            ContainerStage::Running { .. } => {
                if container.role == Role::Init || !container.sidecar_started() {
                    return false;
                }
            }
            stage => {
                if let Some(until) = stage.restart_due() {
                    if until <= now {
                        actions.push(Action::StartPipeline(index));
                        return false;
                    }
                    earliest(wake, until);
                    if blocks {
                        return false;
                    }
                } else {
                    // Killing or Stopping: only while the pod is being killed.
                    return false;
                }
            }
        }
    }
    true
}

/// The regular containers' part of a sync: each that is due starts, one pipeline at a
/// time; one in back-off does not hold up the others.
fn plan_regular(
    worker: &PodWorker,
    now: SimTime,
    actions: &mut Vec<Action>,
    wake: &mut Option<SimTime>,
) {
    for (index, container) in worker.containers.iter().enumerate() {
        if container.role != Role::App {
            continue;
        }
        match container.stage {
            ContainerStage::Waiting => {
                actions.push(Action::StartPipeline(index));
                return;
            }
            ref stage if stage.is_starting() => return,
            ContainerStage::PostStart { .. } => return,
            ref stage => {
                if let Some(until) = stage.restart_due() {
                    if until <= now {
                        actions.push(Action::StartPipeline(index));
                        return;
                    }
                    earliest(wake, until);
                }
            }
        }
    }
}

/// The kills of a pod's containers: those in progress go on, and with `begin_all` every
/// running container's kill begins with `grace_seconds`. True while any container still
/// runs or has a CRI call in flight.
fn plan_kills(
    worker: &PodWorker,
    grace_seconds: u64,
    begin_all: bool,
    now: SimTime,
    actions: &mut Vec<Action>,
    wake: &mut Option<SimTime>,
) -> bool {
    let mut busy = false;
    for (index, container) in worker.containers.iter().enumerate() {
        match container.stage {
            ContainerStage::Running { .. } | ContainerStage::PostStart { .. } if !begin_all => {
                busy = true
            }
            ContainerStage::Running { .. } | ContainerStage::PostStart { .. } => {
                actions.push(Action::BeginKill {
                    index,
                    grace_seconds,
                });
                busy = true;
            }
            ContainerStage::Killing { kill, .. } => {
                busy = true;
                let deadline = match kill.step {
                    KillStep::PreStop(HookWait::Until(until)) => until.min(kill.deadline()),
                    KillStep::PreStop(HookWait::Call(_)) => kill.deadline(),
                    // Only a pod's kill orders its containers (a single container's
                    // kill has no ordering upstream).
                    KillStep::AwaitingTurn if !begin_all || worker.turn_to_stop(index) => now,
                    KillStep::AwaitingTurn => kill.deadline(),
                };
                if deadline <= now {
                    actions.push(match kill.step {
                        KillStep::PreStop(_) => Action::EndPreStop(index),
                        KillStep::AwaitingTurn => Action::StopContainer(index),
                    });
                } else {
                    earliest(wake, deadline);
                }
            }
            ref stage if stage.is_starting() => busy = true,
            ContainerStage::Stopping { .. } => busy = true,
            _ => {}
        }
    }
    busy
}

fn plan_termination(
    worker: &PodWorker,
    grace_seconds: u64,
    delete_from_api: bool,
    now: SimTime,
) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut wake = None;
    let busy = plan_kills(worker, grace_seconds, true, now, &mut actions, &mut wake);
    if busy {
        if let Some(at) = wake {
            actions.push(Action::WakeAt(at));
        }
        return actions;
    }
    match worker.sandbox {
        SandboxStage::Ready { .. } | SandboxStage::NotReady { .. } => vec![Action::StopSandbox],
        SandboxStage::Stopped { .. } => vec![Action::RemoveSandbox],
        SandboxStage::Creating { .. }
        | SandboxStage::Stopping { .. }
        | SandboxStage::Removing { .. } => Vec::new(),
        SandboxStage::None | SandboxStage::Failed { .. } | SandboxStage::Removed => {
            if delete_from_api {
                vec![Action::DeletePod]
            } else {
                vec![Action::Forget]
            }
        }
    }
}

/// Whether a regular container that exited with `exit_code` is restarted (upstream
/// `ShouldContainerBeRestarted` for a dead container).
pub fn should_restart(policy: RestartPolicy, exit_code: i32) -> bool {
    match policy {
        RestartPolicy::Always => true,
        RestartPolicy::OnFailure => exit_code != 0,
        RestartPolicy::Never => false,
    }
}

/// What to do about a container's image (upstream `shouldPullImage` and
/// `EnsureImageExists`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullDecision {
    /// Use the image on the node.
    UsePresent,
    Pull,
    /// `Never` and absent: `ErrImageNeverPull`.
    NeverPull,
}

pub fn pull_decision(policy: ImagePullPolicy, present: bool) -> PullDecision {
    match (policy, present) {
        (ImagePullPolicy::Always, _) => PullDecision::Pull,
        (ImagePullPolicy::IfNotPresent, true) | (ImagePullPolicy::Never, true) => {
            PullDecision::UsePresent
        }
        (ImagePullPolicy::IfNotPresent, false) => PullDecision::Pull,
        (ImagePullPolicy::Never, false) => PullDecision::NeverPull,
    }
}

/// Whether a postStart handler's answer fails the hook (upstream `startContainer`,
/// pkg/kubelet/kuberuntime/kuberuntime_container.go: any error of the handler runner,
/// an exec exiting non-zero among them, is `FailedPostStartHook`).
pub fn post_start_failed(answer: Result<i32, ()>) -> bool {
    !matches!(answer, Ok(0))
}

/// The grace period of a kill outside a deletion (a failed postStart hook, a failed
/// probe without its own), in seconds, as upstream's `setTerminationGracePeriod` gives
/// it: the deletion's, else the pod's. Not floored: zero skips the preStop hook.
pub fn kill_grace_seconds(pod: &Pod) -> u64 {
    pod.metadata
        .deletion_grace_period_seconds
        .unwrap_or(pod.spec.termination_grace_period_seconds)
}

/// Upstream `minimumGracePeriodInSeconds`: containers always get at least 2 s between
/// SIGTERM and SIGKILL.
pub const MINIMUM_GRACE_PERIOD: SimDuration = SimDuration::from_secs(2);

/// The grace period for stopping a pod's containers: the deletion's, else the spec's, at
/// least [`MINIMUM_GRACE_PERIOD`].
pub fn termination_grace(pod: &Pod) -> SimDuration {
    let seconds = pod
        .metadata
        .deletion_grace_period_seconds
        .unwrap_or(pod.spec.termination_grace_period_seconds);
    Ord::max(SimDuration::from_secs(seconds), MINIMUM_GRACE_PERIOD)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::{Container, ObjectMeta, PodSpec, PodStatus, s};

    pub(crate) fn pod(containers: &[(&str, &str)], restart_policy: RestartPolicy) -> Rc<Pod> {
        let containers: Vec<Container> = containers
            .iter()
            .map(|(name, image)| Container {
                name: s(name),
                image: s(image),
                image_pull_policy: ImagePullPolicy::IfNotPresent,
                ..Container::default()
            })
            .collect();
        let mut metadata = ObjectMeta::named("default", "web-1");
        metadata.uid = 7;
        Rc::new(Pod {
            metadata,
            spec: PodSpec {
                node_name: Some(s("node-1")),
                containers: containers.into(),
                restart_policy,
                ..PodSpec::default()
            },
            status: PodStatus::default(),
        })
    }

    fn t(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    fn running(id: u64) -> ContainerStage {
        ContainerStage::Running {
            container_id: id,
            started_at: t(1),
            ready: true,
        }
    }

    #[test]
    fn restart_policy_decisions() {
        assert!(should_restart(RestartPolicy::Always, 0));
        assert!(should_restart(RestartPolicy::Always, 1));
        assert!(!should_restart(RestartPolicy::OnFailure, 0));
        assert!(should_restart(RestartPolicy::OnFailure, 137));
        assert!(!should_restart(RestartPolicy::Never, 0));
        assert!(!should_restart(RestartPolicy::Never, 1));
    }

    #[test]
    fn pull_policy_decisions() {
        use ImagePullPolicy::*;
        assert_eq!(pull_decision(Always, true), PullDecision::Pull);
        assert_eq!(pull_decision(Always, false), PullDecision::Pull);
        assert_eq!(pull_decision(IfNotPresent, true), PullDecision::UsePresent);
        assert_eq!(pull_decision(IfNotPresent, false), PullDecision::Pull);
        assert_eq!(pull_decision(Never, true), PullDecision::UsePresent);
        assert_eq!(pull_decision(Never, false), PullDecision::NeverPull);
    }

    #[test]
    fn grace_period_comes_from_the_deletion_with_a_floor_of_two_seconds() {
        let mut p = (*pod(&[("app", "nginx")], RestartPolicy::Always)).clone();
        assert_eq!(termination_grace(&p), SimDuration::from_secs(30));
        p.metadata.deletion_grace_period_seconds = Some(5);
        assert_eq!(termination_grace(&p), SimDuration::from_secs(5));
        p.metadata.deletion_grace_period_seconds = Some(0);
        assert_eq!(termination_grace(&p), SimDuration::from_secs(2));
    }

    #[test]
    fn a_new_pod_gets_a_sandbox_then_its_containers_one_at_a_time() {
        let mut w = PodWorker::new(pod(&[("a", "x"), ("b", "y")], RestartPolicy::Always));
        assert_eq!(plan(&w, t(0)), vec![Action::RunSandbox]);
        w.sandbox = SandboxStage::Creating { call: 1 };
        assert_eq!(plan(&w, t(0)), vec![]);
        w.sandbox = SandboxStage::Ready { sandbox_id: 3 };
        assert_eq!(plan(&w, t(0)), vec![Action::StartPipeline(0)]);
        w.containers[0].stage = ContainerStage::Pulling {
            call: 2,
            since: t(0),
        };
        assert_eq!(plan(&w, t(0)), vec![], "b waits for a to be started");
        w.containers[0].stage = running(4);
        assert_eq!(plan(&w, t(0)), vec![Action::StartPipeline(1)]);
    }

    #[test]
    fn a_container_in_back_off_does_not_hold_up_the_others() {
        let mut w = PodWorker::new(pod(&[("a", "x"), ("b", "y")], RestartPolicy::Always));
        w.sandbox = SandboxStage::Ready { sandbox_id: 3 };
        w.containers[0].stage = ContainerStage::BackOff { until: t(20) };
        assert_eq!(
            plan(&w, t(5)),
            vec![Action::StartPipeline(1), Action::WakeAt(t(20))]
        );
        w.containers[1].stage = running(5);
        assert_eq!(plan(&w, t(5)), vec![Action::WakeAt(t(20))]);
        assert_eq!(plan(&w, t(20)), vec![Action::StartPipeline(0)]);
    }

    #[test]
    fn a_never_pull_container_is_looked_at_again_after_the_worker_back_off() {
        let mut w = PodWorker::new(pod(&[("a", "x")], RestartPolicy::Always));
        w.sandbox = SandboxStage::Ready { sandbox_id: 3 };
        w.containers[0].stage = ContainerStage::NeverPull { until: t(10) };
        assert_eq!(plan(&w, t(1)), vec![Action::WakeAt(t(10))]);
        assert_eq!(plan(&w, t(10)), vec![Action::StartPipeline(0)]);
    }

    #[test]
    fn a_finished_pod_stops_its_sandbox() {
        let mut w = PodWorker::new(pod(&[("a", "x")], RestartPolicy::Never));
        w.sandbox = SandboxStage::Ready { sandbox_id: 3 };
        w.containers[0].stage = ContainerStage::Terminated;
        assert_eq!(plan(&w, t(5)), vec![Action::StopSandbox]);
        w.sandbox = SandboxStage::Stopped { sandbox_id: 3 };
        assert_eq!(plan(&w, t(5)), vec![]);
    }

    #[test]
    fn termination_stops_containers_then_the_sandbox_then_deletes() {
        let mut w = PodWorker::new(pod(
            &[("a", "x"), ("b", "y"), ("c", "z")],
            RestartPolicy::Always,
        ));
        w.sandbox = SandboxStage::Ready { sandbox_id: 3 };
        w.containers[0].stage = running(4);
        w.containers[1].stage = running(5);
        w.containers[2].stage = ContainerStage::BackOff { until: t(50) };
        w.begin_termination(SimDuration::from_secs(30), true);
        assert_eq!(w.containers[2].stage, ContainerStage::Terminated);
        assert_eq!(
            plan(&w, t(5)),
            vec![
                Action::BeginKill {
                    index: 0,
                    grace_seconds: 30
                },
                Action::BeginKill {
                    index: 1,
                    grace_seconds: 30
                }
            ]
        );
        w.begin_kill(0, 30, None, t(5));
        w.begin_kill(1, 30, None, t(5));
        assert_eq!(
            plan(&w, t(5)),
            vec![Action::StopContainer(0), Action::StopContainer(1)]
        );
        w.containers[0].stage = ContainerStage::Terminated;
        w.containers[1].stage = ContainerStage::Stopping {
            container_id: 5,
            started_at: t(1),
            ready: true,
            call: 9,
        };
        assert_eq!(plan(&w, t(5)), vec![]);
        w.containers[1].stage = ContainerStage::Terminated;
        assert_eq!(plan(&w, t(5)), vec![Action::StopSandbox]);
        w.sandbox = SandboxStage::Stopped { sandbox_id: 3 };
        assert_eq!(plan(&w, t(5)), vec![Action::RemoveSandbox]);
        w.sandbox = SandboxStage::Removed;
        assert_eq!(plan(&w, t(5)), vec![Action::DeletePod]);
        w.lifecycle = Lifecycle::Deleting;
        assert_eq!(plan(&w, t(5)), vec![]);
    }

    #[test]
    fn a_pod_gone_from_the_api_is_forgotten_once_torn_down() {
        let mut w = PodWorker::new(pod(&[("a", "x")], RestartPolicy::Always));
        w.begin_termination(SimDuration::from_secs(2), false);
        assert_eq!(plan(&w, t(0)), vec![Action::Forget]);
        // A later deletion through the API cannot turn the delete back on.
        w.begin_termination(SimDuration::from_secs(2), true);
        assert_eq!(plan(&w, t(0)), vec![Action::Forget]);
    }

    #[test]
    fn termination_waits_for_calls_in_flight() {
        let mut w = PodWorker::new(pod(&[("a", "x")], RestartPolicy::Always));
        w.sandbox = SandboxStage::Ready { sandbox_id: 3 };
        w.containers[0].stage = ContainerStage::Creating { call: 4 };
        w.begin_termination(SimDuration::from_secs(30), true);
        assert_eq!(plan(&w, t(0)), vec![]);
    }

    /// A pod with init containers `init` (a name ending in `-sidecar` is a sidecar), app
    /// containers `apps`, and a preStop hook on each container named in `pre_stop`.
    pub(crate) fn pod_with_init(
        init: &[&str],
        apps: &[&str],
        restart_policy: RestartPolicy,
        pre_stop: &[(&str, LifecycleHandler)],
    ) -> Rc<Pod> {
        use crate::api::{ContainerRestartPolicy, Lifecycle};
        let container = |name: &str| Container {
            name: s(name),
            image: s("img"),
            restart_policy: name
                .ends_with("-sidecar")
                .then_some(ContainerRestartPolicy::Always),
            lifecycle: pre_stop
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, handler)| {
                    Rc::new(Lifecycle {
                        post_start: None,
                        pre_stop: Some(handler.clone()),
                    })
                }),
            ..Container::default()
        };
        let mut p = (*pod(&[], restart_policy)).clone();
        p.spec.init_containers = init.iter().map(|n| container(n)).collect();
        p.spec.containers = apps.iter().map(|n| container(n)).collect();
        Rc::new(p)
    }

    /// A worker for `pod_with_init(init, apps, restart_policy, &[])` whose sandbox is ready.
    fn in_sandbox(init: &[&str], apps: &[&str], restart_policy: RestartPolicy) -> PodWorker {
        let mut w = PodWorker::new(pod_with_init(init, apps, restart_policy, &[]));
        w.sandbox = SandboxStage::Ready { sandbox_id: 3 };
        w
    }

    fn exited(code: i32) -> Terminated {
        Terminated {
            exit_code: code,
            reason: s(if code == 0 { "Completed" } else { "Error" }),
            started_at: Some(t(1)),
            finished_at: t(3),
        }
    }

    /// Container `index` exited with `code` at 3 s and the kubelet decided for good.
    fn exit_for_good(w: &mut PodWorker, index: usize, code: i32) {
        w.containers[index].last_termination = Some(exited(code));
        w.containers[index].created_before = true;
        w.containers[index].stage = ContainerStage::Terminated;
        w.settle();
    }

    #[test]
    fn init_containers_run_one_at_a_time_before_the_regular_ones() {
        let mut w = PodWorker::new(pod_with_init(
            &["migrate", "seed"],
            &["app"],
            RestartPolicy::Always,
            &[],
        ));
        assert_eq!(
            w.containers.iter().map(|c| c.role).collect::<Vec<_>>(),
            vec![Role::Init, Role::Init, Role::App]
        );
        assert_eq!(w.containers[0].waiting_reason, "PodInitializing");
        w.sandbox = SandboxStage::Ready { sandbox_id: 3 };
        assert_eq!(plan(&w, t(0)), vec![Action::StartPipeline(0)]);
        w.containers[0].stage = running(4);
        assert_eq!(plan(&w, t(1)), vec![], "seed waits for migrate to finish");
        assert!(w.should_restart(0, 1), "a failed init container is retried");
        assert!(!w.should_restart(0, 0), "a completed one never runs again");
        exit_for_good(&mut w, 0, 0);
        assert!(w.containers[0].completed());
        assert_eq!(plan(&w, t(3)), vec![Action::StartPipeline(1)]);
        w.containers[1].stage = ContainerStage::BackOff { until: t(20) };
        assert_eq!(
            plan(&w, t(5)),
            vec![Action::WakeAt(t(20))],
            "a failed init container in back-off holds up the regular containers"
        );
        assert_eq!(plan(&w, t(20)), vec![Action::StartPipeline(1)]);
        exit_for_good(&mut w, 1, 0);
        assert_eq!(plan(&w, t(21)), vec![Action::StartPipeline(2)]);
    }

    #[test]
    fn a_failed_init_container_fails_the_pod_under_restart_policy_never() {
        let mut w = in_sandbox(&["log-sidecar", "migrate"], &["app"], RestartPolicy::Never);
        w.containers[0].stage = running(4);
        w.containers[0].created_before = true;
        assert!(!w.should_restart(1, 1));
        exit_for_good(&mut w, 1, 1);
        assert!(w.must_kill());
        assert_eq!(
            w.containers[2].stage,
            ContainerStage::Terminated,
            "the regular container never starts"
        );
        // The sidecar is stopped with the pod's grace period.
        assert_eq!(
            plan(&w, t(4)),
            vec![Action::BeginKill {
                index: 0,
                grace_seconds: 30
            }]
        );
        assert!(
            !w.should_restart(0, 143),
            "a sidecar of a dead pod stays down"
        );
    }

    #[test]
    fn a_sidecar_lets_the_next_init_container_start_once_it_runs_and_keeps_running() {
        let mut w = in_sandbox(
            &["proxy-sidecar", "migrate"],
            &["app"],
            RestartPolicy::Always,
        );
        assert_eq!(w.containers[0].role, Role::Sidecar);
        assert_eq!(plan(&w, t(0)), vec![Action::StartPipeline(0)]);
        w.containers[0].stage = ContainerStage::PostStart {
            container_id: 4,
            started_at: t(1),
            ready: false,
            wait: HookWait::Until(t(3)),
        };
        assert_eq!(
            plan(&w, t(1)),
            vec![Action::WakeAt(t(3))],
            "not started before its postStart hook is done"
        );
        assert_eq!(plan(&w, t(3)), vec![Action::EndPostStart(0)]);
        w.end_post_start(0);
        w.containers[0].created_before = true;
        assert_eq!(plan(&w, t(3)), vec![Action::StartPipeline(1)]);
        w.containers[1].stage = running(5);
        w.containers[1].created_before = true;
        // The sidecar exits while migrate runs: it is restarted on the side.
        assert!(
            w.should_restart(0, 0),
            "a sidecar is restarted whatever its exit"
        );
        w.containers[0].stage = ContainerStage::BackOff { until: t(15) };
        assert_eq!(plan(&w, t(5)), vec![Action::WakeAt(t(15))]);
        exit_for_good(&mut w, 1, 0);
        assert_eq!(
            plan(&w, t(6)),
            vec![Action::StartPipeline(2), Action::WakeAt(t(15))],
            "a sidecar in back-off does not hold up the regular containers once past it"
        );
        w.containers[2].stage = running(6);
        w.containers[2].created_before = true;
        assert_eq!(plan(&w, t(15)), vec![Action::StartPipeline(0)]);
    }

    #[test]
    fn a_sidecar_with_a_startup_probe_holds_up_the_next_init_container_until_it_succeeds() {
        let mut w = in_sandbox(
            &["proxy-sidecar", "migrate"],
            &["app"],
            RestartPolicy::Always,
        );
        w.containers[0].stage = running(4);
        w.containers[0].awaiting_startup_probe = true;
        assert!(!w.containers[0].sidecar_started());
        assert_eq!(plan(&w, t(2)), vec![]);
        w.containers[0].awaiting_startup_probe = false;
        assert_eq!(plan(&w, t(12)), vec![Action::StartPipeline(1)]);
    }

    #[test]
    fn a_pod_whose_regular_containers_are_done_stops_its_sidecars() {
        let mut w = in_sandbox(&["proxy-sidecar"], &["job"], RestartPolicy::Never);
        w.containers[0].stage = running(4);
        w.containers[0].created_before = true;
        w.containers[1].stage = running(5);
        w.containers[1].created_before = true;
        assert!(!w.must_kill());
        exit_for_good(&mut w, 1, 0);
        assert!(w.must_kill());
        assert_eq!(
            plan(&w, t(4)),
            vec![Action::BeginKill {
                index: 0,
                grace_seconds: 30
            }]
        );
        w.begin_kill(0, 30, None, t(4));
        assert_eq!(plan(&w, t(4)), vec![Action::StopContainer(0)]);
    }

    #[test]
    fn a_pre_stop_hook_uses_up_whole_seconds_of_the_grace_period() {
        let kill = Kill {
            step: KillStep::PreStop(HookWait::Call(7)),
            since: t(10),
            grace_seconds: 30,
        };
        assert_eq!(kill.deadline(), t(40));
        let done = SimTime::ZERO + SimDuration::from_millis(15_900);
        let after = kill.after_pre_stop(done);
        assert_eq!(after.step, KillStep::AwaitingTurn);
        assert_eq!(after.grace_seconds, 25, "5.9 s counts as 5 (truncated)");
        assert_eq!(after.stop_timeout(done), SimDuration::from_secs(25));
        // A hook that overran the grace period leaves the 2 s minimum for SIGTERM.
        let overrun = kill.after_pre_stop(t(40));
        assert_eq!(overrun.grace_seconds, 0);
        assert_eq!(overrun.stop_timeout(t(40)), MINIMUM_GRACE_PERIOD);
    }

    #[test]
    fn termination_runs_pre_stop_hooks_then_stops_sidecars_after_the_regular_containers() {
        let sleep = LifecycleHandler::Sleep { seconds: 5 };
        let mut w = PodWorker::new(pod_with_init(
            &["a-sidecar", "b-sidecar"],
            &["app"],
            RestartPolicy::Always,
            &[("app", sleep)],
        ));
        w.sandbox = SandboxStage::Ready { sandbox_id: 3 };
        for (index, id) in [(0, 4), (1, 5), (2, 6)] {
            w.containers[index].stage = running(id);
            w.containers[index].created_before = true;
        }
        w.begin_termination(SimDuration::from_secs(30), true);
        let kills: Vec<Action> = (0..3)
            .map(|index| Action::BeginKill {
                index,
                grace_seconds: 30,
            })
            .collect();
        assert_eq!(plan(&w, t(10)), kills, "every container is killed at once");
        assert!(w.pre_stop_hook(2, 30).is_some());
        assert!(w.pre_stop_hook(2, 0).is_none(), "no hook without grace");
        w.begin_kill(0, 30, None, t(10));
        w.begin_kill(1, 30, None, t(10));
        w.begin_kill(2, 30, Some(HookWait::Until(t(15))), t(10));
        assert!(
            !w.turn_to_stop(1),
            "sidecars wait for the regular container"
        );
        assert_eq!(plan(&w, t(10)), vec![Action::WakeAt(t(15))]);
        assert_eq!(
            plan(&w, t(15)),
            vec![Action::EndPreStop(2), Action::WakeAt(t(40))],
            "the sidecars wait at most until their grace runs out"
        );
        w.end_pre_stop(2, t(15));
        assert_eq!(
            plan(&w, t(15)),
            vec![Action::StopContainer(2), Action::WakeAt(t(40))]
        );
        w.containers[2].stage = ContainerStage::Terminated;
        assert!(w.turn_to_stop(1));
        assert!(!w.turn_to_stop(0), "the first sidecar waits for the second");
        assert_eq!(
            plan(&w, t(18)),
            vec![Action::StopContainer(1), Action::WakeAt(t(40))]
        );
        // The second sidecar's stop gets what is left of 30 s after 8 s of waiting.
        let ContainerStage::Killing { kill, .. } = w.containers[1].stage else {
            panic!("killing");
        };
        assert_eq!(kill.stop_timeout(t(18)), SimDuration::from_secs(22));
        w.containers[1].stage = ContainerStage::Terminated;
        assert_eq!(plan(&w, t(19)), vec![Action::StopContainer(0)]);
    }

    #[test]
    fn a_failed_post_start_hook_is_any_nonzero_answer_or_an_error() {
        assert!(!post_start_failed(Ok(0)));
        assert!(post_start_failed(Ok(1)));
        assert!(post_start_failed(Ok(-1)));
        assert!(post_start_failed(Err(())));
    }

    #[test]
    fn a_kill_outside_a_deletion_takes_the_pods_grace_period_unfloored() {
        let mut p = (*pod(&[("app", "x")], RestartPolicy::Always)).clone();
        assert_eq!(kill_grace_seconds(&p), 30);
        p.spec.termination_grace_period_seconds = 0;
        assert_eq!(kill_grace_seconds(&p), 0, "zero skips the preStop hook");
        p.metadata.deletion_grace_period_seconds = Some(7);
        assert_eq!(kill_grace_seconds(&p), 7);
    }

    #[test]
    fn a_single_kill_in_a_running_pod_runs_the_pre_stop_hook_then_stops_with_what_is_left() {
        // A liveness failure or a failed postStart hook (upstream `killContainer`): the
        // container's preStop hook first, then StopContainer with the grace left, and
        // the pod's other containers go on.
        let sleep = LifecycleHandler::Sleep { seconds: 3 };
        let mut w = PodWorker::new(pod_with_init(
            &[],
            &["app", "other"],
            RestartPolicy::Always,
            &[("app", sleep)],
        ));
        w.sandbox = SandboxStage::Ready { sandbox_id: 3 };
        w.containers[0].stage = ContainerStage::PostStart {
            container_id: 4,
            started_at: t(1),
            ready: false,
            wait: HookWait::Call(8),
        };
        w.containers[1].stage = running(5);
        assert!(w.pre_stop_hook(0, 4).is_some());
        w.begin_kill(0, 4, Some(HookWait::Until(t(13))), t(10));
        assert!(!w.must_kill());
        assert_eq!(plan(&w, t(10)), vec![Action::WakeAt(t(13))]);
        assert_eq!(plan(&w, t(13)), vec![Action::EndPreStop(0)]);
        w.end_pre_stop(0, t(13));
        assert_eq!(plan(&w, t(13)), vec![Action::StopContainer(0)]);
        let ContainerStage::Killing { kill, .. } = w.containers[0].stage else {
            panic!("killing");
        };
        assert_eq!(
            kill.stop_timeout(t(13)),
            MINIMUM_GRACE_PERIOD,
            "4 s of grace, 3 used by the hook: SIGTERM gets the 2 s floor"
        );
        assert_eq!(w.containers[1].stage, running(5), "the other one runs on");
    }

    #[test]
    fn a_dead_sandbox_is_replaced_once_its_containers_are_stopped() {
        // Upstream computePodActions with podSandboxChanged: KillPod, then CreateSandbox
        // with attempt + 1 and every container started again, init containers first.
        let mut w = in_sandbox(&["migrate"], &["app", "log"], RestartPolicy::Always);
        exit_for_good(&mut w, 0, 0);
        w.containers[1].stage = running(5);
        w.containers[1].created_before = true;
        w.containers[2].stage = ContainerStage::BackOff { until: t(40) };
        w.containers[2].created_before = true;
        assert!(!w.sandbox_died(9), "another sandbox");
        assert!(w.sandbox_died(3));
        assert_eq!(
            plan(&w, t(10)),
            vec![Action::BeginKill {
                index: 1,
                grace_seconds: 30
            }],
            "what still runs is killed; nothing starts in the dead sandbox"
        );
        w.begin_kill(1, 30, None, t(10));
        assert_eq!(plan(&w, t(10)), vec![Action::StopContainer(1)]);
        w.containers[1].stage = ContainerStage::Terminated;
        assert_eq!(sandbox_change(&w), SandboxChange::Recreate);
        assert_eq!(plan(&w, t(11)), vec![Action::ReplaceSandbox]);
        assert_eq!(w.replace_sandbox(), 3);
        assert!(w.reinitializing);
        assert_eq!(w.containers[0].stage, ContainerStage::Waiting, "init again");
        assert_eq!(w.containers[1].stage, ContainerStage::Waiting);
        assert_eq!(
            w.containers[2].stage,
            ContainerStage::BackOff { until: t(40) },
            "a back-off in force is kept"
        );
        assert_eq!(plan(&w, t(11)), vec![Action::RunSandbox]);
        w.sandbox = SandboxStage::Ready { sandbox_id: 7 };
        assert_eq!(
            plan(&w, t(12)),
            vec![Action::StartPipeline(0)],
            "the init container runs again before the regular ones"
        );
    }

    #[test]
    fn a_dead_sandbox_ends_a_pod_that_would_not_restart() {
        // restartPolicy Never, a container created: no new sandbox, the pod ends.
        let mut w = in_sandbox(&[], &["job", "side"], RestartPolicy::Never);
        w.containers[0].stage = running(4);
        w.containers[0].created_before = true;
        assert!(w.sandbox_died(3));
        w.containers[0].stage = ContainerStage::Terminated;
        assert_eq!(sandbox_change(&w), SandboxChange::KillPod);
        assert_eq!(plan(&w, t(5)), vec![Action::AbandonWaiting]);
        w.abandon_waiting();
        assert_eq!(plan(&w, t(5)), vec![Action::StopSandbox]);
        // Never, but nothing was ever created: the sandbox is made again.
        let mut fresh = in_sandbox(&[], &["job"], RestartPolicy::Never);
        assert!(fresh.sandbox_died(3));
        assert_eq!(sandbox_change(&fresh), SandboxChange::Recreate);
        // OnFailure with every regular container succeeded: nothing to start.
        let mut done = in_sandbox(&[], &["job"], RestartPolicy::OnFailure);
        exit_for_good(&mut done, 0, 0);
        assert!(done.sandbox_died(3));
        assert_eq!(sandbox_change(&done), SandboxChange::KillPod);
        // OnFailure with one failed: a new sandbox for it, the succeeded one stays done.
        let mut some = in_sandbox(&[], &["ok", "failed"], RestartPolicy::OnFailure);
        exit_for_good(&mut some, 0, 0);
        some.containers[1].last_termination = Some(exited(137));
        some.containers[1].created_before = true;
        some.containers[1].stage = ContainerStage::Terminated;
        assert!(some.sandbox_died(3));
        assert_eq!(sandbox_change(&some), SandboxChange::Recreate);
        some.replace_sandbox();
        assert_eq!(some.containers[0].stage, ContainerStage::Terminated);
        assert_eq!(some.containers[1].stage, ContainerStage::Waiting);
    }

    #[test]
    fn a_sidecar_stops_at_its_grace_deadline_even_if_the_app_still_runs() {
        let mut w = in_sandbox(&["log-sidecar"], &["app"], RestartPolicy::Always);
        w.containers[0].stage = running(4);
        w.containers[1].stage = running(5);
        w.begin_termination(SimDuration::from_secs(30), true);
        w.begin_kill(0, 30, None, t(10));
        w.begin_kill(1, 30, None, t(10));
        w.containers[1].stage = ContainerStage::Stopping {
            container_id: 5,
            started_at: t(1),
            ready: true,
            call: 9,
        };
        assert_eq!(plan(&w, t(39)), vec![Action::WakeAt(t(40))]);
        assert_eq!(plan(&w, t(40)), vec![Action::StopContainer(0)]);
        let ContainerStage::Killing { kill, .. } = w.containers[0].stage else {
            panic!("killing");
        };
        assert_eq!(kill.stop_timeout(t(40)), MINIMUM_GRACE_PERIOD);
    }
}
