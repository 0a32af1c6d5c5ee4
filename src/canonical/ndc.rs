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
        // Up to three parts kept on the stack (no `Vec` per id); `count` tells one from three
        // from any other number.
        let mut parts = [""; 3];
        let mut count = 0;
        for (slot, part) in text.split('-').enumerate() {
            if let Some(p) = parts.get_mut(slot) {
                *p = part;
            }
            count += 1;
        }
        let layout = || NdcError::Layout {
            value: text.to_owned(),
        };
        match (count, parts) {
            (1, [whole, _, _]) => match whole.len() {
                11 => Ok(Self((*whole).to_owned())),
                10 => Err(NdcError::AmbiguousTenDigits {
                    value: text.to_owned(),
                }),
                _ => Err(layout()),
            },
            (3, [labeler, product, package]) => {
                // Where the padding zero goes (none for 5-4-2); built by hand, not `format!`:
                // every N4 id of every order line comes through here.
                let pad = match (labeler.len(), product.len(), package.len()) {
                    (4, 4, 2) => Some(0),
                    (5, 3, 2) => Some(1),
                    (5, 4, 1) => Some(2),
                    (5, 4, 2) => None,
                    _ => return Err(layout()),
                };
                let mut normalised = String::with_capacity(11);
                for (i, part) in [labeler, product, package].into_iter().enumerate() {
                    if pad == Some(i) {
                        normalised.push('0');
                    }
                    normalised.push_str(part);
                }
                Ok(Self(normalised))
            }
            _ => Err(layout()),
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
