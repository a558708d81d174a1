//! kube-controller-manager: one process running the Deployment, ReplicaSet, node
//! lifecycle and EndpointSlice controllers over shared informers.

use sim_core::{SimDuration, TraceHasher};

use crate::msg::Fingerprint;

/// Settings, named as the kube-controller-manager flags they stand for.
#[derive(Clone, Debug)]
pub struct ControllerManagerConfig {
    /// `--node-monitor-period`, upstream default 5 s.
    pub node_monitor_period: SimDuration,
    /// `--node-monitor-grace-period`, upstream default 50 s since v1.32 (40 s before).
    pub node_monitor_grace_period: SimDuration,
    /// `--node-startup-grace-period`, upstream default 60 s.
    pub node_startup_grace_period: SimDuration,
    /// `--node-eviction-rate`, nodes per second per zone, upstream default 0.1.
    pub node_eviction_rate: f64,
    /// ReplicaSet controller `BurstReplicas`, upstream 500.
    pub burst_replicas: u32,
    /// `--max-endpoints-per-slice`, upstream default 100.
    pub max_endpoints_per_slice: usize,
    /// CPU time of one controller sync (an assumption).
    pub sync_cost: SimDuration,
}

impl Default for ControllerManagerConfig {
    fn default() -> Self {
        ControllerManagerConfig {
            node_monitor_period: SimDuration::from_secs(5),
            node_monitor_grace_period: SimDuration::from_secs(50),
            node_startup_grace_period: SimDuration::from_secs(60),
            node_eviction_rate: 0.1,
            burst_replicas: 500,
            max_endpoints_per_slice: 100,
            sync_cost: SimDuration::from_micros(200),
        }
    }
}

#[derive(Clone, Debug)]
pub enum Tick {}

impl Fingerprint for Tick {
    fn fingerprint(&self, _hasher: &mut TraceHasher) {
        match *self {}
    }
}
