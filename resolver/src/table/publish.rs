//! Publishing a write: the new zones of the networks it touched, then the
//! new views of the sandboxes that see them (module documentation of
//! [`super`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::state::TableState;
use super::{EndpointTable, NetworkZone, SandboxView};

/// How a write changes one network's zone.
pub(super) enum ZoneEdit<'a> {
    /// Rebuilt from the state: the network was added or removed, or a
    /// sandbox on it renamed.
    Rebuild,
    /// The endpoint of this sandbox attached (it is in the state).
    Add(&'a str),
    /// The endpoint of this sandbox detached.
    Remove(&'a str),
}

impl EndpointTable {
    /// Publishes new zones for the networks `edits` touch (each the
    /// current zone with the edit applied, or rebuilt from the state), then
    /// new views for every sandbox that sees one of them (every sandbox
    /// when the set of networks changed) and for `sandboxes` themselves.
    pub(super) fn publish(
        &self,
        state: &mut TableState,
        edits: &[(&str, ZoneEdit)],
        sandboxes: &[&str],
    ) {
        self.publish_views(state, edits, sandboxes);
        // After every view: a reader that sees the new value reads them.
        self.generation.fetch_add(1, Ordering::Release);
    }

    fn publish_views(
        &self,
        state: &mut TableState,
        edits: &[(&str, ZoneEdit)],
        sandboxes: &[&str],
    ) {
        state.serial = state.serial.wrapping_add(1);
        let names_changed = edits
            .iter()
            .any(|(key, _)| self.zones.contains_key(*key) != state.network(key).is_some());
        if names_changed {
            state.refresh_network_names();
        }
        let zones: Vec<(&str, Option<Arc<NetworkZone>>)> = edits
            .iter()
            .map(|(key, edit)| (*key, self.publish_zone(state, key, edit)))
            .collect();
        for id in sandboxes {
            self.publish_view(state, id);
        }
        let written = |id: &str| sandboxes.contains(&id);
        if names_changed {
            for id in state.sandbox_ids().filter(|id| !written(id)) {
                self.publish_view(state, id);
            }
            return;
        }
        // The other sandboxes on the touched networks keep their networks;
        // only those zones change in their views. A sandbox on two touched
        // networks is refreshed twice, to the same result.
        for (key, _) in edits {
            for peer in state.endpoints_of(key).filter(|e| !written(&e.id)) {
                self.refresh_view(state, &peer.id, &zones);
            }
        }
    }

    /// Publishes the network's new zone and returns it (`None` when the
    /// network is gone).
    fn publish_zone(
        &self,
        state: &TableState,
        key: &str,
        edit: &ZoneEdit,
    ) -> Option<Arc<NetworkZone>> {
        let Some(network) = state.network(key) else {
            self.zones.remove(key);
            return None;
        };
        let current = self.zones.get(key).map(|z| Arc::clone(z.value()));
        let zone = match (edit, current) {
            (ZoneEdit::Add(sandbox_id), Some(zone)) => match state.endpoint(key, sandbox_id) {
                Some(endpoint) => zone.with_endpoint(endpoint.clone()),
                None => (*zone).clone(),
            },
            (ZoneEdit::Remove(sandbox_id), Some(zone)) => zone.without_endpoint(sandbox_id),
            _ => NetworkZone::build(network.clone(), state.endpoints_of(key).cloned().collect()),
        };
        let zone = Arc::new(zone);
        match self.zones.get_mut(key) {
            Some(mut slot) => *slot = Arc::clone(&zone),
            None => {
                self.zones.insert(key.into(), Arc::clone(&zone));
            }
        }
        Some(zone)
    }

    /// Republishes a sandbox's view with the new versions of `zones`,
    /// everything else as it was.
    fn refresh_view(
        &self,
        state: &TableState,
        sandbox_id: &str,
        zones: &[(&str, Option<Arc<NetworkZone>>)],
    ) {
        let Some(mut slot) = self.views.get_mut(sandbox_id) else {
            return;
        };
        let newer = |zone: &Arc<NetworkZone>| {
            let fresh = zones.iter().find(|(key, _)| **key == *zone.key);
            match fresh {
                Some((_, Some(fresh))) => Arc::clone(fresh),
                _ => Arc::clone(zone),
            }
        };
        let view = SandboxView {
            sandbox_id: Arc::clone(&slot.sandbox_id),
            sandbox_name: Arc::clone(&slot.sandbox_name),
            zones: slot.zones.iter().map(newer).collect(),
            networks: Arc::clone(&slot.networks),
            serial: state.serial,
        };
        *slot = Arc::new(view);
    }

    fn publish_view(&self, state: &TableState, sandbox_id: &str) {
        let Some(name) = state.sandbox_name(sandbox_id) else {
            self.views.remove(sandbox_id);
            return;
        };
        let zones = state
            .networks_of(sandbox_id)
            .filter_map(|key| self.zones.get(key).map(|z| Arc::clone(z.value())))
            .collect();
        let view = |sandbox_id: Arc<str>, sandbox_name: Arc<str>| SandboxView {
            sandbox_id,
            sandbox_name,
            zones,
            networks: Arc::clone(&state.network_names),
            serial: state.serial,
        };
        // In place when the sandbox has a view already: its id and name
        // are shared, not copied, and the map's key is kept.
        match self.views.get_mut(sandbox_id) {
            Some(mut slot) => {
                let name = if &*slot.sandbox_name == name {
                    Arc::clone(&slot.sandbox_name)
                } else {
                    name.into()
                };
                *slot = Arc::new(view(Arc::clone(&slot.sandbox_id), name));
            }
            None => {
                let fresh = view(sandbox_id.into(), name.into());
                self.views.insert(sandbox_id.into(), Arc::new(fresh));
            }
        }
    }
}
