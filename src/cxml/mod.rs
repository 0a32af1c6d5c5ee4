//! cXML codec: decode, check, answer and write cXML. Does no I/O of its own.
