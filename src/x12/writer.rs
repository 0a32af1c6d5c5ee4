//! The X12 writer: renders segments with chosen delimiters, pads the ISA, and counts segments,
//! sets and groups so trailers and control numbers are always right. Everything the gateway
//! sends (acknowledgements, outbound documents) goes through it. It never reads input.

use std::io::{self, Write};

use super::lexer::{self, Delimiters};

/// A segment as owned data: `elements[i]` holds the repetitions of element i+1, each a list of
/// components (a simple element is one component).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnedSegment {
    pub id: String,
    pub elements: Vec<Vec<Vec<String>>>,
}

impl OwnedSegment {
    /// A segment of simple elements.
    pub fn simple(id: &str, elements: &[&str]) -> Self {
        OwnedSegment {
            id: id.to_string(),
            elements: elements.iter().map(|e| vec![vec![e.to_string()]]).collect(),
        }
    }

    /// Reads a segment back from raw bytes under `d`.
    pub fn parse(raw: &[u8], d: &Delimiters) -> Self {
        let text = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
        let id = text(lexer::segment_id(raw, d));
        let elements = lexer::elements(raw, d)
            .map(|e| {
                let reps: Vec<&[u8]> = match d.repetition {
                    Some(r) => lexer::split(e, r).collect(),
                    None => vec![e],
                };
                reps.into_iter()
                    .map(|r| lexer::split(r, d.component).map(text).collect())
                    .collect()
            })
            .collect();
        let mut s = OwnedSegment { id, elements };
        s.normalise();
        s
    }

    /// Drops trailing empty components, repetitions and elements, as the writer omits them.
    pub fn normalise(&mut self) {
        for e in &mut self.elements {
            for r in e.iter_mut() {
                while r.len() > 1 && r.last().is_some_and(String::is_empty) {
                    r.pop();
                }
            }
            while e.len() > 1 && e.last().is_some_and(|r| r.iter().all(String::is_empty)) {
                e.pop();
            }
        }
        while self
            .elements
            .last()
            .is_some_and(|e| e.iter().all(|r| r.iter().all(String::is_empty)))
        {
            self.elements.pop();
        }
    }

    /// Element `n` (1-based), first repetition, first component.
    pub fn get(&self, n: usize) -> &str {
        self.elements
            .get(n.wrapping_sub(1))
            .and_then(|e| e.first())
            .and_then(|r| r.first())
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// Why a segment could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{segment}{position:02}: value `{value}` contains a delimiter; X12 has no escape, so it cannot be sent")]
    DelimiterInData {
        segment: String,
        position: usize,
        value: String,
    },
    #[error("segment id `{0}` is not 2-3 upper-case letters or digits")]
    BadSegmentId(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Renders segments under one set of delimiters.
#[derive(Debug, Clone, Copy)]
pub struct SegmentWriter {
    pub delimiters: Delimiters,
    /// Put a newline after each terminator (readable files; ignored when the terminator is one).
    pub newline: bool,
}

impl SegmentWriter {
    pub fn new(delimiters: Delimiters) -> Self {
        SegmentWriter {
            delimiters,
            newline: false,
        }
    }

    fn check(&self, seg: &str, position: usize, v: &str) -> Result<(), WriteError> {
        if v.bytes().any(|b| self.delimiters.is_delimiter(b)) {
            return Err(WriteError::DelimiterInData {
                segment: seg.into(),
                position,
                value: v.into(),
            });
        }
        Ok(())
    }

    fn end(&self, out: &mut Vec<u8>) {
        out.push(self.delimiters.segment);
        if self.newline && self.delimiters.segment != b'\n' {
            out.push(b'\n');
        }
    }

    /// A segment of simple elements; trailing empty elements are omitted.
    pub fn simple(&self, out: &mut Vec<u8>, id: &str, elements: &[&str]) -> Result<(), WriteError> {
        let n = elements
            .iter()
            .rposition(|e| !e.is_empty())
            .map_or(0, |i| i + 1);
        // Check first: a refused segment must leave nothing half-written in `out`.
        for (i, e) in elements[..n].iter().enumerate() {
            self.check(id, i + 1, e)?;
        }
        out.extend_from_slice(id.as_bytes());
        for e in &elements[..n] {
            out.push(self.delimiters.element);
            out.extend_from_slice(e.as_bytes());
        }
        self.end(out);
        Ok(())
    }

    /// Any segment, with composites and repetitions.
    pub fn segment(&self, out: &mut Vec<u8>, seg: &OwnedSegment) -> Result<(), WriteError> {
        let valid_id = (2..=3).contains(&seg.id.len())
            && seg
                .id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !valid_id {
            return Err(WriteError::BadSegmentId(seg.id.clone()));
        }
        let mut s = seg.clone();
        s.normalise();
        let start = out.len();
        let written = self.segment_body(out, &s);
        if written.is_err() {
            // Leave nothing half-written behind.
            out.truncate(start);
        }
        written
    }

    fn segment_body(&self, out: &mut Vec<u8>, s: &OwnedSegment) -> Result<(), WriteError> {
        out.extend_from_slice(s.id.as_bytes());
        for (i, e) in s.elements.iter().enumerate() {
            out.push(self.delimiters.element);
            if e.len() > 1 && self.delimiters.repetition.is_none() {
                return Err(WriteError::DelimiterInData {
                    segment: s.id.clone(),
                    position: i + 1,
                    value: "<repetitions without a repetition separator>".into(),
                });
            }
            for (r, rep) in e.iter().enumerate() {
                if r > 0 {
                    out.push(self.delimiters.repetition.unwrap_or(b'^'));
                }
                for (c, comp) in rep.iter().enumerate() {
                    self.check(&s.id, i + 1, comp)?;
                    if c > 0 {
                        out.push(self.delimiters.component);
                    }
                    out.extend_from_slice(comp.as_bytes());
                }
            }
        }
        self.end(out);
        Ok(())
    }
}

/// Who an interchange is from and to, and how it is stamped.
#[derive(Debug, Clone)]
pub struct InterchangeHeader {
    pub sender_qualifier: String,
    pub sender_id: String,
    pub receiver_qualifier: String,
    pub receiver_id: String,
    /// YYMMDD and HHMM.
    pub date: String,
    pub time: String,
    /// ISA12, e.g. 00401 or 00501.
    pub version: String,
    pub control_number: u64,
    pub ack_requested: bool,
    /// P or T.
    pub usage: String,
}

fn pad(v: &str, width: usize) -> String {
    let mut s: String = v.chars().take(width).collect();
    while s.len() < width {
        s.push(' ');
    }
    s
}

/// The 16 ISA elements, padded to their fixed widths.
pub fn isa_elements(h: &InterchangeHeader, d: &Delimiters) -> Vec<String> {
    let isa11 = if h.version.as_str() >= "00402" {
        (d.repetition.unwrap_or(b'^') as char).to_string()
    } else {
        "U".into()
    };
    vec![
        "00".into(),
        pad("", 10),
        "00".into(),
        pad("", 10),
        pad(&h.sender_qualifier, 2),
        pad(&h.sender_id, 15),
        pad(&h.receiver_qualifier, 2),
        pad(&h.receiver_id, 15),
        pad(&h.date, 6),
        pad(&h.time, 4),
        isa11,
        pad(&h.version, 5),
        format!("{:09}", h.control_number % 1_000_000_000),
        if h.ack_requested {
            "1".into()
        } else {
            "0".into()
        },
        pad(&h.usage, 1),
        (d.component as char).to_string(),
    ]
}

/// Streams one interchange out: ISA, groups of sets, IEA, with every count and trailer computed.
pub struct InterchangeWriter<W: Write> {
    out: W,
    pub seg: SegmentWriter,
    buf: Vec<u8>,
    control: u64,
    groups: u32,
    group: Option<(String, u32)>,
    set: Option<(String, u32)>,
}

impl<W: Write> InterchangeWriter<W> {
    pub fn begin(
        out: W,
        header: &InterchangeHeader,
        seg: SegmentWriter,
    ) -> Result<Self, WriteError> {
        let mut w = InterchangeWriter {
            out,
            seg,
            buf: Vec::with_capacity(4096),
            control: header.control_number,
            groups: 0,
            group: None,
            set: None,
        };
        let els = isa_elements(header, &seg.delimiters);
        let refs: Vec<&str> = els.iter().map(String::as_str).collect();
        // The ISA keeps every element, even blank ones: it is fixed width.
        w.buf.extend_from_slice(b"ISA");
        for (i, e) in refs.iter().enumerate() {
            // ISA11 (from 00402) and ISA16 carry delimiters themselves; the rest is data.
            let carries_delimiter = i == 15 || (i == 10 && header.version.as_str() >= "00402");
            if !carries_delimiter {
                w.seg.check("ISA", i + 1, e)?;
            }
            w.buf.push(seg.delimiters.element);
            w.buf.extend_from_slice(e.as_bytes());
        }
        w.seg.end(&mut w.buf);
        w.flush_buf()?;
        Ok(w)
    }

    fn flush_buf(&mut self) -> Result<(), WriteError> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// A segment outside groups (TA1).
    pub fn envelope_segment(&mut self, id: &str, elements: &[&str]) -> Result<(), WriteError> {
        self.seg.simple(&mut self.buf, id, elements)?;
        self.flush_buf()
    }

    /// GS with GS06 = `control`; GS01..GS05, GS07, GS08 as given.
    pub fn begin_group(
        &mut self,
        gs: [&str; 5],
        control: u64,
        version: &str,
    ) -> Result<(), WriteError> {
        let ctl = control.to_string();
        self.seg.simple(
            &mut self.buf,
            "GS",
            &[gs[0], gs[1], gs[2], gs[3], gs[4], &ctl, "X", version],
        )?;
        self.group = Some((ctl, 0));
        self.groups += 1;
        self.flush_buf()
    }

    pub fn begin_set(
        &mut self,
        set_id: &str,
        control: &str,
        convention: Option<&str>,
    ) -> Result<(), WriteError> {
        let mut els = vec![set_id, control];
        if let Some(c) = convention {
            els.push(c);
        }
        self.seg.simple(&mut self.buf, "ST", &els)?;
        self.set = Some((control.to_string(), 1));
        self.flush_buf()
    }

    fn count(&mut self) {
        if let Some((_, n)) = self.set.as_mut() {
            *n += 1;
        }
    }

    pub fn simple(&mut self, id: &str, elements: &[&str]) -> Result<(), WriteError> {
        self.seg.simple(&mut self.buf, id, elements)?;
        self.count();
        self.flush_buf()
    }

    pub fn segment(&mut self, seg: &OwnedSegment) -> Result<(), WriteError> {
        self.seg.segment(&mut self.buf, seg)?;
        self.count();
        self.flush_buf()
    }

    pub fn end_set(&mut self) -> Result<(), WriteError> {
        if let Some((ctl, n)) = self.set.take() {
            self.seg
                .simple(&mut self.buf, "SE", &[&(n + 1).to_string(), &ctl])?;
            if let Some((_, sets)) = self.group.as_mut() {
                *sets += 1;
            }
        }
        self.flush_buf()
    }

    pub fn end_group(&mut self) -> Result<(), WriteError> {
        self.end_set()?;
        if let Some((ctl, n)) = self.group.take() {
            self.seg
                .simple(&mut self.buf, "GE", &[&n.to_string(), &ctl])?;
        }
        self.flush_buf()
    }

    pub fn finish(mut self) -> Result<W, WriteError> {
        self.end_group()?;
        let ctl = format!("{:09}", self.control % 1_000_000_000);
        self.seg
            .simple(&mut self.buf, "IEA", &[&self.groups.to_string(), &ctl])?;
        self.flush_buf()?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn omits_trailing_empty_elements_and_refuses_delimiters() {
        let w = SegmentWriter::new(Delimiters::default());
        let mut out = Vec::new();
        w.simple(&mut out, "REF", &["PO", "123", "", ""]).unwrap();
        assert_eq!(out, b"REF*PO*123~");
        assert!(w.simple(&mut out, "REF", &["PO", "1*2"]).is_err());
    }

    #[test]
    fn writes_an_interchange_with_counts() {
        let h = InterchangeHeader {
            sender_qualifier: "ZZ".into(),
            sender_id: "A".into(),
            receiver_qualifier: "ZZ".into(),
            receiver_id: "B".into(),
            date: "240101".into(),
            time: "1200".into(),
            version: "00401".into(),
            control_number: 7,
            ack_requested: false,
            usage: "P".into(),
        };
        let d = Delimiters {
            repetition: None,
            ..Delimiters::default()
        };
        let mut w = InterchangeWriter::begin(Vec::new(), &h, SegmentWriter::new(d)).unwrap();
        w.begin_group(["FA", "A", "B", "20240101", "1200"], 3, "004010")
            .unwrap();
        w.begin_set("997", "0001", None).unwrap();
        w.simple("AK1", &["PO", "1"]).unwrap();
        w.end_group().unwrap();
        let out = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(out.find("GS").unwrap(), 106);
        assert!(
            out.ends_with("ST*997*0001~AK1*PO*1~SE*3*0001~GE*1*3~IEA*1*000000007~"),
            "{out}"
        );
    }
}
