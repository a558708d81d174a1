//! kubectl: a client that carries out the scenario's actions through the API server, the
//! way the real kubectl does (create, or get and update on "already exists"; get, change
//! and update for scale, retrying on 409 Conflict).

use std::collections::BTreeMap;
use std::rc::Rc;

use sim_core::{Actor, ActorId, Context, Event, TraceHasher};

use crate::api::{
    ApiOk, ApiResponse, ApiVerb, Kind, Object, ObjectKey, PropagationPolicy, RequestId, StatusReason,
    Str,
};
use crate::client::ApiClient;
use crate::msg::{Fingerprint, Msg};

/// What a user does with kubectl.
#[derive(Clone, Debug)]
pub enum Action {
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
}

#[derive(Clone, Debug)]
pub enum Tick {}

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
}

pub struct Kubectl {
    api: ApiClient,
    in_flight: BTreeMap<RequestId, Step>,
}

impl Kubectl {
    pub fn new(apiserver: ActorId) -> Kubectl {
        Kubectl {
            api: ApiClient::new(apiserver),
            in_flight: BTreeMap::new(),
        }
    }

    fn send(&mut self, verb: ApiVerb, step: Step, cx: &mut Context<'_, Msg>) {
        let id = self.api.send(cx, verb);
        self.in_flight.insert(id, step);
    }

    fn act(&mut self, action: Action, cx: &mut Context<'_, Msg>) {
        match action {
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
        }
    }

    fn on_response(&mut self, response: ApiResponse, cx: &mut Context<'_, Msg>) {
        let Some(step) = self.in_flight.remove(&response.id) else {
            return;
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

/// The object with `spec.replicas` set, for the kinds that have one.
fn with_replicas(object: &Object, replicas: u32) -> Option<Object> {
    let mut object = object.clone();
    match &mut object {
        Object::Deployment(d) => Rc::make_mut(d).spec.replicas = replicas,
        Object::ReplicaSet(r) => Rc::make_mut(r).spec.replicas = replicas,
        _ => return None,
    }
    Some(object)
}

impl Actor<Msg> for Kubectl {
    fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
        match event {
            Event::Start => {}
            Event::Timer(Msg::Action(action)) => self.act(*action, cx),
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
    }
}

impl Fingerprint for Action {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
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
        }
    }
}

impl Fingerprint for Tick {
    fn fingerprint(&self, _hasher: &mut TraceHasher) {
        match *self {}
    }
}
