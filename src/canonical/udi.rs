//! Unique Device Identifiers (FDA UDI = device identifier + production identifiers) read from
//! the bar code text a supplier sends: GS1 element strings, in the human-readable parentheses
//! form `(01)…(17)…(10)…(21)…` or the raw form with FNC1 (ASCII GS, 0x1D) after variable-length
//! fields, and HIBCC labels (see `hibcc`). ICCBBA ISBT 128 is not supported.
//!
//! The GS1 application identifiers read here are the UDI ones (01, 10, 11, 17, 21) plus a few
//! that travel with them on device labels (00, 02, 13, 15, 16, 22, 30, 240, 241), kept raw in
//! `other`. An AI outside that list is an error in the raw form because its length is unknown,
//! and, for consistency, in the parentheses form too.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::edge::last_day_of_month;
use super::gs1::{Gs1KeyError, Gtin};
use super::hibcc::{HibccError, HibccLabel, HibccPrimary};

/// ASCII group separator, the FNC1 stand-in between GS1 fields in scanned data.
const GS: char = '\u{1d}';

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UdiError {
    #[error("UDI is empty")]
    Empty,
    #[error("UDI does not start like a GS1 element string or a HIBC label")]
    UnrecognisedFormat,
    #[error("unknown or unsupported GS1 application identifier at position {position}")]
    UnknownAi { position: usize },
    #[error("malformed parentheses form at position {position}: {reason}")]
    Parentheses {
        position: usize,
        reason: &'static str,
    },
    #[error("GS1 AI ({ai}) at position {position} needs {expected} characters, found {found}")]
    Truncated {
        ai: &'static str,
        position: usize,
        expected: usize,
        found: usize,
    },
    #[error("GS1 AI ({ai}) value is {len} characters, at most {max} allowed")]
    TooLong {
        ai: &'static str,
        len: usize,
        max: usize,
    },
    #[error("GS1 AI ({ai}) value {value:?}: {reason}")]
    InvalidValue {
        ai: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("GS1 AI ({ai}) date {value:?} is not a valid YYMMDD date")]
    InvalidDate { ai: &'static str, value: String },
    #[error("GS1 AI ({ai}) appears more than once")]
    DuplicateAi { ai: &'static str },
    #[error("GS1 element string has no device identifier (AI 01)")]
    MissingDeviceIdentifier,
    #[error("GS1 AI (01): {0}")]
    Gtin(#[from] Gs1KeyError),
    #[error(transparent)]
    Hibcc(#[from] HibccError),
}

/// Which issuing agency's format the UDI came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UdiIssuer {
    Gs1,
    Hibcc,
}

/// A GS1 field read but not interpreted (e.g. AI 30 count, AI 240 additional id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct AiValue {
    pub ai: String,
    pub value: String,
}

/// A parsed UDI.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Udi {
    pub issuer: UdiIssuer,
    /// The DI: a GTIN-14 for GS1, `+` + labeler + product + UoM digit for HIBCC.
    pub device_identifier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtin: Option<Gtin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hibcc: Option<HibccPrimary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacture_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<AiValue>,
}

impl Udi {
    /// Parses a UDI from bar code text: GS1 (parentheses or raw with GS separators, an optional
    /// symbology identifier such as `]d2` in front) or HIBCC (`+…`).
    pub fn parse(text: &str) -> Result<Self, UdiError> {
        let text = strip_symbology_id(text);
        match text.chars().next() {
            None => Err(UdiError::Empty),
            Some('+') | Some('*') => Self::from_hibcc(HibccLabel::parse(text)?),
            Some('(') => Self::from_gs1(parse_parenthesised(text)?),
            Some(c) if c.is_ascii_digit() || c == GS => Self::from_gs1(parse_raw(text)?),
            Some(_) => Err(UdiError::UnrecognisedFormat),
        }
    }

    fn from_hibcc(label: HibccLabel) -> Result<Self, UdiError> {
        let secondary = label.secondary.unwrap_or_default();
        Ok(Self {
            issuer: UdiIssuer::Hibcc,
            device_identifier: label.primary.device_identifier(),
            gtin: None,
            hibcc: Some(label.primary),
            lot: secondary.lot,
            serial: secondary.serial,
            expiry: secondary.expiry,
            manufacture_date: secondary.manufacture_date,
            other: Vec::new(),
        })
    }

    fn from_gs1(fields: Vec<(&'static Ai, String)>) -> Result<Self, UdiError> {
        let mut udi = Self {
            issuer: UdiIssuer::Gs1,
            device_identifier: String::new(),
            gtin: None,
            hibcc: None,
            lot: None,
            serial: None,
            expiry: None,
            manufacture_date: None,
            other: Vec::new(),
        };
        let mut seen: Vec<&'static str> = Vec::new();
        for (ai, value) in fields {
            if seen.contains(&ai.code) {
                return Err(UdiError::DuplicateAi { ai: ai.code });
            }
            seen.push(ai.code);
            match ai.code {
                "01" => udi.gtin = Some(Gtin::parse(&value)?),
                "10" => udi.lot = Some(value),
                "21" => udi.serial = Some(value),
                "17" => udi.expiry = Some(gs1_date(ai.code, &value, DayZero::EndOfMonth)?),
                "11" => {
                    udi.manufacture_date = Some(gs1_date(ai.code, &value, DayZero::StartOfMonth)?)
                }
                _ => udi.other.push(AiValue {
                    ai: ai.code.to_owned(),
                    value,
                }),
            }
        }
        let gtin = udi.gtin.as_ref().ok_or(UdiError::MissingDeviceIdentifier)?;
        udi.device_identifier = gtin.as_str().to_owned();
        Ok(udi)
    }
}

/// Drops a leading symbology identifier (`]C1` GS1-128, `]d2` DataMatrix, `]Q3` QR, `]e0`
/// DataBar) and the FNC1 that scanners may pass through as a leading GS.
fn strip_symbology_id(text: &str) -> &str {
    let text = match text.strip_prefix(']') {
        Some(rest) if rest.len() >= 2 && rest.is_char_boundary(2) => &rest[2..],
        _ => text,
    };
    text.strip_prefix(GS).unwrap_or(text)
}

/// An application identifier this parser knows: fixed length or variable up to `max`, numeric
/// or alphanumeric (GS1 character set 82).
struct Ai {
    code: &'static str,
    fixed: bool,
    max: usize,
    numeric: bool,
}

const fn ai(code: &'static str, fixed: bool, max: usize, numeric: bool) -> Ai {
    Ai {
        code,
        fixed,
        max,
        numeric,
    }
}

const KNOWN_AIS: &[Ai] = &[
    ai("00", true, 18, true),
    ai("01", true, 14, true),
    ai("02", true, 14, true),
    ai("10", false, 20, false),
    ai("11", true, 6, true),
    ai("13", true, 6, true),
    ai("15", true, 6, true),
    ai("16", true, 6, true),
    ai("17", true, 6, true),
    ai("21", false, 20, false),
    ai("22", false, 20, false),
    ai("30", false, 8, true),
    ai("240", false, 30, false),
    ai("241", false, 30, false),
];

/// GS1 AIs are prefix-free, so the first table entry that prefixes the text is the AI.
fn lookup_ai(text: &str) -> Option<&'static Ai> {
    KNOWN_AIS.iter().find(|ai| text.starts_with(ai.code))
}

/// GS1 character set 82 (printable ASCII less a few), the alphabet of alphanumeric AIs.
fn is_cset82(c: char) -> bool {
    c.is_ascii_graphic()
        && !matches!(
            c,
            '#' | '$' | '@' | '[' | '\\' | ']' | '^' | '`' | '{' | '|' | '}' | '~'
        )
}

fn check_value(ai: &'static Ai, value: &str) -> Result<(), UdiError> {
    if value.is_empty() {
        return Err(UdiError::InvalidValue {
            ai: ai.code,
            value: String::new(),
            reason: "empty value",
        });
    }
    let len = value.chars().count();
    if len > ai.max {
        return Err(UdiError::TooLong {
            ai: ai.code,
            len,
            max: ai.max,
        });
    }
    if ai.fixed && len != ai.max {
        return Err(UdiError::InvalidValue {
            ai: ai.code,
            value: value.to_owned(),
            reason: "wrong length for a fixed-length AI",
        });
    }
    let ok = if ai.numeric {
        value.chars().all(|c| c.is_ascii_digit())
    } else {
        value.chars().all(is_cset82)
    };
    if !ok {
        return Err(UdiError::InvalidValue {
            ai: ai.code,
            value: value.to_owned(),
            reason: if ai.numeric {
                "digits expected"
            } else {
                "character outside the GS1 character set"
            },
        });
    }
    Ok(())
}

/// Raw element string: fixed-length fields end by length, variable ones at a GS or the end.
fn parse_raw(text: &str) -> Result<Vec<(&'static Ai, String)>, UdiError> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let rest = &text[pos..];
        // Some encoders put a GS after fixed-length fields too; it is harmless.
        if let Some(after) = rest.strip_prefix(GS) {
            pos = text.len() - after.len();
            continue;
        }
        let ai = lookup_ai(rest).ok_or(UdiError::UnknownAi { position: pos })?;
        let value_start = pos + ai.code.len();
        let value_text = &text[value_start..];
        let value = if ai.fixed {
            let available = value_text.chars().take_while(|c| *c != GS).count();
            if available < ai.max {
                return Err(UdiError::Truncated {
                    ai: ai.code,
                    position: value_start,
                    expected: ai.max,
                    found: available,
                });
            }
            // ASCII digits are checked by check_value; take by chars to stay on boundaries.
            let end = value_text
                .char_indices()
                .nth(ai.max)
                .map_or(value_text.len(), |(i, _)| i);
            &value_text[..end]
        } else {
            value_text.split(GS).next().unwrap_or("")
        };
        check_value(ai, value)?;
        fields.push((ai, value.to_owned()));
        pos = value_start + value.len();
    }
    Ok(fields)
}

/// Parentheses form `(01)00643169007222(17)141120…`. Values cannot contain `(`: GS1 allows it in
/// lots, but the human-readable form cannot say where such a value ends.
fn parse_parenthesised(text: &str) -> Result<Vec<(&'static Ai, String)>, UdiError> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let rest = &text[pos..];
        let Some(after_open) = rest.strip_prefix('(') else {
            return Err(UdiError::Parentheses {
                position: pos,
                reason: "expected '('",
            });
        };
        let Some(close) = after_open.find(')') else {
            return Err(UdiError::Parentheses {
                position: pos,
                reason: "'(' without ')'",
            });
        };
        let code = &after_open[..close];
        let ai = KNOWN_AIS
            .iter()
            .find(|ai| ai.code == code)
            .ok_or(UdiError::UnknownAi { position: pos + 1 })?;
        let value_start = pos + 1 + close + 1;
        let value_text = &text[value_start..];
        let value = &value_text[..value_text.find('(').unwrap_or(value_text.len())];
        check_value(ai, value)?;
        fields.push((ai, value.to_owned()));
        pos = value_start + value.len();
    }
    Ok(fields)
}

/// What day `00` means in a GS1 YYMMDD date.
enum DayZero {
    /// GS1: an expiry or best-before with day 00 means the last day of the month.
    EndOfMonth,
    /// A production date with day 00 names only the month; its first day is the earliest the
    /// device can have been made.
    StartOfMonth,
}

/// GS1 YYMMDD. Years are read as 20YY: fixed so that re-reading a document years later gives
/// the same date (the GS1 sliding window is relative to today), and right for every UDI date
/// until 2050.
fn gs1_date(ai: &'static str, value: &str, day_zero: DayZero) -> Result<NaiveDate, UdiError> {
    let invalid = || UdiError::InvalidDate {
        ai,
        value: value.to_owned(),
    };
    let num = |r: std::ops::Range<usize>| value.get(r).and_then(|s| s.parse::<u32>().ok());
    let (yy, mm, dd) = match (num(0..2), num(2..4), num(4..6)) {
        (Some(y), Some(m), Some(d)) if value.len() == 6 => (y, m, d),
        _ => return Err(invalid()),
    };
    let year = 2000 + i32::try_from(yy).map_err(|_| invalid())?;
    let date = match (dd, day_zero) {
        (0, DayZero::EndOfMonth) if (1..=12).contains(&mm) => last_day_of_month(year, mm),
        (0, DayZero::StartOfMonth) => NaiveDate::from_ymd_opt(year, mm, 1),
        _ => NaiveDate::from_ymd_opt(year, mm, dd),
    };
    date.ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn day_zero_expiry_is_end_of_month() {
        let udi = Udi::parse("(01)00643169007222(17)240200").unwrap();
        assert_eq!(udi.expiry, Some(date(2024, 2, 29)));
        let udi = Udi::parse("(01)00643169007222(11)240200").unwrap();
        assert_eq!(udi.manufacture_date, Some(date(2024, 2, 1)));
    }

    #[test]
    fn symbology_identifier_and_leading_fnc1_are_ignored() {
        let udi = Udi::parse("]d2\u{1d}0100643169007222").unwrap();
        assert_eq!(udi.device_identifier, "00643169007222");
    }

    #[test]
    fn other_ais_are_kept() {
        let udi = Udi::parse("(01)00643169007222(30)5(240)ABC-1").unwrap();
        assert_eq!(
            udi.other,
            vec![
                AiValue {
                    ai: "30".into(),
                    value: "5".into()
                },
                AiValue {
                    ai: "240".into(),
                    value: "ABC-1".into()
                }
            ]
        );
    }
}
