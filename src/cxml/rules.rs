//! The shape of the check tables (`rules_table.rs`) and the value checks they name: ISO 8601
//! date-times with offset, numbers, unsigned integers, enumerations, ISO 4217 currency codes.
//! Owns these small parsers; the walk that applies them lives in `check.rs`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use super::rules_table::ELEMENTS;

/// How an attribute value is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttrKind {
    /// Any string.
    Text,
    /// `%datetime.tz;`: ISO 8601 date and time with a UTC offset.
    DateTimeTz,
    /// `%date;`: ISO 8601 date, optionally with a time.
    Date,
    /// `%r8;` / `%number;`: a decimal number, optionally signed, optionally with exponent.
    Number,
    /// `%uint;`: digits only.
    UInt,
    /// `%int;`: optionally signed digits.
    Int,
    /// One of a fixed list of values.
    Enum(&'static [&'static str]),
}

/// One attribute of an element.
#[derive(Debug)]
pub(crate) struct AttrRule {
    pub name: &'static str,
    pub required: bool,
    pub kind: AttrKind,
}

/// What the DTDs say about one element.
#[derive(Debug)]
pub(crate) struct ElementRule {
    pub name: &'static str,
    pub attrs: &'static [AttrRule],
    /// Each group must be present: at least one of its names appears as a child.
    pub required: &'static [&'static [&'static str]],
    /// Every child element name the content model mentions.
    pub children: &'static [&'static str],
    /// Content model `ANY`: children are not checked.
    pub any: bool,
    /// Whether character data is allowed.
    pub text: bool,
}

/// The rule for an element name, if the DTDs define it. A hash lookup (built on first use):
/// the checker asks once per element, and a binary search over ~830 names costs ten string
/// comparisons.
pub(crate) fn rule(name: &str) -> Option<&'static ElementRule> {
    static INDEX: OnceLock<HashMap<&'static str, &'static ElementRule, BuildHasherDefault<Fnv>>> =
        OnceLock::new();
    INDEX
        .get_or_init(|| ELEMENTS.iter().map(|r| (r.name, r)).collect())
        .get(name)
        .copied()
}

/// FNV-1a: element names are short, trusted table keys or looked up only, so a simple hash
/// does (an attacker's names can only miss).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

impl AttrKind {
    /// `None` when `value` fits, otherwise what was expected.
    pub(crate) fn check(self, value: &str) -> Option<String> {
        let ok = match self {
            AttrKind::Text => true,
            AttrKind::DateTimeTz => is_datetime_tz(value),
            AttrKind::Date => is_date(value),
            AttrKind::Number => is_number(value),
            AttrKind::UInt => !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()),
            AttrKind::Int => {
                let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
                !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
            }
            AttrKind::Enum(values) => values.contains(&value),
        };
        if ok {
            return None;
        }
        Some(match self {
            AttrKind::Text => String::new(),
            AttrKind::DateTimeTz => {
                "an ISO 8601 date-time with offset, e.g. 2024-01-15T10:20:30-05:00".into()
            }
            AttrKind::Date => "an ISO 8601 date, e.g. 2024-01-15".into(),
            AttrKind::Number => "a decimal number".into(),
            AttrKind::UInt => "an unsigned integer".into(),
            AttrKind::Int => "an integer".into(),
            AttrKind::Enum(values) => format!("one of {}", values.join(", ")),
        })
    }
}

/// ISO 8601 extended date-time with seconds (fraction optional) and offset (`Z` or `±hh:mm`).
pub fn is_datetime_tz(value: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(value).is_ok()
        && value
            .as_bytes()
            .get(10)
            .is_some_and(|b| *b == b'T' || *b == b't')
}

/// ISO 8601 calendar date, or a date-time with or without offset.
pub fn is_date(value: &str) -> bool {
    use chrono::NaiveDate;
    if value.len() == 10 {
        // `YYYY-MM-DD` (nearly every date sent) without chrono's format interpreter; any other
        // ten-character value is still parsed by chrono.
        if let Some((y, m, d)) = plain_ymd(value.as_bytes()) {
            return NaiveDate::from_ymd_opt(y, m, d).is_some();
        }
        return NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok();
    }
    is_datetime_tz(value)
        || chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
}

/// Year, month and day of exactly `DDDD-DD-DD`.
fn plain_ymd(b: &[u8]) -> Option<(i32, u32, u32)> {
    let [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = *b else {
        return None;
    };
    let digit = |c: u8| c.is_ascii_digit().then(|| u32::from(c - b'0'));
    let year = ((digit(y1)? * 10 + digit(y2)?) * 10 + digit(y3)?) * 10 + digit(y4)?;
    let month = digit(m1)? * 10 + digit(m2)?;
    let day = digit(d1)? * 10 + digit(d2)?;
    Some((i32::try_from(year).ok()?, month, day))
}

/// Optional sign, digits with an optional fraction (at least one digit), optional exponent.
pub fn is_number(value: &str) -> bool {
    let b = value.trim().as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let mut digits = i - int_start;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let exp_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

/// Three ASCII capital letters (ISO 4217 shape; the code list itself is not checked).
pub fn is_currency(value: &str) -> bool {
    value.len() == 3 && value.bytes().all(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(ELEMENTS.windows(2).all(|w| w[0].name < w[1].name));
        assert!(rule("OrderRequestHeader").is_some());
        assert!(rule("NoSuchElement").is_none());
    }

    #[test]
    fn value_shapes() {
        assert!(is_datetime_tz("2024-01-15T10:20:30-05:00"));
        assert!(is_datetime_tz("2024-01-15T10:20:30.123Z"));
        assert!(!is_datetime_tz("2024-01-15T10:20:30"));
        assert!(!is_datetime_tz("2024-01-15"));
        assert!(is_date("2024-01-15"));
        assert!(!is_date("2024-13-15"));
        // The `YYYY-MM-DD` shortcut agrees with chrono on every such value, leap days included.
        for value in [
            "2024-02-29",
            "2023-02-29",
            "1900-02-29",
            "2000-02-29",
            "0000-01-01",
            "9999-12-31",
            "2024-00-10",
            "2024-04-31",
            "2024-04-30",
            "2024-01-00",
            "2024-1-015",
            "2024/01/15",
            " 2024-1-15",
            "+202-01-15",
        ] {
            assert_eq!(
                is_date(value),
                chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok(),
                "{value}"
            );
        }
        assert!(is_number("-12.50") && is_number("1e3") && is_number(".5") && is_number("5."));
        assert!(!is_number("") && !is_number("1,5") && !is_number("abc") && !is_number("."));
        assert!(is_currency("USD") && !is_currency("usd") && !is_currency("US"));
    }
}
