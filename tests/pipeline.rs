//! The drop folder's batch paths in process: a batch received and committed in one unit of
//! work, and the ways out of it (a redelivery after a crash, cXML in the batch, an item whose
//! receive got another id than it was prepared under), and a multi-batch poll that fails in
//! the middle. Each ends with every document stored once and acks numbered without gaps.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use edigate::channels::folder::{self, poll_once, Watch};
use edigate::config::Config;
use edigate::map::MapSet;
use edigate::metrics::Metrics;
use edigate::pipeline::{Gateway, Outcome};
use edigate::store::*;
use edigate::x12::grammar::Grammars;

fn interchange(i: usize) -> String {
    let ctl = i + 1;
    format!(
        "ISA*00*          *00*          *ZZ*TESTSUPPLIER   *ZZ*HOSPITAL       *240115*1200*U*00401*{ctl:09}*0*P*>~\nGS*PO*TESTSUPPLIER*HOSPITAL*20240115*1200*{ctl}*X*004010~\nST*850*0001~\nBEG*00*SA*PO{i:08}**20240115~\nN1*BY*GENERAL HOSPITAL*92*1001~\nPO1*1*10*BX*12.5**VP*CATH-2040~\nCTT*1~\nSE*6*0001~\nGE*1*{ctl}~\nIEA*1*{ctl:09}~\n"
    )
}

fn cxml_order() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/cxml/cxml-php__OrderRequest.xml"
    ))
    .expect("cXML sample")
}

/// A [`SledStore`] that can fail its n-th unit of work (counting from 1) and predict a wrong
/// id for chosen receive keys; everything else is passed through.
struct Flaky {
    inner: SledStore,
    units: AtomicUsize,
    fail_unit: AtomicUsize,
    wrong_ids: Mutex<BTreeSet<String>>,
}

impl Flaky {
    fn new(dir: &Path) -> Self {
        let mut cfg = StoreConfig::new(dir);
        cfg.inline_payload_max = 64 * 1024;
        Flaky {
            inner: SledStore::open_with(cfg).expect("store"),
            units: AtomicUsize::new(0),
            fail_unit: AtomicUsize::new(0),
            wrong_ids: Mutex::new(BTreeSet::new()),
        }
    }
}

impl Store for Flaky {
    fn flush(&self) -> Result<()> {
        self.inner.flush()
    }
    fn atomically(&self, f: &dyn Fn(&dyn StoreTx) -> Result<()>) -> Result<()> {
        let n = self.units.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.fail_unit.load(Ordering::SeqCst) {
            return Err(StoreError::Io {
                action: "commit",
                path: PathBuf::from("injected"),
                source: std::io::Error::other("injected failure"),
            });
        }
        self.inner.atomically(f)
    }
    fn receive(
        &self,
        receive_key: &str,
        meta: InboxMeta,
        payload: &mut dyn std::io::Read,
    ) -> Result<(InboxId, Receipt)> {
        self.inner.receive(receive_key, meta, payload)
    }
    fn fresh_inbox_id(&self, receive_key: &str, meta: &InboxMeta) -> InboxId {
        let id = self.inner.fresh_inbox_id(receive_key, meta);
        let wrong = self.wrong_ids.lock().unwrap();
        if wrong.iter().any(|w| receive_key.contains(w.as_str())) {
            let mut b = *id.as_bytes();
            b[15] ^= 0xff;
            return InboxId::from_slice(&b).unwrap();
        }
        id
    }
    fn inbox_get(&self, id: InboxId) -> Result<Option<InboxEntry>> {
        self.inner.inbox_get(id)
    }
    fn open_payload(&self, id: InboxId) -> Result<Box<dyn std::io::Read + Send>> {
        self.inner.open_payload(id)
    }
    fn set_stage(&self, id: InboxId, stage: Stage, actor: &str) -> Result<StageChange> {
        self.inner.set_stage(id, stage, actor)
    }
    fn list_pending(&self, limit: usize) -> Result<Vec<InboxEntry>> {
        self.inner.list_pending(limit)
    }
    fn list_exceptions(&self, limit: usize) -> Result<Vec<InboxEntry>> {
        self.inner.list_exceptions(limit)
    }
    fn mark_replay(&self, id: InboxId, from: Stage, actor: &str) -> Result<()> {
        self.inner.mark_replay(id, from, actor)
    }
    fn check_seen(&self, key: &str, owner: SeenOwner, now: DateTime<Utc>) -> Result<SeenOutcome> {
        self.inner.check_seen(key, owner, now)
    }
    fn put_document(&self, meta: DocumentMeta, body: &[u8]) -> Result<(DocumentId, PutOutcome)> {
        self.inner.put_document(meta, body)
    }
    fn get_document(&self, id: DocumentId) -> Result<Option<StoredDocument>> {
        self.inner.get_document(id)
    }
    fn list_documents(&self, filter: &DocumentFilter) -> Result<Page<StoredDocument>> {
        self.inner.list_documents(filter)
    }
    fn lineage(&self, po: &str) -> Result<Vec<DocumentId>> {
        self.inner.lineage(po)
    }
    fn enqueue(&self, new: NewOutbound) -> Result<Enqueued> {
        self.inner.enqueue(new)
    }
    fn enqueue_outbound(&self, partner: &str, build: &BuildOutbound<'_>) -> Result<Enqueued> {
        self.inner.enqueue_outbound(partner, build)
    }
    fn control_numbers(&self, partner: &str) -> Result<Option<ControlNumbers>> {
        self.inner.control_numbers(partner)
    }
    fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxRecord>> {
        self.inner.due(now, limit)
    }
    fn outbox_get(&self, id: OutboxId) -> Result<Option<OutboxRecord>> {
        self.inner.outbox_get(id)
    }
    fn mark_delivered(&self, id: OutboxId, at: DateTime<Utc>) -> Result<()> {
        self.inner.mark_delivered(id, at)
    }
    fn mark_failed(
        &self,
        id: OutboxId,
        error: &str,
        next_due: DateTime<Utc>,
    ) -> Result<OutboxRecord> {
        self.inner.mark_failed(id, error, next_due)
    }
    fn dead_letter(&self, id: OutboxId, reason: &str, at: DateTime<Utc>) -> Result<()> {
        self.inner.dead_letter(id, reason, at)
    }
    fn list_dead(&self, limit: usize) -> Result<Vec<OutboxRecord>> {
        self.inner.list_dead(limit)
    }
    fn replay_dead(&self, id: OutboxId, due: DateTime<Utc>, actor: &str) -> Result<()> {
        self.inner.replay_dead(id, due, actor)
    }
    fn append_audit(&self, event: &AuditEvent) -> Result<()> {
        self.inner.append_audit(event)
    }
    fn audit_for_document(&self, id: DocumentId) -> Result<Vec<AuditEvent>> {
        self.inner.audit_for_document(id)
    }
    fn audit_for_inbox(&self, id: InboxId) -> Result<Vec<AuditEvent>> {
        self.inner.audit_for_inbox(id)
    }
    fn audit_for_outbox(&self, id: OutboxId) -> Result<Vec<AuditEvent>> {
        self.inner.audit_for_outbox(id)
    }
    fn purge(&self, older_than: DateTime<Utc>) -> Result<PurgeReport> {
        self.inner.purge(older_than)
    }
    fn backup(&self, dir: &Path) -> Result<BackupReport> {
        self.inner.backup(dir)
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    gw: Gateway,
    store: Arc<Flaky>,
}

fn fixture(batch: usize) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = Config::under(&tmp.path().join("var"));
    cfg.settle_ms = 0;
    cfg.batch = batch;
    for d in [&cfg.in_dir, &cfg.out_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    let grammars = Grammars::embedded().unwrap();
    let maps = MapSet::embedded(&grammars).unwrap();
    let store = Arc::new(Flaky::new(&cfg.store_dir));
    let gw = Gateway::new(
        store.clone(),
        Arc::new(grammars),
        Arc::new(maps),
        Arc::new(cfg),
        Arc::new(Metrics::new()),
    );
    Fixture {
        _tmp: tmp,
        gw,
        store,
    }
}

fn drop_files(gw: &Gateway, range: std::ops::Range<usize>) -> Vec<PathBuf> {
    range
        .map(|i| {
            let p = gw.config.in_dir.join(format!("f{i:04}.x12"));
            std::fs::write(&p, interchange(i)).unwrap();
            p
        })
        .collect()
}

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every purchase order stored once (`docs` of them), each under the inbox item that holds
/// its payload and finished, and the pending X12 acks numbered 1..=n without a gap or a
/// repeat.
fn assert_all_once(gw: &Gateway, n: usize) {
    assert_stored_once(gw, n, n)
}

fn assert_stored_once(gw: &Gateway, docs: usize, n: usize) {
    let page = gw
        .store
        .list_documents(&DocumentFilter {
            kind: Some("purchase_order".into()),
            limit: 10_000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.items.len(), docs, "one document per order");
    let keys: BTreeSet<_> = page.items.iter().map(|d| &d.meta.business_key).collect();
    assert_eq!(keys.len(), docs, "no business key twice");
    for d in &page.items {
        // Canonical JSON: compact, every object's keys in order (what the `Value` route wrote).
        let v: serde_json::Value = serde_json::from_slice(&d.body).unwrap();
        assert_eq!(serde_json::to_vec(&v).unwrap(), d.body);
        let id = d.meta.inbox_id.expect("document names its inbox item");
        let entry = gw.store.inbox_get(id).unwrap().expect("its inbox item");
        assert_eq!(entry.stage, Stage::Done, "{id}");
    }
    let mut numbers: Vec<u64> = gw
        .store
        .due(Utc::now() + chrono::Duration::days(1), 10_000)
        .unwrap()
        .iter()
        .filter(|r| r.kind == "FA")
        .filter_map(|r| r.control_numbers.map(|c| c.isa13))
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=n as u64).collect::<Vec<_>>());
    assert!(gw.store.list_pending(10).unwrap().is_empty());
}

fn poll_all(gw: &Gateway) -> usize {
    let mut watch = Watch::default();
    let mut done = 0;
    for _ in 0..5 {
        done += poll_once(gw, &mut watch).unwrap();
    }
    done
}

#[test]
fn a_batch_commits_in_one_unit_of_work() {
    let f = fixture(100);
    drop_files(&f.gw, 0..10);
    assert_eq!(poll_all(&f.gw), 10);
    // One unit for the whole batch: the fast path.
    assert_eq!(f.store.units.load(Ordering::SeqCst), 1);
    assert_eq!(names(&f.gw.config.archive_dir).len(), 10);
    assert_all_once(&f.gw, 10);
}

#[test]
fn a_redelivery_in_a_batch_is_finished_from_its_stored_payload() {
    let f = fixture(100);
    let files = drop_files(&f.gw, 0..6);
    // Received before a crash, never processed: the same receive key comes in again.
    let key = folder::receive_key(&files[2]).unwrap();
    let meta = InboxMeta {
        channel: "folder".into(),
        partner_hint: None,
        source_name: None,
        received_at: Utc::now() - chrono::Duration::seconds(5),
        attributes: Default::default(),
    };
    let (first, receipt) =
        f.gw.receive(&key, meta, &mut std::fs::File::open(&files[2]).unwrap())
            .unwrap();
    assert_eq!(receipt, Receipt::Fresh);
    assert_eq!(poll_all(&f.gw), 6);
    assert_eq!(
        f.gw.store.inbox_get(first).unwrap().unwrap().stage,
        Stage::Done
    );
    assert_eq!(names(&f.gw.config.archive_dir).len(), 6);
    assert_all_once(&f.gw, 6);
    // The redelivered item kept its first id: its document names it.
    let page =
        f.gw.store
            .list_documents(&DocumentFilter {
                po: Some("PO00000002".into()),
                ..Default::default()
            })
            .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].meta.inbox_id, Some(first));
}

#[test]
fn cxml_in_a_batch_is_committed_in_arrival_order_with_the_x12_around_it() {
    let f = fixture(100);
    drop_files(&f.gw, 0..2);
    std::fs::write(f.gw.config.in_dir.join("f0002.xml"), cxml_order()).unwrap();
    let p = f.gw.config.in_dir.join("f0003.x12");
    std::fs::write(&p, interchange(2)).unwrap();
    assert_eq!(poll_all(&f.gw), 4);
    assert!(names(&f.gw.config.in_dir).is_empty());
    // Three X12 orders and the cXML one; three X12 acks.
    assert_stored_once(&f.gw, 4, 3);
    // The cXML order got its Response and no X12 ack.
    let due =
        f.gw.store
            .due(Utc::now() + chrono::Duration::days(1), 100)
            .unwrap();
    assert_eq!(
        due.iter().filter(|r| r.kind == "cXML-Response").count(),
        1,
        "{due:?}"
    );
}

#[test]
fn an_item_received_under_another_id_than_predicted_goes_the_general_way() {
    let f = fixture(100);
    f.store.wrong_ids.lock().unwrap().insert("f0003".into());
    drop_files(&f.gw, 0..6);
    assert_eq!(poll_all(&f.gw), 6);
    assert_eq!(names(&f.gw.config.archive_dir).len(), 6);
    // The batch fell back: a unit for the receives, then one for the fresh items.
    assert!(f.store.units.load(Ordering::SeqCst) >= 2);
    assert_all_once(&f.gw, 6);
}

#[test]
fn a_multi_batch_poll_that_fails_in_the_middle_loses_nothing_and_repeats_nothing() {
    let f = fixture(4);
    drop_files(&f.gw, 0..12);
    // The second batch's unit of work fails; the first is committed and settled by then.
    f.store.fail_unit.store(2, Ordering::SeqCst);
    let mut watch = Watch::default();
    let err = poll_once(&f.gw, &mut watch).expect_err("the injected failure is reported");
    assert!(err.to_string().contains("injected"), "{err}");
    let archived = names(&f.gw.config.archive_dir);
    let waiting = names(&f.gw.config.in_dir);
    assert_eq!(archived.len() + waiting.len(), 12, "no file lost");
    assert!(archived.is_disjoint(&waiting));
    // What was committed and flushed left the folder; the failed batch did not.
    assert!(archived.contains("f0000.x12"), "{archived:?}");
    assert!(waiting.contains("f0004.x12"), "{waiting:?}");
    // The next polls finish the rest, each document once.
    f.store.fail_unit.store(0, Ordering::SeqCst);
    for _ in 0..5 {
        poll_once(&f.gw, &mut watch).unwrap();
    }
    assert_eq!(names(&f.gw.config.archive_dir).len(), 12);
    assert!(names(&f.gw.config.in_dir).is_empty());
    assert_all_once(&f.gw, 12);
}

#[test]
fn receive_and_commit_keeps_the_order_and_ids_of_a_mixed_batch() {
    let f = fixture(100);
    let gw = &f.gw;
    let items: Vec<(String, InboxMeta, Vec<u8>)> = (0..4)
        .map(|i| {
            let bytes = if i == 1 {
                cxml_order().into_bytes()
            } else {
                interchange(i).into_bytes()
            };
            let meta = InboxMeta {
                channel: "test".into(),
                partner_hint: None,
                source_name: Some(format!("item{i}")),
                received_at: Utc::now(),
                attributes: Default::default(),
            };
            (format!("test:{i}"), meta, bytes)
        })
        .collect();
    let prepared: Vec<_> = items
        .iter()
        .map(|(k, m, b)| gw.prepare(gw.store.fresh_inbox_id(k, m), b).unwrap())
        .collect();
    let out = gw.receive_and_commit(&items, &prepared, None).unwrap();
    let order: Vec<usize> = out.iter().map(|(i, _, _)| *i).collect();
    assert_eq!(order, [0, 1, 2, 3]);
    for (i, id, outcome) in &out {
        assert_eq!(*id, gw.store.fresh_inbox_id(&items[*i].0, &items[*i].1));
        let entry = gw.store.inbox_get(*id).unwrap().unwrap();
        assert_eq!(
            entry.meta.source_name.as_deref(),
            Some(&*format!("item{i}"))
        );
        if *i != 1 {
            assert_eq!(*outcome, Outcome::Done { documents: 1 });
        }
    }
}
