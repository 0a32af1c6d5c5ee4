//! Maps between cXML documents and canonical JSON, both ways, with the same rule language as
//! the X12 engine: inbound reads the decoded element tree by the rules' `XmlPath`s; outbound
//! builds elements from the canonical values, orders every element's children as the cXML DTDs
//! require (`CHILD_ORDER`, written from cXML.dtd, Fulfill.dtd and InvoiceDetail.dtd) and leaves
//! the envelope to `docs.rs`. Also checks the element names of a map's paths when it loads.
//!
//! Paths: `OrderRequestHeader@orderID` (attribute), `ItemDetail/UnitPrice/Money` (text),
//! `Extrinsic[@name=GTIN]`, `Contact[@role=shipTo|receivingDock]` (alternatives),
//! `Contact[@role!=billTo]` (negation), `ItemDetail[UnitOfMeasure=EA]` (child text),
//! `ShipNoticeItem[Packaging=*]` / `[Packaging!=*]` (has / has no such child), `Extrinsic[.=*]`
//! (has text of its own), `.` (the
//! context element), `/ShipNoticeHeader@shipmentID` (from the request document element).
//!
//! Two format rules live here rather than in the maps: credit memos (InvoiceDetailRequest with
//! a credit `purpose`) carry negative Money while canonical amounts are positive, so every
//! `Money` read or written with `convert = "decimal"` changes sign on those documents; and
//! outbound dates are written as ISO 8601 date-times with offset, which every cXML date
//! attribute accepts.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Map as JsonMap, Value};

use super::convert::{self, ValueError};
use super::path::XmlPath;
use super::rules::{Block, Convert, Only, Rule, Source};
use super::x12::{get_path, set_path};
use super::{Map, MapError, TranslateError};
use crate::cxml::tree::{Attribute, Element, Node};

// ---- what the DTDs say, for the elements these maps read and write -------------------------

/// Child element order of the elements the maps write, from the cXML 1.2.0xx DTDs (content
/// models flattened to the order elements may appear in). An element's children are emitted
/// in this order; a parent listed here also lets the load check reject unknown child names.
pub const CHILD_ORDER: &[(&str, &[&str])] = &[
    ("cXML", &["Header", "Message", "Request", "Response"]),
    ("Header", &["From", "To", "Sender"]),
    ("From", &["Credential", "Correspondent"]),
    ("To", &["Credential", "Correspondent"]),
    ("Sender", &["Credential", "UserAgent"]),
    (
        "Credential",
        &[
            "Identity",
            "SharedSecret",
            "DigitalSignature",
            "CredentialMac",
        ],
    ),
    // cXML.dtd: orders
    ("OrderRequest", &["OrderRequestHeader", "ItemOut"]),
    (
        "OrderRequestHeader",
        &[
            "Total",
            "ShipTo",
            "BillTo",
            "BusinessPartner",
            "LegalEntity",
            "OrganizationalUnit",
            "Shipping",
            "Tax",
            "Payment",
            "PaymentTerm",
            "Contact",
            "Comments",
            "Followup",
            "ControlKeys",
            "DocumentReference",
            "SupplierOrderInfo",
            "TermsOfDelivery",
            "DeliveryPeriod",
            "IdReference",
            "OrderRequestHeaderIndustry",
            "Extrinsic",
        ],
    ),
    ("Total", &["Money", "Modifications"]),
    (
        "ShipTo",
        &[
            "Address",
            "CarrierIdentifier",
            "TransportInformation",
            "IdReference",
        ],
    ),
    ("BillTo", &["Address", "IdReference"]),
    (
        "Address",
        &["Name", "PostalAddress", "Email", "Phone", "Fax", "URL"],
    ),
    (
        "PostalAddress",
        &[
            "DeliverTo",
            "Street",
            "City",
            "Municipality",
            "State",
            "PostalCode",
            "Country",
            "Extrinsic",
        ],
    ),
    (
        "Contact",
        &[
            "Name",
            "PostalAddress",
            "Email",
            "Phone",
            "Fax",
            "URL",
            "IdReference",
            "Extrinsic",
        ],
    ),
    (
        "ItemOut",
        &[
            "ItemID",
            "Path",
            "ItemDetail",
            "BlanketItemDetail",
            "SupplierID",
            "SupplierList",
            "ShipTo",
            "Shipping",
            "Tax",
            "SpendDetail",
            "Distribution",
            "Contact",
            "TermsOfDelivery",
            "Comments",
            "Indicator",
            "Tolerances",
            "ControlKeys",
            "ScheduleLine",
            "MasterAgreementReference",
            "MasterAgreementIDInfo",
            "ItemOutIndustry",
            "Packaging",
            "ReleaseInfo",
            "Batch",
        ],
    ),
    (
        "ItemIn",
        &[
            "ItemID",
            "Path",
            "ItemDetail",
            "SupplierID",
            "SupplierList",
            "ShipTo",
            "Shipping",
            "Tax",
            "SpendDetail",
            "Distribution",
            "Contact",
            "Comments",
            "ScheduleLine",
            "BillTo",
            "Batch",
            "Period",
            "DateInfo",
            "Extrinsic",
        ],
    ),
    (
        "ItemID",
        &[
            "SupplierPartID",
            "SupplierPartAuxiliaryID",
            "BuyerPartID",
            "IdReference",
        ],
    ),
    (
        "ItemDetail",
        &[
            "UnitPrice",
            "Description",
            "OverallLimit",
            "ExpectedLimit",
            "UnitOfMeasure",
            "PriceBasisQuantity",
            "Classification",
            "ManufacturerPartID",
            "ManufacturerName",
            "URL",
            "LeadTime",
            "Dimension",
            "ItemDetailIndustry",
            "AttachmentReference",
            "PlannedAcceptanceDays",
            "Extrinsic",
        ],
    ),
    (
        "UnitPrice",
        &["Money", "Modifications", "PricingConditions"],
    ),
    ("Shipping", &["Money", "Description", "Modifications"]),
    (
        "Tax",
        &[
            "Money",
            "TaxAdjustmentAmount",
            "Description",
            "TaxDetail",
            "Distribution",
            "Extrinsic",
        ],
    ),
    ("OrderReference", &["DocumentReference"]),
    // Fulfill.dtd: confirmations
    (
        "ConfirmationRequest",
        &[
            "ConfirmationHeader",
            "OrderReference",
            "OrderStatusRequestReference",
            "OrderStatusRequestIDInfo",
            "ConfirmationItem",
        ],
    ),
    (
        "ConfirmationHeader",
        &[
            "DocumentReference",
            "Total",
            "Shipping",
            "Tax",
            "Contact",
            "Hazard",
            "Comments",
            "IdReference",
            "Extrinsic",
        ],
    ),
    (
        "ConfirmationItem",
        &[
            "ItemID",
            "UnitOfMeasure",
            "Contact",
            "Hazard",
            "ConfirmationStatus",
        ],
    ),
    (
        "ConfirmationStatus",
        &[
            "UnitOfMeasure",
            "ItemIn",
            "UnitPrice",
            "Tax",
            "Shipping",
            "SupplierBatchID",
            "ScheduleLineReference",
            "ComponentConsumptionDetails",
            "Comments",
            "Extrinsic",
        ],
    ),
    // Fulfill.dtd: ship notices
    (
        "ShipNoticeRequest",
        &["ShipNoticeHeader", "ShipControl", "ShipNoticePortion"],
    ),
    (
        "ShipNoticeHeader",
        &[
            "ServiceLevel",
            "DocumentReference",
            "Contact",
            "LegalEntity",
            "OrganizationalUnit",
            "Hazard",
            "Comments",
            "TermsOfDelivery",
            "TermsOfTransport",
            "Packaging",
            "Extrinsic",
            "IdReference",
            "ReferenceDocumentInfo",
        ],
    ),
    (
        "ShipControl",
        &[
            "CarrierIdentifier",
            "ShipmentIdentifier",
            "PackageIdentification",
            "Route",
            "TransportInformation",
            "Contact",
            "Comments",
            "Extrinsic",
        ],
    ),
    (
        "ShipNoticePortion",
        &[
            "OrderReference",
            "MasterAgreementReference",
            "MasterAgreementIDInfo",
            "Contact",
            "Comments",
            "Extrinsic",
            "ShipNoticeItem",
            "ReferenceDocumentInfo",
        ],
    ),
    (
        "ShipNoticeItem",
        &[
            "ItemID",
            "ShipNoticeItemDetail",
            "UnitOfMeasure",
            "Packaging",
            "Hazard",
            "Batch",
            "SupplierBatchID",
            "AssetInfo",
            "TermsOfDelivery",
            "OrderedQuantity",
            "ShipNoticeItemIndustry",
            "ComponentConsumptionDetails",
            "ReferenceDocumentInfo",
            "Comments",
            "Extrinsic",
        ],
    ),
    (
        "ShipNoticeItemDetail",
        &[
            "UnitPrice",
            "Description",
            "UnitOfMeasure",
            "PriceBasisQuantity",
            "Classification",
            "ManufacturerPartID",
            "ManufacturerName",
            "Dimension",
            "ItemDetailIndustry",
            "Extrinsic",
        ],
    ),
    (
        "Packaging",
        &[
            "PackagingCode",
            "Dimension",
            "Description",
            "PackagingLevelCode",
            "PackageTypeCodeIdentifierCode",
            "ShippingContainerSerialCode",
            "ShippingContainerSerialCodeReference",
            "PackageID",
            "ShippingMark",
            "OrderedQuantity",
            "DispatchQuantity",
            "FreeGoodsQuantity",
            "QuantityVarianceNote",
            "BestBeforeDate",
            "AssetInfo",
            "PackagingIndustry",
            "StoreCode",
            "Extrinsic",
        ],
    ),
    (
        "Batch",
        &["BuyerBatchID", "SupplierBatchID", "PropertyValuation"],
    ),
    ("OrderedQuantity", &["UnitOfMeasure"]),
    // InvoiceDetail.dtd
    (
        "InvoiceDetailRequest",
        &[
            "InvoiceDetailRequestHeader",
            "InvoiceDetailOrder",
            "InvoiceDetailHeaderOrder",
            "InvoiceDetailSummary",
        ],
    ),
    (
        "InvoiceDetailRequestHeader",
        &[
            "InvoiceDetailHeaderIndicator",
            "InvoiceDetailLineIndicator",
            "InvoicePartner",
            "DocumentReference",
            "InvoiceIDInfo",
            "PaymentProposalIDInfo",
            "InvoiceDetailShipping",
            "ShipNoticeIDInfo",
            "InvoiceDetailPaymentTerm",
            "PaymentTerm",
            "PaymentInformation",
            "Period",
            "Comments",
            "IdReference",
            "Extrinsic",
        ],
    ),
    ("InvoicePartner", &["Contact", "IdReference"]),
    (
        "InvoiceDetailOrder",
        &[
            "InvoiceDetailOrderInfo",
            "InvoiceDetailReceiptInfo",
            "InvoiceDetailShipNoticeInfo",
            "InvoiceDetailItem",
            "InvoiceDetailServiceItem",
        ],
    ),
    (
        "InvoiceDetailOrderInfo",
        &[
            "OrderReference",
            "MasterAgreementReference",
            "MasterAgreementIDInfo",
            "OrderIDInfo",
            "SupplierOrderInfo",
        ],
    ),
    (
        "InvoiceDetailItem",
        &[
            "UnitOfMeasure",
            "UnitPrice",
            "PriceBasisQuantity",
            "InvoiceDetailItemReference",
            "ReceiptLineItemReference",
            "ShipNoticeLineItemReference",
            "ServiceEntryItemReference",
            "ServiceEntryItemIDInfo",
            "ProductMovementItemIDInfo",
            "SubtotalAmount",
            "Tax",
            "InvoiceDetailLineSpecialHandling",
            "InvoiceDetailLineShipping",
            "ShipNoticeIDInfo",
            "GrossAmount",
            "InvoiceDetailDiscount",
            "InvoiceItemModifications",
            "TotalCharges",
            "TotalAllowances",
            "TotalAmountWithoutTax",
            "NetAmount",
            "Distribution",
            "Packaging",
            "InvoiceDetailItemIndustry",
            "Comments",
            "CustomsInfo",
            "Extrinsic",
        ],
    ),
    (
        "InvoiceDetailItemReference",
        &[
            "ItemID",
            "Description",
            "Classification",
            "ManufacturerPartID",
            "ManufacturerName",
            "Country",
            "SerialNumber",
            "SupplierBatchID",
            "InvoiceDetailItemReferenceIndustry",
        ],
    ),
    (
        "InvoiceDetailSummary",
        &[
            "SubtotalAmount",
            "Tax",
            "SpecialHandlingAmount",
            "ShippingAmount",
            "GrossAmount",
            "InvoiceDetailDiscount",
            "InvoiceHeaderModifications",
            "InvoiceDetailSummaryLineItemModifications",
            "TotalCharges",
            "TotalAllowances",
            "TotalAmountWithoutTax",
            "NetAmount",
            "DepositAmount",
            "DueAmount",
            "InvoiceDetailSummaryIndustry",
        ],
    ),
    ("SubtotalAmount", &["Money"]),
    ("GrossAmount", &["Money"]),
    ("NetAmount", &["Money"]),
    ("DueAmount", &["Money"]),
    ("SpecialHandlingAmount", &["Money", "Description"]),
    ("ShippingAmount", &["Money", "Distribution"]),
];

/// Enumerated attributes the maps write, from the DTDs: `if_valid` writes a value only when it
/// is one of these (a code as another format sent it, `AC` for a confirmation type, is left
/// out and the rule before it, usually a table, stands).
pub const ATTR_VALUES: &[(&str, &str, &[&str])] = &[
    ("OrderRequestHeader", "type", &["new", "update", "delete"]),
    (
        "OrderRequestHeader",
        "orderType",
        &[
            "release",
            "regular",
            "blanket",
            "stockTransport",
            "stockTransportRelease",
        ],
    ),
    (
        "ConfirmationHeader",
        "type",
        &[
            "accept",
            "allDetail",
            "detail",
            "backordered",
            "except",
            "reject",
            "requestToPay",
            "replace",
        ],
    ),
    ("ConfirmationHeader", "operation", &["new", "update"]),
    (
        "ConfirmationStatus",
        "type",
        &[
            "accept",
            "allDetail",
            "detail",
            "backordered",
            "reject",
            "unknown",
            "requestToPay",
        ],
    ),
    (
        "ShipNoticeHeader",
        "operation",
        &["new", "update", "delete"],
    ),
    ("ShipNoticeHeader", "shipmentType", &["actual", "planned"]),
    (
        "ShipNoticeHeader",
        "fulfillmentType",
        &["partial", "complete"],
    ),
    (
        "InvoiceDetailRequestHeader",
        "purpose",
        &[
            "standard",
            "creditMemo",
            "debitMemo",
            "lineLevelCreditMemo",
            "lineLevelDebitMemo",
        ],
    ),
    (
        "InvoiceDetailRequestHeader",
        "operation",
        &["new", "delete"],
    ),
    (
        "Route",
        "method",
        &[
            "air",
            "motor",
            "rail",
            "ship",
            "mail",
            "multimodal",
            "fixedTransport",
            "inlandWater",
            "unknown",
            "custom",
        ],
    ),
];

fn children_of(parent: &str) -> Option<&'static [&'static str]> {
    CHILD_ORDER
        .iter()
        .find(|(p, _)| *p == parent)
        .map(|(_, c)| *c)
}

fn order_index(parent: &str, child: &str) -> usize {
    children_of(parent)
        .and_then(|c| c.iter().position(|n| *n == child))
        .unwrap_or(usize::MAX)
}

/// `credit` purposes of an InvoiceDetailRequestHeader: their Money is negative.
const CREDIT_PURPOSES: &[&str] = &["creditMemo", "lineLevelCreditMemo"];

/// One condition of a step: (attribute or child name, is attribute, accepted values, negated).
fn cond_parts(c: &(String, bool, String)) -> (&str, bool, Vec<&str>, bool) {
    let (key, negate) = match c.0.strip_suffix('!') {
        Some(k) => (k.trim(), true),
        None => (c.0.as_str(), false),
    };
    (key, c.1, c.2.split('|').map(str::trim).collect(), negate)
}

fn has_presence(p: &XmlPath) -> bool {
    p.steps.iter().any(|s| s.conds.iter().any(|c| c.2 == "*"))
}

fn is_money_text(p: &XmlPath) -> bool {
    p.attribute.is_none() && p.steps.last().is_some_and(|s| s.name == "Money")
}

fn negate(v: &str) -> Option<String> {
    let d = Decimal::from_str(v.trim()).ok()?;
    if d.is_zero() {
        return Some(v.to_string());
    }
    Some((-d).normalize().to_string())
}

// ---- load-time checks ---------------------------------------------------------------------

struct Checker<'a> {
    map: &'a Map,
    document: String,
}

impl Checker<'_> {
    /// Follows a path's element steps from `ctx`; returns the last element name reached.
    fn path(&self, line: usize, ctx: &str, p: &XmlPath) -> Result<String, MapError> {
        let mut cur = if p.absolute {
            self.document.clone()
        } else {
            ctx.to_string()
        };
        for s in &p.steps {
            for c in &s.conds {
                let (key, is_attr, values, _) = cond_parts(c);
                if key.is_empty() || values.iter().any(|v| v.is_empty()) {
                    return Err(MapError::at(
                        &self.map.file,
                        line,
                        format!("condition on {} is incomplete, expected [@name=value] or [Child=value]", s.name),
                    ));
                }
                if !is_attr && key != "." {
                    self.child(line, &s.name, key)?;
                }
            }
            self.child(line, &cur, &s.name)?;
            cur = s.name.clone();
        }
        Ok(cur)
    }

    fn child(&self, line: usize, parent: &str, child: &str) -> Result<(), MapError> {
        if let Some(known) = children_of(parent) {
            if !known.contains(&child) {
                return Err(MapError::at(
                    &self.map.file,
                    line,
                    format!(
                        "{parent} has no child element {child} in the cXML DTD, expected one of {}",
                        known.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    fn rule(&self, ctx: &str, r: &Rule) -> Result<(), MapError> {
        for s in r.from.iter().chain(r.when.iter()) {
            match s {
                Source::Xml(p) => {
                    self.path(r.line, ctx, p)?;
                }
                Source::X12(p) => {
                    return Err(MapError::at(
                        &self.map.file,
                        r.line,
                        format!("`{p}` is an X12 path in a cxml map"),
                    ))
                }
            }
        }
        if r.invalid_to.is_some() {
            return Err(MapError::at(
                &self.map.file,
                r.line,
                format!(
                    "`{}`: invalid_to is for X12 maps, expected no invalid_to in a cxml map",
                    r.to_text
                ),
            ));
        }
        if r.convert == Convert::Count || matches!(r.convert, Convert::Implied(_)) {
            return Err(MapError::at(
                &self.map.file,
                r.line,
                format!("convert = {:?} is for X12, expected date, decimal, integer, timestamp or none in a cxml map", r.convert),
            ));
        }
        Ok(())
    }

    fn block(&self, ctx: &str, b: &Block) -> Result<(), MapError> {
        for r in &b.rules {
            self.rule(ctx, r)?;
        }
        for c in &b.blocks {
            let inner = match &c.source {
                Some(Source::Xml(p)) => self.path(c.line, ctx, p)?,
                _ => ctx.to_string(),
            };
            if let Some(s) = &c.scalar {
                self.rule(&inner, s)?;
            }
            self.block(&inner, c)?;
        }
        Ok(())
    }
}

/// Checks the element names of every path of a cXML map against the DTD order table, where it
/// knows the parent element.
pub fn check(map: &Map) -> Result<(), MapError> {
    let document = map.document.clone().unwrap_or_default();
    if children_of(&document).is_none() {
        return Err(MapError::at(
            &map.file,
            1,
            format!("document `{document}` is not one the cXML maps know, expected OrderRequest, ConfirmationRequest, ShipNoticeRequest or InvoiceDetailRequest"),
        ));
    }
    Checker {
        map,
        document: document.clone(),
    }
    .block(&document, &map.root)
}

// ---- inbound ------------------------------------------------------------------------------

pub(crate) struct Inbound<'a> {
    /// The request document element (`OrderRequest`...): the start of `/` paths.
    pub doc: &'a Element<'a>,
    pub map: &'a Map,
    credit: bool,
}

fn element_matches(e: &Element, conds: &[(String, bool, String)]) -> bool {
    conds.iter().all(|c| {
        let (key, is_attr, values, negated) = cond_parts(c);
        let actual = if is_attr {
            e.attr(key).map(str::to_string)
        } else if key == "." {
            Some(e.text().trim().to_string()).filter(|t| !t.is_empty())
        } else {
            e.child(key).map(|c| c.text().trim().to_string())
        };
        let hit = if values == ["*"] {
            actual.is_some()
        } else {
            actual.is_some_and(|a| values.contains(&a.as_str()))
        };
        hit != negated
    })
}

impl<'a> Inbound<'a> {
    pub fn new(doc: &'a Element<'a>, map: &'a Map) -> Self {
        let credit = doc.name == "InvoiceDetailRequest"
            && doc
                .child("InvoiceDetailRequestHeader")
                .and_then(|h| h.attr("purpose"))
                .is_some_and(|p| CREDIT_PURPOSES.contains(&p));
        Inbound { doc, map, credit }
    }

    fn select(&self, ctx: &'a Element<'a>, p: &XmlPath) -> Vec<&'a Element<'a>> {
        let mut cur = vec![if p.absolute { self.doc } else { ctx }];
        for s in &p.steps {
            cur = cur
                .into_iter()
                .flat_map(|e| {
                    e.elements()
                        .filter(|c| c.name == s.name && element_matches(c, &s.conds))
                })
                .collect();
        }
        cur
    }

    fn values(&self, ctx: &'a Element<'a>, p: &XmlPath) -> Vec<String> {
        self.select(ctx, p)
            .into_iter()
            .filter_map(|e| match &p.attribute {
                Some(a) => e.attr(a).map(|v| v.trim().to_string()),
                None => Some(e.text().trim().to_string()),
            })
            .filter(|v| !v.is_empty())
            .collect()
    }

    fn first_value(&self, ctx: &'a Element<'a>, r: &Rule) -> Option<(String, bool)> {
        r.from.iter().find_map(|s| match s {
            Source::Xml(p) => self
                .values(ctx, p)
                .into_iter()
                .next()
                .map(|v| (v, is_money_text(p))),
            Source::X12(_) => None,
        })
    }

    /// The rule's value, and whether it came from the document (not a constant or default).
    fn rule_value(
        &self,
        ctx: &'a Element<'a>,
        r: &Rule,
    ) -> Result<(Option<Value>, bool), TranslateError> {
        if let (Some(Source::Xml(w)), Some(want)) = (&r.when, &r.when_value) {
            let wants: Vec<&str> = want.split('|').collect();
            match self.values(ctx, w).first() {
                Some(v) if wants.contains(&v.as_str()) => {}
                _ => return Ok((None, false)),
            }
        }
        let (raw, money) = match &r.value {
            Some(v) => (Some(v.clone()), false),
            None => match self.first_value(ctx, r) {
                Some((v, m)) => (Some(v), m),
                None => (None, false),
            },
        };
        let from_doc = r.value.is_none() && raw.is_some();
        Ok((self.finish_value(r, raw, money)?, from_doc))
    }

    fn finish_value(
        &self,
        r: &Rule,
        raw: Option<String>,
        money: bool,
    ) -> Result<Option<Value>, TranslateError> {
        let Some(mapped) = super::table_value(self.map, r, raw.map(Cow::Owned))? else {
            return Ok(None);
        };
        let err = |e: ValueError| super::value_error(self.map, r, e);
        let v = convert::inbound(r.convert, &mapped).map_err(err)?;
        if self.credit && money && r.convert == Convert::Decimal {
            if let Value::String(s) = &v {
                return Ok(negate(s).map(Value::String));
            }
        }
        Ok(Some(v))
    }

    /// Fills `out` from `ctx`; returns whether any value came from the document (an element
    /// holding only constants is not there).
    fn block(
        &self,
        ctx: &'a Element<'a>,
        b: &Block,
        out: &mut JsonMap<String, Value>,
    ) -> Result<bool, TranslateError> {
        let mut missing = Vec::new();
        let mut found_any = false;
        for r in &b.rules {
            if r.only == Some(Only::Outbound) {
                continue;
            }
            let (v, from_doc) = self.rule_value(ctx, r)?;
            found_any |= from_doc;
            match v {
                Some(v) => set_path(out, &r.to, v),
                None if r.required => missing.push(r),
                None => {}
            }
        }
        for c in &b.blocks {
            if c.only == Some(Only::Outbound) {
                continue;
            }
            let Some(Source::Xml(p)) = &c.source else {
                continue;
            };
            let found = self.select(ctx, p);
            if c.array {
                let mut items = Vec::new();
                for inner in found {
                    if let Some(s) = &c.scalar {
                        for src in &s.from {
                            let Source::Xml(sp) = src else { continue };
                            for raw in self.values(inner, sp) {
                                if let Some(v) =
                                    self.finish_value(s, Some(raw), is_money_text(sp))?
                                {
                                    items.push(v);
                                }
                            }
                        }
                        continue;
                    }
                    let mut obj = JsonMap::new();
                    if self.block(inner, c, &mut obj)? {
                        items.push(Value::Object(obj));
                    }
                }
                if !items.is_empty() {
                    found_any = true;
                    append_array(out, &c.to, items);
                }
            } else if let Some(inner) = found.into_iter().next() {
                let mut obj = JsonMap::new();
                if self.block(inner, c, &mut obj)? {
                    found_any = true;
                    set_path(out, &c.to, Value::Object(obj));
                }
            }
        }
        if let Some(r) = missing.first() {
            if b.source.is_none() || found_any {
                return Err(self.map.error(r.line, r.missing_message()));
            }
        }
        Ok(found_any)
    }

    pub fn run(&self) -> Result<JsonMap<String, Value>, TranslateError> {
        let mut out = JsonMap::new();
        self.block(self.doc, &self.map.root, &mut out)?;
        Ok(out)
    }
}

/// Adds items to the array at `path` (several blocks may fill one array).
fn append_array(out: &mut JsonMap<String, Value>, path: &[String], items: Vec<Value>) {
    let existing = {
        let mut cur: Option<&mut Value> = None;
        let mut map: Option<&mut JsonMap<String, Value>> = Some(out);
        for (i, p) in path.iter().enumerate() {
            let Some(m) = map.take() else { break };
            let Some(v) = m.get_mut(p) else { break };
            if i + 1 == path.len() {
                cur = Some(v);
            } else if let Value::Object(inner) = v {
                map = Some(inner);
            }
        }
        cur
    };
    match existing {
        Some(Value::Array(a)) => a.extend(items),
        _ => set_path(out, path, Value::Array(items)),
    }
}

// ---- outbound -----------------------------------------------------------------------------

#[derive(Debug, Default, Clone)]
struct ONode {
    name: String,
    attrs: Vec<(String, String)>,
    text: Option<String>,
    children: Vec<usize>,
}

pub(crate) struct Outbound<'a> {
    pub map: &'a Map,
    nodes: Vec<ONode>,
    /// The parent of every child added, in order: undoing a block pops its additions.
    added: Vec<usize>,
    /// Values from the document written so far: a block that wrote none leaves nothing behind.
    puts: usize,
    credit: bool,
}

fn date_out(v: &str) -> Result<String, ValueError> {
    let d = chrono::NaiveDate::parse_from_str(v.get(..10).unwrap_or(v), "%Y-%m-%d")
        .map_err(|_| ValueError(format!("`{v}` is not a valid date")))?;
    Ok(format!("{}T12:00:00+00:00", d.format("%Y-%m-%d")))
}

impl<'a> Outbound<'a> {
    pub fn new(map: &'a Map, data: &Value) -> Self {
        let document = map.document.clone().unwrap_or_default();
        let credit = document == "InvoiceDetailRequest"
            && data.get("invoice_type").and_then(Value::as_str) == Some("credit");
        Outbound {
            map,
            nodes: vec![ONode {
                name: document,
                ..ONode::default()
            }],
            added: Vec::new(),
            puts: 0,
            credit,
        }
    }

    fn attr_of(&self, n: usize, key: &str) -> Option<&str> {
        self.nodes[n]
            .attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn set_attr(&mut self, n: usize, key: &str, v: &str) {
        match self.nodes[n].attrs.iter_mut().find(|(k, _)| k == key) {
            Some(a) => a.1 = v.to_string(),
            None => self.nodes[n].attrs.push((key.to_string(), v.to_string())),
        }
    }

    fn child_text(&self, n: usize, name: &str) -> Option<&str> {
        self.nodes[n]
            .children
            .iter()
            .find(|&&c| self.nodes[c].name == name)
            .and_then(|&c| self.nodes[c].text.as_deref())
    }

    // Negated conditions select what to read; when writing they never exclude a target.
    fn node_matches(&self, n: usize, conds: &[(String, bool, String)]) -> bool {
        conds.iter().all(|c| {
            let (key, is_attr, values, negated) = cond_parts(c);
            if negated {
                return true;
            }
            if values == ["*"] {
                return true;
            }
            let actual = if is_attr {
                self.attr_of(n, key)
            } else {
                self.child_text(n, key)
            };
            actual.is_some_and(|a| values.contains(&a))
        })
    }

    /// Presence conditions (`[X=*]`, `[X!=*]`) as tests on what is already written.
    fn presence_holds(&self, n: usize, conds: &[(String, bool, String)]) -> bool {
        conds.iter().all(|c| {
            let (key, is_attr, values, negated) = cond_parts(c);
            if values != ["*"] {
                return true;
            }
            let present = if is_attr {
                self.attr_of(n, key).is_some()
            } else if key == "." {
                self.nodes[n].text.as_deref().is_some_and(|t| !t.is_empty())
            } else {
                self.nodes[n]
                    .children
                    .iter()
                    .any(|&c| self.nodes[c].name == key)
            };
            present != negated
        })
    }

    fn new_child(&mut self, parent: usize, name: &str) -> usize {
        let idx = self.nodes.len();
        self.nodes.push(ONode {
            name: name.to_string(),
            ..ONode::default()
        });
        self.nodes[parent].children.push(idx);
        self.added.push(parent);
        idx
    }

    fn seed(&mut self, n: usize, conds: &[(String, bool, String)]) {
        for c in conds {
            let (key, is_attr, values, negated) = cond_parts(c);
            let Some(first) = values.first().map(|v| v.to_string()) else {
                continue;
            };
            if negated || first == "*" {
                continue;
            }
            if is_attr {
                self.set_attr(n, key, &first);
            } else {
                let key = key.to_string();
                let ch = self.new_child(n, &key);
                self.nodes[ch].text = Some(first);
            }
        }
    }

    /// Element steps: find a matching child or create one (always a new one for the last step
    /// of an `each`).
    fn descend(&mut self, mut node: usize, p: &XmlPath, always_new_last: bool) -> usize {
        let n = p.steps.len();
        for (i, s) in p.steps.iter().enumerate() {
            let last = i + 1 == n;
            let existing = if last && always_new_last {
                None
            } else {
                self.nodes[node]
                    .children
                    .iter()
                    .copied()
                    .find(|&c| self.nodes[c].name == s.name && self.node_matches(c, &s.conds))
            };
            node = match existing {
                Some(c) => c,
                None => {
                    let c = self.new_child(node, &s.name);
                    self.seed(c, &s.conds);
                    c
                }
            };
        }
        node
    }

    fn put(&mut self, ctx: usize, p: &XmlPath, v: &str, counts: bool) {
        let start = if p.absolute { 0 } else { ctx };
        let n = if has_presence(p) {
            // A rule writing through a presence condition writes only where the condition
            // holds on what is already there: up to the last step with one, every element must
            // exist; only the steps after it may be created.
            let last_test = p
                .steps
                .iter()
                .rposition(|s| s.conds.iter().any(|c| c.2 == "*"))
                .unwrap_or(0);
            let mut node = start;
            for (i, s) in p.steps.iter().enumerate() {
                let found = self.nodes[node].children.iter().copied().find(|&c| {
                    self.nodes[c].name == s.name
                        && self.node_matches(c, &s.conds)
                        && self.presence_holds(c, &s.conds)
                });
                node = match found {
                    Some(c) => c,
                    None if i <= last_test => return,
                    None => {
                        let c = self.new_child(node, &s.name);
                        self.seed(c, &s.conds);
                        c
                    }
                };
            }
            node
        } else {
            self.descend(start, p, false)
        };
        if counts {
            self.puts += 1;
        }
        match &p.attribute {
            Some(a) => self.set_attr(n, a, v),
            None => self.nodes[n].text = Some(v.to_string()),
        }
    }

    /// Would `v` be accepted by the attribute `p` writes (enumerated attributes only)?
    fn fits(&self, ctx: usize, p: &XmlPath, v: &str) -> bool {
        let Some(attr) = &p.attribute else {
            return true;
        };
        let element = match p.steps.last() {
            Some(s) => s.name.as_str(),
            None if p.absolute => self.nodes[0].name.as_str(),
            None => self.nodes[ctx].name.as_str(),
        };
        ATTR_VALUES
            .iter()
            .find(|(e, a, _)| *e == element && a == attr)
            .is_none_or(|(_, _, values)| values.contains(&v))
    }

    fn convert_out(
        &self,
        r: &Rule,
        p: &XmlPath,
        raw: &str,
    ) -> Result<Option<String>, TranslateError> {
        let err = |e: ValueError| self.map.error(r.line, format!("{}: {e}", r.to_text));
        let v = match r.convert {
            Convert::Date => Some(date_out(raw).map_err(err)?),
            c => convert::outbound(c, raw).map_err(err)?,
        };
        Ok(match v {
            Some(v) if self.credit && r.convert == Convert::Decimal && is_money_text(p) => {
                negate(&v).or(Some(v))
            }
            v => v,
        })
    }

    fn out_value(
        &self,
        r: &Rule,
        p: &XmlPath,
        data: &Value,
    ) -> Result<Option<String>, TranslateError> {
        if let Some(v) = &r.value {
            return Ok(Some(v.clone()));
        }
        let raw = super::plain_value(self.map, r, data)?;
        let Some(raw) = raw else {
            return Ok(r.default.clone());
        };
        let Some(mapped) = super::uncoded_value(self.map, r, raw)? else {
            return Ok(None);
        };
        match self.convert_out(r, p, &mapped)? {
            Some(v) => Ok(Some(v)),
            None => Ok(r.default.clone()),
        }
    }

    /// The constant fields a block sets (`value` without `from`): outbound, the block only
    /// takes the array elements that carry them.
    fn discriminators(b: &Block) -> Vec<(&[String], &str)> {
        b.rules
            .iter()
            .filter(|r| r.from.is_empty() && r.only != Some(Only::Outbound))
            .filter_map(|r| r.value.as_deref().map(|v| (r.to.as_slice(), v)))
            .collect()
    }

    fn claims(b: &Block, item: &Value) -> bool {
        Self::discriminators(b)
            .iter()
            .all(|(to, v)| get_path(item, to).and_then(Value::as_str) == Some(v))
    }

    fn block(&mut self, ctx: usize, b: &Block, data: &Value) -> Result<(), TranslateError> {
        // Rules that test for elements (presence conditions) run after the blocks that make them.
        let (tests, plain): (Vec<&Rule>, Vec<&Rule>) = b
            .rules
            .iter()
            .partition(|r| matches!(r.from.first(), Some(Source::Xml(p)) if has_presence(p)));
        self.rules(ctx, &plain, data)?;
        self.blocks(ctx, b, data)?;
        self.rules(ctx, &tests, data)
    }

    fn rules(&mut self, ctx: usize, rules: &[&Rule], data: &Value) -> Result<(), TranslateError> {
        for r in rules {
            if r.only == Some(Only::Inbound) || r.from.is_empty() {
                continue;
            }
            let Some(Source::Xml(p)) = r.from.first() else {
                continue;
            };
            match self.out_value(r, p, data)? {
                Some(v) if r.if_valid && !self.fits(ctx, p, &v) => {}
                Some(v) if r.value.is_some() => self.put(ctx, p, &v, false),
                Some(v) if !v.is_empty() => self.put(ctx, p, &v, true),
                _ if r.required => {
                    return Err(self.map.error(
                        r.line,
                        format!(
                            "{} is required to write {}, but the document has no value",
                            r.to_text, p.text
                        ),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn blocks(&mut self, ctx: usize, b: &Block, data: &Value) -> Result<(), TranslateError> {
        for c in &b.blocks {
            if c.only == Some(Only::Inbound) {
                continue;
            }
            let Some(Source::Xml(p)) = &c.source else {
                continue;
            };
            let Some(v) = get_path(data, &c.to) else {
                continue;
            };
            let items: Vec<&Value> = match (c.array, v) {
                (true, Value::Array(a)) => {
                    // Blocks declaring the same array share it out by their constants; a block
                    // without constants takes what no sibling claims.
                    let siblings: Vec<&Block> = b
                        .blocks
                        .iter()
                        .filter(|s| s.array && s.to_text == c.to_text)
                        .collect();
                    let own = !Self::discriminators(c).is_empty();
                    a.iter()
                        .filter(|item| {
                            if own {
                                Self::claims(c, item)
                            } else {
                                !siblings.iter().any(|s| {
                                    !Self::discriminators(s).is_empty() && Self::claims(s, item)
                                })
                            }
                        })
                        .collect()
                }
                (true, _) => {
                    return Err(self
                        .map
                        .error(c.line, format!("{} is not an array", c.to_text)))
                }
                (false, v) => vec![v],
            };
            if c.array && p.steps.is_empty() && items.len() > 1 {
                return Err(self.map.error(
                    c.line,
                    format!(
                        "{} has {} elements, but `each = \"{}\"` writes the element it is in, which holds one",
                        c.to_text,
                        items.len(),
                        p.text
                    ),
                ));
            }
            for item in items {
                let start = if p.absolute { 0 } else { ctx };
                let snapshot = (self.nodes.len(), self.puts, self.added.len());
                let inner = self.descend(start, p, c.array);
                if let Some(s) = &c.scalar {
                    if let Some(Source::Xml(sp)) = s.from.first() {
                        let text = match item {
                            Value::String(t) => t.clone(),
                            other => other.to_string(),
                        };
                        if let Some(v) = self.convert_out(s, sp, &text)? {
                            self.put(inner, sp, &v, true);
                        }
                    }
                } else {
                    self.block(inner, c, item)?;
                }
                if self.puts == snapshot.1 {
                    // Children are only ever appended, so the additions since the snapshot are
                    // the last children of their parents, undone in reverse order.
                    while self.added.len() > snapshot.2 {
                        if let Some(parent) = self.added.pop() {
                            self.nodes[parent].children.pop();
                        }
                    }
                    self.nodes.truncate(snapshot.0);
                }
            }
        }
        Ok(())
    }

    fn emit(&self, n: usize) -> Element<'static> {
        let node = &self.nodes[n];
        let mut children: Vec<usize> = node.children.clone();
        children.sort_by_key(|&c| order_index(&node.name, &self.nodes[c].name));
        let mut el = Element::new(node.name.clone());
        el.attributes = node
            .attrs
            .iter()
            .map(|(k, v)| Attribute {
                name: k.clone().into(),
                value: v.clone().into(),
            })
            .collect();
        if let Some(t) = node.text.as_ref().filter(|t| !t.is_empty()) {
            el.children.push(Node::Text(t.clone().into()));
        }
        for c in children {
            el.children.push(Node::Element(self.emit(c)));
        }
        el
    }

    /// Builds the request document element (`OrderRequest`...) from a canonical document.
    pub fn run(mut self, data: &Value) -> Result<Element<'static>, TranslateError> {
        let root = self.map.root.clone();
        self.block(0, &root, data)?;
        Ok(self.emit(0))
    }
}

/// Element names the order table knows (for tests and tools).
pub fn known_parents() -> BTreeSet<&'static str> {
    CHILD_ORDER.iter().map(|(p, _)| *p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_table_has_no_duplicates() {
        let mut seen = BTreeSet::new();
        for (p, children) in CHILD_ORDER {
            assert!(seen.insert(*p), "{p} twice");
            let set: BTreeSet<_> = children.iter().collect();
            assert_eq!(set.len(), children.len(), "{p} lists a child twice");
        }
    }

    #[test]
    fn negation_and_alternatives() {
        let e = Element::new("Contact").with_attr("role", "shipTo");
        let c = |k: &str, v: &str| vec![(k.to_string(), true, v.to_string())];
        assert!(element_matches(&e, &c("role", "billTo|shipTo")));
        assert!(!element_matches(&e, &c("role!", "shipTo")));
        assert!(element_matches(&e, &c("role!", "billTo")));
        assert_eq!(negate("12.50").as_deref(), Some("-12.5"));
        assert_eq!(negate("0").as_deref(), Some("0"));
    }
}
