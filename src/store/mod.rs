//! The durable store: payload files plus sled trees. Never parses documents.
