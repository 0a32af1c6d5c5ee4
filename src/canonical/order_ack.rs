//! The canonical order acknowledgement (855, cXML ConfirmationRequest): a header status and, per
//! PO line, one or more statuses that may split the line's quantity (50 accepted now, 50
//! backordered to March).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    impl_business_eq, ItemRef, Money, Party, Provenance, Purpose, Quantity, Reference,
};
use super::ids::{Currency, LineNumber, PoNumber};

/// The acknowledgement as a whole (BAK02, cXML ConfirmationHeader `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AckStatus {
    /// Whole order accepted as sent (`AK`, `AT`, cXML `accept`).
    Accepted,
    /// Accepted, every line detailed, no change (`AD`, cXML `allDetail`).
    AcceptedWithDetail,
    /// Accepted with line changes (`AC`, cXML `detail`).
    AcceptedWithChanges,
    /// Only exceptions are detailed; lines not mentioned are accepted (`AE`, cXML `except`).
    ExceptionsOnly,
    /// cXML `backordered`.
    Backordered,
    /// On hold (`AH`).
    Hold,
    /// Rejected (`RJ`, `RD`, `RF`, `RN`, `RO`, cXML `reject`).
    Rejected,
    /// Replaces an earlier acknowledgement (cXML `replace`).
    Replaced,
    Other,
}

/// One status on a PO line (ACK01, cXML ConfirmationStatus `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    /// `IA`, `AR`, `AC`, cXML `accept`.
    Accepted,
    /// `IE`: accepted, price pending.
    AcceptedPricePending,
    /// `IB`, `BP`, cXML `backordered`.
    Backordered,
    /// `IQ`.
    QuantityChanged,
    /// `IP`.
    PriceChanged,
    /// `DR`, `SP`.
    DateChanged,
    /// `IC`: changes of more than one kind; compare the carried values.
    Changed,
    /// `IS`, cXML ItemIn: see `substitute`.
    Substituted,
    /// `IR`, `R1`–`R4`, cXML `reject`.
    Rejected,
    /// `ID`: deleted.
    Deleted,
    /// `IH`, `IF`, `IW`.
    OnHold,
    Other,
}

impl LineStatus {
    /// Whether this status closes the line (no shipment or invoice should follow).
    pub fn closes_line(self) -> bool {
        matches!(self, LineStatus::Rejected | LineStatus::Deleted)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct OrderAck {
    pub provenance: Provenance,
    pub po_number: PoNumber,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub po_date: Option<NaiveDate>,
    pub purpose: Purpose,
    pub status: AckStatus,
    /// BAK02 / ConfirmationHeader `type` as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<String>,
    /// cXML `confirmID`; the 855 has none (BAK08 is the supplier order number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_date: Option<NaiveDate>,
    /// BAK08, cXML SupplierOrderInfo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier_order_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    pub buyer: Party,
    pub supplier: Party,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parties: Vec<Party>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Money>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<AckLine>,
}

/// A PO line as acknowledged: the echo of the order line and its statuses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AckLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_number: Option<LineNumber>,
    /// The item as the supplier echoes it (PO1 pairs, cXML ItemID); absent when it echoes none.
    #[serde(default, skip_serializing_if = "ItemRef::is_empty")]
    pub item: ItemRef,
    /// The ordered quantity echoed (PO102, ConfirmationItem `quantity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordered_quantity: Option<Quantity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordered_unit_price: Option<Money>,
    /// One or more statuses; several split the line's quantity. Left out when the line has
    /// none (an 855 PO1 without ACK).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<AckLineStatus>,
}

impl AckLine {
    /// The sum of status quantities, if every status has one. Equal to the ordered quantity
    /// unless the line changed.
    pub fn status_quantity_total(&self) -> Option<Decimal> {
        self.statuses
            .iter()
            .map(|s| s.quantity.as_ref().map(|q| q.value))
            .sum()
    }
}

/// One status on a line, with the values it confirms or changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AckLineStatus {
    pub status: LineStatus,
    /// ACK01 / ConfirmationStatus `type` as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
    /// The confirmed (possibly changed) unit price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Money>,
    /// Current scheduled ship date (ACK04 `068`, cXML `shipmentDate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_date: Option<NaiveDate>,
    /// Current scheduled or estimated delivery date (ACK04 `067`/`017`, cXML `deliveryDate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_date: Option<NaiveDate>,
    /// The substitute item for `substituted` (ACK product id pairs, cXML ItemIn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substitute: Option<ItemRef>,
    /// cXML SupplierBatchID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier_batch_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl_business_eq!(OrderAck {
    po_number,
    po_date,
    purpose,
    status,
    status_code,
    ack_id,
    ack_date,
    supplier_order_number,
    currency,
    buyer,
    supplier,
    parties,
    total,
    references,
    notes,
    lines,
});
