//! edigate: an EDI gateway for hospital supply chains.
//!
//! Data moves one way: channel -> decode (`x12`, `cxml`) -> check -> map -> store -> flow -> deliver.
//! Each module owns one stage; dependencies point backwards (`canonical` depends on nothing,
//! `x12`/`cxml` do no I/O beyond reading a caller's `Read`, `store` never parses).

pub mod api;
pub(crate) mod bytes;
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

// `mi_option_set` from the mimalloc library the allocator above links in (libmimalloc-sys
// declares it only behind a feature that pulls in another crate).
extern "C" {
    fn mi_option_set(option: std::os::raw::c_int, value: std::os::raw::c_long);
}

/// mimalloc's `mi_option_purge_delay` (v2 `mimalloc.h`: the 16th option).
const MI_OPTION_PURGE_DELAY: std::os::raw::c_int = 15;

/// Lets mimalloc keep freed memory for a second before returning it to the OS (its default is
/// 10 ms). A running gateway frees and allocates sled's page copies and each batch's records
/// continuously: with the default, its commit thread spent about a fifth of its CPU time in
/// `madvise` and in faulting the same pages back in. Freed memory is still returned, a second
/// later, so an idle gateway shrinks as before; peak memory is what is live plus at most a
/// second's worth of frees. Called when a gateway opens; a one-shot CLI keeps the default.
pub fn hold_freed_memory() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: a plain integer store into mimalloc's option table, which it documents as
        // settable while it runs (it reads the value on its next purge check).
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 1000) };
    });
}
