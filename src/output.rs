//! What `kubesim run` prints: the narrated timeline and a summary (text), or one JSON
//! object (json).

use std::fmt::Write;

use components::api::PodPhase;
use reports::eventlog::{RecordLine, hex};
use reports::narration::narrate;
use scenarios::scenario::Step;
use scenarios::{Outcome, RunReport, Scenario};
use serde_json::{Value, json};

const PHASES: [PodPhase; 5] = [
    PodPhase::Pending,
    PodPhase::Running,
    PodPhase::Succeeded,
    PodPhase::Failed,
    PodPhase::Unknown,
];

/// The text report: narration, expectations, final counts, and the trace hash line.
pub fn text(
    scenario: &Scenario,
    report: &RunReport,
    records: &[RecordLine],
    verbose: bool,
    wall_time_s: f64,
    argument: &str,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "kubesim run {} (seed {}): {}",
        scenario.name, report.seed, scenario.description
    );
    let _ = writeln!(out);

    // The timeline's faults have no actor to narrate them: add them as lines of their own.
    let mut lines: Vec<(u8, RecordLine)> = scenario
        .timeline
        .iter()
        .filter(|timed| !matches!(timed.step, Step::Kubectl(_)) && timed.at <= report.sim_time)
        .map(|timed| {
            (
                0,
                RecordLine {
                    t: timed.at.as_nanos(),
                    seq: 0,
                    record: "step".to_string(),
                    actor: "timeline".to_string(),
                    detail: timed.step.describe(),
                },
            )
        })
        .collect();
    lines.extend(records.iter().cloned().map(|r| (1, r)));
    lines.sort_by_key(|(order, line)| (line.t, *order, line.seq));
    let lines: Vec<RecordLine> = lines.into_iter().map(|(_, line)| line).collect();
    out.push_str(&narrate(&lines, verbose));
    let _ = writeln!(out);

    if !report.expectations.is_empty() {
        let _ = writeln!(out, "expectations:");
        for result in &report.expectations {
            let mark = match (result.checked, result.passed) {
                (false, _) => "-",
                (true, true) => "✓",
                (true, false) => "✗",
            };
            let _ = writeln!(out, "  {mark} {}  (at {})", result.name, result.at);
            let _ = writeln!(out, "      {}", result.message);
        }
        let _ = writeln!(out);
    }

    match &report.outcome {
        Outcome::Completed => {}
        Outcome::EventBound { events_max, time } => {
            let _ = writeln!(
                out,
                "run stopped: the bound of {events_max} events was reached at {time} (seed {}); reproduce with: kubesim run {argument} --seed {}",
                report.seed, report.seed
            );
        }
        Outcome::InvariantViolated(violation) => {
            let _ = writeln!(
                out,
                "invariant violated: {} at {} (event {}): {} (seed {}); reproduce with: kubesim run {argument} --seed {}",
                violation.invariant,
                violation.time,
                violation.seq,
                violation.message,
                report.seed,
                report.seed
            );
        }
    }

    let state = &report.state;
    let mut phases: Vec<String> = PHASES
        .iter()
        .filter_map(|phase| {
            let count = state.pods_by_phase.get(phase.name()).copied().unwrap_or(0);
            (count > 0).then(|| format!("{} {count}", phase.name()))
        })
        .collect();
    if phases.is_empty() {
        phases.push("none".to_string());
    }
    let _ = writeln!(
        out,
        "pods: {}; terminating {}",
        phases.join(", "),
        state.pods_terminating
    );
    let _ = writeln!(
        out,
        "nodes: ready {}, not ready {}, unknown {}",
        state.nodes_ready, state.nodes_not_ready, state.nodes_unknown
    );
    for d in &state.deployments {
        let _ = writeln!(
            out,
            "deployment {}/{}: desired {}, updated {}, ready {}, available {}",
            d.namespace, d.name, d.desired, d.updated, d.ready, d.available
        );
    }
    let _ = writeln!(
        out,
        "trace hash: {}  (seed {}, {} events, sim {:.3} s, wall {:.3} s)",
        hex(report.trace_hash),
        report.seed,
        report.events,
        report.sim_time.as_secs_f64(),
        wall_time_s
    );
    out
}

/// The JSON report: one object.
pub fn json(scenario: &Scenario, report: &RunReport, wall_time_s: f64) -> String {
    let state = &report.state;
    let mut pods = serde_json::Map::new();
    for phase in PHASES {
        let count = state.pods_by_phase.get(phase.name()).copied().unwrap_or(0);
        pods.insert(phase.name().to_string(), json!(count));
    }
    pods.insert("terminating".to_string(), json!(state.pods_terminating));
    let expectations: Vec<Value> = report
        .expectations
        .iter()
        .map(|e| {
            json!({
                "name": e.name,
                "at_s": e.at.as_secs_f64(),
                "checked": e.checked,
                "passed": e.passed,
                "message": e.message,
            })
        })
        .collect();
    let deployments: Vec<Value> = state
        .deployments
        .iter()
        .map(|d| {
            json!({
                "namespace": d.namespace,
                "name": d.name,
                "desired": d.desired,
                "updated": d.updated,
                "ready": d.ready,
                "available": d.available,
            })
        })
        .collect();
    let mut object = json!({
        "scenario": scenario.name,
        "seed": report.seed,
        "trace_hash": hex(report.trace_hash),
        "events": report.events,
        "sim_time_s": report.sim_time.as_secs_f64(),
        "wall_time_s": wall_time_s,
        "outcome": report.outcome.name(),
        "passed": report.passed(),
        "expectations": expectations,
        "pods": pods,
        "nodes": {
            "ready": state.nodes_ready,
            "not_ready": state.nodes_not_ready,
            "unknown": state.nodes_unknown,
        },
        "deployments": deployments,
        "notes": scenario.notes,
    });
    match &report.outcome {
        Outcome::Completed => {}
        Outcome::EventBound { events_max, time } => {
            object["outcome_detail"] = json!({
                "events_max": events_max,
                "time_s": time.as_secs_f64(),
                "seed": report.seed,
            });
        }
        Outcome::InvariantViolated(violation) => {
            object["outcome_detail"] = json!({
                "invariant": violation.invariant,
                "time_s": violation.time.as_secs_f64(),
                "seq": violation.seq,
                "message": violation.message,
                "seed": report.seed,
            });
        }
    }
    object.to_string()
}

/// The API requests the kube-apiservers answered, in windows of `window` (whole seconds):
/// one row per window with each verb's count, the errors, and the mean and worst latency
/// of lists and watches. A relist storm shows as a burst of lists with their latency.
pub fn requests_table(
    stats: &components::apiserver::requests::RequestStats,
    window: sim_core::SimDuration,
) -> String {
    use components::apiserver::requests::VERBS;
    use sim_core::{SimDuration, SimTime};
    let window_secs = window.as_secs().max(1);
    let mut out = String::from("\nAPI requests answered (all kube-apiserver replicas):\n");
    out.push_str(&format!("{:>8}", "from"));
    for verb in VERBS {
        out.push_str(&format!(" {verb:>13}"));
    }
    out.push_str(&format!(
        " {:>7} {:>10} {:>10} {:>10}\n",
        "errors", "list mean", "list max", "watch max"
    ));
    let seconds = stats.seconds() as u64;
    let mut start = 0;
    while start < seconds {
        let from = SimTime::ZERO + SimDuration::from_secs(start);
        let to = SimTime::ZERO + SimDuration::from_secs(start + window_secs);
        let cells: Vec<_> = (0..VERBS.len())
            .map(|verb| stats.between(verb, from, to))
            .collect();
        out.push_str(&format!("{:>7}s", start));
        for cell in &cells {
            out.push_str(&format!(" {:>13}", cell.count));
        }
        let errors: u64 = cells.iter().map(|c| c.errors).sum();
        let list = cells[VERBS.iter().position(|v| *v == "list").expect("list")];
        let watch = cells[VERBS.iter().position(|v| *v == "watch").expect("watch")];
        // Milliseconds with three decimals, for people (not behaviour: floats are fine).
        let ms = |d: SimDuration| format!("{:.3}ms", d.as_nanos() as f64 / 1e6);
        out.push_str(&format!(
            " {:>7} {:>10} {:>10} {:>10}\n",
            errors,
            ms(list.latency_mean()),
            ms(list.latency_max),
            ms(watch.latency_max)
        ));
        start += window_secs;
    }
    out
}
