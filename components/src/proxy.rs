//! kube-proxy: watches Services and EndpointSlices and programs this node's rules
//! (iptables mode) after a sync delay.
//!
//! A change marks its Service dirty and asks for a sync, which runs no sooner than
//! `minSyncPeriod` after the previous one; a sync also runs every `syncPeriod` (its
//! instants are computed rather than simulated: with nothing to do it changes nothing but
//! the earliest instant of the next sync, see [`KubeProxy::last_sync_at`]). A sync
//! recomputes the rules of the dirty Services (upstream rewrites the whole table; the
//! result is the same). For each Service with a cluster IP and each of its ports, the
//! rule lists the ready endpoints' addresses with the target port resolved through the
//! EndpointSlice's ports, or, when none is ready, the serving and terminating ones; each
//! endpoint is matched with iptables' `statistic --mode random --probability 1/(n−i)`,
//! the last one unconditionally, so that traffic spreads evenly.
//!
//! The rules live in the node's kernel: a crash of the node loses them, and kube-proxy
//! rebuilds them from a fresh list when it comes back.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::rc::Rc;

use sim_core::{Actor, ActorId, Context, Event, SimDuration, SimTime, TraceHasher};

use crate::api::{
    EndpointSlice, LABEL_SERVICE_NAME, Protocol, Resource, Service, Str, TargetPort, WatchEvent,
};
use crate::client::{ApiClient, Delta, Informer};
use crate::msg::{Fingerprint, Msg, Tick as AnyTick};
use crate::timers::{Deadlines, InformerDeadline};

/// Settings, named as in `KubeProxyConfiguration` (iptables mode).
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// `iptables.syncPeriod`, upstream default 30 s.
    pub sync_period: SimDuration,
    /// `iptables.minSyncPeriod`, upstream default 1 s.
    pub min_sync_period: SimDuration,
    /// How long a list or watch request may go unanswered before it is given up and the
    /// informer lists again (kube-apiserver's `--request-timeout` is 60 s: by then it has
    /// answered).
    pub api_request_timeout: SimDuration,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            sync_period: SimDuration::from_secs(30),
            min_sync_period: SimDuration::from_secs(1),
            api_request_timeout: SimDuration::from_secs(60),
        }
    }
}

#[derive(Clone, Debug)]
pub enum Tick {
    /// Time to sync the rules (the current generation only).
    Sync { generation: u64 },
    /// An informer request may have outlived its deadline (see `timers::Deadlines`).
    RequestDeadline { generation: u64 },
}

/// Which informer a deadline is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Watched {
    Services,
    Slices,
}

/// Upstream's `ServicePortName`: `namespace/name:port` (port name empty when unnamed).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServicePortName {
    pub namespace: Str,
    pub name: Str,
    pub port: Str,
    pub protocol: &'static str,
}

impl fmt::Display for ServicePortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)?;
        if !self.port.is_empty() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

pub fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
    }
}

/// How often an iptables rule matches: `statistic --mode random --probability 1/n`, or
/// unconditionally (the last endpoint).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Probability {
    OneIn(u32),
    Always,
}

impl Probability {
    /// The `--probability` argument as iptables-restore gets it: `%0.10f` of 1/n, computed
    /// exactly (round half to even, as Go prints the float); `None` for an unconditional
    /// rule.
    pub fn iptables_argument(self) -> Option<String> {
        let Probability::OneIn(n) = self else {
            return None;
        };
        assert!(n > 0, "probability 1/0");
        const SCALE: u128 = 10_000_000_000;
        let n = u128::from(n);
        let mut digits = SCALE / n;
        let remainder = SCALE % n;
        if remainder * 2 > n || (remainder * 2 == n && digits % 2 == 1) {
            digits += 1;
        }
        Some(format!("{}.{:010}", digits / SCALE, digits % SCALE))
    }
}

/// The probabilities iptables gives `n` endpoints, in order: 1/(n−i) for endpoint i, the
/// last unconditional, so each is chosen with probability 1/n overall.
pub fn iptables_probabilities(n: usize) -> Vec<Probability> {
    (0..n)
        .map(|i| {
            if i + 1 == n {
                Probability::Always
            } else {
                Probability::OneIn(u32::try_from(n - i).expect("fewer than 2^32 endpoints"))
            }
        })
        .collect()
}

/// One endpoint of a service port, as programmed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RuleEndpoint {
    pub address: Str,
    pub port: u16,
    pub probability: Probability,
    /// A terminating endpoint used because no ready one exists.
    pub terminating: bool,
}

/// The rules of one service port: traffic to `cluster_ip:port` goes to the endpoints; with
/// none, iptables rejects it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServiceRule {
    pub cluster_ip: Str,
    pub port: u16,
    pub protocol: Protocol,
    pub endpoints: Vec<RuleEndpoint>,
}

/// The rules of one Service from its EndpointSlices. A Service without a cluster IP
/// (headless) gets none.
pub fn service_rules(
    service: &Service,
    slices: &[&EndpointSlice],
) -> Vec<(ServicePortName, ServiceRule)> {
    let Some(cluster_ip) = service
        .spec
        .cluster_ip
        .as_ref()
        .filter(|ip| !ip.is_empty() && ip.as_ref() != "None")
    else {
        return Vec::new();
    };
    let mut rules = Vec::new();
    for service_port in &service.spec.ports {
        // (address, port) → (ready, serving and terminating)
        let mut candidates: BTreeMap<(Str, u16), (bool, bool)> = BTreeMap::new();
        for slice in slices {
            let slice_port = slice
                .ports
                .iter()
                .find(|p| p.name == service_port.name && p.protocol == service_port.protocol)
                .map(|p| p.port);
            let target = match (slice_port, &service_port.target_port) {
                (Some(port), _) => port,
                (None, TargetPort::Number(port)) => *port,
                // A named port the slice does not resolve: no usable endpoints here.
                (None, TargetPort::Name(_)) => continue,
            };
            for endpoint in &slice.endpoints {
                let conditions = endpoint.conditions;
                let entry = candidates
                    .entry((endpoint.address.clone(), target))
                    .or_insert((false, false));
                entry.0 |= conditions.ready;
                entry.1 |= conditions.serving && conditions.terminating;
            }
        }
        let ready: Vec<(Str, u16)> = candidates
            .iter()
            .filter(|(_, (ready, _))| *ready)
            .map(|(key, _)| key.clone())
            .collect();
        let (chosen, terminating) = if ready.is_empty() {
            let fallback: Vec<(Str, u16)> = candidates
                .iter()
                .filter(|(_, (_, serving_terminating))| *serving_terminating)
                .map(|(key, _)| key.clone())
                .collect();
            (fallback, true)
        } else {
            (ready, false)
        };
        let probabilities = iptables_probabilities(chosen.len());
        let endpoints = chosen
            .into_iter()
            .zip(probabilities)
            .map(|((address, port), probability)| RuleEndpoint {
                address,
                port,
                probability,
                terminating,
            })
            .collect();
        rules.push((
            ServicePortName {
                namespace: service.metadata.namespace.clone(),
                name: service.metadata.name.clone(),
                port: service_port.name.clone().unwrap_or_else(|| Str::from("")),
                protocol: protocol_name(service_port.protocol),
            },
            ServiceRule {
                cluster_ip: cluster_ip.clone(),
                port: service_port.port,
                protocol: service_port.protocol,
                endpoints,
            },
        ));
    }
    rules
}

type ServiceKey = (Str, Str);

pub struct KubeProxy {
    config: ProxyConfig,
    node_name: Str,
    /// Kept across a crash so request ids are never reused (see the kubelet).
    api: ApiClient,
    services: Informer<Service>,
    slices: Informer<EndpointSlice>,
    services_deadline: InformerDeadline,
    slices_deadline: InformerDeadline,
    /// One timer for both informers' deadlines.
    deadlines: Deadlines<Watched>,
    /// EndpointSlice names per Service, from the `kubernetes.io/service-name` label.
    slices_by_service: BTreeMap<ServiceKey, BTreeSet<Str>>,
    rules: BTreeMap<ServicePortName, ServiceRule>,
    dirty: BTreeSet<ServiceKey>,
    last_sync: Option<SimTime>,
    sync_armed_at: Option<SimTime>,
    sync_generation: u64,
    sync_count: u64,
}

impl KubeProxy {
    pub fn new(config: ProxyConfig, node_name: Str, apiserver: ActorId) -> KubeProxy {
        KubeProxy {
            config,
            node_name,
            api: ApiClient::new(apiserver),
            services: Informer::all(),
            slices: Informer::all(),
            services_deadline: InformerDeadline::default(),
            slices_deadline: InformerDeadline::default(),
            deadlines: Deadlines::new(),
            slices_by_service: BTreeMap::new(),
            rules: BTreeMap::new(),
            dirty: BTreeSet::new(),
            last_sync: None,
            sync_armed_at: None,
            sync_generation: 0,
            sync_count: 0,
        }
    }

    /// This node's programmed rules.
    pub fn rules(&self) -> &BTreeMap<ServicePortName, ServiceRule> {
        &self.rules
    }

    /// The rule for one service port, if programmed.
    pub fn rule(&self, namespace: &str, name: &str, port: &str) -> Option<&ServiceRule> {
        self.rules
            .iter()
            .find(|(key, _)| {
                key.namespace.as_ref() == namespace
                    && key.name.as_ref() == name
                    && key.port.as_ref() == port
            })
            .map(|(_, rule)| rule)
    }

    /// Syncs that ran for a change (periodic syncs that found nothing to do are not
    /// simulated, see [`KubeProxy::last_sync_at`]).
    pub fn sync_count(&self) -> u64 {
        self.sync_count
    }

    /// When the last sync for a change ran.
    pub fn last_sync(&self) -> Option<SimTime> {
        self.last_sync
    }

    /// When the last sync ran as of `now`: the last one for a change, or a periodic one
    /// every `syncPeriod` after it. Nothing but a change alters the rules here, so a
    /// periodic sync would find nothing to do; it still counts for `minSyncPeriod`, and
    /// computing its instant spares a timer event every `syncPeriod` on every node.
    pub fn last_sync_at(&self, now: SimTime) -> Option<SimTime> {
        let last = self.last_sync?;
        let period_nanos = self.config.sync_period.as_nanos().max(1);
        let periods = now.saturating_since(last).as_nanos() / period_nanos;
        Some(last + SimDuration::from_nanos(periods * period_nanos))
    }

    fn informer_deadline(&mut self, watched: Watched) -> &mut InformerDeadline {
        match watched {
            Watched::Services => &mut self.services_deadline,
            Watched::Slices => &mut self.slices_deadline,
        }
    }

    /// Covers `watched`'s request in flight, if any, with the deadline timer.
    fn watch_deadline(&mut self, watched: Watched, cx: &mut Context<'_, Msg>) {
        let Some(due) = self.informer_deadline(watched).due() else {
            return;
        };
        if let Some(rearm) = self.deadlines.schedule(cx.now(), due, watched) {
            cx.timer(
                rearm.after,
                Msg::Tick(AnyTick::Proxy(Tick::RequestDeadline {
                    generation: rearm.generation,
                })),
            );
        }
    }

    /// (Re)starts an informer with a full list.
    fn list(&mut self, watched: Watched, cx: &mut Context<'_, Msg>) {
        let (now, timeout) = (cx.now(), self.config.api_request_timeout);
        match watched {
            Watched::Services => self.services.start(&mut self.api, cx),
            Watched::Slices => self.slices.start(&mut self.api, cx),
        }
        self.informer_deadline(watched).started(now, timeout);
        self.watch_deadline(watched, cx);
    }

    fn on_request_deadline(&mut self, generation: u64, cx: &mut Context<'_, Msg>) {
        let now = cx.now();
        for watched in self.deadlines.fire(generation, now) {
            if self.informer_deadline(watched).expired(now) {
                let node = self.node_name.clone();
                cx.record("detail", || {
                    format!(
                        "kube-proxy on {node}: {watched:?} list or watch unanswered; listing again"
                    )
                });
                self.list(watched, cx);
            }
        }
        if let Some(rearm) = self.deadlines.rearm(now) {
            cx.timer(
                rearm.after,
                Msg::Tick(AnyTick::Proxy(Tick::RequestDeadline {
                    generation: rearm.generation,
                })),
            );
        }
    }

    fn synced(&self) -> bool {
        self.services.has_synced() && self.slices.has_synced()
    }

    /// Arms the sync timer for `at` unless it is already set for no later.
    fn arm(&mut self, at: SimTime, cx: &mut Context<'_, Msg>) {
        if self.sync_armed_at.is_some_and(|armed| armed <= at) {
            return;
        }
        self.sync_generation += 1;
        self.sync_armed_at = Some(at);
        cx.timer(
            at.saturating_since(cx.now()),
            Msg::Tick(AnyTick::Proxy(Tick::Sync {
                generation: self.sync_generation,
            })),
        );
    }

    /// A change arrived: sync as soon as `minSyncPeriod` allows.
    fn request_sync(&mut self, cx: &mut Context<'_, Msg>) {
        if !self.synced() || self.dirty.is_empty() {
            return;
        }
        let earliest = self
            .last_sync_at(cx.now())
            .map_or(cx.now(), |last| last + self.config.min_sync_period);
        self.arm(earliest.max(cx.now()), cx);
    }

    fn on_service_deltas(&mut self, deltas: Vec<Delta<Service>>) {
        for delta in deltas {
            let meta = delta.object().metadata();
            self.dirty
                .insert((meta.namespace.clone(), meta.name.clone()));
        }
    }

    fn on_slice_deltas(&mut self, deltas: Vec<Delta<EndpointSlice>>) {
        for delta in deltas {
            let (old, new) = match &delta {
                Delta::Added(slice) => (None, Some(slice)),
                Delta::Updated { old, new } => (Some(old), Some(new)),
                Delta::Deleted(slice) => (Some(slice), None),
            };
            if let Some(old) = old.and_then(|slice| service_of(slice).map(|key| (key, slice))) {
                let (key, slice) = old;
                if let Some(names) = self.slices_by_service.get_mut(&key) {
                    names.remove(&slice.metadata.name);
                    if names.is_empty() {
                        self.slices_by_service.remove(&key);
                    }
                }
                self.dirty.insert(key);
            }
            if let Some((key, slice)) =
                new.and_then(|slice| service_of(slice).map(|key| (key, slice)))
            {
                self.slices_by_service
                    .entry(key.clone())
                    .or_default()
                    .insert(slice.metadata.name.clone());
                self.dirty.insert(key);
            }
        }
    }

    fn sync(&mut self, cx: &mut Context<'_, Msg>) {
        self.sync_armed_at = None;
        self.last_sync = Some(cx.now());
        self.sync_count += 1;
        let mut changed: Vec<(ServicePortName, usize, bool)> = Vec::new();
        for (namespace, name) in std::mem::take(&mut self.dirty) {
            let old_keys: Vec<ServicePortName> = self
                .rules
                .keys()
                .filter(|k| k.namespace == namespace && k.name == name)
                .cloned()
                .collect();
            let mut old: BTreeMap<ServicePortName, ServiceRule> = BTreeMap::new();
            for key in old_keys {
                let rule = self.rules.remove(&key).expect("listed above");
                old.insert(key, rule);
            }
            let new = match self.services.get(&namespace, &name) {
                Some(service) => {
                    let slices: Vec<&EndpointSlice> = self
                        .slices_by_service
                        .get(&(namespace.clone(), name.clone()))
                        .into_iter()
                        .flatten()
                        .filter_map(|slice| self.slices.get(&namespace, slice))
                        .map(Rc::as_ref)
                        .collect();
                    service_rules(service, &slices)
                }
                None => Vec::new(),
            };
            for (key, rule) in new {
                if old.remove(&key).as_ref() != Some(&rule) {
                    changed.push((key.clone(), rule.endpoints.len(), true));
                }
                self.rules.insert(key, rule);
            }
            for key in old.into_keys() {
                changed.push((key, 0, false));
            }
        }
        if !changed.is_empty() {
            let node = self.node_name.clone();
            cx.record("step", || {
                let described: Vec<String> = changed
                    .iter()
                    .map(|(key, count, present)| match (present, count) {
                        (false, _) => format!("{key} removed"),
                        (true, 0) => format!("{key} → no endpoints (REJECT)"),
                        (true, 1) => format!("{key} → 1 endpoint"),
                        (true, n) => format!("{key} → {n} endpoints"),
                    })
                    .collect();
                format!(
                    "kube-proxy on {node}: iptables rules synced: {}",
                    described.join("; ")
                )
            });
        }
    }
}

/// The Service an EndpointSlice belongs to, from its `kubernetes.io/service-name` label.
pub(crate) fn service_of(slice: &EndpointSlice) -> Option<ServiceKey> {
    slice
        .metadata
        .labels
        .get(LABEL_SERVICE_NAME)
        .map(|service| (slice.metadata.namespace.clone(), service.clone()))
}

impl Actor<Msg> for KubeProxy {
    fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
        match event {
            Event::Start => {
                self.list(Watched::Services, cx);
                self.list(Watched::Slices, cx);
            }
            Event::Message {
                msg: Msg::ApiReply(response),
                ..
            } => {
                let was_synced = self.synced();
                let (now, timeout) = (cx.now(), self.config.api_request_timeout);
                if let Some(deltas) = self.services.on_response(&response, &mut self.api, cx) {
                    self.services_deadline
                        .on_response(&response.result, now, timeout);
                    self.watch_deadline(Watched::Services, cx);
                    self.on_service_deltas(deltas);
                } else if let Some(deltas) = self.slices.on_response(&response, &mut self.api, cx) {
                    self.slices_deadline
                        .on_response(&response.result, now, timeout);
                    self.watch_deadline(Watched::Slices, cx);
                    self.on_slice_deltas(deltas);
                }
                if !was_synced && self.synced() {
                    // First full picture: program everything.
                    let all: Vec<ServiceKey> = self
                        .services
                        .iter()
                        .map(|s| (s.metadata.namespace.clone(), s.metadata.name.clone()))
                        .collect();
                    self.dirty.extend(all);
                    self.arm(cx.now(), cx);
                    return;
                }
                self.request_sync(cx);
            }
            Event::Message {
                msg: Msg::Watch(event),
                ..
            } => {
                let closed = matches!(*event, WatchEvent::Closed { .. });
                let (now, timeout) = (cx.now(), self.config.api_request_timeout);
                if let Some(deltas) = self.services.on_watch(&event, &mut self.api, cx) {
                    if closed {
                        self.services_deadline.on_closed(now, timeout);
                        self.watch_deadline(Watched::Services, cx);
                    }
                    self.on_service_deltas(deltas);
                } else if let Some(deltas) = self.slices.on_watch(&event, &mut self.api, cx) {
                    if closed {
                        self.slices_deadline.on_closed(now, timeout);
                        self.watch_deadline(Watched::Slices, cx);
                    }
                    self.on_slice_deltas(deltas);
                }
                self.request_sync(cx);
            }
            Event::Timer(Msg::Tick(AnyTick::Proxy(tick))) => match tick {
                Tick::Sync { generation } => {
                    if generation == self.sync_generation {
                        self.sync(cx);
                    }
                }
                Tick::RequestDeadline { generation } => self.on_request_deadline(generation, cx),
            },
            Event::Message { msg, .. } | Event::Timer(msg) => {
                panic!(
                    "kube-proxy/{} got an unexpected message: {msg:?}",
                    self.node_name
                )
            }
        }
    }

    fn on_crash(&mut self) {
        self.services.reset();
        self.slices.reset();
        self.services_deadline.clear();
        self.slices_deadline.clear();
        self.deadlines.clear();
        self.slices_by_service.clear();
        self.rules.clear();
        self.dirty.clear();
        self.last_sync = None;
        self.sync_armed_at = None;
        self.sync_generation += 1;
    }
}

impl Fingerprint for Tick {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            Tick::Sync { generation } => {
                hasher.write_u64(1);
                hasher.write_u64(*generation);
            }
            Tick::RequestDeadline { generation } => {
                hasher.write_u64(2);
                hasher.write_u64(*generation);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        Endpoint, EndpointConditions, EndpointPort, Labels, ObjectMeta, ServicePort, ServiceSpec,
        ServiceType, s,
    };

    #[test]
    fn periodic_syncs_follow_the_last_sync_every_sync_period() {
        let at = |millis: u64| SimTime::ZERO + SimDuration::from_millis(millis);
        let mut proxy = KubeProxy::new(ProxyConfig::default(), s("node-1"), ActorId(0));
        assert_eq!(proxy.last_sync_at(at(5_000)), None, "never synced");
        proxy.last_sync = Some(at(2_000));
        assert_eq!(proxy.last_sync_at(at(2_000)), Some(at(2_000)));
        assert_eq!(proxy.last_sync_at(at(31_999)), Some(at(2_000)));
        assert_eq!(proxy.last_sync_at(at(32_000)), Some(at(32_000)));
        assert_eq!(proxy.last_sync_at(at(95_000)), Some(at(92_000)));
    }

    #[test]
    fn probabilities_are_one_over_n_minus_i_and_the_last_is_unconditional() {
        assert_eq!(iptables_probabilities(0), vec![]);
        assert_eq!(iptables_probabilities(1), vec![Probability::Always]);
        assert_eq!(
            iptables_probabilities(4),
            vec![
                Probability::OneIn(4),
                Probability::OneIn(3),
                Probability::OneIn(2),
                Probability::Always
            ]
        );
    }

    #[test]
    fn every_endpoint_gets_an_equal_share() {
        // P(i) = 1/(n−i) × Π_{j<i} (1 − 1/(n−j)), in exact rationals: always 1/n.
        for n in 1..=12u64 {
            let probabilities = iptables_probabilities(n as usize);
            // Probability of reaching rule i, as numerator/denominator.
            let (mut reach_num, mut reach_den) = (1u64, 1u64);
            for p in probabilities {
                let (take_num, take_den) = match p {
                    Probability::OneIn(k) => (1, u64::from(k)),
                    Probability::Always => (1, 1),
                };
                // share = reach × take must be 1/n.
                assert_eq!(reach_num * take_num * n, reach_den * take_den);
                reach_num *= take_den - take_num;
                reach_den *= take_den;
            }
            assert_eq!(reach_num, 0, "the last rule catches everything");
        }
    }

    #[test]
    fn probabilities_print_as_iptables_restore_gets_them() {
        assert_eq!(
            Probability::OneIn(2).iptables_argument().as_deref(),
            Some("0.5000000000")
        );
        assert_eq!(
            Probability::OneIn(3).iptables_argument().as_deref(),
            Some("0.3333333333")
        );
        assert_eq!(
            Probability::OneIn(6).iptables_argument().as_deref(),
            Some("0.1666666667")
        );
        assert_eq!(
            Probability::OneIn(1).iptables_argument().as_deref(),
            Some("1.0000000000")
        );
        // 1/2048 = 0.00048828125: the tie rounds to even, as Go prints it.
        assert_eq!(
            Probability::OneIn(2048).iptables_argument().as_deref(),
            Some("0.0004882812")
        );
        assert_eq!(Probability::Always.iptables_argument(), None);
    }

    fn service(ports: Vec<ServicePort>) -> Service {
        Service {
            metadata: ObjectMeta::named("default", "web"),
            spec: ServiceSpec {
                selector: Some(Labels::from_pairs([("app", "web")])),
                ports,
                cluster_ip: Some(s("10.96.0.10")),
                type_: ServiceType::ClusterIP,
            },
        }
    }

    fn http_port(target: TargetPort) -> ServicePort {
        ServicePort {
            name: Some(s("http")),
            protocol: Protocol::Tcp,
            port: 80,
            target_port: target,
        }
    }

    fn endpoint(address: &str, ready: bool, serving: bool, terminating: bool) -> Endpoint {
        Endpoint {
            address: s(address),
            conditions: EndpointConditions {
                ready,
                serving,
                terminating,
            },
            node_name: Some(s("node-1")),
            target_pod: s(address),
        }
    }

    fn slice(name: &str, endpoints: Vec<Endpoint>, port: Option<u16>) -> EndpointSlice {
        let mut metadata = ObjectMeta::named("default", name);
        metadata.labels = Labels::from_pairs([(LABEL_SERVICE_NAME, "web")]);
        EndpointSlice {
            metadata,
            endpoints,
            ports: port
                .map(|port| EndpointPort {
                    name: Some(s("http")),
                    port,
                    protocol: Protocol::Tcp,
                })
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn ready_endpoints_across_slices_with_the_resolved_port() {
        let svc = service(vec![http_port(TargetPort::Name(s("web")))]);
        let a = slice(
            "web-a",
            vec![
                endpoint("10.244.1.3", true, true, false),
                endpoint("10.244.1.2", false, false, false),
            ],
            Some(8080),
        );
        let b = slice(
            "web-b",
            vec![endpoint("10.244.2.2", true, true, false)],
            Some(8080),
        );
        let rules = service_rules(&svc, &[&a, &b]);
        assert_eq!(rules.len(), 1);
        let (key, rule) = &rules[0];
        assert_eq!(key.to_string(), "default/web:http");
        assert_eq!(rule.cluster_ip.as_ref(), "10.96.0.10");
        let addresses: Vec<(&str, u16)> = rule
            .endpoints
            .iter()
            .map(|e| (e.address.as_ref(), e.port))
            .collect();
        assert_eq!(addresses, vec![("10.244.1.3", 8080), ("10.244.2.2", 8080)]);
        assert_eq!(rule.endpoints[0].probability, Probability::OneIn(2));
        assert_eq!(rule.endpoints[1].probability, Probability::Always);
        assert!(rule.endpoints.iter().all(|e| !e.terminating));
    }

    #[test]
    fn with_no_ready_endpoint_serving_terminating_ones_are_used() {
        let svc = service(vec![http_port(TargetPort::Number(8080))]);
        let s1 = slice(
            "web-a",
            vec![
                endpoint("10.244.1.2", false, true, true),
                endpoint("10.244.1.3", false, false, true),
                endpoint("10.244.1.4", false, false, false),
            ],
            Some(8080),
        );
        let rules = service_rules(&svc, &[&s1]);
        let rule = &rules[0].1;
        assert_eq!(rule.endpoints.len(), 1);
        assert_eq!(rule.endpoints[0].address.as_ref(), "10.244.1.2");
        assert!(rule.endpoints[0].terminating);
        // A ready endpoint anywhere wins over the fallback.
        let s2 = slice(
            "web-b",
            vec![endpoint("10.244.2.2", true, true, false)],
            Some(8080),
        );
        let rules = service_rules(&svc, &[&s1, &s2]);
        let rule = &rules[0].1;
        assert_eq!(rule.endpoints.len(), 1);
        assert_eq!(rule.endpoints[0].address.as_ref(), "10.244.2.2");
        assert!(!rule.endpoints[0].terminating);
    }

    #[test]
    fn a_numeric_target_port_needs_no_slice_port_but_a_named_one_does() {
        let numbered = service(vec![http_port(TargetPort::Number(9000))]);
        let bare = slice(
            "web-a",
            vec![endpoint("10.244.1.2", true, true, false)],
            None,
        );
        let rules = service_rules(&numbered, &[&bare]);
        assert_eq!(rules[0].1.endpoints[0].port, 9000);
        let named = service(vec![http_port(TargetPort::Name(s("web")))]);
        let rules = service_rules(&named, &[&bare]);
        assert!(rules[0].1.endpoints.is_empty());
    }

    #[test]
    fn headless_services_get_no_rules() {
        let mut svc = service(vec![http_port(TargetPort::Number(80))]);
        svc.spec.cluster_ip = Some(s("None"));
        assert!(service_rules(&svc, &[]).is_empty());
        svc.spec.cluster_ip = None;
        assert!(service_rules(&svc, &[]).is_empty());
    }
}
