//! National Drug Codes. NDCs have no check digit; the only safe normalisation to the 11-digit
//! 5-4-2 form (X12 `N4`, billing systems) needs the hyphens, because a bare 10-digit code could
//! be 4-4-2, 5-3-2 or 5-4-1 and each pads a different segment.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NdcError {
    #[error("NDC {value:?} has a character {found:?} at position {position} that is neither a digit nor a hyphen")]
    InvalidCharacter {
        value: String,
        position: usize,
        found: char,
    },
    #[error(
        "NDC {value:?} is 10 digits without hyphens: 4-4-2, 5-3-2 and 5-4-1 cannot be told apart"
    )]
    AmbiguousTenDigits { value: String },
    #[error("NDC {value:?} does not have a 4-4-2, 5-3-2, 5-4-1 or 5-4-2 layout")]
    Layout { value: String },
}

/// An NDC normalised to 11 digits (5-4-2: labeler, product, package).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Ndc(String);

/// The digits, as `into = "String"` would write them, without copying them first (every N4
/// id of every order line is written).
impl Serialize for Ndc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl Ndc {
    /// Parses `1234-5678-90` (4-4-2), `12345-678-90` (5-3-2), `12345-6789-0` (5-4-1),
    /// `12345-6789-01` or `12345678901` (5-4-2), zero-padding the short segment.
    pub fn parse(text: &str) -> Result<Self, NdcError> {
        if let Some((position, found)) = text
            .chars()
            .enumerate()
            .find(|(_, c)| !c.is_ascii_digit() && *c != '-')
        {
            return Err(NdcError::InvalidCharacter {
                value: text.to_owned(),
                position,
                found,
            });
        }
        match normalised_digits(text) {
            Some(digits) => Ok(Self(digits.iter().map(|&b| char::from(b)).collect())),
            None if text.len() == 10 && !text.contains('-') => Err(NdcError::AmbiguousTenDigits {
                value: text.to_owned(),
            }),
            None => Err(NdcError::Layout {
                value: text.to_owned(),
            }),
        }
    }

    /// The 11 digits without hyphens.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 11-digit form with hyphens, `12345-6789-01`.
    pub fn hyphenated(&self) -> String {
        let (labeler, rest) = self.0.split_at(5);
        let (product, package) = rest.split_at(4);
        format!("{labeler}-{product}-{package}")
    }
}

/// The 11 digits of an NDC in one of the layouts `Ndc::parse` takes, made on the stack (no
/// `Ndc`, no allocation); `None` for anything else. `parse` is this plus its errors, and
/// writers that only copy the digits out call it directly.
pub fn normalised_digits(text: &str) -> Option<[u8; 11]> {
    let b = text.as_bytes();
    // The 5-4-2 layout (hyphenated or not), which nearly every NDC sent has, is copied as it
    // is, without the general walk below.
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let mut out = [b'0'; 11];
    match b.len() {
        13 if b[5] == b'-' && b[10] == b'-' => {
            let (l, p, k) = (&b[..5], &b[6..10], &b[11..]);
            if digits(l) && digits(p) && digits(k) {
                out[..5].copy_from_slice(l);
                out[5..9].copy_from_slice(p);
                out[9..].copy_from_slice(k);
                return Some(out);
            }
        }
        11 if digits(b) => {
            out.copy_from_slice(b);
            return Some(out);
        }
        _ => {}
    }
    // The lengths of the hyphen-separated parts; more than three parts is no layout.
    let mut lens = [0usize; 3];
    let mut part = 0;
    for &c in b {
        if c == b'-' {
            part += 1;
            if part > 2 {
                return None;
            }
        } else if c.is_ascii_digit() {
            lens[part] += 1;
        } else {
            return None;
        }
    }
    // Where the padding zero goes, as `parse` puts it (11 digits and 5-4-2, which need none,
    // were copied above).
    let pad = match (part, lens) {
        (2, [4, 4, 2]) => 0,
        (2, [5, 3, 2]) => 5,
        (2, [5, 4, 1]) => 9,
        _ => return None,
    };
    let mut i = 0;
    for &c in b {
        if c == b'-' {
            continue;
        }
        if i == pad {
            i += 1;
        }
        *out.get_mut(i)? = c;
        i += 1;
    }
    Some(out)
}

impl TryFrom<String> for Ndc {
    type Error = NdcError;
    fn try_from(value: String) -> Result<Self, NdcError> {
        Self::parse(&value)
    }
}

impl From<Ndc> for String {
    fn from(value: Ndc) -> String {
        value.0
    }
}

impl fmt::Display for Ndc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for Ndc {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Ndc".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": "^[0-9]{11}$" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_normalise_to_eleven_digits() {
        assert_eq!(Ndc::parse("1234-5678-90").unwrap().as_str(), "01234567890");
        assert_eq!(Ndc::parse("12345-678-90").unwrap().as_str(), "12345067890");
        assert_eq!(Ndc::parse("12345-6789-0").unwrap().as_str(), "12345678900");
        assert_eq!(Ndc::parse("12345-6789-01").unwrap().as_str(), "12345678901");
        assert_eq!(Ndc::parse("12345678901").unwrap().as_str(), "12345678901");
        assert_eq!(
            Ndc::parse("0409-4888-02").unwrap().hyphenated(),
            "00409-4888-02"
        );
    }

    #[test]
    fn ambiguous_and_malformed() {
        assert!(matches!(
            Ndc::parse("1234567890"),
            Err(NdcError::AmbiguousTenDigits { .. })
        ));
        assert!(matches!(
            Ndc::parse("123-4567-890"),
            Err(NdcError::Layout { .. })
        ));
        assert!(matches!(
            Ndc::parse("1234-5678-9O"),
            Err(NdcError::InvalidCharacter { position: 11, .. })
        ));
        assert!(Ndc::parse("").is_err());
        assert!(Ndc::parse("12345--01").is_err());
    }
}
