//! Integration tests of the maps (maps/): the golden cases, the translate → render → translate
//! fixpoint over every sample under maps/cases (the valid public 850/855/856/810 samples copied
//! there and our own hospital-supply inputs), map errors reported at load as `file:line: ...`,
//! partner overrides, and rendered X12 that validates clean in 004010 and 005010.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use edigate::map::{cases, docs, MapSet};
use edigate::x12::grammar::Grammars;
use edigate::x12::lexer::Delimiters;
use edigate::x12::writer::{OwnedSegment, SegmentWriter};
use serde_json::Value;

fn maps_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("maps")
}

fn grammars() -> Grammars {
    Grammars::embedded().expect("the embedded grammars load")
}

fn load_maps(g: &Grammars) -> MapSet {
    MapSet::from_dir(&maps_dir(), g).unwrap_or_else(|e| panic!("maps/ does not load: {e}"))
}

fn without_provenance(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.remove("provenance");
    }
    v
}

/// Every canonical document an X12 input translates to, with the reasons for the sets that could
/// not be translated, and whether the input validated clean.
fn translate(
    input: &[u8],
    g: &Grammars,
    m: &MapSet,
    partner: Option<&str>,
) -> (Vec<Value>, Vec<String>, bool) {
    let mut docs_out = Vec::new();
    let mut errors = Vec::new();
    let summary = docs::translate_x12(input, g, m, partner, |r| match r {
        Ok(d) => docs_out.push(without_provenance(d)),
        Err(e) => errors.push(e),
    })
    .expect("reading from memory cannot fail");
    (docs_out, errors, summary.clean())
}

/// One interchange around rendered sets, with the delimiters of the version (005010: `^` as
/// repetition separator in ISA11).
fn interchange(g: &Grammars, version: &str, sets: &[(String, Vec<OwnedSegment>)]) -> Vec<u8> {
    let v5 = version >= "005010";
    let d = Delimiters {
        element: b'*',
        component: b':',
        repetition: v5.then_some(b'^'),
        segment: b'~',
    };
    let w = SegmentWriter {
        delimiters: d,
        newline: true,
    };
    let (isa11, isa12) = if v5 { ("^", "00501") } else { ("U", "00401") };
    let mut out = format!(
        "ISA*00*          *00*          *ZZ*EDIGATE        *ZZ*PARTNER        *240101*1200*{isa11}*{isa12}*000000001*0*P*:~\n"
    )
    .into_bytes();
    let fg = sets
        .first()
        .and_then(|(id, _)| g.versions.get(version)?.sets.get(id))
        .map(|s| s.functional_group.clone())
        .unwrap_or_default();
    out.extend(format!("GS*{fg}*EDIGATE*PARTNER*20240101*1200*1*X*{version}~\n").as_bytes());
    for (i, (id, segs)) in sets.iter().enumerate() {
        out.extend(format!("ST*{id}*{:04}~\n", i + 1).as_bytes());
        for s in segs {
            w.segment(&mut out, s)
                .unwrap_or_else(|e| panic!("set {id} cannot be written: {e}"));
        }
        out.extend(format!("SE*{}*{:04}~\n", segs.len() + 2, i + 1).as_bytes());
    }
    out.extend(format!("GE*{}*1~\nIEA*1*000000001~\n", sets.len()).as_bytes());
    out
}

/// Case inputs (`NAME.x12`, not `NAME.render.x12`) with the partner of their directory.
fn case_inputs() -> Vec<(PathBuf, Option<String>)> {
    let mut out = Vec::new();
    let base = maps_dir().join("cases");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&base)
        .expect("maps/cases exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let partner = std::fs::read_to_string(dir.join("partner"))
            .ok()
            .map(|p| p.trim().to_string());
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("case dir reads")
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                name.ends_with(".x12") && !name.ends_with(".render.x12")
            })
            .collect();
        files.sort();
        out.extend(files.into_iter().map(|f| (f, partner.clone())));
    }
    out
}

fn short(p: &Path) -> String {
    p.strip_prefix(maps_dir())
        .unwrap_or(p)
        .display()
        .to_string()
}

#[test]
fn golden_cases_pass() {
    let g = grammars();
    let m = load_maps(&g);
    let files = cases::case_files(Some(&maps_dir()));
    let results = cases::run(&g, &m, &files);
    let failures: Vec<String> = results
        .iter()
        .filter_map(|r| r.failure.as_ref().map(|f| format!("{}:\n{f}", r.name)))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    for kind in ["x12-850/", "x12-855/", "x12-856/", "x12-810/"] {
        let translate = results
            .iter()
            .filter(|r| r.name.starts_with(kind) && r.name.ends_with(".x12"))
            .count();
        let render = results
            .iter()
            .filter(|r| r.name.starts_with(kind) && r.name.ends_with(".render.json"))
            .count();
        assert!(
            translate >= 1 && render >= 1,
            "{kind} needs a translate and a render case"
        );
    }
}

#[test]
fn every_sample_reaches_a_fixpoint_and_renders_valid_x12() {
    let g = grammars();
    let m = load_maps(&g);
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for (path, partner) in case_inputs() {
        let name = short(&path);
        let input = std::fs::read(&path).expect("case input reads");
        let (first, errors, clean) = translate(&input, &g, &m, partner.as_deref());
        if !clean || !errors.is_empty() || first.is_empty() {
            failures.push(format!(
                "{name}: does not validate and translate cleanly: {errors:?}"
            ));
            continue;
        }
        for version in ["004010", "005010"] {
            let mut sets = Vec::new();
            for (i, doc) in first.iter().enumerate() {
                match m.render_x12(doc, &g, version, partner.as_deref()) {
                    Ok(s) => sets.push(s),
                    Err(e) => failures.push(format!("{name} doc {} in {version}: {e}", i + 1)),
                }
            }
            if sets.len() != first.len() {
                continue;
            }
            let bytes = interchange(&g, version, &sets);
            let (second, errors, clean) = translate(&bytes, &g, &m, partner.as_deref());
            if !clean || !errors.is_empty() {
                failures.push(format!(
                    "{name}: the {version} rendering does not validate clean: {errors:?}\n{}",
                    String::from_utf8_lossy(&bytes)
                ));
                continue;
            }
            if second != first {
                let a = serde_json::to_string_pretty(&first).unwrap_or_default();
                let b = serde_json::to_string_pretty(&second).unwrap_or_default();
                let diff = similar::TextDiff::from_lines(&a, &b)
                    .unified_diff()
                    .context_radius(2)
                    .to_string();
                failures.push(format!("{name}: no fixpoint through {version}:\n{diff}"));
                continue;
            }
            report.push(format!("{name} {version}: {} document(s) ok", first.len()));
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        report.len() >= 2 * 40,
        "expected every sample in both versions"
    );
}

#[test]
fn translated_documents_fit_the_canonical_model() {
    // translate_x12 passes every document through the canonical model, so a set that does not
    // fit comes back as an error; ids that fail their check digit go to other_ids / marks
    // instead, so every sample, public ones included, must fit.
    let g = grammars();
    let m = load_maps(&g);
    let mut failures = Vec::new();
    for (path, partner) in case_inputs() {
        let input = std::fs::read(&path).expect("case input reads");
        let mut docs_out = Vec::new();
        docs::translate_x12(&input[..], &g, &m, partner.as_deref(), |r| match r {
            Ok(d) => docs_out.push(d),
            Err(e) => failures.push(format!("{}: {e}", short(&path))),
        })
        .expect("reading from memory cannot fail");
        for (i, d) in docs_out.into_iter().enumerate() {
            if let Err(e) = serde_json::from_value::<edigate::canonical::CanonicalDocument>(d) {
                failures.push(format!("{} doc {}: {e}", short(&path), i + 1));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn invalid_to_needs_an_id_conversion_and_a_sibling_array() {
    assert_rejected(
        "x12/850.toml",
        r#"convert = "gtin", invalid_to = "lines[].item.other_ids""#,
        r#"invalid_to = "lines[].item.other_ids""#,
        "has invalid_to but no convert",
    );
    assert_rejected(
        "x12/850.toml",
        r#"invalid_to = "lines[].item.other_ids""#,
        r#"invalid_to = "other_ids""#,
        "expected an array next to",
    );
}

#[test]
fn rendered_golden_sets_validate_clean() {
    let g = grammars();
    let base = maps_dir().join("cases");
    let mut checked = 0;
    for (name, bytes) in cases::case_files(Some(&maps_dir())) {
        let Some(stem) = name.strip_suffix(".render.x12") else {
            continue;
        };
        let version = std::fs::read_to_string(base.join(format!("{stem}.render.version")))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|_| "004010".into());
        let text = String::from_utf8_lossy(&bytes).replace("\r\n", "\n");
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(
            lines.len() >= 3 && lines[0].starts_with("ST*"),
            "{name}: expected ST..SE"
        );
        let set_id = lines[0].split('*').nth(1).unwrap_or_default().to_string();
        let (isa11, isa12) = if version.as_str() >= "005010" {
            ("^", "00501")
        } else {
            ("U", "00401")
        };
        let fg = g
            .versions
            .get(&version)
            .and_then(|v| v.sets.get(&set_id))
            .map(|s| s.functional_group.clone())
            .unwrap_or_default();
        let input = format!(
            "ISA*00*          *00*          *ZZ*EDIGATE        *ZZ*PARTNER        *240101*1200*{isa11}*{isa12}*000000001*0*P*:~\nGS*{fg}*EDIGATE*PARTNER*20240101*1200*1*X*{version}~\n{}\nGE*1*1~\nIEA*1*000000001~\n",
            lines.join("\n")
        );
        let summary = edigate::x12::envelope::check(
            input.as_bytes(),
            &g,
            edigate::x12::validate::Leniency::default(),
            Quiet,
        )
        .expect("reading from memory cannot fail")
        .1;
        assert!(summary.clean(), "{name} does not validate clean:\n{input}");
        checked += 1;
    }
    assert!(checked >= 4, "expected a render case per map");
}

/// Validation only: the summary says whether everything was accepted.
struct Quiet;

impl edigate::x12::envelope::Sink for Quiet {}

// ---- map errors at load --------------------------------------------------------------------

fn copy_maps(to: &Path) {
    fn walk(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for e in std::fs::read_dir(from).expect("read maps").flatten() {
            let p = e.path();
            let name = e.file_name();
            if p.is_dir() {
                if name != "cases" {
                    walk(&p, &to.join(&name));
                }
            } else if p.extension().is_some_and(|x| x == "toml") {
                std::fs::copy(&p, to.join(&name)).expect("copy");
            }
        }
    }
    walk(&maps_dir(), to);
}

/// Breaks one rule of a copy of maps/ and checks the load error names the file and line.
fn assert_rejected(file: &str, old: &str, new: &str, expect: &str) {
    let g = grammars();
    let dir = tempfile::tempdir().expect("tempdir");
    copy_maps(dir.path());
    let path = dir.path().join(file);
    let text = std::fs::read_to_string(&path).expect("map reads");
    let at = text
        .find(old)
        .unwrap_or_else(|| panic!("{file} has no `{old}`"));
    let line = text[..at].matches('\n').count() + 1;
    std::fs::write(&path, text.replacen(old, new, 1)).expect("write");
    let err = match MapSet::from_dir(dir.path(), &g) {
        Ok(_) => panic!("{file} with `{new}` loaded without error"),
        Err(e) => e.to_string(),
    };
    let want = format!("maps/{file}:{line}: ");
    assert!(
        err.starts_with(&want) && err.contains(expect),
        "expected `{want}...{expect}...`, got `{err}`"
    );
}

#[test]
fn unknown_field_is_rejected_with_file_and_line() {
    assert_rejected(
        "x12/855.toml",
        r#"{ to = "po_number", from = "BAK03", required = true }"#,
        r#"{ to = "po_number", form = "BAK03", required = true }"#,
        "unknown field `form`",
    );
}

#[test]
fn element_beyond_the_segment_is_rejected() {
    assert_rejected(
        "x12/855.toml",
        r#"{ to = "lines[].line_number", from = "PO101" }"#,
        r#"{ to = "lines[].line_number", from = "PO126" }"#,
        "PO1 has no element 26",
    );
}

#[test]
fn segment_outside_its_loop_is_rejected() {
    assert_rejected(
        "x12/810.toml",
        r#"{ to = "lines[].price_basis", from = "IT105" }"#,
        r#"{ to = "lines[].price_basis", from = "BIG05" }"#,
        "BIG is not a segment of loop IT1",
    );
}

#[test]
fn unknown_table_is_rejected() {
    assert_rejected(
        "x12/856.toml",
        r#"table = "pack_level""#,
        r#"table = "pack_levels""#,
        "table `pack_levels` does not exist",
    );
}

#[test]
fn convert_on_the_wrong_type_is_rejected() {
    // IT104 is R (explicit decimal point), not N2.
    assert_rejected(
        "x12/810.toml",
        r#"from = "IT104", convert = "decimal""#,
        r#"from = "IT104", convert = "implied2""#,
        "does not fit convert",
    );
    assert_rejected(
        "x12/855.toml",
        r#"{ to = "po_number", from = "BAK03", required = true }"#,
        r#"{ to = "po_number", from = "BAK03", convert = "date" }"#,
        "does not fit convert",
    );
}

#[test]
fn child_outside_the_hierarchy_is_rejected() {
    assert_rejected(
        "x12/856.toml",
        r#"{ to = "orders[].supplier_order_number", from = "REF02[REF01=VN]" }"#,
        r#"{ to = "orders[].supplier_order_number", from = "REF[REF01=VN,child]/REF02" }"#,
        "`child` only applies to HL levels",
    );
}

// ---- partner overrides ---------------------------------------------------------------------

fn meridian_input() -> Vec<u8> {
    std::fs::read(maps_dir().join("cases/x12-856-meridian/meridian-856-4010.x12"))
        .expect("the meridian case reads")
}

#[test]
fn partner_tables_and_rules_apply_only_when_named() {
    let g = grammars();
    let m = load_maps(&g);
    let input = meridian_input();
    let (with, errors, _) = translate(&input, &g, &m, Some("meridian"));
    assert!(errors.is_empty(), "{errors:?}");
    let (without, errors, _) = translate(&input, &g, &m, None);
    assert!(errors.is_empty(), "{errors:?}");
    let item = "/orders/0/items/0";
    // The partner's UoM table reads its `UN` as each; the shared table passes it through.
    assert_eq!(
        with[0].pointer(&format!("{item}/quantity/uom")),
        Some(&Value::from("EA"))
    );
    assert_eq!(
        without[0].pointer(&format!("{item}/quantity/uom")),
        Some(&Value::from("UN"))
    );
    // Codes the partner table does not list come from the shared table.
    assert_eq!(
        with[0].pointer("/orders/0/items/1/quantity/uom"),
        Some(&Value::from("BX"))
    );
    // Everything else reads the same.
    let mut a = with[0].clone();
    let mut b = without[0].clone();
    for d in [&mut a, &mut b] {
        if let Some(q) = d.pointer_mut(&format!("{item}/quantity/uom")) {
            *q = Value::Null;
        }
    }
    assert_eq!(a, b);
}

#[test]
fn partner_override_renders_only_what_differs() {
    let g = grammars();
    let m = load_maps(&g);
    let (docs_in, _, _) = translate(&meridian_input(), &g, &m, Some("meridian"));
    let doc = &docs_in[0];
    let text = |segs: &[OwnedSegment]| -> Vec<String> {
        let w = SegmentWriter {
            delimiters: Delimiters {
                element: b'*',
                component: b':',
                repetition: None,
                segment: b'~',
            },
            newline: false,
        };
        segs.iter()
            .map(|s| {
                let mut out = Vec::new();
                w.segment(&mut out, s).expect("segment writes");
                String::from_utf8_lossy(&out).into_owned()
            })
            .collect()
    };
    let (_, ours) = m
        .render_x12(doc, &g, "004010", Some("meridian"))
        .expect("renders for meridian");
    let (_, shared) = m
        .render_x12(doc, &g, "004010", None)
        .expect("renders with the shared map");
    let (ours, shared) = (text(&ours), text(&shared));
    assert_eq!(ours.len(), shared.len());
    let differing: BTreeMap<&str, &str> = ours
        .iter()
        .zip(&shared)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        differing,
        BTreeMap::from([
            (
                "LIN*1*VP*SUT-VIC-3-0*EN*00812345004014~",
                "LIN*1*VP*SUT-VIC-3-0*UK*00812345004014~"
            ),
            (
                "LIN*2*VP*SUT-VIC-4-0*EN*00812345004021~",
                "LIN*2*VP*SUT-VIC-4-0*UK*00812345004021~"
            ),
            ("SN1**36*UN~", "SN1**36*EA~"),
        ]),
        "only the GTIN qualifier and the partner's UoM code may differ"
    );
    // The override map of another set is untouched by this one, and unknown partners fall back.
    assert!(m.get("x12/856", Some("nobody")).is_some());
}

// ---- the CLI -------------------------------------------------------------------------------

fn edigate(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_edigate"))
        .args(args)
        .output()
        .expect("edigate runs")
}

#[test]
fn cli_partner_flag_selects_the_override() {
    let file = maps_dir().join("cases/x12-856-meridian/meridian-856-4010.x12");
    let file = file.to_str().expect("utf-8 path");
    let with = edigate(&["translate", "--partner", "meridian", file]);
    assert!(
        with.status.success(),
        "{}",
        String::from_utf8_lossy(&with.stderr)
    );
    let without = edigate(&["translate", file]);
    assert!(without.status.success());
    let uom = |out: &[u8]| -> Value {
        let doc: Value =
            serde_json::from_slice(out.split(|&b| b == b'\n').next().expect("one document"))
                .expect("JSON");
        doc.pointer("/orders/0/items/0/quantity/uom")
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(uom(&with.stdout), Value::from("EA"));
    assert_eq!(uom(&without.stdout), Value::from("UN"));
}

#[test]
fn cli_render_output_passes_cli_validate() {
    let dir = tempfile::tempdir().expect("tempdir");
    for stem in [
        "x12-855/hosp-855-4010",
        "x12-856/hosp-856-4010",
        "x12-810/hosp-810-4010",
        "x12-856-meridian/meridian-856-4010",
    ] {
        let input = maps_dir().join(format!("cases/{stem}.render.json"));
        let mut args = vec!["render", "--version", "004010"];
        if stem.contains("meridian") {
            args.extend(["--partner", "meridian"]);
        }
        let input = input.to_str().expect("utf-8 path").to_string();
        args.push(&input);
        let out = edigate(&args);
        assert!(
            out.status.success(),
            "{stem}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = dir.path().join("out.x12");
        std::fs::write(&path, &out.stdout).expect("write");
        let v = edigate(&["validate", path.to_str().expect("utf-8 path")]);
        assert!(
            v.status.success(),
            "{stem}: rendered X12 does not validate:\n{}{}",
            String::from_utf8_lossy(&v.stdout),
            String::from_utf8_lossy(&v.stderr)
        );
    }
}

#[test]
fn a_second_lot_on_one_856_item_is_refused_not_overwritten() {
    let g = grammars();
    let m = load_maps(&g);
    let text = std::fs::read_to_string(maps_dir().join("cases/x12-856/hosp-856-4010.render.json"))
        .expect("render case reads");
    let mut doc: Value = serde_json::from_str(&text).expect("JSON");
    let lots = doc
        .pointer_mut("/orders/0/packs/0/items/0/traceability")
        .and_then(Value::as_array_mut)
        .expect("the first item has traceability");
    lots.push(serde_json::json!({ "lot": "LOT2401B", "quantity": "40" }));
    let err = m
        .render_x12(&doc, &g, "004010", None)
        .expect_err("two lots cannot share one SN1");
    assert!(
        err.to_string()
            .contains("traceability[] has more than one element"),
        "{err}"
    );
}

/// `received_at` is the time of translation; everything else must match byte for byte.
fn without_received_at(line: &str) -> String {
    const KEY: &str = "\"received_at\":\"";
    match line.find(KEY) {
        Some(i) => {
            let start = i + KEY.len();
            let end = line[start..].find('"').map_or(line.len(), |e| start + e);
            format!("{}{}", &line[..start], &line[end..])
        }
        None => line.to_string(),
    }
}

/// The JSON lines `edigate translate` prints (typed document written straight to text) against
/// the reference route (mapped `Value` → `CanonicalDocument` → `Value` → text), on every case
/// input and every X12 sample under testdata, errors included.
#[test]
fn json_lines_are_the_bytes_of_the_value_route() {
    let g = grammars();
    let m = load_maps(&g);
    let mut inputs = case_inputs();
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/x12");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&samples)
        .expect("testdata/x12 exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "x12"))
        .collect();
    files.sort();
    inputs.extend(files.into_iter().map(|f| (f, None)));
    let mut docs_seen = 0;
    for (path, partner) in inputs {
        let input = std::fs::read(&path).expect("input reads");
        let mut want = Vec::new();
        let _ = docs::translate_x12(&input[..], &g, &m, partner.as_deref(), |r| {
            want.push(r.map(|d| without_received_at(&d.to_string())))
        });
        let mut got = Vec::new();
        let _ = docs::translate_x12_json(&input[..], &g, &m, partner.as_deref(), |r| {
            got.push(r.map(|d| without_received_at(&d)))
        });
        docs_seen += want.iter().filter(|r| r.is_ok()).count();
        assert_eq!(got, want, "{}", short(&path));
        // Every document must come from the fast route itself: the fallback to the `Value`
        // route would give the same bytes and hide a fast route that is never taken.
        let mut fast = Vec::new();
        let _ = docs::translate_x12_json_fast_only(&input[..], &g, &m, partner.as_deref(), |r| {
            fast.push(r.map(|d| without_received_at(&d)))
        });
        for (f, w) in fast.iter().zip(&want) {
            if let Ok(w) = w {
                assert_eq!(f.as_ref(), Ok(w), "{}: fast route", short(&path));
            }
        }
        assert_eq!(fast.len(), want.len(), "{}", short(&path));
    }
    assert!(
        docs_seen >= 40,
        "expected documents to compare, got {docs_seen}"
    );
}

/// A document the canonical model refuses reads the same through the JSON-lines route.
#[test]
fn json_lines_report_type_errors_as_the_value_route_does() {
    use serde_json::json;
    let bad = json!({"kind": "purchase_order", "po_number": " PO1", "lines": []});
    let want = docs::typed(bad.clone(), "purchase_order").expect_err("refused");
    let got = docs::typed_json(bad, "purchase_order").expect_err("refused");
    assert_eq!(got, want);
    let good = json!({
        "kind": "goods_receipt",
        "provenance": {"source_format": "x12", "partner": "P", "producer_hash": "h",
                       "received_at": "2024-01-01T00:00:00+00:00"},
        "receipt_id": "R1", "po_number": "PO1", "receipt_date": "2024-01-02",
        "buyer": {"role": "buyer", "name": "B"}, "lines": []
    });
    let want = docs::typed(good.clone(), "goods_receipt").expect("a valid goods receipt");
    assert_eq!(
        docs::typed_json(good, "goods_receipt"),
        Ok(want.to_string())
    );
}

/// Sets held on a worker (`envelope::check_work`, what translate uses) are the trees the inline
/// collector builds from the same input: same bytes, segments, loop instances and HL links, for
/// the same sets, on every case input and X12 sample.
#[test]
fn worker_held_sets_are_the_inline_trees() {
    use edigate::x12::envelope::{self, GroupInfo, IsaInfo, SetResult, Sink};
    use edigate::x12::offload::{Parallel, SetContext, SetOutput, SetWork};
    use edigate::x12::tree::{Collect, SetTree};
    use edigate::x12::validate::Leniency;

    struct Hold;
    impl SetWork for Hold {
        fn accepted(&self, tree: SetTree, _ctx: &SetContext) -> SetOutput {
            Box::new(format!("{tree:?}"))
        }
    }
    struct Trees(Vec<String>);
    impl Sink for Trees {
        fn wants_segments(&self) -> bool {
            false
        }
        fn set_done_with(
            &mut self,
            _isa: &IsaInfo,
            _gs: &GroupInfo,
            set: &SetResult,
            output: Option<SetOutput>,
        ) {
            if set.status.is_accepted() {
                let tree = output.and_then(|o| o.downcast::<String>().ok());
                self.0.push(tree.map_or_else(|| "no tree".into(), |t| *t));
            }
        }
    }

    let g = grammars();
    let mut inputs: Vec<PathBuf> = case_inputs().into_iter().map(|(p, _)| p).collect();
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/x12");
    inputs.extend(
        std::fs::read_dir(&samples)
            .expect("testdata/x12 exists")
            .flatten()
            .map(|e| e.path()),
    );
    inputs.sort();
    let mut held = 0;
    for path in inputs {
        let input = std::fs::read(&path).expect("input reads");
        let mut want = Vec::new();
        let inline = Collect::new(|_: &IsaInfo, _: &GroupInfo, set: &SetResult, t: SetTree| {
            if set.status.is_accepted() {
                want.push(format!("{t:?}"));
            }
        });
        let _ = envelope::check(&input[..], &g, Leniency::default(), inline);
        // Small jobs, so that sets are spread over several jobs and both workers.
        let parallel = Parallel {
            workers: 2,
            job_bytes: 512,
            max_set_bytes: usize::MAX,
        };
        let (got, _) = envelope::check_work(
            &input[..],
            &g,
            Leniency::default(),
            Trees(Vec::new()),
            parallel,
            &Hold,
        )
        .expect("reads");
        held += want.len();
        assert_eq!(got.0, want, "{}", short(&path));
    }
    assert!(held >= 40, "expected sets to compare, got {held}");
}

#[test]
fn a_rejected_set_is_reported_with_why_and_not_translated() {
    let g = grammars();
    let m = load_maps(&g);
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/x12/bots__830-004010UCS-01.x12"
    ))
    .expect("sample");
    let (docs_out, errors, _) = translate(&bytes, &g, &m, None);
    assert!(docs_out.is_empty());
    // Rejected as a whole (no grammar for 830), so the reason is the set's warning.
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("is not translated: transaction set 830 is not supported"),
        "{}",
        errors[0]
    );
}
