//! What clients and the API server say to each other: requests, responses, watch events.
//! Every component reaches the cluster's state only through these messages.

use super::meta::{Kind, ObjectKey, Str};
use super::objects::Object;

/// A client's request id; the response carries it back. A watch's events carry the id of
/// the request that opened it.
pub type RequestId = u64;

/// Server-side filtering of a list or watch by field, as `fieldSelector` does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FieldSelector {
    Everything,
    /// `spec.nodeName=<node>`: how a kubelet asks for only its own pods.
    NodeName(Str),
    /// `metadata.name=<name>`.
    Name(Str),
}

impl FieldSelector {
    pub fn matches(&self, object: &Object) -> bool {
        match self {
            FieldSelector::Everything => true,
            FieldSelector::Name(name) => object.meta().name == *name,
            FieldSelector::NodeName(node) => match object {
                Object::Pod(pod) => pod.spec.node_name.as_ref() == Some(node),
                _ => false,
            },
        }
    }
}

/// What happens to an object's dependents when it is deleted (`metav1.DeletionPropagation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PropagationPolicy {
    /// The owner goes at once; the garbage collector then deletes its dependents.
    Background,
    /// The owner stays (with a deletion timestamp and the `foregroundDeletion` finalizer)
    /// until the garbage collector has deleted the dependents that block it.
    Foreground,
    /// The owner stays (with the `orphan` finalizer) until the garbage collector has
    /// removed its references from the dependents, which live on.
    Orphan,
}

impl PropagationPolicy {
    pub fn name(self) -> &'static str {
        match self {
            PropagationPolicy::Background => "Background",
            PropagationPolicy::Foreground => "Foreground",
            PropagationPolicy::Orphan => "Orphan",
        }
    }

    pub fn code(self) -> u64 {
        match self {
            PropagationPolicy::Background => 1,
            PropagationPolicy::Foreground => 2,
            PropagationPolicy::Orphan => 3,
        }
    }
}

/// The finalizer a foreground deletion puts on the owner (`metav1.FinalizerDeleteDependents`).
pub const FINALIZER_FOREGROUND_DELETION: &str = "foregroundDeletion";
/// The finalizer an orphaning deletion puts on the owner (`metav1.FinalizerOrphanDependents`).
pub const FINALIZER_ORPHAN: &str = "orphan";

#[derive(Clone, Debug)]
pub enum ApiVerb {
    /// Create; the object's `resource_version` must be 0.
    Create(Object),
    /// Replace the object's spec and metadata; `resource_version` is the precondition
    /// (0 means unconditional). The status is kept as stored.
    Update(Object),
    /// Replace the status subresource; `resource_version` is the precondition.
    UpdateStatus(Object),
    /// Delete gracefully: pods get a deletion timestamp and stay until their kubelet (or a
    /// zero grace period) finishes them; an object with finalizers gets a deletion
    /// timestamp and stays until they are removed; everything else goes at once.
    Delete {
        key: ObjectKey,
        grace_period_seconds: Option<u64>,
        /// Only delete the object with this uid (0 for any).
        uid_precondition: u64,
        /// `DeleteOptions.propagationPolicy`; `None` takes the server's default,
        /// which is `Background` for every kind kubesim serves.
        propagation_policy: Option<PropagationPolicy>,
    },
    Get(ObjectKey),
    List {
        kind: Kind,
        namespace: Option<Str>,
        fields: FieldSelector,
        /// The `resourceVersion` parameter: which state the list may show.
        resource_version: ListResourceVersion,
    },
    /// Streams changes after `resource_version` as `WatchEvent`s tagged with this request's id.
    Watch {
        kind: Kind,
        namespace: Option<Str>,
        fields: FieldSelector,
        resource_version: u64,
    },
    /// The `pods/binding` subresource: assigns a pod to a node.
    Bind {
        pod: ObjectKey,
        pod_uid: u64,
        node: Str,
    },
    /// The `pods/eviction` subresource (a `policy/v1` Eviction): delete the pod unless
    /// that would break its PodDisruptionBudget (429 TooManyRequests).
    Evict {
        pod: ObjectKey,
        /// `deleteOptions.gracePeriodSeconds`; `None` takes the pod's own.
        grace_period_seconds: Option<u64>,
    },
}

impl ApiVerb {
    pub fn name(&self) -> &'static str {
        match self {
            ApiVerb::Create(_) => "create",
            ApiVerb::Update(_) => "update",
            ApiVerb::UpdateStatus(_) => "update-status",
            ApiVerb::Delete { .. } => "delete",
            ApiVerb::Get(_) => "get",
            ApiVerb::List { .. } => "list",
            ApiVerb::Watch { .. } => "watch",
            ApiVerb::Bind { .. } => "bind",
            ApiVerb::Evict { .. } => "evict",
        }
    }

    pub fn code(&self) -> u64 {
        match self {
            ApiVerb::Create(_) => 1,
            ApiVerb::Update(_) => 2,
            ApiVerb::UpdateStatus(_) => 3,
            ApiVerb::Delete { .. } => 4,
            ApiVerb::Get(_) => 5,
            ApiVerb::List { .. } => 6,
            ApiVerb::Watch { .. } => 7,
            ApiVerb::Bind { .. } => 8,
            ApiVerb::Evict { .. } => 9,
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            ApiVerb::Create(o) | ApiVerb::Update(o) | ApiVerb::UpdateStatus(o) => o.kind(),
            ApiVerb::Delete { key, .. } | ApiVerb::Get(key) => key.kind,
            ApiVerb::List { kind, .. } | ApiVerb::Watch { kind, .. } => *kind,
            ApiVerb::Bind { .. } | ApiVerb::Evict { .. } => Kind::Pod,
        }
    }
}

#[derive(Clone, Debug)]
pub struct ApiRequest {
    pub id: RequestId,
    pub verb: ApiVerb,
}

/// The `reason` of a failed request's `Status`, with its HTTP code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusReason {
    /// 404
    NotFound,
    /// 403: an admission plugin refused the request
    Forbidden,
    /// 409 on create
    AlreadyExists,
    /// 409 on a stale resourceVersion
    Conflict,
    /// 422
    Invalid,
    /// 410: the requested resourceVersion was compacted
    Gone,
    /// 503
    ServiceUnavailable,
    /// 504
    Timeout,
    /// 429: e.g. an eviction the pod's disruption budget does not allow now
    TooManyRequests,
    /// 500: e.g. an eviction of a pod that more than one disruption budget selects
    InternalError,
}

impl StatusReason {
    pub fn code(self) -> u16 {
        match self {
            StatusReason::NotFound => 404,
            StatusReason::Forbidden => 403,
            StatusReason::AlreadyExists | StatusReason::Conflict => 409,
            StatusReason::Invalid => 422,
            StatusReason::Gone => 410,
            StatusReason::ServiceUnavailable => 503,
            StatusReason::Timeout => 504,
            StatusReason::TooManyRequests => 429,
            StatusReason::InternalError => 500,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            StatusReason::NotFound => "NotFound",
            StatusReason::Forbidden => "Forbidden",
            StatusReason::AlreadyExists => "AlreadyExists",
            StatusReason::Conflict => "Conflict",
            StatusReason::Invalid => "Invalid",
            StatusReason::Gone => "Gone",
            StatusReason::ServiceUnavailable => "ServiceUnavailable",
            StatusReason::Timeout => "Timeout",
            StatusReason::TooManyRequests => "TooManyRequests",
            StatusReason::InternalError => "InternalError",
        }
    }
}

/// A list's `resourceVersion` parameter (with `resourceVersionMatch` unset), as the API
/// concepts page ("Semantics for get and list") defines it. Upstream's cache delegator
/// (k8s.io/apiserver/pkg/storage/cacher/delegator.go, `GetList`) serves all three from the
/// watch cache when ConsistentListFromCache is on (the default since v1.31).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListResourceVersion {
    /// `""`: the most recent state, a consistent read. The API server first asks etcd for
    /// its current revision (a quorum read: it fails without a quorum), then answers from
    /// its watch cache once that has caught up to it. kubectl's lists, and an informer's
    /// relist after its last resourceVersion became unavailable.
    MostRecent,
    /// `"0"`: any state the server has, from the watch cache at once. An informer's first
    /// list.
    Any,
    /// `"N"`: a state not older than N, from the watch cache once it has N (a bounded
    /// wait). An informer's relist after its watch ended with 410 Gone.
    NotOlderThan(u64),
}

impl ListResourceVersion {
    /// The parameter as a client sends it.
    pub fn parameter(self) -> String {
        match self {
            ListResourceVersion::MostRecent => String::new(),
            ListResourceVersion::Any => "0".to_string(),
            ListResourceVersion::NotOlderThan(revision) => revision.to_string(),
        }
    }
}

/// The message of a 504 a list gets when the watch cache did not reach the
/// resourceVersion it needs within the wait (k8s.io/apiserver/pkg/storage/errors.go,
/// `NewTooLargeResourceVersionError`, whose status carries the cause
/// `ResourceVersionTooLarge`; client-go's reflector relists with `""` on it).
pub const TOO_LARGE_RESOURCE_VERSION_PREFIX: &str = "Timeout: Too large resource version: ";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub reason: StatusReason,
    pub message: String,
}

impl ApiError {
    /// A 504 whose cause is `ResourceVersionTooLarge` (upstream's
    /// `storage.IsTooLargeResourceVersion`; kubesim carries the cause in the message).
    pub fn is_too_large_resource_version(&self) -> bool {
        self.reason == StatusReason::Timeout
            && self.message.starts_with(TOO_LARGE_RESOURCE_VERSION_PREFIX)
    }
}

#[derive(Clone, Debug)]
pub enum ApiOk {
    Object(Object),
    List {
        items: Vec<Object>,
        resource_version: u64,
    },
    /// A delete finished at once, or a graceful one began (then `Object` is returned instead).
    Deleted,
    /// The watch is open; events follow.
    WatchStarted,
}

#[derive(Clone, Debug)]
pub struct ApiResponse {
    pub id: RequestId,
    pub result: Result<ApiOk, ApiError>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchEventType {
    Added,
    Modified,
    Deleted,
}

#[derive(Clone, Debug)]
pub enum WatchEvent {
    /// A change, as a watch stream delivers it. For `Deleted`, the last state.
    Change {
        watch_id: RequestId,
        type_: WatchEventType,
        object: Object,
    },
    /// The stream ended: 410 Gone (the client must relist), or its connection closed
    /// (the server shut down or restarted: the client watches again from its last
    /// resourceVersion, over a new connection).
    Closed {
        watch_id: RequestId,
        reason: StatusReason,
        /// Where the client's next connection lands, when it changes: a client behind
        /// the API servers' load balancer reconnects through it to another replica. The
        /// balancer's choice is made when the stream breaks (see
        /// `apiserver::balancer`), so the reconnect costs no extra message.
        reconnect_to: Option<sim_core::ActorId>,
    },
}

impl WatchEvent {
    pub fn watch_id(&self) -> RequestId {
        match self {
            WatchEvent::Change { watch_id, .. } | WatchEvent::Closed { watch_id, .. } => *watch_id,
        }
    }
}
