//! Sustained ingest through the whole pipeline with durability on: 10,000 small 850
//! interchanges dropped in a folder, received (group commit per batch), validated, acked
//! (control numbers allocated in the outbox), mapped and stored. Reports documents/s and MB/s.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use edigate::channels::folder::{poll_once, Watch};
use edigate::cli::serve::open_gateway;
use edigate::config::Config;
use edigate::map::MapSet;
use edigate::x12::grammar::Grammars;

/// Full size under `cargo bench`; a smoke run under `cargo test --all-targets`.
/// `EDIGATE_PIPELINE_N` overrides both (profiling under callgrind wants a smaller run).
fn n() -> usize {
    if let Some(n) = std::env::var("EDIGATE_PIPELINE_N")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        n
    } else if std::env::args().any(|a| a == "--bench") {
        10_000
    } else {
        200
    }
}

fn interchange(i: usize) -> String {
    let ctl = i + 1;
    format!(
        "ISA*00*          *00*          *ZZ*BENCHSUPPLIER  *ZZ*HOSPITAL       *240115*1200*U*00401*{ctl:09}*0*P*>~\nGS*PO*BENCHSUPPLIER*HOSPITAL*20240115*1200*{ctl}*X*004010~\nST*850*0001~\nBEG*00*SA*PO{i:08}**20240115~\nN1*BY*GENERAL HOSPITAL*92*1001~\nPO1*1*10*BX*12.5**VP*CATH-2040~\nPO1*2*4*EA*99.99**VP*GLOVE-M~\nCTT*2~\nSE*7*0001~\nGE*1*{ctl}~\nIEA*1*{ctl:09}~\n"
    )
}

fn ingest(n: usize) -> (Duration, u64) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cfg = Config::under(&tmp.path().join("var"));
    cfg.settle_ms = 0;
    cfg.batch = 500;
    let grammars = Grammars::embedded().expect("grammars");
    let maps = MapSet::embedded(&grammars).expect("maps");
    let gw = open_gateway(cfg, grammars, maps).expect("gateway");
    let mut bytes = 0u64;
    for i in 0..n {
        let text = interchange(i);
        bytes += text.len() as u64;
        std::fs::write(gw.config.in_dir.join(format!("f{i:06}.x12")), text).expect("write");
    }
    let mut watch = Watch::default();
    let start = Instant::now();
    let mut done = 0;
    // With `settle_ms = 0` a poll takes every file it finds; the loop covers a poll that
    // returns before all of them are done.
    while done < n {
        done += poll_once(&gw, &mut watch).expect("poll");
    }
    (start.elapsed(), bytes)
}

fn bench(c: &mut Criterion) {
    // `EDIGATE_PIPELINE_ONCE=1`: one timed run without criterion's sampling (for profiles).
    if std::env::var_os("EDIGATE_PIPELINE_ONCE").is_some() {
        report(n());
        return;
    }
    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(30));
    let (_, bytes) = ingest(10);
    let big = n();
    g.throughput(Throughput::Elements(big as u64));
    g.bench_function("ingest_small_850", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += ingest(big).0;
            }
            total
        })
    });
    g.finish();
    let _ = bytes;
    report(big);
}

/// One run reported as MB/s and documents/s for the README.
fn report(big: usize) {
    let (t, bytes) = ingest(big);
    println!(
        "pipeline ingest: {big} interchanges, {:.1} MB in {:.2}s = {:.0} documents/s, {:.2} MB/s",
        bytes as f64 / 1e6,
        t.as_secs_f64(),
        big as f64 / t.as_secs_f64(),
        bytes as f64 / 1e6 / t.as_secs_f64()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
