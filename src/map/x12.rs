//! Maps between X12 transaction sets and canonical JSON, both ways, with one rule set:
//! inbound reads a `SetTree` by the rules' paths; outbound builds loop instances and segments
//! from the canonical values and orders them as the grammar does. Also checks every path of a
//! map against the grammar when the map loads.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::convert::Infallible;

use serde_json::{Map as JsonMap, Value};

use super::convert::{self, ValueError};
use super::layout::{Arena, Plan, PlanBlock, RulePlan};
use super::node::{self, Node as Doc};
use super::path::{Cond, Qualifier, Step, Target, X12Path};
use super::rules::{Block, Convert, Only, Read, Rule, Source};
use super::{Map, MapError, TranslateError};
use crate::x12::grammar::{
    Dictionary, ElemType, Node, Position, SegmentDef, SetGrammar, VersionGrammar,
};
use crate::x12::tree::SetTree;
use crate::x12::writer::OwnedSegment;

// ---- load-time checks ---------------------------------------------------------------------

fn loop_index(set: &SetGrammar, path: &str) -> Option<usize> {
    set.loops.iter().position(|l| l.path == path)
}

fn child_loop(set: &SetGrammar, lp: usize, id: &str) -> Option<usize> {
    set.loops[lp].children.iter().find_map(|c| match c {
        Node::Loop(l) if super::node::short_eq(&set.loops[*l].id, id) => Some(*l),
        _ => None,
    })
}

fn has_segment(set: &SetGrammar, dict: &Dictionary, lp: usize, id: &str) -> bool {
    set.loops[lp]
        .children
        .iter()
        .any(|c| matches!(c, Node::Segment { segment, .. } if dict.segments[*segment].id == id))
}

/// Positions (1-based) of the qualifier/id pairs (elements 235 then 234) of a segment.
pub fn pair_positions(dict: &Dictionary, def: &SegmentDef) -> Vec<(usize, usize)> {
    let id_of = |p: &Position| match p {
        Position::Simple(u) => Some(dict.elements[u.element].id.as_str()),
        _ => None,
    };
    let mut out = Vec::new();
    for i in 0..def.positions.len().saturating_sub(1) {
        if id_of(&def.positions[i]) == Some("235") && id_of(&def.positions[i + 1]) == Some("234") {
            out.push((i + 1, i + 2));
        }
    }
    out
}

struct Checker<'a> {
    map: &'a Map,
    v: &'a VersionGrammar,
    set: &'a SetGrammar,
    /// The pair positions of each segment a pair path names, as the paths are checked.
    pairs: RefCell<PairTable>,
}

impl Checker<'_> {
    fn err(&self, line: usize, msg: String) -> MapError {
        MapError::at(&self.map.file, line, msg)
    }

    fn element(
        &self,
        line: usize,
        seg: &str,
        elem: usize,
        comp: Option<usize>,
        convert: Convert,
    ) -> Result<(), MapError> {
        let version = &self.v.dict.version;
        let def = self
            .v
            .dict
            .segment(seg.as_bytes())
            .ok_or_else(|| self.err(line, format!("{seg} is not a segment in {version}")))?;
        let pos = def
            .positions
            .get(elem - 1)
            .ok_or_else(|| self.err(line, format!("{seg} has no element {elem} in {version}")))?;
        let typ = match (pos, comp) {
            (Position::Simple(u), None | Some(1)) => u.typ,
            (Position::Simple(_), Some(c)) => {
                return Err(self.err(
                    line,
                    format!(
                        "{seg}{elem:02} is a simple element in {version}, it has no component {c}"
                    ),
                ))
            }
            (Position::Composite { composite, .. }, c) => {
                let comp_def = &self.v.dict.composites[*composite];
                let c = c.unwrap_or(1);
                let u = comp_def.components.get(c - 1).ok_or_else(|| {
                    self.err(
                        line,
                        format!(
                            "{seg}{elem:02} ({}) has no component {c} in {version}",
                            comp_def.id
                        ),
                    )
                })?;
                u.typ
            }
        };
        let ok = match convert {
            Convert::Date => typ == ElemType::DT,
            Convert::Time => typ == ElemType::TM,
            Convert::Decimal => matches!(typ, ElemType::R | ElemType::N(_)),
            Convert::Implied(n) => typ == ElemType::N(n as u8),
            Convert::Integer => matches!(typ, ElemType::N(0) | ElemType::R),
            _ => true,
        };
        if !ok {
            return Err(self.err(line, format!("{seg}{elem:02} is {typ} in {version}, which does not fit convert = {convert:?}")));
        }
        Ok(())
    }

    fn conds(&self, line: usize, conds: &[Cond]) -> Result<(), MapError> {
        for c in conds {
            self.element(line, &c.seg, c.elem, None, Convert::None)?;
        }
        Ok(())
    }

    /// Follows the loop steps from `lp`; returns the loop the target lives in.
    fn steps(
        &self,
        line: usize,
        mut lp: usize,
        steps: &[Step],
        last_is_node: bool,
    ) -> Result<(usize, Option<String>), MapError> {
        let n = steps.len();
        for (i, s) in steps.iter().enumerate() {
            self.conds(line, &s.conds)?;
            // HL steps navigate the hierarchy: from an HL context they stay in the HL loop.
            if s.id == "HL" && self.set.loops[lp].id == "HL" {
                continue;
            }
            match child_loop(self.set, lp, &s.id) {
                Some(l) => lp = l,
                None if i + 1 == n
                    && last_is_node
                    && has_segment(self.set, &self.v.dict, lp, &s.id) =>
                {
                    return Ok((lp, Some(s.id.clone())));
                }
                None => {
                    let here = if self.set.loops[lp].path.is_empty() {
                        format!("the {} set", self.set.id)
                    } else {
                        format!("loop {}", self.set.loops[lp].path)
                    };
                    return Err(self.err(
                        line,
                        format!(
                            "{here} has no loop {} in {}, expected a loop of the grammar",
                            s.id, self.v.dict.version
                        ),
                    ));
                }
            }
        }
        Ok((lp, None))
    }

    fn path(
        &self,
        line: usize,
        ctx: usize,
        p: &X12Path,
        convert: Convert,
    ) -> Result<usize, MapError> {
        let start = if p.absolute { 0 } else { ctx };
        let (lp, _) = self.steps(line, start, &p.steps, p.target == Target::Node)?;
        let in_loop = |seg: &str| {
            has_segment(self.set, &self.v.dict, lp, seg)
                || (lp != 0 && self.set.loops[lp].id.split('-').next() == Some(seg))
        };
        match &p.target {
            Target::Element {
                seg,
                elem,
                comp,
                conds,
            } => {
                self.element(line, seg, *elem, *comp, convert)?;
                self.conds(line, conds)?;
                if !in_loop(seg) {
                    let here = if self.set.loops[lp].path.is_empty() {
                        format!("the top level of {}", self.set.id)
                    } else {
                        format!("loop {}", self.set.loops[lp].path)
                    };
                    return Err(self.err(
                        line,
                        format!(
                            "{seg} is not a segment of {here} in {}",
                            self.v.dict.version
                        ),
                    ));
                }
            }
            Target::Pair { seg, .. } => {
                let def = self.v.dict.segment(seg.as_bytes()).ok_or_else(|| {
                    self.err(
                        line,
                        format!("{seg} is not a segment in {}", self.v.dict.version),
                    )
                })?;
                let positions = pair_positions(&self.v.dict, def);
                if positions.is_empty() {
                    return Err(self.err(
                        line,
                        format!(
                            "{seg} has no product id qualifier/id pairs (235/234) in {}",
                            self.v.dict.version
                        ),
                    ));
                }
                if !in_loop(seg) {
                    return Err(self.err(
                        line,
                        format!(
                            "{seg} is not a segment of this loop in {}",
                            self.v.dict.version
                        ),
                    ));
                }
                let code = id_code(seg.as_bytes());
                let mut pairs = self.pairs.borrow_mut();
                if !pairs.iter().any(|(c, _)| *c == code) {
                    pairs.push((code, positions.into()));
                }
            }
            Target::Envelope { .. } | Target::Node => {}
        }
        Ok(lp)
    }

    fn rule(&self, ctx: usize, r: &Rule) -> Result<(), MapError> {
        for s in &r.from {
            if let Source::X12(p) = s {
                self.path(r.line, ctx, p, r.convert)?;
            }
        }
        if let Some(Source::X12(p)) = &r.when {
            self.path(r.line, ctx, p, Convert::None)?;
        }
        Ok(())
    }

    fn block(&self, ctx: usize, b: &Block) -> Result<(), MapError> {
        for r in &b.rules {
            self.rule(ctx, r)?;
        }
        for c in &b.blocks {
            let inner = match &c.source {
                Some(Source::X12(p)) => self.path(c.line, ctx, p, Convert::None)?,
                _ => ctx,
            };
            if let Some(s) = &c.scalar {
                self.rule(inner, s)?;
            }
            self.block(inner, c)?;
        }
        Ok(())
    }
}

/// The qualifier/id pair positions (`pair_positions`) of each segment a map's pair paths name,
/// by the segment's `id_code`, in one version's grammar.
pub(crate) type PairTable = Vec<SegPairs>;

/// A segment's `id_code` and its (qualifier, id) pair positions.
pub(crate) type SegPairs = (u32, Box<[(usize, usize)]>);

/// What an X12 map's reads take from one version's grammar, found when the map loads
/// (`check`), so a read does not ask the grammar.
#[derive(Debug, Clone, Default)]
pub(crate) struct Resolved {
    /// The pair positions of the segments the map's pair paths name.
    pub pairs: PairTable,
    /// Per loop of the map's set grammar (by index): the `id_code`s of its child loops' ids,
    /// sorted. A walk step names a child loop of the loop it starts from, or a segment of it:
    /// this tells which with a binary search of numbers, where the grammar's answer is a scan of
    /// the loop's children by text.
    pub child_loops: Vec<Box<[u32]>>,
}

/// Checks every path of an X12 map against the grammar of each version it names. Returns, per
/// version (in `map.versions` order), what its reads take from that grammar (`Map::resolved`).
pub(crate) fn check(
    map: &Map,
    grammars: &crate::x12::grammar::Grammars,
) -> Result<Vec<Resolved>, MapError> {
    let set_id = map.set.clone().unwrap_or_default();
    let mut tables = Vec::with_capacity(map.versions.len());
    for version in &map.versions {
        let v = grammars.named(version).ok_or_else(|| {
            MapError::at(
                &map.file,
                1,
                format!(
                    "version {version} has no grammar, expected one of {:?}",
                    grammars.names()
                ),
            )
        })?;
        let set = v.sets.get(&set_id).ok_or_else(|| {
            MapError::at(
                &map.file,
                1,
                format!("transaction set {set_id} has no grammar in {version}"),
            )
        })?;
        let checker = Checker {
            map,
            v,
            set,
            pairs: RefCell::new(Vec::new()),
        };
        checker.block(0, &map.root)?;
        let child_loops = set
            .loops
            .iter()
            .map(|l| {
                let mut codes: Vec<u32> = l
                    .children
                    .iter()
                    .filter_map(|c| match c {
                        Node::Loop(k) => Some(id_code(set.loops[*k].id.as_bytes())),
                        _ => None,
                    })
                    .collect();
                codes.sort_unstable();
                codes.into()
            })
            .collect();
        tables.push(Resolved {
            pairs: checker.pairs.into_inner(),
            child_loops,
        });
    }
    Ok(tables)
}

// ---- inbound ------------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Ctx {
    inst: usize,
    seg: Option<usize>,
}

/// What a step of a walk before its last reaches: mostly one to a few places, kept in line
/// rather than on the heap.
type Found = smallvec::SmallVec<[Ctx; 4]>;

pub(crate) struct Inbound<'a> {
    pub tree: &'a SetTree,
    pub set: &'a SetGrammar,
    pub map: &'a Map,
    /// Qualifier/id pair positions of the segments the map's pair paths name, in this set's
    /// version (found when the map loaded).
    pairs: &'a [SegPairs],
    /// The answers to every `Read::Pair` read in the context such a read was made in last
    /// (`pair_value`).
    pair_memo: RefCell<PairMemo>,
    /// Each segment's id as an `id_code` (`SetTree::ids`, found as the set was held): the rules
    /// look segments up by id many times per set, and a number compares in one step where the
    /// id bytes needed a slice and a `memcmp`.
    ids: &'a [u32],
    /// Per loop path of the set (`SetTree::paths`): its grammar loop, and the `id_code` of its
    /// last step (what a loop step is matched against), found once per set rather than per
    /// step walked.
    path_lp: Vec<usize>,
    path_last: Vec<u32>,
    /// The held set's bytes as text, when they are all UTF-8 (nearly always).
    utf8: Option<&'a str>,
    /// `Resolved::child_loops` of this set's grammar; empty when the map was not checked
    /// against it (another version or set), and walks then ask the grammar.
    child_loops: &'a [Box<[u32]>],
    /// The first value of each absolute path read so far, by the path's address: an absolute
    /// read does not depend on where it is made (`/CUR02[CUR01=BY]` on every line reads the
    /// same value).
    absolute: RefCell<Vec<Remembered<'a>>>,
}

/// Every `Read::Pair` read of one segment, answered in one pass over its pairs (each PO1 is
/// read by several pair rules in a row): the context and segment id code it was found for
/// (`PairKey`), the segment (`usize::MAX` when the context has none), the reads that found an
/// id (bit `index` of `found`) and per such read the position of its id.
struct PairMemo {
    key: PairKey,
    seg: usize,
    found: u64,
    at: [usize; PAIR_READS],
}

/// A context's loop instance and segment, and a segment id code.
type PairKey = (usize, Option<usize>, u32);

/// The most `Read::Pair` reads a map numbers (one bit each in a `u64`); any more read by the
/// general walk.
const PAIR_READS: usize = 64;

/// Per qualifier code a map's pair reads name: which of them (by `Read::Pair::index`, a bit
/// each) name it (`Map::pair_reads`).
pub(crate) type PairReads = Box<[(u32, u64)]>;

/// Numbers the map's `Read::Pair` reads in rule order (the first `PAIR_READS`; later ones read
/// by the general walk) and returns which of them each qualifier is wanted by.
pub(crate) fn number_pair_reads(root: &mut Block) -> PairReads {
    fn visit(b: &mut Block, n: &mut usize, quals: &mut Vec<(u32, u64)>) {
        for r in &mut b.rules {
            let Read::Pair { index, .. } = &mut r.read else {
                continue;
            };
            let target = match r.from.first() {
                Some(Source::X12(p)) => Some(&p.target),
                _ => None,
            };
            let qualifiers = match (target, u8::try_from(*n)) {
                (Some(Target::Pair { qualifiers, .. }), Ok(i)) if *n < PAIR_READS => {
                    *index = i;
                    qualifiers
                }
                _ => {
                    r.read = Read::General;
                    continue;
                }
            };
            let bit = 1 << *n;
            *n += 1;
            for q in qualifiers {
                match quals.iter_mut().find(|(c, _)| *c == q.code) {
                    Some((_, m)) => *m |= bit,
                    None => quals.push((q.code, bit)),
                }
            }
        }
        for c in &mut b.blocks {
            visit(c, n, quals);
        }
    }
    let mut quals = Vec::new();
    visit(root, &mut 0, &mut quals);
    quals.into()
}

/// An absolute path's first value, by the path's address (`Inbound::absolute`).
type Remembered<'a> = (*const X12Path, Option<Cow<'a, str>>);

pub(crate) use crate::x12::tree::{id_code, LONG_ID};

/// An id a rule looks for, with its code worked out once for a whole scan.
#[derive(Clone, Copy)]
struct Want<'s> {
    code: u32,
    id: &'s [u8],
}

/// The HL step's id, which walks treat apart.
const HL: Want<'static> = Want {
    code: id_code(b"HL"),
    id: b"HL",
};

impl<'s> Want<'s> {
    fn new(id: &'s str) -> Self {
        Want {
            code: id_code(id.as_bytes()),
            id: id.as_bytes(),
        }
    }

    /// An id whose code was worked out when the map loaded.
    #[inline]
    fn coded(code: u32, id: &'s str) -> Self {
        Want {
            code,
            id: id.as_bytes(),
        }
    }
}

fn last_id(path: &str) -> &str {
    match path.bytes().rposition(|b| b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// `Cond::matches` on raw element bytes, without making a `String` of them. Bytes of up to
/// three ASCII characters (nearly every qualifier) are compared as `id_code`s; bytes that are not
/// UTF-8 are compared as their lossy text, as `matches` would see them.
// Always in line: asked per condition per segment or instance looked at.
#[inline(always)]
fn cond_matches(c: &Cond, v: Option<&[u8]>) -> bool {
    let v = v.unwrap_or(b"");
    // Lossy text is empty exactly when its bytes are.
    if c.present {
        return !v.is_empty();
    }
    let code = id_code(v);
    let hit = if code != LONG_ID && v.is_ascii() {
        // Equal codes are equal bytes, and no value longer than three bytes has this code.
        c.values.iter().any(|x| x.code == code)
    } else if v.is_ascii() || std::str::from_utf8(v).is_ok() {
        c.values
            .iter()
            .any(|x| node::short_eq_bytes(x.text.as_bytes(), v))
    } else {
        return c.matches(Some(&String::from_utf8_lossy(v)));
    };
    hit != c.negate
}

impl<'a> Inbound<'a> {
    pub fn new(tree: &'a SetTree, set: &'a SetGrammar, map: &'a Map) -> Self {
        let path_lp = tree
            .paths
            .iter()
            .map(|p| loop_index(set, p).unwrap_or(0))
            .collect();
        let path_last = tree
            .paths
            .iter()
            .map(|p| id_code(last_id(p).as_bytes()))
            .collect();
        let resolved = map
            .versions
            .iter()
            .position(|x| *x == tree.version)
            .and_then(|i| map.resolved.get(i));
        // Child loops were found in the grammar of the map's set, which this must be.
        let child_loops = match resolved {
            Some(r) if map.set.as_deref() == Some(set.id.as_str()) => r.child_loops.as_slice(),
            _ => &[],
        };
        Inbound {
            tree,
            set,
            map,
            pairs: resolved.map_or(&[], |r| r.pairs.as_slice()),
            child_loops,
            pair_memo: RefCell::new(PairMemo {
                key: (usize::MAX, None, 0),
                seg: usize::MAX,
                found: 0,
                at: [0; PAIR_READS],
            }),
            ids: tree.ids(),
            path_lp,
            path_last,
            utf8: std::str::from_utf8(tree.bytes()).ok(),
            absolute: RefCell::new(Vec::new()),
        }
    }

    /// `child_loop(set, lp, &s.id).is_some()`: equal codes are equal ids of up to three
    /// bytes, and no short id equals a longer one; longer step ids ask the grammar.
    #[inline]
    fn has_child_loop(&self, lp: usize, s: &Step) -> bool {
        match self.child_loops.get(lp) {
            Some(codes) if s.code != LONG_ID => codes.binary_search(&s.code).is_ok(),
            _ => child_loop(self.set, lp, &s.id).is_some(),
        }
    }

    /// Element bytes as text, borrowed unless they are not UTF-8. When the whole held set is
    /// UTF-8 (checked once), a slice of it between separators is text already and is cut out of
    /// that text rather than checked again; anything else is checked here, and only bad bytes
    /// take the lossy copy.
    fn text(&self, v: &'a [u8]) -> Cow<'a, str> {
        if let Some(all) = self.utf8 {
            let at = (v.as_ptr() as usize).wrapping_sub(all.as_ptr() as usize);
            if let Some(t) = all.get(at..at.saturating_add(v.len())) {
                if t.as_ptr() == v.as_ptr() {
                    return Cow::Borrowed(t);
                }
            }
        }
        match std::str::from_utf8(v) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(v),
        }
    }

    /// Whether segment `s` has the id `w`.
    // Always in line: asked per segment looked at, and a call cost more than the test.
    #[inline(always)]
    fn seg_is(&self, s: usize, w: Want<'_>) -> bool {
        let tree: &SetTree = self.tree;
        w.code == self.ids[s] && (w.code != LONG_ID || tree.id(s) == w.id)
    }

    /// Whether the last step of loop instance `inst`'s path is `w`.
    // Always in line: asked per loop instance looked at, and a call cost more than the test.
    #[inline(always)]
    fn inst_is(&self, inst: usize, w: Want<'_>) -> bool {
        let path = self.tree.loops[inst].path;
        w.code == self.path_last[path]
            && (w.code != LONG_ID || last_id(self.tree.path(inst)).as_bytes() == w.id)
    }

    /// The filled qualifier/id pairs of segment `s` (id code `code`), in order: each
    /// qualifier as sent (never empty) and the position of its id.
    fn filled_pairs(&self, s: usize, code: u32) -> impl Iterator<Item = (&'a [u8], usize)> {
        let tree: &'a SetTree = self.tree;
        let positions: &'a [(usize, usize)] = self
            .pairs
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(&[], |(_, p)| p);
        // Positions ascend: the first past the segment's last element ends the pairs.
        positions
            .iter()
            .map_while(move |&(qp, vp)| Some((tree.element(s, qp)?, vp)))
            .filter(|(q, _)| !q.is_empty())
    }

    #[inline]
    fn seg_matches(&self, s: usize, conds: &[Cond]) -> bool {
        // Most reads name no condition: answered in line, before the loop is set up.
        conds.is_empty() || self.conds_hold(s, conds)
    }

    /// `seg_matches` when there are conditions: out of line, so the reads that name none stay
    /// small.
    #[inline(never)]
    fn conds_hold(&self, s: usize, conds: &[Cond]) -> bool {
        conds.iter().all(|c| {
            let v = if self.seg_is(s, Want::coded(c.code, &c.seg)) {
                self.tree.element(s, c.elem)
            } else {
                None
            };
            cond_matches(c, v)
        })
    }

    fn inst_matches(&self, inst: usize, conds: &[Cond]) -> bool {
        conds.iter().all(|c| {
            let w = Want::coded(c.code, &c.seg);
            let v = self.tree.loops[inst]
                .segments
                .iter()
                .find(|&&s| self.seg_is(s, w))
                .and_then(|&s| self.tree.element(s, c.elem));
            cond_matches(c, v)
        })
    }

    fn hl_descendants(&self, inst: usize, out: &mut Vec<usize>) {
        for &c in &self.tree.loops[inst].hl_children {
            out.push(c);
            self.hl_descendants(c, out);
        }
    }

    /// Hands each loop instance (or segment) `steps` reach from `ctx` to `f`, in order, until
    /// `f` returns true; returns whether it did. The last step hands its places straight to
    /// `f` (most walks are one step), so a walk keeps no list of them and one that wants the
    /// first place stops there.
    fn walk<E>(
        &self,
        ctx: Ctx,
        steps: &[Step],
        absolute: bool,
        f: &mut impl FnMut(Ctx) -> Result<bool, E>,
    ) -> Result<bool, E> {
        let start = if absolute {
            Ctx { inst: 0, seg: None }
        } else {
            ctx
        };
        let Some((last, init)) = steps.split_last() else {
            return f(start);
        };
        if init.is_empty() {
            return self.step(start, last, f);
        }
        let mut cur: Found = smallvec::smallvec![start];
        for s in init {
            let mut next = Found::new();
            for &c in &cur {
                let Ok(_) = self.step(c, s, &mut |x| {
                    next.push(x);
                    Ok::<_, Infallible>(false)
                });
            }
            cur = next;
        }
        for &c in &cur {
            if self.step(c, last, f)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The first place `walk` reaches.
    fn first_place(&self, ctx: Ctx, p: &X12Path) -> Option<Ctx> {
        let mut first = None;
        let Ok(_) = self.walk(ctx, &p.steps, p.absolute, &mut |c| {
            first = Some(c);
            Ok::<_, Infallible>(true)
        });
        first
    }

    /// One step of `walk` from place `c`: each loop instance or segment it reaches to `f`.
    fn step<E>(
        &self,
        c: Ctx,
        s: &Step,
        f: &mut impl FnMut(Ctx) -> Result<bool, E>,
    ) -> Result<bool, E> {
        let tree: &'a SetTree = self.tree;
        let want = Want::coded(s.code, &s.id);
        let step_hl = want.code == HL.code;
        let here = &tree.loops[c.inst];
        // Only an HL step asks whether it starts from an HL level.
        let in_hl = step_hl && self.inst_is(c.inst, HL);
        let is_loop = in_hl || self.has_child_loop(self.path_lp[here.path], s);
        if !is_loop {
            for &g in &here.segments {
                if self.seg_is(g, want)
                    && self.seg_matches(g, &s.conds)
                    && f(Ctx {
                        inst: c.inst,
                        seg: Some(g),
                    })?
                {
                    return Ok(true);
                }
            }
            return Ok(false);
        }
        let mut each = |i: usize| -> Result<bool, E> {
            match self.inst_matches(i, &s.conds) {
                true => f(Ctx { inst: i, seg: None }),
                false => Ok(false),
            }
        };
        if in_hl && s.child {
            for &i in &here.hl_children {
                if each(i)? {
                    return Ok(true);
                }
            }
        } else if in_hl {
            let mut v = Vec::new();
            self.hl_descendants(c.inst, &mut v);
            for i in v {
                if each(i)? {
                    return Ok(true);
                }
            }
        } else {
            for &ch in &here.children {
                // From the top, an HL step reaches the levels that have no parent level.
                let hit = match step_hl && s.child {
                    true => self.inst_is(ch, HL) && tree.loops[ch].hl_parent.is_none(),
                    false => self.inst_is(ch, want),
                };
                if hit && each(ch)? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    fn find_segment(&self, ctx: Ctx, seg: &str, conds: &[Cond]) -> Option<usize> {
        let want = Want::new(seg);
        if let Some(s) = ctx.seg {
            if self.seg_is(s, want) {
                return self.seg_matches(s, conds).then_some(s);
            }
        }
        self.tree.loops[ctx.inst]
            .segments
            .iter()
            .copied()
            .find(|&s| self.seg_is(s, want) && self.seg_matches(s, conds))
    }

    /// Every value a path yields (scalars take the first).
    fn values(&self, ctx: Ctx, p: &'a X12Path) -> Vec<Cow<'a, str>> {
        let mut out = Vec::new();
        self.each_value(ctx, p, false, &mut |_, v| {
            out.push(self.text(v));
            false
        });
        out
    }

    /// The first value a path yields.
    fn first_value(&self, ctx: Ctx, p: &'a X12Path) -> Option<Cow<'a, str>> {
        if p.absolute {
            let key: *const X12Path = p;
            if let Some((_, v)) = self
                .absolute
                .borrow()
                .iter()
                .find(|(k, _)| std::ptr::eq(*k, key))
            {
                return v.clone();
            }
            let v = self.first_value_here(ctx, p);
            self.absolute.borrow_mut().push((key, v.clone()));
            return v;
        }
        self.first_value_here(ctx, p)
    }

    /// `first_value`, read from the set (not remembered).
    fn first_value_here(&self, ctx: Ctx, p: &'a X12Path) -> Option<Cow<'a, str>> {
        let mut out = None;
        self.each_value(ctx, p, false, &mut |_, v| {
            out = Some(v);
            true
        });
        out.map(|v| self.text(v))
    }

    /// Hands every value a path yields to `f` with its qualifier as sent: the qualifier of its
    /// id pair, or the element its first condition names (MAN01 for `MAN02[MAN01=GM]`). `f`
    /// returns true to stop. Without `qual` the qualifier is not looked up (`f` gets ""): most
    /// reads want only the value. Reads borrow the held set; nothing is copied here.
    ///
    /// Generic over `f` rather than taking a `dyn` callback: each read's callback is then
    /// compiled in line with the scan, and reads are most of what mapping does.
    fn each_value<F: FnMut(&'a [u8], &'a [u8]) -> bool>(
        &self,
        ctx: Ctx,
        p: &'a X12Path,
        qual: bool,
        f: &mut F,
    ) {
        let Ok(_) = self.walk(ctx, &p.steps, p.absolute, &mut |c| {
            Ok::<_, Infallible>(self.target_values(c, p, qual, f))
        });
    }

    /// `each_value` at one context; true when `f` asked to stop.
    fn target_values<F: FnMut(&'a [u8], &'a [u8]) -> bool>(
        &self,
        c: Ctx,
        p: &'a X12Path,
        qual: bool,
        f: &mut F,
    ) -> bool {
        let tree: &'a SetTree = self.tree;
        match &p.target {
            Target::Element {
                seg,
                elem,
                comp,
                conds,
            } => {
                let mut one = |s: usize| -> bool {
                    let v = match comp {
                        Some(k) => tree.component(s, *elem, *k),
                        None => tree.element(s, *elem),
                    };
                    match v.filter(|v| !v.is_empty()) {
                        Some(v) => {
                            let q = match conds.first() {
                                Some(c) if qual => tree.element(s, c.elem).unwrap_or(b""),
                                _ => b"",
                            };
                            f(q, v)
                        }
                        None => false,
                    }
                };
                // Repeated segments (REF, DTM) with a condition: every match counts.
                let want = Want::new(seg);
                match c.seg {
                    Some(s) if self.seg_is(s, want) => self.seg_matches(s, conds) && one(s),
                    _ => tree.loops[c.inst]
                        .segments
                        .iter()
                        .any(|&s| self.seg_is(s, want) && self.seg_matches(s, conds) && one(s)),
                }
            }
            Target::Pair {
                seg,
                qualifiers,
                conds,
            } => {
                let Some(s) = self.find_segment(c, seg, conds) else {
                    return false;
                };
                let code = id_code(seg.as_bytes());
                self.filled_pairs(s, code).any(|(q, vp)| {
                    // Compared as `id_code`s (qualifiers are two or three bytes); only a
                    // qualifier that is not ASCII is compared as the lossy text it reads as.
                    let qc = id_code(q);
                    let wanted = qualifiers
                        .iter()
                        .any(|x| x.code == qc && (qc != LONG_ID || q == x.text.as_bytes()))
                        || (!q.is_ascii() && {
                            let t = String::from_utf8_lossy(q);
                            qualifiers.iter().any(|x| x.text == t)
                        });
                    if !wanted {
                        return false;
                    }
                    match tree.element(s, vp).filter(|v| !v.is_empty()) {
                        Some(v) => f(if qual { q } else { b"" }, v),
                        None => false,
                    }
                })
            }
            Target::Envelope { seg, elem } => {
                let src = if seg == "ISA" { &tree.isa } else { &tree.gs };
                match src
                    .get(elem - 1)
                    .map(|v| v.trim())
                    .filter(|v| !v.is_empty())
                {
                    Some(v) => f(b"", v.as_bytes()),
                    None => false,
                }
            }
            Target::Node => false,
        }
    }

    /// `first_value` of a `Read::Simple` read: the first segment with id `code` in the context
    /// (the context's own segment when it has that id) that meets the path's `conds` and whose
    /// element `elem` is not empty.
    fn simple_value(
        &self,
        ctx: Ctx,
        code: u32,
        elem: usize,
        conds: &[Cond],
    ) -> Option<Cow<'a, str>> {
        // In line (a closure here was a call per segment looked at); `seg_matches` tests the
        // conditions, which few reads name, out of line.
        #[inline(always)]
        fn filled<'t>(
            inb: &Inbound<'t>,
            s: usize,
            elem: usize,
            conds: &[Cond],
        ) -> Option<&'t [u8]> {
            match inb.seg_matches(s, conds) {
                true => inb.tree.element(s, elem).filter(|v| !v.is_empty()),
                false => None,
            }
        }
        let v = match ctx.seg {
            Some(s) if self.ids[s] == code => filled(self, s, elem, conds),
            _ => self.tree.loops[ctx.inst].segments.iter().find_map(|&s| {
                if self.ids[s] == code {
                    filled(self, s, elem, conds)
                } else {
                    None
                }
            }),
        };
        v.map(|v| self.text(v))
    }

    /// `first_value` of a `Read::Pair` read (number `index`): the first filled id whose
    /// qualifier the path names, of the first segment with id `code` in the context (the
    /// context's own segment when it has that id). The first such read in a context answers
    /// them all (`fill_pairs`); the others look their answer up, in line.
    #[inline(always)]
    fn pair_value(&self, ctx: Ctx, code: u32, index: u8) -> Option<Cow<'a, str>> {
        let mut memo = self.pair_memo.borrow_mut();
        if memo.key != (ctx.inst, ctx.seg, code) {
            self.fill_pairs(&mut memo, ctx, code);
        }
        if memo.found & 1u64.checked_shl(u32::from(index))? == 0 {
            return None;
        }
        let v = self
            .tree
            .element(memo.seg, *memo.at.get(usize::from(index))?)?;
        Some(self.text(v))
    }

    /// Answers every `Read::Pair` read at `ctx` of the segment with id `code`: one pass over
    /// its filled pairs finds, per qualifier, the reads that want it (`Map::pair_reads`), and
    /// each read takes the first filled id whose qualifier it names. The reads' qualifiers are
    /// two or three ASCII characters, so their codes never are `LONG_ID` and no qualifier that
    /// is not ASCII can read as one of them: comparing codes is the whole test.
    #[inline(never)]
    fn fill_pairs(&self, memo: &mut PairMemo, ctx: Ctx, code: u32) {
        let tree: &'a SetTree = self.tree;
        memo.key = (ctx.inst, ctx.seg, code);
        memo.found = 0;
        let found = match ctx.seg {
            Some(s) if self.ids[s] == code => Some(s),
            _ => tree.loops[ctx.inst]
                .segments
                .iter()
                .copied()
                .find(|&s| self.ids[s] == code),
        };
        let Some(s) = found else {
            memo.seg = usize::MAX;
            return;
        };
        memo.seg = s;
        for (q, vp) in self.filled_pairs(s, code) {
            let qc = id_code(q);
            let wanted = self
                .map
                .pair_reads
                .iter()
                .find(|(c, _)| *c == qc)
                .map_or(0, |(_, m)| m & !memo.found);
            if wanted == 0 || tree.element(s, vp).is_none_or(<[u8]>::is_empty) {
                continue;
            }
            memo.found |= wanted;
            let mut left = wanted;
            while left != 0 {
                if let Some(at) = memo.at.get_mut(left.trailing_zeros() as usize) {
                    *at = vp;
                }
                left &= left - 1;
            }
        }
    }

    /// The value of rule `r` at `ctx`, and whether its read leaves an id to keep as invalid:
    /// false only for a pair read that found nothing, whose `invalid_value` (the same path read
    /// the same way) would find nothing either, so it is not asked.
    #[inline(always)]
    fn rule_value<O: Out<'a>>(
        &self,
        ctx: Ctx,
        r: &'a Rule,
    ) -> Result<(Option<O>, bool), TranslateError> {
        self.finish_read(r, self.rule_raw(ctx, r))
    }

    /// `rule_value` from what `rule_raw` read.
    #[inline(always)]
    fn finish_read<O: Out<'a>>(
        &self,
        r: &'a Rule,
        raw: Option<Option<Cow<'a, str>>>,
    ) -> Result<(Option<O>, bool), TranslateError> {
        let Some(raw) = raw else {
            return Ok((None, true));
        };
        let read = raw.is_some() || !matches!(r.read, Read::Pair { .. });
        Ok((self.finish_value(r, raw)?, read))
    }

    /// What rule `r` reads at `ctx`, before its default, code table and conversion; `None` when
    /// its `when` does not hold (no value, not even the default).
    // In line: called for every rule, it is mostly a dispatch to the read its rule takes.
    #[inline(always)]
    fn rule_raw(&self, ctx: Ctx, r: &'a Rule) -> Option<Option<Cow<'a, str>>> {
        // The path of a `Simple` or `Nested` read, and the conditions of its target.
        let element = |qualified: bool| match r.from.first() {
            Some(Source::X12(p)) => match &p.target {
                Target::Element { conds, .. } if qualified => Some((p, conds.as_slice())),
                _ => Some((p, &[][..])),
            },
            _ => None,
        };
        let raw = match r.read {
            Read::Simple {
                code,
                elem,
                qualified,
            } => {
                let conds = element(qualified).map_or(&[][..], |(_, c)| c);
                self.simple_value(ctx, code, elem, conds)
            }
            Read::Nested {
                code,
                elem,
                qualified,
            } => {
                let mut out = None;
                if let Some((p, conds)) = element(qualified) {
                    let Ok(_) = self.walk(ctx, &p.steps, false, &mut |c| {
                        out = self.simple_value(c, code, elem, conds);
                        Ok::<_, Infallible>(out.is_some())
                    });
                }
                out
            }
            Read::Pair { code, index } => self.pair_value(ctx, code, index),
            Read::Constant => r.value.as_deref().map(Cow::Borrowed),
            Read::General => {
                if let (Some(Source::X12(w)), Some(want)) = (&r.when, &r.when_value) {
                    if self.first_value(ctx, w).as_deref() != Some(want.as_str()) {
                        return None;
                    }
                }
                match &r.value {
                    Some(v) => Some(Cow::Borrowed(v.as_str())),
                    None => r.from.iter().find_map(|s| match s {
                        Source::X12(p) => self.first_value(ctx, p),
                        Source::Xml(_) => None,
                    }),
                }
            }
        };
        Some(raw)
    }

    /// The value of rule `r` from what it read: the default when it read nothing, then its
    /// code table and conversion. In line for the common rule with neither (text as read); the
    /// others take `finish_coded`.
    #[inline(always)]
    fn finish_value<O: Out<'a>>(
        &self,
        r: &'a Rule,
        raw: Option<Cow<'a, str>>,
    ) -> Result<Option<O>, TranslateError> {
        let Some(raw) = super::with_default(r, raw) else {
            return Ok(None);
        };
        if r.table.is_none() && r.convert == Convert::None {
            return Ok(Some(O::text(raw)));
        }
        self.finish_coded(r, raw)
    }

    /// `finish_value` of a rule with a code table or a conversion.
    fn finish_coded<O: Out<'a>>(
        &self,
        r: &'a Rule,
        raw: Cow<'a, str>,
    ) -> Result<Option<O>, TranslateError> {
        let mapped = match r.table {
            None => raw,
            Some(_) => super::coded_value(self.map, r, raw)?,
        };
        if r.convert == Convert::None
            || (r.convert == Convert::Decimal && convert::decimal_is_canonical(&mapped))
        {
            // What `convert::inbound_opt` gives when the text is its own canonical form
            // (`Text` reads as the `Value::String` it would give), without copying the text.
            return Ok(Some(O::text(mapped)));
        }
        let err = |e: ValueError| super::value_error(self.map, r, e);
        Ok(convert::inbound_opt(r.convert, &mapped)
            .map_err(err)?
            .map(O::value))
    }

    /// For a rule with `invalid_to`: the id as sent and its qualifier, when it is not valid.
    fn invalid_value(&self, ctx: Ctx, r: &'a Rule) -> Option<(Cow<'a, str>, Cow<'a, str>)> {
        let (q, raw) = r.from.iter().find_map(|s| match s {
            Source::X12(p) => {
                let mut first = None;
                self.each_value(ctx, p, true, &mut |q, v| {
                    first = Some((self.text(q), self.text(v)));
                    true
                });
                first
            }
            Source::Xml(_) => None,
        })?;
        match convert::inbound_opt(r.convert, &raw) {
            Ok(Some(_)) => None,
            _ => Some((q, raw)),
        }
    }

    /// The error for a required rule that read nothing.
    fn missing(&self, r: &Rule) -> TranslateError {
        self.map.error(r.line, r.missing_message())
    }

    fn block<O: Out<'a>>(
        &self,
        ctx: Ctx,
        b: &'a Block,
        out: &mut O::Obj,
    ) -> Result<(), TranslateError> {
        let mut missing = Vec::new();
        for r in &b.rules {
            if r.only == Some(Only::Outbound) {
                continue;
            }
            match self.rule_value::<O>(ctx, r)? {
                (Some(v), _) if r.fresh_key => O::push(out, &r.to[0], v),
                (Some(v), _) => O::set(out, &r.to, v),
                (None, read) => {
                    let invalid = match (&r.invalid_to, r.value.is_none() && read) {
                        (Some(inv), true) => self
                            .invalid_value(ctx, r)
                            .map(|(q, v)| (inv, O::qualified(q, v))),
                        _ => None,
                    };
                    match invalid {
                        Some((inv, id)) => O::set(out, inv, O::array(vec![id])),
                        None if r.required => missing.push(r),
                        None => {}
                    }
                }
            }
        }
        for c in &b.blocks {
            if c.only == Some(Only::Outbound) {
                continue;
            }
            let Some(Source::X12(p)) = &c.source else {
                continue;
            };
            if c.array {
                let mut items = Vec::new();
                self.walk(ctx, &p.steps, p.absolute, &mut |inner| {
                    if let Some(s) = &c.scalar {
                        for raw in s.from.iter().flat_map(|src| match src {
                            Source::X12(sp) => self.values(inner, sp),
                            Source::Xml(_) => vec![],
                        }) {
                            if let Some(v) = self.finish_value::<O>(s, Some(raw))? {
                                items.push(v);
                            }
                        }
                        return Ok(false);
                    }
                    let mut obj = O::obj_for(c);
                    self.block::<O>(inner, c, &mut obj)?;
                    if !O::is_empty(&obj) {
                        items.push(O::object(obj));
                    }
                    Ok(false)
                })?;
                if !items.is_empty() {
                    O::set(out, &c.to, O::array(items));
                }
            } else if let Some(inner) = self.first_place(ctx, p) {
                let mut obj = O::obj_for(c);
                self.block::<O>(inner, c, &mut obj)?;
                if !O::is_empty(&obj) {
                    O::set(out, &c.to, O::object(obj));
                }
            }
        }
        // A required field inside an array element only counts when the element has content.
        if let Some(r) = missing.first() {
            if b.source.is_none() || !O::is_empty(out) {
                return Err(self.missing(r));
            }
        }
        Ok(())
    }

    /// `run` into any output tree (`Value`, or the lighter `Node`).
    pub fn run_into<O: Out<'a>>(&self) -> Result<O::Obj, TranslateError> {
        let mut out = O::obj_for(&self.map.root);
        self.block::<O>(Ctx { inst: 0, seg: None }, &self.map.root, &mut out)?;
        Ok(out)
    }

    /// `run_into` for a map with a plan: the rules' values go into frames, by the plan, rather
    /// than into a tree. Returns the frames and where the document's frame starts; `None` when
    /// the set does not map (the tree route then gives the error).
    pub(crate) fn run_plan(&self, plan: &'a Plan) -> Option<(Arena<'a>, usize)> {
        let mut a = Arena::new();
        let root = a.frame(plan.layout.fields.len());
        self.plan_block(
            Ctx { inst: 0, seg: None },
            &self.map.root,
            &plan.root,
            &mut a,
            root,
        )
        .ok()?;
        Some((a, root))
    }

    /// `block` into frame `f`, by the block's plan: the same rules read in the same order, each
    /// value put in its slot (`set_path` on the tree, see `layout::Plan`); a sub-block that
    /// writes nothing leaves nothing, as an empty object is not set.
    fn plan_block(
        &self,
        ctx: Ctx,
        b: &'a Block,
        pb: &'a PlanBlock,
        a: &mut Arena<'a>,
        f: usize,
    ) -> Result<(), Unmapped> {
        let writes = a.writes;
        let mut missing = false;
        for rp in &pb.rules {
            let r = b.rules.get(rp.rule).ok_or(Unmapped)?;
            // The common outcomes in line: text as read and as it stays, or nothing read and
            // nothing to do about it.
            match self.rule_raw(ctx, r) {
                Some(Some(Cow::Borrowed(t))) if rp.plain => {
                    a.set_text(f, &rp.place, t).ok_or(Unmapped)?
                }
                Some(None) if rp.quiet => {}
                raw => missing |= self.plan_rule(ctx, r, rp, raw, a, f)?,
            }
        }
        for cp in &pb.blocks {
            let c = b.blocks.get(cp.index).ok_or(Unmapped)?;
            let Some(Source::X12(p)) = &c.source else {
                continue;
            };
            if c.array {
                self.walk(ctx, &p.steps, p.absolute, &mut |inner| {
                    if let Some(s) = &c.scalar {
                        for src in &s.from {
                            let Source::X12(sp) = src else { continue };
                            for raw in self.values(inner, sp) {
                                let v = self.finish_value::<Doc>(s, Some(raw));
                                if let Some(v) = v.map_err(|_| Unmapped)? {
                                    let it = a.item(0);
                                    a.put(Arena::item_value(it), v).ok_or(Unmapped)?;
                                    a.link(f, &cp.place, it).ok_or(Unmapped)?;
                                }
                            }
                        }
                        return Ok(false);
                    }
                    let (len, w) = (a.len(), a.writes);
                    let it = a.item(cp.len);
                    self.plan_block(inner, c, &cp.block, a, Arena::item_field(it, 0))?;
                    if a.writes == w {
                        a.undo(len, None);
                    } else {
                        a.link(f, &cp.place, it).ok_or(Unmapped)?;
                    }
                    Ok(false)
                })?;
            } else if let Some(inner) = self.first_place(ctx, p) {
                let (len, w) = (a.len(), a.writes);
                let (g, linked) = a.reach_struct(f, &cp.place, cp.len).ok_or(Unmapped)?;
                self.plan_block(inner, c, &cp.block, a, g)?;
                if a.writes == w {
                    a.undo(len, linked);
                }
            }
        }
        // A required field inside an array element only counts when the element has content.
        match missing && (b.source.is_none() || a.writes != writes) {
            true => Err(Unmapped),
            false => Ok(()),
        }
    }

    /// The rest of `plan_block` for rule `r` with plan `rp`, from what it read (`raw`): its
    /// default, code table and conversion, an id that is not valid, or nothing. Returns whether
    /// the rule is required and has no value.
    #[inline(never)]
    fn plan_rule(
        &self,
        ctx: Ctx,
        r: &'a Rule,
        rp: &'a RulePlan,
        raw: Option<Option<Cow<'a, str>>>,
        a: &mut Arena<'a>,
        f: usize,
    ) -> Result<bool, Unmapped> {
        let (value, read) = self.finish_read::<Doc>(r, raw).map_err(|_| Unmapped)?;
        if let Some(v) = value {
            a.set(f, &rp.place, v).ok_or(Unmapped)?;
            return Ok(false);
        }
        let invalid = match (&rp.invalid, r.value.is_none() && read) {
            (Some(inv), true) => self.invalid_value(ctx, r).map(|id| (inv, id)),
            _ => None,
        };
        let Some((inv, (q, v))) = invalid else {
            return Ok(r.required);
        };
        let it = a.item(inv.len);
        let at = |k| Arena::item_field(it, k);
        a.put(at(inv.qualifier), Doc::Text(q)).ok_or(Unmapped)?;
        a.put(at(inv.value), Doc::Text(v)).ok_or(Unmapped)?;
        a.link(f, &inv.list, it).ok_or(Unmapped)?;
        Ok(false)
    }
}

/// Why a planned run stopped: the set does not map (an error the tree route reports) or the
/// plan does not fit its map. Nothing more is kept: the tree route runs again either way.
struct Unmapped;

/// What the inbound rules build: a `serde_json::Value`, or the lighter `super::node::Node` that
/// borrows keys and text. Both are built by the same rules in the same order.
pub trait Out<'a>: Sized {
    type Obj: Default;
    /// Text as read (after the code table), with no conversion.
    fn text(s: Cow<'a, str>) -> Self;
    /// A converted value.
    fn value(v: Value) -> Self;
    /// An invalid id kept as sent: `{ qualifier, value }`.
    fn qualified(q: Cow<'a, str>, v: Cow<'a, str>) -> Self;
    fn array(items: Vec<Self>) -> Self;
    fn object(o: Self::Obj) -> Self;
    /// An empty object for what block `b` fills in.
    fn obj_for(_b: &Block) -> Self::Obj {
        Self::Obj::default()
    }
    fn is_empty(o: &Self::Obj) -> bool;
    fn set(o: &mut Self::Obj, path: &'a [String], v: Self);
    /// `set` of a one-key path the object does not have yet (`Rule::fresh_key`).
    fn push(o: &mut Self::Obj, key: &'a String, v: Self) {
        Self::set(o, std::slice::from_ref(key), v)
    }
}

impl<'a> Out<'a> for Value {
    type Obj = JsonMap<String, Value>;
    fn text(s: Cow<'a, str>) -> Self {
        Value::String(s.into_owned())
    }
    fn value(v: Value) -> Self {
        v
    }
    fn qualified(q: Cow<'a, str>, v: Cow<'a, str>) -> Self {
        serde_json::json!({ "qualifier": q, "value": v })
    }
    fn array(items: Vec<Self>) -> Self {
        Value::Array(items)
    }
    fn object(o: Self::Obj) -> Self {
        Value::Object(o)
    }
    fn is_empty(o: &Self::Obj) -> bool {
        o.is_empty()
    }
    fn set(o: &mut Self::Obj, path: &'a [String], v: Self) {
        set_path(o, path, v)
    }
}

impl<'a> Out<'a> for Doc<'a> {
    type Obj = node::Obj<'a>;
    fn text(s: Cow<'a, str>) -> Self {
        Doc::Text(s)
    }
    fn value(v: Value) -> Self {
        Doc::Value(v)
    }
    fn qualified(q: Cow<'a, str>, v: Cow<'a, str>) -> Self {
        Doc::Object(vec![("qualifier", Doc::Text(q)), ("value", Doc::Text(v))])
    }
    fn array(items: Vec<Self>) -> Self {
        Doc::Array(items)
    }
    fn object(o: Self::Obj) -> Self {
        Doc::Object(o)
    }
    /// Room for a key per rule and sub-block (at most that many at this level), so the object
    /// does not grow key by key.
    fn obj_for(b: &Block) -> Self::Obj {
        Vec::with_capacity(b.rules.len() + b.blocks.len())
    }
    fn is_empty(o: &Self::Obj) -> bool {
        o.is_empty()
    }
    fn set(o: &mut Self::Obj, path: &'a [String], v: Self) {
        node::set_path(o, path, v)
    }
    fn push(o: &mut Self::Obj, key: &'a String, v: Self) {
        o.push((key.as_str(), v));
    }
}

pub(crate) fn set_path(obj: &mut JsonMap<String, Value>, path: &[String], v: Value) {
    let Some((last, init)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for p in init {
        // Look up before `entry`, which would copy the key even when it is already there.
        if !cur.contains_key(p.as_str()) {
            cur.insert(p.clone(), Value::Object(JsonMap::new()));
        }
        let Some(entry) = cur.get_mut(p.as_str()) else {
            return;
        };
        if !entry.is_object() {
            *entry = Value::Object(JsonMap::new());
        }
        let Value::Object(m) = entry else { return };
        cur = m;
    }
    // Objects merge, so a default rule and a block can both fill one party; arrays append, so
    // an invalid id (`invalid_to`) and the array's own rules can both fill `marks`.
    match (cur.get_mut(last), v) {
        (Some(Value::Object(old)), Value::Object(new)) => old.extend(new),
        (Some(Value::Array(old)), Value::Array(new)) => old.extend(new),
        (_, v) => {
            cur.insert(last.clone(), v);
        }
    }
}

pub(crate) fn get_path<'v>(v: &'v Value, path: &[String]) -> Option<&'v Value> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    (!cur.is_null()).then_some(cur)
}

// ---- outbound -----------------------------------------------------------------------------

#[derive(Debug, Default)]
struct OutNode {
    loop_id: String,
    segs: Vec<OwnedSegment>,
    children: Vec<usize>,
    hl: bool,
}

pub(crate) struct Outbound<'a> {
    pub dict: &'a Dictionary,
    pub set: &'a SetGrammar,
    pub map: &'a Map,
    nodes: Vec<OutNode>,
    /// Values written so far: a block that wrote none leaves no loop or segment behind.
    puts: usize,
}

#[derive(Clone, Copy)]
struct OCtx {
    node: usize,
    seg: Option<usize>,
}

fn set_element(seg: &mut OwnedSegment, elem: usize, comp: Option<usize>, v: &str) {
    while seg.elements.len() < elem {
        seg.elements.push(vec![vec![String::new()]]);
    }
    let e = &mut seg.elements[elem - 1];
    if e.is_empty() {
        e.push(vec![String::new()]);
    }
    let r = &mut e[0];
    let c = comp.unwrap_or(1);
    while r.len() < c {
        r.push(String::new());
    }
    r[c - 1] = v.to_string();
}

fn seed(seg: &mut OwnedSegment, conds: &[Cond]) {
    for c in conds {
        if c.seg == seg.id && seg.get(c.elem).is_empty() {
            if let Some(v) = c.seed() {
                set_element(seg, c.elem, None, v);
            }
        }
    }
}

impl<'a> Outbound<'a> {
    pub fn new(v: &'a VersionGrammar, set: &'a SetGrammar, map: &'a Map) -> Self {
        Outbound {
            dict: &v.dict,
            set,
            map,
            nodes: vec![OutNode::default()],
            puts: 0,
        }
    }

    // Presence conditions select what to read; when writing they never exclude a target.
    fn seg_matches(seg: &OwnedSegment, conds: &[Cond]) -> bool {
        conds
            .iter()
            .all(|c| c.present || c.seg != seg.id || c.matches(Some(seg.get(c.elem))))
    }

    /// A segment whose conditioning elements (qualifiers) are all still empty, so that seeding
    /// them makes it match. False when there is no such condition.
    fn unqualified(seg: &OwnedSegment, conds: &[Cond]) -> bool {
        let mut any = false;
        for c in conds
            .iter()
            .filter(|c| c.seg == seg.id && c.seed().is_some())
        {
            if !seg.get(c.elem).is_empty() {
                return false;
            }
            any = true;
        }
        any
    }

    fn node_matches(&self, n: usize, conds: &[Cond]) -> bool {
        conds.iter().filter(|c| !c.present).all(|c| {
            let v = self.nodes[n]
                .segs
                .iter()
                .find(|s| s.id == c.seg)
                .map(|s| s.get(c.elem).to_string());
            c.matches(v.as_deref())
        })
    }

    fn new_node(&mut self, parent: usize, step: &Step, hl: bool) -> usize {
        let trigger = step.id.split('-').next().unwrap_or(&step.id).to_string();
        let mut seg = OwnedSegment {
            id: trigger,
            elements: vec![],
        };
        seed(&mut seg, &step.conds);
        let idx = self.nodes.len();
        self.nodes.push(OutNode {
            loop_id: step.id.clone(),
            segs: vec![seg],
            children: vec![],
            hl,
        });
        self.nodes[parent].children.push(idx);
        idx
    }

    fn is_loop_step(&self, node: usize, step: &Step) -> bool {
        if step.id == "HL" {
            return true;
        }
        let path = self.node_path(node);
        let lp = loop_index(self.set, &path).unwrap_or(0);
        child_loop(self.set, lp, &step.id).is_some()
    }

    fn node_path(&self, node: usize) -> String {
        // Paths are rebuilt from the root by loop ids; HL nodes live at the top level.
        fn find(nodes: &[OutNode], cur: usize, target: usize, acc: &mut Vec<String>) -> bool {
            if cur == target {
                return true;
            }
            for &c in &nodes[cur].children {
                let pushed = !nodes[c].hl;
                if pushed {
                    acc.push(nodes[c].loop_id.clone());
                } else {
                    acc.clear();
                    acc.push("HL".into());
                }
                if find(nodes, c, target, acc) {
                    return true;
                }
                if pushed {
                    acc.pop();
                }
            }
            false
        }
        let mut acc = Vec::new();
        find(&self.nodes, 0, node, &mut acc);
        acc.join("/")
    }

    /// Loop steps: find a matching instance or create one.
    fn descend(&mut self, mut node: usize, steps: &[Step], always_new_last: bool) -> OCtx {
        let n = steps.len();
        for (i, s) in steps.iter().enumerate() {
            let last = i + 1 == n;
            if !self.is_loop_step(node, s) {
                // A segment step: the context becomes a (new or matching) segment. A segment
                // the loop allows once is reused rather than repeated.
                let once = {
                    let lp = loop_index(self.set, &self.node_path(node)).unwrap_or(0);
                    self.set.loops[lp].children.iter().any(|c| {
                        matches!(c, Node::Segment { segment, max, .. } if self.dict.segments[*segment].id == s.id && *max == crate::x12::grammar::MaxUse::Limited(1))
                    })
                };
                let seg_idx = if last && always_new_last && !once {
                    None
                } else {
                    let segs = &self.nodes[node].segs;
                    let found = segs
                        .iter()
                        .position(|g| g.id == s.id && Self::seg_matches(g, &s.conds))
                        .or_else(|| {
                            segs.iter()
                                .position(|g| g.id == s.id && Self::unqualified(g, &s.conds))
                        });
                    if let Some(i) = found {
                        seed(&mut self.nodes[node].segs[i], &s.conds);
                    }
                    found
                };
                let seg_idx = seg_idx.unwrap_or_else(|| {
                    let mut g = OwnedSegment {
                        id: s.id.clone(),
                        elements: vec![],
                    };
                    seed(&mut g, &s.conds);
                    self.nodes[node].segs.push(g);
                    self.nodes[node].segs.len() - 1
                });
                return OCtx {
                    node,
                    seg: Some(seg_idx),
                };
            }
            let existing = if last && always_new_last {
                None
            } else {
                self.nodes[node]
                    .children
                    .iter()
                    .copied()
                    .find(|&c| self.nodes[c].loop_id == s.id && self.node_matches(c, &s.conds))
            };
            node = match existing {
                Some(c) => c,
                None => self.new_node(node, s, s.id == "HL"),
            };
        }
        OCtx { node, seg: None }
    }

    fn put(&mut self, ctx: OCtx, p: &X12Path, v: &str) {
        self.puts += 1;
        let start = if p.absolute {
            OCtx { node: 0, seg: None }
        } else {
            ctx
        };
        let c = if p.steps.is_empty() {
            start
        } else {
            self.descend(start.node, &p.steps, false)
        };
        let (seg_id, conds) = match &p.target {
            Target::Element { seg, conds, .. } | Target::Pair { seg, conds, .. } => {
                (seg.clone(), conds.clone())
            }
            _ => return,
        };
        let node = &self.nodes[c.node];
        // The context segment, a segment of this loop that matches the conditions, or one whose
        // qualifier is still empty (ACK04 of an ACK that only has its status so far).
        let fits = |g: &OwnedSegment| Self::seg_matches(g, &conds) || Self::unqualified(g, &conds);
        let found = match c.seg {
            Some(i) if node.segs[i].id == seg_id && fits(&node.segs[i]) => Some(i),
            _ => node
                .segs
                .iter()
                .position(|g| g.id == seg_id && Self::seg_matches(g, &conds))
                .or_else(|| {
                    node.segs
                        .iter()
                        .position(|g| g.id == seg_id && Self::unqualified(g, &conds))
                }),
        };
        let idx = match found {
            Some(i) => {
                seed(&mut self.nodes[c.node].segs[i], &conds);
                i
            }
            None => {
                let mut g = OwnedSegment {
                    id: seg_id.clone(),
                    elements: vec![],
                };
                seed(&mut g, &conds);
                self.nodes[c.node].segs.push(g);
                self.nodes[c.node].segs.len() - 1
            }
        };
        let pairs = match &p.target {
            Target::Pair { .. } => self
                .dict
                .segment(seg_id.as_bytes())
                .map(|d| pair_positions(self.dict, d))
                .unwrap_or_default(),
            _ => vec![],
        };
        let seg = &mut self.nodes[c.node].segs[idx];
        match &p.target {
            Target::Element { elem, comp, .. } => set_element(seg, *elem, *comp, v),
            Target::Pair { qualifiers, .. } => {
                if let Some(&(q, i)) = pairs.iter().find(|(q, _)| seg.get(*q).is_empty()) {
                    set_element(seg, q, None, &qualifiers[0].text);
                    set_element(seg, i, None, v);
                }
            }
            _ => {}
        }
    }

    /// Would `v` pass validation in the element `p` targets?
    fn fits(&self, p: &X12Path, v: &str) -> bool {
        let Target::Element {
            seg, elem, comp, ..
        } = &p.target
        else {
            return true;
        };
        let Some(def) = self.dict.segment(seg.as_bytes()) else {
            return false;
        };
        let u = match (def.positions.get(elem - 1), comp) {
            (Some(Position::Simple(u)), _) => u,
            (Some(Position::Composite { composite, .. }), c) => match self.dict.composites
                [*composite]
                .components
                .get(c.unwrap_or(1) - 1)
            {
                Some(u) => u,
                None => return false,
            },
            _ => return false,
        };
        let len = v.chars().count() as u32;
        if len < u.min || len > u.max {
            return false;
        }
        match (&self.dict.elements[u.element].codes, u.typ) {
            (Some(c), ElemType::ID) if c.complete => c.contains(v.as_bytes()),
            _ => true,
        }
    }

    fn out_value(&self, r: &Rule, data: &Value) -> Result<Option<String>, TranslateError> {
        let raw: Option<String> = match (&r.value, r.convert) {
            (_, Convert::Count) => get_path(data, &r.to)
                .and_then(Value::as_array)
                .map(|a| a.len().to_string()),
            (Some(v), _) => Some(v.clone()),
            (None, _) => super::plain_value(self.map, r, data)?,
        };
        let Some(raw) = raw else {
            return Ok(r.default.clone());
        };
        if r.convert == Convert::Count {
            return Ok(Some(raw));
        }
        let conv = convert::outbound(r.convert, &raw)
            .map_err(|e| self.map.error(r.line, format!("{}: {e}", r.to_text)))?;
        let Some(conv) = conv else {
            return Ok(r.default.clone());
        };
        if r.value.is_some() {
            return Ok(Some(conv));
        }
        super::uncoded_value(self.map, r, conv)
    }

    /// A rule with `invalid_to` whose document has no valid id writes back the first entry of
    /// that array whose qualifier its path accepts, with that qualifier, so what was read as an
    /// invalid id is written where it came from. Not when the map writes the array itself
    /// (856 `marks`). Returns whether it wrote.
    fn invalid_back(&mut self, ctx: OCtx, b: &Block, r: &Rule, p: &X12Path, data: &Value) -> bool {
        let Some(inv) = &r.invalid_to else {
            return false;
        };
        if b.blocks.iter().any(|c| &c.to == inv) {
            return false;
        }
        let Some(ids) = get_path(data, inv).and_then(Value::as_array) else {
            return false;
        };
        for id in ids {
            let (Some(q), Some(v)) = (
                id.get("qualifier").and_then(Value::as_str),
                id.get("value").and_then(Value::as_str),
            ) else {
                continue;
            };
            let mut p = p.clone();
            let accepted = match &mut p.target {
                Target::Pair { qualifiers, .. } if qualifiers.iter().any(|x| x.text == q) => {
                    *qualifiers = vec![Qualifier::new(q)];
                    true
                }
                Target::Element { conds, .. } => match conds.first_mut() {
                    Some(c) if !c.negate && c.values.iter().any(|x| x.text == q) => {
                        c.values = vec![Qualifier::new(q)];
                        true
                    }
                    _ => false,
                },
                _ => false,
            };
            if accepted && !v.is_empty() {
                self.put(ctx, &p, v);
                return true;
            }
        }
        false
    }

    fn block(&mut self, ctx: OCtx, b: &Block, data: &Value) -> Result<(), TranslateError> {
        for r in &b.rules {
            if r.only == Some(Only::Inbound) || r.from.is_empty() {
                continue;
            }
            let Some(Source::X12(p)) = r.from.first() else {
                continue;
            };
            match self.out_value(r, data)? {
                Some(v) if r.if_valid && !self.fits(p, &v) => {}
                Some(v) if !v.is_empty() => self.put(ctx, p, &v),
                None if self.invalid_back(ctx, b, r, p, data) => {}
                _ if r.required && r.value.is_none() => {
                    return Err(self.map.error(
                        r.line,
                        format!(
                            "{} is required to write {}, but the document has no value",
                            r.to_text, p
                        ),
                    ));
                }
                _ => {}
            }
        }
        for c in &b.blocks {
            if c.only == Some(Only::Inbound) {
                continue;
            }
            let Some(Source::X12(p)) = &c.source else {
                continue;
            };
            let Some(v) = get_path(data, &c.to) else {
                continue;
            };
            let items: Vec<&Value> = match (c.array, v) {
                (true, Value::Array(a)) => a.iter().collect(),
                (true, _) => {
                    return Err(self
                        .map
                        .error(c.line, format!("{} is not an array", c.to_text)))
                }
                (false, v) => vec![v],
            };
            // A plain-value array read from several elements (`N3` lines from N301 and N302)
            // fills those elements of one segment before it starts the next.
            let per_segment = c.scalar.as_ref().map_or(1, |s| s.from.len().max(1));
            let mut shared: Option<OCtx> = None;
            let mut once_segment: Option<(usize, Option<usize>)> = None;
            for (n, item) in items.into_iter().enumerate() {
                let start = if p.absolute {
                    OCtx { node: 0, seg: None }
                } else {
                    ctx
                };
                let (nodes_before, puts_before) = (self.nodes.len(), self.puts);
                let segs_before: Vec<usize> = self.nodes.iter().map(|n| n.segs.len()).collect();
                let inner = match shared {
                    Some(prev) if n % per_segment != 0 => prev,
                    _ => self.descend(start.node, &p.steps, c.array),
                };
                let undo = |this: &mut Self| {
                    if this.puts == puts_before {
                        this.nodes.truncate(nodes_before);
                        for (n, len) in segs_before.iter().enumerate() {
                            this.nodes[n].segs.truncate(*len);
                            this.nodes[n].children.retain(|&c| c < nodes_before);
                        }
                    }
                };
                if let Some(s) = &c.scalar {
                    if let Some(Source::X12(sp)) = s.from.get(n % per_segment) {
                        let text = match item {
                            Value::String(t) => t.clone(),
                            other => other.to_string(),
                        };
                        let v = convert::outbound(s.convert, &text)
                            .map_err(|e| self.map.error(s.line, e.to_string()))?;
                        if let Some(v) = v {
                            self.put(inner, sp, &v);
                        }
                    }
                    let wrote = self.puts != puts_before;
                    undo(self);
                    shared = wrote.then_some(inner);
                    continue;
                }
                // An array element that lands in a segment the loop allows once (a second lot
                // on an 856 item: one SN1 per HL) would overwrite the first: say so instead.
                if c.array && inner.seg.is_some() {
                    let here = (inner.node, inner.seg);
                    if once_segment == Some(here) {
                        return Err(self.map.error(
                            c.line,
                            format!(
                                "{} has more than one element, but {} can hold only one here; \
                                 expected one element (or a partner map that writes them elsewhere)",
                                c.to_text, p
                            ),
                        ));
                    }
                    once_segment = Some(here);
                }
                self.block(inner, c, item)?;
                undo(self);
            }
        }
        Ok(())
    }

    fn emit(&self, node: usize, lp: usize, out: &mut Vec<OwnedSegment>, hl: &mut HlNumbers) {
        for child in &self.set.loops[lp].children {
            match child {
                Node::Segment { segment, .. } => {
                    let id = &self.dict.segments[*segment].id;
                    if id == "ST" || id == "SE" {
                        continue;
                    }
                    for (i, s) in self.nodes[node].segs.iter().enumerate() {
                        if &s.id == id {
                            let mut s = s.clone();
                            if id == "HL" && i == 0 {
                                hl.number(node, &mut s, &self.nodes);
                            }
                            out.push(s);
                        }
                    }
                }
                Node::Loop(l) => {
                    let loop_id = &self.set.loops[*l].id;
                    for &c in &self.nodes[node].children {
                        if &self.nodes[c].loop_id != loop_id {
                            continue;
                        }
                        self.emit(c, *l, out, hl);
                        if self.nodes[c].hl {
                            // HL children follow their parent as sibling loops.
                            self.emit_hl_children(c, *l, out, hl);
                        }
                    }
                }
            }
        }
    }

    fn emit_hl_children(
        &self,
        node: usize,
        lp: usize,
        out: &mut Vec<OwnedSegment>,
        hl: &mut HlNumbers,
    ) {
        for &c in &self.nodes[node].children {
            if self.nodes[c].hl {
                hl.parent.insert(c, node);
                self.emit(c, lp, out, hl);
                self.emit_hl_children(c, lp, out, hl);
            }
        }
    }

    pub fn run(mut self, data: &Value) -> Result<Vec<OwnedSegment>, TranslateError> {
        self.block(OCtx { node: 0, seg: None }, &self.map.root.clone(), data)?;
        let mut out = Vec::new();
        let mut hl = HlNumbers::default();
        self.emit(0, 0, &mut out, &mut hl);
        Ok(out)
    }
}

/// HL01 numbering, HL02 parent links and HL04 child flags, assigned in output order.
#[derive(Default)]
struct HlNumbers {
    next: u32,
    ids: HashMap<usize, u32>,
    parent: HashMap<usize, usize>,
}

impl HlNumbers {
    fn number(&mut self, node: usize, seg: &mut OwnedSegment, nodes: &[OutNode]) {
        self.next += 1;
        self.ids.insert(node, self.next);
        set_element(seg, 1, None, &self.next.to_string());
        let parent = self
            .parent
            .get(&node)
            .and_then(|p| self.ids.get(p))
            .map(u32::to_string)
            .unwrap_or_default();
        set_element(seg, 2, None, &parent);
        let has_children = nodes[node].children.iter().any(|&c| nodes[c].hl);
        set_element(seg, 4, None, if has_children { "1" } else { "0" });
    }
}
