//! GS1 keys with mod-10 check digits: GTIN (8/12/13/14 digits, stored as GTIN-14), GLN (13) and
//! SSCC (18). Parsing is the only way to build one, so a `Gtin` in a canonical document always
//! has a valid check digit. GS1 element strings (AIs) are parsed in `udi`.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

/// Why a GS1 key was refused. `key` names the key type ("GTIN", "GLN", "SSCC").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Gs1KeyError {
    #[error("{key} has {len} digits, expected {expected}")]
    Length {
        key: &'static str,
        len: usize,
        expected: &'static str,
    },
    #[error("{key} has a non-digit {found:?} at position {position}")]
    NonDigit {
        key: &'static str,
        position: usize,
        found: char,
    },
    #[error("{key} {value} has check digit {found}, expected {expected}")]
    CheckDigit {
        key: &'static str,
        value: String,
        expected: char,
        found: char,
    },
}

/// The GS1 mod-10 check digit for `data` (ASCII digits, without the check digit): weights 3 and
/// 1 alternate starting with 3 at the rightmost data digit. Returns `None` on a non-digit.
pub fn gs1_check_digit(data: &str) -> Option<char> {
    let mut sum = 0u32;
    for (i, b) in data.bytes().rev().enumerate() {
        if !b.is_ascii_digit() {
            return None;
        }
        let weight = if i % 2 == 0 { 3 } else { 1 };
        sum += u32::from(b - b'0') * weight;
    }
    char::from_digit((10 - sum % 10) % 10, 10)
}

/// Checks digits, length and check digit; returns the text unchanged.
fn check_key(
    key: &'static str,
    text: &str,
    lengths: &[usize],
    expected: &'static str,
) -> Result<(), Gs1KeyError> {
    if let Some((position, found)) = text.chars().enumerate().find(|(_, c)| !c.is_ascii_digit()) {
        return Err(Gs1KeyError::NonDigit {
            key,
            position,
            found,
        });
    }
    if !lengths.contains(&text.len()) {
        return Err(Gs1KeyError::Length {
            key,
            len: text.len(),
            expected,
        });
    }
    let (data, check) = text.split_at(text.len() - 1);
    let found = check.chars().next().unwrap_or('?');
    let expected_digit = gs1_check_digit(data).unwrap_or('?');
    if found != expected_digit {
        return Err(Gs1KeyError::CheckDigit {
            key,
            value: text.to_owned(),
            expected: expected_digit,
            found,
        });
    }
    Ok(())
}

macro_rules! gs1_key {
    ($(#[$meta:meta])* $name:ident, $pattern:literal) => {
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

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Gs1KeyError;
            fn try_from(value: String) -> Result<Self, Gs1KeyError> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
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
                json_schema!({ "type": "string", "pattern": $pattern })
            }
        }
    };
}

gs1_key!(
    /// A Global Trade Item Number, always held as 14 digits (GTIN-8/12/13 are zero-padded on the
    /// left, which keeps the check digit valid). Each packaging level has its own GTIN.
    Gtin,
    "^[0-9]{14}$"
);

impl Gtin {
    /// Parses a GTIN-8, -12, -13 or -14 and normalises it to 14 digits.
    pub fn parse(text: &str) -> Result<Self, Gs1KeyError> {
        check_key("GTIN", text, &[8, 12, 13, 14], "8, 12, 13 or 14")?;
        Ok(Self(format!("{text:0>14}")))
    }

    /// The packaging indicator (first digit of the GTIN-14; 0 for a GTIN-12/13 trade item).
    pub fn indicator(&self) -> char {
        self.0.chars().next().unwrap_or('0')
    }
}

gs1_key!(
    /// A Global Location Number (13 digits): docks, departments, bill-to addresses.
    Gln,
    "^[0-9]{13}$"
);

impl Gln {
    pub fn parse(text: &str) -> Result<Self, Gs1KeyError> {
        check_key("GLN", text, &[13], "13")?;
        Ok(Self(text.to_owned()))
    }
}

gs1_key!(
    /// A Serial Shipping Container Code (18 digits), the id of a pack or pallet (MAN*GM).
    Sscc,
    "^[0-9]{18}$"
);

impl Sscc {
    /// Parses an SSCC of 18 digits, or 20 digits led by its application identifier `00` (as
    /// MAN01 `GM` sends it).
    pub fn parse(text: &str) -> Result<Self, Gs1KeyError> {
        let body = match text.strip_prefix("00") {
            Some(rest) if text.len() == 20 => rest,
            _ => text,
        };
        check_key("SSCC", body, &[18], "18 (or 20 with AI 00)")?;
        Ok(Self(body.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_digit_examples() {
        // GS1 General Specifications worked example: GTIN-13 629104150021 + 3.
        assert_eq!(gs1_check_digit("629104150021"), Some('3'));
        assert_eq!(gs1_check_digit("12a"), None);
    }

    #[test]
    fn gtin_lengths_normalise_to_14() {
        assert_eq!(Gtin::parse("96385074").unwrap().as_str(), "00000096385074");
        assert_eq!(
            Gtin::parse("036000291452").unwrap().as_str(),
            "00036000291452"
        );
        assert_eq!(
            Gtin::parse("4006381333931").unwrap().as_str(),
            "04006381333931"
        );
        assert_eq!(
            Gtin::parse("00643169007222").unwrap().as_str(),
            "00643169007222"
        );
    }

    #[test]
    fn gtin_errors_are_precise() {
        assert_eq!(
            Gtin::parse("036000291453"),
            Err(Gs1KeyError::CheckDigit {
                key: "GTIN",
                value: "036000291453".into(),
                expected: '2',
                found: '3'
            })
        );
        assert!(matches!(
            Gtin::parse("0360002914"),
            Err(Gs1KeyError::Length { len: 10, .. })
        ));
        assert!(matches!(
            Gtin::parse("03600029145X"),
            Err(Gs1KeyError::NonDigit {
                position: 11,
                found: 'X',
                ..
            })
        ));
    }

    #[test]
    fn gln_and_sscc() {
        assert!(Gln::parse("0614141000012").is_ok());
        assert!(matches!(
            Gln::parse("0614141000013"),
            Err(Gs1KeyError::CheckDigit { expected: '2', .. })
        ));
        assert!(Gln::parse("06141410000").is_err());
        assert_eq!(
            Sscc::parse("00106141411234567897").unwrap().as_str(),
            "106141411234567897"
        );
        assert!(Sscc::parse("106141411234567897").is_ok());
        assert!(Sscc::parse("106141411234567898").is_err());
    }
}
