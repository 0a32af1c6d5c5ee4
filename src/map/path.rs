//! Source paths of the mapping language, for X12 and cXML, parsed once when a map loads.
//!
//! X12: `BEG03`, `REF02[REF01=DP]`, `N1[N101=ST]/N102`, `PO1[VP]` (the product id whose
//! qualifier is VP, wherever its pair sits), `REF04-2` (component 2), `/CUR02` (from the set's
//! top level), `ISA06` / `GS02` (envelope). cXML: `OrderRequestHeader@orderID`,
//! `ItemDetail/UnitPrice/Money`, `Extrinsic[@name=GTIN]`, `ItemOut` (element steps), `.` (the
//! context element itself).

use std::fmt;

/// `seg elem = value` (or `!=`), with `|` alternatives, or `[@attr=value]` for cXML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cond {
    /// X12: the segment id and element position; cXML: the attribute name or child element.
    pub seg: String,
    pub elem: usize,
    /// The values to compare with, each with its `x12::id_code` (values are codes of a few
    /// bytes, compared as numbers on every read).
    pub values: Vec<Qualifier>,
    pub negate: bool,
    /// Only that the element is present (non-empty).
    pub present: bool,
    /// `seg` as an `x12::id_code`, worked out once here rather than on every read.
    pub code: u32,
}

impl Cond {
    pub fn matches(&self, v: Option<&str>) -> bool {
        let v = v.unwrap_or("");
        if self.present {
            return !v.is_empty();
        }
        let hit = self.values.iter().any(|x| x.text == v);
        hit != self.negate
    }
    /// The value an outbound render seeds a new segment with: the first alternative.
    pub fn seed(&self) -> Option<&str> {
        if self.negate || self.present {
            return None;
        }
        self.values.first().map(|x| x.text.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub id: String,
    pub conds: Vec<Cond>,
    /// `HL[HL03=I,child]`: only the levels directly under the current one (HL02 names it),
    /// not every level below it.
    pub child: bool,
    /// `id` as an `x12::id_code`, worked out once here rather than on every walk.
    pub code: u32,
}

/// A loop or segment step with its conditions; the word `child` among them marks a step to
/// the direct children of the current HL level.
fn make_step(id: &str, inner: Option<&str>) -> Result<Step, String> {
    let mut child = false;
    let conds = match inner {
        Some(i) => {
            let rest: Vec<&str> = i
                .split(',')
                .filter(|c| {
                    let is_child = c.trim() == "child";
                    child |= is_child;
                    !is_child
                })
                .collect();
            if rest.is_empty() {
                Vec::new()
            } else {
                parse_conds(&rest.join(","))?
            }
        }
        None => Vec::new(),
    };
    if child && id != "HL" {
        return Err(format!(
            "`child` only applies to HL levels, expected e.g. HL[HL03=I,child], not {id}"
        ));
    }
    Ok(Step {
        id: id.to_string(),
        conds,
        child,
        code: crate::map::x12::id_code(id.as_bytes()),
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An element (and component) of a segment.
    Element {
        seg: String,
        elem: usize,
        comp: Option<usize>,
        conds: Vec<Cond>,
    },
    /// The id of a qualifier/id pair (elements 235/234) whose qualifier is one of these.
    Pair {
        seg: String,
        qualifiers: Vec<Qualifier>,
        conds: Vec<Cond>,
    },
    /// ISA or GS element of the envelope (read only).
    Envelope { seg: String, elem: usize },
    /// A segment or loop step with no element: used by `each` and `in`.
    Node,
}

/// A qualifier a pair path names (`PO1[VP|VN]`) or a condition compares with (`N101=BY`), with
/// its `x12::id_code` worked out once here rather than on every read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qualifier {
    pub text: String,
    pub code: u32,
}

impl Qualifier {
    pub fn new(text: &str) -> Self {
        Qualifier {
            text: text.to_string(),
            code: crate::map::x12::id_code(text.as_bytes()),
        }
    }
}

/// An X12 path: loop steps then a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct X12Path {
    pub text: String,
    pub absolute: bool,
    pub steps: Vec<Step>,
    pub target: Target,
}

impl fmt::Display for X12Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn split_brackets(step: &str) -> Result<(&str, Option<&str>), String> {
    match step.find('[') {
        None => Ok((step, None)),
        Some(i) => {
            let inner = step[i + 1..]
                .strip_suffix(']')
                .ok_or_else(|| format!("`{step}` opens `[` without closing it"))?;
            Ok((&step[..i], Some(inner)))
        }
    }
}

/// `N101` → ("N1", 1); `REF04-2` → ("REF", 4, Some(2)).
pub fn element_ref(s: &str) -> Option<(String, usize, Option<usize>)> {
    let (main, comp) = match s.split_once('-') {
        Some((m, c)) => (m, Some(c.parse::<usize>().ok().filter(|&c| c > 0)?)),
        None => (s, None),
    };
    if main.len() < 4 || !main.is_ascii() {
        return None;
    }
    let (seg, num) = main.split_at(main.len() - 2);
    let elem: usize = num.parse().ok().filter(|&e| e > 0)?;
    let valid = (2..=3).contains(&seg.len())
        && seg
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    valid.then(|| (seg.to_string(), elem, comp))
}

fn parse_conds(inner: &str) -> Result<Vec<Cond>, String> {
    let mut out = Vec::new();
    for part in inner.split(',') {
        let part = part.trim();
        let (lhs, rhs, negate) = if let Some((l, r)) = part.split_once("!=") {
            (l, Some(r), true)
        } else if let Some((l, r)) = part.split_once('=') {
            (l, Some(r), false)
        } else {
            (part, None, false)
        };
        let (seg, elem, _) = element_ref(lhs.trim()).ok_or_else(|| {
            format!("condition `{part}` must name an element like N101, expected e.g. [N101=ST]")
        })?;
        let values = rhs
            .map(|r| r.split('|').map(|v| Qualifier::new(v.trim())).collect())
            .unwrap_or_default();
        out.push(Cond {
            code: crate::map::x12::id_code(seg.as_bytes()),
            seg,
            elem,
            values,
            negate,
            present: rhs.is_none(),
        });
    }
    Ok(out)
}

impl X12Path {
    pub fn parse(text: &str) -> Result<X12Path, String> {
        let t = text.trim();
        let (absolute, body) = match t.strip_prefix('/') {
            Some(b) => (true, b),
            None => (false, t),
        };
        if body.is_empty() {
            return Err("empty path, expected e.g. BEG03".into());
        }
        let parts: Vec<&str> = body.split('/').collect();
        let mut steps = Vec::new();
        for p in &parts[..parts.len() - 1] {
            let (id, inner) = split_brackets(p)?;
            if id.is_empty() {
                return Err(format!("empty step in `{text}`"));
            }
            steps.push(make_step(id, inner)?);
        }
        let last = parts[parts.len() - 1];
        let (id, inner) = split_brackets(last)?;
        let target = if let (Some(inner), false) = (inner, inner.is_some_and(|i| i.contains('='))) {
            if element_ref(id).is_some() || inner.is_empty() {
                // `N1[N103]`: a presence condition on a node, e.g. for `each`.
                if let Some((seg, elem, comp)) = element_ref(id) {
                    Target::Element {
                        seg,
                        elem,
                        comp,
                        conds: parse_conds(inner)?,
                    }
                } else {
                    return Err(format!("`{last}`: empty brackets"));
                }
            } else if inner.split('|').all(|q| {
                q.len() >= 2 && q.len() <= 3 && q.bytes().all(|b| b.is_ascii_alphanumeric())
            }) {
                Target::Pair {
                    seg: id.to_string(),
                    qualifiers: inner.split('|').map(Qualifier::new).collect(),
                    conds: Vec::new(),
                }
            } else {
                steps.push(make_step(id, Some(inner))?);
                Target::Node
            }
        } else if element_ref(id).is_none() {
            steps.push(make_step(id, inner)?);
            Target::Node
        } else {
            let conds = match inner {
                Some(i) => parse_conds(i)?,
                None => Vec::new(),
            };
            match element_ref(id) {
                Some((seg, elem, comp)) if seg == "ISA" || seg == "GS" => {
                    if comp.is_some() || !conds.is_empty() || !steps.is_empty() {
                        return Err(format!(
                            "`{last}`: envelope elements take no components, conditions or loops"
                        ));
                    }
                    Target::Envelope { seg, elem }
                }
                Some((seg, elem, comp)) => Target::Element {
                    seg,
                    elem,
                    comp,
                    conds,
                },
                None => Target::Node,
            }
        };
        Ok(X12Path {
            text: text.to_string(),
            absolute,
            steps,
            target,
        })
    }
}

/// A cXML path: element steps with optional `[@attr=value]` or `[Child=value]` conditions, an
/// optional final `@attribute`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlPath {
    pub text: String,
    pub absolute: bool,
    pub steps: Vec<XmlStep>,
    pub attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlStep {
    pub name: String,
    /// (attribute or child name, is_attribute, value)
    pub conds: Vec<(String, bool, String)>,
}

impl XmlPath {
    pub fn parse(text: &str) -> Result<XmlPath, String> {
        let t = text.trim();
        let (absolute, body) = match t.strip_prefix('/') {
            Some(b) => (true, b),
            None => (false, t),
        };
        let (body, attribute) = match body.rsplit_once('@') {
            Some((b, a)) if !a.contains(']') && !a.contains('/') => {
                (b.trim_end_matches('/'), Some(a.to_string()))
            }
            _ => (body, None),
        };
        let mut steps = Vec::new();
        if !body.is_empty() && body != "." {
            for p in body.split('/') {
                let (name, inner) = split_brackets(p)?;
                if name.is_empty()
                    || !name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b':')
                {
                    return Err(format!("`{p}` is not an element name, expected e.g. ItemOut or ItemID/SupplierPartID"));
                }
                let mut conds = Vec::new();
                if let Some(inner) = inner {
                    for c in inner.split(',') {
                        let (l, v) = c
                            .split_once('=')
                            .ok_or_else(|| format!("condition `{c}`, expected [@name=value]"))?;
                        let l = l.trim();
                        let (key, is_attr) = match l.strip_prefix('@') {
                            Some(a) => (a, true),
                            None => (l, false),
                        };
                        conds.push((key.to_string(), is_attr, v.trim().to_string()));
                    }
                }
                steps.push(XmlStep {
                    name: name.to_string(),
                    conds,
                });
            }
        }
        if steps.is_empty() && attribute.is_none() && body != "." {
            return Err("empty path, expected e.g. OrderRequestHeader@orderID".into());
        }
        Ok(XmlPath {
            text: text.to_string(),
            absolute,
            steps,
            attribute,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_x12_paths() {
        let p = X12Path::parse("N1[N101=ST]/N102").unwrap();
        assert_eq!(p.steps.len(), 1);
        assert_eq!(p.steps[0].conds[0].values, vec![Qualifier::new("ST")]);
        assert!(
            matches!(p.target, Target::Element { ref seg, elem: 2, comp: None, .. } if seg == "N1")
        );
        let p = X12Path::parse("PO1[VP|VN]").unwrap();
        assert!(
            matches!(p.target, Target::Pair { ref seg, ref qualifiers, .. } if seg == "PO1" && qualifiers.len() == 2)
        );
        let p = X12Path::parse("REF02[REF01=DP]").unwrap();
        assert!(matches!(p.target, Target::Element { ref conds, .. } if conds.len() == 1));
        let p = X12Path::parse("/CUR02").unwrap();
        assert!(p.absolute);
        let p = X12Path::parse("HL[HL03=O]").unwrap();
        assert_eq!(p.target, Target::Node);
        assert_eq!(p.steps[0].id, "HL");
        let p = X12Path::parse("REF04-2").unwrap();
        assert!(matches!(p.target, Target::Element { comp: Some(2), .. }));
        assert!(X12Path::parse("N1[N101=ST").is_err());
        assert!(X12Path::parse("ISA06").is_ok_and(|p| matches!(p.target, Target::Envelope { .. })));
        let p = X12Path::parse("HL[HL03=S]/HL[HL03=I,child]").unwrap();
        assert_eq!(p.steps.len(), 2);
        assert!(!p.steps[0].child && p.steps[1].child);
        assert_eq!(p.steps[1].conds.len(), 1);
        let p = X12Path::parse("HL[child]").unwrap();
        assert!(p.steps[0].child && p.steps[0].conds.is_empty());
        assert!(X12Path::parse("REF[REF01=LT,child]/REF02").is_err());
        let p = X12Path::parse("ACK[ACK07]").unwrap();
        assert_eq!(p.target, Target::Node);
        assert!(p.steps[0].conds[0].present);
    }

    #[test]
    fn parses_xml_paths() {
        let p = XmlPath::parse("OrderRequestHeader@orderID").unwrap();
        assert_eq!(p.steps.len(), 1);
        assert_eq!(p.attribute.as_deref(), Some("orderID"));
        let p = XmlPath::parse("ItemDetail/Extrinsic[@name=GTIN]").unwrap();
        assert_eq!(p.steps[1].conds[0], ("name".into(), true, "GTIN".into()));
        let p = XmlPath::parse("@lineNumber").unwrap();
        assert!(p.steps.is_empty());
    }
}
