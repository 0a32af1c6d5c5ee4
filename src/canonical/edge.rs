//! Conversions at the edge of the model: X12 implied-decimal numbers (N0..N9), explicit decimals
//! (R), dates (DT: CCYYMMDD or YYMMDD) and times (TM: HHMM[SS[d..]]).
//!
//! Decoders and maps call these so that the canonical model only ever holds `Decimal`,
//! `NaiveDate` and `NaiveTime`. Each function takes the element text exactly as sent and
//! refuses anything it would have to guess at; it never trims.

use chrono::{NaiveDate, NaiveTime};
use rust_decimal::Decimal;

/// Why an element's text could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EdgeError {
    #[error("invalid number {value:?}: {reason}")]
    InvalidNumber { value: String, reason: &'static str },
    #[error("invalid date {value:?}: {reason}")]
    InvalidDate { value: String, reason: &'static str },
    #[error("invalid time {value:?}: {reason}")]
    InvalidTime { value: String, reason: &'static str },
}

fn number_error(value: &str, reason: &'static str) -> EdgeError {
    EdgeError::InvalidNumber {
        value: value.to_owned(),
        reason,
    }
}

/// Splits an optional leading sign. X12 numbers carry a minus only; a plus is tolerated because
/// cXML and CSV receipts send one.
fn split_sign(text: &str) -> (bool, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    }
}

/// Converts an X12 implied-decimal field (type Nn): `implied_decimal("123456", 2)` is 1234.56,
/// `implied_decimal("-5", 2)` is -0.05. The text must be digits with an optional sign; a decimal
/// point is refused because Nn never carries one (a point there means the partner sent R).
pub fn implied_decimal(digits: &str, places: u32) -> Result<Decimal, EdgeError> {
    const MAX_SCALE: u32 = 28;
    if places > MAX_SCALE {
        return Err(number_error(digits, "more than 28 implied decimal places"));
    }
    let (negative, body) = split_sign(digits);
    if body.is_empty() {
        return Err(number_error(digits, "no digits"));
    }
    let mut mantissa: i128 = 0;
    for b in body.bytes() {
        if !b.is_ascii_digit() {
            return Err(number_error(
                digits,
                "only digits and a leading sign allowed",
            ));
        }
        mantissa = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(i128::from(b - b'0')))
            .ok_or_else(|| number_error(digits, "too many digits"))?;
    }
    if negative {
        mantissa = -mantissa;
    }
    Decimal::try_from_i128_with_scale(mantissa, places)
        .map_err(|_| number_error(digits, "too many digits"))
}

/// Parses an explicit decimal (X12 type R, cXML Money): optional sign, digits, at most one
/// point, at least one digit (`12`, `12.50`, `.5`, `-3.`). Exponents, grouping separators and
/// blanks are refused: they are never legal in R and would hide a mapping error.
pub fn parse_decimal(text: &str) -> Result<Decimal, EdgeError> {
    let (negative, body) = split_sign(text);
    let mut digits = 0usize;
    let mut points = 0usize;
    for b in body.bytes() {
        match b {
            b'0'..=b'9' => digits += 1,
            b'.' => points += 1,
            _ => {
                return Err(number_error(
                    text,
                    "only digits, one point and a leading sign allowed",
                ))
            }
        }
    }
    if digits == 0 {
        return Err(number_error(text, "no digits"));
    }
    if points > 1 {
        return Err(number_error(text, "more than one decimal point"));
    }
    let (int_part, frac_part) = body.split_once('.').unwrap_or((body, ""));
    let scale =
        u32::try_from(frac_part.len()).map_err(|_| number_error(text, "too many digits"))?;
    let value = implied_decimal(&format!("{int_part}{frac_part}"), scale)
        .map_err(|_| number_error(text, "too many digits"))?;
    Ok(if negative { -value } else { value })
}

fn date_error(value: &str, reason: &'static str) -> EdgeError {
    EdgeError::InvalidDate {
        value: value.to_owned(),
        reason,
    }
}

/// Reads `len` ASCII digits starting at `at`; the caller has checked that all bytes are digits.
fn digits_at(bytes: &[u8], at: usize, len: usize) -> u32 {
    bytes[at..at + len]
        .iter()
        .fold(0u32, |acc, b| acc * 10 + u32::from(b - b'0'))
}

/// Century window for six-digit X12 dates (ISA09, 004010 DT 6/6): 00–49 are 20xx, 50–99 are
/// 19xx. Fixed rather than relative to today so that replaying a document gives the same result.
pub fn x12_century(yy: u32) -> i32 {
    let yy = i32::try_from(yy % 100).unwrap_or(0);
    if yy < 50 {
        2000 + yy
    } else {
        1900 + yy
    }
}

/// Parses an X12 date: CCYYMMDD (8 digits) or YYMMDD (6 digits, see [`x12_century`]).
/// Impossible calendar dates (Feb 30, month 13) are refused.
pub fn parse_date(text: &str) -> Result<NaiveDate, EdgeError> {
    let bytes = text.as_bytes();
    if !bytes.iter().all(u8::is_ascii_digit) {
        return Err(date_error(text, "only digits allowed"));
    }
    let (year, rest) = match bytes.len() {
        8 => (i32::try_from(digits_at(bytes, 0, 4)).unwrap_or(0), 4),
        6 => (x12_century(digits_at(bytes, 0, 2)), 2),
        _ => return Err(date_error(text, "expected CCYYMMDD or YYMMDD")),
    };
    let month = digits_at(bytes, rest, 2);
    let day = digits_at(bytes, rest + 2, 2);
    if !(1..=12).contains(&month) {
        return Err(date_error(text, "month out of range"));
    }
    NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| date_error(text, "no such day"))
}

/// The last day of a month, for expiry dates that name only a month (GS1 day `00`, HIBCC MMYY).
pub fn last_day_of_month(year: i32, month: u32) -> Option<NaiveDate> {
    let (next_year, next_month) = if month == 12 {
        (year.checked_add(1)?, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(next_year, next_month, 1)?.pred_opt()
}

fn time_error(value: &str, reason: &'static str) -> EdgeError {
    EdgeError::InvalidTime {
        value: value.to_owned(),
        reason,
    }
}

/// Parses an X12 time (TM 4/8): HHMM, HHMMSS, or HHMMSS followed by one or two decimal-second
/// digits (`HHMMSSd` tenths, `HHMMSSdd` hundredths). Leap seconds are refused.
pub fn parse_time(text: &str) -> Result<NaiveTime, EdgeError> {
    let bytes = text.as_bytes();
    if !bytes.iter().all(u8::is_ascii_digit) {
        return Err(time_error(text, "only digits allowed"));
    }
    if !matches!(bytes.len(), 4 | 6 | 7 | 8) {
        return Err(time_error(text, "expected HHMM, HHMMSS or HHMMSSd[d]"));
    }
    let hour = digits_at(bytes, 0, 2);
    let minute = digits_at(bytes, 2, 2);
    let second = if bytes.len() >= 6 {
        digits_at(bytes, 4, 2)
    } else {
        0
    };
    let nanos = match bytes.len() {
        7 => digits_at(bytes, 6, 1) * 100_000_000,
        8 => digits_at(bytes, 6, 2) * 10_000_000,
        _ => 0,
    };
    if hour > 23 {
        return Err(time_error(text, "hour out of range"));
    }
    if minute > 59 {
        return Err(time_error(text, "minute out of range"));
    }
    if second > 59 {
        return Err(time_error(text, "second out of range"));
    }
    NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)
        .ok_or_else(|| time_error(text, "no such time"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn implied_decimals() {
        assert_eq!(implied_decimal("123456", 2).unwrap(), dec("1234.56"));
        assert_eq!(implied_decimal("-5", 2).unwrap(), dec("-0.05"));
        assert_eq!(implied_decimal("+7", 0).unwrap(), dec("7"));
        assert_eq!(implied_decimal("000", 2).unwrap(), Decimal::ZERO);
        assert!(implied_decimal("", 2).is_err());
        assert!(implied_decimal("-", 2).is_err());
        assert!(implied_decimal("12.34", 2).is_err());
        assert!(implied_decimal("1 2", 2).is_err());
        assert!(implied_decimal("1", 29).is_err());
        assert!(implied_decimal(&"9".repeat(40), 2).is_err());
    }

    #[test]
    fn explicit_decimals() {
        assert_eq!(parse_decimal("12.50").unwrap(), dec("12.50"));
        assert_eq!(parse_decimal(".5").unwrap(), dec("0.5"));
        assert_eq!(parse_decimal("-3.").unwrap(), dec("-3"));
        assert_eq!(parse_decimal("-0.25").unwrap(), dec("-0.25"));
        assert!(parse_decimal("1e5").is_err());
        assert!(parse_decimal("1.2.3").is_err());
        assert!(parse_decimal(".").is_err());
        assert!(parse_decimal("1,000").is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(
            parse_date("20240229").unwrap(),
            NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()
        );
        assert_eq!(
            parse_date("240115").unwrap(),
            NaiveDate::from_ymd_opt(2024, 1, 15).unwrap()
        );
        assert_eq!(
            parse_date("991231").unwrap(),
            NaiveDate::from_ymd_opt(1999, 12, 31).unwrap()
        );
        assert!(parse_date("20240230").is_err());
        assert!(parse_date("20230229").is_err());
        assert!(parse_date("20241301").is_err());
        assert!(parse_date("20240100").is_err());
        assert!(parse_date("2024011").is_err());
        assert!(parse_date("2024-01-15").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(
            parse_time("1305").unwrap(),
            NaiveTime::from_hms_opt(13, 5, 0).unwrap()
        );
        assert_eq!(
            parse_time("130559").unwrap(),
            NaiveTime::from_hms_opt(13, 5, 59).unwrap()
        );
        assert_eq!(
            parse_time("1305597").unwrap(),
            NaiveTime::from_hms_milli_opt(13, 5, 59, 700).unwrap()
        );
        assert_eq!(
            parse_time("13055912").unwrap(),
            NaiveTime::from_hms_milli_opt(13, 5, 59, 120).unwrap()
        );
        assert!(parse_time("2400").is_err());
        assert!(parse_time("1260").is_err());
        assert!(parse_time("123460").is_err());
        assert!(parse_time("123").is_err());
        assert!(parse_time("12:34").is_err());
    }

    #[test]
    fn end_of_month() {
        assert_eq!(
            last_day_of_month(2024, 2),
            NaiveDate::from_ymd_opt(2024, 2, 29)
        );
        assert_eq!(
            last_day_of_month(2023, 12),
            NaiveDate::from_ymd_opt(2023, 12, 31)
        );
    }
}
