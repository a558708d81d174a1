//! kube-apiserver: the only component that talks to etcd.

use sim_core::{SimDuration, TraceHasher};

use crate::msg::Fingerprint;

/// Settings, named as the kube-apiserver flags they stand for where upstream has one.
#[derive(Clone, Debug)]
pub struct ApiServerConfig {
    /// Handling cost of one request before and after etcd (an assumption).
    pub request_latency: SimDuration,
    /// Extra cost per object returned by a list (an assumption: serialization).
    pub list_cost_per_object: SimDuration,
    /// `--etcd-compaction-interval`, upstream default 5 min.
    pub etcd_compaction_interval: SimDuration,
    /// How far back the watch cache can replay events (upstream sizes it dynamically to
    /// hold about 75 s of history).
    pub watch_cache_window: SimDuration,
    /// `--default-not-ready-toleration-seconds`, upstream default 300.
    pub default_not_ready_toleration_seconds: u64,
    /// `--default-unreachable-toleration-seconds`, upstream default 300.
    pub default_unreachable_toleration_seconds: u64,
}

impl Default for ApiServerConfig {
    fn default() -> Self {
        ApiServerConfig {
            request_latency: SimDuration::from_micros(500),
            list_cost_per_object: SimDuration::from_micros(2),
            etcd_compaction_interval: SimDuration::from_mins(5),
            watch_cache_window: SimDuration::from_secs(75),
            default_not_ready_toleration_seconds: 300,
            default_unreachable_toleration_seconds: 300,
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
