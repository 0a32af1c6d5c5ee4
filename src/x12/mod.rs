//! X12 codec: lexer, envelopes, grammars, validation, acknowledgements and the writer.
//! Reads from a caller's `Read`; never touches the store or the network.
