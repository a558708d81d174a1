//! Assembles a whole cluster into one simulation: the control-plane host (etcd, the API
//! server, the scheduler, the controller manager), a registry host, a client host for
//! kubectl, and one host per worker node (kubelet, container runtime, kernel, kube-proxy).

use std::collections::BTreeMap;

use sim_core::{
    ActorId, Fault, HostId, Link, RunLimits, RunOutcome, SimDuration, SimTime, Simulation,
};

use crate::api::{
    ConditionStatus, Deployment, Kind, LABEL_HOSTNAME, LABEL_ZONE, Labels, Node, Pod, Resource,
    ResourceList, Str, Taint, s,
};
use crate::apiserver::{ApiServer, ApiServerConfig};
use crate::controllers::{ControllerManager, ControllerManagerConfig};
use crate::etcd::{Etcd, EtcdConfig};
use crate::kernel::{Kernel, KernelConfig};
use crate::kubectl::{Action, Kubectl};
use crate::kubelet::{Kubelet, KubeletConfig, NodeSetup};
use crate::load::LoadGenerator;
use crate::metrics::{MetricsMsg, MetricsServer, MetricsServerConfig};
use crate::msg::Msg;
use crate::proxy::{KubeProxy, ProxyConfig};
use crate::registry::{Registry, RegistryConfig};
use crate::runtime::{ContainerRuntime, RuntimeConfig};
use crate::scheduler::{Scheduler, SchedulerConfig};

/// A group of identical worker nodes.
#[derive(Clone, Debug)]
pub struct NodePool {
    pub name: String,
    pub count: u32,
    pub capacity: ResourceList,
    /// Extended resources every node of the pool advertises (`nvidia.com/gpu: 4`).
    pub extended_resources: Vec<(Str, u64)>,
    pub zone: Option<String>,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    /// When the pool's machines join the cluster (`None`: present from the start). Until
    /// then their hosts are powered off; at `join_at` they boot, and each kubelet
    /// registers its Node then, as a node added to a real cluster does.
    pub join_at: Option<SimDuration>,
}

impl NodePool {
    /// Node names: `<pool>-1`, `<pool>-2`, ...
    pub fn node_name(&self, index: u32) -> String {
        format!("{}-{}", self.name, index + 1)
    }
}

/// Everything needed to build a cluster; every component setting defaults to upstream's.
#[derive(Clone, Debug, Default)]
pub struct ClusterConfig {
    pub node_pools: Vec<NodePool>,
    /// Default path between any two hosts.
    pub network: Option<Link>,
    pub etcd: EtcdConfig,
    pub apiserver: ApiServerConfig,
    pub scheduler: SchedulerConfig,
    pub controller_manager: ControllerManagerConfig,
    pub kubelet: KubeletConfig,
    pub runtime: RuntimeConfig,
    pub kernel: KernelConfig,
    pub registry: RegistryConfig,
    pub proxy: ProxyConfig,
    /// metrics-server on the control plane, scraping every kubelet (`None`: not
    /// deployed, as when nothing reads resource metrics; scenarios deploy it when they
    /// have a HorizontalPodAutoscaler).
    pub metrics_server: Option<MetricsServerConfig>,
    /// A load generator on the client host (scenarios add one when they have `load`
    /// actions).
    pub load_generator: bool,
}

/// The actors of one worker node, all on its host.
#[derive(Clone, Debug)]
pub struct NodeHandle {
    pub name: Str,
    pub host: HostId,
    pub kubelet: ActorId,
    pub runtime: ActorId,
    pub kernel: ActorId,
    pub proxy: ActorId,
}

pub struct Cluster {
    pub sim: Simulation<Msg>,
    pub control_plane: HostId,
    pub etcd: ActorId,
    pub apiserver: ActorId,
    pub scheduler: ActorId,
    pub controller_manager: ActorId,
    pub registry: ActorId,
    pub kubectl: ActorId,
    pub nodes: Vec<NodeHandle>,
    pub metrics_server: Option<ActorId>,
    pub load_generator: Option<ActorId>,
}

/// Host names that are not worker nodes.
pub const HOST_CONTROL_PLANE: &str = "control-plane";
pub const HOST_REGISTRY: &str = "registry";
pub const HOST_CLIENT: &str = "client";

impl Cluster {
    /// Builds the cluster; every actor starts at time zero, except those of node pools
    /// with `join_at`, whose hosts are powered on then. With `records`, trace records
    /// (the narration) are kept.
    pub fn build(config: &ClusterConfig, seed: u64, records: bool) -> Cluster {
        let mut sim = Simulation::new(seed);
        if records {
            sim.enable_records();
        }
        if let Some(link) = config.network {
            sim.network_mut().set_default_link(link);
        }
        let control_plane = sim.add_host(HOST_CONTROL_PLANE);
        let etcd = sim.add_actor(
            control_plane,
            "etcd",
            Box::new(Etcd::new(config.etcd.clone())),
        );
        let apiserver = sim.add_actor(
            control_plane,
            "kube-apiserver",
            Box::new(ApiServer::new(config.apiserver.clone(), etcd)),
        );
        let scheduler = sim.add_actor(
            control_plane,
            "kube-scheduler",
            Box::new(Scheduler::new(config.scheduler.clone(), apiserver)),
        );
        let controller_manager = sim.add_actor(
            control_plane,
            "kube-controller-manager",
            Box::new(ControllerManager::new(
                config.controller_manager.clone(),
                apiserver,
            )),
        );
        crate::invariants::install(&mut sim, etcd, controller_manager);
        let registry_host = sim.add_host(HOST_REGISTRY);
        let registry = sim.add_actor(
            registry_host,
            "registry",
            Box::new(Registry::new(config.registry.clone())),
        );
        let client = sim.add_host(HOST_CLIENT);
        let kubectl = sim.add_actor(client, "kubectl", Box::new(Kubectl::new(apiserver)));

        let mut nodes = Vec::new();
        let mut node_index: u32 = 0;
        for pool in &config.node_pools {
            for i in 0..pool.count {
                let name = pool.node_name(i);
                let setup = node_setup(pool, &name, node_index);
                let node = add_node(
                    &mut sim,
                    config,
                    setup,
                    pool.join_at.is_none(),
                    apiserver,
                    registry,
                );
                if let Some(join_at) = pool.join_at {
                    sim.schedule_fault(SimTime::ZERO + join_at, Fault::PowerOnHost(node.host));
                }
                nodes.push(node);
                node_index += 1;
            }
        }
        // Added last, so a cluster without them keeps every other actor's id.
        let metrics_server = config.metrics_server.as_ref().map(|metrics| {
            let kubelets = nodes.iter().map(|n| (n.name.clone(), n.kubelet)).collect();
            let id = sim.add_actor(
                control_plane,
                "metrics-server",
                Box::new(MetricsServer::new(metrics.clone(), kubelets)),
            );
            sim.actor_mut::<ControllerManager>(controller_manager)
                .expect("the controller manager")
                .set_metrics_server(id);
            id
        });
        let load_generator = config.load_generator.then(|| {
            let kernels = nodes.iter().map(|n| (n.name.clone(), n.kernel)).collect();
            sim.add_actor(
                client,
                "load-generator",
                Box::new(LoadGenerator::new(apiserver, kernels)),
            )
        });
        Cluster {
            sim,
            control_plane,
            etcd,
            apiserver,
            scheduler,
            controller_manager,
            registry,
            kubectl,
            nodes,
            metrics_server,
            load_generator,
        }
    }

    /// The narrated steps so far (trace records of kind "step"), in order: the story a
    /// student reads. Empty unless the cluster was built with records.
    pub fn steps(&self) -> impl Iterator<Item = &sim_core::Record> {
        self.sim.records().iter().filter(|r| r.kind == "step")
    }

    pub fn node(&self, name: &str) -> Option<&NodeHandle> {
        self.nodes.iter().find(|n| n.name.as_ref() == name)
    }

    /// Hands `action` to kubectl at `at`.
    pub fn schedule_action(&mut self, at: SimTime, action: Action) {
        self.sim
            .schedule_timer(at, self.kubectl, Msg::Action(Box::new(action)));
    }

    /// Sets the total CPU demand clients send `namespace/service` from `at` on (0 stops
    /// them). The cluster must have a load generator.
    pub fn schedule_load(
        &mut self,
        at: SimTime,
        namespace: Str,
        service: Str,
        cpu_millicores: u64,
    ) {
        let load_generator = self
            .load_generator
            .expect("a load action needs the cluster's load generator");
        self.sim.schedule_timer(
            at,
            load_generator,
            Msg::Metrics(Box::new(MetricsMsg::SetLoad {
                namespace,
                service,
                cpu_millicores,
            })),
        );
    }

    pub fn schedule_fault(&mut self, at: SimTime, fault: Fault) {
        self.sim.schedule_fault(at, fault);
    }

    pub fn run(&mut self, limits: RunLimits) -> RunOutcome {
        self.sim.run(limits)
    }

    /// The controller manager, for observers outside the simulation (zone states).
    pub fn controller_manager(&self) -> &ControllerManager {
        self.sim
            .actor::<ControllerManager>(self.controller_manager)
            .expect("the controller manager actor is a ControllerManager")
    }

    /// etcd, the cluster's truth, for observers outside the simulation.
    pub fn etcd(&self) -> &Etcd {
        self.sim
            .actor::<Etcd>(self.etcd)
            .expect("the etcd actor is an Etcd")
    }

    /// Every stored object of type `T`.
    pub fn objects<T: Resource>(&self) -> impl Iterator<Item = &std::rc::Rc<T>> {
        self.etcd().objects(T::KIND).filter_map(T::from_object)
    }

    /// Counts read from etcd.
    pub fn state(&self) -> ClusterState {
        let mut state = ClusterState::default();
        for pod in self.objects::<Pod>() {
            *state
                .pods_by_phase
                .entry(pod.status.phase.name().to_string())
                .or_default() += 1;
            if pod.metadata.is_terminating() {
                state.pods_terminating += 1;
            }
        }
        for node in self.objects::<Node>() {
            match node.status.ready.status {
                ConditionStatus::True => state.nodes_ready += 1,
                ConditionStatus::False => state.nodes_not_ready += 1,
                ConditionStatus::Unknown => state.nodes_unknown += 1,
            }
        }
        for deployment in self.objects::<Deployment>() {
            state.deployments.push(DeploymentState {
                namespace: deployment.metadata.namespace.to_string(),
                name: deployment.metadata.name.to_string(),
                desired: deployment.spec.replicas,
                updated: deployment.status.updated_replicas,
                ready: deployment.status.ready_replicas,
                available: deployment.status.available_replicas,
            });
        }
        state
    }

    /// How many objects of each kind etcd holds.
    pub fn object_counts(&self) -> BTreeMap<Kind, usize> {
        let mut counts = BTreeMap::new();
        for kind in Kind::ALL {
            counts.insert(kind, self.etcd().objects(kind).count());
        }
        counts
    }
}

/// Derives a node's identity: labels, pod CIDR (`10.244.<i>.0/24`, as kube-controller-
/// manager's node IPAM hands them out from the default cluster CIDR) and internal IP.
fn node_setup(pool: &NodePool, name: &str, node_index: u32) -> NodeSetup {
    let mut labels = pool.labels.clone();
    labels.insert(s(LABEL_HOSTNAME), s(name));
    labels.insert(s("kubernetes.io/os"), s("linux"));
    if let Some(zone) = &pool.zone {
        labels.insert(s(LABEL_ZONE), s(zone));
    }
    let (high, low) = (node_index / 256, node_index % 256);
    NodeSetup {
        name: s(name),
        labels,
        taints: pool.taints.clone(),
        capacity: pool.capacity,
        extended_resources: pool.extended_resources.clone(),
        internal_ip: s(&format!(
            "10.0.{}.{}",
            high,
            low + 10 * u32::from(high == 0)
        )),
        pod_cidr: s(&format!("10.{}.{}.0/24", 244 + high, low)),
    }
}

fn add_node(
    sim: &mut Simulation<Msg>,
    config: &ClusterConfig,
    setup: NodeSetup,
    powered_on: bool,
    apiserver: ActorId,
    registry: ActorId,
) -> NodeHandle {
    let name = setup.name.clone();
    let host = if powered_on {
        sim.add_host(name.to_string())
    } else {
        sim.add_host_powered_off(name.to_string())
    };
    let kernel = sim.add_actor(
        host,
        format!("kernel/{name}"),
        Box::new(Kernel::new(
            config.kernel.clone(),
            name.clone(),
            setup.capacity,
        )),
    );
    let runtime = sim.add_actor(
        host,
        format!("{}/{name}", config.runtime.name),
        Box::new(ContainerRuntime::new(
            config.runtime.clone(),
            name.clone(),
            kernel,
            registry,
        )),
    );
    let kubelet = sim.add_actor(
        host,
        format!("kubelet/{name}"),
        Box::new(
            Kubelet::new(config.kubelet.clone(), setup, apiserver, runtime).with_kernel(kernel),
        ),
    );
    let proxy = sim.add_actor(
        host,
        format!("kube-proxy/{name}"),
        Box::new(KubeProxy::new(
            config.proxy.clone(),
            name.clone(),
            apiserver,
        )),
    );
    NodeHandle {
        name,
        host,
        kubelet,
        runtime,
        kernel,
        proxy,
    }
}

/// Final counts of a run, read from etcd.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterState {
    pub pods_by_phase: BTreeMap<String, u32>,
    pub pods_terminating: u32,
    pub nodes_ready: u32,
    pub nodes_not_ready: u32,
    pub nodes_unknown: u32,
    pub deployments: Vec<DeploymentState>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeploymentState {
    pub namespace: String,
    pub name: String,
    pub desired: u32,
    pub updated: u32,
    pub ready: u32,
    pub available: u32,
}
