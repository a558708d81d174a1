//! kube-proxy: watches Services and EndpointSlices and programs this node's rules
//! (iptables mode) after a sync delay.

use sim_core::{SimDuration, TraceHasher};

use crate::msg::Fingerprint;

/// Settings, named as in `KubeProxyConfiguration` (iptables mode).
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// `iptables.syncPeriod`, upstream default 30 s.
    pub sync_period: SimDuration,
    /// `iptables.minSyncPeriod`, upstream default 1 s.
    pub min_sync_period: SimDuration,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            sync_period: SimDuration::from_secs(30),
            min_sync_period: SimDuration::from_secs(1),
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
