//! The batch/v1 Job: run pods until a number of them succeed (or, without `completions`,
//! until one does), retrying failures up to `backoffLimit`.
//!
//! Field names and defaults follow upstream `pkg/apis/batch/v1` (types.go, defaults.go).

use std::rc::Rc;

use sim_core::SimTime;

use super::meta::{LabelSelector, ObjectMeta, Str};
use super::objects::{ConditionStatus, PodTemplateSpec};

/// `spec.parallelism` default (`SetDefaults_Job`): 1.
pub const JOB_DEFAULT_PARALLELISM: u32 = 1;
/// `spec.backoffLimit` default (`SetDefaults_Job`): 6.
pub const JOB_DEFAULT_BACKOFF_LIMIT: u32 = 6;

/// The labels the API server puts on a Job's pod template when it generates the selector
/// (`batch.ControllerUidLabel`, `batch.JobNameLabel`), and their pre-v1.27 spellings,
/// which it still adds.
pub const LABEL_JOB_CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
pub const LABEL_JOB_NAME: &str = "batch.kubernetes.io/job-name";
pub const LABEL_LEGACY_JOB_CONTROLLER_UID: &str = "controller-uid";
pub const LABEL_LEGACY_JOB_NAME: &str = "job-name";
/// An Indexed Job's pod carries its index as this annotation and (PodIndexLabel, GA in
/// v1.32) label.
pub const JOB_COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// `spec.completionMode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CompletionMode {
    /// Any `completions` successful pods complete the Job.
    #[default]
    NonIndexed,
    /// Each index `0..completions` needs one successful pod.
    Indexed,
}

impl CompletionMode {
    pub fn name(self) -> &'static str {
        match self {
            CompletionMode::NonIndexed => "NonIndexed",
            CompletionMode::Indexed => "Indexed",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSpec {
    /// Pods to run at once; upstream default 1.
    pub parallelism: u32,
    /// Successful pods needed; `None` is a work queue: the Job completes when any pod
    /// succeeds and the rest have finished.
    pub completions: Option<u32>,
    pub completion_mode: CompletionMode,
    /// Failed pods (or, with restartPolicy OnFailure, container restarts) tolerated
    /// before the Job fails; upstream default 6.
    pub backoff_limit: u32,
    /// Seconds from `status.startTime` after which the Job fails with DeadlineExceeded.
    pub active_deadline_seconds: Option<u64>,
    /// A suspended Job runs no pods (its active ones are deleted).
    pub suspend: bool,
    /// Off: the API server generates the selector from the Job's uid.
    pub manual_selector: bool,
    pub selector: LabelSelector,
    pub template: Rc<PodTemplateSpec>,
}

/// `JobConditionType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobConditionType {
    Suspended,
    /// Interim (v1.31+, with JobManagedBy / JobPodReplacementPolicy): the Job will fail
    /// once its remaining pods have terminated.
    FailureTarget,
    /// Interim (v1.31+): the Job will complete once its remaining pods have terminated.
    SuccessCriteriaMet,
    Complete,
    Failed,
}

impl JobConditionType {
    pub fn name(self) -> &'static str {
        match self {
            JobConditionType::Suspended => "Suspended",
            JobConditionType::FailureTarget => "FailureTarget",
            JobConditionType::SuccessCriteriaMet => "SuccessCriteriaMet",
            JobConditionType::Complete => "Complete",
            JobConditionType::Failed => "Failed",
        }
    }
}

/// Upstream reasons of the Failed / FailureTarget conditions.
pub const JOB_REASON_BACKOFF_LIMIT_EXCEEDED: &str = "BackoffLimitExceeded";
pub const JOB_REASON_DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
/// Upstream reason of the SuccessCriteriaMet / Complete conditions when completions are
/// reached (`batch.JobReasonCompletionsReached`, v1.31+).
pub const JOB_REASON_COMPLETIONS_REACHED: &str = "CompletionsReached";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobCondition {
    pub type_: JobConditionType,
    pub status: ConditionStatus,
    pub reason: Str,
    pub message: Str,
    pub last_transition_time: SimTime,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobStatus {
    /// When the controller first saw the Job unsuspended (reset on resume).
    pub start_time: Option<SimTime>,
    /// Set with the Complete condition.
    pub completion_time: Option<SimTime>,
    /// Pods neither finished nor terminating.
    pub active: u32,
    /// Active pods that are Ready.
    pub ready: u32,
    pub succeeded: u32,
    pub failed: u32,
    /// Pods with a deletion timestamp that have not finished (JobPodReplacementPolicy,
    /// GA in v1.34).
    pub terminating: u32,
    /// Indexed Jobs: the succeeded indexes, as ranges (`0-2,4`).
    pub completed_indexes: Str,
    pub conditions: Vec<JobCondition>,
}

impl JobStatus {
    pub fn condition(&self, type_: JobConditionType) -> Option<&JobCondition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// Whether the condition is present with status True.
    pub fn has(&self, type_: JobConditionType) -> bool {
        self.condition(type_)
            .is_some_and(|c| c.status == ConditionStatus::True)
    }

    /// Complete or Failed (upstream `IsJobFinished`).
    pub fn is_finished(&self) -> bool {
        self.has(JobConditionType::Complete) || self.has(JobConditionType::Failed)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub metadata: ObjectMeta,
    pub spec: JobSpec,
    pub status: JobStatus,
}
