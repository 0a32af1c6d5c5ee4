//! Identifier newtypes for the canonical model: PO numbers, partner ids, control numbers, line
//! numbers, document numbers, units of measure and currencies.
//!
//! These are opaque business strings, so they are checked only for what every format agrees on
//! (not empty, no control characters, no surrounding blanks). Code-list checks (is `CA` a known
//! UoM for this partner?) belong to maps and partner tables, not here. Check-digit identifiers
//! live in `gs1`, `ndc`, `hibcc` and `udi`.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

/// Why a string was refused as an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} is empty")]
    Empty { kind: &'static str },
    #[error("{kind} {value:?} has leading or trailing whitespace")]
    Untrimmed { kind: &'static str, value: String },
    #[error("{kind} {value:?} contains a control character at byte {position}")]
    ControlCharacter {
        kind: &'static str,
        value: String,
        position: usize,
    },
    #[error("{kind} {value:?} is invalid: expected {expected}")]
    Format {
        kind: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// Shared check for opaque business strings. Blanks at the ends are refused rather than trimmed:
/// trimming is an edge decision (X12 AN padding) the mapper makes knowingly.
///
/// In line where it is called (an id is checked for every document written): the ASCII shortcut
/// here, the rest in `check_opaque_slow`.
#[inline]
fn check_opaque(kind: &'static str, value: &str) -> Result<(), IdError> {
    if printable_ascii_trimmed(value) {
        return Ok(());
    }
    check_opaque_slow(kind, value)
}

#[cold]
fn check_opaque_slow(kind: &'static str, value: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.trim() != value {
        return Err(IdError::Untrimmed {
            kind,
            value: value.to_owned(),
        });
    }
    if let Some((position, _)) = value.char_indices().find(|(_, c)| c.is_control()) {
        return Err(IdError::ControlCharacter {
            kind,
            value: value.to_owned(),
            position,
        });
    }
    Ok(())
}

/// Whether `value` is printable ASCII (space to `~`), not empty and without a space at either
/// end: such text passes every check of `check_opaque`, which most ids meet, at a few
/// instructions a byte rather than `trim` and a `char` walk.
#[inline]
fn printable_ascii_trimmed(value: &str) -> bool {
    let b = value.as_bytes();
    matches!((b.first(), b.last()), (Some(&f), Some(&l)) if f != b' ' && l != b' ')
        && b.iter().all(|&c| (b' '..=b'~').contains(&c))
}

/// Declares a validated string newtype: serde goes through `TryFrom<String>` so that a JSON
/// document can never smuggle in a value the constructor would refuse.
/// An id newtype's check of its text, without taking the value: a writer that only needs to
/// know the text is valid need not copy it. `new` runs the same check.
pub trait CheckedText {
    fn check(value: &str) -> Result<(), IdError>;
}

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident, $kind:literal, $check:expr, $schema:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(String);

        /// The text, as `into = "String"` would write it, without copying it first.
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl CheckedText for $name {
            fn check(value: &str) -> Result<(), IdError> {
                let check: fn(&'static str, &str) -> Result<(), IdError> = $check;
                check($kind, value)
            }
        }

        impl $name {
            /// Validates and wraps the value.
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                let check: fn(&'static str, &str) -> Result<(), IdError> = $check;
                check($kind, &value)?;
                Ok(Self(value))
            }


            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(value: &str) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                $schema
            }
        }
    };
}

fn opaque_schema() -> Schema {
    json_schema!({ "type": "string", "minLength": 1 })
}

string_newtype!(
    /// Purchase order number (BEG03, BAK03, PRF01, BIG04; cXML `orderID`). Case and leading
    /// zeros are significant.
    PoNumber,
    "PO number",
    check_opaque,
    opaque_schema()
);
string_newtype!(
    /// The gateway's id for a trading partner (a key of `gateway.toml`), not an X12 sender id.
    PartnerId,
    "partner id",
    check_opaque,
    opaque_schema()
);
string_newtype!(
    /// An envelope control number (ISA13, GS06, ST02). Kept as sent: `000000905` and `905` are
    /// different strings on the wire even if they compare equal numerically.
    ControlNumber,
    "control number",
    check_opaque,
    opaque_schema()
);
string_newtype!(
    /// The hospital cost centre charged for an order or line (cXML Distribution/Accounting,
    /// REF DP or a partner-specific REF), used for ERP postings.
    CostCentre,
    "cost centre",
    check_opaque,
    opaque_schema()
);
string_newtype!(
    /// Shipment id (BSN02, cXML `shipmentID`).
    ShipmentId,
    "shipment id",
    check_opaque,
    opaque_schema()
);
string_newtype!(
    /// Invoice number (BIG02, cXML `invoiceID`).
    InvoiceNumber,
    "invoice number",
    check_opaque,
    opaque_schema()
);
string_newtype!(
    /// Goods receipt id assigned by the inventory system.
    ReceiptId,
    "receipt id",
    check_opaque,
    opaque_schema()
);

string_newtype!(
    /// A PO line number as sent (PO101, ACK/LIN/IT101 echoes, cXML `lineNumber`): `0001`, `1A`.
    /// A string because partners use letters and leading zeros; see [`LineNumber::matches`].
    LineNumber,
    "line number",
    check_opaque,
    opaque_schema()
);

impl LineNumber {
    /// The line number without leading zeros (`0001` → `1`, `000` → `0`), for correlating a
    /// partner that echoes `1` against an order that said `0001`.
    pub fn normalized(&self) -> &str {
        let trimmed = self.0.trim_start_matches('0');
        if trimmed.is_empty() {
            // All zeros: keep one so that "0" and "000" still name the same line.
            &self.0[self.0.len() - 1..]
        } else {
            trimmed
        }
    }

    /// Same line, ignoring leading zeros.
    pub fn matches(&self, other: &LineNumber) -> bool {
        self.normalized() == other.normalized()
    }
}

fn check_uom(kind: &'static str, value: &str) -> Result<(), IdError> {
    // One pass over the bytes decides the common code: 1 to 8 letters or digits pass
    // `check_opaque` too. Anything else fails; `check_opaque` first says how, as it did.
    if (1..=8).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(());
    }
    uom_refused(kind, value)
}

/// Why `check_uom` refuses `value`; apart, so the common pass saves no registers for it.
#[cold]
fn uom_refused(kind: &'static str, value: &str) -> Result<(), IdError> {
    check_opaque(kind, value)?;
    Err(IdError::Format {
        kind,
        value: value.to_owned(),
        expected: "1 to 8 ASCII letters or digits",
    })
}

string_newtype!(
    /// The canonical unit of measure code. Which code list (X12 355 or UN/CEFACT Rec 20) is a
    /// decision of the UoM tables in `maps/`; the model only keeps the code.
    UomCode,
    "unit of measure",
    check_uom,
    json_schema!({ "type": "string", "pattern": "^[A-Za-z0-9]{1,8}$" })
);

fn check_currency(kind: &'static str, value: &str) -> Result<(), IdError> {
    if value.len() != 3 || !value.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(IdError::Format {
            kind,
            value: value.to_owned(),
            expected: "three upper-case letters (ISO 4217)",
        });
    }
    Ok(())
}

string_newtype!(
    /// ISO 4217 currency code (CUR02, cXML `currency`).
    Currency,
    "currency",
    check_currency,
    json_schema!({ "type": "string", "pattern": "^[A-Z]{3}$" })
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_ids_refuse_blank_and_control_characters() {
        assert!(PoNumber::new("PO-1").is_ok());
        assert!(matches!(PoNumber::new(""), Err(IdError::Empty { .. })));
        assert!(matches!(
            PoNumber::new(" 12"),
            Err(IdError::Untrimmed { .. })
        ));
        assert!(matches!(
            PoNumber::new("1\u{1d}2"),
            Err(IdError::ControlCharacter { position: 1, .. })
        ));
    }

    /// The ASCII shortcut of `check_opaque` accepts only what its full checks accept.
    #[test]
    fn printable_ascii_shortcut_agrees_with_the_full_check() {
        let full = |v: &str| !v.is_empty() && v.trim() == v && !v.chars().any(char::is_control);
        let mut texts: Vec<String> = (0..=255u8)
            .flat_map(|b| {
                let c = char::from(b);
                [
                    c.to_string(),
                    format!("a{c}"),
                    format!("{c}a"),
                    format!("a{c}b"),
                ]
            })
            .collect();
        texts.extend(["", " ", "PO 1", "\u{a0}x", "x\u{2003}", "\u{85}"].map(String::from));
        for t in &texts {
            if printable_ascii_trimmed(t) {
                assert!(full(t), "{t:?}");
            }
            assert_eq!(check_opaque("id", t).is_ok(), full(t), "{t:?}");
        }
    }

    #[test]
    fn line_numbers_match_ignoring_leading_zeros() {
        let a = LineNumber::new("0001").unwrap();
        let b = LineNumber::new("1").unwrap();
        let c = LineNumber::new("1A").unwrap();
        assert!(a.matches(&b));
        assert!(!a.matches(&c));
        assert_eq!(LineNumber::new("000").unwrap().normalized(), "0");
    }

    #[test]
    fn uom_and_currency_formats() {
        assert!(UomCode::new("EA").is_ok());
        assert!(UomCode::new("E A").is_err());
        assert!(Currency::new("USD").is_ok());
        assert!(Currency::new("usd").is_err());
    }

    #[test]
    fn serde_refuses_invalid_values() {
        assert!(serde_json::from_str::<PoNumber>("\"\"").is_err());
        let po: PoNumber = serde_json::from_str("\"4500012345\"").unwrap();
        assert_eq!(serde_json::to_string(&po).unwrap(), "\"4500012345\"");
    }
}
