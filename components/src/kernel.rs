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
//!   limit is killed when it gets there: at the end of its startup if it starts above
//!   it, at the solved instant if it leaks into it (`memoryGrowth`). When the node's
//!   memory is exhausted, the process with the highest badness is killed: its working
//!   set plus `oom_score_adj` thousandths of the node's memory (mm/oom_kill.c), with the
//!   adjustment the kubelet gives each QoS class (`kubelet::qos`);
//! - a crash: once per process, `crash.after` its start, with the behaviour's
//!   probability, drawn from the kernel's seeded stream.
//!
//! Memory: each process's working set is a curve (its size at start, growing at a
//! constant rate up to an optional cap); the node's working set is their sum. The
//! instants it crosses a line (a cgroup limit, the node's capacity, the kubelet's
//! eviction threshold) are solved, one deadline each, never ticked. The kubelet's
//! eviction manager registers its `memory.available` threshold ([`MemoryMsg`], as a
//! memcg threshold notification) and reads the working sets only while it matters.
//!
//! Disks: a node with `ephemeral-storage` has a [`Disk`] (see `filesystem`): the images
//! the runtime stores (`StoreImage`, `DeleteImage`) and each container's writable layer,
//! written at its behaviour's `disk_growth` from its start until its exit and freed with
//! its sandbox. The kubelet registers its filesystem thresholds (`DiskMsg`); the kernel
//! solves the instant the layers' writes meet one and tells the kubelet which are met
//! whenever that changes.
//!
//! CPU: a process uses its behaviour's millicores, plus, once serving, its share of the
//! Service traffic addressed to its sandbox's IP (the load generator's `Traffic`, split
//! evenly over the sandbox's serving processes), capped at its container's CPU limit
//! (the CFS quota). A startup demanding more than the quota is throttled: it takes
//! `demand / limit` times as long. Each pod cgroup keeps a cumulative CPU counter
//! (cpuacct's usage, in core-nanoseconds), which the kubelet's cAdvisor reads
//! (`ReadCgroups`) for the resource metrics pipeline.

use std::collections::{BTreeMap, BTreeSet};

use sim_core::{Actor, ActorId, Context, Event, SimDuration, SimTime, TraceHasher};

use crate::api::quantity::format_bytes;
use crate::api::{ResourceList, Str};
use crate::filesystem::{
    Disk, DiskGrowth, DiskStats, DiskThreshold, Growth, NodeFilesystems, first_instant_above,
};
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
    /// A leak: the working set grows from `memory_bytes` at this rate from the start.
    pub memory_growth: Option<MemoryGrowth>,
    /// The process may crash once, `after` its start.
    pub crash: Option<CrashChance>,
    /// From exec until the process stops answering (a deadlock): from then on probes
    /// get no answer (they fail by their timeout) and it takes no traffic. `None`
    /// answers for as long as it runs.
    pub unhealthy_after: Option<SimDuration>,
    /// How long the image's postStart hook handler (an exec command or HTTP endpoint)
    /// takes.
    pub post_start_hook: SimDuration,
    /// What the postStart handler returns: 0 succeeds; anything else is a failed hook
    /// (an exec's exit code, an httpGet's error), and the kubelet kills the container
    /// (FailedPostStartHook).
    pub post_start_hook_exit_code: i32,
    /// How long the image's preStop hook handler takes.
    pub pre_stop_hook: SimDuration,
    /// Writes to the container's writable layer (files the process appends to, such as
    /// its own log files), from its start until it exits (see `filesystem`).
    pub disk_growth: Option<DiskGrowth>,
}

/// Working-set growth of a process.
pub type MemoryGrowth = Growth;

/// A crash drawn once per process from the kernel's seeded stream: at `after` the
/// process exits with `exit_code` with probability `parts_per_million` / 10⁶.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashChance {
    pub parts_per_million: u64,
    pub after: SimDuration,
    pub exit_code: i32,
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
            memory_growth: None,
            crash: None,
            unhealthy_after: None,
            post_start_hook: SimDuration::ZERO,
            post_start_hook_exit_code: 0,
            pre_stop_hook: SimDuration::ZERO,
            disk_growth: None,
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

/// A container's cgroup settings and its process's `oom_score_adj`, as the CRI's
/// `LinuxContainerResources` carries them (the kubelet computes them from the pod spec:
/// `pkg/kubelet/kuberuntime/kuberuntime_container_linux.go`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CgroupLimits {
    /// `memory.max`: above it the cgroup's OOM killer ends the process.
    pub memory_bytes_limit: Option<u64>,
    /// CFS quota as a share of the 100 ms period (`cpu.max`): demand above it is throttled.
    pub cpu_millicores_limit: Option<u64>,
    /// The CPU request (`cpu.weight` / `cpu.shares`).
    pub cpu_millicores_request: Option<u64>,
    /// `/proc/<pid>/oom_score_adj`, −1000 ..= 1000 (`pkg/kubelet/qos/policy.go`).
    pub oom_score_adj: i32,
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
        behaviour: Box<ProcessBehaviour>,
        limits: CgroupLimits,
    },
    Signal {
        process_id: u64,
        signal: Signal,
    },
    /// The runtime unpacked an image into its store (on the imagefs): its files now
    /// take space. Storing it again replaces its size.
    StoreImage {
        image: Str,
        size_bytes: u64,
    },
    /// The runtime removed an image's files.
    DeleteImage {
        image: Str,
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
    /// The process reached the end of its startup: it answers probes and serves.
    Ready {
        process_id: u64,
    },
    /// The process stopped answering (its behaviour's `unhealthy_after`).
    Unresponsive {
        process_id: u64,
    },
    Exited {
        process_id: u64,
        exit_code: i32,
        cause: ExitCause,
    },
}

/// The kubelet's reads of the node's memory: the eviction manager's threshold on
/// `memory.available` (a memcg threshold notification on the root cgroup) and its read of
/// the working sets when it synchronizes.
#[derive(Clone, Debug)]
pub enum MemoryMsg {
    /// kubelet → kernel: report when `memory.available` (capacity − working set) goes
    /// below `threshold_bytes` and when it comes back. Answered at once with the side it
    /// is on now.
    NotifyAvailableBelow { threshold_bytes: u64 },
    /// kernel → kubelet: `memory.available` crossed the threshold.
    AvailableBelow { below: bool },
    /// kubelet → kernel: read the node's and every container's working set.
    Read { read_id: u64 },
    /// kernel → kubelet.
    Stats { read_id: u64, stats: MemoryStats },
}

/// One read of the node's memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryStats {
    pub capacity_bytes: u64,
    pub working_set_bytes: u64,
    /// (pod uid, process id, working set) of every running process, by process id.
    pub processes: Vec<(u64, u64, u64)>,
}

impl MemoryStats {
    /// `memory.available`, as the eviction manager computes it (capacity − working set).
    pub fn available_bytes(&self) -> u64 {
        self.capacity_bytes.saturating_sub(self.working_set_bytes)
    }
}

/// The kubelet's reads of the node's filesystems (see `filesystem`): the eviction
/// manager's hard thresholds on the filesystem signals, which the kernel watches as it
/// watches `memory.available`, and the reads of the eviction manager and the image GC.
#[derive(Clone, Debug)]
pub enum DiskMsg {
    /// kubelet → kernel: report which of `thresholds` are met, now and whenever that
    /// changes.
    NotifyThresholds { thresholds: Vec<DiskThreshold> },
    /// kernel → kubelet: which thresholds are met (bit `i` for threshold `i`), when that
    /// changes.
    ThresholdsMet { met: u64 },
    /// kubelet → kernel: read the filesystems and every container's use of them.
    Read { read_id: u64 },
    /// kernel → kubelet.
    Stats { read_id: u64, stats: DiskStats },
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
    /// Hung: it answers nothing (probes time out) and serves nothing.
    Unresponsive,
}

/// A process's working set over time: `start_bytes` at `since`, then growing as its
/// behaviour says. Crossing instants are solved from it, never ticked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MemoryCurve {
    start_bytes: u64,
    since: SimTime,
    growth: Option<MemoryGrowth>,
}

impl MemoryCurve {
    fn bytes_at(&self, now: SimTime) -> u64 {
        let Some(growth) = self.growth else {
            return self.start_bytes;
        };
        let total =
            u128::from(self.start_bytes) + growth.added_over(now.saturating_since(self.since));
        let total = growth.max_bytes.map_or(total, |max| {
            total.min(u128::from(max.max(self.start_bytes)))
        });
        u64::try_from(total).unwrap_or(u64::MAX)
    }

    /// The first instant at which the working set is above `bytes`, if it ever is.
    fn first_above(&self, bytes: u64) -> Option<SimTime> {
        if self.start_bytes > bytes {
            return Some(self.since);
        }
        let growth = self.growth.filter(|g| g.bytes > 0)?;
        if growth.max_bytes.is_some_and(|max| max <= bytes) {
            return None;
        }
        // start + ⌊rate × e / per⌋ > bytes  ⇔  rate × e ≥ (bytes − start + 1) × per.
        let needed = u128::from(bytes - self.start_bytes + 1);
        let per = u128::from(growth.per.as_nanos().max(1));
        let elapsed = (needed * per).div_ceil(u128::from(growth.bytes));
        let at = u128::from(self.since.as_nanos()) + elapsed;
        u64::try_from(at).ok().map(SimTime::from_nanos)
    }

    /// Whether the working set can still change after `now`.
    fn grows_after(&self, now: SimTime) -> bool {
        self.growth.is_some_and(|g| {
            g.bytes > 0
                && g.max_bytes
                    .is_none_or(|max| self.bytes_at(now) < max.max(self.start_bytes))
        })
    }
}

#[derive(Clone, Debug)]
struct Process {
    sandbox_id: u64,
    behaviour: ProcessBehaviour,
    limits: CgroupLimits,
    state: ProcessState,
    /// SIGTERM has been delivered.
    terminating: bool,
    /// Its working set once spawned (`None` while spawning: nothing charged yet).
    memory: Option<MemoryCurve>,
    cpu_millicores_charged: u64,
}

impl Process {
    /// The working set charged to the node at `now`: the curve, capped by the cgroup's
    /// limit (the process is OOM-killed when it gets there).
    fn memory_bytes_at(&self, now: SimTime) -> u64 {
        let Some(curve) = self.memory else {
            return 0;
        };
        let bytes = curve.bytes_at(now);
        self.limits
            .memory_bytes_limit
            .map_or(bytes, |limit| bytes.min(limit))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    Spawned(u64),
    StartupDone(u64),
    Exit(u64),
    SigtermExit(u64),
    /// The process stops answering.
    Unresponsive(u64),
    /// The process's working set reaches its cgroup's limit.
    MemoryLimit(u64),
    /// The process's crash draw.
    Crash(u64),
    /// The node's working set crosses the OOM line or the kubelet's threshold (planned
    /// with this generation; a later plan supersedes it).
    NodeMemory(u64),
    /// The writable layers being written meet one of the kubelet's disk thresholds
    /// (planned with this generation).
    NodeDisk(u64),
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

/// The CFS bandwidth period (`cpu.cfs_period_us`, kernel default 100 ms).
pub const CFS_PERIOD: SimDuration = SimDuration::from_millis(100);

/// A cgroup's CFS throttling counters (`cpu.stat`), summed over a pod's containers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuThrottling {
    /// `nr_throttled`: periods in which a container ran out of its quota.
    pub nr_throttled: u64,
    /// `throttled_time` (`throttled_usec` in v2), in nanoseconds.
    pub throttled_nanos: u64,
}

/// A pod cgroup's throttling, integrated like [`CpuAccount`]: while a container's demand
/// D exceeds its quota L, every period counts as throttled and the container waits for
/// the period's end for (D − L) / D of it.
#[derive(Clone, Copy, Debug, Default)]
struct ThrottleAccount {
    since: SimTime,
    /// Containers throttled now.
    throttled_count: u64,
    /// Σ (D − L) / D over them, in parts per million.
    waiting_ppm: u64,
    throttled_period_nanos: u128,
    throttled_wait_ppm_nanos: u128,
}

impl ThrottleAccount {
    fn settle(&mut self, now: SimTime) {
        let elapsed = u128::from(now.saturating_since(self.since).as_nanos());
        self.throttled_period_nanos += elapsed * u128::from(self.throttled_count);
        self.throttled_wait_ppm_nanos += elapsed * u128::from(self.waiting_ppm);
        self.since = now;
    }

    fn counters(&self, now: SimTime) -> CpuThrottling {
        let mut settled = *self;
        settled.settle(now);
        let period = u128::from(CFS_PERIOD.as_nanos());
        CpuThrottling {
            nr_throttled: u64::try_from(settled.throttled_period_nanos / period)
                .unwrap_or(u64::MAX),
            throttled_nanos: u64::try_from(settled.throttled_wait_ppm_nanos / 1_000_000)
                .unwrap_or(u64::MAX),
        }
    }
}

/// The share of each period a container whose demand exceeds its quota spends
/// throttled, in parts per million; `None` when it is not throttled.
fn throttled_wait_ppm(demand_millicores: u64, limit_millicores: Option<u64>) -> Option<u64> {
    let limit = limit_millicores?;
    (demand_millicores > limit).then(|| (demand_millicores - limit) * 1_000_000 / demand_millicores)
}

#[derive(Clone, Debug)]
struct Sandbox {
    pod_uid: u64,
    ip: Str,
    members: BTreeSet<u64>,
    cpu: CpuAccount,
    throttle: ThrottleAccount,
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

/// How long the startup takes under the CFS quota: the startup is CPU work done at the
/// behaviour's demand; a quota below the demand gives the process `limit / demand` of
/// the CPU time it wants in every 100 ms period (`cpu.cfs_period_us`, kernel default),
/// so the same work takes `demand / limit` times as long (rounded up to the nanosecond).
fn throttled_startup(behaviour: &ProcessBehaviour, limits: CgroupLimits) -> SimDuration {
    let demand = behaviour.cpu_millicores;
    match limits.cpu_millicores_limit {
        Some(limit) if limit > 0 && demand > limit => {
            let nanos = u128::from(behaviour.startup.as_nanos()) * u128::from(demand);
            SimDuration::from_nanos(
                u64::try_from(nanos.div_ceil(u128::from(limit))).unwrap_or(u64::MAX),
            )
        }
        _ => behaviour.startup,
    }
}

/// A sandbox's traffic demand split over its serving processes: the quotient each, one
/// millicore more for the first `demand % n`.
fn load_shares(demand_millicores: u64, serving_count: usize) -> impl Iterator<Item = u64> {
    let count = serving_count.max(1) as u64;
    let (share, remainder) = (demand_millicores / count, demand_millicores % count);
    (0..serving_count as u64).map(move |index| share + u64::from(index < remainder))
}

/// Whether the process starts out above its cgroup's memory limit (it is OOM-killed at
/// the end of its startup, when its working set is all there).
fn exceeds_memory_limit(behaviour: &ProcessBehaviour, limits: CgroupLimits) -> bool {
    limits
        .memory_bytes_limit
        .is_some_and(|limit| behaviour.memory_bytes > limit)
}

/// A byte count for records: exact when it is a whole number of a binary unit, else in
/// MiB to a tenth (integer arithmetic).
pub(crate) fn approx_bytes(bytes: u64) -> String {
    let exact = format_bytes(bytes);
    if !exact.chars().all(|c| c.is_ascii_digit()) || bytes < 1 << 20 {
        return exact;
    }
    let tenths = (u128::from(bytes) * 10).div_ceil(1 << 20);
    format!("{}.{}Mi", tenths / 10, tenths % 10)
}

/// The page size (x86-64): memory cgroups charge whole pages.
pub const PAGE_SIZE_BYTES: u64 = 4096;

/// `OOM_SCORE_ADJ_MIN`: a process with it is never chosen (include/uapi/linux/oom.h).
pub const OOM_SCORE_ADJ_MIN: i32 = -1000;

/// The node OOM killer's badness of a process (`oom_badness`, mm/oom_kill.c): its
/// memory plus `oom_score_adj` thousandths of the node's memory, in bytes rather than
/// pages; `None` for an unkillable process.
fn oom_badness(memory_bytes: u64, oom_score_adj: i32, total_bytes: u64) -> Option<i128> {
    if oom_score_adj <= OOM_SCORE_ADJ_MIN {
        return None;
    }
    let adj = i128::from(oom_score_adj) * i128::from(total_bytes) / 1000;
    Some(i128::from(memory_bytes) + adj)
}

/// The node OOM killer's victim among (process id, memory, oom_score_adj): the highest
/// badness; on ties the one scanned last (the kernel walks the task list oldest first and
/// keeps a later task that scores as high), so the newest.
fn oom_victim(processes: impl Iterator<Item = (u64, u64, i32)>, total_bytes: u64) -> Option<u64> {
    processes
        .filter_map(|(process_id, memory_bytes, adj)| {
            oom_badness(memory_bytes, adj, total_bytes).map(|score| (score, process_id))
        })
        .max()
        .map(|(_, process_id)| process_id)
}

/// `now + after`, or `None` when that lies beyond the end of simulated time (a process
/// that, in effect, never gets there).
fn checked_deadline(now: SimTime, after: SimDuration) -> Option<SimTime> {
    now.as_nanos()
        .checked_add(after.as_nanos())
        .map(SimTime::from_nanos)
}

/// The kubelet's thresholds on the filesystem signals.
#[derive(Clone, Debug)]
struct DiskWatch {
    kubelet: ActorId,
    thresholds: Vec<DiskThreshold>,
    /// What was last reported: the thresholds met, one bit each.
    met: u64,
}

/// The kubelet's memcg threshold on `memory.available`.
#[derive(Clone, Copy, Debug)]
struct MemoryWatch {
    kubelet: ActorId,
    threshold_bytes: u64,
    /// The side last reported.
    below: bool,
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
    /// Memory held by running processes whose working set does not grow.
    memory_bytes_static: u64,
    /// Running processes whose working set grows (summed at each read).
    growing: BTreeSet<u64>,
    /// Generation of the node memory plan; a `Due::NodeMemory` of another is stale.
    memory_plan_generation: u64,
    memory_watch: Option<MemoryWatch>,
    /// The node's filesystems, when the node has them (`ephemeral-storage`).
    disk: Option<Disk>,
    disk_watch: Option<DiskWatch>,
    /// Generation of the disk crossing plan; a `Due::NodeDisk` of another is stale.
    disk_plan_generation: u64,
    /// The instant of the event being handled.
    now: SimTime,
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
            memory_bytes_static: 0,
            growing: BTreeSet::new(),
            memory_plan_generation: 0,
            memory_watch: None,
            disk: None,
            disk_watch: None,
            disk_plan_generation: 0,
            now: SimTime::ZERO,
            cpu_millicores_used: 0,
            deadlines: Deadlines::new(),
        }
    }

    /// A node with disks: the filesystems are accounted for (see `filesystem`).
    pub fn with_filesystems(mut self, layout: NodeFilesystems) -> Kernel {
        self.disk = Some(Disk::new(layout));
        self
    }

    /// The node's filesystems at `now` (the writable layers keep growing between the
    /// kernel's events).
    pub fn disk_stats_at(&self, now: SimTime) -> Option<DiskStats> {
        self.disk
            .as_ref()
            .map(|disk| disk.stats_at(now.max(self.now)))
    }

    /// The images whose files are on the node's disks.
    pub fn disk_images(&self) -> Vec<Str> {
        self.disk
            .as_ref()
            .map(|disk| disk.images().cloned().collect())
            .unwrap_or_default()
    }

    /// Memory held by running processes, as of the last event the kernel handled.
    pub fn memory_bytes_used(&self) -> u64 {
        self.memory_bytes_used_at(self.now)
    }

    /// The node's working set at `now`.
    fn memory_bytes_used_at(&self, now: SimTime) -> u64 {
        self.memory_bytes_static
            + self
                .growing
                .iter()
                .map(|id| self.processes[id].memory_bytes_at(now))
                .sum::<u64>()
    }

    /// CPU demanded by running processes, each capped at its CFS quota.
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
        self.at_instant(at, due, cx);
    }

    fn at_instant(&mut self, at: SimTime, due: Due, cx: &mut Context<'_, Msg>) {
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
                        throttle: ThrottleAccount {
                            since: cx.now(),
                            ..ThrottleAccount::default()
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
                if let Some(disk) = &mut self.disk
                    && disk.remove_sandbox(sandbox_id, cx.now()) > 0
                {
                    self.disk_changed(cx);
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
                        behaviour: *behaviour,
                        limits,
                        state: ProcessState::Spawning,
                        terminating: false,
                        memory: None,
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
            KernelCall::StoreImage { image, size_bytes } => {
                if let Some(disk) = &mut self.disk {
                    disk.store_image(image, size_bytes);
                    self.disk_changed(cx);
                }
            }
            KernelCall::DeleteImage { image } => {
                if let Some(disk) = &mut self.disk
                    && disk.delete_image(&image)
                {
                    self.disk_changed(cx);
                }
            }
        }
    }

    /// The files on the node changed, or a planned crossing came due: tell the kubelet
    /// when its thresholds go from none met to some met or back, and plan the next
    /// crossing.
    fn disk_changed(&mut self, cx: &mut Context<'_, Msg>) {
        let Some(disk) = &mut self.disk else {
            return;
        };
        let now = cx.now();
        disk.settle(now);
        self.disk_plan_generation += 1;
        let Some(watch) = &mut self.disk_watch else {
            return;
        };
        let met = disk.met_mask(&watch.thresholds, now);
        if met != watch.met {
            watch.met = met;
            cx.send(
                watch.kubelet,
                Msg::Disk(Box::new(DiskMsg::ThresholdsMet { met })),
            );
        }
        if let Some(at) = disk.next_crossing(&watch.thresholds, now) {
            self.at_instant(at, Due::NodeDisk(self.disk_plan_generation), cx);
        }
    }

    fn on_disk_msg(&mut self, from: ActorId, msg: DiskMsg, cx: &mut Context<'_, Msg>) {
        match msg {
            DiskMsg::NotifyThresholds { thresholds } => {
                if self.disk.is_none() {
                    return;
                }
                // Reported as none met: the check that follows tells the truth at once.
                self.disk_watch = Some(DiskWatch {
                    kubelet: from,
                    thresholds,
                    met: 0,
                });
                self.disk_changed(cx);
            }
            DiskMsg::Read { read_id } => {
                let stats = self
                    .disk
                    .as_ref()
                    .map(|disk| disk.stats_at(cx.now()))
                    .unwrap_or_default();
                cx.send(from, Msg::Disk(Box::new(DiskMsg::Stats { read_id, stats })));
            }
            other @ (DiskMsg::ThresholdsMet { .. } | DiskMsg::Stats { .. }) => panic!(
                "kernel/{} got a message it sends: {other:?}",
                self.node_name
            ),
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
            Due::Spawned(process_id) => self.on_spawned(process_id, cx),
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
                if process.state == ProcessState::Unresponsive {
                    // Hung before it got through its startup: it never serves.
                    return;
                }
                process.state = ProcessState::Serving;
                let sandbox_id = process.sandbox_id;
                self.recharge(sandbox_id, cx.now());
                self.tell(KernelEvent::Ready { process_id }, cx);
            }
            Due::Unresponsive(process_id) => {
                let Some(process) = self.processes.get_mut(&process_id) else {
                    return;
                };
                process.state = ProcessState::Unresponsive;
                let sandbox_id = process.sandbox_id;
                self.recharge(sandbox_id, cx.now());
                let node = self.node_name.clone();
                cx.record("step", || {
                    format!("kernel {node}: process {process_id} stopped answering (hung)")
                });
                self.tell(KernelEvent::Unresponsive { process_id }, cx);
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
            Due::MemoryLimit(process_id) => {
                let Some(process) = self.processes.get(&process_id) else {
                    return;
                };
                let limit = process.limits.memory_bytes_limit.unwrap_or(u64::MAX);
                let curve = process.memory.expect("a running process has a working set");
                if curve.bytes_at(cx.now()) <= limit {
                    // A process spawned again under the same id cannot happen (ids are
                    // never reused), so this is simply not yet due.
                    return;
                }
                let node = self.node_name.clone();
                cx.record("step", || {
                    format!(
                        "kernel {node}: process {process_id}'s working set reached its cgroup's memory limit {}: OOM-killed",
                        format_bytes(limit)
                    )
                });
                self.exit(process_id, EXIT_CODE_SIGKILL, ExitCause::OomKilled, cx);
            }
            Due::Crash(process_id) => {
                let Some(crash) = self
                    .processes
                    .get(&process_id)
                    .and_then(|process| process.behaviour.crash)
                else {
                    return;
                };
                if cx.rng().chance(crash.parts_per_million, 1_000_000) {
                    let (node, code) = (self.node_name.clone(), crash.exit_code);
                    cx.record("step", || {
                        format!("kernel {node}: process {process_id} crashed (exit code {code})")
                    });
                    self.exit(process_id, code, ExitCause::Exited, cx);
                }
            }
            Due::NodeMemory(generation) => {
                if generation == self.memory_plan_generation {
                    self.memory_changed(cx);
                }
            }
            Due::NodeDisk(generation) => {
                if generation == self.disk_plan_generation {
                    self.disk_changed(cx);
                }
            }
        }
    }

    fn on_spawned(&mut self, process_id: u64, cx: &mut Context<'_, Msg>) {
        let now = cx.now();
        let Some(process) = self.processes.get_mut(&process_id) else {
            return;
        };
        assert_eq!(process.state, ProcessState::Spawning);
        process.state = ProcessState::Starting;
        let curve = MemoryCurve {
            start_bytes: process.behaviour.memory_bytes,
            since: now,
            growth: process.behaviour.memory_growth,
        };
        process.memory = Some(curve);
        let grows = curve.grows_after(now);
        let limit = process.limits.memory_bytes_limit;
        let startup = throttled_startup(&process.behaviour, process.limits);
        let (exit, crash) = (process.behaviour.exit, process.behaviour.crash);
        let unhealthy_after = process.behaviour.unhealthy_after;
        let (sandbox_id, memory) = (process.sandbox_id, process.memory_bytes_at(now));
        if grows {
            self.growing.insert(process_id);
        } else {
            self.memory_bytes_static += memory;
        }
        let disk_growth = process.behaviour.disk_growth;
        if let Some(disk) = &mut self.disk {
            let pod_uid = self.sandboxes[&sandbox_id].pod_uid;
            disk.start_layer(process_id, sandbox_id, pod_uid, disk_growth, now);
            if disk_growth.is_some() {
                self.disk_changed(cx);
            }
        }
        self.recharge(sandbox_id, now);
        let node = self.node_name.clone();
        let throttled = startup != self.processes[&process_id].behaviour.startup;
        cx.record("step", || {
            let throttle = if throttled {
                " (slowed by its CPU limit's CFS quota)"
            } else {
                ""
            };
            format!(
                "kernel {node}: process {process_id} started in sandbox {sandbox_id}'s namespaces and cgroup ({} charged); serving after {startup}{throttle}",
                format_bytes(memory)
            )
        });
        self.tell(KernelEvent::Started { process_id }, cx);
        self.at(startup, Due::StartupDone(process_id), cx);
        if let Some(exit) = exit {
            self.at(exit.after, Due::Exit(process_id), cx);
        }
        if let Some(crash) = crash {
            self.at(crash.after, Due::Crash(process_id), cx);
        }
        if let Some(after) = unhealthy_after {
            self.at(after, Due::Unresponsive(process_id), cx);
        }
        // A process that starts above its limit is killed at the end of its startup; one
        // that grows into it, at the instant it gets there.
        if let Some(limit) = limit
            && grows
            && curve.start_bytes <= limit
            && let Some(at) = curve.first_above(limit)
        {
            self.at_instant(at, Due::MemoryLimit(process_id), cx);
        }
        self.memory_changed(cx);
    }

    /// The node's working set changed (a process started or ended, or a planned crossing
    /// came due): run the OOM killer if memory is exhausted, tell the kubelet if
    /// `memory.available` crossed its threshold, and plan the next crossing.
    fn memory_changed(&mut self, cx: &mut Context<'_, Msg>) {
        self.check_node_memory(cx);
        self.notify_memory_watch(cx);
        self.plan_memory_crossing(cx);
    }

    /// The node OOM killer: while running processes hold more memory than the node has,
    /// kill the one with the highest badness (working set plus `oom_score_adj`).
    fn check_node_memory(&mut self, cx: &mut Context<'_, Msg>) {
        let Some(capacity) = self.capacity.memory_bytes else {
            return;
        };
        let now = cx.now();
        while self.memory_bytes_used_at(now) > capacity {
            let candidates = self.processes.iter().filter(|(_, p)| p.memory.is_some());
            let Some(victim) = oom_victim(
                candidates.map(|(&id, p)| (id, p.memory_bytes_at(now), p.limits.oom_score_adj)),
                capacity,
            ) else {
                let node = self.node_name.clone();
                cx.record("step", || {
                    format!("kernel {node}: out of memory and no killable process")
                });
                return;
            };
            let used = self.memory_bytes_used_at(now);
            let (node, adj) = (
                self.node_name.clone(),
                self.processes[&victim].limits.oom_score_adj,
            );
            let victim_bytes = self.processes[&victim].memory_bytes_at(now);
            cx.record("step", || {
                format!(
                    "kernel {node}: out of memory ({} used of {}): OOM-killed process {victim} ({}, oom_score_adj {adj})",
                    approx_bytes(used),
                    format_bytes(capacity),
                    approx_bytes(victim_bytes)
                )
            });
            self.exit_quietly(victim, EXIT_CODE_SIGKILL, ExitCause::OomKilled, cx);
        }
    }

    /// Tells the kubelet when `memory.available` has crossed its threshold.
    fn notify_memory_watch(&mut self, cx: &mut Context<'_, Msg>) {
        let (Some(watch), Some(capacity)) = (self.memory_watch, self.capacity.memory_bytes) else {
            return;
        };
        let available = capacity.saturating_sub(self.memory_bytes_used_at(cx.now()));
        let below = available < watch.threshold_bytes;
        if below != watch.below {
            self.memory_watch = Some(MemoryWatch { below, ..watch });
            cx.send(
                watch.kubelet,
                Msg::Memory(Box::new(MemoryMsg::AvailableBelow { below })),
            );
        }
    }

    /// Plans the next instant the growing working sets take the node over the OOM line
    /// or below the kubelet's threshold (one deadline; a new plan supersedes it).
    fn plan_memory_crossing(&mut self, cx: &mut Context<'_, Msg>) {
        self.memory_plan_generation += 1;
        let now = cx.now();
        // A working set that has reached its growth's cap is static from now on.
        let capped: Vec<u64> = self
            .growing
            .iter()
            .copied()
            .filter(|id| {
                !self.processes[id]
                    .memory
                    .is_some_and(|c| c.grows_after(now))
            })
            .collect();
        for id in capped {
            self.growing.remove(&id);
            self.memory_bytes_static += self.processes[&id].memory_bytes_at(now);
        }
        let (Some(capacity), false) = (self.capacity.memory_bytes, self.growing.is_empty()) else {
            return;
        };
        let mut targets = vec![capacity];
        if let Some(watch) = self.memory_watch
            && !watch.below
        {
            targets.push(capacity.saturating_sub(watch.threshold_bytes));
        }
        let next = targets
            .into_iter()
            .filter_map(|target| {
                first_instant_above(now, target, |at| self.memory_bytes_used_at(at))
            })
            .min();
        if let Some(at) = next {
            self.at_instant(at, Due::NodeMemory(self.memory_plan_generation), cx);
        }
    }

    fn on_memory_msg(&mut self, from: ActorId, msg: MemoryMsg, cx: &mut Context<'_, Msg>) {
        match msg {
            MemoryMsg::NotifyAvailableBelow { threshold_bytes } => {
                // Reported as above: the check that follows tells the truth at once.
                self.memory_watch = Some(MemoryWatch {
                    kubelet: from,
                    threshold_bytes,
                    below: false,
                });
                self.notify_memory_watch(cx);
                self.plan_memory_crossing(cx);
            }
            MemoryMsg::Read { read_id } => {
                // The memory cgroups count whole pages.
                let now = cx.now();
                let processes: Vec<(u64, u64, u64)> = self
                    .processes
                    .iter()
                    .filter(|(_, p)| p.memory.is_some())
                    .map(|(&id, p)| {
                        (
                            self.sandboxes[&p.sandbox_id].pod_uid,
                            id,
                            p.memory_bytes_at(now).next_multiple_of(PAGE_SIZE_BYTES),
                        )
                    })
                    .collect();
                let stats = MemoryStats {
                    capacity_bytes: self.capacity.memory_bytes.unwrap_or(0),
                    working_set_bytes: processes.iter().map(|(_, _, bytes)| bytes).sum(),
                    processes,
                };
                cx.send(
                    from,
                    Msg::Memory(Box::new(MemoryMsg::Stats { read_id, stats })),
                );
            }
            other @ (MemoryMsg::AvailableBelow { .. } | MemoryMsg::Stats { .. }) => panic!(
                "kernel/{} got a message it sends: {other:?}",
                self.node_name
            ),
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
        sandbox.throttle.settle(now);
        sandbox.throttle.throttled_count = 0;
        sandbox.throttle.waiting_ppm = 0;
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
            let wanted = process.behaviour.cpu_millicores + share;
            if let Some(ppm) = throttled_wait_ppm(wanted, process.limits.cpu_millicores_limit) {
                sandbox.throttle.throttled_count += 1;
                sandbox.throttle.waiting_ppm += ppm;
            }
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

    /// The pod cgroups' CFS throttling counters, summed per pod (pods never throttled
    /// are left out).
    pub fn cgroup_throttling(&self, now: SimTime) -> Vec<(u64, CpuThrottling)> {
        let mut by_pod: BTreeMap<u64, CpuThrottling> = BTreeMap::new();
        for sandbox in self.sandboxes.values() {
            let counters = sandbox.throttle.counters(now);
            if counters != CpuThrottling::default() {
                let sum = by_pod.entry(sandbox.pod_uid).or_default();
                sum.nr_throttled += counters.nr_throttled;
                sum.throttled_nanos += counters.throttled_nanos;
            }
        }
        by_pod.into_iter().collect()
    }

    /// A process ends; the node's memory is looked at again.
    fn exit(
        &mut self,
        process_id: u64,
        exit_code: i32,
        cause: ExitCause,
        cx: &mut Context<'_, Msg>,
    ) {
        self.exit_quietly(process_id, exit_code, cause, cx);
        self.notify_memory_watch(cx);
        self.plan_memory_crossing(cx);
    }

    /// A process ends, without looking at the node's memory (the OOM killer's loop does).
    fn exit_quietly(
        &mut self,
        process_id: u64,
        exit_code: i32,
        cause: ExitCause,
        cx: &mut Context<'_, Msg>,
    ) {
        let now = cx.now();
        let process = self
            .processes
            .remove(&process_id)
            .expect("exit of a process that exists");
        if process.memory.is_some() && !self.growing.remove(&process_id) {
            self.memory_bytes_static -= process.memory_bytes_at(now);
        }
        if let Some(disk) = &mut self.disk
            && disk.stop_layer(process_id, now)
        {
            // The writes stop: the planned crossing may never come.
            self.disk_changed(cx);
        }
        self.cpu_millicores_used -= process.cpu_millicores_charged;
        if let Some(sandbox) = self.sandboxes.get_mut(&process.sandbox_id) {
            sandbox.members.remove(&process_id);
            sandbox.cpu.settle(now);
            sandbox.cpu.rate_millicores -= process.cpu_millicores_charged;
            sandbox.throttle.settle(now);
        }
        self.recharge(process.sandbox_id, now);
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
        self.now = cx.now();
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
                msg: Msg::Memory(msg),
            } => self.on_memory_msg(from, *msg, cx),
            Event::Message {
                from,
                msg: Msg::Disk(msg),
            } => self.on_disk_msg(from, *msg, cx),
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
                    let throttling_by_pod_uid = self.cgroup_throttling(cx.now());
                    cx.send(
                        from,
                        Msg::Metrics(Box::new(MetricsMsg::CgroupStats {
                            read_id,
                            usage_by_pod_uid,
                            throttling_by_pod_uid,
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
        // in flight to it, and the kubelet's threshold with its memcg.
        self.sandboxes.clear();
        self.processes.clear();
        self.sandbox_by_ip.clear();
        self.demand_by_ip.clear();
        self.memory_bytes_static = 0;
        self.growing.clear();
        self.memory_watch = None;
        self.memory_plan_generation += 1;
        // The images are on disk; the containers' layers go with the runtime's records.
        if let Some(disk) = &mut self.disk {
            disk.forget_containers();
        }
        self.disk_watch = None;
        self.disk_plan_generation += 1;
        self.cpu_millicores_used = 0;
        self.deadlines.clear();
    }
}

impl Fingerprint for MemoryMsg {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            MemoryMsg::NotifyAvailableBelow { threshold_bytes } => {
                hasher.write_u64(1);
                hasher.write_u64(*threshold_bytes);
            }
            MemoryMsg::AvailableBelow { below } => {
                hasher.write_u64(2);
                hasher.write_u64(u64::from(*below));
            }
            MemoryMsg::Read { read_id } => {
                hasher.write_u64(3);
                hasher.write_u64(*read_id);
            }
            MemoryMsg::Stats { read_id, stats } => {
                hasher.write_u64(4);
                hasher.write_u64(*read_id);
                hasher.write_u64(stats.working_set_bytes);
            }
        }
    }
}

impl Fingerprint for DiskMsg {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            DiskMsg::NotifyThresholds { thresholds } => {
                hasher.write_u64(1);
                for threshold in thresholds {
                    threshold.fingerprint(hasher);
                }
            }
            DiskMsg::ThresholdsMet { met } => {
                hasher.write_u64(2);
                hasher.write_u64(*met);
            }
            DiskMsg::Read { read_id } => {
                hasher.write_u64(3);
                hasher.write_u64(*read_id);
            }
            DiskMsg::Stats { read_id, stats } => {
                hasher.write_u64(4);
                hasher.write_u64(*read_id);
                stats.fingerprint(hasher);
            }
        }
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
            KernelCall::StoreImage { image, size_bytes } => {
                hasher.write_u64(5);
                hasher.write_str(image);
                hasher.write_u64(*size_bytes);
            }
            KernelCall::DeleteImage { image } => {
                hasher.write_u64(6);
                hasher.write_str(image);
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
            KernelEvent::Unresponsive { process_id } => {
                hasher.write_u64(6);
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
        assert_eq!(cpu_millicores_charged(&b, none, 0), 500);
        let tight = CgroupLimits {
            memory_bytes_limit: Some(64 << 20),
            cpu_millicores_limit: Some(250),
            ..CgroupLimits::default()
        };
        let process = |limits| Process {
            sandbox_id: 1,
            behaviour: b.clone(),
            limits,
            state: ProcessState::Starting,
            terminating: false,
            memory: Some(MemoryCurve {
                start_bytes: b.memory_bytes,
                since: SimTime::ZERO,
                growth: None,
            }),
            cpu_millicores_charged: 0,
        };
        assert_eq!(process(none).memory_bytes_at(SimTime::ZERO), 100 << 20);
        assert_eq!(process(tight).memory_bytes_at(SimTime::ZERO), 64 << 20);
        assert_eq!(cpu_millicores_charged(&b, tight, 0), 250);
        assert!(exceeds_memory_limit(&b, tight));
        assert!(!exceeds_memory_limit(&b, none));
        // Exactly at the limit is not over it.
        let exact = CgroupLimits {
            memory_bytes_limit: Some(100 << 20),
            ..CgroupLimits::default()
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
            cpu_millicores_limit: Some(300),
            ..CgroupLimits::default()
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

    const MI: u64 = 1 << 20;
    const GI: u64 = 1 << 30;

    #[test]
    fn the_oom_killer_picks_the_highest_badness_then_the_newest() {
        // Without adjustments: the largest, the newest on ties.
        assert_eq!(
            oom_victim([(1, 10, 0), (2, 30, 0), (3, 20, 0)].into_iter(), GI),
            Some(2)
        );
        assert_eq!(
            oom_victim([(1, 30, 0), (2, 30, 0)].into_iter(), GI),
            Some(2)
        );
        assert_eq!(oom_victim(std::iter::empty(), GI), None);
        // On a 4 GiB node a Guaranteed process (−997) using 3 GiB scores far below a
        // BestEffort one (1000) using 100 MiB: 3 GiB − 0.997 × 4 GiB < 0 < 100 MiB + 4 GiB.
        let node = 4 * GI;
        assert_eq!(
            oom_victim([(1, 3 * GI, -997), (2, 100 * MI, 1000)].into_iter(), node),
            Some(2)
        );
        // A Burstable process requesting half the node (adj 500) using 2.5 GiB beats one
        // requesting 10 % (adj 900) using 100 MiB: 2.5 GiB + 2 GiB > 0.1 GiB + 3.6 GiB.
        assert_eq!(
            oom_victim([(1, 2560 * MI, 500), (2, 100 * MI, 900)].into_iter(), node),
            Some(1)
        );
        // OOM_SCORE_ADJ_MIN is never chosen, whatever it holds.
        assert_eq!(
            oom_victim([(1, 3 * GI, -1000), (2, MI, -997)].into_iter(), node),
            Some(2)
        );
        assert_eq!(oom_victim([(1, 3 * GI, -1000)].into_iter(), node), None);
    }

    fn growing(start_bytes: u64, bytes: u64, per: SimDuration, max: Option<u64>) -> MemoryCurve {
        MemoryCurve {
            start_bytes,
            since: SimTime::ZERO + SimDuration::from_secs(10),
            growth: Some(MemoryGrowth {
                bytes,
                per,
                max_bytes: max,
            }),
        }
    }

    #[test]
    fn a_leak_crosses_its_limit_at_the_solved_instant() {
        let t = |nanos: u64| {
            SimTime::ZERO + SimDuration::from_secs(10) + SimDuration::from_nanos(nanos)
        };
        // 64 MiB growing 10 MiB/s passes 256 MiB after 19.2 s (and one byte more).
        let curve = growing(64 * MI, 10 * MI, SimDuration::from_secs(1), None);
        let at = curve.first_above(256 * MI).expect("it gets there");
        assert_eq!(curve.bytes_at(at), 256 * MI + 1);
        assert_eq!(
            curve.bytes_at(SimTime::from_nanos(at.as_nanos() - 1)),
            256 * MI
        );
        assert_eq!(at, t(19_200_000_000 + 96));
        // A cap at or below the line: never; above it: the same instant.
        let capped = growing(64 * MI, 10 * MI, SimDuration::from_secs(1), Some(256 * MI));
        assert_eq!(capped.first_above(256 * MI), None);
        assert_eq!(capped.bytes_at(t(100_000_000_000)), 256 * MI);
        assert!(!capped.grows_after(t(100_000_000_000)));
        assert!(capped.grows_after(t(0)));
        let higher = growing(64 * MI, 10 * MI, SimDuration::from_secs(1), Some(GI));
        assert_eq!(higher.first_above(256 * MI), Some(at));
        // Per minute: 60 MiB/min is 1 MiB/s.
        let slow = growing(0, 60 * MI, SimDuration::from_mins(1), None);
        assert_eq!(slow.bytes_at(t(1_000_000_000)), MI);
        // Already above: at once.
        assert_eq!(
            growing(300 * MI, 1, SimDuration::from_secs(1), None).first_above(256 * MI),
            Some(t(0))
        );
    }

    #[test]
    fn the_node_crossing_is_found_to_the_nanosecond() {
        let a = growing(0, 10 * MI, SimDuration::from_secs(1), Some(100 * MI));
        let b = growing(0, 5 * MI, SimDuration::from_secs(1), None);
        let total = |at: SimTime| a.bytes_at(at) + b.bytes_at(at);
        let start = SimTime::ZERO + SimDuration::from_secs(10);
        // a is capped after 10 s at 100 MiB; b passes the remaining 100 MiB at 20 s.
        let at = first_instant_above(start, 200 * MI, total).expect("crosses");
        assert!(total(at) > 200 * MI);
        assert!(total(SimTime::from_nanos(at.as_nanos() - 1)) <= 200 * MI);
        assert_eq!(at.saturating_since(start).as_secs(), 20);
        let flat = |_: SimTime| 10;
        assert_eq!(first_instant_above(start, 10, flat), None);
    }

    #[test]
    fn throttling_counters_integrate_per_period() {
        // 1000m demanded under a 250m quota: throttled in every period, waiting 3/4 of it.
        assert_eq!(throttled_wait_ppm(1000, Some(250)), Some(750_000));
        assert_eq!(throttled_wait_ppm(250, Some(250)), None);
        assert_eq!(throttled_wait_ppm(1000, None), None);
        let mut account = ThrottleAccount {
            throttled_count: 1,
            waiting_ppm: 750_000,
            ..ThrottleAccount::default()
        };
        let t = |millis| SimTime::ZERO + SimDuration::from_millis(millis);
        assert_eq!(
            account.counters(t(10_050)),
            CpuThrottling {
                nr_throttled: 100,
                throttled_nanos: 7_537_500_000
            }
        );
        account.settle(t(10_000));
        account.throttled_count = 0;
        account.waiting_ppm = 0;
        assert_eq!(account.counters(t(60_000)).nr_throttled, 100);
    }

    #[test]
    fn cfs_quota_stretches_the_startup() {
        let b = ProcessBehaviour {
            startup: SimDuration::from_secs(2),
            cpu_millicores: 1000,
            ..ProcessBehaviour::default()
        };
        let limited = |m| CgroupLimits {
            cpu_millicores_limit: Some(m),
            ..CgroupLimits::default()
        };
        assert_eq!(
            throttled_startup(&b, CgroupLimits::default()),
            SimDuration::from_secs(2)
        );
        assert_eq!(
            throttled_startup(&b, limited(2000)),
            SimDuration::from_secs(2)
        );
        assert_eq!(
            throttled_startup(&b, limited(250)),
            SimDuration::from_secs(8)
        );
        assert_eq!(
            throttled_startup(&b, limited(300)).as_nanos(),
            6_666_666_667
        );
    }

    #[test]
    fn records_show_odd_byte_counts_in_tenths_of_a_mebibyte() {
        assert_eq!(approx_bytes(GI), "1Gi");
        assert_eq!(approx_bytes(GI + 1), "1024.1Mi");
        assert_eq!(approx_bytes(400 * MI + 1), "400.1Mi");
        assert_eq!(approx_bytes(1000), "1000");
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
