//! Fuzz target: arbitrary bytes through `translate` (validation, then every accepted set through
//! the shipped inbound maps to canonical JSON). Mutations of real sets reach the conversions
//! (dates, implied decimals, code tables, UDI and NDC parsing) with values no sample has; each
//! must end in a document or a reported error, never a panic.

#![no_main]

use std::sync::OnceLock;

use edigate::map::docs::translate_x12_json;
use edigate::map::MapSet;
use edigate::x12::grammar::Grammars;
use libfuzzer_sys::fuzz_target;

fn loaded() -> &'static (Grammars, MapSet) {
    static L: OnceLock<(Grammars, MapSet)> = OnceLock::new();
    L.get_or_init(|| {
        let g = Grammars::embedded().expect("embedded grammars load");
        let m = MapSet::embedded(&g).expect("embedded maps load");
        (g, m)
    })
}

fuzz_target!(|data: &[u8]| {
    let (g, m) = loaded();
    let _ = translate_x12_json(data, g, m, None, |r| {
        if let Ok(doc) = r {
            // What we print must be JSON.
            let _: serde_json::Value = serde_json::from_str(&doc).expect("translate printed JSON");
        }
    });
});
