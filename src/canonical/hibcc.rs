//! HIBCC Supplier Labeling Standard bar code data: the primary data (`+`, labeler id, product
//! number, unit-of-measure digit) and the secondary data (lot, serial, expiry, manufacture date,
//! quantity), with the mod-43 check character.
//!
//! Supported: a primary symbol on its own (`+H123PROD1` + check) and the concatenated form
//! (`+H123PROD1/$$3231231BC34567/S401` + one check for the whole). Not supported yet: a secondary
//! symbol printed separately (`+$$...` with a link character), which needs its primary to
//! verify the link.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::edge::last_day_of_month;

/// The 43 characters of the HIBC (Code 39) set, in check-value order.
const HIBC_CHARSET: &[u8; 43] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HibccError {
    #[error("HIBC data must start with '+'")]
    MissingFlag,
    #[error("HIBC data {value:?} is too short for a labeler id, product number, UoM digit and check character")]
    TooShort { value: String },
    #[error("HIBC data has {found:?} at position {position}, outside the HIBC character set")]
    InvalidCharacter { position: usize, found: char },
    #[error("HIBC check character is {found:?}, expected {expected:?}")]
    CheckCharacter { expected: char, found: char },
    #[error("HIBC labeler id {lic:?} must be 4 characters starting with a letter")]
    LabelerId { lic: String },
    #[error("HIBC product number {product:?} must be 1 to 18 letters or digits")]
    ProductNumber { product: String },
    #[error("HIBC unit-of-measure indicator {found:?} is not a digit")]
    UnitOfMeasure { found: char },
    #[error("HIBC secondary data {field:?}: {reason}")]
    Secondary { field: String, reason: &'static str },
    #[error("HIBC date {value:?} in {field:?} is not a valid date")]
    InvalidDate { field: String, value: String },
}

/// The mod-43 check character over `data` (every character from the leading `+`). `None` if a
/// character is outside the HIBC set.
pub fn hibcc_check_char(data: &str) -> Option<char> {
    let mut sum = 0usize;
    for b in data.bytes() {
        sum += HIBC_CHARSET.iter().position(|c| *c == b)?;
    }
    HIBC_CHARSET.get(sum % 43).map(|b| char::from(*b))
}

/// HIBCC primary data: the device identifier part of a HIBC UDI.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct HibccPrimary {
    /// Labeler identification code: 4 characters, the first alphabetic.
    pub labeler: String,
    /// Product or catalogue number: 1 to 18 letters or digits.
    pub product: String,
    /// Unit of measure / packaging level: 0 is the lowest level.
    pub unit_of_measure: u8,
}

impl HibccPrimary {
    /// The device identifier as written without the check character: `+H123PROD1`.
    pub fn device_identifier(&self) -> String {
        format!("+{}{}{}", self.labeler, self.product, self.unit_of_measure)
    }

    /// Parses a HIBCC product id as it rides in an X12 `HI` pair or a catalogue: with or
    /// without the leading `+`, with or without the check character. The check character is
    /// taken to be present when the last character is the correct mod-43 check for the rest and
    /// the rest is a valid primary; otherwise the whole text must be a valid primary.
    pub fn parse_id(text: &str) -> Result<Self, HibccError> {
        let body = text.strip_prefix('+').unwrap_or(text);
        if let Some((position, found)) = body
            .chars()
            .enumerate()
            .find(|(_, c)| !c.is_ascii() || !HIBC_CHARSET.contains(&(*c as u8)))
        {
            return Err(HibccError::InvalidCharacter { position, found });
        }
        if body.len() > 1 {
            let (data, check) = body.split_at(body.len() - 1);
            if hibcc_check_char(&format!("+{data}")).is_some_and(|c| check.starts_with(c)) {
                if let Ok(primary) = Self::parse_body(data) {
                    return Ok(primary);
                }
            }
        }
        Self::parse_body(body)
    }

    /// Parses the primary data without `+` and without check character (`H123PROD1`).
    fn parse_body(body: &str) -> Result<Self, HibccError> {
        let lic: String = body.chars().take(4).collect();
        if lic.len() != 4 || !lic.starts_with(|c: char| c.is_ascii_uppercase()) {
            return Err(HibccError::LabelerId { lic });
        }
        if !lic
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(HibccError::LabelerId { lic });
        }
        let rest = &body[4..];
        let Some(uom) = rest.chars().last() else {
            return Err(HibccError::ProductNumber {
                product: String::new(),
            });
        };
        let product = &rest[..rest.len() - uom.len_utf8()];
        if product.is_empty()
            || product.len() > 18
            || !product
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(HibccError::ProductNumber {
                product: product.to_owned(),
            });
        }
        let unit_of_measure = uom
            .to_digit(10)
            .and_then(|d| u8::try_from(d).ok())
            .ok_or(HibccError::UnitOfMeasure { found: uom })?;
        Ok(Self {
            labeler: lic,
            product: product.to_owned(),
            unit_of_measure,
        })
    }
}

/// HIBCC secondary data: production identifiers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct HibccSecondary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacture_date: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
}

/// A HIBC label: primary data and, in the concatenated form, secondary data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct HibccLabel {
    pub primary: HibccPrimary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary: Option<HibccSecondary>,
}

impl HibccLabel {
    /// Parses a primary-only or concatenated HIBC symbol's data, check character included.
    /// Bar code start/stop asterisks around human-readable text (`*+H123PROD1X*`) are dropped.
    pub fn parse(text: &str) -> Result<Self, HibccError> {
        let text = text
            .strip_prefix('*')
            .and_then(|t| t.strip_suffix('*'))
            .unwrap_or(text);
        if !text.starts_with('+') {
            return Err(HibccError::MissingFlag);
        }
        if let Some((position, found)) = text
            .chars()
            .enumerate()
            .find(|(_, c)| !c.is_ascii() || !HIBC_CHARSET.contains(&(*c as u8)))
        {
            return Err(HibccError::InvalidCharacter { position, found });
        }
        // '+' + LIC(4) + product(>=1) + UoM + check.
        if text.len() < 8 {
            return Err(HibccError::TooShort {
                value: text.to_owned(),
            });
        }
        // All characters are ASCII here, so byte slicing is on character boundaries.
        let (data, check) = text.split_at(text.len() - 1);
        let found = check.chars().next().unwrap_or('?');
        let expected = hibcc_check_char(data).unwrap_or('?');
        if found != expected {
            return Err(HibccError::CheckCharacter { expected, found });
        }
        let body = &data[1..];
        let (primary_body, secondary) = match body.split_once('/') {
            Some((p, s)) => (p, Some(s)),
            None => (body, None),
        };
        Ok(Self {
            primary: HibccPrimary::parse_body(primary_body)?,
            secondary: secondary.map(parse_secondary).transpose()?,
        })
    }
}

fn secondary_error(field: &str, reason: &'static str) -> HibccError {
    HibccError::Secondary {
        field: field.to_owned(),
        reason,
    }
}

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// `n` leading ASCII digits of `s` as a number, with the rest; `None` if too short or not digits.
fn take_digits(s: &str, n: usize) -> Option<(u32, &str)> {
    let head = s.get(..n)?;
    if !all_digits(head) {
        return None;
    }
    Some((head.parse().ok()?, &s[n..]))
}

/// Parses the secondary data of a concatenated symbol (after the first `/`, check character
/// removed): the lot/expiry field, then supplemental `/`-separated data identifiers.
fn parse_secondary(text: &str) -> Result<HibccSecondary, HibccError> {
    let mut fields = text.split('/');
    let mut out = HibccSecondary::default();
    if let Some(first) = fields.next() {
        parse_lot_field(first, &mut out)?;
    }
    for field in fields {
        if let Some(serial) = field.strip_prefix('S') {
            if serial.is_empty() {
                return Err(secondary_error(field, "empty serial number"));
            }
            out.serial = Some(serial.to_owned());
        } else if let Some(date) = field.strip_prefix("16D") {
            out.manufacture_date = Some(yyyymmdd(field, date)?);
        } else if let Some(date) = field.strip_prefix("14D") {
            out.expiry = Some(yyyymmdd(field, date)?);
        } else if let Some(qty) = field.strip_prefix('Q') {
            out.quantity = Some(
                qty.parse()
                    .map_err(|_| secondary_error(field, "quantity is not a number"))?,
            );
        } else {
            return Err(secondary_error(
                field,
                "unknown supplemental data identifier",
            ));
        }
    }
    Ok(out)
}

fn yyyymmdd(field: &str, date: &str) -> Result<NaiveDate, HibccError> {
    let invalid = || HibccError::InvalidDate {
        field: field.to_owned(),
        value: date.to_owned(),
    };
    if date.len() != 8 || !all_digits(date) {
        return Err(invalid());
    }
    let year = date[..4].parse().map_err(|_| invalid())?;
    let month = date[4..6].parse().map_err(|_| invalid())?;
    let day = date[6..].parse().map_err(|_| invalid())?;
    NaiveDate::from_ymd_opt(year, month, day).ok_or_else(invalid)
}

/// The lot/serial field: `YYJJJlot`, `$lot`, `$+serial`, `$$[8QQ|9QQQQQ]<date format>lot`,
/// `$$+<date format>serial`. An empty field (`+H123PROD1//S123X`) carries nothing.
fn parse_lot_field(field: &str, out: &mut HibccSecondary) -> Result<(), HibccError> {
    if field.is_empty() {
        return Ok(());
    }
    if let Some(rest) = field.strip_prefix("$$+") {
        let (expiry, serial) = dated(field, rest)?;
        out.expiry = expiry;
        out.serial = non_empty(serial);
    } else if let Some(rest) = field.strip_prefix("$$") {
        let rest = match rest.as_bytes().first() {
            Some(b'8') => {
                let (q, r) = take_digits(&rest[1..], 2)
                    .ok_or_else(|| secondary_error(field, "expected 2-digit quantity after $$8"))?;
                out.quantity = Some(q);
                r
            }
            Some(b'9') => {
                let (q, r) = take_digits(&rest[1..], 5)
                    .ok_or_else(|| secondary_error(field, "expected 5-digit quantity after $$9"))?;
                out.quantity = Some(q);
                r
            }
            _ => rest,
        };
        let (expiry, lot) = dated(field, rest)?;
        out.expiry = expiry;
        out.lot = non_empty(lot);
    } else if let Some(serial) = field.strip_prefix("$+") {
        out.serial = non_empty(serial);
    } else if let Some(lot) = field.strip_prefix('$') {
        out.lot = non_empty(lot);
    } else if field.starts_with(|c: char| c.is_ascii_digit()) {
        let (expiry, lot) = julian(field, field)?;
        out.expiry = Some(expiry);
        out.lot = non_empty(lot);
    } else {
        return Err(secondary_error(field, "unknown secondary data format"));
    }
    Ok(())
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// HIBC two-digit years are 20YY: the standard postdates 2000 for every format used on UDIs.
fn hibc_year(yy: u32) -> i32 {
    2000 + i32::try_from(yy).unwrap_or(0)
}

fn julian<'a>(field: &str, s: &'a str) -> Result<(NaiveDate, &'a str), HibccError> {
    let (yy, rest) = take_digits(s, 2).ok_or_else(|| secondary_error(field, "expected YYJJJ"))?;
    let (day, rest) =
        take_digits(rest, 3).ok_or_else(|| secondary_error(field, "expected YYJJJ"))?;
    let date =
        NaiveDate::from_yo_opt(hibc_year(yy), day).ok_or_else(|| HibccError::InvalidDate {
            field: field.to_owned(),
            value: s[..5].to_owned(),
        })?;
    Ok((date, rest))
}

/// Reads the date-format selector after `$$` / `$$+` and the date it announces. The hour of
/// formats 4 and 6 is read but dropped: the model keeps expiry as a date.
fn dated<'a>(field: &str, s: &'a str) -> Result<(Option<NaiveDate>, &'a str), HibccError> {
    let bad_date = |value: &str| HibccError::InvalidDate {
        field: field.to_owned(),
        value: value.to_owned(),
    };
    let need = |n: usize, what: &'static str| -> Result<(), HibccError> {
        match s.get(1..1 + n) {
            Some(d) if all_digits(d) => Ok(()),
            _ => Err(secondary_error(field, what)),
        }
    };
    match s.as_bytes().first() {
        // MMYY: the first digit of the month doubles as the selector. The product expires at the
        // end of that month.
        Some(b'0' | b'1') => {
            let (mm, rest) =
                take_digits(s, 2).ok_or_else(|| secondary_error(field, "expected MMYY"))?;
            let (yy, rest) =
                take_digits(rest, 2).ok_or_else(|| secondary_error(field, "expected MMYY"))?;
            let date = if (1..=12).contains(&mm) {
                last_day_of_month(hibc_year(yy), mm)
            } else {
                None
            };
            Ok((Some(date.ok_or_else(|| bad_date(&s[..4]))?), rest))
        }
        Some(b'2') => {
            need(6, "expected MMDDYY after format 2")?;
            let d = &s[1..7];
            let date = ymd(&d[4..6], &d[0..2], &d[2..4]).ok_or_else(|| bad_date(d))?;
            Ok((Some(date), &s[7..]))
        }
        Some(b'3') | Some(b'4') => {
            let len = if s.starts_with('3') { 6 } else { 8 };
            need(len, "expected YYMMDD[HH] after format 3 or 4")?;
            let d = &s[1..1 + len];
            let date = ymd(&d[0..2], &d[2..4], &d[4..6]).ok_or_else(|| bad_date(d))?;
            Ok((Some(date), &s[1 + len..]))
        }
        Some(b'5') | Some(b'6') => {
            let hours = if s.starts_with('5') { 0 } else { 2 };
            need(5 + hours, "expected YYJJJ[HH] after format 5 or 6")?;
            let (date, rest) = julian(field, &s[1..])?;
            Ok((Some(date), &rest[hours..]))
        }
        Some(b'7') => Ok((None, &s[1..])),
        _ => Err(secondary_error(
            field,
            "unknown date format selector after $$",
        )),
    }
}

fn ymd(yy: &str, mm: &str, dd: &str) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(
        hibc_year(yy.parse().ok()?),
        mm.parse().ok()?,
        dd.parse().ok()?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_check(data: &str) -> String {
        format!("{data}{}", hibcc_check_char(data).unwrap())
    }

    #[test]
    fn primary_only() {
        let label = HibccLabel::parse(&with_check("+A999123451")).unwrap();
        assert_eq!(label.primary.labeler, "A999");
        assert_eq!(label.primary.product, "12345");
        assert_eq!(label.primary.unit_of_measure, 1);
        assert!(label.secondary.is_none());
        // A '/' with nothing after it is an empty secondary, not an error.
        let label = HibccLabel::parse(&with_check("+A999123451/")).unwrap();
        assert_eq!(label.secondary, Some(HibccSecondary::default()));
    }

    #[test]
    fn product_ids_with_or_without_flag_and_check() {
        // '8' is the check character of "+A999123451".
        for text in ["+A999123451", "A999123451", "+A9991234518", "A9991234518"] {
            let primary = HibccPrimary::parse_id(text).unwrap();
            assert_eq!(primary.device_identifier(), "+A999123451", "{text}");
        }
        assert!(HibccPrimary::parse_id("+1999123451").is_err());
        assert!(HibccPrimary::parse_id("").is_err());
    }

    #[test]
    fn mod43_reference_value() {
        // Sum of values for "+A99912345": 41+10+9+9+9+1+2+3+4+5 = 93; 93 mod 43 = 7.
        assert_eq!(hibcc_check_char("+A99912345"), Some('7'));
    }
}
