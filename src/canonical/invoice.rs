//! The canonical invoice (810, cXML InvoiceDetailRequest), debit or credit.
//!
//! Sign convention: amounts are as the supplier states them for the document's direction, i.e.
//! positive on credit memos too (as X12 TDS is); `invoice_type` says which way money moves. cXML
//! credit memos carry negative Money, so the inbound map negates them. Use
//! [`Invoice::signed_total`] for a signed figure.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    impl_business_eq, AllowanceCharge, ItemRef, Money, Party, PaymentTerms, Provenance, Purpose,
    Quantity, Reference, Tax, Traceability,
};
use super::ids::{Currency, InvoiceNumber, LineNumber, PoNumber, ShipmentId};

/// Which way the invoice moves money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceType {
    /// The buyer owes (`DI`, `DR`, cXML `standard`, `debitMemo`).
    Debit,
    /// The supplier owes (`CR`, `CN`, cXML `creditMemo`, `lineLevelCreditMemo`).
    Credit,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Invoice {
    pub provenance: Provenance,
    pub invoice_number: InvoiceNumber,
    pub invoice_date: NaiveDate,
    pub invoice_type: InvoiceType,
    /// BIG07 / cXML `purpose` as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_type_code: Option<String>,
    /// BIG08; cXML `operation="delete"` is `cancel`.
    pub purpose: Purpose,
    /// BIG10, or the DocumentReference of a credit memo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_invoice_number: Option<InvoiceNumber>,
    /// The order invoiced (BIG04, REF PO). Lines may name other orders (cXML
    /// InvoiceDetailOrder per PO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub po_number: Option<PoNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub po_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipment_id: Option<ShipmentId>,
    pub currency: Currency,
    pub supplier: Party,
    pub buyer: Party,
    /// Remit-to, bill-to, ship-to and other parties.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parties: Vec<Party>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payment_terms: Vec<PaymentTerms>,
    /// Header-level allowances and charges (summary SAC).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowances_charges: Vec<AllowanceCharge>,
    /// Header-level taxes (summary TXI, cXML InvoiceDetailSummary/Tax).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taxes: Vec<Tax>,
    pub totals: InvoiceTotals,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub lines: Vec<InvoiceLine>,
}

impl Invoice {
    /// The total with the sign of the money flow: negative for credits.
    pub fn signed_total(&self) -> Decimal {
        match self.invoice_type {
            InvoiceType::Debit => self.totals.total.amount,
            InvoiceType::Credit => -self.totals.total.amount,
        }
    }
}

/// Totals as stated by the supplier; the three-way match recomputes and compares them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InvoiceTotals {
    /// Sum of line amounts (cXML SubtotalAmount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtotal: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_total: Option<Money>,
    /// cXML ShippingAmount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_total: Option<Money>,
    /// TDS01 (after charges and allowances, before terms discount), cXML NetAmount.
    pub total: Money,
    /// TDS02.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_subject_to_discount: Option<Money>,
    /// TDS03 / cXML DueAmount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_due_after_discount: Option<Money>,
    /// TDS04.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terms_discount: Option<Money>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct InvoiceLine {
    /// The supplier's invoice line number (cXML `invoiceLineNumber`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_line_number: Option<String>,
    /// The PO line (IT101, cXML InvoiceDetailItemReference `lineNumber`): the match key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_number: Option<LineNumber>,
    /// When the line belongs to another order than the header's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub po_number: Option<PoNumber>,
    pub item: ItemRef,
    pub quantity: Quantity,
    pub unit_price: Money,
    /// IT105 as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_basis: Option<String>,
    /// Extended amount as stated (cXML SubtotalAmount); quantity × price is checked in matching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowances_charges: Vec<AllowanceCharge>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taxes: Vec<Tax>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traceability: Vec<Traceability>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
}

impl_business_eq!(Invoice {
    invoice_number,
    invoice_date,
    invoice_type,
    invoice_type_code,
    purpose,
    original_invoice_number,
    po_number,
    po_date,
    shipment_id,
    currency,
    supplier,
    buyer,
    parties,
    payment_terms,
    allowances_charges,
    taxes,
    totals,
    references,
    notes,
    lines,
});
