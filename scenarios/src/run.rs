//! Running a scenario: build the cluster, schedule the timeline, run in stretches up to
//! each expectation's time, evaluate it from outside the simulation, and report.

use std::cell::RefCell;
use std::rc::Rc;

use components::api::Resource;
use components::client::leader_election::LeaderElector;
use components::cluster::{Cluster, ClusterState};
use components::proxy::KubeProxy;
use sim_core::{
    ActorId, Cut, Fault, HostId, LoggedEvent, Record, RunLimits, RunOutcome, SimDuration, SimTime,
    Violation,
};

use crate::expectation::{Check, Expectation, Observation};
use crate::scenario::{CutSpec, Scenario, Step};

/// How to run a scenario.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    pub seed: u64,
    /// Stop earlier than the scenario's duration.
    pub until: Option<SimDuration>,
    /// Keep trace records (the narration). Never changes the run.
    pub records: bool,
}

/// Receives what the run produced, stretch by stretch, in order.
pub trait Observer {
    /// Whether to collect every processed event (for the event log or replay).
    fn wants_events(&self) -> bool;
    /// `events` in processing order (empty unless [`Observer::wants_events`]); `records`
    /// made while processing them; `names` names every actor by id.
    fn observe(&mut self, events: &[LoggedEvent], records: &[Record], names: &[String]);
}

/// Why the run stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It ran to its end (the scenario's duration, or `--until`).
    Completed,
    /// It processed `events_max` events before its end: a runaway, or too small a bound.
    EventBound { events_max: u64, time: SimTime },
    /// A cluster-wide invariant failed.
    InvariantViolated(Violation),
}

impl Outcome {
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::EventBound { .. } => "event-bound",
            Outcome::InvariantViolated(_) => "invariant-violated",
        }
    }
}

/// One expectation's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectationResult {
    pub name: String,
    /// When it was (or would have been) evaluated.
    pub at: SimTime,
    /// False when the run stopped before its time (`--until`, or an early stop).
    pub checked: bool,
    pub passed: bool,
    pub message: String,
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct RunReport {
    pub scenario: String,
    pub seed: u64,
    pub trace_hash: u64,
    pub events: u64,
    /// Where simulated time stood at the end.
    pub sim_time: SimTime,
    pub outcome: Outcome,
    pub expectations: Vec<ExpectationResult>,
    pub state: ClusterState,
    /// Every actor's name, by id.
    pub actor_names: Vec<String>,
    /// What the kube-apiserver replicas answered, per verb and second, all together.
    pub requests: components::apiserver::requests::RequestStats,
}

impl RunReport {
    /// The run completed and every expectation it reached passed.
    pub fn passed(&self) -> bool {
        self.outcome == Outcome::Completed
            && self.expectations.iter().all(|e| e.passed || !e.checked)
    }
}

/// With an observer, the run is cut into stretches of at most this much simulated time so
/// buffered events stay few. Where a run is cut never changes it.
const OBSERVED_STRETCH: SimDuration = SimDuration::from_secs(10);

/// Runs `scenario`; `observer` sees its events and records as they are produced.
pub fn run(
    scenario: &Scenario,
    options: &RunOptions,
    mut observer: Option<&mut dyn Observer>,
) -> RunReport {
    let mut cluster = Cluster::build(&scenario.cluster, options.seed, options.records);
    if fault_free(scenario) {
        components::rollout_invariants::install(&mut cluster);
    }
    let names: Vec<String> = (0..cluster.sim.actor_count())
        .map(|index| cluster.sim.actor_name(ActorId(index as u32)).to_string())
        .collect();
    schedule_timeline(&mut cluster, scenario);

    let events: Rc<RefCell<Vec<LoggedEvent>>> = Rc::new(RefCell::new(Vec::new()));
    let observed = observer.is_some();
    let wants_events = observer.as_ref().is_some_and(|o| o.wants_events());
    if wants_events {
        let sink = events.clone();
        cluster
            .sim
            .set_event_sink(Box::new(move |event| sink.borrow_mut().push(*event)));
    }

    let run_end = SimTime::ZERO
        + options
            .until
            .map_or(scenario.duration, |u| u.min(scenario.duration));
    let scenario_end = SimTime::ZERO + scenario.duration;
    let mut checkpoints: Vec<SimTime> = scenario
        .expectations
        .iter()
        .filter_map(|e| e.at)
        .filter(|at| *at <= run_end)
        .collect();
    checkpoints.push(run_end);
    checkpoints.sort();
    checkpoints.dedup();

    let mut results: Vec<Option<ExpectationResult>> = vec![None; scenario.expectations.len()];
    let mut outcome = Outcome::Completed;
    let mut now = SimTime::ZERO;
    'checkpoints: for checkpoint in checkpoints {
        // At least one stretch per checkpoint, so events at 0s run before a check at 0s.
        loop {
            let stretch_end = if observed {
                (now + OBSERVED_STRETCH).min(checkpoint)
            } else {
                checkpoint
            };
            let step = cluster.sim.run(RunLimits {
                until: stretch_end,
                events_max: scenario.events_max,
            });
            deliver(&mut cluster, &events, observer.as_deref_mut(), &names);
            match step {
                RunOutcome::TimeReached | RunOutcome::QueueEmpty => now = stretch_end,
                RunOutcome::EventBound { time, .. } => {
                    outcome = Outcome::EventBound {
                        events_max: scenario.events_max,
                        time,
                    };
                    now = time;
                    break 'checkpoints;
                }
                RunOutcome::InvariantViolated(violation) => {
                    now = violation.time;
                    outcome = Outcome::InvariantViolated(violation);
                    break 'checkpoints;
                }
            }
            if now >= checkpoint {
                break;
            }
        }
        // Expectations due now: those at this instant, and at the scenario's end those
        // without a time.
        let due: Vec<usize> = scenario
            .expectations
            .iter()
            .enumerate()
            .filter(|(_, e)| match e.at {
                Some(at) => at == checkpoint,
                None => checkpoint == scenario_end,
            })
            .map(|(index, _)| index)
            .collect();
        if !due.is_empty() {
            let observation = observe(
                &cluster,
                checkpoint,
                due.iter().map(|&i| &scenario.expectations[i]),
            );
            for index in due {
                let expectation = &scenario.expectations[index];
                let verdict = expectation.check.evaluate(&observation);
                results[index] = Some(ExpectationResult {
                    name: expectation.name.clone(),
                    at: checkpoint,
                    checked: true,
                    passed: verdict.passed,
                    message: verdict.message,
                });
            }
        }
    }

    let expectations = results
        .into_iter()
        .zip(&scenario.expectations)
        .map(|(result, expectation)| {
            result.unwrap_or_else(|| {
                let at = expectation.at.unwrap_or(scenario_end);
                ExpectationResult {
                    name: expectation.name.clone(),
                    at,
                    checked: false,
                    passed: false,
                    message: format!("not checked: the run stopped at {now}, before {at}"),
                }
            })
        })
        .collect();
    RunReport {
        scenario: scenario.name.clone(),
        seed: options.seed,
        trace_hash: cluster.sim.trace_hash(),
        events: cluster.sim.events_processed(),
        sim_time: now,
        outcome,
        expectations,
        state: cluster.state(),
        requests: {
            let mut all = components::apiserver::requests::RequestStats::default();
            for &replica in &cluster.apiservers {
                if let Some(server) = cluster
                    .sim
                    .actor::<components::apiserver::ApiServer>(replica)
                {
                    all.merge(server.request_stats());
                }
            }
            all
        },
        actor_names: names,
    }
}

fn deliver<'o>(
    cluster: &mut Cluster,
    events: &Rc<RefCell<Vec<LoggedEvent>>>,
    observer: Option<&mut (dyn Observer + 'o)>,
    names: &[String],
) {
    let records = cluster.sim.take_records();
    let mut buffered = events.borrow_mut();
    if let Some(observer) = observer {
        observer.observe(&buffered, &records, names);
    }
    buffered.clear();
}

/// Whether the timeline holds only what a rollout's bounds must survive: applies,
/// scaling, set image and rollout actions, and nodes joining. Anything else (a node
/// killed or restarted, a partition, a delete, and every action added later until it is
/// listed here) is a fault for the rollout invariants.
fn fault_free(scenario: &Scenario) -> bool {
    use components::kubectl::Action;
    scenario.timeline.iter().all(|timed| {
        matches!(
            &timed.step,
            Step::NodeJoins { .. }
                | Step::Load { .. }
                | Step::Kubectl(
                    Action::Apply(_)
                        | Action::Scale { .. }
                        | Action::SetImage { .. }
                        | Action::RolloutUndo { .. }
                        | Action::RolloutPause { .. }
                        | Action::RolloutResume { .. }
                        | Action::Get { .. }
                )
        )
    })
}

fn schedule_timeline(cluster: &mut Cluster, scenario: &Scenario) {
    for timed in &scenario.timeline {
        match &timed.step {
            Step::Kubectl(action) => cluster.schedule_action(timed.at, action.clone()),
            Step::Component { name, kill } => {
                let actor = cluster
                    .sim
                    .find_actor(name)
                    .expect("a checked component name");
                let fault = if *kill {
                    Fault::CrashActor(actor)
                } else {
                    Fault::RestartActor(actor)
                };
                cluster.schedule_fault(timed.at, fault);
            }
            Step::EtcdMember { index, fault, .. } => {
                use crate::scenario::EtcdMemberFault;
                use components::etcd::{EtcdRequest, Maintenance};
                let member = cluster.etcd_members[*index];
                match fault {
                    EtcdMemberFault::Kill => {
                        // The process dies: its connections are reset first.
                        cluster.sim.schedule_timer(
                            timed.at,
                            member,
                            components::msg::Msg::Etcd(Box::new(EtcdRequest::Maintenance(
                                Maintenance::ProcessExit,
                            ))),
                        );
                        cluster.schedule_fault(timed.at, Fault::CrashActor(member));
                    }
                    EtcdMemberFault::Restart => {
                        cluster.schedule_fault(timed.at, Fault::RestartActor(member));
                    }
                    EtcdMemberFault::Wipe => {
                        // The disk goes first, then the process: both at this instant.
                        cluster.sim.schedule_timer(
                            timed.at,
                            member,
                            components::msg::Msg::Etcd(Box::new(EtcdRequest::Maintenance(
                                Maintenance::DiskLost,
                            ))),
                        );
                        cluster.schedule_fault(timed.at, Fault::CrashActor(member));
                    }
                }
            }
            Step::Etcdctl(command) => {
                let etcdctl = cluster
                    .etcdctl
                    .expect("a scenario with etcdctl actions deploys etcdctl");
                cluster.sim.schedule_timer(
                    timed.at,
                    etcdctl,
                    components::msg::Msg::Etcdctl(Box::new(components::etcd::EtcdctlMsg::Command(
                        command.clone(),
                    ))),
                );
            }
            Step::KillNode(node) => {
                let host = node_host(cluster, node);
                cluster.schedule_fault(timed.at, Fault::CrashHost(host));
            }
            Step::RestartNode(node) => {
                let host = node_host(cluster, node);
                cluster.schedule_fault(timed.at, Fault::RestartHost(host));
            }
            Step::Partition(cut) => {
                let cut = resolve_cut(cluster, cut);
                cluster.schedule_fault(timed.at, Fault::Partition(cut));
            }
            Step::Heal(cut) => {
                let cut = cut.as_ref().map(|cut| resolve_cut(cluster, cut));
                cluster.schedule_fault(timed.at, Fault::Heal(cut));
            }
            // `Cluster::build` powers the node on at its pool's `joinAt`: the step is
            // only there to be narrated.
            Step::NodeJoins { .. } => {}
            Step::RegistryOutage { duration, host } => cluster.schedule_registry_outage(
                timed.at,
                *duration,
                host.as_deref().map(components::api::s),
            ),
            Step::RestartKubelet { node, down_for } => {
                let kubelet = node_handle(cluster, node).kubelet;
                cluster.schedule_fault(timed.at, Fault::CrashActor(kubelet));
                cluster.schedule_fault(timed.at + *down_for, Fault::RestartActor(kubelet));
            }
            Step::RestartApiserver {
                index, down_for, ..
            } => cluster.schedule_apiserver_restart(timed.at, *index, *down_for),
            Step::KillPodSandbox {
                node,
                namespace,
                pod,
            } => {
                use components::msg::{Msg, Tick};
                use components::runtime::Tick as RuntimeTick;
                let runtime = node_handle(cluster, node).runtime;
                let tick = RuntimeTick::KillSandboxInfra {
                    namespace: components::api::s(namespace),
                    name: components::api::s(pod),
                };
                cluster
                    .sim
                    .schedule_timer(timed.at, runtime, Msg::Tick(Tick::Runtime(tick)));
            }
            Step::CrashRuntime { node, down_for } => {
                use components::msg::{Msg, Tick};
                use components::runtime::Tick as RuntimeTick;
                let runtime = node_handle(cluster, node).runtime;
                let tick = |tick| Msg::Tick(Tick::Runtime(tick));
                let recover_at = timed.at + *down_for;
                cluster
                    .sim
                    .schedule_timer(timed.at, runtime, tick(RuntimeTick::CrashDaemon));
                cluster
                    .sim
                    .schedule_timer(recover_at, runtime, tick(RuntimeTick::RecoverDaemon));
            }
            Step::Load {
                namespace,
                service,
                cpu_millicores,
            } => cluster.schedule_load(
                timed.at,
                components::api::s(namespace),
                components::api::s(service),
                *cpu_millicores,
            ),
        }
    }
}

fn node_host(cluster: &Cluster, node: &str) -> HostId {
    node_handle(cluster, node).host
}

fn node_handle<'a>(cluster: &'a Cluster, node: &str) -> &'a components::cluster::NodeHandle {
    cluster
        .node(node)
        .unwrap_or_else(|| panic!("scenario checked that node {node} exists"))
}

fn host_of(cluster: &Cluster, name: &str) -> HostId {
    if name.starts_with(components::cluster::HOST_CONTROL_PLANE) || name.starts_with("etcd-") {
        cluster
            .sim
            .find_host(name)
            .unwrap_or_else(|| panic!("scenario checked that host {name} exists"))
    } else {
        node_host(cluster, name)
    }
}

fn resolve_cut(cluster: &Cluster, cut: &CutSpec) -> Cut {
    match cut {
        CutSpec::Isolate(host) => Cut::Isolate(host_of(cluster, host)),
        CutSpec::Between(a, b) => Cut::Link(host_of(cluster, a), host_of(cluster, b)),
    }
}

/// Every stored object of one kind (the kind the caller's field holds).
fn all_of<T: Resource>(cluster: &Cluster) -> Vec<Rc<T>> {
    cluster.objects::<T>().cloned().collect()
}

/// Every etcd member's state, for `etcd` checks.
fn etcd_members(cluster: &Cluster) -> Vec<crate::expectation::EtcdMemberState> {
    let freshest = cluster.etcd().name();
    cluster
        .etcd_members
        .iter()
        .map(|&id| {
            let member = cluster
                .sim
                .actor::<components::etcd::Etcd>(id)
                .expect("an etcd member");
            crate::expectation::EtcdMemberState {
                name: member.name(),
                up: cluster.sim.actor_up(id),
                leader: member.is_leader(),
                term: member.raft().term(),
                revision: member.revision(),
                alarm: member.alarm().map(str::to_string),
                db_size_bytes: member.store().db_size_bytes(),
                freshest: member.name() == freshest,
            }
        })
        .collect()
}

/// The leader election of `component` (`kube-scheduler` or `kube-controller-manager`):
/// which replicas lead by their own view, and its Lease in etcd.
fn leader_state(cluster: &Cluster, component: &str) -> crate::expectation::LeaderState {
    type Elector = fn(&Cluster, ActorId) -> Option<&LeaderElector>;
    let (replicas, elector): (&[ActorId], Elector) = match component {
        "kube-scheduler" => (&cluster.schedulers, |cluster, id| {
            cluster.scheduler_replica(id).election()
        }),
        _ => (&cluster.controller_managers, |cluster, id| {
            cluster
                .sim
                .actor::<components::controllers::ControllerManager>(id)
                .expect("a controller manager replica")
                .election()
        }),
    };
    let leading_hosts = replicas
        .iter()
        .filter(|&&id| {
            cluster.sim.actor_up(id) && elector(cluster, id).is_some_and(LeaderElector::is_leading)
        })
        .map(|&id| cluster.sim.host(cluster.sim.actor_host(id)).name.clone())
        .collect();
    let lease = cluster.objects::<components::api::Lease>().find(|lease| {
        lease.metadata.namespace.as_ref() == components::api::NAMESPACE_SYSTEM
            && lease.metadata.name.as_ref() == component
    });
    crate::expectation::LeaderState {
        leading_hosts,
        transitions: lease.map(|lease| lease.spec.lease_transitions),
        holder_identity: lease
            .and_then(|lease| lease.spec.holder_identity.as_ref())
            .map(|holder| holder.to_string()),
    }
}

/// Reads what `expectations` need from the cluster: etcd's objects (the truth, not an
/// API server's cache) and kube-proxy's programmed rules.
fn observe<'a>(
    cluster: &Cluster,
    time: SimTime,
    expectations: impl Iterator<Item = &'a Expectation>,
) -> Observation {
    let mut observation = Observation {
        time,
        pods: all_of(cluster),
        nodes: all_of(cluster),
        deployments: all_of(cluster),
        stateful_sets: all_of(cluster),
        daemon_sets: all_of(cluster),
        replica_sets: all_of(cluster),
        jobs: all_of(cluster),
        budgets: all_of(cluster),
        hpas: all_of(cluster),
        nodes_up: cluster
            .nodes
            .iter()
            .filter(|node| cluster.sim.host(node.host).up)
            .map(|node| node.name.to_string())
            .collect(),
        zone_states: cluster
            .controller_manager()
            .zone_states()
            .map(|(zone, state)| (zone.to_string(), state.name().to_string()))
            .collect(),
        etcd: etcd_members(cluster),
        ..Observation::default()
    };
    let mut requests_merged = false;
    for expectation in expectations {
        if matches!(expectation.check, Check::Requests { .. }) && !requests_merged {
            requests_merged = true;
            for &replica in &cluster.apiservers {
                if let Some(server) = cluster
                    .sim
                    .actor::<components::apiserver::ApiServer>(replica)
                {
                    observation.requests.merge(server.request_stats());
                }
            }
        }
        if matches!(expectation.check, Check::Runtime { .. })
            && observation.runtime_counts.is_empty()
        {
            for node in &observation.nodes_up {
                if let Some(handle) = cluster.node(node)
                    && let Some(runtime) = cluster
                        .sim
                        .actor::<components::runtime::ContainerRuntime>(handle.runtime)
                {
                    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
                    observation.runtime_counts.insert(
                        node.clone(),
                        (
                            count(runtime.running_container_count()),
                            count(runtime.ready_sandbox_count()),
                        ),
                    );
                }
            }
        }
        if let Check::Leader { component, .. } = &expectation.check {
            observation
                .leaders
                .insert(component.clone(), leader_state(cluster, component));
        }
        if let Check::NodeMemory { node, .. } = &expectation.check
            && let Some(handle) = cluster.node(node)
            && cluster.sim.host(handle.host).up
            && let Some(kernel) = cluster
                .sim
                .actor::<components::kernel::Kernel>(handle.kernel)
        {
            observation
                .node_memory_bytes
                .insert(node.clone(), kernel.memory_bytes_used());
        }
        if let Check::NodeDisk { node, .. } = &expectation.check
            && let Some(handle) = cluster.node(node)
            && cluster.sim.host(handle.host).up
            && let Some(kernel) = cluster
                .sim
                .actor::<components::kernel::Kernel>(handle.kernel)
            && let Some(stats) = kernel.disk_stats_at(cluster.sim.now())
        {
            let images = kernel.disk_images().iter().map(|i| i.to_string()).collect();
            observation
                .node_disk
                .insert(node.clone(), (stats.nodefs.available_bytes, images));
        }
        if let Check::Endpoints {
            namespace,
            service,
            node,
            ..
        } = &expectation.check
        {
            let nodes: Vec<String> = match node {
                Some(node) => vec![node.clone()],
                None => observation.nodes_up.clone(),
            };
            for node in nodes {
                if let Some(count) = proxy_endpoints(cluster, &node, namespace, service) {
                    observation
                        .proxy_endpoints
                        .insert((node, namespace.clone(), service.clone()), count);
                }
            }
        }
    }
    observation
}

/// How many distinct endpoints kube-proxy on `node` has programmed for the Service, over
/// all its ports; `None` if there is no such node.
fn proxy_endpoints(cluster: &Cluster, node: &str, namespace: &str, service: &str) -> Option<u32> {
    let handle = cluster.node(node)?;
    let proxy = cluster.sim.actor::<KubeProxy>(handle.proxy)?;
    let mut addresses: Vec<&str> = proxy
        .rules()
        .iter()
        .filter(|(port, _)| &*port.namespace == namespace && &*port.name == service)
        .flat_map(|(_, rule)| rule.endpoints.iter().map(|e| &*e.address))
        .collect();
    addresses.sort();
    addresses.dedup();
    Some(u32::try_from(addresses.len()).unwrap_or(u32::MAX))
}
