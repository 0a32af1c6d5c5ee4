//! Grammars as data: loads the element and segment dictionaries and the transaction-set
//! structures from `grammars/x12/<version>/*.toml` (embedded at build time, or a directory the
//! caller names), checks every reference, and compiles them into tables the validator walks.
//! A mistake is reported as `file:line: what is wrong, expected what`. It does not validate
//! documents; `validate` does.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use include_dir::{include_dir, Dir};
use serde::Deserialize;
use toml::Spanned;

static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/grammars/x12");

/// A grammar file problem, with the file and line it comes from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct GrammarError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Packs a 2-3 character segment id into one integer for fast comparison.
#[inline]
pub fn seg_key(id: &[u8]) -> u32 {
    match id {
        [a, b] => u32::from_be_bytes([2, *a, *b, 0]),
        [a, b, c] => u32::from_be_bytes([3, *a, *b, *c]),
        [a] => u32::from_be_bytes([1, *a, 0, 0]),
        _ => 0,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElemType {
    AN,
    ID,
    DT,
    TM,
    R,
    /// Numeric with this many implied decimals (N0 .. N9).
    N(u8),
    B,
}

impl ElemType {
    fn parse(s: &str) -> Option<ElemType> {
        Some(match s {
            "AN" => ElemType::AN,
            "ID" => ElemType::ID,
            "DT" => ElemType::DT,
            "TM" => ElemType::TM,
            "R" => ElemType::R,
            "B" => ElemType::B,
            "N" => ElemType::N(0),
            _ => {
                let d = s.strip_prefix('N')?;
                let n: u8 = d.parse().ok()?;
                if n > 9 {
                    return None;
                }
                ElemType::N(n)
            }
        })
    }
}

impl fmt::Display for ElemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElemType::AN => f.write_str("AN"),
            ElemType::ID => f.write_str("ID"),
            ElemType::DT => f.write_str("DT"),
            ElemType::TM => f.write_str("TM"),
            ElemType::R => f.write_str("R"),
            ElemType::N(n) => write!(f, "N{n}"),
            ElemType::B => f.write_str("B"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Req {
    Mandatory,
    Optional,
    /// Relational: governed by a syntax note.
    Relational,
}

impl Req {
    fn parse(s: &str) -> Option<Req> {
        match s {
            "M" => Some(Req::Mandatory),
            "O" => Some(Req::Optional),
            "X" | "C" => Some(Req::Relational),
            _ => None,
        }
    }
}

/// Code values of an ID element. Packed so that the common short codes compare as integers.
#[derive(Debug, Clone, Default)]
pub struct CodeList {
    /// Codes of up to 7 bytes packed into a u64 (see `pack`), in an open-addressing table of
    /// power-of-two size with 0 for an empty slot: one multiply and usually one probe per
    /// lookup, where a binary search over hundreds of unit codes took ten unpredictable steps.
    short: Vec<u64>,
    shift: u32,
    long: Vec<Vec<u8>>,
    /// The list is the standard's whole list for this version: a value outside it is AK403 7.
    pub complete: bool,
    pub names: BTreeMap<String, String>,
}

/// The length in the top byte, then the bytes big-endian, zero-padded: `[len, v.., 0..]`.
/// Shifted in a byte at a time: a copy into a stack buffer read back as one word stalled
/// (a wide load cannot take forwarded the narrow stores of the copy); codes are short, and
/// the commonest lengths (two and three bytes) are put together without a loop.
#[inline(always)]
fn pack(v: &[u8]) -> Option<u64> {
    // The two- and three-byte arms whole, constants and all: a shift by the length worked out
    // after the match cost more than the bytes' own shifts.
    match *v {
        [a, b] => Some((2 << 56) | (u64::from(u16::from_be_bytes([a, b])) << 40)),
        [a, b, c] => {
            Some((3 << 56) | (u64::from(a) << 48) | (u64::from(u16::from_be_bytes([b, c])) << 32))
        }
        _ if v.len() > 7 => None,
        _ => {
            let n = v.len();
            let be = v.iter().fold(0u64, |k, &b| (k << 8) | u64::from(b));
            Some(((n as u64) << 56) | (be << (8 * (7 - n))))
        }
    }
}

impl CodeList {
    fn new(values: &[String], complete: bool, names: BTreeMap<String, String>) -> Self {
        let packed: Vec<u64> = values
            .iter()
            .filter(|v| !v.is_empty())
            .filter_map(|v| pack(v.as_bytes()))
            .collect();
        let mut long: Vec<Vec<u8>> = values
            .iter()
            .filter(|v| pack(v.as_bytes()).is_none())
            .map(|v| v.as_bytes().to_vec())
            .collect();
        long.sort();
        // At most half full, so probe runs stay short.
        let size = (packed.len() * 2).next_power_of_two().max(8);
        let shift = 64 - size.trailing_zeros();
        let mut short = vec![0u64; size];
        for p in packed {
            let mut i = Self::slot(p, shift);
            while short[i] != 0 && short[i] != p {
                i = (i + 1) & (size - 1);
            }
            short[i] = p;
        }
        CodeList {
            short,
            shift,
            long,
            complete,
            names,
        }
    }

    #[inline]
    fn slot(p: u64, shift: u32) -> usize {
        (p.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
    }

    // Always inlined: a call per coded value cost more than the lookup in the element loops.
    #[inline(always)]
    pub fn contains(&self, v: &[u8]) -> bool {
        match pack(v) {
            Some(0) => false,
            Some(p) => {
                let mask = self.short.len() - 1;
                let mut i = Self::slot(p, self.shift);
                loop {
                    match self.short[i] {
                        0 => return false,
                        x if x == p => return true,
                        _ => i = (i + 1) & mask,
                    }
                }
            }
            None => self.long.iter().any(|l| l == v),
        }
    }

    pub fn name(&self, v: &str) -> Option<&str> {
        self.names.get(v).map(String::as_str)
    }
}

#[derive(Debug, Clone)]
pub struct ElementDef {
    pub id: String,
    pub name: String,
    pub typ: ElemType,
    pub min: u32,
    pub max: u32,
    pub codes: Option<CodeList>,
}

/// A simple element at one position of a segment or composite, with effective type and length.
#[derive(Debug, Clone)]
pub struct ElementUse {
    pub element: usize,
    pub req: Req,
    pub typ: ElemType,
    pub min: u32,
    pub max: u32,
    pub repeat: u32,
}

#[derive(Debug, Clone)]
pub enum Position {
    Simple(ElementUse),
    Composite {
        composite: usize,
        req: Req,
        repeat: u32,
    },
}

impl Position {
    pub fn req(&self) -> Req {
        match self {
            Position::Simple(u) => u.req,
            Position::Composite { req, .. } => *req,
        }
    }
    pub fn repeat(&self) -> u32 {
        match self {
            Position::Simple(u) => u.repeat,
            Position::Composite { repeat, .. } => *repeat,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    /// Paired: if any is present, all are required.
    Paired,
    /// Required: at least one is required.
    Required,
    /// Exclusion: at most one may be present.
    Exclusion,
    /// Conditional: if the first is present, all others are required.
    Conditional,
    /// List conditional: if the first is present, at least one other is required.
    ListConditional,
}

#[derive(Debug, Clone)]
pub struct SyntaxNote {
    pub kind: NoteKind,
    /// 1-based positions.
    pub positions: Vec<usize>,
    pub text: String,
    /// Bit p-1 set for every position p of the note (positions above 64 are left out).
    pub mask: u64,
    /// Bit of the first position (the condition of C and L notes).
    pub first_bit: u64,
}

impl SyntaxNote {
    /// Whether the note is broken, given the bit set of present positions. This is the fast
    /// path run for every segment; the caller works out what to blame only when it is broken.
    #[inline]
    pub fn broken(&self, present: u64) -> bool {
        let m = present & self.mask;
        let rest = self.mask & !self.first_bit;
        match self.kind {
            NoteKind::Paired => m != 0 && m != self.mask,
            NoteKind::Required => m == 0,
            NoteKind::Exclusion => m.count_ones() > 1,
            NoteKind::Conditional => m & self.first_bit != 0 && m & rest != rest,
            NoteKind::ListConditional => m & self.first_bit != 0 && m & rest == 0,
        }
    }
}

fn parse_note(s: &str) -> Option<SyntaxNote> {
    let mut chars = s.chars();
    let kind = match chars.next()? {
        'P' => NoteKind::Paired,
        'R' => NoteKind::Required,
        'E' => NoteKind::Exclusion,
        'C' => NoteKind::Conditional,
        'L' => NoteKind::ListConditional,
        _ => return None,
    };
    let digits = chars.as_str();
    if digits.len() < 4 || digits.len() % 2 != 0 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let positions: Vec<usize> = digits
        .as_bytes()
        .chunks(2)
        .map(|c| ((c[0] - b'0') * 10 + (c[1] - b'0')) as usize)
        .collect();
    let bit = |p: &usize| match *p {
        1..=64 => 1u64 << (p - 1),
        _ => 0,
    };
    let mask = positions.iter().map(bit).fold(0, |a, b| a | b);
    let first_bit = positions.first().map(bit).unwrap_or(0);
    Some(SyntaxNote {
        kind,
        mask,
        first_bit,
        positions,
        text: s.to_string(),
    })
}

#[derive(Debug, Clone)]
pub struct CompositeDef {
    pub id: String,
    pub name: String,
    pub components: Vec<ElementUse>,
    /// One past the last mandatory component (0 when none is), as `SegmentDef::mandatory_end`.
    pub mandatory_end: usize,
    pub syntax: Vec<SyntaxNote>,
    /// Per component, what the component loop checks (as `SegmentDef::plan`).
    pub plan: Vec<Check>,
}

#[derive(Debug, Clone)]
pub struct SegmentDef {
    pub id: String,
    pub key: u32,
    pub name: String,
    pub positions: Vec<Position>,
    /// One past the last mandatory position (0 when none is): positions after a segment's
    /// last element are looked at for a missing mandatory one only up to here.
    pub mandatory_end: usize,
    pub syntax: Vec<SyntaxNote>,
    pub notes_memo: NotesMemo,
    /// Per position, what the hot element loop checks (same length as `positions`).
    pub plan: Vec<Check>,
}

/// What one element position needs from the element loop, packed in sixteen bytes and worked
/// out when the grammar loads: one lookup and a type test per element, where walking the
/// general `Position` took a match, a second type match and the element's definition.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    pub kind: CheckKind,
    pub mandatory: bool,
    pub min: u32,
    /// `max - min`: a length is in range when `len - min` (wrapping) is at most this.
    pub span: u32,
    /// The element's index in `Dictionary::elements` (for its code list).
    pub element: u32,
}

/// The test a value of a position takes in the element loop (`Check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    /// Text whose length is all that is checked: AN, and ID without a code list.
    Text,
    /// ID with a code list.
    Code,
    Date,
    Time,
    /// N0..N9.
    Numeric,
    Real,
    Binary,
    /// A composite: always the general path.
    Composite,
}

impl Check {
    fn of(p: &Position, dict: &Dictionary) -> Check {
        match p {
            Position::Simple(u) => Check::simple(u, dict),
            Position::Composite { req, .. } => Check {
                kind: CheckKind::Composite,
                mandatory: *req == Req::Mandatory,
                min: 0,
                span: 0,
                element: u32::MAX,
            },
        }
    }

    /// The check of a simple element (a segment's position or a composite's component).
    fn simple(u: &ElementUse, dict: &Dictionary) -> Check {
        let kind = match u.typ {
            ElemType::AN => CheckKind::Text,
            ElemType::ID => match dict.elements.get(u.element).map(|e| &e.codes) {
                Some(Some(_)) => CheckKind::Code,
                _ => CheckKind::Text,
            },
            ElemType::DT => CheckKind::Date,
            ElemType::TM => CheckKind::Time,
            ElemType::N(_) => CheckKind::Numeric,
            ElemType::R => CheckKind::Real,
            ElemType::B => CheckKind::Binary,
        };
        Check {
            kind,
            mandatory: u.req == Req::Mandatory,
            min: u.min,
            span: u.max.saturating_sub(u.min),
            element: u32::try_from(u.element).unwrap_or(u32::MAX),
        }
    }

    /// Whether a length (in the units `classify` counts) is within min..=max.
    #[inline(always)]
    pub fn length_ok(&self, len: usize) -> bool {
        (len as u64).wrapping_sub(u64::from(self.min)) <= u64::from(self.span)
    }
}

impl SegmentDef {
    /// Whether any syntax note is broken by this set of present positions (bit p-1 for p).
    /// A segment repeats with the same elements present (every PO1 of an order), so the last
    /// set found clean is remembered and a repeat costs one compare instead of every note.
    #[inline]
    pub fn breaks_a_note(&self, present: u64) -> bool {
        if self.syntax.is_empty() || self.notes_memo.is(present) {
            return false;
        }
        let broken = self.syntax.iter().any(|n| n.broken(present));
        if !broken {
            self.notes_memo.remember(present);
        }
        broken
    }
}

/// The last set of present positions a segment's notes accepted. Shared by the walker threads:
/// any value stored there was checked clean, so a relaxed race at worst costs a recheck.
#[derive(Debug)]
pub struct NotesMemo(AtomicU64);

impl NotesMemo {
    /// No segment has all 64 positions present, so this never matches a real set.
    const NONE: u64 = u64::MAX;

    fn new() -> Self {
        NotesMemo(AtomicU64::new(Self::NONE))
    }
    #[inline]
    fn is(&self, present: u64) -> bool {
        self.0.load(Ordering::Relaxed) == present
    }
    #[inline]
    fn remember(&self, present: u64) {
        self.0.store(present, Ordering::Relaxed);
    }
}

impl Clone for NotesMemo {
    fn clone(&self) -> Self {
        NotesMemo::new()
    }
}

/// One version's element, composite and segment dictionary.
#[derive(Debug, Clone, Default)]
pub struct Dictionary {
    pub version: String,
    /// 005010 or later, where some element findings take other codes (kept as a flag: it is
    /// asked once per segment).
    pub since_5010: bool,
    pub elements: Vec<ElementDef>,
    pub element_index: HashMap<String, usize>,
    pub composites: Vec<CompositeDef>,
    pub composite_index: HashMap<String, usize>,
    pub segments: Vec<SegmentDef>,
    pub segment_index: HashMap<u32, usize>,
}

impl Dictionary {
    pub fn segment(&self, id: &[u8]) -> Option<&SegmentDef> {
        self.segment_index
            .get(&seg_key(id))
            .map(|&i| &self.segments[i])
    }
    pub fn segment_by_key(&self, key: u32) -> Option<(usize, &SegmentDef)> {
        self.segment_index
            .get(&key)
            .map(|&i| (i, &self.segments[i]))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxUse {
    Limited(u32),
    Unbounded,
}

impl MaxUse {
    #[inline]
    pub fn exceeded_by(self, n: u32) -> bool {
        matches!(self, MaxUse::Limited(m) if n > m)
    }
}

impl fmt::Display for MaxUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxUse::Limited(n) => write!(f, "{n}"),
            MaxUse::Unbounded => f.write_str(">1"),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Node {
    Segment {
        segment: usize,
        key: u32,
        req: Req,
        max: MaxUse,
    },
    Loop(usize),
}

#[derive(Debug, Clone)]
pub struct LoopDef {
    /// Loop id (its first segment's id, or a suffixed variant); the root is "".
    pub id: String,
    pub path: String,
    pub req: Req,
    pub max: MaxUse,
    pub children: Vec<Node>,
    /// Key of the first segment, which starts each iteration.
    pub trigger: u32,
    /// Per child: its segment key, or the trigger key of a child loop (one flat array scanned
    /// per segment, instead of matching on `children`).
    pub keys: Vec<u32>,
    /// Indexes of the mandatory children, ascending: closing or skipping part of a loop looks
    /// only at these.
    pub mandatory: Vec<u32>,
    /// Per child index `x` (and one past the last), the first mandatory child at or after
    /// `x`, or the child count when none is: placing a segment asks it whether any skipped
    /// child needs a look.
    pub first_mandatory: Vec<u32>,
    /// Per key number of the set (`SetGrammar::key_number`), the first child with that key,
    /// `KeyIndex::NONE` when none has it: placing a segment numbers its key once and then
    /// costs a load per open loop, where a hash probe per open loop cost ten M a file.
    pub first_of: Vec<u16>,
    /// Per child, the next child with the same key (`KeyIndex::NONE` after the last).
    pub next: Vec<u16>,
}

impl LoopDef {
    /// The first child at or after `from` whose key has number `number` in the set.
    #[inline(always)]
    pub fn find(&self, number: usize, from: usize) -> Option<usize> {
        let mut j = *self.first_of.get(number)?;
        while usize::from(j) < from {
            j = *self.next.get(usize::from(j))?;
        }
        (j != KeyIndex::NONE).then_some(usize::from(j))
    }

    /// The first mandatory child at or after index `x` (the child count when there is none).
    #[inline]
    pub fn next_mandatory(&self, x: usize) -> usize {
        self.first_mandatory
            .get(x)
            .map_or(self.children.len(), |&m| m as usize)
    }
}

/// Where each key occurs in a list of keys (a set's numbered keys): an open-addressing table
/// of (key, first index) with 0 for an empty slot (no segment key is 0), and per index the
/// next one with the same key.
#[derive(Debug, Clone, Default)]
pub struct KeyIndex {
    slots: Vec<(u32, u16)>,
    shift: u32,
    next: Vec<u16>,
}

impl KeyIndex {
    const NONE: u16 = u16::MAX;

    fn new(keys: &[u32]) -> Self {
        let size = (keys.len() * 2).next_power_of_two().max(8);
        let shift = 32 - size.trailing_zeros();
        let mut slots = vec![(0u32, Self::NONE); size];
        let mut next = vec![Self::NONE; keys.len()];
        // Backwards, so each key's slot ends holding its first index and `next` runs forwards.
        for (j, &key) in keys.iter().enumerate().rev() {
            if key == 0 || j >= usize::from(Self::NONE) {
                continue;
            }
            let mut i = Self::slot(key, shift);
            while slots[i].0 != 0 && slots[i].0 != key {
                i = (i + 1) & (size - 1);
            }
            if slots[i].0 == key {
                next[j] = slots[i].1;
            }
            slots[i] = (key, j as u16);
        }
        KeyIndex { slots, shift, next }
    }

    #[inline]
    fn slot(key: u32, shift: u32) -> usize {
        (key.wrapping_mul(0x9E37_79B1) >> shift) as usize
    }

    /// The first index at or after `from` whose key is `key`.
    #[inline]
    pub fn find(&self, key: u32, from: usize) -> Option<usize> {
        if key == 0 || self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = Self::slot(key, self.shift);
        loop {
            let (k, first) = *self.slots.get(i)?;
            if k == key {
                let mut j = first;
                while usize::from(j) < from {
                    j = *self.next.get(usize::from(j))?;
                }
                return (j != Self::NONE).then_some(usize::from(j));
            }
            if k == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }
}

#[derive(Debug, Clone)]
pub struct Hierarchy {
    pub segment: String,
    pub levels: BTreeMap<String, String>,
    pub structure_element: Option<String>,
    pub structures: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct SetGrammar {
    pub id: String,
    pub name: String,
    pub functional_group: String,
    /// `loops[0]` is the set itself.
    pub loops: Vec<LoopDef>,
    pub hierarchy: Option<Hierarchy>,
    /// Every segment key used anywhere in the set.
    pub members: HashSet<u32>,
    /// Every key in any loop's `keys`, numbered (`key_number`).
    pub key_numbers: KeyIndex,
}

impl SetGrammar {
    /// The number of `key` among the keys of the set's loops (`LoopDef::first_of`), None
    /// when no loop has a child with it.
    #[inline(always)]
    pub fn key_number(&self, key: u32) -> Option<usize> {
        self.key_numbers.find(key, 0)
    }
}

/// One version: its dictionary and its transaction sets.
#[derive(Debug, Clone)]
pub struct VersionGrammar {
    pub dict: Dictionary,
    pub sets: HashMap<String, SetGrammar>,
}

/// Every loaded version, keyed by the six-character version (`004010`).
#[derive(Debug, Clone, Default)]
pub struct Grammars {
    /// Empty for [`Grammars::embedded_lazy`]: look a version up with `named`, `version` or
    /// `first`, which load it on first use.
    pub versions: BTreeMap<String, VersionGrammar>,
    /// Hash of every grammar file's content, recorded in document provenance.
    pub fingerprint: String,
    /// Embedded versions loaded on first use instead (`embedded_lazy`): `versions` is empty.
    lazy: Option<std::sync::Arc<LazyVersions>>,
}

/// Embedded grammar files by version, each version loaded the first time it is asked for.
#[derive(Debug, Default)]
struct LazyVersions {
    files: BTreeMap<String, Vec<(String, String)>>,
    loaded: BTreeMap<String, std::sync::OnceLock<Option<VersionGrammar>>>,
}

impl LazyVersions {
    fn get(&self, version: &str) -> Option<&VersionGrammar> {
        let cell = self.loaded.get(version)?;
        cell.get_or_init(|| {
            let files = self.files.get(version)?;
            let refs: Vec<&(String, String)> = files.iter().collect();
            load_version(version, &refs).ok()
        })
        .as_ref()
    }
}

/// The version a grammar file belongs to: the name of its directory (`.../004010/850.toml`).
fn version_of(path: &str) -> String {
    Path::new(path)
        .parent()
        .and_then(|d| d.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Grammars {
    /// The embedded grammars, each version loaded (and checked) only when first asked for,
    /// without a fingerprint: for a command that records no provenance and may need one
    /// version of several (a version takes as long to load as a 10 MB file to validate).
    /// The embedded files load without error (the tests load them all), so a version that
    /// failed would only read as absent.
    pub fn embedded_lazy() -> Grammars {
        let mut lazy = LazyVersions::default();
        for (path, text) in Self::embedded_files() {
            let version = version_of(&path);
            lazy.loaded.entry(version.clone()).or_default();
            lazy.files.entry(version).or_default().push((path, text));
        }
        for files in lazy.files.values_mut() {
            files.sort();
        }
        Grammars {
            lazy: Some(std::sync::Arc::new(lazy)),
            ..Grammars::default()
        }
    }

    fn embedded_files() -> Vec<(String, String)> {
        let mut files = Vec::new();
        for dir in EMBEDDED.dirs() {
            for f in dir.files() {
                if let Some(text) = f.contents_utf8() {
                    files.push((
                        format!("grammars/x12/{}", f.path().display()),
                        text.to_string(),
                    ));
                }
            }
        }
        files
    }

    /// The grammar of a six-character version (`004010`), loaded now if it is loaded lazily.
    pub fn named(&self, version: &str) -> Option<&VersionGrammar> {
        match &self.lazy {
            Some(lazy) => lazy.get(version),
            None => self.versions.get(version),
        }
    }

    /// Every version there is, loaded or not, lowest first.
    pub fn names(&self) -> Vec<&str> {
        match &self.lazy {
            Some(lazy) => lazy.loaded.keys().map(String::as_str).collect(),
            None => self.versions.keys().map(String::as_str).collect(),
        }
    }

    /// The grammar of the lowest version there is.
    pub fn first(&self) -> Option<&VersionGrammar> {
        match &self.lazy {
            Some(lazy) => lazy.loaded.keys().next().and_then(|v| lazy.get(v)),
            None => self.versions.values().next(),
        }
    }

    /// The grammars shipped inside the binary.
    pub fn embedded() -> Result<Grammars, GrammarError> {
        Self::embedded_with(true)
    }

    /// `embedded`, with the fingerprint left empty unless asked for: only a command that
    /// records provenance needs it, and hashing every file is a fifth of the start-up work.
    pub fn embedded_with(fingerprint: bool) -> Result<Grammars, GrammarError> {
        Self::from_files_with(Self::embedded_files(), fingerprint)
    }

    /// Grammars from a directory holding one subdirectory per version.
    pub fn from_dir(dir: &Path) -> Result<Grammars, GrammarError> {
        Self::from_dir_with(dir, true)
    }

    /// `from_dir`, with the fingerprint only when asked for (see `embedded_with`).
    pub fn from_dir_with(dir: &Path, fingerprint: bool) -> Result<Grammars, GrammarError> {
        let mut files = Vec::new();
        let io_err = |p: &Path, e: std::io::Error| GrammarError {
            file: p.display().to_string(),
            line: 0,
            message: format!("cannot read: {e}"),
        };
        let rd = std::fs::read_dir(dir).map_err(|e| io_err(dir, e))?;
        for v in rd {
            let v = v.map_err(|e| io_err(dir, e))?.path();
            if !v.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(&v).map_err(|e| io_err(&v, e))? {
                let p = f.map_err(|e| io_err(&v, e))?.path();
                if p.extension().is_some_and(|e| e == "toml") {
                    let text = std::fs::read_to_string(&p).map_err(|e| io_err(&p, e))?;
                    files.push((p.display().to_string(), text));
                }
            }
        }
        Self::from_files_with(files, fingerprint)
    }

    /// Grammars from (path, text) pairs; the parent directory name of each path is its version.
    pub fn from_files(files: Vec<(String, String)>) -> Result<Grammars, GrammarError> {
        Self::from_files_with(files, true)
    }

    /// `from_files`, with the fingerprint only when asked for (see `embedded_with`).
    pub fn from_files_with(
        mut files: Vec<(String, String)>,
        fingerprint: bool,
    ) -> Result<Grammars, GrammarError> {
        use sha2::Digest;
        files.sort();
        // Grouped by reference: the texts are parsed where they are, not copied per version.
        let mut by_version: BTreeMap<String, Vec<&(String, String)>> = BTreeMap::new();
        for file in &files {
            by_version
                .entry(version_of(&file.0))
                .or_default()
                .push(file);
        }
        // Every command starts by loading all versions: one thread per version, and the
        // fingerprint hashed meanwhile, keep that off the front of a run.
        let (loaded, fingerprint) = std::thread::scope(|scope| {
            let loaders: Vec<_> = by_version
                .iter()
                .map(|(version, files)| {
                    (version, scope.spawn(move || load_version(version, files)))
                })
                .collect();
            let hash = fingerprint.then(|| {
                let mut hasher = sha2::Sha256::new();
                for (path, text) in &files {
                    hasher.update(path.as_bytes());
                    hasher.update(text.as_bytes());
                }
                hex::encode(&hasher.finalize()[..8])
            });
            let loaded: Vec<_> = loaders
                .into_iter()
                .map(|(version, h)| {
                    let grammar = h.join().unwrap_or_else(|_| {
                        Err(GrammarError {
                            file: format!("grammars/x12/{version}"),
                            line: 0,
                            message: "loading this version failed unexpectedly".into(),
                        })
                    });
                    (version.clone(), grammar)
                })
                .collect();
            (loaded, hash.unwrap_or_default())
        });
        let mut versions = BTreeMap::new();
        for (version, grammar) in loaded {
            versions.insert(version, grammar?);
        }
        Ok(Grammars {
            versions,
            fingerprint,
            lazy: None,
        })
    }

    /// The grammar for a GS08 value: only its first six characters name the version.
    pub fn version(&self, gs08: &[u8]) -> Option<&VersionGrammar> {
        let v = gs08.get(..6)?;
        self.named(std::str::from_utf8(v).ok()?)
    }
}

// ---- raw file shapes -------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawElementsFile {
    elements: BTreeMap<String, Spanned<RawElement>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawElement {
    name: String,
    #[serde(rename = "type")]
    typ: Spanned<String>,
    min: u32,
    max: u32,
    #[serde(default)]
    codes: Option<Vec<String>>,
    #[serde(default)]
    codes_complete: bool,
    #[serde(default)]
    code_names: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSegmentsFile {
    segments: BTreeMap<String, Spanned<RawSegment>>,
    #[serde(default)]
    composites: BTreeMap<String, Spanned<RawComposite>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSegment {
    name: String,
    #[serde(default)]
    syntax: Vec<Spanned<String>>,
    elements: Vec<Spanned<RawPosition>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComposite {
    name: String,
    #[serde(default)]
    syntax: Vec<Spanned<String>>,
    components: Vec<Spanned<RawPosition>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPosition {
    #[serde(default, rename = "ref")]
    element: Option<String>,
    #[serde(default)]
    composite: Option<String>,
    req: String,
    #[serde(default, rename = "type")]
    typ: Option<String>,
    #[serde(default)]
    min: Option<u32>,
    #[serde(default)]
    max: Option<u32>,
    #[serde(default)]
    repeat: Option<u32>,
    /// A note for the reader of the file; the name comes from elements.toml.
    #[serde(default)]
    #[allow(dead_code)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSetFile {
    id: String,
    name: String,
    functional_group: String,
    structure: Vec<Spanned<RawEntry>>,
    #[serde(default)]
    hierarchy: Option<RawHierarchy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    #[serde(default)]
    segment: Option<String>,
    #[serde(default, rename = "loop")]
    loop_id: Option<String>,
    #[serde(default, rename = "in")]
    parent: Option<String>,
    req: String,
    max: RawMax,
    #[serde(default)]
    area: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawMax {
    Count(u32),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHierarchy {
    segment: String,
    levels: BTreeMap<String, String>,
    #[serde(default)]
    structure_element: Option<String>,
    #[serde(default)]
    structures: BTreeMap<String, Vec<String>>,
}

// ---- loading ---------------------------------------------------------------------------------

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> GrammarError {
        GrammarError {
            file: self.file.to_string(),
            line: line_of(self.text, span.start),
            message: message.into(),
        }
    }
    fn parse<T: for<'de> Deserialize<'de>>(&self) -> Result<T, GrammarError> {
        toml::from_str(self.text).map_err(|e| {
            let line = e.span().map(|s| line_of(self.text, s.start)).unwrap_or(0);
            GrammarError {
                file: self.file.to_string(),
                line,
                message: e.message().trim().to_string(),
            }
        })
    }
}

fn load_version(
    version: &str,
    files: &[&(String, String)],
) -> Result<VersionGrammar, GrammarError> {
    let find = |name: &str| {
        files
            .iter()
            .find(|(p, _)| Path::new(p).file_name().is_some_and(|f| f == name))
    };
    let missing = |name: &str| GrammarError {
        file: format!("grammars/x12/{version}/{name}"),
        line: 0,
        message: format!("missing file, expected {name} beside the transaction sets of {version}"),
    };
    let (epath, etext) = find("elements.toml").ok_or_else(|| missing("elements.toml"))?;
    let (spath, stext) = find("segments.toml").ok_or_else(|| missing("segments.toml"))?;
    let mut dict = Dictionary {
        version: version.to_string(),
        since_5010: version >= "005010",
        ..Default::default()
    };

    let ectx = Ctx {
        file: epath,
        text: etext,
    };
    let raw: RawElementsFile = ectx.parse()?;
    for (id, el) in raw.elements {
        let span = el.span();
        let el = el.into_inner();
        let typ = ElemType::parse(el.typ.get_ref()).ok_or_else(|| {
            ectx.err(
                el.typ.span(),
                format!(
                    "element {id} has type `{}`, expected one of AN ID DT TM R B N0..N9",
                    el.typ.get_ref()
                ),
            )
        })?;
        if el.min > el.max || el.max == 0 {
            return Err(ectx.err(
                span,
                format!(
                    "element {id} has min {} and max {}, expected 1 <= min <= max",
                    el.min, el.max
                ),
            ));
        }
        let codes = el
            .codes
            .map(|c| CodeList::new(&c, el.codes_complete, el.code_names));
        dict.element_index.insert(id.clone(), dict.elements.len());
        dict.elements.push(ElementDef {
            id,
            name: el.name,
            typ,
            min: el.min,
            max: el.max,
            codes,
        });
    }

    let sctx = Ctx {
        file: spath,
        text: stext,
    };
    let raw: RawSegmentsFile = sctx.parse()?;
    // Composites first: segments refer to them.
    for (id, c) in &raw.composites {
        let span = c.span();
        let c = c.get_ref();
        let mut components = Vec::new();
        for p in &c.components {
            match position(&sctx, &dict, p, true)? {
                Position::Simple(u) => components.push(u),
                Position::Composite { .. } => {
                    return Err(sctx.err(
                        p.span(),
                        format!("composite {id} holds a composite, expected simple elements only"),
                    ))
                }
            }
        }
        let syntax = notes(&sctx, &c.syntax, components.len())?;
        if components.is_empty() {
            return Err(sctx.err(
                span,
                format!("composite {id} has no components, expected at least one"),
            ));
        }
        dict.composite_index
            .insert(id.clone(), dict.composites.len());
        let plan = components.iter().map(|u| Check::simple(u, &dict)).collect();
        let mandatory_end = mandatory_end(components.iter().map(|u| u.req));
        dict.composites.push(CompositeDef {
            id: id.clone(),
            name: c.name.clone(),
            components,
            mandatory_end,
            syntax,
            plan,
        });
    }
    for (id, s) in &raw.segments {
        let span = s.span();
        let s = s.get_ref();
        if !(2..=3).contains(&id.len())
            || !id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(sctx.err(
                span,
                format!("segment id `{id}`, expected 2 or 3 upper-case letters or digits"),
            ));
        }
        let mut positions = Vec::new();
        for p in &s.elements {
            positions.push(position(&sctx, &dict, p, false)?);
        }
        let syntax = notes(&sctx, &s.syntax, positions.len())?;
        let key = seg_key(id.as_bytes());
        dict.segment_index.insert(key, dict.segments.len());
        let mandatory_end = mandatory_end(positions.iter().map(Position::req));
        let plan = positions.iter().map(|p| Check::of(p, &dict)).collect();
        dict.segments.push(SegmentDef {
            plan,
            id: id.clone(),
            key,
            name: s.name.clone(),
            positions,
            mandatory_end,
            syntax,
            notes_memo: NotesMemo::new(),
        });
    }

    let mut sets = HashMap::new();
    for (path, text) in files {
        let fname = Path::new(path)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        if fname == "elements.toml" || fname == "segments.toml" || !fname.ends_with(".toml") {
            continue;
        }
        let set = load_set(&Ctx { file: path, text }, &dict)?;
        sets.insert(set.id.clone(), set);
    }
    Ok(VersionGrammar { dict, sets })
}

fn position(
    ctx: &Ctx,
    dict: &Dictionary,
    p: &Spanned<RawPosition>,
    in_composite: bool,
) -> Result<Position, GrammarError> {
    let span = p.span();
    let p = p.get_ref();
    let req = Req::parse(&p.req).ok_or_else(|| {
        ctx.err(
            span.clone(),
            format!("requirement `{}`, expected M, O or X", p.req),
        )
    })?;
    let repeat = p.repeat.unwrap_or(1).max(1);
    match (&p.element, &p.composite) {
        (Some(e), None) => {
            let &idx = dict.element_index.get(e).ok_or_else(|| {
                ctx.err(span.clone(), format!("element `{e}` is not in elements.toml, expected an element id defined there"))
            })?;
            let def = &dict.elements[idx];
            let typ = match &p.typ {
                Some(t) => ElemType::parse(t)
                    .ok_or_else(|| ctx.err(span.clone(), format!("type `{t}`, expected one of AN ID DT TM R B N0..N9")))?,
                None => def.typ,
            };
            let min = p.min.unwrap_or(def.min);
            let max = p.max.unwrap_or(def.max);
            if min > max || max == 0 {
                return Err(ctx.err(span, format!("min {min} and max {max}, expected 1 <= min <= max")));
            }
            Ok(Position::Simple(ElementUse { element: idx, req, typ, min, max, repeat }))
        }
        (None, Some(c)) if !in_composite => {
            let &idx = dict.composite_index.get(c).ok_or_else(|| {
                ctx.err(span, format!("composite `{c}` is not in segments.toml, expected a [composites.{c}] table"))
            })?;
            Ok(Position::Composite { composite: idx, req, repeat })
        }
        _ => Err(ctx.err(span, "an element position needs exactly one of `ref` or `composite`, expected e.g. { ref = \"353\", req = \"M\" }")),
    }
}

fn notes(
    ctx: &Ctx,
    raw: &[Spanned<String>],
    count: usize,
) -> Result<Vec<SyntaxNote>, GrammarError> {
    let mut out = Vec::new();
    for n in raw {
        let note = parse_note(n.get_ref()).ok_or_else(|| {
            ctx.err(
                n.span(),
                format!(
                    "syntax note `{}`, expected P, R, E, C or L followed by two-digit positions",
                    n.get_ref()
                ),
            )
        })?;
        if let Some(&bad) = note.positions.iter().find(|&&p| p == 0 || p > count) {
            return Err(ctx.err(
                n.span(),
                format!(
                    "syntax note `{}` names position {bad}, expected 1..={count}",
                    n.get_ref()
                ),
            ));
        }
        out.push(note);
    }
    Ok(out)
}

fn load_set(ctx: &Ctx, dict: &Dictionary) -> Result<SetGrammar, GrammarError> {
    let raw: RawSetFile = ctx.parse()?;
    let mut loops = vec![LoopDef {
        id: String::new(),
        path: String::new(),
        req: Req::Mandatory,
        max: MaxUse::Limited(1),
        children: Vec::new(),
        trigger: seg_key(b"ST"),
        keys: Vec::new(),
        mandatory: Vec::new(),
        first_mandatory: Vec::new(),
        first_of: Vec::new(),
        next: Vec::new(),
    }];
    let mut by_path: HashMap<String, usize> = HashMap::new();
    by_path.insert(String::new(), 0);
    let mut members = HashSet::new();
    for e in &raw.structure {
        let span = e.span();
        let e = e.get_ref();
        let req = Req::parse(&e.req).ok_or_else(|| {
            ctx.err(
                span.clone(),
                format!("requirement `{}`, expected M or O", e.req),
            )
        })?;
        let max = match &e.max {
            RawMax::Count(0) => {
                return Err(ctx.err(span, "max 0, expected a positive count or \">1\""))
            }
            RawMax::Count(n) => MaxUse::Limited(*n),
            RawMax::Text(t) if t == ">1" => MaxUse::Unbounded,
            RawMax::Text(t) => {
                return Err(ctx.err(span, format!("max `{t}`, expected a count or \">1\"")))
            }
        };
        let parent_path = e.parent.clone().unwrap_or_default();
        let &parent = by_path.get(&parent_path).ok_or_else(|| {
            ctx.err(span.clone(), format!("`in = \"{parent_path}\"` names no loop declared above, expected the path of an earlier loop entry"))
        })?;
        let _ = (&e.area, &e.name);
        match (&e.segment, &e.loop_id) {
            (Some(s), None) => {
                let (idx, _) = dict.segment_by_key(seg_key(s.as_bytes())).ok_or_else(|| {
                    ctx.err(span.clone(), format!("segment `{s}` is not in segments.toml of {}, expected a segment defined there", dict.version))
                })?;
                let key = seg_key(s.as_bytes());
                let lp = &mut loops[parent];
                if parent != 0 && lp.children.is_empty() && lp.trigger != key {
                    return Err(ctx.err(span, format!("loop `{}` starts with `{s}`, expected its first segment to be `{}`", lp.path, lp.id.split('-').next().unwrap_or(""))));
                }
                members.insert(key);
                lp.children.push(Node::Segment { segment: idx, key, req, max });
            }
            (None, Some(l)) => {
                let path = if parent_path.is_empty() { l.clone() } else { format!("{parent_path}/{l}") };
                if by_path.contains_key(&path) {
                    return Err(ctx.err(span, format!("loop `{path}` is declared twice, expected unique loop ids at one level (suffix one, e.g. `{l}-2`)")));
                }
                let first = l.split('-').next().unwrap_or(l);
                let trigger = seg_key(first.as_bytes());
                if dict.segment_by_key(trigger).is_none() {
                    return Err(ctx.err(span, format!("loop `{l}` is named after `{first}`, which is not in segments.toml, expected the id of its first segment")));
                }
                let idx = loops.len();
                loops.push(LoopDef { id: l.clone(), path: path.clone(), req, max, children: Vec::new(), trigger, keys: Vec::new(), mandatory: Vec::new(), first_mandatory: Vec::new(), first_of: Vec::new(), next: Vec::new() });
                loops[parent].children.push(Node::Loop(idx));
                by_path.insert(path, idx);
            }
            _ => return Err(ctx.err(span, "an entry needs exactly one of `segment` or `loop`, expected e.g. { segment = \"BEG\", req = \"M\", max = 1 }")),
        }
    }
    for lp in loops.iter().skip(1) {
        if lp.children.is_empty() {
            return Err(GrammarError {
                file: ctx.file.to_string(),
                line: 0,
                message: format!(
                    "loop `{}` has no segments, expected its first segment right after it",
                    lp.path
                ),
            });
        }
    }
    let root_ok = matches!(loops[0].children.first(), Some(Node::Segment { key, .. }) if *key == seg_key(b"ST"))
        && matches!(loops[0].children.last(), Some(Node::Segment { key, .. }) if *key == seg_key(b"SE"));
    if !root_ok {
        return Err(GrammarError { file: ctx.file.to_string(), line: 1, message: "the structure must start with ST and end with SE at the top level, expected ST first and SE last".into() });
    }
    for i in 0..loops.len() {
        let (keys, mandatory) = {
            let kids = &loops[i].children;
            let keys: Vec<u32> = kids
                .iter()
                .map(|c| match c {
                    Node::Segment { key, .. } => *key,
                    Node::Loop(l) => loops[*l].trigger,
                })
                .collect();
            let mandatory: Vec<u32> = (0..kids.len() as u32)
                .filter(|&j| {
                    let req = match &kids[j as usize] {
                        Node::Segment { req, .. } => *req,
                        Node::Loop(l) => loops[*l].req,
                    };
                    req == Req::Mandatory
                })
                .collect();
            (keys, mandatory)
        };
        // Backwards: each index takes its own if mandatory, else the next one's.
        let n = keys.len();
        let mut first_mandatory = vec![n as u32; n + 1];
        for j in (0..n).rev() {
            first_mandatory[j] = if mandatory.contains(&(j as u32)) {
                j as u32
            } else {
                first_mandatory[j + 1]
            };
        }
        loops[i].keys = keys;
        loops[i].mandatory = mandatory;
        loops[i].first_mandatory = first_mandatory;
    }
    let mut numbered: Vec<u32> = loops
        .iter()
        .flat_map(|lp| lp.keys.iter().copied())
        .collect();
    numbered.sort_unstable();
    numbered.dedup();
    let key_numbers = KeyIndex::new(&numbered);
    for lp in &mut loops {
        let mut first_of = vec![KeyIndex::NONE; numbered.len()];
        let mut next = vec![KeyIndex::NONE; lp.keys.len()];
        // Backwards, so each number ends holding its first child and `next` runs forwards.
        for (j, &key) in lp.keys.iter().enumerate().rev() {
            if let (Some(k), Ok(j16)) = (key_numbers.find(key, 0), u16::try_from(j)) {
                if j16 != KeyIndex::NONE {
                    next[j] = first_of[k];
                    first_of[k] = j16;
                }
            }
        }
        lp.first_of = first_of;
        lp.next = next;
    }
    let hierarchy = raw.hierarchy.map(|h| Hierarchy {
        segment: h.segment,
        levels: h.levels,
        structure_element: h.structure_element,
        structures: h.structures,
    });
    Ok(SetGrammar {
        id: raw.id,
        name: raw.name,
        functional_group: raw.functional_group,
        loops,
        hierarchy,
        members,
        key_numbers,
    })
}

/// One past the last mandatory entry of a segment or composite (0 when none is).
fn mandatory_end(mut reqs: impl DoubleEndedIterator<Item = Req> + ExactSizeIterator) -> usize {
    reqs.rposition(|r| r == Req::Mandatory).map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mini(set: &str) -> Vec<(String, String)> {
        vec![
            ("g/004010/elements.toml".into(), "[elements.143]\nname = \"Set id\"\ntype = \"ID\"\nmin = 3\nmax = 3\n[elements.329]\nname = \"Control\"\ntype = \"AN\"\nmin = 4\nmax = 9\n[elements.96]\nname = \"Count\"\ntype = \"N0\"\nmin = 1\nmax = 10\n".into()),
            ("g/004010/segments.toml".into(), "[segments.ST]\nname = \"Header\"\nelements = [ { ref = \"143\", req = \"M\" }, { ref = \"329\", req = \"M\" } ]\n[segments.SE]\nname = \"Trailer\"\nelements = [ { ref = \"96\", req = \"M\" }, { ref = \"329\", req = \"M\" } ]\n".into()),
            ("g/004010/999.toml".into(), set.into()),
        ]
    }

    #[test]
    fn pack_is_length_then_bytes_big_endian() {
        let bytes = b"ABCDEFGH";
        for n in 0..=7 {
            let mut b = [0u8; 8];
            b[0] = n as u8;
            b[1..=n].copy_from_slice(&bytes[..n]);
            assert_eq!(pack(&bytes[..n]), Some(u64::from_be_bytes(b)), "{n}");
        }
        assert_eq!(pack(bytes), None);
        let list = CodeList::new(
            &[
                "EA".into(),
                "CS".into(),
                "ABCDEFG".into(),
                "LONGCODE".into(),
            ],
            true,
            BTreeMap::new(),
        );
        for code in ["EA", "CS", "ABCDEFG", "LONGCODE"] {
            assert!(list.contains(code.as_bytes()), "{code}");
        }
        for code in ["", "E", "EAX", "ABCDEF", "LONGCOD", "LONGCODEX"] {
            assert!(!list.contains(code.as_bytes()), "{code}");
        }
    }

    #[test]
    fn key_index_finds_what_a_scan_finds() {
        let keys: Vec<u32> = [
            "ST", "BEG", "REF", "N1", "REF", "PO1", "REF", "DTM", "N1", "SE", "CTT", "AMT",
        ]
        .iter()
        .map(|k| seg_key(k.as_bytes()))
        .collect();
        let index = KeyIndex::new(&keys);
        for probe in [
            "ST", "BEG", "REF", "N1", "PO1", "DTM", "SE", "CTT", "AMT", "PID", "X",
        ] {
            let key = seg_key(probe.as_bytes());
            for from in 0..=keys.len() + 1 {
                let scan = keys
                    .get(from..)
                    .and_then(|k| k.iter().position(|&x| x == key))
                    .map(|p| p + from);
                assert_eq!(index.find(key, from), scan, "{probe} from {from}");
            }
        }
        assert_eq!(index.find(0, 0), None);
        assert_eq!(KeyIndex::default().find(keys[0], 0), None);
    }

    #[test]
    fn loop_find_by_key_number_finds_what_a_scan_finds() {
        let grammars = Grammars::embedded().unwrap();
        for v in grammars.versions.values() {
            for set in v.sets.values() {
                let keys: HashSet<u32> = set.loops.iter().flat_map(|lp| lp.keys.clone()).collect();
                for &key in &keys {
                    let number = set.key_number(key).unwrap();
                    for lp in &set.loops {
                        for from in 0..=lp.keys.len() + 1 {
                            let scan = lp
                                .keys
                                .get(from..)
                                .and_then(|k| k.iter().position(|&x| x == key))
                                .map(|p| p + from);
                            assert_eq!(lp.find(number, from), scan, "{} {}", set.id, lp.path);
                        }
                    }
                }
                assert_eq!(set.key_number(seg_key(b"ZZZ")), None);
            }
        }
    }

    #[test]
    fn lazy_embedded_versions_are_the_eager_ones() {
        let eager = Grammars::embedded().unwrap();
        let lazy = Grammars::embedded_lazy();
        assert!(lazy.versions.is_empty());
        for (name, v) in &eager.versions {
            let l = lazy.named(name).expect(name);
            assert_eq!(l.dict.segments.len(), v.dict.segments.len(), "{name}");
            assert_eq!(l.dict.elements.len(), v.dict.elements.len(), "{name}");
            let mut sets: Vec<_> = l.sets.keys().collect();
            sets.sort();
            let mut want: Vec<_> = v.sets.keys().collect();
            want.sort();
            assert_eq!(sets, want, "{name}");
        }
        assert!(lazy.named("009999").is_none());
        assert_eq!(
            lazy.first().map(|v| &v.dict.version),
            eager.first().map(|v| &v.dict.version)
        );
    }

    #[test]
    fn loads_a_minimal_set() {
        let g = Grammars::from_files(mini("id = \"999\"\nname = \"x\"\nfunctional_group = \"FA\"\nstructure = [\n { segment = \"ST\", req = \"M\", max = 1 },\n { segment = \"SE\", req = \"M\", max = 1 },\n]\n")).unwrap();
        assert!(g
            .version(b"004010X")
            .is_some_and(|v| v.sets.contains_key("999")));
    }

    #[test]
    fn reports_file_and_line_of_an_unknown_segment() {
        let err = Grammars::from_files(mini("id = \"999\"\nname = \"x\"\nfunctional_group = \"FA\"\nstructure = [\n { segment = \"ST\", req = \"M\", max = 1 },\n { segment = \"BEG\", req = \"M\", max = 1 },\n]\n")).unwrap_err();
        assert_eq!(err.file, "g/004010/999.toml");
        assert_eq!(err.line, 6);
        assert!(
            err.message.contains("`BEG` is not in segments.toml"),
            "{err}"
        );
    }

    #[test]
    fn reports_a_typo_in_a_field_name() {
        let err = Grammars::from_files(mini("id = \"999\"\nname = \"x\"\nfunctional_group = \"FA\"\nstructure = [\n { segment = \"ST\", req = \"M\", max = 1 },\n { segment = \"SE\", reqq = \"M\", max = 1 },\n]\n")).unwrap_err();
        assert_eq!(err.line, 6, "{err}");
        assert!(
            err.to_string().starts_with("g/004010/999.toml:6: "),
            "{err}"
        );
    }
}
