//! kubelet: registers its node, keeps its Lease and status fresh, watches only its own
//! pods, and drives the container runtime over CRI to make them run.

use sim_core::{SimDuration, TraceHasher};

use crate::api::{Labels, ResourceList, Str, Taint};
use crate::msg::Fingerprint;

/// Settings, named as in `KubeletConfiguration`.
#[derive(Clone, Debug)]
pub struct KubeletConfig {
    /// `nodeLeaseDurationSeconds`, upstream default 40.
    pub node_lease_duration_seconds: u64,
    /// Lease renew interval: 0.25 × the lease duration upstream, so 10 s.
    pub node_lease_renew_interval: SimDuration,
    /// `nodeStatusUpdateFrequency`, upstream default 10 s.
    pub node_status_update_frequency: SimDuration,
    /// `nodeStatusReportFrequency`, upstream default 5 min.
    pub node_status_report_frequency: SimDuration,
    /// CrashLoopBackOff: first delay 10 s, doubling, capped at 300 s (`MaxContainerBackOff`).
    pub crash_loop_backoff_initial: SimDuration,
    pub crash_loop_backoff_max: SimDuration,
    /// A back-off entry is forgotten after 2 × max = 600 s without a new failure.
    pub crash_loop_backoff_reset: SimDuration,
    pub kubelet_version: Str,
}

impl Default for KubeletConfig {
    fn default() -> Self {
        KubeletConfig {
            node_lease_duration_seconds: 40,
            node_lease_renew_interval: SimDuration::from_secs(10),
            node_status_update_frequency: SimDuration::from_secs(10),
            node_status_report_frequency: SimDuration::from_mins(5),
            crash_loop_backoff_initial: SimDuration::from_secs(10),
            crash_loop_backoff_max: SimDuration::from_secs(300),
            crash_loop_backoff_reset: SimDuration::from_secs(600),
            kubelet_version: Str::from("v1.34.0"),
        }
    }
}

/// What the kubelet registers its Node with: the machine it runs on.
#[derive(Clone, Debug)]
pub struct NodeSetup {
    pub name: Str,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    /// Capacity; allocatable is the same (no system reservations modelled yet).
    pub capacity: ResourceList,
    pub internal_ip: Str,
    /// This node's pod CIDR, e.g. `10.244.3.0/24`; pod IPs are taken from it.
    pub pod_cidr: Str,
}

#[derive(Clone, Debug)]
pub enum Tick {}

impl Fingerprint for Tick {
    fn fingerprint(&self, _hasher: &mut TraceHasher) {
        match *self {}
    }
}
