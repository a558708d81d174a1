//! The `kubesim` binary as users and scripts drive it: exit codes, error messages that
//! name file, line and field, JSON output, determinism across processes, and replay.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kubesim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubesim"))
        .args(args)
        .output()
        .expect("the kubesim binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).to_string()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).to_string()
}

/// A fresh directory for one test's files.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kubesim-cli-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a test file");
    path.to_string_lossy().to_string()
}

fn json_of(output: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(output))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(output)))
}

const SCENARIO: &str = "name: small
description: one pod
duration: 30s
cluster:
  nodePools:
    - name: node
      count: 2
      cpu: 2
      memory: 4Gi
workloads:
  web: |
    apiVersion: v1
    kind: Pod
    metadata:
      name: web
    spec:
      containers:
      - name: web
        image: nginx:1.14.2
expectations:
  - name: both nodes are Ready
    nodes: {ready: 2}
";

#[test]
fn scenarios_lists_the_built_ins_with_descriptions() {
    let output = kubesim(&["scenarios"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for name in [
        "deploy",
        "node-death",
        "unschedulable-then-scale-up",
        "priority-preemption",
        "topology-spread",
        "taints-and-tolerations",
        "node-affinity",
    ] {
        let line = text
            .lines()
            .find(|line| line.starts_with(name))
            .unwrap_or_else(|| panic!("{name} is listed: {text}"));
        assert!(line.len() > name.len() + 10, "{line}");
    }
}

#[test]
fn json_output_has_the_documented_fields() {
    let dir = scratch("json");
    let file = write(&dir, "small.yaml", SCENARIO);
    let output = kubesim(&["run", &file, "--format", "json", "--seed", "5"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let json = json_of(&output);
    assert_eq!(json["scenario"], "small");
    assert_eq!(json["seed"], 5);
    assert_eq!(json["trace_hash"].as_str().unwrap().len(), 16);
    assert!(json["events"].as_u64().unwrap() > 0);
    assert_eq!(json["sim_time_s"], 30.0);
    assert!(json["wall_time_s"].as_f64().unwrap() >= 0.0);
    assert_eq!(json["outcome"], "completed");
    assert_eq!(json["expectations"][0]["name"], "both nodes are Ready");
    assert_eq!(json["expectations"][0]["passed"], true);
    assert!(json["expectations"][0]["message"].is_string());
    assert!(json["pods"]["Running"].is_u64());
    assert!(json["pods"]["terminating"].is_u64());
    assert_eq!(json["nodes"]["ready"], 2);
    assert_eq!(json["nodes"]["not_ready"], 0);
    assert_eq!(json["nodes"]["unknown"], 0);
    assert!(json["deployments"].is_array());
}

#[test]
fn a_failed_expectation_exits_1_and_shows_expected_and_actual() {
    let dir = scratch("failing");
    let file = write(
        &dir,
        "small.yaml",
        &SCENARIO.replace("{ready: 2}", "{ready: 3}"),
    );
    let output = kubesim(&["run", &file]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("✗ both nodes are Ready"), "{text}");
    assert!(
        text.contains("expected ready 3; got nodes ready 2"),
        "{text}"
    );
    assert!(text.contains("trace hash: "), "{text}");
}

#[test]
fn text_output_ends_with_the_trace_hash_line() {
    let output = kubesim(&["run", "deploy", "--until", "5s"]);
    let text = stdout(&output);
    let last = text.lines().last().unwrap_or_default();
    assert!(last.starts_with("trace hash: "), "{text}");
    assert!(last.contains("(seed 1, "), "{last}");
    assert!(last.contains(" events, sim 5.000 s, wall "), "{last}");
}

/// Runs `text` as a scenario file and returns the error message (exit code 2 checked).
fn bad_input(test: &str, text: &str) -> String {
    let dir = scratch(test);
    let file = write(&dir, "scenario.yaml", text);
    let output = kubesim(&["run", &file]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "stdout: {}\nstderr: {}",
        stdout(&output),
        stderr(&output)
    );
    let message = stderr(&output);
    assert!(!message.contains("panicked"), "{message}");
    message
}

#[test]
fn unknown_field_is_bad_input_with_file_line_and_field() {
    let message = bad_input(
        "unknown-field",
        &SCENARIO.replace("      cpu: 2", "      cpus: 2"),
    );
    assert!(
        message.contains("scenario.yaml:8:7: cluster.nodePools[0].cpus: unknown field `cpus`"),
        "{message}"
    );
}

#[test]
fn bad_quantity_is_bad_input_with_file_line_and_field() {
    let message = bad_input(
        "bad-quantity",
        &SCENARIO.replace("memory: 4Gi", "memory: 12 apples"),
    );
    assert!(
        message.contains("scenario.yaml:9:15: cluster.nodePools[0].memory: invalid quantity \"12 apples\": unknown suffix"),
        "{message}"
    );
}

#[test]
fn bad_duration_is_bad_input_with_file_line_and_field() {
    let message = bad_input(
        "bad-duration",
        &SCENARIO.replace("duration: 30s", "duration: 30 seconds"),
    );
    assert!(
        message.contains("scenario.yaml:3:11: duration: invalid duration \"30 seconds\""),
        "{message}"
    );
}

#[test]
fn unsupported_kind_is_bad_input_with_file_line_and_field() {
    let message = bad_input(
        "unsupported-kind",
        &SCENARIO
            .replace("kind: Pod", "kind: CronJob")
            .replace("apiVersion: v1", "apiVersion: batch/v1"),
    );
    assert!(
        message
            .contains("scenario.yaml:13:11: workloads.web[0].kind: unsupported kind CronJob in "),
        "{message}"
    );
}

#[test]
fn yaml_syntax_error_is_bad_input_with_file_line_and_field() {
    let message = bad_input("syntax", &SCENARIO.replace("count: 2", "count: [2"));
    assert!(
        message.contains("scenario.yaml:8:10: YAML syntax error near cluster.nodePools[0].cpu: "),
        "{message}"
    );
}

#[test]
fn manifest_field_errors_point_into_an_included_file() {
    let dir = scratch("included");
    write(
        &dir,
        "web.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: web\n    image: nginx\n    resources:\n      requests: {cpu: lots}\n",
    );
    let file = write(
        &dir,
        "scenario.yaml",
        &format!(
            "{}\n",
            SCENARIO.split("workloads:").next().unwrap().to_string()
                + "workloads:\n  web: {path: web.yaml}"
        ),
    );
    let output = kubesim(&["run", &file]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("web.yaml:10:23: workloads.web[0].spec.containers[0].resources.requests.cpu: invalid quantity \"lots\""),
        "{message}"
    );
}

#[test]
fn unknown_node_unknown_scenario_and_bad_arguments_are_bad_input() {
    let message = bad_input(
        "unknown-node",
        &format!("{SCENARIO}timeline:\n  - {{at: 10s, kill-node: node-7}}\n"),
    );
    assert!(
        message.contains("timeline[0].kill-node: unknown node \"node-7\""),
        "{message}"
    );

    let output = kubesim(&["run", "no-such-scenario"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no-such-scenario"));

    let output = kubesim(&["run", "deploy", "--until", "soon"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--until: invalid duration \"soon\""),
        "{}",
        stderr(&output)
    );

    let output = kubesim(&["run", "deploy", "--format", "yaml"]);
    assert_eq!(output.status.code(), Some(2));
    let output = kubesim(&["frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
}

fn hash_of(args: &[&str]) -> String {
    let output = kubesim(args);
    assert!(
        output.status.code().is_some_and(|c| c <= 1),
        "{}",
        stderr(&output)
    );
    json_of(&output)["trace_hash"].as_str().unwrap().to_string()
}

#[test]
fn a_fresh_process_gives_the_same_trace_hash() {
    for scenario in [
        "deploy",
        "node-death",
        "unschedulable-then-scale-up",
        "priority-preemption",
        "topology-spread",
        "taints-and-tolerations",
        "node-affinity",
    ] {
        let first = hash_of(&["run", scenario, "--format", "json", "--seed", "3"]);
        let second = hash_of(&["run", scenario, "--format", "json", "--seed", "3"]);
        assert_eq!(first, second, "{scenario}");
        // The text format keeps records; records never change the run.
        let text = stdout(&kubesim(&["run", scenario, "--seed", "3"]));
        assert!(text.contains(&format!("trace hash: {first}")), "{scenario}");
    }
}

#[test]
fn replay_of_a_recorded_trace_matches_and_a_corrupted_one_diverges() {
    let dir = scratch("replay");
    let trace = dir.join("deploy.trace.jsonl").to_string_lossy().to_string();
    let output = kubesim(&[
        "run", "deploy", "--seed", "9", "--format", "json", "--trace", &trace,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let hash = json_of(&output)["trace_hash"].as_str().unwrap().to_string();

    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let header: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(header["format_version"], 1);
    assert_eq!(header["scenario"], "deploy");
    assert_eq!(header["seed"], 9);
    assert!(
        header["scenario_source"]
            .as_str()
            .unwrap()
            .contains("name: deploy")
    );
    let footer: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(footer["trace_hash"], hash.as_str());
    assert!(lines.iter().any(|l| l.contains("\"record\":\"step\"")));

    let replay = kubesim(&["replay", &trace]);
    assert_eq!(
        replay.status.code(),
        Some(0),
        "{}{}",
        stdout(&replay),
        stderr(&replay)
    );
    assert!(
        stdout(&replay).starts_with(&format!("replay matches: {hash}")),
        "{}",
        stdout(&replay)
    );

    // Change one event's digest in the middle of the log.
    let (index, line) = lines
        .iter()
        .enumerate()
        .filter(|(_, line)| line.contains("\"digest\":\""))
        .nth(200)
        .expect("a long enough log");
    let mut event: serde_json::Value = serde_json::from_str(line).unwrap();
    let seq = event["seq"].as_u64().unwrap();
    event["digest"] = serde_json::Value::String("0123456789abcdef".to_string());
    let mut corrupted: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    corrupted[index] = event.to_string();
    let bad = write(
        &dir,
        "corrupted.trace.jsonl",
        &(corrupted.join("\n") + "\n"),
    );
    let replay = kubesim(&["replay", &bad]);
    assert_eq!(
        replay.status.code(),
        Some(1),
        "{}{}",
        stdout(&replay),
        stderr(&replay)
    );
    let report = stdout(&replay);
    assert!(report.starts_with("replay diverged"), "{report}");
    assert!(report.contains(&format!("seq {seq}:")), "{report}");
    assert!(report.contains("digest 0123456789abcdef"), "{report}");

    // A log cut short is a divergence too; a file that is no log is bad input.
    let cut = write(
        &dir,
        "cut.trace.jsonl",
        &(lines[..lines.len() / 2].join("\n") + "\n"),
    );
    assert_eq!(kubesim(&["replay", &cut]).status.code(), Some(1));
    let junk = write(&dir, "junk.jsonl", "hello\n");
    assert_eq!(kubesim(&["replay", &junk]).status.code(), Some(2));
}

#[test]
fn a_run_that_hits_its_event_bound_says_so_with_the_seed_and_exits_1() {
    let dir = scratch("event-bound");
    let file = write(
        &dir,
        "small.yaml",
        &SCENARIO.replace("duration: 30s", "duration: 30s\neventsMax: 50"),
    );
    let output = kubesim(&["run", &file, "--format", "json", "--seed", "4"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let json = json_of(&output);
    assert_eq!(json["outcome"], "event-bound");
    assert_eq!(json["events"], 50);
    assert_eq!(json["outcome_detail"]["events_max"], 50);
    assert_eq!(json["outcome_detail"]["seed"], 4);
    assert_eq!(json["expectations"][0]["checked"], false);

    let text = stdout(&kubesim(&["run", &file, "--seed", "4"]));
    assert!(
        text.contains("run stopped: the bound of 50 events was reached"),
        "{text}"
    );
    assert!(text.contains("reproduce with: kubesim run "), "{text}");
}

#[test]
fn a_run_stopped_early_replays_the_same_stretch() {
    let dir = scratch("until");
    let trace = dir.join("until.trace.jsonl").to_string_lossy().to_string();
    let output = kubesim(&[
        "run",
        "node-death",
        "--until",
        "3m",
        "--format",
        "json",
        "--trace",
        &trace,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let json = json_of(&output);
    assert_eq!(json["sim_time_s"], 180.0);
    // Expectations after 3m are not checked, and do not fail the run.
    assert!(
        json["expectations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["checked"] == false)
    );
    let replay = kubesim(&["replay", &trace]);
    assert_eq!(replay.status.code(), Some(0), "{}", stdout(&replay));
    assert!(stdout(&replay).contains(json["trace_hash"].as_str().unwrap()));
}

#[test]
fn verbose_narration_adds_detail_records() {
    let plain = stdout(&kubesim(&["run", "deploy", "--until", "3s"]));
    let verbose = stdout(&kubesim(&["run", "deploy", "--until", "3s", "--verbose"]));
    assert!(plain.contains("kube-scheduler"), "{plain}");
    assert!(!plain.contains(" · "), "{plain}");
    assert!(verbose.contains(" · "), "{verbose}");
    assert!(verbose.lines().count() > plain.lines().count());
    // Same run either way.
    let hash = |text: &str| {
        text.lines()
            .last()
            .unwrap()
            .split_whitespace()
            .nth(2)
            .unwrap()
            .to_string()
    };
    assert_eq!(hash(&plain), hash(&verbose));
}

#[test]
fn replay_needs_nothing_but_the_log_even_with_included_files() {
    let dir = scratch("replay-includes");
    write(
        &dir,
        "web.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: web\n    image: nginx:1.14.2\n",
    );
    let scenario = SCENARIO.split("workloads:").next().unwrap().to_string()
        + "workloads:\n  web: {path: web.yaml}\nexpectations:\n  - name: the pod runs\n    pods: {phase: Running, count: 1}\n";
    let file = write(&dir, "scenario.yaml", &scenario);
    let trace = dir.join("run.trace.jsonl").to_string_lossy().to_string();
    let output = kubesim(&["run", &file, "--format", "json", "--trace", &trace]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    std::fs::remove_file(dir.join("web.yaml")).unwrap();
    std::fs::remove_file(dir.join("scenario.yaml")).unwrap();
    let replay = kubesim(&["replay", &trace]);
    assert_eq!(
        replay.status.code(),
        Some(0),
        "{}{}",
        stdout(&replay),
        stderr(&replay)
    );
    assert!(stdout(&replay).contains(json_of(&output)["trace_hash"].as_str().unwrap()));
}

// ---------------------------------------------------------------------------------------
// kubesim schedule

/// Three nodes of different sizes, so the top score of each decision is unique (no tie
/// for the RNG to break), and one of them tainted.
fn node_manifest(name: &str, cpu: &str, memory: &str, taint: bool) -> String {
    let taints = if taint {
        "\nspec:\n  taints: [{key: dedicated, value: batch, effect: NoSchedule}]"
    } else {
        ""
    };
    format!(
        "apiVersion: v1
kind: Node
metadata:
  name: {name}
  labels: {{kubernetes.io/hostname: {name}, kubernetes.io/os: linux}}{taints}
status:
  allocatable: {{cpu: \"{cpu}\", memory: {memory}, pods: \"110\"}}
"
    )
}

fn pod_manifest(name: &str, cpu: &str, memory: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containers:
  - name: app
    image: nginx:1.14.2
    resources:
      requests: {{cpu: {cpu}, memory: {memory}}}
"
    )
}

const PODS: [(&str, &str, &str); 6] = [
    ("p1", "500m", "1Gi"),
    ("p2", "1500m", "3Gi"),
    ("p3", "700m", "512Mi"),
    ("p4", "2", "6Gi"),
    ("p5", "300m", "2Gi"),
    ("p6", "1200m", "1Gi"),
];

fn schedule_input() -> String {
    let mut documents = vec![
        node_manifest("small-1", "4", "8Gi", false),
        node_manifest("large-1", "8", "16Gi", false),
        node_manifest("wide-1", "16", "12Gi", false),
        node_manifest("batch-1", "32", "64Gi", true),
    ];
    documents.extend(PODS.iter().map(|(n, c, m)| pod_manifest(n, c, m)));
    documents.join("---\n")
}

/// A scratch directory for one `kubesim schedule` test, holding `input.yaml` (the nodes
/// and pods of `schedule_input`); returns the directory and the input's path.
fn schedule_files(test: &str) -> (PathBuf, String) {
    let dir = scratch(test);
    let input = write(&dir, "input.yaml", &schedule_input());
    (dir, input)
}

/// Writes `config.yaml`: a KubeSchedulerConfiguration header followed by `body`.
fn scheduler_config(dir: &Path, body: &str) -> String {
    let text = format!(
        "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n{body}"
    );
    write(dir, "config.yaml", &text)
}

#[test]
fn schedule_json_has_the_documented_shape_and_is_deterministic() {
    let (_, input) = schedule_files("schedule-json");
    let first = kubesim(&["schedule", &input, "--format", "json", "--seed", "3"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let second = kubesim(&["schedule", &input, "--format", "json", "--seed", "3"]);
    assert_eq!(
        first.stdout, second.stdout,
        "same input and seed, same bytes"
    );
    let json = json_of(&first);
    let decisions = json["decisions"].as_array().expect("a decisions array");
    assert_eq!(decisions.len(), PODS.len());
    for (decision, (name, _, _)) in decisions.iter().zip(PODS) {
        let keys: Vec<&str> = decision
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["pod", "filtered", "scores", "total", "selected"]);
        assert_eq!(decision["pod"], format!("default/{name}").as_str());
        assert_eq!(
            decision["filtered"]["batch-1"],
            "TaintToleration: node(s) had untolerated taint {dedicated: batch}"
        );
        let selected = decision["selected"].as_str().expect("a node");
        let scores = decision["scores"][selected].as_object().expect("scores");
        for (plugin, score) in scores {
            let score = score.as_i64().unwrap();
            assert!((0..=100).contains(&score), "{plugin} {score}");
        }
        assert!(scores.contains_key("NodeResourcesFit"), "{decision}");
        // The selected node has the highest total.
        let totals = decision["total"].as_object().unwrap();
        let best = totals.values().map(|t| t.as_i64().unwrap()).max().unwrap();
        assert_eq!(totals[selected].as_i64(), Some(best), "{decision}");
    }
}

#[test]
fn schedule_text_shows_plugins_totals_and_rejections() {
    let (_, input) = schedule_files("schedule-text");
    let output = kubesim(&["schedule", &input]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    for plugin in [
        "TaintToleration×3",
        "NodeResourcesFit×1",
        "NodeResourcesBalancedAllocation×1",
        "total",
    ] {
        assert!(text.contains(plugin), "{plugin} missing:\n{text}");
    }
    assert!(text.contains("pod default/p1 → "), "{text}");
    assert!(
        text.contains("batch-1: TaintToleration: node(s) had untolerated taint"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("* ")),
        "{text}"
    );
}

#[test]
fn schedule_reads_pod_disruption_budgets_and_says_they_change_nothing_here() {
    let dir = scratch("schedule-budget");
    let budget = "apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: web}}
status: {disruptionsAllowed: 1, currentHealthy: 2, desiredHealthy: 1, expectedPods: 2}
";
    let plain = write(&dir, "plain.yaml", &schedule_input());
    let with_budget = write(
        &dir,
        "budget.yaml",
        &format!("{}---\n{budget}", schedule_input()),
    );
    let without = kubesim(&["schedule", &plain, "--format", "json"]);
    let with = kubesim(&["schedule", &with_budget, "--format", "json"]);
    assert!(with.status.success(), "{}", stderr(&with));
    assert_eq!(with.stdout, without.stdout, "the same decisions");
    assert!(
        stderr(&with).contains(
            "note: PodDisruptionBudget default/web: no effect here, since kubesim schedule does not run preemption"
        ),
        "{}",
        stderr(&with)
    );
    // Ingest validates it like any manifest.
    let both = write(
        &dir,
        "both.yaml",
        &budget.replace(
            "  maxUnavailable: 1\n",
            "  maxUnavailable: 1\n  minAvailable: 1\n",
        ),
    );
    let refused = kubesim(&["schedule", &both]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused)
            .contains("both.yaml:5:3: spec: minAvailable and maxUnavailable cannot be both set"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn schedule_with_a_bad_config_field_is_bad_input_with_file_line_and_field() {
    let (dir, input) = schedule_files("schedule-bad-config");
    let config = scheduler_config(
        &dir,
        "profiles:
- schedulerName: default-scheduler
  plugins:
    score:
      enabled:
      - name: NodeResourcesLeastAllocated
",
    );
    let output = kubesim(&["schedule", &input, "--config", &config]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("config.yaml:8:")
            && message.contains("profiles[0].plugins.score.enabled[0].name")
            && message.contains("does not exist"),
        "{message}"
    );
}

#[test]
fn schedule_follows_the_configuration() {
    let (dir, input) = schedule_files("schedule-config");
    let config = scheduler_config(
        &dir,
        "leaderElection: {leaderElect: false}
profiles:
- plugins:
    score:
      disabled: [{name: \"*\"}]
      enabled: [{name: NodeResourcesFit, weight: 5}]
  pluginConfig:
  - name: NodeResourcesFit
    args: {scoringStrategy: {type: MostAllocated}}
",
    );
    let output = kubesim(&["schedule", &input, "--config", &config, "--format", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("leaderElection"),
        "{}",
        stderr(&output)
    );
    let json = json_of(&output);
    let first = &json["decisions"][0];
    let selected = first["selected"].as_str().unwrap();
    let scores = first["scores"][selected].as_object().unwrap();
    assert_eq!(scores.keys().collect::<Vec<_>>(), ["NodeResourcesFit"]);
    // MostAllocated packs: the smallest node that fits.
    assert_eq!(selected, "small-1");
    assert_eq!(
        first["total"][selected].as_i64(),
        Some(scores["NodeResourcesFit"].as_i64().unwrap() * 5)
    );
}

/// The same nodes and pods through a whole cluster: the scheduler inside it binds each
/// pod where `kubesim schedule` says it goes.
#[test]
fn schedule_and_the_in_cluster_scheduler_agree() {
    let dir = scratch("schedule-agree");
    let mut workloads = String::new();
    for (i, (name, cpu, memory)) in PODS.iter().enumerate() {
        if i > 0 {
            workloads.push_str("    ---\n");
        }
        for line in pod_manifest(name, cpu, memory).lines() {
            workloads.push_str("    ");
            workloads.push_str(line);
            workloads.push('\n');
        }
    }
    let scenario = format!(
        "name: agree
duration: 20s
cluster:
  nodePools:
    - {{name: small, count: 1, cpu: 4, memory: 8Gi}}
    - {{name: large, count: 1, cpu: 8, memory: 16Gi}}
    - {{name: wide, count: 1, cpu: 16, memory: 12Gi}}
    - name: batch
      count: 1
      cpu: 32
      memory: 64Gi
      taints: [{{key: dedicated, value: batch, effect: NoSchedule}}]
workloads:
  pods: |
{workloads}"
    );
    let scenario = write(&dir, "agree.yaml", &scenario);
    let trace = dir.join("agree.trace.jsonl").to_string_lossy().to_string();
    let run = kubesim(&["run", &scenario, "--format", "json", "--trace", &trace]);
    assert!(run.status.success(), "{}", stderr(&run));
    let log = std::fs::read_to_string(&trace).unwrap();
    let mut bound = std::collections::BTreeMap::new();
    for line in log.lines() {
        let Some(start) = line.find("pod default/") else {
            continue;
        };
        let rest = &line[start + "pod default/".len()..];
        if let Some((pod, after)) = rest.split_once(": bound to ") {
            let node: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            bound.insert(pod.to_string(), node);
        }
    }
    assert_eq!(bound.len(), PODS.len(), "bindings in the trace: {bound:?}");

    let input = write(&dir, "input.yaml", &schedule_input());
    let output = kubesim(&["schedule", &input, "--format", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json = json_of(&output);
    for decision in json["decisions"].as_array().unwrap() {
        let pod = decision["pod"]
            .as_str()
            .unwrap()
            .trim_start_matches("default/");
        let selected = decision["selected"].as_str().unwrap();
        // A unique best total: the agreement does not hang on a tie-break.
        let totals = decision["total"].as_object().unwrap();
        let best = totals[selected].as_i64().unwrap();
        assert_eq!(
            totals.values().filter(|t| t.as_i64() == Some(best)).count(),
            1,
            "{decision}"
        );
        assert_eq!(bound[pod], selected, "{pod}: {decision}");
    }
}
