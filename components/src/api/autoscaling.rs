//! HorizontalPodAutoscaler (autoscaling/v2): the CPU-utilisation form of it.
//!
//! kubesim models one metric: `Resource` cpu with an `Utilization` target (a percentage
//! of the pods' CPU requests), which is what `kubectl autoscale --cpu-percent` writes.
//! Defaults are upstream's (pkg/apis/autoscaling/v2/defaults.go): minReplicas 1, and
//! the `behavior` below when the manifest names none.

use sim_core::SimTime;

use super::meta::{Kind, ObjectMeta, Str};
use super::objects::ConditionStatus;

/// `scaleTargetRef`: the workload whose scale the autoscaler sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScaleTargetRef {
    /// Deployment, ReplicaSet or StatefulSet.
    pub kind: Kind,
    pub name: Str,
}

/// `HPAScalingPolicyType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalingPolicyType {
    /// At most `value` pods more (or fewer) per period.
    Pods,
    /// At most `value` percent of the replicas at the start of the period.
    Percent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScalingPolicy {
    pub type_: ScalingPolicyType,
    pub value: u32,
    pub period_seconds: u32,
}

/// `ScalingPolicySelect`: which policy wins when several allow different changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectPolicy {
    /// The policy allowing the largest change (upstream default).
    Max,
    Min,
    /// No scaling in this direction.
    Disabled,
}

impl SelectPolicy {
    pub fn name(self) -> &'static str {
        match self {
            SelectPolicy::Max => "Max",
            SelectPolicy::Min => "Min",
            SelectPolicy::Disabled => "Disabled",
        }
    }
}

/// `HPAScalingRules` for one direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalingRules {
    pub stabilization_window_seconds: u32,
    pub select_policy: SelectPolicy,
    pub policies: Vec<ScalingPolicy>,
}

impl ScalingRules {
    /// Upstream's scale-up default (`GenerateHPAScaleUpRules`): no stabilisation, the
    /// larger of 4 pods and 100% per 15 s.
    pub fn default_scale_up() -> ScalingRules {
        ScalingRules {
            stabilization_window_seconds: 0,
            select_policy: SelectPolicy::Max,
            policies: vec![
                ScalingPolicy {
                    type_: ScalingPolicyType::Pods,
                    value: 4,
                    period_seconds: 15,
                },
                ScalingPolicy {
                    type_: ScalingPolicyType::Percent,
                    value: 100,
                    period_seconds: 15,
                },
            ],
        }
    }

    /// Upstream's scale-down default (`GenerateHPAScaleDownRules`): a 300 s stabilisation
    /// window (`--horizontal-pod-autoscaler-downscale-stabilization`), 100% per 15 s.
    pub fn default_scale_down() -> ScalingRules {
        ScalingRules {
            stabilization_window_seconds: 300,
            select_policy: SelectPolicy::Max,
            policies: vec![ScalingPolicy {
                type_: ScalingPolicyType::Percent,
                value: 100,
                period_seconds: 15,
            }],
        }
    }
}

/// `HorizontalPodAutoscalerBehavior`, both directions defaulted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HpaBehavior {
    pub scale_up: ScalingRules,
    pub scale_down: ScalingRules,
}

impl Default for HpaBehavior {
    fn default() -> HpaBehavior {
        HpaBehavior {
            scale_up: ScalingRules::default_scale_up(),
            scale_down: ScalingRules::default_scale_down(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HorizontalPodAutoscalerSpec {
    pub scale_target_ref: ScaleTargetRef,
    /// Upstream default 1.
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// `metrics[].resource` with name cpu and target type Utilization: the average CPU
    /// use the autoscaler aims for, in percent of the pods' requests.
    pub target_cpu_utilization_percentage: u32,
    pub behavior: HpaBehavior,
}

/// One of the autoscaler's conditions (`HorizontalPodAutoscalerCondition`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HpaCondition {
    pub status: ConditionStatus,
    pub reason: Str,
    pub message: Str,
}

/// `currentMetrics[]` for the cpu resource metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuMetricStatus {
    pub average_utilization_percent: u32,
    pub average_value_millicores: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HorizontalPodAutoscalerStatus {
    pub observed_generation: u64,
    pub last_scale_time: Option<SimTime>,
    pub current_replicas: u32,
    pub desired_replicas: u32,
    pub current_cpu: Option<CpuMetricStatus>,
    pub able_to_scale: Option<HpaCondition>,
    pub scaling_active: Option<HpaCondition>,
    pub scaling_limited: Option<HpaCondition>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HorizontalPodAutoscaler {
    pub metadata: ObjectMeta,
    pub spec: HorizontalPodAutoscalerSpec,
    pub status: HorizontalPodAutoscalerStatus,
}
