//! Node-pressure eviction on the filesystem signals, end to end, on a node whose
//! container runtime has its own disk (a dedicated imagefs): the images and the writable
//! layers fill the imagefs, never the nodefs, so `imagefs.available` (not
//! `nodefs.available`) is the signal, and the unused images are deleted before any pod.

use components::api::{ConditionStatus, Pod, PodPhase, RestartPolicy, s};
use components::filesystem::{DiskGrowth, FilesystemSpec, NodeFilesystems};
use components::kernel::{Kernel, ProcessBehaviour};
use components::kubectl::Action;
use components::registry::ImageProfile;
use sim_core::SimDuration;

mod common;

use common::{app_container, at, bound_pod, node, one_node_config, run_until};

const MI: u64 = 1 << 20;
const GI: u64 = 1 << 30;

fn image(name: &str, size_bytes: u64, growth: Option<u64>) -> ImageProfile {
    ImageProfile {
        name: name.to_string(),
        size_bytes,
        behaviour: ProcessBehaviour {
            startup: SimDuration::from_secs(1),
            disk_growth: growth.map(|bytes| DiskGrowth {
                bytes,
                per: SimDuration::from_secs(1),
                max_bytes: None,
            }),
            ..ProcessBehaviour::default()
        },
    }
}

fn pod(cluster: &components::cluster::Cluster, name: &str) -> std::rc::Rc<Pod> {
    cluster
        .objects::<Pod>()
        .find(|pod| &*pod.metadata.name == name)
        .cloned()
        .unwrap_or_else(|| panic!("pod {name}"))
}

#[test]
fn a_dedicated_imagefs_fills_deletes_unused_images_then_evicts_the_writer() {
    let mut config = one_node_config(vec![
        image("old:1", 100 * MI, None),
        image("writer:1", 10 * MI, Some(10 * MI)),
    ]);
    let pool = &mut config.node_pools[0];
    pool.capacity.ephemeral_storage_bytes = Some(10 * GI);
    // 4Gi of imagefs, 3Gi held from the start: 15 % (614.4Mi) is passed once images and
    // layers hold some 410Mi.
    pool.filesystems = Some(NodeFilesystems {
        nodefs: FilesystemSpec::new(10 * GI),
        imagefs: Some(FilesystemSpec {
            used_bytes: 3 * GI,
            ..FilesystemSpec::new(4 * GI)
        }),
    });
    let mut cluster = components::cluster::Cluster::build(&config, 7, true);
    // `old` runs briefly and is deleted: its image stays, unused.
    let once = bound_pod(
        "once",
        "pool-1",
        app_container("old:1"),
        RestartPolicy::Never,
    );
    cluster.schedule_action(at(1), Action::Apply(vec![once.into()]));
    cluster.schedule_action(
        at(20),
        Action::Delete {
            kind: components::api::Kind::Pod,
            namespace: s("default"),
            name: s("once"),
            cascade: components::api::PropagationPolicy::Background,
        },
    );
    let writer = bound_pod(
        "writer",
        "pool-1",
        app_container("writer:1"),
        RestartPolicy::Always,
    );
    cluster.schedule_action(at(150), Action::Apply(vec![writer.into()]));
    run_until(&mut cluster, at(300));

    let kernel = cluster
        .sim
        .actor::<Kernel>(cluster.nodes[0].kernel)
        .expect("kernel");
    let stats = kernel
        .disk_stats_at(cluster.sim.now())
        .expect("filesystems");
    // Nothing ever reached the nodefs.
    assert_eq!(stats.nodefs.available_bytes, 10 * GI);
    assert!(kernel.disk_images().iter().all(|i| &**i != "old:1"));

    let steps: Vec<(u64, String)> = cluster
        .steps()
        .map(|r| (r.time.since_start().as_secs(), r.detail.to_string()))
        .collect();
    let first = |text: &str| {
        steps
            .iter()
            .find(|(_, d)| d.contains(text))
            .unwrap_or_else(|| panic!("no step with {text:?}"))
            .0
    };
    let pressure = first("imagefs.available");
    let deleted = first("deleting the unused image");
    let evicted = first("pod default/writer: evicted");
    // The image goes first (the pass that finds the pressure), the writer at a later
    // pass when the threshold is met again.
    assert_eq!(pressure, deleted);
    assert!(evicted > deleted, "{deleted} then {evicted}");
    assert!(
        !steps.iter().any(|(_, d)| d.contains("nodefs.available")),
        "the nodefs signals stay clear"
    );
    let writer = pod(&cluster, "writer");
    assert_eq!(writer.status.phase, PodPhase::Failed);
    assert!(
        writer
            .status
            .message
            .as_deref()
            .is_some_and(|m| m.starts_with("The node was low on resource: ephemeral-storage.")),
        "{:?}",
        writer.status.message
    );
    assert_eq!(
        node(&cluster, "pool-1").status.disk_pressure,
        ConditionStatus::True
    );
    // Five minutes after the threshold was last met the condition clears.
    run_until(&mut cluster, at(evicted + 320));
    assert_eq!(
        node(&cluster, "pool-1").status.disk_pressure,
        ConditionStatus::False
    );
}
