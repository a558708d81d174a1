//! Proves that every ban in clippy.toml still fires: clippy silently ignores entries that
//! point at items that moved or were renamed, so each one is exercised by a fixture crate.

use std::path::Path;
use std::process::Command;

#[test]
fn every_ban_in_clippy_toml_fires() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixture = root.join("tests/fixtures/clippy-bans");
    let output = Command::new(env!("CARGO"))
        .args(["clippy", "--quiet", "--offline", "--manifest-path"])
        .arg(fixture.join("Cargo.toml"))
        .env("CLIPPY_CONF_DIR", root)
        .env("CARGO_TARGET_DIR", root.join("target/clippy-bans"))
        .output()
        .expect("cargo clippy runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let config = std::fs::read_to_string(root.join("clippy.toml")).expect("clippy.toml");
    let mut banned = Vec::new();
    for line in config.lines() {
        if let Some(rest) = line.trim().strip_prefix("{ path = \"") {
            banned.push(rest.split('"').next().expect("a quoted path").to_string());
        }
    }
    assert!(banned.len() >= 10, "clippy.toml lists the bans: {banned:?}");
    let missing: Vec<_> = banned
        .iter()
        .filter(|path| !stderr.contains(&format!("`{path}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "these clippy.toml bans did not fire on the fixture: {missing:?}\n{stderr}"
    );
}
