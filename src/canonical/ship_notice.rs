//! The canonical ship notice (856, cXML ShipNoticeRequest), normalised to
//! shipment → orders → packs (SSCC, possibly nested in tares) → items, whatever the hierarchy
//! code (BSN05) the supplier used; orders shipped without a pack level (0004) carry their items
//! directly.

use chrono::{NaiveDate, NaiveTime};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    impl_business_eq, Carrier, ItemRef, Measure, Party, Provenance, Purpose, Quantity, Reference,
    Traceability,
};
use super::gs1::Sscc;
use super::ids::{LineNumber, PoNumber, ShipmentId};
use super::order_ack::LineStatus;

/// Whether the shipment completes the order(s) (cXML `fulfillmentType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fulfilment {
    Partial,
    Complete,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ShipNotice {
    pub provenance: Provenance,
    pub shipment_id: ShipmentId,
    pub purpose: Purpose,
    /// BSN03 / `noticeDate`.
    pub notice_date: NaiveDate,
    /// BSN04.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_time: Option<NaiveTime>,
    /// DTM 011 / `shipmentDate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipped_date: Option<NaiveDate>,
    /// DTM 017 / `deliveryDate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_delivery_date: Option<NaiveDate>,
    /// BSN05 as sent (`0001` pick and pack, `0004` no pack level).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hierarchy_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fulfilment: Option<Fulfilment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<Carrier>,
    /// Carrier tracking numbers (REF 2I/CN, cXML ShipmentIdentifier).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracking_numbers: Vec<String>,
    /// REF BM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bill_of_lading: Option<String>,
    /// TD101 package code as sent (`CTN`, `PLT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_code: Option<String>,
    /// TD102 lading quantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_count: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gross_weight: Option<Measure>,
    pub supplier: Party,
    pub buyer: Party,
    /// Ship-from, ship-to and other parties.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parties: Vec<Party>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    pub orders: Vec<ShippedOrder>,
}

/// One purchase order in the shipment (HL `O`, cXML ShipNoticePortion).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ShippedOrder {
    pub po_number: PoNumber,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub po_date: Option<NaiveDate>,
    /// REF VN, cXML SupplierOrderInfo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier_order_number: Option<String>,
    /// Line-level ship-to or other parties at order level (N1 in the O loop).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parties: Vec<Party>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packs: Vec<Pack>,
    /// Items shipped without a pack level.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ShippedItem>,
}

impl ShippedOrder {
    /// Every item of the order, in packs (depth first) or directly under the order.
    pub fn all_items(&self) -> Vec<&ShippedItem> {
        let mut out: Vec<&ShippedItem> = self.items.iter().collect();
        for pack in &self.packs {
            pack.collect_items(&mut out);
        }
        out
    }
}

/// Packaging level of a pack (HL `T` tare/pallet, `P` pack/carton, `Q` subpack).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PackLevel {
    Tare,
    Pack,
    Subpack,
}

/// A pallet, carton or inner pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Pack {
    pub level: PackLevel,
    /// MAN GM/AA, cXML ShippingContainerSerialCode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sscc: Option<Sscc>,
    /// Other marks (MAN CP carrier package id...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marks: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gross_weight: Option<Measure>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tracking_numbers: Vec<String>,
    /// Packs inside this one (cartons on a pallet).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packs: Vec<Pack>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<ShippedItem>,
}

impl Pack {
    fn collect_items<'a>(&'a self, out: &mut Vec<&'a ShippedItem>) {
        out.extend(self.items.iter());
        for pack in &self.packs {
            pack.collect_items(out);
        }
    }
}

/// An item shipped (HL `I`, cXML ShipNoticeItem).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ShippedItem {
    /// The PO line (LIN01 / SN101, cXML `lineNumber`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_number: Option<LineNumber>,
    /// cXML `shipNoticeLineNumber`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_notice_line_number: Option<String>,
    pub item: ItemRef,
    /// SN102/SN103.
    pub quantity: Quantity,
    /// SN105/SN106, cXML OrderedQuantity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordered_quantity: Option<Quantity>,
    /// SN104: cross-check for partial shipments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipped_to_date: Option<Decimal>,
    /// SN108.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_status: Option<LineStatus>,
    /// One entry per lot or serial shipped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traceability: Vec<Traceability>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
}

impl_business_eq!(ShipNotice {
    shipment_id,
    purpose,
    notice_date,
    notice_time,
    shipped_date,
    estimated_delivery_date,
    hierarchy_code,
    fulfilment,
    carrier,
    tracking_numbers,
    bill_of_lading,
    package_code,
    package_count,
    gross_weight,
    supplier,
    buyer,
    parties,
    references,
    orders,
});
