//! What one scheduling cycle learned about each node, kept for the next pods that ask the
//! same: NodeResourcesFit's verdict, the raw NodeResourcesFit, BalancedAllocation,
//! TaintToleration and ImageLocality scores, and the weighted sum of the three that
//! NormalizeScore leaves as they are (so a cycle that explains nothing reads one number
//! for them instead of three columns).
//!
//! Those results depend only on what the pod asks ([`Signature`]: its requests,
//! tolerations and images, the profile's arguments, how many nodes hold each image) and
//! on what the node is (its object and what its pods request). The cache gives each
//! node a fresh [`NodeInfo::generation`] whenever either of the latter changes, so a
//! row computed at a node's current generation for the same signature is still exact.
//! The 30 pods of a ReplicaSet share one signature, and between two of them few nodes
//! change: most of a cycle's rows are read instead of computed.
//!
//! The memo holds a few signatures ([`SIGNATURES_MAX`]), the least recently used one
//! giving way, each with one row per node index. Normalization, the weighted sum and
//! the tie-breaking draws stay per cycle.

use std::rc::Rc;

use super::plugins::image_locality::{self, SizeMemo};
use super::plugins::resources::{self, BalancedAllocationArgs, FitArgs, Resources};
use super::plugins::{Extended, MAX_NODE_SCORE, NodeInfo, PodInfo, taint_toleration_score};
use super::profile::{Plugin, Profile};
use crate::api::{Str, Toleration};

/// kubesim's bound on the signatures kept: ReplicaSets scaled up together interleave
/// their pods in the queue, so more than one is worth keeping.
pub const SIGNATURES_MAX: usize = 8;

/// Everything the memoized results read besides the node.
#[derive(Clone, Debug, PartialEq)]
struct Signature {
    requests: Resources,
    non_zero_requests: Resources,
    extended_requests: Extended,
    tolerations: Rc<[Toleration]>,
    /// The pod's images with the number of nodes holding each (`image_locality::pod_images`).
    images: Vec<(Str, u32)>,
    node_count: usize,
    fit: FitArgs,
    balanced: BalancedAllocationArgs,
    /// The weights of [`Row::weighted_sum`]: they follow from the profile and the fields
    /// above, and are kept to compute rows with.
    weights: SumWeights,
}

/// The weights [`Row::weighted_sum`] gives the memoized scores that need no
/// normalization: the profile's, or 0 where a plugin is not in the profile or adds
/// nothing for this pod (BalancedAllocation's PreScore skips it; ImageLocality when no
/// node holds any of the pod's images).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SumWeights {
    pub fit: i64,
    pub balanced_allocation: i64,
    pub image_locality: i64,
}

impl SumWeights {
    pub fn of(pod: &PodInfo, profile: &Profile, images: &[(Str, u32)]) -> SumWeights {
        let weight = |plugin| profile.weight(plugin).unwrap_or(0);
        let balanced_skips =
            resources::balanced_allocation_skips(pod, &profile.balanced_allocation);
        let no_image_anywhere = !images.iter().any(|(_, spread)| *spread > 0);
        SumWeights {
            fit: weight(Plugin::NodeResourcesFit),
            balanced_allocation: if balanced_skips {
                0
            } else {
                weight(Plugin::NodeResourcesBalancedAllocation)
            },
            image_locality: if no_image_anywhere {
                0
            } else {
                weight(Plugin::ImageLocality)
            },
        }
    }
}

impl Signature {
    /// Whether `self` is the signature of `pod` under `profile` (without building one).
    fn is(
        &self,
        pod: &PodInfo,
        profile: &Profile,
        images: &[(Str, u32)],
        nodes: usize,
        weights: SumWeights,
    ) -> bool {
        self.requests == pod.requests
            && self.non_zero_requests == pod.non_zero_requests
            && self.node_count == nodes
            && self.extended_requests == pod.extended_requests
            && (Rc::ptr_eq(&self.tolerations, &pod.pod.spec.tolerations)
                || self.tolerations == pod.pod.spec.tolerations)
            && self.images == images
            && self.fit == profile.fit
            && self.balanced == profile.balanced_allocation
            && self.weights == weights
    }
}

/// One node's results for one signature, computed at `generation`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Row {
    /// The node's [`NodeInfo::generation`] when computed; 0 (no node has it) when never.
    generation: u64,
    /// NodeResourcesFit's filter passes.
    pub fits: bool,
    pub taint_toleration: i64,
    pub fit: i64,
    pub balanced_allocation: i64,
    pub image_locality: i64,
    /// NodeResourcesFit, BalancedAllocation and ImageLocality times their
    /// [`SumWeights`]: their share of the node's total (scores in range, checked here).
    pub weighted_sum: i64,
}

#[derive(Debug)]
struct Slot {
    signature: Signature,
    /// By node index.
    rows: Vec<Row>,
    /// When this slot was last used, in cycles: the oldest gives way.
    used_at: u64,
}

/// The memo, kept by the scheduler's cache (which owns the generations it trusts).
#[derive(Debug, Default)]
pub struct NodeMemo {
    slots: Vec<Slot>,
    cycles: u64,
}

/// The slot of one cycle's pod, with what computing a row needs.
pub struct CycleRows<'a> {
    slot: &'a mut Slot,
    pod: &'a PodInfo,
    images: &'a [(Str, u32)],
    node_count: usize,
    /// ImageLocality's reuse of the last score by image size, for this cycle.
    sizes: SizeMemo,
}

impl NodeMemo {
    /// The rows for `pod` under `profile`, where `images` are the pod's images as
    /// ImageLocality counts them over a snapshot of `node_count` nodes.
    pub fn cycle<'a>(
        &'a mut self,
        pod: &'a PodInfo,
        profile: &Profile,
        images: &'a [(Str, u32)],
        node_count: usize,
    ) -> CycleRows<'a> {
        self.cycles += 1;
        let weights = SumWeights::of(pod, profile, images);
        let found = self
            .slots
            .iter()
            .position(|slot| slot.signature.is(pod, profile, images, node_count, weights));
        let position = match found {
            Some(position) => position,
            None => {
                let slot = Slot {
                    signature: Signature {
                        requests: pod.requests,
                        non_zero_requests: pod.non_zero_requests,
                        extended_requests: pod.extended_requests.clone(),
                        tolerations: pod.pod.spec.tolerations.clone(),
                        images: images.to_vec(),
                        node_count,
                        fit: profile.fit.clone(),
                        balanced: profile.balanced_allocation.clone(),
                        weights,
                    },
                    rows: Vec::new(),
                    used_at: 0,
                };
                if self.slots.len() < SIGNATURES_MAX {
                    self.slots.push(slot);
                    self.slots.len() - 1
                } else {
                    let oldest = (0..self.slots.len())
                        .min_by_key(|&i| self.slots[i].used_at)
                        .expect("slots are full");
                    self.slots[oldest] = slot;
                    oldest
                }
            }
        };
        let slot = &mut self.slots[position];
        slot.used_at = self.cycles;
        if slot.rows.len() < node_count {
            slot.rows.resize(node_count, Row::default());
        }
        CycleRows {
            slot,
            pod,
            images,
            node_count,
            sizes: SizeMemo::default(),
        }
    }
}

impl CycleRows<'_> {
    /// Makes the row of `node`, at index `index` of the snapshot, fresh: kept when
    /// computed at the node's generation, computed again otherwise.
    #[inline]
    pub fn refresh(&mut self, index: usize, node: &NodeInfo) -> &Row {
        let generation = self.slot.rows[index].generation;
        if generation != node.generation || node.generation == 0 {
            self.slot.rows[index] = self.compute(node);
        }
        &self.slot.rows[index]
    }

    /// The rows by node index: fresh for the nodes [`CycleRows::refresh`] was called on
    /// in this cycle.
    pub fn rows(&self) -> &[Row] {
        &self.slot.rows
    }

    #[cold]
    fn compute(&self, node: &NodeInfo) -> Row {
        let signature = &self.slot.signature;
        let pod = self.pod;
        let fit = resources::node_resources_fit_score(pod, node, &signature.fit);
        let balanced_allocation =
            resources::balanced_allocation_score(pod, node, &signature.balanced);
        let image_locality = image_locality::score(self.images, node, self.node_count, &self.sizes);
        let weights = signature.weights;
        let mut weighted_sum = 0;
        for (plugin, score, weight) in [
            (Plugin::NodeResourcesFit, fit, weights.fit),
            (
                Plugin::NodeResourcesBalancedAllocation,
                balanced_allocation,
                weights.balanced_allocation,
            ),
            (
                Plugin::ImageLocality,
                image_locality,
                weights.image_locality,
            ),
        ] {
            if weight != 0 {
                assert!(
                    (0..=MAX_NODE_SCORE).contains(&score),
                    "{} scored {score}",
                    plugin.name()
                );
                weighted_sum += score * weight;
            }
        }
        Row {
            generation: node.generation,
            fits: resources::node_resources_fit(pod, node, &signature.fit.ignored).is_ok(),
            taint_toleration: taint_toleration_score(pod, node),
            fit,
            balanced_allocation,
            image_locality,
            weighted_sum,
        }
    }
}
