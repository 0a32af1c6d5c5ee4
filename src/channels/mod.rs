//! Channels hand raw bytes plus metadata to the pipeline and learn "received" only after the
//! store has flushed them. Only the drop folder exists so far.

pub mod folder;
