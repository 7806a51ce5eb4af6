//! What one sandbox's resolver can see: the zones of the networks it is
//! attached to, the names of every network on the host (so that
//! `X.OTHERNET` is refused locally rather than forwarded), and a serial
//! for the SOA of negative answers.

use std::collections::HashSet;
use std::sync::Arc;

use foldhash::fast::RandomState;

use super::zone::NetworkZone;

/// Lower-case names of every network the table knows, and the most
/// labels any of them has.
#[derive(Debug, Default)]
pub struct NetworkNames {
    names: HashSet<Box<str>, RandomState>,
    max_labels: u8,
}

impl NetworkNames {
    /// Whether `key` (lower case) is one of the names.
    pub fn contains(&self, key: &str) -> bool {
        self.names.contains(key)
    }

    /// The most labels a network's name has (0 with no networks): a name,
    /// or a name's suffix, of more labels is no network's. Network names
    /// have one label as a rule and forwarded names three or more, so a
    /// forwarded name's suffixes need no lookup but the last (issue #16).
    pub fn max_labels(&self) -> u8 {
        self.max_labels
    }
}

impl FromIterator<Box<str>> for NetworkNames {
    fn from_iter<I: IntoIterator<Item = Box<str>>>(names: I) -> Self {
        let names: HashSet<Box<str>, RandomState> = names.into_iter().collect();
        let labels = |name: &str| name.split('.').count().min(usize::from(u8::MAX)) as u8;
        let max_labels = names.iter().map(|name| labels(name)).max().unwrap_or(0);
        NetworkNames { names, max_labels }
    }
}

/// An immutable snapshot of what one sandbox sees. Replaced whole whenever
/// one of its networks changes; a query holds one `Arc` of it.
#[derive(Debug)]
pub struct SandboxView {
    /// The sandbox's 64-hex id.
    pub sandbox_id: Arc<str>,
    /// The sandbox's name.
    pub sandbox_name: Arc<str>,
    /// Zones of the networks the sandbox is on, ordered by network name so
    /// that merged answers come out in a deterministic order before the
    /// per-query shuffle.
    pub zones: Vec<Arc<NetworkZone>>,
    /// Every network on the host, attached or not.
    pub networks: Arc<NetworkNames>,
    /// Changes with every write to the table; the SOA serial (RFC 1982).
    pub serial: u32,
}

impl SandboxView {
    /// Whether `key` (lower case) names a network on the host.
    pub fn is_network(&self, key: &str) -> bool {
        self.networks.contains(key)
    }

    /// The most labels a network's name on the host has
    /// ([`NetworkNames::max_labels`]).
    pub fn network_max_labels(&self) -> u8 {
        self.networks.max_labels()
    }

    /// Whether `key` (lower case) names a network this sandbox is on.
    pub fn is_attached_to(&self, key: &str) -> bool {
        self.zones.iter().any(|zone| &*zone.key == key)
    }
}
