//! The canonical goods receipt: what the dock scanned in against a PO (from the inventory
//! system's API or CSV; no EDI set), with received and rejected quantities and the lots and
//! serials actually received, for the three-way match.

use chrono::{DateTime, FixedOffset, NaiveDate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    impl_business_eq, ItemRef, Party, Provenance, Quantity, Reference, Traceability,
};
use super::ids::{LineNumber, PoNumber, ReceiptId, ShipmentId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GoodsReceipt {
    pub provenance: Provenance,
    pub receipt_id: ReceiptId,
    pub po_number: PoNumber,
    pub receipt_date: NaiveDate,
    /// When the dock scanned it in, if the inventory system says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<DateTime<FixedOffset>>,
    /// The ship notice this receipt answers, when the dock scanned its SSCC or packing list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment_id: Option<ShipmentId>,
    /// The hospital (or facility) receiving.
    pub buyer: Party,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier: Option<Party>,
    /// The dock or department that received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Party>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub lines: Vec<ReceiptLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReceiptLine {
    /// The PO line received against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_number: Option<LineNumber>,
    pub item: ItemRef,
    /// Quantity accepted into stock.
    pub received: Quantity,
    /// Quantity refused at the dock (damaged, wrong item, short-dated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traceability: Vec<Traceability>,
}

impl_business_eq!(GoodsReceipt {
    receipt_id,
    po_number,
    receipt_date,
    received_at,
    shipment_id,
    buyer,
    supplier,
    location,
    references,
    notes,
    lines,
});
