//! Fuzz the cXML decoder: arbitrary bytes must never panic, the fast decoder must agree with the
//! reference decoder (same tree, positions and DOCTYPE; nothing the reference refuses), and
//! whatever decodes must check, answer and survive parse → write → parse unchanged.
#![no_main]

use edigate::cxml::{
    answer, check, decode, decode_fast, decode_reference, write_document, AnswerOptions,
    DoctypeMode, Limits, WriteOptions,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let small = Limits {
        max_depth: 8,
        max_attributes: 4,
        max_text_bytes: 64,
        max_elements: 100,
        max_bytes: 4096,
    };
    for l in [&limits, &small] {
        let reference = decode_reference(data, l);
        if let Some(fast) = decode_fast(data, l) {
            match &reference {
                Ok(r) => assert!(
                    r.identical(&fast),
                    "fast and reference decoders differ\nreference: {r:#?}\nfast: {fast:#?}"
                ),
                Err(e) => panic!("fast decoder accepted what the reference refuses: {e}"),
            }
        }
        assert_eq!(
            decode(data, l).map_err(|e| e.to_string()).err(),
            reference.err().map(|e| e.to_string())
        );
    }
    let _ = answer(data, &limits, None, None, &AnswerOptions::default());
    if let Ok(doc) = decode(data, &limits) {
        let _ = check(&doc, None);
        for pretty in [false, true] {
            let text = write_document(
                &doc,
                &WriteOptions {
                    pretty,
                    doctype: DoctypeMode::Derived,
                },
            );
            match decode(text.as_bytes(), &limits) {
                Ok(again) => assert_eq!(doc.root, again.root, "round trip changed the tree"),
                Err(e) => panic!("written document does not decode: {e}\n{text}"),
            }
        }
    }
});
