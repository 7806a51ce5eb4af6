//! One network's immutable lookup snapshot: the names index, the reverse
//! index and the endpoints they point into, built together so that a reader
//! never sees a name without its reverse entry (DESIGN.md, seam 1).

use std::collections::HashMap;
use std::net::IpAddr;

use foldhash::fast::RandomState;
use hickory_proto::rr::Name;

use super::{Endpoint, Network};

/// Index of an endpoint within [`NetworkZone::endpoints`].
type EndpointIndex = u32;

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

/// An immutable snapshot of one network's names. Replaced whole on every
/// change; readers hold it through an `Arc`.
#[derive(Debug)]
pub struct NetworkZone {
    /// The network this zone is for.
    pub network: Network,
    /// The network name in lower case, as names are matched.
    pub key: Box<str>,
    endpoints: Vec<ZoneEndpoint>,
    /// Lower-case name (no trailing dot) -> the endpoints it names.
    names: HashMap<Box<str>, Vec<EndpointIndex>, RandomState>,
    /// Address -> the endpoint that holds it.
    reverse: HashMap<IpAddr, EndpointIndex, RandomState>,
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

    fn insert(&mut self, endpoint: Endpoint) {
        let index = self.endpoints.len() as EndpointIndex;
        for name in endpoint.names() {
            let plain = name.to_ascii_lowercase();
            let qualified = format!("{plain}.{}", self.key);
            for key in [plain, qualified] {
                let slot = self.names.entry(key.into_boxed_str()).or_default();
                if !slot.contains(&index) {
                    slot.push(index);
                }
            }
        }
        for addr in endpoint.addresses() {
            self.reverse.insert(addr, index);
        }
        let ptr_target =
            Name::from_ascii(format!("{}.{}.", endpoint.sandbox, self.network.name)).ok();
        self.endpoints.push(ZoneEndpoint {
            endpoint,
            ptr_target,
        });
    }

    /// The endpoints a lower-case name (without trailing dot) names here;
    /// empty when the name is not in this zone.
    pub fn lookup(&self, key: &str) -> impl Iterator<Item = &ZoneEndpoint> {
        let indices = self.names.get(key).map(Vec::as_slice).unwrap_or_default();
        indices.iter().map(|&i| &self.endpoints[i as usize])
    }

    /// Whether a lower-case name is in this zone.
    pub fn contains(&self, key: &str) -> bool {
        self.names.contains_key(key)
    }

    /// The endpoint holding `addr`, if it is on this network.
    pub fn reverse(&self, addr: &IpAddr) -> Option<&ZoneEndpoint> {
        self.reverse.get(addr).map(|&i| &self.endpoints[i as usize])
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
