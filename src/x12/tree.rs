//! A transaction set held whole for mapping: its raw bytes copied once into one buffer, an
//! index of segments, and the loop instances the grammar walk placed them in (plus the HL
//! hierarchy of an 856). Elements are split on demand, so reading a set costs one copy.
//! It neither validates (that is `validate`) nor maps (that is `map`).

use super::envelope::{GroupInfo, IsaInfo, SetResult, Sink};
use super::lexer::{self, Delimiters};
use super::reader::Segment;

/// One segment of a held set.
#[derive(Debug, Clone, Copy)]
pub struct SegRef {
    start: usize,
    len: usize,
    /// Offset in the original input.
    pub offset: u64,
    /// Position in the set, ST = 1.
    pub position: u32,
}

/// One occurrence of a loop (or the set itself, at index 0).
#[derive(Debug, Clone, Default)]
pub struct LoopInstance {
    /// Loop path from the grammar (`N1`, `PO1/PID`); "" for the set.
    pub path: String,
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
    pub segments: Vec<SegRef>,
    pub loops: Vec<LoopInstance>,
    /// ISA01..ISA16 and GS01..GS08 of the enclosing envelope.
    pub isa: Vec<String>,
    pub gs: Vec<String>,
    pub version: String,
    pub set_id: String,
    pub control_number: String,
}

impl SetTree {
    pub fn raw(&self, i: usize) -> &[u8] {
        let s = &self.segments[i];
        &self.buf[s.start..s.start + s.len]
    }

    pub fn id(&self, i: usize) -> &[u8] {
        lexer::segment_id(self.raw(i), &self.delimiters)
    }

    /// Element `n` (1-based) of segment `i`, all repetitions and components included.
    pub fn element(&self, i: usize, n: usize) -> Option<&[u8]> {
        lexer::elements(self.raw(i), &self.delimiters).nth(n.checked_sub(1)?)
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
        lexer::elements(self.raw(i), &self.delimiters).count()
    }
}

/// Builds `SetTree`s from the engine's segment stream.
#[derive(Default)]
pub struct TreeBuilder {
    tree: SetTree,
    /// Open loop instances, innermost last (index 0 is the set).
    stack: Vec<usize>,
    hl_ids: std::collections::HashMap<Vec<u8>, usize>,
}

impl TreeBuilder {
    pub fn start(&mut self, isa: &IsaInfo, gs: &GroupInfo) {
        self.tree = SetTree {
            delimiters: isa.delimiters,
            isa: isa.fields.clone(),
            gs: vec![
                gs.functional_id.clone(),
                gs.sender.clone(),
                gs.receiver.clone(),
                gs.date.clone(),
                gs.time.clone(),
                gs.control_number.clone(),
                gs.agency.clone(),
                gs.version.clone(),
            ],
            version: gs.version.get(..6).unwrap_or(&gs.version).to_string(),
            loops: vec![LoopInstance::default()],
            ..SetTree::default()
        };
        self.stack = vec![0];
        self.hl_ids.clear();
    }

    pub fn segment(&mut self, seg: &Segment<'_>, position: u32, loop_path: &str) {
        let t = &mut self.tree;
        let start = t.buf.len();
        t.buf.extend_from_slice(seg.raw);
        let idx = t.segments.len();
        t.segments.push(SegRef {
            start,
            len: seg.raw.len(),
            offset: seg.offset,
            position,
        });
        let id = seg.id();
        let is_trigger = !loop_path.is_empty()
            && loop_path
                .rsplit('/')
                .next()
                .and_then(|l| l.split('-').next())
                .is_some_and(|l| l.as_bytes() == id);
        // Close instances that are not ancestors of (or the same as) this segment's loop.
        while let Some(&top) = self.stack.last() {
            let p = &self.tree.loops[top].path;
            let ancestor =
                p.is_empty() || loop_path == p || loop_path.starts_with(&format!("{p}/"));
            if ancestor && !(is_trigger && loop_path == p) {
                break;
            }
            self.stack.pop();
        }
        let t = &mut self.tree;
        if is_trigger {
            let parent = self.stack.last().copied().unwrap_or(0);
            let inst = t.loops.len();
            t.loops.push(LoopInstance {
                path: loop_path.to_string(),
                parent: Some(parent),
                ..LoopInstance::default()
            });
            t.loops[parent].children.push(inst);
            self.stack.push(inst);
            if id == b"HL" {
                let d = t.delimiters;
                let mut els = lexer::elements(seg.raw, &d);
                let hl01 = els.next().unwrap_or_default().to_vec();
                let hl02 = els.next().unwrap_or_default();
                if let Some(&p) = self.hl_ids.get(hl02) {
                    t.loops[inst].hl_parent = Some(p);
                    t.loops[p].hl_children.push(inst);
                }
                self.hl_ids.insert(hl01, inst);
            }
        }
        let top = self.stack.last().copied().unwrap_or(0);
        t.loops[top].segments.push(idx);
    }

    pub fn finish(&mut self, set: &SetResult) -> SetTree {
        self.tree.set_id = set.set_id.clone();
        self.tree.control_number = set.control_number.clone();
        self.stack.clear();
        std::mem::take(&mut self.tree)
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
