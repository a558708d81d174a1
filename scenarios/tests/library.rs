//! Every built-in scenario runs and meets all its expectations, and runs are
//! deterministic: the same scenario and seed give the same trace hash, within a process,
//! across seeds, after other runs, whether or not records and the event stream are on,
//! and however the run is cut into stretches.

use scenarios::{BUILT_INS, Observer, RunOptions, RunReport, Scenario, run};
use sim_core::{LoggedEvent, Record, SimDuration};

fn options(seed: u64) -> RunOptions {
    RunOptions {
        seed,
        until: None,
        records: false,
    }
}

fn load(name: &str) -> Scenario {
    scenarios::built_in(name)
        .unwrap_or_else(|| panic!("built-in {name}"))
        .load()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Runs and checks, with a reproduction line on failure.
fn check(scenario: &Scenario, seed: u64) -> RunReport {
    let report = run(scenario, &options(seed), None);
    let failures: Vec<String> = report
        .expectations
        .iter()
        .filter(|e| !e.passed)
        .map(|e| format!("  ✗ {} (at {}): {}", e.name, e.at, e.message))
        .collect();
    assert!(
        report.passed(),
        "scenario {} failed with outcome {:?}:\n{}\nreproduce with: kubesim run {} --seed {seed}",
        scenario.name,
        report.outcome,
        failures.join("\n"),
        scenario.name
    );
    report
}

#[test]
fn every_built_in_scenario_meets_its_expectations() {
    for built_in in BUILT_INS {
        let scenario = built_in.load().unwrap_or_else(|e| panic!("{e}"));
        let report = check(&scenario, scenario.seed);
        assert!(report.expectations.iter().all(|e| e.checked));
    }
}

#[test]
fn same_seed_twice_in_one_process_gives_the_same_hash() {
    for built_in in BUILT_INS {
        let scenario = built_in.load().unwrap();
        let first = run(&scenario, &options(scenario.seed), None);
        let second = run(&scenario, &options(scenario.seed), None);
        assert_eq!(first.trace_hash, second.trace_hash, "{}", scenario.name);
        assert_eq!(first.events, second.events, "{}", scenario.name);
    }
}

#[test]
fn many_seeds_each_twice_are_deterministic_and_pass() {
    const SEEDS: u64 = 20;
    for built_in in BUILT_INS {
        let scenario = built_in.load().unwrap();
        let mut hashes = Vec::new();
        for seed in 1..=SEEDS {
            let first = check(&scenario, seed);
            let second = run(&scenario, &options(seed), None);
            assert_eq!(
                first.trace_hash, second.trace_hash,
                "{} seed {seed}: reproduce with kubesim run {} --seed {seed}",
                scenario.name, scenario.name
            );
            hashes.push(first.trace_hash);
        }
        // Seeds matter: the runs are not all the same run.
        hashes.sort();
        hashes.dedup();
        assert!(
            hashes.len() > 1,
            "{}: every seed gave the same hash",
            scenario.name
        );
    }
}

#[test]
fn seed_b_after_seed_a_equals_seed_b_alone() {
    let scenario = load("node-death");
    let b_alone = run(&scenario, &options(7), None).trace_hash;
    let _a = run(&scenario, &options(3), None);
    let _other = run(&load("deploy"), &options(11), None);
    let b_after = run(&scenario, &options(7), None).trace_hash;
    assert_eq!(b_alone, b_after);
}

/// Collects every event, as the event log does.
struct Collect {
    events: Vec<LoggedEvent>,
    records: usize,
}

impl Observer for Collect {
    fn wants_events(&self) -> bool {
        true
    }
    fn observe(&mut self, events: &[LoggedEvent], records: &[Record], _names: &[String]) {
        self.events.extend_from_slice(events);
        self.records += records.len();
    }
}

#[test]
fn records_and_the_event_stream_never_change_the_run() {
    for built_in in BUILT_INS {
        let scenario = built_in.load().unwrap();
        let plain = run(&scenario, &options(5), None);
        let mut collect = Collect {
            events: Vec::new(),
            records: 0,
        };
        let observed = run(
            &scenario,
            &RunOptions {
                records: true,
                ..options(5)
            },
            Some(&mut collect),
        );
        assert_eq!(plain.trace_hash, observed.trace_hash, "{}", scenario.name);
        assert_eq!(collect.events.len() as u64, observed.events);
        assert!(collect.records > 0, "{}: records were kept", scenario.name);
        // The stream is in processing order.
        assert!(
            collect
                .events
                .windows(2)
                .all(|w| (w[0].time, w[0].seq) < (w[1].time, w[1].seq))
        );
    }
}

#[test]
fn stopping_early_is_a_prefix_of_the_full_run() {
    let scenario = load("deploy");
    let mut full = Collect {
        events: Vec::new(),
        records: 0,
    };
    run(&scenario, &options(2), Some(&mut full));
    let mut early = Collect {
        events: Vec::new(),
        records: 0,
    };
    let report = run(
        &scenario,
        &RunOptions {
            until: Some(SimDuration::from_secs(20)),
            ..options(2)
        },
        Some(&mut early),
    );
    assert!(!early.events.is_empty());
    assert_eq!(early.events[..], full.events[..early.events.len()]);
    // Expectations after the stop are reported as not checked, not as failures.
    assert!(report.expectations.iter().any(|e| !e.checked));
    assert!(
        report
            .expectations
            .iter()
            .filter(|e| !e.checked)
            .all(|e| !e.passed)
    );
}

#[test]
fn timeline_faults_reach_the_right_hosts() {
    let text = "name: faults
duration: 200s
cluster:
  nodePools:
    - {name: node, count: 3, cpu: 2, memory: 4Gi}
timeline:
  - {at: 30s, kill-node: node-2}
  - {at: 90s, restart-node: node-2}
  - {at: 100s, partition: {isolate: node-3}}
  - {at: 190s, heal: {isolate: node-3}}
expectations:
  - name: node-2 is Unknown while it is down
    at: 89s
    node: {name: node-2, ready: Unknown}
  - name: node-2 is Ready again after its restart
    at: 99s
    node: {name: node-2, ready: \"True\"}
  - name: node-3 is Unknown while it is cut off
    at: 189s
    node: {name: node-3, ready: Unknown}
  - name: node-1 stays Ready throughout
    node: {name: node-1, ready: \"True\"}
";
    let scenario = scenarios::parse("faults.yaml", text, &scenarios::Includes::Unavailable)
        .unwrap_or_else(|e| panic!("{e}"));
    check(&scenario, 1);
    assert_eq!(
        run(&scenario, &options(4), None).trace_hash,
        run(&scenario, &options(4), None).trace_hash
    );
}

#[test]
fn nodes_of_a_pool_with_join_at_start_only_when_it_joins() {
    let text = "name: joining
duration: 90s
cluster:
  nodePools:
    - {name: node, count: 1, cpu: 2, memory: 4Gi}
    - {name: late, count: 2, cpu: 2, memory: 4Gi, joinAt: 45s}
expectations:
  - name: before it joins no late node is registered
    at: 44s
    nodes: {ready: 1, notReady: 0, unknown: 0}
  - name: a second after joining both late nodes are Ready
    at: 46s
    nodes: {ready: 3}
  - name: late-2 is Ready and untainted
    node: {name: late-2, ready: \"True\", untainted: [node.kubernetes.io/not-ready]}
";
    let scenario = scenarios::parse("joining.yaml", text, &scenarios::Includes::Unavailable)
        .unwrap_or_else(|e| panic!("{e}"));
    check(&scenario, 1);
    let mut collect = Collect {
        events: Vec::new(),
        records: 0,
    };
    let report = run(
        &scenario,
        &RunOptions {
            records: true,
            ..options(1)
        },
        Some(&mut collect),
    );
    // Nothing runs on the late hosts before 45 s: the first event delivered to one of
    // their actors is the Start of the power-on.
    let late: Vec<usize> = report
        .actor_names
        .iter()
        .enumerate()
        .filter(|(_, name)| name.ends_with("/late-1") || name.ends_with("/late-2"))
        .map(|(index, _)| index)
        .collect();
    assert_eq!(
        late.len(),
        8,
        "four actors per node: {:?}",
        report.actor_names
    );
    let first = collect
        .events
        .iter()
        .find(|e| e.actor.is_some_and(|a| late.contains(&a.index())))
        .expect("the late nodes' actors ran");
    assert_eq!(
        first.time,
        sim_core::SimTime::ZERO + SimDuration::from_secs(45)
    );
    assert_eq!(first.kind, sim_core::EventKind::Start);
    // Two power-on faults, at 45 s, one per machine.
    let faults: Vec<_> = collect
        .events
        .iter()
        .filter(|e| e.kind == sim_core::EventKind::Fault)
        .map(|e| e.time)
        .collect();
    assert_eq!(
        faults,
        [sim_core::SimTime::ZERO + SimDuration::from_secs(45); 2]
    );
}
