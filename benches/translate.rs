//! Translate throughput: a generated file of 850 purchase orders (one interchange, one group)
//! validated, held set by set, mapped and typed into canonical JSON. Reports MB/s (and
//! documents/s via the printed summary). Size: 100 MB under `cargo bench`, small under
//! `cargo test --all-targets`. For profiling (callgrind), `EDIGATE_TRANSLATE_MB=5` sets the size
//! and `EDIGATE_TRANSLATE_ONCE=1` runs it once without the criterion samples.

use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use edigate::map::docs::translate_x12_json;
use edigate::map::MapSet;
use edigate::x12::grammar::Grammars;

fn generate(target: usize) -> (Vec<u8>, usize) {
    let mut body = String::with_capacity(target + 4096);
    let mut sets = 0;
    while body.len() < target {
        sets += 1;
        let mut segs = vec![
            format!("ST*850*{sets:04}"),
            format!("BEG*00*SA*PO{sets:09}**20240115"),
            "REF*DP*ICU-04".to_string(),
            "DTM*002*20240201".to_string(),
            "N1*BY*GENERAL HOSPITAL*92*1001".to_string(),
            "N1*ST*CENTRAL STORES*UL*0614141000012".to_string(),
            "N3*1 HOSPITAL WAY".to_string(),
            "N4*SPRINGFIELD*IL*62701*US".to_string(),
        ];
        for l in 1..=8 {
            segs.push(format!(
                "PO1*{l}*{}*BX*{}.25**VP*CATH-{l:04}*BP*{:06}",
                l * 3,
                l * 7,
                sets * 10 + l
            ));
            segs.push("PID*F****STERILE CATHETER 14FR LATEX FREE".to_string());
        }
        segs.push("CTT*8".to_string());
        let n = segs.len() + 1;
        for s in segs {
            body.push_str(&s);
            body.push_str("~\n");
        }
        body.push_str(&format!("SE*{n}*{sets:04}~\n"));
    }
    let text = format!(
        "ISA*00*          *00*          *ZZ*BENCHSUPPLIER  *ZZ*HOSPITAL       *240115*1200*U*00401*000000001*0*P*>~\nGS*PO*BENCHSUPPLIER*HOSPITAL*20240115*1200*1*X*004010~\n{body}GE*{sets}*1~\nIEA*1*000000001~\n"
    );
    (text.into_bytes(), sets)
}

fn bench(c: &mut Criterion) {
    let full = std::env::args().any(|a| a == "--bench");
    let size = std::env::var("EDIGATE_TRANSLATE_MB")
        .ok()
        .and_then(|m| m.parse::<usize>().ok())
        .map(|m| m * 1_000_000);
    let once = std::env::var_os("EDIGATE_TRANSLATE_ONCE").is_some();
    let (input, sets) = generate(size.unwrap_or(if full { 100_000_000 } else { 200_000 }));
    let grammars = Grammars::embedded().expect("grammars");
    let maps = MapSet::embedded(&grammars).expect("maps");
    let run = || {
        // The JSON lines `edigate translate` prints, collected as it would write them.
        let mut docs = 0usize;
        let mut out: Vec<u8> = Vec::with_capacity(1 << 20);
        translate_x12_json(&input[..], &grammars, &maps, None, |r| {
            if let Ok(line) = r {
                docs += 1;
                out.clear();
                out.extend_from_slice(line.as_bytes());
                out.push(b'\n');
            }
        })
        .expect("translate");
        docs
    };
    let t = Instant::now();
    let docs = run();
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(docs, sets, "every generated order translates");
    println!(
        "translate: {:.1} MB, {sets} orders in {secs:.2}s = {:.1} MB/s, {:.0} documents/s",
        input.len() as f64 / 1e6,
        input.len() as f64 / 1e6 / secs,
        docs as f64 / secs
    );
    if once {
        return;
    }
    let mut g = c.benchmark_group("translate");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.bench_function("x12_850", |b| b.iter(run));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
