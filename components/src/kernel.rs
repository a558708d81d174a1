//! The node's kernel: cgroups and namespaces for sandboxes and containers, processes that
//! start and exit, signals, and per-node CPU and memory accounting.
//!
//! The container runtime is the kernel's only client. A sandbox is a pod's network
//! namespace and its pod-level cgroup; a process is a container's main process, placed in
//! its sandbox's cgroup, with the image's [`ProcessBehaviour`]. The kernel tells the
//! runtime when a process has been spawned, when it has reached the end of its startup
//! (the container is ready: this stands in for readiness probes until probes exist) and
//! when it exits, with the exit code and cause:
//! - its own exit after `behaviour.exit.after`, with the behaviour's code;
//! - SIGTERM: the process exits `sigterm_exit_after` later with 143 (128 + 15);
//! - SIGKILL: at once, with 137 (128 + 9);
//! - the OOM killer, 137: a process whose working set exceeds its container's memory
//!   limit is killed when it reaches it (at the end of its startup); when the node's
//!   memory is overcommitted, the process using the most memory is killed.
//!
//! CPU is accounted but not yet enforced (CFS throttling is a later issue): a process
//! uses its behaviour's millicores, plus, once serving, its share of the Service traffic
//! addressed to its sandbox's IP (the load generator's `Traffic`, split evenly over the
//! sandbox's serving processes), capped at its container's CPU limit. Each pod cgroup
//! keeps a cumulative CPU counter (cpuacct's usage, in core-nanoseconds), which the
//! kubelet's cAdvisor reads (`ReadCgroups`) for the resource metrics pipeline.

use std::collections::{BTreeMap, BTreeSet};

use sim_core::{Actor, ActorId, Context, Event, SimDuration, SimTime, TraceHasher};

use crate::api::quantity::format_bytes;
use crate::api::{ResourceList, Str};
use crate::metrics::MetricsMsg;
use crate::msg::{Fingerprint, Msg, Tick as AnyTick};
use crate::timers::Deadlines;

/// How a container's main process behaves, from the scenario (per image).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessBehaviour {
    /// From exec to serving (the container counts as ready then).
    pub startup: SimDuration,
    pub memory_bytes: u64,
    pub cpu_millicores: u64,
    /// Exit after this long running, with this code; `None` runs until killed.
    pub exit: Option<ProcessExit>,
    /// How long the process takes to exit after SIGTERM; `None` uses the kernel's
    /// `default_sigterm_exit_after`. A value longer than the pod's grace period models a
    /// process that ignores SIGTERM: SIGKILL ends it.
    pub sigterm_exit_after: Option<SimDuration>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessExit {
    pub after: SimDuration,
    pub exit_code: i32,
}

impl Default for ProcessBehaviour {
    fn default() -> Self {
        ProcessBehaviour {
            startup: SimDuration::from_millis(500),
            memory_bytes: 32 << 20,
            cpu_millicores: 10,
            exit: None,
            sigterm_exit_after: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct KernelConfig {
    /// clone + exec of a container process (an assumption).
    pub process_spawn_latency: SimDuration,
    /// Creating a network namespace, its veth pair and a pod cgroup (an assumption).
    pub sandbox_setup_latency: SimDuration,
    /// How long a process whose behaviour does not say takes to exit on SIGTERM (an
    /// assumption: a well-behaved server closes its listeners and exits quickly).
    pub default_sigterm_exit_after: SimDuration,
}

impl Default for KernelConfig {
    fn default() -> Self {
        KernelConfig {
            process_spawn_latency: SimDuration::from_millis(5),
            sandbox_setup_latency: SimDuration::from_millis(10),
            default_sigterm_exit_after: SimDuration::from_millis(100),
        }
    }
}

/// Exit code of a process killed by a signal: 128 + the signal number.
pub const EXIT_CODE_SIGKILL: i32 = 128 + 9;
pub const EXIT_CODE_SIGTERM: i32 = 128 + 15;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Signal {
    Term,
    Kill,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Term => "SIGTERM",
            Signal::Kill => "SIGKILL",
        }
    }
}

/// Resource limits of a container's cgroup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CgroupLimits {
    pub memory_bytes_limit: Option<u64>,
    pub cpu_millicores_limit: Option<u64>,
}

/// A call from the container runtime.
#[derive(Clone, Debug)]
pub enum KernelCall {
    /// Network namespace and pod cgroup for a sandbox. Answered by `SandboxCreated`.
    CreateSandbox {
        sandbox_id: u64,
        /// The pod cgroup is named after the pod (`kubepods/pod<uid>`).
        pod_uid: u64,
        /// The address CNI gives the namespace's interface.
        ip: Str,
    },
    /// Kills what still runs in the sandbox (SIGKILL) and removes its namespace and
    /// cgroup. Answered by `SandboxRemoved`, after the `Exited` of each process.
    RemoveSandbox {
        sandbox_id: u64,
    },
    /// clone + exec of a container's main process in the sandbox's cgroup.
    Spawn {
        process_id: u64,
        sandbox_id: u64,
        behaviour: ProcessBehaviour,
        limits: CgroupLimits,
    },
    Signal {
        process_id: u64,
        signal: Signal,
    },
}

/// Why a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCause {
    /// It exited on its own (or on SIGTERM, with 143).
    Exited,
    /// SIGKILL.
    Killed,
    /// The OOM killer (a SIGKILL, reported as such by the runtime).
    OomKilled,
}

/// What the kernel tells the container runtime.
#[derive(Clone, Debug)]
pub enum KernelEvent {
    SandboxCreated {
        sandbox_id: u64,
    },
    SandboxRemoved {
        sandbox_id: u64,
    },
    /// The process exists and runs (after `process_spawn_latency`).
    Started {
        process_id: u64,
    },
    /// The process reached the end of its startup.
    Ready {
        process_id: u64,
    },
    Exited {
        process_id: u64,
        exit_code: i32,
        cause: ExitCause,
    },
}

#[derive(Clone, Debug)]
pub enum Tick {
    /// The deadline timer (see `timers::Deadlines`).
    Deadline { generation: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProcessState {
    /// clone + exec under way.
    Spawning,
    /// Running, not yet through its startup.
    Starting,
    /// Through its startup: serving.
    Serving,
}

#[derive(Clone, Debug)]
struct Process {
    sandbox_id: u64,
    behaviour: ProcessBehaviour,
    limits: CgroupLimits,
    state: ProcessState,
    /// SIGTERM has been delivered.
    terminating: bool,
    memory_bytes_charged: u64,
    cpu_millicores_charged: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Spawned(u64),
    StartupDone(u64),
    Exit(u64),
    SigtermExit(u64),
}

/// A pod cgroup's cumulative CPU counter: the rate it grows at now (the sum of its
/// processes' charges) and what it had reached when the rate last changed.
#[derive(Clone, Copy, Debug, Default)]
struct CpuAccount {
    rate_millicores: u64,
    since: SimTime,
    usage_millicore_nanos: u128,
}

impl CpuAccount {
    /// Brings the counter up to `now` at the current rate.
    fn settle(&mut self, now: SimTime) {
        let elapsed = now.saturating_since(self.since).as_nanos();
        self.usage_millicore_nanos += u128::from(self.rate_millicores) * u128::from(elapsed);
        self.since = now;
    }

    /// cpuacct.usage at `now`, in nanoseconds of one core.
    fn usage_core_nanos(&self, now: SimTime) -> u64 {
        let elapsed = now.saturating_since(self.since).as_nanos();
        let total =
            self.usage_millicore_nanos + u128::from(self.rate_millicores) * u128::from(elapsed);
        u64::try_from(total / 1000).unwrap_or(u64::MAX)
    }
}

#[derive(Clone, Debug)]
struct Sandbox {
    pod_uid: u64,
    ip: Str,
    members: BTreeSet<u64>,
    cpu: CpuAccount,
}

/// Memory a process occupies once running: its working set, capped by its cgroup limit
/// (above the limit it is OOM-killed when it gets there).
fn memory_bytes_charged(behaviour: &ProcessBehaviour, limits: CgroupLimits) -> u64 {
    limits
        .memory_bytes_limit
        .map_or(behaviour.memory_bytes, |limit| {
            behaviour.memory_bytes.min(limit)
        })
}

/// CPU a process uses: its behaviour's demand plus its share of the traffic, capped by
/// its CFS quota.
fn cpu_millicores_charged(
    behaviour: &ProcessBehaviour,
    limits: CgroupLimits,
    load_millicores: u64,
) -> u64 {
    let demand = behaviour.cpu_millicores + load_millicores;
    limits
        .cpu_millicores_limit
        .map_or(demand, |limit| demand.min(limit))
}

/// A sandbox's traffic demand split over its serving processes: the quotient each, one
/// millicore more for the first `demand % n`.
fn load_shares(demand_millicores: u64, serving_count: usize) -> impl Iterator<Item = u64> {
    let count = serving_count.max(1) as u64;
    let (share, remainder) = (demand_millicores / count, demand_millicores % count);
    (0..serving_count as u64).map(move |index| share + u64::from(index < remainder))
}

/// Whether the process outgrows its cgroup's memory limit.
fn exceeds_memory_limit(behaviour: &ProcessBehaviour, limits: CgroupLimits) -> bool {
    limits
        .memory_bytes_limit
        .is_some_and(|limit| behaviour.memory_bytes > limit)
}

/// The node OOM killer's victim: the process using the most memory (the kernel's badness
/// score without `oom_score_adj`), the newest one on ties.
fn oom_victim<'a>(processes: impl Iterator<Item = (u64, u64)> + 'a) -> Option<u64> {
    processes
        .max_by_key(|&(process_id, memory_bytes)| (memory_bytes, process_id))
        .map(|(process_id, _)| process_id)
}

/// `now + after`, or `None` when that lies beyond the end of simulated time (a process
/// that, in effect, never gets there).
fn checked_deadline(now: SimTime, after: SimDuration) -> Option<SimTime> {
    now.as_nanos()
        .checked_add(after.as_nanos())
        .map(SimTime::from_nanos)
}

pub struct Kernel {
    config: KernelConfig,
    node_name: Str,
    capacity: ResourceList,
    /// The container runtime, learned from its first call.
    runtime: Option<ActorId>,
    sandboxes: BTreeMap<u64, Sandbox>,
    processes: BTreeMap<u64, Process>,
    /// Pod IP → its sandbox.
    sandbox_by_ip: BTreeMap<Str, u64>,
    /// The traffic demand arriving for each pod IP (the load generator's last table).
    demand_by_ip: BTreeMap<Str, u64>,
    memory_bytes_used: u64,
    cpu_millicores_used: u64,
    deadlines: Deadlines<Due>,
}

impl Kernel {
    pub fn new(config: KernelConfig, node_name: Str, capacity: ResourceList) -> Kernel {
        Kernel {
            config,
            node_name,
            capacity,
            runtime: None,
            sandboxes: BTreeMap::new(),
            processes: BTreeMap::new(),
            sandbox_by_ip: BTreeMap::new(),
            demand_by_ip: BTreeMap::new(),
            memory_bytes_used: 0,
            cpu_millicores_used: 0,
            deadlines: Deadlines::new(),
        }
    }

    /// Memory held by running processes.
    pub fn memory_bytes_used(&self) -> u64 {
        self.memory_bytes_used
    }

    /// CPU demanded by running processes (may exceed capacity: throttling is not modelled).
    pub fn cpu_millicores_used(&self) -> u64 {
        self.cpu_millicores_used
    }

    /// Processes that exist (spawning or running).
    pub fn process_count(&self) -> usize {
        self.processes.len()
    }

    pub fn sandbox_count(&self) -> usize {
        self.sandboxes.len()
    }

    fn at(&mut self, after: SimDuration, due: Due, cx: &mut Context<'_, Msg>) {
        let Some(at) = checked_deadline(cx.now(), after) else {
            return;
        };
        if let Some(rearm) = self.deadlines.schedule(cx.now(), at, due) {
            cx.timer(
                rearm.after,
                Msg::Tick(AnyTick::Kernel(Tick::Deadline {
                    generation: rearm.generation,
                })),
            );
        }
    }

    fn tell(&self, event: KernelEvent, cx: &mut Context<'_, Msg>) {
        let runtime = self
            .runtime
            .expect("the kernel answers only after a runtime call");
        cx.send(runtime, Msg::KernelEvent(Box::new(event)));
    }

    fn on_call(&mut self, from: ActorId, call: KernelCall, cx: &mut Context<'_, Msg>) {
        assert!(
            self.runtime.is_none_or(|runtime| runtime == from),
            "kernel/{} has one container runtime",
            self.node_name
        );
        self.runtime = Some(from);
        match call {
            KernelCall::CreateSandbox {
                sandbox_id,
                pod_uid,
                ip,
            } => {
                assert!(
                    !self.sandboxes.contains_key(&sandbox_id),
                    "sandbox {sandbox_id} created twice"
                );
                self.sandbox_by_ip.insert(ip.clone(), sandbox_id);
                self.sandboxes.insert(
                    sandbox_id,
                    Sandbox {
                        pod_uid,
                        ip,
                        members: BTreeSet::new(),
                        cpu: CpuAccount {
                            since: cx.now(),
                            ..CpuAccount::default()
                        },
                    },
                );
                // Nothing the kernel does depends on the setup having finished, so the
                // answer simply leaves after it (no timer). A sandbox removed meanwhile
                // is answered `SandboxRemoved` first, and the runtime ignores the late
                // `SandboxCreated` of a sandbox it no longer creates.
                cx.send_after(
                    self.config.sandbox_setup_latency,
                    self.runtime.expect("just set"),
                    Msg::KernelEvent(Box::new(KernelEvent::SandboxCreated { sandbox_id })),
                );
            }
            KernelCall::RemoveSandbox { sandbox_id } => {
                let members = self
                    .sandboxes
                    .get(&sandbox_id)
                    .map(|sandbox| sandbox.members.clone())
                    .unwrap_or_default();
                for process_id in members {
                    self.exit(process_id, EXIT_CODE_SIGKILL, ExitCause::Killed, cx);
                }
                if let Some(sandbox) = self.sandboxes.remove(&sandbox_id)
                    && self.sandbox_by_ip.get(&sandbox.ip) == Some(&sandbox_id)
                {
                    self.sandbox_by_ip.remove(&sandbox.ip);
                }
                self.tell(KernelEvent::SandboxRemoved { sandbox_id }, cx);
            }
            KernelCall::Spawn {
                process_id,
                sandbox_id,
                behaviour,
                limits,
            } => {
                let Some(sandbox) = self.sandboxes.get_mut(&sandbox_id) else {
                    // The sandbox is gone: the process dies before it starts.
                    self.tell(
                        KernelEvent::Exited {
                            process_id,
                            exit_code: EXIT_CODE_SIGKILL,
                            cause: ExitCause::Killed,
                        },
                        cx,
                    );
                    return;
                };
                sandbox.members.insert(process_id);
                let previous = self.processes.insert(
                    process_id,
                    Process {
                        sandbox_id,
                        behaviour,
                        limits,
                        state: ProcessState::Spawning,
                        terminating: false,
                        memory_bytes_charged: 0,
                        cpu_millicores_charged: 0,
                    },
                );
                assert!(previous.is_none(), "process {process_id} spawned twice");
                self.at(
                    self.config.process_spawn_latency,
                    Due::Spawned(process_id),
                    cx,
                );
            }
            KernelCall::Signal { process_id, signal } => {
                self.signal(process_id, signal, cx);
            }
        }
    }

    fn signal(&mut self, process_id: u64, signal: Signal, cx: &mut Context<'_, Msg>) {
        let Some(process) = self.processes.get_mut(&process_id) else {
            return;
        };
        match signal {
            Signal::Kill => self.exit(process_id, EXIT_CODE_SIGKILL, ExitCause::Killed, cx),
            Signal::Term if process.terminating => {}
            Signal::Term => {
                process.terminating = true;
                let after = process
                    .behaviour
                    .sigterm_exit_after
                    .unwrap_or(self.config.default_sigterm_exit_after);
                self.at(after, Due::SigtermExit(process_id), cx);
            }
        }
    }

    fn on_due(&mut self, due: Due, cx: &mut Context<'_, Msg>) {
        match due {
            Due::Spawned(process_id) => {
                let Some(process) = self.processes.get_mut(&process_id) else {
                    return;
                };
                assert_eq!(process.state, ProcessState::Spawning);
                process.state = ProcessState::Starting;
                process.memory_bytes_charged =
                    memory_bytes_charged(&process.behaviour, process.limits);
                self.memory_bytes_used += process.memory_bytes_charged;
                let sandbox_id = process.sandbox_id;
                self.recharge(sandbox_id, cx.now());
                let process = &self.processes[&process_id];
                let startup = process.behaviour.startup;
                let exit = process.behaviour.exit;
                let (sandbox_id, memory) = (process.sandbox_id, process.memory_bytes_charged);
                let node = self.node_name.clone();
                cx.record("step", || {
                    format!(
                        "kernel {node}: process {process_id} started in sandbox {sandbox_id}'s namespaces and cgroup ({} charged); serving after {startup}",
                        format_bytes(memory)
                    )
                });
                self.tell(KernelEvent::Started { process_id }, cx);
                self.at(startup, Due::StartupDone(process_id), cx);
                if let Some(exit) = exit {
                    self.at(exit.after, Due::Exit(process_id), cx);
                }
                self.check_node_memory(cx);
            }
            Due::StartupDone(process_id) => {
                let Some(process) = self.processes.get_mut(&process_id) else {
                    return;
                };
                if exceeds_memory_limit(&process.behaviour, process.limits) {
                    let limit = process.limits.memory_bytes_limit.unwrap_or(0);
                    let node = self.node_name.clone();
                    cx.record("step", || {
                        format!(
                            "kernel {node}: OOM-killed process {process_id}: its working set outgrew the container's memory limit {}",
                            format_bytes(limit)
                        )
                    });
                    self.exit(process_id, EXIT_CODE_SIGKILL, ExitCause::OomKilled, cx);
                    return;
                }
                process.state = ProcessState::Serving;
                let sandbox_id = process.sandbox_id;
                self.recharge(sandbox_id, cx.now());
                self.tell(KernelEvent::Ready { process_id }, cx);
            }
            Due::Exit(process_id) => {
                if let Some(process) = self.processes.get(&process_id) {
                    let code = process.behaviour.exit.map_or(0, |exit| exit.exit_code);
                    self.exit(process_id, code, ExitCause::Exited, cx);
                }
            }
            Due::SigtermExit(process_id) => {
                if self.processes.contains_key(&process_id) {
                    self.exit(process_id, EXIT_CODE_SIGTERM, ExitCause::Exited, cx);
                }
            }
        }
    }

    /// The node OOM killer: while running processes hold more memory than the node has,
    /// kill the largest.
    fn check_node_memory(&mut self, cx: &mut Context<'_, Msg>) {
        let Some(capacity) = self.capacity.memory_bytes else {
            return;
        };
        while self.memory_bytes_used > capacity {
            let victim = oom_victim(
                self.processes
                    .iter()
                    .map(|(&id, p)| (id, p.memory_bytes_charged)),
            )
            .expect("memory is used, so some process holds it");
            let (used, node) = (self.memory_bytes_used, self.node_name.clone());
            cx.record("step", || {
                format!(
                    "kernel {node}: out of memory ({} used of {}): OOM-killed process {victim}",
                    format_bytes(used),
                    format_bytes(capacity)
                )
            });
            self.exit(victim, EXIT_CODE_SIGKILL, ExitCause::OomKilled, cx);
        }
    }

    /// Recomputes what each process of the sandbox is charged (its own CPU, plus its
    /// share of the sandbox's traffic once serving), settling the pod cgroup's counter
    /// at the old rate first.
    fn recharge(&mut self, sandbox_id: u64, now: SimTime) {
        let Some(sandbox) = self.sandboxes.get_mut(&sandbox_id) else {
            return;
        };
        sandbox.cpu.settle(now);
        let demand = self.demand_by_ip.get(&sandbox.ip).copied().unwrap_or(0);
        // Without traffic to this pod every share is 0: nothing to spread.
        let mut shares = BTreeMap::new();
        if demand > 0 {
            let serving: Vec<u64> = sandbox
                .members
                .iter()
                .copied()
                .filter(|id| self.processes[id].state == ProcessState::Serving)
                .collect();
            for (process_id, share) in serving.iter().zip(load_shares(demand, serving.len())) {
                shares.insert(*process_id, share);
            }
        }
        for process_id in &sandbox.members {
            let process = self
                .processes
                .get_mut(process_id)
                .expect("a sandbox's members exist");
            if process.state == ProcessState::Spawning {
                continue;
            }
            let share = shares.get(process_id).copied().unwrap_or(0);
            let charged = cpu_millicores_charged(&process.behaviour, process.limits, share);
            self.cpu_millicores_used =
                self.cpu_millicores_used - process.cpu_millicores_charged + charged;
            sandbox.cpu.rate_millicores =
                sandbox.cpu.rate_millicores - process.cpu_millicores_charged + charged;
            process.cpu_millicores_charged = charged;
        }
    }

    /// The load generator's new table of traffic demand for this node's pod IPs.
    fn on_traffic(&mut self, demand_by_ip: Vec<(Str, u64)>, now: SimTime) {
        let new: BTreeMap<Str, u64> = demand_by_ip.into_iter().collect();
        let changed: BTreeSet<Str> = new
            .iter()
            .filter(|(ip, m)| self.demand_by_ip.get(*ip) != Some(m))
            .map(|(ip, _)| ip.clone())
            .chain(
                self.demand_by_ip
                    .keys()
                    .filter(|ip| !new.contains_key(*ip))
                    .cloned(),
            )
            .collect();
        self.demand_by_ip = new;
        for ip in changed {
            if let Some(&sandbox_id) = self.sandbox_by_ip.get(&ip) {
                self.recharge(sandbox_id, now);
            }
        }
    }

    /// cAdvisor's read of every pod cgroup's cpuacct usage, summed per pod.
    fn cgroup_usage(&self, now: SimTime) -> Vec<(u64, u64)> {
        let mut by_pod: BTreeMap<u64, u64> = BTreeMap::new();
        for sandbox in self.sandboxes.values() {
            *by_pod.entry(sandbox.pod_uid).or_default() += sandbox.cpu.usage_core_nanos(now);
        }
        by_pod.into_iter().collect()
    }

    fn exit(
        &mut self,
        process_id: u64,
        exit_code: i32,
        cause: ExitCause,
        cx: &mut Context<'_, Msg>,
    ) {
        let process = self
            .processes
            .remove(&process_id)
            .expect("exit of a process that exists");
        self.memory_bytes_used -= process.memory_bytes_charged;
        self.cpu_millicores_used -= process.cpu_millicores_charged;
        if let Some(sandbox) = self.sandboxes.get_mut(&process.sandbox_id) {
            sandbox.members.remove(&process_id);
            sandbox.cpu.settle(cx.now());
            sandbox.cpu.rate_millicores -= process.cpu_millicores_charged;
        }
        self.recharge(process.sandbox_id, cx.now());
        cx.record("detail", || {
            format!("process {process_id} exited with code {exit_code} ({cause:?})")
        });
        self.tell(
            KernelEvent::Exited {
                process_id,
                exit_code,
                cause,
            },
            cx,
        );
    }
}

impl Actor<Msg> for Kernel {
    fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
        match event {
            Event::Start => {
                assert!(self.processes.is_empty(), "a booting kernel runs nothing");
            }
            Event::Message {
                from,
                msg: Msg::Kernel(call),
            } => self.on_call(from, *call, cx),
            Event::Message {
                from,
                msg: Msg::Metrics(msg),
            } => match *msg {
                MetricsMsg::Traffic { demand_by_ip } => {
                    let node = self.node_name.clone();
                    let total: u64 = demand_by_ip.iter().map(|(_, m)| m).sum();
                    cx.record("detail", || {
                        format!("kernel {node}: traffic now demands {total}m of CPU from its pods")
                    });
                    self.on_traffic(demand_by_ip, cx.now());
                }
                MetricsMsg::ReadCgroups { read_id } => {
                    let usage_by_pod_uid = self.cgroup_usage(cx.now());
                    cx.send(
                        from,
                        Msg::Metrics(Box::new(MetricsMsg::CgroupStats {
                            read_id,
                            usage_by_pod_uid,
                        })),
                    );
                }
                other => panic!(
                    "kernel/{} got an unexpected message: {other:?}",
                    self.node_name
                ),
            },
            Event::Timer(Msg::Tick(AnyTick::Kernel(Tick::Deadline { generation }))) => {
                for due in self.deadlines.fire(generation, cx.now()) {
                    self.on_due(due, cx);
                }
                if let Some(rearm) = self.deadlines.rearm(cx.now()) {
                    cx.timer(
                        rearm.after,
                        Msg::Tick(AnyTick::Kernel(Tick::Deadline {
                            generation: rearm.generation,
                        })),
                    );
                }
            }
            Event::Message { msg, .. } | Event::Timer(msg) => {
                panic!(
                    "kernel/{} got an unexpected message: {msg:?}",
                    self.node_name
                )
            }
        }
    }

    fn on_crash(&mut self) {
        // Every process, namespace and cgroup is gone with the machine, and the traffic
        // in flight to it.
        self.sandboxes.clear();
        self.processes.clear();
        self.sandbox_by_ip.clear();
        self.demand_by_ip.clear();
        self.memory_bytes_used = 0;
        self.cpu_millicores_used = 0;
        self.deadlines.clear();
    }
}

impl Fingerprint for KernelCall {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            KernelCall::CreateSandbox { sandbox_id, .. } => {
                hasher.write_u64(1);
                hasher.write_u64(*sandbox_id);
            }
            KernelCall::RemoveSandbox { sandbox_id } => {
                hasher.write_u64(2);
                hasher.write_u64(*sandbox_id);
            }
            KernelCall::Spawn {
                process_id,
                sandbox_id,
                ..
            } => {
                hasher.write_u64(3);
                hasher.write_u64(*process_id);
                hasher.write_u64(*sandbox_id);
            }
            KernelCall::Signal { process_id, signal } => {
                hasher.write_u64(4);
                hasher.write_u64(*process_id);
                hasher.write_u64(*signal as u64);
            }
        }
    }
}

impl Fingerprint for KernelEvent {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            KernelEvent::SandboxCreated { sandbox_id } => {
                hasher.write_u64(1);
                hasher.write_u64(*sandbox_id);
            }
            KernelEvent::SandboxRemoved { sandbox_id } => {
                hasher.write_u64(2);
                hasher.write_u64(*sandbox_id);
            }
            KernelEvent::Started { process_id } => {
                hasher.write_u64(3);
                hasher.write_u64(*process_id);
            }
            KernelEvent::Ready { process_id } => {
                hasher.write_u64(4);
                hasher.write_u64(*process_id);
            }
            KernelEvent::Exited {
                process_id,
                exit_code,
                cause,
            } => {
                hasher.write_u64(5);
                hasher.write_u64(*process_id);
                hasher.write_u64(*exit_code as u64);
                hasher.write_u64(*cause as u64);
            }
        }
    }
}

impl Fingerprint for Tick {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            Tick::Deadline { generation } => hasher.write_u64(*generation),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn behaviour(memory_bytes: u64, cpu_millicores: u64) -> ProcessBehaviour {
        ProcessBehaviour {
            memory_bytes,
            cpu_millicores,
            ..ProcessBehaviour::default()
        }
    }

    #[test]
    fn limits_cap_what_a_process_is_charged() {
        let b = behaviour(100 << 20, 500);
        let none = CgroupLimits::default();
        assert_eq!(memory_bytes_charged(&b, none), 100 << 20);
        assert_eq!(cpu_millicores_charged(&b, none, 0), 500);
        let tight = CgroupLimits {
            memory_bytes_limit: Some(64 << 20),
            cpu_millicores_limit: Some(250),
        };
        assert_eq!(memory_bytes_charged(&b, tight), 64 << 20);
        assert_eq!(cpu_millicores_charged(&b, tight, 0), 250);
        assert!(exceeds_memory_limit(&b, tight));
        assert!(!exceeds_memory_limit(&b, none));
        // Exactly at the limit is not over it.
        let exact = CgroupLimits {
            memory_bytes_limit: Some(100 << 20),
            cpu_millicores_limit: None,
        };
        assert!(!exceeds_memory_limit(&b, exact));
    }

    #[test]
    fn traffic_adds_to_a_process_up_to_its_limit() {
        let b = behaviour(100 << 20, 10);
        assert_eq!(
            cpu_millicores_charged(&b, CgroupLimits::default(), 490),
            500
        );
        let limited = CgroupLimits {
            memory_bytes_limit: None,
            cpu_millicores_limit: Some(300),
        };
        assert_eq!(cpu_millicores_charged(&b, limited, 490), 300);
        assert_eq!(
            load_shares(1000, 3).collect::<Vec<_>>(),
            vec![334, 333, 333]
        );
        assert_eq!(load_shares(1000, 0).count(), 0);
    }

    #[test]
    fn a_cgroup_counter_integrates_its_rate() {
        let mut account = CpuAccount {
            rate_millicores: 500,
            ..CpuAccount::default()
        };
        let t = |secs| SimTime::ZERO + SimDuration::from_secs(secs);
        assert_eq!(account.usage_core_nanos(t(10)), 5_000_000_000);
        account.settle(t(10));
        account.rate_millicores = 1500;
        // 5 core-seconds, then 1.5 cores for 10 s.
        assert_eq!(account.usage_core_nanos(t(20)), 20_000_000_000);
    }

    #[test]
    fn the_oom_killer_picks_the_largest_then_the_newest() {
        assert_eq!(oom_victim([(1, 10), (2, 30), (3, 20)].into_iter()), Some(2));
        assert_eq!(oom_victim([(1, 30), (2, 30)].into_iter()), Some(2));
        assert_eq!(oom_victim(std::iter::empty()), None);
    }

    #[test]
    fn signal_exit_codes_are_128_plus_the_signal() {
        assert_eq!(EXIT_CODE_SIGKILL, 137);
        assert_eq!(EXIT_CODE_SIGTERM, 143);
    }

    #[test]
    fn deadlines_past_the_end_of_time_are_never() {
        let now = SimTime::from_nanos(10);
        assert_eq!(
            checked_deadline(now, SimDuration::from_nanos(5)),
            Some(SimTime::from_nanos(15))
        );
        assert_eq!(checked_deadline(now, SimDuration::MAX), None);
    }
}
