//! Closed vocabularies stay closed: event types are written only in `domain`, error codes only
//! in their enum, so renaming one is a compile error rather than a string that silently stops
//! matching. Tests may (and do) spell out the wire strings.

use enkaku_domain::ErrorCode;
use std::path::{Path, PathBuf};

/// Every crate's production source: each `.rs` file up to its `#[cfg(test)]` module, without
/// test-only files (`tests.rs`).
fn production_sources() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut folders: Vec<_> = ["api", "commands", "domain", "infra", "media", "projections"]
        .iter()
        .map(|c| root.join(c).join("src"))
        .collect();
    let mut sources = Vec::new();
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tests.rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let production = text.split("#[cfg(test)]").next().unwrap_or_default();
                sources.push((path, production.to_owned()));
            }
        }
    }
    assert!(sources.len() > 40, "the scan finds the sources");
    sources
}

/// `"word"` literals of `words` in the sources outside `allowed`, as `file: word`.
fn literals_outside(allowed: &str, words: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for (path, text) in production_sources() {
        if path.starts_with(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(allowed)) {
            continue;
        }
        for word in words {
            if text.contains(&format!("\"{word}\"")) {
                found.push(format!("{}: {word}", path.display()));
            }
        }
    }
    found
}

#[test]
fn event_types_are_written_only_in_the_domain() {
    // The published contract lists every event type, on the two event topics' channels.
    let document = enkaku_infra::kafka::asyncapi::document("t", "s", "c");
    let types: Vec<String> = ["appointments", "setup"]
        .iter()
        .flat_map(|channel| {
            document["channels"][channel]["messages"]
                .as_object()
                .unwrap()
                .keys()
        })
        .cloned()
        .collect();
    assert!(types.iter().any(|t| t == "UrlDeliveryRequested"), "{types:?}");
    let stray = literals_outside("domain/src", &types);
    assert!(stray.is_empty(), "event types outside domain: {stray:?}");
}

#[test]
fn error_codes_are_written_only_in_their_enum() {
    // Single words (`busy`, `internal`) are also ordinary names elsewhere: a metric, a log field.
    let codes: Vec<String> = ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_owned())
        .filter(|c| c.contains('_'))
        .collect();
    let stray = literals_outside("domain/src/error.rs", &codes);
    assert!(stray.is_empty(), "error codes outside ErrorCode: {stray:?}");
}
