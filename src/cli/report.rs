//! Validation reports for people (text) and machines (JSON lines), written as results arrive.

use std::io::Write;

use serde_json::json;

use crate::x12::envelope::{
    AckStatus, FileProblem, GroupInfo, GroupResult, InterchangeResult, IsaInfo, SetResult, Sink,
};

pub struct Report<W: Write> {
    pub out: W,
    pub file: String,
    pub json: bool,
    /// Accepted sets are listed one per line up to this many per group, then only counted.
    pub list_accepted: u32,
    listed: u32,
}

impl<W: Write> Report<W> {
    pub fn new(out: W, file: String, json: bool) -> Self {
        Report {
            out,
            file,
            json,
            list_accepted: 50,
            listed: 0,
        }
    }
}

fn status_word(s: AckStatus) -> &'static str {
    match s {
        AckStatus::Accepted => "accepted",
        AckStatus::AcceptedWithErrors => "accepted with errors",
        AckStatus::PartiallyAccepted => "partially accepted",
        AckStatus::Rejected => "rejected",
    }
}

impl<W: Write> Report<W> {
    /// `    set 850 0001 at byte 163: accepted [AK5 5]`, written piece by piece: one such line
    /// (and its warnings) per set of a large file, and `write!` cost ~1,500 instructions each.
    fn set_line(&mut self, set: &SetResult) -> std::io::Result<()> {
        let out = &mut self.out;
        out.write_all(b"    set ")?;
        out.write_all(set.set_id.as_bytes())?;
        out.write_all(b" ")?;
        out.write_all(set.control_number.as_bytes())?;
        out.write_all(b" at byte ")?;
        out.write_all(itoa::Buffer::new().format(set.offset).as_bytes())?;
        out.write_all(b": ")?;
        out.write_all(status_word(set.status).as_bytes())?;
        for (n, c) in set.set_errors.iter().enumerate() {
            out.write_all(if n == 0 { b" [AK5 " } else { b"," })?;
            out.write_all(itoa::Buffer::new().format(*c as u8).as_bytes())?;
        }
        if !set.set_errors.is_empty() {
            out.write_all(b"]")?;
        }
        out.write_all(b"\n")
    }
}

impl<W: Write> Sink for Report<W> {
    fn wants_segments(&self) -> bool {
        false
    }

    fn interchange_start(&mut self, isa: &IsaInfo) {
        if !self.json {
            let _ = writeln!(
                self.out,
                "{}: interchange {} from {}:{} to {}:{} (ISA12 {}, {}) at byte {}",
                self.file,
                isa.control_number(),
                isa.sender_qualifier(),
                isa.sender_id(),
                isa.receiver_qualifier(),
                isa.receiver_id(),
                isa.version(),
                if isa.usage() == "T" {
                    "test"
                } else {
                    "production"
                },
                isa.offset
            );
        }
    }

    fn group_start(&mut self, _isa: &IsaInfo, gs: &GroupInfo) {
        self.listed = 0;
        if !self.json {
            let _ = writeln!(
                self.out,
                "  group {} {} (GS08 {}) at byte {}",
                gs.functional_id, gs.control_number, gs.version, gs.offset
            );
        }
    }

    fn set_done(&mut self, isa: &IsaInfo, gs: &GroupInfo, set: &SetResult) {
        if self.json {
            let errors: Vec<_> = set
                .issues
                .iter()
                .flat_map(|i| {
                    let seg = json!({
                        "level": "segment", "code": i.code.code(), "segment_id": i.segment_id,
                        "segment_position": i.position, "offset": i.offset, "message": i.message,
                    });
                    std::iter::once(seg).chain(i.elements.iter().map(move |e| {
                        json!({
                            "level": "element", "code": e.code.code(), "segment_id": i.segment_id,
                            "segment_position": i.position, "offset": i.offset, "element": e.position,
                            "component": e.component, "repeat": e.repeat, "element_ref": e.element_ref,
                            "value": e.value, "message": e.message,
                        })
                    }))
                })
                .chain(set.set_errors.iter().map(|c| json!({ "level": "set", "code": *c as u8, "offset": set.offset })))
                .collect();
            let rec = json!({
                "file": self.file, "format": "x12", "interchange": isa.control_number(), "group": gs.control_number,
                "set": set.control_number, "set_id": set.set_id, "version": gs.version, "offset": set.offset,
                "status": set.status.code(), "errors": errors, "warnings": set.warnings,
            });
            let _ = writeln!(self.out, "{rec}");
            return;
        }
        let clean = set.status == AckStatus::Accepted && set.warnings.is_empty();
        if clean {
            self.listed += 1;
            if self.listed > self.list_accepted {
                return;
            }
        }
        let _ = self.set_line(set);
        for i in &set.issues {
            let _ = writeln!(
                self.out,
                "      segment {} {} at byte {}: AK304 {}: {}",
                i.position,
                i.segment_id,
                i.offset,
                i.code.code(),
                i.message
            );
            for e in &i.elements {
                let comp = e.component.map(|c| format!("-{c}")).unwrap_or_default();
                let _ = writeln!(
                    self.out,
                    "        {}{:02}{comp}: AK403 {}: {}",
                    i.segment_id,
                    e.position,
                    e.code.code(),
                    e.message
                );
            }
        }
        if set.truncated {
            let _ = writeln!(self.out, "      (more findings were not kept)");
        }
        for w in &set.warnings {
            let _ = self.out.write_all(b"      warning: ");
            let _ = self.out.write_all(w.as_bytes());
            let _ = self.out.write_all(b"\n");
        }
    }

    fn group_done(&mut self, _isa: &IsaInfo, gs: &GroupInfo, r: &GroupResult) {
        if self.json {
            if !r.errors.is_empty() {
                let rec = json!({ "file": self.file, "format": "x12", "group": gs.control_number, "level": "group",
                    "status": r.status.code(), "errors": r.errors.iter().map(|c| *c as u8).collect::<Vec<_>>(), "messages": r.messages });
                let _ = writeln!(self.out, "{rec}");
            }
            return;
        }
        if self.listed > self.list_accepted {
            let _ = writeln!(
                self.out,
                "    ... and {} more accepted sets",
                self.listed - self.list_accepted
            );
        }
        let codes: Vec<String> = r.errors.iter().map(|c| (*c as u8).to_string()).collect();
        let _ = writeln!(
            self.out,
            "  group {}: {}, {} of {} sets accepted{}",
            gs.control_number,
            status_word(r.status),
            r.accepted_sets,
            r.received_sets,
            if codes.is_empty() {
                String::new()
            } else {
                format!(" [AK9 {}]", codes.join(","))
            }
        );
        for m in &r.messages {
            let _ = writeln!(self.out, "    {m}");
        }
    }

    fn interchange_done(&mut self, isa: &IsaInfo, r: &InterchangeResult) {
        if self.json {
            if !r.issues.is_empty() || !r.warnings.is_empty() {
                let rec = json!({ "file": self.file, "format": "x12", "interchange": isa.control_number(), "level": "interchange",
                    "status": r.status.code(), "ta1_code": format!("{:03}", r.note_code),
                    "errors": r.issues.iter().map(|i| json!({"code": format!("{:03}", i.ta1_code), "offset": i.offset, "message": i.message})).collect::<Vec<_>>(),
                    "warnings": r.warnings });
                let _ = writeln!(self.out, "{rec}");
            }
            return;
        }
        for i in &r.issues {
            let _ = writeln!(
                self.out,
                "  interchange error at byte {}: TA1 {:03}: {}",
                i.offset, i.ta1_code, i.message
            );
        }
        for w in &r.warnings {
            let _ = writeln!(self.out, "  warning: {w}");
        }
        let _ = writeln!(
            self.out,
            "  interchange {}: {}",
            isa.control_number(),
            status_word(r.status)
        );
    }

    fn problem(&mut self, p: &FileProblem) {
        if self.json {
            let rec = json!({ "file": self.file, "format": "x12", "level": "file", "status": "R", "offset": p.offset, "message": p.message });
            let _ = writeln!(self.out, "{rec}");
        } else {
            let _ = writeln!(self.out, "{}: {}", self.file, p.message);
        }
    }
}
