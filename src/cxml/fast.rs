//! The fast decoder: one pass over the input with a scanner for the XML cXML senders write
//! (elements, attributes, text, the five predefined entities and character references, CDATA,
//! comments, processing instructions, the XML declaration, a DOCTYPE without internal subset),
//! building a tree that borrows from the input: a typical document costs one allocation per
//! element with children or attributes, and none per name, value or text.
//!
//! It reports no errors. On every error, every limit, and anything it does not handle, it gives
//! up (`None`) and `decode` runs the reference decoder (`decode.rs`, on quick-xml), which then
//! defines the result, every error and every position. So this file must never accept a
//! document the reference decoder refuses, and must build the same tree (positions and DOCTYPE
//! included) when both accept. Where the two could differ in a detail (attribute value
//! normalisation, line ends in text, character references, the XML declaration) this file calls
//! the very quick-xml functions the reference decoder relies on. The tests below and the
//! `cxml_decode` fuzz target compare the two decoders.

use std::borrow::Cow;

use quick_xml::events::attributes::Attribute as XmlAttribute;
use quick_xml::events::{BytesDecl, BytesRef, BytesStart, BytesText};
use quick_xml::name::QName;
use quick_xml::XmlVersion;

use super::decode::{parse_doctype, Limits, Lines, HARD_MAX_DEPTH};
use super::error::Position;
use super::tree::{Attribute, DocType, Document, Element, Node};

/// Decode `text` (valid UTF-8, BOM already removed), or `None` to leave it to the reference
/// decoder.
pub(super) fn decode<'a>(text: &'a str, limits: &Limits) -> Option<Document<'a>> {
    // quick-xml drops a second BOM without counting its bytes; leave that oddity to it.
    if text.starts_with('\u{feff}') {
        return None;
    }
    Fast::new(text, limits).run().ok()
}

/// Gives up: the reference decoder decides.
struct GiveUp;

type Step<T = ()> = Result<T, GiveUp>;

/// An element whose end tag has not been seen yet.
struct Open<'a> {
    name: &'a str,
    attributes: Vec<Attribute<'a>>,
    position: Position,
    /// Where this element's children start in `Fast::nodes`.
    first: usize,
    /// Whether a child element has been added (from then on whitespace-only text is layout).
    has_element: bool,
    /// Whether the text before any child element is whitespace only.
    lead_blank: bool,
}

/// Whether character data is whitespace only (`str::trim` would leave nothing).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Blank {
    Yes,
    No,
    /// Holds non-ASCII characters or references, and no ASCII non-whitespace: ask `str::trim`.
    Unknown,
}

impl Blank {
    fn and(self, other: Blank) -> Blank {
        match (self, other) {
            (Blank::No, _) | (_, Blank::No) => Blank::No,
            (Blank::Yes, Blank::Yes) => Blank::Yes,
            _ => Blank::Unknown,
        }
    }
}

/// Byte classes for the text scanner.
const PLAIN: u8 = 0;
/// Whitespace for `str::trim` (tab, VT, FF, space); LF and CR have their own classes.
const SPACE: u8 = 1;
const LF: u8 = 2;
const CR: u8 = 3;
/// `<` or `&`: the text ends.
const STOP: u8 = 4;
const NON_ASCII: u8 = 5;

static CLASS: [u8; 256] = {
    let mut t = [PLAIN; 256];
    t[b'\t' as usize] = SPACE;
    t[0x0B] = SPACE;
    t[0x0C] = SPACE;
    t[b' ' as usize] = SPACE;
    t[b'\n' as usize] = LF;
    t[b'\r' as usize] = CR;
    t[b'<' as usize] = STOP;
    t[b'&' as usize] = STOP;
    let mut b = 0x80;
    while b < 256 {
        t[b] = NON_ASCII;
        b += 1;
    }
    t
};

/// Bytes of the ASCII names this scanner reads itself (anything else: give up).
static NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b':' | b'_' | b'-' | b'.');
        b += 1;
    }
    t
};

struct Fast<'a, 'l> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    limits: &'l Limits,
    /// Newlines seen so far (every byte the scanner passes is checked for them) and where the
    /// current line starts: in an ASCII document an element's column is a subtraction.
    line: u32,
    line_start: usize,
    ascii: bool,
    /// For non-ASCII input, columns count characters: `decode::Lines` does that.
    lines: Lines<'a>,
    /// Children of all open elements, one after the other (each `Open::first` marks its own);
    /// an element's children move into an exactly sized `Vec` when it closes.
    nodes: Vec<Node<'a>>,
    /// Attributes of the tag being read.
    attrs: Vec<Attribute<'a>>,
    stack: Vec<Open<'a>>,
    /// Character data since the last tag: text, references and CDATA merged (comments and
    /// processing instructions between them are transparent, as in the reference decoder).
    run: Option<Cow<'a, str>>,
    run_blank: Blank,
    root: Option<Element<'a>>,
    doctype: Option<DocType>,
    elements: usize,
}

/// XML whitespace as quick-xml counts it.
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_name_byte(b: u8) -> bool {
    NAME[b as usize]
}

/// `decode::is_name` for a name made of `is_name_byte`s only.
fn is_ascii_name(name: &str) -> bool {
    name.as_bytes()
        .first()
        .is_some_and(|b| !matches!(b, b'0'..=b'9' | b'-' | b'.'))
}

/// `s.trim().is_empty()`, without decoding characters when `s` is ASCII.
fn is_blank(s: &str) -> bool {
    for &b in s.as_bytes() {
        match b {
            b'\t'..=b'\r' | b' ' => {}
            0x80.. => return s.trim().is_empty(),
            _ => return false,
        }
    }
    true
}

impl<'a, 'l> Fast<'a, 'l> {
    /// A newline at `at`.
    #[inline]
    fn newline(&mut self, at: usize) {
        self.line = self.line.saturating_add(1);
        self.line_start = at + 1;
    }

    /// Count the newlines in `start..end` (markup the scanner skips over in one step).
    fn newlines_in(&mut self, start: usize, end: usize) {
        for i in memchr::memchr_iter(b'\n', &self.bytes[start..end]) {
            self.newline(start + i);
        }
    }

    /// Where the element whose `<` is at `at` starts (as `decode::Lines` would say).
    fn position(&mut self, at: usize) -> Position {
        if !self.ascii {
            return self.lines.at(at);
        }
        Position {
            line: self.line,
            column: u32::try_from(at - self.line_start + 1).unwrap_or(u32::MAX),
            offset: at,
        }
    }

    fn new(text: &'a str, limits: &'l Limits) -> Self {
        Fast {
            text,
            bytes: text.as_bytes(),
            pos: 0,
            limits,
            line: 1,
            line_start: 0,
            ascii: text.is_ascii(),
            lines: Lines::new(text),
            // Small enough to stay below glibc's large-request size (which first consolidates
            // every chunk freed since), so a small document never pays for that.
            nodes: Vec::with_capacity(8),
            attrs: Vec::with_capacity(8),
            stack: Vec::with_capacity(8),
            run: None,
            run_blank: Blank::Yes,
            root: None,
            doctype: None,
            elements: 0,
        }
    }

    fn run(mut self) -> Step<Document<'a>> {
        let bytes = self.bytes;
        loop {
            let start = self.pos;
            let at = self.text_piece(start)?;
            match bytes.get(at) {
                None => break,
                Some(b'&') => self.reference(at)?,
                Some(_) => self.markup(at)?,
            }
        }
        if !self.stack.is_empty() {
            return Err(GiveUp);
        }
        let root = self.root.ok_or(GiveUp)?;
        Ok(Document {
            doctype: self.doctype,
            root,
        })
    }

    /// Raw text from `start` up to the next `<` or `&` (or the end), whose offset it returns.
    fn text_piece(&mut self, start: usize) -> Step<usize> {
        let bytes = self.bytes;
        let mut i = start;
        let mut blank = Blank::Yes;
        let mut carriage_return = false;
        // Leading whitespace: all of it when the text is indentation between tags.
        while let Some(&b) = bytes.get(i) {
            match CLASS[b as usize] {
                SPACE => {}
                LF => self.newline(i),
                CR => carriage_return = true,
                _ => break,
            }
            i += 1;
        }
        if bytes.get(i).is_some_and(|&b| CLASS[b as usize] == PLAIN) {
            // Not blank: from here only `<`, `&`, LF and CR matter. Letters and most
            // punctuation (and every non-ASCII byte) sort above `<`, so one comparison each.
            blank = Blank::No;
            while let Some(&b) = bytes.get(i) {
                if b > b'<' {
                    i += 1;
                    continue;
                }
                match b {
                    b'<' | b'&' => break,
                    b'\n' => self.newline(i),
                    b'\r' => carriage_return = true,
                    _ => {}
                }
                i += 1;
            }
        } else {
            while let Some(&b) = bytes.get(i) {
                match CLASS[b as usize] {
                    PLAIN => blank = Blank::No,
                    SPACE => {}
                    LF => self.newline(i),
                    CR => carriage_return = true,
                    STOP => break,
                    _ => blank = blank.and(Blank::Unknown),
                }
                i += 1;
            }
        }
        if i == start {
            return Ok(i);
        }
        let raw = &self.text[start..i];
        if self.stack.is_empty() {
            // Outside the root only whitespace is allowed (and ignored).
            let ok = match blank {
                Blank::Yes => true,
                Blank::No => false,
                Blank::Unknown => is_blank(raw),
            };
            return if ok { Ok(i) } else { Err(GiveUp) };
        }
        let piece = if carriage_return {
            // Line ends normalised exactly as the reference decoder's `xml10_content`.
            BytesText::from_escaped(raw).xml10_content()
        } else {
            Cow::Borrowed(raw)
        };
        self.append(piece, blank);
        Ok(i)
    }

    fn append(&mut self, piece: Cow<'a, str>, blank: Blank) {
        if self.run.is_none() {
            self.run = Some(piece);
            self.run_blank = blank;
        } else {
            self.owned_run().push_str(&piece);
            self.run_blank = self.run_blank.and(blank);
        }
    }

    /// The run as a `String` to add to (an empty run is `Blank::Yes`), with room to grow: text
    /// around a reference usually follows.
    fn owned_run(&mut self) -> &mut String {
        let run = self.run.get_or_insert_with(|| {
            self.run_blank = Blank::Yes;
            Cow::Borrowed("")
        });
        if let Cow::Borrowed(s) = *run {
            let mut owned = String::with_capacity(s.len() + 32);
            owned.push_str(s);
            *run = Cow::Owned(owned);
        }
        run.to_mut()
    }

    /// `&...;` at `at`.
    fn reference(&mut self, at: usize) -> Step {
        if self.stack.is_empty() {
            return Err(GiveUp);
        }
        let after = at + 1;
        let len = match memchr::memchr3(b';', b'&', b'<', &self.bytes[after..]) {
            Some(i) if self.bytes[after + i] == b';' => i,
            _ => return Err(GiveUp),
        };
        let name = &self.text[after..after + len];
        if name.contains('\n') {
            return Err(GiveUp);
        }
        let c = match name {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "apos" => '\'',
            "quot" => '"',
            _ if name.starts_with('#') => match BytesRef::new(name).resolve_char_ref() {
                Ok(Some(c)) => c,
                _ => return Err(GiveUp),
            },
            _ => return Err(GiveUp),
        };
        self.owned_run().push(c);
        self.run_blank = self.run_blank.and(Blank::Unknown);
        self.pos = after + len + 1;
        Ok(())
    }

    /// Markup starting with `<` at `at`.
    fn markup(&mut self, at: usize) -> Step {
        match self.bytes.get(at + 1) {
            Some(b'/') => self.end_tag(at),
            Some(b'!') => match self.bytes.get(at + 2) {
                Some(b'-') => self.comment(at),
                Some(b'[') => self.cdata(at),
                Some(b'D') => self.doctype(at),
                _ => Err(GiveUp),
            },
            Some(b'?') => self.processing_instruction(at),
            Some(_) => self.start_tag(at),
            None => Err(GiveUp),
        }
    }

    /// `<!-- ... -->`: ends at the first `>` after `--`, at least `<!---->` long (quick-xml's
    /// rule); ignored.
    fn comment(&mut self, at: usize) -> Step {
        let rest = &self.bytes[at..];
        if !rest.starts_with(b"<!--") {
            return Err(GiveUp);
        }
        let end = memchr::memchr_iter(b'>', rest)
            .find(|&i| i > 5 && rest[..i].ends_with(b"--"))
            .ok_or(GiveUp)?;
        self.newlines_in(at, at + end);
        self.pos = at + end + 1;
        Ok(())
    }

    /// `<![CDATA[ ... ]]>`: character data, line ends normalised.
    fn cdata(&mut self, at: usize) -> Step {
        let rest = &self.bytes[at..];
        if !rest.starts_with(b"<![CDATA[") || self.stack.is_empty() {
            return Err(GiveUp);
        }
        let end = memchr::memchr_iter(b'>', rest)
            .find(|&i| rest[..i].ends_with(b"]]"))
            .ok_or(GiveUp)?;
        if end < 11 {
            return Err(GiveUp);
        }
        let raw = &self.text[at + 9..at + end - 2];
        let piece = BytesText::from_escaped(raw).xml10_content();
        self.append(piece, Blank::Unknown);
        self.newlines_in(at, at + end);
        self.pos = at + end + 1;
        Ok(())
    }

    /// `<!DOCTYPE ...>` without an internal subset, before the root element.
    fn doctype(&mut self, at: usize) -> Step {
        let bytes = self.bytes;
        if !bytes[at..].starts_with(b"<!DOCTYPE") || self.root.is_some() || !self.stack.is_empty() {
            return Err(GiveUp);
        }
        // The end is the first `>` outside a quoted literal (quick-xml's DTD scanner).
        let mut i = at + 9;
        let end = loop {
            match bytes.get(i) {
                None | Some(b'[') => return Err(GiveUp),
                Some(b'>') => break i,
                Some(&q @ (b'"' | b'\'')) => {
                    let close = memchr::memchr(q, &bytes[i + 1..]).ok_or(GiveUp)?;
                    i += close + 2;
                }
                Some(_) => i += 1,
            }
        };
        let lead = bytes[at + 9..end]
            .iter()
            .position(|&b| !is_ws(b))
            .ok_or(GiveUp)?;
        let doctype = parse_doctype(&self.text[at + 9 + lead..end]).map_err(|_| GiveUp)?;
        self.doctype = Some(doctype);
        self.newlines_in(at, end);
        self.pos = end + 1;
        Ok(())
    }

    /// `<? ... ?>`: the XML declaration (its encoding checked as the reference decoder does) or
    /// a processing instruction (ignored).
    fn processing_instruction(&mut self, at: usize) -> Step {
        let rest = &self.bytes[at..];
        let end = memchr::memchr_iter(b'>', rest)
            .find(|&i| i > 0 && rest[i - 1] == b'?')
            .ok_or(GiveUp)?;
        if end < 3 {
            return Err(GiveUp);
        }
        let content = &self.text[at + 2..at + end - 1];
        let cb = content.as_bytes();
        if cb.starts_with(b"xml") && (cb.len() == 3 || is_ws(cb[3])) {
            let decl = BytesDecl::from_start(BytesStart::from_content(content, 3));
            if let Some(Ok(enc)) = decl.encoding() {
                let enc = enc.to_ascii_lowercase();
                let utf8_compatible =
                    matches!(enc.as_str(), "utf-8" | "utf8" | "us-ascii" | "ascii");
                if !utf8_compatible && !self.ascii {
                    return Err(GiveUp);
                }
            }
        }
        self.newlines_in(at, at + end);
        self.pos = at + end + 1;
        Ok(())
    }

    /// Character data gathered since the last tag goes to the open element. Whitespace-only
    /// text next to child elements is layout and is dropped (see `tree::Element`).
    fn flush_run(&mut self) -> Step {
        let Some(run) = self.run.take() else {
            return Ok(());
        };
        if run.len() > self.limits.max_text_bytes {
            return Err(GiveUp);
        }
        let blank = match self.run_blank {
            Blank::Yes => true,
            Blank::No => false,
            Blank::Unknown => is_blank(&run),
        };
        let open = self.stack.last_mut().ok_or(GiveUp)?;
        if open.has_element {
            if !blank {
                self.nodes.push(Node::Text(run));
            }
        } else {
            // The only text before the first child element (runs end at tags).
            open.lead_blank = blank;
            self.nodes.push(Node::Text(run));
        }
        Ok(())
    }

    /// `<name attr="value" ...>` or `<name .../>`.
    fn start_tag(&mut self, at: usize) -> Step {
        self.flush_run()?;
        let bytes = self.bytes;
        let len = bytes.len();
        let name_start = at + 1;
        let mut i = name_start;
        while i < len && is_name_byte(bytes[i]) {
            i += 1;
        }
        let name = &self.text[name_start..i];
        if !is_ascii_name(name) {
            return Err(GiveUp);
        }
        if self.stack.is_empty() && (self.root.is_some() || name != "cXML") {
            return Err(GiveUp);
        }
        if self.stack.len() >= self.limits.max_depth.min(HARD_MAX_DEPTH) {
            return Err(GiveUp);
        }
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(GiveUp);
        }
        // The position is taken before any newline inside the tag is counted.
        let position = self.position(at);
        let empty = loop {
            let ws_start = i;
            while i < len && is_ws(bytes[i]) {
                if bytes[i] == b'\n' {
                    self.newline(i);
                }
                i += 1;
            }
            match bytes.get(i) {
                Some(b'>') => {
                    i += 1;
                    break false;
                }
                Some(b'/') if bytes.get(i + 1) == Some(&b'>') => {
                    i += 2;
                    break true;
                }
                // The name ends at whitespace (quick-xml's rule), so the first attribute must
                // follow some; later ones may follow the closing quote directly.
                Some(_) if i > ws_start || !self.attrs.is_empty() => {
                    i = self.attribute(i)?;
                }
                _ => {
                    self.attrs.clear();
                    return Err(GiveUp);
                }
            }
        };
        let attributes = if self.attrs.is_empty() {
            Vec::new()
        } else {
            self.attrs.drain(..).collect()
        };
        self.pos = i;
        if empty {
            self.attach(Element {
                name: Cow::Borrowed(name),
                attributes,
                children: Vec::new(),
                position,
            });
        } else {
            self.stack.push(Open {
                name,
                attributes,
                position,
                first: self.nodes.len(),
                has_element: false,
                lead_blank: false,
            });
        }
        Ok(())
    }

    /// `key="value"` starting at `i`; returns the index after the closing quote.
    fn attribute(&mut self, mut i: usize) -> Step<usize> {
        let result = self.attribute_inner(&mut i);
        if result.is_err() {
            self.attrs.clear();
        }
        result.map(|()| i)
    }

    fn attribute_inner(&mut self, i: &mut usize) -> Step {
        let bytes = self.bytes;
        let len = bytes.len();
        let key_start = *i;
        while *i < len && is_name_byte(bytes[*i]) {
            *i += 1;
        }
        let key = &self.text[key_start..*i];
        while *i < len && is_ws(bytes[*i]) {
            if bytes[*i] == b'\n' {
                self.newline(*i);
            }
            *i += 1;
        }
        if bytes.get(*i) != Some(&b'=') {
            return Err(GiveUp);
        }
        *i += 1;
        while *i < len && is_ws(bytes[*i]) {
            if bytes[*i] == b'\n' {
                self.newline(*i);
            }
            *i += 1;
        }
        let quote = match bytes.get(*i) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => return Err(GiveUp),
        };
        let value_start = *i + 1;
        let mut value_end = value_start;
        // The characters quick-xml's attribute-value normalisation acts on.
        let mut special = false;
        loop {
            match bytes.get(value_end) {
                None => return Err(GiveUp),
                Some(&b) if b == quote => break,
                Some(b'&' | b'\t' | b'\n' | b'\r') => special = true,
                Some(_) => {}
            }
            value_end += 1;
        }
        *i = value_end + 1;
        if !is_ascii_name(key)
            || self.attrs.len() >= self.limits.max_attributes
            || self.attrs.iter().any(|a| a.name == key)
        {
            return Err(GiveUp);
        }
        let raw = &self.text[value_start..value_end];
        let value = if special {
            // Entities and whitespace exactly as the reference decoder's `normalized_value`.
            self.newlines_in(value_start, value_end);
            XmlAttribute {
                key: QName(key),
                value: Cow::Borrowed(raw),
            }
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|_| GiveUp)?
        } else {
            Cow::Borrowed(raw)
        };
        self.attrs.push(Attribute {
            name: Cow::Borrowed(key),
            value,
        });
        Ok(())
    }

    /// `</name>` at `at`, closing the innermost open element.
    fn end_tag(&mut self, at: usize) -> Step {
        // An element holding just one run of text (most leaves) takes it directly, without
        // the round trip through `nodes`.
        let only_text = match self.stack.last() {
            Some(open) if open.first == self.nodes.len() => match self.run.take() {
                Some(run) if run.len() > self.limits.max_text_bytes => return Err(GiveUp),
                run => run,
            },
            _ => {
                self.flush_run()?;
                None
            }
        };
        let bytes = self.bytes;
        let content_start = at + 2;
        let name = self.stack.last().ok_or(GiveUp)?.name.as_bytes();
        let end = content_start + name.len();
        // Usually exactly `</name>`; otherwise find the `>` and compare as quick-xml does.
        let close = if bytes.get(content_start..end) == Some(name) && bytes.get(end) == Some(&b'>')
        {
            name.len()
        } else {
            memchr::memchr(b'>', &bytes[content_start..]).ok_or(GiveUp)?
        };
        let content = &bytes[content_start..content_start + close];
        // A quote would make quick-xml look for `>` further on.
        if content.iter().any(|&b| b == b'"' || b == b'\'') {
            return Err(GiveUp);
        }
        let trimmed = content
            .iter()
            .rposition(|&b| !is_ws(b))
            .map_or(content, |p| &content[..=p]);
        let open = self.stack.pop().ok_or(GiveUp)?;
        if trimmed != open.name.as_bytes() {
            return Err(GiveUp);
        }
        if trimmed.len() < content.len() {
            self.newlines_in(content_start + trimmed.len(), content_start + close);
        }
        // An exactly sized copy (`split_off(0)` would hand over the whole scratch buffer).
        let children = match (only_text, open.first) {
            (Some(text), _) => vec![Node::Text(text)],
            (None, 0) => self.nodes.drain(..).collect(),
            (None, first) => self.nodes.split_off(first),
        };
        self.pos = content_start + close + 1;
        self.attach(Element {
            name: Cow::Borrowed(open.name),
            attributes: open.attributes,
            children,
            position: open.position,
        });
        Ok(())
    }

    /// Add a finished element to its parent (or make it the root).
    fn attach(&mut self, element: Element<'a>) {
        match self.stack.last_mut() {
            Some(parent) => {
                if !parent.has_element {
                    // Whitespace before the first child element is layout too.
                    if parent.lead_blank && self.nodes.len() == parent.first + 1 {
                        self.nodes.pop();
                    }
                    parent.has_element = true;
                }
                self.nodes.push(Node::Element(element));
            }
            None => self.root = Some(element),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The fast decoder against the reference decoder: equal trees (positions and DOCTYPE
    //! included) wherever the fast one answers, and no answer wherever the reference refuses.

    use super::super::decode::{decode_fast, decode_reference, Limits};
    use std::path::Path;

    /// Checks one input; returns whether the fast decoder handled it.
    fn agree(input: &[u8], limits: &Limits) -> bool {
        let reference = decode_reference(input, limits);
        let fast = decode_fast(input, limits);
        match (&reference, &fast) {
            (_, None) => false,
            (Ok(r), Some(f)) => {
                assert!(
                    r.identical(f),
                    "trees differ for {:?}\nreference: {r:#?}\nfast: {f:#?}",
                    String::from_utf8_lossy(input)
                );
                true
            }
            (Err(e), Some(_)) => panic!(
                "fast decoder accepted what the reference refuses ({e}): {:?}",
                String::from_utf8_lossy(input)
            ),
        }
    }

    fn samples() -> Vec<Vec<u8>> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/cxml");
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .expect("testdata/cxml")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "xml"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| std::fs::read(p).expect("sample"))
            .collect()
    }

    #[test]
    fn samples_decode_fast_and_identically() {
        let limits = Limits::default();
        for sample in samples() {
            assert!(
                agree(&sample, &limits),
                "the fast decoder gave up on a sample: {}",
                String::from_utf8_lossy(&sample[..sample.len().min(200)])
            );
        }
    }

    #[test]
    fn edge_cases_agree() {
        let limits = Limits::default();
        let handled = [
            "<cXML/>",
            "<cXML></cXML>",
            "\u{feff}<cXML/>",
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<cXML a='1' b = \"2\"\n\tc=\"x\ny\"/>",
            "<cXML a=\"1\"b=\"2\"/>",
            "<cXML><a>x &amp; y &lt;&gt;&quot;&apos; &#65;&#x42;</a></cXML>",
            "<cXML><a>\r\nline\r\n</a>\r\n<b\r\n x='\r\n'/></cXML>",
            "<cXML><a><b/> &amp; <c/></a></cXML>",
            "<cXML><a><b/>  <!-- c -->  x<c/></a></cXML>",
            "<cXML><a>\n  <b/>\n  <c/>\n</a></cXML>",
            "<cXML><a>  </a></cXML>",
            "<cXML><a>\u{a0}<b/>\u{a0}</a></cXML>",
            "<cXML><a>&#32;<b/>&#160;<c/>\u{2003}x</a></cXML>",
            "<cXML><a><b/><![CDATA[ ]]><c/></a></cXML>",
            "<cXML><a><![CDATA[<x>&amp;\r\n]]>tail</a></cXML>",
            "<cXML><a></a ></cXML>",
            "<cXML><a></a\n></cXML>\n",
            "<!-- before --><?pi x?><cXML><?xml-stylesheet href='x'?><a/></cXML><!-- after -->",
            "<?xml version='1.0' encoding='ISO-8859-1'?><cXML/>",
            "<!DOCTYPE cXML SYSTEM \"http://xml.cxml.org/schemas/cXML/1.2.063/cXML.dtd\">\n<cXML/>",
            "<!DOCTYPE cXML PUBLIC \"-//x\" 'a>b.dtd'><cXML/>",
            "<!DOCTYPEcXML><cXML/>",
            "<cXML>\u{e9}t\u{e9}<a x='\u{e9}'>\n\u{e9}<b/></a><c/></cXML>",
            "<cXML><x:a xml:lang=\"en\" x.y-z_1=\"v\"/></cXML>",
            "<cXML><a>\t\u{b}\u{c}</a><b>\u{b}<c/></b></cXML>",
            "<cXML><a>x<!---->y<!-- - -->z</a></cXML>",
        ];
        for xml in handled {
            assert!(
                agree(xml.as_bytes(), &limits),
                "fast decoder gave up: {xml:?}"
            );
        }
        let left_to_reference = [
            "",
            "   ",
            "<a/>",
            "<cXML>",
            "<cXML></a>",
            "</cXML>",
            "<cXML/><cXML/>",
            "<cXML/>x",
            "x<cXML/>",
            "&amp;<cXML/>",
            "<cXML><a>&nope;</a></cXML>",
            "<cXML><a>&#0;</a></cXML>",
            "<cXML><a>& b</a></cXML>",
            "<cXML a=\"1\" a=\"2\"/>",
            "<cXML a=1/>",
            "<cXML a/>",
            "<cXML 1a=\"x\"/>",
            "<cXML a=\"&bad;\"/>",
            "<cXML><1a/></cXML>",
            "<cXML><a/ ></cXML>",
            "<cXML><a b=\"x\"c/></cXML>",
            "<cXML><a></a x=\">\"></cXML>",
            "<cXML><!DOCTYPE cXML></cXML>",
            "<!DOCTYPE cXML [ <!ENTITY x \"y\"> ]><cXML/>",
            "<!DOCTYPE cXML [ ]><cXML/>",
            "<!doctype cXML><cXML/>",
            "<!DOCTYPE><cXML/>",
            "<cXML><!-></cXML>",
            "<cXML><!--></cXML>",
            "<cXML><![CDATA[x]]</cXML>",
            "<cXML><?></cXML>",
            "<?xml version='1.0' encoding='ISO-8859-1'?><cXML>\u{e9}</cXML>",
            "\u{feff}\u{feff}<cXML/>",
            "<cXML><\u{e9}/></cXML>",
            "<cXML \u{e9}='x'/>",
            "<cXML",
            "<cXML a=\"x",
            "<cXML><a>text",
        ];
        for xml in left_to_reference {
            assert!(
                !agree(xml.as_bytes(), &limits),
                "fast decoder handled {xml:?}"
            );
        }
    }

    #[test]
    fn limits_are_left_to_the_reference() {
        let doc = "<cXML a='1' b='2'><a><b><c>0123456789</c></b></a><d/></cXML>";
        assert!(agree(doc.as_bytes(), &Limits::default()));
        let tight = [
            Limits {
                max_depth: 3,
                ..Limits::default()
            },
            Limits {
                max_attributes: 1,
                ..Limits::default()
            },
            Limits {
                max_text_bytes: 9,
                ..Limits::default()
            },
            Limits {
                max_elements: 4,
                ..Limits::default()
            },
            Limits {
                max_bytes: 10,
                ..Limits::default()
            },
        ];
        for limits in &tight {
            assert!(!agree(doc.as_bytes(), limits), "{limits:?}");
            assert!(
                decode_reference(doc.as_bytes(), limits).is_err(),
                "{limits:?}"
            );
        }
        let exact = Limits {
            max_depth: 4,
            max_attributes: 2,
            max_text_bytes: 10,
            max_elements: 5,
            max_bytes: doc.len(),
        };
        assert!(agree(doc.as_bytes(), &exact));
    }

    /// Small deterministic generator (xorshift), so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn mutated_samples_agree() {
        const PIECES: &[&str] = &[
            "<",
            ">",
            "/",
            "&",
            ";",
            "\"",
            "'",
            "=",
            " ",
            "\n",
            "\r",
            "\r\n",
            "\t",
            "!",
            "?",
            "-",
            "[",
            "]",
            "&amp;",
            "&#x41;",
            "&#10;",
            "&lt;",
            "<!--",
            "-->",
            "<![CDATA[",
            "]]>",
            "<?",
            "?>",
            "</",
            "/>",
            "<a>",
            "</a>",
            "<b/>",
            "\u{e9}",
            "\u{a0}",
            "x",
            "cXML",
            "\u{feff}",
            "<!DOCTYPE cXML>",
            "a=\"1\"",
        ];
        let limits = Limits::default();
        let small = Limits {
            max_depth: 6,
            max_attributes: 3,
            max_text_bytes: 40,
            max_elements: 60,
            ..Limits::default()
        };
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (mut accepted, mut handled) = (0, 0);
        for sample in samples() {
            for round in 0..150 {
                let mut doc = sample.clone();
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(doc.len() + 1);
                    match rng.below(3) {
                        0 if at < doc.len() => {
                            let len = (1 + rng.below(8)).min(doc.len() - at);
                            doc.drain(at..at + len);
                        }
                        1 => {
                            let piece = PIECES[rng.below(PIECES.len())].as_bytes();
                            doc.splice(at..at, piece.iter().copied());
                        }
                        _ => {
                            let piece = PIECES[rng.below(PIECES.len())].as_bytes();
                            let end = (at + piece.len()).min(doc.len());
                            doc.splice(at..end, piece.iter().copied());
                        }
                    }
                }
                let limits = if round % 5 == 0 { &small } else { &limits };
                if decode_reference(&doc, limits).is_ok() {
                    accepted += 1;
                }
                if agree(&doc, limits) {
                    handled += 1;
                }
            }
        }
        // Most mutants the reference accepts are read by the fast decoder too, so the
        // comparison above covers it.
        assert!(handled * 2 > accepted, "{handled} of {accepted}");
    }
}
