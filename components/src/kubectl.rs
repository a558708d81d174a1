//! kubectl: a client that carries out the scenario's actions through the API server.

use sim_core::TraceHasher;

use crate::api::{Kind, Object, Str};
use crate::msg::Fingerprint;

/// What a user does with kubectl.
#[derive(Clone, Debug)]
pub enum Action {
    /// `kubectl apply -f`: create each object, or update it if it exists.
    Apply(Vec<Object>),
    /// `kubectl delete KIND NAME`.
    Delete { kind: Kind, namespace: Str, name: Str },
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
            Action::Delete { kind, name, .. } => {
                hasher.write_u64(2);
                hasher.write_u64(kind.code());
                hasher.write_str(name);
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
