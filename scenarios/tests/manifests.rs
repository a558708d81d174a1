//! Ingest of every real manifest in `shared/k8s/manifests/` (examples from the Kubernetes
//! documentation): the supported kinds become objects; every other kind is refused with
//! the unsupported-kind error naming the file and line; nothing panics.

use std::path::PathBuf;

use scenarios::manifest::{SUPPORTED_KINDS, ingest};
use scenarios::yaml::{PosMap, parse_documents};

fn manifests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/k8s/manifests")
}

/// The `kind:` of each document, read from the text (independently of the parser).
fn kinds_in(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let trimmed = line.trim().trim_end_matches(',');
            let rest = trimmed.strip_prefix("kind:")?;
            // Only top-level kinds: block style at column 0, or flow style `kind: "X"`.
            if line.starts_with("kind:") || line.starts_with("  kind: \"") {
                Some(rest.trim().trim_matches('"').to_string())
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn every_shared_manifest_ingests_or_is_refused_by_kind() {
    let dir = manifests_dir();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    entries.sort();
    assert!(
        entries.len() >= 25,
        "expected the shared manifests, found {}",
        entries.len()
    );
    let supported: Vec<&str> = SUPPORTED_KINDS.split(", ").collect();
    let (mut ingested, mut refused) = (0, 0);
    for path in entries {
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let documents = parse_documents(&text, &file, "", true, PosMap::Identity)
            .unwrap_or_else(|e| panic!("{file} does not parse as YAML: {e}"));
        let kinds = kinds_in(&text);
        assert_eq!(kinds.len(), documents.len(), "{file}: kinds {kinds:?}");
        for (document, kind) in documents.iter().zip(&kinds) {
            match ingest(document) {
                Ok(manifest) => {
                    assert!(
                        supported.contains(&kind.as_str()),
                        "{file}: {kind} was ingested"
                    );
                    assert_eq!(manifest.object.kind().name(), kind, "{file}");
                    ingested += 1;
                }
                Err(error) => {
                    let message = error.to_string();
                    assert!(
                        !supported.contains(&kind.as_str()),
                        "{file}: a supported {kind} was refused: {message}"
                    );
                    let line = error.at().and_then(|at| at.pos).map(|p| p.line).unwrap();
                    assert!(
                        message.contains(&format!("unsupported kind {kind} in {file}:{line}")),
                        "{message}"
                    );
                    assert!(message.starts_with(&format!("{file}:{line}:")), "{message}");
                    // The line really is the document's `kind:` line.
                    let source_line = text.lines().nth(line as usize - 1).unwrap();
                    assert!(source_line.contains("kind"), "{file}:{line}: {source_line}");
                    refused += 1;
                }
            }
        }
    }
    assert!(ingested >= 15, "ingested {ingested}");
    // Each kind kubesim learns moves its manifests from refused to ingested; the
    // StorageClass stays refused (kubesim models no volumes).
    assert!(refused >= 1, "refused {refused}");
}

#[test]
fn the_textbook_nginx_deployment_converts_faithfully() {
    let file = "controllers_nginx-deployment.yaml";
    let text = std::fs::read_to_string(manifests_dir().join(file)).unwrap();
    let documents = parse_documents(&text, file, "", true, PosMap::Identity).unwrap();
    let manifest = ingest(&documents[0]).unwrap();
    let components::api::Object::Deployment(deployment) = manifest.object else {
        panic!("a Deployment")
    };
    assert_eq!(&*deployment.metadata.name, "nginx-deployment");
    assert_eq!(deployment.spec.replicas, 3);
    let container = &deployment.spec.template.spec.containers[0];
    assert_eq!(&*container.image, "nginx:1.14.2");
    assert_eq!(
        container.image_pull_policy,
        components::api::ImagePullPolicy::IfNotPresent
    );
    assert_eq!(container.ports[0].container_port, 80);
    assert!(manifest.notes.is_empty());
}
