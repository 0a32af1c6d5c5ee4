//! Building blocks shared by every canonical document: money and quantities, parties and their
//! ids, item references, traceability (lot, serial, expiry, UDI), allowances and charges, taxes,
//! payment terms, references, and provenance.
//!
//! Code lists are kept small and closed where the gateway acts on the value (party roles, id
//! schemes, purposes); the code as sent rides alongside (`*_code`) so that nothing a partner said
//! is lost when it does not fit the enum.

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::gs1::{Gln, Gtin};
use super::ids::{ControlNumber, Currency, PartnerId, UomCode};
use super::ndc::Ndc;
use super::udi::{Udi, UdiError};

/// An amount of money in one currency. Never a float.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Money {
    pub amount: Decimal,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: Decimal, currency: Currency) -> Self {
        Self { amount, currency }
    }
}

/// A quantity in a unit of measure.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Quantity {
    pub value: Decimal,
    pub uom: UomCode,
}

impl Quantity {
    pub fn new(value: Decimal, uom: UomCode) -> Self {
        Self { value, uom }
    }
}

/// A physical measure such as a weight (TD107/TD108).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Measure {
    pub value: Decimal,
    pub unit: String,
}

/// Why a document or line exists, from X12 353 (BEG01/BAK01/BSN01/BIG08) or the cXML
/// `type`/`operation` attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// `00`, cXML `new`.
    Original,
    /// `04`, cXML `update` on orders.
    Change,
    /// `01`, cXML `delete`.
    Cancel,
    /// `05`.
    Replace,
    /// `06`: confirms an order already placed by phone or in the case record (bill-only).
    Confirmation,
    /// `07`.
    Duplicate,
    /// `18`.
    Reissue,
    /// `22`.
    InformationCopy,
}

/// How urgently a clinical area needs the goods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClinicalPriority {
    Routine,
    Urgent,
    /// Needed immediately (e.g. for a procedure in progress).
    Stat,
}

/// A party's function on a document (X12 N101, cXML Contact `role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartyRole {
    Buyer,
    Supplier,
    ShipTo,
    BillTo,
    ShipFrom,
    RemitTo,
    SoldTo,
    Carrier,
    Manufacturer,
    /// Receiving location (dock, department) on a goods receipt.
    ReceivingLocation,
    /// Anything else; `Party::role_code` keeps the code as sent.
    Other,
}

/// Which numbering scheme a party id belongs to (X12 N103 / element 66, cXML credential domain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartyIdScheme {
    /// GS1 Global Location Number (`UL`).
    Gln,
    /// D-U-N-S (`1`).
    Duns,
    /// D-U-N-S + 4 (`9`).
    DunsPlus4,
    /// Assigned by the buyer (`92`), e.g. the hospital's location code.
    BuyerAssigned,
    /// Assigned by the supplier (`91`), e.g. the supplier's account number for the hospital.
    SupplierAssigned,
    /// Health Industry Number (`21`).
    Hin,
    /// DEA registration number (`11`), needed on controlled-substance orders.
    Dea,
    /// Standard Address Number (`15`).
    San,
    /// Anything else; `PartyId::qualifier` keeps the qualifier as sent.
    Other,
}

/// One identifier of a party.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct PartyId {
    pub scheme: PartyIdScheme,
    /// The qualifier as sent (N103 `ZZ`, cXML domain `NetworkID`); required for `other`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualifier: Option<String>,
    pub value: String,
}

impl PartyId {
    pub fn new(scheme: PartyIdScheme, value: impl Into<String>) -> Self {
        Self {
            scheme,
            qualifier: None,
            value: value.into(),
        }
    }

    /// A GLN id; taking a parsed [`Gln`] keeps the check digit verified.
    pub fn gln(gln: &Gln) -> Self {
        Self::new(PartyIdScheme::Gln, gln.as_str())
    }

    pub fn other(qualifier: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            scheme: PartyIdScheme::Other,
            qualifier: Some(qualifier.into()),
            value: value.into(),
        }
    }
}

/// A postal address (N3/N4, cXML PostalAddress).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// ISO 3166 code as sent (N404, cXML isoCountryCode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// A trading party or location (N1 loop, cXML ShipTo/BillTo/InvoicePartner).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Party {
    pub role: PartyRole,
    /// The role code as sent (N101 `ST`, cXML `billTo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<PartyId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

impl Party {
    pub fn new(role: PartyRole) -> Self {
        Self {
            role,
            role_code: None,
            name: None,
            ids: Vec::new(),
            address: None,
        }
    }

    /// The first id of a scheme.
    pub fn id(&self, scheme: PartyIdScheme) -> Option<&str> {
        self.ids
            .iter()
            .find(|id| id.scheme == scheme)
            .map(|id| id.value.as_str())
    }

    /// The id used in business keys: the most global scheme the party has (GLN, then DUNS, HIN,
    /// DUNS+4, SAN, DEA, buyer-, then supplier-assigned, then other), as `scheme:value`; else
    /// `name:<name>`. `None` for a party with neither ids nor name.
    pub fn key(&self) -> Option<String> {
        const ORDER: [PartyIdScheme; 9] = [
            PartyIdScheme::Gln,
            PartyIdScheme::Duns,
            PartyIdScheme::Hin,
            PartyIdScheme::DunsPlus4,
            PartyIdScheme::San,
            PartyIdScheme::Dea,
            PartyIdScheme::BuyerAssigned,
            PartyIdScheme::SupplierAssigned,
            PartyIdScheme::Other,
        ];
        for scheme in ORDER {
            if let Some(id) = self.ids.iter().find(|id| id.scheme == scheme) {
                let label = match (scheme, &id.qualifier) {
                    (PartyIdScheme::Other, Some(q)) => format!("other.{q}"),
                    _ => scheme_label(scheme).to_owned(),
                };
                return Some(format!("{label}:{}", id.value));
            }
        }
        self.name.as_ref().map(|n| format!("name:{n}"))
    }
}

fn scheme_label(scheme: PartyIdScheme) -> &'static str {
    match scheme {
        PartyIdScheme::Gln => "gln",
        PartyIdScheme::Duns => "duns",
        PartyIdScheme::DunsPlus4 => "duns_plus4",
        PartyIdScheme::BuyerAssigned => "buyer_assigned",
        PartyIdScheme::SupplierAssigned => "supplier_assigned",
        PartyIdScheme::Hin => "hin",
        PartyIdScheme::Dea => "dea",
        PartyIdScheme::San => "san",
        PartyIdScheme::Other => "other",
    }
}

/// A qualified value kept as sent: a product id pair with an unmapped qualifier, a REF segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct QualifiedId {
    pub qualifier: String,
    pub value: String,
}

/// A reference to another document or fact (REF, cXML IdReference/DocumentReference).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Reference {
    /// REF01 or cXML domain, as sent.
    pub qualifier: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// How an item is identified. Several ids are normal; matching is on (PO, line), and the ids are
/// a consistency check that also reveals substitutions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct ItemRef {
    /// Hospital item master number (`BP`/`IN`/`CB`, cXML BuyerPartID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_part: Option<String>,
    /// Supplier's part or catalogue number (`VN`/`VP`/`VC`, cXML SupplierPartID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor_part: Option<String>,
    /// Opaque cXML SupplierPartAuxiliaryID: echo it back exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supplier_aux_id: Option<String>,
    /// Manufacturer part number (`MG`, cXML ManufacturerPartID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer_part: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer_name: Option<String>,
    /// GTIN normalised to 14 digits (`UK`/`UP`/`EN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtin: Option<Gtin>,
    /// HIBCC primary data without check character, `+H123PROD1` (`HI`): the
    /// `device_identifier()` of `HibccPrimary::parse_id`, so that ids sent with or without flag
    /// and check character compare equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hibcc: Option<String>,
    /// NDC normalised to 11 digits (`N4`/`ND`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ndc: Option<Ndc>,
    /// UDI device identifier (a GTIN-14 or HIBCC DI) when sent on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udi_di: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Ids the maps did not place elsewhere, with their qualifiers (and invalid GTINs, which
    /// a map should keep here rather than drop).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_ids: Vec<QualifiedId>,
}

impl ItemRef {
    /// No id and no description at all.
    pub fn is_empty(&self) -> bool {
        *self == ItemRef::default()
    }
}

/// Healthcare traceability for one lot or serial of a line: production identifiers of a UDI.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Traceability {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacture_date: Option<NaiveDate>,
    /// The UDI bar code text as sent, kept raw (see `Udi::parse`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udi: Option<String>,
    /// How much of the line this lot or serial covers, in the line's unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Decimal>,
}

impl Traceability {
    /// Reads a UDI bar code (see [`Udi::parse`]) into production identifiers, keeping the raw
    /// text. The device identifier is not placed here: it belongs in the line's `ItemRef`
    /// (`gtin`/`hibcc`/`udi_di`), where the returned [`Udi`] gives it.
    pub fn from_udi(text: &str) -> Result<(Self, Udi), UdiError> {
        let udi = Udi::parse(text)?;
        let trace = Self {
            lot: udi.lot.clone(),
            serial: udi.serial.clone(),
            expiry_date: udi.expiry,
            manufacture_date: udi.manufacture_date,
            udi: Some(text.to_owned()),
            quantity: None,
        };
        Ok((trace, udi))
    }
}

/// Allowance or charge (SAC01).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AllowanceOrCharge {
    Allowance,
    Charge,
    /// `N`: informational, no effect on the total.
    Neither,
}

/// A header- or line-level allowance or charge (SAC loop, cXML Modifications/Shipping).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct AllowanceCharge {
    pub indicator: AllowanceOrCharge,
    /// SAC02 code as sent (`D240` freight, `C310` discount...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Always positive; `indicator` says whether it adds or subtracts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Decimal>,
    /// SAC12 handling code (`02` off invoice, `06` paid by customer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handling: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A tax amount (TXI, SAC `H850`, cXML Tax).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Tax {
    /// Tax type code as sent (TXI01 `ST` state sales, `LS`, `VA`; cXML category).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_type: Option<String>,
    pub amount: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jurisdiction: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Payment terms (ITD, cXML PaymentTerm).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct PaymentTerms {
    /// ITD01 as sent (`01` basic, `08` discount offered, `14` previously agreed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_percent: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_due_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_due_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Carrier and routing (TD5, CAD, cXML ShipControl).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Carrier {
    /// Standard Carrier Alpha Code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// TD504 / CAD01 as sent (`M` motor, `U` parcel, `A` air...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<String>,
}

/// Format a document arrived in (or was created from).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    X12,
    Cxml,
    /// The HTTP API or a CSV import (procurement platform, inventory system).
    Api,
}

/// Where a canonical document came from. Kept in one field, apart from the business content,
/// because two deliveries of the same business document differ only here; `business_eq`
/// ignores it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Provenance {
    pub source_format: SourceFormat,
    /// `004010`, `005010`, cXML `1.2.063`, API `v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The trading partner the document came from (or is for, when outbound).
    pub partner: PartnerId,
    /// ISA13.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interchange_control: Option<ControlNumber>,
    /// GS06.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_control: Option<ControlNumber>,
    /// ST02.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_control: Option<ControlNumber>,
    /// cXML payloadID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_id: Option<String>,
    /// The inbox entry holding the raw payload, for replay and audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbox_id: Option<String>,
    pub received_at: DateTime<FixedOffset>,
    /// Hash of the grammar and map versions that produced this document, so a replay can tell
    /// whether re-mapping would give something different.
    pub producer_hash: String,
}

impl Provenance {
    pub fn new(
        source_format: SourceFormat,
        partner: PartnerId,
        received_at: DateTime<FixedOffset>,
        producer_hash: impl Into<String>,
    ) -> Self {
        Self {
            source_format,
            version: None,
            partner,
            interchange_control: None,
            group_control: None,
            set_control: None,
            payload_id: None,
            inbox_id: None,
            received_at,
            producer_hash: producer_hash.into(),
        }
    }
}

/// Implements `business_eq` (equality ignoring `provenance`). The destructuring is exhaustive,
/// so adding a field to a document without listing it here fails to compile.
macro_rules! impl_business_eq {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl $ty {
            /// Equal as business documents: every field but `provenance`.
            pub fn business_eq(&self, other: &Self) -> bool {
                let $ty { provenance: _, $($field),* } = self;
                true $(&& *$field == other.$field)*
            }
        }
    };
}
pub(crate) use impl_business_eq;
