//! Canonical JSON written straight from a mapped `Node` tree, for the document kinds whose
//! layout is described here (purchase orders), without reading the tree into the typed document
//! and serializing that: the typed read and the JSON writer were most of the cost of
//! `edigate translate` after mapping.
//!
//! The bytes are those of the typed route by construction: each described struct lists its
//! fields in key order with how serde treats them when missing and when empty (required,
//! `Option` skipped when `None`, `Vec` skipped when empty), and every value that is not plain
//! text or a described struct (ids, dates, decimals, enums, structs a map seldom fills) is read
//! into its own canonical type and written by the same writer as before. Anything the typed
//! route could read differently or refuse (a missing required field, a value of another shape,
//! a value its type refuses) gives `None`, and the caller takes the typed route, which gives
//! the same text or the error it always gave. A test checks each description against the
//! struct's JSON Schema, so a field added to a struct cannot be silently left out here.

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::node::{short_eq, Node};
use crate::canonical::ids::CheckedText;
use crate::canonical::json::Writer;
use crate::canonical::{
    AllowanceCharge, ClinicalPriority, ControlNumber, CostCentre, Currency, Gtin, LineNumber,
    Money, OrderType, PartnerId, PartyIdScheme, PartyRole, PaymentTerms, PoNumber, Purpose,
    SourceFormat, Tax, Traceability, UomCode,
};

/// How a field's value is written.
#[derive(Clone, Copy)]
pub(crate) enum Ty {
    /// A `String`: text as it is.
    Text,
    /// A described struct.
    Struct(&'static Layout),
    /// Any other type: read into it and written as it serializes.
    Typed(WriteTyped),
    /// The document's `kind`, which the internally tagged `CanonicalDocument` writes among the
    /// struct's own fields; not read from the tree.
    Tag,
}

/// Reads a value into one canonical type and writes it; `None` when the type refuses it.
pub(crate) type WriteTyped = fn(&Node<'_>, &mut Writer) -> Option<()>;

fn typed<T: DeserializeOwned + Serialize>(v: &Node<'_>, w: &mut Writer) -> Option<()> {
    let t = T::deserialize(v).ok()?;
    w.value(&t).ok()
}

// ---- values written without reading them into their type, where that gives the same text --

/// The text of a value that reads as a `String` (what the id types read first).
fn text_of<'n>(v: &'n Node<'_>) -> Option<&'n str> {
    match v {
        Node::Text(s) => Some(s),
        Node::Value(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// An id type that serializes as the text it was made from: the text is checked with the
/// type's own check and written as it came, without the copy reading it would make.
fn checked<T: CheckedText>(v: &Node<'_>, w: &mut Writer) -> Option<()> {
    let s = text_of(v)?;
    T::check(s).ok()?;
    w.str(s).ok()
}

/// A unit-only enum's names as serde reads and writes them (`rename_all` applied); a test
/// checks each list against the names the derived `Deserialize` knows, and that each name
/// reads and writes as itself.
trait UnitNames: DeserializeOwned + Serialize {
    const NAMES: &'static [&'static str];
}

impl UnitNames for PartyRole {
    const NAMES: &'static [&'static str] = &[
        "buyer",
        "supplier",
        "ship_to",
        "bill_to",
        "ship_from",
        "remit_to",
        "sold_to",
        "carrier",
        "manufacturer",
        "receiving_location",
        "other",
    ];
}

impl UnitNames for PartyIdScheme {
    const NAMES: &'static [&'static str] = &[
        "gln",
        "duns",
        "duns_plus4",
        "buyer_assigned",
        "supplier_assigned",
        "hin",
        "dea",
        "san",
        "other",
    ];
}

impl UnitNames for Purpose {
    const NAMES: &'static [&'static str] = &[
        "original",
        "change",
        "cancel",
        "replace",
        "confirmation",
        "duplicate",
        "reissue",
        "information_copy",
    ];
}

impl UnitNames for OrderType {
    const NAMES: &'static [&'static str] = &[
        "standalone",
        "release",
        "blanket",
        "consignment",
        "bill_only",
        "drop_ship",
        "rush",
        "other",
    ];
}

impl UnitNames for ClinicalPriority {
    const NAMES: &'static [&'static str] = &["routine", "urgent", "stat"];
}

impl UnitNames for SourceFormat {
    const NAMES: &'static [&'static str] = &["x12", "cxml", "api"];
}

/// A unit variant named by its text reads as that variant and writes as the same text: written
/// as it is, without serde; anything else goes through `typed`.
fn unit<T: UnitNames>(v: &Node<'_>, w: &mut Writer) -> Option<()> {
    if let Some(s) = text_of(v) {
        if T::NAMES.iter().any(|n| short_eq(n, s)) {
            return w.str(s).ok();
        }
    }
    typed::<T>(v, w)
}

/// NDCs and GTINs are normalised by their parsers; parsed from the text in place.
fn ndc(v: &Node<'_>, w: &mut Writer) -> Option<()> {
    let s = text_of(v)?;
    // The digits `Ndc::parse` gives, without the `Ndc` (its allocation) or serde; digits need
    // no escape.
    let digits = crate::canonical::ndc::normalised_digits(s)?;
    let out = w.out();
    out.push(b'"');
    out.extend_from_slice(&digits);
    out.push(b'"');
    Some(())
}
fn gtin(v: &Node<'_>, w: &mut Writer) -> Option<()> {
    let g = Gtin::parse(text_of(v)?).ok()?;
    w.value(&g).ok()
}

/// A decimal in the plain form nearly every quantity and price has (digits, an optional
/// fraction, no sign, no leading zero, at most 18 digits) reads into a `Decimal` with that
/// scale and writes back as the same text; any other value is read and written by
/// `rust_decimal`.
fn decimal(v: &Node<'_>, w: &mut Writer) -> Option<()> {
    if let Some(s) = text_of(v) {
        if plain_decimal(s) {
            return w.str(s).ok();
        }
    }
    typed::<Decimal>(v, w)
}

fn plain_decimal(s: &str) -> bool {
    // One pass: digits with at most one dot, then the parts checked by their lengths.
    let b = s.as_bytes();
    let mut dot = None;
    for (i, &c) in b.iter().enumerate() {
        if c == b'.' && dot.is_none() {
            dot = Some(i);
        } else if !c.is_ascii_digit() {
            return false;
        }
    }
    let int = dot.unwrap_or(b.len());
    let digits = b.len() - usize::from(dot.is_some());
    int > 0 && (int == 1 || b[0] != b'0') && dot.is_none_or(|d| d + 1 < b.len()) && digits <= 18
}

/// A date written `YYYY-MM-DD` that is in the calendar reads into a `NaiveDate` and writes
/// back as the same text; anything else is read and written by chrono.
fn date(v: &Node<'_>, w: &mut Writer) -> Option<()> {
    if let Some(s) = text_of(v) {
        let b = s.as_bytes();
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            b.get(r)?.iter().try_fold(0u32, |n, &d| {
                d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
            })
        };
        if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
            if let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) {
                let valid = i32::try_from(y)
                    .ok()
                    .and_then(|y| NaiveDate::from_ymd_opt(y, m, d))
                    .is_some();
                if valid {
                    return w.str(s).ok();
                }
            }
        }
    }
    typed::<NaiveDate>(v, w)
}

/// What serde does with a field that is missing or empty.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Card {
    /// No default: a missing field is refused.
    Required,
    /// `Option<T>` with `default` and `skip_serializing_if = "Option::is_none"`.
    Optional,
    /// `Vec<T>` with `default` and `skip_serializing_if = "Vec::is_empty"`; `Ty` is the
    /// element's.
    List,
    /// `Vec<T>` with neither: a missing field is refused, an empty one written.
    RequiredList,
}

#[derive(Clone, Copy)]
pub(crate) struct Field {
    pub name: &'static str,
    /// `,"name":`, the key as written after another field (without the comma when first).
    key: &'static str,
    pub card: Card,
    pub ty: Ty,
}

/// A field; the key text is made here once rather than pushed piece by piece per field written.
macro_rules! f {
    ($name:literal, $card:expr, $ty:expr $(,)?) => {
        Field {
            name: $name,
            key: concat!(",\"", $name, "\":"),
            card: $card,
            ty: $ty,
        }
    };
}

/// The most fields a struct may have (one bit each in a `u32`) and the longest name.
const MAX_FIELDS: usize = 32;
const MAX_NAME: usize = 32;

/// A struct's fields in key order, with what finds an object's entries among them: its
/// entries come in the order the map's rules set them, and searching the object for every
/// field (most of them absent) cost more than writing the ones present.
pub(crate) struct Layout {
    pub fields: &'static [Field],
    /// For each name length, the fields with a name that long (bit `i` for `fields[i]`).
    by_len: [u32; MAX_NAME + 1],
    /// The fields serde refuses to miss (`Required`, `RequiredList`).
    required: u32,
    /// The `Tag` field, written whatever the object holds.
    tag: u32,
}

const fn layout(fields: &'static [Field]) -> Layout {
    assert!(fields.len() <= MAX_FIELDS);
    let mut l = Layout {
        fields,
        by_len: [0; MAX_NAME + 1],
        required: 0,
        tag: 0,
    };
    let mut i = 0;
    while i < fields.len() {
        let fd = &fields[i];
        assert!(fd.name.len() <= MAX_NAME);
        let bit = 1u32 << i;
        if matches!(fd.ty, Ty::Tag) {
            l.tag |= bit;
        } else {
            l.by_len[fd.name.len()] |= bit;
        }
        if matches!(fd.card, Card::Required | Card::RequiredList) {
            l.required |= bit;
        }
        i += 1;
    }
    l
}

use Card::{List, Optional, Required, RequiredList};
use Ty::{Struct, Tag, Text, Typed};

/// The JSON of a typed document of this kind, with its `kind` key, from its mapped tree;
/// `None` when the kind has no layout here or the tree is not one this writer reads exactly as
/// the typed route does.
pub(crate) fn document_json(kind: &str, doc: &[(&str, Node<'_>)]) -> Option<String> {
    let fields = match kind {
        "purchase_order" => &PURCHASE_ORDER,
        _ => return None,
    };
    // Room for a typical order (4-5 KB of JSON) without growing.
    let mut w = Writer::new(Vec::with_capacity(8192));
    let r = write_struct(fields, kind, doc, &mut w);
    let out = w.finish();
    r?;
    // Only escaped strings and ASCII go in, so this holds; checked rather than assumed.
    String::from_utf8(out).ok()
}

/// An object's fields in key order; `kind` is what a `Tag` field writes.
fn write_struct(l: &Layout, kind: &str, obj: &[(&str, Node<'_>)], w: &mut Writer) -> Option<()> {
    // Which fields the object holds (the first entry of a name, as a search would find), and
    // where; the tag is always written and never read from the object.
    let mut present = l.tag;
    let mut at = [0u16; MAX_FIELDS];
    for (i, (k, _)) in obj.iter().enumerate() {
        let mut cand = l.by_len.get(k.len()).map_or(0, |&m| m & !present);
        while cand != 0 {
            let j = cand.trailing_zeros() as usize;
            if short_eq(k, l.fields[j].name) {
                present |= 1 << j;
                at[j] = u16::try_from(i).ok()?;
                break;
            }
            cand &= cand - 1;
        }
    }
    if present & l.required != l.required {
        return None;
    }
    w.out().push(b'{');
    let mut first = true;
    let mut left = present;
    while left != 0 {
        let j = left.trailing_zeros() as usize;
        left &= left - 1;
        let fd = &l.fields[j];
        let key = if first { &fd.key[1..] } else { fd.key };
        if let Tag = fd.ty {
            w.out().extend_from_slice(key.as_bytes());
            w.str(kind).ok()?;
            first = false;
            continue;
        }
        let v = &obj[usize::from(at[j])].1;
        // What serde skips (`None`, an empty list) writes no key.
        match (fd.card, v) {
            (Optional, Node::Value(Value::Null)) => continue,
            (List, Node::Array(items)) if items.is_empty() => continue,
            _ => {}
        }
        w.out().extend_from_slice(key.as_bytes());
        first = false;
        write_field(fd, kind, v, w)?;
    }
    w.out().push(b'}');
    Some(())
}

/// One field's value (not one serde skips).
fn write_field(fd: &Field, kind: &str, v: &Node<'_>, w: &mut Writer) -> Option<()> {
    match fd.card {
        List | RequiredList => {
            let Node::Array(items) = v else { return None };
            w.out().push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    w.out().push(b',');
                }
                write_value(fd.ty, kind, item, w)?;
            }
            w.out().push(b']');
            Some(())
        }
        // `Option<T>` reads anything but a null (skipped before) as `T` reads it.
        Optional | Required => write_value(fd.ty, kind, v, w),
    }
}

fn write_value(ty: Ty, kind: &str, v: &Node<'_>, w: &mut Writer) -> Option<()> {
    match (ty, v) {
        (Text, Node::Text(s)) => w.str(s).ok(),
        (Text, Node::Value(Value::String(s))) => w.str(s).ok(),
        (Struct(fields), Node::Object(o)) => write_struct(fields, kind, o, w),
        (Typed(write), v) => write(v, w),
        // Anything else (a struct read from an array, a string from a number...) is for the
        // typed route to read or refuse.
        _ => None,
    }
}

// ---- layouts: each struct's fields, sorted by name as the JSON writer sorts keys ----------

pub(crate) const PURCHASE_ORDER: Layout = layout(&[
    f!("ack_requested", Optional, Text),
    f!("allowances_charges", List, Typed(typed::<AllowanceCharge>)),
    f!("buyer", Required, Struct(&PARTY)),
    f!(
        "clinical_priority",
        Optional,
        Typed(unit::<ClinicalPriority>),
    ),
    f!("contract_number", Optional, Text),
    f!("cost_centre", Optional, Typed(checked::<CostCentre>)),
    f!("currency", Optional, Typed(checked::<Currency>)),
    f!("kind", Required, Tag),
    f!("lines", RequiredList, Struct(&PO_LINE)),
    f!("notes", List, Text),
    f!("order_date", Required, Typed(date)),
    f!("order_type", Optional, Typed(unit::<OrderType>)),
    f!("order_type_code", Optional, Text),
    f!("parties", List, Struct(&PARTY)),
    f!("payment_terms", List, Typed(typed::<PaymentTerms>)),
    f!("po_number", Required, Typed(checked::<PoNumber>)),
    f!("provenance", Required, Struct(&PROVENANCE)),
    f!("purpose", Required, Typed(unit::<Purpose>)),
    f!("references", List, Struct(&REFERENCE)),
    f!("release_number", Optional, Text),
    f!("requested_delivery_date", Optional, Typed(date)),
    f!("ship_complete", Optional, Typed(typed::<bool>)),
    f!("supplier", Required, Struct(&PARTY)),
    f!("taxes", List, Typed(typed::<Tax>)),
    f!("total", Optional, Typed(typed::<Money>)),
    f!("version", Optional, Text),
]);

pub(crate) const PO_LINE: Layout = layout(&[
    f!("allowances_charges", List, Typed(typed::<AllowanceCharge>)),
    f!(
        "clinical_priority",
        Optional,
        Typed(unit::<ClinicalPriority>),
    ),
    f!("cost_centre", Optional, Typed(checked::<CostCentre>)),
    f!("item", Required, Struct(&ITEM_REF)),
    f!("line_number", Optional, Typed(checked::<LineNumber>)),
    f!("notes", List, Text),
    f!("price_basis", Optional, Text),
    f!("quantity", Required, Struct(&QUANTITY)),
    f!("references", List, Struct(&REFERENCE)),
    f!("requested_delivery_date", Optional, Typed(date)),
    f!("ship_to", Optional, Struct(&PARTY)),
    f!("taxes", List, Typed(typed::<Tax>)),
    f!("traceability", List, Typed(typed::<Traceability>)),
    f!("unit_price", Optional, Struct(&MONEY)),
]);

pub(crate) const PARTY: Layout = layout(&[
    f!("address", Optional, Struct(&ADDRESS)),
    f!("ids", List, Struct(&PARTY_ID)),
    f!("name", Optional, Text),
    f!("role", Required, Typed(unit::<PartyRole>)),
    f!("role_code", Optional, Text),
]);

pub(crate) const PARTY_ID: Layout = layout(&[
    f!("qualifier", Optional, Text),
    f!("scheme", Required, Typed(unit::<PartyIdScheme>)),
    f!("value", Required, Text),
]);

pub(crate) const ADDRESS: Layout = layout(&[
    f!("city", Optional, Text),
    f!("country", Optional, Text),
    f!("lines", List, Text),
    f!("postal_code", Optional, Text),
    f!("state", Optional, Text),
]);

pub(crate) const ITEM_REF: Layout = layout(&[
    f!("buyer_part", Optional, Text),
    f!("description", Optional, Text),
    f!("gtin", Optional, Typed(gtin)),
    f!("hibcc", Optional, Text),
    f!("manufacturer_name", Optional, Text),
    f!("manufacturer_part", Optional, Text),
    f!("ndc", Optional, Typed(ndc)),
    f!("other_ids", List, Struct(&QUALIFIED_ID)),
    f!("supplier_aux_id", Optional, Text),
    f!("udi_di", Optional, Text),
    f!("vendor_part", Optional, Text),
]);

pub(crate) const QUALIFIED_ID: Layout =
    layout(&[f!("qualifier", Required, Text), f!("value", Required, Text)]);

pub(crate) const QUANTITY: Layout = layout(&[
    f!("uom", Required, Typed(checked::<UomCode>)),
    f!("value", Required, Typed(decimal)),
]);

pub(crate) const MONEY: Layout = layout(&[
    f!("amount", Required, Typed(decimal)),
    f!("currency", Required, Typed(checked::<Currency>)),
]);

pub(crate) const REFERENCE: Layout = layout(&[
    f!("description", Optional, Text),
    f!("qualifier", Required, Text),
    f!("value", Required, Text),
]);

pub(crate) const PROVENANCE: Layout = layout(&[
    f!("group_control", Optional, Typed(checked::<ControlNumber>)),
    f!("inbox_id", Optional, Text),
    f!(
        "interchange_control",
        Optional,
        Typed(checked::<ControlNumber>),
    ),
    f!("partner", Required, Typed(checked::<PartnerId>)),
    f!("payload_id", Optional, Text),
    f!("producer_hash", Required, Text),
    f!(
        "received_at",
        Required,
        Typed(typed::<DateTime<FixedOffset>>),
    ),
    f!("set_control", Optional, Typed(checked::<ControlNumber>)),
    f!("source_format", Required, Typed(unit::<SourceFormat>)),
    f!("version", Optional, Text),
]);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::Ndc;

    /// Each layout against its struct's JSON Schema: the same field names, required exactly
    /// where the struct requires them, and sorted as the JSON writer sorts keys.
    #[test]
    fn layouts_match_the_canonical_structs() {
        use crate::canonical::Party;
        use crate::canonical::{
            Address, ItemRef, PartyId, PoLine, Provenance, PurchaseOrder, QualifiedId, Quantity,
            Reference,
        };
        fn check<T: schemars::JsonSchema>(fields: &[Field], extra: &[&str]) {
            let name = std::any::type_name::<T>();
            let schema = serde_json::to_value(schemars::schema_for!(T)).expect("schema");
            let props = schema["properties"].as_object().expect("properties");
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut want: Vec<&str> = props.keys().map(String::as_str).collect();
            want.extend(extra);
            want.sort_unstable();
            let got: Vec<&str> = fields.iter().map(|f| f.name).collect();
            assert_eq!(got, want, "{name}: fields, in key order");
            for fd in fields.iter().filter(|fd| !extra.contains(&fd.name)) {
                let req = matches!(fd.card, Required | RequiredList);
                assert_eq!(
                    req,
                    required.contains(&fd.name),
                    "{name}.{}: required",
                    fd.name
                );
                let is_array = props[fd.name]["type"] == "array";
                let listed = matches!(fd.card, List | RequiredList);
                assert_eq!(listed, is_array, "{name}.{}: list", fd.name);
            }
        }
        check::<PurchaseOrder>(PURCHASE_ORDER.fields, &["kind"]);
        check::<PoLine>(PO_LINE.fields, &[]);
        check::<Party>(PARTY.fields, &[]);
        check::<PartyId>(PARTY_ID.fields, &[]);
        check::<Address>(ADDRESS.fields, &[]);
        check::<ItemRef>(ITEM_REF.fields, &[]);
        check::<QualifiedId>(QUALIFIED_ID.fields, &[]);
        check::<Quantity>(QUANTITY.fields, &[]);
        check::<Money>(MONEY.fields, &[]);
        check::<Reference>(REFERENCE.fields, &[]);
        check::<Provenance>(PROVENANCE.fields, &[]);
    }

    /// A mapped tree as the maps build it: text as `Text`, anything else as it is.
    fn node(v: &Value) -> Node<'_> {
        match v {
            Value::String(s) => Node::Text(s.as_str().into()),
            Value::Array(a) => Node::Array(a.iter().map(node).collect()),
            Value::Object(o) => {
                Node::Object(o.iter().map(|(k, v)| (k.as_str(), node(v))).collect())
            }
            other => Node::Value(other.clone()),
        }
    }

    /// What the typed route writes for the same tree, or `None` when it refuses it.
    fn typed_route(v: &Value) -> Option<String> {
        use serde::Deserialize;
        let po = crate::canonical::PurchaseOrder::deserialize(&node(v)).ok()?;
        let doc = crate::canonical::CanonicalDocument::from(po);
        crate::canonical::json::to_sorted_string(&doc).ok()
    }

    fn full_order() -> Value {
        let party = |role: &str| {
            serde_json::json!({
                "role": role, "role_code": "ST", "name": "A \"quoted\" name\\",
                "ids": [{"scheme": "gln", "value": "0614141000005"},
                        {"scheme": "other", "qualifier": "ZZ", "value": "X1"}],
                "address": {"lines": ["1 Main St", "Dock 4"], "city": "Springfield",
                            "state": "IL", "postal_code": "62701", "country": "US"}
            })
        };
        let money = serde_json::json!({"amount": "12.50", "currency": "USD"});
        let mut order = serde_json::json!({
            "provenance": {
                "source_format": "x12", "version": "004010", "partner": "ACME",
                "interchange_control": "000000905", "group_control": "1", "set_control": "0001",
                "payload_id": "p@x", "inbox_id": "in-1",
                "received_at": "2024-01-02T03:04:05.123456789+01:00", "producer_hash": "abc"
            },
            "po_number": "PO-1", "purpose": "original", "order_type": "standalone",
            "order_type_code": "SA", "order_date": "2024-01-31", "version": "2",
            "release_number": "R1", "contract_number": "C1", "ack_requested": "AC",
            "currency": "USD", "buyer": party("buyer"), "supplier": party("supplier"),
            "parties": [party("ship_to"), {"role": "other"}],
            "requested_delivery_date": "2024-02-29", "cost_centre": "DP1",
            "clinical_priority": "stat", "ship_complete": true
        });
        order["payment_terms"] = serde_json::json!([{"type_code": "01", "discount_percent": "2",
            "discount_days": 10, "net_days": 30, "description": "2% 10 net 30"}]);
        order["allowances_charges"] = serde_json::json!([{"indicator": "charge", "code": "D240",
            "amount": money, "percent": "1.5", "rate": "0.25", "handling": "06",
            "description": "freight"}]);
        order["taxes"] = serde_json::json!([{"tax_type": "ST", "amount": money, "percent": "7.25",
            "jurisdiction": "IL", "description": "state"}]);
        order["total"] = serde_json::json!({"amount": "1000.00", "currency": "EUR"});
        order["references"] = serde_json::json!([
            {"qualifier": "CT", "value": "GPO1", "description": "contract"},
            {"qualifier": "LI", "value": "2"}]);
        order["notes"] = serde_json::json!(["note one", "tab\there"]);
        order["unknown_key"] = serde_json::json!({"ignored": [1, 2]});
        let item = serde_json::json!({"buyer_part": "B1", "vendor_part": "V1",
            "supplier_aux_id": "AUX", "manufacturer_part": "M1", "manufacturer_name": "Maker",
            "gtin": "00036000291452", "hibcc": "+H123PROD1", "ndc": "12345678901",
            "udi_di": "00036000291452", "description": "GLOVES 100/BX",
            "other_ids": [{"qualifier": "UP", "value": "234567890123"}]});
        let line = serde_json::json!(
                {"line_number": "0001",
                 "item": item,
                 "quantity": {"value": "24", "uom": "CA"}, "unit_price": money,
                 "price_basis": "PE", "requested_delivery_date": "2024-03-01",
                 "ship_to": party("ship_to"), "cost_centre": "DP2", "clinical_priority": "urgent",
                 "allowances_charges": [{"indicator": "allowance"}],
                 "taxes": [{"amount": money}],
                 "traceability": [{"lot": "L1", "serial": "S1", "expiry_date": "2026-01-01",
                                   "manufacture_date": "2024-01-01", "udi": "(01)1", "quantity": "3"}],
                 "references": [{"qualifier": "LI", "value": "1"}], "notes": ["line note"]});
        order["lines"] =
            serde_json::json!([line, {"item": {}, "quantity": {"value": "1.000", "uom": "EA"}}]);
        order
    }

    /// The layout writes what the typed route writes, on an order with every field filled and
    /// on the same order with each field in turn removed, emptied or given another shape.
    #[test]
    fn layout_writes_the_typed_route_bytes() {
        let full = full_order();
        let want = typed_route(&full).expect("the full order is valid");
        assert_eq!(
            document_json("purchase_order", &object(&full)).as_ref(),
            Some(&want)
        );
        let mut variants = Vec::new();
        let mut edit = |path: &[&str], f: &dyn Fn(&mut Value)| {
            let mut v = full.clone();
            let mut cur = &mut v;
            for p in path {
                cur = match p.parse::<usize>() {
                    Ok(i) => &mut cur[i],
                    Err(_) => &mut cur[*p],
                };
            }
            f(cur);
            variants.push(v);
        };
        let keys = |v: &Value| -> Vec<String> {
            v.as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        for path in [
            vec![],
            vec!["provenance"],
            vec!["buyer"],
            vec!["buyer", "address"],
            vec!["buyer", "ids", "1"],
            vec!["lines", "0"],
            vec!["lines", "0", "item"],
            vec!["lines", "0", "quantity"],
            vec!["lines", "0", "unit_price"],
            vec!["references", "0"],
        ] {
            let mut at = &full;
            for p in &path {
                at = match p.parse::<usize>() {
                    Ok(i) => &at[i],
                    Err(_) => &at[*p],
                };
            }
            for k in keys(at) {
                let remove = |v: &mut Value| {
                    if let Some(o) = v.as_object_mut() {
                        o.remove(&k);
                    }
                };
                edit(&path, &remove);
                for other in [
                    Value::Null,
                    serde_json::json!([]),
                    serde_json::json!({}),
                    serde_json::json!(7),
                    serde_json::json!(""),
                    serde_json::json!(" x"),
                    serde_json::json!("2024-13-01"),
                    serde_json::json!(["a"]),
                ] {
                    let put = |v: &mut Value| v[k.as_str()] = other.clone();
                    edit(&path, &put);
                }
            }
        }
        let mut fast = 0;
        for v in &variants {
            let got = document_json("purchase_order", &object(v));
            if got.is_some() {
                fast += 1;
                assert_eq!(got, typed_route(v), "{v}");
            }
        }
        assert!(fast > variants.len() / 4, "{fast} of {}", variants.len());
    }

    /// Each value written in place writes what reading it into its type and writing that does,
    /// and is refused where that is refused.
    #[test]
    fn values_in_place_are_the_typed_values() {
        let texts = [
            "",
            " ",
            "0",
            "00",
            "7",
            "07",
            "42.10",
            "42.1",
            "0.5",
            "00.5",
            ".5",
            "5.",
            "-1.5",
            "+1",
            "1e3",
            "1.2.3",
            "123456789012345678",
            "1234567890123456789",
            "0.000000000000000001",
            "99999999999999999999999999999",
            "1.0000000000000000000000000001",
            "12 ",
            " 12",
            "A",
            "ABC",
            "USD",
            "usd",
            "EA",
            "E A",
            "ABCDEFGHI",
            "PO\u{1}1",
            "PO-1",
            "2024-01-31",
            "2024-02-30",
            "2024-2-3",
            "0000-01-01",
            "9999-12-31",
            "2024-01-31 ",
            "+2024-01-31",
            "20240131",
            "2024-13-01",
            "12345-6789-01",
            "1234-5678-90",
            "12345678901",
            "036000291452",
            "00036000291452",
            "036000291453",
            "Ünïcode",
            "ÉA",
        ];
        let mut values: Vec<Value> = texts.iter().map(|t| Value::String((*t).into())).collect();
        values.extend([
            Value::Null,
            serde_json::json!(7),
            serde_json::json!(1.5),
            serde_json::json!(true),
        ]);
        type W = fn(&Node<'_>, &mut Writer) -> Option<()>;
        let pairs: [(&str, W, W); 11] = [
            ("po_number", checked::<PoNumber>, typed::<PoNumber>),
            ("line_number", checked::<LineNumber>, typed::<LineNumber>),
            ("cost_centre", checked::<CostCentre>, typed::<CostCentre>),
            (
                "control_number",
                checked::<ControlNumber>,
                typed::<ControlNumber>,
            ),
            ("partner_id", checked::<PartnerId>, typed::<PartnerId>),
            ("uom", checked::<UomCode>, typed::<UomCode>),
            ("currency", checked::<Currency>, typed::<Currency>),
            ("ndc", ndc, typed::<Ndc>),
            ("gtin", gtin, typed::<Gtin>),
            ("decimal", decimal, typed::<Decimal>),
            ("date", date, typed::<NaiveDate>),
        ];
        let run = |f: W, n: &Node<'_>| {
            let mut w = Writer::new(Vec::new());
            let r = f(n, &mut w);
            let out = w.finish();
            r.map(|()| out)
        };
        for v in &values {
            for n in [node(v), Node::Value(v.clone())] {
                for (name, fast, slow) in pairs {
                    assert_eq!(run(fast, &n), run(slow, &n), "{name}: {v}");
                }
            }
        }
    }

    /// The variant names a derived `Deserialize` of a unit-only enum knows, as it passes
    /// them to `deserialize_enum`.
    fn serde_names<T: DeserializeOwned>() -> Vec<&'static str> {
        use serde::de::{value::Error, Visitor};
        use std::cell::Cell;
        struct Catch<'c>(&'c Cell<&'static [&'static str]>);
        impl<'de> serde::Deserializer<'de> for Catch<'_> {
            type Error = Error;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
                Err(serde::de::Error::custom("not an enum"))
            }
            fn deserialize_enum<V: Visitor<'de>>(
                self,
                _: &'static str,
                variants: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Error> {
                self.0.set(variants);
                Err(serde::de::Error::custom("caught"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
                struct identifier ignored_any
            }
        }
        let cell = Cell::new(&[][..]);
        assert!(T::deserialize(Catch(&cell)).is_err());
        cell.get().to_vec()
    }

    /// Each enum's list of names is the one serde has, each name reads and writes as itself
    /// through serde, and any other value is written as `typed` writes it (or refused).
    #[test]
    fn unit_names_are_the_serde_names() {
        fn check<T: UnitNames>() {
            let name = std::any::type_name::<T>();
            let mut want = serde_names::<T>();
            let mut got = T::NAMES.to_vec();
            want.sort_unstable();
            got.sort_unstable();
            assert!(!got.is_empty(), "{name}");
            assert_eq!(got, want, "{name}");
            let run = |f: WriteTyped, n: &Node<'_>| {
                let mut w = Writer::new(Vec::new());
                let r = f(n, &mut w);
                let out = w.finish();
                r.map(|()| out)
            };
            let mut values: Vec<Value> = T::NAMES.iter().map(|&n| Value::from(n)).collect();
            values
                .extend(["", "Buyer", "BUYER", "buyer ", "ShipTo", "x", "other_"].map(Value::from));
            values.extend([Value::Null, serde_json::json!(1), serde_json::json!(true)]);
            for v in &values {
                for n in [node(v), Node::Value(v.clone())] {
                    let fast = run(unit::<T>, &n);
                    assert_eq!(fast, run(typed::<T>, &n), "{name}: {v}");
                    if let Some(s) = v.as_str().filter(|s| T::NAMES.iter().any(|n| n == s)) {
                        assert_eq!(fast, Some(format!("\"{s}\"").into_bytes()), "{name}");
                    }
                }
            }
        }
        check::<PartyRole>();
        check::<PartyIdScheme>();
        check::<Purpose>();
        check::<OrderType>();
        check::<ClinicalPriority>();
        check::<SourceFormat>();
    }

    fn object(v: &Value) -> Vec<(&str, Node<'_>)> {
        match node(v) {
            Node::Object(o) => o,
            _ => Vec::new(),
        }
    }
}
