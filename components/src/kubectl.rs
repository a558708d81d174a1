//! kubectl: a client that carries out the scenario's actions through the API server, the
//! way the real kubectl does (create, or get and update on "already exists"; get, change
//! and update for scale, set image and rollout pause/resume, retrying on 409 Conflict;
//! rollout undo reads the Deployment's ReplicaSets and writes the chosen revision's pod
//! template back into the Deployment, as apps/v1 has no server-side rollback).

use std::collections::BTreeMap;
use std::rc::Rc;

use sim_core::{Actor, ActorId, Context, Event, TraceHasher};

use crate::api::{
    ApiOk, ApiResponse, ApiVerb, Deployment, FieldSelector, Kind, LABEL_POD_TEMPLATE_HASH,
    ListResourceVersion, Object, ObjectKey, PropagationPolicy, ReplicaSet, RequestId, StatusReason,
    Str,
};
use crate::client::ApiClient;
use crate::controllers::deployment::{REVISION_ANNOTATION, templates_equal_ignoring_hash};
use crate::msg::{Fingerprint, Msg};

mod drain;

pub use drain::{DrainOptions, DrainTick};

/// What a user does with kubectl.
#[derive(Clone, Debug)]
pub enum Action {
    /// `kubectl cordon NODE`.
    Cordon { node: Str },
    /// `kubectl uncordon NODE`.
    Uncordon { node: Str },
    /// `kubectl drain NODE [flags]`: cordon, then evict the node's pods (kubectl/drain.rs).
    Drain(DrainOptions),
    /// `kubectl apply -f`: create each object, or update it if it exists.
    Apply(Vec<Object>),
    /// `kubectl delete KIND NAME [--cascade=background|foreground|orphan]`.
    Delete {
        kind: Kind,
        namespace: Str,
        name: Str,
        /// `--cascade`: kubectl sends it as the propagationPolicy; its default is
        /// `background`.
        cascade: PropagationPolicy,
    },
    /// `kubectl scale deployment NAME --replicas=N`.
    Scale {
        kind: Kind,
        namespace: Str,
        name: Str,
        replicas: u32,
    },
    /// `kubectl set image deployment/NAME CONTAINER=IMAGE`.
    SetImage {
        namespace: Str,
        name: Str,
        container: Str,
        image: Str,
    },
    /// `kubectl rollout undo deployment/NAME [--to-revision=N]`; 0 is the previous
    /// revision.
    RolloutUndo {
        namespace: Str,
        name: Str,
        to_revision: u64,
    },
    /// `kubectl rollout pause deployment/NAME`.
    RolloutPause { namespace: Str, name: Str },
    /// `kubectl rollout resume deployment/NAME`.
    RolloutResume { namespace: Str, name: Str },
    /// `kubectl get KIND [-n NAMESPACE | -A]`: a list without a resourceVersion, so a
    /// consistent read (it needs etcd's quorum).
    Get { kind: Kind, namespace: Option<Str> },
}

/// A change kubectl makes to a live Deployment: get, change, update, and again from the
/// get after 409 Conflict.
#[derive(Clone, Debug)]
enum DeploymentEdit {
    SetImage { container: Str, image: Str },
    Paused(bool),
    Undo { to_revision: u64 },
}

impl DeploymentEdit {
    /// The command, for records: `set image`, `rollout pause`.
    fn command(&self) -> &'static str {
        match self {
            DeploymentEdit::SetImage { .. } => "set image",
            DeploymentEdit::Paused(true) => "rollout pause",
            DeploymentEdit::Paused(false) => "rollout resume",
            DeploymentEdit::Undo { .. } => "rollout undo",
        }
    }

    /// What kubectl prints after a successful update.
    fn done(&self) -> &'static str {
        match self {
            DeploymentEdit::SetImage { .. } => "image updated",
            DeploymentEdit::Paused(true) => "paused",
            DeploymentEdit::Paused(false) => "resumed",
            DeploymentEdit::Undo { .. } => "rolled back",
        }
    }
}

#[derive(Clone, Debug)]
pub enum Tick {
    /// A drain's retry, poll or timeout.
    Drain(DrainTick),
}

/// Retries of a get-modify-update after 409 Conflict.
const CONFLICT_RETRIES_MAX: u32 = 5;

/// What a request in flight was for.
#[derive(Debug)]
enum Step {
    Create(Object),
    /// Fetching the live object to update it with the desired one.
    GetForApply {
        desired: Object,
        retries: u32,
    },
    Update {
        desired: Object,
        retries: u32,
    },
    GetForScale {
        replicas: u32,
        retries: u32,
    },
    Scale {
        key: ObjectKey,
        replicas: u32,
        retries: u32,
    },
    Delete(ObjectKey),
    /// A request of a cordon, uncordon or drain.
    Node(drain::NodeStep),
    GetForEdit {
        edit: DeploymentEdit,
        retries: u32,
    },
    /// rollout undo: the Deployment's ReplicaSets, to find the revision.
    ListForUndo {
        deployment: Rc<Deployment>,
        to_revision: u64,
        retries: u32,
    },
    Edit {
        key: ObjectKey,
        edit: DeploymentEdit,
        retries: u32,
    },
    /// `kubectl get`: the list, for its printout.
    List {
        command: String,
    },
}

pub struct Kubectl {
    api: ApiClient,
    in_flight: BTreeMap<RequestId, Step>,
    drains: drain::Drains,
}

impl Kubectl {
    pub fn new(apiserver: ActorId) -> Kubectl {
        Kubectl {
            api: ApiClient::new(apiserver),
            in_flight: BTreeMap::new(),
            drains: drain::Drains::default(),
        }
    }

    fn send(&mut self, verb: ApiVerb, step: Step, cx: &mut Context<'_, Msg>) {
        let id = self.api.send(cx, verb);
        self.in_flight.insert(id, step);
    }

    fn act(&mut self, action: Action, cx: &mut Context<'_, Msg>) {
        match action {
            action @ (Action::Cordon { .. } | Action::Uncordon { .. } | Action::Drain(_)) => {
                self.act_on_node(action, cx)
            }
            Action::Apply(objects) => {
                for object in objects {
                    self.send(ApiVerb::Create(object.clone()), Step::Create(object), cx);
                }
            }
            Action::Delete {
                kind,
                namespace,
                name,
                cascade,
            } => {
                let key = ObjectKey::new(kind, &namespace, &name);
                cx.record("step", || {
                    format!(
                        "kubectl delete {key} --cascade={}",
                        cascade.name().to_ascii_lowercase()
                    )
                });
                self.send(
                    ApiVerb::Delete {
                        key: key.clone(),
                        grace_period_seconds: None,
                        uid_precondition: 0,
                        propagation_policy: Some(cascade),
                    },
                    Step::Delete(key),
                    cx,
                );
            }
            Action::Scale {
                kind,
                namespace,
                name,
                replicas,
            } => {
                let key = ObjectKey::new(kind, &namespace, &name);
                cx.record("step", || {
                    format!("kubectl scale {key} --replicas={replicas}")
                });
                self.send(
                    ApiVerb::Get(key),
                    Step::GetForScale {
                        replicas,
                        retries: 0,
                    },
                    cx,
                );
            }
            Action::SetImage {
                namespace,
                name,
                container,
                image,
            } => {
                cx.record("step", || {
                    format!(
                        "kubectl set image deployment/{name} {container}={image} -n {namespace}"
                    )
                });
                let edit = DeploymentEdit::SetImage { container, image };
                self.get_for_edit(&namespace, &name, edit, 0, cx);
            }
            Action::RolloutUndo {
                namespace,
                name,
                to_revision,
            } => {
                cx.record("step", || {
                    let flag = match to_revision {
                        0 => String::new(),
                        n => format!(" --to-revision={n}"),
                    };
                    format!("kubectl rollout undo deployment/{name}{flag} -n {namespace}")
                });
                let edit = DeploymentEdit::Undo { to_revision };
                self.get_for_edit(&namespace, &name, edit, 0, cx);
            }
            Action::RolloutPause { namespace, name } => {
                cx.record("step", || {
                    format!("kubectl rollout pause deployment/{name} -n {namespace}")
                });
                self.get_for_edit(&namespace, &name, DeploymentEdit::Paused(true), 0, cx);
            }
            Action::RolloutResume { namespace, name } => {
                cx.record("step", || {
                    format!("kubectl rollout resume deployment/{name} -n {namespace}")
                });
                self.get_for_edit(&namespace, &name, DeploymentEdit::Paused(false), 0, cx);
            }
            Action::Get { kind, namespace } => {
                let command = match &namespace {
                    Some(namespace) => format!("kubectl get {} -n {namespace}", kind.resource()),
                    None => format!("kubectl get {} -A", kind.resource()),
                };
                cx.record("step", || command.clone());
                self.send(
                    ApiVerb::List {
                        kind,
                        namespace,
                        fields: FieldSelector::Everything,
                        resource_version: ListResourceVersion::MostRecent,
                    },
                    Step::List { command },
                    cx,
                );
            }
        }
    }

    fn get_for_edit(
        &mut self,
        namespace: &Str,
        name: &Str,
        edit: DeploymentEdit,
        retries: u32,
        cx: &mut Context<'_, Msg>,
    ) {
        let key = ObjectKey::new(Kind::Deployment, namespace, name);
        self.send(ApiVerb::Get(key), Step::GetForEdit { edit, retries }, cx);
    }

    /// Applies `edit` to the live Deployment (with its ReplicaSets for an undo) and
    /// sends the update, or records why there is nothing to send.
    fn edit(
        &mut self,
        live: &Deployment,
        replica_sets: &[Rc<ReplicaSet>],
        edit: DeploymentEdit,
        retries: u32,
        cx: &mut Context<'_, Msg>,
    ) {
        let key = ObjectKey::new(
            Kind::Deployment,
            &live.metadata.namespace,
            &live.metadata.name,
        );
        let result = match &edit {
            DeploymentEdit::SetImage { container, image } => set_image(live, container, image),
            DeploymentEdit::Paused(paused) => set_paused(live, *paused),
            DeploymentEdit::Undo { to_revision } => {
                match rollback(live, replica_sets, *to_revision) {
                    Ok(Rollback::To(updated)) => Ok(*updated),
                    Ok(Rollback::Skipped { revision }) => {
                        let name = live.metadata.name.clone();
                        cx.record("step", || {
                            format!(
                                "kubectl rollout undo: deployment.apps/{name} skipped rollback (current template already matches revision {revision})"
                            )
                        });
                        return;
                    }
                    Err(error) => Err(error),
                }
            }
        };
        match result {
            Ok(updated) => self.send(
                ApiVerb::Update(Object::from(updated)),
                Step::Edit { key, edit, retries },
                cx,
            ),
            Err(error) => {
                let command = edit.command();
                cx.record("step", || format!("kubectl {command}: error: {error}"));
            }
        }
    }

    fn on_response(&mut self, response: ApiResponse, cx: &mut Context<'_, Msg>) {
        let Some(step) = self.in_flight.remove(&response.id) else {
            return;
        };
        let step = match step {
            Step::Node(step) => return self.on_node_response(step, response.result, cx),
            step => step,
        };
        match (step, response.result) {
            (Step::Create(_), Ok(ApiOk::Object(created))) => {
                let key = created.key();
                cx.record("step", || format!("kubectl apply: {key} created"));
            }
            (Step::Create(object), Err(e)) if e.reason == StatusReason::AlreadyExists => {
                self.send(
                    ApiVerb::Get(object.key()),
                    Step::GetForApply {
                        desired: object,
                        retries: 0,
                    },
                    cx,
                );
            }
            (Step::GetForApply { desired, retries }, Ok(ApiOk::Object(live))) => {
                let mut update = desired.clone();
                update.meta_mut().resource_version = live.meta().resource_version;
                self.send(
                    ApiVerb::Update(update),
                    Step::Update { desired, retries },
                    cx,
                );
            }
            (Step::Update { .. }, Ok(ApiOk::Object(updated))) => {
                let key = updated.key();
                cx.record("step", || format!("kubectl apply: {key} configured"));
            }
            (Step::Update { desired, retries }, Err(e))
                if e.reason == StatusReason::Conflict && retries < CONFLICT_RETRIES_MAX =>
            {
                self.send(
                    ApiVerb::Get(desired.key()),
                    Step::GetForApply {
                        desired,
                        retries: retries + 1,
                    },
                    cx,
                );
            }
            (Step::GetForScale { replicas, retries }, Ok(ApiOk::Object(live))) => {
                let key = live.key();
                match with_replicas(&live, replicas) {
                    Some(update) => self.send(
                        ApiVerb::Update(update),
                        Step::Scale {
                            key,
                            replicas,
                            retries,
                        },
                        cx,
                    ),
                    None => cx.record("step", || {
                        format!("kubectl scale: {key} has no replicas to scale")
                    }),
                }
            }
            (Step::Scale { key, replicas, .. }, Ok(_)) => {
                cx.record("step", || {
                    format!("kubectl scale: {key} scaled to {replicas}")
                });
            }
            (
                Step::Scale {
                    key,
                    replicas,
                    retries,
                },
                Err(e),
            ) if e.reason == StatusReason::Conflict && retries < CONFLICT_RETRIES_MAX => {
                self.send(
                    ApiVerb::Get(key),
                    Step::GetForScale {
                        replicas,
                        retries: retries + 1,
                    },
                    cx,
                );
            }
            (Step::Delete(key), Ok(_)) => {
                cx.record("step", || format!("kubectl delete: {key} deleted"));
            }
            (
                Step::GetForEdit { edit, retries, .. },
                Ok(ApiOk::Object(Object::Deployment(live))),
            ) => match edit {
                DeploymentEdit::Undo { to_revision } => {
                    let namespace = live.metadata.namespace.clone();
                    self.send(
                        ApiVerb::List {
                            kind: Kind::ReplicaSet,
                            namespace: Some(namespace),
                            fields: FieldSelector::Everything,
                            // kubectl sends no resourceVersion: a consistent read.
                            resource_version: ListResourceVersion::MostRecent,
                        },
                        Step::ListForUndo {
                            deployment: live,
                            to_revision,
                            retries,
                        },
                        cx,
                    );
                }
                edit => self.edit(&live, &[], edit, retries, cx),
            },
            (
                Step::ListForUndo {
                    deployment,
                    to_revision,
                    retries,
                },
                Ok(ApiOk::List { items, .. }),
            ) => {
                let replica_sets: Vec<Rc<ReplicaSet>> = items
                    .into_iter()
                    .filter_map(|item| match item {
                        Object::ReplicaSet(rs) => Some(rs),
                        _ => None,
                    })
                    .collect();
                let edit = DeploymentEdit::Undo { to_revision };
                self.edit(&deployment, &replica_sets, edit, retries, cx);
            }
            (Step::Edit { key, edit, .. }, Ok(_)) => {
                let done = edit.done();
                cx.record("step", || {
                    format!(
                        "kubectl {}: deployment.apps/{} {done}",
                        edit.command(),
                        key.name
                    )
                });
            }
            (Step::Edit { key, edit, retries }, Err(e))
                if e.reason == StatusReason::Conflict && retries < CONFLICT_RETRIES_MAX =>
            {
                self.get_for_edit(&key.namespace, &key.name, edit, retries + 1, cx);
            }
            (Step::List { command }, Ok(ApiOk::List { items, .. })) => {
                let count = items.len();
                cx.record("step", || format!("{command}: {count} items"));
            }
            (Step::List { command }, Err(e)) => {
                cx.record("step", || {
                    format!(
                        "{command}: Error from server ({}): {}",
                        e.reason.name(),
                        e.message
                    )
                });
            }
            (step, Err(e)) => {
                let what = format!("{step:?}");
                cx.record("step", || {
                    format!(
                        "kubectl: error: {} ({}) while {}",
                        e.message,
                        e.reason.code(),
                        what.split_whitespace().next().unwrap_or("")
                    )
                });
            }
            (step, Ok(other)) => panic!("kubectl: unexpected answer {other:?} to {step:?}"),
        }
    }
}

/// `kubectl set image`: the named container (or init container) runs `image`.
fn set_image(live: &Deployment, container: &str, image: &str) -> Result<Deployment, String> {
    let mut template = (*live.spec.template).clone();
    let mut found = false;
    for list in [
        &mut template.spec.containers,
        &mut template.spec.init_containers,
    ] {
        if list.iter().any(|c| &*c.name == container) {
            let mut containers = list.to_vec();
            for c in containers.iter_mut().filter(|c| &*c.name == container) {
                c.image = Str::from(image);
            }
            *list = containers.into();
            found = true;
        }
    }
    if !found {
        return Err(format!("unable to find container named \"{container}\""));
    }
    let mut updated = live.clone();
    updated.spec.template = Rc::new(template);
    Ok(updated)
}

/// `kubectl rollout pause|resume`: refuses when there is nothing to change.
fn set_paused(live: &Deployment, paused: bool) -> Result<Deployment, String> {
    if live.spec.paused == paused {
        let state = if paused {
            "already paused"
        } else {
            "not paused"
        };
        return Err(format!(
            "deployments.apps \"{}\" is {state}",
            live.metadata.name
        ));
    }
    let mut updated = live.clone();
    updated.spec.paused = paused;
    Ok(updated)
}

/// What `kubectl rollout undo` does.
#[derive(Clone, Debug, PartialEq)]
enum Rollback {
    /// The Deployment with the chosen revision's pod template.
    To(Box<Deployment>),
    /// The Deployment already runs that template.
    Skipped { revision: u64 },
}

/// `DeploymentRollbacker.Rollback` (kubectl's `polymorphichelpers/rollback.go`): find the
/// ReplicaSet of `to_revision` among the Deployment's, or the one before the latest for
/// 0, and copy its pod template (without pod-template-hash) into the Deployment.
/// kubectl also copies the ReplicaSet's annotations back; kubesim's controller does not
/// copy a Deployment's annotations to its ReplicaSets, so there are none to restore.
fn rollback(
    live: &Deployment,
    replica_sets: &[Rc<ReplicaSet>],
    to_revision: u64,
) -> Result<Rollback, String> {
    if live.spec.paused {
        return Err("you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again".to_string());
    }
    let mut owned: Vec<(u64, &Rc<ReplicaSet>)> = replica_sets
        .iter()
        .filter(|rs| {
            rs.metadata.namespace == live.metadata.namespace
                && rs
                    .metadata
                    .controller_ref()
                    .is_some_and(|owner| owner.uid == live.metadata.uid)
        })
        .filter_map(|rs| {
            let revision = rs
                .metadata
                .annotations
                .get(REVISION_ANNOTATION)?
                .parse()
                .ok()?;
            Some((revision, rs))
        })
        .collect();
    owned.sort_by_key(|(revision, _)| *revision);
    let (revision, target) = if to_revision == 0 {
        // The second-highest revision: the one before the current.
        match owned.len() {
            0 | 1 => {
                return Err(format!(
                    "no rollout history found for deployment \"{}\"",
                    live.metadata.name
                ));
            }
            n => owned[n - 2],
        }
    } else {
        *owned
            .iter()
            .find(|(revision, _)| *revision == to_revision)
            .ok_or_else(|| format!("unable to find specified revision {to_revision} in history"))?
    };
    if templates_equal_ignoring_hash(&target.spec.template, &live.spec.template) {
        return Ok(Rollback::Skipped { revision });
    }
    let mut template = (*target.spec.template).clone();
    template.labels.remove(LABEL_POD_TEMPLATE_HASH);
    let mut updated = live.clone();
    updated.spec.template = Rc::new(template);
    Ok(Rollback::To(Box::new(updated)))
}

/// The object with `spec.replicas` set, for the kinds that have one.
fn with_replicas(object: &Object, replicas: u32) -> Option<Object> {
    let mut object = object.clone();
    match &mut object {
        Object::Deployment(d) => Rc::make_mut(d).spec.replicas = replicas,
        Object::ReplicaSet(r) => Rc::make_mut(r).spec.replicas = replicas,
        Object::StatefulSet(set) => Rc::make_mut(set).spec.replicas = replicas,
        _ => return None,
    }
    Some(object)
}

impl Actor<Msg> for Kubectl {
    fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
        match event {
            Event::Start => {}
            Event::Timer(Msg::Action(action)) => self.act(*action, cx),
            Event::Timer(Msg::Tick(crate::msg::Tick::Kubectl(Tick::Drain(tick)))) => {
                self.on_drain_tick(tick, cx)
            }
            Event::Message {
                msg: Msg::ApiReply(response),
                ..
            } => self.on_response(*response, cx),
            Event::Message { msg, .. } | Event::Timer(msg) => {
                panic!("kubectl got an unexpected message: {msg:?}")
            }
        }
    }

    fn on_crash(&mut self) {
        self.in_flight.clear();
        self.drains.clear();
    }
}

impl Fingerprint for Action {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            Action::Get { kind, namespace } => {
                hasher.write_u64(23);
                hasher.write_u64(kind.code());
                hasher.write_str(namespace.as_deref().unwrap_or(""));
            }
            Action::Cordon { node } => {
                hasher.write_u64(20);
                hasher.write_str(node);
            }
            Action::Uncordon { node } => {
                hasher.write_u64(21);
                hasher.write_str(node);
            }
            Action::Drain(options) => {
                hasher.write_u64(22);
                hasher.write_str(&options.node);
            }
            Action::Apply(objects) => {
                hasher.write_u64(1);
                for object in objects {
                    hasher.write_u64(object.kind().code());
                    hasher.write_str(&object.meta().name);
                }
            }
            Action::Delete {
                kind,
                name,
                cascade,
                ..
            } => {
                hasher.write_u64(2);
                hasher.write_u64(kind.code());
                hasher.write_str(name);
                hasher.write_u64(cascade.code());
            }
            Action::Scale {
                kind,
                name,
                replicas,
                ..
            } => {
                hasher.write_u64(3);
                hasher.write_u64(kind.code());
                hasher.write_str(name);
                hasher.write_u64(u64::from(*replicas));
            }
            Action::SetImage {
                name,
                container,
                image,
                ..
            } => {
                hasher.write_u64(4);
                hasher.write_str(name);
                hasher.write_str(container);
                hasher.write_str(image);
            }
            Action::RolloutUndo {
                name, to_revision, ..
            } => {
                hasher.write_u64(5);
                hasher.write_str(name);
                hasher.write_u64(*to_revision);
            }
            Action::RolloutPause { name, .. } => {
                hasher.write_u64(6);
                hasher.write_str(name);
            }
            Action::RolloutResume { name, .. } => {
                hasher.write_u64(7);
                hasher.write_str(name);
            }
        }
    }
}

impl Fingerprint for Tick {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            Tick::Drain(tick) => tick.fingerprint(hasher),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        Container, DeploymentSpec, DeploymentStatus, DeploymentStrategy, IntOrPercent,
        LabelSelector, Labels, ObjectMeta, OwnerReference, PodTemplateSpec, ReplicaSetSpec,
        ReplicaSetStatus, s,
    };
    use crate::controllers::deployment::pod_template_hash;

    fn template(image: &str) -> PodTemplateSpec {
        let spec = crate::api::PodSpec {
            containers: vec![Container {
                name: s("nginx"),
                image: s(image),
                ..Container::default()
            }]
            .into(),
            ..crate::api::PodSpec::default()
        };
        PodTemplateSpec {
            labels: Labels::from_pairs([("app", "web")]),
            annotations: Labels::new(),
            spec,
        }
    }

    fn deployment(image: &str) -> Deployment {
        let mut metadata = ObjectMeta::named("default", "web");
        metadata.uid = 7;
        Deployment {
            metadata,
            spec: DeploymentSpec {
                replicas: 3,
                selector: LabelSelector::from_labels(Labels::from_pairs([("app", "web")])),
                template: Rc::new(template(image)),
                strategy: DeploymentStrategy::RollingUpdate {
                    max_surge: IntOrPercent::Percent(25),
                    max_unavailable: IntOrPercent::Percent(25),
                },
                min_ready_seconds: 0,
                revision_history_limit: 10,
                progress_deadline_seconds: 600,
                paused: false,
            },
            status: DeploymentStatus::default(),
        }
    }

    /// The ReplicaSet the controller made for `image` at `revision`, owned by uid 7.
    fn replica_set(image: &str, revision: u64) -> Rc<ReplicaSet> {
        let mut template = template(image);
        let hash = pod_template_hash(&template, None);
        template.labels.insert(s(LABEL_POD_TEMPLATE_HASH), s(&hash));
        let mut metadata = ObjectMeta::named("default", &format!("web-{hash}"));
        metadata.owner_references =
            vec![OwnerReference::controlled_by(Kind::Deployment, s("web"), 7)];
        metadata
            .annotations
            .insert(s(REVISION_ANNOTATION), s(&revision.to_string()));
        Rc::new(ReplicaSet {
            metadata,
            spec: ReplicaSetSpec {
                replicas: 0,
                selector: LabelSelector::from_labels(Labels::from_pairs([("app", "web")])),
                template: Rc::new(template),
                min_ready_seconds: 0,
            },
            status: ReplicaSetStatus::default(),
        })
    }

    fn image_of(d: &Deployment) -> &str {
        &d.spec.template.spec.containers[0].image
    }

    #[test]
    fn set_image_changes_the_named_container_only() {
        let d = deployment("nginx:1.14.2");
        let updated = set_image(&d, "nginx", "nginx:1.16.1").unwrap();
        assert_eq!(image_of(&updated), "nginx:1.16.1");
        assert_eq!(
            set_image(&d, "sidecar", "x").unwrap_err(),
            "unable to find container named \"sidecar\""
        );
    }

    #[test]
    fn pause_and_resume_refuse_when_nothing_changes() {
        let d = deployment("nginx:1.14.2");
        assert!(set_paused(&d, true).unwrap().spec.paused);
        assert_eq!(
            set_paused(&d, false).unwrap_err(),
            "deployments.apps \"web\" is not paused"
        );
        let paused = set_paused(&d, true).unwrap();
        assert_eq!(
            set_paused(&paused, true).unwrap_err(),
            "deployments.apps \"web\" is already paused"
        );
    }

    #[test]
    fn undo_goes_to_the_revision_before_the_latest() {
        let d = deployment("nginx:1.17");
        let history = [
            replica_set("nginx:1.14.2", 1),
            replica_set("nginx:1.16.1", 2),
            replica_set("nginx:1.17", 3),
        ];
        let Rollback::To(updated) = rollback(&d, &history, 0).unwrap() else {
            panic!("a rollback");
        };
        assert_eq!(image_of(&updated), "nginx:1.16.1");
        // The hash label stays the controller's business.
        assert!(
            updated
                .spec
                .template
                .labels
                .get(LABEL_POD_TEMPLATE_HASH)
                .is_none()
        );
        let Rollback::To(updated) = rollback(&d, &history, 1).unwrap() else {
            panic!("a rollback");
        };
        assert_eq!(image_of(&updated), "nginx:1.14.2");
    }

    #[test]
    fn undo_skips_errs_and_ignores_other_owners() {
        let d = deployment("nginx:1.16.1");
        let history = [
            replica_set("nginx:1.14.2", 1),
            replica_set("nginx:1.16.1", 2),
        ];
        assert_eq!(
            rollback(&d, &history, 2).unwrap(),
            Rollback::Skipped { revision: 2 }
        );
        assert_eq!(
            rollback(&d, &history, 9).unwrap_err(),
            "unable to find specified revision 9 in history"
        );
        let mut other = (*history[0]).clone();
        other.metadata.owner_references[0].uid = 8;
        assert_eq!(
            rollback(&d, &[Rc::new(other), history[1].clone()], 0).unwrap_err(),
            "no rollout history found for deployment \"web\""
        );
        let mut paused = d.clone();
        paused.spec.paused = true;
        assert!(
            rollback(&paused, &history, 0)
                .unwrap_err()
                .starts_with("you cannot rollback a paused deployment")
        );
    }
}
