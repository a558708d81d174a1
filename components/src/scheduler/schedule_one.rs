//! One scheduling cycle's algorithm, as upstream's `schedule_one.go` runs it: filter the
//! nodes from a round-robin start until enough feasible ones are found, score them,
//! pick the best with reservoir sampling among ties.

use sim_core::SimRng;

use super::plugins::{
    NodeInfo, Normalize, PodInfo, SCORER_COUNT, SCORERS, Unfit, default_normalize_score,
    raw_scores, run_filters,
};

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

/// A feasible node's scores: each plugin's normalized score (0..=100) and the weighted sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeScore {
    pub node: usize,
    pub plugin_scores: [i64; SCORER_COUNT],
    pub total: i64,
}

/// Scratch space reused across cycles, so a cycle allocates nothing in the common case.
#[derive(Debug, Default)]
pub struct Scratch {
    pub feasible: Vec<usize>,
    pub unfit: Vec<(usize, Unfit)>,
    pub scores: Vec<NodeScore>,
    raw: Vec<i64>,
}

/// What filtering found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterOutcome {
    /// Nodes looked at (feasible + rejected): the round-robin start advances by this.
    pub processed: usize,
}

/// `findNodesThatPassFilters`: visits nodes from `start` round-robin until `wanted`
/// feasible nodes are found or every node was visited. Feasible nodes go to
/// `scratch.feasible`, rejected ones with their reasons to `scratch.unfit`.
pub fn find_nodes_that_fit(
    pod: &PodInfo,
    nodes: &[NodeInfo],
    start: usize,
    wanted: usize,
    scratch: &mut Scratch,
) -> FilterOutcome {
    scratch.feasible.clear();
    scratch.unfit.clear();
    let count = nodes.len();
    assert!(
        start < count || count == 0,
        "start {start} of {count} nodes"
    );
    let mut processed = 0;
    let mut index = start;
    while processed < count && scratch.feasible.len() < wanted {
        processed += 1;
        match run_filters(pod, &nodes[index]) {
            Ok(()) => scratch.feasible.push(index),
            Err(unfit) => scratch.unfit.push((index, unfit)),
        }
        index += 1;
        if index == count {
            index = 0;
        }
    }
    FilterOutcome { processed }
}

/// `prioritizeNodes`: every score plugin over the feasible nodes, normalized, weighted and
/// summed into `scratch.scores` (in the order of `scratch.feasible`).
pub fn prioritize_nodes(pod: &PodInfo, nodes: &[NodeInfo], scratch: &mut Scratch) {
    let Scratch {
        feasible,
        scores,
        raw,
        ..
    } = scratch;
    // One pass over the nodes for every plugin's raw score, then each plugin's column is
    // normalized, checked, weighted and summed.
    scores.clear();
    scores.extend(feasible.iter().map(|&node| NodeScore {
        node,
        plugin_scores: raw_scores(pod, &nodes[node]),
        total: 0,
    }));
    for (plugin_index, plugin) in SCORERS.iter().enumerate() {
        match plugin.normalize {
            Normalize::None => {}
            Normalize::Default { reverse } => {
                raw.clear();
                raw.extend(scores.iter().map(|score| score.plugin_scores[plugin_index]));
                default_normalize_score(reverse, raw);
                for (score, &value) in scores.iter_mut().zip(raw.iter()) {
                    score.plugin_scores[plugin_index] = value;
                }
            }
        }
        for score in scores.iter_mut() {
            let value = score.plugin_scores[plugin_index];
            assert!((0..=100).contains(&value), "{} scored {value}", plugin.name);
            score.total += value * plugin.weight;
        }
    }
}

/// `selectHost`: the highest total; among equal totals, reservoir sampling (the k-th tie
/// replaces the choice with probability 1/k). Returns a position in `scores`.
pub fn select_host(scores: &[NodeScore], rng: &mut SimRng) -> usize {
    assert!(!scores.is_empty(), "select_host over no nodes");
    let mut selected = 0;
    let mut max = scores[0].total;
    let mut ties = 1u64;
    for (position, score) in scores.iter().enumerate().skip(1) {
        if score.total > max {
            max = score.total;
            selected = position;
            ties = 1;
        } else if score.total == max {
            ties += 1;
            if rng.below(ties) == 0 {
                selected = position;
            }
        }
    }
    selected
}

/// `FitError.Error()`: `0/3 nodes are available: 2 Insufficient cpu, 1 node(s) were
/// unschedulable.` — each reason with how many nodes gave it, sorted as strings.
pub fn fit_error_message(node_count: usize, unfit: &[(usize, Unfit)]) -> String {
    let mut histogram: Vec<(String, usize)> = Vec::new();
    for (_, reason) in unfit {
        reason.reasons(
            |text| match histogram.iter_mut().find(|(r, _)| *r == text) {
                Some((_, count)) => *count += 1,
                None => histogram.push((text, 1)),
            },
        );
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

    use super::*;
    use crate::api::s;
    use crate::scheduler::plugins::tests::{node_with, pod_with};
    use crate::scheduler::plugins::{Insufficient, NodeTotals};

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

    fn scores(totals: &[i64]) -> Vec<NodeScore> {
        totals
            .iter()
            .enumerate()
            .map(|(node, &total)| NodeScore {
                node,
                plugin_scores: [0; SCORER_COUNT],
                total,
            })
            .collect()
    }

    #[test]
    fn select_host_takes_the_maximum() {
        let mut rng = SimRng::for_stream(1, "kube-scheduler");
        assert_eq!(select_host(&scores(&[10, 30, 20]), &mut rng), 1);
    }

    #[test]
    fn ties_are_broken_by_the_seeded_stream_and_spread_evenly() {
        let ties = scores(&[5, 50, 50, 50, 7]);
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

    #[test]
    fn filtering_stops_at_enough_feasible_nodes_and_wraps_around() {
        let nodes: Vec<NodeInfo> = (0..5)
            .map(|i| {
                NodeInfo::new(
                    Rc::new(node_with(&format!("n{i}"), 1000, 1 << 30, 110)),
                    NodeTotals::default(),
                )
            })
            .collect();
        let pod = PodInfo::new(Rc::new(pod_with(vec![], vec![])));
        let mut scratch = Scratch::default();
        let outcome = find_nodes_that_fit(&pod, &nodes, 3, 3, &mut scratch);
        assert_eq!(outcome.processed, 3);
        assert_eq!(scratch.feasible, [3, 4, 0]);
    }

    #[test]
    fn scores_are_weighted_and_summed() {
        let mut tainted = node_with("t", 1000, 1 << 30, 110);
        tainted.spec.taints = vec![crate::api::Taint {
            key: s("soft"),
            value: s(""),
            effect: crate::api::TaintEffect::PreferNoSchedule,
            time_added: None,
        }];
        let nodes = vec![
            NodeInfo::new(
                Rc::new(node_with("a", 1000, 1 << 30, 110)),
                NodeTotals::default(),
            ),
            NodeInfo::new(Rc::new(tainted), NodeTotals::default()),
        ];
        let pod = PodInfo::new(Rc::new(pod_with(vec![], vec![])));
        let mut scratch = Scratch::default();
        find_nodes_that_fit(&pod, &nodes, 0, 2, &mut scratch);
        prioritize_nodes(&pod, &nodes, &mut scratch);
        // A pod with no containers requests nothing: LeastAllocated 100 on both nodes;
        // TaintToleration 100 on the clean node and 0 on the tainted one, weight 3.
        assert_eq!(scratch.scores[0].plugin_scores, [100, 100]);
        assert_eq!(scratch.scores[0].total, 400);
        assert_eq!(scratch.scores[1].total, 100);
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
}
