//! The node's kernel: cgroups and namespaces for sandboxes and containers, processes that
//! start and exit, and per-node CPU and memory accounting.

use sim_core::{SimDuration, TraceHasher};

use crate::msg::Fingerprint;

/// How a container's main process behaves, from the scenario (per image).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessBehaviour {
    /// From exec to serving (the container counts as ready then).
    pub startup: SimDuration,
    pub memory_bytes: u64,
    pub cpu_millicores: u64,
    /// Exit after this long running, with this code; `None` runs until killed.
    pub exit: Option<ProcessExit>,
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
        }
    }
}

#[derive(Clone, Debug)]
pub struct KernelConfig {
    /// clone + exec of a container process (an assumption).
    pub process_spawn_latency: SimDuration,
}

impl Default for KernelConfig {
    fn default() -> Self {
        KernelConfig {
            process_spawn_latency: SimDuration::from_millis(5),
        }
    }
}

#[derive(Clone, Debug)]
pub struct KernelCall {
    pub id: u64,
}

#[derive(Clone, Debug)]
pub struct KernelEvent {
    pub id: u64,
}

#[derive(Clone, Debug)]
pub enum Tick {}

impl Fingerprint for KernelCall {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        hasher.write_u64(self.id);
    }
}

impl Fingerprint for KernelEvent {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        hasher.write_u64(self.id);
    }
}

impl Fingerprint for Tick {
    fn fingerprint(&self, _hasher: &mut TraceHasher) {
        match *self {}
    }
}
