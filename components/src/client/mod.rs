//! The client side of the API: request ids, and the informer every component uses to
//! keep a local cache of the objects it watches (list, then watch from that version,
//! relist when the stream breaks) — client-go's reflector and store, in virtual time.

pub mod leader_election;
pub mod rate_limit;

use std::rc::Rc;

use sim_core::{ActorId, Context, FxIndexMap, SimDuration, SimTime};

use crate::api::{
    ApiOk, ApiRequest, ApiResponse, ApiVerb, FieldSelector, ListResourceVersion, NameLookup,
    NamespacedName, RequestId, Resource, StatusReason, Str, WatchEvent, WatchEventType,
    replace_or_insert,
};
use crate::msg::Msg;

/// Sends requests to the API server and numbers them; with a rate limit, requests beyond
/// it wait for their token as client-go's do ([`rate_limit`]).
#[derive(Clone, Debug)]
pub struct ApiClient {
    apiserver: ActorId,
    next_id: RequestId,
    limiter: Option<rate_limit::TokenBucket>,
    /// How long the last request sent waited for its token.
    last_wait: SimDuration,
    /// A rate-limited client's requests that wait (for a token or a retry back-off),
    /// held in the process until they leave: the owner sets the timer [`ApiClient::arm`]
    /// asks for and calls [`ApiClient::release`] when it fires.
    held: rate_limit::Held<ApiRequest>,
}

impl ApiClient {
    pub fn new(apiserver: ActorId) -> ApiClient {
        ApiClient {
            apiserver,
            next_id: 1,
            limiter: None,
            last_wait: SimDuration::ZERO,
            held: rate_limit::Held::default(),
        }
    }

    /// Requests wait for a token of a `qps`/`burst` bucket (client-go's `rest.Config` QPS
    /// and Burst, whose defaults are 5 and 10 when a component sets neither).
    pub fn with_rate_limit(mut self, qps: u32, burst: u32) -> ApiClient {
        self.limiter = Some(rate_limit::TokenBucket::new(qps, burst));
        self
    }

    pub fn apiserver(&self) -> ActorId {
        self.apiserver
    }

    /// The connection broke and the next one lands on `apiserver` (another replica
    /// behind the load balancer): every request from now on goes there.
    pub fn reconnect(&mut self, apiserver: ActorId) {
        self.apiserver = apiserver;
    }

    /// The process crashed: the requests it held are never sent, and the restarted
    /// process starts with a full bucket.
    pub fn on_crash(&mut self) {
        self.held.clear();
        if let Some(bucket) = &self.limiter {
            self.limiter = Some(rate_limit::TokenBucket::new(bucket.qps(), bucket.burst()));
        }
    }

    /// The instant the owner must set its release timer for, if a held request is not
    /// covered by the timer already set.
    pub fn arm(&mut self) -> Option<SimTime> {
        self.held.arm()
    }

    /// The release timer set for `at` fired: sends the held requests that are due.
    pub fn release(&mut self, at: SimTime, cx: &mut Context<'_, Msg>) {
        for request in self.held.release(at, cx.now()) {
            cx.send(self.apiserver, Msg::Api(Box::new(request)));
        }
    }

    /// Requests held until they may leave.
    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    /// How long the last request sent waited for its rate-limit token (zero without a
    /// limit or under it): its deadline runs from when it leaves.
    pub fn last_wait(&self) -> SimDuration {
        self.last_wait
    }

    /// Sends `verb` now (or once the rate limit lets it); returns the id its response
    /// will carry.
    pub fn send(&mut self, cx: &mut Context<'_, Msg>, verb: ApiVerb) -> RequestId {
        self.send_after(cx, SimDuration::ZERO, verb)
    }

    /// Sends `verb` after `delay` (a retry back-off, client-side work), or later if the
    /// rate limit makes it wait longer. The token is reserved now, so requests leave in
    /// the order they were made.
    pub fn send_after(
        &mut self,
        cx: &mut Context<'_, Msg>,
        delay: SimDuration,
        verb: ApiVerb,
    ) -> RequestId {
        let wait = self
            .limiter
            .as_mut()
            .map_or(SimDuration::ZERO, |bucket| bucket.reserve(cx.now()));
        self.last_wait = wait;
        self.post(cx, Ord::max(delay, wait), verb)
    }

    /// Sends `verb` now, outside the rate limit: a client whose QPS is -1 (the kubelet's
    /// heartbeat client for its Lease and node status, `cmd/kubelet/app/server.go`).
    pub fn send_unthrottled(&mut self, cx: &mut Context<'_, Msg>, verb: ApiVerb) -> RequestId {
        self.last_wait = SimDuration::ZERO;
        self.post(cx, SimDuration::ZERO, verb)
    }

    fn post(&mut self, cx: &mut Context<'_, Msg>, delay: SimDuration, verb: ApiVerb) -> RequestId {
        let id = self.next_id;
        self.next_id += 1;
        let request = ApiRequest { id, verb };
        if self.limiter.is_some() && delay > SimDuration::ZERO {
            // Held in the process: a crash before it leaves means it never does.
            self.held.hold(cx.now() + delay, request);
        } else {
            cx.send_after(delay, self.apiserver, Msg::Api(Box::new(request)));
        }
        id
    }
}

/// A change the informer saw, handed to the component's event handlers.
#[derive(Clone, Debug)]
pub enum Delta<T> {
    Added(Rc<T>),
    Updated { old: Rc<T>, new: Rc<T> },
    Deleted(Rc<T>),
}

impl<T> Delta<T> {
    /// The object as it is now (the last state for a deletion).
    pub fn object(&self) -> &Rc<T> {
        match self {
            Delta::Added(o) | Delta::Deleted(o) | Delta::Updated { new: o, .. } => o,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InformerState {
    Stopped,
    Listing(RequestId),
    Watching(RequestId),
}

/// Back-off before a failed list is retried (client-go's reflector starts at 800 ms; kept
/// fixed here).
pub const RELIST_BACKOFF: SimDuration = SimDuration::from_millis(800);

/// A cache of one kind of object, kept in step with the API server.
#[derive(Debug)]
pub struct Informer<T: Resource> {
    namespace: Option<Str>,
    fields: FieldSelector,
    /// Iteration order is deterministic (insertion order, with removals moving the last
    /// entry into the gap) but not sorted: sort where order matters.
    cache: FxIndexMap<NamespacedName, Rc<T>>,
    resource_version: u64,
    /// The last list's resourceVersion cannot be served (the list got 410 Gone, or 504
    /// "Too large resource version"): the next list is a consistent one (client-go's
    /// `isLastSyncResourceVersionUnavailable`).
    resource_version_unavailable: bool,
    state: InformerState,
    synced: bool,
}

impl<T: Resource> Informer<T> {
    pub fn new(namespace: Option<Str>, fields: FieldSelector) -> Informer<T> {
        Informer {
            namespace,
            fields,
            cache: FxIndexMap::default(),
            resource_version: 0,
            resource_version_unavailable: false,
            state: InformerState::Stopped,
            synced: false,
        }
    }

    /// Every object of the kind, cluster-wide.
    pub fn all() -> Informer<T> {
        Informer::new(None, FieldSelector::Everything)
    }

    /// Starts (or restarts) with a full list.
    pub fn start(&mut self, api: &mut ApiClient, cx: &mut Context<'_, Msg>) {
        self.list(api, cx, SimDuration::ZERO);
    }

    /// Forgets everything, as a process does when it crashes.
    pub fn reset(&mut self) {
        self.cache.clear();
        self.resource_version = 0;
        self.resource_version_unavailable = false;
        self.state = InformerState::Stopped;
        self.synced = false;
    }

    /// True once the first list has been received.
    pub fn has_synced(&self) -> bool {
        self.synced
    }

    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<&Rc<T>> {
        self.cache.get(&NameLookup(namespace, name))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Rc<T>> {
        self.cache.values()
    }

    pub fn len(&self) -> usize {
        self.cache.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// The resourceVersion the next list asks for (client-go's reflector,
    /// `relistResourceVersion`): `"0"` before the first list succeeded (any state the API
    /// server's cache has), `""` once the last one is known to be unavailable (a
    /// consistent read), and otherwise the last one seen (a state not older than it: the
    /// relist after a watch ended with 410 Gone).
    pub fn relist_resource_version(&self) -> ListResourceVersion {
        if self.resource_version_unavailable {
            ListResourceVersion::MostRecent
        } else if self.resource_version == 0 {
            ListResourceVersion::Any
        } else {
            ListResourceVersion::NotOlderThan(self.resource_version)
        }
    }

    fn list(&mut self, api: &mut ApiClient, cx: &mut Context<'_, Msg>, delay: SimDuration) {
        let id = api.send_after(
            cx,
            delay,
            ApiVerb::List {
                kind: T::KIND,
                namespace: self.namespace.clone(),
                fields: self.fields.clone(),
                resource_version: self.relist_resource_version(),
            },
        );
        self.state = InformerState::Listing(id);
    }

    fn watch(&mut self, api: &mut ApiClient, cx: &mut Context<'_, Msg>) {
        let id = api.send(
            cx,
            ApiVerb::Watch {
                kind: T::KIND,
                namespace: self.namespace.clone(),
                fields: self.fields.clone(),
                resource_version: self.resource_version,
            },
        );
        self.state = InformerState::Watching(id);
    }

    /// Offers a response. `None` if it is not this informer's; otherwise the changes.
    pub fn on_response(
        &mut self,
        response: &ApiResponse,
        api: &mut ApiClient,
        cx: &mut Context<'_, Msg>,
    ) -> Option<Vec<Delta<T>>> {
        match self.state {
            InformerState::Listing(id) if id == response.id => {}
            InformerState::Watching(id) if id == response.id => {
                // The watch was refused (e.g. 410): start over with a list.
                if response.result.is_err() {
                    self.list(api, cx, RELIST_BACKOFF);
                }
                return Some(Vec::new());
            }
            _ => return None,
        }
        match &response.result {
            Ok(ApiOk::List {
                items,
                resource_version,
            }) => {
                let deltas = self.replace(items.iter().filter_map(T::from_object).cloned());
                self.resource_version = *resource_version;
                self.resource_version_unavailable = false;
                self.synced = true;
                self.watch(api, cx);
                Some(deltas)
            }
            // The version asked for is compacted away or ahead of the server: list
            // again at once, consistently (client-go's reflector `list`).
            Err(e) if e.reason == StatusReason::Gone || e.is_too_large_resource_version() => {
                self.resource_version_unavailable = true;
                self.list(api, cx, SimDuration::ZERO);
                Some(Vec::new())
            }
            _ => {
                self.list(api, cx, RELIST_BACKOFF);
                Some(Vec::new())
            }
        }
    }

    /// Offers a watch event. `None` if it is not this informer's stream.
    pub fn on_watch(
        &mut self,
        event: &WatchEvent,
        api: &mut ApiClient,
        cx: &mut Context<'_, Msg>,
    ) -> Option<Vec<Delta<T>>> {
        self.on_watch_delta(event, api, cx)
            .map(|delta| delta.into_iter().collect())
    }

    /// [`Informer::on_watch`] for callers that take the change as it comes: one event
    /// makes at most one change, so no list is built (components that follow a watch
    /// of every lease or pod handle one per renewal or status write). `None` if it is
    /// not this informer's stream, `Some(None)` if it changed nothing.
    pub fn on_watch_delta(
        &mut self,
        event: &WatchEvent,
        api: &mut ApiClient,
        cx: &mut Context<'_, Msg>,
    ) -> Option<Option<Delta<T>>> {
        if self.state != InformerState::Watching(event.watch_id()) {
            return None;
        }
        match event {
            WatchEvent::Closed {
                reason,
                reconnect_to,
                ..
            } => {
                if let Some(apiserver) = reconnect_to {
                    api.reconnect(*apiserver);
                }
                if *reason == StatusReason::Gone {
                    self.list(api, cx, SimDuration::ZERO);
                } else {
                    self.watch(api, cx);
                }
                Some(None)
            }
            WatchEvent::Change { type_, object, .. } => {
                let Some(object) = T::from_object(object) else {
                    return Some(None);
                };
                let rv = object.metadata().resource_version;
                assert!(
                    rv > self.resource_version,
                    "watch delivered resourceVersion {rv} after {}",
                    self.resource_version
                );
                self.resource_version = rv;
                Some(self.apply(*type_, object.clone()))
            }
        }
    }

    fn cache_key(object: &T) -> NamespacedName {
        let meta = object.metadata();
        (meta.namespace.clone(), meta.name.clone())
    }

    fn apply(&mut self, type_: WatchEventType, object: Rc<T>) -> Option<Delta<T>> {
        let meta = object.metadata();
        if type_ == WatchEventType::Deleted {
            let key = NameLookup(&meta.namespace, &meta.name);
            return self.cache.swap_remove(&key).map(|_| Delta::Deleted(object));
        }
        let names = (&meta.namespace, &meta.name);
        match replace_or_insert(&mut self.cache, names, object.clone(), None) {
            Some(old) => Some(Delta::Updated { old, new: object }),
            None => Some(Delta::Added(object)),
        }
    }

    /// Replaces the cache with a fresh list and returns what changed.
    fn replace(&mut self, items: impl Iterator<Item = Rc<T>>) -> Vec<Delta<T>> {
        let mut fresh: FxIndexMap<NamespacedName, Rc<T>> = FxIndexMap::default();
        for item in items {
            fresh.insert(Self::cache_key(&item), item);
        }
        let mut deltas = Vec::new();
        for (key, old) in &self.cache {
            if !fresh.contains_key(key) {
                deltas.push(Delta::Deleted(old.clone()));
            }
        }
        for (key, new) in &fresh {
            match self.cache.get(key) {
                None => deltas.push(Delta::Added(new.clone())),
                Some(old) if old.metadata().resource_version != new.metadata().resource_version => {
                    deltas.push(Delta::Updated {
                        old: old.clone(),
                        new: new.clone(),
                    })
                }
                Some(_) => {}
            }
        }
        self.cache = fresh;
        deltas
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Pod;

    /// client-go's reflector (`relistResourceVersion`): "0" before the first list, the
    /// last resourceVersion after a watch's 410, "" once that one is unavailable.
    #[test]
    fn the_relist_resource_version_follows_the_reflector() {
        let mut informer: Informer<Pod> = Informer::all();
        assert_eq!(informer.relist_resource_version(), ListResourceVersion::Any);
        informer.resource_version = 42;
        assert_eq!(
            informer.relist_resource_version(),
            ListResourceVersion::NotOlderThan(42)
        );
        informer.resource_version_unavailable = true;
        assert_eq!(
            informer.relist_resource_version(),
            ListResourceVersion::MostRecent
        );
        informer.reset();
        assert_eq!(informer.relist_resource_version(), ListResourceVersion::Any);
    }

    #[test]
    fn only_a_timeout_with_the_too_large_cause_makes_the_version_unavailable() {
        let too_large = crate::api::ApiError {
            reason: StatusReason::Timeout,
            message: format!(
                "{}12, current: 9",
                crate::api::TOO_LARGE_RESOURCE_VERSION_PREFIX
            ),
        };
        assert!(too_large.is_too_large_resource_version());
        let plain = crate::api::ApiError {
            reason: StatusReason::Timeout,
            message: "Timeout: request did not complete within requested timeout".to_string(),
        };
        assert!(!plain.is_too_large_resource_version());
        assert_eq!(ListResourceVersion::MostRecent.parameter(), "");
        assert_eq!(ListResourceVersion::Any.parameter(), "0");
        assert_eq!(ListResourceVersion::NotOlderThan(7).parameter(), "7");
    }
}
