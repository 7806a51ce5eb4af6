//! One network's immutable lookup snapshot: the names index, the reverse
//! index and the endpoints they point into, built together so that a reader
//! never sees a name without its reverse entry (DESIGN.md, seam 1).
//!
//! A write does not rebuild the zone from the table: it copies the current
//! zone and adds or removes one endpoint. The copy shares every entry with
//! the old zone (`Arc`s), so it costs a reference count per name rather
//! than the strings, formatting and allocations of a rebuild, and an
//! attach stays cheap on a network with a thousand sandboxes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use foldhash::fast::RandomState;
use hickory_proto::rr::Name;

use super::{Endpoint, Network};

/// An endpoint as the resolver needs it: the table's record plus its
/// pre-built reverse-lookup target.
#[derive(Debug, Clone)]
pub struct ZoneEndpoint {
    /// The endpoint as the table holds it.
    pub endpoint: Endpoint,
    /// `SANDBOX.NETWORK.`, the PTR target, or `None` when that name cannot
    /// be encoded (a label over 63 bytes, moby#46928): such a reverse
    /// lookup is answered SERVFAIL.
    pub ptr_target: Option<Name>,
}

/// The endpoints one name points to, shared between zone versions.
type Holders = Arc<[Arc<ZoneEndpoint>]>;

/// An immutable snapshot of one network's names. Replaced on every change;
/// readers hold it through an `Arc`.
#[derive(Debug, Clone)]
pub struct NetworkZone {
    /// The network this zone is for.
    pub network: Network,
    /// The network name in lower case, as names are matched.
    pub key: Box<str>,
    /// Every endpoint, in attach order.
    endpoints: Vec<Arc<ZoneEndpoint>>,
    /// Lower-case name (no trailing dot) -> the endpoints it names.
    names: HashMap<Arc<str>, Holders, RandomState>,
    /// Address -> the endpoint that holds it.
    reverse: HashMap<IpAddr, Arc<ZoneEndpoint>, RandomState>,
}

impl NetworkZone {
    /// Builds the zone of `network` from the endpoints attached to it.
    pub fn build(network: Network, endpoints: Vec<Endpoint>) -> NetworkZone {
        let key: Box<str> = network.name.to_ascii_lowercase().into();
        let mut zone = NetworkZone {
            network,
            key,
            endpoints: Vec::with_capacity(endpoints.len()),
            names: HashMap::default(),
            reverse: HashMap::default(),
        };
        for endpoint in endpoints {
            zone.insert(endpoint);
        }
        zone
    }

    /// This zone plus `endpoint`.
    pub fn with_endpoint(&self, endpoint: Endpoint) -> NetworkZone {
        let mut zone = self.clone();
        zone.insert(endpoint);
        zone
    }

    /// This zone without the endpoint of the sandbox `sandbox_id`.
    pub fn without_endpoint(&self, sandbox_id: &str) -> NetworkZone {
        let mut zone = self.clone();
        zone.remove(sandbox_id);
        zone
    }

    /// The keys an endpoint is found under: each of its names, plain and
    /// qualified with the network, in lower case.
    fn keys_of(&self, endpoint: &Endpoint) -> Vec<String> {
        let mut keys = Vec::new();
        for name in endpoint.names() {
            let plain = name.to_ascii_lowercase();
            let qualified = format!("{plain}.{}", self.key);
            keys.push(plain);
            keys.push(qualified);
        }
        keys
    }

    fn insert(&mut self, endpoint: Endpoint) {
        let keys = self.keys_of(&endpoint);
        let ptr_target =
            Name::from_ascii(format!("{}.{}.", endpoint.sandbox, self.network.name)).ok();
        let entry = Arc::new(ZoneEndpoint {
            endpoint,
            ptr_target,
        });
        for key in keys {
            let holders = self.names.entry(key.into()).or_insert_with(|| Arc::new([]));
            if !holders.iter().any(|e| Arc::ptr_eq(e, &entry)) {
                *holders = holders
                    .iter()
                    .cloned()
                    .chain([Arc::clone(&entry)])
                    .collect();
            }
        }
        for addr in entry.endpoint.addresses() {
            self.reverse.insert(addr, Arc::clone(&entry));
        }
        self.endpoints.push(entry);
    }

    fn remove(&mut self, sandbox_id: &str) {
        let Some(position) = self
            .endpoints
            .iter()
            .position(|e| e.endpoint.id == sandbox_id)
        else {
            return;
        };
        let entry = self.endpoints.remove(position);
        for key in self.keys_of(&entry.endpoint) {
            let Some(holders) = self.names.get_mut(key.as_str()) else {
                continue;
            };
            let rest: Holders = holders
                .iter()
                .filter(|e| !Arc::ptr_eq(e, &entry))
                .cloned()
                .collect();
            if rest.is_empty() {
                self.names.remove(key.as_str());
            } else {
                *holders = rest;
            }
        }
        for addr in entry.endpoint.addresses() {
            if self
                .reverse
                .get(&addr)
                .is_some_and(|holder| Arc::ptr_eq(holder, &entry))
            {
                self.reverse.remove(&addr);
            }
        }
    }

    /// The endpoints a lower-case name (without trailing dot) names here;
    /// empty when the name is not in this zone.
    pub fn lookup(&self, key: &str) -> impl Iterator<Item = &ZoneEndpoint> {
        let holders = self.names.get(key).map(|h| &h[..]).unwrap_or_default();
        holders.iter().map(|e| &**e)
    }

    /// Whether a lower-case name is in this zone.
    pub fn contains(&self, key: &str) -> bool {
        self.names.contains_key(key)
    }

    /// The endpoint holding `addr`, if it is on this network.
    pub fn reverse(&self, addr: &IpAddr) -> Option<&ZoneEndpoint> {
        self.reverse.get(addr).map(|e| &**e)
    }

    /// Every endpoint of the network, in attach order.
    pub fn endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        self.endpoints.iter().map(|e| &e.endpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::tests::{endpoint, network};

    #[test]
    fn indexes_every_name_plain_and_qualified_in_lower_case() {
        let mut web = endpoint("Web", "app", "10.0.0.2");
        web.aliases = vec!["WWW".into()];
        web.hostname = Some("web-host".into());
        let zone = NetworkZone::build(network("App"), vec![web.clone()]);
        for key in [
            "web",
            "www",
            "web-host",
            &web.short_id(),
            "web.app",
            "www.app",
            "web-host.app",
        ] {
            assert_eq!(zone.lookup(key).count(), 1, "{key}");
        }
        assert!(!zone.contains("Web"));
        let back = zone.reverse(&"10.0.0.2".parse().unwrap()).unwrap();
        assert_eq!(back.ptr_target.as_ref().unwrap().to_ascii(), "Web.App.");
    }

    #[test]
    fn shared_alias_names_both_endpoints_once_each() {
        let mut a = endpoint("a", "app", "10.0.0.2");
        let mut b = endpoint("b", "app", "10.0.0.3");
        a.aliases = vec!["db".into(), "DB".into()];
        b.aliases = vec!["db".into()];
        let zone = NetworkZone::build(network("app"), vec![a, b]);
        assert_eq!(zone.lookup("db").count(), 2);
    }

    #[test]
    fn edits_match_a_rebuild_and_leave_the_old_zone_as_it_was() {
        let mut a = endpoint("a", "app", "10.0.0.2");
        let mut b = endpoint("b", "app", "10.0.0.3");
        a.aliases = vec!["db".into()];
        b.aliases = vec!["db".into()];
        let empty = NetworkZone::build(network("app"), vec![]);
        let one = empty.with_endpoint(a.clone());
        let two = one.with_endpoint(b.clone());
        assert_eq!(one.lookup("db").count(), 1);
        assert_eq!(two.lookup("db.app").count(), 2);
        assert!(two.contains("b") && !one.contains("b"));
        let back_to_b = two.without_endpoint(&a.id);
        let rebuilt = NetworkZone::build(network("app"), vec![b.clone()]);
        for key in ["a", "a.app", "b", "b.app", "db", "db.app", &b.short_id()] {
            assert_eq!(
                back_to_b.lookup(key).count(),
                rebuilt.lookup(key).count(),
                "{key}"
            );
        }
        assert!(back_to_b.reverse(&"10.0.0.2".parse().unwrap()).is_none());
        assert!(back_to_b.reverse(&"10.0.0.3".parse().unwrap()).is_some());
        assert_eq!(back_to_b.endpoints().count(), 1);
        assert_eq!(two.lookup("db").count(), 2, "an old zone stays as it was");
        assert_eq!(back_to_b.without_endpoint("nobody").endpoints().count(), 1);
    }

    #[test]
    fn unencodable_ptr_target_is_none() {
        let long = endpoint(&"x".repeat(70), "app", "10.0.0.9");
        let zone = NetworkZone::build(network("app"), vec![long]);
        assert!(zone
            .reverse(&"10.0.0.9".parse().unwrap())
            .unwrap()
            .ptr_target
            .is_none());
    }
}
