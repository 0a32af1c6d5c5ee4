//! X12 integration tests: the `edigate` binary run on small interchanges written inline, with
//! assertions on the exact 997/999/TA1 codes and positions it answers with; every ack is then
//! read back by the crate's own reader and validator, which must accept it. Also: the public
//! sample files under `testdata/x12/`, messy real-world layouts, the CLI contract (exit codes,
//! JSON records, inspect), and a property test that the writer and reader round-trip.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use edigate::x12::envelope::{self, GroupInfo, GroupResult, InterchangeResult, IsaInfo, SetResult};
use edigate::x12::grammar::Grammars;
use edigate::x12::lexer::Delimiters;
use edigate::x12::reader::{Item, SegmentReader};
use edigate::x12::validate::Leniency;
use edigate::x12::writer::{InterchangeHeader, InterchangeWriter, OwnedSegment, SegmentWriter};

// ---- building interchanges -------------------------------------------------------------------

/// An ISA with the usual delimiters: `>` component and `U` standards id before 00402, `:` and
/// `^` repetition from 00402 on.
fn isa(version: &str, control: &str, ack_requested: bool) -> String {
    let (isa11, comp) = if version >= "00402" {
        ('^', ':')
    } else {
        ('U', '>')
    };
    let ack = if ack_requested { '1' } else { '0' };
    format!(
        "ISA*00*          *00*          *ZZ*HOSPITAL       *ZZ*SUPPLIER       *240101*1200*{isa11}*{version}*{control}*{ack}*P*{comp}~\n"
    )
}

/// ST .. SE around `body`, with a correct SE01.
fn set(st01: &str, control: &str, body: &[&str]) -> String {
    let mut s = format!("ST*{st01}*{control}~\n");
    for b in body {
        s.push_str(b);
        s.push_str("~\n");
    }
    s.push_str(&format!("SE*{}*{control}~\n", body.len() + 2));
    s
}

/// GS .. GE around `sets`, with a correct GE01.
fn group(functional_id: &str, control: &str, version: &str, sets: &[String]) -> String {
    format!(
        "GS*{functional_id}*HOSPITAL*SUPPLIER*20240101*1200*{control}*X*{version}~\n{}GE*{}*{control}~\n",
        sets.concat(),
        sets.len()
    )
}

/// ISA .. IEA around `groups`, with a correct IEA01.
fn interchange(version: &str, groups: &[String]) -> String {
    format!(
        "{}{}IEA*{}*000000001~\n",
        isa(version, "000000001", false),
        groups.concat(),
        groups.len()
    )
}

const PO_HEAD: &str = "BEG*00*SA*PO123**20240101";
const PO_LINE: &str = "PO1*1*10*EA*1.50**VC*ABC123";
const PO_TOTAL: &str = "CTT*1";

/// A clean 850 body with the given line items in the middle.
fn po_body<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![PO_HEAD];
    v.extend_from_slice(lines);
    v.push(PO_TOTAL);
    v
}

/// One 004010 interchange with one PO group holding one 850.
fn po4010(lines: &[&str]) -> String {
    interchange(
        "00401",
        &[group(
            "PO",
            "1",
            "004010",
            &[set("850", "0001", &po_body(lines))],
        )],
    )
}

/// The same in 005010.
fn po5010(lines: &[&str]) -> String {
    interchange(
        "00501",
        &[group(
            "PO",
            "1",
            "005010",
            &[set("850", "0001", &po_body(lines))],
        )],
    )
}

// ---- running the binary ----------------------------------------------------------------------

struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Run {
    fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

fn edigate(args: &[&str]) -> Run {
    let o = Command::new(env!("CARGO_BIN_EXE_edigate"))
        .args(args)
        .output()
        .expect("run edigate");
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: o.stdout,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Runs `edigate validate <extra args> <file>` on `input` written to a temporary file.
fn validate(input: impl AsRef<[u8]>, extra: &[&str]) -> Run {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(input.as_ref()).expect("write temp file");
    let path = f.path().to_string_lossy().into_owned();
    let mut args = vec!["validate"];
    args.extend_from_slice(extra);
    args.push(&path);
    edigate(&args)
}

/// The ack the binary writes for `input`, checked to be valid X12 by our own validator.
fn ack(input: impl AsRef<[u8]>, kind: &str) -> Ack {
    let r = validate(input, &["--ack", kind]);
    assert!(r.code == 0 || r.code == 1, "exit {}: {}", r.code, r.stderr);
    let a = Ack::parse(&r.stdout);
    a.assert_clean();
    a
}

/// The ack, parsed but not validated: for acks that must echo an invalid inbound value (a
/// TA1 echoes ISA09/ISA10; a 997 mirrors a GS08 we ship no grammar for).
fn ack_as_written(input: impl AsRef<[u8]>, kind: &str) -> Ack {
    let r = validate(input, &["--ack", kind]);
    assert!(r.code == 0 || r.code == 1, "exit {}: {}", r.code, r.stderr);
    assert!(
        r.stderr.lines().all(|l| !l.contains("could not write")),
        "{}",
        r.stderr
    );
    Ack::parse(&r.stdout)
}

fn grammars() -> Grammars {
    Grammars::embedded().expect("embedded grammars load")
}

/// A parsed acknowledgement: every segment as (id, raw element texts).
struct Ack {
    raw: Vec<u8>,
    segments: Vec<(String, Vec<String>)>,
}

impl Ack {
    fn parse(raw: &[u8]) -> Ack {
        let mut r = SegmentReader::new(raw);
        let mut segments = Vec::new();
        while let Some(item) = r.next_item().expect("read ack") {
            match item {
                Item::Segment(s) => {
                    let d = s.delimiters;
                    let id = String::from_utf8_lossy(s.id()).into_owned();
                    let els = edigate::x12::lexer::elements(s.raw, &d)
                        .map(|e| String::from_utf8_lossy(e).into_owned())
                        .collect();
                    segments.push((id, els));
                }
                other => panic!("the ack holds something that is not a segment: {other:?}"),
            }
        }
        Ack {
            raw: raw.to_vec(),
            segments,
        }
    }

    /// Every occurrence of segment `id`, as element lists.
    fn all(&self, id: &str) -> Vec<Vec<String>> {
        self.segments
            .iter()
            .filter(|(s, _)| s == id)
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// The one occurrence of `id`, joined back with `*` (delimiters normalised).
    fn one(&self, id: &str) -> String {
        let all = self.all(id);
        assert_eq!(all.len(), 1, "expected one {id} in\n{}", self.text());
        format!("{id}*{}", all[0].join("*"))
    }

    /// Every occurrence of `id`, each joined with `*`.
    fn each(&self, id: &str) -> Vec<String> {
        self.all(id)
            .into_iter()
            .map(|e| format!("{id}*{}", e.join("*")))
            .collect()
    }

    fn ids(&self) -> Vec<&str> {
        self.segments.iter().map(|(s, _)| s.as_str()).collect()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    /// "This same validator accepts them": the ack validates clean against our grammars.
    fn assert_clean(&self) {
        if self.raw.is_empty() {
            return;
        }
        let (sink, summary) = envelope::check(
            &self.raw[..],
            &grammars(),
            Leniency::default(),
            Collect::default(),
        )
        .expect("check ack");
        assert!(
            summary.clean(),
            "our own ack does not validate clean:\n{}\n{:#?}",
            self.text(),
            sink
        );
    }
}

/// Collects results of `envelope::check` for direct assertions.
#[derive(Default, Debug)]
struct Collect {
    sets: Vec<SetResult>,
    groups: Vec<GroupResult>,
    interchanges: Vec<InterchangeResult>,
    problems: Vec<String>,
}

impl envelope::Sink for Collect {
    fn set_done(&mut self, _: &IsaInfo, _: &GroupInfo, set: &SetResult) {
        self.sets.push(set.clone());
    }
    fn group_done(&mut self, _: &IsaInfo, _: &GroupInfo, r: &GroupResult) {
        self.groups.push(r.clone());
    }
    fn interchange_done(&mut self, _: &IsaInfo, r: &InterchangeResult) {
        self.interchanges.push(r.clone());
    }
    fn problem(&mut self, p: &envelope::FileProblem) {
        self.problems.push(p.message.clone());
    }
}

fn check_bytes(input: &[u8]) -> (Collect, envelope::Summary) {
    envelope::check(input, &grammars(), Leniency::default(), Collect::default())
        .expect("in-memory read cannot fail")
}

/// AK3 .. AK5 and AK9 of a one-set 997 with the given bad 850 lines.
fn ak3_ak4(lines: &[&str]) -> Ack {
    ack(po4010(lines), "997")
}

// ---- AK304: segment errors -------------------------------------------------------------------

#[test]
fn ak304_1_unrecognised_segment_id() {
    let a = ak3_ak4(&[PO_LINE, "ZZZ*1"]);
    assert_eq!(a.one("AK3"), "AK3*ZZZ*4**1");
    assert_eq!(a.one("AK5"), "AK5*R*5");
    assert_eq!(a.one("AK9"), "AK9*R*1*1*0");
}

#[test]
fn ak304_2_unexpected_segment() {
    // PO4 belongs to the PO1 loop only; right after BEG it is unexpected.
    let a = ak3_ak4(&["PO4*1", PO_LINE]);
    assert_eq!(a.one("AK3"), "AK3*PO4*3**2");
    assert_eq!(a.one("AK5"), "AK5*R*5");
}

#[test]
fn ak304_3_mandatory_segment_missing() {
    // The 850 needs a BEG; the first segment that shows it is missing is the PO1 at 2.
    let input = interchange(
        "00401",
        &[group(
            "PO",
            "1",
            "004010",
            &[set("850", "0001", &[PO_LINE, PO_TOTAL])],
        )],
    );
    let a = ack(input, "997");
    assert_eq!(a.one("AK3"), "AK3*BEG*2**3");
    assert_eq!(a.one("AK5"), "AK5*R*5");
}

#[test]
fn ak304_3_mandatory_loop_missing() {
    let input = interchange(
        "00401",
        &[group(
            "PO",
            "1",
            "004010",
            &[set("850", "0001", &[PO_HEAD, PO_TOTAL])],
        )],
    );
    let a = ack(input, "997");
    assert_eq!(a.one("AK3"), "AK3*PO1*3**3");
}

#[test]
fn ak304_4_loop_over_maximum() {
    // The header SAC loop may occur 25 times.
    let sacs: Vec<String> = (0..26).map(|_| "SAC*A*A260".to_string()).collect();
    let mut body = vec![PO_HEAD];
    body.extend(sacs.iter().map(String::as_str));
    body.push(PO_LINE);
    body.push(PO_TOTAL);
    let input = interchange(
        "00401",
        &[group("PO", "1", "004010", &[set("850", "0001", &body)])],
    );
    let a = ack(input, "997");
    assert_eq!(a.one("AK3"), "AK3*SAC*28**4");
    assert_eq!(a.one("AK5"), "AK5*R*5");
}

#[test]
fn ak304_5_segment_over_maximum_use() {
    // PER may occur three times in the header.
    let mut body = vec![PO_HEAD];
    body.extend(["PER*BD*A", "PER*BD*B", "PER*BD*C", "PER*BD*D"]);
    body.extend([PO_LINE, PO_TOTAL]);
    let input = interchange(
        "00401",
        &[group("PO", "1", "004010", &[set("850", "0001", &body)])],
    );
    let a = ack(input, "997");
    assert_eq!(a.one("AK3"), "AK3*PER*6**5");
}

#[test]
fn ak304_6_segment_not_in_set() {
    // BIG is a real segment (the 810's), but not part of an 850.
    let a = ak3_ak4(&[PO_LINE, "BIG*20240101*INV1"]);
    assert_eq!(a.one("AK3"), "AK3*BIG*4**6");
}

#[test]
fn ak304_7_segment_out_of_sequence() {
    // BEG again after the detail: it belongs before what was already seen.
    let a = ak3_ak4(&[PO_LINE, PO_HEAD]);
    assert_eq!(a.one("AK3"), "AK3*BEG*4**7");
}

#[test]
fn ak304_8_segment_has_element_errors_reference_example() {
    // REFERENCE §2.3: PO1 with a unit but no quantity. PO102 is conditional (C0302): code 2.
    let input = interchange(
        "00401",
        &[group(
            "PO",
            "1021",
            "004010",
            &[set(
                "850",
                "0007",
                &[
                    PO_HEAD,
                    "REF*DP*1",
                    "DTM*002*20240110",
                    "PO1*1**EA*1.50**VC*ABC",
                    PO_TOTAL,
                ],
            )],
        )],
    );
    let a = ack(input, "997");
    assert_eq!(a.one("AK1"), "AK1*PO*1021");
    assert_eq!(a.one("AK2"), "AK2*850*0007");
    assert_eq!(a.one("AK3"), "AK3*PO1*5**8");
    assert_eq!(a.one("AK4"), "AK4*2*330*2");
    assert_eq!(a.one("AK5"), "AK5*R*5");
    assert_eq!(a.one("AK9"), "AK9*R*1*1*0");
    assert_eq!(a.one("SE"), "SE*8*0001");
}

// ---- AK403: element errors -------------------------------------------------------------------

/// The AK4 of a one-bad-segment 850 (asserting its AK3 says "element errors" at `position`).
fn ak4_of(lines: &[&str], seg: &str, position: u32) -> String {
    let a = ak3_ak4(lines);
    assert_eq!(
        a.one("AK3"),
        format!("AK3*{seg}*{position}**8"),
        "{}",
        a.text()
    );
    a.one("AK4")
}

#[test]
fn ak403_1_mandatory_element_missing() {
    let input = interchange(
        "00401",
        &[group(
            "PO",
            "1",
            "004010",
            &[set(
                "850",
                "0001",
                &["BEG*00*SA***20240101", PO_LINE, PO_TOTAL],
            )],
        )],
    );
    let a = ack(input, "997");
    assert_eq!(a.one("AK3"), "AK3*BEG*2**8");
    assert_eq!(a.one("AK4"), "AK4*3*324*1");
}

#[test]
fn ak403_2_conditional_element_missing() {
    assert_eq!(ak4_of(&["PO1*1**EA*1.50"], "PO1", 3), "AK4*2*330*2");
}

#[test]
fn ak403_3_too_many_elements() {
    // N3 has two elements.
    let n1 = "N1*ST*CENTRAL STORES*92*001";
    let a = ak3_ak4(&[PO_LINE]);
    drop(a);
    let input = interchange(
        "00401",
        &[group(
            "PO",
            "1",
            "004010",
            &[set(
                "850",
                "0001",
                &[PO_HEAD, n1, "N3*1 MAIN ST*DOCK 4*EXTRA", PO_LINE, PO_TOTAL],
            )],
        )],
    );
    let a = ack(input, "997");
    assert_eq!(a.one("AK3"), "AK3*N3*4**8");
    assert_eq!(a.one("AK4"), "AK4*3**3");
}

#[test]
fn ak403_4_too_short() {
    assert_eq!(ak4_of(&["PO1*1*10*E"], "PO1", 3), "AK4*3*355*4*E");
}

#[test]
fn ak403_5_too_long() {
    assert_eq!(ak4_of(&["PO1*1*10*EACH"], "PO1", 3), "AK4*3*355*5*EACH");
}

#[test]
fn ak403_6_invalid_character() {
    // A letter in a numeric quantity; no copy of the bad data for invalid characters.
    assert_eq!(ak4_of(&["PO1*1*1O*EA"], "PO1", 3), "AK4*2*330*6");
    // A byte outside the basic character set in a text element.
    assert_eq!(
        ak4_of(&[PO_LINE, "PID*F****GAUZE\u{1}SPONGE"], "PID", 4),
        "AK4*5*352*6"
    );
}

#[test]
fn ak403_7_invalid_code_where_the_list_is_complete() {
    // BEG01 (353) carries the whole standard list: `QQ` is not a purpose code.
    let input = interchange(
        "00401",
        &[group(
            "PO",
            "1",
            "004010",
            &[set(
                "850",
                "0001",
                &["BEG*QQ*SA*PO123**20240101", PO_LINE, PO_TOTAL],
            )],
        )],
    );
    let a = ack(input, "997");
    assert_eq!(a.one("AK3"), "AK3*BEG*2**8");
    assert_eq!(a.one("AK4"), "AK4*1*353*7*QQ");
}

/// The same value missing from a partial list is warned about once per element position:
/// PO106 and PO110 (four elements apart) are two warnings, a second PO110 in the set none more.
#[test]
fn a_partial_list_miss_is_warned_once_per_element_position() {
    let input = po4010(&[
        "PO1*1*10*EA*1.50**QQ*ABC*VP*X1*QQ*Y2",
        "PO1*2*10*EA*1.50**VC*DEF*VP*X3*QQ*Y4",
    ]);
    let r = validate(&input, &[]);
    assert_eq!(r.code, 0, "{}", r.out());
    let warned = |at: &str| {
        r.out()
            .matches(&format!("{at} `QQ` is not in the code list"))
            .count()
    };
    assert_eq!((warned("PO106"), warned("PO110")), (1, 1), "{}", r.out());
}

#[test]
fn partial_code_list_gives_a_warning_and_never_ak403_7() {
    // PO103 (355, units) is a partial list: `ZQ` is not in it but may be a real unit.
    let input = po4010(&["PO1*1*10*ZQ*1.50**VC*ABC", "REF*CT*GPO1**ZQ>4"]);
    let a = ack(&input, "997");
    assert!(a.all("AK3").is_empty(), "{}", a.text());
    assert_eq!(a.one("AK5"), "AK5*A");
    assert_eq!(a.one("AK9"), "AK9*A*1*1*1");
    let r = validate(&input, &["--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.out());
    assert!(r.out().contains("partial"), "{}", r.out());
    // The analyst is told which list to extend.
    assert!(
        r.out()
            .contains("PO103 `ZQ` is not in the code list of element 355 (Unit or Basis for Measurement Code)"),
        "{}",
        r.out()
    );
    // A component is named with its position; the same value elsewhere warns on its own.
    assert!(
        r.out()
            .contains("REF04-1 `ZQ` is not in the code list of element 128"),
        "{}",
        r.out()
    );
}

#[test]
fn ak403_8_invalid_date() {
    let input = interchange(
        "00401",
        &[group(
            "PO",
            "1",
            "004010",
            &[set(
                "850",
                "0001",
                &["BEG*00*SA*PO123**20240230", PO_LINE, PO_TOTAL],
            )],
        )],
    );
    let a = ack(input, "997");
    assert_eq!(a.one("AK4"), "AK4*5*373*8*20240230");
}

#[test]
fn ak403_9_invalid_time() {
    assert_eq!(
        ak4_of(&[PO_LINE, "DTM*002*20240101*2561"], "DTM", 4),
        "AK4*3*337*9*2561"
    );
}

#[test]
fn ak403_10_exclusion_violated() {
    // TD3 E0110: equipment description code and seal status may not both be sent.
    let input = interchange(
        "00401",
        &[group(
            "PO",
            "1",
            "004010",
            &[set(
                "850",
                "0001",
                &[PO_HEAD, "TD3*TL*********TRLR", PO_LINE, PO_TOTAL],
            )],
        )],
    );
    let a = ack(input, "997");
    assert_eq!(a.one("AK3"), "AK3*TD3*3**8");
    let ak4 = a.one("AK4");
    assert!(ak4.starts_with("AK4*10*") && ak4.contains("*10"), "{ak4}");
}

#[test]
fn ak403_12_too_many_repetitions_in_5010() {
    let a = ack(po5010(&["PO1*1*10*EA^CA*1.50**VC*ABC"]), "999");
    assert_eq!(a.one("IK3"), "IK3*PO1*3**8");
    assert_eq!(a.one("IK4"), "IK4*3::2*355*12");
    assert_eq!(a.one("IK5"), "IK5*R*5");
}

#[test]
fn ak403_13_too_many_components_in_5010() {
    let a = ack(po5010(&["PO1*1*10*EA:X*1.50**VC*ABC"]), "999");
    assert_eq!(a.one("IK3"), "IK3*PO1*3**8");
    assert_eq!(a.one("IK4"), "IK4*3*355*13");
}

#[test]
fn element_positions_name_the_component() {
    // REF04 is a composite (C040): its first component is mandatory.
    let a = ak3_ak4(&[PO_LINE, "REF*CT*123**>X"]);
    assert_eq!(a.one("AK3"), "AK3*REF*4**8");
    assert_eq!(a.one("AK4"), "AK4*4>1*128*1");
}

// ---- AK5 / IK5: set errors -------------------------------------------------------------------

fn one_set_4010(st: &str) -> String {
    interchange("00401", &[group("PO", "1", "004010", &[st.to_string()])])
}

#[test]
fn ak5_1_set_not_supported() {
    let input = interchange(
        "00401",
        &[group(
            "PS",
            "1",
            "004010",
            &[set(
                "830",
                "0001",
                &["BFR*00**1*DL*A*20240101*20241231*20240101"],
            )],
        )],
    );
    let a = ack(input, "997");
    assert_eq!(a.one("AK2"), "AK2*830*0001");
    assert_eq!(a.one("AK5"), "AK5*R*1");
    assert_eq!(a.one("AK9"), "AK9*R*1*1*0");
}

#[test]
fn ak5_2_trailer_missing() {
    let body = format!("ST*850*0001~{PO_HEAD}~{PO_LINE}~{PO_TOTAL}~");
    let a = ack(one_set_4010(&body), "997");
    assert_eq!(a.one("AK5"), "AK5*R*2");
}

#[test]
fn ak5_3_control_number_mismatch() {
    let body = format!("ST*850*0001~{PO_HEAD}~{PO_LINE}~{PO_TOTAL}~SE*5*0002~");
    let a = ack(one_set_4010(&body), "997");
    assert_eq!(a.one("AK5"), "AK5*R*3");
}

#[test]
fn ak5_4_segment_count_wrong() {
    let body = format!("ST*850*0001~{PO_HEAD}~{PO_LINE}~{PO_TOTAL}~SE*9*0001~");
    let a = ack(one_set_4010(&body), "997");
    assert_eq!(a.one("AK5"), "AK5*R*4");
}

#[test]
fn ak5_6_bad_set_identifier() {
    let body = format!("ST*85*0001~{PO_HEAD}~{PO_LINE}~{PO_TOTAL}~SE*5*0001~");
    let a = ack(one_set_4010(&body), "997");
    // AK201 cannot echo a two-character ST01: the set the PO group carries stands in.
    assert_eq!(a.one("AK2"), "AK2*850*0001");
    assert_eq!(a.one("AK5"), "AK5*R*6");
}

#[test]
fn ak5_7_bad_control_number() {
    let body = format!("ST*850*01~{PO_HEAD}~{PO_LINE}~{PO_TOTAL}~SE*5*01~");
    let a = ack(one_set_4010(&body), "997");
    // Zero-padded to AK202's minimum width, numerically the same.
    assert_eq!(a.one("AK2"), "AK2*850*0001");
    // ST02 and SE02 are also too short as elements (AK403 4).
    assert_eq!(a.each("AK3"), vec!["AK3*ST*1**8", "AK3*SE*5**8"]);
    assert_eq!(a.each("AK4"), vec!["AK4*2*329*4*01", "AK4*2*329*4*01"]);
    assert_eq!(a.one("AK5"), "AK5*R*7*5");
}

#[test]
fn duplicate_st02_in_a_group() {
    let sets = [
        set("850", "0001", &po_body(&[PO_LINE])),
        set("850", "0001", &po_body(&[PO_LINE])),
    ];
    // 004010 has no dedicated code: "invalid control number".
    let a = ack(
        interchange("00401", &[group("PO", "1", "004010", &sets)]),
        "997",
    );
    assert_eq!(a.each("AK5"), vec!["AK5*A", "AK5*R*7"]);
    assert_eq!(a.one("AK9"), "AK9*P*2*2*1");
    // 005010: AK502 23, control number not unique within the group.
    let a = ack(
        interchange("00501", &[group("PO", "1", "005010", &sets)]),
        "999",
    );
    assert_eq!(a.each("IK5"), vec!["IK5*A", "IK5*R*23"]);
    assert_eq!(a.one("AK9"), "AK9*P*2*2*1");
}

// ---- AK9: group errors and counts ------------------------------------------------------------

#[test]
fn ak9_2_version_not_supported() {
    let input = interchange(
        "00403",
        &[group(
            "PO",
            "7",
            "004030",
            &[set("850", "0001", &po_body(&[PO_LINE]))],
        )],
    );
    let a = ack_as_written(&input, "997");
    assert_eq!(a.one("AK9"), "AK9*R*1*1*0*2");
    // The 997 mirrors the inbound GS08 even for a version we do not ship.
    assert_eq!(a.all("GS")[0][7], "004030");
    assert_eq!(validate(&input, &[]).code, 1);
}

#[test]
fn ak9_3_group_trailer_missing() {
    let input = format!(
        "{}GS*PO*HOSPITAL*SUPPLIER*20240101*1200*1*X*004010~{}IEA*1*000000001~",
        isa("00401", "000000001", false),
        set("850", "0001", &po_body(&[PO_LINE]))
    );
    let a = ack(input, "997");
    assert_eq!(a.one("AK9"), "AK9*R*1*1*1*3");
}

#[test]
fn ak9_4_group_control_number_mismatch() {
    let g = group(
        "PO",
        "1",
        "004010",
        &[set("850", "0001", &po_body(&[PO_LINE]))],
    )
    .replace("GE*1*1~", "GE*1*2~");
    let a = ack(interchange("00401", &[g]), "997");
    assert_eq!(a.one("AK9"), "AK9*R*1*1*1*4");
}

#[test]
fn ak9_5_group_count_wrong() {
    let g = group(
        "PO",
        "1",
        "004010",
        &[set("850", "0001", &po_body(&[PO_LINE]))],
    )
    .replace("GE*1*1~", "GE*3*1~");
    let a = ack(interchange("00401", &[g]), "997");
    assert_eq!(a.one("AK9"), "AK9*R*3*1*1*5");
}

#[test]
fn ak9_19_duplicate_group_control_number_in_5010() {
    let sets = [set("850", "0001", &po_body(&[PO_LINE]))];
    let input = interchange(
        "00501",
        &[
            group("PO", "5", "005010", &sets),
            group("PO", "5", "005010", &sets),
        ],
    );
    let a = ack(input, "999");
    assert_eq!(a.each("AK9"), vec!["AK9*A*1*1*1", "AK9*R*1*1*1*19"]);
    // 004010 allows it (bots sample 850-004010-02 does this).
    let input = interchange(
        "00401",
        &[
            group("PO", "5", "004010", &sets),
            group("PO", "5", "004010", &sets),
        ],
    );
    let a = ack(input, "997");
    assert_eq!(a.each("AK9"), vec!["AK9*A*1*1*1", "AK9*A*1*1*1"]);
}

#[test]
fn ak9_status_a_e_p_r_and_counts() {
    let good = set("850", "0001", &po_body(&[PO_LINE]));
    let bad = set("850", "0002", &po_body(&["PO1*1**EA"]));
    // A: all accepted.
    let a = ack(
        interchange(
            "00401",
            &[group("PO", "1", "004010", std::slice::from_ref(&good))],
        ),
        "997",
    );
    assert_eq!(a.one("AK9"), "AK9*A*1*1*1");
    // P: one accepted, one rejected.
    let a = ack(
        interchange(
            "00401",
            &[group("PO", "1", "004010", &[good.clone(), bad.clone()])],
        ),
        "997",
    );
    assert_eq!(a.each("AK5"), vec!["AK5*A", "AK5*R*5"]);
    assert_eq!(a.one("AK9"), "AK9*P*2*2*1");
    // R: all rejected.
    let a = ack(
        interchange(
            "00401",
            &[group("PO", "1", "004010", std::slice::from_ref(&bad))],
        ),
        "997",
    );
    assert_eq!(a.one("AK9"), "AK9*R*1*1*0");
    // E: accepted with errors noted, under a lenient partner profile (library level: the
    // CLI runs strict).
    let with_unknown = set("850", "0003", &po_body(&[PO_LINE, "ZZZ*1"]));
    let input = interchange(
        "00401",
        &[group("PO", "1", "004010", &[good, with_unknown])],
    );
    let lenient = Leniency {
        unknown_segments: true,
        ..Leniency::default()
    };
    let opts = edigate::x12::ack::AckOptions::new(
        Some(edigate::x12::ack::AckKind::F997),
        edigate::x12::ack::Ta1Mode::Never,
    );
    let mut numbers = edigate::x12::ack::Counter {
        interchange: 0,
        group: 0,
    };
    let writer = edigate::x12::ack::AckWriter::new(Vec::new(), opts, &mut numbers);
    let (writer, summary) =
        envelope::check(input.as_bytes(), &grammars(), lenient, writer).expect("check");
    assert_eq!(summary.sets_with_errors, 1);
    let out = writer.into_inner().expect("ack output");
    let a = Ack::parse(&out);
    a.assert_clean();
    assert_eq!(a.each("AK5"), vec!["AK5*A", "AK5*E*5"]);
    assert_eq!(a.one("AK9"), "AK9*E*2*2*2");
}

#[test]
fn ak2_for_accepted_sets_is_a_partner_setting() {
    let input = po4010(&[PO_LINE]);
    let mut opts = edigate::x12::ack::AckOptions::new(
        Some(edigate::x12::ack::AckKind::F997),
        edigate::x12::ack::Ta1Mode::Never,
    );
    opts.ak2_for_accepted = false;
    let mut numbers = edigate::x12::ack::Counter {
        interchange: 0,
        group: 0,
    };
    let writer = edigate::x12::ack::AckWriter::new(Vec::new(), opts, &mut numbers);
    let (writer, _) =
        envelope::check(input.as_bytes(), &grammars(), Leniency::default(), writer).expect("check");
    let a = Ack::parse(&writer.into_inner().expect("output"));
    a.assert_clean();
    assert!(a.all("AK2").is_empty());
    assert_eq!(a.one("AK9"), "AK9*A*1*1*1");
    // On by default.
    assert_eq!(ack(input, "997").one("AK2"), "AK2*850*0001");
}

// ---- TA1 -------------------------------------------------------------------------------------

fn ta1_of(input: impl AsRef<[u8]>) -> String {
    let a = ack(input, "ta1");
    a.one("TA1")
}

#[test]
fn ta1_000_accepted() {
    assert_eq!(
        ta1_of(po4010(&[PO_LINE])),
        "TA1*000000001*240101*1200*A*000"
    );
}

#[test]
fn ta1_001_control_number_mismatch() {
    let input = po4010(&[PO_LINE]).replace("IEA*1*000000001", "IEA*1*000000002");
    assert_eq!(ta1_of(input), "TA1*000000001*240101*1200*E*001");
}

#[test]
fn ta1_014_bad_date() {
    // TA102 echoes ISA09 as received, so this TA1 is not itself valid.
    let input = po4010(&[PO_LINE]).replace("*240101*", "*241301*");
    let a = ack_as_written(input, "ta1");
    assert_eq!(a.one("TA1"), "TA1*000000001*241301*1200*R*014");
}

#[test]
fn ta1_015_bad_time() {
    let input = po4010(&[PO_LINE]).replace("*1200*U*", "*2561*U*");
    let a = ack_as_written(input, "ta1");
    assert_eq!(a.one("TA1"), "TA1*000000001*240101*2561*R*015");
}

#[test]
fn ta1_021_group_count_wrong() {
    let input = po4010(&[PO_LINE]).replace("IEA*1*", "IEA*2*");
    assert_eq!(ta1_of(input), "TA1*000000001*240101*1200*E*021");
}

#[test]
fn ta1_022_invalid_control_structure() {
    // A GE with no GS.
    let input = po4010(&[PO_LINE]).replace("IEA*1*", "GE*1*9~IEA*1*");
    assert_eq!(ta1_of(input), "TA1*000000001*240101*1200*R*022");
}

#[test]
fn ta1_023_premature_end() {
    let input = po4010(&[PO_LINE]);
    let cut = input.find("IEA").expect("IEA");
    assert_eq!(ta1_of(&input[..cut]), "TA1*000000001*240101*1200*R*023");
}

#[test]
fn ta1_bad_delimiters_026_027_004() {
    let good = po4010(&[PO_LINE]);
    // Element separator is a letter: the fixed-width header still names sender and receiver.
    let bad_element = good.replace('*', "A");
    assert_eq!(ta1_of(bad_element), "TA1*000000001*240101*1200*R*026");
    // Component separator equal to the element separator.
    let bad_component = good.replacen("*P*>~", "*P**~", 1);
    assert_eq!(ta1_of(bad_component), "TA1*000000001*240101*1200*R*027");
    // Segment terminator is a letter.
    let bad_terminator = good.replace('~', "Q");
    assert_eq!(ta1_of(bad_terminator), "TA1*000000001*240101*1200*R*004");
    // And the CLI says so, with exit 1.
    let r = validate(good.replace('~', "Q"), &[]);
    assert_eq!(r.code, 1);
    assert!(r.out().contains("004"), "{}", r.out());
}

#[test]
fn ta1_requested_with_auto_gives_ta1_and_997() {
    let input = format!(
        "{}{}IEA*1*000000001~",
        isa("00401", "000000001", true),
        group(
            "PO",
            "1",
            "004010",
            &[set("850", "0001", &po_body(&[PO_LINE]))]
        )
    );
    let a = ack(input, "auto");
    assert_eq!(a.one("TA1"), "TA1*000000001*240101*1200*A*000");
    assert_eq!(a.one("AK9"), "AK9*A*1*1*1");
    assert_eq!(a.all("ISA").len(), 2);
    // Not requested and clean: only the 997.
    let a = ack(po4010(&[PO_LINE]), "auto");
    assert!(a.all("TA1").is_empty());
    assert_eq!(a.all("ST").len(), 1);
}

#[test]
fn acknowledgements_are_never_acknowledged() {
    let ak = set(
        "997",
        "0001",
        &["AK1*PO*1", "AK2*850*0001", "AK5*A", "AK9*A*1*1*1"],
    );
    let input = interchange("00401", &[group("FA", "1", "004010", &[ak])]);
    for kind in ["997", "999", "auto"] {
        let r = validate(&input, &["--ack", kind]);
        assert_eq!(r.code, 0, "{kind}: {}", r.stderr);
        let a = Ack::parse(&r.stdout);
        assert!(a.all("ST").is_empty(), "{kind}: {}", a.text());
        assert!(a.all("TA1").is_empty(), "{kind}: {}", a.text());
    }
    // A TA1-only interchange gets no TA1 back, even on request.
    let ta1 = format!(
        "{}TA1*000000005*240101*1200*A*000~\nIEA*0*000000001~\n",
        isa("00401", "000000001", true)
    );
    for kind in ["997", "999", "auto", "ta1"] {
        let r = validate(&ta1, &["--ack", kind]);
        assert_eq!(r.code, 0, "{kind}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{kind}: {}", r.out());
    }
    // The public 999 samples too.
    let r = validate(
        std::fs::read(data("pyx12__834_lui_id_5010.999.txt")).expect("sample"),
        &["--ack", "999"],
    );
    assert!(r.stdout.is_empty(), "{}", r.out());
}

// ---- mirroring the inbound envelope ----------------------------------------------------------

#[test]
fn acks_mirror_the_inbound_envelope() {
    let a = ack(po4010(&[PO_LINE]), "997");
    let isa = &a.all("ISA")[0];
    assert_eq!(isa[5].trim(), "SUPPLIER");
    assert_eq!(isa[7].trim(), "HOSPITAL");
    assert_eq!(isa[11], "00401");
    assert_eq!(isa[10], "U");
    let gs = &a.all("GS")[0];
    assert_eq!(&gs[..3], ["FA", "SUPPLIER", "HOSPITAL"]);
    assert_eq!(gs[7], "004010");
    assert_eq!(
        a.ids(),
        ["ISA", "GS", "ST", "AK1", "AK2", "AK5", "AK9", "SE", "GE", "IEA"]
    );

    let a = ack(po5010(&[PO_LINE]), "999");
    assert_eq!(a.all("ISA")[0][11], "00501");
    assert_eq!(a.all("GS")[0][7], "005010X231A1");
    assert_eq!(a.one("ST"), "ST*999*0001*005010X231A1");
    assert_eq!(a.one("AK1"), "AK1*PO*1*005010");
    assert_eq!(a.one("IK5"), "IK5*A");

    // A 997 for a 5010 group mirrors GS08 too.
    let a = ack(po5010(&[PO_LINE]), "997");
    assert_eq!(a.all("GS")[0][7], "005010");
}

// ---- the CLI contract ------------------------------------------------------------------------

#[test]
fn exit_codes() {
    assert_eq!(validate(po4010(&[PO_LINE]), &[]).code, 0);
    assert_eq!(validate(po4010(&["PO1*1**EA"]), &[]).code, 1);
    assert_eq!(validate("hello, this is not X12\n", &[]).code, 1);
    assert_eq!(validate("", &[]).code, 1);
    assert_eq!(edigate(&["validate", "/no/such/file.x12"]).code, 2);
    assert_eq!(edigate(&["validate"]).code, 2);
    assert_eq!(edigate(&["validate", "--ack", "998", "x"]).code, 2);
    assert_eq!(edigate(&["frobnicate"]).code, 2);
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(
        edigate(&["validate", &dir.path().to_string_lossy()]).code,
        2
    );
}

#[test]
fn json_gives_one_record_per_set_with_positions() {
    let input = interchange(
        "00401",
        &[group(
            "PO",
            "42",
            "004010",
            &[
                set("850", "0001", &po_body(&[PO_LINE])),
                set("850", "0002", &po_body(&["PO1*1**EA*1.50**VC*ABC"])),
            ],
        )],
    );
    let r = validate(&input, &["--format", "json"]);
    assert_eq!(r.code, 1);
    let records: Vec<serde_json::Value> = r
        .out()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON record per line"))
        .collect();
    assert_eq!(records.len(), 2, "{}", r.out());
    let ok = &records[0];
    assert_eq!(ok["interchange"], "000000001");
    assert_eq!(ok["group"], "42");
    assert_eq!(ok["set"], "0001");
    assert_eq!(ok["status"], "A");
    assert!(ok["file"].as_str().is_some_and(|f| !f.is_empty()));
    let bad = &records[1];
    assert_eq!(bad["set"], "0002");
    assert_eq!(bad["status"], "R");
    let errors = bad["errors"].as_array().expect("errors");
    let element = errors
        .iter()
        .find(|e| e["level"] == "element")
        .expect("an element error");
    assert_eq!(element["code"], 2);
    assert_eq!(element["segment_id"], "PO1");
    assert_eq!(element["segment_position"], 3);
    assert_eq!(element["element"], 2);
    assert!(element.get("component").is_some());
    assert!(element.get("value").is_some());
    let po1_offset = input.match_indices("PO1*1**EA").next().expect("PO1").0;
    assert_eq!(element["offset"], po1_offset as u64);
    assert!(errors
        .iter()
        .any(|e| e["level"] == "segment" && e["code"] == 8));
}

#[test]
fn inspect_names_segments_and_elements() {
    let mut f = tempfile::NamedTempFile::new().expect("temp");
    f.write_all(po4010(&[PO_LINE]).as_bytes()).expect("write");
    let r = edigate(&["inspect", &f.path().to_string_lossy()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.out();
    assert!(
        out.contains("BEG Beginning Segment for Purchase Order"),
        "{out}"
    );
    assert!(
        out.contains("BEG03 Purchase Order Number [324] = PO123"),
        "{out}"
    );
    assert!(out.contains("PO1 Baseline Item Data"), "{out}");
    assert!(out.contains("Original"), "code names are shown: {out}");
    // The ISA, read before any GS names a version, is named too.
    assert!(
        out.contains("ISA15 Interchange Usage Indicator [I14] = P (Production Data)"),
        "{out}"
    );
}

// ---- public samples --------------------------------------------------------------------------

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/x12")
        .join(name)
}

/// What each public sample must give (testdata/README.md and SOURCES.md explain them).
/// `expect` is matched against the text report.
const SAMPLES: &[(&str, i32, &str)] = &[
    // 810
    ("bots__810-004010-01.x12", 0, "2 of 2 sets accepted"),
    ("bots__810-004010VICS-01.x12", 0, "2 of 2 sets accepted"),
    ("bots__810-004030-01.x12", 1, "[AK9 2]"),
    ("bots__810-004030VICS-01.x12", 1, "[AK9 2]"),
    ("bots__retailer-810_1.x12", 0, "1 of 1 sets accepted"),
    ("bots__supplier-810_3.x12", 1, "IT104: AK403 2"),
    (
        "oopfactory__810_2011110815164104.txt",
        0,
        "1 of 1 sets accepted",
    ),
    (
        "oopfactory__810_Example1_CaliforniaISO.txt",
        0,
        "1 of 1 sets accepted",
    ),
    (
        "oopfactory__810_Example2_ManualBilling.txt",
        0,
        "1 of 1 sets accepted",
    ),
    ("oopfactory__810_Example3_MultiInvoice.txt", 1, "[AK9 2]"),
    ("oopfactory__810_Example5_Walmart.txt", 1, "TA1 023"),
    // 850
    ("bots__850-004010-01.x12", 0, "1 of 1 sets accepted"),
    ("bots__850-004010-02.x12", 1, "[AK5 7]"),
    ("bots__850-004010-03.x12", 1, "DTM06: AK403 2"),
    ("bots__850-004010-04.x12", 0, "1 of 1 sets accepted"),
    ("bots__850-004010-05.x12", 1, "DTM06: AK403 2"),
    ("bots__850-004010-06.x12", 0, "1 of 1 sets accepted"),
    ("bots__850-004010-07.x12", 1, "DTM06: AK403 2"),
    ("bots__850-004010-08.x12", 1, "hard-wrapped"),
    ("bots__850-004010-12.x12", 0, "interchange 000000739"),
    ("bots__850-004010.13.x12", 0, "1 of 1 sets accepted"),
    ("bots__850-004010.14.x12", 0, "interchange 000000739"),
    ("bots__850-004010.15.x12", 0, "4 of 4 sets accepted"),
    ("bots__850-004010.16.x12", 1, "DTM06: AK403 2"),
    ("bots__850-004010VICS-01.x12", 0, "4 of 4 sets accepted"),
    ("bots__850-004010VICS-02.x12", 0, "1 of 1 sets accepted"),
    ("bots__850-004030-01.x12", 1, "[AK9 2]"),
    ("bots__850-004030-03.x12", 1, "[AK9 2]"),
    ("bots__850-004010-ascii-lf.x12", 0, "1 of 1 sets accepted"),
    ("bots__850-ebcdic.x12", 1, "not X12"),
    (
        "bots__850_01-tilde-element-sep.x12",
        0,
        "1 of 1 sets accepted",
    ),
    ("bots__850-02-pipe.x12", 0, "4 of 4 sets accepted"),
    ("bots__retailer-850_1.x12", 0, "1 of 1 sets accepted"),
    ("bots__simplemailbag.x12", 0, "1 of 1 sets accepted"),
    ("node-x12__850.edi", 0, "1 of 1 sets accepted"),
    ("node-x12__850_2.edi", 0, "1 of 1 sets accepted"),
    ("node-x12__850_3.edi", 0, "1 of 1 sets accepted"),
    ("node-x12__850_fat.edi", 0, "1 of 1 sets accepted"),
    (
        "oopfactory__Example1_PGWGlass.txt",
        0,
        "1 of 1 sets accepted",
    ),
    ("oopfactory__Example2_Adobe_TLP.txt", 1, "TA1 023"),
    ("oopfactory__Example3_Adobe_CLP.txt", 1, "TA1 006"),
    ("oopfactory__Example4_Adobe_ShrinkWrapped.txt", 1, "TA1 006"),
    ("oopfactory__From_aojuk.txt", 0, "1 of 1 sets accepted"),
    // 855
    ("bots__855-004010UCS-01.x12", 0, "6 of 6 sets accepted"),
    ("node-x12__855.edi", 0, "1 of 1 sets accepted"),
    ("oopfactory__855SSimmons.txt", 0, "2 of 2 sets accepted"),
    ("oopfactory__855_Example1_Adobe.txt", 1, "TA1 023"),
    // 856
    ("bots__retailer-856_1.x12", 0, "1 of 1 sets accepted"),
    ("bots__retailer-856_2.x12", 0, "2 of 2 sets accepted"),
    ("bots__PARTNER1_856.x12", 0, "1 of 1 sets accepted"),
    (
        "bots__PARTNER2_856_plus_apos.x12",
        0,
        "2 of 2 sets accepted",
    ),
    ("bots__PARTNER3_856.x12", 0, "1 of 1 sets accepted"),
    ("oopfactory__856_Example1.txt", 0, "1 of 1 sets accepted"),
    ("oopfactory__856_Example2.txt", 1, "[AK9 2]"),
    ("oopfactory__856_Example3.txt", 1, "TA1 004"),
    ("oopfactory__856_Example4.txt", 1, "N402: AK403 5"),
    (
        "oopfactory__856_FromGregarican.txt",
        0,
        "1 of 1 sets accepted",
    ),
    // 997
    ("bots__997-004010VICS-01.x12", 0, "1 of 1 sets accepted"),
    ("bots__retailer-997_1.x12", 0, "1 of 1 sets accepted"),
    ("bots__supplier-997_6.x12", 0, "4 of 4 sets accepted"),
    ("bots__supplier-997_11.x12", 0, "3 of 3 sets accepted"),
    ("bots__testx12001.x12", 0, "1 of 1 sets accepted"),
    ("bots__testx12002.x12", 0, "1 of 1 sets accepted"),
    ("bots__testx12005.x12", 0, "8 of 8 sets accepted"),
    ("bots__testx12011.x12", 0, "1 of 1 sets accepted"),
    ("bots__testx12027.x12", 0, "1 of 1 sets accepted"),
    // 999
    (
        "pyx12__834_ls_le_ls_5010.999.txt",
        0,
        "1 of 1 sets accepted",
    ),
    ("pyx12__834_lui_id_5010.999.txt", 0, "2 of 2 sets accepted"),
    (
        "oopfactory__999_DHS_Wisconsin_Sample.txt",
        1,
        "AK202: AK403 4",
    ),
    ("x12-ruby__999_msg0.edi", 0, "1 of 1 sets accepted"),
    ("x12-ruby__999_msg1.edi", 1, "CTX06-1: AK403 6"),
    ("x12-ruby__999_msg2.edi", 0, "1 of 1 sets accepted"),
    // other
    ("bots__ta1_only_testx120028.x12", 0, "accepted"),
    ("bots__ta1_many_testx120029.x12", 0, "accepted"),
    ("bots__830-004010UCS-01.x12", 1, "[AK5 1]"),
    ("bots__894-004010UCS-01.x12", 1, "[AK5 1]"),
    ("bots__820-004030-03.x12", 1, "[AK9 2]"),
    ("oopfactory__TA1_Sample1.txt", 1, "TA101"),
    ("oopfactory__TA1_FromJeffN825.txt", 1, "TA1 023"),
    ("oopfactory__832_HIBCC_Example1.txt", 1, "[AK5 1]"),
    ("oopfactory__832_HIBCC_Example2.txt", 1, "[AK5 1]"),
];

#[test]
fn every_public_sample_gives_its_documented_outcome() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/x12");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("testdata/x12")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "README.md")
        .collect();
    files.sort();
    let mut listed: Vec<&str> = SAMPLES.iter().map(|s| s.0).collect();
    listed.sort();
    assert_eq!(files, listed, "every sample file has an expected outcome");
    let mut failures = Vec::new();
    for (name, code, expect) in SAMPLES {
        let path = dir.join(name);
        let r = edigate(&["validate", &path.to_string_lossy()]);
        let out = r.out();
        if r.code != *code || !out.contains(expect) {
            failures.push(format!(
                "{name}: exit {} (want {code}), want `{expect}` in:\n{out}{}",
                r.code, r.stderr
            ));
        }
        // Acks for every sample parse and validate with our own validator.
        // (A 997 that mirrors a GS08 we ship no grammar for cannot be checked by us.)
        let r = edigate(&["validate", "--ack", "auto", &path.to_string_lossy()]);
        let a = Ack::parse(&r.stdout);
        let shipped = a.all("GS").iter().all(|g| {
            g.get(7)
                .is_some_and(|v| v.starts_with("004010") || v.starts_with("005010"))
        });
        if shipped {
            a.assert_clean();
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}

// ---- messy layouts ---------------------------------------------------------------------------

fn assert_one_clean_850(input: &[u8], why: &str) {
    let (c, s) = check_bytes(input);
    assert_eq!(s.sets, 1, "{why}: {c:#?}");
    assert!(s.clean(), "{why}: {c:#?}");
}

#[test]
fn bom_indentation_and_line_ends() {
    let base = po4010(&[PO_LINE]);
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(base.as_bytes());
    assert_one_clean_850(&bom, "BOM");
    assert_one_clean_850(format!("\n\n  {base}").as_bytes(), "leading whitespace");
    assert_one_clean_850(base.replace("~\n", "~\r\n").as_bytes(), "CRLF");
    assert_one_clean_850(base.replace("~\n", "~").as_bytes(), "no line ends");
    assert_one_clean_850(base.replace('~', "").as_bytes(), "LF terminator");
    assert_one_clean_850(
        base.replace('~', "").replace('\n', "\r\n").as_bytes(),
        "LF terminator with CR",
    );
}

#[test]
fn indentation_is_skipped_with_a_warning() {
    let base = po4010(&[PO_LINE]).replace("~\n", "~\n    ");
    let (c, s) = check_bytes(base.as_bytes());
    assert_eq!(s.sets_accepted, 1, "{c:#?}");
    assert!(c.interchanges[0]
        .warnings
        .iter()
        .any(|w| w.contains("spaces")));
}

#[test]
fn hard_wrapped_at_80_columns() {
    let flat = po4010(&[PO_LINE]).replace("~\n", "~");
    for nl in ["\n", "\r\n"] {
        let wrapped: Vec<String> = flat
            .as_bytes()
            .chunks(80)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let input = wrapped.join(nl) + nl;
        let (c, s) = check_bytes(input.as_bytes());
        assert_eq!(s.sets_accepted, 1, "{c:#?}");
        assert!(c.interchanges[0]
            .warnings
            .iter()
            .any(|w| w.contains("hard-wrapped")));
    }
}

#[test]
fn unusual_separators() {
    let base = po4010(&[PO_LINE]);
    let swap = |from: &[(char, char)]| -> String {
        base.chars()
            .map(|c| from.iter().find(|(f, _)| *f == c).map_or(c, |(_, t)| *t))
            .collect()
    };
    for (what, map) in [
        ("pipe element", vec![('*', '|')]),
        ("caret component", vec![('>', '^')]),
        (
            "DEL element, NAK terminator",
            vec![('*', '\u{7f}'), ('~', '\u{15}')],
        ),
        (
            "tilde element, LF terminator",
            vec![('*', '~'), ('~', '\n')],
        ),
        ("EDIFACT-looking", vec![('*', '+'), ('~', '\'')]),
    ] {
        // The swap must not touch data (none of the chosen bytes occurs in the values).
        let input = if what.starts_with("tilde") {
            base.replace("~\n", "\n").replace('*', "~")
        } else {
            swap(&map)
        };
        assert_one_clean_850(input.as_bytes(), what);
    }
}

#[test]
fn interchanges_back_to_back_and_offsets_refer_to_the_file() {
    let one = po4010(&[PO_LINE]);
    let two = format!("{one}{}", one.replace('\n', "\r\n"));
    let (c, s) = check_bytes(two.as_bytes());
    assert_eq!(s.interchanges, 2);
    assert_eq!(s.sets_accepted, 2);
    assert_eq!(
        c.sets[1].offset as usize,
        one.len() + two[one.len()..].find("ST*").unwrap_or(0)
    );
}

#[test]
fn latin1_and_utf8_text_is_not_mangled() {
    // Non-ASCII letters are outside the basic character set (AK403 6) unless a partner is
    // lenient; the bytes reported are the file's own.
    let utf8 = po4010(&[PO_LINE, "PID*F****GAZE STÉRILE"]);
    let latin1: Vec<u8> = utf8
        .replace('É', "\u{0}")
        .bytes()
        .map(|b| if b == 0 { 0xC9 } else { b })
        .collect();
    for (what, input) in [("utf-8", utf8.into_bytes()), ("latin-1", latin1)] {
        let a = ack(&input, "997");
        assert_eq!(a.one("AK4"), "AK4*5*352*6", "{what}");
        let lenient = Leniency {
            non_ascii_text: true,
            ..Leniency::default()
        };
        let (c, s) =
            envelope::check(&input[..], &grammars(), lenient, Collect::default()).expect("check");
        assert!(s.clean(), "{what}: {c:#?}");
    }
}

#[test]
fn alphanumeric_isa11_in_5010_is_no_repetition_separator() {
    let input = po5010(&[PO_LINE]).replacen("*^*00501*", "*U*00501*", 1);
    let (c, s) = check_bytes(input.as_bytes());
    assert!(s.clean(), "{c:#?}");
    assert!(c.interchanges[0]
        .warnings
        .iter()
        .any(|w| w.contains("ISA11")));
}

#[test]
fn garbage_empty_truncated_and_binary_input() {
    let good = po4010(&[PO_LINE]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("whitespace", b"\r\n \t\n".to_vec()),
        (
            "garbage",
            b"Dear supplier, please find our order attached.".to_vec(),
        ),
        ("ISA only", b"ISA".to_vec()),
        ("truncated header", good.as_bytes()[..60].to_vec()),
        ("truncated body", good.as_bytes()[..good.len() / 2].to_vec()),
        (
            "binary",
            (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect(),
        ),
        ("garbage then X12", format!("junk\n{good}").into_bytes()),
        ("X12 then garbage", format!("{good}junk").into_bytes()),
        ("zero bytes", vec![0; 1000]),
    ];
    for (what, input) in cases {
        let (_, s) = check_bytes(&input);
        assert!(!s.clean(), "{what} must not pass as clean");
        let r = validate(&input, &["--ack", "auto"]);
        assert_eq!(r.code, 1, "{what}: {}", r.stderr);
        Ack::parse(&r.stdout).assert_clean();
    }
}

#[test]
fn memory_does_not_grow_with_a_huge_segment() {
    // A "segment" of 20 MB with no terminator is reported, not buffered without end.
    let mut input = isa("00401", "000000001", false).into_bytes();
    input.extend(std::iter::repeat_n(b'A', 20 * 1024 * 1024));
    let (c, s) = check_bytes(&input);
    assert!(!s.clean());
    assert!(!c.problems.is_empty() || !c.interchanges.is_empty());
}

// ---- writer/reader round trip (property test) ------------------------------------------------

mod roundtrip {
    use super::*;
    use proptest::prelude::*;

    /// Delimiter sets: element, component, repetition, terminator, all distinct, none a
    /// letter, digit or space.
    /// LF may only be the terminator: inside a segment it reads as a hard line wrap.
    fn delimiters() -> impl Strategy<Value = Delimiters> {
        let pool: Vec<u8> = b"*|+!^:>~'\\\x1c\x1d\x1e\x1f\x15\x7f`@#$%&".to_vec();
        (
            proptest::sample::subsequence(pool, 4).prop_shuffle(),
            any::<bool>(),
        )
            .prop_map(|(v, lf)| Delimiters {
                element: v[0],
                component: v[1],
                repetition: Some(v[2]),
                segment: if lf { b'\n' } else { v[3] },
            })
    }

    /// Values from letters, digits, space and punctuation that is never a delimiter above.
    fn value() -> impl Strategy<Value = String> {
        "[A-Z0-9 .,/()=?-]{0,8}"
    }

    fn element() -> impl Strategy<Value = Vec<Vec<String>>> {
        prop::collection::vec(prop::collection::vec(value(), 1..4), 1..3)
    }

    fn segment() -> impl Strategy<Value = OwnedSegment> {
        ("[A-Z][A-Z0-9]{1,2}", prop::collection::vec(element(), 0..8)).prop_map(|(id, elements)| {
            let mut s = OwnedSegment { id, elements };
            s.normalise();
            s
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn segments_read_back_as_written(
            d in delimiters(),
            newline in any::<bool>(),
            segs in prop::collection::vec(segment(), 1..12),
        ) {
            // Segments must not look like envelopes: those are the writer's own job.
            let segs: Vec<OwnedSegment> = segs
                .into_iter()
                .filter(|s| !matches!(s.id.as_str(), "ISA" | "IEA" | "GS" | "GE" | "ST" | "SE" | "TA1"))
                .collect();
            let header = InterchangeHeader {
                sender_qualifier: "ZZ".into(),
                sender_id: "HOSPITAL".into(),
                receiver_qualifier: "ZZ".into(),
                receiver_id: "SUPPLIER".into(),
                date: "240101".into(),
                time: "1200".into(),
                version: "00501".into(),
                control_number: 1,
                ack_requested: false,
                usage: "P".into(),
            };
            let mut w = InterchangeWriter::begin(Vec::new(), &header, SegmentWriter { delimiters: d, newline })
                .expect("ISA");
            w.begin_group(["PO", "HOSPITAL", "SUPPLIER", "20240101", "1200"], 1, "005010").expect("GS");
            w.begin_set("850", "0001", None).expect("ST");
            for s in &segs {
                w.segment(s).expect("segment");
            }
            let bytes = w.finish().expect("IEA");

            let mut r = SegmentReader::new(&bytes[..]);
            let mut got = Vec::new();
            while let Some(item) = r.next_item().expect("read") {
                match item {
                    Item::Segment(s) => {
                        prop_assert_eq!(s.delimiters, d);
                        got.push(OwnedSegment::parse(s.raw, &s.delimiters));
                    }
                    other => prop_assert!(false, "unexpected {:?}", other),
                }
            }
            let ids: Vec<&str> = got.iter().map(|s| s.id.as_str()).collect();
            prop_assert_eq!(&ids[..3], &["ISA", "GS", "ST"]);
            prop_assert_eq!(&ids[ids.len() - 3..], &["SE", "GE", "IEA"]);
            prop_assert_eq!(&got[3..got.len() - 3], &segs[..]);
            // And the envelope the writer computed checks out.
            let (_, s) = check_bytes(&bytes);
            prop_assert_eq!(s.interchange_errors, 0);
            prop_assert_eq!(s.sets, 1);
        }
    }
}

// ---- set walks on worker threads ---------------------------------------------------------------

/// Every event a sink receives, in order, as text; it declines segments so `check_with` may use
/// workers.
#[derive(Default)]
struct Events(Vec<String>);

impl envelope::Sink for Events {
    fn wants_segments(&self) -> bool {
        false
    }
    fn interchange_start(&mut self, isa: &IsaInfo) {
        self.0.push(format!("ISA {isa:?}"));
    }
    fn group_start(&mut self, _: &IsaInfo, gs: &GroupInfo) {
        self.0.push(format!("GS {gs:?}"));
    }
    fn set_done(&mut self, _: &IsaInfo, gs: &GroupInfo, set: &SetResult) {
        self.0.push(format!("SET in {} {set:?}", gs.control_number));
    }
    fn group_done(&mut self, _: &IsaInfo, gs: &GroupInfo, r: &GroupResult) {
        self.0.push(format!("GE {} {r:?}", gs.control_number));
    }
    fn interchange_done(&mut self, isa: &IsaInfo, r: &InterchangeResult) {
        self.0.push(format!("IEA {} {r:?}", isa.control_number()));
    }
    fn problem(&mut self, p: &envelope::FileProblem) {
        self.0.push(format!("PROBLEM {p:?}"));
    }
}

/// A file with every kind of trouble between good sets: bad elements, unknown and misplaced
/// segments, count and control mismatches, a missing SE, a set outside a group, an unsupported
/// set, garbage, a second group and interchange, and a large 856.
fn troubled_file() -> String {
    let mut sets = Vec::new();
    for i in 0..40 {
        let ctl = format!("{:04}", i + 1);
        sets.push(match i % 8 {
            0 => set("850", &ctl, &po_body(&[PO_LINE])),
            1 => set("850", &ctl, &po_body(&["PO1*1*X*EA*1.50**VC*ABC123"])),
            2 => set("850", &ctl, &po_body(&["ZZZ*1", PO_LINE])),
            3 => set("850", &ctl, &po_body(&[PO_LINE]))
                .replace(&format!("SE*5*{ctl}"), &format!("SE*9*{ctl}")),
            4 => {
                set("850", &ctl, &po_body(&[PO_LINE])).replace(&format!("SE*5*{ctl}"), "SE*5*9999")
            }
            5 => format!("ST*850*{ctl}~\n{PO_HEAD}~\n{PO_LINE}~\n"),
            6 => set("855", &ctl, &["BAK*00*AC*PO1*20240101"]),
            _ => set("850", &ctl, &["CTT*1", PO_HEAD, PO_LINE]),
        });
    }
    let many_lines: Vec<String> = (1..=300)
        .map(|n| format!("PO1*{n}*10*EA*1.50**VC*ABC{n}"))
        .collect();
    let many: Vec<&str> = many_lines.iter().map(String::as_str).collect();
    sets.push(set("850", "0099", &po_body(&many)));
    let mut text = interchange(
        "00401",
        &[
            group("PO", "1", "004010", &sets),
            group("PO", "2", "004010", &sets[..5]),
            group("IN", "3", "004010", &sets[..3]),
        ],
    );
    text.push_str("garbage between interchanges\n");
    text.push_str(&set("850", "0500", &po_body(&[PO_LINE])));
    text.push_str(&po5010(&[
        "PO1*1*10*EA*1.50**VC*ABC123",
        "PO1*2*1*ZZZ*1**VC*X",
    ]));
    text.push_str(&interchange(
        "00401",
        &[group("PO", "7", "004010", &sets[..9])],
    ));
    // The last interchange is cut off inside a set.
    let cut = interchange("00401", &[group("PO", "8", "004010", &sets[..2])]);
    text.push_str(&cut[..cut.len() - 40]);
    text
}

fn events(input: &[u8], parallel: envelope_threads::Parallel) -> (Vec<String>, String) {
    let (sink, summary) = envelope::check_with(
        input,
        &grammars(),
        Leniency::default(),
        Events::default(),
        parallel,
    )
    .expect("in-memory read cannot fail");
    (sink.0, format!("{summary:?}"))
}

use edigate::x12::offload as envelope_threads;

#[test]
fn worker_threads_report_exactly_what_one_thread_does() {
    use envelope_threads::Parallel;
    let mut inputs: Vec<(String, Vec<u8>)> = vec![("troubled".into(), troubled_file().into())];
    let mut all = Vec::new();
    for entry in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/x12"))
        .expect("testdata/x12")
    {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("sample");
        all.extend_from_slice(&bytes);
        inputs.push((path.display().to_string(), bytes));
    }
    inputs.push(("all samples back to back".into(), all));
    let configs = [
        // Every set its own job, and sets over 300 bytes taken back to this thread mid-way.
        Parallel {
            workers: 3,
            job_bytes: 1,
            max_set_bytes: 300,
        },
        Parallel {
            workers: 2,
            job_bytes: 2048,
            max_set_bytes: usize::MAX,
        },
        Parallel::auto(),
    ];
    for (name, input) in &inputs {
        let (want, want_summary) = events(input, Parallel::OFF);
        assert!(!want.is_empty(), "{name}: no events");
        for config in configs {
            let (got, got_summary) = events(input, config);
            assert_eq!(got_summary, want_summary, "{name} with {config:?}");
            assert_eq!(got.len(), want.len(), "{name} with {config:?}");
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g, w, "{name} with {config:?}");
            }
        }
    }
    // The troubled file really is troubled, so the comparison covers error paths.
    let (want, _) = events(troubled_file().as_bytes(), Parallel::OFF);
    let text = want.join("\n");
    for needle in [
        "Rejected",
        "TrailerMissing",
        "CountMismatch",
        "PROBLEM",
        "NotSupported",
    ] {
        assert!(text.contains(needle), "troubled file never yields {needle}");
    }
}
