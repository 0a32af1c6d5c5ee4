//! Canonical JSON written straight from the values an X12 map's rules read, for the document
//! kinds whose layout is described here (purchase orders): each rule's value goes into its
//! field's slot of a flat frame (`Arena`, by a `Plan` worked out when the map loads), and the
//! JSON is written from the frames in key order, without building the mapped tree, reading it
//! into the typed document and serializing that, then freeing it all.
//!
//! The bytes are those of the typed route by construction: each described struct lists its
//! fields in key order with how serde treats them when missing and when empty (required,
//! `Option` skipped when `None`, `Vec` skipped when empty), and every value that is not plain
//! text or a described struct (ids, dates, decimals, enums, structs a map seldom fills) is read
//! into its own canonical type and written by the same writer as before. Anything the typed
//! route could read differently or refuse (a missing required field, a value of another shape,
//! a value its type refuses) gives `None`, and the caller takes the tree and typed route, which
//! gives the same text or the error it always gave. A test checks each description against the
//! struct's JSON Schema, so a field added to a struct cannot be silently left out here.

use std::borrow::Cow;

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::node::{short_eq, Node};
use super::rules::{Block, Convert, Only, Source};
use crate::canonical::ids::CheckedText;
use crate::canonical::json::Writer;
use crate::canonical::{
    AllowanceCharge, ClinicalPriority, ControlNumber, CostCentre, Currency, Gtin, LineNumber,
    Money, OrderType, PartnerId, PartyIdScheme, PartyRole, PaymentTerms, PoNumber, Purpose,
    SourceFormat, Tax, Traceability, UomCode,
};

/// How a field's value is written.
#[derive(Clone, Copy)]
pub(crate) enum Ty {
    /// A `String`: text as it is.
    Text,
    /// A described struct.
    Struct(&'static Layout),
    /// Any other type: read into it and written as it serializes.
    Typed(WriteTyped),
    /// The document's `kind`, which the internally tagged `CanonicalDocument` writes among the
    /// struct's own fields; not read from the tree.
    Tag,
}

/// Reads a value into one canonical type and writes it; `None` when the type refuses it.
pub(crate) type WriteTyped = fn(&Node<'_>, &mut Writer<'_>) -> Option<()>;

fn typed<T: DeserializeOwned + Serialize>(v: &Node<'_>, w: &mut Writer<'_>) -> Option<()> {
    let t = T::deserialize(v).ok()?;
    w.value(&t).ok()
}

// ---- values written without reading them into their type, where that gives the same text --

/// The text of a value that reads as a `String` (what the id types read first).
fn text_of<'n>(v: &'n Node<'_>) -> Option<&'n str> {
    match v {
        Node::Text(s) => Some(s),
        Node::Value(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// An id type that serializes as the text it was made from: the text is checked with the
/// type's own check and written as it came, without the copy reading it would make.
fn checked<T: CheckedText>(v: &Node<'_>, w: &mut Writer<'_>) -> Option<()> {
    let s = text_of(v)?;
    T::check(s).ok()?;
    w.str(s).ok()
}

/// A unit-only enum's names as serde reads and writes them (`rename_all` applied); a test
/// checks each list against the names the derived `Deserialize` knows, and that each name
/// reads and writes as itself.
trait UnitNames: DeserializeOwned + Serialize {
    const NAMES: &'static [&'static str];
}

impl UnitNames for PartyRole {
    const NAMES: &'static [&'static str] = &[
        "buyer",
        "supplier",
        "ship_to",
        "bill_to",
        "ship_from",
        "remit_to",
        "sold_to",
        "carrier",
        "manufacturer",
        "receiving_location",
        "other",
    ];
}

impl UnitNames for PartyIdScheme {
    const NAMES: &'static [&'static str] = &[
        "gln",
        "duns",
        "duns_plus4",
        "buyer_assigned",
        "supplier_assigned",
        "hin",
        "dea",
        "san",
        "other",
    ];
}

impl UnitNames for Purpose {
    const NAMES: &'static [&'static str] = &[
        "original",
        "change",
        "cancel",
        "replace",
        "confirmation",
        "duplicate",
        "reissue",
        "information_copy",
    ];
}

impl UnitNames for OrderType {
    const NAMES: &'static [&'static str] = &[
        "standalone",
        "release",
        "blanket",
        "consignment",
        "bill_only",
        "drop_ship",
        "rush",
        "other",
    ];
}

impl UnitNames for ClinicalPriority {
    const NAMES: &'static [&'static str] = &["routine", "urgent", "stat"];
}

impl UnitNames for SourceFormat {
    const NAMES: &'static [&'static str] = &["x12", "cxml", "api"];
}

/// A unit variant named by its text reads as that variant and writes as the same text: written
/// as it is, without serde; anything else goes through `typed`.
fn unit<T: UnitNames>(v: &Node<'_>, w: &mut Writer<'_>) -> Option<()> {
    if let Some(s) = text_of(v) {
        if T::NAMES.iter().any(|n| short_eq(n, s)) {
            return w.str(s).ok();
        }
    }
    typed::<T>(v, w)
}

/// NDCs and GTINs are normalised by their parsers; parsed from the text in place.
fn ndc(v: &Node<'_>, w: &mut Writer<'_>) -> Option<()> {
    let s = text_of(v)?;
    // The digits `Ndc::parse` gives, without the `Ndc` (its allocation) or serde; digits need
    // no escape.
    let digits = crate::canonical::ndc::normalised_digits(s)?;
    let out = w.out();
    out.push(b'"');
    out.extend_from_slice(&digits);
    out.push(b'"');
    Some(())
}
fn gtin(v: &Node<'_>, w: &mut Writer<'_>) -> Option<()> {
    let g = Gtin::parse(text_of(v)?).ok()?;
    w.value(&g).ok()
}

/// A decimal in the plain form nearly every quantity and price has (digits, an optional
/// fraction, no sign, no leading zero, at most 18 digits) reads into a `Decimal` with that
/// scale and writes back as the same text; any other value is read and written by
/// `rust_decimal`.
fn decimal(v: &Node<'_>, w: &mut Writer<'_>) -> Option<()> {
    if let Some(s) = text_of(v) {
        if plain_decimal(s) {
            return w.str(s).ok();
        }
    }
    typed::<Decimal>(v, w)
}

fn plain_decimal(s: &str) -> bool {
    // One pass: digits with at most one dot, then the parts checked by their lengths.
    let b = s.as_bytes();
    let mut dots = 0;
    let mut dot = 0;
    for (i, &c) in b.iter().enumerate() {
        if c.wrapping_sub(b'0') > 9 {
            if c != b'.' {
                return false;
            }
            dots += 1;
            dot = i;
        }
    }
    let int = if dots == 0 { b.len() } else { dot };
    let digits = b.len() - dots;
    dots <= 1
        && int > 0
        && (int == 1 || b[0] != b'0')
        && (dots == 0 || dot + 1 < b.len())
        && digits <= 18
}

/// A date written `YYYY-MM-DD` that is in the calendar reads into a `NaiveDate` and writes
/// back as the same text; anything else is read and written by chrono.
fn date(v: &Node<'_>, w: &mut Writer<'_>) -> Option<()> {
    if let Some(s) = text_of(v) {
        let b = s.as_bytes();
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            b.get(r)?.iter().try_fold(0u32, |n, &d| {
                d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
            })
        };
        if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
            if let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) {
                let valid = i32::try_from(y)
                    .ok()
                    .and_then(|y| NaiveDate::from_ymd_opt(y, m, d))
                    .is_some();
                if valid {
                    return w.str(s).ok();
                }
            }
        }
    }
    typed::<NaiveDate>(v, w)
}

/// A UTC timestamp written as chrono writes one (`YYYY-MM-DDTHH:MM:SS`, the fraction in 3, 6
/// or 9 digits as `SecondsFormat::AutoSi` picks them, `Z`), as the provenance's `received_at`
/// is made: it reads into a `DateTime<FixedOffset>` that writes back as the same text. Anything
/// else is read and written by chrono.
fn timestamp(v: &Node<'_>, w: &mut Writer<'_>) -> Option<()> {
    if let Some(s) = text_of(v).filter(|s| canonical_timestamp(s)) {
        return w.str(s).ok();
    }
    typed::<DateTime<FixedOffset>>(v, w)
}

fn canonical_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b.get(r)?.iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let shape = matches!(b.len(), 20 | 24 | 27 | 30)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[b.len() - 1] == b'Z';
    if !shape {
        return false;
    }
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(sec)) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) else {
        return false;
    };
    let date = y >= 1
        && i32::try_from(y)
            .ok()
            .and_then(|y| NaiveDate::from_ymd_opt(y, mo, d))
            .is_some();
    // A fraction as AutoSi writes it: none for whole seconds, and no shorter form would do.
    let fraction = match b.len() {
        20 => true,
        n => b[19] == b'.' && num(20..n - 1).is_some() && &b[n - 4..n - 1] != b"000",
    };
    date && h <= 23 && mi <= 59 && sec <= 59 && fraction
}

/// What serde does with a field that is missing or empty.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Card {
    /// No default: a missing field is refused.
    Required,
    /// `Option<T>` with `default` and `skip_serializing_if = "Option::is_none"`.
    Optional,
    /// `Vec<T>` with `default` and `skip_serializing_if = "Vec::is_empty"`; `Ty` is the
    /// element's.
    List,
    /// `Vec<T>` with neither: a missing field is refused, an empty one written.
    RequiredList,
}

#[derive(Clone, Copy)]
pub(crate) struct Field {
    pub name: &'static str,
    /// `,"name":`, the key as written, with its comma (a frame's first comma becomes its `{`).
    key: &'static str,
    /// `key` padded to `KEY_ROOM` bytes (see `put_key`).
    padded: [u8; KEY_ROOM],
    pub card: Card,
    pub ty: Ty,
}

/// A field; the key text is made here once rather than pushed piece by piece per field written.
macro_rules! f {
    ($name:literal, $card:expr, $ty:expr $(,)?) => {
        Field {
            name: $name,
            key: concat!(",\"", $name, "\":"),
            padded: pad(concat!(",\"", $name, "\":")),
            card: $card,
            ty: $ty,
        }
    };
}

/// The most fields a struct may have (one bit each in a `u32`).
const MAX_FIELDS: usize = 32;

/// The room for a field's key as written, `,"name":` (`Field::padded`).
const KEY_ROOM: usize = 32;

const fn pad(key: &str) -> [u8; KEY_ROOM] {
    let b = key.as_bytes();
    assert!(b.len() <= KEY_ROOM);
    let mut out = [b' '; KEY_ROOM];
    let mut i = 0;
    while i < b.len() {
        out[i] = b[i];
        i += 1;
    }
    out
}

/// A struct's fields in key order.
pub(crate) struct Layout {
    pub fields: &'static [Field],
    /// The fields serde refuses to miss (`Required`, `RequiredList`).
    required: u32,
    /// The `Tag` field, written whatever the document holds.
    tag: u32,
}

const fn layout(fields: &'static [Field]) -> Layout {
    assert!(fields.len() <= MAX_FIELDS);
    let mut l = Layout {
        fields,
        required: 0,
        tag: 0,
    };
    let mut i = 0;
    while i < fields.len() {
        let bit = 1u32 << i;
        if matches!(fields[i].ty, Ty::Tag) {
            // `write_frame` writes a missing field only if it is required.
            assert!(matches!(fields[i].card, Card::Required));
            l.tag |= bit;
        }
        if matches!(fields[i].card, Card::Required | Card::RequiredList) {
            l.required |= bit;
        }
        i += 1;
    }
    l
}

impl Layout {
    fn find(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
}

use Card::{List, Optional, Required, RequiredList};
use Ty::{Struct, Tag, Text, Typed};

/// The layout of a document kind's struct, for the kinds described here.
fn layout_of(kind: &str) -> Option<&'static Layout> {
    match kind {
        "purchase_order" => Some(&PURCHASE_ORDER),
        _ => None,
    }
}

// ---- frames: a mapped document as flat slots, one per field of each struct ------------------

/// One slot of an `Arena`: plain data, so frames are made, overwritten and dropped without a
/// destructor per slot.
#[derive(Clone, Copy)]
pub(crate) enum Slot<'a> {
    Empty,
    /// Text as read, borrowed (nearly every value).
    Text(&'a str),
    /// Any other value (converted text, a number; in tests, any tree a typed field reads): its
    /// index in `Arena::values`.
    Value(usize),
    /// A described struct: where its frame starts.
    Frame(usize),
    /// A list: its first and last item (`NONE` when it has none).
    List(usize, usize),
    /// A list item: the next item (`NONE` after the last); the item's value is the next slot.
    Item(usize),
}

/// No item.
pub(crate) const NONE: usize = usize::MAX;

/// A document being mapped, as frames: a struct's fields in consecutive slots, in its layout's
/// order, so each value is put in its place by index and the JSON is written in key order
/// without a tree to build, search and free. A list item is a link slot, its value, then the
/// frame of its struct. Everything a block makes comes after what was there before it, so a
/// block that wrote nothing is undone by cutting the slots back.
pub(crate) struct Arena<'a> {
    slots: Vec<Slot<'a>>,
    values: Vec<Node<'a>>,
    /// Values (and list items) written so far: whether a block's object has content.
    pub writes: usize,
}

thread_local! {
    /// This thread's last frames, emptied: the next set's are made in their room rather than
    /// allocated and grown again (a set's frames take tens of KB).
    static SPARE: std::cell::RefCell<Spare> = const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// A thread's emptied `Arena` vectors.
type Spare = (Vec<Slot<'static>>, Vec<Node<'static>>);

/// The most slots kept for the next set: a rare huge set should not keep its memory.
const MAX_SPARE_SLOTS: usize = 1 << 16;

/// An emptied vector as one of the same type with another lifetime, in the same allocation
/// (collecting a vector's own iterator into one of a type of the same size reuses its room).
fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

impl Drop for Arena<'_> {
    fn drop(&mut self) {
        if self.slots.capacity() > MAX_SPARE_SLOTS {
            return;
        }
        let v = (
            recycle(std::mem::take(&mut self.slots)),
            recycle(std::mem::take(&mut self.values)),
        );
        // At thread exit the slot may be gone already: the vectors are then just freed.
        let _ = SPARE.try_with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                *s = v;
            }
        });
    }
}

impl<'a> Arena<'a> {
    /// Empty frames, in this thread's spare room.
    pub fn new() -> Self {
        let spare = SPARE
            .try_with(|s| s.try_borrow_mut().map(|mut s| std::mem::take(&mut *s)).ok())
            .ok()
            .flatten()
            .unwrap_or_default();
        Arena {
            slots: recycle(spare.0),
            values: recycle(spare.1),
            writes: 0,
        }
    }

    /// The slot of a value: borrowed text in place, anything else among `values`.
    #[inline]
    fn leaf(&mut self, v: Node<'a>) -> Slot<'a> {
        // Text moved out of `v` first: matched in place, `v` would be dropped after (a call).
        let v = match v {
            Node::Text(t) => match t {
                Cow::Borrowed(s) => return Slot::Text(s),
                t => Node::Text(t),
            },
            v => v,
        };
        self.values.push(v);
        Slot::Value(self.values.len() - 1)
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// A new frame of `len` empty fields; returns where it starts.
    pub fn frame(&mut self, len: usize) -> usize {
        let f = self.slots.len();
        self.slots.resize_with(f + len, || Slot::Empty);
        f
    }

    /// Drops what was made from `len` on (a block that wrote nothing), unlinking the frame
    /// `linked` had been given for it.
    pub fn undo(&mut self, len: usize, linked: Option<usize>) {
        if let Some(s) = linked.and_then(|at| self.slots.get_mut(at)) {
            *s = Slot::Empty;
        }
        self.slots.truncate(len);
    }

    /// The frame of the struct at `steps` from frame `f`, with the frames on the way made where
    /// missing; also the first slot given a new frame.
    fn reach(&mut self, mut f: usize, steps: &[(usize, usize)]) -> Option<(usize, Option<usize>)> {
        let mut linked = None;
        for &(j, len) in steps {
            let at = f + j;
            f = match self.slots.get(at)? {
                Slot::Frame(g) => *g,
                _ => {
                    let g = self.frame(len);
                    *self.slots.get_mut(at)? = Slot::Frame(g);
                    linked.get_or_insert(at);
                    g
                }
            };
        }
        Some((f, linked))
    }

    /// The frame of the struct field `p` names from frame `f` (made where missing; `len` its
    /// fields), and the first slot given a new frame on the way.
    pub fn reach_struct(
        &mut self,
        f: usize,
        p: &Place,
        len: usize,
    ) -> Option<(usize, Option<usize>)> {
        let (g, linked) = self.reach(f, &p.steps)?;
        let (h, last) = self.reach(g, &[(p.field, len)])?;
        Some((h, linked.or(last)))
    }

    /// Puts value `v` in the field `p` names from frame `f`, over anything there.
    #[inline]
    pub fn set(&mut self, f: usize, p: &Place, v: Node<'a>) -> Option<()> {
        let s = self.leaf(v);
        self.set_slot(f, p, s)
    }

    /// `set` of borrowed text (nearly every value), with no `Node` to make and take apart.
    #[inline]
    pub fn set_text(&mut self, f: usize, p: &Place, t: &'a str) -> Option<()> {
        self.set_slot(f, p, Slot::Text(t))
    }

    #[inline(always)]
    fn set_slot(&mut self, f: usize, p: &Place, s: Slot<'a>) -> Option<()> {
        let g = match p.steps.is_empty() {
            true => f,
            false => self.reach(f, &p.steps)?.0,
        };
        *self.slots.get_mut(g + p.field)? = s;
        self.writes += 1;
        Some(())
    }

    /// A new list item, not yet in a list, with a frame of `len` fields (`len` > 0) or an empty
    /// value slot (after the item's link slot); returns where the item starts.
    pub fn item(&mut self, len: usize) -> usize {
        let it = self.slots.len();
        self.slots.push(Slot::Item(NONE));
        if len == 0 {
            self.slots.push(Slot::Empty);
        } else {
            self.slots.push(Slot::Frame(Self::item_field(it, 0)));
            self.frame(len);
        }
        it
    }

    /// The value slot of item `it`.
    pub fn item_value(it: usize) -> usize {
        it + 1
    }

    /// The slot of field `k` of item `it`'s frame.
    pub fn item_field(it: usize, k: usize) -> usize {
        it + 2 + k
    }

    /// Puts `v` in slot `at` (a field of an item's frame, or an item's value).
    pub fn put(&mut self, at: usize, v: Node<'a>) -> Option<()> {
        let s = self.leaf(v);
        *self.slots.get_mut(at)? = s;
        Some(())
    }

    /// Appends item `it` to the list `p` names from frame `f`.
    pub fn link(&mut self, f: usize, p: &Place, it: usize) -> Option<()> {
        let (g, _) = self.reach(f, &p.steps)?;
        self.append(g + p.field, it)?;
        self.writes += 1;
        Some(())
    }

    fn append(&mut self, at: usize, it: usize) -> Option<()> {
        match *self.slots.get(at)? {
            Slot::List(first, last) if last != NONE => {
                *self.slots.get_mut(last)? = Slot::Item(it);
                *self.slots.get_mut(at)? = Slot::List(first, it);
            }
            _ => *self.slots.get_mut(at)? = Slot::List(it, it),
        }
        Some(())
    }
}

// ---- plans: where each rule of a map puts its value -----------------------------------------

/// A field reached from a block's struct: through struct fields (`(field, fields of its
/// struct)` each) to `field`.
#[derive(Clone)]
pub(crate) struct Place {
    steps: Box<[(usize, usize)]>,
    field: usize,
}

/// Where a block's rules and sub-blocks put their values, in the block's order; only those
/// read inbound are here, each with its index in the block, so a run steps over no others.
#[derive(Clone, Default)]
pub(crate) struct PlanBlock {
    pub rules: Vec<RulePlan>,
    pub blocks: Vec<BlockPlan>,
}

#[derive(Clone)]
pub(crate) struct RulePlan {
    /// The rule's index in its block's `rules`.
    pub rule: usize,
    /// The rule names no code table or conversion: text it reads is its value as it is.
    pub plain: bool,
    /// The rule has no default, `invalid_to` or `required`: reading nothing leaves nothing
    /// to do.
    pub quiet: bool,
    pub place: Place,
    /// For `invalid_to`: where an id that is not valid goes.
    pub invalid: Option<InvalidPlan>,
}

/// The list a rule's `invalid_to` names, and its item struct.
#[derive(Clone)]
pub(crate) struct InvalidPlan {
    pub list: Place,
    /// Fields of the item struct.
    pub len: usize,
    /// The item struct's `qualifier` and `value` fields.
    pub qualifier: usize,
    pub value: usize,
}

#[derive(Clone)]
pub(crate) struct BlockPlan {
    /// The block's index in its parent's `blocks`.
    pub index: usize,
    /// The struct field (`in`) or the list (`each`) the block fills.
    pub place: Place,
    /// Fields of the block's struct (the object's, or each item's); 0 for plain values.
    pub len: usize,
    pub block: PlanBlock,
}

/// How an X12 map's rules fill a document kind's layout, worked out once when the map loads:
/// its values then go straight into frames (`Arena`) and the JSON is written from those, with
/// the bytes the tree route gives. A map has none when a rule or block puts a value where its
/// tree could read differently than frames do (a key the struct does not have, a plain value
/// on a struct or list, an object merged over fields something else filled): it then takes
/// the tree route.
#[derive(Clone)]
pub(crate) struct Plan {
    pub layout: &'static Layout,
    pub root: PlanBlock,
    /// The provenance field and its struct.
    provenance: (usize, &'static Layout),
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Plan")
    }
}

/// The plan of an inbound X12 map of a kind with a layout; `None` when it has none (see
/// `Plan`).
pub(crate) fn plan(kind: &str, root: &Block) -> Option<Plan> {
    let layout = layout_of(kind)?;
    let j = layout.find("provenance")?;
    let Struct(prov) = layout.fields[j].ty else {
        return None;
    };
    // The provenance is put in after mapping, over anything the rules wrote there.
    if written_keys(root).any(|k| k == "provenance") {
        return None;
    }
    Some(Plan {
        layout,
        root: plan_block(layout, root)?,
        provenance: (j, prov),
    })
}

/// The first keys of what a block's rules and sub-blocks write inbound.
fn written_keys(b: &Block) -> impl Iterator<Item = &str> {
    let rules = b
        .rules
        .iter()
        .filter(|r| r.only != Some(Only::Outbound))
        .flat_map(|r| {
            r.to.first()
                .into_iter()
                .chain(r.invalid_to.iter().flatten().take(1))
        });
    let blocks = b
        .blocks
        .iter()
        .filter(|c| c.only != Some(Only::Outbound))
        .filter_map(|c| c.to.first());
    rules.chain(blocks).map(String::as_str)
}

/// The field `path` names from a struct of layout `l`, through structs only.
fn locate(mut l: &'static Layout, path: &[String]) -> Option<(Place, &'static Field)> {
    let (last, init) = path.split_last()?;
    let mut steps = Vec::new();
    for k in init {
        let j = l.find(k)?;
        let (Struct(inner), Optional | Required) = (l.fields[j].ty, l.fields[j].card) else {
            return None;
        };
        steps.push((j, inner.fields.len()));
        l = inner;
    }
    let j = l.find(last)?;
    let fd = &l.fields[j];
    if matches!(fd.ty, Tag) {
        return None;
    }
    Some((
        Place {
            steps: steps.into(),
            field: j,
        },
        fd,
    ))
}

fn plan_block(l: &'static Layout, b: &Block) -> Option<PlanBlock> {
    let mut rules = Vec::with_capacity(b.rules.len());
    for (k, r) in b.rules.iter().enumerate() {
        if r.only == Some(Only::Outbound) {
            continue;
        }
        let (place, fd) = locate(l, &r.to)?;
        // A rule's value is plain: on a struct or a list the tree route reads it differently.
        if matches!(fd.ty, Struct(_)) || matches!(fd.card, List | RequiredList) {
            return None;
        }
        let invalid = match &r.invalid_to {
            None => None,
            Some(inv) => {
                let (p, fd) = locate(l, inv)?;
                let (Struct(item), List | RequiredList) = (fd.ty, fd.card) else {
                    return None;
                };
                Some(InvalidPlan {
                    list: p,
                    len: item.fields.len(),
                    qualifier: item.find("qualifier")?,
                    value: item.find("value")?,
                })
            }
        };
        rules.push(RulePlan {
            rule: k,
            plain: r.table.is_none() && r.convert == Convert::None,
            quiet: r.default.is_none() && invalid.is_none() && !r.required,
            place,
            invalid,
        });
    }
    let mut blocks = Vec::with_capacity(b.blocks.len());
    for (k, c) in b.blocks.iter().enumerate() {
        if c.only == Some(Only::Outbound) || !matches!(c.source, Some(Source::X12(_))) {
            continue;
        }
        let (place, fd) = locate(l, &c.to)?;
        let plan = match (c.array, fd.card, fd.ty) {
            (true, List | RequiredList, Struct(item)) if c.scalar.is_none() => BlockPlan {
                index: k,
                place,
                len: item.fields.len(),
                block: plan_block(item, c)?,
            },
            (true, List | RequiredList, Text | Typed(_)) if c.scalar.is_some() => BlockPlan {
                index: k,
                place,
                len: 0,
                block: PlanBlock::default(),
            },
            (false, Optional | Required, Struct(inner)) if merges_alone(b, k, inner) => BlockPlan {
                index: k,
                place,
                len: inner.fields.len(),
                block: plan_block(inner, c)?,
            },
            _ => return None,
        };
        blocks.push(plan);
    }
    Some(PlanBlock { rules, blocks })
}

/// Whether object block `b.blocks[k]` (of struct `inner`) writes into its struct as the tree
/// route merges it there: that replaces each of the object's keys whole, where frames fill the
/// struct or list a key names further. The same only when nothing before the block in `b`
/// wrote into a struct or list field the block writes too.
fn merges_alone(b: &Block, k: usize, inner: &Layout) -> bool {
    let c = &b.blocks[k];
    let t = &c.to[..];
    let keys: Vec<&str> = written_keys(c).collect();
    let rules = b
        .rules
        .iter()
        .filter(|r| r.only != Some(Only::Outbound))
        .flat_map(|r| std::iter::once(&r.to).chain(&r.invalid_to));
    for path in rules {
        if let Some(key) = path.strip_prefix(t).and_then(|rest| rest.first()) {
            let whole = inner.find(key).is_some_and(|j| {
                matches!(inner.fields[j].ty, Struct(_))
                    || matches!(inner.fields[j].card, List | RequiredList)
            });
            if keys.contains(&key.as_str()) && whole {
                return false;
            }
        }
    }
    !b.blocks[..k]
        .iter()
        .filter(|d| d.only != Some(Only::Outbound))
        .any(|d| d.to.starts_with(t) || t.starts_with(&d.to))
}

impl Plan {
    /// The document's JSON, with its `kind` key and provenance: `None` when its values do not
    /// fit the layout as the typed route reads them. `set` is the held set's bytes
    /// (`SetTree::bytes`), which the frames' text is cut from.
    pub fn document<'a>(
        &self,
        kind: &str,
        a: &mut Arena<'a>,
        root: usize,
        provenance: &[(&'static str, Cow<'a, str>)],
        set: &[u8],
    ) -> Option<String> {
        let (j, l) = self.provenance;
        let (f, _) = a.reach_struct(
            root,
            &Place {
                steps: Box::new([]),
                field: j,
            },
            l.fields.len(),
        )?;
        for (k, v) in provenance {
            a.put(f + l.find(k)?, Node::Text(v.clone()))?;
        }
        document_json(self.layout, kind, a, root, set)
    }
}

/// The JSON of a typed document of this kind (its layout `l`), with its `kind` key, from its
/// frames; `None` when they are not ones this writer reads exactly as the typed route does.
/// Text cut from `set` is copied without an escape check when none of `set` needs one.
fn document_json(l: &Layout, kind: &str, a: &Arena<'_>, root: usize, set: &[u8]) -> Option<String> {
    // Room for a typical order (4-5 KB of JSON) without growing.
    let mut w = Writer::new(Vec::with_capacity(8192), set);
    let r = write_frame(l, kind, a, root, &mut w);
    let out = w.finish();
    r?;
    // Only escaped strings and ASCII go in, so this holds; checked rather than assumed.
    String::from_utf8(out).ok()
}

/// A frame's fields in key order; `kind` is what a `Tag` field writes. One pass over the
/// fields: each one present is written with its comma, and the first comma becomes the `{`.
fn write_frame(l: &Layout, kind: &str, a: &Arena<'_>, f: usize, w: &mut Writer<'_>) -> Option<()> {
    let slots = a.slots.get(f..f + l.fields.len())?;
    let start = w.out().len();
    let mut next = 0;
    loop {
        // Over the slots alone: most are empty, and a run of empty ones that may be missing
        // is stepped over before the field at hand (8 M fewer instructions per 10 MB than
        // skipping each as a step of this loop; a bit mask of the empty slots cost 6 M more).
        while let Some(Slot::Empty) = slots.get(next) {
            if l.required & (1 << next) != 0 {
                break;
            }
            next += 1;
        }
        let j = next;
        let Some(s) = slots.get(j) else {
            break;
        };
        next += 1;
        // A missing field writes nothing, and one serde refuses to miss gives `None`; but the
        // tag (required) is written though its slot is empty: it is not read from the tree.
        if let Slot::Empty = s {
            if l.tag & (1 << j) == 0 {
                return None;
            }
        }
        let fd = l.fields.get(j)?;
        match *s {
            Slot::List(mut it, _) => {
                match fd.card {
                    // What serde skips (an empty list) writes no key.
                    List if it == NONE => continue,
                    List | RequiredList => {}
                    // A list on a plain value: for the typed route to read or refuse.
                    Optional | Required => return None,
                }
                put_key(w.out(), fd);
                w.out().push(b'[');
                while it != NONE {
                    let Some(Slot::Item(next)) = a.slots.get(it) else {
                        return None;
                    };
                    write_one(fd.ty, kind, a, *a.slots.get(Arena::item_value(it))?, w)?;
                    it = *next;
                    if it != NONE {
                        w.out().push(b',');
                    }
                }
                w.out().push(b']');
            }
            // What serde skips (`None`) writes no key.
            Slot::Value(i)
                if fd.card == Optional
                    && matches!(a.values.get(i), Some(Node::Value(Value::Null))) => {}
            s => {
                // A plain value on a list: for the typed route to read or refuse.
                if matches!(fd.card, List | RequiredList) {
                    return None;
                }
                put_key(w.out(), fd);
                write_one(fd.ty, kind, a, s, w)?;
            }
        }
    }
    let out = w.out();
    match out.get_mut(start) {
        Some(comma) => *comma = b'{',
        None => out.push(b'{'),
    }
    out.push(b'}');
    Some(())
}

/// A field's key with its comma, `,"name":`, copied as the fixed-size padded key and cut to
/// its length: a copy of a known size is a few moves in line, where one of the key's own
/// length is a `memcpy` call.
#[inline(always)]
fn put_key(out: &mut Vec<u8>, fd: &Field) {
    let len = out.len() + fd.key.len();
    out.extend_from_slice(&fd.padded);
    out.truncate(len);
}

/// One value of a field (or of a list's item); in line in `write_frame`, its only caller.
#[inline(always)]
fn write_one(ty: Ty, kind: &str, a: &Arena<'_>, s: Slot<'_>, w: &mut Writer<'_>) -> Option<()> {
    match (ty, s) {
        (Text, Slot::Text(s)) => w.str(s).ok(),
        (Struct(l), Slot::Frame(f)) => write_frame(l, kind, a, f, w),
        // Borrowed text owns nothing: not dropped (a call) after the write.
        (Typed(write), Slot::Text(s)) => write(
            &std::mem::ManuallyDrop::new(Node::Text(Cow::Borrowed(s))),
            w,
        ),
        (Text | Typed(_), Slot::Value(i)) => write_value(ty, a.values.get(i)?, w),
        (Tag, _) => w.str(kind).ok(),
        // Anything else (a struct from a plain value, a list item of another shape...) is for
        // the typed route to read or refuse.
        _ => None,
    }
}

fn write_value(ty: Ty, v: &Node<'_>, w: &mut Writer<'_>) -> Option<()> {
    match (ty, v) {
        (Text, Node::Text(s)) => w.str(s).ok(),
        (Text, Node::Value(Value::String(s))) => w.str(s).ok(),
        (Typed(write), v) => write(v, w),
        _ => None,
    }
}
// ---- layouts: each struct's fields, sorted by name as the JSON writer sorts keys ----------

pub(crate) const PURCHASE_ORDER: Layout = layout(&[
    f!("ack_requested", Optional, Text),
    f!("allowances_charges", List, Typed(typed::<AllowanceCharge>)),
    f!("buyer", Required, Struct(&PARTY)),
    f!(
        "clinical_priority",
        Optional,
        Typed(unit::<ClinicalPriority>),
    ),
    f!("contract_number", Optional, Text),
    f!("cost_centre", Optional, Typed(checked::<CostCentre>)),
    f!("currency", Optional, Typed(checked::<Currency>)),
    f!("kind", Required, Tag),
    f!("lines", RequiredList, Struct(&PO_LINE)),
    f!("notes", List, Text),
    f!("order_date", Required, Typed(date)),
    f!("order_type", Optional, Typed(unit::<OrderType>)),
    f!("order_type_code", Optional, Text),
    f!("parties", List, Struct(&PARTY)),
    f!("payment_terms", List, Typed(typed::<PaymentTerms>)),
    f!("po_number", Required, Typed(checked::<PoNumber>)),
    f!("provenance", Required, Struct(&PROVENANCE)),
    f!("purpose", Required, Typed(unit::<Purpose>)),
    f!("references", List, Struct(&REFERENCE)),
    f!("release_number", Optional, Text),
    f!("requested_delivery_date", Optional, Typed(date)),
    f!("ship_complete", Optional, Typed(typed::<bool>)),
    f!("supplier", Required, Struct(&PARTY)),
    f!("taxes", List, Typed(typed::<Tax>)),
    f!("total", Optional, Typed(typed::<Money>)),
    f!("version", Optional, Text),
]);

pub(crate) const PO_LINE: Layout = layout(&[
    f!("allowances_charges", List, Typed(typed::<AllowanceCharge>)),
    f!(
        "clinical_priority",
        Optional,
        Typed(unit::<ClinicalPriority>),
    ),
    f!("cost_centre", Optional, Typed(checked::<CostCentre>)),
    f!("item", Required, Struct(&ITEM_REF)),
    f!("line_number", Optional, Typed(checked::<LineNumber>)),
    f!("notes", List, Text),
    f!("price_basis", Optional, Text),
    f!("quantity", Required, Struct(&QUANTITY)),
    f!("references", List, Struct(&REFERENCE)),
    f!("requested_delivery_date", Optional, Typed(date)),
    f!("ship_to", Optional, Struct(&PARTY)),
    f!("taxes", List, Typed(typed::<Tax>)),
    f!("traceability", List, Typed(typed::<Traceability>)),
    f!("unit_price", Optional, Struct(&MONEY)),
]);

pub(crate) const PARTY: Layout = layout(&[
    f!("address", Optional, Struct(&ADDRESS)),
    f!("ids", List, Struct(&PARTY_ID)),
    f!("name", Optional, Text),
    f!("role", Required, Typed(unit::<PartyRole>)),
    f!("role_code", Optional, Text),
]);

pub(crate) const PARTY_ID: Layout = layout(&[
    f!("qualifier", Optional, Text),
    f!("scheme", Required, Typed(unit::<PartyIdScheme>)),
    f!("value", Required, Text),
]);

pub(crate) const ADDRESS: Layout = layout(&[
    f!("city", Optional, Text),
    f!("country", Optional, Text),
    f!("lines", List, Text),
    f!("postal_code", Optional, Text),
    f!("state", Optional, Text),
]);

pub(crate) const ITEM_REF: Layout = layout(&[
    f!("buyer_part", Optional, Text),
    f!("description", Optional, Text),
    f!("gtin", Optional, Typed(gtin)),
    f!("hibcc", Optional, Text),
    f!("manufacturer_name", Optional, Text),
    f!("manufacturer_part", Optional, Text),
    f!("ndc", Optional, Typed(ndc)),
    f!("other_ids", List, Struct(&QUALIFIED_ID)),
    f!("supplier_aux_id", Optional, Text),
    f!("udi_di", Optional, Text),
    f!("vendor_part", Optional, Text),
]);

pub(crate) const QUALIFIED_ID: Layout =
    layout(&[f!("qualifier", Required, Text), f!("value", Required, Text)]);

pub(crate) const QUANTITY: Layout = layout(&[
    f!("uom", Required, Typed(checked::<UomCode>)),
    f!("value", Required, Typed(decimal)),
]);

pub(crate) const MONEY: Layout = layout(&[
    f!("amount", Required, Typed(decimal)),
    f!("currency", Required, Typed(checked::<Currency>)),
]);

pub(crate) const REFERENCE: Layout = layout(&[
    f!("description", Optional, Text),
    f!("qualifier", Required, Text),
    f!("value", Required, Text),
]);

pub(crate) const PROVENANCE: Layout = layout(&[
    f!("group_control", Optional, Typed(checked::<ControlNumber>)),
    f!("inbox_id", Optional, Text),
    f!(
        "interchange_control",
        Optional,
        Typed(checked::<ControlNumber>),
    ),
    f!("partner", Required, Typed(checked::<PartnerId>)),
    f!("payload_id", Optional, Text),
    f!("producer_hash", Required, Text),
    f!("received_at", Required, Typed(timestamp)),
    f!("set_control", Optional, Typed(checked::<ControlNumber>)),
    f!("source_format", Required, Typed(unit::<SourceFormat>)),
    f!("version", Optional, Text),
]);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::Ndc;

    /// Each layout against its struct's JSON Schema: the same field names, required exactly
    /// where the struct requires them, and sorted as the JSON writer sorts keys.
    #[test]
    fn layouts_match_the_canonical_structs() {
        use crate::canonical::Party;
        use crate::canonical::{
            Address, ItemRef, PartyId, PoLine, Provenance, PurchaseOrder, QualifiedId, Quantity,
            Reference,
        };
        fn check<T: schemars::JsonSchema>(fields: &[Field], extra: &[&str]) {
            let name = std::any::type_name::<T>();
            let schema = serde_json::to_value(schemars::schema_for!(T)).expect("schema");
            let props = schema["properties"].as_object().expect("properties");
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut want: Vec<&str> = props.keys().map(String::as_str).collect();
            want.extend(extra);
            want.sort_unstable();
            let got: Vec<&str> = fields.iter().map(|f| f.name).collect();
            assert_eq!(got, want, "{name}: fields, in key order");
            for fd in fields.iter().filter(|fd| !extra.contains(&fd.name)) {
                let req = matches!(fd.card, Required | RequiredList);
                assert_eq!(
                    req,
                    required.contains(&fd.name),
                    "{name}.{}: required",
                    fd.name
                );
                let is_array = props[fd.name]["type"] == "array";
                let listed = matches!(fd.card, List | RequiredList);
                assert_eq!(listed, is_array, "{name}.{}: list", fd.name);
            }
        }
        check::<PurchaseOrder>(PURCHASE_ORDER.fields, &["kind"]);
        check::<PoLine>(PO_LINE.fields, &[]);
        check::<Party>(PARTY.fields, &[]);
        check::<PartyId>(PARTY_ID.fields, &[]);
        check::<Address>(ADDRESS.fields, &[]);
        check::<ItemRef>(ITEM_REF.fields, &[]);
        check::<QualifiedId>(QUALIFIED_ID.fields, &[]);
        check::<Quantity>(QUANTITY.fields, &[]);
        check::<Money>(MONEY.fields, &[]);
        check::<Reference>(REFERENCE.fields, &[]);
        check::<Provenance>(PROVENANCE.fields, &[]);
    }

    /// A mapped tree as the maps build it: text as `Text`, anything else as it is.
    fn node(v: &Value) -> Node<'_> {
        match v {
            Value::String(s) => Node::Text(s.as_str().into()),
            Value::Array(a) => Node::Array(a.iter().map(node).collect()),
            Value::Object(o) => {
                Node::Object(o.iter().map(|(k, v)| (k.as_str(), node(v))).collect())
            }
            other => Node::Value(other.clone()),
        }
    }

    /// What the typed route writes for the same tree, or `None` when it refuses it.
    fn typed_route(v: &Value) -> Option<String> {
        use serde::Deserialize;
        let po = crate::canonical::PurchaseOrder::deserialize(&node(v)).ok()?;
        let doc = crate::canonical::CanonicalDocument::from(po);
        crate::canonical::json::to_sorted_string(&doc).ok()
    }

    fn full_order() -> Value {
        let party = |role: &str| {
            serde_json::json!({
                "role": role, "role_code": "ST", "name": "A \"quoted\" name\\",
                "ids": [{"scheme": "gln", "value": "0614141000005"},
                        {"scheme": "other", "qualifier": "ZZ", "value": "X1"}],
                "address": {"lines": ["1 Main St", "Dock 4"], "city": "Springfield",
                            "state": "IL", "postal_code": "62701", "country": "US"}
            })
        };
        let money = serde_json::json!({"amount": "12.50", "currency": "USD"});
        let mut order = serde_json::json!({
            "provenance": {
                "source_format": "x12", "version": "004010", "partner": "ACME",
                "interchange_control": "000000905", "group_control": "1", "set_control": "0001",
                "payload_id": "p@x", "inbox_id": "in-1",
                "received_at": "2024-01-02T03:04:05.123456789+01:00", "producer_hash": "abc"
            },
            "po_number": "PO-1", "purpose": "original", "order_type": "standalone",
            "order_type_code": "SA", "order_date": "2024-01-31", "version": "2",
            "release_number": "R1", "contract_number": "C1", "ack_requested": "AC",
            "currency": "USD", "buyer": party("buyer"), "supplier": party("supplier"),
            "parties": [party("ship_to"), {"role": "other"}],
            "requested_delivery_date": "2024-02-29", "cost_centre": "DP1",
            "clinical_priority": "stat", "ship_complete": true
        });
        order["payment_terms"] = serde_json::json!([{"type_code": "01", "discount_percent": "2",
            "discount_days": 10, "net_days": 30, "description": "2% 10 net 30"}]);
        order["allowances_charges"] = serde_json::json!([{"indicator": "charge", "code": "D240",
            "amount": money, "percent": "1.5", "rate": "0.25", "handling": "06",
            "description": "freight"}]);
        order["taxes"] = serde_json::json!([{"tax_type": "ST", "amount": money, "percent": "7.25",
            "jurisdiction": "IL", "description": "state"}]);
        order["total"] = serde_json::json!({"amount": "1000.00", "currency": "EUR"});
        order["references"] = serde_json::json!([
            {"qualifier": "CT", "value": "GPO1", "description": "contract"},
            {"qualifier": "LI", "value": "2"}]);
        order["notes"] = serde_json::json!(["note one", "tab\there"]);
        order["unknown_key"] = serde_json::json!({"ignored": [1, 2]});
        let item = serde_json::json!({"buyer_part": "B1", "vendor_part": "V1",
            "supplier_aux_id": "AUX", "manufacturer_part": "M1", "manufacturer_name": "Maker",
            "gtin": "00036000291452", "hibcc": "+H123PROD1", "ndc": "12345678901",
            "udi_di": "00036000291452", "description": "GLOVES 100/BX",
            "other_ids": [{"qualifier": "UP", "value": "234567890123"}]});
        let line = serde_json::json!(
                {"line_number": "0001",
                 "item": item,
                 "quantity": {"value": "24", "uom": "CA"}, "unit_price": money,
                 "price_basis": "PE", "requested_delivery_date": "2024-03-01",
                 "ship_to": party("ship_to"), "cost_centre": "DP2", "clinical_priority": "urgent",
                 "allowances_charges": [{"indicator": "allowance"}],
                 "taxes": [{"amount": money}],
                 "traceability": [{"lot": "L1", "serial": "S1", "expiry_date": "2026-01-01",
                                   "manufacture_date": "2024-01-01", "udi": "(01)1", "quantity": "3"}],
                 "references": [{"qualifier": "LI", "value": "1"}], "notes": ["line note"]});
        order["lines"] =
            serde_json::json!([line, {"item": {}, "quantity": {"value": "1.000", "uom": "EA"}}]);
        order
    }

    /// The layout writes what the typed route writes, on an order with every field filled and
    /// on the same order with each field in turn removed, emptied or given another shape.
    #[test]
    fn layout_writes_the_typed_route_bytes() {
        let full = full_order();
        let want = typed_route(&full).expect("the full order is valid");
        assert_eq!(frames_json(&full).as_ref(), Some(&want));
        let mut variants = Vec::new();
        let mut edit = |path: &[&str], f: &dyn Fn(&mut Value)| {
            let mut v = full.clone();
            let mut cur = &mut v;
            for p in path {
                cur = match p.parse::<usize>() {
                    Ok(i) => &mut cur[i],
                    Err(_) => &mut cur[*p],
                };
            }
            f(cur);
            variants.push(v);
        };
        let keys = |v: &Value| -> Vec<String> {
            v.as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        };
        for path in [
            vec![],
            vec!["provenance"],
            vec!["buyer"],
            vec!["buyer", "address"],
            vec!["buyer", "ids", "1"],
            vec!["lines", "0"],
            vec!["lines", "0", "item"],
            vec!["lines", "0", "quantity"],
            vec!["lines", "0", "unit_price"],
            vec!["references", "0"],
        ] {
            let mut at = &full;
            for p in &path {
                at = match p.parse::<usize>() {
                    Ok(i) => &at[i],
                    Err(_) => &at[*p],
                };
            }
            for k in keys(at) {
                let remove = |v: &mut Value| {
                    if let Some(o) = v.as_object_mut() {
                        o.remove(&k);
                    }
                };
                edit(&path, &remove);
                for other in [
                    Value::Null,
                    serde_json::json!([]),
                    serde_json::json!({}),
                    serde_json::json!(7),
                    serde_json::json!(""),
                    serde_json::json!(" x"),
                    serde_json::json!("2024-13-01"),
                    serde_json::json!(["a"]),
                ] {
                    let put = |v: &mut Value| v[k.as_str()] = other.clone();
                    edit(&path, &put);
                }
            }
        }
        let mut fast = 0;
        for v in &variants {
            let got = frames_json(v);
            if got.is_some() {
                fast += 1;
                assert_eq!(got, typed_route(v), "{v}");
            }
        }
        assert!(fast > variants.len() / 4, "{fast} of {}", variants.len());
    }

    /// Each value written in place writes what reading it into its type and writing that does,
    /// and is refused where that is refused.
    #[test]
    fn values_in_place_are_the_typed_values() {
        let texts = [
            "",
            " ",
            "0",
            "00",
            "7",
            "07",
            "42.10",
            "42.1",
            "0.5",
            "00.5",
            ".5",
            "5.",
            "-1.5",
            "+1",
            "1e3",
            "1.2.3",
            "123456789012345678",
            "1234567890123456789",
            "0.000000000000000001",
            "99999999999999999999999999999",
            "1.0000000000000000000000000001",
            "12 ",
            " 12",
            "A",
            "ABC",
            "USD",
            "usd",
            "EA",
            "E A",
            "ABCDEFGHI",
            "PO\u{1}1",
            "PO-1",
            "2024-01-31",
            "2024-02-30",
            "2024-2-3",
            "0000-01-01",
            "9999-12-31",
            "2024-01-31 ",
            "+2024-01-31",
            "20240131",
            "2024-13-01",
            "12345-6789-01",
            "1234-5678-90",
            "12345678901",
            "036000291452",
            "00036000291452",
            "036000291453",
            "Ünïcode",
            "ÉA",
        ];
        let mut values: Vec<Value> = texts.iter().map(|t| Value::String((*t).into())).collect();
        values.extend([
            Value::Null,
            serde_json::json!(7),
            serde_json::json!(1.5),
            serde_json::json!(true),
        ]);
        values.extend(
            [
                "2026-11-27T12:22:27.331592975Z",
                "2026-11-27T12:22:27.331592000Z",
                "2026-11-27T12:22:27.331592Z",
                "2026-11-27T12:22:27.331000Z",
                "2026-11-27T12:22:27.331Z",
                "2026-11-27T12:22:27.000Z",
                "2026-11-27T12:22:27Z",
                "2026-11-27T12:22:27.3Z",
                "2026-11-27T12:22:60Z",
                "2026-11-27T24:00:00Z",
                "2026-02-30T12:22:27Z",
                "0000-01-01T00:00:00Z",
                "2026-11-27T12:22:27+00:00",
                "2026-11-27T12:22:27.5+01:00",
                "2026-11-27 12:22:27Z",
                "2026-11-27t12:22:27Z",
            ]
            .map(Value::from),
        );
        type W = fn(&Node<'_>, &mut Writer<'_>) -> Option<()>;
        let pairs: [(&str, W, W); 12] = [
            ("po_number", checked::<PoNumber>, typed::<PoNumber>),
            ("line_number", checked::<LineNumber>, typed::<LineNumber>),
            ("cost_centre", checked::<CostCentre>, typed::<CostCentre>),
            (
                "control_number",
                checked::<ControlNumber>,
                typed::<ControlNumber>,
            ),
            ("partner_id", checked::<PartnerId>, typed::<PartnerId>),
            ("uom", checked::<UomCode>, typed::<UomCode>),
            ("currency", checked::<Currency>, typed::<Currency>),
            ("ndc", ndc, typed::<Ndc>),
            ("gtin", gtin, typed::<Gtin>),
            ("decimal", decimal, typed::<Decimal>),
            ("date", date, typed::<NaiveDate>),
            ("timestamp", timestamp, typed::<DateTime<FixedOffset>>),
        ];
        let run = |f: W, n: &Node<'_>| {
            let mut w = Writer::new(Vec::new(), &[]);
            let r = f(n, &mut w);
            let out = w.finish();
            r.map(|()| out)
        };
        for v in &values {
            for n in [node(v), Node::Value(v.clone())] {
                for (name, fast, slow) in pairs {
                    assert_eq!(run(fast, &n), run(slow, &n), "{name}: {v}");
                }
            }
        }
    }

    /// The variant names a derived `Deserialize` of a unit-only enum knows, as it passes
    /// them to `deserialize_enum`.
    fn serde_names<T: DeserializeOwned>() -> Vec<&'static str> {
        use serde::de::{value::Error, Visitor};
        use std::cell::Cell;
        struct Catch<'c>(&'c Cell<&'static [&'static str]>);
        impl<'de> serde::Deserializer<'de> for Catch<'_> {
            type Error = Error;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
                Err(serde::de::Error::custom("not an enum"))
            }
            fn deserialize_enum<V: Visitor<'de>>(
                self,
                _: &'static str,
                variants: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Error> {
                self.0.set(variants);
                Err(serde::de::Error::custom("caught"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
                struct identifier ignored_any
            }
        }
        let cell = Cell::new(&[][..]);
        assert!(T::deserialize(Catch(&cell)).is_err());
        cell.get().to_vec()
    }

    /// Each enum's list of names is the one serde has, each name reads and writes as itself
    /// through serde, and any other value is written as `typed` writes it (or refused).
    #[test]
    fn unit_names_are_the_serde_names() {
        fn check<T: UnitNames>() {
            let name = std::any::type_name::<T>();
            let mut want = serde_names::<T>();
            let mut got = T::NAMES.to_vec();
            want.sort_unstable();
            got.sort_unstable();
            assert!(!got.is_empty(), "{name}");
            assert_eq!(got, want, "{name}");
            let run = |f: WriteTyped, n: &Node<'_>| {
                let mut w = Writer::new(Vec::new(), &[]);
                let r = f(n, &mut w);
                let out = w.finish();
                r.map(|()| out)
            };
            let mut values: Vec<Value> = T::NAMES.iter().map(|&n| Value::from(n)).collect();
            values
                .extend(["", "Buyer", "BUYER", "buyer ", "ShipTo", "x", "other_"].map(Value::from));
            values.extend([Value::Null, serde_json::json!(1), serde_json::json!(true)]);
            for v in &values {
                for n in [node(v), Node::Value(v.clone())] {
                    let fast = run(unit::<T>, &n);
                    assert_eq!(fast, run(typed::<T>, &n), "{name}: {v}");
                    if let Some(s) = v.as_str().filter(|s| T::NAMES.iter().any(|n| n == s)) {
                        assert_eq!(fast, Some(format!("\"{s}\"").into_bytes()), "{name}");
                    }
                }
            }
        }
        check::<PartyRole>();
        check::<PartyIdScheme>();
        check::<Purpose>();
        check::<OrderType>();
        check::<ClinicalPriority>();
        check::<SourceFormat>();
    }

    /// The shipped purchase order map, alone and with each partner's maps, is written from
    /// frames: a change to the map or a layout that loses its plan fails here rather than
    /// slowing translation down unnoticed.
    #[test]
    fn the_850_map_has_a_plan() {
        let g = crate::x12::grammar::Grammars::embedded().expect("grammars");
        let maps = crate::map::MapSet::embedded(&g).expect("maps");
        for partner in [None, Some("meridian")] {
            let m = maps.x12_map("850", "004010", partner).expect("an 850 map");
            assert!(m.plan.is_some(), "{partner:?}");
        }
    }

    /// The JSON written from the frames a document fills as a map fills them: an object on a
    /// struct field as a frame, an array on a list field as a list, anything else as a value.
    fn frames_json(v: &Value) -> Option<String> {
        fn fill<'v>(
            a: &mut Arena<'v>,
            l: &'static Layout,
            o: &'v serde_json::Map<String, Value>,
        ) -> usize {
            let f = a.frame(l.fields.len());
            for (j, fd) in l.fields.iter().enumerate() {
                let Some(v) = o.get(fd.name).filter(|_| !matches!(fd.ty, Tag)) else {
                    continue;
                };
                a.slots[f + j] = match (fd.card, fd.ty, v) {
                    (Optional | Required, Struct(inner), Value::Object(m)) => {
                        Slot::Frame(fill(a, inner, m))
                    }
                    (List | RequiredList, ty, Value::Array(items)) => {
                        a.slots[f + j] = Slot::List(NONE, NONE);
                        for item in items {
                            let it = a.item(0);
                            a.slots[Arena::item_value(it)] = match (ty, item) {
                                (Struct(inner), Value::Object(m)) => Slot::Frame(fill(a, inner, m)),
                                _ => a.leaf(node(item)),
                            };
                            a.append(f + j, it).expect("a list");
                        }
                        continue;
                    }
                    _ => a.leaf(node(v)),
                };
            }
            f
        }
        let mut a = Arena::new();
        let root = fill(&mut a, &PURCHASE_ORDER, v.as_object()?);
        document_json(&PURCHASE_ORDER, "purchase_order", &a, root, &[])
    }
}
