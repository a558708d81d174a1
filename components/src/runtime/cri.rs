//! The Container Runtime Interface, as kubesim models it: the calls the kubelet makes over
//! the runtime's socket (`RuntimeService` and `ImageService` of `k8s.io/cri-api`), the
//! answers, and the container events the runtime pushes (as `GetContainerEvents` does).

use sim_core::{SimDuration, SimTime, TraceHasher};

use crate::api::Str;
use crate::kernel::CgroupLimits;
use crate::msg::Fingerprint;

/// Numbers a call; the answer carries it back.
pub type CallId = u64;

/// `PodSandboxConfig`: what the runtime needs to make a pod's sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSandboxConfig {
    pub pod_uid: u64,
    pub namespace: Str,
    pub name: Str,
    pub attempt: u32,
    /// The node's pod CIDR (the kubelet hands it over as `UpdateRuntimeConfig` does); the
    /// sandbox's IP comes from it.
    pub pod_cidr: Str,
    /// `RunPodSandboxRequest.runtime_handler`: the pod's RuntimeClass's handler, `""` for
    /// the runtime's default.
    pub runtime_handler: Str,
}

/// `ContainerConfig`: one container of a pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerConfig {
    pub name: Str,
    pub image: Str,
    /// How many times this container has been restarted before (the new one's number).
    pub attempt: u32,
    pub limits: CgroupLimits,
}

#[derive(Clone, Debug)]
pub enum CriRequest {
    Version,
    RunPodSandbox(PodSandboxConfig),
    /// Stops every container of the sandbox and tears its network down (releases its IP).
    StopPodSandbox {
        sandbox_id: u64,
    },
    RemovePodSandbox {
        sandbox_id: u64,
    },
    ListPodSandbox,
    PullImage {
        image: Str,
    },
    ImageStatus {
        image: Str,
    },
    ListImages,
    /// Deletes an image from the store (the kubelet's image GC).
    RemoveImage {
        image: Str,
    },
    CreateContainer {
        sandbox_id: u64,
        config: ContainerConfig,
    },
    StartContainer {
        container_id: u64,
    },
    /// SIGTERM, then SIGKILL once `timeout` has passed; answered when the container has
    /// exited.
    StopContainer {
        container_id: u64,
        timeout: SimDuration,
    },
    RemoveContainer {
        container_id: u64,
    },
    ListContainers,
    /// `ExecSync` of a lifecycle hook's handler in a running container; answered when the
    /// handler returns. `hook` stands for the command: the image's behaviour says how
    /// long its postStart or preStop handler takes.
    ExecSync {
        container_id: u64,
        hook: Hook,
    },
}

/// Which lifecycle hook an `ExecSync` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    PostStart,
    PreStop,
}

impl CriRequest {
    pub fn name(&self) -> &'static str {
        match self {
            CriRequest::Version => "Version",
            CriRequest::RunPodSandbox(_) => "RunPodSandbox",
            CriRequest::StopPodSandbox { .. } => "StopPodSandbox",
            CriRequest::RemovePodSandbox { .. } => "RemovePodSandbox",
            CriRequest::ListPodSandbox => "ListPodSandbox",
            CriRequest::PullImage { .. } => "PullImage",
            CriRequest::ImageStatus { .. } => "ImageStatus",
            CriRequest::ListImages => "ListImages",
            CriRequest::RemoveImage { .. } => "RemoveImage",
            CriRequest::CreateContainer { .. } => "CreateContainer",
            CriRequest::StartContainer { .. } => "StartContainer",
            CriRequest::StopContainer { .. } => "StopContainer",
            CriRequest::RemoveContainer { .. } => "RemoveContainer",
            CriRequest::ListContainers => "ListContainers",
            CriRequest::ExecSync { .. } => "ExecSync",
        }
    }

    fn code(&self) -> u64 {
        match self {
            CriRequest::Version => 1,
            CriRequest::RunPodSandbox(_) => 2,
            CriRequest::StopPodSandbox { .. } => 3,
            CriRequest::RemovePodSandbox { .. } => 4,
            CriRequest::ListPodSandbox => 5,
            CriRequest::PullImage { .. } => 6,
            CriRequest::ImageStatus { .. } => 7,
            CriRequest::ListImages => 8,
            CriRequest::CreateContainer { .. } => 9,
            CriRequest::StartContainer { .. } => 10,
            CriRequest::StopContainer { .. } => 11,
            CriRequest::RemoveContainer { .. } => 12,
            CriRequest::ListContainers => 13,
            CriRequest::ExecSync { .. } => 14,
            CriRequest::RemoveImage { .. } => 15,
        }
    }
}

/// A CRI call from the kubelet.
#[derive(Clone, Debug)]
pub struct CriCall {
    pub id: CallId,
    pub request: CriRequest,
}

/// An image in the node's store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    pub image: Str,
    pub size_bytes: u64,
}

/// How a container ended, as `ContainerStatus` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerExit {
    pub exit_code: i32,
    /// `Completed`, `Error` or `OOMKilled`.
    pub reason: Str,
    pub finished_at: SimTime,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running {
        started_at: SimTime,
        ready: bool,
    },
    Exited {
        started_at: Option<SimTime>,
        exit: ContainerExit,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerInfo {
    pub container_id: u64,
    pub sandbox_id: u64,
    pub pod_uid: u64,
    pub name: Str,
    pub image: Str,
    pub attempt: u32,
    pub state: ContainerState,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxInfo {
    pub sandbox_id: u64,
    pub pod_uid: u64,
    pub namespace: Str,
    pub name: Str,
    pub attempt: u32,
    /// SANDBOX_READY (network up) or NOTREADY.
    pub ready: bool,
    pub ip: Option<Str>,
}

#[derive(Clone, Debug)]
pub enum CriResponse {
    Version {
        runtime_name: Str,
        runtime_version: Str,
    },
    /// `RunPodSandbox`, with the IP `PodSandboxStatus` would report.
    SandboxReady {
        sandbox_id: u64,
        ip: Str,
    },
    ImagePulled(ImageInfo),
    ImageStatus(Option<ImageInfo>),
    Images(Vec<ImageInfo>),
    ContainerCreated {
        container_id: u64,
    },
    ContainerStarted {
        started_at: SimTime,
    },
    ContainerStopped(ContainerExit),
    /// `ExecSync`: the command's exit code.
    Exec {
        exit_code: i32,
    },
    Sandboxes(Vec<SandboxInfo>),
    Containers(Vec<ContainerInfo>),
    /// Stop/remove calls that return nothing.
    Done,
}

/// gRPC status codes the runtime answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CriErrorCode {
    NotFound,
    FailedPrecondition,
    ResourceExhausted,
    DeadlineExceeded,
    Unknown,
    /// The runtime's socket refused the call or closed while it was in flight: the
    /// daemon is down (gRPC's code for a transport failure).
    Unavailable,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CriError {
    pub code: CriErrorCode,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerEventKind {
    /// The process got through its startup: from now on it answers probes. Neither this
    /// nor `Unresponsive` is a CRI event: together they stand for what the process would
    /// answer the kubelet's prober (`kubelet::prober`), pushed at each change so that the
    /// prober needs no message per probe.
    Ready,
    /// The process stopped answering (hung): probes time out.
    Unresponsive,
    Exited(ContainerExit),
    /// The sandbox's infra process died: the sandbox is not ready (what the generic
    /// PLEG's relist finds as the sandbox's change of state). `container_id` is the
    /// infra process's.
    SandboxNotReady,
}

/// Pushed by the runtime when a container's state changes on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerEvent {
    pub container_id: u64,
    pub sandbox_id: u64,
    pub kind: ContainerEventKind,
}

/// The runtime's answer to a CRI call, or an event it reports.
#[derive(Clone, Debug)]
pub enum CriReply {
    Response {
        id: CallId,
        result: Result<CriResponse, CriError>,
    },
    Event(ContainerEvent),
    /// The runtime's daemon died and its socket closed. It stands for the failure the
    /// kubelet's next PLEG relist or status check (at most 1 s later) would meet, so that
    /// a healthy node needs no message for either.
    Disconnected,
}

impl Fingerprint for CriCall {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        hasher.write_u64(self.id);
        hasher.write_u64(self.request.code());
        match &self.request {
            CriRequest::RunPodSandbox(config) => {
                hasher.write_u64(config.pod_uid);
                hasher.write_u64(u64::from(config.attempt));
                hasher.write_str(&config.runtime_handler);
            }
            CriRequest::StopPodSandbox { sandbox_id }
            | CriRequest::RemovePodSandbox { sandbox_id } => hasher.write_u64(*sandbox_id),
            CriRequest::PullImage { image }
            | CriRequest::ImageStatus { image }
            | CriRequest::RemoveImage { image } => hasher.write_str(image),
            CriRequest::CreateContainer { sandbox_id, config } => {
                hasher.write_u64(*sandbox_id);
                hasher.write_str(&config.name);
                hasher.write_u64(u64::from(config.attempt));
            }
            CriRequest::StartContainer { container_id }
            | CriRequest::RemoveContainer { container_id } => hasher.write_u64(*container_id),
            CriRequest::ExecSync { container_id, hook } => {
                hasher.write_u64(*container_id);
                hasher.write_u64(*hook as u64);
            }
            CriRequest::StopContainer {
                container_id,
                timeout,
            } => {
                hasher.write_u64(*container_id);
                hasher.write_u64(timeout.as_nanos());
            }
            CriRequest::Version
            | CriRequest::ListPodSandbox
            | CriRequest::ListImages
            | CriRequest::ListContainers => {}
        }
    }
}

impl Fingerprint for CriReply {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            CriReply::Response { id, result } => {
                hasher.write_u64(1);
                hasher.write_u64(*id);
                match result {
                    Ok(CriResponse::SandboxReady { sandbox_id, .. }) => {
                        hasher.write_u64(*sandbox_id)
                    }
                    Ok(CriResponse::ContainerCreated { container_id }) => {
                        hasher.write_u64(*container_id)
                    }
                    Ok(CriResponse::ContainerStopped(exit)) => {
                        hasher.write_u64(exit.exit_code as u64)
                    }
                    Ok(CriResponse::ImagePulled(info)) => hasher.write_u64(info.size_bytes),
                    Ok(CriResponse::Sandboxes(list)) => hasher.write_u64(list.len() as u64),
                    Ok(CriResponse::Containers(list)) => hasher.write_u64(list.len() as u64),
                    Ok(CriResponse::Images(list)) => hasher.write_u64(list.len() as u64),
                    Ok(_) => hasher.write_u64(0),
                    Err(error) => hasher.write_u64(100 + error.code as u64),
                }
            }
            CriReply::Event(event) => {
                hasher.write_u64(2);
                hasher.write_u64(event.container_id);
                match &event.kind {
                    ContainerEventKind::Ready => hasher.write_u64(1),
                    ContainerEventKind::Unresponsive => hasher.write_u64(3),
                    ContainerEventKind::Exited(exit) => {
                        hasher.write_u64(2);
                        hasher.write_u64(exit.exit_code as u64);
                    }
                    ContainerEventKind::SandboxNotReady => {
                        hasher.write_u64(4);
                        hasher.write_u64(event.sandbox_id);
                    }
                }
            }
            CriReply::Disconnected => hasher.write_u64(3),
        }
    }
}
