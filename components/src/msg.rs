//! The one message type every actor of the cluster speaks, and the timers each sets.
//!
//! Large payloads are boxed so the engine's queue moves small values.

use sim_core::{Message, TraceHasher};

use crate::api::{
    ApiOk, ApiRequest, ApiResponse, ApiVerb, ListResourceVersion, Object, WatchEvent,
};
use crate::{
    apiserver, controllers, etcd, kernel, kubectl, kubelet, metrics, proxy, registry, runtime,
    scheduler,
};

/// Writes the identifying words of a payload into an event digest.
pub trait Fingerprint {
    fn fingerprint(&self, hasher: &mut TraceHasher);
}

#[derive(Debug)]
pub enum Msg {
    /// client → API server
    Api(Box<ApiRequest>),
    /// API server → client
    ApiReply(Box<ApiResponse>),
    /// API server → watching client
    Watch(Box<WatchEvent>),
    /// API server → etcd
    Etcd(Box<etcd::EtcdRequest>),
    /// etcd → API server
    EtcdReply(Box<etcd::EtcdResponse>),
    /// etcd → watching API server
    EtcdWatch(Box<etcd::EtcdWatchEvent>),
    /// etcd member ↔ etcd member: Raft
    Raft(Box<etcd::RaftEnvelope>),
    /// the timeline → etcdctl, and members' answers to it
    Etcdctl(Box<etcd::EtcdctlMsg>),
    /// kubelet → container runtime, over the CRI socket
    Cri(Box<runtime::CriCall>),
    /// container runtime → kubelet
    CriReply(Box<runtime::CriReply>),
    /// container runtime → kernel
    Kernel(Box<kernel::KernelCall>),
    /// kernel → container runtime
    KernelEvent(Box<kernel::KernelEvent>),
    /// kubelet ↔ kernel: the eviction manager's memory threshold and reads
    Memory(Box<kernel::MemoryMsg>),
    /// kubelet ↔ kernel: the eviction manager's filesystem thresholds and reads
    Disk(Box<kernel::DiskMsg>),
    /// container runtime ↔ image registry
    Registry(Box<registry::RegistryMsg>),
    /// the scenario's timeline → kubectl
    Action(Box<kubectl::Action>),
    /// The resource metrics pipeline and the load generator (see `metrics`).
    Metrics(Box<metrics::MetricsMsg>),
    /// A timer an actor set for itself.
    Tick(Tick),
}

/// Every component's timers.
#[derive(Clone, Debug)]
pub enum Tick {
    Etcd(etcd::Tick),
    Apiserver(apiserver::Tick),
    Scheduler(scheduler::Tick),
    Controllers(controllers::Tick),
    Kubelet(kubelet::Tick),
    Runtime(runtime::Tick),
    Kernel(kernel::Tick),
    Registry(registry::Tick),
    Proxy(proxy::Tick),
    Kubectl(kubectl::Tick),
    MetricsServer(metrics::Tick),
}

/// An object is identified by its uid and resourceVersion once it exists; before its
/// create, by its name.
fn object_words(object: &Object, hasher: &mut TraceHasher) {
    let meta = object.meta();
    hasher.write_u64(object.kind().code());
    hasher.write_u64(meta.uid);
    hasher.write_u64(meta.resource_version);
    if meta.uid == 0 {
        hasher.write_str(&meta.name);
    }
}

impl Fingerprint for ApiRequest {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        hasher.write_u64(self.id);
        hasher.write_u64(self.verb.code());
        hasher.write_u64(self.verb.kind().code());
        match &self.verb {
            ApiVerb::Create(o) | ApiVerb::Update(o) | ApiVerb::UpdateStatus(o) => {
                object_words(o, hasher)
            }
            ApiVerb::Delete { key, .. } | ApiVerb::Get(key) => hasher.write_str(&key.name),
            ApiVerb::Bind { pod, node, .. } => {
                hasher.write_str(&pod.name);
                hasher.write_str(node);
            }
            ApiVerb::Evict { pod, .. } => hasher.write_str(&pod.name),
            ApiVerb::List {
                resource_version, ..
            } => match resource_version {
                ListResourceVersion::MostRecent => hasher.write_u64(1),
                ListResourceVersion::Any => hasher.write_u64(2),
                ListResourceVersion::NotOlderThan(revision) => {
                    hasher.write_u64(3);
                    hasher.write_u64(*revision);
                }
            },
            ApiVerb::Watch {
                resource_version, ..
            } => hasher.write_u64(*resource_version),
        }
    }
}

impl Fingerprint for ApiResponse {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        hasher.write_u64(self.id);
        match &self.result {
            Ok(ApiOk::Object(o)) => object_words(o, hasher),
            Ok(ApiOk::List {
                items,
                resource_version,
            }) => {
                hasher.write_u64(items.len() as u64);
                hasher.write_u64(*resource_version);
            }
            Ok(ApiOk::Deleted) => hasher.write_u64(1),
            Ok(ApiOk::WatchStarted) => hasher.write_u64(2),
            Err(error) => hasher.write_u64(u64::from(error.reason.code())),
        }
    }
}

impl Fingerprint for WatchEvent {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        hasher.write_u64(self.watch_id());
        match self {
            WatchEvent::Change { type_, object, .. } => {
                hasher.write_u64(*type_ as u64);
                object_words(object, hasher);
            }
            WatchEvent::Closed { reason, .. } => hasher.write_u64(u64::from(reason.code())),
        }
    }
}

impl Message for Msg {
    fn label(&self) -> &'static str {
        match self {
            Msg::Api(_) => "ApiRequest",
            Msg::ApiReply(_) => "ApiResponse",
            Msg::Watch(_) => "WatchEvent",
            Msg::Etcd(_) => "EtcdRequest",
            Msg::EtcdReply(_) => "EtcdResponse",
            Msg::EtcdWatch(_) => "EtcdWatchEvent",
            Msg::Raft(_) => "Raft",
            Msg::Etcdctl(_) => "Etcdctl",
            Msg::Cri(_) => "CriRequest",
            Msg::CriReply(_) => "CriResponse",
            Msg::Kernel(_) => "KernelCall",
            Msg::KernelEvent(_) => "KernelEvent",
            Msg::Memory(_) => "Memory",
            Msg::Disk(_) => "Disk",
            Msg::Registry(_) => "Registry",
            Msg::Action(_) => "Action",
            Msg::Metrics(_) => "Metrics",
            Msg::Tick(tick) => match tick {
                Tick::Etcd(_) => "Tick.etcd",
                Tick::Apiserver(_) => "Tick.apiserver",
                Tick::Scheduler(_) => "Tick.scheduler",
                Tick::Controllers(_) => "Tick.controllers",
                Tick::Kubelet(_) => "Tick.kubelet",
                Tick::Runtime(_) => "Tick.runtime",
                Tick::Kernel(_) => "Tick.kernel",
                Tick::Registry(_) => "Tick.registry",
                Tick::Proxy(_) => "Tick.proxy",
                Tick::Kubectl(_) => "Tick.kubectl",
                Tick::MetricsServer(_) => "Tick.metrics-server",
            },
        }
    }

    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            Msg::Api(m) => m.fingerprint(hasher),
            Msg::ApiReply(m) => m.fingerprint(hasher),
            Msg::Watch(m) => m.fingerprint(hasher),
            Msg::Etcd(m) => m.fingerprint(hasher),
            Msg::EtcdReply(m) => m.fingerprint(hasher),
            Msg::EtcdWatch(m) => m.fingerprint(hasher),
            Msg::Raft(m) => m.fingerprint(hasher),
            Msg::Etcdctl(m) => m.fingerprint(hasher),
            Msg::Cri(m) => m.fingerprint(hasher),
            Msg::CriReply(m) => m.fingerprint(hasher),
            Msg::Kernel(m) => m.fingerprint(hasher),
            Msg::KernelEvent(m) => m.fingerprint(hasher),
            Msg::Memory(m) => m.fingerprint(hasher),
            Msg::Disk(m) => m.fingerprint(hasher),
            Msg::Registry(m) => m.fingerprint(hasher),
            Msg::Action(m) => m.fingerprint(hasher),
            Msg::Metrics(m) => m.fingerprint(hasher),
            Msg::Tick(tick) => match tick {
                Tick::Etcd(t) => t.fingerprint(hasher),
                Tick::Apiserver(t) => t.fingerprint(hasher),
                Tick::Scheduler(t) => t.fingerprint(hasher),
                Tick::Controllers(t) => t.fingerprint(hasher),
                Tick::Kubelet(t) => t.fingerprint(hasher),
                Tick::Runtime(t) => t.fingerprint(hasher),
                Tick::Kernel(t) => t.fingerprint(hasher),
                Tick::Registry(t) => t.fingerprint(hasher),
                Tick::Proxy(t) => t.fingerprint(hasher),
                Tick::Kubectl(t) => t.fingerprint(hasher),
                Tick::MetricsServer(t) => t.fingerprint(hasher),
            },
        }
    }
}
