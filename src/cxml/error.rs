//! The cXML module's error type and source positions. Owns nothing else; every decode failure
//! (malformed XML, unsafe constructs, limits) is one variant here, always with a position where
//! one exists, so callers can answer 406 with a precise reason instead of panicking.

use std::fmt;

/// A place in the input: 1-based line and column (in characters), plus the byte offset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Position {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, counted in characters, not bytes.
    pub column: u32,
    /// Byte offset from the start of the input (after any UTF-8 BOM).
    pub offset: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Why a cXML document could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CxmlError {
    /// The input is larger than `Limits::max_bytes`; nothing was parsed.
    #[error("document is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    /// The input is not valid UTF-8 (cXML is UTF-8 only).
    #[error("{position}: invalid UTF-8 byte sequence")]
    InvalidUtf8 { position: Position },
    /// The XML declaration names an encoding we do not read.
    #[error("unsupported encoding {encoding:?}: cXML must be UTF-8")]
    UnsupportedEncoding { encoding: String },
    /// Not well-formed XML (mismatched tags, bad attribute syntax, unclosed markup...).
    #[error("{position}: malformed XML: {message}")]
    Syntax { position: Position, message: String },
    /// Elements nested deeper than `Limits::max_depth`.
    #[error("{position}: elements nested deeper than {limit}")]
    TooDeep { position: Position, limit: usize },
    /// An element with more attributes than `Limits::max_attributes`.
    #[error("{position}: element has more than {limit} attributes")]
    TooManyAttributes { position: Position, limit: usize },
    /// A single text node longer than `Limits::max_text_bytes`.
    #[error("{position}: text node longer than {limit} bytes")]
    TextTooLong { position: Position, limit: usize },
    /// More elements than `Limits::max_elements`.
    #[error("{position}: more than {limit} elements")]
    TooManyElements { position: Position, limit: usize },
    /// The DOCTYPE internal subset declares entities: refused, never expanded (billion laughs,
    /// external entities).
    #[error("{position}: the DOCTYPE declares entities, which are refused")]
    EntityDeclaration { position: Position },
    /// A reference to an entity that is not one of the five predefined ones.
    #[error("{position}: reference to undefined entity &{name};")]
    UndefinedEntity { position: Position, name: String },
    /// The root element is not `cXML`.
    #[error("{position}: root element is <{found}>, not <cXML>")]
    NotCxml { position: Position, found: String },
    /// No root element at all.
    #[error("no root element: the input is empty or holds no element")]
    NoRoot,
}

impl CxmlError {
    /// The position of the problem, when there is one.
    pub fn position(&self) -> Option<Position> {
        match self {
            CxmlError::InvalidUtf8 { position }
            | CxmlError::Syntax { position, .. }
            | CxmlError::TooDeep { position, .. }
            | CxmlError::TooManyAttributes { position, .. }
            | CxmlError::TextTooLong { position, .. }
            | CxmlError::TooManyElements { position, .. }
            | CxmlError::EntityDeclaration { position }
            | CxmlError::UndefinedEntity { position, .. }
            | CxmlError::NotCxml { position, .. } => Some(*position),
            CxmlError::TooLarge { .. }
            | CxmlError::UnsupportedEncoding { .. }
            | CxmlError::NoRoot => None,
        }
    }

    /// A short machine-readable code for reports (`errors[].code` in JSON).
    pub fn code(&self) -> &'static str {
        match self {
            CxmlError::TooLarge { .. } => "too-large",
            CxmlError::InvalidUtf8 { .. } => "invalid-utf8",
            CxmlError::UnsupportedEncoding { .. } => "unsupported-encoding",
            CxmlError::Syntax { .. } => "malformed-xml",
            CxmlError::TooDeep { .. } => "too-deep",
            CxmlError::TooManyAttributes { .. } => "too-many-attributes",
            CxmlError::TextTooLong { .. } => "text-too-long",
            CxmlError::TooManyElements { .. } => "too-many-elements",
            CxmlError::EntityDeclaration { .. } => "entity-declaration",
            CxmlError::UndefinedEntity { .. } => "undefined-entity",
            CxmlError::NotCxml { .. } => "not-cxml",
            CxmlError::NoRoot => "no-root",
        }
    }
}
