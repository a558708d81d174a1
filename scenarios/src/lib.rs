//! scenarios: the scenario format, manifest ingest, expectations, the built-in scenario
//! library, and the runner that drives a cluster through a scenario.
//!
//! A scenario file (YAML; JSON is YAML) describes a cluster, real Kubernetes manifests, a
//! timeline of actions and faults, and expectations. Reading one goes text → untyped
//! document with positions ([`yaml`]) → the file's serde structs ([`format`](mod@format)) → a checked
//! [`scenario::Scenario`], converting manifests through k8s-openapi at the edge
//! ([`manifest`]). Every bad input is a [`error::ScenarioError`] naming the file, line,
//! column and field path.
//!
//! Module map:
//! - [`yaml`]: YAML documents with positions, and a path-tracking serde deserializer.
//! - [`format`](mod@format): the scenario file's structure (serde, `deny_unknown_fields`).
//! - [`duration`]: `300s`, `5m`, `1h30m`, `250ms`.
//! - [`behaviour`]: an image's memory growth rate (`10Mi/s`) and crash probability.
//! - [`manifest`]: manifests → `components::api` objects, with upstream defaulting.
//! - [`scenario`]: the checked scenario: cluster config, workloads, timeline, expectations.
//! - [`scheduler_config`]: `KubeSchedulerConfiguration` files, defaulted and validated.
//! - [`expectation`]: checks and their evaluation against an observation of the cluster.
//! - [`run`](mod@run): runs a scenario in stretches, evaluating expectations on time.
//! - [`library`]: the built-in scenarios (`scenarios/library/*.yaml`).
//! - [`error`]: `ScenarioError` and positions.

pub mod behaviour;
pub mod duration;
pub mod error;
pub mod expectation;
pub mod format;
pub mod library;
pub mod manifest;
pub mod run;
pub mod scenario;
pub mod scheduler_config;
pub mod yaml;

pub use error::ScenarioError;
pub use library::{BUILT_INS, BuiltIn, built_in, load};
pub use run::{ExpectationResult, Observer, Outcome, RunOptions, RunReport, run};
pub use scenario::{Includes, Scenario, ScenarioSource, parse};
