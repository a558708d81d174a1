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
use crate::filesystem::{FilesystemSpec, NodeFilesystems};
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
    /// The pool's container runtime: CRI implementation and OCI handlers (`None`: the
    /// cluster's `runtime`).
    pub runtime: Option<RuntimeConfig>,
    /// The nodes' filesystems (`None`: a nodefs of the `ephemeral-storage` capacity made
    /// with mke2fs's defaults, empty, holding the images too; see `filesystem`).
    pub filesystems: Option<NodeFilesystems>,
}

impl NodePool {
    /// The filesystems the nodes' kernels account for; none without ephemeral storage.
    pub fn node_filesystems(&self) -> Option<NodeFilesystems> {
        let capacity_bytes = self.capacity.ephemeral_storage_bytes.filter(|&b| b > 0)?;
        Some(self.filesystems.unwrap_or(NodeFilesystems {
            nodefs: FilesystemSpec::new(capacity_bytes),
            imagefs: None,
        }))
    }

    /// Node names: `<pool>-1`, `<pool>-2`, ...
    pub fn node_name(&self, index: u32) -> String {
        format!("{}-{}", self.name, index + 1)
    }
}

/// How many replicas of each control-plane component run. With more than one of
/// anything, the control plane spans hosts `control-plane-1..N`; with one of each it is
/// the single host `control-plane`, as before.
#[derive(Clone, Debug)]
pub struct ControlPlaneConfig {
    /// kube-apiserver replicas, one per control-plane host (`kube-apiserver/<host>`),
    /// behind a load balancer (`apiserver::balancer`). The scheduler and the controller
    /// manager talk to the replica on their own host, as kubeadm configures them; every
    /// other client (kubelets, kube-proxies, kubectl) goes through the balancer.
    pub apiservers: u32,
    /// kube-scheduler replicas, replica `i` on control-plane host `i`
    /// (`kube-scheduler-<i>`, or `kube-scheduler` alone); they elect a leader through the
    /// `kube-system/kube-scheduler` Lease (`--leader-elect`, on by default).
    pub schedulers: u32,
    /// kube-controller-manager replicas, placed and named the same way, electing through
    /// `kube-system/kube-controller-manager`.
    pub controller_managers: u32,
}

impl Default for ControlPlaneConfig {
    fn default() -> Self {
        ControlPlaneConfig {
            apiservers: 1,
            schedulers: 1,
            controller_managers: 1,
        }
    }
}

impl ControlPlaneConfig {
    /// How many control-plane hosts the cluster has.
    pub fn host_count(&self) -> u32 {
        [self.apiservers, self.schedulers, self.controller_managers]
            .into_iter()
            .fold(1, Ord::max)
    }

    /// The name of control-plane host `index` (from 0).
    pub fn host_name(&self, index: u32) -> String {
        if self.host_count() == 1 {
            HOST_CONTROL_PLANE.to_string()
        } else {
            format!("{HOST_CONTROL_PLANE}-{}", index + 1)
        }
    }
}

/// `base` when it is the only one, else `base-<index + 1>`: the actor name of replica
/// `index` of a control-plane component.
pub fn replica_name(base: &str, index: u32, count: u32) -> String {
    if count == 1 {
        base.to_string()
    } else {
        format!("{base}-{}", index + 1)
    }
}

/// Everything needed to build a cluster; every component setting defaults to upstream's.
#[derive(Clone, Debug, Default)]
pub struct ClusterConfig {
    pub node_pools: Vec<NodePool>,
    /// Replica counts of the control plane.
    pub control_plane: ControlPlaneConfig,
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
    /// The first control-plane host (the only one unless `control_plane` asks for more).
    pub control_plane: HostId,
    /// Every control-plane host, `control-plane-1..N` (or the one `control-plane`).
    pub control_planes: Vec<HostId>,
    /// The first etcd member (the only one unless `etcd.members` asks for more).
    pub etcd: ActorId,
    /// Every etcd member, `etcd-1..N` (or the one `etcd`), in member order.
    pub etcd_members: Vec<ActorId>,
    /// etcdctl on the client host, when `etcd.etcdctl` deploys it.
    pub etcdctl: Option<ActorId>,
    /// The first kube-apiserver replica: the one on `control_plane`.
    pub apiserver: ActorId,
    /// Every kube-apiserver replica, one per control-plane host, in host order.
    pub apiservers: Vec<ActorId>,
    /// The first kube-scheduler replica.
    pub scheduler: ActorId,
    /// The first kube-controller-manager replica.
    pub controller_manager: ActorId,
    /// Every kube-scheduler replica, the one on control-plane host `i` at index `i`.
    pub schedulers: Vec<ActorId>,
    /// Every kube-controller-manager replica, in host order.
    pub controller_managers: Vec<ActorId>,
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
        let control_plane = sim.add_host(config.control_plane.host_name(0));
        let etcd_members = add_etcd_members(&mut sim, &config.etcd, control_plane);
        let etcd = etcd_members[0];
        let replicated = config.control_plane.apiservers > 1;
        let apiserver_name = |host: &str| {
            if replicated {
                format!("kube-apiserver/{host}")
            } else {
                "kube-apiserver".to_string()
            }
        };
        let apiserver = sim.add_actor(
            control_plane,
            apiserver_name(&config.control_plane.host_name(0)),
            Box::new(ApiServer::new(config.apiserver.clone(), etcd)),
        );
        let planes = &config.control_plane;
        assert!(
            planes.schedulers >= 1 && planes.controller_managers >= 1,
            "a cluster needs a scheduler and a controller manager: {planes:?}"
        );
        let add_scheduler = |sim: &mut Simulation<Msg>, host: HostId, index, apiserver| {
            let scheduler = Scheduler::new(config.scheduler.clone(), apiserver)
                .on_host(&planes.host_name(index));
            let name = replica_name("kube-scheduler", index, planes.schedulers);
            sim.add_actor(host, name, Box::new(scheduler))
        };
        let add_manager = |sim: &mut Simulation<Msg>, host: HostId, index, apiserver| {
            let manager = ControllerManager::new(config.controller_manager.clone(), apiserver)
                .on_host(&planes.host_name(index));
            let name = replica_name("kube-controller-manager", index, planes.controller_managers);
            sim.add_actor(host, name, Box::new(manager))
        };
        let scheduler = add_scheduler(&mut sim, control_plane, 0, apiserver);
        let controller_manager = add_manager(&mut sim, control_plane, 0, apiserver);
        crate::etcd::install_invariants(&mut sim, &etcd_members);
        let mut control_planes = vec![control_plane];
        let mut apiservers = vec![apiserver];
        for index in 1..config.control_plane.host_count() {
            let name = config.control_plane.host_name(index);
            let host = sim.add_host(name.clone());
            control_planes.push(host);
            if index < config.control_plane.apiservers {
                apiservers.push(sim.add_actor(
                    host,
                    apiserver_name(&name),
                    Box::new(ApiServer::new(config.apiserver.clone(), etcd)),
                ));
            }
        }
        // The other replicas of the scheduler and the controller manager, each on its
        // host and talking to that host's API server (the first one's on a host without).
        let mut schedulers = vec![scheduler];
        let mut controller_managers = vec![controller_manager];
        for index in 1..planes.host_count() {
            let host = control_planes[index as usize];
            let local = apiservers.get(index as usize).copied().unwrap_or(apiserver);
            if index < planes.schedulers {
                schedulers.push(add_scheduler(&mut sim, host, index, local));
            }
            if index < planes.controller_managers {
                controller_managers.push(add_manager(&mut sim, host, index, local));
            }
        }
        crate::invariants::install(&mut sim, &etcd_members, &controller_managers);
        crate::invariants::install_leader_election(&mut sim, &schedulers, &controller_managers);
        if replicated {
            let peers: std::rc::Rc<[ActorId]> = apiservers.clone().into();
            for &replica in &apiservers {
                sim.actor_mut::<ApiServer>(replica)
                    .expect("an API server replica")
                    .set_peers(peers.clone());
            }
        }
        if etcd_members.len() > 1 {
            // `--etcd-servers` lists every member; each replica starts on the first.
            let endpoints: std::rc::Rc<[ActorId]> = etcd_members.clone().into();
            for &replica in &apiservers {
                sim.actor_mut::<ApiServer>(replica)
                    .expect("an API server replica")
                    .set_etcd_endpoints(endpoints.clone());
            }
        }
        crate::apiserver::install_stream_checker(&mut sim, &etcd_members, &apiservers);
        // Clients outside the control plane connect through the load balancer, which
        // pins each connection to a replica in turn.
        let mut balancer = crate::apiserver::balancer::RoundRobin::default();
        let mut connect = || {
            balancer
                .pick(&apiservers, None)
                .expect("at least one API server")
        };
        let registry_host = sim.add_host(HOST_REGISTRY);
        let registry = sim.add_actor(
            registry_host,
            "registry",
            Box::new(Registry::new(config.registry.clone())),
        );
        let client = sim.add_host(HOST_CLIENT);
        let kubectl = sim.add_actor(client, "kubectl", Box::new(Kubectl::new(connect())));

        let mut nodes = Vec::new();
        let mut node_index: u32 = 0;
        for pool in &config.node_pools {
            for i in 0..pool.count {
                let name = pool.node_name(i);
                let setup = node_setup(pool, &name, node_index);
                let node = add_node(
                    &mut sim,
                    config,
                    pool,
                    setup,
                    pool.join_at.is_none(),
                    (connect(), connect()),
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
            for &manager in &controller_managers {
                sim.actor_mut::<ControllerManager>(manager)
                    .expect("the controller manager")
                    .set_metrics_server(id);
            }
            id
        });
        let etcdctl = config.etcd.etcdctl.then(|| {
            sim.add_actor(
                client,
                "etcdctl",
                Box::new(crate::etcd::Etcdctl::new(etcd_members.clone())),
            )
        });
        let load_generator = config.load_generator.then(|| {
            let kernels = nodes.iter().map(|n| (n.name.clone(), n.kernel)).collect();
            sim.add_actor(
                client,
                "load-generator",
                Box::new(LoadGenerator::new(connect(), kernels)),
            )
        });
        Cluster {
            sim,
            control_plane,
            control_planes,
            etcd,
            etcd_members,
            etcdctl,
            apiserver,
            apiservers,
            scheduler,
            controller_manager,
            schedulers,
            controller_managers,
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

    /// From `at` on, the registry answers every pull from `host` (`None`: from any
    /// host) with 503 for `duration`.
    pub fn schedule_registry_outage(
        &mut self,
        at: SimTime,
        duration: SimDuration,
        host: Option<Str>,
    ) {
        self.sim.schedule_timer(
            at,
            self.registry,
            Msg::Registry(Box::new(crate::registry::RegistryMsg::Outage {
                duration,
                host,
            })),
        );
    }

    /// At `at`, kube-apiserver replica `index` gets `SIGTERM`: it closes its watch streams
    /// (their clients reconnect through the load balancer when there is another replica)
    /// and its process exits; it starts again `down_for` later, reloads its watch cache
    /// from etcd and serves.
    pub fn schedule_apiserver_restart(&mut self, at: SimTime, index: usize, down_for: SimDuration) {
        let replica = self.apiservers[index];
        self.sim.schedule_timer(
            at,
            replica,
            Msg::Tick(crate::msg::Tick::Apiserver(
                crate::apiserver::Tick::Shutdown,
            )),
        );
        self.sim.schedule_fault(at, Fault::CrashActor(replica));
        self.sim
            .schedule_fault(at + down_for, Fault::RestartActor(replica));
    }

    pub fn schedule_fault(&mut self, at: SimTime, fault: Fault) {
        self.sim.schedule_fault(at, fault);
    }

    pub fn run(&mut self, limits: RunLimits) -> RunOutcome {
        self.sim.run(limits)
    }

    /// The controller manager that leads (the first replica when none does), for
    /// observers outside the simulation (zone states).
    pub fn controller_manager(&self) -> &ControllerManager {
        let replica = |id| {
            self.sim
                .actor::<ControllerManager>(id)
                .expect("a controller manager actor is a ControllerManager")
        };
        self.controller_managers
            .iter()
            .map(|&id| replica(id))
            .find(|manager| manager.leading())
            .unwrap_or_else(|| replica(self.controller_manager))
    }

    /// A kube-scheduler replica, for observers outside the simulation.
    pub fn scheduler_replica(&self, id: ActorId) -> &Scheduler {
        self.sim
            .actor::<Scheduler>(id)
            .expect("a scheduler actor is a Scheduler")
    }

    /// etcd, the cluster's truth, for observers outside the simulation: the store of the
    /// member that has applied the most (the leader, unless it lags).
    pub fn etcd(&self) -> &Etcd {
        crate::etcd::freshest(&self.sim, &self.etcd_members)
    }

    /// One etcd member by name (`etcd-2`, or `etcd` alone).
    pub fn etcd_member(&self, name: &str) -> Option<&Etcd> {
        self.etcd_members
            .iter()
            .map(|&id| {
                self.sim
                    .actor::<Etcd>(id)
                    .expect("an etcd member actor is an Etcd")
            })
            .find(|member| member.name() == name)
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

/// Adds the etcd members: one on the control-plane host (kubeadm's stacked etcd; its
/// requests stay on the local socket), or each of several on its own host `etcd-<n>`.
/// Each learns every member's actor once all exist.
fn add_etcd_members(
    sim: &mut Simulation<Msg>,
    config: &EtcdConfig,
    control_plane: HostId,
) -> Vec<ActorId> {
    assert!(
        config.members >= 1 && config.members % 2 == 1,
        "etcd runs 1, 3 or 5 members, not {}",
        config.members
    );
    let members: Vec<ActorId> = (0..config.members)
        .map(|index| {
            let name = config.member_name(index);
            let host = if config.members == 1 {
                control_plane
            } else {
                sim.add_host(name.clone())
            };
            sim.add_actor(host, name, Box::new(Etcd::new(config.clone())))
        })
        .collect();
    for (index, &member) in members.iter().enumerate() {
        sim.actor_mut::<Etcd>(member)
            .expect("an etcd member")
            .set_members(index, members.clone());
    }
    members
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
    pool: &NodePool,
    setup: NodeSetup,
    powered_on: bool,
    // The replicas the kubelet's and kube-proxy's connections are pinned to.
    (kubelet_apiserver, proxy_apiserver): (ActorId, ActorId),
    registry: ActorId,
) -> NodeHandle {
    let runtime_config = pool.runtime.as_ref().unwrap_or(&config.runtime);
    let name = setup.name.clone();
    let host = if powered_on {
        sim.add_host(name.to_string())
    } else {
        sim.add_host_powered_off(name.to_string())
    };
    let kernel = sim.add_actor(
        host,
        format!("kernel/{name}"),
        Box::new({
            let kernel = Kernel::new(config.kernel.clone(), name.clone(), setup.capacity);
            match pool.node_filesystems() {
                Some(layout) => kernel.with_filesystems(layout),
                None => kernel,
            }
        }),
    );
    let runtime = sim.add_actor(
        host,
        format!("{}/{name}", runtime_config.name),
        Box::new(ContainerRuntime::new(
            runtime_config.clone(),
            name.clone(),
            kernel,
            registry,
        )),
    );
    let kubelet = sim.add_actor(
        host,
        format!("kubelet/{name}"),
        Box::new(
            Kubelet::new(config.kubelet.clone(), setup, kubelet_apiserver, runtime)
                .with_kernel(kernel),
        ),
    );
    let proxy = sim.add_actor(
        host,
        format!("kube-proxy/{name}"),
        Box::new(KubeProxy::new(
            config.proxy.clone(),
            name.clone(),
            proxy_apiserver,
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
