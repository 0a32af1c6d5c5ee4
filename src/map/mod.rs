//! The mapping language analysts edit (`maps/`): rules that read X12 or cXML into canonical
//! documents and write canonical documents back out, one rule set for both directions, with
//! code tables and per-partner overrides. Maps load as data and are checked against the
//! grammars before any document is touched. It reads trees the decoders built and writes
//! segments the X12 writer envelopes; it does no I/O on documents itself.

pub mod cases;
pub mod convert;
pub mod cxml;
pub mod docs;
mod layout;
pub mod node;
pub mod path;
pub mod rules;
pub mod x12;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use include_dir::{include_dir, Dir};
use serde_json::{Map as JsonMap, Value};

use crate::x12::grammar::Grammars;
use crate::x12::tree::SetTree;
use crate::x12::writer::OwnedSegment;
use rules::{Block, Format, MapText, Table};

static EMBEDDED: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/maps");

/// A map file problem found at load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct MapError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl MapError {
    pub fn at(file: &str, line: usize, message: impl Into<String>) -> Self {
        MapError {
            file: file.to_string(),
            line,
            message: message.into(),
        }
    }
}

/// A document that could not be mapped (a missing required value, a code not in a table...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{map}:{line}: {message}")]
pub struct TranslateError {
    pub map: String,
    pub line: usize,
    pub message: String,
}

/// Code tables by name; shared, so a rule keeps the one it names (`Rule::code_table`).
pub type Tables = BTreeMap<String, Arc<Table>>;

/// One compiled map.
#[derive(Debug, Clone)]
pub struct Map {
    /// `x12/850`, `cxml/OrderRequest`.
    pub name: String,
    pub file: String,
    pub kind: String,
    pub format: Format,
    pub set: Option<String>,
    pub versions: Vec<String>,
    pub document: Option<String>,
    pub root: Block,
    /// Where the rules put their values in the kind's layout, for an X12 map of a kind whose
    /// JSON is written from frames (`layout::Plan`).
    pub(crate) plan: Option<layout::Plan>,
    /// Per version (in `versions` order): what the X12 reads take from its grammar
    /// (`x12::check` finds it), so a read does not ask the grammar.
    pub(crate) resolved: Vec<x12::Resolved>,
    /// Which of the map's `Read::Pair` reads want each qualifier (`x12::number_pair_reads`).
    pub(crate) pair_reads: x12::PairReads,
}

impl Map {
    pub(crate) fn error(&self, line: usize, message: String) -> TranslateError {
        TranslateError {
            map: self.file.clone(),
            line,
            message,
        }
    }
}

/// Every map, table and partner override, loaded and checked.
#[derive(Debug, Clone, Default)]
pub struct MapSet {
    maps: BTreeMap<String, Map>,
    tables: Tables,
    /// (partner, map name) → merged map.
    partner_maps: BTreeMap<(String, String), Map>,
    /// Per partner: the shared tables with the partner's entries laid over them.
    partner_tables: BTreeMap<String, Tables>,
    /// Hash of all map and table files, recorded in provenance.
    pub fingerprint: String,
}

struct Files {
    /// (path relative to maps/, text)
    entries: Vec<(String, String)>,
}

impl Files {
    fn embedded() -> Files {
        fn walk(d: &Dir<'_>, out: &mut Vec<(String, String)>) {
            for f in d.files() {
                if let Some(t) = f.contents_utf8() {
                    out.push((f.path().to_string_lossy().replace('\\', "/"), t.to_string()));
                }
            }
            for sub in d.dirs() {
                walk(sub, out);
            }
        }
        let mut entries = Vec::new();
        walk(&EMBEDDED, &mut entries);
        Files { entries }
    }

    fn from_dir(dir: &Path) -> Result<Files, MapError> {
        fn walk(base: &Path, d: &Path, out: &mut Vec<(String, String)>) -> Result<(), MapError> {
            let rd = std::fs::read_dir(d).map_err(|e| {
                MapError::at(&d.display().to_string(), 0, format!("cannot read: {e}"))
            })?;
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(base, &p, out)?;
                } else if p.extension().is_some_and(|x| x == "toml") {
                    let text = std::fs::read_to_string(&p).map_err(|e| {
                        MapError::at(&p.display().to_string(), 0, format!("cannot read: {e}"))
                    })?;
                    let rel = p
                        .strip_prefix(base)
                        .unwrap_or(&p)
                        .to_string_lossy()
                        .replace('\\', "/");
                    out.push((rel, text));
                }
            }
            Ok(())
        }
        let mut entries = Vec::new();
        walk(dir, dir, &mut entries)?;
        Ok(Files { entries })
    }
}

fn map_name(rel: &str) -> String {
    rel.trim_end_matches(".toml").to_string()
}

impl MapSet {
    /// The maps shipped inside the binary.
    pub fn embedded(grammars: &Grammars) -> Result<MapSet, MapError> {
        Self::load(Files::embedded(), grammars)
    }

    /// Maps from a directory laid out like `maps/`.
    pub fn from_dir(dir: &Path, grammars: &Grammars) -> Result<MapSet, MapError> {
        Self::load(Files::from_dir(dir)?, grammars)
    }

    fn load(mut files: Files, grammars: &Grammars) -> Result<MapSet, MapError> {
        use sha2::Digest;
        files.entries.sort();
        let mut hasher = sha2::Sha256::new();
        let mut set = MapSet::default();
        let mut bases: BTreeMap<String, MapText> = BTreeMap::new();
        let mut overrides = Vec::new();
        for (rel, text) in &files.entries {
            if !rel.ends_with(".toml") || rel.starts_with("cases/") {
                continue;
            }
            hasher.update(rel.as_bytes());
            hasher.update(text.as_bytes());
            let shown = format!("maps/{rel}");
            let parts: Vec<&str> = rel.split('/').collect();
            match parts.as_slice() {
                ["tables", name] => {
                    set.tables
                        .insert(map_name(name), Arc::new(Table::parse(&shown, text)?));
                }
                ["partners", partner, "tables", name] => {
                    let t = Arc::new(Table::parse(&shown, text)?);
                    set.partner_tables
                        .entry(partner.to_string())
                        .or_default()
                        .insert(map_name(name), t);
                }
                ["partners", partner, rest @ ..] => {
                    overrides.push((
                        partner.to_string(),
                        map_name(&rest.join("/")),
                        rules::parse_file(&shown, text)?,
                    ));
                }
                [_, _] => {
                    bases.insert(map_name(rel), rules::parse_file(&shown, text)?);
                }
                _ => {}
            }
        }
        // Lay each partner's tables over the shared ones once, here, not for every document.
        let overlays = std::mem::take(&mut set.partner_tables);
        for (partner, over) in overlays {
            let mut t = set.tables.clone();
            for (name, table) in over {
                let merged = match t.get(&name) {
                    Some(base) => Arc::new(base.overlay(&table)),
                    None => table,
                };
                t.insert(name, merged);
            }
            set.partner_tables.insert(partner, t);
        }
        for (name, text) in &bases {
            let m = set.compile(name, text, grammars, &set.tables)?;
            set.maps.insert(name.clone(), m);
        }
        for (partner, name, text) in overrides {
            let base = bases.get(&name).ok_or_else(|| {
                MapError::at(&text.file, 1, format!("overrides map {name}, which does not exist, expected the path of a map under maps/"))
            })?;
            let merged = rules::merge(base, &text);
            let m = set.compile(&name, &merged, grammars, set.tables_for(Some(&partner)))?;
            set.partner_maps.insert((partner, name), m);
        }
        // A map a partner does not override but that names a table the partner lays entries
        // over is kept for the partner too, with the partner's tables in its rules.
        let mut kept = Vec::new();
        for (partner, tables) in &set.partner_tables {
            for (name, m) in &set.maps {
                let key = (partner.clone(), name.clone());
                if set.partner_maps.contains_key(&key) || !other_tables(&m.root, tables) {
                    continue;
                }
                let mut m = m.clone();
                resolve_tables(&m.file, &mut m.root, tables)?;
                kept.push((key, m));
            }
        }
        set.partner_maps.extend(kept);
        set.fingerprint = hex::encode(&hasher.finalize()[..8]);
        Ok(set)
    }

    fn compile(
        &self,
        name: &str,
        text: &MapText,
        grammars: &Grammars,
        tables: &Tables,
    ) -> Result<Map, MapError> {
        let root = rules::compile(text)?;
        let plan = match text.format {
            Format::X12 => layout::plan(&text.kind, &root),
            Format::Cxml => None,
        };
        let mut root = root;
        resolve_tables(&text.file, &mut root, tables)?;
        let pair_reads = x12::number_pair_reads(&mut root);
        let mut map = Map {
            name: name.to_string(),
            file: text.file.clone(),
            kind: text.kind.clone(),
            format: text.format,
            set: text.set.clone(),
            versions: text.versions.clone(),
            document: text.document.clone(),
            root,
            plan,
            resolved: Vec::new(),
            pair_reads,
        };
        match map.format {
            Format::X12 => map.resolved = x12::check(&map, grammars)?,
            Format::Cxml => cxml::check(&map)?,
        }
        Ok(map)
    }

    /// Tables with a partner's entries laid over the shared ones (merged at load).
    pub fn tables_for(&self, partner: Option<&str>) -> &Tables {
        partner
            .and_then(|p| self.partner_tables.get(p))
            .unwrap_or(&self.tables)
    }

    pub fn maps(&self) -> impl Iterator<Item = &Map> {
        self.maps.values()
    }

    /// The map for a name, with the partner's override if there is one.
    pub fn get(&self, name: &str, partner: Option<&str>) -> Option<&Map> {
        partner
            .and_then(|p| self.partner_maps.get(&(p.to_string(), name.to_string())))
            .or_else(|| self.maps.get(name))
    }

    /// The X12 map for a transaction set in a version.
    pub fn x12_map(&self, set_id: &str, version: &str, partner: Option<&str>) -> Option<&Map> {
        let name = self.maps.values().find(|m| {
            m.format == Format::X12
                && m.set.as_deref() == Some(set_id)
                && m.versions.iter().any(|v| v == version)
        })?;
        self.get(&name.name, partner)
    }

    /// The map that writes a canonical kind out in a format.
    pub fn map_for_kind(
        &self,
        kind: &str,
        format: Format,
        version: Option<&str>,
        partner: Option<&str>,
    ) -> Option<&Map> {
        let name = self.maps.values().find(|m| {
            m.format == format
                && m.kind == kind
                && version
                    .is_none_or(|v| m.versions.is_empty() || m.versions.iter().any(|x| x == v))
        })?;
        self.get(&name.name, partner)
    }

    /// Maps one held X12 set to canonical JSON (without provenance; the caller adds it).
    pub fn translate_x12(
        &self,
        tree: &SetTree,
        grammars: &Grammars,
        partner: Option<&str>,
    ) -> Result<(String, JsonMap<String, Value>), TranslateError> {
        let (kind, mut doc) = self.translate_x12_into::<Value>(tree, grammars, partner)?;
        doc.insert("kind".into(), Value::String(kind.to_string()));
        Ok((kind.to_string(), doc))
    }

    /// `translate_x12` into any output tree, without the `kind` key: returns the kind and the
    /// document's fields.
    pub fn translate_x12_into<'a, O: x12::Out<'a>>(
        &'a self,
        tree: &'a SetTree,
        grammars: &'a Grammars,
        partner: Option<&str>,
    ) -> Result<(&'a str, O::Obj), TranslateError> {
        let map = self
            .x12_map(&tree.set_id, &tree.version, partner)
            .ok_or_else(|| {
                maps_error(format!(
                    "no map reads X12 {} in version {}",
                    tree.set_id, tree.version
                ))
            })?;
        let inbound = self.inbound(tree, grammars, map)?;
        let doc = inbound.run_into::<O>()?;
        Ok((inbound.map.kind.as_str(), doc))
    }

    /// The canonical JSON of a set whose map has a plan (`layout::Plan`), with `provenance`:
    /// its values go straight from the rules into frames and the JSON is written from those.
    /// `None` when the map has no plan, the set does not map or the document does not fit; the
    /// tree route then gives the same text or the error.
    pub(crate) fn translate_x12_planned<'a>(
        &'a self,
        tree: &'a SetTree,
        grammars: &'a Grammars,
        partner: Option<&str>,
        provenance: &[(&'static str, Cow<'a, str>)],
    ) -> Option<String> {
        let map = self.x12_map(&tree.set_id, &tree.version, partner)?;
        // Asked first: a map without a plan must not cost an `Inbound` the tree route makes again.
        let plan = map.plan.as_ref()?;
        let inbound = self.inbound(tree, grammars, map).ok()?;
        let (mut frames, root) = inbound.run_plan(plan)?;
        plan.document(&map.kind, &mut frames, root, provenance, tree.bytes())
    }

    /// The inbound run of `map` (the one `x12_map` finds for it) over a held set.
    fn inbound<'a>(
        &'a self,
        tree: &'a SetTree,
        grammars: &'a Grammars,
        map: &'a Map,
    ) -> Result<x12::Inbound<'a>, TranslateError> {
        let v = grammars
            .named(&tree.version)
            .ok_or_else(|| maps_error(format!("no grammar for version {}", tree.version)))?;
        let set = v
            .sets
            .get(&tree.set_id)
            .ok_or_else(|| maps_error(format!("no grammar for set {}", tree.set_id)))?;
        Ok(x12::Inbound::new(tree, set, map))
    }

    /// The cXML map for a request document (`OrderRequest`...).
    pub fn cxml_map(&self, document: &str, partner: Option<&str>) -> Option<&Map> {
        let name = self
            .maps
            .values()
            .find(|m| m.format == Format::Cxml && m.document.as_deref() == Some(document))?;
        self.get(&name.name, partner)
    }

    /// Maps one decoded cXML request to canonical JSON (without provenance; the caller adds
    /// it). Returns the canonical kind and the document.
    pub fn translate_cxml(
        &self,
        doc: &crate::cxml::Document,
        partner: Option<&str>,
    ) -> Result<(String, JsonMap<String, Value>), TranslateError> {
        let env = crate::cxml::envelope(doc);
        let element = env
            .document
            .filter(|_| env.body_kind == Some(crate::cxml::BodyKind::Request))
            .ok_or_else(|| maps_error("the cXML holds no Request document".into()))?;
        let map = self
            .cxml_map(&element.name, partner)
            .ok_or_else(|| maps_error(format!("no map reads cXML {}", element.name)))?;
        let mut out = cxml::Inbound::new(element, map).run()?;
        out.insert("kind".into(), Value::String(map.kind.clone()));
        Ok((map.kind.clone(), out))
    }

    /// Builds the request document element (`OrderRequest`...) for a canonical document.
    pub fn render_cxml_element(
        &self,
        doc: &Value,
        partner: Option<&str>,
    ) -> Result<crate::cxml::Element<'static>, TranslateError> {
        let kind = doc
            .get("kind")
            .and_then(Value::as_str)
            .ok_or_else(|| maps_error("the document has no `kind`".into()))?;
        let map = self
            .map_for_kind(kind, Format::Cxml, None, partner)
            .ok_or_else(|| maps_error(format!("no map writes {kind} as cXML")))?;
        cxml::Outbound::new(map, doc).run(doc)
    }

    /// Writes a canonical document as a whole cXML request: the mapped document inside a
    /// `Request` and an envelope addressed to `partner` (or the document's provenance partner),
    /// with a fresh payloadID and timestamp.
    pub fn render_cxml(
        &self,
        doc: &Value,
        partner: Option<&str>,
    ) -> Result<String, TranslateError> {
        let envelope = docs::CxmlEnvelope::fresh(doc, partner);
        let body = self.render_cxml_element(doc, partner)?;
        Ok(docs::write_cxml(body, &envelope))
    }

    /// Writes a canonical document as the body of an X12 set (between ST and SE).
    pub fn render_x12(
        &self,
        doc: &Value,
        grammars: &Grammars,
        version: &str,
        partner: Option<&str>,
    ) -> Result<(String, Vec<OwnedSegment>), TranslateError> {
        let kind = doc
            .get("kind")
            .and_then(Value::as_str)
            .ok_or_else(|| maps_error("the document has no `kind`".into()))?;
        let map = self
            .map_for_kind(kind, Format::X12, Some(version), partner)
            .ok_or_else(|| maps_error(format!("no map writes {kind} as X12 {version}")))?;
        let set_id = map.set.clone().unwrap_or_default();
        let v = grammars
            .named(version)
            .ok_or_else(|| maps_error(format!("no grammar for version {version}")))?;
        let set = v
            .sets
            .get(&set_id)
            .ok_or_else(|| maps_error(format!("no grammar for set {set_id} in {version}")))?;
        let segs = x12::Outbound::new(v, set, map).run(doc)?;
        Ok((set_id, segs))
    }
}

/// An error of the map set as a whole (no map, no grammar), not of one map's line.
fn maps_error(message: String) -> TranslateError {
    TranslateError {
        map: "maps".into(),
        line: 0,
        message,
    }
}

/// A rule's error for a value it could not convert, naming the rule's target and source.
pub(crate) fn value_error(map: &Map, r: &rules::Rule, e: convert::ValueError) -> TranslateError {
    let from = r.from.first().map(rules::Source::text).unwrap_or("value");
    map.error(r.line, format!("{} from {from}: {e}", r.to_text))
}

/// The first half of reading any rule, in either format: the default when the document has no
/// value, then the code table. `None` when there is nothing to convert. Text that needs no
/// change is not copied: the result borrows the input, the rule or the table.
pub(crate) fn table_value<'a>(
    map: &Map,
    r: &'a rules::Rule,
    raw: Option<Cow<'a, str>>,
) -> Result<Option<Cow<'a, str>>, TranslateError> {
    match with_default(r, raw) {
        Some(raw) => coded_value(map, r, raw).map(Some),
        None => Ok(None),
    }
}

/// The value as read, or the rule's default when the document has none.
#[inline]
pub(crate) fn with_default<'a>(
    r: &'a rules::Rule,
    raw: Option<Cow<'a, str>>,
) -> Option<Cow<'a, str>> {
    raw.or_else(|| r.default.as_deref().map(Cow::Borrowed))
}

/// The second half of `table_value`: a value through the rule's code table, or as it is when
/// the rule names none.
pub(crate) fn coded_value<'a>(
    map: &Map,
    r: &'a rules::Rule,
    raw: Cow<'a, str>,
) -> Result<Cow<'a, str>, TranslateError> {
    let Some((t, table)) = code_table(map, r)? else {
        return Ok(raw);
    };
    // `Table::lookup`, keeping the code itself (passthrough) as the `Cow` it came in.
    if let Some(v) = table.code(raw.as_ref()) {
        return Ok(Cow::Borrowed(v));
    }
    if table.passthrough {
        return Ok(raw);
    }
    match &table.unmapped {
        Some(u) => Ok(Cow::Borrowed(u.as_str())),
        None => Err(value_error(
            map,
            r,
            convert::ValueError(format!("code `{raw}` is not in table {t}")),
        )),
    }
}

/// The name and the table of a rule that names one (resolved when the map loaded).
pub(crate) fn code_table<'a>(
    map: &Map,
    r: &'a rules::Rule,
) -> Result<Option<(&'a str, &'a rules::Table)>, TranslateError> {
    match (&r.table, &r.code_table) {
        (None, _) => Ok(None),
        (Some(t), Some(table)) => Ok(Some((t, table))),
        // `resolve_tables` gives every rule that names a table that table, or the map fails.
        (Some(t), None) => Err(map.error(r.line, format!("table {t} is missing"))),
    }
}

/// Outbound, the reverse of `coded_value`: the code a rule's table gives for a canonical
/// value, `None` for the table's unmapped value (nothing is written), the value itself when
/// the rule names no table.
pub(crate) fn uncoded_value(
    map: &Map,
    r: &rules::Rule,
    value: String,
) -> Result<Option<String>, TranslateError> {
    let Some((t, table)) = code_table(map, r)? else {
        return Ok(Some(value));
    };
    if table.is_unmapped(&value) {
        return Ok(None);
    }
    match table.reverse(&value) {
        Some(code) => Ok(Some(code.to_string())),
        None => Err(map.error(
            r.line,
            format!("{} `{value}` has no code in table {t}", r.to_text),
        )),
    }
}

/// Outbound: the canonical value a rule writes, as text (`None` when the document has none).
pub(crate) fn plain_value(
    map: &Map,
    r: &rules::Rule,
    data: &Value,
) -> Result<Option<String>, TranslateError> {
    match x12::get_path(data, &r.to) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(map.error(
            r.line,
            format!(
                "{} is an object or array, expected a plain value",
                r.to_text
            ),
        )),
    }
}

/// Gives each rule of `b` (and of the blocks inside it) that names a table that table
/// (`Rule::code_table`); a table that does not exist is an error of map `file`.
fn resolve_tables(file: &str, b: &mut Block, tables: &Tables) -> Result<(), MapError> {
    let rules = b.rules.iter_mut().chain(b.scalar.iter_mut());
    for r in rules {
        if let Some(t) = &r.table {
            let table = tables.get(t).ok_or_else(|| {
                MapError::at(
                    file,
                    r.line,
                    format!("table `{t}` does not exist, expected a file maps/tables/{t}.toml"),
                )
            })?;
            r.code_table = Some(table.clone());
        }
    }
    for c in &mut b.blocks {
        resolve_tables(file, c, tables)?;
    }
    Ok(())
}

/// Whether a rule of `b` (or of a block inside it) names a table that `tables` has in
/// another version than the rule's.
fn other_tables(b: &Block, tables: &Tables) -> bool {
    b.rules
        .iter()
        .chain(b.scalar.iter())
        .any(|r| match (&r.table, &r.code_table) {
            (Some(t), Some(have)) => !tables.get(t).is_some_and(|t| Arc::ptr_eq(t, have)),
            _ => false,
        })
        || b.blocks.iter().any(|c| other_tables(c, tables))
}
