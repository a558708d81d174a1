//! Container probes (`core/v1` `Probe`): what the kubelet's prober runs against a
//! container, how often, and how many answers in a row flip its result.
//!
//! Values are stored defaulted (upstream `SetDefaults_Probe` and
//! `SetDefaults_HTTPGetAction` in `pkg/apis/core/v1/defaults.go`): scenarios ingest
//! applies the defaults, and [`Probe::new`] starts from them.

use sim_core::SimDuration;

use super::{Str, TargetPort};

/// `periodSeconds` when unset: 10.
pub const PROBE_DEFAULT_PERIOD_SECONDS: u32 = 10;
/// `timeoutSeconds` when unset: 1.
pub const PROBE_DEFAULT_TIMEOUT_SECONDS: u32 = 1;
/// `successThreshold` when unset: 1 (and it must be 1 for liveness and startup probes).
pub const PROBE_DEFAULT_SUCCESS_THRESHOLD: u32 = 1;
/// `failureThreshold` when unset: 3.
pub const PROBE_DEFAULT_FAILURE_THRESHOLD: u32 = 3;
/// `httpGet.path` when unset: `/`.
pub const PROBE_DEFAULT_HTTP_PATH: &str = "/";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum UriScheme {
    /// The default (`SetDefaults_HTTPGetAction`).
    #[default]
    Http,
    Https,
}

/// How a probe asks the container (upstream `ProbeHandler`: exactly one is set).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ProbeHandler {
    Exec {
        command: Vec<Str>,
    },
    HttpGet {
        path: Str,
        port: TargetPort,
        scheme: UriScheme,
    },
    TcpSocket {
        port: TargetPort,
    },
    Grpc {
        port: u16,
        service: Option<Str>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Probe {
    pub handler: ProbeHandler,
    pub initial_delay_seconds: u32,
    pub timeout_seconds: u32,
    pub period_seconds: u32,
    pub success_threshold: u32,
    pub failure_threshold: u32,
    /// Liveness and startup probes only: the grace period of the kill a failure causes,
    /// instead of the pod's `terminationGracePeriodSeconds`.
    pub termination_grace_period_seconds: Option<u64>,
}

impl Probe {
    /// A probe with upstream's defaults: first probe at once, every 10 s, 1 s timeout,
    /// one success or three failures to flip.
    pub fn new(handler: ProbeHandler) -> Probe {
        Probe {
            handler,
            initial_delay_seconds: 0,
            timeout_seconds: PROBE_DEFAULT_TIMEOUT_SECONDS,
            period_seconds: PROBE_DEFAULT_PERIOD_SECONDS,
            success_threshold: PROBE_DEFAULT_SUCCESS_THRESHOLD,
            failure_threshold: PROBE_DEFAULT_FAILURE_THRESHOLD,
            termination_grace_period_seconds: None,
        }
    }

    /// An `httpGet` probe of `path` on `port` with the defaults.
    pub fn http_get(path: &str, port: u16) -> Probe {
        Probe::new(ProbeHandler::HttpGet {
            path: Str::from(path),
            port: TargetPort::Number(port),
            scheme: UriScheme::Http,
        })
    }

    pub fn period(&self) -> SimDuration {
        SimDuration::from_secs(u64::from(self.period_seconds))
    }

    pub fn timeout(&self) -> SimDuration {
        SimDuration::from_secs(u64::from(self.timeout_seconds))
    }

    pub fn initial_delay(&self) -> SimDuration {
        SimDuration::from_secs(u64::from(self.initial_delay_seconds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_probe_has_upstream_defaults() {
        // pkg/apis/core/v1/defaults.go SetDefaults_Probe and SetDefaults_HTTPGetAction.
        let probe = Probe::http_get("/healthz", 8080);
        assert_eq!(probe.initial_delay(), SimDuration::ZERO);
        assert_eq!(probe.period(), SimDuration::from_secs(10));
        assert_eq!(probe.timeout(), SimDuration::from_secs(1));
        assert_eq!((probe.success_threshold, probe.failure_threshold), (1, 3));
        assert_eq!(probe.termination_grace_period_seconds, None);
        let ProbeHandler::HttpGet { scheme, .. } = probe.handler else {
            panic!("an httpGet probe");
        };
        assert_eq!(scheme, UriScheme::Http);
    }
}
