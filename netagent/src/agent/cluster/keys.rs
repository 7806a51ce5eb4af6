//! The cluster's keys and values: JSON documents under the configured
//! prefix (`/netagent/` by default).
//!
//! | key | value | written |
//! |---|---|---|
//! | `networks/NAME` | [`NetworkDoc`] | by `network create -d overlay`, with the two below, in one transaction |
//! | `vnis/VNI` | the network's name | so that two networks never share a VXLAN id |
//! | `subnets/A.B.C.D_LEN` | the network's name | so that two networks never share a subnet |
//! | `blocks/NAME/INDEX` | the host's name | a block of the network's dynamic addresses, claimed by a host by transaction (several when one fills) |
//! | `addresses/NAME/A.B.C.D` | the host's name | under the host's lease: an address outside the host's own blocks (a static `--ip`, or one borrowed from another host's block), claimed by transaction |
//! | `endpoints/NAME/HOST/SANDBOX_ID` | [`EndpointDoc`] | under the host's lease, on attach |
//! | `hosts/HOST` | [`HostDoc`] | under the host's lease: its local subnets, which overlay subnets avoid |

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

/// An overlay network as every host sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkDoc {
    /// Its name, the same on every host.
    pub name: String,
    /// Its 64-hex id, the same on every host.
    pub id: String,
    /// Its VXLAN id.
    pub vni: u32,
    /// Its one IPv4 subnet.
    pub subnet: Ipv4Net,
    /// The gateway every host's bridge carries (each its own, for the way
    /// out of that host).
    pub gateway: Ipv4Addr,
    /// Its IPv6 subnet (`--ipv6 --subnet`), a /64 or larger: each host
    /// hands out addresses from its own /96 of it
    /// ([`host_range6`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet6: Option<Ipv6Net>,
    /// The IPv6 gateway, on every host's bridge like `gateway`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<Ipv6Addr>,
    /// When it was made (RFC 3339).
    pub created: String,
    /// The host that made it.
    pub creator: String,
    /// No way out.
    #[serde(default)]
    pub internal: bool,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Dynamic addresses come from this part of the subnet only
    /// (`--ip-range`): the blocks are carved from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<Ipv4Net>,
    /// Addresses never handed out (`--aux-address`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aux: Vec<Ipv4Addr>,
    /// The MTU of every host's VXLAN device, bridge and veths; absent in
    /// records from before it was kept ([`super::apply::OVERLAY_MTU`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The network's own upstream servers (`--dns`): every host's
    /// resolvers forward its sandboxes' other names to them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<config::NameServer>,
}

/// One sandbox's endpoint on an overlay network, written by its host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointDoc {
    /// The network's name.
    pub network: String,
    /// The host it lives on.
    pub host: String,
    /// That host's underlay address: where VXLAN frames for it go.
    pub advertise: Ipv4Addr,
    /// The sandbox's name.
    pub sandbox: String,
    /// The sandbox's 64-hex id.
    pub sandbox_id: String,
    /// Its hostname, when not its name.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Its aliases on the network.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Its address.
    pub ipv4: Ipv4Addr,
    /// Its IPv6 address, on a network with IPv6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Addr>,
    /// Its interface's MAC, `aa:bb:...`.
    pub mac: String,
}

/// A host as the others see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostDoc {
    /// Its underlay address.
    pub advertise: Ipv4Addr,
    /// The subnets of its local (non-overlay) networks.
    pub subnets: Vec<ipnet::IpNet>,
}

/// What a key under the prefix is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    /// `networks/NAME`
    Network(String),
    /// `endpoints/NETWORK/HOST/SANDBOX_ID`
    Endpoint {
        /// The network.
        network: String,
        /// The host.
        host: String,
        /// The sandbox's id.
        sandbox_id: String,
    },
    /// `addresses/NETWORK/A.B.C.D`: a claimed address.
    Address {
        /// The network.
        network: String,
        /// The address.
        address: Ipv4Addr,
    },
    /// Anything else (vnis, subnets, blocks): not mirrored.
    Other,
}

/// The key layout under one prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (ending in `/`).
    pub fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_owned(),
        }
    }

    /// The prefix itself, for a watch or a full read.
    pub fn all(&self) -> String {
        self.prefix.clone()
    }

    /// `networks/`
    pub fn networks(&self) -> String {
        format!("{}networks/", self.prefix)
    }

    /// `networks/NAME`
    pub fn network(&self, name: &str) -> String {
        format!("{}networks/{name}", self.prefix)
    }

    /// `vnis/VNI`
    pub fn vni(&self, vni: u32) -> String {
        format!("{}vnis/{vni}", self.prefix)
    }

    /// `subnets/A.B.C.D_LEN` (or an IPv6 subnet, the same way)
    pub fn subnet(&self, subnet: impl Into<IpNet>) -> String {
        let subnet: IpNet = subnet.into();
        format!(
            "{}subnets/{}_{}",
            self.prefix,
            subnet.network(),
            subnet.prefix_len()
        )
    }

    /// `blocks/NAME/`
    pub fn blocks(&self, network: &str) -> String {
        format!("{}blocks/{network}/", self.prefix)
    }

    /// `blocks/NAME/INDEX`
    pub fn block(&self, network: &str, index: u32) -> String {
        format!("{}blocks/{network}/{index}", self.prefix)
    }

    /// `addresses/NAME/`
    pub fn addresses_of(&self, network: &str) -> String {
        format!("{}addresses/{network}/", self.prefix)
    }

    /// `addresses/NAME/A.B.C.D`
    pub fn address(&self, network: &str, address: Ipv4Addr) -> String {
        format!("{}addresses/{network}/{address}", self.prefix)
    }

    /// `addresses/`
    pub fn addresses(&self) -> String {
        format!("{}addresses/", self.prefix)
    }

    /// `endpoints/NAME/HOST/`
    pub fn endpoints_on(&self, network: &str, host: &str) -> String {
        format!("{}endpoints/{network}/{host}/", self.prefix)
    }

    /// `endpoints/NAME/`
    pub fn endpoints_of(&self, network: &str) -> String {
        format!("{}endpoints/{network}/", self.prefix)
    }

    /// `endpoints/`
    pub fn endpoints(&self) -> String {
        format!("{}endpoints/", self.prefix)
    }

    /// `hosts/`
    pub fn hosts(&self) -> String {
        format!("{}hosts/", self.prefix)
    }

    /// `hosts/HOST`
    pub fn host(&self, host: &str) -> String {
        format!("{}hosts/{host}", self.prefix)
    }

    /// `endpoints/NAME/HOST/SANDBOX_ID`
    pub fn endpoint(&self, network: &str, host: &str, sandbox_id: &str) -> String {
        format!("{}endpoints/{network}/{host}/{sandbox_id}", self.prefix)
    }

    /// What `key` is.
    pub fn parse(&self, key: &[u8]) -> Key {
        let Some(rest) = std::str::from_utf8(key)
            .ok()
            .and_then(|k| k.strip_prefix(self.prefix.as_str()))
        else {
            return Key::Other;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            ["networks", name] => Key::Network((*name).to_owned()),
            ["endpoints", network, host, id] => Key::Endpoint {
                network: (*network).to_owned(),
                host: (*host).to_owned(),
                sandbox_id: (*id).to_owned(),
            },
            ["addresses", network, address] => match address.parse() {
                Ok(address) => Key::Address {
                    network: (*network).to_owned(),
                    address,
                },
                Err(_) => Key::Other,
            },
            _ => Key::Other,
        }
    }
}

/// The part of an overlay network's IPv6 subnet (a /64 or larger) from
/// which one host hands out addresses: the /96 whose bits 64 to 95 are
/// the host's underlay IPv4 address. Underlay addresses are unique in the
/// cluster, so these ranges never overlap and need no claim in etcd.
pub fn host_range6(subnet6: Ipv6Net, advertise: Ipv4Addr) -> Option<Ipv6Net> {
    if subnet6.prefix_len() > 64 {
        return None;
    }
    let bits = u128::from(subnet6.network()) | (u128::from(u32::from(advertise)) << 32);
    Ipv6Net::new(Ipv6Addr::from(bits), 96).ok()
}

/// The prefix length of the blocks a network's dynamic addresses are
/// handed out in (`pool`: its `--ip-range`, else its subnet): 64 blocks
/// where the pool allows it, never smaller than a /28 (16 addresses),
/// never larger than the pool.
pub fn block_prefix(pool: Ipv4Net) -> u8 {
    (pool.prefix_len() + 6).min(28).max(pool.prefix_len())
}

/// Block `index` of `pool`, if it has one.
pub fn block(pool: Ipv4Net, index: u32) -> Option<Ipv4Net> {
    pool.subnets(block_prefix(pool)).ok()?.nth(index as usize)
}

/// How many blocks `pool` has.
pub fn block_count(pool: Ipv4Net) -> u32 {
    1 << (block_prefix(pool) - pool.prefix_len())
}

/// The index of the block of `pool` that holds `address`, if any.
pub fn block_index(pool: Ipv4Net, address: Ipv4Addr) -> Option<u32> {
    if !pool.contains(&address) {
        return None;
    }
    let offset = u32::from(address) - u32::from(pool.network());
    Some(offset >> (32 - block_prefix(pool)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_back() {
        let keys = Keys::new("/p/");
        assert_eq!(
            keys.parse(keys.network("app").as_bytes()),
            Key::Network("app".into())
        );
        assert_eq!(
            keys.parse(keys.endpoint("app", "h1", "abc").as_bytes()),
            Key::Endpoint {
                network: "app".into(),
                host: "h1".into(),
                sandbox_id: "abc".into()
            }
        );
        assert_eq!(
            keys.parse(keys.address("app", "10.0.0.9".parse().unwrap()).as_bytes()),
            Key::Address {
                network: "app".into(),
                address: "10.0.0.9".parse().unwrap()
            }
        );
        assert_eq!(keys.parse(keys.vni(4096).as_bytes()), Key::Other);
        assert_eq!(keys.parse(b"/other/networks/app"), Key::Other);
    }

    #[test]
    fn network_docs_keep_mtu_and_dns_and_read_older_records() {
        let older = r#"{"name":"app","id":"ab","vni":4096,"subnet":"10.0.1.0/24","gateway":"10.0.1.1","created":"now","creator":"h1"}"#;
        let mut doc: NetworkDoc = serde_json::from_str(older).unwrap();
        assert_eq!((doc.mtu, doc.dns.len(), doc.internal), (None, 0, false));
        doc.mtu = Some(1400);
        doc.dns = vec!["192.0.2.1:5353".parse().unwrap()];
        let text = serde_json::to_string(&doc).unwrap();
        assert!(
            text.contains(r#""mtu":1400,"dns":["192.0.2.1:5353"]"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<NetworkDoc>(&text).unwrap(), doc);
    }

    #[test]
    fn each_host_has_its_own_ipv6_range() {
        let subnet6: Ipv6Net = "fd00:1:2:3::/64".parse().unwrap();
        let range = host_range6(subnet6, "192.0.2.11".parse().unwrap()).unwrap();
        assert_eq!(range.to_string(), "fd00:1:2:3:c000:20b::/96");
        let other = host_range6(subnet6, "192.0.2.12".parse().unwrap()).unwrap();
        assert!(!range.contains(&other.network()) && subnet6.contains(&other));
        assert_eq!(
            host_range6("fd00::/80".parse().unwrap(), "192.0.2.11".parse().unwrap()),
            None
        );
    }

    #[test]
    fn blocks_split_the_subnet() {
        let net: Ipv4Net = "10.0.1.0/24".parse().unwrap();
        assert_eq!(block_prefix(net), 28);
        assert_eq!(block_count(net), 16);
        assert_eq!(block(net, 1).unwrap().to_string(), "10.0.1.16/28");
        assert_eq!(block(net, 16), None);
        let wide: Ipv4Net = "10.1.0.0/16".parse().unwrap();
        assert_eq!(block_prefix(wide), 22);
        let tiny: Ipv4Net = "10.2.0.0/30".parse().unwrap();
        assert_eq!(block_count(tiny), 1);
        assert_eq!(block_index(net, "10.0.1.17".parse().unwrap()), Some(1));
        assert_eq!(block_index(net, "10.0.1.255".parse().unwrap()), Some(15));
        assert_eq!(block_index(net, "10.0.2.1".parse().unwrap()), None);
        assert_eq!(block_index(wide, "10.1.4.1".parse().unwrap()), Some(1));
    }
}
