//! ImageLocality: prefer nodes that already hold the pod's images, weighted by how
//! widely each image is spread over the cluster (an image on every node says little).
//!
//! Upstream: `pkg/scheduler/framework/plugins/imagelocality/image_locality.go` (v1.34):
//! per container (init and regular) whose image is on the node,
//! `size × nodesWithImage / totalNodes` (float, truncated); the sum clamped to
//! `[23Mi, 1000Mi × containers]` and mapped linearly to 0..=100.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use sim_core::FxIndexMap;

use crate::api::{Pod, Str};

use super::{MAX_NODE_SCORE, NodeInfo};

const MB: i64 = 1024 * 1024;
/// `minThreshold`: 23 MiB.
pub const MIN_THRESHOLD_BYTES: i64 = 23 * MB;
/// `maxContainerThreshold`: 1000 MiB per container.
pub const MAX_CONTAINER_THRESHOLD_BYTES: i64 = 1000 * MB;

/// `normalizedImageName`: a name without a tag gets `:latest`.
pub fn normalized_image_name(name: &str) -> std::borrow::Cow<'_, str> {
    let colon = name.rfind(':');
    let slash = name.rfind('/');
    let tagged = match (colon, slash) {
        (Some(c), Some(s)) => c > s,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if tagged || name.contains('@') {
        std::borrow::Cow::Borrowed(name)
    } else {
        std::borrow::Cow::Owned(format!("{name}:latest"))
    }
}

/// The pod's images, normalized, one per container (init containers included), each with
/// the number of nodes holding it (`ImageStateSummary.NumNodes`), looked up once per cycle.
pub fn pod_images(pod: &Pod, nodes_with_image: &FxIndexMap<Str, u32>) -> Vec<(Str, u32)> {
    pod.spec
        .init_containers
        .iter()
        .chain(pod.spec.containers.iter())
        .map(|c| {
            let image = normalized_image_name(&c.image);
            // The cache's own copy of the name when some node holds the image: the same
            // allocation every cycle, which `ImageMemo` recognizes by pointer.
            match nodes_with_image.get_key_value(&*image) {
                Some((interned, &spread)) => (interned.clone(), spread),
                None => (Str::from(&*image), 0),
            }
        })
        .collect()
}

/// The size on one node of the image looked up last there, by the pod image's interned
/// name (see [`pod_images`]). Pods of one ReplicaSet ask for the same image on every
/// node, and a node's images only change with a new `NodeInfo`, so most lookups end
/// here instead of scanning the node's image list (50 names at most, far in memory).
#[derive(Clone, Debug, Default)]
pub struct ImageMemo(RefCell<Option<(Str, Option<u64>)>>);

/// Whether a name as a node reports it is the normalized `image`: equal, or untagged and
/// equal once `:latest` is appended (kubesim's kubelet reports the name the pod gave).
/// Compares without allocating: this runs for every image of every scored node.
fn names_image(reported: &str, image: &str) -> bool {
    reported == image
        || (image.len() == reported.len() + ":latest".len()
            && image.starts_with(reported)
            && image.ends_with(":latest")
            && matches!(normalized_image_name(reported), std::borrow::Cow::Owned(_)))
}

/// The size of normalized `image` on `node`.
fn image_size_on(node: &NodeInfo, image: &Str) -> Option<u64> {
    if let Some((seen, size)) = &*node.image_memo.0.borrow()
        && Rc::ptr_eq(seen, image)
    {
        return *size;
    }
    let size = node
        .node
        .status
        .images
        .iter()
        .find(|(name, _)| names_image(name, image))
        .map(|(_, size)| *size);
    *node.image_memo.0.borrow_mut() = Some((image.clone(), size));
    size
}

/// The score of the last node a one-image pod was scored on in this cycle, by the
/// image's size there: the nodes holding the same size score the same, so most nodes
/// skip the divisions.
pub type SizeMemo = Cell<Option<(Option<u64>, i64)>>;

/// ImageLocality score of one node. `images` are the pod's from [`pod_images`], with the
/// number of nodes of the snapshot holding each; `total_nodes` is the snapshot's size;
/// `memo` lives for one cycle.
pub fn score(images: &[(Str, u32)], node: &NodeInfo, total_nodes: usize, memo: &SizeMemo) -> i64 {
    if images.is_empty() || node.node.status.images.is_empty() {
        return 0;
    }
    if let [(image, _)] = images {
        let size = image_size_on(node, image);
        if let Some((seen, score)) = memo.get()
            && seen == size
        {
            return score;
        }
        let score = score_sizes(images, node, total_nodes);
        memo.set(Some((size, score)));
        return score;
    }
    score_sizes(images, node, total_nodes)
}

fn score_sizes(images: &[(Str, u32)], node: &NodeInfo, total_nodes: usize) -> i64 {
    let mut sum: i64 = 0;
    for (image, spread) in images {
        if let Some(size) = image_size_on(node, image) {
            let spread = (*spread).max(1);
            // `int64(float64(size) × float64(numNodes) / float64(totalNodes))`.
            sum += (size as f64 * f64::from(spread) / total_nodes as f64) as i64;
        }
    }
    let max_threshold = MAX_CONTAINER_THRESHOLD_BYTES * images.len() as i64;
    let clamped = sum.clamp(MIN_THRESHOLD_BYTES, max_threshold);
    MAX_NODE_SCORE * (clamped - MIN_THRESHOLD_BYTES) / (max_threshold - MIN_THRESHOLD_BYTES)
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::api::{Container, s};
    use crate::scheduler::plugins::NodeTotals;
    use crate::scheduler::plugins::tests::{node_with, pod_with};

    #[test]
    fn node_names_match_normalized_pod_images() {
        assert!(names_image("nginx", "nginx:latest"));
        assert!(names_image("nginx:1.14", "nginx:1.14"));
        assert!(!names_image("nginx:1.14", "nginx:1.14:latest"));
        assert!(!names_image("nginx", "nginx:1.14"));
    }

    #[test]
    fn names_without_a_tag_get_latest() {
        assert_eq!(normalized_image_name("nginx"), "nginx:latest");
        assert_eq!(normalized_image_name("nginx:1.14"), "nginx:1.14");
        assert_eq!(
            normalized_image_name("registry:5000/app"),
            "registry:5000/app:latest"
        );
        assert_eq!(
            normalized_image_name("registry:5000/app:v1"),
            "registry:5000/app:v1"
        );
    }

    #[test]
    fn score_matches_upstream_examples() {
        // Upstream's formula on one container: one node of two holds a 250Mi image.
        // sum = 250Mi × 1/2 = 125Mi; max = 1000Mi × 1; score = 100 × (125−23)/(1000−23)
        // = 10 (truncated).
        let pod = pod_with(
            vec![Container {
                image: s("app:v1"),
                ..Container::default()
            }],
            vec![],
        );
        let mut counts = FxIndexMap::default();
        counts.insert(s("app:v1"), 1);
        let images = pod_images(&pod, &counts);
        let mut holder = node_with("a", 1000, 1 << 30, 110);
        holder.status.images = vec![(s("app:v1"), 250 * MB as u64)];
        let holder = NodeInfo::new(Rc::new(holder), NodeTotals::default());
        let empty = NodeInfo::new(
            Rc::new(node_with("b", 1000, 1 << 30, 110)),
            NodeTotals::default(),
        );
        assert_eq!(score(&images, &holder, 2, &SizeMemo::default()), 10);
        assert_eq!(score(&images, &empty, 2, &SizeMemo::default()), 0);
        // Below 23Mi scores 0; above 1000Mi per container scores 100.
        let mut tiny = node_with("c", 1000, 1 << 30, 110);
        tiny.status.images = vec![(s("app:v1"), 20 * MB as u64)];
        let tiny = NodeInfo::new(Rc::new(tiny), NodeTotals::default());
        assert_eq!(score(&images, &tiny, 1, &SizeMemo::default()), 0);
        let mut huge = node_with("d", 1000, 1 << 30, 110);
        huge.status.images = vec![(s("app:v1"), 2000 * MB as u64)];
        let huge = NodeInfo::new(Rc::new(huge), NodeTotals::default());
        assert_eq!(score(&images, &huge, 1, &SizeMemo::default()), 100);
        // One memo over a cycle's nodes gives each node its own score.
        let cycle = SizeMemo::default();
        for (node, expected) in [(&holder, 10), (&empty, 0), (&holder, 10), (&tiny, 0)] {
            assert_eq!(score(&images, node, 2, &cycle), expected);
        }
        // Two containers double the threshold: 2000Mi on every node → sum 2000Mi of
        // max 2000Mi → 100; one of the two images only → (1000−23)/(2000−23) → 49.
        let two = pod_with(
            vec![
                Container {
                    image: s("app:v1"),
                    ..Container::default()
                },
                Container {
                    image: s("sidecar"),
                    ..Container::default()
                },
            ],
            vec![],
        );
        let mut half = node_with("e", 1000, 1 << 30, 110);
        half.status.images = vec![(s("app:v1"), 1000 * MB as u64)];
        let half = NodeInfo::new(Rc::new(half), NodeTotals::default());
        assert_eq!(
            score(&pod_images(&two, &counts), &half, 1, &SizeMemo::default()),
            49
        );
    }

    #[test]
    fn the_memo_tells_images_apart_and_repeats_the_scan_result() {
        let mut counts = FxIndexMap::default();
        counts.insert(s("a:v1"), 1);
        counts.insert(s("b:v1"), 1);
        let wants = |image: &str| {
            let pod = pod_with(
                vec![Container {
                    image: s(image),
                    ..Container::default()
                }],
                vec![],
            );
            pod_images(&pod, &counts)
        };
        let mut holder = node_with("n", 1000, 1 << 30, 110);
        holder.status.images = vec![(s("b:v1"), 500 * MB as u64)];
        let holder = NodeInfo::new(Rc::new(holder), NodeTotals::default());
        // Interned: two pods asking for the same image get the cache's one name.
        assert!(Rc::ptr_eq(&wants("a:v1")[0].0, &wants("a:v1")[0].0));
        assert_eq!(score(&wants("a:v1"), &holder, 2, &SizeMemo::default()), 0);
        let held = score(&wants("b:v1"), &holder, 2, &SizeMemo::default());
        assert!(held > 0);
        assert_eq!(
            score(&wants("b:v1"), &holder, 2, &SizeMemo::default()),
            held
        );
        assert_eq!(score(&wants("a:v1"), &holder, 2, &SizeMemo::default()), 0);
    }
}
