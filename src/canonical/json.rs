//! The canonical JSON text of a value, written straight from `Serialize` without building a
//! `serde_json::Value`: the same bytes as `serde_json::to_value(v)?.to_string()` (object keys
//! sorted, compact), at a fraction of the allocations.
//!
//! Whatever this writer cannot reproduce exactly (map keys that are not strings, duplicate keys,
//! integers beyond 64 bits) is an error, so a caller can fall back to the `Value` route and still
//! get the same text.

use std::fmt;

use serde::ser::{self, Serialize};

/// Why a value could not be written here (the `Value` route decides what it becomes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortedJsonError(pub String);

impl fmt::Display for SortedJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SortedJsonError {}

impl ser::Error for SortedJsonError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        SortedJsonError(msg.to_string())
    }
}

type Result<T> = std::result::Result<T, SortedJsonError>;

/// Appends the compact JSON of `value` with every object's keys in sorted order, as
/// `serde_json::to_value(value)?.to_string()` would write it.
pub fn write_sorted<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    value.serialize(Ser { out })
}

/// `write_sorted` into a new string.
pub fn to_sorted_string<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    let mut out = Vec::with_capacity(1024);
    write_sorted(value, &mut out)?;
    // Only valid UTF-8 goes in: escaped strings and ASCII punctuation and numbers.
    String::from_utf8(out).map_err(|e| SortedJsonError(e.to_string()))
}

fn write_str(out: &mut Vec<u8>, s: &str) -> Result<()> {
    serde_json::to_writer(out, s).map_err(|e| SortedJsonError(e.to_string()))
}

fn write_display(out: &mut Vec<u8>, v: impl itoa_like::Int) {
    v.write(out);
}

/// Integer formatting without `fmt` overhead, as serde_json writes integers.
mod itoa_like {
    pub trait Int: Copy {
        fn write(self, out: &mut Vec<u8>);
    }
    impl Int for u64 {
        fn write(self, out: &mut Vec<u8>) {
            let mut buf = [0u8; 20];
            let mut i = buf.len();
            let mut n = self;
            loop {
                i -= 1;
                buf[i] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            out.extend_from_slice(&buf[i..]);
        }
    }
    impl Int for i64 {
        fn write(self, out: &mut Vec<u8>) {
            if self < 0 {
                out.push(b'-');
            }
            self.unsigned_abs().write(out);
        }
    }
}

struct Ser<'o> {
    out: &'o mut Vec<u8>,
}

/// An array being written: elements go straight to the output.
pub struct Arr<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
    /// Closes the `{"variant":` of a tuple variant.
    close_variant: bool,
}

/// An object being written: values are written to `buf` as they come, then copied out in key
/// order at the end.
pub struct Obj<'o> {
    out: &'o mut Vec<u8>,
    buf: Vec<u8>,
    entries: Vec<(std::borrow::Cow<'static, str>, usize, usize)>,
    key: Option<String>,
    close_variant: bool,
}

impl<'o> Obj<'o> {
    fn new(out: &'o mut Vec<u8>, len: usize, close_variant: bool) -> Self {
        Obj {
            out,
            buf: Vec::new(),
            entries: Vec::with_capacity(len),
            key: None,
            close_variant,
        }
    }

    fn value<T: Serialize + ?Sized>(
        &mut self,
        key: std::borrow::Cow<'static, str>,
        value: &T,
    ) -> Result<()> {
        let start = self.buf.len();
        value.serialize(Ser { out: &mut self.buf })?;
        self.entries.push((key, start, self.buf.len()));
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
        if self.entries.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(SortedJsonError("duplicate object key".into()));
        }
        self.out.push(b'{');
        for (i, (k, s, e)) in self.entries.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_str(self.out, k)?;
            self.out.push(b':');
            self.out.extend_from_slice(&self.buf[*s..*e]);
        }
        self.out.push(b'}');
        if self.close_variant {
            self.out.push(b'}');
        }
        Ok(())
    }
}

impl Arr<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        value.serialize(Ser { out: self.out })
    }

    fn finish(self) -> Result<()> {
        self.out.push(b']');
        if self.close_variant {
            self.out.push(b'}');
        }
        Ok(())
    }
}

impl<'o> Ser<'o> {
    fn variant_open(&mut self, variant: &str) -> Result<()> {
        self.out.push(b'{');
        write_str(self.out, variant)?;
        self.out.push(b':');
        Ok(())
    }
}

impl<'o> ser::Serializer for Ser<'o> {
    type Ok = ();
    type Error = SortedJsonError;
    type SerializeSeq = Arr<'o>;
    type SerializeTuple = Arr<'o>;
    type SerializeTupleStruct = Arr<'o>;
    type SerializeTupleVariant = Arr<'o>;
    type SerializeMap = Obj<'o>;
    type SerializeStruct = Obj<'o>;
    type SerializeStructVariant = Obj<'o>;

    fn serialize_bool(self, v: bool) -> Result<()> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<()> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<()> {
        write_display(self.out, v);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<()> {
        match (u64::try_from(v), i64::try_from(v)) {
            (Ok(u), _) => self.serialize_u64(u),
            (_, Ok(i)) => self.serialize_i64(i),
            _ => Err(SortedJsonError("integer out of range".into())),
        }
    }
    fn serialize_u8(self, v: u8) -> Result<()> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<()> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<()> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<()> {
        write_display(self.out, v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<()> {
        let u = u64::try_from(v).map_err(|_| SortedJsonError("integer out of range".into()))?;
        self.serialize_u64(u)
    }
    fn serialize_f32(self, v: f32) -> Result<()> {
        // `Value` keeps an f32 as the f64 it converts to.
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<()> {
        // Written by serde_json itself (non-finite numbers become null, as in `Value`).
        serde_json::to_writer(self.out, &v).map_err(|e| SortedJsonError(e.to_string()))
    }
    fn serialize_char(self, v: char) -> Result<()> {
        let mut b = [0u8; 4];
        write_str(self.out, v.encode_utf8(&mut b))
    }
    fn serialize_str(self, v: &str) -> Result<()> {
        write_str(self.out, v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<()> {
        use ser::SerializeSeq;
        let mut a = self.serialize_seq(Some(v.len()))?;
        for b in v {
            a.serialize_element(b)?;
        }
        a.end()
    }
    fn serialize_none(self) -> Result<()> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<()> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<()> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<()> {
        write_str(self.out, variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<()> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<()> {
        self.variant_open(variant)?;
        value.serialize(Ser { out: self.out })?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Arr<'o>> {
        self.out.push(b'[');
        Ok(Arr {
            out: self.out,
            first: true,
            close_variant: false,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Arr<'o>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Arr<'o>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Arr<'o>> {
        self.variant_open(variant)?;
        self.out.push(b'[');
        Ok(Arr {
            out: self.out,
            first: true,
            close_variant: true,
        })
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Obj<'o>> {
        Ok(Obj::new(self.out, len.unwrap_or(0), false))
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<Obj<'o>> {
        Ok(Obj::new(self.out, len, false))
    }
    fn serialize_struct_variant(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Obj<'o>> {
        self.variant_open(variant)?;
        Ok(Obj::new(self.out, len, true))
    }
}

impl ser::SerializeSeq for Arr<'_> {
    type Ok = ();
    type Error = SortedJsonError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }
    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeTuple for Arr<'_> {
    type Ok = ();
    type Error = SortedJsonError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }
    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for Arr<'_> {
    type Ok = ();
    type Error = SortedJsonError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }
    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for Arr<'_> {
    type Ok = ();
    type Error = SortedJsonError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value)
    }
    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeStruct for Obj<'_> {
    type Ok = ();
    type Error = SortedJsonError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.value(std::borrow::Cow::Borrowed(key), value)
    }
    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Obj<'_> {
    type Ok = ();
    type Error = SortedJsonError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.value(std::borrow::Cow::Borrowed(key), value)
    }
    fn end(self) -> Result<()> {
        self.finish()
    }
}

impl ser::SerializeMap for Obj<'_> {
    type Ok = ();
    type Error = SortedJsonError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.key = Some(key.serialize(KeySer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let key = self
            .key
            .take()
            .ok_or_else(|| SortedJsonError("map value without a key".into()))?;
        self.value(std::borrow::Cow::Owned(key), value)
    }
    fn end(self) -> Result<()> {
        self.finish()
    }
}

/// Map keys: strings only; anything else goes the `Value` route.
struct KeySer;

fn not_a_string_key<T>() -> Result<T> {
    Err(SortedJsonError("map key is not a string".into()))
}

impl ser::Serializer for KeySer {
    type Ok = String;
    type Error = SortedJsonError;
    type SerializeSeq = ser::Impossible<String, SortedJsonError>;
    type SerializeTuple = ser::Impossible<String, SortedJsonError>;
    type SerializeTupleStruct = ser::Impossible<String, SortedJsonError>;
    type SerializeTupleVariant = ser::Impossible<String, SortedJsonError>;
    type SerializeMap = ser::Impossible<String, SortedJsonError>;
    type SerializeStruct = ser::Impossible<String, SortedJsonError>;
    type SerializeStructVariant = ser::Impossible<String, SortedJsonError>;

    fn serialize_str(self, v: &str) -> Result<String> {
        Ok(v.to_string())
    }
    fn serialize_char(self, v: char) -> Result<String> {
        Ok(v.to_string())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String> {
        Ok(variant.to_string())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String> {
        value.serialize(self)
    }
    fn serialize_bool(self, _v: bool) -> Result<String> {
        not_a_string_key()
    }
    fn serialize_i8(self, _v: i8) -> Result<String> {
        not_a_string_key()
    }
    fn serialize_i16(self, _v: i16) -> Result<String> {
        not_a_string_key()
    }
    fn serialize_i32(self, _v: i32) -> Result<String> {
        not_a_string_key()
    }
    fn serialize_i64(self, _v: i64) -> Result<String> {
        not_a_string_key()
    }
    fn serialize_u8(self, _v: u8) -> Result<String> {
        not_a_string_key()
    }
    fn serialize_u16(self, _v: u16) -> Result<String> {
        not_a_string_key()
    }
    fn serialize_u32(self, _v: u32) -> Result<String> {
        not_a_string_key()
    }
    fn serialize_u64(self, _v: u64) -> Result<String> {
        not_a_string_key()
    }
    fn serialize_f32(self, _v: f32) -> Result<String> {
        not_a_string_key()
    }
    fn serialize_f64(self, _v: f64) -> Result<String> {
        not_a_string_key()
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String> {
        not_a_string_key()
    }
    fn serialize_none(self) -> Result<String> {
        not_a_string_key()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<String> {
        not_a_string_key()
    }
    fn serialize_unit(self) -> Result<String> {
        not_a_string_key()
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<String> {
        not_a_string_key()
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String> {
        not_a_string_key()
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        not_a_string_key()
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        not_a_string_key()
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        not_a_string_key()
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        not_a_string_key()
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        not_a_string_key()
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        not_a_string_key()
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        not_a_string_key()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn same<T: Serialize>(v: &T) {
        let want = serde_json::to_value(v).expect("to_value").to_string();
        assert_eq!(to_sorted_string(v).expect("sorted"), want);
    }

    #[derive(serde::Serialize)]
    #[serde(tag = "kind", rename_all = "snake_case")]
    enum Tagged {
        Zeta { b: u32, a: Option<String> },
    }

    #[derive(serde::Serialize)]
    enum Plain {
        Unit,
        New(i64),
        Tup(u8, String),
        Rec { z: bool, y: f32 },
    }

    #[test]
    fn writes_what_the_value_route_writes() {
        same(&json!({"b": [1, -2, 3.5, null, true], "a": {"d": "x\"\u{1}é", "c": {}}, "": []}));
        same(&Tagged::Zeta {
            b: 7,
            a: Some("q".into()),
        });
        same(&vec![
            Plain::Unit,
            Plain::New(-4),
            Plain::Tup(1, "t".into()),
        ]);
        same(&Plain::Rec { z: false, y: 0.1 });
        same(&(1u128, -5i128, 'c', f64::NAN, u64::MAX, i64::MIN));
        let mut m = BTreeMap::new();
        m.insert("b".to_string(), 1);
        m.insert("a".to_string(), 2);
        same(&m);
        same(&crate::canonical::PartyId::other("ZZ", "x"));
    }

    #[test]
    fn refuses_what_it_cannot_reproduce() {
        let mut m = BTreeMap::new();
        m.insert(1, 2);
        assert!(to_sorted_string(&m).is_err());
        assert!(to_sorted_string(&u128::MAX).is_err());
    }
}
