//! `edigate inspect`: the interchange as an indented loop tree, with segment and element names
//! from the grammar and code names where the grammar has them.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use crate::x12::envelope::{
    self, FileProblem, GroupInfo, GroupResult, InterchangeResult, IsaInfo, SetResult, Sink,
};
use crate::x12::grammar::{Grammars, Position, SegmentDef, VersionGrammar};
use crate::x12::lexer;
use crate::x12::reader::Segment;
use crate::x12::validate::Leniency;

struct Tree<'g, W: Write> {
    out: W,
    grammars: &'g Grammars,
    version: Option<&'g VersionGrammar>,
}

impl<W: Write> Tree<'_, W> {
    fn elements(&mut self, seg: &Segment<'_>, indent: usize) {
        let d = seg.delimiters;
        let id = String::from_utf8_lossy(seg.id()).into_owned();
        let def = self
            .version
            .and_then(|v| v.dict.segment(seg.id()).map(|s| (v, s)));
        for (i, value) in lexer::elements(seg.raw, &d).enumerate() {
            if value.is_empty() {
                continue;
            }
            let shown = String::from_utf8_lossy(value);
            let (name, code_name) = describe(def, i, &shown);
            let _ = writeln!(
                self.out,
                "{:indent$}  {id}{:02} {name} = {shown}{code_name}",
                "",
                i + 1,
                indent = indent
            );
        }
    }

    fn line(&mut self, seg: &Segment<'_>, indent: usize) {
        let name = self
            .version
            .and_then(|v| v.dict.segment(seg.id()))
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let _ = writeln!(
            self.out,
            "{:indent$}{} {name}  (byte {})",
            "",
            String::from_utf8_lossy(seg.id()),
            seg.offset,
            indent = indent
        );
        self.elements(seg, indent);
    }
}

/// The element name (with its reference number) of element `i` of a segment, and the name of
/// the value's code where the grammar has one.
fn describe(
    def: Option<(&VersionGrammar, &SegmentDef)>,
    i: usize,
    shown: &str,
) -> (String, String) {
    match def.and_then(|(v, s)| s.positions.get(i).map(|p| (v, p))) {
        Some((v, Position::Simple(u))) => {
            let el = &v.dict.elements[u.element];
            let cn = el
                .codes
                .as_ref()
                .and_then(|c| c.name(shown.trim_end()))
                .map(|n| format!(" ({n})"));
            (format!("{} [{}]", el.name, el.id), cn.unwrap_or_default())
        }
        Some((v, Position::Composite { composite, .. })) => {
            let c = &v.dict.composites[*composite];
            (format!("{} [{}]", c.name, c.id), String::new())
        }
        None => (String::new(), String::new()),
    }
}

impl<W: Write> Sink for Tree<'_, W> {
    fn interchange_start(&mut self, isa: &IsaInfo) {
        let _ = writeln!(
            self.out,
            "ISA Interchange Control Header  (byte {})",
            isa.offset
        );
        // The ISA comes before any GS names a version: its names come from the grammar whose
        // version ISA12 names, else from any (the ISA is the same in all we ship).
        let isa12 = isa.fields.get(11).map(String::as_str).unwrap_or_default();
        let v = self
            .grammars
            .versions
            .iter()
            .find(|(k, _)| !isa12.is_empty() && k.starts_with(isa12))
            .or_else(|| self.grammars.versions.iter().next())
            .map(|(_, v)| v);
        let def = v.and_then(|v| v.dict.segment(b"ISA").map(|s| (v, s)));
        for (i, f) in isa.fields.iter().enumerate() {
            let (name, code_name) = describe(def, i, f);
            let _ = writeln!(self.out, "  ISA{:02} {name} = {f}{code_name}", i + 1);
        }
    }
    fn group_start(&mut self, _isa: &IsaInfo, gs: &GroupInfo) {
        self.version = self.grammars.version(gs.version.as_bytes());
        let _ = writeln!(
            self.out,
            "  GS Functional Group Header {} {} (version {}{})",
            gs.functional_id,
            gs.control_number,
            gs.version,
            if self.version.is_none() {
                ", no grammar shipped"
            } else {
                ""
            }
        );
    }
    fn set_segment(&mut self, seg: &Segment<'_>, _position: u32, loop_path: &str) {
        let depth = if loop_path.is_empty() {
            0
        } else {
            loop_path.matches('/').count() + 1
        };
        let id = seg.id();
        let indent = if id == b"ST" || id == b"SE" {
            4
        } else {
            6 + depth * 2
        };
        self.line(seg, indent);
    }
    fn set_done(&mut self, _isa: &IsaInfo, _gs: &GroupInfo, set: &SetResult) {
        let _ = writeln!(
            self.out,
            "    ({} segments, {})",
            set.segment_count,
            set.status.code()
        );
    }
    fn group_done(&mut self, _isa: &IsaInfo, gs: &GroupInfo, r: &GroupResult) {
        let _ = writeln!(
            self.out,
            "  GE {} sets, group {}",
            r.received_sets, gs.control_number
        );
    }
    fn interchange_done(&mut self, isa: &IsaInfo, r: &InterchangeResult) {
        let _ = writeln!(
            self.out,
            "IEA {} groups, interchange {}",
            r.groups,
            isa.control_number()
        );
    }
    fn problem(&mut self, p: &FileProblem) {
        let _ = writeln!(self.out, "! {}", p.message);
    }
}

pub fn run(grammars: &Grammars, path: &Path) -> u8 {
    let label = path.display().to_string();
    let opened = File::open(path).and_then(super::validate::sniff);
    let (head, rest) = match opened {
        Ok(x) => x,
        Err(e) => {
            eprintln!("edigate: cannot read {label}: {e}");
            return 2;
        }
    };
    if super::validate::is_xml(&head) {
        return xml_inspect(&label, head, rest);
    }
    let stdout = io::stdout();
    let tree = Tree {
        out: BufWriter::new(stdout.lock()),
        grammars,
        version: None,
    };
    match envelope::check(
        io::Cursor::new(head).chain(rest),
        grammars,
        Leniency::default(),
        tree,
    ) {
        Ok((mut t, summary)) => {
            let _ = t.out.flush();
            if summary.interchanges == 0 {
                1
            } else {
                0
            }
        }
        Err(e) => {
            eprintln!("edigate: cannot read {label}: {e}");
            2
        }
    }
}

fn read_all(head: Vec<u8>, mut rest: File, label: &str) -> Option<Vec<u8>> {
    let mut bytes = head;
    if let Err(e) = rest.read_to_end(&mut bytes) {
        eprintln!("edigate: cannot read {label}: {e}");
        return None;
    }
    Some(bytes)
}

fn emit(out: crate::cxml::CliOutput) -> u8 {
    let _ = io::stdout().write_all(out.stdout.as_bytes());
    let _ = io::stderr().write_all(out.stderr.as_bytes());
    out.exit_code
}

pub(crate) fn xml_inspect(label: &str, head: Vec<u8>, rest: File) -> u8 {
    let Some(bytes) = read_all(head, rest, label) else {
        return 2;
    };
    emit(crate::cxml::cli_inspect(label, &bytes))
}

pub(crate) fn xml_validate(label: &str, head: Vec<u8>, rest: File, json: bool, ack: bool) -> u8 {
    let Some(bytes) = read_all(head, rest, label) else {
        return 2;
    };
    emit(crate::cxml::cli_validate(label, &bytes, json, ack))
}
