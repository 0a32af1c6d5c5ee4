//! Value conversions between document formats and canonical values, both ways: dates, times,
//! explicit and implied decimals, integers, timestamps and flags. Money and quantities go
//! through `rust_decimal`, never floats; dates are validated, not trusted.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

use super::rules::Convert;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError(pub String);

impl std::fmt::Display for ValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad(what: &str, v: &str) -> ValueError {
    ValueError(format!("`{v}` is not a valid {what}"))
}

fn date_in(v: &str) -> Result<String, ValueError> {
    // CCYYMMDD with a year from 1000 (nearly every X12 date) is checked against the calendar
    // without chrono's format parser; the text is already in order, so only dashes are added.
    let b = v.as_bytes();
    if b.len() == 8 && b[0] != b'0' && b.iter().all(u8::is_ascii_digit) {
        let num = |r: std::ops::Range<usize>| {
            b[r].iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'))
        };
        let year = i32::try_from(num(0..4)).map_err(|_| bad("date", v))?;
        return match chrono::NaiveDate::from_ymd_opt(year, num(4..6), num(6..8)) {
            Some(_) => {
                let mut out = String::with_capacity(10);
                out.push_str(&v[0..4]);
                out.push('-');
                out.push_str(&v[4..6]);
                out.push('-');
                out.push_str(&v[6..8]);
                Ok(out)
            }
            None => Err(bad("date", v)),
        };
    }
    let digits: String = v.chars().take_while(|c| c.is_ascii_digit()).collect();
    let d = if v.len() >= 10 && v.as_bytes().get(4) == Some(&b'-') {
        // ISO 8601 (cXML): the date part of a date or timestamp.
        chrono::NaiveDate::parse_from_str(&v[..10], "%Y-%m-%d").ok()
    } else {
        match (digits.len(), digits.len() == v.len()) {
            (8, true) => chrono::NaiveDate::parse_from_str(v, "%Y%m%d").ok(),
            (6, true) => chrono::NaiveDate::parse_from_str(v, "%y%m%d").ok(),
            _ => None,
        }
    };
    d.map(|d| d.format("%Y-%m-%d").to_string())
        .ok_or_else(|| bad("date", v))
}

fn decimal(v: &str) -> Result<Decimal, ValueError> {
    let t = v.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    Decimal::from_str(t).map_err(|_| bad("decimal number", v))
}

/// `decimal(v)?.normalize().to_string()` for the plain form nearly every quantity and price
/// has (digits, no sign, no leading zero, an optional fraction of up to nine digits): the text
/// with the fraction's trailing zeros dropped, without parsing and formatting a `Decimal`.
/// `None` for anything else, which `rust_decimal` reads.
fn plain_decimal(v: &str) -> Option<String> {
    let (int, frac) = plain_parts(v)?;
    let mut out = String::with_capacity(v.len());
    out.push_str(int);
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    Some(out)
}

/// The integer part and the fraction without its trailing zeros of a decimal in the plain
/// form `plain_decimal` takes; `None` for any other text. Bytes are scanned directly: the
/// values are a few characters, where a `char` search costs more than the scan.
fn plain_parts(v: &str) -> Option<(&str, &str)> {
    let b = v.as_bytes();
    let dot = b.iter().position(|&c| c == b'.');
    let int_len = dot.unwrap_or(b.len());
    let int = &b[..int_len];
    if int.is_empty()
        || int.len() > 18
        || !int.iter().all(u8::is_ascii_digit)
        || (int.len() > 1 && int[0] == b'0')
    {
        return None;
    }
    let frac = match dot {
        None => "",
        Some(d) => {
            let f = &v[d + 1..];
            if f.is_empty() || f.len() > 9 || !f.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            f.trim_end_matches('0')
        }
    };
    Some((&v[..int_len], frac))
}

/// True when `inbound(Convert::Decimal, v)` is `v` itself (a plain decimal whose fraction, if
/// any, ends in a digit other than 0): the text can then be used as it is, without a copy.
pub fn decimal_is_canonical(v: &str) -> bool {
    match plain_parts(v) {
        Some((int, frac)) => {
            let whole = int.len() + if frac.is_empty() { 0 } else { frac.len() + 1 };
            whole == v.len()
        }
        None => false,
    }
}

/// Source value → canonical JSON value.
pub fn inbound(c: Convert, v: &str) -> Result<Value, ValueError> {
    Ok(match c {
        Convert::None | Convert::Count => Value::String(v.to_string()),
        Convert::Date => Value::String(date_in(v)?),
        Convert::Time => {
            let ok = v.len() >= 4 && v.bytes().all(|b| b.is_ascii_digit());
            if !ok {
                return Err(bad("time", v));
            }
            let (h, m) = (&v[0..2], &v[2..4]);
            let s = v.get(4..6);
            if h > "23" || m > "59" || s.is_some_and(|s| s > "59") {
                return Err(bad("time", v));
            }
            Value::String(match s {
                Some(s) => format!("{h}:{m}:{s}"),
                None => format!("{h}:{m}"),
            })
        }
        Convert::Decimal => Value::String(match plain_decimal(v) {
            Some(t) => t,
            None => decimal(v)?.normalize().to_string(),
        }),
        Convert::Implied(n) => {
            let neg = v.starts_with('-');
            let digits = v.trim_start_matches('-');
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("implied-decimal number", v));
            }
            let i: i128 = digits
                .parse()
                .map_err(|_| bad("implied-decimal number", v))?;
            let d = Decimal::try_from_i128_with_scale(if neg { -i } else { i }, n)
                .map_err(|_| bad("implied-decimal number", v))?;
            Value::String(d.normalize().to_string())
        }
        Convert::Integer => {
            let i: i64 = v.trim().parse().map_err(|_| bad("whole number", v))?;
            Value::Number(i.into())
        }
        Convert::Timestamp => {
            let t = chrono::DateTime::parse_from_rfc3339(v)
                .map_err(|_| bad("ISO 8601 timestamp with offset", v))?;
            Value::String(t.to_rfc3339())
        }
        Convert::Flag => Value::Bool(!v.is_empty() && v != "N" && v != "false" && v != "no"),
        Convert::Gtin => Value::String(
            crate::canonical::Gtin::parse(v.trim())
                .map_err(|e| ValueError(e.to_string()))?
                .into(),
        ),
        Convert::Sscc => Value::String(
            crate::canonical::Sscc::parse(v.trim())
                .map_err(|e| ValueError(e.to_string()))?
                .into(),
        ),
    })
}

/// For `gtin` and `sscc`: the canonical id, or `None` when `v` is not a valid one (the rule
/// then yields no value and the raw id may go to the rule's `invalid_to`). Other conversions
/// are `inbound`.
pub fn inbound_opt(c: Convert, v: &str) -> Result<Option<Value>, ValueError> {
    match (c, inbound(c, v)) {
        (Convert::Gtin | Convert::Sscc, Err(_)) => Ok(None),
        (_, r) => r.map(Some),
    }
}

/// Canonical value (as text) → source value; `None` when nothing should be written.
pub fn outbound(c: Convert, v: &str) -> Result<Option<String>, ValueError> {
    Ok(Some(match c {
        Convert::None
        | Convert::Count
        | Convert::Integer
        | Convert::Timestamp
        | Convert::Gtin
        | Convert::Sscc => v.to_string(),
        Convert::Date => {
            let d = chrono::NaiveDate::parse_from_str(v.get(..10).unwrap_or(v), "%Y-%m-%d")
                .map_err(|_| bad("date", v))?;
            d.format("%Y%m%d").to_string()
        }
        Convert::Time => v.replace(':', ""),
        Convert::Decimal => decimal(v)?.normalize().to_string(),
        Convert::Implied(n) => {
            let d = decimal(v)?;
            let scaled = d * Decimal::from(10i64.pow(n));
            if scaled.fract() != Decimal::ZERO {
                return Err(ValueError(format!("`{v}` has more than {n} decimals")));
            }
            scaled.trunc().normalize().to_string()
        }
        Convert::Flag => {
            if v == "true" {
                "Y".to_string()
            } else {
                return Ok(None);
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_decimals_are_what_inbound_gives_back() {
        for v in [
            "0",
            "00",
            "0.0",
            "0.5",
            "0.50",
            "5",
            "5.",
            ".5",
            "12.5",
            "12.50",
            "120",
            "007",
            "1.000000001",
            "1.0000000010",
            "+5",
            "-5",
            "5e2",
            "",
            "1.2.3",
            "٣",
            "123456789012345678",
            "1234567890123456789",
        ] {
            // Only ever claimed where it holds (a long plain number is canonical too, but is
            // left to `inbound`).
            let expected = matches!(
                v,
                "0" | "0.5" | "5" | "12.5" | "120" | "1.000000001" | "123456789012345678"
            );
            assert_eq!(decimal_is_canonical(v), expected, "{v:?}");
            if decimal_is_canonical(v) {
                assert_eq!(
                    inbound(Convert::Decimal, v),
                    Ok(Value::String(v.into())),
                    "{v:?}"
                );
            }
        }
    }

    #[test]
    fn plain_decimals_read_as_rust_decimal_reads_them() {
        let mut cases: Vec<String> = [
            "0",
            "00",
            "0.0",
            "0.50",
            "5",
            "5.",
            ".5",
            "10",
            "100.000",
            "42.10",
            "3.15",
            "007",
            "-1.5",
            "+2",
            " 3",
            "1e5",
            "1.2.3",
            "123456789012345678.123456789",
            "1234567890123456789",
            "1.1234567890",
            "9.000000000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for int in ["0", "1", "20", "305", "4000"] {
            for frac in ["", ".", ".0", ".00", ".5", ".50", ".05", ".250", ".000001"] {
                cases.push(format!("{int}{frac}"));
            }
        }
        for v in &cases {
            let slow = decimal(v).map(|d| d.normalize().to_string()).ok();
            if let Some(fast) = plain_decimal(v) {
                assert_eq!(Some(fast), slow, "{v}");
            }
        }
        assert_eq!(plain_decimal("42.10").as_deref(), Some("42.1"));
        assert_eq!(plain_decimal("24").as_deref(), Some("24"));
    }

    #[test]
    fn dates_both_ways() {
        assert_eq!(inbound(Convert::Date, "20240229").unwrap(), "2024-02-29");
        assert!(inbound(Convert::Date, "20230229").is_err());
        assert_eq!(inbound(Convert::Date, "240101").unwrap(), "2024-01-01");
        assert_eq!(
            inbound(Convert::Date, "2024-01-15T10:20:30-05:00").unwrap(),
            "2024-01-15"
        );
        assert_eq!(
            outbound(Convert::Date, "2024-02-29").unwrap().unwrap(),
            "20240229"
        );
    }

    #[test]
    fn implied_decimals_both_ways() {
        assert_eq!(inbound(Convert::Implied(2), "123456").unwrap(), "1234.56");
        assert_eq!(inbound(Convert::Implied(2), "-50").unwrap(), "-0.5");
        assert!(inbound(Convert::Implied(2), "12.5").is_err());
        assert_eq!(
            outbound(Convert::Implied(2), "1234.56").unwrap().unwrap(),
            "123456"
        );
        assert!(outbound(Convert::Implied(2), "1.234").is_err());
    }

    #[test]
    fn gtin_and_sscc_normalise_or_yield_nothing() {
        assert_eq!(
            inbound_opt(Convert::Gtin, "036000291452").unwrap(),
            Some(Value::String("00036000291452".into()))
        );
        assert_eq!(inbound_opt(Convert::Gtin, "234567890123").unwrap(), None);
        assert_eq!(inbound_opt(Convert::Gtin, "12345678901").unwrap(), None);
        assert_eq!(
            inbound_opt(Convert::Sscc, "00008123450000000016").unwrap(),
            Some(Value::String("008123450000000016".into()))
        );
        assert_eq!(
            inbound_opt(Convert::Sscc, "0000123456781234567892").unwrap(),
            None
        );
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(inbound(Convert::Decimal, "10.50").unwrap(), "10.5");
        assert_eq!(inbound(Convert::Decimal, "0.1").unwrap(), "0.1");
        assert!(inbound(Convert::Decimal, "1,5").is_err());
    }
}
