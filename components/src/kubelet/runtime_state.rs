//! What the kubelet knows about its container runtime's health, and the node Ready
//! condition it derives from it (`pkg/kubelet/runtime.go` `runtimeState`,
//! `pkg/kubelet/pleg/generic.go` `Healthy`, `pkg/kubelet/nodestatus/setters.go`
//! `ReadyCondition`).
//!
//! Upstream checks the runtime with a CRI `Status` call every 5 s (`updateRuntimeUp`)
//! and relists its containers every 1 s (the generic PLEG). Each success stamps a time;
//! the Ready condition turns False when the status check has not succeeded for 30 s
//! (`container runtime is down`) or the relist for 3 min (`PLEG is not healthy`).
//!
//! kubesim keeps the same clock without the events: while the runtime answers, both
//! loops would succeed at every instant of their grid (from the kubelet's start), so
//! their last success is the grid instant at or before now. When the kubelet finds the
//! runtime gone (a call answered `Unavailable`, or the runtime's socket closing), both
//! stamps freeze at the last grid instant before that, and the kubelet polls the
//! runtime every 5 s, on the same grid, until it answers: exactly the instants at which
//! upstream's loops would have found it up again. A node whose runtime never fails
//! costs no event for either loop.

use sim_core::{Context, SimDuration, SimTime};

use super::worker::{ContainerStage, SandboxStage};
use super::{Call, Kubelet, Tick};
use crate::api::{ConditionStatus, NodeCondition, Str, s};
use crate::msg::Msg;
use crate::runtime::{
    CallId, ContainerEvent, ContainerEventKind, ContainerInfo, ContainerState, CriError,
    CriErrorCode, CriRequest,
};

/// `updateRuntimeUp` runs every 5 s (`pkg/kubelet/kubelet.go`, `Run`).
pub const RUNTIME_STATUS_PERIOD: SimDuration = SimDuration::from_secs(5);
/// `maxWaitForContainerRuntime`, 30 s: the status check's staleness threshold
/// (`pkg/kubelet/kubelet.go`).
pub const RUNTIME_SYNC_THRESHOLD: SimDuration = SimDuration::from_secs(30);
/// The generic PLEG's `RelistThreshold`, 3 min (`pkg/kubelet/kubelet.go`,
/// `genericPlegRelistThreshold`).
pub const PLEG_RELIST_THRESHOLD: SimDuration = SimDuration::from_mins(3);

/// Whether the kubelet can reach its runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeHealth {
    /// Every status check and relist has succeeded so far (in this incarnation).
    Up,
    /// The runtime stopped answering. The stamps are the last successful status check and
    /// relist (`None`: none has succeeded since the kubelet started).
    Down {
        last_status_ok: Option<SimTime>,
        last_relist_ok: Option<SimTime>,
    },
}

/// The last instant of the grid `origin + k × period` at or before `now`.
pub fn grid_floor(origin: SimTime, period: SimDuration, now: SimTime) -> SimTime {
    assert!(period > SimDuration::ZERO);
    let into = now.saturating_since(origin).as_nanos() % period.as_nanos();
    if now < origin {
        origin
    } else {
        SimTime::from_nanos(now.as_nanos() - into)
    }
}

/// The first instant of the grid `origin + k × period` strictly after `now`.
pub fn grid_next(origin: SimTime, period: SimDuration, now: SimTime) -> SimTime {
    if now < origin {
        return origin;
    }
    grid_floor(origin, period, now) + period
}

impl RuntimeHealth {
    pub fn is_up(&self) -> bool {
        matches!(self, RuntimeHealth::Up)
    }

    /// The runtime was found gone at `now`: the stamps freeze at the last instants the
    /// two loops ran before it (a loop running at `now` itself has failed).
    pub fn lost(started_at: SimTime, relist_period: SimDuration, now: SimTime) -> RuntimeHealth {
        let before = |period: SimDuration| {
            (now > started_at)
                .then(|| grid_floor(started_at, period, SimTime::from_nanos(now.as_nanos() - 1)))
        };
        RuntimeHealth::Down {
            last_status_ok: before(RUNTIME_STATUS_PERIOD),
            last_relist_ok: before(relist_period),
        }
    }

    /// `runtimeState.runtimeErrors()` at `now`, in upstream's order: the status check,
    /// then the PLEG health check.
    pub fn errors(&self, now: SimTime) -> Vec<String> {
        let RuntimeHealth::Down {
            last_status_ok,
            last_relist_ok,
        } = *self
        else {
            return Vec::new();
        };
        let mut errors = Vec::new();
        match last_status_ok {
            None => {
                errors.push("container runtime status check may not have completed yet".to_string())
            }
            Some(at) if at + RUNTIME_SYNC_THRESHOLD <= now => {
                errors.push("container runtime is down".to_string())
            }
            Some(_) => {}
        }
        match last_relist_ok {
            None => errors.push("PLEG is not healthy: pleg has yet to be successful".to_string()),
            Some(at) => {
                let elapsed = now.saturating_since(at);
                if elapsed > PLEG_RELIST_THRESHOLD {
                    errors.push(format!(
                        "PLEG is not healthy: pleg was last seen active {} ago; threshold is {}",
                        go_duration(elapsed),
                        go_duration(PLEG_RELIST_THRESHOLD)
                    ));
                }
            }
        }
        errors
    }
}

/// The node's Ready condition given the runtime errors (`ReadyCondition` in
/// `nodestatus/setters.go`): with none, `computed` (KubeletReady) as it is; otherwise
/// False with reason `KubeletNotReady` and the errors as one aggregate message. The
/// transition time moves only when the status changes.
pub fn ready_condition(
    computed: NodeCondition,
    errors: &[String],
    previous: Option<&NodeCondition>,
    now: SimTime,
) -> NodeCondition {
    if errors.is_empty() {
        return computed;
    }
    let last_transition_time = previous
        .filter(|p| p.status == ConditionStatus::False)
        .map_or(now, |p| p.last_transition_time);
    NodeCondition {
        status: ConditionStatus::False,
        reason: s("KubeletNotReady"),
        message: aggregate_message(errors),
        last_heartbeat_time: computed.last_heartbeat_time,
        last_transition_time,
    }
}

/// `utilerrors.NewAggregate(errs).Error()`: one message as it is, several deduplicated,
/// joined with `, ` and bracketed.
pub fn aggregate_message(errors: &[String]) -> Str {
    let mut seen: Vec<&str> = Vec::new();
    for error in errors {
        if !seen.contains(&error.as_str()) {
            seen.push(error);
        }
    }
    match seen.as_slice() {
        [one] => s(one),
        many => s(&format!("[{}]", many.join(", "))),
    }
}

/// A duration as Go's `time.Duration.String()` prints it: `3m0s`, `3m5.5s`, `1h0m0s`,
/// `750ms` (the forms a kubelet message shows).
pub fn go_duration(duration: SimDuration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000_000_000 {
        let (unit, per) = if nanos < 1_000 {
            ("ns", 1)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", fraction(nanos / per, nanos % per, per));
    }
    let secs = nanos / 1_000_000_000;
    let seconds = fraction(secs % 60, nanos % 1_000_000_000, 1_000_000_000);
    let (hours, minutes) = (secs / 3600, secs / 60 % 60);
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// `whole.frac` with the fraction's trailing zeros dropped.
fn fraction(whole: u64, rest: u64, per: u64) -> String {
    if rest == 0 {
        return whole.to_string();
    }
    let width = per.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

// ----------------------------------------------------------------------------------
// The kubelet's side: finding the runtime gone, polling it, resuming.

impl Kubelet {
    /// The runtime did not answer (a call failed `Unavailable`, or its socket closed):
    /// pod workers pause and the status check polls it every 5 s until it answers.
    pub(super) fn runtime_lost(&mut self, why: &str, cx: &mut Context<'_, Msg>) {
        if !self.runtime_health.is_up() {
            return;
        }
        self.runtime_health =
            RuntimeHealth::lost(self.started_at, self.config.pleg_relist_period, cx.now());
        self.node_status_inputs_changed = true;
        let node = self.setup.name.clone();
        cx.record("step", || {
            format!(
                "kubelet on node {node}: container runtime unreachable ({why}); pod sync paused, checking it every {}",
                go_duration(RUNTIME_STATUS_PERIOD)
            )
        });
        self.arm_runtime_poll(cx);
    }

    /// The next `updateRuntimeUp` instant (5 s grid from the start).
    fn arm_runtime_poll(&mut self, cx: &mut Context<'_, Msg>) {
        if self.runtime_poll_armed {
            return;
        }
        self.runtime_poll_armed = true;
        let next = grid_next(self.started_at, RUNTIME_STATUS_PERIOD, cx.now());
        self.timer(next.saturating_since(cx.now()), Tick::RuntimeStatus, cx);
    }

    /// `updateRuntimeUp`: the runtime's status call (kubesim asks for its version, the
    /// one status the runtime reports).
    pub(super) fn poll_runtime(&mut self, cx: &mut Context<'_, Msg>) {
        self.runtime_poll_armed = false;
        if self.runtime_health.is_up() {
            return;
        }
        self.cri(CriRequest::Version, Call::RuntimeStatus, cx);
    }

    /// The answer to a status check while the runtime was unreachable.
    pub(super) fn on_runtime_status(&mut self, ok: Option<(Str, Str)>, cx: &mut Context<'_, Msg>) {
        let Some((name, version)) = ok else {
            if !self.runtime_health.is_up() {
                self.arm_runtime_poll(cx);
            }
            return;
        };
        if self.runtime_health.is_up() {
            return;
        }
        self.runtime_health = RuntimeHealth::Up;
        self.node_status_inputs_changed = true;
        let node = self.setup.name.clone();
        cx.record("step", || {
            format!(
                "kubelet on node {node}: container runtime {name} answers again; resuming pod sync"
            )
        });
        if self.runtime_version.is_none() {
            // Down since this kubelet started: finish the start it could not make.
            self.runtime_version = Some(s(&format!("{name}://{version}")));
            self.register(cx);
        }
        if !self.adoption.done {
            self.cri(CriRequest::ListImages, Call::ListImages, cx);
            if self.adoption.sandboxes.is_none() {
                self.cri(CriRequest::ListPodSandbox, Call::ListSandboxes, cx);
            }
            if self.adoption.containers.is_none() {
                self.cri(CriRequest::ListContainers, Call::ListContainers, cx);
            }
            return;
        }
        // The first relist that succeeds: what changed while the runtime was silent.
        self.cri(CriRequest::ListContainers, Call::Relist, cx);
        let uids: Vec<u64> = self.workers.keys().copied().collect();
        for uid in uids {
            self.sync_pod(uid, cx);
        }
    }

    /// The relist after an outage: container exits and readiness the runtime could not
    /// report become the events the PLEG would have made of them; a container no pod
    /// owns (its start was cut short by the crash) is removed.
    pub(super) fn on_relist(&mut self, containers: Vec<ContainerInfo>, cx: &mut Context<'_, Msg>) {
        for info in containers {
            let Some(&(uid, index)) = self.container_owner.get(&info.container_id) else {
                if !matches!(info.state, ContainerState::Exited { .. }) {
                    let container_id = info.container_id;
                    let request = CriRequest::StopContainer {
                        container_id,
                        timeout: SimDuration::ZERO,
                    };
                    self.cri(request, Call::Orphan, cx);
                    self.cri(
                        CriRequest::RemoveContainer { container_id },
                        Call::Orphan,
                        cx,
                    );
                }
                continue;
            };
            let kind = match info.state {
                ContainerState::Exited { exit, .. } => ContainerEventKind::Exited(exit),
                ContainerState::Running { ready: true, .. } => {
                    let known_ready = self.workers.get(&uid).is_some_and(|worker| {
                        matches!(
                            worker.containers[index].stage,
                            ContainerStage::Running { ready: true, .. }
                        )
                    });
                    if known_ready {
                        continue;
                    }
                    ContainerEventKind::Ready
                }
                ContainerState::Running { .. } | ContainerState::Created => continue,
            };
            let event = ContainerEvent {
                container_id: info.container_id,
                sandbox_id: info.sandbox_id,
                kind,
            };
            self.on_container_event(event, cx);
        }
    }
}

impl Kubelet {
    /// A pod's call failed because the runtime is unreachable: put the pod back where it
    /// was before the call, so that it is made again once the runtime answers. True if
    /// undone; the calls whose failure upstream reports as a pod error (a sandbox, image
    /// pull, create or start failure, with its back-off) are left to their own handling.
    pub(super) fn undo_unavailable_call(&mut self, uid: u64, id: CallId, call: Call) -> bool {
        let Some(worker) = self.workers.get_mut(&uid) else {
            return false;
        };
        match call {
            Call::ImageStatus { index, .. } => {
                let record = &mut worker.containers[index];
                if record.stage != (ContainerStage::CheckingImage { call: id }) {
                    return false;
                }
                record.stage = ContainerStage::Waiting;
            }
            Call::StopContainer { index, .. } => {
                let record = &mut worker.containers[index];
                let ContainerStage::Stopping {
                    container_id,
                    started_at,
                    ready,
                    call,
                } = record.stage
                else {
                    return false;
                };
                if call != id {
                    return false;
                }
                // Still running: its kill begins again.
                record.stage = ContainerStage::Running {
                    container_id,
                    started_at,
                    ready,
                };
            }
            Call::StopSandbox { .. } => {
                let SandboxStage::Stopping { sandbox_id, call } = worker.sandbox else {
                    return false;
                };
                if call != id {
                    return false;
                }
                worker.sandbox = SandboxStage::Ready { sandbox_id };
            }
            _ => return false,
        }
        true
    }
}

/// The call's name for records: `StopContainer`.
pub(super) fn call_name(call: &Call) -> String {
    let debug = format!("{call:?}");
    debug
        .split([' ', '{'])
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Whether a CRI error says the runtime could not be reached.
pub(super) fn is_unavailable(result: &Result<impl Sized, CriError>) -> bool {
    matches!(result, Err(e) if e.code == CriErrorCode::Unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(millis: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_millis(millis)
    }

    fn secs(n: u64) -> SimTime {
        t(n * 1000)
    }

    #[test]
    fn grid_instants_count_from_the_kubelet_start() {
        let origin = t(2_300);
        let five = RUNTIME_STATUS_PERIOD;
        assert_eq!(grid_floor(origin, five, t(2_300)), t(2_300));
        assert_eq!(grid_floor(origin, five, t(7_299)), t(2_300));
        assert_eq!(grid_floor(origin, five, t(7_300)), t(7_300));
        assert_eq!(grid_next(origin, five, t(7_300)), t(12_300));
        assert_eq!(grid_next(origin, five, t(1_000)), t(2_300));
    }

    #[test]
    fn a_runtime_down_for_30s_makes_the_node_not_ready_and_3m_adds_pleg() {
        // Started at 0; the runtime vanished at 62.5 s: the last good status check was at
        // 60 s and the last good relist at 62 s.
        let health = RuntimeHealth::lost(SimTime::ZERO, SimDuration::from_secs(1), t(62_500));
        assert_eq!(
            health,
            RuntimeHealth::Down {
                last_status_ok: Some(secs(60)),
                last_relist_ok: Some(secs(62)),
            }
        );
        assert!(health.errors(secs(89)).is_empty());
        // `!last.Add(30s).After(now)`: down from exactly 90 s.
        assert_eq!(health.errors(secs(90)), ["container runtime is down"]);
        // The relist threshold is strict: 3m0s is still healthy, 3m1s is not.
        assert_eq!(health.errors(secs(242)), ["container runtime is down"]);
        assert_eq!(
            health.errors(secs(243)),
            [
                "container runtime is down",
                "PLEG is not healthy: pleg was last seen active 3m1s ago; threshold is 3m0s"
            ]
        );
        assert!(RuntimeHealth::Up.errors(secs(1_000)).is_empty());
        // Found gone at the very start: nothing has succeeded yet.
        let at_start = RuntimeHealth::lost(secs(10), SimDuration::from_secs(1), secs(10));
        assert_eq!(
            at_start.errors(secs(10)),
            [
                "container runtime status check may not have completed yet",
                "PLEG is not healthy: pleg has yet to be successful"
            ]
        );
    }

    #[test]
    fn the_ready_condition_carries_the_aggregate() {
        let ready = NodeCondition {
            status: ConditionStatus::True,
            reason: s("KubeletReady"),
            message: s("kubelet is posting ready status"),
            last_heartbeat_time: secs(100),
            last_transition_time: secs(5),
        };
        assert_eq!(ready_condition(ready.clone(), &[], None, secs(100)), ready);
        let errors = vec![
            "container runtime is down".to_string(),
            "PLEG is not healthy: pleg was last seen active 3m1s ago; threshold is 3m0s"
                .to_string(),
        ];
        let not_ready = ready_condition(ready.clone(), &errors, Some(&ready), secs(100));
        assert_eq!(not_ready.status, ConditionStatus::False);
        assert_eq!(&*not_ready.reason, "KubeletNotReady");
        assert_eq!(
            &*not_ready.message,
            "[container runtime is down, PLEG is not healthy: pleg was last seen active 3m1s ago; threshold is 3m0s]"
        );
        assert_eq!(not_ready.last_transition_time, secs(100));
        // Still False ten seconds later: the transition time stays.
        let later = ready_condition(ready, &errors[..1], Some(&not_ready), secs(110));
        assert_eq!(&*later.message, "container runtime is down");
        assert_eq!(later.last_transition_time, secs(100));
    }

    #[test]
    fn durations_print_as_go_does() {
        assert_eq!(go_duration(SimDuration::from_mins(3)), "3m0s");
        assert_eq!(go_duration(SimDuration::from_millis(185_500)), "3m5.5s");
        assert_eq!(go_duration(SimDuration::from_secs(3_600)), "1h0m0s");
        assert_eq!(go_duration(SimDuration::from_millis(750)), "750ms");
        assert_eq!(go_duration(SimDuration::from_nanos(1_500)), "1.5µs");
        assert_eq!(go_duration(SimDuration::from_secs(30)), "30s");
        assert_eq!(
            go_duration(SimDuration::from_nanos(180_000_000_001)),
            "3m0.000000001s"
        );
    }
}
