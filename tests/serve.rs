//! The gateway as a daemon: drop files in, kill it with SIGKILL at random moments, restart it,
//! and check that nothing was lost or done twice; and the HTTP API with its auth and paging.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use edigate::store::{DocumentFilter, SledStore, Stage, Store};

mod common;
use common::all_pages;

const BIN: &str = env!("CARGO_BIN_EXE_edigate");

struct Gw {
    child: Child,
    addr: String,
}

impl Gw {
    /// SIGTERM, as a service manager stops it: the gateway must finish and exit 0.
    fn terminate(mut self) {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "SIGTERM exit: {status:?}");
    }
}

fn config(dir: &Path, extra: &str) -> PathBuf {
    let p = dir.join("gateway.toml");
    std::fs::write(
        &p,
        format!(
            "[gateway]\nlisten = \"127.0.0.1:0\"\nauto_partners = true\npoll_ms = 20\nsettle_ms = 20\nbatch = 64\n{extra}\n"
        ),
    )
    .unwrap();
    p
}

fn start(dir: &Path, cfg: &Path, env: &[(&str, &str)]) -> Gw {
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .arg("--config")
        .arg(cfg)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start edigate serve");
    let out = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(out)
        .read_line(&mut line)
        .expect("read the listen line");
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .expect("an address")
        .to_string();
    assert!(addr.starts_with("127.0.0.1:"), "serve said {line:?}");
    Gw { child, addr }
}

fn http(addr: &str, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    edigate::cli::serve::api_call(addr, method, path, token).expect("API call")
}

fn isa(sender: &str, ctl: u32, usage: char) -> String {
    format!("ISA*00*          *00*          *ZZ*{sender:<15}*ZZ*HOSPITAL       *240115*1200*U*00401*{ctl:09}*0*{usage}*>~\n")
}

/// A valid 850 interchange with one PO.
fn po850(sender: &str, ctl: u32, po: &str) -> String {
    let body = [
        format!("BEG*00*SA*{po}**20240115~"),
        "N1*BY*GENERAL HOSPITAL*92*1001~".to_string(),
        "N1*ST*CENTRAL STORES*UL*0614141000012~".to_string(),
        "PO1*1*10*BX*12.5**VP*CATH-2040*BP*778899~".to_string(),
        "PO1*2*4*EA*99.99**VP*GLOVE-M~".to_string(),
        "CTT*2~".to_string(),
    ];
    let n = body.len() + 2;
    format!(
        "{}GS*PO*{sender}*HOSPITAL*20240115*1200*{ctl}*X*004010~\nST*850*0001~\n{}\nSE*{n}*0001~\nGE*1*{ctl}~\nIEA*1*{ctl:09}~\n",
        isa(sender, ctl, 'P'),
        body.join("\n")
    )
}

/// An 850 with a broken set (PO1 quantity missing its unit: AK403 2), rejected.
fn broken850(sender: &str, ctl: u32) -> String {
    po850(sender, ctl, &format!("BAD{ctl}")).replace("PO1*2*4*EA*99.99", "PO1*2**EA*99.99")
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                v.extend(files(&p));
            } else if !e.file_name().to_string_lossy().starts_with('.') {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

/// Drops a file the way partners should: written under a temporary name, then renamed in.
fn drop_file(in_dir: &Path, name: &str, content: &str) {
    let tmp = in_dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, in_dir.join(name)).unwrap();
}

/// Re-stamps a sample interchange: new ISA13/GS06 (and their trailers) and a new business key
/// in element `elem` of segment `seg`, so each copy is a distinct document.
fn restamp(x12: &str, ctl: u32, seg: &str, elem: usize, key: &str) -> String {
    let mut out = String::new();
    for raw in x12.split('~') {
        let line = raw.trim_start_matches(['\r', '\n']);
        if line.is_empty() {
            continue;
        }
        let mut f: Vec<String> = line.split('*').map(str::to_string).collect();
        match f[0].as_str() {
            "ISA" => f[13] = format!("{ctl:09}"),
            "IEA" => f[2] = format!("{ctl:09}"),
            "GS" => f[6] = ctl.to_string(),
            "GE" => f[2] = ctl.to_string(),
            s if s == seg => f[elem] = key.to_string(),
            _ => {}
        }
        out.push_str(&f.join("*"));
        out.push_str("~\n");
    }
    out
}

const HOSP_855: &str = include_str!("../maps/cases/x12-855/hosp-855-4010.x12");
const HOSP_856: &str = include_str!("../maps/cases/x12-856/hosp-856-4010.x12");
const HOSP_810: &str = include_str!("../maps/cases/x12-810/hosp-810-4010.x12");
const CXML_ORDER: &str =
    include_str!("../maps/cases/cxml-OrderRequest/hospital-gloves-sutures.xml");
const CXML_CONFIRM: &str =
    include_str!("../maps/cases/cxml-ConfirmationRequest/hospital-backorder-reject.xml");
const CXML_SHIP: &str = include_str!("../maps/cases/cxml-ShipNoticeRequest/hospital-lots-sscc.xml");
const CXML_INVOICE: &str =
    include_str!("../maps/cases/cxml-InvoiceDetailRequest/hospital-credit-memo.xml");

/// Re-stamps a sample cXML request: a new payloadID and new document numbers (`from` -> `to`
/// pairs), so each copy is a distinct request and a distinct document.
fn restamp_cxml(xml: &str, payload_id: &str, pairs: &[(&str, String)]) -> String {
    let start = xml.find("payloadID=\"").unwrap() + "payloadID=\"".len();
    let end = start + xml[start..].find('"').unwrap();
    let mut out = format!("{}{payload_id}{}", &xml[..start], &xml[end..]);
    for (from, to) in pairs {
        assert!(out.contains(from), "{from} not in the sample");
        out = out.replace(from, to);
    }
    out
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn nothing_lost_nothing_twice_across_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cfg = config(dir, "");
    let in_dir = dir.join("var/in");
    std::fs::create_dir_all(&in_dir).unwrap();
    // 1,000 files: valid documents of all four kinds in both syntaxes (X12 850/855/856/810 and
    // cXML OrderRequest/ConfirmationRequest/ShipNoticeRequest/InvoiceDetailRequest), broken
    // ones, exact duplicates (same bytes under another name) and business-key duplicates (same
    // PO under a new ISA13).
    let partners = ["ACMEMED", "MEDSUPPLY", "ORTHOCO", "PHARMA1"];
    let mut plan: Vec<(String, String)> = Vec::new();
    let mut ctl = 1000;
    for i in 0..280 {
        ctl += 1;
        plan.push((
            format!("v{i}.x12"),
            po850(partners[i % 4], ctl, &format!("PO{:06}", i)),
        ));
    }
    for i in 0..60 {
        ctl += 1;
        plan.push((
            format!("ack{i}.x12"),
            restamp(HOSP_855, ctl, "BAK", 3, &format!("PO{:06}", i)),
        ));
        ctl += 1;
        plan.push((
            format!("asn{i}.x12"),
            restamp(HOSP_856, ctl, "BSN", 2, &format!("ASN-{i:05}")),
        ));
        ctl += 1;
        plan.push((
            format!("inv{i}.x12"),
            restamp(HOSP_810, ctl, "BIG", 2, &format!("INV-{i:05}")),
        ));
        // The cXML documents of one order: the order, then the supplier's confirmation, ship
        // notice and invoice referring to it.
        let po = format!("orderID=\"CX{i:06}\"");
        let order_ref = ("orderID=\"4500012345\"", po.clone());
        plan.push((
            format!("cx{i}.xml"),
            restamp_cxml(
                CXML_ORDER,
                &format!("load-{i}@mercy-mmis.example"),
                std::slice::from_ref(&order_ref),
            ),
        ));
        plan.push((
            format!("cxack{i}.xml"),
            restamp_cxml(
                CXML_CONFIRM,
                &format!("ack-{i}@medsupply.example"),
                &[
                    order_ref.clone(),
                    (
                        "confirmID=\"SO-778812\"",
                        format!("confirmID=\"SO-{i:06}\""),
                    ),
                ],
            ),
        ));
        plan.push((
            format!("cxasn{i}.xml"),
            restamp_cxml(
                CXML_SHIP,
                &format!("asn-{i}@medsupply.example"),
                &[
                    order_ref.clone(),
                    (
                        "shipmentID=\"ASN-2026-004417\"",
                        format!("shipmentID=\"CXASN-{i:05}\""),
                    ),
                ],
            ),
        ));
        plan.push((
            format!("cxinv{i}.xml"),
            restamp_cxml(
                CXML_INVOICE,
                &format!("inv-{i}@medsupply.example"),
                &[
                    order_ref.clone(),
                    (
                        "invoiceID=\"CM-90017\"",
                        format!("invoiceID=\"CXCM-{i:05}\""),
                    ),
                ],
            ),
        ));
    }
    let valid_docs = plan.len();
    assert_eq!(valid_docs, 700);
    let cxml_valid = 4 * 60;
    let x12_valid = valid_docs - cxml_valid;
    for i in 0..100 {
        ctl += 1;
        plan.push((format!("bad{i}.x12"), broken850(partners[i % 4], ctl)));
    }
    for i in 0..100 {
        let original = plan[i * 2].1.clone();
        plan.push((format!("dup{i}.x12"), original));
    }
    for i in 0..100 {
        ctl += 1;
        let p = partners[(i * 2) % 4];
        let po = format!("PO{:06}", i * 2);
        plan.push((format!("bk{i}.x12"), po850(p, ctl, &po)));
    }
    assert_eq!(plan.len(), 1000);
    // Business-key duplicates only count when PO and partner match a valid order.
    let mut rng = Lcg(42);
    let mut order: Vec<usize> = (0..plan.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, (rng.next() as usize) % (i + 1));
    }
    // Exact duplicates must arrive after their originals to be the duplicates.
    order.sort_by_key(|&i| {
        if plan[i].0.starts_with("dup") || plan[i].0.starts_with("bk") {
            1
        } else {
            0
        }
    });

    let mut gw = start(dir, &cfg, &[]);
    let mut kills = 0;
    for (n, &i) in order.iter().enumerate() {
        drop_file(&in_dir, &plan[i].0, &plan[i].1);
        if n % 150 == 149 {
            std::thread::sleep(Duration::from_millis(20 + rng.next() % 200));
            gw.child.kill().unwrap(); // SIGKILL
            gw.child.wait().unwrap();
            kills += 1;
            gw = start(dir, &cfg, &[]);
        }
    }
    assert!(kills >= 5);
    let drained = wait_until(Duration::from_secs(240), || files(&in_dir).is_empty());
    assert!(
        drained,
        "drop folder still holds {:?}",
        files(&in_dir).len()
    );
    // Let delivery finish, then stop gracefully: SIGTERM must exit 0.
    let out_dir = dir.join("var/out");
    let expected_acks = x12_valid + 100 + 100;
    wait_until(Duration::from_secs(60), || {
        files(&out_dir)
            .iter()
            .filter(|p| p.to_string_lossy().contains("/FA-"))
            .count()
            >= expected_acks
    });
    gw.terminate();

    let store = SledStore::open(dir.join("var/store")).unwrap();
    // Every valid document stored exactly once.
    let docs = all_pages(
        &store,
        DocumentFilter {
            limit: 500,
            ..Default::default()
        },
    );
    assert_eq!(docs.len(), valid_docs, "documents stored");
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for d in &docs {
        *by_kind.entry(d.meta.kind.clone()).or_default() += 1;
    }
    assert_eq!(by_kind.get("purchase_order"), Some(&340), "{by_kind:?}");
    assert_eq!(by_kind.get("order_ack"), Some(&120), "{by_kind:?}");
    assert_eq!(by_kind.get("ship_notice"), Some(&120), "{by_kind:?}");
    assert_eq!(by_kind.get("invoice"), Some(&120), "{by_kind:?}");
    // The cXML documents of each order are linked to it by its PO number: 60 of each kind.
    let mut cxml_kinds: BTreeMap<String, usize> = BTreeMap::new();
    for d in &docs {
        if d.meta.po_numbers.iter().any(|p| p.starts_with("CX")) {
            *cxml_kinds.entry(d.meta.kind.clone()).or_default() += 1;
        }
    }
    assert_eq!(
        cxml_kinds.values().sum::<usize>(),
        cxml_valid,
        "{cxml_kinds:?}"
    );
    assert!(cxml_kinds.values().all(|&n| n == 60), "{cxml_kinds:?}");
    let keys: BTreeSet<&String> = docs.iter().map(|d| &d.meta.business_key).collect();
    assert_eq!(keys.len(), docs.len(), "one document per business key");
    // Every interchange with groups has exactly one functional ack: AK102 (= GS06 = ISA13 here)
    // is unique across all FA files; exact duplicates got a TA1 025 instead.
    let mut acked = BTreeMap::new();
    let mut per_partner: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut ta1_025 = 0;
    for f in files(&out_dir) {
        let text = std::fs::read_to_string(&f).unwrap();
        let partner = f
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if f.extension().is_some_and(|e| e == "xml") {
            assert!(text.contains("<Status code=\"200\""), "{}", f.display());
            continue;
        }
        let isa13: u64 = text
            .get(90..99)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{}: {}", f.display(), &text[..text.len().min(300)]));
        per_partner.entry(partner.clone()).or_default().push(isa13);
        if text.contains("TA1*") && text.contains("*R*025") {
            ta1_025 += 1;
        }
        for line in text.lines().filter(|l| l.starts_with("AK1*")) {
            let gs06 = line
                .trim_end_matches('~')
                .split('*')
                .nth(2)
                .unwrap()
                .to_string();
            *acked.entry((partner.clone(), gs06)).or_insert(0) += 1;
        }
    }
    assert_eq!(
        acked.len(),
        expected_acks,
        "one functional ack per interchange"
    );
    assert!(
        acked.values().all(|&n| n == 1),
        "an interchange was acknowledged twice"
    );
    assert_eq!(ta1_025, 100, "every exact duplicate answered with TA1 025");
    // Our control numbers: unique and gap-free per partner, across the crashes.
    for (p, mut nums) in per_partner {
        nums.sort();
        let want: Vec<u64> = (1..=nums.len() as u64).collect();
        assert_eq!(nums, want, "control numbers of {p}");
    }
    // Every invalid or duplicate file is in error/ with a reason; valid ones are archived.
    let errors: Vec<PathBuf> = files(&dir.join("var/error"))
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".reason"))
        .collect();
    assert_eq!(
        errors.len(),
        300,
        "broken, exact and business-key duplicates"
    );
    for e in &errors {
        let reason = std::fs::read_to_string(format!("{}.reason", e.display())).unwrap();
        assert!(!reason.trim().is_empty());
    }
    assert_eq!(files(&dir.join("var/archive")).len(), valid_docs);
    let responses = files(&out_dir)
        .iter()
        .filter(|p| p.to_string_lossy().contains("cXML-Response"))
        .count();
    assert_eq!(responses, cxml_valid, "one cXML Response per request");
    let exceptions = store.list_exceptions(10_000).unwrap();
    assert_eq!(
        exceptions.len(),
        200,
        "broken and business-key duplicates are exceptions"
    );
    assert!(exceptions.iter().any(
        |e| matches!(&e.stage, Stage::Exception { reason } if reason.contains("business key"))
    ));
}

#[test]
fn api_endpoints_auth_and_paging() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cfg = config(dir, "[api]\ntokens = { env = \"EDIGATE_TEST_TOKENS\" }\n");
    let in_dir = dir.join("var/in");
    std::fs::create_dir_all(&in_dir).unwrap();
    let gw = start(dir, &cfg, &[("EDIGATE_TEST_TOKENS", "s3cret,other")]);
    for i in 0..5 {
        drop_file(
            &in_dir,
            &format!("po{i}.x12"),
            &po850("ACMEMED", 500 + i, &format!("P-{i}")),
        );
    }
    drop_file(&in_dir, "bad.x12", &broken850("ACMEMED", 600));
    assert!(wait_until(Duration::from_secs(30), || files(&in_dir).is_empty()));
    let a = &gw.addr;
    let (s, body) = http(a, "GET", "/v1/health", None);
    assert_eq!(s, 200, "{body}");
    // Auth: no token and a wrong token are refused.
    assert_eq!(http(a, "GET", "/v1/documents", None).0, 401);
    assert_eq!(http(a, "GET", "/v1/documents", Some("wrong")).0, 401);
    let t = Some("s3cret");
    // Paging: 5 documents, 2 per page.
    let mut seen = Vec::new();
    let mut path = "/v1/documents?limit=2&partner=ACMEMED&kind=purchase_order".to_string();
    loop {
        let (s, body) = http(a, "GET", &path, t);
        assert_eq!(s, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let items = v["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|d| d["id"].as_str().unwrap().to_string()));
        match v["next"].as_str() {
            Some(n) => {
                path =
                    format!("/v1/documents?limit=2&partner=ACMEMED&kind=purchase_order&cursor={n}")
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    assert_eq!(http(a, "GET", "/v1/documents?limit=0", t).0, 400);
    let (s, body) = http(a, "GET", &format!("/v1/documents/{}", seen[0]), t);
    assert_eq!(s, 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["document"]["kind"], "purchase_order");
    let po = doc["po_numbers"][0].as_str().unwrap().to_string();
    let (s, raw) = http(a, "GET", &format!("/v1/documents/{}/raw", seen[0]), t);
    assert_eq!(s, 200);
    assert!(raw.starts_with("ISA*"));
    let (s, body) = http(a, "GET", &format!("/v1/lineage/{po}"), t);
    assert_eq!(s, 200);
    assert!(body.contains(&seen[0]));
    assert_eq!(http(a, "GET", "/v1/documents/not-an-id", t).0, 400);
    assert_eq!(
        http(
            a,
            "GET",
            "/v1/documents/000001a215a907ad3abf184e7fc5f255",
            t
        )
        .0,
        404
    );
    let (s, body) = http(a, "GET", &format!("/v1/audit?document={}", seen[0]), t);
    assert_eq!(s, 200);
    assert!(body.contains("stored document"), "{body}");
    // Exceptions and replay.
    let (s, body) = http(a, "GET", "/v1/exceptions", t);
    assert_eq!(s, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert!(items[0]["reason"].as_str().unwrap().contains("rejected"));
    let id = items[0]["inbox_id"].as_str().unwrap();
    assert_eq!(http(a, "POST", &format!("/v1/replay/{id}"), None).0, 401);
    let (s, body) = http(a, "POST", &format!("/v1/replay/{id}"), t);
    assert_eq!(s, 200, "{body}");
    assert!(
        body.contains("Exception"),
        "still broken after replay: {body}"
    );
    // Metrics need no token unless one is configured.
    let (s, body) = http(a, "GET", "/metrics", None);
    assert_eq!(s, 200);
    assert!(
        body.contains("edigate_documents_total{partner=\"ACMEMED\",kind=\"purchase_order\"} 5"),
        "{body}"
    );
    gw.terminate();
}

#[test]
fn exception_reasons_say_why_a_set_was_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cfg = config(dir, "");
    let in_dir = dir.join("var/in");
    std::fs::create_dir_all(&in_dir).unwrap();
    let gw = start(dir, &cfg, &[]);
    // A set we ship no grammar for is rejected as a whole (AK5 1), with no segment finding:
    // the reason must still say why. A broken PO1 names its segment.
    let unsupported = format!(
        "{}GS*SS*ACMEMED*HOSPITAL*20240115*1200*71*X*004010~\nST*830*0001~\nBFR*05**F1*DL*A*20240101*20240301*20240115~\nSE*3*0001~\nGE*1*71~\nIEA*1*000000071~\n",
        isa("ACMEMED", 71, 'P')
    );
    drop_file(&in_dir, "forecast.x12", &unsupported);
    drop_file(&in_dir, "bad.x12", &broken850("ACMEMED", 72));
    let error_dir = dir.join("var/error");
    assert!(wait_until(Duration::from_secs(30), || {
        files(&error_dir).len() == 4
    }));
    let reason =
        |name: &str| std::fs::read_to_string(error_dir.join(format!("{name}.reason"))).unwrap();
    let r = reason("forecast.x12");
    assert!(
        r.contains("set 830 0001") && r.contains("not supported"),
        "{r}"
    );
    let r = reason("bad.x12");
    assert!(r.contains(": segment ") && r.contains("PO1"), "{r}");
    gw.terminate();
}

#[test]
fn example_config_loads() {
    std::env::set_var("EDIGATE_API_TOKENS", "a,b");
    let c = edigate::config::Config::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/gateway.example.toml"
    )))
    .unwrap();
    assert_eq!(c.partners.len(), 2);
    assert_eq!(c.api_tokens, vec!["a", "b"]);
    assert_eq!(
        c.partner_by_x12("ZZ", "ACMEMED").map(|p| p.id.as_str()),
        Some("acme")
    );
    let bad = edigate::config::Config::parse(
        "g.toml",
        "[gateway]\nlisten = \"x\"\n[[partner]]\nid = \"a\"\nack = \"998\"\n",
        Path::new("."),
    );
    let e = bad.unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("g.toml", 3), "{e}");
}

fn post(addr: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (
        status,
        resp.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default(),
    )
}

#[test]
fn cxml_endpoint_answers_stores_and_handles_resends() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cfg = config(dir, "");
    let gw = start(dir, &cfg, &[]);
    let order = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/cxml/cxml-php__OrderRequest.xml"
    ))
    .unwrap();
    let (s, first) = post(&gw.addr, "/cxml", &order);
    assert_eq!(s, 200);
    assert!(first.contains("<Status code=\"200\""), "{first}");
    // An identical resend gets the original Response, byte for byte.
    let (_, again) = post(&gw.addr, "/cxml", &order);
    assert_eq!(first, again);
    // Same payloadID, different content: 409.
    let changed = order.replacen("<ItemOut", "<ItemOut requisitionID=\"changed\"", 1);
    let (_, conflict) = post(&gw.addr, "/cxml", &changed);
    assert!(conflict.contains("<Status code=\"409\""), "{conflict}");
    // Not cXML at all: 406, never a crash.
    let (_, junk) = post(&gw.addr, "/cxml", "hello");
    assert!(junk.contains("code=\"406\""), "{junk}");
    let (s, docs) = http(&gw.addr, "GET", "/v1/documents?kind=purchase_order", None);
    assert_eq!(s, 200);
    let v: serde_json::Value = serde_json::from_str(&docs).unwrap();
    assert_eq!(
        v["items"].as_array().unwrap().len(),
        1,
        "one order stored, not three"
    );
    gw.terminate();
}

/// The first SIGTERM waits for work in hand (here a client that has sent half a request); the
/// second must not wait for anything: it exits at once with 130.
#[test]
fn second_sigterm_exits_at_once() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cfg = config(dir, "");
    let mut gw = start(dir, &cfg, &[]);
    let mut client = std::net::TcpStream::connect(&gw.addr).unwrap();
    client
        .write_all(b"GET /v1/health HTTP/1.1\r\nHost: edigate\r\n")
        .unwrap();
    let term = |pid: u32| {
        Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .unwrap()
    };
    std::thread::sleep(Duration::from_millis(300));
    term(gw.child.id());
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        gw.child.try_wait().unwrap().is_none(),
        "the graceful stop should still be waiting for the open request"
    );
    let second = Instant::now();
    term(gw.child.id());
    let status = loop {
        if let Some(s) = gw.child.try_wait().unwrap() {
            break s;
        }
        if second.elapsed() > Duration::from_secs(10) {
            let _ = gw.child.kill();
            panic!("still running 10 s after the second SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130), "{status:?}");
    drop(client);
}
