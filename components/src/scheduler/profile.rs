//! A scheduling profile (`KubeSchedulerProfile`): which filter and score plugins run, in
//! which order, with which weights and arguments, for the pods naming its
//! `schedulerName`.
//!
//! Upstream: `pkg/scheduler/apis/config/v1/default_plugins.go` (the default plugin list
//! and weights) and `defaults.go` (plugin arguments).

use crate::api::{DEFAULT_SCHEDULER_NAME, Str};

use super::plugins::inter_pod_affinity::AffinityArgs;
use super::plugins::node_affinity::NodeAffinityArgs;
use super::plugins::resources::{BalancedAllocationArgs, FitArgs};
use super::plugins::topology_spread::SpreadArgs;

/// The plugins kubesim models, by upstream name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Plugin {
    NodeUnschedulable,
    NodeName,
    TaintToleration,
    NodeAffinity,
    NodePorts,
    NodeResourcesFit,
    PodTopologySpread,
    InterPodAffinity,
    NodeResourcesBalancedAllocation,
    ImageLocality,
}

impl Plugin {
    pub const ALL: [Plugin; 10] = [
        Plugin::NodeUnschedulable,
        Plugin::NodeName,
        Plugin::TaintToleration,
        Plugin::NodeAffinity,
        Plugin::NodePorts,
        Plugin::NodeResourcesFit,
        Plugin::PodTopologySpread,
        Plugin::InterPodAffinity,
        Plugin::NodeResourcesBalancedAllocation,
        Plugin::ImageLocality,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Plugin::NodeUnschedulable => "NodeUnschedulable",
            Plugin::NodeName => "NodeName",
            Plugin::TaintToleration => "TaintToleration",
            Plugin::NodeAffinity => "NodeAffinity",
            Plugin::NodePorts => "NodePorts",
            Plugin::NodeResourcesFit => "NodeResourcesFit",
            Plugin::PodTopologySpread => "PodTopologySpread",
            Plugin::InterPodAffinity => "InterPodAffinity",
            Plugin::NodeResourcesBalancedAllocation => "NodeResourcesBalancedAllocation",
            Plugin::ImageLocality => "ImageLocality",
        }
    }

    pub fn from_name(name: &str) -> Option<Plugin> {
        Plugin::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Whether the plugin has a Filter extension point.
    pub fn filters(self) -> bool {
        !matches!(
            self,
            Plugin::NodeResourcesBalancedAllocation | Plugin::ImageLocality
        )
    }

    /// Whether the plugin has a Score extension point.
    pub fn scores(self) -> bool {
        matches!(
            self,
            Plugin::TaintToleration
                | Plugin::NodeAffinity
                | Plugin::NodeResourcesFit
                | Plugin::PodTopologySpread
                | Plugin::InterPodAffinity
                | Plugin::NodeResourcesBalancedAllocation
                | Plugin::ImageLocality
        )
    }

    /// Whether kubesim runs this plugin (every plugin listed here is).
    pub fn modelled(self) -> bool {
        true
    }
}

/// The default profile's filters, in upstream's order (`getDefaultPlugins`, MultiPoint).
pub const DEFAULT_FILTERS: [Plugin; 8] = [
    Plugin::NodeUnschedulable,
    Plugin::NodeName,
    Plugin::TaintToleration,
    Plugin::NodeAffinity,
    Plugin::NodePorts,
    Plugin::NodeResourcesFit,
    Plugin::PodTopologySpread,
    Plugin::InterPodAffinity,
];

/// The default profile's score plugins with upstream's weights: TaintToleration 3,
/// NodeAffinity 2, NodeResourcesFit 1, PodTopologySpread 2, InterPodAffinity 2,
/// NodeResourcesBalancedAllocation 1, ImageLocality 1.
pub const DEFAULT_SCORES: [(Plugin, i64); 7] = [
    (Plugin::TaintToleration, 3),
    (Plugin::NodeAffinity, 2),
    (Plugin::NodeResourcesFit, 1),
    (Plugin::PodTopologySpread, 2),
    (Plugin::InterPodAffinity, 2),
    (Plugin::NodeResourcesBalancedAllocation, 1),
    (Plugin::ImageLocality, 1),
];

/// One profile.
#[derive(Clone, Debug)]
pub struct Profile {
    /// `schedulerName`: pods naming it are scheduled with this profile.
    pub scheduler_name: Str,
    /// Filter plugins in the order they run.
    pub filters: Vec<Plugin>,
    /// Score plugins with their weights.
    pub scores: Vec<(Plugin, i64)>,
    /// NodeResourcesFitArgs: scoring strategy and ignored resources.
    pub fit: FitArgs,
    /// NodeResourcesBalancedAllocationArgs.
    pub balanced_allocation: BalancedAllocationArgs,
    /// NodeAffinityArgs.
    pub node_affinity: NodeAffinityArgs,
    /// PodTopologySpreadArgs: default constraints and how they are defaulted.
    pub spread: SpreadArgs,
    /// InterPodAffinityArgs: hardPodAffinityWeight.
    pub inter_pod_affinity: AffinityArgs,
    /// The profile's `percentageOfNodesToScore`; overrides the global one when set.
    pub percentage_of_nodes_to_score: Option<u32>,
}

impl Default for Profile {
    /// Upstream's default profile, `default-scheduler` (without the volume plugins,
    /// SchedulingGates, PrioritySort, DefaultPreemption and DefaultBinder, which are not
    /// filters or scorers).
    fn default() -> Profile {
        Profile {
            scheduler_name: Str::from(DEFAULT_SCHEDULER_NAME),
            filters: DEFAULT_FILTERS
                .into_iter()
                .filter(|p| p.modelled())
                .collect(),
            scores: DEFAULT_SCORES
                .into_iter()
                .filter(|(p, _)| p.modelled())
                .collect(),
            fit: FitArgs::default(),
            balanced_allocation: BalancedAllocationArgs::default(),
            node_affinity: NodeAffinityArgs::default(),
            spread: SpreadArgs::default(),
            inter_pod_affinity: AffinityArgs::default(),
            percentage_of_nodes_to_score: None,
        }
    }
}

impl Profile {
    /// Disables `plugin` at every extension point (`plugins.multiPoint.disabled`).
    pub fn disable(&mut self, plugin: Plugin) {
        self.filters.retain(|p| *p != plugin);
        self.scores.retain(|(p, _)| *p != plugin);
    }

    /// Enables `plugin` where it has extension points, appended after the others as
    /// upstream appends enabled plugins; a score weight of 0 means 1 (upstream default).
    pub fn enable(&mut self, plugin: Plugin, weight: i64) {
        let weight = if weight == 0 { 1 } else { weight };
        if plugin.filters() && !self.filters.contains(&plugin) {
            self.filters.push(plugin);
        }
        if plugin.scores() {
            match self.scores.iter_mut().find(|(p, _)| *p == plugin) {
                Some(entry) => entry.1 = weight,
                None => self.scores.push((plugin, weight)),
            }
        }
    }

    /// The weight of a score plugin, if it scores in this profile.
    pub fn weight(&self, plugin: Plugin) -> Option<i64> {
        self.scores
            .iter()
            .find(|(p, _)| *p == plugin)
            .map(|(_, w)| *w)
    }

    /// `percentageOfNodesToScore` in effect: the profile's, else the global one.
    pub fn percentage_of_nodes_to_score(&self, global: u32) -> u32 {
        self.percentage_of_nodes_to_score.unwrap_or(global)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_has_upstream_weights() {
        let profile = Profile::default();
        assert_eq!(&*profile.scheduler_name, "default-scheduler");
        assert_eq!(profile.weight(Plugin::TaintToleration), Some(3));
        assert_eq!(profile.weight(Plugin::NodeAffinity), Some(2));
        assert_eq!(profile.weight(Plugin::PodTopologySpread), Some(2));
        assert_eq!(profile.weight(Plugin::InterPodAffinity), Some(2));
        assert_eq!(profile.inter_pod_affinity.hard_pod_affinity_weight, 1);
        assert_eq!(profile.weight(Plugin::NodeResourcesFit), Some(1));
        assert_eq!(
            profile.weight(Plugin::NodeResourcesBalancedAllocation),
            Some(1)
        );
        assert_eq!(profile.weight(Plugin::ImageLocality), Some(1));
        assert_eq!(profile.filters[0], Plugin::NodeUnschedulable);
        for plugin in Plugin::ALL {
            assert_eq!(Plugin::from_name(plugin.name()), Some(plugin));
        }
    }

    #[test]
    fn enable_and_disable_edit_the_lists() {
        let mut profile = Profile::default();
        profile.disable(Plugin::ImageLocality);
        profile.disable(Plugin::NodePorts);
        assert_eq!(profile.weight(Plugin::ImageLocality), None);
        assert!(!profile.filters.contains(&Plugin::NodePorts));
        profile.enable(Plugin::ImageLocality, 0);
        assert_eq!(profile.weight(Plugin::ImageLocality), Some(1));
        profile.enable(Plugin::NodeResourcesFit, 5);
        assert_eq!(profile.weight(Plugin::NodeResourcesFit), Some(5));
        assert_eq!(profile.percentage_of_nodes_to_score(30), 30);
        profile.percentage_of_nodes_to_score = Some(70);
        assert_eq!(profile.percentage_of_nodes_to_score(30), 70);
    }
}
