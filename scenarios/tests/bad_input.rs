//! Bad input is an error, never a panic: every prefix of every built-in scenario, and
//! every shared manifest given where a scenario is expected, parses or fails with a
//! located message.

use scenarios::{BUILT_INS, Includes, parse};

#[test]
fn every_prefix_of_a_built_in_scenario_parses_or_fails_cleanly() {
    for built_in in BUILT_INS {
        let lines: Vec<&str> = built_in.source.lines().collect();
        for end in 0..lines.len() {
            let text = lines[..end].join("\n");
            if let Err(error) = parse(built_in.file, &text, &Includes::Unavailable) {
                let message = error.to_string();
                assert!(message.starts_with(built_in.file), "{message}");
            }
        }
    }
}

#[test]
fn a_manifest_is_not_a_scenario() {
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/k8s/manifests");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|ext| ext != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let error = parse("m.yaml", &text, &Includes::Unavailable).unwrap_err();
        assert!(error.to_string().starts_with("m.yaml"), "{error}");
        checked += 1;
    }
    assert!(checked > 0);
}

#[test]
fn mangled_lines_fail_cleanly() {
    // Every fourth line, so the test stays quick in debug builds.
    let source = BUILT_INS[0].source;
    let lines: Vec<&str> = source.lines().collect();
    for index in (0..lines.len()).step_by(4) {
        for mangle in ["{", ": :"] {
            let mut mangled = lines.clone();
            let replaced = format!("{}{mangle}", lines[index]);
            mangled[index] = &replaced;
            if let Err(error) = parse("s.yaml", &mangled.join("\n"), &Includes::Unavailable) {
                assert!(error.to_string().starts_with("s.yaml"), "{error}");
            }
        }
    }
}
