//! X12 throughput: lexing alone (the streaming `SegmentReader` over a buffer) and full checking
//! (`envelope::check`: envelopes, grammar walk, every element check, with a sink that drops
//! results), once on one thread and once with set walks on the other cores as `validate` runs. Input is `EDIGATE_X12_BENCH` when set (a path), else an interchange of purchase
//! orders generated here with the crate's writer, so the bench needs nothing outside the repo.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use edigate::x12::envelope::{self, Sink};
use edigate::x12::grammar::Grammars;
use edigate::x12::lexer::Delimiters;
use edigate::x12::offload::Parallel;
use edigate::x12::reader::{Item, SegmentReader};
use edigate::x12::validate::Leniency;
use edigate::x12::writer::{InterchangeHeader, InterchangeWriter, SegmentWriter};

/// Drops every result: measures the checking, not the reporting.
struct NoOp;
impl Sink for NoOp {
    fn wants_segments(&self) -> bool {
        false
    }
}

/// About `target` bytes of 850s (one group), each with a header, parties and 20 line items.
fn generate(target: usize) -> Vec<u8> {
    let header = InterchangeHeader {
        sender_qualifier: "ZZ".into(),
        sender_id: "HOSPBUYER001".into(),
        receiver_qualifier: "ZZ".into(),
        receiver_id: "MEDSUPPLY002".into(),
        date: "240102".into(),
        time: "0830".into(),
        version: "00401".into(),
        control_number: 4010,
        ack_requested: false,
        usage: "P".into(),
    };
    let d = Delimiters {
        element: b'*',
        component: b'>',
        repetition: None,
        segment: b'~',
    };
    let mut w = InterchangeWriter::begin(
        Vec::with_capacity(target + 4096),
        &header,
        SegmentWriter::new(d),
    )
    .expect("ISA");
    w.begin_group(
        ["PO", "HOSPBUYER001", "MEDSUPPLY002", "20240102", "0830"],
        1,
        "004010",
    )
    .expect("GS");
    let mut n = 0u32;
    let mut written = 0usize;
    while written < target {
        n += 1;
        let ctl = format!("{:04}", n % 10000);
        let po = format!("PO{n:08}");
        w.begin_set("850", &ctl, None).expect("ST");
        w.simple("BEG", &["00", "SA", &po, "", "20240102"])
            .expect("BEG");
        w.simple("REF", &["DP", "759", "MATERIALS MANAGEMENT"])
            .expect("REF");
        w.simple("DTM", &["002", "20240114"]).expect("DTM");
        w.simple("N1", &["BY", "ST MARY MEDICAL CENTER", "92", "456287"])
            .expect("N1");
        w.simple("N3", &["6309 MEDICAL PKWY"]).expect("N3");
        w.simple("N4", &["SPRINGFIELD", "IL", "62701", "US"])
            .expect("N4");
        for line in 1..=20 {
            let l = line.to_string();
            w.simple(
                "PO1",
                &[
                    &l,
                    "24",
                    "CA",
                    "42.10",
                    "PE",
                    "VC",
                    "B84115",
                    "N4",
                    "20796-1035-96",
                ],
            )
            .expect("PO1");
            w.simple(
                "PID",
                &["F", "", "", "", "GAUZE SPONGE 4X4 12PLY STERILE 25/TRAY"],
            )
            .expect("PID");
        }
        w.simple("CTT", &["20"]).expect("CTT");
        w.end_set().expect("SE");
        written += 2000;
    }
    w.finish().expect("IEA")
}

fn input() -> Vec<u8> {
    if let Ok(path) = std::env::var("EDIGATE_X12_BENCH") {
        if let Ok(bytes) = std::fs::read(&path) {
            return bytes;
        }
    }
    generate(16 * 1024 * 1024)
}

fn bench(c: &mut Criterion) {
    let bytes = input();
    let grammars = Grammars::embedded().expect("grammars");
    let mut g = c.benchmark_group("x12");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.sample_size(10);
    g.bench_function("lex", |b| {
        b.iter(|| {
            let mut r = SegmentReader::new(&bytes[..]);
            let mut n = 0u64;
            while let Ok(Some(item)) = r.next_item() {
                if let Item::Segment(s) = item {
                    n += s.raw.len() as u64;
                }
            }
            black_box(n)
        })
    });
    g.bench_function("check_one_thread", |b| {
        b.iter(|| {
            let (_, summary) = envelope::check_with(
                &bytes[..],
                &grammars,
                Leniency::default(),
                NoOp,
                Parallel::OFF,
            )
            .expect("check");
            black_box(summary.sets)
        })
    });
    // What `edigate validate` does: set walks on the other cores.
    g.bench_function("check", |b| {
        b.iter(|| {
            let (_, summary) =
                envelope::check(&bytes[..], &grammars, Leniency::default(), NoOp).expect("check");
            black_box(summary.sets)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
