//! Address management: subnets for new networks from the default pools,
//! and addresses for endpoints within a network's subnets. Pure: the agent
//! persists what it hands out and rebuilds these from its state.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv6Net};
use thiserror::Error;

/// Why an address or subnet could not be had; each names the value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IpamError {
    /// The address lies outside every subnet of the network.
    #[error("{address} is outside the subnets {subnets:?} of network {network:?}")]
    OutsideSubnet {
        /// The address asked for.
        address: IpAddr,
        /// The network's subnets.
        subnets: Vec<IpNet>,
        /// The network.
        network: String,
    },
    /// Another endpoint has the address, or it is the gateway or a subnet's
    /// network or broadcast address.
    #[error("{address} is not free on network {network:?} ({why})")]
    Taken {
        /// The address asked for.
        address: IpAddr,
        /// The network.
        network: String,
        /// Who has it.
        why: &'static str,
    },
    /// Every address of the subnet is in use.
    #[error("no free address left in {subnet} on network {network:?}")]
    Exhausted {
        /// The full subnet.
        subnet: IpNet,
        /// The network.
        network: String,
    },
    /// The subnet overlaps a network or route the host has.
    #[error("subnet {subnet} overlaps {other}")]
    Overlap {
        /// The subnet asked for.
        subnet: IpNet,
        /// What it overlaps.
        other: String,
    },
    /// No pool has a subnet left.
    #[error("the default address pools {pools:?} have no free /{size} subnet left")]
    PoolsExhausted {
        /// The pools.
        pools: Vec<IpNet>,
        /// The subnet size wanted.
        size: u8,
    },
}

/// The addresses of one subnet of one network.
#[derive(Debug, Clone)]
pub struct SubnetAddresses {
    /// The subnet.
    pub subnet: IpNet,
    /// The bridge's address on it.
    pub gateway: IpAddr,
    used: BTreeSet<IpAddr>,
    /// Only this part of the subnet is handed out (`--ip-range`); a static
    /// address may be anywhere in the subnet, as in Docker.
    range: Option<IpNet>,
    /// Never handed out nor taken (`--aux-address`).
    aux: BTreeSet<IpAddr>,
    /// Every host address below this one is used or reserved, so the
    /// search for the lowest free one starts here: one sandbox after
    /// another costs the same however many there are.
    scan_from: IpAddr,
}

impl SubnetAddresses {
    /// A subnet with `gateway` (its first host address when `None`).
    pub fn new(subnet: IpNet, gateway: Option<IpAddr>) -> SubnetAddresses {
        let gateway = gateway.unwrap_or_else(|| first_host(&subnet));
        SubnetAddresses {
            subnet,
            gateway,
            used: BTreeSet::new(),
            range: None,
            aux: BTreeSet::new(),
            scan_from: subnet.network(),
        }
    }

    /// The same, handing out addresses from `range` only and never the
    /// `aux` ones.
    pub fn with_limits(mut self, range: Option<IpNet>, aux: &[IpAddr]) -> SubnetAddresses {
        self.range = range;
        self.aux = aux.iter().copied().collect();
        self
    }

    /// Whether `address` is the network address, the IPv4 broadcast or the
    /// gateway: never given to an endpoint.
    fn is_reserved(&self, address: IpAddr) -> bool {
        address == self.gateway
            || self.aux.contains(&address)
            || address == self.subnet.network()
            || (self.subnet.addr().is_ipv4() && address == self.subnet.broadcast())
    }

    /// Hands out the lowest free address.
    pub fn allocate(&mut self, network: &str) -> Result<IpAddr, IpamError> {
        let free = self
            .range
            .unwrap_or(self.subnet)
            .hosts()
            .skip_while(|a| *a < self.scan_from)
            .find(|a| !self.is_reserved(*a) && !self.used.contains(a));
        let address = free.ok_or_else(|| IpamError::Exhausted {
            subnet: self.subnet,
            network: network.to_owned(),
        })?;
        self.used.insert(address);
        self.scan_from = address;
        Ok(address)
    }

    /// Takes a particular address (a static `--ip`, or one from the state).
    pub fn reserve(&mut self, address: IpAddr, network: &str) -> Result<(), IpamError> {
        let taken = |why| IpamError::Taken {
            address,
            network: network.to_owned(),
            why,
        };
        if address == self.gateway {
            return Err(taken("it is the gateway"));
        }
        if self.aux.contains(&address) {
            return Err(taken("it is an --aux-address of the network"));
        }
        if self.is_reserved(address) {
            return Err(taken("it is the subnet's network or broadcast address"));
        }
        if !self.used.insert(address) {
            return Err(taken("another sandbox has it"));
        }
        Ok(())
    }

    /// Gives an address back.
    pub fn release(&mut self, address: IpAddr) {
        self.used.remove(&address);
        self.scan_from = self.scan_from.min(address);
    }

    /// Whether the subnet holds `address`.
    pub fn contains(&self, address: &IpAddr) -> bool {
        self.subnet.contains(address)
    }
}

/// The first usable host address of a subnet (`.1`, or `::1`).
fn first_host(subnet: &IpNet) -> IpAddr {
    match subnet {
        IpNet::V4(v4) => IpAddr::V4((u32::from(v4.network()) + 1).into()),
        IpNet::V6(v6) => IpAddr::V6((u128::from(v6.network()) + 1).into()),
    }
}

/// Picks the first `/size` subnet of `pools` that overlaps nothing in
/// `taken` (other networks' subnets and the host's routes).
pub fn pick_subnet(pools: &[IpNet], size: u8, taken: &[IpNet]) -> Result<IpNet, IpamError> {
    for pool in pools {
        let candidates: Box<dyn Iterator<Item = IpNet>> = match pool {
            IpNet::V4(v4) => match v4.subnets(size) {
                Ok(subnets) => Box::new(subnets.map(IpNet::V4)),
                Err(_) => continue,
            },
            IpNet::V6(v6) => match v6.subnets(size) {
                Ok(subnets) => Box::new(subnets.take(65_536).map(IpNet::V6)),
                Err(_) => continue,
            },
        };
        for candidate in candidates {
            if !taken.iter().any(|t| overlaps(&candidate, t)) {
                return Ok(candidate);
            }
        }
    }
    Err(IpamError::PoolsExhausted {
        pools: pools.to_vec(),
        size,
    })
}

/// The first free subnet of the first pool that has one, each pool cut
/// into its own size (Docker's default pools: whole /16s, then /20s).
pub fn pick_from_pools(pools: &[config::AddressPool], taken: &[IpNet]) -> Result<IpNet, IpamError> {
    pools
        .iter()
        .find_map(|pool| pick_subnet(&[pool.base], pool.size, taken).ok())
        .ok_or_else(|| IpamError::PoolsExhausted {
            pools: pools.iter().map(|p| p.base).collect(),
            size: pools.first().map(|p| p.size).unwrap_or(0),
        })
}

/// Whether two subnets share any address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The unique-local pool IPv6 subnets are taken from (RFC 4193).
pub fn default_v6_pool() -> IpNet {
    IpNet::V6(Ipv6Net::new("fd89:6e61::".parse().unwrap(), 48).unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn allocates_lowest_free_skipping_gateway_network_and_broadcast() {
        let mut subnet = SubnetAddresses::new(net("10.0.0.0/30"), None);
        assert_eq!(subnet.gateway, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(
            subnet.allocate("app").unwrap(),
            "10.0.0.2".parse::<IpAddr>().unwrap()
        );
        let err = subnet.allocate("app").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no free address left in 10.0.0.0/30 on network \"app\""
        );
        subnet.release("10.0.0.2".parse().unwrap());
        assert_eq!(
            subnet.allocate("app").unwrap(),
            "10.0.0.2".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn an_address_released_below_the_last_one_is_handed_out_first() {
        let mut subnet = SubnetAddresses::new(net("10.0.0.0/24"), None);
        let first: Vec<IpAddr> = (0..5).map(|_| subnet.allocate("app").unwrap()).collect();
        assert_eq!(first[4], "10.0.0.6".parse::<IpAddr>().unwrap());
        subnet.release(first[1]);
        assert_eq!(subnet.allocate("app").unwrap(), first[1]);
        assert_eq!(
            subnet.allocate("app").unwrap(),
            "10.0.0.7".parse::<IpAddr>().unwrap()
        );
        subnet.reserve("10.0.0.8".parse().unwrap(), "app").unwrap();
        assert_eq!(
            subnet.allocate("app").unwrap(),
            "10.0.0.9".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn static_addresses_are_checked() {
        let mut subnet = SubnetAddresses::new(net("10.0.0.0/24"), None);
        subnet.reserve("10.0.0.9".parse().unwrap(), "app").unwrap();
        let taken = subnet
            .reserve("10.0.0.9".parse().unwrap(), "app")
            .unwrap_err();
        assert!(
            taken.to_string().contains("another sandbox has it"),
            "{taken}"
        );
        let gateway = subnet
            .reserve("10.0.0.1".parse().unwrap(), "app")
            .unwrap_err();
        assert!(gateway.to_string().contains("gateway"), "{gateway}");
        assert!(subnet
            .reserve("10.0.0.255".parse().unwrap(), "app")
            .is_err());
        assert_eq!(
            subnet.allocate("app").unwrap(),
            "10.0.0.2".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn ipv6_subnets_allocate_from_2() {
        let mut subnet = SubnetAddresses::new(net("fd00:1::/64"), None);
        assert_eq!(subnet.gateway, "fd00:1::1".parse::<IpAddr>().unwrap());
        assert_eq!(
            subnet.allocate("app").unwrap(),
            "fd00:1::2".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn picks_subnets_clear_of_networks_and_routes() {
        let pools = vec![net("172.18.0.0/16"), net("172.19.0.0/16")];
        assert_eq!(pick_subnet(&pools, 24, &[]).unwrap(), net("172.18.0.0/24"));
        let taken = vec![net("172.18.0.0/23"), net("10.0.0.0/8")];
        assert_eq!(
            pick_subnet(&pools, 24, &taken).unwrap(),
            net("172.18.2.0/24")
        );
        let everything = vec![net("172.16.0.0/12")];
        assert!(matches!(
            pick_subnet(&pools, 24, &everything),
            Err(IpamError::PoolsExhausted { .. })
        ));
        assert!(overlaps(&net("10.0.0.0/8"), &net("10.1.0.0/16")));
        assert!(!overlaps(&net("10.0.0.0/16"), &net("10.1.0.0/16")));
    }

    #[test]
    fn each_pool_is_cut_into_its_own_size_as_dockers_defaults_are() {
        let pools = config::docker_default_pools();
        assert_eq!(pick_from_pools(&pools, &[]).unwrap(), net("172.18.0.0/16"));
        let taken: Vec<IpNet> = (18..=31).map(|b| net(&format!("172.{b}.0.0/16"))).collect();
        assert_eq!(
            pick_from_pools(&pools, &taken).unwrap(),
            net("192.168.0.0/20")
        );
        let mut all = taken.clone();
        all.push(net("192.168.0.0/16"));
        assert!(pick_from_pools(&pools, &all).is_err());
    }
}
