//! The EndpointSlice controller (`pkg/controller/endpointslice`): for every Service with
//! a selector, the addresses of the pods it selects, in slices of at most
//! `max_endpoints_per_slice`, written only when they change.
//!
//! [`reconcile_slices`] keeps endpoints in the slice they already are in (changing as
//! few slices as it can), fills slices being rewritten anyway before creating new ones,
//! turns a create plus a delete into one update, and leaves an empty placeholder slice
//! for a Service with no endpoints, as upstream's reconciler does. The [`SliceTracker`]
//! remembers what the controller wrote until the informer shows it, so a sync never
//! acts on a stale cache (upstream's `EndpointSliceTracker`).

use std::collections::BTreeMap;
use std::rc::Rc;

use sim_core::{Context, FxIndexMap};

use super::index::{MultiIndex, NsName};
use super::{ControllerManager, Pending, WorkKey, ns_name};
use crate::api::{
    ApiOk, ApiResponse, ApiVerb, Endpoint, EndpointConditions, EndpointPort, EndpointSlice, Kind,
    LABEL_MANAGED_BY, LABEL_SERVICE_NAME, Labels, Object, ObjectMeta, OwnerReference, Pod,
    PodPhase, Resource, Service, Str, TargetPort, s,
};
use crate::client::Delta;
use crate::msg::Msg;

/// The `endpointslice.kubernetes.io/managed-by` value of this controller's slices.
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";

/// The endpoint a pod contributes, if any (`ShouldPodBeInEndpoints` with terminating
/// pods included): none for finished pods or pods without an IP.
pub fn pod_endpoint(pod: &Pod) -> Option<Endpoint> {
    if matches!(pod.status.phase, PodPhase::Succeeded | PodPhase::Failed) {
        return None;
    }
    let address = pod.status.pod_ip.clone()?;
    let terminating = pod.metadata.is_terminating();
    let serving = pod.is_ready();
    Some(Endpoint {
        address,
        conditions: EndpointConditions {
            ready: serving && !terminating,
            serving,
            terminating,
        },
        node_name: pod.spec.node_name.clone(),
        target_pod: pod.metadata.name.clone(),
    })
}

/// The Service's ports as this pod serves them: numeric target ports as they are, named
/// ones through the pod's container ports (a name the pod lacks leaves the port out).
pub fn endpoint_ports(service: &Service, pod: &Pod) -> Vec<EndpointPort> {
    service
        .spec
        .ports
        .iter()
        .filter_map(|service_port| {
            let port = match &service_port.target_port {
                TargetPort::Number(number) => Some(*number),
                TargetPort::Name(name) => pod
                    .spec
                    .containers
                    .iter()
                    .flat_map(|container| container.ports.iter())
                    .find(|p| p.name.as_ref() == Some(name) && p.protocol == service_port.protocol)
                    .map(|p| p.container_port),
            }?;
            Some(EndpointPort {
                name: service_port.name.clone(),
                port,
                protocol: service_port.protocol,
            })
        })
        .collect()
}

/// Endpoints that share one port mapping, sorted by pod name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointGroup {
    pub ports: Vec<EndpointPort>,
    pub endpoints: Vec<Endpoint>,
}

/// Groups the selected pods' endpoints by their port mapping.
pub fn desired_endpoints<'a>(
    service: &Service,
    pods: impl IntoIterator<Item = &'a Rc<Pod>>,
) -> Vec<EndpointGroup> {
    let mut groups: Vec<EndpointGroup> = Vec::new();
    for pod in pods {
        let Some(endpoint) = pod_endpoint(pod) else {
            continue;
        };
        let ports = endpoint_ports(service, pod);
        match groups.iter_mut().find(|group| group.ports == ports) {
            Some(group) => group.endpoints.push(endpoint),
            None => groups.push(EndpointGroup {
                ports,
                endpoints: vec![endpoint],
            }),
        }
    }
    for group in &mut groups {
        group
            .endpoints
            .sort_by(|a, b| a.target_pod.cmp(&b.target_pod));
    }
    groups
}

/// What to write for one Service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlicePlan {
    pub create: Vec<EndpointGroup>,
    /// An existing slice and its new contents.
    pub update: Vec<(Rc<EndpointSlice>, EndpointGroup)>,
    pub delete: Vec<Rc<EndpointSlice>>,
}

impl SlicePlan {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// `reconcileByAddressType`, simplified: see the module comment.
pub fn reconcile_slices(
    desired: &[EndpointGroup],
    existing: &[Rc<EndpointSlice>],
    max_per_slice: usize,
) -> SlicePlan {
    assert!(max_per_slice > 0);
    let mut plan = SlicePlan::default();
    let mut to_delete: Vec<Rc<EndpointSlice>> = Vec::new();
    let mut unchanged_count = 0;
    for group in desired {
        let wanted: FxIndexMap<&str, &Endpoint> = group
            .endpoints
            .iter()
            .map(|endpoint| (&*endpoint.target_pod, endpoint))
            .collect();
        let mut placed: FxIndexMap<&str, ()> = FxIndexMap::default();
        let mut updates: Vec<(Rc<EndpointSlice>, Vec<Endpoint>)> = Vec::new();
        let mut unchanged: Vec<Rc<EndpointSlice>> = Vec::new();
        for slice in existing.iter().filter(|slice| slice.ports == group.ports) {
            let mut kept = Vec::new();
            for endpoint in &slice.endpoints {
                if let Some(&want) = wanted.get(&*endpoint.target_pod)
                    && placed.insert(&*endpoint.target_pod, ()).is_none()
                {
                    kept.push(want.clone());
                }
            }
            if kept.is_empty() {
                to_delete.push(slice.clone());
            } else if kept != slice.endpoints {
                updates.push((slice.clone(), kept));
            } else {
                unchanged.push(slice.clone());
            }
        }
        let mut remaining: std::collections::VecDeque<Endpoint> = group
            .endpoints
            .iter()
            .filter(|endpoint| !placed.contains_key(&*endpoint.target_pod))
            .cloned()
            .collect();
        // Slices rewritten anyway take new endpoints first.
        for (_, endpoints) in &mut updates {
            while endpoints.len() < max_per_slice
                && let Some(endpoint) = remaining.pop_front()
            {
                endpoints.push(endpoint);
            }
        }
        // Then one unchanged slice, if all the rest fits into it.
        if !remaining.is_empty()
            && let Some(position) = unchanged
                .iter()
                .position(|slice| slice.endpoints.len() + remaining.len() <= max_per_slice)
        {
            let slice = unchanged.remove(position);
            let mut endpoints = slice.endpoints.clone();
            endpoints.extend(remaining.drain(..));
            updates.push((slice, endpoints));
        }
        let remaining: Vec<Endpoint> = remaining.into_iter().collect();
        for chunk in remaining.chunks(max_per_slice) {
            plan.create.push(EndpointGroup {
                ports: group.ports.clone(),
                endpoints: chunk.to_vec(),
            });
        }
        unchanged_count += unchanged.len();
        plan.update
            .extend(updates.into_iter().map(|(slice, endpoints)| {
                (
                    slice,
                    EndpointGroup {
                        ports: group.ports.clone(),
                        endpoints,
                    },
                )
            }));
    }
    // Slices whose port mapping no pod has any more.
    for slice in existing {
        if !desired.iter().any(|group| group.ports == slice.ports) {
            to_delete.push(slice.clone());
        }
    }
    // A create and a delete make one update.
    while !plan.create.is_empty() && !to_delete.is_empty() {
        let group = plan.create.pop().expect("checked");
        let slice = to_delete.pop().expect("checked");
        plan.update.push((slice, group));
    }
    // A Service without endpoints keeps one empty placeholder slice.
    let remaining_slices = plan.create.len() + plan.update.len() + unchanged_count;
    if remaining_slices == 0 {
        let placeholder = EndpointGroup {
            ports: Vec::new(),
            endpoints: Vec::new(),
        };
        match to_delete
            .iter()
            .position(|slice| slice.endpoints.is_empty() && slice.ports.is_empty())
        {
            Some(position) => {
                to_delete.remove(position);
            }
            None => match to_delete.pop() {
                Some(slice) => plan.update.push((slice, placeholder)),
                None => plan.create.push(placeholder),
            },
        }
    }
    plan.delete = to_delete;
    plan
}

/// A new slice of `service` (its name is generated by the API server).
pub fn new_slice(service: &Service, group: EndpointGroup) -> EndpointSlice {
    let mut metadata = ObjectMeta::named(&service.metadata.namespace, "");
    metadata.generate_name = s(&format!("{}-", service.metadata.name));
    metadata.labels = Labels::from_pairs([
        (LABEL_SERVICE_NAME, &*service.metadata.name),
        (LABEL_MANAGED_BY, MANAGED_BY),
    ]);
    metadata.owner_references = vec![OwnerReference {
        kind: Kind::Service,
        name: service.metadata.name.clone(),
        uid: service.metadata.uid,
        controller: true,
        block_owner_deletion: true,
    }];
    EndpointSlice {
        metadata,
        endpoints: group.endpoints,
        ports: group.ports,
    }
}

/// The Service a slice belongs to, if this controller manages it.
fn managed_service(slice: &EndpointSlice) -> Option<NsName> {
    let labels = &slice.metadata.labels;
    if labels.get(LABEL_MANAGED_BY).map(|v| &**v) != Some(MANAGED_BY) {
        return None;
    }
    let service = labels.get(LABEL_SERVICE_NAME)?;
    Some(ns_name(&slice.metadata.namespace, service))
}

/// Services by the selector pair they are filed under (the first of their selector), so
/// a pod finds the Services that may select it from its own labels.
#[derive(Debug, Default)]
pub struct ServiceIndex {
    by_label: MultiIndex<(Str, Str, Str), Str>,
    /// Services with an empty selector: they select every pod of the namespace.
    select_all: MultiIndex<Str, Str>,
}

impl ServiceIndex {
    pub fn clear(&mut self) {
        *self = ServiceIndex::default();
    }

    /// No Service with a selector exists.
    pub fn is_empty(&self) -> bool {
        self.by_label.is_empty() && self.select_all.is_empty()
    }

    fn file(&mut self, service: &Service, present: bool) {
        let Some(selector) = &service.spec.selector else {
            return;
        };
        let namespace = &service.metadata.namespace;
        let name = service.metadata.name.clone();
        match selector.iter().next() {
            Some((key, value)) => {
                let triple = (namespace.clone(), key.clone(), value.clone());
                if present {
                    self.by_label.insert(triple, name);
                } else {
                    self.by_label.remove(&triple, &name);
                }
            }
            None => {
                if present {
                    self.select_all.insert(namespace.clone(), name);
                } else {
                    self.select_all.remove(namespace, &name);
                }
            }
        }
    }

    /// Names of Services in the pod's namespace that may select it (check the selector).
    fn candidates(&self, pod: &Pod) -> Vec<Str> {
        let namespace = &pod.metadata.namespace;
        let mut names: Vec<Str> = self.select_all.get(namespace).cloned().collect();
        for (key, value) in pod.metadata.labels.iter() {
            let triple = (namespace.clone(), key.clone(), value.clone());
            names.extend(self.by_label.get(&triple).cloned());
        }
        names
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// The slice exists at least at this resourceVersion.
    Present(u64),
    Deleted,
}

/// What the controller wrote and the informer has not shown yet, per Service.
#[derive(Debug, Default)]
pub struct SliceTracker {
    by_service: MultiIndex<NsName, Str>,
    in_flight: FxIndexMap<NsName, u32>,
    expected: FxIndexMap<NsName, BTreeMap<Str, Expect>>,
}

impl SliceTracker {
    pub fn clear(&mut self) {
        *self = SliceTracker::default();
    }

    /// The cache may not show this Service's slices as the controller left them.
    fn stale(&self, service: &NsName) -> bool {
        self.in_flight.get(service).is_some_and(|&n| n > 0) || self.expected.contains_key(service)
    }

    /// An informer change: true when it was not one the controller expected (someone
    /// else changed the slice, so the Service needs a sync).
    fn observe(&mut self, service: &NsName, slice: &str, present: Option<u64>) -> bool {
        let Some(expected) = self.expected.get_mut(service) else {
            return true;
        };
        let met = match (expected.get(slice), present) {
            (Some(Expect::Present(rv)), Some(seen)) => seen >= *rv,
            (Some(Expect::Deleted), None) => true,
            (Some(_), _) => false,
            (None, _) => return true,
        };
        if met {
            expected.remove(slice);
            if expected.is_empty() {
                self.expected.swap_remove(service);
            }
            false
        } else {
            // The slice went another way than written: forget it and resync.
            expected.remove(slice);
            if expected.is_empty() {
                self.expected.swap_remove(service);
            }
            true
        }
    }
}

fn service_name(key: &NsName) -> String {
    format!("{}/{}", key.0, key.1)
}

/// Whether a pod change can change its endpoint in some Service.
fn endpoint_relevant(old: &Pod, new: &Pod) -> bool {
    let finished = |pod: &Pod| matches!(pod.status.phase, PodPhase::Succeeded | PodPhase::Failed);
    old.metadata.labels != new.metadata.labels
        || old.status.pod_ip != new.status.pod_ip
        || old.is_ready() != new.is_ready()
        || old.metadata.is_terminating() != new.metadata.is_terminating()
        || old.spec.node_name != new.spec.node_name
        || finished(old) != finished(new)
        || !Rc::ptr_eq(&old.spec.containers, &new.spec.containers)
}

impl ControllerManager {
    pub(super) fn on_service_delta(&mut self, delta: Delta<Service>, cx: &mut Context<'_, Msg>) {
        match &delta {
            Delta::Added(service) => self.services.file(service, true),
            Delta::Updated { old, new } => {
                self.services.file(old, false);
                self.services.file(new, true);
            }
            Delta::Deleted(service) => self.services.file(service, false),
        }
        let service = delta.object();
        let key = ns_name(&service.metadata.namespace, &service.metadata.name);
        self.enqueue(WorkKey::Service(key), cx);
    }

    pub(super) fn on_slice_delta(
        &mut self,
        delta: Delta<EndpointSlice>,
        cx: &mut Context<'_, Msg>,
    ) {
        let slice = delta.object();
        let Some(service) = managed_service(slice) else {
            return;
        };
        let name = slice.metadata.name.clone();
        let present = match &delta {
            Delta::Deleted(_) => {
                self.slices.by_service.remove(&service, &name);
                None
            }
            Delta::Added(_) | Delta::Updated { .. } => {
                self.slices.by_service.insert(service.clone(), name.clone());
                Some(slice.metadata.resource_version)
            }
        };
        let was_stale = self.slices.stale(&service);
        let unexpected = self.slices.observe(&service, &name, present);
        if unexpected || (was_stale && !self.slices.stale(&service)) {
            self.enqueue(WorkKey::Service(service), cx);
        }
    }

    /// Wakes the Services whose endpoints a pod change may alter.
    pub(super) fn endpoints_on_pod(
        &mut self,
        old: Option<&Rc<Pod>>,
        new: Option<&Rc<Pod>>,
        cx: &mut Context<'_, Msg>,
    ) {
        if self.services.is_empty() {
            return;
        }
        if let (Some(old), Some(new)) = (old, new)
            && !endpoint_relevant(old, new)
        {
            return;
        }
        let mut services: Vec<NsName> = Vec::new();
        for pod in [old, new].into_iter().flatten() {
            for name in self.services.candidates(pod) {
                let namespace = &pod.metadata.namespace;
                let selects = self
                    .informers
                    .services
                    .get(namespace, &name)
                    .and_then(|service| service.spec.selector.as_ref())
                    .is_some_and(|selector| pod.metadata.labels.contains_all(selector));
                let key = ns_name(namespace, &name);
                if selects && !services.contains(&key) {
                    services.push(key);
                }
            }
        }
        for key in services {
            self.enqueue(WorkKey::Service(key), cx);
        }
    }

    pub(super) fn sync_service(&mut self, key: &NsName, cx: &mut Context<'_, Msg>) {
        if self.slices.stale(key) {
            // The reply or watch event that clears it queues the Service again.
            return;
        }
        let existing: Vec<Rc<EndpointSlice>> = self
            .slices
            .by_service
            .get(key)
            .filter_map(|name| self.informers.endpointslices.get(&key.0, name))
            .cloned()
            .collect();
        let service = self.informers.services.get(&key.0, &key.1).cloned();
        let Some(selector) = service.as_ref().and_then(|s| s.spec.selector.clone()) else {
            // Service gone (or no longer selecting): its slices go, as the garbage
            // collector would remove them with their owner.
            for slice in existing {
                self.delete_slice(key, &slice, cx);
            }
            return;
        };
        let service = service.expect("checked above");
        let pods = self.pods.selected(&key.0, &selector);
        let desired = desired_endpoints(&service, pods);
        let plan = reconcile_slices(&desired, &existing, self.config.max_endpoints_per_slice);
        if plan.is_empty() {
            return;
        }
        let total: usize = desired.iter().map(|g| g.endpoints.len()).sum();
        let ready: usize = desired
            .iter()
            .flat_map(|g| g.endpoints.iter())
            .filter(|e| e.conditions.ready)
            .count();
        let (created, updated, deleted) = (plan.create.len(), plan.update.len(), plan.delete.len());
        cx.record("step", || {
            format!(
                "service {}: {total} endpoints ({ready} ready); endpointslices: {created} created, {updated} updated, {deleted} deleted",
                service_name(key)
            )
        });
        for group in plan.create {
            let slice = new_slice(&service, group);
            self.write_slice(key, ApiVerb::Create(Object::from(slice)), None, cx);
        }
        for (slice, group) in plan.update {
            let mut updated = (*slice).clone();
            updated.ports = group.ports;
            updated.endpoints = group.endpoints;
            self.write_slice(
                key,
                ApiVerb::Update(Object::from(updated)),
                Some(slice.metadata.name.clone()),
                cx,
            );
        }
        for slice in plan.delete {
            self.delete_slice(key, &slice, cx);
        }
    }

    fn delete_slice(&mut self, service: &NsName, slice: &EndpointSlice, cx: &mut Context<'_, Msg>) {
        self.write_slice(
            service,
            ApiVerb::Delete {
                key: slice.key(),
                grace_period_seconds: None,
                uid_precondition: slice.metadata.uid,
                propagation_policy: None,
            },
            Some(slice.metadata.name.clone()),
            cx,
        );
    }

    fn write_slice(
        &mut self,
        service: &NsName,
        verb: ApiVerb,
        slice: Option<Str>,
        cx: &mut Context<'_, Msg>,
    ) {
        self.stats.slice_writes += 1;
        *self.slices.in_flight.entry(service.clone()).or_default() += 1;
        let id = self.api.send(cx, verb);
        self.pending.insert(
            id,
            Pending::SliceWrite {
                service: service.clone(),
                slice,
            },
        );
    }

    pub(super) fn on_slice_write(
        &mut self,
        service: &NsName,
        slice: Option<Str>,
        response: &ApiResponse,
        cx: &mut Context<'_, Msg>,
    ) {
        let in_flight = self
            .slices
            .in_flight
            .get_mut(service)
            .expect("a slice write in flight");
        *in_flight -= 1;
        if *in_flight == 0 {
            self.slices.in_flight.swap_remove(service);
        }
        let expect = match &response.result {
            Ok(ApiOk::Object(Object::EndpointSlice(written))) => Some((
                written.metadata.name.clone(),
                Expect::Present(written.metadata.resource_version),
            )),
            Ok(ApiOk::Deleted) => slice.map(|name| (name, Expect::Deleted)),
            Ok(_) => None,
            Err(error) => {
                let (code, message) = (error.reason.code(), error.message.clone());
                cx.record("detail", || {
                    format!(
                        "service {}: endpointslice write failed: {code} {message}; retrying",
                        service_name(service)
                    )
                });
                self.retry(WorkKey::Service(service.clone()), cx);
                None
            }
        };
        if let Some((name, expect)) = expect {
            // Already shown by the informer? Then nothing is pending for it.
            let seen = self
                .informers
                .endpointslices
                .get(&service.0, &name)
                .map(|slice| slice.metadata.resource_version);
            let met = match expect {
                Expect::Present(rv) => seen.is_some_and(|seen| seen >= rv),
                Expect::Deleted => seen.is_none(),
            };
            if !met {
                self.slices
                    .expected
                    .entry(service.clone())
                    .or_default()
                    .insert(name, expect);
            }
        }
        if !self.slices.stale(service) {
            self.enqueue(WorkKey::Service(service.clone()), cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        ConditionStatus, ContainerPort, Protocol, ServicePort, ServiceSpec, ServiceType,
    };
    use crate::scheduler::plugins::tests::pod_with;

    fn service(ports: Vec<ServicePort>) -> Service {
        let mut metadata = ObjectMeta::named("default", "web");
        metadata.uid = 9;
        Service {
            metadata,
            spec: ServiceSpec {
                selector: Some(Labels::from_pairs([("app", "web")])),
                ports,
                cluster_ip: None,
                type_: ServiceType::ClusterIP,
            },
        }
    }

    fn http(target: TargetPort) -> ServicePort {
        ServicePort {
            name: Some(s("http")),
            protocol: Protocol::Tcp,
            port: 80,
            target_port: target,
        }
    }

    fn pod(index: usize, ready: bool) -> Rc<Pod> {
        let mut container = crate::api::Container {
            name: s("web"),
            image: s("nginx"),
            image_pull_policy: Default::default(),
            resources: Default::default(),
            ports: vec![ContainerPort {
                name: Some(s("web")),
                container_port: 8080,
                protocol: Protocol::Tcp,
                host_port: None,
                host_ip: None,
            }],
            ..Default::default()
        };
        container.name = s("web");
        let mut pod = pod_with(vec![container], vec![]);
        pod.metadata.name = s(&format!("web-{index:03}"));
        pod.metadata.labels = Labels::from_pairs([("app", "web")]);
        pod.spec.node_name = Some(s("node-1"));
        pod.status.pod_ip = Some(s(&format!("10.244.0.{index}")));
        pod.status.ready = ConditionStatus::from_bool(ready);
        Rc::new(pod)
    }

    #[test]
    fn endpoint_conditions_follow_readiness_and_termination() {
        let ready = pod_endpoint(&pod(1, true)).unwrap();
        assert_eq!(
            ready.conditions,
            EndpointConditions {
                ready: true,
                serving: true,
                terminating: false
            }
        );
        let mut terminating = (*pod(2, true)).clone();
        terminating.metadata.deletion_timestamp = Some(sim_core::SimTime::ZERO);
        assert_eq!(
            pod_endpoint(&terminating).unwrap().conditions,
            EndpointConditions {
                ready: false,
                serving: true,
                terminating: true
            }
        );
        let mut no_ip = (*pod(3, true)).clone();
        no_ip.status.pod_ip = None;
        assert!(pod_endpoint(&no_ip).is_none());
        let mut done = (*pod(4, true)).clone();
        done.status.phase = PodPhase::Succeeded;
        assert!(pod_endpoint(&done).is_none());
    }

    #[test]
    fn named_target_ports_resolve_through_container_ports() {
        let svc = service(vec![
            http(TargetPort::Name(s("web"))),
            ServicePort {
                name: Some(s("metrics")),
                protocol: Protocol::Tcp,
                port: 9090,
                target_port: TargetPort::Name(s("missing")),
            },
            ServicePort {
                name: Some(s("raw")),
                protocol: Protocol::Tcp,
                port: 81,
                target_port: TargetPort::Number(8081),
            },
        ]);
        let ports = endpoint_ports(&svc, &pod(1, true));
        assert_eq!(
            ports,
            vec![
                EndpointPort {
                    name: Some(s("http")),
                    port: 8080,
                    protocol: Protocol::Tcp
                },
                EndpointPort {
                    name: Some(s("raw")),
                    port: 8081,
                    protocol: Protocol::Tcp
                },
            ]
        );
    }

    fn slice(name: &str, group: &EndpointGroup) -> Rc<EndpointSlice> {
        let mut s = new_slice(&service(vec![]), group.clone());
        s.metadata.name = crate::api::s(name);
        Rc::new(s)
    }

    #[test]
    fn endpoints_are_sliced_at_the_maximum() {
        let svc = service(vec![http(TargetPort::Number(8080))]);
        let pods: Vec<Rc<Pod>> = (0..250).map(|i| pod(i, true)).collect();
        let desired = desired_endpoints(&svc, &pods);
        assert_eq!(desired.len(), 1);
        let plan = reconcile_slices(&desired, &[], 100);
        let sizes: Vec<usize> = plan.create.iter().map(|g| g.endpoints.len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        assert!(plan.update.is_empty() && plan.delete.is_empty());
        let made = new_slice(&svc, plan.create[0].clone());
        assert_eq!(&*made.metadata.generate_name, "web-");
        assert_eq!(
            made.metadata.labels.get(LABEL_SERVICE_NAME).map(|v| &**v),
            Some("web")
        );
        assert_eq!(
            made.metadata.labels.get(LABEL_MANAGED_BY).map(|v| &**v),
            Some(MANAGED_BY)
        );
        let owner = made.metadata.controller_ref().unwrap();
        assert_eq!((owner.kind, owner.uid), (Kind::Service, 9));
    }

    #[test]
    fn unchanged_endpoints_write_nothing_and_changes_touch_one_slice() {
        let svc = service(vec![http(TargetPort::Number(8080))]);
        let pods: Vec<Rc<Pod>> = (0..150).map(|i| pod(i, true)).collect();
        let desired = desired_endpoints(&svc, &pods);
        let created = reconcile_slices(&desired, &[], 100);
        let existing: Vec<Rc<EndpointSlice>> = created
            .create
            .iter()
            .enumerate()
            .map(|(i, g)| slice(&format!("web-{i}"), g))
            .collect();
        assert!(reconcile_slices(&desired, &existing, 100).is_empty());
        // One pod stops being ready: only its slice is rewritten.
        let mut changed = pods.clone();
        changed[120] = pod(120, false);
        let plan = reconcile_slices(&desired_endpoints(&svc, &changed), &existing, 100);
        assert_eq!(plan.update.len(), 1);
        assert_eq!(&*plan.update[0].0.metadata.name, "web-1");
        assert!(plan.create.is_empty() && plan.delete.is_empty());
        // A new pod joins the slice with room.
        let mut grown = pods.clone();
        grown.push(pod(200, true));
        let plan = reconcile_slices(&desired_endpoints(&svc, &grown), &existing, 100);
        assert_eq!(plan.update.len(), 1);
        assert_eq!(plan.update[0].1.endpoints.len(), 51);
    }

    #[test]
    fn a_service_without_endpoints_keeps_one_placeholder() {
        let plan = reconcile_slices(&[], &[], 100);
        assert_eq!(plan.create.len(), 1);
        assert!(plan.create[0].endpoints.is_empty());
        // Its last pods gone: the slice is emptied in place rather than deleted.
        let svc = service(vec![http(TargetPort::Number(8080))]);
        let desired = desired_endpoints(&svc, &[pod(1, true)]);
        let existing = vec![slice("web-a", &desired[0])];
        let plan = reconcile_slices(&[], &existing, 100);
        assert_eq!(plan.update.len(), 1);
        assert!(plan.update[0].1.endpoints.is_empty() && plan.update[0].1.ports.is_empty());
        assert!(plan.delete.is_empty() && plan.create.is_empty());
    }
}
