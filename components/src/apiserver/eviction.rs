//! The `pods/eviction` subresource: a delete that asks the pod's PodDisruptionBudget
//! first (pkg/registry/core/pod/storage/eviction.go).
//!
//! An eviction of a pod that is finished, still Pending or already terminating deletes it
//! without looking at any budget. Otherwise the budgets of the pod's namespace whose
//! selector picks the pod are found: none → delete; more than one → 500; one → a pod that
//! is not Ready may go without using a disruption (`AlwaysAllow`, or `IfHealthyBudget`
//! while the budget is met); a Ready pod needs `disruptionsAllowed > 0`, which the server
//! decrements in the budget's status (recording the pod in `disruptedPods`) with a
//! resourceVersion-checked write before it deletes the pod. A budget that allows nothing
//! now answers 429 TooManyRequests, which clients such as `kubectl drain` retry.
//!
//! Not modelled: the `DisruptionTarget` pod condition upstream adds before the delete,
//! dry-run, and a resourceVersion precondition on the delete (kubesim's delete checks the
//! pod's uid only).

use std::rc::Rc;

use sim_core::{ActorId, Context, SimTime};

use super::{ApiServer, PendingWrite, error, not_found};
use crate::api::{
    ApiError, ApiVerb, FieldSelector, Kind, Object, Pod, PodDisruptionBudget, PodPhase, RequestId,
    Resource, StatusReason, UnhealthyPodEvictionPolicy,
};
use crate::etcd::{Compare, EtcdRequest, TxnOp};
use crate::msg::Msg;

/// Upstream `MaxDisruptedPodSize`: a budget with more evictions the controller has not
/// confirmed refuses further ones (403).
pub const MAX_DISRUPTED_POD_SIZE: usize = 2000;

/// Upstream `EvictionsRetry.Steps`: how many times a budget write that lost a race is
/// tried again against the fresh budget (upstream sleeps 500 ms between tries; kubesim
/// retries at once with the value etcd returned).
pub const EVICTION_CONFLICT_ATTEMPTS_MAX: u32 = 20;

/// The message of a refused eviction (upstream `NewTooManyRequests`).
pub const EVICTION_REFUSED: &str =
    "Cannot evict pod as it would violate the pod's disruption budget.";

/// What an eviction does, decided from the pod and the budgets that select it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EvictionDecision {
    /// Delete the pod without charging any budget.
    Delete(DeleteWhy),
    /// Write this budget (one disruption fewer, the pod recorded), then delete the pod.
    Charge(Box<PodDisruptionBudget>),
    Refuse(ApiError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteWhy {
    /// Finished, Pending or terminating (upstream `canIgnorePDB`).
    IgnoresBudgets,
    NoBudget,
    /// Not Ready, and the budget's unhealthyPodEvictionPolicy lets it go.
    Unhealthy,
}

impl DeleteWhy {
    pub fn describe(self) -> &'static str {
        match self {
            DeleteWhy::IgnoresBudgets => "the pod is not running, no budget applies",
            DeleteWhy::NoBudget => "no disruption budget selects the pod",
            DeleteWhy::Unhealthy => "the pod is not ready and its budget lets unhealthy pods go",
        }
    }
}

/// Whether an eviction may skip the budgets (upstream `canIgnorePDB`).
pub fn can_ignore_budgets(pod: &Pod) -> bool {
    matches!(
        pod.status.phase,
        PodPhase::Succeeded | PodPhase::Failed | PodPhase::Pending
    ) || pod.metadata.is_terminating()
}

/// Whether the eviction API counts `budget` as covering `pod`: same namespace, and a
/// selector that is set, not empty, and matches (a budget with no or an empty selector
/// covers nothing here, as upstream's `getPodDisruptionBudgets` says).
pub fn budget_covers(budget: &PodDisruptionBudget, pod: &Pod) -> bool {
    budget.metadata.namespace == pod.metadata.namespace
        && budget
            .spec
            .selector
            .as_ref()
            .is_some_and(|s| !s.is_empty() && s.matches(&pod.metadata.labels))
}

/// The eviction rules: `budgets` are those covering `pod`; `now` is the server's clock,
/// written into `disruptedPods`.
pub fn decide_eviction(
    pod: &Pod,
    budgets: &[Rc<PodDisruptionBudget>],
    now: SimTime,
) -> EvictionDecision {
    if can_ignore_budgets(pod) {
        return EvictionDecision::Delete(DeleteWhy::IgnoresBudgets);
    }
    let budget = match budgets {
        [] => return EvictionDecision::Delete(DeleteWhy::NoBudget),
        [budget] => budget,
        _ => {
            return EvictionDecision::Refuse(error(
                StatusReason::InternalError,
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.".to_string(),
            ));
        }
    };
    let status = &budget.status;
    if !pod.is_ready() {
        let lets_go = match budget.spec.unhealthy_pod_eviction_policy {
            UnhealthyPodEvictionPolicy::AlwaysAllow => true,
            UnhealthyPodEvictionPolicy::IfHealthyBudget => {
                status.current_healthy >= status.desired_healthy && status.desired_healthy > 0
            }
        };
        if lets_go {
            return EvictionDecision::Delete(DeleteWhy::Unhealthy);
        }
    }
    // checkAndDecrement.
    let name = &budget.metadata.name;
    if status.observed_generation < budget.metadata.generation {
        return EvictionDecision::Refuse(error(
            StatusReason::TooManyRequests,
            format!(
                "{EVICTION_REFUSED} The disruption budget {name} is still being processed by the server."
            ),
        ));
    }
    if status.disrupted_pods.len() > MAX_DISRUPTED_POD_SIZE {
        return EvictionDecision::Refuse(error(
            StatusReason::Forbidden,
            format!(
                "poddisruptionbudgets.policy \"{name}\" is forbidden: DisruptedPods map too big - too many evictions not confirmed by PDB controller"
            ),
        ));
    }
    if status.disruptions_allowed == 0 {
        return EvictionDecision::Refuse(error(
            StatusReason::TooManyRequests,
            format!(
                "{EVICTION_REFUSED} The disruption budget {name} needs {} healthy pods and has {} currently",
                status.desired_healthy, status.current_healthy
            ),
        ));
    }
    let mut charged = (**budget).clone();
    let status = &mut charged.status;
    status.disruptions_allowed -= 1;
    if status.disruptions_allowed == 0 {
        crate::controllers::disruption::set_disruption_allowed_condition(status, now);
    }
    let pod_name = &pod.metadata.name;
    match status
        .disrupted_pods
        .binary_search_by(|(name, _)| name.as_ref().cmp(pod_name.as_ref()))
    {
        Ok(index) => status.disrupted_pods[index].1 = now,
        Err(index) => status.disrupted_pods.insert(index, (pod_name.clone(), now)),
    }
    EvictionDecision::Charge(Box::new(charged))
}

impl ApiServer {
    /// Handles an eviction of `pod` for `client`. `fresh` is a budget's newer value etcd
    /// returned when a charge lost a race; it stands in for the cache's copy.
    pub(super) fn evict(
        &mut self,
        client: (ActorId, RequestId),
        verb: ApiVerb,
        attempts: u32,
        fresh: Option<Rc<PodDisruptionBudget>>,
        cx: &mut Context<'_, Msg>,
    ) {
        let ApiVerb::Evict {
            pod: key,
            grace_period_seconds,
        } = &verb
        else {
            unreachable!("evict() handles evictions")
        };
        let Some(Object::Pod(pod)) = self.cache.get(key).cloned() else {
            self.reply(
                client.0,
                client.1,
                Err(not_found(key)),
                self.config.request_latency,
                cx,
            );
            return;
        };
        let budgets: Vec<Rc<PodDisruptionBudget>> = self
            .cache
            .list(
                Kind::PodDisruptionBudget,
                Some(&key.namespace),
                &FieldSelector::Everything,
            )
            .into_iter()
            .filter_map(|object| match object {
                Object::PodDisruptionBudget(budget) => Some(budget),
                _ => None,
            })
            .map(|budget| match &fresh {
                Some(newer) if newer.metadata.name == budget.metadata.name => newer.clone(),
                _ => budget,
            })
            .filter(|budget| budget_covers(budget, &pod))
            .collect();
        match decide_eviction(&pod, &budgets, cx.host_clock()) {
            EvictionDecision::Delete(why) => {
                cx.record("detail", || format!("evict {key}: {}", why.describe()));
                let delete = ApiVerb::Delete {
                    key: key.clone(),
                    grace_period_seconds: *grace_period_seconds,
                    uid_precondition: pod.metadata.uid,
                    propagation_policy: None,
                };
                self.begin_write(Some(client), delete, 0, cx);
            }
            EvictionDecision::Refuse(refusal) => {
                let (code, message) = (refusal.reason.code(), refusal.message.clone());
                cx.record("detail", || {
                    format!("evict {key}: refused ({code}): {message}")
                });
                self.reply(
                    client.0,
                    client.1,
                    Err(refusal),
                    self.config.request_latency,
                    cx,
                );
            }
            EvictionDecision::Charge(charged) => {
                let allowed = charged.status.disruptions_allowed + 1;
                let budget_name = charged.metadata.name.clone();
                cx.record("detail", || {
                    format!(
                        "evict {key}: poddisruptionbudget {}/{budget_name} allows {allowed} disruption(s); writing one fewer and the pod into its disruptedPods",
                        key.namespace
                    )
                });
                let budget_key = charged.key();
                let compare = Compare::ModRevision(charged.metadata.resource_version);
                let id = self.etcd_id();
                self.track_deadline(Some(client), id, cx.now());
                self.pending.insert(
                    id,
                    PendingWrite {
                        client: Some(client),
                        verb,
                        attempts: attempts + 1,
                        generated_name: false,
                        removes: false,
                        cache_slot: None,
                    },
                );
                cx.send(
                    self.etcd,
                    Msg::Etcd(Box::new(EtcdRequest::Txn {
                        id,
                        key: budget_key,
                        compare,
                        op: TxnOp::Put(Object::from(*charged)),
                    })),
                );
            }
        }
    }

    /// etcd answered the write that charged a budget for an eviction: delete the pod, or
    /// try again against the budget's newer value.
    pub(super) fn on_budget_charged(
        &mut self,
        pending: PendingWrite,
        succeeded: bool,
        value: Option<Object>,
        cx: &mut Context<'_, Msg>,
    ) {
        let client = pending.client.expect("evictions come from clients");
        let ApiVerb::Evict {
            pod,
            grace_period_seconds,
        } = &pending.verb
        else {
            unreachable!("only evictions charge budgets")
        };
        if succeeded {
            let (budget, left) = match &value {
                Some(Object::PodDisruptionBudget(b)) => {
                    (b.metadata.name.clone(), b.status.disruptions_allowed)
                }
                other => panic!("a budget write stored {other:?}"),
            };
            cx.record("step", || {
                format!(
                    "evict {pod}: allowed by poddisruptionbudget {}/{budget} ({left} more disruption(s) allowed now); deleting the pod",
                    pod.namespace
                )
            });
            let uid = match self.cache.get(pod) {
                Some(object) => object.meta().uid,
                None => {
                    self.reply(
                        client.0,
                        client.1,
                        Err(not_found(pod)),
                        self.config.request_latency,
                        cx,
                    );
                    return;
                }
            };
            let delete = ApiVerb::Delete {
                key: pod.clone(),
                grace_period_seconds: *grace_period_seconds,
                uid_precondition: uid,
                propagation_policy: None,
            };
            self.begin_write(Some(client), delete, 0, cx);
            return;
        }
        if pending.attempts >= EVICTION_CONFLICT_ATTEMPTS_MAX {
            let message = format!(
                "couldn't update PodDisruptionBudget for {} due to conflicts",
                pod.name
            );
            self.reply(
                client.0,
                client.1,
                Err(error(StatusReason::Timeout, message)),
                self.config.request_latency,
                cx,
            );
            return;
        }
        let fresh = match value {
            Some(Object::PodDisruptionBudget(budget)) => Some(budget),
            _ => None,
        };
        cx.record("detail", || {
            format!("evict {pod}: the disruption budget changed meanwhile; checking again")
        });
        self.evict(client, pending.verb, pending.attempts, fresh, cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        ConditionStatus, IntOrPercent, LabelSelector, Labels, ObjectMeta, PodDisruptionBudgetSpec,
        PodDisruptionBudgetStatus, s,
    };
    use crate::scheduler::plugins::tests::pod_with;

    fn running_pod(ready: bool) -> Pod {
        let mut pod = pod_with(vec![], vec![]);
        pod.metadata.name = s("web-1");
        pod.metadata.namespace = s("default");
        pod.metadata.labels = Labels::from_pairs([("app", "web")]);
        pod.status.phase = PodPhase::Running;
        pod.status.ready = ConditionStatus::from_bool(ready);
        pod
    }

    fn budget(allowed: u32, current: u32, desired: u32) -> Rc<PodDisruptionBudget> {
        let mut metadata = ObjectMeta::named("default", "web");
        metadata.generation = 1;
        Rc::new(PodDisruptionBudget {
            metadata,
            spec: PodDisruptionBudgetSpec {
                min_available: Some(IntOrPercent::Int(desired)),
                selector: Some(LabelSelector::from_labels(Labels::from_pairs([(
                    "app", "web",
                )]))),
                ..Default::default()
            },
            status: PodDisruptionBudgetStatus {
                observed_generation: 1,
                disruptions_allowed: allowed,
                current_healthy: current,
                desired_healthy: desired,
                expected_pods: current,
                ..Default::default()
            },
        })
    }

    const NOW: SimTime = SimTime::ZERO;

    #[test]
    fn a_ready_pod_charges_its_budget_and_is_recorded() {
        let decision = decide_eviction(&running_pod(true), &[budget(1, 3, 2)], NOW);
        let EvictionDecision::Charge(charged) = decision else {
            panic!("expected a charge, got {decision:?}")
        };
        assert_eq!(charged.status.disruptions_allowed, 0);
        assert_eq!(charged.status.disrupted_pods, vec![(s("web-1"), NOW)]);
        let condition = charged
            .status
            .disruption_allowed_condition
            .expect("set at 0");
        assert_eq!(condition.status, ConditionStatus::False);
        assert_eq!(&*condition.reason, "InsufficientPods");
    }

    #[test]
    fn no_disruption_left_is_429_naming_the_budget() {
        let decision = decide_eviction(&running_pod(true), &[budget(0, 2, 2)], NOW);
        let EvictionDecision::Refuse(refusal) = decision else {
            panic!("expected a refusal, got {decision:?}")
        };
        assert_eq!(refusal.reason.code(), 429);
        assert_eq!(
            refusal.message,
            "Cannot evict pod as it would violate the pod's disruption budget. The disruption budget web needs 2 healthy pods and has 2 currently"
        );
    }

    #[test]
    fn a_status_behind_the_spec_is_429() {
        let mut stale = (*budget(1, 3, 2)).clone();
        stale.metadata.generation = 2;
        let decision = decide_eviction(&running_pod(true), &[Rc::new(stale)], NOW);
        assert!(
            matches!(&decision, EvictionDecision::Refuse(e) if e.reason == StatusReason::TooManyRequests),
            "{decision:?}"
        );
    }

    #[test]
    fn two_budgets_are_500() {
        let decision =
            decide_eviction(&running_pod(true), &[budget(1, 3, 2), budget(1, 3, 2)], NOW);
        assert!(
            matches!(&decision, EvictionDecision::Refuse(e) if e.reason.code() == 500),
            "{decision:?}"
        );
    }

    #[test]
    fn pods_that_are_not_running_skip_the_budget() {
        for phase in [PodPhase::Pending, PodPhase::Succeeded, PodPhase::Failed] {
            let mut pod = running_pod(false);
            pod.status.phase = phase;
            assert_eq!(
                decide_eviction(&pod, &[budget(0, 0, 2)], NOW),
                EvictionDecision::Delete(DeleteWhy::IgnoresBudgets)
            );
        }
        let mut terminating = running_pod(true);
        terminating.metadata.deletion_timestamp = Some(NOW);
        assert_eq!(
            decide_eviction(&terminating, &[budget(0, 0, 2)], NOW),
            EvictionDecision::Delete(DeleteWhy::IgnoresBudgets)
        );
        assert_eq!(
            decide_eviction(&running_pod(true), &[], NOW),
            EvictionDecision::Delete(DeleteWhy::NoBudget)
        );
    }

    #[test]
    fn unready_pods_follow_the_unhealthy_pod_eviction_policy() {
        let unready = running_pod(false);
        // IfHealthyBudget: free while the budget is met (and wants someone healthy)...
        assert_eq!(
            decide_eviction(&unready, &[budget(0, 2, 2)], NOW),
            EvictionDecision::Delete(DeleteWhy::Unhealthy)
        );
        // ...otherwise it needs a disruption like a ready pod.
        assert!(matches!(
            decide_eviction(&unready, &[budget(0, 1, 2)], NOW),
            EvictionDecision::Refuse(_)
        ));
        assert!(matches!(
            decide_eviction(&unready, &[budget(0, 0, 0)], NOW),
            EvictionDecision::Refuse(_)
        ));
        let mut always = (*budget(0, 1, 2)).clone();
        always.spec.unhealthy_pod_eviction_policy = UnhealthyPodEvictionPolicy::AlwaysAllow;
        assert_eq!(
            decide_eviction(&unready, &[Rc::new(always.clone())], NOW),
            EvictionDecision::Delete(DeleteWhy::Unhealthy)
        );
        // AlwaysAllow says nothing about ready pods.
        assert!(matches!(
            decide_eviction(&running_pod(true), &[Rc::new(always)], NOW),
            EvictionDecision::Refuse(_)
        ));
    }

    #[test]
    fn only_a_set_non_empty_matching_selector_covers_a_pod() {
        let pod = running_pod(true);
        let mut b = (*budget(1, 3, 2)).clone();
        assert!(budget_covers(&b, &pod));
        b.spec.selector = Some(LabelSelector::default());
        assert!(!budget_covers(&b, &pod));
        b.spec.selector = None;
        assert!(!budget_covers(&b, &pod));
        let mut other = (*budget(1, 3, 2)).clone();
        other.metadata.namespace = s("other");
        assert!(!budget_covers(&other, &pod));
    }
}
