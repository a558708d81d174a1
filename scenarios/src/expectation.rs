//! Expectations: named checks of the cluster's state at a time or at the end of a run.
//! Each is evaluated against an [`Observation`] taken from outside the simulation (etcd's
//! store, kube-proxy's programmed rules) and yields a message that shows what was expected
//! and what was found.

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use components::api::{
    ConditionStatus, ContainerState, ContainerStateTerminated, ContainerStatus, Deployment,
    DeploymentConditionType, Job, JobConditionType, LABEL_ZONE, Labels, Node, Pod,
    PodDisruptionBudget, PodPhase, QosClass, ReplicaSet, Resource, StatefulSet, TAINT_NOT_READY,
    TAINT_UNREACHABLE, TaintEffect,
};
use components::controllers::deployment::REVISION_ANNOTATION;
use sim_core::{SimDuration, SimTime};

/// A comparison against a count: `3`, `>= 3`, `< 2`, `!= 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// The operator `text` starts with (`Eq` without one) and what follows it.
    fn split(text: &str) -> (CmpOp, &str) {
        let trimmed = text.trim();
        [
            (">=", CmpOp::Ge),
            ("<=", CmpOp::Le),
            ("==", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            (">", CmpOp::Gt),
            ("<", CmpOp::Lt),
        ]
        .iter()
        .find_map(|(prefix, op)| trimmed.strip_prefix(prefix).map(|rest| (*op, rest)))
        .unwrap_or((CmpOp::Eq, trimmed))
    }

    /// Whether `actual` compares to `expected` as this operator says.
    fn holds<T: PartialOrd>(self, actual: T, expected: T) -> bool {
        match self {
            CmpOp::Eq => actual == expected,
            CmpOp::Ne => actual != expected,
            CmpOp::Lt => actual < expected,
            CmpOp::Le => actual <= expected,
            CmpOp::Gt => actual > expected,
            CmpOp::Ge => actual >= expected,
        }
    }

    /// How the operator is written before a value (nothing for `Eq`).
    fn prefix(self) -> &'static str {
        match self {
            CmpOp::Eq => "",
            CmpOp::Ne => "!= ",
            CmpOp::Lt => "< ",
            CmpOp::Le => "<= ",
            CmpOp::Gt => "> ",
            CmpOp::Ge => ">= ",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count {
    pub op: CmpOp,
    pub value: u32,
}

impl Count {
    pub const fn exactly(value: u32) -> Count {
        Count {
            op: CmpOp::Eq,
            value,
        }
    }

    /// `3`, `== 3`, `>= 3`, `> 2`, `<= 1`, `< 2`, `!= 0`.
    pub fn parse(text: &str) -> Result<Count, String> {
        let (op, rest) = CmpOp::split(text);
        let value = rest.trim().parse::<u32>().map_err(|_| {
            format!("invalid count {text:?}: use a number or a comparison such as \">= 3\"")
        })?;
        Ok(Count { op, value })
    }

    pub fn holds(self, actual: u32) -> bool {
        self.op.holds(actual, self.value)
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = self.op.prefix();
        write!(f, "{op}{}", self.value)
    }
}

/// A comparison against a quantity of bytes: `652Mi`, `>= 600Mi`, `< 1Gi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BytesCmp {
    pub op: CmpOp,
    pub bytes: u64,
}

impl BytesCmp {
    pub fn parse(text: &str) -> Result<BytesCmp, String> {
        let (op, rest) = CmpOp::split(text);
        let bytes =
            components::api::quantity::parse_bytes(rest.trim()).map_err(|e| e.to_string())?;
        Ok(BytesCmp { op, bytes })
    }

    pub fn holds(self, actual: u64) -> bool {
        self.op.holds(actual, self.bytes)
    }
}

impl fmt::Display for BytesCmp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = self.op.prefix();
        write!(
            f,
            "{op}{}",
            components::api::quantity::format_bytes(self.bytes)
        )
    }
}

/// Which pods a pods check counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodFilter {
    pub phase: Option<PodPhase>,
    pub node: Option<String>,
    pub namespace: Option<String>,
    pub labels: Labels,
    pub terminating: Option<bool>,
    /// The PodScheduled condition's status, reason and message.
    pub scheduled: Option<ConditionStatus>,
    pub scheduled_reason: Option<String>,
    pub scheduled_message: Option<String>,
    pub nominated_node: Option<String>,
    /// Labels the pod's node must carry (an unbound pod never matches a non-empty set).
    pub node_labels: Labels,
    /// Only the pod with this name.
    pub name: Option<String>,
    /// Only pods whose Ready condition has this status.
    pub ready: Option<ConditionStatus>,
    /// Only pods with a container running this image.
    pub image: Option<String>,
    /// Only pods whose `status.reason` is this (`Evicted`).
    pub reason: Option<String>,
    /// Only pods whose `status.message` begins with this.
    pub message_prefix: Option<String>,
    /// Only pods of this QoS class.
    pub qos_class: Option<QosClass>,
    /// Only pods whose Ready condition is True since this second.
    pub ready_at: Option<SimTime>,
    /// Only pods with a container waiting for this reason.
    pub waiting_reason: Option<String>,
    /// Only Ready pods Ready this long after their creation: from the first (inclusive)
    /// to the second (exclusive).
    pub startup_latency: Option<(SimDuration, Option<SimDuration>)>,
}

impl PodFilter {
    /// Whether `pod` passes; `node_of` finds the Node a pod is bound to.
    pub fn matches<'n>(&self, pod: &Pod, node_of: impl Fn(&str) -> Option<&'n Node>) -> bool {
        self.matches_pod(pod)
            && (self.node_labels.is_empty()
                || pod
                    .spec
                    .node_name
                    .as_deref()
                    .and_then(node_of)
                    .is_some_and(|node| node.metadata.labels.contains_all(&self.node_labels)))
    }

    fn matches_pod(&self, pod: &Pod) -> bool {
        let condition = &pod.status;
        self.scheduled.is_none_or(|s| condition.scheduled == s)
            && self
                .scheduled_reason
                .as_deref()
                .is_none_or(|r| condition.scheduled_reason.as_deref() == Some(r))
            && self
                .scheduled_message
                .as_deref()
                .is_none_or(|m| condition.scheduled_message.as_deref() == Some(m))
            && self
                .nominated_node
                .as_deref()
                .is_none_or(|n| condition.nominated_node_name.as_deref() == Some(n))
            && self.matches_basics(pod)
    }

    fn matches_basics(&self, pod: &Pod) -> bool {
        self.phase.is_none_or(|phase| pod.status.phase == phase)
            && self
                .node
                .as_deref()
                .is_none_or(|node| pod.spec.node_name.as_deref() == Some(node))
            && self
                .namespace
                .as_deref()
                .is_none_or(|ns| &*pod.metadata.namespace == ns)
            && pod.metadata.labels.contains_all(&self.labels)
            && self
                .terminating
                .is_none_or(|t| pod.metadata.is_terminating() == t)
            && self
                .image
                .as_deref()
                .is_none_or(|image| pod.spec.containers.iter().any(|c| &*c.image == image))
            && self
                .name
                .as_deref()
                .is_none_or(|name| &*pod.metadata.name == name)
            && self.ready.is_none_or(|ready| pod.status.ready == ready)
            && self
                .reason
                .as_deref()
                .is_none_or(|reason| pod.status.reason.as_deref() == Some(reason))
            && self.message_prefix.as_deref().is_none_or(|prefix| {
                pod.status
                    .message
                    .as_deref()
                    .is_some_and(|message| message.starts_with(prefix))
            })
            && self
                .qos_class
                .is_none_or(|class| pod.status.qos_class == Some(class))
            && self.ready_at.is_none_or(|at| {
                pod.status.ready == ConditionStatus::True
                    && pod.status.ready_since.map(|since| since.since_start().as_secs())
                        == Some(at.since_start().as_secs())
            })
            && self.startup_latency.is_none_or(|(min, max)| {
                pod.status.ready == ConditionStatus::True
                    && pod.status.ready_since.is_some_and(|since| {
                        let latency = since.saturating_since(pod.metadata.creation_timestamp);
                        latency >= min && max.is_none_or(|max| latency < max)
                    })
            })
            && self.waiting_reason.as_deref().is_none_or(|want| {
                pod.status.container_statuses.iter().any(
                    |status| matches!(&status.state, ContainerState::Waiting { reason } if &**reason == want),
                )
            })
    }

    /// `3 Running pods (not terminating) with app=web on node-2`.
    fn phrase(&self, count: &str, one: bool) -> String {
        let mut text = format!("{count} ");
        if let Some(phase) = self.phase {
            text.push_str(phase.name());
            text.push(' ');
        }
        text.push_str(if one { "pod" } else { "pods" });
        match self.terminating {
            Some(true) => text.push_str(" (terminating)"),
            Some(false) => text.push_str(" (not terminating)"),
            None => {}
        }
        if let Some(status) = self.scheduled {
            text.push_str(&format!(" with PodScheduled={}", status.name()));
        }
        if let Some(reason) = &self.scheduled_reason {
            text.push_str(&format!(" ({reason})"));
        }
        if let Some(message) = &self.scheduled_message {
            text.push_str(&format!(" saying {message:?}"));
        }
        if let Some(node) = &self.nominated_node {
            text.push_str(&format!(" nominated to {node}"));
        }
        if let Some(image) = &self.image {
            text.push_str(&format!(" running {image}"));
        }
        if let Some(name) = &self.name {
            text.push_str(&format!(" named {name}"));
        }
        if let Some(reason) = &self.reason {
            text.push_str(&format!(" with reason {reason}"));
        }
        if let Some(prefix) = &self.message_prefix {
            text.push_str(&format!(" whose message begins {prefix:?}"));
        }
        if let Some(class) = self.qos_class {
            text.push_str(&format!(" of QoS class {}", class.name()));
        }
        if let Some(ready) = self.ready {
            text.push_str(&format!(" with Ready={}", ready.name()));
        }
        if let Some(at) = self.ready_at {
            text.push_str(&format!(" Ready since {}s", at.since_start().as_secs()));
        }
        if let Some(reason) = &self.waiting_reason {
            text.push_str(&format!(" waiting ({reason})"));
        }
        if let Some((min, max)) = self.startup_latency {
            match max {
                Some(max) => text.push_str(&format!(" Ready {min} to {max} after creation")),
                None => text.push_str(&format!(" Ready {min} or more after creation")),
            }
        }
        if let Some(namespace) = &self.namespace {
            text.push_str(&format!(" in {namespace}"));
        }
        if !self.labels.is_empty() {
            text.push_str(&format!(" with {}", self.labels));
        }
        if let Some(node) = &self.node {
            text.push_str(&format!(" on {node}"));
        }
        if !self.node_labels.is_empty() {
            text.push_str(&format!(" on nodes with {}", self.node_labels));
        }
        text
    }
}

/// A Deployment condition's expected status and reason (each optional).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConditionCheck {
    pub status: Option<ConditionStatus>,
    pub reason: Option<String>,
}

/// What a deployment check asks of the rollout, beyond replica counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RolloutCheck {
    /// The Deployment's `deployment.kubernetes.io/revision` annotation.
    pub revision: Option<Count>,
    /// How many ReplicaSets the Deployment controls.
    pub replica_sets: Option<Count>,
    pub progressing: Option<ConditionCheck>,
    pub available_condition: Option<ConditionCheck>,
}

impl RolloutCheck {
    pub fn is_empty(&self) -> bool {
        *self == RolloutCheck::default()
    }

    fn evaluate(
        &self,
        deployment: &Deployment,
        replica_sets: &[Rc<ReplicaSet>],
        failures: &mut Vec<String>,
    ) -> String {
        let mut found = Vec::new();
        if let Some(want) = self.revision {
            let revision = deployment
                .metadata
                .annotations
                .get(REVISION_ANNOTATION)
                .and_then(|r| r.parse::<u32>().ok())
                .unwrap_or(0);
            compare(failures, "revision", Some(want), revision);
            found.push(format!("revision {revision}"));
        }
        if let Some(want) = self.replica_sets {
            let count = replica_sets
                .iter()
                .filter(|rs| {
                    rs.metadata.namespace == deployment.metadata.namespace
                        && rs
                            .metadata
                            .controller_ref()
                            .is_some_and(|owner| owner.uid == deployment.metadata.uid)
                })
                .count();
            let count = u32::try_from(count).unwrap_or(u32::MAX);
            compare(failures, "replicasets", Some(want), count);
            found.push(format!("{count} replicasets"));
        }
        for (type_, want) in [
            (DeploymentConditionType::Progressing, &self.progressing),
            (
                DeploymentConditionType::Available,
                &self.available_condition,
            ),
        ] {
            let Some(want) = want else { continue };
            let condition = deployment.status.condition(type_);
            let (status, reason) =
                condition.map_or(("absent", ""), |c| (c.status.name(), &*c.reason));
            let status_ok = want
                .status
                .is_none_or(|s| Some(s.name()) == condition.map(|c| c.status.name()));
            let reason_ok = want
                .reason
                .as_deref()
                .is_none_or(|r| condition.is_some_and(|c| &*c.reason == r));
            if !status_ok || !reason_ok {
                let mut text = format!("{}=", type_.name());
                text.push_str(want.status.map_or("*", ConditionStatus::name));
                if let Some(reason) = &want.reason {
                    text.push_str(&format!(" {reason}"));
                }
                failures.push(text);
            }
            found.push(
                format!("{}={status} {reason}", type_.name())
                    .trim_end()
                    .to_string(),
            );
        }
        found.join(", ")
    }
}

/// What an expectation checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// A Deployment's replica counts (`spec.replicas` and status), and its rollout.
    Deployment {
        namespace: String,
        name: String,
        desired: Option<Count>,
        updated: Option<Count>,
        ready: Option<Count>,
        available: Option<Count>,
        rollout: RolloutCheck,
    },
    /// A StatefulSet's `spec.replicas` and status.
    StatefulSet {
        namespace: String,
        name: String,
        counts: StatefulSetCounts,
    },
    /// A DaemonSet's status counts.
    DaemonSet {
        namespace: String,
        name: String,
        counts: DaemonSetCounts,
    },
    /// How many pods match, and on how many distinct nodes and zones they are.
    Pods {
        filter: PodFilter,
        count: Option<Count>,
        nodes: Option<Count>,
        zones: Option<Count>,
    },
    /// Nodes by their Ready condition.
    Nodes {
        ready: Option<Count>,
        not_ready: Option<Count>,
        unknown: Option<Count>,
    },
    /// One node's Ready, MemoryPressure and DiskPressure conditions and taints.
    Node {
        name: String,
        ready: Option<ConditionStatus>,
        memory_pressure: Option<ConditionStatus>,
        disk_pressure: Option<ConditionStatus>,
        taints: Vec<String>,
        untainted: Vec<String>,
    },
    /// A Job's status counts, whether it completed (and when, to the second), and why it
    /// failed.
    Job {
        namespace: String,
        name: String,
        active: Option<Count>,
        ready: Option<Count>,
        succeeded: Option<Count>,
        failed: Option<Count>,
        terminating: Option<Count>,
        complete: Option<bool>,
        failed_reason: Option<String>,
        completion_time: Option<SimTime>,
    },
    /// A HorizontalPodAutoscaler's status: replicas it saw and decided, and the CPU
    /// utilisation it measured (a check of it fails while none was measured).
    Hpa {
        namespace: String,
        name: String,
        current_replicas: Option<Count>,
        desired_replicas: Option<Count>,
        current_cpu_utilization_percentage: Option<Count>,
    },
    /// A PodDisruptionBudget's status.
    PodDisruptionBudget {
        namespace: String,
        name: String,
        counts: PodDisruptionBudgetCounts,
    },
    /// How many endpoints kube-proxy has programmed for a Service, on one node or on every
    /// node that is up.
    Endpoints {
        namespace: String,
        service: String,
        node: Option<String>,
        count: Count,
    },
    /// One container of a pod (regular or init), by its status.
    Container {
        namespace: String,
        pod: PodRef,
        name: String,
        check: ContainerExpectation,
    },
    /// The memory a node's kernel has charged: its processes, sandbox infra included.
    NodeMemory { node: String, in_use: BytesCmp },
    /// A node's disks, as its kernel accounts for them: the nodefs's available bytes and
    /// the images stored (`images`) or not (`no_images`).
    NodeDisk {
        node: String,
        available: Option<BytesCmp>,
        images: Vec<String>,
        no_images: Vec<String>,
    },
    /// The etcd cluster: its leader among the members that are up (`Some(None)`: none;
    /// `Some(Some("any"))`: one, whichever)
    /// and that leader's term (without a leader, the highest term of a member that is
    /// up), the alarm (`Some(None)`: none raised), and one member's (default: the
    /// freshest member's) applied revision.
    Etcd {
        leader: Option<Option<String>>,
        term: Option<Count>,
        alarm: Option<Option<String>>,
        member: Option<String>,
        revision: Option<Count>,
        /// How many revisions that member is behind the freshest one.
        behind: Option<Count>,
    },
    /// The requests of one verb (an index of `apiserver::requests::VERBS`) every
    /// kube-apiserver replica answered in `[from, to)` (`to`: the observation's time).
    Requests {
        verb: usize,
        from: SimTime,
        to: Option<SimTime>,
        count: Option<Count>,
        errors: Option<Count>,
    },
    /// Leader election of `kube-scheduler` or `kube-controller-manager`: the host of the
    /// replica that leads now by its own view (`Some(None)`: none leads), and the
    /// Lease's `leaseTransitions`.
    Leader {
        component: String,
        holder: Option<Option<String>>,
        transitions: Option<Count>,
    },
    /// What the container runtimes run: running containers and ready sandboxes, on one
    /// node or added up over the nodes that are up.
    Runtime {
        node: Option<String>,
        containers: Option<Count>,
        sandboxes: Option<Count>,
    },
    /// A zone as the node lifecycle controller sees it: its disruption state, how many
    /// of its nodes carry the controller's NoExecute taint, and how far apart (to the
    /// second) those taints were added, in order.
    Zone {
        name: String,
        state: Option<String>,
        tainted: Option<Count>,
        taint_interval: Option<SimDuration>,
    },
}

/// Which pod a container check reads: by name, or the one live pod with these labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodRef {
    Name(String),
    Labels(Labels),
}

impl std::fmt::Display for PodRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PodRef::Name(name) => f.write_str(name),
            PodRef::Labels(labels) => write!(f, "{labels}"),
        }
    }
}

/// What a container check asks of one container's status; `None` asks nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerExpectation {
    /// `Waiting`, `Running` or `Terminated`.
    pub state: Option<String>,
    /// The waiting or terminated reason.
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
    pub restart_count: Option<Count>,
    pub ready: Option<bool>,
    /// The running state's start, to the second.
    pub started_at: Option<SimTime>,
    /// The terminated state's end, to the second.
    pub finished_at: Option<SimTime>,
    /// The pod's STATUS as kubectl prints it.
    pub pod_status: Option<String>,
    pub started: Option<bool>,
    /// `lastState.terminated`.
    pub last_state: Option<LastStateExpectation>,
}

/// What a container check asks of `lastState.terminated`; `None` asks nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LastStateExpectation {
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
    /// To the second.
    pub started_at: Option<SimTime>,
    pub finished_at: Option<SimTime>,
}

impl LastStateExpectation {
    /// The failures of `shown` (a container's `lastState.terminated`).
    fn compare(&self, shown: Option<&ContainerStateTerminated>, failures: &mut Vec<String>) {
        let Some(shown) = shown else {
            failures.push("a lastState".to_string());
            return;
        };
        let secs = |t: SimTime| t.since_start().as_secs();
        if let Some(want) = &self.reason
            && **want != *shown.reason
        {
            failures.push(format!("lastState reason {want}"));
        }
        if let Some(want) = self.exit_code
            && want != shown.exit_code
        {
            failures.push(format!("lastState exitCode {want}"));
        }
        if let Some(want) = self.started_at
            && Some(secs(want)) != shown.started_at.map(secs)
        {
            failures.push(format!("lastState startedAt {}s", secs(want)));
        }
        if let Some(want) = self.finished_at
            && secs(want) != secs(shown.finished_at)
        {
            failures.push(format!("lastState finishedAt {}s", secs(want)));
        }
    }
}

impl ContainerExpectation {
    /// The failures of `status` (of a container of `pod`), and what was found.
    fn compare(&self, pod: &Pod, status: &ContainerStatus) -> (Vec<String>, String) {
        let (state, reason, exit_code, started_at, finished_at) = match &status.state {
            ContainerState::Waiting { reason } => ("Waiting", reason.to_string(), None, None, None),
            ContainerState::Running { started_at } => {
                ("Running", String::new(), None, Some(*started_at), None)
            }
            ContainerState::Terminated {
                exit_code,
                reason,
                finished_at,
            } => (
                "Terminated",
                reason.to_string(),
                Some(*exit_code),
                None,
                Some(*finished_at),
            ),
        };
        let secs = |t: Option<SimTime>| t.map(|t| t.since_start().as_secs());
        let pod_status = components::kubelet::status::kubectl_status(pod);
        let mut failures = Vec::new();
        if let Some(want) = &self.state
            && want != state
        {
            failures.push(format!("state {want}"));
        }
        if let Some(want) = &self.reason
            && *want != reason
        {
            failures.push(format!("reason {want}"));
        }
        if let Some(want) = self.exit_code
            && Some(want) != exit_code
        {
            failures.push(format!("exitCode {want}"));
        }
        compare(
            &mut failures,
            "restartCount",
            self.restart_count,
            status.restart_count,
        );
        if let Some(want) = self.ready
            && want != status.ready
        {
            failures.push(format!("ready {want}"));
        }
        if let Some(want) = self.started_at
            && secs(started_at) != secs(Some(want))
        {
            failures.push(format!("startedAt {}s", want.since_start().as_secs()));
        }
        if let Some(want) = self.finished_at
            && secs(finished_at) != secs(Some(want))
        {
            failures.push(format!("finishedAt {}s", want.since_start().as_secs()));
        }
        if let Some(want) = &self.pod_status
            && *want != pod_status
        {
            failures.push(format!("podStatus {want}"));
        }
        if let Some(want) = self.started
            && want != status.started
        {
            failures.push(format!("started {want}"));
        }
        if let Some(want) = &self.last_state {
            want.compare(status.last_state.as_ref(), &mut failures);
        }
        let mut found = state.to_string();
        if !reason.is_empty() {
            found.push_str(&format!(" ({reason})"));
        }
        if let Some(code) = exit_code {
            found.push_str(&format!(", exitCode {code}"));
        }
        if let Some(at) = secs(started_at) {
            found.push_str(&format!(", startedAt {at}s"));
        }
        if let Some(at) = secs(finished_at) {
            found.push_str(&format!(", finishedAt {at}s"));
        }
        found.push_str(&format!(
            ", restartCount {}, ready {}, started {}, pod {pod_status}",
            status.restart_count, status.ready, status.started
        ));
        if let Some(last) = &status.last_state {
            found.push_str(&format!(
                ", lastState ({}, exitCode {}",
                last.reason, last.exit_code
            ));
            if let Some(at) = last.started_at {
                found.push_str(&format!(", startedAt {}s", secs(Some(at)).unwrap_or(0)));
            }
            found.push_str(&format!(
                ", finishedAt {}s)",
                last.finished_at.since_start().as_secs()
            ));
        }
        (failures, found)
    }
}

/// A StatefulSet's counts and whether its update is rolled out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatefulSetCounts {
    pub desired: Option<Count>,
    pub replicas: Option<Count>,
    pub ready: Option<Count>,
    pub current: Option<Count>,
    pub updated: Option<Count>,
    pub available: Option<Count>,
    pub rolled_out: Option<bool>,
}

/// The status counts a PodDisruptionBudget check asks about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodDisruptionBudgetCounts {
    pub current_healthy: Option<Count>,
    pub desired_healthy: Option<Count>,
    pub disruptions_allowed: Option<Count>,
    pub expected_pods: Option<Count>,
    pub disrupted_pods: Option<Count>,
}

/// A DaemonSet's status counts (each optional).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DaemonSetCounts {
    pub desired: Option<Count>,
    pub current: Option<Count>,
    pub ready: Option<Count>,
    pub available: Option<Count>,
    pub updated: Option<Count>,
    pub misscheduled: Option<Count>,
}

/// A named check, evaluated at `at` or at the end of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    pub name: String,
    pub at: Option<SimTime>,
    pub check: Check,
}

/// What the cluster looks like at one instant, seen from outside the simulation.
#[derive(Clone, Debug, Default)]
pub struct Observation {
    pub time: SimTime,
    pub pods: Vec<Rc<Pod>>,
    pub nodes: Vec<Rc<Node>>,
    pub deployments: Vec<Rc<Deployment>>,
    pub stateful_sets: Vec<Rc<StatefulSet>>,
    pub daemon_sets: Vec<Rc<components::api::DaemonSet>>,
    pub replica_sets: Vec<Rc<ReplicaSet>>,
    pub jobs: Vec<Rc<Job>>,
    pub budgets: Vec<Rc<PodDisruptionBudget>>,
    pub hpas: Vec<Rc<components::api::HorizontalPodAutoscaler>>,
    /// Worker nodes whose host is up.
    pub nodes_up: Vec<String>,
    /// Endpoints kube-proxy has programmed, by (node, namespace, service). A node whose
    /// kube-proxy has no rule for the Service is absent (zero endpoints).
    pub proxy_endpoints: BTreeMap<(String, String, String), u32>,
    /// Each zone's disruption state in the node lifecycle controller, by zone name.
    pub zone_states: BTreeMap<String, String>,
    /// Every etcd member's state, in member order.
    pub etcd: Vec<EtcdMemberState>,
    /// Memory each node's kernel has charged, for the nodes a `nodeMemory` check names.
    pub node_memory_bytes: BTreeMap<String, u64>,
    /// Each node's nodefs available bytes and stored images, for the nodes a `nodeDisk`
    /// check names (absent: the host is down or has no filesystems).
    pub node_disk: BTreeMap<String, (u64, Vec<String>)>,
    /// What every kube-apiserver replica answered, per verb and second (filled when a
    /// `requests` check asks).
    pub requests: components::apiserver::requests::RequestStats,
    /// Each electing component's leader election, by component name.
    pub leaders: BTreeMap<String, LeaderState>,
    /// Each node's running containers and ready sandboxes (`crictl ps`, `crictl pods`),
    /// for the nodes that are up, when a `runtime` check asks.
    pub runtime_counts: BTreeMap<String, (u32, u32)>,
}

/// A replicated component's leader election, as a `leader` check reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaderState {
    /// The hosts of the replicas that lead now, each by its own view.
    pub leading_hosts: Vec<String>,
    /// The Lease's `leaseTransitions` in etcd (`None`: no Lease yet).
    pub transitions: Option<u32>,
    /// The Lease's `holderIdentity`.
    pub holder_identity: Option<String>,
}

/// One etcd member, as an `etcd` check reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EtcdMemberState {
    pub name: String,
    pub up: bool,
    pub leader: bool,
    pub term: u64,
    pub revision: u64,
    pub alarm: Option<String>,
    /// The backend database's size (what `--quota-backend-bytes` limits).
    pub db_size_bytes: u64,
    /// The member observers read the cluster's state from (`Cluster::etcd`).
    pub freshest: bool,
}

/// The verdict on an `etcd` check.
fn etcd_verdict(
    members: &[EtcdMemberState],
    leader: &Option<Option<String>>,
    term: Option<Count>,
    alarm: &Option<Option<String>>,
    member: &Option<String>,
    revision: Option<Count>,
    behind: Option<Count>,
) -> Verdict {
    let up: Vec<&EtcdMemberState> = members.iter().filter(|m| m.up).collect();
    // The leader of the highest term, if several members still think they lead.
    let current = up
        .iter()
        .filter(|m| m.leader)
        .max_by_key(|m| m.term)
        .map(|m| (m.name.clone(), m.term));
    let found_term = current
        .as_ref()
        .map(|(_, term)| *term)
        .unwrap_or_else(|| up.iter().map(|m| m.term).max().unwrap_or(0));
    let freshest = members.iter().find(|m| m.freshest);
    let found_alarm = freshest.and_then(|m| m.alarm.clone());
    let read = match member {
        Some(name) => members.iter().find(|m| &m.name == name),
        None => freshest,
    };
    let mut failures = Vec::new();
    let leader_holds = |want: &Option<String>| match want.as_deref() {
        Some("any") => current.is_some(),
        want => want == current.as_ref().map(|(name, _)| name.as_str()),
    };
    if let Some(want) = leader
        && !leader_holds(want)
    {
        failures.push(format!("leader {}", want.as_deref().unwrap_or("none")));
    }
    if let Some(want) = term
        && !want.holds(u32::try_from(found_term).unwrap_or(u32::MAX))
    {
        failures.push(format!("term {want}"));
    }
    if let Some(want) = alarm
        && *want != found_alarm
    {
        failures.push(format!("alarm {}", want.as_deref().unwrap_or("none")));
    }
    let found_revision = read.map_or(0, |m| m.revision);
    if let Some(want) = revision
        && !want.holds(u32::try_from(found_revision).unwrap_or(u32::MAX))
    {
        failures.push(format!(
            "revision {want} on {}",
            read.map_or("the freshest member", |m| m.name.as_str())
        ));
    }
    let newest = freshest.map_or(0, |m| m.revision);
    let found_behind = newest.saturating_sub(found_revision);
    if let Some(want) = behind
        && !want.holds(u32::try_from(found_behind).unwrap_or(u32::MAX))
    {
        failures.push(format!(
            "{} behind {want}",
            read.map_or("the freshest member", |m| m.name.as_str())
        ));
    }
    let found = format!(
        "leader {} in term {found_term}, alarm {}, revision {found_revision}{} ({found_behind} behind the freshest), database {}; members up: {}",
        current.as_ref().map_or("none", |(name, _)| name.as_str()),
        found_alarm.as_deref().unwrap_or("none"),
        read.map(|m| format!(" on {}", m.name)).unwrap_or_default(),
        components::api::quantity::format_bytes(read.map_or(0, |m| m.db_size_bytes)),
        up.iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Verdict::of(failures, found)
}

/// The verdict on one expectation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub passed: bool,
    pub message: String,
}

impl Verdict {
    /// The failing verdict on an object that does not exist (`kind` in lower case, as
    /// kubectl names it).
    fn missing(kind: &str, namespace: &str, name: &str) -> Verdict {
        Verdict {
            passed: false,
            message: format!("expected {kind} {namespace}/{name}; it does not exist"),
        }
    }

    fn of(failures: Vec<String>, found: String) -> Verdict {
        if failures.is_empty() {
            Verdict {
                passed: true,
                message: found,
            }
        } else {
            Verdict {
                passed: false,
                message: format!("expected {}; got {found}", failures.join(", ")),
            }
        }
    }
}

/// Adds `what want` to `failures` when `want` does not hold for `actual`.
fn compare(failures: &mut Vec<String>, what: &str, want: Option<Count>, actual: u32) {
    if let Some(want) = want
        && !want.holds(actual)
    {
        failures.push(format!("{what} {want}"));
    }
}

/// The object named `namespace/name` among `objects`.
fn find_named<'a, T: Resource>(objects: &'a [Rc<T>], namespace: &str, name: &str) -> Option<&'a T> {
    objects
        .iter()
        .find(|object| {
            let meta = object.metadata();
            &*meta.namespace == namespace && &*meta.name == name
        })
        .map(|object| &**object)
}

/// Compares each row `(field, wanted, actual)` as `compare` does: the failures, and what was
/// found written `field actual, field actual, ...`.
fn compare_rows(rows: &[(&str, Option<Count>, u32)]) -> (Vec<String>, String) {
    let mut failures = Vec::new();
    let mut found = Vec::with_capacity(rows.len());
    for &(what, want, actual) in rows {
        compare(&mut failures, what, want, actual);
        found.push(format!("{what} {actual}"));
    }
    (failures, found.join(", "))
}

impl Check {
    pub fn evaluate(&self, observation: &Observation) -> Verdict {
        match self {
            Check::Deployment {
                namespace,
                name,
                desired,
                updated,
                ready,
                available,
                rollout,
            } => {
                let Some(deployment) = find_named(&observation.deployments, namespace, name) else {
                    return Verdict::missing("deployment", namespace, name);
                };
                let (mut failures, counts) = compare_rows(&[
                    ("desired", *desired, deployment.spec.replicas),
                    ("updated", *updated, deployment.status.updated_replicas),
                    ("ready", *ready, deployment.status.ready_replicas),
                    (
                        "available",
                        *available,
                        deployment.status.available_replicas,
                    ),
                ]);
                let mut found = format!("{namespace}/{name}: {counts}");
                let rollout_found =
                    rollout.evaluate(deployment, &observation.replica_sets, &mut failures);
                if !rollout_found.is_empty() {
                    found.push_str(&format!(", {rollout_found}"));
                }
                Verdict::of(failures, found)
            }
            Check::Job {
                namespace,
                name,
                active,
                ready,
                succeeded,
                failed,
                terminating,
                complete,
                failed_reason,
                completion_time,
            } => {
                let Some(job) = find_named(&observation.jobs, namespace, name) else {
                    return Verdict::missing("job", namespace, name);
                };
                let status = &job.status;
                let (mut failures, counts) = compare_rows(&[
                    ("active", *active, status.active),
                    ("ready", *ready, status.ready),
                    ("succeeded", *succeeded, status.succeeded),
                    ("failed", *failed, status.failed),
                    ("terminating", *terminating, status.terminating),
                ]);
                let is_complete = status.has(JobConditionType::Complete);
                if complete.is_some_and(|want| want != is_complete) {
                    failures.push(
                        if is_complete {
                            "not complete"
                        } else {
                            "complete"
                        }
                        .to_string(),
                    );
                }
                let failed_condition = status
                    .condition(JobConditionType::Failed)
                    .filter(|c| c.status == ConditionStatus::True);
                match failed_reason.as_deref() {
                    Some("") if failed_condition.is_some() => {
                        failures.push("not Failed".to_string())
                    }
                    Some("") | None => {}
                    Some(reason) => {
                        if failed_condition.is_none_or(|c| &*c.reason != reason) {
                            failures.push(format!("Failed={reason}"));
                        }
                    }
                }
                let completed_secs = status.completion_time.map(|t| t.since_start().as_secs());
                if let Some(want) = completion_time
                    && completed_secs != Some(want.since_start().as_secs())
                {
                    failures.push(format!("completionTime {}s", want.since_start().as_secs()));
                }
                let mut found = format!("{namespace}/{name}: {counts}");
                for condition in &status.conditions {
                    if condition.status == ConditionStatus::True {
                        found.push_str(&format!(", {}", condition.type_.name()));
                        if !condition.reason.is_empty() {
                            found.push_str(&format!(" ({})", condition.reason));
                        }
                    }
                }
                if let Some(secs) = completed_secs {
                    found.push_str(&format!(", completionTime {secs}s"));
                }
                Verdict::of(failures, found)
            }
            Check::Container {
                namespace,
                pod,
                name,
                check,
            } => {
                let found_pod = match pod {
                    PodRef::Name(name) => find_named(&observation.pods, namespace, name),
                    PodRef::Labels(labels) => {
                        let mut live = observation.pods.iter().filter(|p| {
                            &*p.metadata.namespace == namespace.as_str()
                                && p.metadata.deletion_timestamp.is_none()
                                && p.metadata.labels.contains_all(labels)
                        });
                        match (live.next(), live.next()) {
                            (Some(one), None) => Some(&**one),
                            (first, _) => {
                                let count = usize::from(first.is_some()) + 1 + live.count();
                                let count = if first.is_none() { 0 } else { count };
                                return Verdict {
                                    passed: false,
                                    message: format!(
                                        "expected one live pod with {labels} in {namespace}; found {count}"
                                    ),
                                };
                            }
                        }
                    }
                };
                let Some(found_pod) = found_pod else {
                    return Verdict::missing("pod", namespace, &pod.to_string());
                };
                let status = found_pod
                    .status
                    .init_container_statuses
                    .iter()
                    .chain(&found_pod.status.container_statuses)
                    .find(|c| &*c.name == name);
                let Some(status) = status else {
                    return Verdict {
                        passed: false,
                        message: format!(
                            "expected a status of container {name} in pod {namespace}/{pod}; it has none"
                        ),
                    };
                };
                let (failures, found) = check.compare(found_pod, status);
                let pod = &found_pod.metadata.name;
                Verdict::of(
                    failures,
                    format!("{namespace}/{pod} container {name}: {found}"),
                )
            }
            Check::Hpa {
                namespace,
                name,
                current_replicas,
                desired_replicas,
                current_cpu_utilization_percentage,
            } => {
                let Some(hpa) = find_named(&observation.hpas, namespace, name) else {
                    return Verdict::missing("horizontalpodautoscaler", namespace, name);
                };
                let status = &hpa.status;
                let utilization = status
                    .current_cpu
                    .map(|cpu| cpu.average_utilization_percent);
                let (mut failures, counts) = compare_rows(&[
                    (
                        "currentReplicas",
                        *current_replicas,
                        status.current_replicas,
                    ),
                    (
                        "desiredReplicas",
                        *desired_replicas,
                        status.desired_replicas,
                    ),
                ]);
                if let Some(expected) = current_cpu_utilization_percentage {
                    match utilization {
                        Some(value) => compare(
                            &mut failures,
                            "currentCPUUtilizationPercentage",
                            Some(*expected),
                            value,
                        ),
                        None => failures
                            .push("currentCPUUtilizationPercentage: none measured yet".to_string()),
                    }
                }
                Verdict::of(
                    failures,
                    format!(
                        "{namespace}/{name}: {counts}, currentCPUUtilizationPercentage {}",
                        utilization.map_or("none".to_string(), |u| format!("{u}%"))
                    ),
                )
            }
            Check::PodDisruptionBudget {
                namespace,
                name,
                counts,
            } => {
                let Some(budget) = find_named(&observation.budgets, namespace, name) else {
                    return Verdict::missing("poddisruptionbudget", namespace, name);
                };
                let status = &budget.status;
                let disrupted = u32::try_from(status.disrupted_pods.len()).unwrap_or(u32::MAX);
                let (failures, found) = compare_rows(&[
                    (
                        "currentHealthy",
                        counts.current_healthy,
                        status.current_healthy,
                    ),
                    (
                        "desiredHealthy",
                        counts.desired_healthy,
                        status.desired_healthy,
                    ),
                    (
                        "disruptionsAllowed",
                        counts.disruptions_allowed,
                        status.disruptions_allowed,
                    ),
                    ("expectedPods", counts.expected_pods, status.expected_pods),
                    ("disruptedPods", counts.disrupted_pods, disrupted),
                ]);
                Verdict::of(failures, format!("{namespace}/{name}: {found}"))
            }
            Check::DaemonSet {
                namespace,
                name,
                counts,
            } => {
                let Some(ds) = find_named(&observation.daemon_sets, namespace, name) else {
                    return Verdict::missing("daemonset", namespace, name);
                };
                let status = &ds.status;
                let (failures, found) = compare_rows(&[
                    ("desired", counts.desired, status.desired_number_scheduled),
                    ("current", counts.current, status.current_number_scheduled),
                    ("ready", counts.ready, status.number_ready),
                    ("available", counts.available, status.number_available),
                    ("updated", counts.updated, status.updated_number_scheduled),
                    (
                        "misscheduled",
                        counts.misscheduled,
                        status.number_misscheduled,
                    ),
                ]);
                Verdict::of(failures, format!("{namespace}/{name}: {found}"))
            }
            Check::StatefulSet {
                namespace,
                name,
                counts,
            } => {
                let Some(set) = find_named(&observation.stateful_sets, namespace, name) else {
                    return Verdict::missing("statefulset", namespace, name);
                };
                let status = &set.status;
                let rolled_out = !status.update_revision.is_empty()
                    && status.current_revision == status.update_revision;
                let (mut failures, found) = compare_rows(&[
                    ("desired", counts.desired, set.spec.replicas),
                    ("replicas", counts.replicas, status.replicas),
                    ("ready", counts.ready, status.ready_replicas),
                    ("current", counts.current, status.current_replicas),
                    ("updated", counts.updated, status.updated_replicas),
                    ("available", counts.available, status.available_replicas),
                ]);
                if let Some(want) = counts.rolled_out
                    && want != rolled_out
                {
                    failures.push(format!("rolledOut {want}"));
                }
                Verdict::of(
                    failures,
                    format!("{namespace}/{name}: {found}, rolledOut {rolled_out}"),
                )
            }
            Check::Pods {
                filter,
                count,
                nodes,
                zones,
            } => {
                let node_of = |name: &str| {
                    observation
                        .nodes
                        .iter()
                        .find(|node| &*node.metadata.name == name)
                        .map(|node| &**node)
                };
                let matching: Vec<&Rc<Pod>> = observation
                    .pods
                    .iter()
                    .filter(|pod| filter.matches(pod, node_of))
                    .collect();
                let mut distinct_nodes: Vec<&str> = matching
                    .iter()
                    .filter_map(|pod| pod.spec.node_name.as_deref())
                    .collect();
                distinct_nodes.sort();
                distinct_nodes.dedup();
                let mut distinct_zones: Vec<&str> = distinct_nodes
                    .iter()
                    .filter_map(|name| node_of(name)?.metadata.labels.get(LABEL_ZONE).map(|z| &**z))
                    .collect();
                distinct_zones.sort();
                distinct_zones.dedup();
                let pod_count = u32::try_from(matching.len()).unwrap_or(u32::MAX);
                let node_count = u32::try_from(distinct_nodes.len()).unwrap_or(u32::MAX);
                let zone_count = u32::try_from(distinct_zones.len()).unwrap_or(u32::MAX);
                let mut failures = Vec::new();
                if let Some(want) = count
                    && !want.holds(pod_count)
                {
                    failures.push(filter.phrase(&want.to_string(), *want == Count::exactly(1)));
                }
                if let Some(want) = nodes
                    && !want.holds(node_count)
                {
                    let noun = if *want == Count::exactly(1) {
                        "node"
                    } else {
                        "nodes"
                    };
                    failures.push(format!("on {want} {noun}"));
                }
                if let Some(want) = zones
                    && !want.holds(zone_count)
                {
                    let noun = if *want == Count::exactly(1) {
                        "zone"
                    } else {
                        "zones"
                    };
                    failures.push(format!("in {want} {noun}"));
                }
                let mut found = filter.phrase(&pod_count.to_string(), pod_count == 1);
                if filter.node.is_none() && node_count > 0 {
                    let noun = if node_count == 1 { "node" } else { "nodes" };
                    found.push_str(&format!(" on {node_count} {noun}"));
                    if zones.is_some() {
                        let noun = if zone_count == 1 { "zone" } else { "zones" };
                        found.push_str(&format!(" in {zone_count} {noun}"));
                    }
                }
                if !failures.is_empty() {
                    found.push_str(&pod_listing(&matching));
                }
                Verdict::of(failures, found)
            }
            Check::Nodes {
                ready,
                not_ready,
                unknown,
            } => {
                let (mut r, mut n, mut u) = (0u32, 0u32, 0u32);
                for node in &observation.nodes {
                    match node.status.ready.status {
                        ConditionStatus::True => r += 1,
                        ConditionStatus::False => n += 1,
                        ConditionStatus::Unknown => u += 1,
                    }
                }
                let (failures, found) = compare_rows(&[
                    ("ready", *ready, r),
                    ("not ready", *not_ready, n),
                    ("unknown", *unknown, u),
                ]);
                Verdict::of(failures, format!("nodes {found}"))
            }
            Check::Runtime {
                node,
                containers,
                sandboxes,
            } => {
                let counted: Vec<(&String, &(u32, u32))> = observation
                    .runtime_counts
                    .iter()
                    .filter(|(name, _)| node.as_ref().is_none_or(|n| n == *name))
                    .collect();
                let running: u32 = counted.iter().map(|(_, (c, _))| c).sum();
                let ready: u32 = counted.iter().map(|(_, (_, s))| s).sum();
                let place = match node {
                    Some(node) => format!("on {node}"),
                    None => "on the nodes that are up".to_string(),
                };
                let mut failures = Vec::new();
                if let Some(count) = containers
                    && !count.holds(running)
                {
                    failures.push(format!("{count} running containers {place}"));
                }
                if let Some(count) = sandboxes
                    && !count.holds(ready)
                {
                    failures.push(format!("{count} ready sandboxes {place}"));
                }
                if node.is_some() && counted.is_empty() {
                    failures.push(format!("a runtime {place} (its host is down)"));
                }
                Verdict::of(
                    failures,
                    format!("{running} running containers and {ready} ready sandboxes {place}"),
                )
            }
            Check::Leader {
                component,
                holder,
                transitions,
            } => {
                let state = observation
                    .leaders
                    .get(component)
                    .cloned()
                    .unwrap_or_default();
                let mut failures = Vec::new();
                let leading = match state.leading_hosts.as_slice() {
                    [] => "none".to_string(),
                    hosts => hosts.join(" and "),
                };
                if let Some(holder) = holder {
                    let wanted = holder.as_deref().unwrap_or("none");
                    if leading != wanted {
                        failures.push(format!("{component} led from {wanted}"));
                    }
                }
                let found_transitions = state.transitions.unwrap_or(0);
                if let Some(count) = transitions
                    && !count.holds(found_transitions)
                {
                    failures.push(format!("leaseTransitions {count}"));
                }
                Verdict::of(
                    failures,
                    format!(
                        "{component} led from {leading}, Lease held by {} with leaseTransitions {found_transitions}",
                        state.holder_identity.as_deref().unwrap_or("nobody")
                    ),
                )
            }
            Check::Etcd {
                leader,
                term,
                alarm,
                member,
                revision,
                behind,
            } => etcd_verdict(
                &observation.etcd,
                leader,
                *term,
                alarm,
                member,
                *revision,
                *behind,
            ),
            Check::NodeMemory { node, in_use } => match observation.node_memory_bytes.get(node) {
                None => Verdict {
                    passed: false,
                    message: format!("expected node {node}'s memory; its host is down"),
                },
                Some(&bytes) => {
                    let failures = if in_use.holds(bytes) {
                        Vec::new()
                    } else {
                        vec![format!("{in_use} in use on {node}")]
                    };
                    Verdict::of(
                        failures,
                        format!(
                            "{} in use on {node}",
                            components::api::quantity::format_bytes(bytes)
                        ),
                    )
                }
            },
            Check::NodeDisk {
                node,
                available,
                images,
                no_images,
            } => match observation.node_disk.get(node) {
                None => Verdict {
                    passed: false,
                    message: format!(
                        "expected node {node}'s disks; its host is down or it has no filesystems"
                    ),
                },
                Some((bytes, stored)) => {
                    let mut failures = Vec::new();
                    if let Some(cmp) = available
                        && !cmp.holds(*bytes)
                    {
                        failures.push(format!("{cmp} available on {node}"));
                    }
                    for image in images.iter().filter(|i| !stored.contains(i)) {
                        failures.push(format!("image {image} stored"));
                    }
                    for image in no_images.iter().filter(|i| stored.contains(i)) {
                        failures.push(format!("image {image} not stored"));
                    }
                    Verdict::of(
                        failures,
                        format!(
                            "{} available on {node}'s nodefs, images [{}]",
                            components::api::quantity::format_bytes(*bytes),
                            stored.join(", ")
                        ),
                    )
                }
            },
            Check::Requests {
                verb,
                from,
                to,
                count,
                errors,
            } => {
                let to = to.unwrap_or(observation.time);
                let served = observation.requests.between(*verb, *from, to);
                let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
                let (failures, found) = compare_rows(&[
                    ("requests", *count, clamp(served.count)),
                    ("errors", *errors, clamp(served.errors)),
                ]);
                Verdict::of(
                    failures,
                    format!(
                        "{} {found} between {from} and {to} (latency mean {}, max {})",
                        components::apiserver::requests::VERBS[*verb],
                        served.latency_mean(),
                        served.latency_max
                    ),
                )
            }
            Check::Zone {
                name,
                state,
                tainted,
                taint_interval,
            } => evaluate_zone(
                observation,
                name,
                state.as_deref(),
                *tainted,
                *taint_interval,
            ),
            Check::Node {
                name,
                ready,
                memory_pressure,
                disk_pressure,
                taints,
                untainted,
            } => {
                let Some(node) = observation
                    .nodes
                    .iter()
                    .find(|n| &*n.metadata.name == name.as_str())
                else {
                    return Verdict {
                        passed: false,
                        message: format!("expected node {name}; it is not registered"),
                    };
                };
                let has = |key: &str| node.spec.taints.iter().any(|t| &*t.key == key);
                let mut failures = Vec::new();
                if let Some(want) = ready
                    && node.status.ready.status != *want
                {
                    failures.push(format!("Ready={}", want.name()));
                }
                if let Some(want) = memory_pressure
                    && node.status.memory_pressure != *want
                {
                    failures.push(format!("MemoryPressure={}", want.name()));
                }
                if let Some(want) = disk_pressure
                    && node.status.disk_pressure != *want
                {
                    failures.push(format!("DiskPressure={}", want.name()));
                }
                for key in taints.iter().filter(|key| !has(key)) {
                    failures.push(format!("taint {key}"));
                }
                for key in untainted.iter().filter(|key| has(key)) {
                    failures.push(format!("no taint {key}"));
                }
                let taint_list: Vec<String> = node
                    .spec
                    .taints
                    .iter()
                    .map(|t| format!("{}:{:?}", t.key, t.effect))
                    .collect();
                let taint_text = if taint_list.is_empty() {
                    "no taints".to_string()
                } else {
                    format!("taints {}", taint_list.join(", "))
                };
                Verdict::of(
                    failures,
                    format!(
                        "{name}: Ready={}, {}{}{taint_text}",
                        node.status.ready.status.name(),
                        if memory_pressure.is_some() {
                            format!("MemoryPressure={}, ", node.status.memory_pressure.name())
                        } else {
                            String::new()
                        },
                        if disk_pressure.is_some() {
                            format!("DiskPressure={}, ", node.status.disk_pressure.name())
                        } else {
                            String::new()
                        }
                    ),
                )
            }
            Check::Endpoints {
                namespace,
                service,
                node,
                count,
            } => {
                let nodes: Vec<&str> = match node {
                    Some(node) => vec![node.as_str()],
                    None => observation.nodes_up.iter().map(String::as_str).collect(),
                };
                let counts: Vec<(&str, u32)> = nodes
                    .iter()
                    .map(|node| {
                        let key = (node.to_string(), namespace.clone(), service.clone());
                        (
                            *node,
                            observation.proxy_endpoints.get(&key).copied().unwrap_or(0),
                        )
                    })
                    .collect();
                let listing = counts
                    .iter()
                    .map(|(node, n)| format!("{node} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let passed = !counts.is_empty() && counts.iter().all(|(_, n)| count.holds(*n));
                let found = format!("kube-proxy endpoints for {namespace}/{service}: {listing}");
                if passed {
                    Verdict {
                        passed,
                        message: found,
                    }
                } else {
                    let which = match node {
                        Some(node) => format!("on {node}"),
                        None => "on every node that is up".to_string(),
                    };
                    Verdict {
                        passed,
                        message: format!(
                            "expected {count} endpoints for {namespace}/{service} {which}; got {}",
                            if listing.is_empty() {
                                "no node up".to_string()
                            } else {
                                listing
                            }
                        ),
                    }
                }
            }
        }
    }
}

/// The `zone` check: the controller's state for the zone, and the NoExecute
/// `not-ready` / `unreachable` taints on the zone's nodes.
fn evaluate_zone(
    observation: &Observation,
    name: &str,
    state: Option<&str>,
    tainted: Option<Count>,
    taint_interval: Option<SimDuration>,
) -> Verdict {
    let Some(actual) = observation.zone_states.get(name) else {
        return Verdict {
            passed: false,
            message: format!(
                "expected zone {name:?}; the node lifecycle controller does not know it"
            ),
        };
    };
    let mut added: Vec<SimTime> = observation
        .nodes
        .iter()
        .filter(|node| {
            node.metadata
                .labels
                .get(LABEL_ZONE)
                .is_some_and(|z| &**z == name)
        })
        .filter_map(|node| {
            node.spec
                .taints
                .iter()
                .find(|t| {
                    t.effect == TaintEffect::NoExecute
                        && matches!(&*t.key, TAINT_NOT_READY | TAINT_UNREACHABLE)
                })
                .map(|t| t.time_added.unwrap_or(SimTime::ZERO))
        })
        .collect();
    added.sort();
    let mut failures = Vec::new();
    if let Some(want) = state
        && want != actual
    {
        failures.push(format!("state {want}"));
    }
    compare(
        &mut failures,
        "NoExecute-tainted nodes",
        tainted,
        added.len() as u32,
    );
    if let Some(interval) = taint_interval {
        let second = SimDuration::from_secs(1);
        let spaced = added.windows(2).all(|pair| {
            let gap = pair[1].saturating_since(pair[0]);
            gap >= interval && gap < interval + second
        });
        if !spaced || added.len() < 2 {
            failures.push(format!("at least 2 taints added {interval} apart"));
        }
    }
    let times: Vec<String> = added.iter().map(ToString::to_string).collect();
    Verdict::of(
        failures,
        format!(
            "zone {name:?} {actual}, {} NoExecute-tainted nodes{}",
            added.len(),
            if times.is_empty() {
                String::new()
            } else {
                format!(" (taints added at {})", times.join(", "))
            }
        ),
    )
}

/// ` [ns/name Phase node, ...]`, at most a handful.
fn pod_listing(pods: &[&Rc<Pod>]) -> String {
    const SHOWN_MAX: usize = 6;
    if pods.is_empty() {
        return String::new();
    }
    let mut items: Vec<String> = pods
        .iter()
        .take(SHOWN_MAX)
        .map(|pod| {
            let node = pod.spec.node_name.as_deref().unwrap_or("unscheduled");
            let terminating = if pod.metadata.is_terminating() {
                ", terminating"
            } else {
                ""
            };
            format!(
                "{}/{} {} on {node}{terminating}",
                pod.metadata.namespace,
                pod.metadata.name,
                pod.status.phase.name()
            )
        })
        .collect();
    if pods.len() > SHOWN_MAX {
        items.push(format!("... {} more", pods.len() - SHOWN_MAX));
    }
    format!(" [{}]", items.join("; "))
}

#[cfg(test)]
mod tests {
    use components::api::{
        DeploymentSpec, DeploymentStatus, DeploymentStrategy, IntOrPercent, LabelSelector,
        NodeCondition, NodeSpec, NodeStatus, ObjectMeta, PodSpec, PodStatus, PodTemplateSpec,
        ResourceList, Taint, TaintEffect, s,
    };
    use sim_core::SimDuration;

    use super::*;

    fn pod(name: &str, node: Option<&str>, phase: PodPhase, terminating: bool) -> Rc<Pod> {
        let mut metadata = ObjectMeta::named("default", name);
        metadata.labels = Labels::from_pairs([("app", "web")]);
        if terminating {
            metadata.deletion_timestamp = Some(SimTime::ZERO);
        }
        Rc::new(Pod {
            metadata,
            spec: PodSpec {
                node_name: node.map(s),
                ..PodSpec::default()
            },
            status: PodStatus {
                phase,
                ..PodStatus::default()
            },
        })
    }

    fn node(name: &str, ready: ConditionStatus, taints: &[&str]) -> Rc<Node> {
        Rc::new(Node {
            metadata: ObjectMeta::named("", name),
            spec: NodeSpec {
                taints: taints
                    .iter()
                    .map(|key| Taint {
                        key: s(key),
                        value: s(""),
                        effect: TaintEffect::NoExecute,
                        time_added: None,
                    })
                    .collect(),
                ..NodeSpec::default()
            },
            status: NodeStatus {
                capacity: ResourceList::default(),
                allocatable: ResourceList::default(),
                ready: NodeCondition {
                    status: ready,
                    reason: s(""),
                    message: s(""),
                    last_heartbeat_time: SimTime::ZERO,
                    last_transition_time: SimTime::ZERO,
                },
                memory_pressure: ConditionStatus::False,
                disk_pressure: ConditionStatus::False,
                internal_ip: s("10.0.0.1"),
                images: Vec::new(),
                extended_allocatable: Vec::new(),
                kubelet_version: s("v1.34.0"),
                container_runtime_version: s("containerd"),
            },
        })
    }

    fn deployment(name: &str, desired: u32, available: u32) -> Rc<Deployment> {
        Rc::new(Deployment {
            metadata: ObjectMeta::named("default", name),
            spec: DeploymentSpec {
                replicas: desired,
                selector: LabelSelector::default(),
                template: Rc::new(PodTemplateSpec {
                    labels: Labels::new(),
                    annotations: Labels::new(),
                    spec: pod("t", None, PodPhase::Pending, false).spec.clone(),
                }),
                strategy: DeploymentStrategy::RollingUpdate {
                    max_surge: IntOrPercent::Percent(25),
                    max_unavailable: IntOrPercent::Percent(25),
                },
                min_ready_seconds: 0,
                revision_history_limit: 10,
                progress_deadline_seconds: 600,
                paused: false,
            },
            status: DeploymentStatus {
                updated_replicas: desired,
                ready_replicas: available,
                available_replicas: available,
                ..DeploymentStatus::default()
            },
        })
    }

    fn observation() -> Observation {
        Observation {
            time: SimTime::ZERO + SimDuration::from_secs(60),
            pods: vec![
                pod("web-a", Some("node-1"), PodPhase::Running, false),
                pod("web-b", Some("node-2"), PodPhase::Running, false),
                pod("web-c", Some("node-2"), PodPhase::Running, true),
                pod("web-d", None, PodPhase::Pending, false),
            ],
            nodes: vec![
                node("node-1", ConditionStatus::True, &[]),
                node(
                    "node-2",
                    ConditionStatus::Unknown,
                    &["node.kubernetes.io/unreachable"],
                ),
            ],
            deployments: vec![deployment("web", 3, 2)],
            nodes_up: vec!["node-1".to_string()],
            proxy_endpoints: BTreeMap::from([(
                (
                    "node-1".to_string(),
                    "default".to_string(),
                    "web".to_string(),
                ),
                3,
            )]),
            ..Observation::default()
        }
    }

    #[test]
    fn counts_parse_and_compare() {
        assert_eq!(Count::parse("3"), Ok(Count::exactly(3)));
        assert_eq!(Count::parse(">= 3").unwrap().op, CmpOp::Ge);
        assert!(Count::parse("<2").unwrap().holds(1));
        assert!(!Count::parse("!= 0").unwrap().holds(0));
        assert!(Count::parse("three").is_err());
        assert_eq!(Count::parse(">=3").unwrap().to_string(), ">= 3");
    }

    fn job(succeeded: u32, failed: Option<&str>, completed_secs: Option<u64>) -> Rc<Job> {
        use components::api::{
            CompletionMode, JobCondition, JobSpec, JobStatus, LabelSelector, ObjectMeta, PodSpec,
            PodTemplateSpec, s,
        };
        let condition = |type_, reason: &str| JobCondition {
            type_,
            status: ConditionStatus::True,
            reason: s(reason),
            message: s(""),
            last_transition_time: SimTime::ZERO,
        };
        let mut conditions = Vec::new();
        if let Some(reason) = failed {
            conditions.push(condition(JobConditionType::Failed, reason));
        }
        if completed_secs.is_some() {
            conditions.push(condition(JobConditionType::Complete, "CompletionsReached"));
        }
        Rc::new(Job {
            metadata: ObjectMeta::named("default", "pi"),
            spec: JobSpec {
                parallelism: 2,
                completions: Some(5),
                completion_mode: CompletionMode::NonIndexed,
                backoff_limit: 6,
                active_deadline_seconds: None,
                suspend: false,
                manual_selector: false,
                selector: LabelSelector::default(),
                template: Rc::new(PodTemplateSpec {
                    labels: Labels::new(),
                    annotations: Labels::new(),
                    spec: PodSpec::default(),
                }),
            },
            status: JobStatus {
                succeeded,
                completion_time: completed_secs
                    .map(|secs| SimTime::ZERO + SimDuration::from_millis(secs * 1000 + 2)),
                conditions,
                ..JobStatus::default()
            },
        })
    }

    #[test]
    fn job_check_reads_counts_conditions_and_completion_time() {
        let check =
            |succeeded: Option<u32>, complete, failed: Option<&str>, at: Option<u64>| Check::Job {
                namespace: "default".to_string(),
                name: "pi".to_string(),
                active: None,
                ready: None,
                succeeded: succeeded.map(Count::exactly),
                failed: None,
                terminating: None,
                complete,
                failed_reason: failed.map(str::to_string),
                completion_time: at.map(|secs| SimTime::ZERO + SimDuration::from_secs(secs)),
            };
        let complete = Observation {
            jobs: vec![job(5, None, Some(64))],
            ..Observation::default()
        };
        let verdict = check(Some(5), Some(true), Some(""), Some(64)).evaluate(&complete);
        assert!(verdict.passed, "{}", verdict.message);
        assert_eq!(
            verdict.message,
            "default/pi: active 0, ready 0, succeeded 5, failed 0, terminating 0, Complete (CompletionsReached), completionTime 64s"
        );
        let verdict = check(Some(4), Some(false), None, Some(63)).evaluate(&complete);
        assert!(!verdict.passed);
        assert!(
            verdict
                .message
                .starts_with("expected succeeded 4, not complete, completionTime 63s; got"),
            "{}",
            verdict.message
        );
        let failed = Observation {
            jobs: vec![job(0, Some("BackoffLimitExceeded"), None)],
            ..Observation::default()
        };
        assert!(
            check(None, Some(false), Some("BackoffLimitExceeded"), None)
                .evaluate(&failed)
                .passed
        );
        let verdict = check(None, None, Some("DeadlineExceeded"), None).evaluate(&failed);
        assert!(
            verdict
                .message
                .starts_with("expected Failed=DeadlineExceeded")
        );
        let verdict = check(None, None, Some(""), None).evaluate(&failed);
        assert!(verdict.message.starts_with("expected not Failed"));
        let missing = check(None, Some(true), None, None).evaluate(&Observation::default());
        assert_eq!(
            missing.message,
            "expected job default/pi; it does not exist"
        );
    }

    #[test]
    fn deployment_check_shows_expected_and_actual() {
        let check = Check::Deployment {
            namespace: "default".to_string(),
            name: "web".to_string(),
            desired: Some(Count::exactly(3)),
            updated: None,
            ready: None,
            available: Some(Count::exactly(3)),
            rollout: RolloutCheck::default(),
        };
        let verdict = check.evaluate(&observation());
        assert!(!verdict.passed);
        assert_eq!(
            verdict.message,
            "expected available 3; got default/web: desired 3, updated 3, ready 2, available 2"
        );
        let missing = Check::Deployment {
            namespace: "default".to_string(),
            name: "api".to_string(),
            desired: None,
            updated: None,
            ready: None,
            available: None,
            rollout: RolloutCheck::default(),
        };
        assert!(!missing.evaluate(&observation()).passed);
    }

    #[test]
    fn pods_check_filters_and_counts_nodes() {
        let running = Check::Pods {
            filter: PodFilter {
                phase: Some(PodPhase::Running),
                terminating: Some(false),
                ..PodFilter::default()
            },
            count: Some(Count::exactly(2)),
            nodes: Some(Count::exactly(2)),
            zones: None,
        };
        let verdict = running.evaluate(&observation());
        assert!(verdict.passed, "{}", verdict.message);
        assert_eq!(
            verdict.message,
            "2 Running pods (not terminating) on 2 nodes"
        );

        let on_node_2 = Check::Pods {
            filter: PodFilter {
                node: Some("node-2".to_string()),
                ..PodFilter::default()
            },
            count: Some(Count::exactly(0)),
            nodes: None,
            zones: None,
        };
        let verdict = on_node_2.evaluate(&observation());
        assert!(!verdict.passed);
        assert_eq!(
            verdict.message,
            "expected 0 pods on node-2; got 2 pods on node-2 [default/web-b Running on node-2; default/web-c Running on node-2, terminating]"
        );
    }

    #[test]
    fn pods_check_reads_scheduling_status_node_labels_and_zones() {
        let zoned = |name: &str, zone: &str, pool: &str| {
            let mut node = (*node(name, ConditionStatus::True, &[])).clone();
            node.metadata.labels = Labels::from_pairs([(LABEL_ZONE, zone), ("pool", pool)]);
            Rc::new(node)
        };
        let pending = |name: &str, nominated: Option<&str>| {
            let mut pod = (*pod(name, None, PodPhase::Pending, false)).clone();
            pod.status.scheduled = ConditionStatus::False;
            pod.status.scheduled_reason = Some(s("Unschedulable"));
            pod.status.scheduled_message = Some(s("0/3 nodes are available: 3 Insufficient cpu."));
            pod.status.nominated_node_name = nominated.map(s);
            Rc::new(pod)
        };
        let observation = Observation {
            pods: vec![
                pod("a", Some("n1"), PodPhase::Running, false),
                pod("b", Some("n2"), PodPhase::Running, false),
                pod("c", Some("n3"), PodPhase::Running, false),
                pending("d", Some("n1")),
                pending("e", None),
            ],
            nodes: vec![
                zoned("n1", "zone-a", "general"),
                zoned("n2", "zone-a", "general"),
                zoned("n3", "zone-b", "db"),
            ],
            ..Observation::default()
        };
        let check = |filter: PodFilter, count: u32, zones: Option<u32>| Check::Pods {
            filter,
            count: Some(Count::exactly(count)),
            nodes: None,
            zones: zones.map(Count::exactly),
        };
        let running_in_two_zones = check(
            PodFilter {
                phase: Some(PodPhase::Running),
                ..PodFilter::default()
            },
            3,
            Some(2),
        );
        let verdict = running_in_two_zones.evaluate(&observation);
        assert!(verdict.passed, "{}", verdict.message);
        assert_eq!(verdict.message, "3 Running pods on 3 nodes in 2 zones");

        let on_general = check(
            PodFilter {
                node_labels: Labels::from_pairs([("pool", "general")]),
                ..PodFilter::default()
            },
            2,
            Some(1),
        );
        assert!(on_general.evaluate(&observation).passed);

        let unschedulable = check(
            PodFilter {
                scheduled: Some(ConditionStatus::False),
                scheduled_reason: Some("Unschedulable".to_string()),
                scheduled_message: Some("0/3 nodes are available: 3 Insufficient cpu.".to_string()),
                ..PodFilter::default()
            },
            2,
            None,
        );
        assert!(unschedulable.evaluate(&observation).passed);
        let other_message = check(
            PodFilter {
                scheduled_message: Some("0/3 nodes are available".to_string()),
                ..PodFilter::default()
            },
            0,
            None,
        );
        assert!(
            other_message.evaluate(&observation).passed,
            "messages match exactly"
        );

        let nominated = check(
            PodFilter {
                nominated_node: Some("n1".to_string()),
                ..PodFilter::default()
            },
            1,
            None,
        );
        assert!(nominated.evaluate(&observation).passed);

        let wrong_zones = check(PodFilter::default(), 5, Some(3));
        let verdict = wrong_zones.evaluate(&observation);
        assert!(!verdict.passed);
        assert!(
            verdict
                .message
                .starts_with("expected in 3 zones; got 5 pods on 3 nodes in 2 zones"),
            "{}",
            verdict.message
        );
    }

    #[test]
    fn node_disk_checks_read_what_is_available_and_the_images_stored() {
        let mut observed = observation();
        observed
            .node_disk
            .insert("node-1".to_string(), (1 << 30, vec!["app:1".to_string()]));
        let check = |available: &str, images: &[&str], no_images: &[&str]| Check::NodeDisk {
            node: "node-1".to_string(),
            available: Some(BytesCmp::parse(available).unwrap()),
            images: images.iter().map(|i| i.to_string()).collect(),
            no_images: no_images.iter().map(|i| i.to_string()).collect(),
        };
        assert!(
            check("> 1023Mi", &["app:1"], &["old:1"])
                .evaluate(&observed)
                .passed
        );
        assert_eq!(
            check("< 1Gi", &[], &["app:1"]).evaluate(&observed).message,
            "expected < 1Gi available on node-1, image app:1 not stored; got 1Gi available on node-1's nodefs, images [app:1]"
        );
        let elsewhere = Check::NodeDisk {
            node: "node-2".to_string(),
            available: None,
            images: vec!["app:1".to_string()],
            no_images: Vec::new(),
        };
        assert!(!elsewhere.evaluate(&observed).passed);
    }

    #[test]
    fn node_checks_read_conditions_and_taints() {
        let nodes = Check::Nodes {
            ready: Some(Count::exactly(1)),
            not_ready: None,
            unknown: Some(Count::exactly(1)),
        };
        assert!(nodes.evaluate(&observation()).passed);
        let node = Check::Node {
            name: "node-2".to_string(),
            ready: Some(ConditionStatus::Unknown),
            memory_pressure: None,
            disk_pressure: None,
            taints: vec!["node.kubernetes.io/unreachable".to_string()],
            untainted: vec![],
        };
        assert!(node.evaluate(&observation()).passed);
        let wrong = Check::Node {
            name: "node-1".to_string(),
            ready: Some(ConditionStatus::Unknown),
            memory_pressure: None,
            disk_pressure: None,
            taints: vec![],
            untainted: vec![],
        };
        assert_eq!(
            wrong.evaluate(&observation()).message,
            "expected Ready=Unknown; got node-1: Ready=True, no taints"
        );
        let pressure = Check::Node {
            name: "node-1".to_string(),
            ready: None,
            memory_pressure: Some(ConditionStatus::True),
            disk_pressure: None,
            taints: vec![],
            untainted: vec![],
        };
        assert_eq!(
            pressure.evaluate(&observation()).message,
            "expected MemoryPressure=True; got node-1: Ready=True, MemoryPressure=False, no taints"
        );
        let calm = Check::Node {
            name: "node-1".to_string(),
            ready: None,
            memory_pressure: Some(ConditionStatus::False),
            disk_pressure: None,
            taints: vec![],
            untainted: vec![],
        };
        assert!(calm.evaluate(&observation()).passed);
    }

    #[test]
    fn pods_filter_by_status_reason_and_qos_class() {
        let check_count = |reason: Option<&str>, qos_class: Option<QosClass>, count| Check::Pods {
            filter: PodFilter {
                reason: reason.map(str::to_string),
                qos_class,
                ..PodFilter::default()
            },
            count: Some(Count::exactly(count)),
            nodes: None,
            zones: None,
        };
        let check = |reason, qos_class| check_count(reason, qos_class, 0);
        let verdict = check(Some("Evicted"), None).evaluate(&observation());
        assert!(verdict.passed, "{}", verdict.message);
        assert_eq!(verdict.message, "0 pods with reason Evicted");
        // The fixture's pods carry no qosClass: none is BestEffort.
        let verdict = check(None, Some(QosClass::BestEffort)).evaluate(&observation());
        assert!(verdict.passed, "{}", verdict.message);
        assert_eq!(verdict.message, "0 pods of QoS class BestEffort");
        let some = check_count(Some("Evicted"), None, 1);
        assert!(!some.evaluate(&observation()).passed);
    }

    #[test]
    fn endpoints_check_every_node_that_is_up() {
        let check = |node: Option<&str>| Check::Endpoints {
            namespace: "default".to_string(),
            service: "web".to_string(),
            node: node.map(str::to_string),
            count: Count::exactly(3),
        };
        assert!(check(None).evaluate(&observation()).passed);
        let verdict = check(Some("node-2")).evaluate(&observation());
        assert!(!verdict.passed);
        assert_eq!(
            verdict.message,
            "expected 3 endpoints for default/web on node-2; got node-2 0"
        );
    }

    #[test]
    fn daemon_set_check_counts_nodes() {
        use components::api::{
            DaemonSet, DaemonSetSpec, DaemonSetStatus, DaemonSetUpdateStrategy, LabelSelector,
            ObjectMeta, PodTemplateSpec,
        };
        let labels = Labels::from_pairs([("name", "agent")]);
        let ds = DaemonSet {
            metadata: ObjectMeta::named("kube-system", "agent"),
            spec: DaemonSetSpec {
                selector: LabelSelector::from_labels(labels.clone()),
                template: Rc::new(PodTemplateSpec {
                    labels,
                    annotations: Labels::new(),
                    spec: components::api::PodSpec::default(),
                }),
                update_strategy: DaemonSetUpdateStrategy::default(),
                min_ready_seconds: 0,
                revision_history_limit: 10,
            },
            status: DaemonSetStatus {
                desired_number_scheduled: 4,
                current_number_scheduled: 4,
                number_ready: 3,
                number_available: 3,
                updated_number_scheduled: 1,
                number_misscheduled: 0,
                ..DaemonSetStatus::default()
            },
        };
        let observation = Observation {
            daemon_sets: vec![Rc::new(ds)],
            ..Observation::default()
        };
        let check = |namespace: &str, counts: DaemonSetCounts| Check::DaemonSet {
            namespace: namespace.to_string(),
            name: "agent".to_string(),
            counts,
        };
        let verdict = check(
            "kube-system",
            DaemonSetCounts {
                desired: Some(Count::exactly(4)),
                updated: Some(Count::exactly(2)),
                ..DaemonSetCounts::default()
            },
        )
        .evaluate(&observation);
        assert!(!verdict.passed);
        assert_eq!(
            verdict.message,
            "expected updated 2; got kube-system/agent: desired 4, current 4, ready 3, available 3, updated 1, misscheduled 0"
        );
        let passing = DaemonSetCounts {
            ready: Some(Count::exactly(3)),
            misscheduled: Some(Count::exactly(0)),
            ..DaemonSetCounts::default()
        };
        assert!(
            check("kube-system", passing.clone())
                .evaluate(&observation)
                .passed
        );
        assert!(!check("default", passing).evaluate(&observation).passed);
    }

    #[test]
    fn zone_check_reads_the_controller_state_and_taint_spacing() {
        let at = |ms: u64| SimTime::ZERO + SimDuration::from_millis(ms);
        let in_zone = |name: &str, zone: &str, added: Option<SimTime>| {
            let mut node = (*node(name, ConditionStatus::Unknown, &[TAINT_UNREACHABLE])).clone();
            node.metadata.labels = Labels::from_pairs([(LABEL_ZONE, zone)]);
            node.spec.taints[0].time_added = added;
            if added.is_none() {
                node.spec.taints.clear();
            }
            Rc::new(node)
        };
        let observation = Observation {
            nodes: vec![
                in_zone("a-1", "zone-a", Some(at(170_100))),
                in_zone("a-2", "zone-a", Some(at(190_100))),
                in_zone("a-3", "zone-a", Some(at(180_100))),
                in_zone("a-4", "zone-a", None),
                in_zone("b-1", "zone-b", Some(at(100_000))),
            ],
            zone_states: BTreeMap::from([
                ("zone-a".to_string(), "FullDisruption".to_string()),
                ("zone-b".to_string(), "Normal".to_string()),
            ]),
            ..Observation::default()
        };
        let check = |name: &str, state: &str, tainted: u32, interval_ms: Option<u64>| Check::Zone {
            name: name.to_string(),
            state: Some(state.to_string()),
            tainted: Some(Count::exactly(tainted)),
            taint_interval: interval_ms.map(SimDuration::from_millis),
        };
        let verdict = check("zone-a", "FullDisruption", 3, Some(10_000)).evaluate(&observation);
        assert!(verdict.passed, "{}", verdict.message);
        assert_eq!(
            verdict.message,
            "zone \"zone-a\" FullDisruption, 3 NoExecute-tainted nodes (taints added at 170.100s, 180.100s, 190.100s)"
        );
        // Wrong state, count or spacing each fail; one taint cannot show a spacing; an
        // unknown zone fails.
        let failing = [
            ("zone-a", "Normal", 3, None),
            ("zone-a", "FullDisruption", 4, None),
            ("zone-a", "FullDisruption", 3, Some(5_000)),
            ("zone-a", "FullDisruption", 3, Some(100_000)),
            ("zone-b", "Normal", 1, Some(10_000)),
            ("zone-c", "Normal", 0, None),
        ];
        for (name, state, tainted, interval_ms) in failing {
            let verdict = check(name, state, tainted, interval_ms).evaluate(&observation);
            assert!(
                !verdict.passed,
                "{name} {state} {tainted}: {}",
                verdict.message
            );
        }
    }
}
