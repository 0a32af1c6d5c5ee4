//! Integration tests of the canonical document model: JSON round trips of every document kind,
//! the committed JSON Schemas (kept current, and validating sample documents), business
//! equality and keys, identifier check digits, UDI parsing and edge conversions.
//!
//! `UPDATE_SCHEMAS=1 cargo test --test canonical` rewrites `schemas/` after a model change.

use std::path::PathBuf;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveTime};
use edigate::canonical::hibcc::hibcc_check_char;
use edigate::canonical::schema::{canonical_schema, schema_files, schema_for_kind};
use edigate::canonical::*;
use rust_decimal::Decimal;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Sample documents, shaped like what the 850/855/856/810/997 maps produce.

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).expect("test decimal")
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("test date")
}

fn usd(amount: &str) -> Money {
    Money::new(dec(amount), Currency::new("USD").expect("USD"))
}

fn qty(value: &str, uom: &str) -> Quantity {
    Quantity::new(dec(value), UomCode::new(uom).expect("uom"))
}

fn po(n: &str) -> PoNumber {
    PoNumber::new(n).expect("po number")
}

fn line(n: &str) -> Option<LineNumber> {
    Some(LineNumber::new(n).expect("line number"))
}

fn provenance(isa13: &str) -> Provenance {
    let mut p = Provenance::new(
        SourceFormat::X12,
        PartnerId::new("acme-medical").expect("partner"),
        DateTime::parse_from_rfc3339("2024-01-15T10:20:30-05:00").expect("time"),
        "grammar:004010@3f2a;map:850-in@91bc",
    );
    p.version = Some("004010".into());
    p.interchange_control = Some(ControlNumber::new(isa13).expect("isa13"));
    p.group_control = Some(ControlNumber::new("1021").expect("gs06"));
    p.set_control = Some(ControlNumber::new("0007").expect("st02"));
    p.inbox_id = Some("inbox-000042".into());
    p
}

fn hospital() -> Party {
    let mut p = Party::new(PartyRole::Buyer);
    p.role_code = Some("BY".into());
    p.name = Some("St. Example General Hospital".into());
    p.ids = vec![
        PartyId::new(PartyIdScheme::Gln, "0614141000012"),
        PartyId::new(PartyIdScheme::Hin, "123456789"),
    ];
    p.address = Some(Address {
        lines: vec!["1 Hospital Way".into(), "Dock 3".into()],
        city: Some("Springfield".into()),
        state: Some("IL".into()),
        postal_code: Some("62701".into()),
        country: Some("US".into()),
    });
    p
}

fn supplier() -> Party {
    let mut p = Party::new(PartyRole::Supplier);
    p.name = Some("Acme Medical Supply".into());
    p.ids = vec![PartyId::new(PartyIdScheme::Duns, "123456789")];
    p
}

fn catheter() -> ItemRef {
    ItemRef {
        buyer_part: Some("MM-100234".into()),
        vendor_part: Some("CV-7F-110".into()),
        manufacturer_part: Some("7F110".into()),
        gtin: Some(Gtin::parse("00643169007222").expect("gtin")),
        udi_di: Some("00643169007222".into()),
        description: Some("Central venous catheter 7Fr 110cm".into()),
        ..ItemRef::default()
    }
}

fn heparin() -> ItemRef {
    ItemRef {
        vendor_part: Some("HEP-5000".into()),
        ndc: Some(Ndc::parse("0409-2720-01").expect("ndc")),
        supplier_aux_id: Some("aux:77|ctr=9".into()),
        other_ids: vec![QualifiedId {
            qualifier: "ZZ".into(),
            value: "FORMULARY-12".into(),
        }],
        ..ItemRef::default()
    }
}

fn purchase_order() -> PurchaseOrder {
    PurchaseOrder {
        provenance: provenance("000000905"),
        po_number: po("4500012345"),
        purpose: Purpose::Original,
        order_type: Some(OrderType::Standalone),
        order_type_code: Some("SA".into()),
        order_date: date(2024, 1, 15),
        version: None,
        release_number: None,
        contract_number: Some("GPO-2024-88".into()),
        ack_requested: Some("AC".into()),
        currency: Some(Currency::new("USD").expect("USD")),
        buyer: hospital(),
        supplier: supplier(),
        parties: vec![{
            let mut ship_to = hospital();
            ship_to.role = PartyRole::ShipTo;
            ship_to.role_code = Some("ST".into());
            ship_to
        }],
        requested_delivery_date: Some(date(2024, 1, 17)),
        cost_centre: CostCentre::new("CC-4410-ICU").ok(),
        clinical_priority: Some(ClinicalPriority::Stat),
        ship_complete: None,
        payment_terms: vec![PaymentTerms {
            type_code: Some("01".into()),
            discount_percent: Some(dec("2")),
            discount_days: Some(10),
            net_days: Some(30),
            ..PaymentTerms::default()
        }],
        allowances_charges: vec![],
        taxes: vec![],
        total: Some(usd("1462.50")),
        references: vec![Reference {
            qualifier: "DP".into(),
            value: "ICU".into(),
            description: None,
        }],
        notes: vec!["Deliver to ICU stores".into()],
        lines: vec![
            PoLine {
                line_number: line("0001"),
                item: catheter(),
                quantity: qty("100", "EA"),
                unit_price: Some(usd("12.50")),
                price_basis: Some("PE".into()),
                requested_delivery_date: None,
                ship_to: None,
                cost_centre: None,
                clinical_priority: None,
                allowances_charges: vec![],
                taxes: vec![],
                traceability: vec![],
                references: vec![],
                notes: vec![],
            },
            PoLine {
                line_number: line("1A"),
                item: heparin(),
                quantity: qty("5", "CA"),
                unit_price: Some(usd("42.50")),
                price_basis: None,
                requested_delivery_date: Some(date(2024, 1, 16)),
                ship_to: None,
                cost_centre: CostCentre::new("CC-4420-PHARM").ok(),
                clinical_priority: Some(ClinicalPriority::Urgent),
                allowances_charges: vec![],
                taxes: vec![],
                traceability: vec![],
                references: vec![],
                notes: vec![],
            },
        ],
    }
}

fn status(s: LineStatus, code: &str, q: &str) -> AckLineStatus {
    AckLineStatus {
        status: s,
        status_code: Some(code.into()),
        quantity: Some(qty(q, "EA")),
        unit_price: None,
        ship_date: None,
        delivery_date: None,
        substitute: None,
        supplier_batch_id: None,
        notes: vec![],
    }
}

fn order_ack() -> OrderAck {
    let mut accepted = status(LineStatus::Accepted, "IA", "50");
    accepted.ship_date = Some(date(2024, 2, 1));
    let mut backordered = status(LineStatus::Backordered, "IB", "50");
    backordered.ship_date = Some(date(2024, 3, 1));
    let mut substituted = status(LineStatus::Substituted, "IS", "5");
    substituted.substitute = Some(ItemRef {
        vendor_part: Some("HEP-5000-B".into()),
        ndc: Some(Ndc::parse("63323-540-05").expect("ndc")),
        ..ItemRef::default()
    });
    substituted.unit_price = Some(usd("44.00"));
    OrderAck {
        provenance: provenance("000000906"),
        po_number: po("4500012345"),
        po_date: Some(date(2024, 1, 15)),
        purpose: Purpose::Original,
        status: AckStatus::AcceptedWithChanges,
        status_code: Some("AC".into()),
        ack_id: None,
        ack_date: Some(date(2024, 1, 16)),
        supplier_order_number: Some("SO-88231".into()),
        currency: None,
        buyer: hospital(),
        supplier: supplier(),
        parties: vec![],
        total: None,
        references: vec![],
        notes: vec![],
        lines: vec![
            AckLine {
                line_number: line("0001"),
                item: catheter(),
                ordered_quantity: Some(qty("100", "EA")),
                ordered_unit_price: Some(usd("12.50")),
                statuses: vec![accepted, backordered],
            },
            AckLine {
                line_number: line("1A"),
                item: heparin(),
                ordered_quantity: Some(qty("5", "CA")),
                ordered_unit_price: None,
                statuses: vec![substituted],
            },
        ],
    }
}

fn shipped_catheters() -> ShippedItem {
    ShippedItem {
        line_number: line("0001"),
        ship_notice_line_number: None,
        item: catheter(),
        quantity: qty("50", "EA"),
        ordered_quantity: Some(qty("100", "EA")),
        shipped_to_date: Some(dec("50")),
        line_status: Some(LineStatus::Backordered),
        traceability: vec![
            Traceability {
                lot: Some("7654321D".into()),
                expiry_date: Some(date(2026, 11, 20)),
                udi: Some("(01)00643169007222(17)261120(10)7654321D".into()),
                quantity: Some(dec("30")),
                ..Traceability::default()
            },
            Traceability {
                lot: Some("7654322A".into()),
                expiry_date: Some(date(2027, 1, 31)),
                manufacture_date: Some(date(2024, 1, 2)),
                quantity: Some(dec("20")),
                ..Traceability::default()
            },
        ],
        references: vec![],
    }
}

fn ship_notice() -> ShipNotice {
    ShipNotice {
        provenance: provenance("000000907"),
        shipment_id: ShipmentId::new("ASN-2024-0001").expect("shipment id"),
        purpose: Purpose::Original,
        notice_date: date(2024, 1, 31),
        notice_time: NaiveTime::from_hms_opt(16, 5, 0),
        shipped_date: Some(date(2024, 1, 31)),
        estimated_delivery_date: Some(date(2024, 2, 1)),
        hierarchy_code: Some("0001".into()),
        fulfilment: Some(Fulfilment::Partial),
        carrier: Some(Carrier {
            scac: Some("UPSN".into()),
            transport_method: Some("U".into()),
            ..Carrier::default()
        }),
        tracking_numbers: vec!["1Z999AA10123456784".into()],
        bill_of_lading: None,
        package_code: Some("CTN".into()),
        package_count: Some(dec("1")),
        gross_weight: Some(Measure {
            value: dec("12.4"),
            unit: "LB".into(),
        }),
        supplier: supplier(),
        buyer: hospital(),
        parties: vec![],
        references: vec![],
        orders: vec![
            ShippedOrder {
                po_number: po("4500012345"),
                po_date: Some(date(2024, 1, 15)),
                supplier_order_number: Some("SO-88231".into()),
                parties: vec![],
                packs: vec![Pack {
                    level: PackLevel::Tare,
                    sscc: Some(Sscc::parse("00106141411234567897").expect("sscc")),
                    marks: vec![],
                    package_code: Some("PLT".into()),
                    gross_weight: None,
                    tracking_numbers: vec![],
                    packs: vec![Pack {
                        level: PackLevel::Pack,
                        sscc: None,
                        marks: vec![Reference {
                            qualifier: "CP".into(),
                            value: "CARTON-1".into(),
                            description: None,
                        }],
                        package_code: Some("CTN".into()),
                        gross_weight: None,
                        tracking_numbers: vec![],
                        packs: vec![],
                        items: vec![shipped_catheters()],
                    }],
                    items: vec![],
                }],
                items: vec![],
            },
            // A second order in the same truck, shipped without a pack level (BSN05 0004).
            ShippedOrder {
                po_number: po("4500012399"),
                po_date: None,
                supplier_order_number: None,
                parties: vec![],
                packs: vec![],
                items: vec![ShippedItem {
                    line_number: line("1"),
                    ship_notice_line_number: Some("2".into()),
                    item: heparin(),
                    quantity: qty("2", "CA"),
                    ordered_quantity: None,
                    shipped_to_date: None,
                    line_status: None,
                    traceability: vec![],
                    references: vec![],
                }],
            },
        ],
    }
}

fn goods_receipt() -> GoodsReceipt {
    let mut dock = Party::new(PartyRole::ReceivingLocation);
    dock.ids = vec![PartyId::new(PartyIdScheme::BuyerAssigned, "DOCK-3")];
    let mut prov = provenance("unused");
    prov.source_format = SourceFormat::Api;
    prov.interchange_control = None;
    prov.group_control = None;
    prov.set_control = None;
    GoodsReceipt {
        provenance: prov,
        receipt_id: ReceiptId::new("GR-77001").expect("receipt id"),
        po_number: po("4500012345"),
        receipt_date: date(2024, 2, 1),
        received_at: DateTime::parse_from_rfc3339("2024-02-01T07:45:00-06:00").ok(),
        shipment_id: Some(ShipmentId::new("ASN-2024-0001").expect("shipment id")),
        buyer: hospital(),
        supplier: Some(supplier()),
        location: Some(dock),
        references: vec![],
        notes: vec![],
        lines: vec![ReceiptLine {
            line_number: line("0001"),
            item: catheter(),
            received: qty("48", "EA"),
            rejected: Some(qty("2", "EA")),
            reject_reason: Some("damaged packaging".into()),
            traceability: vec![Traceability {
                lot: Some("7654321D".into()),
                quantity: Some(dec("28")),
                ..Traceability::default()
            }],
        }],
    }
}

fn invoice() -> Invoice {
    Invoice {
        provenance: provenance("000000908"),
        invoice_number: InvoiceNumber::new("INV-10045").expect("invoice number"),
        invoice_date: date(2024, 2, 2),
        invoice_type: InvoiceType::Credit,
        invoice_type_code: Some("CR".into()),
        purpose: Purpose::Original,
        original_invoice_number: Some(InvoiceNumber::new("INV-10001").expect("invoice number")),
        po_number: Some(po("4500012345")),
        po_date: Some(date(2024, 1, 15)),
        shipment_id: None,
        currency: Currency::new("USD").expect("USD"),
        supplier: supplier(),
        buyer: hospital(),
        parties: vec![],
        payment_terms: vec![],
        allowances_charges: vec![AllowanceCharge {
            indicator: AllowanceOrCharge::Charge,
            code: Some("D240".into()),
            amount: Some(usd("15.00")),
            percent: None,
            rate: None,
            handling: Some("06".into()),
            description: Some("Freight".into()),
        }],
        taxes: vec![Tax {
            tax_type: Some("ST".into()),
            amount: usd("1.60"),
            percent: Some(dec("6.4")),
            jurisdiction: Some("IL".into()),
            description: None,
        }],
        totals: InvoiceTotals {
            subtotal: Some(usd("25.00")),
            tax_total: Some(usd("1.60")),
            shipping_total: None,
            total: usd("41.60"),
            amount_subject_to_discount: None,
            amount_due_after_discount: None,
            terms_discount: None,
        },
        references: vec![],
        notes: vec![],
        lines: vec![
            InvoiceLine {
                invoice_line_number: Some("1".into()),
                line_number: line("0001"),
                po_number: None,
                item: catheter(),
                quantity: qty("2", "EA"),
                unit_price: usd("12.50"),
                price_basis: Some("PE".into()),
                amount: Some(usd("25.00")),
                allowances_charges: vec![AllowanceCharge {
                    indicator: AllowanceOrCharge::Allowance,
                    code: Some("C310".into()),
                    amount: None,
                    percent: Some(dec("0")),
                    rate: None,
                    handling: None,
                    description: None,
                }],
                taxes: vec![],
                traceability: vec![],
                references: vec![],
            },
            InvoiceLine {
                invoice_line_number: Some("2".into()),
                line_number: line("3"),
                po_number: Some(po("4500012399")),
                item: heparin(),
                quantity: qty("0", "CA"),
                unit_price: usd("42.50"),
                price_basis: None,
                amount: None,
                allowances_charges: vec![],
                taxes: vec![],
                traceability: vec![],
                references: vec![],
            },
        ],
    }
}

fn functional_ack() -> FunctionalAck {
    FunctionalAck {
        provenance: provenance("000000909"),
        format: AckFormat::X12Fa997,
        group: Some(AckedGroup {
            functional_id: "PO".into(),
            control_number: ControlNumber::new("1021").expect("gs06"),
            version: None,
            status: AckCode::Rejected,
            error_codes: vec![],
            sets_included: Some(1),
            sets_received: Some(1),
            sets_accepted: Some(0),
            sets: vec![AckedSet {
                set_id: "850".into(),
                control_number: ControlNumber::new("0007").expect("st02"),
                implementation_reference: None,
                status: AckCode::Rejected,
                error_codes: vec!["5".into()],
                segment_errors: vec![SegmentError {
                    segment_id: "PO1".into(),
                    position: 5,
                    loop_id: None,
                    code: Some("8".into()),
                    element_errors: vec![ElementError {
                        position: 2,
                        component: None,
                        repetition: None,
                        element_ref: Some("330".into()),
                        code: "2".into(),
                        bad_data: None,
                    }],
                }],
            }],
        }),
        interchange: None,
        cxml: None,
    }
}

fn samples() -> Vec<CanonicalDocument> {
    vec![
        purchase_order().into(),
        order_ack().into(),
        ship_notice().into(),
        goods_receipt().into(),
        invoice().into(),
        functional_ack().into(),
    ]
}

// ---------------------------------------------------------------------------------------------
// JSON form

#[test]
fn every_kind_round_trips_through_json() {
    for doc in samples() {
        let text = serde_json::to_string_pretty(&doc).expect("serialise");
        let back: CanonicalDocument = serde_json::from_str(&text).expect("deserialise");
        assert_eq!(back, doc, "round trip of {}", doc.kind());
        // And without the enum: the bare document as the per-kind schema describes it.
        let bare = bare_json(&doc);
        let again: CanonicalDocument =
            serde_json::from_value(tagged(doc.kind(), bare.clone())).expect("deserialise bare");
        assert_eq!(again, doc);
    }
    let po = purchase_order();
    let text = serde_json::to_string(&po).expect("serialise");
    assert_eq!(
        serde_json::from_str::<PurchaseOrder>(&text).expect("deserialise"),
        po
    );
}

fn bare_json(doc: &CanonicalDocument) -> Value {
    let mut value = serde_json::to_value(doc).expect("serialise");
    if let Some(map) = value.as_object_mut() {
        map.remove("kind");
    }
    value
}

fn tagged(kind: DocumentKind, mut bare: Value) -> Value {
    if let Some(map) = bare.as_object_mut() {
        map.insert("kind".into(), Value::String(kind.to_string()));
    }
    bare
}

#[test]
fn json_form_is_snake_case_with_string_decimals_and_no_empty_optionals() {
    let value = serde_json::to_value(CanonicalDocument::from(purchase_order())).expect("json");
    assert_eq!(value["kind"], "purchase_order");
    assert_eq!(value["po_number"], "4500012345");
    assert_eq!(value["purpose"], "original");
    assert_eq!(value["order_date"], "2024-01-15");
    assert_eq!(value["clinical_priority"], "stat");
    assert_eq!(value["provenance"]["source_format"], "x12");
    assert_eq!(value["provenance"]["interchange_control"], "000000905");
    assert_eq!(
        value["provenance"]["received_at"],
        "2024-01-15T10:20:30-05:00"
    );
    assert_eq!(
        value["buyer"]["ids"][0],
        json!({"scheme": "gln", "value": "0614141000012"})
    );
    let line = &value["lines"][0];
    assert_eq!(line["line_number"], "0001");
    assert_eq!(line["quantity"], json!({"value": "100", "uom": "EA"}));
    assert_eq!(
        line["unit_price"],
        json!({"amount": "12.50", "currency": "USD"})
    );
    assert_eq!(line["item"]["gtin"], "00643169007222");
    assert_eq!(value["lines"][1]["item"]["ndc"], "00409272001");
    for absent in [
        "version",
        "release_number",
        "allowances_charges",
        "taxes",
        "ship_complete",
    ] {
        assert!(value.get(absent).is_none(), "{absent} should be omitted");
    }
    assert!(line.get("notes").is_none());
    assert!(line.get("ship_to").is_none());
}

#[test]
fn json_with_invalid_identifiers_is_refused() {
    let mut value = serde_json::to_value(CanonicalDocument::from(purchase_order())).expect("json");
    value["lines"][0]["item"]["gtin"] = json!("00643169007223");
    let err = serde_json::from_value::<CanonicalDocument>(value)
        .expect_err("bad GTIN check digit must not deserialise");
    assert!(err.to_string().contains("check digit"), "{err}");

    let mut value = serde_json::to_value(CanonicalDocument::from(purchase_order())).expect("json");
    value["po_number"] = json!("");
    assert!(serde_json::from_value::<CanonicalDocument>(value).is_err());
}

// ---------------------------------------------------------------------------------------------
// Business equality, keys, references

#[test]
fn business_eq_ignores_provenance_only() {
    let a = purchase_order();
    let mut b = purchase_order();
    b.provenance = provenance("000009999");
    b.provenance.source_format = SourceFormat::Cxml;
    b.provenance.payload_id = Some("20240115T102030.4711.8842@gw.example".into());
    b.provenance.producer_hash = "other".into();
    assert_ne!(a, b, "full equality sees provenance");
    assert!(a.business_eq(&b));

    let mut c = purchase_order();
    c.lines[0].quantity = qty("101", "EA");
    assert!(!a.business_eq(&c));

    // Through the enum, and for every kind.
    for doc in samples() {
        let mut other = doc.clone();
        other.provenance_mut().interchange_control = Some(ControlNumber::new("1").expect("cn"));
        other.provenance_mut().received_at =
            DateTime::parse_from_rfc3339("2025-06-01T00:00:00Z").expect("time");
        assert!(doc.business_eq(&other), "{}", doc.kind());
        assert_ne!(doc, other);
    }
    let kinds = samples();
    assert!(!kinds[0].business_eq(&kinds[1]));

    let mut ack = order_ack();
    ack.lines[0].statuses[1].quantity = qty("40", "EA").into();
    assert!(!order_ack().business_eq(&ack));
    let mut asn = ship_notice();
    asn.orders[0].packs[0].packs[0].items[0].traceability[0].lot = Some("OTHER".into());
    assert!(!ship_notice().business_eq(&asn));
    let mut inv = invoice();
    inv.totals.total = usd("41.61");
    assert!(!invoice().business_eq(&inv));
    let mut gr = goods_receipt();
    gr.lines[0].rejected = None;
    assert!(!goods_receipt().business_eq(&gr));
    let mut fa = functional_ack();
    fa.format = AckFormat::X12Fa999;
    assert!(!functional_ack().business_eq(&fa));
}

#[test]
fn business_keys() {
    let keys: Vec<String> = samples()
        .iter()
        .map(|d| d.business_key().to_string())
        .collect();
    assert_eq!(
        keys,
        vec![
            "purchase_order/gln:0614141000012/4500012345/original",
            "order_ack/duns:123456789/4500012345/2024-01-16",
            "ship_notice/duns:123456789/ASN-2024-0001",
            "goods_receipt/gln:0614141000012/GR-77001",
            "invoice/duns:123456789/INV-10045",
            "functional_ack/partner:acme-medical/1021/x12_997",
        ]
    );

    // A resend (new envelope) has the same key; a change order does not.
    let mut resent: CanonicalDocument = purchase_order().into();
    resent.provenance_mut().interchange_control = Some(ControlNumber::new("7").expect("cn"));
    assert_eq!(
        resent.business_key(),
        CanonicalDocument::from(purchase_order()).business_key()
    );
    let mut change = purchase_order();
    change.purpose = Purpose::Change;
    change.version = Some("2".into());
    assert_eq!(
        CanonicalDocument::from(change).business_key().to_string(),
        "purchase_order/gln:0614141000012/4500012345/change:2"
    );

    // Separators inside the parts are escaped, so the text form stays unambiguous.
    let mut slashed = invoice();
    slashed.invoice_number = InvoiceNumber::new("INV/10%/45").expect("invoice number");
    assert_eq!(
        CanonicalDocument::from(slashed).business_key().to_string(),
        "invoice/duns:123456789/INV%2F10%25%2F45"
    );

    // A party with no id and no name falls back to the gateway partner.
    let mut anonymous = invoice();
    anonymous.supplier = Party::new(PartyRole::Supplier);
    assert_eq!(
        CanonicalDocument::from(anonymous).business_key().party,
        "partner:acme-medical"
    );
}

#[test]
fn po_numbers_referred_to() {
    let docs = samples();
    let pos = |d: &CanonicalDocument| -> Vec<String> {
        d.po_numbers().iter().map(|p| p.to_string()).collect()
    };
    assert_eq!(pos(&docs[0]), vec!["4500012345"]);
    assert_eq!(pos(&docs[2]), vec!["4500012345", "4500012399"]);
    assert_eq!(pos(&docs[4]), vec!["4500012345", "4500012399"]);
    assert!(pos(&docs[5]).is_empty());
    assert_eq!(docs[3].partner().as_str(), "acme-medical");
}

#[test]
fn po_lines_referred_to() {
    let docs = samples();
    let refs = |d: &CanonicalDocument| -> Vec<(Option<String>, Option<String>)> {
        d.po_lines()
            .iter()
            .map(|r| {
                (
                    r.po_number.map(|p| p.to_string()),
                    r.line_number.map(|l| l.to_string()),
                )
            })
            .collect()
    };
    let s = |a: &str, b: &str| (Some(a.to_owned()), Some(b.to_owned()));
    assert_eq!(
        refs(&docs[0]),
        vec![s("4500012345", "0001"), s("4500012345", "1A")]
    );
    assert_eq!(
        refs(&docs[2]),
        vec![s("4500012345", "0001"), s("4500012399", "1")]
    );
    // Invoice lines fall back to the header PO unless they name their own.
    assert_eq!(
        refs(&docs[4]),
        vec![s("4500012345", "0001"), s("4500012399", "3")]
    );
    assert!(refs(&docs[5]).is_empty());
}

#[test]
fn traceability_from_a_udi() {
    let (trace, udi) =
        Traceability::from_udi("(01)00643169007222(17)261100(10)7654321D").expect("udi");
    assert_eq!(trace.lot.as_deref(), Some("7654321D"));
    assert_eq!(trace.expiry_date, Some(date(2026, 11, 30)));
    assert_eq!(
        trace.udi.as_deref(),
        Some("(01)00643169007222(17)261100(10)7654321D")
    );
    assert_eq!(udi.gtin, Gtin::parse("00643169007222").ok());
    assert!(Traceability::from_udi("(01)00643169007223").is_err());
}

#[test]
fn ship_notice_items_with_and_without_packs() {
    let asn = ship_notice();
    let packed = asn.orders[0].all_items();
    assert_eq!(packed.len(), 1);
    assert_eq!(packed[0].traceability.len(), 2);
    assert_eq!(asn.orders[1].all_items().len(), 1);
    let ack = order_ack();
    assert_eq!(ack.lines[0].status_quantity_total(), Some(dec("100")));
    assert_eq!(invoice().signed_total(), dec("-41.60"));
}

// ---------------------------------------------------------------------------------------------
// JSON Schemas

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

#[test]
fn committed_schemas_match_the_model() {
    let update = std::env::var_os("UPDATE_SCHEMAS").is_some_and(|v| v == "1");
    let dir = schema_dir();
    if update {
        std::fs::create_dir_all(&dir).expect("create schemas/");
    }
    let mut stale = Vec::new();
    for (name, text) in schema_files() {
        assert!(text.len() > 2, "schema {name} did not serialise");
        let path = dir.join(&name);
        if update {
            std::fs::write(&path, &text).expect("write schema");
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "schemas out of date: {stale:?}; run UPDATE_SCHEMAS=1 cargo test --test canonical"
    );
}

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .expect("schema compiles")
}

fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn sample_documents_validate_against_their_schemas() {
    let canonical = validator(&canonical_schema().to_value());
    for doc in samples() {
        let kind_schema = validator(&schema_for_kind(doc.kind()).to_value());
        let bare = bare_json(&doc);
        assert_eq!(
            errors(&kind_schema, &bare),
            Vec::<String>::new(),
            "{}",
            doc.kind()
        );
        let full = serde_json::to_value(&doc).expect("json");
        assert_eq!(
            errors(&canonical, &full),
            Vec::<String>::new(),
            "{}",
            doc.kind()
        );
    }
}

#[test]
fn schemas_reject_broken_documents() {
    let canonical = validator(&canonical_schema().to_value());
    let good = serde_json::to_value(CanonicalDocument::from(invoice())).expect("json");

    let mut missing = good.clone();
    missing
        .as_object_mut()
        .expect("object")
        .remove("invoice_number");
    assert!(!canonical.is_valid(&missing));

    let mut bad_kind = good.clone();
    bad_kind["kind"] = json!("receipt");
    assert!(!canonical.is_valid(&bad_kind));

    let mut bad_gtin = good.clone();
    bad_gtin["lines"][0]["item"]["gtin"] = json!("643169007222");
    assert!(!canonical.is_valid(&bad_gtin));

    let mut bad_date = good.clone();
    bad_date["invoice_date"] = json!("2024-02-30");
    assert!(!canonical.is_valid(&bad_date));

    let mut bad_type = good;
    bad_type["invoice_type"] = json!("refund");
    assert!(!canonical.is_valid(&bad_type));
}

// ---------------------------------------------------------------------------------------------
// Identifiers with check digits

#[test]
fn gtins() {
    for (text, normalised) in [
        ("96385074", "00000096385074"),       // GTIN-8
        ("036000291452", "00036000291452"),   // GTIN-12 (U.P.C.)
        ("4006381333931", "04006381333931"),  // GTIN-13 (EAN)
        ("00643169007222", "00643169007222"), // GTIN-14, FDA GUDID example
        ("10614141000415", "10614141000415"), // GTIN-14 with indicator 1
    ] {
        assert_eq!(Gtin::parse(text).expect(text).as_str(), normalised);
    }
    assert_eq!(
        Gtin::parse("4006381333932"),
        Err(Gs1KeyError::CheckDigit {
            key: "GTIN",
            value: "4006381333932".into(),
            expected: '1',
            found: '2'
        })
    );
    assert!(matches!(
        Gtin::parse("123456789"),
        Err(Gs1KeyError::Length { len: 9, .. })
    ));
    assert!(matches!(
        Gtin::parse("0036000 91452"),
        Err(Gs1KeyError::NonDigit {
            position: 7,
            found: ' ',
            ..
        })
    ));
    assert!(Gtin::parse("").is_err());
}

#[test]
fn glns() {
    assert!(Gln::parse("0614141000012").is_ok());
    assert!(Gln::parse("0614141999996").is_ok());
    assert_eq!(
        Gln::parse("0614141999999"),
        Err(Gs1KeyError::CheckDigit {
            key: "GLN",
            value: "0614141999999".into(),
            expected: '6',
            found: '9'
        })
    );
    assert!(Gln::parse("00614141000012").is_err());
}

#[test]
fn hibcc_primary_and_secondary() {
    // Concatenated primary + secondary with one mod-43 check character.
    let label = HibccLabel::parse("+H123PROD1/$$3231231BC34567/S401L").expect("valid HIBC");
    assert_eq!(label.primary.labeler, "H123");
    assert_eq!(label.primary.product, "PROD");
    assert_eq!(label.primary.unit_of_measure, 1);
    let secondary = label.secondary.expect("secondary");
    assert_eq!(secondary.lot.as_deref(), Some("BC34567"));
    assert_eq!(secondary.expiry, Some(date(2023, 12, 31)));
    assert_eq!(secondary.serial.as_deref(), Some("401"));

    // The brief's "+H123PROD1/$$3231231BC34567/S4012" has a wrong check character for either
    // reading (serial 401 + check '2', or serial 4012 without a check).
    assert_eq!(
        HibccLabel::parse("+H123PROD1/$$3231231BC34567/S4012"),
        Err(HibccError::CheckCharacter {
            expected: 'L',
            found: '2'
        })
    );
    assert_eq!(
        hibcc_check_char("+H123PROD1/$$3231231BC34567/S4012"),
        Some('N')
    );

    // Primary only, with bar code asterisks.
    let primary = HibccLabel::parse("*+A999123457*").expect("primary");
    assert_eq!(primary.primary.device_identifier(), "+A99912345");
    assert!(primary.secondary.is_none());

    // Format errors.
    assert_eq!(
        HibccLabel::parse("A999123457"),
        Err(HibccError::MissingFlag)
    );
    assert!(matches!(
        HibccLabel::parse("+1999123451"),
        Err(HibccError::CheckCharacter { .. }) | Err(HibccError::LabelerId { .. })
    ));
    let bad_lic = format!("+1999123451{}", hibcc_check_char("+1999123451").expect("c"));
    assert!(matches!(
        HibccLabel::parse(&bad_lic),
        Err(HibccError::LabelerId { .. })
    ));
    assert!(matches!(
        HibccLabel::parse("+a999123457"),
        Err(HibccError::InvalidCharacter {
            position: 1,
            found: 'a'
        })
    ));
    let bad_uom = format!("+A99912345X{}", hibcc_check_char("+A99912345X").expect("c"));
    assert_eq!(
        HibccLabel::parse(&bad_uom),
        Err(HibccError::UnitOfMeasure { found: 'X' })
    );
}

#[test]
fn hibcc_secondary_formats() {
    let parse = |secondary: &str| {
        let data = format!("+A99912341/{secondary}");
        let check = hibcc_check_char(&data).expect("check");
        HibccLabel::parse(&format!("{data}{check}")).map(|l| l.secondary.unwrap_or_default())
    };
    // $$MMYY: expires at the end of the month.
    let s = parse("$$0225LOT1").expect("$$MMYY");
    assert_eq!(
        (s.expiry, s.lot.as_deref()),
        (Some(date(2025, 2, 28)), Some("LOT1"))
    );
    let s = parse("$$2123125LOT2").expect("$$2MMDDYY");
    assert_eq!(s.expiry, Some(date(2025, 12, 31)));
    let s = parse("$$425123111LOT3").expect("$$4YYMMDDHH");
    assert_eq!(
        (s.expiry, s.lot.as_deref()),
        (Some(date(2025, 12, 31)), Some("LOT3"))
    );
    let s = parse("$$525032LOT4").expect("$$5YYJJJ");
    assert_eq!(s.expiry, Some(date(2025, 2, 1)));
    let s = parse("$$7LOT5").expect("$$7 lot only");
    assert_eq!((s.expiry, s.lot.as_deref()), (None, Some("LOT5")));
    let s = parse("$$8123250131LOT6").expect("$$8 quantity");
    assert_eq!((s.quantity, s.expiry), (Some(12), Some(date(2025, 1, 31))));
    let s = parse("$$+3251231SER9").expect("$$+ serial");
    assert_eq!((s.serial.as_deref(), s.lot), (Some("SER9"), None));
    let s = parse("$+SER10").expect("$+ serial");
    assert_eq!(s.serial.as_deref(), Some("SER10"));
    let s = parse("$LOT11").expect("$ lot");
    assert_eq!(s.lot.as_deref(), Some("LOT11"));
    let s = parse("25032LOT12").expect("YYJJJ lot");
    assert_eq!(
        (s.expiry, s.lot.as_deref()),
        (Some(date(2025, 2, 1)), Some("LOT12"))
    );
    let s = parse("$$7LOT13/SSN14/16D20240105/14D20290105").expect("supplemental");
    assert_eq!(s.serial.as_deref(), Some("SN14"));
    assert_eq!(s.manufacture_date, Some(date(2024, 1, 5)));
    assert_eq!(s.expiry, Some(date(2029, 1, 5)));

    // Invalid dates and formats are precise errors, never panics.
    assert!(matches!(
        parse("$$1325LOT"),
        Err(HibccError::InvalidDate { .. })
    ));
    assert!(matches!(
        parse("$$3250230LOT"),
        Err(HibccError::InvalidDate { .. })
    ));
    assert!(matches!(
        parse("$$525400LOT"),
        Err(HibccError::InvalidDate { .. })
    ));
    assert!(matches!(parse("$$3"), Err(HibccError::Secondary { .. })));
    assert!(matches!(parse("$$8"), Err(HibccError::Secondary { .. })));
    assert!(matches!(
        parse("$$7L/XYZ"),
        Err(HibccError::Secondary { .. })
    ));
    assert!(matches!(parse("ABC"), Err(HibccError::Secondary { .. })));
}

#[test]
fn ndcs() {
    for (text, eleven) in [
        ("0409-4888-02", "00409488802"),  // 4-4-2
        ("63323-540-05", "63323054005"),  // 5-3-2
        ("50242-0040-6", "50242004006"),  // 5-4-1
        ("00409-4888-02", "00409488802"), // 5-4-2
        ("00409488802", "00409488802"),   // 11 digits
    ] {
        assert_eq!(Ndc::parse(text).expect(text).as_str(), eleven, "{text}");
    }
    assert_eq!(
        Ndc::parse("0409-4888-02").expect("ndc").hyphenated(),
        "00409-4888-02"
    );
    assert!(matches!(
        Ndc::parse("0409488802"),
        Err(NdcError::AmbiguousTenDigits { .. })
    ));
    assert!(matches!(
        Ndc::parse("409-4888-02"),
        Err(NdcError::Layout { .. })
    ));
    assert!(matches!(
        Ndc::parse("0409 4888 02"),
        Err(NdcError::InvalidCharacter { position: 4, .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// UDI

#[test]
fn udi_gs1_parentheses_form() {
    let udi =
        Udi::parse("(01)00643169007222(17)141120(10)7654321D(21)10987654d321").expect("valid UDI");
    assert_eq!(udi.issuer, UdiIssuer::Gs1);
    assert_eq!(udi.device_identifier, "00643169007222");
    assert_eq!(udi.gtin.as_ref().map(Gtin::as_str), Some("00643169007222"));
    assert_eq!(udi.expiry, Some(date(2014, 11, 20)));
    assert_eq!(udi.lot.as_deref(), Some("7654321D"));
    assert_eq!(udi.serial.as_deref(), Some("10987654d321"));
    assert_eq!(udi.manufacture_date, None);

    let udi = Udi::parse("(01)00643169007222(11)230105(17)280105(21)BLM00028").expect("UDI");
    assert_eq!(udi.manufacture_date, Some(date(2023, 1, 5)));
    assert_eq!(udi.expiry, Some(date(2028, 1, 5)));
}

#[test]
fn udi_example_with_a_wrong_gtin_check_digit_is_reported_precisely() {
    // The commonly quoted example GTIN 00884838035011 fails mod-10: its check digit is 0.
    assert_eq!(
        Udi::parse("(01)00884838035011(17)141120(10)7654321D(21)10987654d321"),
        Err(UdiError::Gtin(Gs1KeyError::CheckDigit {
            key: "GTIN",
            value: "00884838035011".into(),
            expected: '0',
            found: '1'
        }))
    );
    let fixed = Udi::parse("(01)00884838035010(17)141120(10)7654321D(21)10987654d321")
        .expect("corrected check digit");
    assert_eq!(fixed.device_identifier, "00884838035010");
}

#[test]
fn udi_gs1_raw_form_with_group_separators_matches_parentheses_form() {
    let parenthesised =
        Udi::parse("(01)00643169007222(17)141120(10)7654321D(21)10987654d321").expect("udi");
    let raw = Udi::parse("010064316900722217141120107654321D\u{1d}2110987654d321").expect("udi");
    assert_eq!(raw, parenthesised);
    // Lot last needs no separator; a symbology identifier and a GS after a fixed field are fine.
    let raw = Udi::parse("]d20100643169007222\u{1d}17141120217777\u{1d}10LOT-9/A").expect("udi");
    assert_eq!(raw.serial.as_deref(), Some("7777"));
    assert_eq!(raw.lot.as_deref(), Some("LOT-9/A"));
}

#[test]
fn udi_hibcc() {
    let udi = Udi::parse("+H123PROD1/$$3231231BC34567/S401L").expect("HIBC UDI");
    assert_eq!(udi.issuer, UdiIssuer::Hibcc);
    assert_eq!(udi.device_identifier, "+H123PROD1");
    assert_eq!(udi.lot.as_deref(), Some("BC34567"));
    assert_eq!(udi.serial.as_deref(), Some("401"));
    assert_eq!(udi.expiry, Some(date(2023, 12, 31)));
    assert!(matches!(
        Udi::parse("+H123PROD1/$$3231231BC34567/S4012"),
        Err(UdiError::Hibcc(HibccError::CheckCharacter {
            expected: 'L',
            found: '2'
        }))
    ));
}

#[test]
fn udi_errors_are_precise() {
    assert_eq!(Udi::parse(""), Err(UdiError::Empty));
    assert_eq!(Udi::parse("=A9999"), Err(UdiError::UnrecognisedFormat));
    assert_eq!(
        Udi::parse("(10)LOT1"),
        Err(UdiError::MissingDeviceIdentifier)
    );
    assert_eq!(
        Udi::parse("(01)00643169007222(99)X"),
        Err(UdiError::UnknownAi { position: 19 })
    );
    assert_eq!(
        Udi::parse("0100643169007222991234"),
        Err(UdiError::UnknownAi { position: 16 })
    );
    assert_eq!(
        Udi::parse("01006431690072"),
        Err(UdiError::Truncated {
            ai: "01",
            position: 2,
            expected: 14,
            found: 12
        })
    );
    assert_eq!(
        Udi::parse("(01)00643169007222(17)140230"),
        Err(UdiError::InvalidDate {
            ai: "17",
            value: "140230".into()
        })
    );
    assert_eq!(
        Udi::parse("(01)00643169007222(10)123456789012345678901"),
        Err(UdiError::TooLong {
            ai: "10",
            len: 21,
            max: 20
        })
    );
    assert_eq!(
        Udi::parse("(01)00643169007222(10)A(10)B"),
        Err(UdiError::DuplicateAi { ai: "10" })
    );
    assert!(matches!(
        Udi::parse("(01)00643169007222(17"),
        Err(UdiError::Parentheses { .. })
    ));
    assert!(matches!(
        Udi::parse("(01)00643169007222(10)"),
        Err(UdiError::InvalidValue { ai: "10", .. })
    ));
    assert!(matches!(
        Udi::parse("(01)00643169007222(21)A B"),
        Err(UdiError::InvalidValue { ai: "21", .. })
    ));
}

#[test]
fn udi_parse_never_panics_on_odd_input() {
    for text in [
        "]",
        "]d",
        "]d2",
        "(",
        "()",
        "(01",
        "(01)",
        "01",
        "0",
        "\u{1d}",
        "+",
        "+A",
        "*",
        "**",
        "*+*",
        "(01)é",
        "01é",
        "+ÉÉÉÉÉÉÉÉ",
        "10\u{1d}\u{1d}",
        "(17)00000",
        "+A99912341/$$",
    ] {
        let _ = Udi::parse(text);
    }
}

// ---------------------------------------------------------------------------------------------
// Edge conversions

#[test]
fn implied_decimals_at_the_edge() {
    assert_eq!(implied_decimal("123456", 2), Ok(dec("1234.56")));
    assert_eq!(implied_decimal("-123456", 2), Ok(dec("-1234.56")));
    assert_eq!(implied_decimal("5", 2), Ok(dec("0.05")));
    assert_eq!(implied_decimal("5", 0), Ok(dec("5")));
    assert!(matches!(
        implied_decimal("12.34", 2),
        Err(EdgeError::InvalidNumber { .. })
    ));
    assert!(implied_decimal("", 2).is_err());
    assert_eq!(parse_decimal("12.50"), Ok(dec("12.50")));
}

#[test]
fn dates_and_times_at_the_edge() {
    assert_eq!(parse_date("20240115"), Ok(date(2024, 1, 15)));
    assert_eq!(parse_date("240115"), Ok(date(2024, 1, 15)));
    for bad in [
        "20240230", "20230229", "20241301", "20240132", "240230", "2024011", "", "2O240115",
    ] {
        assert!(
            matches!(parse_date(bad), Err(EdgeError::InvalidDate { .. })),
            "{bad} should be refused"
        );
    }
    assert_eq!(
        parse_time("0930"),
        Ok(NaiveTime::from_hms_opt(9, 30, 0).expect("t"))
    );
    assert_eq!(
        parse_time("09300125"),
        Ok(NaiveTime::from_hms_milli_opt(9, 30, 1, 250).expect("t"))
    );
    assert!(matches!(
        parse_time("2500"),
        Err(EdgeError::InvalidTime { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Properties: parsers of partner data never panic; normalisations are stable.

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(400))]

    #[test]
    fn parsers_never_panic_on_any_text(s in "\\PC{0,60}") {
        let _ = Udi::parse(&s);
        let _ = HibccLabel::parse(&s);
        let _ = HibccPrimary::parse_id(&s);
        let _ = Gtin::parse(&s);
        let _ = Gln::parse(&s);
        let _ = Sscc::parse(&s);
        let _ = Ndc::parse(&s);
        let _ = implied_decimal(&s, 2);
        let _ = parse_decimal(&s);
        let _ = parse_date(&s);
        let _ = parse_time(&s);
    }

    #[test]
    fn gs1_shaped_text_never_panics(s in "(\\]d2)?[0-9()\u{1d}A-Za-z/-]{0,48}") {
        let _ = Udi::parse(&s);
    }

    #[test]
    fn hibcc_shaped_text_never_panics(s in "\\*?\\+[0-9A-Z$/+%. -]{0,40}\\*?") {
        let _ = Udi::parse(&s);
    }

    #[test]
    fn gtins_normalise_stably(data in "[0-9]{7,13}") {
        let check = edigate::canonical::gs1::gs1_check_digit(&data).expect("digits");
        let text = format!("{data}{check}");
        if matches!(text.len(), 8 | 12 | 13 | 14) {
            let gtin = Gtin::parse(&text).expect("valid by construction");
            proptest::prop_assert_eq!(gtin.as_str().len(), 14);
            proptest::prop_assert_eq!(Gtin::parse(gtin.as_str()).expect("14"), gtin.clone());
            // Any single-digit change of the check digit is caught.
            let wrong = (check.to_digit(10).expect("digit") + 1) % 10;
            let bad = format!("{data}{wrong}");
            let is_check_digit_error = matches!(Gtin::parse(&bad), Err(Gs1KeyError::CheckDigit { .. }));
            proptest::prop_assert!(is_check_digit_error);
        }
    }

    #[test]
    fn implied_decimals_scale_exactly(n in -10_000_000_000i64..10_000_000_000, places in 0u32..8) {
        let d = implied_decimal(&n.to_string(), places).expect("digits");
        proptest::prop_assert_eq!(d * Decimal::from(10i64.pow(places)), Decimal::from(n));
    }
}
