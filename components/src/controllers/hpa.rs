//! The HorizontalPodAutoscaler controller (pkg/controller/podautoscaler/horizontal.go and
//! replica_calculator.go, v1.34), for the CPU utilisation metric.
//!
//! Every `--horizontal-pod-autoscaler-sync-period` (15 s) each autoscaler asks
//! metrics-server for its namespace's PodMetrics, then:
//! 1. the replica calculation: utilisation = Σ usage / Σ requests of the target's ready
//!    pods with metrics; no change within the tolerance (0.1); otherwise
//!    ceil(utilisation / target × ready pods). Pods not yet ready (or still in their CPU
//!    initialisation period) count as 0% when scaling up; pods without metrics as 0% on
//!    a scale-up and as 100% of their request (or the target if higher) on a
//!    scale-down; a change of direction after that fill-in means no change.
//! 2. stabilisation: the recommendation is the current count pulled toward the
//!    recommendations of the window: up to the smallest of the scale-up window, down to
//!    the largest of the scale-down window (300 s by default).
//! 3. the rate policies: at most what `behavior` allows per period, counting the scale
//!    events of that period; then min/maxReplicas.
//!    The target's `spec.replicas` is written (its scale), then the status.
//!
//! Not modelled: metrics other than cpu utilisation (memory, pods, object, external,
//! container resource), `scale.status.selector` for targets other than Deployment,
//! ReplicaSet and StatefulSet, and the HPAScaleToZero gate.

use std::collections::BTreeMap;
use std::rc::Rc;

use sim_core::{ActorId, Context, SimDuration, SimTime};

use super::index::NsName;
use super::{ControllerManager, Pending, WorkKey, ns_name};
use crate::api::{
    ApiOk, ApiResponse, ApiVerb, ConditionStatus, CpuMetricStatus, HorizontalPodAutoscaler,
    HorizontalPodAutoscalerStatus, HpaCondition, Kind, LabelSelector, Object, PodPhase,
    ScalingPolicyType, ScalingRules, SelectPolicy, Str, s,
};
use crate::client::Delta;
use crate::metrics::{MetricsMsg, PodCpu};
use crate::msg::Msg;

/// What the replica calculation reads of one pod of the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodView {
    pub name: Str,
    pub phase: PodPhase,
    pub deleting: bool,
    /// The Ready condition and when it last changed (`None`: no condition yet).
    pub ready: Option<(ConditionStatus, SimTime)>,
    pub start_time: Option<SimTime>,
    /// Σ of the containers' CPU requests; `None` if a container has none.
    pub request_millicores: Option<u64>,
    pub metric: Option<PodCpu>,
}

/// The replica calculator's settings (kube-controller-manager flags).
#[derive(Clone, Copy, Debug)]
pub struct CalculatorConfig {
    /// `--horizontal-pod-autoscaler-tolerance` 0.1, in thousandths.
    pub tolerance_per_mille: u64,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period`, upstream 5 min.
    pub cpu_initialization_period: SimDuration,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay`, upstream 30 s.
    pub initial_readiness_delay: SimDuration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetricError {
    NoPods,
    MissingRequest(Str),
    NoMetrics,
}

impl MetricError {
    /// Upstream's message for the ScalingActive=False condition.
    pub fn message(&self) -> String {
        match self {
            MetricError::NoPods => {
                "unable to get metrics for resource cpu: no pods returned by selector while calculating replica count".to_string()
            }
            MetricError::MissingRequest(pod) => {
                format!("failed to get cpu utilization: missing request for cpu in container of pod {pod}")
            }
            MetricError::NoMetrics => {
                "failed to get cpu utilization: did not receive metrics for targeted pods (pods might be unready)".to_string()
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuRecommendation {
    pub replicas: u32,
    /// Of the ready pods with metrics, before any fill-in (what the status shows).
    pub utilization_percent: u32,
    pub average_millicores: u64,
}

fn within_tolerance(utilization: u64, target: u64, tolerance_per_mille: u64) -> bool {
    utilization.abs_diff(target) * 1000 <= tolerance_per_mille * target
}

/// (Σ usage × 100 / Σ requests, Σ usage / n) over `metrics` (usage, request).
fn utilization(metrics: &[(u64, u64)]) -> Option<(u64, u64)> {
    let usage: u64 = metrics.iter().map(|(u, _)| u).sum();
    let requests: u64 = metrics.iter().map(|(_, r)| r).sum();
    if requests == 0 {
        return None;
    }
    Some((usage * 100 / requests, usage / metrics.len() as u64))
}

/// Upstream `GetResourceReplicas` with `groupPods`, for cpu utilisation.
pub fn replicas_for_cpu(
    current_replicas: u32,
    target_percent: u32,
    pods: &[PodView],
    now: SimTime,
    config: CalculatorConfig,
) -> Result<CpuRecommendation, MetricError> {
    if pods.is_empty() {
        return Err(MetricError::NoPods);
    }
    let target = u64::from(target_percent);
    // groupPods: ready pods with metrics, unready ones, ones without metrics; deleted
    // and failed pods are ignored.
    let mut ready: Vec<(u64, u64)> = Vec::new();
    let mut unready_requests: Vec<u64> = Vec::new();
    let mut missing_requests: Vec<u64> = Vec::new();
    for pod in pods {
        // calculatePodRequests: every pod of the selector needs a request.
        let Some(request) = pod.request_millicores else {
            return Err(MetricError::MissingRequest(pod.name.clone()));
        };
        if pod.deleting || pod.phase == PodPhase::Failed {
            continue;
        }
        if pod.phase == PodPhase::Pending {
            unready_requests.push(request);
            continue;
        }
        let Some(metric) = pod.metric else {
            missing_requests.push(request);
            continue;
        };
        let unready = match (pod.ready, pod.start_time) {
            (None, _) | (_, None) => true,
            (Some((status, transition)), Some(start)) => {
                if start + config.cpu_initialization_period > now {
                    // Still initialising: unready, or the metric's window began before
                    // the pod last turned ready.
                    status == ConditionStatus::False
                        || metric.timestamp < transition + metric.window
                } else {
                    // Unready and never ready since shortly after its start.
                    status == ConditionStatus::False
                        && start + config.initial_readiness_delay > transition
                }
            }
        };
        if unready {
            unready_requests.push(request);
        } else {
            ready.push((metric.cpu_millicores, request));
        }
    }
    if ready.is_empty() {
        return Err(MetricError::NoMetrics);
    }
    let (utilization_first, average_millicores) =
        utilization(&ready).ok_or(MetricError::NoMetrics)?;
    let recommendation = |replicas: u32| CpuRecommendation {
        replicas,
        utilization_percent: u32::try_from(utilization_first).unwrap_or(u32::MAX),
        average_millicores,
    };
    let ceil_replicas = |utilization: u64, count: usize| -> u32 {
        u32::try_from((utilization * count as u64).div_ceil(target)).unwrap_or(u32::MAX)
    };
    let scale_up_with_unready = !unready_requests.is_empty() && utilization_first > target;
    if !scale_up_with_unready && missing_requests.is_empty() {
        if within_tolerance(utilization_first, target, config.tolerance_per_mille) {
            return Ok(recommendation(current_replicas));
        }
        return Ok(recommendation(ceil_replicas(
            utilization_first,
            ready.len(),
        )));
    }
    let mut filled = ready.clone();
    if !missing_requests.is_empty() {
        if utilization_first < target {
            // On a scale-down a pod without metrics is taken as using all its request
            // (or the target, when that is above 100%).
            let fallback = target.max(100);
            filled.extend(missing_requests.iter().map(|&r| (r * fallback / 100, r)));
        } else if utilization_first > target {
            filled.extend(missing_requests.iter().map(|&r| (0, r)));
        }
    }
    if scale_up_with_unready {
        filled.extend(unready_requests.iter().map(|&r| (0, r)));
    }
    let (utilization_new, _) = utilization(&filled).ok_or(MetricError::NoMetrics)?;
    if within_tolerance(utilization_new, target, config.tolerance_per_mille)
        || (utilization_first < target && utilization_new > target)
        || (utilization_first > target && utilization_new < target)
    {
        return Ok(recommendation(current_replicas));
    }
    let replicas = ceil_replicas(utilization_new, filled.len());
    if (utilization_new < target && replicas > current_replicas)
        || (utilization_new > target && replicas < current_replicas)
    {
        return Ok(recommendation(current_replicas));
    }
    Ok(recommendation(replicas))
}

/// One recommendation kept for stabilisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recommendation {
    pub replicas: u32,
    pub at: SimTime,
}

/// Upstream `stabilizeRecommendationWithBehaviors`: the current count, raised to the
/// smallest recommendation of the scale-up window and lowered to the largest of the
/// scale-down window (this one included); the new recommendation is remembered in
/// place of one older than both windows.
pub fn stabilize(
    recommendations: &mut Vec<Recommendation>,
    now: SimTime,
    current_replicas: u32,
    desired_replicas: u32,
    up_window: SimDuration,
    down_window: SimDuration,
) -> u32 {
    // `at` is after `now − window` (upstream's `timestamp.After(cutoff)`), written
    // without going below time zero.
    let within = |at: SimTime, window: SimDuration| at + window > now;
    let mut up = desired_replicas;
    let mut down = desired_replicas;
    let mut old_slot = None;
    for (index, recommendation) in recommendations.iter().enumerate() {
        if within(recommendation.at, up_window) {
            up = up.min(recommendation.replicas);
        }
        if within(recommendation.at, down_window) {
            down = down.max(recommendation.replicas);
        }
        let before = |window: SimDuration| recommendation.at + window < now;
        if before(up_window) && before(down_window) {
            old_slot = Some(index);
        }
    }
    let stabilized = current_replicas.max(up).min(down);
    let new = Recommendation {
        replicas: desired_replicas,
        at: now,
    };
    match old_slot {
        Some(index) => recommendations[index] = new,
        None => recommendations.push(new),
    }
    stabilized
}

/// A change of the target's replicas the autoscaler made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScaleEvent {
    pub replica_change: u32,
    pub at: SimTime,
}

/// Upstream `getReplicasChangePerPeriod`: the change made within the last period.
fn change_in_period(events: &[ScaleEvent], now: SimTime, period_seconds: u32) -> u32 {
    let period = SimDuration::from_secs(u64::from(period_seconds));
    events
        .iter()
        .filter(|event| event.at + period > now)
        .map(|event| event.replica_change)
        .sum()
}

/// The replicas at the start of a policy's period: now, less what was added within it,
/// plus what was removed.
fn period_start(
    current: u32,
    up: &[ScaleEvent],
    down: &[ScaleEvent],
    now: SimTime,
    period: u32,
) -> i64 {
    i64::from(current) - i64::from(change_in_period(up, now, period))
        + i64::from(change_in_period(down, now, period))
}

/// Upstream `calculateScaleUpLimitWithScalingRules`.
pub fn scale_up_limit(
    current: u32,
    up: &[ScaleEvent],
    down: &[ScaleEvent],
    rules: &ScalingRules,
    now: SimTime,
) -> u32 {
    if rules.select_policy == SelectPolicy::Disabled {
        return current;
    }
    let proposals = rules.policies.iter().map(|policy| {
        let start = period_start(current, up, down, now, policy.period_seconds);
        match policy.type_ {
            ScalingPolicyType::Pods => start + i64::from(policy.value),
            // ceil(start × (1 + value/100))
            ScalingPolicyType::Percent => {
                (start * (100 + i64::from(policy.value)) + 99).div_euclid(100)
            }
        }
    });
    let limit = match rules.select_policy {
        SelectPolicy::Min => proposals.min(),
        _ => proposals.max(),
    };
    u32::try_from(limit.unwrap_or(i64::from(current)).max(0)).unwrap_or(u32::MAX)
}

/// Upstream `calculateScaleDownLimitWithBehaviors`.
pub fn scale_down_limit(
    current: u32,
    up: &[ScaleEvent],
    down: &[ScaleEvent],
    rules: &ScalingRules,
    now: SimTime,
) -> u32 {
    if rules.select_policy == SelectPolicy::Disabled {
        return current;
    }
    let proposals = rules.policies.iter().map(|policy| {
        let start = period_start(current, up, down, now, policy.period_seconds);
        match policy.type_ {
            ScalingPolicyType::Pods => start - i64::from(policy.value),
            // int32(start × (1 − value/100)), truncated
            ScalingPolicyType::Percent => start * (100 - i64::from(policy.value.min(100))) / 100,
        }
    });
    // Max selects the policy allowing the biggest change: the lowest count.
    let limit = match rules.select_policy {
        SelectPolicy::Min => proposals.max(),
        _ => proposals.min(),
    };
    u32::try_from(limit.unwrap_or(i64::from(current)).max(0)).unwrap_or(0)
}

/// The outcome of the rate policies and min/max (upstream
/// `convertDesiredReplicasWithBehaviorRate`): the count, and the ScalingLimited reason
/// and message.
pub fn apply_rate_limits(
    hpa: &HorizontalPodAutoscaler,
    current: u32,
    desired: u32,
    up: &[ScaleEvent],
    down: &[ScaleEvent],
    now: SimTime,
) -> (u32, &'static str, &'static str) {
    let spec = &hpa.spec;
    if desired > current {
        let limit = scale_up_limit(current, up, down, &spec.behavior.scale_up, now).max(current);
        let (maximum, reason, message) = if spec.max_replicas > limit {
            (
                limit,
                "ScaleUpLimit",
                "the desired replica count is increasing faster than the maximum scale rate",
            )
        } else {
            (
                spec.max_replicas,
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
            )
        };
        if desired > maximum {
            return (maximum, reason, message);
        }
    } else if desired < current {
        let limit =
            scale_down_limit(current, up, down, &spec.behavior.scale_down, now).min(current);
        let (minimum, reason, message) = if spec.min_replicas < limit {
            (
                limit,
                "ScaleDownLimit",
                "the desired replica count is decreasing faster than the maximum scale rate",
            )
        } else {
            (
                spec.min_replicas,
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
            )
        };
        if desired < minimum {
            return (minimum, reason, message);
        }
    }
    (
        desired,
        "DesiredWithinRange",
        "the desired count is within the acceptable range",
    )
}

fn condition(
    status: ConditionStatus,
    reason: &str,
    message: impl Into<String>,
) -> Option<HpaCondition> {
    Some(HpaCondition {
        status,
        reason: s(reason),
        message: Str::from(message.into()),
    })
}

/// What one reconcile decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub desired_replicas: u32,
    pub status: HorizontalPodAutoscalerStatus,
    /// Why, for the narration.
    pub reason: String,
}

/// The autoscaler's memory between syncs.
#[derive(Debug, Default)]
pub struct HpaState {
    metrics_server: Option<ActorId>,
    next_request_id: u64,
    /// Metrics requests in flight → the autoscaler that asked.
    in_flight: BTreeMap<u64, NsName>,
    /// Autoscalers with a sync queued (each is re-queued after every sync).
    scheduled: std::collections::BTreeSet<NsName>,
    recommendations: BTreeMap<NsName, Vec<Recommendation>>,
    scale_up_events: BTreeMap<NsName, Vec<ScaleEvent>>,
    scale_down_events: BTreeMap<NsName, Vec<ScaleEvent>>,
}

impl HpaState {
    pub fn clear(&mut self) {
        let metrics_server = self.metrics_server;
        *self = HpaState {
            metrics_server,
            next_request_id: self.next_request_id,
            ..HpaState::default()
        };
    }

    fn forget(&mut self, key: &NsName) {
        self.scheduled.remove(key);
        self.recommendations.remove(key);
        self.scale_up_events.remove(key);
        self.scale_down_events.remove(key);
    }

    /// Upstream `storeScaleEvent`, dropping events older than the longest policy period.
    fn store_scale_event(
        &mut self,
        hpa: &HorizontalPodAutoscaler,
        key: &NsName,
        from: u32,
        to: u32,
        now: SimTime,
    ) {
        let longest = |rules: &ScalingRules| {
            rules
                .policies
                .iter()
                .map(|p| p.period_seconds)
                .max()
                .unwrap_or(0)
        };
        let (events, change, period) = if to > from {
            (
                self.scale_up_events.entry(key.clone()).or_default(),
                to - from,
                longest(&hpa.spec.behavior.scale_up),
            )
        } else {
            (
                self.scale_down_events.entry(key.clone()).or_default(),
                from - to,
                longest(&hpa.spec.behavior.scale_down),
            )
        };
        let period = SimDuration::from_secs(u64::from(period));
        events.retain(|event| event.at + period > now);
        events.push(ScaleEvent {
            replica_change: change,
            at: now,
        });
    }
}

/// The scale of an autoscaler's target: replicas asked for and running, and the pod
/// selector.
struct TargetScale {
    object: Object,
    spec_replicas: u32,
    status_replicas: u32,
    selector: LabelSelector,
}

impl ControllerManager {
    /// The cluster's metrics-server, which serves metrics.k8s.io (set at build time).
    pub fn set_metrics_server(&mut self, metrics_server: ActorId) {
        self.hpa_state.metrics_server = Some(metrics_server);
    }

    pub(super) fn on_hpa_delta(
        &mut self,
        delta: Delta<HorizontalPodAutoscaler>,
        cx: &mut Context<'_, Msg>,
    ) {
        let hpa = delta.object();
        let key = ns_name(&hpa.metadata.namespace, &hpa.metadata.name);
        match delta {
            // Upstream queues an autoscaler when it appears and then every sync period
            // after each sync (a fixed-interval rate limiter): updates, such as its own
            // status writes, do not bring a sync forward.
            Delta::Added(_) => {
                if self.hpa_state.scheduled.insert(key.clone()) {
                    self.enqueue(WorkKey::HorizontalPodAutoscaler(key), cx);
                }
            }
            Delta::Updated { .. } => {}
            Delta::Deleted(_) => self.hpa_state.forget(&key),
        }
    }

    fn target_scale(&self, hpa: &HorizontalPodAutoscaler) -> Option<TargetScale> {
        let namespace = &hpa.metadata.namespace;
        let name = &hpa.spec.scale_target_ref.name;
        match hpa.spec.scale_target_ref.kind {
            Kind::Deployment => {
                self.informers
                    .deployments
                    .get(namespace, name)
                    .map(|d| TargetScale {
                        object: Object::Deployment(d.clone()),
                        spec_replicas: d.spec.replicas,
                        status_replicas: d.status.replicas,
                        selector: d.spec.selector.clone(),
                    })
            }
            Kind::ReplicaSet => {
                self.informers
                    .replicasets
                    .get(namespace, name)
                    .map(|r| TargetScale {
                        object: Object::ReplicaSet(r.clone()),
                        spec_replicas: r.spec.replicas,
                        status_replicas: r.status.replicas,
                        selector: r.spec.selector.clone(),
                    })
            }
            Kind::StatefulSet => {
                self.informers
                    .statefulsets
                    .get(namespace, name)
                    .map(|set| TargetScale {
                        object: Object::StatefulSet(set.clone()),
                        spec_replicas: set.spec.replicas,
                        status_replicas: set.status.replicas,
                        selector: set.spec.selector.clone(),
                    })
            }
            _ => None,
        }
    }

    /// One sync: ask metrics-server for the namespace's pod metrics; the answer drives
    /// the reconcile. The next sync is queued now.
    pub(super) fn sync_hpa(&mut self, key: &NsName, cx: &mut Context<'_, Msg>) {
        if self.informers.hpas.get(&key.0, &key.1).is_none() {
            self.hpa_state.forget(key);
            return;
        }
        self.enqueue_after(
            WorkKey::HorizontalPodAutoscaler(key.clone()),
            self.config.horizontal_pod_autoscaler_sync_period,
            cx,
        );
        match self.hpa_state.metrics_server {
            Some(metrics_server) => {
                self.hpa_state.next_request_id += 1;
                let request_id = self.hpa_state.next_request_id;
                self.hpa_state.in_flight.insert(request_id, key.clone());
                cx.send(
                    metrics_server,
                    Msg::Metrics(Box::new(MetricsMsg::ListPodMetrics {
                        request_id,
                        namespace: key.0.clone(),
                    })),
                );
            }
            None => self.reconcile_hpa(key, &BTreeMap::new(), cx),
        }
    }

    pub(super) fn on_metrics(&mut self, msg: MetricsMsg, cx: &mut Context<'_, Msg>) {
        let MetricsMsg::PodMetricsList { request_id, pods } = msg else {
            panic!("kube-controller-manager got an unexpected metrics message: {msg:?}");
        };
        let Some(key) = self.hpa_state.in_flight.remove(&request_id) else {
            return;
        };
        let metrics: BTreeMap<Str, PodCpu> = pods.into_iter().collect();
        if self.informers.synced() {
            self.reconcile_hpa(&key, &metrics, cx);
        }
    }

    /// Upstream `reconcileAutoscaler` with `normalizeDesiredReplicasWithBehaviors`.
    fn reconcile_hpa(
        &mut self,
        key: &NsName,
        metrics: &BTreeMap<Str, PodCpu>,
        cx: &mut Context<'_, Msg>,
    ) {
        let Some(hpa) = self.informers.hpas.get(&key.0, &key.1).cloned() else {
            return;
        };
        let now = cx.host_clock();
        let mut status = hpa.status.clone();
        status.observed_generation = hpa.metadata.generation;
        let Some(target) = self.target_scale(&hpa) else {
            status.able_to_scale = condition(
                ConditionStatus::False,
                "FailedGetScale",
                format!(
                    "the HPA controller was unable to get the target's current scale: {} {:?} not found",
                    hpa.spec.scale_target_ref.kind.resource(),
                    hpa.spec.scale_target_ref.name
                ),
            );
            self.write_hpa_status(&hpa, status, cx);
            return;
        };
        let current = target.spec_replicas;
        status.current_replicas = target.status_replicas;
        status.able_to_scale = condition(
            ConditionStatus::True,
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
        );
        let spec = &hpa.spec;
        let (desired, reason) = if current == 0 {
            status.scaling_active = condition(
                ConditionStatus::False,
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
            );
            (0, None)
        } else if current > spec.max_replicas {
            (
                spec.max_replicas,
                Some("Current number of replicas above Spec.MaxReplicas".to_string()),
            )
        } else if current < spec.min_replicas {
            (
                spec.min_replicas,
                Some("Current number of replicas below Spec.MinReplicas".to_string()),
            )
        } else {
            let pods = self.hpa_pod_views(&key.0, &target.selector, metrics);
            match replicas_for_cpu(
                current,
                spec.target_cpu_utilization_percentage,
                &pods,
                now,
                self.config.hpa_calculator(),
            ) {
                Err(error) => {
                    status.scaling_active = condition(
                        ConditionStatus::False,
                        "FailedGetResourceMetric",
                        error.message(),
                    );
                    let message = error.message();
                    cx.record("detail", || format!("HPA {}/{}: {message}", key.0, key.1));
                    self.write_hpa_status(&hpa, status, cx);
                    return;
                }
                Ok(recommendation) => {
                    status.scaling_active = condition(
                        ConditionStatus::True,
                        "ValidMetricFound",
                        "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)",
                    );
                    status.current_cpu = Some(CpuMetricStatus {
                        average_utilization_percent: recommendation.utilization_percent,
                        average_value_millicores: recommendation.average_millicores,
                    });
                    let up_window = SimDuration::from_secs(u64::from(
                        spec.behavior.scale_up.stabilization_window_seconds,
                    ));
                    let down_window = SimDuration::from_secs(u64::from(
                        spec.behavior.scale_down.stabilization_window_seconds,
                    ));
                    let recommendations = self
                        .hpa_state
                        .recommendations
                        .entry(key.clone())
                        .or_default();
                    let stabilized = stabilize(
                        recommendations,
                        now,
                        current,
                        recommendation.replicas,
                        up_window,
                        down_window,
                    );
                    status.able_to_scale = if stabilized != recommendation.replicas {
                        let (reason, message) = if stabilized > recommendation.replicas {
                            (
                                "ScaleDownStabilized",
                                "recent recommendations were higher than current one, applying the highest recent recommendation",
                            )
                        } else {
                            (
                                "ScaleUpStabilized",
                                "recent recommendations were lower than current one, applying the lowest recent recommendation",
                            )
                        };
                        condition(ConditionStatus::True, reason, message)
                    } else {
                        condition(
                            ConditionStatus::True,
                            "ReadyForNewScale",
                            "recommended size matches current size",
                        )
                    };
                    let no_events = Vec::new();
                    let up = self
                        .hpa_state
                        .scale_up_events
                        .get(key)
                        .unwrap_or(&no_events);
                    let down = self
                        .hpa_state
                        .scale_down_events
                        .get(key)
                        .unwrap_or(&no_events);
                    let (limited, limit_reason, limit_message) =
                        apply_rate_limits(&hpa, current, stabilized, up, down, now);
                    status.scaling_limited = if limited == stabilized {
                        condition(ConditionStatus::False, limit_reason, limit_message)
                    } else {
                        condition(ConditionStatus::True, limit_reason, limit_message)
                    };
                    let utilization = recommendation.utilization_percent;
                    let target_percent = spec.target_cpu_utilization_percentage;
                    let why = format!(
                        "CPU {utilization}% of request vs target {target_percent}% → {} replica{}{}{}",
                        recommendation.replicas,
                        if recommendation.replicas == 1 {
                            ""
                        } else {
                            "s"
                        },
                        if stabilized != recommendation.replicas {
                            format!(", held at {stabilized} by the stabilization window")
                        } else {
                            String::new()
                        },
                        if limited != stabilized {
                            format!(", limited to {limited} ({limit_reason})")
                        } else {
                            String::new()
                        }
                    );
                    (limited, Some(why))
                }
            }
        };
        status.desired_replicas = desired;
        let newly_held = |status: &HorizontalPodAutoscalerStatus| {
            status
                .able_to_scale
                .as_ref()
                .is_some_and(|c| &*c.reason == "ScaleDownStabilized")
        };
        if desired == current {
            if newly_held(&status) && !newly_held(&hpa.status) {
                // The first sync that holds a scale-down back is part of the story.
                let window = spec.behavior.scale_down.stabilization_window_seconds;
                cx.record("step", || {
                    format!(
                        "HPA {}/{}: {}; the scale-down waits until no recommendation of the last {window}s is higher",
                        key.0,
                        key.1,
                        reason.as_deref().unwrap_or_default()
                    )
                });
            } else {
                cx.record("detail", || {
                    format!(
                        "HPA {}/{}: {}; stays at {current}",
                        key.0,
                        key.1,
                        reason.as_deref().unwrap_or("scaling disabled")
                    )
                });
            }
            self.write_hpa_status(&hpa, status, cx);
            return;
        }
        let reason = reason.unwrap_or_default();
        cx.record("step", || {
            format!(
                "HPA {}/{}: {reason}; scaling {} {} from {current} to {desired}",
                key.0, key.1, hpa.spec.scale_target_ref.kind, hpa.spec.scale_target_ref.name
            )
        });
        let mut object = target.object;
        match &mut object {
            Object::Deployment(d) => Rc::make_mut(d).spec.replicas = desired,
            Object::ReplicaSet(r) => Rc::make_mut(r).spec.replicas = desired,
            Object::StatefulSet(set) => Rc::make_mut(set).spec.replicas = desired,
            other => unreachable!("targets are scalable kinds, not {}", other.kind()),
        }
        let id = self.api.send(cx, ApiVerb::Update(object));
        self.pending.insert(
            id,
            Pending::HpaScale {
                hpa: key.clone(),
                from: current,
                to: desired,
                status: Box::new(status),
            },
        );
    }

    /// The target's pods as the replica calculation reads them.
    fn hpa_pod_views(
        &self,
        namespace: &Str,
        selector: &LabelSelector,
        metrics: &BTreeMap<Str, PodCpu>,
    ) -> Vec<PodView> {
        let mut pods: Vec<PodView> = self
            .pods
            .selected(namespace, &selector.match_labels)
            .into_iter()
            .filter(|pod| selector.matches(&pod.metadata.labels))
            .map(|pod| {
                let mut request_millicores = Some(0u64);
                for container in pod.spec.containers.iter() {
                    request_millicores = match (
                        request_millicores,
                        container.resources.requests.cpu_millicores,
                    ) {
                        (Some(sum), Some(request)) => Some(sum + request),
                        _ => None,
                    };
                }
                PodView {
                    name: pod.metadata.name.clone(),
                    phase: pod.status.phase,
                    deleting: pod.metadata.deletion_timestamp.is_some(),
                    ready: pod
                        .status
                        .ready_since
                        .map(|since| (pod.status.ready, since)),
                    start_time: pod.status.start_time,
                    request_millicores,
                    metric: metrics
                        .get(&pod.metadata.name)
                        .filter(|metric| metric.uid == pod.metadata.uid)
                        .copied(),
                }
            })
            .collect();
        pods.sort_by(|a, b| a.name.cmp(&b.name));
        pods
    }

    /// Upstream `updateStatusIfNeeded`: written only when it changed.
    fn write_hpa_status(
        &mut self,
        hpa: &Rc<HorizontalPodAutoscaler>,
        status: HorizontalPodAutoscalerStatus,
        cx: &mut Context<'_, Msg>,
    ) {
        if hpa.status == status {
            return;
        }
        let mut updated = (**hpa).clone();
        updated.status = status;
        let key = ns_name(&hpa.metadata.namespace, &hpa.metadata.name);
        let id = self.api.send(cx, ApiVerb::UpdateStatus(updated.into()));
        self.pending.insert(id, Pending::HpaStatus { hpa: key });
    }

    /// The target's scale was written (or refused): remember the scale event, then the
    /// status.
    pub(super) fn on_hpa_scaled(
        &mut self,
        key: &NsName,
        (from, to): (u32, u32),
        mut status: HorizontalPodAutoscalerStatus,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        let Some(hpa) = self.informers.hpas.get(&key.0, &key.1).cloned() else {
            return;
        };
        match &response.result {
            Ok(ApiOk::Object(_)) => {
                let now = cx.host_clock();
                self.hpa_state.store_scale_event(&hpa, key, from, to, now);
                status.last_scale_time = Some(now);
            }
            Ok(_) => unreachable!("an update answers with the object"),
            Err(error) => {
                status.desired_replicas = from;
                status.able_to_scale = condition(
                    ConditionStatus::False,
                    "FailedUpdateScale",
                    format!(
                        "the HPA controller was unable to update the target scale: {}",
                        error.message
                    ),
                );
                cx.record("detail", || {
                    format!(
                        "HPA {}/{}: scale update refused: {} {}",
                        key.0,
                        key.1,
                        error.reason.code(),
                        error.message
                    )
                });
            }
        }
        self.write_hpa_status(&hpa, status, cx);
    }

    pub(super) fn on_hpa_status_written(
        &mut self,
        key: &NsName,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        if let Err(error) = &response.result {
            cx.record("detail", || {
                format!(
                    "HPA {}/{}: status not written: {} {}",
                    key.0,
                    key.1,
                    error.reason.code(),
                    error.message
                )
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        HorizontalPodAutoscalerSpec, HpaBehavior, ObjectMeta, ScaleTargetRef, ScalingPolicy,
    };

    const CONFIG: CalculatorConfig = CalculatorConfig {
        tolerance_per_mille: 100,
        cpu_initialization_period: SimDuration::from_secs(300),
        initial_readiness_delay: SimDuration::from_secs(30),
    };

    fn at(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    /// A running pod, ready since its start long ago, using `usage` of `request`.
    fn pod(name: &str, usage: Option<u64>, request: u64) -> PodView {
        PodView {
            name: s(name),
            phase: PodPhase::Running,
            deleting: false,
            ready: Some((ConditionStatus::True, at(10))),
            start_time: Some(at(0)),
            request_millicores: Some(request),
            metric: usage.map(|cpu_millicores| PodCpu {
                uid: 1,
                cpu_millicores,
                timestamp: at(1000),
                window: SimDuration::from_secs(15),
            }),
        }
    }

    fn replicas(current: u32, target: u32, pods: &[PodView]) -> u32 {
        replicas_for_cpu(current, target, pods, at(1000), CONFIG)
            .expect("a recommendation")
            .replicas
    }

    #[test]
    fn desired_is_the_ceiling_of_ratio_times_ready_pods() {
        // 180% of request against 50%: ceil(3.6 × 2) = 8.
        let pods = [pod("a", Some(900), 500), pod("b", Some(900), 500)];
        assert_eq!(replicas(2, 50, &pods), 8);
        let recommendation = replicas_for_cpu(2, 50, &pods, at(1000), CONFIG).unwrap();
        assert_eq!(recommendation.utilization_percent, 180);
        assert_eq!(recommendation.average_millicores, 900);
        // 20% against 50%: ceil(0.4 × 4) = 2.
        let pods: Vec<PodView> = (0..4)
            .map(|i| pod(&format!("p{i}"), Some(100), 500))
            .collect();
        assert_eq!(replicas(4, 50, &pods), 2);
    }

    #[test]
    fn no_change_within_the_tolerance() {
        // 55% against 50% is a ratio of 1.1: exactly the tolerance, no change.
        let pods = [pod("a", Some(275), 500), pod("b", Some(275), 500)];
        assert_eq!(replicas(2, 50, &pods), 2);
        // 56% is beyond it: ceil(1.12 × 2) = 3.
        let pods = [pod("a", Some(280), 500), pod("b", Some(280), 500)];
        assert_eq!(replicas(2, 50, &pods), 3);
        // 45% (0.9) is within it too.
        let pods = [pod("a", Some(225), 500), pod("b", Some(225), 500)];
        assert_eq!(replicas(2, 50, &pods), 2);
    }

    #[test]
    fn missing_metrics_count_as_zero_on_scale_up_and_full_on_scale_down() {
        // Scale-up: one pod at 200%, one without metrics taken as 0%: 100% over 2
        // pods against 50% → 4 (instead of ceil(4 × 1) = 4 for the one pod: same here),
        // so use three pods to tell them apart.
        let pods = [
            pod("a", Some(1000), 500),
            pod("b", Some(1000), 500),
            pod("c", None, 500),
        ];
        // Ready only: 200% → ceil(4 × 2) = 8; with c at 0%: 133% → ceil(2.66 × 3) = 8.
        assert_eq!(replicas(3, 50, &pods), 8);
        let pods = [pod("a", Some(300), 500), pod("c", None, 500)];
        // a alone: 60% → would be ceil(1.2 × 1) = 2; with c at 0%: 30%, now below the
        // target: the direction flipped, so no change.
        assert_eq!(replicas(2, 50, &pods), 2);
        // Scale-down: a at 10%, b missing taken as 100%: 55% against 50% is within the
        // tolerance, so no change (instead of ceil(0.2 × 1) = 1).
        let pods = [pod("a", Some(50), 500), pod("b", None, 500)];
        assert_eq!(replicas(2, 50, &pods), 2);
        // Scale-down with many idle pods: 4 at 10%, 1 missing at 100%: 28% → ceil(0.56 × 5) = 3.
        let mut pods: Vec<PodView> = (0..4)
            .map(|i| pod(&format!("p{i}"), Some(50), 500))
            .collect();
        pods.push(pod("q", None, 500));
        assert_eq!(replicas(5, 50, &pods), 3);
    }

    #[test]
    fn unready_pods_count_as_zero_only_on_scale_up() {
        let mut starting = pod("c", Some(500), 500);
        starting.ready = Some((ConditionStatus::False, at(990)));
        starting.start_time = Some(at(980));
        // Scale-up: a, b at 200%, c unready taken as 0%: 133% → ceil(2.66 × 3) = 8.
        let pods = [
            pod("a", Some(1000), 500),
            pod("b", Some(1000), 500),
            starting.clone(),
        ];
        assert_eq!(replicas(3, 50, &pods), 8);
        // Scale-down: unready pods are simply left out: a, b at 10% → ceil(0.2 × 2) = 1.
        let pods = [pod("a", Some(50), 500), pod("b", Some(50), 500), starting];
        assert_eq!(replicas(3, 50, &pods), 1);
        // A pending pod is unready too.
        let mut pending = pod("d", None, 500);
        pending.phase = PodPhase::Pending;
        let pods = [pod("a", Some(1000), 500), pending];
        // 200% of a, d at 0%: 100% → ceil(2 × 2) = 4.
        assert_eq!(replicas(2, 50, &pods), 4);
    }

    #[test]
    fn a_metric_from_before_readiness_in_the_initialisation_period_is_unready() {
        let mut fresh = pod("a", Some(1000), 500);
        fresh.start_time = Some(at(900));
        // Ready at 990; the metric's window (985..1000) began before that.
        fresh.ready = Some((ConditionStatus::True, at(990)));
        let pods = [fresh.clone(), pod("b", Some(1000), 500)];
        // a is unready (0%): b at 200%, a at 0%: 100% → ceil(2 × 2) = 4.
        assert_eq!(replicas(2, 50, &pods), 4);
        // Past the initialisation period the same pod counts: 200% → 8.
        assert_eq!(
            replicas_for_cpu(2, 50, &pods, at(1300), CONFIG)
                .unwrap()
                .replicas,
            8
        );
    }

    #[test]
    fn deleted_and_failed_pods_are_ignored_and_requests_are_required() {
        let mut gone = pod("g", Some(0), 500);
        gone.deleting = true;
        let mut failed = pod("f", None, 500);
        failed.phase = PodPhase::Failed;
        let pods = [pod("a", Some(900), 500), gone, failed];
        assert_eq!(replicas(3, 50, &pods), 4);
        let mut no_request = pod("n", Some(100), 0);
        no_request.request_millicores = None;
        assert_eq!(
            replicas_for_cpu(1, 50, &[no_request], at(1000), CONFIG),
            Err(MetricError::MissingRequest(s("n")))
        );
        assert_eq!(
            replicas_for_cpu(1, 50, &[], at(1000), CONFIG),
            Err(MetricError::NoPods)
        );
        assert_eq!(
            replicas_for_cpu(1, 50, &[pod("m", None, 500)], at(1000), CONFIG),
            Err(MetricError::NoMetrics)
        );
    }

    #[test]
    fn scale_down_waits_for_the_highest_recommendation_of_the_window() {
        let mut recommendations = Vec::new();
        let (up, down) = (SimDuration::ZERO, SimDuration::from_secs(300));
        assert_eq!(stabilize(&mut recommendations, at(0), 8, 8, up, down), 8);
        // Load falls: 2 is recommended, but 8 is within the last 300 s.
        assert_eq!(stabilize(&mut recommendations, at(15), 8, 2, up, down), 8);
        assert_eq!(stabilize(&mut recommendations, at(299), 8, 2, up, down), 8);
        // At 300 s the 8 from time 0 is no longer after the cutoff.
        assert_eq!(stabilize(&mut recommendations, at(300), 8, 2, up, down), 2);
        // Scale-up is not stabilised by default.
        assert_eq!(stabilize(&mut recommendations, at(315), 2, 6, up, down), 6);
    }

    #[test]
    fn stale_recommendations_are_reused_in_place() {
        let mut recommendations = Vec::new();
        let (up, down) = (SimDuration::ZERO, SimDuration::from_secs(300));
        stabilize(&mut recommendations, at(0), 2, 2, up, down);
        stabilize(&mut recommendations, at(400), 2, 3, up, down);
        assert_eq!(recommendations.len(), 1);
        assert_eq!(recommendations[0].replicas, 3);
    }

    fn rules_up() -> ScalingRules {
        ScalingRules::default_scale_up()
    }

    #[test]
    fn default_scale_up_allows_the_larger_of_4_pods_and_100_percent_per_15_s() {
        // From 2: max(2 + 4, 2 × 2) = 6.
        assert_eq!(scale_up_limit(2, &[], &[], &rules_up(), at(100)), 6);
        // From 10: max(14, 20) = 20.
        assert_eq!(scale_up_limit(10, &[], &[], &rules_up(), at(100)), 20);
        // Scaled 2 → 6 five seconds ago: the period started at 2, so still 6.
        let events = [ScaleEvent {
            replica_change: 4,
            at: at(95),
        }];
        assert_eq!(scale_up_limit(6, &events, &[], &rules_up(), at(100)), 6);
        // 15 s later that event has left the period: max(10, 12) = 12.
        assert_eq!(scale_up_limit(6, &events, &[], &rules_up(), at(110)), 12);
        let min = ScalingRules {
            select_policy: SelectPolicy::Min,
            ..rules_up()
        };
        assert_eq!(scale_up_limit(10, &[], &[], &min, at(100)), 14);
        let disabled = ScalingRules {
            select_policy: SelectPolicy::Disabled,
            ..rules_up()
        };
        assert_eq!(scale_up_limit(10, &[], &[], &disabled, at(100)), 10);
    }

    #[test]
    fn default_scale_down_allows_everything_down_to_the_minimum() {
        let rules = ScalingRules::default_scale_down();
        assert_eq!(scale_down_limit(8, &[], &[], &rules, at(100)), 0);
        let pods = ScalingRules {
            stabilization_window_seconds: 0,
            select_policy: SelectPolicy::Max,
            policies: vec![
                ScalingPolicy {
                    type_: ScalingPolicyType::Pods,
                    value: 2,
                    period_seconds: 60,
                },
                ScalingPolicy {
                    type_: ScalingPolicyType::Percent,
                    value: 10,
                    period_seconds: 60,
                },
            ],
        };
        // Max picks the bigger change: min(8 − 2, trunc(8 × 0.9) = 7) = 6.
        assert_eq!(scale_down_limit(8, &[], &[], &pods, at(100)), 6);
        // After removing 2 within the minute, the period started at 8 still.
        let events = [ScaleEvent {
            replica_change: 2,
            at: at(70),
        }];
        assert_eq!(scale_down_limit(6, &[], &events, &pods, at(100)), 6);
    }

    fn hpa(min: u32, max: u32) -> HorizontalPodAutoscaler {
        HorizontalPodAutoscaler {
            metadata: ObjectMeta::named("default", "web"),
            spec: HorizontalPodAutoscalerSpec {
                scale_target_ref: ScaleTargetRef {
                    kind: Kind::Deployment,
                    name: s("web"),
                },
                min_replicas: min,
                max_replicas: max,
                target_cpu_utilization_percentage: 50,
                behavior: HpaBehavior::default(),
            },
            status: HorizontalPodAutoscalerStatus::default(),
        }
    }

    #[test]
    fn rate_limits_then_min_and_max_bound_the_change() {
        let hpa = hpa(2, 10);
        assert_eq!(
            apply_rate_limits(&hpa, 2, 8, &[], &[], at(100)),
            (
                6,
                "ScaleUpLimit",
                "the desired replica count is increasing faster than the maximum scale rate"
            )
        );
        assert_eq!(apply_rate_limits(&hpa, 8, 20, &[], &[], at(100)).0, 10);
        assert_eq!(
            apply_rate_limits(&hpa, 8, 20, &[], &[], at(100)).1,
            "TooManyReplicas"
        );
        assert_eq!(apply_rate_limits(&hpa, 8, 1, &[], &[], at(100)).0, 2);
        assert_eq!(
            apply_rate_limits(&hpa, 8, 1, &[], &[], at(100)).1,
            "TooFewReplicas"
        );
        assert_eq!(
            apply_rate_limits(&hpa, 4, 5, &[], &[], at(100)).1,
            "DesiredWithinRange"
        );
    }
}
