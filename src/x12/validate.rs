//! Validation of one transaction set against its grammar: walks the segments as a state machine
//! over the loop structure (nothing of the set is held in memory but counters), checks every
//! element against the dictionary and syntax notes, and collects every finding with its X12
//! code and position. Envelopes (ISA/GS/ST trailers and control numbers) are `envelope`'s job.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use serde::Serialize;

use super::grammar::{
    Check, CheckKind, CompositeDef, Dictionary, ElemType, ElementDef, ElementUse, LoopDef, Node,
    NoteKind, Position, Req, SegmentDef, SetGrammar, SyntaxNote,
};
use super::lexer::{self, Delimiters};

/// Segment-level error codes (AK304 / IK304).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SegmentCode {
    Unrecognized = 1,
    Unexpected = 2,
    MandatoryMissing = 3,
    LoopOverMax = 4,
    OverMaxUse = 5,
    NotInSet = 6,
    OutOfSequence = 7,
    HasElementErrors = 8,
}

/// Element-level error codes (AK403 / IK403).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ElementCode {
    MandatoryMissing = 1,
    ConditionalMissing = 2,
    TooMany = 3,
    TooShort = 4,
    TooLong = 5,
    InvalidCharacter = 6,
    InvalidCode = 7,
    InvalidDate = 8,
    InvalidTime = 9,
    ExclusionViolated = 10,
    TooManyRepetitions = 12,
    TooManyComponents = 13,
}

impl SegmentCode {
    pub fn code(self) -> u8 {
        self as u8
    }
}
impl ElementCode {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// One element finding inside a segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ElementIssue {
    /// 1-based element position in the segment.
    pub position: usize,
    /// 1-based component position within a composite.
    pub component: Option<usize>,
    /// 1-based repetition, for repeated elements (5010).
    pub repeat: Option<usize>,
    /// Data element reference number (AK402).
    pub element_ref: Option<String>,
    pub code: ElementCode,
    /// Copy of the bad data (not given for invalid characters, as X12 prescribes).
    pub value: Option<String>,
    pub message: String,
}

/// One segment finding (AK3 / IK3), with its element findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentIssue {
    pub segment_id: String,
    /// Position in the set, ST = 1.
    pub position: u32,
    /// Byte offset of the segment in the input.
    pub offset: u64,
    /// Segment-level code; `HasElementErrors` when only elements are wrong.
    pub code: SegmentCode,
    pub elements: Vec<ElementIssue>,
    pub message: String,
}

/// Rules a partner profile may relax. The default is strict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Leniency {
    /// Unknown or misplaced segments are noted but the set is accepted with errors (AK5 E).
    pub unknown_segments: bool,
    /// The input's last segment may lack its terminator.
    pub missing_final_terminator: bool,
    /// ISA ids may be shorter than their fixed width.
    pub unpadded_isa: bool,
    /// Bytes outside ASCII are accepted in text elements.
    pub non_ascii_text: bool,
}

/// Findings cap per set: a runaway file must not exhaust memory.
pub const MAX_ISSUES: usize = 1000;

#[derive(Clone, Copy)]
struct Frame {
    lp: usize,
    /// The child of the loop the walk is at. It only moves forward, so every child after it is
    /// unseen in this instance and the children before it are never asked about again: the
    /// one count a frame needs is `seen`.
    pos: usize,
    /// How often child `pos` was seen in this instance.
    seen: u32,
}

impl Frame {
    /// A new instance of loop `lp` (the set at 0), at its first child, seen once (the trigger
    /// that opened it, or the ST) when the loop has children.
    fn open(lp: usize, children: usize) -> Frame {
        Frame {
            lp,
            pos: 0,
            seen: u32::from(children > 0),
        }
    }

    /// How often child `j` (at or after `pos`) was seen in this instance.
    #[inline(always)]
    fn seen_at(&self, j: usize) -> u32 {
        if j == self.pos {
            self.seen
        } else {
            0
        }
    }
}

/// Hierarchical-level bookkeeping for sets with an HL hierarchy (856).
#[derive(Default)]
struct HlState {
    seen: HashMap<Vec<u8>, Vec<u8>>,
}

/// Walks one transaction set. Feed it every segment after ST, SE included, then `finish`.
pub struct SetWalker<'g> {
    set: &'g SetGrammar,
    dict: &'g Dictionary,
    frames: Vec<Frame>,
    pub issues: Vec<SegmentIssue>,
    pub warnings: Vec<String>,
    pub truncated: bool,
    hl: Option<HlState>,
    hl_key: u32,
    lenient: Leniency,
    /// Partial-code-list warnings already given in this set.
    warned: SeenSet,
    /// Segments whose element checks were clean, to skip checking them again.
    memo: CleanMemo,
}

/// Where element checks put warnings: the list, and what was already said.
pub struct Warnings<'a> {
    pub list: &'a mut Vec<String>,
    pub seen: &'a mut SeenSet,
    /// Set when some value missed a rule, reported or not (a partial code list missed again
    /// says nothing, but the segment's outcome then depends on what the set said before).
    pub flagged: bool,
}

/// Warnings already given, by `warn_key` of segment, position and value. The keys are hashes
/// already, so the set uses them as they are instead of hashing them again.
pub type SeenSet = HashSet<u64, BuildHasherDefault<KeyIsHash>>;

#[derive(Default)]
pub struct KeyIsHash(u64);

impl Hasher for KeyIsHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A hash of a segment key (`grammar::seg_key`), an element position and a value, eight bytes
/// a step (a byte a step over the id and the value cost as much as the rest of a component's
/// check). The value's length goes in with its last word, so values cannot run together.
fn warn_key(seg: u32, p: usize, v: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mix = |h: u64, w: u64| (h ^ w).wrapping_mul(K).rotate_left(27);
    let mut h = mix(K, u64::from(seg) << 32 | p as u64);
    let mut words = v.chunks_exact(8);
    for w in &mut words {
        if let Some(w) = w.first_chunk::<8>() {
            h = mix(h, u64::from_le_bytes(*w));
        }
    }
    h = mix(
        h,
        lexer::short_word(words.remainder()) ^ (v.len() as u64) << 56,
    );
    h ^ (h >> 29)
}

impl<'g> SetWalker<'g> {
    pub fn new(set: &'g SetGrammar, dict: &'g Dictionary, lenient: Leniency) -> Self {
        Self::with_spare(set, dict, lenient, Spare::default())
    }

    /// `new`, taking over what an earlier walker on this thread left (`take_spare`): its
    /// memo of clean segments (the same grammars and input) and its emptied buffers.
    pub fn with_spare(
        set: &'g SetGrammar,
        dict: &'g Dictionary,
        lenient: Leniency,
        spare: Spare,
    ) -> Self {
        let Spare {
            memo,
            mut frames,
            mut warned,
        } = spare;
        frames.clear();
        // The ST, consumed by the envelope, is the set's first child, seen.
        frames.push(Frame::open(0, set.loops[0].children.len()));
        warned.clear();
        let hl = set.hierarchy.as_ref().map(|_| HlState::default());
        let hl_key = set
            .hierarchy
            .as_ref()
            .map(|h| super::grammar::seg_key(h.segment.as_bytes()))
            .unwrap_or(0);
        SetWalker {
            set,
            dict,
            frames,
            issues: Vec::new(),
            warnings: Vec::new(),
            truncated: false,
            hl,
            hl_key,
            lenient,
            warned,
            memo,
        }
    }

    /// Index in the set grammar's `loops` of the loop the last placed segment is in (0, whose
    /// path is "", at the top level).
    pub fn loop_index(&self) -> usize {
        self.frames.last().map_or(0, |f| f.lp)
    }

    /// Path of the loop the last placed segment is in ("" at the top level).
    pub fn loop_path(&self) -> &'g str {
        &self.set.loops[self.loop_index()].path
    }

    /// Checks the ST segment's own elements (position 1).
    pub fn check_header(&mut self, raw: &[u8], d: &Delimiters, offset: u64) {
        self.check_header_with(raw, d, offset, lexer::elements(raw, d));
    }

    /// `check_header` with the ST's elements given by `els` (see `segment_with`).
    pub fn check_header_with<'r>(
        &mut self,
        raw: &[u8],
        d: &Delimiters,
        offset: u64,
        els: impl Iterator<Item = &'r [u8]> + Clone,
    ) {
        if let Some(def) = self.dict.segment(b"ST") {
            self.check_segment(def, raw, d, 1, offset, els);
        }
    }

    fn push(&mut self, issue: SegmentIssue) {
        if self.issues.len() < MAX_ISSUES {
            self.issues.push(issue);
        } else {
            self.truncated = true;
        }
    }

    fn missing(&mut self, node: &Node, position: u32, offset: u64) {
        let (id, what) = match node {
            Node::Segment { segment, .. } => (self.dict.segments[*segment].id.clone(), "segment"),
            Node::Loop(l) => (loop_first_id(&self.set.loops[*l]), "loop"),
        };
        self.push(SegmentIssue {
            segment_id: id.clone(),
            position,
            offset,
            code: SegmentCode::MandatoryMissing,
            elements: Vec::new(),
            message: format!("mandatory {what} {id} is missing"),
        });
    }

    /// Closes frames deeper than `depth`, reporting mandatory children never seen.
    fn close_above(&mut self, depth: usize, position: u32, offset: u64) {
        while self.frames.len() > depth + 1 {
            let Some(f) = self.frames.pop() else { break };
            let set = self.set;
            let lp = &set.loops[f.lp];
            for &j in &lp.mandatory {
                let j = j as usize;
                if j >= f.pos && f.seen_at(j) == 0 {
                    self.missing(&lp.children[j], position, offset);
                }
            }
        }
    }

    fn skip_to(&mut self, depth: usize, i: usize, position: u32, offset: u64) {
        let f = self.frames[depth];
        let set = self.set;
        let lp = &set.loops[f.lp];
        for &j in &lp.mandatory {
            let j = j as usize;
            if j >= i {
                break;
            }
            if j >= f.pos && f.seen_at(j) == 0 {
                self.missing(&lp.children[j], position, offset);
            }
        }
    }

    /// Places one segment (after ST) in the structure and checks its elements.
    pub fn segment(&mut self, raw: &[u8], d: &Delimiters, position: u32, offset: u64) {
        let (id, els) = lexer::id_and_elements(raw, d);
        self.segment_with(raw, id, d, position, offset, || els);
    }

    /// `segment` with the id given and the elements from `els` (called at most once, only
    /// when the elements are checked): a segment held in a `SetTree` was split already, and
    /// the walk takes that split instead of splitting the bytes a second time.
    #[inline(always)]
    pub fn segment_with<'r, I: Iterator<Item = &'r [u8]> + Clone>(
        &mut self,
        raw: &[u8],
        id: &[u8],
        d: &Delimiters,
        position: u32,
        offset: u64,
        els: impl FnOnce() -> I,
    ) {
        let key = super::grammar::seg_key(id);
        // A key no loop of the set has is misplaced wherever the walk stands.
        let Some(number) = self.set.key_number(key) else {
            return self.misplaced(id, key, position, offset);
        };
        for depth in (0..self.frames.len()).rev() {
            let (lp_idx, pos) = (self.frames[depth].lp, self.frames[depth].pos);
            let set = self.set;
            let lp = &set.loops[lp_idx];
            let first = if depth > 0 { pos.max(1) } else { pos };
            let Some(i) = lp.find(number, first) else {
                continue;
            };
            // Nothing to close when the segment is in the innermost loop, and nothing skipped
            // when it is the node at hand or the next one (the node at hand was seen).
            if self.frames.len() > depth + 1 {
                self.close_above(depth, position, offset);
            }
            // Skipped children need a look only when a mandatory one is among them (the one at
            // hand, `pos`, counts as skipped only if never seen).
            let (pos, seen) = (self.frames[depth].pos, self.frames[depth].seen);
            if i > pos + 1 {
                let mut m = lp.next_mandatory(pos);
                if m == pos && seen != 0 {
                    m = lp.next_mandatory(pos + 1);
                }
                if m < i {
                    self.skip_to(depth, i, position, offset);
                }
            }
            let node = self.set.loops[lp_idx].children[i].clone();
            let f = &mut self.frames[depth];
            if i == f.pos {
                f.seen += 1;
            } else {
                f.pos = i;
                f.seen = 1;
            }
            let n = f.seen;
            match node {
                Node::Segment { segment, max, .. } => {
                    let def = &self.dict.segments[segment];
                    if max.exceeded_by(n) {
                        self.push(SegmentIssue {
                            segment_id: def.id.clone(),
                            position,
                            offset,
                            code: SegmentCode::OverMaxUse,
                            elements: Vec::new(),
                            message: format!(
                                "{} occurs {n} times here, more than its maximum use of {max}",
                                def.id
                            ),
                        });
                    }
                    self.check_segment(def, raw, d, position, offset, els());
                }
                Node::Loop(l) => {
                    let child = &self.set.loops[l];
                    if child.max.exceeded_by(n) {
                        self.push(SegmentIssue {
                            segment_id: String::from_utf8_lossy(id).into_owned(),
                            position,
                            offset,
                            code: SegmentCode::LoopOverMax,
                            elements: Vec::new(),
                            message: format!(
                                "loop {} occurs {n} times, more than its maximum of {}",
                                child.path, child.max
                            ),
                        });
                    }
                    let trigger = match child.children.first() {
                        Some(Node::Segment { segment, .. }) => Some(*segment),
                        _ => None,
                    };
                    self.frames.push(Frame::open(l, child.children.len()));
                    if let Some(s) = trigger {
                        let def = &self.dict.segments[s];
                        self.check_segment(def, raw, d, position, offset, els());
                    }
                }
            }
            if key == self.hl_key && self.hl.is_some() {
                self.check_hl(raw, d, position, offset);
            }
            return;
        }
        self.misplaced(id, key, position, offset);
    }

    fn misplaced(&mut self, id: &[u8], key: u32, position: u32, offset: u64) {
        let name = String::from_utf8_lossy(id).into_owned();
        let earlier = self.frames.iter().any(|f| {
            let lp = &self.set.loops[f.lp];
            lp.children[..f.pos].iter().any(|c| match c {
                Node::Segment { key: k, .. } => *k == key,
                Node::Loop(l) => self.set.loops[*l].trigger == key,
            })
        });
        let (code, message) = if earlier {
            (
                SegmentCode::OutOfSequence,
                format!("{name} is out of sequence: it belongs before the segments already seen"),
            )
        } else if self.set.members.contains(&key) {
            (
                SegmentCode::Unexpected,
                format!(
                    "{name} is not expected at this point of the {}",
                    self.set.id
                ),
            )
        } else if self.dict.segment(id).is_some() {
            (
                SegmentCode::NotInSet,
                format!(
                    "{name} is not a segment of the {} transaction set",
                    self.set.id
                ),
            )
        } else {
            (
                SegmentCode::Unrecognized,
                format!("{name} is not a recognised segment id"),
            )
        };
        self.push(SegmentIssue {
            segment_id: name,
            position,
            offset,
            code,
            elements: Vec::new(),
            message,
        });
    }

    /// Call after SE was fed: reports mandatory segments and loops never seen.
    pub fn finish(&mut self, position: u32, offset: u64) {
        self.close_above(0, position, offset);
        let n = self.set.loops[0].children.len();
        self.skip_to(0, n, position, offset);
    }

    /// The set ended without its SE: closes every loop as `finish` does, minus the finding for
    /// the missing SE itself (AK502 2 already says so; an AK3 for it would repeat that).
    pub fn finish_without_trailer(&mut self, position: u32, offset: u64) {
        self.finish(position, offset);
        self.issues
            .retain(|i| !(i.segment_id == "SE" && i.code == SegmentCode::MandatoryMissing));
    }

    /// Set status as far as the segments go: no findings, tolerated findings, or rejecting ones.
    pub fn rejects(&self) -> bool {
        self.issues.iter().any(|i| {
            let tolerated = self.lenient.unknown_segments
                && matches!(
                    i.code,
                    SegmentCode::Unrecognized | SegmentCode::NotInSet | SegmentCode::Unexpected
                );
            !tolerated
        })
    }

    fn check_hl(&mut self, raw: &[u8], d: &Delimiters, position: u32, offset: u64) {
        let mut els = lexer::elements(raw, d);
        let id = els.next().unwrap_or_default().to_vec();
        let parent = els.next().unwrap_or_default().to_vec();
        let level = els.next().unwrap_or_default();
        let mut problems = Vec::new();
        if let (Some(h), Some(state)) = (self.set.hierarchy.as_ref(), self.hl.as_mut()) {
            if !level.is_empty() && !h.levels.contains_key(&*String::from_utf8_lossy(level)) {
                self.warnings.push(format!(
                    "HL at segment {position}: level code {} is not one of this grammar's levels",
                    String::from_utf8_lossy(level)
                ));
            }
            if !id.is_empty() && state.seen.contains_key(&id) {
                problems.push((
                    1,
                    ElementCode::InvalidCode,
                    id.clone(),
                    "HL01 repeats an earlier hierarchical id",
                ));
            }
            if !parent.is_empty() && !state.seen.contains_key(&parent) {
                problems.push((
                    2,
                    ElementCode::InvalidCode,
                    parent.clone(),
                    "HL02 names no earlier HL01 as parent",
                ));
            }
            if !id.is_empty() {
                state.seen.insert(id, level.to_vec());
            }
        }
        if !problems.is_empty() {
            let elements = problems
                .into_iter()
                .map(|(p, code, v, m)| ElementIssue {
                    position: p,
                    component: None,
                    repeat: None,
                    element_ref: Some(if p == 1 { "628" } else { "734" }.into()),
                    code,
                    value: Some(String::from_utf8_lossy(&v).into_owned()),
                    message: m.into(),
                })
                .collect();
            self.push(SegmentIssue {
                segment_id: "HL".into(),
                position,
                offset,
                code: SegmentCode::HasElementErrors,
                elements,
                message: "hierarchical level errors".into(),
            });
        }
    }

    /// Checks the elements of a placed segment (given by `els`); records one issue when any
    /// element is wrong.
    #[inline(always)]
    fn check_segment<'r>(
        &mut self,
        def: &SegmentDef,
        raw: &[u8],
        d: &Delimiters,
        position: u32,
        offset: u64,
        els: impl Iterator<Item = &'r [u8]> + Clone,
    ) {
        let probe = self.memo.probe(def, raw, d, self.lenient);
        if probe.hit {
            return;
        }
        let mut warnings = Warnings {
            list: &mut self.warnings,
            seen: &mut self.warned,
            flagged: false,
        };
        let issue = check_elements(
            self.dict,
            def,
            raw,
            d,
            self.lenient,
            position,
            offset,
            &mut warnings,
            els,
        );
        let flagged = warnings.flagged;
        match issue {
            Some(issue) => self.push(issue),
            None if !flagged => self.memo.remember(probe, raw),
            None => {}
        }
    }

    /// What the next walker on this thread may take over (`with_spare`): the clean segments
    /// found so far and the buffers, so a worker's memo lives across the sets it walks and
    /// its buffers are not allocated and grown again for every set.
    pub fn take_spare(&mut self) -> Spare {
        Spare {
            memo: std::mem::take(&mut self.memo),
            frames: std::mem::take(&mut self.frames),
            warned: std::mem::take(&mut self.warned),
        }
    }
}

/// What a walker hands to the next one on its thread (see `SetWalker::take_spare`).
#[derive(Default)]
pub struct Spare {
    memo: CleanMemo,
    frames: Vec<Frame>,
    warned: SeenSet,
}

/// Checks the elements of one segment against its definition: one issue (AK304 8 with its
/// element findings) when any element is wrong. Warnings (partial code lists) go to `warnings`.
/// `els` gives the elements of `raw` (`lexer::elements`, or a split the caller already made).
#[allow(clippy::too_many_arguments)]
pub fn check_elements<'r>(
    dict: &Dictionary,
    def: &SegmentDef,
    raw: &[u8],
    d: &Delimiters,
    lenient: Leniency,
    position: u32,
    offset: u64,
    warnings: &mut Warnings<'_>,
    els: impl Iterator<Item = &'r [u8]> + Clone,
) -> Option<SegmentIssue> {
    // Separators inside elements are rare: one scan of the whole segment spares a scan of
    // every element.
    let scan = scan_segment(raw, d);
    if scan.plain
        && !scan.component
        && !scan.repetition
        && clean_in_one_pass(dict, def, els.clone())
    {
        return None;
    }
    let mut out = Vec::new();
    let checker = ElementChecker {
        dict,
        d,
        lenient,
        version_5010: dict.since_5010,
        component_in_segment: scan.component,
        repetition_in_segment: scan.repetition,
        plain_segment: scan.plain,
    };
    let mut present: u64 = 0;
    let mut n = 0usize;
    // The plan's tests decide a value alone in a segment of plain text without repetition
    // separators (nearly all); a value they do not pass takes the general path below, which
    // finds and words what is wrong exactly as before.
    let fast = checker.plain_segment && !checker.repetition_in_segment;
    let component_inside = checker.component_in_segment;
    for value in els {
        let i = n;
        n += 1;
        let Some(check) = def.plan.get(i) else {
            if !value.is_empty() {
                out.push(ElementIssue {
                    position: i + 1,
                    component: None,
                    repeat: None,
                    element_ref: None,
                    code: ElementCode::TooMany,
                    value: None,
                    message: format!(
                        "{} has {} elements defined; element {} is one too many",
                        def.id,
                        def.positions.len(),
                        i + 1
                    ),
                });
                break;
            }
            continue;
        };
        if value.is_empty() {
            if check.mandatory {
                if let Some(pos) = def.positions.get(i) {
                    out.push(missing_element(dict, def, i + 1, pos));
                }
            }
            continue;
        }
        if i < 64 {
            present |= 1 << i;
        }
        if fast
            && value_fine(checker.dict, check, value)
            && !(component_inside && value.contains(&d.component))
        {
            continue;
        }
        let Some(pos) = def.positions.get(i) else {
            continue;
        };
        // Most values are a simple element with no separator inside, and fine.
        if let Position::Simple(u) = pos {
            let separator_inside = checker.repetition_in_segment
                || (checker.component_in_segment && value.contains(&d.component));
            if !separator_inside {
                let finding = checker.classify(u, value);
                if checker.quiet(finding, value, At::element(def, i + 1), warnings) {
                    continue;
                }
                if let Some(e) =
                    checker.report(u, value, finding, warnings, At::element(def, i + 1))
                {
                    out.push(ElementIssue {
                        position: i + 1,
                        ..e
                    });
                }
                continue;
            }
        }
        if fast && checker.composite_quiet(def, i + 1, pos, value, warnings) {
            continue;
        }
        checker.position(def, i + 1, pos, value, &mut out, warnings);
    }
    // Positions past the last element given, up to the last mandatory one (a slice, not an
    // iterator skip: `skip` stepped through the positions already seen one by one).
    let tail = def.positions.get(n..def.mandatory_end).unwrap_or_default();
    for (i, pos) in (n..).zip(tail) {
        if pos.req() == Req::Mandatory {
            out.push(missing_element(dict, def, i + 1, pos));
        }
    }
    if def.breaks_a_note(present) {
        for note in &def.syntax {
            check_note(
                note,
                present,
                |p| element_ref(dict, def.positions.get(p - 1)),
                None,
                &mut out,
            );
        }
    }
    if out.is_empty() {
        return None;
    }
    out.sort_by_key(|e| (e.position, e.component));
    let message = format!("{} has element errors", def.id);
    Some(SegmentIssue {
        segment_id: def.id.clone(),
        position,
        offset,
        code: SegmentCode::HasElementErrors,
        elements: out,
        message,
    })
}

/// The common segment decided in one tight pass, for a plain-text segment without separators
/// inside its elements: every value passes its plan check, no mandatory element is missing
/// and no syntax note is broken. True means the full loop of `check_elements` would find
/// nothing and flag nothing; false means only that it has to look (and it starts afresh).
#[inline(always)]
fn clean_in_one_pass<'r>(
    dict: &Dictionary,
    def: &SegmentDef,
    els: impl Iterator<Item = &'r [u8]>,
) -> bool {
    let plan = &def.plan;
    let mut present: u64 = 0;
    let mut n = 0usize;
    for value in els {
        let i = n;
        n += 1;
        match plan.get(i) {
            Some(check) => {
                if value.is_empty() {
                    if check.mandatory {
                        return false;
                    }
                    continue;
                }
                if !value_fine(dict, check, value) {
                    return false;
                }
                if i < 64 {
                    present |= 1 << i;
                }
            }
            None if value.is_empty() => {}
            None => return false,
        }
    }
    let tail = plan.get(n..def.mandatory_end).unwrap_or_default();
    !tail.iter().any(|c| c.mandatory) && !def.breaks_a_note(present)
}

/// True when non-empty value `v` of a position passes every element rule of its `check`
/// (`classify` would say `Fine`), in a plain-text segment. False also when the position
/// needs the general path (a composite).
#[inline(always)]
fn value_fine(dict: &Dictionary, check: &Check, v: &[u8]) -> bool {
    match check.kind {
        CheckKind::Text | CheckKind::Binary => check.length_ok(v.len()),
        CheckKind::Code => {
            check.length_ok(v.len())
                && dict
                    .elements
                    .get(check.element as usize)
                    .and_then(|e| e.codes.as_ref())
                    .is_some_and(|c| c.contains(v))
        }
        CheckKind::Date => check.length_ok(v.len()) && date_ok(v),
        CheckKind::Time => check.length_ok(v.len()) && time_ok(v),
        CheckKind::Numeric => numeric_digits(v, false).is_some_and(|d| check.length_ok(d)),
        CheckKind::Real => numeric_digits(v, true).is_some_and(|d| check.length_ok(d)),
        CheckKind::Composite => false,
    }
}

/// Segments whose element checks found nothing: no issue, no warning and no value missing any
/// rule (see `Warnings::flagged`). Those checks depend only on the segment definition, the
/// bytes, the delimiters and the leniency, so the same bytes under the same definition are
/// clean again and need no second look: orders repeat their addresses, dates, qualifiers and
/// item descriptions. Direct-mapped and bounded (`MEMO_SLOTS` segments of at most
/// `MEMO_MAX_LEN` bytes); a hit compares every byte, so a hash collision costs a check, never
/// a wrong answer. Definitions are told apart by address: a memo lives no longer than the
/// grammars it was filled from (one walker, or one worker of one `check` run).
#[derive(Default)]
pub struct CleanMemo {
    slots: Vec<MemoSlot>,
    /// log2 of the slot count (0 before the first segment is remembered).
    bits: u32,
    /// Segments remembered since the table last grew.
    stored: usize,
    /// The last delimiters and leniency seen, with their `pack_env`.
    env_of: Option<(Delimiters, Leniency, u64)>,
    /// How the memo fares per segment definition (`admit`), by address.
    uses: Vec<MemoUse>,
}

/// Probes and hits of one segment definition in the memo. A definition whose segments are
/// all different (an order line with its own line number and item) never hits, and its
/// probes and copies only cost, and push out segments that would hit.
#[derive(Default, Clone, Copy)]
struct MemoUse {
    def: usize,
    tries: u32,
    hits: u32,
    /// Probes skipped since the last trial.
    skipped: u32,
}

/// Definitions tracked at once (direct-mapped by address; a collision restarts the count).
const MEMO_USES: usize = 64;
/// Probes before a definition's hit rate is trusted; below one hit in eight it is skipped.
const MEMO_TRIAL: u32 = 256;
/// A skipped definition gets `MEMO_RETRIES` trial probes after this many skips (the input
/// may turn repetitive).
const MEMO_SKIPS: u32 = 2048;
const MEMO_RETRIES: u32 = 32;

/// One remembered segment, its bytes inline (no pointer to chase on a probe).
struct MemoSlot {
    hash: u64,
    def: usize,
    env: u64,
    len: usize,
    bytes: [u8; MEMO_MAX_LEN],
}

impl Default for MemoSlot {
    fn default() -> Self {
        MemoSlot {
            hash: 0,
            def: 0,
            env: 0,
            len: usize::MAX,
            bytes: [0; MEMO_MAX_LEN],
        }
    }
}

/// Where a segment is (or would go) in the memo.
#[derive(Clone, Copy)]
struct MemoProbe {
    /// The memo is used for this definition at all (see `CleanMemo::admit`).
    admitted: bool,
    hit: bool,
    slot: usize,
    hash: u64,
    def: usize,
    env: u64,
}

/// The table starts small (a walker of one small set pays little for it) and grows by four
/// each time it took that many segments, up to `MEMO_SLOTS` (160 KiB).
const MEMO_FIRST_BITS: u32 = 6;
const MEMO_SLOTS: usize = 1024;
const MEMO_MAX_LEN: usize = 128;

impl CleanMemo {
    /// Delimiters and leniency as one word, worked out once per walker (they do not change
    /// within a set).
    #[inline(always)]
    fn env(&mut self, d: &Delimiters, lenient: Leniency) -> u64 {
        match self.env_of {
            Some((ed, el, env)) if ed == *d && el == lenient => env,
            _ => {
                let env = Self::pack_env(d, lenient);
                self.env_of = Some((*d, lenient, env));
                env
            }
        }
    }

    fn pack_env(d: &Delimiters, lenient: Leniency) -> u64 {
        u64::from(d.element)
            | u64::from(d.component) << 8
            | u64::from(d.segment) << 16
            | d.repetition.map_or(0, |r| 0x100 | u64::from(r)) << 24
            | u64::from(lenient.unknown_segments) << 40
            | u64::from(lenient.missing_final_terminator) << 41
            | u64::from(lenient.unpadded_isa) << 42
            | u64::from(lenient.non_ascii_text) << 43
    }

    #[inline(always)]
    fn probe(
        &mut self,
        def: &SegmentDef,
        raw: &[u8],
        d: &Delimiters,
        lenient: Leniency,
    ) -> MemoProbe {
        let def = def as *const SegmentDef as usize;
        let Some(used) = self.admit(def) else {
            return MemoProbe {
                admitted: false,
                hit: false,
                slot: 0,
                hash: 0,
                def,
                env: 0,
            };
        };
        let env = self.env(d, lenient);
        let hash = memo_hash(raw, (def as u64) ^ env);
        let slot = if self.bits == 0 {
            0
        } else {
            (hash >> (64 - self.bits)) as usize
        };
        let hit = self.slots.get(slot).is_some_and(|s| {
            s.hash == hash
                && s.len == raw.len()
                && s.def == def
                && s.env == env
                && s.bytes.get(..raw.len()) == Some(raw)
        });
        if hit {
            if let Some(u) = self.uses.get_mut(used) {
                u.hits += 1;
            }
        }
        MemoProbe {
            admitted: true,
            hit,
            slot,
            hash,
            def,
            env,
        }
    }

    /// Whether to probe for a segment of definition `def` (counted as a try), and its entry
    /// in `uses`; `None` while the definition rarely hits.
    #[inline(always)]
    fn admit(&mut self, def: usize) -> Option<usize> {
        if self.uses.is_empty() {
            self.uses.resize(MEMO_USES, MemoUse::default());
        }
        let i = ((def >> 4) ^ (def >> 11)) & (MEMO_USES - 1);
        let u = self.uses.get_mut(i)?;
        if u.def != def {
            *u = MemoUse {
                def,
                ..MemoUse::default()
            };
        }
        if u.tries >= MEMO_TRIAL && u.hits < u.tries / 8 {
            u.skipped += 1;
            if u.skipped < MEMO_SKIPS {
                return None;
            }
            // A few trials, judged with the old hit rate scaled down to their count.
            u.skipped = 0;
            let keep = MEMO_TRIAL - MEMO_RETRIES;
            u.hits = (u64::from(u.hits) * u64::from(keep) / u64::from(u.tries)) as u32;
            u.tries = keep;
        }
        if u.tries >= 1 << 24 {
            u.tries /= 2;
            u.hits /= 2;
        }
        u.tries += 1;
        Some(i)
    }

    #[inline(always)]
    fn remember(&mut self, probe: MemoProbe, raw: &[u8]) {
        if !probe.admitted || raw.len() > MEMO_MAX_LEN {
            return;
        }
        let mut slot = probe.slot;
        if self.slots.is_empty()
            || (self.stored >= 4 * self.slots.len() && self.slots.len() < MEMO_SLOTS)
        {
            // Grown afresh: what the smaller table held is forgotten, not moved.
            self.bits = if self.slots.is_empty() {
                MEMO_FIRST_BITS
            } else {
                self.bits + 2
            };
            self.slots.clear();
            self.slots.resize_with(1 << self.bits, MemoSlot::default);
            self.stored = 0;
            slot = (probe.hash >> (64 - self.bits)) as usize;
        }
        self.stored += 1;
        if let Some(s) = self.slots.get_mut(slot) {
            if let Some(b) = s.bytes.get_mut(..raw.len()) {
                b.copy_from_slice(raw);
                s.hash = probe.hash;
                s.def = probe.def;
                s.env = probe.env;
                s.len = raw.len();
            }
        }
    }
}

/// A quick hash of a segment from its length and three of its words (first, middle, last):
/// it only spreads segments over the slots; exactness comes from the byte compare on a hit.
#[inline]
fn memo_hash(raw: &[u8], seed: u64) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let word = |at: usize| {
        raw.get(at..)
            .and_then(|r| r.first_chunk::<8>())
            .map_or(0, |w| u64::from_le_bytes(*w))
    };
    let n = raw.len();
    let (first, mid, last) = if n >= 8 {
        (word(0), word(n / 2 - 4), word(n - 8))
    } else {
        let mut a = [0u8; 8];
        for (x, &b) in a.iter_mut().zip(raw) {
            *x = b;
        }
        (u64::from_le_bytes(a), 0, 0)
    };
    let h = (seed ^ n as u64 ^ first).wrapping_mul(K);
    let h = (h.rotate_left(23) ^ mid).wrapping_mul(K);
    (h.rotate_left(23) ^ last).wrapping_mul(K)
}

fn loop_first_id(lp: &LoopDef) -> String {
    lp.id.split('-').next().unwrap_or_default().to_string()
}

fn element_ref(dict: &Dictionary, pos: Option<&Position>) -> Option<String> {
    match pos? {
        Position::Simple(u) => Some(dict.elements[u.element].id.clone()),
        Position::Composite { composite, .. } => Some(dict.composites[*composite].id.clone()),
    }
}

fn missing_element(dict: &Dictionary, def: &SegmentDef, p: usize, pos: &Position) -> ElementIssue {
    let name = match pos {
        Position::Simple(u) => dict.elements[u.element].name.clone(),
        Position::Composite { composite, .. } => dict.composites[*composite].name.clone(),
    };
    ElementIssue {
        position: p,
        component: None,
        repeat: None,
        element_ref: element_ref(dict, Some(pos)),
        code: ElementCode::MandatoryMissing,
        value: None,
        message: format!("{}{p:02} ({name}) is mandatory and missing", def.id),
    }
}

fn check_note(
    note: &SyntaxNote,
    present: u64,
    reference: impl Fn(usize) -> Option<String>,
    component_of: Option<usize>,
    out: &mut Vec<ElementIssue>,
) {
    if !note.broken(present) {
        return;
    }
    let has = |p: usize| (1..=64).contains(&p) && present & (1 << (p - 1)) != 0;
    let ps = &note.positions;
    let count = ps.iter().filter(|&&p| has(p)).count();
    let first = ps[0];
    // (position to blame, code)
    let blame: Option<(usize, ElementCode)> = match note.kind {
        NoteKind::Paired if count > 0 && count < ps.len() => ps
            .iter()
            .find(|&&p| !has(p))
            .map(|&p| (p, ElementCode::ConditionalMissing)),
        NoteKind::Required if count == 0 => Some((first, ElementCode::ConditionalMissing)),
        NoteKind::Exclusion if count > 1 => ps
            .iter()
            .filter(|&&p| has(p))
            .nth(1)
            .map(|&p| (p, ElementCode::ExclusionViolated)),
        NoteKind::Conditional if has(first) => ps[1..]
            .iter()
            .find(|&&p| !has(p))
            .map(|&p| (p, ElementCode::ConditionalMissing)),
        NoteKind::ListConditional if has(first) && !ps[1..].iter().any(|&p| has(p)) => {
            Some((ps[1], ElementCode::ConditionalMissing))
        }
        _ => None,
    };
    if let Some((p, code)) = blame {
        let (position, component) = match component_of {
            Some(e) => (e, Some(p)),
            None => (p, None),
        };
        out.push(ElementIssue {
            position,
            component,
            repeat: None,
            element_ref: reference(p),
            code,
            value: None,
            message: format!("syntax note {} is not met", note.text),
        });
    }
}

/// Where a value sits, as messages name it: `PO103`, or `REF04-1` for a component.
#[derive(Clone, Copy)]
struct At<'a> {
    seg: &'a str,
    /// `seg` as `grammar::seg_key` packs it (the segment definition's `key`).
    seg_key: u32,
    p: usize,
    component: Option<usize>,
}

impl<'a> At<'a> {
    fn element(def: &'a SegmentDef, p: usize) -> Self {
        At {
            seg: &def.id,
            seg_key: def.key,
            p,
            component: None,
        }
    }

    /// The key a partial-list warning is remembered by within a set.
    fn key(self, v: &[u8]) -> u64 {
        warn_key(self.seg_key, self.p * 64 + self.component.unwrap_or(0), v)
    }
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{:02}", self.seg, self.p)?;
        match self.component {
            Some(c) => write!(f, "-{c}"),
            None => Ok(()),
        }
    }
}

struct ElementChecker<'a> {
    dict: &'a Dictionary,
    d: &'a Delimiters,
    lenient: Leniency,
    version_5010: bool,
    component_in_segment: bool,
    repetition_in_segment: bool,
    /// Every byte of the segment is printable ASCII, so every value of it is plain text.
    plain_segment: bool,
}

/// What the element rules say of one non-empty value. `classify` decides it without building
/// anything; only a value that is not `Fine` goes on to `report`, which words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finding {
    Fine,
    NotANumber,
    InvalidCharacter(u8),
    TooShort,
    TooLong,
    /// Missing from the element's code list; a warning only when the list is partial.
    NotInList {
        complete: bool,
    },
    BadDate,
    BadTime,
}

/// True when every byte is printable ASCII (0x20..=0x7E): the text no check needs to look at
/// again. Eight bytes per step: a byte is unusual if its top bit is set, if it is below 0x20,
/// or if it is 0x7F (the classic has-less / has-zero word tests, exact about whether any byte
/// matches).
#[inline]
fn plain_text(v: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = v.chunks_exact(8);
    let mut bad = 0u64;
    for w in &mut words {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        bad |= unplain_bytes(u64::from_le_bytes(a));
    }
    bad & HIGH == 0
        && words
            .remainder()
            .iter()
            .all(|&b| TEXT_CLASS[b as usize] == 0)
}

/// 0x80 in some byte of the word `x` when one of its bytes is not plain text: a control byte,
/// DEL or a byte above 0x7F (exact about whether any is, which is all the callers ask).
#[inline(always)]
fn unplain_bytes(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let below_space = x.wrapping_sub(ONES * 0x20) & !x;
    let del = x ^ (ONES * 0x7F);
    x | below_space | (del.wrapping_sub(ONES) & !del)
}

/// What one pass over a segment's bytes tells the element checks.
#[derive(Debug, PartialEq, Eq)]
struct SegmentScan {
    component: bool,
    repetition: bool,
    /// Every byte is printable ASCII (`plain_text` of the whole segment).
    plain: bool,
}

/// Looks at a segment's bytes once, eight at a time, for separators inside elements and for
/// bytes that are not plain text: the values of a plain segment need no text check each.
#[inline]
fn scan_segment(raw: &[u8], d: &Delimiters) -> SegmentScan {
    #[cfg(target_arch = "x86_64")]
    if let Some(scan) = scan_wide(raw, d) {
        return scan;
    }
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let c = ONES.wrapping_mul(u64::from(d.component));
    let r = ONES.wrapping_mul(u64::from(d.repetition.unwrap_or(0)));
    // Per word: 0x80 in some byte when one is unusual text (see `plain_text`), equals the
    // component separator, or equals the repetition separator (exact about whether any does).
    let zero = |x: u64| x.wrapping_sub(ONES) & !x;
    let (mut bad, mut comp, mut rep) = (0u64, 0u64, 0u64);
    let mut word = |w: &[u8; 8]| {
        let x = u64::from_le_bytes(*w);
        bad |= unplain_bytes(x);
        comp |= zero(x ^ c);
        rep |= zero(x ^ r);
    };
    let mut words = raw.chunks_exact(8);
    for w in &mut words {
        if let Some(w) = w.first_chunk::<8>() {
            word(w);
        }
    }
    if !words.remainder().is_empty() {
        match raw.last_chunk::<8>() {
            // The last eight bytes again, overlapping words already seen: all the tests ask is
            // whether any byte matches.
            Some(last) => word(last),
            None => {
                for &b in raw {
                    bad |= u64::from(TEXT_CLASS[b as usize] != 0) << 7;
                    comp |= u64::from(b == d.component) << 7;
                    rep |= u64::from(b == d.repetition.unwrap_or(0)) << 7;
                }
            }
        }
    }
    SegmentScan {
        component: comp & HIGH != 0,
        repetition: d.repetition.is_some() && rep & HIGH != 0,
        plain: bad & HIGH == 0,
    }
}

/// `scan_segment` sixteen bytes a step, for a segment of at least sixteen bytes (else `None`).
#[cfg(target_arch = "x86_64")]
#[inline]
fn scan_wide(raw: &[u8], d: &Delimiters) -> Option<SegmentScan> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm_setzero_si128,
    };
    // SAFETY: SSE2 is part of x86_64, and each unaligned load reads exactly the 16 bytes of
    // the array it is given.
    unsafe {
        let c = _mm_set1_epi8(d.component as i8);
        let r = _mm_set1_epi8(d.repetition.unwrap_or(0) as i8);
        let space = _mm_set1_epi8(0x20);
        let del = _mm_set1_epi8(0x7F);
        let (mut bad, mut comp, mut rep) = (
            _mm_setzero_si128(),
            _mm_setzero_si128(),
            _mm_setzero_si128(),
        );
        // Signed, a byte above 0x7F is below the space too: one compare finds control bytes
        // and non-ASCII ones.
        let long = crate::bytes::each_block16(raw, |w| {
            let v: __m128i = _mm_loadu_si128(w.as_ptr().cast());
            bad = _mm_or_si128(
                bad,
                _mm_or_si128(_mm_cmplt_epi8(v, space), _mm_cmpeq_epi8(v, del)),
            );
            comp = _mm_or_si128(comp, _mm_cmpeq_epi8(v, c));
            rep = _mm_or_si128(rep, _mm_cmpeq_epi8(v, r));
        });
        if !long {
            return None;
        }
        Some(SegmentScan {
            component: _mm_movemask_epi8(comp) != 0,
            repetition: d.repetition.is_some() && _mm_movemask_epi8(rep) != 0,
            plain: _mm_movemask_epi8(bad) == 0,
        })
    }
}

/// Per byte of a text value: 1 for a control byte or DEL (always invalid), 2 for a byte above
/// 0x7F (invalid unless the partner is lenient about non-ASCII text).
static TEXT_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = if b < 0x20 || b == 0x7F {
            1
        } else if b >= 0x80 {
            2
        } else {
            0
        };
        b += 1;
    }
    t
};

impl ElementChecker<'_> {
    #[inline(never)]
    fn position(
        &self,
        def: &SegmentDef,
        p: usize,
        pos: &Position,
        value: &[u8],
        out: &mut Vec<ElementIssue>,
        warnings: &mut Warnings<'_>,
    ) {
        // Repetitions are rare: split only when the separator is there, without allocating.
        let (reps, multi) = match self.d.repetition {
            Some(r) if self.repetition_in_segment && value.contains(&r) => {
                (lexer::split(value, r).count(), true)
            }
            _ => (1, false),
        };
        if reps as u32 > pos.repeat() {
            out.push(ElementIssue {
                position: p,
                component: None,
                repeat: Some(pos.repeat() as usize + 1),
                element_ref: element_ref(self.dict, Some(pos)),
                code: ElementCode::TooManyRepetitions,
                value: None,
                message: format!(
                    "{}{p:02} repeats {reps} times, more than {}",
                    def.id,
                    pos.repeat()
                ),
            });
            return;
        }
        match self.d.repetition {
            Some(r) if multi => {
                for (i, v) in lexer::split(value, r).enumerate() {
                    self.one(def, p, pos, v, Some(i + 1), out, warnings);
                }
            }
            _ => self.one(def, p, pos, value, None, out, warnings),
        }
    }

    /// Checks one repetition of an element (the whole element when it does not repeat).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn one(
        &self,
        def: &SegmentDef,
        p: usize,
        pos: &Position,
        v: &[u8],
        repeat: Option<usize>,
        out: &mut Vec<ElementIssue>,
        warnings: &mut Warnings<'_>,
    ) {
        match pos {
            Position::Simple(u) => {
                if self.component_in_segment && v.contains(&self.d.component) {
                    let code = if self.version_5010 {
                        ElementCode::TooManyComponents
                    } else {
                        ElementCode::InvalidCharacter
                    };
                    out.push(ElementIssue {
                        position: p,
                        component: None,
                        repeat,
                        element_ref: Some(self.dict.elements[u.element].id.clone()),
                        code,
                        value: None,
                        message: format!(
                            "{}{p:02} is a simple element but holds the component separator",
                            def.id
                        ),
                    });
                    return;
                }
                let finding = self.classify(u, v);
                if finding == Finding::Fine {
                    return;
                }
                if let Some(e) = self.report(u, v, finding, warnings, At::element(def, p)) {
                    out.push(ElementIssue {
                        position: p,
                        component: None,
                        repeat,
                        ..e
                    });
                }
            }
            Position::Composite { composite, .. } => self.composite(
                def,
                p,
                &self.dict.composites[*composite],
                v,
                repeat,
                out,
                warnings,
            ),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn composite(
        &self,
        def: &SegmentDef,
        p: usize,
        c: &CompositeDef,
        v: &[u8],
        repeat: Option<usize>,
        out: &mut Vec<ElementIssue>,
        warnings: &mut Warnings<'_>,
    ) {
        let seg = &def.id;
        let mut present: u64 = 0;
        let mut n = 0;
        for (k, comp) in lexer::split(v, self.d.component).enumerate() {
            n = k + 1;
            let Some(u) = c.components.get(k) else {
                let code = if self.version_5010 {
                    ElementCode::TooManyComponents
                } else {
                    ElementCode::TooMany
                };
                out.push(ElementIssue {
                    position: p,
                    component: Some(k + 1),
                    repeat,
                    element_ref: Some(c.id.clone()),
                    code,
                    value: None,
                    message: format!(
                        "{seg}{p:02} composite {} has {} components; component {} is too many",
                        c.id,
                        c.components.len(),
                        k + 1
                    ),
                });
                break;
            };
            if comp.is_empty() {
                if u.req == Req::Mandatory {
                    out.push(ElementIssue {
                        position: p,
                        component: Some(k + 1),
                        repeat,
                        element_ref: Some(self.dict.elements[u.element].id.clone()),
                        code: ElementCode::MandatoryMissing,
                        value: None,
                        message: format!("{seg}{p:02}-{} is mandatory and missing", k + 1),
                    });
                }
                continue;
            }
            if k < 64 {
                present |= 1 << k;
            }
            if self.plain_segment
                && c.plan
                    .get(k)
                    .is_some_and(|check| value_fine(self.dict, check, comp))
            {
                continue;
            }
            let at = At {
                component: Some(k + 1),
                ..At::element(def, p)
            };
            let finding = self.classify(u, comp);
            if self.quiet(finding, comp, at, warnings) {
                continue;
            }
            if let Some(e) = self.report(u, comp, finding, warnings, at) {
                out.push(ElementIssue {
                    position: p,
                    component: Some(k + 1),
                    repeat,
                    ..e
                });
            }
        }
        // Past the last component given, up to the last mandatory one.
        let tail = c.components.get(n..c.mandatory_end).unwrap_or_default();
        for (k, u) in (n..).zip(tail) {
            if u.req == Req::Mandatory {
                out.push(ElementIssue {
                    position: p,
                    component: Some(k + 1),
                    repeat,
                    element_ref: Some(self.dict.elements[u.element].id.clone()),
                    code: ElementCode::MandatoryMissing,
                    value: None,
                    message: format!("{seg}{p:02}-{} is mandatory and missing", k + 1),
                });
            }
        }
        for note in &c.syntax {
            check_note(
                note,
                present,
                |k| {
                    c.components
                        .get(k - 1)
                        .map(|u| self.dict.elements[u.element].id.clone())
                },
                Some(p),
                out,
            );
        }
    }

    /// True when composite value `v` at position `p` (of a plain segment without repetition
    /// separators) needs no report: each component passes its plan check, or misses a partial
    /// code list with a value already warned about in this set (`REF04`'s `LI>4` on every
    /// line), no mandatory component is missing and no note is broken. Anything else is
    /// false, and `position` looks again from the start and words what it finds.
    #[inline]
    fn composite_quiet(
        &self,
        def: &SegmentDef,
        p: usize,
        pos: &Position,
        v: &[u8],
        warnings: &mut Warnings<'_>,
    ) -> bool {
        let Position::Composite {
            composite, repeat, ..
        } = *pos
        else {
            return false;
        };
        let Some(c) = self.dict.composites.get(composite) else {
            return false;
        };
        if repeat == 0 {
            return false;
        }
        let mut present: u64 = 0;
        let mut n = 0;
        for (k, comp) in v.split(|&b| b == self.d.component).enumerate() {
            n = k + 1;
            let Some(check) = c.plan.get(k) else {
                return false;
            };
            if comp.is_empty() {
                if check.mandatory {
                    return false;
                }
                continue;
            }
            if k < 64 {
                present |= 1 << k;
            }
            if value_fine(self.dict, check, comp) {
                continue;
            }
            // The rare value the plan check refuses is classified as `composite` does; only a
            // partial list's miss, warned about already, is quiet.
            let Some(u) = c.components.get(k) else {
                return false;
            };
            let at = At {
                component: Some(k + 1),
                ..At::element(def, p)
            };
            if !self.quiet(self.classify(u, comp), comp, at, warnings) {
                return false;
            }
        }
        let tail = c.plan.get(n..c.mandatory_end).unwrap_or_default();
        for u in tail {
            if u.mandatory {
                return false;
            }
        }
        for note in &c.syntax {
            if note.broken(present) {
                return false;
            }
        }
        true
    }

    /// True when value `v` of `u` needs no report: it is fine, or it misses a partial list
    /// with a value already warned about in this set (a partner's unit code on every line
    /// needs no second look).
    #[inline(always)]
    fn quiet(&self, finding: Finding, v: &[u8], at: At<'_>, warnings: &mut Warnings<'_>) -> bool {
        match finding {
            Finding::Fine => true,
            Finding::NotInList { complete: false } => {
                warnings.flagged = true;
                warnings.seen.contains(&at.key(v))
            }
            _ => false,
        }
    }

    /// The element rules, in the order they are reported: characters (or number form),
    /// length, then code list, date or time. Printable ASCII text, the common case, is
    /// decided in one word-at-a-time pass; anything else is looked at byte by byte.
    #[inline(always)]
    fn classify(&self, u: &ElementUse, v: &[u8]) -> Finding {
        let len = match u.typ {
            ElemType::N(_) | ElemType::R => match numeric_digits(v, u.typ == ElemType::R) {
                Some(digits) => digits,
                None => return Finding::NotANumber,
            },
            ElemType::B => v.len(),
            _ if self.plain_segment || plain_text(v) => v.len(),
            _ => match self.unusual_text(v) {
                Ok(chars) => chars,
                Err(b) => return Finding::InvalidCharacter(b),
            },
        };
        if len < u.min as usize {
            return Finding::TooShort;
        }
        if len > u.max as usize {
            return Finding::TooLong;
        }
        match u.typ {
            ElemType::ID => match &self.dict.elements[u.element].codes {
                Some(c) if !c.contains(v) => Finding::NotInList {
                    complete: c.complete,
                },
                _ => Finding::Fine,
            },
            ElemType::DT if !date_ok(v) => Finding::BadDate,
            ElemType::TM if !time_ok(v) => Finding::BadTime,
            _ => Finding::Fine,
        }
    }

    /// Text with a control byte or a byte above 0x7F: the first invalid byte (control bytes
    /// always, high bytes only when strict), else its length in characters.
    #[cold]
    #[inline(never)]
    fn unusual_text(&self, v: &[u8]) -> Result<usize, u8> {
        let bad =
            |b: u8| TEXT_CLASS[b as usize] == 1 || (b >= 0x80 && !self.lenient.non_ascii_text);
        if let Some(&b) = v.iter().find(|&&b| bad(b)) {
            return Err(b);
        }
        Ok(String::from_utf8_lossy(v).chars().count())
    }

    /// Words a finding about one non-empty value (or warns, for a partial code list); returns
    /// an issue whose position fields the caller fills in.
    #[cold]
    #[inline(never)]
    fn report(
        &self,
        u: &ElementUse,
        v: &[u8],
        finding: Finding,
        warnings: &mut Warnings<'_>,
        at: At<'_>,
    ) -> Option<ElementIssue> {
        warnings.flagged = true;
        let el = &self.dict.elements[u.element];
        let shown = || String::from_utf8_lossy(v).into_owned();
        let (code, keep_value, message) = match finding {
            Finding::Fine => return None,
            Finding::NotANumber => (
                ElementCode::InvalidCharacter,
                false,
                format!("{at} `{}` is not a valid {} number", shown(), u.typ),
            ),
            Finding::InvalidCharacter(b) => (
                ElementCode::InvalidCharacter,
                false,
                format!("{at} holds an invalid character (byte 0x{b:02X})"),
            ),
            Finding::TooShort => (
                ElementCode::TooShort,
                true,
                format!(
                    "{at} `{}` is shorter than its minimum length {}",
                    shown(),
                    u.min
                ),
            ),
            Finding::TooLong => (
                ElementCode::TooLong,
                true,
                format!(
                    "{at} `{}` is longer than its maximum length {}",
                    shown(),
                    u.max
                ),
            ),
            Finding::NotInList { complete } => (
                ElementCode::InvalidCode,
                true,
                self.code(complete, v, at, el, warnings)?,
            ),
            Finding::BadDate => (
                ElementCode::InvalidDate,
                true,
                format!("{at} `{}` is not a valid date", shown()),
            ),
            Finding::BadTime => (
                ElementCode::InvalidTime,
                true,
                format!("{at} `{}` is not a valid time", shown()),
            ),
        };
        Some(ElementIssue {
            position: 0,
            component: None,
            repeat: None,
            element_ref: Some(el.id.clone()),
            code,
            value: keep_value.then(shown),
            message,
        })
    }

    /// The message for a value missing from a code list, or `None` when the list is partial
    /// (then it warns, once per element and value in a set).
    fn code(
        &self,
        complete: bool,
        v: &[u8],
        at: At<'_>,
        element: &ElementDef,
        warnings: &mut Warnings<'_>,
    ) -> Option<String> {
        // A partial list is missed by the same value again and again in a big set: say so once
        // per element and value, deciding that before any formatting (a hash, so a collision
        // can at worst drop a duplicate-looking warning).
        if !complete && !warnings.seen.insert(at.key(v)) {
            return None;
        }
        if !complete {
            // Our list for this element is partial: say so (once), but never reject on it.
            warnings.list.push(partial_warning(at, v, element));
            return None;
        }
        let msg = format!(
            "{at} `{}` is not in the code list of element {} ({})",
            String::from_utf8_lossy(v),
            element.id,
            element.name
        );
        Some(msg)
    }
}

/// A partial-list warning as worded before, with what it was worded from.
struct Worded {
    seg: String,
    p: usize,
    component: Option<usize>,
    value: Vec<u8>,
    element: String,
    name: String,
    text: String,
}

thread_local! {
    /// Partial-list warnings already worded on this thread, by `At::key`: a partner's code
    /// misses the same list in every set of a file, and wording it anew took two formats
    /// per set. Bounded; an entry is used only when everything it was worded from matches.
    static WORDED: std::cell::RefCell<HashMap<u64, Worded, BuildHasherDefault<KeyIsHash>>> =
        std::cell::RefCell::new(HashMap::default());
}

/// The warning for value `v` at `at` missing the partial code list of `element`.
fn partial_warning(at: At<'_>, v: &[u8], element: &ElementDef) -> String {
    let word = || {
        format!(
            "{at} `{}` is not in the code list of element {} ({}); our list for this element is partial, so this is only a warning",
            String::from_utf8_lossy(v),
            element.id,
            element.name
        )
    };
    let key = at.key(v);
    WORDED.with(|cache| {
        let Ok(mut cache) = cache.try_borrow_mut() else {
            return word();
        };
        if let Some(w) = cache.get(&key) {
            let same = w.seg == at.seg
                && w.p == at.p
                && w.component == at.component
                && w.value == v
                && w.element == element.id
                && w.name == element.name;
            return if same { w.text.clone() } else { word() };
        }
        let text = word();
        if cache.len() < 4096 {
            cache.insert(
                key,
                Worded {
                    seg: at.seg.to_string(),
                    p: at.p,
                    component: at.component,
                    value: v.to_vec(),
                    element: element.id.clone(),
                    name: element.name.clone(),
                    text: text.clone(),
                },
            );
        }
        text
    })
}

/// The number of digits of a valid N or R value (its length as X12 counts it: sign and
/// decimal point excluded), or `None` when it is not a number.
#[inline]
fn numeric_digits(v: &[u8], decimal: bool) -> Option<usize> {
    let body = v.strip_prefix(b"-").unwrap_or(v);
    let mut digits = 0;
    let mut points = 0;
    for &b in body {
        match b {
            b'0'..=b'9' => digits += 1,
            b'.' if decimal => points += 1,
            _ => return None,
        }
    }
    (digits > 0 && points <= 1).then_some(digits)
}

fn num(v: &[u8]) -> u32 {
    v.iter().fold(0u32, |a, b| a * 10 + (b - b'0') as u32)
}

/// CCYYMMDD or YYMMDD, a real calendar date.
pub fn date_ok(v: &[u8]) -> bool {
    if !v.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let (y, m, d) = match v.len() {
        8 => (num(&v[0..4]), num(&v[4..6]), num(&v[6..8])),
        6 => (2000 + num(&v[0..2]), num(&v[2..4]), num(&v[4..6])),
        _ => return false,
    };
    // Plain Gregorian arithmetic: this runs for every date element of every segment.
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// HHMM, HHMMSS or HHMMSSd..d.
pub fn time_ok(v: &[u8]) -> bool {
    if !v.iter().all(u8::is_ascii_digit) || v.len() < 4 || v.len() == 5 || v.len() > 8 {
        return false;
    }
    num(&v[0..2]) < 24 && num(&v[2..4]) < 60 && (v.len() < 6 || num(&v[4..6]) < 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_text_check_agrees_with_the_byte_table() {
        // Every byte value in every lane of a word and in the tail, around printable ones.
        for b in 0..=255u8 {
            for len in 1..20usize {
                for at in 0..len {
                    let mut v = vec![b'A'; len];
                    v[at] = b;
                    let expected = v.iter().all(|&c| TEXT_CLASS[c as usize] == 0);
                    assert_eq!(plain_text(&v), expected, "byte {b:#04x} at {at} of {len}");
                }
            }
        }
        assert!(plain_text(b""));
        assert!(plain_text(b" ~!09AZaz}"));
    }

    #[test]
    fn segment_scan_agrees_with_byte_tests() {
        let delims = [
            Delimiters::default(),
            Delimiters {
                repetition: None,
                ..Delimiters::default()
            },
        ];
        for d in &delims {
            for len in 0..70usize {
                for at in 0..len.max(1) {
                    for b in [b':', b'^', 0x00, 0x1F, 0x7F, 0x80, 0xFF, b' ', b'~', b'A'] {
                        let mut v: Vec<u8> = (0..len).map(|i| b'A' + (i % 26) as u8).collect();
                        if at < len {
                            v[at] = b;
                        }
                        let want = SegmentScan {
                            component: v.contains(&d.component),
                            repetition: d.repetition.is_some_and(|r| v.contains(&r)),
                            plain: plain_text(&v),
                        };
                        assert_eq!(scan_segment(&v, d), want, "{v:?} {d:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_spare_carried_across_sets_changes_no_finding() {
        let grammars = super::super::grammar::Grammars::embedded().expect("embedded grammars");
        let v = grammars.named("004010").expect("004010");
        let set = v.sets.get("850").expect("850");
        let d = Delimiters::default();
        // A clean line, a line whose unit misses a partial list (a warning in every set), and
        // one with an element error, each twice per set.
        let body: [&[u8]; 7] = [
            b"BEG*00*SA*PO1**20240102",
            b"PO1*1*2*EA*3.15*PE*VC*B1",
            b"PO1*1*2*EA*3.15*PE*VC*B1",
            b"PO1*2*2*CS*3.15*PE*VC*B1",
            b"PO1*2*2*CS*3.15*PE*VC*B1",
            b"PO1*3*2*EA*X.Y*PE*VC*B1",
            b"PO1*3*2*EA*X.Y*PE*VC*B1",
        ];
        let walk = |spare: Spare| {
            let mut w = SetWalker::with_spare(set, &v.dict, Leniency::default(), spare);
            w.check_header(b"ST*850*0001", &d, 0);
            for (i, raw) in body.iter().enumerate() {
                w.segment(raw, &d, i as u32 + 2, i as u64 * 40);
            }
            w.segment(b"SE*9*0001", &d, 9, 400);
            w.finish(9, 400);
            let spare = w.take_spare();
            ((w.issues, w.warnings), spare)
        };
        let (fresh, _) = walk(Spare::default());
        assert!(!fresh.1.is_empty(), "the partial list gives a warning");
        assert!(!fresh.0.is_empty(), "the bad line gives an issue");
        let (first, spare) = walk(Spare::default());
        let (second, spare) = walk(spare);
        let (third, _) = walk(spare);
        assert_eq!(first, fresh);
        assert_eq!(second, fresh);
        assert_eq!(third, fresh);
    }

    #[test]
    fn dates_and_times() {
        assert!(date_ok(b"20240229"));
        assert!(!date_ok(b"20230229"));
        assert!(!date_ok(b"20241301"));
        assert!(date_ok(b"240101"));
        assert!(time_ok(b"2359"));
        assert!(time_ok(b"235959"));
        assert!(time_ok(b"23595999"));
        assert!(!time_ok(b"2460"));
        assert!(!time_ok(b"12345"));
    }

    #[test]
    fn numbers() {
        assert_eq!(numeric_digits(b"-12.5", true), Some(3));
        assert_eq!(numeric_digits(b"12.5", false), None);
        assert_eq!(numeric_digits(b"1.2.3", true), None);
        assert_eq!(numeric_digits(b"-", true), None);
        assert_eq!(numeric_digits(b"1E5", true), None);
    }
}
