//! The CRI runtimes (containerd, CRI-O) and the OCI runtimes they hand a pod to (runc,
//! crun, Kata Containers, gVisor), with what each costs: how long a sandbox and a
//! container take to start and how much memory a pod's sandbox holds on the node.
//!
//! A node's runtime has a set of configured handlers (containerd's
//! `plugins."io.containerd.cri.v1.runtime".containerd.runtimes.<handler>`, CRI-O's
//! `[crio.runtime.runtimes.<handler>]`) and a default one. A pod's handler comes from its
//! RuntimeClass (`handler`); a pod without one gets the default. Asking for a handler the
//! node does not have fails `RunPodSandbox`.
//!
//! Figures, where published, are cited beside each; the rest are marked assumptions.

use sim_core::SimDuration;

use crate::api::{RuntimeClass, Str, s};

/// The CRI implementation a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CriRuntime {
    Containerd,
    CriO,
}

impl CriRuntime {
    /// The name in scenarios and in the node's `containerRuntimeVersion`
    /// (`containerd://2.1.4`, `cri-o://1.34.1`).
    pub fn name(self) -> &'static str {
        match self {
            CriRuntime::Containerd => "containerd",
            CriRuntime::CriO => "cri-o",
        }
    }

    pub fn parse(name: &str) -> Option<CriRuntime> {
        match name {
            "containerd" => Some(CriRuntime::Containerd),
            "cri-o" | "crio" => Some(CriRuntime::CriO),
            _ => None,
        }
    }

    /// The version the CRI `Version` call reports (assumptions: current releases).
    pub fn version(self) -> &'static str {
        match self {
            CriRuntime::Containerd => "2.1.4",
            CriRuntime::CriO => "1.34.1",
        }
    }

    /// The handler a pod without a RuntimeClass gets. containerd's CRI plugin defaults
    /// `default_runtime_name` to `runc`; CRI-O's `default_runtime` is `crun` since 1.31
    /// (its release notes made crun the default; recalled, not re-read).
    pub fn default_handler(self) -> OciRuntime {
        match self {
            CriRuntime::Containerd => OciRuntime::Runc,
            CriRuntime::CriO => OciRuntime::Crun,
        }
    }

    /// CRI-side cost of `RunPodSandbox` on top of the OCI runtime's sandbox start:
    /// metadata, the sandbox's CNI call and its bookkeeping. Assumptions: containerd
    /// 100 ms; CRI-O starts a conmon monitor for the infra container too, 120 ms.
    pub fn sandbox_create_latency(self) -> SimDuration {
        match self {
            CriRuntime::Containerd => SimDuration::from_millis(100),
            CriRuntime::CriO => SimDuration::from_millis(120),
        }
    }

    /// CRI-side cost of `CreateContainer` (snapshot and OCI spec). Assumptions:
    /// containerd 20 ms; CRI-O 30 ms (a conmon per container).
    pub fn container_create_latency(self) -> SimDuration {
        match self {
            CriRuntime::Containerd => SimDuration::from_millis(20),
            CriRuntime::CriO => SimDuration::from_millis(30),
        }
    }

    /// What `RunPodSandbox` answers for a handler the node does not have. containerd's
    /// CRI plugin: `failed to get sandbox runtime: no runtime for "kata" is configured`;
    /// CRI-O refuses a handler missing from its runtime table in the same place.
    pub fn no_handler_message(self, handler: &str, configured: &[RuntimeHandler]) -> String {
        match self {
            CriRuntime::Containerd => {
                format!("failed to get sandbox runtime: no runtime for {handler:?} is configured")
            }
            CriRuntime::CriO => {
                let names: Vec<&str> = configured.iter().map(|h| &*h.name).collect();
                format!(
                    "failed to find runtime handler {handler} from runtime list [{}]",
                    names.join(" ")
                )
            }
        }
    }
}

/// The OCI runtime behind a handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OciRuntime {
    /// runc, the reference runtime (Go).
    Runc,
    /// crun (C): the same job as runc, started faster and in less memory.
    Crun,
    /// Kata Containers: a lightweight VM per pod (QEMU by default), the containers run
    /// inside it.
    Kata,
    /// gVisor's runsc: a user-space kernel (the Sentry, with its Gofer) per pod.
    Runsc,
}

/// What an OCI runtime costs, per pod and per container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OciProfile {
    /// From the sandbox's namespaces being set up to its infra (pause container, VM,
    /// Sentry) running.
    pub sandbox_start: SimDuration,
    /// `create` + `start` of one container once its sandbox runs.
    pub container_start: SimDuration,
    /// Memory the sandbox holds on the node for as long as it exists, whatever its
    /// containers use: the kernel charges it to the node.
    pub sandbox_memory_bytes: u64,
}

impl OciRuntime {
    pub const ALL: [OciRuntime; 4] = [
        OciRuntime::Runc,
        OciRuntime::Crun,
        OciRuntime::Kata,
        OciRuntime::Runsc,
    ];

    /// The usual handler name (`runsc` is how gVisor's docs name the containerd
    /// runtime; kata-deploy installs `kata`, `kata-qemu`, `kata-clh`, ...).
    pub fn name(self) -> &'static str {
        match self {
            OciRuntime::Runc => "runc",
            OciRuntime::Crun => "crun",
            OciRuntime::Kata => "kata",
            OciRuntime::Runsc => "runsc",
        }
    }

    /// The OCI runtime a handler name stands for: the names above, and kata-deploy's
    /// `kata-<hypervisor>` variants.
    pub fn for_handler(handler: &str) -> Option<OciRuntime> {
        match handler {
            "runc" => Some(OciRuntime::Runc),
            "crun" => Some(OciRuntime::Crun),
            "kata" | "kata-qemu" | "kata-clh" | "kata-fc" => Some(OciRuntime::Kata),
            "runsc" | "gvisor" => Some(OciRuntime::Runsc),
            _ => None,
        }
    }

    pub fn profile(self) -> OciProfile {
        match self {
            // Red Hat's crun introduction (Walsh, Rothberg, Scrivano, 2020): 100
            // containers run sequentially took 3.34 s with runc and 1.69 s with crun,
            // so about 33 ms and 17 ms a container; the pause container is one more
            // such start. Sandbox memory (the containerd shim and the pause process) is
            // an assumption: about 12 MiB with runc; crun's own footprint is smaller
            // (the same article runs it under a 512 KiB limit where runc needs 4 MiB),
            // so 9 MiB.
            OciRuntime::Runc => OciProfile {
                sandbox_start: SimDuration::from_millis(33),
                container_start: SimDuration::from_millis(33),
                sandbox_memory_bytes: 12 << 20,
            },
            OciRuntime::Crun => OciProfile {
                sandbox_start: SimDuration::from_millis(17),
                container_start: SimDuration::from_millis(17),
                sandbox_memory_bytes: 9 << 20,
            },
            // The Kuasar project's benchmark (kuasar.io, containerd 1.7, Kata 2.5.2,
            // Cloud Hypervisor) measured 850-950 ms to start a Kata pod and its container
            // through CRI: 850 ms of VM boot here, and 50 ms for the agent to start a
            // container inside it (an assumption). Memory: kata-deploy's RuntimeClass for
            // kata-qemu declares `overhead.podFixed.memory: 160Mi` (130Mi for clh/fc).
            OciRuntime::Kata => OciProfile {
                sandbox_start: SimDuration::from_millis(850),
                container_start: SimDuration::from_millis(50),
                sandbox_memory_bytes: 160 << 20,
            },
            // apoxy.dev's "gVisor cold start: where the time goes" measured `runsc
            // create` + `runsc start` between 81 and 280 ms across eight hosts: 180 ms
            // here. A container inside a running sandbox: 40 ms (an assumption). The
            // Sentry and Gofer's memory: 40 MiB (an assumption; gVisor publishes no
            // fixed figure, its memory tracks the sandboxed workload).
            OciRuntime::Runsc => OciProfile {
                sandbox_start: SimDuration::from_millis(180),
                container_start: SimDuration::from_millis(40),
                sandbox_memory_bytes: 40 << 20,
            },
        }
    }
}

/// One configured handler: its name and the OCI runtime behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeHandler {
    pub name: Str,
    pub oci: OciRuntime,
}

impl RuntimeHandler {
    pub fn new(oci: OciRuntime) -> RuntimeHandler {
        RuntimeHandler {
            name: s(oci.name()),
            oci,
        }
    }
}

/// The handler a sandbox runs with: the one the pod asks for (its RuntimeClass's
/// `handler`), or the default when it asks for none (`""`, as CRI passes it). `Err` is
/// the runtime's refusal.
pub fn select_handler<'a>(
    cri: CriRuntime,
    handlers: &'a [RuntimeHandler],
    default_handler: &str,
    requested: &str,
) -> Result<&'a RuntimeHandler, String> {
    let wanted = if requested.is_empty() {
        default_handler
    } else {
        requested
    };
    handlers
        .iter()
        .find(|h| &*h.name == wanted)
        .ok_or_else(|| cri.no_handler_message(wanted, handlers))
}

/// The kubelet's lookup of a pod's handler (pkg/kubelet/runtimeclass, its
/// `LookupRuntimeHandler`): no RuntimeClass is the runtime's default handler (`""`); a
/// class is its `handler`; a class missing from the kubelet's informer fails the
/// sandbox with the lister's NotFound.
pub fn lookup_runtime_handler<'a>(
    runtime_class_name: Option<&str>,
    find: impl FnOnce(&str) -> Option<&'a RuntimeClass>,
) -> Result<Str, String> {
    match runtime_class_name {
        None | Some("") => Ok(s("")),
        Some(name) => find(name)
            .map(|class| class.handler.clone())
            .ok_or_else(|| format!("runtimeclass.node.k8s.io {name:?} not found")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ObjectMeta;

    #[test]
    fn the_kubelet_resolves_a_pods_handler_through_its_class() {
        let class = RuntimeClass {
            metadata: ObjectMeta::named("", "gvisor"),
            handler: s("runsc"),
            overhead: None,
            scheduling: None,
        };
        let find = |name: &str| (name == "gvisor").then_some(&class);
        assert_eq!(lookup_runtime_handler(None, find).unwrap(), s(""));
        assert_eq!(
            lookup_runtime_handler(Some("gvisor"), find).unwrap(),
            s("runsc")
        );
        assert_eq!(
            lookup_runtime_handler(Some("kata"), find).unwrap_err(),
            "runtimeclass.node.k8s.io \"kata\" not found"
        );
    }

    fn handlers(list: &[OciRuntime]) -> Vec<RuntimeHandler> {
        list.iter().copied().map(RuntimeHandler::new).collect()
    }

    #[test]
    fn a_pod_without_a_handler_gets_the_default() {
        let configured = handlers(&[OciRuntime::Runc, OciRuntime::Kata]);
        let chosen = select_handler(CriRuntime::Containerd, &configured, "runc", "").unwrap();
        assert_eq!(chosen.oci, OciRuntime::Runc);
        let chosen = select_handler(CriRuntime::Containerd, &configured, "runc", "kata").unwrap();
        assert_eq!(chosen.oci, OciRuntime::Kata);
    }

    #[test]
    fn an_unconfigured_handler_is_refused_as_upstream_words_it() {
        let configured = handlers(&[OciRuntime::Runc]);
        assert_eq!(
            select_handler(CriRuntime::Containerd, &configured, "runc", "kata").unwrap_err(),
            "failed to get sandbox runtime: no runtime for \"kata\" is configured"
        );
        let configured = handlers(&[OciRuntime::Crun, OciRuntime::Runc]);
        assert_eq!(
            select_handler(CriRuntime::CriO, &configured, "crun", "runsc").unwrap_err(),
            "failed to find runtime handler runsc from runtime list [crun runc]"
        );
    }

    #[test]
    fn defaults_follow_each_cri_runtime() {
        assert_eq!(CriRuntime::Containerd.default_handler(), OciRuntime::Runc);
        assert_eq!(CriRuntime::CriO.default_handler(), OciRuntime::Crun);
        assert_eq!(CriRuntime::parse("cri-o"), Some(CriRuntime::CriO));
        assert_eq!(CriRuntime::parse("docker"), None);
    }

    #[test]
    fn handler_names_map_to_their_oci_runtimes() {
        for oci in OciRuntime::ALL {
            assert_eq!(OciRuntime::for_handler(oci.name()), Some(oci));
        }
        assert_eq!(OciRuntime::for_handler("kata-qemu"), Some(OciRuntime::Kata));
        assert_eq!(OciRuntime::for_handler("youki"), None);
    }

    #[test]
    fn the_profiles_order_as_published() {
        let [runc, crun, kata, runsc] = OciRuntime::ALL.map(OciRuntime::profile);
        // crun starts about twice as fast as runc, in less memory.
        assert!(
            crun.container_start.saturating_mul(2)
                <= runc.container_start + SimDuration::from_millis(1)
        );
        assert!(crun.sandbox_memory_bytes < runc.sandbox_memory_bytes);
        // A VM per pod is the slowest and largest; gVisor sits between.
        assert!(kata.sandbox_start > runsc.sandbox_start);
        assert!(runsc.sandbox_start > runc.sandbox_start);
        assert!(kata.sandbox_memory_bytes > runsc.sandbox_memory_bytes);
        assert!(runsc.sandbox_memory_bytes > runc.sandbox_memory_bytes);
        // Kata's memory is of the order of the RuntimeClass overheads published for it.
        assert!((120 << 20..=160 << 20).contains(&kata.sandbox_memory_bytes));
    }
}
