//! Fuzz the cXML decoder: arbitrary bytes must never panic, and whatever decodes must check,
//! answer and survive parse → write → parse unchanged.
#![no_main]

use edigate::cxml::{
    answer, check, decode, write_document, AnswerOptions, DoctypeMode, Limits, WriteOptions,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
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
