//! Canonical business documents (purchase order, acknowledgement, ship notice, goods receipt,
//! invoice, functional ack) shared by every format. Depends on nothing else in the crate.
//!
//! What lives here: the document types and their JSON form (serde, snake_case, empty optionals
//! omitted) and JSON Schemas (`schema`); the shared building blocks (`common`, `ids`); the
//! conversions decoders and maps need at the edge (`edge`: implied decimals, dates, times); and
//! identifier parsing with check digits (`gs1`, `ndc`, `hibcc`, `udi`).
//!
//! What does not: code-list translation (X12 353 → `Purpose`, UoM tables) is data in `maps/`;
//! correlation, matching and state are `flow`'s; storage is `store`'s.
//!
//! Every document has a `provenance` field (where and how it arrived) kept apart from the
//! business content: `business_eq` compares documents ignoring it, and
//! [`CanonicalDocument::business_key`] identifies the business document for duplicate detection.

pub mod common;
pub mod document;
pub mod edge;
pub mod functional_ack;
pub mod goods_receipt;
pub mod gs1;
pub mod hibcc;
pub mod ids;
pub mod invoice;
pub mod json;
pub mod ndc;
pub mod order_ack;
pub mod purchase_order;
pub mod schema;
pub mod ship_notice;
pub mod udi;

pub use common::{
    Address, AllowanceCharge, AllowanceOrCharge, Carrier, ClinicalPriority, ItemRef, Measure,
    Money, Party, PartyId, PartyIdScheme, PartyRole, PaymentTerms, Provenance, Purpose,
    QualifiedId, Quantity, Reference, SourceFormat, Tax, Traceability,
};
pub use document::{BusinessKey, CanonicalDocument, DocumentKind, PoLineRef};
pub use edge::{implied_decimal, parse_date, parse_decimal, parse_time, EdgeError};
pub use functional_ack::{
    AckCode, AckFormat, AckedGroup, AckedInterchange, AckedSet, CxmlStatus, ElementError,
    FunctionalAck, SegmentError,
};
pub use goods_receipt::{GoodsReceipt, ReceiptLine};
pub use gs1::{Gln, Gs1KeyError, Gtin, Sscc};
pub use hibcc::{HibccError, HibccLabel, HibccPrimary, HibccSecondary};
pub use ids::{
    ControlNumber, CostCentre, Currency, IdError, InvoiceNumber, LineNumber, PartnerId, PoNumber,
    ReceiptId, ShipmentId, UomCode,
};
pub use invoice::{Invoice, InvoiceLine, InvoiceTotals, InvoiceType};
pub use ndc::{Ndc, NdcError};
pub use order_ack::{AckLine, AckLineStatus, AckStatus, LineStatus, OrderAck};
pub use purchase_order::{OrderType, PoLine, PurchaseOrder};
pub use ship_notice::{Fulfilment, Pack, PackLevel, ShipNotice, ShippedItem, ShippedOrder};
pub use udi::{Udi, UdiError, UdiIssuer};
