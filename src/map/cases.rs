//! Golden cases: `maps/cases/<case>/` holds an input document and the canonical JSON it must
//! translate to (`*.x12` → `*.json`), and for the reverse direction a canonical document and
//! the set it must render to (`*.render.json` → `*.render.x12`). `edigate maps test` and
//! `cargo test` run them all and show a readable diff on a mismatch.
