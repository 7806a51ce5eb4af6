//! A sandbox's view kept by its serving loop between wake-ups and read
//! again only after the table changed: one atomic load per batch of
//! questions instead of a lookup by the sandbox's 64-byte id per question
//! (hash, shard lock, reference count: callgrind, issue #16).

use std::sync::Arc;

use super::{EndpointTable, SandboxView};

/// The view of one sandbox as of a [`EndpointTable::generation`].
#[derive(Debug, Default)]
pub struct CachedView {
    /// The generation the view was read at; `None` before the first read.
    generation: Option<u64>,
    view: Option<Arc<SandboxView>>,
}

impl CachedView {
    /// The view of `sandbox_id` now: the kept one while `table` has not
    /// changed since it was read, else read anew (`None` while the
    /// sandbox is on no network).
    pub fn current(
        &mut self,
        table: &EndpointTable,
        sandbox_id: &str,
    ) -> Option<&Arc<SandboxView>> {
        let generation = table.generation();
        if self.generation != Some(generation) {
            // Read after the generation: at least as new as it says.
            self.view = table.view(sandbox_id);
            self.generation = Some(generation);
        }
        self.view.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::tests::{endpoint, network};

    #[test]
    fn a_kept_view_follows_every_write() {
        let table = EndpointTable::new();
        table.add_network(network("app")).unwrap();
        let client = endpoint("client", "app", "10.0.0.10");
        let mut kept = CachedView::default();
        assert!(
            kept.current(&table, &client.id).is_none(),
            "on no network yet"
        );
        table.connect(client.clone()).unwrap();
        let first = Arc::clone(kept.current(&table, &client.id).expect("attached"));
        let again = kept.current(&table, &client.id).unwrap();
        assert!(Arc::ptr_eq(&first, again), "no write, the same view");
        table.connect(endpoint("web", "app", "10.0.0.2")).unwrap();
        let after_peer = kept.current(&table, &client.id).unwrap();
        assert!(!Arc::ptr_eq(&first, after_peer), "a peer's attach is seen");
        assert!(after_peer.zones[0].lookup("web").next().is_some());
        table.disconnect(&client.id, "app").unwrap();
        assert!(kept.current(&table, &client.id).is_none(), "detached");
    }
}
