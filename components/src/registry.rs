//! An image registry host: serves image pulls at a given size and bandwidth.
//!
//! A pull costs `pull_setup_latency` (manifest and auth round trips) plus the image's size
//! at the per-pull bandwidth; a runtime that already holds the image's layers (a re-pull
//! under `imagePullPolicy: Always`) pays only the setup. The answer carries the image's
//! size and the [`ProcessBehaviour`] its containers have. Pulls in progress live in the
//! registry's memory: if its host goes down they never finish, and the runtime's pull
//! times out.
//!
//! Registry hosts: an image is served by the host its reference resolves to
//! ([`parse_reference`]: `registry.example.com/shop/web:1` by `registry.example.com`,
//! `nginx:1.25` by Docker Hub's `registry-1.docker.io`, `registry.k8s.io/pause:3.10` by
//! `registry.k8s.io`). Each host has its own bandwidth and setup latency
//! ([`RegistryHost`]; a host the scenario did not describe serves as the default one,
//! the top-level fields of [`RegistryConfig`]) and its own outages. One actor stands for
//! every host: hosts share nothing but the actor, and a pull never waits for another.
//!
//! Outage: for a while a host answers every request with `503 Service Unavailable` (the
//! scenario's `registry-outage`), or every host does. Transfers in progress from a host
//! that goes down break off; pulls asked for during its outage fail at once; after it,
//! pulls succeed again, and the other hosts serve throughout.
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

/// A registry host with its own serving speed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryHost {
    /// As image references name it (`quay.io`, `registry.example.com:5000`); `docker.io`
    /// stands for Docker Hub's `registry-1.docker.io`.
    pub host: String,
    /// Per-pull bandwidth in bytes per second.
    pub bandwidth_bytes_per_sec: u64,
    /// Manifest and auth round trips before the layers flow.
    pub pull_setup_latency: SimDuration,
}

#[derive(Clone, Debug)]
pub struct RegistryConfig {
    pub images: Vec<ImageProfile>,
    /// Hosts that serve at their own speed; any other host serves at the defaults below.
    pub hosts: Vec<RegistryHost>,
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
            hosts: Vec::new(),
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
    /// the scenario's timeline → registry: answer 503 for `duration` to every pull from
    /// `host` (`None`: from every host).
    Outage {
        duration: SimDuration,
        host: Option<Str>,
    },
}

#[derive(Clone, Debug)]
pub enum Tick {
    /// A transfer in progress finished.
    Transferred { serial: u64 },
    /// An outage that was to last until `until` is over (ignored if a later outage of
    /// the same host extended it).
    OutageOver { until: SimTime },
}

/// The outages in force: by host (`None`: every host), until when.
pub type Outages = BTreeMap<Option<Str>, SimTime>;

/// Whether a pull from `host` is refused at `now`.
pub fn refuses(outages: &Outages, host: &str, now: SimTime) -> bool {
    outages
        .iter()
        .any(|(down, until)| now < *until && down.as_deref().is_none_or(|down| down == host))
}

/// Docker Hub's registry host, which `docker.io` (and `index.docker.io`) references
/// resolve to (containerd's docker resolver).
pub const DOCKER_HUB_HOST: &str = "registry-1.docker.io";

/// The host a registry name stands for: Docker Hub's names are its API host.
pub fn canonical_host(host: &str) -> &str {
    match host {
        "docker.io" | "index.docker.io" => DOCKER_HUB_HOST,
        other => other,
    }
}

/// An image reference's registry host, repository path and tag or digest, as
/// containerd's resolver reads it: the host is the first component when that looks like
/// a host (has a `.` or a `:`, or is `localhost`), else `default_host`; a
/// single-component Docker Hub name gets `library/`; no tag means `latest`.
pub fn parse_reference<'a>(image: &'a str, default_host: &'a str) -> (&'a str, String, &'a str) {
    let (host, path, reference) = split_reference(image, default_host);
    let path = if host == DOCKER_HUB_HOST && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    (host, path, reference)
}

fn split_reference<'a>(image: &'a str, default_host: &'a str) -> (&'a str, String, &'a str) {
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
            (canonical_host(first), rest.to_string())
        }
        _ if !name.contains('/') => (default_host, format!("library/{name}")),
        _ => (default_host, name.to_string()),
    };
    (host, path, reference)
}

/// Where a client sends the manifest request for `image` (see `parse_reference`; a
/// digest is looked up as is).
pub fn manifest_url(image: &str, default_host: &str) -> String {
    let (host, path, reference) = parse_reference(image, default_host);
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
    /// Index into `config.hosts` by (canonical) host.
    host_index: BTreeMap<String, usize>,
    default_behaviour: ProcessBehaviour,
    transfers: BTreeMap<u64, Transfer>,
    next_serial: u64,
    pulls_served_count: u64,
    pulls_failed_count: u64,
    outages: Outages,
}

impl Registry {
    pub fn new(config: RegistryConfig) -> Registry {
        let mut catalog = BTreeMap::new();
        for (index, image) in config.images.iter().enumerate() {
            let previous = catalog.insert(image.name.clone(), index);
            assert!(previous.is_none(), "image {} listed twice", image.name);
        }
        let mut host_index = BTreeMap::new();
        for (index, host) in config.hosts.iter().enumerate() {
            assert!(
                host.bandwidth_bytes_per_sec > 0,
                "registry host {} with no bandwidth",
                host.host
            );
            let previous = host_index.insert(canonical_host(&host.host).to_string(), index);
            assert!(
                previous.is_none(),
                "registry host {} listed twice",
                host.host
            );
        }
        Registry {
            config,
            catalog,
            host_index,
            default_behaviour: ProcessBehaviour::default(),
            transfers: BTreeMap::new(),
            next_serial: 0,
            pulls_served_count: 0,
            pulls_failed_count: 0,
            outages: Outages::new(),
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

    /// Whether a pull of `image` is refused at `now`.
    pub fn refuses(&self, image: &str, now: SimTime) -> bool {
        refuses(&self.outages, self.host_of(image), now)
    }

    fn host_of<'a>(&'a self, image: &'a str) -> &'a str {
        parse_reference(image, &self.config.default_host).0
    }

    /// The bandwidth (bytes per second) and setup latency `host` serves at.
    pub fn serving(&self, host: &str) -> (u64, SimDuration) {
        match self.host_index.get(canonical_host(host)) {
            Some(&index) => {
                let served_by = &self.config.hosts[index];
                (
                    served_by.bandwidth_bytes_per_sec,
                    served_by.pull_setup_latency,
                )
            }
            None => (
                self.config.bandwidth_bytes_per_sec,
                self.config.pull_setup_latency,
            ),
        }
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

    /// `host` (or every host) starts answering 503 for `duration`: its transfers under
    /// way break off.
    fn begin_outage(
        &mut self,
        duration: SimDuration,
        host: Option<Str>,
        cx: &mut Context<'_, Msg>,
    ) {
        let now = cx.now();
        let until = now + duration;
        let until = self
            .outages
            .get(&host)
            .map_or(until, |&already| Ord::max(already, until));
        self.outages.insert(host.clone(), until);
        let mut broken = Vec::new();
        let serials: Vec<u64> = self.transfers.keys().copied().collect();
        for serial in serials {
            let RegistryMsg::Pulled { image, .. } = &self.transfers[&serial].reply else {
                panic!("a transfer carries its Pulled answer");
            };
            if self.refuses(image, now) {
                broken.push(self.transfers.remove(&serial).expect("listed"));
            }
        }
        let broken_count = broken.len();
        cx.record("step", || {
            let which = host.as_deref().unwrap_or("every host");
            format!(
                "registry: outage of {which} until {until}: every pull gets 503 Service Unavailable; {broken_count} transfers under way break off"
            )
        });
        for transfer in broken {
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
        if self.refuses(&image, cx.now()) {
            let cause = outage_cause(&image, &self.config.default_host);
            cx.record("detail", || {
                format!("registry: refused {image} (503, outage)")
            });
            self.fail(client, pull_id, image, cause, cx);
            return;
        }
        let (size_bytes, behaviour) = self.profile(&image);
        let behaviour = behaviour.clone();
        let host = self.host_of(&image);
        let (bandwidth_bytes_per_sec, setup) = self.serving(host);
        let took = pull_duration(setup, size_bytes, bandwidth_bytes_per_sec, layers_cached);
        cx.record("detail", || {
            format!(
                "registry {host}: serving {image} ({}) in {took}",
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
                RegistryMsg::Outage { duration, host } => self.begin_outage(duration, host, cx),
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
                let now = cx.now();
                let over: Vec<Option<Str>> = self
                    .outages
                    .iter()
                    .filter(|(_, end)| **end == until && until <= now)
                    .map(|(host, _)| host.clone())
                    .collect();
                for host in over {
                    self.outages.remove(&host);
                    cx.record("step", || {
                        let which = host.as_deref().unwrap_or("every host");
                        format!("registry: outage of {which} over, serving pulls again")
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
        self.outages.clear();
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
            RegistryMsg::Outage { duration, host } => {
                hasher.write_u64(4);
                hasher.write_u64(duration.as_nanos());
                hasher.write_str(host.as_deref().unwrap_or(""));
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
    fn an_outage_refuses_its_host_until_it_ends() {
        let t = |secs| SimTime::ZERO + SimDuration::from_secs(secs);
        let mut outages = Outages::new();
        assert!(!refuses(&outages, "registry-1.docker.io", t(0)));
        outages.insert(Some(crate::api::s("registry.example.com")), t(120));
        assert!(refuses(&outages, "registry.example.com", t(119)));
        assert!(!refuses(&outages, "registry.example.com", t(120)));
        assert!(!refuses(&outages, "registry-1.docker.io", t(60)));
        outages.insert(None, t(30));
        assert!(refuses(&outages, "registry-1.docker.io", t(29)));
        assert!(!refuses(&outages, "registry-1.docker.io", t(30)));
        let hub = "registry-1.docker.io";
        assert_eq!(parse_reference("nginx", hub).0, hub);
        assert_eq!(
            parse_reference("registry.example.com/shop/web:1", hub).0,
            "registry.example.com"
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
    fn each_registry_host_serves_at_its_own_speed() {
        let config = RegistryConfig {
            hosts: vec![
                RegistryHost {
                    host: "quay.io".to_string(),
                    bandwidth_bytes_per_sec: 10_000_000,
                    pull_setup_latency: SimDuration::from_secs(1),
                },
                RegistryHost {
                    host: "docker.io".to_string(),
                    bandwidth_bytes_per_sec: 100_000_000,
                    pull_setup_latency: SimDuration::from_millis(300),
                },
            ],
            ..RegistryConfig::default()
        };
        let registry = Registry::new(config);
        let hub = registry.host_of("nginx:1.25");
        assert_eq!(hub, DOCKER_HUB_HOST);
        assert_eq!(
            registry.serving(hub),
            (100_000_000, SimDuration::from_millis(300)),
            "docker.io names Docker Hub's host"
        );
        assert_eq!(
            registry.serving(registry.host_of("quay.io/prometheus/node-exporter:v1.8.0")),
            (10_000_000, SimDuration::from_secs(1))
        );
        // A host the scenario did not describe serves at the defaults.
        assert_eq!(
            registry.serving(registry.host_of("registry.k8s.io/pause:3.10")),
            (50_000_000, SimDuration::from_millis(200))
        );
        // 50 MB from quay.io: 1 s of round trips, then 5 s of transfer.
        let (bandwidth, setup) = registry.serving("quay.io");
        assert_eq!(
            pull_duration(setup, 50_000_000, bandwidth, false),
            SimDuration::from_secs(6)
        );
        assert_eq!(
            manifest_url("docker.io/library/nginx:1.25", "registry-1.docker.io"),
            "https://registry-1.docker.io/v2/library/nginx/manifests/1.25"
        );
        assert_eq!(
            manifest_url("docker.io/nginx", "registry-1.docker.io"),
            "https://registry-1.docker.io/v2/library/nginx/manifests/latest"
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
