//! The built-in scenarios, embedded in the binary from `scenarios/library/*.yaml`, and
//! how a scenario argument (a file path or a built-in name) is resolved.

use std::path::Path;

use crate::error::ScenarioError;
use crate::scenario::{Includes, Scenario, parse};

/// One built-in scenario.
#[derive(Clone, Copy, Debug)]
pub struct BuiltIn {
    pub name: &'static str,
    /// The file name errors and event logs name.
    pub file: &'static str,
    pub source: &'static str,
}

/// A built-in from `scenarios/library/<name>.yaml`, embedded at compile time.
macro_rules! built_in {
    ($name:literal) => {
        BuiltIn {
            name: $name,
            file: concat!("library/", $name, ".yaml"),
            source: include_str!(concat!("../library/", $name, ".yaml")),
        }
    };
}

/// Every built-in scenario, in the order `kubesim scenarios` lists them.
pub const BUILT_INS: &[BuiltIn] = &[
    built_in!("deploy"),
    built_in!("node-death"),
    built_in!("unschedulable-then-scale-up"),
    built_in!("priority-preemption"),
    built_in!("taints-and-tolerations"),
    built_in!("node-affinity"),
    built_in!("topology-spread"),
    built_in!("statefulset-ordered"),
    built_in!("drain-with-pdb"),
    built_in!("job-completion"),
    built_in!("daemonset-new-node"),
    built_in!("rolling-update"),
    built_in!("bad-rollout-rollback"),
    built_in!("zone-outage"),
    built_in!("hpa-scale-up"),
    built_in!("runtime-comparison"),
    built_in!("registry-outage"),
    built_in!("crash-loop"),
    built_in!("graceful-shutdown"),
    built_in!("kubelet-restart"),
    built_in!("liveness-restart"),
    built_in!("oom-kill"),
    built_in!("memory-leak-node-pressure"),
    built_in!("apiserver-restart"),
    built_in!("scheduler-failover"),
    built_in!("controller-manager-down"),
    built_in!("etcd-member-loss"),
    built_in!("etcd-quorum-loss"),
    built_in!("etcd-data-loss"),
    built_in!("etcd-nospace"),
    built_in!("container-lifecycle"),
    built_in!("disk-pressure"),
];

pub fn built_in(name: &str) -> Option<&'static BuiltIn> {
    BUILT_INS.iter().find(|b| b.name == name)
}

impl BuiltIn {
    pub fn load(&self) -> Result<Scenario, ScenarioError> {
        parse(self.file, self.source, &Includes::Unavailable)
    }
}

/// Loads `argument`: a scenario file if one exists at that path, else a built-in scenario
/// of that name.
pub fn load(argument: &str) -> Result<Scenario, ScenarioError> {
    let path = Path::new(argument);
    if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|error| ScenarioError::Unreadable {
            at: crate::error::At {
                file: argument.to_string(),
                pos: None,
                path: String::new(),
            },
            path: argument.to_string(),
            reason: error.to_string(),
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        return parse(argument, &text, &Includes::Disk(base));
    }
    match built_in(argument) {
        Some(built_in) => built_in.load(),
        None => Err(ScenarioError::NotFound {
            name: argument.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_parses_and_is_named_as_its_file() {
        for built_in in BUILT_INS {
            let scenario = built_in.load().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(scenario.name, built_in.name);
            assert!(built_in.file.ends_with(&format!("{}.yaml", built_in.name)));
            assert!(!scenario.description.is_empty());
            assert!(!scenario.description.contains('\n'), "one-line description");
            assert!(!scenario.expectations.is_empty());
        }
    }

    #[test]
    fn unknown_names_are_not_found() {
        assert_eq!(
            load("no-such-scenario").unwrap_err(),
            ScenarioError::NotFound {
                name: "no-such-scenario".to_string()
            }
        );
    }
}
