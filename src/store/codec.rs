//! Byte layouts of sled keys and values. Owns the encodings only; which tree holds what is
//! `sled_store`'s business. Decoding never panics: bad bytes become `StoreError::Corrupt`.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{Result, StoreError};

/// Strings inside composite keys are length-prefixed, so `("ab", id)` and `("a", "b"+id)`
/// can never collide and a prefix scan for one value cannot run into a longer one.
pub(crate) fn lp(s: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + s.len() + 16);
    k.extend_from_slice(&(s.len() as u32).to_be_bytes());
    k.extend_from_slice(s.as_bytes());
    k
}

pub(crate) fn cat(parts: &[&[u8]]) -> Vec<u8> {
    let mut k = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

pub(crate) fn to_json<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(StoreError::Serialise)
}

pub(crate) fn from_json<T: DeserializeOwned>(
    tree: &'static str,
    key: &[u8],
    b: &[u8],
) -> Result<T> {
    serde_json::from_slice(b).map_err(|e| StoreError::corrupt(tree, key, e))
}

/// Records with a large opaque part (document bodies, outbound payloads) are stored as
/// `u32 header length | JSON header | raw body`, so the body is never re-escaped into JSON.
pub(crate) fn with_body<T: Serialize>(header: &T, body: &[u8]) -> Result<Vec<u8>> {
    let h = to_json(header)?;
    let len = u32::try_from(h.len())
        .map_err(|_| StoreError::Serialise(serde::ser::Error::custom("header over 4 GiB")))?;
    let mut v = Vec::with_capacity(4 + h.len() + body.len());
    v.extend_from_slice(&len.to_be_bytes());
    v.extend_from_slice(&h);
    v.extend_from_slice(body);
    Ok(v)
}

pub(crate) fn split_body<T: DeserializeOwned>(
    tree: &'static str,
    key: &[u8],
    v: &[u8],
) -> Result<(T, Vec<u8>)> {
    let len_bytes: [u8; 4] = v
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StoreError::corrupt(tree, key, "value shorter than its length prefix"))?;
    let len = u32::from_be_bytes(len_bytes) as usize;
    let header = v
        .get(4..4usize.saturating_add(len))
        .ok_or_else(|| StoreError::corrupt(tree, key, "header length past end of value"))?;
    let h = from_json(tree, key, header)?;
    Ok((h, v[4 + len..].to_vec()))
}

pub(crate) fn u64_value(tree: &'static str, key: &[u8], v: &[u8]) -> Result<u64> {
    let b: [u8; 8] = v.try_into().map_err(|_| {
        StoreError::corrupt(tree, key, format!("expected 8 bytes, got {}", v.len()))
    })?;
    Ok(u64::from_be_bytes(b))
}

/// The smallest key strictly greater than every key starting with `prefix` (for range ends).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_round_trip_and_truncation_is_an_error() {
        let v = with_body(&serde_json::json!({"a": 1}), b"raw").unwrap();
        let (h, b): (serde_json::Value, _) = split_body("t", b"k", &v).unwrap();
        assert_eq!(h["a"], 1);
        assert_eq!(b, b"raw");
        assert!(split_body::<serde_json::Value>("t", b"k", &v[..3]).is_err());
        assert!(split_body::<serde_json::Value>("t", b"k", &v[..6]).is_err());
    }

    #[test]
    fn prefix_end_carries() {
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
    }

    #[test]
    fn length_prefix_separates() {
        assert_ne!(cat(&[&lp("ab"), b"c"]), cat(&[&lp("a"), b"bc"]));
    }
}
