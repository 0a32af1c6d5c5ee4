//! Prometheus metrics (prometheus-client): documents received and stored by partner and kind,
//! exceptions by reason, duplicates, acks, deliveries, processing latency and outbox depth.
//! Counting only; it decides nothing.

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

pub struct Metrics {
    registry: Mutex<Registry>,
    pub received: Counter,
    pub acks: Counter,
    pub duplicates: Counter,
    pub delivered: Family<Labels, Counter>,
    pub documents: Family<Labels, Counter>,
    pub exceptions: Family<Labels, Counter>,
    pub processing: Histogram,
    pub ack_latency: Histogram,
    pub outbox_depth: Gauge<i64, std::sync::atomic::AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("edigate");
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            received: Counter::default(),
            acks: Counter::default(),
            duplicates: Counter::default(),
            delivered: Family::default(),
            documents: Family::default(),
            exceptions: Family::default(),
            processing: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            ack_latency: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            outbox_depth: Gauge::default(),
        };
        r.register(
            "received",
            "Payloads received into the inbox",
            m.received.clone(),
        );
        r.register(
            "acks_enqueued",
            "Acknowledgements enqueued (997/999/TA1)",
            m.acks.clone(),
        );
        r.register(
            "duplicates",
            "Duplicates flagged (interchange, payloadID or business key)",
            m.duplicates.clone(),
        );
        r.register(
            "delivered",
            "Outbound deliveries by partner and kind",
            m.delivered.clone(),
        );
        r.register(
            "documents",
            "Canonical documents stored by partner and kind",
            m.documents.clone(),
        );
        r.register(
            "exceptions",
            "Inbox items in exception by reason",
            m.exceptions.clone(),
        );
        r.register(
            "processing_seconds",
            "Time to run one inbox item through the pipeline",
            m.processing.clone(),
        );
        r.register(
            "ack_latency_seconds",
            "Time from enqueue to delivery of an acknowledgement",
            m.ack_latency.clone(),
        );
        r.register(
            "outbox_depth",
            "Outbound records waiting for delivery",
            m.outbox_depth.clone(),
        );
        if let Ok(mut g) = m.registry.lock() {
            *g = r;
        }
        m
    }

    pub fn document(&self, partner: &str, kind: &str) {
        self.documents
            .get_or_create(&vec![
                ("partner".into(), partner.into()),
                ("kind".into(), kind.into()),
            ])
            .inc();
    }

    pub fn delivered(&self, partner: &str, kind: &str) {
        self.delivered
            .get_or_create(&vec![
                ("partner".into(), partner.into()),
                ("kind".into(), kind.into()),
            ])
            .inc();
    }

    /// Exceptions are counted by the first words of their reason (bounded label values).
    pub fn exception(&self, reason: &str) {
        let first = reason.lines().next().unwrap_or("");
        let class = if first.contains("was rejected") {
            "rejected"
        } else if first.contains("unknown partner") {
            "unknown_partner"
        } else if first.contains("business key") {
            "business_duplicate"
        } else if first.contains("test") {
            "test_not_allowed"
        } else if first.contains("TA1") {
            "envelope"
        } else if first.contains("not a document") {
            "unreadable"
        } else {
            "mapping"
        };
        self.exceptions
            .get_or_create(&vec![("reason".into(), class.into())])
            .inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(r) = self.registry.lock() {
            let _ = encode(&mut out, &r);
        }
        out
    }
}
