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
