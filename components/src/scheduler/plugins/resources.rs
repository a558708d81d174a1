//! NodeResourcesFit (filter and score) and NodeResourcesBalancedAllocation (score), and
//! what a pod requests as `resourcehelper.PodRequests` counts it.
//!
//! Upstream: `pkg/scheduler/framework/plugins/noderesources/{fit.go, least_allocated.go,
//! most_allocated.go, requested_to_capacity_ratio.go, balanced_allocation.go,
//! resource_allocation.go}` and `component-helpers/resource/helpers.go` (v1.34).

use std::cell::Cell;

use crate::api::{Container, PodSpec, ResourceList, Str};

use super::{Insufficient, MAX_NODE_SCORE, NodeInfo, PodInfo, Unfit};

/// `DefaultMilliCPURequest` (pkg/scheduler/util): what a container without a CPU request
/// counts as when scoring.
pub const DEFAULT_MILLI_CPU_REQUEST: u64 = 100;
/// `DefaultMemoryRequest` (pkg/scheduler/util): 200 MiB.
pub const DEFAULT_MEMORY_REQUEST_BYTES: u64 = 200 * 1024 * 1024;

pub const CPU: &str = "cpu";
pub const MEMORY: &str = "memory";
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";

/// Requested (or allocatable) amounts of the resources the scheduler checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub cpu_millicores: u64,
    pub memory_bytes: u64,
    pub ephemeral_storage_bytes: u64,
}

impl Resources {
    pub fn add(&mut self, other: &Resources) {
        self.cpu_millicores += other.cpu_millicores;
        self.memory_bytes += other.memory_bytes;
        self.ephemeral_storage_bytes += other.ephemeral_storage_bytes;
    }

    pub fn subtract(&mut self, other: &Resources) {
        assert!(
            self.cpu_millicores >= other.cpu_millicores,
            "cpu accounting underflow"
        );
        assert!(
            self.memory_bytes >= other.memory_bytes,
            "memory accounting underflow"
        );
        assert!(
            self.ephemeral_storage_bytes >= other.ephemeral_storage_bytes,
            "ephemeral-storage accounting underflow"
        );
        self.cpu_millicores -= other.cpu_millicores;
        self.memory_bytes -= other.memory_bytes;
        self.ephemeral_storage_bytes -= other.ephemeral_storage_bytes;
    }

    fn max_with(&mut self, other: &Resources) {
        self.cpu_millicores = self.cpu_millicores.max(other.cpu_millicores);
        self.memory_bytes = self.memory_bytes.max(other.memory_bytes);
        self.ephemeral_storage_bytes = self
            .ephemeral_storage_bytes
            .max(other.ephemeral_storage_bytes);
    }
}

/// Extended resources by name (sorted), e.g. `nvidia.com/gpu`.
pub type Extended = Vec<(Str, u64)>;

pub fn extended_get(list: &[(Str, u64)], name: &str) -> u64 {
    list.iter()
        .find(|(n, _)| &**n == name)
        .map_or(0, |(_, v)| *v)
}

fn extended_combine(list: &mut Extended, other: &[(Str, u64)], combine: fn(u64, u64) -> u64) {
    for (name, value) in other {
        match list.binary_search_by(|(n, _)| n.cmp(name)) {
            Ok(i) => list[i].1 = combine(list[i].1, *value),
            Err(i) => list.insert(i, (name.clone(), combine(0, *value))),
        }
    }
}

pub fn extended_add(list: &mut Extended, other: &[(Str, u64)]) {
    extended_combine(list, other, |a, b| a + b);
}

pub fn extended_subtract(list: &mut Extended, other: &[(Str, u64)]) {
    extended_combine(list, other, |a, b| {
        assert!(a >= b, "extended resource accounting underflow");
        a - b
    });
    list.retain(|(_, v)| *v > 0);
}

/// A full request vector: the three base resources and the extended ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Requests {
    pub base: Resources,
    pub extended: Extended,
}

impl Requests {
    fn add(&mut self, other: &Requests) {
        self.base.add(&other.base);
        extended_add(&mut self.extended, &other.extended);
    }

    fn max_with(&mut self, other: &Requests) {
        self.base.max_with(&other.base);
        extended_combine(&mut self.extended, &other.extended, u64::max);
    }
}

/// One container's requests. With `non_missing`, an absent CPU or memory request counts
/// as 100m / 200Mi (`NonMissingContainerRequests`); an explicit 0 stays 0.
fn container_requests(container: &Container, non_missing: bool) -> Requests {
    let requests: &ResourceList = &container.resources.requests;
    let (cpu_default, memory_default) = if non_missing {
        (DEFAULT_MILLI_CPU_REQUEST, DEFAULT_MEMORY_REQUEST_BYTES)
    } else {
        (0, 0)
    };
    let mut extended: Extended = container.extended_requests.to_vec();
    extended.sort();
    Requests {
        base: Resources {
            cpu_millicores: requests.cpu_millicores.unwrap_or(cpu_default),
            memory_bytes: requests.memory_bytes.unwrap_or(memory_default),
            ephemeral_storage_bytes: requests.ephemeral_storage_bytes.unwrap_or(0),
        },
        extended,
    }
}

/// A pod's requests as `resourcehelper.PodRequests` (v1.34) computes them: the regular
/// containers summed; sidecars (restartable init containers) run beside them and are
/// added too; each regular init container needs its own request plus the sidecars
/// started before it, and the pod needs at least the largest of those; then the pod
/// overhead is added.
pub fn pod_requests_full(spec: &PodSpec, non_missing: bool) -> Requests {
    let mut total = Requests::default();
    for container in spec.containers.iter() {
        total.add(&container_requests(container, non_missing));
    }
    let mut sidecars = Requests::default();
    let mut init_peak = Requests::default();
    for init in spec.init_containers.iter() {
        let own = container_requests(init, non_missing);
        let during = if init.is_sidecar() {
            total.add(&own);
            sidecars.add(&own);
            sidecars.clone()
        } else {
            let mut during = own;
            during.add(&sidecars);
            during
        };
        init_peak.max_with(&during);
    }
    total.max_with(&init_peak);
    let overhead = &spec.overhead;
    total.base.add(&Resources {
        cpu_millicores: overhead.cpu_millicores.unwrap_or(0),
        memory_bytes: overhead.memory_bytes.unwrap_or(0),
        ephemeral_storage_bytes: overhead.ephemeral_storage_bytes.unwrap_or(0),
    });
    total
}

/// The base resources of [`pod_requests_full`].
pub fn pod_requests(spec: &PodSpec, non_missing: bool) -> Resources {
    pod_requests_full(spec, non_missing).base
}

/// `NodeResourcesFitArgs.ignoredResources` / `ignoredResourceGroups`: extended resources
/// the filter does not check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IgnoredResources {
    pub ignored_resources: Vec<Str>,
    /// Prefixes before the `/` (`example.com` ignores `example.com/foo`).
    pub ignored_resource_groups: Vec<Str>,
}

impl IgnoredResources {
    fn ignores(&self, name: &str) -> bool {
        self.ignored_resources.iter().any(|r| &**r == name)
            || name.split_once('/').is_some_and(|(group, _)| {
                self.ignored_resource_groups.iter().any(|g| &**g == group)
            })
    }
}

/// NodeResourcesFit filter (`fitsRequest`): the pod count, then CPU, memory, ephemeral
/// storage and extended resources against allocatable minus what the node's pods request.
pub fn node_resources_fit(
    pod: &PodInfo,
    node: &NodeInfo,
    ignored: &IgnoredResources,
) -> Result<(), Unfit> {
    let too_many_pods = node.totals.pod_count + 1 > node.allowed_pod_count;
    let want = &pod.requests;
    if *want == Resources::default() && pod.extended_requests.is_empty() {
        return if too_many_pods {
            Err(Unfit::Resources(Insufficient {
                too_many_pods,
                ..Insufficient::default()
            }))
        } else {
            Ok(())
        };
    }
    let used = &node.totals.requested;
    let have = &node.allocatable;
    let mut insufficient = Insufficient {
        too_many_pods,
        cpu: want.cpu_millicores > 0
            && want.cpu_millicores + used.cpu_millicores > have.cpu_millicores,
        memory: want.memory_bytes > 0 && want.memory_bytes + used.memory_bytes > have.memory_bytes,
        ephemeral_storage: want.ephemeral_storage_bytes > 0
            && want.ephemeral_storage_bytes + used.ephemeral_storage_bytes
                > have.ephemeral_storage_bytes,
        extended: Vec::new(),
    };
    for (name, quantity) in &pod.extended_requests {
        if *quantity == 0 || ignored.ignores(name) {
            continue;
        }
        let allocatable = extended_get(&node.node.status.extended_allocatable, name);
        if quantity + extended_get(&node.extended_requested, name) > allocatable {
            insufficient.extended.push(name.clone());
        }
    }
    if insufficient == Insufficient::default() {
        Ok(())
    } else {
        Err(Unfit::Resources(insufficient))
    }
}

// ---------------------------------------------------------------------------------------
// Scores

/// A resource and its weight in a scoring strategy (`ResourceSpec`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceSpec {
    pub name: Str,
    pub weight: i64,
}

/// `[cpu:1, memory:1]`, upstream's default for both NodeResourcesFit scoring and
/// NodeResourcesBalancedAllocation.
pub fn default_resource_specs() -> Vec<ResourceSpec> {
    vec![
        ResourceSpec {
            name: Str::from(CPU),
            weight: 1,
        },
        ResourceSpec {
            name: Str::from(MEMORY),
            weight: 1,
        },
    ]
}

/// One point of a RequestedToCapacityRatio shape: utilization 0..=100 → score 0..=10.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtilizationShapePoint {
    pub utilization: i64,
    pub score: i64,
}

/// `ScoringStrategy.type` of NodeResourcesFit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScoringStrategy {
    /// Upstream default: prefer nodes with more free room.
    LeastAllocated,
    /// Bin packing: prefer fuller nodes.
    MostAllocated,
    /// A piecewise-linear function of utilization (points sorted by utilization).
    RequestedToCapacityRatio { shape: Vec<UtilizationShapePoint> },
}

/// `NodeResourcesFitArgs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FitArgs {
    pub strategy: ScoringStrategy,
    pub resources: Vec<ResourceSpec>,
    pub ignored: IgnoredResources,
}

impl Default for FitArgs {
    /// Upstream: `{type: LeastAllocated, resources: [cpu:1, memory:1]}`.
    fn default() -> FitArgs {
        FitArgs {
            strategy: ScoringStrategy::LeastAllocated,
            resources: default_resource_specs(),
            ignored: IgnoredResources::default(),
        }
    }
}

/// `calculateResourceAllocatableRequest`: (allocatable, node's requests + the pod's) for
/// one resource. CPU and memory count the non-zero defaults unless `use_requested`;
/// an extended resource the pod does not request is left out as (0, 0).
fn allocatable_and_requested(
    pod: &PodInfo,
    node: &NodeInfo,
    resource: &str,
    use_requested: bool,
) -> (u64, u64) {
    let (node_side, pod_side) = if use_requested {
        (&node.totals.requested, &pod.requests)
    } else {
        (&node.totals.non_zero_requested, &pod.non_zero_requests)
    };
    match resource {
        CPU => (
            node.allocatable.cpu_millicores,
            node_side.cpu_millicores + pod_side.cpu_millicores,
        ),
        MEMORY => (
            node.allocatable.memory_bytes,
            node_side.memory_bytes + pod_side.memory_bytes,
        ),
        EPHEMERAL_STORAGE => (
            node.allocatable.ephemeral_storage_bytes,
            node.totals.requested.ephemeral_storage_bytes + pod.requests.ephemeral_storage_bytes,
        ),
        name => {
            let want = extended_get(&pod.extended_requests, name);
            if want == 0 {
                return (0, 0);
            }
            (
                extended_get(&node.node.status.extended_allocatable, name),
                extended_get(&node.extended_requested, name) + want,
            )
        }
    }
}

/// `leastRequestedScore`: the free fraction of one resource, 0..=100.
pub fn least_requested_score(requested: u64, capacity: u64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    scaled(capacity - requested, capacity)
}

/// `mostRequestedScore`: the used fraction of one resource, 0..=100 (capped at full).
pub fn most_requested_score(requested: u64, capacity: u64) -> i64 {
    if capacity == 0 {
        return 0;
    }
    scaled(requested.min(capacity), capacity)
}

/// `part × 100 / whole`, exact even for huge quantities.
fn scaled(part: u64, whole: u64) -> i64 {
    match part.checked_mul(MAX_NODE_SCORE as u64) {
        Some(product) => (product / whole) as i64,
        None => (u128::from(part) * MAX_NODE_SCORE as u128 / u128::from(whole)) as i64,
    }
}

/// `helper.BuildBrokenLinearFunction` over a shape whose scores are already scaled to
/// 0..=100: the first point's score below it, the last point's above it, linear between.
fn broken_linear(shape: &[UtilizationShapePoint], utilization: i64) -> i64 {
    for (i, point) in shape.iter().enumerate() {
        if utilization <= point.utilization {
            if i == 0 {
                return point.score;
            }
            let previous = shape[i - 1];
            return previous.score
                + (point.score - previous.score) * (utilization - previous.utilization)
                    / (point.utilization - previous.utilization);
        }
    }
    shape.last().map_or(0, |p| p.score)
}

/// `MaxCustomPriorityScore`: shape scores are given on 0..=10.
const MAX_CUSTOM_PRIORITY_SCORE: i64 = 10;
/// `maxUtilization`.
const MAX_UTILIZATION: i64 = 100;

/// NodeResourcesFit score with the profile's strategy and resource weights
/// (`resourceAllocationScorer.score` with `useRequested = false`).
pub fn node_resources_fit_score(pod: &PodInfo, node: &NodeInfo, args: &FitArgs) -> i64 {
    let memo_key = match args.strategy {
        ScoringStrategy::LeastAllocated if is_cpu_memory_1_1(&args.resources) => Some(MemoKey {
            strategy: 0,
            cpu_millicores: node.totals.non_zero_requested.cpu_millicores
                + pod.non_zero_requests.cpu_millicores,
            memory_bytes: node.totals.non_zero_requested.memory_bytes
                + pod.non_zero_requests.memory_bytes,
        }),
        ScoringStrategy::MostAllocated if is_cpu_memory_1_1(&args.resources) => Some(MemoKey {
            strategy: 1,
            cpu_millicores: node.totals.non_zero_requested.cpu_millicores
                + pod.non_zero_requests.cpu_millicores,
            memory_bytes: node.totals.non_zero_requested.memory_bytes
                + pod.non_zero_requests.memory_bytes,
        }),
        _ => None,
    };
    if let Some(key) = memo_key
        && let Some((seen, score)) = node.score_memo.fit.get()
        && seen == key
    {
        return score;
    }
    let score = fit_score(pod, node, args);
    if let Some(key) = memo_key {
        node.score_memo.fit.set(Some((key, score)));
    }
    score
}

/// What a memoized resource score was computed from: the strategy and the summed CPU
/// and memory (node's pods plus the incoming pod). Allocatable is fixed for a `NodeInfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MemoKey {
    strategy: u8,
    cpu_millicores: u64,
    memory_bytes: u64,
}

/// The last NodeResourcesFit and BalancedAllocation scores of one node, by what they
/// were computed from. Pods of one ReplicaSet ask the same, and a cycle changes one
/// node's totals, so most cycles find their scores here instead of dividing again.
/// Only upstream's default `[cpu:1, memory:1]` resources are memoized: the score then
/// depends on nothing else.
#[derive(Clone, Debug, Default)]
pub struct ScoreMemo {
    fit: Cell<Option<(MemoKey, i64)>>,
    balanced: Cell<Option<(MemoKey, i64)>>,
}

/// Whether `specs` is upstream's default `[cpu:1, memory:1]`.
fn is_cpu_memory_1_1(specs: &[ResourceSpec]) -> bool {
    matches!(specs, [cpu, memory]
        if &*cpu.name == CPU && cpu.weight == 1 && &*memory.name == MEMORY && memory.weight == 1)
}

fn fit_score(pod: &PodInfo, node: &NodeInfo, args: &FitArgs) -> i64 {
    let mut score_sum: i64 = 0;
    let mut weight_sum: i64 = 0;
    for spec in &args.resources {
        let (allocatable, requested) = allocatable_and_requested(pod, node, &spec.name, false);
        if allocatable == 0 {
            continue;
        }
        match &args.strategy {
            ScoringStrategy::LeastAllocated => {
                score_sum += least_requested_score(requested, allocatable) * spec.weight;
                weight_sum += spec.weight;
            }
            ScoringStrategy::MostAllocated => {
                score_sum += most_requested_score(requested, allocatable) * spec.weight;
                weight_sum += spec.weight;
            }
            ScoringStrategy::RequestedToCapacityRatio { shape } => {
                // Upstream scales the shape's 0..10 scores to 0..100 first.
                let scale = MAX_NODE_SCORE / MAX_CUSTOM_PRIORITY_SCORE;
                let scaled_shape: Vec<UtilizationShapePoint> = shape
                    .iter()
                    .map(|p| UtilizationShapePoint {
                        utilization: p.utilization,
                        score: p.score * scale,
                    })
                    .collect();
                let utilization = if requested > allocatable {
                    MAX_UTILIZATION
                } else {
                    scaled(requested, allocatable)
                };
                let resource_score = broken_linear(&scaled_shape, utilization);
                // Only resources with a positive score count toward the mean here.
                if resource_score > 0 {
                    score_sum += resource_score * spec.weight;
                    weight_sum += spec.weight;
                }
            }
        }
    }
    if weight_sum == 0 {
        return 0;
    }
    match args.strategy {
        // `math.Round(nodeScore / weightSum)`, half away from zero, on non-negatives.
        ScoringStrategy::RequestedToCapacityRatio { .. } => {
            (2 * score_sum + weight_sum) / (2 * weight_sum)
        }
        _ => score_sum / weight_sum,
    }
}

/// `NodeResourcesBalancedAllocationArgs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalancedAllocationArgs {
    pub resources: Vec<ResourceSpec>,
}

impl Default for BalancedAllocationArgs {
    fn default() -> BalancedAllocationArgs {
        BalancedAllocationArgs {
            resources: default_resource_specs(),
        }
    }
}

/// BalancedAllocation PreScore: Skip for a pod that requests nothing of the resources.
pub fn balanced_allocation_skips(pod: &PodInfo, args: &BalancedAllocationArgs) -> bool {
    args.resources.iter().all(|spec| match &*spec.name {
        CPU => pod.requests.cpu_millicores == 0,
        MEMORY => pod.requests.memory_bytes == 0,
        EPHEMERAL_STORAGE => pod.requests.ephemeral_storage_bytes == 0,
        name => extended_get(&pod.extended_requests, name) == 0,
    })
}

/// NodeResourcesBalancedAllocation score (the formula up to v1.35): each resource's
/// requested fraction, capped at 1; with two resources the deviation is half their
/// difference, with more the population standard deviation; score `(1 − std) × 100`
/// truncated. Actual requests, no defaults (`useRequested = true`).
pub fn balanced_allocation_score(
    pod: &PodInfo,
    node: &NodeInfo,
    args: &BalancedAllocationArgs,
) -> i64 {
    if !is_cpu_memory_1_1(&args.resources) {
        return balanced_score(pod, node, args);
    }
    let key = MemoKey {
        strategy: 2,
        cpu_millicores: node.totals.requested.cpu_millicores + pod.requests.cpu_millicores,
        memory_bytes: node.totals.requested.memory_bytes + pod.requests.memory_bytes,
    };
    if let Some((seen, score)) = node.score_memo.balanced.get()
        && seen == key
    {
        return score;
    }
    let score = balanced_score(pod, node, args);
    node.score_memo.balanced.set(Some((key, score)));
    score
}

fn balanced_score(pod: &PodInfo, node: &NodeInfo, args: &BalancedAllocationArgs) -> i64 {
    let mut fractions = [0f64; 8];
    let mut count = 0;
    let mut total = 0f64;
    for spec in &args.resources {
        let (allocatable, requested) = allocatable_and_requested(pod, node, &spec.name, true);
        if allocatable == 0 {
            continue;
        }
        let fraction = (requested as f64 / allocatable as f64).min(1.0);
        assert!(count < fractions.len(), "too many balanced resources");
        fractions[count] = fraction;
        count += 1;
        total += fraction;
    }
    let fractions = &fractions[..count];
    let std = match count {
        0 | 1 => 0.0,
        2 => ((fractions[0] - fractions[1]) / 2.0).abs(),
        n => {
            let mean = total / n as f64;
            let sum: f64 = fractions.iter().map(|f| (f - mean) * (f - mean)).sum();
            (sum / n as f64).sqrt()
        }
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;
    use crate::api::{ContainerRestartPolicy, ResourceRequirements, s};
    use crate::scheduler::plugins::NodeTotals;
    use crate::scheduler::plugins::tests::{node_with, pod_with};

    const MI: u64 = 1024 * 1024;

    fn container(cpu: u64, memory: u64) -> Container {
        Container {
            name: s("c"),
            image: s("nginx"),
            resources: ResourceRequirements {
                requests: ResourceList {
                    cpu_millicores: Some(cpu),
                    memory_bytes: Some(memory),
                    ..ResourceList::default()
                },
                limits: ResourceList::default(),
            },
            ..Container::default()
        }
    }

    fn sidecar(cpu: u64, memory: u64) -> Container {
        Container {
            restart_policy: Some(ContainerRestartPolicy::Always),
            ..container(cpu, memory)
        }
    }

    fn pod(containers: Vec<Container>, init: Vec<Container>) -> PodInfo {
        PodInfo::new(Rc::new(pod_with(containers, init)))
    }

    fn node(cpu: u64, memory: u64, requested: Resources) -> NodeInfo {
        NodeInfo::new(
            Rc::new(node_with("n", cpu, memory, 110)),
            NodeTotals {
                requested,
                non_zero_requested: requested,
                pod_count: 0,
            },
        )
    }

    #[test]
    fn sidecars_add_to_the_pod_and_to_later_init_containers() {
        // KEP-753's example shape: sidecar 100m, then an init container of 500m, then
        // regular containers of 300m. Regular + sidecar = 400m; the init container runs
        // beside the sidecar, 500 + 100 = 600m; the pod needs max(400, 600) = 600m.
        let requests = pod_requests(
            &pod_with(
                vec![container(300, MI)],
                vec![sidecar(100, MI), container(500, MI)],
            )
            .spec,
            false,
        );
        assert_eq!(requests.cpu_millicores, 600);
        // Memory: regular 1Mi + sidecar 1Mi = 2Mi; init 1Mi + sidecar 1Mi = 2Mi.
        assert_eq!(requests.memory_bytes, 2 * MI);
        // An init container before the sidecar does not run beside it.
        let early = pod_requests(
            &pod_with(
                vec![container(300, MI)],
                vec![container(350, MI), sidecar(100, MI)],
            )
            .spec,
            false,
        );
        assert_eq!(early.cpu_millicores, 400);
    }

    #[test]
    fn overhead_is_added_to_the_requests() {
        let mut spec = pod_with(vec![container(300, MI)], vec![]).spec;
        spec.overhead = ResourceList {
            cpu_millicores: Some(250),
            memory_bytes: Some(120 * MI),
            ..ResourceList::default()
        };
        let requests = pod_requests(&spec, true);
        assert_eq!(requests.cpu_millicores, 550);
        assert_eq!(requests.memory_bytes, 121 * MI);
    }

    #[test]
    fn extended_resources_are_checked_and_named() {
        let mut gpu = container(100, MI);
        gpu.extended_requests = Rc::from(vec![(s("nvidia.com/gpu"), 2)]);
        let pod = pod(vec![gpu], vec![]);
        let mut raw = node_with("n", 1000, 1024 * MI, 110);
        raw.status.extended_allocatable = vec![(s("nvidia.com/gpu"), 1)];
        let node = NodeInfo::new(Rc::new(raw), NodeTotals::default());
        let unfit = node_resources_fit(&pod, &node, &IgnoredResources::default()).unwrap_err();
        assert_eq!(unfit.to_string(), "Insufficient nvidia.com/gpu");
        let ignored = IgnoredResources {
            ignored_resources: vec![],
            ignored_resource_groups: vec![s("nvidia.com")],
        };
        assert_eq!(node_resources_fit(&pod, &node, &ignored), Ok(()));
    }

    #[test]
    fn most_allocated_matches_upstream_examples() {
        // most_allocated_test.go: node 4000m / 10000, pod 3000m / 5000 on an empty node:
        // cpu 3000*100/4000 = 75, memory 5000*100/10000 = 50 → (75+50)/2 = 62.
        let pod = pod(vec![container(1000, 2000), container(2000, 3000)], vec![]);
        let node = node(4000, 10000, Resources::default());
        let args = FitArgs {
            strategy: ScoringStrategy::MostAllocated,
            ..FitArgs::default()
        };
        assert_eq!(node_resources_fit_score(&pod, &node, &args), 62);
        // Over capacity caps at 100.
        assert_eq!(most_requested_score(5000, 4000), 100);
    }

    #[test]
    fn requested_to_capacity_ratio_follows_the_shape() {
        // Shape {0:10, 100:0} (spreading): cpu 3000/4000 = 75 % → 100 − 75 = 25;
        // memory 5000/10000 = 50 % → 50; mean (25+50)/2 = 37.5, rounded to 38.
        let pod = pod(vec![container(3000, 5000)], vec![]);
        let node = node(4000, 10000, Resources::default());
        let args = FitArgs {
            strategy: ScoringStrategy::RequestedToCapacityRatio {
                shape: vec![
                    UtilizationShapePoint {
                        utilization: 0,
                        score: 10,
                    },
                    UtilizationShapePoint {
                        utilization: 100,
                        score: 0,
                    },
                ],
            },
            ..FitArgs::default()
        };
        assert_eq!(node_resources_fit_score(&pod, &node, &args), 38);
    }

    #[test]
    fn balanced_allocation_uses_actual_requests() {
        // balanced_allocation_test.go style: node 4000m / 10000, existing 0, pod 3000m /
        // 5000 → fractions 0.75 and 0.5, std |0.75−0.5|/2 = 0.125 → (1−0.125)×100 = 87.
        let pod = pod(vec![container(3000, 5000)], vec![]);
        let node = node(4000, 10000, Resources::default());
        let args = BalancedAllocationArgs::default();
        assert_eq!(balanced_allocation_score(&pod, &node, &args), 87);
        // Fractions are capped at 1: 6000/4000 → 1, 5000/10000 → 0.5 → 75.
        let big = PodInfo::new(Rc::new(pod_with(vec![container(6000, 5000)], vec![])));
        assert_eq!(balanced_allocation_score(&big, &node, &args), 75);
        // Three resources: the population standard deviation.
        let mut with_storage = pod_with(vec![container(2000, 5000)], vec![]);
        Rc::make_mut(&mut with_storage.spec.containers)[0]
            .resources
            .requests
            .ephemeral_storage_bytes = Some(100 * 1024 * MI);
        let three = PodInfo::new(Rc::new(with_storage));
        let args3 = BalancedAllocationArgs {
            resources: vec![
                ResourceSpec {
                    name: s(CPU),
                    weight: 1,
                },
                ResourceSpec {
                    name: s(MEMORY),
                    weight: 1,
                },
                ResourceSpec {
                    name: s(EPHEMERAL_STORAGE),
                    weight: 1,
                },
            ],
        };
        // Fractions 0.5, 0.5, 1.0: mean 2/3, std sqrt((1/36+1/36+4/36)/3) = 0.2357 → 76.
        assert_eq!(balanced_allocation_score(&three, &node, &args3), 76);
        // A pod requesting nothing is skipped.
        let empty = PodInfo::new(Rc::new(pod_with(vec![], vec![])));
        assert!(balanced_allocation_skips(&empty, &args));
        assert!(!balanced_allocation_skips(&pod, &args));
    }
}
