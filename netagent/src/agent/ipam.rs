//! Address management: subnets for new networks from the default pools,
//! and addresses for endpoints within a network's subnets. Pure: the agent
//! persists what it hands out and rebuilds these from its state. An
//! overlay network's subnet hands out dynamic addresses only from the
//! blocks this host holds, and never one another host holds (the cluster
//! decides both, see `cluster::claims`).

use std::collections::{BTreeMap, BTreeSet};
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
    /// Another host of the cluster holds the address.
    #[error("{address} is not free on network {network:?} (host {holder} holds it)")]
    HeldElsewhere {
        /// The address asked for.
        address: IpAddr,
        /// The network.
        network: String,
        /// The host that holds it.
        holder: String,
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
    /// An overlay network's: dynamic addresses come from these blocks
    /// only (this host's, in order), not from the whole range.
    blocks: Option<Vec<IpNet>>,
    /// An overlay network's: addresses another host holds (a static one,
    /// or one borrowed), by that host's name: never handed out here.
    elsewhere: BTreeMap<IpAddr, String>,
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
            blocks: None,
            elsewhere: BTreeMap::new(),
            scan_from: subnet.network(),
        }
    }

    /// Hands dynamic addresses out of `blocks` only (an overlay network's
    /// blocks this host holds); what is used stays used.
    pub fn set_blocks(&mut self, mut blocks: Vec<IpNet>) {
        blocks.sort();
        self.blocks = Some(blocks);
        self.scan_from = self.subnet.network();
    }

    /// Notes that host `holder` holds `address` (or, with `None`, no
    /// longer does).
    pub fn set_elsewhere(&mut self, address: IpAddr, holder: Option<String>) {
        match holder {
            Some(holder) => {
                self.elsewhere.insert(address, holder);
            }
            None => {
                self.elsewhere.remove(&address);
                self.scan_from = self.scan_from.min(address);
            }
        }
    }

    /// Forgets every address held elsewhere (before a full read).
    pub fn clear_elsewhere(&mut self) {
        self.elsewhere.clear();
        self.scan_from = self.subnet.network();
    }

    /// Whether any address in `net` is used here.
    pub fn uses_any_in(&self, net: &IpNet) -> bool {
        self.used
            .range(net.network()..=net.broadcast())
            .next()
            .is_some()
    }

    /// Whether a dynamic address is free (without taking it). It looks
    /// from `scan_from`, below which nothing is free (as `allocate`
    /// relies on): from the subnet's start, every attach to an overlay
    /// network stepped over every address already used.
    pub fn has_free(&self) -> bool {
        self.free_from(self.scan_from).is_some()
    }

    /// Whether `address` could be given to an endpoint asking for it (the
    /// checks of [`SubnetAddresses::reserve`], nothing taken).
    pub fn check(&self, address: IpAddr, network: &str) -> Result<(), IpamError> {
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
        if self.used.contains(&address) {
            return Err(taken("another sandbox has it"));
        }
        if let Some(holder) = self.elsewhere.get(&address) {
            return Err(IpamError::HeldElsewhere {
                address,
                network: network.to_owned(),
                holder: holder.clone(),
            });
        }
        Ok(())
    }

    /// The lowest free dynamic address at or above `from`.
    fn free_from(&self, from: IpAddr) -> Option<IpAddr> {
        let free = |a: &IpAddr| {
            !self.is_reserved(*a) && !self.used.contains(a) && !self.elsewhere.contains_key(a)
        };
        match &self.blocks {
            // Every address of a block is a host address of the subnet
            // (but the subnet's own network, broadcast and gateway).
            Some(blocks) => blocks
                .iter()
                .filter(|b| b.broadcast() >= from)
                .flat_map(every_address)
                .skip_while(|a| *a < from)
                .find(free),
            None => self
                .range
                .unwrap_or(self.subnet)
                .hosts()
                .skip_while(|a| *a < from)
                .find(free),
        }
    }

    /// The same, handing out addresses from `range` only and never the
    /// `aux` ones.
    pub fn with_limits(mut self, range: Option<IpNet>, aux: &[IpAddr]) -> SubnetAddresses {
        self.set_limits(range, aux);
        self
    }

    /// Hands out addresses from `range` only and never the `aux` ones;
    /// what is used stays used.
    pub fn set_limits(&mut self, range: Option<IpNet>, aux: &[IpAddr]) {
        self.range = range;
        self.aux = aux.iter().copied().collect();
        self.scan_from = self.subnet.network();
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
        let address = self
            .free_from(self.scan_from)
            .ok_or_else(|| IpamError::Exhausted {
                subnet: self.subnet,
                network: network.to_owned(),
            })?;
        self.used.insert(address);
        self.scan_from = address;
        Ok(address)
    }

    /// Takes a particular address (a static `--ip`, or one from the state).
    pub fn reserve(&mut self, address: IpAddr, network: &str) -> Result<(), IpamError> {
        self.check(address, network)?;
        self.used.insert(address);
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

/// Every address of `net`, its first and last too.
fn every_address(net: &IpNet) -> ipnet::IpAddrRange {
    match net {
        IpNet::V4(v4) => ipnet::Ipv4AddrRange::new(v4.network(), v4.broadcast()).into(),
        IpNet::V6(v6) => ipnet::Ipv6AddrRange::new(v6.network(), v6.broadcast()).into(),
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
mod tests;
