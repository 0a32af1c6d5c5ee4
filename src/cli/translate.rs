//! `edigate translate`: validates each set and maps the accepted ones to canonical JSON lines;
//! `edigate render`: writes canonical JSON back out as X12 or cXML that `validate` accepts.
//! The input format of `translate` is sniffed from the content, not taken from the file name.

use std::io::{self, BufWriter, Read, Write};
use std::path::Path;

use super::validate::{first_text_byte, sniff};
use crate::map::docs::{
    provenance_ids, read_documents, render_cxml, render_x12, translate_cxml_bytes,
    translate_x12_json,
};
use crate::map::MapSet;
use crate::x12::grammar::Grammars;

pub fn run_translate(grammars: &Grammars, maps: &MapSet, path: &Path, partner: Option<&str>) -> u8 {
    let label = path.display().to_string();
    let cant_read = |e: io::Error| {
        eprintln!("edigate: cannot read {label}: {e}");
        2
    };
    // X12 streams (a file of any size is read through a buffer).
    let (head, mut rest) = match std::fs::File::open(path).and_then(sniff) {
        Ok(x) => x,
        Err(e) => return cant_read(e),
    };
    let mut bytes = head;
    // What might be XML (or cannot be told yet) is read whole and decided as before.
    if matches!(first_text_byte(&bytes), None | Some(b'<')) {
        if let Err(e) = rest.read_to_end(&mut bytes) {
            return cant_read(e);
        }
        if crate::cxml::looks_like_cxml(&bytes) {
            return match translate_cxml_bytes(&bytes, maps, partner) {
                Ok(doc) => {
                    let _ = writeln!(io::stdout().lock(), "{doc}");
                    0
                }
                Err(e) => {
                    eprintln!("edigate: {label}: {e}");
                    1
                }
            };
        }
    }
    let file = io::Cursor::new(bytes).chain(rest);
    let stdout = io::stdout();
    let mut w = BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut failed = false;
    let result = translate_x12_json(file, grammars, maps, partner, |r| match r {
        Ok(doc) => {
            let _ = w.write_all(doc.as_bytes());
            let _ = w.write_all(b"\n");
        }
        Err(e) => {
            failed = true;
            eprintln!("edigate: {label}: {e}");
        }
    });
    let _ = w.flush();
    match result {
        Ok(summary) if summary.interchanges == 0 => {
            eprintln!("edigate: {label}: not an X12 interchange");
            1
        }
        Ok(summary) => u8::from(failed || !summary.clean()),
        Err(e) => {
            eprintln!("edigate: cannot read {label}: {e}");
            2
        }
    }
}

pub fn run_render(
    grammars: &Grammars,
    maps: &MapSet,
    path: &Path,
    to: &str,
    partner: Option<&str>,
    version: &str,
) -> u8 {
    if to != "x12" && to != "cxml" {
        eprintln!("edigate: render --to {to}, expected x12 or cxml");
        return 2;
    }
    let docs = match read_documents(path) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("edigate: cannot read {}: {e}", path.display());
            return 2;
        }
    };
    let Some(first) = docs.first() else {
        eprintln!("edigate: {} holds no document", path.display());
        return 1;
    };
    if to == "cxml" {
        return match render_cxml(&docs, maps, partner) {
            Ok(texts) => {
                let mut out = io::stdout().lock();
                for t in texts {
                    let _ = out.write_all(t.as_bytes());
                }
                0
            }
            Err(e) => {
                eprintln!("edigate: {e}");
                1
            }
        };
    }
    let ids = provenance_ids(first, partner);
    match render_x12(&docs, grammars, maps, version, partner, &ids, 1) {
        Ok(bytes) => {
            let _ = io::stdout().write_all(&bytes);
            0
        }
        Err(e) => {
            eprintln!("edigate: {e}");
            1
        }
    }
}
