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
    for name in ["deploy", "node-death"] {
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
            .replace("kind: Pod", "kind: StatefulSet")
            .replace("apiVersion: v1", "apiVersion: apps/v1"),
    );
    assert!(
        message.contains(
            "scenario.yaml:13:11: workloads.web[0].kind: unsupported kind StatefulSet in "
        ),
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
    for scenario in ["deploy", "node-death"] {
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
