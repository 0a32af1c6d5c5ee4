//! cXML codec integration tests: every public sample decoded, checked and round-tripped; one
//! test per answer status; the safety cases (XXE, billion laughs, deep nesting, huge text);
//! the CLI reports. Samples live in testdata/cxml (provenance in its README).

use std::path::Path;

use edigate::cxml::*;

fn sample(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/cxml")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn samples() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/cxml");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("testdata/cxml")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

fn decode_ok(bytes: &[u8]) -> Document<'static> {
    decode(bytes, &Limits::default())
        .map(Document::into_owned)
        .unwrap_or_else(|e| panic!("decode failed: {e}"))
}

fn check_bytes(bytes: &[u8], partner: Option<&PartnerAuth>) -> CheckOutcome {
    check(&decode_ok(bytes), partner)
}

/// What each public sample should get. Rejections are real findings, not tolerances: see the
/// notes in testdata/cxml/README.md.
const EXPECTED: &[(&str, u16)] = &[
    ("cxml-php__CatalogUploadRequest.xml", 450),
    ("cxml-php__OrderRequest.xml", 200),
    ("cxml-php__ProductActivityMessage.xml", 450),
    ("cxml-php__PunchOutSetupRequest.xml", 450),
    ("cxml-php__PunchoutOrderMessage.xml", 450),
    ("cxml-php__QuoteMessage.xml", 450),
    ("cxml-php__ShipNoticeRequest.xml", 200),
    ("cxml-php__StatusUpdateRequest.xml", 200),
    ("cxml-php__builder_order_request.xml", 200),
    // Custom.dtd: Payment holds PaymentReference, which no cXML DTD defines.
    ("cxml-php__handling_order_request.xml", 406),
    ("cxml-php__simple-profile-request.xml", 200),
    // Negative sample: Response with an attribute the DTD does not declare.
    ("cxml-ruby__document_node_with_unknown_attribute.xml", 406),
    ("cxml-ruby__envelope2.xml", 450),
    ("cxml-ruby__invoice_backed_and_unbacked_by_pos.xml", 200),
    ("cxml-ruby__invoice_backed_by_multiple_pos.xml", 200),
    ("cxml-ruby__invoice_taxes_at_line.xml", 200),
    // Template placeholders left in: invoiceDate="invoice_date", currency="currency_code".
    ("cxml-ruby__invoice_taxes_at_line_multiple_taxes.xml", 406),
    ("cxml-ruby__invoice_taxes_at_total.xml", 200),
    ("cxml-ruby__order_request.xml", 200),
    ("cxml-ruby__purchase_order_request_200.xml", 200),
    ("cxml-ruby__request_doc.xml", 200),
    ("cxml-ruby__response_status_200.xml", 204),
    ("cxml-ruby__response_status_400.xml", 204),
];

#[test]
fn every_sample_decodes_and_gets_the_expected_status() {
    let all = samples();
    assert_eq!(all.len(), EXPECTED.len(), "a sample without an expectation");
    for (name, bytes) in &all {
        let expected = EXPECTED
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("{name}: no expectation"))
            .1;
        assert!(looks_like_cxml(bytes), "{name}: not sniffed as cXML");
        let outcome = check_bytes(bytes, None);
        assert_eq!(
            outcome.status.code(),
            expected,
            "{name}: {:?} {:?}",
            outcome.reason,
            outcome.problems
        );
        if outcome.accepted() {
            assert_eq!(outcome.errors().count(), 0, "{name}");
        }
    }
}

#[test]
fn every_sample_round_trips_pretty_and_compact() {
    for (name, bytes) in samples() {
        let doc = decode_ok(&bytes);
        for pretty in [true, false] {
            for doctype in [DoctypeMode::Derived, DoctypeMode::Keep, DoctypeMode::Omit] {
                let text = write_document(&doc, &WriteOptions { pretty, doctype });
                let again = decode(text.as_bytes(), &Limits::default())
                    .unwrap_or_else(|e| panic!("{name}: re-decode failed: {e}\n{text}"));
                assert_eq!(doc.root, again.root, "{name} pretty={pretty}");
                if doctype == DoctypeMode::Keep {
                    assert_eq!(doc.doctype, again.doctype, "{name}");
                }
                // Writing is stable: the same tree gives the same text.
                assert_eq!(
                    text,
                    write_document(&again, &WriteOptions { pretty, doctype })
                );
            }
        }
    }
}

#[test]
fn writer_derives_the_doctype_for_version_and_document() {
    let doc = decode_ok(&sample("cxml-php__ShipNoticeRequest.xml"));
    let text = write_document(&doc, &WriteOptions::default());
    assert!(text.contains(
        "<!DOCTYPE cXML SYSTEM \"http://xml.cxml.org/schemas/cXML/1.2.050/Fulfill.dtd\">"
    ));
    // The version="1.0" quirk: the DTD's version wins.
    let doc = decode_ok(&sample("cxml-ruby__invoice_taxes_at_total.xml"));
    assert_eq!(cxml_version(&doc), Some("1.2.020"));
    let text = write_document(&doc, &WriteOptions::default());
    assert!(text.contains("/cXML/1.2.020/InvoiceDetail.dtd"));
}

#[test]
fn writer_escapes_markup_and_whitespace_in_attributes() {
    let root = Element::new("cXML")
        .with_attr("payloadID", "a\"b<c>&d\te\nf\rg")
        .with_child(Element::new("Comments").with_text("x < y && z > \"w\" ]]> \r"));
    let doc = Document {
        doctype: None,
        root,
    };
    let text = write_document(&doc, &WriteOptions::default());
    assert!(text.contains("payloadID=\"a&quot;b&lt;c&gt;&amp;d&#9;e&#10;f&#13;g\""));
    let again = decode_ok(text.as_bytes());
    assert_eq!(doc.root, again.root);
}

#[test]
fn tree_api_reads_by_name_and_path() {
    let doc = decode_ok(&sample("cxml-php__OrderRequest.xml"));
    let order = doc.root.find("Request/OrderRequest").expect("OrderRequest");
    assert_eq!(
        order
            .find("OrderRequestHeader/Total/Money")
            .map(|m| m.text().into_owned()),
        Some("85.00".into())
    );
    assert_eq!(
        order
            .find("OrderRequestHeader/Total/Money")
            .and_then(|m| m.attr("currency")),
        Some("EUR")
    );
    assert_eq!(
        order.value("OrderRequestHeader/@orderID").as_deref(),
        Some("DO1234")
    );
    assert_eq!(order.children("ItemOut").count(), 2);
    assert_eq!(order.value("ItemOut[2]/@quantity").as_deref(), Some("20"));
    let parts: Vec<String> = order
        .find_all("ItemOut/ItemID/SupplierPartID")
        .iter()
        .map(|e| e.text().into_owned())
        .collect();
    assert_eq!(parts, ["1233244", "1233245"]);
    assert!(order.find("ItemOut[3]").is_none());
    assert!(order.find("ItemOut[0]").is_none());
    let header = order.child("OrderRequestHeader").expect("header");
    assert_eq!((header.position.line, header.position.column), (27, 14));

    let env = envelope(&doc);
    assert_eq!(env.payload_id, Some("1625586002.193314.7293@dev"));
    assert_eq!(env.timestamp, Some("2000-10-12T18:39:09-08:00"));
    assert_eq!(env.body_kind, Some(BodyKind::Request));
    assert_eq!(env.kind, Some(DocumentKind::OrderRequest));
    assert_eq!(env.deployment_mode, Some("test"));
    assert_eq!(env.from[0].domain(), Some("NetworkId"));
    assert_eq!(
        env.to[0].identity().as_deref(),
        Some("supplier@supplier.com")
    );
    assert_eq!(env.sender[0].shared_secret().as_deref(), Some("coyote"));
    assert_eq!(
        env.user_agent.as_deref(),
        Some("Platform Order Fulfillment Hub")
    );
    // Debug output never shows the secret.
    let debug = format!("{:?}", env.sender[0]);
    assert!(
        !debug.contains("coyote") && debug.contains("***"),
        "{debug}"
    );
}

// ---- structure problems name the element path and line:column ----

const ORDER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE cXML SYSTEM "http://xml.cxml.org/schemas/cXML/1.2.063/cXML.dtd">
<cXML payloadID="po-1@hospital" timestamp="2024-01-15T10:20:30-05:00" version="1.2.063" xml:lang="en-US">
  <Header>
    <From><Credential domain="NetworkID"><Identity>HOSP-01</Identity></Credential></From>
    <To><Credential domain="DUNS"><Identity>123456789</Identity></Credential></To>
    <Sender><Credential domain="NetworkID"><Identity>HOSP-01</Identity><SharedSecret>s3cret</SharedSecret></Credential>
      <UserAgent>test</UserAgent></Sender>
  </Header>
  <Request deploymentMode="production">
    <OrderRequest>
      <OrderRequestHeader orderID="PO-1" orderDate="2024-01-15T10:20:30-05:00" type="@TYPE@">
        <Total><Money currency="USD">12.50</Money></Total>
        <ShipTo><Address><Name xml:lang="en">Ward 3</Name></Address></ShipTo>
        <BillTo><Address><Name xml:lang="en">Finance</Name></Address></BillTo>
        @REFERENCE@
      </OrderRequestHeader>
      <ItemOut quantity="1" lineNumber="1">
        <ItemID><SupplierPartID>A-1</SupplierPartID></ItemID>
      </ItemOut>
      <ItemOut quantity="@QTY@" lineNumber="2">
        <ItemID><SupplierPartID>A-2</SupplierPartID></ItemID>
      </ItemOut>
    </OrderRequest>
  </Request>
</cXML>
"#;

fn order(order_type: &str, quantity: &str, reference: bool) -> Vec<u8> {
    ORDER
        .replace("@TYPE@", order_type)
        .replace("@QTY@", quantity)
        .replace(
            "@REFERENCE@",
            if reference {
                r#"<DocumentReference payloadID="po-0@hospital"/>"#
            } else {
                ""
            },
        )
        .into_bytes()
}

fn partner() -> PartnerAuth {
    PartnerAuth {
        domain: "networkid".into(),
        identity: "HOSP-01".into(),
        secret: Secret::new("s3cret"),
        deployment_mode: Some("production".into()),
    }
}

#[test]
fn problems_carry_path_and_position() {
    let outcome = check_bytes(&order("new", "many", false), None);
    assert_eq!(outcome.status, StatusCode::NotAcceptable);
    let p = outcome.errors().next().expect("a problem");
    assert_eq!(p.path, "cXML/Request/OrderRequest/ItemOut[2]");
    assert_eq!((p.position.line, p.position.column), (21, 7));
    assert_eq!(p.code, "bad-value");
    assert!(p.message.contains("quantity=\"many\""), "{}", p.message);

    let outcome = check_bytes(&order("renew", "1", false), None);
    let p = outcome.errors().next().expect("a problem");
    assert_eq!(p.code, "bad-enum");
    assert_eq!(p.path, "cXML/Request/OrderRequest/OrderRequestHeader");
    assert!(
        p.message.contains("one of delete, new, update"),
        "{}",
        p.message
    );
}

#[test]
fn structure_checks_cover_required_children_attributes_money_and_dates() {
    let cases: &[(&str, &str, &str)] = &[
        (r#" orderID="PO-1""#, "", "missing-attribute"),
        ("<BillTo>", "<Bill>", "unexpected-element"),
        (r#"currency="USD""#, r#"currency="usd""#, "bad-currency"),
        ("12.50</Money>", "12,50</Money>", "bad-amount"),
        (
            "2024-01-15T10:20:30-05:00\" type",
            "2024-01-15T10:20:30\" type",
            "bad-value",
        ),
        (
            "<ItemID><SupplierPartID>A-1</SupplierPartID></ItemID>",
            "",
            "missing-element",
        ),
        (
            r#"<Total><Money currency="USD">12.50</Money></Total>"#,
            "<Total>12.50</Total>",
            "unexpected-text",
        ),
    ];
    for (from, to, code) in cases {
        let mut text = String::from_utf8(order("new", "1", false)).unwrap();
        assert!(text.contains(from), "{from}");
        text = text.replacen(from, to, 1);
        if *code == "unexpected-element" {
            text = text.replacen("</BillTo>", "</Bill>", 1);
        }
        let outcome = check_bytes(text.as_bytes(), None);
        assert_eq!(outcome.status, StatusCode::NotAcceptable, "{code}");
        assert!(
            outcome.errors().any(|p| p.code == *code),
            "{code}: {:?}",
            outcome.problems
        );
    }
}

// ---- one test per answer status ----

fn answer_with(bytes: &[u8], history: Option<&mut dyn PayloadHistory>, queued: bool) -> Answer {
    answer(
        bytes,
        &Limits::default(),
        Some(&partner()),
        history,
        &AnswerOptions {
            queued,
            ..AnswerOptions::default()
        },
    )
}

fn status_of(response: &str) -> (String, String) {
    let doc = decode_ok(response.as_bytes());
    let status = doc.root.find("Response/Status").expect("Status");
    (
        status.attr("code").unwrap_or_default().to_owned(),
        status.attr("text").unwrap_or_default().to_owned(),
    )
}

#[test]
fn status_200_ok_for_a_valid_authenticated_order() {
    let a = answer_with(&order("new", "1", false), None, false);
    assert_eq!(a.outcome.status, StatusCode::Ok, "{:?}", a.outcome);
    assert_eq!(status_of(&a.response), ("200".into(), "OK".into()));
    // Fresh payloadID and timestamp, same version as the request, DOCTYPE for it.
    let resp = decode_ok(a.response.as_bytes());
    assert_ne!(resp.root.attr("payloadID"), Some("po-1@hospital"));
    assert!(is_datetime_tz(
        resp.root.attr("timestamp").unwrap_or_default()
    ));
    assert_eq!(resp.root.attr("version"), Some("1.2.063"));
    assert_eq!(
        resp.doctype.and_then(|d| d.system_id),
        Some("http://xml.cxml.org/schemas/cXML/1.2.063/cXML.dtd".into())
    );
    assert!(!a.response.contains("s3cret"));
    // The rendered Response is itself valid cXML.
    assert_eq!(
        check(&decode_ok(a.response.as_bytes()), None).status,
        StatusCode::NoContent
    );
}

#[test]
fn status_201_accepted_when_queued() {
    let a = answer_with(&order("new", "1", false), None, true);
    assert_eq!(status_of(&a.response), ("201".into(), "Accepted".into()));
}

#[test]
fn status_204_no_content_for_a_response_we_receive() {
    let outcome = check_bytes(&sample("cxml-ruby__response_status_400.xml"), None);
    assert_eq!(outcome.status, StatusCode::NoContent);
    let a = answer(
        &sample("cxml-ruby__response_status_200.xml"),
        &Limits::default(),
        None,
        None,
        &AnswerOptions::default(),
    );
    assert_eq!(status_of(&a.response), ("204".into(), "No Content".into()));
    assert_eq!(
        decode_ok(a.response.as_bytes()).root.attr("version"),
        Some("1.2.020")
    );
}

#[test]
fn status_400_bad_request_with_the_reason() {
    let a = answer_with(&order("update", "1", false), None, false);
    assert_eq!(status_of(&a.response), ("400".into(), "Bad Request".into()));
    let doc = decode_ok(a.response.as_bytes());
    let reason = doc
        .root
        .find("Response/Status")
        .map(|s| s.text().into_owned())
        .unwrap_or_default();
    assert!(reason.contains("DocumentReference"), "{reason}");
    // With the reference, the update is fine.
    let a = answer_with(&order("update", "1", true), None, false);
    assert_eq!(a.outcome.status, StatusCode::Ok, "{:?}", a.outcome);
    // A test-mode document sent to a production partner.
    let text = String::from_utf8(order("new", "1", false))
        .unwrap()
        .replace("\"production\"", "\"test\"");
    let a = answer_with(text.as_bytes(), None, false);
    assert_eq!(a.outcome.status, StatusCode::BadRequest);
    assert!(a
        .outcome
        .reason
        .unwrap_or_default()
        .contains("deploymentMode"));
}

#[test]
fn status_401_unauthorized_for_wrong_or_missing_secret() {
    let wrong = String::from_utf8(order("new", "1", false))
        .unwrap()
        .replace("s3cret", "guess");
    let a = answer_with(wrong.as_bytes(), None, false);
    assert_eq!(
        status_of(&a.response),
        ("401".into(), "Unauthorized".into())
    );
    assert!(!a.response.contains("s3cret") && !a.response.contains("guess"));
    let missing = String::from_utf8(order("new", "1", false))
        .unwrap()
        .replace("<SharedSecret>s3cret</SharedSecret>", "");
    assert_eq!(
        answer_with(missing.as_bytes(), None, false).outcome.status,
        StatusCode::Unauthorized
    );
    let stranger = String::from_utf8(order("new", "1", false))
        .unwrap()
        .replace(
            "<Identity>HOSP-01</Identity><SharedSecret>",
            "<Identity>OTHER</Identity><SharedSecret>",
        );
    assert_eq!(
        answer_with(stranger.as_bytes(), None, false).outcome.status,
        StatusCode::Unauthorized
    );
    // No partner configured: credentials are not checked.
    assert_eq!(check_bytes(wrong.as_bytes(), None).status, StatusCode::Ok);
    // The secret wrapper never prints.
    assert_eq!(format!("{:?}", partner().secret), "***");
    assert!(!format!("{:?}", partner()).contains("s3cret"));
}

#[test]
fn status_406_not_acceptable_for_malformed_or_invalid_documents() {
    let a = answer_with(
        b"<?xml version=\"1.0\"?><cXML payloadID=\"x\"><Header></cXML>",
        None,
        false,
    );
    assert_eq!(
        status_of(&a.response),
        ("406".into(), "Not Acceptable".into())
    );
    let a = answer_with(&order("new", "lots", false), None, false);
    assert_eq!(a.outcome.status, StatusCode::NotAcceptable);
    let doc = decode_ok(a.response.as_bytes());
    let reason = doc
        .root
        .find("Response/Status")
        .map(|s| s.text().into_owned())
        .unwrap_or_default();
    assert!(
        reason.contains("21:7 cXML/Request/OrderRequest/ItemOut[2]"),
        "{reason}"
    );
}

#[test]
fn status_409_conflict_and_identical_resend_gets_the_original_response() {
    let mut history = InMemoryHistory::new();
    let first = answer_with(&order("new", "1", false), Some(&mut history), false);
    assert_eq!(first.outcome.status, StatusCode::Ok);
    assert_eq!(history.len(), 1);

    // Same payloadID, same content (even re-indented): the original answer, byte for byte.
    let doc = decode_ok(&order("new", "1", false));
    let reformatted = write_document(
        &doc,
        &WriteOptions {
            pretty: false,
            doctype: DoctypeMode::Keep,
        },
    );
    let again = answer_with(reformatted.as_bytes(), Some(&mut history), false);
    assert!(again.resent);
    assert_eq!(again.response, first.response);

    // Same payloadID, different content: 409.
    let changed = String::from_utf8(order("new", "1", false))
        .unwrap()
        .replace("12.50", "13.50");
    let conflict = answer_with(changed.as_bytes(), Some(&mut history), false);
    assert_eq!(
        status_of(&conflict.response),
        ("409".into(), "Conflict".into())
    );
}

#[test]
fn status_450_not_implemented_for_documents_we_do_not_handle() {
    for name in [
        "cxml-ruby__envelope2.xml",
        "cxml-php__PunchOutSetupRequest.xml",
        "cxml-php__QuoteMessage.xml",
    ] {
        let a = answer(
            &sample(name),
            &Limits::default(),
            None,
            None,
            &AnswerOptions::default(),
        );
        assert_eq!(
            status_of(&a.response),
            ("450".into(), "Not Implemented".into()),
            "{name}"
        );
    }
}

struct BrokenHistory;

impl PayloadHistory for BrokenHistory {
    fn lookup(&self, _: &str) -> Result<Option<HistoryEntry>, HistoryError> {
        Err(HistoryError("disk full".into()))
    }
    fn record(&mut self, _: &str, _: HistoryEntry) -> Result<(), HistoryError> {
        Err(HistoryError("disk full".into()))
    }
}

#[test]
fn status_500_internal_server_error_when_history_fails() {
    let mut broken = BrokenHistory;
    let a = answer_with(&order("new", "1", false), Some(&mut broken), false);
    assert_eq!(
        status_of(&a.response),
        ("500".into(), "Internal Server Error".into())
    );
}

#[test]
fn profile_request_is_answered_with_the_supported_transactions() {
    let a = answer(
        &sample("cxml-php__simple-profile-request.xml"),
        &Limits::default(),
        None,
        None,
        &AnswerOptions {
            endpoint_url: Some("https://gw.example/cxml".into()),
            ..AnswerOptions::default()
        },
    );
    assert_eq!(a.outcome.status, StatusCode::Ok);
    let doc = decode_ok(a.response.as_bytes());
    let names: Vec<&str> = doc
        .root
        .find_all("Response/ProfileResponse/Transaction")
        .iter()
        .filter_map(|t| t.attr("requestName"))
        .collect();
    assert!(names.contains(&"OrderRequest") && names.contains(&"InvoiceDetailRequest"));
    assert_eq!(
        check(&doc, None).status,
        StatusCode::NoContent,
        "{:?}",
        check(&doc, None).problems
    );
}

// ---- safety ----

fn decode_err(bytes: &[u8], limits: &Limits) -> CxmlError {
    match decode(bytes, limits) {
        Ok(_) => panic!(
            "decoded: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        ),
        Err(e) => e,
    }
}

#[test]
fn xxe_file_and_url_entities_are_refused() {
    for target in ["file:///etc/passwd", "http://attacker.invalid/x"] {
        let xml = format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE cXML [\n<!ENTITY xxe SYSTEM \"{target}\">\n]>\n<cXML payloadID=\"&xxe;\">&xxe;</cXML>"
        );
        let err = decode_err(xml.as_bytes(), &Limits::default());
        assert!(matches!(err, CxmlError::EntityDeclaration { .. }), "{err}");
        assert_eq!(err.position().map(|p| p.line), Some(2));
    }
    // Parameter entities and references to undeclared entities get the same answer.
    let xml = "<!DOCTYPE cXML [<!ENTITY % p SYSTEM \"http://attacker.invalid/p.dtd\"> %p;]><cXML/>";
    assert!(matches!(
        decode_err(xml.as_bytes(), &Limits::default()),
        CxmlError::EntityDeclaration { .. }
    ));
    let xml = "<cXML payloadID=\"x\">&xxe;</cXML>";
    assert!(
        matches!(decode_err(xml.as_bytes(), &Limits::default()), CxmlError::UndefinedEntity { ref name, .. } if name == "xxe")
    );
    let xml = "<cXML payloadID=\"&xxe;\"/>";
    assert!(matches!(
        decode_err(xml.as_bytes(), &Limits::default()),
        CxmlError::UndefinedEntity { .. }
    ));
    // And the answer is a clean 406.
    let xml = "<?xml version=\"1.0\"?><!DOCTYPE cXML [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><cXML>&xxe;</cXML>";
    let a = answer(
        xml.as_bytes(),
        &Limits::default(),
        None,
        None,
        &AnswerOptions::default(),
    );
    assert_eq!(a.outcome.status, StatusCode::NotAcceptable);
    assert!(!a.response.contains("root:"));
}

#[test]
fn billion_laughs_is_refused_without_expansion() {
    let mut xml =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE cXML [\n<!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_string()
        } else {
            format!("lol{}", i - 1)
        };
        xml.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    xml.push_str("]>\n<cXML payloadID=\"x\" timestamp=\"2024-01-01T00:00:00Z\">&lol9;</cXML>");
    let started = std::time::Instant::now();
    let err = decode_err(xml.as_bytes(), &Limits::default());
    assert!(matches!(err, CxmlError::EntityDeclaration { .. }), "{err}");
    assert!(started.elapsed().as_secs() < 2);
}

#[test]
fn deep_nesting_stops_at_the_depth_limit() {
    let depth = 100_000;
    let mut xml = String::with_capacity(depth * 8);
    xml.push_str("<cXML>");
    for _ in 0..depth {
        xml.push_str("<a>");
    }
    for _ in 0..depth {
        xml.push_str("</a>");
    }
    xml.push_str("</cXML>");
    let err = decode_err(xml.as_bytes(), &Limits::default());
    assert!(matches!(err, CxmlError::TooDeep { limit: 64, .. }), "{err}");
    // Raising the limit cannot remove the hard ceiling (the tree is walked recursively).
    let limits = Limits {
        max_depth: usize::MAX,
        ..Limits::default()
    };
    assert!(matches!(
        decode_err(xml.as_bytes(), &limits),
        CxmlError::TooDeep { .. }
    ));
}

#[test]
fn a_100_mb_text_node_is_refused_by_size_and_by_text_length() {
    let mut xml = Vec::with_capacity(100 * 1024 * 1024 + 64);
    xml.extend_from_slice(b"<cXML payloadID=\"x\">");
    xml.resize(xml.len() + 100 * 1024 * 1024, b'a');
    xml.extend_from_slice(b"</cXML>");
    let err = decode_err(&xml, &Limits::default());
    assert!(matches!(err, CxmlError::TooLarge { .. }), "{err}");
    let roomy = Limits {
        max_bytes: 200 * 1024 * 1024,
        ..Limits::default()
    };
    let err = decode_err(&xml, &roomy);
    assert!(matches!(err, CxmlError::TextTooLong { .. }), "{err}");
}

#[test]
fn other_limits_and_malformed_input_give_clean_errors() {
    let many_attrs: String = (0..100).map(|i| format!(" a{i}=\"1\"")).collect();
    let xml = format!("<cXML{many_attrs}/>");
    assert!(matches!(
        decode_err(xml.as_bytes(), &Limits::default()),
        CxmlError::TooManyAttributes { .. }
    ));

    let err = decode_err(
        b"<cXML>\n  <Header>\xff\xfe</Header></cXML>",
        &Limits::default(),
    );
    assert!(
        matches!(err, CxmlError::InvalidUtf8 { position } if position.line == 2 && position.column == 11),
        "{err}"
    );

    let err = decode_err(b"<cXML>\n<Header></Request></cXML>", &Limits::default());
    assert!(matches!(err, CxmlError::Syntax { .. }), "{err}");
    assert_eq!(err.position().map(|p| p.line), Some(2));

    for bad in [
        &b""[..],
        b"   ",
        b"<cXML>",
        b"<cXML></cXML><cXML/>",
        b"<cXML a=\"1\" a=\"2\"/>",
        b"<cXML>text & more</cXML>",
        b"<cXML><1a/></cXML>",
        b"<Other/>",
        b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><cXML>\xc3\xa9</cXML>",
    ] {
        assert!(
            decode(bad, &Limits::default()).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    // A UTF-8 BOM is fine.
    assert!(decode(b"\xEF\xBB\xBF<cXML/>", &Limits::default()).is_ok());
}

// ---- CLI reports ----

#[test]
fn sniffing() {
    assert!(looks_like_cxml(b"\xEF\xBB\xBF  \n<?xml version=\"1.0\"?>"));
    assert!(looks_like_cxml(b"<!DOCTYPE cXML SYSTEM \"x\">"));
    assert!(looks_like_cxml(b"\n<cXML payloadID=\"x\">"));
    assert!(!looks_like_cxml(b"ISA*00*          *00*"));
    assert!(!looks_like_cxml(b""));
    assert!(!looks_like_cxml(b"<html>"));
}

#[test]
fn cli_validate_reports_text_json_and_ack() {
    let ok = cli_validate(
        "po.xml",
        &sample("cxml-php__OrderRequest.xml"),
        false,
        false,
    );
    assert_eq!(ok.exit_code, 0);
    assert!(
        ok.stdout.contains("po.xml: cXML OrderRequest"),
        "{}",
        ok.stdout
    );
    assert!(ok.stdout.contains("200 OK (accepted)"));

    let bad = cli_validate(
        "neg.xml",
        &sample("cxml-ruby__document_node_with_unknown_attribute.xml"),
        true,
        false,
    );
    assert_eq!(bad.exit_code, 1);
    let record: serde_json::Value =
        serde_json::from_str(bad.stdout.trim()).expect("one JSON record");
    assert_eq!(record["file"], "neg.xml");
    assert_eq!(record["format"], "cxml");
    assert_eq!(record["payload_id"], "test-id");
    assert_eq!(record["document"], "Response");
    assert_eq!(record["status"], 406);
    let e = &record["errors"][0];
    assert_eq!(e["code"], "unknown-attribute");
    assert_eq!(e["path"], "cXML/Response");
    assert_eq!(
        (e["line"].as_u64(), e["column"].as_u64()),
        (Some(4), Some(3))
    );
    assert!(e["message"]
        .as_str()
        .unwrap_or_default()
        .contains("invalid"));

    let ack = cli_validate("po.xml", &sample("cxml-ruby__envelope2.xml"), false, true);
    assert_eq!(ack.exit_code, 1);
    assert!(ack.stdout.starts_with("<?xml"));
    assert_eq!(status_of(&ack.stdout).0, "450");
    assert!(ack.stderr.contains("CopyRequest"));

    let x12 = cli_validate("850.x12", b"ISA*00*", false, false);
    assert_eq!(x12.exit_code, 1);
    let junk = cli_validate("bad.xml", b"<?xml version=\"1.0\"?><cXML", true, true);
    assert_eq!(junk.exit_code, 1);
    assert_eq!(status_of(&junk.stdout).0, "406");
}

#[test]
fn cli_inspect_prints_the_tree_with_positions_and_hides_secrets() {
    let out = cli_inspect("po.xml", &sample("cxml-php__OrderRequest.xml"));
    assert_eq!(out.exit_code, 0);
    assert!(
        out.stdout.contains("OrderRequestHeader orderID=\"DO1234\""),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("   27:14"), "{}", out.stdout);
    assert!(out.stdout.contains("SharedSecret = \"***\""));
    assert!(!out.stdout.contains("coyote"));
    assert_eq!(cli_inspect("x", b"ISA*").exit_code, 1);
    assert_eq!(
        cli_inspect("x", b"<?xml version=\"1.0\"?><cXML><a></b></cXML>").exit_code,
        1
    );
}

#[test]
fn whitespace_between_elements_is_layout_but_kept_inside_mixed_text() {
    let cases: &[(&str, &[&str])] = &[
        ("<cXML><a><b/> &amp; <c/></a></cXML>", &[" & "]),
        ("<cXML><a><b/>  <!-- c -->  x<c/></a></cXML>", &["    x"]),
        ("<cXML><a>\n  <b/>\n  <c/>\n</a></cXML>", &[]),
        ("<cXML><a>  </a></cXML>", &["  "]),
        ("<cXML><a><b/><![CDATA[ ]]><c/></a></cXML>", &[]),
    ];
    for (xml, texts) in cases {
        let doc = decode_ok(xml.as_bytes());
        let a = doc.root.child("a").expect("a");
        let got: Vec<&str> = a
            .children
            .iter()
            .filter_map(|n| match n {
                Node::Text(t) => Some(&**t),
                Node::Element(_) => None,
            })
            .collect();
        assert_eq!(&got, texts, "{xml}");
        for pretty in [false, true] {
            let text = write_document(
                &doc,
                &WriteOptions {
                    pretty,
                    doctype: DoctypeMode::Omit,
                },
            );
            assert_eq!(decode_ok(text.as_bytes()).root, doc.root, "{xml} -> {text}");
        }
    }
}

/// Found by the fuzzer: a `version` holding `[` and `%` went into the derived DOCTYPE, and the
/// written document then read as one with an internal subset declaring entities.
#[test]
fn regression_fuzz_odd_version_does_not_reach_the_doctype() {
    let xml = b"<cXML version=\"2.2.0205.process.\0\0 [8@domain.%%%com\" timestamp=\"2012-11-08T01:49:41-05:0\">0\n<Response><xStatus code=\"4\"/></Response></cXML>";
    let doc = decode_ok(xml);
    assert_eq!(cxml_version(&doc), None);
    for doctype in [DoctypeMode::Derived, DoctypeMode::Keep] {
        let text = write_document(
            &doc,
            &WriteOptions {
                pretty: true,
                doctype,
            },
        );
        assert!(text.contains("/cXML/1.2.063/cXML.dtd") || doctype == DoctypeMode::Keep);
        assert_eq!(decode_ok(text.as_bytes()).root, doc.root);
    }
    // A `[` inside the system literal is not an internal subset.
    let xml = b"<!DOCTYPE cXML SYSTEM \"http://x.example/a[1]/cXML.dtd\"><cXML/>";
    let doc = decode_ok(xml);
    assert_eq!(
        doc.doctype.and_then(|d| d.system_id).as_deref(),
        Some("http://x.example/a[1]/cXML.dtd")
    );
}
