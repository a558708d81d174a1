//! One scheduling cycle's algorithm, as upstream's `schedule_one.go` and the framework
//! runtime run it: PreFilter (what this pod asks, once per cycle), Filter over the nodes
//! from a round-robin start until enough feasible ones are found, PreScore, Score,
//! NormalizeScore, the profile's weights summed, and selectHost with reservoir sampling
//! among ties. [`schedule_pod`] is the one entry point, used by the Scheduler actor and by
//! `kubesim schedule`, so the two cannot disagree; it explains itself with a
//! [`Decision`] when asked.

use std::fmt;

use sim_core::SimRng;

use super::cache::Cache;
use super::node_memo::{CycleRows, Row};
use super::plugins::inter_pod_affinity::{self, AffinityFilterState};
use super::plugins::topology_spread::{self, SpreadFilterState, SpreadMemo};
use super::plugins::{
    MAX_NODE_SCORE, NodeInfo, PodInfo, Unfit, default_normalize_score, image_locality,
    node_affinity, node_name, node_ports, node_unschedulable, resources, taint_toleration_filter,
};
use super::preemption::{self, Nominator};
use super::profile::{Plugin, Profile};
use crate::api::Str;

/// `minFeasibleNodesToFind`.
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// `minFeasibleNodesPercentageToFind`.
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: usize = 5;

/// `numFeasibleNodesToFind`: every node below 100 nodes; otherwise a percentage of them
/// (adaptive `50 − n/125`, at least 5 %, when `percentage_of_nodes_to_score` is 0), but
/// never fewer than 100.
pub fn num_feasible_nodes_to_find(percentage_of_nodes_to_score: u32, node_count: usize) -> usize {
    if node_count < MIN_FEASIBLE_NODES_TO_FIND {
        return node_count;
    }
    let mut percentage = percentage_of_nodes_to_score as usize;
    if percentage == 0 {
        percentage = 50usize.saturating_sub(node_count / 125);
        if percentage < MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND {
            percentage = MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND;
        }
    }
    let count = node_count * percentage / 100;
    if count < MIN_FEASIBLE_NODES_TO_FIND {
        return MIN_FEASIBLE_NODES_TO_FIND;
    }
    count.min(node_count)
}

/// Scratch space reused across cycles, so a cycle allocates little in the common case.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Indexes of the feasible nodes, in the order filtering found them.
    pub feasible: Vec<usize>,
    /// Rejected nodes with the first filter that said no, in visiting order.
    pub unfit: Vec<(usize, Unfit)>,
    /// Normalized scores, one column per score plugin of the profile, each as long as
    /// `feasible`: `scores[plugin * feasible.len() + i]`.
    pub scores: Vec<i64>,
    /// Per score plugin: PreScore said Skip (the plugin adds nothing for this pod).
    pub skipped: Vec<bool>,
    /// Weighted sums, one per feasible node.
    pub totals: Vec<i64>,
    /// PodTopologySpread's scratch space for scoring.
    pub spread_scores: topology_spread::ScoreScratch,
    /// PodTopologySpread's default selectors, kept across cycles (reset it with the cache).
    pub spread_memo: SpreadMemo,
}

/// How one cycle runs: the profile, the global `percentageOfNodesToScore`, where the
/// round-robin filtering starts, and whether to build a [`Decision`].
#[derive(Clone, Copy, Debug)]
pub struct CycleInput<'a> {
    pub profile: &'a Profile,
    /// The global `percentageOfNodesToScore` (0: adaptive); the profile's overrides it.
    pub percentage_of_nodes_to_score: u32,
    /// `nextStartNodeIndex`, below the node count.
    pub start: usize,
    pub explain: bool,
}

/// What a cycle decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Bind to the node at `node` (an index into the snapshot).
    Node {
        node: usize,
        feasible_count: usize,
        /// The winner's weighted sum; `None` when exactly one node was feasible (upstream
        /// then skips scoring).
        best_score: Option<i64>,
    },
    /// No node fits: `FitError`'s message (`0/3 nodes are available: ...`).
    Unschedulable { message: String },
    /// The snapshot is empty (`ErrNoNodesAvailable`).
    NoNodes,
}

/// The outcome of [`schedule_pod`].
#[derive(Clone, Debug)]
pub struct Outcome {
    pub selection: Selection,
    /// Nodes looked at: the round-robin start advances by this.
    pub processed: usize,
    /// The explanation, when asked for.
    pub decision: Option<Decision>,
}

/// Why a pod went where it went, node by node: what kube-scheduler-simulator shows per
/// plugin. Built by [`schedule_pod`] when asked; `kubesim schedule` prints it and the
/// Scheduler actor records it as a "detail" for every decision when records are on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// `namespace/name`.
    pub pod: String,
    /// (node, plugin, reason) for every node a filter rejected, in visiting order.
    pub filtered: Vec<(Str, &'static str, String)>,
    /// Per feasible node: each score plugin that ran (not skipped) with its normalized
    /// score 0..=100, before the weight. Empty when one node was feasible (no scoring).
    pub scores: Vec<(Str, Vec<(&'static str, i64)>)>,
    /// Per feasible node: the weighted sum.
    pub total: Vec<(Str, i64)>,
    pub selected: Option<Str>,
}

impl fmt::Display for Decision {
    /// One compact line: `pod ns/p: a [TaintToleration 100, NodeResourcesFit 85] = 385;
    /// b [...] = 310; filtered c NodeResourcesFit (Insufficient cpu); selected a`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pod {}:", self.pod)?;
        for ((node, plugins), (_, total)) in self.scores.iter().zip(&self.total) {
            write!(f, " {node} [")?;
            for (i, (plugin, score)) in plugins.iter().enumerate() {
                let separator = if i == 0 { "" } else { ", " };
                write!(f, "{separator}{plugin} {score}")?;
            }
            write!(f, "] = {total};")?;
        }
        if self.scores.is_empty() && !self.total.is_empty() {
            write!(f, " {} feasible, not scored;", self.total.len())?;
        }
        if !self.filtered.is_empty() {
            f.write_str(" filtered")?;
            for (i, (node, plugin, reason)) in self.filtered.iter().enumerate() {
                let separator = if i == 0 { "" } else { "," };
                write!(f, "{separator} {node} {plugin} ({reason})")?;
            }
            f.write_str(";")?;
        }
        match &self.selected {
            Some(node) => write!(f, " selected {node}"),
            None => f.write_str(" no node selected"),
        }
    }
}

/// The PreFilter states that Filter reads and that follow pods added to or removed from
/// a node in memory (upstream's `CycleState` with the plugins' `PreFilterExtensions`):
/// preemption's dry run and nominated pods work on a clone.
#[derive(Clone, Debug, Default)]
pub struct CycleState {
    /// PodTopologySpread's PreFilter state; `None` when it has nothing to check (Skip).
    spread: Option<SpreadFilterState>,
    /// InterPodAffinity's PreFilter state; `None` when it has nothing to check (Skip).
    affinity: Option<AffinityFilterState>,
}

impl CycleState {
    /// `RunPreFilterExtensionAddPod`: `pod` now counts on `node` for `incoming`.
    pub fn add_pod(&mut self, incoming: &PodInfo, pod: &PodInfo, node: &NodeInfo) {
        if let Some(spread) = &mut self.spread {
            spread.add_pod(incoming, &pod.pod, node);
        }
        if let Some(affinity) = &mut self.affinity {
            affinity.add_pod(incoming, &pod.pod, node);
        }
    }

    /// `RunPreFilterExtensionRemovePod`: `pod` no longer counts on `node` for `incoming`.
    pub fn remove_pod(&mut self, incoming: &PodInfo, pod: &PodInfo, node: &NodeInfo) {
        if let Some(spread) = &mut self.spread {
            spread.remove_pod(incoming, &pod.pod, node);
        }
        if let Some(affinity) = &mut self.affinity {
            affinity.remove_pod(incoming, &pod.pod, node);
        }
    }
}

/// What PreFilter found out about the pod for this cycle.
struct FilterPlan {
    /// Some filter other than NodeResourcesFit may reject a plain node: run the full list
    /// everywhere. Otherwise a plain node needs only NodeResourcesFit.
    full: bool,
    /// NodeResourcesFit is in the profile.
    fit: bool,
    /// The PreFilter states of the snapshot.
    state: CycleState,
}

fn pre_filter(
    profile: &Profile,
    pod: &PodInfo,
    cache: &Cache,
    memo: &mut SpreadMemo,
) -> FilterPlan {
    let has = |plugin| profile.filters.contains(&plugin);
    let node_affinity =
        has(Plugin::NodeAffinity) && node_affinity::filter_applies(pod, &profile.node_affinity);
    let ports = has(Plugin::NodePorts) && !pod.host_ports.is_empty();
    let view = cache.view();
    let spread = if has(Plugin::PodTopologySpread) {
        topology_spread::pre_filter(pod, &view, cache.spread_index(), &profile.spread, memo)
    } else {
        None
    };
    let affinity = if has(Plugin::InterPodAffinity) {
        inter_pod_affinity::pre_filter(pod, &view)
    } else {
        None
    };
    FilterPlan {
        full: pod.constrained || node_affinity || ports || spread.is_some() || affinity.is_some(),
        fit: has(Plugin::NodeResourcesFit),
        state: CycleState { spread, affinity },
    }
}

fn run_filter(
    plugin: Plugin,
    profile: &Profile,
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
) -> Result<(), Unfit> {
    match plugin {
        Plugin::NodeUnschedulable => node_unschedulable(pod, node),
        Plugin::NodeName => node_name(pod, node),
        Plugin::TaintToleration => taint_toleration_filter(pod, node),
        Plugin::NodeAffinity => node_affinity::filter(pod, node, &profile.node_affinity),
        Plugin::NodePorts => node_ports::filter(&pod.host_ports, node),
        Plugin::NodeResourcesFit => resources::node_resources_fit(pod, node, &profile.fit.ignored),
        Plugin::PodTopologySpread => match &state.spread {
            Some(state) => topology_spread::filter(state, pod, node),
            None => Ok(()),
        },
        Plugin::InterPodAffinity => match &state.affinity {
            Some(state) => inter_pod_affinity::filter(state, pod, node),
            None => Ok(()),
        },
        Plugin::NodeResourcesBalancedAllocation | Plugin::ImageLocality => Ok(()),
    }
}

/// `findNodesThatPassFilters`: visits nodes from `start` round-robin until `wanted`
/// feasible nodes are found or every node was visited. Feasible nodes go to
/// `scratch.feasible`, rejected ones with their reasons to `scratch.unfit`. Returns how
/// many nodes were visited.
///
/// Pods nominated to a node with at least the pod's priority count there
/// (`addNominatedPods`). A pod nominated to a node by an earlier preemption tries that
/// node first (`evaluateNominatedNode`): if it passes, it is the only feasible node and
/// no other node is visited (0 returned).
fn find_nodes_that_fit(
    profile: &Profile,
    pod: &PodInfo,
    cache: &Cache,
    nominator: &Nominator,
    walk: Walk,
    rows: &mut CycleRows<'_>,
    scratch: &mut Scratch,
) -> usize {
    let Walk { start, wanted } = walk;
    scratch.feasible.clear();
    scratch.unfit.clear();
    let nodes = cache.nodes();
    let count = nodes.len();
    assert!(start < count, "start {start} of {count} nodes");
    let plan = pre_filter(profile, pod, cache, &mut scratch.spread_memo);
    let all_filters = |state: &CycleState, node: &NodeInfo| {
        profile
            .filters
            .iter()
            .try_for_each(|&plugin| run_filter(plugin, profile, state, pod, node))
    };
    let state = &plan.state;
    if let Some(index) = pod
        .pod
        .status
        .nominated_node_name
        .as_deref()
        .and_then(|name| cache.node_index(name))
        && preemption::filter_with_nominated(pod, &nodes[index], state, nominator, &all_filters)
            .is_ok()
    {
        scratch.feasible.push(index);
        rows.refresh(index, &nodes[index]);
        return 0;
    }
    // Nothing nominated anywhere and no filter but NodeResourcesFit can reject a plain
    // node: such a node's verdict is its memoized row's.
    let fit_only = nominator.is_empty() && !plan.full && plan.fit;
    let Scratch {
        feasible, unfit, ..
    } = scratch;
    // Visits the node at `index`; true once enough nodes are feasible.
    let mut visit = |index: usize| {
        let node = &nodes[index];
        if fit_only && node.plain {
            // NodeUnschedulable, NodeName, TaintToleration, NodeAffinity and NodePorts
            // all pass here, and the row is fresh for scoring.
            if rows.refresh(index, node).fits {
                feasible.push(index);
            } else if let Err(reason) =
                resources::node_resources_fit(pod, node, &profile.fit.ignored)
            {
                unfit.push((index, reason));
            } else {
                feasible.push(index);
            }
            return feasible.len() >= wanted;
        }
        // The node's memoized row is fresh (the filters below read it).
        let mut refreshed = false;
        let verdict = if !nominator.is_empty() && !nominator.pods_on(node.name()).is_empty() {
            preemption::filter_with_nominated(pod, node, state, nominator, &all_filters)
        } else if !plan.full && node.plain {
            // NodeUnschedulable, NodeName, TaintToleration, NodeAffinity and NodePorts
            // all pass here: only the resources can say no.
            if plan.fit {
                refreshed = true;
                if rows.refresh(index, node).fits {
                    Ok(())
                } else {
                    resources::node_resources_fit(pod, node, &profile.fit.ignored)
                }
            } else {
                Ok(())
            }
        } else {
            all_filters(state, node)
        };
        match verdict {
            Ok(()) => {
                feasible.push(index);
                // Scoring reads the feasible nodes' rows.
                if !refreshed {
                    rows.refresh(index, node);
                }
            }
            Err(reason) => unfit.push((index, reason)),
        }
        feasible.len() >= wanted
    };
    // From `start` to the end, then from the first node back to `start`, until enough
    // are feasible.
    let mut processed = 0;
    if wanted == 0 {
        return processed;
    }
    'walk: for range in [start..count, 0..start] {
        for index in range {
            processed += 1;
            if visit(index) {
                break 'walk;
            }
        }
    }
    processed
}

/// Where [`find_nodes_that_fit`] starts (`nextStartNodeIndex`) and how many feasible
/// nodes it looks for.
#[derive(Clone, Copy, Debug)]
struct Walk {
    start: usize,
    wanted: usize,
}

/// The profile's filters for `pod` on any node, for PostFilter plugins that try nodes
/// changed in memory (preemption's dry run without lower-priority pods). PreFilter runs
/// once, here; the dry run clones its state and takes each victim off it (and puts each
/// reprieved pod back) as upstream's `PreFilterExtensions.RemovePod`/`AddPod` do, so
/// PodTopologySpread and InterPodAffinity stop counting a victim.
pub fn node_filter<'a>(
    profile: &'a Profile,
    pod: &'a PodInfo,
    cache: &Cache,
    memo: &mut SpreadMemo,
) -> NodeFilter<'a> {
    NodeFilter {
        profile,
        pod,
        plan: pre_filter(profile, pod, cache, memo),
    }
}

/// See [`node_filter`].
pub struct NodeFilter<'a> {
    profile: &'a Profile,
    pod: &'a PodInfo,
    plan: FilterPlan,
}

impl preemption::DryRunFilter for NodeFilter<'_> {
    fn state(&self) -> &CycleState {
        &self.plan.state
    }

    fn filter(&self, state: &CycleState, node: &NodeInfo) -> Result<(), Unfit> {
        self.profile
            .filters
            .iter()
            .try_for_each(|&plugin| run_filter(plugin, self.profile, state, self.pod, node))
    }
}

/// `prioritizeNodes`: every score plugin of the profile over the feasible nodes (PreScore,
/// Score, NormalizeScore), then the weighted sums into `scratch.totals`.
///
/// A cycle that explains nothing reads each feasible node's memoized row once: its
/// [`Row::weighted_sum`] (NodeResourcesFit, BalancedAllocation and ImageLocality, which
/// need no normalization) starts the node's total, and TaintToleration's raw score is
/// copied to its column in the same pass; when no feasible node has a raw
/// TaintToleration score above 0 the normalized column is all 100 and is added as such.
/// Integer sums are the same in any order. An explained cycle fills every column.
fn prioritize_nodes(
    profile: &Profile,
    pod: &PodInfo,
    cache: &Cache,
    images: &[(Str, u32)],
    rows: &CycleRows<'_>,
    explain: bool,
    scratch: &mut Scratch,
) {
    let nodes = cache.nodes();
    let view = cache.view();
    let Scratch {
        feasible,
        scores,
        skipped,
        totals,
        spread_scores,
        spread_memo,
        ..
    } = scratch;
    let n = feasible.len();
    // Every cell of a plugin that runs is written below and a skipped plugin's column is
    // never read, so the buffer only grows: no clearing of thousands of cells per cycle.
    if scores.len() < profile.scores.len() * n {
        scores.resize(profile.scores.len() * n, 0);
    }
    skipped.clear();
    // TaintToleration, NodeResourcesFit, BalancedAllocation and ImageLocality read the
    // feasible nodes' memoized rows, made fresh while filtering.
    let memo_rows = rows.rows();
    totals.clear();
    // TaintToleration's column comes with the rows' pass; `untainted`: its normalized
    // scores are all 100 and are in the totals already.
    let mut untainted = false;
    if explain {
        totals.resize(n, 0);
    } else {
        let taint = profile
            .scores
            .iter()
            .position(|&(plugin, _)| plugin == Plugin::TaintToleration);
        match taint {
            Some(column) => {
                let cells = &mut scores[column * n..(column + 1) * n];
                let mut max = 0;
                totals.extend(cells.iter_mut().zip(feasible.iter()).map(|(cell, &index)| {
                    let row = &memo_rows[index];
                    *cell = row.taint_toleration;
                    max = max.max(row.taint_toleration);
                    row.weighted_sum
                }));
                // `default_normalize_score` (reversed) with a maximum of 0.
                if max == 0 {
                    untainted = true;
                    let weighted = MAX_NODE_SCORE * profile.scores[column].1;
                    totals.iter_mut().for_each(|total| *total += weighted);
                }
            }
            None => totals.extend(feasible.iter().map(|&index| memo_rows[index].weighted_sum)),
        }
    }
    // The plugins whose scores the rows' pass filled in.
    let from_rows = |plugin| {
        !explain
            && matches!(
                plugin,
                Plugin::NodeResourcesFit
                    | Plugin::NodeResourcesBalancedAllocation
                    | Plugin::ImageLocality
                    | Plugin::TaintToleration
            )
    };
    // The plugins whose weighted scores are in `totals` already.
    let summed = |plugin| from_rows(plugin) && (plugin != Plugin::TaintToleration || untainted);
    // PreScore: each plugin may say it has nothing to add for this pod (Skip).
    let mut spread = None;
    let mut affinity = None;
    for &(plugin, _) in &profile.scores {
        let skip = match plugin {
            Plugin::NodeAffinity => !node_affinity::score_applies(pod, &profile.node_affinity),
            Plugin::NodeResourcesBalancedAllocation => {
                resources::balanced_allocation_skips(pod, &profile.balanced_allocation)
            }
            Plugin::PodTopologySpread => {
                spread = topology_spread::pre_score(
                    pod,
                    &view,
                    cache.spread_index(),
                    feasible,
                    &profile.spread,
                    spread_memo,
                );
                spread.is_none()
            }
            Plugin::InterPodAffinity => {
                affinity = inter_pod_affinity::pre_score(
                    pod,
                    &view,
                    feasible,
                    &profile.inter_pod_affinity,
                );
                affinity.is_none()
            }
            _ => false,
        };
        skipped.push(skip);
    }
    // ImageLocality has no PreScore upstream: it scores every node, 0 where none of the
    // pod's images is; when no node holds any of them every score stays 0.
    let no_image_anywhere = !images.iter().any(|(_, spread)| *spread > 0);
    // Score, plugin by plugin: one tight loop over the feasible nodes per plugin (the
    // plugin is chosen once, not once per node), each filling the plugin's column.
    for (column, &(plugin, _)) in profile.scores.iter().enumerate() {
        if skipped[column] || from_rows(plugin) {
            continue;
        }
        let cells = &mut scores[column * n..(column + 1) * n];
        match plugin {
            Plugin::TaintToleration => {
                copy_rows(cells, feasible, memo_rows, |row| row.taint_toleration)
            }
            Plugin::NodeAffinity => fill(cells, feasible, nodes, |_, node| {
                node_affinity::score(pod, node, &profile.node_affinity)
            }),
            Plugin::NodeResourcesFit => copy_rows(cells, feasible, memo_rows, |row| row.fit),
            Plugin::NodeResourcesBalancedAllocation => {
                copy_rows(cells, feasible, memo_rows, |row| row.balanced_allocation)
            }
            Plugin::ImageLocality if no_image_anywhere => cells.fill(0),
            Plugin::ImageLocality => {
                copy_rows(cells, feasible, memo_rows, |row| row.image_locality)
            }
            Plugin::PodTopologySpread => {
                let state = spread.as_ref().expect("not skipped");
                // NormalizeScore included.
                topology_spread::score_normalized_feasible(state, feasible, spread_scores, cells)
            }
            Plugin::InterPodAffinity => {
                let state = affinity.as_ref().expect("not skipped");
                fill(cells, feasible, nodes, |_, node| {
                    inter_pod_affinity::score(state, pod, node)
                })
            }
            Plugin::NodeUnschedulable | Plugin::NodeName | Plugin::NodePorts => cells.fill(0),
        }
    }
    // NormalizeScore, then the weighted sums.
    for (column, &(plugin, weight)) in profile.scores.iter().enumerate() {
        if skipped[column] || summed(plugin) {
            continue;
        }
        let column = &mut scores[column * n..(column + 1) * n];
        match plugin {
            Plugin::TaintToleration => default_normalize_score(true, column),
            Plugin::NodeAffinity => default_normalize_score(false, column),
            // Normalized while scoring.
            Plugin::PodTopologySpread => {}
            Plugin::InterPodAffinity => {
                inter_pod_affinity::normalize(affinity.as_ref().expect("not skipped"), column)
            }
            _ => {}
        }
        // The sum and the range check in one branch-free loop the compiler vectorizes:
        // as unsigned, a negative score is above the maximum too.
        let mut out_of_range = false;
        for (total, &value) in totals.iter_mut().zip(column.iter()) {
            out_of_range |= value as u64 > MAX_NODE_SCORE as u64;
            *total += value * weight;
        }
        if out_of_range {
            let value = column
                .iter()
                .find(|value| !(0..=MAX_NODE_SCORE).contains(*value))
                .expect("a score out of range");
            panic!("{} scored {value}", plugin.name());
        }
    }
}

/// One score plugin's column: `cells[i]` is its score of the node at `feasible[i]`.
#[inline]
fn fill(
    cells: &mut [i64],
    feasible: &[usize],
    nodes: &[NodeInfo],
    score: impl Fn(usize, &NodeInfo) -> i64,
) {
    for (cell, &index) in cells.iter_mut().zip(feasible) {
        *cell = score(index, &nodes[index]);
    }
}

/// One memoized score column: `cells[i]` from the row of the node at `feasible[i]`.
#[inline]
fn copy_rows(cells: &mut [i64], feasible: &[usize], rows: &[Row], score: impl Fn(&Row) -> i64) {
    for (cell, &index) in cells.iter_mut().zip(feasible) {
        *cell = score(&rows[index]);
    }
}

/// `selectHost`: the highest total; among equal totals, reservoir sampling (the k-th tie
/// replaces the choice with probability 1/k). Returns a position in `totals`.
pub fn select_host(totals: &[i64], rng: &mut SimRng) -> usize {
    assert!(!totals.is_empty(), "select_host over no nodes");
    let mut selected = 0;
    let mut max = totals[0];
    let mut ties = 1u64;
    for (position, &total) in totals.iter().enumerate().skip(1) {
        if total > max {
            max = total;
            selected = position;
            ties = 1;
        } else if total == max {
            ties += 1;
            if rng.below(ties) == 0 {
                selected = position;
            }
        }
    }
    selected
}

/// One scheduling cycle for `pod` over the cache's snapshot (`schedulePod`): filter,
/// score, select. Draws from `rng` only to break ties among equal top scores.
pub fn schedule_pod(
    input: CycleInput<'_>,
    pod: &PodInfo,
    cache: &Cache,
    rng: &mut SimRng,
    scratch: &mut Scratch,
) -> Outcome {
    schedule_pod_with_nominated(input, pod, cache, &Nominator::default(), rng, scratch)
}

/// [`schedule_pod`] in a cluster where preemption nominated pods to nodes: they count on
/// their nodes for pods of lower or equal priority, and a nominated pod tries its own
/// node first.
pub fn schedule_pod_with_nominated(
    input: CycleInput<'_>,
    pod: &PodInfo,
    cache: &Cache,
    nominator: &Nominator,
    rng: &mut SimRng,
    scratch: &mut Scratch,
) -> Outcome {
    let profile = input.profile;
    let nodes = cache.nodes();
    let node_count = nodes.len();
    let mut decision = input.explain.then(|| Decision {
        pod: format!("{}/{}", pod.pod.metadata.namespace, pod.pod.metadata.name),
        ..Decision::default()
    });
    if node_count == 0 {
        return Outcome {
            selection: Selection::NoNodes,
            processed: 0,
            decision,
        };
    }
    // No score plugins: the first feasible node will do (upstream finds just one).
    let wanted = if profile.scores.is_empty() {
        1
    } else {
        num_feasible_nodes_to_find(
            profile.percentage_of_nodes_to_score(input.percentage_of_nodes_to_score),
            node_count,
        )
    };
    // ImageLocality's view of the pod's images: part of what the memoized rows depend on.
    let images = if profile.weight(Plugin::ImageLocality).is_some() {
        image_locality::pod_images(&pod.pod, cache.image_node_counts())
    } else {
        Vec::new()
    };
    let mut memo = cache.node_memo().borrow_mut();
    let mut rows = memo.cycle(pod, profile, &images, node_count);
    let processed = find_nodes_that_fit(
        profile,
        pod,
        cache,
        nominator,
        Walk {
            start: input.start,
            wanted,
        },
        &mut rows,
        scratch,
    );
    if let Some(decision) = &mut decision {
        decision.filtered = scratch
            .unfit
            .iter()
            .map(|(index, unfit)| {
                (
                    nodes[*index].name().clone(),
                    unfit.plugin(),
                    unfit.to_string(),
                )
            })
            .collect();
    }
    let selection = match scratch.feasible.len() {
        0 => Selection::Unschedulable {
            message: fit_error_message(node_count, &scratch.unfit),
        },
        1 => {
            if let Some(decision) = &mut decision {
                decision.total = vec![(nodes[scratch.feasible[0]].name().clone(), 0)];
            }
            Selection::Node {
                node: scratch.feasible[0],
                feasible_count: 1,
                best_score: None,
            }
        }
        feasible_count => {
            prioritize_nodes(profile, pod, cache, &images, &rows, input.explain, scratch);
            let chosen = select_host(&scratch.totals, rng);
            if let Some(decision) = &mut decision {
                explain_scores(profile, nodes, scratch, decision);
            }
            Selection::Node {
                node: scratch.feasible[chosen],
                feasible_count,
                best_score: Some(scratch.totals[chosen]),
            }
        }
    };
    if let Some(decision) = &mut decision
        && let Selection::Node { node, .. } = selection
    {
        decision.selected = Some(nodes[node].name().clone());
    }
    Outcome {
        selection,
        processed,
        decision,
    }
}

fn explain_scores(
    profile: &Profile,
    nodes: &[NodeInfo],
    scratch: &Scratch,
    decision: &mut Decision,
) {
    let n = scratch.feasible.len();
    for (i, &index) in scratch.feasible.iter().enumerate() {
        let name = nodes[index].name().clone();
        let plugins = profile
            .scores
            .iter()
            .enumerate()
            .filter(|(column, _)| !scratch.skipped[*column])
            .map(|(column, (plugin, _))| (plugin.name(), scratch.scores[column * n + i]))
            .collect();
        decision.scores.push((name.clone(), plugins));
        decision.total.push((name, scratch.totals[i]));
    }
}

/// `FitError.Error()`: `0/3 nodes are available: 2 Insufficient cpu, 1 node(s) were
/// unschedulable.` — each reason with how many nodes gave it, sorted as strings.
pub fn fit_error_message(node_count: usize, unfit: &[(usize, Unfit)]) -> String {
    let mut reasons = Vec::new();
    for (_, reason) in unfit {
        reason.reasons(|text| reasons.push(text));
    }
    nodes_available_message(node_count, reasons.into_iter())
}

/// `0/N nodes are available: <count> <reason>, ...`: each reason with how many nodes gave
/// it, sorted as strings, as upstream renders its histograms (FitError, preemption).
pub fn nodes_available_message(node_count: usize, reasons: impl Iterator<Item = String>) -> String {
    let mut histogram: Vec<(String, usize)> = Vec::new();
    for reason in reasons {
        match histogram.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, count)) => *count += 1,
            None => histogram.push((reason, 1)),
        }
    }
    let mut parts: Vec<String> = histogram
        .into_iter()
        .map(|(reason, count)| format!("{count} {reason}"))
        .collect();
    parts.sort();
    let mut message = format!("0/{node_count} nodes are available:");
    if !parts.is_empty() {
        message.push(' ');
        message.push_str(&parts.join(", "));
    }
    message.push('.');
    message
}

/// `ErrNoNodesAvailable`.
pub const NO_NODES_AVAILABLE: &str = "no nodes available to schedule pods";

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use proptest::prelude::*;

    use super::*;
    use crate::api::{
        Container, LabelSelector, Labels, Node, Pod, ResourceList, ResourceRequirements, Taint,
        TaintEffect, s,
    };
    use crate::scheduler::plugins::Insufficient;
    use crate::scheduler::plugins::tests::{node_with, pod_with};

    const MI: u64 = 1024 * 1024;

    #[test]
    fn feasible_node_counts_follow_upstream() {
        assert_eq!(num_feasible_nodes_to_find(0, 50), 50);
        // 100 nodes: 50 % of 100 is 50, raised to the minimum of 100.
        assert_eq!(num_feasible_nodes_to_find(0, 100), 100);
        // 1000 nodes: 50 − 8 = 42 %.
        assert_eq!(num_feasible_nodes_to_find(0, 1000), 420);
        // 5000 nodes: 50 − 40 = 10 %.
        assert_eq!(num_feasible_nodes_to_find(0, 5000), 500);
        // 6000 nodes: 50 − 48 = 2 %, floored at 5 %.
        assert_eq!(num_feasible_nodes_to_find(0, 6000), 300);
        assert_eq!(num_feasible_nodes_to_find(100, 5000), 5000);
        assert_eq!(num_feasible_nodes_to_find(1, 5000), 100);
    }

    #[test]
    fn select_host_takes_the_maximum() {
        let mut rng = SimRng::for_stream(1, "kube-scheduler");
        assert_eq!(select_host(&[10, 30, 20], &mut rng), 1);
    }

    #[test]
    fn ties_are_broken_by_the_seeded_stream_and_spread_evenly() {
        let ties = [5, 50, 50, 50, 7];
        let picks = |seed: u64| {
            let mut rng = SimRng::for_stream(seed, "kube-scheduler");
            (0..300)
                .map(|_| select_host(&ties, &mut rng))
                .collect::<Vec<_>>()
        };
        // Same seed, same choices; a different seed, different choices.
        assert_eq!(picks(7), picks(7));
        assert_ne!(picks(7), picks(8));
        let chosen = picks(7);
        assert!(chosen.iter().all(|&p| (1..=3).contains(&p)));
        for position in 1..=3 {
            let count = chosen.iter().filter(|&&p| p == position).count();
            assert!(
                (70..=130).contains(&count),
                "tie {position} chosen {count}/300"
            );
        }
    }

    fn cache_of(nodes: Vec<Node>, pods: Vec<Pod>) -> Cache {
        let nodes: Vec<Rc<Node>> = nodes.into_iter().map(Rc::new).collect();
        let pods: Vec<Rc<Pod>> = pods.into_iter().map(Rc::new).collect();
        Cache::from_objects(&nodes, &pods)
    }

    fn run(profile: &Profile, pod: Pod, cache: &Cache, start: usize) -> (Outcome, Scratch) {
        let mut scratch = Scratch::default();
        let mut rng = SimRng::for_stream(1, "kube-scheduler");
        let input = CycleInput {
            profile,
            percentage_of_nodes_to_score: 0,
            start,
            explain: true,
        };
        let outcome = schedule_pod(
            input,
            &PodInfo::new(Rc::new(pod)),
            cache,
            &mut rng,
            &mut scratch,
        );
        (outcome, scratch)
    }

    fn requesting(cpu: u64, memory: u64) -> Container {
        Container {
            name: s("c"),
            image: s("app:v1"),
            resources: ResourceRequirements {
                requests: ResourceList {
                    cpu_millicores: Some(cpu),
                    memory_bytes: Some(memory),
                    ..ResourceList::default()
                },
                limits: ResourceList::default(),
            },
            ..Container::default()
        }
    }

    #[test]
    fn filtering_stops_at_enough_feasible_nodes_and_wraps_around() {
        let nodes = (0..5)
            .map(|i| node_with(&format!("n{i}"), 1000, 1 << 30, 110))
            .collect();
        let cache = cache_of(nodes, vec![]);
        let mut scratch = Scratch::default();
        let pod = PodInfo::new(Rc::new(pod_with(vec![], vec![])));
        let profile = Profile::default();
        let mut memo = cache.node_memo().borrow_mut();
        let mut rows = memo.cycle(&pod, &profile, &[], cache.node_count());
        let processed = find_nodes_that_fit(
            &profile,
            &pod,
            &cache,
            &Nominator::default(),
            Walk {
                start: 3,
                wanted: 3,
            },
            &mut rows,
            &mut scratch,
        );
        assert_eq!(processed, 3);
        assert_eq!(scratch.feasible, [3, 4, 0]);
    }

    #[test]
    fn scores_are_weighted_and_summed_and_explained() {
        let mut tainted = node_with("t", 1000, 1 << 30, 110);
        tainted.spec.taints = vec![Taint {
            key: s("soft"),
            value: s(""),
            effect: TaintEffect::PreferNoSchedule,
            time_added: None,
        }];
        let mut full = node_with("f", 1000, 1 << 30, 110);
        full.metadata.labels = Labels::from_pairs([("disk", "hdd")]);
        let cache = cache_of(
            vec![node_with("a", 1000, 1 << 30, 110), tainted, full],
            vec![],
        );
        let mut pod = pod_with(vec![requesting(500, 256 * MI)], vec![]);
        pod.spec.node_selector = Labels::new();
        let (outcome, _) = run(&Profile::default(), pod, &cache, 0);
        // Pod 500m / 256Mi on 1000m / 1Gi: LeastAllocated cpu 50, memory 75 → 62;
        // BalancedAllocation fractions 0.5 and 0.25 → (1 − 0.125) × 100 = 87;
        // TaintToleration 100 on clean nodes, 0 on the tainted one (weight 3);
        // NodeAffinity skipped (no preferred terms); ImageLocality 0 (no node has the
        // image; it has no PreScore to skip with). Totals: 300 + 62 + 87 = 449 and
        // 0 + 62 + 87 = 149.
        let decision = outcome.decision.unwrap();
        assert_eq!(
            decision.scores[0].1,
            [
                ("TaintToleration", 100),
                ("NodeResourcesFit", 62),
                ("NodeResourcesBalancedAllocation", 87),
                ("ImageLocality", 0)
            ]
        );
        assert_eq!(
            decision.total,
            [(s("a"), 449), (s("t"), 149), (s("f"), 449)]
        );
        assert!(matches!(
            outcome.selection,
            Selection::Node {
                feasible_count: 3,
                best_score: Some(449),
                ..
            }
        ));
        assert!(decision.to_string().starts_with(
            "pod default/p: a [TaintToleration 100, NodeResourcesFit 62, \
             NodeResourcesBalancedAllocation 87, ImageLocality 0] = 449;"
        ));
    }

    #[test]
    fn one_feasible_node_is_chosen_without_scoring_and_rejections_are_explained() {
        let mut cordoned = node_with("c", 1000, 1 << 30, 110);
        cordoned.spec.unschedulable = true;
        let cache = cache_of(
            vec![
                cordoned,
                node_with("small", 100, 1 << 30, 110),
                node_with("ok", 1000, 1 << 30, 110),
            ],
            vec![],
        );
        let (outcome, _) = run(
            &Profile::default(),
            pod_with(vec![requesting(500, MI)], vec![]),
            &cache,
            0,
        );
        let decision = outcome.decision.unwrap();
        assert_eq!(
            outcome.selection,
            Selection::Node {
                node: 2,
                feasible_count: 1,
                best_score: None
            }
        );
        assert_eq!(
            decision.filtered,
            [
                (
                    s("c"),
                    "NodeUnschedulable",
                    "node(s) were unschedulable".to_string()
                ),
                (
                    s("small"),
                    "NodeResourcesFit",
                    "Insufficient cpu".to_string()
                ),
            ]
        );
        assert!(decision.scores.is_empty());
        assert_eq!(decision.selected, Some(s("ok")));
        // Nothing fits: FitError's message.
        let (outcome, _) = run(
            &Profile::default(),
            pod_with(vec![requesting(5000, MI)], vec![]),
            &cache,
            1,
        );
        assert_eq!(
            outcome.selection,
            Selection::Unschedulable {
                // Sorted as strings, as upstream sorts the histogram.
                message: "0/3 nodes are available: 1 node(s) were unschedulable, \
                          2 Insufficient cpu."
                    .to_string()
            }
        );
        assert_eq!(outcome.processed, 3);
    }

    #[test]
    fn a_plain_node_still_rejects_a_pod_that_names_another_node_or_selects_labels() {
        let cache = cache_of(vec![node_with("n", 1000, 1 << 30, 110)], vec![]);
        assert!(cache.node(0).plain);
        let mut named = pod_with(vec![], vec![]);
        named.spec.node_name = Some(s("other"));
        let (outcome, _) = run(&Profile::default(), named, &cache, 0);
        assert_eq!(outcome.decision.unwrap().filtered[0].1, "NodeName");
        let mut selecting = pod_with(vec![], vec![]);
        selecting.spec.node_selector = Labels::from_pairs([("disk", "ssd")]);
        let (outcome, _) = run(&Profile::default(), selecting, &cache, 0);
        assert_eq!(outcome.decision.unwrap().filtered[0].1, "NodeAffinity");
    }

    #[test]
    fn profile_weights_and_strategy_change_the_choice() {
        // Node a is half full, b empty. LeastAllocated prefers b, MostAllocated a.
        let mut busy = pod_with(vec![requesting(500, 512 * MI)], vec![]);
        busy.metadata.uid = 99;
        busy.spec.node_name = Some(s("a"));
        let cache = cache_of(
            vec![
                node_with("a", 1000, 1 << 30, 110),
                node_with("b", 1000, 1 << 30, 110),
            ],
            vec![busy],
        );
        let pod = || pod_with(vec![requesting(100, 100 * MI)], vec![]);
        let mut profile = Profile::default();
        profile.disable(Plugin::NodeResourcesBalancedAllocation);
        let (outcome, _) = run(&profile, pod(), &cache, 0);
        assert_eq!(outcome.decision.unwrap().selected, Some(s("b")));
        profile.fit.strategy = resources::ScoringStrategy::MostAllocated;
        let (outcome, _) = run(&profile, pod(), &cache, 0);
        assert_eq!(outcome.decision.unwrap().selected, Some(s("a")));
    }

    #[test]
    fn fit_error_reads_like_upstream() {
        let cpu = Unfit::Resources(Insufficient {
            cpu: true,
            ..Insufficient::default()
        });
        let message = fit_error_message(3, &[(0, cpu.clone()), (1, cpu.clone()), (2, cpu)]);
        assert_eq!(message, "0/3 nodes are available: 3 Insufficient cpu.");
        let mixed = [
            (0, Unfit::NodeUnschedulable),
            (
                1,
                Unfit::Resources(Insufficient {
                    cpu: true,
                    memory: true,
                    ..Insufficient::default()
                }),
            ),
            (
                2,
                Unfit::UntoleratedTaint {
                    key: s("node.kubernetes.io/unreachable"),
                    value: s(""),
                },
            ),
        ];
        assert_eq!(
            fit_error_message(3, &mixed),
            "0/3 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, \
             1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, \
             1 node(s) were unschedulable."
        );
    }

    proptest! {
        /// A cycle that explains itself fills every score column; one that does not reads
        /// the memoized weighted sums and skips columns. Both choose the same nodes with
        /// the same totals and the same tie-breaking draws, over nodes with and without
        /// PreferNoSchedule taints, images and zones, and pods spread by a ReplicaSet.
        #[test]
        fn explaining_a_cycle_changes_no_total(
            nodes in prop::collection::vec((1u64..4000, 1u64..8192, 0u8..3, any::<bool>(), any::<bool>()), 2..12),
            pods in prop::collection::vec((0u64..1500, 0u64..2048, any::<bool>()), 1..40),
            seed in any::<u64>(),
        ) {
            let nodes: Vec<Node> = nodes
                .iter()
                .enumerate()
                .map(|(i, &(cpu, memory_mi, zone, tainted, image))| {
                    let name = format!("n{i}");
                    let mut node = node_with(&name, cpu, memory_mi * MI, 110);
                    node.metadata.labels = Labels::from_pairs([
                        ("kubernetes.io/hostname", name.as_str()),
                        ("topology.kubernetes.io/zone", ["a", "b", "c"][zone as usize]),
                    ]);
                    if tainted {
                        node.spec.taints = vec![Taint {
                            key: s("soft"),
                            value: s(""),
                            effect: TaintEffect::PreferNoSchedule,
                            time_added: None,
                        }];
                    }
                    if image {
                        node.status.images = vec![(s("app:v1"), 300 * MI)];
                    }
                    node
                })
                .collect();
            let mut caches = [cache_of(nodes.clone(), vec![]), cache_of(nodes, vec![])];
            for cache in &mut caches {
                let selector = LabelSelector::from_labels(Labels::from_pairs([("app", "web")]));
                cache.set_workload("ReplicaSet", s("default"), s("web"), Some(selector));
                cache.refresh();
            }
            let profile = Profile::default();
            let mut rngs = [
                SimRng::for_stream(seed, "kube-scheduler"),
                SimRng::for_stream(seed, "kube-scheduler"),
            ];
            let mut scratches = [Scratch::default(), Scratch::default()];
            let mut start = 0;
            for (uid, &(cpu, memory_mi, web)) in pods.iter().enumerate() {
                let mut pod = pod_with(vec![requesting(cpu, memory_mi * MI)], vec![]);
                pod.metadata.uid = uid as u64 + 1;
                if web {
                    pod.metadata.labels = Labels::from_pairs([("app", "web")]);
                }
                let pod = PodInfo::new(Rc::new(pod));
                let mut outcomes = Vec::new();
                for (i, explain) in [true, false].into_iter().enumerate() {
                    let input = CycleInput { profile: &profile, percentage_of_nodes_to_score: 0, start, explain };
                    let outcome = schedule_pod(input, &pod, &caches[i], &mut rngs[i], &mut scratches[i]);
                    outcomes.push(outcome);
                }
                prop_assert_eq!(&outcomes[0].selection, &outcomes[1].selection);
                prop_assert_eq!(outcomes[0].processed, outcomes[1].processed);
                if let Selection::Node { feasible_count, .. } = outcomes[0].selection
                    && feasible_count > 1
                {
                    prop_assert_eq!(&scratches[0].totals, &scratches[1].totals);
                    let explained: Vec<i64> =
                        outcomes[0].decision.as_ref().unwrap().total.iter().map(|(_, t)| *t).collect();
                    prop_assert_eq!(&explained, &scratches[1].totals);
                }
                start = (start + outcomes[0].processed) % caches[0].node_count();
                if let Selection::Node { node, .. } = outcomes[0].selection {
                    for cache in &mut caches {
                        cache.assume(&pod, node);
                        cache.refresh();
                    }
                }
            }
        }

        /// Scheduling random pods one after another onto random nodes through the whole
        /// pipeline (each assumed before the next, as the scheduler does) never puts more
        /// on a node than it can hold.
        #[test]
        fn bound_requests_never_exceed_allocatable(
            nodes in prop::collection::vec((1u64..4000, 1u64..8192, 1u64..12, 0u64..3), 1..12),
            pods in prop::collection::vec((0u64..1500, 0u64..2048, 0u64..3, any::<bool>(), 0u64..3), 1..60),
            seed in any::<u64>(),
        ) {
            let nodes: Vec<Node> = nodes
                .iter()
                .enumerate()
                .map(|(i, &(cpu, memory_mi, max_pods, gpus))| {
                    let mut node = node_with(&format!("n{i}"), cpu, memory_mi * MI, max_pods);
                    if gpus > 0 {
                        node.status.extended_allocatable = vec![(s("example.com/gpu"), gpus)];
                    }
                    node
                })
                .collect();
            let mut cache = cache_of(nodes, vec![]);
            let profile = Profile::default();
            let mut rng = SimRng::for_stream(seed, "kube-scheduler");
            let mut scratch = Scratch::default();
            let mut start = 0;
            for (uid, &(cpu, memory_mi, gpus, sidecar, init_cpu)) in pods.iter().enumerate() {
                let mut main = requesting(cpu, memory_mi * MI);
                main.extended_requests = Rc::from(vec![(s("example.com/gpu"), gpus)]);
                let mut init = requesting(init_cpu * 500, MI);
                if sidecar {
                    init.restart_policy = Some(crate::api::ContainerRestartPolicy::Always);
                }
                let mut pod = pod_with(vec![main], vec![init]);
                pod.metadata.uid = uid as u64 + 1;
                let pod = PodInfo::new(Rc::new(pod));
                let input = CycleInput { profile: &profile, percentage_of_nodes_to_score: 0, start, explain: false };
                let outcome = schedule_pod(input, &pod, &cache, &mut rng, &mut scratch);
                start = (start + outcome.processed) % cache.node_count();
                if let Selection::Node { node, .. } = outcome.selection {
                    cache.assume(&pod, node);
                }
            }
            for node in cache.nodes() {
                let used = &node.totals.requested;
                prop_assert!(used.cpu_millicores <= node.allocatable.cpu_millicores);
                prop_assert!(used.memory_bytes <= node.allocatable.memory_bytes);
                prop_assert!(node.totals.pod_count <= node.allowed_pod_count);
                let gpus_used = resources::extended_get(&node.extended_requested, "example.com/gpu");
                let gpus_have = resources::extended_get(&node.node.status.extended_allocatable, "example.com/gpu");
                prop_assert!(gpus_used <= gpus_have);
            }
        }
    }
}
