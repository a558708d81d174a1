//! The load generator: clients on their own host that send a Service a given total CPU
//! demand (the scenario's `load` action), spread evenly over the Service's ready
//! endpoints, as kube-proxy's rules spread connections.
//!
//! It watches EndpointSlices through the API server, so a new pod takes load once its
//! endpoint is ready and a terminating one stops taking it, with the same lag as
//! kube-proxy. Each node's kernel is told the demand of the traffic arriving for each of
//! its pod IPs (`MetricsMsg::Traffic`, one whole table per node, sent only when it
//! changes); the kernel charges each serving container its share on top of its image's
//! own CPU, capped at the container's limit.

use std::collections::{BTreeMap, BTreeSet};

use sim_core::{Actor, ActorId, Context, Event};

use crate::api::{EndpointSlice, Str};
use crate::client::{ApiClient, Delta, Informer};
use crate::metrics::MetricsMsg;
use crate::msg::Msg;
use crate::proxy::service_of;

/// Namespace and Service name.
pub type ServiceKey = (Str, Str);

/// Spreads `total_millicores` evenly over `addresses` (sorted, distinct): each gets the
/// quotient, and the first `total % n` one millicore more, so the shares add up exactly.
pub fn spread_evenly(total_millicores: u64, addresses: &[Str]) -> Vec<(Str, u64)> {
    if addresses.is_empty() {
        return Vec::new();
    }
    let count = addresses.len() as u64;
    let (share, remainder) = (total_millicores / count, total_millicores % count);
    addresses
        .iter()
        .enumerate()
        .map(|(index, address)| {
            (
                address.clone(),
                share + u64::from((index as u64) < remainder),
            )
        })
        .collect()
}

/// Per node, the demand by pod IP: every loaded Service's ready endpoints with their
/// share, summed where two Services select the same pod.
pub fn demand_by_node<'a>(
    demands: &BTreeMap<ServiceKey, u64>,
    endpoints_of: impl Fn(&ServiceKey) -> Vec<(&'a Str, &'a Str)>,
) -> BTreeMap<Str, BTreeMap<Str, u64>> {
    let mut tables: BTreeMap<Str, BTreeMap<Str, u64>> = BTreeMap::new();
    for (service, &total) in demands {
        // Ready endpoints, each address once, in address order.
        let mut node_of: BTreeMap<Str, Str> = BTreeMap::new();
        for (address, node) in endpoints_of(service) {
            node_of.insert(address.clone(), node.clone());
        }
        let addresses: Vec<Str> = node_of.keys().cloned().collect();
        for (address, millicores) in spread_evenly(total, &addresses) {
            let node = node_of[&address].clone();
            *tables.entry(node).or_default().entry(address).or_default() += millicores;
        }
    }
    tables
}

pub struct LoadGenerator {
    api: ApiClient,
    slices: Informer<EndpointSlice>,
    /// Node name → its kernel (where the node's pod traffic arrives).
    kernels: BTreeMap<Str, ActorId>,
    /// The demand each loaded Service is sent.
    demands: BTreeMap<ServiceKey, u64>,
    /// Service → names of its EndpointSlices.
    slices_by_service: BTreeMap<ServiceKey, BTreeSet<Str>>,
    /// What each kernel was last told.
    sent: BTreeMap<Str, BTreeMap<Str, u64>>,
}

impl LoadGenerator {
    pub fn new(apiserver: ActorId, kernels: BTreeMap<Str, ActorId>) -> LoadGenerator {
        LoadGenerator {
            api: ApiClient::new(apiserver),
            slices: Informer::all(),
            kernels,
            demands: BTreeMap::new(),
            slices_by_service: BTreeMap::new(),
            sent: BTreeMap::new(),
        }
    }

    /// Whether the deltas touched a loaded Service.
    fn on_slice_deltas(&mut self, deltas: Vec<Delta<EndpointSlice>>) -> bool {
        let mut touched = false;
        for delta in deltas {
            let slice = delta.object();
            let Some(service) = service_of(slice) else {
                continue;
            };
            touched |= self.demands.contains_key(&service);
            let names = self.slices_by_service.entry(service.clone()).or_default();
            match delta {
                Delta::Deleted(_) => {
                    names.remove(&slice.metadata.name);
                    if names.is_empty() {
                        self.slices_by_service.remove(&service);
                    }
                }
                Delta::Added(_) | Delta::Updated { .. } => {
                    names.insert(slice.metadata.name.clone());
                }
            }
        }
        touched
    }

    /// Recomputes every node's table and tells the kernels whose table changed.
    fn respread(&mut self, cx: &mut Context<'_, Msg>) {
        let slices = &self.slices;
        let slices_by_service = &self.slices_by_service;
        let tables = demand_by_node(&self.demands, |service| {
            let Some(names) = slices_by_service.get(service) else {
                return Vec::new();
            };
            names
                .iter()
                .filter_map(|name| slices.get(&service.0, name))
                .flat_map(|slice| slice.endpoints.iter())
                .filter(|endpoint| endpoint.conditions.ready)
                .filter_map(|endpoint| {
                    endpoint
                        .node_name
                        .as_ref()
                        .map(|node| (&endpoint.address, node))
                })
                .collect()
        });
        let nodes: BTreeSet<Str> = tables.keys().chain(self.sent.keys()).cloned().collect();
        for node in nodes {
            let table = tables.get(&node).cloned().unwrap_or_default();
            if self.sent.get(&node) == Some(&table)
                || (table.is_empty() && !self.sent.contains_key(&node))
            {
                continue;
            }
            let Some(&kernel) = self.kernels.get(&node) else {
                continue;
            };
            let demand_by_ip: Vec<(Str, u64)> =
                table.iter().map(|(ip, m)| (ip.clone(), *m)).collect();
            cx.record("detail", || {
                let total: u64 = demand_by_ip.iter().map(|(_, m)| m).sum();
                format!(
                    "load generator: {total}m of CPU demand to {} pods on node {node}",
                    demand_by_ip.len()
                )
            });
            cx.send(
                kernel,
                Msg::Metrics(Box::new(MetricsMsg::Traffic { demand_by_ip })),
            );
            if table.is_empty() {
                self.sent.remove(&node);
            } else {
                self.sent.insert(node, table);
            }
        }
    }

    fn set_load(&mut self, service: ServiceKey, cpu_millicores: u64, cx: &mut Context<'_, Msg>) {
        let endpoints = self.slices_by_service.get(&service).map_or(0, |names| {
            names
                .iter()
                .filter_map(|name| self.slices.get(&service.0, name))
                .flat_map(|slice| slice.endpoints.iter())
                .filter(|endpoint| endpoint.conditions.ready)
                .count()
        });
        cx.record("step", || {
            format!(
                "load on service {}/{}: {cpu_millicores}m of CPU demand, spread over {endpoints} ready endpoints",
                service.0, service.1
            )
        });
        if cpu_millicores == 0 {
            self.demands.remove(&service);
        } else {
            self.demands.insert(service, cpu_millicores);
        }
        self.respread(cx);
    }
}

impl Actor<Msg> for LoadGenerator {
    fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
        match event {
            Event::Start => {
                self.slices.reset();
                self.slices_by_service.clear();
                self.slices.start(&mut self.api, cx);
            }
            Event::Message {
                msg: Msg::ApiReply(response),
                ..
            } => {
                if let Some(deltas) = self.slices.on_response(&response, &mut self.api, cx)
                    && self.on_slice_deltas(deltas)
                {
                    self.respread(cx);
                }
            }
            Event::Message {
                msg: Msg::Watch(event),
                ..
            } => {
                if let Some(deltas) = self.slices.on_watch(&event, &mut self.api, cx)
                    && self.on_slice_deltas(deltas)
                {
                    self.respread(cx);
                }
            }
            Event::Timer(Msg::Metrics(msg)) => match *msg {
                MetricsMsg::SetLoad {
                    namespace,
                    service,
                    cpu_millicores,
                } => self.set_load((namespace, service), cpu_millicores, cx),
                other => panic!("load generator got an unexpected timer: {other:?}"),
            },
            Event::Message { msg, .. } | Event::Timer(msg) => {
                panic!("load generator got an unexpected message: {msg:?}")
            }
        }
    }

    fn on_crash(&mut self) {
        // The clients stop; what the kernels were told stays until they are told again.
        self.slices.reset();
        self.slices_by_service.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::s;

    #[test]
    fn spreading_is_even_and_adds_up() {
        let addresses = [s("10.244.0.2"), s("10.244.0.3"), s("10.244.1.2")];
        let shares = spread_evenly(1000, &addresses);
        assert_eq!(
            shares.iter().map(|(_, m)| *m).collect::<Vec<_>>(),
            vec![334, 333, 333]
        );
        assert!(spread_evenly(1000, &[]).is_empty());
    }

    #[test]
    fn demand_is_tabled_per_node_and_summed_across_services() {
        let (a, b, c) = (s("10.0.0.1"), s("10.0.0.2"), s("10.0.1.1"));
        let (n1, n2) = (s("node-1"), s("node-2"));
        let web = (s("default"), s("web"));
        let api = (s("default"), s("api"));
        let demands = BTreeMap::from([(web.clone(), 900), (api.clone(), 100)]);
        let tables = demand_by_node(&demands, |service| {
            if *service == web {
                vec![(&a, &n1), (&b, &n1), (&c, &n2)]
            } else {
                vec![(&a, &n1)]
            }
        });
        assert_eq!(tables[&n1][&a], 400);
        assert_eq!(tables[&n1][&b], 300);
        assert_eq!(tables[&n2][&c], 300);
    }
}
