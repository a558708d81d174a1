//! The node's filesystems as its kernel accounts for them, and the eviction signals the
//! kubelet reads from them (upstream `pkg/kubelet/eviction`, v1.34, over the Summary
//! API's `fs` and `runtime.imageFs`).
//!
//! - nodefs: the filesystem of the kubelet's root directory (`/var/lib/kubelet`, pod logs
//!   under `/var/log/pods`): its size is the node's `ephemeral-storage` capacity.
//! - imagefs: the container runtime's (containerd's `/var/lib/containerd`): image layers
//!   and, by default, the containers' writable layers. Without a dedicated disk it is the
//!   nodefs itself, and the imagefs signals observe the same device (cAdvisor reports
//!   the capacity and free space of the device the image directory is on).
//!
//! What fills them: what the operating system and other files hold from the start (the
//! node pool's `used`), the images in the runtime's store, and each container's writable
//! layer, written at its behaviour's `diskGrowth` from its process's start until it
//! exits; the files stay until the runtime removes the container with its sandbox. Usage
//! is a sum of constant rates, so the instant a threshold is crossed is solved, never
//! ticked.
//!
//! Not modelled (absent, not pretended): container logs on stdout (the kubelet rotates
//! them at `containerLogMaxSize` 10Mi × `containerLogMaxFiles` 5, so they cannot fill a
//! disk), emptyDir volumes (kubesim pods declare no volumes), inodes created by
//! containers' writes (a write appends to files the image already has; only images and
//! the node pool's `usedInodes` use inodes), and the split image filesystem
//! (`containerfs`, KEP-4191, off by default).

use std::collections::{BTreeMap, BTreeSet};

use sim_core::{SimDuration, SimTime};

use crate::api::Str;
use crate::api::quantity::format_bytes;

/// mke2fs's default `inode_ratio` (mke2fs.conf `[defaults]`, 16384): an ext4 filesystem
/// made without `-i` has one inode per 16 KiB of its size.
pub const DEFAULT_BYTES_PER_INODE: u64 = 16 << 10;

/// The files an image's unpacked layers hold: one per 32 KiB of the image (an
/// assumption: a distribution base image of 70Mi unpacks to a few thousand files).
pub const IMAGE_BYTES_PER_FILE: u64 = 32 << 10;

/// One filesystem's size and what holds it before any pod runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilesystemSpec {
    pub capacity_bytes: u64,
    pub inodes: u64,
    /// The operating system and other files (an assumption per node pool; default 0).
    pub used_bytes: u64,
    pub used_inodes: u64,
}

impl FilesystemSpec {
    /// A filesystem of `capacity_bytes` made with mke2fs's defaults, empty.
    pub fn new(capacity_bytes: u64) -> FilesystemSpec {
        FilesystemSpec {
            capacity_bytes,
            inodes: capacity_bytes / DEFAULT_BYTES_PER_INODE,
            used_bytes: 0,
            used_inodes: 0,
        }
    }
}

/// A node's disks: the nodefs and, if the runtime has its own disk, the imagefs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeFilesystems {
    pub nodefs: FilesystemSpec,
    /// A dedicated image filesystem; `None`: images and writable layers are on nodefs.
    pub imagefs: Option<FilesystemSpec>,
}

/// The filesystem eviction signals (upstream `evictionapi.Signal`), in the order the
/// manager looks at them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DiskSignal {
    NodeFsAvailable,
    NodeFsInodesFree,
    ImageFsAvailable,
    ImageFsInodesFree,
}

impl DiskSignal {
    pub const ALL: [DiskSignal; 4] = [
        DiskSignal::NodeFsAvailable,
        DiskSignal::NodeFsInodesFree,
        DiskSignal::ImageFsAvailable,
        DiskSignal::ImageFsInodesFree,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DiskSignal::NodeFsAvailable => "nodefs.available",
            DiskSignal::NodeFsInodesFree => "nodefs.inodesFree",
            DiskSignal::ImageFsAvailable => "imagefs.available",
            DiskSignal::ImageFsInodesFree => "imagefs.inodesFree",
        }
    }

    pub fn parse(name: &str) -> Option<DiskSignal> {
        DiskSignal::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether the signal counts inodes (upstream `resourceInodes`) rather than bytes
    /// (`ephemeral-storage`).
    pub fn counts_inodes(self) -> bool {
        matches!(
            self,
            DiskSignal::NodeFsInodesFree | DiskSignal::ImageFsInodesFree
        )
    }

    pub fn on_imagefs(self) -> bool {
        matches!(
            self,
            DiskSignal::ImageFsAvailable | DiskSignal::ImageFsInodesFree
        )
    }

    /// The resource an eviction for this signal reclaims (upstream `signalToResource`).
    pub fn resource(self) -> &'static str {
        if self.counts_inodes() {
            "inodes"
        } else {
            "ephemeral-storage"
        }
    }

    fn code(self) -> u64 {
        self as u64
    }
}

/// A threshold's value: a quantity (bytes or inodes) or a share of the capacity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ThresholdValue {
    Quantity(u64),
    /// As upstream parses `10%`: a float32, the number over 100.
    Percentage(f32),
    /// Whole percent in integers: met when `available × 100 < percent × capacity`. The
    /// image GC's trigger (`100 − available × 100 / capacity ≥ high` is `available × 100
    /// < (100 − high + 1) × capacity`).
    WholePercent(u64),
}

impl ThresholdValue {
    /// `10%` (upstream `parsePercentage`: `float32(ParseFloat(n, 32)) / 100`).
    pub fn percentage(text: &str) -> Option<ThresholdValue> {
        let number = text.trim().strip_suffix('%')?;
        let value: f32 = number.trim().parse().ok()?;
        (value.is_finite() && (0.0..=100.0).contains(&value))
            .then_some(ThresholdValue::Percentage(value / 100.0))
    }

    /// Upstream `GetThresholdQuantity`: the quantity itself, or
    /// `int64(float64(capacity) * float64(percentage))` (a product and a truncation,
    /// the same on every machine).
    pub fn quantity(self, capacity: u64) -> u64 {
        match self {
            ThresholdValue::Quantity(quantity) => quantity,
            ThresholdValue::Percentage(share) => (capacity as f64 * f64::from(share)) as u64,
            // a < ⌈p·c/100⌉  ⇔  100·a < p·c for an integer a.
            ThresholdValue::WholePercent(percent) => {
                let product = u128::from(capacity) * u128::from(percent);
                u64::try_from(product.div_ceil(100)).unwrap_or(u64::MAX)
            }
        }
    }

    /// As the scenario wrote it (`10%`, `1Gi`).
    pub fn describe(self) -> String {
        match self {
            ThresholdValue::Quantity(quantity) => format_bytes(quantity),
            ThresholdValue::WholePercent(percent) => format!("{percent}%"),
            ThresholdValue::Percentage(share) => {
                // To a hundredth of a percent: float32's 0.15 is 15.000001 %.
                let hundredths = (f64::from(share) * 10_000.0).round() as u64;
                let (whole, fraction) = (hundredths / 100, hundredths % 100);
                match fraction {
                    0 => format!("{whole}%"),
                    f if f % 10 == 0 => format!("{whole}.{}%", f / 10),
                    f => format!("{whole}.{f:02}%"),
                }
            }
        }
    }
}

/// One `evictionHard` entry on a filesystem signal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiskThreshold {
    pub signal: DiskSignal,
    pub value: ThresholdValue,
}

/// Upstream's default `evictionHard` on the filesystems (`DefaultEvictionHard`,
/// pkg/kubelet/eviction/defaults_linux.go): nodefs.available<10%, nodefs.inodesFree<5%,
/// imagefs.available<15%. `imagefs.inodesFree` is a signal but not a default.
pub fn default_disk_thresholds() -> Vec<DiskThreshold> {
    let percent = |signal, value: f32| DiskThreshold {
        signal,
        value: ThresholdValue::Percentage(value / 100.0),
    };
    vec![
        percent(DiskSignal::NodeFsAvailable, 10.0),
        percent(DiskSignal::NodeFsInodesFree, 5.0),
        percent(DiskSignal::ImageFsAvailable, 15.0),
    ]
}

/// One filesystem as the Summary API reports it (`FsStats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FsStats {
    pub capacity_bytes: u64,
    pub available_bytes: u64,
    pub inodes: u64,
    pub inodes_free: u64,
}

/// What an observation of a signal reads: the capacity and what is left of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observation {
    pub capacity: u64,
    pub available: u64,
}

impl FsStats {
    fn observe(&self, counts_inodes: bool) -> Observation {
        if counts_inodes {
            Observation {
                capacity: self.inodes,
                available: self.inodes_free,
            }
        } else {
            Observation {
                capacity: self.capacity_bytes,
                available: self.available_bytes,
            }
        }
    }
}

/// A container's use of the node's filesystems (the Summary API's container `rootfs`
/// and `logs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContainerFsStats {
    pub pod_uid: u64,
    /// The container's id, which is its process's id in the kernel.
    pub container_id: u64,
    pub rootfs_bytes: u64,
    pub rootfs_inodes: u64,
    pub logs_bytes: u64,
    pub logs_inodes: u64,
}

/// One read of the node's filesystems.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    pub nodefs: FsStats,
    /// The dedicated image filesystem, if there is one.
    pub imagefs: Option<FsStats>,
    /// Every container with files on the node, running or exited, by container id.
    pub containers: Vec<ContainerFsStats>,
}

impl DiskStats {
    pub fn dedicated_imagefs(&self) -> bool {
        self.imagefs.is_some()
    }

    /// The signal's observation: an imagefs signal on a node without a dedicated
    /// imagefs observes the nodefs (the same device).
    pub fn observe(&self, signal: DiskSignal) -> Observation {
        let fs = match (signal.on_imagefs(), &self.imagefs) {
            (true, Some(imagefs)) => imagefs,
            _ => &self.nodefs,
        };
        fs.observe(signal.counts_inodes())
    }

    /// The thresholds met now, in the order given.
    pub fn thresholds_met(&self, thresholds: &[DiskThreshold]) -> Vec<DiskThreshold> {
        thresholds
            .iter()
            .copied()
            .filter(|t| threshold_met(t.value, self.observe(t.signal)))
            .collect()
    }

    /// Upstream `podDiskUsage` for the pod with this uid, over the stats the signal's
    /// rank function measures (`buildSignalToRankFunc`): with a dedicated imagefs, the
    /// nodefs signals measure logs (and local volumes) and the imagefs signals the
    /// containers' rootfs; on a shared disk every signal measures all of them. `None`
    /// when the pod has no stats.
    pub fn pod_usage(&self, pod_uid: u64, signal: DiskSignal) -> Option<u64> {
        let dedicated = self.dedicated_imagefs();
        let rootfs = !dedicated || signal.on_imagefs();
        let logs = !dedicated || !signal.on_imagefs();
        let mut found = false;
        let mut usage = 0;
        for c in self.containers.iter().filter(|c| c.pod_uid == pod_uid) {
            found = true;
            let (root, log) = if signal.counts_inodes() {
                (c.rootfs_inodes, c.logs_inodes)
            } else {
                (c.rootfs_bytes, c.logs_bytes)
            };
            usage += if rootfs { root } else { 0 } + if logs { log } else { 0 };
        }
        found.then_some(usage)
    }
}

/// Upstream `thresholdsMet` (operator LessThan): met when what is available is less than
/// the threshold's quantity.
pub fn threshold_met(value: ThresholdValue, observed: Observation) -> bool {
    observed.available < value.quantity(observed.capacity)
}

/// Growth at a steady rate: `bytes` more every `per`, up to `max_bytes` in all
/// (unbounded without it). A process's working set (`kernel::MemoryGrowth`) and a
/// container's writes to its writable layer ([`DiskGrowth`]) grow so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Growth {
    pub bytes: u64,
    pub per: SimDuration,
    pub max_bytes: Option<u64>,
}

impl Growth {
    /// What grows over `elapsed`, before any bound: ⌊bytes × elapsed / per⌋.
    pub fn added_over(&self, elapsed: SimDuration) -> u128 {
        let per = u128::from(self.per.as_nanos().max(1));
        u128::from(self.bytes) * u128::from(elapsed.as_nanos()) / per
    }
}

/// A container's writes to its writable layer (files its process appends to).
pub type DiskGrowth = Growth;

/// A container's writable layer: written from `since` at its growth until the process
/// stops (`stopped`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layer {
    pod_uid: u64,
    sandbox_id: u64,
    since: SimTime,
    growth: Option<DiskGrowth>,
    stopped: Option<SimTime>,
}

impl Layer {
    fn bytes_at(&self, now: SimTime) -> u64 {
        let Some(growth) = self.growth else {
            return 0;
        };
        let until = self.stopped.map_or(now, |stopped| stopped.min(now));
        let written = growth.added_over(until.saturating_since(self.since));
        let written = growth
            .max_bytes
            .map_or(written, |max| written.min(u128::from(max)));
        u64::try_from(written).unwrap_or(u64::MAX)
    }

    /// Whether the layer can still grow after `now`.
    fn grows_after(&self, now: SimTime) -> bool {
        self.stopped.is_none()
            && self.growth.is_some_and(|g| {
                g.bytes > 0 && g.max_bytes.is_none_or(|max| self.bytes_at(now) < max)
            })
    }
}

/// The files on a node's disks: the kernel's side of the filesystems.
#[derive(Clone, Debug)]
pub struct Disk {
    layout: NodeFilesystems,
    /// Image → its size, as the runtime stored it.
    images: BTreeMap<Str, u64>,
    /// Writable layers by container (process) id.
    layers: BTreeMap<u64, Layer>,
    /// Layers still being written (their sizes summed at each read).
    growing: BTreeSet<u64>,
    /// The bytes of the layers no longer written.
    static_layer_bytes: u64,
}

/// Used bytes and inodes of one filesystem.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Usage {
    bytes: u64,
    inodes: u64,
}

impl Disk {
    pub fn new(layout: NodeFilesystems) -> Disk {
        Disk {
            layout,
            images: BTreeMap::new(),
            layers: BTreeMap::new(),
            growing: BTreeSet::new(),
            static_layer_bytes: 0,
        }
    }

    pub fn layout(&self) -> &NodeFilesystems {
        &self.layout
    }

    /// The runtime unpacked an image (again: the size is replaced).
    pub fn store_image(&mut self, image: Str, size_bytes: u64) {
        self.images.insert(image, size_bytes);
    }

    /// The images stored, by name.
    pub fn images(&self) -> impl Iterator<Item = &Str> {
        self.images.keys()
    }

    pub fn delete_image(&mut self, image: &str) -> bool {
        self.images.remove(image).is_some()
    }

    /// A container's process started: its writable layer exists and is written from
    /// `now`.
    pub fn start_layer(
        &mut self,
        container_id: u64,
        sandbox_id: u64,
        pod_uid: u64,
        growth: Option<DiskGrowth>,
        now: SimTime,
    ) {
        let layer = Layer {
            pod_uid,
            sandbox_id,
            since: now,
            growth,
            stopped: None,
        };
        if layer.grows_after(now) {
            self.growing.insert(container_id);
        }
        let previous = self.layers.insert(container_id, layer);
        assert!(
            previous.is_none(),
            "container {container_id}'s layer started twice"
        );
    }

    /// The container's process ended: its layer is no longer written; its files stay.
    /// Returns whether it was being written.
    pub fn stop_layer(&mut self, container_id: u64, now: SimTime) -> bool {
        let Some(layer) = self.layers.get_mut(&container_id) else {
            return false;
        };
        layer.stopped = Some(now);
        let was_growing = self.growing.remove(&container_id);
        if was_growing {
            self.static_layer_bytes += layer.bytes_at(now);
        }
        was_growing
    }

    /// The sandbox is gone: its containers' layers go with it (CRI `RemovePodSandbox`
    /// removes the sandbox's containers). Returns the bytes freed.
    pub fn remove_sandbox(&mut self, sandbox_id: u64, now: SimTime) -> u64 {
        let ids: Vec<u64> = self
            .layers
            .iter()
            .filter(|(_, layer)| layer.sandbox_id == sandbox_id)
            .map(|(&id, _)| id)
            .collect();
        let mut freed = 0;
        for id in ids {
            let layer = self.layers.remove(&id).expect("listed");
            let bytes = layer.bytes_at(now);
            if !self.growing.remove(&id) {
                self.static_layer_bytes -= bytes;
            }
            freed += bytes;
        }
        freed
    }

    /// The node rebooted: the processes are gone, and with the runtime's records of its
    /// containers, their layers (kubesim's runtime forgets its containers in a crash);
    /// the images stay.
    pub fn forget_containers(&mut self) {
        self.layers.clear();
        self.growing.clear();
        self.static_layer_bytes = 0;
    }

    /// Whether some layer is still being written.
    pub fn grows(&self) -> bool {
        !self.growing.is_empty()
    }

    /// Moves the layers whose growth has reached its cap to the static sum.
    pub fn settle(&mut self, now: SimTime) {
        let capped: Vec<u64> = self
            .growing
            .iter()
            .copied()
            .filter(|id| !self.layers[id].grows_after(now))
            .collect();
        for id in capped {
            self.growing.remove(&id);
            self.static_layer_bytes += self.layers[&id].bytes_at(now);
        }
    }

    fn layer_bytes_at(&self, now: SimTime) -> u64 {
        self.static_layer_bytes
            + self
                .growing
                .iter()
                .map(|id| self.layers[id].bytes_at(now))
                .sum::<u64>()
    }

    fn image_usage(&self) -> Usage {
        let bytes: u64 = self.images.values().sum();
        let inodes: u64 = self
            .images
            .values()
            .map(|&size| size.div_ceil(IMAGE_BYTES_PER_FILE))
            .sum();
        Usage { bytes, inodes }
    }

    /// (nodefs, imagefs) usage at `now`; the imagefs is `None` without a dedicated disk.
    fn usage_at(&self, now: SimTime) -> (Usage, Option<Usage>) {
        let images = self.image_usage();
        let runtime = Usage {
            bytes: images.bytes + self.layer_bytes_at(now),
            inodes: images.inodes,
        };
        let base = |spec: &FilesystemSpec| Usage {
            bytes: spec.used_bytes,
            inodes: spec.used_inodes,
        };
        let mut nodefs = base(&self.layout.nodefs);
        match &self.layout.imagefs {
            Some(spec) => {
                let mut imagefs = base(spec);
                imagefs.bytes += runtime.bytes;
                imagefs.inodes += runtime.inodes;
                (nodefs, Some(imagefs))
            }
            None => {
                nodefs.bytes += runtime.bytes;
                nodefs.inodes += runtime.inodes;
                (nodefs, None)
            }
        }
    }

    fn fs_stats(spec: &FilesystemSpec, usage: Usage) -> FsStats {
        FsStats {
            capacity_bytes: spec.capacity_bytes,
            available_bytes: spec.capacity_bytes.saturating_sub(usage.bytes),
            inodes: spec.inodes,
            inodes_free: spec.inodes.saturating_sub(usage.inodes),
        }
    }

    /// The filesystems without the per-container breakdown.
    pub fn fs_stats_at(&self, now: SimTime) -> (FsStats, Option<FsStats>) {
        let (nodefs, imagefs) = self.usage_at(now);
        (
            Disk::fs_stats(&self.layout.nodefs, nodefs),
            self.layout
                .imagefs
                .as_ref()
                .zip(imagefs)
                .map(|(spec, usage)| Disk::fs_stats(spec, usage)),
        )
    }

    /// A full read, as the Summary API would give it.
    pub fn stats_at(&self, now: SimTime) -> DiskStats {
        let (nodefs, imagefs) = self.fs_stats_at(now);
        DiskStats {
            nodefs,
            imagefs,
            containers: self
                .layers
                .iter()
                .map(|(&container_id, layer)| ContainerFsStats {
                    pod_uid: layer.pod_uid,
                    container_id,
                    rootfs_bytes: layer.bytes_at(now),
                    ..ContainerFsStats::default()
                })
                .collect(),
        }
    }

    /// Which of `thresholds` (at most 64) are met at `now`: bit `i` for threshold `i`.
    pub fn met_mask(&self, thresholds: &[DiskThreshold], now: SimTime) -> u64 {
        assert!(thresholds.len() <= 64, "at most 64 disk thresholds");
        let (nodefs, imagefs) = self.fs_stats_at(now);
        let stats = DiskStats {
            nodefs,
            imagefs,
            containers: Vec::new(),
        };
        thresholds
            .iter()
            .enumerate()
            .filter(|(_, t)| threshold_met(t.value, stats.observe(t.signal)))
            .fold(0, |mask, (index, _)| mask | 1 << index)
    }

    /// Whether any of `thresholds` is met at `now`.
    pub fn any_met(&self, thresholds: &[DiskThreshold], now: SimTime) -> bool {
        self.met_mask(thresholds, now) != 0
    }

    /// The first instant after `now` at which a byte threshold not met now becomes met
    /// as the layers are written; `None` if none will be (inode usage does not grow).
    pub fn next_crossing(&self, thresholds: &[DiskThreshold], now: SimTime) -> Option<SimTime> {
        if self.growing.is_empty() {
            return None;
        }
        // The layers are on the imagefs when there is one, else on the nodefs; only the
        // signals observing that filesystem's bytes move.
        let (spec, on_imagefs) = match &self.layout.imagefs {
            Some(imagefs) => (*imagefs, true),
            None => (self.layout.nodefs, false),
        };
        let fixed = {
            let (nodefs, imagefs) = self.usage_at(now);
            let usage = if on_imagefs {
                imagefs.expect("a dedicated imagefs has a usage")
            } else {
                nodefs
            };
            usage.bytes - self.layer_bytes_at(now)
        };
        thresholds
            .iter()
            .filter(|t| !t.signal.counts_inodes())
            .filter(|t| on_imagefs == t.signal.on_imagefs() || !on_imagefs)
            .filter_map(|t| {
                let quantity = t.value.quantity(spec.capacity_bytes);
                // available < quantity  ⇔  used > capacity − quantity.
                let line = spec.capacity_bytes.checked_sub(quantity)?;
                let used_now = fixed + self.layer_bytes_at(now);
                if used_now > line {
                    return None;
                }
                first_instant_above(now, line, |at| fixed + self.layer_bytes_at(at))
            })
            .min()
    }
}

/// The first instant in (`now`, ∞) at which `total` (a non-decreasing function of time)
/// is above `target`, to the nanosecond; `None` if it stays at or below it for the next
/// ten years of simulated time.
pub fn first_instant_above(
    now: SimTime,
    target: u64,
    total: impl Fn(SimTime) -> u64,
) -> Option<SimTime> {
    const HORIZON: SimDuration = SimDuration::from_secs(10 * 365 * 24 * 3600);
    let end = now
        .as_nanos()
        .checked_add(HORIZON.as_nanos())
        .map(SimTime::from_nanos)?;
    if total(end) <= target {
        return None;
    }
    let (mut below, mut above) = (now.as_nanos(), end.as_nanos());
    // Invariant: total(below) ≤ target < total(above), or below is `now` itself.
    while above - below > 1 {
        let middle = below + (above - below) / 2;
        if total(SimTime::from_nanos(middle)) > target {
            above = middle;
        } else {
            below = middle;
        }
    }
    Some(SimTime::from_nanos(above))
}

impl crate::msg::Fingerprint for DiskStats {
    fn fingerprint(&self, hasher: &mut sim_core::TraceHasher) {
        hasher.write_u64(self.nodefs.available_bytes);
        hasher.write_u64(self.nodefs.inodes_free);
        if let Some(imagefs) = &self.imagefs {
            hasher.write_u64(imagefs.available_bytes);
            hasher.write_u64(imagefs.inodes_free);
        }
    }
}

impl crate::msg::Fingerprint for DiskThreshold {
    fn fingerprint(&self, hasher: &mut sim_core::TraceHasher) {
        hasher.write_u64(self.signal.code());
        match self.value {
            ThresholdValue::Quantity(quantity) => hasher.write_u64(quantity),
            ThresholdValue::Percentage(share) => hasher.write_u64(u64::from(share.to_bits())),
            ThresholdValue::WholePercent(percent) => hasher.write_u64(percent),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::s;

    const MI: u64 = 1 << 20;
    const GI: u64 = 1 << 30;

    fn t(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    fn shared(capacity: u64, used: u64) -> Disk {
        Disk::new(NodeFilesystems {
            nodefs: FilesystemSpec {
                used_bytes: used,
                ..FilesystemSpec::new(capacity)
            },
            imagefs: None,
        })
    }

    fn growth(bytes: u64) -> Option<DiskGrowth> {
        Some(DiskGrowth {
            bytes,
            per: SimDuration::from_secs(1),
            max_bytes: None,
        })
    }

    #[test]
    fn percentages_parse_and_resolve_as_upstream() {
        let ten = ThresholdValue::percentage("10%").unwrap();
        // float32(10)/100 widened to float64 is a hair above 0.1: 10Gi × it, truncated.
        assert_eq!(ten.quantity(10 * GI), 1_073_741_840);
        let fifteen = ThresholdValue::percentage("15%").unwrap();
        assert_eq!(fifteen.quantity(100), 15);
        assert_eq!(ThresholdValue::Quantity(MI).quantity(10 * GI), MI);
        // The image GC's trigger at 85 %: 15.99 % available is 85 % used, 16 % is not.
        let gc = ThresholdValue::WholePercent(16);
        let observe = |available| Observation {
            capacity: 10_000,
            available,
        };
        assert!(threshold_met(gc, observe(1599)));
        assert!(!threshold_met(gc, observe(1600)));
        assert_eq!(ThresholdValue::percentage("15"), None);
        assert_eq!(ThresholdValue::percentage("150%"), None);
        assert_eq!(ten.describe(), "10%");
        assert_eq!(fifteen.describe(), "15%");
        assert_eq!(
            ThresholdValue::percentage("7.5%").unwrap().describe(),
            "7.5%"
        );
    }

    #[test]
    fn a_threshold_is_met_when_less_is_available_than_its_quantity() {
        let value = ThresholdValue::Quantity(100);
        assert!(threshold_met(
            value,
            Observation {
                capacity: 1000,
                available: 99
            }
        ));
        assert!(!threshold_met(
            value,
            Observation {
                capacity: 1000,
                available: 100
            }
        ));
    }

    #[test]
    fn on_a_shared_disk_the_imagefs_signals_observe_the_nodefs() {
        let mut disk = shared(10 * GI, 2 * GI);
        disk.store_image(s("app:1"), 64 * MI);
        let stats = disk.stats_at(t(0));
        let used = 2 * GI + 64 * MI;
        assert_eq!(stats.nodefs.available_bytes, 10 * GI - used);
        assert_eq!(
            stats.observe(DiskSignal::ImageFsAvailable),
            stats.observe(DiskSignal::NodeFsAvailable)
        );
        // 64Mi of image is 2048 files of 32Ki.
        assert_eq!(
            stats.observe(DiskSignal::NodeFsInodesFree),
            Observation {
                capacity: 10 * GI / DEFAULT_BYTES_PER_INODE,
                available: 10 * GI / DEFAULT_BYTES_PER_INODE - 2048
            }
        );
        // At 85 % used imagefs.available<15% is met before nodefs.available<10%.
        let mut disk = shared(100 * GI, 86 * GI);
        disk.store_image(s("app:1"), GI);
        let met = disk
            .stats_at(t(0))
            .thresholds_met(&default_disk_thresholds());
        assert_eq!(
            met.iter().map(|m| m.signal).collect::<Vec<_>>(),
            [DiskSignal::ImageFsAvailable]
        );
    }

    #[test]
    fn a_dedicated_imagefs_holds_images_and_writable_layers() {
        let mut disk = Disk::new(NodeFilesystems {
            nodefs: FilesystemSpec::new(10 * GI),
            imagefs: Some(FilesystemSpec::new(20 * GI)),
        });
        disk.store_image(s("app:1"), GI);
        disk.start_layer(7, 3, 42, growth(MI), t(0));
        let stats = disk.stats_at(t(100));
        assert_eq!(stats.nodefs.available_bytes, 10 * GI);
        assert_eq!(
            stats.imagefs.unwrap().available_bytes,
            20 * GI - GI - 100 * MI
        );
        // The nodefs signals measure logs (none), the imagefs ones the rootfs.
        assert_eq!(stats.pod_usage(42, DiskSignal::NodeFsAvailable), Some(0));
        assert_eq!(
            stats.pod_usage(42, DiskSignal::ImageFsAvailable),
            Some(100 * MI)
        );
        assert_eq!(stats.pod_usage(43, DiskSignal::ImageFsAvailable), None);
    }

    #[test]
    fn writes_stop_with_the_process_and_the_files_go_with_the_sandbox() {
        let mut disk = shared(10 * GI, 0);
        disk.start_layer(7, 3, 42, growth(MI), t(0));
        disk.start_layer(8, 3, 42, None, t(0));
        assert!(disk.stop_layer(7, t(30)));
        assert!(!disk.stop_layer(8, t(30)));
        assert_eq!(
            disk.stats_at(t(60)).nodefs.available_bytes,
            10 * GI - 30 * MI
        );
        assert!(!disk.grows());
        assert_eq!(disk.remove_sandbox(3, t(60)), 30 * MI);
        assert_eq!(disk.stats_at(t(60)).nodefs.available_bytes, 10 * GI);
    }

    #[test]
    fn the_crossing_is_solved_to_the_nanosecond() {
        // 10Gi disk, 8Gi used, a writer at 1Mi/s from 0 s: nodefs.available<10% (just
        // over 1Gi) is met once more than 10Gi − 1_073_741_840 bytes are used, imagefs
        // (15 %) earlier.
        let mut disk = shared(10 * GI, 8 * GI);
        disk.start_layer(7, 3, 42, growth(MI), t(0));
        let nodefs_only = [DiskThreshold {
            signal: DiskSignal::NodeFsAvailable,
            value: ThresholdValue::percentage("10%").unwrap(),
        }];
        let at = disk.next_crossing(&nodefs_only, t(0)).unwrap();
        let line = 10 * GI - 1_073_741_840;
        // used(t) = 8Gi + ⌊1Mi × t / 1 s⌋ > line.
        let needed = line - 8 * GI + 1;
        let nanos = (u128::from(needed) * 1_000_000_000).div_ceil(u128::from(MI));
        assert_eq!(at, SimTime::from_nanos(nanos as u64));
        assert!(disk.any_met(&nodefs_only, at));
        assert!(!disk.any_met(&nodefs_only, SimTime::from_nanos(at.as_nanos() - 1)));
        let earliest = disk
            .next_crossing(&default_disk_thresholds(), t(0))
            .unwrap();
        assert!(earliest < at);
        // A capped writer that stops short of the line never crosses it.
        let mut disk = shared(10 * GI, 8 * GI);
        disk.start_layer(
            7,
            3,
            42,
            Some(DiskGrowth {
                bytes: MI,
                per: SimDuration::from_secs(1),
                max_bytes: Some(100 * MI),
            }),
            t(0),
        );
        assert_eq!(disk.next_crossing(&nodefs_only, t(0)), None);
    }
}
