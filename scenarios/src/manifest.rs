//! Manifest ingest: the one place where real Kubernetes manifests (through k8s-openapi's
//! typed structs) become kubesim's compact objects (`components::api`).
//!
//! Each document is dispatched on `apiVersion`/`kind`, decoded strictly into the
//! k8s-openapi type (an unknown field is an error, as with `kubectl apply
//! --validate=strict`), validated the way the API server would reject it, and converted
//! with upstream's defaulting applied here, because k8s-openapi applies none
//! (`pkg/apis/core/v1/defaults.go`, `pkg/apis/apps/v1/defaults.go`):
//! replicas 1, RollingUpdate with maxSurge/maxUnavailable 25%, revisionHistoryLimit 10,
//! progressDeadlineSeconds 600, terminationGracePeriodSeconds 30, restartPolicy Always,
//! imagePullPolicy Always for `:latest` or untagged images else IfNotPresent, protocol TCP,
//! targetPort = port, namespace `default`, schedulerName `default-scheduler`, requests
//! defaulted from limits.
//!
//! The scheduling fields follow the same rules: node and pod (anti-)affinity, topology
//! spread constraints (nodeAffinityPolicy Honor, nodeTaintsPolicy Ignore), host ports,
//! sidecars (init containers with `restartPolicy: Always`), extended resources (request
//! defaulted from and equal to the limit), overhead, priorityClassName and
//! preemptionPolicy (PreemptLowerPriority). Nodes and PriorityClasses (preemptionPolicy
//! PreemptLowerPriority, value at most 1000000000 unless a built-in class) are ingested
//! too, for `kubesim schedule` and for scenarios, as are PodDisruptionBudgets (policy/v1:
//! at most one of minAvailable and maxUnavailable, no default for either; a status given
//! in the manifest is converted as written, and the API server drops it on create).
//!
//! HorizontalPodAutoscalers (autoscaling/v2) are ingested with their cpu `Utilization`
//! metric (80% when `metrics` is absent), minReplicas 1 and upstream's `behavior`
//! defaults per direction; other metric types are noted as not modelled. An
//! autoscaling/v1 one is converted to v2 as the API server converts it:
//! `targetCPUUtilizationPercentage` becomes the cpu Utilization metric.
//!
//! Fields kubesim does not model yet (probes, volumes, ...) are accepted and listed in
//! the manifest's `notes`, so a reader knows they had no effect.

use std::collections::BTreeMap;
use std::rc::Rc;

use components::api::quantity::{parse_bytes, parse_count, parse_cpu_millicores};
use components::api::{
    self, Affinity, ConditionStatus, Container, ContainerPort, ContainerRestartPolicy,
    DAEMON_SET_DEFAULT_MAX_SURGE, DAEMON_SET_DEFAULT_MAX_UNAVAILABLE,
    DAEMON_SET_DEFAULT_REVISION_HISTORY_LIMIT, DaemonSetSpec, DaemonSetStatus,
    DaemonSetUpdateStrategy, DeploymentSpec, DeploymentStatus, DeploymentStrategy, ImagePullPolicy,
    IntOrPercent, Kind, LabelSelector, Labels, Lifecycle, LifecycleHandler, NodeAffinity,
    NodeCondition, NodeInclusionPolicy, NodeSelectorOperator, NodeSelectorRequirement,
    NodeSelectorTerm, Object, ObjectMeta, PodAffinity, PodAffinityTerm, PodDisruptionBudgetSpec,
    PodDisruptionBudgetStatus, PodManagementPolicy, PodSpec, PodStatus, PodTemplateSpec,
    PreemptionPolicy, PreferredSchedulingTerm, Protocol, ReplicaSetSpec, ReplicaSetStatus,
    ResourceList, ResourceRequirements, RestartPolicy, SelectorOperator, SelectorRequirement,
    ServicePort, ServiceSpec, ServiceType, StatefulSetSpec, StatefulSetStatus,
    StatefulSetUpdateStrategy, Str, Taint, TaintEffect, TargetPort, Toleration, TolerationOperator,
    TopologySpreadConstraint, UnhealthyPodEvictionPolicy, UnsatisfiableConstraintAction,
    WeightedPodAffinityTerm, s,
};
use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::autoscaling::v1 as autoscaling_v1;
use k8s_openapi::api::autoscaling::v2 as autoscaling;
use k8s_openapi::api::batch::v1 as batch;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::node::v1 as node;
use k8s_openapi::api::policy::v1 as policy;
use k8s_openapi::api::scheduling::v1 as scheduling;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::error::ScenarioError;
use crate::yaml::{Document, PosMap, join_index, parse_documents};

/// Upstream defaults applied at ingest (k8s-openapi applies none).
pub mod defaults {
    /// `Deployment.spec.replicas`, `ReplicaSet.spec.replicas`: 1.
    pub const REPLICAS: u32 = 1;
    /// `Deployment.spec.strategy.rollingUpdate.maxSurge` / `maxUnavailable`: 25%.
    pub const MAX_SURGE_PERCENT: u32 = 25;
    pub const MAX_UNAVAILABLE_PERCENT: u32 = 25;
    /// `Deployment.spec.revisionHistoryLimit`: 10 (apps/v1).
    pub const REVISION_HISTORY_LIMIT: u32 = 10;
    /// `Deployment.spec.progressDeadlineSeconds`: 600.
    pub const PROGRESS_DEADLINE_SECONDS: u64 = 600;
    /// `Pod.spec.terminationGracePeriodSeconds`: 30.
    pub const TERMINATION_GRACE_PERIOD_SECONDS: u64 = 30;
    /// `metadata.namespace` of a namespaced object that names none: `default`.
    pub const NAMESPACE: &str = "default";
    /// `topologySpreadConstraints[].nodeAffinityPolicy`: Honor.
    pub const NODE_AFFINITY_POLICY: components::api::NodeInclusionPolicy =
        components::api::NodeInclusionPolicy::Honor;
    /// `topologySpreadConstraints[].nodeTaintsPolicy`: Ignore.
    pub const NODE_TAINTS_POLICY: components::api::NodeInclusionPolicy =
        components::api::NodeInclusionPolicy::Ignore;
    /// `preemptionPolicy` of a pod or PriorityClass: PreemptLowerPriority.
    pub const PREEMPTION_POLICY: components::api::PreemptionPolicy =
        components::api::PreemptionPolicy::PreemptLowerPriority;
}

/// The kinds this version of kubesim ingests.
pub const SUPPORTED_KINDS: &str = "Namespace, Node, Pod, Deployment, ReplicaSet, Service, PriorityClass, PodDisruptionBudget, StatefulSet, Job, DaemonSet, HorizontalPodAutoscaler, RuntimeClass";

/// autoscaling/v1 → v2, as the API server converts it: `targetCPUUtilizationPercentage`
/// becomes a cpu Resource metric with that Utilization target (absent: no metric, so
/// v2's default of 80% applies).
fn hpa_v1_to_v2(
    hpa: autoscaling_v1::HorizontalPodAutoscaler,
) -> autoscaling::HorizontalPodAutoscaler {
    let spec = hpa
        .spec
        .map(|spec| autoscaling::HorizontalPodAutoscalerSpec {
            scale_target_ref: autoscaling::CrossVersionObjectReference {
                api_version: spec.scale_target_ref.api_version,
                kind: spec.scale_target_ref.kind,
                name: spec.scale_target_ref.name,
            },
            min_replicas: spec.min_replicas,
            max_replicas: spec.max_replicas,
            metrics: spec.target_cpu_utilization_percentage.map(|percent| {
                vec![autoscaling::MetricSpec {
                    type_: "Resource".to_string(),
                    resource: Some(autoscaling::ResourceMetricSource {
                        name: "cpu".to_string(),
                        target: autoscaling::MetricTarget {
                            type_: "Utilization".to_string(),
                            average_utilization: Some(percent),
                            ..Default::default()
                        },
                    }),
                    ..Default::default()
                }]
            }),
            behavior: None,
        });
    autoscaling::HorizontalPodAutoscaler {
        metadata: hpa.metadata,
        spec,
        // v1's status has no counterpart worth converting: the API server drops it.
        status: hpa.status.map(|_| Default::default()),
    }
}

/// One ingested manifest.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub object: Object,
    /// Fields present in the manifest that kubesim does not model (they have no effect).
    pub notes: Vec<String>,
}

/// Converts one manifest document into a kubesim object.
pub fn ingest(doc: &Document) -> Result<Manifest, ScenarioError> {
    let mut ingest = Ingest {
        doc,
        notes: Vec::new(),
    };
    let object = ingest.dispatch()?;
    let notes = if ingest.notes.is_empty() {
        Vec::new()
    } else {
        let key = object.key();
        vec![format!(
            "{key}: not modelled yet, so without effect: {}",
            ingest.notes.join(", ")
        )]
    };
    Ok(Manifest { object, notes })
}

/// Ingests every document of a multi-document manifest stream (`---`-separated YAML or
/// JSON), in order: what `kubesim schedule` reads. Each object carries its kind
/// (`Manifest::object.kind()`); errors name `file`, the line and the field.
pub fn ingest_stream(text: &str, file: &str) -> Result<Vec<Manifest>, ScenarioError> {
    parse_documents(text, file, "", false, PosMap::Identity)?
        .iter()
        .filter(|document| !document.value.is_null())
        .map(ingest)
        .collect()
}

/// Whether a resource list may name `pods`: a node's capacity and allocatable and a pod's
/// overhead may; a container's requests and limits may not (upstream
/// `validateContainerResourceName`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum PodsResource {
    Allowed,
    Forbidden,
}

struct Ingest<'a> {
    doc: &'a Document,
    /// Relative paths of fields present but not modelled.
    notes: Vec<String>,
}

impl Ingest<'_> {
    fn error(&self, relative: &str, message: impl Into<String>) -> ScenarioError {
        self.doc.invalid(relative, message)
    }

    fn note(&mut self, relative: &str, present: bool) {
        if present {
            self.notes.push(relative.to_string());
        }
    }

    /// An object's `spec`, which the kinds that call this cannot do without.
    fn required_spec<'s, T>(&self, spec: &'s Option<T>) -> Result<&'s T, ScenarioError> {
        spec.as_ref()
            .ok_or_else(|| self.error("", "missing field `spec`"))
    }

    /// The error for a count or a number of seconds written below 0.
    fn negative(&self, at: &str, n: i64) -> ScenarioError {
        self.error(at, format!("must be greater than or equal to 0, got {n}"))
    }

    /// A count that must be at least 0.
    fn count(&self, n: i32, at: &str) -> Result<u32, ScenarioError> {
        u32::try_from(n).map_err(|_| self.negative(at, n.into()))
    }

    /// An enum field's value outside the supported ones, worded as the API server words it.
    fn unsupported(&self, at: &str, other: &str, supported: &str) -> ScenarioError {
        self.error(
            at,
            format!("Unsupported value: \"{other}\": supported values: {supported}"),
        )
    }

    /// The API server's validation refused the object: its messages start with the field
    /// path (`field: message`); one without a path is placed on `default_field`.
    fn refused(&self, invalid: &str, default_field: &str) -> ScenarioError {
        let (field, message) = invalid.split_once(": ").unwrap_or((default_field, invalid));
        self.error(field, message)
    }

    fn type_field(&self, field: &str) -> Result<String, ScenarioError> {
        match self.doc.value.get(field) {
            Some(serde_json::Value::String(text)) => Ok(text.clone()),
            Some(_) => Err(self.error(field, format!("`{field}` must be a string"))),
            None => Err(self.error("", format!("missing field `{field}`"))),
        }
    }

    fn dispatch(&mut self) -> Result<Object, ScenarioError> {
        if !self.doc.value.is_object() {
            return Err(self.error("", "a manifest must be a mapping with apiVersion and kind"));
        }
        let kind = self.type_field("kind")?;
        let api_version = self.type_field("apiVersion")?;
        let expected_api_version = match kind.as_str() {
            "Namespace" | "Node" | "Pod" | "Service" => "v1",
            "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" => "apps/v1",
            "PriorityClass" => "scheduling.k8s.io/v1",
            "RuntimeClass" => "node.k8s.io/v1",
            "PodDisruptionBudget" => "policy/v1",
            "HorizontalPodAutoscaler" => "autoscaling/v2",
            "Job" => "batch/v1",
            _ => {
                let at = self.doc.field_at("kind");
                let line = at.pos.map(|p| format!(":{}", p.line)).unwrap_or_default();
                return Err(ScenarioError::invalid(
                    at.clone(),
                    format!(
                        "unsupported kind {kind} in {}{line} (kubesim supports {SUPPORTED_KINDS})",
                        at.file
                    ),
                ));
            }
        };
        // The one kind served at two versions: autoscaling/v1 is converted to v2.
        let also_served = kind == "HorizontalPodAutoscaler" && api_version == "autoscaling/v1";
        if api_version != expected_api_version && !also_served {
            return Err(self.error(
                "apiVersion",
                format!(
                    "unsupported apiVersion {api_version:?} for kind {kind} (use {expected_api_version})"
                ),
            ));
        }
        Ok(match kind.as_str() {
            "Namespace" => self.namespace(&self.doc.decode(true)?)?,
            "Pod" => self.pod(&self.doc.decode(true)?)?,
            "Deployment" => self.deployment(&self.doc.decode(true)?)?,
            "ReplicaSet" => self.replica_set(&self.doc.decode(true)?)?,
            "Service" => self.service(&self.doc.decode(true)?)?,
            "Node" => self.node(&self.doc.decode(true)?)?,
            "PriorityClass" => self.priority_class(&self.doc.decode(true)?)?,
            "RuntimeClass" => self.runtime_class(&self.doc.decode(true)?)?,
            "HorizontalPodAutoscaler" if also_served => {
                self.horizontal_pod_autoscaler(&hpa_v1_to_v2(self.doc.decode(true)?))?
            }
            "HorizontalPodAutoscaler" => self.horizontal_pod_autoscaler(&self.doc.decode(true)?)?,
            "PodDisruptionBudget" => self.pod_disruption_budget(&self.doc.decode(true)?)?,
            "StatefulSet" => self.stateful_set(&self.doc.decode(true)?)?,
            "Job" => self.job(&self.doc.decode(true)?)?,
            "DaemonSet" => self.daemon_set(&self.doc.decode(true)?)?,
            _ => unreachable!("dispatch covers every supported kind"),
        })
    }

    // -----------------------------------------------------------------------------------
    // Metadata

    fn object_meta(
        &self,
        metadata: &meta::ObjectMeta,
        namespaced: bool,
    ) -> Result<ObjectMeta, ScenarioError> {
        let name = metadata.name.clone().unwrap_or_default();
        let generate_name = metadata.generate_name.clone().unwrap_or_default();
        if name.is_empty() && generate_name.is_empty() {
            return Err(self.error(
                "metadata",
                "metadata.name or metadata.generateName is required",
            ));
        }
        if !name.is_empty() {
            check_dns_subdomain(&name).map_err(|why| self.error("metadata.name", why))?;
        }
        let namespace = if namespaced {
            let namespace = metadata
                .namespace
                .clone()
                .unwrap_or_else(|| defaults::NAMESPACE.to_string());
            check_dns_label(&namespace).map_err(|why| self.error("metadata.namespace", why))?;
            namespace
        } else {
            String::new()
        };
        let mut meta = ObjectMeta::named(&namespace, &name);
        meta.generate_name = s(&generate_name);
        meta.labels = labels(metadata.labels.as_ref());
        meta.annotations = labels(metadata.annotations.as_ref());
        meta.finalizers = self.finalizers(metadata.finalizers.as_deref())?;
        meta.owner_references = self.owner_references(metadata.owner_references.as_deref())?;
        Ok(meta)
    }

    /// `metadata.finalizers`, as written (the API server checks their combination).
    fn finalizers(&self, finalizers: Option<&[String]>) -> Result<Vec<Str>, ScenarioError> {
        let mut out = Vec::new();
        for (index, finalizer) in finalizers.unwrap_or_default().iter().enumerate() {
            if finalizer.is_empty() {
                return Err(self.error(
                    &join_index("metadata.finalizers", index),
                    "a finalizer name must be non-empty",
                ));
            }
            out.push(s(finalizer));
        }
        Ok(out)
    }

    /// `metadata.ownerReferences` with upstream's `ValidateOwnerReferences` rules (kind,
    /// name and uid required; at most one controller). A manifest cannot know the uids
    /// the API server will assign, so each uid string stands for a fixed number (its
    /// FNV-1a hash): it names no object of the run, and the garbage collector finds the
    /// reference dangling.
    fn owner_references(
        &self,
        references: Option<&[meta::OwnerReference]>,
    ) -> Result<Vec<api::OwnerReference>, ScenarioError> {
        let mut out: Vec<api::OwnerReference> = Vec::new();
        for (index, reference) in references.unwrap_or_default().iter().enumerate() {
            let path = join_index("metadata.ownerReferences", index);
            let Some(kind) = supported_kind(&reference.kind) else {
                return Err(self.error(
                    &format!("{path}.kind"),
                    format!(
                        "unsupported kind {:?} (kubesim supports {SUPPORTED_KINDS})",
                        reference.kind
                    ),
                ));
            };
            for (field, value) in [("name", &reference.name), ("uid", &reference.uid)] {
                if value.is_empty() {
                    return Err(self.error(&format!("{path}.{field}"), "Required value"));
                }
            }
            let controller = reference.controller.unwrap_or(false);
            if controller && let Some(first) = out.iter().find(|r| r.controller) {
                return Err(self.error(
                    "metadata.ownerReferences",
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in references for {}/{} and {}/{}",
                        first.kind, first.name, reference.kind, reference.name
                    ),
                ));
            }
            out.push(api::OwnerReference {
                kind,
                name: s(&reference.name),
                uid: manifest_uid(&reference.uid),
                controller,
                block_owner_deletion: reference.block_owner_deletion.unwrap_or(false),
            });
        }
        Ok(out)
    }

    // -----------------------------------------------------------------------------------
    // Kinds

    fn namespace(&mut self, namespace: &core::Namespace) -> Result<Object, ScenarioError> {
        let metadata = self.object_meta(&namespace.metadata, false)?;
        check_dns_label(&metadata.name).map_err(|why| self.error("metadata.name", why))?;
        Ok(api::Namespace { metadata }.into())
    }

    fn pod(&mut self, pod: &core::Pod) -> Result<Object, ScenarioError> {
        let metadata = self.object_meta(&pod.metadata, true)?;
        let spec = self.required_spec(&pod.spec)?;
        let spec = self.pod_spec(spec, "spec", false)?;
        Ok(api::Pod {
            metadata,
            spec,
            status: PodStatus::default(),
        }
        .into())
    }

    fn deployment(&mut self, deployment: &apps::Deployment) -> Result<Object, ScenarioError> {
        let metadata = self.object_meta(&deployment.metadata, true)?;
        let spec = self.required_spec(&deployment.spec)?;
        let replicas = self.replicas(spec.replicas, "spec.replicas")?;
        let selector = self.selector(&spec.selector, "spec.selector")?;
        let template = self.template(&spec.template, "spec.template", &selector, true)?;
        let strategy = self.strategy(spec.strategy.as_ref())?;
        let min_ready_seconds =
            self.non_negative(spec.min_ready_seconds, 0, "spec.minReadySeconds")?;
        let revision_history_limit = self.revision_history_limit(
            spec.revision_history_limit,
            defaults::REVISION_HISTORY_LIMIT,
        )?;
        let progress_deadline_seconds = self.non_negative(
            spec.progress_deadline_seconds,
            defaults::PROGRESS_DEADLINE_SECONDS,
            "spec.progressDeadlineSeconds",
        )?;
        if progress_deadline_seconds <= min_ready_seconds {
            return Err(self.error(
                "spec.progressDeadlineSeconds",
                "must be greater than minReadySeconds",
            ));
        }
        Ok(api::Deployment {
            metadata,
            spec: DeploymentSpec {
                replicas,
                selector,
                template: Rc::new(template),
                strategy,
                min_ready_seconds,
                revision_history_limit,
                progress_deadline_seconds,
                paused: spec.paused.unwrap_or(false),
            },
            status: DeploymentStatus::default(),
        }
        .into())
    }

    fn replica_set(&mut self, replica_set: &apps::ReplicaSet) -> Result<Object, ScenarioError> {
        let metadata = self.object_meta(&replica_set.metadata, true)?;
        let spec = self.required_spec(&replica_set.spec)?;
        let replicas = self.replicas(spec.replicas, "spec.replicas")?;
        let selector = self.selector(&spec.selector, "spec.selector")?;
        let Some(template) = &spec.template else {
            return Err(self.error("spec", "missing field `template`"));
        };
        let template = self.template(template, "spec.template", &selector, true)?;
        let min_ready_seconds =
            self.non_negative(spec.min_ready_seconds, 0, "spec.minReadySeconds")?;
        Ok(api::ReplicaSet {
            metadata,
            spec: ReplicaSetSpec {
                replicas,
                selector,
                template: Rc::new(template),
                min_ready_seconds,
            },
            status: ReplicaSetStatus::default(),
        }
        .into())
    }

    fn service(&mut self, service: &core::Service) -> Result<Object, ScenarioError> {
        let metadata = self.object_meta(&service.metadata, true)?;
        check_dns_label(&metadata.name).map_err(|why| self.error("metadata.name", why))?;
        let default_spec = core::ServiceSpec::default();
        let spec = service.spec.as_ref().unwrap_or(&default_spec);
        let type_ = match spec.type_.as_deref() {
            None | Some("ClusterIP") => ServiceType::ClusterIP,
            Some("NodePort") => ServiceType::NodePort,
            Some("LoadBalancer") => ServiceType::LoadBalancer,
            Some("ExternalName") => {
                return Err(self.error(
                    "spec.type",
                    "Services of type ExternalName are not supported yet",
                ));
            }
            Some(other) => {
                return Err(self.error(
                    "spec.type",
                    format!("unsupported value {other:?}: supported values: \"ClusterIP\", \"NodePort\", \"LoadBalancer\""),
                ));
            }
        };
        let mut ports = Vec::new();
        for (index, port) in spec.ports.iter().flatten().enumerate() {
            let at = format!("spec.ports[{index}]");
            let number = self.port_number(port.port, &format!("{at}.port"))?;
            let protocol = self.protocol(port.protocol.as_deref(), &format!("{at}.protocol"))?;
            // targetPort defaults to port (SetDefaults_Service).
            let target_port = match &port.target_port {
                None => TargetPort::Number(number),
                Some(IntOrString::Int(n)) => {
                    TargetPort::Number(self.port_number(*n, &format!("{at}.targetPort"))?)
                }
                Some(IntOrString::String(name)) => match name.parse::<i32>() {
                    Ok(n) => TargetPort::Number(self.port_number(n, &format!("{at}.targetPort"))?),
                    Err(_) => TargetPort::Name(s(name)),
                },
            };
            self.note(&format!("{at}.nodePort"), port.node_port.is_some());
            ports.push(ServicePort {
                name: port.name.as_deref().map(s),
                protocol,
                port: number,
                target_port,
            });
        }
        if ports.len() > 1 && ports.iter().any(|p| p.name.is_none()) {
            return Err(self.error(
                "spec.ports",
                "every port must have a name when a Service has more than one",
            ));
        }
        let selector = spec
            .selector
            .as_ref()
            .filter(|selector| !selector.is_empty())
            .map(|selector| labels(Some(selector)));
        self.note(
            "spec.sessionAffinity",
            spec.session_affinity
                .as_deref()
                .is_some_and(|a| a != "None"),
        );
        self.note(
            "spec.externalTrafficPolicy",
            spec.external_traffic_policy.is_some(),
        );
        self.note(
            "spec.internalTrafficPolicy",
            spec.internal_traffic_policy.is_some(),
        );
        self.note(
            "spec.trafficDistribution",
            spec.traffic_distribution.is_some(),
        );
        self.note(
            "spec.publishNotReadyAddresses",
            spec.publish_not_ready_addresses == Some(true),
        );
        Ok(api::Service {
            metadata,
            spec: ServiceSpec {
                selector,
                ports,
                cluster_ip: spec.cluster_ip.as_deref().map(s),
                type_,
            },
        }
        .into())
    }

    fn node(&mut self, node: &core::Node) -> Result<Object, ScenarioError> {
        let metadata = self.object_meta(&node.metadata, false)?;
        let default_spec = core::NodeSpec::default();
        let spec = node.spec.as_ref().unwrap_or(&default_spec);
        let mut taints: Vec<Taint> = Vec::new();
        for (index, taint) in spec.taints.iter().flatten().enumerate() {
            let at = join_index("spec.taints", index);
            let taint = self.taint(taint, &at)?;
            // Upstream validateNodeTaints: unique by key and effect.
            if taints
                .iter()
                .any(|t| t.key == taint.key && t.effect == taint.effect)
            {
                return Err(self.error(&at, "taints must be unique by key and effect pair"));
            }
            taints.push(taint);
        }
        self.note("spec.providerID", spec.provider_id.is_some());
        let default_status = core::NodeStatus::default();
        let status = node.status.as_ref().unwrap_or(&default_status);
        let (capacity, capacity_extended) = self.resource_list(
            status.capacity.as_ref(),
            "status.capacity",
            PodsResource::Allowed,
        )?;
        let (allocatable, allocatable_extended) = self.resource_list(
            status.allocatable.as_ref(),
            "status.allocatable",
            PodsResource::Allowed,
        )?;
        // A resource the node does not say is allocatable is allocatable up to its
        // capacity (the kubelet reports both; a hand-written Node often gives one).
        let allocatable = ResourceList {
            cpu_millicores: allocatable.cpu_millicores.or(capacity.cpu_millicores),
            memory_bytes: allocatable.memory_bytes.or(capacity.memory_bytes),
            ephemeral_storage_bytes: allocatable
                .ephemeral_storage_bytes
                .or(capacity.ephemeral_storage_bytes),
            pods: allocatable.pods.or(capacity.pods),
        };
        let mut extended_allocatable = allocatable_extended;
        for (name, quantity) in capacity_extended {
            if !extended_allocatable.iter().any(|(n, _)| *n == name) {
                extended_allocatable.push((name, quantity));
            }
        }
        extended_allocatable.sort();
        let mut images = Vec::new();
        for (index, image) in status.images.iter().flatten().enumerate() {
            let at = join_index("status.images", index);
            let size_bytes = u64::try_from(image.size_bytes.unwrap_or(0)).map_err(|_| {
                self.error(
                    &format!("{at}.sizeBytes"),
                    "must be greater than or equal to 0",
                )
            })?;
            for name in image.names.iter().flatten() {
                images.push((s(name), size_bytes));
            }
        }
        let ready = status
            .conditions
            .iter()
            .flatten()
            .find(|condition| condition.type_ == "Ready");
        let ready = NodeCondition {
            status: match ready.map(|c| c.status.as_str()) {
                Some("True") => ConditionStatus::True,
                Some("False") => ConditionStatus::False,
                _ => ConditionStatus::Unknown,
            },
            reason: s(ready.and_then(|c| c.reason.as_deref()).unwrap_or("")),
            message: s(ready.and_then(|c| c.message.as_deref()).unwrap_or("")),
            last_heartbeat_time: sim_core::SimTime::ZERO,
            last_transition_time: sim_core::SimTime::ZERO,
        };
        let internal_ip = status
            .addresses
            .iter()
            .flatten()
            .find(|address| address.type_ == "InternalIP")
            .map_or("", |address| address.address.as_str());
        let node_info = status.node_info.as_ref();
        Ok(api::Node {
            metadata,
            spec: api::NodeSpec {
                unschedulable: spec.unschedulable.unwrap_or(false),
                taints,
                pod_cidr: spec.pod_cidr.as_deref().map(s),
            },
            status: api::NodeStatus {
                capacity,
                allocatable,
                ready,
                memory_pressure: ConditionStatus::Unknown,
                disk_pressure: ConditionStatus::Unknown,
                internal_ip: s(internal_ip),
                images,
                extended_allocatable,
                kubelet_version: s(node_info.map_or("", |i| i.kubelet_version.as_str())),
                container_runtime_version: s(
                    node_info.map_or("", |i| i.container_runtime_version.as_str())
                ),
            },
        }
        .into())
    }

    fn priority_class(
        &mut self,
        class: &scheduling::PriorityClass,
    ) -> Result<Object, ScenarioError> {
        let metadata = self.object_meta(&class.metadata, false)?;
        let preemption_policy =
            self.preemption_policy(class.preemption_policy.as_deref(), "preemptionPolicy")?;
        let class = api::PriorityClass {
            metadata,
            value: class.value,
            global_default: class.global_default.unwrap_or(false),
            preemption_policy,
            description: s(class.description.as_deref().unwrap_or("")),
        };
        // The API server's own validation, so a bad class fails here with a location.
        if let Err(invalid) = components::apiserver::validate_priority_class(&class) {
            let (field, message) = invalid.0.split_once(": ").unwrap_or(("", &invalid.0));
            let field = if field == "value" {
                "value"
            } else {
                "metadata.name"
            };
            return Err(self.error(field, message.to_string()));
        }
        Ok(class.into())
    }

    /// A node.k8s.io/v1 RuntimeClass: `handler`, `overhead.podFixed` (cpu, memory,
    /// ephemeral-storage) and `scheduling` (nodeSelector, tolerations), validated as the
    /// API server does.
    fn runtime_class(&mut self, class: &node::RuntimeClass) -> Result<Object, ScenarioError> {
        let metadata = self.object_meta(&class.metadata, false)?;
        let overhead = match class.overhead.as_ref() {
            None => None,
            Some(overhead) => {
                let (fixed, extended) = self.resource_list(
                    overhead.pod_fixed.as_ref(),
                    "overhead.podFixed",
                    PodsResource::Allowed,
                )?;
                if fixed.pods.is_some() || !extended.is_empty() {
                    // Only cpu, memory and ephemeral-storage add to a pod's requests.
                    self.notes.push("overhead.podFixed".to_string());
                }
                Some(ResourceList {
                    pods: None,
                    ..fixed
                })
            }
        };
        let scheduling = match class.scheduling.as_ref() {
            None => None,
            Some(scheduling) => {
                let mut tolerations = Vec::new();
                for (index, toleration) in scheduling.tolerations.iter().flatten().enumerate() {
                    tolerations.push(
                        self.toleration(toleration, &join_index("scheduling.tolerations", index))?,
                    );
                }
                Some(api::RuntimeClassScheduling {
                    node_selector: labels(scheduling.node_selector.as_ref()),
                    tolerations: Rc::from(tolerations),
                })
            }
        };
        let class = api::RuntimeClass {
            metadata,
            handler: s(&class.handler),
            overhead,
            scheduling,
        };
        if let Err(invalid) = components::apiserver::validate_runtime_class(&class) {
            let message = invalid.0.split_once(": ").map_or(&*invalid.0, |(_, m)| m);
            return Err(self.error("handler", message.to_string()));
        }
        Ok(class.into())
    }

    /// A batch/v1 Job, defaulted as `SetDefaults_Job` does (parallelism 1, backoffLimit
    /// 6, completionMode NonIndexed, suspend false) and validated as `ValidateJob`: the
    /// template's restartPolicy must be OnFailure or Never, an Indexed Job needs
    /// completions, a manual selector must be given and match the template. Without
    /// `manualSelector` the API server generates the selector and the pods' labels.
    fn job(&mut self, job: &batch::Job) -> Result<Object, ScenarioError> {
        let metadata = self.object_meta(&job.metadata, true)?;
        let spec = self.required_spec(&job.spec)?;
        let manual_selector = spec.manual_selector.unwrap_or(false);
        let selector = match (&spec.selector, manual_selector) {
            (Some(selector), true) => self.selector(selector, "spec.selector")?,
            (None, true) => {
                return Err(self.error(
                    "spec.selector",
                    "Required value: a selector is required with `manualSelector: true`",
                ));
            }
            (Some(selector), false) => self.label_selector(selector, "spec.selector")?,
            (None, false) => LabelSelector::default(),
        };
        let template = self.template(&spec.template, "spec.template", &selector, false)?;
        if template.spec.restart_policy == RestartPolicy::Always {
            // Upstream defaults an absent restartPolicy to Always, then refuses it.
            return Err(self.error(
                "spec.template.spec.restartPolicy",
                "Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"",
            ));
        }
        let count = |value: Option<i32>, at: &str| value.map(|n| self.count(n, at)).transpose();
        let parallelism =
            count(spec.parallelism, "spec.parallelism")?.unwrap_or(api::JOB_DEFAULT_PARALLELISM);
        let completions = count(spec.completions, "spec.completions")?;
        let backoff_limit = count(spec.backoff_limit, "spec.backoffLimit")?
            .unwrap_or(api::JOB_DEFAULT_BACKOFF_LIMIT);
        let active_deadline_seconds = match spec.active_deadline_seconds {
            None => None,
            Some(n) if n > 0 => Some(n as u64),
            Some(n) => {
                return Err(self.error(
                    "spec.activeDeadlineSeconds",
                    format!("must be greater than 0, got {n}"),
                ));
            }
        };
        let completion_mode = match spec.completion_mode.as_deref() {
            None | Some("NonIndexed") => api::CompletionMode::NonIndexed,
            Some("Indexed") => api::CompletionMode::Indexed,
            Some(other) => {
                return Err(self.error(
                    "spec.completionMode",
                    format!(
                        "unsupported value {other:?}: supported values: \"NonIndexed\", \"Indexed\""
                    ),
                ));
            }
        };
        if completion_mode == api::CompletionMode::Indexed && completions.is_none() {
            return Err(self.error(
                "spec.completions",
                "Required value: when completion mode is Indexed",
            ));
        }
        let unmodelled = [
            (
                "backoffLimitPerIndex",
                spec.backoff_limit_per_index.is_some(),
            ),
            ("maxFailedIndexes", spec.max_failed_indexes.is_some()),
            ("podFailurePolicy", spec.pod_failure_policy.is_some()),
            ("successPolicy", spec.success_policy.is_some()),
            (
                "podReplacementPolicy",
                spec.pod_replacement_policy.is_some(),
            ),
            (
                "ttlSecondsAfterFinished",
                spec.ttl_seconds_after_finished.is_some(),
            ),
            ("managedBy", spec.managed_by.is_some()),
        ];
        for (field, present) in unmodelled {
            self.note(&format!("spec.{field}"), present);
        }
        Ok(api::Job {
            metadata,
            spec: api::JobSpec {
                parallelism,
                completions,
                completion_mode,
                backoff_limit,
                active_deadline_seconds,
                suspend: spec.suspend.unwrap_or(false),
                manual_selector,
                selector,
                template: Rc::new(template),
            },
            status: api::JobStatus::default(),
        }
        .into())
    }

    /// An autoscaling/v2 HorizontalPodAutoscaler with one metric: cpu `Utilization`
    /// (`metrics` absent defaults to cpu 80%, as upstream). Other metric types, the
    /// per-rule `tolerance` (alpha) and the status are noted as not modelled; `behavior`
    /// is defaulted per direction as upstream (`SetDefaults_HorizontalPodAutoscalerBehavior`).
    fn horizontal_pod_autoscaler(
        &mut self,
        hpa: &autoscaling::HorizontalPodAutoscaler,
    ) -> Result<Object, ScenarioError> {
        use components::api::{
            HorizontalPodAutoscalerSpec, HpaBehavior, ScaleTargetRef, ScalingPolicy,
            ScalingPolicyType, SelectPolicy,
        };
        let metadata = self.object_meta(&hpa.metadata, true)?;
        let Some(spec) = hpa.spec.as_ref() else {
            return Err(self.error("spec", "spec is required"));
        };
        let target_kind = match spec.scale_target_ref.kind.as_str() {
            "Deployment" => Kind::Deployment,
            "ReplicaSet" => Kind::ReplicaSet,
            "StatefulSet" => Kind::StatefulSet,
            other => {
                return Err(self.error(
                    "spec.scaleTargetRef.kind",
                    format!("unsupported target kind {other:?} (kubesim scales Deployment, ReplicaSet and StatefulSet)"),
                ));
            }
        };
        let min_replicas = self.count(spec.min_replicas.unwrap_or(1), "spec.minReplicas")?;
        let max_replicas = self.count(spec.max_replicas, "spec.maxReplicas")?;
        let mut target_cpu_utilization_percentage = 80;
        if let Some(metrics) = &spec.metrics {
            let mut cpu = None;
            for (index, metric) in metrics.iter().enumerate() {
                let at = format!("spec.metrics[{index}]");
                match (metric.type_.as_str(), &metric.resource) {
                    ("Resource", Some(resource)) if resource.name == "cpu" => {
                        if resource.target.type_ != "Utilization" {
                            return Err(self.error(
                                &format!("{at}.resource.target.type"),
                                format!(
                                    "unsupported target type {:?} (kubesim models cpu Utilization)",
                                    resource.target.type_
                                ),
                            ));
                        }
                        let Some(utilization) = resource.target.average_utilization else {
                            return Err(self.error(
                                &format!("{at}.resource.target.averageUtilization"),
                                "must be set when type is Utilization",
                            ));
                        };
                        if cpu.is_some() {
                            return Err(self.error(&at, "a second cpu metric (kubesim models one)"));
                        }
                        cpu = Some(self.count(
                            utilization,
                            &format!("{at}.resource.target.averageUtilization"),
                        )?);
                    }
                    _ => self.note(&at, true),
                }
            }
            match cpu {
                Some(cpu) => target_cpu_utilization_percentage = cpu,
                None => {
                    return Err(self.error(
                        "spec.metrics",
                        "no cpu Resource metric with a Utilization target (the one metric kubesim models)",
                    ));
                }
            }
        }
        let mut behavior = HpaBehavior::default();
        if let Some(given) = &spec.behavior {
            for (direction, rules, defaults) in [
                ("scaleUp", &given.scale_up, &mut behavior.scale_up),
                ("scaleDown", &given.scale_down, &mut behavior.scale_down),
            ] {
                let Some(rules) = rules else { continue };
                let at = format!("spec.behavior.{direction}");
                self.note(&format!("{at}.tolerance"), rules.tolerance.is_some());
                if let Some(window) = rules.stabilization_window_seconds {
                    defaults.stabilization_window_seconds =
                        self.count(window, &format!("{at}.stabilizationWindowSeconds"))?;
                }
                if let Some(select) = &rules.select_policy {
                    defaults.select_policy = match select.as_str() {
                        "Max" => SelectPolicy::Max,
                        "Min" => SelectPolicy::Min,
                        "Disabled" => SelectPolicy::Disabled,
                        other => {
                            return Err(self.error(
                                &format!("{at}.selectPolicy"),
                                format!("Unsupported value: {other:?}: supported values: \"Disabled\", \"Max\", \"Min\""),
                            ));
                        }
                    };
                }
                if let Some(policies) = &rules.policies {
                    let mut converted = Vec::new();
                    for (index, policy) in policies.iter().enumerate() {
                        let at = format!("{at}.policies[{index}]");
                        let type_ = match policy.type_.as_str() {
                            "Pods" => ScalingPolicyType::Pods,
                            "Percent" => ScalingPolicyType::Percent,
                            other => {
                                return Err(self.error(
                                    &format!("{at}.type"),
                                    format!("Unsupported value: {other:?}: supported values: \"Percent\", \"Pods\""),
                                ));
                            }
                        };
                        converted.push(ScalingPolicy {
                            type_,
                            value: self.count(policy.value, &format!("{at}.value"))?,
                            period_seconds: self
                                .count(policy.period_seconds, &format!("{at}.periodSeconds"))?,
                        });
                    }
                    defaults.policies = converted;
                }
            }
        }
        self.note("status", hpa.status.is_some());
        let hpa = components::api::HorizontalPodAutoscaler {
            metadata,
            spec: HorizontalPodAutoscalerSpec {
                scale_target_ref: ScaleTargetRef {
                    kind: target_kind,
                    name: s(&spec.scale_target_ref.name),
                },
                min_replicas,
                max_replicas,
                target_cpu_utilization_percentage,
                behavior,
            },
            status: Default::default(),
        };
        // The API server's own validation, so nothing it would refuse gets through.
        if let Err(invalid) = components::apiserver::validate_horizontal_pod_autoscaler(&hpa) {
            return Err(self.refused(&invalid.0, "spec"));
        }
        Ok(hpa.into())
    }

    /// A policy/v1 PodDisruptionBudget. Its status is converted as written (counts of at
    /// least 0); the API server drops it on create, since the disruption controller owns
    /// it.
    fn pod_disruption_budget(
        &mut self,
        budget: &policy::PodDisruptionBudget,
    ) -> Result<Object, ScenarioError> {
        let metadata = self.object_meta(&budget.metadata, true)?;
        let default_spec = policy::PodDisruptionBudgetSpec::default();
        let spec = budget.spec.as_ref().unwrap_or(&default_spec);
        // Both set is checked first, on `spec`, as upstream's validation does.
        if spec.min_available.is_some() && spec.max_unavailable.is_some() {
            return Err(self.error("spec", "minAvailable and maxUnavailable cannot be both set"));
        }
        let min_available = self.budget_count(spec.min_available.as_ref(), "spec.minAvailable")?;
        let max_unavailable =
            self.budget_count(spec.max_unavailable.as_ref(), "spec.maxUnavailable")?;
        let selector = spec
            .selector
            .as_ref()
            .map(|selector| self.label_selector(selector, "spec.selector"))
            .transpose()?;
        let unhealthy_pod_eviction_policy = match spec.unhealthy_pod_eviction_policy.as_deref() {
            None | Some("IfHealthyBudget") => UnhealthyPodEvictionPolicy::IfHealthyBudget,
            Some("AlwaysAllow") => UnhealthyPodEvictionPolicy::AlwaysAllow,
            Some(other) => {
                return Err(self.unsupported(
                    "spec.unhealthyPodEvictionPolicy",
                    other,
                    "\"AlwaysAllow\", \"IfHealthyBudget\"",
                ));
            }
        };
        let spec = PodDisruptionBudgetSpec {
            min_available,
            selector,
            max_unavailable,
            unhealthy_pod_eviction_policy,
        };
        // The API server's own validation, so nothing it would refuse gets through.
        if let Err(invalid) = components::apiserver::validate_pod_disruption_budget(&spec) {
            return Err(self.refused(&invalid.0, "spec"));
        }
        let status = match &budget.status {
            None => PodDisruptionBudgetStatus::default(),
            Some(status) => {
                self.note(
                    "status.disruptedPods",
                    status
                        .disrupted_pods
                        .as_ref()
                        .is_some_and(|p| !p.is_empty()),
                );
                self.note("status.conditions", status.conditions.is_some());
                let count = |value: i32, field: &str| self.count(value, &format!("status.{field}"));
                PodDisruptionBudgetStatus {
                    observed_generation: u64::try_from(status.observed_generation.unwrap_or(0))
                        .map_err(|_| {
                            self.error(
                                "status.observedGeneration",
                                "must be greater than or equal to 0",
                            )
                        })?,
                    disruptions_allowed: count(status.disruptions_allowed, "disruptionsAllowed")?,
                    current_healthy: count(status.current_healthy, "currentHealthy")?,
                    desired_healthy: count(status.desired_healthy, "desiredHealthy")?,
                    expected_pods: count(status.expected_pods, "expectedPods")?,
                    ..PodDisruptionBudgetStatus::default()
                }
            }
        };
        Ok(api::PodDisruptionBudget {
            metadata,
            spec,
            status,
        }
        .into())
    }

    /// A StatefulSet (apps/v1), defaulted as `SetDefaults_StatefulSet` and validated as
    /// `ValidateStatefulSetSpec`. Volume claims are accepted and noted: kubesim models no
    /// volumes.
    fn stateful_set(&mut self, set: &apps::StatefulSet) -> Result<Object, ScenarioError> {
        let metadata = self.object_meta(&set.metadata, true)?;
        let spec = self.required_spec(&set.spec)?;
        let replicas = self.replicas(spec.replicas, "spec.replicas")?;
        let selector = self.selector(&spec.selector, "spec.selector")?;
        let template = self.template(&spec.template, "spec.template", &selector, true)?;
        let pod_management_policy = match spec.pod_management_policy.as_deref() {
            None | Some("OrderedReady") => PodManagementPolicy::OrderedReady,
            Some("Parallel") => PodManagementPolicy::Parallel,
            Some(other) => {
                return Err(self.unsupported(
                    "spec.podManagementPolicy",
                    other,
                    "\"OrderedReady\", \"Parallel\"",
                ));
            }
        };
        let default_strategy = apps::StatefulSetUpdateStrategy::default();
        let strategy = spec.update_strategy.as_ref().unwrap_or(&default_strategy);
        let update_strategy = match strategy.type_.as_deref() {
            None | Some("RollingUpdate") => {
                let rolling = strategy.rolling_update.as_ref();
                let partition = self.non_negative(
                    rolling.and_then(|r| r.partition),
                    0,
                    "spec.updateStrategy.rollingUpdate.partition",
                )?;
                // MaxUnavailableStatefulSet is alpha and off by default in v1.34.
                self.note(
                    "spec.updateStrategy.rollingUpdate.maxUnavailable",
                    rolling.is_some_and(|r| r.max_unavailable.is_some()),
                );
                StatefulSetUpdateStrategy::RollingUpdate {
                    partition: u32::try_from(partition).unwrap_or(u32::MAX),
                }
            }
            Some("OnDelete") => {
                if strategy.rolling_update.is_some() {
                    return Err(self.error(
                        "spec.updateStrategy.rollingUpdate",
                        "Invalid value: only allowed for updateStrategy 'RollingUpdate'",
                    ));
                }
                StatefulSetUpdateStrategy::OnDelete
            }
            Some(other) => {
                return Err(self.unsupported(
                    "spec.updateStrategy.type",
                    other,
                    "\"OnDelete\", \"RollingUpdate\"",
                ));
            }
        };
        let min_ready_seconds =
            self.non_negative(spec.min_ready_seconds, 0, "spec.minReadySeconds")?;
        let revision_history_limit = self.revision_history_limit(
            spec.revision_history_limit,
            defaults::REVISION_HISTORY_LIMIT,
        )?;
        let ordinals_start = self.non_negative(
            spec.ordinals.as_ref().and_then(|o| o.start),
            0,
            "spec.ordinals.start",
        )?;
        let service_name = spec.service_name.clone().unwrap_or_default();
        if !service_name.is_empty() {
            check_dns_label(&service_name).map_err(|why| self.error("spec.serviceName", why))?;
        }
        self.note(
            "spec.volumeClaimTemplates",
            spec.volume_claim_templates.is_some(),
        );
        self.note(
            "spec.persistentVolumeClaimRetentionPolicy",
            spec.persistent_volume_claim_retention_policy.is_some(),
        );
        let set = api::StatefulSet {
            metadata,
            spec: StatefulSetSpec {
                replicas,
                selector,
                template: Rc::new(template),
                service_name: s(&service_name),
                pod_management_policy,
                update_strategy,
                revision_history_limit,
                min_ready_seconds,
                ordinals_start: u32::try_from(ordinals_start).unwrap_or(u32::MAX),
            },
            status: StatefulSetStatus::default(),
        };
        // The API server's own validation, so nothing it would refuse gets through.
        if let Err(invalid) = components::apiserver::validate_stateful_set(&set) {
            return Err(self.error("spec", invalid.0));
        }
        Ok(set.into())
    }

    /// A DaemonSet (apps/v1), defaulted as `SetDefaults_DaemonSet` (RollingUpdate with
    /// maxUnavailable 1 and maxSurge 0, revisionHistoryLimit 10) and validated as the API
    /// server validates it (`ValidateDaemonSetSpec`).
    fn daemon_set(&mut self, daemon_set: &apps::DaemonSet) -> Result<Object, ScenarioError> {
        let metadata = self.object_meta(&daemon_set.metadata, true)?;
        let spec = self.required_spec(&daemon_set.spec)?;
        let selector = self.selector(&spec.selector, "spec.selector")?;
        let template = self.template(&spec.template, "spec.template", &selector, true)?;
        let default_strategy = apps::DaemonSetUpdateStrategy::default();
        let strategy = spec.update_strategy.as_ref().unwrap_or(&default_strategy);
        let update_strategy = match strategy.type_.as_deref() {
            None | Some("RollingUpdate") => {
                let rolling = strategy.rolling_update.clone().unwrap_or_default();
                let count =
                    |value: Option<&IntOrString>, default: IntOrPercent, at: &str| match value {
                        None => Ok(default),
                        Some(value) => self.int_or_percent(Some(value), 0, at),
                    };
                DaemonSetUpdateStrategy::RollingUpdate {
                    max_unavailable: count(
                        rolling.max_unavailable.as_ref(),
                        DAEMON_SET_DEFAULT_MAX_UNAVAILABLE,
                        "spec.updateStrategy.rollingUpdate.maxUnavailable",
                    )?,
                    max_surge: count(
                        rolling.max_surge.as_ref(),
                        DAEMON_SET_DEFAULT_MAX_SURGE,
                        "spec.updateStrategy.rollingUpdate.maxSurge",
                    )?,
                }
            }
            Some("OnDelete") => {
                if strategy.rolling_update.is_some() {
                    return Err(self.error(
                        "spec.updateStrategy.rollingUpdate",
                        "may not be specified when strategy `type` is 'OnDelete'",
                    ));
                }
                DaemonSetUpdateStrategy::OnDelete
            }
            Some(other) => {
                return Err(self.unsupported(
                    "spec.updateStrategy.type",
                    other,
                    "\"OnDelete\", \"RollingUpdate\"",
                ));
            }
        };
        let min_ready_seconds =
            self.non_negative(spec.min_ready_seconds, 0, "spec.minReadySeconds")?;
        let revision_history_limit = self.revision_history_limit(
            spec.revision_history_limit,
            DAEMON_SET_DEFAULT_REVISION_HISTORY_LIMIT,
        )?;
        let daemon_set = api::DaemonSet {
            metadata,
            spec: DaemonSetSpec {
                selector,
                template: Rc::new(template),
                update_strategy,
                min_ready_seconds,
                revision_history_limit,
            },
            status: DaemonSetStatus::default(),
        };
        // The API server's own validation, so nothing it would refuse gets through; its
        // messages start with the field path.
        if let Err(invalid) = components::apiserver::validate_daemon_set(&daemon_set) {
            return Err(self.refused(&invalid.0, "spec"));
        }
        Ok(daemon_set.into())
    }

    // -----------------------------------------------------------------------------------
    // Workload parts

    fn replicas(&self, replicas: Option<i32>, at: &str) -> Result<u32, ScenarioError> {
        match replicas {
            None => Ok(defaults::REPLICAS),
            Some(n) => self.count(n, at),
        }
    }

    fn non_negative(
        &self,
        value: Option<i32>,
        default: u64,
        at: &str,
    ) -> Result<u64, ScenarioError> {
        match value {
            None => Ok(default),
            Some(n) => u64::try_from(n).map_err(|_| self.negative(at, n.into())),
        }
    }

    /// `spec.revisionHistoryLimit` of a Deployment, StatefulSet or DaemonSet: how many old
    /// revisions the controller keeps.
    fn revision_history_limit(
        &self,
        value: Option<i32>,
        default: u32,
    ) -> Result<u32, ScenarioError> {
        value.map_or(Ok(default), |n| self.count(n, "spec.revisionHistoryLimit"))
    }

    fn selector(
        &self,
        selector: &meta::LabelSelector,
        at: &str,
    ) -> Result<LabelSelector, ScenarioError> {
        let out = self.label_selector(selector, at)?;
        if out.is_empty() {
            return Err(self.error(at, "empty selector is invalid for a workload"));
        }
        Ok(out)
    }

    /// A label selector where an empty one is allowed (it matches everything).
    fn label_selector(
        &self,
        selector: &meta::LabelSelector,
        at: &str,
    ) -> Result<LabelSelector, ScenarioError> {
        let mut out = LabelSelector::from_labels(labels(selector.match_labels.as_ref()));
        for (index, requirement) in selector.match_expressions.iter().flatten().enumerate() {
            let req_at = format!("{at}.matchExpressions[{index}]");
            let operator = match requirement.operator.as_str() {
                "In" => SelectorOperator::In,
                "NotIn" => SelectorOperator::NotIn,
                "Exists" => SelectorOperator::Exists,
                "DoesNotExist" => SelectorOperator::DoesNotExist,
                other => {
                    return Err(self.error(
                        &format!("{req_at}.operator"),
                        format!("unsupported value {other:?}: supported values: \"In\", \"NotIn\", \"Exists\", \"DoesNotExist\""),
                    ));
                }
            };
            let values: Vec<_> = requirement.values.iter().flatten().map(|v| s(v)).collect();
            let needs_values = matches!(operator, SelectorOperator::In | SelectorOperator::NotIn);
            if needs_values == values.is_empty() {
                let why = if needs_values {
                    "must be specified when `operator` is 'In' or 'NotIn'"
                } else {
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"
                };
                return Err(self.error(&format!("{req_at}.values"), why));
            }
            out.match_expressions.push(SelectorRequirement {
                key: s(&requirement.key),
                operator,
                values,
            });
        }
        Ok(out)
    }

    /// A workload's pod template, whose labels `selector` must match (an empty selector,
    /// a Job's that the API server generates, is not checked); with `always_restart`
    /// (every workload but a Job) its restartPolicy may only be Always.
    fn template(
        &mut self,
        template: &core::PodTemplateSpec,
        at: &str,
        selector: &LabelSelector,
        always_restart: bool,
    ) -> Result<PodTemplateSpec, ScenarioError> {
        let default_meta = meta::ObjectMeta::default();
        let metadata = template.metadata.as_ref().unwrap_or(&default_meta);
        let template_labels = labels(metadata.labels.as_ref());
        if !selector.is_empty() && !selector.matches(&template_labels) {
            return Err(self.error(
                &format!("{at}.metadata.labels"),
                "`selector` does not match template `labels`",
            ));
        }
        let Some(spec) = &template.spec else {
            return Err(self.error(at, "missing field `spec`"));
        };
        let spec = self.pod_spec(spec, &format!("{at}.spec"), always_restart)?;
        Ok(PodTemplateSpec {
            labels: template_labels,
            annotations: labels(metadata.annotations.as_ref()),
            spec,
        })
    }

    fn strategy(
        &self,
        strategy: Option<&apps::DeploymentStrategy>,
    ) -> Result<DeploymentStrategy, ScenarioError> {
        let default_strategy = apps::DeploymentStrategy::default();
        let strategy = strategy.unwrap_or(&default_strategy);
        match strategy.type_.as_deref() {
            None | Some("RollingUpdate") => {
                let rolling = strategy.rolling_update.clone().unwrap_or_default();
                let max_surge = self.int_or_percent(
                    rolling.max_surge.as_ref(),
                    defaults::MAX_SURGE_PERCENT,
                    "spec.strategy.rollingUpdate.maxSurge",
                )?;
                let max_unavailable = self.int_or_percent(
                    rolling.max_unavailable.as_ref(),
                    defaults::MAX_UNAVAILABLE_PERCENT,
                    "spec.strategy.rollingUpdate.maxUnavailable",
                )?;
                let is_zero =
                    |v: IntOrPercent| matches!(v, IntOrPercent::Int(0) | IntOrPercent::Percent(0));
                if is_zero(max_surge) && is_zero(max_unavailable) {
                    return Err(self.error(
                        "spec.strategy.rollingUpdate.maxUnavailable",
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                Ok(DeploymentStrategy::RollingUpdate {
                    max_surge,
                    max_unavailable,
                })
            }
            Some("Recreate") => {
                if strategy.rolling_update.is_some() {
                    return Err(self.error(
                        "spec.strategy.rollingUpdate",
                        "may not be specified when strategy `type` is 'Recreate'",
                    ));
                }
                Ok(DeploymentStrategy::Recreate)
            }
            Some(other) => Err(self.error(
                "spec.strategy.type",
                format!(
                    "unsupported value {other:?}: supported values: \"Recreate\", \"RollingUpdate\""
                ),
            )),
        }
    }

    /// `minAvailable` or `maxUnavailable` of a budget: a count of at least 0 or a
    /// percentage (upstream `ValidatePositiveIntOrPercent`; over 100% is refused by the
    /// API server's validation).
    fn budget_count(
        &self,
        value: Option<&IntOrString>,
        at: &str,
    ) -> Result<Option<IntOrPercent>, ScenarioError> {
        let Some(value) = value else {
            return Ok(None);
        };
        match value {
            IntOrString::Int(n) => self.count(*n, at).map(|n| Some(IntOrPercent::Int(n))),
            IntOrString::String(text) => text
                .strip_suffix('%')
                .and_then(|digits| digits.parse::<u32>().ok())
                .map(|percent| Some(IntOrPercent::Percent(percent)))
                .ok_or_else(|| {
                    self.error(
                        at,
                        format!(
                            "{text:?}: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%' or '93%')"
                        ),
                    )
                }),
        }
    }

    fn int_or_percent(
        &self,
        value: Option<&IntOrString>,
        default_percent: u32,
        at: &str,
    ) -> Result<IntOrPercent, ScenarioError> {
        match value {
            None => Ok(IntOrPercent::Percent(default_percent)),
            Some(IntOrString::Int(n)) => self.count(*n, at).map(IntOrPercent::Int),
            Some(IntOrString::String(text)) => {
                let percent = text
                    .strip_suffix('%')
                    .and_then(|digits| digits.parse::<u32>().ok())
                    .ok_or_else(|| {
                        self.error(
                            at,
                            format!("{text:?} must be an integer or a percentage such as \"25%\""),
                        )
                    })?;
                if percent > 100 && at.ends_with("maxUnavailable") {
                    return Err(self.error(at, "must not be greater than 100%"));
                }
                Ok(IntOrPercent::Percent(percent))
            }
        }
    }

    fn pod_spec(
        &mut self,
        spec: &core::PodSpec,
        at: &str,
        always_restart: bool,
    ) -> Result<PodSpec, ScenarioError> {
        if spec.containers.is_empty() {
            return Err(self.error(
                &format!("{at}.containers"),
                "at least one container is required",
            ));
        }
        let mut containers = Vec::with_capacity(spec.containers.len());
        for (index, container) in spec.containers.iter().enumerate() {
            let container_at = join_index(&format!("{at}.containers"), index);
            containers.push(self.container(container, &container_at, false)?);
        }
        let mut init_containers = Vec::new();
        for (index, container) in spec.init_containers.iter().flatten().enumerate() {
            let container_at = join_index(&format!("{at}.initContainers"), index);
            init_containers.push(self.container(container, &container_at, true)?);
        }
        let mut names: Vec<&str> = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .map(|c| c.name.as_str())
            .collect();
        names.sort();
        if let Some(pair) = names.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(self.error(
                &format!("{at}.containers"),
                format!("duplicate container name {:?}", pair[0]),
            ));
        }
        let restart_policy = match spec.restart_policy.as_deref() {
            None | Some("Always") => RestartPolicy::Always,
            Some("OnFailure") if !always_restart => RestartPolicy::OnFailure,
            Some("Never") if !always_restart => RestartPolicy::Never,
            Some(other) => {
                let supported = if always_restart {
                    "\"Always\""
                } else {
                    "\"Always\", \"OnFailure\", \"Never\""
                };
                return Err(self.error(
                    &format!("{at}.restartPolicy"),
                    format!("unsupported value {other:?}: supported values: {supported}"),
                ));
            }
        };
        let termination_grace_period_seconds = match spec.termination_grace_period_seconds {
            None => defaults::TERMINATION_GRACE_PERIOD_SECONDS,
            Some(n) => u64::try_from(n)
                .map_err(|_| self.negative(&format!("{at}.terminationGracePeriodSeconds"), n))?,
        };
        self.check_sleep_hooks(
            &containers,
            &init_containers,
            termination_grace_period_seconds,
            at,
        )?;
        let mut tolerations = Vec::new();
        for (index, toleration) in spec.tolerations.iter().flatten().enumerate() {
            tolerations.push(
                self.toleration(toleration, &join_index(&format!("{at}.tolerations"), index))?,
            );
        }
        let affinity = match &spec.affinity {
            None => None,
            Some(affinity) => Some(Rc::new(self.affinity(affinity, &format!("{at}.affinity"))?)),
        };
        let mut topology_spread_constraints: Vec<TopologySpreadConstraint> = Vec::new();
        for (index, constraint) in spec
            .topology_spread_constraints
            .iter()
            .flatten()
            .enumerate()
        {
            let constraint_at = join_index(&format!("{at}.topologySpreadConstraints"), index);
            let constraint = self.spread_constraint(constraint, &constraint_at)?;
            // Upstream validateTopologySpreadConstraints: one constraint per
            // (topologyKey, whenUnsatisfiable) pair.
            if topology_spread_constraints.iter().any(|c| {
                c.topology_key == constraint.topology_key
                    && c.when_unsatisfiable == constraint.when_unsatisfiable
            }) {
                return Err(self.error(
                    &format!("{constraint_at}.topologyKey"),
                    format!(
                        "Duplicate value: {:?}: the pair of topologyKey and whenUnsatisfiable must be unique",
                        constraint.topology_key
                    ),
                ));
            }
            topology_spread_constraints.push(constraint);
        }
        let priority_class_name = match spec.priority_class_name.as_deref() {
            None | Some("") => None,
            Some(name) => {
                check_dns_subdomain(name)
                    .map_err(|why| self.error(&format!("{at}.priorityClassName"), why))?;
                Some(s(name))
            }
        };
        let preemption_policy = self.preemption_policy(
            spec.preemption_policy.as_deref(),
            &format!("{at}.preemptionPolicy"),
        )?;
        let (overhead, overhead_extended) = self.resource_list(
            spec.overhead.as_ref(),
            &format!("{at}.overhead"),
            PodsResource::Allowed,
        )?;
        if overhead.pods.is_some() || !overhead_extended.is_empty() {
            // Only cpu, memory and ephemeral-storage add to a pod's requests.
            self.notes.push(format!("{at}.overhead"));
        }
        self.note(
            &format!("{at}.schedulingGates"),
            spec.scheduling_gates.is_some(),
        );
        self.note(&format!("{at}.volumes"), spec.volumes.is_some());
        self.note(&format!("{at}.resources"), spec.resources.is_some());
        self.note(
            &format!("{at}.hostNetwork"),
            spec.host_network == Some(true),
        );
        let runtime_class_name = match spec.runtime_class_name.as_deref() {
            None | Some("") => None,
            Some(name) => {
                check_dns_subdomain(name)
                    .map_err(|why| self.error(&format!("{at}.runtimeClassName"), why))?;
                Some(s(name))
            }
        };
        Ok(PodSpec {
            node_name: spec.node_name.as_deref().filter(|n| !n.is_empty()).map(s),
            containers: Rc::from(containers),
            init_containers: Rc::from(init_containers),
            restart_policy,
            termination_grace_period_seconds,
            tolerations: Rc::from(tolerations),
            node_selector: labels(spec.node_selector.as_ref()),
            // The Priority admission plugin resolves these at create; a manifest's own
            // `priority` (an exported pod's) is kept for `kubesim schedule`.
            priority: spec.priority.unwrap_or(0),
            priority_class_name,
            preemption_policy,
            scheduler_name: s(spec
                .scheduler_name
                .as_deref()
                .unwrap_or(api::DEFAULT_SCHEDULER_NAME)),
            affinity,
            topology_spread_constraints: Rc::from(topology_spread_constraints),
            overhead: ResourceList {
                pods: None,
                ..overhead
            },
            runtime_class_name,
            hostname: spec.hostname.as_deref().filter(|h| !h.is_empty()).map(s),
            subdomain: spec.subdomain.as_deref().filter(|d| !d.is_empty()).map(s),
        })
    }

    /// Upstream `validateSleepAction`: a hook's sleep is at most the pod's
    /// terminationGracePeriodSeconds.
    fn check_sleep_hooks(
        &self,
        containers: &[Container],
        init_containers: &[Container],
        grace_seconds: u64,
        at: &str,
    ) -> Result<(), ScenarioError> {
        let lists = [
            ("containers", containers),
            ("initContainers", init_containers),
        ];
        for (list, items) in lists {
            for (index, container) in items.iter().enumerate() {
                let Some(lifecycle) = &container.lifecycle else {
                    continue;
                };
                let hooks = [
                    ("postStart", &lifecycle.post_start),
                    ("preStop", &lifecycle.pre_stop),
                ];
                for (hook, handler) in hooks {
                    if let Some(LifecycleHandler::Sleep { seconds }) = handler
                        && *seconds > grace_seconds
                    {
                        let field = format!(
                            "{}.lifecycle.{hook}.sleep.seconds",
                            join_index(&format!("{at}.{list}"), index)
                        );
                        return Err(self.error(
                            &field,
                            format!("Invalid value: {seconds}: must be non-negative and less than terminationGracePeriodSeconds ({grace_seconds})"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn preemption_policy(
        &self,
        policy: Option<&str>,
        at: &str,
    ) -> Result<PreemptionPolicy, ScenarioError> {
        match policy {
            None => Ok(defaults::PREEMPTION_POLICY),
            Some("PreemptLowerPriority") => Ok(PreemptionPolicy::PreemptLowerPriority),
            Some("Never") => Ok(PreemptionPolicy::Never),
            Some(other) => Err(self.error(
                at,
                format!("unsupported value {other:?}: supported values: \"Never\", \"PreemptLowerPriority\""),
            )),
        }
    }

    // -----------------------------------------------------------------------------------
    // Scheduling constraints (validation as upstream pkg/apis/core/validation/validation.go)

    fn affinity(&self, affinity: &core::Affinity, at: &str) -> Result<Affinity, ScenarioError> {
        let node_affinity = match &affinity.node_affinity {
            None => None,
            Some(node) => Some(self.node_affinity(node, &format!("{at}.nodeAffinity"))?),
        };
        let pod_affinity = match &affinity.pod_affinity {
            None => None,
            Some(pod) => Some(self.pod_affinity(pod, &format!("{at}.podAffinity"))?),
        };
        let pod_anti_affinity = match &affinity.pod_anti_affinity {
            None => None,
            Some(pod) => Some(self.pod_affinity(pod, &format!("{at}.podAntiAffinity"))?),
        };
        Ok(Affinity {
            node_affinity,
            pod_affinity,
            pod_anti_affinity,
        })
    }

    fn node_affinity(
        &self,
        affinity: &core::NodeAffinity,
        at: &str,
    ) -> Result<NodeAffinity, ScenarioError> {
        let required = match &affinity.required_during_scheduling_ignored_during_execution {
            None => None,
            Some(selector) => {
                let selector_at = format!("{at}.requiredDuringSchedulingIgnoredDuringExecution");
                if selector.node_selector_terms.is_empty() {
                    return Err(self.error(
                        &format!("{selector_at}.nodeSelectorTerms"),
                        "Required value: must have at least one node selector term",
                    ));
                }
                let mut terms = Vec::with_capacity(selector.node_selector_terms.len());
                for (index, term) in selector.node_selector_terms.iter().enumerate() {
                    let term_at = join_index(&format!("{selector_at}.nodeSelectorTerms"), index);
                    terms.push(self.node_selector_term(term, &term_at)?);
                }
                Some(terms)
            }
        };
        let mut preferred = Vec::new();
        let preferred_at = format!("{at}.preferredDuringSchedulingIgnoredDuringExecution");
        for (index, term) in affinity
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .enumerate()
        {
            let term_at = join_index(&preferred_at, index);
            let weight = self.weight(term.weight, &format!("{term_at}.weight"))?;
            preferred.push(PreferredSchedulingTerm {
                weight,
                preference: self
                    .node_selector_term(&term.preference, &format!("{term_at}.preference"))?,
            });
        }
        Ok(NodeAffinity {
            required,
            preferred,
        })
    }

    /// A preference's weight: 1 to 100.
    fn weight(&self, weight: i32, at: &str) -> Result<i32, ScenarioError> {
        if (1..=100).contains(&weight) {
            Ok(weight)
        } else {
            Err(self.error(
                at,
                format!("Invalid value: {weight}: must be in the range 1-100"),
            ))
        }
    }

    fn node_selector_term(
        &self,
        term: &core::NodeSelectorTerm,
        at: &str,
    ) -> Result<NodeSelectorTerm, ScenarioError> {
        let mut out = NodeSelectorTerm::default();
        for (index, requirement) in term.match_expressions.iter().flatten().enumerate() {
            let req_at = join_index(&format!("{at}.matchExpressions"), index);
            out.match_expressions.push(self.node_selector_requirement(
                requirement,
                &req_at,
                false,
            )?);
        }
        for (index, requirement) in term.match_fields.iter().flatten().enumerate() {
            let req_at = join_index(&format!("{at}.matchFields"), index);
            out.match_fields
                .push(self.node_selector_requirement(requirement, &req_at, true)?);
        }
        Ok(out)
    }

    /// Upstream `ValidateNodeSelectorRequirement` and `ValidateNodeFieldSelectorRequirement`.
    fn node_selector_requirement(
        &self,
        requirement: &core::NodeSelectorRequirement,
        at: &str,
        field: bool,
    ) -> Result<NodeSelectorRequirement, ScenarioError> {
        let operator = match requirement.operator.as_str() {
            "In" => NodeSelectorOperator::In,
            "NotIn" => NodeSelectorOperator::NotIn,
            "Exists" if !field => NodeSelectorOperator::Exists,
            "DoesNotExist" if !field => NodeSelectorOperator::DoesNotExist,
            "Gt" if !field => NodeSelectorOperator::Gt,
            "Lt" if !field => NodeSelectorOperator::Lt,
            other => {
                let supported = if field {
                    "\"In\", \"NotIn\""
                } else {
                    "\"DoesNotExist\", \"Exists\", \"Gt\", \"In\", \"Lt\", \"NotIn\""
                };
                return Err(self.error(
                    &format!("{at}.operator"),
                    format!("unsupported value {other:?}: supported values: {supported}"),
                ));
            }
        };
        let values: Vec<Str> = requirement.values.iter().flatten().map(|v| s(v)).collect();
        let values_at = format!("{at}.values");
        if field {
            if requirement.key != "metadata.name" {
                return Err(self.error(
                    &format!("{at}.key"),
                    format!(
                        "unsupported value {:?}: supported values: \"metadata.name\"",
                        requirement.key
                    ),
                ));
            }
            if values.len() != 1 {
                return Err(self.error(
                    &values_at,
                    "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                ));
            }
        } else {
            match operator {
                NodeSelectorOperator::In | NodeSelectorOperator::NotIn if values.is_empty() => {
                    return Err(self.error(
                        &values_at,
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
                NodeSelectorOperator::Exists | NodeSelectorOperator::DoesNotExist
                    if !values.is_empty() =>
                {
                    return Err(self.error(
                        &values_at,
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
                NodeSelectorOperator::Gt | NodeSelectorOperator::Lt => {
                    if values.len() != 1 {
                        return Err(self.error(
                            &values_at,
                            "must be specified single value when `operator` is 'Lt' or 'Gt'",
                        ));
                    }
                    if values[0].parse::<i64>().is_err() {
                        return Err(self.error(
                            &join_index(&values_at, 0),
                            format!("Invalid value: {:?}: must be an integer", values[0]),
                        ));
                    }
                }
                _ => {}
            }
            if requirement.key.is_empty() {
                return Err(self.error(&format!("{at}.key"), "Required value"));
            }
        }
        Ok(NodeSelectorRequirement {
            key: s(&requirement.key),
            operator,
            values,
        })
    }

    /// A pod affinity or anti-affinity: the two have the same terms and rules.
    fn pod_affinity(
        &self,
        affinity: &impl PodAffinityTerms,
        at: &str,
    ) -> Result<PodAffinity, ScenarioError> {
        let mut out = PodAffinity::default();
        let required_at = format!("{at}.requiredDuringSchedulingIgnoredDuringExecution");
        for (index, term) in affinity.required().iter().enumerate() {
            out.required
                .push(self.pod_affinity_term(term, &join_index(&required_at, index))?);
        }
        let preferred_at = format!("{at}.preferredDuringSchedulingIgnoredDuringExecution");
        for (index, term) in affinity.preferred().iter().enumerate() {
            let term_at = join_index(&preferred_at, index);
            out.preferred.push(WeightedPodAffinityTerm {
                weight: self.weight(term.weight, &format!("{term_at}.weight"))?,
                term: self.pod_affinity_term(
                    &term.pod_affinity_term,
                    &format!("{term_at}.podAffinityTerm"),
                )?,
            });
        }
        Ok(out)
    }

    fn pod_affinity_term(
        &self,
        term: &core::PodAffinityTerm,
        at: &str,
    ) -> Result<PodAffinityTerm, ScenarioError> {
        if term.topology_key.is_empty() {
            return Err(self.error(
                &format!("{at}.topologyKey"),
                "Required value: can not be empty",
            ));
        }
        let label_selector = match &term.label_selector {
            None => None,
            Some(selector) => Some(self.label_selector(selector, &format!("{at}.labelSelector"))?),
        };
        let namespace_selector = match &term.namespace_selector {
            None => None,
            Some(selector) => {
                Some(self.label_selector(selector, &format!("{at}.namespaceSelector"))?)
            }
        };
        let mut namespaces = Vec::new();
        for (index, namespace) in term.namespaces.iter().flatten().enumerate() {
            check_dns_label(namespace)
                .map_err(|why| self.error(&join_index(&format!("{at}.namespaces"), index), why))?;
            namespaces.push(s(namespace));
        }
        let match_label_keys: Vec<Str> = term
            .match_label_keys
            .iter()
            .flatten()
            .map(|k| s(k))
            .collect();
        let mismatch_label_keys: Vec<Str> = term
            .mismatch_label_keys
            .iter()
            .flatten()
            .map(|k| s(k))
            .collect();
        self.check_label_keys(
            label_selector.is_some(),
            &match_label_keys,
            &mismatch_label_keys,
            at,
        )?;
        Ok(PodAffinityTerm {
            label_selector,
            namespaces,
            namespace_selector,
            topology_key: s(&term.topology_key),
            match_label_keys,
            mismatch_label_keys,
        })
    }

    /// Upstream `validateMatchLabelKeysAndMismatchLabelKeys`: the keys need a label
    /// selector to merge into, and a key may not be in both lists.
    fn check_label_keys(
        &self,
        has_selector: bool,
        match_label_keys: &[Str],
        mismatch_label_keys: &[Str],
        at: &str,
    ) -> Result<(), ScenarioError> {
        if !has_selector {
            for (field, keys) in [
                ("matchLabelKeys", match_label_keys),
                ("mismatchLabelKeys", mismatch_label_keys),
            ] {
                if !keys.is_empty() {
                    return Err(self.error(
                        &format!("{at}.{field}"),
                        "Forbidden: must not be specified when labelSelector is not set",
                    ));
                }
            }
        }
        for (index, key) in mismatch_label_keys.iter().enumerate() {
            if match_label_keys.contains(key) {
                return Err(self.error(
                    &join_index(&format!("{at}.mismatchLabelKeys"), index),
                    format!("Invalid value: {key:?}: exists in both matchLabelKeys and mismatchLabelKeys"),
                ));
            }
        }
        Ok(())
    }

    /// Upstream `validateTopologySpreadConstraints`, with the defaults of
    /// `SetDefaults_PodSpec` (nodeAffinityPolicy Honor, nodeTaintsPolicy Ignore).
    fn spread_constraint(
        &self,
        constraint: &core::TopologySpreadConstraint,
        at: &str,
    ) -> Result<TopologySpreadConstraint, ScenarioError> {
        if constraint.max_skew < 1 {
            return Err(self.error(
                &format!("{at}.maxSkew"),
                format!(
                    "Invalid value: {}: must be greater than zero",
                    constraint.max_skew
                ),
            ));
        }
        if constraint.topology_key.is_empty() {
            return Err(self.error(
                &format!("{at}.topologyKey"),
                "Required value: can not be empty",
            ));
        }
        let when_unsatisfiable = match constraint.when_unsatisfiable.as_str() {
            "DoNotSchedule" => UnsatisfiableConstraintAction::DoNotSchedule,
            "ScheduleAnyway" => UnsatisfiableConstraintAction::ScheduleAnyway,
            "" => {
                return Err(self.error(&format!("{at}.whenUnsatisfiable"), "Required value"));
            }
            other => {
                return Err(self.error(
                    &format!("{at}.whenUnsatisfiable"),
                    format!("unsupported value {other:?}: supported values: \"DoNotSchedule\", \"ScheduleAnyway\""),
                ));
            }
        };
        if let Some(min_domains) = constraint.min_domains {
            if min_domains < 1 {
                return Err(self.error(
                    &format!("{at}.minDomains"),
                    format!("Invalid value: {min_domains}: must be greater than 0"),
                ));
            }
            if when_unsatisfiable != UnsatisfiableConstraintAction::DoNotSchedule {
                return Err(self.error(
                    &format!("{at}.minDomains"),
                    format!(
                        "Invalid value: {min_domains}: can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway"
                    ),
                ));
            }
        }
        let policy = |value: Option<&str>, default: NodeInclusionPolicy, field: &str| match value {
            None => Ok(default),
            Some("Honor") => Ok(NodeInclusionPolicy::Honor),
            Some("Ignore") => Ok(NodeInclusionPolicy::Ignore),
            Some(other) => Err(self.error(
                &format!("{at}.{field}"),
                format!("unsupported value {other:?}: supported values: \"Honor\", \"Ignore\""),
            )),
        };
        let node_affinity_policy = policy(
            constraint.node_affinity_policy.as_deref(),
            defaults::NODE_AFFINITY_POLICY,
            "nodeAffinityPolicy",
        )?;
        let node_taints_policy = policy(
            constraint.node_taints_policy.as_deref(),
            defaults::NODE_TAINTS_POLICY,
            "nodeTaintsPolicy",
        )?;
        let label_selector = match &constraint.label_selector {
            None => None,
            Some(selector) => Some(self.label_selector(selector, &format!("{at}.labelSelector"))?),
        };
        let match_label_keys: Vec<Str> = constraint
            .match_label_keys
            .iter()
            .flatten()
            .map(|k| s(k))
            .collect();
        self.check_label_keys(label_selector.is_some(), &match_label_keys, &[], at)?;
        Ok(TopologySpreadConstraint {
            max_skew: constraint.max_skew,
            topology_key: s(&constraint.topology_key),
            when_unsatisfiable,
            label_selector,
            min_domains: constraint.min_domains,
            node_affinity_policy,
            node_taints_policy,
            match_label_keys,
        })
    }

    fn taint(&self, taint: &core::Taint, at: &str) -> Result<Taint, ScenarioError> {
        if taint.key.is_empty() {
            return Err(self.error(&format!("{at}.key"), "Required value"));
        }
        let effect = parse_taint_effect(&taint.effect)
            .map_err(|why| self.error(&format!("{at}.effect"), why))?;
        Ok(Taint {
            key: s(&taint.key),
            value: s(taint.value.as_deref().unwrap_or("")),
            effect,
            time_added: None,
        })
    }

    fn container(
        &mut self,
        container: &core::Container,
        at: &str,
        is_init: bool,
    ) -> Result<Container, ScenarioError> {
        check_dns_label(&container.name).map_err(|why| self.error(&format!("{at}.name"), why))?;
        let Some(image) = container.image.as_deref().filter(|i| !i.trim().is_empty()) else {
            return Err(self.error(at, "missing field `image`"));
        };
        let image_pull_policy = match container.image_pull_policy.as_deref() {
            None => default_image_pull_policy(image),
            Some("Always") => ImagePullPolicy::Always,
            Some("IfNotPresent") => ImagePullPolicy::IfNotPresent,
            Some("Never") => ImagePullPolicy::Never,
            Some(other) => {
                return Err(self.error(
                    &format!("{at}.imagePullPolicy"),
                    format!("unsupported value {other:?}: supported values: \"Always\", \"IfNotPresent\", \"Never\""),
                ));
            }
        };
        let (resources, extended_requests) = match &container.resources {
            None => (ResourceRequirements::default(), Vec::new()),
            Some(resources) => self.resources(resources, &format!("{at}.resources"))?,
        };
        let mut ports = Vec::new();
        for (index, port) in container.ports.iter().flatten().enumerate() {
            let port_at = join_index(&format!("{at}.ports"), index);
            // hostPort 0 is the same as unset (upstream's validation allows 0).
            let host_port = match port.host_port {
                None | Some(0) => None,
                Some(n) => Some(self.port_number(n, &format!("{port_at}.hostPort"))?),
            };
            let host_ip = match port.host_ip.as_deref() {
                None | Some("") => None,
                Some(ip) => {
                    if ip.parse::<std::net::IpAddr>().is_err() {
                        return Err(self.error(
                            &format!("{port_at}.hostIP"),
                            format!("Invalid value: {ip:?}: must be a valid IP address"),
                        ));
                    }
                    Some(s(ip))
                }
            };
            ports.push(ContainerPort {
                name: port.name.as_deref().map(s),
                container_port: self
                    .port_number(port.container_port, &format!("{port_at}.containerPort"))?,
                protocol: self
                    .protocol(port.protocol.as_deref(), &format!("{port_at}.protocol"))?,
                host_port,
                host_ip,
            });
        }
        // Only an init container may have a restartPolicy, and only Always: it makes the
        // container a sidecar (upstream validateInitContainers / validateContainers).
        let restart_policy = match (container.restart_policy.as_deref(), is_init) {
            (None, _) => None,
            (Some("Always"), true) => Some(ContainerRestartPolicy::Always),
            (Some(other), true) => {
                return Err(self.error(
                    &format!("{at}.restartPolicy"),
                    format!("unsupported value {other:?}: supported values: \"Always\""),
                ));
            }
            (Some(_), false) => {
                return Err(self.error(
                    &format!("{at}.restartPolicy"),
                    "Forbidden: may not be set for non-init containers",
                ));
            }
        };
        let sidecar = restart_policy == Some(ContainerRestartPolicy::Always);
        let liveness_probe = self.probe(
            container.liveness_probe.as_ref(),
            ProbeKind::Liveness,
            at,
            is_init && !sidecar,
        )?;
        let readiness_probe = self.probe(
            container.readiness_probe.as_ref(),
            ProbeKind::Readiness,
            at,
            is_init && !sidecar,
        )?;
        let startup_probe = self.probe(
            container.startup_probe.as_ref(),
            ProbeKind::Startup,
            at,
            is_init && !sidecar,
        )?;
        let lifecycle = match &container.lifecycle {
            None => None,
            Some(_) if is_init && !sidecar => {
                return Err(self.error(
                    &format!("{at}.lifecycle"),
                    "Forbidden: may not be set for init containers without restartPolicy=Always",
                ));
            }
            Some(lifecycle) => Some(Rc::new(
                self.lifecycle(lifecycle, &format!("{at}.lifecycle"))?,
            )),
        };
        Ok(Container {
            name: s(&container.name),
            image: s(image),
            image_pull_policy,
            resources,
            extended_requests: Rc::from(extended_requests),
            ports,
            restart_policy,
            liveness_probe,
            readiness_probe,
            startup_probe,
            lifecycle,
        })
    }

    /// A container's `lifecycle`, validated as upstream's `validateLifecycle` does: each
    /// hook has exactly one handler, an exec command, a valid httpGet port, a sleep of
    /// at least 0 s (its bound by the grace period is checked with the pod). A
    /// `stopSignal` (alpha, off by default) is noted; a `tcpSocket` handler (deprecated,
    /// which the kubelet does not run) is noted and left out.
    fn lifecycle(
        &mut self,
        lifecycle: &core::Lifecycle,
        at: &str,
    ) -> Result<Lifecycle, ScenarioError> {
        self.note(&format!("{at}.stopSignal"), lifecycle.stop_signal.is_some());
        Ok(Lifecycle {
            post_start: self
                .lifecycle_handler(lifecycle.post_start.as_ref(), &format!("{at}.postStart"))?,
            pre_stop: self
                .lifecycle_handler(lifecycle.pre_stop.as_ref(), &format!("{at}.preStop"))?,
        })
    }

    fn lifecycle_handler(
        &mut self,
        handler: Option<&core::LifecycleHandler>,
        at: &str,
    ) -> Result<Option<LifecycleHandler>, ScenarioError> {
        let Some(handler) = handler else {
            return Ok(None);
        };
        let count = [
            handler.exec.is_some(),
            handler.http_get.is_some(),
            handler.sleep.is_some(),
            handler.tcp_socket.is_some(),
        ]
        .iter()
        .filter(|set| **set)
        .count();
        if count == 0 {
            return Err(self.error(at, "Required value: must specify a handler type"));
        }
        if count > 1 {
            return Err(self.error(at, "Forbidden: may not specify more than 1 handler type"));
        }
        if let Some(exec) = &handler.exec {
            let command: Vec<Str> = exec.command.iter().flatten().map(|c| s(c)).collect();
            if command.is_empty() {
                return Err(self.error(&format!("{at}.exec.command"), "Required value"));
            }
            return Ok(Some(LifecycleHandler::Exec {
                command: Rc::from(command),
            }));
        }
        if let Some(http) = &handler.http_get {
            let port = match self.probe_port(&http.port, &format!("{at}.httpGet.port"))? {
                TargetPort::Number(n) => s(&n.to_string()),
                TargetPort::Name(name) => name,
            };
            let path = match http.path.as_deref() {
                None | Some("") => s("/"),
                Some(path) => s(path),
            };
            return Ok(Some(LifecycleHandler::HttpGet { path, port }));
        }
        if let Some(sleep) = &handler.sleep {
            let seconds = u64::try_from(sleep.seconds).map_err(|_| {
                self.error(
                    &format!("{at}.sleep.seconds"),
                    format!("Invalid value: {}: must be non-negative", sleep.seconds),
                )
            })?;
            return Ok(Some(LifecycleHandler::Sleep { seconds }));
        }
        self.note(&format!("{at}.tcpSocket"), true);
        Ok(None)
    }

    /// A container's probe, defaulted (`SetDefaults_Probe`, `SetDefaults_HTTPGetAction`)
    /// and validated as upstream's `validateProbe` and `validateContainerCommon` do
    /// (`pkg/apis/core/validation/validation.go`): one handler, non-negative numbers,
    /// successThreshold 1 for liveness and startup, terminationGracePeriodSeconds
    /// positive and not on a readiness probe, none on a regular init container.
    fn probe(
        &mut self,
        probe: Option<&core::Probe>,
        kind: ProbeKind,
        container_at: &str,
        regular_init: bool,
    ) -> Result<Option<Rc<api::Probe>>, ScenarioError> {
        let Some(probe) = probe else {
            return Ok(None);
        };
        let at = format!("{container_at}.{}", kind.field());
        if regular_init {
            return Err(self.error(&at, "Forbidden: may not be set for init containers"));
        }
        let mut handlers = Vec::new();
        if let Some(exec) = &probe.exec {
            let command: Vec<Str> = exec.command.iter().flatten().map(|c| s(c)).collect();
            if command.is_empty() {
                return Err(self.error(&format!("{at}.exec.command"), "Required value"));
            }
            handlers.push(api::ProbeHandler::Exec { command });
        }
        if let Some(http) = &probe.http_get {
            let path = match http.path.as_deref() {
                None | Some("") => s(api::PROBE_DEFAULT_HTTP_PATH),
                Some(path) => s(path),
            };
            let port = self.probe_port(&http.port, &format!("{at}.httpGet.port"))?;
            let scheme = match http.scheme.as_deref() {
                None | Some("HTTP") => api::UriScheme::Http,
                Some("HTTPS") => api::UriScheme::Https,
                Some(other) => {
                    return Err(self.error(
                        &format!("{at}.httpGet.scheme"),
                        format!(
                            "Unsupported value: {other:?}: supported values: \"HTTP\", \"HTTPS\""
                        ),
                    ));
                }
            };
            handlers.push(api::ProbeHandler::HttpGet { path, port, scheme });
        }
        if let Some(tcp) = &probe.tcp_socket {
            let port = self.probe_port(&tcp.port, &format!("{at}.tcpSocket.port"))?;
            handlers.push(api::ProbeHandler::TcpSocket { port });
        }
        if let Some(grpc) = &probe.grpc {
            let port = self.port_number(grpc.port, &format!("{at}.grpc.port"))?;
            handlers.push(api::ProbeHandler::Grpc {
                port,
                service: grpc.service.as_deref().map(s),
            });
        }
        let handler = match handlers.len() {
            0 => return Err(self.error(&at, "Required value: must specify a handler type")),
            1 => handlers.pop().expect("one handler"),
            _ => {
                return Err(self.error(&at, "Forbidden: may not specify more than 1 handler type"));
            }
        };
        // SetDefaults_Probe: a zero (or absent) timeout, period and thresholds take the
        // defaults; a negative one is rejected afterwards.
        let field = |value: Option<i32>, default: u32, name: &str| -> Result<u32, ScenarioError> {
            match value {
                None | Some(0) => Ok(default),
                Some(n) => u32::try_from(n).map_err(|_| {
                    self.error(
                        &format!("{at}.{name}"),
                        format!("Invalid value: {n}: must be greater than or equal to 0"),
                    )
                }),
            }
        };
        let initial_delay_seconds = field(probe.initial_delay_seconds, 0, "initialDelaySeconds")?;
        let timeout_seconds = field(
            probe.timeout_seconds,
            api::PROBE_DEFAULT_TIMEOUT_SECONDS,
            "timeoutSeconds",
        )?;
        let period_seconds = field(
            probe.period_seconds,
            api::PROBE_DEFAULT_PERIOD_SECONDS,
            "periodSeconds",
        )?;
        let success_threshold = field(
            probe.success_threshold,
            api::PROBE_DEFAULT_SUCCESS_THRESHOLD,
            "successThreshold",
        )?;
        let failure_threshold = field(
            probe.failure_threshold,
            api::PROBE_DEFAULT_FAILURE_THRESHOLD,
            "failureThreshold",
        )?;
        if kind != ProbeKind::Readiness && success_threshold != 1 {
            return Err(self.error(
                &format!("{at}.successThreshold"),
                format!("Invalid value: {success_threshold}: must be 1"),
            ));
        }
        let termination_grace_period_seconds = match probe.termination_grace_period_seconds {
            None => None,
            Some(_) if kind == ProbeKind::Readiness => {
                return Err(self.error(
                    &format!("{at}.terminationGracePeriodSeconds"),
                    "Invalid value: must not be set for readinessProbes",
                ));
            }
            Some(n) if n <= 0 => {
                return Err(self.error(
                    &format!("{at}.terminationGracePeriodSeconds"),
                    format!("Invalid value: {n}: must be greater than 0"),
                ));
            }
            Some(n) => Some(n.unsigned_abs()),
        };
        Ok(Some(Rc::new(api::Probe {
            handler,
            initial_delay_seconds,
            timeout_seconds,
            period_seconds,
            success_threshold,
            failure_threshold,
            termination_grace_period_seconds,
        })))
    }

    /// A probe's port: a number in 1..=65535 or a port name (upstream
    /// `ValidatePortNumOrName`).
    fn probe_port(&self, port: &IntOrString, at: &str) -> Result<TargetPort, ScenarioError> {
        match port {
            IntOrString::Int(n) => Ok(TargetPort::Number(self.port_number(*n, at)?)),
            IntOrString::String(name) => match name.parse::<i32>() {
                Ok(n) => Ok(TargetPort::Number(self.port_number(n, at)?)),
                Err(_) if check_port_name(name) => Ok(TargetPort::Name(s(name))),
                Err(_) => Err(self.error(
                    at,
                    format!("Invalid value: {name:?}: must be a port number or an IANA_SVC_NAME (at most 15 lowercase letters, digits and '-')"),
                )),
            },
        }
    }

    /// A container's requests and limits, and its extended-resource requests.
    fn resources(
        &mut self,
        resources: &core::ResourceRequirements,
        at: &str,
    ) -> Result<(ResourceRequirements, Vec<(Str, u64)>), ScenarioError> {
        let (limits, extended_limits) = self.resource_list(
            resources.limits.as_ref(),
            &format!("{at}.limits"),
            PodsResource::Forbidden,
        )?;
        let (mut requests, mut extended_requests) = self.resource_list(
            resources.requests.as_ref(),
            &format!("{at}.requests"),
            PodsResource::Forbidden,
        )?;
        // Extended resources cannot be overcommitted: the request defaults to the limit
        // (SetDefaults_Pod) and must equal it; a request without a limit is invalid
        // (upstream ValidateResourceRequirements).
        for (name, limit) in &extended_limits {
            match extended_requests.iter().find(|(n, _)| n == name) {
                None => extended_requests.push((name.clone(), *limit)),
                Some((_, request)) if request != limit => {
                    return Err(self.error(
                        &format!("{at}.requests.{name}"),
                        format!("must be equal to {name} limit of {limit}"),
                    ));
                }
                Some(_) => {}
            }
        }
        for (name, _) in &extended_requests {
            if !extended_limits.iter().any(|(n, _)| n == name) {
                return Err(self.error(
                    &format!("{at}.limits"),
                    format!("Required value: Limit must be set for non overcommitable resources ({name})"),
                ));
            }
        }
        extended_requests.sort();
        // SetDefaults_Pod: a resource with a limit and no request is requested at its limit.
        requests.cpu_millicores = requests.cpu_millicores.or(limits.cpu_millicores);
        requests.memory_bytes = requests.memory_bytes.or(limits.memory_bytes);
        requests.ephemeral_storage_bytes = requests
            .ephemeral_storage_bytes
            .or(limits.ephemeral_storage_bytes);
        for (name, request, limit) in [
            ("cpu", requests.cpu_millicores, limits.cpu_millicores),
            ("memory", requests.memory_bytes, limits.memory_bytes),
            (
                "ephemeral-storage",
                requests.ephemeral_storage_bytes,
                limits.ephemeral_storage_bytes,
            ),
        ] {
            if let (Some(request), Some(limit)) = (request, limit)
                && request > limit
            {
                return Err(self.error(
                    &format!("{at}.requests.{name}"),
                    format!("must be less than or equal to {name} limit"),
                ));
            }
        }
        self.note(&format!("{at}.claims"), resources.claims.is_some());
        Ok((ResourceRequirements { requests, limits }, extended_requests))
    }

    /// A resource list (a container's requests or limits, a node's capacity or
    /// allocatable, a pod's overhead): the standard resources, and the extended ones (and
    /// hugepages) by name.
    fn resource_list(
        &self,
        list: Option<&BTreeMap<String, Quantity>>,
        at: &str,
        pods: PodsResource,
    ) -> Result<(ResourceList, Vec<(Str, u64)>), ScenarioError> {
        let mut out = ResourceList::default();
        let mut extended = Vec::new();
        for (name, Quantity(text)) in list.into_iter().flatten() {
            let field = format!("{at}.{name}");
            let parsed = match name.as_str() {
                "cpu" => parse_cpu_millicores(text).map(|v| out.cpu_millicores = Some(v)),
                "memory" => parse_bytes(text).map(|v| out.memory_bytes = Some(v)),
                "ephemeral-storage" => {
                    parse_bytes(text).map(|v| out.ephemeral_storage_bytes = Some(v))
                }
                "pods" if pods == PodsResource::Allowed => {
                    parse_count(text).map(|v| out.pods = Some(v))
                }
                "pods" => {
                    return Err(self.error(
                        &field,
                        "Invalid value: \"pods\": must be a standard resource for containers",
                    ));
                }
                _ => {
                    let quantity = self.extended_quantity(name, text, &field)?;
                    extended.push((s(name), quantity));
                    Ok(())
                }
            };
            parsed.map_err(|error| self.error(&field, error.to_string()))?;
        }
        Ok((out, extended))
    }

    /// The quantity of an extended resource (`example.com/foo`, a whole number) or of
    /// hugepages (`hugepages-2Mi`, bytes). Any other name is refused as upstream's
    /// `validateResourceName` does: not standard and not fully qualified.
    fn extended_quantity(&self, name: &str, text: &str, at: &str) -> Result<u64, ScenarioError> {
        if name.starts_with("hugepages-") {
            return parse_bytes(text).map_err(|error| self.error(at, error.to_string()));
        }
        let qualified = name
            .split_once('/')
            .is_some_and(|(domain, rest)| !domain.is_empty() && !rest.is_empty());
        if !qualified {
            return Err(self.error(
                at,
                format!(
                    "Invalid value: {name:?}: must be a standard resource type or fully qualified"
                ),
            ));
        }
        let count = parse_count(text).map_err(|error| self.error(at, error.to_string()))?;
        // A fraction rounds up in parse_count; extended resources must be whole.
        let millis =
            parse_cpu_millicores(text).map_err(|error| self.error(at, error.to_string()))?;
        if millis != count.saturating_mul(1000) {
            return Err(self.error(at, format!("Invalid value: {text:?}: must be an integer")));
        }
        Ok(count)
    }

    fn toleration(
        &self,
        toleration: &core::Toleration,
        at: &str,
    ) -> Result<Toleration, ScenarioError> {
        let operator = match toleration.operator.as_deref() {
            None | Some("Equal") => TolerationOperator::Equal,
            Some("Exists") => TolerationOperator::Exists,
            Some(other) => {
                return Err(self.error(
                    &format!("{at}.operator"),
                    format!("unsupported value {other:?}: supported values: \"Equal\", \"Exists\""),
                ));
            }
        };
        let key = toleration.key.clone().unwrap_or_default();
        let value = toleration.value.clone().unwrap_or_default();
        if operator == TolerationOperator::Exists && !value.is_empty() {
            return Err(self.error(
                &format!("{at}.value"),
                "must be empty when `operator` is 'Exists'",
            ));
        }
        if key.is_empty() && operator != TolerationOperator::Exists {
            return Err(self.error(
                &format!("{at}.operator"),
                "must be Exists when `key` is empty",
            ));
        }
        let effect = match toleration.effect.as_deref() {
            None | Some("") => None,
            Some(text) => Some(
                parse_taint_effect(text).map_err(|why| self.error(&format!("{at}.effect"), why))?,
            ),
        };
        // A negative value means "evict at once", as upstream treats it.
        let toleration_seconds = toleration
            .toleration_seconds
            .map(|n| u64::try_from(n).unwrap_or(0));
        if toleration_seconds.is_some() && effect != Some(TaintEffect::NoExecute) {
            return Err(self.error(
                &format!("{at}.effect"),
                "must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        Ok(Toleration {
            key: s(&key),
            operator,
            value: s(&value),
            effect,
            toleration_seconds,
        })
    }

    fn port_number(&self, port: i32, at: &str) -> Result<u16, ScenarioError> {
        u16::try_from(port).ok().filter(|p| *p != 0).ok_or_else(|| {
            self.error(
                at,
                format!("must be between 1 and 65535, inclusive, got {port}"),
            )
        })
    }

    fn protocol(&self, protocol: Option<&str>, at: &str) -> Result<Protocol, ScenarioError> {
        match protocol {
            None | Some("TCP") => Ok(Protocol::Tcp),
            Some("UDP") => Ok(Protocol::Udp),
            Some("SCTP") => Ok(Protocol::Sctp),
            Some(other) => Err(self.error(
                at,
                format!(
                    "unsupported value {other:?}: supported values: \"TCP\", \"UDP\", \"SCTP\""
                ),
            )),
        }
    }
}

/// `core::PodAffinity` and `core::PodAntiAffinity`: k8s-openapi's two types with the
/// same fields, converted by one [`Ingest::pod_affinity`].
trait PodAffinityTerms {
    fn required(&self) -> &[core::PodAffinityTerm];
    fn preferred(&self) -> &[core::WeightedPodAffinityTerm];
}

/// The two impls are one: the types differ only in name.
macro_rules! impl_pod_affinity_terms {
    ($($affinity:ty),*) => {$(
        impl PodAffinityTerms for $affinity {
            fn required(&self) -> &[core::PodAffinityTerm] {
                self.required_during_scheduling_ignored_during_execution
                    .as_deref()
                    .unwrap_or_default()
            }

            fn preferred(&self) -> &[core::WeightedPodAffinityTerm] {
                self.preferred_during_scheduling_ignored_during_execution
                    .as_deref()
                    .unwrap_or_default()
            }
        }
    )*};
}

impl_pod_affinity_terms!(core::PodAffinity, core::PodAntiAffinity);

fn labels(map: Option<&BTreeMap<String, String>>) -> Labels {
    Labels::from_pairs(map.into_iter().flatten())
}

/// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
pub fn parse_taint_effect(text: &str) -> Result<TaintEffect, String> {
    match text {
        "NoSchedule" => Ok(TaintEffect::NoSchedule),
        "PreferNoSchedule" => Ok(TaintEffect::PreferNoSchedule),
        "NoExecute" => Ok(TaintEffect::NoExecute),
        other => Err(format!(
            "unsupported value {other:?}: supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""
        )),
    }
}

/// Upstream `SetDefaults_Container`: `Always` when the image has the tag `latest` or no
/// tag and no digest, `IfNotPresent` otherwise.
pub fn default_image_pull_policy(image: &str) -> ImagePullPolicy {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    // A tag follows the last ':' after the last '/' (a ':' before it is a registry port).
    let last_segment = name.rsplit('/').next().unwrap_or(name);
    let tag = last_segment.split_once(':').map(|(_, tag)| tag);
    match (tag, digest) {
        (Some("latest"), _) | (None, None) => ImagePullPolicy::Always,
        _ => ImagePullPolicy::IfNotPresent,
    }
}

/// RFC 1123 DNS subdomain, as object names must be: lower-case alphanumerics, `-` and
/// `.`, starting and ending with an alphanumeric, at most 253 characters.
fn check_dns_subdomain(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid name {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
        ))
    }
}

/// Whether `name` is an RFC 1123 label of at most `length_max` characters: lower-case
/// alphanumerics and `-`, starting and ending with an alphanumeric.
pub(crate) fn is_dns_label(name: &str, length_max: usize) -> bool {
    !name.is_empty()
        && name.len() <= length_max
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// RFC 1123 DNS label, as namespace, Service and container names must be: at most 63
/// characters, lower-case alphanumerics and `-`.
/// Which of a container's probes is being ingested (for field paths and the rules that
/// differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

impl ProbeKind {
    fn field(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "livenessProbe",
            ProbeKind::Readiness => "readinessProbe",
            ProbeKind::Startup => "startupProbe",
        }
    }
}

/// An IANA service name as a port name: 1 to 15 lowercase letters, digits and '-', at
/// least one letter, no leading, trailing or doubled '-' (upstream `IsValidPortName`).
fn check_port_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.bytes().any(|b| b.is_ascii_lowercase())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
}

fn check_dns_label(name: &str) -> Result<(), String> {
    if is_dns_label(name, 63) {
        Ok(())
    } else {
        Err(format!(
            "invalid name {name:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', start and end with an alphanumeric character, and be at most 63 characters"
        ))
    }
}

/// The kind a manifest's `kind` field names, if kubesim supports it.
/// The number a manifest's uid string stands for: its 64-bit FNV-1a hash (never 0, which
/// means "no uid").
pub fn manifest_uid(uid: &str) -> u64 {
    let hash = uid.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    hash.max(1)
}

pub fn supported_kind(kind: &str) -> Option<Kind> {
    match kind {
        "Namespace" => Some(Kind::Namespace),
        "Pod" => Some(Kind::Pod),
        "Deployment" => Some(Kind::Deployment),
        "ReplicaSet" => Some(Kind::ReplicaSet),
        "Service" => Some(Kind::Service),
        "Node" => Some(Kind::Node),
        "StatefulSet" => Some(Kind::StatefulSet),
        "PriorityClass" => Some(Kind::PriorityClass),
        "RuntimeClass" => Some(Kind::RuntimeClass),
        "PodDisruptionBudget" => Some(Kind::PodDisruptionBudget),
        "HorizontalPodAutoscaler" => Some(Kind::HorizontalPodAutoscaler),
        "Job" => Some(Kind::Job),
        "DaemonSet" => Some(Kind::DaemonSet),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{PosMap, parse_documents};

    fn ingest_text(text: &str) -> Result<Vec<Manifest>, ScenarioError> {
        parse_documents(text, "m.yaml", "w", true, PosMap::Identity)?
            .iter()
            .map(ingest)
            .collect()
    }

    fn one(text: &str) -> Object {
        let mut manifests = ingest_text(text).unwrap();
        assert_eq!(manifests.len(), 1);
        manifests.remove(0).object
    }

    const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
        ports:
        - containerPort: 80
";

    #[test]
    fn deployment_defaults_are_upstream_defaults() {
        let Object::Deployment(d) = one(DEPLOYMENT) else {
            panic!("not a deployment")
        };
        assert_eq!(&*d.metadata.namespace, "default");
        assert_eq!(d.spec.replicas, 1);
        assert_eq!(
            d.spec.strategy,
            DeploymentStrategy::RollingUpdate {
                max_surge: IntOrPercent::Percent(25),
                max_unavailable: IntOrPercent::Percent(25),
            }
        );
        assert_eq!(d.spec.revision_history_limit, 10);
        assert_eq!(d.spec.progress_deadline_seconds, 600);
        assert_eq!(d.spec.min_ready_seconds, 0);
        let pod = &d.spec.template.spec;
        assert_eq!(pod.termination_grace_period_seconds, 30);
        assert_eq!(pod.restart_policy, RestartPolicy::Always);
        assert_eq!(&*pod.scheduler_name, "default-scheduler");
        assert_eq!(pod.containers[0].image_pull_policy, ImagePullPolicy::Always);
        assert_eq!(pod.containers[0].ports[0].protocol, Protocol::Tcp);
        assert_eq!(pod.containers[0].resources, ResourceRequirements::default());
    }

    #[test]
    fn image_pull_policy_follows_the_tag() {
        assert_eq!(default_image_pull_policy("nginx"), ImagePullPolicy::Always);
        assert_eq!(
            default_image_pull_policy("nginx:latest"),
            ImagePullPolicy::Always
        );
        assert_eq!(
            default_image_pull_policy("nginx:1.14.2"),
            ImagePullPolicy::IfNotPresent
        );
        assert_eq!(
            default_image_pull_policy("registry:5000/nginx"),
            ImagePullPolicy::Always
        );
        assert_eq!(
            default_image_pull_policy("registry:5000/nginx:1.0"),
            ImagePullPolicy::IfNotPresent
        );
        assert_eq!(
            default_image_pull_policy("nginx@sha256:abcd"),
            ImagePullPolicy::IfNotPresent
        );
    }

    #[test]
    fn service_defaults_target_port_and_protocol() {
        let Object::Service(svc) = one("apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports:\n  - port: 80\n  - {name: alt, port: 81, targetPort: http}\n".replace("- port: 80", "- {name: main, port: 80}").as_str()) else {
            panic!("not a service")
        };
        assert_eq!(svc.spec.ports[0].target_port, TargetPort::Number(80));
        assert_eq!(svc.spec.ports[0].protocol, Protocol::Tcp);
        assert_eq!(svc.spec.ports[1].target_port, TargetPort::Name(s("http")));
        assert_eq!(svc.spec.type_, ServiceType::ClusterIP);
        assert_eq!(
            svc.spec.selector,
            Some(Labels::from_pairs([("app", "web")]))
        );
    }

    #[test]
    fn requests_default_to_limits() {
        let Object::Pod(pod) = one(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: team}\nspec:\n  containers:\n  - name: c\n    image: busybox:1.36\n    resources:\n      limits: {cpu: 500m, memory: 128Mi}\n      requests: {memory: 64Mi}\n",
        ) else {
            panic!("not a pod")
        };
        assert_eq!(&*pod.metadata.namespace, "team");
        let resources = pod.spec.containers[0].resources;
        assert_eq!(resources.requests.cpu_millicores, Some(500));
        assert_eq!(resources.requests.memory_bytes, Some(64 << 20));
        assert_eq!(resources.limits.memory_bytes, Some(128 << 20));
    }

    #[test]
    fn bad_quantity_names_the_field_and_line() {
        let text = DEPLOYMENT.replace(
            "        image: nginx\n",
            "        image: nginx\n        resources:\n          limits:\n            memory: 12 apples\n",
        );
        let error = ingest_text(&text).unwrap_err().to_string();
        assert!(
            error.starts_with("m.yaml:17:21: w[0].spec.template.spec.containers[0].resources.limits.memory: invalid quantity \"12 apples\""),
            "{error}"
        );
    }

    #[test]
    fn unknown_fields_are_rejected_like_kubectl_strict_validation() {
        let text = DEPLOYMENT.replace("  selector:", "  replica: 3\n  selector:");
        let error = ingest_text(&text).unwrap_err().to_string();
        assert_eq!(
            error,
            "m.yaml:6:3: w[0].spec.replica: unknown field \"replica\""
        );
    }

    #[test]
    fn unsupported_kinds_are_named_with_file_and_line() {
        let error = ingest_text("apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: db}\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            format!(
                "m.yaml:2:7: w[0].kind: unsupported kind CronJob in m.yaml:2 (kubesim supports {SUPPORTED_KINDS})"
            )
        );
        assert!(SUPPORTED_KINDS.contains("StatefulSet"));
    }

    const STATEFUL_SET: &str = "apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: postgres:16.4}]
";

    #[test]
    fn a_stateful_set_takes_upstream_defaults_and_notes_volume_claims() {
        let Object::StatefulSet(set) = one(STATEFUL_SET) else {
            panic!("not a StatefulSet")
        };
        assert_eq!(set.spec.replicas, 1);
        assert_eq!(&*set.spec.service_name, "web");
        assert_eq!(
            set.spec.pod_management_policy,
            PodManagementPolicy::OrderedReady
        );
        assert_eq!(
            set.spec.update_strategy,
            StatefulSetUpdateStrategy::RollingUpdate { partition: 0 }
        );
        assert_eq!(set.spec.revision_history_limit, 10);
        assert_eq!(
            (set.spec.min_ready_seconds, set.spec.ordinals_start),
            (0, 0)
        );
        let text = format!(
            "{STATEFUL_SET}  podManagementPolicy: Parallel\n  updateStrategy: {{type: RollingUpdate, rollingUpdate: {{partition: 2, maxUnavailable: 2}}}}\n  ordinals: {{start: 3}}\n  volumeClaimTemplates: [{{metadata: {{name: data}}}}]\n"
        );
        let manifests = ingest_text(&text).unwrap();
        let Object::StatefulSet(set) = &manifests[0].object else {
            panic!("not a StatefulSet")
        };
        assert_eq!(
            set.spec.pod_management_policy,
            PodManagementPolicy::Parallel
        );
        assert_eq!(
            set.spec.update_strategy,
            StatefulSetUpdateStrategy::RollingUpdate { partition: 2 }
        );
        assert_eq!(set.spec.ordinals_start, 3);
        assert_eq!(
            manifests[0].notes,
            [
                "statefulset/default/web: not modelled yet, so without effect: spec.updateStrategy.rollingUpdate.maxUnavailable, spec.volumeClaimTemplates"
            ]
        );
    }

    #[test]
    fn stateful_set_policies_and_strategies_are_validated_with_their_location() {
        let error = |extra: &str| error_of(&format!("{STATEFUL_SET}{extra}"));
        let bad_policy = error("  podManagementPolicy: Random\n");
        assert!(
            bad_policy.contains("spec.podManagementPolicy: Unsupported value: \"Random\""),
            "{bad_policy}"
        );
        let on_delete_rolling =
            error("  updateStrategy: {type: OnDelete, rollingUpdate: {partition: 1}}\n");
        assert!(
            on_delete_rolling.contains("spec.updateStrategy.rollingUpdate: Invalid value: only allowed for updateStrategy 'RollingUpdate'"),
            "{on_delete_rolling}"
        );
        let negative = error("  updateStrategy: {rollingUpdate: {partition: -1}}\n");
        assert!(
            negative.contains(
                "spec.updateStrategy.rollingUpdate.partition: must be greater than or equal to 0"
            ),
            "{negative}"
        );
    }

    #[test]
    fn wrong_api_version_is_named() {
        let error = ingest_text(&DEPLOYMENT.replace("apps/v1", "extensions/v1beta1"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("w[0].apiVersion: unsupported apiVersion \"extensions/v1beta1\" for kind Deployment (use apps/v1)"), "{error}");
    }

    #[test]
    fn selector_must_match_template_labels() {
        let error = ingest_text(&DEPLOYMENT.replace("labels: {app: web}", "labels: {app: api}"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(
                "spec.template.metadata.labels: `selector` does not match template `labels`"
            ),
            "{error}"
        );
    }

    #[test]
    fn template_restart_policy_must_be_always() {
        let error = ingest_text(&DEPLOYMENT.replace(
            "      containers:",
            "      restartPolicy: Never\n      containers:",
        ))
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("spec.template.spec.restartPolicy: unsupported value \"Never\""),
            "{error}"
        );
    }

    #[test]
    fn probes_are_modelled_with_upstream_defaults() {
        // SetDefaults_Probe: period 10, timeout 1, success 1, failure 3; httpGet path
        // "/" and scheme HTTP (SetDefaults_HTTPGetAction).
        let manifests = ingest_text(&DEPLOYMENT.replace(
            "        ports:",
            "        readinessProbe: {tcpSocket: {port: 80}}\n        livenessProbe: {httpGet: {port: http}, failureThreshold: 5, terminationGracePeriodSeconds: 10}\n        startupProbe: {exec: {command: [cat, /tmp/up]}, periodSeconds: 2, timeoutSeconds: 0}\n        ports:",
        ))
        .unwrap();
        assert!(manifests[0].notes.is_empty(), "{:?}", manifests[0].notes);
        let Object::Deployment(d) = &manifests[0].object else {
            panic!("not a deployment")
        };
        let container = &d.spec.template.spec.containers[0];
        let readiness = container.readiness_probe.as_deref().expect("readiness");
        assert_eq!(
            *readiness,
            api::Probe::new(api::ProbeHandler::TcpSocket {
                port: TargetPort::Number(80)
            })
        );
        assert_eq!(
            (readiness.period_seconds, readiness.timeout_seconds),
            (10, 1)
        );
        assert_eq!(
            (readiness.success_threshold, readiness.failure_threshold),
            (1, 3)
        );
        let liveness = container.liveness_probe.as_deref().expect("liveness");
        assert_eq!(
            liveness.handler,
            api::ProbeHandler::HttpGet {
                path: s("/"),
                port: TargetPort::Name(s("http")),
                scheme: api::UriScheme::Http,
            }
        );
        assert_eq!(liveness.failure_threshold, 5);
        assert_eq!(liveness.termination_grace_period_seconds, Some(10));
        let startup = container.startup_probe.as_deref().expect("startup");
        assert_eq!((startup.period_seconds, startup.timeout_seconds), (2, 1));
    }

    #[test]
    fn probe_fields_are_validated() {
        let probe = "        livenessProbe: {httpGet: {port: 80}}\n        ports:";
        let base = DEPLOYMENT.replace("        ports:", probe);
        let at = "spec.template.spec.containers[0]";
        assert_edits_fail(
            &base,
            &[
                (
                    "{httpGet: {port: 80}}",
                    "{periodSeconds: 5}",
                    &format!("{at}.livenessProbe: Required value: must specify a handler type"),
                ),
                (
                    "{httpGet: {port: 80}}",
                    "{httpGet: {port: 80}, tcpSocket: {port: 80}}",
                    "livenessProbe: Forbidden: may not specify more than 1 handler type",
                ),
                (
                    "{httpGet: {port: 80}}",
                    "{httpGet: {port: 80}, successThreshold: 2}",
                    "livenessProbe.successThreshold: Invalid value: 2: must be 1",
                ),
                (
                    "{httpGet: {port: 80}}",
                    "{httpGet: {port: 80}, failureThreshold: -1}",
                    "livenessProbe.failureThreshold: Invalid value: -1: must be greater than or equal to 0",
                ),
                (
                    "{httpGet: {port: 80}}",
                    "{httpGet: {port: 80}, terminationGracePeriodSeconds: 0}",
                    "livenessProbe.terminationGracePeriodSeconds: Invalid value: 0: must be greater than 0",
                ),
                (
                    "{httpGet: {port: 80}}",
                    "{httpGet: {port: 70000}}",
                    "livenessProbe.httpGet.port: must be between 1 and 65535",
                ),
                (
                    "{httpGet: {port: 80}}",
                    "{httpGet: {port: 80, scheme: FTP}}",
                    "livenessProbe.httpGet.scheme: Unsupported value: \"FTP\"",
                ),
                (
                    "{httpGet: {port: 80}}",
                    "{exec: {command: []}}",
                    "livenessProbe.exec.command: Required value",
                ),
                (
                    "livenessProbe: {httpGet: {port: 80}}",
                    "readinessProbe: {httpGet: {port: 80}, terminationGracePeriodSeconds: 5}",
                    "readinessProbe.terminationGracePeriodSeconds: Invalid value: must not be set for readinessProbes",
                ),
            ],
        );
        // A regular init container may have no probe; a sidecar may.
        let init = DEPLOYMENT.replace(
            "      containers:",
            "      initContainers:\n      - name: setup\n        image: busybox\n        readinessProbe: {tcpSocket: {port: 80}}\n      containers:",
        );
        let error = error_of(&init);
        assert!(
            error.contains(
                "initContainers[0].readinessProbe: Forbidden: may not be set for init containers"
            ),
            "{error}"
        );
        let sidecar = init.replace(
            "image: busybox\n",
            "image: busybox\n        restartPolicy: Always\n",
        );
        ingest_text(&sidecar).unwrap();
    }

    fn pod_of(text: &str) -> Rc<api::Pod> {
        match one(text) {
            Object::Pod(pod) => pod,
            other => panic!("not a pod: {other:?}"),
        }
    }

    fn error_of(text: &str) -> String {
        ingest_text(text).unwrap_err().to_string()
    }

    /// Each case `(from, to, expected)` edits `base` and must fail to ingest with an error
    /// containing `expected`; `from` must be in `base`, so that no case passes unedited.
    fn assert_edits_fail(base: &str, cases: &[(&str, &str, &str)]) {
        for (from, to, expected) in cases {
            let text = base.replace(from, to);
            assert_ne!(text, base, "{from}");
            let error = error_of(&text);
            assert!(error.contains(expected), "{to}: {error}");
        }
    }

    const AFFINITY_POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: with-affinity
  labels: {app: web, tenant: blue}
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - key: topology.kubernetes.io/zone
            operator: In
            values: [antarctica-east1, antarctica-west1]
          - {key: gpu, operator: DoesNotExist}
          - {key: cores, operator: Gt, values: ['8']}
          - {key: age, operator: Lt, values: ['30']}
        - matchFields:
          - {key: metadata.name, operator: NotIn, values: [node-9]}
          matchExpressions:
          - {key: disk, operator: Exists}
          - {key: tier, operator: NotIn, values: [spot]}
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 1
        preference:
          matchExpressions:
          - {key: another-node-label-key, operator: In, values: [another-node-label-value]}
    podAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
      - labelSelector:
          matchExpressions:
          - {key: security, operator: In, values: [S1]}
        topologyKey: topology.kubernetes.io/zone
        namespaces: [team-a]
        namespaceSelector: {}
        matchLabelKeys: [tenant]
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          labelSelector:
            matchLabels: {security: S2}
          topologyKey: kubernetes.io/hostname
          mismatchLabelKeys: [tenant]
  containers:
  - name: with-node-affinity
    image: registry.k8s.io/pause:3.8
";

    #[test]
    fn node_and_pod_affinity_convert_with_every_operator() {
        let pod = pod_of(AFFINITY_POD);
        let affinity = pod.spec.affinity.as_ref().expect("affinity");
        let node = affinity.node_affinity.as_ref().unwrap();
        let terms = node.required.as_ref().unwrap();
        assert_eq!(terms.len(), 2);
        let operators: Vec<_> = terms[0]
            .match_expressions
            .iter()
            .map(|r| r.operator)
            .collect();
        assert_eq!(
            operators,
            [
                NodeSelectorOperator::In,
                NodeSelectorOperator::DoesNotExist,
                NodeSelectorOperator::Gt,
                NodeSelectorOperator::Lt
            ]
        );
        assert_eq!(terms[0].match_expressions[2].values, vec![s("8")]);
        assert_eq!(
            terms[1].match_fields,
            vec![NodeSelectorRequirement {
                key: s("metadata.name"),
                operator: NodeSelectorOperator::NotIn,
                values: vec![s("node-9")],
            }]
        );
        assert_eq!(
            terms[1].match_expressions[0].operator,
            NodeSelectorOperator::Exists
        );
        assert_eq!(node.preferred.len(), 1);
        assert_eq!(node.preferred[0].weight, 1);
        let required = &affinity.pod_affinity.as_ref().unwrap().required[0];
        assert_eq!(&*required.topology_key, "topology.kubernetes.io/zone");
        assert_eq!(required.namespaces, vec![s("team-a")]);
        assert_eq!(required.namespace_selector, Some(LabelSelector::default()));
        assert_eq!(required.match_label_keys, vec![s("tenant")]);
        let selector = required.label_selector.as_ref().unwrap();
        assert_eq!(selector.match_expressions[0].values, vec![s("S1")]);
        let anti = &affinity.pod_anti_affinity.as_ref().unwrap().preferred[0];
        assert_eq!(anti.weight, 100);
        assert_eq!(anti.term.mismatch_label_keys, vec![s("tenant")]);
        assert_eq!(
            anti.term.label_selector,
            Some(LabelSelector::from_labels(Labels::from_pairs([(
                "security", "S2"
            )])))
        );
        assert!(ingest_text(AFFINITY_POD).unwrap()[0].notes.is_empty());
    }

    #[test]
    fn a_bad_node_selector_operator_is_located() {
        let error = error_of(&AFFINITY_POD.replace("operator: Gt", "operator: Greater"));
        assert!(
            error.starts_with("m.yaml:16:36: w[0].spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[2].operator: unsupported value \"Greater\""),
            "{error}"
        );
    }

    #[test]
    fn node_selector_values_follow_the_operator() {
        assert_edits_fail(
            AFFINITY_POD,
            &[
                (
                    "values: ['8']",
                    "values: ['8', '9']",
                    "matchExpressions[2].values: must be specified single value when `operator` is 'Lt' or 'Gt'",
                ),
                (
                    "values: ['30']",
                    "values: [thirty]",
                    "matchExpressions[3].values[0]: Invalid value: \"thirty\": must be an integer",
                ),
                (
                    "values: [spot]",
                    "values: []",
                    "matchExpressions[1].values: must be specified when `operator` is 'In' or 'NotIn'",
                ),
                (
                    "{key: disk, operator: Exists}",
                    "{key: disk, operator: Exists, values: [ssd]}",
                    "matchExpressions[0].values: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ),
                (
                    "{key: metadata.name, operator: NotIn, values: [node-9]}",
                    "{key: metadata.name, operator: Exists}",
                    "matchFields[0].operator: unsupported value \"Exists\": supported values: \"In\", \"NotIn\"",
                ),
            ],
        );
    }

    #[test]
    fn weights_and_topology_keys_are_validated() {
        assert_edits_fail(
            AFFINITY_POD,
            &[
                (
                    "weight: 100",
                    "weight: 101",
                    "podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 101: must be in the range 1-100",
                ),
                (
                    "weight: 1\n",
                    "weight: 0\n",
                    "nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value: 0",
                ),
                (
                    "topologyKey: kubernetes.io/hostname",
                    "topologyKey: ''",
                    "podAffinityTerm.topologyKey: Required value: can not be empty",
                ),
                (
                    "mismatchLabelKeys: [tenant]",
                    "matchLabelKeys: [tenant]\n          mismatchLabelKeys: [tenant]",
                    "exists in both matchLabelKeys and mismatchLabelKeys",
                ),
            ],
        );
    }

    const SPREAD_POD: &str = "kind: Pod
apiVersion: v1
metadata:
  name: mypod
  labels:
    foo: bar
spec:
  topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: zone
    whenUnsatisfiable: DoNotSchedule
    minDomains: 3
    labelSelector:
      matchLabels:
        foo: bar
  - maxSkew: 2
    topologyKey: node
    whenUnsatisfiable: ScheduleAnyway
    nodeAffinityPolicy: Ignore
    nodeTaintsPolicy: Honor
    matchLabelKeys: [pod-template-hash]
    labelSelector:
      matchLabels:
        foo: bar
  containers:
  - name: pause
    image: registry.k8s.io/pause:3.1
";

    #[test]
    fn topology_spread_constraints_take_upstream_defaults() {
        let pod = pod_of(SPREAD_POD);
        let [zone, node] = &pod.spec.topology_spread_constraints[..] else {
            panic!("two constraints")
        };
        assert_eq!(zone.max_skew, 1);
        assert_eq!(&*zone.topology_key, "zone");
        assert_eq!(
            zone.when_unsatisfiable,
            UnsatisfiableConstraintAction::DoNotSchedule
        );
        assert_eq!(zone.min_domains, Some(3));
        assert_eq!(zone.node_affinity_policy, NodeInclusionPolicy::Honor);
        assert_eq!(zone.node_taints_policy, NodeInclusionPolicy::Ignore);
        assert_eq!(
            node.when_unsatisfiable,
            UnsatisfiableConstraintAction::ScheduleAnyway
        );
        assert_eq!(node.node_affinity_policy, NodeInclusionPolicy::Ignore);
        assert_eq!(node.node_taints_policy, NodeInclusionPolicy::Honor);
        assert_eq!(node.match_label_keys, vec![s("pod-template-hash")]);
        assert_eq!(node.min_domains, None);
    }

    #[test]
    fn a_bad_max_skew_is_located() {
        let error = error_of(&SPREAD_POD.replace("maxSkew: 2", "maxSkew: 0"));
        assert_eq!(
            error,
            "m.yaml:16:14: w[0].spec.topologySpreadConstraints[1].maxSkew: Invalid value: 0: must be greater than zero"
        );
    }

    #[test]
    fn spread_constraints_are_validated_as_upstream() {
        assert_edits_fail(
            SPREAD_POD,
            &[
                (
                    "whenUnsatisfiable: ScheduleAnyway",
                    "whenUnsatisfiable: ScheduleAnyway\n    minDomains: 2",
                    "[1].minDomains: Invalid value: 2: can only use minDomains if whenUnsatisfiable=DoNotSchedule",
                ),
                (
                    "minDomains: 3",
                    "minDomains: 0",
                    "[0].minDomains: Invalid value: 0: must be greater than 0",
                ),
                (
                    "whenUnsatisfiable: ScheduleAnyway",
                    "whenUnsatisfiable: Maybe",
                    "[1].whenUnsatisfiable: unsupported value \"Maybe\"",
                ),
                (
                    "nodeTaintsPolicy: Honor",
                    "nodeTaintsPolicy: Always",
                    "[1].nodeTaintsPolicy: unsupported value \"Always\"",
                ),
            ],
        );
        let error = error_of(&SPREAD_POD.replace("    whenUnsatisfiable: ScheduleAnyway\n", ""));
        assert!(
            error.contains("topologySpreadConstraints[1]") && error.contains("whenUnsatisfiable"),
            "{error}"
        );
        let error = error_of(
            &SPREAD_POD
                .replace("topologyKey: node", "topologyKey: zone")
                .replace("ScheduleAnyway", "DoNotSchedule"),
        );
        assert!(
            error.contains("[1].topologyKey: Duplicate value: \"zone\""),
            "{error}"
        );
    }

    const PORTS_AND_SIDECAR: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: myapp
spec:
  selector:
    matchLabels: {app: myapp}
  template:
    metadata:
      labels: {app: myapp}
    spec:
      priorityClassName: high-priority
      preemptionPolicy: Never
      overhead: {cpu: 250m, memory: 120Mi}
      containers:
      - name: myapp
        image: alpine:latest
        ports:
        - {containerPort: 8080, hostPort: 80, hostIP: 10.0.0.7}
        - {containerPort: 9090, hostPort: 9090, protocol: UDP}
        resources:
          limits: {example.com/foo: 2, hugepages-2Mi: 100Mi}
          requests: {cpu: 100m}
      initContainers:
      - name: logshipper
        image: alpine:latest
        restartPolicy: Always
        resources:
          requests: {nvidia.com/gpu: 1}
          limits: {nvidia.com/gpu: 1}
      - name: setup
        image: busybox:1.36
";

    #[test]
    fn host_ports_sidecars_extended_resources_overhead_and_priority_convert() {
        let manifests = ingest_text(PORTS_AND_SIDECAR).unwrap();
        assert!(manifests[0].notes.is_empty(), "{:?}", manifests[0].notes);
        let Object::Deployment(d) = &manifests[0].object else {
            panic!("a deployment")
        };
        let spec = &d.spec.template.spec;
        let app = &spec.containers[0];
        assert_eq!(app.ports[0].host_port, Some(80));
        assert_eq!(app.ports[0].host_ip.as_deref(), Some("10.0.0.7"));
        assert_eq!(app.ports[1].host_port, Some(9090));
        assert_eq!(app.ports[1].host_ip, None);
        assert_eq!(app.ports[1].protocol, Protocol::Udp);
        // Requests default from the limits of extended resources and hugepages.
        assert_eq!(
            &app.extended_requests[..],
            &[(s("example.com/foo"), 2), (s("hugepages-2Mi"), 100 << 20)]
        );
        assert_eq!(app.resources.requests.cpu_millicores, Some(100));
        assert!(!app.is_sidecar());
        let [logshipper, setup] = &spec.init_containers[..] else {
            panic!("two init containers")
        };
        assert!(logshipper.is_sidecar());
        assert!(!setup.is_sidecar());
        assert_eq!(
            &logshipper.extended_requests[..],
            &[(s("nvidia.com/gpu"), 1)]
        );
        assert_eq!(spec.priority_class_name.as_deref(), Some("high-priority"));
        assert_eq!(
            spec.priority, 0,
            "resolved by the Priority admission plugin"
        );
        assert_eq!(spec.preemption_policy, PreemptionPolicy::Never);
        assert_eq!(spec.overhead.cpu_millicores, Some(250));
        assert_eq!(spec.overhead.memory_bytes, Some(120 << 20));
    }

    #[test]
    fn extended_resources_cannot_be_overcommitted() {
        assert_edits_fail(
            PORTS_AND_SIDECAR,
            &[
                (
                    "requests: {nvidia.com/gpu: 1}\n          limits: {nvidia.com/gpu: 1}",
                    "requests: {nvidia.com/gpu: 1}\n          limits: {nvidia.com/gpu: 2}",
                    "initContainers[0].resources.requests.nvidia.com/gpu: must be equal to nvidia.com/gpu limit of 2",
                ),
                (
                    "requests: {nvidia.com/gpu: 1}\n          limits: {nvidia.com/gpu: 1}",
                    "requests: {nvidia.com/gpu: 1}",
                    "initContainers[0].resources.limits: Required value: Limit must be set for non overcommitable resources (nvidia.com/gpu)",
                ),
                (
                    "example.com/foo: 2,",
                    "gpu: 2,",
                    "containers[0].resources.limits.gpu: Invalid value: \"gpu\": must be a standard resource type or fully qualified",
                ),
                (
                    "example.com/foo: 2,",
                    "example.com/foo: 1500m,",
                    "containers[0].resources.limits.example.com/foo: Invalid value: \"1500m\": must be an integer",
                ),
                (
                    "requests: {cpu: 100m}",
                    "requests: {cpu: 100m, pods: 1}",
                    "containers[0].resources.requests.pods: Invalid value: \"pods\": must be a standard resource for containers",
                ),
            ],
        );
    }

    #[test]
    fn container_fields_are_validated() {
        assert_edits_fail(
            PORTS_AND_SIDECAR,
            &[
                (
                    "hostPort: 80,",
                    "hostPort: 70000,",
                    "ports[0].hostPort: must be between 1 and 65535",
                ),
                (
                    "hostIP: 10.0.0.7",
                    "hostIP: ten",
                    "ports[0].hostIP: Invalid value: \"ten\": must be a valid IP address",
                ),
                (
                    "restartPolicy: Always",
                    "restartPolicy: OnFailure",
                    "initContainers[0].restartPolicy: unsupported value \"OnFailure\"",
                ),
                (
                    "image: alpine:latest\n        ports:",
                    "image: alpine:latest\n        restartPolicy: Always\n        ports:",
                    "containers[0].restartPolicy: Forbidden: may not be set for non-init containers",
                ),
                (
                    "preemptionPolicy: Never",
                    "preemptionPolicy: Sometimes",
                    "spec.template.spec.preemptionPolicy: unsupported value \"Sometimes\"",
                ),
                (
                    "priorityClassName: high-priority",
                    "priorityClassName: High",
                    "spec.template.spec.priorityClassName: invalid name \"High\"",
                ),
            ],
        );
    }

    const NODE: &str = "apiVersion: v1
kind: Node
metadata:
  name: node-a
  labels:
    kubernetes.io/hostname: node-a
    topology.kubernetes.io/zone: us-east-1a
spec:
  unschedulable: true
  taints:
  - {key: dedicated, value: gpu, effect: NoSchedule}
  - {key: node.kubernetes.io/unreachable, effect: NoExecute}
status:
  capacity: {cpu: '4', memory: 16Gi, pods: '110', ephemeral-storage: 100Gi, nvidia.com/gpu: '2'}
  allocatable: {cpu: 3800m, memory: 15Gi}
  images:
  - names: [registry.k8s.io/pause:3.9, registry.k8s.io/pause@sha256:abc]
    sizeBytes: 322000
  - names: [nginx:1.14.2]
    sizeBytes: 44700000
  conditions:
  - {type: Ready, status: 'True', reason: KubeletReady, message: kubelet is posting ready status}
  addresses:
  - {type: InternalIP, address: 10.0.0.12}
";

    #[test]
    fn a_node_manifest_converts_with_allocatable_defaulting_to_capacity() {
        let Object::Node(node) = one(NODE) else {
            panic!("not a node")
        };
        assert_eq!(&*node.metadata.name, "node-a");
        assert_eq!(&*node.metadata.namespace, "");
        assert_eq!(
            node.metadata
                .labels
                .get("topology.kubernetes.io/zone")
                .map(|z| &**z),
            Some("us-east-1a")
        );
        assert!(node.spec.unschedulable);
        assert_eq!(node.spec.taints.len(), 2);
        assert_eq!(node.spec.taints[0].effect, TaintEffect::NoSchedule);
        assert_eq!(&*node.spec.taints[0].value, "gpu");
        assert_eq!(node.spec.taints[1].effect, TaintEffect::NoExecute);
        let allocatable = node.status.allocatable;
        assert_eq!(allocatable.cpu_millicores, Some(3800));
        assert_eq!(allocatable.memory_bytes, Some(15 << 30));
        assert_eq!(allocatable.pods, Some(110), "from capacity");
        assert_eq!(allocatable.ephemeral_storage_bytes, Some(100 << 30));
        assert_eq!(node.status.capacity.cpu_millicores, Some(4000));
        assert_eq!(
            node.status.extended_allocatable,
            vec![(s("nvidia.com/gpu"), 2)]
        );
        assert_eq!(
            node.status.images,
            vec![
                (s("registry.k8s.io/pause:3.9"), 322000),
                (s("registry.k8s.io/pause@sha256:abc"), 322000),
                (s("nginx:1.14.2"), 44_700_000),
            ]
        );
        assert!(node.is_ready());
        assert_eq!(&*node.status.internal_ip, "10.0.0.12");
    }

    #[test]
    fn node_taints_are_validated() {
        assert_edits_fail(
            NODE,
            &[
                (
                    "effect: NoSchedule",
                    "effect: Sometimes",
                    "spec.taints[0].effect: unsupported value \"Sometimes\"",
                ),
                (
                    "node.kubernetes.io/unreachable, effect: NoExecute",
                    "dedicated, effect: NoSchedule",
                    "spec.taints[1]: taints must be unique by key and effect pair",
                ),
            ],
        );
    }

    #[test]
    fn runtime_classes_and_runtime_class_names_convert_and_are_validated() {
        let text = "apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata:
  name: kata
handler: kata
overhead:
  podFixed:
    memory: 120Mi
    cpu: 250m
scheduling:
  nodeSelector:
    katacontainers.io/kata-runtime: \"true\"
  tolerations:
  - {key: kata, operator: Exists, effect: NoSchedule}
";
        let Object::RuntimeClass(class) = one(text) else {
            panic!("not a RuntimeClass")
        };
        assert_eq!(&*class.handler, "kata");
        assert_eq!(&*class.metadata.namespace, "");
        let overhead = class.overhead.expect("overhead");
        assert_eq!(overhead.cpu_millicores, Some(250));
        assert_eq!(overhead.memory_bytes, Some(120 << 20));
        let scheduling = class.scheduling.as_ref().expect("scheduling");
        assert_eq!(
            scheduling
                .node_selector
                .get("katacontainers.io/kata-runtime")
                .map(|v| &**v),
            Some("true")
        );
        assert_eq!(&*scheduling.tolerations[0].key, "kata");
        let error = error_of(&text.replace("handler: kata", "handler: Kata_QEMU"));
        assert!(
            error.starts_with("m.yaml:")
                && error.contains("w[0].handler")
                && error.contains("RFC 1123 label"),
            "{error}"
        );

        let pod = "apiVersion: v1
kind: Pod
metadata: {name: sandboxed}
spec:
  runtimeClassName: gvisor
  containers: [{name: c, image: nginx:1.25}]
";
        let Object::Pod(pod_object) = one(pod) else {
            panic!("a pod")
        };
        assert_eq!(
            pod_object.spec.runtime_class_name.as_deref(),
            Some("gvisor")
        );
        assert!(ingest_text(pod).unwrap()[0].notes.is_empty());
        let error = error_of(&pod.replace("runtimeClassName: gvisor", "runtimeClassName: GVisor!"));
        assert!(error.contains("w[0].spec.runtimeClassName"), "{error}");
    }

    #[test]
    fn priority_classes_convert_and_are_validated() {
        let text = "apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata:
  name: high-priority
value: 1000000
globalDefault: false
description: \"This priority class should be used for XYZ service pods only.\"
";
        let Object::PriorityClass(class) = one(text) else {
            panic!("not a PriorityClass")
        };
        assert_eq!(class.value, 1_000_000);
        assert!(!class.global_default);
        assert_eq!(
            class.preemption_policy,
            PreemptionPolicy::PreemptLowerPriority
        );
        assert_eq!(&*class.metadata.namespace, "");
        let error = error_of(&text.replace("value: 1000000", "value: 1000000001"));
        assert_eq!(
            error,
            "m.yaml:5:8: w[0].value: Forbidden: maximum allowed value of a user defined priority is 1000000000"
        );
        let error = error_of(&text.replace("name: high-priority", "name: system-mine"));
        assert!(
            error.contains("w[0].metadata.name: Forbidden: priority class names with 'system-' prefix are reserved"),
            "{error}"
        );
        let error = error_of(&text.replace("globalDefault: false", "preemptionPolicy: Sometimes"));
        assert!(
            error.contains("w[0].preemptionPolicy: unsupported value \"Sometimes\""),
            "{error}"
        );
    }

    const BUDGET: &str = "apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: zk-pdb
  namespace: db
spec:
  minAvailable: 2
  selector:
    matchLabels:
      app: zookeeper
status:
  disruptionsAllowed: 1
  currentHealthy: 3
  desiredHealthy: 2
  expectedPods: 3
";

    #[test]
    fn a_pod_disruption_budget_converts_with_its_status() {
        let Object::PodDisruptionBudget(budget) = one(BUDGET) else {
            panic!("not a PodDisruptionBudget")
        };
        assert_eq!(
            (&*budget.metadata.namespace, &*budget.metadata.name),
            ("db", "zk-pdb")
        );
        assert_eq!(budget.spec.min_available, Some(IntOrPercent::Int(2)));
        assert_eq!(budget.spec.max_unavailable, None);
        assert_eq!(
            budget.spec.selector,
            Some(LabelSelector::from_labels(Labels::from_pairs([(
                "app",
                "zookeeper"
            )])))
        );
        assert_eq!(
            budget.status,
            PodDisruptionBudgetStatus {
                observed_generation: 0,
                disruptions_allowed: 1,
                current_healthy: 3,
                desired_healthy: 2,
                expected_pods: 3,
                ..PodDisruptionBudgetStatus::default()
            }
        );
        // policy/v1 defaults neither field, and a budget without status allows nothing.
        let bare = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: any}\nspec:\n  maxUnavailable: 25%\n  selector: {}\n";
        let Object::PodDisruptionBudget(budget) = one(bare) else {
            panic!("not a PodDisruptionBudget")
        };
        assert_eq!(&*budget.metadata.namespace, "default");
        assert_eq!(budget.spec.max_unavailable, Some(IntOrPercent::Percent(25)));
        assert_eq!(budget.spec.min_available, None);
        assert_eq!(budget.spec.selector, Some(LabelSelector::default()));
        assert_eq!(budget.status.disruptions_allowed, 0);
    }

    #[test]
    fn a_budget_with_both_fields_is_refused_on_spec() {
        let error = error_of(&BUDGET.replace(
            "  minAvailable: 2\n",
            "  minAvailable: 2\n  maxUnavailable: 1\n",
        ));
        assert_eq!(
            error,
            "m.yaml:7:3: w[0].spec: minAvailable and maxUnavailable cannot be both set"
        );
    }

    #[test]
    fn budget_counts_and_status_are_validated_with_their_location() {
        assert_edits_fail(
            BUDGET,
            &[
                (
                    "minAvailable: 2",
                    "minAvailable: -1",
                    "m.yaml:7:17: w[0].spec.minAvailable: must be greater than or equal to 0, got -1",
                ),
                (
                    "minAvailable: 2",
                    "minAvailable: half",
                    "w[0].spec.minAvailable: \"half\": a valid percent string must be a numeric string followed by an ending '%'",
                ),
                (
                    "minAvailable: 2",
                    "minAvailable: 150%",
                    "w[0].spec.minAvailable: Invalid value: \"150%\": must not be greater than 100%",
                ),
                (
                    "disruptionsAllowed: 1",
                    "disruptionsAllowed: -1",
                    "m.yaml:12:23: w[0].status.disruptionsAllowed: must be greater than or equal to 0, got -1",
                ),
                (
                    "      app: zookeeper",
                    "      app: zookeeper\n    matchExpressions: [{key: tier, operator: Within}]",
                    "w[0].spec.selector.matchExpressions[0].operator: unsupported value \"Within\"",
                ),
            ],
        );
    }

    #[test]
    fn a_stream_of_nodes_pods_and_classes_ingests_in_order() {
        let text = format!(
            "{NODE}---\napiVersion: v1\nkind: Pod\nmetadata: {{name: bound}}\nspec:\n  nodeName: node-a\n  containers: [{{name: c, image: nginx:1.14.2}}]\n---\n{}---\n{SPREAD_POD}",
            "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: low}\nvalue: -10\n"
        );
        let manifests = ingest_stream(&text, "cluster.yaml").unwrap();
        let kinds: Vec<Kind> = manifests.iter().map(|m| m.object.kind()).collect();
        assert_eq!(
            kinds,
            [Kind::Node, Kind::Pod, Kind::PriorityClass, Kind::Pod]
        );
        let Object::Pod(bound) = &manifests[1].object else {
            panic!("a pod")
        };
        assert_eq!(bound.spec.node_name.as_deref(), Some("node-a"));
        let error = ingest_stream(&text.replace("maxSkew: 2", "maxSkew: -1"), "cluster.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("cluster.yaml:")
                && error.contains("spec.topologySpreadConstraints[1].maxSkew: Invalid value: -1: must be greater than zero"),
            "{error}"
        );
    }

    #[test]
    fn zero_surge_and_zero_unavailable_is_invalid() {
        let text = DEPLOYMENT.replace(
            "  selector:",
            "  strategy:\n    rollingUpdate: {maxSurge: 0, maxUnavailable: 0%}\n  selector:",
        );
        let error = ingest_text(&text).unwrap_err().to_string();
        assert!(
            error.contains("maxUnavailable: may not be 0 when `maxSurge` is 0"),
            "{error}"
        );
    }

    const JOB: &str = "apiVersion: batch/v1
kind: Job
metadata:
  name: pi
spec:
  completions: 5
  template:
    metadata:
      labels: {app: pi}
    spec:
      restartPolicy: Never
      containers:
      - name: pi
        image: perl:5.34.0
";

    #[test]
    fn a_job_converts_with_upstream_defaults() {
        let Object::Job(job) = one(JOB) else {
            panic!("not a Job")
        };
        assert_eq!(job.spec.parallelism, 1);
        assert_eq!(job.spec.completions, Some(5));
        assert_eq!(job.spec.backoff_limit, 6);
        assert_eq!(job.spec.completion_mode, api::CompletionMode::NonIndexed);
        assert_eq!(job.spec.active_deadline_seconds, None);
        assert!(!job.spec.suspend && !job.spec.manual_selector);
        // The API server generates the selector from the uid.
        assert!(job.spec.selector.is_empty());
        assert_eq!(job.spec.template.spec.restart_policy, RestartPolicy::Never);
        let noted =
            ingest_text(&JOB.replace("  completions: 5\n", "  ttlSecondsAfterFinished: 60\n"))
                .unwrap()
                .remove(0)
                .notes;
        assert_eq!(
            noted,
            ["job/default/pi: not modelled yet, so without effect: spec.ttlSecondsAfterFinished"]
        );
    }

    #[test]
    fn job_fields_are_validated_with_their_location() {
        assert_edits_fail(
            JOB,
            &[
                (
                    "      restartPolicy: Never\n",
                    "",
                    "w[0].spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"",
                ),
                (
                    "completions: 5",
                    "completions: -1",
                    "w[0].spec.completions: must be greater than or equal to 0, got -1",
                ),
                (
                    "completions: 5",
                    "completions: 5\n  completionMode: Sometimes",
                    "w[0].spec.completionMode: unsupported value \"Sometimes\"",
                ),
                (
                    "completions: 5",
                    "completionMode: Indexed",
                    "w[0].spec.completions: Required value: when completion mode is Indexed",
                ),
                (
                    "completions: 5",
                    "completions: 5\n  manualSelector: true",
                    "w[0].spec.selector: Required value",
                ),
                (
                    "completions: 5",
                    "completions: 5\n  manualSelector: true\n  selector: {matchLabels: {app: other}}",
                    "w[0].spec.template.metadata.labels: `selector` does not match template `labels`",
                ),
                (
                    "completions: 5",
                    "completions: 5\n  activeDeadlineSeconds: 0",
                    "w[0].spec.activeDeadlineSeconds: must be greater than 0, got 0",
                ),
            ],
        );
    }

    const DAEMON_SET: &str = "apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: kube-system
spec:
  selector:
    matchLabels: {name: agent}
  template:
    metadata:
      labels: {name: agent}
    spec:
      containers:
      - name: agent
        image: fluentd:v5
";

    #[test]
    fn a_daemon_set_takes_upstream_defaults() {
        let Object::DaemonSet(ds) = one(DAEMON_SET) else {
            panic!("not a DaemonSet")
        };
        assert_eq!(&*ds.metadata.namespace, "kube-system");
        assert_eq!(
            ds.spec.update_strategy,
            DaemonSetUpdateStrategy::RollingUpdate {
                max_unavailable: IntOrPercent::Int(1),
                max_surge: IntOrPercent::Int(0),
            }
        );
        assert_eq!(ds.spec.revision_history_limit, 10);
        assert_eq!(ds.spec.min_ready_seconds, 0);
        assert_eq!(ds.spec.template.spec.termination_grace_period_seconds, 30);
        let with = |strategy: &str| {
            let text = DAEMON_SET.replace(
                "  selector:",
                &format!("  updateStrategy: {strategy}\n  selector:"),
            );
            match one(&text) {
                Object::DaemonSet(ds) => ds.spec.update_strategy,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(with("{type: OnDelete}"), DaemonSetUpdateStrategy::OnDelete);
        assert_eq!(
            with("{rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}}"),
            DaemonSetUpdateStrategy::RollingUpdate {
                max_unavailable: IntOrPercent::Int(0),
                max_surge: IntOrPercent::Percent(25),
            }
        );
    }

    #[test]
    fn daemon_set_errors_name_the_field() {
        let strategy = "  selector:";
        assert_edits_fail(
            DAEMON_SET,
            &[
                (
                    strategy,
                    "  updateStrategy: {rollingUpdate: {maxSurge: 1}}\n  selector:",
                    "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable is non-zero",
                ),
                (
                    strategy,
                    "  updateStrategy: {rollingUpdate: {maxUnavailable: 0}}\n  selector:",
                    "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0",
                ),
                (
                    strategy,
                    "  updateStrategy: {rollingUpdate: {maxUnavailable: 120%}}\n  selector:",
                    "must not be greater than 100%",
                ),
                (
                    strategy,
                    "  updateStrategy: {type: OnDelete, rollingUpdate: {maxUnavailable: 2}}\n  selector:",
                    "spec.updateStrategy.rollingUpdate",
                ),
                (
                    strategy,
                    "  updateStrategy: {type: Recreate}\n  selector:",
                    "Unsupported value: \"Recreate\"",
                ),
                (
                    "      containers:",
                    "      restartPolicy: OnFailure\n      containers:",
                    "restartPolicy",
                ),
                (
                    "labels: {name: agent}",
                    "labels: {name: other}",
                    "`selector` does not match template `labels`",
                ),
            ],
        );
    }

    const HPA: &str = "apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: web
  minReplicas: 2
  maxReplicas: 10
  metrics:
  - type: Resource
    resource:
      name: cpu
      target:
        type: Utilization
        averageUtilization: 50
";

    #[test]
    fn an_hpa_is_ingested_with_upstream_defaults() {
        let Object::HorizontalPodAutoscaler(hpa) = one(HPA) else {
            panic!("not an HPA")
        };
        assert_eq!(hpa.spec.scale_target_ref.kind, Kind::Deployment);
        assert_eq!((hpa.spec.min_replicas, hpa.spec.max_replicas), (2, 10));
        assert_eq!(hpa.spec.target_cpu_utilization_percentage, 50);
        assert_eq!(hpa.spec.behavior, components::api::HpaBehavior::default());
        assert_eq!(
            hpa.spec.behavior.scale_down.stabilization_window_seconds,
            300
        );
        // No metrics: cpu at 80%; no minReplicas: 1.
        let bare = HPA
            .replace("  minReplicas: 2\n", "")
            .split("  metrics:")
            .next()
            .unwrap()
            .to_string();
        let Object::HorizontalPodAutoscaler(hpa) = one(&bare) else {
            panic!("not an HPA")
        };
        assert_eq!(hpa.spec.min_replicas, 1);
        assert_eq!(hpa.spec.target_cpu_utilization_percentage, 80);
        // A behavior given for one direction keeps the other's defaults and fills in
        // what it leaves out.
        let custom = format!(
            "{HPA}  behavior:\n    scaleDown:\n      policies:\n      - {{type: Pods, value: 1, periodSeconds: 60}}\n"
        );
        let Object::HorizontalPodAutoscaler(hpa) = one(&custom) else {
            panic!("not an HPA")
        };
        assert_eq!(
            hpa.spec.behavior.scale_down.stabilization_window_seconds,
            300
        );
        assert_eq!(hpa.spec.behavior.scale_down.policies.len(), 1);
        assert_eq!(
            hpa.spec.behavior.scale_up,
            components::api::ScalingRules::default_scale_up()
        );
    }

    #[test]
    fn an_autoscaling_v1_hpa_is_converted_to_v2() {
        let v1 = "apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: ReplicaSet, name: web}
  minReplicas: 3
  maxReplicas: 10
  targetCPUUtilizationPercentage: 50
";
        let Object::HorizontalPodAutoscaler(hpa) = one(v1) else {
            panic!("not an HPA")
        };
        assert_eq!(hpa.spec.scale_target_ref.kind, Kind::ReplicaSet);
        assert_eq!((hpa.spec.min_replicas, hpa.spec.max_replicas), (3, 10));
        assert_eq!(hpa.spec.target_cpu_utilization_percentage, 50);
        assert_eq!(hpa.spec.behavior, components::api::HpaBehavior::default());
        // Without a target, v2's default of 80% applies.
        let Object::HorizontalPodAutoscaler(hpa) =
            one(&v1.replace("  targetCPUUtilizationPercentage: 50\n", ""))
        else {
            panic!("not an HPA")
        };
        assert_eq!(hpa.spec.target_cpu_utilization_percentage, 80);
    }

    #[test]
    fn hpa_errors_name_their_field() {
        assert_edits_fail(
            HPA,
            &[
                (
                    "minReplicas: 2",
                    "minReplicas: 0",
                    "w[0].spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
                ),
                (
                    "maxReplicas: 10",
                    "maxReplicas: 1",
                    "w[0].spec.maxReplicas: Invalid value: 1: must be greater than or equal to `minReplicas`",
                ),
                (
                    "averageUtilization: 50",
                    "averageUtilization: 0",
                    "w[0].spec.metrics[0].resource.target.averageUtilization: Invalid value: 0: must be greater than 0",
                ),
                (
                    "type: Utilization",
                    "type: AverageValue",
                    "w[0].spec.metrics[0].resource.target.type: unsupported target type",
                ),
                (
                    "kind: Deployment",
                    "kind: DaemonSet",
                    "w[0].spec.scaleTargetRef.kind: unsupported target kind \"DaemonSet\"",
                ),
                (
                    "name: cpu",
                    "name: memory",
                    "w[0].spec.metrics: no cpu Resource metric with a Utilization target",
                ),
                (
                    "apiVersion: autoscaling/v2",
                    "apiVersion: autoscaling/v3",
                    "unsupported apiVersion \"autoscaling/v3\" for kind HorizontalPodAutoscaler (use autoscaling/v2)",
                ),
            ],
        );
    }

    const OWNED_POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: owned
  finalizers: [example.com/keep]
  ownerReferences:
  - apiVersion: apps/v1
    kind: ReplicaSet
    name: web-abc
    uid: d9607e19-f88f-11e6-a518-42010a800195
    controller: true
    blockOwnerDeletion: true
spec:
  containers:
  - name: app
    image: nginx:1.14.2
";

    #[test]
    fn finalizers_and_owner_references_are_read() {
        let Object::Pod(pod) = one(OWNED_POD) else {
            panic!("not a pod")
        };
        assert_eq!(pod.metadata.finalizers, [s("example.com/keep")]);
        let owner = pod
            .metadata
            .controller_ref()
            .expect("a controller reference");
        assert_eq!((owner.kind, &*owner.name), (Kind::ReplicaSet, "web-abc"));
        assert!(owner.block_owner_deletion);
        assert_eq!(
            owner.uid,
            manifest_uid("d9607e19-f88f-11e6-a518-42010a800195")
        );
        assert_ne!(owner.uid, manifest_uid("another"));
    }

    #[test]
    fn owner_reference_errors_name_the_field() {
        assert_edits_fail(
            OWNED_POD,
            &[
                (
                    "kind: ReplicaSet",
                    "kind: CronJob",
                    "metadata.ownerReferences[0].kind",
                ),
                (
                    "uid: d9607e19-f88f-11e6-a518-42010a800195",
                    "uid: \"\"",
                    "metadata.ownerReferences[0].uid",
                ),
                (
                    "    blockOwnerDeletion: true\n",
                    "    blockOwnerDeletion: true\n  - {apiVersion: apps/v1, kind: Deployment, name: web, uid: x, controller: true}\n",
                    "Only one reference can have Controller set to true",
                ),
                (
                    "finalizers: [example.com/keep]",
                    "finalizers: [\"\"]",
                    "metadata.finalizers[0]",
                ),
            ],
        );
    }

    const HOOKS_POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: hooks
spec:
  terminationGracePeriodSeconds: 20
  initContainers:
  - name: proxy
    image: proxy:1
    restartPolicy: Always
    lifecycle:
      postStart:
        httpGet: {port: 8080}
  containers:
  - name: web
    image: web:1
    lifecycle:
      postStart:
        exec: {command: [/bin/sh, -c, warm-up]}
      preStop:
        sleep: {seconds: 15}
";

    #[test]
    fn lifecycle_hooks_are_ingested_with_their_handlers() {
        let pod = pod_of(HOOKS_POD);
        let web = pod.spec.containers[0].lifecycle.as_deref().expect("hooks");
        assert_eq!(
            web.post_start,
            Some(LifecycleHandler::Exec {
                command: Rc::from(vec![s("/bin/sh"), s("-c"), s("warm-up")])
            })
        );
        assert_eq!(web.pre_stop, Some(LifecycleHandler::Sleep { seconds: 15 }));
        let proxy = pod.spec.init_containers[0]
            .lifecycle
            .as_deref()
            .expect("hooks");
        assert_eq!(
            proxy.post_start,
            Some(LifecycleHandler::HttpGet {
                path: s("/"),
                port: s("8080")
            }),
            "the path defaults to /"
        );
        assert!(ingest_text(HOOKS_POD).unwrap()[0].notes.is_empty());
    }

    #[test]
    fn lifecycle_hooks_are_validated_as_the_api_server_does() {
        assert_edits_fail(
            HOOKS_POD,
            &[
                (
                    "sleep: {seconds: 15}",
                    "sleep: {seconds: 25}",
                    "spec.containers[0].lifecycle.preStop.sleep.seconds: Invalid value: 25: must be non-negative and less than terminationGracePeriodSeconds (20)",
                ),
                (
                    "sleep: {seconds: 15}",
                    "sleep: {seconds: -1}",
                    "spec.containers[0].lifecycle.preStop.sleep.seconds: Invalid value: -1: must be non-negative",
                ),
                (
                    "sleep: {seconds: 15}",
                    "{}",
                    "spec.containers[0].lifecycle.preStop: Required value: must specify a handler type",
                ),
                (
                    "sleep: {seconds: 15}",
                    "sleep: {seconds: 1}\n        exec: {command: [x]}",
                    "spec.containers[0].lifecycle.preStop: Forbidden: may not specify more than 1 handler type",
                ),
                (
                    "exec: {command: [/bin/sh, -c, warm-up]}",
                    "exec: {command: []}",
                    "spec.containers[0].lifecycle.postStart.exec.command: Required value",
                ),
                (
                    "httpGet: {port: 8080}",
                    "httpGet: {port: 70000}",
                    "spec.initContainers[0].lifecycle.postStart.httpGet.port",
                ),
                (
                    "    restartPolicy: Always\n",
                    "",
                    "spec.initContainers[0].lifecycle: Forbidden: may not be set for init containers without restartPolicy=Always",
                ),
            ],
        );
    }
}
