//! Map files as data: the rule list of one map, compiled into blocks (a block per object or
//! array level of the canonical document), with every problem reported as
//! `file:line: what is wrong, expected what`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::path::{X12Path, XmlPath};
use super::MapError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    X12,
    Cxml,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    Inbound,
    Outbound,
}

/// How a value is converted between the document format and the canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Convert {
    None,
    /// CCYYMMDD / YYMMDD (X12) or ISO 8601 with time (cXML) ⇄ YYYY-MM-DD.
    Date,
    /// HHMM[SS] ⇄ HH:MM[:SS].
    Time,
    /// An explicit decimal (X12 R, cXML numbers) ⇄ canonical decimal string.
    Decimal,
    /// An X12 Nn value with n implied decimals ⇄ canonical decimal string.
    Implied(u32),
    /// A whole number.
    Integer,
    /// ISO 8601 timestamp with offset, kept as is.
    Timestamp,
    /// `true` when the source has any value (outbound: `Y`).
    Flag,
    /// Outbound only: the number of elements of the canonical array named by `to` (CTT01).
    Count,
    /// A GTIN-8/12/13/14 with a valid check digit, normalised to 14 digits; anything else
    /// yields no value (see `invalid_to`).
    Gtin,
    /// An SSCC of 18 digits (or 20 led by AI `00`), normalised to 18; anything else yields no
    /// value (see `invalid_to`).
    Sscc,
}

impl Convert {
    fn parse(s: &str) -> Option<Convert> {
        Some(match s {
            "date" => Convert::Date,
            "time" => Convert::Time,
            "decimal" => Convert::Decimal,
            "integer" => Convert::Integer,
            "timestamp" => Convert::Timestamp,
            "flag" => Convert::Flag,
            "count" => Convert::Count,
            "gtin" => Convert::Gtin,
            "sscc" => Convert::Sscc,
            _ => {
                let n = s.strip_prefix("implied")?;
                Convert::Implied(n.parse().ok().filter(|n: &u32| *n <= 9)?)
            }
        })
    }
}

#[derive(Debug, Clone)]
pub enum Source {
    X12(X12Path),
    Xml(XmlPath),
}

impl Source {
    pub fn text(&self) -> &str {
        match self {
            Source::X12(p) => &p.text,
            Source::Xml(p) => &p.text,
        }
    }
}

/// One field rule: canonical path (relative to its block) ⇄ source path(s).
#[derive(Debug, Clone)]
pub struct Rule {
    pub line: usize,
    pub to: Vec<String>,
    pub to_text: String,
    pub from: Vec<Source>,
    pub value: Option<String>,
    pub convert: Convert,
    pub table: Option<String>,
    pub default: Option<String>,
    pub required: bool,
    pub when: Option<Source>,
    pub when_value: Option<String>,
    pub only: Option<Only>,
    /// Outbound: write the value only if it is valid for the target element (type, length,
    /// complete code list); otherwise leave what an earlier rule wrote.
    pub if_valid: bool,
    /// With `convert = "gtin"`/`"sscc"`: where a value that is not a valid id goes instead, as
    /// `{ qualifier, value }` appended to this array (path relative to the rule's block).
    pub invalid_to: Option<Vec<String>>,
    /// Inbound X12: how the rule reads its value, decided when the map compiles (so a read does
    /// not work it out again per rule per document).
    pub read: Read,
    /// `to` is one key that nothing else in the rule's block writes (no other rule, sub-block
    /// or `invalid_to` starts with it), so the value is added to the block's object without
    /// looking for the key first. Set by `compile`.
    pub fresh_key: bool,
    /// The table `table` names, from the tables the map is compiled with (set when the map
    /// loads): a read goes to it without looking the name up.
    pub code_table: Option<Arc<Table>>,
}

impl Rule {
    /// What a required rule that read nothing says (inbound X12 and cXML alike).
    pub fn missing_message(&self) -> String {
        let from = self
            .from
            .iter()
            .map(Source::text)
            .collect::<Vec<_>>()
            .join(" or ");
        format!(
            "{} is required, but {from} is empty or missing",
            self.to_text
        )
    }
}

/// How an inbound X12 rule reads its value (`Rule::read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// One element of a segment of the rule's own loop instance (`PO102`, `N104`,
    /// `DTM02[DTM01=002]`: no loop steps, component, `when` or `invalid_to`): the segment's id
    /// as an `id_code` and the element position, so the read skips the general path walk. Most
    /// rules are like this. `qualified` when the path names conditions, which stay in the path
    /// (only such reads look them up).
    Simple {
        code: u32,
        elem: usize,
        qualified: bool,
    },
    /// The id of a qualifier/id pair of a segment of the rule's own loop instance
    /// (`PO1[VP|VN]`: no loop steps, condition or `when`; qualifiers of up to three bytes): the
    /// segment's id as an `id_code`, so the read skips the general path walk, and the rule's
    /// number among the map's pair reads (`x12::number_pair_reads`), by which one pass over a
    /// segment's pairs answers every pair read of it.
    Pair { code: u32, index: u8 },
    /// What `Simple` reads, in each place the path's loop steps reach from the rule's loop
    /// instance (`PID[PID01=F]/PID05`: not absolute): the walk without the general target scan.
    Nested {
        code: u32,
        elem: usize,
        qualified: bool,
    },
    /// `value` without `when`: the value itself.
    Constant,
    /// Anything else: `when`, then `value` or the first value of the `from` paths.
    General,
}

/// A nested object (`in`) or array (`each`) of the canonical document, and its rules.
#[derive(Debug, Clone)]
pub struct Block {
    pub line: usize,
    /// Path of this block relative to its parent block.
    pub to: Vec<String>,
    pub to_text: String,
    /// What each element (array) or the object (`in`) is read from; `None` for the root.
    pub source: Option<Source>,
    pub array: bool,
    /// Array of plain values (`notes[]` with `from`): one element per match of `scalar`.
    pub scalar: Option<Rule>,
    pub rules: Vec<Rule>,
    pub blocks: Vec<Block>,
    pub only: Option<Only>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    kind: String,
    format: String,
    #[serde(default)]
    set: Option<String>,
    #[serde(default)]
    versions: Vec<String>,
    #[serde(default)]
    document: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize, Clone)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    to: String,
    #[serde(default)]
    from: Option<OneOrMany>,
    #[serde(default)]
    each: Option<String>,
    #[serde(default, rename = "in")]
    within: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    convert: Option<String>,
    #[serde(default)]
    table: Option<String>,
    #[serde(default)]
    default: Option<String>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    when: Option<String>,
    #[serde(default)]
    only: Option<String>,
    #[serde(default)]
    if_valid: bool,
    #[serde(default)]
    invalid_to: Option<String>,
    /// In a partner override: remove the base map's rule for `to`.
    #[serde(default)]
    drop: bool,
}

/// The parsed, not yet compiled, content of a map file (so partner overrides can merge).
#[derive(Clone)]
pub(crate) struct MapText {
    pub file: String,
    #[allow(dead_code)]
    pub text: String,
    pub kind: String,
    pub format: Format,
    pub set: Option<String>,
    pub versions: Vec<String>,
    pub document: Option<String>,
    pub rules: Vec<(usize, RawRule)>,
}

fn line_of(text: &str, offset: usize) -> usize {
    Lines::default().at(text, offset)
}

/// Line numbers of ascending offsets into one text, each counted on from the last rather than
/// from the start (a map's rules are in file order: counting each from the start was quadratic
/// in the file's length).
#[derive(Default)]
struct Lines {
    offset: usize,
    newlines: usize,
}

impl Lines {
    fn at(&mut self, text: &str, offset: usize) -> usize {
        let offset = offset.min(text.len());
        if offset < self.offset {
            *self = Lines::default();
        }
        self.newlines += text.as_bytes()[self.offset..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.offset = offset;
        self.newlines + 1
    }
}

pub(crate) fn parse_file(file: &str, text: &str) -> Result<MapText, MapError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| MapError {
        file: file.to_string(),
        line: e.span().map(|s| line_of(text, s.start)).unwrap_or(0),
        message: e.message().trim().to_string(),
    })?;
    let format = match raw.format.as_str() {
        "x12" => Format::X12,
        "cxml" => Format::Cxml,
        other => {
            return Err(MapError::at(
                file,
                1,
                format!("format `{other}`, expected x12 or cxml"),
            ))
        }
    };
    if format == Format::X12 && (raw.set.is_none() || raw.versions.is_empty()) {
        return Err(MapError::at(file, 1, "an x12 map needs `set` and `versions`, expected e.g. set = \"850\", versions = [\"004010\"]"));
    }
    if format == Format::Cxml && raw.document.is_none() {
        return Err(MapError::at(
            file,
            1,
            "a cxml map needs `document`, expected e.g. document = \"OrderRequest\"",
        ));
    }
    let mut lines = Lines::default();
    let rules = raw
        .rules
        .into_iter()
        .map(|r| (lines.at(text, r.span().start), r.into_inner()))
        .collect();
    Ok(MapText {
        file: file.to_string(),
        text: text.to_string(),
        kind: raw.kind,
        format,
        set: raw.set,
        versions: raw.versions,
        document: raw.document,
        rules,
    })
}

/// Applies a partner override: rules with the same `to` replace the base's, `drop` removes,
/// new ones are added after the base's.
pub(crate) fn merge(base: &MapText, over: &MapText) -> MapText {
    let mut out = base.clone();
    out.file = format!("{} + {}", base.file, over.file);
    for (line, r) in &over.rules {
        let pos = out.rules.iter().position(|(_, b)| b.to == r.to);
        match (pos, r.drop) {
            (Some(i), true) => {
                out.rules.remove(i);
            }
            (Some(i), false) => out.rules[i] = (*line, r.clone()),
            (None, true) => {}
            (None, false) => out.rules.push((*line, r.clone())),
        }
    }
    out
}

fn split_to(to: &str) -> Vec<String> {
    to.split('.').map(str::to_string).collect()
}

fn source(format: Format, text: &str) -> Result<Source, String> {
    match format {
        Format::X12 => X12Path::parse(text).map(Source::X12),
        Format::Cxml => XmlPath::parse(text).map(Source::Xml),
    }
}

/// Compiles the flat rule list into nested blocks. `lines[]` with `each` opens an array block;
/// `buyer` with `in` opens an object block; `lines[].quantity.value` goes into the `lines[]` block.
pub(crate) fn compile(m: &MapText) -> Result<Block, MapError> {
    let mut root = Block {
        line: 0,
        to: vec![],
        to_text: String::new(),
        source: None,
        array: false,
        scalar: None,
        rules: vec![],
        blocks: vec![],
        only: None,
    };
    let err = |line: usize, msg: String| MapError::at(&m.file, line, msg);
    for (line, r) in &m.rules {
        let line = *line;
        if r.drop {
            continue;
        }
        let only = match r.only.as_deref() {
            None => None,
            Some("inbound") => Some(Only::Inbound),
            Some("outbound") => Some(Only::Outbound),
            Some(o) => {
                return Err(err(
                    line,
                    format!("only = `{o}`, expected inbound or outbound"),
                ))
            }
        };
        if r.to.is_empty() || r.to.split('.').any(|p| p.is_empty() || p == "[]") {
            return Err(err(line, format!("to = `{}`, expected a canonical field path such as buyer.name or lines[].quantity", r.to)));
        }
        // Find the innermost declared block whose path prefixes this rule's path.
        let (block, rest) = find_block(&mut root, &r.to);
        let rel = rest.to_string();
        let opens = r.each.is_some() || r.within.is_some();
        if opens {
            let array = r.each.is_some();
            if array != rel.ends_with("[]") {
                return Err(err(line, format!("`{}`: `each` declares an array (to ends with []), `in` an object, expected them to match", r.to)));
            }
            let text = r
                .each
                .as_deref()
                .or(r.within.as_deref())
                .unwrap_or_default();
            let src = source(m.format, text).map_err(|e| err(line, e))?;
            let name = rel.trim_end_matches("[]");
            let scalar = match &r.from {
                Some(_) => Some(rule(m, line, r, vec![], only)?),
                None => None,
            };
            block.blocks.push(Block {
                line,
                to: split_to(name),
                to_text: rel.clone(),
                source: Some(src),
                array,
                scalar,
                rules: vec![],
                blocks: vec![],
                only,
            });
            continue;
        }
        if rel.contains("[]") {
            return Err(err(line, format!("`{}` is inside an array that no rule declares, expected first a rule like {{ to = \"{}\", each = \"...\" }}", r.to, &r.to[..r.to.find("[]").map_or(0, |i| i + 2)])));
        }
        let rule = rule(m, line, r, split_to(&rel), only)?;
        block.rules.push(rule);
    }
    mark_fresh_keys(&mut root);
    Ok(root)
}

/// Sets `Rule::fresh_key` on the rules of `b` and of every block inside it.
fn mark_fresh_keys(b: &mut Block) {
    let firsts: Vec<&str> = b
        .rules
        .iter()
        .flat_map(|r| {
            r.to.first()
                .into_iter()
                .chain(r.invalid_to.iter().flat_map(|i| i.first()))
        })
        .chain(b.blocks.iter().filter_map(|c| c.to.first()))
        .map(String::as_str)
        .collect();
    let once: Vec<bool> = b
        .rules
        .iter()
        .map(|r| r.to.len() == 1 && firsts.iter().filter(|k| **k == r.to[0].as_str()).count() == 1)
        .collect();
    for (r, fresh) in b.rules.iter_mut().zip(once) {
        r.fresh_key = fresh;
    }
    for c in &mut b.blocks {
        mark_fresh_keys(c);
    }
}

/// The latest declared block wins, so one array may be declared several times from several
/// sources (cXML `parties[]` from ShipTo, then from BillTo) and each rule joins the one above it.
fn find_block<'a, 'b>(b: &'a mut Block, to: &'b str) -> (&'a mut Block, &'b str) {
    let idx = b.blocks.iter().rposition(|c| {
        let p = &c.to_text;
        to.len() > p.len() && to.starts_with(p.as_str()) && to.as_bytes()[p.len()] == b'.'
    });
    match idx {
        Some(i) => {
            let plen = b.blocks[i].to_text.len() + 1;
            find_block(&mut b.blocks[i], &to[plen..])
        }
        None => (b, to),
    }
}

fn rule(
    m: &MapText,
    line: usize,
    r: &RawRule,
    to: Vec<String>,
    only: Option<Only>,
) -> Result<Rule, MapError> {
    let err = |msg: String| MapError::at(&m.file, line, msg);
    let from: Vec<Source> = match &r.from {
        None => vec![],
        Some(OneOrMany::One(s)) => vec![source(m.format, s).map_err(&err)?],
        Some(OneOrMany::Many(v)) => v
            .iter()
            .map(|s| source(m.format, s))
            .collect::<Result<_, _>>()
            .map_err(&err)?,
    };
    if from.is_empty() && r.value.is_none() {
        return Err(err(format!(
            "`{}` has neither `from` nor `value`, expected one of them",
            r.to
        )));
    }
    let convert = match r.convert.as_deref() {
        None => Convert::None,
        Some(c) => Convert::parse(c).ok_or_else(|| {
            err(format!("convert = `{c}`, expected date, time, decimal, implied2 (implied0..implied9), integer, timestamp, flag, count, gtin or sscc"))
        })?,
    };
    let invalid_to = match &r.invalid_to {
        None => None,
        Some(i) => {
            if !matches!(convert, Convert::Gtin | Convert::Sscc) {
                return Err(err(format!(
                    "`{}` has invalid_to but no convert = \"gtin\" or \"sscc\", expected one of them",
                    r.to
                )));
            }
            // The rule's block prefix (`lines[].`), which invalid_to must share.
            let prefix = &r.to[..r.to.len() - to.join(".").len()];
            match i.strip_prefix(prefix) {
                Some(rel) if !rel.is_empty() && !rel.contains("[]") => {
                    Some(split_to(rel))
                }
                _ => {
                    return Err(err(format!(
                        "invalid_to = `{i}`, expected an array next to `{}` such as {prefix}item.other_ids (no [])",
                        r.to
                    )))
                }
            }
        }
    };
    let (when, when_value) = match &r.when {
        None => (None, None),
        Some(w) => {
            let (p, v) = w
                .split_once('=')
                .ok_or_else(|| err(format!("when = `{w}`, expected PATH=VALUE")))?;
            (
                Some(source(m.format, p).map_err(&err)?),
                Some(v.trim().to_string()),
            )
        }
    };
    let read = match (&from[..], &when, &r.value) {
        ([Source::X12(p)], None, None) if !p.absolute => match &p.target {
            super::path::Target::Element {
                seg,
                elem,
                comp: None,
                conds,
            } if seg.len() <= 3 && invalid_to.is_none() => {
                let (code, elem, qualified) = (
                    super::x12::id_code(seg.as_bytes()),
                    *elem,
                    !conds.is_empty(),
                );
                match p.steps.is_empty() {
                    true => Read::Simple {
                        code,
                        elem,
                        qualified,
                    },
                    false => Read::Nested {
                        code,
                        elem,
                        qualified,
                    },
                }
            }
            // Qualifiers of up to three bytes: `pair_value` compares their `id_code`s only.
            super::path::Target::Pair {
                seg,
                conds,
                qualifiers,
            } if conds.is_empty()
                && p.steps.is_empty()
                && seg.len() <= 3
                && qualifiers.iter().all(|q| q.text.len() <= 3) =>
            {
                Read::Pair {
                    code: super::x12::id_code(seg.as_bytes()),
                    // Numbered once the whole map is compiled.
                    index: 0,
                }
            }
            _ => Read::General,
        },
        (_, None, Some(_)) => Read::Constant,
        _ => Read::General,
    };
    Ok(Rule {
        read,
        fresh_key: false,
        code_table: None,
        line,
        to_text: r.to.clone(),
        to,
        from,
        value: r.value.clone(),
        convert,
        table: r.table.clone(),
        default: r.default.clone(),
        required: r.required,
        when,
        when_value,
        only,
        if_valid: r.if_valid,
        invalid_to,
    })
}

/// A code table: source code → canonical value, with an optional explicit reverse.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Private so that `short`, built from it, cannot fall out of step: read through `code`.
    codes: BTreeMap<String, String>,
    pub reverse: BTreeMap<String, String>,
    /// Unknown codes pass through unchanged instead of failing.
    pub passthrough: bool,
    /// Unknown codes read as this value (e.g. `other`); writing it out writes nothing, so a
    /// rule for the code as sent can supply it.
    pub unmapped: Option<String>,
    /// The codes of up to three bytes (nearly all of them: X12 codes are two or three
    /// characters) by their packed `id_code`, sorted: looked up with a few number compares,
    /// where the `BTreeMap` compares strings. Built from `codes` by `indexed`.
    short: Vec<(u32, String)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    passthrough: bool,
    #[serde(default)]
    unmapped: Option<String>,
    codes: BTreeMap<String, String>,
    #[serde(default)]
    reverse: BTreeMap<String, String>,
}

impl Table {
    pub(crate) fn parse(file: &str, text: &str) -> Result<Table, MapError> {
        let raw: RawTable = toml::from_str(text).map_err(|e| MapError {
            file: file.to_string(),
            line: e.span().map(|s| line_of(text, s.start)).unwrap_or(0),
            message: e.message().trim().to_string(),
        })?;
        Ok(Table {
            codes: raw.codes,
            reverse: raw.reverse,
            passthrough: raw.passthrough,
            unmapped: raw.unmapped,
            short: Vec::new(),
        }
        .indexed())
    }

    /// `short` rebuilt from `codes`.
    fn indexed(mut self) -> Table {
        let mut short: Vec<(u32, String)> = self
            .codes
            .iter()
            .filter(|(k, _)| k.len() <= 3)
            .map(|(k, v)| (super::x12::id_code(k.as_bytes()), v.clone()))
            .collect();
        short.sort_by_key(|(c, _)| *c);
        self.short = short;
        self
    }

    /// `codes.get(code)`: the canonical value of a code, when the table lists it.
    pub fn code(&self, code: &str) -> Option<&str> {
        if code.len() <= 3 {
            // `id_code` is one-to-one on ids of up to three bytes, so equal codes are equal text.
            let c = super::x12::id_code(code.as_bytes());
            return self
                .short
                .binary_search_by_key(&c, |(k, _)| *k)
                .ok()
                .map(|i| self.short[i].1.as_str());
        }
        self.codes.get(code).map(String::as_str)
    }

    /// Partner entries win over the base table's.
    pub(crate) fn overlay(&self, over: &Table) -> Table {
        let mut t = self.clone();
        t.codes.extend(over.codes.clone());
        t.reverse.extend(over.reverse.clone());
        t.passthrough |= over.passthrough;
        if over.unmapped.is_some() {
            t.unmapped = over.unmapped.clone();
        }
        t.indexed()
    }

    pub fn lookup<'a>(&'a self, code: &'a str) -> Option<&'a str> {
        self.code(code)
            .or(self.passthrough.then_some(code))
            .or(self.unmapped.as_deref())
    }

    /// True when `value` is the catch-all for unknown codes.
    pub fn is_unmapped(&self, value: &str) -> bool {
        self.unmapped.as_deref() == Some(value)
    }

    pub fn reverse<'a>(&'a self, value: &'a str) -> Option<&'a str> {
        if let Some(c) = self.reverse.get(value) {
            return Some(c);
        }
        self.codes
            .iter()
            .find(|(_, v)| v.as_str() == value)
            .map(|(k, _)| k.as_str())
            .or(self.passthrough.then_some(value))
    }
}
