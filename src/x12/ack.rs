//! Acknowledgements: turns envelope and validation results into 997, 999 and TA1, streamed out
//! through the writer as sets and groups close. One ack interchange answers one inbound
//! interchange, with sender and receiver swapped and the inbound ISA12/GS08 mirrored.
//! It decides nothing about validity; it renders what `envelope` and `validate` found.

use std::io::Write;

use super::envelope::{
    AckStatus, GroupInfo, GroupResult, InterchangeResult, IsaInfo, SetResult, Sink,
};
use super::lexer::Delimiters;
use super::validate::SegmentCode;
use super::writer::{
    InterchangeHeader, InterchangeWriter, OwnedSegment, SegmentWriter, WriteError,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckKind {
    F997,
    F999,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ta1Mode {
    /// No TA1.
    Never,
    /// When ISA14 asks for one or the envelope is broken.
    Auto,
    /// A TA1 for every interchange, and nothing else.
    Only,
}

#[derive(Debug, Clone)]
pub struct AckOptions {
    /// `None` writes no functional acknowledgement (TA1 only, or nothing).
    pub kind: Option<AckKind>,
    pub ta1: Ta1Mode,
    /// AK2 loops for accepted sets (a partner setting, on by default).
    pub ak2_for_accepted: bool,
    /// Date and time stamped on the acks (YYMMDD, HHMM, CCYYMMDD).
    pub date6: String,
    pub time: String,
    pub date8: String,
}

impl AckOptions {
    pub fn new(kind: Option<AckKind>, ta1: Ta1Mode) -> Self {
        let now = chrono::Utc::now();
        AckOptions {
            kind,
            ta1,
            ak2_for_accepted: true,
            date6: now.format("%y%m%d").to_string(),
            time: now.format("%H%M").to_string(),
            date8: now.format("%Y%m%d").to_string(),
        }
    }
}

/// Hands out our outbound control numbers (ISA13 for each ack interchange, GS06 per group).
pub trait ControlNumbers {
    fn next_interchange(&mut self) -> u64;
    fn next_group(&mut self) -> u64;
}

impl<C: ControlNumbers + ?Sized> ControlNumbers for &mut C {
    fn next_interchange(&mut self) -> u64 {
        (**self).next_interchange()
    }
    fn next_group(&mut self) -> u64 {
        (**self).next_group()
    }
}

/// Simple in-process counters, for the CLI (the gateway allocates from its store).
pub struct Counter {
    pub interchange: u64,
    pub group: u64,
}

impl ControlNumbers for Counter {
    fn next_interchange(&mut self) -> u64 {
        self.interchange += 1;
        self.interchange
    }
    fn next_group(&mut self) -> u64 {
        self.group += 1;
        self.group
    }
}

struct Open<W: Write> {
    w: InterchangeWriter<W>,
    sets: u32,
}

/// A `Sink` that writes acknowledgements as results arrive.
pub struct AckWriter<W: Write, C: ControlNumbers> {
    out: Option<W>,
    opts: AckOptions,
    numbers: C,
    open: Option<Open<W>>,
    /// The inbound group being answered is itself an acknowledgement, or needs none.
    skip_group: bool,
    pub error: Option<WriteError>,
    /// Acks written: (kind, our control number) for the caller to record.
    pub written: Vec<(String, u64)>,
}

impl<W: Write, C: ControlNumbers> AckWriter<W, C> {
    pub fn new(out: W, opts: AckOptions, numbers: C) -> Self {
        AckWriter {
            out: Some(out),
            opts,
            numbers,
            open: None,
            skip_group: false,
            error: None,
            written: Vec::new(),
        }
    }

    pub fn into_inner(mut self) -> Option<W> {
        self.close_interchange();
        self.out.take()
    }

    fn delimiters(isa: &IsaInfo) -> Delimiters {
        let mut d = isa.delimiters;
        if isa.version() >= "00402" && d.repetition.is_none() {
            d.repetition = Some(
                if d.element != b'^' && d.component != b'^' && d.segment != b'^' {
                    b'^'
                } else {
                    b'!'
                },
            );
        }
        d
    }

    fn header(&mut self, isa: &IsaInfo, ack_requested: bool) -> InterchangeHeader {
        InterchangeHeader {
            sender_qualifier: isa.receiver_qualifier().to_string(),
            sender_id: isa.receiver_id().to_string(),
            receiver_qualifier: isa.sender_qualifier().to_string(),
            receiver_id: isa.sender_id().to_string(),
            date: self.opts.date6.clone(),
            time: self.opts.time.clone(),
            version: isa.version().to_string(),
            control_number: self.numbers.next_interchange(),
            ack_requested,
            usage: isa.usage().to_string(),
        }
    }

    fn fail(&mut self, e: WriteError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    fn ensure_open(&mut self, isa: &IsaInfo, gs: &GroupInfo) -> Result<(), WriteError> {
        if self.open.is_some() {
            return Ok(());
        }
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        let header = self.header(isa, false);
        let control = header.control_number;
        let mut w = InterchangeWriter::begin(
            out,
            &header,
            SegmentWriter {
                delimiters: Self::delimiters(isa),
                newline: true,
            },
        )?;
        let version = match self.opts.kind {
            Some(AckKind::F999) => "005010X231A1".to_string(),
            // A 997 mirrors GS08; with none received, the version ISA12 implies.
            _ if gs.version.is_empty() => if isa.version() >= "00501" {
                "005010"
            } else {
                "004010"
            }
            .to_string(),
            _ => gs.version.clone(),
        };
        let gs_ctl = self.numbers.next_group();
        w.begin_group(
            [
                "FA",
                &gs.receiver,
                &gs.sender,
                &self.opts.date8,
                &self.opts.time,
            ],
            gs_ctl,
            &version,
        )?;
        self.written.push(("FA".into(), control));
        self.open = Some(Open { w, sets: 0 });
        Ok(())
    }

    fn close_interchange(&mut self) {
        if let Some(open) = self.open.take() {
            match open.w.finish() {
                Ok(out) => self.out = Some(out),
                Err(e) => self.fail(e),
            }
        }
    }

    fn group_start_inner(&mut self, isa: &IsaInfo, gs: &GroupInfo) -> Result<(), WriteError> {
        // A group without a usable GS01/GS06 cannot be named in an AK1; the envelope reports
        // it as TA1 024 instead.
        let unnamed = gs.functional_id.len() != 2
            || gs.control_number.is_empty()
            || gs.control_number.len() > 9
            || !gs.control_number.bytes().all(|b| b.is_ascii_digit());
        self.skip_group = gs.functional_id == "FA" || self.opts.kind.is_none() || unnamed;
        if self.skip_group {
            return Ok(());
        }
        self.ensure_open(isa, gs)?;
        let is999 = self.opts.kind == Some(AckKind::F999);
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        open.sets += 1;
        let set_id = if is999 { "999" } else { "997" };
        let ctl = format!("{:04}", open.sets);
        let v5010 = gs.version.as_str() >= "005010";
        open.w.begin_set(
            set_id,
            &ctl,
            if is999 { Some("005010X231A1") } else { None },
        )?;
        if is999 || v5010 {
            open.w
                .simple("AK1", &[&gs.functional_id, &gs.control_number, &gs.version])?;
        } else {
            open.w
                .simple("AK1", &[&gs.functional_id, &gs.control_number])?;
        }
        Ok(())
    }

    fn set_done_inner(&mut self, gs: &GroupInfo, set: &SetResult) -> Result<(), WriteError> {
        if self.skip_group || (set.status == AckStatus::Accepted && !self.opts.ak2_for_accepted) {
            return Ok(());
        }
        let is999 = self.opts.kind == Some(AckKind::F999);
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        let d = open.w.seg.delimiters;
        let v5010 = gs.version.as_str() >= "005010";
        let set_id = ak201(&set.set_id, &gs.functional_id);
        let control = ak202(&set.control_number);
        match (&set.convention, is999 || v5010) {
            (Some(c), true) => open.w.simple("AK2", &[&set_id, &control, c])?,
            _ => open.w.simple("AK2", &[&set_id, &control])?,
        }
        let (seg3, seg4) = if is999 {
            ("IK3", "IK4")
        } else {
            ("AK3", "AK4")
        };
        for issue in &set.issues {
            let pos = issue.position.to_string();
            let code = issue.code.code().to_string();
            open.w.simple(seg3, &[&issue.segment_id, &pos, "", &code])?;
            if issue.code != SegmentCode::HasElementErrors {
                continue;
            }
            for e in issue.elements.iter().take(99) {
                // AK401/IK401 is a composite: element position, component position, and (5010)
                // repetition position.
                let mut position = vec![e.position.to_string()];
                if let Some(c) = e.component {
                    position.push(c.to_string());
                }
                if let (Some(r), true) = (e.repeat, is999 || v5010) {
                    position.resize(2, String::new());
                    position.push(r.to_string());
                }
                let reference = e
                    .element_ref
                    .as_deref()
                    .filter(|r| r.bytes().all(|b| b.is_ascii_digit()))
                    .unwrap_or("");
                let code = e.code.code().to_string();
                let value = e
                    .value
                    .as_deref()
                    .filter(|v| {
                        v.len() <= 99
                            && !v
                                .bytes()
                                .any(|b| d.is_delimiter(b) || !(0x20..0x7F).contains(&b))
                    })
                    .unwrap_or("");
                let seg = OwnedSegment {
                    id: seg4.to_string(),
                    elements: vec![
                        vec![position],
                        vec![vec![reference.to_string()]],
                        vec![vec![code]],
                        vec![vec![value.to_string()]],
                    ],
                };
                open.w.segment(&seg)?;
            }
        }
        let mut ak5: Vec<String> = vec![set.status.code().to_string()];
        ak5.extend(
            set.set_errors
                .iter()
                .take(5)
                .map(|c| (*c as u8).to_string()),
        );
        let refs: Vec<&str> = ak5.iter().map(String::as_str).collect();
        open.w.simple(if is999 { "IK5" } else { "AK5" }, &refs)?;
        Ok(())
    }

    fn group_done_inner(&mut self, r: &GroupResult) -> Result<(), WriteError> {
        if self.skip_group {
            return Ok(());
        }
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        let declared = r.declared_sets.unwrap_or(r.received_sets).to_string();
        let mut ak9 = vec![
            r.status.code().to_string(),
            declared,
            r.received_sets.to_string(),
            r.accepted_sets.to_string(),
        ];
        ak9.extend(r.errors.iter().take(5).map(|c| (*c as u8).to_string()));
        let refs: Vec<&str> = ak9.iter().map(String::as_str).collect();
        open.w.simple("AK9", &refs)?;
        open.w.end_set()
    }

    fn ta1(&mut self, isa: &IsaInfo, r: &InterchangeResult) -> Result<(), WriteError> {
        let wanted = match self.opts.ta1 {
            Ta1Mode::Never => false,
            Ta1Mode::Auto => isa.ack_requested() || !r.issues.is_empty(),
            Ta1Mode::Only => true,
        };
        // Never acknowledge an acknowledgement.
        if !wanted || (r.ta1_segments > 0 && r.groups == 0) {
            return Ok(());
        }
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        let header = self.header(isa, false);
        let control = header.control_number;
        let mut w = InterchangeWriter::begin(
            out,
            &header,
            SegmentWriter {
                delimiters: Self::delimiters(isa),
                newline: true,
            },
        )?;
        let status = match r.status {
            AckStatus::Accepted => "A",
            AckStatus::Rejected => "R",
            _ => "E",
        };
        let code = format!("{:03}", r.note_code);
        w.envelope_segment(
            "TA1",
            &[isa.control_number(), isa.date(), isa.time(), status, &code],
        )?;
        self.out = Some(w.finish()?);
        self.written.push(("TA1".into(), control));
        Ok(())
    }
}

impl<W: Write, C: ControlNumbers> Sink for AckWriter<W, C> {
    fn wants_segments(&self) -> bool {
        false
    }

    fn group_start(&mut self, isa: &IsaInfo, gs: &GroupInfo) {
        if let Err(e) = self.group_start_inner(isa, gs) {
            self.fail(e);
        }
    }

    fn set_done(&mut self, _isa: &IsaInfo, gs: &GroupInfo, set: &SetResult) {
        if let Err(e) = self.set_done_inner(gs, set) {
            self.fail(e);
        }
    }

    fn group_done(&mut self, _isa: &IsaInfo, _gs: &GroupInfo, r: &GroupResult) {
        if let Err(e) = self.group_done_inner(r) {
            self.fail(e);
        }
    }

    fn interchange_done(&mut self, isa: &IsaInfo, r: &InterchangeResult) {
        self.close_interchange();
        if let Err(e) = self.ta1(isa, r) {
            self.fail(e);
        }
    }
}

/// AK201 for a received ST01. An ST01 that is not three characters (AK502 6) cannot be echoed
/// in a valid AK2, so the set the group's GS01 carries stands in for it.
fn ak201(st01: &str, gs01: &str) -> String {
    if st01.len() == 3 && st01.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return st01.to_string();
    }
    match gs01 {
        "PO" => "850",
        "PR" => "855",
        "SH" => "856",
        "IN" => "810",
        "FA" => "997",
        _ => "000",
    }
    .to_string()
}

/// AK202 for a received ST02. A short numeric ST02 (AK502 7) is zero-padded to the minimum
/// width, which keeps it numerically equal; a long one is cut to the maximum, blank is zeros.
fn ak202(st02: &str) -> String {
    let clean: String = st02
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(9)
        .collect();
    if clean.len() >= 4 {
        clean
    } else {
        format!("{clean:0>4}")
    }
}

/// Two sinks fed the same results (a report and an ack writer, say).
pub struct Tee<A, B>(pub A, pub B);

impl<A: Sink, B: Sink> Sink for Tee<A, B> {
    fn wants_segments(&self) -> bool {
        self.0.wants_segments() || self.1.wants_segments()
    }
    fn interchange_start(&mut self, isa: &IsaInfo) {
        self.0.interchange_start(isa);
        self.1.interchange_start(isa);
    }
    fn group_start(&mut self, isa: &IsaInfo, gs: &GroupInfo) {
        self.0.group_start(isa, gs);
        self.1.group_start(isa, gs);
    }
    fn set_segment(&mut self, seg: &super::reader::Segment<'_>, position: u32, loop_path: &str) {
        self.0.set_segment(seg, position, loop_path);
        self.1.set_segment(seg, position, loop_path);
    }
    fn set_done(&mut self, isa: &IsaInfo, gs: &GroupInfo, set: &SetResult) {
        self.0.set_done(isa, gs, set);
        self.1.set_done(isa, gs, set);
    }
    fn group_done(&mut self, isa: &IsaInfo, gs: &GroupInfo, r: &GroupResult) {
        self.0.group_done(isa, gs, r);
        self.1.group_done(isa, gs, r);
    }
    fn interchange_done(&mut self, isa: &IsaInfo, r: &InterchangeResult) {
        self.0.interchange_done(isa, r);
        self.1.interchange_done(isa, r);
    }
    fn problem(&mut self, p: &super::envelope::FileProblem) {
        self.0.problem(p);
        self.1.problem(p);
    }
}
