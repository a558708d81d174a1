//! Cluster-wide invariants, checked after every event of every run (sim-core's
//! `Simulation::add_invariant`). Each checker follows the cluster incrementally, from
//! etcd's change history and the controllers' own logs, so a check costs a comparison
//! or two when nothing relevant happened (they run in `scale-1k`).
//!
//! - A pod is never bound twice ([`rebinding`]): once a pod has a `spec.nodeName`, no
//!   write changes it (the API server refuses a second Binding with 409 Conflict).
//! - [`NoEarlyTaintEviction`]: the taint-eviction controller deletes a pod no earlier
//!   than a NoExecute taint on its node allows: at once only for a taint the pod does
//!   not tolerate, else `timeAdded + tolerationSeconds` of the toleration used.

use std::cell::RefCell;
use std::rc::Rc;

use sim_core::{ActorId, FxIndexMap, SimDuration, SimTime, Simulation};

use crate::api::{Node, Object, Pod, Str, TaintEffect};
use crate::client::leader_election::LeaderElector;
use crate::controllers::ControllerManager;
use crate::controllers::node_lifecycle::TaintEvictionRecord;
use crate::etcd::Etcd;
use crate::msg::Msg;
use crate::scheduler::Scheduler;

/// Installs every cluster invariant on `sim`, as two checks: one after each event of an
/// etcd member (the pod and node changes it applied) and one after each event of a
/// controller manager (its taint evictions), so neither runs for the other's events (in
/// `scale-1k` nearly every write is a Lease renewal no controller manager hears about); a
/// violation's message starts with the invariant's name.
pub fn install(sim: &mut Simulation<Msg>, etcd: &[ActorId], controller_managers: &[ActorId]) {
    let members = etcd.to_vec();
    let mut follower = Follower::default();
    // One checker per controller manager replica: each keeps its own eviction log (only
    // the leader's grows), and each checker remembers how much of its log it has read.
    // The etcd half tells them the NoExecute taints it sees; the other half checks the
    // evictions against them.
    let early: Rc<RefCell<Vec<(ActorId, NoEarlyTaintEviction)>>> = Rc::new(RefCell::new(
        controller_managers
            .iter()
            .map(|&id| (id, NoEarlyTaintEviction::default()))
            .collect(),
    ));
    let observers = Rc::clone(&early);
    sim.add_invariant_over(
        "cluster invariants (etcd)",
        etcd,
        Box::new(move |sim| {
            let store = crate::etcd::freshest(sim, &members);
            // Both checkers read the same new changes: one walk over them per write.
            let Some(after) = follower.advance(store) else {
                return Ok(());
            };
            let check = |previous: Option<&Object>, object: Option<&Object>| {
                match (previous, object) {
                    (Some(Object::Pod(previous)), Some(Object::Pod(next))) => {
                        if let Some(why) = rebinding(previous, next) {
                            return Err(format!("a pod is never bound twice: {why}"));
                        }
                    }
                    (_, Some(Object::Node(node))) => {
                        for (_, checker) in observers.borrow_mut().iter_mut() {
                            checker.observe(node, sim.now());
                        }
                    }
                    _ => {}
                }
                Ok(())
            };
            // One write (the usual case) is read directly.
            if store.revision() == after + 1
                && let Some((previous, object)) = store.change_at(after + 1)
            {
                return check(previous, object);
            }
            // A gap (compaction, a restored store) leaves nothing to compare against.
            for (previous, object) in store.changes_since(after).into_iter().flatten() {
                check(previous, object)?;
            }
            Ok(())
        }),
    );
    sim.add_invariant_over(
        "cluster invariants (controller manager)",
        controller_managers,
        Box::new(move |sim| {
            for (id, checker) in early.borrow_mut().iter_mut() {
                let manager = sim
                    .actor::<ControllerManager>(*id)
                    .expect("a controller manager actor");
                checker.check(manager.taint_evictions()).map_err(|why| {
                    format!("no pod is evicted earlier than its toleration allows: {why}")
                })?;
            }
            Ok(())
        }),
    );
}

/// Follows etcd's revisions: the changes since the last look, once each. A store that
/// went back in time (restored from a snapshot) is followed from where it now stands.
#[derive(Debug, Default)]
struct Follower {
    revision: u64,
}

impl Follower {
    /// The revision to read changes after, if the store moved since the last look.
    fn advance(&mut self, etcd: &Etcd) -> Option<u64> {
        let current = etcd.revision();
        if current == self.revision {
            return None;
        }
        let after = self.revision.min(current);
        self.revision = current;
        Some(after)
    }
}

/// The violation, if a pod write moved a bound pod: its `nodeName` was set before and
/// differs after.
pub fn rebinding(previous: &Pod, next: &Pod) -> Option<String> {
    let before = previous.spec.node_name.as_ref()?;
    if next.spec.node_name.as_ref() == Some(before) || next.metadata.uid != previous.metadata.uid {
        return None;
    }
    Some(format!(
        "pod {}/{} (uid {}) was bound to {before} and is now {}",
        next.metadata.namespace,
        next.metadata.name,
        next.metadata.uid,
        match &next.spec.node_name {
            Some(node) => format!("bound to {node}"),
            None => "unbound".to_string(),
        }
    ))
}

/// "No pod is evicted earlier than its toleration allows."
#[derive(Debug, Default)]
pub struct NoEarlyTaintEviction {
    /// Every NoExecute taint seen on each node: (key, value, when it was added). A
    /// taint without `timeAdded` counts from when the checker first saw it.
    taints: FxIndexMap<Str, Vec<(Str, Str, SimTime)>>,
    /// How many of the controller's eviction records were checked.
    checked_count: usize,
}

/// When a NoExecute taint added at `time_added` first allows deleting a pod with
/// `tolerations`: at once if none matches, never (`None`) if the first match has no
/// `tolerationSeconds`, else `timeAdded + tolerationSeconds` (tainteviction's
/// `GetMatchingTolerations`: the first matching toleration is the one used).
pub fn earliest_eviction(
    taint_key: &Str,
    taint_value: &Str,
    time_added: SimTime,
    tolerations: &[crate::api::Toleration],
) -> Option<SimTime> {
    let taint = crate::api::Taint {
        key: taint_key.clone(),
        value: taint_value.clone(),
        effect: TaintEffect::NoExecute,
        time_added: Some(time_added),
    };
    match tolerations.iter().find(|t| t.tolerates(&taint)) {
        None => Some(time_added),
        Some(used) => used
            .toleration_seconds
            .map(|seconds| time_added + SimDuration::from_secs(seconds)),
    }
}

impl NoEarlyTaintEviction {
    /// Checks the controller's eviction records added since the last call, against the
    /// taints [`observe`](Self::observe) has seen.
    pub fn check(&mut self, evictions: &[TaintEvictionRecord]) -> Result<(), String> {
        if self.checked_count == evictions.len() {
            return Ok(());
        }
        assert!(
            self.checked_count < evictions.len(),
            "the eviction log only grows"
        );
        for record in &evictions[self.checked_count..] {
            self.check_one(record)?;
        }
        self.checked_count = evictions.len();
        Ok(())
    }

    /// Notes the NoExecute taints of a node as written to etcd.
    pub fn observe(&mut self, node: &Rc<Node>, now: SimTime) {
        let mut no_execute = node
            .spec
            .taints
            .iter()
            .filter(|t| t.effect == TaintEffect::NoExecute)
            .peekable();
        if no_execute.peek().is_none() {
            return;
        }
        let seen = self.taints.entry(node.metadata.name.clone()).or_default();
        for taint in no_execute {
            let time_added = taint.time_added.unwrap_or(now);
            let known = seen.iter().any(|(key, value, at)| {
                *key == taint.key
                    && *value == taint.value
                    && (taint.time_added.is_none() || *at == time_added)
            });
            if !known {
                seen.push((taint.key.clone(), taint.value.clone(), time_added));
            }
        }
    }

    fn check_one(&self, record: &TaintEvictionRecord) -> Result<(), String> {
        let pod = &record.pod;
        let seen = self.taints.get(&record.node).map_or(&[][..], Vec::as_slice);
        let earliest = seen
            .iter()
            .filter_map(|(key, value, added)| {
                earliest_eviction(key, value, *added, &pod.spec.tolerations)
            })
            .min();
        match earliest {
            Some(earliest) if earliest <= record.at => Ok(()),
            Some(earliest) => Err(format!(
                "pod {}/{} was evicted from {} at {}, before its toleration allows ({earliest})",
                pod.metadata.namespace, pod.metadata.name, record.node, record.at
            )),
            None => Err(format!(
                "pod {}/{} was evicted from {} at {} though no NoExecute taint seen there allows it",
                pod.metadata.namespace, pod.metadata.name, record.node, record.at
            )),
        }
    }
}

/// Installs "at most one leader": at no instant do two running replicas of the scheduler,
/// or of the controller manager, both lead, each by its own view (between
/// `OnStartedLeading` and `OnStoppedLeading`, the only time a replica acts). Nothing is
/// installed for a component with one replica or without `--leader-elect` (then every
/// replica acts, by configuration).
pub fn install_leader_election(
    sim: &mut Simulation<Msg>,
    schedulers: &[ActorId],
    controller_managers: &[ActorId],
) {
    fn scheduler(sim: &Simulation<Msg>, id: ActorId) -> Option<&LeaderElector> {
        sim.actor::<Scheduler>(id)
            .expect("a scheduler replica")
            .election()
    }
    fn manager(sim: &Simulation<Msg>, id: ActorId) -> Option<&LeaderElector> {
        sim.actor::<ControllerManager>(id)
            .expect("a controller manager replica")
            .election()
    }
    type Elector = fn(&Simulation<Msg>, ActorId) -> Option<&LeaderElector>;
    let mut groups: Vec<(&'static str, Vec<ActorId>, Elector)> = Vec::new();
    for (component, replicas, elector) in [
        ("kube-scheduler", schedulers, scheduler as Elector),
        (
            "kube-controller-manager",
            controller_managers,
            manager as Elector,
        ),
    ] {
        let elected = replicas.iter().all(|&id| elector(sim, id).is_some());
        if replicas.len() > 1 && elected {
            groups.push((component, replicas.to_vec(), elector));
        }
    }
    if groups.is_empty() {
        return;
    }
    let replicas: Vec<ActorId> = groups
        .iter()
        .flat_map(|(_, replicas, _)| replicas.iter().copied())
        .collect();
    sim.add_invariant_over(
        "at most one leader",
        &replicas,
        Box::new(move |sim| {
            for (component, replicas, elector) in &groups {
                let mut leading = replicas.iter().filter_map(|&id| {
                    let election = elector(sim, id).expect("an elector");
                    (sim.actor_up(id) && election.is_leading())
                        .then(|| format!("{} ({})", sim.actor_name(id), election.identity()))
                });
                if let (Some(first), Some(second)) = (leading.next(), leading.next()) {
                    return Err(format!(
                        "at most one {component} leads: {first} and {second} both do"
                    ));
                }
            }
            Ok(())
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::s;
    use crate::controllers::node_lifecycle::tests::toleration;

    fn at(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    #[test]
    fn a_bound_pod_may_not_move_or_lose_its_node() {
        let mut pod = crate::scheduler::plugins::tests::pod_with(Vec::new(), Vec::new());
        pod.metadata.uid = 7;
        pod.spec.node_name = None;
        let unbound = pod.clone();
        pod.spec.node_name = Some(s("node-1"));
        let bound = pod.clone();
        assert_eq!(rebinding(&unbound, &bound), None);
        assert_eq!(rebinding(&bound, &bound), None);
        pod.spec.node_name = Some(s("node-2"));
        let moved = rebinding(&bound, &pod).expect("a second binding");
        assert!(moved.contains("was bound to node-1 and is now bound to node-2"));
        assert!(rebinding(&bound, &unbound).is_some());
        // Another pod of the same name (a new uid) is not a rebinding.
        pod.metadata.uid = 8;
        assert_eq!(rebinding(&bound, &pod), None);
    }

    #[test]
    fn the_first_matching_toleration_sets_the_earliest_eviction() {
        let key = s("node.kubernetes.io/unreachable");
        let empty = s("");
        let defaults = [toleration("node.kubernetes.io/unreachable", Some(300))];
        assert_eq!(
            earliest_eviction(&key, &empty, at(60), &defaults),
            Some(at(360))
        );
        assert_eq!(earliest_eviction(&key, &empty, at(60), &[]), Some(at(60)));
        let forever = [
            toleration("", None),
            toleration("node.kubernetes.io/unreachable", Some(300)),
        ];
        assert_eq!(earliest_eviction(&key, &empty, at(60), &forever), None);
    }
}
