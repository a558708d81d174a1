//! What the kubelet reports: a pod's status from its worker (upstream
//! `generateAPIPodStatus` and `getPhase`), and its node's status.

use std::collections::BTreeMap;
use std::rc::Rc;

use sim_core::SimTime;

use crate::api::{
    ConditionStatus, ContainerState, ContainerStatus, NodeCondition, NodeStatus, Pod, PodPhase,
    PodStatus, RestartPolicy, Str, s,
};

use super::NodeSetup;
use super::worker::{ContainerRecord, ContainerStage, PodWorker, Role, Terminated};

/// Upstream `nodeStatusMaxImages`: the node status lists at most this many images,
/// largest first.
pub const NODE_STATUS_MAX_IMAGES: usize = 50;

/// Whether two strings are equal, without reading them when they are the same
/// allocation: what the API shows was mostly copied from the kubelet's own records, and
/// reading a string the cache has long forgotten costs more than the comparison.
fn same_str(a: &Str, b: &Str) -> bool {
    Rc::ptr_eq(a, b) || a == b
}

/// A container's state as the API would show it, borrowed from the kubelet's record:
/// comparing it with what the API holds allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateView<'a> {
    Waiting { reason: &'a str },
    Running { started_at: SimTime },
    Terminated(&'a Terminated),
}

impl StateView<'_> {
    /// Whether the API's `state` says the same.
    pub fn matches(self, state: &ContainerState) -> bool {
        match (self, state) {
            (StateView::Waiting { reason }, ContainerState::Waiting { reason: shown }) => {
                // The length is in the pointer: most mismatches need no read of the text.
                reason.len() == shown.len() && reason == &**shown
            }
            (
                StateView::Running { started_at },
                ContainerState::Running {
                    started_at: shown_started_at,
                },
            ) => started_at == *shown_started_at,
            (
                StateView::Terminated(last),
                ContainerState::Terminated {
                    exit_code,
                    reason,
                    finished_at,
                },
            ) => {
                last.exit_code == *exit_code
                    && last.finished_at == *finished_at
                    && same_str(&last.reason, reason)
            }
            _ => false,
        }
    }

    /// The state as the API shows it; a waiting reason already shown in `previous` is
    /// shared rather than allocated again.
    pub fn to_state(self, previous: Option<&ContainerState>) -> ContainerState {
        match self {
            StateView::Waiting { reason } => {
                let reason = match previous {
                    Some(ContainerState::Waiting { reason: shown }) if &**shown == reason => {
                        shown.clone()
                    }
                    _ => s(reason),
                };
                ContainerState::Waiting { reason }
            }
            StateView::Running { started_at } => ContainerState::Running { started_at },
            StateView::Terminated(last) => ContainerState::Terminated {
                exit_code: last.exit_code,
                reason: last.reason.clone(),
                finished_at: last.finished_at,
            },
        }
    }
}

/// A container's state and readiness as the API shows them.
pub fn container_view(record: &ContainerRecord) -> (StateView<'_>, bool) {
    let last_or_creating = || match (&record.last_termination, record.start_failure) {
        // A container whose last start failed waits to be started again with that
        // reason (upstream `convertToAPIContainerStatuses` and its `reasonCache`).
        (_, Some(reason)) if record.stage != ContainerStage::Terminated => {
            StateView::Waiting { reason }
        }
        (Some(last), _) => StateView::Terminated(last),
        (None, _) => StateView::Waiting {
            reason: record.waiting_reason,
        },
    };
    match &record.stage {
        ContainerStage::Waiting
        | ContainerStage::CheckingImage { .. }
        | ContainerStage::Pulling { .. }
        | ContainerStage::Creating { .. }
        | ContainerStage::Starting { .. }
        | ContainerStage::Terminated => (last_or_creating(), false),
        ContainerStage::PullBackOff { failure, .. } => (
            StateView::Waiting {
                reason: failure.reason(),
            },
            false,
        ),
        ContainerStage::NeverPull { .. } => (
            StateView::Waiting {
                reason: "ErrImageNeverPull",
            },
            false,
        ),
        ContainerStage::BackOff { .. } => (
            StateView::Waiting {
                reason: "CrashLoopBackOff",
            },
            false,
        ),
        ContainerStage::Running {
            started_at, ready, ..
        }
        | ContainerStage::PostStart {
            started_at, ready, ..
        }
        | ContainerStage::Killing {
            started_at, ready, ..
        }
        | ContainerStage::Stopping {
            started_at, ready, ..
        } => (
            StateView::Running {
                started_at: *started_at,
            },
            *ready,
        ),
    }
}

/// The container's `lastState.terminated` (upstream `convertToAPIContainerStatuses`
/// takes it from the instance before the one `state` describes): while `state` shows
/// how the last instance ended, the one before; otherwise (running again, or waiting
/// to) the last one.
pub fn last_state_view<'a>(
    record: &'a ContainerRecord,
    state: StateView<'_>,
) -> Option<&'a Terminated> {
    match state {
        StateView::Terminated(_) => record.previous_termination.as_ref(),
        StateView::Waiting { .. } | StateView::Running { .. } => record.last_termination.as_ref(),
    }
}

/// Whether the API's `lastState` says the same as `last`.
fn last_state_matches(
    last: Option<&Terminated>,
    shown: Option<&crate::api::ContainerStateTerminated>,
) -> bool {
    match (last, shown) {
        (None, None) => true,
        (Some(last), Some(shown)) => last.matches(shown),
        _ => false,
    }
}

/// How many of the worker's records are init containers (they come first).
fn init_count(worker: &PodWorker) -> usize {
    worker
        .containers
        .iter()
        .take_while(|c| c.role != Role::App)
        .count()
}

/// A container's status as the API shows it.
pub fn container_status(record: &ContainerRecord) -> ContainerStatus {
    let (state, ready) = container_view(record);
    ContainerStatus {
        name: record.name.clone(),
        state: state.to_state(None),
        ready,
        restart_count: record.restart_count,
        image: record.image.clone(),
        started: record.started(),
        last_state: last_state_view(record, state).map(Terminated::to_api),
    }
}

/// The container counts upstream's `getPhase` works from (pkg/kubelet/kubelet_pods.go).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhaseCounts {
    /// Regular containers not started yet.
    pub waiting: u32,
    /// Running regular containers and sidecars.
    pub running: u32,
    pub stopped: u32,
    pub succeeded: u32,
    /// Regular init containers that have not completed (nor failed).
    pub pending_init: u32,
    /// Sidecars that have not started yet.
    pub pending_sidecars: u32,
    /// Regular init containers whose last run failed.
    pub failed_init: u32,
    /// A regular container has run in this pod before (upstream `podHasInitialized`).
    pub initialized_before: bool,
}

impl PhaseCounts {
    /// Counts one container as `getPhase` does: a waiting container that ran before
    /// counts as stopped; an init container counts towards initialization; a sidecar
    /// that has stopped counts for nothing.
    pub fn add(&mut self, state: StateView<'_>, record: &ContainerRecord) {
        let ran_before = record.last_termination.as_ref();
        match (record.role, state) {
            (Role::Init, StateView::Running { .. }) => self.pending_init += 1,
            (Role::Init, StateView::Terminated(last)) => {
                if last.exit_code != 0 {
                    self.failed_init += 1;
                }
            }
            (Role::Init, StateView::Waiting { .. }) => match ran_before {
                Some(last) if last.exit_code != 0 => self.failed_init += 1,
                Some(_) => {}
                None => self.pending_init += 1,
            },
            (Role::Sidecar, StateView::Running { .. }) => {
                if !record.sidecar_started() {
                    // Not started yet: its postStart hook or startup probe is pending.
                    self.pending_sidecars += 1;
                }
                self.running += 1;
            }
            (Role::Sidecar, StateView::Terminated(_)) => {}
            (Role::Sidecar, StateView::Waiting { .. }) => {
                if ran_before.is_none() {
                    self.pending_sidecars += 1;
                }
            }
            (Role::App, StateView::Running { .. }) => self.running += 1,
            (Role::App, StateView::Terminated(last)) => {
                self.stopped += 1;
                if last.exit_code == 0 {
                    self.succeeded += 1;
                }
            }
            (Role::App, StateView::Waiting { .. }) if ran_before.is_some() => self.stopped += 1,
            (Role::App, StateView::Waiting { .. }) => self.waiting += 1,
        }
    }
}

/// Upstream `getPhase`: `pod_is_terminal` once the kubelet has stopped every container of
/// a pod it is terminating.
pub fn pod_phase(policy: RestartPolicy, counts: PhaseCounts, pod_is_terminal: bool) -> PodPhase {
    if counts.failed_init > 0 && policy == RestartPolicy::Never {
        // An init container failed and will not run again.
        return PodPhase::Failed;
    }
    if counts.pending_init > 0 || (counts.pending_sidecars > 0 && !counts.initialized_before) {
        // Initializing.
        return PodPhase::Pending;
    }
    if counts.waiting > 0 {
        // One or more containers has not been started.
        return PodPhase::Pending;
    }
    if counts.running > 0 {
        return PodPhase::Running;
    }
    if counts.stopped == 0 {
        return PodPhase::Pending;
    }
    // Every container has stopped.
    if pod_is_terminal {
        return if counts.stopped == counts.succeeded {
            PodPhase::Succeeded
        } else {
            PodPhase::Failed
        };
    }
    match policy {
        // In the process of restarting.
        RestartPolicy::Always => PodPhase::Running,
        _ if counts.stopped == counts.succeeded => PodPhase::Succeeded,
        RestartPolicy::Never => PodPhase::Failed,
        // OnFailure with a failure: restarting.
        RestartPolicy::OnFailure => PodPhase::Running,
    }
}

/// The Initialized condition (upstream `GeneratePodInitializedCondition`): every regular
/// init container has completed and every sidecar has started, or a regular container
/// has run already (a sidecar restarting later does not undo it).
pub fn initialized(worker: &PodWorker) -> ConditionStatus {
    let done = worker.containers.iter().all(|c| match c.role {
        Role::Init => c.completed(),
        Role::Sidecar => c.sidecar_started(),
        Role::App => true,
    });
    ConditionStatus::from_bool(done || worker.has_initialized_before())
}

/// The pod's phase and Ready condition from its containers' states and readiness (the
/// regular containers' and the sidecars').
fn phase_and_ready<'a>(
    worker: &PodWorker,
    containers: impl Iterator<Item = (StateView<'a>, bool, &'a ContainerRecord)>,
) -> (PodPhase, ConditionStatus) {
    let mut counts = PhaseCounts {
        initialized_before: worker.has_initialized_before(),
        ..PhaseCounts::default()
    };
    let mut all_ready = !worker.containers.is_empty();
    for (state, ready, record) in containers {
        counts.add(state, record);
        if record.role != Role::Init {
            all_ready &= ready;
        }
    }
    let old = &worker.pod.status;
    let phase = if matches!(old.phase, PodPhase::Succeeded | PodPhase::Failed) {
        // A terminal phase never changes.
        old.phase
    } else if worker.evicted.is_some() {
        // The eviction manager's status function: Failed as soon as it kills the pod.
        PodPhase::Failed
    } else {
        let pod_is_terminal = (worker.is_terminating() || worker.must_kill())
            && worker
                .containers
                .iter()
                .all(|c| !c.stage.is_running() && !c.stage.is_starting());
        pod_phase(worker.pod.spec.restart_policy, counts, pod_is_terminal)
    };
    let ready = ConditionStatus::from_bool(phase == PodPhase::Running && all_ready);
    (phase, ready)
}

/// The status the API shows for `record`'s container, if any.
pub fn shown_status<'a>(
    status: &'a PodStatus,
    record: &ContainerRecord,
) -> Option<&'a ContainerStatus> {
    let list = match record.role {
        Role::Init | Role::Sidecar => &status.init_container_statuses,
        Role::App => &status.container_statuses,
    };
    list.iter().find(|c| c.name == record.name)
}

/// The STATUS column of `kubectl get pods` for `pod` (kubectl's `printPod`): the phase
/// or reason, `Init:N/M` while init container N of M is pending, `Init:<reason>` when
/// one waits with a reason or failed, the waiting or terminated reason of a regular
/// container, `Terminating` for a pod being deleted. A sidecar counts as done once it
/// has `started` (its startup probe, if any, succeeded).
pub fn kubectl_status(pod: &Pod) -> String {
    let status = &pod.status;
    let mut reason = status
        .reason
        .as_deref()
        .unwrap_or(status.phase.name())
        .to_string();
    let mut initializing = false;
    for (index, container) in status.init_container_statuses.iter().enumerate() {
        let sidecar = pod
            .spec
            .init_containers
            .iter()
            .any(|c| c.name == container.name && c.is_sidecar());
        match &container.state {
            ContainerState::Terminated { exit_code: 0, .. } => continue,
            _ if sidecar && container.started => continue,
            ContainerState::Terminated {
                exit_code,
                reason: why,
                ..
            } => {
                reason = if why.is_empty() {
                    format!("Init:ExitCode:{exit_code}")
                } else {
                    format!("Init:{why}")
                };
            }
            ContainerState::Waiting { reason: why }
                if !why.is_empty() && &**why != "PodInitializing" =>
            {
                reason = format!("Init:{why}");
            }
            _ => reason = format!("Init:{index}/{}", pod.spec.init_containers.len()),
        }
        initializing = true;
        break;
    }
    if !initializing || status.initialized == ConditionStatus::True {
        let mut has_running = false;
        for container in status.container_statuses.iter().rev() {
            match &container.state {
                ContainerState::Waiting { reason: why } if !why.is_empty() => {
                    reason = why.to_string()
                }
                ContainerState::Terminated { reason: why, .. } if !why.is_empty() => {
                    reason = why.to_string()
                }
                ContainerState::Terminated { exit_code, .. } => {
                    reason = format!("ExitCode:{exit_code}")
                }
                ContainerState::Running { .. } if container.ready => has_running = true,
                _ => {}
            }
        }
        if reason == "Completed" && has_running {
            reason = if status.ready == ConditionStatus::True {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }
    if pod.metadata.is_terminating()
        && !matches!(status.phase, PodPhase::Succeeded | PodPhase::Failed)
    {
        reason = "Terminating".to_string();
    }
    reason
}

/// The pod's status as the kubelet would post it now. Fields the kubelet does not own
/// (PodScheduled, a reason set by others) are kept from the pod as last seen.
pub fn pod_status(worker: &PodWorker, host_ip: &Str, now: SimTime) -> PodStatus {
    let old = &worker.pod.status;
    let status_of = |record: &ContainerRecord| {
        let (state, ready) = container_view(record);
        let shown = shown_status(old, record);
        let last = last_state_view(record, state);
        // What the API shows already is shared rather than built again.
        let last_state = match (last, shown.and_then(|c| c.last_state.as_ref())) {
            (Some(last), Some(shown)) if last.matches(shown) => Some(shown.clone()),
            (last, _) => last.map(Terminated::to_api),
        };
        ContainerStatus {
            name: record.name.clone(),
            state: state.to_state(shown.map(|c| &c.state)),
            ready,
            restart_count: record.restart_count,
            image: record.image.clone(),
            started: record.started(),
            last_state,
        }
    };
    let init_count = init_count(worker);
    let init_container_statuses: Vec<ContainerStatus> = worker.containers[..init_count]
        .iter()
        .map(status_of)
        .collect();
    let container_statuses: Vec<ContainerStatus> = worker.containers[init_count..]
        .iter()
        .map(status_of)
        .collect();
    let (phase, ready) = phase_and_ready(
        worker,
        worker.containers.iter().map(|record| {
            let (state, ready) = container_view(record);
            (state, ready, record)
        }),
    );
    let ready_since = if ready == old.ready {
        old.ready_since
    } else {
        Some(now)
    };
    PodStatus {
        phase,
        scheduled: old.scheduled,
        scheduled_reason: old.scheduled_reason.clone(),
        scheduled_message: old.scheduled_message.clone(),
        ready,
        ready_since,
        host_ip: Some(host_ip.clone()),
        pod_ip: worker.pod_ip.clone().or_else(|| old.pod_ip.clone()),
        start_time: old.start_time.or(Some(now)),
        container_statuses,
        init_container_statuses,
        initialized: initialized(worker),
        reason: match &worker.evicted {
            Some(_) => Some(s(super::eviction::REASON_EVICTED)),
            None => old.reason.clone(),
        },
        message: worker.evicted.clone().or_else(|| old.message.clone()),
        qos_class: old.qos_class,
        nominated_node_name: old.nominated_node_name.clone(),
    }
}

/// Whether [`pod_status`] would differ from the status the API holds (whatever `now`):
/// the same comparison, without building anything.
pub fn pod_status_changed(worker: &PodWorker, host_ip: &Str) -> bool {
    let old = &worker.pod.status;
    if old.start_time.is_none()
        || !old
            .host_ip
            .as_ref()
            .is_some_and(|shown| same_str(shown, host_ip))
        || worker
            .pod_ip
            .as_ref()
            .is_some_and(|ip| !old.pod_ip.as_ref().is_some_and(|shown| same_str(shown, ip)))
        || old.container_statuses.len() + old.init_container_statuses.len()
            != worker.containers.len()
        || old.initialized != initialized(worker)
        || worker
            .evicted
            .as_ref()
            .is_some_and(|message| old.message.as_ref() != Some(message))
    {
        return true;
    }
    let mut same = true;
    let (phase, ready) = phase_and_ready(
        worker,
        worker
            .containers
            .iter()
            .zip(
                old.init_container_statuses
                    .iter()
                    .chain(&old.container_statuses),
            )
            .map(|(record, shown)| {
                let (state, ready) = container_view(record);
                same = same
                    && state.matches(&shown.state)
                    && ready == shown.ready
                    && record.started() == shown.started
                    && last_state_matches(
                        last_state_view(record, state),
                        shown.last_state.as_ref(),
                    )
                    && record.restart_count == shown.restart_count
                    && same_str(&record.name, &shown.name)
                    && same_str(&record.image, &shown.image);
                (state, ready, record)
            }),
    );
    !same || phase != old.phase || ready != old.ready
}

/// The node's status as the kubelet computes it every `nodeStatusUpdateFrequency`.
pub fn node_status(
    setup: &NodeSetup,
    kubelet_version: &Str,
    runtime_version: &Str,
    images: &BTreeMap<Str, u64>,
    previous: Option<&NodeStatus>,
    now: SimTime,
) -> NodeStatus {
    let last_transition_time = previous
        .filter(|p| p.ready.status == ConditionStatus::True)
        .map_or(now, |p| p.ready.last_transition_time);
    let mut listed: Vec<(Str, u64)> = images
        .iter()
        .map(|(name, &size)| (name.clone(), size))
        .collect();
    listed.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    listed.truncate(NODE_STATUS_MAX_IMAGES);
    NodeStatus {
        capacity: setup.capacity,
        allocatable: setup.capacity,
        ready: NodeCondition {
            status: ConditionStatus::True,
            reason: s("KubeletReady"),
            message: s("kubelet is posting ready status"),
            last_heartbeat_time: now,
            last_transition_time,
        },
        memory_pressure: ConditionStatus::False,
        disk_pressure: ConditionStatus::False,
        internal_ip: setup.internal_ip.clone(),
        images: listed,
        extended_allocatable: setup.extended_resources.clone(),
        kubelet_version: kubelet_version.clone(),
        container_runtime_version: runtime_version.clone(),
    }
}

/// Whether `new` differs from `old` in anything but the heartbeat (then it must be
/// posted before `nodeStatusReportFrequency` has passed).
pub fn node_status_changed(old: &NodeStatus, new: &NodeStatus) -> bool {
    let mut old = old.clone();
    old.ready.last_heartbeat_time = new.ready.last_heartbeat_time;
    old != *new
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Labels, ResourceList};
    use crate::kubelet::worker::tests::{pod, pod_with_init};
    use crate::kubelet::worker::{ContainerStage, SandboxStage, Terminated};
    use sim_core::SimDuration;

    fn t(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    fn counts(waiting: u32, running: u32, stopped: u32, succeeded: u32) -> PhaseCounts {
        PhaseCounts {
            waiting,
            running,
            stopped,
            succeeded,
            ..PhaseCounts::default()
        }
    }

    #[test]
    fn get_phase_follows_upstream() {
        use PodPhase::*;
        use RestartPolicy as R;
        // A container not yet started keeps the pod Pending.
        assert_eq!(pod_phase(R::Always, counts(1, 1, 0, 0), false), Pending);
        assert_eq!(pod_phase(R::Always, counts(0, 2, 0, 0), false), Running);
        assert_eq!(pod_phase(R::Never, counts(0, 1, 1, 1), false), Running);
        // All stopped: Always restarts, so Running.
        assert_eq!(pod_phase(R::Always, counts(0, 0, 2, 1), false), Running);
        assert_eq!(pod_phase(R::Never, counts(0, 0, 2, 2), false), Succeeded);
        assert_eq!(pod_phase(R::Never, counts(0, 0, 2, 1), false), Failed);
        assert_eq!(
            pod_phase(R::OnFailure, counts(0, 0, 2, 2), false),
            Succeeded
        );
        assert_eq!(pod_phase(R::OnFailure, counts(0, 0, 2, 1), false), Running);
        // Once the kubelet has stopped a deleted pod, it is terminal whatever the policy.
        assert_eq!(pod_phase(R::Always, counts(0, 0, 2, 0), true), Failed);
        assert_eq!(pod_phase(R::Always, counts(0, 0, 2, 2), true), Succeeded);
        assert_eq!(pod_phase(R::Always, counts(0, 0, 0, 0), false), Pending);
    }

    fn exited(code: i32) -> Terminated {
        Terminated {
            exit_code: code,
            reason: s(if code == 0 { "Completed" } else { "Error" }),
            started_at: Some(t(2)),
            finished_at: t(4),
        }
    }

    #[test]
    fn pending_then_running_then_ready() {
        let host_ip = s("10.0.0.10");
        let mut w = PodWorker::new(pod(&[("app", "nginx")], RestartPolicy::Always));
        let status = pod_status(&w, &host_ip, t(1));
        assert_eq!(status.phase, PodPhase::Pending);
        assert_eq!(
            status.container_statuses[0].state,
            ContainerState::Waiting {
                reason: s("ContainerCreating")
            }
        );
        assert_eq!(status.start_time, Some(t(1)));
        assert_eq!(status.host_ip.as_deref(), Some("10.0.0.10"));
        assert_eq!(status.ready, ConditionStatus::False);

        w.sandbox = SandboxStage::Ready { sandbox_id: 1 };
        w.pod_ip = Some(s("10.244.0.2"));
        w.containers[0].stage = ContainerStage::Running {
            container_id: 2,
            started_at: t(2),
            ready: false,
        };
        let mut stored = (*w.pod).clone();
        stored.status = status;
        w.pod = stored.into();
        let status = pod_status(&w, &host_ip, t(2));
        assert_eq!(status.phase, PodPhase::Running);
        assert_eq!(status.ready, ConditionStatus::False);
        assert_eq!(status.start_time, Some(t(1)), "startTime is set once");
        assert_eq!(status.pod_ip.as_deref(), Some("10.244.0.2"));
        // Unchanged readiness keeps its transition time.
        assert_eq!(status.ready_since, w.pod.status.ready_since);

        w.containers[0].stage = ContainerStage::Running {
            container_id: 2,
            started_at: t(2),
            ready: true,
        };
        let status = pod_status(&w, &host_ip, t(3));
        assert_eq!(status.ready, ConditionStatus::True);
        assert_eq!(status.ready_since, Some(t(3)));
        assert!(status.container_statuses[0].ready);
    }

    #[test]
    fn crash_loop_shows_waiting_and_keeps_the_pod_running() {
        let mut w = PodWorker::new(pod(&[("app", "crasher")], RestartPolicy::Always));
        w.containers[0].last_termination = Some(exited(1));
        w.containers[0].restart_count = 2;
        w.containers[0].stage = ContainerStage::BackOff { until: t(30) };
        let status = pod_status(&w, &s("10.0.0.10"), t(5));
        assert_eq!(status.phase, PodPhase::Running);
        assert_eq!(status.ready, ConditionStatus::False);
        let c = &status.container_statuses[0];
        assert_eq!(
            c.state,
            ContainerState::Waiting {
                reason: s("CrashLoopBackOff")
            }
        );
        assert_eq!(c.restart_count, 2);
        // Between exit and restart it shows how it ended.
        w.containers[0].stage = ContainerStage::Waiting;
        let status = pod_status(&w, &s("10.0.0.10"), t(5));
        assert!(matches!(
            status.container_statuses[0].state,
            ContainerState::Terminated { exit_code: 1, .. }
        ));
        assert_eq!(status.phase, PodPhase::Running);
    }

    #[test]
    fn a_job_like_pod_succeeds_or_fails() {
        let mut w = PodWorker::new(pod(&[("a", "x"), ("b", "y")], RestartPolicy::Never));
        w.containers[0].last_termination = Some(exited(0));
        w.containers[0].stage = ContainerStage::Terminated;
        w.containers[1].last_termination = Some(exited(0));
        w.containers[1].stage = ContainerStage::Terminated;
        assert_eq!(pod_status(&w, &s("h"), t(5)).phase, PodPhase::Succeeded);
        w.containers[1].last_termination = Some(exited(2));
        assert_eq!(pod_status(&w, &s("h"), t(5)).phase, PodPhase::Failed);
    }

    #[test]
    fn a_terminal_phase_never_changes() {
        let mut w = PodWorker::new(pod(&[("a", "x")], RestartPolicy::Never));
        let mut stored = (*w.pod).clone();
        stored.status.phase = PodPhase::Succeeded;
        w.pod = stored.into();
        assert_eq!(pod_status(&w, &s("h"), t(5)).phase, PodPhase::Succeeded);
    }

    #[test]
    fn a_deleted_pod_ends_failed_once_its_containers_are_stopped() {
        let mut w = PodWorker::new(pod(&[("app", "nginx")], RestartPolicy::Always));
        w.containers[0].stage = ContainerStage::Running {
            container_id: 2,
            started_at: t(2),
            ready: true,
        };
        w.begin_termination(SimDuration::from_secs(30), true);
        assert_eq!(pod_status(&w, &s("h"), t(5)).phase, PodPhase::Running);
        w.containers[0].last_termination = Some(exited(143));
        w.containers[0].stage = ContainerStage::Terminated;
        let status = pod_status(&w, &s("h"), t(6));
        assert_eq!(status.phase, PodPhase::Failed);
        assert_eq!(status.ready, ConditionStatus::False);
    }

    /// `pod_status_changed` is exactly `pod_status(..) != stored`, and false once the
    /// status it would post is stored.
    fn check_changed_and_store(w: &mut PodWorker, host_ip: &Str, now: SimTime) -> bool {
        let fresh = pod_status(w, host_ip, now);
        let changed = pod_status_changed(w, host_ip);
        assert_eq!(changed, fresh != w.pod.status, "{:?}", w.containers);
        let mut stored = (*w.pod).clone();
        stored.status = fresh;
        w.pod = stored.into();
        assert!(
            !pod_status_changed(w, host_ip),
            "stored: {:?}",
            w.pod.status
        );
        changed
    }

    #[test]
    fn last_state_is_the_instance_before_the_one_state_describes() {
        // Upstream `convertToAPIContainerStatuses`: `lastState` is the previous
        // container's termination; `started` is set once it runs and its startup probe
        // (if any) has succeeded.
        let ip = s("10.0.0.10");
        let mut w = PodWorker::new(pod(&[("app", "crasher")], RestartPolicy::OnFailure));
        let c = container_status(&w.containers[0]);
        assert_eq!((c.started, c.last_state), (false, None), "never ran");
        w.containers[0].stage = ContainerStage::Running {
            container_id: 4,
            started_at: t(2),
            ready: false,
        };
        w.containers[0].awaiting_startup_probe = true;
        assert!(!container_status(&w.containers[0]).started);
        w.containers[0].awaiting_startup_probe = false;
        assert!(container_status(&w.containers[0]).started);
        assert!(check_changed_and_store(&mut w, &ip, t(2)));
        // It exits with 1: state shows the exit, nothing before it.
        w.containers[0].ended(exited(1));
        w.containers[0].stage = ContainerStage::Waiting;
        let c = container_status(&w.containers[0]);
        assert!(matches!(
            c.state,
            ContainerState::Terminated { exit_code: 1, .. }
        ));
        assert_eq!((c.started, c.last_state), (false, None));
        // In back-off: state is Waiting, lastState the exit.
        w.containers[0].stage = ContainerStage::BackOff { until: t(14) };
        let last = container_status(&w.containers[0])
            .last_state
            .expect("lastState");
        assert_eq!(
            (
                last.exit_code,
                &*last.reason,
                last.started_at,
                last.finished_at
            ),
            (1, "Error", Some(t(2)), t(4))
        );
        assert!(check_changed_and_store(&mut w, &ip, t(5)));
        // Running again: still the same lastState, and nothing to write for it.
        w.containers[0].restart_count = 1;
        w.containers[0].stage = ContainerStage::Running {
            container_id: 5,
            started_at: t(14),
            ready: true,
        };
        assert!(check_changed_and_store(&mut w, &ip, t(14)));
        assert_eq!(
            w.pod.status.container_statuses[0]
                .last_state
                .as_ref()
                .map(|l| l.exit_code),
            Some(1)
        );
        // It succeeds, for good (OnFailure): state shows exit 0, lastState the exit 1.
        w.containers[0].ended(exited(0));
        w.containers[0].stage = ContainerStage::Terminated;
        let c = container_status(&w.containers[0]);
        assert!(matches!(
            c.state,
            ContainerState::Terminated { exit_code: 0, .. }
        ));
        assert_eq!(c.last_state.map(|l| l.exit_code), Some(1));
        // The cheap comparison sees a lastState change alone.
        assert!(check_changed_and_store(&mut w, &ip, t(20)));
        w.containers[0].previous_termination = Some(exited(2));
        assert!(pod_status_changed(&w, &ip));
    }

    #[test]
    fn the_cheap_comparison_agrees_with_the_full_status() {
        let ip = s("10.0.0.10");
        let mut w = PodWorker::new(pod(&[("a", "x"), ("b", "y")], RestartPolicy::Always));
        assert!(check_changed_and_store(&mut w, &ip, t(1)), "first status");
        w.sandbox = SandboxStage::Ready { sandbox_id: 1 };
        w.containers[0].stage = ContainerStage::CheckingImage { call: 3 };
        assert!(
            !check_changed_and_store(&mut w, &ip, t(2)),
            "nothing visible"
        );
        w.pod_ip = Some(s("10.244.0.2"));
        assert!(check_changed_and_store(&mut w, &ip, t(2)), "the pod IP");
        w.containers[0].stage = ContainerStage::Running {
            container_id: 4,
            started_at: t(3),
            ready: false,
        };
        assert!(check_changed_and_store(&mut w, &ip, t(3)));
        w.containers[1].stage = ContainerStage::PullBackOff {
            until: t(20),
            failure: crate::kubelet::worker::PullFailure::ErrImagePull,
        };
        assert!(check_changed_and_store(&mut w, &ip, t(4)));
        w.containers[1].stage = ContainerStage::PullBackOff {
            until: t(40),
            failure: crate::kubelet::worker::PullFailure::ImagePullBackOff,
        };
        assert!(check_changed_and_store(&mut w, &ip, t(5)), "another reason");
        w.containers[1].stage = ContainerStage::Running {
            container_id: 5,
            started_at: t(6),
            ready: true,
        };
        assert!(check_changed_and_store(&mut w, &ip, t(6)));
        w.containers[0].stage = ContainerStage::Running {
            container_id: 4,
            started_at: t(3),
            ready: true,
        };
        assert!(check_changed_and_store(&mut w, &ip, t(7)), "Ready");
        assert!(!check_changed_and_store(&mut w, &ip, t(8)));
        w.containers[0].last_termination = Some(exited(1));
        w.containers[0].restart_count = 1;
        w.containers[0].stage = ContainerStage::Waiting;
        assert!(check_changed_and_store(&mut w, &ip, t(9)), "an exit");
        w.containers[0].stage = ContainerStage::BackOff { until: t(19) };
        assert!(
            check_changed_and_store(&mut w, &ip, t(9)),
            "CrashLoopBackOff"
        );
        // Someone else (the node lifecycle controller) marks the pod not ready.
        let mut stored = (*w.pod).clone();
        stored.status.ready = ConditionStatus::True;
        w.pod = stored.into();
        assert!(pod_status_changed(&w, &ip));
        assert!(check_changed_and_store(&mut w, &ip, t(10)));
        w.begin_termination(SimDuration::from_secs(30), true);
        w.containers[1].stage = ContainerStage::Terminated;
        w.containers[1].last_termination = Some(exited(143));
        assert!(check_changed_and_store(&mut w, &ip, t(11)), "Failed");
        assert_eq!(w.pod.status.phase, PodPhase::Failed);
    }

    fn setup() -> NodeSetup {
        NodeSetup {
            name: s("node-1"),
            labels: Labels::new(),
            taints: Vec::new(),
            capacity: ResourceList {
                cpu_millicores: Some(4000),
                memory_bytes: Some(16 << 30),
                ephemeral_storage_bytes: None,
                pods: Some(110),
            },
            extended_resources: Vec::new(),
            internal_ip: s("10.0.0.10"),
            pod_cidr: s("10.244.0.0/24"),
        }
    }

    #[test]
    fn node_status_changes_only_when_more_than_the_heartbeat_moves() {
        let mut images = BTreeMap::new();
        images.insert(s("small:1"), 10);
        images.insert(s("big:1"), 1000);
        let (kv, rv) = (s("v1.34.0"), s("containerd://2.1.4"));
        let first = node_status(&setup(), &kv, &rv, &images, None, t(0));
        assert_eq!(first.ready.status, ConditionStatus::True);
        assert_eq!(first.ready.last_transition_time, t(0));
        assert_eq!(first.allocatable, setup().capacity);
        assert_eq!(first.images[0].0.as_ref(), "big:1", "largest first");
        let second = node_status(&setup(), &kv, &rv, &images, Some(&first), t(10));
        assert_eq!(second.ready.last_heartbeat_time, t(10));
        assert_eq!(second.ready.last_transition_time, t(0));
        assert!(!node_status_changed(&first, &second));
        images.insert(s("new:1"), 5);
        let third = node_status(&setup(), &kv, &rv, &images, Some(&second), t(20));
        assert!(node_status_changed(&second, &third));
        // After the node controller marked the node Unknown, Ready=True is a transition.
        let mut unknown = third.clone();
        unknown.ready.status = ConditionStatus::Unknown;
        let fourth = node_status(&setup(), &kv, &rv, &images, Some(&unknown), t(30));
        assert_eq!(fourth.ready.last_transition_time, t(30));
    }

    #[test]
    fn at_most_fifty_images_are_listed() {
        let images: BTreeMap<Str, u64> = (0..60u64).map(|i| (s(&format!("img:{i}")), i)).collect();
        let status = node_status(&setup(), &s("v"), &s("r"), &images, None, t(0));
        assert_eq!(status.images.len(), NODE_STATUS_MAX_IMAGES);
        assert_eq!(status.images[0].1, 59);
    }

    /// Stores `worker`'s status as the API would hold it and returns kubectl's view.
    fn store(w: &mut PodWorker, now: SimTime) -> String {
        let mut stored = (*w.pod).clone();
        stored.status = pod_status(w, &s("10.0.0.10"), now);
        w.pod = stored.into();
        kubectl_status(&w.pod)
    }

    fn run(id: u64, at: u64) -> ContainerStage {
        ContainerStage::Running {
            container_id: id,
            started_at: t(at),
            ready: true,
        }
    }

    #[test]
    fn init_progress_shows_as_kubectl_does() {
        let mut w = PodWorker::new(pod_with_init(
            &["migrate", "proxy-sidecar"],
            &["app"],
            RestartPolicy::Always,
            &[],
        ));
        assert_eq!(store(&mut w, t(1)), "Init:0/2");
        let status = &w.pod.status;
        assert_eq!(status.phase, PodPhase::Pending);
        assert_eq!(status.initialized, ConditionStatus::False);
        assert_eq!(status.init_container_statuses.len(), 2);
        assert_eq!(
            status.container_statuses[0].state,
            ContainerState::Waiting {
                reason: s("PodInitializing")
            }
        );
        w.containers[0].stage = run(1, 2);
        assert_eq!(store(&mut w, t(2)), "Init:0/2");
        // migrate fails and backs off.
        w.containers[0].last_termination = Some(exited(1));
        w.containers[0].restart_count = 1;
        w.containers[0].stage = ContainerStage::BackOff { until: t(20) };
        assert_eq!(store(&mut w, t(5)), "Init:CrashLoopBackOff");
        assert_eq!(w.pod.status.phase, PodPhase::Pending);
        w.containers[0].last_termination = Some(exited(0));
        w.containers[0].stage = ContainerStage::Terminated;
        assert_eq!(store(&mut w, t(21)), "Init:1/2");
        w.containers[1].stage = run(2, 22);
        assert_eq!(w.containers[1].role, Role::Sidecar);
        assert_eq!(store(&mut w, t(22)), "PodInitializing");
        assert_eq!(w.pod.status.initialized, ConditionStatus::True);
        w.containers[2].stage = run(3, 23);
        w.containers[2].created_before = true;
        assert_eq!(store(&mut w, t(23)), "Running");
        assert_eq!(w.pod.status.phase, PodPhase::Running);
        assert_eq!(w.pod.status.ready, ConditionStatus::True);
        // The sidecar restarting later keeps the pod initialized and Running, not Ready;
        // kubectl shows the sidecar's back-off (a running regular container does not
        // override an Init: reason).
        w.containers[1].last_termination = Some(exited(1));
        w.containers[1].stage = ContainerStage::BackOff { until: t(40) };
        assert_eq!(store(&mut w, t(30)), "Init:CrashLoopBackOff");
        assert_eq!(w.pod.status.initialized, ConditionStatus::True);
        assert_eq!(w.pod.status.phase, PodPhase::Running);
        assert_eq!(w.pod.status.ready, ConditionStatus::False);
    }

    #[test]
    fn a_failed_init_container_under_never_fails_the_pod() {
        let mut counts = PhaseCounts {
            failed_init: 1,
            waiting: 1,
            ..PhaseCounts::default()
        };
        assert_eq!(
            pod_phase(RestartPolicy::Never, counts, false),
            PodPhase::Failed
        );
        assert_eq!(
            pod_phase(RestartPolicy::OnFailure, counts, false),
            PodPhase::Pending
        );
        counts.failed_init = 0;
        counts.pending_sidecars = 1;
        assert_eq!(
            pod_phase(RestartPolicy::Always, counts, false),
            PodPhase::Pending
        );
        counts.waiting = 0;
        counts.running = 1;
        counts.initialized_before = true;
        assert_eq!(
            pod_phase(RestartPolicy::Always, counts, false),
            PodPhase::Running,
            "a restarting sidecar does not send an initialized pod back to Pending"
        );
    }

    #[test]
    fn a_job_with_a_sidecar_succeeds_whatever_the_sidecar_exited_with() {
        let mut w = PodWorker::new(pod_with_init(
            &["proxy-sidecar"],
            &["job"],
            RestartPolicy::Never,
            &[],
        ));
        w.containers[0].stage = run(1, 1);
        w.containers[0].created_before = true;
        w.containers[1].last_termination = Some(exited(0));
        w.containers[1].created_before = true;
        w.containers[1].stage = ContainerStage::Terminated;
        assert_eq!(
            pod_status(&w, &s("h"), t(5)).phase,
            PodPhase::Running,
            "the sidecar still runs"
        );
        w.containers[0].last_termination = Some(exited(143));
        w.containers[0].stage = ContainerStage::Terminated;
        assert_eq!(store(&mut w, t(6)), "Completed");
        assert_eq!(w.pod.status.phase, PodPhase::Succeeded);
    }
}
