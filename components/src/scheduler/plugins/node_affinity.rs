//! NodeAffinity: `nodeSelector` and required node affinity terms as a filter, preferred
//! terms as a score; plus the profile's `addedAffinity` (NodeAffinityArgs), which every
//! pod of the profile gets on top of its own.
//!
//! Upstream: `pkg/scheduler/framework/plugins/nodeaffinity/node_affinity.go` and
//! `component-helpers/scheduling/corev1/nodeaffinity/nodeaffinity.go`.

use crate::api::{
    Node, NodeAffinity, NodeSelectorOperator, NodeSelectorRequirement, NodeSelectorTerm,
};

use super::{NodeInfo, PodInfo, Unfit};

/// The only field a `matchFields` requirement may name.
pub const FIELD_METADATA_NAME: &str = "metadata.name";

/// `NodeAffinityArgs`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeAffinityArgs {
    /// `addedAffinity`: required terms every pod must also satisfy, preferred terms every
    /// pod is also scored by.
    pub added_affinity: Option<NodeAffinity>,
}

fn requirement_matches(requirement: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = &requirement.values;
    match requirement.operator {
        NodeSelectorOperator::In => value.is_some_and(|v| values.iter().any(|w| &**w == v)),
        NodeSelectorOperator::NotIn => value.is_none_or(|v| values.iter().all(|w| &**w != v)),
        NodeSelectorOperator::Exists => value.is_some(),
        NodeSelectorOperator::DoesNotExist => value.is_none(),
        NodeSelectorOperator::Gt | NodeSelectorOperator::Lt => {
            // Exactly one integer value; the label must parse as an integer too.
            let (Some(label), [bound]) = (value, values.as_slice()) else {
                return false;
            };
            let (Ok(label), Ok(bound)) = (label.parse::<i64>(), bound.parse::<i64>()) else {
                return false;
            };
            if requirement.operator == NodeSelectorOperator::Gt {
                label > bound
            } else {
                label < bound
            }
        }
    }
}

/// One term: every label expression and every field requirement holds. An empty term
/// matches no node.
pub fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    if term.match_expressions.is_empty() && term.match_fields.is_empty() {
        return false;
    }
    term.match_expressions.iter().all(|requirement| {
        requirement_matches(
            requirement,
            node.metadata.labels.get(&requirement.key).map(|v| &**v),
        )
    }) && term.match_fields.iter().all(|requirement| {
        // Only metadata.name is a valid field; anything else matches nothing.
        &*requirement.key == FIELD_METADATA_NAME
            && requirement_matches(requirement, Some(&node.metadata.name))
    })
}

/// Required terms are ORed.
pub fn terms_match(terms: &[NodeSelectorTerm], node: &Node) -> bool {
    terms.iter().any(|term| term_matches(term, node))
}

/// Whether the filter has anything to check for this pod (PreFilter Skip otherwise).
pub fn filter_applies(pod: &PodInfo, args: &NodeAffinityArgs) -> bool {
    !pod.pod.spec.node_selector.is_empty()
        || pod_node_affinity(pod).is_some_and(|a| a.required.is_some())
        || args
            .added_affinity
            .as_ref()
            .is_some_and(|a| a.required.is_some())
}

fn pod_node_affinity(pod: &PodInfo) -> Option<&NodeAffinity> {
    pod.pod.spec.affinity.as_ref()?.node_affinity.as_ref()
}

/// NodeAffinity filter: the profile's added required terms, then the pod's nodeSelector
/// and its required terms.
pub fn filter(pod: &PodInfo, node: &NodeInfo, args: &NodeAffinityArgs) -> Result<(), Unfit> {
    if let Some(required) = args
        .added_affinity
        .as_ref()
        .and_then(|a| a.required.as_ref())
        && !terms_match(required, &node.node)
    {
        return Err(Unfit::NodeAffinityEnforced);
    }
    let selector = &pod.pod.spec.node_selector;
    if !selector.is_empty() && !node.node.metadata.labels.contains_all(selector) {
        return Err(Unfit::NodeAffinity);
    }
    if let Some(required) = pod_node_affinity(pod).and_then(|a| a.required.as_ref())
        && !terms_match(required, &node.node)
    {
        return Err(Unfit::NodeAffinity);
    }
    Ok(())
}

/// Whether the score has anything to add for this pod (PreScore Skip otherwise).
pub fn score_applies(pod: &PodInfo, args: &NodeAffinityArgs) -> bool {
    pod_node_affinity(pod).is_some_and(|a| !a.preferred.is_empty())
        || args
            .added_affinity
            .as_ref()
            .is_some_and(|a| !a.preferred.is_empty())
}

/// NodeAffinity raw score: the sum of the weights of the preferred terms (the pod's and
/// the profile's added ones) that the node matches. Normalized with
/// `DefaultNormalizeScore(100, reverse = false)`.
pub fn score(pod: &PodInfo, node: &NodeInfo, args: &NodeAffinityArgs) -> i64 {
    let own = pod_node_affinity(pod).map(|a| a.preferred.as_slice());
    let added = args.added_affinity.as_ref().map(|a| a.preferred.as_slice());
    own.into_iter()
        .chain(added)
        .flatten()
        .filter(|term| term_matches(&term.preference, &node.node))
        .map(|term| i64::from(term.weight))
        .sum()
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::api::{Affinity, Labels, PreferredSchedulingTerm, s};
    use crate::scheduler::plugins::NodeTotals;
    use crate::scheduler::plugins::tests::{node_with, pod_with};

    fn req(key: &str, operator: NodeSelectorOperator, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: s(key),
            operator,
            values: values.iter().map(|v| s(v)).collect(),
        }
    }

    fn term(expressions: Vec<NodeSelectorRequirement>) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: expressions,
            match_fields: vec![],
        }
    }

    fn node(name: &str, labels: &[(&str, &str)]) -> NodeInfo {
        let mut node = node_with(name, 1000, 1 << 30, 110);
        node.metadata.labels = Labels::from_pairs(labels.iter().copied());
        NodeInfo::new(Rc::new(node), NodeTotals::default())
    }

    fn pod(affinity: NodeAffinity) -> PodInfo {
        let mut pod = pod_with(vec![], vec![]);
        pod.spec.affinity = Some(Rc::new(Affinity {
            node_affinity: Some(affinity),
            ..Affinity::default()
        }));
        PodInfo::new(Rc::new(pod))
    }

    #[test]
    fn operators_follow_upstream() {
        use NodeSelectorOperator::*;
        let n = node("n1", &[("zone", "a"), ("gen", "5")]);
        let matches = |r| term_matches(&term(vec![r]), &n.node);
        assert!(matches(req("zone", In, &["a", "b"])));
        assert!(!matches(req("zone", NotIn, &["a"])));
        // NotIn and DoesNotExist match an absent label.
        assert!(matches(req("disk", NotIn, &["ssd"])));
        assert!(matches(req("disk", DoesNotExist, &[])));
        assert!(matches(req("zone", Exists, &[])));
        assert!(matches(req("gen", Gt, &["4"])));
        assert!(!matches(req("gen", Gt, &["5"])));
        assert!(matches(req("gen", Lt, &["6"])));
        // A non-integer label never satisfies Gt/Lt.
        assert!(!matches(req("zone", Gt, &["1"])));
        // An empty term matches nothing.
        assert!(!term_matches(&NodeSelectorTerm::default(), &n.node));
        // matchFields on metadata.name.
        let by_name = NodeSelectorTerm {
            match_expressions: vec![],
            match_fields: vec![req(FIELD_METADATA_NAME, In, &["n1"])],
        };
        assert!(term_matches(&by_name, &n.node));
        assert!(!term_matches(&by_name, &node("n2", &[]).node));
    }

    #[test]
    fn required_terms_are_ored_and_anded_with_the_selector() {
        use NodeSelectorOperator::*;
        let affinity = NodeAffinity {
            required: Some(vec![
                term(vec![req("zone", In, &["a"])]),
                term(vec![req("zone", In, &["b"])]),
            ]),
            preferred: vec![],
        };
        let args = NodeAffinityArgs::default();
        let p = pod(affinity.clone());
        assert!(filter_applies(&p, &args));
        assert_eq!(filter(&p, &node("a", &[("zone", "a")]), &args), Ok(()));
        assert_eq!(filter(&p, &node("b", &[("zone", "b")]), &args), Ok(()));
        assert_eq!(
            filter(&p, &node("c", &[("zone", "c")]), &args),
            Err(Unfit::NodeAffinity)
        );
        let mut with_selector = (*p.pod).clone();
        with_selector.spec.node_selector = Labels::from_pairs([("disk", "ssd")]);
        let with_selector = PodInfo::new(Rc::new(with_selector));
        assert_eq!(
            filter(&with_selector, &node("a", &[("zone", "a")]), &args),
            Err(Unfit::NodeAffinity)
        );
        // An empty required list matches no node.
        let nothing = pod(NodeAffinity {
            required: Some(vec![]),
            preferred: vec![],
        });
        assert_eq!(
            filter(&nothing, &node("a", &[("zone", "a")]), &args),
            Err(Unfit::NodeAffinity)
        );
    }

    #[test]
    fn preferred_terms_sum_their_weights_and_added_affinity_applies() {
        use NodeSelectorOperator::*;
        let p = pod(NodeAffinity {
            required: None,
            preferred: vec![
                PreferredSchedulingTerm {
                    weight: 2,
                    preference: term(vec![req("zone", In, &["a"])]),
                },
                PreferredSchedulingTerm {
                    weight: 5,
                    preference: term(vec![req("disk", Exists, &[])]),
                },
            ],
        });
        let args = NodeAffinityArgs::default();
        assert!(score_applies(&p, &args));
        assert!(!filter_applies(&p, &args));
        assert_eq!(
            score(&p, &node("x", &[("zone", "a"), ("disk", "ssd")]), &args),
            7
        );
        assert_eq!(score(&p, &node("y", &[("zone", "a")]), &args), 2);
        assert_eq!(score(&p, &node("z", &[]), &args), 0);
        let added = NodeAffinityArgs {
            added_affinity: Some(NodeAffinity {
                required: Some(vec![term(vec![req("pool", In, &["gpu"])])]),
                preferred: vec![],
            }),
        };
        assert_eq!(
            filter(&p, &node("z", &[]), &added),
            Err(Unfit::NodeAffinityEnforced)
        );
        assert_eq!(filter(&p, &node("g", &[("pool", "gpu")]), &added), Ok(()));
    }
}
