//! Every document the shipped maps produce validates against the committed JSON Schema: the
//! golden outputs under maps/cases (X12 and cXML), each given a provenance as translate adds.

use std::path::Path;

use serde_json::{json, Value};

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "json")
            && !p.to_string_lossy().ends_with(".render.json")
        {
            out.push(p);
        }
    }
}

#[test]
fn translated_samples_validate_against_the_canonical_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let load = |name: &str| {
        let path = root.join(format!("schemas/{name}.schema.json"));
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .expect("schema compiles")
    };
    let canonical = load("canonical");
    let mut files = Vec::new();
    walk(&root.join("maps/cases"), &mut files);
    let mut checked = 0;
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let mut doc: Value = serde_json::from_str(line).unwrap();
            doc["provenance"] = json!({
                "source_format": "x12", "partner": "TEST", "received_at": "2024-01-15T12:00:00+00:00",
                "producer_hash": "test"
            });
            // Name the document and the place; the instance itself is too long to print.
            // The per-kind schema gives precise errors; the tagged union must accept it too.
            let kind = doc["kind"].as_str().unwrap_or("").to_string();
            let mut bare = doc.clone();
            if let Some(m) = bare.as_object_mut() {
                m.remove("kind");
            }
            let validator = load(&kind);
            if canonical.is_valid(&doc) != validator.is_valid(&bare) {
                failures.push(format!(
                    "{}:{}: the canonical union and the {kind} schema disagree",
                    f.display(),
                    i + 1
                ));
            }
            let errs: Vec<String> = validator
                .iter_errors(&bare)
                .map(|e| {
                    let text = e.to_string();
                    let tail = text
                        .rsplit_once(" is not valid")
                        .map(|(_, t)| t.to_string())
                        .unwrap_or(text);
                    format!("{tail} at {}", e.instance_path())
                })
                .collect();
            if !errs.is_empty() {
                failures.push(format!("{}:{}: {}", f.display(), i + 1, errs.join("; ")));
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 40,
        "only {checked} documents found under maps/cases"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
