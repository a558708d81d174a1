//! Per-kind rules the API server applies to writes, as upstream's registry strategies do:
//! what a create resets, what an update may change, what a status update may change, and
//! the defaulting admission plugins kubesim models.

use std::rc::Rc;

use sim_core::SimTime;

use crate::api::{
    ANNOTATION_DEPRECATED_TEMPLATE_GENERATION, CompletionMode, ConditionStatus, DaemonSet,
    DaemonSetUpdateStrategy, Deployment, HIGHEST_USER_DEFINABLE_PRIORITY, HorizontalPodAutoscaler,
    IntOrPercent, Job, Kind, LABEL_JOB_CONTROLLER_UID, LABEL_JOB_NAME,
    LABEL_LEGACY_JOB_CONTROLLER_UID, LABEL_LEGACY_JOB_NAME, Labels, Node, Object, Pod,
    PodDisruptionBudget, PodDisruptionBudgetSpec, PodPhase, PodSpec, PodStatus, PreemptionPolicy,
    PriorityClass, ReplicaSet, RestartPolicy, SYSTEM_PRIORITY_CLASS_PREFIX, SelectPolicy,
    StatefulSet, TAINT_NOT_READY, TAINT_UNREACHABLE, TaintEffect, Toleration, TolerationOperator,
    s, system_priority_classes,
};

/// Why a write was refused before reaching etcd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid(pub String);

/// Validation and defaulting for a create. `uid` and `now` are the server's.
pub fn prepare_for_create(
    object: &mut Object,
    uid: u64,
    now: SimTime,
    default_toleration_seconds: (u64, u64),
) -> Result<(), Invalid> {
    validate_name(&object.meta().name)?;
    {
        let meta = object.meta_mut();
        meta.uid = uid;
        meta.creation_timestamp = now;
        meta.resource_version = 0;
        meta.generation = 1;
        meta.deletion_timestamp = None;
        meta.deletion_grace_period_seconds = None;
    }
    match object {
        Object::Pod(pod) => {
            let pod = Rc::make_mut(pod);
            pod.status = PodStatus {
                phase: PodPhase::Pending,
                scheduled: if pod.spec.node_name.is_some() {
                    ConditionStatus::True
                } else {
                    ConditionStatus::Unknown
                },
                // As upstream's pod strategy does on create (`PrepareForCreate`).
                qos_class: Some(crate::api::pod_qos_class(&pod.spec)),
                ..PodStatus::default()
            };
            add_default_tolerations(&mut pod.spec.tolerations, default_toleration_seconds);
        }
        Object::Deployment(deployment) => {
            let deployment = Rc::make_mut(deployment);
            if !deployment
                .spec
                .selector
                .matches(&deployment.spec.template.labels)
            {
                return Err(Invalid(
                    "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`"
                        .to_string(),
                ));
            }
            deployment.status = Default::default();
        }
        Object::ReplicaSet(replica_set) => {
            let replica_set = Rc::make_mut(replica_set);
            if !replica_set
                .spec
                .selector
                .matches(&replica_set.spec.template.labels)
            {
                return Err(Invalid(
                    "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`"
                        .to_string(),
                ));
            }
            replica_set.status = Default::default();
        }
        Object::PriorityClass(class) => validate_priority_class(class)?,
        Object::RuntimeClass(class) => super::runtime_class::validate_runtime_class(class)?,
        Object::StatefulSet(set) => {
            let set = Rc::make_mut(set);
            validate_stateful_set(set)?;
            // The StatefulSet controller writes the status
            // (statefulSetStrategy.PrepareForCreate).
            set.status = Default::default();
        }
        Object::PodDisruptionBudget(budget) => {
            validate_pod_disruption_budget(&budget.spec)?;
            // The disruption controller writes the status; a client's copy is dropped
            // (upstream podDisruptionBudgetStrategy.PrepareForCreate).
            Rc::make_mut(budget).status = Default::default();
        }
        Object::HorizontalPodAutoscaler(hpa) => {
            validate_horizontal_pod_autoscaler(hpa)?;
            // The HPA controller writes the status (upstream autoscalerStrategy
            // PrepareForCreate).
            Rc::make_mut(hpa).status = Default::default();
        }
        Object::Job(job) => {
            let job = Rc::make_mut(job);
            // jobStrategy.PrepareForCreate: the controller writes the status.
            job.status = Default::default();
            if !job.spec.manual_selector {
                generate_job_selector(job);
            }
            validate_job(job)?;
        }
        Object::DaemonSet(daemon_set) => {
            let daemon_set = Rc::make_mut(daemon_set);
            validate_daemon_set(daemon_set)?;
            // daemonSetStrategy.PrepareForCreate: the controller writes the status, and
            // the template starts at generation 1.
            daemon_set.status = Default::default();
            daemon_set
                .metadata
                .annotations
                .insert(s(ANNOTATION_DEPRECATED_TEMPLATE_GENERATION), s("1"));
        }
        Object::Namespace(_)
        | Object::Node(_)
        | Object::Service(_)
        | Object::EndpointSlice(_)
        | Object::Lease(_) => {}
    }
    Ok(())
}

/// Upstream `ValidatePriorityClass` (pkg/apis/scheduling/validation/validation.go): a
/// `system-` name must be one of the built-in classes exactly as built in; any other
/// class may not go above `HIGHEST_USER_DEFINABLE_PRIORITY`.
pub fn validate_priority_class(class: &PriorityClass) -> Result<(), Invalid> {
    let name = &*class.metadata.name;
    if name.starts_with(SYSTEM_PRIORITY_CLASS_PREFIX) {
        let known = system_priority_classes()
            .into_iter()
            .find(|system| &*system.metadata.name == name);
        let why = match known {
            None => Some(format!("{name:?} is not a known system priority class")),
            Some(system) if system.value != class.value => Some(format!(
                "value of {name} PriorityClass must be {}",
                system.value
            )),
            Some(_) if class.global_default => Some(format!(
                "globalDefault of {name} PriorityClass must be false"
            )),
            Some(_) => None,
        };
        if let Some(why) = why {
            return Err(Invalid(format!(
                "metadata.name: Forbidden: priority class names with '{SYSTEM_PRIORITY_CLASS_PREFIX}' prefix are reserved for system use only. error: {why}"
            )));
        }
    } else if class.value > HIGHEST_USER_DEFINABLE_PRIORITY {
        return Err(Invalid(format!(
            "value: Forbidden: maximum allowed value of a user defined priority is {HIGHEST_USER_DEFINABLE_PRIORITY}"
        )));
    }
    Ok(())
}

/// Upstream `ValidateStatefulSetSpec` (pkg/apis/apps/validation/validation.go), the
/// parts kubesim's types can violate: the selector must be non-empty and match the
/// template's labels.
pub fn validate_stateful_set(set: &StatefulSet) -> Result<(), Invalid> {
    if set.spec.selector.is_empty() {
        return Err(Invalid(
            "spec.selector: Invalid value: empty selector is invalid for statefulset".to_string(),
        ));
    }
    if !set.spec.selector.matches(&set.spec.template.labels) {
        return Err(Invalid(
            "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`"
                .to_string(),
        ));
    }
    Ok(())
}

/// Upstream `ValidateStatefulSetUpdate`: only replicas, ordinals, template,
/// updateStrategy, revisionHistoryLimit, persistentVolumeClaimRetentionPolicy and
/// minReadySeconds may change.
pub fn validate_stateful_set_update(new: &StatefulSet, old: &StatefulSet) -> Result<(), Invalid> {
    let (a, b) = (&new.spec, &old.spec);
    if a.selector != b.selector
        || a.service_name != b.service_name
        || a.pod_management_policy != b.pod_management_policy
    {
        return Err(Invalid(
            "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
                .to_string(),
        ));
    }
    Ok(())
}

/// Upstream `ValidateDaemonSetSpec` and `ValidateRollingUpdateDaemonSet`
/// (pkg/apis/apps/validation/validation.go): a non-empty selector that selects the
/// template's labels, restartPolicy Always, and a rolling update with percentages up to
/// 100% where exactly one of maxUnavailable and maxSurge is non-zero.
pub fn validate_daemon_set(daemon_set: &DaemonSet) -> Result<(), Invalid> {
    let spec = &daemon_set.spec;
    if spec.selector.is_empty() {
        return Err(Invalid(
            "spec.selector: Invalid value: empty selector is invalid for daemonset".to_string(),
        ));
    }
    if !spec.selector.matches(&spec.template.labels) {
        return Err(Invalid(
            "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`"
                .to_string(),
        ));
    }
    let restart_policy = spec.template.spec.restart_policy;
    if restart_policy != crate::api::RestartPolicy::Always {
        return Err(Invalid(format!(
            "spec.template.spec.restartPolicy: Unsupported value: \"{restart_policy:?}\": supported values: \"Always\""
        )));
    }
    if let DaemonSetUpdateStrategy::RollingUpdate {
        max_unavailable,
        max_surge,
    } = spec.update_strategy
    {
        for (field, value) in [("maxUnavailable", max_unavailable), ("maxSurge", max_surge)] {
            if let IntOrPercent::Percent(percent) = value
                && percent > 100
            {
                return Err(Invalid(format!(
                    "spec.updateStrategy.rollingUpdate.{field}: Invalid value: \"{percent}%\": must not be greater than 100%"
                )));
            }
        }
        let non_zero =
            |value: IntOrPercent| !matches!(value, IntOrPercent::Int(0) | IntOrPercent::Percent(0));
        match (non_zero(max_unavailable), non_zero(max_surge)) {
            (true, true) => {
                return Err(Invalid(format!(
                    "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: {}: may not be set when maxUnavailable is non-zero",
                    int_or_percent_text(max_surge)
                )));
            }
            (false, false) => {
                return Err(Invalid(
                    "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"
                        .to_string(),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// An IntOrString as upstream's field errors print it: `2` or `"25%"`.
fn int_or_percent_text(value: IntOrPercent) -> String {
    match value {
        IntOrPercent::Int(count) => count.to_string(),
        IntOrPercent::Percent(percent) => format!("\"{percent}%\""),
    }
}

/// Upstream `ValidatePodDisruptionBudgetSpec` (pkg/apis/policy/validation/validation.go):
/// `minAvailable` and `maxUnavailable` exclude each other, and a percentage may not pass
/// 100%. (A negative count cannot be represented; manifest ingest refuses one.) The error
/// starts with the field's path.
pub fn validate_pod_disruption_budget(spec: &PodDisruptionBudgetSpec) -> Result<(), Invalid> {
    if spec.min_available.is_some() && spec.max_unavailable.is_some() {
        return Err(Invalid(
            "spec: Invalid value: minAvailable and maxUnavailable cannot be both set".to_string(),
        ));
    }
    for (field, value) in [
        ("minAvailable", spec.min_available),
        ("maxUnavailable", spec.max_unavailable),
    ] {
        if let Some(IntOrPercent::Percent(percent)) = value
            && percent > 100
        {
            return Err(Invalid(format!(
                "spec.{field}: Invalid value: \"{percent}%\": must not be greater than 100%"
            )));
        }
    }
    Ok(())
}

/// Upstream `generateSelector` (pkg/registry/batch/job/strategy.go): the template gets
/// the job-name and controller-uid labels (new and legacy spellings) unless it sets them
/// itself, and the selector gets `batch.kubernetes.io/controller-uid=<uid>` unless it
/// has one. A conflicting label the user set fails validation afterwards.
pub fn generate_job_selector(job: &mut Job) {
    let uid = s(&job.metadata.uid.to_string());
    let template = Rc::make_mut(&mut job.spec.template);
    for (key, value) in [
        (LABEL_LEGACY_JOB_NAME, &job.metadata.name),
        (LABEL_JOB_NAME, &job.metadata.name),
        (LABEL_LEGACY_JOB_CONTROLLER_UID, &uid),
        (LABEL_JOB_CONTROLLER_UID, &uid),
    ] {
        if template.labels.get(key).is_none() {
            template.labels.insert(s(key), value.clone());
        }
    }
    if job
        .spec
        .selector
        .match_labels
        .get(LABEL_JOB_CONTROLLER_UID)
        .is_none()
    {
        job.spec
            .selector
            .match_labels
            .insert(s(LABEL_JOB_CONTROLLER_UID), uid);
    }
}

/// Upstream `ValidateJob` (pkg/apis/batch/validation/validation.go), the parts kubesim's
/// Job has: a generated selector must select this Job's uid, the selector must match
/// the template's labels, and the template's restartPolicy must be OnFailure or Never.
/// (Negative counts cannot be represented; manifest ingest refuses them.)
pub fn validate_job(job: &Job) -> Result<(), Invalid> {
    let spec = &job.spec;
    if spec.selector.is_empty() {
        return Err(Invalid("spec.selector: Required value".to_string()));
    }
    if !spec.manual_selector {
        let uid = job.metadata.uid.to_string();
        let expected = Labels::from_pairs([
            (LABEL_JOB_CONTROLLER_UID, uid.as_str()),
            (LABEL_JOB_NAME, &*job.metadata.name),
        ]);
        if !spec.selector.matches(&expected) {
            return Err(Invalid(
                "spec.selector: Invalid value: `selector` not auto-generated".to_string(),
            ));
        }
    }
    if !spec.selector.matches(&spec.template.labels) {
        return Err(Invalid(
            "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`"
                .to_string(),
        ));
    }
    let policy = spec.template.spec.restart_policy;
    if policy == RestartPolicy::Always {
        return Err(Invalid(
            "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
                .to_string(),
        ));
    }
    if spec.completion_mode == CompletionMode::Indexed && spec.completions.is_none() {
        return Err(Invalid(
            "spec.completions: Required value: when completion mode is Indexed".to_string(),
        ));
    }
    Ok(())
}

/// Upstream `ValidateHorizontalPodAutoscalerSpec` and `validateBehavior`
/// (pkg/apis/autoscaling/validation/validation.go) for what kubesim models: minReplicas
/// at least 1 (scale to zero is behind the alpha HPAScaleToZero gate), maxReplicas at
/// least minReplicas, a positive utilisation target, a Deployment, ReplicaSet or
/// StatefulSet target, and behavior windows and policies in range. The error starts with
/// the field's path.
pub fn validate_horizontal_pod_autoscaler(hpa: &HorizontalPodAutoscaler) -> Result<(), Invalid> {
    let spec = &hpa.spec;
    if spec.min_replicas < 1 {
        return Err(Invalid(format!(
            "spec.minReplicas: Invalid value: {}: must be greater than or equal to 1",
            spec.min_replicas
        )));
    }
    if spec.max_replicas < spec.min_replicas {
        return Err(Invalid(format!(
            "spec.maxReplicas: Invalid value: {}: must be greater than or equal to `minReplicas`",
            spec.max_replicas
        )));
    }
    if spec.scale_target_ref.name.is_empty() {
        return Err(Invalid(
            "spec.scaleTargetRef.name: Required value".to_string(),
        ));
    }
    if !matches!(
        spec.scale_target_ref.kind,
        Kind::Deployment | Kind::ReplicaSet | Kind::StatefulSet
    ) {
        return Err(Invalid(format!(
            "spec.scaleTargetRef.kind: Unsupported value: {:?}: kubesim scales Deployments, ReplicaSets and StatefulSets",
            spec.scale_target_ref.kind.name()
        )));
    }
    if spec.target_cpu_utilization_percentage == 0 {
        return Err(Invalid(
            "spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0"
                .to_string(),
        ));
    }
    for (direction, rules) in [
        ("scaleUp", &spec.behavior.scale_up),
        ("scaleDown", &spec.behavior.scale_down),
    ] {
        if rules.stabilization_window_seconds > 3600 {
            return Err(Invalid(format!(
                "spec.behavior.{direction}.stabilizationWindowSeconds: Invalid value: {}: must be less than or equal to 3600",
                rules.stabilization_window_seconds
            )));
        }
        if rules.policies.is_empty() && rules.select_policy != SelectPolicy::Disabled {
            return Err(Invalid(format!(
                "spec.behavior.{direction}.policies: Required value: must specify at least one Policy"
            )));
        }
        for (index, policy) in rules.policies.iter().enumerate() {
            if policy.period_seconds == 0 || policy.period_seconds > 1800 {
                return Err(Invalid(format!(
                    "spec.behavior.{direction}.policies[{index}].periodSeconds: Invalid value: {}: must be greater than zero and less than or equal to 1800",
                    policy.period_seconds
                )));
            }
            if policy.value == 0 {
                return Err(Invalid(format!(
                    "spec.behavior.{direction}.policies[{index}].value: Invalid value: 0: must be greater than zero"
                )));
            }
        }
    }
    Ok(())
}

/// The PriorityClass among `classes` that pods naming none get: the `globalDefault` one,
/// and if several are (a race upstream tolerates), the lowest value; ties by name, so the
/// choice never depends on iteration order (plugin/pkg/admission/priority/admission.go,
/// `getDefaultPriorityClass`).
pub fn default_priority_class<'a>(
    classes: impl IntoIterator<Item = &'a PriorityClass>,
) -> Option<&'a PriorityClass> {
    classes
        .into_iter()
        .filter(|class| class.global_default)
        .min_by(|a, b| (a.value, &a.metadata.name).cmp(&(b.value, &b.metadata.name)))
}

/// The Priority admission plugin on a pod create (plugin/pkg/admission/priority/
/// admission.go): `priorityClassName` resolves through `find` to the class's value and
/// preemption policy; a pod naming no class gets the `default` class (and its name), or
/// priority 0 when there is none. A name that resolves to nothing is refused, as is a
/// pod that asks for a priority or preemption policy other than its class's. The error is
/// the text after `pods "<name>" is forbidden: `.
///
/// kubesim's `PodSpec` cannot tell an unset `priority` from 0 or an unset
/// `preemptionPolicy` from PreemptLowerPriority, so only a non-zero priority and a
/// `Never` policy count as "provided" here.
pub fn admit_pod_priority<'a>(
    spec: &mut PodSpec,
    find: impl FnOnce(&str) -> Option<&'a PriorityClass>,
    default: Option<&'a PriorityClass>,
) -> Result<(), String> {
    let class = match &spec.priority_class_name {
        Some(name) => {
            Some(find(name).ok_or_else(|| format!("no PriorityClass with name {name} was found"))?)
        }
        None => default,
    };
    let (priority, policy) = class.map_or((0, PreemptionPolicy::PreemptLowerPriority), |c| {
        (c.value, c.preemption_policy)
    });
    if spec.priority != 0 && spec.priority != priority {
        return Err(format!(
            "the integer value of priority ({}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name",
            spec.priority
        ));
    }
    if spec.preemption_policy == PreemptionPolicy::Never && policy != PreemptionPolicy::Never {
        return Err(format!(
            "the string value of PreemptionPolicy (Never) must not be provided in pod spec; priority admission controller computed {} from the given PriorityClass name",
            preemption_policy_name(policy)
        ));
    }
    if let Some(class) = class {
        spec.priority_class_name = Some(class.metadata.name.clone());
    }
    spec.priority = priority;
    spec.preemption_policy = policy;
    Ok(())
}

/// `PreemptLowerPriority` or `Never`, as Kubernetes spells them.
pub fn preemption_policy_name(policy: PreemptionPolicy) -> &'static str {
    match policy {
        PreemptionPolicy::PreemptLowerPriority => "PreemptLowerPriority",
        PreemptionPolicy::Never => "Never",
    }
}

/// Merges a client's update into the stored object: spec and metadata from the client,
/// status and server-owned metadata from the store. Bumps `generation` when the spec
/// changed.
pub fn prepare_for_update(current: &Object, mut update: Object) -> Result<Object, Invalid> {
    if update.kind() != current.kind() {
        return Err(Invalid("kind may not change".to_string()));
    }
    let spec_changed = match (&mut update, current) {
        (Object::Pod(new), Object::Pod(old)) => {
            let new = Rc::make_mut(new);
            new.status = old.status.clone();
            if new.spec.node_name != old.spec.node_name && old.spec.node_name.is_some() {
                return Err(Invalid(
                    "spec.nodeName: Forbidden: pod updates may not change nodeName".to_string(),
                ));
            }
            // Resolved by the Priority admission plugin at create and immutable after;
            // a client's copy (a re-applied manifest) has them unresolved.
            new.spec.priority = old.spec.priority;
            new.spec.preemption_policy = old.spec.preemption_policy;
            new.spec.priority_class_name = old.spec.priority_class_name.clone();
            new.spec != old.spec
        }
        (Object::Node(new), Object::Node(old)) => {
            let new = Rc::make_mut(new);
            new.status = old.status.clone();
            new.spec != old.spec
        }
        (Object::Deployment(new), Object::Deployment(old)) => {
            let new = Rc::make_mut(new);
            new.status = old.status.clone();
            new.spec != old.spec
        }
        (Object::ReplicaSet(new), Object::ReplicaSet(old)) => {
            let new = Rc::make_mut(new);
            new.status = old.status.clone();
            new.spec != old.spec
        }
        (Object::Service(new), Object::Service(old)) => {
            let new = Rc::make_mut(new);
            if new.spec.cluster_ip.is_none() {
                new.spec.cluster_ip = old.spec.cluster_ip.clone();
            } else if new.spec.cluster_ip != old.spec.cluster_ip {
                return Err(Invalid(
                    "spec.clusterIP: Invalid value: field is immutable".to_string(),
                ));
            }
            new.spec != old.spec
        }
        (Object::EndpointSlice(new), Object::EndpointSlice(old)) => {
            new.endpoints != old.endpoints || new.ports != old.ports
        }
        (Object::Lease(new), Object::Lease(old)) => new.spec != old.spec,
        (Object::PriorityClass(new), Object::PriorityClass(old)) => {
            // ValidatePriorityClassUpdate: value and preemptionPolicy are immutable.
            if new.value != old.value {
                return Err(Invalid(
                    "value: Forbidden: may not be changed in an update.".to_string(),
                ));
            }
            if new.preemption_policy != old.preemption_policy {
                return Err(Invalid(
                    "preemptionPolicy: Invalid value: field is immutable".to_string(),
                ));
            }
            // PriorityClass has no spec: upstream's strategy never bumps its generation.
            false
        }
        (Object::RuntimeClass(new), Object::RuntimeClass(old)) => {
            super::runtime_class::validate_runtime_class_update(new, old)?;
            // No spec either: the generation stays.
            false
        }
        (Object::PodDisruptionBudget(new), Object::PodDisruptionBudget(old)) => {
            // policy/v1 allows spec updates; the status stays the controller's
            // (podDisruptionBudgetStrategy.PrepareForUpdate).
            validate_pod_disruption_budget(&new.spec)?;
            let new = Rc::make_mut(new);
            new.status = old.status.clone();
            new.spec != old.spec
        }
        (Object::HorizontalPodAutoscaler(new), Object::HorizontalPodAutoscaler(old)) => {
            // autoscalerStrategy.PrepareForUpdate keeps the controller's status.
            validate_horizontal_pod_autoscaler(new)?;
            let new = Rc::make_mut(new);
            new.status = old.status.clone();
            new.spec != old.spec
        }
        (Object::Job(new), Object::Job(old)) => {
            // jobStrategy.PrepareForUpdate keeps the status; ValidateJobSpecUpdate
            // refuses changes to completions, the selector and the template (kubesim
            // models neither elastic Indexed Jobs nor mutable scheduling directives).
            let new = Rc::make_mut(new);
            new.status = old.status.clone();
            if !new.spec.manual_selector && new.spec.selector.is_empty() {
                // A re-applied manifest: its selector and labels are generated again.
                new.metadata.uid = old.metadata.uid;
                generate_job_selector(new);
            }
            validate_job(new)?;
            for (field, changed) in [
                ("completions", new.spec.completions != old.spec.completions),
                ("selector", new.spec.selector != old.spec.selector),
                ("template", new.spec.template != old.spec.template),
            ] {
                if changed {
                    return Err(Invalid(format!(
                        "spec.{field}: Invalid value: field is immutable"
                    )));
                }
            }
            new.spec != old.spec
        }
        (Object::StatefulSet(new), Object::StatefulSet(old)) => {
            validate_stateful_set(new)?;
            validate_stateful_set_update(new, old)?;
            let new = Rc::make_mut(new);
            new.status = old.status.clone();
            new.spec != old.spec
        }
        (Object::DaemonSet(new), Object::DaemonSet(old)) => {
            validate_daemon_set(new)?;
            if new.spec.selector != old.spec.selector {
                return Err(Invalid(
                    "spec.selector: Invalid value: field is immutable".to_string(),
                ));
            }
            // daemonSetStrategy.PrepareForUpdate: the status stays the controller's, and
            // a template change moves the template generation on.
            let new = Rc::make_mut(new);
            new.status = old.status.clone();
            let generation =
                old.template_generation() + u64::from(new.spec.template != old.spec.template);
            new.metadata.annotations.insert(
                s(ANNOTATION_DEPRECATED_TEMPLATE_GENERATION),
                s(&generation.to_string()),
            );
            new.spec != old.spec
        }
        (Object::Namespace(_), Object::Namespace(_)) => false,
        _ => unreachable!("kinds checked above"),
    };
    let old_meta = current.meta();
    let meta = update.meta_mut();
    meta.uid = old_meta.uid;
    meta.creation_timestamp = old_meta.creation_timestamp;
    meta.deletion_timestamp = old_meta.deletion_timestamp;
    meta.deletion_grace_period_seconds = old_meta.deletion_grace_period_seconds;
    meta.generate_name = old_meta.generate_name.clone();
    meta.generation = old_meta.generation + u64::from(spec_changed);
    Ok(update)
}

/// Takes only the status from a client's status update; everything else stays as stored.
/// The merged object is built from the stored metadata and spec and the update's status,
/// moved out of the update when the request was its only holder.
pub fn prepare_for_status_update(current: &Object, update: Object) -> Result<Object, Invalid> {
    /// `update`'s status, without copying it when nobody else holds the update.
    fn status_of<T: HasStatus>(update: Rc<T>) -> T::Status {
        match Rc::try_unwrap(update) {
            Ok(update) => update.into_status(),
            Err(shared) => shared.status().clone(),
        }
    }
    // The stored metadata and spec with the update's status.
    macro_rules! merged {
        ($kind:ident, $stored:expr, $update:expr) => {
            Object::from($kind {
                metadata: $stored.metadata.clone(),
                spec: $stored.spec.clone(),
                status: status_of($update),
            })
        };
    }
    let kind = update.kind();
    Ok(match (current, update) {
        (Object::Pod(m), Object::Pod(u)) => merged!(Pod, m, u),
        (Object::Node(m), Object::Node(u)) => merged!(Node, m, u),
        (Object::Deployment(m), Object::Deployment(u)) => merged!(Deployment, m, u),
        (Object::ReplicaSet(m), Object::ReplicaSet(u)) => merged!(ReplicaSet, m, u),
        (Object::StatefulSet(m), Object::StatefulSet(u)) => merged!(StatefulSet, m, u),
        (Object::DaemonSet(m), Object::DaemonSet(u)) => merged!(DaemonSet, m, u),
        (Object::PodDisruptionBudget(m), Object::PodDisruptionBudget(u)) => {
            merged!(PodDisruptionBudget, m, u)
        }
        (Object::HorizontalPodAutoscaler(m), Object::HorizontalPodAutoscaler(u)) => {
            merged!(HorizontalPodAutoscaler, m, u)
        }
        (Object::Job(m), Object::Job(u)) => merged!(Job, m, u),
        _ => return Err(Invalid(format!("{kind} has no status subresource"))),
    })
}

/// An object with a status subresource: its status, borrowed or taken.
trait HasStatus {
    type Status: Clone;
    fn status(&self) -> &Self::Status;
    fn into_status(self) -> Self::Status;
}

macro_rules! has_status {
    ($($kind:ident: $status:ty),* $(,)?) => {
        $(impl HasStatus for $kind {
            type Status = $status;
            fn status(&self) -> &$status {
                &self.status
            }
            fn into_status(self) -> $status {
                self.status
            }
        })*
    };
}

has_status!(
    Pod: crate::api::PodStatus,
    Node: crate::api::NodeStatus,
    Deployment: crate::api::DeploymentStatus,
    ReplicaSet: crate::api::ReplicaSetStatus,
    StatefulSet: crate::api::StatefulSetStatus,
    DaemonSet: crate::api::DaemonSetStatus,
    PodDisruptionBudget: crate::api::PodDisruptionBudgetStatus,
    HorizontalPodAutoscaler: crate::api::HorizontalPodAutoscalerStatus,
    Job: crate::api::JobStatus,
);

/// The `DefaultTolerationSeconds` admission plugin: every pod tolerates the not-ready and
/// unreachable NoExecute taints for a while (300 s each by default) unless it says
/// otherwise.
pub fn add_default_tolerations(
    tolerations: &mut Rc<[Toleration]>,
    (not_ready_seconds, unreachable_seconds): (u64, u64),
) {
    let has = |key: &str| {
        tolerations.iter().any(|t| {
            (t.key.as_ref() == key
                || (t.key.is_empty() && t.operator == TolerationOperator::Exists))
                && t.effect.is_none_or(|e| e == TaintEffect::NoExecute)
        })
    };
    let mut added = Vec::new();
    for (key, seconds) in [
        (TAINT_NOT_READY, not_ready_seconds),
        (TAINT_UNREACHABLE, unreachable_seconds),
    ] {
        if !has(key) {
            added.push(Toleration {
                key: s(key),
                operator: TolerationOperator::Exists,
                value: s(""),
                effect: Some(TaintEffect::NoExecute),
                toleration_seconds: Some(seconds),
            });
        }
    }
    if !added.is_empty() {
        let mut all: Vec<Toleration> = tolerations.iter().cloned().collect();
        all.extend(added);
        *tolerations = all.into();
    }
}

/// A DNS-1123 subdomain, as most object names must be.
fn validate_name(name: &str) -> Result<(), Invalid> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Invalid(format!(
            "metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
        )))
    }
}

/// The characters upstream's `utilrand.String` draws from for generated names.
pub const GENERATE_NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
/// Upstream appends five random characters to `generateName`.
pub const GENERATE_NAME_SUFFIX_LEN: usize = 5;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::{ObjectMeta, SYSTEM_CRITICAL_PRIORITY};

    /// A PriorityClass with the default preemption policy and no description.
    pub(crate) fn class(name: &str, value: i32, global_default: bool) -> PriorityClass {
        PriorityClass {
            metadata: ObjectMeta::named("", name),
            value,
            global_default,
            preemption_policy: PreemptionPolicy::PreemptLowerPriority,
            description: s(""),
        }
    }

    fn admit(spec: &mut PodSpec, classes: &[PriorityClass]) -> Result<(), String> {
        admit_pod_priority(
            spec,
            |name| classes.iter().find(|c| &*c.metadata.name == name),
            default_priority_class(classes),
        )
    }

    #[test]
    fn priority_comes_from_the_named_class() {
        let mut never = class("batch", -5, false);
        never.preemption_policy = PreemptionPolicy::Never;
        let classes = [class("high", 1000, false), never];
        let mut spec = PodSpec {
            priority_class_name: Some(s("batch")),
            ..PodSpec::default()
        };
        admit(&mut spec, &classes).unwrap();
        assert_eq!(spec.priority, -5);
        assert_eq!(spec.preemption_policy, PreemptionPolicy::Never);
        let mut unknown = PodSpec {
            priority_class_name: Some(s("gold")),
            ..PodSpec::default()
        };
        assert_eq!(
            admit(&mut unknown, &classes),
            Err("no PriorityClass with name gold was found".to_string())
        );
    }

    #[test]
    fn without_a_name_the_lowest_global_default_or_zero() {
        let mut spec = PodSpec::default();
        admit(&mut spec, &[class("high", 1000, false)]).unwrap();
        assert_eq!((spec.priority, spec.priority_class_name.clone()), (0, None));
        let classes = [
            class("b", 9, true),
            class("a", 4, true),
            class("z", 4, true),
        ];
        let mut spec = PodSpec::default();
        admit(&mut spec, &classes).unwrap();
        assert_eq!(spec.priority, 4);
        assert_eq!(spec.priority_class_name.as_deref(), Some("a"));
    }

    #[test]
    fn a_pod_may_not_ask_for_another_priority_or_policy_than_its_class() {
        let classes = [class("high", 1000, false)];
        let mut spec = PodSpec {
            priority_class_name: Some(s("high")),
            priority: 5,
            ..PodSpec::default()
        };
        let error = admit(&mut spec, &classes).unwrap_err();
        assert!(
            error.starts_with("the integer value of priority (5) must not be provided"),
            "{error}"
        );
        let mut spec = PodSpec {
            priority_class_name: Some(s("high")),
            priority: 1000,
            ..PodSpec::default()
        };
        admit(&mut spec, &classes).unwrap();
        let mut spec = PodSpec {
            preemption_policy: PreemptionPolicy::Never,
            ..PodSpec::default()
        };
        let error = admit(&mut spec, &classes).unwrap_err();
        assert!(
            error.contains("computed PreemptLowerPriority from the given PriorityClass name"),
            "{error}"
        );
    }

    #[test]
    fn priority_class_validation() {
        for system in system_priority_classes() {
            assert!(validate_priority_class(&system).is_ok());
        }
        assert!(validate_priority_class(&class("highest", 1_000_000_000, false)).is_ok());
        assert!(validate_priority_class(&class("negative", -1000, false)).is_ok());
        assert!(validate_priority_class(&class("over", 1_000_000_001, false)).is_err());
        assert!(validate_priority_class(&class("system-x", 1, false)).is_err());
        let wrong_value = class(
            "system-cluster-critical",
            SYSTEM_CRITICAL_PRIORITY + 1,
            false,
        );
        assert!(validate_priority_class(&wrong_value).is_err());
    }

    #[test]
    fn default_tolerations_are_added_once() {
        let mut tolerations: Rc<[Toleration]> = Rc::from(Vec::new());
        add_default_tolerations(&mut tolerations, (300, 300));
        assert_eq!(tolerations.len(), 2);
        assert!(
            tolerations
                .iter()
                .all(|t| t.toleration_seconds == Some(300))
        );
        add_default_tolerations(&mut tolerations, (300, 300));
        assert_eq!(tolerations.len(), 2);
    }

    #[test]
    fn an_existing_toleration_for_the_key_wins() {
        let mut tolerations: Rc<[Toleration]> = Rc::from(vec![Toleration {
            key: s(TAINT_UNREACHABLE),
            operator: TolerationOperator::Exists,
            value: s(""),
            effect: Some(TaintEffect::NoExecute),
            toleration_seconds: Some(10),
        }]);
        add_default_tolerations(&mut tolerations, (300, 300));
        assert_eq!(tolerations.len(), 2);
        let unreachable: Vec<_> = tolerations
            .iter()
            .filter(|t| t.key.as_ref() == TAINT_UNREACHABLE)
            .collect();
        assert_eq!(unreachable.len(), 1);
        assert_eq!(unreachable[0].toleration_seconds, Some(10));
    }

    fn job(restart_policy: crate::api::RestartPolicy, manual_selector: bool) -> Object {
        use crate::api::{JobSpec, JobStatus, LabelSelector, PodTemplateSpec};
        Job {
            metadata: ObjectMeta::named("default", "pi"),
            spec: JobSpec {
                parallelism: 2,
                completions: Some(5),
                completion_mode: CompletionMode::NonIndexed,
                backoff_limit: 6,
                active_deadline_seconds: None,
                suspend: false,
                manual_selector,
                selector: if manual_selector {
                    LabelSelector::from_labels(Labels::from_pairs([("app", "pi")]))
                } else {
                    LabelSelector::default()
                },
                template: Rc::new(PodTemplateSpec {
                    labels: Labels::from_pairs([("app", "pi")]),
                    annotations: Labels::new(),
                    spec: PodSpec {
                        restart_policy,
                        ..PodSpec::default()
                    },
                }),
            },
            status: JobStatus {
                succeeded: 3,
                ..JobStatus::default()
            },
        }
        .into()
    }

    #[test]
    fn a_job_gets_a_selector_and_pod_labels_from_its_uid() {
        let mut object = job(RestartPolicy::Never, false);
        prepare_for_create(&mut object, 77, SimTime::ZERO, (300, 300)).expect("valid");
        let Object::Job(created) = object else {
            unreachable!()
        };
        // generateSelector: the uid selects, and the template carries both spellings.
        assert_eq!(
            created.spec.selector.match_labels,
            Labels::from_pairs([(LABEL_JOB_CONTROLLER_UID, "77")])
        );
        let labels = &created.spec.template.labels;
        for (key, value) in [
            (LABEL_JOB_CONTROLLER_UID, "77"),
            (LABEL_LEGACY_JOB_CONTROLLER_UID, "77"),
            (LABEL_JOB_NAME, "pi"),
            (LABEL_LEGACY_JOB_NAME, "pi"),
            ("app", "pi"),
        ] {
            assert_eq!(labels.get(key).map(|v| &**v), Some(value), "{key}");
        }
        // The controller writes the status.
        assert_eq!(created.status, crate::api::JobStatus::default());
        // A manual selector is kept as given.
        let mut manual = job(RestartPolicy::OnFailure, true);
        prepare_for_create(&mut manual, 78, SimTime::ZERO, (300, 300)).expect("valid");
        let Object::Job(manual) = manual else {
            unreachable!()
        };
        assert_eq!(manual.spec.template.labels.len(), 1);
    }

    #[test]
    fn a_job_template_must_not_restart_always_and_its_spec_is_partly_immutable() {
        let mut always = job(RestartPolicy::Always, false);
        assert_eq!(
            prepare_for_create(&mut always, 1, SimTime::ZERO, (300, 300)),
            Err(Invalid(
                "spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
                    .to_string()
            ))
        );
        let mut stored = job(RestartPolicy::Never, false);
        prepare_for_create(&mut stored, 5, SimTime::ZERO, (300, 300)).expect("valid");
        // A re-applied manifest (no selector) with a new parallelism is a spec change.
        let Object::Job(mut reapplied) = job(RestartPolicy::Never, false) else {
            unreachable!()
        };
        Rc::make_mut(&mut reapplied).spec.parallelism = 4;
        let updated = prepare_for_update(&stored, Object::Job(reapplied.clone())).expect("valid");
        assert_eq!(updated.meta().generation, 2);
        let Object::Job(updated) = updated else {
            unreachable!()
        };
        assert_eq!(updated.spec.parallelism, 4);
        Rc::make_mut(&mut reapplied).spec.completions = Some(9);
        assert_eq!(
            prepare_for_update(&stored, Object::Job(reapplied)),
            Err(Invalid(
                "spec.completions: Invalid value: field is immutable".to_string()
            ))
        );
    }

    #[test]
    fn names_must_be_dns_subdomains() {
        assert!(validate_name("nginx-7c5ddbdf54-x2bq4").is_ok());
        assert!(validate_name("Nginx").is_err());
        assert!(validate_name("-a").is_err());
        assert!(validate_name("").is_err());
    }

    #[test]
    fn a_daemon_set_template_change_moves_the_template_generation() {
        use crate::api::{DaemonSetSpec, LabelSelector, Labels, PodTemplateSpec};
        let labels = Labels::from_pairs([("name", "agent")]);
        let daemon_set = |image: &str| {
            let container = crate::api::Container {
                name: s("agent"),
                image: s(image),
                ..Default::default()
            };
            Object::from(DaemonSet {
                metadata: ObjectMeta::named("kube-system", "agent"),
                spec: DaemonSetSpec {
                    selector: LabelSelector::from_labels(labels.clone()),
                    template: Rc::new(PodTemplateSpec {
                        labels: labels.clone(),
                        annotations: Labels::new(),
                        spec: PodSpec {
                            containers: vec![container].into(),
                            ..PodSpec::default()
                        },
                    }),
                    update_strategy: DaemonSetUpdateStrategy::default(),
                    min_ready_seconds: 0,
                    revision_history_limit: 10,
                },
                status: Default::default(),
            })
        };
        let generation_of = |object: &Object| match object {
            Object::DaemonSet(ds) => (ds.metadata.generation, ds.template_generation()),
            other => panic!("{other:?}"),
        };
        let mut created = daemon_set("fluentd:v1");
        prepare_for_create(&mut created, 1, SimTime::ZERO, (300, 300)).unwrap();
        assert_eq!(generation_of(&created), (1, 1));
        // A re-applied manifest carries no annotation: the generation is the server's.
        let same = prepare_for_update(&created, daemon_set("fluentd:v1")).unwrap();
        assert_eq!(generation_of(&same), (1, 1));
        let changed = prepare_for_update(&same, daemon_set("fluentd:v2")).unwrap();
        assert_eq!(generation_of(&changed), (2, 2));
        // The selector is immutable.
        let Object::DaemonSet(mut moved) = daemon_set("fluentd:v2") else {
            unreachable!()
        };
        let moved_mut = Rc::make_mut(&mut moved);
        moved_mut.spec.selector = LabelSelector::from_labels(Labels::from_pairs([("name", "x")]));
        Rc::make_mut(&mut moved_mut.spec.template).labels = Labels::from_pairs([("name", "x")]);
        assert_eq!(
            prepare_for_update(&changed, Object::DaemonSet(moved)).unwrap_err(),
            Invalid("spec.selector: Invalid value: field is immutable".to_string())
        );
    }
}
