//! The Job controller (`pkg/controller/job/job_controller.go`, `backoff_utils.go`,
//! `indexed_job_utils.go`, v1.34): runs a Job's pods until enough succeed, replaces
//! failed ones after an exponential back-off, and fails the Job past `backoffLimit` or
//! `activeDeadlineSeconds`.
//!
//! As in v1.34 (JobPodReplacementPolicy GA, JobManagedBy beta) a finishing Job first gets
//! the interim SuccessCriteriaMet or FailureTarget condition, and Complete or Failed
//! (with `completionTime` for Complete) only once none of its pods is terminating.
//!
//! Differences from upstream, deliberate and small:
//! - Pod tracking uses no `batch.kubernetes.io/job-tracking` finalizer. The controller
//!   counts each finished pod once, by uid, when a status write that includes it
//!   succeeds; the uids live in memory. After a controller-manager restart, the finished
//!   pods still stored are taken as counted when the Job's status already accounts for as
//!   many; so `uncountedTerminatedPods` is not modelled.
//! - Indexed pods get no `spec.hostname` (kubesim's pods have none) and no
//!   `JOB_COMPLETION_INDEX` environment variable; they carry the index annotation and
//!   label. Neither `backoffLimitPerIndex`, `podFailurePolicy`, `successPolicy`,
//!   `podReplacementPolicy: Failed` nor `ttlSecondsAfterFinished` (no TTL controller) is
//!   modelled.

use std::collections::{BTreeSet, VecDeque};
use std::rc::Rc;

use sim_core::{Context, FxIndexMap, FxIndexSet, SimDuration, SimTime};

use super::index::NsName;
use super::pod_control::{SlowStart, record_pod_write_failed};
use super::replicaset::EXPECTATIONS_TIMEOUT;
use super::{ControllerManager, Pending, WorkKey, ns_name};
use crate::api::{
    ApiOk, ApiResponse, ApiVerb, CompletionMode, ConditionStatus, ContainerState,
    JOB_COMPLETION_INDEX, JOB_REASON_BACKOFF_LIMIT_EXCEEDED, JOB_REASON_COMPLETIONS_REACHED,
    JOB_REASON_DEADLINE_EXCEEDED, Job, JobCondition, JobConditionType, JobStatus, Kind, Object,
    ObjectMeta, OwnerReference, Pod, PodPhase, PodStatus, RestartPolicy, StatusReason, s,
};
use crate::client::Delta;
use crate::msg::Msg;

/// `DefaultJobPodFailureBackOff`: the delay before replacing the first failed pod.
pub const DEFAULT_JOB_POD_FAILURE_BACK_OFF: SimDuration = SimDuration::from_secs(10);
/// `MaxJobPodFailureBackOff`: 10 minutes in job_controller.go since v1.26 (6 minutes,
/// `MaxJobBackOff`, before).
pub const MAX_JOB_POD_FAILURE_BACK_OFF: SimDuration = SimDuration::from_mins(10);
/// `MaxPodCreateDeletePerSync`: 500.
pub const MAX_POD_CREATE_DELETE_PER_SYNC: u32 = 500;

/// Upstream messages of the finishing conditions.
pub const MESSAGE_BACKOFF_LIMIT: &str = "Job has reached the specified backoff limit";
pub const MESSAGE_DEADLINE: &str = "Job was active longer than specified deadline";
pub const MESSAGE_COMPLETIONS_REACHED: &str = "Reached expected number of succeeded pods";

// ---------------------------------------------------------------------------------------
// Pure rules

/// How many pods should be active (`manageJob`): with `completions`, the remaining ones
/// up to `parallelism`; without (a work queue), `parallelism` until one pod has
/// succeeded, then whatever still runs.
pub fn want_active(parallelism: u32, completions: Option<u32>, succeeded: u32, active: u32) -> u32 {
    match completions {
        None if succeeded > 0 => active,
        None => parallelism,
        Some(completions) => completions.saturating_sub(succeeded).min(parallelism),
    }
}

/// Whether the Job has all its successes and nothing left running (the success check
/// of `syncJob`).
pub fn completions_reached(completions: Option<u32>, succeeded: u32, active: u32) -> bool {
    match completions {
        None => succeeded > 0 && active == 0,
        Some(completions) => succeeded >= completions && active == 0,
    }
}

/// The pod-failure back-off state (`backoffRecord`): failures since the last success
/// and when the latest of them finished.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackoffRecord {
    pub failures_after_last_success: u32,
    pub last_failure_time: Option<SimTime>,
}

impl BackoffRecord {
    /// `newBackoffRecord`: folds in pods that finished since the last record, each
    /// `(finish time, succeeded)`. A success clears the failures before it; failures
    /// after the latest success count.
    pub fn updated(self, mut finished: Vec<(SimTime, bool)>) -> BackoffRecord {
        finished.sort();
        let last_success = finished
            .iter()
            .filter(|(_, succeeded)| *succeeded)
            .map(|(at, _)| *at)
            .next_back();
        let mut record = match last_success {
            Some(_) => BackoffRecord::default(),
            None => self,
        };
        for (at, succeeded) in finished {
            if succeeded || last_success.is_some_and(|success| at <= success) {
                continue;
            }
            record.failures_after_last_success += 1;
            record.last_failure_time = Some(record.last_failure_time.map_or(at, |t| t.max(at)));
        }
        record
    }

    /// `getRemainingTimeForFailuresCount`: the delay is `base × 2^(failures − 1)`, at most
    /// `max`, counted from the last failure.
    pub fn remaining(&self, now: SimTime, base: SimDuration, max: SimDuration) -> SimDuration {
        let Some(last_failure) = self.last_failure_time else {
            return SimDuration::ZERO;
        };
        if self.failures_after_last_success == 0 {
            return SimDuration::ZERO;
        }
        let delay = back_off_delay(self.failures_after_last_success, base, max);
        SimDuration::from_nanos(
            delay
                .as_nanos()
                .saturating_sub(now.saturating_since(last_failure).as_nanos()),
        )
    }
}

/// The back-off before replacing the `failures`-th consecutive failed pod: 10 s, 20 s,
/// 40 s, ... capped at `max`.
pub fn back_off_delay(failures: u32, base: SimDuration, max: SimDuration) -> SimDuration {
    if failures == 0 {
        return SimDuration::ZERO;
    }
    let mut delay = base;
    for _ in 1..failures {
        delay = delay.saturating_mul(2);
        if delay >= max {
            return max;
        }
    }
    delay.min(max)
}

/// `pastBackoffLimitOnFailure`: with restartPolicy OnFailure, container restarts of the
/// pods still Pending or Running count against the limit (`> 0` when the limit is 0).
pub fn past_backoff_limit_on_failure(restarts: u32, backoff_limit: u32) -> bool {
    if backoff_limit == 0 {
        restarts > 0
    } else {
        restarts >= backoff_limit
    }
}

/// `pastActiveDeadline`.
pub fn past_active_deadline(
    active_deadline_seconds: Option<u64>,
    start_time: Option<SimTime>,
    suspended: bool,
    now: SimTime,
) -> bool {
    match (active_deadline_seconds, start_time) {
        (Some(deadline), Some(start)) if !suspended => {
            now.saturating_since(start) >= SimDuration::from_secs(deadline)
        }
        _ => false,
    }
}

/// Parses `status.completedIndexes` (`1,3-5,7`).
pub fn parse_indexes(text: &str) -> BTreeSet<u32> {
    let mut indexes = BTreeSet::new();
    for part in text.split(',').filter(|part| !part.is_empty()) {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(first), Ok(last)) = (first.parse::<u32>(), last.parse::<u32>()) {
            indexes.extend(first..=last);
        }
    }
    indexes
}

/// Formats indexes as upstream writes `completedIndexes`: ascending, each run of
/// consecutive indexes as `first-last`.
pub fn format_indexes(indexes: &BTreeSet<u32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut run: Option<(u32, u32)> = None;
    for &index in indexes {
        run = match run {
            Some((first, last)) if index == last + 1 => Some((first, index)),
            Some(done) => {
                parts.push(format_run(done));
                Some((index, index))
            }
            None => Some((index, index)),
        };
    }
    if let Some(done) = run {
        parts.push(format_run(done));
    }
    parts.join(",")
}

fn format_run((first, last): (u32, u32)) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    }
}

/// `firstPendingIndexes`: the lowest `count` indexes below `completions` that neither
/// succeeded nor have an active pod.
pub fn first_pending_indexes(
    completions: u32,
    succeeded: &BTreeSet<u32>,
    active: &BTreeSet<u32>,
    count: u32,
) -> Vec<u32> {
    (0..completions)
        .filter(|index| !succeeded.contains(index) && !active.contains(index))
        .take(count as usize)
        .collect()
}

/// The completion index a pod carries, if any.
pub fn completion_index(pod: &Pod) -> Option<u32> {
    pod.metadata
        .annotations
        .get(JOB_COMPLETION_INDEX)
        .and_then(|value| value.parse().ok())
}

/// When a finished pod finished (`getFinishedTime`): its containers' latest exit, else
/// its deletion timestamp, else `now`.
pub fn finished_time(pod: &Pod, now: SimTime) -> SimTime {
    pod.status
        .container_statuses
        .iter()
        .filter_map(|status| match status.state {
            ContainerState::Terminated { finished_at, .. } => Some(finished_at),
            _ => None,
        })
        .max()
        .or(pod.metadata.deletion_timestamp)
        .unwrap_or(now)
}

/// `isPodFailed` (podReplacementPolicy TerminatingOrFailed): Failed, or deleted before
/// it succeeded.
pub fn pod_failed(pod: &Pod) -> bool {
    pod.status.phase == PodPhase::Failed
        || (pod.metadata.is_terminating() && pod.status.phase != PodPhase::Succeeded)
}

/// The finished pods taken as already counted when the controller first syncs a Job
/// after starting: all of them when the stored status accounts for at least as many
/// finished pods (the previous incarnation counted them), else none (they are new).
pub fn initially_counted(pods: &[Rc<Pod>], status: &JobStatus) -> FxIndexSet<u64> {
    let finished: Vec<u64> = pods
        .iter()
        .filter(|pod| pod.status.phase == PodPhase::Succeeded || pod_failed(pod))
        .map(|pod| pod.metadata.uid)
        .collect();
    if finished.len() as u64 <= u64::from(status.succeeded) + u64::from(status.failed) {
        finished.into_iter().collect()
    } else {
        FxIndexSet::default()
    }
}

/// What a Job's pods add up to in one sync.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodTally {
    /// Neither terminating nor finished.
    pub active: u32,
    pub ready: u32,
    /// Terminating and not finished.
    pub terminating: u32,
    /// Container restarts of Pending and Running pods.
    pub restarts: u32,
    /// Indexes of active pods (Indexed Jobs).
    pub active_indexes: BTreeSet<u32>,
}

impl PodTally {
    pub fn of<'a>(pods: impl Iterator<Item = &'a Rc<Pod>>) -> PodTally {
        let mut tally = PodTally::default();
        for pod in pods {
            let finished = matches!(pod.status.phase, PodPhase::Succeeded | PodPhase::Failed);
            if pod.is_active() {
                tally.active += 1;
                tally.ready += u32::from(pod.is_ready());
                if let Some(index) = completion_index(pod) {
                    tally.active_indexes.insert(index);
                }
            } else if pod.metadata.is_terminating() && !finished {
                tally.terminating += 1;
            }
            if matches!(pod.status.phase, PodPhase::Pending | PodPhase::Running) {
                tally.restarts += pod
                    .status
                    .container_statuses
                    .iter()
                    .map(|status| status.restart_count)
                    .sum::<u32>();
            }
        }
        tally
    }
}

/// Sets a condition of `type_` as `ensureJobConditionStatus` does: an existing one is
/// replaced when its status, reason or message differ; a new one is added unless it
/// would be False. Returns whether anything changed.
pub fn ensure_condition(
    conditions: &mut Vec<JobCondition>,
    type_: JobConditionType,
    status: ConditionStatus,
    reason: &str,
    message: &str,
    now: SimTime,
) -> bool {
    let fresh = JobCondition {
        type_,
        status,
        reason: s(reason),
        message: s(message),
        last_transition_time: now,
    };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            if existing.status != status
                || &*existing.reason != reason
                || &*existing.message != message
            {
                *existing = fresh;
                return true;
            }
            false
        }
        None if status != ConditionStatus::False => {
            conditions.push(fresh);
            true
        }
        None => false,
    }
}

/// A new pod for `job`, stamped from its template; Indexed Jobs' pods carry their index.
pub fn pod_from_job(job: &Job, index: Option<u32>) -> Pod {
    let template = &job.spec.template;
    let mut metadata = ObjectMeta::named(&job.metadata.namespace, "");
    metadata.labels = template.labels.clone();
    metadata.annotations = template.annotations.clone();
    match index {
        Some(index) => {
            // podGenerateNameWithIndex: `<job>-<index>-`.
            metadata.generate_name = s(&format!("{}-{index}-", job.metadata.name));
            let value = s(&index.to_string());
            metadata
                .annotations
                .insert(s(JOB_COMPLETION_INDEX), value.clone());
            metadata.labels.insert(s(JOB_COMPLETION_INDEX), value);
        }
        None => metadata.generate_name = s(&format!("{}-", job.metadata.name)),
    }
    metadata.owner_references = vec![OwnerReference::controlled_by(
        Kind::Job,
        job.metadata.name.clone(),
        job.metadata.uid,
    )];
    let mut spec = template.spec.clone();
    spec.node_name = None;
    Pod {
        metadata,
        spec,
        status: PodStatus::default(),
    }
}

// ---------------------------------------------------------------------------------------
// Controller state

/// What the controller remembers of one Job.
#[derive(Debug, Default)]
struct Tracked {
    /// Finished pods the Job's status counts.
    counted: FxIndexSet<u64>,
    backoff: BackoffRecord,
    /// Creations not yet seen by the pod informer, deletions likewise.
    expected_adds: u32,
    expected_dels: BTreeSet<u64>,
    expectations_at: SimTime,
    /// Creations in slow-start batches: the completion index of each pod (`None` for
    /// NonIndexed Jobs).
    creation: Option<SlowStart<Option<u32>>>,
}

impl Tracked {
    fn satisfied(&self, now: SimTime) -> bool {
        self.creation.is_none()
            && ((self.expected_adds == 0 && self.expected_dels.is_empty())
                || now.saturating_since(self.expectations_at) > EXPECTATIONS_TIMEOUT)
    }
}

#[derive(Debug, Default)]
pub struct JobState {
    jobs: FxIndexMap<NsName, Tracked>,
}

impl JobState {
    pub fn clear(&mut self) {
        self.jobs.clear();
    }
}

/// A status write in flight: the finished pods and back-off it counts take effect when
/// it succeeds.
#[derive(Debug)]
pub struct StatusWrite {
    pub counted: Vec<u64>,
    pub backoff: BackoffRecord,
}

fn job_name(key: &NsName) -> String {
    format!("{}/{}", key.0, key.1)
}

fn controlling_job(pod: &Pod) -> Option<NsName> {
    pod.metadata
        .controller_ref()
        .filter(|owner| owner.kind == Kind::Job)
        .map(|owner| ns_name(&pod.metadata.namespace, &owner.name))
}

impl ControllerManager {
    pub(super) fn on_job_delta(&mut self, delta: Delta<Job>, cx: &mut Context<'_, Msg>) {
        let key = self.observe_written(&delta);
        if matches!(delta, Delta::Deleted(_)) {
            self.job_state.jobs.swap_remove(&key);
        }
        self.enqueue(WorkKey::Job(key), cx);
    }

    /// The Job controller's pod handlers: expectations, and wake the owner.
    pub(super) fn job_on_pod(
        &mut self,
        old: Option<&Rc<Pod>>,
        new: Option<&Rc<Pod>>,
        cx: &mut Context<'_, Msg>,
    ) {
        let pod = new.or(old).expect("a pod delta has a pod");
        let Some(key) = controlling_job(pod) else {
            return;
        };
        if let Some(tracked) = self.job_state.jobs.get_mut(&key) {
            match (old, new) {
                (None, Some(_)) => tracked.expected_adds = tracked.expected_adds.saturating_sub(1),
                (Some(_), None) => {
                    tracked.expected_dels.remove(&pod.metadata.uid);
                }
                (Some(old), Some(new)) => {
                    if new.metadata.is_terminating() && !old.metadata.is_terminating() {
                        tracked.expected_dels.remove(&new.metadata.uid);
                    }
                }
                (None, None) => unreachable!("checked above"),
            }
        }
        if let (Some(old), Some(new)) = (old, new)
            && old.status.phase == new.status.phase
            && old.is_ready() == new.is_ready()
            && old.metadata.is_terminating() == new.metadata.is_terminating()
            && PodTally::of([old].into_iter()).restarts == PodTally::of([new].into_iter()).restarts
        {
            // Nothing the Job counts changed (a binding, an IP, a container starting).
            return;
        }
        self.enqueue(WorkKey::Job(key), cx);
    }

    /// `syncJob`.
    pub(super) fn sync_job(&mut self, key: &NsName, cx: &mut Context<'_, Msg>) {
        let Some(job) = self.informers.jobs.get(&key.0, &key.1).cloned() else {
            self.job_state.jobs.swap_remove(key);
            return;
        };
        if job.status.is_finished() {
            self.job_state.jobs.swap_remove(key);
            return;
        }
        let object = (Kind::Job, key.0.clone(), key.1.clone());
        if !self.writes.fresh(&object) {
            // The informer's copy predates our own last write: its event syncs again.
            return;
        }
        let now = cx.host_clock();
        let uid = job.metadata.uid;
        let pods: Vec<Rc<Pod>> = self.pods.owned_by(uid).cloned().collect();
        let tracked = self
            .job_state
            .jobs
            .entry(key.clone())
            .or_insert_with(|| Tracked {
                counted: initially_counted(&pods, &job.status),
                ..Tracked::default()
            });
        let satisfied = tracked.satisfied(cx.now());
        let mut tally = PodTally::of(pods.iter());
        // Newly finished pods, counted once.
        let indexed = job.spec.completion_mode == CompletionMode::Indexed;
        let completions = job.spec.completions;
        let mut succeeded_indexes = parse_indexes(&job.status.completed_indexes);
        let mut new_succeeded = 0u32;
        let mut new_failed = 0u32;
        let mut newly_counted = Vec::new();
        let mut finished_now = Vec::new();
        for pod in &pods {
            if tracked.counted.contains(&pod.metadata.uid) {
                continue;
            }
            let succeeded = pod.status.phase == PodPhase::Succeeded;
            if !succeeded && !pod_failed(pod) {
                continue;
            }
            newly_counted.push(pod.metadata.uid);
            finished_now.push((finished_time(pod, now), succeeded));
            if succeeded {
                if indexed {
                    if let Some(index) = completion_index(pod)
                        && completions.is_some_and(|c| index < c)
                    {
                        succeeded_indexes.insert(index);
                    }
                } else {
                    new_succeeded += 1;
                }
            } else {
                new_failed += 1;
            }
        }
        let backoff = tracked.backoff.updated(finished_now);
        let mut status = job.status.clone();
        if indexed {
            status.succeeded = succeeded_indexes.len() as u32;
            status.completed_indexes = s(&format_indexes(&succeeded_indexes));
        } else {
            status.succeeded += new_succeeded;
        }
        status.failed += new_failed;
        if status.start_time.is_none() && !job.spec.suspend {
            status.start_time = Some(now);
        }
        // The finishing condition, if the Job is finishing.
        let mut finishing: Option<(JobConditionType, &'static str, &'static str)> = None;
        if let Some(target) = status.condition(JobConditionType::FailureTarget)
            && target.status == ConditionStatus::True
        {
            let reason = if &*target.reason == JOB_REASON_DEADLINE_EXCEEDED {
                JOB_REASON_DEADLINE_EXCEEDED
            } else {
                JOB_REASON_BACKOFF_LIMIT_EXCEEDED
            };
            let message = if reason == JOB_REASON_DEADLINE_EXCEEDED {
                MESSAGE_DEADLINE
            } else {
                MESSAGE_BACKOFF_LIMIT
            };
            finishing = Some((JobConditionType::Failed, reason, message));
        } else if status.has(JobConditionType::SuccessCriteriaMet) {
            finishing = Some((
                JobConditionType::Complete,
                JOB_REASON_COMPLETIONS_REACHED,
                MESSAGE_COMPLETIONS_REACHED,
            ));
        }
        let mut new_interim: Option<(JobConditionType, &'static str, &'static str)> = None;
        if finishing.is_none() {
            let on_failure = job.spec.template.spec.restart_policy == RestartPolicy::OnFailure;
            if status.failed > job.spec.backoff_limit
                || (on_failure
                    && past_backoff_limit_on_failure(tally.restarts, job.spec.backoff_limit))
            {
                new_interim = Some((
                    JobConditionType::FailureTarget,
                    JOB_REASON_BACKOFF_LIMIT_EXCEEDED,
                    MESSAGE_BACKOFF_LIMIT,
                ));
            } else if past_active_deadline(
                job.spec.active_deadline_seconds,
                status.start_time,
                job.spec.suspend,
                now,
            ) {
                new_interim = Some((
                    JobConditionType::FailureTarget,
                    JOB_REASON_DEADLINE_EXCEEDED,
                    MESSAGE_DEADLINE,
                ));
            } else if let (Some(deadline), Some(start)) =
                (job.spec.active_deadline_seconds, status.start_time)
                && !job.spec.suspend
            {
                let at = start + SimDuration::from_secs(deadline);
                self.enqueue_after(WorkKey::Job(key.clone()), at.saturating_since(now), cx);
            }
        }
        let failing = new_interim.is_some()
            || finishing.is_some_and(|(type_, _, _)| type_ == JobConditionType::Failed);
        if failing {
            // Remove the active pods of a failing Job.
            let victims: Vec<Rc<Pod>> = pods.iter().filter(|p| p.is_active()).cloned().collect();
            if !victims.is_empty() {
                if !satisfied {
                    // Wait for the informer before declaring anything.
                    new_interim = None;
                }
                let deleted = self.delete_job_pods(key, &victims, cx);
                tally.active -= deleted.0;
                tally.ready -= deleted.1;
                tally.terminating += deleted.0;
            }
        } else if finishing.is_none() {
            if satisfied && !job.metadata.is_terminating() {
                self.manage_job(
                    key,
                    &job,
                    &status,
                    &pods,
                    &mut tally,
                    &succeeded_indexes,
                    &backoff,
                    cx,
                );
            }
            if completions_reached(completions, status.succeeded, tally.active) {
                new_interim = Some((
                    JobConditionType::SuccessCriteriaMet,
                    JOB_REASON_COMPLETIONS_REACHED,
                    MESSAGE_COMPLETIONS_REACHED,
                ));
            } else if satisfied {
                let (condition, reason, message) = if job.spec.suspend {
                    (ConditionStatus::True, "JobSuspended", "Job suspended")
                } else {
                    (ConditionStatus::False, "JobResumed", "Job resumed")
                };
                if ensure_condition(
                    &mut status.conditions,
                    JobConditionType::Suspended,
                    condition,
                    reason,
                    message,
                    now,
                ) && !job.spec.suspend
                {
                    // A resumed Job's deadline counts from now.
                    status.start_time = Some(now);
                }
            }
        }
        if let Some((type_, reason, message)) = new_interim {
            ensure_condition(
                &mut status.conditions,
                type_,
                ConditionStatus::True,
                reason,
                message,
                now,
            );
            let name = job_name(key);
            let (failed, restarts) = (status.failed, tally.restarts);
            cx.record("step", || match type_ {
                JobConditionType::SuccessCriteriaMet => {
                    format!("job {name}: success criteria met ({reason}): {message}")
                }
                _ => format!(
                    "job {name}: FailureTarget {reason} ({failed} failed pods, {restarts} container restarts): {message}; its pods are stopped first"
                ),
            });
            finishing = Some(match type_ {
                JobConditionType::SuccessCriteriaMet => {
                    (JobConditionType::Complete, reason, message)
                }
                _ => (JobConditionType::Failed, reason, message),
            });
        }
        status.active = tally.active;
        status.ready = tally.ready;
        status.terminating = tally.terminating;
        // enactJobFinished: the terminal condition waits for terminating pods.
        let mut finished = false;
        if let Some((type_, reason, message)) = finishing
            && tally.terminating == 0
            && tally.active == 0
        {
            ensure_condition(
                &mut status.conditions,
                type_,
                ConditionStatus::True,
                reason,
                message,
                now,
            );
            if type_ == JobConditionType::Complete {
                status.completion_time = Some(now);
            }
            finished = true;
        }
        if finished {
            let name = job_name(key);
            let (succeeded, failed) = (status.succeeded, status.failed);
            cx.record("step", || match finishing {
                Some((JobConditionType::Complete, _, _)) => {
                    format!("job {name}: Complete ({succeeded} succeeded, {failed} failed)")
                }
                _ => format!(
                    "job {name}: Failed ({}): {failed} failed, {succeeded} succeeded",
                    finishing.map_or("", |(_, reason, _)| reason)
                ),
            });
        }
        let tracked = self.job_state.jobs.get_mut(key).expect("tracked above");
        if status == job.status {
            tracked.backoff = backoff;
            return;
        }
        let mut updated = (*job).clone();
        updated.status = status;
        self.writes.begin(object);
        let id = self
            .api
            .send(cx, ApiVerb::UpdateStatus(Object::from(updated)));
        self.pending.insert(
            id,
            Pending::JobStatus {
                job: key.clone(),
                write: StatusWrite {
                    counted: newly_counted,
                    backoff,
                },
            },
        );
    }

    /// `manageJob`: delete the surplus or create what is missing (after the failure
    /// back-off), at most `MAX_POD_CREATE_DELETE_PER_SYNC`.
    #[allow(clippy::too_many_arguments)] // the sync's working values, passed once
    fn manage_job(
        &mut self,
        key: &NsName,
        job: &Rc<Job>,
        status: &JobStatus,
        pods: &[Rc<Pod>],
        tally: &mut PodTally,
        succeeded_indexes: &BTreeSet<u32>,
        backoff: &BackoffRecord,
        cx: &mut Context<'_, Msg>,
    ) {
        let active: Vec<Rc<Pod>> = pods.iter().filter(|p| p.is_active()).cloned().collect();
        if job.spec.suspend {
            if !active.is_empty() {
                let name = job_name(key);
                let count = active.len();
                cx.record("step", || {
                    format!("job {name}: suspended, deleting {count} active pod(s)")
                });
                let deleted = self.delete_job_pods(key, &active, cx);
                tally.active -= deleted.0;
                tally.ready -= deleted.1;
                tally.terminating += deleted.0;
            }
            return;
        }
        let want = want_active(
            job.spec.parallelism,
            job.spec.completions,
            status.succeeded,
            tally.active,
        );
        if tally.active > want {
            // activePodsForRemoval: not-ready before ready, unscheduled before
            // scheduled, pending before running (controller.ActivePods).
            let mut ranked = active;
            ranked.sort_by_key(|pod| {
                (
                    pod.spec.node_name.is_some(),
                    pod.status.phase == PodPhase::Running,
                    pod.is_ready(),
                    std::cmp::Reverse(pod.metadata.creation_timestamp),
                    pod.metadata.uid,
                )
            });
            let surplus = ((tally.active - want).min(MAX_POD_CREATE_DELETE_PER_SYNC)) as usize;
            ranked.truncate(surplus);
            let deleted = self.delete_job_pods(key, &ranked, cx);
            tally.active -= deleted.0;
            tally.ready -= deleted.1;
            tally.terminating += deleted.0;
            return;
        }
        // podReplacementPolicy TerminatingOrFailed (the default without a
        // podFailurePolicy): terminating pods are replaced at once.
        let diff = want - tally.active;
        if diff == 0 {
            return;
        }
        let now = cx.host_clock();
        let remaining = backoff.remaining(
            now,
            DEFAULT_JOB_POD_FAILURE_BACK_OFF,
            MAX_JOB_POD_FAILURE_BACK_OFF,
        );
        if remaining > SimDuration::ZERO {
            let name = job_name(key);
            let failures = backoff.failures_after_last_success;
            cx.record("detail", || {
                format!(
                    "job {name}: {failures} failure(s) since the last success; next pod in {remaining}"
                )
            });
            self.enqueue_after(WorkKey::Job(key.clone()), remaining, cx);
            return;
        }
        let diff = diff.min(MAX_POD_CREATE_DELETE_PER_SYNC);
        let queued: VecDeque<Option<u32>> = match (job.spec.completion_mode, job.spec.completions) {
            (CompletionMode::Indexed, Some(completions)) => {
                first_pending_indexes(completions, succeeded_indexes, &tally.active_indexes, diff)
                    .into_iter()
                    .map(Some)
                    .collect()
            }
            _ => (0..diff).map(|_| None).collect(),
        };
        if queued.is_empty() {
            return;
        }
        let count = queued.len() as u32;
        let name = job_name(key);
        let (have, succeeded) = (tally.active, status.succeeded);
        cx.record("step", || {
            format!(
                "job {name}: creating {count} pod{} (active {have}, succeeded {succeeded}, wants {want} active)",
                if count == 1 { "" } else { "s" }
            )
        });
        tally.active += count;
        let tracked = self.job_state.jobs.get_mut(key).expect("tracked");
        tracked.expected_adds = count;
        tracked.expectations_at = cx.now();
        tracked.creation = Some(SlowStart::new(queued));
        self.send_job_batch(key, job, cx);
    }

    fn send_job_batch(&mut self, key: &NsName, job: &Job, cx: &mut Context<'_, Msg>) {
        let indexes = self
            .job_state
            .jobs
            .get_mut(key)
            .and_then(|tracked| tracked.creation.as_mut())
            .expect("a creation in progress")
            .next_batch();
        let batch = indexes.len() as u32;
        for index in indexes {
            let pod = Object::from(pod_from_job(job, index));
            let id = self.api.send(cx, ApiVerb::Create(pod));
            self.pending
                .insert(id, Pending::CreateJobPod { job: key.clone() });
        }
        self.stats.pods_created += u64::from(batch);
    }

    /// A create of the slow start came back.
    pub(super) fn on_job_pod_created(
        &mut self,
        key: &NsName,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        let Some(tracked) = self.job_state.jobs.get_mut(key) else {
            return;
        };
        let Some(creation) = tracked.creation.as_mut() else {
            return;
        };
        let batch_done = creation.on_reply(response.result.is_ok());
        if let Err(error) = &response.result {
            tracked.expected_adds = tracked.expected_adds.saturating_sub(1);
            record_pod_write_failed(cx, "job", key, "create", error);
        }
        if !batch_done {
            return;
        }
        let creation = tracked.creation.as_ref().expect("checked");
        let job = self.informers.jobs.get(&key.0, &key.1).cloned();
        if creation.finished(job.is_some()) {
            let skipped = creation.unsent() as u32;
            let failed = creation.failed();
            tracked.expected_adds = tracked.expected_adds.saturating_sub(skipped);
            tracked.creation = None;
            let key = WorkKey::Job(key.clone());
            if failed {
                self.retry(key, cx);
            } else {
                self.enqueue(key, cx);
            }
            return;
        }
        self.send_job_batch(key, &job.expect("checked"), cx);
    }

    /// Deletes `pods` of the Job; returns how many were asked to go and how many of
    /// them were ready.
    fn delete_job_pods(
        &mut self,
        key: &NsName,
        pods: &[Rc<Pod>],
        cx: &mut Context<'_, Msg>,
    ) -> (u32, u32) {
        let tracked = self.job_state.jobs.get_mut(key).expect("tracked");
        tracked.expectations_at = cx.now();
        tracked
            .expected_dels
            .extend(pods.iter().map(|pod| pod.metadata.uid));
        let ready = pods.iter().map(|pod| u32::from(pod.is_ready())).sum();
        for pod in pods {
            let pending = Pending::DeleteJobPod {
                job: key.clone(),
                pod_uid: pod.metadata.uid,
            };
            self.delete_pod(pod, pending, cx);
        }
        self.stats.pods_deleted += pods.len() as u64;
        (pods.len() as u32, ready)
    }

    pub(super) fn on_job_pod_deleted(
        &mut self,
        key: &NsName,
        pod_uid: u64,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        if let Err(error) = &response.result {
            if let Some(tracked) = self.job_state.jobs.get_mut(key) {
                tracked.expected_dels.remove(&pod_uid);
            }
            if error.reason != StatusReason::NotFound {
                record_pod_write_failed(cx, "job", key, "delete", error);
                self.retry(WorkKey::Job(key.clone()), cx);
            }
        }
    }

    /// The Job's status write came back: on success the pods it counted stay counted.
    pub(super) fn on_job_status_written(
        &mut self,
        key: &NsName,
        write: StatusWrite,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        let object = (Kind::Job, key.0.clone(), key.1.clone());
        let written = match &response.result {
            Ok(ApiOk::Object(o)) => Some(o.meta().resource_version),
            _ => None,
        };
        let cached = self
            .informers
            .jobs
            .get(&key.0, &key.1)
            .map(|job| job.metadata.resource_version);
        self.writes.finish(&object, written, cached);
        let work = WorkKey::Job(key.clone());
        match &response.result {
            Ok(_) => {
                if let Some(tracked) = self.job_state.jobs.get_mut(key) {
                    tracked.counted.extend(write.counted);
                    tracked.backoff = write.backoff;
                }
                self.queue.forget(&work);
                if self.writes.fresh(&object) {
                    self.enqueue(work, cx);
                }
            }
            Err(error) => {
                let (code, message) = (error.reason.code(), error.message.clone());
                let name = job_name(key);
                cx.record("detail", || {
                    format!("job {name}: status write failed: {code} {message}; retrying")
                });
                self.retry(work, cx);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: SimDuration = DEFAULT_JOB_POD_FAILURE_BACK_OFF;
    const MAX: SimDuration = MAX_JOB_POD_FAILURE_BACK_OFF;

    fn at(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    #[test]
    fn back_off_doubles_from_ten_seconds_and_caps_at_ten_minutes() {
        let delays: Vec<u64> = (0..9)
            .map(|failures| back_off_delay(failures, BASE, MAX).as_secs())
            .collect();
        assert_eq!(delays, [0, 10, 20, 40, 80, 160, 320, 600, 600]);
        assert_eq!(back_off_delay(u32::MAX, BASE, MAX), MAX);
    }

    #[test]
    fn remaining_back_off_counts_from_the_last_failure() {
        let record = BackoffRecord::default().updated(vec![(at(100), false)]);
        assert_eq!(record.failures_after_last_success, 1);
        assert_eq!(record.remaining(at(100), BASE, MAX).as_secs(), 10);
        assert_eq!(record.remaining(at(104), BASE, MAX).as_secs(), 6);
        assert_eq!(record.remaining(at(110), BASE, MAX), SimDuration::ZERO);
        let record = record.updated(vec![(at(130), false)]);
        assert_eq!(record.failures_after_last_success, 2);
        assert_eq!(record.last_failure_time, Some(at(130)));
        assert_eq!(record.remaining(at(135), BASE, MAX).as_secs(), 15);
        assert_eq!(
            BackoffRecord::default().remaining(at(5), BASE, MAX),
            SimDuration::ZERO
        );
    }

    #[test]
    fn a_success_resets_the_failures_before_it() {
        let record = BackoffRecord {
            failures_after_last_success: 3,
            last_failure_time: Some(at(50)),
        };
        // newBackoffRecord: failures that finished after the latest success still count.
        let record = record.updated(vec![(at(70), false), (at(60), true), (at(55), false)]);
        assert_eq!(
            record,
            BackoffRecord {
                failures_after_last_success: 1,
                last_failure_time: Some(at(70)),
            }
        );
        let record = record.updated(vec![(at(80), true)]);
        assert_eq!(record, BackoffRecord::default());
        assert_eq!(record.updated(Vec::new()), record);
    }

    #[test]
    fn active_pods_follow_completions_and_parallelism() {
        // completions 5, parallelism 2: two at a time, then what remains.
        assert_eq!(want_active(2, Some(5), 0, 0), 2);
        assert_eq!(want_active(2, Some(5), 4, 1), 1);
        assert_eq!(want_active(2, Some(5), 5, 0), 0);
        assert_eq!(want_active(2, Some(5), 7, 0), 0);
        // A work queue: parallelism until one succeeds, then only what runs.
        assert_eq!(want_active(3, None, 0, 1), 3);
        assert_eq!(want_active(3, None, 1, 2), 2);
        assert!(completions_reached(Some(5), 5, 0));
        assert!(!completions_reached(Some(5), 5, 1));
        assert!(!completions_reached(Some(5), 4, 0));
        assert!(completions_reached(None, 1, 0));
        assert!(!completions_reached(None, 1, 2));
        assert!(!completions_reached(None, 0, 0));
    }

    #[test]
    fn on_failure_restarts_count_against_the_limit() {
        assert!(past_backoff_limit_on_failure(1, 0));
        assert!(!past_backoff_limit_on_failure(0, 0));
        assert!(!past_backoff_limit_on_failure(5, 6));
        assert!(past_backoff_limit_on_failure(6, 6));
    }

    #[test]
    fn the_active_deadline_counts_from_the_start_time_unless_suspended() {
        assert!(!past_active_deadline(Some(30), Some(at(10)), false, at(39)));
        assert!(past_active_deadline(Some(30), Some(at(10)), false, at(40)));
        assert!(!past_active_deadline(Some(30), Some(at(10)), true, at(90)));
        assert!(!past_active_deadline(None, Some(at(10)), false, at(90)));
        assert!(!past_active_deadline(Some(30), None, false, at(90)));
    }

    #[test]
    fn completed_indexes_round_trip_as_ranges() {
        let indexes: BTreeSet<u32> = [0, 1, 2, 4, 6, 7].into_iter().collect();
        assert_eq!(format_indexes(&indexes), "0-2,4,6-7");
        assert_eq!(parse_indexes("0-2,4,6-7"), indexes);
        assert_eq!(format_indexes(&BTreeSet::new()), "");
        assert!(parse_indexes("").is_empty());
        let active: BTreeSet<u32> = [3].into_iter().collect();
        assert_eq!(first_pending_indexes(9, &indexes, &active, 2), [5, 8]);
        assert_eq!(first_pending_indexes(9, &indexes, &active, 5), [5, 8]);
    }

    #[test]
    fn conditions_are_added_true_and_replaced_on_change() {
        let mut conditions = Vec::new();
        let suspended = JobConditionType::Suspended;
        // Going from nothing to False adds nothing.
        assert!(!ensure_condition(
            &mut conditions,
            suspended,
            ConditionStatus::False,
            "JobResumed",
            "Job resumed",
            at(1)
        ));
        assert!(conditions.is_empty());
        assert!(ensure_condition(
            &mut conditions,
            suspended,
            ConditionStatus::True,
            "JobSuspended",
            "Job suspended",
            at(2)
        ));
        assert!(!ensure_condition(
            &mut conditions,
            suspended,
            ConditionStatus::True,
            "JobSuspended",
            "Job suspended",
            at(3)
        ));
        assert_eq!(conditions[0].last_transition_time, at(2));
        assert!(ensure_condition(
            &mut conditions,
            suspended,
            ConditionStatus::False,
            "JobResumed",
            "Job resumed",
            at(4)
        ));
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].status, ConditionStatus::False);
        assert_eq!(conditions[0].last_transition_time, at(4));
    }

    fn pod(uid: u64, phase: PodPhase, terminating: bool, restarts: u32) -> Rc<Pod> {
        use crate::api::{ContainerStatus, PodSpec};
        let mut metadata = ObjectMeta::named("default", &format!("pi-{uid}"));
        metadata.uid = uid;
        metadata.deletion_timestamp = terminating.then_some(at(50));
        Rc::new(Pod {
            metadata,
            spec: PodSpec::default(),
            status: PodStatus {
                phase,
                container_statuses: vec![ContainerStatus {
                    name: s("pi"),
                    state: ContainerState::Terminated {
                        exit_code: 0,
                        reason: s("Completed"),
                        finished_at: at(40 + uid),
                    },
                    ready: false,
                    restart_count: restarts,
                    image: s("pi"),
                    started: false,
                    last_state: None,
                }],
                ..PodStatus::default()
            },
        })
    }

    #[test]
    fn pods_are_tallied_and_deleted_unfinished_pods_count_as_failed() {
        let pods = [
            pod(1, PodPhase::Running, false, 2),
            pod(2, PodPhase::Pending, true, 1),
            pod(3, PodPhase::Succeeded, false, 0),
            pod(4, PodPhase::Failed, false, 0),
            pod(5, PodPhase::Succeeded, true, 0),
        ];
        let tally = PodTally::of(pods.iter());
        assert_eq!((tally.active, tally.terminating, tally.restarts), (1, 1, 3));
        // isPodFailed: Failed, or deleted before it succeeded.
        let failed: Vec<u64> = pods
            .iter()
            .filter(|p| pod_failed(p))
            .map(|p| p.metadata.uid)
            .collect();
        assert_eq!(failed, [2, 4]);
        // getFinishedTime: the containers' last exit.
        assert_eq!(finished_time(&pods[3], at(99)), at(44));
        // After a restart: counted when the status already covers them.
        let status = |succeeded, failed| JobStatus {
            succeeded,
            failed,
            ..JobStatus::default()
        };
        let counted = initially_counted(&pods, &status(2, 2));
        assert_eq!(counted.iter().copied().collect::<Vec<_>>(), [2, 3, 4, 5]);
        assert!(initially_counted(&pods, &status(2, 1)).is_empty());
    }

    #[test]
    fn pods_carry_the_owner_and_indexed_pods_their_index() {
        use crate::api::{JobSpec, LabelSelector, Labels, PodSpec, PodTemplateSpec};
        let mut metadata = ObjectMeta::named("default", "pi");
        metadata.uid = 42;
        let job = Job {
            metadata,
            spec: JobSpec {
                parallelism: 1,
                completions: Some(3),
                completion_mode: CompletionMode::Indexed,
                backoff_limit: 6,
                active_deadline_seconds: None,
                suspend: false,
                manual_selector: false,
                selector: LabelSelector::default(),
                template: Rc::new(PodTemplateSpec {
                    labels: Labels::from_pairs([("app", "pi")]),
                    annotations: Labels::new(),
                    spec: PodSpec {
                        restart_policy: RestartPolicy::Never,
                        ..PodSpec::default()
                    },
                }),
            },
            status: JobStatus::default(),
        };
        let pod = pod_from_job(&job, Some(2));
        assert_eq!(&*pod.metadata.generate_name, "pi-2-");
        assert_eq!(completion_index(&pod), Some(2));
        assert_eq!(
            pod.metadata.labels.get(JOB_COMPLETION_INDEX).map(|v| &**v),
            Some("2")
        );
        let owner = pod.metadata.controller_ref().expect("controlled");
        assert_eq!((owner.kind, owner.uid), (Kind::Job, 42));
        let pod = pod_from_job(&job, None);
        assert_eq!(&*pod.metadata.generate_name, "pi-");
        assert_eq!(completion_index(&pod), None);
    }
}
