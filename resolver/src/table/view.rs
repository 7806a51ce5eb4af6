//! What one sandbox's resolver can see: the zones of the networks it is
//! attached to, the names of every network on the host (so that
//! `X.OTHERNET` is refused locally rather than forwarded), and a serial
//! for the SOA of negative answers.

use std::collections::HashSet;
use std::sync::Arc;

use foldhash::fast::RandomState;

use super::zone::NetworkZone;

/// Lower-case names of every network the table knows.
pub type NetworkNames = HashSet<Box<str>, RandomState>;

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

    /// Whether `key` (lower case) names a network this sandbox is on.
    pub fn is_attached_to(&self, key: &str) -> bool {
        self.zones.iter().any(|zone| &*zone.key == key)
    }
}
