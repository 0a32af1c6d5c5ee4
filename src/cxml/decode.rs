//! Decoder: bytes → `Document`. The reference decoder here uses quick-xml's streaming reader
//! over the whole input and defines every result, error and position; `fast.rs` builds the same
//! trees faster for the documents it understands and hands everything else over to it.
//! Owns the safety rules (size, depth, attribute and element limits; DOCTYPE accepted but never
//! fetched; entity declarations refused; only the five predefined entities and character
//! references are expanded) and source positions. Knows nothing about cXML semantics beyond
//! "the root must be `cXML`"; checking is `check.rs`'s job.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

use super::error::{CxmlError, Position};
use super::tree::{Attribute, DocType, Document, Element, Node};

/// Bounds on what the decoder accepts. Defaults suit a synchronous cXML POST: generous for
/// real orders (thousands of lines), far below what could exhaust memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest input accepted, in bytes; checked before parsing starts.
    pub max_bytes: usize,
    /// Deepest element nesting (the cXML DTDs need about 15).
    pub max_depth: usize,
    /// Most attributes on one element (the widest cXML element has about 30).
    pub max_attributes: usize,
    /// Longest single text node, in bytes.
    pub max_text_bytes: usize,
    /// Most elements in the document.
    pub max_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 32 * 1024 * 1024,
            max_depth: 64,
            max_attributes: 64,
            max_text_bytes: 4 * 1024 * 1024,
            max_elements: 2_000_000,
        }
    }
}

/// Decode a cXML document. Never panics; every failure is a `CxmlError` with a position.
///
/// The tree borrows from `bytes` (see `tree.rs`); call [`Document::into_owned`] to keep it
/// longer. A fast scanner (`fast.rs`) builds the tree for the documents it understands; any
/// error, limit or unusual construct sends the input to the reference decoder below, which
/// defines every result, error and position.
pub fn decode<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Document<'a>, CxmlError> {
    let text = prepare(bytes, limits)?;
    match super::fast::decode(text, limits) {
        Some(doc) => Ok(doc),
        None => Decoder::new(text, limits).run(),
    }
}

/// The reference decoder alone (quick-xml events, owned strings), without the fast path. For
/// tests and the fuzz target, which check that both decoders agree.
#[doc(hidden)]
pub fn decode_reference<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Document<'a>, CxmlError> {
    let text = prepare(bytes, limits)?;
    Decoder::new(text, limits).run()
}

/// The fast decoder alone: `None` where it would hand over to the reference decoder.
#[doc(hidden)]
pub fn decode_fast<'a>(bytes: &'a [u8], limits: &Limits) -> Option<Document<'a>> {
    let text = prepare(bytes, limits).ok()?;
    super::fast::decode(text, limits)
}

/// Size limit, BOM and UTF-8: the checks both decoders start from.
fn prepare<'a>(bytes: &'a [u8], limits: &Limits) -> Result<&'a str, CxmlError> {
    if bytes.len() > limits.max_bytes {
        return Err(CxmlError::TooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| CxmlError::InvalidUtf8 {
        position: Lines::position_in(bytes, e.valid_up_to()),
    })
}

/// Turns byte offsets into line:column, walking forward only (offsets arrive in order), so the
/// cost over a whole document is one pass over its bytes.
pub(super) struct Lines<'a> {
    text: &'a [u8],
    offset: usize,
    line: u32,
    /// Column (1-based, in characters) at `offset`; kept so one long line costs one pass too.
    column: u32,
}

impl<'a> Lines<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Lines {
            text: text.as_bytes(),
            offset: 0,
            line: 1,
            column: 1,
        }
    }

    pub(super) fn at(&mut self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        if offset < self.offset {
            return Self::position_in(self.text, offset);
        }
        let gap = &self.text[self.offset..offset];
        match memchr::memrchr(b'\n', gap) {
            Some(last_nl) => {
                let newlines = memchr::memchr_iter(b'\n', gap).count();
                self.line = self
                    .line
                    .saturating_add(u32::try_from(newlines).unwrap_or(u32::MAX));
                self.column = column(&gap[last_nl + 1..]);
            }
            None => {
                self.column = self.column.saturating_add(column(gap) - 1);
            }
        }
        self.offset = offset;
        Position {
            line: self.line,
            column: self.column,
            offset,
        }
    }

    /// Position of `offset` computed from scratch (errors, out-of-order lookups).
    fn position_in(text: &[u8], offset: usize) -> Position {
        let offset = offset.min(text.len());
        let before = &text[..offset];
        let line = memchr::memchr_iter(b'\n', before).count() + 1;
        let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
        Position {
            line: u32::try_from(line).unwrap_or(u32::MAX),
            column: column(&before[line_start..]),
            offset,
        }
    }
}

/// 1-based column: characters (not UTF-8 continuation bytes) before the offset on its line.
fn column(line_prefix: &[u8]) -> u32 {
    let chars = line_prefix.iter().filter(|b| (**b & 0xC0) != 0x80).count();
    u32::try_from(chars + 1).unwrap_or(u32::MAX)
}

struct Decoder<'a, 'l> {
    reader: Reader<&'a [u8]>,
    text: &'a str,
    lines: Lines<'a>,
    limits: &'l Limits,
    stack: Vec<Element<'a>>,
    root: Option<Element<'a>>,
    doctype: Option<DocType>,
    elements: usize,
    /// Whitespace-only text seen after a child element, held (borrowed, not copied) until the
    /// next event shows whether it is indentation to drop or part of the data.
    pending_ws: Option<std::borrow::Cow<'a, str>>,
}

impl<'a, 'l> Decoder<'a, 'l> {
    fn new(text: &'a str, limits: &'l Limits) -> Self {
        let mut reader = Reader::from_str(text);
        let config = reader.config_mut();
        config.check_end_names = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
        Decoder {
            reader,
            text,
            lines: Lines::new(text),
            limits,
            stack: Vec::with_capacity(16),
            root: None,
            doctype: None,
            elements: 0,
            pending_ws: None,
        }
    }

    fn pos(&mut self, offset: u64) -> Position {
        self.lines.at(usize::try_from(offset).unwrap_or(usize::MAX))
    }

    fn syntax(&mut self, offset: u64, message: impl Into<String>) -> CxmlError {
        CxmlError::Syntax {
            position: Lines::position_in(
                self.text.as_bytes(),
                usize::try_from(offset).unwrap_or(usize::MAX),
            ),
            message: message.into(),
        }
    }

    fn run(mut self) -> Result<Document<'a>, CxmlError> {
        loop {
            let start = self.reader.buffer_position();
            let event = match self.reader.read_event() {
                Ok(ev) => ev,
                Err(e) => {
                    let at = self.reader.error_position();
                    return Err(self.syntax(at, e.to_string()));
                }
            };
            match event {
                Event::Start(e) => {
                    self.pending_ws = None;
                    let element = self.open(&e, start)?;
                    self.stack.push(element);
                }
                Event::Empty(e) => {
                    self.pending_ws = None;
                    let element = self.open(&e, start)?;
                    self.close(element, start)?;
                }
                Event::End(_) => {
                    let keep_ws = self
                        .stack
                        .last()
                        .is_some_and(|e| !e.children.iter().any(|n| matches!(n, Node::Element(_))));
                    if keep_ws {
                        self.flush_ws(start)?;
                    } else {
                        self.pending_ws = None;
                    }
                    let Some(element) = self.stack.pop() else {
                        return Err(self.syntax(start, "end tag without a start tag"));
                    };
                    self.close(element, start)?;
                }
                Event::Text(t) => {
                    let content = t.xml10_content();
                    let after_element = matches!(
                        self.stack.last().and_then(|p| p.children.last()),
                        Some(Node::Element(_))
                    );
                    if self.pending_ws.is_none()
                        && after_element
                        && content.bytes().all(|b| b.is_ascii_whitespace())
                    {
                        self.pending_ws = Some(content);
                    } else {
                        self.flush_ws(start)?;
                        self.push_text(&content, start)?;
                    }
                }
                Event::CData(c) => {
                    self.flush_ws(start)?;
                    let content = c.xml10_content();
                    self.push_text(&content, start)?;
                }
                Event::GeneralRef(r) => {
                    self.flush_ws(start)?;
                    let resolved = if r.is_char_ref() {
                        match r.resolve_char_ref() {
                            Ok(Some(c)) => c,
                            Ok(None) | Err(_) => {
                                return Err(self
                                    .syntax(start, format!("bad character reference &{};", &*r)));
                            }
                        }
                    } else {
                        match &*r {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "apos" => '\'',
                            "quot" => '"',
                            other => {
                                let name = other.to_owned();
                                return Err(CxmlError::UndefinedEntity {
                                    position: self.pos(start),
                                    name,
                                });
                            }
                        }
                    };
                    let mut buf = [0u8; 4];
                    self.push_text(resolved.encode_utf8(&mut buf), start)?;
                }
                Event::Decl(d) => {
                    if let Some(Ok(enc)) = d.encoding() {
                        let enc = enc.to_ascii_lowercase();
                        let utf8_compatible =
                            matches!(enc.as_str(), "utf-8" | "utf8" | "us-ascii" | "ascii");
                        // A Latin-1 declaration over pure ASCII bytes reads the same either way;
                        // anything else would be silently mis-decoded, so refuse it.
                        if !utf8_compatible && !self.text.is_ascii() {
                            return Err(CxmlError::UnsupportedEncoding { encoding: enc });
                        }
                    }
                }
                Event::DocType(t) => {
                    if self.root.is_some() || !self.stack.is_empty() {
                        return Err(self.syntax(start, "DOCTYPE after the root element started"));
                    }
                    let doctype = parse_doctype(&t).map_err(|_| CxmlError::EntityDeclaration {
                        position: self.lines.at(usize::try_from(start).unwrap_or(0)),
                    })?;
                    self.doctype = Some(doctype);
                }
                Event::Comment(_) | Event::PI(_) => {}
                Event::Eof => break,
            }
        }
        if let Some(open) = self.stack.last() {
            let name = open.name.clone();
            let at = self.reader.buffer_position();
            return Err(self.syntax(
                at,
                format!("unexpected end of input: <{name}> is not closed"),
            ));
        }
        let root = self.root.ok_or(CxmlError::NoRoot)?;
        Ok(Document {
            doctype: self.doctype,
            root,
        })
    }

    fn open(&mut self, e: &BytesStart<'_>, start: u64) -> Result<Element<'a>, CxmlError> {
        let position = self.pos(start);
        if self.root.is_some() && self.stack.is_empty() {
            return Err(CxmlError::Syntax {
                position,
                message: "content after the root element".into(),
            });
        }
        // The checker, writer and `Drop` recurse over the tree, so depth has a hard ceiling
        // whatever the caller's limits say.
        let max_depth = self.limits.max_depth.min(HARD_MAX_DEPTH);
        if self.stack.len() >= max_depth {
            return Err(CxmlError::TooDeep {
                position,
                limit: max_depth,
            });
        }
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(CxmlError::TooManyElements {
                position,
                limit: self.limits.max_elements,
            });
        }
        let name = e.name().into_inner().to_owned();
        if !is_name(&name) {
            return Err(CxmlError::Syntax {
                position,
                message: format!("invalid element name {name:?}"),
            });
        }
        if self.stack.is_empty() && name != "cXML" {
            return Err(CxmlError::NotCxml {
                position,
                found: name,
            });
        }
        let mut attributes = Vec::new();
        for attr in e.attributes() {
            let attr = attr.map_err(|err| CxmlError::Syntax {
                position,
                message: format!("bad attribute in <{name}>: {err}"),
            })?;
            if attributes.len() >= self.limits.max_attributes {
                return Err(CxmlError::TooManyAttributes {
                    position,
                    limit: self.limits.max_attributes,
                });
            }
            let value =
                attr.normalized_value(XmlVersion::Implicit1_0)
                    .map_err(|err| match err {
                        quick_xml::Error::Escape(
                            quick_xml::escape::EscapeError::UnrecognizedEntity(_, entity),
                        ) => CxmlError::UndefinedEntity {
                            position,
                            name: entity,
                        },
                        other => CxmlError::Syntax {
                            position,
                            message: format!("bad attribute value in <{name}>: {other}"),
                        },
                    })?;
            let attr_name = attr.key.into_inner();
            if !is_name(attr_name) {
                return Err(CxmlError::Syntax {
                    position,
                    message: format!("invalid attribute name {attr_name:?} in <{name}>"),
                });
            }
            attributes.push(Attribute {
                name: Cow::Owned(attr_name.to_owned()),
                value: Cow::Owned(value.into_owned()),
            });
        }
        Ok(Element {
            name: Cow::Owned(name),
            attributes,
            children: Vec::new(),
            position,
        })
    }

    fn close(&mut self, mut element: Element<'a>, _end: u64) -> Result<(), CxmlError> {
        // Whitespace between child elements is layout, not data (see `Element`).
        if element.children.len() > 1
            && element
                .children
                .iter()
                .any(|n| matches!(n, Node::Element(_)))
        {
            element
                .children
                .retain(|n| !matches!(n, Node::Text(t) if t.trim().is_empty()));
        }
        match self.stack.last_mut() {
            Some(parent) => {
                // Leaves are the common case: give them room for exactly one child.
                if parent.children.capacity() == 0 {
                    parent.children.reserve_exact(1);
                }
                parent.children.push(Node::Element(element));
            }
            None => self.root = Some(element),
        }
        Ok(())
    }

    fn flush_ws(&mut self, start: u64) -> Result<(), CxmlError> {
        match self.pending_ws.take() {
            Some(ws) => self.push_text(&ws, start),
            None => Ok(()),
        }
    }

    fn push_text(&mut self, content: &str, start: u64) -> Result<(), CxmlError> {
        if content.is_empty() {
            return Ok(());
        }
        let limit = self.limits.max_text_bytes;
        let Some(parent) = self.stack.last_mut() else {
            if content.trim().is_empty() {
                return Ok(());
            }
            let position = self.pos(start);
            return Err(CxmlError::Syntax {
                position,
                message: "text outside the root element".into(),
            });
        };
        if let Some(Node::Text(last)) = parent.children.last_mut() {
            if last.len() + content.len() > limit {
                let position = self.pos(start);
                return Err(CxmlError::TextTooLong { position, limit });
            }
            last.to_mut().push_str(content);
        } else {
            if content.len() > limit {
                let position = self.pos(start);
                return Err(CxmlError::TextTooLong { position, limit });
            }
            if parent.children.capacity() == 0 {
                parent.children.reserve_exact(1);
            }
            parent
                .children
                .push(Node::Text(Cow::Owned(content.to_owned())));
        }
        Ok(())
    }
}

/// Deepest nesting ever accepted, even with larger `Limits::max_depth`.
pub const HARD_MAX_DEPTH: usize = 256;

/// A usable XML name: not empty, not starting with a digit, `-` or `.`, and free of markup
/// characters and whitespace (quick-xml is lenient here; the writer must be able to print it
/// back unchanged).
pub(super) fn is_name(name: &str) -> bool {
    let Some(first) = name.chars().next() else {
        return false;
    };
    let bad_start = first.is_ascii_digit() || first == '-' || first == '.';
    // Fast path: plain ASCII names (all of cXML's).
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-' | b'.'))
    {
        return !bad_start;
    }
    let bad_char = |c: char| {
        c.is_whitespace()
            || c.is_control()
            || matches!(
                c,
                '<' | '>' | '&' | '"' | '\'' | '=' | '/' | '!' | '?' | '[' | ']'
            )
    };
    !bad_start && !name.chars().any(bad_char)
}

/// Marker: the DOCTYPE declares entities (refused).
#[derive(Debug)]
pub(super) struct EntityDeclared;

/// Read `cXML SYSTEM "uri"` / `cXML PUBLIC "pub" "uri"` and an optional internal subset. The
/// subset may hold comments or attribute lists (ignored), but any `<!ENTITY` is refused: that
/// closes billion-laughs expansion and external entities in one rule.
pub(super) fn parse_doctype(content: &str) -> Result<DocType, EntityDeclared> {
    // The internal subset starts at the first `[` outside a quoted literal.
    let mut quote = None;
    let mut subset_start = None;
    for (i, c) in content.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '[') => {
                subset_start = Some(i);
                break;
            }
            _ => {}
        }
    }
    let (head, subset) = match subset_start {
        Some(i) => (&content[..i], Some(&content[i..])),
        None => (content, None),
    };
    if let Some(subset) = subset {
        if subset.contains("<!ENTITY") || subset.contains('%') {
            return Err(EntityDeclared);
        }
    }
    let mut rest = head.trim();
    let name_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let name = rest[..name_end].to_owned();
    rest = rest[name_end..].trim_start();
    let mut quoted = Vec::new();
    let keyword_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let keyword = rest[..keyword_end].to_owned();
    rest = &rest[keyword_end..];
    while let Some(open) = rest.find(['"', '\'']) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        let after = &rest[open + 1..];
        let Some(close) = after.find(quote) else {
            break;
        };
        quoted.push(after[..close].to_owned());
        rest = &after[close + 1..];
    }
    let mut quoted = quoted.into_iter();
    let (public_id, system_id) = match keyword.as_str() {
        "PUBLIC" => (quoted.next(), quoted.next()),
        "SYSTEM" => (None, quoted.next()),
        _ => (None, None),
    };
    Ok(DocType {
        name,
        system_id,
        public_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_characters() {
        let xml = "<cXML><a/>\r\n  <é/><b/><c>\n</c><d/></cXML>";
        let doc = decode(xml.as_bytes(), &Limits::default()).expect("decodes");
        let at: Vec<(u32, u32)> = doc
            .root
            .elements()
            .map(|e| (e.position.line, e.position.column))
            .collect();
        assert_eq!(at, [(1, 7), (2, 3), (2, 7), (2, 11), (3, 5)]);
    }

    #[test]
    fn doctype_identifiers_are_read_not_fetched() {
        let d =
            parse_doctype(r#"cXML SYSTEM "http://xml.cxml.org/schemas/cXML/1.2.063/Fulfill.dtd""#)
                .expect("doctype");
        assert_eq!(d.version(), Some("1.2.063"));
        assert_eq!(d.dtd_file(), Some("Fulfill.dtd"));
        assert!(parse_doctype(r#"cXML [ <!ENTITY x "y"> ]"#).is_err());
        let d = parse_doctype(r#"cXML PUBLIC "-//x" 'sys.dtd'"#).expect("doctype");
        assert_eq!(
            (d.public_id.as_deref(), d.system_id.as_deref()),
            (Some("-//x"), Some("sys.dtd"))
        );
    }
}
