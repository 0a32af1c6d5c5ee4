//! Delivery: takes due records from the outbox and writes them to their destination (so far a
//! partner folder under `out_dir`), then marks them delivered. A file is named after its
//! outbox record and written via a temporary name, so a retry after a crash rewrites the same
//! file instead of sending twice. Failures back off exponentially; too many go to dead letters.

use std::fs;
use std::path::Path;

use chrono::Utc;

use crate::pipeline::{Gateway, PipelineError};
use crate::store::{backoff, OutboxRecord};

const MAX_ATTEMPTS: u32 = 8;

fn extension(kind: &str) -> &'static str {
    if kind.starts_with("cXML") {
        "xml"
    } else {
        "x12"
    }
}

fn write_file(out_dir: &Path, r: &OutboxRecord) -> std::io::Result<()> {
    let partner = crate::config::sanitize(&r.partner);
    let dir = out_dir.join(&partner);
    fs::create_dir_all(&dir)?;
    let stem = match &r.control_numbers {
        Some(c) => format!("{}-{:09}-{}", r.kind, c.isa13, r.id),
        None => format!("{}-{}", r.kind, r.id),
    };
    let name = format!("{stem}.{}", extension(&r.kind));
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        use std::io::Write;
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&r.payload)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(name))?;
    Ok(())
}

/// Delivers what is due; returns how many were delivered.
pub fn deliver_due(gw: &Gateway) -> Result<usize, PipelineError> {
    let now = Utc::now();
    let due = gw.store.due(now, 512)?;
    gw.metrics.outbox_depth.set(due.len() as i64);
    let mut n = 0;
    for r in due {
        let result = match r.destination.split_once(':') {
            Some(("folder", _)) => write_file(&gw.config.out_dir, &r),
            _ => Err(std::io::Error::other(format!(
                "unknown destination {}",
                r.destination
            ))),
        };
        match result {
            Ok(()) => {
                gw.store.mark_delivered(r.id, Utc::now())?;
                gw.metrics.delivered(&r.partner, &r.kind);
                let waited = (Utc::now() - r.created_at).num_milliseconds().max(0) as f64 / 1000.0;
                gw.metrics.ack_latency.observe(waited);
                n += 1;
            }
            Err(e) if r.attempts + 1 >= MAX_ATTEMPTS => {
                gw.store.dead_letter(r.id, &e.to_string(), Utc::now())?;
            }
            Err(e) => {
                let next = Utc::now()
                    + backoff(
                        r.attempts + 1,
                        chrono::Duration::seconds(5),
                        chrono::Duration::hours(1),
                    );
                gw.store.mark_failed(r.id, &e.to_string(), next)?;
            }
        }
    }
    gw.store.flush()?;
    Ok(n)
}
