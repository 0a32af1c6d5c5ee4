//! `CanonicalDocument`, the one type the pipeline stores and passes between stages, with the
//! accessors it needs without knowing the kinds: partner, PO numbers referred to, and the
//! business key used for duplicate detection and lineage.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{Party, Provenance, Purpose};
use super::functional_ack::FunctionalAck;
use super::goods_receipt::GoodsReceipt;
use super::ids::{LineNumber, PartnerId, PoNumber};
use super::invoice::Invoice;
use super::order_ack::OrderAck;
use super::purchase_order::PurchaseOrder;
use super::ship_notice::ShipNotice;

/// The kinds of canonical document; also the `kind` tag of the JSON form.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    PurchaseOrder,
    OrderAck,
    ShipNotice,
    GoodsReceipt,
    Invoice,
    FunctionalAck,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 6] = [
        DocumentKind::PurchaseOrder,
        DocumentKind::OrderAck,
        DocumentKind::ShipNotice,
        DocumentKind::GoodsReceipt,
        DocumentKind::Invoice,
        DocumentKind::FunctionalAck,
    ];

    /// The snake_case name used in JSON and in schema file names.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::PurchaseOrder => "purchase_order",
            DocumentKind::OrderAck => "order_ack",
            DocumentKind::ShipNotice => "ship_notice",
            DocumentKind::GoodsReceipt => "goods_receipt",
            DocumentKind::Invoice => "invoice",
            DocumentKind::FunctionalAck => "functional_ack",
        }
    }
}

impl fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifies a business document independently of how often it was delivered:
/// `kind/party/number[/qualifier]`.
///
/// Same key and [`CanonicalDocument::business_eq`]: a duplicate delivery. Same key but different
/// content: a correction or conflict the flow must decide on (a revised 855 sent the same day
/// without a confirmation id, an invoice number reused by the supplier); never drop it silently.
///
/// * purchase order: buyer + PO number + purpose (and version, when the buyer numbers changes);
/// * order ack: supplier + PO number (+ purpose when not original, + ack id or date);
/// * ship notice: supplier + shipment id (+ purpose when not original);
/// * goods receipt: buyer + receipt id;
/// * invoice: supplier + invoice number (+ purpose when not original);
/// * functional ack: partner + acknowledged control number (GS06, ISA13 or payloadID) + format.
///
/// `party` is [`Party::key`] (GLN first); a party with neither id nor name falls back to the
/// gateway partner id, `partner:<id>`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub struct BusinessKey {
    pub kind: DocumentKind,
    pub party: String,
    pub number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<String>,
}

/// Escapes the separator so that the text form stays unambiguous (PO numbers may contain `/`).
fn escape_part(part: &str) -> String {
    part.replace('%', "%25").replace('/', "%2F")
}

/// `kind/party/number[/qualifier]`, each part with `%` and `/` percent-escaped: a stable string
/// for store indexes and logs.
impl fmt::Display for BusinessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.kind,
            escape_part(&self.party),
            escape_part(&self.number)
        )?;
        if let Some(q) = &self.qualifier {
            write!(f, "/{}", escape_part(q))?;
        }
        Ok(())
    }
}

/// A reference from a document line to a PO line, for correlation. Either part may be missing
/// in what the partner sent; flow turns a missing part into an exception where it must correlate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoLineRef<'a> {
    pub po_number: Option<&'a PoNumber>,
    pub line_number: Option<&'a LineNumber>,
}

/// Any canonical document, tagged by `kind` in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CanonicalDocument {
    PurchaseOrder(PurchaseOrder),
    OrderAck(OrderAck),
    ShipNotice(ShipNotice),
    GoodsReceipt(GoodsReceipt),
    Invoice(Invoice),
    FunctionalAck(FunctionalAck),
}

fn purpose_str(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::Original => "original",
        Purpose::Change => "change",
        Purpose::Cancel => "cancel",
        Purpose::Replace => "replace",
        Purpose::Confirmation => "confirmation",
        Purpose::Duplicate => "duplicate",
        Purpose::Reissue => "reissue",
        Purpose::InformationCopy => "information_copy",
    }
}

/// The purpose as a key qualifier, omitted for originals so that the common key stays short.
fn purpose_qualifier(purpose: Purpose) -> Option<String> {
    (purpose != Purpose::Original).then(|| purpose_str(purpose).to_owned())
}

fn join(parts: impl IntoIterator<Item = Option<String>>) -> Option<String> {
    let parts: Vec<String> = parts.into_iter().flatten().collect();
    (!parts.is_empty()).then(|| parts.join(":"))
}

impl CanonicalDocument {
    pub fn kind(&self) -> DocumentKind {
        match self {
            CanonicalDocument::PurchaseOrder(_) => DocumentKind::PurchaseOrder,
            CanonicalDocument::OrderAck(_) => DocumentKind::OrderAck,
            CanonicalDocument::ShipNotice(_) => DocumentKind::ShipNotice,
            CanonicalDocument::GoodsReceipt(_) => DocumentKind::GoodsReceipt,
            CanonicalDocument::Invoice(_) => DocumentKind::Invoice,
            CanonicalDocument::FunctionalAck(_) => DocumentKind::FunctionalAck,
        }
    }

    pub fn provenance(&self) -> &Provenance {
        match self {
            CanonicalDocument::PurchaseOrder(d) => &d.provenance,
            CanonicalDocument::OrderAck(d) => &d.provenance,
            CanonicalDocument::ShipNotice(d) => &d.provenance,
            CanonicalDocument::GoodsReceipt(d) => &d.provenance,
            CanonicalDocument::Invoice(d) => &d.provenance,
            CanonicalDocument::FunctionalAck(d) => &d.provenance,
        }
    }

    pub fn provenance_mut(&mut self) -> &mut Provenance {
        match self {
            CanonicalDocument::PurchaseOrder(d) => &mut d.provenance,
            CanonicalDocument::OrderAck(d) => &mut d.provenance,
            CanonicalDocument::ShipNotice(d) => &mut d.provenance,
            CanonicalDocument::GoodsReceipt(d) => &mut d.provenance,
            CanonicalDocument::Invoice(d) => &mut d.provenance,
            CanonicalDocument::FunctionalAck(d) => &mut d.provenance,
        }
    }

    /// The trading partner the document came from or goes to.
    pub fn partner(&self) -> &PartnerId {
        &self.provenance().partner
    }

    /// Every PO number the document refers to, without repeats, in document order. Empty for
    /// functional acks.
    pub fn po_numbers(&self) -> Vec<&PoNumber> {
        let all: Vec<&PoNumber> = match self {
            CanonicalDocument::PurchaseOrder(d) => vec![&d.po_number],
            CanonicalDocument::OrderAck(d) => vec![&d.po_number],
            CanonicalDocument::ShipNotice(d) => d.orders.iter().map(|o| &o.po_number).collect(),
            CanonicalDocument::GoodsReceipt(d) => vec![&d.po_number],
            CanonicalDocument::Invoice(d) => d
                .po_number
                .iter()
                .chain(d.lines.iter().filter_map(|l| l.po_number.as_ref()))
                .collect(),
            CanonicalDocument::FunctionalAck(_) => Vec::new(),
        };
        let mut out: Vec<&PoNumber> = Vec::with_capacity(all.len());
        for po in all {
            if !out.contains(&po) {
                out.push(po);
            }
        }
        out
    }

    /// The PO lines the document's lines refer to, in document order without repeats (an ASN
    /// item split over several packs appears once). Empty for functional acks.
    pub fn po_lines(&self) -> Vec<PoLineRef<'_>> {
        let all: Vec<PoLineRef<'_>> = match self {
            CanonicalDocument::PurchaseOrder(d) => d
                .lines
                .iter()
                .map(|l| PoLineRef {
                    po_number: Some(&d.po_number),
                    line_number: l.line_number.as_ref(),
                })
                .collect(),
            CanonicalDocument::OrderAck(d) => d
                .lines
                .iter()
                .map(|l| PoLineRef {
                    po_number: Some(&d.po_number),
                    line_number: l.line_number.as_ref(),
                })
                .collect(),
            CanonicalDocument::ShipNotice(d) => d
                .orders
                .iter()
                .flat_map(|o| {
                    o.all_items().into_iter().map(move |i| PoLineRef {
                        po_number: Some(&o.po_number),
                        line_number: i.line_number.as_ref(),
                    })
                })
                .collect(),
            CanonicalDocument::GoodsReceipt(d) => d
                .lines
                .iter()
                .map(|l| PoLineRef {
                    po_number: Some(&d.po_number),
                    line_number: l.line_number.as_ref(),
                })
                .collect(),
            CanonicalDocument::Invoice(d) => d
                .lines
                .iter()
                .map(|l| PoLineRef {
                    po_number: l.po_number.as_ref().or(d.po_number.as_ref()),
                    line_number: l.line_number.as_ref(),
                })
                .collect(),
            CanonicalDocument::FunctionalAck(_) => Vec::new(),
        };
        let mut out: Vec<PoLineRef<'_>> = Vec::with_capacity(all.len());
        for r in all {
            if !out.contains(&r) {
                out.push(r);
            }
        }
        out
    }

    fn party_key(&self, party: &Party) -> String {
        party
            .key()
            .unwrap_or_else(|| format!("partner:{}", self.partner()))
    }

    /// The business key (see [`BusinessKey`]).
    pub fn business_key(&self) -> BusinessKey {
        let kind = self.kind();
        let (party, number, qualifier) = match self {
            CanonicalDocument::PurchaseOrder(d) => (
                self.party_key(&d.buyer),
                d.po_number.to_string(),
                join([Some(purpose_str(d.purpose).to_owned()), d.version.clone()]),
            ),
            CanonicalDocument::OrderAck(d) => (
                self.party_key(&d.supplier),
                d.po_number.to_string(),
                join([
                    purpose_qualifier(d.purpose),
                    d.ack_id
                        .clone()
                        .or_else(|| d.ack_date.map(|date| date.to_string())),
                ]),
            ),
            CanonicalDocument::ShipNotice(d) => (
                self.party_key(&d.supplier),
                d.shipment_id.to_string(),
                purpose_qualifier(d.purpose),
            ),
            CanonicalDocument::GoodsReceipt(d) => {
                (self.party_key(&d.buyer), d.receipt_id.to_string(), None)
            }
            CanonicalDocument::Invoice(d) => (
                self.party_key(&d.supplier),
                d.invoice_number.to_string(),
                purpose_qualifier(d.purpose),
            ),
            CanonicalDocument::FunctionalAck(d) => {
                let number = d
                    .group
                    .as_ref()
                    .map(|g| g.control_number.to_string())
                    .or_else(|| d.interchange.as_ref().map(|i| i.control_number.to_string()))
                    .or_else(|| d.cxml.as_ref().map(|c| c.in_reply_to.clone()))
                    .unwrap_or_default();
                (
                    format!("partner:{}", self.partner()),
                    number,
                    Some(d.format.as_str().to_owned()),
                )
            }
        };
        BusinessKey {
            kind,
            party,
            number,
            qualifier,
        }
    }

    /// Equal as business documents, ignoring provenance.
    pub fn business_eq(&self, other: &CanonicalDocument) -> bool {
        match (self, other) {
            (CanonicalDocument::PurchaseOrder(a), CanonicalDocument::PurchaseOrder(b)) => {
                a.business_eq(b)
            }
            (CanonicalDocument::OrderAck(a), CanonicalDocument::OrderAck(b)) => a.business_eq(b),
            (CanonicalDocument::ShipNotice(a), CanonicalDocument::ShipNotice(b)) => {
                a.business_eq(b)
            }
            (CanonicalDocument::GoodsReceipt(a), CanonicalDocument::GoodsReceipt(b)) => {
                a.business_eq(b)
            }
            (CanonicalDocument::Invoice(a), CanonicalDocument::Invoice(b)) => a.business_eq(b),
            (CanonicalDocument::FunctionalAck(a), CanonicalDocument::FunctionalAck(b)) => {
                a.business_eq(b)
            }
            _ => false,
        }
    }
}

macro_rules! from_document {
    ($($variant:ident),*) => {
        $(
            impl From<$variant> for CanonicalDocument {
                fn from(doc: $variant) -> Self {
                    CanonicalDocument::$variant(doc)
                }
            }
        )*
    };
}
from_document!(
    PurchaseOrder,
    OrderAck,
    ShipNotice,
    GoodsReceipt,
    Invoice,
    FunctionalAck
);
