//! `kubectl cordon`, `uncordon` and `drain` (staging/src/k8s.io/kubectl/pkg/drain).
//!
//! Cordon gets the node and updates it with `spec.unschedulable` set (the node lifecycle
//! controller then adds the `node.kubernetes.io/unschedulable:NoSchedule` taint); a 409
//! starts over from the get. Drain cordons, lists the node's pods, filters them
//! (DaemonSet-managed pods are skipped with `--ignore-daemonsets` and refuse the drain
//! without it; mirror pods are skipped; pods with no controller refuse the drain unless
//! `--force`; finished pods always go), then evicts every remaining pod at once through
//! the eviction API. A pod whose eviction is refused with 429 (its disruption budget
//! allows nothing now) is tried again 5 s later; an evicted pod is polled every second
//! until it is gone (or replaced by a pod of the same name with another uid). With
//! `--timeout`, a drain still running then gives up; the node stays cordoned.
//!
//! Not modelled: `--delete-emptydir-data` (kubesim pods have no volumes), `--disable-eviction`,
//! `--pod-selector`, `--skip-wait-for-delete-timeout`, and checking that a DaemonSet
//! named by a pod still exists.

use std::collections::BTreeMap;

use sim_core::{Context, SimDuration, SimTime, TraceHasher};

use super::{Action, Kubectl, Step, Tick};
use crate::api::{
    ApiError, ApiOk, ApiVerb, FieldSelector, Kind, ListResourceVersion, Object, ObjectKey, Pod,
    PodPhase, StatusReason, Str, s,
};
use crate::msg::{Fingerprint, Msg};

/// kubectl waits this long before trying a refused (429) eviction again.
pub const EVICTION_RETRY_DELAY: SimDuration = SimDuration::from_secs(5);
/// kubectl polls an evicted pod this often until it is gone (`waitForDelete` interval).
pub const DELETE_POLL_INTERVAL: SimDuration = SimDuration::from_secs(1);
/// Retries of a node get-modify-update after 409 Conflict.
const CORDON_CONFLICT_RETRIES_MAX: u32 = 5;
/// The annotation that marks a mirror pod (`kubernetes.io/config.mirror`).
pub const ANNOTATION_MIRROR_POD: &str = "kubernetes.io/config.mirror";

/// `kubectl drain NODE` and its flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrainOptions {
    pub node: Str,
    /// `--ignore-daemonsets`, default false.
    pub ignore_daemonsets: bool,
    /// `--delete-emptydir-data`, default false (kubesim pods have no emptyDir volumes, so
    /// the flag changes nothing).
    pub delete_emptydir_data: bool,
    /// `--force`: also evict pods that no controller manages; default false.
    pub force: bool,
    /// `--grace-period`; `None` (upstream -1) uses each pod's own.
    pub grace_period_seconds: Option<u64>,
    /// `--timeout`; `None` (upstream 0) waits forever.
    pub timeout: Option<SimDuration>,
}

impl DrainOptions {
    pub fn new(node: Str) -> DrainOptions {
        DrainOptions {
            node,
            ignore_daemonsets: false,
            delete_emptydir_data: false,
            force: false,
            grace_period_seconds: None,
            timeout: None,
        }
    }
}

/// What a request of a cordon or a drain was for. `drain` is the drain's id (0 for a
/// plain cordon or uncordon).
#[derive(Clone, Debug)]
pub(super) enum NodeStep {
    GetNode {
        node: Str,
        unschedulable: bool,
        retries: u32,
        drain: u64,
    },
    UpdateNode {
        node: Str,
        unschedulable: bool,
        retries: u32,
        drain: u64,
    },
    ListPods {
        drain: u64,
    },
    Evict {
        drain: u64,
        pod: ObjectKey,
    },
    GetPod {
        drain: u64,
        pod: ObjectKey,
        uid: u64,
    },
}

/// A drain's timers.
#[derive(Clone, Debug)]
pub enum DrainTick {
    /// Try a refused eviction again.
    RetryEviction { drain: u64, pod: ObjectKey },
    /// Look whether an evicted pod is gone yet.
    PollPod {
        drain: u64,
        pod: ObjectKey,
        uid: u64,
    },
    /// `--timeout` has passed.
    Timeout { drain: u64 },
}

impl Fingerprint for DrainTick {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            DrainTick::RetryEviction { drain, pod } => {
                hasher.write_u64(1);
                hasher.write_u64(*drain);
                hasher.write_str(&pod.name);
            }
            DrainTick::PollPod { drain, pod, uid } => {
                hasher.write_u64(2);
                hasher.write_u64(*drain);
                hasher.write_str(&pod.name);
                hasher.write_u64(*uid);
            }
            DrainTick::Timeout { drain } => {
                hasher.write_u64(3);
                hasher.write_u64(*drain);
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PodProgress {
    /// An eviction request is in flight, or waits for its retry.
    Evicting,
    /// Evicted: polling until the pod is gone.
    WaitingForDelete,
    Gone,
    /// The eviction failed for a reason other than 429.
    Failed,
}

#[derive(Debug)]
struct Drain {
    options: DrainOptions,
    pods: BTreeMap<ObjectKey, PodProgress>,
    /// The uid each pod had when listed: a pod of the same name with another uid is a
    /// replacement, and the evicted one is gone.
    uids: BTreeMap<ObjectKey, u64>,
    started_at: SimTime,
}

/// The drains in progress, by id.
#[derive(Debug, Default)]
pub(super) struct Drains {
    running: BTreeMap<u64, Drain>,
    next_id: u64,
}

impl Drains {
    pub(super) fn clear(&mut self) {
        self.running.clear();
    }
}

/// Which of a node's pods a drain evicts, and what it says about the rest (upstream
/// `GetPodsForDeletion` with its default filters).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PodsForDeletion {
    pub evict: Vec<ObjectKey>,
    /// `Warning: ...` lines.
    pub warnings: Vec<String>,
    /// Reasons the drain cannot go on; empty when it can.
    pub errors: Vec<String>,
}

/// Sorts a node's pods for a drain.
pub fn pods_for_deletion(pods: &[&Pod], options: &DrainOptions) -> PodsForDeletion {
    let mut daemon_set_pods = Vec::new();
    let mut unreplicated = Vec::new();
    let mut result = PodsForDeletion::default();
    for pod in pods {
        let name = format!("{}/{}", pod.metadata.namespace, pod.metadata.name);
        let controller = pod.metadata.controller_ref();
        if controller.is_some_and(|owner| owner.kind.name() == "DaemonSet") {
            daemon_set_pods.push(name);
            continue;
        }
        if pod
            .metadata
            .annotations
            .get(ANNOTATION_MIRROR_POD)
            .is_some()
        {
            continue;
        }
        let finished = matches!(pod.status.phase, PodPhase::Succeeded | PodPhase::Failed);
        if controller.is_none() && !finished {
            unreplicated.push(name);
            if !options.force {
                continue;
            }
        }
        result.evict.push(ObjectKey::new(
            Kind::Pod,
            &pod.metadata.namespace,
            &pod.metadata.name,
        ));
    }
    result.warn_or_refuse(
        &daemon_set_pods,
        options.ignore_daemonsets,
        "ignoring DaemonSet-managed Pods",
        "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)",
    );
    result.warn_or_refuse(
        &unreplicated,
        options.force,
        "deleting Pods that declare no controller",
        "cannot delete Pods that declare no controller (use --force to override)",
    );
    result
}

impl PodsForDeletion {
    /// Pods a default filter objects to: a warning when the user's flag allows them,
    /// otherwise an error that stops the drain; nothing when there are none.
    fn warn_or_refuse(&mut self, pods: &[String], allowed: bool, warning: &str, error: &str) {
        if pods.is_empty() {
            return;
        }
        let list = pods.join(", ");
        if allowed {
            self.warnings.push(format!("{warning}: {list}"));
        } else {
            self.errors.push(format!("{error}: {list}"));
        }
    }
}

/// A duration as Go prints one (`5m0s`, `1h0m0s`, `30s`), as kubectl's messages do.
pub fn go_duration(duration: SimDuration) -> String {
    let secs = duration.as_secs();
    let (hours, minutes, seconds) = (secs / 3600, secs / 60 % 60, secs % 60);
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

fn pod_name(pod: &ObjectKey) -> String {
    format!("{}/{}", pod.namespace, pod.name)
}

impl Kubectl {
    /// `kubectl cordon`, `uncordon` or `drain`.
    pub(super) fn act_on_node(&mut self, action: Action, cx: &mut Context<'_, Msg>) {
        match action {
            Action::Cordon { node } => {
                cx.record("step", || format!("kubectl cordon {node}"));
                self.get_node(node, true, 0, 0, cx);
            }
            Action::Uncordon { node } => {
                cx.record("step", || format!("kubectl uncordon {node}"));
                self.get_node(node, false, 0, 0, cx);
            }
            Action::Drain(options) => {
                let id = self.drains.next_id + 1;
                self.drains.next_id = id;
                let node = options.node.clone();
                cx.record("step", || {
                    let mut flags = String::new();
                    if options.ignore_daemonsets {
                        flags.push_str(" --ignore-daemonsets");
                    }
                    if options.delete_emptydir_data {
                        flags.push_str(" --delete-emptydir-data");
                    }
                    if options.force {
                        flags.push_str(" --force");
                    }
                    if let Some(grace) = options.grace_period_seconds {
                        flags.push_str(&format!(" --grace-period={grace}"));
                    }
                    if let Some(timeout) = options.timeout {
                        flags.push_str(&format!(" --timeout={}", go_duration(timeout)));
                    }
                    format!("kubectl drain {node}{flags}")
                });
                if let Some(timeout) = options.timeout {
                    cx.timer(
                        timeout,
                        Msg::Tick(crate::msg::Tick::Kubectl(Tick::Drain(DrainTick::Timeout {
                            drain: id,
                        }))),
                    );
                }
                self.drains.running.insert(
                    id,
                    Drain {
                        options,
                        pods: BTreeMap::new(),
                        uids: BTreeMap::new(),
                        started_at: cx.now(),
                    },
                );
                self.get_node(node, true, 0, id, cx);
            }
            other => unreachable!("not a node action: {other:?}"),
        }
    }

    fn get_node(
        &mut self,
        node: Str,
        unschedulable: bool,
        retries: u32,
        drain: u64,
        cx: &mut Context<'_, Msg>,
    ) {
        let key = ObjectKey::new(Kind::Node, &s(""), &node);
        let step = NodeStep::GetNode {
            node,
            unschedulable,
            retries,
            drain,
        };
        self.send(ApiVerb::Get(key), Step::Node(step), cx);
    }

    fn drain_timer(&self, after: SimDuration, tick: DrainTick, cx: &mut Context<'_, Msg>) {
        cx.timer(
            after,
            Msg::Tick(crate::msg::Tick::Kubectl(Tick::Drain(tick))),
        );
    }

    pub(super) fn on_node_response(
        &mut self,
        step: NodeStep,
        result: Result<ApiOk, ApiError>,
        cx: &mut Context<'_, Msg>,
    ) {
        match (step, result) {
            (
                NodeStep::GetNode {
                    node,
                    unschedulable,
                    retries,
                    drain,
                },
                Ok(ApiOk::Object(Object::Node(live))),
            ) => {
                if live.spec.unschedulable == unschedulable {
                    let state = if unschedulable {
                        "already cordoned"
                    } else {
                        "already uncordoned"
                    };
                    cx.record("step", || format!("node/{node} {state}"));
                    self.node_done(drain, cx);
                    return;
                }
                let mut update = (*live).clone();
                update.spec.unschedulable = unschedulable;
                let step = NodeStep::UpdateNode {
                    node,
                    unschedulable,
                    retries,
                    drain,
                };
                self.send(ApiVerb::Update(Object::from(update)), Step::Node(step), cx);
            }
            (
                NodeStep::UpdateNode {
                    node,
                    unschedulable,
                    drain,
                    ..
                },
                Ok(_),
            ) => {
                let state = if unschedulable {
                    "cordoned"
                } else {
                    "uncordoned"
                };
                cx.record("step", || format!("node/{node} {state}"));
                self.node_done(drain, cx);
            }
            (
                NodeStep::UpdateNode {
                    node,
                    unschedulable,
                    retries,
                    drain,
                },
                Err(e),
            ) if e.reason == StatusReason::Conflict && retries < CORDON_CONFLICT_RETRIES_MAX => {
                self.get_node(node, unschedulable, retries + 1, drain, cx);
            }
            (
                NodeStep::GetNode { node, drain, .. } | NodeStep::UpdateNode { node, drain, .. },
                result,
            ) => {
                let why = match result {
                    Err(e) => format!("{} ({})", e.message, e.reason.code()),
                    Ok(other) => format!("unexpected answer {other:?}"),
                };
                cx.record("step", || format!("kubectl: error: node/{node}: {why}"));
                if self.drains.running.remove(&drain).is_some() {
                    cx.record("step", || {
                        format!("kubectl drain {node}: stopped, the node could not be cordoned")
                    });
                }
            }
            (NodeStep::ListPods { drain }, Ok(ApiOk::List { items, .. })) => {
                self.on_pods_listed(drain, &items, cx)
            }
            (NodeStep::Evict { drain, pod }, result) => self.on_evicted(drain, pod, result, cx),
            (NodeStep::GetPod { drain, pod, uid }, result) => {
                self.on_pod_polled(drain, pod, uid, result, cx)
            }
            (NodeStep::ListPods { drain }, Err(e)) => {
                if let Some(d) = self.drains.running.remove(&drain) {
                    let node = d.options.node;
                    cx.record("step", || {
                        format!(
                            "kubectl drain {node}: error: listing pods: {} ({})",
                            e.message,
                            e.reason.code()
                        )
                    });
                }
            }
            (NodeStep::ListPods { .. }, Ok(other)) => {
                panic!("kubectl: a pod list answered with {other:?}")
            }
        }
    }

    /// The cordon of a drain (or a plain cordon) is done.
    fn node_done(&mut self, drain: u64, cx: &mut Context<'_, Msg>) {
        let Some(d) = self.drains.running.get(&drain) else {
            return;
        };
        let node = d.options.node.clone();
        let verb = ApiVerb::List {
            kind: Kind::Pod,
            namespace: None,
            fields: FieldSelector::NodeName(node),
            // kubectl sends no resourceVersion: a consistent read.
            resource_version: ListResourceVersion::MostRecent,
        };
        self.send(verb, Step::Node(NodeStep::ListPods { drain }), cx);
    }

    fn on_pods_listed(&mut self, drain: u64, items: &[Object], cx: &mut Context<'_, Msg>) {
        let Some(d) = self.drains.running.get_mut(&drain) else {
            return;
        };
        let node = d.options.node.clone();
        let pods: Vec<&Pod> = items
            .iter()
            .filter_map(|object| match object {
                Object::Pod(pod) => Some(&**pod),
                _ => None,
            })
            .collect();
        let plan = pods_for_deletion(&pods, &d.options);
        for pod in &pods {
            let key = ObjectKey::new(Kind::Pod, &pod.metadata.namespace, &pod.metadata.name);
            d.uids.insert(key, pod.metadata.uid);
        }
        for warning in &plan.warnings {
            cx.record("step", || {
                format!("kubectl drain {node}: Warning: {warning}")
            });
        }
        if !plan.errors.is_empty() {
            self.drains.running.remove(&drain);
            let errors = plan.errors.join("; ");
            cx.record("step", || {
                format!(
                    "kubectl drain {node}: error: unable to drain node \"{node}\": {errors}; the node stays cordoned"
                )
            });
            return;
        }
        for pod in &plan.evict {
            d.pods.insert(pod.clone(), PodProgress::Evicting);
        }
        if plan.evict.is_empty() {
            self.finish_if_done(drain, cx);
            return;
        }
        for pod in plan.evict {
            self.evict(drain, pod, cx);
        }
    }

    fn evict(&mut self, drain: u64, pod: ObjectKey, cx: &mut Context<'_, Msg>) {
        let Some(d) = self.drains.running.get(&drain) else {
            return;
        };
        let node = d.options.node.clone();
        let grace_period_seconds = d.options.grace_period_seconds;
        cx.record("step", || {
            format!("kubectl drain {node}: evicting pod {}", pod_name(&pod))
        });
        let verb = ApiVerb::Evict {
            pod: pod.clone(),
            grace_period_seconds,
        };
        self.send(verb, Step::Node(NodeStep::Evict { drain, pod }), cx);
    }

    fn on_evicted(
        &mut self,
        drain: u64,
        pod: ObjectKey,
        result: Result<ApiOk, ApiError>,
        cx: &mut Context<'_, Msg>,
    ) {
        let Some(d) = self.drains.running.get_mut(&drain) else {
            return;
        };
        let node = d.options.node.clone();
        match result {
            Ok(_) => {
                d.pods.insert(pod.clone(), PodProgress::WaitingForDelete);
                let uid = d.uids.get(&pod).copied().unwrap_or(0);
                self.poll(drain, pod, uid, cx);
            }
            Err(e) if e.reason == StatusReason::NotFound => {
                d.pods.insert(pod, PodProgress::Gone);
                self.finish_if_done(drain, cx);
            }
            Err(e) if e.reason == StatusReason::TooManyRequests => {
                cx.record("step", || {
                    format!(
                        "kubectl drain {node}: error when evicting pods/\"{}\" -n \"{}\" (will retry after {}): {}",
                        pod.name,
                        pod.namespace,
                        go_duration(EVICTION_RETRY_DELAY),
                        e.message
                    )
                });
                self.drain_timer(
                    EVICTION_RETRY_DELAY,
                    DrainTick::RetryEviction { drain, pod },
                    cx,
                );
            }
            Err(e) => {
                cx.record("step", || {
                    format!(
                        "kubectl drain {node}: error when evicting pods/\"{}\" -n \"{}\": {} ({})",
                        pod.name,
                        pod.namespace,
                        e.message,
                        e.reason.code()
                    )
                });
                d.pods.insert(pod, PodProgress::Failed);
                self.finish_if_done(drain, cx);
            }
        }
    }

    fn poll(&mut self, drain: u64, pod: ObjectKey, uid: u64, cx: &mut Context<'_, Msg>) {
        let step = NodeStep::GetPod {
            drain,
            pod: pod.clone(),
            uid,
        };
        self.send(ApiVerb::Get(pod), Step::Node(step), cx);
    }

    fn on_pod_polled(
        &mut self,
        drain: u64,
        pod: ObjectKey,
        uid: u64,
        result: Result<ApiOk, ApiError>,
        cx: &mut Context<'_, Msg>,
    ) {
        let Some(d) = self.drains.running.get_mut(&drain) else {
            return;
        };
        let gone = match &result {
            Err(e) => e.reason == StatusReason::NotFound,
            Ok(ApiOk::Object(object)) => uid != 0 && object.meta().uid != uid,
            Ok(_) => false,
        };
        if gone {
            d.pods.insert(pod.clone(), PodProgress::Gone);
            cx.record("step", || format!("pod/{} evicted", pod.name));
            self.finish_if_done(drain, cx);
        } else {
            self.drain_timer(
                DELETE_POLL_INTERVAL,
                DrainTick::PollPod { drain, pod, uid },
                cx,
            );
        }
    }

    pub(super) fn on_drain_tick(&mut self, tick: DrainTick, cx: &mut Context<'_, Msg>) {
        match tick {
            DrainTick::RetryEviction { drain, pod } => self.evict(drain, pod, cx),
            DrainTick::PollPod { drain, pod, uid } => {
                if self.drains.running.contains_key(&drain) {
                    self.poll(drain, pod, uid, cx);
                }
            }
            DrainTick::Timeout { drain } => {
                let Some(d) = self.drains.running.remove(&drain) else {
                    return;
                };
                let node = d.options.node;
                let waited = cx.now().saturating_since(d.started_at);
                let left: Vec<String> = d
                    .pods
                    .iter()
                    .filter(|(_, progress)| {
                        matches!(
                            progress,
                            PodProgress::Evicting | PodProgress::WaitingForDelete
                        )
                    })
                    .map(|(pod, _)| pod_name(pod))
                    .collect();
                cx.record("step", || {
                    format!(
                        "kubectl drain {node}: error: global timeout reached: {} (pods left: {}); the node stays cordoned",
                        go_duration(waited),
                        left.join(", ")
                    )
                });
            }
        }
    }

    fn finish_if_done(&mut self, drain: u64, cx: &mut Context<'_, Msg>) {
        let Some(d) = self.drains.running.get(&drain) else {
            return;
        };
        if d.pods
            .values()
            .any(|p| matches!(p, PodProgress::Evicting | PodProgress::WaitingForDelete))
        {
            return;
        }
        let d = self.drains.running.remove(&drain).expect("checked");
        let node = d.options.node;
        let failed = d
            .pods
            .values()
            .filter(|p| **p == PodProgress::Failed)
            .count();
        if failed == 0 {
            cx.record("step", || format!("node/{node} drained"));
        } else {
            cx.record("step", || {
                format!(
                    "kubectl drain {node}: error: unable to drain node \"{node}\": {failed} pod(s) could not be evicted; the node stays cordoned"
                )
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::OwnerReference;
    use crate::scheduler::plugins::tests::pod_with;

    fn pod(name: &str, owner: Option<Kind>, phase: PodPhase) -> Pod {
        let mut pod = pod_with(vec![], vec![]);
        pod.metadata.name = s(name);
        pod.status.phase = phase;
        if let Some(kind) = owner {
            pod.metadata.owner_references = vec![OwnerReference::controlled_by(kind, s("o"), 7)];
        }
        pod
    }

    fn names(keys: &[ObjectKey]) -> Vec<&str> {
        keys.iter().map(|k| &*k.name).collect()
    }

    #[test]
    fn replicated_and_finished_pods_are_evicted_bare_pods_need_force() {
        let web = pod("web", Some(Kind::ReplicaSet), PodPhase::Running);
        let bare = pod("bare", None, PodPhase::Running);
        let done = pod("done", None, PodPhase::Succeeded);
        let mut mirror = pod("mirror", None, PodPhase::Running);
        mirror
            .metadata
            .annotations
            .insert(s(ANNOTATION_MIRROR_POD), s("x"));
        let pods = [&web, &bare, &done, &mirror];
        let options = DrainOptions::new(s("node-1"));
        let plan = pods_for_deletion(&pods, &options);
        assert_eq!(names(&plan.evict), ["web", "done"]);
        assert_eq!(
            plan.errors,
            [
                "cannot delete Pods that declare no controller (use --force to override): default/bare"
            ]
        );
        let forced = pods_for_deletion(
            &pods,
            &DrainOptions {
                force: true,
                ..options
            },
        );
        assert_eq!(names(&forced.evict), ["web", "bare", "done"]);
        assert!(forced.errors.is_empty());
        assert_eq!(
            forced.warnings,
            ["deleting Pods that declare no controller: default/bare"]
        );
    }

    #[test]
    fn daemon_set_pods_refuse_the_drain_unless_ignored() {
        let mut ds = pod("agent", None, PodPhase::Running);
        // The owner's kind is compared by name, so this module needs no DaemonSet type.
        let Some(kind) = Kind::ALL.iter().find(|k| k.name() == "DaemonSet") else {
            // Without a DaemonSet kind no pod can be DaemonSet-managed.
            assert!(
                pods_for_deletion(&[&ds], &DrainOptions::new(s("n")))
                    .errors
                    .len()
                    == 1
            );
            return;
        };
        ds.metadata.owner_references = vec![OwnerReference::controlled_by(*kind, s("agent"), 9)];
        let options = DrainOptions::new(s("node-1"));
        let refused = pods_for_deletion(&[&ds], &options);
        assert!(refused.evict.is_empty());
        assert_eq!(
            refused.errors,
            [
                "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): default/agent"
            ]
        );
        let ignored = pods_for_deletion(
            &[&ds],
            &DrainOptions {
                ignore_daemonsets: true,
                ..options
            },
        );
        assert!(ignored.evict.is_empty() && ignored.errors.is_empty());
        assert_eq!(
            ignored.warnings,
            ["ignoring DaemonSet-managed Pods: default/agent"]
        );
    }

    #[test]
    fn durations_print_as_go_does() {
        assert_eq!(go_duration(SimDuration::from_secs(5)), "5s");
        assert_eq!(go_duration(SimDuration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(SimDuration::from_secs(3725)), "1h2m5s");
    }
}
