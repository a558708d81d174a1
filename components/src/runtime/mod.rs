//! The container runtime (containerd or CRI-O): serves CRI calls from the kubelet, pulls
//! images from the registry into the node's image cache, and asks the kernel for the
//! sandbox and container processes.
//!
//! - Handler: each sandbox runs with one of the node's configured OCI runtimes (runc,
//!   crun, Kata, gVisor; [`oci`]), the one its pod's RuntimeClass names or the node's
//!   default. An unknown handler fails `RunPodSandbox` as containerd and CRI-O word it.
//! - Sandbox: a network namespace and pod cgroup from the kernel, an IP from the node's
//!   pod CIDR ([`ipam`]), then the handler's infra process (the pause container, Kata's
//!   VM, gVisor's Sentry) spawned in it: the sandbox is ready when that process is
//!   through its start (the handler's sandbox start latency), and the process holds the
//!   handler's sandbox memory, so the kernel charges the node for it. `StopPodSandbox`
//!   kills what still runs in it and frees the IP.
//! - Image: pulled from the registry, one pull at a time by default (`serializeImagePulls`);
//!   concurrent requests for the same image share one pull. The store is on disk: it
//!   survives a crash of the node, as do the sizes and behaviours the registry reported.
//! - Container: a kernel process with its image's behaviour. `StopContainer` sends
//!   SIGTERM and, if the process is still there when the timeout runs out, SIGKILL.
//!   Readiness and exits are pushed to the kubelet as container events.
//!
//! A crash of the node loses every process, sandbox and container record, but not the
//! pulled images.

pub mod cri;
pub mod daemon;
pub mod ipam;
pub mod oci;

use std::collections::{BTreeMap, VecDeque};

use sim_core::{Actor, ActorId, Context, Event, SimDuration, TraceHasher};

use crate::api::quantity::format_bytes;
use crate::api::{Str, s};
use crate::kernel::{CgroupLimits, ExitCause, KernelCall, KernelEvent, ProcessBehaviour, Signal};
use crate::msg::{Fingerprint, Msg, Tick as AnyTick};
use crate::registry::RegistryMsg;
use crate::timers::Deadlines;

pub use cri::{
    CallId, ContainerConfig, ContainerEvent, ContainerEventKind, ContainerExit, ContainerInfo,
    ContainerState, CriCall, CriError, CriErrorCode, CriReply, CriRequest, CriResponse, Hook,
    ImageInfo, PodSandboxConfig, SandboxInfo,
};
use ipam::{Ipam, Ipv4Cidr, format_ipv4};
pub use oci::{CriRuntime, OciProfile, OciRuntime, RuntimeHandler, select_handler};

#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    pub cri: CriRuntime,
    /// `containerd` or `cri-o`.
    pub name: String,
    /// Reported by the CRI `Version` call (see `CriRuntime::version`).
    pub version: String,
    /// CRI-side cost of creating a pod sandbox (see `CriRuntime::sandbox_create_latency`).
    pub sandbox_create_latency: SimDuration,
    /// CRI-side cost of creating a container (see `CriRuntime::container_create_latency`).
    pub container_create_latency: SimDuration,
    /// The OCI runtimes configured on the node, by handler name.
    pub handlers: Vec<RuntimeHandler>,
    /// The handler of pods that name none (containerd: runc, CRI-O: crun).
    pub default_handler: Str,
    /// kubelet `serializeImagePulls`, upstream default true.
    pub serialize_image_pulls: bool,
    /// containerd's `image_pull_progress_timeout`, default 5 min: a pull that has not
    /// finished by then fails (kubesim has no progress reports, so it bounds the whole
    /// pull).
    pub image_pull_progress_timeout: SimDuration,
}

impl RuntimeConfig {
    /// `cri`'s defaults, with only its default handler configured.
    pub fn for_cri(cri: CriRuntime) -> RuntimeConfig {
        let default = RuntimeHandler::new(cri.default_handler());
        RuntimeConfig {
            cri,
            name: cri.name().to_string(),
            version: cri.version().to_string(),
            sandbox_create_latency: cri.sandbox_create_latency(),
            container_create_latency: cri.container_create_latency(),
            default_handler: default.name.clone(),
            handlers: vec![default],
            serialize_image_pulls: true,
            image_pull_progress_timeout: SimDuration::from_mins(5),
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig::for_cri(CriRuntime::Containerd)
    }
}

#[derive(Clone, Debug)]
pub enum Tick {
    /// The deadline timer (see `timers::Deadlines`).
    Deadline { generation: u64 },
    // --- The daemon's crash and recovery ([`daemon`]), sent by the scenario's timeline.
    /// The daemon dies; its containers run on.
    CrashDaemon,
    /// The daemon starts again.
    RecoverDaemon,
    /// The scenario's timeline: the infra process of the pod's ready sandbox is killed
    /// (`kill -9` of its pause process).
    KillSandboxInfra { namespace: Str, name: Str },
}

/// An image in the store, with what the registry said about it.
#[derive(Clone, Debug)]
struct StoredImage {
    size_bytes: u64,
    behaviour: ProcessBehaviour,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum SandboxStage {
    /// Waiting for the kernel's namespace and cgroup, then for the infra process to be
    /// through its start; answers `call` then.
    Creating {
        call: CallId,
    },
    Ready,
    /// Waiting for the kernel to tear it down; answers these calls then.
    Stopping {
        calls: Vec<CallId>,
    },
    NotReady,
}

#[derive(Clone, Debug)]
struct Sandbox {
    config: PodSandboxConfig,
    cidr: Ipv4Cidr,
    ip: Option<u32>,
    stage: SandboxStage,
    handler: RuntimeHandler,
    /// The kernel process of the pause container, VM or Sentry (its id is the sandbox
    /// id + 1).
    infra_process_id: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum ContainerStage {
    Created,
    /// The kernel is spawning the process; answers `call` when it runs.
    Starting {
        call: CallId,
    },
    Running {
        started_at: sim_core::SimTime,
        ready: bool,
    },
    Exited {
        started_at: Option<sim_core::SimTime>,
        exit: ContainerExit,
    },
}

#[derive(Clone, Debug)]
struct Container {
    sandbox_id: u64,
    config: ContainerConfig,
    behaviour: ProcessBehaviour,
    stage: ContainerStage,
    /// `StopContainer` calls waiting for the exit.
    stop_calls: Vec<CallId>,
}

/// One image transfer from the registry.
#[derive(Clone, Debug)]
struct Pull {
    image: Str,
    /// `PullImage` calls waiting for it.
    calls: Vec<CallId>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Due {
    /// SIGKILL the container if it is still there (end of a `StopContainer` timeout).
    Kill {
        container_id: u64,
    },
    PullTimeout {
        pull_id: u64,
    },
}

/// `Completed`, `Error` or `OOMKilled`, as containerd and CRI-O report a container's end.
pub fn exit_reason(exit_code: i32, cause: ExitCause) -> &'static str {
    match cause {
        ExitCause::OomKilled => "OOMKilled",
        ExitCause::Exited | ExitCause::Killed if exit_code == 0 => "Completed",
        ExitCause::Exited | ExitCause::Killed => "Error",
    }
}

fn error(code: CriErrorCode, message: String) -> CriError {
    CriError { code, message }
}

pub struct ContainerRuntime {
    config: RuntimeConfig,
    node_name: Str,
    kernel: ActorId,
    registry: ActorId,
    /// The kubelet, learned from the first CRI call.
    kubelet: Option<ActorId>,
    // On disk: survives a crash.
    images: BTreeMap<Str, StoredImage>,
    /// Sandbox, container and pull ids are never reused (containerd's are random).
    next_id: u64,
    // In memory.
    sandboxes: BTreeMap<u64, Sandbox>,
    containers: BTreeMap<u64, Container>,
    /// Transfers in progress, by pull id.
    pulls_active: BTreeMap<u64, Pull>,
    /// Pulls waiting for their turn (serialized pulls).
    pulls_queued: VecDeque<Pull>,
    ipam: Ipam,
    deadlines: Deadlines<Due>,
    /// Whether the daemon runs ([`daemon`]): while it is down it answers nothing.
    daemon: daemon::Daemon,
}

impl ContainerRuntime {
    pub fn new(
        config: RuntimeConfig,
        node_name: Str,
        kernel: ActorId,
        registry: ActorId,
    ) -> ContainerRuntime {
        ContainerRuntime {
            config,
            node_name,
            kernel,
            registry,
            kubelet: None,
            images: BTreeMap::new(),
            next_id: 1,
            sandboxes: BTreeMap::new(),
            containers: BTreeMap::new(),
            pulls_active: BTreeMap::new(),
            pulls_queued: VecDeque::new(),
            ipam: Ipam::default(),
            deadlines: Deadlines::new(),
            daemon: daemon::Daemon::Running,
        }
    }

    /// Images in the node's store, with their sizes.
    pub fn images(&self) -> impl Iterator<Item = (&Str, u64)> {
        self.images
            .iter()
            .map(|(name, image)| (name, image.size_bytes))
    }

    pub fn has_image(&self, image: &str) -> bool {
        self.images.contains_key(image)
    }

    /// Containers whose process runs.
    pub fn running_container_count(&self) -> usize {
        self.containers
            .values()
            .filter(|c| matches!(c.stage, ContainerStage::Running { .. }))
            .count()
    }

    /// Sandboxes whose network is up.
    pub fn ready_sandbox_count(&self) -> usize {
        self.sandboxes
            .values()
            .filter(|s| s.stage == SandboxStage::Ready)
            .count()
    }

    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn kubelet(&self) -> ActorId {
        self.kubelet
            .expect("the runtime answers only after a CRI call")
    }

    fn answer(&self, id: CallId, result: Result<CriResponse, CriError>, cx: &mut Context<'_, Msg>) {
        self.answer_after(SimDuration::ZERO, id, result, cx);
    }

    fn answer_after(
        &self,
        delay: SimDuration,
        id: CallId,
        result: Result<CriResponse, CriError>,
        cx: &mut Context<'_, Msg>,
    ) {
        if self.daemon == daemon::Daemon::Down {
            // A dead daemon says nothing (calls in flight failed when it died).
            return;
        }
        cx.send_after(
            delay,
            self.kubelet(),
            Msg::CriReply(Box::new(CriReply::Response { id, result })),
        );
    }

    fn push_event(&self, event: ContainerEvent, cx: &mut Context<'_, Msg>) {
        if self.daemon == daemon::Daemon::Down {
            // The shim keeps the exit; the kubelet's relist finds it after the recovery.
            return;
        }
        cx.send(
            self.kubelet(),
            Msg::CriReply(Box::new(CriReply::Event(event))),
        );
    }

    fn kernel_call(&self, call: KernelCall, cx: &mut Context<'_, Msg>) {
        cx.send(self.kernel, Msg::Kernel(Box::new(call)));
    }

    fn at(&mut self, after: SimDuration, due: Due, cx: &mut Context<'_, Msg>) {
        if let Some(rearm) = self.deadlines.schedule(cx.now(), cx.now() + after, due) {
            cx.timer(
                rearm.after,
                Msg::Tick(AnyTick::Runtime(Tick::Deadline {
                    generation: rearm.generation,
                })),
            );
        }
    }

    fn on_call(&mut self, from: ActorId, call: CriCall, cx: &mut Context<'_, Msg>) {
        assert!(
            self.kubelet.is_none_or(|kubelet| kubelet == from),
            "{}/{} serves one kubelet",
            self.config.name,
            self.node_name
        );
        self.kubelet = Some(from);
        let id = call.id;
        if self.daemon == daemon::Daemon::Down {
            let refused = CriReply::Response {
                id,
                result: Err(self.refused()),
            };
            cx.send(from, Msg::CriReply(Box::new(refused)));
            return;
        }
        match call.request {
            CriRequest::Version => self.answer(
                id,
                Ok(CriResponse::Version {
                    runtime_name: s(&self.config.name),
                    runtime_version: s(&self.config.version),
                }),
                cx,
            ),
            CriRequest::RunPodSandbox(config) => self.run_pod_sandbox(id, config, cx),
            CriRequest::StopPodSandbox { sandbox_id } => self.stop_pod_sandbox(id, sandbox_id, cx),
            CriRequest::RemovePodSandbox { sandbox_id } => {
                self.remove_pod_sandbox(id, sandbox_id, cx)
            }
            CriRequest::ListPodSandbox => {
                let list = self
                    .sandboxes
                    .iter()
                    .map(|(&sandbox_id, sandbox)| SandboxInfo {
                        sandbox_id,
                        pod_uid: sandbox.config.pod_uid,
                        namespace: sandbox.config.namespace.clone(),
                        name: sandbox.config.name.clone(),
                        attempt: sandbox.config.attempt,
                        ready: sandbox.stage == SandboxStage::Ready,
                        ip: sandbox.ip.map(|ip| s(&format_ipv4(ip))),
                    })
                    .collect();
                self.answer(id, Ok(CriResponse::Sandboxes(list)), cx);
            }
            CriRequest::PullImage { image } => self.pull_image(id, image, cx),
            CriRequest::ImageStatus { image } => {
                let info = self.images.get(&image).map(|stored| ImageInfo {
                    image: image.clone(),
                    size_bytes: stored.size_bytes,
                });
                self.answer(id, Ok(CriResponse::ImageStatus(info)), cx);
            }
            CriRequest::ListImages => {
                let list = self
                    .images
                    .iter()
                    .map(|(image, stored)| ImageInfo {
                        image: image.clone(),
                        size_bytes: stored.size_bytes,
                    })
                    .collect();
                self.answer(id, Ok(CriResponse::Images(list)), cx);
            }
            CriRequest::RemoveImage { image } => {
                // Removing an image that is not there succeeds (CRI: idempotent).
                if let Some(stored) = self.images.remove(&image) {
                    self.kernel_call(
                        KernelCall::DeleteImage {
                            image: image.clone(),
                        },
                        cx,
                    );
                    let size_bytes = stored.size_bytes;
                    cx.record("step", || {
                        format!(
                            "removed image {image} ({}) from the store",
                            format_bytes(size_bytes)
                        )
                    });
                }
                self.answer(id, Ok(CriResponse::Done), cx);
            }
            CriRequest::CreateContainer { sandbox_id, config } => {
                self.create_container(id, sandbox_id, config, cx)
            }
            CriRequest::StartContainer { container_id } => {
                self.start_container(id, container_id, cx)
            }
            CriRequest::StopContainer {
                container_id,
                timeout,
            } => self.stop_container(id, container_id, timeout, cx),
            CriRequest::ExecSync { container_id, hook } => {
                self.exec_sync(id, container_id, hook, cx)
            }
            CriRequest::RemoveContainer { container_id } => {
                if let Some(container) = self.containers.remove(&container_id)
                    && !matches!(
                        container.stage,
                        ContainerStage::Exited { .. } | ContainerStage::Created
                    )
                {
                    // Forced removal of a live container.
                    self.kernel_call(
                        KernelCall::Signal {
                            process_id: container_id,
                            signal: Signal::Kill,
                        },
                        cx,
                    );
                }
                self.answer(id, Ok(CriResponse::Done), cx);
            }
            CriRequest::ListContainers => {
                let list = self
                    .containers
                    .iter()
                    .map(|(&container_id, c)| ContainerInfo {
                        container_id,
                        sandbox_id: c.sandbox_id,
                        pod_uid: self
                            .sandboxes
                            .get(&c.sandbox_id)
                            .map_or(0, |s| s.config.pod_uid),
                        name: c.config.name.clone(),
                        image: c.config.image.clone(),
                        attempt: c.config.attempt,
                        state: match &c.stage {
                            ContainerStage::Created | ContainerStage::Starting { .. } => {
                                ContainerState::Created
                            }
                            ContainerStage::Running { started_at, ready } => {
                                ContainerState::Running {
                                    started_at: *started_at,
                                    ready: *ready,
                                }
                            }
                            ContainerStage::Exited { started_at, exit } => ContainerState::Exited {
                                started_at: *started_at,
                                exit: exit.clone(),
                            },
                        },
                    })
                    .collect();
                self.answer(id, Ok(CriResponse::Containers(list)), cx);
            }
        }
    }

    fn run_pod_sandbox(&mut self, id: CallId, config: PodSandboxConfig, cx: &mut Context<'_, Msg>) {
        let handler = match select_handler(
            self.config.cri,
            &self.config.handlers,
            &self.config.default_handler,
            &config.runtime_handler,
        ) {
            Ok(handler) => handler.clone(),
            Err(message) => {
                let (namespace, name) = (config.namespace.clone(), config.name.clone());
                cx.record("detail", || {
                    format!("RunPodSandbox {namespace}/{name} refused: {message}")
                });
                self.answer(id, Err(error(CriErrorCode::Unknown, message)), cx);
                return;
            }
        };
        let Some(cidr) = Ipv4Cidr::parse(&config.pod_cidr) else {
            let message = format!("invalid pod CIDR {:?}", config.pod_cidr);
            self.answer(
                id,
                Err(error(CriErrorCode::FailedPrecondition, message)),
                cx,
            );
            return;
        };
        let Some(ip) = self.ipam.allocate(cidr) else {
            let message = format!(
                "failed to allocate for range {}: no IP addresses available",
                config.pod_cidr
            );
            self.answer(id, Err(error(CriErrorCode::ResourceExhausted, message)), cx);
            return;
        };
        let sandbox_id = self.next_id();
        let infra_process_id = self.next_id();
        assert_eq!(
            infra_process_id,
            sandbox_id + 1,
            "infra_sandbox finds a sandbox from its infra's id"
        );
        let (namespace, name) = (config.namespace.clone(), config.name.clone());
        let handler_name = handler.name.clone();
        cx.record("step", || {
            format!(
                "RunPodSandbox {namespace}/{name}: sandbox {sandbox_id} with handler {handler_name}, IP {}",
                format_ipv4(ip)
            )
        });
        self.sandboxes.insert(
            sandbox_id,
            Sandbox {
                config,
                cidr,
                ip: Some(ip),
                stage: SandboxStage::Creating { call: id },
                handler,
                infra_process_id,
            },
        );
        let pod_uid = self.sandboxes[&sandbox_id].config.pod_uid;
        self.kernel_call(
            KernelCall::CreateSandbox {
                sandbox_id,
                pod_uid,
                ip: Str::from(format_ipv4(ip)),
            },
            cx,
        );
    }

    fn stop_pod_sandbox(&mut self, id: CallId, sandbox_id: u64, cx: &mut Context<'_, Msg>) {
        let Some(sandbox) = self.sandboxes.get_mut(&sandbox_id) else {
            // Stopping a sandbox that is gone succeeds (CRI: idempotent).
            self.answer(id, Ok(CriResponse::Done), cx);
            return;
        };
        match &mut sandbox.stage {
            SandboxStage::NotReady => self.answer(id, Ok(CriResponse::Done), cx),
            SandboxStage::Stopping { calls } => calls.push(id),
            SandboxStage::Creating { call } => {
                let creating = *call;
                sandbox.stage = SandboxStage::Stopping { calls: vec![id] };
                let message = format!("sandbox {sandbox_id} was stopped while being created");
                self.answer(creating, Err(error(CriErrorCode::Unknown, message)), cx);
                self.kernel_call(KernelCall::RemoveSandbox { sandbox_id }, cx);
            }
            SandboxStage::Ready => {
                sandbox.stage = SandboxStage::Stopping { calls: vec![id] };
                self.kernel_call(KernelCall::RemoveSandbox { sandbox_id }, cx);
            }
        }
    }

    fn remove_pod_sandbox(&mut self, id: CallId, sandbox_id: u64, cx: &mut Context<'_, Msg>) {
        if let Some(sandbox) = self.sandboxes.remove(&sandbox_id) {
            // A stopped sandbox holds nothing more; one whose infra died still has its
            // namespaces, cgroup and IP, and any other is removed by force: whatever
            // still runs is torn down.
            let stage = &sandbox.stage;
            let torn_down = *stage == SandboxStage::NotReady && sandbox.ip.is_none();
            if !torn_down {
                self.kernel_call(KernelCall::RemoveSandbox { sandbox_id }, cx);
                if let Some(ip) = sandbox.ip {
                    self.ipam.release(sandbox.cidr, ip);
                }
                if let SandboxStage::Creating { call } = stage {
                    let message = format!("sandbox {sandbox_id} was removed while being created");
                    self.answer(*call, Err(error(CriErrorCode::Unknown, message)), cx);
                }
                if let SandboxStage::Stopping { calls } = stage {
                    for &call in calls {
                        self.answer(call, Ok(CriResponse::Done), cx);
                    }
                }
            }
            self.containers.retain(|_, c| c.sandbox_id != sandbox_id);
        }
        self.answer(id, Ok(CriResponse::Done), cx);
    }

    fn pull_image(&mut self, id: CallId, image: Str, cx: &mut Context<'_, Msg>) {
        if let Some(pull) = self
            .pulls_active
            .values_mut()
            .chain(self.pulls_queued.iter_mut())
            .find(|pull| pull.image == image)
        {
            pull.calls.push(id);
            return;
        }
        let pull = Pull {
            image,
            calls: vec![id],
        };
        if self.config.serialize_image_pulls && !self.pulls_active.is_empty() {
            self.pulls_queued.push_back(pull);
        } else {
            self.begin_pull(pull, cx);
        }
    }

    fn begin_pull(&mut self, pull: Pull, cx: &mut Context<'_, Msg>) {
        let pull_id = self.next_id();
        let layers_cached = self.images.contains_key(&pull.image);
        let image = pull.image.clone();
        cx.record("step", || {
            format!("pulling {image} from the registry (pull {pull_id})")
        });
        cx.send(
            self.registry,
            Msg::Registry(Box::new(RegistryMsg::Pull {
                pull_id,
                image: pull.image.clone(),
                layers_cached,
            })),
        );
        self.pulls_active.insert(pull_id, pull);
        self.at(
            self.config.image_pull_progress_timeout,
            Due::PullTimeout { pull_id },
            cx,
        );
    }

    fn finish_pull(
        &mut self,
        pull_id: u64,
        result: Result<ImageInfo, CriError>,
        cx: &mut Context<'_, Msg>,
    ) {
        let Some(pull) = self.pulls_active.remove(&pull_id) else {
            return;
        };
        for call in pull.calls {
            let result = result.clone().map(CriResponse::ImagePulled);
            self.answer(call, result, cx);
        }
        if self.pulls_active.is_empty()
            && let Some(next) = self.pulls_queued.pop_front()
        {
            self.begin_pull(next, cx);
        }
    }

    fn create_container(
        &mut self,
        id: CallId,
        sandbox_id: u64,
        config: ContainerConfig,
        cx: &mut Context<'_, Msg>,
    ) {
        if !self
            .sandboxes
            .get(&sandbox_id)
            .is_some_and(|sandbox| sandbox.stage == SandboxStage::Ready)
        {
            let message = format!("sandbox {sandbox_id} is not ready");
            self.answer(
                id,
                Err(error(CriErrorCode::FailedPrecondition, message)),
                cx,
            );
            return;
        }
        let Some(stored) = self.images.get(&config.image) else {
            let message = format!(
                "image {:?} not present on node {}",
                config.image, self.node_name
            );
            self.answer(id, Err(error(CriErrorCode::NotFound, message)), cx);
            return;
        };
        let behaviour = stored.behaviour.clone();
        let container_id = self.next_id();
        self.containers.insert(
            container_id,
            Container {
                sandbox_id,
                config,
                behaviour,
                stage: ContainerStage::Created,
                stop_calls: Vec::new(),
            },
        );
        self.answer_after(
            self.config.container_create_latency,
            id,
            Ok(CriResponse::ContainerCreated { container_id }),
            cx,
        );
    }

    fn start_container(&mut self, id: CallId, container_id: u64, cx: &mut Context<'_, Msg>) {
        let Some(container) = self.containers.get_mut(&container_id) else {
            let message = format!("container {container_id} not found");
            self.answer(id, Err(error(CriErrorCode::NotFound, message)), cx);
            return;
        };
        if container.stage != ContainerStage::Created {
            let message = format!("container {container_id} is not in created state");
            self.answer(
                id,
                Err(error(CriErrorCode::FailedPrecondition, message)),
                cx,
            );
            return;
        }
        container.stage = ContainerStage::Starting { call: id };
        let spawn = KernelCall::Spawn {
            process_id: container_id,
            sandbox_id: container.sandbox_id,
            behaviour: Box::new(container.behaviour.clone()),
            limits: container.config.limits,
        };
        // The OCI runtime's create + start come before the process runs.
        let oci_start = self
            .sandboxes
            .get(&container.sandbox_id)
            .map_or(SimDuration::ZERO, |sandbox| {
                sandbox.handler.oci.profile().container_start
            });
        cx.send_after(oci_start, self.kernel, Msg::Kernel(Box::new(spawn)));
    }

    /// A lifecycle hook's handler, run in the container: answered once it has taken what
    /// the image's behaviour says, or at once when the container does not run.
    fn exec_sync(&mut self, id: CallId, container_id: u64, hook: Hook, cx: &mut Context<'_, Msg>) {
        let Some(container) = self
            .containers
            .get(&container_id)
            .filter(|c| matches!(c.stage, ContainerStage::Running { .. }))
        else {
            let message = format!("container {container_id} is not running");
            self.answer(id, Err(error(CriErrorCode::NotFound, message)), cx);
            return;
        };
        let (takes, exit_code) = match hook {
            Hook::PostStart => (
                container.behaviour.post_start_hook,
                container.behaviour.post_start_hook_exit_code,
            ),
            Hook::PreStop => (container.behaviour.pre_stop_hook, 0),
        };
        self.answer_after(takes, id, Ok(CriResponse::Exec { exit_code }), cx);
    }

    fn stop_container(
        &mut self,
        id: CallId,
        container_id: u64,
        timeout: SimDuration,
        cx: &mut Context<'_, Msg>,
    ) {
        let Some(container) = self.containers.get_mut(&container_id) else {
            let message = format!("container {container_id} not found");
            self.answer(id, Err(error(CriErrorCode::NotFound, message)), cx);
            return;
        };
        match &container.stage {
            ContainerStage::Exited { exit, .. } => {
                let exit = exit.clone();
                self.answer(id, Ok(CriResponse::ContainerStopped(exit)), cx);
            }
            ContainerStage::Created => {
                // Never started: nothing to signal.
                let exit = ContainerExit {
                    exit_code: 0,
                    reason: s("Completed"),
                    finished_at: cx.host_clock(),
                };
                container.stage = ContainerStage::Exited {
                    started_at: None,
                    exit: exit.clone(),
                };
                self.answer(id, Ok(CriResponse::ContainerStopped(exit)), cx);
            }
            ContainerStage::Starting { .. } | ContainerStage::Running { .. } => {
                let first = container.stop_calls.is_empty();
                container.stop_calls.push(id);
                if !first {
                    return;
                }
                let signal = if timeout == SimDuration::ZERO {
                    Signal::Kill
                } else {
                    Signal::Term
                };
                self.kernel_call(
                    KernelCall::Signal {
                        process_id: container_id,
                        signal,
                    },
                    cx,
                );
                if signal == Signal::Term {
                    self.at(timeout, Due::Kill { container_id }, cx);
                }
            }
        }
    }

    fn on_kernel(&mut self, event: KernelEvent, cx: &mut Context<'_, Msg>) {
        match event {
            KernelEvent::SandboxCreated { sandbox_id } => {
                let Some(sandbox) = self.sandboxes.get(&sandbox_id) else {
                    return;
                };
                if !matches!(sandbox.stage, SandboxStage::Creating { .. }) {
                    return;
                }
                // The namespaces exist: the handler starts the sandbox's infra in them.
                let spawn = KernelCall::Spawn {
                    process_id: sandbox.infra_process_id,
                    sandbox_id,
                    behaviour: Box::new(infra_behaviour(sandbox.handler.oci.profile())),
                    limits: CgroupLimits {
                        oom_score_adj: POD_INFRA_OOM_SCORE_ADJ,
                        ..CgroupLimits::default()
                    },
                };
                self.kernel_call(spawn, cx);
            }
            KernelEvent::SandboxRemoved { sandbox_id } => {
                let Some(sandbox) = self.sandboxes.get_mut(&sandbox_id) else {
                    return;
                };
                let stage = std::mem::replace(&mut sandbox.stage, SandboxStage::NotReady);
                if let Some(ip) = sandbox.ip.take() {
                    self.ipam.release(sandbox.cidr, ip);
                }
                for call in calls_of(&stage) {
                    self.answer(call, Ok(CriResponse::Done), cx);
                }
            }
            KernelEvent::Started { process_id } => {
                let Some(container) = self.containers.get_mut(&process_id) else {
                    // An infra process: its sandbox is ready once it is through its start.
                    return;
                };
                let ContainerStage::Starting { call } = container.stage else {
                    return;
                };
                let started_at = cx.host_clock();
                container.stage = ContainerStage::Running {
                    started_at,
                    ready: false,
                };
                self.answer(call, Ok(CriResponse::ContainerStarted { started_at }), cx);
            }
            KernelEvent::Ready { process_id } => {
                if let Some(sandbox_id) = self.infra_sandbox(process_id) {
                    self.on_infra_ready(sandbox_id, cx);
                    return;
                }
                let Some(container) = self.containers.get_mut(&process_id) else {
                    return;
                };
                if let ContainerStage::Running { ready, .. } = &mut container.stage {
                    *ready = true;
                    let event = ContainerEvent {
                        container_id: process_id,
                        sandbox_id: container.sandbox_id,
                        kind: ContainerEventKind::Ready,
                    };
                    self.push_event(event, cx);
                }
            }
            KernelEvent::Unresponsive { process_id } => {
                let Some(container) = self.containers.get_mut(&process_id) else {
                    return;
                };
                if let ContainerStage::Running { ready, .. } = &mut container.stage {
                    *ready = false;
                    let event = ContainerEvent {
                        container_id: process_id,
                        sandbox_id: container.sandbox_id,
                        kind: ContainerEventKind::Unresponsive,
                    };
                    self.push_event(event, cx);
                }
            }
            KernelEvent::Exited {
                process_id,
                exit_code,
                cause,
            } => match self.infra_sandbox(process_id) {
                Some(sandbox_id) => self.on_infra_exit(sandbox_id, exit_code, cause, cx),
                None => self.on_exit(process_id, exit_code, cause, cx),
            },
        }
    }

    /// The sandbox whose infra process this is, if it is one.
    fn infra_sandbox(&self, process_id: u64) -> Option<u64> {
        let sandbox_id = process_id.checked_sub(1)?;
        self.sandboxes
            .get(&sandbox_id)
            .is_some_and(|sandbox| sandbox.infra_process_id == process_id)
            .then_some(sandbox_id)
    }

    /// The infra is through its start: the sandbox is ready, answered after the CRI
    /// runtime's own part of `RunPodSandbox`.
    fn on_infra_ready(&mut self, sandbox_id: u64, cx: &mut Context<'_, Msg>) {
        let sandbox = self.sandboxes.get_mut(&sandbox_id).expect("caller checked");
        let SandboxStage::Creating { call } = sandbox.stage else {
            return;
        };
        sandbox.stage = SandboxStage::Ready;
        let ip = s(&format_ipv4(
            sandbox.ip.expect("a creating sandbox has an IP"),
        ));
        self.answer_after(
            self.config.sandbox_create_latency,
            call,
            Ok(CriResponse::SandboxReady { sandbox_id, ip }),
            cx,
        );
    }

    /// Kills the infra process of `namespace/name`'s ready sandbox (SIGKILL through the
    /// kernel): its exit makes the sandbox not ready ([`ContainerRuntime::on_infra_exit`]).
    fn kill_sandbox_infra(&mut self, namespace: &str, name: &str, cx: &mut Context<'_, Msg>) {
        let found = self.sandboxes.iter().find(|(_, s)| {
            s.stage == SandboxStage::Ready
                && &*s.config.namespace == namespace
                && &*s.config.name == name
        });
        let Some((&sandbox_id, sandbox)) = found else {
            cx.record("step", || {
                format!(
                    "kill the sandbox infra of {namespace}/{name}: no ready sandbox on this node"
                )
            });
            return;
        };
        let process_id = sandbox.infra_process_id;
        let handler = sandbox.handler.name.clone();
        cx.record("step", || {
            format!("sandbox {sandbox_id} of {namespace}/{name}: its {handler} infra process is killed (SIGKILL)")
        });
        self.kernel_call(
            KernelCall::Signal {
                process_id,
                signal: Signal::Kill,
            },
            cx,
        );
    }

    /// The infra process died. While the sandbox is being created that fails the
    /// `RunPodSandbox`; a ready sandbox is not ready any more, and what runs in it dies
    /// with it (a VM or a Sentry takes its containers along). A sandbox being stopped
    /// expects it.
    fn on_infra_exit(
        &mut self,
        sandbox_id: u64,
        exit_code: i32,
        cause: ExitCause,
        cx: &mut Context<'_, Msg>,
    ) {
        let sandbox = self.sandboxes.get_mut(&sandbox_id).expect("caller checked");
        let (namespace, name) = (
            sandbox.config.namespace.clone(),
            sandbox.config.name.clone(),
        );
        let handler = sandbox.handler.name.clone();
        match sandbox.stage {
            SandboxStage::Creating { call } => {
                sandbox.stage = SandboxStage::NotReady;
                let message = format!(
                    "sandbox {sandbox_id}'s {handler} infra exited with code {exit_code} while starting"
                );
                self.answer(call, Err(error(CriErrorCode::Unknown, message)), cx);
            }
            SandboxStage::Ready => {
                sandbox.stage = SandboxStage::NotReady;
                let infra_process_id = sandbox.infra_process_id;
                cx.record("step", || {
                    format!(
                        "sandbox {sandbox_id} of {namespace}/{name}: its {handler} infra died ({cause:?}, exit code {exit_code}); the sandbox is not ready and its containers die with it"
                    )
                });
                self.push_event(
                    ContainerEvent {
                        container_id: infra_process_id,
                        sandbox_id,
                        kind: ContainerEventKind::SandboxNotReady,
                    },
                    cx,
                );
                let live: Vec<u64> = self
                    .containers
                    .iter()
                    .filter(|(_, c)| {
                        c.sandbox_id == sandbox_id
                            && matches!(
                                c.stage,
                                ContainerStage::Starting { .. } | ContainerStage::Running { .. }
                            )
                    })
                    .map(|(&id, _)| id)
                    .collect();
                for process_id in live {
                    self.kernel_call(
                        KernelCall::Signal {
                            process_id,
                            signal: Signal::Kill,
                        },
                        cx,
                    );
                }
            }
            SandboxStage::Stopping { .. } | SandboxStage::NotReady => {}
        }
    }

    fn on_exit(
        &mut self,
        container_id: u64,
        exit_code: i32,
        cause: ExitCause,
        cx: &mut Context<'_, Msg>,
    ) {
        let Some(container) = self.containers.get_mut(&container_id) else {
            return;
        };
        let exit = ContainerExit {
            exit_code,
            reason: s(exit_reason(exit_code, cause)),
            finished_at: cx.host_clock(),
        };
        let (started_at, start_call) = match container.stage {
            ContainerStage::Running { started_at, .. } => (Some(started_at), None),
            ContainerStage::Starting { call } => (None, Some(call)),
            ContainerStage::Created | ContainerStage::Exited { .. } => {
                panic!("container {container_id} exited without running")
            }
        };
        container.stage = ContainerStage::Exited {
            started_at,
            exit: exit.clone(),
        };
        let stop_calls = std::mem::take(&mut container.stop_calls);
        let sandbox_id = container.sandbox_id;
        if let Some(call) = start_call {
            let message = format!("container {container_id}'s process died while starting");
            self.answer(call, Err(error(CriErrorCode::Unknown, message)), cx);
        }
        for call in stop_calls {
            self.answer(call, Ok(CriResponse::ContainerStopped(exit.clone())), cx);
        }
        let event = ContainerEvent {
            container_id,
            sandbox_id,
            kind: ContainerEventKind::Exited(exit),
        };
        self.push_event(event, cx);
    }

    fn on_registry(&mut self, message: RegistryMsg, cx: &mut Context<'_, Msg>) {
        let (pull_id, image, size_bytes, behaviour) = match message {
            RegistryMsg::Pulled {
                pull_id,
                image,
                size_bytes,
                behaviour,
            } => (pull_id, image, size_bytes, behaviour),
            RegistryMsg::Failed {
                pull_id,
                image,
                cause,
            } => {
                if self.pulls_active.contains_key(&pull_id) {
                    cx.record("detail", || format!("pull of {image} failed: {cause}"));
                    let message = format!("failed to pull and unpack image {image:?}: {cause}");
                    self.finish_pull(pull_id, Err(error(CriErrorCode::Unknown, message)), cx);
                }
                return;
            }
            RegistryMsg::Pull { .. } | RegistryMsg::Outage { .. } => {
                panic!("the runtime got a registry request: {message:?}")
            }
        };
        if !self.pulls_active.contains_key(&pull_id) {
            // Timed out already.
            return;
        }
        cx.record("step", || {
            format!("pulled {image} ({})", format_bytes(size_bytes))
        });
        self.images.insert(
            image.clone(),
            StoredImage {
                size_bytes,
                behaviour,
            },
        );
        // The unpacked layers take space on the image filesystem.
        self.kernel_call(
            KernelCall::StoreImage {
                image: image.clone(),
                size_bytes,
            },
            cx,
        );
        self.finish_pull(pull_id, Ok(ImageInfo { image, size_bytes }), cx);
    }

    fn on_due(&mut self, due: Due, cx: &mut Context<'_, Msg>) {
        match due {
            Due::Kill { container_id } => {
                let still_running = self.containers.get(&container_id).is_some_and(|c| {
                    matches!(
                        c.stage,
                        ContainerStage::Starting { .. } | ContainerStage::Running { .. }
                    )
                });
                if still_running {
                    cx.record("detail", || {
                        format!("container {container_id} outlived its stop timeout: SIGKILL")
                    });
                    self.kernel_call(
                        KernelCall::Signal {
                            process_id: container_id,
                            signal: Signal::Kill,
                        },
                        cx,
                    );
                }
            }
            Due::PullTimeout { pull_id } => {
                let Some(pull) = self.pulls_active.get(&pull_id) else {
                    return;
                };
                let message = format!(
                    "failed to pull and unpack image {:?}: context deadline exceeded (no progress for {})",
                    pull.image, self.config.image_pull_progress_timeout
                );
                self.finish_pull(
                    pull_id,
                    Err(error(CriErrorCode::DeadlineExceeded, message)),
                    cx,
                );
            }
        }
    }
}

/// `oom_score_adj` of a sandbox's infra (upstream `qos.PodInfraOOMAdj`,
/// pkg/kubelet/qos/policy.go: -998): the node OOM killer takes it last.
pub const POD_INFRA_OOM_SCORE_ADJ: i32 = -998;

/// The infra process of a sandbox: it starts in the handler's sandbox start time, holds
/// the handler's sandbox memory and uses no CPU to speak of (an assumption: an idle
/// pause process, VM or Sentry).
fn infra_behaviour(profile: OciProfile) -> ProcessBehaviour {
    ProcessBehaviour {
        startup: profile.sandbox_start,
        memory_bytes: profile.sandbox_memory_bytes,
        cpu_millicores: 0,
        ..ProcessBehaviour::default()
    }
}

/// The calls a sandbox stage owes an answer to.
fn calls_of(stage: &SandboxStage) -> Vec<CallId> {
    match stage {
        SandboxStage::Creating { call } => vec![*call],
        SandboxStage::Stopping { calls } => calls.clone(),
        SandboxStage::Ready | SandboxStage::NotReady => Vec::new(),
    }
}

impl Actor<Msg> for ContainerRuntime {
    fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
        match event {
            Event::Start => {
                let images = self.images.len();
                cx.record("detail", || {
                    format!("runtime up with {images} images in its store")
                });
            }
            Event::Message {
                from,
                msg: Msg::Cri(call),
            } => self.on_call(from, *call, cx),
            Event::Message {
                msg: Msg::KernelEvent(event),
                ..
            } => self.on_kernel(*event, cx),
            Event::Message {
                msg: Msg::Registry(message),
                ..
            } => self.on_registry(*message, cx),
            Event::Timer(Msg::Tick(AnyTick::Runtime(Tick::CrashDaemon))) => self.crash_daemon(cx),
            Event::Timer(Msg::Tick(AnyTick::Runtime(Tick::KillSandboxInfra {
                namespace,
                name,
            }))) => self.kill_sandbox_infra(&namespace, &name, cx),
            Event::Timer(Msg::Tick(AnyTick::Runtime(Tick::RecoverDaemon))) => {
                self.recover_daemon(cx)
            }
            Event::Timer(Msg::Tick(AnyTick::Runtime(Tick::Deadline { generation }))) => {
                for due in self.deadlines.fire(generation, cx.now()) {
                    self.on_due(due, cx);
                }
                if let Some(rearm) = self.deadlines.rearm(cx.now()) {
                    cx.timer(
                        rearm.after,
                        Msg::Tick(AnyTick::Runtime(Tick::Deadline {
                            generation: rearm.generation,
                        })),
                    );
                }
            }
            Event::Message { msg, .. } | Event::Timer(msg) => panic!(
                "{}/{} got an unexpected message: {msg:?}",
                self.config.name, self.node_name
            ),
        }
    }

    fn on_crash(&mut self) {
        // Processes, sandboxes and their records die with the node; the image store is
        // on disk.
        self.sandboxes.clear();
        self.containers.clear();
        self.pulls_active.clear();
        self.pulls_queued.clear();
        self.ipam.clear();
        self.deadlines.clear();
        // The daemon boots with the node.
        self.daemon = daemon::Daemon::Running;
    }
}

impl Fingerprint for Tick {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            Tick::Deadline { generation } => hasher.write_u64(*generation),
            Tick::CrashDaemon => hasher.write_u64(u64::MAX - 1),
            Tick::RecoverDaemon => hasher.write_u64(u64::MAX - 2),
            Tick::KillSandboxInfra { namespace, name } => {
                hasher.write_u64(u64::MAX - 3);
                hasher.write_str(namespace);
                hasher.write_str(name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_reasons_follow_containerd() {
        assert_eq!(exit_reason(0, ExitCause::Exited), "Completed");
        assert_eq!(exit_reason(1, ExitCause::Exited), "Error");
        assert_eq!(exit_reason(143, ExitCause::Exited), "Error");
        assert_eq!(exit_reason(137, ExitCause::Killed), "Error");
        assert_eq!(exit_reason(137, ExitCause::OomKilled), "OOMKilled");
    }
}
