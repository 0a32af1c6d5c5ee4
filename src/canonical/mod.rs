//! Canonical business documents (purchase order, acknowledgement, ship notice, receipt, invoice,
//! functional ack) shared by every format. Depends on nothing else in the crate.
