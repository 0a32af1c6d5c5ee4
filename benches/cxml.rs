//! cXML decoder throughput: an OrderRequest with 1,000 ItemOut lines, decoded (and decoded +
//! checked), reported in bytes/s and documents/s.

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use edigate::cxml::{check, decode, decode_fast, Limits};

fn order_with_lines(lines: usize) -> String {
    let mut s = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE cXML SYSTEM "http://xml.cxml.org/schemas/cXML/1.2.063/cXML.dtd">
<cXML payloadID="bench-1@hospital.example" timestamp="2024-01-15T10:20:30-05:00" version="1.2.063" xml:lang="en-US">
  <Header>
    <From><Credential domain="NetworkID"><Identity>HOSP-01</Identity></Credential></From>
    <To><Credential domain="DUNS"><Identity>123456789</Identity></Credential></To>
    <Sender><Credential domain="NetworkID"><Identity>HOSP-01</Identity><SharedSecret>secret</SharedSecret></Credential><UserAgent>bench</UserAgent></Sender>
  </Header>
  <Request deploymentMode="production">
    <OrderRequest>
      <OrderRequestHeader orderID="PO-4711" orderDate="2024-01-15T10:20:30-05:00" type="new">
        <Total><Money currency="USD">123456.78</Money></Total>
        <ShipTo><Address addressID="0614141000036" isoCountryCode="US"><Name xml:lang="en">Central Hospital Dock 3</Name>
          <PostalAddress><DeliverTo>Receiving</DeliverTo><Street>1 Main St</Street><City>Springfield</City><State>IL</State><PostalCode>62701</PostalCode><Country isoCountryCode="US">United States</Country></PostalAddress></Address></ShipTo>
        <BillTo><Address addressID="0614141000012"><Name xml:lang="en">Accounts Payable</Name></Address></BillTo>
      </OrderRequestHeader>
"#,
    );
    for i in 1..=lines {
        let _ = write!(
            s,
            r#"      <ItemOut quantity="{q}" lineNumber="{i}" requestedDeliveryDate="2024-02-01">
        <ItemID><SupplierPartID>SP-{i:06}</SupplierPartID><SupplierPartAuxiliaryID>AUX &amp; {i}</SupplierPartAuxiliaryID><BuyerPartID>BP-{i:06}</BuyerPartID></ItemID>
        <ItemDetail>
          <UnitPrice><Money currency="USD">{p}.25</Money></UnitPrice>
          <Description xml:lang="en">Sterile nitrile examination gloves, size M, box of 100 (line {i})</Description>
          <UnitOfMeasure>BX</UnitOfMeasure>
          <Classification domain="UNSPSC">42132203</Classification>
          <ManufacturerPartID>MFR-{i}</ManufacturerPartID>
          <ManufacturerName>Example Medical</ManufacturerName>
        </ItemDetail>
      </ItemOut>
"#,
            q = i % 50 + 1,
            p = i % 90 + 10,
        );
    }
    s.push_str("    </OrderRequest>\n  </Request>\n</cXML>\n");
    s
}

fn bench(c: &mut Criterion) {
    let doc = order_with_lines(1_000);
    let bytes = doc.as_bytes();
    let limits = Limits::default();
    // The benchmark input must itself be a valid order, or we would time the error path.
    if let Ok(d) = decode(bytes, &limits) {
        assert!(check(&d, None).accepted(), "benchmark order is not valid");
    }
    // And an order the fast decoder reads itself, or we would time the reference decoder.
    assert!(
        decode_fast(bytes, &limits).is_some(),
        "the fast decoder hands the benchmark order to the reference decoder"
    );

    cpu_time_report(bytes, &limits);

    let mut group = c.benchmark_group("cxml_order_1000_lines");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| decode(black_box(bytes), &limits).map(|d| d.root.children.len()))
    });
    group.bench_function("decode_and_check", |b| {
        b.iter(|| decode(black_box(bytes), &limits).map(|d| check(&d, None).problems.len()))
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode_documents", |b| {
        b.iter(|| decode(black_box(bytes), &limits).map(|d| d.root.children.len()))
    });
    group.finish();
}

/// Nanoseconds this thread has spent on a CPU (Linux `schedstat`), if readable.
fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// Criterion reports wall-clock throughput, which on a shared, loaded machine mostly measures
/// the other tenants. Print the on-CPU throughput too, so the figure means something.
fn cpu_time_report(bytes: &[u8], limits: &Limits) {
    let runs = 50u32;
    let (Some(cpu_start), wall_start) = (thread_cpu_ns(), std::time::Instant::now()) else {
        return;
    };
    for _ in 0..runs {
        let _ = black_box(decode(black_box(bytes), limits).map(|d| d.root.children.len()));
    }
    let (Some(cpu_end), wall) = (thread_cpu_ns(), wall_start.elapsed()) else {
        return;
    };
    let cpu_secs = (cpu_end.saturating_sub(cpu_start)) as f64 / 1e9;
    let mb = bytes.len() as f64 * f64::from(runs) / 1e6;
    eprintln!(
        "decode, {} bytes x {runs}: {:.1} MB/s on-CPU ({:.0} docs/s), {:.1} MB/s wall-clock",
        bytes.len(),
        mb / cpu_secs,
        f64::from(runs) / cpu_secs,
        mb / wall.as_secs_f64(),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
