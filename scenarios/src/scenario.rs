//! A checked scenario: the cluster to build, the manifests to apply, the timeline of
//! actions and faults, and the expectations. [`parse`] turns a scenario file into one,
//! or says exactly what is wrong and where.
//!
//! Rules a reader should know:
//! - `seed` is the default seed; `kubesim run --seed` overrides it (default 1).
//! - Workload groups that no timeline `apply` names are applied at 1s, in file order: the
//!   control plane creates its namespaces (`default`, `kube-node-lease`, ...) in its first
//!   milliseconds, and an apply at 0s would race it (and fail with 404, as it would).
//! - Times (`at`) are measured from the start of the run and must not pass `duration`.
//! - Nodes are named `<pool name>-<i>`, i from 1.

use std::collections::BTreeMap;
use std::path::PathBuf;

use components::api::quantity::{parse_bytes, parse_count, parse_cpu_millicores};
use components::api::{
    ConditionStatus, Kind, Labels, Object, PodPhase, PropagationPolicy, ResourceList, Taint, s,
};
use components::cluster::{
    ClusterConfig, HOST_CLIENT, HOST_CONTROL_PLANE, HOST_REGISTRY, NodePool, replica_name,
};
use components::etcd::EtcdctlCommand;
use components::filesystem::{
    DiskSignal, DiskThreshold, FilesystemSpec, Growth, NodeFilesystems, ThresholdValue,
};
use components::kernel::{CrashChance, ProcessBehaviour, ProcessExit};
use components::kubectl::{Action, DrainOptions};
use components::registry::ImageProfile;
use components::runtime::{CriRuntime, OciRuntime, RuntimeConfig, RuntimeHandler};
use sim_core::{Link, SimDuration, SimTime};

use crate::behaviour::{parse_probability_ppm, parse_rate};
use crate::duration::{format_duration, parse_duration};
use crate::error::ScenarioError;
use crate::expectation::{
    BytesCmp, Check, ConditionCheck, ContainerExpectation, Count, DaemonSetCounts, Expectation,
    LastStateExpectation, PodDisruptionBudgetCounts, PodFilter, PodRef, RolloutCheck,
    StatefulSetCounts,
};

/// The zone states a `zone` expectation may name (the node lifecycle controller's).
const ZONE_STATES: [&str; 3] = ["Normal", "PartialDisruption", "FullDisruption"];
use crate::format::{
    ApiServerOutageEntry, ClusterSection, ConditionEntry, CutEntry, ExpectationEntry,
    NodeOutageEntry, NodePoolEntry, Scalar, ScenarioFile, TimelineEntry,
};
use crate::manifest::{self, parse_taint_effect, supported_kind};
use crate::scheduler_config::{self, SchedulerConfiguration};
use crate::yaml::{Document, PosMap, join_index, join_key, parse_documents};

/// The seed of a scenario that names none.
pub const DEFAULT_SEED: u64 = 1;
/// The bound on processed events of a scenario that names none.
pub const DEFAULT_EVENTS_MAX: u64 = 20_000_000;
/// When workload groups that no timeline entry applies are applied: once the control
/// plane is up (it creates its system namespaces in its first milliseconds).
pub const DEFAULT_APPLY_AT: SimDuration = SimDuration::from_secs(1);
/// How long a crashed runtime stays down when the timeline does not say: containerd's
/// and CRI-O's systemd units restart them after `RestartSec=5`.
pub const CRASHED_RUNTIME_DOWN_FOR: SimDuration = SimDuration::from_secs(5);
/// kubelet `maxPods`, upstream default 110.
pub const DEFAULT_MAX_PODS: u64 = 110;
/// The most kube-apiserver replicas a scenario may ask for (a bound, not upstream's: real
/// HA control planes run 2 to 5).
pub const APISERVERS_MAX: u32 = 7;
/// The most kube-scheduler or kube-controller-manager replicas a scenario may ask for (a
/// bound, as for the API servers).
pub const CONTROL_PLANE_REPLICAS_MAX: u32 = 7;
/// The components that elect a leader, as a `leader` expectation names them.
pub const LEADER_COMPONENTS: [&str; 2] = ["kube-scheduler", "kube-controller-manager"];

/// The text a scenario was read from, and every file it included: enough to parse it
/// again anywhere (the event log carries it, so replay needs nothing else).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScenarioSource {
    /// The file name errors are reported against.
    pub file: String,
    pub text: String,
    /// Files named by `path:`, by the path as written, with their contents.
    pub files: BTreeMap<String, String>,
}

/// Where `path:` files are read from.
#[derive(Clone, Debug)]
pub enum Includes {
    /// From disk, relative to this directory (the scenario file's).
    Disk(PathBuf),
    /// From these contents (a replayed event log's header).
    Embedded(BTreeMap<String, String>),
    /// Nowhere: a built-in scenario is self-contained.
    Unavailable,
}

impl Includes {
    fn read(&self, path: &str) -> Result<String, String> {
        match self {
            Includes::Disk(base) => {
                std::fs::read_to_string(base.join(path)).map_err(|error| error.to_string())
            }
            Includes::Embedded(files) => files
                .get(path)
                .cloned()
                .ok_or_else(|| "not recorded in the event log".to_string()),
            Includes::Unavailable => Err("a built-in scenario cannot include files".to_string()),
        }
    }
}

/// A host a partition names: a worker node or the control plane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CutSpec {
    Isolate(String),
    Between(String, String),
}

impl CutSpec {
    fn describe(&self) -> String {
        match self {
            CutSpec::Isolate(host) => format!("{host} is cut off from every other host"),
            CutSpec::Between(a, b) => format!("{a} and {b} cannot reach each other"),
        }
    }
}

/// What happens to an etcd member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EtcdMemberFault {
    /// Its process dies; WAL and data stay on disk.
    Kill,
    /// It starts again (from what its disk holds).
    Restart,
    /// It dies and its disk is lost.
    Wipe,
}

/// One thing the timeline does.
#[derive(Clone, Debug)]
pub enum Step {
    /// A user action carried out by kubectl through the API server.
    Kubectl(Action),
    /// Something happens to one etcd member's process or machine.
    EtcdMember {
        member: String,
        index: usize,
        fault: EtcdMemberFault,
    },
    /// The operator runs etcdctl (or etcdutl) against the etcd cluster.
    Etcdctl(components::etcd::EtcdctlCommand),
    /// The node's host crashes: every actor on it stops and loses its memory.
    KillNode(String),
    /// The node's host boots again.
    RestartNode(String),
    Partition(CutSpec),
    /// Removes one partition, or all of them.
    Heal(Option<CutSpec>),
    /// Clients now send the Service this total CPU demand (the load generator).
    Load {
        namespace: String,
        service: String,
        cpu_millicores: u64,
    },
    /// A node of a pool with `joinAt` joins: its machine powers on for the first time.
    /// `Cluster::build` schedules the power-on from the pool's `join_at`; the step is in
    /// the timeline so the narration tells it.
    NodeJoins {
        node: String,
        pool: String,
    },
    /// The image registry answers every pull (from one host, or from all) with 503 for
    /// this long.
    RegistryOutage {
        duration: SimDuration,
        host: Option<String>,
    },
    /// The node's kubelet process dies and starts again `down_for` later; the node, its
    /// runtime and its containers keep running.
    RestartKubelet {
        node: String,
        down_for: SimDuration,
    },
    /// The node's container runtime daemon dies and starts again `down_for` later; the
    /// containers keep running under their shims.
    CrashRuntime {
        node: String,
        down_for: SimDuration,
    },
    /// The infra process (pause container) of a pod's sandbox on `node` is killed.
    KillPodSandbox {
        node: String,
        namespace: String,
        pod: String,
    },
    /// A kube-scheduler or kube-controller-manager replica's process dies (`kill`) or
    /// starts again; its host stays up.
    Component {
        name: String,
        kill: bool,
    },
    /// kube-apiserver replica `index` (on control-plane host `host`) gets `SIGTERM`: it
    /// closes its watch streams and exits; it starts again `down_for` later.
    RestartApiserver {
        host: String,
        index: usize,
        down_for: SimDuration,
    },
}

impl Step {
    /// One line for the narration: `kubectl apply: deployment/default/nginx, ...`.
    pub fn describe(&self) -> String {
        match self {
            Step::Kubectl(Action::Apply(objects)) => {
                let names: Vec<String> = objects.iter().map(|o| o.key().to_string()).collect();
                format!("kubectl apply: {}", names.join(", "))
            }
            Step::Kubectl(Action::Delete {
                kind,
                namespace,
                name,
                cascade,
            }) => format!(
                "kubectl delete {} {name} -n {namespace} --cascade={}",
                kind.name().to_ascii_lowercase(),
                cascade.name().to_ascii_lowercase()
            ),
            Step::Kubectl(Action::Scale {
                kind,
                namespace,
                name,
                replicas,
            }) => format!(
                "kubectl scale {} {name} -n {namespace} --replicas={replicas}",
                kind.name().to_ascii_lowercase()
            ),
            Step::Kubectl(Action::SetImage {
                namespace,
                name,
                container,
                image,
            }) => format!("kubectl set image deployment/{name} {container}={image} -n {namespace}"),
            Step::Kubectl(Action::RolloutUndo {
                namespace,
                name,
                to_revision,
            }) => match to_revision {
                0 => format!("kubectl rollout undo deployment/{name} -n {namespace}"),
                n => format!(
                    "kubectl rollout undo deployment/{name} --to-revision={n} -n {namespace}"
                ),
            },
            Step::Kubectl(Action::RolloutPause { namespace, name }) => {
                format!("kubectl rollout pause deployment/{name} -n {namespace}")
            }
            Step::Kubectl(Action::RolloutResume { namespace, name }) => {
                format!("kubectl rollout resume deployment/{name} -n {namespace}")
            }
            Step::Kubectl(Action::Get { kind, namespace }) => match namespace {
                Some(namespace) => format!("kubectl get {} -n {namespace}", kind.resource()),
                None => format!("kubectl get {} -A", kind.resource()),
            },
            Step::Kubectl(Action::Cordon { node }) => format!("kubectl cordon {node}"),
            Step::Kubectl(Action::Uncordon { node }) => format!("kubectl uncordon {node}"),
            Step::Kubectl(Action::Drain(options)) => {
                let mut line = format!("kubectl drain {}", options.node);
                if options.ignore_daemonsets {
                    line.push_str(" --ignore-daemonsets");
                }
                if options.delete_emptydir_data {
                    line.push_str(" --delete-emptydir-data");
                }
                if options.force {
                    line.push_str(" --force");
                }
                if let Some(grace) = options.grace_period_seconds {
                    line.push_str(&format!(" --grace-period={grace}"));
                }
                if let Some(timeout) = options.timeout {
                    line.push_str(&format!(" --timeout={}", format_duration(timeout)));
                }
                line
            }
            Step::KillNode(node) => format!("node {node} dies: its host crashes"),
            Step::Component { name, kill: true } => {
                format!("{name} dies: its process stops (its host stays up)")
            }
            Step::Component { name, kill: false } => format!("{name} starts again"),
            Step::RestartNode(node) => format!("node {node} boots again"),
            Step::EtcdMember { member, fault, .. } => match fault {
                EtcdMemberFault::Kill => format!("etcd member {member} dies: its process stops"),
                EtcdMemberFault::Restart => format!("etcd member {member} starts again"),
                EtcdMemberFault::Wipe => format!(
                    "etcd member {member} dies and its disk is lost: it will come back empty"
                ),
            },
            Step::Etcdctl(command) => command.describe(),
            Step::RegistryOutage { duration, host } => format!(
                "registry outage: every image pull{} fails with 503 Service Unavailable for {}",
                host.as_ref()
                    .map(|host| format!(" from {host}"))
                    .unwrap_or_default(),
                format_duration(*duration)
            ),
            Step::RestartKubelet { node, down_for } if *down_for == SimDuration::ZERO => {
                format!("the kubelet on node {node} restarts (systemctl restart kubelet)")
            }
            Step::RestartKubelet { node, down_for } => format!(
                "the kubelet on node {node} stops; it starts again {} later",
                format_duration(*down_for)
            ),
            Step::RestartApiserver { host, down_for, .. } if *down_for == SimDuration::ZERO => {
                format!(
                    "kube-apiserver on {host} restarts: it closes its watch streams and starts again"
                )
            }
            Step::RestartApiserver { host, down_for, .. } => format!(
                "kube-apiserver on {host} stops: it closes its watch streams; it starts again {} later",
                format_duration(*down_for)
            ),
            Step::CrashRuntime { node, down_for } => format!(
                "the container runtime on node {node} crashes; it starts again {} later",
                format_duration(*down_for)
            ),
            Step::KillPodSandbox {
                node,
                namespace,
                pod,
            } => format!(
                "the pause process of pod {namespace}/{pod}'s sandbox on node {node} is killed (SIGKILL)"
            ),
            Step::NodeJoins { node, pool } => format!(
                "node {node} joins the cluster: a new machine of pool {pool} powers on and its kubelet starts"
            ),
            Step::Partition(cut) => format!("network partition: {}", cut.describe()),
            Step::Heal(None) => "network healed: every partition removed".to_string(),
            Step::Heal(Some(cut)) => format!("network healed: no longer {}", cut.describe()),
            Step::Load {
                namespace,
                service,
                cpu_millicores,
            } => format!(
                "load: clients now send service {namespace}/{service} {cpu_millicores}m of CPU demand in total"
            ),
        }
    }
}

#[derive(Clone, Debug)]
pub struct TimedStep {
    pub at: SimTime,
    pub step: Step,
}

/// A named group of manifests.
#[derive(Clone, Debug)]
pub struct WorkloadGroup {
    pub name: String,
    pub objects: Vec<Object>,
}

/// A checked scenario, ready to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// The scenario's default seed.
    pub seed: u64,
    pub duration: SimDuration,
    pub events_max: u64,
    pub cluster: ClusterConfig,
    /// Every worker node's name, in the order the cluster builds them.
    pub node_names: Vec<String>,
    pub workloads: Vec<WorkloadGroup>,
    pub timeline: Vec<TimedStep>,
    pub expectations: Vec<Expectation>,
    /// Manifest fields that kubesim does not model (they have no effect).
    pub notes: Vec<String>,
    pub source: ScenarioSource,
}

/// Parses and checks a scenario. `file` is the name errors report; `includes` resolves
/// `path:` entries.
pub fn parse(file: &str, text: &str, includes: &Includes) -> Result<Scenario, ScenarioError> {
    let mut documents = parse_documents(text, file, "", false, PosMap::Identity)?;
    let doc = match documents.len() {
        1 => documents.remove(0),
        0 => {
            return Err(ScenarioError::invalid(
                Document::detached(serde_json::Value::Null, file).at(""),
                "the scenario file is empty",
            ));
        }
        count => {
            return Err(ScenarioError::invalid(
                documents[1].at(""),
                format!("a scenario file holds one YAML document, found {count}"),
            ));
        }
    };
    let raw: ScenarioFile = doc.decode(true)?;
    Parser {
        doc: &doc,
        text,
        includes,
        files: BTreeMap::new(),
        notes: Vec::new(),
        node_names: Vec::new(),
        joins: BTreeMap::new(),
        control_plane_hosts: vec![HOST_CONTROL_PLANE.to_string()],
        apiserver_count: 1,
        etcd_members: vec!["etcd".to_string()],
        component_names: Vec::new(),
    }
    .scenario(raw)
}

struct Parser<'a> {
    doc: &'a Document,
    text: &'a str,
    includes: &'a Includes,
    files: BTreeMap<String, String>,
    notes: Vec<String>,
    node_names: Vec<String>,
    /// Nodes of pools with `joinAt`, and when they join.
    joins: BTreeMap<String, SimTime>,
    /// The control-plane hosts, and how many of them (the first) run a kube-apiserver.
    control_plane_hosts: Vec<String>,
    apiserver_count: usize,
    /// The etcd members' names (`etcd`, or `etcd-1..N`: also their hosts).
    etcd_members: Vec<String>,
    /// The replicas of kube-scheduler and kube-controller-manager, by actor name.
    component_names: Vec<String>,
}

impl Parser<'_> {
    fn error(&self, path: &str, message: impl Into<String>) -> ScenarioError {
        ScenarioError::invalid(self.doc.at(path), message)
    }

    /// A component's `leaderElection` over upstream's defaults, checked as client-go's
    /// `NewLeaderElector` checks it.
    fn leader_election(
        &self,
        section: &crate::format::LeaderElectionSection,
        path: &str,
        config: &mut components::client::leader_election::LeaderElectionConfig,
    ) -> Result<(), ScenarioError> {
        if let Some(on) = section.leader_elect {
            config.leader_elect = on;
        }
        for (field, value, setting) in [
            (
                "leaseDuration",
                &section.lease_duration,
                &mut config.lease_duration,
            ),
            (
                "renewDeadline",
                &section.renew_deadline,
                &mut config.renew_deadline,
            ),
            (
                "retryPeriod",
                &section.retry_period,
                &mut config.retry_period,
            ),
        ] {
            if let Some(value) = value {
                *setting = self.positive(value, &join_key(path, field))?;
            }
        }
        config.validate().map_err(|why| self.error(path, why))
    }

    fn duration(&self, value: &Scalar, path: &str) -> Result<SimDuration, ScenarioError> {
        parse_duration(&value.0).map_err(|why| self.error(path, why))
    }

    fn time(&self, value: &Scalar, path: &str, end: SimDuration) -> Result<SimTime, ScenarioError> {
        let offset = self.duration(value, path)?;
        if offset > end {
            return Err(self.error(
                path,
                format!(
                    "{} is after the end of the run (duration {})",
                    format_duration(offset),
                    format_duration(end)
                ),
            ));
        }
        Ok(SimTime::ZERO + offset)
    }

    fn count(&self, value: &Option<Scalar>, path: &str) -> Result<Option<Count>, ScenarioError> {
        value
            .as_ref()
            .map(|v| Count::parse(&v.0).map_err(|why| self.error(path, why)))
            .transpose()
    }

    /// The count under `key` of the expectation at `parent`.
    fn count_at(
        &self,
        value: &Option<Scalar>,
        parent: &str,
        key: &str,
    ) -> Result<Option<Count>, ScenarioError> {
        self.count(value, &join_key(parent, key))
    }

    /// A growth rate field (`10Mi/s`: its value, key and name in errors) and the field
    /// bounding it (value and key): an image's `memoryGrowth` and `memoryMax`, or its
    /// `diskGrowth` and `diskMax`. A bound without a rate is an error.
    fn bounded_rate(
        &self,
        (rate, rate_key, what): (&Option<Scalar>, &str, &str),
        (max, max_key): (&Option<Scalar>, &str),
        path: &str,
    ) -> Result<Option<Growth>, ScenarioError> {
        let max_bytes = match max {
            Some(max) => Some(self.quantity(max, &join_key(path, max_key), parse_bytes)?),
            None => None,
        };
        let Some(rate) = rate else {
            if max_bytes.is_some() {
                return Err(self.error(
                    &join_key(path, max_key),
                    format!("{max_key} bounds a {rate_key}, and there is none"),
                ));
            }
            return Ok(None);
        };
        let (bytes, per) =
            parse_rate(&rate.0, what).map_err(|why| self.error(&join_key(path, rate_key), why))?;
        Ok(Some(Growth {
            bytes,
            per,
            max_bytes,
        }))
    }

    /// An `evictionHard` or `evictionMinimumReclaim` key: `memory.available` (`None`, with
    /// its bytes) or a filesystem signal (its value is read by `disk_threshold_value`).
    fn eviction_value(
        &self,
        signal: &str,
        value: &Scalar,
        at: &str,
    ) -> Result<(Option<DiskSignal>, u64), ScenarioError> {
        if signal == "memory.available" {
            return Ok((None, self.quantity(value, at, parse_bytes)?));
        }
        match DiskSignal::parse(signal) {
            Some(disk_signal) => Ok((Some(disk_signal), 0)),
            None => Err(self.error(
                at,
                format!(
                    "kubesim models memory.available, nodefs.available, nodefs.inodesFree, imagefs.available and imagefs.inodesFree, not {signal}"
                ),
            )),
        }
    }

    /// A filesystem signal's value: a percentage (`10%`), bytes, or an inode count.
    fn disk_threshold_value(
        &self,
        signal: DiskSignal,
        value: &Scalar,
        at: &str,
    ) -> Result<ThresholdValue, ScenarioError> {
        if value.0.trim().ends_with('%') {
            ThresholdValue::percentage(&value.0)
                .ok_or_else(|| self.error(at, format!("invalid percentage {:?}", value.0)))
        } else {
            let parse = if signal.counts_inodes() {
                parse_count
            } else {
                parse_bytes
            };
            Ok(ThresholdValue::Quantity(self.quantity(value, at, parse)?))
        }
    }

    /// A node pool's `nodefs` and `imagefs` over its `ephemeral-storage`.
    fn node_filesystems(
        &self,
        raw: &NodePoolEntry,
        ephemeral_storage_bytes: Option<u64>,
        path: &str,
    ) -> Result<Option<NodeFilesystems>, ScenarioError> {
        if raw.nodefs.is_none() && raw.imagefs.is_none() {
            return Ok(None);
        }
        let Some(nodefs_bytes) = ephemeral_storage_bytes.filter(|&b| b > 0) else {
            let key = if raw.nodefs.is_some() {
                "nodefs"
            } else {
                "imagefs"
            };
            return Err(self.error(
                &join_key(path, key),
                "the node's filesystems need its ephemeral-storage (the nodefs's size)",
            ));
        };
        let spec = |entry: &crate::format::FilesystemEntry,
                    capacity_bytes: u64,
                    at: &str|
         -> Result<FilesystemSpec, ScenarioError> {
            let mut spec = FilesystemSpec::new(capacity_bytes);
            if let Some(v) = &entry.inodes {
                spec.inodes = self.quantity(v, &join_key(at, "inodes"), parse_count)?;
            }
            if let Some(v) = &entry.used {
                spec.used_bytes = self.quantity(v, &join_key(at, "used"), parse_bytes)?;
            }
            if let Some(v) = &entry.used_inodes {
                spec.used_inodes = self.quantity(v, &join_key(at, "usedInodes"), parse_count)?;
            }
            if spec.used_bytes > spec.capacity_bytes {
                return Err(self.error(&join_key(at, "used"), "more than the filesystem holds"));
            }
            if spec.used_inodes > spec.inodes {
                return Err(self.error(
                    &join_key(at, "usedInodes"),
                    "more than the filesystem's inodes",
                ));
            }
            Ok(spec)
        };
        let nodefs = match &raw.nodefs {
            Some(entry) => {
                let at = join_key(path, "nodefs");
                if entry.capacity.is_some() {
                    return Err(self.error(
                        &join_key(&at, "capacity"),
                        "the nodefs's size is the node's ephemeral-storage",
                    ));
                }
                spec(entry, nodefs_bytes, &at)?
            }
            None => FilesystemSpec::new(nodefs_bytes),
        };
        let imagefs = match &raw.imagefs {
            Some(entry) => {
                let at = join_key(path, "imagefs");
                let Some(capacity) = &entry.capacity else {
                    return Err(self.error(&at, "a dedicated imagefs needs its capacity"));
                };
                let bytes = self.quantity(capacity, &join_key(&at, "capacity"), parse_bytes)?;
                Some(spec(entry, bytes, &at)?)
            }
            None => None,
        };
        Ok(Some(NodeFilesystems { nodefs, imagefs }))
    }

    fn quantity(
        &self,
        value: &Scalar,
        path: &str,
        parse: fn(&str) -> Result<u64, components::api::quantity::QuantityError>,
    ) -> Result<u64, ScenarioError> {
        parse(&value.0).map_err(|error| self.error(path, error.to_string()))
    }

    /// A snapshot's name: a file name without a path.
    fn snapshot_name(&self, name: &str, path: &str) -> Result<String, ScenarioError> {
        if name.trim().is_empty() || name.contains('/') {
            return Err(self.error(
                path,
                format!(
                    "a snapshot is named by a plain name such as `before-upgrade`, not {name:?}"
                ),
            ));
        }
        Ok(name.to_string())
    }

    /// An action whose one value is fixed (`etcd-defrag: all`).
    fn fixed_value(&self, value: &str, expected: &str, path: &str) -> Result<(), ScenarioError> {
        if value == expected {
            Ok(())
        } else {
            Err(self.error(
                path,
                format!("the only value is `{expected}`, not {value:?}"),
            ))
        }
    }

    fn node(&self, name: &str, path: &str) -> Result<String, ScenarioError> {
        if self.node_names.iter().any(|n| n == name) {
            Ok(name.to_string())
        } else {
            Err(self.error(
                path,
                format!(
                    "unknown node {name:?} (the nodes are {})",
                    self.node_names.join(", ")
                ),
            ))
        }
    }

    /// A node the timeline crashes or restarts at `at`: it must have joined by then (a
    /// machine that never ran has nothing to crash, and only its joining boots it).
    fn joined_node(
        &self,
        name: &str,
        path: &str,
        at: SimTime,
        verb: &str,
    ) -> Result<String, ScenarioError> {
        let node = self.node(name, path)?;
        match self.joins.get(&node) {
            Some(&join_at) if at <= join_at => Err(self.error(
                path,
                format!(
                    "node {node} joins at {} (its pool's joinAt): it cannot {verb} at {}, before it has joined",
                    format_duration(join_at - SimTime::ZERO),
                    format_duration(at - SimTime::ZERO)
                ),
            )),
            _ => Ok(node),
        }
    }

    fn scenario(mut self, raw: ScenarioFile) -> Result<Scenario, ScenarioError> {
        if raw.name.trim().is_empty() {
            return Err(self.error("name", "a scenario needs a name"));
        }
        let duration = self.duration(&raw.duration, "duration")?;
        if duration == SimDuration::ZERO {
            return Err(self.error("duration", "the run must last longer than 0s"));
        }
        let events_max = raw.events_max.unwrap_or(DEFAULT_EVENTS_MAX);
        if events_max == 0 {
            return Err(self.error("eventsMax", "must be at least 1"));
        }
        let mut cluster = self.cluster(&raw.cluster, duration)?;
        let workloads = self.workloads(raw.workloads.as_ref())?;
        let mut timeline = Vec::new();
        let mut applied = vec![false; workloads.len()];
        for (index, entry) in raw.timeline.iter().enumerate() {
            let path = join_index("timeline", index);
            timeline.push(self.timeline_entry(entry, &path, duration, &workloads, &mut applied)?);
        }
        // metrics-server is deployed when something reads resource metrics (an
        // autoscaler), and the load generator when the timeline sends load.
        let has_hpa = workloads
            .iter()
            .flat_map(|group| &group.objects)
            .chain(timeline.iter().flat_map(|timed| match &timed.step {
                Step::Kubectl(Action::Apply(objects)) => objects.as_slice(),
                _ => &[],
            }))
            .any(|object| object.kind() == Kind::HorizontalPodAutoscaler);
        if has_hpa {
            cluster.metrics_server = Some(components::metrics::MetricsServerConfig::default());
        }
        cluster.load_generator = timeline
            .iter()
            .any(|timed| matches!(timed.step, Step::Load { .. }));
        cluster.etcd.etcdctl = timeline
            .iter()
            .any(|timed| matches!(timed.step, Step::Etcdctl(_)));
        // Groups nobody applies are applied once the control plane is up, in file order.
        let default_apply_at = SimTime::ZERO + DEFAULT_APPLY_AT.min(duration);
        let unapplied: Vec<TimedStep> = workloads
            .iter()
            .zip(&applied)
            .filter(|(group, applied)| !**applied && !group.objects.is_empty())
            .map(|(group, _)| TimedStep {
                at: default_apply_at,
                step: Step::Kubectl(Action::Apply(group.objects.clone())),
            })
            .collect();
        timeline.splice(0..0, unapplied);
        for pool in &cluster.node_pools {
            if let Some(join_at) = pool.join_at {
                timeline.extend((0..pool.count).map(|i| TimedStep {
                    at: SimTime::ZERO + join_at,
                    step: Step::NodeJoins {
                        node: pool.node_name(i),
                        pool: pool.name.clone(),
                    },
                }));
            }
        }
        let mut expectations = Vec::new();
        for (index, entry) in raw.expectations.iter().enumerate() {
            let path = join_index("expectations", index);
            if raw.expectations[..index]
                .iter()
                .any(|e| e.name == entry.name)
            {
                return Err(self.error(
                    &join_key(&path, "name"),
                    format!("two expectations are named {:?}", entry.name),
                ));
            }
            expectations.push(self.expectation(entry, &path, duration)?);
        }
        Ok(Scenario {
            name: raw.name,
            description: raw.description.trim().to_string(),
            seed: raw.seed.unwrap_or(DEFAULT_SEED),
            duration,
            events_max,
            cluster,
            node_names: self.node_names.clone(),
            workloads,
            timeline,
            expectations,
            notes: self.notes,
            source: ScenarioSource {
                file: self.doc.file.to_string(),
                text: self.text.to_string(),
                files: self.files,
            },
        })
    }

    // -----------------------------------------------------------------------------------
    // Cluster

    fn cluster(
        &mut self,
        raw: &ClusterSection,
        end: SimDuration,
    ) -> Result<ClusterConfig, ScenarioError> {
        let mut config = ClusterConfig::default();
        if raw.node_pools.is_empty() {
            return Err(self.error("cluster.nodePools", "at least one node pool is needed"));
        }
        for (index, pool) in raw.node_pools.iter().enumerate() {
            let path = join_index("cluster.nodePools", index);
            let pool = self.node_pool(pool, &path, end)?;
            for i in 0..pool.count {
                let name = pool.node_name(i);
                if self.node_names.contains(&name) {
                    return Err(self.error(
                        &join_key(&path, "name"),
                        format!("node {name} is already in another pool"),
                    ));
                }
                if [HOST_CONTROL_PLANE, HOST_REGISTRY, HOST_CLIENT].contains(&name.as_str()) {
                    return Err(self.error(
                        &join_key(&path, "name"),
                        format!("{name} is the name of a built-in host"),
                    ));
                }
                if let Some(join_at) = pool.join_at {
                    self.joins.insert(name.clone(), SimTime::ZERO + join_at);
                }
                self.node_names.push(name);
            }
            config.node_pools.push(pool);
        }
        for (index, image) in raw.images.iter().enumerate() {
            let path = join_index("cluster.images", index);
            if image.name.trim().is_empty() {
                return Err(self.error(&join_key(&path, "name"), "an image needs a name"));
            }
            if raw.images[..index]
                .iter()
                .any(|other| other.name == image.name)
            {
                return Err(self.error(
                    &join_key(&path, "name"),
                    format!("image {} is described twice", image.name),
                ));
            }
            let mut behaviour = ProcessBehaviour::default();
            if let Some(startup) = &image.startup {
                behaviour.startup = self.duration(startup, &join_key(&path, "startup"))?;
            }
            if let Some(memory) = &image.memory {
                behaviour.memory_bytes =
                    self.quantity(memory, &join_key(&path, "memory"), parse_bytes)?;
            }
            if let Some(cpu) = &image.cpu {
                behaviour.cpu_millicores =
                    self.quantity(cpu, &join_key(&path, "cpu"), parse_cpu_millicores)?;
            }
            behaviour.memory_growth = self.bounded_rate(
                (&image.memory_growth, "memoryGrowth", "memory growth"),
                (&image.memory_max, "memoryMax"),
                &path,
            )?;
            behaviour.disk_growth = self.bounded_rate(
                (&image.disk_growth, "diskGrowth", "disk growth"),
                (&image.disk_max, "diskMax"),
                &path,
            )?;
            if let Some(crash) = &image.crash {
                let crash_path = join_key(&path, "crash");
                behaviour.crash = Some(CrashChance {
                    parts_per_million: parse_probability_ppm(&crash.probability.0)
                        .map_err(|why| self.error(&join_key(&crash_path, "probability"), why))?,
                    after: self.duration(&crash.after, &join_key(&crash_path, "after"))?,
                    exit_code: crash.code.unwrap_or(1),
                });
            }
            if let Some(shutdown) = &image.shutdown {
                behaviour.sigterm_exit_after =
                    Some(self.duration(shutdown, &join_key(&path, "shutdown"))?);
            }
            if let Some(hook) = &image.post_start {
                behaviour.post_start_hook = self.duration(hook, &join_key(&path, "postStart"))?;
            }
            if let Some(code) = image.post_start_exit_code {
                behaviour.post_start_hook_exit_code = code;
            }
            if let Some(hook) = &image.pre_stop {
                behaviour.pre_stop_hook = self.duration(hook, &join_key(&path, "preStop"))?;
            }
            if let Some(after) = &image.unhealthy_after {
                behaviour.unhealthy_after =
                    Some(self.duration(after, &join_key(&path, "unhealthyAfter"))?);
            }
            if let Some(exit) = &image.exit {
                behaviour.exit = Some(ProcessExit {
                    after: self.duration(&exit.after, &join_key(&path, "exit.after"))?,
                    exit_code: exit.code,
                });
            }
            let size_bytes = match &image.size {
                Some(size) => self.quantity(size, &join_key(&path, "size"), parse_bytes)?,
                None => config.registry.default_image_size_bytes,
            };
            config.registry.images.push(ImageProfile {
                name: image.name.clone(),
                size_bytes,
                behaviour,
            });
        }
        for (index, entry) in raw.registries.iter().enumerate() {
            let path = format!("cluster.registries[{index}]");
            let host = components::registry::canonical_host(entry.host.trim());
            if host.is_empty() || host.contains('/') {
                return Err(self.error(
                    &join_key(&path, "host"),
                    format!("{:?} is not a registry host (e.g. quay.io)", entry.host),
                ));
            }
            if config
                .registry
                .hosts
                .iter()
                .any(|h| components::registry::canonical_host(&h.host) == host)
            {
                return Err(self.error(
                    &join_key(&path, "host"),
                    format!("registry host {host} is described twice"),
                ));
            }
            let bandwidth_bytes_per_sec = match &entry.bandwidth {
                Some(bandwidth) => {
                    let text = bandwidth.0.trim();
                    let text = text.strip_suffix("/s").unwrap_or(text);
                    let bytes = parse_bytes(text).map_err(|error| {
                        self.error(&join_key(&path, "bandwidth"), error.to_string())
                    })?;
                    if bytes == 0 {
                        return Err(self.error(
                            &join_key(&path, "bandwidth"),
                            "a registry host's bandwidth must be positive",
                        ));
                    }
                    bytes
                }
                None => config.registry.bandwidth_bytes_per_sec,
            };
            let pull_setup_latency = match &entry.latency {
                Some(latency) => self.duration(latency, &join_key(&path, "latency"))?,
                None => config.registry.pull_setup_latency,
            };
            config
                .registry
                .hosts
                .push(components::registry::RegistryHost {
                    host: host.to_string(),
                    bandwidth_bytes_per_sec,
                    pull_setup_latency,
                });
        }
        if let Some(network) = &raw.network {
            let mut link = Link::DATACENTER;
            if let Some(latency) = &network.latency {
                link.latency = self.duration(latency, "cluster.network.latency")?;
            }
            if let Some(jitter) = &network.jitter {
                link.jitter = self.duration(jitter, "cluster.network.jitter")?;
            }
            config.network = Some(link);
        }
        if let Some(control_plane) = &raw.control_plane
            && let Some(count) = control_plane.apiservers
        {
            if !(1..=APISERVERS_MAX).contains(&count) {
                return Err(self.error(
                    "cluster.controlPlane.apiservers",
                    format!("must be between 1 and {APISERVERS_MAX}"),
                ));
            }
            config.control_plane.apiservers = count;
        }
        if let Some(control_plane) = &raw.control_plane {
            for (field, count, replicas) in [
                (
                    "schedulers",
                    control_plane.schedulers,
                    &mut config.control_plane.schedulers,
                ),
                (
                    "controllerManagers",
                    control_plane.controller_managers,
                    &mut config.control_plane.controller_managers,
                ),
            ] {
                if let Some(count) = count {
                    if !(1..=CONTROL_PLANE_REPLICAS_MAX).contains(&count) {
                        return Err(self.error(
                            &format!("cluster.controlPlane.{field}"),
                            format!("must be between 1 and {CONTROL_PLANE_REPLICAS_MAX}"),
                        ));
                    }
                    *replicas = count;
                }
            }
            if let Some(members) = control_plane.etcd_members {
                if ![1, 3, 5].contains(&members) {
                    return Err(self.error(
                        "cluster.controlPlane.etcdMembers",
                        format!("etcd runs 1, 3 or 5 members, not {members}"),
                    ));
                }
                config.etcd.members = members as usize;
            }
            if let Some(quota) = &control_plane.quota_backend_bytes {
                let bytes =
                    self.quantity(quota, "cluster.controlPlane.quotaBackendBytes", parse_bytes)?;
                if bytes == 0 {
                    return Err(self.error(
                        "cluster.controlPlane.quotaBackendBytes",
                        "the quota must be larger than 0",
                    ));
                }
                config.etcd.quota_backend_bytes = bytes;
            }
        }
        self.etcd_members = (0..config.etcd.members)
            .map(|index| config.etcd.member_name(index))
            .collect();
        self.control_plane_hosts = (0..config.control_plane.host_count())
            .map(|index| config.control_plane.host_name(index))
            .collect();
        self.apiserver_count = config.control_plane.apiservers as usize;
        let planes = &config.control_plane;
        self.component_names =
            (0..planes.schedulers)
                .map(|i| replica_name("kube-scheduler", i, planes.schedulers))
                .chain((0..planes.controller_managers).map(|i| {
                    replica_name("kube-controller-manager", i, planes.controller_managers)
                }))
                .collect();
        if let Some(apiserver) = &raw.kube_apiserver {
            if let Some(seconds) = apiserver.default_not_ready_toleration_seconds {
                config.apiserver.default_not_ready_toleration_seconds = seconds;
            }
            if let Some(seconds) = apiserver.default_unreachable_toleration_seconds {
                config.apiserver.default_unreachable_toleration_seconds = seconds;
            }
        }
        if let Some(kcm) = &raw.kube_controller_manager {
            let base = "cluster.kubeControllerManager";
            if let Some(v) = &kcm.node_monitor_period {
                config.controller_manager.node_monitor_period =
                    self.positive(v, &join_key(base, "nodeMonitorPeriod"))?;
            }
            if let Some(v) = &kcm.node_monitor_grace_period {
                config.controller_manager.node_monitor_grace_period =
                    self.positive(v, &join_key(base, "nodeMonitorGracePeriod"))?;
            }
            if let Some(v) = &kcm.node_startup_grace_period {
                config.controller_manager.node_startup_grace_period =
                    self.positive(v, &join_key(base, "nodeStartupGracePeriod"))?;
            }
            if let Some(section) = &kcm.leader_election {
                self.leader_election(
                    section,
                    &join_key(base, "leaderElection"),
                    &mut config.controller_manager.leader_election,
                )?;
            }
        }
        if let Some(scheduler) = &raw.kube_scheduler {
            if let Some(value) = &scheduler.config {
                let configuration = self.scheduler_configuration(value)?;
                configuration.apply_to(&mut config.scheduler);
                self.notes.extend(configuration.notes.iter().cloned());
            }
            if let Some(seconds) = scheduler.pod_initial_backoff_seconds {
                config.scheduler.pod_initial_backoff = SimDuration::from_secs(seconds);
            }
            if let Some(section) = &scheduler.leader_election {
                self.leader_election(
                    section,
                    "cluster.kubeScheduler.leaderElection",
                    &mut config.scheduler.leader_election,
                )?;
            }
            if let Some(seconds) = scheduler.pod_max_backoff_seconds {
                config.scheduler.pod_max_backoff = SimDuration::from_secs(seconds);
            }
            if config.scheduler.pod_max_backoff < config.scheduler.pod_initial_backoff {
                return Err(self.error(
                    "cluster.kubeScheduler.podMaxBackoffSeconds",
                    "must be greater than or equal to podInitialBackoffSeconds",
                ));
            }
        }
        if let Some(kubelet) = &raw.kubelet {
            let base = "cluster.kubelet";
            if kubelet.eviction_hard.is_some() {
                // Upstream: a given evictionHard replaces the defaults; a signal left out
                // has no threshold (memory.available then none either: 0 is never met).
                config.kubelet.eviction.memory_available_hard_bytes = 0;
                config.kubelet.eviction.disk_hard.clear();
            }
            for (signal, value) in kubelet.eviction_hard.iter().flatten() {
                let at = join_key(&join_key(base, "evictionHard"), signal);
                match self.eviction_value(signal, value, &at)? {
                    (None, bytes) => config.kubelet.eviction.memory_available_hard_bytes = bytes,
                    (Some(signal), _) => {
                        let value = self.disk_threshold_value(signal, value, &at)?;
                        config
                            .kubelet
                            .eviction
                            .disk_hard
                            .push(DiskThreshold { signal, value });
                    }
                }
            }
            for (signal, value) in kubelet.eviction_minimum_reclaim.iter().flatten() {
                let at = join_key(&join_key(base, "evictionMinimumReclaim"), signal);
                match self.eviction_value(signal, value, &at)? {
                    (None, bytes) => config.kubelet.eviction.memory_minimum_reclaim_bytes = bytes,
                    (Some(signal), _) => {
                        let value = self.disk_threshold_value(signal, value, &at)?;
                        config
                            .kubelet
                            .eviction
                            .disk_minimum_reclaim
                            .insert(signal, value);
                    }
                }
            }
            // The manager looks at the signals in a fixed order, not the file's.
            config
                .kubelet
                .eviction
                .disk_hard
                .sort_by_key(|threshold| threshold.signal);
            if let Some(v) = &kubelet.eviction_pressure_transition_period {
                config.kubelet.eviction.eviction_pressure_transition_period =
                    self.duration(v, &join_key(base, "evictionPressureTransitionPeriod"))?;
            }
            if let Some(seconds) = kubelet.node_lease_duration_seconds {
                if seconds == 0 {
                    return Err(self.error(
                        &join_key(base, "nodeLeaseDurationSeconds"),
                        "must be at least 1",
                    ));
                }
                config.kubelet.node_lease_duration_seconds = seconds;
                // The renew interval is a fixed fraction of the lease duration upstream
                // (`nodeLeaseRenewIntervalFraction` = 0.25).
                config.kubelet.node_lease_renew_interval = SimDuration::from_millis(seconds * 250);
            }
            if let Some(v) = &kubelet.node_status_update_frequency {
                config.kubelet.node_status_update_frequency =
                    self.positive(v, &join_key(base, "nodeStatusUpdateFrequency"))?;
            }
            if let Some(v) = &kubelet.node_status_report_frequency {
                config.kubelet.node_status_report_frequency =
                    self.positive(v, &join_key(base, "nodeStatusReportFrequency"))?;
            }
        }
        if let Some(proxy) = &raw.kube_proxy {
            if let Some(v) = &proxy.sync_period {
                config.proxy.sync_period = self.positive(v, "cluster.kubeProxy.syncPeriod")?;
            }
            if let Some(v) = &proxy.min_sync_period {
                config.proxy.min_sync_period =
                    self.duration(v, "cluster.kubeProxy.minSyncPeriod")?;
            }
        }
        Ok(config)
    }

    /// `cluster.kubeScheduler.config`: a path to a KubeSchedulerConfiguration file
    /// (relative to the scenario file, recorded for replay) or the document inline.
    fn scheduler_configuration(
        &mut self,
        value: &serde_json::Value,
    ) -> Result<SchedulerConfiguration, ScenarioError> {
        let path = "cluster.kubeScheduler.config";
        match value {
            serde_json::Value::String(file) => {
                let text = self
                    .includes
                    .read(file)
                    .map_err(|reason| ScenarioError::Unreadable {
                        at: self.doc.at(path),
                        path: file.clone(),
                        reason,
                    })?;
                let configuration = scheduler_config::parse(file, &text)?;
                self.files.insert(file.clone(), text);
                Ok(configuration)
            }
            serde_json::Value::Object(_) => {
                scheduler_config::from_document(&self.sub_document(path, value))
            }
            _ => Err(self.error(
                path,
                "expected the path of a KubeSchedulerConfiguration file, or the configuration inline",
            )),
        }
    }

    fn positive(&self, value: &Scalar, path: &str) -> Result<SimDuration, ScenarioError> {
        let duration = self.duration(value, path)?;
        if duration == SimDuration::ZERO {
            return Err(self.error(path, "must be longer than 0s"));
        }
        Ok(duration)
    }

    fn node_pool(
        &self,
        raw: &NodePoolEntry,
        path: &str,
        end: SimDuration,
    ) -> Result<NodePool, ScenarioError> {
        check_name(&raw.name).map_err(|why| self.error(&join_key(path, "name"), why))?;
        if raw.count == 0 {
            return Err(self.error(
                &join_key(path, "count"),
                "a node pool needs at least one node",
            ));
        }
        let capacity = ResourceList {
            cpu_millicores: Some(self.quantity(
                &raw.cpu,
                &join_key(path, "cpu"),
                parse_cpu_millicores,
            )?),
            memory_bytes: Some(self.quantity(
                &raw.memory,
                &join_key(path, "memory"),
                parse_bytes,
            )?),
            ephemeral_storage_bytes: raw
                .ephemeral_storage
                .as_ref()
                .map(|v| self.quantity(v, &join_key(path, "ephemeral-storage"), parse_bytes))
                .transpose()?,
            pods: Some(match &raw.pods {
                Some(v) => self.quantity(v, &join_key(path, "pods"), parse_count)?,
                None => DEFAULT_MAX_PODS,
            }),
        };
        let mut taints = Vec::new();
        for (index, taint) in raw.taints.iter().enumerate() {
            let taint_path = join_index(&join_key(path, "taints"), index);
            if taint.key.trim().is_empty() {
                return Err(self.error(&join_key(&taint_path, "key"), "a taint needs a key"));
            }
            let effect = parse_taint_effect(&taint.effect)
                .map_err(|why| self.error(&join_key(&taint_path, "effect"), why))?;
            taints.push(Taint {
                key: s(&taint.key),
                value: s(&taint.value),
                effect,
                time_added: None,
            });
        }
        let mut extended_resources = Vec::with_capacity(raw.extended_resources.len());
        for (name, quantity) in &raw.extended_resources {
            let resource_path = join_key(&join_key(path, "extendedResources"), name);
            check_extended_resource_name(name).map_err(|why| self.error(&resource_path, why))?;
            let count = self.quantity(quantity, &resource_path, parse_count)?;
            extended_resources.push((s(name), count));
        }
        let join_at = match &raw.join_at {
            Some(value) => {
                let join_path = join_key(path, "joinAt");
                let at = self.time(value, &join_path, end)?;
                if at == SimTime::ZERO {
                    return Err(self.error(
                        &join_path,
                        "must be later than 0s (leave joinAt out for nodes present from the start)",
                    ));
                }
                Some(at - SimTime::ZERO)
            }
            None => None,
        };
        let runtime = self.node_pool_runtime(raw, path)?;
        let filesystems = self.node_filesystems(raw, capacity.ephemeral_storage_bytes, path)?;
        Ok(NodePool {
            runtime,
            filesystems,
            join_at,
            name: raw.name.clone(),
            count: raw.count,
            capacity,
            extended_resources,
            zone: raw.zone.clone(),
            labels: Labels::from_pairs(&raw.labels),
            taints,
        })
    }

    /// A pool's `runtime`, `runtimeHandlers` and `defaultRuntimeHandler`: `None` when
    /// none is given (the cluster's runtime, containerd with runc).
    fn node_pool_runtime(
        &self,
        raw: &NodePoolEntry,
        path: &str,
    ) -> Result<Option<RuntimeConfig>, ScenarioError> {
        if raw.runtime.is_none()
            && raw.runtime_handlers.is_none()
            && raw.default_runtime_handler.is_none()
        {
            return Ok(None);
        }
        let cri = match raw.runtime.as_deref() {
            None => CriRuntime::Containerd,
            Some(name) => CriRuntime::parse(name).ok_or_else(|| {
                self.error(
                    &join_key(path, "runtime"),
                    format!(
                        "unsupported runtime {name:?}: supported values: \"containerd\", \"cri-o\""
                    ),
                )
            })?,
        };
        let mut config = RuntimeConfig::for_cri(cri);
        if let Some(names) = &raw.runtime_handlers {
            let handlers_path = join_key(path, "runtimeHandlers");
            if names.is_empty() {
                return Err(self.error(&handlers_path, "at least one handler is needed"));
            }
            let mut handlers: Vec<RuntimeHandler> = Vec::new();
            for (index, name) in names.iter().enumerate() {
                let at = join_index(&handlers_path, index);
                let Some(oci) = OciRuntime::for_handler(name) else {
                    return Err(self.error(
                        &at,
                        format!("unknown handler {name:?}: kubesim models runc, crun, kata (kata-qemu, kata-clh, kata-fc) and runsc (gvisor)"),
                    ));
                };
                if handlers.iter().any(|h| &*h.name == name) {
                    return Err(self.error(&at, format!("handler {name} is listed twice")));
                }
                handlers.push(RuntimeHandler { name: s(name), oci });
            }
            let preferred = cri.default_handler().name();
            config.default_handler = if handlers.iter().any(|h| &*h.name == preferred) {
                s(preferred)
            } else {
                handlers[0].name.clone()
            };
            config.handlers = handlers;
        }
        if let Some(name) = &raw.default_runtime_handler {
            if !config.handlers.iter().any(|h| &*h.name == name) {
                let names: Vec<&str> = config.handlers.iter().map(|h| &*h.name).collect();
                return Err(self.error(
                    &join_key(path, "defaultRuntimeHandler"),
                    format!(
                        "{name} is not among the pool's handlers ({})",
                        names.join(", ")
                    ),
                ));
            }
            config.default_handler = s(name);
        }
        Ok(Some(config))
    }

    // -----------------------------------------------------------------------------------
    // Workloads

    fn workloads(
        &mut self,
        raw: Option<&serde_json::Value>,
    ) -> Result<Vec<WorkloadGroup>, ScenarioError> {
        let Some(raw) = raw else {
            return Ok(Vec::new());
        };
        let serde_json::Value::Object(groups) = raw else {
            return Err(self.error(
                "workloads",
                "workloads is a mapping from a group name to its manifests (a multi-document string, a list of manifests, or {path: FILE})",
            ));
        };
        let mut out = Vec::new();
        for (name, value) in groups {
            let path = join_key("workloads", name);
            let objects = self.manifests(value, &path)?;
            out.push(WorkloadGroup {
                name: name.clone(),
                objects,
            });
        }
        Ok(out)
    }

    /// Manifests written as a multi-document string, a list of manifests (or of
    /// `{path: FILE}`), or `{path: FILE}`.
    fn manifests(
        &mut self,
        value: &serde_json::Value,
        path: &str,
    ) -> Result<Vec<Object>, ScenarioError> {
        let mut documents = Vec::new();
        match value {
            serde_json::Value::String(text) => {
                let at = self
                    .doc
                    .pos(path)
                    .unwrap_or(crate::error::Pos { line: 1, column: 1 });
                let map = PosMap::for_embedded(self.text, at, text);
                documents.extend(parse_documents(text, &self.doc.file, path, true, map)?);
            }
            serde_json::Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    let item_path = join_index(path, index);
                    match include_path(item) {
                        Some(file) => documents.extend(self.include(file, &item_path)?),
                        None => documents.push(self.sub_document(&item_path, item)),
                    }
                }
            }
            serde_json::Value::Object(_) => match include_path(value) {
                Some(file) => documents.extend(self.include(file, path)?),
                None => {
                    return Err(self.error(
                        path,
                        "expected manifests: a multi-document string, a list of manifests, or {path: FILE}",
                    ));
                }
            },
            _ => {
                return Err(self.error(
                    path,
                    "expected manifests: a multi-document string, a list of manifests, or {path: FILE}",
                ));
            }
        }
        let mut objects = Vec::with_capacity(documents.len());
        for document in &documents {
            let ingested = manifest::ingest(document)?;
            let key = ingested.object.key();
            if objects.iter().any(|o: &Object| o.key() == key) {
                return Err(ScenarioError::invalid(
                    document.at(&document.root),
                    format!("{key} is defined twice in this group"),
                ));
            }
            self.notes.extend(ingested.notes);
            objects.push(ingested.object);
        }
        Ok(objects)
    }

    fn sub_document(&self, path: &str, value: &serde_json::Value) -> Document {
        // Items of the scenario document share its position table.
        let mut doc = self.doc.clone();
        doc.value = value.clone();
        doc.root = path.to_string();
        doc
    }

    fn include(&mut self, file: &str, path: &str) -> Result<Vec<Document>, ScenarioError> {
        let text = self
            .includes
            .read(file)
            .map_err(|reason| ScenarioError::Unreadable {
                at: self.doc.at(&join_key(path, "path")),
                path: file.to_string(),
                reason,
            })?;
        let documents = parse_documents(&text, file, path, true, PosMap::Identity)?;
        self.files.insert(file.to_string(), text);
        Ok(documents)
    }

    // -----------------------------------------------------------------------------------
    // Timeline

    fn timeline_entry(
        &mut self,
        entry: &TimelineEntry,
        path: &str,
        end: SimDuration,
        workloads: &[WorkloadGroup],
        applied: &mut [bool],
    ) -> Result<TimedStep, ScenarioError> {
        let at = self.time(&entry.at, &join_key(path, "at"), end)?;
        let given = [
            entry.apply.is_some(),
            entry.delete.is_some(),
            entry.scale.is_some(),
            entry.kill_node.is_some(),
            entry.restart_node.is_some(),
            entry.partition.is_some(),
            entry.heal.is_some(),
            entry.set_image.is_some(),
            entry.rollout_undo.is_some(),
            entry.rollout_pause.is_some(),
            entry.rollout_resume.is_some(),
            entry.get.is_some(),
            entry.cordon.is_some(),
            entry.uncordon.is_some(),
            entry.drain.is_some(),
            entry.load.is_some(),
            entry.registry_outage.is_some(),
            entry.kill_etcd_member.is_some(),
            entry.restart_etcd_member.is_some(),
            entry.wipe_etcd_member.is_some(),
            entry.etcd_snapshot.is_some(),
            entry.etcd_restore.is_some(),
            entry.etcd_defrag.is_some(),
            entry.etcd_alarm_disarm.is_some(),
            entry.etcd_compact.is_some(),
            entry.restart_kubelet.is_some(),
            entry.crash_runtime.is_some(),
            entry.kill_pod_sandbox.is_some(),
            entry.restart_apiserver.is_some(),
            entry.kill_component.is_some(),
            entry.start_component.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        if given != 1 {
            return Err(self.error(
                path,
                format!("a timeline entry has `at` and exactly one of apply, delete, scale, set-image, rollout-undo, rollout-pause, rollout-resume, get, cordon, uncordon, drain, load, registry-outage, kill-node, restart-node, restart-kubelet, crash-runtime, kill-pod-sandbox, restart-apiserver, kill-component, start-component, kill-etcd-member, restart-etcd-member, wipe-etcd-member, etcd-snapshot, etcd-restore, etcd-defrag, etcd-alarm-disarm, etcd-compact, partition, heal (found {given})"),
            ));
        }
        let step = if let Some(apply) = &entry.apply {
            let apply_path = join_key(path, "apply");
            let objects = match apply {
                serde_json::Value::String(name) if !name.contains('\n') => {
                    let Some(index) = workloads.iter().position(|g| &g.name == name) else {
                        let names: Vec<&str> = workloads.iter().map(|g| g.name.as_str()).collect();
                        return Err(self.error(
                            &apply_path,
                            format!(
                                "no workload group named {name:?} (groups: {})",
                                if names.is_empty() {
                                    "none".to_string()
                                } else {
                                    names.join(", ")
                                }
                            ),
                        ));
                    };
                    applied[index] = true;
                    workloads[index].objects.clone()
                }
                other => self.manifests(other, &apply_path)?,
            };
            Step::Kubectl(Action::Apply(objects))
        } else if let Some(delete) = &entry.delete {
            let delete_path = join_key(path, "delete");
            let Some(kind) = supported_kind(&delete.kind) else {
                return Err(self.error(
                    &join_key(&delete_path, "kind"),
                    format!(
                        "unsupported kind {} (kubesim supports {})",
                        delete.kind,
                        manifest::SUPPORTED_KINDS
                    ),
                ));
            };
            let cascade = match delete.cascade.as_deref() {
                None | Some("background") => PropagationPolicy::Background,
                Some("foreground") => PropagationPolicy::Foreground,
                Some("orphan") => PropagationPolicy::Orphan,
                Some(other) => {
                    return Err(self.error(
                        &join_key(&delete_path, "cascade"),
                        format!(
                            "invalid cascade value ({other}). Must be \"background\", \"foreground\", or \"orphan\""
                        ),
                    ));
                }
            };
            Step::Kubectl(Action::Delete {
                kind,
                namespace: s(&namespace_of(kind, delete.namespace.as_deref())),
                name: s(&delete.name),
                cascade,
            })
        } else if let Some(scale) = &entry.scale {
            let kind = match scale.kind.as_deref() {
                None | Some("Deployment") => Kind::Deployment,
                Some("ReplicaSet") => Kind::ReplicaSet,
                Some("StatefulSet") => Kind::StatefulSet,
                Some(other) => {
                    return Err(self.error(
                        &join_key(path, "scale.kind"),
                        format!(
                            "cannot scale a {other}: use Deployment, ReplicaSet or StatefulSet"
                        ),
                    ));
                }
            };
            Step::Kubectl(Action::Scale {
                kind,
                namespace: s(&namespace_of(kind, scale.namespace.as_deref())),
                name: s(&scale.name),
                replicas: scale.replicas,
            })
        } else if let Some(set) = &entry.set_image {
            let p = join_key(path, "set-image");
            for (field, value) in [
                ("name", &set.name),
                ("container", &set.container),
                ("image", &set.image),
            ] {
                if value.trim().is_empty() {
                    return Err(self.error(
                        &join_key(&p, field),
                        format!("set-image needs a non-empty {field}"),
                    ));
                }
            }
            Step::Kubectl(Action::SetImage {
                namespace: s(&namespace_of(Kind::Deployment, set.namespace.as_deref())),
                name: s(&set.name),
                container: s(&set.container),
                image: s(&set.image),
            })
        } else if let Some(undo) = &entry.rollout_undo {
            let p = join_key(path, "rollout-undo");
            if undo.name.trim().is_empty() {
                return Err(self.error(
                    &join_key(&p, "name"),
                    "rollout-undo needs the Deployment's name",
                ));
            }
            if undo.to_revision == Some(0) {
                return Err(self.error(
                    &join_key(&p, "toRevision"),
                    "toRevision is a revision number from 1; leave it out for the previous revision",
                ));
            }
            Step::Kubectl(Action::RolloutUndo {
                namespace: s(&namespace_of(Kind::Deployment, undo.namespace.as_deref())),
                name: s(&undo.name),
                to_revision: undo.to_revision.unwrap_or(0),
            })
        } else if let Some(target) = &entry.rollout_pause {
            let (namespace, name) =
                self.deployment_ref(target, &join_key(path, "rollout-pause"))?;
            Step::Kubectl(Action::RolloutPause { namespace, name })
        } else if let Some(target) = &entry.rollout_resume {
            let (namespace, name) =
                self.deployment_ref(target, &join_key(path, "rollout-resume"))?;
            Step::Kubectl(Action::RolloutResume { namespace, name })
        } else if let Some(get) = &entry.get {
            let Some(kind) = supported_kind(&get.kind) else {
                return Err(self.error(
                    &join_key(&join_key(path, "get"), "kind"),
                    format!(
                        "unsupported kind {} (kubesim supports {})",
                        get.kind,
                        manifest::SUPPORTED_KINDS
                    ),
                ));
            };
            let namespace = (kind.namespaced() && get.all_namespaces != Some(true))
                .then(|| s(&namespace_of(kind, get.namespace.as_deref())));
            Step::Kubectl(Action::Get { kind, namespace })
        } else if let Some(node) = &entry.cordon {
            let node = self.joined_node(node, &join_key(path, "cordon"), at, "be cordoned")?;
            Step::Kubectl(Action::Cordon { node: s(&node) })
        } else if let Some(node) = &entry.uncordon {
            let node = self.joined_node(node, &join_key(path, "uncordon"), at, "be uncordoned")?;
            Step::Kubectl(Action::Uncordon { node: s(&node) })
        } else if let Some(drain) = &entry.drain {
            let p = join_key(path, "drain");
            let node = self.joined_node(&drain.node, &join_key(&p, "node"), at, "be drained")?;
            let timeout = match &drain.timeout {
                None => None,
                Some(raw) => {
                    let timeout = self.duration(raw, &join_key(&p, "timeout"))?;
                    // kubectl's --timeout=0 means no timeout.
                    (timeout > SimDuration::ZERO).then_some(timeout)
                }
            };
            Step::Kubectl(Action::Drain(DrainOptions {
                node: s(&node),
                ignore_daemonsets: drain.ignore_daemon_sets.unwrap_or(false),
                delete_emptydir_data: drain.delete_empty_dir_data.unwrap_or(false),
                force: drain.force.unwrap_or(false),
                grace_period_seconds: drain.grace_period_seconds,
                timeout,
            }))
        } else if let Some(load) = &entry.load {
            let p = join_key(path, "load");
            if load.service.trim().is_empty() {
                return Err(self.error(&join_key(&p, "service"), "a Service name is required"));
            }
            let cpu_millicores =
                self.quantity(&load.cpu, &join_key(&p, "cpu"), parse_cpu_millicores)?;
            Step::Load {
                namespace: namespace_of(Kind::Service, load.namespace.as_deref()),
                service: load.service.clone(),
                cpu_millicores,
            }
        } else if let Some(outage) = &entry.registry_outage {
            let duration =
                self.positive(&outage.duration, &join_key(path, "registry-outage.for"))?;
            if let Some(host) = &outage.host
                && (host.is_empty() || host.contains('/'))
            {
                return Err(self.error(
                    &join_key(path, "registry-outage.host"),
                    format!("{host:?} is not a registry host (e.g. registry.example.com)"),
                ));
            }
            Step::RegistryOutage {
                duration,
                host: outage.host.clone(),
            }
        } else if let Some(target) = &entry.restart_kubelet {
            let p = join_key(path, "restart-kubelet");
            let (node, down_for) =
                self.node_outage(target, &p, at, "restart its kubelet", SimDuration::ZERO)?;
            Step::RestartKubelet { node, down_for }
        } else if let Some(target) = &entry.crash_runtime {
            let p = join_key(path, "crash-runtime");
            let (node, down_for) = self.node_outage(
                target,
                &p,
                at,
                "crash its runtime",
                CRASHED_RUNTIME_DOWN_FOR,
            )?;
            Step::CrashRuntime { node, down_for }
        } else if let Some(target) = &entry.kill_pod_sandbox {
            let p = join_key(path, "kill-pod-sandbox");
            let node = self.joined_node(
                &target.node,
                &join_key(&p, "node"),
                at,
                "kill a pod's sandbox on it",
            )?;
            Step::KillPodSandbox {
                node,
                namespace: namespace_of(Kind::Pod, target.namespace.as_deref()),
                pod: target.pod.clone(),
            }
        } else if let Some((field, name, kill)) = [
            ("kill-component", &entry.kill_component, true),
            ("start-component", &entry.start_component, false),
        ]
        .into_iter()
        .find_map(|(field, name, kill)| name.as_ref().map(|n| (field, n, kill)))
        {
            if !self.component_names.contains(name) {
                return Err(self.error(
                    &join_key(path, field),
                    format!(
                        "unknown component {name:?} (the replicas are {})",
                        self.component_names.join(", ")
                    ),
                ));
            }
            Step::Component {
                name: name.clone(),
                kill,
            }
        } else if let Some(target) = &entry.restart_apiserver {
            let p = join_key(path, "restart-apiserver");
            let (host, down_for) = match target {
                serde_json::Value::String(host) => (host.clone(), SimDuration::ZERO),
                serde_json::Value::Object(_) => {
                    let entry: ApiServerOutageEntry = self.sub_document(&p, target).decode(true)?;
                    let down_for = match &entry.duration {
                        Some(raw) => self.duration(raw, &join_key(&p, "for"))?,
                        None => SimDuration::ZERO,
                    };
                    (entry.host, down_for)
                }
                _ => {
                    return Err(self.error(
                        &p,
                        "name the control-plane host (`control-plane-1`) or give `{host: control-plane-1, for: 30s}`",
                    ));
                }
            };
            let Some(index) = self.control_plane_hosts[..self.apiserver_count]
                .iter()
                .position(|h| *h == host)
            else {
                return Err(self.error(
                    &p,
                    format!(
                        "no kube-apiserver runs on {host:?} (they run on {})",
                        self.control_plane_hosts[..self.apiserver_count].join(", ")
                    ),
                ));
            };
            Step::RestartApiserver {
                host,
                index,
                down_for,
            }
        } else if let Some((field, member, fault)) = [
            (
                "kill-etcd-member",
                &entry.kill_etcd_member,
                EtcdMemberFault::Kill,
            ),
            (
                "restart-etcd-member",
                &entry.restart_etcd_member,
                EtcdMemberFault::Restart,
            ),
            (
                "wipe-etcd-member",
                &entry.wipe_etcd_member,
                EtcdMemberFault::Wipe,
            ),
        ]
        .into_iter()
        .find_map(|(field, member, fault)| member.as_ref().map(|m| (field, m, fault)))
        {
            let Some(index) = self.etcd_members.iter().position(|m| m == member) else {
                return Err(self.error(
                    &join_key(path, field),
                    format!(
                        "unknown etcd member {member:?} (the members are {})",
                        self.etcd_members.join(", ")
                    ),
                ));
            };
            Step::EtcdMember {
                member: member.clone(),
                index,
                fault,
            }
        } else if let Some(name) = &entry.etcd_snapshot {
            Step::Etcdctl(EtcdctlCommand::SnapshotSave(
                self.snapshot_name(name, &join_key(path, "etcd-snapshot"))?,
            ))
        } else if let Some(name) = &entry.etcd_restore {
            Step::Etcdctl(EtcdctlCommand::SnapshotRestore(
                self.snapshot_name(name, &join_key(path, "etcd-restore"))?,
            ))
        } else if let Some(value) = &entry.etcd_defrag {
            self.fixed_value(value, "all", &join_key(path, "etcd-defrag"))?;
            Step::Etcdctl(EtcdctlCommand::Defrag)
        } else if let Some(value) = &entry.etcd_alarm_disarm {
            self.fixed_value(value, "NOSPACE", &join_key(path, "etcd-alarm-disarm"))?;
            Step::Etcdctl(EtcdctlCommand::AlarmDisarm)
        } else if let Some(value) = &entry.etcd_compact {
            self.fixed_value(value, "latest", &join_key(path, "etcd-compact"))?;
            Step::Etcdctl(EtcdctlCommand::Compact)
        } else if let Some(node) = &entry.kill_node {
            let node_path = join_key(path, "kill-node");
            Step::KillNode(self.joined_node(node, &node_path, at, "kill")?)
        } else if let Some(node) = &entry.restart_node {
            let node_path = join_key(path, "restart-node");
            Step::RestartNode(self.joined_node(node, &node_path, at, "restart")?)
        } else if let Some(cut) = &entry.partition {
            Step::Partition(self.cut(cut, &join_key(path, "partition"))?)
        } else {
            let heal_path = join_key(path, "heal");
            match entry.heal.as_ref().expect("one action is given") {
                serde_json::Value::String(all) if all == "all" => Step::Heal(None),
                value @ serde_json::Value::Object(_) => {
                    let cut: CutEntry = self.sub_document(&heal_path, value).decode(true)?;
                    Step::Heal(Some(self.cut(&cut, &heal_path)?))
                }
                _ => {
                    return Err(self.error(
                        &heal_path,
                        "heal is `all` or the partition to remove, e.g. {isolate: node-2}",
                    ));
                }
            }
        };
        Ok(TimedStep { at, step })
    }

    /// `node-1` or `{node: node-1, for: 90s}`: the node (it must have joined by `at`)
    /// and how long its component stays down (`default` when `for` is absent).
    fn node_outage(
        &self,
        value: &serde_json::Value,
        path: &str,
        at: SimTime,
        what: &str,
        default: SimDuration,
    ) -> Result<(String, SimDuration), ScenarioError> {
        match value {
            serde_json::Value::String(node) => {
                Ok((self.joined_node(node, path, at, what)?, default))
            }
            serde_json::Value::Object(_) => {
                let entry: NodeOutageEntry = self.sub_document(path, value).decode(true)?;
                let node = self.joined_node(&entry.node, &join_key(path, "node"), at, what)?;
                let down_for = match &entry.duration {
                    Some(raw) => self.duration(raw, &join_key(path, "for"))?,
                    None => default,
                };
                Ok((node, down_for))
            }
            _ => Err(self.error(
                path,
                "name the node (`node-1`) or give `{node: node-1, for: 1m}`",
            )),
        }
    }

    /// A deployment condition check: a status, a reason, or both.
    fn condition_check(
        &self,
        entry: Option<&ConditionEntry>,
        path: &str,
    ) -> Result<Option<ConditionCheck>, ScenarioError> {
        let Some(entry) = entry else {
            return Ok(None);
        };
        if entry.status.is_none() && entry.reason.is_none() {
            return Err(self.error(path, "name the condition's status, reason, or both"));
        }
        let status = entry
            .status
            .as_deref()
            .map(|status| {
                parse_condition_status(status)
                    .map_err(|why| self.error(&join_key(path, "status"), why))
            })
            .transpose()?;
        Ok(Some(ConditionCheck {
            status,
            reason: entry.reason.clone(),
        }))
    }

    /// A Deployment named `NAME` (in `default`) or `NAMESPACE/NAME`.
    fn deployment_ref(
        &self,
        target: &str,
        path: &str,
    ) -> Result<(components::api::Str, components::api::Str), ScenarioError> {
        let (namespace, name) = match target.split_once('/') {
            Some((namespace, name)) => (namespace, name),
            None => ("default", target),
        };
        if namespace.trim().is_empty() || name.trim().is_empty() || name.contains('/') {
            return Err(self.error(
                path,
                format!("expected a Deployment as NAME or NAMESPACE/NAME, found {target:?}"),
            ));
        }
        Ok((s(namespace), s(name)))
    }

    fn cut(&self, cut: &CutEntry, path: &str) -> Result<CutSpec, ScenarioError> {
        let host = |name: &str, at: &str| -> Result<String, ScenarioError> {
            let etcd_host =
                self.etcd_members.len() > 1 && self.etcd_members.iter().any(|m| m == name);
            if self.control_plane_hosts.iter().any(|h| h == name) || etcd_host {
                Ok(name.to_string())
            } else {
                self.node(name, at)
            }
        };
        match (&cut.isolate, &cut.between) {
            (Some(node), None) => Ok(CutSpec::Isolate(host(node, &join_key(path, "isolate"))?)),
            (None, Some(pair)) if pair.len() == 2 => {
                let at = join_key(path, "between");
                Ok(CutSpec::Between(host(&pair[0], &at)?, host(&pair[1], &at)?))
            }
            _ => Err(self.error(path, "a partition is {isolate: HOST} or {between: [HOST, HOST]} (a node name or control-plane)")),
        }
    }

    // -----------------------------------------------------------------------------------
    // Expectations

    fn expectation(
        &self,
        entry: &ExpectationEntry,
        path: &str,
        end: SimDuration,
    ) -> Result<Expectation, ScenarioError> {
        if entry.name.trim().is_empty() {
            return Err(self.error(&join_key(path, "name"), "an expectation needs a name"));
        }
        let at = entry
            .at
            .as_ref()
            .map(|at| self.time(at, &join_key(path, "at"), end))
            .transpose()?;
        let given = [
            entry.deployment.is_some(),
            entry.pods.is_some(),
            entry.nodes.is_some(),
            entry.node.is_some(),
            entry.endpoints.is_some(),
            entry.stateful_set.is_some(),
            entry.daemon_set.is_some(),
            entry.job.is_some(),
            entry.pod_disruption_budget.is_some(),
            entry.zone.is_some(),
            entry.hpa.is_some(),
            entry.container.is_some(),
            entry.node_memory.is_some(),
            entry.node_disk.is_some(),
            entry.requests.is_some(),
            entry.etcd.is_some(),
            entry.leader.is_some(),
            entry.runtime.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        if given != 1 {
            return Err(self.error(
                path,
                format!("an expectation has a name, an optional `at`, and exactly one of deployment, pods, nodes, node, endpoints, statefulSet, zone, daemonSet, hpa, container, nodeMemory, nodeDisk, requests, etcd, leader (found {given})"),
            ));
        }
        let check = if let Some(d) = &entry.deployment {
            let p = join_key(path, "deployment");
            let check = Check::Deployment {
                namespace: namespace_of(Kind::Deployment, d.namespace.as_deref()),
                name: d.name.clone(),
                desired: self.count_at(&d.desired, &p, "desired")?,
                updated: self.count_at(&d.updated, &p, "updated")?,
                ready: self.count_at(&d.ready, &p, "ready")?,
                available: self.count_at(&d.available, &p, "available")?,
                rollout: RolloutCheck {
                    revision: self.count_at(&d.revision, &p, "revision")?,
                    replica_sets: self.count_at(&d.replica_sets, &p, "replicaSets")?,
                    progressing: self
                        .condition_check(d.progressing.as_ref(), &join_key(&p, "progressing"))?,
                    available_condition: self.condition_check(
                        d.available_condition.as_ref(),
                        &join_key(&p, "availableCondition"),
                    )?,
                },
            };
            let rollout_empty =
                matches!(&check, Check::Deployment { rollout, .. } if rollout.is_empty());
            if [&d.desired, &d.updated, &d.ready, &d.available]
                .iter()
                .all(|c| c.is_none())
                && rollout_empty
            {
                return Err(self.error(
                    &p,
                    "name at least one of desired, updated, ready, available, revision, replicaSets, progressing, availableCondition",
                ));
            }
            check
        } else if let Some(set) = &entry.daemon_set {
            let p = join_key(path, "daemonSet");
            let counts = DaemonSetCounts {
                desired: self.count_at(&set.desired, &p, "desired")?,
                current: self.count_at(&set.current, &p, "current")?,
                ready: self.count_at(&set.ready, &p, "ready")?,
                available: self.count_at(&set.available, &p, "available")?,
                updated: self.count_at(&set.updated, &p, "updated")?,
                misscheduled: self.count_at(&set.misscheduled, &p, "misscheduled")?,
            };
            if counts == DaemonSetCounts::default() {
                return Err(self.error(
                    &p,
                    "name at least one of desired, current, ready, available, updated, misscheduled",
                ));
            }
            Check::DaemonSet {
                namespace: namespace_of(Kind::DaemonSet, set.namespace.as_deref()),
                name: set.name.clone(),
                counts,
            }
        } else if let Some(set) = &entry.stateful_set {
            let p = join_key(path, "statefulSet");
            let counts = StatefulSetCounts {
                desired: self.count_at(&set.desired, &p, "desired")?,
                replicas: self.count_at(&set.replicas, &p, "replicas")?,
                ready: self.count_at(&set.ready, &p, "ready")?,
                current: self.count_at(&set.current, &p, "current")?,
                updated: self.count_at(&set.updated, &p, "updated")?,
                available: self.count_at(&set.available, &p, "available")?,
                rolled_out: set.rolled_out,
            };
            if counts == StatefulSetCounts::default() {
                return Err(self.error(
                    &p,
                    "name at least one of desired, replicas, ready, current, updated, available, rolledOut",
                ));
            }
            Check::StatefulSet {
                namespace: namespace_of(Kind::StatefulSet, set.namespace.as_deref()),
                name: set.name.clone(),
                counts,
            }
        } else if let Some(pods) = &entry.pods {
            let p = join_key(path, "pods");
            if pods.count.is_none() && pods.nodes.is_none() && pods.zones.is_none() {
                return Err(self.error(
                    &p,
                    "name `count` (matching pods), `nodes` or `zones` (distinct nodes or zones they run on)",
                ));
            }
            let scheduled = pods
                .scheduled
                .as_deref()
                .map(|status| {
                    parse_condition_status(status)
                        .map_err(|why| self.error(&join_key(&p, "scheduled"), why))
                })
                .transpose()?;
            let nominated_node = pods
                .nominated_node
                .as_deref()
                .map(|node| self.node(node, &join_key(&p, "nominatedNode")))
                .transpose()?;
            let phase = pods
                .phase
                .as_deref()
                .map(|phase| {
                    parse_phase(phase).map_err(|why| self.error(&join_key(&p, "phase"), why))
                })
                .transpose()?;
            let node = pods
                .node
                .as_deref()
                .map(|node| self.node(node, &join_key(&p, "node")))
                .transpose()?;
            Check::Pods {
                filter: PodFilter {
                    phase,
                    node,
                    namespace: pods.namespace.clone(),
                    labels: Labels::from_pairs(&pods.labels),
                    terminating: pods.terminating,
                    scheduled,
                    scheduled_reason: pods.scheduled_reason.clone(),
                    scheduled_message: pods.scheduled_message.clone(),
                    nominated_node,
                    node_labels: Labels::from_pairs(&pods.node_labels),
                    image: pods.image.clone(),
                    reason: pods.reason.clone(),
                    message_prefix: pods.message_prefix.clone(),
                    qos_class: pods
                        .qos_class
                        .as_deref()
                        .map(|class| {
                            parse_qos_class(class)
                                .map_err(|why| self.error(&join_key(&p, "qosClass"), why))
                        })
                        .transpose()?,
                    name: pods.name.clone(),
                    ready_at: pods
                        .ready_at
                        .as_ref()
                        .map(|at| self.time(at, &join_key(&p, "readyAt"), end))
                        .transpose()?,
                    waiting_reason: pods.waiting_reason.clone(),
                    startup_latency: match &pods.startup_latency {
                        None => None,
                        Some(range) => {
                            let rp = join_key(&p, "startupLatency");
                            let min = range
                                .min
                                .as_ref()
                                .map(|v| self.duration(v, &join_key(&rp, "min")))
                                .transpose()?
                                .unwrap_or(SimDuration::ZERO);
                            let max = range
                                .max
                                .as_ref()
                                .map(|v| self.duration(v, &join_key(&rp, "max")))
                                .transpose()?;
                            if max.is_some_and(|max| max <= min) {
                                return Err(self.error(&rp, "max must be greater than min"));
                            }
                            Some((min, max))
                        }
                    },
                    ready: pods
                        .ready
                        .as_deref()
                        .map(|status| {
                            parse_condition_status(status)
                                .map_err(|why| self.error(&join_key(&p, "ready"), why))
                        })
                        .transpose()?,
                },
                count: self.count_at(&pods.count, &p, "count")?,
                nodes: self.count_at(&pods.nodes, &p, "nodes")?,
                zones: self.count_at(&pods.zones, &p, "zones")?,
            }
        } else if let Some(hpa) = &entry.hpa {
            let p = join_key(path, "hpa");
            let current_replicas = self.count_at(&hpa.current_replicas, &p, "currentReplicas")?;
            let desired_replicas = self.count_at(&hpa.desired_replicas, &p, "desiredReplicas")?;
            let current_cpu_utilization_percentage = self.count_at(
                &hpa.current_cpu_utilization_percentage,
                &p,
                "currentCPUUtilizationPercentage",
            )?;
            if current_replicas.is_none()
                && desired_replicas.is_none()
                && current_cpu_utilization_percentage.is_none()
            {
                return Err(self.error(
                    &p,
                    "name at least one of currentReplicas, desiredReplicas, currentCPUUtilizationPercentage",
                ));
            }
            Check::Hpa {
                namespace: namespace_of(Kind::HorizontalPodAutoscaler, hpa.namespace.as_deref()),
                name: hpa.name.clone(),
                current_replicas,
                desired_replicas,
                current_cpu_utilization_percentage,
            }
        } else if let Some(budget) = &entry.pod_disruption_budget {
            let p = join_key(path, "podDisruptionBudget");
            let counts = PodDisruptionBudgetCounts {
                current_healthy: self.count_at(&budget.current_healthy, &p, "currentHealthy")?,
                desired_healthy: self.count_at(&budget.desired_healthy, &p, "desiredHealthy")?,
                disruptions_allowed: self.count_at(
                    &budget.disruptions_allowed,
                    &p,
                    "disruptionsAllowed",
                )?,
                expected_pods: self.count_at(&budget.expected_pods, &p, "expectedPods")?,
                disrupted_pods: self.count_at(&budget.disrupted_pods, &p, "disruptedPods")?,
            };
            if counts == PodDisruptionBudgetCounts::default() {
                return Err(self.error(
                    &p,
                    "name at least one of currentHealthy, desiredHealthy, disruptionsAllowed, expectedPods, disruptedPods",
                ));
            }
            Check::PodDisruptionBudget {
                namespace: namespace_of(Kind::PodDisruptionBudget, budget.namespace.as_deref()),
                name: budget.name.clone(),
                counts,
            }
        } else if let Some(container) = &entry.container {
            let p = join_key(path, "container");
            let state = match container.state.as_deref() {
                None => None,
                Some(state @ ("Waiting" | "Running" | "Terminated")) => Some(state.to_string()),
                Some(other) => {
                    return Err(self.error(
                        &join_key(&p, "state"),
                        format!("unsupported value {other:?}: supported values: \"Waiting\", \"Running\", \"Terminated\""),
                    ));
                }
            };
            let instant = |this: &Self, value: &Option<Scalar>, field: &str| {
                value
                    .as_ref()
                    .map(|at| this.time(at, &join_key(&p, field), end))
                    .transpose()
            };
            let check = ContainerExpectation {
                state,
                reason: container.reason.clone(),
                exit_code: container.exit_code,
                restart_count: self.count_at(&container.restart_count, &p, "restartCount")?,
                ready: container.ready,
                started_at: instant(self, &container.started_at, "startedAt")?,
                finished_at: instant(self, &container.finished_at, "finishedAt")?,
                pod_status: container.pod_status.clone(),
                started: container.started,
                last_state: match &container.last_state {
                    None => None,
                    Some(last) => {
                        let lp = join_key(&p, "lastState");
                        let at = |value: &Option<Scalar>, field: &str| {
                            value
                                .as_ref()
                                .map(|at| self.time(at, &join_key(&lp, field), end))
                                .transpose()
                        };
                        Some(LastStateExpectation {
                            reason: last.reason.clone(),
                            exit_code: last.exit_code,
                            started_at: at(&last.started_at, "startedAt")?,
                            finished_at: at(&last.finished_at, "finishedAt")?,
                        })
                    }
                },
            };
            if check == ContainerExpectation::default() {
                return Err(self.error(
                    &p,
                    "name at least one of state, reason, exitCode, restartCount, ready, startedAt, finishedAt, podStatus, started, lastState",
                ));
            }
            let pod = match (&container.pod, &container.labels) {
                (Some(name), None) => PodRef::Name(name.clone()),
                (None, Some(labels)) => PodRef::Labels(Labels::from_pairs(labels)),
                _ => return Err(self.error(&p, "name exactly one of pod and labels")),
            };
            Check::Container {
                namespace: namespace_of(Kind::Pod, container.namespace.as_deref()),
                pod,
                name: container.name.clone(),
                check,
            }
        } else if let Some(job) = &entry.job {
            let p = join_key(path, "job");
            let completion_time = job
                .completion_time
                .as_ref()
                .map(|at| self.time(at, &join_key(&p, "completionTime"), end))
                .transpose()?;
            let check = Check::Job {
                namespace: namespace_of(Kind::Job, job.namespace.as_deref()),
                name: job.name.clone(),
                active: self.count_at(&job.active, &p, "active")?,
                ready: self.count_at(&job.ready, &p, "ready")?,
                succeeded: self.count_at(&job.succeeded, &p, "succeeded")?,
                failed: self.count_at(&job.failed, &p, "failed")?,
                terminating: self.count_at(&job.terminating, &p, "terminating")?,
                complete: job.complete,
                failed_reason: job.failed_condition.clone(),
                completion_time,
            };
            if matches!(
                &check,
                Check::Job {
                    active: None,
                    ready: None,
                    succeeded: None,
                    failed: None,
                    terminating: None,
                    complete: None,
                    failed_reason: None,
                    completion_time: None,
                    ..
                }
            ) {
                return Err(self.error(
                    &p,
                    "name at least one of active, ready, succeeded, failed, terminating, complete, failedCondition, completionTime",
                ));
            }
            check
        } else if let Some(nodes) = &entry.nodes {
            let p = join_key(path, "nodes");
            if nodes.ready.is_none() && nodes.not_ready.is_none() && nodes.unknown.is_none() {
                return Err(self.error(&p, "name at least one of ready, notReady, unknown"));
            }
            Check::Nodes {
                ready: self.count_at(&nodes.ready, &p, "ready")?,
                not_ready: self.count_at(&nodes.not_ready, &p, "notReady")?,
                unknown: self.count_at(&nodes.unknown, &p, "unknown")?,
            }
        } else if let Some(requests) = &entry.requests {
            let p = join_key(path, "requests");
            let verbs = &components::apiserver::requests::VERBS;
            let Some(verb) = verbs.iter().position(|v| *v == requests.verb) else {
                return Err(self.error(
                    &join_key(&p, "verb"),
                    format!(
                        "unknown verb {:?} (use one of {})",
                        requests.verb,
                        verbs.join(", ")
                    ),
                ));
            };
            let from = requests
                .from
                .as_ref()
                .map(|v| self.time(v, &join_key(&p, "from"), end))
                .transpose()?
                .unwrap_or(SimTime::ZERO);
            let to = requests
                .to
                .as_ref()
                .map(|v| self.time(v, &join_key(&p, "to"), end))
                .transpose()?;
            if to.is_some_and(|to| to <= from) {
                return Err(self.error(&join_key(&p, "to"), "must be later than `from`"));
            }
            let count = self.count_at(&requests.count, &p, "count")?;
            let errors = self.count_at(&requests.errors, &p, "errors")?;
            if count.is_none() && errors.is_none() {
                return Err(self.error(&p, "name count, errors or both"));
            }
            Check::Requests {
                verb,
                from,
                to,
                count,
                errors,
            }
        } else if let Some(leader) = &entry.leader {
            let p = join_key(path, "leader");
            if !LEADER_COMPONENTS.contains(&leader.component.as_str()) {
                return Err(self.error(
                    &join_key(&p, "component"),
                    format!(
                        "leader election runs in {} (not {:?})",
                        LEADER_COMPONENTS.join(" and "),
                        leader.component
                    ),
                ));
            }
            let holder = match leader.holder.as_deref() {
                None => None,
                Some("none") => Some(None),
                Some(host) if self.control_plane_hosts.iter().any(|h| h == host) => {
                    Some(Some(host.to_string()))
                }
                Some(host) => {
                    return Err(self.error(
                        &join_key(&p, "holder"),
                        format!(
                            "unknown control-plane host {host:?} (the hosts are {}), or none",
                            self.control_plane_hosts.join(", ")
                        ),
                    ));
                }
            };
            let transitions = self.count(&leader.transitions, &join_key(&p, "transitions"))?;
            if holder.is_none() && transitions.is_none() {
                return Err(self.error(&p, "name at least one of holder, transitions"));
            }
            Check::Leader {
                component: leader.component.clone(),
                holder,
                transitions,
            }
        } else if let Some(runtime) = &entry.runtime {
            let p = join_key(path, "runtime");
            let node = match &runtime.node {
                Some(name) => Some(self.node(name, &join_key(&p, "node"))?),
                None => None,
            };
            let containers = self.count_at(&runtime.containers, &p, "containers")?;
            let sandboxes = self.count_at(&runtime.sandboxes, &p, "sandboxes")?;
            if containers.is_none() && sandboxes.is_none() {
                return Err(self.error(&p, "name at least one of containers, sandboxes"));
            }
            Check::Runtime {
                node,
                containers,
                sandboxes,
            }
        } else if let Some(etcd) = &entry.etcd {
            let p = join_key(path, "etcd");
            let known = |name: &str, field: &str| -> Result<String, ScenarioError> {
                if self.etcd_members.iter().any(|m| m == name) {
                    Ok(name.to_string())
                } else {
                    Err(self.error(
                        &join_key(&p, field),
                        format!(
                            "unknown etcd member {name:?} (the members are {})",
                            self.etcd_members.join(", ")
                        ),
                    ))
                }
            };
            let leader = match etcd.leader.as_deref() {
                None => None,
                Some("none") => Some(None),
                Some("any") => Some(Some("any".to_string())),
                Some(name) => Some(Some(known(name, "leader")?)),
            };
            let alarm = match etcd.alarm.as_deref() {
                None => None,
                Some("none") => Some(None),
                Some("NOSPACE") => Some(Some("NOSPACE".to_string())),
                Some(other) => {
                    return Err(self.error(
                        &join_key(&p, "alarm"),
                        format!("an etcd alarm is NOSPACE or none, not {other:?}"),
                    ));
                }
            };
            let member = etcd
                .member
                .as_deref()
                .map(|name| known(name, "member"))
                .transpose()?;
            if member.is_some() && etcd.revision.is_none() && etcd.behind.is_none() {
                return Err(self.error(
                    &join_key(&p, "member"),
                    "`member` selects whose `revision` or `behind` is checked: give one of them",
                ));
            }
            Check::Etcd {
                leader,
                term: self.count(&etcd.term, &join_key(&p, "term"))?,
                alarm,
                member,
                revision: self.count(&etcd.revision, &join_key(&p, "revision"))?,
                behind: self.count(&etcd.behind, &join_key(&p, "behind"))?,
            }
        } else if let Some(memory) = &entry.node_memory {
            let p = join_key(path, "nodeMemory");
            let node = self.node(&memory.node, &join_key(&p, "node"))?;
            let in_use = BytesCmp::parse(&memory.in_use.0)
                .map_err(|why| self.error(&join_key(&p, "inUse"), why))?;
            Check::NodeMemory { node, in_use }
        } else if let Some(disk) = &entry.node_disk {
            let p = join_key(path, "nodeDisk");
            let node = self.node(&disk.node, &join_key(&p, "node"))?;
            let available = disk
                .available
                .as_ref()
                .map(|v| {
                    BytesCmp::parse(&v.0).map_err(|why| self.error(&join_key(&p, "available"), why))
                })
                .transpose()?;
            if available.is_none() && disk.images.is_empty() && disk.no_images.is_empty() {
                return Err(self.error(&p, "name at least one of available, images, noImages"));
            }
            Check::NodeDisk {
                node,
                available,
                images: disk.images.clone(),
                no_images: disk.no_images.clone(),
            }
        } else if let Some(zone) = &entry.zone {
            let p = join_key(path, "zone");
            if let Some(state) = &zone.state
                && !ZONE_STATES.contains(&state.as_str())
            {
                return Err(self.error(
                    &join_key(&p, "state"),
                    format!(
                        "unknown zone state {state:?} (use one of {})",
                        ZONE_STATES.join(", ")
                    ),
                ));
            }
            let taint_interval = zone
                .taint_interval
                .as_ref()
                .map(|d| self.duration(d, &join_key(&p, "taintInterval")))
                .transpose()?;
            let tainted = self.count_at(&zone.tainted, &p, "tainted")?;
            if zone.state.is_none() && tainted.is_none() && taint_interval.is_none() {
                return Err(self.error(&p, "name at least one of state, tainted, taintInterval"));
            }
            Check::Zone {
                name: zone.name.clone(),
                state: zone.state.clone(),
                tainted,
                taint_interval,
            }
        } else if let Some(node) = &entry.node {
            let p = join_key(path, "node");
            let name = self.node(&node.name, &join_key(&p, "name"))?;
            let ready = node
                .ready
                .as_deref()
                .map(|status| {
                    parse_condition_status(status)
                        .map_err(|why| self.error(&join_key(&p, "ready"), why))
                })
                .transpose()?;
            let memory_pressure = node
                .memory_pressure
                .as_deref()
                .map(|status| {
                    parse_condition_status(status)
                        .map_err(|why| self.error(&join_key(&p, "memoryPressure"), why))
                })
                .transpose()?;
            let disk_pressure = node
                .disk_pressure
                .as_deref()
                .map(|status| {
                    parse_condition_status(status)
                        .map_err(|why| self.error(&join_key(&p, "diskPressure"), why))
                })
                .transpose()?;
            if ready.is_none()
                && memory_pressure.is_none()
                && disk_pressure.is_none()
                && node.taints.is_empty()
                && node.untainted.is_empty()
            {
                return Err(self.error(
                    &p,
                    "name at least one of ready, memoryPressure, diskPressure, taints, untainted",
                ));
            }
            Check::Node {
                name,
                ready,
                memory_pressure,
                disk_pressure,
                taints: node.taints.clone(),
                untainted: node.untainted.clone(),
            }
        } else {
            let endpoints = entry.endpoints.as_ref().expect("one check is given");
            let p = join_key(path, "endpoints");
            let node = endpoints
                .node
                .as_deref()
                .map(|node| self.node(node, &join_key(&p, "node")))
                .transpose()?;
            Check::Endpoints {
                namespace: namespace_of(Kind::Service, endpoints.namespace.as_deref()),
                service: endpoints.service.clone(),
                node,
                count: Count::parse(&endpoints.count.0)
                    .map_err(|why| self.error(&join_key(&p, "count"), why))?,
            }
        };
        Ok(Expectation {
            name: entry.name.clone(),
            at,
            check,
        })
    }
}

/// `{path: FILE}` (and nothing else) names a file of manifests.
fn include_path(value: &serde_json::Value) -> Option<&str> {
    let serde_json::Value::Object(map) = value else {
        return None;
    };
    if map.len() != 1 {
        return None;
    }
    map.get("path").and_then(serde_json::Value::as_str)
}

fn namespace_of(kind: Kind, namespace: Option<&str>) -> String {
    if kind.namespaced() {
        namespace
            .unwrap_or(manifest::defaults::NAMESPACE)
            .to_string()
    } else {
        String::new()
    }
}

fn parse_condition_status(text: &str) -> Result<ConditionStatus, String> {
    match text {
        "True" => Ok(ConditionStatus::True),
        "False" => Ok(ConditionStatus::False),
        "Unknown" => Ok(ConditionStatus::Unknown),
        other => Err(format!(
            "unsupported value {other:?}: supported values: \"True\", \"False\", \"Unknown\""
        )),
    }
}

fn parse_qos_class(text: &str) -> Result<components::api::QosClass, String> {
    use components::api::QosClass;
    [QosClass::Guaranteed, QosClass::Burstable, QosClass::BestEffort]
        .into_iter()
        .find(|class| class.name() == text)
        .ok_or_else(|| {
            format!(
                "unsupported value {text:?}: supported values: \"Guaranteed\", \"Burstable\", \"BestEffort\""
            )
        })
}

fn parse_phase(text: &str) -> Result<PodPhase, String> {
    [
        PodPhase::Pending,
        PodPhase::Running,
        PodPhase::Succeeded,
        PodPhase::Failed,
        PodPhase::Unknown,
    ]
    .into_iter()
    .find(|phase| phase.name() == text)
    .ok_or_else(|| {
        format!("unsupported value {text:?}: supported values: \"Pending\", \"Running\", \"Succeeded\", \"Failed\", \"Unknown\"")
    })
}

/// A node pool name must make valid node names (`<pool>-<i>`): an RFC 1123 label.
/// An extended resource name as upstream `IsExtendedResourceName` accepts it: a
/// domain-prefixed name (`nvidia.com/gpu`) outside the `kubernetes.io/` namespace, not
/// starting with `requests.`.
fn check_extended_resource_name(name: &str) -> Result<(), String> {
    let Some((domain, resource)) = name.split_once('/') else {
        return Err(format!(
            "{name:?} is not an extended resource name: it needs a domain prefix, like nvidia.com/gpu"
        ));
    };
    let plain = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
            && part.starts_with(|c: char| c.is_ascii_alphanumeric())
            && part.ends_with(|c: char| c.is_ascii_alphanumeric())
    };
    if !plain(domain) || !plain(resource) || resource.contains('/') {
        return Err(format!("{name:?} is not a valid resource name"));
    }
    if domain == "kubernetes.io"
        || domain.ends_with(".kubernetes.io")
        || name.starts_with("requests.")
    {
        return Err(format!(
            "{name:?} is in the kubernetes.io namespace, which extended resources may not use"
        ));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), String> {
    if crate::manifest::is_dns_label(name, 50) {
        Ok(())
    } else {
        Err(format!(
            "invalid pool name {name:?}: use lower-case letters, digits and '-' (at most 50)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use components::filesystem::DiskGrowth;
    use components::kernel::MemoryGrowth;

    const MINIMAL: &str = "name: t
duration: 2m
cluster:
  nodePools:
    - {name: node, count: 2, cpu: 4, memory: 8Gi}
";

    fn parse_text(text: &str) -> Result<Scenario, ScenarioError> {
        parse("scenario.yaml", text, &Includes::Unavailable)
    }

    fn error_of(text: &str) -> String {
        parse_text(text).unwrap_err().to_string()
    }

    #[test]
    fn etcd_members_faults_etcdctl_and_checks_parse_and_their_errors_are_located() {
        let text = "name: t
duration: 5m
cluster:
  controlPlane: {etcdMembers: 3, quotaBackendBytes: 1Mi}
  nodePools:
    - {name: node, count: 2, cpu: 4, memory: 8Gi}
timeline:
  - {at: 1m, kill-etcd-member: etcd-2}
  - {at: 2m, restart-etcd-member: etcd-2}
  - {at: 2m, wipe-etcd-member: etcd-3}
  - {at: 3m, etcd-snapshot: before}
  - {at: 4m, etcd-restore: before}
  - {at: 4m, etcd-defrag: all}
  - {at: 4m, partition: {isolate: etcd-1}}
expectations:
  - name: e
    etcd: {leader: none, term: '>= 2', alarm: NOSPACE, member: etcd-3, revision: '< 10', behind: 0}
";
        let scenario = parse_text(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(scenario.cluster.etcd.members, 3);
        assert_eq!(scenario.cluster.etcd.quota_backend_bytes, 1 << 20);
        assert!(
            scenario.cluster.etcd.etcdctl,
            "etcdctl actions deploy etcdctl"
        );
        assert!(matches!(
            scenario.timeline[0].step,
            Step::EtcdMember {
                index: 1,
                fault: EtcdMemberFault::Kill,
                ..
            }
        ));
        assert!(matches!(
            &scenario.timeline[3].step,
            Step::Etcdctl(EtcdctlCommand::SnapshotSave(name)) if name == "before"
        ));
        assert!(matches!(
            &scenario.expectations[0].check,
            Check::Etcd { leader: Some(None), alarm: Some(Some(_)), member: Some(m), .. } if m == "etcd-3"
        ));
        let bad_member = text.replace("kill-etcd-member: etcd-2", "kill-etcd-member: etcd-7");
        assert_eq!(
            error_of(&bad_member),
            "scenario.yaml:8:32: timeline[0].kill-etcd-member: unknown etcd member \"etcd-7\" (the members are etcd-1, etcd-2, etcd-3)"
        );
        let even = text.replace("etcdMembers: 3", "etcdMembers: 2");
        assert!(error_of(&even).contains("etcd runs 1, 3 or 5 members, not 2"));
        let defrag = text.replace("etcd-defrag: all", "etcd-defrag: etcd-1");
        assert!(error_of(&defrag).contains("the only value is `all`"));
        let alarm = text.replace("alarm: NOSPACE", "alarm: CORRUPT");
        assert!(error_of(&alarm).contains("an etcd alarm is NOSPACE or none"));
    }

    #[test]
    fn apiserver_replicas_restarts_and_request_checks_parse_and_their_errors_are_located() {
        let text = "name: t
duration: 5m
cluster:
  controlPlane: {apiservers: 2}
  nodePools:
    - {name: node, count: 2, cpu: 4, memory: 8Gi}
timeline:
  - {at: 1m, restart-apiserver: control-plane-2}
  - {at: 2m, restart-apiserver: {host: control-plane-1, for: 20s}}
  - {at: 3m, partition: {isolate: control-plane-2}}
expectations:
  - {name: storm, at: 4m, requests: {verb: list, from: 1m, count: \">= 3\", errors: 0}}
";
        let scenario = parse_text(text).expect("parses");
        assert_eq!(scenario.cluster.control_plane.apiservers, 2);
        let restarts: Vec<(usize, SimDuration)> = scenario
            .timeline
            .iter()
            .filter_map(|t| match &t.step {
                Step::RestartApiserver {
                    index, down_for, ..
                } => Some((*index, *down_for)),
                _ => None,
            })
            .collect();
        assert_eq!(
            restarts,
            [(1, SimDuration::ZERO), (0, SimDuration::from_secs(20))]
        );
        match &scenario.expectations[0].check {
            Check::Requests { verb, from, to, .. } => {
                assert_eq!(components::apiserver::requests::VERBS[*verb], "list");
                assert_eq!(*from, SimTime::ZERO + SimDuration::from_secs(60));
                assert_eq!(*to, None);
            }
            other => panic!("{other:?}"),
        }
        let cases = [
            (
                text.replace("apiservers: 2", "apiservers: 0"),
                "scenario.yaml:4:30: cluster.controlPlane.apiservers: must be between 1 and 7",
            ),
            (
                text.replace(
                    "restart-apiserver: control-plane-2",
                    "restart-apiserver: control-plane-3",
                ),
                "scenario.yaml:8:33: timeline[0].restart-apiserver: no kube-apiserver runs on \"control-plane-3\" (they run on control-plane-1, control-plane-2)",
            ),
            (
                text.replace("verb: list", "verb: patch"),
                "scenario.yaml:12:44: expectations[0].requests.verb: unknown verb \"patch\" (use one of create, update, update-status, delete, get, list, watch, bind, evict)",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error_of(&text), expected);
        }
    }

    #[test]
    fn growth_rates_and_their_bounds_parse_and_their_errors_are_located() {
        let with_image = |image: &str| {
            format!("{MINIMAL}  images:\n    - {{name: app, size: 10Mi, startup: 1s, {image}}}\n")
        };
        let scenario = parse_text(&with_image(
            "memoryGrowth: 16Mi/s, memoryMax: 1Gi, diskGrowth: 1Mi/m",
        ))
        .unwrap();
        assert!(format!("{scenario:?}").contains("max_bytes: Some(1073741824)"));
        let unbounded = error_of(&with_image("memoryMax: 1Gi"));
        assert!(unbounded.contains("memoryMax bounds a memoryGrowth, and there is none"));
        let unbounded = error_of(&with_image("diskMax: 1Gi"));
        assert!(unbounded.contains("diskMax bounds a diskGrowth, and there is none"));
        let bad = error_of(&with_image("diskGrowth: 1Mi"));
        assert!(bad.contains("invalid disk growth \"1Mi\""), "{bad}");
        assert!(bad.contains("diskGrowth"), "{bad}");
    }

    #[test]
    fn pool_runtimes_and_registry_outages_parse_and_their_errors_are_located() {
        let text = "name: t
duration: 5m
cluster:
  nodePools:
    - {name: node, count: 1, cpu: 4, memory: 8Gi}
    - {name: vm, count: 1, cpu: 4, memory: 8Gi, runtime: cri-o, runtimeHandlers: [runc, kata]}
    - {name: sandbox, count: 1, cpu: 4, memory: 8Gi, runtimeHandlers: [runc, runsc], defaultRuntimeHandler: runsc}
timeline:
  - {at: 20s, registry-outage: {for: 2m}}
";
        let scenario = parse_text(text).unwrap();
        let pools = &scenario.cluster.node_pools;
        assert!(
            pools[0].runtime.is_none(),
            "the cluster's containerd with runc"
        );
        let vm = pools[1].runtime.as_ref().unwrap();
        assert_eq!(vm.cri, CriRuntime::CriO);
        assert_eq!(vm.name, "cri-o");
        // CRI-O's default crun is not configured here: the first listed is the default.
        assert_eq!(&*vm.default_handler, "runc");
        assert_eq!(vm.handlers[1].oci, OciRuntime::Kata);
        let sandbox = pools[2].runtime.as_ref().unwrap();
        assert_eq!(sandbox.cri, CriRuntime::Containerd);
        assert_eq!(&*sandbox.default_handler, "runsc");
        assert!(matches!(
            scenario.timeline[0].step,
            Step::RegistryOutage { duration, host: None } if duration == SimDuration::from_secs(120)
        ));

        for (from, to, field, why) in [
            (
                "runtime: cri-o",
                "runtime: docker",
                "nodePools[1].runtime",
                "unsupported runtime",
            ),
            (
                "[runc, kata]",
                "[runc, youki]",
                "nodePools[1].runtimeHandlers[1]",
                "unknown handler",
            ),
            (
                "[runc, kata]",
                "[kata, kata]",
                "nodePools[1].runtimeHandlers[1]",
                "listed twice",
            ),
            (
                "defaultRuntimeHandler: runsc",
                "defaultRuntimeHandler: kata",
                "nodePools[2].defaultRuntimeHandler",
                "not among",
            ),
            (
                "{for: 2m}",
                "{for: 0s}",
                "timeline[0].registry-outage.for",
                "longer than 0s",
            ),
            (
                "{for: 2m}",
                "{for: 2m, host: \"a/b\"}",
                "timeline[0].registry-outage.host",
                "not a registry host",
            ),
        ] {
            let message = error_of(&text.replace(from, to));
            assert!(
                message.contains(field) && message.contains(why),
                "{from} -> {to}: {message}"
            );
        }
    }

    #[test]
    fn rollout_actions_parse_into_kubectl_actions() {
        let text = format!(
            "{MINIMAL}timeline:
  - {{at: 10s, set-image: {{name: web, container: nginx, image: \"nginx:1.16\"}}}}
  - {{at: 20s, rollout-pause: web}}
  - {{at: 30s, rollout-resume: shop/web}}
  - {{at: 40s, rollout-undo: {{name: web}}}}
  - {{at: 50s, rollout-undo: {{name: web, toRevision: 2}}}}
"
        );
        let scenario = parse_text(&text).unwrap();
        let described: Vec<String> = scenario
            .timeline
            .iter()
            .map(|t| t.step.describe())
            .collect();
        assert_eq!(
            described,
            [
                "kubectl set image deployment/web nginx=nginx:1.16 -n default",
                "kubectl rollout pause deployment/web -n default",
                "kubectl rollout resume deployment/web -n shop",
                "kubectl rollout undo deployment/web -n default",
                "kubectl rollout undo deployment/web --to-revision=2 -n default",
            ]
        );
    }

    #[test]
    fn rollout_action_errors_are_located() {
        let error = error_of(&format!(
            "{MINIMAL}timeline:\n  - {{at: 10s, set-image: {{name: web, container: \"\", image: x}}}}\n"
        ));
        assert!(
            error.starts_with("scenario.yaml:7:")
                && error.contains("set-image needs a non-empty container"),
            "{error}"
        );
        let cases = [
            (
                "rollout-undo: {name: web, toRevision: 0}",
                "toRevision is a revision number from 1",
            ),
            (
                "rollout-pause: a/b/c",
                "expected a Deployment as NAME or NAMESPACE/NAME",
            ),
            ("rollout-undo: {name: web, revision: 1}", "revision"),
        ];
        for (action, expected) in cases {
            let error = error_of(&format!("{MINIMAL}timeline:\n  - {{at: 10s, {action}}}\n"));
            assert!(error.contains(expected), "{action}: {error}");
        }
    }

    #[test]
    fn unhealthy_after_and_container_checks_by_labels_parse() {
        let text = format!(
            "{MINIMAL}  images:\n    - {{name: web:1, unhealthyAfter: 60s}}\nexpectations:\n  - name: restarted\n    container: {{labels: {{app: web}}, name: web, restartCount: 1}}\n"
        );
        let scenario = parse_text(&text).unwrap();
        let behaviour = &scenario.cluster.registry.images[0].behaviour;
        assert_eq!(behaviour.unhealthy_after, Some(SimDuration::from_secs(60)));
        let Check::Container { pod, .. } = &scenario.expectations[0].check else {
            panic!("a container check");
        };
        assert_eq!(*pod, PodRef::Labels(Labels::from_pairs([("app", "web")])));
        let both = text.replace("{labels: {app: web},", "{pod: web-0, labels: {app: web},");
        let error = error_of(&both);
        assert!(
            error.starts_with("scenario.yaml:10:")
                && error.contains("name exactly one of pod and labels"),
            "{error}"
        );
        let bad = text.replace("unhealthyAfter: 60s", "unhealthyAfter: soon");
        assert!(
            error_of(&bad).contains("unhealthyAfter"),
            "{}",
            error_of(&bad)
        );
    }

    #[test]
    fn minimal_scenario_has_upstream_defaults() {
        let scenario = parse_text(MINIMAL).unwrap();
        assert_eq!(scenario.seed, DEFAULT_SEED);
        assert_eq!(scenario.duration, SimDuration::from_secs(120));
        assert_eq!(scenario.node_names, ["node-1", "node-2"]);
        let pool = &scenario.cluster.node_pools[0];
        assert_eq!(pool.capacity.cpu_millicores, Some(4000));
        assert_eq!(pool.capacity.memory_bytes, Some(8 << 30));
        assert_eq!(pool.capacity.pods, Some(110));
        assert_eq!(
            scenario
                .cluster
                .controller_manager
                .node_monitor_grace_period,
            SimDuration::from_secs(50)
        );
    }

    const SCHEDULER_SCENARIO: &str = "name: s
duration: 1m
cluster:
  nodePools:
    - name: gpu
      count: 1
      cpu: 8
      memory: 32Gi
      extendedResources: {nvidia.com/gpu: 4}
  kubeScheduler:
    podMaxBackoffSeconds: 20
    config:
      apiVersion: kubescheduler.config.k8s.io/v1
      kind: KubeSchedulerConfiguration
      percentageOfNodesToScore: 50
      profiles:
      - plugins:
          score:
            disabled: [{name: ImageLocality}]
        pluginConfig:
        - name: NodeResourcesFit
          args: {scoringStrategy: {type: MostAllocated}}
";

    #[test]
    fn scheduler_configuration_and_extended_resources_reach_the_cluster() {
        let scenario = parse_text(SCHEDULER_SCENARIO).unwrap();
        let pool = &scenario.cluster.node_pools[0];
        assert_eq!(pool.extended_resources, [(s("nvidia.com/gpu"), 4)]);
        let scheduler = &scenario.cluster.scheduler;
        assert_eq!(scheduler.percentage_of_nodes_to_score, 50);
        // The section's own field overrides the configuration's default of 10 s.
        assert_eq!(scheduler.pod_max_backoff, SimDuration::from_secs(20));
        let profile = &scheduler.profiles[0];
        assert_eq!(
            profile.fit.strategy,
            components::scheduler::plugins::resources::ScoringStrategy::MostAllocated
        );
        assert_eq!(
            profile.weight(components::scheduler::profile::Plugin::ImageLocality),
            None
        );
    }

    #[test]
    fn scheduler_configuration_errors_point_into_the_scenario() {
        let text = SCHEDULER_SCENARIO.replace("MostAllocated", "Packed");
        let message = parse_text(&text).unwrap_err().to_string();
        assert!(
            message.starts_with("scenario.yaml:22:")
                && message.contains(
                    "cluster.kubeScheduler.config.profiles[0].pluginConfig[0].args.scoringStrategy.type"
                ),
            "{message}"
        );
        let text = SCHEDULER_SCENARIO.replace("nvidia.com/gpu", "gpu");
        let message = parse_text(&text).unwrap_err().to_string();
        assert!(
            message.starts_with("scenario.yaml:9:")
                && message.contains("extendedResources.gpu")
                && message.contains("domain prefix"),
            "{message}"
        );
    }

    const JOINING: &str = "name: j
duration: 5m
cluster:
  nodePools:
    - {name: node, count: 1, cpu: 4, memory: 8Gi}
    - name: late
      count: 2
      cpu: 4
      memory: 8Gi
      joinAt: 2m
timeline:
  - {at: 3m, kill-node: late-1}
";

    #[test]
    fn a_pool_with_join_at_joins_then_and_is_narrated_as_joining() {
        let scenario = parse_text(JOINING).unwrap();
        assert_eq!(scenario.node_names, ["node-1", "late-1", "late-2"]);
        assert_eq!(scenario.cluster.node_pools[0].join_at, None);
        assert_eq!(
            scenario.cluster.node_pools[1].join_at,
            Some(SimDuration::from_secs(120))
        );
        let joins: Vec<(SimTime, String)> = scenario
            .timeline
            .iter()
            .filter(|timed| matches!(timed.step, Step::NodeJoins { .. }))
            .map(|timed| (timed.at, timed.step.describe()))
            .collect();
        let at = SimTime::ZERO + SimDuration::from_secs(120);
        assert_eq!(
            joins,
            [
                (
                    at,
                    "node late-1 joins the cluster: a new machine of pool late powers on and its kubelet starts".to_string()
                ),
                (
                    at,
                    "node late-2 joins the cluster: a new machine of pool late powers on and its kubelet starts".to_string()
                ),
            ]
        );
    }

    #[test]
    fn join_at_errors_are_located() {
        let message = error_of(&JOINING.replace("joinAt: 2m", "joinAt: soon"));
        assert!(
            message.starts_with("scenario.yaml:10:")
                && message.contains("cluster.nodePools[1].joinAt"),
            "{message}"
        );
        let message = error_of(&JOINING.replace("joinAt: 2m", "joinAt: 0s"));
        assert!(
            message.contains("cluster.nodePools[1].joinAt") && message.contains("later than 0s"),
            "{message}"
        );
        let message = error_of(&JOINING.replace("joinAt: 2m", "joinAt: 6m"));
        assert!(
            message.contains("cluster.nodePools[1].joinAt")
                && message.contains("after the end of the run"),
            "{message}"
        );
        // A node cannot crash or restart before it has joined.
        for step in [
            "kill-node",
            "restart-node",
            "restart-kubelet",
            "crash-runtime",
        ] {
            let text = JOINING.replace(
                "{at: 3m, kill-node: late-1}",
                &format!("{{at: 90s, {step}: late-1}}"),
            );
            let message = error_of(&text);
            assert!(
                message.starts_with("scenario.yaml:12:")
                    && message.contains(&format!("timeline[0].{step}"))
                    && message.contains("joins at 2m"),
                "{message}"
            );
        }
    }

    #[test]
    fn node_component_outages_take_a_node_and_an_optional_duration() {
        let text = format!(
            "{MINIMAL}timeline:\n  - {{at: 10s, restart-kubelet: node-1}}\n  - {{at: 20s, restart-kubelet: {{node: node-2, for: 90s}}}}\n  - {{at: 30s, crash-runtime: node-1}}\n  - {{at: 40s, crash-runtime: {{node: node-2, for: 1m}}}}\n"
        );
        let scenario = parse_text(&text).expect("valid");
        let steps: Vec<String> = scenario
            .timeline
            .iter()
            .map(|timed| timed.step.describe())
            .collect();
        assert_eq!(
            steps,
            [
                "the kubelet on node node-1 restarts (systemctl restart kubelet)",
                "the kubelet on node node-2 stops; it starts again 1m30s later",
                "the container runtime on node node-1 crashes; it starts again 5s later",
                "the container runtime on node node-2 crashes; it starts again 1m later",
            ]
        );
        let unknown = format!("{MINIMAL}timeline:\n  - {{at: 10s, crash-runtime: node-9}}\n");
        assert!(error_of(&unknown).contains("timeline[0].crash-runtime"));
        let extra = format!(
            "{MINIMAL}timeline:\n  - {{at: 10s, restart-kubelet: {{node: node-1, after: 5s}}}}\n"
        );
        assert!(error_of(&extra).contains("after"), "{}", error_of(&extra));
        let bad = format!("{MINIMAL}timeline:\n  - {{at: 10s, restart-kubelet: [node-1]}}\n");
        assert!(
            error_of(&bad).contains("name the node"),
            "{}",
            error_of(&bad)
        );
    }

    #[test]
    fn bad_quantity_is_located() {
        let text = MINIMAL.replace("memory: 8Gi}", "memory: 12 apples}");
        assert_eq!(
            error_of(&text),
            "scenario.yaml:5:46: cluster.nodePools[0].memory: invalid quantity \"12 apples\": unknown suffix (use m, k, M, G, Ki, Mi, Gi, ... or e<n>)"
        );
    }

    #[test]
    fn image_leaks_crashes_and_eviction_settings_parse_and_their_errors_are_located() {
        let text = format!(
            "{MINIMAL}  images:\n    - {{name: leaky, memory: 64Mi, memoryGrowth: 10Mi/s, memoryMax: 1Gi, crash: {{probability: 10%, after: 30s}}}}\n  kubelet: {{evictionHard: {{memory.available: 200Mi}}, evictionPressureTransitionPeriod: 1m}}\n"
        );
        let scenario = parse_text(&text).unwrap();
        let behaviour = &scenario.cluster.registry.images[0].behaviour;
        assert_eq!(
            behaviour.memory_growth,
            Some(MemoryGrowth {
                bytes: 10 << 20,
                per: SimDuration::from_secs(1),
                max_bytes: Some(1 << 30),
            })
        );
        assert_eq!(
            behaviour.crash,
            Some(CrashChance {
                parts_per_million: 100_000,
                after: SimDuration::from_secs(30),
                exit_code: 1,
            })
        );
        let eviction = &scenario.cluster.kubelet.eviction;
        assert_eq!(eviction.memory_available_hard_bytes, 200 << 20);
        assert_eq!(
            eviction.eviction_pressure_transition_period,
            SimDuration::from_mins(1)
        );
        for (bad, error) in [
            (
                "memoryGrowth: 10Mi",
                "cluster.images[0].memoryGrowth: invalid memory growth \"10Mi\": expected a quantity per unit, like 10Mi/s or 60Mi/m",
            ),
            (
                "memoryMax: 1Gi",
                "cluster.images[0].memoryMax: memoryMax bounds a memoryGrowth, and there is none",
            ),
            (
                "crash: {probability: 2, after: 1s}",
                "cluster.images[0].crash.probability: invalid probability \"2\": a probability is at most 1 (100%)",
            ),
        ] {
            let text = format!("{MINIMAL}  images:\n    - {{name: x, {bad}}}\n");
            let found = error_of(&text);
            assert!(found.ends_with(error), "{found}");
        }
        let text = format!("{MINIMAL}  kubelet: {{evictionHard: {{pid.available: 10%}}}}\n");
        assert!(
            error_of(&text).ends_with(
                "cluster.kubelet.evictionHard.pid.available: kubesim models memory.available, nodefs.available, nodefs.inodesFree, imagefs.available and imagefs.inodesFree, not pid.available"
            ),
            "{}",
            error_of(&text)
        );
    }

    #[test]
    fn disk_writes_filesystems_and_disk_thresholds_parse_and_their_errors_are_located() {
        let text = format!(
            "{MINIMAL}  images:\n    - {{name: logger, diskGrowth: 4Mi/s, diskMax: 2Gi}}\n  kubelet: {{evictionHard: {{imagefs.inodesFree: 1000, nodefs.available: 7.5%, imagefs.available: 2Gi}}, evictionMinimumReclaim: {{nodefs.available: 500Mi, memory.available: 64Mi}}}}\n"
        )
        .replace(
            "memory: 8Gi}",
            "memory: 8Gi, ephemeral-storage: 10Gi, nodefs: {used: 6Gi, usedInodes: 1000}, imagefs: {capacity: 20Gi, inodes: 4096}}",
        );
        let scenario = parse_text(&text).unwrap();
        assert_eq!(
            scenario.cluster.registry.images[0].behaviour.disk_growth,
            Some(DiskGrowth {
                bytes: 4 << 20,
                per: SimDuration::from_secs(1),
                max_bytes: Some(2 << 30),
            })
        );
        let pool = &scenario.cluster.node_pools[0];
        let layout = pool
            .node_filesystems()
            .expect("a node with ephemeral storage");
        assert_eq!(
            layout.nodefs,
            FilesystemSpec {
                capacity_bytes: 10 << 30,
                inodes: (10 << 30) / 16384,
                used_bytes: 6 << 30,
                used_inodes: 1000,
            }
        );
        assert_eq!(
            layout.imagefs,
            Some(FilesystemSpec {
                capacity_bytes: 20 << 30,
                inodes: 4096,
                used_bytes: 0,
                used_inodes: 0,
            })
        );
        // A given evictionHard replaces the defaults: no memory.available threshold now,
        // and the signals in the manager's order.
        let eviction = &scenario.cluster.kubelet.eviction;
        assert_eq!(eviction.memory_minimum_reclaim_bytes, 64 << 20);
        assert_eq!(
            eviction
                .disk_minimum_reclaim
                .get(&DiskSignal::NodeFsAvailable),
            Some(&ThresholdValue::Quantity(500 << 20))
        );
        assert_eq!(eviction.memory_available_hard_bytes, 0);
        assert_eq!(
            eviction.disk_hard,
            [
                DiskThreshold {
                    signal: DiskSignal::NodeFsAvailable,
                    value: ThresholdValue::Percentage(7.5 / 100.0),
                },
                DiskThreshold {
                    signal: DiskSignal::ImageFsAvailable,
                    value: ThresholdValue::Quantity(2 << 30),
                },
                DiskThreshold {
                    signal: DiskSignal::ImageFsInodesFree,
                    value: ThresholdValue::Quantity(1000),
                },
            ]
        );
        for (bad, error) in [
            (
                "diskGrowth: 4Mi",
                "cluster.images[0].diskGrowth: invalid disk growth \"4Mi\": expected a quantity per unit, like 10Mi/s or 60Mi/m",
            ),
            (
                "diskMax: 1Gi",
                "cluster.images[0].diskMax: diskMax bounds a diskGrowth, and there is none",
            ),
        ] {
            let text = format!("{MINIMAL}  images:\n    - {{name: x, {bad}}}\n");
            let found = error_of(&text);
            assert!(found.ends_with(error), "{found}");
        }
        for (pool, error) in [
            (
                "nodefs: {used: 1Gi}}",
                "cluster.nodePools[0].nodefs: the node's filesystems need its ephemeral-storage (the nodefs's size)",
            ),
            (
                "ephemeral-storage: 1Gi, nodefs: {used: 2Gi}}",
                "cluster.nodePools[0].nodefs.used: more than the filesystem holds",
            ),
            (
                "ephemeral-storage: 1Gi, nodefs: {capacity: 2Gi}}",
                "cluster.nodePools[0].nodefs.capacity: the nodefs's size is the node's ephemeral-storage",
            ),
            (
                "ephemeral-storage: 1Gi, imagefs: {inodes: 10}}",
                "cluster.nodePools[0].imagefs: a dedicated imagefs needs its capacity",
            ),
        ] {
            let text = MINIMAL.replace("memory: 8Gi}", &format!("memory: 8Gi, {pool}"));
            let found = error_of(&text);
            assert!(found.ends_with(error), "{found}");
        }
        let text = format!("{MINIMAL}  kubelet: {{evictionHard: {{nodefs.available: 110%}}}}\n");
        assert!(
            error_of(&text).ends_with(
                "cluster.kubelet.evictionHard.nodefs.available: invalid percentage \"110%\""
            ),
            "{}",
            error_of(&text)
        );
    }

    #[test]
    fn bad_duration_is_located() {
        let text = MINIMAL.replace("duration: 2m", "duration: 2 minutes");
        assert_eq!(
            error_of(&text),
            "scenario.yaml:2:11: duration: invalid duration \"2 minutes\": unknown unit \" minutes\" (use ns, us, ms, s, m or h)"
        );
    }

    #[test]
    fn unknown_field_is_located() {
        let text = MINIMAL.replace("cpu: 4,", "cpus: 4,");
        let error = error_of(&text);
        assert!(
            error.starts_with("scenario.yaml:5:30: cluster.nodePools[0].cpus: unknown field `cpus`, expected one of"),
            "{error}"
        );
    }

    #[test]
    fn leader_election_replicas_actions_and_checks_parse_and_their_errors_are_located() {
        let text = "name: t
duration: 2m
cluster:
  controlPlane: {schedulers: 2, controllerManagers: 3}
  kubeScheduler:
    leaderElection: {leaseDuration: 30s, renewDeadline: 20s, retryPeriod: 4s}
  kubeControllerManager:
    leaderElection: {leaderElect: false}
  nodePools:
    - {name: node, count: 2, cpu: 4, memory: 8Gi}
timeline:
  - {at: 10s, kill-component: kube-scheduler-1}
  - {at: 20s, start-component: kube-controller-manager-3}
expectations:
  - name: the standby leads
    leader: {component: kube-scheduler, holder: control-plane-2, transitions: 1}
";
        let scenario = parse_text(text).unwrap();
        let planes = &scenario.cluster.control_plane;
        assert_eq!((planes.schedulers, planes.controller_managers), (2, 3));
        let election = &scenario.cluster.scheduler.leader_election;
        assert_eq!(election.lease_duration, SimDuration::from_secs(30));
        assert_eq!(election.retry_period, SimDuration::from_secs(4));
        assert!(
            !scenario
                .cluster
                .controller_manager
                .leader_election
                .leader_elect
        );
        assert!(matches!(
            &scenario.timeline[0].step,
            Step::Component { name, kill: true } if name == "kube-scheduler-1"
        ));
        assert!(matches!(
            &scenario.expectations[0].check,
            Check::Leader { holder: Some(Some(host)), .. } if host == "control-plane-2"
        ));

        let bad = text.replace("renewDeadline: 20s", "renewDeadline: 4s");
        assert_eq!(
            error_of(&bad),
            "scenario.yaml:6:21: cluster.kubeScheduler.leaderElection: renewDeadline must be greater than retryPeriod*JitterFactor"
        );
        let bad = text.replace(
            "kill-component: kube-scheduler-1",
            "kill-component: kube-scheduler",
        );
        assert!(
            error_of(&bad).contains("timeline[0].kill-component: unknown component \"kube-scheduler\" (the replicas are kube-scheduler-1, kube-scheduler-2, kube-controller-manager-1, kube-controller-manager-2, kube-controller-manager-3)"),
            "{}",
            error_of(&bad)
        );
        let bad = text.replace("holder: control-plane-2", "holder: control-plane-9");
        assert!(error_of(&bad).contains("leader.holder: unknown control-plane host"));
    }

    #[test]
    fn unknown_node_in_timeline_is_located() {
        let text = format!("{MINIMAL}timeline:\n  - {{at: 1m, kill-node: node-9}}\n");
        assert_eq!(
            error_of(&text),
            "scenario.yaml:7:25: timeline[0].kill-node: unknown node \"node-9\" (the nodes are node-1, node-2)"
        );
    }

    #[test]
    fn timeline_after_the_end_is_rejected() {
        let text = format!("{MINIMAL}timeline:\n  - {{at: 3m, kill-node: node-1}}\n");
        assert!(
            error_of(&text)
                .contains("timeline[0].at: 3m is after the end of the run (duration 2m)")
        );
    }

    #[test]
    fn exactly_one_action_per_entry() {
        let text = format!(
            "{MINIMAL}timeline:\n  - {{at: 1m, kill-node: node-1, restart-node: node-1}}\n"
        );
        assert!(error_of(&text).contains("exactly one of apply"));
    }

    const WITH_WORKLOADS: &str = "name: t
duration: 2m
cluster:
  nodePools:
    - {name: node, count: 2, cpu: 4, memory: 8Gi}
workloads:
  web: |
    apiVersion: v1
    kind: Pod
    metadata:
      name: web
    spec:
      containers:
      - {name: web, image: nginx}
  api:
    - apiVersion: v1
      kind: Namespace
      metadata: {name: api}
timeline:
  - {at: 30s, apply: api}
  - {at: 1m, scale: {name: web, replicas: 2}}
expectations:
  - name: pod runs
    at: 1m
    pods: {phase: Running, count: 1}
  - name: deployment
    deployment: {name: web, available: \">= 2\"}
";

    #[test]
    fn workloads_apply_in_groups_and_unapplied_groups_start_at_one_second() {
        let scenario = parse_text(WITH_WORKLOADS).unwrap();
        assert_eq!(scenario.workloads.len(), 2);
        assert_eq!(scenario.timeline.len(), 3);
        assert_eq!(scenario.timeline[0].at, SimTime::ZERO + DEFAULT_APPLY_AT);
        assert_eq!(
            scenario.timeline[0].step.describe(),
            "kubectl apply: pod/default/web"
        );
        assert_eq!(
            scenario.timeline[1].step.describe(),
            "kubectl apply: namespace/api"
        );
        assert_eq!(
            scenario.timeline[2].step.describe(),
            "kubectl scale deployment web -n default --replicas=2"
        );
        assert_eq!(
            scenario.expectations[0].at,
            Some(SimTime::ZERO + SimDuration::from_secs(60))
        );
        assert_eq!(scenario.expectations[1].at, None);
    }

    #[test]
    fn manifest_errors_inside_a_string_point_into_the_scenario_file() {
        let text =
            WITH_WORKLOADS.replace("image: nginx}", "image: nginx, imagePullPolicy: Sometimes}");
        assert_eq!(
            error_of(&text),
            "scenario.yaml:14:52: workloads.web[0].spec.containers[0].imagePullPolicy: unsupported value \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\""
        );
    }

    #[test]
    fn unsupported_kind_in_a_list_is_located() {
        let text = WITH_WORKLOADS.replace("kind: Namespace", "kind: CronJob");
        let error = error_of(&text);
        assert!(
            error.starts_with("scenario.yaml:17:13: workloads.api[0].kind: unsupported kind CronJob in scenario.yaml:17"),
            "{error}"
        );
    }

    #[test]
    fn apply_of_an_unknown_group_is_located() {
        let text = WITH_WORKLOADS.replace("apply: api}", "apply: nope}");
        assert!(
            error_of(&text)
                .contains("timeline[0].apply: no workload group named \"nope\" (groups: web, api)")
        );
    }

    #[test]
    fn included_files_are_read_and_remembered() {
        let text = format!("{MINIMAL}workloads:\n  web: {{path: web.yaml}}\n");
        let files = BTreeMap::from([(
            "web.yaml".to_string(),
            "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80}]\n"
                .to_string(),
        )]);
        let scenario = parse("scenario.yaml", &text, &Includes::Embedded(files.clone())).unwrap();
        assert_eq!(scenario.source.files, files);
        let missing = parse("scenario.yaml", &text, &Includes::Unavailable).unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("scenario.yaml:7:15: workloads.web.path: cannot read web.yaml"),
            "{missing}"
        );
        let bad = BTreeMap::from([(
            "web.yaml".to_string(),
            "kind: CronJob\napiVersion: batch/v1\n".to_string(),
        )]);
        let error = parse("scenario.yaml", &text, &Includes::Embedded(bad))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("web.yaml:1:7: workloads.web[0].kind: unsupported kind CronJob"),
            "{error}"
        );
    }

    #[test]
    fn yaml_syntax_error_is_located() {
        let error = error_of("name: t\nduration: [2m\ncluster: {}\n");
        assert!(error.starts_with("scenario.yaml:3:"), "{error}");
        assert!(error.contains("YAML syntax error"), "{error}");
    }

    #[test]
    fn expectation_counts_and_phases_are_checked() {
        let text = WITH_WORKLOADS.replace("phase: Running", "phase: Runing");
        assert!(
            error_of(&text).contains("expectations[0].pods.phase: unsupported value \"Runing\"")
        );
        let text = WITH_WORKLOADS.replace("\">= 2\"", "lots");
        assert!(
            error_of(&text)
                .contains("expectations[1].deployment.available: invalid count \"lots\"")
        );
    }

    #[test]
    fn container_expectations_parse_and_name_a_bad_state() {
        let text = format!(
            "{MINIMAL}expectations:
  - {{name: c, at: 20s, container: {{pod: crasher, name: app, state: Running, restartCount: 2, startedAt: 16s, podStatus: Running}}}}
"
        );
        let scenario = parse_text(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            scenario.expectations[0].check,
            Check::Container {
                namespace: "default".to_string(),
                pod: crate::expectation::PodRef::Name("crasher".to_string()),
                name: "app".to_string(),
                check: ContainerExpectation {
                    state: Some("Running".to_string()),
                    restart_count: Some(Count::exactly(2)),
                    started_at: Some(SimTime::ZERO + SimDuration::from_secs(16)),
                    pod_status: Some("Running".to_string()),
                    ..ContainerExpectation::default()
                },
            }
        );
        let bad = format!(
            "{MINIMAL}expectations:\n  - {{name: c, container: {{pod: p, name: a, state: Crashed}}}}\n"
        );
        assert_eq!(
            error_of(&bad),
            "scenario.yaml:7:51: expectations[0].container.state: unsupported value \"Crashed\": supported values: \"Waiting\", \"Running\", \"Terminated\""
        );
        let empty =
            format!("{MINIMAL}expectations:\n  - {{name: c, container: {{pod: p, name: a}}}}\n");
        assert!(
            error_of(&empty).contains("name at least one of state, reason"),
            "{}",
            error_of(&empty)
        );
    }

    #[test]
    fn zone_expectations_parse_and_name_a_bad_state() {
        let text = format!(
            "{MINIMAL}expectations:
  - {{name: z, at: 1m, zone: {{name: zone-a, state: FullDisruption, tainted: 3, taintInterval: 10s}}}}
"
        );
        let scenario = parse_text(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            scenario.expectations[0].check,
            Check::Zone {
                name: "zone-a".to_string(),
                state: Some("FullDisruption".to_string()),
                tainted: Some(Count::exactly(3)),
                taint_interval: Some(SimDuration::from_secs(10)),
            }
        );
        let bad = format!(
            "{MINIMAL}expectations:\n  - {{name: z, zone: {{name: zone-a, state: Down}}}}\n"
        );
        assert_eq!(
            error_of(&bad),
            "scenario.yaml:7:43: expectations[0].zone.state: unknown zone state \"Down\" (use one of Normal, PartialDisruption, FullDisruption)"
        );
        let empty = format!("{MINIMAL}expectations:\n  - {{name: z, zone: {{name: zone-a}}}}\n");
        assert!(error_of(&empty).contains("name at least one of state, tainted, taintInterval"));
    }
}
