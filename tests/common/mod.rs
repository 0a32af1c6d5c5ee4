//! Helpers shared by the integration test crates (each crate includes this with `mod common;`).
//! Owns nothing of the gateway's; reads the store only through its public API.

use edigate::store::{DocumentFilter, SledStore, Store, StoredDocument};

/// The documents of every page of a listing, following each page's cursor.
pub fn all_pages(store: &SledStore, filter: DocumentFilter) -> Vec<StoredDocument> {
    let mut got = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_documents(&DocumentFilter {
                cursor,
                ..filter.clone()
            })
            .unwrap();
        got.extend(page.items);
        match page.next {
            Some(c) => cursor = Some(c),
            None => return got,
        }
    }
}
