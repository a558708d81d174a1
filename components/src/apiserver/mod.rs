//! kube-apiserver: the only component that talks to etcd.
//!
//! Reads (get, list, watch) are served from the watch cache, which one etcd watch per kind
//! keeps current. Writes go to etcd as transactions whose compare is the object's
//! resourceVersion (its etcd mod revision), so a stale update fails with 409 Conflict.
//! Watch streams are filtered on the server side: a kubelet watching
//! `spec.nodeName=<node>` is sent only its own pods.
//!
//! Several replicas may run, each with its own watch cache, behind a load balancer
//! ([`balancer`]). A replica that shuts down or restarts breaks its watch streams; their
//! clients watch again from their last resourceVersion, on another replica or on this one
//! once it serves again (whose fresh cache cannot go back that far: 410, and a relist).
//! A request etcd does not answer within `--request-timeout` gets 504. What each replica
//! served is counted per verb and second ([`requests`]), and [`stream_check`] checks
//! every watch stream against etcd's history.

pub mod balancer;
mod deletion;
mod eviction;
pub mod requests;
mod runtime_class;
mod strategy;
pub mod stream_check;
mod watch_cache;

use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use sim_core::{Actor, ActorId, Context, Event, SimDuration, SimTime, TraceHasher};

use crate::api::net::{format_ipv4, parse_ipv4};
use crate::api::{
    ApiError, ApiOk, ApiRequest, ApiResponse, ApiVerb, ConditionStatus, FieldSelector, Kind,
    ListResourceVersion, NAMESPACE_DEFAULT, NAMESPACE_NODE_LEASE, NAMESPACE_SYSTEM, Namespace,
    Object, ObjectKey, ObjectMeta, RequestId, StatusReason, Str, TOO_LARGE_RESOURCE_VERSION_PREFIX,
    WatchEvent, s,
};
use crate::etcd::{
    Compare, EtcdError, EtcdEventType, EtcdRequest, EtcdResponse, EtcdWatchEvent, TxnOp,
};
use crate::id_map::IdMap;
use crate::msg::{Fingerprint, Msg, Tick as AnyTick};

pub use runtime_class::{admit_runtime_class, validate_runtime_class};
pub use strategy::{
    GENERATE_NAME_ALPHABET, GENERATE_NAME_SUFFIX_LEN, Invalid, add_default_tolerations,
    admit_pod_priority, default_priority_class, preemption_policy_name, validate_daemon_set,
    validate_horizontal_pod_autoscaler, validate_pod_disruption_budget, validate_priority_class,
    validate_stateful_set,
};
pub use stream_check::install as install_stream_checker;
pub use watch_cache::Watcher;
use watch_cache::{CachedChange, WatchCache};

/// Settings, named as the kube-apiserver flags they stand for where upstream has one.
///
/// The cost model is arithmetic on each answer's departure (no extra events): a request
/// costs `request_latency`, a list `list_cost_per_object` more per object returned, and a
/// (re)start `watch_cache_init_cost_per_object` per object loaded into the watch cache
/// before the replica serves. These figures are assumptions, not measurements: upstream
/// publishes SLOs (the scalability SIG's p99 of 1 s for single-object calls and 30 s for
/// cluster-wide lists at 5,000 nodes), not per-object costs; 2 µs per object puts a list
/// of 30,000 pods at 60 ms before the network, well inside them.
#[derive(Clone, Debug)]
pub struct ApiServerConfig {
    /// Handling cost of one request before and after etcd (an assumption).
    pub request_latency: SimDuration,
    /// Extra cost per object returned by a list (an assumption: serialization).
    pub list_cost_per_object: SimDuration,
    /// Cost per object of filling the watch cache at start (an assumption: decoding).
    pub watch_cache_init_cost_per_object: SimDuration,
    /// `--request-timeout`, upstream default 1m0s: a request etcd has not answered by
    /// then gets 504 Timeout.
    pub request_timeout: SimDuration,
    /// `--etcd-compaction-interval`, upstream default 5 min.
    pub etcd_compaction_interval: SimDuration,
    /// How far back the watch cache can replay events (upstream sizes it dynamically to
    /// hold about 75 s of history).
    pub watch_cache_window: SimDuration,
    /// How long a list waits for the watch cache to reach the resourceVersion it needs
    /// (upstream's `blockTimeout`, 3 s, in storage/cacher/watch_cache.go): then a list
    /// from `"N"` gets 504 "Too large resource version", and a consistent list is served
    /// by etcd itself (the cache delegator's fallback).
    pub watch_cache_block_timeout: SimDuration,
    /// `--default-not-ready-toleration-seconds`, upstream default 300.
    pub default_not_ready_toleration_seconds: u64,
    /// `--default-unreachable-toleration-seconds`, upstream default 300.
    pub default_unreachable_toleration_seconds: u64,
}

impl Default for ApiServerConfig {
    fn default() -> Self {
        ApiServerConfig {
            request_latency: SimDuration::from_micros(500),
            list_cost_per_object: SimDuration::from_micros(2),
            watch_cache_init_cost_per_object: SimDuration::from_micros(5),
            request_timeout: SimDuration::from_secs(60),
            etcd_compaction_interval: SimDuration::from_mins(5),
            watch_cache_window: SimDuration::from_secs(75),
            watch_cache_block_timeout: SimDuration::from_secs(3),
            default_not_ready_toleration_seconds: 300,
            default_unreachable_toleration_seconds: 300,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Tick {
    /// Time to compact etcd (`--etcd-compaction-interval`).
    Compact,
    /// The watch cache has decoded what etcd returned: start serving.
    CacheFilled,
    /// The replica is told to stop (`SIGTERM`: a restart of its static pod): it closes
    /// every watch stream, and its clients reconnect through the load balancer.
    Shutdown,
    /// The oldest list waiting for the watch cache may have waited its
    /// `watch_cache_block_timeout`.
    ListWait,
}

/// The message of a request that timed out (k8s.io/apiserver's timeout filter and
/// finisher answer `apierrors.NewTimeoutError` with this text: status 504, reason
/// Timeout).
pub const REQUEST_TIMEOUT_MESSAGE: &str =
    "Timeout: request did not complete within requested timeout - context deadline exceeded";

/// What a client whose request was in flight when the API server's process exited
/// learns (the kernel resets the connection; client-go retries).
const CONNECTION_RESET_MESSAGE: &str = "read: connection reset by peer";

/// Namespaces the API server keeps in existence, as its system namespaces controller does.
const SYSTEM_NAMESPACES: [&str; 4] = [
    NAMESPACE_DEFAULT,
    NAMESPACE_SYSTEM,
    "kube-public",
    NAMESPACE_NODE_LEASE,
];

/// Upstream retries a create whose generated name collided (RetryGenerateName, GA 1.32).
const GENERATE_NAME_ATTEMPTS_MAX: u32 = 8;
/// An unconditional update that lost a race is retried against the fresh value
/// (GuaranteedUpdate's loop), this many times at most.
const UNCONDITIONAL_UPDATE_ATTEMPTS_MAX: u32 = 5;

#[derive(Debug)]
enum Phase {
    /// Loading every kind from etcd; requests wait.
    Starting {
        ranges_pending: usize,
        /// Objects loaded so far (their decoding is the start's cost).
        objects_loaded: u64,
        /// The ranges not answered yet, by id.
        ranges: Vec<(u64, Kind)>,
        /// When the ranges were sent: after `--request-timeout` without their answers the
        /// etcd client tries another member.
        since: SimTime,
        queued: VecDeque<(ActorId, ApiRequest)>,
    },
    /// The cache is loaded and the post-start hooks write what the server keeps in
    /// existence (the system namespaces, the built-in PriorityClasses): `/readyz` fails
    /// until they are written, so requests wait for them (upstream, the load balancer's
    /// health check and the clients' retries keep them away until then).
    Bootstrapping {
        /// The bootstrap writes etcd has not answered yet, by transaction id.
        writes: Vec<u64>,
        queued: VecDeque<(ActorId, ApiRequest)>,
    },
    Serving,
}

/// Who asked for a write, and what to do when etcd answers.
#[derive(Debug)]
struct PendingWrite {
    /// `None` for the server's own writes (system namespaces).
    client: Option<(ActorId, RequestId)>,
    verb: ApiVerb,
    attempts: u32,
    /// The name was generated from `generateName`: a collision is retried.
    generated_name: bool,
    /// A delete that removes the key (rather than marking a pod terminating).
    removes: bool,
    /// Where the watch cache held the object when the write was planned: the write's
    /// own watch event updates it there, if it is still there, without a lookup.
    cache_slot: Option<usize>,
}

/// A list that cannot be answered from the watch cache as it is now.
#[derive(Debug)]
struct ListRequest {
    client: ActorId,
    id: RequestId,
    kind: Kind,
    namespace: Option<Str>,
    fields: FieldSelector,
    /// `resourceVersion` `""`: a consistent read (else `"N"`).
    consistent: bool,
}

/// What a consistent list's etcd read is for.
#[derive(Debug)]
enum ReadStage {
    /// etcd's current revision (a linearizable range with limit 1, upstream's
    /// `storage.GetCurrentResourceVersionFromStorage`).
    CurrentRevision,
    /// The whole list: the watch cache did not catch up in time.
    Delegated,
}

#[derive(Debug)]
struct PendingRead {
    list: ListRequest,
    stage: ReadStage,
}

/// A list waiting for the watch cache to reach `needed`, until `deadline`.
#[derive(Debug)]
struct ListWaiter {
    needed: u64,
    deadline: SimTime,
    list: ListRequest,
}

/// A write ready for etcd, or an answer that needs no write.
enum Plan {
    Txn {
        key: ObjectKey,
        compare: Compare,
        op: TxnOp,
        generated_name: bool,
        removes: bool,
    },
    Reply(ApiOk),
}

pub struct ApiServer {
    config: ApiServerConfig,
    etcd: ActorId,
    phase: Phase,
    cache: WatchCache,
    /// Writes waiting for etcd, by transaction id.
    pending: IdMap<u64, PendingWrite>,
    /// Consistent lists waiting for etcd, by range id.
    reads: IdMap<u64, PendingRead>,
    /// Lists waiting for the watch cache to reach a revision, in deadline order (every
    /// wait is equally long).
    lists_waiting: VecDeque<ListWaiter>,
    next_etcd_id: u64,
    /// Revision to compact to at the next compaction tick (the previous tick's revision).
    compaction_target: u64,
    /// Service cluster IPs in use, by their offset in the service CIDR.
    cluster_ips: BTreeMap<u32, ObjectKey>,
    /// Every replica behind the load balancer, this one included (empty: the only one).
    peers: Rc<[ActorId]>,
    /// The balancer's choice for the connections this replica breaks.
    balancer: balancer::RoundRobin,
    /// Watch streams open when the process died, as (client, watch id). Their clients
    /// learn that the connection broke when the replica serves again (the restarted
    /// process resets what it does not know), and watch again from there. Kept across
    /// a crash: it stands for the clients' half of the connections, not the server's.
    orphaned_streams: Vec<(ActorId, RequestId)>,
    /// Requests not answered when the process was told to stop (a restart): their
    /// connections were reset, and their clients learn it, as for the streams, when the
    /// replica serves again (then they retry). Kept across the crash that follows.
    orphaned_requests: Vec<(ActorId, RequestId)>,
    /// What this replica answered (kept across a crash, as a scraped metric is).
    requests: requests::RequestStats,
    /// How many times the process crashed (for observers: a restart resets its state).
    incarnation: u64,
    /// Requests not answered yet: verb index and arrival, for `requests`.
    in_flight: IdMap<(ActorId, RequestId), (usize, SimTime)>,
    /// Pending etcd transactions in the order their deadlines come (checked at each
    /// event: a busy replica hears from someone several times a second).
    deadlines: VecDeque<(SimTime, u64)>,
    /// Writes whose precondition names a resourceVersion this replica's cache has not
    /// seen yet (another replica wrote it): they wait for the cache to catch up.
    waiting_for_cache: Vec<(u64, ActorId, ApiRequest)>,
    /// The ids of the cache's etcd watches, one per kind (`first..end`).
    etcd_watch_ids: std::ops::Range<u64>,
    /// Every etcd member the client may use (`--etcd-servers`); `etcd` is the one it
    /// talks to now. Empty: only `etcd`.
    etcd_endpoints: Rc<[ActorId]>,
}

/// The service CIDR, 10.96.0.0/12 (kubeadm's default); .1 is the `kubernetes` Service.
const SERVICE_CIDR_BASE: u32 = 10 << 24 | 96 << 16;
const SERVICE_CIDR_SIZE: u32 = 1 << 20;

fn error(reason: StatusReason, message: String) -> ApiError {
    ApiError { reason, message }
}

fn not_found(key: &ObjectKey) -> ApiError {
    error(
        StatusReason::NotFound,
        format!("{} \"{}\" not found", key.kind.resource(), key.name),
    )
}

/// An admission plugin's refusal: `pods "web" is forbidden: <why>`.
fn forbidden(kind: Kind, name: &str, why: String) -> ApiError {
    let resource = match kind {
        Kind::PriorityClass => "priorityclasses.scheduling.k8s.io",
        Kind::RuntimeClass => "runtimeclasses.node.k8s.io",
        other => other.resource(),
    };
    error(
        StatusReason::Forbidden,
        format!("{resource} \"{name}\" is forbidden: {why}"),
    )
}

/// How a request etcd failed is answered. etcd's errors are not storage errors the
/// registry translates (k8s.io/apiserver/pkg/storage/errors.go knows only not-found,
/// exists, conflict, invalid), so the handler's `ErrorToAPIStatus`
/// (endpoints/handlers/responsewriters/status.go) makes them a 500 carrying etcd's text:
/// `Error from server: etcdserver: request timed out`. (Upstream's reason is `Unknown`;
/// kubesim's closest is InternalError, also 500.)
pub fn etcd_failure(failure: EtcdError) -> ApiError {
    error(StatusReason::InternalError, failure.message().to_string())
}

fn conflict(key: &ObjectKey) -> ApiError {
    error(
        StatusReason::Conflict,
        format!(
            "Operation cannot be fulfilled on {} \"{}\": the object has been modified; please apply your changes to the latest version and try again",
            key.kind.resource(),
            key.name
        ),
    )
}

/// Whether the narrated timeline should show this request (the rest are details).
fn is_story(verb: &ApiVerb) -> bool {
    match verb {
        ApiVerb::Create(o) => !matches!(o.kind(), Kind::Lease | Kind::Namespace),
        ApiVerb::Bind { .. } | ApiVerb::Delete { .. } => true,
        _ => false,
    }
}

fn describe(verb: &ApiVerb) -> String {
    match verb {
        ApiVerb::Create(o) | ApiVerb::Update(o) | ApiVerb::UpdateStatus(o) => {
            let name = if o.meta().name.is_empty() {
                format!("{}<generated>", o.meta().generate_name)
            } else {
                o.meta().name.to_string()
            };
            let key = ObjectKey::new(o.kind(), &o.meta().namespace, &s(&name));
            format!("{} {key}", verb.name())
        }
        ApiVerb::Delete { key, .. } | ApiVerb::Get(key) => format!("{} {key}", verb.name()),
        ApiVerb::Bind { pod, node, .. } => format!("bind {pod} to node {node}"),
        ApiVerb::Evict { pod, .. } => format!("evict {pod}"),
        ApiVerb::List { kind, .. } | ApiVerb::Watch { kind, .. } => {
            format!("{} {}", verb.name(), kind.resource())
        }
    }
}

impl ApiServer {
    pub fn new(config: ApiServerConfig, etcd: ActorId) -> ApiServer {
        ApiServer {
            config,
            etcd,
            phase: Phase::Serving,
            cache: WatchCache::default(),
            pending: IdMap::default(),
            reads: IdMap::default(),
            lists_waiting: VecDeque::new(),
            next_etcd_id: 1,
            compaction_target: 0,
            cluster_ips: BTreeMap::new(),
            peers: Rc::from(Vec::new()),
            balancer: balancer::RoundRobin::default(),
            orphaned_streams: Vec::new(),
            orphaned_requests: Vec::new(),
            requests: requests::RequestStats::default(),
            incarnation: 0,
            in_flight: IdMap::default(),
            deadlines: VecDeque::new(),
            waiting_for_cache: Vec::new(),
            etcd_watch_ids: 0..0,
            etcd_endpoints: Rc::from(Vec::new()),
        }
    }

    /// The etcd members listed in `--etcd-servers` (set at build time).
    pub fn set_etcd_endpoints(&mut self, endpoints: Rc<[ActorId]>) {
        self.etcd_endpoints = endpoints;
    }

    /// The etcd member the replica talks to now.
    pub fn etcd_endpoint(&self) -> ActorId {
        self.etcd
    }

    /// The member in use does not answer: the etcd client moves to the next endpoint
    /// (clientv3's balancer tries the endpoints in turn). False with only one.
    fn fail_over(&mut self, cx: &mut Context<'_, Msg>) -> bool {
        let endpoints = self.etcd_endpoints.clone();
        if endpoints.len() < 2 {
            return false;
        }
        let index = endpoints.iter().position(|e| *e == self.etcd).unwrap_or(0);
        let next_index = (index + 1) % endpoints.len();
        self.etcd = endpoints[next_index];
        cx.record("step", || {
            format!(
                "kube-apiserver: etcd endpoint {} does not answer within --request-timeout; switching to endpoint {}",
                index + 1,
                next_index + 1
            )
        });
        true
    }

    /// Still starting after `--request-timeout`: queued requests time out, and the ranges
    /// not answered yet go to another etcd member.
    fn start_stalled(&mut self, cx: &mut Context<'_, Msg>) {
        let now = cx.now();
        let timeout = self.config.request_timeout;
        let Phase::Starting { queued, .. } = &mut self.phase else {
            return;
        };
        let in_flight = &self.in_flight;
        let (expired, kept): (VecDeque<_>, VecDeque<_>) = std::mem::take(queued)
            .into_iter()
            .partition(|(from, request)| {
                in_flight
                    .get(&(*from, request.id))
                    .is_none_or(|(_, arrived)| *arrived + timeout <= now)
            });
        *queued = kept;
        for (from, request) in expired {
            self.reply_timeout(from, request.id, cx);
        }
        let switched = self.fail_over(cx);
        let Phase::Starting { ranges, since, .. } = &mut self.phase else {
            unreachable!("checked above")
        };
        *since = now;
        if switched {
            let kinds: Vec<Kind> = std::mem::take(ranges).into_iter().map(|(_, k)| k).collect();
            for kind in kinds {
                self.send_range(kind, SimDuration::ZERO, cx);
            }
        }
    }

    /// Every replica behind the load balancer, this one included (set at build time).
    pub fn set_peers(&mut self, peers: Rc<[ActorId]>) {
        self.peers = peers;
    }

    /// What this replica answered, per verb and second.
    pub fn request_stats(&self) -> &requests::RequestStats {
        &self.requests
    }

    /// Bumped at each crash of the process.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// Whether the replica serves (its watch cache is loaded).
    pub fn is_serving(&self) -> bool {
        matches!(self.phase, Phase::Serving)
    }

    /// The open watch streams, for the stream checker.
    pub fn watchers(&self) -> impl Iterator<Item = &Watcher> {
        self.cache.all_watchers()
    }

    /// The watchers that may care about a change of `object` (before: `previous`), for
    /// the stream checker.
    pub fn watchers_of<'a>(
        &'a self,
        object: &'a Object,
        previous: Option<&'a Object>,
    ) -> [&'a [Watcher]; 3] {
        self.cache.watchers_of(object, previous)
    }

    /// Counts watchers registered since the start, for the stream checker to notice new
    /// streams without walking them all.
    pub fn watch_streams_opened(&self) -> u64 {
        self.cache.watchers_added()
    }

    /// The latest etcd revision the watch cache has seen.
    pub fn cache_revision(&self) -> u64 {
        self.cache.revision()
    }

    pub fn watcher_count(&self) -> usize {
        self.cache.watcher_count()
    }

    fn start(&mut self, cx: &mut Context<'_, Msg>) {
        self.phase = Phase::Starting {
            ranges_pending: Kind::ALL.len(),
            objects_loaded: 0,
            ranges: Vec::new(),
            since: cx.now(),
            queued: VecDeque::new(),
        };
        for kind in Kind::ALL {
            self.send_range(kind, SimDuration::ZERO, cx);
        }
        cx.timer(
            self.config.etcd_compaction_interval,
            Msg::Tick(AnyTick::Apiserver(Tick::Compact)),
        );
    }

    /// Asks etcd for every object of `kind`, after `delay` (a retry's back-off).
    fn send_range(&mut self, kind: Kind, delay: SimDuration, cx: &mut Context<'_, Msg>) {
        let id = self.etcd_id();
        if let Phase::Starting { ranges, .. } = &mut self.phase {
            ranges.push((id, kind));
        }
        cx.send_after(
            delay,
            self.etcd,
            Msg::Etcd(Box::new(EtcdRequest::Range { id, kind, limit: 0 })),
        );
    }

    /// etcd refused or could not answer request `id`: a client's write fails with etcd's
    /// message; a range of the cache's start is tried again; anything else was the
    /// cache's own watch, which has ended, so the cache starts over.
    fn on_etcd_error(&mut self, id: u64, failure: EtcdError, cx: &mut Context<'_, Msg>) {
        if let Some(read) = self.reads.swap_remove(&id) {
            let ListRequest { client, id, .. } = read.list;
            let result = Err(etcd_failure(failure));
            self.reply(client, id, result, self.config.request_latency, cx);
            return;
        }
        if let Some(pending) = self.pending.swap_remove(&id) {
            match pending.client {
                Some((to, request)) => self.reply(
                    to,
                    request,
                    Err(etcd_failure(failure)),
                    self.config.request_latency,
                    cx,
                ),
                None => self.bootstrap_write_done(id, cx),
            }
            return;
        }
        if let Phase::Starting { ranges, .. } = &mut self.phase
            && let Some(index) = ranges.iter().position(|(range, _)| *range == id)
        {
            let (_, kind) = ranges.swap_remove(index);
            cx.record("detail", || {
                format!(
                    "kube-apiserver: listing {} from etcd failed ({}); retrying",
                    kind.resource(),
                    failure.message()
                )
            });
            self.send_range(kind, crate::client::RELIST_BACKOFF, cx);
            return;
        }
        if self.etcd_watch_ids.contains(&id) {
            // The member stopped (killed, restored): its connections were reset, so the
            // client reconnects, to the next endpoint when there is one.
            if failure == EtcdError::Stopped {
                self.fail_over(cx);
            }
            self.restart_cache(failure.message(), cx);
        }
        // Anything else answered a request that timed out already.
    }

    /// The cache's etcd watch ended (etcd restored from a snapshot, compacted past it):
    /// the cache is rebuilt from a fresh list, as upstream's cacher relists. Writes in
    /// flight fail; every watch stream breaks, and its client watches again once the
    /// cache serves.
    fn restart_cache(&mut self, why: &str, cx: &mut Context<'_, Msg>) {
        cx.record("step", || {
            format!("kube-apiserver: its etcd watch ended ({why}); rebuilding the watch cache")
        });
        let mut waiting: Vec<(ActorId, RequestId)> = Vec::new();
        waiting.extend(self.pending.drain().filter_map(|(_, p)| p.client));
        waiting.extend(self.reads.drain().map(|(_, r)| (r.list.client, r.list.id)));
        waiting.extend(
            self.lists_waiting
                .drain(..)
                .map(|w| (w.list.client, w.list.id)),
        );
        waiting.extend(
            self.waiting_for_cache
                .drain(..)
                .map(|(_, from, r)| (from, r.id)),
        );
        for (to, request) in waiting {
            let failure = error(StatusReason::InternalError, why.to_string());
            self.reply(to, request, Err(failure), self.config.request_latency, cx);
        }
        let mut fresh = ApiServer::new(self.config.clone(), self.etcd);
        fresh.peers = self.peers.clone();
        fresh.etcd_endpoints = self.etcd_endpoints.clone();
        fresh.requests = std::mem::take(&mut self.requests);
        fresh.incarnation = self.incarnation + 1;
        fresh.next_etcd_id = self.next_etcd_id;
        fresh.orphaned_streams = std::mem::take(&mut self.orphaned_streams);
        fresh.orphaned_streams.extend(self.cache.take_watchers());
        fresh.orphaned_requests = std::mem::take(&mut self.orphaned_requests);
        fresh.in_flight = std::mem::take(&mut self.in_flight);
        *self = fresh;
        self.start(cx);
    }

    fn etcd_id(&mut self) -> u64 {
        let id = self.next_etcd_id;
        self.next_etcd_id += 1;
        id
    }

    fn on_etcd_reply(&mut self, response: EtcdResponse, cx: &mut Context<'_, Msg>) {
        match response {
            EtcdResponse::Range {
                id,
                items,
                revision,
            } => {
                if let Some(read) = self.reads.swap_remove(&id) {
                    self.on_read(read, items, revision, cx);
                    return;
                }
                let starting_range = matches!(
                    &self.phase,
                    Phase::Starting { ranges, .. } if ranges.iter().any(|(range, _)| *range == id)
                );
                if !starting_range {
                    // A late answer to a range given up already: a consistent list
                    // answered with 504 at --request-timeout, or a start's range sent
                    // again to another member (or before a restart of the cache).
                    assert!(id < self.next_etcd_id, "etcd answered a range never sent");
                    return;
                }
                for item in &items {
                    if let Object::Service(service) = item
                        && let Some(offset) = service
                            .spec
                            .cluster_ip
                            .as_deref()
                            .and_then(parse_service_ip_offset)
                    {
                        self.cluster_ips.insert(offset, item.key());
                    }
                }
                let loaded = items.len() as u64;
                self.cache.load(items, revision);
                let Phase::Starting {
                    ranges_pending,
                    objects_loaded,
                    ranges,
                    ..
                } = &mut self.phase
                else {
                    panic!("etcd range reply while serving")
                };
                *ranges_pending -= 1;
                *objects_loaded += loaded;
                ranges.retain(|(range, _)| *range != id);
                if *ranges_pending == 0 {
                    let cost = self
                        .config
                        .watch_cache_init_cost_per_object
                        .saturating_mul(*objects_loaded);
                    if cost == SimDuration::ZERO {
                        self.finish_start(cx);
                    } else {
                        let objects = *objects_loaded;
                        cx.record("detail", || {
                            format!(
                                "kube-apiserver decodes {objects} objects into its watch cache ({cost})"
                            )
                        });
                        cx.timer(cost, Msg::Tick(AnyTick::Apiserver(Tick::CacheFilled)));
                    }
                }
            }
            EtcdResponse::Txn {
                id,
                succeeded,
                value,
                own_watch_event,
                ..
            } => {
                if let Some(event) = own_watch_event {
                    let slot = self.pending.get(&id).and_then(|p| p.cache_slot);
                    self.on_etcd_watch(*event, slot, cx);
                }
                self.on_txn_reply(id, succeeded, value, cx)
            }
            EtcdResponse::WatchCompacted {
                compact_revision, ..
            } => {
                let why = format!(
                    "etcdserver: mvcc: required revision has been compacted ({compact_revision})"
                );
                self.restart_cache(&why, cx);
            }
            EtcdResponse::Error { id, error } => self.on_etcd_error(id, error, cx),
        }
    }

    fn finish_start(&mut self, cx: &mut Context<'_, Msg>) {
        let start_revision = self.cache.revision() + 1;
        self.etcd_watch_ids = self.next_etcd_id..self.next_etcd_id + Kind::ALL.len() as u64;
        for kind in Kind::ALL {
            let watch_id = self.etcd_id();
            cx.send(
                self.etcd,
                Msg::Etcd(Box::new(EtcdRequest::Watch {
                    watch_id,
                    kind,
                    start_revision,
                })),
            );
        }
        let Phase::Starting { queued, .. } = std::mem::replace(&mut self.phase, Phase::Serving)
        else {
            unreachable!("checked by the caller")
        };
        let revision = self.cache.revision();
        cx.record("detail", || {
            format!("watch cache loaded at revision {revision}; running the post-start hooks")
        });
        let first_bootstrap_id = self.next_etcd_id;
        for name in SYSTEM_NAMESPACES {
            let key = ObjectKey::new(Kind::Namespace, &s(""), &s(name));
            if self.cache.get(&key).is_none() {
                let namespace = Object::from(Namespace {
                    metadata: ObjectMeta::named("", name),
                });
                self.begin_write(None, ApiVerb::Create(namespace), 0, cx);
            }
        }
        // The scheduling API's bootstrap hook creates the built-in priority classes
        // (pkg/registry/scheduling/rest/storage_scheduling.go).
        for class in crate::api::system_priority_classes() {
            if self.cache.priority_class(&class.metadata.name).is_none() {
                self.begin_write(None, ApiVerb::Create(Object::from(class)), 0, cx);
            }
        }
        let writes: Vec<u64> = self
            .pending
            .keys()
            .copied()
            .filter(|id| *id >= first_bootstrap_id)
            .collect();
        // A bootstrap write etcd leaves unanswered ends the wait after --request-timeout.
        let deadline = cx.now() + self.config.request_timeout;
        self.deadlines
            .extend(writes.iter().map(|id| (deadline, *id)));
        if writes.is_empty() {
            self.become_ready(queued, cx);
        } else {
            let count = writes.len();
            cx.record("detail", || {
                format!("kube-apiserver: /readyz waits for {count} bootstrap writes (system namespaces, priority classes)")
            });
            self.phase = Phase::Bootstrapping { writes, queued };
        }
        // The previous process's streams: their clients learn now that the connection
        // broke, and watch again (here, or on another replica).
        let orphans = std::mem::take(&mut self.orphaned_streams);
        if !orphans.is_empty() {
            let count = orphans.len();
            cx.record("step", || {
                format!("kube-apiserver serves again: {count} watch streams of its previous run are reset; their clients watch again")
            });
        }
        for (client, watch_id) in orphans {
            self.close_stream(client, watch_id, cx);
        }
        for (client, id) in std::mem::take(&mut self.orphaned_requests) {
            cx.send(
                client,
                Msg::ApiReply(Box::new(ApiResponse {
                    id,
                    result: Err(error(
                        StatusReason::ServiceUnavailable,
                        CONNECTION_RESET_MESSAGE.to_string(),
                    )),
                })),
            );
        }
    }

    /// The post-start hooks are done: the replica is ready and serves what waited.
    fn become_ready(&mut self, queued: VecDeque<(ActorId, ApiRequest)>, cx: &mut Context<'_, Msg>) {
        self.phase = Phase::Serving;
        let count = queued.len();
        cx.record("detail", || {
            format!("kube-apiserver is ready (/readyz ok); serving {count} queued requests")
        });
        for (from, request) in queued {
            self.on_request(from, request, cx);
        }
    }

    /// A write of the server's own (no client) has been answered, or given up.
    fn bootstrap_write_done(&mut self, etcd_id: u64, cx: &mut Context<'_, Msg>) {
        let Phase::Bootstrapping { writes, .. } = &mut self.phase else {
            return;
        };
        writes.retain(|id| *id != etcd_id);
        if !writes.is_empty() {
            return;
        }
        let Phase::Bootstrapping { queued, .. } =
            std::mem::replace(&mut self.phase, Phase::Serving)
        else {
            unreachable!("matched above")
        };
        self.become_ready(queued, cx);
    }

    /// Ends one watch stream because its connection broke; a client behind the load
    /// balancer reconnects to the replica the balancer picks (not this one, which is
    /// failing its health check while it stops or starts).
    fn close_stream(&mut self, client: ActorId, watch_id: RequestId, cx: &mut Context<'_, Msg>) {
        let reconnect_to = if self.peers.len() > 1 {
            self.balancer.pick(&self.peers, Some(cx.me()))
        } else {
            None
        };
        cx.send(
            client,
            Msg::Watch(Box::new(WatchEvent::Closed {
                watch_id,
                // A broken connection, not a Status: any reason but Gone makes the
                // client watch again from its resourceVersion.
                reason: StatusReason::ServiceUnavailable,
                reconnect_to,
            })),
        );
    }

    /// `SIGTERM`: the replica stops serving. With other replicas behind the balancer,
    /// its watch streams close now and their clients move; alone, its clients have
    /// nowhere to go, and learn when it serves again.
    fn shut_down(&mut self, cx: &mut Context<'_, Msg>) {
        // The process exits with these unanswered (queued while it started, or waiting
        // for etcd): their connections are reset.
        self.orphaned_requests
            .extend(std::mem::take(&mut self.in_flight).into_keys());
        let streams = self.cache.take_watchers();
        let count = streams.len();
        if self.peers.len() > 1 {
            cx.record("step", || {
                format!("kube-apiserver shuts down: it closes {count} watch streams; their clients reconnect through the load balancer")
            });
            for (client, watch_id) in streams {
                self.close_stream(client, watch_id, cx);
            }
        } else {
            cx.record("step", || {
                format!("kube-apiserver shuts down with {count} watch streams open")
            });
            self.orphaned_streams.extend(streams);
        }
    }

    /// Times out every request whose deadline has passed.
    fn expire_requests(&mut self, cx: &mut Context<'_, Msg>) {
        let now = cx.now();
        let mut etcd_silent = false;
        while let Some(&(deadline, etcd_id)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_front();
            if let Some(read) = self.reads.swap_remove(&etcd_id) {
                etcd_silent = true;
                let what = describe_list(&read.list);
                cx.record("detail", || {
                    format!("{what}: etcd did not answer within --request-timeout")
                });
                self.reply_timeout(read.list.client, read.list.id, cx);
                continue;
            }
            let Some(pending) = self.pending.swap_remove(&etcd_id) else {
                continue;
            };
            etcd_silent = true;
            let what = describe(&pending.verb);
            cx.record("detail", || {
                format!("{what}: etcd did not answer within --request-timeout")
            });
            match pending.client {
                Some((to, id)) => self.reply_timeout(to, id, cx),
                None => self.bootstrap_write_done(etcd_id, cx),
            }
        }
        // A member that answers nothing for --request-timeout is unreachable: with other
        // endpoints the client moves, and the cache's watch, on that member too, is
        // rebuilt from the new one.
        if etcd_silent && self.fail_over(cx) {
            self.restart_cache("etcd member unreachable", cx);
            return;
        }
        if self.waiting_for_cache.is_empty() {
            return;
        }
        let timeout = self.config.request_timeout;
        let (expired, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting_for_cache)
            .into_iter()
            .partition(|(_, from, request)| {
                self.in_flight
                    .get(&(*from, request.id))
                    .is_none_or(|(_, arrived)| *arrived + timeout <= now)
            });
        self.waiting_for_cache = waiting;
        for (_, from, request) in expired {
            self.reply_timeout(from, request.id, cx);
        }
    }

    /// Writes that waited for this replica's cache to reach their resourceVersion, now
    /// that it has.
    fn release_waiting(&mut self, cx: &mut Context<'_, Msg>) {
        let revision = self.cache.revision();
        if self
            .waiting_for_cache
            .iter()
            .all(|(needed, _, _)| *needed > revision)
        {
            return;
        }
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.waiting_for_cache)
            .into_iter()
            .partition(|(needed, _, _)| *needed <= revision);
        self.waiting_for_cache = waiting;
        for (_, from, request) in ready {
            self.serve(from, request, cx);
        }
    }

    fn on_request(&mut self, from: ActorId, request: ApiRequest, cx: &mut Context<'_, Msg>) {
        self.in_flight.insert(
            (from, request.id),
            (requests::verb_index(&request.verb), cx.now()),
        );
        if let Phase::Starting { queued, .. } | Phase::Bootstrapping { queued, .. } =
            &mut self.phase
        {
            queued.push_back((from, request));
            return;
        }
        // A precondition newer than this replica's cache: another replica wrote it, and
        // its watch event is on its way here. Upstream's GuaranteedUpdate would re-read
        // etcd after a failed first try against the cache; waiting for the cache gives the
        // same answer without the read.
        if let ApiVerb::Update(object) | ApiVerb::UpdateStatus(object) = &request.verb {
            let needed = object.meta().resource_version;
            if needed > self.cache.revision() {
                self.waiting_for_cache.push((needed, from, request));
                return;
            }
        }
        self.serve(from, request, cx);
    }

    fn serve(&mut self, from: ActorId, request: ApiRequest, cx: &mut Context<'_, Msg>) {
        let ApiRequest { id, verb } = request;
        // Writes that tell the story are narrated once admitted (with generated names
        // filled in); everything else is a detail. Lease renewals are too many to list.
        if !is_story(&verb) && !matches!(verb, ApiVerb::Update(Object::Lease(_))) {
            cx.record("detail", || describe(&verb));
        }
        match verb {
            ApiVerb::Get(key) => {
                let result = match self.cache.get(&key) {
                    Some(object) => Ok(ApiOk::Object(object.clone())),
                    None => Err(not_found(&key)),
                };
                self.reply(from, id, result, self.config.request_latency, cx);
            }
            ApiVerb::List {
                kind,
                namespace,
                fields,
                resource_version,
            } => {
                let mut list = ListRequest {
                    client: from,
                    id,
                    kind,
                    namespace,
                    fields,
                    consistent: false,
                };
                match resource_version {
                    ListResourceVersion::Any => self.serve_list(list, cx),
                    ListResourceVersion::NotOlderThan(needed) => {
                        self.list_when_fresh(list, needed, cx)
                    }
                    ListResourceVersion::MostRecent => {
                        list.consistent = true;
                        self.read_current_revision(list, cx);
                    }
                }
            }
            ApiVerb::Watch {
                kind,
                namespace,
                fields,
                resource_version,
            } => self.watch(
                from,
                id,
                Watcher {
                    client: from,
                    watch_id: id,
                    kind,
                    namespace,
                    fields,
                    start_revision: 0,
                    sent_revision: 0,
                    sent_count: 0,
                    serial: 0,
                },
                resource_version,
                cx,
            ),
            verb @ ApiVerb::Evict { .. } => self.evict((from, id), verb, 0, None, cx),
            verb => self.begin_write(Some((from, id)), verb, 0, cx),
        }
    }

    /// Answers a list from the watch cache as it is now.
    fn serve_list(&mut self, list: ListRequest, cx: &mut Context<'_, Msg>) {
        let items = self
            .cache
            .list(list.kind, list.namespace.as_ref(), &list.fields);
        let resource_version = self.cache.revision();
        self.reply_list(list, items, resource_version, cx);
    }

    /// Answers a list with `items` at `resource_version`, after its cost: the base
    /// latency plus the per-object cost of serializing them.
    fn reply_list(
        &mut self,
        list: ListRequest,
        items: Vec<Object>,
        resource_version: u64,
        cx: &mut Context<'_, Msg>,
    ) {
        let cost = self.config.request_latency
            + self
                .config
                .list_cost_per_object
                .saturating_mul(items.len() as u64);
        let result = Ok(ApiOk::List {
            items,
            resource_version,
        });
        self.reply(list.client, list.id, result, cost, cx);
    }

    /// A list that needs the cache at `needed` or later: served now if it is there,
    /// else once it is, or given up after `watch_cache_block_timeout`.
    fn list_when_fresh(&mut self, list: ListRequest, needed: u64, cx: &mut Context<'_, Msg>) {
        if needed <= self.cache.revision() {
            self.serve_list(list, cx);
            return;
        }
        let (what, current) = (describe_list(&list), self.cache.revision());
        cx.record("detail", || {
            format!("{what}: waiting for the watch cache (revision {current}) to reach {needed}")
        });
        let wait = self.config.watch_cache_block_timeout;
        self.lists_waiting.push_back(ListWaiter {
            needed,
            deadline: cx.now() + wait,
            list,
        });
        cx.timer(wait, Msg::Tick(AnyTick::Apiserver(Tick::ListWait)));
    }

    /// A consistent list first learns etcd's current revision through a quorum read
    /// (which fails, as every etcd request does, without a quorum).
    fn read_current_revision(&mut self, list: ListRequest, cx: &mut Context<'_, Msg>) {
        let id = self.etcd_id();
        let kind = list.kind;
        self.track_deadline(Some((list.client, list.id)), id, cx.now());
        self.reads.insert(
            id,
            PendingRead {
                list,
                stage: ReadStage::CurrentRevision,
            },
        );
        cx.send(
            self.etcd,
            Msg::Etcd(Box::new(EtcdRequest::Range { id, kind, limit: 1 })),
        );
    }

    /// etcd answered a consistent list's read.
    fn on_read(
        &mut self,
        read: PendingRead,
        items: Vec<Object>,
        revision: u64,
        cx: &mut Context<'_, Msg>,
    ) {
        let PendingRead { list, stage } = read;
        match stage {
            ReadStage::CurrentRevision => self.list_when_fresh(list, revision, cx),
            ReadStage::Delegated => {
                // etcd returns the whole kind; the registry applies the selectors.
                let items = items
                    .into_iter()
                    .filter(|o| {
                        list.namespace
                            .as_ref()
                            .is_none_or(|ns| o.meta().namespace == *ns)
                            && list.fields.matches(o)
                    })
                    .collect();
                self.reply_list(list, items, revision, cx);
            }
        }
    }

    /// Serves the waiting lists the cache has caught up for.
    fn release_lists(&mut self, cx: &mut Context<'_, Msg>) {
        let revision = self.cache.revision();
        if self.lists_waiting.iter().all(|w| w.needed > revision) {
            return;
        }
        let (ready, waiting): (VecDeque<_>, VecDeque<_>) = std::mem::take(&mut self.lists_waiting)
            .into_iter()
            .partition(|w| w.needed <= revision);
        self.lists_waiting = waiting;
        for waiter in ready {
            self.serve_list(waiter.list, cx);
        }
    }

    /// Lists that waited `watch_cache_block_timeout` for the cache in vain: a consistent
    /// one is served by etcd instead, one from `"N"` gets 504 "Too large resource
    /// version" (and its informer relists consistently).
    fn expire_lists(&mut self, cx: &mut Context<'_, Msg>) {
        let now = cx.now();
        while self
            .lists_waiting
            .front()
            .is_some_and(|w| w.deadline <= now)
        {
            let ListWaiter { needed, list, .. } = self.lists_waiting.pop_front().expect("front");
            let (what, current) = (describe_list(&list), self.cache.revision());
            if list.consistent {
                cx.record("detail", || {
                    format!("{what}: the watch cache did not reach revision {needed} (at {current}); listing from etcd")
                });
                let id = self.etcd_id();
                let kind = list.kind;
                self.track_deadline(Some((list.client, list.id)), id, now);
                self.reads.insert(
                    id,
                    PendingRead {
                        list,
                        stage: ReadStage::Delegated,
                    },
                );
                cx.send(
                    self.etcd,
                    Msg::Etcd(Box::new(EtcdRequest::Range { id, kind, limit: 0 })),
                );
            } else {
                let message =
                    format!("{TOO_LARGE_RESOURCE_VERSION_PREFIX}{needed}, current: {current}");
                let result = Err(error(StatusReason::Timeout, message));
                self.reply(list.client, list.id, result, SimDuration::ZERO, cx);
            }
        }
    }

    fn watch(
        &mut self,
        from: ActorId,
        id: RequestId,
        watcher: Watcher,
        resource_version: u64,
        cx: &mut Context<'_, Msg>,
    ) {
        if resource_version != 0 && resource_version < self.cache.oldest_watchable_revision() {
            let message = format!(
                "too old resource version: {resource_version} ({})",
                self.cache.oldest_watchable_revision()
            );
            self.reply(
                from,
                id,
                Err(error(StatusReason::Gone, message)),
                self.config.request_latency,
                cx,
            );
            return;
        }
        self.reply(from, id, Ok(ApiOk::WatchStarted), SimDuration::ZERO, cx);
        let mut watcher = watcher;
        // Changes after the start go out as they come; a client ahead of this replica's
        // cache (it saw them on another) is not sent again what it has.
        watcher.start_revision = if resource_version == 0 {
            self.cache.revision()
        } else {
            resource_version
        };
        watcher.sent_revision = watcher.start_revision;
        if resource_version == 0 {
            // "Any" version: a synthetic Added for everything that matches now, oldest
            // resourceVersion first, so the stream's versions only grow (a list comes out
            // in key order).
            let mut objects =
                self.cache
                    .list(watcher.kind, watcher.namespace.as_ref(), &watcher.fields);
            objects.sort_by_key(|object| object.meta().resource_version);
            for object in objects {
                cx.send(
                    from,
                    Msg::Watch(Box::new(WatchEvent::Change {
                        watch_id: id,
                        type_: crate::api::WatchEventType::Added,
                        object,
                    })),
                );
            }
        } else {
            for change in self.cache.changes_since(resource_version) {
                if change.object.kind() == watcher.kind
                    && let Some(type_) = watcher.event_for(change)
                {
                    watcher.sent_revision = change.revision;
                    watcher.sent_count += 1;
                    cx.send(
                        from,
                        Msg::Watch(Box::new(WatchEvent::Change {
                            watch_id: id,
                            type_,
                            object: change.object.clone(),
                        })),
                    );
                }
            }
        }
        self.cache.add_watcher(watcher);
    }

    /// Answers request `id` of `to` at once with the `--request-timeout` error.
    fn reply_timeout(&mut self, to: ActorId, id: RequestId, cx: &mut Context<'_, Msg>) {
        self.reply(
            to,
            id,
            Err(error(
                StatusReason::Timeout,
                REQUEST_TIMEOUT_MESSAGE.to_string(),
            )),
            SimDuration::ZERO,
            cx,
        );
    }

    fn reply(
        &mut self,
        to: ActorId,
        id: RequestId,
        result: Result<ApiOk, ApiError>,
        after: SimDuration,
        cx: &mut Context<'_, Msg>,
    ) {
        if let Some((verb, arrived)) = self.in_flight.swap_remove(&(to, id)) {
            self.requests
                .observe(verb, arrived, cx.now() + after, result.is_err());
        }
        if let Err(e) = &result {
            let (code, message) = (e.reason.code(), e.message.clone());
            cx.record("detail", || {
                format!("request {id} failed: {code} {message}")
            });
        }
        cx.send_after(
            after,
            to,
            Msg::ApiReply(Box::new(ApiResponse { id, result })),
        );
    }

    /// Plans a write against `current` (the cached object, or etcd's fresher value on a
    /// retry) and sends it to etcd, or answers at once.
    fn begin_write(
        &mut self,
        client: Option<(ActorId, RequestId)>,
        verb: ApiVerb,
        attempts: u32,
        cx: &mut Context<'_, Msg>,
    ) {
        let key = match &verb {
            ApiVerb::Create(o) | ApiVerb::Update(o) | ApiVerb::UpdateStatus(o) => o.key(),
            ApiVerb::Delete { key, .. } => key.clone(),
            ApiVerb::Bind { pod, .. } => pod.clone(),
            ApiVerb::Get(_) | ApiVerb::List { .. } | ApiVerb::Watch { .. } => {
                unreachable!("reads are served from the cache")
            }
            ApiVerb::Evict { .. } => unreachable!("evictions are planned in eviction.rs"),
        };
        let (cache_slot, current) = match self.cache.get_with_slot(&key) {
            Some((slot, object)) => (Some(slot), Some(object.clone())),
            None => (None, None),
        };
        self.write_against(client, verb, attempts, current, cache_slot, cx);
    }

    fn write_against(
        &mut self,
        client: Option<(ActorId, RequestId)>,
        verb: ApiVerb,
        attempts: u32,
        current: Option<Object>,
        cache_slot: Option<usize>,
        cx: &mut Context<'_, Msg>,
    ) {
        let mut verb = verb;
        match self.plan(&mut verb, current.as_ref(), cx) {
            Err(e) => {
                if let Some((to, id)) = client {
                    self.reply(to, id, Err(e), self.config.request_latency, cx);
                }
            }
            Ok(Plan::Reply(ok)) => {
                if let Some((to, id)) = client {
                    self.reply(to, id, Ok(ok), self.config.request_latency, cx);
                }
            }
            Ok(Plan::Txn {
                key,
                compare,
                op,
                generated_name,
                removes,
            }) => {
                // The server's own bootstrap writes are housekeeping, not the story.
                if client.is_some() && (is_story(&verb) || removes) {
                    cx.record("step", || {
                        let what = match (&verb, &op) {
                            (ApiVerb::Delete { .. }, TxnOp::Put(marked))
                                if !marked.meta().finalizers.is_empty() =>
                            {
                                format!(
                                    "delete {key} (finalizers {} hold it: marking it deleting)",
                                    marked.meta().finalizers.join(", ")
                                )
                            }
                            (ApiVerb::Delete { .. }, TxnOp::Put(_)) => {
                                format!("delete {key} (graceful: marking it terminating)")
                            }
                            (ApiVerb::Update(_), TxnOp::Delete) => {
                                format!("update {key} removes its last finalizer: deleting it")
                            }
                            (ApiVerb::Delete { .. }, TxnOp::Delete) => format!("delete {key}"),
                            (ApiVerb::Bind { node, .. }, _) => format!("bind {key} to node {node}"),
                            _ => format!("create {key}"),
                        };
                        format!("{what}: admitted, writing to etcd")
                    });
                }
                let id = self.etcd_id();
                if let TxnOp::Put(Object::Service(service)) = &op
                    && let Some(offset) = service
                        .spec
                        .cluster_ip
                        .as_deref()
                        .and_then(parse_service_ip_offset)
                {
                    self.cluster_ips.insert(offset, key.clone());
                }
                let verb = match (&op, verb) {
                    // Retries of a generated name must keep the name it was given.
                    (TxnOp::Put(o), ApiVerb::Create(_)) if generated_name => {
                        let mut retry = o.clone();
                        retry.meta_mut().name = s("");
                        ApiVerb::Create(retry)
                    }
                    (_, verb) => verb,
                };
                self.track_deadline(client, id, cx.now());
                self.pending.insert(
                    id,
                    PendingWrite {
                        client,
                        verb,
                        attempts: attempts + 1,
                        generated_name,
                        removes,
                        cache_slot,
                    },
                );
                cx.send(
                    self.etcd,
                    Msg::Etcd(Box::new(EtcdRequest::Txn {
                        id,
                        key,
                        compare,
                        op,
                    })),
                );
            }
        }
    }

    /// A client's transaction `etcd_id` joins the deadline queue, due
    /// `--request-timeout` after the request arrived (the server's own writes have no
    /// client to answer, and no deadline).
    fn track_deadline(&mut self, client: Option<(ActorId, RequestId)>, etcd_id: u64, now: SimTime) {
        let Some(key) = client else {
            return;
        };
        let arrived = self
            .in_flight
            .get(&key)
            .map_or(now, |(_, arrived)| *arrived);
        self.deadlines
            .push_back((arrived + self.config.request_timeout, etcd_id));
    }

    fn toleration_defaults(&self) -> (u64, u64) {
        (
            self.config.default_not_ready_toleration_seconds,
            self.config.default_unreachable_toleration_seconds,
        )
    }

    /// Plans `verb` against `current`. A conditional update's request object is taken
    /// for the merge, and the stored object it was checked against takes its place in
    /// `verb` (same key, same narration; such an update is never retried from it), so a
    /// request nobody else holds is merged in place rather than copied.
    fn plan(
        &mut self,
        verb: &mut ApiVerb,
        current: Option<&Object>,
        cx: &mut Context<'_, Msg>,
    ) -> Result<Plan, ApiError> {
        let invalid = |e: strategy::Invalid| error(StatusReason::Invalid, e.0);
        let status_only = matches!(verb, ApiVerb::UpdateStatus(_));
        match verb {
            ApiVerb::Create(object) => {
                // The request's object is admitted in place and becomes the one written
                // (and the one a retry or an error names): no copy of it is made unless
                // the client kept one.
                let generated_name = object.meta().name.is_empty();
                if generated_name {
                    let prefix = object.meta().generate_name.clone();
                    if prefix.is_empty() {
                        return Err(error(
                            StatusReason::Invalid,
                            "metadata.name: Required value: name or generateName is required"
                                .to_string(),
                        ));
                    }
                    let suffix: String = (0..GENERATE_NAME_SUFFIX_LEN)
                        .map(|_| {
                            let index = cx.rng().below(GENERATE_NAME_ALPHABET.len() as u64);
                            GENERATE_NAME_ALPHABET[index as usize] as char
                        })
                        .collect();
                    object.meta_mut().name = s(&format!("{prefix}{suffix}"));
                }
                let key = object.key();
                if key.kind.namespaced() {
                    let namespace = ObjectKey::new(Kind::Namespace, &s(""), &key.namespace);
                    if self.cache.get(&namespace).is_none() {
                        return Err(not_found(&namespace));
                    }
                }
                if current.is_some() && !generated_name {
                    return Err(error(
                        StatusReason::AlreadyExists,
                        format!("{} \"{}\" already exists", key.kind.resource(), key.name),
                    ));
                }
                deletion::validate_finalizers(None, object).map_err(invalid)?;
                self.admit(object, generated_name)?;
                let uid = cx.rng().next_u64();
                strategy::prepare_for_create(
                    object,
                    uid,
                    cx.host_clock(),
                    self.toleration_defaults(),
                )
                .map_err(invalid)?;
                if let Object::Service(service) = object
                    && service.spec.cluster_ip.is_none()
                {
                    let ip = self.allocate_cluster_ip(cx);
                    Rc::make_mut(service).spec.cluster_ip = Some(s(&ip));
                }
                Ok(Plan::Txn {
                    key,
                    compare: Compare::Absent,
                    op: TxnOp::Put(object.clone()),
                    generated_name,
                    removes: false,
                })
            }
            ApiVerb::Update(object) | ApiVerb::UpdateStatus(object) => {
                let key = object.key();
                let current = current.ok_or_else(|| not_found(&key))?;
                let requested = object.meta().resource_version;
                if requested != 0 && requested != current.meta().resource_version {
                    return Err(conflict(&key));
                }
                // Only an unconditional update is retried from its request (see
                // `on_txn_reply`): it keeps it, a conditional one hands it over.
                let request = if requested == 0 {
                    object.clone()
                } else {
                    std::mem::replace(object, current.clone())
                };
                let merged = if status_only {
                    strategy::prepare_for_status_update(current, request)
                } else {
                    strategy::prepare_for_update(current, request)
                }
                .map_err(invalid)?;
                if let Object::PriorityClass(class) = &merged {
                    strategy::validate_priority_class(class).map_err(invalid)?;
                    self.check_single_default(class)?;
                }
                deletion::validate_finalizers(Some(current), &merged).map_err(invalid)?;
                // Removing the last finalizer of an object being deleted deletes it.
                let removes = deletion::should_delete_during_update(current, &merged);
                Ok(Plan::Txn {
                    key,
                    compare: Compare::ModRevision(current.meta().resource_version),
                    op: if removes {
                        TxnOp::Delete
                    } else {
                        TxnOp::Put(merged)
                    },
                    generated_name: false,
                    removes,
                })
            }
            ApiVerb::Delete {
                key,
                grace_period_seconds,
                uid_precondition,
                propagation_policy,
            } => {
                let current = current.ok_or_else(|| not_found(key))?;
                if *uid_precondition != 0 && current.meta().uid != *uid_precondition {
                    return Err(error(
                        StatusReason::Conflict,
                        format!(
                            "Precondition failed: UID in precondition: {uid_precondition}, UID in object meta: {}",
                            current.meta().uid
                        ),
                    ));
                }
                let compare = Compare::ModRevision(current.meta().resource_version);
                let outcome = deletion::plan_delete(
                    current,
                    *grace_period_seconds,
                    *propagation_policy,
                    cx.host_clock(),
                );
                Ok(match outcome {
                    deletion::DeleteOutcome::Remove => Plan::Txn {
                        key: key.clone(),
                        compare,
                        op: TxnOp::Delete,
                        generated_name: false,
                        removes: true,
                    },
                    deletion::DeleteOutcome::Unchanged => {
                        Plan::Reply(ApiOk::Object(current.clone()))
                    }
                    deletion::DeleteOutcome::Mark(marked) => Plan::Txn {
                        key: key.clone(),
                        compare,
                        op: TxnOp::Put(marked),
                        generated_name: false,
                        removes: false,
                    },
                })
            }
            ApiVerb::Bind { pod, pod_uid, node } => {
                let current = current.ok_or_else(|| not_found(pod))?;
                let Object::Pod(stored) = current else {
                    unreachable!("binding key is a pod key")
                };
                if *pod_uid != 0 && stored.metadata.uid != *pod_uid {
                    return Err(conflict(pod));
                }
                if let Some(bound) = &stored.spec.node_name {
                    return Err(error(
                        StatusReason::Conflict,
                        format!("pod {} is already assigned to node \"{bound}\"", pod.name),
                    ));
                }
                if stored.metadata.is_terminating() {
                    return Err(conflict(pod));
                }
                let mut bound = (**stored).clone();
                bound.spec.node_name = Some(node.clone());
                bound.status.scheduled = ConditionStatus::True;
                bound.status.scheduled_reason = None;
                bound.status.scheduled_message = None;
                Ok(Plan::Txn {
                    key: pod.clone(),
                    compare: Compare::ModRevision(stored.metadata.resource_version),
                    op: TxnOp::Put(Object::from(bound)),
                    generated_name: false,
                    removes: false,
                })
            }
            ApiVerb::Get(_) | ApiVerb::List { .. } | ApiVerb::Watch { .. } => {
                unreachable!("reads are served from the cache")
            }
            ApiVerb::Evict { .. } => unreachable!("evictions are planned in eviction.rs"),
        }
    }

    /// The admission plugins that consult other objects, on a create: RuntimeClass
    /// (`runtime_class`) applies a pod's RuntimeClass; Priority
    /// (plugin/pkg/admission/priority/admission.go) resolves a pod's priority from its
    /// PriorityClass, and refuses a second `globalDefault` class.
    fn admit(&self, object: &mut Object, generated_name: bool) -> Result<(), ApiError> {
        match object {
            Object::Pod(pod) => {
                let cache = &self.cache;
                // Upstream admits before the name is generated, so a refusal names the
                // prefix.
                let admitted_name = if generated_name {
                    pod.metadata.generate_name.clone()
                } else {
                    pod.metadata.name.clone()
                };
                if pod.spec.runtime_class_name.is_some()
                    || pod.spec.overhead != crate::api::ResourceList::default()
                {
                    let mut spec = pod.spec.clone();
                    let class = spec
                        .runtime_class_name
                        .as_deref()
                        .and_then(|name| cache.runtime_class(name));
                    runtime_class::admit_runtime_class(&mut spec, class)
                        .map_err(|why| forbidden(Kind::Pod, &admitted_name, why))?;
                    if spec != pod.spec {
                        Rc::make_mut(pod).spec = spec;
                    }
                }
                let default = strategy::default_priority_class(cache.priority_classes());
                let needs_change = pod.spec.priority_class_name.is_some() || default.is_some();
                if !needs_change && pod.spec.priority == 0 {
                    // No class and no default: priority 0, nothing to write.
                    return Ok(());
                }
                let mut spec = pod.spec.clone();
                strategy::admit_pod_priority(&mut spec, |name| cache.priority_class(name), default)
                    .map_err(|why| forbidden(Kind::Pod, &admitted_name, why))?;
                if spec != pod.spec {
                    Rc::make_mut(pod).spec = spec;
                }
                Ok(())
            }
            Object::PriorityClass(class) => self.check_single_default(class),
            _ => Ok(()),
        }
    }

    /// Only one PriorityClass may be the `globalDefault` (the Priority plugin's
    /// validation of PriorityClass creates and updates).
    fn check_single_default(&self, class: &crate::api::PriorityClass) -> Result<(), ApiError> {
        if !class.global_default {
            return Ok(());
        }
        match strategy::default_priority_class(self.cache.priority_classes()) {
            Some(existing) if existing.metadata.name != class.metadata.name => Err(forbidden(
                Kind::PriorityClass,
                &class.metadata.name,
                format!(
                    "PriorityClass {} is already marked as default. Only one default can exist",
                    existing.metadata.name
                ),
            )),
            _ => Ok(()),
        }
    }

    fn allocate_cluster_ip(&mut self, cx: &mut Context<'_, Msg>) -> String {
        // Random allocation, as upstream's allocator does; .0 and .1 are reserved.
        loop {
            let offset = 2 + cx.rng().below(u64::from(SERVICE_CIDR_SIZE - 3)) as u32;
            if !self.cluster_ips.contains_key(&offset) {
                return format_ipv4(SERVICE_CIDR_BASE + offset);
            }
        }
    }

    fn on_txn_reply(
        &mut self,
        id: u64,
        succeeded: bool,
        value: Option<Object>,
        cx: &mut Context<'_, Msg>,
    ) {
        let Some(pending) = self.pending.swap_remove(&id) else {
            // Answered with 504 already: the client gave up on it.
            assert!(
                id < self.next_etcd_id,
                "etcd answered a transaction never sent"
            );
            return;
        };
        if pending.client.is_none() {
            // A bootstrap write: created, or created already by another replica.
            self.bootstrap_write_done(id, cx);
            return;
        }
        if let ApiVerb::Evict { .. } = pending.verb {
            self.on_budget_charged(pending, succeeded, value, cx);
            return;
        }
        if succeeded {
            let ok = match value {
                Some(object) => ApiOk::Object(object),
                None => {
                    assert!(pending.removes, "etcd returned no value for a put");
                    ApiOk::Deleted
                }
            };
            if let Some((to, request)) = pending.client {
                self.reply(to, request, Ok(ok), self.config.request_latency, cx);
            }
            return;
        }
        let retry = match &pending.verb {
            ApiVerb::Create(_) => {
                pending.generated_name && pending.attempts < GENERATE_NAME_ATTEMPTS_MAX
            }
            ApiVerb::Update(o) | ApiVerb::UpdateStatus(o) => {
                o.meta().resource_version == 0
                    && value.is_some()
                    && pending.attempts < UNCONDITIONAL_UPDATE_ATTEMPTS_MAX
            }
            _ => false,
        };
        if retry {
            let current = if pending.generated_name { None } else { value };
            let (client, attempts) = (pending.client, pending.attempts);
            self.write_against(client, pending.verb, attempts, current, None, cx);
            return;
        }
        let Some((to, request)) = pending.client else {
            return;
        };
        let result = match (&pending.verb, value) {
            (ApiVerb::Create(o), _) => Err(error(
                StatusReason::AlreadyExists,
                format!(
                    "{} \"{}\" already exists",
                    o.kind().resource(),
                    o.meta().name
                ),
            )),
            (verb, None) => Err(not_found(&verb_key(verb))),
            (verb, Some(_)) => Err(conflict(&verb_key(verb))),
        };
        self.reply(to, request, result, self.config.request_latency, cx);
    }

    /// Applies one change from etcd; `slot` is where the cache may hold its object (the
    /// write's own event, see `PendingWrite::cache_slot`).
    fn on_etcd_watch(
        &mut self,
        event: EtcdWatchEvent,
        slot: Option<usize>,
        cx: &mut Context<'_, Msg>,
    ) {
        if event.revision <= self.cache.revision() {
            // Already loaded by the initial range.
            return;
        }
        let deleted = event.type_ == EtcdEventType::Delete;
        if deleted
            && let Object::Service(service) = &event.object
            && let Some(offset) = service
                .spec
                .cluster_ip
                .as_deref()
                .and_then(parse_service_ip_offset)
        {
            self.cluster_ips.remove(&offset);
        }
        let change = CachedChange {
            revision: event.revision,
            observed_at: cx.now(),
            deleted,
            object: event.object,
            previous: event.previous,
        };
        self.cache
            .apply(change, slot, self.config.watch_cache_window);
        self.cache.deliver_latest(|watcher, type_, object| {
            cx.send(
                watcher.client,
                Msg::Watch(Box::new(WatchEvent::Change {
                    watch_id: watcher.watch_id,
                    type_,
                    object: object.clone(),
                })),
            );
        });
        if !self.waiting_for_cache.is_empty() {
            self.release_waiting(cx);
        }
        if !self.lists_waiting.is_empty() {
            self.release_lists(cx);
        }
    }

    fn on_tick(&mut self, tick: Tick, cx: &mut Context<'_, Msg>) {
        match tick {
            Tick::CacheFilled => self.finish_start(cx),
            Tick::Shutdown => self.shut_down(cx),
            Tick::ListWait => self.expire_lists(cx),
            Tick::Compact => {
                if self.compaction_target > 0 {
                    cx.send(
                        self.etcd,
                        Msg::Etcd(Box::new(EtcdRequest::Compact {
                            revision: self.compaction_target,
                        })),
                    );
                }
                self.compaction_target = self.cache.revision();
                cx.timer(
                    self.config.etcd_compaction_interval,
                    Msg::Tick(AnyTick::Apiserver(Tick::Compact)),
                );
            }
        }
    }
}

fn verb_key(verb: &ApiVerb) -> ObjectKey {
    match verb {
        ApiVerb::Create(o) | ApiVerb::Update(o) | ApiVerb::UpdateStatus(o) => o.key(),
        ApiVerb::Delete { key, .. } | ApiVerb::Get(key) => key.clone(),
        ApiVerb::Bind { pod, .. } | ApiVerb::Evict { pod, .. } => pod.clone(),
        ApiVerb::List { kind, .. } | ApiVerb::Watch { kind, .. } => {
            ObjectKey::new(*kind, &s(""), &s(""))
        }
    }
}

/// `list pods (resourceVersion "")`, for records.
fn describe_list(list: &ListRequest) -> String {
    let version = if list.consistent { "\"\"" } else { "\"N\"" };
    format!("list {} (resourceVersion {version})", list.kind.resource())
}

fn parse_service_ip_offset(ip: &str) -> Option<u32> {
    parse_ipv4(ip)
        .filter(|value| (SERVICE_CIDR_BASE..SERVICE_CIDR_BASE + SERVICE_CIDR_SIZE).contains(value))
        .map(|value| value - SERVICE_CIDR_BASE)
}

impl Actor<Msg> for ApiServer {
    fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
        if self
            .deadlines
            .front()
            .is_some_and(|(deadline, _)| *deadline <= cx.now())
            || !self.waiting_for_cache.is_empty()
        {
            self.expire_requests(cx);
        }
        if let Phase::Starting { since, .. } = &self.phase
            && *since + self.config.request_timeout <= cx.now()
        {
            self.start_stalled(cx);
        }
        match event {
            Event::Start => self.start(cx),
            Event::Message { from, msg } => match msg {
                Msg::Api(request) => self.on_request(from, *request, cx),
                Msg::EtcdReply(response) => self.on_etcd_reply(*response, cx),
                Msg::EtcdWatch(event) => self.on_etcd_watch(*event, None, cx),
                other => panic!("kube-apiserver got an unexpected message: {other:?}"),
            },
            Event::Timer(Msg::Tick(AnyTick::Apiserver(tick))) => self.on_tick(tick, cx),
            Event::Timer(other) => panic!("kube-apiserver got a foreign timer: {other:?}"),
        }
    }

    fn on_crash(&mut self) {
        let mut next = ApiServer::new(self.config.clone(), self.etcd);
        next.peers = self.peers.clone();
        next.etcd_endpoints = self.etcd_endpoints.clone();
        next.requests = std::mem::take(&mut self.requests);
        next.incarnation = self.incarnation + 1;
        next.orphaned_streams = std::mem::take(&mut self.orphaned_streams);
        next.orphaned_streams.extend(self.cache.take_watchers());
        next.orphaned_requests = std::mem::take(&mut self.orphaned_requests);
        *self = next;
    }
}

impl Fingerprint for Tick {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            Tick::Compact => hasher.write_u64(1),
            Tick::CacheFilled => hasher.write_u64(2),
            Tick::Shutdown => hasher.write_u64(3),
            Tick::ListWait => hasher.write_u64(4),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        Container, FieldSelector, IntOrPercent, LabelSelector, Labels, Pod, PodDisruptionBudget,
        PodDisruptionBudgetSpec, PodDisruptionBudgetStatus, PodSpec, PreemptionPolicy,
        PriorityClass, Str,
    };
    use crate::cluster::{Cluster, ClusterConfig};
    use crate::kubectl::Action;
    use sim_core::SimTime;

    use super::strategy::tests::class;

    fn pod(name: &str, class: Option<&str>) -> Pod {
        Pod {
            metadata: ObjectMeta::named(NAMESPACE_DEFAULT, name),
            spec: PodSpec {
                containers: Rc::from(vec![Container {
                    name: s("app"),
                    image: s("nginx:1.14.2"),
                    ..Default::default()
                }]),
                priority_class_name: class.map(s),
                ..Default::default()
            },
            status: Default::default(),
        }
    }

    fn at(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    /// A cluster without nodes (the pods stay pending) after the given applies.
    fn run(actions: Vec<(u64, Vec<Object>)>) -> Cluster {
        let config = ClusterConfig {
            node_pools: Vec::new(),
            ..ClusterConfig::default()
        };
        let mut cluster = Cluster::build(&config, 7, true);
        for (secs, objects) in actions {
            cluster.schedule_action(at(secs), Action::Apply(objects));
        }
        cluster.sim.run_for(SimDuration::from_secs(10));
        cluster
    }

    fn stored_pod(cluster: &Cluster, name: &str) -> Option<Rc<Pod>> {
        cluster
            .objects::<Pod>()
            .find(|p| &*p.metadata.name == name)
            .cloned()
    }

    fn failures(cluster: &Cluster) -> Vec<String> {
        cluster
            .sim
            .records()
            .iter()
            .filter(|r| r.detail.contains("failed: "))
            .map(|r| r.detail.clone())
            .collect()
    }

    #[test]
    fn the_built_in_priority_classes_exist_at_start_up() {
        let cluster = run(Vec::new());
        let classes: Vec<(Str, i32)> = cluster
            .objects::<PriorityClass>()
            .map(|c| (c.metadata.name.clone(), c.value))
            .collect();
        assert_eq!(
            classes,
            vec![
                (s("system-cluster-critical"), 2_000_000_000),
                (s("system-node-critical"), 2_000_001_000),
            ]
        );
        assert_eq!(
            cluster
                .etcd()
                .objects(Kind::PriorityClass)
                .next()
                .unwrap()
                .key()
                .etcd_key(),
            "/registry/priorityclasses/system-cluster-critical"
        );
    }

    #[test]
    fn a_pod_gets_the_priority_and_policy_of_its_class() {
        let mut high = class("high", 1000, false);
        high.preemption_policy = PreemptionPolicy::Never;
        let cluster = run(vec![
            (1, vec![high.into()]),
            (
                2,
                vec![
                    pod("a", Some("high")).into(),
                    pod("b", None).into(),
                    pod("c", Some("system-node-critical")).into(),
                ],
            ),
        ]);
        let a = stored_pod(&cluster, "a").expect("pod a admitted");
        assert_eq!(a.spec.priority, 1000);
        assert_eq!(a.spec.preemption_policy, PreemptionPolicy::Never);
        let b = stored_pod(&cluster, "b").expect("pod b admitted");
        assert_eq!(
            (b.spec.priority, b.spec.priority_class_name.clone()),
            (0, None)
        );
        assert_eq!(
            b.spec.preemption_policy,
            PreemptionPolicy::PreemptLowerPriority
        );
        let c = stored_pod(&cluster, "c").expect("pod c admitted");
        assert_eq!(c.spec.priority, 2_000_001_000);
    }

    #[test]
    fn a_pod_naming_an_unknown_class_is_forbidden() {
        let cluster = run(vec![(1, vec![pod("lost", Some("gold")).into()])]);
        assert!(stored_pod(&cluster, "lost").is_none());
        let failures = failures(&cluster);
        assert!(
            failures.iter().any(|f| f.ends_with(
                "failed: 403 pods \"lost\" is forbidden: no PriorityClass with name gold was found"
            )),
            "{failures:#?}"
        );
    }

    #[test]
    fn the_global_default_class_applies_to_pods_naming_none_and_is_unique() {
        let cluster = run(vec![
            (1, vec![class("normal", 7, true).into()]),
            (
                2,
                vec![class("other", 3, true).into(), pod("plain", None).into()],
            ),
        ]);
        let plain = stored_pod(&cluster, "plain").expect("admitted");
        assert_eq!(plain.spec.priority, 7);
        assert_eq!(plain.spec.priority_class_name.as_deref(), Some("normal"));
        assert!(
            cluster
                .objects::<PriorityClass>()
                .all(|c| &*c.metadata.name != "other")
        );
        let failures = failures(&cluster);
        assert!(
            failures.iter().any(|f| f.contains(
                "403 priorityclasses.scheduling.k8s.io \"other\" is forbidden: PriorityClass normal is already marked as default. Only one default can exist"
            )),
            "{failures:#?}"
        );
    }

    #[test]
    fn user_classes_stay_below_the_system_range() {
        let cluster = run(vec![(
            1,
            vec![
                class("too-high", 1_000_000_001, false).into(),
                class("system-mine", 5, false).into(),
                class("highest", 1_000_000_000, false).into(),
            ],
        )]);
        let names: Vec<Str> = cluster
            .objects::<PriorityClass>()
            .map(|c| c.metadata.name.clone())
            .collect();
        assert!(names.iter().any(|n| &**n == "highest"), "{names:?}");
        assert!(
            !names
                .iter()
                .any(|n| &**n == "too-high" || &**n == "system-mine")
        );
        let failures = failures(&cluster);
        assert!(
            failures.iter().any(|f| f.contains(
                "422 value: Forbidden: maximum allowed value of a user defined priority is 1000000000"
            )),
            "{failures:#?}"
        );
        assert!(
            failures
                .iter()
                .any(|f| f.contains("422 metadata.name: Forbidden: priority class names with 'system-' prefix are reserved")),
            "{failures:#?}"
        );
    }

    /// A client that watches PriorityClasses through an informer and remembers every
    /// delta, as the scheduler's priority-aware queue will.
    struct ClassWatcher {
        api: crate::client::ApiClient,
        informer: crate::client::Informer<PriorityClass>,
        seen: Vec<String>,
    }

    impl Actor<Msg> for ClassWatcher {
        fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
            let deltas = match event {
                Event::Start => {
                    self.informer.start(&mut self.api, cx);
                    None
                }
                Event::Message {
                    msg: Msg::ApiReply(response),
                    ..
                } => self.informer.on_response(&response, &mut self.api, cx),
                Event::Message {
                    msg: Msg::Watch(event),
                    ..
                } => self.informer.on_watch(&event, &mut self.api, cx),
                _ => None,
            };
            for delta in deltas.into_iter().flatten() {
                let what = match &delta {
                    crate::client::Delta::Added(_) => "added",
                    crate::client::Delta::Updated { .. } => "updated",
                    crate::client::Delta::Deleted(_) => "deleted",
                };
                self.seen
                    .push(format!("{what} {}", delta.object().metadata.name));
            }
        }

        fn on_crash(&mut self) {}
    }

    #[test]
    fn priority_classes_are_listed_and_watched_through_an_informer() {
        let config = ClusterConfig {
            node_pools: Vec::new(),
            ..ClusterConfig::default()
        };
        let mut cluster = Cluster::build(&config, 5, false);
        let watcher = cluster.sim.add_actor(
            cluster.control_plane,
            "class-watcher",
            Box::new(ClassWatcher {
                api: crate::client::ApiClient::new(cluster.apiserver),
                informer: crate::client::Informer::all(),
                seen: Vec::new(),
            }),
        );
        cluster.schedule_action(at(2), Action::Apply(vec![class("batch", 10, false).into()]));
        cluster.schedule_action(
            at(3),
            Action::Delete {
                kind: Kind::PriorityClass,
                namespace: s(""),
                name: s("batch"),
                cascade: crate::api::PropagationPolicy::Background,
            },
        );
        cluster.sim.run_for(SimDuration::from_secs(4));
        let watcher = cluster.sim.actor::<ClassWatcher>(watcher).unwrap();
        let seen: Vec<&str> = watcher.seen.iter().map(String::as_str).collect();
        assert_eq!(
            seen,
            // The informer's list waits for the server's bootstrap writes (/readyz), so
            // the built-in classes come with it, in key order.
            [
                "added system-cluster-critical",
                "added system-node-critical",
                "added batch",
                "deleted batch"
            ]
        );
    }

    #[test]
    fn a_priority_class_is_deleted_and_its_value_is_immutable() {
        let config = ClusterConfig {
            node_pools: Vec::new(),
            ..ClusterConfig::default()
        };
        let mut cluster = Cluster::build(&config, 3, true);
        cluster.schedule_action(at(1), Action::Apply(vec![class("batch", 10, false).into()]));
        // Re-applying with another value is an update that upstream refuses.
        cluster.schedule_action(at(2), Action::Apply(vec![class("batch", 20, false).into()]));
        cluster.sim.run_for(SimDuration::from_secs(3));
        let batch = cluster
            .objects::<PriorityClass>()
            .find(|c| &*c.metadata.name == "batch")
            .expect("created")
            .clone();
        assert_eq!(batch.value, 10);
        assert!(
            failures(&cluster)
                .iter()
                .any(|f| f.contains("422 value: Forbidden: may not be changed in an update."))
        );
        cluster.schedule_action(
            at(4),
            Action::Delete {
                kind: Kind::PriorityClass,
                namespace: s(""),
                name: s("batch"),
                cascade: crate::api::PropagationPolicy::Background,
            },
        );
        cluster.sim.run_for(SimDuration::from_secs(2));
        assert_eq!(cluster.objects::<PriorityClass>().count(), 2);
    }

    /// A client that sends its script one request at a time (starting when the timeline
    /// pokes it with any kubectl action) and keeps each answer, while a
    /// PodDisruptionBudget informer lists and watches beside it.
    struct ScriptedClient {
        api: crate::client::ApiClient,
        script: VecDeque<ApiVerb>,
        answers: Vec<Result<ApiOk, ApiError>>,
        budgets: crate::client::Informer<PodDisruptionBudget>,
        /// What the informer saw: (change, name, generation, disruptionsAllowed).
        seen: Vec<(&'static str, Str, u64, u32)>,
    }

    impl ScriptedClient {
        fn next(&mut self, cx: &mut Context<'_, Msg>) {
            if let Some(verb) = self.script.pop_front() {
                self.api.send(cx, verb);
            }
        }

        fn note(&mut self, deltas: Vec<crate::client::Delta<PodDisruptionBudget>>) {
            for delta in deltas {
                let change = match &delta {
                    crate::client::Delta::Added(_) => "added",
                    crate::client::Delta::Updated { .. } => "updated",
                    crate::client::Delta::Deleted(_) => "deleted",
                };
                let budget = delta.object();
                self.seen.push((
                    change,
                    budget.metadata.name.clone(),
                    budget.metadata.generation,
                    budget.status.disruptions_allowed,
                ));
            }
        }
    }

    impl Actor<Msg> for ScriptedClient {
        fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
            match event {
                Event::Start => self.budgets.start(&mut self.api, cx),
                Event::Timer(Msg::Action(_)) => self.next(cx),
                Event::Message {
                    msg: Msg::ApiReply(response),
                    ..
                } => {
                    if let Some(deltas) = self.budgets.on_response(&response, &mut self.api, cx) {
                        self.note(deltas);
                    } else {
                        self.answers.push(response.result);
                        self.next(cx);
                    }
                }
                Event::Message {
                    msg: Msg::Watch(event),
                    ..
                } => {
                    let deltas = self.budgets.on_watch(&event, &mut self.api, cx);
                    self.note(deltas.expect("the informer's watch"));
                }
                Event::Message { msg, .. } | Event::Timer(msg) => {
                    panic!("scripted client got {msg:?}")
                }
            }
        }

        fn on_crash(&mut self) {}
    }

    fn budget(
        min_available: Option<IntOrPercent>,
        max_unavailable: Option<IntOrPercent>,
    ) -> Object {
        PodDisruptionBudget {
            metadata: ObjectMeta::named(NAMESPACE_DEFAULT, "zk"),
            spec: PodDisruptionBudgetSpec {
                min_available,
                selector: Some(LabelSelector::from_labels(Labels::from_pairs([(
                    "app", "zk",
                )]))),
                max_unavailable,
                ..Default::default()
            },
            status: PodDisruptionBudgetStatus {
                disruptions_allowed: 5,
                ..Default::default()
            },
        }
        .into()
    }

    #[test]
    fn a_pod_disruption_budget_round_trips_through_the_api() {
        let config = ClusterConfig {
            node_pools: Vec::new(),
            ..ClusterConfig::default()
        };
        let mut cluster = Cluster::build(&config, 5, true);
        let key = ObjectKey::new(Kind::PodDisruptionBudget, &s(NAMESPACE_DEFAULT), &s("zk"));
        let with_status = |allowed: u32| {
            let Object::PodDisruptionBudget(mut written) = budget(Some(IntOrPercent::Int(2)), None)
            else {
                unreachable!()
            };
            let written_mut = Rc::make_mut(&mut written);
            // Spec edits through the status subresource are ignored.
            written_mut.spec.min_available = Some(IntOrPercent::Int(9));
            written_mut.status = PodDisruptionBudgetStatus {
                observed_generation: 1,
                disruptions_allowed: allowed,
                current_healthy: 3,
                desired_healthy: 2,
                expected_pods: 3,
                ..Default::default()
            };
            Object::PodDisruptionBudget(written)
        };
        let script = [
            ApiVerb::Create(budget(Some(IntOrPercent::Int(2)), None)),
            ApiVerb::Get(key.clone()),
            ApiVerb::UpdateStatus(with_status(1)),
            ApiVerb::Update(budget(None, Some(IntOrPercent::Percent(50)))),
            ApiVerb::Update(budget(
                Some(IntOrPercent::Int(1)),
                Some(IntOrPercent::Int(1)),
            )),
            ApiVerb::Update(budget(Some(IntOrPercent::Percent(101)), None)),
            ApiVerb::List {
                kind: Kind::PodDisruptionBudget,
                namespace: Some(s(NAMESPACE_DEFAULT)),
                fields: FieldSelector::Everything,
                resource_version: ListResourceVersion::MostRecent,
            },
            ApiVerb::Delete {
                key: key.clone(),
                grace_period_seconds: None,
                uid_precondition: 0,
                propagation_policy: None,
            },
            ApiVerb::Get(key.clone()),
        ];
        let host = cluster.sim.add_host("probe");
        let client = cluster.sim.add_actor(
            host,
            "probe",
            Box::new(ScriptedClient {
                api: crate::client::ApiClient::new(cluster.apiserver),
                script: script.into_iter().collect(),
                answers: Vec::new(),
                budgets: crate::client::Informer::all(),
                seen: Vec::new(),
            }),
        );
        cluster.sim.schedule_timer(
            at(1),
            client,
            Msg::Action(Box::new(Action::Apply(Vec::new()))),
        );
        cluster.sim.run_for(SimDuration::from_secs(5));
        let probe = cluster.sim.actor::<ScriptedClient>(client).unwrap();
        let answers = &probe.answers;
        assert_eq!(answers.len(), 9, "{answers:#?}");
        let stored = |index: usize| match &answers[index] {
            Ok(ApiOk::Object(Object::PodDisruptionBudget(b))) => b.clone(),
            other => panic!("answer {index}: {other:?}"),
        };
        // The create drops the client's status: nobody has computed one yet.
        let created = stored(0);
        assert_eq!(created.status, PodDisruptionBudgetStatus::default());
        assert_eq!(created.metadata.generation, 1);
        assert_eq!(stored(1), created);
        // A status update changes the status only.
        let status = stored(2);
        assert_eq!(status.status.disruptions_allowed, 1);
        assert_eq!(status.status.expected_pods, 3);
        assert_eq!(status.spec, created.spec);
        assert_eq!(status.metadata.generation, 1);
        // A spec update keeps the status and bumps the generation.
        let updated = stored(3);
        assert_eq!(updated.spec.min_available, None);
        assert_eq!(
            updated.spec.max_unavailable,
            Some(IntOrPercent::Percent(50))
        );
        // (The disruption controller may have rewritten the status since answer 2, for
        // a budget that selects no pod; either way it is the generation-1 status kept.)
        assert_ne!(updated.status, PodDisruptionBudgetStatus::default());
        assert_eq!(updated.status.observed_generation, 1);
        assert_eq!(updated.status.desired_healthy, 2);
        assert_eq!(updated.metadata.generation, 2);
        let refusal = |index: usize| match &answers[index] {
            Err(error) => (error.reason, error.message.clone()),
            other => panic!("answer {index}: {other:?}"),
        };
        assert_eq!(
            refusal(4),
            (
                StatusReason::Invalid,
                "spec: Invalid value: minAvailable and maxUnavailable cannot be both set"
                    .to_string()
            )
        );
        assert_eq!(
            refusal(5),
            (
                StatusReason::Invalid,
                "spec.minAvailable: Invalid value: \"101%\": must not be greater than 100%"
                    .to_string()
            )
        );
        match &answers[6] {
            Ok(ApiOk::List { items, .. }) => match &items[..] {
                // The disruption controller may have written a newer status meanwhile.
                [Object::PodDisruptionBudget(listed)] => {
                    assert_eq!(listed.spec, updated.spec);
                    assert_eq!(listed.metadata.uid, updated.metadata.uid);
                }
                other => panic!("list: {other:?}"),
            },
            other => panic!("list: {other:?}"),
        }
        assert!(matches!(answers[7], Ok(ApiOk::Deleted)), "{:?}", answers[7]);
        assert_eq!(refusal(8).0, StatusReason::NotFound);
        // Besides these, the watch shows the disruption controller's status writes.
        let seen = &probe.seen;
        assert_eq!(seen.first(), Some(&("added", s("zk"), 1, 0)), "{seen:?}");
        assert!(seen.contains(&("updated", s("zk"), 1, 1)), "{seen:?}");
        assert!(
            seen.iter().any(|e| e.0 == "updated" && e.2 == 2),
            "{seen:?}"
        );
        assert!(
            matches!(seen.last(), Some(("deleted", name, 2, _)) if &**name == "zk"),
            "{seen:?}"
        );
        assert!(seen.windows(2).all(|w| w[0].2 <= w[1].2), "{seen:?}");
        assert_eq!(cluster.etcd().objects(Kind::PodDisruptionBudget).count(), 0);
        // The user's create and delete are part of the story.
        let steps: Vec<&str> = cluster
            .sim
            .records()
            .iter()
            .filter(|r| r.kind == "step" && r.detail.contains("poddisruptionbudget"))
            .map(|r| r.detail.as_str())
            .collect();
        assert!(!steps.is_empty(), "no step names the budget");
    }

    #[test]
    fn etcd_errors_are_500s_carrying_etcds_text() {
        let timed_out = etcd_failure(EtcdError::RequestTimedOut);
        assert_eq!(timed_out.reason.code(), 500);
        assert_eq!(timed_out.message, "etcdserver: request timed out");
        let full = etcd_failure(EtcdError::NoSpace);
        assert_eq!(
            (full.reason, full.message.as_str()),
            (
                StatusReason::InternalError,
                "etcdserver: mvcc: database space exceeded"
            )
        );
        assert_eq!(StatusReason::Timeout.code(), 504);
    }

    #[test]
    fn service_ips_round_trip() {
        let ip = format_ipv4(SERVICE_CIDR_BASE + 300);
        assert_eq!(ip, "10.96.1.44");
        assert_eq!(parse_service_ip_offset(&ip), Some(300));
        assert_eq!(parse_service_ip_offset("192.168.0.1"), None);
        assert_eq!(parse_service_ip_offset("10.96.1"), None);
    }
}
