//! The canonical purchase order (850, cXML OrderRequest; also POs posted by the procurement
//! platform), including changes and cancellations of an order, which reuse the PO number and
//! differ by `purpose`.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    impl_business_eq, AllowanceCharge, ClinicalPriority, ItemRef, Money, Party, PaymentTerms,
    Provenance, Purpose, Quantity, Reference, Tax, Traceability,
};
use super::ids::{CostCentre, Currency, LineNumber, PoNumber};

/// Kind of order (BEG02, cXML `orderType`). Hospitals mostly see standalone, release,
/// consignment and bill-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    /// `SA`, `NE`, `KN`, cXML `regular`.
    Standalone,
    /// `RL`: a release against a blanket order.
    Release,
    /// `BK`, `BE`, `KB`, cXML `blanket`.
    Blanket,
    /// `CN`: consigned stock.
    Consignment,
    /// `CF`: confirms use after the fact (bill-only implants).
    BillOnly,
    /// `DS`.
    DropShip,
    /// `RO`.
    Rush,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PurchaseOrder {
    pub provenance: Provenance,
    pub po_number: PoNumber,
    pub purpose: Purpose,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_type: Option<OrderType>,
    /// BEG02 / `orderType` as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_type_code: Option<String>,
    pub order_date: NaiveDate,
    /// cXML `orderVersion`, or a change sequence the buyer numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_number: Option<String>,
    /// BEG07 acknowledgement type requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_requested: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    pub buyer: Party,
    pub supplier: Party,
    /// Ship-to, bill-to and any other parties.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parties: Vec<Party>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_delivery_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_centre: Option<CostCentre>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clinical_priority: Option<ClinicalPriority>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_complete: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payment_terms: Vec<PaymentTerms>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowances_charges: Vec<AllowanceCharge>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taxes: Vec<Tax>,
    /// Order total as sent (cXML Total, CTT/AMT); never recomputed here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Money>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub lines: Vec<PoLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PoLine {
    /// PO101 is optional in X12; later documents correlate by it, so flow raises an exception
    /// for a line it must correlate that has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_number: Option<LineNumber>,
    pub item: ItemRef,
    pub quantity: Quantity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Money>,
    /// PO105 as sent (`PE`, `CT`, `QT`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_basis: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_delivery_date: Option<NaiveDate>,
    /// Line-level ship-to when it differs from the header's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_to: Option<Party>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_centre: Option<CostCentre>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clinical_priority: Option<ClinicalPriority>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowances_charges: Vec<AllowanceCharge>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taxes: Vec<Tax>,
    /// Lots and serials already known: bill-only orders carry them from the case record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traceability: Vec<Traceability>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl_business_eq!(PurchaseOrder {
    po_number,
    purpose,
    order_type,
    order_type_code,
    order_date,
    version,
    release_number,
    contract_number,
    ack_requested,
    currency,
    buyer,
    supplier,
    parties,
    requested_delivery_date,
    cost_centre,
    clinical_priority,
    ship_complete,
    payment_terms,
    allowances_charges,
    taxes,
    total,
    references,
    notes,
    lines,
});
