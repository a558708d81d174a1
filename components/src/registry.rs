//! An image registry host: serves image pulls at a given size and bandwidth.
//!
//! A pull costs `pull_setup_latency` (manifest and auth round trips) plus the image's size
//! at the per-pull bandwidth; a runtime that already holds the image's layers (a re-pull
//! under `imagePullPolicy: Always`) pays only the setup. The answer carries the image's
//! size and the [`ProcessBehaviour`] its containers have. Pulls in progress live in the
//! registry's memory: if its host goes down they never finish, and the runtime's pull
//! times out.
//!
//! Outage: for a while the registry answers every request with `503 Service
//! Unavailable` (the scenario's `registry-outage`). Transfers in progress when it starts
//! break off; pulls asked for during it fail at once; after it, pulls succeed again.
//! The runtime reports the failure to the kubelet, which shows ErrImagePull and then
//! ImagePullBackOff on the pod.

use std::collections::BTreeMap;

use sim_core::{Actor, ActorId, Context, Event, SimDuration, SimTime, TraceHasher};

use crate::api::Str;
use crate::api::quantity::format_bytes;
use crate::kernel::ProcessBehaviour;
use crate::msg::{Fingerprint, Msg, Tick as AnyTick};

/// An image the registry serves, and how its containers behave once started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageProfile {
    /// Full reference as pods name it, e.g. `nginx:1.14.2`.
    pub name: String,
    pub size_bytes: u64,
    pub behaviour: ProcessBehaviour,
}

#[derive(Clone, Debug)]
pub struct RegistryConfig {
    pub images: Vec<ImageProfile>,
    /// Size of an image the scenario did not describe (an assumption: a typical slim
    /// application image).
    pub default_image_size_bytes: u64,
    /// Per-pull bandwidth in bytes per second (an assumption: 50 MB/s).
    pub bandwidth_bytes_per_sec: u64,
    /// Manifest and auth round trips before the layers flow (an assumption).
    pub pull_setup_latency: SimDuration,
    /// The registry host references without one resolve to (Docker Hub's, as
    /// containerd and CRI-O resolve `nginx:1.25` to `docker.io/library/nginx:1.25`).
    pub default_host: String,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            images: Vec::new(),
            default_image_size_bytes: 50 << 20,
            bandwidth_bytes_per_sec: 50_000_000,
            pull_setup_latency: SimDuration::from_millis(200),
            default_host: "registry-1.docker.io".to_string(),
        }
    }
}

/// Between a container runtime and the registry, both ways.
#[derive(Clone, Debug)]
pub enum RegistryMsg {
    /// runtime → registry: pull `image`. `layers_cached`: the runtime already holds the
    /// layers and only resolves the reference.
    Pull {
        pull_id: u64,
        image: Str,
        layers_cached: bool,
    },
    /// registry → runtime: the image has been transferred.
    Pulled {
        pull_id: u64,
        image: Str,
        size_bytes: u64,
        behaviour: ProcessBehaviour,
    },
    /// registry → runtime: the pull failed; `cause` is what the client library reports.
    Failed {
        pull_id: u64,
        image: Str,
        cause: String,
    },
    /// the scenario's timeline → registry: answer 503 to everything for `duration`.
    Outage { duration: SimDuration },
}

#[derive(Clone, Debug)]
pub enum Tick {
    /// A transfer in progress finished.
    Transferred { serial: u64 },
    /// The outage that was to last until `until` is over (ignored if a later outage
    /// extended it).
    OutageOver { until: SimTime },
}

/// Whether the registry serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    Up,
    /// Answering 503 until then.
    Down {
        until: SimTime,
    },
}

/// Where a client sends the manifest request for `image`, as containerd's resolver
/// builds it: the host is the reference's first component when that looks like a host
/// (has a `.` or a `:`, or is `localhost`), else `default_host`; a single-component
/// Docker Hub name gets `library/`; no tag means `latest`; a digest is looked up as is.
pub fn manifest_url(image: &str, default_host: &str) -> String {
    let (name, reference) = match image.split_once('@') {
        Some((name, digest)) => (name, digest),
        None => match image.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, tag),
            _ => (image, "latest"),
        },
    };
    let (host, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first, rest.to_string())
        }
        _ if !name.contains('/') => (default_host, format!("library/{name}")),
        _ => (default_host, name.to_string()),
    };
    format!("https://{host}/v2/{path}/manifests/{reference}")
}

/// Why a pull asked for during an outage fails: the manifest request's status.
pub fn outage_cause(image: &str, default_host: &str) -> String {
    format!(
        "failed to resolve reference {image:?}: unexpected status from HEAD request to {}: 503 Service Unavailable",
        manifest_url(image, default_host)
    )
}

/// Why a transfer under way when the outage begins fails.
pub const BROKEN_TRANSFER_CAUSE: &str =
    "failed to copy: httpReadSeeker: failed open: unexpected status code 503 Service Unavailable";

/// How long a pull takes: setup, then the bytes at the bandwidth (integer nanoseconds,
/// rounded up). A zero bandwidth is a configuration error.
pub fn pull_duration(
    setup: SimDuration,
    size_bytes: u64,
    bandwidth_bytes_per_sec: u64,
    layers_cached: bool,
) -> SimDuration {
    assert!(
        bandwidth_bytes_per_sec > 0,
        "registry bandwidth must be positive"
    );
    if layers_cached {
        return setup;
    }
    let transfer_nanos =
        (u128::from(size_bytes) * 1_000_000_000).div_ceil(u128::from(bandwidth_bytes_per_sec));
    setup + SimDuration::from_nanos(u64::try_from(transfer_nanos).unwrap_or(u64::MAX))
}

#[derive(Clone, Debug)]
struct Transfer {
    client: ActorId,
    reply: RegistryMsg,
}

pub struct Registry {
    config: RegistryConfig,
    /// Index into `config.images` by name.
    catalog: BTreeMap<String, usize>,
    default_behaviour: ProcessBehaviour,
    transfers: BTreeMap<u64, Transfer>,
    next_serial: u64,
    pulls_served_count: u64,
    pulls_failed_count: u64,
    availability: Availability,
}

impl Registry {
    pub fn new(config: RegistryConfig) -> Registry {
        let mut catalog = BTreeMap::new();
        for (index, image) in config.images.iter().enumerate() {
            let previous = catalog.insert(image.name.clone(), index);
            assert!(previous.is_none(), "image {} listed twice", image.name);
        }
        Registry {
            config,
            catalog,
            default_behaviour: ProcessBehaviour::default(),
            transfers: BTreeMap::new(),
            next_serial: 0,
            pulls_served_count: 0,
            pulls_failed_count: 0,
            availability: Availability::Up,
        }
    }

    /// Pulls answered since the start of the run.
    pub fn pulls_served_count(&self) -> u64 {
        self.pulls_served_count
    }

    /// Pulls that failed because of an outage.
    pub fn pulls_failed_count(&self) -> u64 {
        self.pulls_failed_count
    }

    pub fn availability(&self) -> Availability {
        self.availability
    }

    fn fail(
        &mut self,
        client: ActorId,
        pull_id: u64,
        image: Str,
        cause: String,
        cx: &mut Context<'_, Msg>,
    ) {
        self.pulls_failed_count += 1;
        cx.send(
            client,
            Msg::Registry(Box::new(RegistryMsg::Failed {
                pull_id,
                image,
                cause,
            })),
        );
    }

    /// The registry starts answering 503 for `duration`: transfers under way break off.
    fn begin_outage(&mut self, duration: SimDuration, cx: &mut Context<'_, Msg>) {
        let until = cx.now() + duration;
        let until = match self.availability {
            Availability::Down { until: already } => Ord::max(already, until),
            Availability::Up => until,
        };
        self.availability = Availability::Down { until };
        let broken = std::mem::take(&mut self.transfers);
        let broken_count = broken.len();
        cx.record("step", || {
            format!(
                "registry: outage until {until}: every request gets 503 Service Unavailable; {broken_count} transfers under way break off"
            )
        });
        for transfer in broken.into_values() {
            let RegistryMsg::Pulled { pull_id, image, .. } = transfer.reply else {
                panic!("a transfer carries its Pulled answer");
            };
            self.fail(
                transfer.client,
                pull_id,
                image,
                BROKEN_TRANSFER_CAUSE.to_string(),
                cx,
            );
        }
        cx.timer(
            until.saturating_since(cx.now()),
            Msg::Tick(AnyTick::Registry(Tick::OutageOver { until })),
        );
    }

    /// Size and behaviour of `image`: as configured, or the defaults.
    fn profile(&self, image: &str) -> (u64, &ProcessBehaviour) {
        match self.catalog.get(image) {
            Some(&index) => {
                let profile = &self.config.images[index];
                (profile.size_bytes, &profile.behaviour)
            }
            None => (
                self.config.default_image_size_bytes,
                &self.default_behaviour,
            ),
        }
    }

    fn on_pull(
        &mut self,
        client: ActorId,
        pull_id: u64,
        image: Str,
        layers_cached: bool,
        cx: &mut Context<'_, Msg>,
    ) {
        if let Availability::Down { .. } = self.availability {
            let cause = outage_cause(&image, &self.config.default_host);
            cx.record("detail", || {
                format!("registry: refused {image} (503, outage)")
            });
            self.fail(client, pull_id, image, cause, cx);
            return;
        }
        let (size_bytes, behaviour) = self.profile(&image);
        let behaviour = behaviour.clone();
        let took = pull_duration(
            self.config.pull_setup_latency,
            size_bytes,
            self.config.bandwidth_bytes_per_sec,
            layers_cached,
        );
        cx.record("detail", || {
            format!(
                "registry: serving {image} ({}) in {took}",
                format_bytes(size_bytes)
            )
        });
        let serial = self.next_serial;
        self.next_serial += 1;
        self.transfers.insert(
            serial,
            Transfer {
                client,
                reply: RegistryMsg::Pulled {
                    pull_id,
                    image,
                    size_bytes,
                    behaviour,
                },
            },
        );
        cx.timer(
            took,
            Msg::Tick(AnyTick::Registry(Tick::Transferred { serial })),
        );
    }
}

impl Actor<Msg> for Registry {
    fn on_event(&mut self, event: Event<Msg>, cx: &mut Context<'_, Msg>) {
        match event {
            Event::Start => {}
            Event::Message {
                from,
                msg: Msg::Registry(message),
            } => match *message {
                RegistryMsg::Pull {
                    pull_id,
                    image,
                    layers_cached,
                } => self.on_pull(from, pull_id, image, layers_cached, cx),
                RegistryMsg::Pulled { .. }
                | RegistryMsg::Failed { .. }
                | RegistryMsg::Outage { .. } => {
                    panic!("the registry got a pull answer: {message:?}")
                }
            },
            // The scenario's timeline delivers an outage as a timer of the registry's.
            Event::Timer(Msg::Registry(message)) => match *message {
                RegistryMsg::Outage { duration } => self.begin_outage(duration, cx),
                other => panic!("registry got an unexpected timeline message: {other:?}"),
            },
            Event::Timer(Msg::Tick(AnyTick::Registry(Tick::Transferred { serial }))) => {
                // A transfer broken off by an outage has been answered already.
                if let Some(transfer) = self.transfers.remove(&serial) {
                    self.pulls_served_count += 1;
                    cx.send(transfer.client, Msg::Registry(Box::new(transfer.reply)));
                }
            }
            Event::Timer(Msg::Tick(AnyTick::Registry(Tick::OutageOver { until }))) => {
                if self.availability == (Availability::Down { until }) {
                    self.availability = Availability::Up;
                    cx.record("step", || {
                        "registry: outage over, serving pulls again".to_string()
                    });
                }
            }
            Event::Message { msg, .. } | Event::Timer(msg) => {
                panic!("registry got an unexpected message: {msg:?}")
            }
        }
    }

    fn on_crash(&mut self) {
        // Transfers in progress die with their connections; an outage is the service's
        // state, not the host's, and a crash ends it too.
        self.transfers.clear();
        self.availability = Availability::Up;
    }
}

impl Fingerprint for RegistryMsg {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            RegistryMsg::Pull {
                pull_id,
                image,
                layers_cached,
            } => {
                hasher.write_u64(1);
                hasher.write_u64(*pull_id);
                hasher.write_str(image);
                hasher.write_u64(u64::from(*layers_cached));
            }
            RegistryMsg::Pulled {
                pull_id,
                image,
                size_bytes,
                ..
            } => {
                hasher.write_u64(2);
                hasher.write_u64(*pull_id);
                hasher.write_str(image);
                hasher.write_u64(*size_bytes);
            }
            RegistryMsg::Failed { pull_id, image, .. } => {
                hasher.write_u64(3);
                hasher.write_u64(*pull_id);
                hasher.write_str(image);
            }
            RegistryMsg::Outage { duration } => {
                hasher.write_u64(4);
                hasher.write_u64(duration.as_nanos());
            }
        }
    }
}

impl Fingerprint for Tick {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            Tick::Transferred { serial } => hasher.write_u64(*serial),
            Tick::OutageOver { until } => {
                hasher.write_u64(1 << 63);
                hasher.write_u64(until.as_nanos());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_time_is_setup_plus_size_over_bandwidth() {
        let setup = SimDuration::from_millis(200);
        // 50 MB at 50 MB/s: one second of transfer.
        assert_eq!(
            pull_duration(setup, 50_000_000, 50_000_000, false),
            SimDuration::from_millis(1200)
        );
        // 70 MiB at 50 MB/s = 1.468006400 s.
        assert_eq!(
            pull_duration(setup, 70 << 20, 50_000_000, false),
            SimDuration::from_nanos(200_000_000 + 1_468_006_400)
        );
        // Rounded up to the next nanosecond.
        assert_eq!(
            pull_duration(SimDuration::ZERO, 1, 3, false),
            SimDuration::from_nanos(333_333_334)
        );
        // Cached layers: only the manifest round trips.
        assert_eq!(pull_duration(setup, 70 << 20, 50_000_000, true), setup);
    }

    #[test]
    fn manifest_urls_resolve_as_containerd_does() {
        let hub = "registry-1.docker.io";
        assert_eq!(
            manifest_url("nginx:1.25", hub),
            "https://registry-1.docker.io/v2/library/nginx/manifests/1.25"
        );
        assert_eq!(
            manifest_url("nginx", hub),
            "https://registry-1.docker.io/v2/library/nginx/manifests/latest"
        );
        assert_eq!(
            manifest_url("bitnami/redis:7", hub),
            "https://registry-1.docker.io/v2/bitnami/redis/manifests/7"
        );
        assert_eq!(
            manifest_url("registry.k8s.io/pause:3.10", hub),
            "https://registry.k8s.io/v2/pause/manifests/3.10"
        );
        assert_eq!(
            manifest_url("localhost:5000/app", hub),
            "https://localhost:5000/v2/app/manifests/latest"
        );
        assert_eq!(
            manifest_url("ghcr.io/org/app@sha256:abc", hub),
            "https://ghcr.io/v2/org/app/manifests/sha256:abc"
        );
    }

    #[test]
    fn an_outage_refusal_names_the_manifest_request() {
        assert_eq!(
            outage_cause("nginx:1.25", "registry-1.docker.io"),
            "failed to resolve reference \"nginx:1.25\": unexpected status from HEAD request to https://registry-1.docker.io/v2/library/nginx/manifests/1.25: 503 Service Unavailable"
        );
    }

    #[test]
    fn unknown_images_get_the_defaults() {
        let config = RegistryConfig {
            images: vec![ImageProfile {
                name: "nginx:1.14.2".to_string(),
                size_bytes: 70 << 20,
                behaviour: ProcessBehaviour {
                    startup: SimDuration::from_secs(2),
                    ..ProcessBehaviour::default()
                },
            }],
            ..RegistryConfig::default()
        };
        let registry = Registry::new(config);
        let (size, behaviour) = registry.profile("nginx:1.14.2");
        assert_eq!(size, 70 << 20);
        assert_eq!(behaviour.startup, SimDuration::from_secs(2));
        let (size, behaviour) = registry.profile("busybox");
        assert_eq!(size, 50 << 20);
        assert_eq!(*behaviour, ProcessBehaviour::default());
    }
}
