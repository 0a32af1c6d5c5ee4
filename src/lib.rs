//! edigate: an EDI gateway for hospital supply chains.
//!
//! Data moves one way: channel -> decode (`x12`, `cxml`) -> check -> map -> store -> flow -> deliver.
//! Each module owns one stage; dependencies point backwards (`canonical` depends on nothing,
//! `x12`/`cxml` do no I/O beyond reading a caller's `Read`, `store` never parses).

pub mod api;
pub mod canonical;
pub mod channels;
pub mod cli;
pub mod config;
pub mod cxml;
pub mod deliver;
pub mod map;
pub mod metrics;
pub mod pipeline;
pub mod store;
pub mod x12;

// The gateway allocates many small, short-lived values per segment and per document (trees,
// strings, JSON records); mimalloc's thread-local free lists make that markedly cheaper than
// the system allocator. Declared here so the binary, the tests and the benches all use it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
