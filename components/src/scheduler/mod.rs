//! kube-scheduler: watches unscheduled pods and nodes, picks a node for each pod with the
//! filter and score plugins, and binds it through the API server.

use sim_core::{SimDuration, TraceHasher};

use crate::msg::Fingerprint;

/// Settings, named as in `KubeSchedulerConfiguration` where upstream has them.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// `percentageOfNodesToScore`; 0 means adaptive (upstream default).
    pub percentage_of_nodes_to_score: u32,
    /// `podInitialBackoffSeconds`, upstream default 1 s.
    pub pod_initial_backoff: SimDuration,
    /// `podMaxBackoffSeconds`, upstream default 10 s.
    pub pod_max_backoff: SimDuration,
    /// `DefaultPodMaxInUnschedulablePodsDuration`, upstream 5 min.
    pub pod_max_in_unschedulable_pods_duration: SimDuration,
    /// CPU time one scheduling cycle takes (an assumption: upstream reaches a few hundred
    /// pods per second, so a few milliseconds per pod).
    pub scheduling_cycle_cost: SimDuration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            percentage_of_nodes_to_score: 0,
            pod_initial_backoff: SimDuration::from_secs(1),
            pod_max_backoff: SimDuration::from_secs(10),
            pod_max_in_unschedulable_pods_duration: SimDuration::from_mins(5),
            scheduling_cycle_cost: SimDuration::from_millis(2),
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
