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
    let (entries, tmp, text) = SPARE.with(|s| std::mem::take(&mut *s.borrow_mut()));
    let mut st = State {
        out: std::mem::take(out),
        entries,
        tmp,
        text,
    };
    let r = value.serialize(Ser { st: &mut st });
    *out = st.out;
    // The working buffers go back for the next value written on this thread, unless one grew
    // past what an ordinary document needs.
    st.entries.clear();
    st.tmp.clear();
    if st.tmp.capacity() <= MAX_SPARE
        && st.entries.capacity() <= MAX_SPARE
        && st.text.capacity() <= MAX_SPARE
    {
        SPARE.with(|s| *s.borrow_mut() = (st.entries, st.tmp, st.text));
    }
    r
}

/// `State`'s working buffers between values: every document is written on a mapping worker,
/// and buffers that start empty for each one grow (and copy) again every time.
type Spare = (
    Vec<(std::borrow::Cow<'static, str>, usize, usize)>,
    Vec<u8>,
    String,
);

/// The largest buffer kept between values.
const MAX_SPARE: usize = 1 << 20;

thread_local! {
    static SPARE: std::cell::RefCell<Spare> = std::cell::RefCell::new(Spare::default());
}

/// One buffer for the whole value: an object's fields are written at its end as they come and
/// moved into key order when it closes, so nested objects need no buffers of their own.
struct State {
    out: Vec<u8>,
    /// Fields of the objects still open, innermost last: (key, start, end) in `out`.
    entries: Vec<(std::borrow::Cow<'static, str>, usize, usize)>,
    /// Where a closing object is put in order before it replaces its fields.
    tmp: Vec<u8>,
    /// Where `collect_str` formats a value.
    text: String,
}

/// `write_sorted` into a new string.
pub fn to_sorted_string<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    let mut out = Vec::with_capacity(1024);
    write_sorted(value, &mut out)?;
    // Only valid UTF-8 goes in: escaped strings and ASCII punctuation and numbers.
    String::from_utf8(out).map_err(|e| SortedJsonError(e.to_string()))
}

const ONES: u64 = u64::from_ne_bytes([1; 8]);
const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
/// A word of bytes that need no escape: fills what a piece shorter than 8 bytes leaves.
const PAD: u64 = u64::from_ne_bytes([b'a'; 8]);

/// Whether no byte of the word `x` needs an escape in JSON (a control byte, quote or
/// backslash).
#[inline(always)]
fn clean(x: u64) -> bool {
    // Nonzero exactly when some byte of `x` is below `n` (n <= 0x80).
    fn has_less(x: u64, n: u8) -> bool {
        x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH != 0
    }
    fn has_byte(x: u64, b: u8) -> bool {
        has_less(x ^ (ONES * u64::from(b)), 1)
    }
    !(has_less(x, 0x20) || has_byte(x, b'"') || has_byte(x, b'\\'))
}

/// Whether `s` needs no escape in JSON: no control byte, quote or backslash. Checked sixteen
/// bytes at a time where SSE2 is there (a held set's bytes as a whole, see `Writer`), else
/// eight, the last word overlapping the one before rather than a byte loop over the rest.
fn plain(s: &[u8]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if let Some(p) = plain_wide(s) {
        return p;
    }
    if s.len() <= SHORT {
        return short_plain(s);
    }
    let word = |i: usize| {
        s.get(i..)
            .and_then(<[u8]>::first_chunk::<8>)
            .map_or(PAD, |w| u64::from_ne_bytes(*w))
    };
    let n = s.len();
    let mut i = 0;
    while i + 8 < n {
        if !clean(word(i)) {
            return false;
        }
        i += 8;
    }
    clean(word(n - 8))
}

/// The longest text `short_plain` checks and `put_quoted` copies in pieces.
const SHORT: usize = 16;

/// `plain` for text of at most `SHORT` bytes (every text of a document passes through here, most
/// of it a few bytes long): its first and last bytes in two overlapping words (or halves of one),
/// checked as words, in line rather than a loop.
#[inline(always)]
fn short_plain(s: &[u8]) -> bool {
    if let (Some(h), Some(t)) = (s.first_chunk::<8>(), s.last_chunk::<8>()) {
        return clean(u64::from_ne_bytes(*h)) && clean(u64::from_ne_bytes(*t));
    }
    let x = if let (Some(h), Some(t)) = (s.first_chunk::<4>(), s.last_chunk::<4>()) {
        u64::from(u32::from_ne_bytes(*h)) | u64::from(u32::from_ne_bytes(*t)) << 32
    } else if let (Some(h), Some(t)) = (s.first_chunk::<2>(), s.last_chunk::<2>()) {
        u64::from(u16::from_ne_bytes(*h)) | u64::from(u16::from_ne_bytes(*t)) << 16 | PAD << 32
    } else if let Some(&b) = s.first() {
        u64::from(b) | PAD << 8
    } else {
        return true;
    };
    clean(x)
}

/// `"`, `s`, `"`, for text that needs no escape. Text of at most `SHORT` bytes (nearly all of
/// it) is copied as its first and last eight (four, two, one) bytes over a fixed-size block of
/// quotes, then cut to length: a few moves in line, where a copy of the text's own length is a
/// `memcpy` call.
#[inline(always)]
fn put_quoted(out: &mut Vec<u8>, s: &[u8]) {
    let (o, n) = (out.len(), s.len());
    if n > SHORT {
        out.reserve(n + 2);
        out.push(b'"');
        out.extend_from_slice(s);
        out.push(b'"');
        return;
    }
    out.extend_from_slice(&[b'"'; SHORT + 2]);
    if let Some(d) = out.get_mut(o + 1..o + 1 + n) {
        if let (Some(h), Some(t)) = (s.first_chunk::<8>(), s.last_chunk::<8>()) {
            put_ends(d, h, t);
        } else if let (Some(h), Some(t)) = (s.first_chunk::<4>(), s.last_chunk::<4>()) {
            put_ends(d, h, t);
        } else if let (Some(h), Some(t)) = (s.first_chunk::<2>(), s.last_chunk::<2>()) {
            put_ends(d, h, t);
        } else if let (Some(d), Some(&b)) = (d.first_mut(), s.first()) {
            *d = b;
        }
    }
    out.truncate(o + n + 2);
}

/// `head` and `tail` as the first and last `K` bytes of `d` (overlapping when `d` is shorter
/// than `2 * K`).
#[inline(always)]
fn put_ends<const K: usize>(d: &mut [u8], head: &[u8; K], tail: &[u8; K]) {
    if let Some(h) = d.first_chunk_mut::<K>() {
        *h = *head;
    }
    if let Some(t) = d.last_chunk_mut::<K>() {
        *t = *tail;
    }
}

/// `plain` sixteen bytes a step, for text of at least sixteen bytes (else `None`).
#[cfg(target_arch = "x86_64")]
#[inline]
fn plain_wide(s: &[u8]) -> Option<bool> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm_setzero_si128,
    };
    // SAFETY: SSE2 is part of x86_64, and each unaligned load reads exactly the 16 bytes of
    // the array it is given.
    unsafe {
        let quote = _mm_set1_epi8(b'"' as i8);
        let backslash = _mm_set1_epi8(b'\\' as i8);
        let control = _mm_set1_epi8(0x1F);
        let mut bad = _mm_setzero_si128();
        let long = crate::bytes::each_block16(s, |w| {
            let v: __m128i = _mm_loadu_si128(w.as_ptr().cast());
            // Unsigned `min(v, 0x1F) == v`: a control byte (a byte above 0x7F is fine).
            let below = _mm_cmpeq_epi8(_mm_min_epu8(v, control), v);
            let special = _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash));
            bad = _mm_or_si128(bad, _mm_or_si128(below, special));
        });
        long.then(|| _mm_movemask_epi8(bad) == 0)
    }
}

fn write_str(out: &mut Vec<u8>, s: &str) -> Result<()> {
    // Most text needs no escape: copied as is. Anything else is escaped by serde_json itself.
    let b = s.as_bytes();
    // Short text is checked in line, without the call.
    let clean = if b.len() <= SHORT {
        short_plain(b)
    } else {
        plain(b)
    };
    if clean {
        put_quoted(out, b);
        return Ok(());
    }
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
    st: &'o mut State,
}

/// An array being written: elements go straight to the output.
pub struct Arr<'o> {
    st: &'o mut State,
    first: bool,
    /// Closes the `{"variant":` of a tuple variant.
    close_variant: bool,
}

/// An object being written: its fields go to the end of the output as they come, and are put
/// in key order when it closes.
pub struct Obj<'o> {
    st: &'o mut State,
    /// Where this object starts in `out`, and its first field in `entries`.
    start: usize,
    first_entry: usize,
    key: Option<String>,
    close_variant: bool,
}

impl<'o> Obj<'o> {
    fn new(st: &'o mut State, close_variant: bool) -> Self {
        Obj {
            start: st.out.len(),
            first_entry: st.entries.len(),
            st,
            key: None,
            close_variant,
        }
    }

    fn value<T: Serialize + ?Sized>(
        &mut self,
        key: std::borrow::Cow<'static, str>,
        value: &T,
    ) -> Result<()> {
        let start = self.st.out.len();
        value.serialize(Ser { st: self.st })?;
        let end = self.st.out.len();
        self.st.entries.push((key, start, end));
        Ok(())
    }

    fn finish(self) -> Result<()> {
        let st = self.st;
        if let Some(order) = cached_order(&st.entries[self.first_entry..]) {
            let fields = &st.entries[self.first_entry..];
            st.tmp.clear();
            for (j, &i) in order.perm.iter().enumerate() {
                let (s, e) = (fields[usize::from(i)].1, fields[usize::from(i)].2);
                st.tmp
                    .extend_from_slice(&order.text[order.ends[j]..order.ends[j + 1]]);
                st.tmp.extend_from_slice(&st.out[s..e]);
            }
            close(st, self.start, self.first_entry, self.close_variant);
            return Ok(());
        }
        let fields = &mut st.entries[self.first_entry..];
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        if fields.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(SortedJsonError("duplicate object key".into()));
        }
        st.tmp.clear();
        st.tmp.push(b'{');
        for (i, (k, s, e)) in fields.iter().enumerate() {
            if i > 0 {
                st.tmp.push(b',');
            }
            write_str(&mut st.tmp, k)?;
            st.tmp.push(b':');
            st.tmp.extend_from_slice(&st.out[*s..*e]);
        }
        close(st, self.start, self.first_entry, self.close_variant);
        Ok(())
    }
}

/// Ends an object whose sorted text is in `st.tmp`: closes it (and its variant wrapper), and
/// puts it in place of the unsorted fields written from `start` on.
fn close(st: &mut State, start: usize, first_entry: usize, close_variant: bool) {
    st.tmp.push(b'}');
    if close_variant {
        st.tmp.push(b'}');
    }
    st.entries.truncate(first_entry);
    if start == 0 {
        // The outermost object: its sorted text is the whole output, so the buffers trade
        // places rather than the text being copied back.
        std::mem::swap(&mut st.out, &mut st.tmp);
        return;
    }
    st.out.truncate(start);
    st.out.extend_from_slice(&st.tmp);
}

/// The sorted layout of a struct's fields, worked out once per set of field names met: the
/// same struct with the same fields present always sorts the same way, so the sort and the
/// key escaping are done once per thread instead of once per object written.
struct Order {
    /// (address, length) of each field name, in the order the fields came: names are
    /// `&'static str`, so equal addresses and lengths mean the same names.
    keys: Vec<(usize, usize)>,
    /// For each place in sorted order, the index of the field that goes there.
    perm: Vec<u16>,
    /// `{"a":`, `,"b":`... in sorted order, one after the other; `ends` bounds each.
    text: Vec<u8>,
    ends: Vec<usize>,
}

/// How many layouts a thread keeps; beyond that, objects are sorted as they close.
const MAX_ORDERS: usize = 4096;

/// The layouts by the hash `cached_order` makes of the field names: that hash is already
/// mixed, so the map uses it as it is rather than hashing it again.
type Orders =
    std::collections::HashMap<u64, std::rc::Rc<Order>, std::hash::BuildHasherDefault<AsIsHasher>>;

#[derive(Default)]
struct AsIsHasher(u64);

impl std::hash::Hasher for AsIsHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

thread_local! {
    static ORDERS: std::cell::RefCell<Orders> = std::cell::RefCell::new(Orders::default());
}

/// The cached layout for these fields, made on first use; `None` when the fields are not all
/// static names (map keys), when two names are the same (the caller reports that), or when
/// the cache is full.
fn cached_order(
    fields: &[(std::borrow::Cow<'static, str>, usize, usize)],
) -> Option<std::rc::Rc<Order>> {
    use std::borrow::Cow;
    if fields.is_empty() || fields.len() > usize::from(u16::MAX) {
        return None;
    }
    let mut h = fields.len() as u64;
    for (k, _, _) in fields {
        let Cow::Borrowed(k) = k else { return None };
        for w in [k.as_ptr() as u64, k.len() as u64] {
            h = (h.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    let same = |o: &Order| {
        o.keys.len() == fields.len()
            && o.keys
                .iter()
                .zip(fields)
                .all(|(&(p, l), (k, _, _))| p == k.as_ptr() as usize && l == k.len())
    };
    ORDERS.with(|cache| {
        if let Some(o) = cache.borrow().get(&h) {
            // A different field list with the same hash is simply not cached.
            return same(o).then(|| o.clone());
        }
        let mut idx: Vec<u16> = (0..fields.len())
            .filter_map(|i| u16::try_from(i).ok())
            .collect();
        idx.sort_by(|&a, &b| fields[usize::from(a)].0.cmp(&fields[usize::from(b)].0));
        if idx
            .windows(2)
            .any(|w| fields[usize::from(w[0])].0 == fields[usize::from(w[1])].0)
        {
            return None;
        }
        let mut text = Vec::new();
        let mut ends = vec![0];
        for (j, &i) in idx.iter().enumerate() {
            text.push(if j == 0 { b'{' } else { b',' });
            write_str(&mut text, &fields[usize::from(i)].0).ok()?;
            text.push(b':');
            ends.push(text.len());
        }
        let order = std::rc::Rc::new(Order {
            keys: fields
                .iter()
                .map(|(k, _, _)| (k.as_ptr() as usize, k.len()))
                .collect(),
            perm: idx,
            text,
            ends,
        });
        let mut cache = cache.borrow_mut();
        if cache.len() < MAX_ORDERS {
            cache.insert(h, order.clone());
        }
        Some(order)
    })
}

impl Arr<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        if !self.first {
            self.st.out.push(b',');
        }
        self.first = false;
        value.serialize(Ser { st: self.st })
    }

    fn finish(self) -> Result<()> {
        self.st.out.push(b']');
        if self.close_variant {
            self.st.out.push(b'}');
        }
        Ok(())
    }
}

impl Ser<'_> {
    fn variant_open(&mut self, variant: &str) -> Result<()> {
        self.st.out.push(b'{');
        write_str(&mut self.st.out, variant)?;
        self.st.out.push(b':');
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
        self.st
            .out
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
        write_display(&mut self.st.out, v);
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
        write_display(&mut self.st.out, v);
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
        serde_json::to_writer(&mut self.st.out, &v).map_err(|e| SortedJsonError(e.to_string()))
    }
    fn serialize_char(self, v: char) -> Result<()> {
        let mut b = [0u8; 4];
        write_str(&mut self.st.out, v.encode_utf8(&mut b))
    }
    fn serialize_str(self, v: &str) -> Result<()> {
        write_str(&mut self.st.out, v)
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<()> {
        // Dates and times: formatted into a buffer kept for the whole value, not a new string.
        use std::fmt::Write as _;
        let mut text = std::mem::take(&mut self.st.text);
        text.clear();
        let r = write!(text, "{value}").map_err(|e| SortedJsonError(e.to_string()));
        let r = r.and_then(|()| write_str(&mut self.st.out, &text));
        self.st.text = text;
        r
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
        self.st.out.extend_from_slice(b"null");
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
        write_str(&mut self.st.out, variant)
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
        value.serialize(Ser { st: &mut *self.st })?;
        self.st.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Arr<'o>> {
        self.st.out.push(b'[');
        Ok(Arr {
            st: self.st,
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
        self.st.out.push(b'[');
        Ok(Arr {
            st: self.st,
            first: true,
            close_variant: true,
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Obj<'o>> {
        Ok(Obj::new(self.st, false))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Obj<'o>> {
        Ok(Obj::new(self.st, false))
    }
    fn serialize_struct_variant(
        mut self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Obj<'o>> {
        self.variant_open(variant)?;
        Ok(Obj::new(self.st, true))
    }
}

/// The sequence-like serde traits differ only in their names: each adds an element to `Arr`.
macro_rules! arr_impl {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Arr<'_> {
            type Ok = ();
            type Error = SortedJsonError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
                self.element(value)
            }
            fn end(self) -> Result<()> {
                self.finish()
            }
        }
    )*};
}

arr_impl!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// Structs and struct variants both add named fields to `Obj`.
macro_rules! obj_impl {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Obj<'_> {
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
    )*};
}

obj_impl!(SerializeStruct, SerializeStructVariant);

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

/// Canonical JSON written piece by piece by a caller that lays out the objects itself, in key
/// order (`map::layout`): plain text and whole values go through the same code as
/// `write_sorted`, so each piece has the bytes `write_sorted` gives it.
pub(crate) struct Writer<'c> {
    st: State,
    /// Bytes known to need no escape (a held set's, checked once as a whole): text that lies
    /// inside them is copied without looking at each byte again. Empty when they need one.
    clean: &'c [u8],
}

impl<'c> Writer<'c> {
    /// A writer into `out` (appended to), with this thread's working buffers; text inside
    /// `clean` is copied as it is if none of `clean` needs an escape.
    pub(crate) fn new(out: Vec<u8>, clean: &'c [u8]) -> Writer<'c> {
        let (entries, tmp, text) = SPARE.with(|s| std::mem::take(&mut *s.borrow_mut()));
        Writer {
            st: State {
                out,
                entries,
                tmp,
                text,
            },
            clean: if plain(clean) { clean } else { &[] },
        }
    }

    pub(crate) fn out(&mut self) -> &mut Vec<u8> {
        &mut self.st.out
    }

    /// A JSON string.
    #[inline(always)]
    pub(crate) fn str(&mut self, s: &str) -> Result<()> {
        let b = s.as_bytes();
        // Where `s` starts in `clean`: out of range (wrapped) when it is not in there.
        let at = (b.as_ptr() as usize).wrapping_sub(self.clean.as_ptr() as usize);
        let inside = at <= self.clean.len() && b.len() <= self.clean.len() - at;
        // Short text from elsewhere (code tables, defaults, converted values) is checked in
        // line too.
        if inside || (b.len() <= SHORT && short_plain(b)) {
            put_quoted(&mut self.st.out, b);
            return Ok(());
        }
        write_str(&mut self.st.out, s)
    }

    /// Any value, as `write_sorted` writes it.
    pub(crate) fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        value.serialize(Ser { st: &mut self.st })
    }

    /// The text written; the working buffers go back for the next value, as in `write_sorted`.
    pub(crate) fn finish(self) -> Vec<u8> {
        let State {
            out,
            mut entries,
            mut tmp,
            text,
        } = self.st;
        entries.clear();
        tmp.clear();
        if tmp.capacity() <= MAX_SPARE
            && entries.capacity() <= MAX_SPARE
            && text.capacity() <= MAX_SPARE
        {
            SPARE.with(|s| *s.borrow_mut() = (entries, tmp, text));
        }
        out
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

    /// `plain` (and `short_plain` up to `SHORT` bytes) against a byte loop, and `write_str`
    /// (`put_quoted`'s pieces up to `SHORT` bytes) against serde_json, with each byte at each
    /// place.
    #[test]
    fn plain_finds_every_byte_that_needs_an_escape() {
        let slow = |s: &[u8]| s.iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\');
        for b in 0..=255u8 {
            for len in 1..=40 {
                for at in 0..len {
                    let mut s = vec![b'a'; len];
                    s[at] = b;
                    assert_eq!(plain(&s), slow(&s), "byte {b:#x} at {at} of {len}");
                    if len <= SHORT {
                        assert_eq!(short_plain(&s), slow(&s), "byte {b:#x} at {at} of {len}");
                    }
                    if let Ok(t) = std::str::from_utf8(&s) {
                        let mut out = b"x".to_vec();
                        write_str(&mut out, t).expect("a string");
                        let want = serde_json::to_vec(t).expect("a string");
                        assert_eq!(out[1..], want, "byte {b:#x} at {at} of {len}");
                    }
                    s[0] = 0xff;
                    assert_eq!(
                        plain(&s),
                        slow(&s),
                        "byte {b:#x} at {at} of {len} after 0xff"
                    );
                }
            }
        }
    }

    /// Text inside a writer's clean bytes is copied without an escape check: each slice of a
    /// set's bytes (and a copy of it, which is not inside them) is written as serde_json
    /// writes it, by the writer and by `write_str`, whether the bytes need an escape somewhere
    /// or not.
    #[test]
    fn writer_writes_set_text_as_serde_json_does() {
        let base = "PO1*1*24*CA*42.10*PE*VC*B84115*N4*20796-1035-96~PID*F****GAUZE 4X4 12PLY \
                    STERILE 25/TRAY~N1*BY*ST MARY MEDICAL CENTER*92*456287~";
        let mut sets = vec![base.to_string()];
        for odd in ["\"", "\\", "\u{1}", "\n", "\u{1f}", "é", "\u{7f}", "€"] {
            sets.push(base.replacen("GAUZE", &format!("GA{odd}UZE"), 1));
            sets.push(format!("{odd}{base}"));
            sets.push(format!("{base}{odd}"));
        }
        for set in &sets {
            let cuts: Vec<usize> = (0..=set.len())
                .filter(|&i| set.is_char_boundary(i))
                .collect();
            for (k, &from) in cuts.iter().enumerate() {
                for &to in &cuts[k..] {
                    let s = &set[from..to];
                    let want = serde_json::to_vec(s).expect("a string");
                    let mut direct = Vec::new();
                    write_str(&mut direct, s).expect("a string");
                    assert_eq!(direct, want, "{set:?} {from}..{to}");
                    // A copy is not inside the set's bytes: it takes `write_str`.
                    let copy = String::from(s);
                    for text in [s, copy.as_str()] {
                        let mut w = Writer::new(Vec::new(), set.as_bytes());
                        w.str(text).expect("a string");
                        assert_eq!(w.finish(), want, "{set:?} {from}..{to}");
                    }
                }
            }
        }
    }

    #[test]
    fn refuses_what_it_cannot_reproduce() {
        let mut m = BTreeMap::new();
        m.insert(1, 2);
        assert!(to_sorted_string(&m).is_err());
        assert!(to_sorted_string(&u128::MAX).is_err());
    }
}
