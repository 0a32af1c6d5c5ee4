//! JSON Schemas of the canonical documents, generated from the Rust types with schemars. The
//! committed copies under `schemas/` are what API clients and analysts read; a test keeps them
//! equal to what this module generates.

use schemars::{schema_for, Schema};

use super::document::{CanonicalDocument, DocumentKind};
use super::functional_ack::FunctionalAck;
use super::goods_receipt::GoodsReceipt;
use super::invoice::Invoice;
use super::order_ack::OrderAck;
use super::purchase_order::PurchaseOrder;
use super::ship_notice::ShipNotice;

/// The schema of one document kind (the bare document, without the `kind` tag).
pub fn schema_for_kind(kind: DocumentKind) -> Schema {
    match kind {
        DocumentKind::PurchaseOrder => schema_for!(PurchaseOrder),
        DocumentKind::OrderAck => schema_for!(OrderAck),
        DocumentKind::ShipNotice => schema_for!(ShipNotice),
        DocumentKind::GoodsReceipt => schema_for!(GoodsReceipt),
        DocumentKind::Invoice => schema_for!(Invoice),
        DocumentKind::FunctionalAck => schema_for!(FunctionalAck),
    }
}

/// The schema of [`CanonicalDocument`], the `kind`-tagged form the store and API use.
pub fn canonical_schema() -> Schema {
    schema_for!(CanonicalDocument)
}

/// Every schema file: `(file name, pretty JSON with a trailing newline)`, in a fixed order.
pub fn schema_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, Schema)> = DocumentKind::ALL
        .iter()
        .map(|kind| (format!("{kind}.schema.json"), schema_for_kind(*kind)))
        .collect();
    files.push(("canonical.schema.json".to_owned(), canonical_schema()));
    files
        .into_iter()
        .map(|(name, schema)| {
            // Serialising a Schema (a JSON value) cannot fail; an empty string would make the
            // schema test fail loudly rather than panic here.
            let text = serde_json::to_string_pretty(&schema).unwrap_or_default();
            (name, format!("{text}\n"))
        })
        .collect()
}
