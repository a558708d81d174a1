//! The disruption controller: keeps each PodDisruptionBudget's status current
//! (pkg/controller/disruption/disruption.go), so the eviction API
//! (apiserver/eviction.rs) and the scheduler's preemption know how many of the selected
//! pods may go.
//!
//! For a budget: the selected pods are those of its namespace matching its selector (no
//! selector selects nothing, an empty one every pod). `expectedPods` is the sum of the
//! scales of the pods' controllers — a ReplicaSet's replicas (its Deployment's when a
//! Deployment owns it), a StatefulSet's replicas — except for an integer
//! `minAvailable`, where it is simply the number of selected pods. `desiredHealthy` is `minAvailable` (a percentage of
//! expectedPods rounded up) or expectedPods − `maxUnavailable` (a percentage rounded up),
//! at least 0. `currentHealthy` counts selected pods that are Ready, not terminating, and
//! not listed in `disruptedPods` (pods the eviction API let go less than
//! `DeletionTimeout` = 2 min ago). `disruptionsAllowed` is currentHealthy −
//! desiredHealthy, or 0 when that is negative or no pod is expected. A pod whose
//! controller has no scale (a DaemonSet, a Job) makes the sync
//! fail: the fail-safe writes `disruptionsAllowed: 0` with the `DisruptionAllowed`
//! condition False, reason `SyncFailed`.

use std::rc::Rc;

use sim_core::{Context, SimDuration, SimTime};

use super::index::NsName;
use super::{ControllerManager, WorkKey, ns_name};
use crate::api::{
    ApiVerb, ConditionStatus, DisruptionAllowedCondition, IntOrPercent, Kind, Object, Pod,
    PodDisruptionBudget, PodDisruptionBudgetSpec, PodDisruptionBudgetStatus, Resource, Str, s,
};
use crate::client::Delta;
use crate::msg::Msg;

/// Upstream `DeletionTimeout`: how long an eviction's entry in `disruptedPods` keeps the
/// pod out of `currentHealthy` when the pod is not seen terminating.
pub const DELETION_TIMEOUT: SimDuration = SimDuration::from_secs(120);

pub const REASON_SUFFICIENT_PODS: &str = "SufficientPods";
pub const REASON_INSUFFICIENT_PODS: &str = "InsufficientPods";
pub const REASON_SYNC_FAILED: &str = "SyncFailed";

/// `expectedPods` and `desiredHealthy` of a budget (upstream `getExpectedPodCount`).
/// `selected_pods` is how many pods the selector picks; `scale` sums the scales of their
/// controllers, or says which pod has none kubesim can scale. It is only asked for
/// when the spec needs it.
pub fn expected_and_desired(
    spec: &PodDisruptionBudgetSpec,
    selected_pods: u32,
    scale: impl FnOnce() -> Result<u32, String>,
) -> Result<(u32, u32), String> {
    if let Some(max_unavailable) = spec.max_unavailable {
        let expected = scale()?;
        let unavailable = max_unavailable.scaled(expected, true);
        return Ok((expected, expected.saturating_sub(unavailable)));
    }
    match spec.min_available {
        Some(IntOrPercent::Int(n)) => Ok((selected_pods, n)),
        Some(percent @ IntOrPercent::Percent(_)) => {
            let expected = scale()?;
            Ok((expected, percent.scaled(expected, true)))
        }
        None => Ok((0, 0)),
    }
}

/// Whether an entry of `disruptedPods` made at `evicted_at` still holds at `now`.
fn still_disrupted(evicted_at: SimTime, now: SimTime) -> bool {
    evicted_at + DELETION_TIMEOUT > now
}

/// The `disruptedPods` to keep (upstream `buildDisruptedPodMap`): entries of pods that
/// are still selected, not terminating, and evicted less than `DELETION_TIMEOUT` ago;
/// and when the earliest of them runs out (the budget must be synced again then).
pub fn keep_disrupted_pods(
    pods: &[&Rc<Pod>],
    previous: &[(Str, SimTime)],
    now: SimTime,
) -> (Vec<(Str, SimTime)>, Option<SimTime>) {
    let mut kept = Vec::new();
    let mut recheck: Option<SimTime> = None;
    if previous.is_empty() {
        return (kept, recheck);
    }
    for pod in pods {
        if pod.metadata.is_terminating() {
            continue;
        }
        let Ok(index) =
            previous.binary_search_by(|(name, _)| name.as_ref().cmp(pod.metadata.name.as_ref()))
        else {
            continue;
        };
        let evicted_at = previous[index].1;
        // Upstream keeps an entry whose deadline is not before now.
        if evicted_at + DELETION_TIMEOUT >= now {
            let deadline = evicted_at + DELETION_TIMEOUT;
            recheck = Some(recheck.map_or(deadline, |r| r.min(deadline)));
            kept.push(previous[index].clone());
        }
    }
    kept.sort_by(|a, b| a.0.cmp(&b.0));
    (kept, recheck)
}

/// `currentHealthy` (upstream `countHealthyPods`).
pub fn count_healthy(pods: &[&Rc<Pod>], disrupted: &[(Str, SimTime)], now: SimTime) -> u32 {
    let disrupted_now = |pod: &Pod| {
        disrupted
            .binary_search_by(|(name, _)| name.as_ref().cmp(pod.metadata.name.as_ref()))
            .is_ok_and(|index| still_disrupted(disrupted[index].1, now))
    };
    pods.iter()
        .filter(|pod| !pod.metadata.is_terminating() && !disrupted_now(pod) && pod.is_ready())
        .count() as u32
}

/// Sets the `DisruptionAllowed` condition from `disruptions_allowed` (upstream
/// `UpdateDisruptionAllowedCondition`), keeping its transition time when its status
/// does not change.
pub fn set_disruption_allowed_condition(status: &mut PodDisruptionBudgetStatus, now: SimTime) {
    let (value, reason) = if status.disruptions_allowed > 0 {
        (ConditionStatus::True, REASON_SUFFICIENT_PODS)
    } else {
        (ConditionStatus::False, REASON_INSUFFICIENT_PODS)
    };
    set_condition(status, value, reason, "", now);
}

fn set_condition(
    status: &mut PodDisruptionBudgetStatus,
    value: ConditionStatus,
    reason: &str,
    message: &str,
    now: SimTime,
) {
    let last_transition_time = match &status.disruption_allowed_condition {
        Some(old) if old.status == value => old.last_transition_time,
        _ => now,
    };
    status.disruption_allowed_condition = Some(DisruptionAllowedCondition {
        status: value,
        reason: s(reason),
        message: s(message),
        last_transition_time,
    });
}

/// The status a budget should have (upstream `updatePdbStatus`).
pub fn budget_status(
    budget: &PodDisruptionBudget,
    current_healthy: u32,
    (expected_pods, desired_healthy): (u32, u32),
    disrupted_pods: Vec<(Str, SimTime)>,
    now: SimTime,
) -> PodDisruptionBudgetStatus {
    let disruptions_allowed = if expected_pods == 0 {
        0
    } else {
        current_healthy.saturating_sub(desired_healthy)
    };
    let mut status = PodDisruptionBudgetStatus {
        observed_generation: budget.metadata.generation,
        disruptions_allowed,
        current_healthy,
        desired_healthy,
        expected_pods,
        disrupted_pods,
        disruption_allowed_condition: budget.status.disruption_allowed_condition.clone(),
    };
    set_disruption_allowed_condition(&mut status, now);
    // Same status and reason: keep the condition exactly as written.
    if let (Some(old), Some(new)) = (
        &budget.status.disruption_allowed_condition,
        &status.disruption_allowed_condition,
    ) && old.status == new.status
        && old.reason == new.reason
    {
        status.disruption_allowed_condition = Some(old.clone());
    }
    status
}

/// The status the fail-safe writes when a sync fails (upstream `failSafe`): no disruption
/// allowed, and why.
pub fn fail_safe_status(
    budget: &PodDisruptionBudget,
    why: &str,
    now: SimTime,
) -> PodDisruptionBudgetStatus {
    let mut status = budget.status.clone();
    status.disruptions_allowed = 0;
    set_condition(
        &mut status,
        ConditionStatus::False,
        REASON_SYNC_FAILED,
        why,
        now,
    );
    status
}

/// Whether a pod change can move a budget's status.
fn matters(old: &Pod, new: &Pod) -> bool {
    old.is_ready() != new.is_ready()
        || old.metadata.is_terminating() != new.metadata.is_terminating()
        || old.status.phase != new.status.phase
        || old.metadata.labels != new.metadata.labels
        || old.metadata.controller_ref() != new.metadata.controller_ref()
}

impl ControllerManager {
    pub(super) fn on_budget_delta(
        &mut self,
        delta: Delta<PodDisruptionBudget>,
        cx: &mut Context<'_, Msg>,
    ) {
        let key = self.observe_written(&delta);
        if matches!(delta, Delta::Deleted(_)) {
            self.budgets_by_namespace.remove(&key.0, &key.1);
        } else {
            self.budgets_by_namespace
                .insert(key.0.clone(), key.1.clone());
        }
        self.enqueue(WorkKey::PodDisruptionBudget(key), cx);
    }

    /// A pod changed: the budgets that select it (before or after) sync again.
    pub(super) fn disruption_on_pod(
        &mut self,
        old: Option<&Rc<Pod>>,
        new: Option<&Rc<Pod>>,
        cx: &mut Context<'_, Msg>,
    ) {
        if let (Some(old), Some(new)) = (old, new)
            && !matters(old, new)
        {
            return;
        }
        let mut dirty: Vec<NsName> = Vec::new();
        for pod in [old, new].into_iter().flatten() {
            let namespace = &pod.metadata.namespace;
            for name in self.budgets_by_namespace.get(namespace) {
                let selects = self
                    .informers
                    .pdbs
                    .get(namespace, name)
                    .and_then(|budget| budget.spec.selector.as_ref())
                    .is_some_and(|selector| selector.matches(&pod.metadata.labels));
                let key = ns_name(namespace, name);
                if selects && !dirty.contains(&key) {
                    dirty.push(key);
                }
            }
        }
        for key in dirty {
            self.enqueue(WorkKey::PodDisruptionBudget(key), cx);
        }
    }

    /// The scale of the controllers of `pods` (upstream `getExpectedScale`), each
    /// controller counted once; pods without a controller are left out.
    fn controllers_scale(&self, pods: &[&Rc<Pod>]) -> Result<u32, String> {
        let mut seen: Vec<u64> = Vec::new();
        let mut total = 0u32;
        for pod in pods {
            let Some(owner) = pod.metadata.controller_ref() else {
                continue;
            };
            let namespace = &pod.metadata.namespace;
            let found = match owner.kind {
                Kind::ReplicaSet => self
                    .informers
                    .replicasets
                    .get(namespace, &owner.name)
                    .filter(|rs| rs.metadata.uid == owner.uid)
                    .and_then(|rs| match rs.metadata.controller_ref() {
                        Some(d) if d.kind == Kind::Deployment => self
                            .informers
                            .deployments
                            .get(namespace, &d.name)
                            .filter(|deployment| deployment.metadata.uid == d.uid)
                            .map(|deployment| (deployment.metadata.uid, deployment.spec.replicas)),
                        _ => Some((rs.metadata.uid, rs.spec.replicas)),
                    }),
                Kind::Deployment => self
                    .informers
                    .deployments
                    .get(namespace, &owner.name)
                    .filter(|d| d.metadata.uid == owner.uid)
                    .map(|d| (d.metadata.uid, d.spec.replicas)),
                Kind::StatefulSet => self
                    .informers
                    .statefulsets
                    .get(namespace, &owner.name)
                    .filter(|set| set.metadata.uid == owner.uid)
                    .map(|set| (set.metadata.uid, set.spec.replicas)),
                // DaemonSets and Jobs have no scale subresource: upstream's finders
                // fail for them too.
                _ => None,
            };
            let Some((uid, replicas)) = found else {
                return Err(format!(
                    "found no controllers for pod \"{}\"",
                    pod.metadata.name
                ));
            };
            if !seen.contains(&uid) {
                seen.push(uid);
                total += replicas;
            }
        }
        Ok(total)
    }

    /// `sync` / `trySync` of one budget.
    pub(super) fn sync_budget(&mut self, key: &NsName, cx: &mut Context<'_, Msg>) {
        let Some(budget) = self.informers.pdbs.get(&key.0, &key.1).cloned() else {
            return;
        };
        let object = (Kind::PodDisruptionBudget, key.0.clone(), key.1.clone());
        if !self.writes.fresh(&object) {
            // Our last write has not come back through the informer; its event syncs
            // the budget again.
            return;
        }
        let now = cx.host_clock();
        let pods: Vec<&Rc<Pod>> = match &budget.spec.selector {
            None => Vec::new(),
            Some(selector) => self
                .pods
                .selected(&key.0, &selector.match_labels)
                .into_iter()
                .filter(|pod| selector.matches(&pod.metadata.labels))
                .collect(),
        };
        let counts = expected_and_desired(&budget.spec, pods.len() as u32, || {
            self.controllers_scale(&pods)
        });
        let mut recheck = None;
        let status = match counts {
            Ok(counts) => {
                let (disrupted, due) =
                    keep_disrupted_pods(&pods, &budget.status.disrupted_pods, now);
                recheck = due;
                let healthy = count_healthy(&pods, &disrupted, now);
                budget_status(&budget, healthy, counts, disrupted, now)
            }
            Err(why) => {
                cx.record("detail", || {
                    format!(
                        "poddisruptionbudget {}/{}: sync failed: {why}",
                        key.0, key.1
                    )
                });
                fail_safe_status(&budget, &why, now)
            }
        };
        if let Some(due) = recheck {
            self.enqueue_after(
                WorkKey::PodDisruptionBudget(key.clone()),
                due.saturating_since(now),
                cx,
            );
        }
        if status == budget.status {
            return;
        }
        let old = &budget.status;
        let story = old.disruptions_allowed != status.disruptions_allowed
            || old.current_healthy != status.current_healthy
            || old.desired_healthy != status.desired_healthy
            || old.observed_generation == 0;
        let narrate = |status: &PodDisruptionBudgetStatus| {
            format!(
                "poddisruptionbudget {}/{}: {} of {} expected pods healthy, {} needed: {} disruption(s) allowed",
                key.0,
                key.1,
                status.current_healthy,
                status.expected_pods,
                status.desired_healthy,
                status.disruptions_allowed
            )
        };
        if story {
            cx.record("step", || narrate(&status));
        } else {
            cx.record("detail", || narrate(&status));
        }
        let mut updated = (*budget).clone();
        updated.status = status;
        let verb = ApiVerb::UpdateStatus(Object::from(updated));
        self.write(WorkKey::PodDisruptionBudget(key.clone()), object, verb, cx);
    }

    /// The informer's resourceVersion of a budget (for the write tracker).
    pub(super) fn cached_budget_version(&self, namespace: &Str, name: &Str) -> Option<u64> {
        self.informers
            .pdbs
            .get(namespace, name)
            .map(|budget| budget.metadata().resource_version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{LabelSelector, Labels, ObjectMeta, PodPhase};
    use crate::scheduler::plugins::tests::pod_with;

    fn spec(min: Option<IntOrPercent>, max: Option<IntOrPercent>) -> PodDisruptionBudgetSpec {
        PodDisruptionBudgetSpec {
            min_available: min,
            max_unavailable: max,
            selector: Some(LabelSelector::from_labels(Labels::from_pairs([(
                "app", "web",
            )]))),
            ..Default::default()
        }
    }

    fn scale(n: u32) -> impl FnOnce() -> Result<u32, String> {
        move || Ok(n)
    }

    #[test]
    fn integer_min_available_counts_the_selected_pods_not_the_scale() {
        let spec = spec(Some(IntOrPercent::Int(2)), None);
        assert_eq!(
            expected_and_desired(&spec, 3, || Err("not asked".into())),
            Ok((3, 2))
        );
    }

    #[test]
    fn percentages_round_up_against_the_controllers_scale() {
        // minAvailable 50% of 5 → ceil(2.5) = 3.
        let min = spec(Some(IntOrPercent::Percent(50)), None);
        assert_eq!(expected_and_desired(&min, 4, scale(5)), Ok((5, 3)));
        // maxUnavailable 30% of 5 → ceil(1.5) = 2 unavailable → 3 desired.
        let max = spec(None, Some(IntOrPercent::Percent(30)));
        assert_eq!(expected_and_desired(&max, 5, scale(5)), Ok((5, 3)));
        // maxUnavailable 1 of 3 → 2; larger than the scale → 0.
        let one = spec(None, Some(IntOrPercent::Int(1)));
        assert_eq!(expected_and_desired(&one, 3, scale(3)), Ok((3, 2)));
        let many = spec(None, Some(IntOrPercent::Int(9)));
        assert_eq!(expected_and_desired(&many, 3, scale(3)), Ok((3, 0)));
        // A scale that cannot be found fails the sync.
        assert!(expected_and_desired(&max, 5, || Err("found no controllers".into())).is_err());
        // Neither set: nothing expected, nothing desired.
        assert_eq!(
            expected_and_desired(&spec(None, None), 3, scale(3)),
            Ok((0, 0))
        );
    }

    fn pod(name: &str, ready: bool) -> Rc<Pod> {
        let mut pod = pod_with(vec![], vec![]);
        pod.metadata.name = s(name);
        pod.status.phase = PodPhase::Running;
        pod.status.ready = ConditionStatus::from_bool(ready);
        Rc::new(pod)
    }

    fn at(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    #[test]
    fn healthy_pods_are_ready_not_terminating_and_not_just_evicted() {
        let mut terminating = (*pod("c", true)).clone();
        terminating.metadata.deletion_timestamp = Some(at(0));
        let terminating = Rc::new(terminating);
        let (a, b, d) = (pod("a", true), pod("b", false), pod("d", true));
        let pods = vec![&a, &b, &terminating, &d];
        assert_eq!(count_healthy(&pods, &[], at(0)), 2);
        let disrupted = vec![(s("d"), at(10))];
        assert_eq!(count_healthy(&pods, &disrupted, at(20)), 1);
        // After DeletionTimeout the entry no longer counts.
        assert_eq!(count_healthy(&pods, &disrupted, at(131)), 2);
    }

    #[test]
    fn disrupted_pods_are_dropped_when_terminating_gone_or_expired() {
        let mut terminating = (*pod("b", true)).clone();
        terminating.metadata.deletion_timestamp = Some(at(0));
        let terminating = Rc::new(terminating);
        let (a, c) = (pod("a", true), pod("c", true));
        let pods = vec![&a, &terminating, &c];
        let previous = vec![
            (s("a"), at(10)),
            (s("b"), at(10)),
            (s("c"), at(50)),
            (s("gone"), at(10)),
        ];
        let (kept, recheck) = keep_disrupted_pods(&pods, &previous, at(60));
        assert_eq!(kept, vec![(s("a"), at(10)), (s("c"), at(50))]);
        assert_eq!(recheck, Some(at(130)));
        let (kept, recheck) = keep_disrupted_pods(&pods, &previous, at(131));
        assert_eq!(kept, vec![(s("c"), at(50))]);
        assert_eq!(recheck, Some(at(170)));
    }

    fn budget() -> PodDisruptionBudget {
        let mut metadata = ObjectMeta::named("default", "web");
        metadata.generation = 2;
        PodDisruptionBudget {
            metadata,
            spec: spec(Some(IntOrPercent::Int(2)), None),
            status: PodDisruptionBudgetStatus::default(),
        }
    }

    #[test]
    fn status_allows_the_surplus_and_names_the_condition() {
        let b = budget();
        let status = budget_status(&b, 3, (3, 2), Vec::new(), at(5));
        assert_eq!(status.disruptions_allowed, 1);
        assert_eq!(status.observed_generation, 2);
        let condition = status.disruption_allowed_condition.clone().unwrap();
        assert_eq!(
            (condition.status, &*condition.reason),
            (ConditionStatus::True, REASON_SUFFICIENT_PODS)
        );
        // Fewer healthy than desired: 0, not negative; nothing expected: 0.
        let short = budget_status(&b, 1, (3, 2), Vec::new(), at(5));
        assert_eq!(short.disruptions_allowed, 0);
        assert_eq!(
            &*short.disruption_allowed_condition.unwrap().reason,
            REASON_INSUFFICIENT_PODS
        );
        assert_eq!(
            budget_status(&b, 3, (0, 0), Vec::new(), at(5)).disruptions_allowed,
            0
        );
        // An unchanged condition keeps its transition time.
        let mut settled = b.clone();
        settled.status = status;
        let again = budget_status(&settled, 4, (4, 2), Vec::new(), at(50));
        assert_eq!(
            again
                .disruption_allowed_condition
                .unwrap()
                .last_transition_time,
            at(5)
        );
    }

    #[test]
    fn fail_safe_allows_nothing_and_says_why() {
        let mut b = budget();
        b.status.disruptions_allowed = 2;
        b.status.current_healthy = 4;
        let status = fail_safe_status(&b, "found no controllers for pod \"x\"", at(1));
        assert_eq!(status.disruptions_allowed, 0);
        assert_eq!(status.current_healthy, 4);
        let condition = status.disruption_allowed_condition.unwrap();
        assert_eq!(&*condition.reason, REASON_SYNC_FAILED);
        assert_eq!(&*condition.message, "found no controllers for pod \"x\"");
    }
}
