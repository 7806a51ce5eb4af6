//! What the table's writers change, behind the writer lock; readers never
//! touch it. Indexed both ways (network -> endpoints, sandbox -> networks)
//! so that a write costs time in proportion to the networks it touches,
//! not to the whole table.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::{Endpoint, Network, NetworkNames, TableError};

#[derive(Debug)]
struct NetworkEntry {
    network: Network,
    /// Sandbox id -> endpoint.
    endpoints: BTreeMap<String, Endpoint>,
}

#[derive(Debug)]
struct SandboxEntry {
    name: String,
    /// Lower-case names of the networks it is on.
    networks: BTreeSet<String>,
}

/// The table's authoritative data. Network keys are lower-case names.
#[derive(Debug, Default)]
pub(super) struct TableState {
    networks: BTreeMap<String, NetworkEntry>,
    /// Sandbox id -> its name and networks.
    sandboxes: BTreeMap<String, SandboxEntry>,
    /// Sandbox name -> id, to keep names unique.
    names: HashMap<String, String>,
    /// Bumped by every write; the SOA serial of negative answers.
    pub serial: u32,
    /// The lower-case names of every network, shared by every view.
    pub network_names: Arc<NetworkNames>,
}

impl TableState {
    pub fn network(&self, key: &str) -> Option<&Network> {
        self.networks.get(key).map(|entry| &entry.network)
    }

    pub fn networks(&self) -> impl Iterator<Item = (&String, &Network)> {
        self.networks
            .iter()
            .map(|(key, entry)| (key, &entry.network))
    }

    /// Makes [`TableState::network_names`] match the networks.
    pub fn refresh_network_names(&mut self) {
        let names = self.networks.keys().map(|key| key.as_str().into());
        self.network_names = Arc::new(names.collect());
    }

    pub fn add_network(&mut self, key: String, network: Network) {
        let endpoints = BTreeMap::new();
        self.networks
            .insert(key, NetworkEntry { network, endpoints });
    }

    pub fn remove_network(&mut self, key: &str) -> Option<Network> {
        self.networks.remove(key).map(|entry| entry.network)
    }

    pub fn endpoints_of<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a Endpoint> + 'a {
        self.networks
            .get(key)
            .into_iter()
            .flat_map(|entry| entry.endpoints.values())
    }

    /// The endpoint of the sandbox `sandbox_id` on the network `key`.
    pub fn endpoint(&self, key: &str, sandbox_id: &str) -> Option<&Endpoint> {
        self.networks.get(key)?.endpoints.get(sandbox_id)
    }

    pub fn all_endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        self.networks
            .values()
            .flat_map(|entry| entry.endpoints.values())
    }

    pub fn networks_of<'a>(&'a self, sandbox_id: &str) -> impl Iterator<Item = &'a str> + 'a {
        self.sandboxes
            .get(sandbox_id)
            .into_iter()
            .flat_map(|s| s.networks.iter().map(String::as_str))
    }

    pub fn sandbox_name(&self, sandbox_id: &str) -> Option<&str> {
        self.sandboxes.get(sandbox_id).map(|s| s.name.as_str())
    }

    pub fn sandbox_ids(&self) -> impl Iterator<Item = &str> {
        self.sandboxes.keys().map(String::as_str)
    }

    /// Refuses an attach that would break the table's rules: the network
    /// must exist, the sandbox not be on it yet, its name not belong to
    /// another sandbox, its addresses be free on the network.
    pub fn check_connect(&self, key: &str, endpoint: &Endpoint) -> Result<(), TableError> {
        let Some(entry) = self.networks.get(key) else {
            return Err(TableError::UnknownNetwork(endpoint.network.clone()));
        };
        if entry.endpoints.contains_key(&endpoint.id) {
            return Err(TableError::AlreadyAttached {
                sandbox: endpoint.sandbox.clone(),
                network: endpoint.network.clone(),
            });
        }
        self.check_name_free(&endpoint.sandbox, &endpoint.id)?;
        if let Some(known) = self
            .sandboxes
            .get(&endpoint.id)
            .filter(|s| s.name != endpoint.sandbox)
        {
            return Err(TableError::NameMismatch {
                sandbox_id: endpoint.id.clone(),
                known: known.name.clone(),
                given: endpoint.sandbox.clone(),
            });
        }
        for other in entry.endpoints.values() {
            if let Some(address) = endpoint
                .addresses()
                .find(|a| other.addresses().any(|b| b == *a))
            {
                return Err(TableError::AddressTaken {
                    address,
                    network: endpoint.network.clone(),
                    holder: other.sandbox.clone(),
                });
            }
        }
        Ok(())
    }

    /// Refuses `name` if a sandbox other than `sandbox_id` has it.
    pub fn check_name_free(&self, name: &str, sandbox_id: &str) -> Result<(), TableError> {
        match self.names.get(name) {
            Some(other) if other != sandbox_id => Err(TableError::NameTaken {
                name: name.to_owned(),
                other_id: other.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Inserts an endpoint that [`TableState::check_connect`] accepted.
    pub fn insert_endpoint(&mut self, key: &str, endpoint: Endpoint) {
        let sandbox = self
            .sandboxes
            .entry(endpoint.id.clone())
            .or_insert_with(|| SandboxEntry {
                name: endpoint.sandbox.clone(),
                networks: BTreeSet::new(),
            });
        sandbox.networks.insert(key.to_owned());
        self.names
            .insert(endpoint.sandbox.clone(), endpoint.id.clone());
        if let Some(entry) = self.networks.get_mut(key) {
            entry.endpoints.insert(endpoint.id.clone(), endpoint);
        }
    }

    /// Removes one endpoint, and the sandbox when it was its last.
    pub fn remove_endpoint(&mut self, key: &str, sandbox_id: &str) -> Option<Endpoint> {
        let endpoint = self.networks.get_mut(key)?.endpoints.remove(sandbox_id)?;
        if let Some(sandbox) = self.sandboxes.get_mut(sandbox_id) {
            sandbox.networks.remove(key);
            if sandbox.networks.is_empty() {
                self.names.remove(&sandbox.name);
                self.sandboxes.remove(sandbox_id);
            }
        }
        Some(endpoint)
    }

    /// Renames a sandbox that [`TableState::check_name_free`] cleared.
    pub fn rename(&mut self, sandbox_id: &str, new_name: &str) -> Option<Vec<String>> {
        let sandbox = self.sandboxes.get_mut(sandbox_id)?;
        self.names.remove(&sandbox.name);
        self.names
            .insert(new_name.to_owned(), sandbox_id.to_owned());
        sandbox.name = new_name.to_owned();
        let keys: Vec<String> = sandbox.networks.iter().cloned().collect();
        for key in &keys {
            if let Some(endpoint) = self
                .networks
                .get_mut(key)
                .and_then(|n| n.endpoints.get_mut(sandbox_id))
            {
                endpoint.sandbox = new_name.to_owned();
            }
        }
        Some(keys)
    }
}
