//! cXML maps: golden cases, translate → render → translate fixpoints, the same order as X12 850
//! and as cXML OrderRequest, rendered output that decodes and passes `cxml::check`, credit memo
//! signs, and load-time map errors.
//!
//! `EDIGATE_BLESS=1 cargo test --test cxml_maps` rewrites the expected files of the cXML golden
//! cases from the current output (review the diff before committing).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use edigate::canonical::CanonicalDocument;
use edigate::map::docs::{self, check_rendered, translate_cxml_bytes};
use edigate::map::{cases, MapSet};
use edigate::x12::grammar::Grammars;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn setup() -> (Grammars, MapSet) {
    let grammars = Grammars::embedded().expect("grammars");
    let maps = MapSet::from_dir(&root().join("maps"), &grammars).expect("maps load");
    (grammars, maps)
}

fn strip(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.remove("provenance");
    }
    v
}

/// Every cXML input of the golden cases (public samples and hospital documents).
fn case_inputs() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(root().join("maps/cases")) else {
        return out;
    };
    for dir in rd.flatten().map(|e| e.path()) {
        let is_cxml = dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("cxml-"));
        if !is_cxml {
            continue;
        }
        for f in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = f.path();
            let name = p.to_string_lossy().to_string();
            if name.ends_with(".xml") && !name.ends_with(".render.xml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn golden_cases_pass() {
    let (grammars, maps) = setup();
    let files: BTreeMap<String, Vec<u8>> = cases::case_files(Some(&root().join("maps")))
        .into_iter()
        .filter(|(k, _)| k.starts_with("cxml-"))
        .collect();
    if std::env::var_os("EDIGATE_BLESS").is_some() {
        bless(&maps, &files);
    }
    let files: BTreeMap<String, Vec<u8>> = cases::case_files(Some(&root().join("maps")))
        .into_iter()
        .filter(|(k, _)| k.starts_with("cxml-"))
        .collect();
    let results = cases::run(&grammars, &maps, &files);
    let translate = results.iter().filter(|r| r.name.ends_with(".xml")).count();
    let render = results
        .iter()
        .filter(|r| r.name.ends_with(".render.json"))
        .count();
    assert!(
        translate >= 14,
        "expected the cXML translate cases, found {translate}"
    );
    assert!(
        render >= 4,
        "expected a render case per cXML map, found {render}"
    );
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| r.failure.as_ref().map(|f| format!("{}:\n{f}", r.name)))
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

fn bless(maps: &MapSet, files: &BTreeMap<String, Vec<u8>>) {
    let base = root().join("maps/cases");
    for (name, bytes) in files {
        if let Some(stem) = name.strip_suffix(".render.json") {
            let doc: Value = serde_json::from_slice(bytes).expect("render.json");
            let body = maps.render_cxml_element(&doc, None).expect("render");
            let text = docs::write_cxml(body, &cases::case_envelope(&doc, None));
            std::fs::write(base.join(format!("{stem}.render.xml")), text).expect("write");
        } else if let Some(stem) = name
            .strip_suffix(".xml")
            .filter(|s| !s.ends_with(".render"))
        {
            let doc = translate_cxml_bytes(bytes, maps, None).expect("translate");
            let line = serde_json::to_string(&strip(doc)).expect("json");
            std::fs::write(base.join(format!("{stem}.json")), format!("{line}\n")).expect("write");
        }
    }
}

/// The public samples of the four document types that `cxml::check` accepts all translate.
#[test]
fn every_valid_public_sample_translates() {
    let (_, maps) = setup();
    let mut dirs = vec![];
    for d in [
        "OrderRequest",
        "ConfirmationRequest",
        "ShipNoticeRequest",
        "InvoiceDetailRequest",
    ] {
        dirs.push(root().join(format!("maps/cases/cxml-{d}")));
    }
    // The shared corpus, when this checkout has it next to it.
    let shared = Path::new("/work/shared/testdata/public/cxml");
    if shared.is_dir() {
        dirs.push(shared.to_path_buf());
    }
    let mut translated = 0;
    for dir in dirs {
        for f in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = f.path();
            let name = p.to_string_lossy().to_string();
            if !name.ends_with(".xml") || name.ends_with(".render.xml") {
                continue;
            }
            let bytes = std::fs::read(&p).expect("read");
            let Ok(doc) = edigate::cxml::decode(&bytes, &edigate::cxml::Limits::default()) else {
                continue;
            };
            let outcome = edigate::cxml::check(&doc, None);
            let kind = outcome.kind.as_ref().map(|k| k.name().to_string());
            let ours = matches!(
                kind.as_deref(),
                Some(
                    "OrderRequest"
                        | "ConfirmationRequest"
                        | "ShipNoticeRequest"
                        | "InvoiceDetailRequest"
                )
            );
            if !outcome.accepted() || !ours {
                // Rejected documents are reported, not translated.
                if ours {
                    let e = translate_cxml_bytes(&bytes, &maps, None).expect_err(&name);
                    assert!(e.contains("rejected by the check"), "{name}: {e}");
                }
                continue;
            }
            let doc =
                translate_cxml_bytes(&bytes, &maps, None).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(doc["provenance"]["source_format"], "cxml", "{name}");
            assert!(doc["provenance"]["payload_id"].is_string(), "{name}");
            translated += 1;
        }
    }
    assert!(translated >= 14, "only {translated} samples translated");
}

#[test]
fn translate_render_translate_is_a_fixpoint() {
    let (_, maps) = setup();
    let inputs = case_inputs();
    assert!(inputs.len() >= 14);
    for p in inputs {
        let name = p.display().to_string();
        let bytes = std::fs::read(&p).expect("read");
        let first =
            translate_cxml_bytes(&bytes, &maps, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        let xml = maps
            .render_cxml(&first, None)
            .unwrap_or_else(|e| panic!("{name}: render: {e}"));
        check_rendered(&xml).unwrap_or_else(|e| panic!("{name}: {e}\n{xml}"));
        let second = translate_cxml_bytes(xml.as_bytes(), &maps, None)
            .unwrap_or_else(|e| panic!("{name}: second translate: {e}\n{xml}"));
        assert_eq!(
            strip(first.clone()),
            strip(second),
            "{name}: not a fixpoint\n{xml}"
        );
        // The envelope is addressed to the partner the document came from.
        let partner = first["provenance"]["partner"].as_str().unwrap_or_default();
        assert!(
            xml.contains(&format!("<Identity>{partner}</Identity>")),
            "{name}"
        );
    }
}

#[test]
fn rendered_cxml_decodes_and_passes_check() {
    let (_, maps) = setup();
    for p in case_inputs() {
        let bytes = std::fs::read(&p).expect("read");
        let doc = translate_cxml_bytes(&bytes, &maps, None).expect("translate");
        let xml = maps.render_cxml(&doc, Some("ACME-MED")).expect("render");
        assert!(edigate::cxml::looks_like_cxml(xml.as_bytes()));
        let decoded = edigate::cxml::decode(xml.as_bytes(), &edigate::cxml::Limits::default())
            .expect("rendered cXML decodes");
        let outcome = edigate::cxml::check(&decoded, None);
        assert!(
            outcome.accepted(),
            "{}: {:?}\n{xml}",
            p.display(),
            outcome.problems
        );
        let env = edigate::cxml::envelope(&decoded);
        assert_eq!(env.to[0].identity().as_deref(), Some("ACME-MED"));
        assert_eq!(env.deployment_mode, Some("production"));
        assert!(env.payload_id.is_some_and(|id| id.ends_with("@edigate")));
        assert!(env.timestamp.is_some_and(edigate::cxml::is_datetime_tz));
    }
}

/// Fields that record a code as one format sent it, or that one of the two maps does not carry:
/// - `order_type_code`: BEG02 as sent (cXML `orderType` is read into `order_type` only);
/// - `parties[].role_code`, `parties[].ids[].qualifier`: N101 / N103 as sent (cXML says the
///   role by element, ShipTo/BillTo, and the id scheme by `addressIDDomain`);
/// - `total`: cXML requires Total; the 850 map does not read CTT/AMT;
/// - `lines[].item.other_ids`: cXML requires a Classification (UNSPSC); the 850 has none.
fn without_format_fields(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.remove("order_type_code");
        m.remove("total");
        if let Some(Value::Array(parties)) = m.get_mut("parties") {
            for p in parties.iter_mut().filter_map(Value::as_object_mut) {
                p.remove("role_code");
                if let Some(Value::Array(ids)) = p.get_mut("ids") {
                    for id in ids.iter_mut().filter_map(Value::as_object_mut) {
                        id.remove("qualifier");
                    }
                }
            }
        }
        if let Some(Value::Array(lines)) = m.get_mut("lines") {
            for l in lines.iter_mut() {
                if let Some(item) = l.get_mut("item").and_then(Value::as_object_mut) {
                    item.remove("other_ids");
                }
            }
        }
    }
    v
}

#[test]
fn same_order_as_x12_850_and_cxml_is_the_same_purchase_order() {
    let (grammars, maps) = setup();
    let x12 = std::fs::read(root().join("testdata/cxml-maps/same-order-850.x12")).expect("850");
    let mut from_x12 = Vec::new();
    docs::translate_x12(&x12[..], &grammars, &maps, None, |r| from_x12.push(r)).expect("read");
    assert_eq!(from_x12.len(), 1);
    let from_x12 = from_x12.remove(0).expect("850 translates");
    let cxml = std::fs::read(root().join("testdata/cxml-maps/same-order.xml")).expect("cxml");
    let from_cxml = translate_cxml_bytes(&cxml, &maps, None).expect("cXML translates");

    let a: CanonicalDocument =
        serde_json::from_value(without_format_fields(from_x12.clone())).expect("typed");
    let b: CanonicalDocument =
        serde_json::from_value(without_format_fields(from_cxml.clone())).expect("typed");
    assert!(
        a.business_eq(&b),
        "850:\n{}\ncXML:\n{}",
        serde_json::to_string_pretty(&strip(without_format_fields(from_x12))).unwrap_or_default(),
        serde_json::to_string_pretty(&strip(without_format_fields(from_cxml))).unwrap_or_default()
    );
    // Provenance says where each came from.
    assert_eq!(from_x12["provenance"]["source_format"], "x12");
    assert_eq!(from_cxml["provenance"]["source_format"], "cxml");
    assert_eq!(from_cxml["provenance"]["partner"], "MERCYHOSP");
    // The key business values, spelled out.
    assert_eq!(from_cxml["po_number"], "4500012345");
    assert_eq!(
        from_cxml["lines"][0]["quantity"]["uom"], "CA",
        "Rec 20 CS is a case"
    );
    assert_eq!(from_cxml["lines"][0]["item"]["gtin"], "10614141000415");
    assert_eq!(from_cxml["parties"][0]["ids"][0]["scheme"], "gln");
}

#[test]
fn purpose_follows_order_request_type() {
    let (_, maps) = setup();
    let base =
        std::fs::read_to_string(root().join("testdata/cxml-maps/same-order.xml")).expect("read");
    for (typ, purpose) in [
        ("new", "original"),
        ("update", "change"),
        ("delete", "cancel"),
    ] {
        let mut xml = base.replace("type=\"new\"", &format!("type=\"{typ}\""));
        if typ != "new" {
            xml = xml.replace(
                "</OrderRequestHeader>",
                "<DocumentReference payloadID=\"20261119T080000.1.1@mercy-mmis.example\"/></OrderRequestHeader>",
            );
        }
        let doc = translate_cxml_bytes(xml.as_bytes(), &maps, None).expect("translate");
        assert_eq!(doc["purpose"], purpose);
        if typ != "new" {
            assert_eq!(doc["references"][0]["qualifier"], "previous_payload_id");
        }
        let out = maps.render_cxml(&doc, None).expect("render");
        assert!(out.contains(&format!("type=\"{typ}\"")), "{out}");
    }
}

#[test]
fn credit_memo_amounts_are_positive_in_canonical_and_negative_in_cxml() {
    let (_, maps) = setup();
    let path = root().join("maps/cases/cxml-InvoiceDetailRequest/hospital-credit-memo.xml");
    let doc =
        translate_cxml_bytes(&std::fs::read(path).expect("read"), &maps, None).expect("translate");
    assert_eq!(doc["invoice_type"], "credit");
    assert_eq!(doc["totals"]["total"]["amount"], "45.69");
    assert_eq!(doc["lines"][0]["unit_price"]["amount"], "42.5");
    let typed: CanonicalDocument = serde_json::from_value(doc.clone()).expect("typed");
    let CanonicalDocument::Invoice(inv) = typed else {
        panic!("not an invoice")
    };
    assert_eq!(inv.signed_total().to_string(), "-45.69");
    let xml = maps.render_cxml(&doc, None).expect("render");
    assert!(
        xml.contains("<Money currency=\"USD\">-45.69</Money>"),
        "{xml}"
    );
    assert!(xml.contains("purpose=\"creditMemo\""));
    // A standard invoice keeps its signs.
    let mut debit = doc.clone();
    debit["invoice_type"] = "debit".into();
    debit["invoice_type_code"] = "standard".into();
    let xml = maps.render_cxml(&debit, None).expect("render");
    assert!(
        xml.contains("<Money currency=\"USD\">45.69</Money>"),
        "{xml}"
    );
}

#[test]
fn a_rejected_document_is_not_translated() {
    let (_, maps) = setup();
    let base =
        std::fs::read_to_string(root().join("testdata/cxml-maps/same-order.xml")).expect("read");
    let broken = base.replace(" orderID=\"4500012345\"", "");
    let e = translate_cxml_bytes(broken.as_bytes(), &maps, None).expect_err("rejected");
    assert!(
        e.contains("rejected by the check") && e.contains("orderID"),
        "{e}"
    );
}

fn load_error(map: &str) -> String {
    let dir = std::env::temp_dir().join(format!(
        "edigate-cxml-maps-{}-{}",
        std::process::id(),
        map.len()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("cxml")).expect("mkdir");
    std::fs::write(dir.join("cxml/OrderRequest.toml"), map).expect("write");
    let grammars = Grammars::embedded().expect("grammars");
    let e = MapSet::from_dir(&dir, &grammars).expect_err("the map must not load");
    let _ = std::fs::remove_dir_all(&dir);
    e.to_string()
}

#[test]
fn map_errors_name_file_and_line() {
    let head =
        "kind = \"purchase_order\"\nformat = \"cxml\"\ndocument = \"OrderRequest\"\nrules = [\n";
    let e = load_error(&format!(
        "{head}  {{ to = \"po_number\", from = \"OrderRequestHeader@orderID\" }},\n  {{ to = \"total.amount\", from = \"OrderRequestHeader/Totl/Money\" }},\n]\n"
    ));
    assert!(
        e.starts_with(
            "maps/cxml/OrderRequest.toml:6: OrderRequestHeader has no child element Totl"
        ),
        "{e}"
    );
    let e = load_error(&format!(
        "{head}  {{ to = \"lines[]\", each = \"ItemOut\" }},\n  {{ to = \"lines[].quantity.uom\", from = \"ItemDetail/UnitOfMeasure\", table = \"cxml_uomm\" }},\n]\n"
    ));
    assert!(
        e.starts_with("maps/cxml/OrderRequest.toml:6: table `cxml_uomm` does not exist"),
        "{e}"
    );
    let e = load_error(&format!(
        "{head}  {{ to = \"po_number\", from = \"OrderRequestHeader[@type\" }},\n]\n"
    ));
    assert!(e.starts_with("maps/cxml/OrderRequest.toml:5:"), "{e}");
    let e = load_error(&format!(
        "{head}  {{ to = \"lines\", from = \"ItemOut\", convert = \"count\" }},\n]\n"
    ));
    assert!(e.contains("is for X12"), "{e}");
}

/// `edigate translate` sniffs the format from the content, and `render --to cxml` writes what
/// `translate` reads back.
#[test]
fn cli_translate_sniffs_cxml_and_renders_it_back() {
    let bin = env!("CARGO_BIN_EXE_edigate");
    let dir = std::env::temp_dir().join(format!("edigate-cxml-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    // A cXML order under a name that says nothing about its format.
    let input = dir.join("order.dat");
    std::fs::copy(root().join("testdata/cxml-maps/same-order.xml"), &input).expect("copy");
    let maps_dir = root().join("maps");
    let out = std::process::Command::new(bin)
        .arg("--maps")
        .arg(&maps_dir)
        .arg("translate")
        .arg(&input)
        .output()
        .expect("run translate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["kind"], "purchase_order");
    assert_eq!(doc["provenance"]["source_format"], "cxml");
    let json = dir.join("order.json");
    std::fs::write(&json, &out.stdout).expect("write");
    let out = std::process::Command::new(bin)
        .arg("--maps")
        .arg(&maps_dir)
        .args(["render", "--to", "cxml", "--partner", "MEDSUPPLY"])
        .arg(&json)
        .output()
        .expect("run render");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = String::from_utf8_lossy(&out.stdout).to_string();
    check_rendered(&xml).expect("rendered cXML passes the check");
    assert!(xml.contains("<Identity>MEDSUPPLY</Identity>"));
    let _ = std::fs::remove_dir_all(&dir);
}
