//! X12 codec: lexer, envelopes, grammars, validation, acknowledgements and the writer.
//! Reads from a caller's `Read`; never touches the store or the network.

pub mod ack;
pub mod envelope;
pub mod grammar;
pub mod lexer;
pub mod offload;
pub mod reader;
pub mod tree;
pub mod validate;
pub mod writer;
