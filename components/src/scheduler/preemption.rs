//! DefaultPreemption, the PostFilter plugin: when no node fits a pod, find a node where
//! deleting lower-priority pods would make room, pick the best such node, and nominate
//! the pod to it. Upstream: `pkg/scheduler/framework/plugins/defaultpreemption/
//! default_preemption.go` (eligibility, victim selection, candidate count) and
//! `pkg/scheduler/framework/preemption/preemption.go` (the Evaluator: candidates, dry
//! run, `pickOneNodeForPreemption`, `prepareCandidate`).
//!
//! Everything here is pure: the Scheduler actor runs [`post_filter`] after a FitError and
//! applies the [`PostFilter`] it returns (deletes the victims, clears lower-priority
//! nominations on the node, writes the pod's `status.nominatedNodeName`). The
//! [`Nominator`] remembers which pending pods are nominated where, so that filtering
//! counts them on their node (upstream `addNominatedPods`) and the nominated node is
//! tried first on the pod's next cycle (`evaluateNominatedNode`).
//!
//! Not modelled: PodDisruptionBudgets' `status.disruptedPods` (written by the eviction
//! API, which kubesim does not have), the victims' `DisruptionTarget` condition
//! (kubesim's pods have no condition list, so a terminating lower-priority pod on the
//! nominated node holds the preemptor back whatever deleted it), extenders, and
//! asynchronous preemption (off by default in v1.34).

use std::rc::Rc;

use sim_core::{FxIndexMap, SimRng, SimTime};

use super::plugins::resources::{extended_add, extended_get, extended_subtract};
use super::plugins::{NodeInfo, PodInfo, Unfit};
use super::schedule_one::CycleState;
use crate::api::{LabelSelector, Pod, PodDisruptionBudget, PreemptionPolicy, Str};

/// `DefaultPreemptionArgs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PreemptionArgs {
    /// `minCandidateNodesPercentage`, upstream default 10.
    pub min_candidate_nodes_percentage: u32,
    /// `minCandidateNodesAbsolute`, upstream default 100.
    pub min_candidate_nodes_absolute: u32,
}

impl Default for PreemptionArgs {
    fn default() -> Self {
        PreemptionArgs {
            min_candidate_nodes_percentage: 10,
            min_candidate_nodes_absolute: 100,
        }
    }
}

/// `calculateNumCandidates`: how many candidates the dry run looks for among
/// `potential_count` nodes: 10 % of them, at least 100, at most all.
pub fn calculate_num_candidates(potential_count: usize, args: &PreemptionArgs) -> usize {
    let percent = potential_count * args.min_candidate_nodes_percentage as usize / 100;
    percent
        .max(args.min_candidate_nodes_absolute as usize)
        .min(potential_count)
}

/// A PodDisruptionBudget as preemption reads it (policy/v1): the pods it covers and how
/// many of them may be disrupted now (`status.disruptionsAllowed`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisruptionBudget {
    pub namespace: Str,
    pub selector: LabelSelector,
    pub disruptions_allowed: i32,
}

impl DisruptionBudget {
    /// What preemption reads of a PodDisruptionBudget: its namespace, its selector (none
    /// reads as empty, and either covers no pod here) and `status.disruptionsAllowed`
    /// as the disruption controller last wrote it (0 when it never has).
    pub fn from_budget(budget: &PodDisruptionBudget) -> DisruptionBudget {
        DisruptionBudget {
            namespace: budget.metadata.namespace.clone(),
            selector: budget.spec.selector.clone().unwrap_or_default(),
            disruptions_allowed: i32::try_from(budget.status.disruptions_allowed)
                .unwrap_or(i32::MAX),
        }
    }
}

/// Whether removing pods from `node` could resolve `unfit` for `pod`: upstream's
/// `Unschedulable` (yes) versus `UnschedulableAndUnresolvable` (no). NodeName,
/// NodeUnschedulable, TaintToleration and NodeAffinity can never be helped; neither can a
/// missing topology label (PodTopologySpread) nor the pod's own required affinity
/// (InterPodAffinity, `satisfyPodAffinity` fails as unresolvable); NodeResourcesFit is
/// unresolvable when the pod asks for more of a resource than the node has at all
/// (`fitsRequest`'s `Unresolvable`: request above allocatable).
pub fn resolvable_by_preemption(unfit: &Unfit, pod: &PodInfo, node: &NodeInfo) -> bool {
    match unfit {
        Unfit::Resources(insufficient) => {
            let want = &pod.requests;
            let have = &node.allocatable;
            let beyond = (insufficient.cpu && want.cpu_millicores > have.cpu_millicores)
                || (insufficient.memory && want.memory_bytes > have.memory_bytes)
                || (insufficient.ephemeral_storage
                    && want.ephemeral_storage_bytes > have.ephemeral_storage_bytes)
                || insufficient.extended.iter().any(|name| {
                    extended_get(&pod.extended_requests, name)
                        > extended_get(&node.node.status.extended_allocatable, name)
                });
            !beyond
        }
        Unfit::NodePorts
        | Unfit::TopologySpread
        | Unfit::PodAntiAffinity
        | Unfit::ExistingPodsAntiAffinity => true,
        Unfit::NodeUnschedulable
        | Unfit::NodeName
        | Unfit::UntoleratedTaint { .. }
        | Unfit::NodeAffinity
        | Unfit::NodeAffinityEnforced
        | Unfit::TopologySpreadMissingLabel
        | Unfit::PodAffinity => false,
    }
}

/// When a pod started, for ordering: a pod that has not started yet counts as starting
/// now, i.e. after every pod that has (upstream `GetPodStartTime`).
fn start_time(pod: &Pod) -> SimTime {
    pod.status.start_time.unwrap_or(SimTime::MAX)
}

/// Importance order (`util.MoreImportantPod`): higher priority first, then the pod that
/// started earlier. Sorting by this key puts the most important pod first.
fn importance_key(pod: &Pod) -> (std::cmp::Reverse<i32>, SimTime) {
    (std::cmp::Reverse(pod.spec.priority), start_time(pod))
}

/// Counts `pod` on a copy of a node (`NodeInfo.AddPodInfo`).
pub fn add_pod(node: &mut NodeInfo, pod: &PodInfo) {
    node.totals.requested.add(&pod.requests);
    node.totals.non_zero_requested.add(&pod.non_zero_requests);
    node.totals.pod_count += 1;
    extended_add(&mut node.extended_requested, &pod.extended_requests);
    node.pods.add(pod.pod.clone());
}

/// Stops counting `pod` on a copy of a node (`NodeInfo.RemovePod`).
pub fn remove_pod(node: &mut NodeInfo, pod: &PodInfo) {
    node.pods.remove(pod.pod.metadata.uid);
    node.totals.requested.subtract(&pod.requests);
    node.totals
        .non_zero_requested
        .subtract(&pod.non_zero_requests);
    assert!(
        node.totals.pod_count > 0,
        "pod count underflow on a node copy"
    );
    node.totals.pod_count -= 1;
    extended_subtract(&mut node.extended_requested, &pod.extended_requests);
}

/// `filterPodsWithPDBViolation`: splits `pods` (kept in their order) into those whose
/// deletion would take some budget below zero and the others, spending each matching
/// budget's allowance pod by pod.
pub fn split_by_budget_violation(
    pods: Vec<PodInfo>,
    budgets: &[DisruptionBudget],
) -> (Vec<PodInfo>, Vec<PodInfo>) {
    let mut allowed: Vec<i32> = budgets.iter().map(|b| b.disruptions_allowed).collect();
    let mut violating = Vec::new();
    let mut other = Vec::new();
    for info in pods {
        let pod = &info.pod;
        let mut violates = false;
        // A pod without labels matches no budget; an empty selector matches nothing.
        if !pod.metadata.labels.is_empty() {
            for (budget, allowed) in budgets.iter().zip(allowed.iter_mut()) {
                if budget.namespace != pod.metadata.namespace
                    || budget.selector.is_empty()
                    || !budget.selector.matches(&pod.metadata.labels)
                {
                    continue;
                }
                *allowed -= 1;
                if *allowed < 0 {
                    violates = true;
                }
            }
        }
        if violates {
            violating.push(info);
        } else {
            other.push(info);
        }
    }
    (violating, other)
}

/// The pods to delete on one node, most important first, and how many of them break a
/// disruption budget (upstream `extenderv1.Victims`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Victims {
    pub pods: Vec<Rc<Pod>>,
    pub budget_violation_count: usize,
}

/// Why a node offers no preemption.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoVictims {
    /// The filters rejected the node in a way deleting pods cannot fix.
    NotHelpful,
    /// No pod on the node has lower priority than the preemptor.
    NoLowerPriorityPods,
    /// Even without every lower-priority pod the pod does not fit.
    StillUnfit(Unfit),
}

impl NoVictims {
    /// Upstream's reason, as the preemption part of the FitError message shows it.
    fn reason(&self) -> String {
        match self {
            NoVictims::NotHelpful => "Preemption is not helpful for scheduling".to_string(),
            NoVictims::NoLowerPriorityPods => {
                "No preemption victims found for incoming pod".to_string()
            }
            NoVictims::StillUnfit(unfit) => unfit.to_string(),
        }
    }
}

/// The filters the dry run runs on nodes changed in memory, with the PreFilter state they
/// read: the dry run works on a clone of [`DryRunFilter::state`], taking each pod it
/// removes off the clone and putting each pod it adds back.
pub trait DryRunFilter {
    /// The PreFilter state of the snapshot.
    fn state(&self) -> &CycleState;
    /// The filters for the pod on `node`, with `state` (the snapshot's, or a clone that
    /// follows the pods added to or removed from `node`).
    fn filter(&self, state: &CycleState, node: &NodeInfo) -> Result<(), Unfit>;
}

/// `SelectVictimsOnNode`: take every lower-priority pod off (a copy of) the node and off
/// a clone of the PreFilter state; if the pod then fits (`filter`, the profile's filters
/// with nominated pods), put them back one by one from the most important down,
/// budget-violating ones first, keeping back each one the pod still fits beside. What
/// could not be put back are the victims.
pub fn select_victims_on_node(
    pod: &PodInfo,
    node: &NodeInfo,
    budgets: &[DisruptionBudget],
    filter: &dyn DryRunFilter,
) -> Result<Victims, NoVictims> {
    let priority = pod.pod.spec.priority;
    let mut potential: Vec<PodInfo> = node
        .pods
        .all
        .iter()
        .filter(|p| p.spec.priority < priority)
        .map(|p| PodInfo::new(p.clone()))
        .collect();
    if potential.is_empty() {
        return Err(NoVictims::NoLowerPriorityPods);
    }
    let mut copy = node.clone();
    let mut state = filter.state().clone();
    for victim in &potential {
        remove_pod(&mut copy, victim);
        state.remove_pod(pod, victim, &copy);
    }
    filter
        .filter(&state, &copy)
        .map_err(NoVictims::StillUnfit)?;
    potential.sort_by_key(|p| importance_key(&p.pod));
    let (violating, other) = split_by_budget_violation(potential, budgets);
    let mixed = !violating.is_empty() && !other.is_empty();
    let mut victims: Vec<Rc<Pod>> = Vec::new();
    let mut budget_violation_count = 0;
    for (breaks_budget, info) in violating
        .into_iter()
        .map(|p| (true, p))
        .chain(other.into_iter().map(|p| (false, p)))
    {
        add_pod(&mut copy, &info);
        state.add_pod(pod, &info, &copy);
        if filter.filter(&state, &copy).is_err() {
            remove_pod(&mut copy, &info);
            state.remove_pod(pod, &info, &copy);
            victims.push(info.pod);
            if breaks_budget {
                budget_violation_count += 1;
            }
        }
    }
    if mixed {
        victims.sort_by_key(|p| importance_key(p));
    }
    if victims.is_empty() {
        // The pod fits beside every lower-priority pod: nothing to preempt here (upstream
        // reports this as an error status for the node).
        return Err(NoVictims::NoLowerPriorityPods);
    }
    Ok(Victims {
        pods: victims,
        budget_violation_count,
    })
}

/// A node where preemption would make the pod fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Index into the snapshot's nodes.
    pub node: usize,
    pub victims: Victims,
}

/// `DryRunPreemption`: visits the potential nodes from `offset` round-robin, selecting
/// victims on each, until at least one budget-respecting candidate is found and
/// `wanted` candidates in all. Returns the candidates (budget-respecting ones first) and
/// why each other visited node is none.
pub fn dry_run(
    pod: &PodInfo,
    nodes: &[NodeInfo],
    potential: &[usize],
    budgets: &[DisruptionBudget],
    offset: usize,
    wanted: usize,
    filter: &dyn DryRunFilter,
) -> (Vec<Candidate>, Vec<(usize, NoVictims)>) {
    let mut respecting = Vec::new();
    let mut violating = Vec::new();
    let mut rejected = Vec::new();
    for i in 0..potential.len() {
        let index = potential[(offset + i) % potential.len()];
        match select_victims_on_node(pod, &nodes[index], budgets, filter) {
            Ok(victims) => {
                let candidate = Candidate {
                    node: index,
                    victims,
                };
                if candidate.victims.budget_violation_count == 0 {
                    respecting.push(candidate);
                } else {
                    violating.push(candidate);
                }
                if !respecting.is_empty() && respecting.len() + violating.len() >= wanted {
                    break;
                }
            }
            Err(why) => rejected.push((index, why)),
        }
    }
    respecting.extend(violating);
    (respecting, rejected)
}

/// `pickOneNodeForPreemption`: among `candidates` (victims sorted most important first),
/// the one with the fewest budget violations; then the lowest highest-victim priority;
/// then the lowest sum of victim priorities (each offset by 2^31 so that more pods never
/// sum lower); then the fewest victims; then the latest start among the highest-priority
/// victims; then the first. Returns a position in `candidates`.
pub fn pick_one_node(candidates: &[Candidate]) -> usize {
    assert!(!candidates.is_empty(), "picking among no candidates");
    type Criterion = fn(&Victims) -> i64;
    let criteria: [Criterion; 5] = [
        |v| -(v.budget_violation_count as i64),
        |v| -i64::from(v.pods[0].spec.priority),
        |v| {
            -v.pods
                .iter()
                .map(|p| i64::from(p.spec.priority) + i64::from(i32::MAX) + 1)
                .sum::<i64>()
        },
        |v| -(v.pods.len() as i64),
        |v| {
            let highest = v.pods[0].spec.priority;
            let earliest = v
                .pods
                .iter()
                .filter(|p| p.spec.priority == highest)
                .map(|p| start_time(p))
                .min()
                .expect("the first victim has the highest priority");
            // Later is better; SimTime fits i64 for any simulated run.
            earliest.as_nanos().min(i64::MAX as u64) as i64
        },
    ];
    let mut remaining: Vec<usize> = (0..candidates.len()).collect();
    for criterion in criteria {
        let best = remaining
            .iter()
            .map(|&i| criterion(&candidates[i].victims))
            .max()
            .expect("remaining is never empty");
        remaining.retain(|&i| criterion(&candidates[i].victims) == best);
        if remaining.len() == 1 {
            break;
        }
    }
    remaining[0]
}

/// The pods nominated to nodes (upstream's `PodNominator`): pending pods whose
/// preemption made room somewhere, counted there when other pods of lower or equal
/// priority are filtered (`addNominatedPods`).
#[derive(Debug, Default)]
pub struct Nominator {
    by_node: FxIndexMap<Str, Vec<PodInfo>>,
    by_pod: FxIndexMap<u64, Str>,
}

impl Nominator {
    pub fn is_empty(&self) -> bool {
        self.by_pod.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_pod.len()
    }

    pub fn clear(&mut self) {
        *self = Nominator::default();
    }

    /// The node `uid` is nominated to.
    pub fn node_of(&self, uid: u64) -> Option<&Str> {
        self.by_pod.get(&uid)
    }

    /// The pods nominated to `node`.
    pub fn pods_on(&self, node: &str) -> &[PodInfo] {
        self.by_node.get(node).map_or(&[], Vec::as_slice)
    }

    /// Nominates `pod` to `node`, replacing any earlier nomination.
    pub fn nominate(&mut self, pod: PodInfo, node: Str) {
        let uid = pod.pod.metadata.uid;
        self.remove(uid);
        self.by_pod.insert(uid, node.clone());
        self.by_node.entry(node).or_default().push(pod);
    }

    pub fn remove(&mut self, uid: u64) {
        let Some(node) = self.by_pod.swap_remove(&uid) else {
            return;
        };
        let pods = self.by_node.get_mut(&node).expect("nominated node listed");
        pods.retain(|p| p.pod.metadata.uid != uid);
        if pods.is_empty() {
            self.by_node.swap_remove(&node);
        }
    }

    /// Follows a pod delta from the informer. A pending pod showing a nominated node is
    /// nominated there; one bound, finishing, deleted or terminating is not. When neither
    /// the old nor the new copy shows a nomination, one made in memory (whose status
    /// write is still on its way) is kept, as upstream's `updateNominatedPod` does.
    pub fn on_pod(&mut self, old: Option<&Rc<Pod>>, new: Option<&Rc<Pod>>) {
        let Some(pod) = new else {
            if let Some(old) = old {
                self.remove(old.metadata.uid);
            }
            return;
        };
        let uid = pod.metadata.uid;
        if pod.spec.node_name.is_some() || !pod.is_active() {
            self.remove(uid);
            return;
        }
        match &pod.status.nominated_node_name {
            Some(node) => self.nominate(PodInfo::new(pod.clone()), node.clone()),
            None => {
                let had = old.is_some_and(|old| old.status.nominated_node_name.is_some());
                match self.by_pod.get(&uid).cloned() {
                    Some(_) if had => self.remove(uid),
                    // Refresh the copy, keep the in-memory nomination.
                    Some(node) => self.nominate(PodInfo::new(pod.clone()), node),
                    None => {}
                }
            }
        }
    }
}

/// Runs `filter` as `RunFilterPluginsWithNominatedPods` does: when pods of equal or
/// higher priority than `pod` are nominated to `node`, first with them counted there (on
/// a copy of the node and a clone of `state`, `addNominatedPods`), then without them
/// (both must pass, since a nominated pod may also help, e.g. with affinity); otherwise
/// once.
pub fn filter_with_nominated(
    pod: &PodInfo,
    node: &NodeInfo,
    state: &CycleState,
    nominator: &Nominator,
    filter: &dyn Fn(&CycleState, &NodeInfo) -> Result<(), Unfit>,
) -> Result<(), Unfit> {
    if !nominator.is_empty() {
        let priority = pod.pod.spec.priority;
        let uid = pod.pod.metadata.uid;
        let mut others = nominator
            .pods_on(node.name())
            .iter()
            .filter(|p| p.pod.spec.priority >= priority && p.pod.metadata.uid != uid)
            .peekable();
        if others.peek().is_some() {
            let mut with = node.clone();
            let mut with_state = state.clone();
            for other in others {
                add_pod(&mut with, other);
                with_state.add_pod(pod, other, &with);
            }
            filter(&with_state, &with)?;
        }
    }
    filter(state, node)
}

/// The profile's filters run with the pods nominated to each node
/// ([`filter_with_nominated`]), for the dry run.
struct WithNominated<'a> {
    pod: &'a PodInfo,
    nominator: &'a Nominator,
    inner: &'a dyn DryRunFilter,
}

impl DryRunFilter for WithNominated<'_> {
    fn state(&self) -> &CycleState {
        self.inner.state()
    }

    fn filter(&self, state: &CycleState, node: &NodeInfo) -> Result<(), Unfit> {
        filter_with_nominated(self.pod, node, state, self.nominator, &|state, node| {
            self.inner.filter(state, node)
        })
    }
}

/// `PodEligibleToPreemptOthers`: a pod with `preemptionPolicy: Never` never preempts; a
/// pod already nominated to a node where a lower-priority pod is still terminating waits
/// for it, unless this cycle found the nominated node unresolvable.
pub fn eligible_to_preempt(
    pod: &PodInfo,
    nominated_node: Option<&NodeInfo>,
    nominated_node_unresolvable: bool,
) -> Result<(), &'static str> {
    if pod.pod.spec.preemption_policy == PreemptionPolicy::Never {
        return Err("not eligible due to preemptionPolicy=Never.");
    }
    if nominated_node_unresolvable {
        return Ok(());
    }
    let priority = pod.pod.spec.priority;
    if let Some(node) = nominated_node
        && node
            .pods
            .all
            .iter()
            .any(|p| p.spec.priority < priority && p.metadata.is_terminating())
    {
        return Err("not eligible due to a terminating pod on the nominated node.");
    }
    Ok(())
}

/// What the PostFilter decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostFilter {
    /// The pod may not preempt now; its nomination stays as it is. The text is
    /// upstream's reason.
    NotEligible(&'static str),
    /// No node can be made to fit: the nomination is cleared. The text completes the
    /// FitError message (`0/3 nodes are available: 3 No preemption victims found ...`).
    NoCandidates(String),
    /// Delete `candidate.victims` on `candidate.node` and nominate the pod there.
    Preempt {
        candidate: Candidate,
        /// Pending pods of lower priority nominated to that node: their nomination is
        /// cleared (`getLowerPriorityNominatedPods`).
        lower_priority_nominated: Vec<Rc<Pod>>,
    },
}

impl PostFilter {
    /// The text after `preemption: ` in the FitError message, when it is not a success.
    pub fn message(&self) -> Option<String> {
        match self {
            PostFilter::NotEligible(reason) => Some((*reason).to_string()),
            PostFilter::NoCandidates(message) => Some(message.clone()),
            PostFilter::Preempt { .. } => None,
        }
    }
}

/// What [`post_filter`] needs besides the pod.
pub struct PostFilterInput<'a> {
    pub nodes: &'a [NodeInfo],
    /// Every node a filter rejected this cycle, with why (all of them: a FitError means
    /// every node was visited).
    pub unfit: &'a [(usize, Unfit)],
    pub nominator: &'a Nominator,
    pub budgets: &'a [DisruptionBudget],
    pub args: &'a PreemptionArgs,
    /// The profile's filters for this pod on one node (without nominated pods), with
    /// their PreFilter state.
    pub filter: &'a dyn DryRunFilter,
}

/// `Evaluator.Preempt` for a pod no node fits: eligibility, candidates from a random
/// offset (the scheduler's stream), the best candidate, and who loses a nomination.
pub fn post_filter(pod: &PodInfo, input: &PostFilterInput<'_>, rng: &mut SimRng) -> PostFilter {
    let nodes = input.nodes;
    let nominated = pod
        .pod
        .status
        .nominated_node_name
        .as_ref()
        .and_then(|name| nodes.iter().position(|n| n.name() == name));
    let nominated_unresolvable = nominated.is_some_and(|index| {
        input
            .unfit
            .iter()
            .any(|(i, unfit)| *i == index && !resolvable_by_preemption(unfit, pod, &nodes[index]))
    });
    if let Err(reason) =
        eligible_to_preempt(pod, nominated.map(|i| &nodes[i]), nominated_unresolvable)
    {
        return PostFilter::NotEligible(reason);
    }
    let mut not_helpful = Vec::new();
    let potential: Vec<usize> = input
        .unfit
        .iter()
        .filter_map(|(index, unfit)| {
            if resolvable_by_preemption(unfit, pod, &nodes[*index]) {
                Some(*index)
            } else {
                not_helpful.push((*index, NoVictims::NotHelpful));
                None
            }
        })
        .collect();
    let filter = WithNominated {
        pod,
        nominator: input.nominator,
        inner: input.filter,
    };
    let (candidates, rejected) = if potential.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        let offset = rng.below(potential.len() as u64) as usize;
        let wanted = calculate_num_candidates(potential.len(), input.args);
        dry_run(
            pod,
            nodes,
            &potential,
            input.budgets,
            offset,
            wanted,
            &filter,
        )
    };
    if candidates.is_empty() {
        let reasons = rejected
            .iter()
            .chain(&not_helpful)
            .map(|(_, why)| why.reason());
        return PostFilter::NoCandidates(super::schedule_one::nodes_available_message(
            nodes.len(),
            reasons,
        ));
    }
    let best = candidates[pick_one_node(&candidates)].clone();
    let node = nodes[best.node].name();
    let priority = pod.pod.spec.priority;
    let lower_priority_nominated = input
        .nominator
        .pods_on(node)
        .iter()
        .filter(|p| p.pod.spec.priority < priority)
        .map(|p| p.pod.clone())
        .collect();
    PostFilter::Preempt {
        candidate: best,
        lower_priority_nominated,
    }
}

/// `ns/name` of each pod, comma-separated, for records.
pub fn pod_names(pods: &[Rc<Pod>]) -> String {
    pods.iter()
        .map(|p| format!("{}/{}", p.metadata.namespace, p.metadata.name))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        Affinity, Container, LABEL_HOSTNAME, Labels, Node, NodeInclusionPolicy, PodAffinity,
        PodAffinityTerm, ResourceList, ResourceRequirements, Taint, TaintEffect,
        TopologySpreadConstraint, UnsatisfiableConstraintAction, s,
    };
    use crate::scheduler::cache::Cache;
    use crate::scheduler::plugins::resources::{IgnoredResources, node_resources_fit};
    use crate::scheduler::plugins::tests::{node_with, pod_with};
    use crate::scheduler::plugins::topology_spread::SpreadMemo;
    use crate::scheduler::profile::Profile;
    use crate::scheduler::schedule_one::node_filter;

    const GI: u64 = 1024 * 1024 * 1024;

    fn cpu(millicores: u64) -> Container {
        Container {
            name: s("c"),
            image: s("app:v1"),
            resources: ResourceRequirements {
                requests: ResourceList {
                    cpu_millicores: Some(millicores),
                    ..ResourceList::default()
                },
                limits: ResourceList::default(),
            },
            ..Container::default()
        }
    }

    /// A pod `name` asking for `millicores`, with `priority`, started at `started_s`
    /// seconds, on `node` (or pending).
    fn pod(name: &str, millicores: u64, priority: i32, started_s: u64, node: Option<&str>) -> Pod {
        let mut pod = pod_with(vec![cpu(millicores)], vec![]);
        pod.metadata.name = s(name);
        pod.metadata.uid = name.bytes().fold(7u64, |h, b| h * 31 + u64::from(b));
        pod.spec.priority = priority;
        pod.spec.node_name = node.map(s);
        pod.status.start_time = node.map(|_| SimTime::from_nanos(started_s * 1_000_000_000));
        pod
    }

    fn cache(nodes: Vec<Node>, pods: Vec<Pod>) -> Cache {
        let nodes: Vec<Rc<Node>> = nodes.into_iter().map(Rc::new).collect();
        let pods: Vec<Rc<Pod>> = pods.into_iter().map(Rc::new).collect();
        Cache::from_objects(&nodes, &pods)
    }

    /// NodeResourcesFit alone, with no PreFilter state.
    struct Fits<'a>(&'a PodInfo, CycleState);

    impl DryRunFilter for Fits<'_> {
        fn state(&self) -> &CycleState {
            &self.1
        }

        fn filter(&self, _state: &CycleState, node: &NodeInfo) -> Result<(), Unfit> {
            node_resources_fit(self.0, node, &IgnoredResources::default())
        }
    }

    fn fits(pod: &PodInfo) -> Fits<'_> {
        Fits(pod, CycleState::default())
    }

    fn names(pods: &[Rc<Pod>]) -> Vec<&str> {
        pods.iter().map(|p| &*p.metadata.name).collect()
    }

    fn victims(names: &[&str], priorities: &[i32], violations: usize) -> Victims {
        Victims {
            pods: names
                .iter()
                .zip(priorities)
                .map(|(name, &priority)| Rc::new(pod(name, 100, priority, 0, Some("n"))))
                .collect(),
            budget_violation_count: violations,
        }
    }

    #[test]
    fn candidate_count_is_ten_percent_at_least_100_at_most_all() {
        let args = PreemptionArgs::default();
        assert_eq!(calculate_num_candidates(50, &args), 50);
        assert_eq!(calculate_num_candidates(500, &args), 100);
        assert_eq!(calculate_num_candidates(5000, &args), 500);
    }

    #[test]
    fn victims_are_the_fewest_lower_priority_pods_reprieving_the_most_important_first() {
        // 4000m node: a (prio 5, 1000m), b (prio 1, 1000m), c (prio 1, 2000m, started
        // earlier than b), d (prio 100, 1000m, higher than the pod: never a victim).
        let cache = cache(
            vec![node_with("n", 4000, GI, 110)],
            vec![
                pod("a", 1000, 5, 10, Some("n")),
                pod("b", 1000, 1, 20, Some("n")),
                pod("c", 1000, 1, 5, Some("n")),
                pod("d", 1000, 100, 0, Some("n")),
            ],
        );
        let preemptor = PodInfo::new(Rc::new(pod("p", 2000, 10, 0, None)));
        let node = cache.node(0);
        let chosen = select_victims_on_node(&preemptor, node, &[], &fits(&preemptor)).unwrap();
        // Removing a, b, c frees 3000m; reprieve order a (prio 5), c (earlier), b: a
        // fits back (2000m free), c does not, b does not.
        assert_eq!(names(&chosen.pods), ["c", "b"]);
        assert_eq!(chosen.budget_violation_count, 0);
        // The node copy was changed, the snapshot was not.
        assert_eq!(node.totals.pod_count, 4);
    }

    #[test]
    fn nodes_without_lower_priority_pods_or_room_give_no_victims() {
        let cache = cache(
            vec![node_with("n", 2000, GI, 110)],
            vec![
                pod("high", 1000, 50, 0, Some("n")),
                pod("low", 500, 1, 0, Some("n")),
            ],
        );
        let equal = PodInfo::new(Rc::new(pod("p", 2000, 1, 0, None)));
        assert_eq!(
            select_victims_on_node(&equal, cache.node(0), &[], &fits(&equal)),
            Err(NoVictims::NoLowerPriorityPods)
        );
        let big = PodInfo::new(Rc::new(pod("p", 1500, 10, 0, None)));
        assert!(matches!(
            select_victims_on_node(&big, cache.node(0), &[], &fits(&big)),
            Err(NoVictims::StillUnfit(Unfit::Resources(_)))
        ));
    }

    #[test]
    fn budget_violating_pods_are_reprieved_first() {
        // Two equal low-priority pods, room for the pod needs one gone. x is covered by
        // a budget allowing no disruption: it is put back first, so y is the victim.
        let mut x = pod("x", 1000, 1, 10, Some("n"));
        x.metadata.labels = Labels::from_pairs([("app", "db")]);
        let y = pod("y", 1000, 1, 0, Some("n"));
        let cache = cache(vec![node_with("n", 2000, GI, 110)], vec![x, y]);
        let budget = DisruptionBudget {
            namespace: s("default"),
            selector: LabelSelector::from_labels(Labels::from_pairs([("app", "db")])),
            disruptions_allowed: 0,
        };
        let preemptor = PodInfo::new(Rc::new(pod("p", 1000, 10, 0, None)));
        let chosen = select_victims_on_node(
            &preemptor,
            cache.node(0),
            std::slice::from_ref(&budget),
            &fits(&preemptor),
        )
        .unwrap();
        assert_eq!(names(&chosen.pods), ["y"]);
        assert_eq!(chosen.budget_violation_count, 0);
        // A pod needing both gone violates the budget once.
        let bigger = PodInfo::new(Rc::new(pod("q", 2000, 10, 0, None)));
        let chosen =
            select_victims_on_node(&bigger, cache.node(0), &[budget], &fits(&bigger)).unwrap();
        assert_eq!(names(&chosen.pods), ["y", "x"]);
        assert_eq!(chosen.budget_violation_count, 1);
    }

    #[test]
    fn a_budget_reads_its_written_status_and_a_missing_selector_covers_nothing() {
        use crate::api::{ObjectMeta, PodDisruptionBudgetSpec, PodDisruptionBudgetStatus};
        let mut pdb = PodDisruptionBudget {
            metadata: ObjectMeta::named("default", "db"),
            spec: PodDisruptionBudgetSpec::default(),
            status: PodDisruptionBudgetStatus::default(),
        };
        let mut p = pod("a", 100, 1, 0, Some("n"));
        p.metadata.labels = Labels::from_pairs([("app", "db")]);
        let pods = || vec![PodInfo::new(Rc::new(p.clone()))];
        // No selector: no pod is covered, even with nothing allowed.
        let budget = DisruptionBudget::from_budget(&pdb);
        assert_eq!(budget.disruptions_allowed, 0);
        assert_eq!(split_by_budget_violation(pods(), &[budget]).0.len(), 0);
        // A selector and a status nobody wrote: the pod's deletion violates it.
        pdb.spec.selector = Some(LabelSelector::from_labels(Labels::from_pairs([(
            "app", "db",
        )])));
        let budget = DisruptionBudget::from_budget(&pdb);
        assert_eq!(split_by_budget_violation(pods(), &[budget]).0.len(), 1);
        // Once the controller allows one disruption, it does not.
        pdb.status.disruptions_allowed = 1;
        let budget = DisruptionBudget::from_budget(&pdb);
        assert_eq!(budget.disruptions_allowed, 1);
        assert_eq!(split_by_budget_violation(pods(), &[budget]).0.len(), 0);
    }

    #[test]
    fn budgets_are_spent_pod_by_pod() {
        let labelled = |name| {
            let mut p = pod(name, 100, 1, 0, Some("n"));
            p.metadata.labels = Labels::from_pairs([("app", "web")]);
            PodInfo::new(Rc::new(p))
        };
        let budget = DisruptionBudget {
            namespace: s("default"),
            selector: LabelSelector::from_labels(Labels::from_pairs([("app", "web")])),
            disruptions_allowed: 1,
        };
        let (violating, other) =
            split_by_budget_violation(vec![labelled("a"), labelled("b"), labelled("c")], &[budget]);
        let names = |list: &[PodInfo]| {
            list.iter()
                .map(|p| p.pod.metadata.name.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&other), ["a"]);
        assert_eq!(names(&violating), ["b", "c"]);
    }

    #[test]
    fn pick_prefers_fewest_budget_violations() {
        let candidates = [
            Candidate {
                node: 0,
                victims: victims(&["a"], &[1], 1),
            },
            Candidate {
                node: 1,
                victims: victims(&["b", "c"], &[50, 50], 0),
            },
        ];
        assert_eq!(pick_one_node(&candidates), 1);
    }

    #[test]
    fn pick_prefers_the_lowest_highest_victim_priority() {
        let candidates = [
            Candidate {
                node: 0,
                victims: victims(&["a"], &[20], 0),
            },
            Candidate {
                node: 1,
                victims: victims(&["b", "c", "d"], &[10, 10, 10], 0),
            },
        ];
        assert_eq!(pick_one_node(&candidates), 1);
    }

    #[test]
    fn pick_prefers_the_lowest_priority_sum_offset_so_more_pods_never_sum_lower() {
        let candidates = [
            Candidate {
                node: 0,
                victims: victims(&["a", "b"], &[10, 5], 0),
            },
            Candidate {
                node: 1,
                victims: victims(&["c", "d"], &[10, 1], 0),
            },
        ];
        assert_eq!(pick_one_node(&candidates), 1);
        // Negative priorities: without the offset, three pods of -10 would sum lower
        // than two; with it, two pods win.
        let candidates = [
            Candidate {
                node: 0,
                victims: victims(&["a", "b", "c"], &[-10, -10, -10], 0),
            },
            Candidate {
                node: 1,
                victims: victims(&["d", "e"], &[-10, -10], 0),
            },
        ];
        assert_eq!(pick_one_node(&candidates), 1);
    }

    #[test]
    fn pick_prefers_fewest_victims_when_sums_tie() {
        // With the 2^31 offset a priority of i32::MIN adds nothing to the sum: the
        // two nodes tie on highest priority and sum, and the one with fewer victims wins.
        let candidates = [
            Candidate {
                node: 0,
                victims: victims(&["a", "b"], &[5, i32::MIN], 0),
            },
            Candidate {
                node: 1,
                victims: victims(&["c"], &[5], 0),
            },
        ];
        assert_eq!(pick_one_node(&candidates), 1);
    }

    #[test]
    fn pick_prefers_the_latest_started_highest_priority_victims_then_the_first() {
        let started = |name, seconds: u64| {
            let mut p = pod(name, 100, 5, 0, Some("n"));
            p.status.start_time = Some(SimTime::from_nanos(seconds * 1_000_000_000));
            Victims {
                pods: vec![Rc::new(p)],
                budget_violation_count: 0,
            }
        };
        let candidates = [
            Candidate {
                node: 0,
                victims: started("a", 100),
            },
            Candidate {
                node: 1,
                victims: started("b", 200),
            },
        ];
        assert_eq!(pick_one_node(&candidates), 1);
        let tied = [
            Candidate {
                node: 0,
                victims: started("a", 100),
            },
            Candidate {
                node: 1,
                victims: started("b", 100),
            },
        ];
        assert_eq!(pick_one_node(&tied), 0);
    }

    #[test]
    fn unresolvable_rejections_are_not_candidates() {
        let mut tainted = node_with("tainted", 1000, GI, 110);
        tainted.spec.taints = vec![Taint {
            key: s("dedicated"),
            value: s("gpu"),
            effect: TaintEffect::NoSchedule,
            time_added: None,
        }];
        let cache = cache(
            vec![
                tainted,
                node_with("tiny", 500, GI, 110),
                node_with("full", 1000, GI, 110),
            ],
            vec![
                pod("t", 1000, 0, 0, Some("tainted")),
                pod("f", 1000, 0, 0, Some("full")),
            ],
        );
        let preemptor = PodInfo::new(Rc::new(pod("p", 800, 100, 0, None)));
        let nodes = cache.nodes();
        let taint = Unfit::UntoleratedTaint {
            key: s("dedicated"),
            value: s("gpu"),
        };
        let cpu_short =
            node_resources_fit(&preemptor, &nodes[1], &IgnoredResources::default()).unwrap_err();
        // 800m on a 500m node: more than the node has at all.
        assert!(!resolvable_by_preemption(&cpu_short, &preemptor, &nodes[1]));
        assert!(!resolvable_by_preemption(&taint, &preemptor, &nodes[0]));
        let full =
            node_resources_fit(&preemptor, &nodes[2], &IgnoredResources::default()).unwrap_err();
        assert!(resolvable_by_preemption(&full, &preemptor, &nodes[2]));
        let unfit = vec![(0, taint), (1, cpu_short), (2, full)];
        let filter = fits(&preemptor);
        let nominator = Nominator::default();
        let input = PostFilterInput {
            nodes,
            unfit: &unfit,
            nominator: &nominator,
            budgets: &[],
            args: &PreemptionArgs::default(),
            filter: &filter,
        };
        let mut rng = SimRng::for_stream(1, "kube-scheduler");
        match post_filter(&preemptor, &input, &mut rng) {
            PostFilter::Preempt {
                candidate,
                lower_priority_nominated,
            } => {
                // Only "full" was tried, though the tainted node's pod is a victim too.
                assert_eq!(candidate.node, 2);
                assert_eq!(names(&candidate.victims.pods), ["f"]);
                assert!(lower_priority_nominated.is_empty());
            }
            other => panic!("expected a preemption, got {other:?}"),
        }
        // Nothing resolvable: the message says why, node by node.
        let unresolvable = &unfit[..2];
        let input = PostFilterInput {
            unfit: unresolvable,
            ..input
        };
        assert_eq!(
            post_filter(&preemptor, &input, &mut rng),
            PostFilter::NoCandidates(
                "0/3 nodes are available: 2 Preemption is not helpful for scheduling.".to_string()
            )
        );
    }

    #[test]
    fn a_preemptor_waits_for_terminating_victims_and_never_preempts_when_told_not_to() {
        let mut going = pod("going", 1000, 0, 0, Some("n"));
        going.metadata.deletion_timestamp = Some(SimTime::from_nanos(5));
        let cache = cache(vec![node_with("n", 1000, GI, 110)], vec![going]);
        let mut preemptor = pod("p", 1000, 10, 0, None);
        preemptor.status.nominated_node_name = Some(s("n"));
        let info = PodInfo::new(Rc::new(preemptor.clone()));
        assert_eq!(
            eligible_to_preempt(&info, Some(cache.node(0)), false),
            Err("not eligible due to a terminating pod on the nominated node.")
        );
        assert_eq!(
            eligible_to_preempt(&info, Some(cache.node(0)), true),
            Ok(())
        );
        preemptor.spec.preemption_policy = PreemptionPolicy::Never;
        let never = PodInfo::new(Rc::new(preemptor));
        assert_eq!(
            eligible_to_preempt(&never, None, false),
            Err("not eligible due to preemptionPolicy=Never.")
        );
    }

    #[test]
    fn dry_run_stops_once_enough_candidates_are_found_from_the_offset() {
        let nodes: Vec<Node> = (0..5)
            .map(|i| node_with(&format!("n{i}"), 1000, GI, 110))
            .collect();
        let pods = (0..5)
            .map(|i| pod(&format!("v{i}"), 1000, 0, 0, Some(&format!("n{i}"))))
            .collect();
        let cache = cache(nodes, pods);
        let preemptor = PodInfo::new(Rc::new(pod("p", 500, 10, 0, None)));
        let potential = [0, 1, 2, 3, 4];
        let (candidates, rejected) = dry_run(
            &preemptor,
            cache.nodes(),
            &potential,
            &[],
            3,
            2,
            &fits(&preemptor),
        );
        assert!(rejected.is_empty());
        assert_eq!(
            candidates.iter().map(|c| c.node).collect::<Vec<_>>(),
            [3, 4]
        );
    }

    #[test]
    fn a_nominated_pod_tries_its_node_first_and_others_see_it_there() {
        use crate::scheduler::profile::Profile;
        use crate::scheduler::schedule_one::{
            CycleInput, Scratch, Selection, schedule_pod_with_nominated,
        };
        let cache = cache(
            vec![node_with("a", 1000, GI, 110), node_with("b", 1000, GI, 110)],
            vec![],
        );
        let profile = Profile::default();
        let input = CycleInput {
            profile: &profile,
            percentage_of_nodes_to_score: 0,
            start: 0,
            explain: false,
        };
        let mut rng = SimRng::for_stream(1, "kube-scheduler");
        let mut scratch = Scratch::default();
        let mut nominated = pod("p", 800, 10, 0, None);
        nominated.status.nominated_node_name = Some(s("b"));
        let nominated = PodInfo::new(Rc::new(nominated));
        let mut nominator = Nominator::default();
        nominator.nominate(nominated.clone(), s("b"));
        // evaluateNominatedNode: b passes, so it is chosen without visiting a.
        let outcome = schedule_pod_with_nominated(
            input,
            &nominated,
            &cache,
            &nominator,
            &mut rng,
            &mut scratch,
        );
        assert_eq!(
            outcome.selection,
            Selection::Node {
                node: 1,
                feasible_count: 1,
                best_score: None
            }
        );
        assert_eq!(outcome.processed, 0);
        // A lower-priority pod sees b as taken by the nominated pod; a higher one not.
        let lower = PodInfo::new(Rc::new(pod("l", 500, 5, 0, None)));
        let outcome =
            schedule_pod_with_nominated(input, &lower, &cache, &nominator, &mut rng, &mut scratch);
        assert_eq!(
            outcome.selection,
            Selection::Node {
                node: 0,
                feasible_count: 1,
                best_score: None
            }
        );
        let higher = PodInfo::new(Rc::new(pod("h", 500, 50, 0, None)));
        let outcome =
            schedule_pod_with_nominated(input, &higher, &cache, &nominator, &mut rng, &mut scratch);
        assert!(matches!(
            outcome.selection,
            Selection::Node {
                feasible_count: 2,
                ..
            }
        ));
    }

    #[test]
    fn nominated_pods_of_equal_or_higher_priority_count_on_their_node() {
        let cache = cache(vec![node_with("n", 1000, GI, 110)], vec![]);
        let mut nominator = Nominator::default();
        let mut waiting = pod("waiting", 800, 10, 0, None);
        waiting.status.nominated_node_name = Some(s("n"));
        let waiting = Rc::new(waiting);
        nominator.on_pod(None, Some(&waiting));
        assert_eq!(
            nominator.node_of(waiting.metadata.uid).map(|n| &**n),
            Some("n")
        );
        let lower = PodInfo::new(Rc::new(pod("lower", 500, 5, 0, None)));
        let higher = PodInfo::new(Rc::new(pod("higher", 500, 20, 0, None)));
        let node = cache.node(0);
        assert!(
            filter_with_nominated(
                &lower,
                node,
                &CycleState::default(),
                &nominator,
                &|state, node| fits(&lower).filter(state, node)
            )
            .is_err()
        );
        assert!(
            filter_with_nominated(
                &higher,
                node,
                &CycleState::default(),
                &nominator,
                &|state, node| fits(&higher).filter(state, node)
            )
            .is_ok()
        );
        // The in-memory nomination survives an update that shows none yet; a bound copy
        // ends it.
        let mut plain = (*waiting).clone();
        plain.status.nominated_node_name = None;
        let plain = Rc::new(plain);
        nominator.clear();
        nominator.nominate(PodInfo::new(plain.clone()), s("n"));
        nominator.on_pod(Some(&plain), Some(&plain));
        assert_eq!(nominator.len(), 1);
        let mut bound = (*plain).clone();
        bound.spec.node_name = Some(s("n"));
        nominator.on_pod(Some(&plain), Some(&Rc::new(bound)));
        assert!(nominator.is_empty());
    }

    /// `n` labelled with its hostname.
    fn host(name: &str) -> Node {
        let mut node = node_with(name, 4000, GI, 110);
        node.metadata.labels = Labels::from_pairs([(LABEL_HOSTNAME, name)]);
        node
    }

    /// [`pod`] labelled `app=<app>`.
    fn app(name: &str, app: &str, priority: i32, started_s: u64, node: Option<&str>) -> Pod {
        let mut pod = pod(name, 100, priority, started_s, node);
        pod.metadata.labels = Labels::from_pairs([("app", app)]);
        pod
    }

    fn app_selector(app: &str) -> LabelSelector {
        LabelSelector::from_labels(Labels::from_pairs([("app", app)]))
    }

    /// Victims on `node` with the default profile's filters (and their PreFilter state).
    fn victims_with_profile(
        cache: &Cache,
        preemptor: &PodInfo,
        node: usize,
    ) -> Result<Victims, NoVictims> {
        let profile = Profile::default();
        let mut memo = SpreadMemo::default();
        let filter = node_filter(&profile, preemptor, cache, &mut memo);
        select_victims_on_node(preemptor, cache.node(node), &[], &filter)
    }

    #[test]
    fn a_spread_victim_stops_counting_in_its_domain() {
        // maxSkew 1 by hostname over app=web: "a" and "b" (priority 0) on n1, a
        // priority-1000 one on n2. The preemptor (web) on n1: 2 + 1 - 1 = 2 > 1. Without
        // both: 0 + 1 - 0 = 1 fits; "a" (started first) back: 1 + 1 - 1 = 1 fits; "b"
        // back: 2 + 1 - 1 = 2 does not, so "b" is the one victim.
        let cache = cache(
            vec![host("n1"), host("n2")],
            vec![
                app("a", "web", 0, 10, Some("n1")),
                app("b", "web", 0, 20, Some("n1")),
                app("keep", "web", 1000, 0, Some("n2")),
            ],
        );
        let mut preemptor = app("p", "web", 100, 0, None);
        preemptor.spec.topology_spread_constraints = vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: s(LABEL_HOSTNAME),
            when_unsatisfiable: UnsatisfiableConstraintAction::DoNotSchedule,
            label_selector: Some(app_selector("web")),
            min_domains: None,
            node_affinity_policy: NodeInclusionPolicy::Honor,
            node_taints_policy: NodeInclusionPolicy::Ignore,
            match_label_keys: vec![],
        }]
        .into();
        let preemptor = PodInfo::new(Rc::new(preemptor));
        let chosen = victims_with_profile(&cache, &preemptor, 0).unwrap();
        assert_eq!(names(&chosen.pods), ["b"]);
        // The dry run worked on a clone: the snapshot's state still counts both.
        let profile = Profile::default();
        let filter = node_filter(&profile, &preemptor, &cache, &mut SpreadMemo::default());
        assert_eq!(
            filter.filter(filter.state(), cache.node(0)),
            Err(Unfit::TopologySpread)
        );
    }

    #[test]
    fn an_anti_affinity_victim_stops_counting_for_the_preemptor_and_for_itself() {
        // The preemptor keeps away from app=db by hostname; "db" (priority 0) is on n,
        // beside "other" (priority 0), which the preemptor does not mind.
        let cache = cache(
            vec![host("n")],
            vec![
                app("db", "db", 0, 10, Some("n")),
                app("other", "other", 0, 5, Some("n")),
            ],
        );
        let away_from = |app: &str| PodAffinity {
            required: vec![PodAffinityTerm {
                label_selector: Some(app_selector(app)),
                namespaces: vec![],
                namespace_selector: None,
                topology_key: s(LABEL_HOSTNAME),
                match_label_keys: vec![],
                mismatch_label_keys: vec![],
            }],
            preferred: vec![],
        };
        let mut preemptor = app("p", "web", 100, 0, None);
        preemptor.spec.affinity = Some(Rc::new(Affinity {
            pod_anti_affinity: Some(away_from("db")),
            ..Affinity::default()
        }));
        let preemptor = PodInfo::new(Rc::new(preemptor));
        let chosen = victims_with_profile(&cache, &preemptor, 0).unwrap();
        assert_eq!(names(&chosen.pods), ["db"]);

        // The other way round: a lower-priority pod keeping away from app=web.
        let mut guard = app("guard", "guard", 0, 10, Some("n"));
        guard.spec.affinity = Some(Rc::new(Affinity {
            pod_anti_affinity: Some(away_from("web")),
            ..Affinity::default()
        }));
        let cache = super::tests::cache(
            vec![host("n")],
            vec![guard, app("other", "other", 0, 5, Some("n"))],
        );
        let preemptor = PodInfo::new(Rc::new(app("p", "web", 100, 0, None)));
        let chosen = victims_with_profile(&cache, &preemptor, 0).unwrap();
        assert_eq!(names(&chosen.pods), ["guard"]);
    }
}
