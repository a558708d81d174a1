//! `kubesim schedule FILE [--config KUBE_SCHEDULER_CONFIG] [--format text|json] [--seed N]`:
//! explains where kube-scheduler would place each pending pod of a manifest stream, plugin
//! by plugin and node by node, without running a cluster.
//!
//! FILE holds Nodes, Pods already bound (`spec.nodeName` set), PriorityClasses, pending
//! Pods, and optionally the Namespaces, Services and ReplicaSets that selectors and
//! default spreading look at. PodDisruptionBudgets are accepted and noted as without
//! effect: only preemption reads them, and this command does not preempt (a pod that
//! fits nowhere is reported unschedulable). The pending pods are scheduled one after another in file
//! order, each assumed onto its node before the next, through the same cycle the
//! in-cluster Scheduler runs ([`components::scheduler::schedule_one::schedule_pod`]),
//! with the scheduler's own seeded stream breaking ties: the same inputs and seed give
//! the same bytes, and the same decisions as a cluster built from the same objects.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;

use anyhow::{Context as _, anyhow};
use clap::Args;
use components::api::{LabelSelector, Object, Pod, PriorityClass, system_priority_classes};
use components::apiserver::{admit_pod_priority, default_priority_class};
use components::scheduler::cache::Cache;
use components::scheduler::plugins::PodInfo;
use components::scheduler::profile::Profile;
use components::scheduler::schedule_one::{CycleInput, Decision, Scratch, Selection, schedule_pod};
use scenarios::scheduler_config::{self, SchedulerConfiguration};
use serde_json::{Value, json};
use sim_core::SimRng;

use crate::run::Format;

/// The RNG stream the in-cluster scheduler draws from: its actor's name.
const SCHEDULER_STREAM: &str = "kube-scheduler";

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// A multi-document stream of Nodes, bound Pods, PriorityClasses and pending Pods.
    pub file: PathBuf,
    /// A KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) file; upstream's
    /// defaults when absent.
    #[arg(long, value_name = "KUBE_SCHEDULER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Output: a table per pod (text), or one JSON object with a `decisions` array.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Seeds the scheduler's stream, which breaks ties between equal top scores.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn execute(args: &ScheduleArgs) -> anyhow::Result<ExitCode> {
    let configuration = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            scheduler_config::parse(&path.display().to_string(), &text)?
        }
        None => SchedulerConfiguration::default(),
    };
    for note in &configuration.notes {
        eprintln!("note: {note}");
    }
    let file = args.file.display().to_string();
    let text =
        std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {file}"))?;
    let manifests = scenarios::manifest::ingest_stream(&text, &file)?;
    let mut objects = Vec::with_capacity(manifests.len());
    for manifest in manifests {
        for note in &manifest.notes {
            eprintln!("note: {note}");
        }
        objects.push(manifest.object);
    }
    let explained = explain(&configuration, &objects, args.seed)?;
    for note in &explained.notes {
        eprintln!("note: {note}");
    }
    match args.format {
        Format::Json => println!("{}", json_output(&explained.decisions)),
        Format::Text => print!("{}", text_output(&explained)),
    }
    Ok(ExitCode::SUCCESS)
}

/// The decisions, in the order of the pending pods, with the weights of the profile each
/// was scheduled with (for the text table).
pub struct Explained {
    pub decisions: Vec<Decision>,
    pub weights: Vec<Vec<(&'static str, i64)>>,
    pub notes: Vec<String>,
}

/// Schedules every pending pod of `objects` in order, as the in-cluster scheduler would.
pub fn explain(
    configuration: &SchedulerConfiguration,
    objects: &[Object],
    seed: u64,
) -> anyhow::Result<Explained> {
    let profiles: Vec<Profile> = configuration
        .profiles
        .iter()
        .map(|p| p.to_profile())
        .collect();
    let mut classes: Vec<Rc<PriorityClass>> =
        system_priority_classes().into_iter().map(Rc::new).collect();
    let mut cache = Cache::default();
    let mut pending: Vec<Rc<Pod>> = Vec::new();
    let mut names = BTreeSet::new();
    let mut notes = Vec::new();
    // kubesim's cache keys pods by uid, which the API server would assign.
    let mut next_uid: u64 = 1;
    for object in objects {
        if !names.insert(object.key()) {
            return Err(anyhow!("{} appears twice in the file", object.key()));
        }
        match object {
            Object::Node(node) => cache.set_node(node.clone()),
            Object::PriorityClass(class) => {
                if classes
                    .iter()
                    .any(|c| c.metadata.name == class.metadata.name)
                {
                    return Err(anyhow!(
                        "PriorityClass {} is built in and may not be redefined",
                        class.metadata.name
                    ));
                }
                classes.push(class.clone());
            }
            Object::Pod(pod) => {
                let mut pod = (**pod).clone();
                pod.metadata.uid = next_uid;
                next_uid += 1;
                pending.push(Rc::new(pod));
            }
            // What namespaceSelector and the default spreading selector read.
            Object::Namespace(namespace) => cache.set_namespace(
                namespace.metadata.name.clone(),
                namespace.metadata.labels.clone(),
            ),
            Object::Service(service) => {
                cache.set_workload(
                    "Service",
                    service.metadata.namespace.clone(),
                    service.metadata.name.clone(),
                    service
                        .spec
                        .selector
                        .clone()
                        .map(LabelSelector::from_labels),
                );
            }
            Object::ReplicaSet(replica_set) => {
                cache.set_workload(
                    "ReplicaSet",
                    replica_set.metadata.namespace.clone(),
                    replica_set.metadata.name.clone(),
                    Some(replica_set.spec.selector.clone()),
                );
            }
            // Read so that one file serves a cluster and this command alike; only
            // preemption reads budgets, and this command does not preempt.
            Object::PodDisruptionBudget(budget) => notes.push(format!(
                "PodDisruptionBudget {}/{}: no effect here, since kubesim schedule does not run preemption (the in-cluster scheduler does)",
                budget.metadata.namespace, budget.metadata.name
            )),
            other => {
                return Err(anyhow!(
                    "{}: kubesim schedule reads Nodes, Pods, PriorityClasses, Namespaces, Services, ReplicaSets and PodDisruptionBudgets",
                    other.key()
                ));
            }
        }
    }
    // Priority as the admission plugin sets it, for bound and pending pods alike.
    let default = default_priority_class(classes.iter().map(|c| &**c));
    let mut admitted = Vec::with_capacity(pending.len());
    for pod in pending {
        let mut pod = (*pod).clone();
        admit_pod_priority(
            &mut pod.spec,
            |name| {
                classes
                    .iter()
                    .find(|c| &*c.metadata.name == name)
                    .map(|c| &**c)
            },
            default,
        )
        .map_err(|why| {
            anyhow!(
                "pod {}/{} is forbidden: {why}",
                pod.metadata.namespace,
                pod.metadata.name
            )
        })?;
        admitted.push(Rc::new(pod));
    }
    let (bound, pending): (Vec<_>, Vec<_>) = admitted
        .into_iter()
        .partition(|pod| pod.spec.node_name.is_some());
    for pod in &bound {
        cache.on_pod(None, Some(pod));
    }
    let mut rng = SimRng::for_stream(seed, SCHEDULER_STREAM);
    let mut scratch = Scratch::default();
    let mut next_start_node_index = 0;
    let mut explained = Explained {
        decisions: Vec::new(),
        weights: Vec::new(),
        notes,
    };
    for pod in pending {
        let key = format!("{}/{}", pod.metadata.namespace, pod.metadata.name);
        let Some(profile) = profiles
            .iter()
            .find(|p| p.scheduler_name == pod.spec.scheduler_name)
        else {
            explained.notes.push(format!(
                "pod {key}: schedulerName {:?} is no profile of the configuration, so no scheduler places it",
                pod.spec.scheduler_name
            ));
            explained.decisions.push(Decision {
                pod: key,
                ..Decision::default()
            });
            explained.weights.push(Vec::new());
            continue;
        };
        let node_count = cache.node_count();
        let start = if node_count == 0 {
            0
        } else {
            next_start_node_index % node_count
        };
        let info = PodInfo::new(pod);
        cache.refresh();
        let outcome = schedule_pod(
            CycleInput {
                profile,
                percentage_of_nodes_to_score: configuration.percentage_of_nodes_to_score,
                start,
                explain: true,
            },
            &info,
            &cache,
            &mut rng,
            &mut scratch,
        );
        if node_count > 0 {
            next_start_node_index = (start + outcome.processed) % node_count;
        }
        if let Selection::Node { node, .. } = outcome.selection {
            cache.assume(&info, node);
        }
        let decision = outcome.decision.expect("an explained cycle");
        explained.decisions.push(decision);
        explained
            .weights
            .push(profile.scores.iter().map(|(p, w)| (p.name(), *w)).collect());
    }
    Ok(explained)
}

/// `{"decisions": [{"pod", "filtered", "scores", "total", "selected"}]}`, every map in
/// key order so the bytes are stable.
pub fn json_output(decisions: &[Decision]) -> Value {
    let decisions: Vec<Value> = decisions
        .iter()
        .map(|decision| {
            let filtered: BTreeMap<&str, String> = decision
                .filtered
                .iter()
                .map(|(node, plugin, reason)| (&**node, format!("{plugin}: {reason}")))
                .collect();
            let scores: BTreeMap<&str, BTreeMap<&str, i64>> = decision
                .scores
                .iter()
                .map(|(node, plugins)| (&**node, plugins.iter().copied().collect()))
                .collect();
            let total: BTreeMap<&str, i64> = decision
                .total
                .iter()
                .map(|(node, total)| (&**node, *total))
                .collect();
            json!({
                "pod": decision.pod,
                "filtered": filtered,
                "scores": scores,
                "total": total,
                "selected": decision.selected.as_deref(),
            })
        })
        .collect();
    json!({ "decisions": decisions })
}

/// A table per pod: feasible nodes as rows, score plugins as columns (normalized score;
/// the header carries the weight), the weighted total, `*` on the selected node; then
/// the nodes the filters rejected, with the plugin and its reason.
pub fn text_output(explained: &Explained) -> String {
    let mut out = String::new();
    for (decision, weights) in explained.decisions.iter().zip(&explained.weights) {
        match &decision.selected {
            Some(node) => {
                let _ = writeln!(out, "pod {} → {node}", decision.pod);
            }
            None => {
                let _ = writeln!(out, "pod {} → unschedulable", decision.pod);
            }
        }
        if decision.scores.is_empty() && decision.total.len() == 1 {
            let _ = writeln!(
                out,
                "    {}: the only feasible node, chosen without scoring",
                decision.total[0].0
            );
        } else if !decision.total.is_empty() {
            let node_width = decision
                .total
                .iter()
                .map(|(node, _)| node.len())
                .max()
                .unwrap_or(0)
                .max("node".len());
            let headers: Vec<String> = weights
                .iter()
                .map(|(plugin, weight)| format!("{plugin}×{weight}"))
                .collect();
            let _ = write!(out, "    {:<node_width$}", "node");
            for header in &headers {
                let _ = write!(out, "  {header}");
            }
            let _ = writeln!(out, "  total");
            for (row, (node, total)) in decision.total.iter().enumerate() {
                let mark = if decision.selected.as_ref() == Some(node) {
                    "*"
                } else {
                    " "
                };
                let _ = write!(out, "  {mark} {node:<node_width$}");
                let plugins = decision
                    .scores
                    .get(row)
                    .filter(|(scored, _)| scored == node)
                    .map(|(_, plugins)| plugins.as_slice())
                    .unwrap_or_default();
                for ((plugin, _), header) in weights.iter().zip(&headers) {
                    let width = header.len();
                    match plugins.iter().find(|(p, _)| p == plugin) {
                        Some((_, score)) => {
                            let _ = write!(out, "  {score:>width$}");
                        }
                        None => {
                            let _ = write!(out, "  {:>width$}", "-");
                        }
                    }
                }
                let _ = writeln!(out, "  {total:>5}");
            }
        }
        if !decision.filtered.is_empty() {
            let _ = writeln!(out, "  filtered out:");
            for (node, plugin, reason) in &decision.filtered {
                let _ = writeln!(out, "    {node}: {plugin}: {reason}");
            }
        }
        out.push('\n');
    }
    out
}
