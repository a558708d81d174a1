//! Synthetic clusters and workloads, built in code, for benchmarks and tests that need
//! sizes no one would write by hand (1,000 nodes, 1,000 Deployments).

use std::rc::Rc;

use crate::api::{
    Container, ContainerPort, Deployment, DeploymentSpec, DeploymentStrategy, ImagePullPolicy,
    IntOrPercent, LabelSelector, Labels, Object, ObjectMeta, PodSpec, PodTemplateSpec, Probe,
    Protocol, ResourceList, ResourceRequirements, s,
};
use crate::cluster::{ClusterConfig, NodePool};
use crate::kubelet::NodeSetup;
use crate::kubelet::status::node_status;

/// A Deployment of `replicas` pods running one container of `image` with the given
/// requests, labelled `app: <name>`, with upstream's defaults everywhere else.
pub fn deployment(
    namespace: &str,
    name: &str,
    replicas: u32,
    image: &str,
    requests: ResourceList,
) -> Deployment {
    let labels = Labels::from_pairs([("app", name)]);
    let container = Container {
        name: s(name),
        image: s(image),
        image_pull_policy: ImagePullPolicy::IfNotPresent,
        resources: ResourceRequirements {
            requests,
            limits: ResourceList::default(),
        },
        ports: vec![ContainerPort {
            name: None,
            container_port: 80,
            protocol: Protocol::Tcp,
            host_port: None,
            host_ip: None,
        }],
        ..Container::default()
    };
    Deployment {
        metadata: ObjectMeta::named(namespace, name),
        spec: DeploymentSpec {
            replicas,
            selector: LabelSelector::from_labels(labels.clone()),
            template: Rc::new(PodTemplateSpec {
                labels,
                annotations: Labels::new(),
                spec: PodSpec {
                    containers: Rc::from(vec![container]),
                    ..PodSpec::default()
                },
            }),
            strategy: DeploymentStrategy::RollingUpdate {
                max_surge: IntOrPercent::Percent(25),
                max_unavailable: IntOrPercent::Percent(25),
            },
            min_ready_seconds: 0,
            revision_history_limit: 10,
            progress_deadline_seconds: 600,
            paused: false,
        },
        status: Default::default(),
    }
}

/// A pool of `count` identical nodes: 16 CPUs, 64 GiB, 110 pods (kubelet's default
/// maxPods), spread over three zones round-robin by the caller's pool layout.
pub fn node_pool(name: &str, count: u32, zone: Option<&str>) -> NodePool {
    NodePool {
        name: name.to_string(),
        count,
        capacity: ResourceList {
            cpu_millicores: Some(16_000),
            memory_bytes: Some(64 << 30),
            ephemeral_storage_bytes: Some(200 << 30),
            pods: Some(110),
        },
        extended_resources: Vec::new(),
        zone: zone.map(str::to_string),
        labels: Labels::new(),
        taints: Vec::new(),
        join_at: None,
        runtime: None,
        filesystems: None,
    }
}

/// The image of the `scale` workload's pods, and the one its rolling update moves to.
pub const SCALE_IMAGE: &str = "nginx:1.14.2";
pub const SCALE_ROLLOUT_IMAGE: &str = "nginx:1.16.1";

/// The `scale` workload: `nodes` nodes in three zones and `deployments` Deployments of
/// `replicas` nginx pods each (100m CPU, 128Mi requested).
pub fn scale(nodes: u32, deployments: u32, replicas: u32) -> (ClusterConfig, Vec<Object>) {
    Scale {
        nodes,
        deployments,
        replicas,
        probes: false,
    }
    .build()
}

/// The `scale` workload with its options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    pub nodes: u32,
    pub deployments: u32,
    pub replicas: u32,
    /// Every pod's container gets a readiness (`httpGet /ready`) and a liveness
    /// (`httpGet /healthz`) probe on port 80, with upstream's defaults.
    pub probes: bool,
}

impl Scale {
    pub fn build(&self) -> (ClusterConfig, Vec<Object>) {
        (
            scale_cluster(self.nodes),
            self.deployments_running(SCALE_IMAGE),
        )
    }

    /// The Deployments, running `image` (see [`scale_deployments`]).
    pub fn deployments_running(&self, image: &str) -> Vec<Object> {
        let mut objects = scale_deployments(self.deployments, self.replicas, image);
        if self.probes {
            for object in &mut objects {
                let Object::Deployment(deployment) = object else {
                    continue;
                };
                let deployment = Rc::make_mut(deployment);
                let template = Rc::make_mut(&mut deployment.spec.template);
                let mut containers = template.spec.containers.to_vec();
                for container in &mut containers {
                    container.readiness_probe = Some(Rc::new(Probe::http_get("/ready", 80)));
                    container.liveness_probe = Some(Rc::new(Probe::http_get("/healthz", 80)));
                }
                template.spec.containers = containers.into();
            }
        }
        objects
    }
}

/// The `scale` workload's nodes: `nodes` in three zones.
fn scale_cluster(nodes: u32) -> ClusterConfig {
    let zones = ["zone-a", "zone-b", "zone-c"];
    let mut config = ClusterConfig::default();
    for (index, zone) in zones.iter().enumerate() {
        let count = nodes / 3 + u32::from((index as u32) < nodes % 3);
        if count > 0 {
            config
                .node_pools
                .push(node_pool(&format!("node-{zone}"), count, Some(zone)));
        }
    }
    config
}

/// The `scale` workload's Deployments, running `image`: applying them again with
/// [`SCALE_ROLLOUT_IMAGE`] rolls every one of them out at once.
pub fn scale_deployments(deployments: u32, replicas: u32, image: &str) -> Vec<Object> {
    let requests = ResourceList {
        cpu_millicores: Some(100),
        memory_bytes: Some(128 << 20),
        ..ResourceList::default()
    };
    (0..deployments)
        .map(|i| {
            Object::from(deployment(
                "default",
                &format!("app-{i:04}"),
                replicas,
                image,
                requests,
            ))
        })
        .collect()
}

/// A Ready Node as its kubelet would register it: the hostname and zone labels, the
/// pool's capacity as allocatable. For snapshots the scheduler is run on directly.
pub fn ready_node(pool: &NodePool, name: &str, index: u32) -> crate::api::Node {
    use crate::api::{LABEL_HOSTNAME, LABEL_ZONE, Node, NodeSpec};
    let mut labels = pool.labels.clone();
    labels.insert(s(LABEL_HOSTNAME), s(name));
    if let Some(zone) = &pool.zone {
        labels.insert(s(LABEL_ZONE), s(zone));
    }
    let setup = NodeSetup {
        name: s(name),
        labels: labels.clone(),
        taints: pool.taints.clone(),
        capacity: pool.capacity,
        extended_resources: pool.extended_resources.clone(),
        internal_ip: s(&format!("10.0.{}.{}", index / 256, index % 256)),
        pod_cidr: s(&format!("10.{}.{}.0/24", 244 + index / 256, index % 256)),
    };
    let mut metadata = ObjectMeta::named("", name);
    metadata.labels = labels;
    metadata.uid = u64::from(index) + 1;
    Node {
        metadata,
        spec: NodeSpec {
            unschedulable: false,
            taints: pool.taints.clone(),
            pod_cidr: Some(setup.pod_cidr.clone()),
        },
        status: node_status(
            &setup,
            &s("v1.34.0"),
            &s("containerd://2.0.0"),
            &Default::default(),
            None,
            sim_core::SimTime::ZERO,
        ),
    }
}

/// The process's peak resident memory (`VmHWM` in /proc/self/status), in bytes; 0 where
/// /proc is not there. For benchmarks and examples that report memory, never for a run.
pub fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}
