//! Rollout invariants of issue 5, checked from outside the simulation on what etcd has
//! committed, after every event:
//!
//! 1. During a rolling update with no faults, a Deployment's available pods never drop
//!    below `replicas − maxUnavailable`, and its live pods never exceed
//!    `replicas + maxSurge`.
//! 2. A ReplicaSet never has more live pods than it asked for once its controller says it
//!    has settled: whenever the ReplicaSet's status shows the current generation observed
//!    and `status.replicas == spec.replicas`, etcd holds at most `spec.replicas` live pods
//!    of it. (The ReplicaSet controller's pod writes go out on its one connection before
//!    its status write, so they are committed by then.)
//!
//! Words, exactly:
//! - A *live* pod is neither terminating nor Succeeded/Failed (upstream `IsPodActive`); an
//!   *available* pod has been Ready for at least the Deployment's minReadySeconds.
//! - A *rolling update* starts with a write that changes the pod template of a
//!   RollingUpdate Deployment whose previous state was complete (generation observed,
//!   replicas updated, ready and available all equal to spec.replicas), and lasts until
//!   the Deployment is complete again. Template changes during it (another set image, a
//!   rollback) continue it.
//! - *No faults*: the runner installs this checker only when the scenario's timeline holds
//!   nothing but apply, scale, set image and rollout actions (no node kill or restart, no
//!   partition, no delete, cordon or drain); and a rolling update stops being checked
//!   when something outside the rollout disturbs it: an available pod of the Deployment
//!   stops being Ready while it is not terminating (a container or node failure), or the
//!   Deployment is scaled or its strategy or minReadySeconds changes (proportional scaling
//!   follows other bounds mid-change).
//!
//! The checker is incremental: it reads only the changes etcd committed since it last
//! looked, keeps per-pod, per-ReplicaSet and per-Deployment counts in index maps, and
//! re-counts only the Deployments a change touched (their own pods, never all pods).

use std::rc::Rc;

use sim_core::{FxIndexMap, SimDuration, SimTime};

use crate::api::{Deployment, DeploymentStrategy, Kind, Object, Pod, ReplicaSet};
use crate::cluster::Cluster;
use crate::controllers::deployment::{max_surge, max_unavailable};
use crate::etcd::Etcd;

/// The invariant's name in a violation report.
pub const INVARIANT_NAME: &str = "deployment-rollout";

/// Adds the rollout invariants to the cluster's simulation.
pub fn install(cluster: &mut Cluster) {
    let members = cluster.etcd_members.clone();
    let mut checker = RolloutChecker::default();
    let watched = members.clone();
    cluster.sim.add_invariant_over(
        INVARIANT_NAME,
        &watched,
        Box::new(move |sim| {
            let etcd: &Etcd = crate::etcd::freshest(sim, &members);
            checker.check(etcd, sim.now())
        }),
    );
}

#[derive(Clone, Copy, Debug)]
struct PodEntry {
    replica_set: u64,
    deployment: Option<u64>,
    live: bool,
    /// When it became Ready, if it is Ready.
    ready_since: Option<SimTime>,
}

#[derive(Clone, Debug)]
struct ReplicaSetEntry {
    deployment: Option<u64>,
    live_pods: u32,
}

/// The bounds of a rolling update in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    replicas: u32,
    max_surge: u32,
    max_unavailable: u32,
    min_ready_seconds: u64,
}

#[derive(Clone, Debug)]
struct DeploymentEntry {
    name: String,
    /// Live pods of its ReplicaSets, with when each became Ready.
    pods: FxIndexMap<u64, Option<SimTime>>,
    window: Option<Window>,
    min_ready_seconds: u64,
}

impl DeploymentEntry {
    fn available(&self, now: SimTime) -> u32 {
        let min_ready = SimDuration::from_secs(self.min_ready_seconds);
        self.pods
            .values()
            .filter(|since| since.is_some_and(|since| now.saturating_since(since) >= min_ready))
            .count() as u32
    }
}

/// The checker's incremental view of etcd.
#[derive(Debug, Default)]
pub struct RolloutChecker {
    revision: u64,
    pods: FxIndexMap<u64, PodEntry>,
    replica_sets: FxIndexMap<u64, ReplicaSetEntry>,
    deployments: FxIndexMap<u64, DeploymentEntry>,
    /// Deployments a change touched since the last check (scratch).
    touched: Vec<u64>,
}

/// Complete: the current generation observed and every replica updated and available.
fn complete(d: &Deployment) -> bool {
    let replicas = d.spec.replicas;
    d.status.observed_generation >= d.metadata.generation
        && d.status.replicas == replicas
        && d.status.updated_replicas == replicas
        && d.status.available_replicas == replicas
}

fn window_of(d: &Deployment) -> Option<Window> {
    match d.spec.strategy {
        DeploymentStrategy::RollingUpdate { .. } => Some(Window {
            replicas: d.spec.replicas,
            max_surge: max_surge(d),
            max_unavailable: max_unavailable(d),
            min_ready_seconds: d.spec.min_ready_seconds,
        }),
        DeploymentStrategy::Recreate => None,
    }
}

impl RolloutChecker {
    /// Brings the view up to etcd's revision and checks what changed.
    pub fn check(&mut self, etcd: &Etcd, now: SimTime) -> Result<(), String> {
        if etcd.revision() == self.revision {
            return Ok(());
        }
        let revision = etcd.revision();
        let result = match etcd.changes_since(self.revision) {
            Some(changes) => self.observe(changes, now),
            None => {
                // History this checker never saw is gone (compaction after a gap, or a
                // restored snapshot): start over from the current objects. Rolling
                // updates in progress are no longer checked.
                *self = RolloutChecker::default();
                let current = [Kind::Deployment, Kind::ReplicaSet, Kind::Pod]
                    .into_iter()
                    .flat_map(|kind| etcd.objects(kind))
                    .map(|object| (None, Some(object)));
                self.observe(current, now)
            }
        };
        self.revision = revision;
        result
    }

    /// Takes in committed changes, oldest first, as (value before, value after), and
    /// checks every Deployment they touched.
    pub fn observe<'a>(
        &mut self,
        changes: impl Iterator<Item = (Option<&'a Object>, Option<&'a Object>)>,
        now: SimTime,
    ) -> Result<(), String> {
        self.touched.clear();
        for (before, after) in changes {
            self.apply(before, after, now)?;
        }
        let touched = std::mem::take(&mut self.touched);
        let result = touched
            .iter()
            .try_for_each(|&uid| self.check_deployment(uid, now));
        self.touched = touched;
        result
    }

    fn apply(
        &mut self,
        before: Option<&Object>,
        after: Option<&Object>,
        now: SimTime,
    ) -> Result<(), String> {
        match after.or(before) {
            Some(Object::Pod(_)) => {
                let pod = |o: Option<&Object>| match o {
                    Some(Object::Pod(p)) => Some(p.clone()),
                    _ => None,
                };
                self.apply_pod(pod(before), pod(after), now);
                Ok(())
            }
            Some(Object::ReplicaSet(_)) => {
                let after = match after {
                    Some(Object::ReplicaSet(rs)) => Some(rs.clone()),
                    _ => None,
                };
                let uid = after
                    .as_ref()
                    .map(|rs| rs.metadata.uid)
                    .or_else(|| before.map(|o| o.meta().uid))
                    .expect("a change has a value");
                self.apply_replica_set(uid, after)
            }
            Some(Object::Deployment(_)) => {
                let d = |o: Option<&Object>| match o {
                    Some(Object::Deployment(d)) => Some(d.clone()),
                    _ => None,
                };
                self.apply_deployment(d(before), d(after));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn apply_pod(&mut self, before: Option<Rc<Pod>>, after: Option<Rc<Pod>>, now: SimTime) {
        let uid = after
            .as_ref()
            .or(before.as_ref())
            .expect("a change has a value")
            .metadata
            .uid;
        let old = self.pods.get(&uid).copied();
        let new = after.as_ref().and_then(|pod| {
            let owner = pod.metadata.controller_ref()?;
            if owner.kind != Kind::ReplicaSet {
                return None;
            }
            let deployment = self
                .replica_sets
                .get(&owner.uid)
                .and_then(|rs| rs.deployment);
            Some(PodEntry {
                replica_set: owner.uid,
                deployment,
                live: pod.is_active(),
                ready_since: if pod.is_ready() {
                    pod.status.ready_since
                } else {
                    None
                },
            })
        });
        if let Some(old) = old {
            if old.live
                && let Some(rs) = self.replica_sets.get_mut(&old.replica_set)
            {
                rs.live_pods -= 1;
            }
            if let Some(d) = old.deployment.and_then(|d| self.deployments.get_mut(&d)) {
                d.pods.swap_remove(&uid);
            }
        }
        match new {
            Some(new) => {
                self.pods.insert(uid, new);
                if new.live
                    && let Some(rs) = self.replica_sets.get_mut(&new.replica_set)
                {
                    rs.live_pods += 1;
                }
                if let Some(d_uid) = new.deployment
                    && let Some(d) = self.deployments.get_mut(&d_uid)
                {
                    if new.live {
                        d.pods.insert(uid, new.ready_since);
                    }
                    // An available pod that stops being Ready without being deleted: a
                    // container or node failure, not the rollout.
                    let min_ready = SimDuration::from_secs(d.min_ready_seconds);
                    let was_available = old.is_some_and(|old| {
                        old.ready_since
                            .is_some_and(|since| now.saturating_since(since) >= min_ready)
                    });
                    if was_available && new.live && new.ready_since.is_none() {
                        d.window = None;
                    }
                    self.touched.push(d_uid);
                }
            }
            None => {
                self.pods.swap_remove(&uid);
                if let Some(d_uid) = old.and_then(|old| old.deployment) {
                    self.touched.push(d_uid);
                }
            }
        }
    }

    fn apply_replica_set(&mut self, uid: u64, after: Option<Rc<ReplicaSet>>) -> Result<(), String> {
        let Some(rs) = after else {
            self.replica_sets.swap_remove(&uid);
            return Ok(());
        };
        let deployment = rs
            .metadata
            .controller_ref()
            .filter(|owner| owner.kind == Kind::Deployment)
            .map(|owner| owner.uid);
        let entry = self
            .replica_sets
            .entry(uid)
            .or_insert_with(|| ReplicaSetEntry {
                deployment,
                live_pods: 0,
            });
        if entry.deployment != deployment {
            // Orphaned or adopted: its pods move with it.
            let previous = entry.deployment;
            entry.deployment = deployment;
            for (pod_uid, pod) in self.pods.iter_mut().filter(|(_, p)| p.replica_set == uid) {
                if let Some(d) = previous.and_then(|d| self.deployments.get_mut(&d)) {
                    d.pods.swap_remove(pod_uid);
                }
                pod.deployment = deployment;
                if pod.live
                    && let Some(d) = deployment.and_then(|d| self.deployments.get_mut(&d))
                {
                    d.pods.insert(*pod_uid, pod.ready_since);
                }
            }
        }
        let live = self.replica_sets[&uid].live_pods;
        let settled = rs.status.observed_generation >= rs.metadata.generation
            && rs.status.replicas == rs.spec.replicas;
        if settled && live > rs.spec.replicas {
            return Err(format!(
                "replicaset {}/{} has {live} live pods but asked for {} (its status says it has settled at {})",
                rs.metadata.namespace, rs.metadata.name, rs.spec.replicas, rs.status.replicas
            ));
        }
        Ok(())
    }

    fn apply_deployment(&mut self, before: Option<Rc<Deployment>>, after: Option<Rc<Deployment>>) {
        let Some(d) = after else {
            if let Some(before) = before {
                self.deployments.swap_remove(&before.metadata.uid);
            }
            return;
        };
        let uid = d.metadata.uid;
        let entry = self
            .deployments
            .entry(uid)
            .or_insert_with(|| DeploymentEntry {
                name: format!("{}/{}", d.metadata.namespace, d.metadata.name),
                pods: FxIndexMap::default(),
                window: None,
                min_ready_seconds: d.spec.min_ready_seconds,
            });
        entry.min_ready_seconds = d.spec.min_ready_seconds;
        let now_window = window_of(&d);
        if entry.window.is_some() && entry.window != now_window {
            entry.window = None;
        }
        if let Some(before) = &before
            && !Rc::ptr_eq(&before.spec.template, &d.spec.template)
            && before.spec.template != d.spec.template
            && complete(before)
            && window_of(before) == now_window
        {
            entry.window = now_window;
        }
        if complete(&d) {
            entry.window = None;
        }
        self.touched.push(uid);
    }

    fn check_deployment(&self, uid: u64, now: SimTime) -> Result<(), String> {
        let Some(d) = self.deployments.get(&uid) else {
            return Ok(());
        };
        let Some(window) = d.window else {
            return Ok(());
        };
        let live = d.pods.len() as u32;
        let ceiling = window.replicas + window.max_surge;
        if live > ceiling {
            return Err(format!(
                "deployment {}: {live} live pods during a rolling update, more than replicas {} + maxSurge {}",
                d.name, window.replicas, window.max_surge
            ));
        }
        let available = d.available(now);
        let floor = window.replicas - window.max_unavailable;
        if available < floor {
            return Err(format!(
                "deployment {}: {available} available pods during a rolling update, fewer than replicas {} − maxUnavailable {}",
                d.name, window.replicas, window.max_unavailable
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        ConditionStatus, DeploymentSpec, DeploymentStatus, IntOrPercent, LabelSelector, Labels,
        ObjectMeta, OwnerReference, PodTemplateSpec, ReplicaSetSpec, ReplicaSetStatus, s,
    };
    use crate::scheduler::plugins::tests::pod_with;

    const D_UID: u64 = 1;
    const OLD_RS: u64 = 10;
    const NEW_RS: u64 = 11;

    fn at(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    /// A 4-replica Deployment with maxSurge 1 and maxUnavailable 1, at `generation`,
    /// whose status is complete for `observed` and whose template carries `version`.
    fn deployment(generation: u64, observed: u64, version: &str) -> Object {
        let labels = Labels::from_pairs([("app", "web"), ("version", version)]);
        let mut metadata = ObjectMeta::named("default", "web");
        metadata.uid = D_UID;
        metadata.generation = generation;
        Object::from(Deployment {
            metadata,
            spec: DeploymentSpec {
                replicas: 4,
                selector: LabelSelector::from_labels(Labels::from_pairs([("app", "web")])),
                template: Rc::new(PodTemplateSpec {
                    labels,
                    annotations: Labels::new(),
                    spec: pod_with(vec![], vec![]).spec,
                }),
                strategy: DeploymentStrategy::RollingUpdate {
                    max_surge: IntOrPercent::Int(1),
                    max_unavailable: IntOrPercent::Int(1),
                },
                min_ready_seconds: 0,
                revision_history_limit: 10,
                progress_deadline_seconds: 600,
                paused: false,
            },
            status: DeploymentStatus {
                observed_generation: observed,
                replicas: 4,
                updated_replicas: 4,
                ready_replicas: 4,
                available_replicas: 4,
                ..DeploymentStatus::default()
            },
        })
    }

    fn replica_set(uid: u64, replicas: u32, status_replicas: u32) -> Object {
        let mut metadata = ObjectMeta::named("default", &format!("web-{uid}"));
        metadata.uid = uid;
        metadata.generation = 1;
        metadata.owner_references = vec![OwnerReference::controlled_by(
            Kind::Deployment,
            s("web"),
            D_UID,
        )];
        Object::from(ReplicaSet {
            metadata,
            spec: ReplicaSetSpec {
                replicas,
                selector: LabelSelector::from_labels(Labels::from_pairs([("app", "web")])),
                template: Rc::new(PodTemplateSpec {
                    labels: Labels::from_pairs([("app", "web")]),
                    annotations: Labels::new(),
                    spec: pod_with(vec![], vec![]).spec,
                }),
                min_ready_seconds: 0,
            },
            status: ReplicaSetStatus {
                observed_generation: 1,
                replicas: status_replicas,
                ..ReplicaSetStatus::default()
            },
        })
    }

    /// A live pod of `rs`, Ready since `ready_at` when given.
    fn pod(uid: u64, rs: u64, ready_at: Option<u64>) -> Object {
        let mut pod = pod_with(vec![], vec![]);
        pod.metadata.name = s(&format!("web-{uid}"));
        pod.metadata.uid = uid;
        pod.metadata.owner_references = vec![OwnerReference::controlled_by(
            Kind::ReplicaSet,
            s(&format!("web-{rs}")),
            rs,
        )];
        if let Some(ready_at) = ready_at {
            pod.status.ready = ConditionStatus::True;
            pod.status.ready_since = Some(at(ready_at));
        }
        Object::from(pod)
    }

    fn terminating(pod: &Object) -> Object {
        let mut pod = pod.clone();
        pod.meta_mut().deletion_timestamp = Some(at(50));
        pod
    }

    fn put(
        checker: &mut RolloutChecker,
        before: Option<&Object>,
        after: &Object,
        now: u64,
    ) -> Result<(), String> {
        checker.observe(std::iter::once((before, Some(after))), at(now))
    }

    /// A complete revision 1 with 4 available pods, then a template change: a rolling
    /// update in progress.
    fn rolling() -> (RolloutChecker, Vec<Object>) {
        let mut checker = RolloutChecker::default();
        let v1 = deployment(1, 1, "1");
        put(&mut checker, None, &v1, 1).unwrap();
        put(&mut checker, None, &replica_set(OLD_RS, 4, 4), 1).unwrap();
        let pods: Vec<Object> = (0..4).map(|i| pod(100 + i, OLD_RS, Some(2))).collect();
        for p in &pods {
            put(&mut checker, None, p, 3).unwrap();
        }
        put(&mut checker, Some(&v1), &deployment(2, 1, "2"), 10).unwrap();
        put(&mut checker, None, &replica_set(NEW_RS, 1, 0), 10).unwrap();
        assert!(checker.deployments[&D_UID].window.is_some());
        (checker, pods)
    }

    #[test]
    fn a_pod_beyond_the_surge_is_a_violation() {
        let (mut checker, _) = rolling();
        put(&mut checker, None, &pod(200, NEW_RS, None), 11).unwrap();
        let error = put(&mut checker, None, &pod(201, NEW_RS, None), 11).unwrap_err();
        assert!(error.contains("6 live pods"), "{error}");
        assert!(error.contains("replicas 4 + maxSurge 1"), "{error}");
    }

    #[test]
    fn availability_below_the_floor_is_a_violation() {
        let (mut checker, pods) = rolling();
        // One old pod goes: 3 available = 4 − maxUnavailable 1.
        put(&mut checker, Some(&pods[0]), &terminating(&pods[0]), 11).unwrap();
        let error = put(&mut checker, Some(&pods[1]), &terminating(&pods[1]), 12).unwrap_err();
        assert!(error.contains("2 available pods"), "{error}");
    }

    #[test]
    fn a_failing_available_pod_is_a_fault_that_ends_the_check() {
        let (mut checker, pods) = rolling();
        // A container of an available pod crashes: Ready=False, not terminating.
        let mut crashed = pods[0].clone();
        if let Object::Pod(p) = &mut crashed {
            let p = Rc::make_mut(p);
            p.status.ready = ConditionStatus::False;
            p.status.ready_since = None;
        }
        put(&mut checker, Some(&pods[0]), &crashed, 11).unwrap();
        assert!(checker.deployments[&D_UID].window.is_none());
        put(&mut checker, Some(&pods[1]), &terminating(&pods[1]), 12).unwrap();
    }

    #[test]
    fn the_first_rollout_and_a_complete_one_are_not_checked() {
        let mut checker = RolloutChecker::default();
        // Created, not complete: no window; pods becoming available from 0 are fine.
        put(&mut checker, None, &deployment(1, 0, "1"), 1).unwrap();
        put(&mut checker, None, &replica_set(OLD_RS, 4, 0), 1).unwrap();
        put(&mut checker, None, &pod(100, OLD_RS, None), 2).unwrap();
        assert!(checker.deployments[&D_UID].window.is_none());
        // Complete again after an update: the window closes.
        let (mut checker, _) = rolling();
        let done = deployment(2, 2, "2");
        put(&mut checker, Some(&deployment(2, 1, "2")), &done, 30).unwrap();
        assert!(checker.deployments[&D_UID].window.is_none());
    }

    #[test]
    fn a_settled_replica_set_with_extra_live_pods_is_a_violation() {
        let mut checker = RolloutChecker::default();
        put(&mut checker, None, &deployment(1, 1, "1"), 1).unwrap();
        put(&mut checker, None, &replica_set(OLD_RS, 2, 0), 1).unwrap();
        for i in 0..3 {
            put(&mut checker, None, &pod(100 + i, OLD_RS, None), 2).unwrap();
        }
        // Status says 3 for a spec of 2: not settled, no verdict yet.
        put(&mut checker, None, &replica_set(OLD_RS, 2, 3), 3).unwrap();
        // Status says it settled at 2 while 3 pods live.
        let error = put(&mut checker, None, &replica_set(OLD_RS, 2, 2), 4).unwrap_err();
        assert!(error.contains("3 live pods but asked for 2"), "{error}");
    }
}
