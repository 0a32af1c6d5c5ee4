//! A transaction set held whole for mapping: its raw bytes copied once into one buffer, an
//! index of segments, and the loop instances the grammar walk placed them in (plus the HL
//! hierarchy of an 856). Each segment's element boundaries are found once, when it is held, so a
//! map reading many elements of a segment does not split it again for every one. It neither
//! validates (that is `validate`) nor maps (that is `map`).

use std::sync::Arc;

use super::envelope::{GroupInfo, IsaInfo, SetResult, Sink};
use super::lexer::{self, Delimiters};
use super::offload::SetContext;
use super::reader::Segment;

/// One segment of a held set.
#[derive(Debug, Clone, Copy)]
pub struct SegRef {
    start: usize,
    len: usize,
    /// Index in `SetTree::bounds` of this segment's first element separator.
    bounds: usize,
    /// Number of elements after the id (separators in the segment).
    elements: usize,
    /// Offset in the original input.
    pub offset: u64,
    /// Position in the set, ST = 1.
    pub position: u32,
}

/// One occurrence of a loop (or the set itself, at index 0).
#[derive(Debug, Clone, Default)]
pub struct LoopInstance {
    /// Its loop path from the grammar (`N1`, `PO1/PID`; "" for the set), as an index in
    /// `SetTree::paths` (`SetTree::path` gives the text).
    pub path: usize,
    /// Segments directly in this instance, in input order (indexes into `SetTree::segments`).
    pub segments: Vec<usize>,
    /// Loop instances directly inside this one, in input order.
    pub children: Vec<usize>,
    pub parent: Option<usize>,
    /// For HL loops: the HL instance named by HL02.
    pub hl_parent: Option<usize>,
    pub hl_children: Vec<usize>,
}

/// A whole transaction set with its envelope context.
#[derive(Debug, Clone, Default)]
pub struct SetTree {
    pub delimiters: Delimiters,
    buf: Vec<u8>,
    /// Per segment (from `SegRef::bounds`): the offsets in `buf` of its element separators,
    /// then its end.
    bounds: Vec<usize>,
    pub segments: Vec<SegRef>,
    /// Per segment: its id as an `id_code`, found when it is held (the maps look segments up by
    /// id, and `place` tells loop triggers by it).
    ids: Vec<u32>,
    pub loops: Vec<LoopInstance>,
    /// The set's distinct loop paths, "" (the set's own) first: a set has a few paths over many
    /// loop instances, so an instance names its path by index, and what a reader works out
    /// from a path (its grammar loop, its last step) it works out once per path.
    pub paths: Vec<String>,
    /// ISA01..ISA16 and GS01..GS08 of the enclosing envelope (shared by the sets of a group).
    pub isa: Arc<Vec<String>>,
    pub gs: Arc<Vec<String>>,
    pub version: String,
    pub set_id: String,
    pub control_number: String,
}

/// A dropped set's vectors, kept by its thread for the next set it holds (`TreeBuilder::start`):
/// a set's buffers, and its loop instances with their own vectors and paths, are then reused
/// rather than allocated, grown and freed again for every set.
struct Spare {
    buf: Vec<u8>,
    bounds: Vec<usize>,
    segments: Vec<SegRef>,
    ids: Vec<u32>,
    loops: Vec<LoopInstance>,
    paths: Vec<String>,
    version: String,
    set_id: String,
    control_number: String,
}

thread_local! {
    static SPARE: std::cell::RefCell<Option<Spare>> = const { std::cell::RefCell::new(None) };
}

/// The largest set whose vectors are kept: a rare huge set should not keep its memory.
const MAX_SPARE_BYTES: usize = 1 << 20;
const MAX_SPARE_LOOPS: usize = 1 << 14;

impl Drop for SetTree {
    fn drop(&mut self) {
        if self.loops.is_empty()
            || self.buf.capacity() > MAX_SPARE_BYTES
            || self.loops.len() > MAX_SPARE_LOOPS
        {
            return;
        }
        let spare = Spare {
            buf: std::mem::take(&mut self.buf),
            bounds: std::mem::take(&mut self.bounds),
            segments: std::mem::take(&mut self.segments),
            ids: std::mem::take(&mut self.ids),
            loops: std::mem::take(&mut self.loops),
            paths: std::mem::take(&mut self.paths),
            version: std::mem::take(&mut self.version),
            set_id: std::mem::take(&mut self.set_id),
            control_number: std::mem::take(&mut self.control_number),
        };
        // At thread exit the slot may be gone already: the vectors are then just freed.
        let _ = SPARE.try_with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                if s.is_none() {
                    *s = Some(spare);
                }
            }
        });
    }
}

impl SetTree {
    /// Every held segment's bytes, one after the other (what `raw` and `element` slice).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    #[inline]
    pub fn raw(&self, i: usize) -> &[u8] {
        let s = &self.segments[i];
        &self.buf[s.start..s.start + s.len]
    }

    #[inline]
    pub fn id(&self, i: usize) -> &[u8] {
        let s = &self.segments[i];
        if s.elements == 0 {
            return self.raw(i);
        }
        &self.buf[s.start..self.bounds[s.bounds]]
    }

    /// Element `n` (1-based) of segment `i`, all repetitions and components included. In line:
    /// the maps read elements by the million, and a call costs more than the slicing.
    #[inline]
    pub fn element(&self, i: usize, n: usize) -> Option<&[u8]> {
        let s = &self.segments[i];
        if n == 0 || n > s.elements {
            return None;
        }
        let b = s.bounds + n;
        Some(&self.buf[self.bounds[b - 1] + 1..self.bounds[b]])
    }

    /// Component `c` (1-based) of element `n`; component 1 of a simple element is the element.
    pub fn component(&self, i: usize, n: usize, c: usize) -> Option<&[u8]> {
        let e = self.element(i, n)?;
        let first_rep = match self.delimiters.repetition {
            Some(r) => lexer::split(e, r).next().unwrap_or(e),
            None => e,
        };
        lexer::split(first_rep, self.delimiters.component).nth(c.checked_sub(1)?)
    }

    /// Number of elements of segment `i`.
    pub fn element_count(&self, i: usize) -> usize {
        self.segments[i].elements
    }

    /// Every segment's id as an `id_code`, in segment order.
    #[inline]
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// The loop path of loop instance `inst` ("" for the set).
    pub fn path(&self, inst: usize) -> &str {
        self.paths
            .get(self.loops[inst].path)
            .map_or("", String::as_str)
    }
}

/// `a == b` for ids, paths and codes of a few bytes, compared in line a word at a time: `==`
/// on slices of equal length calls `memcmp`, which costs more than the bytes it compares
/// (`map::node::short_eq` on text).
#[inline]
pub fn short_eq_bytes(a: &[u8], b: &[u8]) -> bool {
    fn word(s: &[u8], i: usize) -> Option<u64> {
        let mut w = [0u8; 8];
        w.copy_from_slice(s.get(i..i + 8)?);
        Some(u64::from_ne_bytes(w))
    }
    fn half(s: &[u8], i: usize) -> Option<u32> {
        let mut w = [0u8; 4];
        w.copy_from_slice(s.get(i..i + 4)?);
        Some(u32::from_ne_bytes(w))
    }
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n >= 8 {
        // Whole words, the last one overlapping the one before it.
        let mut i = 0;
        while i + 8 < n {
            if word(a, i) != word(b, i) {
                return false;
            }
            i += 8;
        }
        word(a, n - 8) == word(b, n - 8)
    } else if n >= 4 {
        half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4)
    } else {
        a.iter().zip(b).all(|(x, y)| x == y)
    }
}

/// `id_code` of an id longer than three bytes: such ids are compared as bytes.
pub const LONG_ID: u32 = u32::MAX;

/// A segment or loop id of up to three bytes packed with its length into one number, so two
/// short ids are equal exactly when their codes are; `LONG_ID` for anything longer.
#[inline]
pub const fn id_code(id: &[u8]) -> u32 {
    // `as` rather than `u32::from`: a `const fn` cannot call trait methods (widening, lossless).
    match *id {
        [] => 0,
        [a] => (1 << 24) | a as u32,
        [a, b] => (2 << 24) | a as u32 | ((b as u32) << 8),
        [a, b, c] => (3 << 24) | a as u32 | ((b as u32) << 8) | ((c as u32) << 16),
        _ => LONG_ID,
    }
}

/// A loop path's own loop id, what a segment opening an instance of it has: the last step
/// without its suffix (`PO1` of `PO1/PID`... `N1` of `N1-2`).
fn loop_id(path: &[u8]) -> &[u8] {
    let last = match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    };
    match last.iter().position(|&b| b == b'-') {
        Some(i) => &last[..i],
        None => last,
    }
}

/// Makes a spare loop instance a fresh one of path `path` under `parent`, keeping its vectors'
/// room.
fn reset(l: &mut LoopInstance, path: usize, parent: Option<usize>) {
    l.path = path;
    l.segments.clear();
    l.children.clear();
    l.parent = parent;
    l.hl_parent = None;
    l.hl_children.clear();
}

/// Builds `SetTree`s from the engine's segment stream.
#[derive(Default)]
pub struct TreeBuilder {
    tree: SetTree,
    /// Open loop instances, innermost last (index 0 is the set).
    stack: Vec<usize>,
    hl_ids: std::collections::HashMap<Vec<u8>, usize>,
    /// The last envelope's ISA and GS fields, shared by every set until they change.
    isa: Arc<Vec<String>>,
    gs: Arc<Vec<String>>,
    /// Sizes of the last set, so the next one's buffers start big enough (when there is no
    /// spare set to reuse).
    last: (usize, usize, usize, usize),
    /// Loop instances in use in `tree.loops`; those after them are a spare set's, reused as
    /// instances open.
    used: usize,
    /// Paths in use in `tree.paths` (those after them are a spare set's, reused as paths are
    /// met), and per path in use the `id_code` of its loop's own id, what a segment opening an
    /// instance of it has (`PO1` of `PO1/PID`, `N1` of `N1-2`).
    paths_used: usize,
    triggers: Vec<u32>,
    /// The paths of the last two loops segments were placed in, latest first
    /// (`path_index`).
    recent: [usize; 2],
    /// Per loop number given to `place_in` (the walk's loop index in its set grammar), its
    /// path index plus one, 0 when not met yet in this set.
    by_loop: Vec<u32>,
    /// Loop instances a set's tree had room for beyond what it used, for `open` to reuse.
    kept_loops: Vec<LoopInstance>,
    /// The context of the last `start_in`, whose envelope fields `isa` and `gs` are.
    ctx: Option<Arc<SetContext>>,
}

/// A segment just held (`TreeBuilder::hold`): its index, bytes, id and elements as split.
pub struct Held<'a> {
    pub idx: usize,
    pub raw: &'a [u8],
    pub id: &'a [u8],
    pub elements: lexer::Bounded<'a>,
}

impl TreeBuilder {
    pub fn start(&mut self, isa: &IsaInfo, gs: &GroupInfo) {
        self.share_envelope(isa, gs);
        self.ctx = None;
        self.start_set(isa.delimiters, &gs.version);
    }

    /// `start` for a set read in `ctx`: the sets of a group share one context, so its fields
    /// are compared with those held only when the context is another one.
    pub fn start_in(&mut self, ctx: &Arc<SetContext>) {
        if !self.ctx.as_ref().is_some_and(|c| Arc::ptr_eq(c, ctx)) {
            self.share_envelope(&ctx.isa, &ctx.gs);
            // Kept alive, so that a context at the same address later is this one.
            self.ctx = Some(Arc::clone(ctx));
        }
        self.start_set(ctx.isa.delimiters, &ctx.gs.version);
    }

    /// Makes `isa` and `gs` the envelope fields held sets share, anew only when they changed.
    fn share_envelope(&mut self, isa: &IsaInfo, gs: &GroupInfo) {
        if *self.isa != isa.fields {
            self.isa = Arc::new(isa.fields.clone());
        }
        let gs_fields = [
            &gs.functional_id,
            &gs.sender,
            &gs.receiver,
            &gs.date,
            &gs.time,
            &gs.control_number,
            &gs.agency,
            &gs.version,
        ];
        if self.gs.len() != gs_fields.len() || self.gs.iter().zip(gs_fields).any(|(a, b)| a != b) {
            self.gs = Arc::new(gs_fields.into_iter().cloned().collect());
        }
    }

    /// The part of `start` after the envelope fields: a set's buffers, from a dropped set's
    /// spare ones when this thread has them.
    fn start_set(&mut self, delimiters: Delimiters, gs_version: &str) {
        let spare = SPARE.with(|s| s.borrow_mut().take());
        let mut s = match spare {
            Some(mut s) => {
                s.buf.clear();
                s.bounds.clear();
                s.segments.clear();
                s.ids.clear();
                s
            }
            None => {
                let (buf, bounds, segments, loops) = self.last;
                Spare {
                    buf: Vec::with_capacity(buf),
                    bounds: Vec::with_capacity(bounds),
                    segments: Vec::with_capacity(segments),
                    ids: Vec::with_capacity(segments),
                    loops: Vec::with_capacity(loops.max(1)),
                    paths: Vec::new(),
                    version: String::new(),
                    set_id: String::new(),
                    control_number: String::new(),
                }
            }
        };
        match s.loops.first_mut() {
            Some(root) => reset(root, 0, None),
            None => s.loops.push(LoopInstance::default()),
        }
        self.used = 1;
        match s.paths.first_mut() {
            Some(root) => root.clear(),
            None => s.paths.push(String::new()),
        }
        self.paths_used = 1;
        self.triggers.clear();
        self.triggers.push(0);
        self.recent = [0, 0];
        self.by_loop.clear();
        s.version.clear();
        s.version
            .push_str(gs_version.get(..6).unwrap_or(gs_version));
        s.set_id.clear();
        s.control_number.clear();
        let t = &mut self.tree;
        t.delimiters = delimiters;
        t.buf = s.buf;
        t.bounds = s.bounds;
        t.segments = s.segments;
        t.ids = s.ids;
        t.loops = s.loops;
        t.paths = s.paths;
        t.isa = self.isa.clone();
        t.gs = self.gs.clone();
        t.version = s.version;
        t.set_id = s.set_id;
        t.control_number = s.control_number;
        self.stack.clear();
        self.stack.push(0);
        self.hl_ids.clear();
    }

    /// Opens a loop instance of path `path` under `parent`: the next spare instance when
    /// there is one (its vectors keep their room), else a new one.
    fn open(&mut self, path: usize, parent: usize) -> usize {
        let t = &mut self.tree;
        let inst = self.used;
        self.used += 1;
        match t.loops.get_mut(inst) {
            Some(l) => reset(l, path, Some(parent)),
            None => match self.kept_loops.pop() {
                Some(mut l) => {
                    reset(&mut l, path, Some(parent));
                    t.loops.push(l);
                }
                None => t.loops.push(LoopInstance {
                    path,
                    // Room for a loop's usual few segments at once, rather than grown from none.
                    segments: Vec::with_capacity(4),
                    parent: Some(parent),
                    ..LoopInstance::default()
                }),
            },
        }
        inst
    }

    pub fn segment(&mut self, seg: &Segment<'_>, position: u32, loop_path: &str) {
        let idx = self.hold(seg, position).idx;
        self.place(idx, loop_path);
    }

    /// Copies a segment into the set being built and finds its element separators; `place`
    /// then puts it in its loop (in between, the walk can take the split `Held` gives).
    pub fn hold(&mut self, seg: &Segment<'_>, position: u32) -> Held<'_> {
        let start = self.take_bytes(seg.raw);
        self.hold_taken(start, seg.raw.len(), seg.offset, position)
    }

    /// Appends bytes to the set's buffer and returns where they start: a caller with many
    /// segments' bytes side by side copies them at once, then holds each (`hold_taken`).
    pub fn take_bytes(&mut self, bytes: &[u8]) -> usize {
        let start = self.tree.buf.len();
        self.tree.buf.extend_from_slice(bytes);
        start
    }

    /// `hold` of the segment whose `len` bytes are in the set's buffer at `start` already
    /// (`take_bytes`), read at `offset` in the input. In line: the replay of a held set calls
    /// it per segment, and the `Held` it gives back then stays in registers.
    #[inline(always)]
    pub fn hold_taken(&mut self, start: usize, len: usize, offset: u64, position: u32) -> Held<'_> {
        let t = &mut self.tree;
        let raw = t.buf.get(start..start + len).unwrap_or_default();
        let idx = t.segments.len();
        let first_bound = t.bounds.len();
        let sep = t.delimiters.element;
        // The lexer's separator mask, 64 bytes a window: segments are a few dozen bytes, where
        // `memchr_iter`'s set-up on every call and every match costs more than the bytes it
        // skips, and a byte loop costs a compare and a branch per byte.
        // Windows split off by hand: a segment is one window nearly always, and `chunks` cost
        // more to set up and step than that one window's bits.
        let (mut rest, mut base) = (raw, start);
        loop {
            let (window, next) = rest.split_at(rest.len().min(64));
            let mut m = lexer::sep_mask(window, sep);
            while m != 0 {
                t.bounds.push(base + m.trailing_zeros() as usize);
                m &= m - 1;
            }
            if next.is_empty() {
                break;
            }
            (rest, base) = (next, base + 64);
        }
        let elements = t.bounds.len() - first_bound;
        let id_len = match elements {
            0 => raw.len(),
            _ => t.bounds[first_bound] - start,
        };
        let id = raw.get(..id_len).unwrap_or_default();
        t.ids.push(id_code(id));
        t.bounds.push(start + raw.len());
        t.segments.push(SegRef {
            start,
            len: raw.len(),
            bounds: first_bound,
            elements,
            offset,
            position,
        });
        Held {
            idx,
            raw,
            id,
            elements: lexer::Bounded::new(&t.buf, t.bounds.get(first_bound..).unwrap_or_default()),
        }
    }

    /// The index in `tree.paths` of `loop_path`, added when the set has not met it yet. The
    /// paths of the last two loops met are asked first: segments mostly stay in their loop or
    /// go back and forth between two (`PO1` and `PO1/PID`).
    fn path_index(&mut self, loop_path: &str) -> usize {
        let p = loop_path.as_bytes();
        let paths = &self.tree.paths;
        let is = |i: usize| {
            paths
                .get(i)
                .is_some_and(|q| short_eq_bytes(q.as_bytes(), p))
        };
        let [a, b] = self.recent;
        if is(a) {
            return a;
        }
        let i = match is(b) {
            true => b,
            false => self.intern(loop_path),
        };
        self.recent = [i, a];
        i
    }

    /// `path_index` of a path not among the last two met.
    fn intern(&mut self, loop_path: &str) -> usize {
        let p = loop_path.as_bytes();
        let t = &mut self.tree;
        let used = &t.paths[..self.paths_used.min(t.paths.len())];
        if let Some(i) = used.iter().position(|q| short_eq_bytes(q.as_bytes(), p)) {
            return i;
        }
        let i = self.paths_used;
        self.paths_used += 1;
        match t.paths.get_mut(i) {
            Some(q) => {
                q.clear();
                q.push_str(loop_path);
            }
            None => t.paths.push(loop_path.to_string()),
        }
        self.triggers.truncate(i);
        self.triggers.push(id_code(loop_id(p)));
        i
    }

    /// Puts held segment `idx` in the loop instance of `loop_path`, opening or closing
    /// instances as the path says.
    pub fn place(&mut self, idx: usize, loop_path: &str) {
        let pi = self.path_index(loop_path);
        self.place_at(idx, pi);
    }

    /// `place` for a caller that numbers its loops: `lp` stands for `loop_path` throughout
    /// the set (the walk's loop index in its set grammar), so a loop's path is looked up once
    /// per set rather than compared for every segment (and `loop_path` is asked for only then).
    pub fn place_in<'p>(&mut self, idx: usize, lp: usize, loop_path: impl FnOnce() -> &'p str) {
        let pi = match self.by_loop.get(lp) {
            Some(&i) if i != 0 => i as usize - 1,
            _ => {
                let i = self.path_index(loop_path());
                if self.by_loop.len() <= lp {
                    self.by_loop.resize(lp + 1, 0);
                }
                if let Some(slot) = self.by_loop.get_mut(lp) {
                    *slot = u32::try_from(i + 1).unwrap_or(0);
                }
                i
            }
        };
        self.place_at(idx, pi);
    }

    /// `place` with the loop path's index `pi` in `tree.paths` found (the path is read there).
    #[inline(always)]
    fn place_at(&mut self, idx: usize, pi: usize) {
        // The segment's id as held: ids of up to three bytes (every X12 segment id) compare as
        // their codes, anything longer as bytes.
        let code = self.tree.ids.get(idx).copied().unwrap_or(LONG_ID);
        let p = self.tree.paths.get(pi).map_or(&b""[..], |p| p.as_bytes());
        let is_trigger = pi != 0
            && match code {
                LONG_ID => loop_id(p) == self.tree.id(idx),
                c => Some(&c) == self.triggers.get(pi),
            };
        // An HL's own id, and the instance of the HL its HL02 names.
        let hl = (is_trigger && code == id_code(b"HL")).then(|| {
            let tree = &self.tree;
            let hl01 = tree.element(idx, 1).unwrap_or_default().to_vec();
            let parent = self.hl_ids.get(tree.element(idx, 2).unwrap_or_default());
            (hl01, parent.copied())
        });
        // Close instances that are not ancestors of (or the same as) this segment's loop.
        while let Some(&top) = self.stack.last() {
            let tp = self.tree.loops[top].path;
            let same = tp == pi;
            let ancestor = tp == 0 || same || {
                let q = self.tree.paths[tp].as_bytes();
                p.len() > q.len() && p[q.len()] == b'/' && short_eq_bytes(&p[..q.len()], q)
            };
            if ancestor && !(is_trigger && same) {
                break;
            }
            self.stack.pop();
        }
        if is_trigger {
            let parent = self.stack.last().copied().unwrap_or(0);
            let inst = self.open(pi, parent);
            let t = &mut self.tree;
            t.loops[parent].children.push(inst);
            self.stack.push(inst);
            if let Some((hl01, parent)) = hl {
                if let Some(p) = parent {
                    t.loops[inst].hl_parent = Some(p);
                    t.loops[p].hl_children.push(inst);
                }
                self.hl_ids.insert(hl01, inst);
            }
        }
        let top = self.stack.last().copied().unwrap_or(0);
        self.tree.loops[top].segments.push(idx);
    }

    pub fn finish(&mut self, set: &SetResult) -> SetTree {
        self.finish_ids(&set.set_id, &set.control_number)
    }

    /// `finish` with the set's ST01 and ST02 given directly.
    pub fn finish_ids(&mut self, set_id: &str, control_number: &str) -> SetTree {
        self.tree.set_id.push_str(set_id);
        self.tree.control_number.push_str(control_number);
        // Spare instances of an earlier set that this one did not need are kept for the next
        // sets (`open`): sets differ in size, and freeing them here meant allocating and
        // growing their vectors again for the next larger set. Spare paths go.
        let used = self.used.min(self.tree.loops.len());
        if self.kept_loops.len() < MAX_SPARE_LOOPS {
            self.kept_loops.extend(self.tree.loops.drain(used..));
        } else {
            self.tree.loops.truncate(used);
        }
        self.tree.paths.truncate(self.paths_used);
        self.stack.clear();
        let t = &self.tree;
        self.last = (t.buf.len(), t.bounds.len(), t.segments.len(), t.loops.len());
        // The next set's tree shares the envelope fields; its buffers come in `start`.
        let next = SetTree {
            delimiters: t.delimiters,
            buf: Vec::new(),
            bounds: Vec::new(),
            segments: Vec::new(),
            ids: Vec::new(),
            loops: Vec::new(),
            paths: Vec::new(),
            isa: Arc::clone(&self.isa),
            gs: Arc::clone(&self.gs),
            version: String::new(),
            set_id: String::new(),
            control_number: String::new(),
        };
        std::mem::replace(&mut self.tree, next)
    }
}

/// A sink that holds each set as a `SetTree` and hands it, with its result, to a callback.
pub struct Collect<F> {
    builder: TreeBuilder,
    isa: Option<IsaInfo>,
    gs: GroupInfo,
    pub on_set: F,
}

impl<F: FnMut(&IsaInfo, &GroupInfo, &SetResult, SetTree)> Collect<F> {
    pub fn new(on_set: F) -> Self {
        Collect {
            builder: TreeBuilder::default(),
            isa: None,
            gs: GroupInfo::default(),
            on_set,
        }
    }
}

impl<F: FnMut(&IsaInfo, &GroupInfo, &SetResult, SetTree)> Sink for Collect<F> {
    fn interchange_start(&mut self, isa: &IsaInfo) {
        self.isa = Some(isa.clone());
    }
    fn group_start(&mut self, _isa: &IsaInfo, gs: &GroupInfo) {
        self.gs = gs.clone();
    }
    fn set_segment(&mut self, seg: &Segment<'_>, position: u32, loop_path: &str) {
        if position == 1 {
            if let Some(isa) = &self.isa {
                self.builder.start(isa, &self.gs);
            }
        }
        self.builder.segment(seg, position, loop_path);
    }
    fn set_done(&mut self, isa: &IsaInfo, gs: &GroupInfo, set: &SetResult) {
        let tree = self.builder.finish(set);
        (self.on_set)(isa, gs, set, tree);
    }
}
