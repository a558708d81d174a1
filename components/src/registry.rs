//! An image registry host: serves image pulls at a given size and bandwidth.
//!
//! A pull costs `pull_setup_latency` (manifest and auth round trips) plus the image's size
//! at the per-pull bandwidth; a runtime that already holds the image's layers (a re-pull
//! under `imagePullPolicy: Always`) pays only the setup. The answer carries the image's
//! size and the [`ProcessBehaviour`] its containers have. Pulls in progress live in the
//! registry's memory: if its host goes down they never finish, and the runtime's pull
//! times out.

use std::collections::BTreeMap;

use sim_core::{Actor, ActorId, Context, Event, SimDuration, TraceHasher};

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
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            images: Vec::new(),
            default_image_size_bytes: 50 << 20,
            bandwidth_bytes_per_sec: 50_000_000,
            pull_setup_latency: SimDuration::from_millis(200),
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
}

#[derive(Clone, Debug)]
pub enum Tick {
    /// A transfer in progress finished.
    Transferred { serial: u64 },
}

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
        }
    }

    /// Pulls answered since the start of the run.
    pub fn pulls_served_count(&self) -> u64 {
        self.pulls_served_count
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
                RegistryMsg::Pulled { .. } => {
                    panic!("the registry got a pull answer: {message:?}")
                }
            },
            Event::Timer(Msg::Tick(AnyTick::Registry(Tick::Transferred { serial }))) => {
                let transfer = self
                    .transfers
                    .remove(&serial)
                    .expect("each transfer finishes once");
                self.pulls_served_count += 1;
                cx.send(transfer.client, Msg::Registry(Box::new(transfer.reply)));
            }
            Event::Message { msg, .. } | Event::Timer(msg) => {
                panic!("registry got an unexpected message: {msg:?}")
            }
        }
    }

    fn on_crash(&mut self) {
        // Transfers in progress die with their connections.
        self.transfers.clear();
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
        }
    }
}

impl Fingerprint for Tick {
    fn fingerprint(&self, hasher: &mut TraceHasher) {
        match self {
            Tick::Transferred { serial } => hasher.write_u64(*serial),
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
