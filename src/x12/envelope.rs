//! Envelopes: groups the reader's segments into interchange → functional group → transaction
//! set, checks control numbers, counts and ISA fixed fields, picks each set's grammar by GS08,
//! drives the `validate` walker (inline, or on worker threads through `offload` when the sink
//! needs no segments), and reports results to a `Sink` as each set, group and
//! interchange closes. Memory is bounded by one set's findings, whatever the file size.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::{self, Read};

use serde::Serialize;

use super::grammar::{Grammars, SetGrammar, VersionGrammar};
use super::lexer::{self, Delimiters};
use super::offload::{Outcome, Parallel, Pool, SetContext, SetOutput, SetWork, Ticket};
use super::reader::{Item, ReaderNote, Segment, SegmentReader};
use super::validate::{Leniency, SegmentIssue, SetWalker};

/// Acknowledgement status of a set (AK501), group (AK901) or interchange (TA104).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AckStatus {
    #[serde(rename = "A")]
    Accepted,
    #[serde(rename = "E")]
    AcceptedWithErrors,
    #[serde(rename = "P")]
    PartiallyAccepted,
    #[serde(rename = "R")]
    Rejected,
}

impl AckStatus {
    pub fn code(self) -> &'static str {
        match self {
            AckStatus::Accepted => "A",
            AckStatus::AcceptedWithErrors => "E",
            AckStatus::PartiallyAccepted => "P",
            AckStatus::Rejected => "R",
        }
    }
    pub fn is_accepted(self) -> bool {
        matches!(self, AckStatus::Accepted | AckStatus::AcceptedWithErrors)
    }
}

/// Transaction-set level error codes (AK502..AK506 / IK502..).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SetCode {
    NotSupported = 1,
    TrailerMissing = 2,
    ControlNumberMismatch = 3,
    CountMismatch = 4,
    SegmentsInError = 5,
    BadSetId = 6,
    BadControlNumber = 7,
    NotInGroup = 18,
    DuplicateControlNumber = 23,
}

/// Functional-group level error codes (AK905..AK909).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum GroupCode {
    NotSupported = 1,
    VersionNotSupported = 2,
    TrailerMissing = 3,
    ControlNumberMismatch = 4,
    CountMismatch = 5,
    BadControlNumber = 6,
    DuplicateControlNumber = 19,
}

/// An interchange-level finding with its TA105 note code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvelopeIssue {
    pub ta1_code: u16,
    pub offset: u64,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct IsaInfo {
    pub offset: u64,
    /// ISA01..ISA16 as received (padding kept).
    pub fields: Vec<String>,
    #[serde(skip)]
    pub delimiters: Delimiters,
}

impl IsaInfo {
    fn field(&self, n: usize) -> &str {
        self.fields.get(n - 1).map(String::as_str).unwrap_or("")
    }
    pub fn sender_qualifier(&self) -> &str {
        self.field(5).trim()
    }
    pub fn sender_id(&self) -> &str {
        self.field(6).trim()
    }
    pub fn receiver_qualifier(&self) -> &str {
        self.field(7).trim()
    }
    pub fn receiver_id(&self) -> &str {
        self.field(8).trim()
    }
    pub fn date(&self) -> &str {
        self.field(9)
    }
    pub fn time(&self) -> &str {
        self.field(10)
    }
    pub fn version(&self) -> &str {
        self.field(12)
    }
    pub fn control_number(&self) -> &str {
        self.field(13)
    }
    pub fn ack_requested(&self) -> bool {
        self.field(14) == "1"
    }
    pub fn usage(&self) -> &str {
        self.field(15)
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupInfo {
    pub offset: u64,
    pub functional_id: String,
    pub sender: String,
    pub receiver: String,
    pub date: String,
    pub time: String,
    pub control_number: String,
    pub agency: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SetResult {
    pub offset: u64,
    pub set_id: String,
    pub control_number: String,
    pub convention: Option<String>,
    pub segment_count: u32,
    pub status: AckStatus,
    pub set_errors: Vec<SetCode>,
    pub issues: Vec<SegmentIssue>,
    pub warnings: Vec<String>,
    /// More findings than `MAX_ISSUES` were dropped.
    pub truncated: bool,
}

impl SetResult {
    /// Why the set is not accepted, in one line: its first segment finding, else its first
    /// warning (a set rejected as a whole, such as one we ship no grammar for, has no segment
    /// finding).
    pub fn first_finding(&self) -> Option<String> {
        self.issues
            .first()
            .map(|i| format!("segment {} {}: {}", i.position, i.segment_id, i.message))
            .or_else(|| self.warnings.first().cloned())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupResult {
    pub status: AckStatus,
    /// GE01 as received, when the GE was there and numeric.
    pub declared_sets: Option<u32>,
    pub received_sets: u32,
    pub accepted_sets: u32,
    pub errors: Vec<GroupCode>,
    pub messages: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InterchangeResult {
    pub status: AckStatus,
    /// TA105: the first finding's note code, 000 when there is none.
    pub note_code: u16,
    pub issues: Vec<EnvelopeIssue>,
    pub warnings: Vec<String>,
    pub groups: u32,
    /// TA1 segments carried by this interchange (it is an acknowledgement itself).
    pub ta1_segments: u32,
}

/// Problems with bytes that belong to no interchange.
#[derive(Debug, Clone, Serialize)]
pub struct FileProblem {
    pub offset: u64,
    pub message: String,
}

/// Receives results as the engine closes sets, groups and interchanges.
#[allow(unused_variables)]
pub trait Sink {
    fn interchange_start(&mut self, isa: &IsaInfo) {}
    fn group_start(&mut self, isa: &IsaInfo, gs: &GroupInfo) {}
    /// Every segment of a set, ST to SE, as it is read (for collectors such as translate).
    fn set_segment(&mut self, seg: &Segment<'_>, position: u32, loop_path: &str) {}
    fn set_done(&mut self, isa: &IsaInfo, gs: &GroupInfo, set: &SetResult) {}
    /// `set_done` with what a `SetWork` made of the set (`check_work`); the default drops it.
    fn set_done_with(
        &mut self,
        isa: &IsaInfo,
        gs: &GroupInfo,
        set: &SetResult,
        output: Option<SetOutput>,
    ) {
        let _ = output;
        self.set_done(isa, gs, set);
    }
    fn group_done(&mut self, isa: &IsaInfo, gs: &GroupInfo, result: &GroupResult) {}
    fn interchange_done(&mut self, isa: &IsaInfo, result: &InterchangeResult) {}
    fn problem(&mut self, problem: &FileProblem) {}
    /// Whether `set_segment` matters to this sink. A sink that answers false lets `check` walk
    /// sets on worker threads (it then gets no `set_segment` calls with a loop path).
    fn wants_segments(&self) -> bool {
        true
    }
}

/// Totals over a whole input.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub interchanges: u32,
    pub groups: u32,
    pub sets: u64,
    pub sets_accepted: u64,
    pub sets_with_errors: u64,
    pub sets_rejected: u64,
    pub interchange_errors: u32,
    pub problems: u32,
}

impl Summary {
    /// Everything was accepted without any error.
    pub fn clean(&self) -> bool {
        self.interchanges > 0
            && self.sets_rejected == 0
            && self.sets_with_errors == 0
            && self.interchange_errors == 0
            && self.problems == 0
    }
}

/// Control numbers seen in one parent. Digit strings of one length are kept as intervals (for
/// them string equality is numeric equality), so a group of a million sequentially numbered
/// sets costs a few bytes, not a million strings.
#[derive(Default)]
struct IdSet {
    /// Per digit count (the index), the runs seen, `lo -> hi`. Runs never touch: a number
    /// joining two runs merges them.
    ranges: Vec<BTreeMap<u64, u64>>,
    other: HashSet<String>,
    /// The run the last number went into, as (digit count, lo, hi): numbers mostly come in
    /// sequence, and the next one extends that run without a search for its neighbour below.
    last: Option<(usize, u64, u64)>,
}

impl IdSet {
    /// Inserts; returns false when it was already there.
    fn insert(&mut self, v: &str) -> bool {
        let n = match v.parse::<u64>() {
            Ok(n) if v.len() < 19 && all_digits(v) => n,
            _ => return self.other.insert(v.to_string()),
        };
        let len = v.len();
        if self.ranges.len() <= len {
            self.ranges.resize_with(len + 1, BTreeMap::new);
        }
        let ranges = &mut self.ranges[len];
        let mut lo = n;
        let mut hi = n;
        match self.last {
            // One past a run: in no run (runs never touch), and that run is the one below.
            Some((l, run_lo, run_hi)) if l == len && run_hi.checked_add(1) == Some(n) => {
                lo = run_lo;
            }
            _ => {
                if let Some((&l, &h)) = ranges.range(..=n).next_back() {
                    if n <= h {
                        return false;
                    }
                    if n == h + 1 {
                        lo = l;
                    }
                }
            }
        }
        if let Some(next_hi) = ranges.remove(&(n + 1)) {
            hi = next_hi;
        }
        ranges.insert(lo, hi);
        self.last = Some((len, lo, hi));
        true
    }
}

struct Ic {
    info: IsaInfo,
    issues: Vec<EnvelopeIssue>,
    warnings: Vec<String>,
    groups: u32,
    ta1_segments: u32,
    group_controls: IdSet,
}

struct Grp<'g> {
    info: GroupInfo,
    version: Option<&'g VersionGrammar>,
    sets: u32,
    accepted: u32,
    rejected: u32,
    with_errors: u32,
    errors: Vec<GroupCode>,
    messages: Vec<String>,
    set_controls: IdSet,
}

struct SetState<'g> {
    offset: u64,
    set_id: String,
    control: String,
    convention: Option<String>,
    count: u32,
    errors: Vec<SetCode>,
    walk: Walk<'g>,
    grammar_note: Option<String>,
}

/// Who walks a set through its grammar.
enum Walk<'g> {
    /// No grammar: nothing to walk.
    None,
    /// This thread, segment by segment.
    Inline(Box<SetWalker<'g>>),
    /// A worker, from the segments recorded in the pool.
    Deferred,
}

/// A closed set whose outcome is not taken yet; sets are reported strictly in order.
struct Pending<'g> {
    set: SetState<'g>,
    outcome: Source,
}

enum Source {
    Ready(Option<Outcome>),
    Worker(Ticket),
}

/// The envelope state machine. Feed it with `check`, or item by item with `item` + `finish`.
pub struct Engine<'g, S> {
    grammars: &'g Grammars,
    lenient: Leniency,
    pub sink: S,
    ic: Option<Ic>,
    group: Option<Grp<'g>>,
    set: Option<SetState<'g>>,
    pub summary: Summary,
    /// Bytes outside interchanges seen since the last one (reported once).
    stray_reported: bool,
    /// The last item was an unusable ISA: the bytes up to the next ISA belong to it.
    after_bad_header: bool,
    /// Set walks on worker threads (`check_with`); `None` walks every set inline.
    pool: Option<Pool<'g>>,
    pending: VecDeque<Pending<'g>>,
    max_set_bytes: usize,
    /// The current group's envelope for `SetWork`s, made at its first set.
    ctx: Option<std::sync::Arc<SetContext>>,
}

/// Checks everything in `input`, streaming. Returns the sink and the totals. Sets are walked on
/// the other cores when the sink does not need each segment (`Sink::wants_segments`).
pub fn check<R: Read, S: Sink>(
    input: R,
    grammars: &Grammars,
    lenient: Leniency,
    sink: S,
) -> io::Result<(S, Summary)> {
    check_with(input, grammars, lenient, sink, Parallel::auto())
}

/// `check` with an explicit threading choice. Results are identical whatever `parallel` says;
/// a sink that wants segments is always fed inline.
pub fn check_with<R: Read, S: Sink>(
    input: R,
    grammars: &Grammars,
    lenient: Leniency,
    sink: S,
    parallel: Parallel,
) -> io::Result<(S, Summary)> {
    if parallel.workers == 0 || sink.wants_segments() {
        return run(input, Engine::new(grammars, lenient, sink));
    }
    std::thread::scope(|scope| {
        let mut engine = Engine::new(grammars, lenient, sink);
        engine.pool = Some(Pool::start(scope, parallel, None));
        engine.max_set_bytes = parallel.max_set_bytes;
        // Dropping the pool (inside `run`, with the engine) ends the workers before the scope joins.
        run(input, engine)
    })
}

/// `check` with `work` run on worker threads for every accepted set (see `SetWork`); the sink
/// gets its output through `Sink::set_done_with`, in set order. At least one worker runs
/// whatever `parallel` says, and no set is walked on this thread (it would not be held), so a
/// set is held in memory whole however large it is, as a collecting sink would hold it.
pub fn check_work<'g, R: Read, S: Sink>(
    input: R,
    grammars: &'g Grammars,
    lenient: Leniency,
    sink: S,
    parallel: Parallel,
    work: &'g dyn SetWork,
) -> io::Result<(S, Summary)> {
    let parallel = Parallel {
        workers: parallel.workers.max(1),
        max_set_bytes: usize::MAX,
        ..parallel
    };
    std::thread::scope(|scope| {
        let mut engine = Engine::new(grammars, lenient, sink);
        engine.pool = Some(Pool::start(scope, parallel, Some(work)));
        // Dropping the pool (inside `run`, with the engine) ends the workers before the scope joins.
        run(input, engine)
    })
}

fn run<R: Read, S: Sink>(input: R, mut engine: Engine<'_, S>) -> io::Result<(S, Summary)> {
    let mut reader = SegmentReader::new(input);
    while let Some(item) = reader.next_item()? {
        engine.item(item);
        if !reader.has_notes() {
            continue;
        }
        if let Some(ic) = engine.ic.as_mut() {
            for note in reader.take_notes() {
                ic.warnings.push(describe_note(&note));
            }
        }
    }
    engine.finish(reader.position());
    Ok((engine.sink, engine.summary))
}

fn describe_note(note: &ReaderNote) -> String {
    match note {
        ReaderNote::WhitespaceBetweenSegments { offset } => {
            format!("byte {offset}: spaces or tabs between segments were skipped")
        }
        ReaderNote::HardWrapped { offset } => {
            format!("byte {offset}: the interchange is hard-wrapped; line breaks inside segments were removed")
        }
        ReaderNote::SpacesBeforeLineEnd { offset } => format!(
            "byte {offset}: segments end with spaces before the line end; the line end was read as the segment terminator"
        ),
        ReaderNote::RepetitionSeparatorIsLetter { offset } => format!(
            "byte {offset}: ISA11 is a letter although ISA12 calls for a repetition separator; read as no repetition separator"
        ),
    }
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

fn all_digits(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

const ISA_WIDTHS: [usize; 16] = [2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1];
const ISA_WIDTH_CODES: [u16; 16] = [10, 11, 12, 13, 5, 6, 7, 8, 14, 15, 16, 17, 18, 19, 20, 27];
const ID_QUALIFIERS: &[&str] = &[
    "01", "02", "03", "04", "07", "08", "09", "10", "11", "12", "13", "14", "15", "16", "17", "18",
    "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "32", "33", "34",
    "35", "36", "37", "38", "AM", "NR", "SA", "SN", "ZZ",
];

impl<'g, S: Sink> Engine<'g, S> {
    pub fn new(grammars: &'g Grammars, lenient: Leniency, sink: S) -> Self {
        Engine {
            grammars,
            lenient,
            sink,
            ic: None,
            group: None,
            set: None,
            summary: Summary::default(),
            stray_reported: false,
            after_bad_header: false,
            pool: None,
            pending: VecDeque::new(),
            max_set_bytes: usize::MAX,
            ctx: None,
        }
    }

    fn problem(&mut self, offset: u64, message: String) {
        self.drain();
        self.summary.problems += 1;
        self.sink.problem(&FileProblem { offset, message });
    }

    /// An ISA whose delimiters are unusable but whose fixed-width fields could be read: the
    /// interchange is rejected as a whole (TA1 026/027/004) and nothing inside it is read.
    fn unreadable_interchange(
        &mut self,
        offset: u64,
        error: &super::lexer::HeaderError,
        fields: Vec<String>,
    ) {
        let info = IsaInfo {
            offset,
            fields,
            delimiters: Delimiters::default(),
        };
        self.summary.interchanges += 1;
        self.summary.interchange_errors += 1;
        self.stray_reported = false;
        self.sink.interchange_start(&info);
        let result = InterchangeResult {
            status: AckStatus::Rejected,
            note_code: error.ta1_code(),
            issues: vec![EnvelopeIssue {
                ta1_code: error.ta1_code(),
                offset,
                message: format!("ISA at byte {offset} is unusable: {error}"),
            }],
            warnings: Vec::new(),
            groups: 0,
            ta1_segments: 0,
        };
        self.sink.interchange_done(&info, &result);
    }

    fn ic_issue(&mut self, ta1_code: u16, offset: u64, message: String) {
        if let Some(ic) = self.ic.as_mut() {
            ic.issues.push(EnvelopeIssue {
                ta1_code,
                offset,
                message,
            });
        }
    }

    pub fn item(&mut self, item: Item<'_>) {
        match item {
            Item::Garbage { offset, len } => {
                self.close_interchange(offset, true);
                // The rest of an interchange whose header was unusable: already reported.
                if !std::mem::take(&mut self.after_bad_header) {
                    self.problem(offset, format!("{len} bytes at byte {offset} are not X12 (no ISA header where one was expected)"));
                }
            }
            Item::BadHeader {
                offset,
                error,
                fields,
            } => {
                self.close_interchange(offset, true);
                self.after_bad_header = true;
                if fields.len() == 16 {
                    self.unreadable_interchange(offset, &error, fields);
                } else {
                    self.problem(
                        offset,
                        format!("ISA at byte {offset} is unreadable: {error}"),
                    );
                }
            }
            Item::Segment(seg) => {
                self.after_bad_header = false;
                self.segment(seg)
            }
        }
    }

    fn segment(&mut self, seg: Segment<'_>) {
        let id = seg.id();
        if id == b"ISA" {
            self.close_interchange(seg.offset, true);
            self.open_interchange(&seg);
            return;
        }
        if self.ic.is_none() {
            if !self.stray_reported {
                self.stray_reported = true;
                self.problem(
                    seg.offset,
                    format!(
                        "segment {} at byte {} is outside any interchange",
                        text(id),
                        seg.offset
                    ),
                );
            }
            return;
        }
        if seg.unterminated && !self.lenient.missing_final_terminator {
            self.ic_issue(
                23,
                seg.offset,
                format!(
                    "the last segment ({}) at byte {} has no segment terminator",
                    text(id),
                    seg.offset
                ),
            );
        }
        match id {
            b"IEA" => self.iea(&seg),
            b"GS" => self.gs(&seg),
            b"GE" => self.ge(&seg),
            b"ST" => self.st(&seg),
            b"SE" => self.se(&seg),
            b"TA1" if self.group.is_none() => self.ta1(&seg),
            _ => match self.set.as_mut() {
                Some(set) => {
                    set.count += 1;
                    let position = set.count;
                    let mut path = "";
                    match &mut set.walk {
                        Walk::Inline(w) => {
                            w.segment(seg.raw, &seg.delimiters, position, seg.offset);
                            path = w.loop_path();
                        }
                        Walk::Deferred => {
                            if let Some(pool) = self.pool.as_mut() {
                                pool.segment(seg.raw, position, seg.offset);
                                if pool.current_set_bytes() > self.max_set_bytes {
                                    // Too large to copy: walk the rest of it here.
                                    set.walk = pool
                                        .take_back()
                                        .map_or(Walk::None, |w| Walk::Inline(Box::new(w)));
                                }
                            }
                        }
                        Walk::None => {}
                    }
                    self.sink.set_segment(&seg, position, path);
                }
                None => {
                    let msg = format!(
                        "segment {} at byte {} is outside a transaction set",
                        text(id),
                        seg.offset
                    );
                    self.ic_issue(22, seg.offset, msg);
                }
            },
        }
    }

    /// A TA1 carried by this interchange: counted (acks are never acknowledged) and its
    /// elements checked against the dictionary nearest to ISA12, since a malformed TA1 is as
    /// useless to the partner as a malformed document.
    fn ta1(&mut self, seg: &Segment<'_>) {
        let Some(ic) = self.ic.as_mut() else { return };
        ic.ta1_segments += 1;
        let version = if ic.info.version() >= "00501" {
            "005010"
        } else {
            "004010"
        };
        let dict = self
            .grammars
            .named(version)
            .or_else(|| self.grammars.first())
            .map(|v| &v.dict);
        let Some((dict, def)) = dict.and_then(|d| d.segment(b"TA1").map(|def| (d, def))) else {
            return;
        };
        let mut warnings = Vec::new();
        let mut seen = super::validate::SeenSet::default();
        let issue = super::validate::check_elements(
            dict,
            def,
            seg.raw,
            &seg.delimiters,
            self.lenient,
            0,
            seg.offset,
            &mut super::validate::Warnings {
                list: &mut warnings,
                seen: &mut seen,
                flagged: false,
            },
            super::lexer::elements(seg.raw, &seg.delimiters),
        );
        if let Some(issue) = issue {
            let detail: Vec<String> = issue
                .elements
                .iter()
                .map(|e| format!("AK403 {}: {}", e.code.code(), e.message))
                .collect();
            ic.issues.push(EnvelopeIssue {
                ta1_code: 24,
                offset: seg.offset,
                message: format!(
                    "TA1 at byte {} is malformed: {}",
                    seg.offset,
                    detail.join("; ")
                ),
            });
        }
        ic.warnings.extend(warnings);
    }

    fn open_interchange(&mut self, seg: &Segment<'_>) {
        let d = seg.delimiters;
        let fields: Vec<String> = lexer::elements(seg.raw, &d).map(text).collect();
        let info = IsaInfo {
            offset: seg.offset,
            fields,
            delimiters: d,
        };
        let mut issues = Vec::new();
        let mut warnings = Vec::new();
        let off = seg.offset;
        let mut bad = |code: u16, msg: String| {
            issues.push(EnvelopeIssue {
                ta1_code: code,
                offset: off,
                message: msg,
            })
        };
        if info.fields.len() != 16 {
            bad(
                22,
                format!("ISA has {} elements, expected 16", info.fields.len()),
            );
        }
        for (i, f) in info.fields.iter().enumerate().take(16) {
            let want = ISA_WIDTHS[i];
            if f.len() != want {
                let padding_only = matches!(i, 1 | 3 | 5 | 7) && f.len() < want;
                if padding_only && self.lenient.unpadded_isa {
                    warnings.push(format!(
                        "ISA{:02} is {} characters, not padded to {want}",
                        i + 1,
                        f.len()
                    ));
                } else {
                    bad(
                        ISA_WIDTH_CODES[i],
                        format!(
                            "ISA{:02} `{f}` is {} characters wide, expected exactly {want}",
                            i + 1,
                            f.len()
                        ),
                    );
                }
            }
        }
        let version = info.version().to_string();
        if !["00", "01", "02", "03", "04", "05", "06"].contains(&info.field(1)) {
            bad(
                10,
                format!(
                    "ISA01 `{}` is not an authorization qualifier (00-06)",
                    info.field(1)
                ),
            );
        }
        if !["00", "01"].contains(&info.field(3)) {
            bad(
                12,
                format!(
                    "ISA03 `{}` is not a security qualifier (00 or 01)",
                    info.field(3)
                ),
            );
        }
        if !ID_QUALIFIERS.contains(&info.field(5)) {
            bad(
                5,
                format!(
                    "ISA05 `{}` is not an interchange id qualifier",
                    info.field(5)
                ),
            );
        }
        if info.sender_id().is_empty() {
            bad(6, "ISA06 sender id is blank".into());
        }
        if !ID_QUALIFIERS.contains(&info.field(7)) {
            bad(
                7,
                format!(
                    "ISA07 `{}` is not an interchange id qualifier",
                    info.field(7)
                ),
            );
        }
        if info.receiver_id().is_empty() {
            bad(8, "ISA08 receiver id is blank".into());
        }
        if info.field(9).len() == 6 && !super::validate::date_ok(info.field(9).as_bytes()) {
            bad(
                14,
                format!("ISA09 `{}` is not a valid YYMMDD date", info.field(9)),
            );
        }
        if info.field(10).len() == 4 && !super::validate::time_ok(info.field(10).as_bytes()) {
            bad(
                15,
                format!("ISA10 `{}` is not a valid HHMM time", info.field(10)),
            );
        }
        let pre_402 = version.as_str() < "00402";
        if pre_402 && info.field(11) != "U" && info.field(11).len() == 1 {
            bad(
                16,
                format!(
                    "ISA11 `{}` must be the standards identifier U before version 00402",
                    info.field(11)
                ),
            );
        }
        if version.len() == 5 && !all_digits(&version) {
            bad(
                17,
                format!("ISA12 `{version}` is not a control version number"),
            );
        } else if !(version.starts_with("002")
            || version.starts_with("003")
            || version.starts_with("004")
            || version.starts_with("005")
            || version.starts_with("006")
            || version.starts_with("007")
            || version.starts_with("008"))
        {
            warnings.push(format!(
                "ISA12 `{version}` is not a published control version"
            ));
        }
        if info.field(13).len() == 9 && !all_digits(info.field(13)) {
            bad(
                18,
                format!(
                    "ISA13 `{}` is not a nine-digit control number",
                    info.field(13)
                ),
            );
        }
        if !["0", "1"].contains(&info.field(14)) {
            bad(19, format!("ISA14 `{}` must be 0 or 1", info.field(14)));
        }
        let usages: &[&str] = if version.as_str() >= "00501" {
            &["P", "T", "I"]
        } else {
            &["P", "T"]
        };
        if !usages.contains(&info.field(15)) {
            bad(
                20,
                format!(
                    "ISA15 `{}` must be one of {}",
                    info.field(15),
                    usages.join(", ")
                ),
            );
        }
        self.summary.interchanges += 1;
        self.stray_reported = false;
        self.ctx = None;
        self.sink.interchange_start(&info);
        self.ic = Some(Ic {
            info,
            issues,
            warnings,
            groups: 0,
            ta1_segments: 0,
            group_controls: IdSet::default(),
        });
    }

    fn iea(&mut self, seg: &Segment<'_>) {
        self.close_group(seg.offset, true);
        let mut els = lexer::elements(seg.raw, &seg.delimiters);
        let count = text(els.next().unwrap_or_default());
        let control = text(els.next().unwrap_or_default());
        if let Some(ic) = self.ic.as_mut() {
            if count.parse::<u32>().ok() != Some(ic.groups) {
                ic.issues.push(EnvelopeIssue {
                    ta1_code: 21,
                    offset: seg.offset,
                    message: format!(
                        "IEA01 says {count} groups, the interchange has {}",
                        ic.groups
                    ),
                });
            }
            if control != ic.info.control_number() {
                ic.issues.push(EnvelopeIssue {
                    ta1_code: 1,
                    offset: seg.offset,
                    message: format!(
                        "IEA02 `{control}` does not match ISA13 `{}`",
                        ic.info.control_number()
                    ),
                });
            }
        }
        self.close_interchange(seg.offset, false);
    }

    fn close_interchange(&mut self, offset: u64, premature: bool) {
        self.close_group(offset, true);
        self.drain();
        let Some(mut ic) = self.ic.take() else { return };
        if premature {
            ic.issues.push(EnvelopeIssue {
                ta1_code: 23,
                offset,
                message: format!("the interchange ends at byte {offset} without an IEA"),
            });
        }
        let note_code = ic.issues.first().map(|i| i.ta1_code).unwrap_or(0);
        let header_broken = ic.issues.iter().any(|i| !matches!(i.ta1_code, 1 | 21));
        let status = if ic.issues.is_empty() {
            AckStatus::Accepted
        } else if header_broken {
            AckStatus::Rejected
        } else {
            AckStatus::AcceptedWithErrors
        };
        if !ic.issues.is_empty() {
            self.summary.interchange_errors += 1;
        }
        let result = InterchangeResult {
            status,
            note_code,
            issues: ic.issues,
            warnings: ic.warnings,
            groups: ic.groups,
            ta1_segments: ic.ta1_segments,
        };
        self.sink.interchange_done(&ic.info, &result);
    }

    fn gs(&mut self, seg: &Segment<'_>) {
        self.close_group(seg.offset, true);
        let els: Vec<String> = lexer::elements(seg.raw, &seg.delimiters)
            .take(8)
            .map(text)
            .collect();
        let get = |i: usize| els.get(i).cloned().unwrap_or_default();
        let info = GroupInfo {
            offset: seg.offset,
            functional_id: get(0),
            sender: get(1),
            receiver: get(2),
            date: get(3),
            time: get(4),
            control_number: get(5),
            agency: get(6),
            version: get(7),
        };
        let version = self.grammars.version(info.version.as_bytes());
        let mut errors = Vec::new();
        let mut messages = Vec::new();
        if version.is_none() {
            errors.push(GroupCode::VersionNotSupported);
            messages.push(format!(
                "GS08 `{}`: no grammar is shipped for this version",
                info.version
            ));
        }
        if !all_digits(&info.control_number) || info.control_number.len() > 9 {
            errors.push(GroupCode::BadControlNumber);
            messages.push(format!(
                "GS06 `{}` is not a 1-9 digit control number",
                info.control_number
            ));
        }
        let Some(ic) = self.ic.as_mut() else { return };
        ic.groups += 1;
        if info.functional_id.len() != 2 || !all_digits(&info.control_number) {
            // A group that cannot be named cannot be answered by a 997: TA1 024.
            ic.issues.push(EnvelopeIssue {
                ta1_code: 24,
                offset: seg.offset,
                message: format!(
                    "GS at byte {} lacks a functional id or control number (GS01 `{}`, GS06 `{}`)",
                    seg.offset, info.functional_id, info.control_number
                ),
            });
        }
        if !ic.group_controls.insert(&info.control_number) && info.version.as_str() >= "005010" {
            errors.push(GroupCode::DuplicateControlNumber);
            messages.push(format!(
                "GS06 `{}` is used by an earlier group of this interchange",
                info.control_number
            ));
        }
        self.summary.groups += 1;
        self.ctx = None;
        self.sink.group_start(&ic.info, &info);
        self.group = Some(Grp {
            info,
            version,
            sets: 0,
            accepted: 0,
            rejected: 0,
            with_errors: 0,
            errors,
            messages,
            set_controls: IdSet::default(),
        });
    }

    fn ge(&mut self, seg: &Segment<'_>) {
        self.close_set(seg.offset, true);
        self.drain();
        let mut els = lexer::elements(seg.raw, &seg.delimiters);
        let count = text(els.next().unwrap_or_default());
        let control = text(els.next().unwrap_or_default());
        let Some(g) = self.group.as_mut() else {
            self.ic_issue(
                22,
                seg.offset,
                format!("GE at byte {} has no GS", seg.offset),
            );
            return;
        };
        let declared = count.parse::<u32>().ok();
        if declared != Some(g.sets) {
            g.errors.push(GroupCode::CountMismatch);
            g.messages
                .push(format!("GE01 says {count} sets, the group has {}", g.sets));
        }
        if control != g.info.control_number {
            g.errors.push(GroupCode::ControlNumberMismatch);
            g.messages.push(format!(
                "GE02 `{control}` does not match GS06 `{}`",
                g.info.control_number
            ));
        }
        self.finish_group(declared);
    }

    fn close_group(&mut self, offset: u64, missing_trailer: bool) {
        self.close_set(offset, true);
        if self.group.is_none() {
            return;
        }
        if missing_trailer {
            if let Some(g) = self.group.as_mut() {
                g.errors.push(GroupCode::TrailerMissing);
                g.messages
                    .push(format!("the group ends at byte {offset} without a GE"));
            }
        }
        self.finish_group(None);
    }

    fn finish_group(&mut self, declared: Option<u32>) {
        self.drain();
        let Some(g) = self.group.take() else { return };
        let status = if !g.errors.is_empty() || (g.sets > 0 && g.rejected == g.sets) {
            AckStatus::Rejected
        } else if g.rejected > 0 {
            AckStatus::PartiallyAccepted
        } else if g.with_errors > 0 {
            AckStatus::AcceptedWithErrors
        } else {
            AckStatus::Accepted
        };
        let result = GroupResult {
            status,
            declared_sets: declared,
            received_sets: g.sets,
            accepted_sets: g.accepted,
            errors: g.errors,
            messages: g.messages,
        };
        if let Some(ic) = self.ic.as_ref() {
            self.sink.group_done(&ic.info, &g.info, &result);
        }
    }

    fn set_grammar(&self, st01: &str) -> (Option<&'g SetGrammar>, Option<String>) {
        let Some(g) = self.group.as_ref() else {
            return (None, None);
        };
        let Some(v) = g.version else {
            return (
                None,
                Some(format!("version {} is not supported", g.info.version)),
            );
        };
        match v.sets.get(st01) {
            Some(s) if s.functional_group == g.info.functional_id => (Some(s), None),
            Some(s) => (
                None,
                Some(format!(
                    "a {st01} belongs in a {} group, not in this {} group",
                    s.functional_group, g.info.functional_id
                )),
            ),
            None => (
                None,
                Some(format!(
                    "transaction set {st01} is not supported in version {}",
                    v.dict.version
                )),
            ),
        }
    }

    fn st(&mut self, seg: &Segment<'_>) {
        self.close_set(seg.offset, true);
        let mut els = lexer::elements(seg.raw, &seg.delimiters);
        let st01 = text(els.next().unwrap_or_default());
        let st02 = text(els.next().unwrap_or_default());
        let st03 = els.next().map(text).filter(|s| !s.is_empty());
        let mut errors = Vec::new();
        if self.group.is_none() {
            let msg = format!("ST at byte {} is not inside a functional group", seg.offset);
            self.ic_issue(24, seg.offset, msg);
        }
        if st01.len() != 3 || !all_digits(&st01) {
            errors.push(SetCode::BadSetId);
        }
        if !(4..=9).contains(&st02.len()) {
            errors.push(SetCode::BadControlNumber);
        }
        let (grammar, note) = self.set_grammar(&st01);
        if let Some(g) = self.group.as_mut() {
            if !st02.is_empty() && !g.set_controls.insert(&st02) {
                let v5010 = g.info.version.as_str() >= "005010";
                errors.push(if v5010 {
                    SetCode::DuplicateControlNumber
                } else {
                    SetCode::BadControlNumber
                });
            }
        }
        if grammar.is_none() && !errors.contains(&SetCode::BadSetId) {
            errors.push(SetCode::NotSupported);
        }
        let walk = match (grammar, self.group.as_ref().and_then(|g| g.version)) {
            (Some(s), Some(v)) => match self.pool.as_mut() {
                Some(pool) => {
                    let ctx = match (pool.has_work(), &self.ic, &self.group) {
                        (true, Some(ic), Some(g)) => Some(
                            self.ctx
                                .get_or_insert_with(|| {
                                    std::sync::Arc::new(SetContext {
                                        isa: ic.info.clone(),
                                        gs: g.info.clone(),
                                    })
                                })
                                .clone(),
                        ),
                        _ => None,
                    };
                    pool.begin_set(
                        s,
                        &v.dict,
                        self.lenient,
                        seg.delimiters,
                        seg.raw,
                        seg.offset,
                        ctx,
                    );
                    Walk::Deferred
                }
                None => {
                    let mut w = SetWalker::new(s, &v.dict, self.lenient);
                    w.check_header(seg.raw, &seg.delimiters, seg.offset);
                    Walk::Inline(Box::new(w))
                }
            },
            _ => Walk::None,
        };
        self.set = Some(SetState {
            offset: seg.offset,
            set_id: st01,
            control: st02,
            convention: st03,
            count: 1,
            errors,
            walk,
            grammar_note: note,
        });
        self.sink.set_segment(seg, 1, "");
    }

    fn se(&mut self, seg: &Segment<'_>) {
        let Some(set) = self.set.as_mut() else {
            let msg = format!("SE at byte {} has no ST", seg.offset);
            self.ic_issue(22, seg.offset, msg);
            return;
        };
        set.count += 1;
        let position = set.count;
        // Borrowed where the bytes are UTF-8 (always, but for garbage): no copy per set.
        let mut els = lexer::elements(seg.raw, &seg.delimiters);
        let count = String::from_utf8_lossy(els.next().unwrap_or_default());
        let control = String::from_utf8_lossy(els.next().unwrap_or_default());
        if count.parse::<u32>().ok() != Some(set.count) {
            set.errors.push(SetCode::CountMismatch);
            let message = format!("SE01 says {count} segments, the set has {}", set.count);
            match (&mut set.walk, self.pool.as_mut()) {
                (Walk::Inline(w), _) => w.warnings.push(message),
                (Walk::Deferred, Some(pool)) => pool.warning(message),
                _ => {}
            }
        }
        if control != set.control.as_str() {
            set.errors.push(SetCode::ControlNumberMismatch);
        }
        match (&mut set.walk, self.pool.as_mut()) {
            (Walk::Inline(w), _) => {
                w.segment(seg.raw, &seg.delimiters, position, seg.offset);
                w.finish(position, seg.offset);
            }
            (Walk::Deferred, Some(pool)) => pool.segment(seg.raw, position, seg.offset),
            _ => {}
        }
        self.sink.set_segment(seg, position, "");
        self.close_set(seg.offset, false);
    }

    fn close_set(&mut self, offset: u64, missing_trailer: bool) {
        let Some(mut set) = self.set.take() else {
            return;
        };
        if missing_trailer {
            set.errors.push(SetCode::TrailerMissing);
        }
        let outcome = match std::mem::replace(&mut set.walk, Walk::None) {
            Walk::Inline(mut w) => {
                if missing_trailer {
                    w.finish_without_trailer(set.count + 1, offset);
                }
                Source::Ready(Some(Outcome::of(*w)))
            }
            Walk::Deferred => match self.pool.as_mut() {
                Some(pool) => {
                    let ids = (pool.has_work() && set.errors.is_empty())
                        .then(|| (set.set_id.clone(), set.control.clone()));
                    let position = set.count + u32::from(missing_trailer);
                    Source::Worker(pool.end_set(position, offset, missing_trailer, ids))
                }
                None => Source::Ready(None),
            },
            Walk::None => Source::Ready(None),
        };
        self.pending.push_back(Pending { set, outcome });
        self.settle(false);
    }

    /// Reports closed sets in order, as far as their outcomes are in (all of them with `wait`).
    fn settle(&mut self, wait: bool) {
        while let Some(front) = self.pending.front_mut() {
            let outcome = match &mut front.outcome {
                Source::Ready(o) => o.take(),
                Source::Worker(ticket) => {
                    let ticket = *ticket;
                    let Some(pool) = self.pool.as_mut() else {
                        break;
                    };
                    match pool.outcome(ticket, wait) {
                        Some(o) => Some(o),
                        None if wait => Some(Outcome {
                            issues: Vec::new(),
                            warnings: vec!["internal error: the set's walk was lost".into()],
                            truncated: false,
                            rejects: true,
                            output: None,
                        }),
                        None => break,
                    }
                }
            };
            if let Some(p) = self.pending.pop_front() {
                self.report_set(p.set, outcome);
            }
        }
    }

    /// Everything closed so far reported: called before anything that reports past the sets.
    fn drain(&mut self) {
        if let Some(set) = self.set.as_mut() {
            if matches!(set.walk, Walk::Deferred) {
                set.walk = self
                    .pool
                    .as_mut()
                    .and_then(|p| p.take_back())
                    .map_or(Walk::None, |w| Walk::Inline(Box::new(w)));
            }
        }
        self.settle(true);
    }

    fn report_set(&mut self, mut set: SetState<'g>, outcome: Option<Outcome>) {
        let (issues, mut warnings, truncated, walker_rejects, output) = match outcome {
            Some(o) => (o.issues, o.warnings, o.truncated, o.rejects, o.output),
            None => (Vec::new(), Vec::new(), false, false, None),
        };
        if let Some(n) = set.grammar_note.take() {
            warnings.insert(0, n);
        }
        let mut errors = set.errors;
        let status = if !errors.is_empty() || walker_rejects {
            if !issues.is_empty() {
                errors.push(SetCode::SegmentsInError);
            }
            AckStatus::Rejected
        } else if !issues.is_empty() {
            errors.push(SetCode::SegmentsInError);
            AckStatus::AcceptedWithErrors
        } else {
            AckStatus::Accepted
        };
        errors.dedup();
        let result = SetResult {
            offset: set.offset,
            set_id: set.set_id,
            control_number: set.control,
            convention: set.convention,
            segment_count: set.count,
            status,
            set_errors: errors,
            issues,
            warnings,
            truncated,
        };
        self.summary.sets += 1;
        match status {
            AckStatus::Accepted => self.summary.sets_accepted += 1,
            AckStatus::AcceptedWithErrors => self.summary.sets_with_errors += 1,
            _ => self.summary.sets_rejected += 1,
        }
        if let Some(g) = self.group.as_mut() {
            g.sets += 1;
            match status {
                AckStatus::Accepted => g.accepted += 1,
                AckStatus::AcceptedWithErrors => {
                    g.accepted += 1;
                    g.with_errors += 1
                }
                _ => g.rejected += 1,
            }
        }
        if let (Some(ic), Some(g)) = (self.ic.as_ref(), self.group.as_ref()) {
            self.sink.set_done_with(&ic.info, &g.info, &result, output);
        } else if let Some(ic) = self.ic.as_ref() {
            self.sink
                .set_done_with(&ic.info, &GroupInfo::default(), &result, output);
        }
    }

    /// End of input: closes whatever is still open.
    pub fn finish(&mut self, offset: u64) {
        if self.ic.is_some() {
            self.close_interchange(offset, true);
        }
        if self.summary.interchanges == 0 && self.summary.problems == 0 {
            self.problem(0, "the input holds no X12 interchange".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_set_merges_runs_and_finds_duplicates() {
        let mut s = IdSet::default();
        for n in 1..=1000 {
            assert!(s.insert(&format!("{n:04}")));
        }
        assert_eq!(s.ranges[4].len(), 1);
        assert!(s.insert("1"));
        assert!(!s.insert("0500"));
        assert!(s.insert("ABC"));
        assert!(!s.insert("ABC"));
        assert!(s.insert("2000"));
        assert!(s.insert("1999"));
        assert!(!s.insert("2000"));
    }

    #[test]
    fn id_set_agrees_with_a_plain_set() {
        let mut s = IdSet::default();
        let mut plain = HashSet::new();
        let mut x: u32 = 1;
        for i in 0..20_000u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            // Mostly counting up, with jumps back, repeats and other widths.
            let n = match (x >> 16) % 8 {
                0 => (x >> 8) % 64,
                1 => i / 2,
                _ => i % 700,
            };
            let v = if (x >> 20) % 5 == 0 {
                format!("{n}")
            } else {
                format!("{n:04}")
            };
            assert_eq!(s.insert(&v), plain.insert(v.clone()), "{v}");
        }
    }
}
