//! Pod workers: one state machine per pod the kubelet runs, and the pure decisions that
//! drive them (what to do next, whether to restart, whether to pull).
//!
//! A worker has a sandbox stage, one record per container (in spec order) with its own
//! stage, and a lifecycle (active, or terminating). [`plan`] looks at a worker and says
//! which CRI calls to begin; the kubelet issues them and advances the stages as the
//! answers come back. Containers are started one after the other, as upstream's `SyncPod`
//! does (the next container's image is not looked at before the previous one has been
//! started), while stopping is done for all containers at once.

use std::fmt;
use std::rc::Rc;

use sim_core::{SimDuration, SimTime};

use crate::api::{ImagePullPolicy, Pod, RequestId, RestartPolicy, Str};
use crate::runtime::CallId;

/// How a container instance ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terminated {
    pub exit_code: i32,
    pub reason: Str,
    pub finished_at: SimTime,
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
    Running {
        container_id: u64,
        started_at: SimTime,
        ready: bool,
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
    /// Done: it will not run again (restart policy, or the pod is terminating).
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
            ContainerStage::Running { .. } | ContainerStage::Stopping { .. }
        )
    }

    pub fn container_id(&self) -> Option<u64> {
        match self {
            ContainerStage::Starting { container_id, .. }
            | ContainerStage::Running { container_id, .. }
            | ContainerStage::Stopping { container_id, .. } => Some(*container_id),
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
    pub stage: ContainerStage,
    pub restart_count: u32,
    /// Whether an instance of this container has been created before (so that the next
    /// one is a restart).
    pub created_before: bool,
    /// How the previous instance ended.
    pub last_termination: Option<Terminated>,
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
    pub containers: Vec<ContainerRecord>,
    pub lifecycle: Lifecycle,
    /// The status update in flight for this pod (the kubelet's status manager writes one
    /// at a time per pod).
    pub status_write: Option<RequestId>,
}

impl PodWorker {
    pub fn new(pod: Rc<Pod>) -> PodWorker {
        let containers = pod
            .spec
            .containers
            .iter()
            .map(|c| ContainerRecord {
                name: c.name.clone(),
                image: c.image.clone(),
                pull_policy: c.image_pull_policy,
                stage: ContainerStage::Waiting,
                restart_count: 0,
                created_before: false,
                last_termination: None,
            })
            .collect();
        PodWorker {
            pod,
            sandbox: SandboxStage::None,
            sandbox_attempt: 0,
            pod_ip: None,
            containers,
            lifecycle: Lifecycle::Active,
            status_write: None,
        }
    }

    pub fn uid(&self) -> u64 {
        self.pod.metadata.uid
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
        ) || self
            .containers
            .iter()
            .any(|c| c.stage.is_starting() || matches!(c.stage, ContainerStage::Stopping { .. }))
    }

    /// Every container is done for good: the pod has reached a terminal phase.
    pub fn all_terminated(&self) -> bool {
        self.containers
            .iter()
            .all(|c| c.stage == ContainerStage::Terminated)
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
}

/// A step the kubelet should take for a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    RunSandbox,
    /// Begin container `index`'s start pipeline (image check, pull, create, start).
    StartPipeline(usize),
    StopContainer(usize),
    StopSandbox,
    RemoveSandbox,
    /// The pod is torn down: delete it from the API with grace 0.
    DeletePod,
    /// The pod is torn down and gone from the API: forget it.
    Forget,
    /// Nothing to do before this instant (a back-off ends).
    WakeAt(SimTime),
}

/// What the kubelet should do next for `worker`; empty while CRI calls are in flight.
pub fn plan(worker: &PodWorker, now: SimTime) -> Vec<Action> {
    match worker.lifecycle {
        Lifecycle::Active => plan_active(worker, now),
        Lifecycle::Terminating {
            delete_from_api, ..
        } => plan_termination(worker, delete_from_api),
        Lifecycle::Deleting => Vec::new(),
    }
}

fn plan_active(worker: &PodWorker, now: SimTime) -> Vec<Action> {
    match worker.sandbox {
        SandboxStage::None => return vec![Action::RunSandbox],
        SandboxStage::Failed { until } if until <= now => return vec![Action::RunSandbox],
        SandboxStage::Failed { until } => return vec![Action::WakeAt(until)],
        SandboxStage::Ready { .. } => {}
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
    for (index, container) in worker.containers.iter().enumerate() {
        match container.stage {
            ContainerStage::Waiting => {
                actions.push(Action::StartPipeline(index));
                break;
            }
            ref stage if stage.is_starting() => break,
            ContainerStage::PullBackOff { until, .. }
            | ContainerStage::BackOff { until }
            | ContainerStage::NeverPull { until } => {
                if until <= now {
                    actions.push(Action::StartPipeline(index));
                    break;
                }
                wake = Some(wake.map_or(until, |w| w.min(until)));
            }
            _ => {}
        }
    }
    if let Some(at) = wake {
        actions.push(Action::WakeAt(at));
    }
    actions
}

fn plan_termination(worker: &PodWorker, delete_from_api: bool) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut busy = false;
    for (index, container) in worker.containers.iter().enumerate() {
        match container.stage {
            ContainerStage::Running { .. } => actions.push(Action::StopContainer(index)),
            ref stage if stage.is_starting() => busy = true,
            ContainerStage::Stopping { .. } => busy = true,
            _ => {}
        }
    }
    if busy || !actions.is_empty() {
        return actions;
    }
    match worker.sandbox {
        SandboxStage::Ready { .. } => vec![Action::StopSandbox],
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

/// Whether a container that exited with `exit_code` is restarted (upstream
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
}
