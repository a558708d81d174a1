//! The container runtime (containerd or CRI-O): serves CRI calls from the kubelet, pulls
//! images from the registry into the node's image cache, and asks the kernel for the
//! sandbox and container processes.

use sim_core::{SimDuration, TraceHasher};

use crate::msg::Fingerprint;

#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// `containerd` or `cri-o`.
    pub name: String,
    /// CRI-side cost of creating a pod sandbox (an assumption).
    pub sandbox_create_latency: SimDuration,
    /// CRI-side cost of creating a container (an assumption).
    pub container_create_latency: SimDuration,
    /// kubelet `serializeImagePulls`, upstream default true.
    pub serialize_image_pulls: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            name: "containerd".to_string(),
            sandbox_create_latency: SimDuration::from_millis(100),
            container_create_latency: SimDuration::from_millis(20),
            serialize_image_pulls: true,
        }
    }
}

/// A CRI call from the kubelet.
#[derive(Clone, Debug)]
pub struct CriCall {
    pub id: u64,
}

/// The runtime's answer to a CRI call, or an event it reports.
#[derive(Clone, Debug)]
pub struct CriReply {
    pub id: u64,
}

#[derive(Clone, Debug)]
pub enum Tick {}

impl Fingerprint for CriCall {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        hasher.write_u64(self.id);
    }
}

impl Fingerprint for CriReply {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        hasher.write_u64(self.id);
    }
}

impl Fingerprint for Tick {
    fn fingerprint(&self, _hasher: &mut TraceHasher) {
        match *self {}
    }
}
