//! Image garbage collection, as the kubelet's image manager does it
//! (pkg/kubelet/images/image_gc_manager.go): every `ImageGCPeriod` (5 min) it looks at
//! the image filesystem; when its usage is at or above `imageGCHighThresholdPercent`
//! (85 %) it frees enough to bring usage down to `imageGCLowThresholdPercent` (80 %),
//! removing images no container uses, least recently used first (then first detected
//! first), never one detected less than `imageMinimumGCAge` (2 min) ago. The kubelet
//! decides; the runtime removes each image (CRI `RemoveImage`).
//!
//! The pass reads the image filesystem from the kernel (`DiskMsg::Read`; its capacity
//! and what is available, as upstream reads `ImageFsStats`): the dedicated imagefs, or
//! the nodefs the images share. The kernel also watches the pass's trigger (usage at the
//! high threshold, [`gc_trigger`]) with the eviction manager's thresholds, so a pass that
//! would find the disk below it only marks the images in use, without a read. A kubelet without a kernel (unit tests) estimates it
//! from the node's `ephemeral-storage` and the sizes of the images it knows. The eviction
//! manager's node-level reclaim (`DeleteUnusedImages`) removes every unused image old
//! enough, whatever the usage. The records (first detected, last used) live in the
//! kubelet's memory, as upstream's: a restarted kubelet detects every image anew.

use std::collections::{BTreeMap, BTreeSet};

use sim_core::{Context, SimDuration, SimTime};

use crate::api::Str;
use crate::api::quantity::format_bytes;
use crate::msg::Msg;
use crate::runtime::{CallId, CriRequest};

use crate::filesystem::{DiskSignal, DiskStats, DiskThreshold, ThresholdValue};
use crate::kernel::DiskMsg;

use super::{Call, Kubelet};

/// `KubeletConfiguration`'s image GC settings, with their upstream defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageGcPolicy {
    /// `imageGCHighThresholdPercent`, upstream default 85.
    pub high_threshold_percent: u64,
    /// `imageGCLowThresholdPercent`, upstream default 80.
    pub low_threshold_percent: u64,
    /// `imageMinimumGCAge`, upstream default 2 min.
    pub minimum_gc_age: SimDuration,
    /// `ImageGCPeriod` (a kubelet constant), 5 min.
    pub period: SimDuration,
}

impl Default for ImageGcPolicy {
    fn default() -> Self {
        ImageGcPolicy {
            high_threshold_percent: 85,
            low_threshold_percent: 80,
            minimum_gc_age: SimDuration::from_mins(2),
            period: SimDuration::from_mins(5),
        }
    }
}

/// The image GC's trigger as a filesystem threshold: upstream's usage
/// `100 − available × 100 / capacity` (integers) reaches `high` exactly when
/// `available × 100 < (100 − high + 1) × capacity`.
pub fn gc_trigger(policy: &ImageGcPolicy) -> DiskThreshold {
    DiskThreshold {
        signal: DiskSignal::ImageFsAvailable,
        value: ThresholdValue::WholePercent(101 - policy.high_threshold_percent.min(100)),
    }
}

/// What the image manager remembers of an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageRecord {
    pub size_bytes: u64,
    pub first_detected: SimTime,
    /// The last GC pass that found a container using it (`first_detected` until then).
    pub last_used: SimTime,
}

/// One GC pass's decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GcDecision {
    /// Usage is below the high threshold (or there is no image filesystem size).
    Below { usage_percent: u64 },
    Remove {
        usage_percent: u64,
        /// Bytes to free to get down to the low threshold.
        bytes_to_free: u64,
        /// The images to remove, in order, and what they free together.
        images: Vec<Str>,
        bytes_freed: u64,
    },
}

/// Upstream `100 - available * 100 / capacity`, in integers: the share of the image
/// filesystem in use, rounded up by the rounding down of what is available.
pub fn usage_percent(available_bytes: u64, capacity_bytes: u64) -> u64 {
    assert!(capacity_bytes > 0, "an image filesystem has a size");
    100 - (available_bytes.min(capacity_bytes).saturating_mul(100) / capacity_bytes)
}

/// The GC pass at `now` on an image filesystem of `capacity_bytes` with
/// `available_bytes` free: which images to remove. `in_use` are the images some
/// container of a pod on the node uses.
pub fn plan_gc(
    policy: &ImageGcPolicy,
    records: &BTreeMap<Str, ImageRecord>,
    in_use: &BTreeSet<Str>,
    (capacity_bytes, available_bytes): (u64, u64),
    now: SimTime,
) -> GcDecision {
    let usage_percent = usage_percent(available_bytes, capacity_bytes);
    if usage_percent < policy.high_threshold_percent {
        return GcDecision::Below { usage_percent };
    }
    // Upstream: amountToFree = capacity * (100 - low) / 100 - available.
    let bytes_to_free = (capacity_bytes.saturating_mul(100 - policy.low_threshold_percent) / 100)
        .saturating_sub(available_bytes);
    let mut images = Vec::new();
    let mut bytes_freed = 0;
    for (name, record) in eviction_order(policy, records, in_use, now) {
        if bytes_freed >= bytes_to_free {
            break;
        }
        images.push(name.clone());
        bytes_freed += record.size_bytes;
    }
    GcDecision::Remove {
        usage_percent,
        bytes_to_free,
        images,
        bytes_freed,
    }
}

/// The images GC may remove, in the order it removes them (upstream
/// `imagesInEvictionOrder` and `freeSpace`'s skips): not in use, first detected at
/// least `imageMinimumGCAge` ago; least recently used first, then first detected first.
pub fn eviction_order<'a>(
    policy: &ImageGcPolicy,
    records: &'a BTreeMap<Str, ImageRecord>,
    in_use: &BTreeSet<Str>,
    now: SimTime,
) -> Vec<(&'a Str, &'a ImageRecord)> {
    let mut candidates: Vec<(&Str, &ImageRecord)> = records
        .iter()
        .filter(|(name, _)| !in_use.contains(*name))
        .filter(|(_, record)| now.saturating_since(record.first_detected) >= policy.minimum_gc_age)
        .collect();
    // Least recently used first, then first detected first; the name last, so the
    // order never depends on anything else.
    candidates.sort_by(|a, b| {
        (a.1.last_used, a.1.first_detected, a.0).cmp(&(b.1.last_used, b.1.first_detected, b.0))
    });
    candidates
}

/// The kubelet's image records and the next GC instant.
#[derive(Clone, Debug, Default)]
pub struct ImageGcManager {
    records: BTreeMap<Str, ImageRecord>,
    next_run: Option<SimTime>,
    /// `RemoveImage` calls in flight, by call id.
    removals: BTreeMap<CallId, Str>,
    /// The read of the image filesystem of the pass under way.
    pending_read: Option<u64>,
    /// The kernel's last word on the trigger: the image filesystem is at or above the
    /// high threshold.
    trigger_met: bool,
}

impl ImageGcManager {
    /// An image the runtime holds (from `ListImages` or a pull).
    pub fn detected(&mut self, image: Str, size_bytes: u64, now: SimTime) {
        self.records
            .entry(image)
            .and_modify(|record| record.size_bytes = size_bytes)
            .or_insert(ImageRecord {
                size_bytes,
                first_detected: now,
                last_used: now,
            });
    }

    pub fn removed(&mut self, image: &str) {
        self.records.remove(image);
    }

    /// Arms the first pass one period after `start`.
    pub fn start(&mut self, start: SimTime, policy: &ImageGcPolicy) {
        self.next_run = Some(start + policy.period);
    }

    /// Whether a pass is due at `now`; if so the next one is armed a period later.
    pub fn due(&mut self, now: SimTime, policy: &ImageGcPolicy) -> bool {
        match self.next_run {
            Some(at) if now >= at => {
                self.next_run = Some(now + policy.period);
                true
            }
            _ => false,
        }
    }

    /// Marks the images in use as used now, as upstream's `detectImages` does before
    /// each pass.
    fn detect(&mut self, in_use: &BTreeSet<Str>, now: SimTime) {
        for image in in_use {
            if let Some(record) = self.records.get_mut(image) {
                record.last_used = now;
            }
        }
    }

    /// The pass on an image filesystem of (capacity, available) bytes.
    pub fn run(
        &mut self,
        policy: &ImageGcPolicy,
        in_use: &BTreeSet<Str>,
        filesystem: (u64, u64),
        now: SimTime,
    ) -> GcDecision {
        self.detect(in_use, now);
        plan_gc(policy, &self.records, in_use, filesystem, now)
    }

    /// Upstream `DeleteUnusedImages`: every image GC may remove, in its order, with its
    /// size.
    pub fn unused(
        &mut self,
        policy: &ImageGcPolicy,
        in_use: &BTreeSet<Str>,
        now: SimTime,
    ) -> Vec<(Str, u64)> {
        self.detect(in_use, now);
        eviction_order(policy, &self.records, in_use, now)
            .into_iter()
            .map(|(name, record)| (name.clone(), record.size_bytes))
            .collect()
    }

    /// The estimate of a kubelet without a kernel: the images it knows fill the node's
    /// ephemeral storage.
    fn estimate(&self, capacity_bytes: u64) -> (u64, u64) {
        let used: u64 = self.records.values().map(|r| r.size_bytes).sum();
        (capacity_bytes, capacity_bytes.saturating_sub(used))
    }

    pub fn clear(&mut self) {
        self.records.clear();
        self.next_run = None;
        self.removals.clear();
        self.pending_read = None;
        self.trigger_met = false;
    }
}

impl Kubelet {
    /// The images of every container of every pod on the node.
    fn images_in_use(&self) -> BTreeSet<Str> {
        self.workers
            .values()
            .flat_map(|worker| worker.containers.iter().map(|c| c.image.clone()))
            .collect()
    }

    /// A GC pass (`ImageGCManager.GarbageCollect`) begins: the image filesystem is read
    /// (a node without ephemeral storage has no image GC).
    pub(super) fn garbage_collect_images(&mut self, cx: &mut Context<'_, Msg>) {
        let Some(capacity_bytes) = self.setup.capacity.ephemeral_storage_bytes else {
            return;
        };
        if capacity_bytes == 0 {
            return;
        }
        match self.kernel {
            Some(_) if self.has_filesystems() && !self.image_gc.trigger_met => {
                // Below the high threshold: the pass only marks the images in use.
                let in_use = self.images_in_use();
                self.image_gc.detect(&in_use, cx.now());
            }
            Some(kernel) if self.has_filesystems() => {
                let read_id = self.eviction.next_read_id();
                self.image_gc.pending_read = Some(read_id);
                cx.send(kernel, Msg::Disk(Box::new(DiskMsg::Read { read_id })));
            }
            _ => {
                let filesystem = self.image_gc.estimate(capacity_bytes);
                self.image_gc_pass(filesystem, cx);
            }
        }
    }

    /// The kernel's word on the GC trigger.
    pub(super) fn image_gc_trigger_met(&mut self, met: bool) {
        self.image_gc.trigger_met = met;
    }

    /// Whether `read_id` is the image GC's read (which it then no longer waits for).
    pub(super) fn image_gc_read(&mut self, read_id: u64) -> bool {
        if self.image_gc.pending_read == Some(read_id) {
            self.image_gc.pending_read = None;
            return true;
        }
        false
    }

    /// The pass, on the image filesystem the kernel reported.
    pub(super) fn garbage_collect_images_with(
        &mut self,
        stats: &DiskStats,
        cx: &mut Context<'_, Msg>,
    ) {
        let fs = stats.imagefs.unwrap_or(stats.nodefs);
        if fs.capacity_bytes > 0 {
            self.image_gc_pass((fs.capacity_bytes, fs.available_bytes), cx);
        }
    }

    /// Node-level reclaim's `DeleteUnusedImages`: the images to remove, with their sizes.
    pub(super) fn unused_images(&mut self, now: SimTime) -> Vec<(Str, u64)> {
        let in_use = self.images_in_use();
        let policy = self.config.image_gc;
        self.image_gc.unused(&policy, &in_use, now)
    }

    /// Asks the runtime to remove an image GC or the eviction manager chose.
    pub(super) fn remove_image(&mut self, image: Str, cx: &mut Context<'_, Msg>) -> CallId {
        let call = self.cri(
            CriRequest::RemoveImage {
                image: image.clone(),
            },
            Call::RemoveImage,
            cx,
        );
        self.image_gc.removals.insert(call, image);
        call
    }

    fn image_gc_pass(&mut self, filesystem: (u64, u64), cx: &mut Context<'_, Msg>) {
        let in_use = self.images_in_use();
        let policy = self.config.image_gc;
        let node = self.setup.name.clone();
        match self.image_gc.run(&policy, &in_use, filesystem, cx.now()) {
            GcDecision::Below { .. } => {}
            GcDecision::Remove {
                usage_percent,
                bytes_to_free,
                images,
                bytes_freed,
            } => {
                let count = images.len();
                cx.record("step", || {
                    let mut text = format!(
                        "image GC on {node}: imagefs {usage_percent}% used (high threshold {}%): removing {count} unused images ({}) to free {} and get below {}%",
                        policy.high_threshold_percent,
                        format_bytes(bytes_freed),
                        format_bytes(bytes_to_free),
                        policy.low_threshold_percent
                    );
                    if bytes_freed < bytes_to_free {
                        text.push_str(&format!(
                            "; failed to garbage collect required amount of images: wanted to free {}, but freed {}",
                            format_bytes(bytes_to_free),
                            format_bytes(bytes_freed)
                        ));
                    }
                    text
                });
                for image in images {
                    self.remove_image(image, cx);
                }
            }
        }
    }

    /// The runtime's answer to a GC removal: the image leaves the node's status.
    pub(super) fn on_image_removed(
        &mut self,
        call: CallId,
        removed: bool,
        cx: &mut Context<'_, Msg>,
    ) {
        let Some(image) = self.image_gc.removals.remove(&call) else {
            return;
        };
        if removed {
            self.image_gc.removed(&image);
            if self.images.remove(&image).is_some() {
                self.node_status_inputs_changed = true;
            }
        } else {
            cx.record("detail", || format!("image GC: removing {image} failed"));
        }
        self.on_reclaim_call_done(call, cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::s;

    const MIB: u64 = 1 << 20;

    fn t(secs: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(secs)
    }

    fn record(size_mib: u64, detected: u64, used: u64) -> ImageRecord {
        ImageRecord {
            size_bytes: size_mib * MIB,
            first_detected: t(detected),
            last_used: t(used),
        }
    }

    #[test]
    fn below_the_high_threshold_nothing_is_removed() {
        let policy = ImageGcPolicy::default();
        let records = BTreeMap::from([(s("a"), record(84, 0, 0))]);
        assert_eq!(
            plan_gc(
                &policy,
                &records,
                &BTreeSet::new(),
                (100 * MIB, 16 * MIB),
                t(600)
            ),
            GcDecision::Below { usage_percent: 84 }
        );
    }

    #[test]
    fn least_recently_used_goes_first_until_usage_is_at_the_low_threshold() {
        let policy = ImageGcPolicy::default();
        // 1000 MiB disk, 900 MiB of images (90 %): free 100 MiB to reach 80 %.
        let records = BTreeMap::from([
            (s("old"), record(60, 0, 100)),
            (s("older"), record(60, 0, 50)),
            (s("recent"), record(60, 0, 500)),
            (s("used"), record(600, 0, 0)),
            (s("new"), record(120, 590, 590)),
        ]);
        let in_use = BTreeSet::from([s("used")]);
        let GcDecision::Remove {
            usage_percent,
            bytes_to_free,
            images,
            bytes_freed,
        } = plan_gc(&policy, &records, &in_use, (1000 * MIB, 100 * MIB), t(600))
        else {
            panic!("above 85 %");
        };
        assert_eq!(usage_percent, 90);
        assert_eq!(bytes_to_free, 100 * MIB);
        // Never the one in use, never the one detected 10 s ago; the two least recently
        // used free 120 MiB, enough.
        assert_eq!(images, [s("older"), s("old")]);
        assert_eq!(bytes_freed, 120 * MIB);
    }

    #[test]
    fn ties_on_last_use_go_by_first_detection() {
        let policy = ImageGcPolicy::default();
        let records = BTreeMap::from([
            (s("b"), record(100, 10, 300)),
            (s("a"), record(100, 20, 300)),
            (s("c"), record(700, 0, 0)),
        ]);
        let in_use = BTreeSet::from([s("c")]);
        let GcDecision::Remove { images, .. } =
            plan_gc(&policy, &records, &in_use, (1000 * MIB, 100 * MIB), t(600))
        else {
            panic!("at 90 %");
        };
        assert_eq!(images, [s("b")]);
    }

    #[test]
    fn a_pass_marks_images_in_use_as_used_now() {
        let policy = ImageGcPolicy::default();
        let mut manager = ImageGcManager::default();
        manager.detected(s("web"), 450 * MIB, t(0));
        manager.detected(s("job"), 450 * MIB, t(10));
        // At 400 s "web" is in use: "job", though detected later, is now the least
        // recently used.
        let decision = manager.run(
            &policy,
            &BTreeSet::from([s("web")]),
            (1000 * MIB, 100 * MIB),
            t(400),
        );
        let GcDecision::Remove { images, .. } = decision else {
            panic!("at 90 %");
        };
        assert_eq!(images, [s("job")]);
        // Nothing in use any more, and usage is still 90 %: "job" goes before "web"
        // again only by last use, which "web" now has later.
        let GcDecision::Remove { images, .. } =
            manager.run(&policy, &BTreeSet::new(), (1000 * MIB, 100 * MIB), t(700))
        else {
            panic!("at 90 %");
        };
        assert_eq!(images, [s("job")]);
    }

    #[test]
    fn passes_come_a_period_apart() {
        let policy = ImageGcPolicy::default();
        let mut manager = ImageGcManager::default();
        assert!(!manager.due(t(1000), &policy), "not started");
        manager.start(t(0), &policy);
        assert!(!manager.due(t(299), &policy));
        assert!(manager.due(t(300), &policy));
        assert!(!manager.due(t(310), &policy));
        assert!(manager.due(t(600), &policy));
    }

    #[test]
    fn usage_is_what_is_not_available_rounded_as_upstream() {
        // 84.9 % used: 15.1 % available rounds down to 15, so usage counts as 85 %.
        assert_eq!(usage_percent(151, 1000), 85);
        assert_eq!(usage_percent(160, 1000), 84);
        assert_eq!(usage_percent(0, 1000), 100);
    }

    #[test]
    fn the_trigger_is_met_exactly_when_usage_reaches_the_high_threshold() {
        use crate::filesystem::{Observation, threshold_met};
        let trigger = gc_trigger(&ImageGcPolicy::default());
        for available in [1490, 1500, 1509, 1510, 1599, 1600, 1601, 2000] {
            let capacity = 10_000;
            let observed = Observation {
                capacity,
                available,
            };
            assert_eq!(
                threshold_met(trigger.value, observed),
                usage_percent(available, capacity) >= 85,
                "{available} of {capacity}"
            );
        }
    }

    #[test]
    fn delete_unused_images_takes_every_old_enough_unused_image() {
        let policy = ImageGcPolicy::default();
        let mut manager = ImageGcManager::default();
        manager.detected(s("web"), 100 * MIB, t(0));
        manager.detected(s("old"), 200 * MIB, t(0));
        manager.detected(s("older"), 300 * MIB, t(0));
        manager.detected(s("fresh"), 50 * MIB, t(500));
        manager.run(
            &policy,
            &BTreeSet::from([s("old")]),
            (1000 * MIB, 900 * MIB),
            t(300),
        );
        // In use: web. Too young: fresh. "older" was last used before "old".
        assert_eq!(
            manager.unused(&policy, &BTreeSet::from([s("web")]), t(600)),
            [(s("older"), 300 * MIB), (s("old"), 200 * MIB)]
        );
    }
}
