//! A light document tree for the inbound maps' output on the way to the typed canonical document:
//! keys borrowed from the map's rules, text borrowed from the held set where nothing converts it,
//! objects as short vectors. It deserializes exactly as the `serde_json::Value` the same rules
//! build would (same visitor calls for every value), so the typed document comes out the same
//! without the `Value` in between. Where they could differ (a shape `Value` refuses), this tree
//! refuses too, and the caller goes the `Value` route for the error.

use std::borrow::Cow;

use serde::de::{
    self, value::BorrowedStrDeserializer, DeserializeSeed, Deserializer, IntoDeserializer,
    MapAccess, SeqAccess, Unexpected, Visitor,
};
use serde_json::Value;

/// One value of a mapped document.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    /// Text as read (a `Value::String`).
    Text(Cow<'a, str>),
    /// A converted value or a whole sub-document (provenance): read as that `Value` itself.
    Value(Value),
    Array(Vec<Node<'a>>),
    Object(Obj<'a>),
}

/// An object: keys unique, in the order first set.
pub type Obj<'a> = Vec<(&'a str, Node<'a>)>;

/// `a == b` for keys, field names and ids of a few bytes, compared in line a word at a time:
/// `==` on strings of equal length calls `memcmp`, which costs more than the bytes it compares.
/// Every rule's value is set by key, the inbound walk compares loop ids often, and the JSON
/// layout finds every field of every object by name.
#[inline]
pub(crate) fn short_eq(a: &str, b: &str) -> bool {
    short_eq_bytes(a.as_bytes(), b.as_bytes())
}

/// `short_eq` on bytes (element values compared with a condition's codes).
pub(crate) use crate::x12::tree::short_eq_bytes;

/// `Value` object insert: replaces the value of an existing key.
pub fn insert<'a>(obj: &mut Obj<'a>, key: &'a str, v: Node<'a>) {
    match obj.iter_mut().find(|(k, _)| short_eq(k, key)) {
        Some(slot) => slot.1 = v,
        None => obj.push((key, v)),
    }
}

/// `x12::set_path` on this tree: intermediate objects are made (or replace a non-object),
/// objects merge key by key, arrays append, anything else replaces.
pub fn set_path<'a>(obj: &mut Obj<'a>, path: &'a [String], v: Node<'a>) {
    let Some((last, init)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for p in init {
        let i = match cur.iter().position(|(k, _)| short_eq(k, p)) {
            Some(i) => {
                if !matches!(cur[i].1, Node::Object(_)) {
                    cur[i].1 = Node::Object(Vec::new());
                }
                i
            }
            None => {
                // Made for the value set below, so made with room for it (and a few more).
                cur.push((p.as_str(), Node::Object(Vec::with_capacity(4))));
                cur.len() - 1
            }
        };
        let Node::Object(m) = &mut cur[i].1 else {
            return;
        };
        cur = m;
    }
    let slot = cur.iter_mut().find(|(k, _)| short_eq(k, last));
    match (slot, v) {
        (Some((_, Node::Object(old))), Node::Object(new)) => {
            for (k, v) in new {
                insert(old, k, v);
            }
        }
        (Some((_, Node::Array(old))), Node::Array(new)) => old.extend(new),
        (Some(slot), v) => slot.1 = v,
        (None, v) => cur.push((last.as_str(), v)),
    }
}

type Error = serde_json::Error;

impl Node<'_> {
    fn unexpected(&self) -> Unexpected<'_> {
        match self {
            Node::Text(s) => Unexpected::Str(s),
            Node::Value(_) => Unexpected::Other("value"),
            Node::Array(_) => Unexpected::Seq,
            Node::Object(_) => Unexpected::Map,
        }
    }

    fn invalid_type<E: de::Error>(&self, exp: &dyn de::Expected) -> E {
        E::invalid_type(self.unexpected(), exp)
    }
}

struct Seq<'de, 'a> {
    iter: std::slice::Iter<'de, Node<'a>>,
}

impl<'de, 'a: 'de> SeqAccess<'de> for Seq<'de, 'a> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.iter.next() {
            Some(v) => seed.deserialize(v).map(Some),
            None => Ok(None),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct Map<'de, 'a> {
    iter: std::slice::Iter<'de, (&'a str, Node<'a>)>,
    value: Option<&'de Node<'a>>,
}

impl<'de, 'a: 'de> MapAccess<'de> for Map<'de, 'a> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                let k: &'de str = k;
                seed.deserialize(BorrowedStrDeserializer::<Error>::new(k))
                    .map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(v) => seed.deserialize(v),
            None => Err(de::Error::custom("value is missing")),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

fn visit_array<'de, 'a: 'de, V: Visitor<'de>>(
    a: &'de [Node<'a>],
    visitor: V,
) -> Result<V::Value, Error> {
    let len = a.len();
    let mut seq = Seq { iter: a.iter() };
    let out = visitor.visit_seq(&mut seq)?;
    if seq.iter.len() == 0 {
        Ok(out)
    } else {
        Err(de::Error::invalid_length(len, &"fewer elements in array"))
    }
}

fn visit_object<'de, 'a: 'de, V: Visitor<'de>>(
    o: &'de [(&'a str, Node<'a>)],
    visitor: V,
) -> Result<V::Value, Error> {
    let len = o.len();
    let mut map = Map {
        iter: o.iter(),
        value: None,
    };
    let out = visitor.visit_map(&mut map)?;
    if map.iter.len() == 0 {
        Ok(out)
    } else {
        Err(de::Error::invalid_length(len, &"fewer elements in map"))
    }
}

/// Numbers: only a converted `Value` holds one; anything else is refused as `Value` refuses a
/// non-number.
macro_rules! numbers {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                match self {
                    Node::Value(v) => v.$method(visitor),
                    _ => Err(self.invalid_type(&visitor)),
                }
            }
        )*
    };
}

/// Reads as `&Value` does (serde_json's `Deserializer for &Value`), method by method.
impl<'de, 'a: 'de> Deserializer<'de> for &'de Node<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Text(s) => visitor.visit_borrowed_str(s),
            Node::Value(v) => v.deserialize_any(visitor),
            Node::Array(a) => visit_array(a, visitor),
            Node::Object(o) => visit_object(o, visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Value(v) => v.deserialize_option(visitor),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            Node::Text(s) => {
                let s: &'de str = s;
                visitor.visit_enum(s.into_deserializer())
            }
            Node::Value(v) => v.deserialize_enum(name, variants, visitor),
            // A variant with content: only the `Value` route reads those.
            _ => Err(self.invalid_type(&"a unit variant")),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            Node::Value(v) => v.deserialize_newtype_struct(name, visitor),
            _ => visitor.visit_newtype_struct(self),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Value(v) => v.deserialize_bool(visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Text(s) => visitor.visit_borrowed_str(s),
            Node::Value(v) => v.deserialize_str(visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Text(s) => visitor.visit_borrowed_str(s),
            Node::Value(v) => v.deserialize_bytes(visitor),
            Node::Array(a) => visit_array(a, visitor),
            Node::Object(_) => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Value(v) => v.deserialize_unit(visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Array(a) => visit_array(a, visitor),
            Node::Value(v) => v.deserialize_seq(visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Object(o) => visit_object(o, visitor),
            Node::Value(v) => v.deserialize_map(visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            Node::Array(a) => visit_array(a, visitor),
            Node::Object(o) => visit_object(o, visitor),
            Node::Value(v) => v.deserialize_struct(name, fields, visitor),
            Node::Text(_) => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    numbers! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64
    }
}

#[cfg(test)]
mod tests {
    use super::short_eq;

    /// Word-at-a-time equality agrees with `==` at every length up to three words, whichever
    /// byte differs.
    #[test]
    fn short_eq_is_string_equality() {
        for len in 0..=24usize {
            let a: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            assert!(short_eq(&a, &a.clone()), "{a:?}");
            for at in 0..len {
                let mut b = a.clone().into_bytes();
                b[at] = b'#';
                let b = String::from_utf8(b).expect("ASCII");
                assert!(!short_eq(&a, &b), "{a:?} {b:?}");
            }
            let longer = format!("{a}x");
            assert!(!short_eq(&a, &longer), "{a:?}");
        }
    }
}
