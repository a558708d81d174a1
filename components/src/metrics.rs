//! The resource metrics pipeline, layered as in a real cluster:
//!
//! ```text
//! kernel (cgroup cpuacct: cumulative CPU time per pod cgroup)
//!   ▲ ReadCgroups / CgroupStats            (the kubelet's cAdvisor reads cgroupfs)
//! kubelet  (/metrics/resource: cumulative usage and a timestamp per pod)
//!   ▲ Scrape / ScrapeReply                 (every --metric-resolution, one per node)
//! metrics-server (rate = Δusage / Δtime between two scrapes: PodMetrics)
//!   ▲ ListPodMetrics / PodMetricsList      (metrics.k8s.io, read by the HPA controller)
//! kube-controller-manager (HPA)
//! ```
//!
//! Also the load that makes the CPU move: the load generator tells each node's kernel the
//! CPU demand of the Service traffic addressed to its pods (`Traffic`).
//!
//! Simplifications, each deliberate: the metrics.k8s.io request goes straight from the
//! controller manager to metrics-server (upstream it is proxied by the API server's
//! aggregation layer: one more hop on the same control-plane host, no behaviour); the
//! kubelet answers from a fresh cgroup read (cAdvisor's own ~10 s housekeeping cache is
//! not modelled); metrics-server knows the kubelets from the cluster's node list given
//! at build time (upstream it lists Nodes; a kubelet whose host is down simply does not
//! answer, as there).

use std::collections::BTreeMap;

use sim_core::{Actor, ActorId, Context, Event, SimDuration, SimTime, TraceHasher};

use crate::api::Str;
use crate::msg::{Fingerprint, Msg, Tick as AnyTick};

/// One pod's cumulative CPU use at a scrape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSample {
    pub namespace: Str,
    pub name: Str,
    pub uid: u64,
    /// `pod_cpu_usage_seconds_total`, in nanoseconds of one core.
    pub usage_core_nanos: u64,
}

/// A pod's CPU rate as metrics-server serves it (`PodMetrics`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodCpu {
    pub uid: u64,
    pub cpu_millicores: u64,
    /// The end of the window the rate was measured over.
    pub timestamp: SimTime,
    pub window: SimDuration,
}

#[derive(Clone, Debug)]
pub enum MetricsMsg {
    /// the scenario's timeline → load generator: clients now send this Service this much
    /// CPU demand in total (0 stops them).
    SetLoad {
        namespace: Str,
        service: Str,
        cpu_millicores: u64,
    },
    /// load generator → kernel: the CPU demand of the traffic now arriving for each pod
    /// IP on this node (the whole table: IPs not named get none).
    Traffic { demand_by_ip: Vec<(Str, u64)> },
    /// kubelet (cAdvisor) → kernel.
    ReadCgroups { read_id: u64 },
    /// kernel → kubelet: cumulative CPU per pod cgroup, by pod uid, and the CFS
    /// throttling counters of each (`cpu.stat`).
    CgroupStats {
        read_id: u64,
        usage_by_pod_uid: Vec<(u64, u64)>,
        throttling_by_pod_uid: Vec<(u64, crate::kernel::CpuThrottling)>,
    },
    /// metrics-server → kubelet: GET /metrics/resource.
    Scrape { scrape_id: u64 },
    /// kubelet → metrics-server.
    ScrapeReply {
        scrape_id: u64,
        node: Str,
        timestamp: SimTime,
        pods: Vec<PodSample>,
    },
    /// HPA controller → metrics-server: GET
    /// /apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods.
    ListPodMetrics { request_id: u64, namespace: Str },
    /// metrics-server → HPA controller: pod name → its CPU.
    PodMetricsList {
        request_id: u64,
        pods: Vec<(Str, PodCpu)>,
    },
}

impl Fingerprint for MetricsMsg {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            MetricsMsg::SetLoad {
                namespace,
                service,
                cpu_millicores,
            } => {
                hasher.write_u64(8);
                hasher.write_str(namespace);
                hasher.write_str(service);
                hasher.write_u64(*cpu_millicores);
            }
            MetricsMsg::Traffic { demand_by_ip } => {
                hasher.write_u64(1);
                for (ip, millicores) in demand_by_ip {
                    hasher.write_str(ip);
                    hasher.write_u64(*millicores);
                }
            }
            MetricsMsg::ReadCgroups { read_id } => {
                hasher.write_u64(2);
                hasher.write_u64(*read_id);
            }
            MetricsMsg::CgroupStats {
                read_id,
                usage_by_pod_uid,
                ..
            } => {
                hasher.write_u64(3);
                hasher.write_u64(*read_id);
                hasher.write_u64(usage_by_pod_uid.len() as u64);
            }
            MetricsMsg::Scrape { scrape_id } => {
                hasher.write_u64(4);
                hasher.write_u64(*scrape_id);
            }
            MetricsMsg::ScrapeReply {
                scrape_id, pods, ..
            } => {
                hasher.write_u64(5);
                hasher.write_u64(*scrape_id);
                hasher.write_u64(pods.len() as u64);
            }
            MetricsMsg::ListPodMetrics { request_id, .. } => {
                hasher.write_u64(6);
                hasher.write_u64(*request_id);
            }
            MetricsMsg::PodMetricsList { request_id, pods } => {
                hasher.write_u64(7);
                hasher.write_u64(*request_id);
                hasher.write_u64(pods.len() as u64);
            }
        }
    }
}

/// The CPU rate between two cumulative samples of one pod, in millicores: `None` when
/// the second is not later or the counter went backwards (a new cgroup: the pod's
/// sandbox was recreated), as metrics-server drops such points.
pub fn cpu_rate_millicores(
    earlier: (SimTime, u64),
    later: (SimTime, u64),
) -> Option<(u64, SimDuration)> {
    let (t0, usage0) = earlier;
    let (t1, usage1) = later;
    if t1 <= t0 || usage1 < usage0 {
        return None;
    }
    let window = t1.saturating_since(t0);
    // metrics-server's rate is in nanocores, truncated; the HPA reads it as a Quantity's
    // MilliValue, which rounds up to the millicore.
    let nanocores = u128::from(usage1 - usage0) * 1_000_000_000 / u128::from(window.as_nanos());
    let millicores = nanocores.div_ceil(1_000_000);
    Some((u64::try_from(millicores).unwrap_or(u64::MAX), window))
}

#[derive(Clone, Debug)]
pub struct MetricsServerConfig {
    /// `--metric-resolution`, upstream default 60 s; the deployment manifests shipped with
    /// metrics-server (components.yaml) set 15 s, as does kubesim.
    pub metric_resolution: SimDuration,
}

impl Default for MetricsServerConfig {
    fn default() -> Self {
        MetricsServerConfig {
            metric_resolution: SimDuration::from_secs(15),
        }
    }
}

#[derive(Clone, Debug)]
pub enum Tick {
    /// Scrape every kubelet.
    Scrape,
}

impl Fingerprint for Tick {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            Tick::Scrape => hasher.write_u64(1),
        }
    }
}

/// The last cumulative sample of a pod, and the rate derived from the one before.
#[derive(Clone, Debug)]
struct PodPoint {
    node: Str,
    uid: u64,
    sampled_at: SimTime,
    usage_core_nanos: u64,
    rate: Option<PodCpu>,
}

/// metrics-server: scrapes every kubelet, keeps one point per pod and serves rates.
pub struct MetricsServer {
    config: MetricsServerConfig,
    /// Node name → its kubelet (the node's address, port 10250).
    kubelets: Vec<(Str, ActorId)>,
    next_id: u64,
    pods: BTreeMap<(Str, Str), PodPoint>,
}

impl MetricsServer {
    pub fn new(config: MetricsServerConfig, kubelets: Vec<(Str, ActorId)>) -> MetricsServer {
        assert!(
            config.metric_resolution > SimDuration::ZERO,
            "metric resolution is 0"
        );
        MetricsServer {
            config,
            kubelets,
            next_id: 0,
            pods: BTreeMap::new(),
        }
    }

    /// Pods with a rate now (observers and tests).
    pub fn pod_count(&self) -> usize {
        self.pods.values().filter(|p| p.rate.is_some()).count()
    }

    fn scrape(&mut self, cx: &mut Context<'_, Msg>) {
        cx.timer(
            self.config.metric_resolution,
            Msg::Tick(AnyTick::MetricsServer(Tick::Scrape)),
        );
        for &(_, kubelet) in &self.kubelets {
            self.next_id += 1;
            let scrape_id = self.next_id;
            cx.send(
                kubelet,
                Msg::Metrics(Box::new(MetricsMsg::Scrape { scrape_id })),
            );
        }
    }

    /// A node's pods at one instant: new rates for pods seen before, first points for
    /// new ones; the node's pods missing from the answer are gone.
    fn on_scrape_reply(&mut self, node: Str, timestamp: SimTime, samples: Vec<PodSample>) {
        let mut seen = std::collections::BTreeSet::new();
        for sample in samples {
            let key = (sample.namespace.clone(), sample.name.clone());
            seen.insert(key.clone());
            let point = self.pods.entry(key).or_insert_with(|| PodPoint {
                node: node.clone(),
                uid: sample.uid,
                sampled_at: timestamp,
                usage_core_nanos: sample.usage_core_nanos,
                rate: None,
            });
            if point.uid != sample.uid || point.node != node {
                // Another pod of the same name: start over.
                *point = PodPoint {
                    node: node.clone(),
                    uid: sample.uid,
                    sampled_at: timestamp,
                    usage_core_nanos: sample.usage_core_nanos,
                    rate: None,
                };
                continue;
            }
            if let Some((cpu_millicores, window)) = cpu_rate_millicores(
                (point.sampled_at, point.usage_core_nanos),
                (timestamp, sample.usage_core_nanos),
            ) {
                point.rate = Some(PodCpu {
                    uid: sample.uid,
                    cpu_millicores,
                    timestamp,
                    window,
                });
            }
            point.sampled_at = timestamp;
            point.usage_core_nanos = sample.usage_core_nanos;
        }
        self.pods
            .retain(|key, point| point.node != node || seen.contains(key));
    }

    fn list(&self, namespace: &Str) -> Vec<(Str, PodCpu)> {
        self.pods
            .range((namespace.clone(), Str::from(""))..)
            .take_while(|((ns, _), _)| ns == namespace)
            .filter_map(|((_, name), point)| point.rate.map(|rate| (name.clone(), rate)))
            .collect()
    }
}

impl Actor<Msg> for MetricsServer {
    fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
        match event {
            Event::Start => {
                self.pods.clear();
                self.scrape(cx);
            }
            Event::Timer(Msg::Tick(AnyTick::MetricsServer(Tick::Scrape))) => self.scrape(cx),
            Event::Message {
                from,
                msg: Msg::Metrics(msg),
            } => match *msg {
                MetricsMsg::ScrapeReply {
                    node,
                    timestamp,
                    pods,
                    ..
                } => {
                    let count = pods.len();
                    cx.record("detail", || {
                        format!("metrics-server: scraped kubelet {node}: {count} pods")
                    });
                    self.on_scrape_reply(node, timestamp, pods);
                }
                MetricsMsg::ListPodMetrics {
                    request_id,
                    namespace,
                } => {
                    let pods = self.list(&namespace);
                    cx.send(
                        from,
                        Msg::Metrics(Box::new(MetricsMsg::PodMetricsList { request_id, pods })),
                    );
                }
                other => panic!("metrics-server got an unexpected message: {other:?}"),
            },
            Event::Message { msg, .. } | Event::Timer(msg) => {
                panic!("metrics-server got an unexpected message: {msg:?}")
            }
        }
    }

    fn on_crash(&mut self) {
        // metrics-server keeps its points in memory only.
        self.pods.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    #[test]
    fn the_rate_is_usage_over_the_window() {
        // 15 s at 1.5 cores = 22.5 core-seconds.
        let rate = cpu_rate_millicores((at(0), 0), (at(15), 22_500_000_000));
        assert_eq!(rate, Some((1500, SimDuration::from_secs(15))));
        let rate = cpu_rate_millicores((at(15), 1_000_000_000), (at(30), 1_150_000_000));
        assert_eq!(rate, Some((10, SimDuration::from_secs(15))));
    }

    #[test]
    fn a_counter_that_goes_back_or_time_that_does_not_move_gives_no_rate() {
        assert_eq!(cpu_rate_millicores((at(0), 10), (at(15), 5)), None);
        assert_eq!(cpu_rate_millicores((at(15), 10), (at(15), 50)), None);
    }

    fn sample(name: &str, uid: u64, usage_core_nanos: u64) -> PodSample {
        PodSample {
            namespace: Str::from("default"),
            name: Str::from(name),
            uid,
            usage_core_nanos,
        }
    }

    #[test]
    fn a_pod_needs_two_scrapes_and_vanishes_with_its_node_report() {
        let mut server = MetricsServer::new(MetricsServerConfig::default(), Vec::new());
        let node = Str::from("node-1");
        server.on_scrape_reply(node.clone(), at(0), vec![sample("a", 1, 0)]);
        assert!(server.list(&Str::from("default")).is_empty());
        server.on_scrape_reply(
            node.clone(),
            at(15),
            vec![sample("a", 1, 3_000_000_000), sample("b", 2, 0)],
        );
        let list = server.list(&Str::from("default"));
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].1.cpu_millicores, 200);
        assert!(server.list(&Str::from("other")).is_empty());
        server.on_scrape_reply(node, at(30), vec![sample("b", 2, 1_500_000_000)]);
        let list = server.list(&Str::from("default"));
        assert_eq!(list.len(), 1);
        assert_eq!(&*list[0].0, "b");
        assert_eq!(list[0].1.cpu_millicores, 100);
    }
}
