//! The cXML element tree: names, attributes (in document order), text and child elements, each
//! element with the line:column of its start tag. This is what the decoder builds, the checker
//! walks, the writer prints and the mapping engine reads by path. Owns no parsing or checking.
//!
//! Strings are `Cow<'a, str>`: a decoded tree borrows names, attribute values and text from the
//! input (`'a` is the input's lifetime) and owns only what entity or line-end replacement
//! changed, so decoding costs a few allocations per element instead of one per string. Trees
//! built in code (`Element::new`...) own their strings and can be `Element<'static>`;
//! [`Element::into_owned`] / [`Document::into_owned`] detach a decoded tree from its input.

use std::borrow::Cow;

pub use super::error::Position;

/// One attribute, name as written (`xml:lang` keeps its prefix) and value after XML
/// attribute-value normalisation and entity replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute<'a> {
    pub name: Cow<'a, str>,
    pub value: Cow<'a, str>,
}

/// A child of an element: another element or a run of character data (text and CDATA merged).
#[derive(Debug, Clone)]
pub enum Node<'a> {
    Element(Element<'a>),
    Text(Cow<'a, str>),
}

/// An element. Whitespace-only text between child elements is dropped when the tree is built
/// (it is indentation, not data), so a pretty-printed and a compact document give equal trees.
#[derive(Debug, Clone, Default)]
pub struct Element<'a> {
    pub name: Cow<'a, str>,
    pub attributes: Vec<Attribute<'a>>,
    pub children: Vec<Node<'a>>,
    /// Where the start tag begins. Not part of equality: a re-written document has other
    /// positions but the same tree.
    pub position: Position,
}

impl PartialEq for Node<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Node::Element(a), Node::Element(b)) => a == b,
            (Node::Text(a), Node::Text(b)) => a == b,
            _ => false,
        }
    }
}

impl PartialEq for Element<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.attributes == other.attributes
            && self.children == other.children
    }
}

impl<'a> Node<'a> {
    /// The same node owning all its strings.
    pub fn into_owned(self) -> Node<'static> {
        match self {
            Node::Element(e) => Node::Element(e.into_owned()),
            Node::Text(t) => Node::Text(Cow::Owned(t.into_owned())),
        }
    }
}

impl<'a> Attribute<'a> {
    /// The same attribute owning its strings.
    pub fn into_owned(self) -> Attribute<'static> {
        Attribute {
            name: Cow::Owned(self.name.into_owned()),
            value: Cow::Owned(self.value.into_owned()),
        }
    }
}

impl<'a> Element<'a> {
    /// A new element with no attributes or children (for building documents in code). The
    /// builder helpers copy their strings, so a built tree has any lifetime the caller needs.
    pub fn new(name: impl Into<String>) -> Self {
        Element {
            name: Cow::Owned(name.into()),
            ..Element::default()
        }
    }

    /// Builder helper: add an attribute.
    pub fn with_attr(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.push(Attribute {
            name: Cow::Owned(name.into()),
            value: Cow::Owned(value.into()),
        });
        self
    }

    /// Builder helper: add a child element.
    pub fn with_child(mut self, child: Element<'a>) -> Self {
        self.children.push(Node::Element(child));
        self
    }

    /// Builder helper: add a text node.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.children.push(Node::Text(Cow::Owned(text.into())));
        self
    }

    /// The same element (and subtree) owning all its strings, detached from the input.
    pub fn into_owned(self) -> Element<'static> {
        Element {
            name: Cow::Owned(self.name.into_owned()),
            attributes: self
                .attributes
                .into_iter()
                .map(Attribute::into_owned)
                .collect(),
            children: self.children.into_iter().map(Node::into_owned).collect(),
            position: self.position,
        }
    }

    /// The value of attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| &*a.value)
    }

    /// All child elements, in order.
    pub fn elements(&self) -> impl Iterator<Item = &Element<'a>> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// The first child element called `name`.
    pub fn child(&self, name: &str) -> Option<&Element<'a>> {
        self.elements().find(|e| e.name == name)
    }

    /// Every child element called `name`, in order.
    pub fn children<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s Element<'a>> + 's {
        self.elements().filter(move |e| e.name == name)
    }

    /// The element's own character data (child elements' text not included). Borrowed when the
    /// element holds a single text run, which is the common case.
    pub fn text(&self) -> Cow<'_, str> {
        let mut texts = self.children.iter().filter_map(|n| match n {
            Node::Text(t) => Some(&**t),
            Node::Element(_) => None,
        });
        match (texts.next(), texts.next()) {
            (None, _) => Cow::Borrowed(""),
            (Some(one), None) => Cow::Borrowed(one),
            (Some(a), Some(b)) => {
                let mut s = String::from(a);
                s.push_str(b);
                texts.for_each(|t| s.push_str(t));
                Cow::Owned(s)
            }
        }
    }

    /// Whether the element holds any non-whitespace character data of its own.
    pub fn has_text(&self) -> bool {
        self.children
            .iter()
            .any(|n| matches!(n, Node::Text(t) if !t.trim().is_empty()))
    }

    /// Follow a `/`-separated path of child element names from this element, taking the first
    /// match at each step: `order.find("OrderRequestHeader/Total/Money")`. A step may carry a
    /// 1-based index, `ItemOut[2]`. An empty path returns `self`.
    pub fn find(&self, path: &str) -> Option<&Element<'a>> {
        let mut current = self;
        for step in path.split('/').filter(|s| !s.is_empty()) {
            let (name, index) = split_index(step)?;
            current = current.elements().filter(|e| e.name == name).nth(index)?;
        }
        Some(current)
    }

    /// Every element reached by `path`, expanding all matches at every step (no indexes needed):
    /// `order.find_all("ItemOut/ItemID/SupplierPartID")`.
    pub fn find_all<'s>(&'s self, path: &str) -> Vec<&'s Element<'a>> {
        let mut current: Vec<&Element<'a>> = vec![self];
        for step in path.split('/').filter(|s| !s.is_empty()) {
            let Some((name, index)) = split_index(step) else {
                return Vec::new();
            };
            let explicit = step.ends_with(']');
            current = current
                .into_iter()
                .flat_map(|e| {
                    let matches = e.elements().filter(|c| c.name == name);
                    if explicit {
                        matches.skip(index).take(1).collect::<Vec<_>>()
                    } else {
                        matches.collect::<Vec<_>>()
                    }
                })
                .collect();
        }
        current
    }

    /// A value by path: the text of the element at `path`, or, when the last step is `@name`,
    /// that attribute: `doc.value("OrderRequestHeader/@orderID")`.
    pub fn value(&self, path: &str) -> Option<Cow<'_, str>> {
        match path.rsplit_once('@') {
            Some((element_path, attr)) => {
                let element_path = element_path.trim_end_matches('/');
                self.find(element_path)?.attr(attr).map(Cow::Borrowed)
            }
            None => self.find(path).map(Element::text),
        }
    }

    /// Number of elements in this subtree, this one included.
    pub fn element_count(&self) -> usize {
        1 + self.elements().map(Element::element_count).sum::<usize>()
    }
}

/// `Name[3]` → ("Name", 2); `Name` → ("Name", 0). `None` for a malformed or zero index.
fn split_index(step: &str) -> Option<(&str, usize)> {
    match step.strip_suffix(']').and_then(|s| s.split_once('[')) {
        Some((name, idx)) => {
            let n: usize = idx.parse().ok()?;
            Some((name, n.checked_sub(1)?))
        }
        None => Some((step, 0)),
    }
}

/// The `<!DOCTYPE ...>` declaration as read (never used to fetch anything).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocType {
    /// The declared root name, `cXML`.
    pub name: String,
    /// The SYSTEM identifier, e.g. `http://xml.cxml.org/schemas/cXML/1.2.063/cXML.dtd`.
    pub system_id: Option<String>,
    /// The PUBLIC identifier, rarely present.
    pub public_id: Option<String>,
}

impl DocType {
    /// The cXML version named in the system id (`.../cXML/1.2.063/cXML.dtd` → `1.2.063`).
    pub fn version(&self) -> Option<&str> {
        let sys = self.system_id.as_deref()?;
        let mut parts = sys.rsplit('/');
        let _file = parts.next()?;
        let version = parts.next()?;
        super::envelope::is_version(version).then_some(version)
    }

    /// The DTD file named in the system id (`cXML.dtd`, `Fulfill.dtd`, `InvoiceDetail.dtd`...).
    pub fn dtd_file(&self) -> Option<&str> {
        self.system_id.as_deref()?.rsplit('/').next()
    }
}

/// A decoded cXML document: the DOCTYPE (if any) and the `cXML` root element.
#[derive(Debug, Clone, PartialEq)]
pub struct Document<'a> {
    pub doctype: Option<DocType>,
    pub root: Element<'a>,
}

impl Document<'_> {
    /// The same document owning all its strings, detached from the input.
    pub fn into_owned(self) -> Document<'static> {
        Document {
            doctype: self.doctype,
            root: self.root.into_owned(),
        }
    }

    /// Equal and with every element at the same position: what two decoders of the same bytes
    /// must give (`==` ignores positions on purpose, for round trips).
    pub fn identical(&self, other: &Document<'_>) -> bool {
        self.doctype == other.doctype && identical(&self.root, &other.root)
    }
}

fn identical(a: &Element<'_>, b: &Element<'_>) -> bool {
    a.name == b.name
        && a.position == b.position
        && a.attributes == b.attributes
        && a.children.len() == b.children.len()
        && a.children
            .iter()
            .zip(&b.children)
            .all(|(x, y)| match (x, y) {
                (Node::Element(x), Node::Element(y)) => identical(x, y),
                (Node::Text(x), Node::Text(y)) => x == y,
                _ => false,
            })
}
