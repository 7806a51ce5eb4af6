//! The endpoint table: networks and the endpoints attached to them, the
//! only state the agent and the resolver share (DESIGN.md, seam 1).
//!
//! Writers (connect, disconnect, rename, ...) take the table's writer lock,
//! make a new [`NetworkZone`] for each network they touch (the old one
//! plus or minus one endpoint, sharing its entries) and a new
//! [`SandboxView`] for each sandbox that sees it (the old one with that
//! zone swapped), and publish them by replacing `Arc`s in two `DashMap`s.
//! An attach therefore costs a reference count per name on its network,
//! not a rebuild of it (bench/: 0.17 ms on a network of 1,000 instead of
//! 1 ms). Readers take no lock but a DashMap shard's read lock, clone one
//! `Arc<SandboxView>` and allocate nothing: they see each change to a
//! network whole or not at all (a write touching two networks, a rename,
//! publishes them one after the other).
//!
//! - [`publish`]: how a write's new zones and views are made and published.
//! - [`zone`]: one network's names and reverse index.
//! - [`view`]: what one sandbox can see.
//! - [`cached_view`]: a view a serving loop keeps until the table changes.
//! - [`snapshot`]: the JSON form of the table (`dns table --format json`,
//!   `dns serve --table FILE`).

mod cached_view;
mod publish;
pub mod snapshot;
mod state;
pub mod view;
pub mod zone;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use config::{NameServer, ServicePort};
use dashmap::DashMap;
use foldhash::fast::RandomState;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use cached_view::CachedView;
pub use snapshot::TableSnapshot;
pub use view::{NetworkNames, SandboxView};
pub use zone::{NetworkZone, ZoneEndpoint};

use publish::ZoneEdit;
use state::TableState;

/// A network as the resolver knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// The network's name; `NAME.NETWORK` resolves on it.
    pub name: String,
    /// The network's 64-hex id.
    pub id: String,
    /// Its subnets; endpoint addresses lie inside them.
    #[serde(default)]
    pub subnets: Vec<IpNet>,
    /// An internal network has no route out: its sandboxes' unknown names
    /// go only to the network's own `dns` servers, never to the host's
    /// (CVE-2024-29018).
    #[serde(default)]
    pub internal: bool,
    /// Upstream servers for the network's sandboxes (`network create
    /// --dns`), used before the host's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<NameServer>,
}

/// One sandbox's attachment to one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// The sandbox's (container's) name.
    pub sandbox: String,
    /// The sandbox's 64-hex id; its first 12 characters resolve too.
    pub id: String,
    /// The sandbox's hostname, if it differs from its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The network's name.
    pub network: String,
    /// Names this endpoint also answers to, on this network only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// IPv4 address on the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address on the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Addr>,
    /// Exposed services, answered as SRV `_SERVICE._PROTO.NAME`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServicePort>,
}

impl Endpoint {
    /// The 12-character short id, as `docker ps` shows it.
    pub fn short_id(&self) -> String {
        self.id.chars().take(12).collect()
    }

    /// Every name the endpoint answers to (without the `.NETWORK` forms).
    pub fn names(&self) -> impl Iterator<Item = String> + '_ {
        [
            Some(self.sandbox.clone()),
            self.hostname.clone(),
            Some(self.short_id()),
        ]
        .into_iter()
        .flatten()
        .chain(self.aliases.iter().cloned())
    }

    /// Its addresses, IPv4 first.
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> {
        let v4 = self.ipv4.map(IpAddr::V4);
        let v6 = self.ipv6.map(IpAddr::V6);
        v4.into_iter().chain(v6)
    }
}

/// Why a write to the table was refused; each names the offending value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TableError {
    /// No network of that name.
    #[error("no network named {0:?}")]
    UnknownNetwork(String),
    /// A network of that name exists already.
    #[error("a network named {0:?} exists already")]
    DuplicateNetwork(String),
    /// No sandbox with that id.
    #[error("no sandbox with id {0:?}")]
    UnknownSandbox(String),
    /// The sandbox is already on that network.
    #[error("sandbox {sandbox:?} is already on network {network:?}")]
    AlreadyAttached {
        /// The sandbox's name.
        sandbox: String,
        /// The network's name.
        network: String,
    },
    /// Another sandbox already uses that name.
    #[error("the name {name:?} is taken by sandbox {other_id}")]
    NameTaken {
        /// The contested name.
        name: String,
        /// The id of the sandbox that has it.
        other_id: String,
    },
    /// The sandbox is known under another name.
    #[error("sandbox {sandbox_id} is named {known:?}, not {given:?}")]
    NameMismatch {
        /// The sandbox's id.
        sandbox_id: String,
        /// The name the table has for it.
        known: String,
        /// The name the new endpoint gave.
        given: String,
    },
    /// Another endpoint on the network already has that address.
    #[error("address {address} is taken on network {network:?} by sandbox {holder:?}")]
    AddressTaken {
        /// The contested address.
        address: IpAddr,
        /// The network's name.
        network: String,
        /// The sandbox that holds it.
        holder: String,
    },
    /// The network still has endpoints.
    #[error("network {network:?} has sandboxes attached: {sandboxes:?}")]
    NetworkInUse {
        /// The network's name.
        network: String,
        /// Names of the sandboxes on it.
        sandboxes: Vec<String>,
    },
}

/// The live endpoint table. Cheap to read from many tasks at once; see the
/// module documentation for how writes are published.
#[derive(Debug, Default)]
pub struct EndpointTable {
    state: Mutex<TableState>,
    zones: DashMap<Box<str>, Arc<NetworkZone>, RandomState>,
    views: DashMap<Box<str>, Arc<SandboxView>, RandomState>,
    /// Raised after each write's views are all published ([`Self::generation`]).
    generation: AtomicU64,
}

impl EndpointTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// What the sandbox with this id can see, or `None` if it is on no
    /// network. The resolver's only read, once per query.
    pub fn view(&self, sandbox_id: &str) -> Option<Arc<SandboxView>> {
        self.views
            .get(sandbox_id)
            .map(|entry| Arc::clone(entry.value()))
    }

    /// Changes after every write, once all the views it changed are
    /// published: a view read after seeing a value is at least as new as
    /// that write, so a reader may keep a view while this stays the same
    /// ([`CachedView`]).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The current zone of a network, by name in any case.
    pub fn zone(&self, network: &str) -> Option<Arc<NetworkZone>> {
        self.zones
            .get(network.to_ascii_lowercase().as_str())
            .map(|z| Arc::clone(z.value()))
    }

    /// Adds a network with no endpoints.
    pub fn add_network(&self, network: Network) -> Result<(), TableError> {
        let mut state = self.lock();
        let key = network.name.to_ascii_lowercase();
        if state.network(&key).is_some() {
            return Err(TableError::DuplicateNetwork(network.name));
        }
        state.add_network(key.clone(), network);
        self.publish(&mut state, &[(&key, ZoneEdit::Rebuild)], &[]);
        Ok(())
    }

    /// Removes a network; refused while endpoints are attached to it.
    pub fn remove_network(&self, name: &str) -> Result<Network, TableError> {
        let mut state = self.lock();
        let key = name.to_ascii_lowercase();
        if state.network(&key).is_none() {
            return Err(TableError::UnknownNetwork(name.to_owned()));
        }
        let sandboxes: Vec<String> = state
            .endpoints_of(&key)
            .map(|e| e.sandbox.clone())
            .collect();
        if !sandboxes.is_empty() {
            return Err(TableError::NetworkInUse {
                network: name.to_owned(),
                sandboxes,
            });
        }
        let network = state.remove_network(&key).expect("checked above");
        self.publish(&mut state, &[(&key, ZoneEdit::Rebuild)], &[]);
        Ok(network)
    }

    /// Attaches a sandbox to a network: the first attach of a new sandbox
    /// and `network connect` of a running one are the same write.
    pub fn connect(&self, endpoint: Endpoint) -> Result<(), TableError> {
        let mut state = self.lock();
        let key = endpoint.network.to_ascii_lowercase();
        state.check_connect(&key, &endpoint)?;
        let id = endpoint.id.clone();
        state.insert_endpoint(&key, endpoint);
        self.publish(&mut state, &[(&key, ZoneEdit::Add(&id))], &[&id]);
        Ok(())
    }

    /// Detaches a sandbox from one network and returns the endpoint.
    pub fn disconnect(&self, sandbox_id: &str, network: &str) -> Result<Endpoint, TableError> {
        let mut state = self.lock();
        let key = network.to_ascii_lowercase();
        if state.network(&key).is_none() {
            return Err(TableError::UnknownNetwork(network.to_owned()));
        }
        let endpoint = state
            .remove_endpoint(&key, sandbox_id)
            .ok_or_else(|| TableError::UnknownSandbox(sandbox_id.to_owned()))?;
        self.publish(
            &mut state,
            &[(&key, ZoneEdit::Remove(sandbox_id))],
            &[sandbox_id],
        );
        Ok(endpoint)
    }

    /// Detaches a sandbox from every network and returns its endpoints.
    pub fn remove_sandbox(&self, sandbox_id: &str) -> Vec<Endpoint> {
        let mut state = self.lock();
        let keys: Vec<String> = state.networks_of(sandbox_id).map(str::to_owned).collect();
        let removed = keys
            .iter()
            .filter_map(|key| state.remove_endpoint(key, sandbox_id))
            .collect();
        let edits: Vec<(&str, ZoneEdit)> = keys
            .iter()
            .map(|key| (key.as_str(), ZoneEdit::Remove(sandbox_id)))
            .collect();
        self.publish(&mut state, &edits, &[sandbox_id]);
        removed
    }

    /// Gives a sandbox a new name on every network it is on.
    pub fn rename_sandbox(&self, sandbox_id: &str, new_name: &str) -> Result<(), TableError> {
        let mut state = self.lock();
        state.check_name_free(new_name, sandbox_id)?;
        let keys = state
            .rename(sandbox_id, new_name)
            .ok_or_else(|| TableError::UnknownSandbox(sandbox_id.to_owned()))?;
        let edits: Vec<(&str, ZoneEdit)> = keys
            .iter()
            .map(|key| (key.as_str(), ZoneEdit::Rebuild))
            .collect();
        self.publish(&mut state, &edits, &[sandbox_id]);
        Ok(())
    }

    /// Every network, ordered by name.
    pub fn networks(&self) -> Vec<Network> {
        self.lock()
            .networks()
            .map(|(_, network)| network.clone())
            .collect()
    }

    /// Every endpoint, ordered by network then sandbox id.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        self.lock().all_endpoints().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, TableState> {
        // A writer that panicked left the state as it was before its write
        // (publishing comes last), so the data is still whole.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
pub(crate) mod tests;
