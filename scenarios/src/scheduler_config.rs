//! `KubeSchedulerConfiguration` (`kubescheduler.config.k8s.io/v1`): the file given to
//! `kube-scheduler --config`, read with upstream's defaulting and validation.
//!
//! The route is upstream's: the file's profiles are merged into the default plugin set
//! (`pkg/scheduler/apis/config/v1/default_plugins.go`, `mergePluginSet`), the MultiPoint
//! set is expanded into each extension point (`framework/runtime/framework.go`,
//! `expandMultiPointPlugins`), score weights are taken from the Score point first and
//! MultiPoint second, a weight of 0 meaning 1 (`getScoreWeights`), and each plugin's args
//! are defaulted (`apis/config/v1/defaults.go`) and validated
//! (`apis/config/validation/validation.go`, `validation_pluginargs.go`).
//!
//! Every bad value is an error naming the file, line, column and field. A plugin name
//! that kube-scheduler v1.34 does not register is an error, as upstream refuses to start
//! with it. Fields kubesim does not model (leader election, client connection,
//! parallelism, extenders, ...) are accepted and listed in [`SchedulerConfiguration::notes`].

use std::collections::BTreeSet;

use components::api::{
    NodeInclusionPolicy, Str, TopologySpreadConstraint, UnsatisfiableConstraintAction,
};
use components::scheduler::SchedulerConfig;
use components::scheduler::plugins::node_affinity::NodeAffinityArgs;
use components::scheduler::plugins::resources::{
    self, BalancedAllocationArgs, FitArgs, IgnoredResources, ScoringStrategy,
};
use components::scheduler::plugins::{inter_pod_affinity, topology_spread};
use components::scheduler::profile::{Plugin, Profile};
use serde::Deserialize;
use serde_json::Value;
use sim_core::SimDuration;

use crate::error::ScenarioError;
use crate::yaml::{Document, PosMap, join_index, join_key, parse_documents};

/// `apiVersion` of the only configuration version read.
pub const API_VERSION: &str = "kubescheduler.config.k8s.io/v1";
pub const KIND: &str = "KubeSchedulerConfiguration";
/// `v1.DefaultSchedulerName`.
pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
/// `podInitialBackoffSeconds`, upstream default 1.
pub const DEFAULT_POD_INITIAL_BACKOFF_SECONDS: u64 = 1;
/// `podMaxBackoffSeconds`, upstream default 10.
pub const DEFAULT_POD_MAX_BACKOFF_SECONDS: u64 = 10;
/// `InterPodAffinityArgs.hardPodAffinityWeight`, upstream default 1.
pub const DEFAULT_HARD_POD_AFFINITY_WEIGHT: i32 = 1;
/// `DefaultPreemptionArgs.minCandidateNodesPercentage`, upstream default 10.
pub const DEFAULT_MIN_CANDIDATE_NODES_PERCENTAGE: i32 = 10;
/// `DefaultPreemptionArgs.minCandidateNodesAbsolute`, upstream default 100.
pub const DEFAULT_MIN_CANDIDATE_NODES_ABSOLUTE: i32 = 100;
/// `MaxCustomPriorityScore`: the top of a RequestedToCapacityRatio shape's score.
pub const MAX_CUSTOM_PRIORITY_SCORE: i32 = 10;
/// `framework.MaxNodeScore`.
const MAX_NODE_SCORE: i64 = 100;
/// `framework.MaxTotalScore` (`math.MaxInt64`).
const MAX_TOTAL_SCORE: i64 = i64::MAX;

// ---------------------------------------------------------------------------------------
// The plugin registry

/// The extension points a plugin implements (a bit set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Points(u16);

impl Points {
    pub const PRE_ENQUEUE: Points = Points(1);
    pub const QUEUE_SORT: Points = Points(1 << 1);
    pub const PRE_FILTER: Points = Points(1 << 2);
    pub const FILTER: Points = Points(1 << 3);
    pub const POST_FILTER: Points = Points(1 << 4);
    pub const PRE_SCORE: Points = Points(1 << 5);
    pub const SCORE: Points = Points(1 << 6);
    pub const RESERVE: Points = Points(1 << 7);
    pub const PERMIT: Points = Points(1 << 8);
    pub const PRE_BIND: Points = Points(1 << 9);
    pub const BIND: Points = Points(1 << 10);
    pub const POST_BIND: Points = Points(1 << 11);
    /// PreFilter and Filter: a filter that computes its per-pod state once a cycle.
    const FILTERS: Points = Points::PRE_FILTER.with(Points::FILTER);
    /// PreFilter, Filter, PreScore and Score: the shape of most scheduling plugins.
    const FILTERS_AND_SCORES: Points = Points::FILTERS.with(Points::PRE_SCORE).with(Points::SCORE);

    const fn with(self, other: Points) -> Points {
        Points(self.0 | other.0)
    }

    pub fn has(self, point: Points) -> bool {
        self.0 & point.0 == point.0
    }
}

/// Every in-tree plugin kube-scheduler v1.34 registers (`framework/plugins/registry.go`),
/// with the extension points it implements. The non-CSI volume limit plugins
/// (EBSLimits, GCEPDLimits, AzureDiskLimits, CinderLimits) were removed in v1.32.
pub const REGISTRY: &[(&str, Points)] = &[
    ("SchedulingGates", Points::PRE_ENQUEUE),
    ("PrioritySort", Points::QUEUE_SORT),
    ("NodeUnschedulable", Points::FILTER),
    ("NodeName", Points::FILTER),
    (
        "TaintToleration",
        Points::FILTER.with(Points::PRE_SCORE).with(Points::SCORE),
    ),
    ("NodeAffinity", Points::FILTERS_AND_SCORES),
    ("NodePorts", Points::FILTERS),
    ("NodeResourcesFit", Points::FILTERS_AND_SCORES),
    ("VolumeRestrictions", Points::FILTERS),
    ("NodeVolumeLimits", Points::FILTERS),
    // VolumeBinding scores only with the StorageCapacityScoring gate (alpha, off in
    // v1.34); without it its PreScore skips every pod, so it is listed without Score.
    (
        "VolumeBinding",
        Points::FILTERS.with(Points::RESERVE).with(Points::PRE_BIND),
    ),
    ("VolumeZone", Points::FILTERS),
    ("PodTopologySpread", Points::FILTERS_AND_SCORES),
    ("InterPodAffinity", Points::FILTERS_AND_SCORES),
    ("DefaultPreemption", Points::POST_FILTER),
    (
        "NodeResourcesBalancedAllocation",
        Points::PRE_SCORE.with(Points::SCORE),
    ),
    ("ImageLocality", Points::SCORE),
    ("DefaultBinder", Points::BIND),
    (
        "DynamicResources",
        Points::PRE_ENQUEUE
            .with(Points::PRE_FILTER)
            .with(Points::FILTER)
            .with(Points::POST_FILTER)
            .with(Points::RESERVE)
            .with(Points::PRE_BIND),
    ),
];

/// `getDefaultPlugins`: the MultiPoint set of v1.34 with its score weights (DynamicResources
/// is off here: kubesim models no resource claims).
pub const DEFAULT_MULTI_POINT: &[(&str, i64)] = &[
    ("SchedulingGates", 0),
    ("PrioritySort", 0),
    ("NodeUnschedulable", 0),
    ("NodeName", 0),
    ("TaintToleration", 3),
    ("NodeAffinity", 2),
    ("NodePorts", 0),
    ("NodeResourcesFit", 1),
    ("VolumeRestrictions", 0),
    ("NodeVolumeLimits", 0),
    ("VolumeBinding", 0),
    ("VolumeZone", 0),
    ("PodTopologySpread", 2),
    ("InterPodAffinity", 2),
    ("DefaultPreemption", 0),
    ("NodeResourcesBalancedAllocation", 1),
    ("ImageLocality", 1),
    ("DefaultBinder", 0),
];

/// The registered name (a `&'static str`) and extension points of `name`.
fn registered(name: &str) -> Option<(&'static str, Points)> {
    REGISTRY.iter().find(|(n, _)| *n == name).copied()
}

// ---------------------------------------------------------------------------------------
// The configuration, defaulted and checked

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedulerConfiguration {
    /// `percentageOfNodesToScore`; 0 = adaptive (upstream default).
    pub percentage_of_nodes_to_score: u32,
    pub pod_initial_backoff_seconds: u64,
    pub pod_max_backoff_seconds: u64,
    /// At least one; exactly `default-scheduler` when the file names none.
    pub profiles: Vec<ProfileConfig>,
    /// Fields present that kubesim does not model (they have no effect).
    pub notes: Vec<String>,
}

impl Default for SchedulerConfiguration {
    fn default() -> Self {
        SchedulerConfiguration {
            percentage_of_nodes_to_score: 0,
            pod_initial_backoff_seconds: DEFAULT_POD_INITIAL_BACKOFF_SECONDS,
            pod_max_backoff_seconds: DEFAULT_POD_MAX_BACKOFF_SECONDS,
            profiles: vec![ProfileConfig::default()],
            notes: Vec::new(),
        }
    }
}

impl SchedulerConfiguration {
    /// Sets the in-cluster scheduler's settings from this configuration.
    pub fn apply_to(&self, config: &mut SchedulerConfig) {
        config.profiles = self
            .profiles
            .iter()
            .map(ProfileConfig::to_profile)
            .collect();
        config.percentage_of_nodes_to_score = self.percentage_of_nodes_to_score;
        config.pod_initial_backoff = SimDuration::from_secs(self.pod_initial_backoff_seconds);
        config.pod_max_backoff = SimDuration::from_secs(self.pod_max_backoff_seconds);
    }

    /// The profile pods naming `scheduler_name` are scheduled with.
    pub fn profile(&self, scheduler_name: &str) -> Option<&ProfileConfig> {
        self.profiles
            .iter()
            .find(|p| p.scheduler_name == scheduler_name)
    }
}

/// One profile after merging with the defaults and expanding MultiPoint: the plugins of
/// each extension point kubesim runs, in upstream's order, and their args.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileConfig {
    pub scheduler_name: String,
    /// The profile's own `percentageOfNodesToScore`, which overrides the global one.
    pub percentage_of_nodes_to_score: Option<u32>,
    pub pre_filter: Vec<&'static str>,
    pub filter: Vec<&'static str>,
    pub post_filter: Vec<&'static str>,
    pub pre_score: Vec<&'static str>,
    /// Score plugins with their weights (each ≥ 1).
    pub score: Vec<(&'static str, i64)>,
    pub node_resources_fit: NodeResourcesFitArgs,
    pub node_resources_balanced_allocation: Vec<ResourceSpec>,
    pub inter_pod_affinity: InterPodAffinityArgs,
    pub pod_topology_spread: PodTopologySpreadArgs,
    pub default_preemption: DefaultPreemptionArgs,
}

impl Default for ProfileConfig {
    fn default() -> Self {
        let merged = merge_plugin_set(DEFAULT_MULTI_POINT, &RawPluginSet::default());
        let mut profile = ProfileConfig {
            scheduler_name: DEFAULT_SCHEDULER_NAME.to_string(),
            percentage_of_nodes_to_score: None,
            pre_filter: Vec::new(),
            filter: Vec::new(),
            post_filter: Vec::new(),
            pre_score: Vec::new(),
            score: Vec::new(),
            node_resources_fit: NodeResourcesFitArgs::default(),
            node_resources_balanced_allocation: default_resources(),
            inter_pod_affinity: InterPodAffinityArgs::default(),
            pod_topology_spread: PodTopologySpreadArgs::default(),
            default_preemption: DefaultPreemptionArgs::default(),
        };
        let empty = RawPluginSet::default();
        profile.pre_filter = expand(&merged, &empty, Points::PRE_FILTER);
        profile.filter = expand(&merged, &empty, Points::FILTER);
        profile.post_filter = expand(&merged, &empty, Points::POST_FILTER);
        profile.pre_score = expand(&merged, &empty, Points::PRE_SCORE);
        let score = expand(&merged, &empty, Points::SCORE);
        profile.score = score
            .into_iter()
            .map(|name| (name, score_weight(name, &[], &merged)))
            .collect();
        profile
    }
}

impl ProfileConfig {
    /// The scheduler's profile: the plugins kubesim runs ([`Plugin::modelled`]) in this
    /// profile's order, with its weights and args. The volume plugins, SchedulingGates,
    /// PrioritySort and DefaultBinder have nothing to do for kubesim's pods, which have no
    /// volumes, gates or custom binders.
    pub fn to_profile(&self) -> Profile {
        let modelled = |name: &str| Plugin::from_name(name).filter(|p| p.modelled());
        let fit = &self.node_resources_fit;
        let resource_specs = |specs: &[ResourceSpec]| {
            specs
                .iter()
                .map(|r| resources::ResourceSpec {
                    name: r.name.clone(),
                    weight: r.weight,
                })
                .collect::<Vec<_>>()
        };
        Profile {
            scheduler_name: Str::from(self.scheduler_name.as_str()),
            filters: self.filter.iter().filter_map(|n| modelled(n)).collect(),
            scores: self
                .score
                .iter()
                .filter_map(|(n, w)| modelled(n).map(|p| (p, *w)))
                .collect(),
            fit: FitArgs {
                strategy: match fit.scoring_strategy {
                    ScoringStrategyType::LeastAllocated => ScoringStrategy::LeastAllocated,
                    ScoringStrategyType::MostAllocated => ScoringStrategy::MostAllocated,
                    ScoringStrategyType::RequestedToCapacityRatio => {
                        ScoringStrategy::RequestedToCapacityRatio {
                            shape: fit
                                .shape
                                .iter()
                                .map(|p| resources::UtilizationShapePoint {
                                    utilization: i64::from(p.utilization),
                                    score: i64::from(p.score),
                                })
                                .collect(),
                        }
                    }
                },
                resources: resource_specs(&fit.resources),
                ignored: IgnoredResources {
                    ignored_resources: fit.ignored_resources.clone(),
                    ignored_resource_groups: fit.ignored_resource_groups.clone(),
                },
            },
            balanced_allocation: BalancedAllocationArgs {
                resources: resource_specs(&self.node_resources_balanced_allocation),
            },
            node_affinity: NodeAffinityArgs::default(),
            spread: topology_spread::SpreadArgs {
                default_constraints: self.pod_topology_spread.default_constraints.clone(),
                defaulting_type: match self.pod_topology_spread.defaulting_type {
                    DefaultingType::System => topology_spread::DefaultingType::System,
                    DefaultingType::List => topology_spread::DefaultingType::List,
                },
            },
            inter_pod_affinity: inter_pod_affinity::AffinityArgs {
                hard_pod_affinity_weight: self.inter_pod_affinity.hard_pod_affinity_weight,
            },
            percentage_of_nodes_to_score: self.percentage_of_nodes_to_score,
        }
    }

    /// The score weight of `plugin`, if it scores in this profile.
    pub fn weight(&self, plugin: &str) -> Option<i64> {
        self.score
            .iter()
            .find(|(n, _)| *n == plugin)
            .map(|(_, w)| *w)
    }
}

/// `ScoringStrategy.type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ScoringStrategyType {
    #[default]
    LeastAllocated,
    MostAllocated,
    RequestedToCapacityRatio,
}

impl ScoringStrategyType {
    pub fn name(self) -> &'static str {
        match self {
            ScoringStrategyType::LeastAllocated => "LeastAllocated",
            ScoringStrategyType::MostAllocated => "MostAllocated",
            ScoringStrategyType::RequestedToCapacityRatio => "RequestedToCapacityRatio",
        }
    }
}

/// A resource and its weight in a scoring strategy: `cpu`, `memory`,
/// `ephemeral-storage` or an extended resource name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceSpec {
    pub name: Str,
    pub weight: i64,
}

/// One point of a RequestedToCapacityRatio shape: utilization 0..=100 → score 0..=10.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtilizationShapePoint {
    pub utilization: i32,
    pub score: i32,
}

/// `defaultResourceSpec`: cpu and memory, weight 1 each.
fn default_resources() -> Vec<ResourceSpec> {
    vec![
        ResourceSpec {
            name: Str::from("cpu"),
            weight: 1,
        },
        ResourceSpec {
            name: Str::from("memory"),
            weight: 1,
        },
    ]
}

/// `NodeResourcesFitArgs`, defaulted: LeastAllocated over cpu and memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeResourcesFitArgs {
    pub scoring_strategy: ScoringStrategyType,
    pub resources: Vec<ResourceSpec>,
    /// Only for RequestedToCapacityRatio; in increasing utilization.
    pub shape: Vec<UtilizationShapePoint>,
    /// Extended resources the filter does not check.
    pub ignored_resources: Vec<Str>,
    /// Extended resource groups (`example.com` for `example.com/foo`) the filter ignores.
    pub ignored_resource_groups: Vec<Str>,
}

impl Default for NodeResourcesFitArgs {
    fn default() -> Self {
        NodeResourcesFitArgs {
            scoring_strategy: ScoringStrategyType::LeastAllocated,
            resources: default_resources(),
            shape: Vec::new(),
            ignored_resources: Vec::new(),
            ignored_resource_groups: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterPodAffinityArgs {
    /// `hardPodAffinityWeight`, 0..=100, upstream default 1.
    pub hard_pod_affinity_weight: i32,
    /// `ignorePreferredTermsOfExistingPods`, upstream default false.
    pub ignore_preferred_terms_of_existing_pods: bool,
}

impl Default for InterPodAffinityArgs {
    fn default() -> Self {
        InterPodAffinityArgs {
            hard_pod_affinity_weight: DEFAULT_HARD_POD_AFFINITY_WEIGHT,
            ignore_preferred_terms_of_existing_pods: false,
        }
    }
}

/// `PodTopologySpreadArgs.defaultingType`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DefaultingType {
    /// The two system default constraints (hostname maxSkew 3, zone maxSkew 5,
    /// ScheduleAnyway); upstream default.
    #[default]
    System,
    /// `defaultConstraints` as given (none when empty).
    List,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodTopologySpreadArgs {
    /// Without label selectors: each pod's selector is built from the Services,
    /// ReplicaSets, ... that select it.
    pub default_constraints: Vec<TopologySpreadConstraint>,
    pub defaulting_type: DefaultingType,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefaultPreemptionArgs {
    pub min_candidate_nodes_percentage: i32,
    pub min_candidate_nodes_absolute: i32,
}

impl Default for DefaultPreemptionArgs {
    fn default() -> Self {
        DefaultPreemptionArgs {
            min_candidate_nodes_percentage: DEFAULT_MIN_CANDIDATE_NODES_PERCENTAGE,
            min_candidate_nodes_absolute: DEFAULT_MIN_CANDIDATE_NODES_ABSOLUTE,
        }
    }
}

// ---------------------------------------------------------------------------------------
// The file as written

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfiguration {
    api_version: Option<String>,
    kind: Option<String>,
    percentage_of_nodes_to_score: Option<i64>,
    pod_initial_backoff_seconds: Option<i64>,
    pod_max_backoff_seconds: Option<i64>,
    profiles: Option<Vec<RawProfile>>,
    // Not modelled: accepted, noted.
    parallelism: Option<Value>,
    leader_election: Option<Value>,
    client_connection: Option<Value>,
    healthz_bind_address: Option<Value>,
    metrics_bind_address: Option<Value>,
    enable_profiling: Option<Value>,
    enable_contention_profiling: Option<Value>,
    extenders: Option<Value>,
    delay_cache_until_active: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawProfile {
    scheduler_name: Option<String>,
    percentage_of_nodes_to_score: Option<i64>,
    plugins: Option<RawPlugins>,
    plugin_config: Option<Vec<RawPluginConfig>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPlugins {
    multi_point: Option<RawPluginSet>,
    pre_enqueue: Option<RawPluginSet>,
    queue_sort: Option<RawPluginSet>,
    pre_filter: Option<RawPluginSet>,
    filter: Option<RawPluginSet>,
    post_filter: Option<RawPluginSet>,
    pre_score: Option<RawPluginSet>,
    score: Option<RawPluginSet>,
    reserve: Option<RawPluginSet>,
    permit: Option<RawPluginSet>,
    pre_bind: Option<RawPluginSet>,
    bind: Option<RawPluginSet>,
    post_bind: Option<RawPluginSet>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPluginSet {
    enabled: Option<Vec<RawPlugin>>,
    disabled: Option<Vec<RawPlugin>>,
}

impl RawPluginSet {
    fn enabled(&self) -> &[RawPlugin] {
        self.enabled.as_deref().unwrap_or_default()
    }

    fn disabled(&self) -> &[RawPlugin] {
        self.disabled.as_deref().unwrap_or_default()
    }

    fn disables(&self, name: &str) -> bool {
        self.disabled().iter().any(|p| p.name == name)
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPlugin {
    name: String,
    weight: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPluginConfig {
    name: String,
    args: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawFitArgs {
    api_version: Option<String>,
    kind: Option<String>,
    scoring_strategy: Option<RawScoringStrategy>,
    ignored_resources: Option<Vec<String>>,
    ignored_resource_groups: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawScoringStrategy {
    #[serde(rename = "type")]
    kind: Option<String>,
    resources: Option<Vec<RawResourceSpec>>,
    requested_to_capacity_ratio: Option<RawRequestedToCapacityRatio>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawResourceSpec {
    name: String,
    weight: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRequestedToCapacityRatio {
    shape: Option<Vec<RawShapePoint>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawShapePoint {
    utilization: i32,
    score: i32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawBalancedAllocationArgs {
    api_version: Option<String>,
    kind: Option<String>,
    resources: Option<Vec<RawResourceSpec>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawInterPodAffinityArgs {
    api_version: Option<String>,
    kind: Option<String>,
    hard_pod_affinity_weight: Option<i32>,
    ignore_preferred_terms_of_existing_pods: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSpreadArgs {
    api_version: Option<String>,
    kind: Option<String>,
    default_constraints: Option<Vec<RawSpreadConstraint>>,
    defaulting_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSpreadConstraint {
    max_skew: i32,
    topology_key: Option<String>,
    when_unsatisfiable: Option<String>,
    label_selector: Option<Value>,
    min_domains: Option<i32>,
    node_affinity_policy: Option<String>,
    node_taints_policy: Option<String>,
    match_label_keys: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPreemptionArgs {
    api_version: Option<String>,
    kind: Option<String>,
    min_candidate_nodes_percentage: Option<i32>,
    min_candidate_nodes_absolute: Option<i32>,
}

/// Args kubesim accepts but does not model.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawUnmodelledArgs {
    api_version: Option<String>,
    kind: Option<String>,
    // NodeAffinityArgs
    added_affinity: Option<Value>,
    // VolumeBindingArgs
    bind_timeout_seconds: Option<i64>,
    shape: Option<Value>,
}

// ---------------------------------------------------------------------------------------
// Reading

/// Reads a configuration file: one YAML (or JSON) document.
pub fn parse(file: &str, text: &str) -> Result<SchedulerConfiguration, ScenarioError> {
    let mut documents = parse_documents(text, file, "", false, PosMap::Identity)?;
    match documents.len() {
        1 => from_document(&documents.remove(0)),
        0 => Err(ScenarioError::invalid(
            Document::detached(Value::Null, file).at(""),
            "the KubeSchedulerConfiguration file is empty",
        )),
        count => Err(ScenarioError::invalid(
            documents[1].at(&documents[1].root),
            format!("a KubeSchedulerConfiguration file holds one YAML document, found {count}"),
        )),
    }
}

/// Reads a configuration from a document (a file, or a value inside a scenario).
pub fn from_document(doc: &Document) -> Result<SchedulerConfiguration, ScenarioError> {
    Reader {
        doc,
        notes: Vec::new(),
    }
    .configuration()
}

struct Reader<'a> {
    doc: &'a Document,
    notes: Vec<String>,
}

impl Reader<'_> {
    fn error(&self, relative: &str, message: impl Into<String>) -> ScenarioError {
        self.doc.invalid(relative, message)
    }

    fn note(&mut self, relative: &str, present: bool) {
        if present {
            self.notes.push(relative.to_string());
        }
    }

    /// The sub-document at `relative` (a path of keys and `[i]` items).
    fn sub(&self, keys: &[Step<'_>]) -> Option<Document> {
        let mut doc = self.doc.clone();
        for step in keys {
            doc = match step {
                Step::Key(key) => doc.child(key)?,
                Step::Index(index) => doc.item(*index)?,
            };
        }
        Some(doc)
    }

    fn configuration(mut self) -> Result<SchedulerConfiguration, ScenarioError> {
        if !self.doc.value.is_object() {
            return Err(self.error("", "a KubeSchedulerConfiguration must be a mapping"));
        }
        let raw: RawConfiguration = self.doc.decode(true)?;
        match raw.api_version.as_deref() {
            Some(API_VERSION) => {}
            Some(other) => {
                return Err(self.error(
                    "apiVersion",
                    format!("unsupported apiVersion {other:?}: kubesim reads {API_VERSION}"),
                ));
            }
            None => return Err(self.error("", "missing field `apiVersion`")),
        }
        match raw.kind.as_deref() {
            Some(KIND) => {}
            Some(other) => {
                return Err(self.error("kind", format!("expected kind {KIND}, found {other:?}")));
            }
            None => return Err(self.error("", "missing field `kind`")),
        }
        for (field, present) in [
            ("parallelism", raw.parallelism.is_some()),
            ("leaderElection", raw.leader_election.is_some()),
            ("clientConnection", raw.client_connection.is_some()),
            ("healthzBindAddress", raw.healthz_bind_address.is_some()),
            ("metricsBindAddress", raw.metrics_bind_address.is_some()),
            ("enableProfiling", raw.enable_profiling.is_some()),
            (
                "enableContentionProfiling",
                raw.enable_contention_profiling.is_some(),
            ),
            ("extenders", raw.extenders.is_some()),
            (
                "delayCacheUntilActive",
                raw.delay_cache_until_active.is_some(),
            ),
        ] {
            self.note(field, present);
        }
        let percentage_of_nodes_to_score = match raw.percentage_of_nodes_to_score {
            Some(p) => self.percentage(p, "percentageOfNodesToScore")?,
            None => 0,
        };
        // `validation.go`: the initial back-off must be positive, the maximum at least it.
        let initial = raw
            .pod_initial_backoff_seconds
            .unwrap_or(DEFAULT_POD_INITIAL_BACKOFF_SECONDS as i64);
        if initial <= 0 {
            return Err(self.error("podInitialBackoffSeconds", "must be greater than 0"));
        }
        let max = raw
            .pod_max_backoff_seconds
            .unwrap_or(DEFAULT_POD_MAX_BACKOFF_SECONDS as i64);
        if max < initial {
            return Err(self.error(
                "podMaxBackoffSeconds",
                "must be greater than or equal to podInitialBackoffSeconds",
            ));
        }
        let raw_profiles = raw.profiles.unwrap_or_default();
        let mut profiles = Vec::new();
        if raw_profiles.is_empty() {
            profiles.push(ProfileConfig::default());
        }
        let single = raw_profiles.len() == 1;
        for (index, raw_profile) in raw_profiles.iter().enumerate() {
            let profile = self.profile(raw_profile, index, single)?;
            if profiles
                .iter()
                .any(|p: &ProfileConfig| p.scheduler_name == profile.scheduler_name)
            {
                return Err(self.error(
                    &join_key(&join_index("profiles", index), "schedulerName"),
                    format!("duplicate schedulerName {:?}", profile.scheduler_name),
                ));
            }
            profiles.push(profile);
        }
        let notes = if self.notes.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "{}: KubeSchedulerConfiguration: not modelled, so without effect: {}",
                self.doc.file,
                self.notes.join(", ")
            )]
        };
        Ok(SchedulerConfiguration {
            percentage_of_nodes_to_score,
            pod_initial_backoff_seconds: initial as u64,
            pod_max_backoff_seconds: max as u64,
            profiles,
            notes,
        })
    }

    fn percentage(&self, value: i64, relative: &str) -> Result<u32, ScenarioError> {
        if !(0..=100).contains(&value) {
            return Err(self.error(relative, format!("{value} not in valid range [0-100]")));
        }
        Ok(value as u32)
    }

    fn profile(
        &mut self,
        raw: &RawProfile,
        index: usize,
        single: bool,
    ) -> Result<ProfileConfig, ScenarioError> {
        let base = join_index("profiles", index);
        let scheduler_name = match &raw.scheduler_name {
            Some(name) if !name.is_empty() => name.clone(),
            Some(_) => {
                return Err(self.error(&join_key(&base, "schedulerName"), "must not be empty"));
            }
            // Only a lone profile gets the default name.
            None if single => DEFAULT_SCHEDULER_NAME.to_string(),
            None => {
                return Err(self.error(
                    &join_key(&base, "schedulerName"),
                    "required when there is more than one profile",
                ));
            }
        };
        let percentage_of_nodes_to_score = raw
            .percentage_of_nodes_to_score
            .map(|p| self.percentage(p, &join_key(&base, "percentageOfNodesToScore")))
            .transpose()?;
        let empty = RawPlugins::default();
        let plugins = raw.plugins.as_ref().unwrap_or(&empty);
        let plugins_path = join_key(&base, "plugins");
        let set = |s: &Option<RawPluginSet>| s.clone().unwrap_or_default();
        // Every name must be registered, and enabled only where it has that point.
        let points = [
            ("multiPoint", &plugins.multi_point, None),
            (
                "preEnqueue",
                &plugins.pre_enqueue,
                Some(Points::PRE_ENQUEUE),
            ),
            ("queueSort", &plugins.queue_sort, Some(Points::QUEUE_SORT)),
            ("preFilter", &plugins.pre_filter, Some(Points::PRE_FILTER)),
            ("filter", &plugins.filter, Some(Points::FILTER)),
            (
                "postFilter",
                &plugins.post_filter,
                Some(Points::POST_FILTER),
            ),
            ("preScore", &plugins.pre_score, Some(Points::PRE_SCORE)),
            ("score", &plugins.score, Some(Points::SCORE)),
            ("reserve", &plugins.reserve, Some(Points::RESERVE)),
            ("permit", &plugins.permit, Some(Points::PERMIT)),
            ("preBind", &plugins.pre_bind, Some(Points::PRE_BIND)),
            ("bind", &plugins.bind, Some(Points::BIND)),
            ("postBind", &plugins.post_bind, Some(Points::POST_BIND)),
        ];
        for (field, plugin_set, point) in points {
            let Some(plugin_set) = plugin_set else {
                continue;
            };
            let set_path = join_key(&plugins_path, field);
            self.check_set(plugin_set, &set_path, field, point)?;
        }
        let multi_point = set(&plugins.multi_point);
        let merged = merge_plugin_set(DEFAULT_MULTI_POINT, &multi_point);
        // A MultiPoint plugin enabled twice is a double registration.
        for (i, (name, _)) in merged.iter().enumerate() {
            if merged[..i].iter().any(|(n, _)| n == name) {
                return Err(self.error(
                    &join_key(&plugins_path, "multiPoint.enabled"),
                    format!("plugin {name:?} already registered"),
                ));
            }
        }
        let pre_filter = set(&plugins.pre_filter);
        let filter = set(&plugins.filter);
        let post_filter = set(&plugins.post_filter);
        let pre_score = set(&plugins.pre_score);
        let score_set = set(&plugins.score);
        let score = expand(&merged, &score_set, Points::SCORE);
        let mut weights = Vec::with_capacity(score.len());
        let mut total: i64 = 0;
        for name in score {
            let weight = score_weight(name, score_set.enabled(), &merged);
            // `getScoreWeights`: the sum of weight × MaxNodeScore must not overflow.
            if weight > (MAX_TOTAL_SCORE - total) / MAX_NODE_SCORE {
                return Err(
                    self.error(&plugins_path, "total score of Score plugins could overflow")
                );
            }
            total += weight * MAX_NODE_SCORE;
            weights.push((name, weight));
        }
        let mut profile = ProfileConfig {
            scheduler_name,
            percentage_of_nodes_to_score,
            pre_filter: expand(&merged, &pre_filter, Points::PRE_FILTER),
            filter: expand(&merged, &filter, Points::FILTER),
            post_filter: expand(&merged, &post_filter, Points::POST_FILTER),
            pre_score: expand(&merged, &pre_score, Points::PRE_SCORE),
            score: weights,
            node_resources_fit: NodeResourcesFitArgs::default(),
            node_resources_balanced_allocation: default_resources(),
            inter_pod_affinity: InterPodAffinityArgs::default(),
            pod_topology_spread: PodTopologySpreadArgs::default(),
            default_preemption: DefaultPreemptionArgs::default(),
        };
        // kubesim runs a plugin's PreFilter with its Filter and its PreScore with its
        // Score; upstream fails the cycle when one runs without the other.
        for name in &profile.filter {
            if registered(name).is_some_and(|(_, p)| p.has(Points::PRE_FILTER))
                && !profile.pre_filter.contains(name)
            {
                return Err(self.error(
                    &join_key(&plugins_path, "preFilter"),
                    format!("{name} is a Filter plugin but its PreFilter is disabled: upstream fails every cycle with this, and kubesim does not run it"),
                ));
            }
        }
        for (name, _) in &profile.score {
            if registered(name).is_some_and(|(_, p)| p.has(Points::PRE_SCORE))
                && !profile.pre_score.contains(name)
            {
                return Err(self.error(
                    &join_key(&plugins_path, "preScore"),
                    format!("{name} is a Score plugin but its PreScore is disabled: upstream fails every cycle with this, and kubesim does not run it"),
                ));
            }
        }
        self.plugin_configs(raw, index, &mut profile)?;
        Ok(profile)
    }

    /// Names registered, implementing the point, not enabled twice; weights only on
    /// Score and MultiPoint, and not negative.
    fn check_set(
        &self,
        plugin_set: &RawPluginSet,
        set_path: &str,
        field: &str,
        point: Option<Points>,
    ) -> Result<(), ScenarioError> {
        for (list, plugins) in [
            ("enabled", plugin_set.enabled()),
            ("disabled", plugin_set.disabled()),
        ] {
            for (i, plugin) in plugins.iter().enumerate() {
                let path = join_index(&join_key(set_path, list), i);
                let name_path = join_key(&path, "name");
                if list == "disabled" && plugin.name == "*" {
                    continue;
                }
                let Some((_, points)) = registered(&plugin.name) else {
                    return Err(self.error(
                        &name_path,
                        format!(
                            "plugin {:?} does not exist in kube-scheduler v1.34 (registered: {})",
                            plugin.name,
                            REGISTRY
                                .iter()
                                .map(|(n, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                };
                if list == "enabled" {
                    if let Some(point) = point
                        && !points.has(point)
                    {
                        return Err(self.error(
                            &name_path,
                            format!("plugin {:?} does not extend {field}", plugin.name),
                        ));
                    }
                    if point.is_some() && plugins[..i].iter().any(|p| p.name == plugin.name) {
                        return Err(self.error(
                            &name_path,
                            format!("plugin {:?} already registered as {field}", plugin.name),
                        ));
                    }
                    if let Some(weight) = plugin.weight {
                        if weight < 0 {
                            return Err(self.error(
                                &join_key(&path, "weight"),
                                format!("{weight}: a weight must not be negative"),
                            ));
                        }
                        if point.is_some_and(|p| p != Points::SCORE) {
                            return Err(self.error(
                                &join_key(&path, "weight"),
                                format!(
                                    "only Score and MultiPoint plugins have weights, not {field}"
                                ),
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn plugin_configs(
        &mut self,
        raw: &RawProfile,
        index: usize,
        profile: &mut ProfileConfig,
    ) -> Result<(), ScenarioError> {
        let base = join_key(&join_index("profiles", index), "pluginConfig");
        let configs = raw.plugin_config.as_deref().unwrap_or_default();
        let mut seen = BTreeSet::new();
        for (i, config) in configs.iter().enumerate() {
            let item = join_index(&base, i);
            let name_path = join_key(&item, "name");
            if !seen.insert(config.name.as_str()) {
                return Err(self.error(
                    &name_path,
                    format!("repeated config for plugin {}", config.name),
                ));
            }
            if registered(&config.name).is_none() {
                return Err(self.error(
                    &name_path,
                    format!(
                        "plugin {:?} does not exist in kube-scheduler v1.34",
                        config.name
                    ),
                ));
            }
            let args_doc = self
                .sub(&[
                    Step::Key("profiles"),
                    Step::Index(index),
                    Step::Key("pluginConfig"),
                    Step::Index(i),
                    Step::Key("args"),
                ])
                .filter(|_| config.args.as_ref().is_some_and(|a| !a.is_null()));
            let args_path = join_key(&item, "args");
            match config.name.as_str() {
                "NodeResourcesFit" => {
                    let args: RawFitArgs =
                        self.plugin_args(args_doc.as_ref(), &args_path, "NodeResourcesFitArgs")?;
                    profile.node_resources_fit = self.fit_args(args, &args_path)?;
                }
                "NodeResourcesBalancedAllocation" => {
                    let args: RawBalancedAllocationArgs = self.plugin_args(
                        args_doc.as_ref(),
                        &args_path,
                        "NodeResourcesBalancedAllocationArgs",
                    )?;
                    profile.node_resources_balanced_allocation =
                        self.balanced_args(args, &args_path)?;
                }
                "InterPodAffinity" => {
                    let args: RawInterPodAffinityArgs =
                        self.plugin_args(args_doc.as_ref(), &args_path, "InterPodAffinityArgs")?;
                    let weight = args
                        .hard_pod_affinity_weight
                        .unwrap_or(DEFAULT_HARD_POD_AFFINITY_WEIGHT);
                    if !(0..=100).contains(&weight) {
                        return Err(self.error(
                            &join_key(&args_path, "hardPodAffinityWeight"),
                            format!("{weight} not in valid range [0, 100]"),
                        ));
                    }
                    profile.inter_pod_affinity = InterPodAffinityArgs {
                        hard_pod_affinity_weight: weight,
                        ignore_preferred_terms_of_existing_pods: args
                            .ignore_preferred_terms_of_existing_pods
                            .unwrap_or(false),
                    };
                }
                "PodTopologySpread" => {
                    let args: RawSpreadArgs =
                        self.plugin_args(args_doc.as_ref(), &args_path, "PodTopologySpreadArgs")?;
                    profile.pod_topology_spread = self.spread_args(args, &args_path)?;
                }
                "DefaultPreemption" => {
                    let args: RawPreemptionArgs =
                        self.plugin_args(args_doc.as_ref(), &args_path, "DefaultPreemptionArgs")?;
                    let percentage = args
                        .min_candidate_nodes_percentage
                        .unwrap_or(DEFAULT_MIN_CANDIDATE_NODES_PERCENTAGE);
                    let absolute = args
                        .min_candidate_nodes_absolute
                        .unwrap_or(DEFAULT_MIN_CANDIDATE_NODES_ABSOLUTE);
                    if !(0..=100).contains(&percentage) {
                        return Err(self.error(
                            &join_key(&args_path, "minCandidateNodesPercentage"),
                            format!("{percentage} not in valid range [0, 100]"),
                        ));
                    }
                    if absolute < 0 {
                        return Err(self.error(
                            &join_key(&args_path, "minCandidateNodesAbsolute"),
                            format!("{absolute} not in valid range [0, inf)"),
                        ));
                    }
                    if percentage == 0 && absolute == 0 {
                        return Err(self.error(
                            &join_key(&args_path, "minCandidateNodesPercentage"),
                            "cannot be zero at the same time as minCandidateNodesAbsolute",
                        ));
                    }
                    profile.default_preemption = DefaultPreemptionArgs {
                        min_candidate_nodes_percentage: percentage,
                        min_candidate_nodes_absolute: absolute,
                    };
                }
                "NodeAffinity" | "VolumeBinding" => {
                    let kind = format!("{}Args", config.name);
                    let args: RawUnmodelledArgs =
                        self.plugin_args(args_doc.as_ref(), &args_path, &kind)?;
                    if config.name == "NodeAffinity" {
                        if args.bind_timeout_seconds.is_some() || args.shape.is_some() {
                            return Err(
                                self.error(&args_path, "NodeAffinityArgs has only addedAffinity")
                            );
                        }
                        self.note(
                            &join_key(&args_path, "addedAffinity"),
                            args.added_affinity.is_some(),
                        );
                    } else {
                        if args.added_affinity.is_some() {
                            return Err(self.error(
                                &join_key(&args_path, "addedAffinity"),
                                "VolumeBindingArgs has no addedAffinity",
                            ));
                        }
                        self.note(
                            &args_path,
                            args.bind_timeout_seconds.is_some() || args.shape.is_some(),
                        );
                    }
                }
                other => {
                    return Err(self.error(&args_path, format!("plugin {other} takes no args")));
                }
            }
        }
        Ok(())
    }

    /// A plugin's args, decoded strictly (upstream's defaults when absent), with their
    /// `apiVersion` and `kind` checked when given.
    fn plugin_args<T: PluginArgs>(
        &self,
        doc: Option<&Document>,
        args_path: &str,
        expected: &str,
    ) -> Result<T, ScenarioError> {
        let args: T = match doc {
            Some(doc) => doc.decode(true)?,
            None => T::default(),
        };
        let (api_version, kind) = args.type_meta();
        if let Some(version) = api_version
            && version != API_VERSION
        {
            return Err(self.error(
                &join_key(args_path, "apiVersion"),
                format!("unsupported apiVersion {version:?}: kubesim reads {API_VERSION}"),
            ));
        }
        if let Some(kind) = kind
            && kind != expected
        {
            return Err(self.error(
                &join_key(args_path, "kind"),
                format!("expected kind {expected}, found {kind:?}"),
            ));
        }
        Ok(args)
    }

    fn resources(
        &self,
        raw: &[RawResourceSpec],
        path: &str,
        check: fn(i64) -> Option<&'static str>,
    ) -> Result<Vec<ResourceSpec>, ScenarioError> {
        let mut out: Vec<ResourceSpec> = Vec::with_capacity(raw.len());
        for (i, resource) in raw.iter().enumerate() {
            let item = join_index(path, i);
            if resource.name.is_empty() {
                return Err(self.error(&join_key(&item, "name"), "a resource needs a name"));
            }
            if out.iter().any(|r| *r.name == *resource.name) {
                return Err(self.error(
                    &join_key(&item, "name"),
                    format!("duplicate resource {:?}", resource.name),
                ));
            }
            // A weight that is absent or 0 is defaulted to 1 (`SetDefaults_...Args`).
            let weight = match resource.weight.unwrap_or(0) {
                0 => 1,
                w => w,
            };
            if let Some(why) = check(weight) {
                return Err(self.error(
                    &join_key(&item, "weight"),
                    format!("resource weight of {} {why}", resource.name),
                ));
            }
            out.push(ResourceSpec {
                name: Str::from(resource.name.as_str()),
                weight,
            });
        }
        Ok(out)
    }

    fn fit_args(&self, raw: RawFitArgs, path: &str) -> Result<NodeResourcesFitArgs, ScenarioError> {
        let mut args = NodeResourcesFitArgs::default();
        for (i, name) in raw.ignored_resources.iter().flatten().enumerate() {
            if name.is_empty() {
                return Err(self.error(
                    &join_index(&join_key(path, "ignoredResources"), i),
                    "must not be empty",
                ));
            }
            args.ignored_resources.push(Str::from(name.as_str()));
        }
        for (i, group) in raw.ignored_resource_groups.iter().flatten().enumerate() {
            if group.is_empty() || group.contains('/') {
                return Err(self.error(
                    &join_index(&join_key(path, "ignoredResourceGroups"), i),
                    "resource group name can't contain '/' or be empty",
                ));
            }
            args.ignored_resource_groups.push(Str::from(group.as_str()));
        }
        let Some(strategy) = raw.scoring_strategy else {
            return Ok(args);
        };
        let strategy_path = join_key(path, "scoringStrategy");
        let type_path = join_key(&strategy_path, "type");
        args.scoring_strategy = match strategy.kind.as_deref().unwrap_or("") {
            "LeastAllocated" => ScoringStrategyType::LeastAllocated,
            "MostAllocated" => ScoringStrategyType::MostAllocated,
            "RequestedToCapacityRatio" => ScoringStrategyType::RequestedToCapacityRatio,
            other => {
                return Err(self.error(
                    &type_path,
                    format!("Unsupported value: {other:?}: supported values: \"LeastAllocated\", \"MostAllocated\", \"RequestedToCapacityRatio\""),
                ));
            }
        };
        let resources = strategy.resources.as_deref().unwrap_or_default();
        if !resources.is_empty() {
            args.resources =
                self.resources(resources, &join_key(&strategy_path, "resources"), |w| {
                    (!(1..=100).contains(&w)).then_some("not in valid range (0, 100]")
                })?;
        }
        let ratio_path = join_key(&strategy_path, "requestedToCapacityRatio");
        match (args.scoring_strategy, strategy.requested_to_capacity_ratio) {
            (ScoringStrategyType::RequestedToCapacityRatio, None) => {
                return Err(self.error(
                    &ratio_path,
                    "must be specified when type is RequestedToCapacityRatio",
                ));
            }
            (ScoringStrategyType::RequestedToCapacityRatio, Some(ratio)) => {
                args.shape = self.shape(
                    ratio.shape.as_deref().unwrap_or_default(),
                    &join_key(&ratio_path, "shape"),
                )?;
            }
            (_, Some(_)) => {
                return Err(self.error(
                    &ratio_path,
                    "must be nil when type is not RequestedToCapacityRatio",
                ));
            }
            (_, None) => {}
        }
        Ok(args)
    }

    /// `validateFunctionShape`.
    fn shape(
        &self,
        raw: &[RawShapePoint],
        path: &str,
    ) -> Result<Vec<UtilizationShapePoint>, ScenarioError> {
        if raw.is_empty() {
            return Err(self.error(path, "at least one point must be specified"));
        }
        for (i, point) in raw.iter().enumerate() {
            let item = join_index(path, i);
            if i > 0 && raw[i - 1].utilization >= point.utilization {
                return Err(self.error(
                    &join_key(&item, "utilization"),
                    "values must be sorted in increasing order",
                ));
            }
            if !(0..=100).contains(&point.utilization) {
                return Err(self.error(
                    &join_key(&item, "utilization"),
                    format!("{} not in valid range [0, 100]", point.utilization),
                ));
            }
            if !(0..=MAX_CUSTOM_PRIORITY_SCORE).contains(&point.score) {
                return Err(self.error(
                    &join_key(&item, "score"),
                    format!(
                        "{} not in valid range [0, {MAX_CUSTOM_PRIORITY_SCORE}]",
                        point.score
                    ),
                ));
            }
        }
        Ok(raw
            .iter()
            .map(|p| UtilizationShapePoint {
                utilization: p.utilization,
                score: p.score,
            })
            .collect())
    }

    fn balanced_args(
        &self,
        raw: RawBalancedAllocationArgs,
        path: &str,
    ) -> Result<Vec<ResourceSpec>, ScenarioError> {
        let resources = raw.resources.as_deref().unwrap_or_default();
        if resources.is_empty() {
            return Ok(default_resources());
        }
        self.resources(resources, &join_key(path, "resources"), |w| {
            (w != 1).then_some("must be 1")
        })
    }

    fn spread_args(
        &self,
        raw: RawSpreadArgs,
        path: &str,
    ) -> Result<PodTopologySpreadArgs, ScenarioError> {
        let type_path = join_key(path, "defaultingType");
        let defaulting_type = match raw.defaulting_type.as_deref() {
            None | Some("") | Some("System") => DefaultingType::System,
            Some("List") => DefaultingType::List,
            Some(other) => {
                return Err(self.error(
                    &type_path,
                    format!("Unsupported value: {other:?}: supported values: \"List\", \"System\""),
                ));
            }
        };
        let raw_constraints = raw.default_constraints.unwrap_or_default();
        if defaulting_type == DefaultingType::System && !raw_constraints.is_empty() {
            return Err(self.error(
                &type_path,
                "System is invalid when .defaultConstraints are not empty",
            ));
        }
        let list_path = join_key(path, "defaultConstraints");
        let mut constraints: Vec<TopologySpreadConstraint> = Vec::new();
        for (i, c) in raw_constraints.iter().enumerate() {
            let item = join_index(&list_path, i);
            if c.max_skew <= 0 {
                return Err(self.error(
                    &join_key(&item, "maxSkew"),
                    format!("{} not in valid range (0, inf)", c.max_skew),
                ));
            }
            let topology_key = c.topology_key.as_deref().unwrap_or("");
            if topology_key.is_empty() {
                return Err(self.error(&join_key(&item, "topologyKey"), "can not be empty"));
            }
            let when_unsatisfiable = match c.when_unsatisfiable.as_deref().unwrap_or("") {
                "DoNotSchedule" => UnsatisfiableConstraintAction::DoNotSchedule,
                "ScheduleAnyway" => UnsatisfiableConstraintAction::ScheduleAnyway,
                "" => {
                    return Err(
                        self.error(&join_key(&item, "whenUnsatisfiable"), "can not be empty")
                    );
                }
                other => {
                    return Err(self.error(
                        &join_key(&item, "whenUnsatisfiable"),
                        format!("Unsupported value: {other:?}: supported values: \"DoNotSchedule\", \"ScheduleAnyway\""),
                    ));
                }
            };
            if c.label_selector.is_some() {
                return Err(self.error(
                    &join_key(&item, "labelSelector"),
                    "constraint must not define a selector, as they deduced for each pod",
                ));
            }
            if constraints.iter().any(|o| {
                *o.topology_key == *topology_key && o.when_unsatisfiable == when_unsatisfiable
            }) {
                return Err(self.error(
                    &item,
                    format!("Duplicate value: {{{topology_key}, {when_unsatisfiable:?}}}"),
                ));
            }
            let policy =
                |value: &Option<String>, field: &str, default: NodeInclusionPolicy| match value
                    .as_deref()
                {
                    None => Ok(default),
                    Some("Honor") => Ok(NodeInclusionPolicy::Honor),
                    Some("Ignore") => Ok(NodeInclusionPolicy::Ignore),
                    Some(other) => Err(self.error(
                        &join_key(&item, field),
                        format!(
                            "Unsupported value: {other:?}: supported values: \"Honor\", \"Ignore\""
                        ),
                    )),
                };
            if let Some(min_domains) = c.min_domains
                && min_domains <= 0
            {
                return Err(self.error(
                    &join_key(&item, "minDomains"),
                    format!("{min_domains} must be greater than 0"),
                ));
            }
            constraints.push(TopologySpreadConstraint {
                max_skew: c.max_skew,
                topology_key: Str::from(topology_key),
                when_unsatisfiable,
                label_selector: None,
                min_domains: c.min_domains,
                node_affinity_policy: policy(
                    &c.node_affinity_policy,
                    "nodeAffinityPolicy",
                    NodeInclusionPolicy::Honor,
                )?,
                node_taints_policy: policy(
                    &c.node_taints_policy,
                    "nodeTaintsPolicy",
                    NodeInclusionPolicy::Ignore,
                )?,
                match_label_keys: c
                    .match_label_keys
                    .iter()
                    .flatten()
                    .map(|k| Str::from(k.as_str()))
                    .collect(),
            });
        }
        Ok(PodTopologySpreadArgs {
            default_constraints: constraints,
            defaulting_type,
        })
    }
}

enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// A plugin's raw args: each carries the `apiVersion` and `kind` of its type.
trait PluginArgs: serde::de::DeserializeOwned + Default {
    fn type_meta(&self) -> (Option<&str>, Option<&str>);
}

/// The impls are one: each args type names the two fields alike.
macro_rules! impl_plugin_args {
    ($($args:ty),*) => {$(
        impl PluginArgs for $args {
            fn type_meta(&self) -> (Option<&str>, Option<&str>) {
                (self.api_version.as_deref(), self.kind.as_deref())
            }
        }
    )*};
}

impl_plugin_args!(
    RawFitArgs,
    RawBalancedAllocationArgs,
    RawInterPodAffinityArgs,
    RawSpreadArgs,
    RawPreemptionArgs,
    RawUnmodelledArgs
);

// ---------------------------------------------------------------------------------------
// Merging and expanding, as upstream

/// `mergePluginSet` for the MultiPoint set: the defaults minus the disabled ones (all of
/// them with `*`), a default that is enabled again replaced in place (keeping its order,
/// taking the new weight), then the other enabled plugins in the order given.
fn merge_plugin_set(
    defaults: &[(&'static str, i64)],
    custom: &RawPluginSet,
) -> Vec<(&'static str, i64)> {
    let all_disabled = custom.disables("*");
    let mut out = Vec::new();
    let mut replaced = Vec::new();
    if !all_disabled {
        for &(name, weight) in defaults {
            if custom.disables(name) {
                continue;
            }
            match custom.enabled().iter().position(|p| p.name == name) {
                Some(index) => {
                    replaced.push(index);
                    out.push((name, custom.enabled()[index].weight.unwrap_or(0)));
                }
                None => out.push((name, weight)),
            }
        }
    }
    for (index, plugin) in custom.enabled().iter().enumerate() {
        if replaced.contains(&index) {
            continue;
        }
        // Names were checked against the registry before merging.
        let (name, _) = registered(&plugin.name).expect("a registered plugin");
        out.push((name, plugin.weight.unwrap_or(0)));
    }
    out
}

/// `expandMultiPointPlugins` for one extension point: unless the point disables `*`, the
/// MultiPoint plugins that implement it and are not disabled there, with the plugins
/// the point enables itself: those that re-configure a MultiPoint plugin first (in the
/// point's order), then the MultiPoint ones, then the point's other plugins.
fn expand(
    merged: &[(&'static str, i64)],
    point_set: &RawPluginSet,
    point: Points,
) -> Vec<&'static str> {
    let specific: Vec<&'static str> = point_set
        .enabled()
        .iter()
        .map(|p| registered(&p.name).expect("a registered plugin").0)
        .collect();
    if point_set.disables("*") {
        return specific;
    }
    let mut overrides = Vec::new();
    let mut multi = Vec::new();
    for &(name, _) in merged {
        let Some((_, points)) = registered(name) else {
            continue;
        };
        if !points.has(point) || point_set.disables(name) {
            continue;
        }
        if specific.contains(&name) {
            overrides.push(name);
        } else if !multi.contains(&name) {
            multi.push(name);
        }
    }
    let mut out: Vec<&'static str> = specific
        .iter()
        .copied()
        .filter(|n| overrides.contains(n))
        .collect();
    out.extend(multi);
    out.extend(specific.iter().copied().filter(|n| !overrides.contains(n)));
    out
}

/// `getScoreWeights`: the Score point's weight first, else MultiPoint's; 0 means 1.
fn score_weight(name: &str, score_enabled: &[RawPlugin], merged: &[(&'static str, i64)]) -> i64 {
    let weight = score_enabled
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.weight.unwrap_or(0))
        .or_else(|| merged.iter().find(|(n, _)| *n == name).map(|(_, w)| *w))
        .unwrap_or(0);
    if weight == 0 { 1 } else { weight }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> SchedulerConfiguration {
        parse("sched.yaml", text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn error(text: &str) -> String {
        parse("sched.yaml", text)
            .err()
            .unwrap_or_else(|| panic!("accepted: {text}"))
            .to_string()
    }

    const HEADER: &str =
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n";

    #[test]
    fn an_empty_configuration_is_the_default_profile_with_upstream_weights() {
        let config = read(HEADER);
        assert_eq!(config, SchedulerConfiguration::default());
        let profile = &config.profiles[0];
        assert_eq!(profile.scheduler_name, "default-scheduler");
        assert_eq!(
            profile.filter,
            [
                "NodeUnschedulable",
                "NodeName",
                "TaintToleration",
                "NodeAffinity",
                "NodePorts",
                "NodeResourcesFit",
                "VolumeRestrictions",
                "NodeVolumeLimits",
                "VolumeBinding",
                "VolumeZone",
                "PodTopologySpread",
                "InterPodAffinity",
            ]
        );
        assert_eq!(
            profile.score,
            [
                ("TaintToleration", 3),
                ("NodeAffinity", 2),
                ("NodeResourcesFit", 1),
                ("PodTopologySpread", 2),
                ("InterPodAffinity", 2),
                ("NodeResourcesBalancedAllocation", 1),
                ("ImageLocality", 1),
            ]
        );
        assert_eq!(profile.post_filter, ["DefaultPreemption"]);
        assert_eq!(config.pod_initial_backoff_seconds, 1);
        assert_eq!(config.pod_max_backoff_seconds, 10);
    }

    #[test]
    fn score_weights_come_from_score_then_multipoint() {
        let config = read(&format!(
            "{HEADER}profiles:
- plugins:
    multiPoint:
      enabled:
      - {{name: ImageLocality, weight: 5}}
    score:
      enabled:
      - {{name: NodeResourcesFit, weight: 7}}
      disabled:
      - name: TaintToleration
"
        ));
        let profile = &config.profiles[0];
        assert_eq!(profile.weight("NodeResourcesFit"), Some(7));
        assert_eq!(profile.weight("ImageLocality"), Some(5));
        assert_eq!(profile.weight("TaintToleration"), None);
        // Disabled for Score only: still a filter.
        assert!(profile.filter.contains(&"TaintToleration"));
        // The re-configured plugin comes first, as upstream orders overrides.
        assert_eq!(profile.score[0], ("NodeResourcesFit", 7));
    }

    #[test]
    fn disabling_everything_keeps_only_what_is_enabled() {
        let config = read(&format!(
            "{HEADER}profiles:
- schedulerName: packer
  plugins:
    score:
      disabled: [{{name: \"*\"}}]
      enabled: [{{name: NodeResourcesFit, weight: 0}}]
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
        resources: [{{name: cpu, weight: 3}}, {{name: nvidia.com/gpu}}]
"
        ));
        let profile = config.profile("packer").expect("the packer profile");
        assert_eq!(profile.score, [("NodeResourcesFit", 1)]);
        let fit = &profile.node_resources_fit;
        assert_eq!(fit.scoring_strategy, ScoringStrategyType::MostAllocated);
        assert_eq!(fit.resources[0].weight, 3);
        assert_eq!(&*fit.resources[1].name, "nvidia.com/gpu");
        assert_eq!(fit.resources[1].weight, 1);
    }

    #[test]
    fn requested_to_capacity_ratio_needs_an_increasing_shape() {
        let ok = read(&format!(
            "{HEADER}profiles:
- pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: RequestedToCapacityRatio
        requestedToCapacityRatio:
          shape: [{{utilization: 0, score: 0}}, {{utilization: 100, score: 10}}]
"
        ));
        assert_eq!(ok.profiles[0].node_resources_fit.shape.len(), 2);
        let bad = error(&format!(
            "{HEADER}profiles:
- pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: RequestedToCapacityRatio
        requestedToCapacityRatio:
          shape:
          - {{utilization: 50, score: 0}}
          - {{utilization: 40, score: 10}}
"
        ));
        assert!(
            bad.starts_with("sched.yaml:12:")
                && bad.contains(
                    "profiles[0].pluginConfig[0].args.scoringStrategy.requestedToCapacityRatio.shape[1].utilization"
                )
                && bad.contains("increasing"),
            "{bad}"
        );
    }

    #[test]
    fn unknown_plugins_are_refused_with_their_place() {
        let message = error(&format!(
            "{HEADER}profiles:
- plugins:
    score:
      enabled:
      - name: NodeResourcesMostAllocated
"
        ));
        assert!(
            message.starts_with("sched.yaml:7:")
                && message.contains("profiles[0].plugins.score.enabled[0].name")
                && message.contains("\"NodeResourcesMostAllocated\" does not exist"),
            "{message}"
        );
        let message = error(&format!(
            "{HEADER}profiles:\n- plugins:\n    score:\n      enabled: [{{name: NodePorts}}]\n"
        ));
        assert!(message.contains("does not extend score"), "{message}");
    }

    #[test]
    fn unknown_fields_and_bad_values_are_located() {
        let message = error(&format!("{HEADER}percentageOfNodesToScore: 120\n"));
        assert_eq!(
            message,
            "sched.yaml:3:27: percentageOfNodesToScore: 120 not in valid range [0-100]"
        );
        let message = error(&format!(
            "{HEADER}profiles:\n- schedulerName: a\n  plugins: {{}}\n  pluginConfig:\n  - name: InterPodAffinity\n    args: {{hardPodAffinityWeigth: 3}}\n"
        ));
        assert!(
            message.starts_with("sched.yaml:8:")
                && message.contains("hardPodAffinityWeigth")
                && message.contains("unknown field"),
            "{message}"
        );
        let message = error(&format!(
            "{HEADER}podInitialBackoffSeconds: 5\npodMaxBackoffSeconds: 2\n"
        ));
        assert!(message.contains("podMaxBackoffSeconds"), "{message}");
        let message = error(
            "apiVersion: kubescheduler.config.k8s.io/v1beta3\nkind: KubeSchedulerConfiguration\n",
        );
        assert!(message.contains("unsupported apiVersion"), "{message}");
    }

    #[test]
    fn unmodelled_fields_are_noted_not_refused() {
        let config = read(&format!(
            "{HEADER}leaderElection: {{leaderElect: true}}\nparallelism: 32\nclientConnection: {{kubeconfig: /etc/k}}\n"
        ));
        assert_eq!(config.notes.len(), 1);
        assert!(
            config.notes[0].contains("parallelism, leaderElection, clientConnection"),
            "{:?}",
            config.notes
        );
    }

    #[test]
    fn plugin_args_are_defaulted_and_validated() {
        let config = read(&format!(
            "{HEADER}profiles:
- pluginConfig:
  - name: PodTopologySpread
    args:
      defaultingType: List
      defaultConstraints:
      - {{maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule}}
  - name: InterPodAffinity
    args: {{hardPodAffinityWeight: 10}}
  - name: NodeResourcesBalancedAllocation
    args: {{resources: [{{name: cpu}}, {{name: memory}}, {{name: nvidia.com/gpu, weight: 1}}]}}
"
        ));
        let profile = &config.profiles[0];
        assert_eq!(
            profile.pod_topology_spread.defaulting_type,
            DefaultingType::List
        );
        assert_eq!(
            profile.pod_topology_spread.default_constraints[0].max_skew,
            1
        );
        assert_eq!(profile.inter_pod_affinity.hard_pod_affinity_weight, 10);
        assert_eq!(profile.node_resources_balanced_allocation.len(), 3);
        // System defaulting with a list is refused, as upstream validation does.
        let message = error(&format!(
            "{HEADER}profiles:
- pluginConfig:
  - name: PodTopologySpread
    args:
      defaultConstraints:
      - {{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}}
"
        ));
        assert!(message.contains("args.defaultingType"), "{message}");
        let message = error(&format!(
            "{HEADER}profiles:\n- pluginConfig:\n  - name: NodeResourcesBalancedAllocation\n    args: {{resources: [{{name: cpu, weight: 2}}]}}\n"
        ));
        assert!(
            message.contains("resources[0].weight") && message.contains("must be 1"),
            "{message}"
        );
    }

    #[test]
    fn profiles_need_distinct_names() {
        let message = error(&format!(
            "{HEADER}profiles:\n- schedulerName: a\n- schedulerName: a\n"
        ));
        assert!(message.contains("profiles[1].schedulerName"), "{message}");
        let message = error(&format!("{HEADER}profiles:\n- schedulerName: a\n- {{}}\n"));
        assert!(message.contains("profiles[1].schedulerName"), "{message}");
    }
}
