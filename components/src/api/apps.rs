//! apps/v1 workload kinds beside Deployment and ReplicaSet (which live in `objects`).
//!
//! Field names and defaults follow upstream `pkg/apis/apps/v1` (types.go, defaults.go).

use std::rc::Rc;

use super::meta::{LabelSelector, ObjectMeta};
use super::objects::{IntOrPercent, PodTemplateSpec};

// ---------------------------------------------------------------------------------------
// DaemonSet

/// The label naming the template revision a DaemonSet pod was made from
/// (`apps.DefaultDaemonSetUniqueLabelKey`, which is `ControllerRevisionHashLabelKey`, the
/// key StatefulSet pods carry too).
pub const DEFAULT_DAEMON_SET_UNIQUE_LABEL_KEY: &str = "controller-revision-hash";
/// The label carrying the DaemonSet's generation when the pod was made
/// (`extensions.DaemonSetTemplateGenerationKey`, kept for backward compatibility).
pub const LABEL_POD_TEMPLATE_GENERATION: &str = "pod-template-generation";
/// The annotation apps/v1 carries the DaemonSet's template generation in
/// (`apps.DeprecatedTemplateGeneration`): 1 at create, +1 on every template change, set
/// by the API server (daemonSetStrategy).
pub const ANNOTATION_DEPRECATED_TEMPLATE_GENERATION: &str =
    "deprecated.daemonset.template.generation";
/// `spec.updateStrategy.rollingUpdate.maxUnavailable` default (`SetDefaults_DaemonSet`): 1.
pub const DAEMON_SET_DEFAULT_MAX_UNAVAILABLE: IntOrPercent = IntOrPercent::Int(1);
/// `spec.updateStrategy.rollingUpdate.maxSurge` default (`SetDefaults_DaemonSet`): 0.
pub const DAEMON_SET_DEFAULT_MAX_SURGE: IntOrPercent = IntOrPercent::Int(0);
/// `spec.revisionHistoryLimit` default (`SetDefaults_DaemonSet`): 10.
pub const DAEMON_SET_DEFAULT_REVISION_HISTORY_LIMIT: u32 = 10;

/// `spec.updateStrategy`: upstream default RollingUpdate with maxUnavailable 1, maxSurge 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DaemonSetUpdateStrategy {
    /// Replace pods whose template is out of date, at most `max_unavailable` nodes
    /// without an available pod at a time, or (with `max_surge`) starting the new pod
    /// beside the old one first. Percentages are of the nodes that should run the pod,
    /// both rounded up (`util.UnavailableCount`, `util.SurgeCount`).
    RollingUpdate {
        max_unavailable: IntOrPercent,
        max_surge: IntOrPercent,
    },
    /// New pods get the new template only when the old ones are deleted by someone else.
    OnDelete,
}

impl Default for DaemonSetUpdateStrategy {
    fn default() -> DaemonSetUpdateStrategy {
        DaemonSetUpdateStrategy::RollingUpdate {
            max_unavailable: DAEMON_SET_DEFAULT_MAX_UNAVAILABLE,
            max_surge: DAEMON_SET_DEFAULT_MAX_SURGE,
        }
    }
}

impl DaemonSet {
    /// The template generation the API server recorded (0 before it has).
    pub fn template_generation(&self) -> u64 {
        self.metadata
            .annotations
            .get(ANNOTATION_DEPRECATED_TEMPLATE_GENERATION)
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    }
}

impl DaemonSetUpdateStrategy {
    pub fn name(self) -> &'static str {
        match self {
            DaemonSetUpdateStrategy::RollingUpdate { .. } => "RollingUpdate",
            DaemonSetUpdateStrategy::OnDelete => "OnDelete",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonSetSpec {
    /// Required, and must select the template's labels (upstream validation).
    pub selector: LabelSelector,
    pub template: Rc<PodTemplateSpec>,
    pub update_strategy: DaemonSetUpdateStrategy,
    /// Upstream default 0.
    pub min_ready_seconds: u64,
    /// Upstream default 10. (kubesim keeps no ControllerRevisions, so nothing reads it.)
    pub revision_history_limit: u32,
}

/// Written by the DaemonSet controller (`apps/v1.DaemonSetStatus`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DaemonSetStatus {
    pub observed_generation: u64,
    /// Nodes that run at least one daemon pod and should.
    pub current_number_scheduled: u32,
    /// Nodes that run a daemon pod but should not.
    pub number_misscheduled: u32,
    /// Nodes that should run the daemon pod.
    pub desired_number_scheduled: u32,
    /// Nodes whose (oldest) daemon pod is Ready.
    pub number_ready: u32,
    /// Nodes whose daemon pod has the current template.
    pub updated_number_scheduled: u32,
    /// Nodes whose daemon pod has been Ready for minReadySeconds.
    pub number_available: u32,
    /// `desired_number_scheduled − number_available`.
    pub number_unavailable: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonSet {
    pub metadata: ObjectMeta,
    pub spec: DaemonSetSpec,
    pub status: DaemonSetStatus,
}
