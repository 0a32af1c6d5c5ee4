//! The canonical functional acknowledgement: a 997 or 999 about one functional group (its
//! transaction sets, their statuses and error codes), a TA1 about an interchange, or a cXML
//! `Response` Status about a payload. Syntax-level only; business acceptance is the `OrderAck`.
//!
//! Error codes are kept as the X12 code strings (`AK304` `8`, `AK403` `2`, 999 `I6`...) because
//! 997 and 999 code lists differ and the codes are what partners and analysts read.

use chrono::{NaiveDate, NaiveTime};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{impl_business_eq, Provenance};
use super::ids::ControlNumber;

/// Which acknowledgement this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AckFormat {
    #[serde(rename = "x12_997")]
    X12Fa997,
    #[serde(rename = "x12_999")]
    X12Fa999,
    Ta1,
    CxmlStatus,
}

impl AckFormat {
    /// The JSON name (`x12_997`, `x12_999`, `ta1`, `cxml_status`).
    pub fn as_str(self) -> &'static str {
        match self {
            AckFormat::X12Fa997 => "x12_997",
            AckFormat::X12Fa999 => "x12_999",
            AckFormat::Ta1 => "ta1",
            AckFormat::CxmlStatus => "cxml_status",
        }
    }
}

/// AK501/IK501/AK901/TA104 status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AckCode {
    /// `A`.
    Accepted,
    /// `E`.
    AcceptedWithErrors,
    /// `P` (group level only).
    PartiallyAccepted,
    /// `R`.
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FunctionalAck {
    pub provenance: Provenance,
    pub format: AckFormat,
    /// The group acknowledged (997/999).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<AckedGroup>,
    /// The interchange acknowledged (TA1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interchange: Option<AckedInterchange>,
    /// The cXML payload answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cxml: Option<CxmlStatus>,
}

/// AK1 + AK2 loops + AK9.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AckedGroup {
    /// AK101 = GS01 (`PO`, `IN`...).
    pub functional_id: String,
    /// AK102 = GS06.
    pub control_number: ControlNumber,
    /// AK103 = GS08 (5010).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// AK901.
    pub status: AckCode,
    /// AK905–AK909.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_codes: Vec<String>,
    /// AK902.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sets_included: Option<u32>,
    /// AK903.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sets_received: Option<u32>,
    /// AK904.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sets_accepted: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sets: Vec<AckedSet>,
}

/// AK2 loop: one transaction set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AckedSet {
    /// AK201 = ST01 (`850`).
    pub set_id: String,
    /// AK202 = ST02.
    pub control_number: ControlNumber,
    /// AK203 = ST03 (5010).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implementation_reference: Option<String>,
    /// AK501.
    pub status: AckCode,
    /// AK502–AK506.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_codes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segment_errors: Vec<SegmentError>,
}

/// AK3/IK3 with its AK4/IK4s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SegmentError {
    /// AK301.
    pub segment_id: String,
    /// AK302: position in the set, ST = 1.
    pub position: u32,
    /// AK303.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loop_id: Option<String>,
    /// AK304.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub element_errors: Vec<ElementError>,
}

/// AK4/IK4.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ElementError {
    /// AK401-1: element position in the segment.
    pub position: u32,
    /// AK401-2: component position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<u32>,
    /// AK401-3: repetition (5010).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetition: Option<u32>,
    /// AK402: data element reference number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element_ref: Option<String>,
    /// AK403.
    pub code: String,
    /// AK404: copy of the bad data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bad_data: Option<String>,
}

/// TA1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AckedInterchange {
    /// TA101 = ISA13.
    pub control_number: ControlNumber,
    /// TA102.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    /// TA103.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<NaiveTime>,
    /// TA104.
    pub status: AckCode,
    /// TA105 note code (`000` no error...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note_code: Option<String>,
}

/// cXML Response Status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CxmlStatus {
    /// The payloadID answered.
    pub in_reply_to: String,
    pub code: u16,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl_business_eq!(FunctionalAck {
    format,
    group,
    interchange,
    cxml,
});
