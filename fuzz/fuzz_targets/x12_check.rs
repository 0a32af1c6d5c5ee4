//! Fuzz target: arbitrary bytes through the whole X12 path (streaming reader, envelopes, grammar
//! walk and element checks, 997/999/TA1 writing into a Vec), and the acks written must read
//! back and check without a panic. Any panic, hang or runaway allocation is a bug.

#![no_main]

use std::sync::OnceLock;

use edigate::x12::ack::{AckKind, AckOptions, AckWriter, Counter, Ta1Mode};
use edigate::x12::envelope;
use edigate::x12::grammar::Grammars;
use edigate::x12::validate::Leniency;
use libfuzzer_sys::fuzz_target;

fn grammars() -> &'static Grammars {
    static G: OnceLock<Grammars> = OnceLock::new();
    G.get_or_init(|| Grammars::embedded().expect("embedded grammars load"))
}

fuzz_target!(|data: &[u8]| {
    let g = grammars();
    // The first byte picks the ack kind and leniency, so both paths get explored.
    let flags = data.first().copied().unwrap_or(0);
    let kind = if flags & 1 == 0 {
        AckKind::F997
    } else {
        AckKind::F999
    };
    let lenient = Leniency {
        unknown_segments: flags & 2 != 0,
        missing_final_terminator: flags & 4 != 0,
        unpadded_isa: flags & 8 != 0,
        non_ascii_text: flags & 16 != 0,
    };
    let mut opts = AckOptions::new(Some(kind), Ta1Mode::Auto);
    opts.ak2_for_accepted = flags & 32 == 0;
    let mut numbers = Counter {
        interchange: 0,
        group: 0,
    };
    let writer = AckWriter::new(Vec::new(), opts, &mut numbers);
    let Ok((writer, _summary)) = envelope::check(data, g, lenient, writer) else {
        return;
    };
    if let Some(ack) = writer.into_inner() {
        // Our own output goes back through the same path.
        let _ = envelope::check(&ack[..], g, Leniency::default(), NoOp);
    }
});

struct NoOp;
impl envelope::Sink for NoOp {}
