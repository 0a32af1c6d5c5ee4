//! Integration tests for `edigate::store`: the durable store seen through its `Store` trait.
//! Owns nothing else; each test opens its own store in a temp directory.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use edigate::store::*;
use sha2::{Digest, Sha256};

mod common;
use common::all_pages;

// ------------------------------------------------------------------------------------------
// helpers

/// A store that keeps payloads up to 1 KiB inline in sled.
fn open_inline_1k(dir: &Path) -> SledStore {
    let mut cfg = StoreConfig::new(dir);
    cfg.inline_payload_max = 1024;
    SledStore::open_with(cfg).expect("open")
}

fn temp_store() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::open(dir.path()).expect("open store");
    (dir, store)
}

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .expect("valid time")
}

fn meta(channel: &str, received_at: DateTime<Utc>) -> InboxMeta {
    InboxMeta {
        channel: channel.into(),
        partner_hint: Some("ACME".into()),
        source_name: Some("po_0001.x12".into()),
        received_at,
        attributes: BTreeMap::new(),
    }
}

fn payload_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let base = dir.join("payloads");
    for day in std::fs::read_dir(base).expect("payload dir").flatten() {
        for f in std::fs::read_dir(day.path()).expect("day dir").flatten() {
            out.push(f.path());
        }
    }
    out
}

fn doc_meta(partner: &str, kind: &str, key: &str, pos: &[&str], t: DateTime<Utc>) -> DocumentMeta {
    DocumentMeta {
        partner: partner.into(),
        kind: kind.into(),
        po_numbers: pos.iter().map(|s| s.to_string()).collect(),
        business_key: key.into(),
        inbox_id: None,
        created_at: t,
    }
}

/// An audit event by the flow, naming at most a document.
fn flow_event(at: DateTime<Utc>, action: &str, document_id: Option<DocumentId>) -> AuditEvent {
    AuditEvent {
        at,
        actor: "flow".into(),
        action: action.into(),
        inbox_id: None,
        document_id,
        outbox_id: None,
        detail: String::new(),
    }
}

/// The actions of a document's audit trail, in order.
fn audit_actions(store: &SledStore, doc: DocumentId) -> Vec<String> {
    store
        .audit_for_document(doc)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

fn outbound(key: &str, due: DateTime<Utc>, payload: Vec<u8>) -> NewOutbound {
    NewOutbound {
        idempotency_key: key.into(),
        partner: "ACME".into(),
        destination: "sftp-acme".into(),
        kind: "997".into(),
        document_id: None,
        inbox_id: None,
        due,
        payload,
    }
}

/// Renders a stand-in interchange header carrying the allocated numbers, the way the ack
/// renderer will: a pure function of its inputs.
fn render_997(key: String, n: ControlNumbers) -> NewOutbound {
    outbound(
        &key,
        at(2026, 1, 1, 0),
        format!(
            "ISA*00*...*{:09}*0*P*>~GS*FA*HOSP*ACME*20260101*0000*{}*X*004010~",
            n.isa13, n.gs06
        )
        .into_bytes(),
    )
}

/// Enqueues an item's stand-in 997 to ACME inside a unit of work, tied to the item as the
/// pipeline ties its acks, under the outbox id made ahead when one is given.
fn enqueue_item_ack(
    tx: &dyn StoreTx,
    key: &str,
    id: InboxId,
    oid: Option<OutboxId>,
) -> Result<Enqueued> {
    tx.enqueue_outbound(
        Some("ACME"),
        &|n| {
            let mut o = render_997(format!("ack/{key}"), n);
            o.inbox_id = Some(id);
            Ok(o)
        },
        oid,
    )
}

/// Generates `len` deterministic bytes without ever holding them: the 50 MB payload test
/// proves the store streams because the source cannot hand over more than one buffer.
struct Generated {
    left: u64,
    state: u64,
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        for b in &mut buf[..n] {
            self.state = self.state.wrapping_mul(6364136223846793005).wrapping_add(1);
            *b = (self.state >> 56) as u8;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

// ------------------------------------------------------------------------------------------
// receive

#[test]
fn same_receive_key_twice_gives_same_inbox_id_and_one_payload_file() {
    let (dir, store) = temp_store();
    let key = "sftp:acme:/out/po_0001.x12:812:1764000000:abcd";
    let (id1, r1) = store
        .receive(
            key,
            meta("sftp-acme", at(2026, 3, 1, 9)),
            &mut &b"ISA*00*first"[..],
        )
        .unwrap();
    // The redelivery carries the same key (and here even different bytes, which must not
    // be read: the first copy is the record).
    let (id2, r2) = store
        .receive(
            key,
            meta("sftp-acme", at(2026, 3, 1, 10)),
            &mut &b"ISA*00*again"[..],
        )
        .unwrap();
    assert_eq!(r1, Receipt::Fresh);
    assert_eq!(r2, Receipt::AlreadyHad);
    assert_eq!(id1, id2);
    assert_eq!(payload_files(dir.path()).len(), 1);

    let mut body = String::new();
    store
        .open_payload(id1)
        .unwrap()
        .read_to_string(&mut body)
        .unwrap();
    assert_eq!(body, "ISA*00*first");

    // And after a restart.
    store.flush().unwrap();
    drop(store);
    let store = SledStore::open(dir.path()).unwrap();
    let (id3, r3) = store
        .receive(key, meta("sftp-acme", at(2026, 3, 2, 9)), &mut &b"x"[..])
        .unwrap();
    assert_eq!((id3, r3), (id1, Receipt::AlreadyHad));
    assert_eq!(payload_files(dir.path()).len(), 1);
    let entry = store.inbox_get(id1).unwrap().unwrap();
    assert_eq!(entry.stage, Stage::Received);
    assert_eq!(entry.receive_key, key);
}

#[test]
fn fifty_megabyte_payload_is_streamed_to_disk_with_its_hash() {
    let (dir, store) = temp_store();
    let len = 50 * 1024 * 1024;
    let mut expected = Sha256::new();
    let mut gen = Generated {
        left: len,
        state: 7,
    };
    std::io::copy(&mut gen, &mut HashWriter(&mut expected)).unwrap();
    let expected = hex::encode(expected.finalize());

    let mut src = Generated {
        left: len,
        state: 7,
    };
    let (id, _) = store
        .receive("as2:big", meta("as2", at(2026, 3, 1, 9)), &mut src)
        .unwrap();
    let entry = store.inbox_get(id).unwrap().unwrap();
    assert_eq!(entry.payload.size, len);
    assert_eq!(entry.payload.sha256, expected);

    let files = payload_files(dir.path());
    assert_eq!(files.len(), 1);
    assert_eq!(std::fs::metadata(&files[0]).unwrap().len(), len);
    let mut on_disk = Sha256::new();
    std::io::copy(
        &mut store.open_payload(id).unwrap(),
        &mut HashWriter(&mut on_disk),
    )
    .unwrap();
    assert_eq!(hex::encode(on_disk.finalize()), expected);
}

struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.update(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn small_payloads_can_live_inline_and_large_ones_still_go_to_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_inline_1k(dir.path());
    let small = b"ISA*00*small".to_vec();
    let (a, _) = store
        .receive(
            "k:small",
            meta("drop", at(2026, 3, 1, 9)),
            &mut small.as_slice(),
        )
        .unwrap();
    assert!(payload_files(dir.path()).is_empty());
    let entry = store.inbox_get(a).unwrap().unwrap();
    assert_eq!(entry.payload.file, None);
    assert_eq!(entry.payload.sha256, hex::encode(Sha256::digest(&small)));
    let mut back = Vec::new();
    store
        .open_payload(a)
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, small);

    // One byte over the limit: the head already read is chained back in front of the rest.
    let mut src = Generated {
        left: 1025,
        state: 3,
    };
    let mut expected = Vec::new();
    Generated {
        left: 1025,
        state: 3,
    }
    .read_to_end(&mut expected)
    .unwrap();
    let (b, _) = store
        .receive("k:big", meta("drop", at(2026, 3, 1, 9)), &mut src)
        .unwrap();
    let entry = store.inbox_get(b).unwrap().unwrap();
    assert!(entry.payload.file.is_some());
    assert_eq!(entry.payload.sha256, hex::encode(Sha256::digest(&expected)));
    let mut back = Vec::new();
    store
        .open_payload(b)
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, expected);

    // Inline payloads are part of the backup and go with purge.
    store.set_stage(a, Stage::Done, "flow").unwrap();
    let copy_dir = dir.path().join("backup");
    store.backup(&copy_dir).unwrap();
    let copy = SledStore::open(&copy_dir).unwrap();
    let mut back = Vec::new();
    copy.open_payload(a)
        .unwrap()
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(back, small);
    assert_eq!(store.purge(at(2027, 1, 1, 0)).unwrap().inbox_entries, 1);
    assert!(store.open_payload(a).is_err());
}

#[test]
fn concurrent_receives_of_one_key_store_one_entry_and_one_file() {
    let (dir, store) = temp_store();
    // Through the trait object, as the pipeline will hold it.
    let store: Arc<dyn Store> = Arc::new(store);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                store
                    .receive(
                        "imap:uidvalidity=7:uid=42",
                        meta("email", at(2026, 3, 1, 9)),
                        &mut &b"ISA*00"[..],
                    )
                    .unwrap()
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(results.iter().all(|(id, _)| *id == results[0].0));
    assert_eq!(
        results.iter().filter(|(_, r)| *r == Receipt::Fresh).count(),
        1
    );
    assert_eq!(payload_files(dir.path()).len(), 1);
}

#[test]
fn a_failing_payload_stream_stores_nothing() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("connection reset"))
        }
    }
    let (dir, store) = temp_store();
    let err = store
        .receive("as2:broken", meta("as2", at(2026, 3, 1, 9)), &mut Broken)
        .unwrap_err();
    assert!(matches!(err, StoreError::PayloadStream(_)), "{err}");
    assert!(payload_files(dir.path()).is_empty());
    // The key is still free: the sender's retry is received normally.
    let (_, r) = store
        .receive(
            "as2:broken",
            meta("as2", at(2026, 3, 1, 9)),
            &mut &b"ok"[..],
        )
        .unwrap();
    assert_eq!(r, Receipt::Fresh);
}

// ------------------------------------------------------------------------------------------
// stages, replay, duplicates

#[test]
fn stages_are_idempotent_and_pending_items_resume_after_restart() {
    let (dir, store) = temp_store();
    let mut ids = Vec::new();
    for i in 0..4 {
        let (id, _) = store
            .receive(
                &format!("drop:{i}"),
                meta("drop", at(2026, 3, 1, i)),
                &mut &b"ISA"[..],
            )
            .unwrap();
        ids.push(id);
    }
    assert_eq!(
        store.set_stage(ids[0], Stage::Checked, "check").unwrap(),
        StageChange::Changed {
            from: Stage::Received
        }
    );
    assert_eq!(
        store.set_stage(ids[0], Stage::Checked, "check").unwrap(),
        StageChange::Unchanged
    );
    store.set_stage(ids[1], Stage::Done, "flow").unwrap();
    store
        .set_stage(
            ids[2],
            Stage::Exception {
                reason: "ISA13 mismatch with IEA02".into(),
            },
            "decode",
        )
        .unwrap();
    store.set_stage(ids[3], Stage::Duplicate, "decode").unwrap();
    store.flush().unwrap();
    drop(store);

    let store = SledStore::open(dir.path()).unwrap();
    let pending: Vec<_> = store
        .list_pending(10)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(pending, vec![ids[0]]);
    let exceptions = store.list_exceptions(10).unwrap();
    assert_eq!(exceptions.len(), 1);
    assert_eq!(exceptions[0].id, ids[2]);

    store
        .mark_replay(ids[2], Stage::Received, "operator:kim")
        .unwrap();
    let pending: Vec<_> = store
        .list_pending(10)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(pending, vec![ids[0], ids[2]], "oldest first");
    assert!(store.list_exceptions(10).unwrap().is_empty());
    assert_eq!(store.inbox_get(ids[2]).unwrap().unwrap().replays, 1);
    assert!(store
        .mark_replay(ids[2], Stage::Done, "operator:kim")
        .is_err());

    let trail: Vec<_> = store
        .audit_for_inbox(ids[2])
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(trail, ["inbox.received", "inbox.stage", "inbox.replay"]);
    assert!(matches!(
        store.set_stage(InboxId::from_slice(&[9; 16]).unwrap(), Stage::Done, "x"),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn duplicate_keys_are_remembered_within_the_window_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StoreConfig::new(dir.path());
    cfg.seen_window = chrono::Duration::days(30);
    let store = SledStore::open_with(cfg).unwrap();
    let key = "x12:ACME:ISA13:000000123";
    let owner = SeenOwner {
        inbox_id: Some(InboxId::from_slice(&[1; 16]).unwrap()),
        document_id: None,
    };
    let t0 = at(2026, 3, 1, 0);
    assert_eq!(
        store.check_seen(key, owner.clone(), t0).unwrap(),
        SeenOutcome::First
    );
    match store
        .check_seen(key, SeenOwner::default(), t0 + chrono::Duration::days(29))
        .unwrap()
    {
        SeenOutcome::Duplicate(first) => {
            assert_eq!(first.first_seen, t0);
            assert_eq!(first.owner, owner);
        }
        other => panic!("expected duplicate, got {other:?}"),
    }
    assert_eq!(
        store
            .check_seen(key, SeenOwner::default(), t0 + chrono::Duration::days(31))
            .unwrap(),
        SeenOutcome::First
    );
}

// ------------------------------------------------------------------------------------------
// control numbers

#[test]
fn control_numbers_are_allocated_with_the_record_gap_free_and_idempotent() {
    let (_dir, store) = temp_store();
    for i in 1..=200u64 {
        let e = store
            .enqueue_outbound("ACME", &|n| Ok(render_997(format!("997:{i}"), n)))
            .unwrap();
        assert!(e.fresh);
        assert_eq!(
            e.control_numbers,
            Some(ControlNumbers { isa13: i, gs06: i })
        );
        let rec = store.outbox_get(e.id).unwrap().unwrap();
        let text = String::from_utf8(rec.payload).unwrap();
        assert!(
            text.contains(&format!("*{i:09}*")),
            "payload carries its ISA13: {text}"
        );
    }
    // Same idempotency key: nothing allocated, the first numbers come back.
    let again = store
        .enqueue_outbound("ACME", &|n| Ok(render_997("997:7".into(), n)))
        .unwrap();
    assert!(!again.fresh);
    assert_eq!(
        again.control_numbers,
        Some(ControlNumbers { isa13: 7, gs06: 7 })
    );
    assert_eq!(
        store.control_numbers("ACME").unwrap(),
        Some(ControlNumbers {
            isa13: 200,
            gs06: 200
        })
    );
    // Partners count independently.
    let other = store
        .enqueue_outbound("MEDLINE", &|n| Ok(render_997("997:m1".into(), n)))
        .unwrap();
    assert_eq!(
        other.control_numbers,
        Some(ControlNumbers { isa13: 1, gs06: 1 })
    );
    // A build failure allocates nothing.
    let err = store
        .enqueue_outbound("ACME", &|_| Err("template missing".into()))
        .unwrap_err();
    assert!(matches!(err, StoreError::Build(_)));
    let next = store
        .enqueue_outbound("ACME", &|n| Ok(render_997("997:201".into(), n)))
        .unwrap();
    assert_eq!(next.control_numbers.unwrap().isa13, 201);
}

#[test]
fn control_numbers_stay_unique_and_gap_free_across_threads() {
    let (_dir, store) = temp_store();
    let store = Arc::new(store);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                (0..150)
                    .map(|i| {
                        store
                            .enqueue_outbound("ACME", &|n| {
                                Ok(render_997(format!("997:{t}:{i}"), n))
                            })
                            .unwrap()
                            .control_numbers
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut isa: Vec<u64> = Vec::new();
    let mut gs: Vec<u64> = Vec::new();
    for t in threads {
        for n in t.join().unwrap() {
            isa.push(n.isa13);
            gs.push(n.gs06);
        }
    }
    isa.sort_unstable();
    gs.sort_unstable();
    assert_eq!(isa, (1..=600).collect::<Vec<_>>());
    assert_eq!(gs, (1..=600).collect::<Vec<_>>());
    // What is stored agrees with what was handed out.
    let mut stored: Vec<u64> = store
        .due(at(2100, 1, 1, 0), usize::MAX)
        .unwrap()
        .iter()
        .map(|r| r.control_numbers.unwrap().isa13)
        .collect();
    stored.sort_unstable();
    assert_eq!(stored, isa);
}

const CRASH_CHILD_ENV: &str = "EDIGATE_STORE_CRASH_CHILD_DIR";
const CRASH_ROUND_ENV: &str = "EDIGATE_STORE_CRASH_ROUND";
const CRASH_TEST: &str = "control_numbers_have_no_gaps_or_repeats_after_sigkill";

/// Child mode: allocate in a loop, flushing every 25 and reporting the last flushed number,
/// until the parent kills us (or a safety deadline passes, so no child outlives a lost parent).
fn crash_child(dir: &str) {
    let round = std::env::var(CRASH_ROUND_ENV).unwrap_or_default();
    let store = SledStore::open(dir).expect("child opens store");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut i = 0u64;
    while Instant::now() < deadline {
        i += 1;
        let e = store
            .enqueue_outbound("ACME", &|n| Ok(render_997(format!("crash:{round}:{i}"), n)))
            .expect("enqueue");
        if i % 25 == 0 {
            store.flush().expect("flush");
            println!("flushed {}", e.control_numbers.expect("numbers").isa13);
        }
    }
}

/// Runs one child until it has flushed `at_least`, lets it run `delay` more, kills it.
/// Returns the last number it reported as flushed.
fn run_and_kill_child(dir: &Path, round: u32, at_least: u64, delay: Duration) -> u64 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([CRASH_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CRASH_CHILD_ENV, dir)
        .env(CRASH_ROUND_ENV, round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut last_flushed = 0u64;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("flushed ") {
            last_flushed = n.trim().parse().unwrap();
            if last_flushed >= at_least {
                break;
            }
        }
    }
    // Land the kill at an arbitrary point, with unflushed allocations in flight.
    std::thread::sleep(delay);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        last_flushed >= at_least,
        "child stopped early at {last_flushed}"
    );
    last_flushed
}

#[test]
fn control_numbers_have_no_gaps_or_repeats_after_sigkill() {
    if let Ok(dir) = std::env::var(CRASH_CHILD_ENV) {
        crash_child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0u64;
    // Three crashes at different points; allocation resumes after each one.
    for (round, delay_ms) in [(1u32, 7u64), (2, 37), (3, 113)] {
        let last_flushed =
            run_and_kill_child(dir.path(), round, n + 200, Duration::from_millis(delay_ms));

        let store = SledStore::open(dir.path()).unwrap();
        let records = store.due(at(2100, 1, 1, 0), usize::MAX).unwrap();
        let mut isa: Vec<u64> = records
            .iter()
            .map(|r| r.control_numbers.unwrap().isa13)
            .collect();
        let mut gs: Vec<u64> = records
            .iter()
            .map(|r| r.control_numbers.unwrap().gs06)
            .collect();
        isa.sort_unstable();
        gs.sort_unstable();
        n = isa.len() as u64;
        eprintln!("crash round {round}: last flushed {last_flushed}, survived {n}");
        assert!(
            n >= last_flushed,
            "flushed {last_flushed} but only {n} survived"
        );
        assert_eq!(
            isa,
            (1..=n).collect::<Vec<_>>(),
            "ISA13 after crash {round}"
        );
        assert_eq!(gs, (1..=n).collect::<Vec<_>>(), "GS06 after crash {round}");
        assert_eq!(
            store.control_numbers("ACME").unwrap(),
            Some(ControlNumbers { isa13: n, gs06: n })
        );
        for r in &records {
            let isa13 = r.control_numbers.unwrap().isa13;
            assert!(String::from_utf8_lossy(&r.payload).contains(&format!("*{isa13:09}*")));
        }
    }
    // Allocation continues right after the last surviving number.
    let store = SledStore::open(dir.path()).unwrap();
    let e = store
        .enqueue_outbound("ACME", &|c| Ok(render_997("after-crash".into(), c)))
        .unwrap();
    assert_eq!(e.control_numbers.unwrap().isa13, n + 1);
}

// ------------------------------------------------------------------------------------------
// outbox lifecycle

/// Schema 5: a record due in the millisecond its id was made in has no `outbox_index` entry
/// (its outbox key is derived from the id); every way of reading and moving it still finds it.
#[test]
fn an_outbox_record_due_when_its_id_was_made_needs_no_index_entry() {
    let dir = tempfile::tempdir().expect("temp dir");
    let n = 20;
    {
        let store = SledStore::open(dir.path()).unwrap();
        let mut ids = Vec::new();
        for i in 0..n {
            let key = format!("erp:now:{i}");
            let e = store
                .enqueue(outbound(&key, Utc::now(), b"{}".to_vec()))
                .unwrap();
            assert!(e.fresh);
            // The same key again is the same record, found through its derived key.
            let again = store.enqueue(outbound(&key, Utc::now(), vec![])).unwrap();
            assert_eq!((again.id, again.fresh), (e.id, false));
            assert_eq!(store.outbox_get(e.id).unwrap().unwrap().payload, b"{}");
            ids.push(e.id);
        }
        let later = Utc::now() + chrono::Duration::minutes(1);
        store.mark_failed(ids[0], "HTTP 503", later).unwrap();
        assert_eq!(store.outbox_get(ids[0]).unwrap().unwrap().attempts, 1);
        store.mark_delivered(ids[1], Utc::now()).unwrap();
        assert!(matches!(
            store.outbox_get(ids[1]).unwrap().unwrap().state,
            DeliveryState::Delivered { .. }
        ));
        store.dead_letter(ids[2], "gave up", Utc::now()).unwrap();
        store.replay_dead(ids[2], Utc::now(), "operator").unwrap();
        let due = store
            .due(later + chrono::Duration::minutes(1), 100)
            .unwrap();
        assert_eq!(due.len(), n - 1);
        assert!(due.iter().all(|r| r.id != ids[1]));
    }
    // Only the records that moved (and any whose enqueue crossed a millisecond) have one.
    let db = sled::open(dir.path().join("db")).unwrap();
    let index = db.open_tree("outbox_index").unwrap();
    assert!(index.len() < n / 2, "{} index entries", index.len());
}

/// An ack as the pipeline makes it: the record names the inbox item it answers.
fn item_ack(item: InboxId, key: &str, n: ControlNumbers) -> NewOutbound {
    NewOutbound {
        inbox_id: Some(item),
        due: Utc::now(),
        ..render_997(key.into(), n)
    }
}

/// Schema 6: the record an inbox item enqueues is found again by an id made from the item and
/// its key, so no `outbox_keys` entry is written; the same key under another item is another
/// record, and a record due later still gets its index entry.
#[test]
fn an_items_outbox_record_is_found_by_its_id_without_a_key_entry() {
    let dir = tempfile::tempdir().expect("temp dir");
    let item: InboxId = "0000019c16ad8a400102030405060708".parse().unwrap();
    let other: InboxId = "0000019c16ad8a400102030405060709".parse().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        let first = store
            .enqueue_outbound("ACME", &|c| Ok(item_ack(item, "fa/1/0", c)))
            .unwrap();
        assert!(first.fresh);
        assert_eq!(
            first.id.time(),
            item.time(),
            "the id carries the item's time"
        );
        // A re-run of the item: the same record, and no numbers are allocated.
        let again = store
            .enqueue_outbound("ACME", &|c| Ok(item_ack(item, "fa/1/0", c)))
            .unwrap();
        assert_eq!(
            (again.id, again.fresh, again.control_numbers),
            (first.id, false, first.control_numbers)
        );
        let isa13 = |e: &Enqueued| e.control_numbers.unwrap().isa13;
        let theirs = store
            .enqueue_outbound("ACME", &|c| Ok(item_ack(other, "fa/1/0", c)))
            .unwrap();
        assert!(theirs.fresh && theirs.id != first.id);
        assert_eq!(isa13(&theirs), isa13(&first) + 1);
        let later = Utc::now() + chrono::Duration::minutes(10);
        let deferred = store
            .enqueue_outbound("ACME", &|c| {
                Ok(NewOutbound {
                    due: later,
                    ..item_ack(item, "fa/1/1", c)
                })
            })
            .unwrap();
        let again = store
            .enqueue_outbound("ACME", &|c| Ok(item_ack(item, "fa/1/1", c)))
            .unwrap();
        assert_eq!((again.id, again.fresh), (deferred.id, false));
        assert_eq!(store.outbox_get(deferred.id).unwrap().unwrap().due, later);
        let mut due_now: Vec<OutboxId> = store
            .due(Utc::now(), 10)
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect();
        due_now.sort();
        let mut expected = vec![first.id, theirs.id];
        expected.sort();
        assert_eq!(due_now, expected);
        // Delivered, it is still the same record for a re-run.
        store.mark_delivered(first.id, Utc::now()).unwrap();
        let again = store
            .enqueue_outbound("ACME", &|c| Ok(item_ack(item, "fa/1/0", c)))
            .unwrap();
        assert_eq!((again.id, again.fresh), (first.id, false));
    }
    let db = raw_db(dir.path());
    assert_eq!(db.open_tree("outbox_keys").unwrap().len(), 0);
    // Only the deferred and the delivered record have index entries.
    assert_eq!(db.open_tree("outbox_index").unwrap().len(), 2);
}

/// An item's record written before schema 6 has an `outbox_keys` entry and an id of its own;
/// enqueuing the same key again finds it there.
#[test]
fn an_items_outbox_record_from_schema_5_is_found_through_its_key_entry() {
    let dir = tempfile::tempdir().unwrap();
    drop(SledStore::open(dir.path()).unwrap());
    let t = at(2026, 2, 1, 9);
    let item: InboxId = "0000019c16ad8a400102030405060708".parse().unwrap();
    let out_id: OutboxId = "0000019c16ad8a402122232425262728".parse().unwrap();
    let key = "fa/0000019c16ad8a400102030405060708/0";
    let record = OutboxRecord {
        id: out_id,
        idempotency_key: key.into(),
        partner: "ACME".into(),
        destination: "folder:ACME".into(),
        kind: "FA".into(),
        document_id: None,
        inbox_id: Some(item),
        control_numbers: Some(ControlNumbers { isa13: 7, gs06: 7 }),
        created_at: t,
        due: t,
        attempts: 0,
        last_error: None,
        state: DeliveryState::Pending,
        payload: Vec::new(),
    };
    {
        let db = raw_db(dir.path());
        let tree = |n: &str| db.open_tree(n).unwrap();
        mark_schema(&db, 5);
        let derived = [&out_id.as_bytes()[..8], out_id.as_bytes()].concat();
        tree("outbox")
            .insert(&derived, schema_2_value(&record, b"ISA*997"))
            .unwrap();
        // sha256 of the length-prefixed parts "outbox" and the key, as schema 5 hashed them.
        let mut h = Sha256::new();
        for part in [&b"outbox"[..], key.as_bytes()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        tree("outbox_keys")
            .insert(&h.finalize()[..], &out_id.as_bytes()[..])
            .unwrap();
        db.flush().unwrap();
    }
    let store = open_unlocked(StoreConfig::new(dir.path())).unwrap();
    let e = store
        .enqueue_outbound("ACME", &|c| Ok(item_ack(item, key, c)))
        .unwrap();
    assert_eq!(
        (e.id, e.fresh, e.control_numbers),
        (out_id, false, record.control_numbers)
    );
    assert_eq!(
        store.control_numbers("ACME").unwrap(),
        None,
        "nothing allocated"
    );
    // Under schema 6 a key is its item's: another item's enqueue of it is another record.
    let other: InboxId = "0000019c16ad8a400102030405060709".parse().unwrap();
    let theirs = store
        .enqueue_outbound("ACME", &|c| Ok(item_ack(other, key, c)))
        .unwrap();
    assert!(theirs.fresh && theirs.id != out_id);
}

#[test]
fn outbox_due_backoff_dead_letter_and_replay() {
    let (_dir, store) = temp_store();
    // In the future: a record due before its enqueue is due at once, kept in its id's order.
    let t0 = Utc::now() + chrono::Duration::days(1);
    let a = store
        .enqueue(outbound("erp:post:1", t0, b"{\"po\":1}".to_vec()))
        .unwrap();
    let b = store
        .enqueue(outbound(
            "erp:post:2",
            t0 + chrono::Duration::minutes(5),
            b"{}".to_vec(),
        ))
        .unwrap();
    assert_eq!(a.control_numbers, None);
    assert!(
        !store
            .enqueue(outbound("erp:post:1", t0, vec![]))
            .unwrap()
            .fresh
    );

    let due: Vec<_> = store
        .due(t0, 10)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(due, vec![a.id]);

    // Fail twice with backoff; the record moves out of the due window each time.
    let base = chrono::Duration::seconds(30);
    let cap = chrono::Duration::hours(1);
    assert_eq!(backoff(1, base, cap), chrono::Duration::seconds(30));
    assert_eq!(backoff(3, base, cap), chrono::Duration::seconds(120));
    assert_eq!(backoff(40, base, cap), cap);
    let r = store
        .mark_failed(a.id, "HTTP 503", t0 + backoff(1, base, cap))
        .unwrap();
    assert_eq!(r.attempts, 1);
    assert!(store.due(t0, 10).unwrap().is_empty());
    let r = store
        .mark_failed(a.id, "HTTP 503", t0 + backoff(2, base, cap))
        .unwrap();
    assert_eq!((r.attempts, r.last_error.as_deref()), (2, Some("HTTP 503")));
    let later: Vec<_> = store
        .due(t0 + chrono::Duration::minutes(10), 10)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(later, vec![a.id, b.id], "due order");

    store
        .dead_letter(a.id, "gave up after 2 attempts", t0)
        .unwrap();
    store.dead_letter(a.id, "again", t0).unwrap(); // idempotent
    let dead = store.list_dead(10).unwrap();
    assert_eq!(dead.len(), 1);
    assert!(
        matches!(dead[0].state, DeliveryState::Dead { ref reason, .. } if reason == "gave up after 2 attempts")
    );
    assert!(matches!(
        store.mark_delivered(a.id, t0),
        Err(StoreError::WrongState { .. })
    ));

    store.replay_dead(a.id, t0, "operator:kim").unwrap();
    let r = store.outbox_get(a.id).unwrap().unwrap();
    assert_eq!((r.attempts, &r.state), (0, &DeliveryState::Pending));
    assert_eq!(r.payload, b"{\"po\":1}");
    assert!(store.list_dead(10).unwrap().is_empty());

    store.mark_delivered(a.id, t0).unwrap();
    store.mark_delivered(a.id, t0).unwrap(); // a retried ack of delivery is harmless
    assert!(matches!(
        store.outbox_get(a.id).unwrap().unwrap().state,
        DeliveryState::Delivered { .. }
    ));
    assert!(
        !store
            .enqueue(outbound("erp:post:1", t0, vec![]))
            .unwrap()
            .fresh,
        "key kept after delivery"
    );
    let history: Vec<_> = store
        .audit_for_outbox(a.id)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        history,
        [
            "outbox.enqueued",
            "outbox.failed",
            "outbox.failed",
            "outbox.dead",
            "outbox.replay",
            "outbox.delivered"
        ]
    );
    let due: Vec<_> = store
        .due(t0 + chrono::Duration::hours(1), 10)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(due, vec![b.id]);
}

// ------------------------------------------------------------------------------------------
// documents

#[test]
fn documents_filter_page_and_lineage() {
    let (_dir, store) = temp_store();
    let mut all = Vec::new();
    for i in 0..25u32 {
        let partner = if i % 2 == 0 { "ACME" } else { "MEDLINE" };
        let kind = if i % 5 == 0 {
            "purchase_order"
        } else {
            "invoice"
        };
        let po = format!("PO{}", i % 3);
        let (id, out) = store
            .put_document_value(
                doc_meta(
                    partner,
                    kind,
                    &format!("K{i}"),
                    &[&po],
                    at(2026, 3, 1, 0) + chrono::Duration::minutes(i.into()),
                ),
                &serde_json::json!({"n": i}),
            )
            .unwrap();
        assert_eq!(out, PutOutcome::Created);
        all.push(id);
    }

    // Page through everything, 10 at a time.
    let all_listed = DocumentFilter {
        limit: 10,
        ..Default::default()
    };
    let seen: Vec<_> = all_pages(&store, all_listed).iter().map(|d| d.id).collect();
    assert_eq!(seen, all);

    // Combined filters, paged by 2.
    let f = |cursor| DocumentFilter {
        partner: Some("ACME".into()),
        kind: Some("invoice".into()),
        since: Some(at(2026, 3, 1, 0) + chrono::Duration::minutes(5)),
        cursor,
        limit: 2,
        ..Default::default()
    };
    let mut got = Vec::new();
    let mut page = store.list_documents(&f(None)).unwrap();
    loop {
        got.extend(
            page.items
                .iter()
                .map(|d| d.json().unwrap()["n"].as_u64().unwrap()),
        );
        match page.next {
            Some(c) => page = store.list_documents(&f(Some(c))).unwrap(),
            None => break,
        }
    }
    assert_eq!(got, vec![6, 8, 12, 14, 16, 18, 22, 24]);

    let by_po = store
        .list_documents(&DocumentFilter {
            po: Some("PO1".into()),
            kind: Some("purchase_order".into()),
            ..Default::default()
        })
        .unwrap();
    let ns: Vec<_> = by_po
        .items
        .iter()
        .map(|d| d.json().unwrap()["n"].as_u64().unwrap())
        .collect();
    assert_eq!(ns, vec![10]);
    assert!(by_po.next.is_none());

    let lineage = store.lineage("PO2").unwrap();
    let expected: Vec<_> = (0..25).filter(|i| i % 3 == 2).map(|i| all[i]).collect();
    assert_eq!(lineage, expected);
}

/// Every page of a listing, `limit` at a time, as `n` numbers from the bodies.
fn list_all(store: &SledStore, filter: DocumentFilter) -> Vec<u64> {
    all_pages(store, filter)
        .iter()
        .map(|d| d.json().unwrap()["n"].as_u64().unwrap())
        .collect()
}

const PARTNERS: [&str; 3] = ["ACME", "ACME2", "MEDLINE"];
const KINDS: [&str; 3] = ["invoice", "order", "purchase_order"];

/// Document `i` of [`put_mixed_documents`]: partner, kind and creation time (not in the
/// order of partner or kind, so a listing has to merge).
fn mixed(i: u64) -> (&'static str, &'static str, DateTime<Utc>) {
    (
        PARTNERS[(i * 7 % 3) as usize],
        KINDS[(i / 2 % 3) as usize],
        at(2026, 3, 1, 0) + chrono::Duration::minutes(i as i64),
    )
}

fn put_mixed_documents(store: &SledStore, range: std::ops::Range<u64>) {
    for i in range {
        let (p, k, t) = mixed(i);
        store
            .put_document_value(
                doc_meta(p, k, &format!("K{i}"), &["PO"], t),
                &serde_json::json!({"n": i}),
            )
            .unwrap();
    }
}

/// Every listing by partner and/or kind (with and without `since`, paged by 1, 4 and one
/// page) against the documents `0..n` filtered by hand.
fn check_mixed_listings(store: &SledStore, n: u64) {
    let since = at(2026, 3, 1, 0) + chrono::Duration::minutes(9);
    for partner in PARTNERS.iter().map(|p| Some(p.to_string())).chain([None]) {
        for kind in KINDS.iter().map(|k| Some(k.to_string())).chain([None]) {
            for since in [None, Some(since)] {
                let expected: Vec<u64> = (0..n)
                    .filter(|&i| {
                        let (p, k, t) = mixed(i);
                        partner.as_deref().is_none_or(|x| x == p)
                            && kind.as_deref().is_none_or(|x| x == k)
                            && since.is_none_or(|s| t >= s)
                    })
                    .collect();
                for limit in [1, 4, 0] {
                    let filter = DocumentFilter {
                        partner: partner.clone(),
                        kind: kind.clone(),
                        since,
                        limit,
                        ..Default::default()
                    };
                    assert_eq!(list_all(store, filter.clone()), expected, "{filter:?}");
                }
            }
        }
    }
}

#[test]
fn documents_are_listed_by_partner_or_kind_in_id_order_across_the_index() {
    let (_dir, store) = temp_store();
    put_mixed_documents(&store, 0..30);
    check_mixed_listings(&store, 30);
    // An unknown partner or kind lists nothing.
    for (p, k) in [
        (Some("NOBODY"), None),
        (None, Some("nothing")),
        (Some("ACME"), Some("x")),
    ] {
        let page = store
            .list_documents(&DocumentFilter {
                partner: p.map(Into::into),
                kind: k.map(Into::into),
                ..Default::default()
            })
            .unwrap();
        assert!(page.items.is_empty() && page.next.is_none());
    }
}

/// Rewrites a store's document index as schema 6 kept it: one `doc_by_partner` and one
/// `doc_by_kind` entry per document instead of a `doc_index` entry (partner, kind, id).
fn index_documents_as_schema_6(dir: &Path) {
    let db = raw_db(dir);
    let tree = |n: &str| db.open_tree(n).unwrap();
    let field = |k: &[u8]| {
        let n = u32::from_be_bytes(k[..4].try_into().unwrap()) as usize;
        (k[..4 + n].to_vec(), k[4 + n..].to_vec())
    };
    for kv in tree("doc_index").iter() {
        let (k, _) = kv.unwrap();
        let (partner, rest) = field(&k);
        let (kind, id) = field(&rest);
        assert_eq!(id.len(), 16);
        tree("doc_by_partner")
            .insert([partner, id.clone()].concat(), &[][..])
            .unwrap();
        tree("doc_by_kind")
            .insert([kind, id].concat(), &[][..])
            .unwrap();
    }
    tree("doc_index").clear().unwrap();
    mark_schema(&db, 6);
    db.flush().unwrap();
}

#[test]
fn a_schema_6_stores_document_indexes_are_read_and_left_behind_by_what_changes() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SledStore::open(dir.path()).unwrap();
        put_mixed_documents(&store, 0..20);
    }
    index_documents_as_schema_6(dir.path());
    // Read-only: listed from the old indexes alone, nothing marked.
    {
        let store = open_unlocked(read_only(dir.path())).unwrap();
        assert_eq!(store.schema_version().unwrap(), 6);
        check_mixed_listings(&store, 20);
    }
    let store = open_unlocked(StoreConfig::new(dir.path())).unwrap();
    assert_eq!(store.schema_version().unwrap(), CURRENT_SCHEMA_VERSION);
    // New documents go to the new index; listings merge both in id order.
    put_mixed_documents(&store, 20..40);
    check_mixed_listings(&store, 40);
    // A replaced old document leaves the old indexes and is listed once, from the new one.
    let (p, k, t) = mixed(3);
    let (id, outcome) = store
        .put_document_value(
            doc_meta(p, k, "K3", &["PO", "PO-NEW"], t),
            &serde_json::json!({"n": 3}),
        )
        .unwrap();
    assert_eq!(outcome, PutOutcome::Replaced);
    assert_eq!(store.lineage("PO-NEW").unwrap(), vec![id]);
    check_mixed_listings(&store, 40);
    drop(store);
    {
        let db = raw_db(dir.path());
        for tree in ["doc_by_partner", "doc_by_kind"] {
            assert_eq!(db.open_tree(tree).unwrap().len(), 19, "{tree}");
        }
    }
    let store = open_unlocked(StoreConfig::new(dir.path())).unwrap();
    // Purge removes old and new index entries alike.
    let report = store
        .purge(at(2026, 3, 1, 0) + chrono::Duration::minutes(30))
        .unwrap();
    assert_eq!(report.documents, 30);
    let left: Vec<u64> = (30..40).collect();
    assert_eq!(list_all(&store, DocumentFilter::default()), left);
    for p in PARTNERS {
        let expected: Vec<u64> = (30..40).filter(|&i| mixed(i).0 == p).collect();
        let filter = DocumentFilter {
            partner: Some(p.into()),
            ..Default::default()
        };
        assert_eq!(list_all(&store, filter), expected);
    }
    store.flush().unwrap();
    drop(store);
    let db = raw_db(dir.path());
    for tree in ["doc_by_partner", "doc_by_kind"] {
        assert_eq!(db.open_tree(tree).unwrap().len(), 0, "{tree}");
    }
    assert_eq!(db.open_tree("doc_index").unwrap().len(), 10);
}

#[test]
fn putting_the_same_business_key_again_replaces_in_place() {
    let (_dir, store) = temp_store();
    let t = at(2026, 3, 1, 0);
    let (id, o1) = store
        .put_document(
            doc_meta("ACME", "invoice", "INV-9", &["PO1"], t),
            br#"{"total":"10.00"}"#,
        )
        .unwrap();
    let (id2, o2) = store
        .put_document(
            doc_meta(
                "ACME",
                "invoice",
                "INV-9",
                &["PO1"],
                t + chrono::Duration::hours(1),
            ),
            br#"{"total":"10.00"}"#,
        )
        .unwrap();
    assert_eq!(
        (id2, o1, o2),
        (id, PutOutcome::Created, PutOutcome::Unchanged)
    );
    // A fixed map re-run: new body, PO corrected.
    let (id3, o3) = store
        .put_document(
            doc_meta("ACME", "invoice", "INV-9", &["PO2"], t),
            br#"{"total":"12.00"}"#,
        )
        .unwrap();
    assert_eq!((id3, o3), (id, PutOutcome::Replaced));
    let doc = store.get_document(id).unwrap().unwrap();
    assert_eq!(doc.version, 2);
    assert_eq!(doc.body, br#"{"total":"12.00"}"#);
    assert!(store.lineage("PO1").unwrap().is_empty());
    assert_eq!(store.lineage("PO2").unwrap(), vec![id]);
    let trail = store.audit_for_document(id).unwrap();
    assert_eq!(trail.len(), 2, "created and replaced, not the no-op");
}

// ------------------------------------------------------------------------------------------
// audit

#[test]
fn audit_is_appended_and_queried_by_document() {
    let (_dir, store) = temp_store();
    let (doc, _) = store
        .put_document(
            doc_meta(
                "ACME",
                "purchase_order",
                "PO77",
                &["PO77"],
                at(2026, 3, 1, 0),
            ),
            b"{}",
        )
        .unwrap();
    for (i, action) in ["flow.po_sent", "flow.ack_matched"].iter().enumerate() {
        store
            .append_audit(&AuditEvent {
                at: at(2026, 3, 1, 1 + i as u32),
                actor: "flow".into(),
                action: (*action).into(),
                inbox_id: None,
                document_id: Some(doc),
                outbox_id: None,
                detail: format!("step {i}"),
            })
            .unwrap();
    }
    store
        .append_audit(&flow_event(at(2026, 3, 1, 2), "flow.other", None))
        .unwrap();
    let actions = audit_actions(&store, doc);
    // The store's own put event was written "now" (after these test times), so it sorts last.
    assert_eq!(
        actions,
        ["flow.po_sent", "flow.ack_matched", "document.put"]
    );
}

// ------------------------------------------------------------------------------------------
// schema, retention, backup, corruption

/// The store's sled database opened directly, to lay out old or odd records. Waits for the
/// file lock like [`open_unlocked`].
fn raw_db(dir: &Path) -> sled::Db {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match sled::open(dir.join("db")) {
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => return other.unwrap(),
        }
    }
}

/// Marks a store (opened raw) as written by schema `version`.
fn mark_schema(db: &sled::Db, version: u32) {
    db.open_tree("meta")
        .unwrap()
        .insert("schema_version", &version.to_be_bytes())
        .unwrap();
}

/// Opens the store once sled's file lock is free: a `sled::Db` dropped a moment ago can keep
/// it while its flusher thread winds down (seen on a loaded machine), which is not the refusal
/// under test.
fn open_unlocked(cfg: StoreConfig) -> Result<SledStore> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match SledStore::open_with(cfg.clone()) {
            Err(e)
                if e.to_string().contains("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => return other,
        }
    }
}

fn open_once_unlocked(dir: &Path) -> Result<SledStore> {
    open_unlocked(StoreConfig::new(dir))
}

#[test]
fn a_store_from_a_newer_schema_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    drop(SledStore::open(dir.path()).unwrap());
    {
        let db = raw_db(dir.path());
        mark_schema(&db, CURRENT_SCHEMA_VERSION + 1);
        db.flush().unwrap();
    }
    let err = open_once_unlocked(dir.path()).err().expect("refused");
    let msg = err.to_string();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found, supported, .. }
        if found == CURRENT_SCHEMA_VERSION + 1 && supported == CURRENT_SCHEMA_VERSION),
        "{err:?}"
    );
    assert!(
        msg.contains(&format!("schema version {}", CURRENT_SCHEMA_VERSION + 1)),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("schema version {CURRENT_SCHEMA_VERSION} at most")),
        "{msg}"
    );
}

#[test]
fn purge_drops_old_finished_items_and_keeps_unfinished_ones() {
    let (dir, store) = temp_store();
    let old = at(2025, 1, 10, 8);
    let new = at(2026, 3, 1, 8);
    let (done_old, _) = store
        .receive("k:done-old", meta("drop", old), &mut &b"a"[..])
        .unwrap();
    let (pending_old, _) = store
        .receive("k:pending-old", meta("drop", old), &mut &b"b"[..])
        .unwrap();
    let (done_new, _) = store
        .receive("k:done-new", meta("drop", new), &mut &b"c"[..])
        .unwrap();
    store.set_stage(done_old, Stage::Done, "flow").unwrap();
    store.set_stage(done_new, Stage::Done, "flow").unwrap();
    let (doc_old, _) = store
        .put_document(doc_meta("ACME", "invoice", "I1", &["PO1"], old), b"{}")
        .unwrap();
    let (doc_new, _) = store
        .put_document(doc_meta("ACME", "invoice", "I2", &["PO1"], new), b"{}")
        .unwrap();
    // An orphan payload file from a crash between file and commit.
    let orphan_dir = dir.path().join("payloads/2025-01-10");
    std::fs::write(
        orphan_dir.join(format!(
            "{}-0000000000000001",
            InboxId::from_slice(&[0; 16]).unwrap()
        )),
        b"x",
    )
    .unwrap();
    store
        .append_audit(&AuditEvent {
            at: old,
            actor: "t".into(),
            action: "old.event".into(),
            inbox_id: None,
            document_id: Some(doc_old),
            outbox_id: None,
            detail: String::new(),
        })
        .unwrap();
    assert_eq!(payload_files(dir.path()).len(), 4);

    let report = store.purge(at(2026, 1, 1, 0)).unwrap();
    assert_eq!(report.inbox_entries, 1);
    assert_eq!(report.payload_files, 2, "the finished one and the orphan");
    assert_eq!(report.documents, 1);
    assert_eq!(report.kept_unfinished, 1);
    assert_eq!(report.audit_events, 1);

    assert!(store.inbox_get(done_old).unwrap().is_none());
    assert!(store.inbox_get(pending_old).unwrap().is_some());
    assert!(store.inbox_get(done_new).unwrap().is_some());
    assert!(store.get_document(doc_old).unwrap().is_none());
    assert_eq!(store.lineage("PO1").unwrap(), vec![doc_new]);
    assert_eq!(payload_files(dir.path()).len(), 2);
    // A purged receive key is free again (retention is the idempotency horizon).
    let (_, r) = store
        .receive("k:done-old", meta("drop", new), &mut &b"a"[..])
        .unwrap();
    assert_eq!(r, Receipt::Fresh);
}

#[test]
fn backup_while_in_use_opens_with_the_data() {
    let (_dir, store) = temp_store();
    let store = Arc::new(store);
    for i in 0..50u32 {
        store
            .receive(
                &format!("k{i}"),
                meta("drop", at(2026, 3, 1, 0)),
                &mut format!("payload {i}").as_bytes(),
            )
            .unwrap();
    }
    store
        .put_document(
            doc_meta("ACME", "invoice", "I1", &["PO1"], at(2026, 3, 1, 0)),
            b"{\"a\":1}",
        )
        .unwrap();
    let n = store
        .enqueue_outbound("ACME", &|n| Ok(render_997("b1".into(), n)))
        .unwrap();

    // A writer keeps going during the backup.
    let writer = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || {
            for i in 0..200u32 {
                store
                    .put_document(
                        doc_meta("ACME", "invoice", &format!("W{i}"), &[], at(2026, 3, 2, 0)),
                        b"{}",
                    )
                    .unwrap();
            }
        })
    };
    let target = tempfile::tempdir().unwrap();
    let backup_dir = target.path().join("copy");
    let report = store.backup(&backup_dir).unwrap();
    writer.join().unwrap();
    assert_eq!(report.payload_files, 50);
    assert!(
        store.backup(&backup_dir).is_err(),
        "refuses a non-empty target"
    );

    let copy = SledStore::open(&backup_dir).unwrap();
    let (id, r) = copy
        .receive("k7", meta("drop", at(2026, 3, 1, 0)), &mut &b"zzz"[..])
        .unwrap();
    assert_eq!(r, Receipt::AlreadyHad);
    let mut body = String::new();
    copy.open_payload(id)
        .unwrap()
        .read_to_string(&mut body)
        .unwrap();
    assert_eq!(body, "payload 7");
    assert_eq!(
        copy.outbox_get(n.id).unwrap().unwrap().control_numbers,
        n.control_numbers
    );
    assert_eq!(copy.lineage("PO1").unwrap().len(), 1);
    // Whatever part of the concurrent writes made it in is complete: each copied document
    // has its partner index entry (one transaction, one consistent cut).
    let docs = copy
        .list_documents(&DocumentFilter {
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    let by_partner = copy
        .list_documents(&DocumentFilter {
            partner: Some("ACME".into()),
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(docs.items.len(), by_partner.items.len());
    assert_eq!(copy.control_numbers("ACME").unwrap(), n.control_numbers);
}

#[test]
fn corrupt_records_read_back_as_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let store = SledStore::open(dir.path()).unwrap();
        let (id, _) = store
            .receive("k", meta("drop", at(2026, 3, 1, 0)), &mut &b"x"[..])
            .unwrap();
        store.flush().unwrap();
        id
    };
    {
        let db = raw_db(dir.path());
        db.open_tree("inbox")
            .unwrap()
            .insert(id.as_bytes(), &b"{not json"[..])
            .unwrap();
        db.open_tree("documents")
            .unwrap()
            .insert([0u8; 16], &b"\xff\xff\xff\xff{"[..])
            .unwrap();
        db.flush().unwrap();
    }
    let store = open_once_unlocked(dir.path()).unwrap();
    assert!(matches!(
        store.inbox_get(id),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        store.set_stage(id, Stage::Done, "t"),
        Err(StoreError::Corrupt { .. })
    ));
    // One bad record does not block the resume of the others.
    let (good, _) = store
        .receive("k2", meta("drop", at(2026, 3, 1, 1)), &mut &b"y"[..])
        .unwrap();
    let pending: Vec<_> = store
        .list_pending(10)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(pending, vec![good]);
    assert!(matches!(
        store.get_document(DocumentId::from_slice(&[0; 16]).unwrap()),
        Err(StoreError::Corrupt { .. })
    ));
    assert!("not-an-id".parse::<InboxId>().is_err());
}

// ------------------------------------------------------------------------------------------
// unit of work

#[test]
fn a_unit_of_work_commits_everything_or_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_inline_1k(dir.path());
    let now = at(2026, 3, 1, 9);
    let owner = SeenOwner::default();

    // A failing unit leaves no trace: not the receive, not the key, not the control numbers.
    let failed = store.atomically(&|tx| {
        tx.receive_inline("unit:a", &meta("drop", now), b"ISA*a~", None)?;
        tx.check_seen("ic/a", owner.clone(), now)?;
        tx.enqueue_outbound(Some("ACME"), &|n| Ok(render_997("ack/a".into(), n)), None)?;
        Err(StoreError::InvalidId("stop here".into()))
    });
    assert!(failed.is_err());
    assert_eq!(store.list_pending(10).unwrap().len(), 0);
    assert_eq!(store.control_numbers("ACME").unwrap(), None);
    assert_eq!(
        store.check_seen("ic/a", owner.clone(), now).unwrap(),
        SeenOutcome::First
    );

    // A committed unit sees its own writes: two items of one batch, the second a duplicate.
    let ids = std::cell::RefCell::new(Vec::new());
    store
        .atomically(&|tx| {
            let mut got = Vec::new();
            for (key, body) in [("unit:b", &b"ISA*b~"[..]), ("unit:c", &b"ISA*c~"[..])] {
                let (id, receipt) = tx
                    .receive_inline(key, &meta("drop", now), body, None)?
                    .expect("small payloads stay inline");
                assert_eq!(receipt, Receipt::Fresh);
                let seen = tx.check_seen("ic/b", owner.clone(), now)?;
                let n = tx.enqueue_outbound(
                    Some("ACME"),
                    &|n| Ok(render_997(format!("ack/{key}"), n)),
                    None,
                )?;
                tx.set_stage(id, Stage::Done, "test")?;
                got.push((id, seen, n.control_numbers));
            }
            *ids.borrow_mut() = got;
            Ok(())
        })
        .unwrap();
    let got = ids.into_inner();
    assert_eq!(got[0].1, SeenOutcome::First);
    assert!(matches!(got[1].1, SeenOutcome::Duplicate(_)));
    assert_eq!(got[0].2.map(|n| n.isa13), Some(1));
    assert_eq!(got[1].2.map(|n| n.isa13), Some(2));
    for (id, _, _) in &got {
        let e = store.inbox_get(*id).unwrap().expect("received");
        assert_eq!(e.stage, Stage::Done);
        let mut body = Vec::new();
        store
            .open_payload(*id)
            .unwrap()
            .read_to_end(&mut body)
            .unwrap();
        assert!(body.starts_with(b"ISA*"));
    }
    // The same receive key again is recognised, inside a unit as outside.
    store
        .atomically(&|tx| {
            let r = tx.receive_inline("unit:b", &meta("drop", now), b"ISA*b~", None)?;
            assert_eq!(r, Some((got[0].0, Receipt::AlreadyHad)));
            Ok(())
        })
        .unwrap();
    // Too large to keep inline: the caller must receive it the ordinary way.
    store
        .atomically(&|tx| {
            assert!(tx
                .receive_inline("unit:big", &meta("drop", now), &[b'x'; 2048], None)?
                .is_none());
            Ok(())
        })
        .unwrap();
}

/// A unit keeps the control-number counters it advances in memory and writes each once at its
/// end: what it allocated, per partner, is what the store holds afterwards, and the next
/// allocation continues from there. Hashes handed in ahead file a receive as the store's own.
#[test]
fn a_unit_of_work_writes_the_counters_it_advanced_and_takes_hashes_made_ahead() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_inline_1k(dir.path());
    let now = at(2026, 3, 1, 9);
    let body = &b"ISA*h~"[..];
    let hashes = ReceiveHashes::new("unit:h", Sha256::digest(body).into());
    let got = std::cell::RefCell::new(Vec::new());
    store
        .atomically(&|tx| {
            let (id, receipt) = tx
                .receive_inline("unit:h", &meta("drop", now), body, Some(&hashes))?
                .expect("small payloads stay inline");
            assert_eq!(receipt, Receipt::Fresh);
            let mut numbers = Vec::new();
            for (i, partner) in ["ACME", "OTHER", "ACME", "ACME"].into_iter().enumerate() {
                let key = format!("ack/{partner}/{i}");
                let e =
                    tx.enqueue_outbound(Some(partner), &|n| Ok(render_997(key.clone(), n)), None)?;
                numbers.push((partner, e.control_numbers.map(|n| (n.isa13, n.gs06))));
            }
            tx.set_stage(id, Stage::Done, "test")?;
            *got.borrow_mut() = vec![(id, numbers)];
            Ok(())
        })
        .unwrap();
    let got = got.into_inner();
    let (id, numbers) = &got[0];
    assert_eq!(
        numbers,
        &[
            ("ACME", Some((1, 1))),
            ("OTHER", Some((1, 1))),
            ("ACME", Some((2, 2))),
            ("ACME", Some((3, 3))),
        ]
    );
    assert_eq!(
        store.control_numbers("ACME").unwrap(),
        Some(ControlNumbers { isa13: 3, gs06: 3 })
    );
    assert_eq!(
        store.control_numbers("OTHER").unwrap(),
        Some(ControlNumbers { isa13: 1, gs06: 1 })
    );
    let next = store
        .enqueue_outbound("ACME", &|n| Ok(render_997("ack/after".into(), n)))
        .unwrap();
    assert_eq!(next.control_numbers.map(|n| n.isa13), Some(4));

    // Filed as if the store had hashed it: the same key without hashes is the same item.
    let entry = store.inbox_get(*id).unwrap().expect("received");
    assert_eq!(entry.payload.sha256, hex::encode(Sha256::digest(body)));
    assert_eq!(*id, store.fresh_inbox_id("unit:h", &meta("drop", now)));
    store
        .atomically(&|tx| {
            let r = tx.receive_inline("unit:h", &meta("drop", now), body, None)?;
            assert_eq!(r, Some((*id, Receipt::AlreadyHad)));
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_unit_of_work_keeps_each_items_audit_trail_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_inline_1k(dir.path());
    let now = at(2026, 3, 1, 9);
    let got = std::cell::RefCell::new(Vec::new());
    store
        .atomically(&|tx| {
            let mut out = Vec::new();
            for key in ["unit:a", "unit:b"] {
                let (id, _) = tx
                    .receive_inline(key, &meta("drop", now), b"ISA*x~", None)?
                    .expect("inline");
                tx.check_seen(&format!("ic/{key}"), SeenOwner::default(), now)?;
                // With the id and hash made ahead, as the pipeline makes them.
                let oid = item_outbox_id(&id, &format!("ack/{key}"));
                let n = enqueue_item_ack(tx, key, id, Some(oid))?;
                let mut m = doc_meta("ACME", "invoice", key, &["PO1"], now);
                m.inbox_id = Some(id);
                let kh = DocKeyHash::of(&m);
                let (doc, _) = tx.put_document(m, b"{}", Some(&kh))?;
                tx.append_audit(&AuditEvent {
                    at: now,
                    actor: "pipeline".into(),
                    action: "stored document".into(),
                    inbox_id: Some(id),
                    document_id: Some(doc),
                    outbox_id: None,
                    detail: key.into(),
                })?;
                tx.set_stage(id, Stage::Done, "pipeline")?;
                out.push((id, doc, n.id));
            }
            *got.borrow_mut() = out;
            Ok(())
        })
        .unwrap();
    let actions = |evs: Vec<AuditEvent>| evs.into_iter().map(|e| e.action).collect::<Vec<_>>();
    for (id, doc, out) in got.into_inner() {
        assert_eq!(store.inbox_get(id).unwrap().unwrap().stage, Stage::Done);
        assert!(store.list_pending(10).unwrap().is_empty());
        assert_eq!(
            actions(store.audit_for_inbox(id).unwrap()),
            [
                "inbox.received",
                "outbox.enqueued",
                "document.put",
                "stored document",
                "inbox.stage"
            ]
        );
        assert_eq!(
            actions(store.audit_for_document(doc).unwrap()),
            ["document.put", "stored document"]
        );
        assert_eq!(
            actions(store.audit_for_outbox(out).unwrap()),
            ["outbox.enqueued"]
        );
    }
    // Every event counts in retention, and the duplicate keys go with their window.
    let later = Utc::now() + chrono::Duration::days(400);
    let report = store.purge(later).unwrap();
    assert_eq!(report.audit_events, 10);
    assert_eq!(report.seen, 2);
}

#[test]
fn a_schema_1_store_is_read_and_marked_current() {
    let dir = tempfile::tempdir().unwrap();
    drop(SledStore::open(dir.path()).unwrap());
    let doc = DocumentId::from_slice(&[1; 16]).unwrap();
    let old = at(2025, 1, 10, 8);
    {
        // The schema 1 layout: one JSON event per audit row under ms + id, and every duplicate
        // key listed under its own first-seen time.
        let db = raw_db(dir.path());
        mark_schema(&db, 1);
        let ms = (old.timestamp_millis() as u64).to_be_bytes();
        let key: Vec<u8> = [&ms[..], &7u64.to_be_bytes()].concat();
        let event = AuditEvent {
            at: old,
            actor: "flow".into(),
            action: "flow.old".into(),
            inbox_id: None,
            document_id: Some(doc),
            outbox_id: None,
            detail: String::new(),
        };
        db.open_tree("audit")
            .unwrap()
            .insert(&key, serde_json::to_vec(&event).unwrap())
            .unwrap();
        db.open_tree("audit_by_ref")
            .unwrap()
            .insert([&b"d"[..], doc.as_bytes(), &key].concat(), &[][..])
            .unwrap();
        let seen = SeenEntry {
            first_seen: old,
            owner: SeenOwner::default(),
        };
        db.open_tree("seen")
            .unwrap()
            .insert("ic/old", serde_json::to_vec(&seen).unwrap())
            .unwrap();
        db.open_tree("seen_by_time")
            .unwrap()
            .insert([&ms[..], b"ic/old"].concat(), &[][..])
            .unwrap();
        db.flush().unwrap();
    }
    let store = open_once_unlocked(dir.path()).unwrap();
    assert_eq!(store.schema_version().unwrap(), CURRENT_SCHEMA_VERSION);
    store
        .append_audit(&flow_event(at(2026, 3, 1, 0), "flow.new", Some(doc)))
        .unwrap();
    let actions = audit_actions(&store, doc);
    assert_eq!(actions, ["flow.old", "flow.new"]);
    assert!(matches!(
        store
            .check_seen("ic/old", SeenOwner::default(), at(2025, 1, 11, 0))
            .unwrap(),
        SeenOutcome::Duplicate(_)
    ));
    let report = store.purge(at(2026, 1, 1, 0)).unwrap();
    assert_eq!(report.audit_events, 1);
    assert_eq!(report.seen, 1);
    assert_eq!(
        store
            .check_seen("ic/old", SeenOwner::default(), at(2025, 1, 11, 0))
            .unwrap(),
        SeenOutcome::First
    );
}

fn read_only(dir: &Path) -> StoreConfig {
    let mut cfg = StoreConfig::new(dir);
    cfg.read_only = true;
    cfg
}

/// Schema 2 values: `u32 length | JSON header | raw bytes`.
fn schema_2_value(header: &impl serde::Serialize, body: &[u8]) -> Vec<u8> {
    let h = serde_json::to_vec(header).unwrap();
    [&(h.len() as u32).to_be_bytes()[..], &h, body].concat()
}

#[test]
fn a_schema_2_store_is_read_as_it_is_read_only_and_upgraded_read_write() {
    let dir = tempfile::tempdir().unwrap();
    drop(SledStore::open(dir.path()).unwrap());
    let t = at(2026, 2, 1, 9);
    let inbox_id: InboxId = "0000019c16ad8a400102030405060708".parse().unwrap();
    let doc_id: DocumentId = "0000019c16ad8a401112131415161718".parse().unwrap();
    let out_id: OutboxId = "0000019c16ad8a402122232425262728".parse().unwrap();
    let entry = InboxEntry {
        id: inbox_id,
        receive_key: "folder:/in/a.x12:3:1:ab".into(),
        meta: InboxMeta {
            channel: "folder".into(),
            partner_hint: None,
            source_name: Some("a.x12".into()),
            received_at: t,
            attributes: BTreeMap::from([("k".to_string(), "v".to_string())]),
        },
        payload: PayloadRef {
            file: None,
            size: 3,
            sha256: hex::encode(Sha256::digest(b"ISA")),
        },
        stage: Stage::Acked,
        stage_changed_at: t,
        replays: 0,
    };
    let meta = DocumentMeta {
        partner: "acme".into(),
        kind: "purchase_order".into(),
        po_numbers: vec!["PO-1".into()],
        business_key: "PO-1".into(),
        inbox_id: Some(inbox_id),
        created_at: t,
    };
    let record = OutboxRecord {
        id: out_id,
        idempotency_key: "fa/x/0".into(),
        partner: "acme".into(),
        destination: "folder:acme".into(),
        kind: "FA".into(),
        document_id: None,
        inbox_id: Some(inbox_id),
        control_numbers: Some(ControlNumbers { isa13: 7, gs06: 7 }),
        created_at: t,
        due: t,
        attempts: 1,
        last_error: Some("refused".into()),
        state: DeliveryState::Pending,
        payload: Vec::new(),
    };
    {
        let db = raw_db(dir.path());
        let tree = |n: &str| db.open_tree(n).unwrap();
        mark_schema(&db, 2);
        tree("inbox")
            .insert(inbox_id.as_bytes(), schema_2_value(&entry, b"ISA"))
            .unwrap();
        tree("stage_index")
            .insert([&[0u8][..], inbox_id.as_bytes()].concat(), &[][..])
            .unwrap();
        let header = serde_json::json!({"meta": meta, "version": 2, "updated_at": t});
        tree("documents")
            .insert(doc_id.as_bytes(), schema_2_value(&header, b"{\"a\":1}"))
            .unwrap();
        let due_key = [
            &(t.timestamp_millis() as u64).to_be_bytes()[..],
            out_id.as_bytes(),
        ]
        .concat();
        tree("outbox")
            .insert(&due_key, schema_2_value(&record, b"ISA*997"))
            .unwrap();
        tree("outbox_index")
            .insert(out_id.as_bytes(), [&[0u8][..], &due_key].concat())
            .unwrap();
        db.flush().unwrap();
    }
    let check_reads = |store: &SledStore| {
        assert_eq!(
            store.inbox_get(inbox_id).unwrap().unwrap().stage,
            Stage::Acked
        );
        let mut payload = Vec::new();
        store
            .open_payload(inbox_id)
            .unwrap()
            .read_to_end(&mut payload)
            .unwrap();
        assert_eq!(payload, b"ISA");
        let doc = store.get_document(doc_id).unwrap().unwrap();
        assert_eq!(
            (doc.meta, doc.version, doc.body),
            (meta.clone(), 2, b"{\"a\":1}".to_vec())
        );
        let due = store.due(t, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].payload, b"ISA*997");
        assert_eq!(due[0].last_error.as_deref(), Some("refused"));
        assert_eq!(store.list_pending(10).unwrap().len(), 1);
    };

    // Read-only: everything reads, nothing is written, not even the schema mark.
    {
        let store = open_unlocked(read_only(dir.path())).unwrap();
        check_reads(&store);
        assert_eq!(store.schema_version().unwrap(), 2);
        assert!(matches!(
            store.set_stage(inbox_id, Stage::Done, "t"),
            Err(StoreError::ReadOnly(_))
        ));
        assert!(matches!(
            store.receive("k", entry.meta.clone(), &mut &b"x"[..]),
            Err(StoreError::ReadOnly(_))
        ));
    }
    let store = open_unlocked(StoreConfig::new(dir.path())).unwrap();
    assert_eq!(store.schema_version().unwrap(), CURRENT_SCHEMA_VERSION);
    check_reads(&store);
    // Records rewritten now are in the current layout and read back the same.
    store.set_stage(inbox_id, Stage::Done, "t").unwrap();
    let mut payload = Vec::new();
    store
        .open_payload(inbox_id)
        .unwrap()
        .read_to_end(&mut payload)
        .unwrap();
    assert_eq!(payload, b"ISA", "the inline payload moved with the entry");
    let e = store.inbox_get(inbox_id).unwrap().unwrap();
    assert_eq!((e.stage, e.meta), (Stage::Done, entry.meta.clone()));
    store.mark_delivered(out_id, t).unwrap();
    let delivered = store.outbox_get(out_id).unwrap().unwrap();
    assert_eq!(delivered.state, DeliveryState::Delivered { at: t });
    assert_eq!(delivered.control_numbers, record.control_numbers);
    assert_eq!(delivered.payload, b"ISA*997");
    // Purge reads old and new records alike.
    let report = store.purge(at(2027, 1, 1, 0)).unwrap();
    assert_eq!(
        (report.inbox_entries, report.documents, report.delivered),
        (1, 1, 1)
    );
}

#[test]
fn a_read_only_open_of_a_schema_1_store_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    drop(SledStore::open(dir.path()).unwrap());
    {
        let db = raw_db(dir.path());
        mark_schema(&db, 1);
        db.flush().unwrap();
    }
    {
        let store = open_unlocked(read_only(dir.path())).unwrap();
        assert_eq!(store.schema_version().unwrap(), 1);
        assert!(store.list_exceptions(10).unwrap().is_empty());
        let err = store
            .append_audit(&flow_event(at(2026, 3, 1, 0), "flow.new", None))
            .unwrap_err();
        assert!(err.to_string().contains("read-only"), "{err}");
    }
    // Still schema 1 for the next read-write open, which marks it.
    let store = open_unlocked(StoreConfig::new(dir.path())).unwrap();
    assert_eq!(store.schema_version().unwrap(), CURRENT_SCHEMA_VERSION);
    // And a read-only open never creates a store.
    let missing = dir.path().join("missing");
    assert!(matches!(
        SledStore::open_with(read_only(&missing)),
        Err(StoreError::NoStore(_))
    ));
    assert!(!missing.exists());
    assert!(!SledStore::exists(&missing));
    assert!(SledStore::exists(dir.path()));
}

/// One item through a unit of work, as the pipeline commits it: received inline, an ack
/// enqueued and a document put for it, then finished. Returns the item, document and ack ids.
fn unit_item(
    store: &SledStore,
    key: &str,
    business_key: &str,
    created: DateTime<Utc>,
) -> (InboxId, DocumentId, OutboxId) {
    let got = std::cell::RefCell::new(None);
    store
        .atomically(&|tx| {
            let (id, _) = tx
                .receive_inline(key, &meta("drop", created), b"ISA*x~", None)?
                .expect("inline");
            let n = enqueue_item_ack(tx, key, id, None)?;
            let mut m = doc_meta("ACME", "invoice", business_key, &["PO1"], created);
            m.inbox_id = Some(id);
            let (doc, _) = tx.put_document(m, b"{}", None)?;
            tx.set_stage(id, Stage::Done, "pipeline")?;
            *got.borrow_mut() = Some((id, doc, n.id));
            Ok(())
        })
        .unwrap();
    got.into_inner().unwrap()
}

#[test]
fn an_items_trail_outlives_its_purged_document_and_follows_a_change_of_owner() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_inline_1k(dir.path());
    let old = at(2025, 1, 10, 8);
    let actions = |evs: Vec<AuditEvent>| evs.into_iter().map(|e| e.action).collect::<Vec<_>>();

    // A document created long ago (its id and retention go by that time) by an item whose
    // events happen now: purging up to last year takes the document, not its trail.
    let (id, doc, out) = unit_item(&store, "unit:old", "OLD", old);
    store.mark_delivered(out, old).unwrap();
    let report = store.purge(at(2026, 1, 1, 0)).unwrap();
    assert_eq!(report.documents, 1);
    assert_eq!(report.audit_events, 0);
    assert!(store.get_document(doc).unwrap().is_none());
    assert_eq!(
        actions(store.audit_for_document(doc).unwrap()),
        ["document.put"]
    );
    assert_eq!(
        actions(store.audit_for_outbox(out).unwrap()),
        ["outbox.enqueued", "outbox.delivered"]
    );
    assert_eq!(
        actions(store.audit_for_inbox(id).unwrap()),
        [
            "inbox.received",
            "outbox.enqueued",
            "document.put",
            "inbox.stage",
            "outbox.delivered"
        ]
    );

    // The same business key put again for another item: the document's first item still
    // shows in its trail, before the second one.
    let now = Utc::now();
    let (first, doc, _) = unit_item(&store, "unit:a", "SAME", now);
    // Trails are in time order; same-millisecond events of different records are not.
    std::thread::sleep(Duration::from_millis(5));
    let mut m = doc_meta("ACME", "invoice", "SAME", &["PO1", "PO2"], now);
    let (second, _) = store
        .receive("unit:b", meta("drop", now), &mut &b"ISA*y~"[..])
        .unwrap();
    m.inbox_id = Some(second);
    let (again, outcome) = store.put_document(m.clone(), b"{\"v\":2}").unwrap();
    assert_eq!((again, outcome), (doc, PutOutcome::Replaced));
    let trail = store.audit_for_document(doc).unwrap();
    assert_eq!(actions(trail.clone()), ["document.put", "document.put"]);
    assert_eq!(trail[0].inbox_id, Some(first));
    assert_eq!(trail[1].inbox_id, Some(second));

    // Everything goes once its events are old enough, references included.
    let report = store
        .purge(Utc::now() + chrono::Duration::days(400))
        .unwrap();
    assert!(report.audit_events >= 10);
    assert!(store.audit_for_document(doc).unwrap().is_empty());
    assert!(store.audit_for_inbox(id).unwrap().is_empty());
    store.flush().unwrap();
    drop(store);
    let refs = raw_db(dir.path()).open_tree("audit_by_ref").unwrap().len();
    assert_eq!(refs, 0, "no reference outlives its record");
}

#[test]
fn a_schema_3_store_is_read_and_marked_current_with_its_audit_trails() {
    let dir = tempfile::tempdir().unwrap();
    let now = Utc::now();
    let (id, doc) = {
        let store = open_inline_1k(dir.path());
        // What schema 3 wrote: every audit record referenced from each id it names (the
        // single operations still write that way).
        let (id, _) = store
            .receive("k:s3", meta("drop", now), &mut &b"ISA*z~"[..])
            .unwrap();
        let mut m = doc_meta("ACME", "invoice", "S3", &["PO3"], now);
        m.inbox_id = Some(id);
        let (doc, _) = store.put_document(m, b"{}").unwrap();
        store.set_stage(id, Stage::Done, "flow").unwrap();
        store.flush().unwrap();
        (id, doc)
    };
    {
        let db = raw_db(dir.path());
        mark_schema(&db, 3);
        db.flush().unwrap();
    }
    let trail = |store: &SledStore| {
        (
            store
                .audit_for_inbox(id)
                .unwrap()
                .into_iter()
                .map(|e| e.action)
                .collect::<Vec<_>>(),
            store
                .audit_for_document(doc)
                .unwrap()
                .into_iter()
                .map(|e| e.action)
                .collect::<Vec<_>>(),
        )
    };
    let expected = (
        vec![
            "inbox.received".to_string(),
            "document.put".to_string(),
            "inbox.stage".to_string(),
        ],
        vec!["document.put".to_string()],
    );
    {
        let store = open_unlocked(read_only(dir.path())).unwrap();
        assert_eq!(store.schema_version().unwrap(), 3);
        assert_eq!(trail(&store), expected);
    }
    let mut cfg = StoreConfig::new(dir.path());
    cfg.inline_payload_max = 1024;
    let store = open_unlocked(cfg).unwrap();
    assert_eq!(store.schema_version().unwrap(), CURRENT_SCHEMA_VERSION);
    assert_eq!(trail(&store), expected);
    // A unit's item next to the old records reads the same way.
    let (item, item_doc, _) = unit_item(&store, "k:s4", "S4", now);
    assert_eq!(store.audit_for_document(item_doc).unwrap().len(), 1);
    assert_eq!(store.audit_for_inbox(item).unwrap().len(), 4);
}
