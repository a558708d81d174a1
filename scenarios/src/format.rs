//! The scenario file as written: serde structs that mirror the YAML one to one, every one
//! with `deny_unknown_fields`. Values that need parsing (durations, quantities, counts)
//! are kept as text here; [`crate::scenario`] parses and checks them with the field path
//! in hand, so every error names the file, line and field.
//!
//! ```yaml
//! name: deploy
//! description: A 3-replica nginx Deployment and its Service on 3 nodes
//! seed: 1                      # optional; `--seed` overrides it
//! duration: 2m
//! cluster:
//!   nodePools:
//!     - {name: node, count: 3, cpu: 4, memory: 16Gi, pods: 110}
//!     - {name: gpu, count: 1, cpu: 8, memory: 32Gi, extendedResources: {nvidia.com/gpu: 4}}
//!   images:
//!     - {name: "nginx:1.14.2", size: 70Mi, startup: 1s}
//!   kubeControllerManager: {nodeMonitorGracePeriod: 50s}
//!   kubeScheduler: {config: scheduler-config.yaml}   # or the KubeSchedulerConfiguration inline
//! workloads:
//!   web: |                     # or a list of manifests, or {path: web.yaml}
//!     apiVersion: apps/v1
//!     kind: Deployment
//!     ...
//! timeline:
//!   - {at: 1s, apply: web}
//!   - {at: 60s, kill-node: node-2}
//! expectations:
//!   - name: nginx is available
//!     at: 30s                  # optional; the end of the run when absent
//!     deployment: {name: nginx, available: 3}
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Visitor};

/// A plain scalar kept as text: `5m`, `4`, `16Gi`, `">= 3"`. Accepts YAML numbers too,
/// so `cpu: 4` and `cpu: "4"` mean the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Scalar, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScenarioFile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The default seed; `kubesim run --seed` overrides it.
    pub seed: Option<u64>,
    /// How much simulated time the run covers.
    pub duration: Scalar,
    /// Bound on processed events; a run that reaches it stops and says so.
    pub events_max: Option<u64>,
    pub cluster: ClusterSection,
    /// Named groups of manifests; decoded by hand (a string, a list or `{path: ...}`).
    #[serde(default)]
    pub workloads: Option<serde_json::Value>,
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    #[serde(default)]
    pub expectations: Vec<ExpectationEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterSection {
    pub node_pools: Vec<NodePoolEntry>,
    #[serde(default)]
    pub images: Vec<ImageEntry>,
    /// Registry hosts that serve at their own speed (the others at the defaults).
    #[serde(default)]
    pub registries: Vec<RegistryEntry>,
    pub network: Option<NetworkSection>,
    /// How many replicas of each control-plane component run (`controlPlane`).
    pub control_plane: Option<ControlPlaneSection>,
    pub kube_apiserver: Option<ApiServerSection>,
    pub kube_controller_manager: Option<ControllerManagerSection>,
    pub kube_scheduler: Option<SchedulerSection>,
    pub kubelet: Option<KubeletSection>,
    pub kube_proxy: Option<ProxySection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodePoolEntry {
    pub name: String,
    pub count: u32,
    pub cpu: Scalar,
    pub memory: Scalar,
    /// kubelet `maxPods`, upstream default 110.
    pub pods: Option<Scalar>,
    /// The nodefs's size (the node's `ephemeral-storage` capacity); without it the
    /// nodes have no filesystems modelled.
    #[serde(rename = "ephemeral-storage")]
    pub ephemeral_storage: Option<Scalar>,
    /// The nodefs's inodes and what the OS holds on it: `{inodes: 1Mi, used: 6Gi,
    /// usedInodes: 200000}` (its size is `ephemeral-storage`).
    pub nodefs: Option<FilesystemEntry>,
    /// A dedicated image filesystem: `{capacity: 50Gi}` (absent: images and writable
    /// layers are on the nodefs).
    pub imagefs: Option<FilesystemEntry>,
    pub zone: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub taints: Vec<TaintEntry>,
    /// Extended resources each node offers, `{nvidia.com/gpu: 4}` (capacity = allocatable).
    #[serde(default)]
    pub extended_resources: BTreeMap<String, Scalar>,
    /// When the pool's nodes join the cluster (absent: present from the start).
    pub join_at: Option<Scalar>,
    /// The CRI runtime: `containerd` (default) or `cri-o`.
    pub runtime: Option<String>,
    /// The OCI runtime handlers configured (`runc`, `crun`, `kata`, `runsc`); absent:
    /// only the runtime's default handler.
    pub runtime_handlers: Option<Vec<String>>,
    /// The handler of pods without a RuntimeClass (absent: the runtime's default,
    /// containerd `runc`, CRI-O `crun`, if configured; else the first listed).
    pub default_runtime_handler: Option<String>,
}

/// A node filesystem: its size and inodes (default: one per 16Ki, mke2fs's default) and
/// what the operating system holds on it from the start (default nothing).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FilesystemEntry {
    pub capacity: Option<Scalar>,
    pub inodes: Option<Scalar>,
    pub used: Option<Scalar>,
    pub used_inodes: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TaintEntry {
    pub key: String,
    #[serde(default)]
    pub value: String,
    pub effect: String,
}

/// A registry host: `{host: quay.io, bandwidth: 10Mi, latency: 1s}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegistryEntry {
    /// As image references name it (`docker.io` is Docker Hub).
    pub host: String,
    /// Bytes per second each pull gets (a quantity, `/s` optional: `10Mi`, `25M/s`).
    pub bandwidth: Option<Scalar>,
    /// Manifest and auth round trips before the layers flow.
    pub latency: Option<Scalar>,
}

/// How the registry serves an image and how its containers behave.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageEntry {
    /// The reference pods use, e.g. `nginx:1.14.2`.
    pub name: String,
    pub size: Option<Scalar>,
    /// From exec to serving.
    pub startup: Option<Scalar>,
    pub memory: Option<Scalar>,
    pub cpu: Option<Scalar>,
    /// A leak: the working set grows by this much per second, minute or hour
    /// (`10Mi/s`, `60Mi/m`, `1Gi/h`) from the process's start...
    pub memory_growth: Option<Scalar>,
    /// ...up to this size (unbounded without it).
    pub memory_max: Option<Scalar>,
    /// The container writes to its writable layer (its own log files, say) this much
    /// per second, minute or hour (`5Mi/s`) while it runs...
    pub disk_growth: Option<Scalar>,
    /// ...up to this much in all (unbounded without it).
    pub disk_max: Option<Scalar>,
    /// The process may crash once: `{probability: 0.1, after: 30s, code: 1}`.
    pub crash: Option<CrashEntry>,
    /// How long the process takes to exit after SIGTERM.
    pub shutdown: Option<Scalar>,
    /// The process exits on its own after a while, with this code.
    pub exit: Option<ExitEntry>,
    /// How long the image's postStart hook handler (exec or httpGet) takes.
    pub post_start: Option<Scalar>,
    /// What the postStart handler returns (0, the default, succeeds; anything else
    /// fails the hook, and the kubelet kills the container: FailedPostStartHook).
    pub post_start_exit_code: Option<i32>,
    /// How long the image's preStop hook handler (exec or httpGet) takes.
    pub pre_stop: Option<Scalar>,
    /// From exec until the process stops answering (hangs): probes time out from then
    /// on and it takes no traffic.
    pub unhealthy_after: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CrashEntry {
    /// `0.1` or `10%`.
    pub probability: Scalar,
    /// How long after its start the process crashes, if it does.
    pub after: Scalar,
    /// The exit code of the crash, 1 when absent.
    pub code: Option<i32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExitEntry {
    pub after: Scalar,
    pub code: i32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkSection {
    pub latency: Option<Scalar>,
    pub jitter: Option<Scalar>,
}

/// `cluster.controlPlane`: the replicas of the control plane, one per host
/// `control-plane-1..N` when there is more than one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ControlPlaneSection {
    /// kube-apiserver replicas behind the load balancer (default 1).
    pub apiservers: Option<u32>,
    /// etcd members: 1 (default, on the control-plane host), 3 or 5 (hosts `etcd-<n>`).
    pub etcd_members: Option<u32>,
    /// etcd's `--quota-backend-bytes` (default 2Gi).
    pub quota_backend_bytes: Option<Scalar>,
    /// kube-scheduler replicas (default 1), electing a leader through a Lease.
    pub schedulers: Option<u32>,
    /// kube-controller-manager replicas (default 1), electing a leader through a Lease.
    pub controller_managers: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiServerSection {
    pub default_not_ready_toleration_seconds: Option<u64>,
    pub default_unreachable_toleration_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ControllerManagerSection {
    pub node_monitor_period: Option<Scalar>,
    pub node_monitor_grace_period: Option<Scalar>,
    pub node_startup_grace_period: Option<Scalar>,
    pub leader_election: Option<LeaderElectionSection>,
}

/// A component's `leaderElection` (component-base `LeaderElectionConfiguration`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LeaderElectionSection {
    pub leader_elect: Option<bool>,
    pub lease_duration: Option<Scalar>,
    pub renew_deadline: Option<Scalar>,
    pub retry_period: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SchedulerSection {
    /// A `KubeSchedulerConfiguration`: a file path (relative to the scenario file) or the
    /// document inline. The two fields below override its back-off values.
    pub config: Option<serde_json::Value>,
    pub pod_initial_backoff_seconds: Option<u64>,
    pub pod_max_backoff_seconds: Option<u64>,
    /// Overrides the config's `leaderElection`.
    pub leader_election: Option<LeaderElectionSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubeletSection {
    /// `evictionHard`: `memory.available` (a quantity) and the filesystem signals
    /// `nodefs.available`, `nodefs.inodesFree`, `imagefs.available`, `imagefs.inodesFree`
    /// (a percentage or a quantity). Given, it replaces upstream's defaults entirely.
    pub eviction_hard: Option<BTreeMap<String, Scalar>>,
    /// `evictionMinimumReclaim` on the same signals (upstream default none).
    pub eviction_minimum_reclaim: Option<BTreeMap<String, Scalar>>,
    pub eviction_pressure_transition_period: Option<Scalar>,
    pub node_lease_duration_seconds: Option<u64>,
    pub node_status_update_frequency: Option<Scalar>,
    pub node_status_report_frequency: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProxySection {
    pub sync_period: Option<Scalar>,
    pub min_sync_period: Option<Scalar>,
}

/// One timeline entry: `at` and exactly one action.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TimelineEntry {
    pub at: Scalar,
    /// A workload group's name, a multi-document string of manifests, or a list of them.
    pub apply: Option<serde_json::Value>,
    pub delete: Option<ObjectRef>,
    pub scale: Option<ScaleEntry>,
    #[serde(rename = "kill-node")]
    pub kill_node: Option<String>,
    #[serde(rename = "restart-node")]
    pub restart_node: Option<String>,
    pub partition: Option<CutEntry>,
    /// `all`, or the cut to remove.
    pub heal: Option<serde_json::Value>,
    /// `kubectl set image deployment/NAME CONTAINER=IMAGE`.
    #[serde(rename = "set-image")]
    pub set_image: Option<SetImageEntry>,
    /// `kubectl rollout undo deployment/NAME [--to-revision=N]`.
    #[serde(rename = "rollout-undo")]
    pub rollout_undo: Option<RolloutUndoEntry>,
    /// `kubectl rollout pause deployment/NAME`: `NAME` or `NAMESPACE/NAME`.
    #[serde(rename = "rollout-pause")]
    pub rollout_pause: Option<String>,
    /// `kubectl rollout resume deployment/NAME`: `NAME` or `NAMESPACE/NAME`.
    #[serde(rename = "rollout-resume")]
    pub rollout_resume: Option<String>,
    /// `kubectl get KIND [-n NAMESPACE | -A]`: a list without a resourceVersion.
    pub get: Option<GetEntry>,
    /// `kubectl cordon NODE`.
    pub cordon: Option<String>,
    /// `kubectl uncordon NODE`.
    pub uncordon: Option<String>,
    /// `kubectl drain NODE [flags]`.
    pub drain: Option<DrainEntry>,
    /// Clients now send a Service this total CPU demand (the load generator).
    pub load: Option<LoadEntry>,
    /// The image registry answers 503 for a while: `{for: 2m}`.
    #[serde(rename = "registry-outage")]
    pub registry_outage: Option<RegistryOutageEntry>,
    /// A control-plane component replica's process dies (`kube-scheduler-1`).
    #[serde(rename = "kill-component")]
    pub kill_component: Option<String>,
    /// A killed control-plane component replica starts again.
    #[serde(rename = "start-component")]
    pub start_component: Option<String>,
    /// An etcd member's process dies (`etcd-2`).
    #[serde(rename = "kill-etcd-member")]
    pub kill_etcd_member: Option<String>,
    /// A killed or wiped etcd member starts again.
    #[serde(rename = "restart-etcd-member")]
    pub restart_etcd_member: Option<String>,
    /// An etcd member dies and its disk is lost: it comes back empty.
    #[serde(rename = "wipe-etcd-member")]
    pub wipe_etcd_member: Option<String>,
    /// `etcdctl snapshot save NAME`.
    #[serde(rename = "etcd-snapshot")]
    pub etcd_snapshot: Option<String>,
    /// `etcdutl snapshot restore NAME` on every member.
    #[serde(rename = "etcd-restore")]
    pub etcd_restore: Option<String>,
    /// `etcdctl defrag --cluster`: the value is `all`.
    #[serde(rename = "etcd-defrag")]
    pub etcd_defrag: Option<String>,
    /// `etcdctl alarm disarm`: the value is `NOSPACE`.
    #[serde(rename = "etcd-alarm-disarm")]
    pub etcd_alarm_disarm: Option<String>,
    /// `etcdctl compact` to the current revision: the value is `latest`.
    #[serde(rename = "etcd-compact")]
    pub etcd_compact: Option<String>,
    /// The node's kubelet restarts alone (`systemctl restart kubelet`): `node-1`, or
    /// `{node: node-1, for: 90s}` to keep it down that long first.
    #[serde(rename = "restart-kubelet")]
    pub restart_kubelet: Option<serde_json::Value>,
    /// The node's container runtime daemon crashes and comes back: `node-1`, or
    /// `{node: node-1, for: 1m}` (default 5 s, systemd's `RestartSec` for containerd).
    #[serde(rename = "crash-runtime")]
    pub crash_runtime: Option<serde_json::Value>,
    /// The infra process (pause container) of a pod's sandbox is killed:
    /// `{node: node-1, pod: db, namespace: default}`.
    #[serde(rename = "kill-pod-sandbox")]
    pub kill_pod_sandbox: Option<KillPodSandboxEntry>,
    /// A kube-apiserver replica restarts (`SIGTERM`, then its process starts again):
    /// `control-plane-1`, or `{host: control-plane-1, for: 30s}` to keep it down that
    /// long first.
    #[serde(rename = "restart-apiserver")]
    pub restart_apiserver: Option<serde_json::Value>,
}

/// `{node: node-1, for: 90s}`: one node component down for a while.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeOutageEntry {
    pub node: String,
    #[serde(rename = "for")]
    pub duration: Option<Scalar>,
}

/// `{host: control-plane-1, for: 30s}`: a kube-apiserver replica down for a while.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ApiServerOutageEntry {
    pub host: String,
    #[serde(rename = "for")]
    pub duration: Option<Scalar>,
}

/// `kill-pod-sandbox: {node: node-1, pod: db}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KillPodSandboxEntry {
    pub node: String,
    pub pod: String,
    pub namespace: Option<String>,
}

/// `registry-outage: {for: 2m}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegistryOutageEntry {
    #[serde(rename = "for")]
    pub duration: Scalar,
    /// Only this registry host (`registry.example.com`; Docker Hub's is
    /// `registry-1.docker.io`); absent: every host.
    pub host: Option<String>,
}

/// `{service: web, namespace: default, cpu: 3000m}`: the total CPU demand of the
/// traffic clients send the Service, spread over its ready endpoints (`0` stops it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoadEntry {
    pub service: String,
    pub namespace: Option<String>,
    pub cpu: Scalar,
}

/// `kubectl drain` and the flags kubesim models.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DrainEntry {
    pub node: String,
    /// `--ignore-daemonsets`.
    pub ignore_daemon_sets: Option<bool>,
    /// `--delete-emptydir-data`.
    pub delete_empty_dir_data: Option<bool>,
    /// `--force`.
    pub force: Option<bool>,
    /// `--grace-period`, in seconds; absent uses each pod's own.
    pub grace_period_seconds: Option<u64>,
    /// `--timeout`, a duration such as `5m`; absent waits forever.
    pub timeout: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetImageEntry {
    /// The Deployment.
    pub name: String,
    pub namespace: Option<String>,
    pub container: String,
    pub image: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RolloutUndoEntry {
    /// The Deployment.
    pub name: String,
    pub namespace: Option<String>,
    /// The revision to go back to; absent: the one before the current.
    pub to_revision: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectRef {
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    /// `kubectl delete --cascade`: `background` (the default), `foreground` or `orphan`.
    pub cascade: Option<String>,
}

/// `kubectl get KIND [-n NAMESPACE | -A]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GetEntry {
    /// A kind kubesim supports (`Pod`, `Deployment`, ...).
    pub kind: String,
    /// `-n`; default `default` for a namespaced kind.
    pub namespace: Option<String>,
    /// `-A`: every namespace.
    pub all_namespaces: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScaleEntry {
    /// Deployment (the default) or ReplicaSet.
    pub kind: Option<String>,
    pub name: String,
    pub namespace: Option<String>,
    pub replicas: u32,
}

/// A network partition: one host cut off from all others, or the link between two hosts
/// (a node name, or `control-plane`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CutEntry {
    pub isolate: Option<String>,
    pub between: Option<Vec<String>>,
}

/// One expectation: a name, an optional time, and exactly one check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExpectationEntry {
    pub name: String,
    pub at: Option<Scalar>,
    pub runtime: Option<RuntimeCheck>,
    pub deployment: Option<DeploymentCheck>,
    pub pods: Option<PodsCheck>,
    pub nodes: Option<NodesCheck>,
    pub node: Option<NodeCheck>,
    pub endpoints: Option<EndpointsCheck>,
    pub job: Option<JobCheck>,
    pub stateful_set: Option<StatefulSetCheck>,
    pub daemon_set: Option<DaemonSetCheck>,
    pub pod_disruption_budget: Option<PodDisruptionBudgetCheck>,
    pub zone: Option<ZoneCheck>,
    pub hpa: Option<HpaCheck>,
    pub container: Option<ContainerCheck>,
    pub node_memory: Option<NodeMemoryCheck>,
    pub node_disk: Option<NodeDiskCheck>,
    pub etcd: Option<EtcdCheck>,
    pub requests: Option<RequestsCheck>,
    pub leader: Option<LeaderCheck>,
}

/// What the nodes' container runtimes run, as `crictl ps` and `crictl pods` list it on
/// each node that is up (added up), or on one `node`: `{containers: 7, sandboxes: 7}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuntimeCheck {
    pub node: Option<String>,
    /// Running containers.
    pub containers: Option<Scalar>,
    /// Ready pod sandboxes.
    pub sandboxes: Option<Scalar>,
}

/// Leader election of a replicated component: the host of the replica that leads now
/// (by its own view), or `none`, and the Lease's `leaseTransitions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LeaderCheck {
    /// `kube-scheduler` or `kube-controller-manager`.
    pub component: String,
    /// A control-plane host (`control-plane-2`), or `none`.
    pub holder: Option<String>,
    pub transitions: Option<Scalar>,
}

/// The API requests every kube-apiserver replica answered in a window, for one verb:
/// `{verb: list, from: 2m, to: 3m, count: ">= 20", errors: 0}` (the window ends at the
/// expectation's time when `to` is absent, and starts at 0 without `from`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RequestsCheck {
    pub verb: String,
    pub from: Option<Scalar>,
    pub to: Option<Scalar>,
    pub count: Option<Scalar>,
    pub errors: Option<Scalar>,
}

/// The etcd cluster: who leads in which term, the alarm, and a member's revision.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EtcdCheck {
    /// The leader among the members that are up (`etcd-2`), `any` (one, whichever), or
    /// `none`.
    pub leader: Option<String>,
    /// The leader's term (with `leader: none`, the highest term of a member that is up).
    pub term: Option<Scalar>,
    /// `NOSPACE`, or `none`.
    pub alarm: Option<String>,
    /// The member `revision` reads (default: the freshest member).
    pub member: Option<String>,
    /// That member's applied revision.
    pub revision: Option<Scalar>,
    /// How many revisions that member is behind the freshest member.
    pub behind: Option<Scalar>,
}

/// The memory a node's kernel has charged (every process of every pod, sandbox infra
/// included): `{node: kata-1, inUse: 652Mi}` or a comparison, `">= 600Mi"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeMemoryCheck {
    pub node: String,
    pub in_use: Scalar,
}

/// A node's disks as its kernel accounts for them: what is available on the nodefs
/// (`"< 1536Mi"`) and which images are (`images`) or are not (`noImages`) on the disk.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeDiskCheck {
    pub node: String,
    pub available: Option<Scalar>,
    #[serde(default)]
    pub images: Vec<String>,
    #[serde(default)]
    pub no_images: Vec<String>,
}

/// One container of one pod (a regular or an init container), as its status shows it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ContainerCheck {
    /// The pod's name; or, instead, `labels` that pick out one live pod (a
    /// Deployment's, whose name is generated).
    pub pod: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
    pub namespace: Option<String>,
    /// The container's name.
    pub name: String,
    /// `Waiting`, `Running` or `Terminated`.
    pub state: Option<String>,
    /// The waiting or terminated reason (`CrashLoopBackOff`, `OOMKilled`, `Completed`).
    pub reason: Option<String>,
    /// The terminated state's exit code.
    pub exit_code: Option<i32>,
    pub restart_count: Option<Scalar>,
    pub ready: Option<bool>,
    /// The running state's `startedAt`, from the start of the run, to the second.
    pub started_at: Option<Scalar>,
    /// The terminated state's `finishedAt`, from the start of the run, to the second.
    pub finished_at: Option<Scalar>,
    /// The pod's STATUS column as `kubectl get pods` prints it (`Init:1/2`).
    pub pod_status: Option<String>,
    /// `started`: it runs and its startup probe, if any, has succeeded.
    pub started: Option<bool>,
    /// `lastState.terminated`: how the previous instance ended.
    pub last_state: Option<LastStateCheck>,
}

/// What a container check asks of `lastState.terminated`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LastStateCheck {
    pub reason: Option<String>,
    pub exit_code: Option<i32>,
    /// From the start of the run, to the second.
    pub started_at: Option<Scalar>,
    pub finished_at: Option<Scalar>,
}

/// A HorizontalPodAutoscaler's status as the HPA controller last wrote it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HpaCheck {
    pub name: String,
    pub namespace: Option<String>,
    /// `status.currentReplicas`: the target's replicas at the last sync.
    pub current_replicas: Option<Scalar>,
    /// `status.desiredReplicas`: what the last sync decided.
    pub desired_replicas: Option<Scalar>,
    /// `status.currentMetrics[cpu].resource.current.averageUtilization`.
    #[serde(rename = "currentCPUUtilizationPercentage")]
    pub current_cpu_utilization_percentage: Option<Scalar>,
}

/// A PodDisruptionBudget's status as the disruption controller last wrote it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PodDisruptionBudgetCheck {
    pub name: String,
    pub namespace: Option<String>,
    pub current_healthy: Option<Scalar>,
    pub desired_healthy: Option<Scalar>,
    pub disruptions_allowed: Option<Scalar>,
    pub expected_pods: Option<Scalar>,
    /// Entries of `status.disruptedPods` (evicted pods not yet seen going).
    pub disrupted_pods: Option<Scalar>,
}

/// A StatefulSet's `spec.replicas` (`desired`) and status counts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StatefulSetCheck {
    pub name: String,
    pub namespace: Option<String>,
    pub desired: Option<Scalar>,
    /// `status.replicas`: pods that exist, terminating ones included.
    pub replicas: Option<Scalar>,
    pub ready: Option<Scalar>,
    pub current: Option<Scalar>,
    pub updated: Option<Scalar>,
    pub available: Option<Scalar>,
    /// Whether `status.currentRevision` equals `status.updateRevision` (the update is done).
    pub rolled_out: Option<bool>,
}

/// A DaemonSet's status counts, by node.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DaemonSetCheck {
    pub name: String,
    pub namespace: Option<String>,
    /// `status.desiredNumberScheduled`: nodes that should run the pod.
    pub desired: Option<Scalar>,
    /// `status.currentNumberScheduled`: nodes that should run it and have one.
    pub current: Option<Scalar>,
    /// `status.numberReady`.
    pub ready: Option<Scalar>,
    /// `status.numberAvailable`.
    pub available: Option<Scalar>,
    /// `status.updatedNumberScheduled`: nodes whose pod has the current template.
    pub updated: Option<Scalar>,
    /// `status.numberMisscheduled`: nodes that have one but should not.
    pub misscheduled: Option<Scalar>,
}

/// A Job's status counts and how it finished.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JobCheck {
    pub name: String,
    pub namespace: Option<String>,
    pub active: Option<Scalar>,
    pub ready: Option<Scalar>,
    pub succeeded: Option<Scalar>,
    pub failed: Option<Scalar>,
    pub terminating: Option<Scalar>,
    /// true: the Complete condition is True; false: it is not (yet).
    pub complete: Option<bool>,
    /// The reason of a True Failed condition (`BackoffLimitExceeded`, `DeadlineExceeded`);
    /// `""`: no True Failed condition (yet).
    pub failed_condition: Option<String>,
    /// `status.completionTime`, from the start of the run, to the second: `47s`.
    pub completion_time: Option<Scalar>,
}

/// Counts are a number (exact) or a comparison: `">= 3"`, `"< 2"`, `"!= 0"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeploymentCheck {
    pub name: String,
    pub namespace: Option<String>,
    pub desired: Option<Scalar>,
    pub updated: Option<Scalar>,
    pub ready: Option<Scalar>,
    pub available: Option<Scalar>,
    /// The `deployment.kubernetes.io/revision` annotation.
    pub revision: Option<Scalar>,
    /// How many ReplicaSets the Deployment controls.
    pub replica_sets: Option<Scalar>,
    /// The Progressing condition: `{status: "False", reason: ProgressDeadlineExceeded}`.
    pub progressing: Option<ConditionEntry>,
    /// The Available condition: `{status: "True", reason: MinimumReplicasAvailable}`.
    pub available_condition: Option<ConditionEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConditionEntry {
    /// `True`, `False` or `Unknown`.
    pub status: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PodsCheck {
    /// How many pods match.
    pub count: Option<Scalar>,
    /// On how many distinct nodes the matching pods are.
    pub nodes: Option<Scalar>,
    pub phase: Option<String>,
    pub node: Option<String>,
    pub namespace: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// true: only pods with a deletion timestamp; false: only pods without.
    pub terminating: Option<bool>,
    /// Only pods whose PodScheduled condition has this status: "True", "False", "Unknown".
    pub scheduled: Option<String>,
    /// Only pods whose PodScheduled condition has this reason (`Unschedulable`).
    pub scheduled_reason: Option<String>,
    /// Only pods whose PodScheduled condition has exactly this message.
    pub scheduled_message: Option<String>,
    /// Only pods with this `status.nominatedNodeName`.
    pub nominated_node: Option<String>,
    /// Only pods bound to a node that carries all these labels.
    #[serde(default)]
    pub node_labels: BTreeMap<String, String>,
    /// On how many distinct zones (`topology.kubernetes.io/zone` of their nodes) the
    /// matching pods are.
    pub zones: Option<Scalar>,
    /// Only the pod with this name.
    pub name: Option<String>,
    /// Only pods whose Ready condition has this status: "True", "False", "Unknown".
    pub ready: Option<String>,
    /// Only pods with a container running this image.
    pub image: Option<String>,
    /// Only pods whose `status.reason` is this (`Evicted`).
    pub reason: Option<String>,
    /// Only pods whose `status.message` begins with this.
    pub message_prefix: Option<String>,
    /// Only pods of this QoS class (`status.qosClass`): `Guaranteed`, `Burstable`,
    /// `BestEffort`.
    pub qos_class: Option<String>,
    /// Only pods whose Ready condition turned True at this second of the run (`34s`).
    pub ready_at: Option<Scalar>,
    /// Only pods with a container waiting for this reason (`ImagePullBackOff`).
    pub waiting_reason: Option<String>,
    /// Only Ready pods whose Ready condition turned True this long after the pod was
    /// created: `{min: 100ms, max: 300ms}` (min inclusive, max exclusive; either may be
    /// left out).
    pub startup_latency: Option<DurationRange>,
}

/// `{min: 1s, max: 2s}`: from `min` (inclusive) to `max` (exclusive).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DurationRange {
    pub min: Option<Scalar>,
    pub max: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodesCheck {
    pub ready: Option<Scalar>,
    pub not_ready: Option<Scalar>,
    pub unknown: Option<Scalar>,
}

/// A zone as the node lifecycle controller sees it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ZoneCheck {
    /// The `topology.kubernetes.io/zone` label's value.
    pub name: String,
    /// `Normal`, `PartialDisruption` or `FullDisruption`.
    pub state: Option<String>,
    /// How many of the zone's nodes carry the controller's NoExecute taint.
    pub tainted: Option<Scalar>,
    /// Those taints' `timeAdded`, in order, are this far apart (to the second).
    pub taint_interval: Option<Scalar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeCheck {
    pub name: String,
    /// The Ready condition: `True`, `False` or `Unknown`.
    pub ready: Option<String>,
    /// Taint keys the node must carry.
    #[serde(default)]
    pub taints: Vec<String>,
    /// Taint keys the node must not carry.
    #[serde(default)]
    pub untainted: Vec<String>,
    /// The MemoryPressure condition: `True`, `False` or `Unknown`.
    pub memory_pressure: Option<String>,
    /// The DiskPressure condition: `True`, `False` or `Unknown`.
    pub disk_pressure: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EndpointsCheck {
    pub service: String,
    pub namespace: Option<String>,
    /// The node whose kube-proxy is asked; every node that is up when absent.
    pub node: Option<String>,
    pub count: Scalar,
}
