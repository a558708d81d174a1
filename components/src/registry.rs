//! An image registry host: serves image pulls at a given size and bandwidth.

use sim_core::{SimDuration, TraceHasher};

use crate::kernel::ProcessBehaviour;
use crate::msg::Fingerprint;

/// An image the registry serves, and how its containers behave once started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageProfile {
    /// Full reference as pods name it, e.g. `nginx:1.14.2`.
    pub name: String,
    pub size_bytes: u64,
    pub behaviour: ProcessBehaviour,
}

#[derive(Clone, Debug)]
pub struct RegistryConfig {
    pub images: Vec<ImageProfile>,
    /// Size of an image the scenario did not describe (an assumption: a typical slim
    /// application image).
    pub default_image_size_bytes: u64,
    /// Per-pull bandwidth in bytes per second (an assumption: 50 MB/s).
    pub bandwidth_bytes_per_sec: u64,
    /// Manifest and auth round trips before the layers flow (an assumption).
    pub pull_setup_latency: SimDuration,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            images: Vec::new(),
            default_image_size_bytes: 50 << 20,
            bandwidth_bytes_per_sec: 50_000_000,
            pull_setup_latency: SimDuration::from_millis(200),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RegistryMsg {
    pub id: u64,
}

#[derive(Clone, Debug)]
pub enum Tick {}

impl Fingerprint for RegistryMsg {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        hasher.write_u64(self.id);
    }
}

impl Fingerprint for Tick {
    fn fingerprint(&self, _hasher: &mut TraceHasher) {
        match *self {}
    }
}
