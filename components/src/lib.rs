//! components: the Kubernetes cluster as actors on sim-core.
//!
//! Every component is an actor with one entry point; they never call each other, they
//! exchange [`msg::Msg`] through the engine. Only the API server talks to etcd; everything
//! else talks only to the API server, exactly as in a real cluster.
//!
//! Module map:
//! - [`api`]: object types, metadata, selectors, quantities, and the request/watch wire.
//! - [`msg`]: the message enum every actor speaks, and every component's timers.
//! - [`client`]: `ApiClient` and the `Informer` (list, watch, cache, relist).
//! - [`etcd`]: MVCC store with revisions, transactions, watches, compaction.
//! - [`apiserver`]: CRUD, watch fan-out from a watch cache, admission, 409s.
//! - [`scheduler`]: queue, filter, score, bind.
//! - [`controllers`]: kube-controller-manager (Deployment, ReplicaSet, node lifecycle,
//!   EndpointSlice).
//! - [`kubelet`]: node registration, Lease, status, pod workers over CRI.
//! - [`runtime`]: containerd / CRI-O serving CRI; image pulls; sandboxes and containers.
//! - [`registry`]: the image registry.
//! - [`kernel`]: processes, cgroups, per-node CPU and memory.
//! - [`filesystem`]: the node's nodefs and imagefs as the kernel accounts for them, and
//!   the eviction signals read from them.
//! - [`proxy`]: kube-proxy programming per-node rules from Services and EndpointSlices.
//! - [`kubectl`]: carries out a scenario's user actions.
//! - [`load`]: the load generator: a Service's CPU demand spread over its ready endpoints.
//! - [`metrics`]: the resource metrics pipeline (kernel → kubelet → metrics-server → HPA).
//! - [`cluster`]: assembles all of the above into a simulation.
//! - [`invariants`]: cluster-wide invariants checked after every event of every run.
//! - [`rollout_invariants`]: the rolling-update bounds and "no ReplicaSet above its
//!   replicas", checked after every event of runs without faults.
//! - [`fixtures`]: synthetic clusters and workloads for benchmarks and tests.
//! - [`timers`]: `Deadlines`, one rearmable timer for many deadlines.

pub mod api;
pub mod apiserver;
pub mod client;
pub mod cluster;
pub mod controllers;
pub mod etcd;
pub mod filesystem;
pub mod fixtures;
pub mod id_map;
pub mod invariants;
pub mod kernel;
pub mod kubectl;
pub mod kubelet;
pub mod load;
pub mod metrics;
pub mod msg;
pub mod proxy;
pub mod registry;
pub mod rollout_invariants;
pub mod runtime;
pub mod scheduler;
pub mod timers;

pub use msg::{Msg, Tick};
